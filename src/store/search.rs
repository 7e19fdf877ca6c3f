//! Filtered, ordered lists of DECNET's attackers, identities and campaigns (what a
//! frontend's list views ask: search, IP or CIDR, service, a time window, techniques
//! shown), paged both ways by [`super::keyset`] and counted with the same conditions.
//!
//! Conditions on the tags are correlated `EXISTS` probes through the scope indexes
//! (`attacker_uuid`, `identity_uuid` …, each leading with the scope column), so a list
//! never scans `ttp_tag`. Orders read DECNET's own columns, each served by a
//! `(column, uuid)` index (migration 0009); `TAG_COUNT` sums the attacker's summary rows.

use super::Store;
use super::arg::{Arg, placeholders};
use super::codec::Timestamp;
use super::columns::Table;
use super::error::{Result, StoreError};
use super::ip::IpMatch;
use super::keyset::{self, KeyKind, Listing, Page, PagedRow, Slice};
use super::models::{Attacker, Campaign, Identity};
use super::rollup::TechniqueFilter;

/// Tags a listed node must show (any of `technique_ids`, under the filter's confidence,
/// tactics and window); empty means no condition.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TagMatch {
    /// Parent ids (`T1110`, matching its sub-techniques too) or full sub-technique ids.
    pub technique_ids: Vec<String>,
    pub filter: TechniqueFilter,
}

impl TagMatch {
    pub fn is_empty(&self) -> bool {
        self.technique_ids.is_empty() && self.filter.is_empty()
    }

    /// `AND …` conditions on the tags alias `t`. The technique ids become a range on
    /// `technique_id` (the parents of sub-techniques included), so a planner that turns
    /// the probe into a semi-join reads the technique's tags through the pivot index;
    /// the unary `+` keeps SQLite's correlated probes on the scope column instead (MySQL
    /// ignores it).
    fn sql(&self, args: &mut Vec<Arg>) -> String {
        let (subs, parents): (Vec<&String>, Vec<&String>) =
            self.technique_ids.iter().partition(|id| id.contains('.'));
        let mut s = String::new();
        if !self.technique_ids.is_empty() {
            let mut range: Vec<String> = parents.iter().map(|p| p.to_string()).collect();
            for sub in &subs {
                let parent = sub.split('.').next().unwrap_or(sub).to_owned();
                if !range.contains(&parent) {
                    range.push(parent);
                }
            }
            s.push_str(&format!(
                " AND +t.technique_id IN ({})",
                placeholders(range.len())
            ));
            args.extend(range.into_iter().map(Arg::Str));
            if !subs.is_empty() {
                let mut terms = Vec::new();
                if !parents.is_empty() {
                    terms.push(format!(
                        "+t.technique_id IN ({})",
                        placeholders(parents.len())
                    ));
                    args.extend(parents.into_iter().cloned().map(Arg::Str));
                }
                terms.push(format!(
                    "+t.sub_technique_id IN ({})",
                    placeholders(subs.len())
                ));
                args.extend(subs.into_iter().cloned().map(Arg::Str));
                s.push_str(&format!(" AND ({})", terms.join(" OR ")));
            }
        }
        s.push_str(&self.filter.sql(args));
        s
    }
}

/// Which attackers a list holds; every field narrows (all must hold).
#[derive(Debug, Clone, Default)]
pub struct AttackerFilter {
    /// Part of the IP, or the start of the uuid (case-insensitive).
    pub search: Option<String>,
    pub ip: Option<IpMatch>,
    /// A service the attacker's recorded commands name (`ssh`, `telnet`, …).
    pub service: Option<String>,
    pub identity_id: Option<String>,
    /// Active in the window: `last_seen >= since`, `first_seen < until`.
    pub seen_since: Option<Timestamp>,
    pub seen_until: Option<Timestamp>,
    pub tags: TagMatch,
}

/// Which identities a list holds (merged ones are left out, as in DECNET's lists).
#[derive(Debug, Clone, Default)]
pub struct IdentityFilter {
    /// The start of the uuid, or part of one of its attackers' IPs.
    pub search: Option<String>,
    /// One of its attackers has this IP or is in this network.
    pub ip: Option<IpMatch>,
    pub campaign_id: Option<String>,
    pub seen_since: Option<Timestamp>,
    pub seen_until: Option<Timestamp>,
    pub tags: TagMatch,
}

