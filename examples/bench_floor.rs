//! The benchmark's helper binary (`bench/run.sh` builds and runs it; `cargo test` only
//! compiles it). It talks to the fleet database directly, without HTTP or GraphQL:
//!
//! - `create-db`: create (or `--fresh`: drop and re-create) the MySQL database of a URL;
//! - `count`: tag rows, the benchmark's own writes excluded (the fleet stamp check);
//! - `pick`: the ids the load test rotates over (median/most-tagged identity, busy
//!   attackers and sessions, the largest campaign, the inspector's target, page cursors);
//! - `floor`: the store+SQL floor: the very `Store` methods the resolvers call (same SQL
//!   text, same pool settings, same row decoding), from N concurrent tasks;
//! - `insert`: `Store::insert_tags` throughput, in batches of a given size;
//! - `cleanup`: delete every tag the benchmark wrote (all carry [`BENCH_ATTACKER`]).
//!
//! Every command prints one JSON document on stdout.

use std::collections::{BTreeMap, HashMap, HashSet};

/// The server's allocator, so that the floor differs from it only by HTTP and GraphQL.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use serde_json::{Value, json};
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection};
use ttpgraph::graphql::types::list::{cursor as list_cursor, decode as decode_cursor, order_tag};
use ttpgraph::store::keyset::{Direction, Position, SortValue};
use ttpgraph::store::search::AttackerOrder;
use ttpgraph::store::{
    Dialect, InspectorScope, NewTag, Store, StoreOptions, TechniqueFilter, TechniqueRollup,
};

/// Every tag the benchmark writes (over GraphQL or through the store) names this
/// attacker, which no fleet row has: `cleanup` deletes by it, through its index.
const BENCH_ATTACKER: &str = "be0c4000-0000-4000-8000-00000000be0c";

type AnyError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Parser)]
#[command(about = "ttpgraph benchmark helper: ids, store floor, inserts, cleanup")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Create the MySQL database named in the URL (no-op on SQLite).
    CreateDb {
        #[arg(long)]
        database_url: String,
        /// Drop it first.
        #[arg(long)]
        fresh: bool,
    },
    /// Tag rows, the benchmark's own writes excluded.
    Count {
        #[arg(long)]
        database_url: String,
    },
    /// The ids the benchmark uses.
    Pick {
        #[arg(long)]
        database_url: String,
        /// How many ids to rotate over where the benchmark rotates.
        #[arg(long, default_value_t = 50)]
        rotate: usize,
    },
    /// Time the store methods behind each rollup with concurrent callers.
    Floor {
        #[arg(long)]
        database_url: String,
        /// The JSON that `pick` printed.
        #[arg(long)]
        ids: std::path::PathBuf,
        /// Operations, comma-separated (identity_median, identity_max, attacker, session,
        /// campaign, fleet, export, inspector, attackers_page).
        #[arg(long, value_delimiter = ',')]
        ops: Vec<String>,
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// Measured seconds per operation.
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
        /// Unmeasured seconds before each operation.
        #[arg(long, default_value_t = 2.0)]
        warmup: f64,
        /// Connection pool size (default: the server's default for the dialect).
        #[arg(long)]
        pool: Option<u32>,
    },
    /// `Store::insert_tags` throughput with fresh tags.
    Insert {
        #[arg(long)]
        database_url: String,
        #[arg(long)]
        batch: usize,
        #[arg(long, default_value_t = 1)]
        concurrency: usize,
        /// Stop after this many seconds …
        #[arg(long, default_value_t = 10.0)]
        duration: f64,
        /// … or after this many tags, whichever comes first.
        #[arg(long, default_value_t = 200_000)]
        max_tags: usize,
        /// Makes source ids unique across runs.
        #[arg(long)]
        nonce: String,
        #[arg(long)]
        pool: Option<u32>,
    },
    /// Delete every tag the benchmark wrote.
    Cleanup {
        #[arg(long)]
        database_url: String,
    },
}

