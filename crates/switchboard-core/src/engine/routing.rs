//! Routing: which agents are available to which service, where a waiting task sits, and the two directions of
//! matching (a task looks for the best available agent; a freed agent looks for the best waiting task).
//!
//! The indexes that make this fast without scanning every agent or task:
//! - per service, `available`: agents that could take work now, ordered by (penalty, load, strategy keys);
//! - per service, task classes (channel + extra requirements), each a queue in (priority, age) order, and the
//!   list of non-empty classes;
//! - per agent, a personal queue of tasks restricted to it (reserved, or preferred-only naming it).

use super::{AgentIdx, AvailKey, Engine, Location, Membership, Rank, ServiceIdx, TaskIdx};
use crate::event::EventKind;
use crate::types::{
    Channel, Level, NotSelectableReason, Presence, QueueReason, Selection, Strategy, TaskKind,
    TaskStatus, TraitId, TraitRequirement,
};

/// Order-preserving map of a signed time onto an unsigned key.
fn ordered(value: i64) -> u64 {
    (value as u64) ^ (1 << 63)
}

/// True when `traits` (sorted by trait) holds every requirement at its level.
pub(crate) fn meets(traits: &[(TraitId, Level)], requirements: &[TraitRequirement]) -> bool {
    requirements.iter().all(|requirement| {
        traits
            .binary_search_by_key(&requirement.trait_id, |(trait_id, _)| *trait_id)
            .map(|pos| traits[pos].1 >= requirement.min_level)
            .unwrap_or(false)
    })
}

impl Engine {
    /// Re-derives which services the agent serves, from explicit memberships and the current profile's
    /// responsibilities, keeping only services whose required traits the agent holds.
    pub(super) fn recompute_memberships(&mut self, agent_idx: AgentIdx) {
        let agent = self.agent(agent_idx);
        let responsibilities: &[(TraitId, Level)] = agent
            .current_profile
            .and_then(|profile| agent.spec.profiles.iter().find(|p| p.profile == profile))
            .map(|p| p.responsibilities.as_slice())
            .unwrap_or(&[]);
        let responsibility_of = |trait_id: TraitId| -> Level {
            responsibilities
                .iter()
                .filter(|(t, _)| *t == trait_id)
                .map(|(_, level)| *level)
                .max()
                .unwrap_or(0)
        };
        let mut candidates: Vec<ServiceIdx> = Vec::new();
        for (service_id, _) in &agent.spec.memberships {
            if let Some(&service_idx) = self.service_index.get(service_id) {
                candidates.push(service_idx);
            }
        }
        for (trait_id, level) in responsibilities {
            if *level > 0 {
                if let Some(list) = self.services_by_trait.get(trait_id) {
                    candidates.extend(list.iter().copied());
                }
            }
        }
        candidates.sort_unstable();
        candidates.dedup();
        // (service, penalty, explicit, responsibility, level sum)
        let mut desired: Vec<(ServiceIdx, u32, bool, Level, u32)> = Vec::new();
        for service_idx in candidates {
            let service = self.service(service_idx);
            let required = &service.spec.required_traits;
            if !meets(&agent.traits, required) {
                continue;
            }
            let explicit = agent
                .spec
                .memberships
                .iter()
                .find(|(s, _)| *s == service.spec.id)
                .map(|(_, penalty)| *penalty);
            let responsibility = if required.is_empty() {
                0
            } else {
                required
                    .iter()
                    .map(|r| responsibility_of(r.trait_id))
                    .min()
                    .unwrap_or(0)
            };
            if explicit.is_none() && responsibility == 0 {
                continue;
            }
            let level_sum = required
                .iter()
                .map(|r| {
                    agent
                        .traits
                        .iter()
                        .find(|(t, _)| *t == r.trait_id)
                        .map(|(_, level)| *level as u32)
                        .unwrap_or(0)
                })
                .sum();
            desired.push((
                service_idx,
                explicit.unwrap_or(0),
                explicit.is_some(),
                responsibility,
                level_sum,
            ));
        }
        let current: Vec<ServiceIdx> = agent.memberships.iter().map(|m| m.service).collect();
        for service_idx in current {
            if !desired.iter().any(|d| d.0 == service_idx) {
                self.leave_service(agent_idx, service_idx);
            }
        }
        let agent_id = self.agent(agent_idx).id;
        for (service_idx, penalty, explicit, responsibility, level_sum) in desired {
            let service_id = self.service(service_idx).spec.id;
            let agent = self.agent_mut(agent_idx);
            match agent
                .memberships
                .iter_mut()
                .find(|m| m.service == service_idx)
            {
                Some(membership) => {
                    let penalty_changed = membership.penalty != penalty;
                    membership.penalty = penalty;
                    membership.explicit = explicit;
                    membership.responsibility = responsibility;
                    membership.level_sum = level_sum;
                    if penalty_changed {
                        self.emit(EventKind::MembershipChanged {
                            agent: agent_id,
                            service: service_id,
                            penalty: Some(penalty),
                        });
                    }
                }
                None => {
                    let agent = self.agent_mut(agent_idx);
                    agent.memberships.push(Membership {
                        service: service_idx,
                        penalty,
                        explicit,
                        responsibility,
                        level_sum,
                        last_offered: 0,
                        handled: 0,
                        talk_time: 0,
                        avail: None,
                    });
                    self.service_mut(service_idx).members.insert(agent_idx);
                    self.emit(EventKind::MembershipChanged {
                        agent: agent_id,
                        service: service_id,
                        penalty: Some(penalty),
                    });
                }
            }
        }
    }

