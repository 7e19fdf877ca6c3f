-- Indexes for the analyst pivots and list orders (issue 9). Each is created only when
-- missing (MySQL 8 has no CREATE INDEX IF NOT EXISTS), so the migration can be re-run.
--
-- Technique → attackers / identities / campaigns / sessions groups one technique's tags
-- by a scope column, optionally within a time window, confidence or tactics. DECNET's
-- (technique_id, created_at) index finds them but holds nothing else, so every row was
-- read; this one covers technique → time → what the pivots read. Costs one more index
-- entry per tag insert. On DECNET's wide VARCHAR(255) utf8mb4 columns the full key
-- (6 x 1020 bytes) would pass InnoDB's 3072-byte limit: there it keys on prefixes (still
-- a seek on technique and time, no longer covering), as migrations 0004/0005 do.
SET @wide = (SELECT COALESCE(SUM(character_octet_length), 0) FROM information_schema.columns
             WHERE table_schema = DATABASE() AND table_name = 'ttp_tag'
               AND column_name IN ('technique_id', 'sub_technique_id', 'tactic', 'attacker_uuid',
                                   'identity_uuid', 'session_id')) > 3000;
SET @ddl = IF((SELECT COUNT(*) FROM information_schema.statistics WHERE table_schema = DATABASE()
                 AND table_name = 'ttp_tag' AND index_name = 'ix_ttp_tag_technique_pivot') > 0,
              'DO 0',
              IF(@wide,
                 'CREATE INDEX ix_ttp_tag_technique_pivot ON ttp_tag (technique_id(32), created_at, sub_technique_id(32), confidence, tactic(32), attacker_uuid(36), identity_uuid(36), session_id(64))',
                 'CREATE INDEX ix_ttp_tag_technique_pivot ON ttp_tag (technique_id, created_at, sub_technique_id, confidence, tactic, attacker_uuid, identity_uuid, session_id)'));
PREPARE ttpgraph_ddl FROM @ddl;
EXECUTE ttpgraph_ddl;
DEALLOCATE PREPARE ttpgraph_ddl;

-- A time window over the whole fleet (`fleetTechniques(since:, until:)`) reads the
-- window's tags: this covers time → what the fleet rollup groups, so the window is one
-- index range without row reads. One more index entry per insert; prefixes on DECNET's
-- wide columns as above.
SET @ddl = IF((SELECT COUNT(*) FROM information_schema.statistics WHERE table_schema = DATABASE()
                 AND table_name = 'ttp_tag' AND index_name = 'ix_ttp_tag_created_rollup') > 0,
              'DO 0',
              IF(@wide,
                 'CREATE INDEX ix_ttp_tag_created_rollup ON ttp_tag (created_at, technique_id(32), sub_technique_id(32), tactic(32), confidence)',
                 'CREATE INDEX ix_ttp_tag_created_rollup ON ttp_tag (created_at, technique_id, sub_technique_id, tactic, confidence)'));
PREPARE ttpgraph_ddl FROM @ddl;
EXECUTE ttpgraph_ddl;
DEALLOCATE PREPARE ttpgraph_ddl;

-- Every list order is (column, uuid): the uuid breaks ties, so a keyset page is one index
-- range in either direction. (column, uuid) fits InnoDB's key limit even on DECNET's
-- VARCHAR(255) columns (ip: 1020 + 1020 bytes).
SET @ddl = IF((SELECT COUNT(*) FROM information_schema.statistics WHERE table_schema = DATABASE()
                 AND table_name = 'attackers' AND index_name = 'ix_attackers_last_seen_uuid') > 0,
              'DO 0', 'CREATE INDEX ix_attackers_last_seen_uuid ON attackers (last_seen, uuid)');
PREPARE ttpgraph_ddl FROM @ddl;
EXECUTE ttpgraph_ddl;
DEALLOCATE PREPARE ttpgraph_ddl;
SET @ddl = IF((SELECT COUNT(*) FROM information_schema.statistics WHERE table_schema = DATABASE()
                 AND table_name = 'attackers' AND index_name = 'ix_attackers_first_seen_uuid') > 0,
              'DO 0', 'CREATE INDEX ix_attackers_first_seen_uuid ON attackers (first_seen, uuid)');
PREPARE ttpgraph_ddl FROM @ddl;
EXECUTE ttpgraph_ddl;
DEALLOCATE PREPARE ttpgraph_ddl;
SET @ddl = IF((SELECT COUNT(*) FROM information_schema.statistics WHERE table_schema = DATABASE()
                 AND table_name = 'attackers' AND index_name = 'ix_attackers_event_count_uuid') > 0,
              'DO 0', 'CREATE INDEX ix_attackers_event_count_uuid ON attackers (event_count, uuid)');
