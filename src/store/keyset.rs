//! Keyset pages in any order, both ways. A list is a [`Listing`]: a `FROM … WHERE …`,
//! a sort key expression and a unique id (the tie-break). A position in it is the sort
//! key's value and the id ([`Position`]); a page is the rows strictly after a position
//! in the list's order (forward) or strictly before it (backward, read in the reversed
//! order and turned around), so it stays correct under inserts and for every order.
//!
//! NULL sort keys sort lowest on both dialects (first ascending, last descending); the
//! conditions below follow that rule, so nullable columns page correctly.
//!
//! One statement answers a page and, when it starts at a cursor, whether any row lies on
//! the cursor's other side (a `LIMIT 1` probe, `side = 1`): `hasPreviousPage` forward and
//! `hasNextPage` backward are exact without a second round trip. Several lists (one per
//! DataLoader key) go in one statement as numbered branches.

use serde::{Deserialize, Serialize};
use sqlx::FromRow;

use super::arg::Arg;
use super::codec::{Confidence, Timestamp};

/// Sort direction of a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Direction {
    Asc,
    Desc,
}

impl Direction {
    fn sql(self) -> &'static str {
        match self {
            Direction::Asc => "ASC",
            Direction::Desc => "DESC",
        }
    }
    pub fn reversed(self) -> Self {
        match self {
            Direction::Asc => Direction::Desc,
            Direction::Desc => Direction::Asc,
        }
    }
}

/// The SQL type of a sort key, so its value can be read back for cursors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    Time,
    Int,
    Float,
    Text,
}

/// A sort key's value at a position (floats as their bits, so positions are hashable).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SortValue {
    Null,
    Int(i64),
    Float(u64),
    /// Microseconds since the Unix epoch.
    Time(i64),
    Text(String),
}

impl SortValue {
    fn arg(&self) -> Option<Arg> {
        Some(match self {
            SortValue::Null => return None,
            SortValue::Int(v) => Arg::Int(*v),
            SortValue::Float(b) => Arg::Conf(Confidence(f64::from_bits(*b))),
            SortValue::Time(us) => {
                Arg::Time(Timestamp(chrono::DateTime::from_timestamp_micros(*us)?))
            }
            SortValue::Text(s) => Arg::Str(s.clone()),
        })
    }

    /// Whether this value can be a key of `kind` (cursors are client input).
    fn fits(&self, kind: KeyKind) -> bool {
        match self {
            SortValue::Null => true,
            SortValue::Int(_) => kind == KeyKind::Int,
            SortValue::Float(b) => kind == KeyKind::Float && f64::from_bits(*b).is_finite(),
            SortValue::Time(us) => {
                kind == KeyKind::Time && chrono::DateTime::from_timestamp_micros(*us).is_some()
            }
            SortValue::Text(_) => kind == KeyKind::Text,
        }
    }
}

/// A row's place in a list: its sort key and id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Position {
    pub key: SortValue,
    pub id: String,
}

/// Which page of an ordered list to read.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Slice {
    /// The list's order.
    pub dir: Direction,
    /// `last`/`before`: the rows just before `cursor` (or the list's end).
    pub backward: bool,
    /// `after` (forward) or `before` (backward).
    pub cursor: Option<Position>,
    /// Rows wanted; one more is read to tell whether more exist.
    pub size: usize,
}

/// A page read by [`Slice`], in the list's order.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub rows: Vec<(Position, T)>,
    /// Rows exist before the first row of this page.
    pub has_previous: bool,
    /// Rows exist after the last row of this page.
    pub has_next: bool,
}

/// Columns every page row carries besides its own: the sort key under the alias of its
/// kind (the others NULL) and the id.
#[derive(FromRow)]
pub(super) struct SortCols {
    sort_time: Option<Timestamp>,
    sort_int: Option<i64>,
    sort_float: Option<Confidence>,
    sort_text: Option<String>,
    sort_id: String,
}

