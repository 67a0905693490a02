//! Durable storage for switchboard, on an embedded SQLite file (the default) or a PostgreSQL server, chosen by
//! URL. Per tenant it keeps the log of engine commands, the engine's events, the latest engine snapshot and the
//! history of terminated tasks.
//!
//! Recovery restores the latest snapshot and replays the commands logged after it; the engine is deterministic,
//! so the replay reproduces the state exactly (the stored events are checked against it). Writes go through one
//! group-commit writer thread: a write is acknowledged only once its transaction is committed (fsync'd on SQLite,
//! committed on PostgreSQL).

pub mod audit;
mod backend;
pub mod cluster;
mod codec;
mod error;
mod journal;
mod postgres;
mod records;
mod sqlite;
mod url;
mod writer;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use switchboard_core::{Event, TaskInfo, Time};
use tokio::sync::oneshot;

pub use backend::{KeyRecord, SCHEMA_VERSION};
pub use error::StoreError;
pub use journal::{Execution, Journal, JournalOptions};
pub use records::{
    Batch, CommandRecord, HistoryQuery, HistoryRecord, Lease, Recovered, SnapshotRecord,
};
pub use url::{redact, StoreUrl};
pub use writer::StoreStats;

use backend::Backend;
use writer::Request;

/// A write that was queued; resolves once it is durable, or with the reason it is not.
#[must_use = "a write is only durable once its Pending resolves Ok"]
pub struct Pending {
    receiver: Option<oneshot::Receiver<Result<(), StoreError>>>,
}

impl Pending {
    /// A write that needed nothing stored.
    pub fn done() -> Pending {
        Pending { receiver: None }
    }

    /// A write refused because the store is shut down.
    fn closed() -> Pending {
        let (ack, receiver) = oneshot::channel();
        let _ = ack.send(Err(StoreError::Closed));
        Pending {
            receiver: Some(receiver),
        }
    }

    /// Waits until the write is durable.
    pub async fn wait(self) -> Result<(), StoreError> {
        match self.receiver {
            None => Ok(()),
            Some(receiver) => receiver.await.unwrap_or(Err(StoreError::Closed)),
        }
    }

    /// Waits, blocking the thread, until the write is durable. Not for use inside an async runtime.
    pub fn wait_blocking(self) -> Result<(), StoreError> {
        match self.receiver {
            None => Ok(()),
            Some(receiver) => receiver.blocking_recv().unwrap_or(Err(StoreError::Closed)),
        }
    }
}

/// An open store: a writer thread for durable writes, a snapshotter thread that writes snapshots on a
/// connection of its own (so encoding and storing a large snapshot never holds up commits), and a connection for
/// reads. On SQLite, snapshots live in a sibling file (`PATH-snapshots`) so their writes do not take the main
/// database's write lock.
pub struct Store {
    url: StoreUrl,
    requests: Mutex<Option<Sender<Request>>>,
    snapshots: Mutex<Option<Sender<SnapshotJob>>>,
    reader: Mutex<Box<dyn Backend>>,
    snapshot_reader: Mutex<Box<dyn Backend>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    snapshotter: Mutex<Option<JoinHandle<()>>>,
    stats: Arc<StoreStats>,
}

struct SnapshotJob {
    tenant: String,
    generation: u64,
    record: SnapshotRecord,
    /// The command sequence of the tenant's previous snapshot: commands after it up to this one are trimmed.
    previous_seq: u64,
    /// The writer's lease (cluster mode): the snapshot is stored only while it holds it.
    lease: Option<Lease>,
    ack: oneshot::Sender<Result<(), StoreError>>,
}

