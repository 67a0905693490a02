//! The group-commit writer: one thread owns the write connection. It takes every write queued at that moment,
//! commits them in one transaction, then acknowledges each. While a commit is being synced, new writes queue up
//! and form the next group, so batching grows with load without any artificial delay.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::oneshot;

use crate::backend::Backend;
use crate::codec::encode_batch;
use crate::error::StoreError;
use crate::records::Batch;

/// The most writes committed in one transaction.
pub(crate) const MAX_GROUP: usize = 4096;

pub(crate) enum Request {
    Write {
        batch: Box<Batch>,
        /// Set when this write fails, so the tenant's owner knows its in-memory state is ahead of the log.
        failed: Option<Arc<AtomicBool>>,
        ack: oneshot::Sender<Result<(), StoreError>>,
    },
    /// The tenant's owner reloaded from the log (its `generation`-th reload): accept its writes again.
    Reset { tenant: String, generation: u64 },
    /// Resolves once every write queued before it is committed: `Ok` if the tenant's writes all succeeded and it
    /// has not reloaded since `generation`, so a snapshot taken at that point holds only durable changes.
    Barrier {
        tenant: String,
        generation: u64,
        ack: oneshot::Sender<Result<(), StoreError>>,
    },
    /// Deletes logged commands `from..=to` (covered by a durable snapshot), a chunk at a time between commits.
    Trim { tenant: String, from: i64, to: i64 },
    /// Resolves once no trimming is pending (tests).
    TrimsDone {
        ack: oneshot::Sender<Result<(), StoreError>>,
    },
    Prune {
        events_before: i64,
        history_before: i64,
        ack: oneshot::Sender<Result<(u64, u64), StoreError>>,
    },
}

/// Counters for metrics.
#[derive(Default, Debug)]
pub struct StoreStats {
    /// Transactions committed.
    pub commits: AtomicU64,
    /// Writes (batches) acknowledged.
    pub writes: AtomicU64,
    /// Writes refused (failed commit or fenced tenant).
    pub failed_writes: AtomicU64,
    /// Total time spent committing, microseconds.
    pub commit_micros: AtomicU64,
    /// Duration of the last commit, microseconds.
    pub last_commit_micros: AtomicU64,
    /// Snapshots stored.
    pub snapshots: AtomicU64,
    /// The last snapshot: copying the engine state under the tenant's lock, microseconds.
    pub last_snapshot_copy_micros: AtomicU64,
    /// The last snapshot: encoding it (on the snapshot thread), microseconds.
    pub last_snapshot_encode_micros: AtomicU64,
    /// The last snapshot: storing it (on the snapshot thread), microseconds.
    pub last_snapshot_store_micros: AtomicU64,
    /// The last snapshot's size, bytes.
    pub last_snapshot_bytes: AtomicU64,
}

/// Commands deleted per chunk when trimming.
const TRIM_CHUNK: i64 = 2_000;

/// A chunk of trimming runs when no write came for this long. A chunk takes milliseconds, and a snapshot of a large
/// tenant leaves hundreds of thousands of commands to trim: run between every two commits, the chunks once added
/// milliseconds to every commit for seconds (BENCHMARKS.md, CTI run 28).
const TRIM_IDLE: std::time::Duration = std::time::Duration::from_millis(20);

/// Under writes that never pause for `TRIM_IDLE`, a chunk still runs this often, so the log cannot grow forever.
const TRIM_AT_LEAST_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

