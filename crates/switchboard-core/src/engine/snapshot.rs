//! An exact, plain-data copy of an engine's state, and the restore that rebuilds every index from it.
//!
//! A restored engine is indistinguishable from the original: the same later commands produce the same events.
//! Only source-of-truth data is copied; indexes (available sets, class queues, personal queues, deadlines, loads)
//! are rebuilt. Slot positions of agents, services and tasks are kept, because ties between deadlines at the same
//! instant are broken by slot.

use std::collections::{BTreeMap, BTreeSet};

use rustc_hash::FxHashMap;

use super::{
    AgentIdx, AgentStateData, ClassKey, Engine, Location, Membership, Rank, ServiceState, TaskState,
};
use crate::spec::{AgentSpec, EngineConfig, ProfileSpec, ServiceSpec};
use crate::types::{
    AgentId, AgentState, Capabilities, Consultation, ConsultationTarget, Direction, Level,
    NotSelectableReason, Presence, Priority, ProfileId, Selection, ServiceId, Span, TaskId,
    TaskKind, TaskStatus, Time, TraitRequirement,
};

/// The whole state of one engine.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Snapshot {
    /// Tenant settings.
    pub config: EngineConfig,
    /// The latest time the engine saw.
    pub now: Time,
    /// Sequence number of the last event.
    pub event_seq: u64,
    /// Queue-entry counter behind task ranks.
    pub rank_seq: u64,
    /// Offer counter behind round robin.
    pub offer_counter: u64,
    /// State of the seeded generator.
    pub rng_state: u64,
    /// Next integer ids to try.
    pub next_numbers: (u32, u32, u64),
    /// Interned trait names, in id order.
    pub traits: Vec<String>,
    /// Profiles, in creation order.
    pub profiles: Vec<ProfileSpec>,
    /// Service slots.
    pub services: Vec<Option<ServiceSnapshot>>,
    /// Agent slots.
    pub agents: Vec<Option<AgentSnapshot>>,
    /// Task slots.
    pub tasks: Vec<Option<TaskSnapshot>>,
    /// Free task slots, in reuse order.
    pub free_tasks: Vec<u32>,
}

/// A service's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ServiceSnapshot {
    /// Configuration.
    pub spec: ServiceSpec,
    /// Integer id.
    pub number: u32,
}

/// An agent's membership of a service with its routing statistics.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct MembershipSnapshot {
    /// The service.
    pub service: ServiceId,
    /// Penalty tier.
    pub penalty: u32,
    /// Explicit (rather than by responsibility).
    pub explicit: bool,
    /// Responsibility level for the service in the current profile.
    pub responsibility: Level,
    /// Sum of the agent's levels on the service's required traits.
    pub level_sum: u32,
    /// Offer counter value at the last offer of this service.
    pub last_offered: u64,
    /// Tasks of this service handled.
    pub handled: u64,
    /// Talk time in this service, microseconds.
    pub talk_time: i64,
}

/// An agent's configuration and live state.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct AgentSnapshot {
    /// Configuration.
    pub spec: AgentSpec,
    /// Integer id.
    pub number: u32,
    /// Active profile.
    pub current_profile: Option<ProfileId>,
    /// Memberships in their order.
    pub memberships: Vec<MembershipSnapshot>,
    /// Presence.
    pub presence: Presence,
    /// Phone line.
    pub line: Option<String>,
    /// Blocked by the API.
    pub blocked: bool,
    /// Absence reason.
    pub absent: Option<String>,
    /// Pause reason.
    pub paused: Option<String>,
    /// In RONA.
    pub rona: bool,
    /// End of wrap-up.
    pub wrapup_until: Option<Time>,
    /// Tasks held, in order.
    pub tasks: Vec<TaskId>,
    /// Start of the current idle period.
    pub idle_since: Time,
    /// Whether the agent was fully idle at the last availability sync.
    pub was_idle: bool,
    /// Last reported status.
    pub status: (AgentState, bool, Option<NotSelectableReason>),
    /// When the reported xuc state began.
    pub status_since: Time,
}

