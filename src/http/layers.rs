//! The middleware stack in one place, outermost first: request id → access log and span →
//! gzip (unless `--no-compression`) → panic isolation → CORS → body limit → (open mode)
//! loopback-only guard. Load shedding is in the `/graphql` handlers, after the body is
//! read.

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};

use super::HttpOptions;
use super::response::{Code, error_response};

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Wraps `router` with the server-wide layers.
pub fn apply(router: Router, opts: &HttpOptions) -> Router {
    let mut r = router.layer(DefaultBodyLimit::max(opts.max_body_bytes));
    if let Some(cors) = cors(&opts.cors_origins) {
        r = r.layer(cors);
    }
    r = r.layer(CatchPanicLayer::custom(panic_response));
    if opts.compression {
        r = r.layer(super::compression::layer());
    }
    // Replaces tower-http's TraceLayer, which logged every 5xx (each load-shedding
    // 503 of a burst) at ERROR, one line each.
    r.layer(axum::middleware::from_fn(super::access_log::access_log))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

/// Cross-origin access only for the configured origins; none by default (same-origin).
/// Clients may read `x-request-id`, the id to quote when reporting an `INTERNAL` error.
fn cors(origins: &[String]) -> Option<CorsLayer> {
    let list: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| normalise_origin(o).ok())
        .filter_map(|o| HeaderValue::from_str(&o).ok())
        .collect();
    if list.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(list))
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION, header::ACCEPT])
            .expose_headers([REQUEST_ID]),
    )
}

/// An origin as browsers send it: `scheme://host[:port]`, lower case, no path. A trailing
/// `/` (as copied from an address bar) is stripped, since no browser would ever send it
/// and the origin would silently never match; anything with a path, query, user or
/// another scheme is refused (`--cors-origin` fails at start-up with this message).
pub fn normalise_origin(raw: &str) -> Result<String, String> {
    let o = raw.trim();
    let o = o.strip_suffix('/').unwrap_or(o);
    let bad = |why: &str| {
        Err(format!(
            "{raw:?} is not an origin ({why}); write scheme://host[:port], e.g. https://decnet.example:8443"
        ))
    };
    let Some((scheme, authority)) = o.split_once("://") else {
        return bad("no scheme");
    };
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return bad("only http and https");
    }
    if authority.is_empty() {
        return bad("no host");
    }
    if authority.contains(['/', '?', '#', '@', ' ', '*']) {
        return bad("it has a path, query, user or wildcard");
    }
    Ok(format!("{scheme}://{}", authority.to_ascii_lowercase()))
}

/// A panic is answered with a 500 for that request only; the server keeps serving.
fn panic_response(err: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = err
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| err.downcast_ref::<&str>().copied())
        .unwrap_or("non-string panic payload");
    tracing::error!(panic = %detail, "request handler panicked");
    error_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        Code::Internal,
        "internal error",
        false,
    )
}

/// Open mode (no JWT secret) serves everyone as an admin on a loopback address. A web page
/// the developer visits could still reach it through DNS rebinding (its own name resolving
/// to 127.0.0.1) or a cross-site request, so only loopback `Host`s (or none, as HTTP/1.0
/// clients send) and loopback or `--cors-origin` `Origin`s are served: anything else
/// gets 403.
pub async fn loopback_only(
    State(allowed): State<Arc<Vec<String>>>,
    req: Request,
    next: Next,
) -> Response {
    let host_ok = req
        .headers()
        .get(header::HOST)
        .is_none_or(|h| h.to_str().is_ok_and(is_loopback_authority))
        && req
            .uri()
            .authority()
            .is_none_or(|a| is_loopback_authority(a.as_str()));
    if !host_ok {
        return forbidden("without authentication, this server answers loopback Host names only");
    }
    let origin_ok = req.headers().get(header::ORIGIN).is_none_or(|o| {
        o.to_str().is_ok_and(|o| {
            is_loopback_origin(o)
                || allowed
                    .iter()
                    .any(|a| normalise_origin(a).is_ok_and(|a| a == o))
        })
    });
    if !origin_ok {
        return forbidden(
            "without authentication, this server answers same-machine origins (and --cors-origin) only",
        );
    }
    next.run(req).await
}

fn forbidden(message: &str) -> Response {
    error_response(StatusCode::FORBIDDEN, Code::Forbidden, message, false)
}

/// `localhost`, `127.0.0.0/8` or `[::1]` (any loopback IPv6, IPv4-mapped included), with
/// an optional port.
pub fn is_loopback_authority(authority: &str) -> bool {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let Some((ip, after)) = rest.split_once(']') else {
            return false;
        };
        let Ok(ip) = ip.parse::<std::net::Ipv6Addr>() else {
            return false;
        };
        if !ip.to_canonical().is_loopback() {
            return false;
        }
        match after {
            "" => return true,
            p => ("localhost", p.strip_prefix(':').unwrap_or("x")),
        }
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, p),
            None => (authority, ""),
        }
    };
    let port_ok = port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit());
    let host_ok = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback());
    port_ok && host_ok
}

/// `http(s)://` plus a loopback authority and nothing else (`null` is not one).
pub fn is_loopback_origin(origin: &str) -> bool {
    origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .is_some_and(is_loopback_authority)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_authorities() {
        for ok in [
            "localhost",
            "LOCALHOST:8080",
            "127.0.0.1",
            "127.0.0.1:8080",
            "127.1.2.3:80",
            "[::1]",
            "[::1]:8080",
            "[::ffff:127.0.0.1]:1",
            "localhost:",
        ] {
            assert!(is_loopback_authority(ok), "{ok}");
        }
        for bad in [
            "",
            "evil.example",
            "localhost.evil.example",
            "evil.localhost",
            "127.0.0.1.nip.io",
            "10.0.0.1:8080",
            "0.0.0.0:8080",
            "[::2]:8080",
            "[::1",
            "[::1]8080",
            "localhost:80:80",
            "localhost:http",
            "user@localhost",
        ] {
            assert!(!is_loopback_authority(bad), "{bad}");
        }
        assert!(is_loopback_origin("http://localhost:8080"));
        assert!(is_loopback_origin("https://127.0.0.1"));
        assert_eq!(
            normalise_origin(" HTTPS://Decnet.Example:8443/ ").as_deref(),
            Ok("https://decnet.example:8443")
        );
        for bad in [
            "decnet.example",
            "ftp://x",
            "https://x/app",
            "https://",
            "https://u@x",
            "*",
        ] {
            assert!(normalise_origin(bad).is_err(), "{bad}");
        }
        for bad in [
            "null",
            "http://evil.example",
            "file://",
            "http://localhost:8080/x",
            "ftp://localhost",
        ] {
            assert!(!is_loopback_origin(bad), "{bad}");
        }
    }
}
