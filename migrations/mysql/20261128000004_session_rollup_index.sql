-- Session rollups are computed from the tags (sessions are small and never filtered out
-- of the summaries' shapes): a covering index answers them from the index alone, in
-- group order, without touching the rows. Costs one more index entry per insert.
SET @ddl = IF((SELECT COUNT(*) FROM information_schema.statistics WHERE table_schema = DATABASE()
                 AND table_name = 'ttp_tag' AND index_name = 'ix_ttp_tag_session_rollup') = 0,
              'CREATE INDEX ix_ttp_tag_session_rollup ON ttp_tag (session_id, technique_id, sub_technique_id, tactic, created_at, confidence)',
              'DO 0');
PREPARE ttpgraph_ddl FROM @ddl;
EXECUTE ttpgraph_ddl;
DEALLOCATE PREPARE ttpgraph_ddl;
