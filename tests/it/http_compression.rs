//! Answers in gzip for clients that accept it, over the real router and a real fleet:
//! computed answers (tower-http's layer) and cached ones (compressed once, kept beside the
//! plain bytes) decode to exactly the plain answer, both paths read `Accept-Encoding`
//! alike, small answers and `--no-compression` go as they are. Event streams and
//! WebSockets are covered where they are tested (`live/`): their clients send
//! `Accept-Encoding` as browsers do.

use std::io::Read;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Request, header};
use serde_json::json;

use crate::contract;
use crate::store_support::READS_FLEET;
use crate::support::http::{open_app, send_bytes};
use ttpgraph::http::HttpOptions;

/// The 100-attacker page a frontend lists, as the benchmark asks it.
const PAGE: &str = "query { attackers(first: 100) { pageInfo { hasNextPage endCursor } \
    nodes { id ip techniques { techniqueId subTechniqueId count confidenceMax } \
    identity { id techniques { techniqueId count } } } } }";

/// An answer of a few KB that needs no data: the schema's type names.
const BIG: &str = "{ __schema { types { name description } } }";

fn ask(query: &str, accept_encoding: Option<&str>) -> Request<Body> {
    let mut r = Request::post("/graphql").header(header::CONTENT_TYPE, "application/json");
    if let Some(a) = accept_encoding {
        r = r.header(header::ACCEPT_ENCODING, a);
    }
    r.body(Body::from(json!({ "query": query }).to_string()))
        .expect("request")
}

fn encoding(h: &HeaderMap) -> Option<&str> {
    h.get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
}

fn gunzip(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(b)
        .read_to_end(&mut out)
        .expect("a valid gzip stream");
    out
}

/// Status 200, no `errors`: the page came back whole.
fn whole(plain: &[u8]) {
    let v: serde_json::Value = serde_json::from_slice(plain).expect("JSON");
    assert!(v.get("errors").is_none(), "{v}");
    assert_eq!(
        v["data"]["attackers"]["nodes"].as_array().map(Vec::len),
        Some(100)
    );
}

fn options(cache: bool, compression: bool) -> HttpOptions {
    HttpOptions {
        response_cache_bytes: if cache { 16 << 20 } else { 0 },
        compression,
        ..HttpOptions::default()
    }
}

contract!(
    the_page_in_gzip_decodes_to_the_plain_answer_computed_or_cached,
    fleet: READS_FLEET,
    |db| async move {
        let s = &db.store;
        for cache in [false, true] {
            let app = open_app(s, options(cache, true));
            let (status, h, plain) = send_bytes(&app, ask(PAGE, None)).await;
            assert_eq!(status, 200);
            assert_eq!(encoding(&h), None, "no Accept-Encoding: as it is");
            whole(&plain);
            // A browser: computed (cache off) or, with the cache, a hit on the answer the
            // plain request stored, compressed now for this and every later client.
            let (status, h, gz) = send_bytes(&app, ask(PAGE, Some("gzip, deflate, br"))).await;
            assert_eq!(status, 200);
            assert_eq!(encoding(&h), Some("gzip"), "cache {cache}");
            let vary = h.get(header::VARY).and_then(|v| v.to_str().ok()).unwrap_or("");
            assert!(vary.to_ascii_lowercase().contains("accept-encoding"), "{vary}");
            assert_eq!(gunzip(&gz), plain.to_vec(), "cache {cache}: the same bytes");
            assert!(gz.len() * 4 < plain.len(), "{} of {} bytes", gz.len(), plain.len());
            if cache {
                // The gzip is kept: the next browser gets the same bytes and no SQL runs.
                let before = s.statements_executed();
                let (_, h, again) = send_bytes(&app, ask(PAGE, Some("gzip"))).await;
                assert_eq!(s.statements_executed(), before, "a hit");
                assert_eq!(encoding(&h), Some("gzip"));
                assert_eq!(again, gz);
                // And a plain client still gets the plain answer from the same entry.
                let (_, h, again) = send_bytes(&app, ask(PAGE, None)).await;
                assert_eq!(encoding(&h), None);
                assert_eq!(again, plain);
            }
        }
        // A browser first, on a fresh cache: the miss stores and sends the gzip.
        let app = open_app(s, options(true, true));
        let (_, h, gz) = send_bytes(&app, ask(PAGE, Some("gzip"))).await;
        assert_eq!(encoding(&h), Some("gzip"));
        whole(&gunzip(&gz));
    }
);

