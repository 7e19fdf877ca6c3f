//! `ttpgraph doctor`: checks a deployment the way an operator would before (or after)
//! starting the server, and prints one verdict per check. It only reads: nothing is
//! migrated, refreshed or written. Exit status is non-zero when a check fails (warnings
//! do not fail).
//!
//! Checks, in order (each later one needs the database the first one reached):
//! database reachability, privileges (MySQL/MariaDB), migrations, summary consistency
//! (summary totals against the tags, and the rollups of a sample of attackers,
//! identities and sessions against scans), clock skew between the database and this host, the JWT
//! secret.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

use clap::Args;

use crate::cli::{AuthArgs, DbArgs};
use crate::store::{Dialect, Store, TechniqueFilter};

type AnyError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, Clone, Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub db: DbArgs,
    #[command(flatten)]
    pub auth: AuthArgs,
    /// Attackers, identities and sessions (each) whose rollups are compared with scans.
    #[arg(long, default_value_t = 25)]
    pub sample: usize,
}

/// How bad a check's outcome is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    Ok,
    /// Works, but deserves attention; does not fail the run.
    Warn,
    Fail,
    /// Not applicable here, or not run because an earlier check failed.
    Skip,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Ok => "ok",
            Verdict::Warn => "WARN",
            Verdict::Fail => "FAIL",
            Verdict::Skip => "skip",
        })
    }
}

/// One check's outcome.
#[derive(Debug, Clone)]
pub struct Check {
    pub name: &'static str,
    pub verdict: Verdict,
    pub detail: String,
}

fn check(name: &'static str, verdict: Verdict, detail: impl Into<String>) -> Check {
    Check {
        name,
        verdict,
        detail: detail.into(),
    }
}

/// How long the reachability check waits for the database.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Clock skew above this is a warning, above [`SKEW_FAIL`] a failure (token expiry and
/// DECNET's `created_at` times are compared across the two clocks).
const SKEW_WARN: Duration = Duration::from_secs(2);
const SKEW_FAIL: Duration = Duration::from_secs(30);

/// Runs every check and prints the report; `Err` when one failed.
pub async fn run(args: &DoctorArgs) -> Result<(), AnyError> {
    let checks = diagnose(args).await;
    print!("{}", render(&checks));
    let failed = checks.iter().filter(|c| c.verdict == Verdict::Fail).count();
    if failed > 0 {
        return Err(format!("doctor: {failed} check(s) failed").into());
    }
    Ok(())
}

/// The report, one line per check, then a verdict line.
pub fn render(checks: &[Check]) -> String {
    let mut out = String::new();
    for c in checks {
        let mut lines = c.detail.lines();
        out.push_str(&format!(
            "{:<5} {:<11} {}\n",
            c.verdict.to_string(),
            c.name,
            lines.next().unwrap_or("")
        ));
        for l in lines {
            out.push_str(&format!("{:<17} {l}\n", ""));
        }
    }
    let count = |v| checks.iter().filter(|c| c.verdict == v).count();
    let (fail, warn) = (count(Verdict::Fail), count(Verdict::Warn));
    out.push_str(&match (fail, warn) {
        (0, 0) => "verdict: healthy\n".to_owned(),
        (0, w) => format!("verdict: healthy with {w} warning(s)\n"),
        (f, w) => format!("verdict: {f} check(s) failed, {w} warning(s)\n"),
    });
    out
}

/// Every check, in order.
pub async fn diagnose(args: &DoctorArgs) -> Vec<Check> {
    let mut out = Vec::new();
    let store = reachability(&args.db, &mut out).await;
    match &store {
        Some(store) => {
            let pending = migrations(store, &mut out).await;
            out.push(privileges(store, pending).await);
            out.push(summaries(store, args.sample, pending).await);
            out.push(clock(store).await);
        }
        None => {
            for name in ["migrations", "privileges", "summaries", "clock"] {
                out.push(check(name, Verdict::Skip, "database not reachable"));
            }
        }
    }
    out.push(secret(&args.auth));
    if let Some(s) = store {
        s.close().await;
    }
    out
}

async fn reachability(db: &DbArgs, out: &mut Vec<Check>) -> Option<Store> {
    let started = Instant::now();
    let store = match crate::cli::connect(db, None).await {
        Ok(s) => s,
        Err(e) => {
            out.push(check("database", Verdict::Fail, e.to_string()));
            return None;
        }
    };
    // A fresh connection first (MySQL), so a refused connection fails at once with its
    // real cause instead of the pool's retries until its acquire timeout.
    let reach = async {
        store.probe().await?;
        store.ping().await
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, reach).await {
        Ok(Ok(())) => {
            out.push(check(
                "database",
                Verdict::Ok,
                format!(
                    "reachable ({}, {} ms)",
                    store.dialect().name(),
                    started.elapsed().as_millis()
                ),
            ));
            Some(store)
        }
        Ok(Err(e)) => {
            out.push(check(
                "database",
                Verdict::Fail,
                format!("not reachable: {e}"),
            ));
            store.close().await;
            None
        }
        Err(_) => {
            out.push(check(
                "database",
                Verdict::Fail,
                format!("no answer within {CONNECT_TIMEOUT:?}"),
            ));
            store.close().await;
            None
        }
    }
}

