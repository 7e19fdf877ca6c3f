-- The inspector reads one scope's tags for one technique, newest first, at most `limit`.
-- DECNET's (scope, technique_id) indexes find them but hold no time, so every matching
-- row was read and sorted. These cover scope → technique → time → uuid (and what the
-- filters need), so the newest `limit` uuids come from the index alone and only those
-- rows are read. Costs two more index entries per insert. On DECNET's wide VARCHAR(255)
-- columns the full keys could pass InnoDB's 3072-byte limit: there they key on prefixes.
SET @wide = (SELECT COALESCE(SUM(character_octet_length), 0) FROM information_schema.columns
             WHERE table_schema = DATABASE() AND table_name = 'ttp_tag'
               AND column_name IN ('attacker_uuid', 'technique_id', 'uuid', 'sub_technique_id', 'identity_uuid')) > 3000;

SET @ddl = IF((SELECT COUNT(*) FROM information_schema.statistics WHERE table_schema = DATABASE()
                 AND table_name = 'ttp_tag' AND index_name = 'ix_ttp_tag_identity_inspect') > 0,
              'DO 0',
              IF(@wide,
                 'CREATE INDEX ix_ttp_tag_identity_inspect ON ttp_tag (identity_uuid(64), technique_id(32), created_at, uuid(64), sub_technique_id(32))',
                 'CREATE INDEX ix_ttp_tag_identity_inspect ON ttp_tag (identity_uuid, technique_id, created_at, uuid, sub_technique_id)'));
PREPARE ttpgraph_ddl FROM @ddl;
EXECUTE ttpgraph_ddl;
DEALLOCATE PREPARE ttpgraph_ddl;

SET @ddl = IF((SELECT COUNT(*) FROM information_schema.statistics WHERE table_schema = DATABASE()
                 AND table_name = 'ttp_tag' AND index_name = 'ix_ttp_tag_attacker_inspect') > 0,
              'DO 0',
              IF(@wide,
                 'CREATE INDEX ix_ttp_tag_attacker_inspect ON ttp_tag (attacker_uuid(64), technique_id(32), created_at, uuid(64), sub_technique_id(32), identity_uuid(64))',
                 'CREATE INDEX ix_ttp_tag_attacker_inspect ON ttp_tag (attacker_uuid, technique_id, created_at, uuid, sub_technique_id, identity_uuid)'));
PREPARE ttpgraph_ddl FROM @ddl;
EXECUTE ttpgraph_ddl;
DEALLOCATE PREPARE ttpgraph_ddl;
