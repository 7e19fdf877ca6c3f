//! Ordered, filtered lists paged both ways (Relay: `first`/`after` forward,
//! `last`/`before` backward): the page arguments, cursors bound to their list and order,
//! and the filter and order inputs of the root `attackers`, `identities` and `campaigns`.
//!
//! A cursor is opaque: the list and order it came from, the row's sort key and its uuid
//! (the tie-break). A cursor from another list or order is refused (`BAD_USER_INPUT`),
//! since its key would mean something else there.

use async_graphql::connection::{CursorType, OpaqueCursor};
use async_graphql::{Enum, ID, InputObject};
use serde::{Deserialize, Serialize};

use super::scalars::DateTime;
use super::technique::{TechniqueArgs, check_window, technique_filter};
use crate::attack::{is_sub_technique_id, is_technique_id};
use crate::config::Limits;
use crate::graphql::error::{ApiResult as Result, bad_input};
use crate::store::Timestamp;
use crate::store::ip::IpMatch;
use crate::store::keyset::{Direction, Position, Slice};
use crate::store::search::{
    AttackerFilter, AttackerOrder, CampaignFilter, CampaignOrder, IdentityFilter, IdentityOrder,
    TagMatch,
};

/// Sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Enum)]
pub enum OrderDirection {
    /// Smallest first (NULLs, e.g. never seen, first).
    Asc,
    /// Largest first (NULLs last).
    #[default]
    Desc,
}

impl From<OrderDirection> for Direction {
    fn from(d: OrderDirection) -> Self {
        match d {
            OrderDirection::Asc => Direction::Asc,
            OrderDirection::Desc => Direction::Desc,
        }
    }
}

/// The page arguments of a two-way list.
#[derive(Debug, Clone, Default)]
pub struct PageArgs {
    pub first: Option<i32>,
    pub after: Option<String>,
    pub last: Option<i32>,
    pub before: Option<String>,
}

/// A cursor: the list and order it belongs to, and a position in it.
#[derive(Serialize, Deserialize, Clone)]
struct ListCursor {
    o: String,
    p: Position,
}

/// Encodes `p` as a cursor of the list and order `tag`.
pub fn cursor(tag: &str, p: &Position) -> String {
    OpaqueCursor(ListCursor {
        o: tag.to_owned(),
        p: p.clone(),
    })
    .encode_cursor()
}

/// The position in cursor `c` (argument `arg`) of the list and order `tag`.
pub fn decode(tag: &str, arg: &str, c: &str) -> Result<Position> {
    let c = OpaqueCursor::<ListCursor>::decode_cursor(c)
        .map_err(|_| bad_input(format!("{arg} is not a cursor this API issued")))?
        .0;
    if c.o != tag {
        return Err(bad_input(format!(
            "{arg} is a cursor of another list or order ({}), not of {tag}: start again without {arg}",
            c.o
        )));
    }
    Ok(c.p)
}

/// Checks the page arguments against the limits and decodes the cursor of list `tag`:
/// `first`/`after` read forward, `last`/`before` backward; the two kinds do not mix.
pub fn slice(limits: &Limits, tag: &str, dir: Direction, a: &PageArgs) -> Result<Slice> {
    let backward = a.last.is_some() || a.before.is_some();
    if backward && (a.first.is_some() || a.after.is_some()) {
        return Err(bad_input(
            "use first/after to page forward or last/before to page backward, not both",
        ));
    }
    let (n, name, c, cname) = if backward {
        (a.last, "last", &a.before, "before")
    } else {
        (a.first, "first", &a.after, "after")
    };
    let size = match n {
        None => limits.default_page_size,
        Some(n) if n >= 1 && (n as usize) <= limits.max_page_size => n as usize,
        Some(n) => {
            return Err(bad_input(format!(
                "{name} must be between 1 and {}, got {n}",
                limits.max_page_size
            )));
        }
    };
    let cursor = c.as_deref().map(|c| decode(tag, cname, c)).transpose()?;
    Ok(Slice {
        dir,
        backward,
        cursor,
        size,
    })
}

