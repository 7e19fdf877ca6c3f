//! `ttpgraph migrate --uninstall`: removes everything ttpgraph added to DECNET's database,
//! leaving DECNET's schema and data as they were.
//!
//! Migrations 0001–0002 create DECNET's own tables and DECNET's indexes, each only when
//! missing (a database ttpgraph created from scratch is a DECNET database): they are
//! DECNET's schema and stay. Everything later is ttpgraph's and is listed in
//! [`TTPGRAPH_OBJECTS`]: **a migration that creates a table, index or trigger adds it
//! there** (`tests/it/store_uninstall.rs` fails on any object a migration creates that the
//! list lacks, and checks that DECNET's schema → migrate → uninstall gives DECNET's
//! schema back on both dialects).

use super::error::Result;
use super::{Arg, Dialect, Store};

/// One database object ttpgraph owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Object {
    Trigger(&'static str),
    /// An index ttpgraph adds to one of DECNET's tables.
    Index {
        table: &'static str,
        name: &'static str,
    },
    /// A table of ttpgraph's own (its indexes go with it).
    Table(&'static str),
}

impl Object {
    pub fn name(self) -> &'static str {
        match self {
            Object::Trigger(n) | Object::Table(n) | Object::Index { name: n, .. } => n,
        }
    }
}

/// Everything ttpgraph adds to DECNET's database, in the order it is removed: triggers
/// first (a trigger left behind without its summary table would fail DECNET's inserts),
/// then indexes, then tables.
pub const TTPGRAPH_OBJECTS: &[Object] = &[
    // 0003: summaries kept by triggers on ttp_tag.
    Object::Trigger("trg_ttp_tag_rollups_insert"),
    Object::Trigger("trg_ttp_tag_rollups_delete"),
    // 0007: the identity-scope summary, kept by triggers on ttp_tag and attackers.
    Object::Trigger("trg_ttp_tag_identity_scope_insert"),
    Object::Trigger("trg_ttp_tag_identity_scope_delete"),
    Object::Trigger("trg_attackers_identity_scope_insert"),
    Object::Trigger("trg_attackers_identity_scope_update"),
    Object::Trigger("trg_attackers_identity_scope_delete"),
    // 0010: the session summary.
    Object::Trigger("trg_ttp_tag_session_rollup_insert"),
    Object::Trigger("trg_ttp_tag_session_rollup_delete"),
    // 0008: the live change feed.
    Object::Trigger("trg_ttp_tag_live_feed"),
    // 0011: the data version (MySQL/MariaDB only).
    Object::Trigger("trg_ttp_tag_data_version_insert"),
    Object::Trigger("trg_ttp_tag_data_version_update"),
    Object::Trigger("trg_ttp_tag_data_version_delete"),
    Object::Trigger("trg_attackers_data_version_insert"),
    Object::Trigger("trg_attackers_data_version_update"),
    Object::Trigger("trg_attackers_data_version_delete"),
    Object::Trigger("trg_attacker_identities_data_version_insert"),
    Object::Trigger("trg_attacker_identities_data_version_update"),
    Object::Trigger("trg_attacker_identities_data_version_delete"),
    Object::Trigger("trg_campaigns_data_version_insert"),
    Object::Trigger("trg_campaigns_data_version_update"),
    Object::Trigger("trg_campaigns_data_version_delete"),
    // 0004, 0005: covering indexes on ttp_tag.
    Object::Index {
        table: "ttp_tag",
        name: "ix_ttp_tag_session_rollup",
    },
    Object::Index {
        table: "ttp_tag",
        name: "ix_ttp_tag_identity_inspect",
    },
    Object::Index {
        table: "ttp_tag",
        name: "ix_ttp_tag_attacker_inspect",
    },
    // 0009: the pivots' covering and sort indexes.
    Object::Index {
        table: "ttp_tag",
        name: "ix_ttp_tag_created_rollup",
    },
    Object::Index {
        table: "ttp_tag",
        name: "ix_ttp_tag_technique_pivot",
    },
    Object::Index {
        table: "attackers",
        name: "ix_attackers_ip_uuid",
    },
    Object::Index {
        table: "attackers",
        name: "ix_attackers_first_seen_uuid",
    },
    Object::Index {
        table: "attackers",
        name: "ix_attackers_last_seen_uuid",
    },
    Object::Index {
        table: "attackers",
        name: "ix_attackers_event_count_uuid",
    },
    Object::Index {
        table: "attacker_identities",
        name: "ix_attacker_identities_first_seen_uuid",
    },
    Object::Index {
        table: "attacker_identities",
        name: "ix_attacker_identities_last_seen_uuid",
    },
    Object::Index {
        table: "attacker_identities",
        name: "ix_attacker_identities_observations_uuid",
    },
    Object::Index {
        table: "attacker_identities",
        name: "ix_attacker_identities_confidence_uuid",
    },
    Object::Index {
        table: "campaigns",
        name: "ix_campaigns_first_seen_uuid",
    },
    Object::Index {
        table: "campaigns",
        name: "ix_campaigns_last_seen_uuid",
    },
    Object::Index {
        table: "campaigns",
        name: "ix_campaigns_identity_count_uuid",
    },
    Object::Index {
        table: "campaigns",
        name: "ix_campaigns_confidence_uuid",
    },
    // 0003 (mirrored by 0006).
    Object::Table("ttp_fleet_rollup"),
    Object::Table("ttp_attacker_rollup"),
    Object::Table("ttp_identity_rollup"),
    // 0007.
    Object::Table("ttp_identity_scope_rollup"),
    // 0010.
    Object::Table("ttp_session_rollup"),
    // 0008.
    Object::Table("ttp_live_feed"),
    Object::Table("ttp_live_floor"),
    // 0011.
    Object::Table("ttp_data_version"),
    // sqlx's bookkeeping: without it the next `migrate` installs everything again.
    Object::Table("_sqlx_migrations"),
];