pub(crate) fn run(
    mut backend: Box<dyn Backend>,
    requests: Receiver<Request>,
    stats: Arc<StoreStats>,
) {
    // Tenants whose write failed: their later writes depend on state that is not durable, so they are refused
    // until the owner reloads from the log and sends `Reset`.
    let mut fenced: BTreeSet<String> = BTreeSet::new();
    let mut generations: BTreeMap<String, u64> = BTreeMap::new();
    let mut trims: VecDeque<(String, i64, i64)> = VecDeque::new();
    let mut last_trim = Instant::now();
    let mut trims_done: Vec<oneshot::Sender<Result<(), StoreError>>> = Vec::new();
    loop {
        let first = if trims.is_empty() {
            match requests.recv() {
                Ok(request) => Some(request),
                Err(_) => return,
            }
        } else {
            // Trimming waits for a pause in the writes (see `TRIM_IDLE`).
            match requests.recv_timeout(TRIM_IDLE) {
                Ok(request) => Some(request),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        };
        let mut group: Vec<Request> = first.into_iter().collect();
        let paused = group.is_empty();
        while !group.is_empty() && group.len() < MAX_GROUP {
            match requests.try_recv() {
                Ok(request) => group.push(request),
                Err(TryRecvError::Empty) | Err(TryRecvError::Disconnected) => break,
            }
        }
        let mut encoded = Vec::new();
        let mut waiting = Vec::new();
        let mut barriers = Vec::new();
        for request in group {
            match request {
                Request::Reset { tenant, generation } => {
                    fenced.remove(&tenant);
                    generations.insert(tenant, generation);
                }
                Request::Barrier {
                    tenant,
                    generation,
                    ack,
                } => barriers.push((tenant, generation, ack)),
                Request::TrimsDone { ack } => trims_done.push(ack),
                Request::Trim { tenant, from, to } => {
                    if from <= to {
                        trims.push_back((tenant, from, to));
                    }
                }
                Request::Prune {
                    events_before,
                    history_before,
                    ack,
                } => {
                    let _ = ack.send(backend.prune(events_before, history_before));
                }
                Request::Write { batch, failed, ack } => {
                    if fenced.contains(&batch.tenant) {
                        stats.failed_writes.fetch_add(1, Ordering::Relaxed);
                        if let Some(flag) = &failed {
                            flag.store(true, Ordering::SeqCst);
                        }
                        let _ = ack.send(Err(StoreError::Unavailable(format!(
                            "an earlier write of tenant '{}' failed; it must reload before writing again",
                            batch.tenant
                        ))));
                        continue;
                    }
                    let tenant = batch.tenant.clone();
                    match encode_batch(*batch) {
                        Ok(rows) => {
                            encoded.push(rows);
                            waiting.push((tenant, failed, ack));
                        }
                        Err(error) => {
                            fenced.insert(tenant);
                            if let Some(flag) = &failed {
                                flag.store(true, Ordering::SeqCst);
                            }
                            let _ = ack.send(Err(error));
                        }
                    }
                }
            }
        }
        if !encoded.is_empty() {
            let started = Instant::now();
            let result = backend.write(&encoded);
            // Tenants whose lease moved to another node: their batches were left out; refuse them (and every
            // later write of theirs until the owner reloads, which finds it lost the lease).
            let lost: Vec<String> = match &result {
                Ok(lost) => lost.clone(),
                Err(_) => Vec::new(),
            };
            let result = result.map(|_| ());
            let micros = started.elapsed().as_micros() as u64;
            stats.commits.fetch_add(1, Ordering::Relaxed);
            stats.commit_micros.fetch_add(micros, Ordering::Relaxed);
            stats.last_commit_micros.store(micros, Ordering::Relaxed);
            let counter = if result.is_ok() {
                &stats.writes
            } else {
                &stats.failed_writes
            };
            counter.fetch_add(waiting.len() as u64, Ordering::Relaxed);
            for (tenant, failed, ack) in waiting {
                if lost.contains(&tenant) {
                    stats.failed_writes.fetch_add(1, Ordering::Relaxed);
                    stats.writes.fetch_sub(1, Ordering::Relaxed);
                    if let Some(flag) = &failed {
                        flag.store(true, Ordering::SeqCst);
                    }
                    let _ = ack.send(Err(StoreError::Fenced(tenant.clone())));
                    fenced.insert(tenant);
                    continue;
                }
                if result.is_err() {
                    fenced.insert(tenant);
                    if let Some(flag) = &failed {
                        flag.store(true, Ordering::SeqCst);
                    }
                }
                let _ = ack.send(result.clone());
            }
        }
        for (tenant, generation, ack) in barriers {
            let current = generations.get(&tenant).copied().unwrap_or(0);
            let answer = if fenced.contains(&tenant) || current != generation {
                Err(StoreError::Unavailable(format!(
                    "tenant '{tenant}' has unacknowledged changes; no snapshot of them is taken"
                )))
            } else {
                Ok(())
            };
            let _ = ack.send(answer);
        }
        // One chunk of trimming when the writes paused (or, under writes that never pause, once per
        // `TRIM_AT_LEAST_EVERY`); a failure only leaves old commands in place, which recovery ignores.
        let due = paused || last_trim.elapsed() >= TRIM_AT_LEAST_EVERY;
        let next = if due { trims.pop_front() } else { None };
        if let Some((tenant, from, to)) = next {
            last_trim = Instant::now();
            let end = to.min(from + TRIM_CHUNK - 1);
            let _ = backend.trim_commands(&tenant, from, end);
            if end < to {
                trims.push_front((tenant, end + 1, to));
            }
        }
        if trims.is_empty() {
            for ack in trims_done.drain(..) {
                let _ = ack.send(Ok(()));
            }
        }
    }
}