    /// Drops the agent's membership of a service, with its entry in the service's available set.
    pub(super) fn leave_service(&mut self, agent_idx: AgentIdx, service_idx: ServiceIdx) {
        let agent = self.agent_mut(agent_idx);
        let Some(pos) = agent
            .memberships
            .iter()
            .position(|m| m.service == service_idx)
        else {
            return;
        };
        let membership = agent.memberships.remove(pos);
        let agent_id = agent.id;
        let service = self.service_mut(service_idx);
        if let Some(key) = membership.avail_key(agent_idx) {
            service.available.remove(&key);
        }
        service.members.remove(&agent_idx);
        let service_id = service.spec.id;
        self.emit(EventKind::MembershipChanged {
            agent: agent_id,
            service: service_id,
            penalty: None,
        });
    }

    /// Call after anything about the agent changed: refreshes its place in the available sets and marks it for
    /// routing and status reporting at the end of the command.
    pub(super) fn agent_changed(&mut self, agent_idx: AgentIdx) {
        self.sync_availability(agent_idx);
        let agent = self.agent_mut(agent_idx);
        if !agent.dirty {
            agent.dirty = true;
            self.dirty_agents.push(agent_idx);
        }
    }

    /// The first reason that keeps the agent from any new work, ignoring what it already holds.
    pub(super) fn blocking_reason(&self, agent_idx: AgentIdx) -> Option<NotSelectableReason> {
        let agent = self.agent(agent_idx);
        let settings = agent.presence_settings;
        if agent.presence == Presence::Offline {
            return Some(NotSelectableReason::Offline);
        }
        if let Some(profile) = agent.current_profile {
            if let Some(&pos) = self.profile_index.get(&profile) {
                if self.profiles[pos].off_duty {
                    return Some(NotSelectableReason::OffDuty);
                }
            }
        }
        if agent.blocked || agent.n_block_tasks > 0 {
            return Some(NotSelectableReason::InAServiceTask);
        }
        if agent.n_consultations > 0 {
            return Some(NotSelectableReason::InAContactCenterTask);
        }
        if agent.absent.is_some() {
            return Some(NotSelectableReason::NotReady);
        }
        if agent.paused.is_some() {
            return Some(NotSelectableReason::Paused);
        }
        if agent.rona {
            return Some(NotSelectableReason::Rona);
        }
        if agent.wrapup_until.is_some() {
            return Some(NotSelectableReason::WrapUp);
        }
        match agent.presence {
            Presence::Online | Presence::Offline => None,
            Presence::Busy if settings.busy_selectable => None,
            Presence::Busy => Some(NotSelectableReason::Busy),
            Presence::InAMeeting if settings.busy_in_meeting_selectable => None,
            Presence::InAMeeting => Some(NotSelectableReason::InAMeeting),
            Presence::DoNotDisturb => Some(NotSelectableReason::DoNotDisturb),
            Presence::BeRightBack => Some(NotSelectableReason::BeRightBack),
            Presence::Away => Some(NotSelectableReason::Away),
            Presence::InACall => Some(NotSelectableReason::InACall),
            Presence::InAConference => Some(NotSelectableReason::InAConference),
            Presence::OutOfOffice => Some(NotSelectableReason::OutOfOffice),
        }
    }

