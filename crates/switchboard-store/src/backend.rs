//! The interface both databases implement, in row form, and the embedded migrations.

use crate::codec::EncodedBatch;
use crate::error::StoreError;
use crate::records::HistoryQuery;

/// Schema migrations for SQLite, in order; the version of each is its position plus one.
pub(crate) const SQLITE_MIGRATIONS: &[&str] = &[
    include_str!("../migrations/sqlite/0001_initial.sql"),
    include_str!("../migrations/sqlite/0002_api_keys.sql"),
    include_str!("../migrations/sqlite/0003_config_entries.sql"),
    include_str!("../migrations/sqlite/0004_history_kind.sql"),
    include_str!("../migrations/sqlite/0005_cluster.sql"),
    include_str!("../migrations/sqlite/0006_packed_snapshots.sql"),
];

/// Schema migrations for PostgreSQL, in order.
pub(crate) const POSTGRES_MIGRATIONS: &[&str] = &[
    include_str!("../migrations/postgres/0001_initial.sql"),
    include_str!("../migrations/postgres/0002_api_keys.sql"),
    include_str!("../migrations/postgres/0003_config_entries.sql"),
    include_str!("../migrations/postgres/0004_history_kind.sql"),
    include_str!("../migrations/postgres/0005_cluster.sql"),
    include_str!("../migrations/postgres/0006_packed_snapshots.sql"),
];

/// The newest schema version this build knows: one version per migration.
pub const SCHEMA_VERSION: i64 = SQLITE_MIGRATIONS.len() as i64;

// Both backends must know the same versions.
const _: () = assert!(SQLITE_MIGRATIONS.len() == POSTGRES_MIGRATIONS.len());

/// A tenant's stored log in row form.
pub(crate) struct RawRecovered {
    /// (command_seq, body) of the latest snapshot.
    pub snapshot: Option<(i64, crate::codec::SnapshotBody)>,
    /// (seq, at, body) of the commands after it.
    pub commands: Vec<(i64, i64, String)>,
    /// Highest stored event sequence (0 if none).
    pub last_event_seq: i64,
}

/// One database connection. The writer thread owns one; reads use another.
pub(crate) trait Backend: Send {
    /// Writes the batches in one transaction: all or nothing, durable when it returns `Ok`. Batches carrying a
    /// lease the database no longer grants are left out (nothing of them is written) and their tenants returned.
    fn write(&mut self, batches: &[EncodedBatch]) -> Result<Vec<String>, StoreError>;
    /// The commands of a tenant after `after`, and the highest stored event sequence. The snapshot field of the
    /// result is left empty: snapshots are read with `load_snapshot`, possibly on another connection.
    fn load(&mut self, tenant: &str, after: i64) -> Result<RawRecovered, StoreError>;
    /// The latest snapshot of a tenant: (command_seq, body).
    fn load_snapshot(
        &mut self,
        tenant: &str,
    ) -> Result<Option<(i64, crate::codec::SnapshotBody)>, StoreError>;
    /// Replaces the tenant's snapshot; with a lease, only while the lease is still held (else `Fenced`).
    fn write_snapshot(
        &mut self,
        tenant: &str,
        row: &crate::codec::SnapshotRow,
        lease: Option<&crate::records::Lease>,
    ) -> Result<(), StoreError>;
    /// Deletes the tenant's logged commands with sequence in `from..=to`; returns how many.
    fn trim_commands(&mut self, tenant: &str, from: i64, to: i64) -> Result<u64, StoreError>;
    /// Every tenant that has stored anything.
    fn tenants(&mut self) -> Result<Vec<String>, StoreError>;
    /// Event bodies with sequence above `after`, in order, at most `limit`.
    fn events_after(
        &mut self,
        tenant: &str,
        after: i64,
        limit: i64,
    ) -> Result<Vec<String>, StoreError>;
    /// History bodies matching the query, newest first.
    fn history(&mut self, tenant: &str, query: &HistoryQuery) -> Result<Vec<String>, StoreError>;
    /// The history body of one task by id or external id (the latest if several share an external id).
    fn history_task(
        &mut self,
        tenant: &str,
        id_or_external: &str,
    ) -> Result<Option<String>, StoreError>;
    /// Deletes events and history older than the given times; returns how many of each.
    fn prune(&mut self, events_before: i64, history_before: i64) -> Result<(u64, u64), StoreError>;
    /// Stores a new API key.
    fn create_key(&mut self, key: &KeyRecord) -> Result<(), StoreError>;
    /// Every API key, revoked ones included, oldest first.
    fn list_keys(&mut self) -> Result<Vec<KeyRecord>, StoreError>;
    /// The key with this hash, if any.
    fn find_key(&mut self, key_hash: &str) -> Result<Option<KeyRecord>, StoreError>;
    /// Marks a key revoked; false if no unrevoked key has this id or name.
    fn revoke_key(&mut self, id_or_name: &str, at: i64) -> Result<bool, StoreError>;
    /// Stores (or replaces) a configuration entry.
    fn put_entry(
        &mut self,
        tenant: &str,
        kind: &str,
        id: &str,
        body: &str,
    ) -> Result<(), StoreError>;
    /// Deletes a configuration entry; false if there was none.
    fn delete_entry(&mut self, tenant: &str, kind: &str, id: &str) -> Result<bool, StoreError>;
    /// The entries of one kind: (id, body), ordered by id.
    fn list_entries(
        &mut self,
        tenant: &str,
        kind: &str,
    ) -> Result<Vec<(String, String)>, StoreError>;
}

