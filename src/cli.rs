//! Command line: `serve`, `migrate`, `demo`, `schema`, `user add`, `token`. Each command
//! is a thin shell over the library.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};

use crate::auth::users::{create_user, mint_for_username};
use crate::auth::{Authenticator, JwtSecret, Role, check_listen};
use crate::config::{
    HttpOptions, Limits, LiveOptions, SchemaOptions, Secret, ServeOptions, ServerConfig,
    jwt_secret, parse_duration, parse_listen, redact_url,
};
use crate::demo::{DemoConfig, Shape, fill_shaped};
use crate::store::{SQLITE_CACHE_KIB, Store, StoreOptions};

#[derive(Debug, Parser)]
#[command(
    name = "ttpgraph",
    version,
    about = "GraphQL API for DECNET's MITRE ATT&CK technique tags"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Config file (TOML; keys are the long flags: `listen = "0.0.0.0:8080"`). Flags and
    /// environment variables override it [default: ./ttpgraph.toml when it exists]
    #[arg(long, global = true, env = "TTPGRAPH_CONFIG", value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,
    /// Log lines as `text` (coloured on a terminal) or `json` (one object per line).
    #[arg(long, global = true, env = "TTPGRAPH_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    pub log_format: String,
    /// Log filter (tracing's EnvFilter syntax, e.g. `info,sqlx=warn,ttpgraph::access=off`).
    #[arg(
        long,
        global = true,
        env = "TTPGRAPH_LOG",
        default_value = "info,sqlx=warn"
    )]
    pub log: String,
}

#[derive(Debug, Subcommand)]
// Parsed once at start: the size of the serve flags does not matter.
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// Serve the API.
    Serve(ServeArgs),
    /// Create or update the database schema and say what was applied, then exit
    /// (`--uninstall` removes everything ttpgraph added instead).
    Migrate(MigrateArgs),
    /// Fill the database with a deterministic, realistic demo fleet.
    Demo(DemoArgs),
    /// Print the GraphQL schema (SDL); `ttpgraph schema > schema.graphql` regenerates it.
    Schema,
    /// Manage users in DECNET's `users` table (for deployments without DECNET's dashboard).
    #[command(subcommand)]
    User(UserCommand),
    /// Mint a DECNET access token for a user (as DECNET's login does) and print it.
    Token(TokenArgs),
    /// Print the effective configuration of `serve` (takes the same flags), each value
    /// with its source (flag, environment, config file, default); secrets are redacted.
    Config(ServeArgs),
    /// Check the deployment (database, privileges, migrations, summaries, clock, secret)
    /// and print a verdict per check; exits non-zero when a check fails.
    Doctor(crate::doctor::DoctorArgs),
}

#[derive(Debug, Clone, Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Remove every trigger, summary table and index ttpgraph added (and its migration
    /// bookkeeping), leaving DECNET's tables and data as they are.
    #[arg(long)]
    pub uninstall: bool,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user. It has no password (ttpgraph has no login endpoint; DECNET users log
    /// in through DECNET): get it a token with `ttpgraph token`.
    Add(UserAddArgs),
}

#[derive(Debug, Clone, Args)]
pub struct UserAddArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// The new user's name (unique).
    #[arg(long)]
    pub username: String,
    /// `viewer` (reads) or `admin` (reads and insertTags).
    #[arg(long, value_name = "viewer|admin", value_parser = parse_role)]
    pub role: Role,
}

#[derive(Debug, Clone, Args)]
pub struct TokenArgs {
    #[command(flatten)]
    pub db: DbArgs,
    #[command(flatten)]
    pub auth: AuthArgs,
    /// Whose token: a username in the `users` table.
    #[arg(long)]
    pub username: String,
    /// How long the token is valid (`90s`, `15m`, `1h`, `7d`).
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    pub ttl: Duration,
}