    /// True when the agent could take one more task on `channel`, considering only what it already holds:
    /// no pending offer, and either idle or on the same channel below capacity.
    pub(super) fn has_capacity(&self, agent_idx: AgentIdx, channel: Channel) -> bool {
        let agent = self.agent(agent_idx);
        if agent.n_offered > 0 || agent.n_consultations > 0 {
            return false;
        }
        match agent.channel {
            None => agent.capacity(channel) > 0,
            Some(current) => current == channel && agent.load < agent.capacity(current),
        }
    }

    /// Where the agent stands in the available sets: `None` when it can take nothing now, `Some(None)` when idle,
    /// `Some(Some(channel))` when it can take more of one channel.
    fn open_channel(&self, agent_idx: AgentIdx) -> Option<Option<Channel>> {
        if self.blocking_reason(agent_idx).is_some() {
            return None;
        }
        let agent = self.agent(agent_idx);
        if agent.n_offered > 0 {
            return None;
        }
        match agent.channel {
            None => Some(None),
            Some(channel) if agent.load < agent.capacity(channel) => Some(Some(channel)),
            Some(_) => None,
        }
    }

    fn strategy_keys(
        &self,
        agent_idx: AgentIdx,
        membership: &Membership,
        strategy: Strategy,
    ) -> (u64, u64) {
        let agent = self.agent(agent_idx);
        let idle_since = ordered(agent.idle_since.0);
        let number = agent.number as u64;
        match strategy {
            Strategy::LongestIdle => (idle_since, number),
            Strategy::RoundRobin => (membership.last_offered, number),
            Strategy::FewestTasks => (membership.handled, idle_since),
            Strategy::LeastTalkTime => (ordered(membership.talk_time), idle_since),
            Strategy::TopDown => (number, 0),
            Strategy::Random => (0, number),
            Strategy::BestQualifiedMostResponsible => {
                let responsibility = (255 - membership.responsibility as u64) << 32;
                let level = u32::MAX as u64 - membership.level_sum as u64;
                (responsibility | level, idle_since)
            }
        }
    }

    /// Puts the agent's entries in its services' available sets in line with its current state.
    pub(super) fn sync_availability(&mut self, agent_idx: AgentIdx) {
        let open = self.open_channel(agent_idx);
        // Idle time counts from the moment the agent last became free for new work (ready, back from a task,
        // wrap-up, pause, block...), so "longest idle" means longest available.
        let now = self.now;
        let agent = self.agent_mut(agent_idx);
        let idle = open == Some(None);
        if idle && !agent.was_idle {
            agent.idle_since = now;
        }
        agent.was_idle = idle;
        let n_memberships = self.agent(agent_idx).memberships.len();
        for pos in 0..n_memberships {
            let agent = self.agent(agent_idx);
            let membership = &agent.memberships[pos];
            let service_idx = membership.service;
            let desired = open.map(|channel| {
                let strategy = self.service(service_idx).spec.strategy;
                let (primary, secondary) = self.strategy_keys(agent_idx, membership, strategy);
                AvailKey {
                    penalty: membership.penalty,
                    load: agent.load,
                    primary,
                    secondary,
                    agent: agent_idx,
                    channel,
                }
            });
            let current = membership.avail_key(agent_idx);
            if desired != current {
                let service = self.service_mut(service_idx);
                if let Some(key) = current {
                    service.available.remove(&key);
                }
                if let Some(key) = desired {
                    service.available.insert(key);
                }
                self.agent_mut(agent_idx).memberships[pos].avail = desired.map(AvailKey::entry);
            }
        }
    }

