//! An independent auditor of a tenant's stored event log. It trusts nothing but the events: it replays offers,
//! returns and terminations and reports every moment a task was offered to two agents at once, an agent held
//! more tasks than its capacity allows, or the sequence numbers skipped.

use std::collections::{BTreeMap, BTreeSet};

use switchboard_core::{AgentId, Event, EventKind, TaskId};

/// Every violation found in events given in sequence order. `capacity` is the most tasks one agent may hold at
/// once (1 for calls and external tasks).
pub fn audit_events(events: &[Event], capacity: usize) -> Vec<String> {
    let mut problems = Vec::new();
    let mut holder: BTreeMap<TaskId, AgentId> = BTreeMap::new();
    let mut held: BTreeMap<AgentId, BTreeSet<TaskId>> = BTreeMap::new();
    let mut last_seq = events.first().map(|e| e.seq.saturating_sub(1)).unwrap_or(0);
    for event in events {
        if event.seq != last_seq + 1 {
            problems.push(format!(
                "event sequence jumps from {last_seq} to {}",
                event.seq
            ));
        }
        last_seq = event.seq;
        match &event.kind {
            EventKind::TaskOffered { task, agent, .. } => {
                if let Some(other) = holder.get(task) {
                    problems.push(format!(
                        "event {}: task {task} offered to {agent} while {other} holds it",
                        event.seq
                    ));
                }
                holder.insert(*task, *agent);
                let tasks = held.entry(*agent).or_default();
                tasks.insert(*task);
                if tasks.len() > capacity {
                    problems.push(format!(
                        "event {}: agent {agent} holds {} tasks",
                        event.seq,
                        tasks.len()
                    ));
                }
            }
            EventKind::TaskQueued { task, .. } | EventKind::TaskTerminated { task, .. } => {
                if let Some(agent) = holder.remove(task) {
                    held.entry(agent).or_default().remove(task);
                }
            }
            _ => {}
        }
    }
    problems
}

/// Reads a tenant's whole stored event log, in order.
pub fn all_events(store: &crate::Store, tenant: &str) -> Result<Vec<Event>, crate::StoreError> {
    let mut events = Vec::new();
    loop {
        let after = events.last().map(|e: &Event| e.seq).unwrap_or(0);
        let more = store.events_after(tenant, after, 10_000)?;
        if more.is_empty() {
            return Ok(events);
        }
        events.extend(more);
    }
}
