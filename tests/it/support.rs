//! Test databases: a fresh SQLite file or a fresh MariaDB database per test, so tests run
//! in parallel. MySQL comes from `TTPGRAPH_TEST_MYSQL_URL` only; without it MySQL tests
//! skip (said once), and `.ci/run` sets it, which makes them mandatory.

pub mod http;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use sqlx::AssertSqlSafe;
use sqlx::mysql::MySqlPool;
use sqlx::sqlite::SqlitePool;
use ttpgraph::config::Limits;
use ttpgraph::demo::{DemoConfig, fill};
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

/// The MariaDB server URL from `TTPGRAPH_TEST_MYSQL_URL`, or None when MySQL tests should
/// skip. Nothing else is tried: `cargo test` never creates databases on whatever answers
/// on 127.0.0.1:3306 unless asked. Skipping is said once per run; a URL that is set but
/// unreachable fails the tests that need it, naming it.
pub fn mysql_server_url() -> Option<String> {
    static URL: OnceLock<Option<String>> = OnceLock::new();
    URL.get_or_init(|| {
        let url = std::env::var("TTPGRAPH_TEST_MYSQL_URL")
            .ok()
            .filter(|s| !s.trim().is_empty());
        if url.is_none() {
            eprintln!(
                "MariaDB tests skipped: TTPGRAPH_TEST_MYSQL_URL is not set \
                 (e.g. TTPGRAPH_TEST_MYSQL_URL=mysql://root@127.0.0.1:3306/test)"
            );
        }
        url
    })
    .clone()
}

/// Whether the slow suites run: `TTPGRAPH_SLOW=1` (`.ci/run` always sets it). They are
/// the stress sizes, the fault suites (private MariaDB servers, child processes, SIGKILL),
/// and the full fuzz case counts; the default run keeps to what a developer needs after
/// every edit. A skipped suite says so once.
pub fn slow(suite: &str) -> bool {
    let on = slow_on();
    if !on {
        eprintln!("skipped {suite}: a slow suite (TTPGRAPH_SLOW=1 runs it)");
    }
    on
}

/// `TTPGRAPH_SLOW=1` without the skip line: for suites that only scale down by default.
pub fn slow_on() -> bool {
    std::env::var("TTPGRAPH_SLOW").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// Connects to the test server, failing with a message that names the URL.
pub async fn mysql_admin(server: &str) -> MySqlPool {
    match MySqlPool::connect(server).await {
        Ok(p) => p,
        Err(e) => panic!(
            "TTPGRAPH_TEST_MYSQL_URL={server} is set but not reachable: {e} \
             (start MariaDB there, or unset the variable to skip the MariaDB tests)"
        ),
    }
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
    /// A fresh, migrated database on `backend`, or None (MySQL without a configured
    /// server). It is a copy of a template migrated once per test run (the SQLite file's
    /// bytes; on MariaDB every table, row and trigger of a template database), which is
    /// much cheaper than migrating each one; tests of the migrations themselves start
    /// from [`TestDb::empty`].
    pub async fn new(backend: Backend) -> Option<Self> {
        match backend {
            Backend::Sqlite => Some(Self::sqlite(Some(sqlite_template())).await),
            Backend::MySql => {
                let server = mysql_server_url()?;
                Self::mysql(Some(mysql_template(&server))).await
            }
        }
    }

    /// A fresh database holding the demo fleet `cfg`: a copy of a template filled once per
    /// test run and config (as [`TestDb::new`] copies the migrated one), so tests that read
    /// the same fleet pay for its fill once. Tests of the fill itself call `demo::fill`.
    pub async fn fleet(backend: Backend, cfg: &DemoConfig) -> Option<Self> {
        match backend {
            Backend::Sqlite => Some(Self::sqlite(Some(&sqlite_fleet(cfg))).await),
            Backend::MySql => {
                let server = mysql_server_url()?;
                Self::mysql(Some(&mysql_fleet(&server, cfg))).await
            }
        }
    }

    /// A fresh database without ttpgraph's migrations (to play DECNET's part).
    pub async fn empty(backend: Backend) -> Option<Self> {
        match backend {
            Backend::Sqlite => Some(Self::sqlite(None).await),
            Backend::MySql => Self::mysql(None).await,
        }
    }

    async fn sqlite(template: Option<&[u8]>) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("t.db");
        if let Some(bytes) = template {
            std::fs::write(&file, bytes).expect("copy the template");
        }
        let url = format!("sqlite://{}", file.display());
        let store = Store::connect(&url, &StoreOptions::default())
            .await
            .expect("open sqlite");
        Self {
            store,
            url,
            dialect: Dialect::Sqlite,
            _dir: Some(dir),
            mysql_admin: None,
        }
    }

    /// A fresh MariaDB database, a copy of `template` when given.
    async fn mysql(template: Option<&str>) -> Option<Self> {
        let server = mysql_server_url()?;
        let name = format!(
            "ttpg_t_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            rand::random::<u32>()
        );
        let admin = mysql_admin(&server).await;
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE `{name}`")))
            .execute(&admin)
            .await
            .expect("create test database");
        let url = with_database(&server, &name);
        if let Some(template) = template {
            copy_mysql_template(&admin, &url, template, &name).await;
        }
        admin.close().await;
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

/// Runs `f` to completion on a runtime of its own thread: the templates are made once
/// per process, whichever test's runtime asks first (a pool must not outlive its runtime).
fn on_own_runtime<T: Send + 'static>(
    f: impl std::future::Future<Output = T> + Send + 'static,
) -> T {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(f)
    })
    .join()
    .expect("template thread")
}

