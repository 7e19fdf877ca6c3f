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

/// Every limit of the public API in one place, with production defaults. The query
/// limits are enforced before any resolver or SQL runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Deepest selection nesting (async-graphql).
    pub max_depth: usize,
    /// Summed field cost (async-graphql); list fields cost their page size or limit times
    /// their children, rollup lists a flat 10 times.
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
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_depth: 12,
            max_complexity: 20_000,
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
        }
    }
}
