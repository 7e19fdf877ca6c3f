//! The scopes a query reads tags in (SPEC §3). An attacker or a session is one indexed
//! `ttp_tag` column. An identity is the tags on the identity, plus the tags on its
//! attackers that the first set does not already hold, each tag counted once. The seed's
//! `OR attacker_uuid IN (subquery)` defeats indexes on MySQL; here it is a `UNION ALL` of
//! two indexed branches, the second skipping what the first has. Every query over the
//! identity scope (filtered rollups, the inspector, the kill-chain phases) builds it here;
//! unfiltered rollups read its trigger-kept summary (migration 0007).
//!
//! The second branch joins `attackers a CROSS JOIN ttp_tag t ON …`: an inner join on both
//! dialects that on SQLite also fixes the attackers as the outer loop (see `rollup.rs`).

use super::arg::{Arg, placeholders};

/// Which identities a scope covers.
#[derive(Debug, Clone, Copy)]
pub(super) enum Ids<'a> {
    /// One identity (`= ?`); the branches select only the caller's columns.
    One(&'a str),
    /// A batch (`IN (…)`); each branch selects the identity as `k` first, for
    /// `keyed_batch`.
    Many(&'a [String]),
}

impl Ids<'_> {
    /// The identity-matching condition on `column`, its ids appended to `args`, and the
    /// key column to select (empty for one identity).
    fn bind(self, column: &str, args: &mut Vec<Arg>) -> (String, String) {
        match self {
            Ids::One(id) => {
                args.push(Arg::Str(id.to_owned()));
                (format!("{column} = ?"), String::new())
            }
            Ids::Many(ids) => {
                args.extend(ids.iter().cloned().map(Arg::Str));
                (
                    format!("{column} IN ({})", placeholders(ids.len())),
                    format!("{column} AS k, "),
                )
            }
        }
    }
}

/// `AND …` conditions on alias `t` after the scope's own, their arguments appended.
pub(super) type Narrow<'a> = &'a dyn Fn(&mut Vec<Arg>) -> String;

/// The tags (alias `t`) whose `column` names one of `ids`, selecting `select`, narrowed
/// by `cond`: an attacker's or a session's scope, and the first half of an identity's.
pub(super) fn column_tags(
    select: &str,
    column: &str,
    ids: Ids<'_>,
    cond: Narrow<'_>,
    args: &mut Vec<Arg>,
) -> String {
    let (own, k) = ids.bind(&format!("t.{column}"), args);
    let c = cond(args);
    format!("SELECT {k}{select} FROM ttp_tag t WHERE {own}{c}")
}

/// The identity scope over `ttp_tag` (alias `t`): a `UNION ALL` selecting `select` from
/// each branch, each narrowed by `cond` (called once per branch, so both bind their own
/// arguments).
pub(super) fn identity_tags(
    select: &str,
    ids: Ids<'_>,
    cond: Narrow<'_>,
    args: &mut Vec<Arg>,
) -> String {
    let own = column_tags(select, "identity_uuid", ids, cond, args);
    let (via, k) = ids.bind("a.identity_id", args);
    let c = cond(args);
    format!(
        r"{own}
          UNION ALL
          SELECT {k}{select} FROM attackers a CROSS JOIN ttp_tag t ON t.attacker_uuid = a.uuid
          WHERE {via} AND (t.identity_uuid IS NULL OR t.identity_uuid <> a.identity_id){c}"
    )
}
