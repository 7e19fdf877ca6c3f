//! `ttpgraph demo` writes into whatever database it is pointed at: run twice it added a
//! second fleet (600 attackers), and pointed at DECNET's production database it would
//! mix invented attackers into real threat data. It therefore refuses a database that
//! already holds any of DECNET's rows unless `--force` is given.

use crate::store::Store;

/// DECNET's tables the demo writes, checked for any row.
const TABLES: [&str; 4] = ["ttp_tag", "attackers", "attacker_identities", "campaigns"];

/// `Ok` when the database holds no row in [`TABLES`] or `force` is set; otherwise an error
/// naming what is there and how to go on.
pub async fn refuse_unless_empty(store: &Store, force: bool) -> Result<(), String> {
    let mut found = Vec::new();
    for t in TABLES {
        let rows: Vec<(i64,)> = store
            .fetch_all(format!("SELECT 1 FROM {t} LIMIT 1"), vec![])
            .await
            .map_err(|e| format!("cannot tell whether the database is empty: {e}"))?;
        if !rows.is_empty() {
            found.push(t);
        }
    }
    if found.is_empty() || force {
        if force && !found.is_empty() {
            tracing::warn!(tables = ?found, "--force: adding the demo fleet to a database that holds data");
        }
        return Ok(());
    }
    Err(format!(
        "refusing to add the demo fleet: the database already holds rows in {} (a DECNET \
         database, or an earlier demo). Point --database-url at a new database, or pass \
         --force to add a second fleet to this one",
        found.join(", ")
    ))
}
