//! Attackers by IP: an exact address or a CIDR network, matched against DECNET's `ip`
//! text column through its index. DECNET stores Python's `str(ipaddress)`: dotted
//! decimal for IPv4, RFC 5952 text for IPv6 (lowercase hex, no leading zeros, the
//! longest run of zero groups as `::`). Neither dialect has portable network functions,
//! and a function over the column would scan the table, so a network becomes the few
//! text ranges its addresses' canonical forms can start with:
//!
//! - IPv4 `/n`: the fixed octets as a prefix (`85.163.`); a partial octet is enumerated
//!   (`/20` → `85.163.0.` … `85.163.15.`, at most 128 ranges).
//! - IPv6 `/n`: for each zero/non-zero shape of the free groups the canonical text of the
//!   fixed groups is the same, except where the `::` run starts inside them; there the
//!   text's colon count and whether it ends in `::` pin the run's length. A partial group
//!   is enumerated when it leaves at most 8 free bits (`/56`, `/60`); wider partial groups
//!   (`/20`) are refused.
//!
//! Every condition is a range on the column (index-served) plus, for IPv6 shapes with a
//! `::` in the fixed part, a residual check on the same row. `tests` holds the generator
//! equal to real network membership over random addresses.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::arg::Arg;

/// At most this many ranges per network (a wider enumeration is refused).
const MAX_RANGES: usize = 256;

/// An `ip` filter, parsed and checked.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IpMatch {
    exact: Vec<String>,
    ranges: Vec<TextRange>,
}

/// Canonical texts that start with `prefix`, optionally with exactly `colons` colons and
/// ending (or not) in `::`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct TextRange {
    prefix: String,
    shape: Option<(usize, bool)>,
}

impl IpMatch {
    /// Parses `85.163.164.191`, `85.163.0.0/16`, `2001:db8::1` or `2001:db8::/32`.
    /// Host bits past the prefix are ignored (`10.1.2.3/8` is `10.0.0.0/8`).
    pub fn parse(input: &str) -> Result<Self, String> {
        let s = input.trim();
        let (addr, len) = match s.split_once('/') {
            None => (s, None),
            Some((a, l)) => {
                let n: u8 = l
                    .parse()
                    .map_err(|_| format!("ip {input:?}: the prefix length must be a number"))?;
                (a, Some(n))
            }
        };
        let ip: IpAddr = addr.parse().map_err(|_| {
            format!(
                "ip {input:?} is not an IPv4 or IPv6 address (e.g. 85.163.164.191 or 2001:db8::/32)"
            )
        })?;
        match ip {
            IpAddr::V4(v4) => v4_match(v4, len.unwrap_or(32), input),
            IpAddr::V6(v6) => v6_match(v6, len.unwrap_or(128), input),
        }
    }

    /// The condition on `column`, its arguments appended.
    pub fn sql(&self, column: &str, args: &mut Vec<Arg>) -> String {
        let mut terms = Vec::new();
        if !self.exact.is_empty() {
            terms.push(format!(
                "{column} IN ({})",
                super::arg::placeholders(self.exact.len())
            ));
            args.extend(self.exact.iter().cloned().map(Arg::Str));
        }
        for r in &self.ranges {
            let mut t = format!("({column} >= ? AND {column} < ?");
            args.push(Arg::Str(r.prefix.clone()));
            args.push(Arg::Str(successor(&r.prefix)));
            if let Some((colons, ends)) = r.shape {
                // Portable colon count; the text is ASCII on both dialects.
                t.push_str(&format!(
                    " AND LENGTH({column}) - LENGTH(REPLACE({column}, ':', '')) = ? AND {} {column} LIKE '%::'",
                    if ends { "" } else { "NOT" }
                ));
                args.push(Arg::Int(colons as i64));
            }
            t.push(')');
            terms.push(t);
        }
        format!("({})", terms.join(" OR "))
    }

    /// Whether `text` (a stored `ip`) matches: the same test as [`IpMatch::sql`], in Rust
    /// (for the tests that hold the two together).
    pub fn matches_text(&self, text: &str) -> bool {
        self.exact.iter().any(|e| e == text)
            || self.ranges.iter().any(|r| {
                text.starts_with(&r.prefix)
                    && r.shape.is_none_or(|(colons, ends)| {
                        text.matches(':').count() == colons && text.ends_with("::") == ends
                    })
            })
    }
}

/// The smallest string greater than every string starting with `p` (its last byte + 1;
/// prefixes end in `.` or `:`, so this stays ASCII).
fn successor(p: &str) -> String {
    let mut b = p.as_bytes().to_vec();
    if let Some(last) = b.last_mut() {
        *last += 1;
    }
    String::from_utf8(b).unwrap_or_default()
}

fn too_broad(input: &str) -> String {
    format!(
        "ip {input:?} is too broad to match: use a longer prefix (at least /1 for IPv4, and for IPv6 a multiple of 16 or within 8 bits below one, e.g. /48, /56, /64)"
    )
}

