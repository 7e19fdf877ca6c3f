-- The identity scope summarised (SPEC §3: tags on the identity, or on its attackers,
-- each counted once), so an identity rollup reads one row per technique group however
-- many attackers DECNET's clusterer has put in the identity.
--
--   ttp_identity_scope_rollup  identity × technique × sub → identity rollups
--
-- A tag counts for its own identity_uuid (if any) and for the identity_id of its
-- attacker's `attackers` row (if any, and if that is another identity). Triggers keep it
-- current whoever writes:
--   * ttp_tag INSERT / DELETE: the tag's own identity, and its attacker's identity;
--   * attackers INSERT / UPDATE OF uuid, identity_id / DELETE (re-clustering: an attacker
--     moved, identities merged): the attacker's summary groups (`ttp_attacker_rollup`,
--     migration 0003, exact counts) move from the old identity to the new one.
-- A decrement marks its group dirty, as in 0003: an extreme may have left with the rows;
-- `Store::refresh_summaries` recomputes dirty groups from their tags.
--
-- Re-runnable: the summary is rebuilt from migration 0003's summaries (dirty marks
-- carried over), triggers are dropped before they are created.

CREATE TABLE IF NOT EXISTS ttp_identity_scope_rollup (
    identity_uuid VARCHAR(36) NOT NULL,
    technique_id VARCHAR NOT NULL,
    sub_key VARCHAR NOT NULL,
    tactic VARCHAR NOT NULL,
    tag_count INTEGER NOT NULL,
    confidence_max FLOAT NOT NULL,
    first_seen DATETIME NOT NULL,
    last_seen DATETIME NOT NULL,
    dirty INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (identity_uuid, technique_id, sub_key)
) WITHOUT ROWID;

CREATE INDEX IF NOT EXISTS ix_ttp_identity_scope_rollup_dirty ON ttp_identity_scope_rollup (dirty);

DELETE FROM ttp_identity_scope_rollup;
INSERT INTO ttp_identity_scope_rollup (identity_uuid, technique_id, sub_key, tactic, tag_count, confidence_max,
                                       first_seen, last_seen, dirty)
SELECT identity_uuid, technique_id, sub_key, MAX(tactic), SUM(tag_count), MAX(confidence_max), MIN(first_seen),
       MAX(last_seen), MAX(dirty)
FROM (
    SELECT r.identity_uuid, r.technique_id, r.sub_key, r.tactic, r.tag_count, r.confidence_max, r.first_seen,
           r.last_seen, r.dirty
    FROM ttp_identity_rollup r WHERE r.tag_count > 0
    UNION ALL
    SELECT a.identity_id, r.technique_id, r.sub_key, r.tactic, r.tag_count, r.confidence_max, r.first_seen,
           r.last_seen, r.dirty
    FROM attackers a CROSS JOIN ttp_attacker_rollup r ON r.attacker_uuid = a.uuid
    WHERE a.identity_id IS NOT NULL AND r.identity_key <> a.identity_id AND r.tag_count > 0
) s
GROUP BY identity_uuid, technique_id, sub_key;