fn run_snapshotter(
    mut backend: Box<dyn Backend>,
    jobs: std::sync::mpsc::Receiver<SnapshotJob>,
    writer: Sender<Request>,
    stats: Arc<StoreStats>,
) {
    for job in jobs {
        let result = (|| {
            // Only a state whose every change is durable may become a snapshot.
            let (ack, barrier) = oneshot::channel();
            writer
                .send(Request::Barrier {
                    tenant: job.tenant.clone(),
                    generation: job.generation,
                    ack,
                })
                .map_err(|_| StoreError::Closed)?;
            barrier.blocking_recv().unwrap_or(Err(StoreError::Closed))?;
            let encoding = std::time::Instant::now();
            let row = codec::encode_snapshot(&job.record)?;
            let storing = std::time::Instant::now();
            backend.write_snapshot(&job.tenant, &row, job.lease.as_ref())?;
            let micros = |d: std::time::Duration| d.as_micros().min(u64::MAX as u128) as u64;
            stats
                .last_snapshot_encode_micros
                .store(micros(storing - encoding), Ordering::Relaxed);
            stats
                .last_snapshot_store_micros
                .store(micros(storing.elapsed()), Ordering::Relaxed);
            stats
                .last_snapshot_bytes
                .store(row.packed.len() as u64, Ordering::Relaxed);
            stats.snapshots.fetch_add(1, Ordering::Relaxed);
            let _ = writer.send(Request::Trim {
                tenant: job.tenant.clone(),
                from: job.previous_seq as i64 + 1,
                to: job.record.command_seq as i64,
            });
            Ok(())
        })();
        let _ = job.ack.send(result);
    }
}

/// Runs a blocking database call. Called from a task of a multi-threaded async runtime (a request handler that
/// reads the store), it tells the runtime first (`block_in_place`), so the runtime moves its other tasks away and
/// PostgreSQL's blocking client, which runs a runtime of its own, may run there. Elsewhere it just runs.
pub(crate) fn outside_async<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

impl Store {
    /// Opens the store at `url` (`sqlite://PATH` or `postgres://...`), creating or upgrading its schema.
    /// Fails with a message naming the (redacted) URL when the database cannot be used durably.
    pub fn open(url: &str) -> Result<Store, StoreError> {
        let url = StoreUrl::parse(url)?;
        let redacted = url.redacted();
        // Four connections: the writer's, reads', the snapshotter's and snapshot reads'.
        type Connections = (
            Box<dyn Backend>,
            Box<dyn Backend>,
            Box<dyn Backend>,
            Box<dyn Backend>,
        );
        let (write_backend, read_backend, snapshot_backend, snapshot_reader): Connections =
            match &url {
                StoreUrl::Sqlite(path) => {
                    let mut snapshot_path = path.clone().into_os_string();
                    snapshot_path.push("-snapshots");
                    let snapshot_path = std::path::PathBuf::from(snapshot_path);
                    (
                        Box::new(sqlite::Sqlite::open(path, &redacted)?),
                        Box::new(sqlite::Sqlite::open(path, &redacted)?),
                        Box::new(sqlite::Sqlite::open(&snapshot_path, &redacted)?),
                        Box::new(sqlite::Sqlite::open(&snapshot_path, &redacted)?),
                    )
                }
                StoreUrl::Postgres(full) => (
                    Box::new(postgres::Postgres::open(full, &redacted)?),
                    Box::new(postgres::Postgres::open(full, &redacted)?),
                    Box::new(postgres::Postgres::open(full, &redacted)?),
                    Box::new(postgres::Postgres::open(full, &redacted)?),
                ),
            };
        let (sender, receiver) = std::sync::mpsc::channel();
        let stats = Arc::new(StoreStats::default());
        let writer_stats = stats.clone();
        let writer = std::thread::Builder::new()
            .name("switchboard-store-writer".into())
            .spawn(move || writer::run(write_backend, receiver, writer_stats))
            .map_err(|e| StoreError::Unavailable(format!("cannot start the writer thread: {e}")))?;
        let (job_sender, jobs) = std::sync::mpsc::channel();
        let snapshot_writer = sender.clone();
        let snapshot_stats = stats.clone();
        let snapshotter = std::thread::Builder::new()
            .name("switchboard-store-snapshots".into())
            .spawn(move || run_snapshotter(snapshot_backend, jobs, snapshot_writer, snapshot_stats))
            .map_err(|e| {
                StoreError::Unavailable(format!("cannot start the snapshot thread: {e}"))
            })?;
        Ok(Store {
            url,
            requests: Mutex::new(Some(sender)),
            snapshots: Mutex::new(Some(job_sender)),
            reader: Mutex::new(read_backend),
            snapshot_reader: Mutex::new(snapshot_reader),
            writer: Mutex::new(Some(writer)),
            snapshotter: Mutex::new(Some(snapshotter)),
            stats,
        })
    }

