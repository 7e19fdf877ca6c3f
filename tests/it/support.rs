//! Test databases: a fresh SQLite file or a fresh MariaDB database per test, so tests run
//! in parallel. MySQL comes from `TTPGRAPH_TEST_MYSQL_URL`; without it MySQL tests skip
//! (laptops), and `.ci/run` sets it, which makes them mandatory.

pub mod http;

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::AssertSqlSafe;
use sqlx::mysql::MySqlPool;
use sqlx::sqlite::SqlitePool;
use ttpgraph::config::Limits;
use ttpgraph::graphql::SchemaOptions;
use ttpgraph::store::{Dialect, Store, StoreOptions};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    MySql,
}

/// A migrated, empty database that is removed when dropped.
pub struct TestDb {
    pub store: Store,
    pub url: String,
    pub dialect: Dialect,
    _dir: Option<tempfile::TempDir>,
    mysql_admin: Option<(String, String)>,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Where a developer machine's MariaDB listens when nothing else is configured.
const LOCAL_MYSQL_URL: &str = "mysql://root@127.0.0.1:3306/test";

/// The MariaDB server URL, or None when MySQL tests should skip. An explicit
/// `TTPGRAPH_TEST_MYSQL_URL` (as `.ci/run` sets) is mandatory: the tests fail if it is
/// unreachable. Without it, a local MariaDB on the default port is used when one answers.
pub fn mysql_server_url() -> Option<String> {
    static URL: OnceLock<Option<String>> = OnceLock::new();
    URL.get_or_init(|| {
        if let Some(url) = std::env::var("TTPGRAPH_TEST_MYSQL_URL")
            .ok()
            .filter(|s| !s.trim().is_empty())
        {
            return Some(url);
        }
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 3306));
        std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_millis(300))
            .ok()
            .map(|_| LOCAL_MYSQL_URL.to_owned())
    })
    .clone()
}

/// Binds `$p` to a fresh pool on `$db`'s database in its own dialect (another client, not
/// the store's pool), evaluates `$body` and closes the pool.
macro_rules! with_raw_pool {
    ($db:expr, |$p:ident| $body:expr) => {
        match $db.dialect {
            Dialect::Sqlite => {
                let $p = SqlitePool::connect(&$db.url).await.expect("raw sqlite");
                let v = $body;
                $p.close().await;
                v
            }
            Dialect::MySql => {
                let $p = MySqlPool::connect(&$db.url).await.expect("raw mysql");
                let v = $body;
                $p.close().await;
                v
            }
        }
    };
}

impl TestDb {
    /// A fresh database on `backend`, or None (MySQL without a configured server).
    pub async fn new(backend: Backend) -> Option<Self> {
        let db = Self::empty(backend).await?;
        db.store
            .migrate()
            .await
            .expect("migrations run on a fresh database");
        Some(db)
    }

    /// A fresh database without ttpgraph's migrations (to play DECNET's part).
    pub async fn empty(backend: Backend) -> Option<Self> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("t.db").display());
                let store = Store::connect(&url, &StoreOptions::default())
                    .await
                    .expect("open sqlite");
                Some(Self {
                    store,
                    url,
                    dialect: Dialect::Sqlite,
                    _dir: Some(dir),
                    mysql_admin: None,
                })
            }
            Backend::MySql => {
                let Some(server) = mysql_server_url() else {
                    eprintln!(
                        "skipped: no MariaDB (set TTPGRAPH_TEST_MYSQL_URL or start one on 127.0.0.1:3306)"
                    );
                    return None;
                };
                let name = format!(
                    "ttpg_t_{}_{}_{}",
                    std::process::id(),
                    COUNTER.fetch_add(1, Ordering::Relaxed),
                    rand::random::<u32>()
                );
                let admin = MySqlPool::connect(&server)
                    .await
                    .expect("TTPGRAPH_TEST_MYSQL_URL must be reachable");
                sqlx::query(AssertSqlSafe(format!("CREATE DATABASE `{name}`")))
                    .execute(&admin)
                    .await
                    .expect("create test database");
                admin.close().await;
                let url = with_database(&server, &name);
                let store = Store::connect(
                    &url,
                    &StoreOptions {
                        max_connections: Some(8),
                        ..Default::default()
                    },
                )
                .await
                .expect("open mysql");
                Some(Self {
                    store,
                    url,
                    dialect: Dialect::MySql,
                    _dir: None,
                    mysql_admin: Some((server, name)),
                })
            }
        }
    }

    /// Runs raw SQL as another client would (DECNET writing its own rows).
    pub async fn raw(&self, sql: &str) {
        with_raw_pool!(self, |p| {
            sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
                .execute(&p)
                .await
                .expect("raw sql");
        })
    }

    /// The first column of every row of a raw query, decoded as `T` on either dialect.
    pub async fn raw_column<T>(&self, sql: &str) -> Vec<T>
    where
        T: Send + Unpin + RawValue<sqlx::Sqlite> + RawValue<sqlx::MySql>,
    {
        with_raw_pool!(self, |p| {
            sqlx::query_scalar::<_, T>(AssertSqlSafe(sql.to_owned()))
                .fetch_all(&p)
                .await
                .expect("raw")
        })
    }

    /// The one value of a raw query (cast a float to DOUBLE in the SQL: MySQL's FLOAT
    /// decodes as f32).
    pub async fn raw_scalar<T>(&self, sql: &str) -> T
    where
        T: Send + Unpin + RawValue<sqlx::Sqlite> + RawValue<sqlx::MySql>,
    {
        let mut column = self.raw_column::<T>(sql).await;
        assert!(!column.is_empty(), "raw query returned no row: {sql}");
        column.swap_remove(0)
    }

    /// One integer from raw SQL (e.g. a COUNT): the shorthand nearly every file uses.
    pub async fn raw_i64(&self, sql: &str) -> i64 {
        self.raw_scalar(sql).await
    }
}

