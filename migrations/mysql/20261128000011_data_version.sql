-- The data version on MySQL/MariaDB (issue 12): a number that changes with every commit
-- that writes a table GraphQL answers are read from, whoever writes it (ttpgraph, DECNET's
-- workers, another ttpgraph). The response cache (src/http/response_cache.rs) keeps an
-- answer only while it is unchanged, exactly as SQLite's `PRAGMA data_version` lets it
-- there (SQLite needs nothing stored: its migration 0011 is empty).
--
-- The version is SUM(n) over ttp_data_version, read in one statement (one snapshot).
-- Every row written to ttp_tag, attackers, attacker_identities or campaigns adds 1 to one
-- of its 256 rows, in the writer's own transaction, so the sum moves when (and only when)
-- that transaction commits, and never moves back. The row is the writer's connection id
-- modulo 256: concurrent writers on different connections (a pool's ids are consecutive)
-- never wait for one another here, where one counter row would make every writer queue
-- on it until commit.
--
-- What does not fire triggers (TRUNCATE, ALTER, a restored dump) does not move the
-- version: restart ttpgraph after such maintenance, or run it with
-- --response-cache-mib 0.
--
-- Objects (uninstall removes them, triggers first): the twelve trg_*_data_version_*
-- triggers and table ttp_data_version. Every statement can be re-run.

CREATE TABLE IF NOT EXISTS ttp_data_version (
    shard SMALLINT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (shard)
) ENGINE = InnoDB;

INSERT IGNORE INTO ttp_data_version (shard, n)
WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < 255)
SELECT i, 0 FROM s;

DROP TRIGGER IF EXISTS trg_ttp_tag_data_version_insert;
CREATE TRIGGER trg_ttp_tag_data_version_insert AFTER INSERT ON ttp_tag FOR EACH ROW
    UPDATE ttp_data_version SET n = n + 1 WHERE shard = CONNECTION_ID() % 256;

DROP TRIGGER IF EXISTS trg_ttp_tag_data_version_update;
CREATE TRIGGER trg_ttp_tag_data_version_update AFTER UPDATE ON ttp_tag FOR EACH ROW
    UPDATE ttp_data_version SET n = n + 1 WHERE shard = CONNECTION_ID() % 256;

DROP TRIGGER IF EXISTS trg_ttp_tag_data_version_delete;
CREATE TRIGGER trg_ttp_tag_data_version_delete AFTER DELETE ON ttp_tag FOR EACH ROW
    UPDATE ttp_data_version SET n = n + 1 WHERE shard = CONNECTION_ID() % 256;

DROP TRIGGER IF EXISTS trg_attackers_data_version_insert;
CREATE TRIGGER trg_attackers_data_version_insert AFTER INSERT ON attackers FOR EACH ROW
    UPDATE ttp_data_version SET n = n + 1 WHERE shard = CONNECTION_ID() % 256;

DROP TRIGGER IF EXISTS trg_attackers_data_version_update;
CREATE TRIGGER trg_attackers_data_version_update AFTER UPDATE ON attackers FOR EACH ROW
    UPDATE ttp_data_version SET n = n + 1 WHERE shard = CONNECTION_ID() % 256;

DROP TRIGGER IF EXISTS trg_attackers_data_version_delete;
CREATE TRIGGER trg_attackers_data_version_delete AFTER DELETE ON attackers FOR EACH ROW
    UPDATE ttp_data_version SET n = n + 1 WHERE shard = CONNECTION_ID() % 256;

DROP TRIGGER IF EXISTS trg_attacker_identities_data_version_insert;
CREATE TRIGGER trg_attacker_identities_data_version_insert AFTER INSERT ON attacker_identities FOR EACH ROW
    UPDATE ttp_data_version SET n = n + 1 WHERE shard = CONNECTION_ID() % 256;

DROP TRIGGER IF EXISTS trg_attacker_identities_data_version_update;
CREATE TRIGGER trg_attacker_identities_data_version_update AFTER UPDATE ON attacker_identities FOR EACH ROW
    UPDATE ttp_data_version SET n = n + 1 WHERE shard = CONNECTION_ID() % 256;

DROP TRIGGER IF EXISTS trg_attacker_identities_data_version_delete;
CREATE TRIGGER trg_attacker_identities_data_version_delete AFTER DELETE ON attacker_identities FOR EACH ROW
    UPDATE ttp_data_version SET n = n + 1 WHERE shard = CONNECTION_ID() % 256;

DROP TRIGGER IF EXISTS trg_campaigns_data_version_insert;
CREATE TRIGGER trg_campaigns_data_version_insert AFTER INSERT ON campaigns FOR EACH ROW
    UPDATE ttp_data_version SET n = n + 1 WHERE shard = CONNECTION_ID() % 256;

DROP TRIGGER IF EXISTS trg_campaigns_data_version_update;
CREATE TRIGGER trg_campaigns_data_version_update AFTER UPDATE ON campaigns FOR EACH ROW
    UPDATE ttp_data_version SET n = n + 1 WHERE shard = CONNECTION_ID() % 256;

DROP TRIGGER IF EXISTS trg_campaigns_data_version_delete;
CREATE TRIGGER trg_campaigns_data_version_delete AFTER DELETE ON campaigns FOR EACH ROW
    UPDATE ttp_data_version SET n = n + 1 WHERE shard = CONNECTION_ID() % 256;
