//! The live change feed (migration 0008): `ttp_live_feed` gets one row per tag inserted,
//! by a trigger, whoever writes. Here: reading it (the tail every instance polls, the
//! catch-up of a resuming client), the retention floor, pruning, and the first-seen test.

use sqlx::FromRow;

use super::Store;
use super::arg::Arg;
use super::columns::TAG_SELECT;
use super::error::Result;
use super::models::Tag;

/// One feed row with its tag and the context a live filter needs (read at tail time:
/// an attacker linked to an identity later does not change what was delivered).
#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct FeedRow {
    /// The feed's sequence number: the cursor of this event.
    pub seq: i64,
    #[sqlx(flatten)]
    pub tag: Tag,
    /// The identity of the tag's attacker (the tag is then also in that identity's scope).
    pub attacker_identity: Option<String>,
    /// The campaign of the tag's own identity.
    pub identity_campaign: Option<String>,
    /// The campaign of the attacker's identity.
    pub attacker_campaign: Option<String>,
}

/// A scope a technique can be new in (`techniqueFirstSeen`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FirstSeenScope {
    Fleet,
    Identity(String),
    Attacker(String),
    Campaign(String),
}

/// What one pruning batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub rows: u64,
    /// Every sequence number at or below this may now be gone.
    pub through: i64,
}

/// How many of the newest feed rows [`Store::live_start`] looks at for numbers still in
/// flight (more writers than this in flight at once is not a DECNET fleet).
pub const START_WINDOW: i64 = 1000;

impl Store {
    /// The newest sequence number in the feed (0 when empty).
    pub async fn live_head(&self) -> Result<i64> {
        let rows: Vec<(i64,)> = self
            .fetch_all(
                "SELECT COALESCE(MAX(seq), 0) AS seq FROM ttp_live_feed",
                vec![],
            )
            .await?;
        Ok(rows.first().map_or(0, |r| r.0))
    }

    /// Where a tail starts reading: the head, unless a number among the newest
    /// [`START_WINDOW`] is missing with a younger row after it than `recent_secs`. On
    /// MySQL/MariaDB that number may belong to a writer that has not committed yet (A took
    /// n, B took n+1 and committed first): a tail started at the head would never read A,
    /// and a resuming client's catch-up, bounded by the tail, neither. Starting just below
    /// the lowest such number lets the tail's gap wait decide, as it would have if it had
    /// been running: A is published when it commits, or passed by after the wait.
    /// Rows older than `recent_secs` after a hole mean a running tail would have passed it
    /// already (a rolled-back writer). SQLite has no holes (writers are serialised).
    pub async fn live_start(&self, recent_secs: i64) -> Result<i64> {
        let mut newest: Vec<(i64, i64)> = self
            .fetch_all(
                "SELECT seq, at_epoch FROM ttp_live_feed ORDER BY seq DESC LIMIT ?",
                vec![Arg::Int(START_WINDOW)],
            )
            .await?;
        let Some(&(head, _)) = newest.first() else {
            return Ok(0);
        };
        if (newest.len() as i64) < START_WINDOW {
            // Below the oldest row is the retention floor: numbers between are missing too.
            newest.push((self.live_floor().await?, i64::MIN));
        }
        let young = chrono::Utc::now().timestamp() - recent_secs;
        Ok(newest
            .windows(2)
            .filter(|w| w[0].0 - w[1].0 > 1 && w[0].1 >= young)
            .map(|w| w[1].0)
            .next_back()
            .unwrap_or(head))
    }

    /// Feed rows strictly after `after`, oldest first, at most `limit`, with their tags
    /// (a tag deleted since is left out). One statement: the tail every instance polls
    /// and each page of a catch-up. `upto` bounds a catch-up to what the tail has passed.
    pub async fn live_rows(
        &self,
        after: i64,
        upto: Option<i64>,
        limit: i64,
    ) -> Result<Vec<FeedRow>> {
        let mut args = vec![Arg::Int(after)];
        let bound = match upto {
            Some(u) => {
                args.push(Arg::Int(u));
                " AND f.seq <= ?"
            }
            None => "",
        };
        args.push(Arg::Int(limit.max(1)));
        // CROSS JOIN keeps the feed's primary-key range as SQLite's outer loop.
        let sql = format!(
            r"SELECT f.seq, {select}, a.identity_id AS attacker_identity,
                     ti.campaign_id AS identity_campaign, ai.campaign_id AS attacker_campaign
              FROM ttp_live_feed f
              CROSS JOIN ttp_tag t ON t.uuid = f.tag_uuid
              LEFT JOIN attackers a ON a.uuid = t.attacker_uuid
              LEFT JOIN attacker_identities ti ON ti.uuid = t.identity_uuid
              LEFT JOIN attacker_identities ai ON ai.uuid = a.identity_id
              WHERE f.seq > ?{bound}
              ORDER BY f.seq LIMIT ?",
            select = *TAG_SELECT
        );
        self.fetch_all(sql, args).await
    }