fn main() -> Result<(), AnyError> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let out = rt.block_on(async move {
        match cli.cmd {
            Cmd::CreateDb {
                database_url,
                fresh,
            } => create_db(&database_url, fresh).await,
            Cmd::Count { database_url } => count(&database_url).await,
            Cmd::Pick {
                database_url,
                rotate,
            } => pick(&database_url, rotate.max(1)).await,
            Cmd::Floor {
                database_url,
                ids,
                ops,
                concurrency,
                duration,
                warmup,
                pool,
            } => {
                let ids: Value = serde_json::from_str(&std::fs::read_to_string(ids)?)?;
                let store = open_store(&database_url, pool).await?;
                let mut results = Vec::new();
                for op in &ops {
                    let op = FloorOp::parse(op, &ids)?;
                    let spec = RunSpec {
                        concurrency: concurrency.max(1),
                        warmup: Duration::from_secs_f64(warmup),
                        duration: Duration::from_secs_f64(duration),
                    };
                    results.push(run_floor(&store, op, &spec).await);
                }
                store.close().await;
                Ok(Value::Array(results))
            }
            Cmd::Insert {
                database_url,
                batch,
                concurrency,
                duration,
                max_tags,
                nonce,
                pool,
            } => {
                let store = open_store(&database_url, pool).await?;
                let r = run_insert(
                    &store,
                    batch.max(1),
                    concurrency.max(1),
                    Duration::from_secs_f64(duration),
                    max_tags,
                    &nonce,
                )
                .await;
                store.close().await;
                r
            }
            Cmd::Cleanup { database_url } => cleanup(&database_url).await,
        }
    })?;
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

// ---------------------------------------------------------------------------------
// Raw connections for the bookkeeping commands (not timed).

enum Db {
    Sqlite(SqlitePool),
    MySql(MySqlPool),
}

fn sqlite_url(url: &str) -> String {
    if url.starts_with("sqlite:") {
        url.to_owned()
    } else {
        format!("sqlite://{url}")
    }
}

fn mysql_options(url: &str) -> Result<MySqlConnectOptions, AnyError> {
    Ok(
        MySqlConnectOptions::from_str(&url.replacen("mariadb://", "mysql://", 1))?
            .timezone(Some(String::from("+00:00"))),
    )
}

async fn open_db(url: &str) -> Result<Db, AnyError> {
    Ok(match Dialect::of_url(url) {
        Dialect::Sqlite => {
            let co = SqliteConnectOptions::from_str(&sqlite_url(url))?
                .busy_timeout(Duration::from_secs(30));
            Db::Sqlite(
                SqlitePoolOptions::new()
                    .max_connections(1)
                    .connect_with(co)
                    .await?,
            )
        }
        Dialect::MySql => Db::MySql(
            MySqlPoolOptions::new()
                .max_connections(1)
                .connect_with(mysql_options(url)?)
                .await?,
        ),
    })
}

impl Db {
    /// `(text, integer)` rows of a query with at most one string argument.
    async fn pairs(&self, sql: &str, arg: Option<&str>) -> Result<Vec<(String, i64)>, AnyError> {
        let sql = AssertSqlSafe(sql.to_owned());
        Ok(match self {
            Db::Sqlite(p) => {
                let mut q = sqlx::query_as::<_, (String, i64)>(sql);
                if let Some(a) = arg {
                    q = q.bind(a.to_owned());
                }
                q.fetch_all(p).await?
            }
            Db::MySql(p) => {
                let mut q = sqlx::query_as::<_, (String, i64)>(sql);
                if let Some(a) = arg {
                    q = q.bind(a.to_owned());
                }
                q.fetch_all(p).await?
            }
        })
    }

    async fn scalar(&self, sql: &str) -> Result<i64, AnyError> {
        let sql = format!("SELECT 'x', ({sql})");
        Ok(self.pairs(&sql, None).await?.first().map_or(0, |r| r.1))
    }