/// What a raw query's column may be decoded as on `DB`.
pub trait RawValue<DB: sqlx::Database>: for<'r> sqlx::Decode<'r, DB> + sqlx::Type<DB> {}
impl<DB: sqlx::Database, T> RawValue<DB> for T where T: for<'r> sqlx::Decode<'r, DB> + sqlx::Type<DB>
{}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((server, name)) = self.mysql_admin.take() {
            // Drop runs outside async context: a short-lived runtime on its own thread.
            let _ = std::thread::spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                rt.block_on(async {
                    if let Ok(p) = MySqlPool::connect(&server).await {
                        let _ =
                            sqlx::query(AssertSqlSafe(format!("DROP DATABASE IF EXISTS `{name}`")))
                                .execute(&p)
                                .await;
                        p.close().await;
                    }
                });
            })
            .join();
        }
    }
}

/// `mysql://u@h:p/old?x` → `mysql://u@h:p/name?x`.
pub fn with_database(server: &str, name: &str) -> String {
    let (base, query) = server
        .split_once('?')
        .map_or((server, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut url = format!("{}/{name}", &base[..path_start]);
    if let Some(q) = query {
        url.push('?');
        url.push_str(q);
    }
    url
}

/// Declares one test per backend from a single async body taking a `TestDb`:
/// `contract!(name, |db| async move { … });` → `name::sqlite` and `name::mysql`.
#[macro_export]
macro_rules! contract {
    ($name:ident, |$db:ident| $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let Some($db) =
                    $crate::support::TestDb::new($crate::support::Backend::Sqlite).await
                else {
                    return;
                };
                $body.await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn mysql() {
                let Some($db) = $crate::support::TestDb::new($crate::support::Backend::MySql).await
                else {
                    return;
                };
                $body.await
            }
        }
    };
}

/// Runs a GraphQL operation against `db` (no HTTP) as an admin and returns the whole
/// response as JSON (`data` and `errors`).
pub async fn gql(db: &TestDb, query: &str, variables: serde_json::Value) -> serde_json::Value {
    gql_with(db, &SchemaOptions::default(), query, variables).await
}

/// [`gql`] on a schema built with `options` (limits, introspection).
pub async fn gql_with(
    db: &TestDb,
    options: &SchemaOptions,
    query: &str,
    variables: serde_json::Value,
) -> serde_json::Value {
    let schema = ttpgraph::graphql::build_schema(options);
    let req = async_graphql::Request::new(query)
        .variables(async_graphql::Variables::from_json(variables))
        .data(ttpgraph::auth::Principal::anonymous_admin());
    let resp = ttpgraph::graphql::execute(&schema, &db.store, req).await;
    serde_json::to_value(&resp).expect("response serialises")
}

/// [`gql`] without variables under `limits`: what the guard tests vary.
pub async fn gql_limited(db: &TestDb, limits: Limits, query: &str) -> serde_json::Value {
    let options = SchemaOptions {
        limits,
        ..Default::default()
    };
    gql_with(db, &options, query, serde_json::json!({})).await
}

/// `data` of a response that must have no errors.
pub async fn gql_ok(db: &TestDb, query: &str, variables: serde_json::Value) -> serde_json::Value {
    let v = gql(db, query, variables).await;
    assert!(
        v.get("errors").is_none(),
        "unexpected errors: {}",
        v["errors"]
    );
    v["data"].clone()
}

/// The `extensions.code` of the first error.
pub fn error_code(v: &serde_json::Value) -> &str {
    v["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("<no code>")
}

/// The message of the first error ("" when there is none).
pub fn error_message(v: &serde_json::Value) -> &str {
    v["errors"][0]["message"].as_str().unwrap_or("")
}

/// The text `field` of every object in the JSON list `list` (none when it is not a list).
pub fn strings<'a>(list: &'a serde_json::Value, field: &str) -> Vec<&'a str> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|o| o[field].as_str())
        .collect()
}
