-- DECNET's auth tables (SPEC §4), created only when absent: on a database DECNET already
-- created (with more columns than these) this changes nothing. ttpgraph reads `users` and
-- `revoked_tokens`; `ttpgraph user add` inserts users for deployments without DECNET.
-- Booleans are 0/1 and datetimes TEXT 'YYYY-MM-DD HH:MM:SS.ffffff' (naive UTC), as DECNET writes them.

CREATE TABLE IF NOT EXISTS users (
    uuid VARCHAR(36) NOT NULL PRIMARY KEY,
    username VARCHAR NOT NULL UNIQUE,
    password_hash VARCHAR NOT NULL,
    role VARCHAR NOT NULL DEFAULT 'viewer',
    must_change_password BOOLEAN NOT NULL DEFAULT 0,
    tokens_valid_from DATETIME
);

CREATE TABLE IF NOT EXISTS revoked_tokens (
    jti VARCHAR NOT NULL PRIMARY KEY,
    user_uuid VARCHAR(36) NOT NULL,
    expires_at DATETIME NOT NULL,
    revoked_at DATETIME NOT NULL
);