    async fn execute(&self, sql: &str, arg: &str) -> Result<u64, AnyError> {
        let sql = AssertSqlSafe(sql.to_owned());
        Ok(match self {
            Db::Sqlite(p) => sqlx::query(sql)
                .bind(arg.to_owned())
                .execute(p)
                .await?
                .rows_affected(),
            Db::MySql(p) => sqlx::query(sql)
                .bind(arg.to_owned())
                .execute(p)
                .await?
                .rows_affected(),
        })
    }

    async fn close(self) {
        match self {
            Db::Sqlite(p) => p.close().await,
            Db::MySql(p) => p.close().await,
        }
    }
}

async fn create_db(url: &str, fresh: bool) -> Result<Value, AnyError> {
    if Dialect::of_url(url) == Dialect::Sqlite {
        return Ok(json!({"created": false, "reason": "SQLite creates its file itself"}));
    }
    let co = mysql_options(url)?;
    let name = co
        .get_database()
        .ok_or("the MySQL URL names no database")?
        .to_owned();
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!("refusing database name {name:?}: use [A-Za-z0-9_]").into());
    }
    let mut conn = co.database("").connect().await?;
    if fresh {
        sqlx::raw_sql(AssertSqlSafe(format!("DROP DATABASE IF EXISTS `{name}`")))
            .execute(&mut conn)
            .await?;
    }
    sqlx::raw_sql(AssertSqlSafe(format!(
        "CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4"
    )))
    .execute(&mut conn)
    .await?;
    conn.close().await?;
    Ok(json!({"database": name, "fresh": fresh}))
}

async fn count(url: &str) -> Result<Value, AnyError> {
    let db = open_db(url).await?;
    let exists = match &db {
        Db::Sqlite(_) => {
            db.scalar(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'ttp_tag'",
            )
            .await?
        }
        Db::MySql(_) => {
            db.scalar(
                "SELECT COUNT(*) FROM information_schema.tables \
                 WHERE table_schema = DATABASE() AND table_name = 'ttp_tag'",
            )
            .await?
        }
    };
    let out = if exists == 0 {
        json!({"tags": 0, "bench_tags": 0, "attackers": 0})
    } else {
        let all = db.scalar("SELECT COUNT(*) FROM ttp_tag").await?;
        let bench = db
            .pairs(
                "SELECT attacker_uuid, COUNT(*) FROM ttp_tag WHERE attacker_uuid = ? GROUP BY attacker_uuid",
                Some(BENCH_ATTACKER),
            )
            .await?
            .first()
            .map_or(0, |r| r.1);
        let attackers = db.scalar("SELECT COUNT(*) FROM attackers").await?;
        json!({"tags": all - bench, "bench_tags": bench, "attackers": attackers})
    };
    db.close().await;
    Ok(out)
}

async fn cleanup(url: &str) -> Result<Value, AnyError> {
    let db = open_db(url).await?;
    let started = Instant::now();
    let deleted = db
        .execute(
            "DELETE FROM ttp_tag WHERE attacker_uuid = ?",
            BENCH_ATTACKER,
        )
        .await?;
    db.close().await;
    Ok(json!({"deleted": deleted, "seconds": started.elapsed().as_secs_f64()}))
}

// ---------------------------------------------------------------------------------
// Picking the ids.

fn summary(counts: &[i64]) -> Value {
    let mut c = counts.to_vec();
    c.sort_unstable();
    json!({
        "min": c.first(), "median": c.get(c.len() / 2), "max": c.last(),
    })
}