/// The tag of a list in an order, as cursors carry it.
pub fn order_tag(list: &str, field: impl std::fmt::Debug, dir: Direction) -> String {
    format!("{list}:{field:?}:{dir:?}")
}

/// Cost of a two-way list: its page size (`first` or `last`) times one node.
pub fn two_way_cost(first: Option<i32>, last: Option<i32>, child: usize) -> usize {
    super::page::page_cost(first.or(last), child)
}

/// Which attackers to list.
#[derive(InputObject, Default)]
pub struct AttackerFilterInput {
    /// Part of the IP, or the start of the attacker uuid (case-insensitive), as DECNET's
    /// attacker list searches.
    pub search: Option<String>,
    /// An address (`85.163.164.191`, `2001:db8::1`) or a network in CIDR form
    /// (`85.163.0.0/16`, `2001:db8::/32`). Matched on DECNET's canonical text.
    pub ip: Option<String>,
    /// A service the attacker's recorded commands name (`ssh`, `telnet`, `http`).
    pub service: Option<String>,
    /// Attackers clustered into this identity.
    pub identity_id: Option<ID>,
    /// Active at or after this instant (`lastSeen >= seenSince`).
    pub seen_since: Option<DateTime>,
    /// Active before this instant (`firstSeen < seenUntil`).
    pub seen_until: Option<DateTime>,
    /// Showed any of these techniques (`T1110` matches its sub-techniques too,
    /// `T1110.003` only itself), within the seen window when one is given.
    pub technique_ids: Option<Vec<String>>,
    /// Has tags of these tactics (ids or names), within the seen window.
    pub tactics: Option<Vec<String>>,
    /// Has tags at least this confident (0..1), within the seen window.
    pub min_confidence: Option<f64>,
}

/// Which identities to list (identities merged into another are never listed).
#[derive(InputObject, Default)]
pub struct IdentityFilterInput {
    /// The start of the identity uuid, or part of one of its attackers' IPs.
    pub search: Option<String>,
    /// One of its attackers has this address or is in this CIDR network.
    pub ip: Option<String>,
    /// Identities of this campaign.
    pub campaign_id: Option<ID>,
    /// Active at or after this instant (`lastSeenAt >= seenSince`).
    pub seen_since: Option<DateTime>,
    /// Active before this instant (`firstSeenAt < seenUntil`).
    pub seen_until: Option<DateTime>,
    /// Its tags (own or its attackers') show any of these techniques.
    pub technique_ids: Option<Vec<String>>,
    /// Its tags include these tactics.
    pub tactics: Option<Vec<String>>,
    /// Its tags include one at least this confident.
    pub min_confidence: Option<f64>,
}

/// Which campaigns to list (campaigns merged into another are never listed).
#[derive(InputObject, Default)]
pub struct CampaignFilterInput {
    /// The start of the campaign uuid.
    pub search: Option<String>,
    /// The campaign of this identity.
    pub identity_id: Option<ID>,
    /// Active at or after this instant (`lastSeenAt >= seenSince`).
    pub seen_since: Option<DateTime>,
    /// Active before this instant (`firstSeenAt < seenUntil`).
    pub seen_until: Option<DateTime>,
    /// Tags of its identities show any of these techniques.
    pub technique_ids: Option<Vec<String>>,
    /// Tags of its identities include these tactics.
    pub tactics: Option<Vec<String>>,
    /// Tags of its identities include one at least this confident.
    pub min_confidence: Option<f64>,
}

/// What attackers can be ordered by. DECNET's `sort_by=recent` is `LAST_SEEN`,
/// `active` is `EVENT_COUNT`; `TAG_COUNT` counts technique tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum AttackerOrderField {
    /// Latest event (`lastSeen`).
    LastSeen,
    /// First event (`firstSeen`).
    FirstSeen,
    /// Events recorded (`eventCount`).
    EventCount,
    /// Technique tags on the IP (`tagCount`).
    TagCount,
    /// The IP's text, as DECNET stores it (`10.0.0.10` before `10.0.0.9`).
    Ip,
}

