//! The live event fan-out of one tenant: every engine event, once durable, in the order the engine produced it,
//! to every subscriber that wants it (CTI websockets now; event streams later).
//!
//! Commands of one tenant are applied in order under the journal lock but become durable, and are awaited, by
//! concurrent tasks: published naively, events could overtake each other. So each execution takes a ticket under
//! the journal lock, and `complete` releases batches strictly in ticket order (a failed write completes its ticket
//! with nothing). Nothing is published before it is durable.
//!
//! Subscribers have bounded queues. Publishing never waits: a subscriber whose queue is full is dropped (its
//! receiver sees the channel close and tells its client why), so a slow client never delays routing or others.
//! Agent sockets subscribe to the events of one agent, supervisors to those of the agents of their groups (both
//! also get the rare directory events, to follow who they watch), admins and event streams to everything.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use switchboard_core::{AgentId, Event, EventKind};
use tokio::sync::mpsc;

use crate::stats::Statistics;

/// A batch of events as delivered to subscribers.
pub type Batch = Arc<[Event]>;

/// What a subscriber receives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Interest {
    /// The events that concern one agent (its state, its offers and tasks), and directory events.
    Agent(AgentId),
    /// The events that concern any of these agents (a supervisor's groups), and directory events.
    Agents(Vec<AgentId>),
    /// Every event of the tenant.
    All,
}

impl Interest {
    fn agents(&self) -> &[AgentId] {
        match self {
            Interest::Agent(agent) => std::slice::from_ref(agent),
            Interest::Agents(agents) => agents,
            Interest::All => &[],
        }
    }
}

/// Directory events (agents and services configured, memberships): rare, and every subscriber gets them, so that
/// a session can follow who it watches.
fn is_directory(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::AgentUpserted { .. }
            | EventKind::AgentRemoved { .. }
            | EventKind::MembershipChanged { .. }
            | EventKind::ServiceUpserted { .. }
            | EventKind::ServiceRemoved { .. }
    )
}

struct Subscriber {
    interest: Interest,
    sender: mpsc::Sender<Batch>,
}

#[derive(Default)]
struct HubState {
    /// The next ticket to hand out, and the next one to publish.
    next_ticket: u64,
    next_to_publish: u64,
    /// Completed tickets waiting for an earlier one.
    completed: BTreeMap<u64, Vec<Event>>,
    subscribers: HashMap<u64, Subscriber>,
    next_subscriber: u64,
    /// Subscribers per agent, so that an agent's events reach its sockets without visiting every socket.
    by_agent: HashMap<AgentId, Vec<u64>>,
    /// Subscribers with `Interest::All`, so a batch reaches them without visiting every socket.
    all: HashSet<u64>,
}

/// One tenant's fan-out.
#[derive(Default)]
pub struct Hub {
    state: Mutex<HubState>,
    /// The day's statistics, fed with every batch in order before it is published (so a subscriber that reads
    /// them after receiving a batch sees its effect).
    statistics: Mutex<Statistics>,
    /// Set when this node stopped leading the tenant (`close`): every subscription ends.
    closed: std::sync::atomic::AtomicBool,
}

/// A subscription; dropping it unsubscribes.
pub struct Subscription {
    hub: Arc<Hub>,
    id: u64,
    /// The batches, in order. Closed when the hub dropped this subscriber for falling behind.
    pub receiver: mpsc::Receiver<Batch>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.unsubscribe(self.id);
    }
}

