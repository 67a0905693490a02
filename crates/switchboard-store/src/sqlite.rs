//! The embedded default backend: one SQLite file in WAL mode with `synchronous=FULL`, so a committed
//! transaction is fsync'd before the writer acknowledges it.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, ErrorCode, OpenFlags};

use crate::backend::{
    history_filter, history_limit, Backend, HistoryParam, KeyRecord, RawRecovered, KEY_COLUMNS,
    SCHEMA_VERSION, SQLITE_MIGRATIONS,
};
use crate::codec::EncodedBatch;
use crate::error::StoreError;
use crate::records::HistoryQuery;

pub(crate) struct Sqlite {
    conn: Connection,
    url: String,
}

fn unix_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// Maps a SQLite error to a store error that names the database and the likely cause.
fn map_error(url: &str, context: &str, error: rusqlite::Error) -> StoreError {
    let code = error.sqlite_error_code();
    let cause = match code {
        Some(ErrorCode::ReadOnly) => "the database is read-only",
        Some(ErrorCode::DiskFull) => "the disk is full",
        Some(ErrorCode::CannotOpen) => "the database file cannot be opened or created",
        Some(ErrorCode::PermissionDenied) => "permission denied",
        Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked) => {
            "the database is locked by another process"
        }
        Some(ErrorCode::NotADatabase) | Some(ErrorCode::DatabaseCorrupt) => {
            return StoreError::Corrupt(format!(
                "{url}: not a switchboard database or corrupt ({error})"
            ));
        }
        Some(ErrorCode::ConstraintViolation) => {
            return StoreError::Conflict(format!("{url}: {context}: {error}"));
        }
        _ => "",
    };
    if cause.is_empty() {
        StoreError::Unavailable(format!("{url}: {context}: {error}"))
    } else {
        StoreError::Unavailable(format!("{url}: {context}: {cause} ({error})"))
    }
}

impl Sqlite {
    /// Opens (creating if needed) the database file and brings its schema up to date.
    pub(crate) fn open(path: &Path, url: &str) -> Result<Sqlite, StoreError> {
        if let Some(parent) = path.parent() {
            if !parent.as_os_str().is_empty() && !parent.is_dir() {
                return Err(StoreError::Config(format!(
                    "{url}: the directory {} does not exist",
                    parent.display()
                )));
            }
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn =
            Connection::open_with_flags(path, flags).map_err(|e| map_error(url, "open", e))?;
        let mut sqlite = Sqlite {
            conn,
            url: url.to_string(),
        };
        sqlite.configure()?;
        sqlite.migrate()?;
        Ok(sqlite)
    }

    fn configure(&mut self) -> Result<(), StoreError> {
        let url = self.url.clone();
        self.conn
            .busy_timeout(std::time::Duration::from_secs(5))
            .map_err(|e| map_error(&url, "configure", e))?;
        let mode: String = self
            .conn
            .query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0))
            .map_err(|e| map_error(&url, "enable WAL", e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Unavailable(format!(
                "{url}: cannot switch to WAL journal mode (got {mode})"
            )));
        }
        // FULL: every commit is fsync'd. Durability of acknowledged writes is not negotiable; group commit
        // is what makes it fast.
        self.conn
            .execute_batch("PRAGMA synchronous=FULL; PRAGMA foreign_keys=OFF;")
            .map_err(|e| map_error(&url, "configure", e))?;
        Ok(())
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let url = self.url.clone();
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| map_error(&url, "start the schema migration", e))?;
        tx.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            .map_err(|e| map_error(&url, "create the schema version table", e))?;
        let found: Option<i64> = tx
            .query_row("SELECT MAX(version) FROM schema_version", [], |row| {
                row.get(0)
            })
            .map_err(|e| map_error(&url, "read the schema version", e))?;
        let found = found.unwrap_or(0);
        if found > SCHEMA_VERSION {
            return Err(StoreError::TooNew {
                found,
                supported: SCHEMA_VERSION,
            });
        }
        for (index, sql) in SQLITE_MIGRATIONS.iter().enumerate() {
            let version = index as i64 + 1;
            if version > found {
                tx.execute_batch(sql)
                    .map_err(|e| map_error(&url, &format!("apply migration {version}"), e))?;
                tx.execute(
                    "INSERT INTO schema_version (version) VALUES (?1)",
                    [version],
                )
                .map_err(|e| map_error(&url, "record the schema version", e))?;
            }
        }
        tx.commit()
            .map_err(|e| map_error(&url, "commit the schema migration", e))?;
        Ok(())
    }
}

