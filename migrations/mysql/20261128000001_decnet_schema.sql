-- DECNET's tables, with DECNET's names and columns (SPEC §1). Tables are
-- CREATE TABLE IF NOT EXISTS with their indexes inline; indexes ttpgraph needs on tables
-- DECNET may already have created are added only when missing (MySQL 8 has no
-- CREATE INDEX IF NOT EXISTS, so a prepared statement checks information_schema).
-- Datetimes are DATETIME (whole seconds, naive UTC); confidence is single-precision FLOAT.

CREATE TABLE IF NOT EXISTS ttp_tag (
    uuid VARCHAR(36) NOT NULL,
    source_kind VARCHAR(64) NOT NULL,
    source_id VARCHAR(255) NOT NULL,
    attacker_uuid VARCHAR(36) NULL,
    identity_uuid VARCHAR(36) NULL,
    session_id VARCHAR(64) NULL,
    decky_id VARCHAR(128) NULL,
    tactic VARCHAR(16) NOT NULL,
    technique_id VARCHAR(16) NOT NULL,
    sub_technique_id VARCHAR(16) NULL,
    confidence FLOAT NOT NULL,
    rule_id VARCHAR(64) NOT NULL,
    rule_version INT NOT NULL,
    evidence JSON NOT NULL,
    attack_release VARCHAR(32) NOT NULL,
    mitre_url VARCHAR(512) NULL,
    created_at DATETIME NOT NULL,
    PRIMARY KEY (uuid),
    KEY ix_ttp_tag_identity_technique (identity_uuid, technique_id),
    KEY ix_ttp_tag_attacker_technique (attacker_uuid, technique_id),
    KEY ix_ttp_tag_technique_created (technique_id, created_at),
    KEY ix_ttp_tag_attacker_uuid (attacker_uuid),
    KEY ix_ttp_tag_identity_uuid (identity_uuid),
    KEY ix_ttp_tag_session_id (session_id),
    KEY ix_ttp_tag_decky_id (decky_id),
    KEY ix_ttp_tag_tactic (tactic),
    KEY ix_ttp_tag_technique_id (technique_id),
    KEY ix_ttp_tag_sub_technique_id (sub_technique_id),
    KEY ix_ttp_tag_rule_id (rule_id),
    KEY ix_ttp_tag_attack_release (attack_release),
    KEY ix_ttp_tag_created_at (created_at),
    CONSTRAINT ck_ttp_tag_anchor CHECK (attacker_uuid IS NOT NULL OR identity_uuid IS NOT NULL),
    CONSTRAINT ck_ttp_tag_confidence CHECK (confidence >= 0.0 AND confidence <= 1.0)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS attackers (
    uuid VARCHAR(36) NOT NULL,
    ip VARCHAR(64) NOT NULL,
    identity_id VARCHAR(36) NULL,
    first_seen DATETIME NULL,
    last_seen DATETIME NULL,
    event_count INT NOT NULL DEFAULT 0,
    commands LONGTEXT NULL,
    PRIMARY KEY (uuid),
    KEY ix_attackers_ip (ip),
    KEY ix_attackers_last_seen (last_seen)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS attacker_identities (
    uuid VARCHAR(36) NOT NULL,
    campaign_id VARCHAR(36) NULL,
    first_seen_at DATETIME NULL,
    last_seen_at DATETIME NULL,
    confidence FLOAT NULL,
    observation_count INT NOT NULL DEFAULT 0,
    merged_into_uuid VARCHAR(36) NULL,
    PRIMARY KEY (uuid)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS campaigns (
    uuid VARCHAR(36) NOT NULL,
    first_seen_at DATETIME NULL,
    last_seen_at DATETIME NULL,
    confidence FLOAT NULL,
    identity_count INT NOT NULL DEFAULT 0,
    merged_into_uuid VARCHAR(36) NULL,
    PRIMARY KEY (uuid)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS canary_triggers (
    uuid VARCHAR(36) NOT NULL,
    token_uuid VARCHAR(36) NULL,
    occurred_at DATETIME NOT NULL,
    src_ip VARCHAR(64) NULL,
    user_agent VARCHAR(512) NULL,
    request_path VARCHAR(1024) NULL,
    attacker_id VARCHAR(36) NULL,
    PRIMARY KEY (uuid),
    KEY ix_canary_triggers_occurred_at (occurred_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- The identity and campaign scopes join through these; add them if DECNET's tables lack them.
SET @ddl = IF((SELECT COUNT(*) FROM information_schema.statistics WHERE table_schema = DATABASE()
                 AND table_name = 'attackers' AND column_name = 'identity_id' AND seq_in_index = 1) = 0,
              'CREATE INDEX ix_attackers_identity_id ON attackers (identity_id)', 'DO 0');
PREPARE ttpgraph_ddl FROM @ddl;
EXECUTE ttpgraph_ddl;
DEALLOCATE PREPARE ttpgraph_ddl;

SET @ddl = IF((SELECT COUNT(*) FROM information_schema.statistics WHERE table_schema = DATABASE()
                 AND table_name = 'attacker_identities' AND column_name = 'campaign_id' AND seq_in_index = 1) = 0,
              'CREATE INDEX ix_attacker_identities_campaign_id ON attacker_identities (campaign_id)', 'DO 0');
PREPARE ttpgraph_ddl FROM @ddl;
EXECUTE ttpgraph_ddl;
DEALLOCATE PREPARE ttpgraph_ddl;
