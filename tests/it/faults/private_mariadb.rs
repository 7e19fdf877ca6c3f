//! A private, throw-away MariaDB server for the outage tests: its own datadir, socket,
//! port and log under a temp dir, started and SIGKILLed by the test. It runs with
//! `--no-defaults`, so no system `my.cnf` can point it at the shared server's files, and
//! it is never the shared server on port 3306.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sqlx::Connection;
use sqlx::mysql::MySqlConnection;

/// The database the tests use; `--init-file` creates it on every start.
pub const DATABASE: &str = "ttpg";

/// `mariadbd` and `mariadb-install-db`, from `TTPGRAPH_TEST_MARIADBD` /
/// `TTPGRAPH_TEST_MARIADB_INSTALL_DB`, else `PATH` and the usual sbin directories.
/// `Err` says why the private server cannot run here (the caller skips).
fn binaries() -> Result<(PathBuf, PathBuf), String> {
    let find = |env: &str, names: &[&str]| -> Option<PathBuf> {
        if let Some(p) = std::env::var_os(env) {
            return Some(PathBuf::from(p));
        }
        let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).collect())
            .unwrap_or_default();
        dirs.extend(
            [
                "/usr/sbin",
                "/usr/local/sbin",
                "/usr/libexec",
                "/usr/local/mysql/bin",
            ]
            .map(PathBuf::from),
        );
        names
            .iter()
            .flat_map(|n| dirs.iter().map(move |d| d.join(n)))
            .find(|p| p.is_file())
    };
    let server = find("TTPGRAPH_TEST_MARIADBD", &["mariadbd", "mysqld"])
        .ok_or("no mariadbd/mysqld binary (set TTPGRAPH_TEST_MARIADBD)")?;
    let install = find(
        "TTPGRAPH_TEST_MARIADB_INSTALL_DB",
        &["mariadb-install-db", "mysql_install_db"],
    )
    .ok_or("no mariadb-install-db/mysql_install_db (set TTPGRAPH_TEST_MARIADB_INSTALL_DB)")?;
    Ok((server, install))
}

/// mariadbd refuses to run as root without `--user=root`.
fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|v| v.split_whitespace().nth(1).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

/// A port nothing listens on right now (the OS picks it; the race until the server binds
/// it is negligible on a test machine).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("an ephemeral port")
        .port()
}

pub struct PrivateMariaDb {
    dir: tempfile::TempDir,
    server: PathBuf,
    pub port: u16,
    child: Option<Child>,
    /// How long `mariadb-install-db` took.
    pub init_time: Duration,
    /// Extra server options (e.g. `--log-bin`), set before [`PrivateMariaDb::start`].
    pub extra_args: Vec<String>,
    /// Enforce privileges (no `--skip-grant-tables`); users come from `extra_init_sql`.
    pub grant_tables: bool,
    /// Run at every start by `--init-file`, after the database is created (users, grants).
    pub extra_init_sql: String,
}

impl PrivateMariaDb {
    /// Initialises a fresh datadir and picks a port; the server is not started. `Ok(None)`
    /// when the binaries are missing (the reason is printed); an error if they exist
    /// but fail.
    pub fn init() -> Result<Option<Self>, String> {
        let (server, install) = match binaries() {
            Ok(b) => b,
            Err(why) => {
                eprintln!("skipped: private MariaDB unavailable: {why}");
                return Ok(None);
            }
        };
        let dir = tempfile::Builder::new()
            .prefix("ttpg-mdb")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let datadir = dir.path().join("data");
        let started = Instant::now();
        let mut cmd = Command::new(&install);
        // Its own tmpdir, as the server gets at start: with the default /tmp the bootstrap
        // failed once in CI ("Error on delete of '/tmp/#sql-temptable-….MAI'", errcode 2)
        // while other private servers and test runs shared /tmp.
        cmd.arg("--no-defaults")
            .arg(format!("--datadir={}", datadir.display()))
            .arg(format!("--tmpdir={}", dir.path().display()))
            .args([
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                "--innodb-log-file-size=8M",
                "--innodb-buffer-pool-size=16M",
            ]);
        if running_as_root() {
            cmd.arg("--user=root");
        }
        let out = cmd
            .output()
            .map_err(|e| format!("{}: {e}", install.display()))?;
        if !out.status.success() {
            return Err(format!(
                "{} failed ({}): {}{}",
                install.display(),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(Some(Self {
            dir,
            server,
            port: free_port(),
            child: None,
            init_time: started.elapsed(),
            extra_args: Vec::new(),
            grant_tables: false,
            extra_init_sql: String::new(),
        }))
    }

    pub fn url(&self) -> String {
        format!("mysql://root@127.0.0.1:{}/{DATABASE}", self.port)
    }

    /// The URL of `user` (password `pass`) on the test database.
    pub fn url_as(&self, user: &str, pass: &str) -> String {
        format!("mysql://{user}:{pass}@127.0.0.1:{}/{DATABASE}", self.port)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Starts `mariadbd` on the datadir and port (again after a kill: crash recovery).
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "server already running");
        std::fs::write(
            self.path("init.sql"),
            format!(
                "CREATE DATABASE IF NOT EXISTS {DATABASE};\n{}\n",
                self.extra_init_sql
            ),
        )
        .expect("write init.sql");
        let p = |n: &str| self.path(n).display().to_string();
        let mut cmd = Command::new(&self.server);
        cmd.arg("--no-defaults")
            .arg(format!("--datadir={}", p("data")))
            .arg(format!("--socket={}", p("mysqld.sock")))
            .arg(format!("--pid-file={}", p("mysqld.pid")))
            .arg(format!("--log-error={}", p("error.log")))
            .arg(format!("--tmpdir={}", self.dir.path().display()))
            .arg(format!("--init-file={}", p("init.sql")))
            .arg(format!("--port={}", self.port))
            .args(self.extra_args.iter())
            .args((!self.grant_tables).then_some("--skip-grant-tables"))
            .args([
                "--bind-address=127.0.0.1",
                "--skip-name-resolve",
                "--performance-schema=OFF",
                "--innodb-log-file-size=8M",
                "--innodb-buffer-pool-size=16M",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if running_as_root() {
            cmd.arg("--user=root");
        }
        self.child = Some(cmd.spawn().expect("spawn mariadbd"));
    }

    /// Waits until the server completes a real handshake; returns how long that took.
    pub async fn wait_accepting(&mut self, within: Duration) -> Duration {
        let url = self.url();
        self.wait_accepting_as(&url, within).await
    }

    /// [`PrivateMariaDb::wait_accepting`] for a handshake as the user of `url`.
    pub async fn wait_accepting_as(&mut self, url: &str, within: Duration) -> Duration {
        let started = Instant::now();
        let url = url.to_owned();
        loop {
            if let Ok(c) = MySqlConnection::connect(&url).await {
                let _ = c.close().await;
                return started.elapsed();
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!("mariadbd exited ({status}): {}", self.log_tail());
            }
            assert!(
                started.elapsed() < within,
                "mariadbd not accepting after {within:?}: {}",
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// SIGKILL: no shutdown, no flush; the next start runs InnoDB crash recovery.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.path("error.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for PrivateMariaDb {
    fn drop(&mut self) {
        self.kill();
    }
}
