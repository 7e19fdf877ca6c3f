-- DECNET's tables, with DECNET's names and columns (SPEC §1). Every statement is
-- IF NOT EXISTS: on a database DECNET already created this changes nothing.
-- Datetimes are TEXT 'YYYY-MM-DD HH:MM:SS.ffffff' (naive UTC), as DECNET writes them.

CREATE TABLE IF NOT EXISTS ttp_tag (
    uuid VARCHAR(36) NOT NULL PRIMARY KEY,
    source_kind VARCHAR NOT NULL,
    source_id VARCHAR NOT NULL,
    attacker_uuid VARCHAR(36),
    identity_uuid VARCHAR(36),
    session_id VARCHAR,
    decky_id VARCHAR,
    tactic VARCHAR NOT NULL,
    technique_id VARCHAR NOT NULL,
    sub_technique_id VARCHAR,
    confidence FLOAT NOT NULL,
    rule_id VARCHAR NOT NULL,
    rule_version INTEGER NOT NULL,
    evidence JSON NOT NULL,
    attack_release VARCHAR NOT NULL,
    mitre_url VARCHAR,
    created_at DATETIME NOT NULL,
    CONSTRAINT ck_ttp_tag_anchor CHECK (attacker_uuid IS NOT NULL OR identity_uuid IS NOT NULL),
    CONSTRAINT ck_ttp_tag_confidence CHECK (confidence >= 0.0 AND confidence <= 1.0)
);
CREATE INDEX IF NOT EXISTS ix_ttp_tag_identity_technique ON ttp_tag (identity_uuid, technique_id);
CREATE INDEX IF NOT EXISTS ix_ttp_tag_attacker_technique ON ttp_tag (attacker_uuid, technique_id);
CREATE INDEX IF NOT EXISTS ix_ttp_tag_technique_created ON ttp_tag (technique_id, created_at);
CREATE INDEX IF NOT EXISTS ix_ttp_tag_attacker_uuid ON ttp_tag (attacker_uuid);
CREATE INDEX IF NOT EXISTS ix_ttp_tag_identity_uuid ON ttp_tag (identity_uuid);
CREATE INDEX IF NOT EXISTS ix_ttp_tag_session_id ON ttp_tag (session_id);
CREATE INDEX IF NOT EXISTS ix_ttp_tag_decky_id ON ttp_tag (decky_id);
CREATE INDEX IF NOT EXISTS ix_ttp_tag_tactic ON ttp_tag (tactic);
CREATE INDEX IF NOT EXISTS ix_ttp_tag_technique_id ON ttp_tag (technique_id);
CREATE INDEX IF NOT EXISTS ix_ttp_tag_sub_technique_id ON ttp_tag (sub_technique_id);
CREATE INDEX IF NOT EXISTS ix_ttp_tag_rule_id ON ttp_tag (rule_id);
CREATE INDEX IF NOT EXISTS ix_ttp_tag_attack_release ON ttp_tag (attack_release);
CREATE INDEX IF NOT EXISTS ix_ttp_tag_created_at ON ttp_tag (created_at);

CREATE TABLE IF NOT EXISTS attackers (
    uuid VARCHAR(36) NOT NULL PRIMARY KEY,
    ip VARCHAR NOT NULL,
    identity_id VARCHAR(36),
    first_seen DATETIME,
    last_seen DATETIME,
    event_count INTEGER NOT NULL DEFAULT 0,
    commands TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS ix_attackers_ip ON attackers (ip);
CREATE INDEX IF NOT EXISTS ix_attackers_identity_id ON attackers (identity_id);
CREATE INDEX IF NOT EXISTS ix_attackers_last_seen ON attackers (last_seen);

CREATE TABLE IF NOT EXISTS attacker_identities (
    uuid VARCHAR(36) NOT NULL PRIMARY KEY,
    campaign_id VARCHAR(36),
    first_seen_at DATETIME,
    last_seen_at DATETIME,
    confidence FLOAT,
    observation_count INTEGER NOT NULL DEFAULT 0,
    merged_into_uuid VARCHAR(36)
);
CREATE INDEX IF NOT EXISTS ix_attacker_identities_campaign_id ON attacker_identities (campaign_id);

CREATE TABLE IF NOT EXISTS campaigns (
    uuid VARCHAR(36) NOT NULL PRIMARY KEY,
    first_seen_at DATETIME,
    last_seen_at DATETIME,
    confidence FLOAT,
    identity_count INTEGER NOT NULL DEFAULT 0,
    merged_into_uuid VARCHAR(36)
);

CREATE TABLE IF NOT EXISTS canary_triggers (
    uuid VARCHAR(36) NOT NULL PRIMARY KEY,
    token_uuid VARCHAR(36),
    occurred_at DATETIME NOT NULL,
    src_ip VARCHAR,
    user_agent VARCHAR,
    request_path VARCHAR,
    attacker_id VARCHAR(36)
);
CREATE INDEX IF NOT EXISTS ix_canary_triggers_occurred_at ON canary_triggers (occurred_at);