async fn pick(url: &str, rotate: usize) -> Result<Value, AnyError> {
    let db = open_db(url).await?;
    let started = Instant::now();

    // Identity scope (tags on the identity, or on its attackers, counted once), for every
    // identity DECNET has a row for.
    let known: HashSet<String> = db
        .pairs("SELECT uuid, 0 FROM attacker_identities", None)
        .await?
        .into_iter()
        .map(|r| r.0)
        .collect();
    let mut ident: Vec<(String, i64)> = db
        .pairs(
            "SELECT k, COUNT(*) FROM (\
               SELECT t.identity_uuid AS k FROM ttp_tag t WHERE t.identity_uuid IS NOT NULL \
               UNION ALL \
               SELECT a.identity_id AS k FROM attackers a JOIN ttp_tag t ON t.attacker_uuid = a.uuid \
               WHERE a.identity_id IS NOT NULL \
               AND (t.identity_uuid IS NULL OR t.identity_uuid <> a.identity_id)\
             ) s GROUP BY k",
            None,
        )
        .await?
        .into_iter()
        .filter(|(k, _)| known.contains(k))
        .collect();
    if ident.is_empty() {
        return Err("no identity has tags: is this a demo fleet?".into());
    }
    ident.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
    let mid = ident.len() / 2;
    let lo = mid.saturating_sub(rotate / 2);
    let hi = (lo + rotate).min(ident.len());
    let median_set = &ident[lo..hi];
    let (max_id, max_count) = ident[ident.len() - 1].clone();

    // Busy attackers (with an attackers row) and busy sessions: the top `rotate`.
    let clustered: HashMap<String, bool> = db
        .pairs(
            "SELECT uuid, CASE WHEN identity_id IS NULL THEN 0 ELSE 1 END FROM attackers",
            None,
        )
        .await?
        .into_iter()
        .map(|(k, v)| (k, v == 1))
        .collect();
    let attackers: HashSet<String> = clustered.keys().cloned().collect();
    let attacker_tags: Vec<(String, i64)> = db
        .pairs(
            "SELECT attacker_uuid, COUNT(*) AS n FROM ttp_tag WHERE attacker_uuid IS NOT NULL \
             GROUP BY attacker_uuid ORDER BY n DESC, attacker_uuid",
            None,
        )
        .await?
        .into_iter()
        .filter(|(k, _)| attackers.contains(k))
        .collect();
    let busy_attackers: Vec<(String, i64)> = attacker_tags.iter().take(rotate).cloned().collect();
    // The fleet's shape: how many attackers each identity clusters, how many identities
    // each campaign holds.
    let per_identity: HashMap<String, i64> = db
        .pairs(
            "SELECT identity_id, COUNT(*) FROM attackers WHERE identity_id IS NOT NULL GROUP BY identity_id",
            None,
        )
        .await?
        .into_iter()
        .collect();
    let per_campaign: Vec<i64> = db
        .pairs(
            "SELECT campaign_id, COUNT(*) FROM attacker_identities WHERE campaign_id IS NOT NULL \
             GROUP BY campaign_id",
            None,
        )
        .await?
        .into_iter()
        .map(|r| r.1)
        .collect();
    let busy_sessions = db
        .pairs(
            &format!(
                "SELECT session_id, COUNT(*) AS n FROM ttp_tag WHERE session_id IS NOT NULL \
                 GROUP BY session_id ORDER BY n DESC, session_id LIMIT {rotate}"
            ),
            None,
        )
        .await?;
    let sessions = db
        .scalar("SELECT COUNT(DISTINCT session_id) FROM ttp_tag WHERE session_id IS NOT NULL")
        .await?;

    // The largest campaign by the tags its rollup reads.
    let campaigns = db
        .pairs(
            "SELECT i.campaign_id, COUNT(*) AS n FROM attacker_identities i \
             JOIN ttp_tag t ON t.identity_uuid = i.uuid WHERE i.campaign_id IS NOT NULL \
             GROUP BY i.campaign_id ORDER BY n DESC, i.campaign_id LIMIT 1",
            None,
        )
        .await?;
    let (campaign, campaign_tags) = campaigns.first().cloned().ok_or("no campaign has tags")?;
    let campaign_identities = db
        .pairs(
            "SELECT campaign_id, COUNT(*) FROM attacker_identities WHERE campaign_id = ? GROUP BY campaign_id",
            Some(&campaign),
        )
        .await?
        .first()
        .map_or(0, |r| r.1);

    // Page cursors spread over the attackers' uuid order.
    let mut all_attackers: Vec<&String> = attackers.iter().collect();
    all_attackers.sort();
    let span = all_attackers.len().saturating_sub(101).max(1);
    // The cursor the API issues for that attacker in the default (uuid) order.
    let order = order_tag("attackers", AttackerOrder::Id, Direction::Asc);
    let cursor_at = |at: usize| -> Value {
        let id = all_attackers[at].clone();
        Value::String(list_cursor(
            &order,
            &Position {
                key: SortValue::Text(id.clone()),
                id,
            },
        ))
    };
    let cursors: Vec<Value> = (0..rotate)
        .map(|k| {
            if k == 0 {
                Value::Null
            } else {
                cursor_at((k * span / rotate).min(all_attackers.len() - 1))
            }
        })
        .collect();
    // For the one-attacker page: the same places, moved on to an attacker that has an
    // identity, so that it asks for the same three statements as the full page.
    let cursors_one: Vec<Value> = (0..rotate)
        .filter_map(|k| {
            let start = if k == 0 {
                0
            } else {
                (k * span / rotate + 1).min(all_attackers.len() - 1)
            };
            let next = (start..all_attackers.len()).find(|&i| clustered[all_attackers[i]])?;
            Some(if next == 0 {
                Value::Null
            } else {
                cursor_at(next - 1)
            })
        })
        .collect();
    let totals = json!({
        "tags": db.scalar("SELECT COUNT(*) FROM ttp_tag").await?,
        "attackers": attackers.len(),
        "identities": known.len(),
        "campaigns": db.scalar("SELECT COUNT(*) FROM campaigns").await?,
        "sessions_with_tags": sessions,
        "identity_tag_counts": summary(&ident.iter().map(|r| r.1).collect::<Vec<_>>()),
        "shape": {
            "attackers_per_identity": summary(
                &known.iter().map(|i| per_identity.get(i).copied().unwrap_or(0)).collect::<Vec<_>>(),
            ),
            "attackers_of_max_identity": per_identity.get(&max_id).copied().unwrap_or(0),
            "attackers_of_median_identity": per_identity.get(&ident[mid].0).copied().unwrap_or(0),
            "unclustered_attackers": clustered.values().filter(|c| !**c).count(),
            "merged_identities": db
                .scalar("SELECT COUNT(*) FROM attacker_identities WHERE merged_into_uuid IS NOT NULL")
                .await?,
            "tags_per_attacker": summary(&attacker_tags.iter().map(|r| r.1).collect::<Vec<_>>()),
            "identities_per_campaign": summary(&per_campaign),
        },
    });
    db.close().await;

    // The inspector's target: the most-tagged identity's most frequent parent technique,
    // from the identity rollup itself.
    let store = open_store(url, Some(1)).await?;
    let rollup: Vec<TechniqueRollup> = store
        .techniques_by_identity(&max_id, &TechniqueFilter::default())
        .await?;
    store.close().await;
    let mut by_tech: BTreeMap<String, i64> = BTreeMap::new();
    for r in &rollup {
        *by_tech.entry(r.technique_id.clone()).or_default() += r.count;
    }
    let (technique, technique_tags) = by_tech
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0)))
        .ok_or("the most-tagged identity has no technique")?;

    let ids = |v: &[(String, i64)]| v.iter().map(|r| r.0.clone()).collect::<Vec<_>>();
    let counts = |v: &[(String, i64)]| v.iter().map(|r| r.1).collect::<Vec<_>>();
    Ok(json!({
        "fleet": totals,
        "identity_median": {
            "ids": ids(median_set), "tags": summary(&counts(median_set)),
            "true_median_tags": ident[mid].1,
        },
        "identity_max": {"ids": [max_id.clone()], "tags": summary(&[max_count])},
        "attacker": {"ids": ids(&busy_attackers), "tags": summary(&counts(&busy_attackers))},
        "session": {"ids": ids(&busy_sessions), "tags": summary(&counts(&busy_sessions))},
        "campaign": {
            "ids": [campaign], "tags": summary(&[campaign_tags]),
            "identities": campaign_identities,
        },
        "inspector": {
            "ids": [max_id], "technique_id": technique, "technique_tags": technique_tags,
        },
        "attackers_page": {"after": cursors, "after_one": cursors_one},
        "bench_attacker": BENCH_ATTACKER,
        "pick_seconds": started.elapsed().as_secs_f64(),
    }))
}

