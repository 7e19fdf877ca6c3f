//! Answers in gzip for clients that accept it (every browser, curl `--compressed`, Python's
//! `requests`, Apollo and urql in a browser).
//!
//! GraphQL answers repeat themselves: every technique node carries its id, name and
//! tactic, every attacker node the same field names. The 100-attacker page of the
//! DECNET-shaped fleet is 227 KB of JSON and 14–28 KB in gzip, which is what a frontend
//! on the far side of a real network waits for. tower-http's layer compresses
//! computed answers as they stream out; the response cache keeps the gzip of an answer
//! next to its plain bytes, so a repeated answer is compressed once, not per request.
//! Small answers (under [`MIN_BYTES`]) and event streams go out as they are. Only gzip:
//! every client that sends `Accept-Encoding` accepts it, and its per-stream state is
//! small (brotli's and zstd's windows are megabytes per response in flight).
//!
//! No response carries a secret (tokens travel only in request headers, and there are
//! no cookies), so compression leaks nothing a chosen-plaintext attack (BREACH) could
//! recover.

use std::io::Write;

use axum::http::{HeaderMap, header};
use tower_http::compression::predicate::{NotForContentType, Predicate, SizeAbove};
use tower_http::compression::{CompressionLayer, CompressionLevel};

/// Answers smaller than this are sent as they are: below about a packet, gzip saves
/// nothing the network would notice and costs its header and the CPU.
pub const MIN_BYTES: usize = 1024;

/// gzip level 1 for answers compressed as they stream out: on the benchmark's 227 KB
/// page (flate2's Rust backend) 0.41 ms for 28 KB, where level 3 takes 0.94 ms for 15 KB
/// and the default level 6 1.64 ms for 14 KB. Cached answers use [`CACHED_LEVEL`].
const STREAM_LEVEL: CompressionLevel = CompressionLevel::Fastest;

/// A cached answer is compressed once and sent many times: worth the default level
/// (half level 1's bytes).
const CACHED_LEVEL: u32 = 6;

/// The server-wide layer: gzip for every response of at least [`MIN_BYTES`] (or of
/// unknown length: exports) whose client accepts it, except event streams. A response
/// that already has a `Content-Encoding` (a cached gzip answer) passes untouched.
pub fn layer() -> CompressionLayer<impl Predicate> {
    let predicate = SizeAbove::new(MIN_BYTES as u64)
        .and(NotForContentType::SSE)
        .and(NotForContentType::GRPC)
        .and(NotForContentType::IMAGES);
    CompressionLayer::new()
        .quality(STREAM_LEVEL)
        .compress_when(predicate)
}

/// Does the request accept a gzip answer, as the layer would decide (RFC 9110 §12.5.3:
/// `gzip` or `x-gzip` with a non-zero q-value, or `*` when neither is listed, and not
/// below an explicitly preferred `identity`)?
pub fn accepts_gzip(headers: &HeaderMap) -> bool {
    let (mut gzip, mut star, mut identity) = (None, None, None);
    for value in headers.get_all(header::ACCEPT_ENCODING) {
        let Ok(value) = value.to_str() else { continue };
        for item in value.split(',') {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim();
            let Some(q) = parts.next().map_or(Some(1000), q_value) else {
                continue;
            };
            if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
                gzip = Some(q);
            } else if coding == "*" {
                star = Some(q);
            } else if coding.eq_ignore_ascii_case("identity") {
                identity = Some(q);
            }
        }
    }
    let q = gzip.or(star).unwrap_or(0);
    q > 0 && q >= identity.unwrap_or(0)
}

/// A q-value (`q=0.5`) in thousandths, or `None` when it is malformed (the coding is
/// then ignored, as the layer ignores it).
fn q_value(param: &str) -> Option<u16> {
    let (name, value) = param.trim().split_once('=')?;
    if !name.trim().eq_ignore_ascii_case("q") {
        return None;
    }
    let value = value.trim();
    let (int, frac) = value.split_once('.').unwrap_or((value, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = match int {
        "0" => frac
            .bytes()
            .chain(std::iter::repeat(b'0'))
            .take(3)
            .fold(0u16, |n, b| n * 10 + u16::from(b - b'0')),
        "1" if frac.bytes().all(|b| b == b'0') => 1000,
        _ => return None,
    };
    Some(thousandths)
}

/// The gzip of a cached answer, or `None` when it is too small to be worth it.
pub fn gzip_cached(body: &[u8]) -> Option<Vec<u8>> {
    if body.len() < MIN_BYTES {
        return None;
    }
    let mut out = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4),
        flate2::Compression::new(CACHED_LEVEL),
    );
    out.write_all(body).ok()?;
    out.finish().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn accepts(values: &[&str]) -> bool {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(
                header::ACCEPT_ENCODING,
                HeaderValue::from_str(v).expect("ascii"),
            );
        }
        accepts_gzip(&h)
    }

    #[test]
    fn accept_encoding_is_read_as_rfc_9110_says() {
        assert!(!accepts(&[]), "no header: identity");
        assert!(accepts(&["gzip, deflate, br, zstd"]), "a browser");
        assert!(accepts(&["br", "GZIP;q=0.5"]), "two headers, any case");
        assert!(accepts(&["x-gzip"]));
        assert!(accepts(&["*"]));
        assert!(!accepts(&["br, deflate"]), "gzip not listed");
        assert!(!accepts(&["gzip;q=0"]));
        assert!(!accepts(&["gzip;q=0.000"]));
        assert!(!accepts(&["*, gzip;q=0"]), "explicit beats the wildcard");
        assert!(accepts(&["gzip;q=0.001"]));
        assert!(!accepts(&["gzip;q=0.5, identity"]), "identity preferred");
        assert!(accepts(&["gzip, identity;q=0.5"]));
        assert!(!accepts(&["gzip;q=2"]), "malformed q: ignored");
        assert!(!accepts(&["gzip;q=0.1234"]), "four decimals: malformed");
        assert!(!accepts(&["gzip;level=1"]), "not a q-value: ignored");
    }

    #[test]
    fn cached_answers_are_gzipped_when_big_enough() {
        assert!(gzip_cached(&[b'x'; MIN_BYTES - 1]).is_none());
        let body = br#"{"technique":"T1110.001","tactic":"credential-access"},"#.repeat(100);
        let gz = gzip_cached(&body).expect("big enough");
        assert!(gz.len() * 5 < body.len(), "{} of {}", gz.len(), body.len());
        let mut back = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut back)
            .expect("valid gzip");
        assert_eq!(back, body);
    }
}