impl Hub {
    /// A hub whose statistics start from `statistics` (recovered from the day's stored events).
    pub fn with_statistics(statistics: Statistics) -> Hub {
        Hub {
            state: Mutex::default(),
            statistics: Mutex::new(statistics),
            closed: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Ends every subscription, now and later: this node no longer leads the tenant (its sessions and streams
    /// end and their clients reconnect, through any node, to the new leader).
    pub fn close(&self) {
        self.closed.store(true, std::sync::atomic::Ordering::SeqCst);
        let mut state = self.lock();
        state.subscribers.clear();
        state.by_agent.clear();
        state.all.clear();
    }

    /// True once `close` was called.
    pub fn is_closed(&self) -> bool {
        self.closed.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Reads the tenant's statistics of the day.
    pub fn statistics<T>(&self, f: impl FnOnce(&Statistics) -> T) -> T {
        f(&self.statistics.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// A ticket for an execution about to be applied; call it under the journal lock, so that tickets follow the
    /// engine's order, and always `complete` it.
    pub fn ticket(&self) -> u64 {
        let mut state = self.lock();
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        ticket
    }

    /// Completes a ticket with its durable events (none if the write failed) and publishes every batch whose
    /// predecessors are all complete.
    pub fn complete(&self, ticket: u64, events: Vec<Event>) {
        let mut state = self.lock();
        state.completed.insert(ticket, events);
        loop {
            let next = state.next_to_publish;
            let Some(events) = state.completed.remove(&next) else {
                break;
            };
            state.next_to_publish += 1;
            if !events.is_empty() {
                {
                    let mut statistics = self.statistics.lock().unwrap_or_else(|e| e.into_inner());
                    for event in &events {
                        statistics.observe(event);
                    }
                }
                publish(&mut state, events);
            }
        }
    }

    /// Subscribes with a queue of `capacity` batches.
    pub fn subscribe(self: &Arc<Hub>, interest: Interest, capacity: usize) -> Subscription {
        let (sender, receiver) = mpsc::channel(capacity.max(1));
        let mut state = self.lock();
        if self.is_closed() {
            // The receiver sees the channel closed at once.
            drop(sender);
            return Subscription {
                hub: self.clone(),
                id: u64::MAX,
                receiver,
            };
        }
        let id = state.next_subscriber;
        state.next_subscriber += 1;
        for agent in interest.agents() {
            state.by_agent.entry(*agent).or_default().push(id);
        }
        if interest == Interest::All {
            state.all.insert(id);
        }
        state
            .subscribers
            .insert(id, Subscriber { interest, sender });
        Subscription {
            hub: self.clone(),
            id,
            receiver,
        }
    }

    /// Changes what a subscription receives (an agent socket that subscribes to queue statistics wants all).
    pub fn set_interest(&self, subscription: &Subscription, interest: Interest) {
        let mut state = self.lock();
        let Some(previous) = state
            .subscribers
            .get(&subscription.id)
            .map(|s| s.interest.clone())
        else {
            return;
        };
        if previous == interest {
            return;
        }
        remove_agent_index(&mut state, &previous, subscription.id);
        if previous == Interest::All {
            state.all.remove(&subscription.id);
        }
        if interest == Interest::All {
            state.all.insert(subscription.id);
        }
        for agent in interest.agents() {
            state
                .by_agent
                .entry(*agent)
                .or_default()
                .push(subscription.id);
        }
        if let Some(subscriber) = state.subscribers.get_mut(&subscription.id) {
            subscriber.interest = interest;
        }
    }

    /// Number of live subscribers.
    pub fn n_subscribers(&self) -> usize {
        self.lock().subscribers.len()
    }

    fn unsubscribe(&self, id: u64) {
        let mut state = self.lock();
        if let Some(subscriber) = state.subscribers.remove(&id) {
            state.all.remove(&id);
            remove_agent_index(&mut state, &subscriber.interest, id);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HubState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn remove_agent_index(state: &mut HubState, interest: &Interest, id: u64) {
    for agent in interest.agents() {
        if let Some(ids) = state.by_agent.get_mut(agent) {
            ids.retain(|&s| s != id);
            if ids.is_empty() {
                state.by_agent.remove(agent);
            }
        }
    }
}

/// The agent an event concerns, if any.
pub fn event_agent(kind: &EventKind) -> Option<AgentId> {
    match kind {
        EventKind::AgentUpserted { agent, .. }
        | EventKind::AgentRemoved { agent }
        | EventKind::MembershipChanged { agent, .. }
        | EventKind::AgentPresenceChanged { agent, .. }
        | EventKind::AgentLoggedIn { agent, .. }
        | EventKind::AgentLoggedOut { agent, .. }
        | EventKind::AgentBlocked { agent, .. }
        | EventKind::AgentAbsence { agent, .. }
        | EventKind::AgentPause { agent, .. }
        | EventKind::AgentProfileChanged { agent, .. }
        | EventKind::AgentWrapupStarted { agent, .. }
        | EventKind::AgentStatusChanged { agent, .. }
        | EventKind::TaskOffered { agent, .. }
        | EventKind::TaskEstablished { agent, .. }
        | EventKind::TaskRona { agent, .. }
        | EventKind::TaskDeclined { agent, .. }
        | EventKind::ConsultationStarted { agent, .. }
        | EventKind::TaskClaimed { agent, .. } => Some(*agent),
        EventKind::TaskTerminated { agent, .. } => *agent,
        _ => None,
    }
}

fn publish(state: &mut HubState, events: Vec<Event>) {
    let batch: Batch = events.into();
    let mut dropped = Vec::new();
    // Subscribers to some agents get, in one part, the events about their agents and the directory events.
    let mut parts: HashMap<u64, Vec<Event>> = HashMap::new();
    if state.subscribers.len() > state.all.len() {
        for event in batch.iter() {
            if is_directory(&event.kind) {
                for (id, subscriber) in &state.subscribers {
                    if subscriber.interest != Interest::All {
                        parts.entry(*id).or_default().push(event.clone());
                    }
                }
            } else if let Some(agent) = event_agent(&event.kind) {
                for id in state.by_agent.get(&agent).into_iter().flatten() {
                    parts.entry(*id).or_default().push(event.clone());
                }
            }
        }
    }
    for (id, events) in parts {
        if let Some(subscriber) = state.subscribers.get(&id) {
            if subscriber.sender.try_send(events.into()).is_err() {
                dropped.push(id);
            }
        }
    }
    for id in &state.all {
        if let Some(subscriber) = state.subscribers.get(id) {
            if subscriber.sender.try_send(batch.clone()).is_err() {
                dropped.push(*id);
            }
        }
    }
    // A full queue: the subscriber is cut off (its receiver closes); a closed one is gone already.
    for id in dropped {
        if let Some(subscriber) = state.subscribers.remove(&id) {
            state.all.remove(&id);
            remove_agent_index(state, &subscriber.interest, id);
        }
    }
}

#[cfg(test)]
mod tests {
    use switchboard_core::{Event, EventKind, TaskId, Time};
    use uuid::Uuid;

    use super::*;

    fn event(seq: u64) -> Event {
        Event {
            seq,
            at: Time::ZERO,
            kind: EventKind::TaskRefreshed {
                task: TaskId(Uuid::from_u128(seq as u128)),
            },
        }
    }

    #[test]
    fn batches_are_published_in_ticket_order_and_failed_tickets_publish_nothing() {
        let hub = Arc::new(Hub::default());
        let mut all = hub.subscribe(Interest::All, 16);
        let (first, second, third) = (hub.ticket(), hub.ticket(), hub.ticket());
        hub.complete(third, vec![event(3)]);
        hub.complete(second, Vec::new());
        assert!(
            all.receiver.try_recv().is_err(),
            "held back until the first completes"
        );
        hub.complete(first, vec![event(1), event(2)]);
        let seqs: Vec<u64> = std::iter::from_fn(|| all.receiver.try_recv().ok())
            .flat_map(|batch| batch.iter().map(|e| e.seq).collect::<Vec<_>>())
            .collect();
        assert_eq!(seqs, vec![1, 2, 3]);
    }

    #[test]
    fn a_subscriber_that_falls_behind_is_cut_off_without_stopping_others() {
        let hub = Arc::new(Hub::default());
        let mut slow = hub.subscribe(Interest::All, 1);
        let mut fast = hub.subscribe(Interest::All, 16);
        for seq in 1..=3 {
            let ticket = hub.ticket();
            hub.complete(ticket, vec![event(seq)]);
            assert!(fast.receiver.try_recv().is_ok());
        }
        assert_eq!(hub.n_subscribers(), 1);
        assert!(
            slow.receiver.try_recv().is_ok(),
            "what it had queued stays readable"
        );
        assert!(matches!(
            slow.receiver.try_recv(),
            Err(mpsc::error::TryRecvError::Disconnected)
        ));
    }

    #[test]
    fn agent_subscribers_get_their_agents_events_and_directory_events_in_one_part() {
        let hub = Arc::new(Hub::default());
        let (a, b, c) = (
            AgentId(Uuid::from_u128(1)),
            AgentId(Uuid::from_u128(2)),
            AgentId(Uuid::from_u128(3)),
        );
        let mut team = hub.subscribe(Interest::Agents(vec![a, b]), 16);
        let mut own = hub.subscribe(Interest::Agent(c), 16);
        let status = |seq, agent| Event {
            seq,
            at: Time::ZERO,
            kind: EventKind::AgentStatusChanged {
                agent,
                state: switchboard_core::AgentState::Ready,
                selectable: true,
                reason: None,
            },
        };
        let removed = Event {
            seq: 4,
            at: Time::ZERO,
            kind: EventKind::AgentRemoved {
                agent: AgentId(Uuid::from_u128(9)),
            },
        };
        let ticket = hub.ticket();
        hub.complete(
            ticket,
            vec![status(1, a), status(2, c), status(3, b), removed, event(5)],
        );
        let seqs = |batch: Batch| batch.iter().map(|e| e.seq).collect::<Vec<_>>();
        assert_eq!(seqs(team.receiver.try_recv().unwrap()), vec![1, 3, 4]);
        assert!(team.receiver.try_recv().is_err(), "one part per batch");
        assert_eq!(seqs(own.receiver.try_recv().unwrap()), vec![2, 4]);
        hub.set_interest(&team, Interest::Agent(c));
        let ticket = hub.ticket();
        hub.complete(ticket, vec![status(6, a), status(7, c)]);
        assert_eq!(seqs(team.receiver.try_recv().unwrap()), vec![7]);
    }
}