/// Which campaigns a list holds (merged ones are left out).
#[derive(Debug, Clone, Default)]
pub struct CampaignFilter {
    /// The start of the uuid.
    pub search: Option<String>,
    /// The campaign of this identity.
    pub identity_id: Option<String>,
    pub seen_since: Option<Timestamp>,
    pub seen_until: Option<Timestamp>,
    pub tags: TagMatch,
}

/// Orders of the attacker list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AttackerOrder {
    Id,
    LastSeen,
    FirstSeen,
    EventCount,
    TagCount,
    /// The IP's text (DECNET stores text: `10.0.0.10` sorts before `10.0.0.9`).
    Ip,
}

/// Orders of the identity list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdentityOrder {
    Id,
    LastSeen,
    FirstSeen,
    ObservationCount,
    Confidence,
}

/// Orders of the campaign list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CampaignOrder {
    Id,
    LastSeen,
    FirstSeen,
    IdentityCount,
    Confidence,
}

/// `LIKE` pattern for "contains `s`" with `!` as the escape character.
fn contains_pattern(s: &str) -> String {
    let mut p = String::from("%");
    for c in s.to_lowercase().chars() {
        if matches!(c, '!' | '%' | '_') {
            p.push('!');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// `col` starts with `prefix` (lowercased), as an index range.
fn starts_with(col: &str, prefix: &str, args: &mut Vec<Arg>) -> String {
    let p = prefix.to_lowercase();
    args.push(Arg::Str(p.clone()));
    args.push(Arg::Str(format!("{p}\u{7f}")));
    format!("({col} >= ? AND {col} < ?)")
}

/// `activity window`: last seen at or after `since`, first seen before `until`.
fn window(
    first: &str,
    last: &str,
    since: Option<Timestamp>,
    until: Option<Timestamp>,
    w: &mut Vec<String>,
    args: &mut Vec<Arg>,
) {
    if let Some(s) = since {
        w.push(format!("{last} >= ?"));
        args.push(Arg::Time(s));
    }
    if let Some(u) = until {
        w.push(format!("{first} < ?"));
        args.push(Arg::Time(u));
    }
}

/// `T`'s columns on alias `a`.
fn qualified<T: Table>(alias: &str) -> String {
    T::COLUMNS
        .split(',')
        .map(|c| format!("{alias}.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn listing(
    columns: String,
    table: &str,
    w: Vec<String>,
    args: Vec<Arg>,
    key: &str,
    kind: KeyKind,
    id: &str,
) -> Listing {
    let cond = if w.is_empty() {
        "1 = 1".to_owned()
    } else {
        w.join(" AND ")
    };
    Listing {
        columns,
        from_where: format!("{table} WHERE {cond}"),
        args,
        key: key.to_owned(),
        kind,
        id: id.to_owned(),
    }
}

fn attackers_listing(f: &AttackerFilter, order: AttackerOrder) -> Listing {
    let (mut w, mut args) = (Vec::new(), Vec::new());
    if let Some(s) = &f.search {
        args.push(Arg::Str(contains_pattern(s)));
        let uuid = starts_with("a.uuid", s, &mut args);
        w.push(format!("(LOWER(a.ip) LIKE ? ESCAPE '!' OR {uuid})"));
    }
    if let Some(ip) = &f.ip {
        w.push(ip.sql("a.ip", &mut args));
    }
    if let Some(svc) = &f.service {
        // Python's json.dumps writes `"service": "ssh"`; compact JSON has no space.
        w.push("(a.commands LIKE ? ESCAPE '!' OR a.commands LIKE ? ESCAPE '!')".into());
        let svc = contains_pattern(svc);
        let inner = &svc[1..svc.len() - 1];
        args.push(Arg::Str(format!("%\"service\": \"{inner}\"%")));
        args.push(Arg::Str(format!("%\"service\":\"{inner}\"%")));
    }
    if let Some(id) = &f.identity_id {
        w.push("a.identity_id = ?".into());
        args.push(Arg::Str(id.clone()));
    }
    window(
        "a.first_seen",
        "a.last_seen",
        f.seen_since,
        f.seen_until,
        &mut w,
        &mut args,
    );
    if !f.tags.is_empty() {
        let c = f.tags.sql(&mut args);
        w.push(format!(
            "EXISTS (SELECT 1 FROM ttp_tag t WHERE t.attacker_uuid = a.uuid{c})"
        ));
    }
    let (key, kind) = match order {
        AttackerOrder::Id => ("a.uuid", KeyKind::Text),
        AttackerOrder::LastSeen => ("a.last_seen", KeyKind::Time),
        AttackerOrder::FirstSeen => ("a.first_seen", KeyKind::Time),
        AttackerOrder::EventCount => ("a.event_count", KeyKind::Int),
        AttackerOrder::Ip => ("a.ip", KeyKind::Text),
        AttackerOrder::TagCount => (
            "(SELECT COALESCE(CAST(SUM(r.tag_count) AS SIGNED), 0) FROM ttp_attacker_rollup r WHERE r.attacker_uuid = a.uuid)",
            KeyKind::Int,
        ),
    };
    listing(
        qualified::<Attacker>("a"),
        "attackers a",
        w,
        args,
        key,
        kind,
        "a.uuid",
    )
}

fn identities_listing(f: &IdentityFilter, order: IdentityOrder) -> Listing {
    let (mut w, mut args) = (vec!["i.merged_into_uuid IS NULL".to_owned()], Vec::new());
    if let Some(s) = &f.search {
        let uuid = starts_with("i.uuid", s, &mut args);
        args.push(Arg::Str(contains_pattern(s)));
        w.push(format!(
            "({uuid} OR EXISTS (SELECT 1 FROM attackers a WHERE a.identity_id = i.uuid AND LOWER(a.ip) LIKE ? ESCAPE '!'))"
        ));
    }
    if let Some(ip) = &f.ip {
        let c = ip.sql("a.ip", &mut args);
        w.push(format!(
            "EXISTS (SELECT 1 FROM attackers a WHERE a.identity_id = i.uuid AND {c})"
        ));
    }
    if let Some(id) = &f.campaign_id {
        w.push("i.campaign_id = ?".into());
        args.push(Arg::Str(id.clone()));
    }
    window(
        "i.first_seen_at",
        "i.last_seen_at",
        f.seen_since,
        f.seen_until,
        &mut w,
        &mut args,
    );
    if !f.tags.is_empty() {
        let own = f.tags.sql(&mut args);
        let via = f.tags.sql(&mut args);
        w.push(format!(
            r"(EXISTS (SELECT 1 FROM ttp_tag t WHERE t.identity_uuid = i.uuid{own})
               OR EXISTS (SELECT 1 FROM attackers a CROSS JOIN ttp_tag t ON t.attacker_uuid = a.uuid
                          WHERE a.identity_id = i.uuid{via}))"
        ));
    }
    let (key, kind) = match order {
        IdentityOrder::Id => ("i.uuid", KeyKind::Text),
        IdentityOrder::LastSeen => ("i.last_seen_at", KeyKind::Time),
        IdentityOrder::FirstSeen => ("i.first_seen_at", KeyKind::Time),
        IdentityOrder::ObservationCount => ("i.observation_count", KeyKind::Int),
        IdentityOrder::Confidence => ("i.confidence", KeyKind::Float),
    };
    listing(
        qualified::<Identity>("i"),
        "attacker_identities i",
        w,
        args,
        key,
        kind,
        "i.uuid",
    )
}

fn campaigns_listing(f: &CampaignFilter, order: CampaignOrder) -> Listing {
    let (mut w, mut args) = (vec!["c.merged_into_uuid IS NULL".to_owned()], Vec::new());
    if let Some(s) = &f.search {
        w.push(starts_with("c.uuid", s, &mut args));
    }
    if let Some(id) = &f.identity_id {
        w.push(
            "c.uuid IN (SELECT i.campaign_id FROM attacker_identities i WHERE i.uuid = ?)".into(),
        );
        args.push(Arg::Str(id.clone()));
    }
    window(
        "c.first_seen_at",
        "c.last_seen_at",
        f.seen_since,
        f.seen_until,
        &mut w,
        &mut args,
    );
    if !f.tags.is_empty() {
        let c = f.tags.sql(&mut args);
        w.push(format!(
            r"EXISTS (SELECT 1 FROM attacker_identities i CROSS JOIN ttp_tag t ON t.identity_uuid = i.uuid
                      WHERE i.campaign_id = c.uuid{c})"
        ));
    }
    let (key, kind) = match order {
        CampaignOrder::Id => ("c.uuid", KeyKind::Text),
        CampaignOrder::LastSeen => ("c.last_seen_at", KeyKind::Time),
        CampaignOrder::FirstSeen => ("c.first_seen_at", KeyKind::Time),
        CampaignOrder::IdentityCount => ("c.identity_count", KeyKind::Int),
        CampaignOrder::Confidence => ("c.confidence", KeyKind::Float),
    };
    listing(
        qualified::<Campaign>("c"),
        "campaigns c",
        w,
        args,
        key,
        kind,
        "c.uuid",
    )
}

fn bad_cursor() -> StoreError {
    StoreError::InvalidArgument("the cursor does not fit this order".into())
}

impl Store {
    /// One page of a listing, in one statement.
    async fn list_page<T: Send + Unpin + 'static>(&self, l: Listing, s: &Slice) -> Result<Page<T>>
    where
        PagedRow<T>: super::AnyRow,
    {
        keyset::check(s, l.kind).map_err(|_| bad_cursor())?;
        let lists = [(l, s.clone())];
        let (sql, args) = keyset::pages_sql(&lists);
        let rows = self.fetch_all::<PagedRow<T>>(sql, args).await?;
        Ok(keyset::split_pages(&lists, rows).pop().unwrap_or(Page {
            rows: vec![],
            has_previous: false,
            has_next: false,
        }))
    }

    async fn list_count(&self, l: &Listing) -> Result<i64> {
        let (sql, args) = keyset::counts_sql(&[l]);
        let rows = self.fetch_all::<keyset::CountRow>(sql, args).await?;
        Ok(rows.first().map_or(0, |r| r.n))
    }

    /// A page of attackers matching `f`, in `order`.
    pub async fn search_attackers(
        &self,
        f: &AttackerFilter,
        order: AttackerOrder,
        s: &Slice,
    ) -> Result<Page<Attacker>> {
        self.list_page(attackers_listing(f, order), s).await
    }

    /// How many attackers match `f`.
    pub async fn count_attackers(&self, f: &AttackerFilter) -> Result<i64> {
        self.list_count(&attackers_listing(f, AttackerOrder::Id))
            .await
    }

    /// A page of (unmerged) identities matching `f`, in `order`.
    pub async fn search_identities(
        &self,
        f: &IdentityFilter,
        order: IdentityOrder,
        s: &Slice,
    ) -> Result<Page<Identity>> {
        self.list_page(identities_listing(f, order), s).await
    }

    /// How many (unmerged) identities match `f`.
    pub async fn count_identities(&self, f: &IdentityFilter) -> Result<i64> {
        self.list_count(&identities_listing(f, IdentityOrder::Id))
            .await
    }

    /// A page of (unmerged) campaigns matching `f`, in `order`.
    pub async fn search_campaigns(
        &self,
        f: &CampaignFilter,
        order: CampaignOrder,
        s: &Slice,
    ) -> Result<Page<Campaign>> {
        self.list_page(campaigns_listing(f, order), s).await
    }

    /// How many (unmerged) campaigns match `f`.
    pub async fn count_campaigns(&self, f: &CampaignFilter) -> Result<i64> {
        self.list_count(&campaigns_listing(f, CampaignOrder::Id))
            .await
    }
}

#[derive(sqlx::FromRow)]
struct TagCount {
    k: String,
    n: i64,
}

impl Store {
    /// Tags of each attacker (from its summary rows), in one statement; 0 for none.
    pub async fn attacker_tag_counts(
        &self,
        ids: &[String],
    ) -> Result<std::collections::HashMap<String, i64>> {
        let mut out: std::collections::HashMap<String, i64> =
            ids.iter().map(|i| (i.clone(), 0)).collect();
        if ids.is_empty() {
            return Ok(out);
        }
        let sql = format!(
            r"SELECT r.attacker_uuid AS k, CAST(SUM(r.tag_count) AS SIGNED) AS n
              FROM ttp_attacker_rollup r WHERE r.attacker_uuid IN ({})
              GROUP BY r.attacker_uuid",
            placeholders(ids.len())
        );
        let args = ids.iter().cloned().map(Arg::Str).collect();
        for r in self.fetch_all::<TagCount>(sql, args).await? {
            out.insert(r.k, r.n);
        }
        Ok(out)
    }
}
