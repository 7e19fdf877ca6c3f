// Bootstrap of ttpgraph's GraphiQL page. A served file, not inline: the page's
// Content-Security-Policy allows scripts from this origin only.
(function () {
  'use strict';
  const root = document.getElementById('graphiql');
  const endpoint = new URL(root.dataset.endpoint, window.location.href);
  // Subscriptions use graphql-transport-ws on the same path (ws: or wss: as the page).
  const socket = new URL(endpoint.href);
  socket.protocol = endpoint.protocol === 'https:' ? 'wss:' : 'ws:';

  // JSON allows no comments, so the bearer token is documented by a placeholder value,
  // which is dropped until the user replaces it: an open server then sees no token.
  const PLACEHOLDER = 'Bearer <';
  const headers = JSON.stringify({
    Authorization: "Bearer <token: DECNET's dashboard or `ttpgraph token`; an open server needs none>",
  }, null, 2);
  const inner = GraphiQL.createFetcher({ url: endpoint.href, subscriptionUrl: socket.href });
  const fetcher = (params, opts) => {
    const h = Object.assign({}, opts && opts.headers);
    for (const k of Object.keys(h)) {
      if (k.toLowerCase() === 'authorization' && String(h[k]).startsWith(PLACEHOLDER)) {
        delete h[k];
      }
    }
    return inner(params, Object.assign({}, opts, { headers: h }));
  };

  const render = (tabs) => {
    ReactDOM.createRoot(root).render(
      React.createElement(GraphiQL, {
        fetcher,
        defaultHeaders: headers,
        defaultTabs: tabs.length ? tabs.map((t) => Object.assign({ headers }, t)) : undefined,
        defaultEditorToolsVisibility: 'headers',
        // Tokens are not written to the browser's storage.
        shouldPersistHeaders: false,
      }),
    );
  };
  // The playground operations (embedded in the binary) open as the first tabs.
  fetch(root.dataset.tabs, { credentials: 'same-origin' })
    .then((r) => (r.ok ? r.json() : []))
    .catch(() => [])
    .then(render);
})();
