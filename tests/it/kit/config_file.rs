//! Issue 13 item 8: `ttpgraph.toml` under flags and environment, and `ttpgraph config`
//! reporting each value's source with secrets redacted.

use super::{output, ttpgraph};

fn lines_of(out: &std::process::Output) -> Vec<(String, String)> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with("# ttpgraph") && !l.starts_with("# precedence"))
        .filter_map(|l| {
            let (setting, source) = l.rsplit_once("  # ")?;
            Some((setting.trim().to_owned(), source.trim().to_owned()))
        })
        .collect()
}

fn find<'a>(lines: &'a [(String, String)], key: &str) -> &'a (String, String) {
    lines
        .iter()
        .find(|(s, _)| {
            s.strip_prefix(key)
                .or_else(|| s.strip_prefix(&format!("# {key}")))
                .is_some_and(|r| r.is_empty() || r.starts_with(' '))
        })
        .unwrap_or_else(|| panic!("no {key} in {lines:#?}"))
}

#[test]
fn flags_beat_environment_beat_the_file_beat_defaults() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(
        dir.path().join("ttpgraph.toml"),
        "# the operator's file\n\
         listen = \"0.0.0.0:9001\"\n\
         max-depth = 7\n\
         max_complexity = 1000\n\
         no-graphiql = true\n\
         cors-origin = [\"https://a.example\", \"https://b.example\"]\n\
         jwt-secret = \"file-secret-file-secret-file-secret-0000\"\n\
         database-url = \"mysql://ttpgraph:db-password@db.internal:3306/decnet\"\n\
         shutdown-timeout = \"30s\"\n",
    )
    .expect("write");
    let out = output(
        ttpgraph(dir.path())
            .args(["config", "--max-complexity", "5000"])
            .env("TTPGRAPH_MAX_DEPTH", "9")
            .env("TTPGRAPH_SHUTDOWN_TIMEOUT", "45s"),
    );
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let l = lines_of(&out);
    let is = |key: &str, setting: &str, source: &str| {
        let (s, src) = find(&l, key);
        assert_eq!((s.as_str(), src.as_str()), (setting, source), "{text}");
    };
    is("listen", "listen = \"0.0.0.0:9001\"", "config file");
    is("max-depth", "max-depth = 9", "env TTPGRAPH_MAX_DEPTH");
    is("max-complexity", "max-complexity = 5000", "flag");
    is("no-graphiql", "no-graphiql = true", "config file");
    is(
        "cors-origin",
        "cors-origin = [\"https://a.example\", \"https://b.example\"]",
        "config file",
    );
    is("jwt-secret", "jwt-secret = \"***\"", "config file");
    is(
        "database-url",
        "database-url = \"mysql://ttpgraph:***@db.internal:3306/decnet\"",
        "config file",
    );
    is(
        "shutdown-timeout",
        "shutdown-timeout = \"45s\"",
        "env TTPGRAPH_SHUTDOWN_TIMEOUT",
    );
    is("max-aliases", "max-aliases = 30", "default");
    is("no-introspection", "no-introspection = false", "default");
    is("log-format", "log-format = \"text\"", "default");
    is("db-pool", "# db-pool", "unset");
    assert!(text.contains("# config file: ttpgraph.toml"), "{text}");
    for secret in ["file-secret", "db-password"] {
        assert!(!text.contains(secret), "{secret} printed:\n{text}");
    }

    // The older variables count as environment too, above the file.
    let out = output(
        ttpgraph(dir.path())
            .arg("config")
            .env("DATABASE_URL", "sqlite://./from-env.db")
            .env(
                "DECNET_JWT_SECRET",
                "decnet-secret-decnet-secret-decnet-000",
            ),
    );
    let l = lines_of(&out);
    assert_eq!(
        find(&l, "database-url"),
        &(
            "database-url = \"sqlite://./from-env.db\"".to_owned(),
            "env DATABASE_URL".to_owned()
        )
    );
    assert_eq!(find(&l, "jwt-secret").1, "env DECNET_JWT_SECRET");
}

#[test]
fn the_report_is_itself_a_valid_config_file() {
    let dir = tempfile::tempdir().expect("dir");
    let out = output(ttpgraph(dir.path()).args(["config", "--listen", "8081"]));
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).expect("utf-8");
    assert!(text.contains("# config file: none"), "{text}");
    let written = dir.path().join("again.toml");
    std::fs::write(&written, &text).expect("write");
    let again = output(
        ttpgraph(dir.path())
            .arg("config")
            .arg("--config")
            .arg(&written),
    );
    assert!(again.status.success(), "{again:?}");
    let again = String::from_utf8(again.stdout).expect("utf-8");
    assert!(
        again.contains("listen = \"127.0.0.1:8081\"") && again.contains("# config file"),
        "{again}"
    );
}

#[test]
fn config_file_mistakes_name_the_file_and_the_setting() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("bad.toml");
    for (content, names) in [
        ("max-dept = 7\n", "\"max-dept\""),
        ("max-depth = \"deep\"\n", "--max-depth"),
        ("[server]\nlisten = \"x\"\n", "[server]"),
        ("listen = \n", "TOML"),
        ("listen = \"example.org:80\"\n", "0.0.0.0:80"),
    ] {
        std::fs::write(&file, content).expect("write");
        let out = output(ttpgraph(dir.path()).args(["serve", "--config"]).arg(&file));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{content}: {err}");
        assert!(
            err.contains("bad.toml") && err.contains(names),
            "{content}: {err}"
        );
    }
    let out = output(
        ttpgraph(dir.path())
            .arg("config")
            .env("TTPGRAPH_CONFIG", dir.path().join("missing.toml")),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("missing.toml") && err.contains("TTPGRAPH_CONFIG"),
        "{err}"
    );
}