    pub(super) fn membership(
        &self,
        agent_idx: AgentIdx,
        service_idx: ServiceIdx,
    ) -> Option<&Membership> {
        self.agent(agent_idx)
            .memberships
            .iter()
            .find(|m| m.service == service_idx)
    }

    /// True when the task's own requirements admit the agent (capabilities, extra traits, not declined by it).
    /// Service membership, selectability and capacity are checked separately.
    pub(super) fn task_admits(&self, task_idx: TaskIdx, agent_idx: AgentIdx) -> bool {
        let task = self.task(task_idx);
        let agent = self.agent(agent_idx);
        agent.capabilities.contains(task.required_capabilities)
            && meets(&agent.traits, self.task_traits(task))
            && !task.declined.contains(&agent_idx)
    }

    /// The agents a task is restricted to right now (reserved window, or preferred-only), if it is restricted.
    pub(super) fn restricted_candidates(&self, task_idx: TaskIdx) -> Option<Vec<AgentIdx>> {
        let task = self.task(task_idx);
        if let Some((agent_idx, until)) = task.reserved() {
            if until > self.now {
                return Some(vec![agent_idx]);
            }
        }
        if task.preferred_only {
            return Some(task.preferred.to_vec());
        }
        None
    }

    /// The best agent among `candidates` that can take the task now, by the service's order.
    fn best_among(&self, task_idx: TaskIdx, candidates: &[AgentIdx]) -> Option<AgentIdx> {
        let task = self.task(task_idx);
        let channel = task.kind.channel();
        candidates
            .iter()
            .copied()
            .filter(|&a| self.agent_exists(a))
            .filter_map(|a| {
                let key = self.membership(a, task.service)?.avail_key(a)?;
                (self.has_capacity(a, channel) && self.task_admits(task_idx, a)).then_some(key)
            })
            .min()
            .map(|key| key.agent)
    }

    /// Chooses the agent for a task that just became waiting, if one can take it now.
    fn pick_agent(&mut self, task_idx: TaskIdx) -> Option<(AgentIdx, Selection)> {
        let task = self.task(task_idx);
        if !task.distribute {
            return None;
        }
        if let Some(candidates) = self.restricted_candidates(task_idx) {
            let reserved = task.reserved().is_some_and(|(_, until)| until > self.now);
            let selection = if reserved {
                Selection::ReservedAgent
            } else {
                Selection::PreferredAgent
            };
            return self
                .best_among(task_idx, &candidates)
                .map(|a| (a, selection));
        }
        if !task.preferred.is_empty() {
            if let Some(agent_idx) = self.best_among(task_idx, &task.preferred) {
                return Some((agent_idx, Selection::PreferredAgent));
            }
        }
        let service = self.service(task.service);
        let strategy = service.spec.strategy;
        let channel = task.kind.channel();
        let admits = |key: &AvailKey| {
            key.channel.is_none_or(|open| open == channel)
                && self.has_capacity(key.agent, channel)
                && self.task_admits(task_idx, key.agent)
        };
        if strategy == Strategy::Random {
            // Uniform among the eligible agents of the best (penalty, load) tier.
            let first = service.available.iter().find(|key| admits(key))?;
            let tier = (first.penalty, first.load);
            let tied: Vec<AgentIdx> = service
                .available
                .iter()
                .skip_while(|key| (key.penalty, key.load) < tier)
                .take_while(|key| (key.penalty, key.load) == tier)
                .filter(|key| admits(key))
                .map(|key| key.agent)
                .collect();
            let choice = tied[(self.next_random() % tied.len() as u64) as usize];
            return Some((choice, Selection::Strategy(strategy)));
        }
        service
            .available
            .iter()
            .find(|key| admits(key))
            .map(|key| (key.agent, Selection::Strategy(strategy)))
    }

