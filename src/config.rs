//! Where ttpgraph finds its database and how it is tuned: flags first, then environment.
//! This module is the bottom of the layer stack: it imports no other ttpgraph module, so
//! the CLI builds a [`ServerConfig`] here and hands it down to `http::serve`.

use std::net::SocketAddr;
use std::time::Duration;

/// The database used when neither a flag nor the environment names one.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://./ttpgraph.db";

/// Resolves the database URL: the flag (clap also reads `TTPGRAPH_DATABASE_URL` into it),
/// then `DATABASE_URL`, then the default SQLite file.
pub fn database_url(flag: Option<&str>) -> String {
    flag.map(str::to_owned)
        .or_else(|| {
            std::env::var("DATABASE_URL")
                .ok()
                .filter(|s| !s.trim().is_empty())
        })
        .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned())
}

/// Where the database URL came from, for the log: a `DATABASE_URL` inherited from the
/// environment (set for some other program, say) is easy to miss.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlSource {
    /// `--database-url` or `TTPGRAPH_DATABASE_URL`.
    Flag,
    TtpgraphEnv,
    InheritedDatabaseUrl,
    Default,
}

impl UrlSource {
    pub fn describe(self) -> &'static str {
        match self {
            UrlSource::Flag => "--database-url",
            UrlSource::TtpgraphEnv => "TTPGRAPH_DATABASE_URL",
            UrlSource::InheritedDatabaseUrl => "DATABASE_URL (inherited from the environment)",
            UrlSource::Default => "default",
        }
    }
}

/// [`database_url`] and where it came from.
pub fn database_url_with_source(flag: Option<&str>) -> (String, UrlSource) {
    let url = database_url(flag);
    let source = match flag {
        Some(f) if std::env::var("TTPGRAPH_DATABASE_URL").ok().as_deref() == Some(f) => {
            UrlSource::TtpgraphEnv
        }
        Some(_) => UrlSource::Flag,
        None if url == DEFAULT_DATABASE_URL
            && std::env::var("DATABASE_URL").ok().as_deref() != Some(DEFAULT_DATABASE_URL) =>
        {
            UrlSource::Default
        }
        None => UrlSource::InheritedDatabaseUrl,
    };
    (url, source)
}

/// Resolves the JWT secret: the flag (clap also reads `TTPGRAPH_JWT_SECRET` into it), then
/// DECNET's own `DECNET_JWT_SECRET`, so a ttpgraph next to DECNET needs no extra setting.
/// `None` means no authentication (open, loopback only). A secret that is set but empty
/// or blank is an error: it used to turn authentication off without a word.
pub fn jwt_secret(flag: Option<&str>) -> Result<Option<String>, String> {
    let env = |name| std::env::var(name).ok();
    resolve_jwt_secret([
        (
            "--jwt-secret (or TTPGRAPH_JWT_SECRET)",
            flag.map(str::to_owned),
        ),
        // clap drops an empty variable instead of passing it as the flag's value.
        ("TTPGRAPH_JWT_SECRET", env("TTPGRAPH_JWT_SECRET")),
        ("DECNET_JWT_SECRET", env("DECNET_JWT_SECRET")),
    ])
}

/// The first source that is set, in order; an error if that one is blank.
fn resolve_jwt_secret<const N: usize>(
    sources: [(&str, Option<String>); N],
) -> Result<Option<String>, String> {
    match sources.into_iter().find_map(|(name, v)| Some((name, v?))) {
        None => Ok(None),
        Some((name, v)) if v.trim().is_empty() => Err(format!(
            "{name} is set but empty: give it the secret, or unset it to run without \
             authentication (on a loopback address only)"
        )),
        Some((_, v)) => Ok(Some(v)),
    }
}

