//! Operator-facing commands (issue 13): `demo` refuses a non-empty database, database URL
//! mistakes get messages naming the value and the fix, `migrate --uninstall`, and
//! `doctor`'s verdicts.

use clap::Parser;
use ttpgraph::cli::{AuthArgs, Cli, DbArgs, run};
use ttpgraph::doctor::{DoctorArgs, Verdict, diagnose, render};

use crate::support::{Backend, TestDb};

fn cli(args: &[&str]) -> Cli {
    let mut argv = vec!["ttpgraph"];
    argv.extend_from_slice(args);
    Cli::try_parse_from(argv).expect("arguments parse")
}

#[tokio::test]
async fn demo_refuses_a_non_empty_database_unless_forced() {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}", dir.path().join("demo.db").display());
    // A second seed: the same seed would write the same uuids (ignored as duplicates).
    let demo = |force: bool| {
        let mut a = vec![
            "demo",
            "--seed",
            if force { "43" } else { "42" },
            "--database-url",
            url.as_str(),
            "--attackers",
            "6",
            "--tags",
            "60",
            "--quiet",
        ];
        if force {
            a.push("--force");
        }
        cli(&a)
    };
    run(demo(false)).await.expect("an empty database is filled");
    let err = run(demo(false)).await.expect_err("refused the second time");
    let msg = err.to_string();
    assert!(
        msg.contains("refusing") && msg.contains("ttp_tag") && msg.contains("--force"),
        "{msg}"
    );
    let db = ttpgraph::store::Store::connect(&url, &Default::default())
        .await
        .expect("open");
    let attackers = db
        .list_attackers(None, 1000)
        .await
        .expect("attackers")
        .len();
    run(demo(true)).await.expect("--force adds to it");
    let more = db
        .list_attackers(None, 1000)
        .await
        .expect("attackers")
        .len();
    assert!(more > attackers, "{attackers} → {more}");
    db.close().await;
}

#[tokio::test]
async fn database_url_mistakes_name_the_value_and_the_fix() {
    let dir = tempfile::tempdir().expect("dir");
    let missing_dir = format!("sqlite://{}/no/such/dir/x.db", dir.path().display());
    for (url, needles) in [
        (
            "postgres://u:pw@db/decnet",
            &["postgres://u:***@db/decnet", "not supported", "mysql://"][..],
        ),
        (
            "sqlit:///tmp/x.db",
            &["sqlit:///tmp/x.db", "did you mean sqlite://"][..],
        ),
        (
            "mysql://root@127.0.0.1:3306",
            &[
                "mysql://root@127.0.0.1:3306",
                "names no database",
                "/decnet",
            ][..],
        ),
        (missing_dir.as_str(), &["no/such/dir", "does not exist"][..]),
    ] {
        let err = run(cli(&["migrate", "--database-url", url]))
            .await
            .expect_err(url);
        let msg = err.to_string();
        for n in needles {
            assert!(msg.contains(n), "{url}: {n:?} missing from {msg}");
        }
        assert!(!msg.contains(":pw@"), "password leaked: {msg}");
    }
    assert_eq!(
        std::fs::read_dir(dir.path()).expect("dir").count(),
        0,
        "nothing was created"
    );
}

#[tokio::test]
async fn migrate_uninstall_removes_and_migrate_reinstalls() {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}", dir.path().join("u.db").display());
    run(cli(&["migrate", "--database-url", &url]))
        .await
        .expect("migrate");
    run(cli(&["migrate", "--uninstall", "--database-url", &url]))
        .await
        .expect("uninstall");
    let db = ttpgraph::store::Store::connect(&url, &Default::default())
        .await
        .expect("open");
    let st = db.migration_state().await.expect("state");
    assert!(st.pending.len() >= 6, "everything pending again: {st:?}");
    assert!(
        !db.object_exists(ttpgraph::store::uninstall::Object::Table(
            "ttp_fleet_rollup"
        ))
        .await
        .expect("exists?")
    );
    db.close().await;
    run(cli(&["migrate", "--database-url", &url]))
        .await
        .expect("migrate again");
}

