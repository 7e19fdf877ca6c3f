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
-- Columns mirror the ttp_tag column their value comes from, as migration 0006 does, so
-- a value DECNET can write never makes the trigger fail and groups follow ttp_tag's own
-- collation. Re-runnable: every decision is read from the database; the summary is
-- rebuilt from the tags with DECNET's writers held off.

CREATE TABLE IF NOT EXISTS ttp_session_rollup (
    session_id VARCHAR(64) NOT NULL,
    technique_id VARCHAR(16) NOT NULL,
    sub_key VARCHAR(16) NOT NULL,
    tactic VARCHAR(32) NOT NULL,
    tag_count BIGINT NOT NULL,
    confidence_max FLOAT NOT NULL,
    first_seen DATETIME NOT NULL,
    last_seen DATETIME NOT NULL,
    dirty TINYINT NOT NULL DEFAULT 0,
    PRIMARY KEY (session_id, technique_id, sub_key),
    KEY ix_ttp_session_rollup_dirty (dirty)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- 1. Refuse (before changing anything) a key wider than InnoDB's 3072 bytes at ttp_tag's
-- widths (DECNET's 3 x VARCHAR(255) utf8mb4 = 3060 bytes fits). Key prefixes would merge
-- distinct groups.
SET @ttpgraph_refuse = (
    SELECT IF(SUM(c.character_octet_length) > 3072,
              CONCAT('ttp_tag session/technique columns too wide for a summary key (',
                     SUM(c.character_octet_length), ' bytes, max 3072)'), NULL)
    FROM information_schema.columns c
    WHERE c.table_schema = DATABASE() AND c.table_name = 'ttp_tag'
      AND c.column_name IN ('session_id', 'technique_id', 'sub_technique_id'));
SET @ddl = IF(@ttpgraph_refuse IS NULL, 'DO 0',
              CONCAT('SIGNAL SQLSTATE ''45000'' SET MESSAGE_TEXT = ',
                     QUOTE(LEFT(CONCAT('ttpgraph: ', @ttpgraph_refuse), 128))));
PREPARE ttpgraph_ddl FROM @ddl;
EXECUTE ttpgraph_ddl;
DEALLOCATE PREPARE ttpgraph_ddl;

-- 2. Mirror the source columns' types (`ALTER TABLE … MODIFY …` for those that differ).
-- Rows of an earlier run are dropped first (step 4 rebuilds them): a collation change
-- could make two of them one key.
SET @session_alter = (
    SELECT CONCAT('ALTER TABLE ttp_session_rollup ', GROUP_CONCAT(
               CONCAT('MODIFY ', m.dst, ' ', t.column_type,
                      IF(t.character_set_name IS NULL, '',
                         CONCAT(' CHARACTER SET ', t.character_set_name, ' COLLATE ', t.collation_name)),
                      ' NOT NULL') SEPARATOR ', '))
    FROM (SELECT 'session_id' AS dst, 'session_id' AS src
          UNION ALL SELECT 'technique_id', 'technique_id'
          UNION ALL SELECT 'sub_key', 'sub_technique_id'
          UNION ALL SELECT 'tactic', 'tactic'
          UNION ALL SELECT 'confidence_max', 'confidence'
          UNION ALL SELECT 'first_seen', 'created_at'
          UNION ALL SELECT 'last_seen', 'created_at') m
    JOIN information_schema.columns s
        ON s.table_schema = DATABASE() AND s.table_name = 'ttp_session_rollup' AND s.column_name = m.dst
    JOIN information_schema.columns t
        ON t.table_schema = DATABASE() AND t.table_name = 'ttp_tag' AND t.column_name = m.src
    WHERE NOT (s.column_type <=> t.column_type AND s.character_set_name <=> t.character_set_name
               AND s.collation_name <=> t.collation_name));

DELETE FROM ttp_session_rollup WHERE @session_alter IS NOT NULL;
SET @ddl = COALESCE(@session_alter, 'DO 0');
PREPARE ttpgraph_ddl FROM @ddl;
EXECUTE ttpgraph_ddl;
DEALLOCATE PREPARE ttpgraph_ddl;

-- 3. Triggers (after 0003's and 0007's on the same events).
DROP TRIGGER IF EXISTS trg_ttp_tag_session_rollup_insert;
CREATE TRIGGER trg_ttp_tag_session_rollup_insert AFTER INSERT ON ttp_tag FOR EACH ROW
BEGIN
    IF NEW.session_id IS NOT NULL THEN
        INSERT INTO ttp_session_rollup (session_id, technique_id, sub_key, tactic, tag_count, confidence_max,
                                        first_seen, last_seen)
        VALUES (NEW.session_id, NEW.technique_id, COALESCE(NEW.sub_technique_id, ''), NEW.tactic, 1,
                NEW.confidence, NEW.created_at, NEW.created_at)
        ON DUPLICATE KEY UPDATE tag_count = tag_count + 1, tactic = GREATEST(tactic, VALUES(tactic)),
            confidence_max = GREATEST(confidence_max, VALUES(confidence_max)),
            first_seen = LEAST(first_seen, VALUES(first_seen)), last_seen = GREATEST(last_seen, VALUES(last_seen));
    END IF;
END;

DROP TRIGGER IF EXISTS trg_ttp_tag_session_rollup_delete;
CREATE TRIGGER trg_ttp_tag_session_rollup_delete AFTER DELETE ON ttp_tag FOR EACH ROW
BEGIN
    IF OLD.session_id IS NOT NULL THEN
        UPDATE ttp_session_rollup SET tag_count = tag_count - 1, dirty = 1
        WHERE session_id = OLD.session_id AND technique_id = OLD.technique_id
          AND sub_key = COALESCE(OLD.sub_technique_id, '');
        DELETE FROM ttp_session_rollup
        WHERE session_id = OLD.session_id AND technique_id = OLD.technique_id
          AND sub_key = COALESCE(OLD.sub_technique_id, '') AND tag_count <= 0;
    END IF;
END;

-- 4. Rebuild from the tags with the writers held off (a tag counted by the trigger
-- between the DELETE and the refill would be counted twice). Their writes wait for
-- UNLOCK TABLES; none fails. Read in group order from migration 0004's covering index.
LOCK TABLES ttp_tag READ, ttp_session_rollup WRITE;
DELETE FROM ttp_session_rollup;
INSERT INTO ttp_session_rollup (session_id, technique_id, sub_key, tactic, tag_count, confidence_max,
                                first_seen, last_seen)
SELECT session_id, technique_id, COALESCE(sub_technique_id, ''), MAX(tactic), COUNT(*), MAX(confidence),
       MIN(created_at), MAX(created_at)
FROM ttp_tag FORCE INDEX (ix_ttp_tag_session_rollup)
WHERE session_id IS NOT NULL
GROUP BY session_id, technique_id, COALESCE(sub_technique_id, '');
UNLOCK TABLES;
