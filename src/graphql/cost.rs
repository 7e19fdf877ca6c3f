//! The cost model behind `--max-complexity`, calibrated on the work a query causes (rows
//! loaded, bytes produced) rather than on its field count:
//!
//! - every field costs 1 (about one value in the response);
//! - every row a list may load costs [`ROW`] more, times the cost of its selection;
//! - a list's row count is its page size (`first`, `limit`) where the caller chooses it,
//!   otherwise a documented estimate of what one scope loads ([`SCOPE_ROWS`], …);
//! - fields that load a scope's raw tags in one go (the kill chain) or carry large values
//!   (evidence, up to 64 KiB) carry their own weight.
//!
//! So `inspect(limit: 1000)` with every column costs about 40,000, a page of 100
//! attackers with their techniques about 30,000 (with their identity's and campaign's
//! techniques too, about 85,000), and the default limit (200,000) admits the API's
//! largest single reads while refusing aliased fan-outs of them: 16 aliases of
//! `identities(first: 100) { nodes { killChain { observations { … } } } }` cost about
//! 3.9 million.

/// What one loaded row costs on top of its fields.
pub const ROW: usize = 10;
/// Rows one scope's rollup or relation list is costed at when the caller gives no size:
/// distinct techniques of an identity, attackers of an identity, identities of a campaign.
pub const SCOPE_ROWS: usize = 20;
/// Rows of the fleet-wide rollup (one per technique group seen anywhere).
pub const FLEET_ROWS: usize = 100;
/// Tags the kill chain of one identity is costed at: it loads every decky-tagged tag of
/// the identity to compute first/last phases, whatever part of it is selected.
pub const KILL_CHAIN_ROWS: usize = 100;
/// Groups a group list is costed at (MITRE lists 187; a technique's users are far fewer,
/// but the bound is what matters).
pub const GROUP_ROWS: usize = 200;
/// Techniques one group's list is costed at (the largest groups list about 100).
pub const GROUP_TECHNIQUE_ROWS: usize = 100;
/// A STIX bundle or MISP event of one scope: its rollup plus up to 2,000 tags read for
/// sightings (an attacker's), each becoming an object of the document.
pub const EXPORT_COST: usize = (2000 + SCOPE_ROWS) * (ROW + 1) + 1;
/// `totalCount`: one statement that reads every key of the filtered list (its size is
/// not known before), weighted like ten rows.
pub const TOTAL_COUNT: usize = 10 * ROW;
/// A `node(id)` look-up: up to seven keyed reads (three tables, then the tags).
pub const NODE_LOOKUP: usize = 7;
/// Extra weight of a field whose value may be large (a tag's evidence).
pub const LARGE_VALUE: usize = ROW;

/// Cost of a list of at most `rows` rows whose selection costs `child` per row.
pub fn rows(rows: usize, child: usize) -> usize {
    rows.saturating_mul(ROW.saturating_add(child))
        .saturating_add(1)
}

/// Cost of a caller-sized list: `size` (a `first:` or `limit:` argument, clamped to
/// `1..=max`) or `default` rows.
pub fn sized(size: Option<i32>, default: usize, max: usize, child: usize) -> usize {
    let n = size.map_or(default, |n| (n.max(1) as usize).min(max));
    rows(n, child)
}
