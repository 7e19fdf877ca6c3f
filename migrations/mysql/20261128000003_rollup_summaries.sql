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
-- sub_key / identity_key are the nullable columns with NULL as '' (NULLs cannot be in a
-- primary key). Tags are immutable in DECNET (first write wins): inserts and deletes
-- are tracked (deletes lazily: see the delete trigger).

CREATE TABLE IF NOT EXISTS ttp_fleet_rollup (
    technique_id VARCHAR(16) NOT NULL,
    sub_key VARCHAR(16) NOT NULL,
    tactic VARCHAR(16) NOT NULL,
    confidence FLOAT NOT NULL,
    tag_count BIGINT NOT NULL,
    last_seen DATETIME NOT NULL,
    dirty TINYINT NOT NULL DEFAULT 0,
    PRIMARY KEY (technique_id, sub_key, tactic, confidence)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS ttp_attacker_rollup (
    attacker_uuid VARCHAR(36) NOT NULL,
    technique_id VARCHAR(16) NOT NULL,
    sub_key VARCHAR(16) NOT NULL,
    identity_key VARCHAR(36) NOT NULL,
    tactic VARCHAR(16) NOT NULL,
    tag_count BIGINT NOT NULL,
    confidence_max FLOAT NOT NULL,
    first_seen DATETIME NOT NULL,
    last_seen DATETIME NOT NULL,
    dirty TINYINT NOT NULL DEFAULT 0,
    PRIMARY KEY (attacker_uuid, technique_id, sub_key, identity_key)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS ttp_identity_rollup (
    identity_uuid VARCHAR(36) NOT NULL,
    technique_id VARCHAR(16) NOT NULL,
    sub_key VARCHAR(16) NOT NULL,
    tactic VARCHAR(16) NOT NULL,
    tag_count BIGINT NOT NULL,
    confidence_max FLOAT NOT NULL,
    first_seen DATETIME NOT NULL,
    last_seen DATETIME NOT NULL,
    dirty TINYINT NOT NULL DEFAULT 0,
    PRIMARY KEY (identity_uuid, technique_id, sub_key)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Deletes mark groups dirty; the refresh finds them through these. (MySQL has no
-- CREATE INDEX IF NOT EXISTS: each is created only when information_schema lacks it, so
-- this migration can be re-run after a failure at any statement.)
SET @ddl = IF((SELECT COUNT(*) FROM information_schema.statistics WHERE table_schema = DATABASE()
                 AND table_name = 'ttp_fleet_rollup' AND index_name = 'ix_ttp_fleet_rollup_dirty') > 0,
              'DO 0', 'CREATE INDEX ix_ttp_fleet_rollup_dirty ON ttp_fleet_rollup (dirty)');
PREPARE ttpgraph_ddl FROM @ddl;
EXECUTE ttpgraph_ddl;
DEALLOCATE PREPARE ttpgraph_ddl;
SET @ddl = IF((SELECT COUNT(*) FROM information_schema.statistics WHERE table_schema = DATABASE()
                 AND table_name = 'ttp_attacker_rollup' AND index_name = 'ix_ttp_attacker_rollup_dirty') > 0,
              'DO 0', 'CREATE INDEX ix_ttp_attacker_rollup_dirty ON ttp_attacker_rollup (dirty)');
PREPARE ttpgraph_ddl FROM @ddl;
EXECUTE ttpgraph_ddl;
DEALLOCATE PREPARE ttpgraph_ddl;
SET @ddl = IF((SELECT COUNT(*) FROM information_schema.statistics WHERE table_schema = DATABASE()
                 AND table_name = 'ttp_identity_rollup' AND index_name = 'ix_ttp_identity_rollup_dirty') > 0,
              'DO 0', 'CREATE INDEX ix_ttp_identity_rollup_dirty ON ttp_identity_rollup (dirty)');
PREPARE ttpgraph_ddl FROM @ddl;
EXECUTE ttpgraph_ddl;
DEALLOCATE PREPARE ttpgraph_ddl;

-- Existing tags (a DECNET database opened for the first time). Emptied first, so a re-run
-- after a failure further down counts every tag once; IGNORE, because a trigger left by
-- such a failed run may already have added a group (0006 then rebuilds any summary whose
-- total disagrees with the tags, under LOCK TABLES).
DELETE FROM ttp_fleet_rollup;
DELETE FROM ttp_attacker_rollup;
DELETE FROM ttp_identity_rollup;
INSERT IGNORE INTO ttp_fleet_rollup (technique_id, sub_key, tactic, confidence, tag_count, last_seen)
SELECT technique_id, COALESCE(sub_technique_id, ''), tactic, confidence, COUNT(*), MAX(created_at)
FROM ttp_tag GROUP BY technique_id, COALESCE(sub_technique_id, ''), tactic, confidence;

INSERT IGNORE INTO ttp_attacker_rollup (attacker_uuid, technique_id, sub_key, identity_key, tactic, tag_count,
                                 confidence_max, first_seen, last_seen)
SELECT attacker_uuid, technique_id, COALESCE(sub_technique_id, ''), COALESCE(identity_uuid, ''), MAX(tactic),
       COUNT(*), MAX(confidence), MIN(created_at), MAX(created_at)
FROM ttp_tag WHERE attacker_uuid IS NOT NULL
GROUP BY attacker_uuid, technique_id, COALESCE(sub_technique_id, ''), COALESCE(identity_uuid, '');

INSERT IGNORE INTO ttp_identity_rollup (identity_uuid, technique_id, sub_key, tactic, tag_count, confidence_max,
                                 first_seen, last_seen)
SELECT identity_uuid, technique_id, COALESCE(sub_technique_id, ''), MAX(tactic), COUNT(*), MAX(confidence),
       MIN(created_at), MAX(created_at)
FROM ttp_tag WHERE identity_uuid IS NOT NULL
GROUP BY identity_uuid, technique_id, COALESCE(sub_technique_id, '');

DROP TRIGGER IF EXISTS trg_ttp_tag_rollups_insert;
CREATE TRIGGER trg_ttp_tag_rollups_insert AFTER INSERT ON ttp_tag FOR EACH ROW
BEGIN
    INSERT INTO ttp_fleet_rollup (technique_id, sub_key, tactic, confidence, tag_count, last_seen)
    VALUES (NEW.technique_id, COALESCE(NEW.sub_technique_id, ''), NEW.tactic, NEW.confidence, 1, NEW.created_at)
    ON DUPLICATE KEY UPDATE tag_count = tag_count + 1, last_seen = GREATEST(last_seen, VALUES(last_seen));
    IF NEW.attacker_uuid IS NOT NULL THEN
        INSERT INTO ttp_attacker_rollup (attacker_uuid, technique_id, sub_key, identity_key, tactic, tag_count,
                                         confidence_max, first_seen, last_seen)
        VALUES (NEW.attacker_uuid, NEW.technique_id, COALESCE(NEW.sub_technique_id, ''), COALESCE(NEW.identity_uuid, ''),
                NEW.tactic, 1, NEW.confidence, NEW.created_at, NEW.created_at)
        ON DUPLICATE KEY UPDATE tag_count = tag_count + 1, tactic = GREATEST(tactic, VALUES(tactic)),
            confidence_max = GREATEST(confidence_max, VALUES(confidence_max)),
            first_seen = LEAST(first_seen, VALUES(first_seen)), last_seen = GREATEST(last_seen, VALUES(last_seen));
    END IF;
    IF NEW.identity_uuid IS NOT NULL THEN
        INSERT INTO ttp_identity_rollup (identity_uuid, technique_id, sub_key, tactic, tag_count, confidence_max,
                                         first_seen, last_seen)
        VALUES (NEW.identity_uuid, NEW.technique_id, COALESCE(NEW.sub_technique_id, ''), NEW.tactic, 1, NEW.confidence,
                NEW.created_at, NEW.created_at)
        ON DUPLICATE KEY UPDATE tag_count = tag_count + 1, tactic = GREATEST(tactic, VALUES(tactic)),
            confidence_max = GREATEST(confidence_max, VALUES(confidence_max)),
            first_seen = LEAST(first_seen, VALUES(first_seen)), last_seen = GREATEST(last_seen, VALUES(last_seen));
    END IF;
END;

-- A delete counts down at once (O(1), so purges stay linear) and marks its group dirty:
-- a maximum or minimum may have gone with the row. `Store::refresh_summaries`
-- recomputes dirty groups from their (indexed) tags; the server runs it every few
-- seconds. A group whose count reaches zero is dropped.
DROP TRIGGER IF EXISTS trg_ttp_tag_rollups_delete;
CREATE TRIGGER trg_ttp_tag_rollups_delete AFTER DELETE ON ttp_tag FOR EACH ROW
BEGIN
    UPDATE ttp_fleet_rollup SET tag_count = tag_count - 1, dirty = 1
    WHERE technique_id = OLD.technique_id AND sub_key = COALESCE(OLD.sub_technique_id, '')
      AND tactic = OLD.tactic AND confidence = OLD.confidence;
    DELETE FROM ttp_fleet_rollup
    WHERE technique_id = OLD.technique_id AND sub_key = COALESCE(OLD.sub_technique_id, '')
      AND tactic = OLD.tactic AND confidence = OLD.confidence AND tag_count <= 0;
    IF OLD.attacker_uuid IS NOT NULL THEN
        UPDATE ttp_attacker_rollup SET tag_count = tag_count - 1, dirty = 1
        WHERE attacker_uuid = OLD.attacker_uuid AND technique_id = OLD.technique_id
          AND sub_key = COALESCE(OLD.sub_technique_id, '') AND identity_key = COALESCE(OLD.identity_uuid, '');
        DELETE FROM ttp_attacker_rollup
        WHERE attacker_uuid = OLD.attacker_uuid AND technique_id = OLD.technique_id
          AND sub_key = COALESCE(OLD.sub_technique_id, '') AND identity_key = COALESCE(OLD.identity_uuid, '')
          AND tag_count <= 0;
    END IF;
    IF OLD.identity_uuid IS NOT NULL THEN
        UPDATE ttp_identity_rollup SET tag_count = tag_count - 1, dirty = 1
        WHERE identity_uuid = OLD.identity_uuid AND technique_id = OLD.technique_id
          AND sub_key = COALESCE(OLD.sub_technique_id, '');
        DELETE FROM ttp_identity_rollup
        WHERE identity_uuid = OLD.identity_uuid AND technique_id = OLD.technique_id
          AND sub_key = COALESCE(OLD.sub_technique_id, '') AND tag_count <= 0;
    END IF;
END;
