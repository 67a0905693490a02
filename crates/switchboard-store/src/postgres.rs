//! The PostgreSQL backend. A group commit is one transaction with one bulk insert (`UNNEST` of arrays) per table
//! and tenant, so its cost in round trips does not grow with the number of rows. A lost connection is
//! re-established on the next write, with backoff; writes meanwhile fail as unavailable and are not acknowledged.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use postgres::{Client, NoTls};

use crate::backend::{
    history_filter, history_limit, Backend, HistoryParam, KeyRecord, RawRecovered, KEY_COLUMNS,
    POSTGRES_MIGRATIONS, SCHEMA_VERSION,
};
use crate::codec::EncodedBatch;
use crate::error::StoreError;
use crate::records::HistoryQuery;

/// Milliseconds a session may sit idle inside a transaction before PostgreSQL ends it (see `connect`).
pub(crate) const IDLE_IN_TRANSACTION_MS: u64 = 2_000;

/// Lock key used to serialize schema migrations between processes sharing one database.
const MIGRATION_LOCK: i64 = 0x5357_4254_4348_0001;

/// The write statements, prepared once per connection so a group commit costs one round trip per statement.
struct Statements {
    tenant: postgres::Statement,
    commands: postgres::Statement,
    events: postgres::Statement,
    history: postgres::Statement,
    /// Locks the lease rows of the tenants written (`FOR SHARE`: a takeover's update waits for this commit, and
    /// this write sees a takeover committed before it) and returns the node and epoch each names.
    leases: postgres::Statement,
}

impl Statements {
    fn prepare(client: &mut Client) -> Result<Statements, postgres::Error> {
        Ok(Statements {
            tenant: client.prepare(
                "INSERT INTO tenants (id, created_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
            )?,
            commands: client.prepare(
                "INSERT INTO commands (tenant, seq, at, body) \
                 SELECT $1, * FROM UNNEST($2::int8[], $3::int8[], $4::text[])",
            )?,
            events: client.prepare(
                "INSERT INTO events (tenant, seq, at, kind, body) \
                 SELECT $1, * FROM UNNEST($2::int8[], $3::int8[], $4::text[], $5::text[])",
            )?,
            history: client.prepare(
                "INSERT INTO task_history \
                 (tenant, task_id, external_id, service, agent, reason, created, terminated, body, kind) \
                 SELECT $1, * FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
                                          $7::int8[], $8::int8[], $9::text[], $10::text[]) \
                 ON CONFLICT (tenant, task_id) DO UPDATE SET external_id = EXCLUDED.external_id, \
                   service = EXCLUDED.service, agent = EXCLUDED.agent, reason = EXCLUDED.reason, \
                   created = EXCLUDED.created, terminated = EXCLUDED.terminated, body = EXCLUDED.body, \
                   kind = EXCLUDED.kind",
            )?,
            leases: client.prepare(
                "SELECT tenant, node, epoch FROM tenant_leases WHERE tenant = ANY($1) FOR SHARE",
            )?,
        })
    }
}

pub(crate) struct Postgres {
    client: Option<Client>,
    statements: Option<Statements>,
    /// Tenants known to have their row, so a group commit does not insert it again.
    known_tenants: std::collections::BTreeSet<String>,
    url: String,
    redacted: String,
    next_attempt: Instant,
    backoff: Duration,
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // Closing the blocking client runs its own runtime: not on an async task's thread.
        if let Some(client) = self.client.take() {
            crate::outside_async(|| drop(client));
        }
    }
}

fn map_error(url: &str, context: &str, error: postgres::Error) -> StoreError {
    if let Some(db) = error.as_db_error() {
        let code = db.code().code();
        if code == "23505" {
            return StoreError::Conflict(format!("{url}: {context}: {}", db.message()));
        }
        let cause = match code {
            "25006" => "the database is read-only",
            "53100" => "the disk is full",
            "53300" => "too many connections",
            "57P01" | "57P02" | "57P03" => "the server is shutting down or starting up",
            _ => "",
        };
        if !cause.is_empty() {
            return StoreError::Unavailable(format!(
                "{url}: {context}: {cause} ({})",
                db.message()
            ));
        }
        return StoreError::Unavailable(format!("{url}: {context}: {}", db.message()));
    }
    StoreError::Unavailable(format!("{url}: {context}: {error}"))
}

