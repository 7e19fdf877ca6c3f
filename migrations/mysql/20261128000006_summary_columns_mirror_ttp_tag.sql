-- Summary columns take exactly the type of the ttp_tag column their trigger copies
-- (COLUMN_TYPE, CHARACTER SET, COLLATION, as this database has them), so that:
--   * a value ttp_tag accepts can never make the AFTER INSERT trigger fail (DECNET's
--     columns are VARCHAR(255): a 17-char `credential-access` overflowed our VARCHAR(16)
--     with error 1406 and DECNET lost its whole batch);
--   * summaries group as ttp_tag's own collation does (DECNET's tables take the server
--     default, utf8mb4_general_ci: `T1083` and `t1083` are one group there, as in DECNET's
--     own rollup and in our scans; under our utf8mb4_bin they were two).
-- ttpgraph's own ttp_tag.tactic (VARCHAR(16)) is widened to VARCHAR(32) first: DECNET
-- writes tactic shortnames (`privilege-escalation` is 20 chars).
--
-- Every statement can be re-run after a failure at any other (sqlx marks the migration
-- dirty; delete its row and start again): the decisions are read from the database, and
-- a summary whose tag_count total differs from its tags' count (emptied, not yet refilled)
-- is rebuilt even when its types already match. When types match and counts agree
-- (ttpgraph's own databases after the first run) nothing is altered or rebuilt.

-- 1. Before changing anything: each summary's primary key must fit InnoDB's 3072 bytes
-- at ttp_tag's widths (DECNET's 3 x VARCHAR(255) utf8mb4 + FLOAT = 3064 bytes fits).
-- Key prefixes would merge distinct groups, so a wider database is refused instead.
SET @ttpgraph_too_wide = (
    SELECT GROUP_CONCAT(CONCAT(k.tbl, ' ', k.bytes, ' bytes') SEPARATOR ', ')
    FROM (
        SELECT m.tbl, SUM(CASE
                   WHEN c.column_name = 'tactic' AND c.data_type = 'varchar' AND c.character_maximum_length < 32
                       THEN 32 * c.character_octet_length DIV c.character_maximum_length
                   WHEN c.character_octet_length IS NOT NULL THEN c.character_octet_length
                   WHEN c.data_type = 'float' THEN 4
                   ELSE 8 END) AS bytes
        FROM (SELECT 'ttp_fleet_rollup' AS tbl, 'technique_id' AS col
              UNION ALL SELECT 'ttp_fleet_rollup', 'sub_technique_id'
              UNION ALL SELECT 'ttp_fleet_rollup', 'tactic'
              UNION ALL SELECT 'ttp_fleet_rollup', 'confidence'
              UNION ALL SELECT 'ttp_attacker_rollup', 'attacker_uuid'
              UNION ALL SELECT 'ttp_attacker_rollup', 'technique_id'
              UNION ALL SELECT 'ttp_attacker_rollup', 'sub_technique_id'
              UNION ALL SELECT 'ttp_attacker_rollup', 'identity_uuid'
              UNION ALL SELECT 'ttp_identity_rollup', 'identity_uuid'
              UNION ALL SELECT 'ttp_identity_rollup', 'technique_id'
              UNION ALL SELECT 'ttp_identity_rollup', 'sub_technique_id') m
        LEFT JOIN information_schema.columns c
            ON c.table_schema = DATABASE() AND c.table_name = 'ttp_tag' AND c.column_name = m.col
        GROUP BY m.tbl
    ) k
    WHERE k.bytes > 3072);
SET @ddl = IF(@ttpgraph_too_wide IS NULL, 'DO 0',
              CONCAT('SIGNAL SQLSTATE ''45000'' SET MESSAGE_TEXT = ',
                     QUOTE(LEFT(CONCAT('ttpgraph: ttp_tag columns too wide for summary keys (max 3072): ',
                                       @ttpgraph_too_wide), 128))));
PREPARE ttpgraph_ddl FROM @ddl;
EXECUTE ttpgraph_ddl;
DEALLOCATE PREPARE ttpgraph_ddl;