DROP TRIGGER IF EXISTS trg_ttp_tag_identity_scope_insert;
CREATE TRIGGER trg_ttp_tag_identity_scope_insert AFTER INSERT ON ttp_tag
BEGIN
    INSERT INTO ttp_identity_scope_rollup (identity_uuid, technique_id, sub_key, tactic, tag_count, confidence_max,
                                           first_seen, last_seen)
    SELECT NEW.identity_uuid, NEW.technique_id, COALESCE(NEW.sub_technique_id, ''), NEW.tactic, 1, NEW.confidence,
           NEW.created_at, NEW.created_at
    WHERE NEW.identity_uuid IS NOT NULL
    ON CONFLICT (identity_uuid, technique_id, sub_key) DO UPDATE
    SET tag_count = tag_count + 1, tactic = MAX(tactic, excluded.tactic),
        confidence_max = MAX(confidence_max, excluded.confidence_max),
        first_seen = MIN(first_seen, excluded.first_seen), last_seen = MAX(last_seen, excluded.last_seen);

    INSERT INTO ttp_identity_scope_rollup (identity_uuid, technique_id, sub_key, tactic, tag_count, confidence_max,
                                           first_seen, last_seen)
    SELECT a.identity_id, NEW.technique_id, COALESCE(NEW.sub_technique_id, ''), NEW.tactic, 1, NEW.confidence,
           NEW.created_at, NEW.created_at
    FROM attackers a
    WHERE a.uuid = NEW.attacker_uuid AND a.identity_id IS NOT NULL
      AND (NEW.identity_uuid IS NULL OR a.identity_id <> NEW.identity_uuid)
    ON CONFLICT (identity_uuid, technique_id, sub_key) DO UPDATE
    SET tag_count = tag_count + 1, tactic = MAX(tactic, excluded.tactic),
        confidence_max = MAX(confidence_max, excluded.confidence_max),
        first_seen = MIN(first_seen, excluded.first_seen), last_seen = MAX(last_seen, excluded.last_seen);
END;

DROP TRIGGER IF EXISTS trg_ttp_tag_identity_scope_delete;
CREATE TRIGGER trg_ttp_tag_identity_scope_delete AFTER DELETE ON ttp_tag
BEGIN
    UPDATE ttp_identity_scope_rollup SET tag_count = tag_count - 1, dirty = 1
    WHERE identity_uuid = OLD.identity_uuid AND technique_id = OLD.technique_id
      AND sub_key = COALESCE(OLD.sub_technique_id, '');
    DELETE FROM ttp_identity_scope_rollup
    WHERE identity_uuid = OLD.identity_uuid AND technique_id = OLD.technique_id
      AND sub_key = COALESCE(OLD.sub_technique_id, '') AND tag_count <= 0;

    UPDATE ttp_identity_scope_rollup SET tag_count = tag_count - 1, dirty = 1
    WHERE identity_uuid = (SELECT a.identity_id FROM attackers a
                           WHERE a.uuid = OLD.attacker_uuid
                             AND (OLD.identity_uuid IS NULL OR a.identity_id <> OLD.identity_uuid))
      AND technique_id = OLD.technique_id AND sub_key = COALESCE(OLD.sub_technique_id, '');
    DELETE FROM ttp_identity_scope_rollup
    WHERE identity_uuid = (SELECT a.identity_id FROM attackers a WHERE a.uuid = OLD.attacker_uuid)
      AND technique_id = OLD.technique_id AND sub_key = COALESCE(OLD.sub_technique_id, '') AND tag_count <= 0;
END;

-- An attacker's tags, as its summary groups in ttp_attacker_rollup, join its identity
-- (those whose own identity is another one, or none).
DROP TRIGGER IF EXISTS trg_attackers_identity_scope_insert;
CREATE TRIGGER trg_attackers_identity_scope_insert AFTER INSERT ON attackers
WHEN NEW.identity_id IS NOT NULL
BEGIN
    INSERT INTO ttp_identity_scope_rollup (identity_uuid, technique_id, sub_key, tactic, tag_count, confidence_max,
                                           first_seen, last_seen, dirty)
    SELECT NEW.identity_id, r.technique_id, r.sub_key, MAX(r.tactic), SUM(r.tag_count), MAX(r.confidence_max),
           MIN(r.first_seen), MAX(r.last_seen), MAX(r.dirty)
    FROM ttp_attacker_rollup r
    WHERE r.attacker_uuid = NEW.uuid AND r.identity_key <> NEW.identity_id AND r.tag_count > 0
    GROUP BY r.technique_id, r.sub_key
    ON CONFLICT (identity_uuid, technique_id, sub_key) DO UPDATE
    SET tag_count = tag_count + excluded.tag_count, tactic = MAX(tactic, excluded.tactic),
        confidence_max = MAX(confidence_max, excluded.confidence_max),
        first_seen = MIN(first_seen, excluded.first_seen), last_seen = MAX(last_seen, excluded.last_seen),
        dirty = MAX(dirty, excluded.dirty);