impl SortCols {
    fn position(self, kind: KeyKind) -> Position {
        let key = match kind {
            KeyKind::Time => self
                .sort_time
                .map(|t| SortValue::Time(t.0.timestamp_micros())),
            KeyKind::Int => self.sort_int.map(SortValue::Int),
            KeyKind::Float => self.sort_float.map(|c| SortValue::Float(c.0.to_bits())),
            KeyKind::Text => self.sort_text.map(SortValue::Text),
        };
        Position {
            key: key.unwrap_or(SortValue::Null),
            id: self.sort_id,
        }
    }
}

/// One row of a paged statement: branch, side (0 page, 1 probe), sort columns, the row.
#[derive(FromRow)]
pub(super) struct PagedRow<T> {
    b: i64,
    side: i64,
    #[sqlx(flatten)]
    sort: SortCols,
    #[sqlx(flatten)]
    row: T,
}

/// A list to page through.
#[derive(Debug, Clone)]
pub(super) struct Listing {
    /// `SELECT` list of a row (its own columns).
    pub columns: String,
    /// `FROM … WHERE …`: further conditions are appended with `AND`.
    pub from_where: String,
    /// Arguments of `columns` then `from_where`, in order.
    pub args: Vec<Arg>,
    /// The sort key expression and its type.
    pub key: String,
    pub kind: KeyKind,
    /// The unique tie-break expression.
    pub id: String,
}

/// An invalid position (a cursor whose value does not fit the order's key).
#[derive(Debug)]
pub struct BadPosition;

impl Listing {
    /// `{key}, {id}` as the sort columns, the kind's alias holding the key.
    fn sort_select(&self) -> String {
        let pick = |k: KeyKind, alias: &str| {
            if k == self.kind {
                format!("{} AS {alias}", self.key)
            } else {
                format!("NULL AS {alias}")
            }
        };
        format!(
            "{}, {}, {}, {}, {} AS sort_id",
            pick(KeyKind::Time, "sort_time"),
            pick(KeyKind::Int, "sort_int"),
            pick(KeyKind::Float, "sort_float"),
            pick(KeyKind::Text, "sort_text"),
            self.id
        )
    }

    /// Rows strictly after `p` in direction `d`. Where it can, the condition starts with a
    /// range on the key, which a planner seeks to; a bare `OR` of key comparisons made it
    /// walk the index from the list's start to the cursor.
    fn after(&self, p: &Position, d: Direction, args: &mut Vec<Arg>) -> String {
        let (k, id) = (&self.key, &self.id);
        let (cmp, id_cmp) = match d {
            Direction::Asc => (">", ">"),
            Direction::Desc => ("<", "<"),
        };
        // Ordered by the id itself (the lists' default): never NULL, one comparison.
        if k == id {
            args.push(Arg::Str(p.id.clone()));
            return format!("{id} {cmp} ?");
        }
        match (p.key.arg(), d) {
            (None, Direction::Asc) => {
                args.push(Arg::Str(p.id.clone()));
                format!("(({k} IS NULL AND {id} {id_cmp} ?) OR {k} IS NOT NULL)")
            }
            (None, Direction::Desc) => {
                args.push(Arg::Str(p.id.clone()));
                format!("({k} IS NULL AND {id} {id_cmp} ?)")
            }
            // NULL keys sort lowest: never after a key ascending.
            (Some(v), Direction::Asc) => {
                args.extend([v.clone(), v, Arg::Str(p.id.clone())]);
                format!("{k} >= ? AND ({k} > ? OR {id} > ?)")
            }
            (Some(v), Direction::Desc) => {
                args.extend([v.clone(), v, Arg::Str(p.id.clone())]);
                format!("({k} < ? OR ({k} = ? AND {id} < ?) OR {k} IS NULL)")
            }
        }
    }

