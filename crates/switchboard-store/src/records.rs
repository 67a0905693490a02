//! What the store keeps: per tenant, a log of engine commands, the engine's events, the latest snapshot, and the
//! history of terminated tasks. These are the in-memory forms; `codec` turns them into rows.

use switchboard_core::{Command, Event, ServiceId, Snapshot, TaskInfo, TaskKind, Time};

/// One logged engine command with its position in the tenant's log and the time it was applied at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandRecord {
    /// Per-tenant command sequence, from 1, without gaps.
    pub seq: u64,
    /// The `now` it was applied with.
    pub at: Time,
    /// The command.
    pub command: Command,
}

/// A snapshot of a tenant's engine taken right after command `command_seq`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotRecord {
    /// The last command included in the snapshot.
    pub command_seq: u64,
    /// The engine state.
    pub snapshot: Snapshot,
}

/// A tenant's writer lease in a cluster (PostgreSQL): the node holding it and the epoch it was granted with.
/// Writes and snapshots carrying a lease commit only while the lease row still names this node and epoch, so a
/// writer that lost its lease (paused, partitioned) can never commit after a new one took over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    /// The node's id.
    pub node: std::sync::Arc<str>,
    /// The epoch of the grant; every new grant of the tenant increments it.
    pub epoch: i64,
}

/// Everything one engine step of one tenant makes durable, written atomically.
#[derive(Clone, Debug, Default)]
pub struct Batch {
    /// The tenant.
    pub tenant: String,
    /// The writer's lease (cluster mode only): the write is refused unless it still holds it.
    pub lease: Option<Lease>,
    /// Commands applied, in order.
    pub commands: Vec<CommandRecord>,
    /// Events they produced, in order. Terminations also land in the task history.
    pub events: Vec<Event>,
}

/// What recovering a tenant needs: the latest snapshot and the commands logged after it.
#[derive(Clone, Debug, Default)]
pub struct Recovered {
    /// Latest snapshot, if any.
    pub snapshot: Option<SnapshotRecord>,
    /// Commands after the snapshot, in order.
    pub commands: Vec<CommandRecord>,
    /// Sequence number of the last stored event (0 if none).
    pub last_event_seq: u64,
}

/// A filter over the history of terminated tasks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HistoryQuery {
    /// Only tasks of this service.
    pub service: Option<ServiceId>,
    /// Only the task with this external id.
    pub external_id: Option<String>,
    /// Only tasks of this kind.
    pub kind: Option<TaskKind>,
    /// Only tasks created at or after this time.
    pub created_from: Option<Time>,
    /// Only tasks created before this time.
    pub created_until: Option<Time>,
    /// Only tasks terminated at or after this time.
    pub terminated_from: Option<Time>,
    /// Only tasks terminated before this time.
    pub terminated_until: Option<Time>,
    /// At most this many (newest first); 0 means 100.
    pub limit: usize,
    /// Skip this many.
    pub offset: usize,
}

/// A terminated task as kept in the history.
pub type HistoryRecord = TaskInfo;
