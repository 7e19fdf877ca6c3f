//! What a MySQL/MariaDB user needs to run ttpgraph's migrations, checked before anything
//! is changed: a migration that stops half-way on a missing privilege leaves DECNET's
//! database with half a schema, while this check names the exact `GRANT` or `SET`.
//!
//! The classic trap is binary logging (MySQL 8's default, common on MariaDB): with
//! `log_bin` on and `log_bin_trust_function_creators` off, only a user with `SUPER` may
//! create triggers (error 1419), even with `ALL PRIVILEGES ON db.*`. The summaries are kept
//! by triggers, so that setting decides whether ttpgraph can be installed at all.
//!
//! Privileges are read from `information_schema` (global and schema grants of the
//! current user, matching wildcard grants such as `ttp\_%`) and from `SHOW GRANTS`, which
//! also lists the grants of the roles enabled in the session (a role granted but not made
//! the user's default gives a fresh connection nothing). SQLite needs nothing.

use super::error::{Result, StoreError};
use super::{Arg, Dialect, Store};

/// What the migrations do, as MySQL privileges: read and backfill (`SELECT`, `INSERT`,
/// `UPDATE`, `DELETE`), create summary tables and covering indexes (`CREATE`, `INDEX`,
/// `ALTER`), create the triggers (`TRIGGER`) and hold DECNET's writers off while the
/// summaries are rebuilt (`LOCK TABLES`). `ttpgraph migrate --uninstall` also needs `DROP`.
pub const MIGRATION_PRIVILEGES: &[&str] = &[
    "SELECT",
    "INSERT",
    "UPDATE",
    "DELETE",
    "CREATE",
    "ALTER",
    "INDEX",
    "TRIGGER",
    "LOCK TABLES",
];

/// The current MySQL/MariaDB user's standing for migrating.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivilegeReport {
    /// `'user'@'host'` as the server authenticated it.
    pub grantee: String,
    pub database: String,
    /// Privileges of [`MIGRATION_PRIVILEGES`] the user lacks on the database.
    pub missing: Vec<&'static str>,
    /// Binary logging is on, `log_bin_trust_function_creators` is off and the user has no
    /// `SUPER`: `CREATE TRIGGER` would fail with error 1419.
    pub binlog_blocks_triggers: bool,
}

impl PrivilegeReport {
    pub fn is_ok(&self) -> bool {
        self.missing.is_empty() && !self.binlog_blocks_triggers
    }

    /// What to run, one numbered fix per problem; `None` when nothing is missing.
    pub fn advice(&self) -> Option<String> {
        if self.is_ok() {
            return None;
        }
        let mut s = format!(
            "the database user {} cannot run ttpgraph's migrations on `{}`; nothing was changed.",
            self.grantee, self.database
        );
        if !self.missing.is_empty() {
            s.push_str(&format!(
                "\n  - missing privileges {}. As an administrator, run:\n      GRANT {} ON `{}`.* TO {};",
                self.missing.join(", "),
                MIGRATION_PRIVILEGES.join(", "),
                self.database,
                self.grantee
            ));
        }
        if self.binlog_blocks_triggers {
            s.push_str(&format!(
                "\n  - binary logging is on and log_bin_trust_function_creators is 0, so a user \
                 without SUPER cannot create triggers (error 1419), and ttpgraph keeps its \
                 summaries with triggers. As an administrator, run:\n      SET GLOBAL \
                 log_bin_trust_function_creators = 1;\n    and add \
                 `log_bin_trust_function_creators = 1` under [mysqld] in the server's \
                 configuration so it survives a restart (or GRANT SUPER ON *.* TO {}, which \
                 grants far more)",
                self.grantee
            ));
        }
        Some(s)
    }
}

