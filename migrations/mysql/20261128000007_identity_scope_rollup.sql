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
--   * attackers INSERT / UPDATE (uuid or identity_id changed) / DELETE (re-clustering: an
--     attacker moved, identities merged): the attacker's summary groups
--     (`ttp_attacker_rollup`, migration 0003, exact counts) move from the old identity to
--     the new one.
-- A decrement marks its group dirty, as in 0003: an extreme may have left with the rows;
-- `Store::refresh_summaries` recomputes dirty groups from their tags.
--
-- Columns mirror the ttp_tag column their value comes from, as migration 0006 does (the
-- identity column is as wide as the wider of ttp_tag.identity_uuid and
-- attackers.identity_id), so a value DECNET can write never makes a trigger fail.
-- Re-runnable: every decision is read from the database; the summary is rebuilt from
-- migration 0003's summaries (dirty marks carried over) with DECNET's writers held off.

CREATE TABLE IF NOT EXISTS ttp_identity_scope_rollup (
    identity_uuid VARCHAR(36) NOT NULL,
    technique_id VARCHAR(16) NOT NULL,
    sub_key VARCHAR(16) NOT NULL,
    tactic VARCHAR(32) NOT NULL,
    tag_count BIGINT NOT NULL,
    confidence_max FLOAT NOT NULL,
    first_seen DATETIME NOT NULL,
    last_seen DATETIME NOT NULL,
    dirty TINYINT NOT NULL DEFAULT 0,
    PRIMARY KEY (identity_uuid, technique_id, sub_key),
    KEY ix_ttp_identity_scope_rollup_dirty (dirty)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- 1. Refuse (before changing anything) what the triggers could not do without failing
-- DECNET's writes: a key wider than InnoDB's 3072 bytes, or join columns of one
-- character set under two collations (MySQL refuses to compare them: error 1267; the
-- identity scans compare the same columns).
SET @ttpgraph_refuse = (
    SELECT CONCAT_WS('; ',
        IF(SUM(CASE WHEN c.column_name IN ('identity_uuid', 'technique_id', 'sub_technique_id')
                         AND c.table_name = 'ttp_tag' THEN c.character_octet_length ELSE 0 END)
           + GREATEST(0, MAX(CASE WHEN c.table_name = 'attackers' AND c.column_name = 'identity_id'
                                  THEN c.character_octet_length ELSE 0 END)
                         - MAX(CASE WHEN c.table_name = 'ttp_tag' AND c.column_name = 'identity_uuid'
                                    THEN c.character_octet_length ELSE 0 END)) > 3072,
           'ttp_tag identity/technique columns too wide for a summary key (max 3072 bytes)', NULL),
        IF(MAX(CASE WHEN c.table_name = 'ttp_tag' AND c.column_name = 'identity_uuid' THEN c.character_set_name END)
               = MAX(CASE WHEN c.table_name = 'attackers' AND c.column_name = 'identity_id' THEN c.character_set_name END)
           AND MAX(CASE WHEN c.table_name = 'ttp_tag' AND c.column_name = 'identity_uuid' THEN c.collation_name END)
               <> MAX(CASE WHEN c.table_name = 'attackers' AND c.column_name = 'identity_id' THEN c.collation_name END),
           'ttp_tag.identity_uuid and attackers.identity_id have different collations', NULL),
        IF(MAX(CASE WHEN c.table_name = 'ttp_tag' AND c.column_name = 'attacker_uuid' THEN c.character_set_name END)
               = MAX(CASE WHEN c.table_name = 'attackers' AND c.column_name = 'uuid' THEN c.character_set_name END)
           AND MAX(CASE WHEN c.table_name = 'ttp_tag' AND c.column_name = 'attacker_uuid' THEN c.collation_name END)
               <> MAX(CASE WHEN c.table_name = 'attackers' AND c.column_name = 'uuid' THEN c.collation_name END),
           'ttp_tag.attacker_uuid and attackers.uuid have different collations', NULL))
    FROM information_schema.columns c
    WHERE c.table_schema = DATABASE()
      AND ((c.table_name = 'ttp_tag'
            AND c.column_name IN ('identity_uuid', 'technique_id', 'sub_technique_id', 'attacker_uuid'))
           OR (c.table_name = 'attackers' AND c.column_name IN ('identity_id', 'uuid'))));
SET @ddl = IF(COALESCE(@ttpgraph_refuse, '') = '', 'DO 0',
              CONCAT('SIGNAL SQLSTATE ''45000'' SET MESSAGE_TEXT = ',
                     QUOTE(LEFT(CONCAT('ttpgraph: ', @ttpgraph_refuse), 128))));
PREPARE ttpgraph_ddl FROM @ddl;
EXECUTE ttpgraph_ddl;
DEALLOCATE PREPARE ttpgraph_ddl;

-- 2. Mirror the source columns' types (`ALTER TABLE … MODIFY …` for those that differ).
-- Rows of an earlier run are dropped first (step 4 rebuilds them): a collation change
-- could make two of them one key.
SET @scope_alter = (
    SELECT CONCAT('ALTER TABLE ttp_identity_scope_rollup ', GROUP_CONCAT(
               CONCAT('MODIFY ', w.dst, ' ', w.want,
                      IF(w.cs IS NULL, '', CONCAT(' CHARACTER SET ', w.cs, ' COLLATE ', w.coll)),
                      ' NOT NULL') SEPARATOR ', '))
    FROM (
        SELECT m.dst, t.character_set_name AS cs, t.collation_name AS coll,
               CASE WHEN m.dst = 'identity_uuid' AND t.data_type = 'varchar'
                         AND x.character_maximum_length > t.character_maximum_length
                    THEN CONCAT('varchar(', x.character_maximum_length, ')')
                    ELSE t.column_type END AS want,
               s.column_type AS have, s.character_set_name AS have_cs, s.collation_name AS have_coll
        FROM (SELECT 'identity_uuid' AS dst, 'identity_uuid' AS src
              UNION ALL SELECT 'technique_id', 'technique_id'
              UNION ALL SELECT 'sub_key', 'sub_technique_id'
              UNION ALL SELECT 'tactic', 'tactic'
              UNION ALL SELECT 'confidence_max', 'confidence'
              UNION ALL SELECT 'first_seen', 'created_at'
              UNION ALL SELECT 'last_seen', 'created_at') m
        JOIN information_schema.columns s
            ON s.table_schema = DATABASE() AND s.table_name = 'ttp_identity_scope_rollup' AND s.column_name = m.dst
        JOIN information_schema.columns t
            ON t.table_schema = DATABASE() AND t.table_name = 'ttp_tag' AND t.column_name = m.src
        LEFT JOIN information_schema.columns x
            ON x.table_schema = DATABASE() AND x.table_name = 'attackers' AND x.column_name = 'identity_id'
    ) w
    WHERE NOT (w.have <=> w.want AND w.have_cs <=> w.cs AND w.have_coll <=> w.coll));

DELETE FROM ttp_identity_scope_rollup WHERE @scope_alter IS NOT NULL;
SET @ddl = COALESCE(@scope_alter, 'DO 0');
PREPARE ttpgraph_ddl FROM @ddl;
EXECUTE ttpgraph_ddl;
DEALLOCATE PREPARE ttpgraph_ddl;

-- 3. Triggers. Column names are qualified in the upserts: `attackers` has its own
-- first_seen/last_seen. The tag trigger reads the attacker's row before the 0003
-- trigger locks its summary rows (PRECEDES), the order the attackers triggers lock in.
DROP TRIGGER IF EXISTS trg_ttp_tag_identity_scope_insert;
CREATE TRIGGER trg_ttp_tag_identity_scope_insert AFTER INSERT ON ttp_tag FOR EACH ROW
PRECEDES trg_ttp_tag_rollups_insert
BEGIN
    IF NEW.attacker_uuid IS NOT NULL THEN
        INSERT INTO ttp_identity_scope_rollup (identity_uuid, technique_id, sub_key, tactic, tag_count,
                                               confidence_max, first_seen, last_seen)
        SELECT a.identity_id, NEW.technique_id, COALESCE(NEW.sub_technique_id, ''), NEW.tactic, 1, NEW.confidence,
               NEW.created_at, NEW.created_at
        FROM attackers a
        WHERE a.uuid = NEW.attacker_uuid AND a.identity_id IS NOT NULL
          AND (NEW.identity_uuid IS NULL OR a.identity_id <> NEW.identity_uuid)
        ON DUPLICATE KEY UPDATE
            ttp_identity_scope_rollup.tag_count = ttp_identity_scope_rollup.tag_count + 1,
            ttp_identity_scope_rollup.tactic = GREATEST(ttp_identity_scope_rollup.tactic, VALUES(tactic)),
            ttp_identity_scope_rollup.confidence_max
                = GREATEST(ttp_identity_scope_rollup.confidence_max, VALUES(confidence_max)),
            ttp_identity_scope_rollup.first_seen = LEAST(ttp_identity_scope_rollup.first_seen, VALUES(first_seen)),
            ttp_identity_scope_rollup.last_seen = GREATEST(ttp_identity_scope_rollup.last_seen, VALUES(last_seen));
    END IF;
    IF NEW.identity_uuid IS NOT NULL THEN
        INSERT INTO ttp_identity_scope_rollup (identity_uuid, technique_id, sub_key, tactic, tag_count,
                                               confidence_max, first_seen, last_seen)
        VALUES (NEW.identity_uuid, NEW.technique_id, COALESCE(NEW.sub_technique_id, ''), NEW.tactic, 1,
                NEW.confidence, NEW.created_at, NEW.created_at)
        ON DUPLICATE KEY UPDATE tag_count = tag_count + 1, tactic = GREATEST(tactic, VALUES(tactic)),
            confidence_max = GREATEST(confidence_max, VALUES(confidence_max)),
            first_seen = LEAST(first_seen, VALUES(first_seen)), last_seen = GREATEST(last_seen, VALUES(last_seen));
    END IF;
END;

DROP TRIGGER IF EXISTS trg_ttp_tag_identity_scope_delete;
CREATE TRIGGER trg_ttp_tag_identity_scope_delete AFTER DELETE ON ttp_tag FOR EACH ROW
BEGIN
    IF OLD.identity_uuid IS NOT NULL THEN
        UPDATE ttp_identity_scope_rollup SET tag_count = tag_count - 1, dirty = 1
        WHERE identity_uuid = OLD.identity_uuid AND technique_id = OLD.technique_id
          AND sub_key = COALESCE(OLD.sub_technique_id, '');
        DELETE FROM ttp_identity_scope_rollup
        WHERE identity_uuid = OLD.identity_uuid AND technique_id = OLD.technique_id
          AND sub_key = COALESCE(OLD.sub_technique_id, '') AND tag_count <= 0;
    END IF;
    IF OLD.attacker_uuid IS NOT NULL THEN
        UPDATE ttp_identity_scope_rollup SET tag_count = tag_count - 1, dirty = 1
        WHERE identity_uuid = (SELECT a.identity_id FROM attackers a
                               WHERE a.uuid = OLD.attacker_uuid
                                 AND (OLD.identity_uuid IS NULL OR a.identity_id <> OLD.identity_uuid))
          AND technique_id = OLD.technique_id AND sub_key = COALESCE(OLD.sub_technique_id, '');
        DELETE FROM ttp_identity_scope_rollup
        WHERE identity_uuid = (SELECT a.identity_id FROM attackers a WHERE a.uuid = OLD.attacker_uuid)
          AND technique_id = OLD.technique_id AND sub_key = COALESCE(OLD.sub_technique_id, '') AND tag_count <= 0;
    END IF;
END;

-- An attacker's tags, as its summary groups in ttp_attacker_rollup, join its identity
-- (those whose own identity is another one, or none).
DROP TRIGGER IF EXISTS trg_attackers_identity_scope_insert;
CREATE TRIGGER trg_attackers_identity_scope_insert AFTER INSERT ON attackers FOR EACH ROW
BEGIN
    IF NEW.identity_id IS NOT NULL THEN
        INSERT INTO ttp_identity_scope_rollup (identity_uuid, technique_id, sub_key, tactic, tag_count,
                                               confidence_max, first_seen, last_seen, dirty)
        SELECT NEW.identity_id, r.technique_id, r.sub_key, MAX(r.tactic), SUM(r.tag_count), MAX(r.confidence_max),
               MIN(r.first_seen), MAX(r.last_seen), MAX(r.dirty)
        FROM ttp_attacker_rollup r
        WHERE r.attacker_uuid = NEW.uuid AND r.identity_key <> NEW.identity_id AND r.tag_count > 0
        GROUP BY r.technique_id, r.sub_key
        ON DUPLICATE KEY UPDATE
            ttp_identity_scope_rollup.tag_count = ttp_identity_scope_rollup.tag_count + VALUES(tag_count),
            ttp_identity_scope_rollup.tactic = GREATEST(ttp_identity_scope_rollup.tactic, VALUES(tactic)),
            ttp_identity_scope_rollup.confidence_max
                = GREATEST(ttp_identity_scope_rollup.confidence_max, VALUES(confidence_max)),
            ttp_identity_scope_rollup.first_seen = LEAST(ttp_identity_scope_rollup.first_seen, VALUES(first_seen)),
            ttp_identity_scope_rollup.last_seen = GREATEST(ttp_identity_scope_rollup.last_seen, VALUES(last_seen)),
            ttp_identity_scope_rollup.dirty = GREATEST(ttp_identity_scope_rollup.dirty, VALUES(dirty));
    END IF;
END;

-- Re-clustering: the attacker's groups leave the old identity (counted down, marked
-- dirty) and join the new one. Identity merges are this, once per attacker moved.
DROP TRIGGER IF EXISTS trg_attackers_identity_scope_update;
CREATE TRIGGER trg_attackers_identity_scope_update AFTER UPDATE ON attackers FOR EACH ROW
BEGIN
    IF NOT (OLD.identity_id <=> NEW.identity_id AND OLD.uuid <=> NEW.uuid) THEN
        IF OLD.identity_id IS NOT NULL THEN
            UPDATE ttp_identity_scope_rollup s
            JOIN (SELECT r.technique_id, r.sub_key, SUM(r.tag_count) AS n
                  FROM ttp_attacker_rollup r
                  WHERE r.attacker_uuid = OLD.uuid AND r.identity_key <> OLD.identity_id
                  GROUP BY r.technique_id, r.sub_key) g
              ON s.technique_id = g.technique_id AND s.sub_key = g.sub_key
            SET s.tag_count = s.tag_count - g.n, s.dirty = 1
            WHERE s.identity_uuid = OLD.identity_id;
            DELETE FROM ttp_identity_scope_rollup WHERE identity_uuid = OLD.identity_id AND tag_count <= 0;
        END IF;
        IF NEW.identity_id IS NOT NULL THEN
            INSERT INTO ttp_identity_scope_rollup (identity_uuid, technique_id, sub_key, tactic, tag_count,
                                                   confidence_max, first_seen, last_seen, dirty)
            SELECT NEW.identity_id, r.technique_id, r.sub_key, MAX(r.tactic), SUM(r.tag_count),
                   MAX(r.confidence_max), MIN(r.first_seen), MAX(r.last_seen), MAX(r.dirty)
            FROM ttp_attacker_rollup r
            WHERE r.attacker_uuid = NEW.uuid AND r.identity_key <> NEW.identity_id AND r.tag_count > 0
            GROUP BY r.technique_id, r.sub_key
            ON DUPLICATE KEY UPDATE
                ttp_identity_scope_rollup.tag_count = ttp_identity_scope_rollup.tag_count + VALUES(tag_count),
                ttp_identity_scope_rollup.tactic = GREATEST(ttp_identity_scope_rollup.tactic, VALUES(tactic)),
                ttp_identity_scope_rollup.confidence_max
                    = GREATEST(ttp_identity_scope_rollup.confidence_max, VALUES(confidence_max)),
                ttp_identity_scope_rollup.first_seen
                    = LEAST(ttp_identity_scope_rollup.first_seen, VALUES(first_seen)),
                ttp_identity_scope_rollup.last_seen
                    = GREATEST(ttp_identity_scope_rollup.last_seen, VALUES(last_seen)),
                ttp_identity_scope_rollup.dirty = GREATEST(ttp_identity_scope_rollup.dirty, VALUES(dirty));
        END IF;
    END IF;
