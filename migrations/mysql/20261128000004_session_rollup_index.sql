-- Session rollups are computed from the tags (sessions are small and never filtered out
-- of the summaries' shapes): a covering index answers them from the index alone, in
-- group order, without touching the rows. Costs one more index entry per insert.
-- A database DECNET created may use wide VARCHAR(255) columns, whose full key would
-- pass InnoDB's 3072-byte limit: there the index keys on prefixes instead (still an
-- index seek per session, no longer covering).
SET @wide = (SELECT COALESCE(SUM(character_octet_length), 0) FROM information_schema.columns
             WHERE table_schema = DATABASE() AND table_name = 'ttp_tag'
               AND column_name IN ('session_id', 'technique_id', 'sub_technique_id', 'tactic')) > 3000;
SET @ddl = IF((SELECT COUNT(*) FROM information_schema.statistics WHERE table_schema = DATABASE()
                 AND table_name = 'ttp_tag' AND index_name = 'ix_ttp_tag_session_rollup') > 0,
              'DO 0',
              IF(@wide,
                 'CREATE INDEX ix_ttp_tag_session_rollup ON ttp_tag (session_id(64), technique_id(32), sub_technique_id(32), tactic(32), created_at, confidence)',
                 'CREATE INDEX ix_ttp_tag_session_rollup ON ttp_tag (session_id, technique_id, sub_technique_id, tactic, created_at, confidence)'));
PREPARE ttpgraph_ddl FROM @ddl;
EXECUTE ttpgraph_ddl;
DEALLOCATE PREPARE ttpgraph_ddl;