impl Store {
    /// The current user's privileges for migrating; `None` on SQLite (no privileges).
    pub async fn migration_privileges(&self) -> Result<Option<PrivilegeReport>> {
        if self.dialect() == Dialect::Sqlite {
            return Ok(None);
        }
        let rows: Vec<(String, Option<String>, i64, i64)> = self
            .fetch_all(
                "SELECT CURRENT_USER(), DATABASE(), CAST(@@GLOBAL.log_bin AS SIGNED), \
                 CAST(@@GLOBAL.log_bin_trust_function_creators AS SIGNED)",
                vec![],
            )
            .await?;
        let Some((user, database, log_bin, trust)) = rows.into_iter().next() else {
            return Err(StoreError::Config(
                "the server returned no current user".into(),
            ));
        };
        let Some(database) = database else {
            return Err(StoreError::Config(
                "the MySQL URL names no database: add one, as in mysql://user:pass@host:3306/decnet"
                    .into(),
            ));
        };
        let grantee = match user.rsplit_once('@') {
            Some((u, h)) => format!("'{u}'@'{h}'"),
            None => format!("'{user}'"),
        };
        let mut held: Vec<(String,)> = self
            .fetch_all(
                "SELECT privilege_type FROM information_schema.user_privileges WHERE grantee = ? \
                 UNION SELECT privilege_type FROM information_schema.schema_privileges \
                 WHERE grantee = ? AND ? LIKE table_schema",
                vec![
                    Arg::from(grantee.clone()),
                    Arg::from(grantee.clone()),
                    Arg::from(database.clone()),
                ],
            )
            .await?;
        // A server started with --skip-grant-tables authenticates nobody (CURRENT_USER()
        // is `@`), allows everything and refuses SHOW GRANTS (1290).
        let unchecked = user.trim_matches('@').is_empty();
        if !unchecked {
            held.extend(
                self.shown_grants(&database)
                    .await?
                    .into_iter()
                    .map(|p| (p,)),
            );
        }
        let has = |p: &str| unchecked || held.iter().any(|(h,)| h.eq_ignore_ascii_case(p));
        let missing = MIGRATION_PRIVILEGES
            .iter()
            .copied()
            .filter(|p| !has(p))
            .collect();
        Ok(Some(PrivilegeReport {
            grantee,
            database,
            missing,
            binlog_blocks_triggers: log_bin != 0 && trust == 0 && !has("SUPER"),
        }))
    }

    /// Privileges `SHOW GRANTS` lists on `*.*` or on `` `database`.* ``. Unlike
    /// `information_schema`, it includes the grants of the roles enabled in the session
    /// (a user's default role, enabled at login): a user who migrates through a role is
    /// not told to ask for what it holds.
    async fn shown_grants(&self, database: &str) -> Result<Vec<String>> {
        let lines: Vec<(String,)> = self.fetch_all("SHOW GRANTS", vec![]).await?;
        let on_database = format!("`{}`.*", database.replace('`', "``"));
        let mut held = Vec::new();
        for (line,) in lines {
            let Some((privileges, rest)) = line
                .strip_prefix("GRANT ")
                .and_then(|l| l.split_once(" ON "))
            else {
                continue;
            };
            let scope = rest.split_once(" TO ").map_or(rest, |(s, _)| s).trim();
            if scope != "*.*" && scope != on_database {
                continue;
            }
            for p in privileges.split(',').map(str::trim) {
                if p.eq_ignore_ascii_case("ALL PRIVILEGES") || p.eq_ignore_ascii_case("ALL") {
                    held.extend(MIGRATION_PRIVILEGES.iter().map(|p| (*p).to_owned()));
                    if scope == "*.*" {
                        held.push("SUPER".to_owned());
                    }
                } else {
                    held.push(p.to_ascii_uppercase());
                }
            }
        }
        Ok(held)
    }

    /// Fails with [`StoreError::Privileges`] naming the fix when the user could not
    /// finish the migrations.
    pub(super) async fn check_migration_privileges(&self) -> Result<()> {
        match self.migration_privileges().await? {
            Some(r) => match r.advice() {
                Some(msg) => Err(StoreError::Privileges(msg)),
                None => Ok(()),
            },
            None => Ok(()),
        }
    }
}