-- 2. Widen ttpgraph's own tactic column (keeping its charset, collation and nullability).
SET @ddl = COALESCE((
    SELECT CONCAT('ALTER TABLE ttp_tag MODIFY tactic VARCHAR(32)',
                  IF(character_set_name IS NULL, '',
                     CONCAT(' CHARACTER SET ', character_set_name, ' COLLATE ', collation_name)),
                  IF(is_nullable = 'NO', ' NOT NULL', ' NULL'))
    FROM information_schema.columns
    WHERE table_schema = DATABASE() AND table_name = 'ttp_tag' AND column_name = 'tactic'
      AND data_type = 'varchar' AND character_maximum_length < 32), 'DO 0');
PREPARE ttpgraph_ddl FROM @ddl;
EXECUTE ttpgraph_ddl;
DEALLOCATE PREPARE ttpgraph_ddl;

-- 3. Mirror and rebuild, with DECNET's writers held off: a tag inserted between emptying
-- a summary and refilling it would be counted twice (or break the refill's keys). Their
-- inserts wait for UNLOCK TABLES; none fails.
LOCK TABLES ttp_tag READ, ttp_fleet_rollup WRITE, ttp_attacker_rollup WRITE, ttp_identity_rollup WRITE;

-- `ALTER TABLE … MODIFY …` for the summary columns whose type differs from their source,
-- or NULL when all match.
SET @fleet_alter = (
    SELECT CONCAT('ALTER TABLE ttp_fleet_rollup ', GROUP_CONCAT(
               CONCAT('MODIFY ', m.dst, ' ', t.column_type,
                      IF(t.character_set_name IS NULL, '',
                         CONCAT(' CHARACTER SET ', t.character_set_name, ' COLLATE ', t.collation_name)),
                      ' NOT NULL') SEPARATOR ', '))
    FROM (SELECT 'technique_id' AS dst, 'technique_id' AS src
          UNION ALL SELECT 'sub_key', 'sub_technique_id'
          UNION ALL SELECT 'tactic', 'tactic'
          UNION ALL SELECT 'confidence', 'confidence'
          UNION ALL SELECT 'last_seen', 'created_at') m
    JOIN information_schema.columns s
        ON s.table_schema = DATABASE() AND s.table_name = 'ttp_fleet_rollup' AND s.column_name = m.dst
    JOIN information_schema.columns t
        ON t.table_schema = DATABASE() AND t.table_name = 'ttp_tag' AND t.column_name = m.src
    WHERE NOT (s.column_type <=> t.column_type AND s.character_set_name <=> t.character_set_name
               AND s.collation_name <=> t.collation_name));
SET @attacker_alter = (
    SELECT CONCAT('ALTER TABLE ttp_attacker_rollup ', GROUP_CONCAT(
               CONCAT('MODIFY ', m.dst, ' ', t.column_type,
                      IF(t.character_set_name IS NULL, '',
                         CONCAT(' CHARACTER SET ', t.character_set_name, ' COLLATE ', t.collation_name)),
                      ' NOT NULL') SEPARATOR ', '))
    FROM (SELECT 'attacker_uuid' AS dst, 'attacker_uuid' AS src
          UNION ALL SELECT 'technique_id', 'technique_id'
          UNION ALL SELECT 'sub_key', 'sub_technique_id'
          UNION ALL SELECT 'identity_key', 'identity_uuid'
          UNION ALL SELECT 'tactic', 'tactic'
          UNION ALL SELECT 'confidence_max', 'confidence'
          UNION ALL SELECT 'first_seen', 'created_at'
          UNION ALL SELECT 'last_seen', 'created_at') m
    JOIN information_schema.columns s
        ON s.table_schema = DATABASE() AND s.table_name = 'ttp_attacker_rollup' AND s.column_name = m.dst
    JOIN information_schema.columns t
        ON t.table_schema = DATABASE() AND t.table_name = 'ttp_tag' AND t.column_name = m.src
    WHERE NOT (s.column_type <=> t.column_type AND s.character_set_name <=> t.character_set_name
               AND s.collation_name <=> t.collation_name));
SET @identity_alter = (
    SELECT CONCAT('ALTER TABLE ttp_identity_rollup ', GROUP_CONCAT(
               CONCAT('MODIFY ', m.dst, ' ', t.column_type,
                      IF(t.character_set_name IS NULL, '',
                         CONCAT(' CHARACTER SET ', t.character_set_name, ' COLLATE ', t.collation_name)),
                      ' NOT NULL') SEPARATOR ', '))
    FROM (SELECT 'identity_uuid' AS dst, 'identity_uuid' AS src
          UNION ALL SELECT 'technique_id', 'technique_id'
          UNION ALL SELECT 'sub_key', 'sub_technique_id'
          UNION ALL SELECT 'tactic', 'tactic'
          UNION ALL SELECT 'confidence_max', 'confidence'
          UNION ALL SELECT 'first_seen', 'created_at'
          UNION ALL SELECT 'last_seen', 'created_at') m
    JOIN information_schema.columns s
        ON s.table_schema = DATABASE() AND s.table_name = 'ttp_identity_rollup' AND s.column_name = m.dst
    JOIN information_schema.columns t
        ON t.table_schema = DATABASE() AND t.table_name = 'ttp_tag' AND t.column_name = m.src
    WHERE NOT (s.column_type <=> t.column_type AND s.character_set_name <=> t.character_set_name
               AND s.collation_name <=> t.collation_name));

-- Rebuild when a type changes (groups formed under the old collation may now collide) or
-- when the counts disagree (a previous run stopped between emptying and refilling).
SET @fleet_rebuild = @fleet_alter IS NOT NULL
    OR (SELECT COALESCE(SUM(tag_count), 0) FROM ttp_fleet_rollup) <> (SELECT COUNT(*) FROM ttp_tag);
SET @attacker_rebuild = @attacker_alter IS NOT NULL
    OR (SELECT COALESCE(SUM(tag_count), 0) FROM ttp_attacker_rollup)
       <> (SELECT COUNT(*) FROM ttp_tag WHERE attacker_uuid IS NOT NULL);
SET @identity_rebuild = @identity_alter IS NOT NULL
    OR (SELECT COALESCE(SUM(tag_count), 0) FROM ttp_identity_rollup)
       <> (SELECT COUNT(*) FROM ttp_tag WHERE identity_uuid IS NOT NULL);

DELETE FROM ttp_fleet_rollup WHERE @fleet_rebuild;
DELETE FROM ttp_attacker_rollup WHERE @attacker_rebuild;
DELETE FROM ttp_identity_rollup WHERE @identity_rebuild;

SET @ddl = COALESCE(@fleet_alter, 'DO 0');
PREPARE ttpgraph_ddl FROM @ddl;
EXECUTE ttpgraph_ddl;
DEALLOCATE PREPARE ttpgraph_ddl;
SET @ddl = COALESCE(@attacker_alter, 'DO 0');
PREPARE ttpgraph_ddl FROM @ddl;
EXECUTE ttpgraph_ddl;
DEALLOCATE PREPARE ttpgraph_ddl;
SET @ddl = COALESCE(@identity_alter, 'DO 0');
PREPARE ttpgraph_ddl FROM @ddl;
EXECUTE ttpgraph_ddl;
DEALLOCATE PREPARE ttpgraph_ddl;

-- The refills are migration 0003's backfill, run only for the summaries emptied above.
INSERT INTO ttp_fleet_rollup (technique_id, sub_key, tactic, confidence, tag_count, last_seen)
SELECT technique_id, COALESCE(sub_technique_id, ''), tactic, confidence, COUNT(*), MAX(created_at)
FROM ttp_tag WHERE @fleet_rebuild
GROUP BY technique_id, COALESCE(sub_technique_id, ''), tactic, confidence;

INSERT INTO ttp_attacker_rollup (attacker_uuid, technique_id, sub_key, identity_key, tactic, tag_count,
                                 confidence_max, first_seen, last_seen)
SELECT attacker_uuid, technique_id, COALESCE(sub_technique_id, ''), COALESCE(identity_uuid, ''), MAX(tactic),
       COUNT(*), MAX(confidence), MIN(created_at), MAX(created_at)
FROM ttp_tag WHERE attacker_uuid IS NOT NULL AND @attacker_rebuild
GROUP BY attacker_uuid, technique_id, COALESCE(sub_technique_id, ''), COALESCE(identity_uuid, '');

INSERT INTO ttp_identity_rollup (identity_uuid, technique_id, sub_key, tactic, tag_count, confidence_max,
                                 first_seen, last_seen)
SELECT identity_uuid, technique_id, COALESCE(sub_technique_id, ''), MAX(tactic), COUNT(*), MAX(confidence),
       MIN(created_at), MAX(created_at)
FROM ttp_tag WHERE identity_uuid IS NOT NULL AND @identity_rebuild
GROUP BY identity_uuid, technique_id, COALESCE(sub_technique_id, '');

UNLOCK TABLES;