/// A live task.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[allow(missing_docs)]
pub struct TaskSnapshot {
    pub id: TaskId,
    pub number: u64,
    pub external_id: Option<String>,
    pub kind: TaskKind,
    pub direction: Direction,
    pub service: ServiceId,
    pub customer: String,
    pub priority: Priority,
    /// Queue-entry sequence (the task's place among equal priorities).
    pub rank_seq: u64,
    pub status: TaskStatus,
    pub agent: Option<AgentId>,
    pub last_agent: Option<AgentId>,
    pub selection: Option<Selection>,
    pub offer_deadline: Option<Time>,
    pub preferred: Vec<AgentId>,
    pub preferred_only: bool,
    pub reserved: Option<(AgentId, Time)>,
    pub required_capabilities: Capabilities,
    pub required_traits: Vec<TraitRequirement>,
    pub distribute: bool,
    pub rona_timeout: Option<Span>,
    pub context: Vec<(String, String)>,
    #[cfg_attr(feature = "serde", serde(default))]
    pub attributes: Vec<(String, String)>,
    /// The task's consultative call, if it has one.
    #[cfg_attr(feature = "serde", serde(default))]
    pub consultation: Option<Consultation>,
    /// The agent that claimed the task, if any.
    #[cfg_attr(feature = "serde", serde(default))]
    pub claimed_by: Option<AgentId>,
    pub not_before: Option<Time>,
    pub declined: Vec<AgentId>,
    pub created: Time,
    pub queue_started: Time,
    pub offered_at: Option<Time>,
    pub connected_at: Option<Time>,
    pub last_polled: Time,
    pub lifetime_start: Time,
    pub initial_position: u32,
    pub n_offers: u32,
}

/// Why a snapshot could not be restored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestoreError(pub String);

impl std::fmt::Display for RestoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "inconsistent snapshot: {}", self.0)
    }
}

impl std::error::Error for RestoreError {}

