-- switchboard schema 1: per-tenant command log, events, snapshots and task history.
CREATE TABLE tenants (
    id TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL
);
CREATE TABLE commands (
    tenant TEXT NOT NULL,
    seq INTEGER NOT NULL,
    at INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (tenant, seq)
) WITHOUT ROWID;
CREATE TABLE events (
    tenant TEXT NOT NULL,
    seq INTEGER NOT NULL,
    at INTEGER NOT NULL,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (tenant, seq)
) WITHOUT ROWID;
CREATE INDEX events_at ON events (at);
CREATE TABLE snapshots (
    tenant TEXT PRIMARY KEY,
    command_seq INTEGER NOT NULL,
    event_seq INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE task_history (
    tenant TEXT NOT NULL,
    task_id TEXT NOT NULL,
    external_id TEXT,
    service TEXT NOT NULL,
    agent TEXT,
    reason TEXT NOT NULL,
    created INTEGER NOT NULL,
    terminated INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (tenant, task_id)
);
CREATE INDEX task_history_terminated ON task_history (tenant, terminated);
CREATE INDEX task_history_external ON task_history (tenant, external_id);
CREATE INDEX task_history_service ON task_history (tenant, service, terminated);