    /// Offers the task to the best agent available now, or places it in the waiting structures.
    ///
    /// The chosen agent may have just become free in the same command (an offer withdrawn from it, say) while an
    /// older or more urgent task it may take is waiting; that task goes first, and this one looks again.
    pub(super) fn route_or_place(&mut self, task_idx: TaskIdx) {
        if self.is_claimed(task_idx) {
            self.place_waiting(task_idx);
            return;
        }
        loop {
            let Some((agent_idx, selection)) = self.pick_agent(task_idx) else {
                self.place_waiting(task_idx);
                return;
            };
            let rank = self.task(task_idx).rank;
            match self.best_task_for(agent_idx) {
                Some((better_rank, better_idx, better_selection)) if better_rank < rank => {
                    self.unplace_waiting(better_idx);
                    self.assign(better_idx, agent_idx, better_selection);
                }
                _ => {
                    self.assign(task_idx, agent_idx, selection);
                    return;
                }
            }
        }
    }

    /// Puts a task (status waiting) into its queue: routable, restricted (personal queues) or parked.
    pub(super) fn place_waiting(&mut self, task_idx: TaskIdx) {
        let restricted = self.restricted_candidates(task_idx);
        let claimed = self.is_claimed(task_idx);
        let task = self.task(task_idx);
        debug_assert_eq!(task.location, Location::Nowhere);
        let (rank, service_idx, class, priority) =
            (task.rank, task.service, task.class, task.priority());
        let declined = !task.declined.is_empty();
        let location = if !task.distribute || claimed {
            Location::Parked
        } else if let Some(candidates) = restricted {
            for agent_idx in candidates {
                if self.agent_exists(agent_idx) {
                    self.agent_mut(agent_idx).personal.insert(rank, task_idx);
                }
            }
            Location::Personal
        } else {
            let service = self.service_mut(service_idx);
            let class_queue = &mut service.classes[class as usize];
            class_queue.queue.insert(rank, (task_idx, declined));
            if class_queue.nonempty_pos.is_none() {
                class_queue.nonempty_pos = Some(service.nonempty_classes.len());
                service.nonempty_classes.push(class);
            }
            Location::Class
        };
        let service = self.service_mut(service_idx);
        service.waiting.insert(rank, task_idx);
        *service.waiting_by_priority.entry(priority.0).or_insert(0) += 1;
        self.task_mut(task_idx).location = location;
    }

    /// Takes a waiting task out of every waiting structure.
    pub(super) fn unplace_waiting(&mut self, task_idx: TaskIdx) {
        let task = self.task(task_idx);
        let (rank, service_idx, class, priority, location) = (
            task.rank,
            task.service,
            task.class,
            task.priority(),
            task.location,
        );
        match location {
            Location::Nowhere => return,
            Location::Parked => {}
            Location::Personal => {
                // Remove from every agent that may hold it: reserved and preferred agents.
                let mut holders = task.preferred.to_vec();
                if let Some((agent_idx, _)) = task.reserved() {
                    holders.push(agent_idx);
                }
                for agent_idx in holders {
                    if self.agent_exists(agent_idx) {
                        self.agent_mut(agent_idx).personal.remove(&rank);
                    }
                }
            }
            Location::Class => {
                let service = self.service_mut(service_idx);
                let class_queue = &mut service.classes[class as usize];
                class_queue.queue.remove(&rank);
                if class_queue.queue.is_empty() {
                    let pos = class_queue
                        .nonempty_pos
                        .take()
                        .expect("non-empty class is listed");
                    service.nonempty_classes.swap_remove(pos);
                    if let Some(&moved) = service.nonempty_classes.get(pos) {
                        service.classes[moved as usize].nonempty_pos = Some(pos);
                    }
                }
            }
        }
        let service = self.service_mut(service_idx);
        service.waiting.remove(&rank);
        if let Some(count) = service.waiting_by_priority.get_mut(&priority.0) {
            *count -= 1;
            if *count == 0 {
                service.waiting_by_priority.remove(&priority.0);
            }
        }
        self.task_mut(task_idx).location = Location::Nowhere;
    }