fn unix_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

impl Postgres {
    /// Connects and brings the schema up to date.
    pub(crate) fn open(url: &str, redacted: &str) -> Result<Postgres, StoreError> {
        let client = Self::connect(url, redacted)?;
        let mut postgres = Postgres {
            client: Some(client),
            statements: None,
            known_tenants: std::collections::BTreeSet::new(),
            url: url.to_string(),
            redacted: redacted.to_string(),
            next_attempt: Instant::now(),
            backoff: Duration::from_millis(100),
        };
        postgres.migrate()?;
        Ok(postgres)
    }

    /// A connection with the session settings every switchboard connection uses.
    pub(crate) fn connect(url: &str, redacted: &str) -> Result<Client, StoreError> {
        let mut config: postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Config(format!("invalid database URL '{redacted}': {e}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(5));
        }
        let mut client = config
            .connect(NoTls)
            .map_err(|e| StoreError::Unavailable(format!("cannot connect to {redacted}: {e}")))?;
        // A transaction of ours never waits between its statements; one that does belongs to a process that
        // was paused or lost mid-transaction. Ending it releases its locks, so that another node can take the
        // tenant's lease over (the paused process then finds its lease gone).
        client
            .batch_execute(&format!(
                "SET idle_in_transaction_session_timeout = {IDLE_IN_TRANSACTION_MS}"
            ))
            .map_err(|e| {
                StoreError::Unavailable(format!("cannot configure the session on {redacted}: {e}"))
            })?;
        Ok(client)
    }

    /// The connection, re-established if it was lost (at most once per backoff period).
    fn client(&mut self) -> Result<&mut Client, StoreError> {
        let lost = self.client.as_ref().is_none_or(|client| client.is_closed());
        if lost {
            self.client = None;
            if Instant::now() < self.next_attempt {
                return Err(StoreError::Unavailable(format!(
                    "{}: the connection is lost; reconnecting",
                    self.redacted
                )));
            }
            match Self::connect(&self.url, &self.redacted) {
                Ok(client) => {
                    self.client = Some(client);
                    self.statements = None;
                    self.backoff = Duration::from_millis(100);
                }
                Err(error) => {
                    self.next_attempt = Instant::now() + self.backoff;
                    self.backoff = (self.backoff * 2).min(Duration::from_secs(5));
                    return Err(error);
                }
            }
        }
        Ok(self.client.as_mut().expect("connected above"))
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let url = self.redacted.clone();
        let client = self.client()?;
        let mut tx = client
            .transaction()
            .map_err(|e| map_error(&url, "start the schema migration", e))?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .map_err(|e| map_error(&url, "lock the schema", e))?;
        tx.batch_execute("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")
            .map_err(|e| map_error(&url, "create the schema version table", e))?;
        let found: Option<i64> = tx
            .query_one("SELECT MAX(version) FROM schema_version", &[])
            .map_err(|e| map_error(&url, "read the schema version", e))?
            .get(0);
        let found = found.unwrap_or(0);
        if found > SCHEMA_VERSION {
            return Err(StoreError::TooNew {
                found,
                supported: SCHEMA_VERSION,
            });
        }
        for (index, sql) in POSTGRES_MIGRATIONS.iter().enumerate() {
            let version = index as i64 + 1;
            if version > found {
                tx.batch_execute(sql)
                    .map_err(|e| map_error(&url, &format!("apply migration {version}"), e))?;
                tx.execute(
                    "INSERT INTO schema_version (version) VALUES ($1)",
                    &[&version],
                )
                .map_err(|e| map_error(&url, "record the schema version", e))?;
            }
        }
        tx.commit()
            .map_err(|e| map_error(&url, "commit the schema migration", e))
    }

    fn write_inner(&mut self, batches: &[EncodedBatch]) -> Result<Vec<String>, StoreError> {
        let url = self.redacted.clone();
        let err = |context: &'static str| {
            let url = url.clone();
            move |e| map_error(&url, context, e)
        };
        self.client()?;
        if self.statements.is_none() {
            let client = self.client.as_mut().expect("connected");
            self.statements = Some(Statements::prepare(client).map_err(err("prepare statements"))?);
        }
        let statements = self.statements.as_ref().expect("prepared");
        let client = self.client.as_mut().expect("connected");
        let mut tx = client.transaction().map_err(err("begin a write"))?;
        let now = unix_micros();
        let mut new_tenants = Vec::new();
        // Fencing: a batch written under a lease commits only if the lease row still names its node and epoch.
        let leased: Vec<&str> = batches
            .iter()
            .filter(|b| b.lease.is_some())
            .map(|b| b.tenant.as_str())
            .collect();
        let mut lost: Vec<String> = Vec::new();
        if !leased.is_empty() {
            let rows = tx
                .query(&statements.leases, &[&leased])
                .map_err(err("check the tenant leases"))?;
            let granted: std::collections::HashMap<String, (Option<String>, i64)> = rows
                .iter()
                .map(|row| (row.get(0), (row.get(1), row.get(2))))
                .collect();
            for batch in batches {
                let Some(lease) = &batch.lease else { continue };
                let holds = granted.get(&batch.tenant).is_some_and(|(node, epoch)| {
                    node.as_deref() == Some(&*lease.node) && *epoch == lease.epoch
                });
                if !holds && !lost.contains(&batch.tenant) {
                    lost.push(batch.tenant.clone());
                }
            }
        }
        // Merge consecutive batches of one tenant so each table gets one statement per tenant.
        let mut start = 0;
        while start < batches.len() {
            let tenant = &batches[start].tenant;
            let mut end = start;
            while end < batches.len() && &batches[end].tenant == tenant {
                end += 1;
            }
            let group = &batches[start..end];
            if lost.contains(tenant) {
                start = end;
                continue;
            }
            if !self.known_tenants.contains(tenant) {
                tx.execute(&statements.tenant, &[tenant, &now])
                    .map_err(err("record the tenant"))?;
                new_tenants.push(tenant.clone());
            }
            let commands: Vec<_> = group.iter().flat_map(|b| &b.commands).collect();
            if !commands.is_empty() {
                let seqs: Vec<i64> = commands.iter().map(|r| r.seq).collect();
                let ats: Vec<i64> = commands.iter().map(|r| r.at).collect();
                let bodies: Vec<&str> = commands.iter().map(|r| r.body.as_str()).collect();
                tx.execute(&statements.commands, &[tenant, &seqs, &ats, &bodies])
                    .map_err(err("log commands"))?;
            }
            let events: Vec<_> = group.iter().flat_map(|b| &b.events).collect();
            if !events.is_empty() {
                let seqs: Vec<i64> = events.iter().map(|r| r.seq).collect();
                let ats: Vec<i64> = events.iter().map(|r| r.at).collect();
                let kinds: Vec<&str> = events.iter().map(|r| r.kind.as_str()).collect();
                let bodies: Vec<&str> = events.iter().map(|r| r.body.as_str()).collect();
                tx.execute(&statements.events, &[tenant, &seqs, &ats, &kinds, &bodies])
                    .map_err(err("store events"))?;
            }
            let history: Vec<_> = group.iter().flat_map(|b| &b.history).collect();
            if !history.is_empty() {
                // A task id can only terminate once, but stay safe if a caller reuses ids: the newest wins.
                let mut latest: Vec<&crate::codec::HistoryRow> = Vec::new();
                for row in history.iter().rev() {
                    if !latest.iter().any(|r| r.task_id == row.task_id) {
                        latest.push(row);
                    }
                }
                let ids: Vec<&str> = latest.iter().map(|r| r.task_id.as_str()).collect();
                let externals: Vec<Option<&str>> =
                    latest.iter().map(|r| r.external_id.as_deref()).collect();
                let services: Vec<&str> = latest.iter().map(|r| r.service.as_str()).collect();
                let agents: Vec<Option<&str>> = latest.iter().map(|r| r.agent.as_deref()).collect();
                let reasons: Vec<&str> = latest.iter().map(|r| r.reason.as_str()).collect();
                let created: Vec<i64> = latest.iter().map(|r| r.created).collect();
                let terminated: Vec<i64> = latest.iter().map(|r| r.terminated).collect();
                let bodies: Vec<&str> = latest.iter().map(|r| r.body.as_str()).collect();
                let kinds: Vec<&str> = latest.iter().map(|r| r.kind.as_str()).collect();
                tx.execute(
                    &statements.history,
                    &[
                        tenant,
                        &ids,
                        &externals,
                        &services,
                        &agents,
                        &reasons,
                        &created,
                        &terminated,
                        &bodies,
                        &kinds,
                    ],
                )
                .map_err(err("store task history"))?;
            }
            start = end;
        }
        tx.commit().map_err(err("commit"))?;
        self.known_tenants.extend(new_tenants);
        Ok(lost)
    }
}