    /// Every sequence number at or below this may have been pruned: a cursor older than
    /// it cannot be resumed without a gap.
    pub async fn live_floor(&self) -> Result<i64> {
        let rows: Vec<(i64,)> = self
            .fetch_all(
                "SELECT pruned_through FROM ttp_live_floor WHERE name = 'feed'",
                vec![],
            )
            .await?;
        Ok(rows.first().map_or(0, |r| r.0))
    }

    /// Prunes at most `batch` of the oldest feed rows that are older than `max_age_secs`
    /// or beyond the newest `max_rows`; the newest row always stays (MySQL versions that
    /// re-seed AUTO_INCREMENT from `MAX(seq)` at restart must never reuse a number).
    ///
    /// The floor is raised *before* the rows go, each statement in its own short
    /// transaction: a reader that reads rows and then the floor either sees the rows or
    /// sees a floor above its cursor (`CURSOR_EXPIRED`), never a silent gap. The delete
    /// is a primary-key range below the newest row, so it takes no lock an insert (at the
    /// top of the key) waits for.
    pub async fn live_prune(&self, max_age_secs: i64, max_rows: i64, batch: i64) -> Result<Pruned> {
        let oldest: Vec<(i64, i64)> = self
            .fetch_all(
                "SELECT seq, at_epoch FROM ttp_live_feed ORDER BY seq LIMIT ?",
                vec![Arg::Int(batch.max(1))],
            )
            .await?;
        let head = self.live_head().await?;
        let cutoff = chrono::Utc::now().timestamp() - max_age_secs;
        let row_bound = head - max_rows;
        let Some(through) = oldest
            .iter()
            .take_while(|(seq, at)| *seq < head && (*at < cutoff || *seq <= row_bound))
            .map(|(seq, _)| *seq)
            .last()
        else {
            return Ok(Pruned::default());
        };
        self.execute(
            "UPDATE ttp_live_floor SET pruned_through = ? WHERE name = 'feed' AND pruned_through < ?",
            vec![Arg::Int(through), Arg::Int(through)],
        )
        .await?;
        let rows = self
            .execute(
                "DELETE FROM ttp_live_feed WHERE seq <= ?",
                vec![Arg::Int(through)],
            )
            .await?;
        Ok(Pruned { rows, through })
    }

    /// Is the tag at feed position `seq` the first of `technique_id` in `scope`? "First"
    /// means: no other tag of that (parent) technique in the scope is older than the
    /// feed (written before migration 0008, or pruned) or has a smaller sequence number.
    /// The feed order is the commit order of the writers' inserts as the database
    /// numbered them, so of two concurrent writers exactly one tag is first, on every
    /// instance. Ask only once every smaller sequence number is settled (the tailer's
    /// watermark has passed it).
    pub async fn live_first_seen(
        &self,
        scope: &FirstSeenScope,
        technique_id: &str,
        seq: i64,
    ) -> Result<bool> {
        let tech = || Arg::Str(technique_id.to_owned());
        let (tags, mut args) = match scope {
            FirstSeenScope::Fleet => (
                "SELECT t.uuid FROM ttp_tag t WHERE t.technique_id = ?".to_owned(),
                vec![tech()],
            ),
            FirstSeenScope::Attacker(id) => (
                "SELECT t.uuid FROM ttp_tag t WHERE t.attacker_uuid = ? AND t.technique_id = ?"
                    .to_owned(),
                vec![Arg::Str(id.clone()), tech()],
            ),
            FirstSeenScope::Identity(id) => (
                r"SELECT t.uuid FROM ttp_tag t WHERE t.identity_uuid = ? AND t.technique_id = ?
                  UNION ALL
                  SELECT t.uuid FROM attackers a CROSS JOIN ttp_tag t ON t.attacker_uuid = a.uuid
                  WHERE a.identity_id = ? AND t.technique_id = ?"
                    .to_owned(),
                vec![Arg::Str(id.clone()), tech(), Arg::Str(id.clone()), tech()],
            ),
            FirstSeenScope::Campaign(id) => (
                r"SELECT t.uuid FROM attacker_identities i
                  CROSS JOIN ttp_tag t ON t.identity_uuid = i.uuid
                  WHERE i.campaign_id = ? AND t.technique_id = ?
                  UNION ALL
                  SELECT t.uuid FROM attacker_identities i
                  CROSS JOIN attackers a ON a.identity_id = i.uuid
                  CROSS JOIN ttp_tag t ON t.attacker_uuid = a.uuid
                  WHERE i.campaign_id = ? AND t.technique_id = ?"
                    .to_owned(),
                vec![Arg::Str(id.clone()), tech(), Arg::Str(id.clone()), tech()],
            ),
        };
        args.push(Arg::Int(seq));
        let sql = format!(
            r"SELECT 1 AS hit FROM ({tags}) s
              LEFT JOIN ttp_live_feed f ON f.tag_uuid = s.uuid
              WHERE f.seq IS NULL OR f.seq < ?
              LIMIT 1"
        );
        let rows: Vec<(i64,)> = self.fetch_all(sql, args).await?;
        Ok(rows.is_empty())
    }
}
