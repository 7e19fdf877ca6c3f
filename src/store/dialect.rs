//! The few places where SQLite and MySQL/MariaDB really differ. Everything else in the
//! store is one portable statement.

/// Which SQL engine a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    Sqlite,
    MySql,
}

impl Dialect {
    /// `mysql://` and `mariadb://` URLs are MySQL; anything else is an SQLite URL or path.
    pub fn of_url(url: &str) -> Self {
        let lower = url.trim_start().to_ascii_lowercase();
        if lower.starts_with("mysql:") || lower.starts_with("mariadb:") {
            Dialect::MySql
        } else {
            Dialect::Sqlite
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Dialect::Sqlite => "sqlite",
            Dialect::MySql => "mysql",
        }
    }

    /// Insert-or-ignore on the primary key: `(head, tail)` around `(cols) VALUES …`.
    /// First write wins on both; MySQL's `INSERT IGNORE` also skips rows that would break
    /// a foreign key, which DECNET relies on.
    pub fn insert_or_ignore(self) -> (&'static str, &'static str) {
        match self {
            Dialect::Sqlite => ("INSERT INTO", " ON CONFLICT(uuid) DO NOTHING"),
            Dialect::MySql => ("INSERT IGNORE INTO", ""),
        }
    }

    /// Insert-or-ignore on another table's primary key column `key` (e.g. `jti`), same
    /// shape as [`Dialect::insert_or_ignore`].
    pub fn insert_or_ignore_on(self, key: &str) -> (&'static str, String) {
        match self {
            Dialect::Sqlite => ("INSERT INTO", format!(" ON CONFLICT({key}) DO NOTHING")),
            Dialect::MySql => ("INSERT IGNORE INTO", String::new()),
        }
    }

    /// The two-argument (scalar) maximum and minimum: SQLite's `MAX(a, b)`/`MIN(a, b)`,
    /// MySQL's `GREATEST`/`LEAST` (its `MAX`/`MIN` are aggregates only). Both are NULL
    /// when an argument is.
    pub fn greatest_least(self) -> (&'static str, &'static str) {
        match self {
            Dialect::Sqlite => ("MAX", "MIN"),
            Dialect::MySql => ("GREATEST", "LEAST"),
        }
    }

    /// Makes the table reference before it read through `index`: SQLite's `INDEXED BY`,
    /// MySQL's `FORCE INDEX`. For statements whose right index the planner cannot know
    /// without statistics (DECNET never runs ANALYZE): a covering index led by a column
    /// the statement also pins can look as good and read a whole technique instead.
    pub fn force_index(self, index: &str) -> String {
        match self {
            Dialect::Sqlite => format!("INDEXED BY {index}"),
            Dialect::MySql => format!("FORCE INDEX ({index})"),
        }
    }

    /// Is this database error a lock conflict worth retrying the whole write
    /// transaction for (SQLite busy/locked, InnoDB deadlock or lock-wait timeout)?
    pub fn is_lock_conflict(self, e: &sqlx::Error) -> bool {
        let sqlx::Error::Database(db) = e else {
            return false;
        };
        match self {
            Dialect::Sqlite => {
                let code = db.code().and_then(|c| c.parse::<i32>().ok()).unwrap_or(0);
                matches!(code & 0xff, 5 | 6)
            }
            Dialect::MySql => matches!(mysql_error_number(db.as_ref()), Some(1205 | 1213)),
        }
    }
}

/// The MySQL/MariaDB error number of a database error (`None` for another database's).
pub(super) fn mysql_error_number(db: &dyn sqlx::error::DatabaseError) -> Option<u16> {
    db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
        .map(|m| m.number())
}