/// Order of the attacker list (ties by uuid, in the same direction).
#[derive(InputObject)]
pub struct AttackerOrderInput {
    /// What to sort by.
    pub field: AttackerOrderField,
    /// Which way (default: descending).
    #[graphql(default)]
    pub direction: OrderDirection,
}

/// What identities can be ordered by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum IdentityOrderField {
    /// Latest observation (`lastSeenAt`).
    LastSeen,
    /// First observation (`firstSeenAt`).
    FirstSeen,
    /// Events attributed (`observationCount`).
    ObservationCount,
    /// DECNET's clustering confidence.
    Confidence,
}

/// Order of the identity list (ties by uuid, in the same direction).
#[derive(InputObject)]
pub struct IdentityOrderInput {
    /// What to sort by.
    pub field: IdentityOrderField,
    /// Which way (default: descending).
    #[graphql(default)]
    pub direction: OrderDirection,
}

/// What campaigns can be ordered by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
pub enum CampaignOrderField {
    /// Latest observation (`lastSeenAt`).
    LastSeen,
    /// First observation (`firstSeenAt`).
    FirstSeen,
    /// Identities DECNET counts in it.
    IdentityCount,
    /// DECNET's linking confidence.
    Confidence,
}

/// Order of the campaign list (ties by uuid, in the same direction).
#[derive(InputObject)]
pub struct CampaignOrderInput {
    /// What to sort by.
    pub field: CampaignOrderField,
    /// Which way (default: descending).
    #[graphql(default)]
    pub direction: OrderDirection,
}

/// A search text: trimmed, non-empty, at most 100 characters.
fn search(s: Option<String>) -> Result<Option<String>> {
    let Some(s) = s else { return Ok(None) };
    let t = s.trim();
    if t.is_empty() || t.chars().count() > 100 || t.chars().any(char::is_control) {
        return Err(bad_input(
            "search must be 1 to 100 characters without control characters",
        ));
    }
    Ok(Some(t.to_owned()))
}

fn ip(s: Option<String>) -> Result<Option<IpMatch>> {
    s.map(|s| IpMatch::parse(&s).map_err(bad_input)).transpose()
}

fn time(d: Option<DateTime>) -> Option<Timestamp> {
    d.map(|d| Timestamp(d.0))
}

/// Technique ids (parent or sub-technique, any case) and the tag narrowing, within the
/// seen window.
fn tag_match(
    ids: Option<Vec<String>>,
    tactics: Option<Vec<String>>,
    min_confidence: Option<f64>,
    since: Option<DateTime>,
    until: Option<DateTime>,
) -> Result<TagMatch> {
    let mut technique_ids = Vec::new();
    for id in ids.unwrap_or_default() {
        let id = id.trim().to_ascii_uppercase();
        if !(is_technique_id(&id) || is_sub_technique_id(&id)) {
            return Err(bad_input(format!(
                "techniqueIds: {id:?} is not a technique id like T1110 or T1110.003"
            )));
        }
        technique_ids.push(id);
    }
    let mut filter = technique_filter(TechniqueArgs {
        min_confidence,
        tactics,
        since,
        until,
    })?;
    // The window alone narrows the node's own columns; it narrows tags only together
    // with a condition on them.
    if technique_ids.is_empty() && filter.min_confidence.is_none() && filter.tactics.is_empty() {
        filter.since = None;
        filter.until = None;
    }
    Ok(TagMatch {
        technique_ids,
        filter,
    })
}

impl AttackerFilterInput {
    pub fn into_store(self) -> Result<AttackerFilter> {
        check_window(self.seen_since, self.seen_until)?;
        let service = match self.service.map(|s| s.trim().to_owned()) {
            Some(s)
                if s.is_empty()
                    || s.len() > 64
                    || !s
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) =>
            {
                return Err(bad_input(
                    "service must be a service name like ssh or telnet (letters, digits, - _ .)",
                ));
            }
            s => s,
        };
        Ok(AttackerFilter {
            search: search(self.search)?,
            ip: ip(self.ip)?,
            service,
            identity_id: self.identity_id.map(|i| i.0),
            seen_since: time(self.seen_since),
            seen_until: time(self.seen_until),
            tags: tag_match(
                self.technique_ids,
                self.tactics,
                self.min_confidence,
                self.seen_since,
                self.seen_until,
            )?,
        })
    }
}