// ---------------------------------------------------------------------------------
// The floor.

async fn open_store(url: &str, pool: Option<u32>) -> Result<Store, AnyError> {
    let store = Store::connect(
        url,
        &StoreOptions {
            max_connections: pool.map(|p| p.max(1)),
            ..StoreOptions::default()
        },
    )
    .await?;
    store.wait_ready(Duration::from_secs(30)).await?;
    Ok(store)
}

#[derive(Clone)]
enum FloorOp {
    Identity(&'static str, Vec<String>),
    Attacker(Vec<String>),
    Session(Vec<String>),
    Campaign(Vec<String>),
    Fleet,
    Export,
    Inspector(String, String),
    AttackersPage(Vec<Option<String>>),
}

fn id_list(ids: &Value, key: &str) -> Result<Vec<String>, AnyError> {
    let v: Vec<String> = ids[key]["ids"]
        .as_array()
        .ok_or_else(|| format!("ids file has no {key}.ids"))?
        .iter()
        .filter_map(|x| x.as_str().map(str::to_owned))
        .collect();
    if v.is_empty() {
        return Err(format!("{key}.ids is empty").into());
    }
    Ok(v)
}

impl FloorOp {
    fn parse(name: &str, ids: &Value) -> Result<Self, AnyError> {
        Ok(match name {
            "identity_median" => {
                FloorOp::Identity("identity_median", id_list(ids, "identity_median")?)
            }
            "identity_max" => FloorOp::Identity("identity_max", id_list(ids, "identity_max")?),
            "attacker" => FloorOp::Attacker(id_list(ids, "attacker")?),
            "session" => FloorOp::Session(id_list(ids, "session")?),
            "campaign" => FloorOp::Campaign(id_list(ids, "campaign")?),
            "fleet" => FloorOp::Fleet,
            "export" => FloorOp::Export,
            "inspector" => FloorOp::Inspector(
                id_list(ids, "inspector")?.remove(0),
                ids["inspector"]["technique_id"]
                    .as_str()
                    .ok_or("ids file has no inspector.technique_id")?
                    .to_owned(),
            ),
            "attackers_page" => FloorOp::AttackersPage(
                ids["attackers_page"]["after"]
                    .as_array()
                    .ok_or("ids file has no attackers_page.after")?
                    .iter()
                    .map(|c| c.as_str().map(after_uuid).transpose())
                    .collect::<Result<_, _>>()?,
            ),
            other => return Err(format!("unknown floor operation {other:?}").into()),
        })
    }

