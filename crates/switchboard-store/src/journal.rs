//! A tenant's engine bound to its log: every command is applied to the engine and queued for the store in the
//! same step, and the engine is recovered from the store on open.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use switchboard_core::{
    Command, CommandError, Engine, EngineConfig, Event, Outcome, RestoreError, Time,
};

use crate::error::StoreError;
use crate::records::{Batch, CommandRecord, SnapshotRecord};
use crate::{Pending, Store};

/// How a journal behaves.
#[derive(Clone, Debug)]
pub struct JournalOptions {
    /// Settings for a tenant seen for the first time (an existing tenant keeps its stored settings).
    pub config: EngineConfig,
    /// Write a snapshot after this many commands, so a restart replays at most that many.
    pub snapshot_every: u64,
    /// The tenant's writer lease in a cluster: every write and snapshot carries it, and the database refuses them
    /// once another node holds the tenant (`StoreError::Fenced`). `None` on a single node.
    pub lease: Option<crate::records::Lease>,
}

impl Default for JournalOptions {
    fn default() -> Self {
        JournalOptions {
            config: EngineConfig::default(),
            snapshot_every: 500_000,
            lease: None,
        }
    }
}

/// The result of one command: the engine's answer, the events it produced, and the write that makes them
/// durable. Nothing about the command may be shown outside before `durable` resolves `Ok`.
pub struct Execution {
    /// The engine's answer.
    pub result: Result<Outcome, CommandError>,
    /// The events produced, in order.
    pub events: Vec<Event>,
    /// Resolves when the command and its events are durable.
    pub durable: Pending,
}

/// One tenant's engine and its position in the log. Owned by one writer at a time.
pub struct Journal {
    tenant: String,
    engine: Engine,
    command_seq: u64,
    since_snapshot: u64,
    /// The command sequence of the last snapshot queued.
    snapshot_seq: u64,
    /// How many times this journal reloaded from the log; snapshots of an older generation are never written.
    generation: u64,
    options: JournalOptions,
    /// Set by the store when one of this journal's writes failed: the engine is ahead of the log.
    failed: Arc<AtomicBool>,
}

/// Generations are unique in the process: a tenant opened again (a node that leads it again after losing it)
/// never shares one with an earlier journal of the same tenant, whose failures must not hold up the new one.
static NEXT_GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

fn restore_error(error: RestoreError) -> StoreError {
    StoreError::Corrupt(error.to_string())
}

impl Journal {
    /// Opens a tenant: recovers its engine from the latest snapshot and the commands after it, or creates the
    /// tenant (writing its first snapshot durably) if the store has nothing for it.
    pub fn open(
        store: &Store,
        tenant: &str,
        options: JournalOptions,
    ) -> Result<Journal, StoreError> {
        let failed = Arc::new(AtomicBool::new(false));
        // A new generation: writes and snapshots of earlier journals of this tenant no longer count.
        let generation = NEXT_GENERATION.fetch_add(1, Ordering::SeqCst);
        store.reset(tenant, generation)?;
        let recovered = store.load(tenant)?;
        let (engine, command_seq, snapshot_seq) = match recovered.snapshot {
            None if recovered.commands.is_empty() => {
                let engine = Engine::new(options.config.clone());
                let record = SnapshotRecord {
                    command_seq: 0,
                    snapshot: engine.snapshot(),
                };
                store
                    .snapshot(tenant, generation, record, 0, options.lease.clone())
                    .wait_blocking()?;
                (engine, 0, 0)
            }
            None => {
                return Err(StoreError::Corrupt(format!(
                    "tenant '{tenant}' has logged commands but no snapshot"
                )))
            }
            Some(snapshot_record) => {
                let snapshot_seq = snapshot_record.command_seq;
                let mut engine =
                    Engine::restore(snapshot_record.snapshot).map_err(restore_error)?;
                let mut command_seq = snapshot_record.command_seq;
                for record in recovered.commands {
                    if record.seq != command_seq + 1 {
                        return Err(StoreError::Corrupt(format!(
                            "tenant '{tenant}': command {} follows command {command_seq}",
                            record.seq
                        )));
                    }
                    // The answer was given before the crash; only the state matters now.
                    let _ = engine.apply(record.at, record.command);
                    engine.drain_events().for_each(drop);
                    command_seq = record.seq;
                }
                if recovered.last_event_seq > engine.last_event_seq() {
                    return Err(StoreError::Corrupt(format!(
                        "tenant '{tenant}': replaying the log produced events up to {} but events up to {} \
                         are stored",
                        engine.last_event_seq(),
                        recovered.last_event_seq
                    )));
                }
                // Commands the snapshot covers may remain if the process stopped while trimming them.
                store.trim(tenant, 1, snapshot_seq);
                (engine, command_seq, snapshot_seq)
            }
        };
        Ok(Journal {
            tenant: tenant.to_string(),
            engine,
            command_seq,
            since_snapshot: 0,
            snapshot_seq,
            generation,
            options,
            failed,
        })
    }