/// The migrations check; returns whether migrations are pending.
async fn migrations(store: &Store, out: &mut Vec<Check>) -> bool {
    let st = match store.migration_state().await {
        Ok(st) => st,
        Err(e) => {
            out.push(check(
                "migrations",
                Verdict::Fail,
                format!("cannot read: {e}"),
            ));
            return true;
        }
    };
    let c = if !st.modified.is_empty() {
        check(
            "migrations",
            Verdict::Fail,
            format!(
                "migrations {:?} were applied from different files than this release's; \
                 `ttpgraph migrate` would refuse",
                st.modified
            ),
        )
    } else if !st.pending.is_empty() {
        let names: Vec<String> = st.pending.iter().map(|(v, d)| format!("{v} {d}")).collect();
        let dirty = if st.dirty.is_empty() {
            String::new()
        } else {
            format!(
                " ({:?} stopped part-way earlier; they are re-run)",
                st.dirty
            )
        };
        check(
            "migrations",
            Verdict::Fail,
            format!(
                "{} pending{dirty}: {}; run `ttpgraph migrate` (serve also migrates at start)",
                names.len(),
                names.join(", ")
            ),
        )
    } else if !st.unknown.is_empty() {
        check(
            "migrations",
            Verdict::Warn,
            format!(
                "all applied, plus {:?} from a newer ttpgraph: this binary is older than the schema",
                st.unknown
            ),
        )
    } else {
        check("migrations", Verdict::Ok, "all applied")
    };
    let pending = !st.pending.is_empty();
    out.push(c);
    pending
}

async fn privileges(store: &Store, pending: bool) -> Check {
    match store.migration_privileges().await {
        Ok(None) => check("privileges", Verdict::Skip, "SQLite: none needed"),
        Ok(Some(r)) => match r.advice() {
            None => check(
                "privileges",
                Verdict::Ok,
                format!("{} can migrate `{}`", r.grantee, r.database),
            ),
            // Serving needs only reads and inserts: a missing privilege matters at the
            // next migration.
            Some(a) => check(
                "privileges",
                if pending {
                    Verdict::Fail
                } else {
                    Verdict::Warn
                },
                if pending {
                    a
                } else {
                    format!("{a}\n(needed only by the next upgrade's migrations)")
                },
            ),
        },
        Err(e) => check("privileges", Verdict::Fail, format!("cannot read: {e}")),
    }
}

async fn summaries(store: &Store, sample: usize, pending: bool) -> Check {
    if pending {
        return check("summaries", Verdict::Skip, "migrations pending");
    }
    match compare_summaries(store, sample).await {
        Ok(Ok(n)) => check(
            "summaries",
            Verdict::Ok,
            format!("totals and {n} sampled rollups agree with the tags"),
        ),
        Ok(Err(why)) => check(
            "summaries",
            Verdict::Fail,
            format!(
                "{why}\nrebuild them: `ttpgraph migrate --uninstall && ttpgraph migrate` \
                 (DECNET's data is untouched)"
            ),
        ),
        Err(e) => check("summaries", Verdict::Fail, format!("cannot read: {e}")),
    }
}