/// A listening address: `IP:PORT` (`0.0.0.0:8080`, `[::]:8080`), or, for this machine
/// only, a bare `PORT` or `localhost:PORT` (both 127.0.0.1). Host names are refused with
/// the address to write instead: a name can resolve to several addresses, or to none.
pub fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    let s = s.trim();
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let port = |p: &str| {
        p.parse::<u16>().map_err(|_| {
            format!("{p:?} is not a port (0-65535); write IP:PORT such as 127.0.0.1:8080")
        })
    };
    if s.bytes().all(|b| b.is_ascii_digit()) && !s.is_empty() {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port(s)?)));
    }
    match s.rsplit_once(':') {
        Some((host, p)) if host.eq_ignore_ascii_case("localhost") => {
            Ok(SocketAddr::from(([127, 0, 0, 1], port(p)?)))
        }
        Some(("" | "*", p)) => Err(format!(
            "{s:?} names no address: write 0.0.0.0:{p} for every interface, or              127.0.0.1:{p} for this machine only"
        )),
        Some((host, p)) => Err(format!(
            "{host:?} is not an IP address: write IP:PORT, such as 0.0.0.0:{p} (every              interface) or 127.0.0.1:{p} (this machine only)"
        )),
        None => Err(format!(
            "{s:?} is not an address: write IP:PORT such as 127.0.0.1:8080, or a bare port"
        )),
    }
}

/// A duration such as `90`, `90s`, `15m`, `1h`, `7d` or `500ms` (a bare number is seconds).
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("{s:?} is not a duration such as 90s, 15m or 1h"))?;
    let secs = |k: u64| {
        n.checked_mul(k)
            .map(std::time::Duration::from_secs)
            .ok_or_else(|| format!("{s:?} is too long"))
    };
    match unit.trim() {
        "ms" => Ok(std::time::Duration::from_millis(n)),
        "" | "s" => secs(1),
        "m" => secs(60),
        "h" => secs(3600),
        "d" => secs(86_400),
        u => Err(format!(
            "unknown unit {u:?} in {s:?} (use ms, s, m, h or d)"
        )),
    }
}

/// A URL safe to print: the password of a MySQL URL is replaced by `***`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((creds, host)) = rest.rsplit_once('@') else {
        return url.to_owned();
    };
    match creds.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords_only() {
        assert_eq!(
            redact_url("mysql://root:s3cret@db:3306/x"),
            "mysql://root:***@db:3306/x"
        );
        assert_eq!(redact_url("mysql://root@db/x"), "mysql://root@db/x");
        assert_eq!(
            redact_url("sqlite://./ttpgraph.db"),
            "sqlite://./ttpgraph.db"
        );
    }

    #[test]
    fn blank_jwt_secrets_are_errors_not_open_mode() {
        let set = |v: &str| Some(v.to_owned());
        assert_eq!(
            resolve_jwt_secret([("a", None), ("b", None)]),
            Ok(None),
            "unset everywhere: open mode"
        );
        for blank in ["", " ", "\t\n  "] {
            let err = resolve_jwt_secret([("--jwt-secret", set(blank)), ("b", None)]);
            assert!(
                err.as_ref()
                    .is_err_and(|e| e.contains("--jwt-secret") && e.contains("unset")),
                "{blank:?}: {err:?}"
            );
            // A blank variable is not skipped in favour of the next one either.
            let err = resolve_jwt_secret([
                ("--jwt-secret", None),
                ("TTPGRAPH_JWT_SECRET", set(blank)),
                ("DECNET_JWT_SECRET", set("a-real-secret")),
            ]);
            assert!(
                err.as_ref()
                    .is_err_and(|e| e.contains("TTPGRAPH_JWT_SECRET")),
                "{err:?}"
            );
        }
        assert_eq!(
            resolve_jwt_secret([("a", None), ("DECNET_JWT_SECRET", set("s3cret"))]),
            Ok(Some("s3cret".to_owned()))
        );
        assert_eq!(
            resolve_jwt_secret([("a", set("first")), ("b", set("second"))]),
            Ok(Some("first".to_owned()))
        );
    }

    #[test]
    fn parses_listen_addresses() {
        let ok = |s: &str| parse_listen(s).map(|a| a.to_string());
        assert_eq!(ok("8081"), Ok("127.0.0.1:8081".into()));
        assert_eq!(ok("localhost:8081"), Ok("127.0.0.1:8081".into()));
        assert_eq!(ok("0.0.0.0:8081"), Ok("0.0.0.0:8081".into()));
        assert_eq!(ok("[::1]:8081"), Ok("[::1]:8081".into()));
        for (bad, names) in [
            (":8081", "0.0.0.0:8081"),
            ("example.org:8081", "0.0.0.0:8081"),
            ("99999", "port"),
            ("localhost:http", "port"),
            ("localhost", "IP:PORT"),
        ] {
            let e = parse_listen(bad).expect_err(bad);
            assert!(e.contains(names), "{bad}: {e}");
        }
    }

    #[test]
    fn parses_durations() {
        use std::time::Duration;
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("1y").is_err());
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("-1s").is_err());
    }
}

