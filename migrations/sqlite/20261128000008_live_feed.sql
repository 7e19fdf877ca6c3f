-- The live change feed (issue 10): every row inserted into ttp_tag, whoever writes it
-- (ttpgraph, DECNET's workers, another ttpgraph), gets a monotonic sequence number here,
-- in the writer's own transaction. Every ttpgraph instance tails this table and fans the
-- new rows out to its subscribers. Append-only: rows leave only by retention pruning
-- (oldest first), which records how far it went in ttp_live_floor, so a client resuming
-- from an older cursor is told (CURSOR_EXPIRED) instead of silently missing rows.
--
-- AUTOINCREMENT (not a plain rowid): a sequence number is never reused, even after the
-- newest rows are pruned. at_epoch is the feed time in whole UNIX seconds (retention by
-- age), not the tag's created_at (which DECNET may back-date).
--
-- The trigger only inserts one narrow row into a table with no other constraint, so it
-- cannot make a DECNET insert fail. Objects (uninstall removes them, trigger first):
-- trigger trg_ttp_tag_live_feed, index ix_ttp_live_feed_tag, tables ttp_live_feed and
-- ttp_live_floor.

CREATE TABLE IF NOT EXISTS ttp_live_feed (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    tag_uuid VARCHAR(36) NOT NULL,
    at_epoch INTEGER NOT NULL
);
-- First-seen checks look a tag's sequence number up by its uuid.
CREATE INDEX IF NOT EXISTS ix_ttp_live_feed_tag ON ttp_live_feed (tag_uuid);

-- One row: every sequence number <= pruned_through may have been pruned.
CREATE TABLE IF NOT EXISTS ttp_live_floor (
    name VARCHAR(16) NOT NULL PRIMARY KEY,
    pruned_through INTEGER NOT NULL
);
INSERT OR IGNORE INTO ttp_live_floor (name, pruned_through) VALUES ('feed', 0);

DROP TRIGGER IF EXISTS trg_ttp_tag_live_feed;
CREATE TRIGGER trg_ttp_tag_live_feed AFTER INSERT ON ttp_tag
BEGIN
    INSERT INTO ttp_live_feed (tag_uuid, at_epoch) VALUES (NEW.uuid, CAST(strftime('%s', 'now') AS INTEGER));
END;