END;

-- Re-clustering: the attacker's groups leave the old identity (counted down, marked
-- dirty) and join the new one. Identity merges are this, once per attacker moved.
DROP TRIGGER IF EXISTS trg_attackers_identity_scope_update;
CREATE TRIGGER trg_attackers_identity_scope_update AFTER UPDATE OF uuid, identity_id ON attackers
WHEN OLD.identity_id IS NOT NEW.identity_id OR OLD.uuid IS NOT NEW.uuid
BEGIN
    UPDATE ttp_identity_scope_rollup
    SET tag_count = tag_count - (SELECT SUM(r.tag_count) FROM ttp_attacker_rollup r
                                 WHERE r.attacker_uuid = OLD.uuid
                                   AND r.technique_id = ttp_identity_scope_rollup.technique_id
                                   AND r.sub_key = ttp_identity_scope_rollup.sub_key
                                   AND r.identity_key <> OLD.identity_id),
        dirty = 1
    WHERE identity_uuid = OLD.identity_id
      AND EXISTS (SELECT 1 FROM ttp_attacker_rollup r
                  WHERE r.attacker_uuid = OLD.uuid
                    AND r.technique_id = ttp_identity_scope_rollup.technique_id
                    AND r.sub_key = ttp_identity_scope_rollup.sub_key
                    AND r.identity_key <> OLD.identity_id);
    DELETE FROM ttp_identity_scope_rollup WHERE identity_uuid = OLD.identity_id AND tag_count <= 0;

    INSERT INTO ttp_identity_scope_rollup (identity_uuid, technique_id, sub_key, tactic, tag_count, confidence_max,
                                           first_seen, last_seen, dirty)
    SELECT NEW.identity_id, r.technique_id, r.sub_key, MAX(r.tactic), SUM(r.tag_count), MAX(r.confidence_max),
           MIN(r.first_seen), MAX(r.last_seen), MAX(r.dirty)
    FROM ttp_attacker_rollup r
    WHERE NEW.identity_id IS NOT NULL AND r.attacker_uuid = NEW.uuid AND r.identity_key <> NEW.identity_id
      AND r.tag_count > 0
    GROUP BY r.technique_id, r.sub_key
    ON CONFLICT (identity_uuid, technique_id, sub_key) DO UPDATE
    SET tag_count = tag_count + excluded.tag_count, tactic = MAX(tactic, excluded.tactic),
        confidence_max = MAX(confidence_max, excluded.confidence_max),
        first_seen = MIN(first_seen, excluded.first_seen), last_seen = MAX(last_seen, excluded.last_seen),
        dirty = MAX(dirty, excluded.dirty);
END;

DROP TRIGGER IF EXISTS trg_attackers_identity_scope_delete;
CREATE TRIGGER trg_attackers_identity_scope_delete AFTER DELETE ON attackers
WHEN OLD.identity_id IS NOT NULL
BEGIN
    UPDATE ttp_identity_scope_rollup
    SET tag_count = tag_count - (SELECT SUM(r.tag_count) FROM ttp_attacker_rollup r
                                 WHERE r.attacker_uuid = OLD.uuid
                                   AND r.technique_id = ttp_identity_scope_rollup.technique_id
                                   AND r.sub_key = ttp_identity_scope_rollup.sub_key
                                   AND r.identity_key <> OLD.identity_id),
        dirty = 1
    WHERE identity_uuid = OLD.identity_id
      AND EXISTS (SELECT 1 FROM ttp_attacker_rollup r
                  WHERE r.attacker_uuid = OLD.uuid
                    AND r.technique_id = ttp_identity_scope_rollup.technique_id
                    AND r.sub_key = ttp_identity_scope_rollup.sub_key
                    AND r.identity_key <> OLD.identity_id);
    DELETE FROM ttp_identity_scope_rollup WHERE identity_uuid = OLD.identity_id AND tag_count <= 0;
END;