impl Engine {
    /// Copies the engine's whole state. Events not yet drained are not part of it.
    pub fn snapshot(&self) -> Snapshot {
        let agent_id = |a: AgentIdx| self.agent(a).id;
        Snapshot {
            config: self.config.clone(),
            now: self.now,
            event_seq: self.event_seq,
            rank_seq: self.rank_seq,
            offer_counter: self.offer_counter,
            rng_state: self.rng_state,
            next_numbers: (
                self.next_service_number,
                self.next_agent_number,
                self.next_task_number,
            ),
            traits: self.trait_names.clone(),
            profiles: self.profiles.clone(),
            services: self
                .services
                .iter()
                .map(|slot| {
                    slot.as_ref().map(|service| ServiceSnapshot {
                        spec: service.spec.clone(),
                        number: service.number,
                    })
                })
                .collect(),
            agents: self
                .agents
                .iter()
                .map(|slot| {
                    slot.as_ref().map(|agent| AgentSnapshot {
                        spec: (*agent.spec).clone(),
                        number: agent.number,
                        current_profile: agent.current_profile,
                        memberships: agent
                            .memberships
                            .iter()
                            .map(|m| MembershipSnapshot {
                                service: self.service(m.service).spec.id,
                                penalty: m.penalty,
                                explicit: m.explicit,
                                responsibility: m.responsibility,
                                level_sum: m.level_sum,
                                last_offered: m.last_offered,
                                handled: m.handled,
                                talk_time: m.talk_time,
                            })
                            .collect(),
                        presence: agent.presence,
                        line: agent.line.as_deref().map(str::to_string),
                        blocked: agent.blocked,
                        absent: agent.absent.as_deref().map(str::to_string),
                        paused: agent.paused.as_deref().map(str::to_string),
                        rona: agent.rona,
                        wrapup_until: agent.wrapup_until,
                        tasks: agent.tasks.iter().map(|&t| self.task(t).id).collect(),
                        idle_since: agent.idle_since,
                        was_idle: agent.was_idle,
                        status: agent.status,
                        status_since: agent.status_since,
                    })
                })
                .collect(),
            tasks: self
                .tasks
                .iter()
                .enumerate()
                .map(|(slot_idx, slot)| {
                    slot.as_ref().map(|task| TaskSnapshot {
                        id: task.id,
                        number: task.number,
                        external_id: task.external_id.as_deref().map(str::to_string),
                        kind: task.kind,
                        direction: task.direction,
                        service: self.service(task.service).spec.id,
                        customer: task.customer.to_string(),
                        priority: task.priority(),
                        rank_seq: task.rank.seq,
                        status: task.status,
                        agent: task.agent.map(agent_id),
                        last_agent: task
                            .last_agent
                            .filter(|&a| self.agent_exists(a))
                            .map(agent_id),
                        selection: task.selection,
                        offer_deadline: task.offer_deadline,
                        preferred: task
                            .preferred
                            .iter()
                            .copied()
                            .filter(|&a| self.agent_exists(a))
                            .map(agent_id)
                            .collect(),
                        preferred_only: task.preferred_only,
                        reserved: task
                            .reserved()
                            .filter(|(a, _)| self.agent_exists(*a))
                            .map(|(a, until)| (agent_id(a), until)),
                        required_capabilities: task.required_capabilities,
                        required_traits: self.task_traits(task).to_vec(),
                        distribute: task.distribute,
                        rona_timeout: task.rona_timeout,
                        context: task.context.to_vec(),
                        attributes: self.task_attributes(slot_idx as u32).to_vec(),
                        consultation: self.consultations.get(&(slot_idx as u32)).cloned(),
                        claimed_by: self
                            .claims
                            .get(&(slot_idx as u32))
                            .map(|&a| self.agent(a).id),
                        not_before: task.not_before,
                        declined: task
                            .declined
                            .iter()
                            .copied()
                            .filter(|&a| self.agent_exists(a))
                            .map(agent_id)
                            .collect(),
                        created: task.created,
                        queue_started: task.queue_started,
                        offered_at: task.offered_at,
                        connected_at: task.connected_at,
                        last_polled: task.last_polled,
                        lifetime_start: task.lifetime_start,
                        initial_position: task.initial_position,
                        n_offers: task.n_offers,
                    })
                })
                .collect(),
            free_tasks: self.free_tasks.clone(),
        }
    }