    /// The tenant.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// The engine, for reads.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Sequence number of the last logged command.
    pub fn command_seq(&self) -> u64 {
        self.command_seq
    }

    /// True when a write failed and the engine must be reloaded from the log before the next command.
    pub fn needs_reload(&self) -> bool {
        self.failed.load(Ordering::SeqCst)
    }

    /// Rebuilds the engine from the log, dropping whatever was applied but not made durable, and lets the store
    /// accept this tenant's writes again.
    pub fn reload(&mut self, store: &Store) -> Result<(), StoreError> {
        let reopened = Journal::open(store, &self.tenant, self.options.clone())?;
        self.generation = reopened.generation;
        self.engine = reopened.engine;
        self.command_seq = reopened.command_seq;
        self.snapshot_seq = reopened.snapshot_seq;
        self.since_snapshot = 0;
        self.failed.store(false, Ordering::SeqCst);
        Ok(())
    }

    /// Applies a command and queues it, with its events, for the store. Fails without applying anything when
    /// an earlier write failed and the reload from the store fails too.
    pub fn execute(
        &mut self,
        store: &Store,
        now: Time,
        command: Command,
    ) -> Result<Execution, StoreError> {
        if self.needs_reload() {
            self.reload(store)?;
        }
        let is_advance = matches!(command, Command::Advance);
        let logged = command.clone();
        let result = self.engine.apply(now, command);
        let events: Vec<Event> = self.engine.drain_events().collect();
        // An advance that fired nothing changed nothing that matters; everything else is logged, refusals
        // included, so the replay takes exactly the same path.
        if is_advance && events.is_empty() {
            return Ok(Execution {
                result,
                events,
                durable: Pending::done(),
            });
        }
        self.command_seq += 1;
        self.since_snapshot += 1;
        let batch = Batch {
            tenant: self.tenant.clone(),
            lease: self.options.lease.clone(),
            commands: vec![CommandRecord {
                seq: self.command_seq,
                at: now,
                command: logged,
            }],
            events: events.clone(),
        };
        let durable = store.submit_with_flag(batch, Some(self.failed.clone()));
        if self.since_snapshot >= self.options.snapshot_every {
            // Copying the state is the only part done here; encoding and storing happen on the store's snapshot
            // thread once this command is durable, without holding up commits.
            drop(self.snapshot(store));
        }
        Ok(Execution {
            result,
            events,
            durable,
        })
    }

    /// Queues a snapshot of the current state (also before a graceful shutdown, so the next start replays
    /// nothing). The returned `Pending` resolves when it is stored.
    pub fn snapshot(&mut self, store: &Store) -> Pending {
        self.since_snapshot = 0;
        let copying = std::time::Instant::now();
        let record = SnapshotRecord {
            command_seq: self.command_seq,
            snapshot: self.engine.snapshot(),
        };
        store.stats().last_snapshot_copy_micros.store(
            copying.elapsed().as_micros().min(u64::MAX as u128) as u64,
            Ordering::Relaxed,
        );
        let previous = std::mem::replace(&mut self.snapshot_seq, self.command_seq);
        store.snapshot(
            &self.tenant,
            self.generation,
            record,
            previous,
            self.options.lease.clone(),
        )
    }
}
