//! The embedded GraphiQL page through the real router: served from this origin only,
//! under a strict Content-Security-Policy, with immutable content-addressed assets. (The
//! page in a real browser: `browser.rs`.)

use axum::body::Body;
use axum::http::{Request, StatusCode, header};

use crate::support::http::{content_type, get, open_app, send_bytes, send_text};
use crate::support::{Backend, TestDb};
use ttpgraph::http::HttpOptions;

/// Every `src`/`href` of the page.
fn references(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in ["src=\"", "href=\"", "data-tabs=\""] {
        for part in html.split(attr).skip(1) {
            if let Some(end) = part.find('"') {
                out.push(part[..end].to_owned());
            }
        }
    }
    out
}

#[tokio::test]
async fn the_page_loads_only_its_own_assets_under_a_strict_policy() {
    let db = TestDb::new(Backend::Sqlite).await.expect("db");
    let app = open_app(&db.store, HttpOptions::default());
    let req = Request::get("/")
        .header(header::HOST, "127.0.0.1:8080")
        .body(Body::empty())
        .expect("request");
    let (status, headers, html) = send_text(&app, req).await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type(&headers).starts_with("text/html"));
    let csp = headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .expect("csp");
    for directive in [
        "default-src 'none'",
        "script-src 'self';",
        "style-src 'self';",
        "connect-src 'self' ws://127.0.0.1:8080 wss://127.0.0.1:8080;",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{directive} in {csp}");
    }
    assert!(!csp.contains("unsafe-"), "{csp}");
    assert!(!html.contains("<script>"), "no inline script");
    assert!(!html.contains("unpkg") && !html.contains("cdn"), "no CDN");

    let refs = references(&html);
    let local: Vec<&String> = refs
        .iter()
        .filter(|r| r.starts_with("/graphiql/"))
        .collect();
    assert_eq!(
        local.len(),
        7,
        "react, react-dom, graphiql js+css, app js+css, tabs: {refs:?}"
    );
    for r in &refs {
        assert!(
            r.starts_with('/') || r == "data:,",
            "{r} is not on this origin"
        );
    }
    for path in local {
        let (status, headers, bytes) = send_bytes(&app, get(path)).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert!(!bytes.is_empty(), "{path}");
        assert_eq!(
            headers[header::CACHE_CONTROL],
            "public, max-age=31536000, immutable",
            "{path}"
        );
        let etag = headers[header::ETAG].to_str().expect("etag").to_owned();
        assert!(
            path.contains(etag.trim_matches('"')),
            "the path holds the hash"
        );
        let revalidate = Request::get(path.as_str())
            .header(header::IF_NONE_MATCH, &etag)
            .body(Body::empty())
            .expect("request");
        let (status, _, bytes) = send_bytes(&app, revalidate).await;
        assert_eq!(status, StatusCode::NOT_MODIFIED, "{path}");
        assert!(bytes.is_empty());
        if path.ends_with(".js") {
            assert!(
                content_type(&headers).starts_with("text/javascript"),
                "{path}"
            );
        }
        if path.ends_with("playground.json") {
            let tabs: serde_json::Value =
                serde_json::from_slice(&bytes_of(&app, path).await).expect("json");
            let tabs = tabs.as_array().expect("tabs");
            assert!(tabs.iter().any(|t| {
                t["query"]
                    .as_str()
                    .is_some_and(|q| q.contains("AttackersPage"))
            }));
        }
    }
    // A stale or made-up hash is not served.
    let (status, _, _) = send_bytes(&app, get("/graphiql/0000000000000000/graphiql.min.js")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn bytes_of(app: &axum::Router, path: &str) -> Vec<u8> {
    send_bytes(app, get(path)).await.2.to_vec()
}

#[tokio::test]
async fn no_graphiql_serves_neither_page_nor_assets() {
    let db = TestDb::new(Backend::Sqlite).await.expect("db");
    let on = open_app(&db.store, HttpOptions::default());
    let (_, _, html) = send_text(&on, get("/")).await;
    let asset = references(&html)
        .into_iter()
        .find(|r| r.ends_with("graphiql.min.js"))
        .expect("asset");
    let off = open_app(
        &db.store,
        HttpOptions {
            graphiql: false,
            ..Default::default()
        },
    );
    for path in ["/", asset.as_str()] {
        let (status, _, _) = send_bytes(&off, get(path)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
}
