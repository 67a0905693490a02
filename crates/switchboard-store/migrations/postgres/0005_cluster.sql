-- switchboard schema 5: several nodes on one database. Each tenant has one writer at a time, holding a lease;
-- every grant increments the epoch, and writes carry the epoch they were granted (fencing). Times are the
-- database's clock, so the nodes' clocks never need to agree.
CREATE TABLE tenant_leases (
    tenant TEXT PRIMARY KEY,
    node TEXT,
    epoch BIGINT NOT NULL,
    acquired_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    changes BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE cluster_nodes (
    node TEXT PRIMARY KEY,
    advertise TEXT NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    heartbeat_at TIMESTAMPTZ NOT NULL
);