#[derive(Clone, Args)]
pub struct AuthArgs {
    /// HS256 secret of DECNET's tokens, at least 32 bytes. Prefer the environment: a flag
    /// shows in the process list [env: TTPGRAPH_JWT_SECRET, then DECNET_JWT_SECRET; without
    /// one, `serve` runs without authentication, on a loopback address only]
    #[arg(
        long,
        env = "TTPGRAPH_JWT_SECRET",
        hide_env = true,
        hide_env_values = true
    )]
    pub jwt_secret: Option<String>,
}

impl std::fmt::Debug for AuthArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthArgs")
            .field("jwt_secret", &self.jwt_secret.as_ref().map(|_| "***"))
            .finish()
    }
}

impl AuthArgs {
    /// The configured secret (flag, `TTPGRAPH_JWT_SECRET`, `DECNET_JWT_SECRET`), checked;
    /// `None` when none is set, an error when one is set but blank.
    pub fn secret(&self) -> Result<Option<JwtSecret>, AnyError> {
        match jwt_secret(self.jwt_secret.as_deref())? {
            Some(s) => Ok(Some(JwtSecret::new(&s)?)),
            None => Ok(None),
        }
    }
}

/// Who may read `/metrics`, and where.
#[derive(Clone, Args)]
pub struct MetricsArgs {
    /// Serve `/metrics` only to `Authorization: Bearer <token>` (prefer the environment).
    #[arg(long, env = "TTPGRAPH_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// Serve `/metrics` (and the probes) on this address instead of the main one, e.g. a
    /// private interface for the scraper.
    #[arg(long, env = "TTPGRAPH_METRICS_LISTEN", value_parser = parse_listen)]
    pub metrics_listen: Option<std::net::SocketAddr>,
}

impl std::fmt::Debug for MetricsArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsArgs")
            .field("metrics_token", &self.metrics_token.as_ref().map(|_| "***"))
            .field("metrics_listen", &self.metrics_listen)
            .finish()
    }
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| format!("{s:?} is not a role: use viewer or admin"))
}

#[derive(Debug, Clone, Args)]
pub struct DbArgs {
    /// `sqlite://path`, a file path, or `mysql://user:pass@host/db` [env: TTPGRAPH_DATABASE_URL, then
    /// DATABASE_URL; default: sqlite://./ttpgraph.db]
    #[arg(long, env = "TTPGRAPH_DATABASE_URL", hide_env = true)]
    pub database_url: Option<String>,
    /// Database connection pool size [default: 8 on SQLite, 16 on MySQL].
    #[arg(long, env = "TTPGRAPH_DB_POOL")]
    pub db_pool: Option<u32>,
    /// SQLite page cache per pooled connection, in KiB (each connection keeps its own
    /// copy of the pages it read; the OS page cache holds them too) [default: 8192].
    #[arg(long, env = "TTPGRAPH_SQLITE_CACHE_KIB")]
    pub sqlite_cache_kib: Option<u32>,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Address to listen on: IP:PORT (`0.0.0.0:8080` for every interface), or a bare
    /// port / `localhost:PORT` for this machine only.
    #[arg(long, env = "TTPGRAPH_LISTEN", default_value = "127.0.0.1:8080", value_parser = parse_listen)]
    pub listen: std::net::SocketAddr,
    /// Fill an empty database with the default demo fleet before serving.
    #[arg(long)]
    pub demo: bool,
    /// Do not serve GraphiQL on `GET /`.
    #[arg(long, env = "TTPGRAPH_NO_GRAPHIQL")]
    pub no_graphiql: bool,
    /// Send every answer as it is, even to clients that accept gzip (for a proxy in
    /// front that compresses).
    #[arg(long, env = "TTPGRAPH_NO_COMPRESSION")]
    pub no_compression: bool,
    /// Turn GraphQL introspection off (production deployments that publish no schema).
    #[arg(long, env = "TTPGRAPH_NO_INTROSPECTION")]
    pub no_introspection: bool,
    /// Origin allowed cross-origin access (repeatable); none means same-origin only.
    #[arg(
        long = "cors-origin",
        env = "TTPGRAPH_CORS_ORIGINS",
        value_delimiter = ',',
        value_parser = crate::http::layers::normalise_origin
    )]
    pub cors_origins: Vec<String>,
    #[command(flatten)]
    pub limits: LimitArgs,
    #[command(flatten)]
    pub live: LiveArgs,
    #[command(flatten)]
    pub auth: AuthArgs,
    #[command(flatten)]
    pub metrics: MetricsArgs,
    /// How long user and revoked-token look-ups are cached (`0` disables the cache). A
    /// logout or role change in DECNET takes up to this long to apply here.
    #[arg(long, env = "TTPGRAPH_AUTH_CACHE_TTL", default_value = "10s", value_parser = parse_duration)]
    pub auth_cache_ttl: Duration,
    /// After SIGTERM or Ctrl-C, how long in-flight requests may take to finish before the
    /// connections still open are closed and the process exits.
    #[arg(long, env = "TTPGRAPH_SHUTDOWN_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub shutdown_timeout: Duration,
}

