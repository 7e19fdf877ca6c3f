//! GraphiQL served from ttpgraph's own origin: `GET /` is the page, `/graphiql/<hash>/…`
//! its files ([`assets`]). Nothing is loaded from elsewhere, so the page works on an
//! air-gapped network, and its Content-Security-Policy lets no other origin run script or
//! receive data where users paste bearer tokens.

mod assets;
mod playground;

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Everything from this origin only: `data:` images and fonts are GraphiQL's inlined
/// icons and fonts (not another origin); `connect-src` names the same-origin WebSocket
/// too (subscriptions), for browsers whose `'self'` does not cover `ws:`.
fn content_security_policy(host: Option<&str>) -> String {
    let sockets = host
        .filter(|h| is_plain_authority(h))
        .map(|h| format!(" ws://{h} wss://{h}"))
        .unwrap_or_default();
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         font-src 'self' data:; connect-src 'self'{sockets}; base-uri 'none'; \
         form-action 'none'; frame-ancestors 'none'"
    )
}

/// A `Host` value safe to echo into the policy: name or address characters and a port.
fn is_plain_authority(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 255
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
}

/// `GET /`: the page (never cached: it names the current build's asset paths).
pub async fn page(headers: HeaderMap) -> Response {
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let csp = content_security_policy(host);
    let mut resp = (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        assets::PAGE.as_str(),
    )
        .into_response();
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    resp
}

/// `GET /graphiql/<hash>/<name>`: an embedded file, immutable (its path changes with its
/// content); `If-None-Match` gets a 304.
pub async fn asset(Path((hash, name)): Path<(String, String)>, headers: HeaderMap) -> Response {
    let Some(s) = assets::find(&format!("/graphiql/{hash}/{name}")) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == s.etag));
    let common = [
        (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        (header::ETAG, s.etag.as_str()),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ];
    if fresh {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    (
        common,
        [(header::CONTENT_TYPE, s.asset.content_type)],
        s.asset.bytes,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_names_only_this_origin() {
        let p = content_security_policy(Some("127.0.0.1:8080"));
        assert!(p.contains("connect-src 'self' ws://127.0.0.1:8080 wss://127.0.0.1:8080;"));
        assert!(p.starts_with("default-src 'none';"));
        assert!(!p.contains("unsafe"));
        // A Host that could smuggle a directive is left out.
        let p = content_security_policy(Some("x; script-src *"));
        assert!(p.contains("connect-src 'self';"));
        assert!(!p.contains('*'));
    }
}