    fn name(&self) -> &'static str {
        match self {
            FloorOp::Identity(n, _) => n,
            FloorOp::Attacker(_) => "attacker",
            FloorOp::Session(_) => "session",
            FloorOp::Campaign(_) => "campaign",
            FloorOp::Fleet => "fleet",
            FloorOp::Export => "export",
            FloorOp::Inspector(..) => "inspector",
            FloorOp::AttackersPage(_) => "attackers_page",
        }
    }

    /// One call; returns the rows it produced.
    async fn call(&self, store: &Store, i: usize) -> Result<usize, AnyError> {
        let f = TechniqueFilter::default();
        Ok(match self {
            FloorOp::Identity(_, ids) => store
                .techniques_by_identity(&ids[i % ids.len()], &f)
                .await?
                .len(),
            FloorOp::Attacker(ids) => store
                .techniques_by_attacker(&ids[i % ids.len()], &f)
                .await?
                .len(),
            FloorOp::Session(ids) => store
                .techniques_by_session(&ids[i % ids.len()], &f)
                .await?
                .len(),
            FloorOp::Campaign(ids) => store
                .techniques_by_campaign(&ids[i % ids.len()], &f)
                .await?
                .len(),
            FloorOp::Fleet => store.fleet_techniques(&f).await?.len(),
            FloorOp::Export => store.export_rollups().await?.len(),
            FloorOp::Inspector(id, tech) => store
                .inspect(InspectorScope::Identity, id, tech, None, 200)
                .await?
                .len(),
            FloorOp::AttackersPage(cursors) => {
                // The three statements the page's resolvers batch into: the page, its
                // attackers' rollups, their identities' rollups.
                let after = &cursors[i % cursors.len()];
                let mut page = store.list_attackers(after.as_deref(), 101).await?;
                page.truncate(100);
                let ids: Vec<String> = page.iter().map(|a| a.uuid.clone()).collect();
                let mut idents: Vec<String> =
                    page.iter().filter_map(|a| a.identity_id.clone()).collect();
                idents.sort();
                idents.dedup();
                let a = store.techniques_by_attackers(&ids, &f).await?;
                let b = store.techniques_by_identities(&idents, &f).await?;
                page.len()
                    + a.values().map(Vec::len).sum::<usize>()
                    + b.values().map(Vec::len).sum::<usize>()
            }
        })
    }
}

