//! Reads: derived agent status (xuc state, `IsSelectable`, `NotSelectableReason`), snapshots of tasks, agents
//! and services, queue positions, and the explanation of who can take a task and why others cannot.

use super::routing::meets;
use super::{AgentIdx, Engine, TaskIdx};
use crate::spec::{AgentSpec, ServiceSpec};
use crate::types::{
    AgentId, AgentState, Capabilities, Channel, Direction, Level, NotSelectableReason, Presence,
    Priority, ProfileId, Selection, ServiceId, TaskId, TaskKind, TaskStatus, TerminationReason,
    Time, TraitId, TraitRequirement,
};

/// A snapshot of one task.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct TaskInfo {
    /// Stable id.
    pub id: TaskId,
    /// Integer id (Puzzel request id).
    pub number: u64,
    /// `ExternalTaskId`.
    pub external_id: Option<String>,
    /// Kind of work.
    pub kind: TaskKind,
    /// Inbound or outbound.
    pub direction: Direction,
    /// Service it belongs to.
    pub service: ServiceId,
    /// `CustomerIdentifier`.
    pub customer: String,
    /// Priority.
    pub priority: Priority,
    /// Lifecycle state.
    pub status: TaskStatus,
    /// The agent it is offered to or handled by.
    pub agent: Option<AgentId>,
    /// The last agent it was offered to (kept after termination for reporting).
    pub last_agent: Option<AgentId>,
    /// How the last agent was chosen (`SelectionAlgorithm`).
    pub selection: Option<Selection>,
    /// When the current offer times out.
    pub offer_deadline: Option<Time>,
    /// Preferred agents.
    pub preferred_agents: Vec<AgentId>,
    /// `ConsiderPreferredAgentsOnly`.
    pub preferred_only: bool,
    /// Reserved agent and the end of its window.
    pub reserved: Option<(AgentId, Time)>,
    /// Capabilities required.
    pub required_capabilities: Capabilities,
    /// Traits required beyond the service's.
    pub required_traits: Vec<TraitRequirement>,
    /// `DistributeToAgent`.
    pub distribute: bool,
    /// Caller context parameters.
    pub context: Vec<(String, String)>,
    /// Dialect attributes (see `TaskSpec::attributes`).
    pub attributes: Vec<(String, String)>,
    /// Due time of a scheduled callback.
    pub not_before: Option<Time>,
    /// Creation time.
    pub created: Time,
    /// When it entered its current queue.
    pub queue_started: Time,
    /// When it was last offered.
    pub offered_at: Option<Time>,
    /// When an agent accepted it.
    pub connected_at: Option<Time>,
    /// When it ended (only in the snapshot returned by `terminate` and in termination reports).
    pub terminated: Option<Time>,
    /// Why it ended.
    pub termination_reason: Option<TerminationReason>,
    /// Queue position when it entered its queue (1-based; `InitialQueuePosition`).
    pub initial_position: u32,
    /// How many times it was offered.
    pub n_offers: u32,
    /// When the creating system last read or refreshed it.
    pub last_polled: Time,
    /// Start of the current lifetime window (creation or last refresh).
    pub lifetime_start: Time,
}

/// A snapshot of one agent: configuration and live state.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct AgentInfo {
    /// Configuration as last upserted (memberships as configured explicitly).
    pub spec: AgentSpec,
    /// Integer id.
    pub number: u32,
    /// Presence.
    pub presence: Presence,
    /// Phone line logged in on.
    pub line: Option<String>,
    /// `IsBlockedByLuwareApi`.
    pub blocked: bool,
    /// Absence not-ready reason.
    pub absent: Option<String>,
    /// Pause reason.
    pub paused: Option<String>,
    /// In RONA.
    pub rona: bool,
    /// End of wrap-up.
    pub wrapup_until: Option<Time>,
    /// Active responsibility profile.
    pub current_profile: Option<ProfileId>,
    /// xuc state.
    pub state: AgentState,
    /// Since when in this xuc state.
    pub state_since: Time,
    /// `IsSelectable`.
    pub selectable: bool,
    /// `NotSelectableReason`.
    pub reason: Option<NotSelectableReason>,
    /// Tasks offered to or held by the agent.
    pub tasks: Vec<TaskId>,
    /// Services served (explicitly or by responsibility) with their penalty.
    pub memberships: Vec<(ServiceId, u32)>,
    /// When the agent last finished all its work.
    pub idle_since: Time,
}

