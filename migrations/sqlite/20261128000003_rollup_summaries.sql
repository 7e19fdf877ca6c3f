-- Rollups kept current at write time, so the big answers cost what their size costs,
-- not what ttp_tag's size costs. Triggers keep them current whoever writes ttp_tag —
-- ttpgraph or DECNET's own workers.
--
--   ttp_fleet_rollup     technique × sub × tactic × confidence   → fleet rollup (and its filters)
--   ttp_attacker_rollup  attacker × technique × sub × tag's identity → attacker rollups, export,
--                        and the attacker half of identity rollups (the identity column is
--                        what lets a tag that names the identity itself be counted once)
--   ttp_identity_rollup  identity × technique × sub               → identity and campaign rollups
--
-- sub_key / identity_key are the nullable columns with NULL as '' (NULLs are distinct in
-- a primary key). Tags are immutable in DECNET (first write wins): inserts and deletes
-- are tracked (deletes lazily: see the delete trigger).

CREATE TABLE IF NOT EXISTS ttp_fleet_rollup (
    technique_id VARCHAR NOT NULL,
    sub_key VARCHAR NOT NULL,
    tactic VARCHAR NOT NULL,
    confidence FLOAT NOT NULL,
    tag_count INTEGER NOT NULL,
    last_seen DATETIME NOT NULL,
    dirty INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (technique_id, sub_key, tactic, confidence)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS ttp_attacker_rollup (
    attacker_uuid VARCHAR(36) NOT NULL,
    technique_id VARCHAR NOT NULL,
    sub_key VARCHAR NOT NULL,
    identity_key VARCHAR(36) NOT NULL,
    tactic VARCHAR NOT NULL,
    tag_count INTEGER NOT NULL,
    confidence_max FLOAT NOT NULL,
    first_seen DATETIME NOT NULL,
    last_seen DATETIME NOT NULL,
    dirty INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (attacker_uuid, technique_id, sub_key, identity_key)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS ttp_identity_rollup (
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

-- Deletes mark groups dirty; the refresh finds them through these.
CREATE INDEX IF NOT EXISTS ix_ttp_fleet_rollup_dirty ON ttp_fleet_rollup (dirty);
CREATE INDEX IF NOT EXISTS ix_ttp_attacker_rollup_dirty ON ttp_attacker_rollup (dirty);
CREATE INDEX IF NOT EXISTS ix_ttp_identity_rollup_dirty ON ttp_identity_rollup (dirty);

-- Existing tags (a DECNET database opened for the first time).
INSERT INTO ttp_fleet_rollup (technique_id, sub_key, tactic, confidence, tag_count, last_seen)
SELECT technique_id, COALESCE(sub_technique_id, ''), tactic, confidence, COUNT(*), MAX(created_at)
FROM ttp_tag GROUP BY technique_id, COALESCE(sub_technique_id, ''), tactic, confidence;

INSERT INTO ttp_attacker_rollup (attacker_uuid, technique_id, sub_key, identity_key, tactic, tag_count,
                                 confidence_max, first_seen, last_seen)
SELECT attacker_uuid, technique_id, COALESCE(sub_technique_id, ''), COALESCE(identity_uuid, ''), MAX(tactic),
       COUNT(*), MAX(confidence), MIN(created_at), MAX(created_at)
FROM ttp_tag WHERE attacker_uuid IS NOT NULL
GROUP BY attacker_uuid, technique_id, COALESCE(sub_technique_id, ''), COALESCE(identity_uuid, '');

INSERT INTO ttp_identity_rollup (identity_uuid, technique_id, sub_key, tactic, tag_count, confidence_max,
                                 first_seen, last_seen)
SELECT identity_uuid, technique_id, COALESCE(sub_technique_id, ''), MAX(tactic), COUNT(*), MAX(confidence),
       MIN(created_at), MAX(created_at)
FROM ttp_tag WHERE identity_uuid IS NOT NULL
GROUP BY identity_uuid, technique_id, COALESCE(sub_technique_id, '');

CREATE TRIGGER IF NOT EXISTS trg_ttp_tag_rollups_insert AFTER INSERT ON ttp_tag
BEGIN
    INSERT INTO ttp_fleet_rollup (technique_id, sub_key, tactic, confidence, tag_count, last_seen)
    VALUES (NEW.technique_id, COALESCE(NEW.sub_technique_id, ''), NEW.tactic, NEW.confidence, 1, NEW.created_at)
    ON CONFLICT (technique_id, sub_key, tactic, confidence) DO UPDATE
    SET tag_count = tag_count + 1, last_seen = MAX(last_seen, excluded.last_seen);

    INSERT INTO ttp_attacker_rollup (attacker_uuid, technique_id, sub_key, identity_key, tactic, tag_count,
                                     confidence_max, first_seen, last_seen)
    SELECT NEW.attacker_uuid, NEW.technique_id, COALESCE(NEW.sub_technique_id, ''), COALESCE(NEW.identity_uuid, ''),
           NEW.tactic, 1, NEW.confidence, NEW.created_at, NEW.created_at
    WHERE NEW.attacker_uuid IS NOT NULL
    ON CONFLICT (attacker_uuid, technique_id, sub_key, identity_key) DO UPDATE
    SET tag_count = tag_count + 1, tactic = MAX(tactic, excluded.tactic),
        confidence_max = MAX(confidence_max, excluded.confidence_max),
        first_seen = MIN(first_seen, excluded.first_seen), last_seen = MAX(last_seen, excluded.last_seen);

    INSERT INTO ttp_identity_rollup (identity_uuid, technique_id, sub_key, tactic, tag_count, confidence_max,
                                     first_seen, last_seen)
    SELECT NEW.identity_uuid, NEW.technique_id, COALESCE(NEW.sub_technique_id, ''), NEW.tactic, 1, NEW.confidence,
           NEW.created_at, NEW.created_at
    WHERE NEW.identity_uuid IS NOT NULL
    ON CONFLICT (identity_uuid, technique_id, sub_key) DO UPDATE
    SET tag_count = tag_count + 1, tactic = MAX(tactic, excluded.tactic),
        confidence_max = MAX(confidence_max, excluded.confidence_max),
        first_seen = MIN(first_seen, excluded.first_seen), last_seen = MAX(last_seen, excluded.last_seen);
END;

-- A delete counts down at once (O(1), so purges stay linear) and marks its group dirty:
-- a maximum or minimum may have gone with the row. `Store::refresh_summaries`
-- recomputes dirty groups from their (indexed) tags; the server runs it every few
-- seconds. A group whose count reaches zero is dropped.
CREATE TRIGGER IF NOT EXISTS trg_ttp_tag_rollups_delete AFTER DELETE ON ttp_tag
BEGIN
    UPDATE ttp_fleet_rollup SET tag_count = tag_count - 1, dirty = 1
    WHERE technique_id = OLD.technique_id AND sub_key = COALESCE(OLD.sub_technique_id, '')
      AND tactic = OLD.tactic AND confidence = OLD.confidence;
    DELETE FROM ttp_fleet_rollup
    WHERE technique_id = OLD.technique_id AND sub_key = COALESCE(OLD.sub_technique_id, '')
      AND tactic = OLD.tactic AND confidence = OLD.confidence AND tag_count <= 0;

    UPDATE ttp_attacker_rollup SET tag_count = tag_count - 1, dirty = 1
    WHERE OLD.attacker_uuid IS NOT NULL AND attacker_uuid = OLD.attacker_uuid AND technique_id = OLD.technique_id
      AND sub_key = COALESCE(OLD.sub_technique_id, '') AND identity_key = COALESCE(OLD.identity_uuid, '');
    DELETE FROM ttp_attacker_rollup
    WHERE OLD.attacker_uuid IS NOT NULL AND attacker_uuid = OLD.attacker_uuid AND technique_id = OLD.technique_id
      AND sub_key = COALESCE(OLD.sub_technique_id, '') AND identity_key = COALESCE(OLD.identity_uuid, '')
      AND tag_count <= 0;

    UPDATE ttp_identity_rollup SET tag_count = tag_count - 1, dirty = 1
    WHERE OLD.identity_uuid IS NOT NULL AND identity_uuid = OLD.identity_uuid AND technique_id = OLD.technique_id
      AND sub_key = COALESCE(OLD.sub_technique_id, '');
    DELETE FROM ttp_identity_rollup
    WHERE OLD.identity_uuid IS NOT NULL AND identity_uuid = OLD.identity_uuid AND technique_id = OLD.technique_id
      AND sub_key = COALESCE(OLD.sub_technique_id, '') AND tag_count <= 0;
END;