    /// The task becomes waiting in its service (keeping its rank) and is routed at once if possible.
    pub(super) fn enqueue(&mut self, task_idx: TaskIdx, reason: QueueReason) {
        let task = self.task_mut(task_idx);
        task.status = TaskStatus::Waiting;
        let (id, service_idx, priority) = (task.id, task.service, task.priority());
        if reason == QueueReason::Created || reason == QueueReason::Transferred {
            // Everything of higher or equal priority already waiting is ahead of a new entry.
            let ahead: u32 = self
                .service(service_idx)
                .waiting_by_priority
                .range(priority.0..)
                .map(|(_, count)| *count)
                .sum();
            self.task_mut(task_idx).initial_position = ahead + 1;
        }
        let service_id = self.service(service_idx).spec.id;
        self.emit(EventKind::TaskQueued {
            task: id,
            service: service_id,
            reason,
        });
        self.route_or_place(task_idx);
        self.reschedule_task(task_idx);
    }

    /// Like `enqueue`, but as a new queue entry: a fresh place at the back of its priority, a new queue start.
    pub(super) fn enqueue_fresh(&mut self, task_idx: TaskIdx, reason: QueueReason) {
        self.rank_seq += 1;
        let (seq, now) = (self.rank_seq, self.now);
        let task = self.task_mut(task_idx);
        task.rank = Rank::new(task.priority(), seq);
        task.queue_started = now;
        self.enqueue(task_idx, reason);
    }

    /// Attaches a task to an agent. Block tasks do not count as channel load: they block through
    /// `n_block_tasks` instead, whatever else the agent holds.
    fn attach(&mut self, task_idx: TaskIdx, agent_idx: AgentIdx) {
        let kind = self.task(task_idx).kind;
        let task = self.task_mut(task_idx);
        task.agent = Some(agent_idx);
        task.last_agent = Some(agent_idx);
        let agent = self.agent_mut(agent_idx);
        agent.tasks.push(task_idx);
        if kind != TaskKind::Block {
            agent.load += 1;
            agent.channel = Some(kind.channel());
        }
    }

    /// Detaches a task from its agent, returning the agent.
    fn detach(&mut self, task_idx: TaskIdx) -> AgentIdx {
        let kind = self.task(task_idx).kind;
        let agent_idx = self
            .task_mut(task_idx)
            .agent
            .take()
            .expect("task has an agent");
        let agent = self.agent_mut(agent_idx);
        if let Some(pos) = agent.tasks.iter().position(|&t| t == task_idx) {
            agent.tasks.swap_remove(pos);
        }
        if kind != TaskKind::Block {
            agent.load -= 1;
            if agent.load == 0 {
                agent.channel = None;
            }
        }
        agent_idx
    }

    /// Puts a block task on an agent, established at once (it is never offered).
    pub(super) fn start_block(&mut self, task_idx: TaskIdx, agent_idx: AgentIdx) {
        self.attach(task_idx, agent_idx);
        let now = self.now;
        let task = self.task_mut(task_idx);
        task.status = TaskStatus::Established;
        task.selection = Some(Selection::Direct);
        task.offered_at = Some(now);
        task.connected_at = Some(now);
        let task_id = task.id;
        let agent = self.agent_mut(agent_idx);
        agent.n_block_tasks += 1;
        let agent_id = agent.id;
        self.emit(EventKind::TaskEstablished {
            task: task_id,
            agent: agent_id,
        });
        self.agent_changed(agent_idx);
        self.reschedule_task(task_idx);
    }

