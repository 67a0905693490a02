-- switchboard schema 2: API keys, stored hashed.
CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    name TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    roles TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    rate_limit TEXT,
    burst_limit TEXT,
    revoked_at BIGINT
);