    /// Where the store lives.
    pub fn url(&self) -> &StoreUrl {
        &self.url
    }

    /// Commit counters.
    pub fn stats(&self) -> &StoreStats {
        &self.stats
    }

    fn send(&self, request: Request) -> Result<(), StoreError> {
        let requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        match requests.as_ref() {
            Some(sender) => sender.send(request).map_err(|_| StoreError::Closed),
            None => Err(StoreError::Closed),
        }
    }

    /// Queues a batch; writes of one tenant become durable in the order they were submitted.
    pub fn submit(&self, batch: Batch) -> Pending {
        self.submit_with_flag(batch, None)
    }

    pub(crate) fn submit_with_flag(
        &self,
        batch: Batch,
        failed: Option<Arc<AtomicBool>>,
    ) -> Pending {
        let (ack, receiver) = oneshot::channel();
        let request = Request::Write {
            batch: Box::new(batch),
            failed: failed.clone(),
            ack,
        };
        if self.send(request).is_err() {
            if let Some(flag) = failed {
                flag.store(true, Ordering::SeqCst);
            }
            return Pending::closed();
        }
        Pending {
            receiver: Some(receiver),
        }
    }

    /// Queues the deletion of logged commands `from..=to` (covered by a durable snapshot), done between commits
    /// when the writer is idle.
    pub(crate) fn trim(&self, tenant: &str, from: u64, to: u64) {
        if from <= to {
            let _ = self.send(Request::Trim {
                tenant: tenant.to_string(),
                from: from as i64,
                to: to as i64,
            });
        }
    }

    /// Waits (blocking) until the writer has no trimming left to do; trimming runs when writes pause. For tests.
    #[doc(hidden)]
    pub fn wait_for_trims(&self) -> Result<(), StoreError> {
        let (ack, receiver) = oneshot::channel();
        self.send(Request::TrimsDone { ack })?;
        receiver.blocking_recv().unwrap_or(Err(StoreError::Closed))
    }

    pub(crate) fn reset(&self, tenant: &str, generation: u64) -> Result<(), StoreError> {
        self.send(Request::Reset {
            tenant: tenant.to_string(),
            generation,
        })
    }