    /// Offers a task (not placed in any queue) to an agent.
    pub(super) fn assign(&mut self, task_idx: TaskIdx, agent_idx: AgentIdx, selection: Selection) {
        debug_assert_eq!(self.task(task_idx).location, Location::Nowhere);
        self.attach(task_idx, agent_idx);
        let now = self.now;
        let task = self.task(task_idx);
        let service_idx = task.service;
        let timeout = task
            .rona_timeout
            .or(self.service(service_idx).spec.rona_timeout)
            .or(self.config.default_rona_timeout);
        let deadline = timeout.map(|span| now.plus(span));
        let task = self.task_mut(task_idx);
        task.status = TaskStatus::Offered;
        task.selection = Some(selection);
        task.offered_at = Some(now);
        task.offer_deadline = deadline;
        task.n_offers += 1;
        let task_id = task.id;
        self.offer_counter += 1;
        let offer_counter = self.offer_counter;
        let agent = self.agent_mut(agent_idx);
        agent.n_offered += 1;
        if let Some(membership) = agent
            .memberships
            .iter_mut()
            .find(|m| m.service == service_idx)
        {
            membership.last_offered = offer_counter;
        }
        let agent_id = agent.id;
        self.emit(EventKind::TaskOffered {
            task: task_id,
            agent: agent_id,
            selection,
            deadline,
        });
        self.agent_changed(agent_idx);
        self.reschedule_task(task_idx);
    }

    /// Establishes a task: offered ones are accepted; a block task is attached and established directly.
    pub(super) fn establish_idx(&mut self, task_idx: TaskIdx) {
        let now = self.now;
        let task = self.task(task_idx);
        let agent_idx = match (task.status, task.agent) {
            (TaskStatus::Offered, Some(agent_idx)) => {
                self.agent_mut(agent_idx).n_offered -= 1;
                agent_idx
            }
            _ => unreachable!("establish_idx needs an offered task"),
        };
        let task = self.task_mut(task_idx);
        task.status = TaskStatus::Established;
        task.connected_at = Some(now);
        task.offer_deadline = None;
        let task_id = task.id;
        let agent_id = self.agent(agent_idx).id;
        self.emit(EventKind::TaskEstablished {
            task: task_id,
            agent: agent_id,
        });
        self.agent_changed(agent_idx);
        self.reschedule_task(task_idx);
    }

    /// Withdraws an offer from its agent (RONA, decline, refresh, logout); the caller re-queues the task.
    pub(super) fn unassign(&mut self, task_idx: TaskIdx) {
        let status = self.task(task_idx).status;
        if status != TaskStatus::Offered {
            // Established work ends through `finish_work`.
            self.finish_work(task_idx);
            return;
        }
        let agent_idx = self.detach(task_idx);
        self.agent_mut(agent_idx).n_offered -= 1;
        let task = self.task_mut(task_idx);
        task.offer_deadline = None;
        task.status = TaskStatus::Waiting;
        self.agent_changed(agent_idx);
    }

    /// The agent finishes an established task: statistics, wrap-up, and the agent is free again.
    pub(super) fn finish_work(&mut self, task_idx: TaskIdx) {
        let now = self.now;
        let task = self.task(task_idx);
        let (service_idx, kind, connected_at) = (task.service, task.kind, task.connected_at);
        let agent_idx = self.detach(task_idx);
        let wrapup = self.service(service_idx).spec.wrapup;
        let agent_id = self.agent(agent_idx).id;
        let agent = self.agent_mut(agent_idx);
        if kind == TaskKind::Block {
            agent.n_block_tasks -= 1;
        } else if let Some(membership) = agent
            .memberships
            .iter_mut()
            .find(|m| m.service == service_idx)
        {
            membership.handled += 1;
            membership.talk_time += connected_at.map(|at| now.since(at).0).unwrap_or(0);
        }
        if kind != TaskKind::Block && wrapup.0 > 0 {
            let until = now.plus(wrapup);
            let previous = agent
                .wrapup_until
                .replace(until.max(agent.wrapup_until.unwrap_or(until)));
            let until = agent.wrapup_until.expect("just set");
            if let Some(previous) = previous {
                self.agent_timers.remove(&(previous, agent_idx));
            }
            self.agent_timers.insert((until, agent_idx));
            self.emit(EventKind::AgentWrapupStarted {
                agent: agent_id,
                until,
            });
        }
        self.agent_changed(agent_idx);
    }