    /// Probes that together select the rows at or before `p` (the cursor's row and the
    /// other side of a page read in direction `d`). Each is a range on the key (or an
    /// `IS NULL` test) so that, read in the reversed order with `LIMIT 1`, the probe stops
    /// at the first row next to the cursor: one condition with `OR`s across NULLs and the
    /// cursor row made planners scan the whole list (9 ms for DECNET's 30,000 attackers on
    /// every page).
    fn other_side(&self, p: &Position, d: Direction) -> Vec<Part> {
        let (k, id) = (&self.key, &self.id);
        let pid = || Arg::Str(p.id.clone());
        let probe = |cond: String, args: Vec<Arg>| Part::probe(d, cond, args, true);
        // Where the key is pinned to NULL, ordering by it too made SQLite walk the whole
        // index in the key's order to reach the NULLs at its end: order by the id alone.
        let nulls = |cond: String, args: Vec<Arg>| Part::probe(d, cond, args, false);
        if k == id {
            let cmp = if d == Direction::Asc { "<=" } else { ">=" };
            return vec![probe(format!("{id} {cmp} ?"), vec![pid()])];
        }
        match (p.key.arg(), d) {
            // NULL keys sort lowest: a NULL cursor read ascending has only NULLs before it.
            (None, Direction::Asc) => {
                vec![nulls(format!("{k} IS NULL AND {id} <= ?"), vec![pid()])]
            }
            (None, Direction::Desc) => vec![
                nulls(format!("{k} IS NULL AND {id} >= ?"), vec![pid()]),
                probe(format!("{k} IS NOT NULL"), vec![]),
            ],
            (Some(v), Direction::Asc) => vec![
                probe(
                    format!("{k} <= ? AND ({k} < ? OR {id} <= ?)"),
                    vec![v.clone(), v, pid()],
                ),
                nulls(format!("{k} IS NULL"), vec![]),
            ],
            (Some(v), Direction::Desc) => vec![probe(
                format!("{k} >= ? AND ({k} > ? OR {id} >= ?)"),
                vec![v.clone(), v, pid()],
            )],
        }
    }

    /// The `SELECT`s of branch `b`: its page (side 0) and, from a cursor, the probes of
    /// the cursor's other side (side 1, one row each at most).
    fn parts(&self, b: usize, s: &Slice, numbered: bool, args: &mut Vec<Arg>) -> Vec<String> {
        let d = if s.backward { s.dir.reversed() } else { s.dir };
        let mut page = Part {
            side: 0,
            dir: d,
            cond: String::new(),
            args: Vec::new(),
            limit: s.size as i64 + 1,
            by_key: true,
        };
        let mut parts = Vec::new();
        if let Some(p) = &s.cursor {
            page.cond = self.after(p, d, &mut page.args);
            parts.push(page);
            parts.extend(self.other_side(p, d));
        } else {
            parts.push(page);
        }
        parts
            .into_iter()
            .enumerate()
            .map(|(i, part)| self.select(b, i, part, numbered, args))
            .collect()
    }

    /// Part `i` of branch `b` as a `SELECT`.
    fn select(
        &self,
        b: usize,
        i: usize,
        part: Part,
        numbered: bool,
        args: &mut Vec<Arg>,
    ) -> String {
        args.extend(self.args.iter().cloned());
        args.extend(part.args);
        args.push(Arg::Int(part.limit));
        let d = part.dir.sql();
        let order = if part.by_key {
            format!("{} {d}, {} {d}", self.key, self.id)
        } else {
            format!("{} {d}", self.id)
        };
        let rn = if numbered {
            format!("ROW_NUMBER() OVER (ORDER BY {order})")
        } else {
            "0".to_owned()
        };
        let cond = if part.cond.is_empty() {
            String::new()
        } else {
            format!(" AND {}", part.cond)
        };
        format!(
            "SELECT * FROM (SELECT {b} AS b, {side} AS side, {rn} AS rn, {sort}, {cols} FROM {fw}{cond} ORDER BY {order} LIMIT ?) p{b}_{i}",
            side = part.side,
            sort = self.sort_select(),
            cols = self.columns,
            fw = self.from_where,
        )
    }