/// Live updates: subscriptions, event streams and the change feed (defaults in
/// [`crate::config::LiveOptions`]).
#[derive(Debug, Clone, Args)]
pub struct LiveArgs {
    /// How often this instance reads the change feed (while anybody subscribes).
    #[arg(long, env = "TTPGRAPH_LIVE_POLL", default_value = "250ms", value_parser = parse_duration)]
    pub live_poll: Duration,
    /// How long the tail waits for a sequence number a MySQL writer has not committed yet.
    #[arg(long, env = "TTPGRAPH_LIVE_GAP_WAIT", default_value = "5s", value_parser = parse_duration)]
    pub live_gap_wait: Duration,
    /// Events a subscriber may fall behind before it is closed (SLOW_CONSUMER, resumable).
    #[arg(long, env = "TTPGRAPH_LIVE_BUFFER", default_value_t = 1024)]
    pub live_buffer: usize,
    /// Subscriptions per WebSocket connection.
    #[arg(long, env = "TTPGRAPH_LIVE_MAX_SUBSCRIPTIONS", default_value_t = 16)]
    pub live_max_subscriptions: usize,
    /// Live connections (WebSocket and event streams) per user.
    #[arg(long, env = "TTPGRAPH_LIVE_MAX_CONNECTIONS", default_value_t = 32)]
    pub live_max_connections: usize,
    /// Server ping / keep-alive comment interval.
    #[arg(long, env = "TTPGRAPH_LIVE_KEEPALIVE", default_value = "15s", value_parser = parse_duration)]
    pub live_keepalive: Duration,
    /// Change-feed rows older than this are pruned.
    #[arg(long, env = "TTPGRAPH_LIVE_RETENTION", default_value = "24h", value_parser = parse_duration)]
    pub live_retention: Duration,
    /// At most about this many change-feed rows are kept.
    #[arg(
        long,
        env = "TTPGRAPH_LIVE_RETENTION_ROWS",
        default_value_t = 1_000_000
    )]
    pub live_retention_rows: u64,
}