struct RunSpec {
    concurrency: usize,
    warmup: Duration,
    duration: Duration,
}

/// Runs `op` from `spec.concurrency` tasks until the deadline; each task takes the next
/// id in turn from a shared counter.
async fn drive(
    store: &Store,
    op: &FloorOp,
    concurrency: usize,
    length: Duration,
) -> (Vec<Duration>, usize, Option<String>, usize, Duration) {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + length;
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (store, op, next) = (store.clone(), op.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0usize;
            let mut first_error = None;
            let mut rows = 0usize;
            while Instant::now() < deadline {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let t0 = Instant::now();
                match op.call(&store, i).await {
                    Ok(n) => rows += n,
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert_with(|| e.to_string());
                    }
                }
                lat.push(t0.elapsed());
            }
            (lat, errors, first_error, rows)
        }));
    }
    let mut lat = Vec::new();
    let (mut errors, mut first_error, mut rows) = (0, None, 0);
    for t in tasks {
        if let Ok((l, e, fe, r)) = t.await {
            lat.extend(l);
            errors += e;
            rows += r;
            if first_error.is_none() {
                first_error = fe;
            }
        }
    }
    (lat, errors, first_error, rows, started.elapsed())
}

fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1].as_secs_f64() * 1e3
}

async fn run_floor(store: &Store, op: FloorOp, spec: &RunSpec) -> Value {
    if !spec.warmup.is_zero() {
        let _ = drive(store, &op, spec.concurrency, spec.warmup).await;
    }
    let (mut lat, errors, first_error, rows, elapsed) =
        drive(store, &op, spec.concurrency, spec.duration).await;
    lat.sort_unstable();
    let calls = lat.len();
    json!({
        "op": op.name(),
        "concurrency": spec.concurrency,
        "calls": calls,
        "seconds": elapsed.as_secs_f64(),
        "rps": calls as f64 / elapsed.as_secs_f64(),
        "p50_ms": percentile_ms(&lat, 50.0),
        "p99_ms": percentile_ms(&lat, 99.0),
        "mean_ms": if calls == 0 { f64::NAN } else {
            lat.iter().map(Duration::as_secs_f64).sum::<f64>() * 1e3 / calls as f64
        },
        "rows_per_call": if calls == 0 { 0.0 } else { rows as f64 / calls as f64 },
        "errors": errors,
        "first_error": first_error,
    })
}

// ---------------------------------------------------------------------------------
// Inserts.

const TECHNIQUES: &[(&str, &str, Option<&str>, &str, f64)] = &[
    ("TA0006", "T1003", Some("T1003.008"), "R0014", 0.95),
    ("TA0007", "T1083", None, "R0013", 0.85),
    ("TA0004", "T1548", Some("T1548.001"), "R0015", 0.95),
    ("TA0011", "T1105", None, "R0012", 0.85),
    ("TA0002", "T1059", Some("T1059.004"), "R0010", 0.9),
];