fn v4_match(addr: Ipv4Addr, len: u8, input: &str) -> Result<IpMatch, String> {
    if !(1..=32).contains(&len) {
        return Err(format!(
            "ip {input:?}: an IPv4 prefix length is 1..=32 (leave ip out to match every address)"
        ));
    }
    let mask = u32::MAX << (32 - u32::from(len));
    let net = (u32::from(addr) & mask).to_be_bytes();
    let (full, rest) = (usize::from(len / 8), u32::from(len % 8));
    let mut out = IpMatch {
        exact: vec![],
        ranges: vec![],
    };
    let mut add = |fixed: &[u8]| {
        let text: Vec<String> = fixed.iter().map(u8::to_string).collect();
        if fixed.len() == 4 {
            out.exact.push(text.join("."));
        } else {
            out.ranges.push(TextRange {
                prefix: format!("{}.", text.join(".")),
                shape: None,
            });
        }
    };
    if rest == 0 {
        add(&net[..full]);
    } else {
        let base = net[full];
        for v in 0..(1u16 << (8 - rest)) {
            let mut fixed = net[..full].to_vec();
            fixed.push(base + v as u8);
            add(&fixed);
        }
    }
    Ok(out)
}

fn v6_match(addr: Ipv6Addr, len: u8, input: &str) -> Result<IpMatch, String> {
    if !(1..=128).contains(&len) {
        return Err(format!(
            "ip {input:?}: an IPv6 prefix length is 1..=128 (leave ip out to match every address)"
        ));
    }
    let mask = u128::MAX << (128 - u32::from(len));
    let net = u128::from(addr) & mask;
    let groups = Ipv6Addr::from(net).segments();
    if len == 128 {
        return Ok(IpMatch {
            exact: vec![canonical_v6(&groups)],
            ranges: vec![],
        });
    }
    let (full, rest) = (usize::from(len / 16), u32::from(len % 16));
    let mut networks: Vec<Vec<u16>> = Vec::new();
    if rest == 0 {
        networks.push(groups[..full].to_vec());
    } else if 16 - rest <= 8 {
        for v in 0..(1u32 << (16 - rest)) {
            let mut fixed = groups[..full].to_vec();
            fixed.push(groups[full] + v as u16);
            networks.push(fixed);
        }
    } else {
        return Err(too_broad(input));
    }
    let mut out = IpMatch {
        exact: vec![],
        ranges: vec![],
    };
    for fixed in networks {
        if fixed.len() == 8 {
            out.exact.push(canonical_v6(&fixed));
            continue;
        }
        for r in shapes(&fixed) {
            if !out.ranges.contains(&r) {
                out.ranges.push(r);
            }
        }
        if out.ranges.len() + out.exact.len() > MAX_RANGES {
            return Err(too_broad(input));
        }
    }
    Ok(out)
}

/// The text ranges of the addresses whose first `fixed.len()` groups are `fixed`: one per
/// distinct canonical form of the fixed part over the zero/non-zero shapes of the rest.
fn shapes(fixed: &[u16]) -> Vec<TextRange> {
    let f = fixed.len();
    let free = 8 - f;
    let mut out: Vec<TextRange> = Vec::new();
    for bits in 0..(1u32 << free) {
        let mut g = [0u16; 8];
        g[..f].copy_from_slice(fixed);
        for (i, slot) in g[f..].iter_mut().enumerate() {
            *slot = u16::from(bits & (1 << i) != 0);
        }
        let r = match zero_run(&g) {
            Some((s, l)) if s < f => {
                let mut prefix = hex_groups(&g[..s]);
                prefix.push_str("::");
                if s + l < f {
                    prefix.push_str(&hex_groups(&g[s + l..f]));
                    prefix.push(':');
                }
                let text = canonical_v6(&g);
                TextRange {
                    prefix,
                    shape: Some((text.matches(':').count(), text.ends_with("::"))),
                }
            }
            _ => TextRange {
                prefix: format!("{}:", hex_groups(fixed)),
                shape: None,
            },
        };
        if !out.contains(&r) {
            out.push(r);
        }
    }
    out
}

/// The run of zero groups RFC 5952 compresses: the longest of at least two, the first
/// on a tie.
fn zero_run(g: &[u16; 8]) -> Option<(usize, usize)> {
    let mut best: Option<(usize, usize)> = None;
    let mut i = 0;
    while i < 8 {
        if g[i] == 0 {
            let start = i;
            while i < 8 && g[i] == 0 {
                i += 1;
            }
            let len = i - start;
            if len >= 2 && best.is_none_or(|(_, l)| len > l) {
                best = Some((start, len));
            }
        } else {
            i += 1;
        }
    }
    best
}

fn hex_groups(g: &[u16]) -> String {
    let mut s = String::new();
    for (i, x) in g.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        let _ = write!(s, "{x:x}");
    }
    s
}

