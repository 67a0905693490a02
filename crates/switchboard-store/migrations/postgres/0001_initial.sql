-- switchboard schema 1: per-tenant command log, events, snapshots and task history.
CREATE TABLE tenants (
    id TEXT PRIMARY KEY,
    created_at BIGINT NOT NULL
);
CREATE TABLE commands (
    tenant TEXT NOT NULL,
    seq BIGINT NOT NULL,
    at BIGINT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (tenant, seq)
);
CREATE TABLE events (
    tenant TEXT NOT NULL,
    seq BIGINT NOT NULL,
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (tenant, seq)
);
CREATE INDEX events_at ON events (at);
CREATE TABLE snapshots (
    tenant TEXT PRIMARY KEY,
    command_seq BIGINT NOT NULL,
    event_seq BIGINT NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE task_history (
    tenant TEXT NOT NULL,
    task_id TEXT NOT NULL,
    external_id TEXT,
    service TEXT NOT NULL,
    agent TEXT,
    reason TEXT NOT NULL,
    created BIGINT NOT NULL,
    terminated BIGINT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (tenant, task_id)
);
CREATE INDEX task_history_terminated ON task_history (tenant, terminated);
CREATE INDEX task_history_external ON task_history (tenant, external_id);
CREATE INDEX task_history_service ON task_history (tenant, service, terminated);
