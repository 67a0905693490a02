//! The group-commit writer: one thread owns the write connection. It takes every write queued at that moment,
//! commits them in one transaction, then acknowledges each. While a commit is being synced, new writes queue up
//! and form the next group, so batching grows with load without any artificial delay.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
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
    /// The tenant's owner reloaded from the log: accept its writes again.
    Reset { tenant: String },
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
}

pub(crate) fn run(
    mut backend: Box<dyn Backend>,
    requests: Receiver<Request>,
    stats: Arc<StoreStats>,
) {
    // Tenants whose write failed: their later writes depend on state that is not durable, so they are refused
    // until the owner reloads from the log and sends `Reset`.
    let mut fenced: BTreeSet<String> = BTreeSet::new();
    loop {
        let first = match requests.recv() {
            Ok(request) => request,
            Err(_) => return,
        };
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match requests.try_recv() {
                Ok(request) => group.push(request),
                Err(TryRecvError::Empty) | Err(TryRecvError::Disconnected) => break,
            }
        }
        let mut encoded = Vec::new();
        let mut waiting = Vec::new();
        for request in group {
            match request {
                Request::Reset { tenant } => {
                    fenced.remove(&tenant);
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
        if encoded.is_empty() {
            continue;
        }
        let started = Instant::now();
        let result = backend.write(&encoded);
        let micros = started.elapsed().as_micros() as u64;
        stats.commits.fetch_add(1, Ordering::Relaxed);
        stats.commit_micros.fetch_add(micros, Ordering::Relaxed);
        stats.last_commit_micros.store(micros, Ordering::Relaxed);
        match &result {
            Ok(()) => {
                stats
                    .writes
                    .fetch_add(waiting.len() as u64, Ordering::Relaxed);
            }
            Err(_) => {
                stats
                    .failed_writes
                    .fetch_add(waiting.len() as u64, Ordering::Relaxed);
            }
        }
        for (tenant, failed, ack) in waiting {
            if result.is_err() {
                fenced.insert(tenant);
                if let Some(flag) = &failed {
                    flag.store(true, Ordering::SeqCst);
                }
            }
            let _ = ack.send(result.clone());
        }
    }
}