PREPARE ttpgraph_ddl FROM @ddl;
EXECUTE ttpgraph_ddl;
DEALLOCATE PREPARE ttpgraph_ddl;
SET @ddl = IF((SELECT COUNT(*) FROM information_schema.statistics WHERE table_schema = DATABASE()
                 AND table_name = 'attackers' AND index_name = 'ix_attackers_ip_uuid') > 0,
              'DO 0', 'CREATE INDEX ix_attackers_ip_uuid ON attackers (ip, uuid)');
PREPARE ttpgraph_ddl FROM @ddl;
EXECUTE ttpgraph_ddl;
DEALLOCATE PREPARE ttpgraph_ddl;
SET @ddl = IF((SELECT COUNT(*) FROM information_schema.statistics WHERE table_schema = DATABASE()
                 AND table_name = 'attacker_identities' AND index_name = 'ix_attacker_identities_last_seen_uuid') > 0,
              'DO 0', 'CREATE INDEX ix_attacker_identities_last_seen_uuid ON attacker_identities (last_seen_at, uuid)');
PREPARE ttpgraph_ddl FROM @ddl;
EXECUTE ttpgraph_ddl;
DEALLOCATE PREPARE ttpgraph_ddl;
SET @ddl = IF((SELECT COUNT(*) FROM information_schema.statistics WHERE table_schema = DATABASE()
                 AND table_name = 'attacker_identities' AND index_name = 'ix_attacker_identities_first_seen_uuid') > 0,
              'DO 0', 'CREATE INDEX ix_attacker_identities_first_seen_uuid ON attacker_identities (first_seen_at, uuid)');
PREPARE ttpgraph_ddl FROM @ddl;
EXECUTE ttpgraph_ddl;
DEALLOCATE PREPARE ttpgraph_ddl;
SET @ddl = IF((SELECT COUNT(*) FROM information_schema.statistics WHERE table_schema = DATABASE()
                 AND table_name = 'attacker_identities' AND index_name = 'ix_attacker_identities_observations_uuid') > 0,
              'DO 0', 'CREATE INDEX ix_attacker_identities_observations_uuid ON attacker_identities (observation_count, uuid)');
PREPARE ttpgraph_ddl FROM @ddl;
EXECUTE ttpgraph_ddl;
DEALLOCATE PREPARE ttpgraph_ddl;
SET @ddl = IF((SELECT COUNT(*) FROM information_schema.statistics WHERE table_schema = DATABASE()
                 AND table_name = 'attacker_identities' AND index_name = 'ix_attacker_identities_confidence_uuid') > 0,
              'DO 0', 'CREATE INDEX ix_attacker_identities_confidence_uuid ON attacker_identities (confidence, uuid)');
PREPARE ttpgraph_ddl FROM @ddl;
EXECUTE ttpgraph_ddl;
DEALLOCATE PREPARE ttpgraph_ddl;
SET @ddl = IF((SELECT COUNT(*) FROM information_schema.statistics WHERE table_schema = DATABASE()
                 AND table_name = 'campaigns' AND index_name = 'ix_campaigns_last_seen_uuid') > 0,
              'DO 0', 'CREATE INDEX ix_campaigns_last_seen_uuid ON campaigns (last_seen_at, uuid)');
PREPARE ttpgraph_ddl FROM @ddl;
EXECUTE ttpgraph_ddl;
DEALLOCATE PREPARE ttpgraph_ddl;
SET @ddl = IF((SELECT COUNT(*) FROM information_schema.statistics WHERE table_schema = DATABASE()
                 AND table_name = 'campaigns' AND index_name = 'ix_campaigns_first_seen_uuid') > 0,
              'DO 0', 'CREATE INDEX ix_campaigns_first_seen_uuid ON campaigns (first_seen_at, uuid)');
PREPARE ttpgraph_ddl FROM @ddl;
EXECUTE ttpgraph_ddl;
DEALLOCATE PREPARE ttpgraph_ddl;
SET @ddl = IF((SELECT COUNT(*) FROM information_schema.statistics WHERE table_schema = DATABASE()
                 AND table_name = 'campaigns' AND index_name = 'ix_campaigns_identity_count_uuid') > 0,
              'DO 0', 'CREATE INDEX ix_campaigns_identity_count_uuid ON campaigns (identity_count, uuid)');
PREPARE ttpgraph_ddl FROM @ddl;
EXECUTE ttpgraph_ddl;
DEALLOCATE PREPARE ttpgraph_ddl;
SET @ddl = IF((SELECT COUNT(*) FROM information_schema.statistics WHERE table_schema = DATABASE()
                 AND table_name = 'campaigns' AND index_name = 'ix_campaigns_confidence_uuid') > 0,
              'DO 0', 'CREATE INDEX ix_campaigns_confidence_uuid ON campaigns (confidence, uuid)');
PREPARE ttpgraph_ddl FROM @ddl;
EXECUTE ttpgraph_ddl;
DEALLOCATE PREPARE ttpgraph_ddl;