    /// Queues a snapshot of a tenant. It is written once every change it contains is durable, and only if the
    /// tenant has not reloaded since (`generation`); then the commands it covers (after `previous_seq`) are
    /// trimmed from the log. Resolves when the snapshot is stored.
    pub(crate) fn snapshot(
        &self,
        tenant: &str,
        generation: u64,
        record: SnapshotRecord,
        previous_seq: u64,
        lease: Option<Lease>,
    ) -> Pending {
        let (ack, receiver) = oneshot::channel();
        let job = SnapshotJob {
            tenant: tenant.to_string(),
            generation,
            record,
            previous_seq,
            lease,
            ack,
        };
        let sent = self
            .snapshots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|jobs| jobs.send(job).is_ok())
            .unwrap_or(false);
        if !sent {
            return Pending::closed();
        }
        Pending {
            receiver: Some(receiver),
        }
    }

    fn read<T>(
        &self,
        f: impl FnOnce(&mut dyn Backend) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        outside_async(|| {
            let mut reader = self.reader.lock().unwrap_or_else(|e| e.into_inner());
            f(reader.as_mut())
        })
    }

    /// The latest snapshot of a tenant and the commands logged after it.
    pub fn load(&self, tenant: &str) -> Result<Recovered, StoreError> {
        let stored = outside_async(|| {
            self.snapshot_reader
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .load_snapshot(tenant)
        })?;
        let after = stored.as_ref().map(|(seq, _)| *seq).unwrap_or(0);
        let mut raw = self.read(|backend| backend.load(tenant, after))?;
        raw.snapshot = stored;
        let snapshot = match raw.snapshot {
            Some((command_seq, body)) => Some(SnapshotRecord {
                command_seq: command_seq as u64,
                snapshot: codec::decode_snapshot(&body)?,
            }),
            None => None,
        };
        let commands = raw
            .commands
            .iter()
            .map(|(seq, at, body)| codec::decode_command(*seq, *at, body))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Recovered {
            snapshot,
            commands,
            last_event_seq: raw.last_event_seq as u64,
        })
    }

    /// Every tenant with stored data.
    pub fn tenants(&self) -> Result<Vec<String>, StoreError> {
        self.read(|backend| backend.tenants())
    }

    /// A tenant's stored events after sequence `after`, in order, at most `limit` (at most 10,000).
    pub fn events_after(
        &self,
        tenant: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Event>, StoreError> {
        let limit = limit.min(10_000) as i64;
        self.read(|backend| backend.events_after(tenant, after as i64, limit))?
            .iter()
            .map(|body| codec::decode_event(body))
            .collect()
    }

    /// Terminated tasks of a tenant matching the query, newest first.
    pub fn history(&self, tenant: &str, query: &HistoryQuery) -> Result<Vec<TaskInfo>, StoreError> {
        self.read(|backend| backend.history(tenant, query))?
            .iter()
            .map(|body| codec::decode_history(body))
            .collect()
    }

    /// One terminated task by id or external id.
    pub fn history_task(
        &self,
        tenant: &str,
        id_or_external: &str,
    ) -> Result<Option<TaskInfo>, StoreError> {
        self.read(|backend| backend.history_task(tenant, id_or_external))?
            .map(|body| codec::decode_history(&body))
            .transpose()
    }

    /// Deletes events older than `events_before` and history older than `history_before` (retention).
    /// Returns how many events and history records were removed.
    pub fn prune(
        &self,
        events_before: Time,
        history_before: Time,
    ) -> Result<(u64, u64), StoreError> {
        let (ack, receiver) = oneshot::channel();
        self.send(Request::Prune {
            events_before: events_before.as_micros(),
            history_before: history_before.as_micros(),
            ack,
        })?;
        receiver.blocking_recv().unwrap_or(Err(StoreError::Closed))
    }

    /// Stores a new API key (its hash only).
    pub fn create_key(&self, key: &KeyRecord) -> Result<(), StoreError> {
        self.read(|backend| backend.create_key(key))
    }

    /// Every API key, oldest first.
    pub fn list_keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        self.read(|backend| backend.list_keys())
    }

    /// The key with this SHA-256 hash (hex), if any.
    pub fn find_key(&self, key_hash: &str) -> Result<Option<KeyRecord>, StoreError> {
        self.read(|backend| backend.find_key(key_hash))
    }

    /// Revokes a key by id or name; false if there was no such unrevoked key.
    pub fn revoke_key(&self, id_or_name: &str, at: Time) -> Result<bool, StoreError> {
        self.read(|backend| backend.revoke_key(id_or_name, at.as_micros()))
    }

    /// Stores (or replaces) a configuration entry of a tenant: `kind` groups entries (organization units,
    /// absence reasons), `body` is the adapter's own text (JSON).
    pub fn put_entry(
        &self,
        tenant: &str,
        kind: &str,
        id: &str,
        body: &str,
    ) -> Result<(), StoreError> {
        self.read(|backend| backend.put_entry(tenant, kind, id, body))
    }

    /// Deletes a configuration entry; false if there was none.
    pub fn delete_entry(&self, tenant: &str, kind: &str, id: &str) -> Result<bool, StoreError> {
        self.read(|backend| backend.delete_entry(tenant, kind, id))
    }

    /// A tenant's configuration entries of one kind: (id, body), ordered by id.
    pub fn list_entries(
        &self,
        tenant: &str,
        kind: &str,
    ) -> Result<Vec<(String, String)>, StoreError> {
        self.read(|backend| backend.list_entries(tenant, kind))
    }

    /// Stops accepting writes, waits until every queued snapshot and write is committed, and stops the threads.
    pub fn close(&self) {
        // The snapshotter holds a sender to the writer: stop it first so the writer sees the end of its queue.
        self.snapshots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(snapshotter) = self
            .snapshotter
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            let _ = snapshotter.join();
        }
        self.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(writer) = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = writer.join();
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.close();
    }
}