fn doctor_args(db: &TestDb, secret: Option<&str>) -> DoctorArgs {
    DoctorArgs {
        db: DbArgs {
            database_url: Some(db.url.clone()),
            db_pool: None,
            sqlite_cache_kib: None,
        },
        auth: AuthArgs {
            jwt_secret: secret.map(str::to_owned),
        },
        sample: 10,
    }
}

fn verdict(checks: &[ttpgraph::doctor::Check], name: &str) -> Verdict {
    checks
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no {name} check"))
        .verdict
}

const SECRET: &str = "0123456789abcdefghijklmnopqrstuvwxyzABCDEF";

crate::contract!(
    doctor_passes_a_healthy_database_and_fails_a_broken_one,
    |db| async move {
        crate::store_support::demo(&db.store, 7, 20, 400, 200).await;
        let args = doctor_args(&db, Some(SECRET));
        let checks = diagnose(&args).await;
        let report = render(&checks);
        for name in ["database", "migrations", "summaries", "secret"] {
            assert_eq!(verdict(&checks, name), Verdict::Ok, "{report}");
        }
        let expected_privileges = match db.dialect {
            ttpgraph::store::Dialect::Sqlite => Verdict::Skip,
            ttpgraph::store::Dialect::MySql => Verdict::Ok,
        };
        assert_eq!(
            verdict(&checks, "privileges"),
            expected_privileges,
            "{report}"
        );
        assert!(
            matches!(verdict(&checks, "clock"), Verdict::Ok | Verdict::Skip),
            "{report}"
        );
        assert!(report.contains("verdict: healthy"), "{report}");
        ttpgraph::doctor::run(&args).await.expect("exit 0");

        // A summary that disagrees with its tags, a weak secret.
        db.raw("UPDATE ttp_attacker_rollup SET tag_count = tag_count + 1")
            .await;
        let args = doctor_args(&db, Some("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
        let checks = diagnose(&args).await;
        let report = render(&checks);
        assert_eq!(verdict(&checks, "summaries"), Verdict::Fail, "{report}");
        assert!(report.contains("ttp_attacker_rollup"), "{report}");
        assert_eq!(verdict(&checks, "secret"), Verdict::Warn, "{report}");
        assert!(report.contains("1 check(s) failed"), "{report}");
        let err = ttpgraph::doctor::run(&args)
            .await
            .expect_err("non-zero exit");
        assert!(err.to_string().contains("failed"), "{err}");
    }
);

#[tokio::test]
async fn doctor_reports_pending_migrations_and_an_unreachable_database() {
    let db = TestDb::empty(Backend::Sqlite).await.expect("sqlite");
    let checks = diagnose(&doctor_args(&db, None)).await;
    let report = render(&checks);
    assert_eq!(verdict(&checks, "migrations"), Verdict::Fail, "{report}");
    assert!(report.contains("ttpgraph migrate"), "{report}");
    assert_eq!(verdict(&checks, "summaries"), Verdict::Skip, "{report}");
    let secret_in_env = ["TTPGRAPH_JWT_SECRET", "DECNET_JWT_SECRET"]
        .iter()
        .any(|k| std::env::var_os(k).is_some_and(|v| !v.is_empty()));
    if !secret_in_env {
        assert_eq!(verdict(&checks, "secret"), Verdict::Warn, "{report}");
    }

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let args = DoctorArgs {
        db: DbArgs {
            database_url: Some(format!("mysql://root@127.0.0.1:{port}/x")),
            db_pool: None,
            sqlite_cache_kib: None,
        },
        auth: AuthArgs { jwt_secret: None },
        sample: 5,
    };
    let checks = diagnose(&args).await;
    let report = render(&checks);
    assert_eq!(verdict(&checks, "database"), Verdict::Fail, "{report}");
    assert_eq!(verdict(&checks, "migrations"), Verdict::Skip, "{report}");
}
