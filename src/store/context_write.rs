//! Writes to the context tables. DECNET owns these in production; ttpgraph writes them
//! for `ttpgraph demo` and tests, insert-or-ignore like the tags so a rerun is harmless.

use super::Store;
use super::arg::{Arg, placeholders};
use super::error::Result;
use super::models::{Attacker, Campaign, CanaryTrigger, Identity};

/// Bind parameters per statement, well under both dialects' limits.
const MAX_PARAMS: usize = 16_000;

impl Store {
    async fn insert_or_ignore_rows(
        &self,
        table: &str,
        columns: &[&str],
        rows: Vec<Vec<Arg>>,
    ) -> Result<u64> {
        let (head, tail) = self.dialect().insert_or_ignore();
        let one = format!("({})", placeholders(columns.len()));
        let per = (MAX_PARAMS / columns.len()).max(1);
        let mut n = 0;
        let mut rows = rows.into_iter().peekable();
        while rows.peek().is_some() {
            let chunk: Vec<Vec<Arg>> = rows.by_ref().take(per).collect();
            let values = vec![one.as_str(); chunk.len()].join(", ");
            let sql = format!(
                "{head} {table} ({}) VALUES {values}{tail}",
                columns.join(", ")
            );
            n += self
                .execute(sql, chunk.into_iter().flatten().collect())
                .await?;
        }
        Ok(n)
    }

    pub async fn insert_attackers(&self, rows: &[Attacker]) -> Result<u64> {
        let cols = [
            "uuid",
            "ip",
            "identity_id",
            "first_seen",
            "last_seen",
            "event_count",
            "commands",
        ];
        let rows = rows
            .iter()
            .map(|a| {
                vec![
                    Arg::Str(a.uuid.clone()),
                    Arg::Str(a.ip.clone().unwrap_or_default()),
                    Arg::OptStr(a.identity_id.clone()),
                    opt_time(a.first_seen),
                    opt_time(a.last_seen),
                    Arg::Int(a.event_count.unwrap_or(0)),
                    Arg::Str(
                        a.commands
                            .as_ref()
                            .map(|c| c.0.clone())
                            .unwrap_or_else(|| "[]".into()),
                    ),
                ]
            })
            .collect();
        self.insert_or_ignore_rows("attackers", &cols, rows).await
    }

    pub async fn insert_identities(&self, rows: &[Identity]) -> Result<u64> {
        let cols = [
            "uuid",
            "campaign_id",
            "first_seen_at",
            "last_seen_at",
            "confidence",
            "observation_count",
            "merged_into_uuid",
        ];
        let rows = rows
            .iter()
            .map(|i| {
                vec![
                    Arg::Str(i.uuid.clone()),
                    Arg::OptStr(i.campaign_id.clone()),
                    opt_time(i.first_seen_at),
                    opt_time(i.last_seen_at),
                    opt_conf(i.confidence),
                    Arg::Int(i.observation_count.unwrap_or(0)),
                    Arg::OptStr(i.merged_into_uuid.clone()),
                ]
            })
            .collect();
        self.insert_or_ignore_rows("attacker_identities", &cols, rows)
            .await
    }

    pub async fn insert_campaigns(&self, rows: &[Campaign]) -> Result<u64> {
        let cols = [
            "uuid",
            "first_seen_at",
            "last_seen_at",
            "confidence",
            "identity_count",
            "merged_into_uuid",
        ];
        let rows = rows
            .iter()
            .map(|c| {
                vec![
                    Arg::Str(c.uuid.clone()),
                    opt_time(c.first_seen_at),
                    opt_time(c.last_seen_at),
                    opt_conf(c.confidence),
                    Arg::Int(c.identity_count.unwrap_or(0)),
                    Arg::OptStr(c.merged_into_uuid.clone()),
                ]
            })
            .collect();
        self.insert_or_ignore_rows("campaigns", &cols, rows).await
    }

    pub async fn insert_canary_triggers(&self, rows: &[CanaryTrigger]) -> Result<u64> {
        let cols = [
            "uuid",
            "token_uuid",
            "occurred_at",
            "src_ip",
            "user_agent",
            "request_path",
            "attacker_id",
        ];
        let rows = rows
            .iter()
            .map(|c| {
                vec![
                    Arg::Str(c.uuid.clone()),
                    Arg::OptStr(c.token_uuid.clone()),
                    Arg::Time(c.occurred_at),
                    Arg::OptStr(c.src_ip.clone()),
                    Arg::OptStr(c.user_agent.clone()),
                    Arg::OptStr(c.request_path.clone()),
                    Arg::OptStr(c.attacker_id.clone()),
                ]
            })
            .collect();
        self.insert_or_ignore_rows("canary_triggers", &cols, rows)
            .await
    }
}

/// NULL-able datetime parameter (a NULL of any type binds as NULL on both dialects).
fn opt_time(t: Option<super::Timestamp>) -> Arg {
    t.map(Arg::Time).unwrap_or(Arg::OptStr(None))
}

fn opt_conf(c: Option<super::Confidence>) -> Arg {
    c.map(Arg::Conf).unwrap_or(Arg::OptStr(None))
}