const NO_LEASES: &str = "tenant leases (several nodes) need PostgreSQL; SQLite serves one node";

impl Backend for Sqlite {
    fn write(&mut self, batches: &[EncodedBatch]) -> Result<Vec<String>, StoreError> {
        if batches.iter().any(|b| b.lease.is_some()) {
            return Err(StoreError::Config(NO_LEASES.into()));
        }
        let url = self.url.clone();
        let err = |context: &'static str| {
            let url = url.clone();
            move |e| map_error(&url, context, e)
        };
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(err("begin a write"))?;
        {
            let now = unix_micros();
            let mut tenant_stmt = tx
                .prepare_cached("INSERT OR IGNORE INTO tenants (id, created_at) VALUES (?1, ?2)")
                .map_err(err("prepare"))?;
            let mut command_stmt = tx
                .prepare_cached(
                    "INSERT INTO commands (tenant, seq, at, body) VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(err("prepare"))?;
            let mut event_stmt = tx
                .prepare_cached(
                    "INSERT INTO events (tenant, seq, at, kind, body) VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(err("prepare"))?;
            let mut history_stmt = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO task_history \
                     (tenant, task_id, external_id, service, agent, reason, created, terminated, body, kind) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                )
                .map_err(err("prepare"))?;
            let mut last_tenant: Option<&str> = None;
            for batch in batches {
                if last_tenant != Some(batch.tenant.as_str()) {
                    tenant_stmt
                        .execute(params![batch.tenant, now])
                        .map_err(err("record the tenant"))?;
                    last_tenant = Some(batch.tenant.as_str());
                }
                for row in &batch.commands {
                    command_stmt
                        .execute(params![batch.tenant, row.seq, row.at, row.body])
                        .map_err(err("log a command"))?;
                }
                for row in &batch.events {
                    event_stmt
                        .execute(params![batch.tenant, row.seq, row.at, row.kind, row.body])
                        .map_err(err("store an event"))?;
                }
                for row in &batch.history {
                    history_stmt
                        .execute(params![
                            batch.tenant,
                            row.task_id,
                            row.external_id,
                            row.service,
                            row.agent,
                            row.reason,
                            row.created,
                            row.terminated,
                            row.body,
                            row.kind
                        ])
                        .map_err(err("store task history"))?;
                }
            }
        }
        tx.commit().map_err(err("commit"))?;
        Ok(Vec::new())
    }