END;

DROP TRIGGER IF EXISTS trg_attackers_identity_scope_delete;
CREATE TRIGGER trg_attackers_identity_scope_delete AFTER DELETE ON attackers FOR EACH ROW
BEGIN
    IF OLD.identity_id IS NOT NULL THEN
        UPDATE ttp_identity_scope_rollup s
        JOIN (SELECT r.technique_id, r.sub_key, SUM(r.tag_count) AS n
              FROM ttp_attacker_rollup r
              WHERE r.attacker_uuid = OLD.uuid AND r.identity_key <> OLD.identity_id
              GROUP BY r.technique_id, r.sub_key) g
          ON s.technique_id = g.technique_id AND s.sub_key = g.sub_key
        SET s.tag_count = s.tag_count - g.n, s.dirty = 1
        WHERE s.identity_uuid = OLD.identity_id;
        DELETE FROM ttp_identity_scope_rollup WHERE identity_uuid = OLD.identity_id AND tag_count <= 0;
    END IF;
END;

-- 4. Rebuild from 0003's summaries with the writers held off (a tag counted by a trigger
-- between the DELETE and the refill would be counted twice). Their writes wait for
-- UNLOCK TABLES; none fails.
LOCK TABLES ttp_identity_rollup READ, ttp_attacker_rollup READ, attackers READ, ttp_identity_scope_rollup WRITE;
-- (No table aliases below: a locked table may only be named as it was locked.)
DELETE FROM ttp_identity_scope_rollup;
INSERT INTO ttp_identity_scope_rollup (identity_uuid, technique_id, sub_key, tactic, tag_count, confidence_max,
                                       first_seen, last_seen, dirty)