/// Every limit of the public API in one place, with production defaults. The query
/// limits are enforced before any resolver or SQL runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Deepest selection nesting (async-graphql).
    pub max_depth: usize,
    /// Summed query cost (async-graphql's complexity, with the cost model of
    /// [`crate::graphql::cost`]: rows loaded and values produced).
    pub max_complexity: usize,
    /// Recursion of async-graphql's document walks (lists, objects, fragments).
    pub max_recursive_depth: usize,
    /// Directives on one field (async-graphql).
    pub max_directives_per_field: usize,
    /// `{`/`[`/`(` nesting of the raw text, checked before parsing.
    pub max_text_nesting: usize,
    /// Fields selected once fragments are expanded (the fragment fan-out guard).
    pub max_expanded_fields: usize,
    /// Aliased fields in a document (expanded).
    pub max_aliases: usize,
    /// Root fields of an operation.
    pub max_root_fields: usize,
    /// Largest `first:` of a paginated list.
    pub max_page_size: usize,
    /// Default `first:` of a paginated list.
    pub default_page_size: usize,
    /// Tags in one `insertTags` call.
    pub max_insert_tags: usize,
    /// Execution deadline of one request.
    pub request_timeout: std::time::Duration,
    /// Largest response body; larger answers are replaced by one `RESPONSE_TOO_LARGE`
    /// error. Large values (evidence) are counted while resolving, so such a request stops
    /// early, and the serialised body is checked again as it is written.
    pub max_response_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_depth: 12,
            max_complexity: 200_000,
            max_recursive_depth: 32,
            max_directives_per_field: 4,
            max_text_nesting: 64,
            max_expanded_fields: 5_000,
            max_aliases: 30,
            max_root_fields: 20,
            max_page_size: 100,
            default_page_size: 20,
            max_insert_tags: 5_000,
            request_timeout: std::time::Duration::from_secs(15),
            max_response_bytes: 16 << 20,
        }
    }
}

/// Schema-level switches (all limits live in [`Limits`]).
#[derive(Debug, Clone, Default)]
pub struct SchemaOptions {
    pub limits: Limits,
    /// Turn introspection off for production deployments that do not want it.
    pub disable_introspection: bool,
}

/// Transport settings of the server, with production defaults.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Serve GraphiQL on `GET /`.
    pub graphiql: bool,
    /// Largest request body; bigger ones get 413.
    pub max_body_bytes: usize,
    /// Largest request body from an admin (the role that may insert tags).
    pub max_write_body_bytes: usize,
    /// Admin requests with a body over `max_body_bytes` (insert batches) read and run at
    /// once; more wait, unread, in their sockets. Writes are serialised by the store
    /// anyway: this only bounds the memory of bodies parsed ahead of the writer.
    pub max_concurrent_writes: usize,
    /// GraphQL requests executing at once; more get 503 (load shedding). A request takes
    /// its permit only once its body is read, so slow senders cannot hold them.
    pub max_concurrent_requests: usize,
    /// Request bodies being received at once; more get 503. 0 means four times
    /// `max_concurrent_requests`. Bounds the sockets a slow sender can keep busy.
    pub max_body_reads: usize,
    /// A request body must arrive within this time (counted once the request is admitted
    /// to read it), or the request gets 408.
    pub body_read_timeout: Duration,
    /// Largest JSON batch (an array of requests); 0 turns batching off.
    pub max_batch: usize,
    /// Origins allowed cross-origin access (CORS); empty means same-origin only.
    pub cors_origins: Vec<String>,
    /// When set, `/metrics` answers only `Authorization: Bearer <token>`.
    pub metrics_token: Option<Secret>,
    /// Live updates: subscriptions and server-sent events.
    pub live: LiveOptions,
    /// Bytes of answers the response cache keeps (`http/response_cache.rs`); 0 turns it
    /// off. It caches only where the database has a data version (SQLite files, and
    /// MySQL/MariaDB migrated by this release: `store/version.rs`).
    pub response_cache_bytes: usize,
    /// Answers in gzip to clients that accept it (`http/compression.rs`); off where a
    /// proxy in front compresses.
    pub compression: bool,
}