/// The bytes of a migrated, empty SQLite database (closed, so its WAL is checkpointed).
fn sqlite_template() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| {
        on_own_runtime(async {
            let dir = tempfile::tempdir().expect("temp dir");
            let file = dir.path().join("template.db");
            let url = format!("sqlite://{}", file.display());
            let store = Store::connect(&url, &StoreOptions::default())
                .await
                .expect("open the template");
            store.migrate().await.expect("migrate the template");
            store.close().await;
            std::fs::read(&file).expect("read the template")
        })
    })
}

/// A MariaDB database migrated once per process (`ttpg_tpl_<pid>_…`). Templates left by
/// earlier runs whose process is gone are dropped first (only those: other runs on the
/// same server keep theirs).
fn mysql_template(server: &str) -> &'static str {
    static NAME: OnceLock<String> = OnceLock::new();
    let server = server.to_owned();
    NAME.get_or_init(|| {
        on_own_runtime(async move {
            let admin = mysql_admin(&server).await;
            let old: Vec<String> = sqlx::query_scalar(
                "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE 'ttpg\\_tpl\\_%'",
            )
            .fetch_all(&admin)
            .await
            .expect("list templates");
            for db in old {
                let pid = db.split('_').nth(2).unwrap_or("");
                if !pid.is_empty() && !std::path::Path::new("/proc").join(pid).exists() {
                    let _ = sqlx::query(AssertSqlSafe(format!("DROP DATABASE IF EXISTS `{db}`")))
                        .execute(&admin)
                        .await;
                }
            }
            let name = format!("ttpg_tpl_{}_{}", std::process::id(), rand::random::<u32>());
            sqlx::query(AssertSqlSafe(format!("CREATE DATABASE `{name}`")))
                .execute(&admin)
                .await
                .expect("create the template");
            admin.close().await;
            let store = Store::connect(&with_database(&server, &name), &StoreOptions::default())
                .await
                .expect("open the template");
            store.migrate().await.expect("migrate the template");
            store.close().await;
            name
        })
    })
}

/// Values made once per process and key (the fleet templates).
type Templates<V> = Mutex<BTreeMap<String, Arc<OnceLock<V>>>>;

/// One value per key, made by the first caller of the process (later callers wait for it).
fn once_per_key<V: Clone>(cache: &Templates<V>, key: String, make: impl FnOnce() -> V) -> V {
    let slot = cache
        .lock()
        .expect("template cache")
        .entry(key)
        .or_default()
        .clone();
    slot.get_or_init(make).clone()
}

fn fleet_key(cfg: &DemoConfig) -> String {
    format!("{}-{}-{}-{}", cfg.seed, cfg.attackers, cfg.tags, cfg.batch)
}

/// The bytes of a migrated SQLite database holding the demo fleet `cfg`.
fn sqlite_fleet(cfg: &DemoConfig) -> Arc<Vec<u8>> {
    static FLEETS: Templates<Arc<Vec<u8>>> = Mutex::new(BTreeMap::new());
    let cfg = cfg.clone();
    once_per_key(&FLEETS, fleet_key(&cfg), || {
        on_own_runtime(async move {
            let dir = tempfile::tempdir().expect("temp dir");
            let file = dir.path().join("fleet.db");
            std::fs::write(&file, sqlite_template()).expect("copy the template");
            let store = Store::connect(
                &format!("sqlite://{}", file.display()),
                &StoreOptions::default(),
            )
            .await
            .expect("open the fleet template");
            fill(&store, &cfg, |_| {}).await.expect("demo fleet");
            store.close().await;
            Arc::new(std::fs::read(&file).expect("read the fleet template"))
        })
    })
}