impl Store {
    /// Does `o` exist in this database?
    pub async fn object_exists(&self, o: Object) -> Result<bool> {
        let (sql, args): (&str, Vec<Arg>) = match (self.dialect(), o) {
            (Dialect::Sqlite, Object::Trigger(n)) => (
                "SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND name = ?",
                vec![n.into()],
            ),
            (Dialect::Sqlite, Object::Index { name, .. }) => (
                "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?",
                vec![name.into()],
            ),
            (Dialect::Sqlite, Object::Table(n)) => (
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                vec![n.into()],
            ),
            (Dialect::MySql, Object::Trigger(n)) => (
                "SELECT 1 FROM information_schema.triggers \
                 WHERE trigger_schema = DATABASE() AND trigger_name = ?",
                vec![n.into()],
            ),
            (Dialect::MySql, Object::Index { table, name }) => (
                "SELECT 1 FROM information_schema.statistics \
                 WHERE table_schema = DATABASE() AND table_name = ? AND index_name = ? LIMIT 1",
                vec![table.into(), name.into()],
            ),
            (Dialect::MySql, Object::Table(n)) => (
                "SELECT 1 FROM information_schema.tables \
                 WHERE table_schema = DATABASE() AND table_name = ?",
                vec![n.into()],
            ),
        };
        let rows: Vec<(i64,)> = self.fetch_all(sql, args).await?;
        Ok(!rows.is_empty())
    }

    /// Removes every object of [`TTPGRAPH_OBJECTS`] that exists; returns their
    /// descriptions (`trigger x`, `index t.x`, `table x`). DECNET's tables and rows are not
    /// touched. Re-runnable: objects already gone are skipped.
    pub async fn uninstall(&self) -> Result<Vec<String>> {
        let mut removed = Vec::new();
        for &o in TTPGRAPH_OBJECTS {
            if !self.object_exists(o).await? {
                continue;
            }
            let (sql, what) = match o {
                Object::Trigger(n) => (format!("DROP TRIGGER {n}"), format!("trigger {n}")),
                Object::Index { table, name } => (
                    match self.dialect() {
                        Dialect::Sqlite => format!("DROP INDEX {name}"),
                        Dialect::MySql => format!("DROP INDEX {name} ON {table}"),
                    },
                    format!("index {table}.{name}"),
                ),
                Object::Table(n) => (format!("DROP TABLE {n}"), format!("table {n}")),
            };
            self.execute(sql, vec![]).await?;
            tracing::info!(object = %what, "removed");
            removed.push(what);
        }
        Ok(removed)
    }
}
