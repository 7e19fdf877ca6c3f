//! Where ttpgraph finds its database and how it is tuned: flags first, then environment.

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
}