impl Backend for Postgres {
    fn write(&mut self, batches: &[EncodedBatch]) -> Result<Vec<String>, StoreError> {
        let result = self.write_inner(batches);
        if let Err(StoreError::Unavailable(_)) = &result {
            // Drop a connection that may be broken; the next write reconnects (with backoff).
            if self
                .client
                .as_ref()
                .is_some_and(|client| client.is_closed())
            {
                self.client = None;
            }
        }
        result
    }

    fn load(&mut self, tenant: &str, after: i64) -> Result<RawRecovered, StoreError> {
        let url = self.redacted.clone();
        let err = |context: &'static str| {
            let url = url.clone();
            move |e| map_error(&url, context, e)
        };
        let client = self.client()?;
        let mut tx = client
            .build_transaction()
            .isolation_level(postgres::IsolationLevel::RepeatableRead)
            .start()
            .map_err(err("begin a read"))?;
        let commands = tx
            .query(
                "SELECT seq, at, body FROM commands WHERE tenant = $1 AND seq > $2 ORDER BY seq",
                &[&tenant, &after],
            )
            .map_err(err("read the command log"))?
            .into_iter()
            .map(|row| (row.get(0), row.get(1), row.get(2)))
            .collect();
        let last_event_seq: Option<i64> = tx
            .query_one("SELECT MAX(seq) FROM events WHERE tenant = $1", &[&tenant])
            .map_err(err("read the last event"))?
            .get(0);
        tx.commit().map_err(err("end a read"))?;
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
        let url = self.redacted.clone();
        Ok(self
            .client()?
            .query_opt(
                "SELECT command_seq, body, packed FROM snapshots WHERE tenant = $1",
                &[&tenant],
            )
            .map_err(|e| map_error(&url, "read the snapshot", e))?
            .map(|row| {
                (
                    row.get(0),
                    crate::codec::SnapshotBody::from_columns(row.get(1), row.get(2)),
                )
            }))
    }

    fn write_snapshot(
        &mut self,
        tenant: &str,
        row: &crate::codec::SnapshotRow,
        lease: Option<&crate::records::Lease>,
    ) -> Result<(), StoreError> {
        let url = self.redacted.clone();
        let err = |context: &'static str| {
            let url = url.clone();
            move |e| map_error(&url, context, e)
        };
        let mut tx = self
            .client()?
            .transaction()
            .map_err(err("begin a snapshot"))?;
        if let Some(lease) = lease {
            let node: &str = &lease.node;
            let holds = tx
                .query_opt(
                    "SELECT 1 FROM tenant_leases WHERE tenant = $1 AND node = $2 AND epoch = $3 FOR SHARE",
                    &[&tenant, &node, &lease.epoch],
                )
                .map_err(err("check the tenant lease"))?
                .is_some();
            if !holds {
                return Err(StoreError::Fenced(tenant.to_string()));
            }
        }
        tx.execute(
            "INSERT INTO snapshots (tenant, command_seq, event_seq, body, packed) \
             VALUES ($1, $2, $3, '', $4) \
             ON CONFLICT (tenant) DO UPDATE SET command_seq = EXCLUDED.command_seq, \
               event_seq = EXCLUDED.event_seq, body = EXCLUDED.body, packed = EXCLUDED.packed",
            &[&tenant, &row.command_seq, &row.event_seq, &row.packed],
        )
        .map_err(err("store a snapshot"))?;
        tx.commit().map_err(err("commit a snapshot"))?;
        Ok(())
    }

    fn trim_commands(&mut self, tenant: &str, from: i64, to: i64) -> Result<u64, StoreError> {
        let url = self.redacted.clone();
        self.client()?
            .execute(
                "DELETE FROM commands WHERE tenant = $1 AND seq >= $2 AND seq <= $3",
                &[&tenant, &from, &to],
            )
            .map_err(|e| map_error(&url, "trim the command log", e))
    }

    fn tenants(&mut self) -> Result<Vec<String>, StoreError> {
        let url = self.redacted.clone();
        Ok(self
            .client()?
            .query("SELECT id FROM tenants ORDER BY id", &[])
            .map_err(|e| map_error(&url, "list tenants", e))?
            .into_iter()
            .map(|row| row.get(0))
            .collect())
    }

    fn events_after(
        &mut self,
        tenant: &str,
        after: i64,
        limit: i64,
    ) -> Result<Vec<String>, StoreError> {
        let url = self.redacted.clone();
        Ok(self
            .client()?
            .query(
                "SELECT body FROM events WHERE tenant = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                &[&tenant, &after, &limit],
            )
            .map_err(|e| map_error(&url, "read events", e))?
            .into_iter()
            .map(|row| row.get(0))
            .collect())
    }

    fn history(&mut self, tenant: &str, query: &HistoryQuery) -> Result<Vec<String>, StoreError> {
        let url = self.redacted.clone();
        let (clause, params) = history_filter(query, true);
        let n = params.len() + 1;
        let sql = format!(
            "SELECT body FROM task_history WHERE {clause} ORDER BY terminated DESC, task_id \
             LIMIT ${} OFFSET ${}",
            n + 1,
            n + 2
        );
        let texts: Vec<Option<String>> = params
            .iter()
            .map(|p| match p {
                HistoryParam::Text(text) => Some(text.clone()),
                HistoryParam::Int(_) => None,
            })
            .collect();
        let ints: Vec<Option<i64>> = params
            .iter()
            .map(|p| match p {
                HistoryParam::Int(int) => Some(*int),
                HistoryParam::Text(_) => None,
            })
            .collect();
        let tenant = tenant.to_string();
        let limit = history_limit(query);
        let offset = query.offset as i64;
        let mut values: Vec<&(dyn postgres::types::ToSql + Sync)> = vec![&tenant];
        for (text, int) in texts.iter().zip(&ints) {
            match (text, int) {
                (Some(text), _) => values.push(text),
                (_, Some(int)) => values.push(int),
                _ => unreachable!("each parameter is text or integer"),
            }
        }
        values.push(&limit);
        values.push(&offset);
        Ok(self
            .client()?
            .query(&sql, &values)
            .map_err(|e| map_error(&url, "read history", e))?
            .into_iter()
            .map(|row| row.get(0))
            .collect())
    }

    fn history_task(
        &mut self,
        tenant: &str,
        id_or_external: &str,
    ) -> Result<Option<String>, StoreError> {
        let url = self.redacted.clone();
        Ok(self
            .client()?
            .query_opt(
                "SELECT body FROM task_history WHERE tenant = $1 AND (task_id = $2 OR external_id = $2) \
                 ORDER BY terminated DESC LIMIT 1",
                &[&tenant, &id_or_external],
            )
            .map_err(|e| map_error(&url, "read history", e))?
            .map(|row| row.get(0)))
    }

    fn prune(&mut self, events_before: i64, history_before: i64) -> Result<(u64, u64), StoreError> {
        let url = self.redacted.clone();
        let err = |context: &'static str| {
            let url = url.clone();
            move |e| map_error(&url, context, e)
        };
        let mut tx = self.client()?.transaction().map_err(err("begin pruning"))?;
        let events = tx
            .execute("DELETE FROM events WHERE at < $1", &[&events_before])
            .map_err(err("prune events"))?;
        let history = tx
            .execute(
                "DELETE FROM task_history WHERE terminated < $1",
                &[&history_before],
            )
            .map_err(err("prune history"))?;
        tx.commit().map_err(err("commit pruning"))?;
        Ok((events, history))
    }

    fn create_key(&mut self, key: &KeyRecord) -> Result<(), StoreError> {
        let url = self.redacted.clone();
        let roles = key.roles.join(",");
        self.client()?
            .execute(
                &format!(
                    "INSERT INTO api_keys ({KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
                ),
                &[
                    &key.id,
                    &key.tenant,
                    &key.name,
                    &key.key_hash,
                    &roles,
                    &key.created_at,
                    &key.expires_at,
                    &key.rate_limit,
                    &key.burst_limit,
                    &key.revoked_at,
                ],
            )
            .map_err(|e| map_error(&url, "store an API key", e))?;
        Ok(())
    }

    fn list_keys(&mut self) -> Result<Vec<KeyRecord>, StoreError> {
        let url = self.redacted.clone();
        Ok(self
            .client()?
            .query(
                &format!("SELECT {KEY_COLUMNS} FROM api_keys ORDER BY created_at, id"),
                &[],
            )
            .map_err(|e| map_error(&url, "list API keys", e))?
            .iter()
            .map(key_from_row)
            .collect())
    }

    fn find_key(&mut self, key_hash: &str) -> Result<Option<KeyRecord>, StoreError> {
        let url = self.redacted.clone();
        Ok(self
            .client()?
            .query_opt(
                &format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE key_hash = $1"),
                &[&key_hash],
            )
            .map_err(|e| map_error(&url, "find an API key", e))?
            .as_ref()
            .map(key_from_row))
    }

    fn revoke_key(&mut self, id_or_name: &str, at: i64) -> Result<bool, StoreError> {
        let url = self.redacted.clone();
        let changed = self
            .client()?
            .execute(
                "UPDATE api_keys SET revoked_at = $2 WHERE (id = $1 OR name = $1) AND revoked_at IS NULL",
                &[&id_or_name, &at],
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
        let url = self.redacted.clone();
        self.client()?
            .execute(
                "INSERT INTO config_entries (tenant, kind, id, body) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (tenant, kind, id) DO UPDATE SET body = EXCLUDED.body",
                &[&tenant, &kind, &id, &body],
            )
            .map_err(|e| map_error(&url, "store configuration", e))?;
        Ok(())
    }

    fn delete_entry(&mut self, tenant: &str, kind: &str, id: &str) -> Result<bool, StoreError> {
        let url = self.redacted.clone();
        let deleted = self
            .client()?
            .execute(
                "DELETE FROM config_entries WHERE tenant = $1 AND kind = $2 AND id = $3",
                &[&tenant, &kind, &id],
            )
            .map_err(|e| map_error(&url, "delete configuration", e))?;
        Ok(deleted > 0)
    }

    fn list_entries(
        &mut self,
        tenant: &str,
        kind: &str,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let url = self.redacted.clone();
        Ok(self
            .client()?
            .query(
                "SELECT id, body FROM config_entries WHERE tenant = $1 AND kind = $2 ORDER BY id",
                &[&tenant, &kind],
            )
            .map_err(|e| map_error(&url, "read configuration", e))?
            .into_iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect())
    }
}

fn key_from_row(row: &postgres::Row) -> KeyRecord {
    let roles: String = row.get(4);
    KeyRecord {
        id: row.get(0),
        tenant: row.get(1),
        name: row.get(2),
        key_hash: row.get(3),
        roles: roles
            .split(',')
            .filter(|r| !r.is_empty())
            .map(str::to_string)
            .collect(),
        created_at: row.get(5),
        expires_at: row.get(6),
        rate_limit: row.get(7),
        burst_limit: row.get(8),
        revoked_at: row.get(9),
    }
}