/// RFC 5952 text of eight groups, as Python's `ipaddress` writes it (hex groups only:
/// IPv4-mapped addresses are not written in dotted form here).
pub fn canonical_v6(g: &[u16]) -> String {
    let mut a = [0u16; 8];
    a.copy_from_slice(&g[..8]);
    match zero_run(&a) {
        None => hex_groups(&a),
        Some((s, l)) => format!("{}::{}", hex_groups(&a[..s]), hex_groups(&a[s + l..])),
    }
}

/// The canonical text of an address, as [`IpMatch`] expects it stored.
pub fn canonical(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => canonical_v6(&v6.segments()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn in_v6(net: Ipv6Addr, len: u8, a: Ipv6Addr) -> bool {
        let mask = u128::MAX << (128 - u32::from(len));
        u128::from(a) & mask == u128::from(net) & mask
    }

    #[test]
    fn ipv4_prefixes_and_partial_octets() {
        let m = IpMatch::parse("85.163.0.0/16").expect("parse");
        assert!(m.matches_text("85.163.164.191"));
        assert!(!m.matches_text("85.16.1.1"));
        assert!(!m.matches_text("85.1630.1.1"));
        let m = IpMatch::parse("10.0.16.0/20").expect("parse");
        assert!(m.matches_text("10.0.31.255") && m.matches_text("10.0.16.0"));
        assert!(!m.matches_text("10.0.32.0") && !m.matches_text("10.0.15.9"));
        assert!(
            !m.matches_text("10.0.160.1"),
            "text prefix 10.0.16 is not the octet 16"
        );
        let m = IpMatch::parse(" 85.163.164.191 ").expect("parse");
        assert!(m.matches_text("85.163.164.191") && !m.matches_text("85.163.164.19"));
        for bad in [
            "85.163.164",
            "1.2.3.4/33",
            "0.0.0.0/0",
            "x",
            "1.2.3.4/a",
            "::/0",
            "2001:db8::/20",
        ] {
            assert!(IpMatch::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ipv6_canonical_forms() {
        let m = IpMatch::parse("2001:db8::/32").expect("parse");
        assert!(m.matches_text("2001:db8::1") && m.matches_text("2001:db8:1::"));
        assert!(!m.matches_text("2001:db80::1"));
        let m = IpMatch::parse("2001:DB8:0:0::/64").expect("parse");
        assert!(m.matches_text("2001:db8::1:2:3:4") && m.matches_text("2001:db8::"));
        assert!(m.matches_text("2001:db8:0:0:1::"));
        assert!(!m.matches_text("2001:db8:0:1::"), "group 3 is fixed to 0");
        assert_eq!(
            IpMatch::parse("2001:0db8::0001").expect("parse").exact,
            ["2001:db8::1"]
        );
    }

    fn arb_v6() -> impl Strategy<Value = Ipv6Addr> {
        // Groups drawn mostly from {0, 1, small, large} so `::` runs appear everywhere.
        prop::array::uniform8(prop_oneof![
            Just(0u16),
            Just(0u16),
            Just(1u16),
            0u16..16,
            any::<u16>()
        ])
        .prop_map(Ipv6Addr::from)
    }

    proptest! {
        // 4,000 cases with TTPGRAPH_SLOW=1 (`.ci/run`); 500 keep `cargo test` quick.
        #![proptest_config(ProptestConfig::with_cases(
            if std::env::var("TTPGRAPH_SLOW").is_ok_and(|v| !v.is_empty() && v != "0") { 4000 } else { 500 }
        ))]
        #[test]
        fn ipv6_ranges_equal_membership(net in arb_v6(), len in 1u8..=128, a in arb_v6(), mix in any::<u128>(), take in 0u8..=128) {
            // Half the probes share the network's first `take` bits, so matches are common.
            let probe = if take % 2 == 0 {
                let keep = if take == 0 { 0 } else { u128::MAX << (128 - u32::from(take)) };
                Ipv6Addr::from((u128::from(net) & keep) | (mix & !keep))
            } else { a };
            if let Ok(m) = IpMatch::parse(&format!("{net}/{len}")) {
                let text = canonical_v6(&probe.segments());
                prop_assert_eq!(m.matches_text(&text), in_v6(net, len, probe), "{}/{} vs {}", net, len, text);
            }
        }

        #[test]
        fn ipv4_ranges_equal_membership(net in any::<u32>(), len in 1u8..=32, mix in any::<u32>(), take in 0u8..=32) {
            let keep = if take == 0 { 0 } else { u32::MAX << (32 - u32::from(take)) };
            let probe = Ipv4Addr::from((net & keep) | (mix & !keep));
            let m = IpMatch::parse(&format!("{}/{len}", Ipv4Addr::from(net))).expect("valid");
            let mask = u32::MAX << (32 - u32::from(len));
            prop_assert_eq!(m.matches_text(&probe.to_string()), u32::from(probe) & mask == net & mask);
        }
    }
}
