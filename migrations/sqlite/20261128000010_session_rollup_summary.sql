-- Session rollups summarised like attacker rollups, so a session rollup reads one row
-- per technique group however many tags the session holds (a DECNET fleet's busiest
-- sessions hold hundreds; aggregating them per request made sessions the slowest
-- rollup, issue 12).
--
--   ttp_session_rollup  session × technique × sub → session rollups
--
-- Kept as migration 0003 keeps its summaries, by triggers on ttp_tag whoever writes
-- (ttpgraph or DECNET's own workers): an insert counts up; a delete counts down at once
-- and marks its group dirty (an extreme may have left with the row), and
-- `Store::refresh_summaries` recomputes dirty groups from their tags. A group whose count
-- reaches zero is dropped. Tags without a session are not summarised.
--
-- Re-runnable: the summary is emptied and rebuilt from the tags (in the migration's
-- transaction, so no writer sees it half-built), triggers are dropped before they are
-- created.

CREATE TABLE IF NOT EXISTS ttp_session_rollup (
    session_id VARCHAR NOT NULL,
    technique_id VARCHAR NOT NULL,
    sub_key VARCHAR NOT NULL,
    tactic VARCHAR NOT NULL,
    tag_count INTEGER NOT NULL,
    confidence_max FLOAT NOT NULL,
    first_seen DATETIME NOT NULL,
    last_seen DATETIME NOT NULL,
    dirty INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (session_id, technique_id, sub_key)
) WITHOUT ROWID;

CREATE INDEX IF NOT EXISTS ix_ttp_session_rollup_dirty ON ttp_session_rollup (dirty);

-- Existing tags, read in group order from migration 0004's covering index.
DELETE FROM ttp_session_rollup;
INSERT INTO ttp_session_rollup (session_id, technique_id, sub_key, tactic, tag_count, confidence_max,
                                first_seen, last_seen)
SELECT session_id, technique_id, COALESCE(sub_technique_id, ''), MAX(tactic), COUNT(*), MAX(confidence),
       MIN(created_at), MAX(created_at)
FROM ttp_tag INDEXED BY ix_ttp_tag_session_rollup
WHERE session_id IS NOT NULL
GROUP BY session_id, technique_id, COALESCE(sub_technique_id, '');

DROP TRIGGER IF EXISTS trg_ttp_tag_session_rollup_insert;
CREATE TRIGGER trg_ttp_tag_session_rollup_insert AFTER INSERT ON ttp_tag
WHEN NEW.session_id IS NOT NULL
BEGIN
    INSERT INTO ttp_session_rollup (session_id, technique_id, sub_key, tactic, tag_count, confidence_max,
                                    first_seen, last_seen)
    VALUES (NEW.session_id, NEW.technique_id, COALESCE(NEW.sub_technique_id, ''), NEW.tactic, 1, NEW.confidence,
            NEW.created_at, NEW.created_at)
    ON CONFLICT (session_id, technique_id, sub_key) DO UPDATE
    SET tag_count = tag_count + 1, tactic = MAX(tactic, excluded.tactic),
        confidence_max = MAX(confidence_max, excluded.confidence_max),
        first_seen = MIN(first_seen, excluded.first_seen), last_seen = MAX(last_seen, excluded.last_seen);
END;

DROP TRIGGER IF EXISTS trg_ttp_tag_session_rollup_delete;
CREATE TRIGGER trg_ttp_tag_session_rollup_delete AFTER DELETE ON ttp_tag
WHEN OLD.session_id IS NOT NULL
BEGIN
    UPDATE ttp_session_rollup SET tag_count = tag_count - 1, dirty = 1
    WHERE session_id = OLD.session_id AND technique_id = OLD.technique_id
      AND sub_key = COALESCE(OLD.sub_technique_id, '');
    DELETE FROM ttp_session_rollup
    WHERE session_id = OLD.session_id AND technique_id = OLD.technique_id
      AND sub_key = COALESCE(OLD.sub_technique_id, '') AND tag_count <= 0;
END;
