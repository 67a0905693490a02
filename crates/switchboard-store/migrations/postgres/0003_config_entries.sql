-- switchboard schema 3: tenant configuration that routing does not use (organization units, absence reasons).
CREATE TABLE config_entries (
    tenant TEXT NOT NULL,
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (tenant, kind, id)
);