    /// `COUNT(*)` of the whole list, as branch `b`.
    fn count_part(&self, b: usize, args: &mut Vec<Arg>) -> String {
        args.extend(self.args.iter().cloned());
        format!(
            "SELECT * FROM (SELECT {b} AS b, COUNT(*) AS n FROM {}) c{b}",
            self.from_where
        )
    }
}

/// One `SELECT` of a paged statement: the page (side 0) or a probe of the cursor's other
/// side (side 1), its extra condition and arguments, read in `dir`.
struct Part {
    side: i32,
    dir: Direction,
    cond: String,
    args: Vec<Arg>,
    limit: i64,
    /// Ordered by the key, then the id; by the id alone where the key is pinned to NULL.
    by_key: bool,
}

impl Part {
    /// A probe of the other side of a page read in `page_dir`: read the other way, one row.
    fn probe(page_dir: Direction, cond: String, args: Vec<Arg>, by_key: bool) -> Self {
        Part {
            side: 1,
            dir: page_dir.reversed(),
            cond,
            args,
            limit: 1,
            by_key,
        }
    }
}

/// Checks a client's position against the list's key type.
pub(super) fn check(s: &Slice, kind: KeyKind) -> Result<(), BadPosition> {
    match &s.cursor {
        Some(p) if !p.key.fits(kind) => Err(BadPosition),
        _ => Ok(()),
    }
}

/// The statement for one page per list, with its arguments. One list is ordered by its
/// own key; several are numbered per branch (window functions) and ordered by branch.
pub(super) fn pages_sql(lists: &[(Listing, Slice)]) -> (String, Vec<Arg>) {
    let numbered = lists.len() > 1;
    let mut args = Vec::new();
    let mut parts = Vec::new();
    for (b, (l, s)) in lists.iter().enumerate() {
        parts.extend(l.parts(b, s, numbered, &mut args));
    }
    let order = match lists {
        [(_, s)] if !numbered => {
            let d = if s.backward { s.dir.reversed() } else { s.dir };
            // sort_* columns other than the key are NULL: ordering by all is ordering by it.
            let d = d.sql();
            format!("side, sort_time {d}, sort_int {d}, sort_float {d}, sort_text {d}, sort_id {d}")
        }
        _ => "b, side, rn".to_owned(),
    };
    (
        format!("{} ORDER BY {order}", parts.join(" UNION ALL ")),
        args,
    )
}

/// The statement counting each list, with its arguments (rows `(b, n)`).
pub(super) fn counts_sql(lists: &[&Listing]) -> (String, Vec<Arg>) {
    let mut args = Vec::new();
    let parts: Vec<String> = lists
        .iter()
        .enumerate()
        .map(|(b, l)| l.count_part(b, &mut args))
        .collect();
    (parts.join(" UNION ALL "), args)
}

/// Splits a paged statement's rows back into one [`Page`] per list.
pub(super) fn split_pages<T>(lists: &[(Listing, Slice)], rows: Vec<PagedRow<T>>) -> Vec<Page<T>> {
    let mut pages: Vec<(Vec<(Position, T)>, bool)> =
        lists.iter().map(|_| (Vec::new(), false)).collect();
    for r in rows {
        let Some((l, _)) = lists.get(r.b as usize) else {
            continue;
        };
        let page = &mut pages[r.b as usize];
        if r.side == 1 {
            page.1 = true;
        } else {
            page.0.push((r.sort.position(l.kind), r.row));
        }
    }
    pages
        .into_iter()
        .zip(lists)
        .map(|((mut rows, other_side), (_, s))| {
            let more = rows.len() > s.size;
            rows.truncate(s.size);
            if s.backward {
                rows.reverse();
                Page {
                    rows,
                    has_previous: more,
                    has_next: other_side,
                }
            } else {
                Page {
                    rows,
                    has_previous: other_side,
                    has_next: more,
                }
            }
        })
        .collect()
}

/// A count row.
#[derive(FromRow)]
pub(super) struct CountRow {
    pub b: i64,
    pub n: i64,
}