fn bench_tag(nonce: &str, task: usize, seq: usize, i: usize) -> NewTag {
    let (tactic, tech, sub, rule, conf) = TECHNIQUES[i % TECHNIQUES.len()];
    let session = format!("be0c{:04x}-{:04x}-4000-8000-{:012x}", task, i / 1000, seq);
    NewTag {
        source_kind: "command".into(),
        source_id: format!("bench-{nonce}-{task}-{seq}#{i}"),
        attacker_uuid: Some(BENCH_ATTACKER.into()),
        identity_uuid: None,
        session_id: Some(session),
        decky_id: Some("omega-decky".into()),
        tactic: tactic.into(),
        technique_id: tech.into(),
        sub_technique_id: sub.map(Into::into),
        confidence: conf,
        rule_id: rule.into(),
        rule_version: 1,
        evidence: json!({"command_text": "sudo cat /etc/shadow", "user": "root", "service": "ssh"}),
        attack_release: "v19.2".into(),
        mitre_url: None,
        created_at: None,
    }
}

async fn run_insert(
    store: &Store,
    batch: usize,
    concurrency: usize,
    length: Duration,
    max_tags: usize,
    nonce: &str,
) -> Result<Value, AnyError> {
    // Batches are built before the clock starts: only `insert_tags` is timed.
    let n_batches = (max_tags / batch).max(concurrency);
    let mut per_task: Vec<Vec<Vec<NewTag>>> = vec![Vec::new(); concurrency];
    for b in 0..n_batches {
        let task = b % concurrency;
        let seq = b / concurrency;
        per_task[task].push((0..batch).map(|i| bench_tag(nonce, task, seq, i)).collect());
    }
    let started = Instant::now();
    let deadline = started + length;
    let mut tasks = Vec::new();
    for batches in per_task {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut inserted = 0u64;
            let mut errors: HashMap<String, usize> = HashMap::new();
            for b in batches {
                if Instant::now() >= deadline {
                    break;
                }
                let t0 = Instant::now();
                match store.insert_tags(&b).await {
                    Ok(o) => {
                        inserted += o.inserted;
                        if o.inserted != b.len() as u64 {
                            *errors.entry("not all rows new".into()).or_default() += 1;
                        }
                    }
                    Err(e) => *errors.entry(e.to_string()).or_default() += 1,
                }
                lat.push(t0.elapsed());
            }
            (lat, inserted, errors)
        }));
    }
    let mut lat = Vec::new();
    let mut inserted = 0;
    let mut errors: HashMap<String, usize> = HashMap::new();
    for t in tasks {
        let (l, n, e) = t.await?;
        lat.extend(l);
        inserted += n;
        for (k, v) in e {
            *errors.entry(k).or_default() += v;
        }
    }
    let elapsed = started.elapsed();
    lat.sort_unstable();
    Ok(json!({
        "batch": batch,
        "concurrency": concurrency,
        "calls": lat.len(),
        "inserted": inserted,
        "seconds": elapsed.as_secs_f64(),
        "rps": lat.len() as f64 / elapsed.as_secs_f64(),
        "tags_per_s": inserted as f64 / elapsed.as_secs_f64(),
        "p50_ms": percentile_ms(&lat, 50.0),
        "p99_ms": percentile_ms(&lat, 99.0),
        "errors": errors.values().sum::<usize>(),
        "error_kinds": errors,
    }))
}

/// The attacker uuid of a page cursor the API issued (the default order's position).
fn after_uuid(cursor: &str) -> Result<String, String> {
    let order = order_tag("attackers", AttackerOrder::Id, Direction::Asc);
    decode_cursor(&order, "after", cursor)
        .map(|p| p.id)
        .map_err(|e| format!("bad cursor: {}", async_graphql::Error::from(e).message))
}