/// Live updates (subscriptions over WebSocket, server-sent events) and the change feed
/// they read, with production defaults.
#[derive(Debug, Clone)]
pub struct LiveOptions {
    /// How often an instance reads the feed (one statement per poll, whatever the number
    /// of subscribers; none while nobody has subscribed yet).
    pub poll_interval: Duration,
    /// How long the tail waits for a missing sequence number below a newer one (a MySQL
    /// writer that allocated it has not committed yet) before passing it by.
    pub gap_wait: Duration,
    /// Events a subscriber may fall behind the tail; one further behind is closed with
    /// `SLOW_CONSUMER` and its last cursor, to resume from.
    pub buffer: usize,
    /// Subscriptions one WebSocket connection may run at once.
    pub max_subscriptions_per_connection: usize,
    /// WebSocket and event-stream connections one user may hold at once.
    pub max_connections_per_principal: usize,
    /// The server pings (WebSocket) or sends a comment (event stream) this often.
    pub keepalive: Duration,
    /// A connection's token is re-checked (revocation, user changes) this often, and at
    /// its expiry.
    pub auth_recheck: Duration,
    /// A WebSocket must send `connection_init` within this time.
    pub init_timeout: Duration,
    /// Feed rows older than this are pruned.
    pub retention_age: Duration,
    /// At most about this many feed rows are kept.
    pub retention_rows: u64,
    /// How often the feed is pruned (in batches of a few hundred rows).
    pub prune_interval: Duration,
}

impl Default for LiveOptions {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_millis(250),
            gap_wait: Duration::from_secs(5),
            buffer: 1024,
            max_subscriptions_per_connection: 16,
            max_connections_per_principal: 32,
            keepalive: Duration::from_secs(15),
            auth_recheck: Duration::from_secs(10),
            init_timeout: Duration::from_secs(10),
            retention_age: Duration::from_secs(24 * 3600),
            retention_rows: 1_000_000,
            prune_interval: Duration::from_secs(60),
        }
    }
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            graphiql: true,
            max_body_bytes: 64 * 1024,
            max_write_body_bytes: 4 * 1024 * 1024,
            max_concurrent_writes: 2,
            max_concurrent_requests: 64,
            max_body_reads: 0,
            body_read_timeout: Duration::from_secs(10),
            max_batch: 0,
            cors_origins: Vec::new(),
            metrics_token: None,
            live: LiveOptions::default(),
            response_cache_bytes: 16 << 20,
            compression: true,
        }
    }
}

/// Connection-level settings, with production defaults.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// A client must send a request's whole header within this time of the server
    /// starting to wait for it (on connect, and after each response), or the connection
    /// is closed: this is also the idle keep-alive timeout.
    pub header_read_timeout: Duration,
    /// After the shutdown signal, in-flight requests have this long to finish; then every
    /// connection still open (a slow body or response) is dropped, so the process exits
    /// within this bound.
    pub shutdown_timeout: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            shutdown_timeout: Duration::from_secs(10),
        }
    }
}

/// Everything `http::serve` needs besides the store and the authenticator.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Schema limits and switches.
    pub schema: SchemaOptions,
    /// Transport limits of the router.
    pub http: HttpOptions,
    /// Connection-level timeouts.
    pub serve: ServeOptions,
    /// A second address serving only `/metrics` and the probes (then the main address
    /// does not serve `/metrics`), for a scraper on a private network.
    pub metrics_listen: Option<SocketAddr>,
}

/// A secret (a token) that `Debug` never prints and that is compared in constant time.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// Equal to `given`, in time independent of where they differ.
    pub fn matches(&self, given: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), given.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}