impl IdentityFilterInput {
    pub fn into_store(self) -> Result<IdentityFilter> {
        check_window(self.seen_since, self.seen_until)?;
        Ok(IdentityFilter {
            search: search(self.search)?,
            ip: ip(self.ip)?,
            campaign_id: self.campaign_id.map(|i| i.0),
            seen_since: time(self.seen_since),
            seen_until: time(self.seen_until),
            tags: tag_match(
                self.technique_ids,
                self.tactics,
                self.min_confidence,
                self.seen_since,
                self.seen_until,
            )?,
        })
    }
}

impl CampaignFilterInput {
    pub fn into_store(self) -> Result<CampaignFilter> {
        check_window(self.seen_since, self.seen_until)?;
        Ok(CampaignFilter {
            search: search(self.search)?,
            identity_id: self.identity_id.map(|i| i.0),
            seen_since: time(self.seen_since),
            seen_until: time(self.seen_until),
            tags: tag_match(
                self.technique_ids,
                self.tactics,
                self.min_confidence,
                self.seen_since,
                self.seen_until,
            )?,
        })
    }
}

/// The store order and direction of an attacker `orderBy` (uuid ascending without one).
pub fn attacker_order(o: Option<AttackerOrderInput>) -> (AttackerOrder, Direction) {
    match o {
        None => (AttackerOrder::Id, Direction::Asc),
        Some(o) => (
            match o.field {
                AttackerOrderField::LastSeen => AttackerOrder::LastSeen,
                AttackerOrderField::FirstSeen => AttackerOrder::FirstSeen,
                AttackerOrderField::EventCount => AttackerOrder::EventCount,
                AttackerOrderField::TagCount => AttackerOrder::TagCount,
                AttackerOrderField::Ip => AttackerOrder::Ip,
            },
            o.direction.into(),
        ),
    }
}

/// The store order and direction of an identity `orderBy` (uuid ascending without one).
pub fn identity_order(o: Option<IdentityOrderInput>) -> (IdentityOrder, Direction) {
    match o {
        None => (IdentityOrder::Id, Direction::Asc),
        Some(o) => (
            match o.field {
                IdentityOrderField::LastSeen => IdentityOrder::LastSeen,
                IdentityOrderField::FirstSeen => IdentityOrder::FirstSeen,
                IdentityOrderField::ObservationCount => IdentityOrder::ObservationCount,
                IdentityOrderField::Confidence => IdentityOrder::Confidence,
            },
            o.direction.into(),
        ),
    }
}

/// The store order and direction of a campaign `orderBy` (uuid ascending without one).
pub fn campaign_order(o: Option<CampaignOrderInput>) -> (CampaignOrder, Direction) {
    match o {
        None => (CampaignOrder::Id, Direction::Asc),
        Some(o) => (
            match o.field {
                CampaignOrderField::LastSeen => CampaignOrder::LastSeen,
                CampaignOrderField::FirstSeen => CampaignOrder::FirstSeen,
                CampaignOrderField::IdentityCount => CampaignOrder::IdentityCount,
                CampaignOrderField::Confidence => CampaignOrder::Confidence,
            },
            o.direction.into(),
        ),
    }
}

/// A connection from a two-way page, each row's cursor bound to list `tag`.
pub fn connection<T, C: super::page::Connection>(
    page: crate::store::keyset::Page<T>,
    tag: &str,
    node: impl Fn(T) -> C::Node,
    total: super::total::Total,
) -> C {
    let items = page
        .rows
        .into_iter()
        .map(|(p, row)| (cursor(tag, &p), node(row)))
        .collect();
    C::from_page(page.has_previous, page.has_next, items, total)
}
