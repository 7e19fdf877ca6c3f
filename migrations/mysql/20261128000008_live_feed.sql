-- The live change feed (issue 10): every row inserted into ttp_tag, whoever writes it
-- (ttpgraph, DECNET's workers, another ttpgraph), gets a monotonic sequence number here,
-- in the writer's own transaction. Every ttpgraph instance tails this table and fans the
-- new rows out to its subscribers. Append-only: rows leave only by retention pruning
-- (oldest first), which records how far it went in ttp_live_floor, so a client resuming
-- from an older cursor is told (CURSOR_EXPIRED) instead of silently missing rows.
--
-- AUTO_INCREMENT values are allocated at insert time but transactions commit in any
-- order: a tailer reading `seq > last` may see 12 before 11 commits. The tailer handles
-- that (src/live/tailer.rs: it never passes a missing number for a bounded wait).
-- at_epoch is the feed time in whole UNIX seconds (retention by age).
--
-- tag_uuid takes exactly the type, character set and collation of ttp_tag.uuid as this
-- database has it (as migration 0006 does for the summaries), so no uuid ttp_tag accepts
-- can make the trigger fail a DECNET insert, and the tail's join uses ttp_tag's primary
-- key. Objects (uninstall removes them, trigger first): trigger trg_ttp_tag_live_feed,
-- index ix_ttp_live_feed_tag, tables ttp_live_feed and ttp_live_floor.
-- Every statement can be re-run.

CREATE TABLE IF NOT EXISTS ttp_live_feed (
    seq BIGINT NOT NULL AUTO_INCREMENT,
    tag_uuid VARCHAR(36) NOT NULL,
    at_epoch BIGINT NOT NULL,
    PRIMARY KEY (seq),
    KEY ix_ttp_live_feed_tag (tag_uuid)
) ENGINE = InnoDB;

SET @ddl = COALESCE((
    SELECT CONCAT('ALTER TABLE ttp_live_feed MODIFY tag_uuid ', t.column_type,
                  IF(t.character_set_name IS NULL, '',
                     CONCAT(' CHARACTER SET ', t.character_set_name, ' COLLATE ', t.collation_name)),
                  ' NOT NULL')
    FROM information_schema.columns t
    JOIN information_schema.columns s
        ON s.table_schema = DATABASE() AND s.table_name = 'ttp_live_feed' AND s.column_name = 'tag_uuid'
    WHERE t.table_schema = DATABASE() AND t.table_name = 'ttp_tag' AND t.column_name = 'uuid'
      AND NOT (s.column_type <=> t.column_type AND s.character_set_name <=> t.character_set_name
               AND s.collation_name <=> t.collation_name)), 'DO 0');
PREPARE ttpgraph_ddl FROM @ddl;
EXECUTE ttpgraph_ddl;
DEALLOCATE PREPARE ttpgraph_ddl;

-- One row: every sequence number <= pruned_through may have been pruned.
CREATE TABLE IF NOT EXISTS ttp_live_floor (
    name VARCHAR(16) NOT NULL,
    pruned_through BIGINT NOT NULL,
    PRIMARY KEY (name)
) ENGINE = InnoDB;
INSERT IGNORE INTO ttp_live_floor (name, pruned_through) VALUES ('feed', 0);

DROP TRIGGER IF EXISTS trg_ttp_tag_live_feed;
CREATE TRIGGER trg_ttp_tag_live_feed AFTER INSERT ON ttp_tag FOR EACH ROW
    INSERT INTO ttp_live_feed (tag_uuid, at_epoch) VALUES (NEW.uuid, UNIX_TIMESTAMP());