/// A snapshot of one service.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ServiceInfo {
    /// Configuration.
    pub spec: ServiceSpec,
    /// Integer id.
    pub number: u32,
    /// Tasks waiting in its queue.
    pub n_waiting: usize,
    /// Live tasks in any state.
    pub n_live: usize,
    /// Members that could take work now.
    pub n_available: usize,
    /// Agents serving it.
    pub members: Vec<AgentId>,
}

/// Why one agent cannot take one task.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Ineligibility {
    /// The task is not distributed by the engine (`DistributeToAgent` false).
    NotDistributed,
    /// An agent claimed the task from a list; it is offered to nobody until released.
    ClaimedBy(AgentId),
    /// The task is reserved for another agent until the given time.
    ReservedForAnother {
        /// The agent it is reserved for.
        agent: AgentId,
        /// End of the reservation window.
        until: Time,
    },
    /// The task considers its preferred agents only, and this is not one.
    NotAPreferredAgent,
    /// The agent lacks a trait the service requires.
    MissingServiceTrait {
        /// The trait.
        trait_id: TraitId,
        /// Level required.
        min_level: Level,
        /// Level held (0 if none).
        held: Level,
    },
    /// The agent is neither an explicit member nor responsible for the service in its current profile.
    NotAMember,
    /// The agent declined this task before.
    Declined,
    /// The agent's client lacks required capabilities.
    MissingCapabilities(Capabilities),
    /// The agent lacks a trait the task requires.
    MissingTrait {
        /// The trait.
        trait_id: TraitId,
        /// Level required.
        min_level: Level,
        /// Level held (0 if none).
        held: Level,
    },
    /// The agent is not selectable for any work.
    NotSelectable(NotSelectableReason),
    /// The agent has no capacity left on the task's channel (or an offer is ringing).
    NoCapacity(Channel),
}

/// An agent that could take the task now, with its place in the service's order.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct EligibleAgent {
    /// The agent.
    pub agent: AgentId,
    /// Its penalty tier in the task's service.
    pub penalty: u32,
}

/// Who can take a task and why the others cannot.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Explanation {
    /// The task.
    pub task: TaskId,
    /// Its state.
    pub status: TaskStatus,
    /// Eligible agents, in the order the service would choose them (the first is picked).
    pub eligible: Vec<EligibleAgent>,
    /// Every other candidate with the first rule that excludes it.
    pub ineligible: Vec<(AgentId, Ineligibility)>,
}

/// The heap-owning fields of a task that its snapshot carries.
pub(super) struct OwnedTaskFields {
    pub(super) external_id: Option<String>,
    pub(super) customer: String,
    pub(super) required_traits: Vec<TraitRequirement>,
    pub(super) context: Vec<(String, String)>,
    pub(super) attributes: Vec<(String, String)>,
}

fn held_level(traits: &[(TraitId, Level)], trait_id: TraitId) -> Level {
    traits
        .iter()
        .find(|(t, _)| *t == trait_id)
        .map(|(_, level)| *level)
        .unwrap_or(0)
}

impl Engine {
    /// The agent's derived xuc state, selectability and reason.
    pub(super) fn compute_status(
        &self,
        agent_idx: AgentIdx,
    ) -> (AgentState, bool, Option<NotSelectableReason>) {
        let agent = self.agent(agent_idx);
        if agent.presence == Presence::Offline {
            let state = if agent.tasks.is_empty() && agent.n_consultations == 0 {
                AgentState::LoggedOut
            } else {
                AgentState::OnCall
            };
            return (state, false, Some(NotSelectableReason::Offline));
        }
        let offered = agent
            .tasks
            .iter()
            .map(|&t| self.task(t))
            .find(|t| t.status == TaskStatus::Offered);
        let blocking = self.blocking_reason(agent_idx);
        let state = if let Some(task) = offered {
            if task.direction == Direction::Outbound {
                AgentState::Dialing
            } else {
                AgentState::Ringing
            }
        } else if !agent.tasks.is_empty() || agent.n_consultations > 0 {
            AgentState::OnCall
        } else if agent.wrapup_until.is_some() {
            AgentState::OnWrapup
        } else if blocking.is_some() {
            AgentState::OnPause
        } else {
            AgentState::Ready
        };
        if let Some(reason) = blocking {
            return (state, false, Some(reason));
        }
        if agent.n_offered > 0 {
            return (state, false, Some(NotSelectableReason::Alerting));
        }
        if let Some(channel) = agent.channel {
            if agent.load >= agent.capacity(channel) {
                let external = agent
                    .tasks
                    .iter()
                    .any(|&t| self.task(t).kind == TaskKind::External);
                let reason = if external {
                    NotSelectableReason::InAnExternalTask
                } else {
                    NotSelectableReason::InAContactCenterTask
                };
                return (state, false, Some(reason));
            }
        }
        (state, true, None)
    }

