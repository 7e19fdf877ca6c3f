// Drives Debian's Chromium (playwright-core, no downloaded browser) against a running
// ttpgraph server: loads GraphiQL, runs a query, opens the docs pane, and checks that the
// page made no request outside 127.0.0.1 and that its Content-Security-Policy refused
// nothing. Usage: node graphiql.mjs http://127.0.0.1:PORT  (CHROMIUM overrides the binary).
// Exits non-zero with a reason on the first failed check; the Rust test
// (tests/it/browser.rs) starts the server and runs this.
import { chromium } from 'playwright-core';

const base = process.argv[2];
if (!base || !base.startsWith('http://127.0.0.1:')) {
  console.error('usage: node graphiql.mjs http://127.0.0.1:PORT');
  process.exit(2);
}
const QUERY = '{ attackers(first: 3) { nodes { ip } } tactics { id name } }';
const failures = [];
const check = (ok, what) => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures.push(what);
};

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  // Root in CI containers: Chromium's sandbox needs user namespaces it may not have.
  args: ['--no-sandbox', '--disable-dev-shm-usage'],
});
try {
  const context = await browser.newContext();
  // Every request the page makes, from any frame or worker, WebSockets included.
  const requests = [];
  const bodies = [];
  context.on('request', (r) => {
    requests.push(r.url());
    if (r.method() === 'POST') bodies.push((r.postData() || '').slice(0, 120));
  });
  const page = await context.newPage();
  page.on('websocket', (ws) => requests.push(ws.url()));
  // Nothing may leave the machine: requests elsewhere are recorded and refused.
  await context.route('**/*', (route) => {
    const u = new URL(route.request().url());
    return u.hostname === '127.0.0.1' ? route.continue() : route.abort();
  });
  const problems = [];
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(String(e)));

  const resp = await page.goto(base + '/', { waitUntil: 'load' });
  check(resp.status() === 200, `GET / answers 200 (got ${resp.status()})`);
  const csp = resp.headers()['content-security-policy'] || '';
  check(csp.includes("default-src 'none'") && csp.includes("script-src 'self'"), `the page has a strict CSP: ${csp}`);

  // GraphiQL renders its editors.
  await page.waitForSelector('.graphiql-container .graphiql-query-editor .CodeMirror', { timeout: 30000 });
  check(true, 'GraphiQL rendered');
  const tabs = await page.locator('.graphiql-tab').count();
  check(tabs >= 5, `the playground operations are tabs (${tabs})`);
  const headers = await page.evaluate(() =>
    [...document.querySelectorAll('.graphiql-editor-tool .CodeMirror')]
      .map((cm) => cm.CodeMirror.getValue())
      .join('\n'),
  );
  check(headers.includes('Authorization') && headers.includes('Bearer <'), 'the headers pane documents the bearer token');

  // Run a query of our own and compare what GraphiQL shows with the server's answer.
  // A fresh tab, so that no playground tab's content or response is in the way.
  await page.click('button[aria-label="New tab"]');
  await page.waitForFunction((n) => document.querySelectorAll('.graphiql-tab').length === n + 1, tabs, {
    timeout: 30000,
  });
  await page.evaluate((q) => {
    document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.setValue(q);
  }, QUERY);
  await page.waitForFunction(
    (q) => document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.getValue() === q,
    QUERY,
    { timeout: 30000 },
  );
  await page.waitForTimeout(500);
  await page.click('.graphiql-execute-button');
  await page.waitForFunction(
    () => {
      const cm = document.querySelector('.graphiql-response .CodeMirror');
      const v = cm ? cm.CodeMirror.getValue() : '';
      return v.includes('"attackers"') && v.includes('"tactics"') && v.trim().endsWith('}');
    },
    null,
    { timeout: 30000 },
  );
  const shown = await page.evaluate(() =>
    JSON.parse(document.querySelector('.graphiql-response .CodeMirror').CodeMirror.getValue()),
  );
  const direct = await (
    await fetch(base + '/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: QUERY }),
    })
  ).json();
  // Compared as values (keys sorted): one CI run showed GraphiQL's rendering with the
  // root fields in another order than the direct answer, the values equal; the order of
  // a response map is a SHOULD in the GraphQL spec, the values are what users read.
  const canonical = (v) =>
    JSON.stringify(v, (_k, x) =>
      x && typeof x === 'object' && !Array.isArray(x)
        ? Object.fromEntries(Object.keys(x).sort().map((k) => [k, x[k]]))
        : x,
    );
  check(
    canonical(shown) === canonical(direct) && direct.data.attackers.nodes.length > 0,
    `the result shown is the server's answer (${direct.data.attackers.nodes.length} attackers)`,
  );
  if (canonical(shown) !== canonical(direct) || JSON.stringify(shown) !== JSON.stringify(direct)) {
    console.log(`shown:  ${JSON.stringify(shown).slice(0, 400)}\ndirect: ${JSON.stringify(direct).slice(0, 400)}`);
    console.log(`requests sent: ${JSON.stringify(bodies)}`);
  }

  // The docs pane shows the schema, which needs the introspection query to pass.
  await page.click('button[aria-label="Show Documentation Explorer"]');
  await page.waitForSelector('.graphiql-doc-explorer', { timeout: 30000 });
  await page.locator('.graphiql-doc-explorer a.graphiql-doc-explorer-type-name', { hasText: 'Query' }).first().click();
  await page.waitForFunction(
    () => {
      const t = document.querySelector('.graphiql-doc-explorer')?.textContent || '';
      return t.includes('attackers') && t.includes('tactics');
    },
    null,
    { timeout: 30000 },
  );
  const docs = await page.locator('.graphiql-doc-explorer').innerText();
  check(!docs.includes('Error fetching schema'), 'the docs pane fetched the schema');
  check(docs.includes('attackers'), 'the docs pane lists Query fields (attackers, tactics, …)');

  const outside = requests.filter((u) => new URL(u).hostname !== '127.0.0.1');
  check(requests.length >= 6, `requests recorded (${requests.length})`);
  check(outside.length === 0, `no request left 127.0.0.1 ${outside.length ? JSON.stringify(outside) : ''}`);
  check(problems.length === 0, `no console error or CSP refusal ${problems.length ? JSON.stringify(problems) : ''}`);
} finally {
  await browser.close();
}
if (failures.length) {
  console.error(`${failures.length} check(s) failed`);
  process.exit(1);
}
console.log('graphiql browser checks passed');
