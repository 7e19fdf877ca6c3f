-- DECNET's concurrent tag writers no longer deadlock on the fleet summary (issue 12).
--
-- Every tag insert upserts its technique's row of ttp_fleet_rollup (0003's trigger), so
-- every writer locks the same few hot rows until it commits. Two DECNET transactions
-- that insert tags of two techniques in opposite orders (its bus worker and a
-- `decnet ttp backfill`, or two workers) each held one row and waited for the other's:
-- InnoDB killed one with a deadlock error and DECNET, which does not retry, lost its tags.
-- Measured with bench/write_cost.py (4 writers replaying DECNET's per-event writes):
-- ~12 % of events failed.
--
-- The fleet summary now keeps one row per group *per writer connection* (shard =
-- connection id modulo 16; a pool's ids are consecutive, so up to 16 concurrent writers
-- never share a row). Reads already aggregate the summary's rows per technique (its key
-- holds tactic and confidence), so they read the sum as before; a delete counts down one
-- of the group's rows and marks them all dirty for the refresh. MySQL/MariaDB only:
-- SQLite lets one writer at a time in, so its migration 0012 is empty.
--
-- Re-runnable: the column and key are added only where missing; triggers are dropped
-- before they are created (the insert trigger keeps its place right after 0007's).

SET @ddl = IF((SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = DATABASE()
                 AND table_name = 'ttp_fleet_rollup' AND column_name = 'shard') > 0,
              'DO 0',
              'ALTER TABLE ttp_fleet_rollup ADD COLUMN shard SMALLINT NOT NULL DEFAULT 0, DROP PRIMARY KEY,
               ADD PRIMARY KEY (technique_id, sub_key, tactic, confidence, shard)');
PREPARE ttpgraph_ddl FROM @ddl;
EXECUTE ttpgraph_ddl;
DEALLOCATE PREPARE ttpgraph_ddl;

DROP TRIGGER IF EXISTS trg_ttp_tag_rollups_insert;
CREATE TRIGGER trg_ttp_tag_rollups_insert AFTER INSERT ON ttp_tag FOR EACH ROW
FOLLOWS trg_ttp_tag_identity_scope_insert
BEGIN
    INSERT INTO ttp_fleet_rollup (technique_id, sub_key, tactic, confidence, shard, tag_count, last_seen)
    VALUES (NEW.technique_id, COALESCE(NEW.sub_technique_id, ''), NEW.tactic, NEW.confidence,
            CONNECTION_ID() % 16, 1, NEW.created_at)
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

DROP TRIGGER IF EXISTS trg_ttp_tag_rollups_delete;
CREATE TRIGGER trg_ttp_tag_rollups_delete AFTER DELETE ON ttp_tag FOR EACH ROW
BEGIN
    -- One of the group's rows counts down (whichever connection added the tag, the
    -- sum is what is read); all of them are marked dirty, since any may hold the
    -- extreme that left.
    UPDATE ttp_fleet_rollup SET tag_count = tag_count - 1
    WHERE technique_id = OLD.technique_id AND sub_key = COALESCE(OLD.sub_technique_id, '')
      AND tactic = OLD.tactic AND confidence = OLD.confidence AND tag_count > 0
    ORDER BY shard LIMIT 1;
    UPDATE ttp_fleet_rollup SET dirty = 1
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