/// `Ok(Ok(rollups compared))`, or `Ok(Err(first disagreement))`.
async fn compare_summaries(
    store: &Store,
    sample: usize,
) -> crate::store::Result<Result<usize, String>> {
    for (summary, tags) in [
        ("ttp_fleet_rollup", "SELECT COUNT(*) FROM ttp_tag"),
        (
            "ttp_attacker_rollup",
            "SELECT COUNT(*) FROM ttp_tag WHERE attacker_uuid IS NOT NULL",
        ),
        (
            "ttp_identity_rollup",
            "SELECT COUNT(*) FROM ttp_tag WHERE identity_uuid IS NOT NULL",
        ),
        (
            "ttp_session_rollup",
            "SELECT COUNT(*) FROM ttp_tag WHERE session_id IS NOT NULL",
        ),
    ] {
        // CAST … AS SIGNED: one spelling both engines read as an integer (MySQL's SUM is
        // DECIMAL).
        let s: Vec<(i64,)> = store
            .fetch_all(
                format!("SELECT CAST(COALESCE(SUM(tag_count), 0) AS SIGNED) FROM {summary}"),
                vec![],
            )
            .await?;
        let t: Vec<(i64,)> = store.fetch_all(tags, vec![]).await?;
        let (s, t) = (s.first().map_or(0, |r| r.0), t.first().map_or(0, |r| r.0));
        if s != t {
            return Ok(Err(format!("{summary} counts {s} tags, ttp_tag holds {t}")));
        }
    }
    let limit = sample.clamp(1, 500) as i64;
    let none = TechniqueFilter::default();
    let mut compared = 0;
    for (what, column) in [
        ("attacker", "attacker_uuid"),
        ("identity", "identity_uuid"),
        ("session", "session_id"),
    ] {
        let ids: Vec<(String,)> = store
            .fetch_all(
                format!(
                    "SELECT {column} FROM ttp_tag WHERE {column} IS NOT NULL \
                     GROUP BY {column} LIMIT {limit}"
                ),
                vec![],
            )
            .await?;
        let ids: Vec<String> = ids.into_iter().map(|(i,)| i).collect();
        let (fast, scan) = match what {
            "attacker" => (
                store.techniques_by_attackers(&ids, &none).await?,
                store.techniques_by_attackers_scan(&ids, &none).await?,
            ),
            "session" => (
                store.techniques_by_sessions(&ids, &none).await?,
                store.techniques_by_sessions_scan(&ids, &none).await?,
            ),
            _ => (
                store.techniques_by_identities(&ids, &none).await?,
                store.techniques_by_identities_scan(&ids, &none).await?,
            ),
        };
        // Counts only: a delete leaves a group's extremes stale until the server's
        // refresh, which is not an inconsistency.
        let key = |m: &std::collections::HashMap<String, Vec<crate::store::TechniqueRollup>>| {
            m.iter()
                .map(|(k, rows)| {
                    let mut v: Vec<(String, Option<String>, i64)> = rows
                        .iter()
                        .map(|r| (r.technique_id.clone(), r.sub_technique_id.clone(), r.count))
                        .collect();
                    v.sort();
                    (k.clone(), v)
                })
                .filter(|(_, v)| !v.is_empty())
                .collect::<BTreeMap<_, _>>()
        };
        let (f, s) = (key(&fast), key(&scan));
        if let Some(id) = s.keys().chain(f.keys()).find(|id| f.get(*id) != s.get(*id)) {
            return Ok(Err(format!(
                "the {what} rollup of {id} differs from its tags: summary {:?}, tags {:?}",
                f.get(id),
                s.get(id)
            )));
        }
        compared += ids.len();
    }
    Ok(Ok(compared))
}

async fn clock(store: &Store) -> Check {
    if store.dialect() == Dialect::Sqlite {
        return check(
            "clock",
            Verdict::Skip,
            "SQLite: the database uses this host's clock",
        );
    }
    let before = chrono::Utc::now();
    let rows: crate::store::Result<Vec<(chrono::NaiveDateTime,)>> =
        store.fetch_all("SELECT UTC_TIMESTAMP(6)", vec![]).await;
    let after = chrono::Utc::now();
    let db = match rows.map(|r| r.into_iter().next()) {
        Ok(Some((t,))) => t.and_utc(),
        Ok(None) => return check("clock", Verdict::Fail, "the server returned no time"),
        Err(e) => return check("clock", Verdict::Fail, format!("cannot read: {e}")),
    };
    let local = before + (after - before) / 2;
    let skew = (db - local).abs().to_std().unwrap_or(Duration::MAX);
    let detail = format!(
        "database clock is {:.3} s {} this host's",
        skew.as_secs_f64(),
        if db > local { "ahead of" } else { "behind" }
    );
    let verdict = if skew > SKEW_FAIL {
        Verdict::Fail
    } else if skew > SKEW_WARN {
        Verdict::Warn
    } else {
        Verdict::Ok
    };
    check("clock", verdict, detail)
}

fn secret(auth: &AuthArgs) -> Check {
    match auth.secret() {
        Err(e) => check("secret", Verdict::Fail, e.to_string()),
        Ok(None) => check(
            "secret",
            Verdict::Warn,
            "no JWT secret (--jwt-secret, TTPGRAPH_JWT_SECRET, DECNET_JWT_SECRET): serve runs \
             without authentication, on loopback only",
        ),
        Ok(Some(_)) => {
            let raw = crate::config::jwt_secret(auth.jwt_secret.as_deref())
                .ok()
                .flatten()
                .unwrap_or_default();
            let distinct = raw
                .bytes()
                .collect::<std::collections::BTreeSet<u8>>()
                .len();
            if distinct < 10 {
                check(
                    "secret",
                    Verdict::Warn,
                    format!(
                        "{} bytes but only {distinct} distinct characters: use a random secret \
                         (e.g. `openssl rand -base64 48`)",
                        raw.len()
                    ),
                )
            } else {
                check(
                    "secret",
                    Verdict::Ok,
                    format!("set, {} bytes, {distinct} distinct characters", raw.len()),
                )
            }
        }
    }
}
