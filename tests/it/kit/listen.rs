//! Issue 13 item 5 (listen addresses): a busy address names itself and `--listen`; a
//! bare port and `localhost:PORT` are accepted; anything else says what to write.

use super::{output, sqlite_url, ttpgraph};

#[test]
fn an_address_in_use_is_named_with_the_flag_that_set_it() {
    let dir = tempfile::tempdir().expect("dir");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let out = output(ttpgraph(dir.path()).args([
        "serve",
        "--listen",
        &addr,
        "--database-url",
        &sqlite_url(dir.path(), "busy.db"),
    ]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains(&format!("cannot listen on {addr}"))
            && err.contains("already in use")
            && err.contains("--listen")
            && err.contains("TTPGRAPH_LISTEN"),
        "{err}"
    );
}

#[test]
fn a_bare_port_and_localhost_are_this_machine() {
    let dir = tempfile::tempdir().expect("dir");
    for (given, env) in [("8081", false), ("localhost:8081", false), ("8081", true)] {
        let mut cmd = ttpgraph(dir.path());
        cmd.arg("config");
        if env {
            cmd.env("TTPGRAPH_LISTEN", given);
        } else {
            cmd.args(["--listen", given]);
        }
        let out = output(&mut cmd);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{given}: {out:?}");
        assert!(
            text.contains("listen = \"127.0.0.1:8081\""),
            "{given}: {text}"
        );
    }
    for (given, fix) in [
        ("example.org:8081", "0.0.0.0:8081"),
        (":8081", "0.0.0.0:8081"),
        ("localhost:80800", "port"),
    ] {
        let out = output(ttpgraph(dir.path()).args(["serve", "--listen", given]));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{given}: {err}");
        assert!(
            err.contains("--listen") && err.contains(fix),
            "{given}: {err}"
        );
    }
}