    /// Rebuilds an engine from a snapshot. No events are emitted.
    pub fn restore(snapshot: Snapshot) -> Result<Engine, RestoreError> {
        let fail = |what: String| RestoreError(what);
        let mut engine = Engine::new(snapshot.config);
        engine.now = snapshot.now;
        engine.event_seq = snapshot.event_seq;
        engine.rank_seq = snapshot.rank_seq;
        engine.offer_counter = snapshot.offer_counter;
        engine.rng_state = snapshot.rng_state;
        (
            engine.next_service_number,
            engine.next_agent_number,
            engine.next_task_number,
        ) = snapshot.next_numbers;
        for name in snapshot.traits {
            engine.intern_trait(&name);
        }
        for profile in snapshot.profiles {
            engine
                .profile_index
                .insert(profile.id, engine.profiles.len());
            engine.profiles.push(profile);
        }
        // Services, then their overflow targets once all exist.
        for (slot, service) in snapshot.services.into_iter().enumerate() {
            let Some(service) = service else {
                engine.services.push(None);
                continue;
            };
            let service_idx = slot as u32;
            engine.service_index.insert(service.spec.id, service_idx);
            engine.service_numbers.insert(service.number, service_idx);
            for requirement in &service.spec.required_traits {
                engine
                    .services_by_trait
                    .entry(requirement.trait_id)
                    .or_default()
                    .push(service_idx);
            }
            engine.services.push(Some(ServiceState {
                spec: service.spec,
                number: service.number,
                overflow_to: None,
                available: BTreeSet::new(),
                classes: Vec::new(),
                class_index: FxHashMap::default(),
                nonempty_classes: Vec::new(),
                waiting: BTreeMap::new(),
                waiting_by_priority: BTreeMap::new(),
                members: BTreeSet::new(),
                n_live: 0,
            }));
        }
        for service_idx in engine.service_indices().collect::<Vec<_>>() {
            if let Some(target) = engine.service(service_idx).spec.overflow_to {
                let target_idx = *engine
                    .service_index
                    .get(&target)
                    .ok_or_else(|| fail(format!("unknown overflow target {target}")))?;
                engine.service_mut(service_idx).overflow_to = Some(target_idx);
            }
        }
        // Agents with their memberships.
        for (slot, agent) in snapshot.agents.iter().enumerate() {
            if let Some(agent) = agent {
                engine.agent_index.insert(agent.spec.id, slot as AgentIdx);
                engine.agent_numbers.insert(agent.number, slot as AgentIdx);
            }
        }
        let mut agent_tasks: Vec<(AgentIdx, Vec<TaskId>)> = Vec::new();
        for (slot, agent) in snapshot.agents.into_iter().enumerate() {
            let Some(agent) = agent else {
                engine.agents.push(None);
                continue;
            };
            let agent_idx = slot as AgentIdx;
            let mut memberships = Vec::with_capacity(agent.memberships.len());
            for m in agent.memberships {
                let service_idx = *engine
                    .service_index
                    .get(&m.service)
                    .ok_or_else(|| fail(format!("membership of unknown service {}", m.service)))?;
                engine.service_mut(service_idx).members.insert(agent_idx);
                memberships.push(Membership {
                    service: service_idx,
                    penalty: m.penalty,
                    explicit: m.explicit,
                    responsibility: m.responsibility,
                    level_sum: m.level_sum,
                    last_offered: m.last_offered,
                    handled: m.handled,
                    talk_time: m.talk_time,
                    avail: None,
                });
            }
            let mut traits = agent.spec.traits.clone();
            traits.sort();
            traits.dedup_by_key(|(trait_id, _)| *trait_id);
            agent_tasks.push((agent_idx, agent.tasks));
            if let Some(until) = agent.wrapup_until {
                engine.agent_timers.insert((until, agent_idx));
            }
            engine.agents.push(Some(AgentStateData {
                memberships,
                presence: agent.presence,
                line: agent.line.map(String::into_boxed_str),
                blocked: agent.blocked,
                absent: agent.absent.map(String::into_boxed_str),
                paused: agent.paused.map(String::into_boxed_str),
                rona: agent.rona,
                wrapup_until: agent.wrapup_until,
                was_idle: agent.was_idle,
                status: agent.status,
                status_since: agent.status_since,
                ..AgentStateData::new(
                    agent.spec,
                    agent.number,
                    traits,
                    agent.current_profile,
                    agent.idle_since,
                )
            }));
        }
        // Tasks in their slots.
        let agent_idx_of = |engine: &Engine, id: AgentId| {
            engine
                .agent_index
                .get(&id)
                .copied()
                .ok_or_else(|| RestoreError(format!("task refers to unknown agent {id}")))
        };
        for (slot, task) in snapshot.tasks.into_iter().enumerate() {
            let Some(task) = task else {
                engine.tasks.push(None);
                continue;
            };
            let service_idx = *engine
                .service_index
                .get(&task.service)
                .ok_or_else(|| fail(format!("task in unknown service {}", task.service)))?;
            let class = engine.class_for(
                service_idx,
                ClassKey {
                    channel: task.kind.channel(),
                    capabilities: task.required_capabilities,
                    traits: task.required_traits.clone(),
                },
            );
            let map_agents =
                |engine: &Engine, ids: &[AgentId]| -> Result<Vec<AgentIdx>, RestoreError> {
                    ids.iter().map(|&id| agent_idx_of(engine, id)).collect()
                };
            let reserved = task
                .reserved
                .map(|(a, until)| agent_idx_of(&engine, a).map(|a| (a, until)))
                .transpose()?;
            let mut state = TaskState {
                id: task.id,
                number: task.number,
                external_id: task.external_id.map(String::into_boxed_str),
                kind: task.kind,
                direction: task.direction,
                service: service_idx,
                class,
                customer: task.customer.into_boxed_str(),
                rank: Rank::new(task.priority, task.rank_seq),
                status: task.status,
                location: Location::Nowhere,
                agent: task.agent.map(|a| agent_idx_of(&engine, a)).transpose()?,
                last_agent: task
                    .last_agent
                    .map(|a| agent_idx_of(&engine, a))
                    .transpose()?,
                selection: task.selection,
                offer_deadline: task.offer_deadline,
                preferred: map_agents(&engine, &task.preferred)?.into_boxed_slice(),
                preferred_only: task.preferred_only,
                is_reserved: false,
                reserved_agent: 0,
                reserved_until: Time::ZERO,
                required_capabilities: task.required_capabilities,
                distribute: task.distribute,
                rona_timeout: task.rona_timeout,
                context: task.context.into_boxed_slice(),
                not_before: task.not_before,
                declined: map_agents(&engine, &task.declined)?.into_boxed_slice(),
                created: task.created,
                queue_started: task.queue_started,
                offered_at: task.offered_at,
                connected_at: task.connected_at,
                last_polled: task.last_polled,
                lifetime_start: task.lifetime_start,
                initial_position: task.initial_position,
                n_offers: task.n_offers,
                timer_at: None,
            };
            state.set_reserved(reserved);
            let task_idx = slot as u32;
            if !task.attributes.is_empty() {
                engine
                    .task_attributes
                    .insert(task_idx, task.attributes.into_boxed_slice());
            }
            if let Some(consultation) = task.consultation {
                if let ConsultationTarget::Agent(agent_id) = &consultation.target {
                    let agent_idx = agent_idx_of(&engine, *agent_id)?;
                    engine.agent_mut(agent_idx).n_consultations += 1;
                }
                engine.consultations.insert(task_idx, consultation);
            }
            if let Some(agent_id) = task.claimed_by {
                let agent_idx = agent_idx_of(&engine, agent_id)?;
                engine.claims.insert(task_idx, agent_idx);
            }
            engine.task_index.insert(state.id, task_idx);
            if let Some(external) = &state.external_id {
                engine
                    .task_by_external
                    .insert(external.to_string(), task_idx);
            }
            engine.task_by_number.insert(state.number, task_idx);
            engine.service_mut(service_idx).n_live += 1;
            engine.n_live_tasks += 1;
            engine.tasks.push(Some(state));
        }
        engine.free_tasks = snapshot.free_tasks;
        for agent_idx in engine.agent_indices().collect::<Vec<_>>() {
            engine.index_identifiers(agent_idx);
        }
        // Agents' loads, in their original task order.
        for (agent_idx, task_ids) in agent_tasks {
            for task_id in task_ids {
                let task_idx = *engine
                    .task_index
                    .get(&task_id)
                    .ok_or_else(|| fail(format!("agent holds unknown task {task_id}")))?;
                let task = engine.task(task_idx);
                let (kind, status) = (task.kind, task.status);
                let agent = engine.agent_mut(agent_idx);
                agent.tasks.push(task_idx);
                if kind == TaskKind::Block {
                    agent.n_block_tasks += 1;
                } else {
                    agent.load += 1;
                    agent.channel = Some(kind.channel());
                }
                if status == TaskStatus::Offered {
                    agent.n_offered += 1;
                }
            }
        }
        // Waiting tasks back into their queues, then every deadline and every availability entry.
        let live: Vec<u32> = engine.live_task_indices().collect();
        for &task_idx in &live {
            if engine.task(task_idx).status == TaskStatus::Waiting {
                engine.place_waiting(task_idx);
            }
        }
        engine.refile_lifetimes();
        for &task_idx in &live {
            engine.reschedule_task(task_idx);
        }
        for agent_idx in engine.agent_indices().collect::<Vec<_>>() {
            engine.sync_availability(agent_idx);
        }
        Ok(engine)
    }
}