    pub(super) fn task_info_idx(&self, task_idx: TaskIdx) -> TaskInfo {
        let task = self.task(task_idx);
        let owned = OwnedTaskFields {
            external_id: task.external_id.as_deref().map(str::to_string),
            customer: task.customer.to_string(),
            required_traits: self.task_traits(task).to_vec(),
            context: task.context.to_vec(),
            attributes: self.task_attributes(task_idx).to_vec(),
        };
        self.task_info_with(task_idx, owned)
    }

    /// The snapshot of a live task built around its owned fields, which the caller either clones or, for a task
    /// that is leaving the engine, moves out of it.
    pub(super) fn task_info_with(&self, task_idx: TaskIdx, owned: OwnedTaskFields) -> TaskInfo {
        let task = self.task(task_idx);
        let agent_id = |a: AgentIdx| self.agents[a as usize].as_ref().map(|agent| agent.id);
        TaskInfo {
            id: task.id,
            number: task.number,
            external_id: owned.external_id,
            kind: task.kind,
            direction: task.direction,
            service: self.service(task.service).spec.id,
            customer: owned.customer,
            priority: task.priority(),
            status: task.status,
            agent: task.agent.and_then(agent_id),
            last_agent: task.last_agent.and_then(agent_id),
            selection: task.selection,
            offer_deadline: task.offer_deadline,
            preferred_agents: task.preferred.iter().filter_map(|&a| agent_id(a)).collect(),
            preferred_only: task.preferred_only,
            reserved: task
                .reserved()
                .and_then(|(a, until)| agent_id(a).map(|id| (id, until))),
            required_capabilities: task.required_capabilities,
            required_traits: owned.required_traits,
            distribute: task.distribute,
            context: owned.context,
            attributes: owned.attributes,
            not_before: task.not_before,
            created: task.created,
            queue_started: task.queue_started,
            offered_at: task.offered_at,
            connected_at: task.connected_at,
            terminated: None,
            termination_reason: None,
            initial_position: task.initial_position,
            n_offers: task.n_offers,
            last_polled: task.last_polled,
            lifetime_start: task.lifetime_start,
        }
    }

    /// A snapshot of a live task.
    pub fn task_info(&self, task: TaskId) -> Option<TaskInfo> {
        self.task_index.get(&task).map(|&t| self.task_info_idx(t))
    }

    /// The live task with this `ExternalTaskId`.
    pub fn task_by_external_id(&self, external_id: &str) -> Option<TaskId> {
        self.task_by_external
            .get(external_id)
            .map(|&t| self.task(t).id)
    }

    /// The live task with this integer id.
    pub fn task_by_number(&self, number: u64) -> Option<TaskId> {
        self.task_by_number.get(&number).map(|&t| self.task(t).id)
    }

    /// The integer id the next task created without one will get: above every id this engine ever gave out
    /// (snapshots keep the counter), so a caller may claim it for a task id of its own (`TaskSpec::number`).
    pub fn next_task_number(&self) -> u64 {
        let mut number = self.next_task_number;
        while self.task_by_number.contains_key(&number) {
            number += 1;
        }
        number
    }

    /// Every live task, in no particular but deterministic order.
    pub fn live_tasks(&self) -> Vec<TaskId> {
        self.live_task_indices().map(|t| self.task(t).id).collect()
    }

    /// Number of live tasks.
    pub fn n_live_tasks(&self) -> usize {
        self.n_live_tasks
    }

    /// The live tasks of a service in any state: waiting ones first in queue order, then the others.
    pub fn service_tasks(&self, service: ServiceId) -> Vec<TaskId> {
        let Some(&service_idx) = self.service_index.get(&service) else {
            return Vec::new();
        };
        let mut tasks = self.waiting_tasks(service);
        tasks.extend(
            self.live_task_indices()
                .map(|t| self.task(t))
                .filter(|t| t.service == service_idx && t.status != TaskStatus::Waiting)
                .map(|t| t.id),
        );
        tasks
    }

