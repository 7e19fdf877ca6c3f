//! The database URL checked before anything is opened, so a mistake gets a message that
//! names the value and the fix instead of a driver error about something else
//! (`postgres://…` used to be taken as an SQLite file name, `mysql://host:3306` without a
//! database failed with "decoding column 0: unexpected null").

use super::dialect::Dialect;
use super::error::{Result, StoreError};

/// What every message offers as the accepted forms.
const FORMS: &str = "use sqlite://path/to/file.db (or a plain file path) or \
                     mysql://user:password@host:3306/database (mariadb:// too)";

/// Checks `url` and says which dialect it names. `shown` is the URL as it may be printed
/// (password redacted).
pub fn check_database_url(url: &str, shown: &str) -> Result<Dialect> {
    let trimmed = url.trim();
    if trimmed.is_empty() {
        return Err(StoreError::Config(format!(
            "the database URL is empty: {FORMS}"
        )));
    }
    if let Some((scheme, rest)) = trimmed.split_once("://") {
        let scheme_lower = scheme.to_ascii_lowercase();
        match scheme_lower.as_str() {
            "sqlite" => {}
            "mysql" | "mariadb" => {
                check_mysql_database(rest, shown)?;
                return Ok(Dialect::MySql);
            }
            "postgres" | "postgresql" => {
                return Err(StoreError::Config(format!(
                    "{shown}: PostgreSQL is not supported (DECNET runs on SQLite or \
                     MySQL/MariaDB): {FORMS}"
                )));
            }
            other => {
                let hint = if other.starts_with("sql") || other.starts_with("lite") {
                    " (did you mean sqlite://?)"
                } else if other.starts_with("my") || other.starts_with("maria") {
                    " (did you mean mysql://?)"
                } else {
                    ""
                };
                return Err(StoreError::Config(format!(
                    "{shown}: unknown database scheme `{scheme}://`{hint}: {FORMS}"
                )));
            }
        }
    } else if Dialect::of_url(trimmed) == Dialect::MySql {
        // `mysql:foo` without `//`.
        return Err(StoreError::Config(format!(
            "{shown}: a MySQL URL needs `//` and a database: {FORMS}"
        )));
    }
    check_sqlite_path(trimmed, shown)?;
    Ok(Dialect::Sqlite)
}

/// `rest` is what follows `mysql://`: `[user[:pass]@]host[:port]/database[?opts]`.
fn check_mysql_database(rest: &str, shown: &str) -> Result<()> {
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    let after_host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let database = after_host.split_once('/').map_or("", |(_, d)| d);
    if database.trim_matches('/').is_empty() {
        let fixed = format!(
            "{}/decnet",
            shown
                .split(['?', '#'])
                .next()
                .unwrap_or(shown)
                .trim_end_matches('/')
        );
        return Err(StoreError::Config(format!(
            "{shown} names no database: add it after the host, e.g. {fixed}"
        )));
    }
    Ok(())
}

/// The file an SQLite URL names (None for in-memory databases).
pub fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let path = path.split('?').next().unwrap_or(path);
    if path.is_empty() || path.contains(":memory:") || url.contains("mode=memory") {
        return None;
    }
    Some(std::path::PathBuf::from(path))
}

/// SQLite creates a missing file, not a missing directory ("unable to open database
/// file", naming neither).
fn check_sqlite_path(url: &str, shown: &str) -> Result<()> {
    let Some(file) = sqlite_file(url) else {
        return Ok(());
    };
    if file.is_dir() {
        return Err(StoreError::Config(format!(
            "{shown}: {} is a directory; name a database file in it, e.g. sqlite://{}/ttpgraph.db",
            file.display(),
            file.display()
        )));
    }
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.is_dir()
    {
        return Err(StoreError::Config(format!(
            "{shown}: the directory {} does not exist; create it or point the database URL \
             at an existing directory ({FORMS})",
            dir.display()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(url: &str) -> String {
        check_database_url(url, url).expect_err(url).to_string()
    }

    #[test]
    fn names_the_value_and_the_fix() {
        let e = err("postgres://u@db/decnet");
        assert!(
            e.contains("postgres://u@db/decnet") && e.contains("not supported"),
            "{e}"
        );
        let e = err("sqlit:///x.db");
        assert!(
            e.contains("sqlit://") && e.contains("did you mean sqlite://"),
            "{e}"
        );
        for url in [
            "mysql://root@db:3306",
            "mysql://root@db:3306/",
            "mariadb://db/?ssl-mode=disabled",
        ] {
            let e = err(url);
            assert!(
                e.contains("names no database") && e.contains("/decnet"),
                "{url}: {e}"
            );
        }
        let e = err("/nonexistent-dir-ttpgraph/x.db");
        assert!(
            e.contains("/nonexistent-dir-ttpgraph") && e.contains("does not exist"),
            "{e}"
        );
        assert!(err("").contains("empty"));
    }

    #[test]
    fn accepts_what_it_should() {
        for url in [
            "sqlite://./x.db",
            "sqlite::memory:",
            "sqlite:x.db",
            "x.db",
            "mysql://root@127.0.0.1:3306/test",
            "mysql://u:p@h/db?ssl-mode=disabled",
            "MariaDB://h/db",
        ] {
            assert!(check_database_url(url, url).is_ok(), "{url}");
        }
        assert_eq!(
            check_database_url("mysql://h/db", "").ok(),
            Some(Dialect::MySql)
        );
    }
}