    /// Returns every offer the agent holds to the queue, keeping the tasks' places.
    pub(super) fn return_offers(&mut self, agent_idx: AgentIdx, reason: QueueReason) {
        let offered: Vec<TaskIdx> = self
            .agent(agent_idx)
            .tasks
            .iter()
            .copied()
            .filter(|&t| self.task(t).status == TaskStatus::Offered)
            .collect();
        for task_idx in offered {
            self.unassign(task_idx);
            self.enqueue(task_idx, reason);
        }
    }

    /// The best waiting task the agent may take now: its personal queue first in rank order, and the head of
    /// every task class of its services that it satisfies; the best rank wins.
    fn best_task_for(&self, agent_idx: AgentIdx) -> Option<(Rank, TaskIdx, Selection)> {
        let agent = self.agent(agent_idx);
        let mut best: Option<(Rank, TaskIdx, Selection)> = None;
        for (&rank, &task_idx) in &agent.personal {
            let task = self.task(task_idx);
            if self.has_capacity(agent_idx, task.kind.channel())
                && self.task_admits(task_idx, agent_idx)
                && self.membership(agent_idx, task.service).is_some()
            {
                let reserved = task
                    .reserved()
                    .is_some_and(|(a, until)| a == agent_idx && until > self.now);
                let selection = if reserved {
                    Selection::ReservedAgent
                } else {
                    Selection::PreferredAgent
                };
                best = Some((rank, task_idx, selection));
                break;
            }
        }
        for membership in &agent.memberships {
            let service = self.service(membership.service);
            for &class in &service.nonempty_classes {
                let class_queue = &service.classes[class as usize];
                let key = &class_queue.key;
                if !self.has_capacity(agent_idx, key.channel)
                    || !agent.capabilities.contains(key.capabilities)
                    || !meets(&agent.traits, &key.traits)
                {
                    continue;
                }
                for (&rank, &(task_idx, declined)) in &class_queue.queue {
                    if best.is_some_and(|(best_rank, _, _)| best_rank <= rank) {
                        break;
                    }
                    if declined && self.task(task_idx).declined.contains(&agent_idx) {
                        continue;
                    }
                    best = Some((rank, task_idx, Selection::Strategy(service.spec.strategy)));
                    break;
                }
            }
        }
        best
    }

    /// Offers the freed agent the best waiting task it may take.
    fn fill_agent(&mut self, agent_idx: AgentIdx) {
        if !self.agent_exists(agent_idx) || self.open_channel(agent_idx).is_none() {
            return;
        }
        if let Some((_, task_idx, selection)) = self.best_task_for(agent_idx) {
            self.unplace_waiting(task_idx);
            self.assign(task_idx, agent_idx, selection);
        }
    }

    /// Ends a command: every agent touched gets the waiting work it may take, then agents whose derived status
    /// changed are reported.
    pub(super) fn settle(&mut self) {
        let mut next = 0;
        while next < self.dirty_agents.len() {
            let agent_idx = self.dirty_agents[next];
            next += 1;
            self.fill_agent(agent_idx);
        }
        let dirty = std::mem::take(&mut self.dirty_agents);
        for agent_idx in dirty {
            if !self.agent_exists(agent_idx) {
                continue;
            }
            self.agent_mut(agent_idx).dirty = false;
            let status = self.compute_status(agent_idx);
            if status != self.agent(agent_idx).status {
                let now = self.now;
                let agent = self.agent_mut(agent_idx);
                if status.0 != agent.status.0 {
                    agent.status_since = now;
                }
                agent.status = status;
                let agent_id = agent.id;
                self.emit(EventKind::AgentStatusChanged {
                    agent: agent_id,
                    state: status.0,
                    selectable: status.1,
                    reason: status.2,
                });
            }
        }
    }
}
