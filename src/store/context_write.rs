//! Writes to the context tables. DECNET owns these in production; ttpgraph writes them
//! for `ttpgraph demo` and tests, insert-or-ignore like the tags so a rerun is harmless.

use super::Store;
use super::arg::{Arg, placeholders};
use super::columns::{Table, column_count};
use super::error::Result;
use super::models::{Attacker, Campaign, CanaryTrigger, Identity};

/// Bind parameters per statement, well under both dialects' limits.
const MAX_PARAMS: usize = 16_000;

impl Store {
    /// Inserts rows of `T`'s table, insert-or-ignore, in statements of at most
    /// [`MAX_PARAMS`] parameters.
    async fn insert_table<T: InsertRow>(&self, rows: &[T]) -> Result<u64> {
        let (head, tail) = self.dialect().insert_or_ignore();
        let width = column_count(T::COLUMNS);
        let one = format!("({})", placeholders(width));
        let per = (MAX_PARAMS / width).max(1);
        let mut n = 0;
        for chunk in rows.chunks(per) {
            let values = vec![one.as_str(); chunk.len()].join(", ");
            let sql = format!("{head} {} ({}) VALUES {values}{tail}", T::NAME, T::COLUMNS);
            let args = chunk.iter().flat_map(InsertRow::values).collect();
            n += self.execute(sql, args).await?;
        }
        Ok(n)
    }

    pub async fn insert_attackers(&self, rows: &[Attacker]) -> Result<u64> {
        self.insert_table(rows).await
    }

    pub async fn insert_identities(&self, rows: &[Identity]) -> Result<u64> {
        self.insert_table(rows).await
    }

    pub async fn insert_campaigns(&self, rows: &[Campaign]) -> Result<u64> {
        self.insert_table(rows).await
    }

    pub async fn insert_canary_triggers(&self, rows: &[CanaryTrigger]) -> Result<u64> {
        self.insert_table(rows).await
    }
}

/// A row as insert arguments, in [`Table::COLUMNS`] order. Columns DECNET declares
/// NOT NULL get its defaults when the row leaves them out.
trait InsertRow: Table {
    fn values(&self) -> Vec<Arg>;
}

impl InsertRow for Attacker {
    fn values(&self) -> Vec<Arg> {
        let commands = self.commands.as_ref().map(|c| c.0.clone());
        vec![
            Arg::Str(self.uuid.clone()),
            Arg::Str(self.ip.clone().unwrap_or_default()),
            Arg::OptStr(self.identity_id.clone()),
            opt_time(self.first_seen),
            opt_time(self.last_seen),
            Arg::Int(self.event_count.unwrap_or(0)),
            Arg::Str(commands.unwrap_or_else(|| "[]".into())),
        ]
    }
}

impl InsertRow for Identity {
    fn values(&self) -> Vec<Arg> {
        vec![
            Arg::Str(self.uuid.clone()),
            Arg::OptStr(self.campaign_id.clone()),
            opt_time(self.first_seen_at),
            opt_time(self.last_seen_at),
            opt_conf(self.confidence),
            Arg::Int(self.observation_count.unwrap_or(0)),
            Arg::OptStr(self.merged_into_uuid.clone()),
        ]
    }
}

impl InsertRow for Campaign {
    fn values(&self) -> Vec<Arg> {
        vec![
            Arg::Str(self.uuid.clone()),
            opt_time(self.first_seen_at),
            opt_time(self.last_seen_at),
            opt_conf(self.confidence),
            Arg::Int(self.identity_count.unwrap_or(0)),
            Arg::OptStr(self.merged_into_uuid.clone()),
        ]
    }
}

impl InsertRow for CanaryTrigger {
    fn values(&self) -> Vec<Arg> {
        vec![
            Arg::Str(self.uuid.clone()),
            Arg::OptStr(self.token_uuid.clone()),
            Arg::Time(self.occurred_at),
            Arg::OptStr(self.src_ip.clone()),
            Arg::OptStr(self.user_agent.clone()),
            Arg::OptStr(self.request_path.clone()),
            Arg::OptStr(self.attacker_id.clone()),
        ]
    }
}

/// NULL-able datetime parameter (a NULL of any type binds as NULL on both dialects).
fn opt_time(t: Option<super::Timestamp>) -> Arg {
    t.map(Arg::Time).unwrap_or(Arg::OptStr(None))
}

fn opt_conf(c: Option<super::Confidence>) -> Arg {
    c.map(Arg::Conf).unwrap_or(Arg::OptStr(None))
}