/// Query and transport limits (defaults in [`crate::config::Limits`] and
/// [`crate::http::HttpOptions`]).
#[derive(Debug, Clone, Args)]
pub struct LimitArgs {
    /// Deepest selection nesting.
    #[arg(long, env = "TTPGRAPH_MAX_DEPTH", default_value_t = Limits::default().max_depth)]
    pub max_depth: usize,
    /// Largest query cost (list fields cost their page size times their children).
    #[arg(long, env = "TTPGRAPH_MAX_COMPLEXITY", default_value_t = Limits::default().max_complexity)]
    pub max_complexity: usize,
    /// Most fields a query may select once its fragments are expanded.
    #[arg(long, env = "TTPGRAPH_MAX_EXPANDED_FIELDS", default_value_t = Limits::default().max_expanded_fields)]
    pub max_expanded_fields: usize,
    /// Most aliases in a query.
    #[arg(long, env = "TTPGRAPH_MAX_ALIASES", default_value_t = Limits::default().max_aliases)]
    pub max_aliases: usize,
    /// Most root fields in an operation.
    #[arg(long, env = "TTPGRAPH_MAX_ROOT_FIELDS", default_value_t = Limits::default().max_root_fields)]
    pub max_root_fields: usize,
    /// Largest page (`first:`) of a list.
    #[arg(long, env = "TTPGRAPH_MAX_PAGE_SIZE", default_value_t = Limits::default().max_page_size)]
    pub max_page_size: usize,
    /// Execution deadline of one request, in milliseconds.
    #[arg(long, env = "TTPGRAPH_REQUEST_TIMEOUT_MS", default_value_t = Limits::default().request_timeout.as_millis() as u64)]
    pub request_timeout_ms: u64,
    /// Largest response body in bytes; larger answers become a RESPONSE_TOO_LARGE error.
    #[arg(long, env = "TTPGRAPH_MAX_RESPONSE_BYTES", default_value_t = Limits::default().max_response_bytes)]
    pub max_response_bytes: usize,
    /// Largest request body in bytes.
    #[arg(long, env = "TTPGRAPH_MAX_BODY_BYTES", default_value_t = HttpOptions::default().max_body_bytes)]
    pub max_body_bytes: usize,
    /// Largest request body from an admin (insertTags batches), in bytes.
    #[arg(long, env = "TTPGRAPH_MAX_WRITE_BODY_BYTES", default_value_t = HttpOptions::default().max_write_body_bytes)]
    pub max_write_body_bytes: usize,
    /// Admin requests with a large body (insert batches) read and executed at once;
    /// more wait unread.
    #[arg(long, env = "TTPGRAPH_MAX_CONCURRENT_WRITES", default_value_t = HttpOptions::default().max_concurrent_writes)]
    pub max_concurrent_writes: usize,
    /// GraphQL requests executing at once; more are refused with 503.
    #[arg(long, env = "TTPGRAPH_MAX_CONCURRENCY", default_value_t = HttpOptions::default().max_concurrent_requests)]
    pub max_concurrency: usize,
    /// Request bodies being received at once; more are refused with 503 [default: 4 ×
    /// --max-concurrency].
    #[arg(long, env = "TTPGRAPH_MAX_BODY_READS")]
    pub max_body_reads: Option<usize>,
    /// Time a client has to send a request body, in milliseconds; then 408.
    #[arg(long, env = "TTPGRAPH_BODY_READ_TIMEOUT_MS", default_value_t = HttpOptions::default().body_read_timeout.as_millis() as u64)]
    pub body_read_timeout_ms: u64,
    /// Time a client has to send a request's headers, in milliseconds; then the
    /// connection is closed.
    #[arg(long, env = "TTPGRAPH_HEADER_READ_TIMEOUT_MS", default_value_t = ServeOptions::default().header_read_timeout.as_millis() as u64)]
    pub header_read_timeout_ms: u64,
    /// Largest JSON batch of queries; 0 (default) refuses batches.
    #[arg(long, env = "TTPGRAPH_MAX_BATCH", default_value_t = 0)]
    pub max_batch: usize,
    /// MiB of answers to identical queries kept while the database is unchanged (exact:
    /// any commit to the tables read invalidates them; not for in-memory SQLite); 0 turns
    /// the cache off.
    #[arg(long, env = "TTPGRAPH_RESPONSE_CACHE_MIB", default_value_t = HttpOptions::default().response_cache_bytes >> 20)]
    pub response_cache_mib: usize,
}

impl ServeArgs {
    /// The schema's options from the flags.
    pub fn schema_options(&self) -> SchemaOptions {
        let l = &self.limits;
        SchemaOptions {
            limits: Limits {
                max_depth: l.max_depth,
                max_complexity: l.max_complexity,
                max_expanded_fields: l.max_expanded_fields,
                max_aliases: l.max_aliases,
                max_root_fields: l.max_root_fields,
                max_page_size: l.max_page_size.max(1),
                request_timeout: Duration::from_millis(l.request_timeout_ms.max(1)),
                max_response_bytes: l.max_response_bytes.max(1024),
                ..Limits::default()
            },
            disable_introspection: self.no_introspection,
        }
    }