/// A MariaDB template database (named like [`mysql_template`]'s, so a later run drops it)
/// holding the demo fleet `cfg`.
fn mysql_fleet(server: &str, cfg: &DemoConfig) -> String {
    static FLEETS: Templates<String> = Mutex::new(BTreeMap::new());
    let (server, cfg) = (server.to_owned(), cfg.clone());
    once_per_key(&FLEETS, fleet_key(&cfg), || {
        on_own_runtime(async move {
            let migrated = mysql_template(&server);
            let admin = mysql_admin(&server).await;
            let name = format!("ttpg_tpl_{}_{}", std::process::id(), rand::random::<u32>());
            sqlx::query(AssertSqlSafe(format!("CREATE DATABASE `{name}`")))
                .execute(&admin)
                .await
                .expect("create the fleet template");
            let url = with_database(&server, &name);
            copy_mysql_template(&admin, &url, migrated, &name).await;
            admin.close().await;
            let store = Store::connect(&url, &StoreOptions::default())
                .await
                .expect("open the fleet template");
            fill(&store, &cfg, |_| {}).await.expect("demo fleet");
            store.close().await;
            name
        })
    })
}

/// Recreates every table (`SHOW CREATE TABLE`: columns, keys, checks, collations), row and
/// trigger of `template` in the empty database `name` (at `url`). The template never
/// changes once made, so its DDL is read once per process: a copy runs the statements,
/// without the `SHOW CREATE …` and `information_schema` look-ups of each, one statement at
/// a time on one connection (each error names its own statement).
async fn copy_mysql_template(admin: &MySqlPool, url: &str, template: &str, name: &str) {
    use sqlx::Connection;
    static RECIPES: Templates<Arc<Vec<String>>> = Mutex::new(BTreeMap::new());
    let slot = RECIPES
        .lock()
        .expect("recipes")
        .entry(template.to_owned())
        .or_default()
        .clone();
    let recipe = match slot.get() {
        Some(r) => r.clone(),
        None => {
            let r = Arc::new(template_recipe(admin, template).await);
            slot.get_or_init(|| r).clone()
        }
    };
    let mut conn = sqlx::mysql::MySqlConnection::connect(url)
        .await
        .expect("connect to the copy");
    for statement in recipe.iter() {
        let sql = statement
            .replace("{{TEMPLATE}}", template)
            .replace("{{NAME}}", name);
        sqlx::raw_sql(AssertSqlSafe(sql))
            .execute(&mut conn)
            .await
            .expect("copy the template");
    }
    let _ = conn.close().await;
}

/// The statements that rebuild `template` in another database, with `{{TEMPLATE}}` and
/// `{{NAME}}` for the two database names: each table's DDL, an `INSERT … SELECT` for the
/// tables that hold rows, then each trigger's DDL.
async fn template_recipe(admin: &MySqlPool, template: &str) -> Vec<String> {
    use sqlx::Row;
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name FROM information_schema.tables \
         WHERE table_schema = ? AND table_type = 'BASE TABLE' ORDER BY table_name",
    )
    .bind(template)
    .fetch_all(admin)
    .await
    .expect("template tables");
    let mut out = Vec::new();
    for t in &tables {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SHOW CREATE TABLE `{template}`.`{t}`"
        )))
        .fetch_one(admin)
        .await
        .expect("show create table");
        out.push(row.try_get::<String, _>(1).expect("DDL"));
        let has_rows: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT EXISTS (SELECT 1 FROM `{template}`.`{t}`)"
        )))
        .fetch_one(admin)
        .await
        .expect("has rows");
        if has_rows != 0 {
            out.push(format!(
                "INSERT INTO `{{{{NAME}}}}`.`{t}` SELECT * FROM `{{{{TEMPLATE}}}}`.`{t}`"
            ));
        }
    }
    let triggers: Vec<String> = sqlx::query_scalar(
        "SELECT trigger_name FROM information_schema.triggers WHERE trigger_schema = ? \
         ORDER BY event_object_table, action_timing, event_manipulation, action_order",
    )
    .bind(template)
    .fetch_all(admin)
    .await
    .expect("template triggers");
    for t in &triggers {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SHOW CREATE TRIGGER `{template}`.`{t}`"
        )))
        .fetch_one(admin)
        .await
        .expect("show create trigger");
        out.push(
            row.try_get::<String, _>("SQL Original Statement")
                .expect("trigger DDL"),
        );
    }
    out
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
/// `contract!(name, |db| async move { … });` → `name::sqlite` and `name::mysql`;
/// `contract!(name, fleet: CFG, |db| …)` starts both from a copy of the demo fleet `CFG`.
#[macro_export]
macro_rules! contract {
    ($name:ident, |$db:ident| $body:expr) => {
        $crate::contract!(@make $name, |b| $crate::support::TestDb::new(b), |$db| $body);
    };
    // The same test over a copy of the demo fleet `$cfg` (see `TestDb::fleet`).
    ($name:ident, fleet: $cfg:expr, |$db:ident| $body:expr) => {
        $crate::contract!(@make $name, |b| $crate::support::TestDb::fleet(b, &$cfg), |$db| $body);
    };
    (@make $name:ident, |$b:ident| $make:expr, |$db:ident| $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let $b = $crate::support::Backend::Sqlite;
                let Some($db) = $make.await else {
                    return;
                };
                $body.await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn mysql() {
                let $b = $crate::support::Backend::MySql;
                let Some($db) = $make.await else {
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