    /// The waiting tasks of a service, in queue order.
    pub fn waiting_tasks(&self, service: ServiceId) -> Vec<TaskId> {
        self.service_index
            .get(&service)
            .map(|&s| {
                self.service(s)
                    .waiting
                    .values()
                    .map(|&t| self.task(t).id)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The 1-based position of a waiting task in its service's queue.
    pub fn queue_position(&self, task: TaskId) -> Option<u32> {
        let &task_idx = self.task_index.get(&task)?;
        let task = self.task(task_idx);
        if task.status != TaskStatus::Waiting {
            return None;
        }
        let ahead = self
            .service(task.service)
            .waiting
            .range(..task.rank)
            .count();
        Some(ahead as u32 + 1)
    }

    /// The task that has waited longest in a service's queue (earliest queue start).
    pub fn longest_waiting(&self, service: ServiceId) -> Option<TaskId> {
        let &service_idx = self.service_index.get(&service)?;
        self.service(service_idx)
            .waiting
            .values()
            .map(|&t| self.task(t))
            .min_by_key(|t| (t.queue_started, t.rank.seq))
            .map(|t| t.id)
    }

    /// A snapshot of an agent.
    pub fn agent_info(&self, agent: AgentId) -> Option<AgentInfo> {
        let &agent_idx = self.agent_index.get(&agent)?;
        let data = self.agent(agent_idx);
        let (state, selectable, reason) = self.compute_status(agent_idx);
        Some(AgentInfo {
            spec: (*data.spec).clone(),
            number: data.number,
            presence: data.presence,
            line: data.line.as_deref().map(str::to_string),
            blocked: data.blocked,
            absent: data.absent.as_deref().map(str::to_string),
            paused: data.paused.as_deref().map(str::to_string),
            rona: data.rona,
            wrapup_until: data.wrapup_until,
            current_profile: data.current_profile,
            state,
            state_since: data.status_since,
            selectable,
            reason,
            tasks: data.tasks.iter().map(|&t| self.task(t).id).collect(),
            memberships: data
                .memberships
                .iter()
                .map(|m| (self.service(m.service).spec.id, m.penalty))
                .collect(),
            idle_since: data.idle_since,
        })
    }

    /// Every membership with its agent's current xuc state, `(service, state)`: queue counters without a
    /// snapshot of every agent.
    pub fn membership_states(&self) -> Vec<(ServiceId, AgentState)> {
        let mut states = Vec::new();
        for agent_idx in self.agent_indices() {
            let (state, _, _) = self.compute_status(agent_idx);
            for membership in &self.agent(agent_idx).memberships {
                states.push((self.service(membership.service).spec.id, state));
            }
        }
        states
    }

    /// The agent with this integer id.
    pub fn agent_by_number(&self, number: u32) -> Option<AgentId> {
        self.agent_numbers.get(&number).map(|&a| self.agent(a).id)
    }

    /// Every agent, in creation order.
    pub fn agents(&self) -> Vec<AgentId> {
        self.agent_indices().map(|a| self.agent(a).id).collect()
    }

    /// A snapshot of a service.
    pub fn service_info(&self, service: ServiceId) -> Option<ServiceInfo> {
        let &service_idx = self.service_index.get(&service)?;
        let data = self.service(service_idx);
        Some(ServiceInfo {
            spec: data.spec.clone(),
            number: data.number,
            n_waiting: data.waiting.len(),
            n_live: data.n_live as usize,
            n_available: data.available.len(),
            members: data.members.iter().map(|&a| self.agent(a).id).collect(),
        })
    }

    /// A service's configuration and integer id, without a snapshot of its members (cheap enough for every
    /// message that names a queue).
    pub fn service_spec(&self, service: ServiceId) -> Option<(&ServiceSpec, u32)> {
        let &service_idx = self.service_index.get(&service)?;
        let data = self.service(service_idx);
        Some((&data.spec, data.number))
    }

    /// The service with this integer id.
    pub fn service_by_number(&self, number: u32) -> Option<ServiceId> {
        self.service_numbers
            .get(&number)
            .map(|&s| self.service(s).spec.id)
    }

    /// Every service, in creation order.
    pub fn services(&self) -> Vec<ServiceId> {
        self.service_indices()
            .map(|s| self.service(s).spec.id)
            .collect()
    }

    /// The first rule that keeps `agent_idx` from taking `task_idx` now, if any.
    fn ineligibility(&self, task_idx: TaskIdx, agent_idx: AgentIdx) -> Option<Ineligibility> {
        let task = self.task(task_idx);
        let agent = self.agent(agent_idx);
        if !task.distribute {
            return Some(Ineligibility::NotDistributed);
        }
        if let Some(&holder) = self.claims.get(&task_idx) {
            return Some(Ineligibility::ClaimedBy(self.agent(holder).id));
        }
        if let Some(candidates) = self.restricted_candidates(task_idx) {
            if !candidates.contains(&agent_idx) {
                return Some(match task.reserved() {
                    Some((reserved, until)) if until > self.now && self.agent_exists(reserved) => {
                        Ineligibility::ReservedForAnother {
                            agent: self.agent(reserved).id,
                            until,
                        }
                    }
                    _ => Ineligibility::NotAPreferredAgent,
                });
            }
        }
        if self.membership(agent_idx, task.service).is_none() {
            let required = &self.service(task.service).spec.required_traits;
            if let Some(missing) = required
                .iter()
                .find(|r| !meets(&agent.traits, std::slice::from_ref(*r)))
            {
                return Some(Ineligibility::MissingServiceTrait {
                    trait_id: missing.trait_id,
                    min_level: missing.min_level,
                    held: held_level(&agent.traits, missing.trait_id),
                });
            }
            return Some(Ineligibility::NotAMember);
        }
        if task.declined.contains(&agent_idx) {
            return Some(Ineligibility::Declined);
        }
        let missing_capabilities = task.required_capabilities.missing_from(agent.capabilities);
        if !missing_capabilities.is_empty() {
            return Some(Ineligibility::MissingCapabilities(missing_capabilities));
        }
        if let Some(missing) = self
            .task_traits(task)
            .iter()
            .find(|r| !meets(&agent.traits, std::slice::from_ref(*r)))
        {
            return Some(Ineligibility::MissingTrait {
                trait_id: missing.trait_id,
                min_level: missing.min_level,
                held: held_level(&agent.traits, missing.trait_id),
            });
        }
        if let Some(reason) = self.blocking_reason(agent_idx) {
            return Some(Ineligibility::NotSelectable(reason));
        }
        let channel = task.kind.channel();
        if !self.has_capacity(agent_idx, channel) {
            return Some(Ineligibility::NoCapacity(channel));
        }
        None
    }

    /// Which agents could take the task now (in the order the service would choose them) and, for every other
    /// member or named agent, the first rule that excludes it.
    pub fn explain(&self, task: TaskId) -> Option<Explanation> {
        let &task_idx = self.task_index.get(&task)?;
        let data = self.task(task_idx);
        let mut candidates: Vec<AgentIdx> =
            self.service(data.service).members.iter().copied().collect();
        // Agents configured as explicit members but failing the service's requirements are explained too;
        // finding them scans the agents, which is fine for an on-demand explanation.
        let service_id = self.service(data.service).spec.id;
        candidates.extend(self.agent_indices().filter(|&a| {
            self.agent(a)
                .spec
                .memberships
                .iter()
                .any(|(s, _)| *s == service_id)
        }));
        candidates.extend(data.preferred.iter().copied());
        if let Some((agent_idx, _)) = data.reserved() {
            candidates.push(agent_idx);
        }
        candidates.sort_unstable();
        candidates.dedup();
        candidates.retain(|&a| self.agent_exists(a));
        let mut eligible = Vec::new();
        let mut ineligible = Vec::new();
        for agent_idx in candidates {
            let agent_id = self.agent(agent_idx).id;
            match self.ineligibility(task_idx, agent_idx) {
                Some(why) => ineligible.push((agent_id, why)),
                None => {
                    let key = self
                        .membership(agent_idx, data.service)
                        .and_then(|m| m.avail_key(agent_idx))
                        .expect("an eligible agent is available in the service");
                    eligible.push((key, agent_id));
                }
            }
        }
        eligible.sort();
        Some(Explanation {
            task,
            status: data.status,
            eligible: eligible
                .into_iter()
                .map(|(key, agent)| EligibleAgent {
                    agent,
                    penalty: key.penalty,
                })
                .collect(),
            ineligible,
        })
    }

    /// True when no waiting, distributable task has an agent that could take it right now (the work
    /// conservation invariant). Cost: every waiting task times its candidates; for tests and audits.
    pub fn is_work_conserving(&self) -> bool {
        self.services.iter().flatten().all(|service| {
            service.waiting.values().all(|&task_idx| {
                let task = self.task(task_idx);
                !task.distribute || self.claims.contains_key(&task_idx) || {
                    let mut candidates: Vec<AgentIdx> = service.members.iter().copied().collect();
                    candidates.extend(task.preferred.iter().copied());
                    candidates
                        .into_iter()
                        .filter(|&a| self.agent_exists(a))
                        .all(|a| self.ineligibility(task_idx, a).is_some())
                }
            })
        })
    }
}