    fn load(&mut self, tenant: &str, after: i64) -> Result<RawRecovered, StoreError> {
        let url = self.url.clone();
        let err = |context: &'static str| {
            let url = url.clone();
            move |e| map_error(&url, context, e)
        };
        let tx = self.conn.transaction().map_err(err("begin a read"))?;
        let commands = {
            let mut stmt = tx
                .prepare("SELECT seq, at, body FROM commands WHERE tenant = ?1 AND seq > ?2 ORDER BY seq")
                .map_err(err("prepare"))?;
            let rows = stmt
                .query_map(params![tenant, after], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                })
                .map_err(err("read the command log"))?;
            rows.collect::<Result<Vec<_>, _>>()
                .map_err(err("read the command log"))?
        };
        let last_event_seq: Option<i64> = tx
            .query_row(
                "SELECT MAX(seq) FROM events WHERE tenant = ?1",
                [tenant],
                |row| row.get(0),
            )
            .map_err(err("read the last event"))?;
        Ok(RawRecovered {
            snapshot: None,
            commands,
            last_event_seq: last_event_seq.unwrap_or(0),
        })
    }

    fn load_snapshot(
        &mut self,
        tenant: &str,
    ) -> Result<Option<(i64, crate::codec::SnapshotBody)>, StoreError> {
        match self.conn.query_row(
            "SELECT command_seq, body, packed FROM snapshots WHERE tenant = ?1",
            [tenant],
            |row| {
                Ok((
                    row.get(0)?,
                    crate::codec::SnapshotBody::from_columns(row.get(1)?, row.get(2)?),
                ))
            },
        ) {
            Ok(found) => Ok(Some(found)),
            Err(rusqlite::Error::QueryReturnedNoRows) => Ok(None),
            Err(e) => Err(map_error(&self.url, "read the snapshot", e)),
        }
    }

    fn write_snapshot(
        &mut self,
        tenant: &str,
        row: &crate::codec::SnapshotRow,
        lease: Option<&crate::records::Lease>,
    ) -> Result<(), StoreError> {
        if lease.is_some() {
            return Err(StoreError::Config(NO_LEASES.into()));
        }
        self.conn
            .execute(
                "INSERT OR REPLACE INTO snapshots (tenant, command_seq, event_seq, body, packed) \
                 VALUES (?1, ?2, ?3, '', ?4)",
                params![tenant, row.command_seq, row.event_seq, row.packed],
            )
            .map_err(|e| map_error(&self.url, "store a snapshot", e))?;
        Ok(())
    }

    fn trim_commands(&mut self, tenant: &str, from: i64, to: i64) -> Result<u64, StoreError> {
        let deleted = self
            .conn
            .execute(
                "DELETE FROM commands WHERE tenant = ?1 AND seq >= ?2 AND seq <= ?3",
                params![tenant, from, to],
            )
            .map_err(|e| map_error(&self.url, "trim the command log", e))?;
        Ok(deleted as u64)
    }

    fn tenants(&mut self) -> Result<Vec<String>, StoreError> {
        let url = self.url.clone();
        let mut stmt = self
            .conn
            .prepare("SELECT id FROM tenants ORDER BY id")
            .map_err(|e| map_error(&url, "prepare", e))?;
        let rows = stmt
            .query_map([], |row| row.get(0))
            .map_err(|e| map_error(&url, "list tenants", e))?;
        rows.collect::<Result<Vec<String>, _>>()
            .map_err(|e| map_error(&url, "list tenants", e))
    }

    fn events_after(
        &mut self,
        tenant: &str,
        after: i64,
        limit: i64,
    ) -> Result<Vec<String>, StoreError> {
        let url = self.url.clone();
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT body FROM events WHERE tenant = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
            )
            .map_err(|e| map_error(&url, "prepare", e))?;
        let rows = stmt
            .query_map(params![tenant, after, limit], |row| row.get(0))
            .map_err(|e| map_error(&url, "read events", e))?;
        rows.collect::<Result<Vec<String>, _>>()
            .map_err(|e| map_error(&url, "read events", e))
    }

    fn history(&mut self, tenant: &str, query: &HistoryQuery) -> Result<Vec<String>, StoreError> {
        let url = self.url.clone();
        let (clause, params) = history_filter(query, false);
        let sql = format!(
            "SELECT body FROM task_history WHERE {clause} ORDER BY terminated DESC, task_id LIMIT ? OFFSET ?"
        );
        let mut values: Vec<rusqlite::types::Value> = vec![tenant.to_string().into()];
        for param in params {
            values.push(match param {
                HistoryParam::Text(text) => text.into(),
                HistoryParam::Int(int) => int.into(),
            });
        }
        values.push(history_limit(query).into());
        values.push((query.offset as i64).into());
        let mut stmt = self
            .conn
            .prepare(&sql)
            .map_err(|e| map_error(&url, "prepare", e))?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(values), |row| row.get(0))
            .map_err(|e| map_error(&url, "read history", e))?;
        rows.collect::<Result<Vec<String>, _>>()
            .map_err(|e| map_error(&url, "read history", e))
    }

    fn history_task(
        &mut self,
        tenant: &str,
        id_or_external: &str,
    ) -> Result<Option<String>, StoreError> {
        let url = self.url.clone();
        match self.conn.query_row(
            "SELECT body FROM task_history WHERE tenant = ?1 AND (task_id = ?2 OR external_id = ?2) \
             ORDER BY terminated DESC LIMIT 1",
            params![tenant, id_or_external],
            |row| row.get(0),
        ) {
            Ok(body) => Ok(Some(body)),
            Err(rusqlite::Error::QueryReturnedNoRows) => Ok(None),
            Err(e) => Err(map_error(&url, "read history", e)),
        }
    }

    fn prune(&mut self, events_before: i64, history_before: i64) -> Result<(u64, u64), StoreError> {
        let url = self.url.clone();
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| map_error(&url, "begin pruning", e))?;
        let events = tx
            .execute("DELETE FROM events WHERE at < ?1", [events_before])
            .map_err(|e| map_error(&url, "prune events", e))?;
        let history = tx
            .execute(
                "DELETE FROM task_history WHERE terminated < ?1",
                [history_before],
            )
            .map_err(|e| map_error(&url, "prune history", e))?;
        tx.commit()
            .map_err(|e| map_error(&url, "commit pruning", e))?;
        Ok((events as u64, history as u64))
    }

    fn create_key(&mut self, key: &KeyRecord) -> Result<(), StoreError> {
        let url = self.url.clone();
        self.conn
            .execute(
                &format!("INSERT INTO api_keys ({KEY_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"),
                params![
                    key.id,
                    key.tenant,
                    key.name,
                    key.key_hash,
                    key.roles.join(","),
                    key.created_at,
                    key.expires_at,
                    key.rate_limit,
                    key.burst_limit,
                    key.revoked_at
                ],
            )
            .map_err(|e| map_error(&url, "store an API key", e))?;
        Ok(())
    }

    fn list_keys(&mut self) -> Result<Vec<KeyRecord>, StoreError> {
        let url = self.url.clone();
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {KEY_COLUMNS} FROM api_keys ORDER BY created_at, id"
            ))
            .map_err(|e| map_error(&url, "prepare", e))?;
        let rows = stmt
            .query_map([], key_from_row)
            .map_err(|e| map_error(&url, "list API keys", e))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| map_error(&url, "list API keys", e))
    }

    fn find_key(&mut self, key_hash: &str) -> Result<Option<KeyRecord>, StoreError> {
        let url = self.url.clone();
        match self.conn.query_row(
            &format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE key_hash = ?1"),
            [key_hash],
            key_from_row,
        ) {
            Ok(key) => Ok(Some(key)),
            Err(rusqlite::Error::QueryReturnedNoRows) => Ok(None),
            Err(e) => Err(map_error(&url, "find an API key", e)),
        }
    }

    fn revoke_key(&mut self, id_or_name: &str, at: i64) -> Result<bool, StoreError> {
        let url = self.url.clone();
        let changed = self
            .conn
            .execute(
                "UPDATE api_keys SET revoked_at = ?2 WHERE (id = ?1 OR name = ?1) AND revoked_at IS NULL",
                params![id_or_name, at],
            )
            .map_err(|e| map_error(&url, "revoke an API key", e))?;
        Ok(changed > 0)
    }

    fn put_entry(
        &mut self,
        tenant: &str,
        kind: &str,
        id: &str,
        body: &str,
    ) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO config_entries (tenant, kind, id, body) VALUES (?1, ?2, ?3, ?4)",
                params![tenant, kind, id, body],
            )
            .map_err(|e| map_error(&self.url, "store configuration", e))?;
        Ok(())
    }

    fn delete_entry(&mut self, tenant: &str, kind: &str, id: &str) -> Result<bool, StoreError> {
        let deleted = self
            .conn
            .execute(
                "DELETE FROM config_entries WHERE tenant = ?1 AND kind = ?2 AND id = ?3",
                params![tenant, kind, id],
            )
            .map_err(|e| map_error(&self.url, "delete configuration", e))?;
        Ok(deleted > 0)
    }

    fn list_entries(
        &mut self,
        tenant: &str,
        kind: &str,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let url = self.url.clone();
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, body FROM config_entries WHERE tenant = ?1 AND kind = ?2 ORDER BY id",
            )
            .map_err(|e| map_error(&url, "prepare", e))?;
        let rows = stmt
            .query_map(params![tenant, kind], |row| Ok((row.get(0)?, row.get(1)?)))
            .map_err(|e| map_error(&url, "read configuration", e))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| map_error(&url, "read configuration", e))
    }
}

fn key_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<KeyRecord> {
    let roles: String = row.get(4)?;
    Ok(KeyRecord {
        id: row.get(0)?,
        tenant: row.get(1)?,
        name: row.get(2)?,
        key_hash: row.get(3)?,
        roles: roles
            .split(',')
            .filter(|r| !r.is_empty())
            .map(str::to_string)
            .collect(),
        created_at: row.get(5)?,
        expires_at: row.get(6)?,
        rate_limit: row.get(7)?,
        burst_limit: row.get(8)?,
        revoked_at: row.get(9)?,
    })
}
