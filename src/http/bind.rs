//! Binding the listening sockets, with errors that say which address, which setting, and
//! what to do (the bare OS error named neither).

use std::io::ErrorKind;
use std::net::SocketAddr;

use tokio::net::TcpListener;

/// Binds `addr`, which came from `flag` (`--listen`, `--metrics-listen`).
pub async fn bind(addr: SocketAddr, flag: &str) -> Result<TcpListener, String> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| bind_error(addr, flag, &e))
}

/// The message for a failed bind of `addr` (set by `flag`).
pub fn bind_error(addr: SocketAddr, flag: &str, e: &std::io::Error) -> String {
    let env = flag_env(flag);
    let hint = match e.kind() {
        ErrorKind::AddrInUse => format!(
            "the address is already in use (another ttpgraph, or another program, listens \
             on port {port}: `ss -ltnp 'sport = :{port}'` shows which); stop it or choose \
             another port with {flag} (or {env})",
            port = addr.port()
        ),
        ErrorKind::PermissionDenied => format!(
            "permission denied: ports below 1024 need root or CAP_NET_BIND_SERVICE; use a \
             port above 1023 with {flag} (or {env}), behind a reverse proxy"
        ),
        ErrorKind::AddrNotAvailable => format!(
            "{ip} is not an address of this machine; use 127.0.0.1 (this machine only) or \
             0.0.0.0 (every interface) with {flag} (or {env})",
            ip = addr.ip()
        ),
        _ => format!("{e}; check {flag} (or {env})"),
    };
    format!("cannot listen on {addr} ({flag}): {hint}")
}

fn flag_env(flag: &str) -> String {
    format!(
        "TTPGRAPH_{}",
        flag.trim_start_matches('-')
            .replace('-', "_")
            .to_uppercase()
    )
}
