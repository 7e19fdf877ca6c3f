//! Running ttpgraph as an operator does (issue 13): the real binary with its logs, the
//! config file and `ttpgraph config`, listen errors, and `/metrics` read by real parsers.

mod config_file;
mod listen;
mod logs;
mod metrics;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The binary with none of the caller's ttpgraph settings: no `TTPGRAPH_*`,
/// `DATABASE_URL` or `DECNET_JWT_SECRET` variable, run in `dir` (so no stray
/// `./ttpgraph.toml` is read).
pub fn ttpgraph(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ttpgraph"));
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if k.starts_with("TTPGRAPH_") || k == "DATABASE_URL" || k == "DECNET_JWT_SECRET" {
            cmd.env_remove(&*k);
        }
    }
    cmd.env_remove("NO_COLOR").current_dir(dir);
    cmd
}

/// Runs `cmd` to completion (stdin closed).
pub fn output(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null()).output().expect("the binary runs")
}

/// A `ttpgraph serve` child whose stderr (the log) is collected line by line.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Starts `cmd` (a `serve` command listening on port 0) and waits for its
    /// "ttpgraph listening" line.
    pub fn start(cmd: &mut Command) -> Self {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary runs");
        let stderr = child.stderr.take().expect("stderr");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                sink.lock().expect("log lines").push(line);
            }
        });
        let mut server = Self {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            lines,
        };
        server.addr = server.wait_for_addr("ttpgraph listening");
        server
    }

    /// Waits (up to 60 s) for the "ttpgraph ready" line: the server listens before its
    /// start-up (migrations) is done and answers 503 until then.
    pub fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.logs().contains("ttpgraph ready") {
            assert!(Instant::now() < deadline, "never ready:\n{}", self.logs());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The `addr` of the first log line with `message`, waiting up to 60 s for it.
    pub fn wait_for_addr(&mut self, message: &str) -> SocketAddr {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(addr) = self
                .lines
                .lock()
                .expect("log lines")
                .iter()
                .filter(|l| l.contains(message))
                .find_map(|l| addr_field(l))
            {
                return addr;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the server exited ({status}):\n{}", self.logs());
            }
            assert!(
                Instant::now() < deadline,
                "no {message:?}:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Everything logged so far.
    pub fn logs(&self) -> String {
        self.lines.lock().expect("log lines").join("\n")
    }

    /// SIGTERM, then the log once the process has exited.
    pub fn stop(mut self) -> String {
        // SAFETY: signals a child this test started and still owns.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.child.try_wait().expect("wait").is_none() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.wait();
        // The reader thread has seen EOF once the pipe closed; give it a moment.
        std::thread::sleep(Duration::from_millis(100));
        self.logs()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `addr` field of a JSON or text log line.
fn addr_field(line: &str) -> Option<SocketAddr> {
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(line) {
        return v.get("addr")?.as_str()?.parse().ok();
    }
    line.split_whitespace()
        .find_map(|w| w.strip_prefix("addr="))
        .and_then(|a| a.parse().ok())
}

/// One HTTP/1.1 request over a fresh connection: status, raw head and body.
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).expect("send");
    let mut answer = String::new();
    s.read_to_string(&mut answer).expect("answer");
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, head.to_owned(), body.to_owned())
}

/// A SQLite URL for a file in `dir`.
pub fn sqlite_url(dir: &Path, name: &str) -> String {
    format!("sqlite://{}", dir.join(name).display())
}
