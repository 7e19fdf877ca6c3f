-- Indexes for the analyst pivots and list orders (issue 9).
--
-- Technique → attackers / identities / campaigns / sessions groups one technique's tags
-- by a scope column, optionally within a time window, confidence or tactics. DECNET's
-- (technique_id, created_at) index finds them but holds nothing else, so every row was
-- read; this one covers technique → time → what the pivots read, so they are answered
-- from the index alone. Costs one more index entry per tag insert.
CREATE INDEX IF NOT EXISTS ix_ttp_tag_technique_pivot
    ON ttp_tag (technique_id, created_at, sub_technique_id, confidence, tactic,
                attacker_uuid, identity_uuid, session_id);

-- A time window over the whole fleet (`fleetTechniques(since:, until:)`) reads the
-- window's tags: this covers time → what the fleet rollup groups, so the window is one
-- index range without row reads (DECNET's created_at index alone would make SQLite
-- prefer scanning a whole covering index instead). One more index entry per insert.
CREATE INDEX IF NOT EXISTS ix_ttp_tag_created_rollup
    ON ttp_tag (created_at, technique_id, sub_technique_id, tactic, confidence);

-- Every list order is (column, uuid): the uuid breaks ties, so a keyset page is one
-- index range in either direction.
CREATE INDEX IF NOT EXISTS ix_attackers_last_seen_uuid ON attackers (last_seen, uuid);
CREATE INDEX IF NOT EXISTS ix_attackers_first_seen_uuid ON attackers (first_seen, uuid);
CREATE INDEX IF NOT EXISTS ix_attackers_event_count_uuid ON attackers (event_count, uuid);
CREATE INDEX IF NOT EXISTS ix_attackers_ip_uuid ON attackers (ip, uuid);
CREATE INDEX IF NOT EXISTS ix_attacker_identities_last_seen_uuid ON attacker_identities (last_seen_at, uuid);
CREATE INDEX IF NOT EXISTS ix_attacker_identities_first_seen_uuid ON attacker_identities (first_seen_at, uuid);
CREATE INDEX IF NOT EXISTS ix_attacker_identities_observations_uuid ON attacker_identities (observation_count, uuid);
CREATE INDEX IF NOT EXISTS ix_attacker_identities_confidence_uuid ON attacker_identities (confidence, uuid);
CREATE INDEX IF NOT EXISTS ix_campaigns_last_seen_uuid ON campaigns (last_seen_at, uuid);
CREATE INDEX IF NOT EXISTS ix_campaigns_first_seen_uuid ON campaigns (first_seen_at, uuid);
CREATE INDEX IF NOT EXISTS ix_campaigns_identity_count_uuid ON campaigns (identity_count, uuid);
CREATE INDEX IF NOT EXISTS ix_campaigns_confidence_uuid ON campaigns (confidence, uuid);
