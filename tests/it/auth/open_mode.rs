//! Open mode (no secret): every caller an admin, and only on a loopback address; `serve`
//! refuses unsafe configurations before opening anything.

use crate::support::Backend;
use crate::support::http::open_app;
use ttpgraph::auth::check_listen;

use super::*;

#[tokio::test]
async fn open_mode_is_an_anonymous_admin_on_loopback_only() {
    let db = TestDb::new(Backend::Sqlite).await.expect("db");
    let app = open_app(&db.store, HttpOptions::default());
    let (s, _, v) = post(&app, None, QUERY).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, _, v) = post(&app, Some("Bearer whatever"), INSERT).await;
    assert_eq!(
        (s, v),
        (
            StatusCode::OK,
            json!({"data": {"insertTags": {"inserted": 1}}})
        ),
        "every caller is an admin"
    );

    for ok in [
        "127.0.0.1:8080",
        "127.3.2.1:80",
        "[::1]:8080",
        "[::ffff:127.0.0.1]:8080",
    ] {
        assert_eq!(
            check_listen(ok.parse().expect("addr"), false),
            Ok(()),
            "{ok}"
        );
    }
    for refused in [
        "0.0.0.0:8080",
        "[::]:8080",
        "192.0.2.10:8080",
        "[2001:db8::1]:443",
    ] {
        let addr = refused.parse().expect("addr");
        let err = check_listen(addr, false).expect_err(refused);
        assert!(
            err.contains("without authentication") && err.contains("--jwt-secret"),
            "{err}"
        );
        assert_eq!(check_listen(addr, true), Ok(()), "{refused} with a secret");
    }
}

/// `serve` stops before opening anything: no secret on a public address, or a short one.
#[tokio::test]
async fn serve_refuses_unsafe_configurations() {
    use clap::Parser;
    use ttpgraph::cli::{Cli, run};
    let secret_in_env = ["TTPGRAPH_JWT_SECRET", "DECNET_JWT_SECRET"]
        .iter()
        .any(|k| std::env::var_os(k).is_some_and(|v| !v.is_empty()));
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}", dir.path().join("never.db").display());
    let serve = |extra: &[&str]| {
        let mut argv = vec!["ttpgraph", "serve", "--database-url", url.as_str()];
        argv.extend_from_slice(extra);
        Cli::try_parse_from(argv).expect("arguments parse")
    };
    if !secret_in_env {
        let err = run(serve(&["--listen", "0.0.0.0:0"]))
            .await
            .expect_err("refused");
        assert!(
            err.to_string().contains("refusing to listen on 0.0.0.0:0"),
            "{err}"
        );
    }
    let err = run(serve(&["--listen", "127.0.0.1:0", "--jwt-secret", "short"]))
        .await
        .expect_err("refused");
    assert!(err.to_string().contains("at least 32"), "{err}");
    assert!(!dir.path().join("never.db").exists(), "nothing was opened");
}