/// An API key as stored: only its hash, never the key itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRecord {
    /// Public id of the key.
    pub id: String,
    /// The tenant it belongs to.
    pub tenant: String,
    /// A name to recognise it by.
    pub name: String,
    /// SHA-256 of the key, hex.
    pub key_hash: String,
    /// Roles granted.
    pub roles: Vec<String>,
    /// Creation time, microseconds since the epoch.
    pub created_at: i64,
    /// Expiry, microseconds since the epoch.
    pub expires_at: Option<i64>,
    /// Rate limit such as `1000/h`.
    pub rate_limit: Option<String>,
    /// Burst limit such as `50/s`.
    pub burst_limit: Option<String>,
    /// When it was revoked.
    pub revoked_at: Option<i64>,
}

pub(crate) const KEY_COLUMNS: &str =
    "id, tenant, name, key_hash, roles, created_at, expires_at, rate_limit, burst_limit, revoked_at";

/// Builds the WHERE clause of a history query with numbered (`$n`) or plain (`?`) placeholders. Returns the
/// clause and the text parameters in order (integers are passed as text and cast by the caller's SQL).
pub(crate) fn history_filter(query: &HistoryQuery, numbered: bool) -> (String, Vec<HistoryParam>) {
    let mut clauses = vec!["tenant = {}".to_string()];
    let mut params = Vec::new();
    if let Some(service) = &query.service {
        clauses.push("service = {}".into());
        params.push(HistoryParam::Text(service.to_string()));
    }
    if let Some(kind) = query.kind {
        clauses.push("kind = {}".into());
        params.push(HistoryParam::Text(crate::codec::task_kind_name(kind)));
    }
    if let Some(from) = query.created_from {
        clauses.push("created >= {}".into());
        params.push(HistoryParam::Int(from.as_micros()));
    }
    if let Some(until) = query.created_until {
        clauses.push("created < {}".into());
        params.push(HistoryParam::Int(until.as_micros()));
    }
    if let Some(external) = &query.external_id {
        clauses.push("external_id = {}".into());
        params.push(HistoryParam::Text(external.clone()));
    }
    if let Some(from) = query.terminated_from {
        clauses.push("terminated >= {}".into());
        params.push(HistoryParam::Int(from.as_micros()));
    }
    if let Some(until) = query.terminated_until {
        clauses.push("terminated < {}".into());
        params.push(HistoryParam::Int(until.as_micros()));
    }
    let mut n = 0;
    let clause = clauses
        .iter()
        .map(|c| {
            n += 1;
            let placeholder = if numbered {
                format!("${n}")
            } else {
                "?".to_string()
            };
            c.replace("{}", &placeholder)
        })
        .collect::<Vec<_>>()
        .join(" AND ");
    (clause, params)
}

/// A parameter of a history query (after the tenant).
pub(crate) enum HistoryParam {
    Text(String),
    Int(i64),
}

/// The page size of a history query.
pub(crate) fn history_limit(query: &HistoryQuery) -> i64 {
    if query.limit == 0 {
        100
    } else {
        query.limit.min(10_000) as i64
    }
}
