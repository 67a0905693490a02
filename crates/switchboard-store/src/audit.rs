//! An independent auditor of a tenant's stored event log. It trusts nothing but the events: it replays offers,
//! returns and terminations and reports every moment a task was offered to two agents at once, an agent held
//! more tasks than its capacity allows, or the sequence numbers skipped.

use std::collections::{BTreeMap, BTreeSet};

use switchboard_core::{AgentId, ConsultationEnd, Event, EventKind, TaskId};

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
            EventKind::TaskQueued { task, .. }
            | EventKind::TaskTerminated { task, .. }
            | EventKind::TaskRescheduled { task, .. } => {
                if let Some(agent) = holder.remove(task) {
                    held.entry(agent).or_default().remove(task);
                }
            }
            // A consultative call handed over: the first agent left the task (the consulted agent's offer
            // follows).
            EventKind::ConsultationEnded {
                task,
                end: ConsultationEnd::Transferred | ConsultationEnd::Left,
            } => {
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

#[cfg(test)]
mod tests {
    use switchboard_core::*;
    use uuid::Uuid;

    use super::audit_events;

    /// A consultative call handed over moves the task from one agent to another without a double offer; the
    /// auditor learns it from the `ConsultationEnded` event alone, and flags the log without it.
    #[test]
    fn a_consultation_hand_over_is_not_a_double_offer() {
        let mut engine = Engine::new(EngineConfig::default());
        let now = Time::from_secs(1_000);
        let sales = ServiceId(Uuid::from_u128(1));
        engine
            .upsert_service(now, ServiceSpec::new(sales, "Sales"))
            .unwrap();
        let agents = [AgentId(Uuid::from_u128(2)), AgentId(Uuid::from_u128(3))];
        for agent in agents {
            let mut spec = AgentSpec::new(agent, "Agent");
            spec.memberships.push((sales, 0));
            engine.upsert_agent(now, spec).unwrap();
            engine.set_presence(now, agent, Presence::Online).unwrap();
        }
        let mut spec = TaskSpec::new(TaskId(Uuid::from_u128(4)), sales);
        spec.kind = TaskKind::Call;
        spec.preferred_agents = vec![agents[0]];
        spec.preferred_only = true;
        let task = engine.create_task(now, spec).unwrap();
        engine.establish(now, task, None).unwrap();
        for action in [
            ConsultationAction::Start(ConsultationTarget::Agent(agents[1])),
            ConsultationAction::Transfer,
        ] {
            engine.consult(now, task, action).unwrap();
        }
        assert_eq!(engine.task_info(task).unwrap().agent, Some(agents[1]));
        let events: Vec<Event> = engine.drain_events().collect();
        assert_eq!(audit_events(&events, 1), Vec::<String>::new());

        let without_hand_over: Vec<Event> = events
            .iter()
            .filter(|e| !matches!(e.kind, EventKind::ConsultationEnded { .. }))
            .cloned()
            .collect();
        let problems = audit_events(&without_hand_over, 1);
        assert!(problems.iter().any(|p| p.contains("while")), "{problems:?}");
    }
}