contract!(
    small_answers_and_no_compression_go_as_they_are,
    |db| async move {
        let s = &db.store;
        let app = open_app(s, options(true, true));
        let (_, h, b) = send_bytes(&app, ask("{ __typename }", Some("gzip"))).await;
        assert_eq!(
            encoding(&h),
            None,
            "a {}-byte answer is not worth gzip",
            b.len()
        );
        assert_eq!(b, Bytes::from_static(br#"{"data":{"__typename":"Query"}}"#));
        // --no-compression: a big answer too goes as it is (a proxy in front compresses).
        for cache in [false, true] {
            let app = open_app(s, options(cache, false));
            for _ in 0..2 {
                let (status, h, b) = send_bytes(&app, ask(BIG, Some("gzip"))).await;
                assert_eq!(status, 200);
                assert_eq!(encoding(&h), None, "cache {cache}");
                assert!(b.len() > 1024 && b.starts_with(b"{\"data\""), "{}", b.len());
            }
            // With compression on, the same answer is big enough to be compressed.
            let app = open_app(s, options(cache, true));
            let (_, h, _) = send_bytes(&app, ask(BIG, Some("gzip"))).await;
            assert_eq!(encoding(&h), Some("gzip"), "cache {cache}");
        }
    }
);

contract!(
    cached_and_computed_answers_read_accept_encoding_alike,
    |db| async move {
        // The handler decides for cached answers, tower-http's layer for computed ones:
        // a client must not get gzip from one and not the other.
        let s = &db.store;
        let computed = open_app(s, options(false, true));
        let cached = open_app(s, options(true, true));
        let headers = [
            "gzip",
            "GZip",
            "x-gzip",
            "*",
            "br, gzip;q=0.5",
            "gzip;q=0",
            "*, gzip;q=0",
            "*;q=0.5, identity",
            "gzip;q=0.5, identity",
            "gzip, identity;q=0.5",
            "br",
            "deflate, br, zstd",
            "identity",
            "gzip;q=2",
            "gzip;q=0.001",
            "",
        ];
        for a in headers {
            let (_, want, _) = send_bytes(&computed, ask(BIG, Some(a))).await;
            // Twice: the miss (stored) and the hit.
            for round in ["miss", "hit"] {
                let (status, got, b) = send_bytes(&cached, ask(BIG, Some(a))).await;
                assert_eq!(status, 200, "{a:?}");
                assert_eq!(encoding(&got), encoding(&want), "{a:?}, cached ({round})");
                if encoding(&got).is_some() {
                    assert!(gunzip(&b).starts_with(b"{\"data\""));
                }
            }
        }
    }
);

contract!(
    exports_travel_in_gzip_too,
    fleet: READS_FLEET,
    |db| async move {
        let app = open_app(&db.store, options(true, true));
        let get = |gzip: bool| {
            let mut r = Request::get("/api/v1/ttp/export/layer");
            if gzip {
                r = r.header(header::ACCEPT_ENCODING, "gzip");
            }
            r.body(Body::empty()).expect("request")
        };
        let (status, h, plain) = send_bytes(&app, get(false)).await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&plain));
        assert_eq!(encoding(&h), None);
        let (status, h, gz) = send_bytes(&app, get(true)).await;
        assert_eq!(status, 200);
        assert_eq!(encoding(&h), Some("gzip"));
        let a: serde_json::Value = serde_json::from_slice(&plain).expect("JSON layer");
        let b: serde_json::Value = serde_json::from_slice(&gunzip(&gz)).expect("JSON layer");
        assert_eq!(a, b);
        assert!(gz.len() < plain.len());
    }
);
