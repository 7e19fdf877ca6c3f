-- DECNET's auth tables (SPEC §4), created only when absent: on a database DECNET already
-- created (with more columns than these) this changes nothing. ttpgraph reads `users` and
-- `revoked_tokens`; `ttpgraph user add` inserts users for deployments without DECNET.
-- Booleans are TINYINT(1); datetimes are DATETIME (whole seconds, naive UTC).

CREATE TABLE IF NOT EXISTS users (
    uuid VARCHAR(36) NOT NULL,
    username VARCHAR(255) NOT NULL,
    password_hash VARCHAR(255) NOT NULL,
    role VARCHAR(32) NOT NULL DEFAULT 'viewer',
    must_change_password TINYINT(1) NOT NULL DEFAULT 0,
    tokens_valid_from DATETIME NULL,
    PRIMARY KEY (uuid),
    UNIQUE KEY ux_users_username (username)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS revoked_tokens (
    jti VARCHAR(255) NOT NULL,
    user_uuid VARCHAR(36) NOT NULL,
    expires_at DATETIME NOT NULL,
    revoked_at DATETIME NOT NULL,
    PRIMARY KEY (jti)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