SELECT ttp_identity_rollup.identity_uuid, ttp_identity_rollup.technique_id, ttp_identity_rollup.sub_key,
       ttp_identity_rollup.tactic, ttp_identity_rollup.tag_count, ttp_identity_rollup.confidence_max,
       ttp_identity_rollup.first_seen, ttp_identity_rollup.last_seen, ttp_identity_rollup.dirty
FROM ttp_identity_rollup WHERE ttp_identity_rollup.tag_count > 0;
INSERT INTO ttp_identity_scope_rollup (identity_uuid, technique_id, sub_key, tactic, tag_count, confidence_max,
                                       first_seen, last_seen, dirty)
SELECT attackers.identity_id, ttp_attacker_rollup.technique_id, ttp_attacker_rollup.sub_key,
       MAX(ttp_attacker_rollup.tactic), SUM(ttp_attacker_rollup.tag_count), MAX(ttp_attacker_rollup.confidence_max),
       MIN(ttp_attacker_rollup.first_seen), MAX(ttp_attacker_rollup.last_seen), MAX(ttp_attacker_rollup.dirty)
FROM attackers JOIN ttp_attacker_rollup ON ttp_attacker_rollup.attacker_uuid = attackers.uuid
WHERE attackers.identity_id IS NOT NULL AND ttp_attacker_rollup.identity_key <> attackers.identity_id
  AND ttp_attacker_rollup.tag_count > 0
GROUP BY attackers.identity_id, ttp_attacker_rollup.technique_id, ttp_attacker_rollup.sub_key
ON DUPLICATE KEY UPDATE
    ttp_identity_scope_rollup.tag_count = ttp_identity_scope_rollup.tag_count + VALUES(tag_count),
    ttp_identity_scope_rollup.tactic = GREATEST(ttp_identity_scope_rollup.tactic, VALUES(tactic)),
    ttp_identity_scope_rollup.confidence_max
        = GREATEST(ttp_identity_scope_rollup.confidence_max, VALUES(confidence_max)),
    ttp_identity_scope_rollup.first_seen = LEAST(ttp_identity_scope_rollup.first_seen, VALUES(first_seen)),
    ttp_identity_scope_rollup.last_seen = GREATEST(ttp_identity_scope_rollup.last_seen, VALUES(last_seen)),
    ttp_identity_scope_rollup.dirty = GREATEST(ttp_identity_scope_rollup.dirty, VALUES(dirty));
UNLOCK TABLES;