    /// The HTTP options from the flags.
    pub fn http_options(&self) -> HttpOptions {
        HttpOptions {
            graphiql: !self.no_graphiql,
            max_body_bytes: self.limits.max_body_bytes,
            max_write_body_bytes: self.limits.max_write_body_bytes,
            max_concurrent_writes: self.limits.max_concurrent_writes.max(1),
            max_concurrent_requests: self.limits.max_concurrency.max(1),
            // 0 would mean "derived" to HttpOptions: an explicit 0 is 1.
            max_body_reads: self.limits.max_body_reads.map_or(0, |n| n.max(1)),
            body_read_timeout: Duration::from_millis(self.limits.body_read_timeout_ms.max(1)),
            max_batch: self.limits.max_batch,
            cors_origins: self.cors_origins.clone(),
            metrics_token: self
                .metrics
                .metrics_token
                .as_deref()
                .filter(|t| !t.is_empty())
                .map(Secret::new),
            live: self.live_options(),
            response_cache_bytes: self.limits.response_cache_mib.saturating_mul(1 << 20),
            compression: !self.no_compression,
        }
    }

    /// The live-update options from the flags.
    pub fn live_options(&self) -> LiveOptions {
        let l = &self.live;
        LiveOptions {
            poll_interval: l.live_poll.max(Duration::from_millis(10)),
            gap_wait: l.live_gap_wait,
            buffer: l.live_buffer.max(1),
            max_subscriptions_per_connection: l.live_max_subscriptions.max(1),
            max_connections_per_principal: l.live_max_connections.max(1),
            keepalive: l.live_keepalive.max(Duration::from_secs(1)),
            auth_recheck: self.auth_cache_ttl.max(Duration::from_secs(1)),
            retention_age: l.live_retention,
            retention_rows: l.live_retention_rows,
            ..LiveOptions::default()
        }
    }

    /// The server's whole configuration from the flags.
    pub fn server_config(&self) -> ServerConfig {
        ServerConfig {
            listen: self.listen,
            schema: self.schema_options(),
            http: self.http_options(),
            serve: self.serve_options(),
            metrics_listen: self.metrics.metrics_listen,
        }
    }

    /// The connection options from the flags.
    pub fn serve_options(&self) -> ServeOptions {
        ServeOptions {
            header_read_timeout: Duration::from_millis(self.limits.header_read_timeout_ms.max(1)),
            shutdown_timeout: self.shutdown_timeout,
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Random seed: the same seed and sizes give the same fleet.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Number of attackers (IPs); identities and campaigns follow (÷3, ÷10).
    #[arg(long, default_value_t = 300)]
    pub attackers: usize,
    /// Number of tags to generate.
    #[arg(long, default_value_t = 20_000)]
    pub tags: usize,
    /// Tags per insert call.
    #[arg(long, default_value_t = 5_000)]
    pub batch: usize,
    /// How the fleet is distributed: `demo` (the default fleet) or `decnet` (DECNET's
    /// reference shape: identities of hundreds of attackers, campaigns of many
    /// identities, attackers moved and identities merged after tagging).
    #[arg(long, value_enum, default_value_t = Shape::Demo)]
    pub shape: Shape,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Add the fleet even when the database already holds data (by default a non-empty
    /// database, such as DECNET's production one, is refused).
    #[arg(long)]
    pub force: bool,
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let loaded = match crate::settings::load(std::env::args_os().collect()) {
        Ok(l) => l,
        Err(crate::settings::LoadError::Clap(e)) => e.exit(),
        Err(crate::settings::LoadError::File(e)) => {
            eprintln!("ttpgraph: {e}");
            return ExitCode::from(2);
        }
    };
    init_tracing(&loaded.cli.log, &loaded.cli.log_format);
    if matches!(loaded.cli.command, Command::Config(_)) {
        print!("{}", crate::settings::report(&loaded));
        return ExitCode::SUCCESS;
    }
    let cli = loaded.cli;
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ttpgraph: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ttpgraph: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr: JSON lines (`--log-format json`), or text, coloured only when
/// stderr is a terminal (and `NO_COLOR` is unset), so files and journald get no escapes.
fn init_tracing(filter: &str, format: &str) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|e| {
        eprintln!("ttpgraph: ignoring the log filter {filter:?} ({e}); using info,sqlx=warn");
        EnvFilter::new("info,sqlx=warn")
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if format == "json" {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
    } else {
        let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        builder.with_ansi(ansi).try_init()
    };
}

type AnyError = Box<dyn std::error::Error + Send + Sync>;

async fn open(db: &DbArgs) -> Result<Store, AnyError> {
    open_with(db, None).await.map(|(store, _)| store)
}

/// How long commands wait for a database that is starting.
const DATABASE_WAIT: Duration = Duration::from_secs(60);

/// Opens the database, waits for it and migrates; `statement_timeout` bounds each MySQL
/// statement (the server's request deadline, so abandoned requests stop costing the
/// database).
async fn open_with(
    db: &DbArgs,
    statement_timeout: Option<Duration>,
) -> Result<(Store, crate::store::MigrationReport), AnyError> {
    let store = connect(db, statement_timeout).await?;
    let report = store.wait_ready(DATABASE_WAIT).await?;
    tracing::info!("{}", report.summary());
    Ok((store, report))
}

/// Opens the pool only (no waiting, no migration); logs where the URL came from.
pub(crate) async fn connect(
    db: &DbArgs,
    statement_timeout: Option<Duration>,
) -> Result<Store, AnyError> {
    let (url, source) = crate::config::database_url_with_source(db.database_url.as_deref());
    if source == crate::config::UrlSource::InheritedDatabaseUrl {
        tracing::warn!(
            database = %redact_url(&url),
            "using DATABASE_URL inherited from the environment (neither --database-url nor \
             TTPGRAPH_DATABASE_URL is set); set TTPGRAPH_DATABASE_URL to choose explicitly"
        );
    }
    tracing::info!(database = %redact_url(&url), source = source.describe(), "opening database");
    Ok(Store::connect(
        &url,
        &StoreOptions {
            max_connections: db.db_pool,
            statement_timeout,
            sqlite_cache_kib: db.sqlite_cache_kib.unwrap_or(SQLITE_CACHE_KIB).max(64),
            ..StoreOptions::default()
        },
    )
    .await?)
}

pub async fn run(cli: Cli) -> Result<(), AnyError> {
    match cli.command {
        Command::Config(_) => Ok(()),
        Command::Schema => {
            print!("{}", crate::graphql::sdl());
            Ok(())
        }
        Command::Migrate(args) if args.uninstall => {
            let store = connect(&args.db, None).await?;
            let r = store.uninstall().await;
            store.close().await;
            let removed = r?;
            if removed.is_empty() {
                println!("nothing to remove: no ttpgraph object in this database");
            } else {
                println!(
                    "removed {} ttpgraph objects ({}); DECNET's tables and data are untouched",
                    removed.len(),
                    removed.join(", ")
                );
            }
            Ok(())
        }
        Command::Migrate(args) => {
            let (store, report) = open_with(&args.db, None).await?;
            store.close().await;
            println!("{}", report.summary());
            Ok(())
        }
        Command::Doctor(args) => crate::doctor::run(&args).await,
        Command::Demo(args) => {
            let store = open(&args.db).await?;
            if let Err(e) = crate::demo::refuse_unless_empty(&store, args.force).await {
                store.close().await;
                return Err(e.into());
            }
            let cfg = DemoConfig {
                seed: args.seed,
                attackers: args.attackers,
                tags: args.tags,
                batch: args.batch.max(1),
            };
            run_demo(&store, &cfg, args.shape, args.quiet).await?;
            store.close().await;
            Ok(())
        }
        Command::Serve(args) => {
            // Both checks come before anything is opened or bound.
            let secret = args.auth.secret()?;
            check_listen(args.listen, secret.is_some())?;
            let deadline = args.schema_options().limits.request_timeout;
            let store = connect(&args.db, Some(deadline + Duration::from_secs(1))).await?;
            let auth = match secret {
                Some(secret) => Authenticator::jwt(store.clone(), secret, args.auth_cache_ttl),
                None => {
                    tracing::warn!(
                        "authentication is OFF: no JWT secret (--jwt-secret, TTPGRAPH_JWT_SECRET or \
                         DECNET_JWT_SECRET), so every request is served as an anonymous admin; \
                         this is for local development only and is allowed on loopback only"
                    );
                    Authenticator::open()
                }
            };
            // Listen first; `/readyz` says what start-up waits for until it is done.
            let readiness = crate::http::Readiness::starting("waiting for the database");
            let startup = {
                let (store, readiness, demo) = (store.clone(), readiness.clone(), args.demo);
                let live_opts = args.live_options();
                async move {
                    let report = store.wait_ready(DATABASE_WAIT).await?;
                    tracing::info!("{}", report.summary());
                    if demo && store.is_empty().await? {
                        readiness.set_starting("filling the demo fleet");
                        run_demo(&store, &DemoConfig::default(), Shape::Demo, false).await?;
                    }
                    // Deletes (by DECNET's retention jobs, say) leave summary groups dirty;
                    // the change feed stays bounded whether or not anybody subscribes.
                    Ok::<_, AnyError>((
                        AbortOnDrop(store.spawn_summary_refresh(Duration::from_secs(5))),
                        AbortOnDrop(crate::live::spawn_pruner(store.clone(), live_opts)),
                    ))
                }
            };
            crate::http::serve_while_starting(store, args.server_config(), auth, readiness, startup)
                .await
        }
        Command::User(UserCommand::Add(args)) => {
            let store = open(&args.db).await?;
            let r = create_user(&store, &args.username, args.role).await;
            store.close().await;
            let user = r?;
            println!(
                "created {} user {} (uuid {}); mint a token with `ttpgraph token --username {}`",
                user.role, user.username, user.uuid, user.username
            );
            Ok(())
        }
        Command::Token(args) => {
            let Some(secret) = args.auth.secret()? else {
                return Err("no JWT secret: set --jwt-secret, TTPGRAPH_JWT_SECRET or \
                            DECNET_JWT_SECRET to the secret the server uses"
                    .into());
            };
            let store = open(&args.db).await?;
            let r = mint_for_username(&store, &secret, &args.username, args.ttl).await;
            store.close().await;
            let (user, token) = r?;
            if user.must_change_password {
                eprintln!(
                    "warning: {} must change their password in DECNET; until then this token gets 403",
                    user.username
                );
            }
            if Role::parse(&user.role).is_none() {
                eprintln!(
                    "warning: {} has the role {:?}, which is neither viewer nor admin; this token gets 403",
                    user.username, user.role
                );
            }
            println!("{token}");
            Ok(())
        }
    }
}

/// Stops a background task when the server stops.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn run_demo(
    store: &Store,
    cfg: &DemoConfig,
    shape: Shape,
    quiet: bool,
) -> Result<(), AnyError> {
    let bar = if quiet {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(cfg.tags as u64)
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} demo fleet [{bar:40}] {pos}/{len} tags ({per_sec}, {eta})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let started = Instant::now();
    let s = fill_shaped(store, cfg, shape, |n| bar.set_position(n)).await?;
    bar.finish_and_clear();
    println!(
        "demo fleet: {} attackers, {} identities, {} campaigns, {} sessions; {} tags generated, {} inserted, {} under the confidence floor ({:.1?})",
        s.attackers,
        s.identities,
        s.campaigns,
        s.sessions,
        s.tags_generated,
        s.tags_inserted,
        s.tags_below_floor,
        started.elapsed()
    );
    if shape == Shape::Decnet {
        println!(
            "re-clustered: {} attackers moved, {} identities merged",
            s.reclustered.attackers_moved, s.reclustered.identities_merged
        );
    }
    Ok(())
}
