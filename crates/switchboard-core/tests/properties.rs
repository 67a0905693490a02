//! Property tests of the routing engine: random configurations and command sequences must keep the routing
//! invariants (one offer per task, capacity, work conservation, queue order, determinism, event numbering), and
//! focused properties check the order in which freed agents take work, that returned offers keep their place,
//! and that overflow loops a task would go round without waiting are refused.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestCaseError;
use switchboard_core::{
    AgentId, AgentProfile, AgentSpec, AgentState, AudioRoutes, Capabilities, ConsultationAction,
    ConsultationTarget, Direction, Engine, EngineConfig, Event, EventKind, Level,
    NotSelectableReason, Presence, PresenceSettings, Priority, ProfileId, ProfileSpec, QueueReason,
    Selection, ServiceId, ServiceSpec, Span, Strategy as RoutingStrategy, TaskId, TaskKind,
    TaskSpec, TaskStatus, TerminationReason, Time, TraitId, TraitRequirement,
};
use uuid::Uuid;

/// Every run starts far from the epoch so that no computed time can underflow.
const BASE: Time = Time::from_secs(1_000_000);
const MAX_SERVICES: usize = 4;
const MAX_AGENTS: usize = 8;
const N_TRAITS: u32 = 3;

fn service_id(index: usize) -> ServiceId {
    ServiceId(Uuid::from_u128(0x1000 + index as u128))
}

fn agent_id(index: usize) -> AgentId {
    AgentId(Uuid::from_u128(0x2000 + index as u128))
}

fn task_id(index: u64) -> TaskId {
    TaskId(Uuid::from_u128(0x10_0000 + index as u128))
}

/// A task id no command ever creates, so operations on it must fail cleanly.
const UNKNOWN_TASK: TaskId = TaskId(Uuid::from_u128(0xDEAD_BEEF));

const DAY_PROFILE: ProfileId = ProfileId(Uuid::from_u128(0x3000));
const OFF_DUTY_PROFILE: ProfileId = ProfileId(Uuid::from_u128(0x3001));

fn line_name(index: usize) -> String {
    format!("line-{index}")
}

fn capabilities_from_bits(bits: u8) -> Capabilities {
    Capabilities::NAMED
        .iter()
        .enumerate()
        .filter(|(position, _)| bits & (1 << position) != 0)
        .fold(Capabilities::NONE, |set, (_, (capability, _))| {
            set.with(*capability)
        })
}

fn trait_requirements(levels: &BTreeMap<u32, Level>) -> Vec<TraitRequirement> {
    levels
        .iter()
        .map(|(&trait_index, &min_level)| TraitRequirement {
            trait_id: TraitId(trait_index),
            min_level,
        })
        .collect()
}

// ----- the generated plan -----------------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct ConfigPlan {
    random_seed: u64,
    default_rona_secs: Option<i64>,
    polling_secs: Option<i64>,
    lifetime_secs: Option<i64>,
}

#[derive(Clone, Debug)]
struct ServicePlan {
    strategy: RoutingStrategy,
    required_traits: BTreeMap<u32, Level>,
    wrapup_secs: i64,
    max_wait_secs: Option<i64>,
    overflow_to: Option<usize>,
    rona_secs: Option<i64>,
}

#[derive(Clone, Debug)]
struct AgentPlan {
    traits: BTreeMap<u32, Level>,
    memberships: BTreeMap<usize, u32>,
    responsibilities: BTreeMap<u32, Level>,
    starts_on_day_profile: bool,
    chat_capacity: u16,
    email_capacity: u16,
    capability_bits: u8,
    presence_settings: (bool, bool, bool),
    has_line: bool,
    starts_online: bool,
}

#[derive(Clone, Debug)]
struct TaskPlan {
    service: Index,
    kind: TaskKind,
    direction: Direction,
    priority: i32,
    preferred: Vec<Index>,
    preferred_only: bool,
    reserved: Option<(Index, i64)>,
    capability_bits: u8,
    required_traits: BTreeMap<u32, Level>,
    distribute: bool,
    rona_millis: Option<i64>,
    not_before_millis: Option<i64>,
    external_id: Option<u8>,
}

/// Which live task an operation targets: normally one in the state the operation expects, sometimes any.
#[derive(Clone, Copy, Debug)]
struct TaskPick {
    index: Index,
    any_state: bool,
}

/// Who accepts an offer.
#[derive(Clone, Copy, Debug)]
enum Acceptor {
    /// The agent the task is offered to.
    Holder,
    /// No agent named.
    Unnamed,
    /// A given agent, right or wrong (a waiting task is then established directly on it).
    Named(Index),
}

#[derive(Clone, Debug)]
enum Op {
    Advance {
        micros: i64,
    },
    SetPresence {
        agent: Index,
        presence: Presence,
    },
    Block {
        agent: Index,
    },
    Unblock {
        agent: Index,
    },
    SetAbsent {
        agent: Index,
    },
    UnsetAbsent {
        agent: Index,
    },
    Pause {
        agent: Index,
    },
    Unpause {
        agent: Index,
    },
    Login {
        agent: Index,
        line: usize,
    },
    Logout {
        agent: Index,
    },
    EndWrapup {
        agent: Index,
    },
    SetActiveProfile {
        agent: Index,
        off_duty: bool,
    },
    CreateTask(Box<TaskPlan>),
    Establish {
        task: TaskPick,
        acceptor: Acceptor,
    },
    Decline {
        task: TaskPick,
        other_agent: Option<Index>,
    },
    Refresh {
        task: TaskPick,
        set_agent_on_rona: bool,
    },
    Hold {
        task: TaskPick,
    },
    Resume {
        task: TaskPick,
    },
    Terminate {
        task: TaskPick,
        reason: TerminationReason,
    },
    TransferToService {
        task: TaskPick,
        service: Index,
    },
    TransferToAgent {
        task: TaskPick,
        agent: Index,
    },
    SetPriority {
        task: TaskPick,
        priority: i32,
    },
    Reserve {
        task: TaskPick,
        reservation: Option<(Index, i64)>,
    },
    Poll {
        task: TaskPick,
    },
    Claim {
        task: TaskPick,
        agent: Option<Index>,
    },
    Reschedule {
        task: TaskPick,
        delay_millis: i64,
    },
    AddBlockTask {
        agent: Index,
    },
    SetMembership {
        agent: Index,
        service: Index,
        penalty: u32,
    },
    RemoveMembership {
        agent: Index,
        service: Index,
    },
    Consult {
        task: TaskPick,
        agent: Index,
        external: bool,
        action: u8,
    },
}

#[derive(Clone, Debug)]
struct Step {
    delay_micros: i64,
    op: Op,
}

#[derive(Clone, Debug)]
struct Plan {
    config: ConfigPlan,
    services: Vec<ServicePlan>,
    agents: Vec<AgentPlan>,
    steps: Vec<Step>,
}

fn config_plan() -> impl Strategy<Value = ConfigPlan> {
    (
        any::<u64>(),
        prop::option::weighted(0.85, 5i64..=60),
        prop::option::weighted(0.3, 60i64..=900),
        prop::option::weighted(0.3, 300i64..=3_600),
    )
        .prop_map(
            |(random_seed, default_rona_secs, polling_secs, lifetime_secs)| ConfigPlan {
                random_seed,
                default_rona_secs,
                polling_secs,
                lifetime_secs,
            },
        )
}

fn trait_levels(max_len: usize) -> impl Strategy<Value = BTreeMap<u32, Level>> {
    prop::collection::btree_map(0..N_TRAITS, 1u8..=3, 0..=max_len)
}

fn service_plan() -> impl Strategy<Value = ServicePlan> {
    (
        prop::sample::select(RoutingStrategy::ALL.to_vec()),
        prop_oneof![3 => Just(BTreeMap::new()), 1 => prop::collection::btree_map(0..N_TRAITS, 1u8..=3, 1..=2)],
        prop_oneof![Just(0i64), 1i64..=20],
        prop::option::weighted(0.4, prop_oneof![1 => Just(0i64), 4 => 1i64..=300]),
        prop::option::weighted(0.5, 0..MAX_SERVICES),
        prop::option::weighted(0.3, 5i64..=60),
    )
        .prop_map(
            |(strategy, required_traits, wrapup_secs, max_wait_secs, overflow_to, rona_secs)| ServicePlan {
                strategy,
                required_traits,
                wrapup_secs,
                max_wait_secs,
                overflow_to,
                rona_secs,
            },
        )
}

fn agent_plan() -> impl Strategy<Value = AgentPlan> {
    (
        trait_levels(3),
        prop::collection::btree_map(0..MAX_SERVICES, 0u32..=2, 1..=3),
        trait_levels(2),
        prop::bool::weighted(0.7),
        1u16..=3,
        1u16..=2,
        prop_oneof![3 => Just(31u8), 1 => 0u8..32],
        any::<(bool, bool, bool)>(),
        prop::bool::weighted(0.8),
        prop::bool::weighted(0.7),
    )
        .prop_map(
            |(
                traits,
                memberships,
                responsibilities,
                starts_on_day_profile,
                chat_capacity,
                email_capacity,
                capability_bits,
                presence_settings,
                has_line,
                starts_online,
            )| AgentPlan {
                traits,
                memberships,
                responsibilities,
                starts_on_day_profile,
                chat_capacity,
                email_capacity,
                capability_bits,
                presence_settings,
                has_line,
                starts_online,
            },
        )
}

fn priority_value() -> impl Strategy<Value = i32> {
    prop_oneof![16 => -2i32..=3, 1 => Just(i32::MAX), 1 => Just(i32::MIN)]
}

fn task_kind() -> impl Strategy<Value = TaskKind> {
    prop_oneof![
        4 => Just(TaskKind::External),
        2 => Just(TaskKind::Callback),
        4 => Just(TaskKind::Call),
        4 => Just(TaskKind::Chat),
        2 => Just(TaskKind::Mail),
        1 => Just(TaskKind::Block),
    ]
}

fn task_plan() -> impl Strategy<Value = TaskPlan> {
    (
        (
            any::<Index>(),
            task_kind(),
            prop_oneof![3 => Just(Direction::Inbound), 1 => Just(Direction::Outbound)],
            priority_value(),
            prop::collection::vec(any::<Index>(), 0..=2),
            prop::bool::weighted(0.3),
            prop::option::weighted(0.15, (any::<Index>(), 0i64..=60_000)),
        ),
        (
            prop_oneof![4 => Just(0u8), 1 => 0u8..32],
            prop_oneof![4 => Just(BTreeMap::new()), 1 => prop::collection::btree_map(0..N_TRAITS, 1u8..=3, 1..=2)],
            prop::bool::weighted(0.9),
            prop::option::weighted(0.2, 1i64..=45_000),
            prop::option::weighted(0.1, 1i64..=120_000),
            prop::option::weighted(0.2, 0u8..4),
        ),
    )
        .prop_map(
            |(
                (service, kind, direction, priority, preferred, preferred_only, reserved),
                (capability_bits, required_traits, distribute, rona_millis, not_before_millis, external_id),
            )| TaskPlan {
                service,
                kind,
                direction,
                priority,
                preferred,
                preferred_only,
                reserved,
                capability_bits,
                required_traits,
                distribute,
                rona_millis,
                not_before_millis,
                external_id,
            },
        )
}

fn task_pick() -> impl Strategy<Value = TaskPick> {
    (any::<Index>(), prop::bool::weighted(0.1))
        .prop_map(|(index, any_state)| TaskPick { index, any_state })
}

fn presence_value() -> impl Strategy<Value = Presence> {
    prop_oneof![5 => Just(Presence::Online), 2 => prop::sample::select(Presence::ALL.to_vec())]
}

fn termination_reason() -> impl Strategy<Value = TerminationReason> {
    prop_oneof![
        4 => Just(TerminationReason::Completed),
        2 => Just(TerminationReason::Cancelled),
        1 => Just(TerminationReason::Orphaned),
    ]
}

fn acceptor() -> impl Strategy<Value = Acceptor> {
    prop_oneof![
        6 => Just(Acceptor::Holder),
        2 => Just(Acceptor::Unnamed),
        1 => any::<Index>().prop_map(Acceptor::Named),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let agent = any::<Index>;
    prop_oneof![
        6 => (0i64..=120_000_000).prop_map(|micros| Op::Advance { micros }),
        5 => (agent(), presence_value()).prop_map(|(agent, presence)| Op::SetPresence { agent, presence }),
        1 => agent().prop_map(|agent| Op::Block { agent }),
        1 => agent().prop_map(|agent| Op::Unblock { agent }),
        1 => agent().prop_map(|agent| Op::SetAbsent { agent }),
        1 => agent().prop_map(|agent| Op::UnsetAbsent { agent }),
        1 => agent().prop_map(|agent| Op::Pause { agent }),
        1 => agent().prop_map(|agent| Op::Unpause { agent }),
        2 => (agent(), 0..MAX_AGENTS).prop_map(|(agent, line)| Op::Login { agent, line }),
        1 => agent().prop_map(|agent| Op::Logout { agent }),
        1 => agent().prop_map(|agent| Op::EndWrapup { agent }),
        1 => (agent(), any::<bool>()).prop_map(|(agent, off_duty)| Op::SetActiveProfile { agent, off_duty }),
        10 => task_plan().prop_map(|plan| Op::CreateTask(Box::new(plan))),
        10 => (task_pick(), acceptor()).prop_map(|(task, acceptor)| Op::Establish { task, acceptor }),
        3 => (task_pick(), prop::option::weighted(0.15, agent()))
            .prop_map(|(task, other_agent)| Op::Decline { task, other_agent }),
        2 => (task_pick(), any::<bool>())
            .prop_map(|(task, set_agent_on_rona)| Op::Refresh { task, set_agent_on_rona }),
        2 => task_pick().prop_map(|task| Op::Hold { task }),
        2 => task_pick().prop_map(|task| Op::Resume { task }),
        6 => (task_pick(), termination_reason()).prop_map(|(task, reason)| Op::Terminate { task, reason }),
        2 => (task_pick(), any::<Index>()).prop_map(|(task, service)| Op::TransferToService { task, service }),
        1 => (task_pick(), agent()).prop_map(|(task, agent)| Op::TransferToAgent { task, agent }),
        2 => (task_pick(), priority_value()).prop_map(|(task, priority)| Op::SetPriority { task, priority }),
        2 => (task_pick(), prop::option::weighted(0.8, (agent(), 0i64..=60_000)))
            .prop_map(|(task, reservation)| Op::Reserve { task, reservation }),
        1 => task_pick().prop_map(|task| Op::Poll { task }),
        3 => (task_pick(), prop::option::weighted(0.7, agent()))
            .prop_map(|(task, agent)| Op::Claim { task, agent }),
        2 => (task_pick(), prop_oneof![Just(0i64), 0i64..=120_000])
            .prop_map(|(task, delay_millis)| Op::Reschedule { task, delay_millis }),
        1 => agent().prop_map(|agent| Op::AddBlockTask { agent }),
        1 => (agent(), any::<Index>(), 0u32..=2)
            .prop_map(|(agent, service, penalty)| Op::SetMembership { agent, service, penalty }),
        1 => (agent(), any::<Index>()).prop_map(|(agent, service)| Op::RemoveMembership { agent, service }),
        6 => (task_pick(), agent(), prop::bool::weighted(0.2), 0u8..7)
            .prop_map(|(task, agent, external, action)| Op::Consult { task, agent, external, action }),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    (prop_oneof![Just(0i64), 0i64..3_000_000], op())
        .prop_map(|(delay_micros, op)| Step { delay_micros, op })
}

fn plan() -> impl Strategy<Value = Plan> {
    (
        config_plan(),
        prop::collection::vec(service_plan(), 1..=MAX_SERVICES),
        prop::collection::vec(agent_plan(), 1..=MAX_AGENTS),
        prop::collection::vec(step(), 20..=200),
    )
        .prop_map(|(config, services, agents, steps)| Plan {
            config,
            services,
            agents,
            steps,
        })
}

// ----- running a plan ---------------------------------------------------------------------------------------

/// What the test knows independently of the engine, to judge its answers.
#[derive(Default)]
struct Model {
    /// The order in which tasks entered their queue as a new entry (creation, or a transfer): a task that
    /// returns to the queue (RONA, decline, refresh, lost agent, overflow) must keep this age.
    entry_order: BTreeMap<TaskId, u64>,
    next_entry: u64,
    /// Offers declined by an agent; the task may wait while that agent is free.
    declined: BTreeSet<(TaskId, AgentId)>,
}

impl Model {
    fn new_entry(&mut self, task: TaskId) {
        self.next_entry += 1;
        self.entry_order.insert(task, self.next_entry);
    }
}

/// The events a run produced, checked for numbering and time as they arrive.
struct EventLog {
    events: Vec<Event>,
    last_at: Time,
    /// The status last reported for each agent, which must match the status the engine derives now.
    reported_status: BTreeMap<AgentId, (AgentState, bool, Option<NotSelectableReason>)>,
}

impl EventLog {
    fn new() -> EventLog {
        EventLog {
            events: Vec::new(),
            last_at: Time::ZERO,
            reported_status: BTreeMap::new(),
        }
    }

    /// Takes the engine's new events and checks property 6: sequence numbers 1, 2, 3... without gaps, and
    /// times that never go backwards nor beyond the `now` of the command that caused them.
    fn absorb(&mut self, engine: &mut Engine, now: Time) -> Result<(), TestCaseError> {
        for event in engine.drain_events() {
            let expected_seq = self.events.len() as u64 + 1;
            prop_assert_eq!(
                event.seq,
                expected_seq,
                "event numbering has a gap or a repeat: {:?}",
                event
            );
            prop_assert!(
                event.at >= self.last_at,
                "event time went backwards: {:?}",
                event
            );
            prop_assert!(
                event.at <= now,
                "event dated after its command: {:?} (now {:?})",
                event,
                now
            );
            self.last_at = event.at;
            match &event.kind {
                EventKind::AgentUpserted { agent } => {
                    // A new agent starts logged out without a status event.
                    self.reported_status.entry(*agent).or_insert((
                        AgentState::LoggedOut,
                        false,
                        Some(NotSelectableReason::Offline),
                    ));
                }
                EventKind::AgentStatusChanged {
                    agent,
                    state,
                    selectable,
                    reason,
                } => {
                    self.reported_status
                        .insert(*agent, (*state, *selectable, *reason));
                }
                _ => {}
            }
            self.events.push(event);
        }
        Ok(())
    }

    /// Observers follow agents through `AgentStatusChanged` events only, so after every command the last
    /// reported status must be the one the engine derives.
    fn check_reported_status(&self, engine: &Engine) -> Result<(), TestCaseError> {
        for agent in engine.agents() {
            let info = engine.agent_info(agent).expect("listed agent exists");
            let derived = (info.state, info.selectable, info.reason);
            let reported = self.reported_status.get(&agent).copied();
            prop_assert_eq!(
                reported,
                Some(derived),
                "agent {} status changed without an event",
                agent
            );
        }
        Ok(())
    }
}

/// Whether a run checks every invariant after each command or only records the events.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Checking {
    EveryCommand,
    EventsOnly,
}

struct Run {
    engine: Engine,
    now: Time,
    n_services: usize,
    n_tasks_created: u64,
    model: Model,
    log: EventLog,
}

impl Run {
    fn service(&self, index: Index) -> ServiceId {
        service_id(index.index(self.n_services))
    }

    fn agent(&self, index: Index) -> AgentId {
        let agents = self.engine.agents();
        agents[index.index(agents.len())]
    }

    /// A live task for an operation: one in a wanted state when there is one, otherwise any live task, and
    /// an unknown id when nothing lives.
    fn task(&self, pick: TaskPick, wanted: &[TaskStatus]) -> TaskId {
        let live = self.engine.live_tasks();
        let in_state: Vec<TaskId> = live
            .iter()
            .copied()
            .filter(|&task| {
                let status = self.engine.task_info(task).expect("live task").status;
                wanted.contains(&status)
            })
            .collect();
        let pool = if pick.any_state || in_state.is_empty() {
            &live
        } else {
            &in_state
        };
        if pool.is_empty() {
            UNKNOWN_TASK
        } else {
            pool[pick.index.index(pool.len())]
        }
    }

    fn holder(&self, task: TaskId) -> Option<AgentId> {
        self.engine.task_info(task).and_then(|info| info.agent)
    }

    fn configure(plan: &Plan) -> Run {
        let config = EngineConfig {
            random_seed: plan.config.random_seed,
            default_rona_timeout: plan.config.default_rona_secs.map(Span::from_secs),
            max_polling_timeout: plan.config.polling_secs.map(Span::from_secs),
            max_task_lifetime: plan.config.lifetime_secs.map(Span::from_secs),
        };
        let mut run = Run {
            engine: Engine::new(config),
            now: BASE,
            n_services: plan.services.len(),
            n_tasks_created: 0,
            model: Model::default(),
            log: EventLog::new(),
        };
        let now = run.now;
        let engine = &mut run.engine;
        for trait_index in 0..N_TRAITS {
            // Interning in order keeps TraitId(n) equal to the n-th name, which the plans refer to by number.
            let id = engine.intern_trait(&format!("Skill/{trait_index}"));
            assert_eq!(id, TraitId(trait_index));
        }
        engine.upsert_profile(
            now,
            ProfileSpec {
                id: DAY_PROFILE,
                name: "Day".to_string(),
                off_duty: false,
            },
        );
        engine.upsert_profile(
            now,
            ProfileSpec {
                id: OFF_DUTY_PROFILE,
                name: "Off duty".to_string(),
                off_duty: true,
            },
        );
        let service_specs: Vec<ServiceSpec> = plan
            .services
            .iter()
            .enumerate()
            .map(|(index, service)| {
                let mut spec = ServiceSpec::new(service_id(index), format!("Service {index}"));
                spec.strategy = service.strategy;
                spec.required_traits = trait_requirements(&service.required_traits);
                spec.wrapup = Span::from_secs(service.wrapup_secs);
                spec.max_wait = service.max_wait_secs.map(Span::from_secs);
                spec.rona_timeout = service.rona_secs.map(Span::from_secs);
                spec
            })
            .collect();
        for spec in &service_specs {
            engine
                .upsert_service(now, spec.clone())
                .expect("valid service");
        }
        // Overflow targets are set in a second pass, once every service exists, so that cycles are possible;
        // the engine refuses the loops a task would go round without waiting.
        for (index, service) in plan.services.iter().enumerate() {
            let Some(target) = service
                .overflow_to
                .map(|target| target % plan.services.len())
            else {
                continue;
            };
            if target == index {
                continue;
            }
            let mut spec = service_specs[index].clone();
            spec.overflow_to = Some(service_id(target));
            let _ = engine.upsert_service(now, spec);
        }
        for (index, agent) in plan.agents.iter().enumerate() {
            let mut spec = AgentSpec::new(agent_id(index), format!("Agent {index}"));
            spec.traits = agent
                .traits
                .iter()
                .map(|(&t, &level)| (TraitId(t), level))
                .collect();
            let memberships: BTreeMap<usize, u32> = agent
                .memberships
                .iter()
                .map(|(&service, &penalty)| (service % plan.services.len(), penalty))
                .collect();
            spec.memberships = memberships
                .into_iter()
                .map(|(service, penalty)| (service_id(service), penalty))
                .collect();
            spec.profiles = vec![
                AgentProfile {
                    profile: DAY_PROFILE,
                    responsibilities: agent
                        .responsibilities
                        .iter()
                        .map(|(&t, &level)| (TraitId(t), level))
                        .collect(),
                },
                AgentProfile {
                    profile: OFF_DUTY_PROFILE,
                    responsibilities: Vec::new(),
                },
            ];
            spec.default_profile = agent.starts_on_day_profile.then_some(DAY_PROFILE);
            spec.chat_capacity = agent.chat_capacity;
            spec.email_capacity = agent.email_capacity;
            spec.capabilities = capabilities_from_bits(agent.capability_bits);
            let (busy_selectable, busy_in_meeting_selectable, show_away_as_offline) =
                agent.presence_settings;
            spec.presence_settings = PresenceSettings {
                busy_selectable,
                busy_in_meeting_selectable,
                show_away_as_offline,
            };
            spec.phone_line = agent.has_line.then(|| line_name(index));
            engine.upsert_agent(now, spec).expect("valid agent");
        }
        for (index, agent) in plan.agents.iter().enumerate() {
            if agent.starts_online {
                engine
                    .set_presence(now, agent_id(index), Presence::Online)
                    .expect("known agent");
            }
        }
        run
    }

    fn create_task(&mut self, plan: &TaskPlan) {
        self.n_tasks_created += 1;
        let id = task_id(self.n_tasks_created);
        let mut spec = TaskSpec::new(id, self.service(plan.service));
        spec.kind = plan.kind;
        spec.direction = plan.direction;
        spec.priority = Priority(plan.priority);
        spec.preferred_agents = plan
            .preferred
            .iter()
            .map(|&agent| self.agent(agent))
            .collect();
        spec.preferred_only = plan.preferred_only;
        spec.reserved = plan
            .reserved
            .map(|(agent, millis)| (self.agent(agent), self.now.plus(Span::from_millis(millis))));
        spec.required_capabilities = capabilities_from_bits(plan.capability_bits);
        spec.required_traits = trait_requirements(&plan.required_traits);
        spec.distribute = plan.distribute;
        spec.rona_timeout = plan.rona_millis.map(Span::from_millis);
        spec.not_before = plan
            .not_before_millis
            .map(|millis| self.now.plus(Span::from_millis(millis)));
        spec.external_id = plan.external_id.map(|external| format!("ext-{external}"));
        if self.engine.create_task(self.now, spec).is_ok() {
            self.model.new_entry(id);
        }
    }

    /// Applies one operation. Refusals are expected and ignored: the invariants are checked afterwards.
    fn apply(&mut self, op: &Op) {
        let now = self.now;
        match op {
            Op::Advance { .. } => self.engine.advance(now),
            Op::SetPresence { agent, presence } => {
                let _ = self.engine.set_presence(now, self.agent(*agent), *presence);
            }
            Op::Block { agent } => {
                let _ = self.engine.block(now, self.agent(*agent));
            }
            Op::Unblock { agent } => {
                let _ = self.engine.unblock(now, self.agent(*agent));
            }
            Op::SetAbsent { agent } => {
                let _ = self.engine.set_absent(now, self.agent(*agent), "Lunch");
            }
            Op::UnsetAbsent { agent } => {
                let _ = self.engine.unset_absent(now, self.agent(*agent));
            }
            Op::Pause { agent } => {
                let _ = self.engine.pause(now, self.agent(*agent), "Break");
            }
            Op::Unpause { agent } => {
                let _ = self.engine.unpause(now, self.agent(*agent));
            }
            Op::Login { agent, line } => {
                let _ = self
                    .engine
                    .login(now, self.agent(*agent), &line_name(*line));
            }
            Op::Logout { agent } => {
                let _ = self.engine.logout(now, self.agent(*agent));
            }
            Op::EndWrapup { agent } => {
                let _ = self.engine.end_wrapup(now, self.agent(*agent));
            }
            Op::SetActiveProfile { agent, off_duty } => {
                let profile = if *off_duty {
                    OFF_DUTY_PROFILE
                } else {
                    DAY_PROFILE
                };
                let _ = self
                    .engine
                    .set_active_profile(now, self.agent(*agent), profile);
            }
            Op::CreateTask(plan) => self.create_task(plan),
            Op::Establish { task, acceptor } => {
                let (task, agent) = match acceptor {
                    Acceptor::Holder => {
                        let task = self.task(*task, &[TaskStatus::Offered]);
                        (task, self.holder(task))
                    }
                    Acceptor::Unnamed => (self.task(*task, &[TaskStatus::Offered]), None),
                    Acceptor::Named(agent) => (
                        self.task(*task, &[TaskStatus::Offered, TaskStatus::Waiting]),
                        Some(self.agent(*agent)),
                    ),
                };
                let _ = self.engine.establish(now, task, agent);
            }
            Op::Decline { task, other_agent } => {
                let task = self.task(*task, &[TaskStatus::Offered]);
                let agent = match other_agent {
                    Some(agent) => self.agent(*agent),
                    None => self.holder(task).unwrap_or_else(|| self.engine.agents()[0]),
                };
                if self.engine.decline(now, task, agent).is_ok() {
                    self.model.declined.insert((task, agent));
                }
            }
            Op::Refresh {
                task,
                set_agent_on_rona,
            } => {
                let task = self.task(*task, &[TaskStatus::Offered, TaskStatus::Waiting]);
                let _ = self.engine.refresh(now, task, *set_agent_on_rona);
            }
            Op::Hold { task } => {
                let task = self.task(*task, &[TaskStatus::Established]);
                let _ = self.engine.hold(now, task);
            }
            Op::Resume { task } => {
                let task = self.task(*task, &[TaskStatus::OnHold]);
                let _ = self.engine.resume(now, task);
            }
            Op::Terminate { task, reason } => {
                let task = self.task(
                    *task,
                    &[
                        TaskStatus::Established,
                        TaskStatus::OnHold,
                        TaskStatus::Waiting,
                    ],
                );
                let _ = self.engine.terminate(now, task, *reason);
            }
            Op::TransferToService { task, service } => {
                let task = self.task(*task, &[TaskStatus::Established, TaskStatus::OnHold]);
                if self
                    .engine
                    .transfer_to_service(now, task, self.service(*service))
                    .is_ok()
                {
                    self.transferred(task);
                }
            }
            Op::TransferToAgent { task, agent } => {
                let task = self.task(*task, &[TaskStatus::Established, TaskStatus::OnHold]);
                if self
                    .engine
                    .transfer_to_agent(now, task, self.agent(*agent))
                    .is_ok()
                {
                    self.transferred(task);
                }
            }
            Op::SetPriority { task, priority } => {
                let task = self.task(*task, &[TaskStatus::Waiting]);
                let _ = self.engine.set_priority(now, task, Priority(*priority));
            }
            Op::Reserve { task, reservation } => {
                let task = self.task(*task, &[TaskStatus::Waiting]);
                let reservation = reservation.map(|(agent, millis)| {
                    (self.agent(agent), now.plus(Span::from_millis(millis)))
                });
                let _ = self.engine.reserve(now, task, reservation);
            }
            Op::Poll { task } => {
                let task = self.task(*task, &[TaskStatus::Waiting, TaskStatus::Offered]);
                let _ = self.engine.poll(now, task);
            }
            Op::Claim { task, agent } => {
                let task = self.task(*task, &[TaskStatus::Waiting, TaskStatus::Scheduled]);
                let agent = agent.map(|agent| self.agent(agent));
                let _ = self.engine.claim(now, task, agent);
            }
            Op::Reschedule { task, delay_millis } => {
                let task = self.task(
                    *task,
                    &[
                        TaskStatus::Waiting,
                        TaskStatus::Offered,
                        TaskStatus::Established,
                    ],
                );
                let due = now.plus(Span::from_millis(*delay_millis));
                if self.engine.reschedule(now, task, due).is_ok() {
                    self.transferred(task);
                }
            }
            Op::AddBlockTask { agent } => {
                self.n_tasks_created += 1;
                let id = task_id(self.n_tasks_created);
                let _ = self.engine.add_block_task(now, self.agent(*agent), id);
            }
            Op::SetMembership {
                agent,
                service,
                penalty,
            } => {
                let _ = self.engine.set_membership(
                    now,
                    self.agent(*agent),
                    self.service(*service),
                    *penalty,
                );
            }
            Op::RemoveMembership { agent, service } => {
                let _ =
                    self.engine
                        .remove_membership(now, self.agent(*agent), self.service(*service));
            }
            Op::Consult {
                task,
                agent,
                external,
                action,
            } => {
                // Consultations need handled incoming calls, a small share of all tasks: pick among those.
                let calls: Vec<TaskId> = self
                    .engine
                    .live_tasks()
                    .into_iter()
                    .filter(|&live| {
                        let info = self.engine.task_info(live).expect("live task");
                        info.kind == TaskKind::Call
                            && matches!(info.status, TaskStatus::Established | TaskStatus::OnHold)
                    })
                    .collect();
                let task = if calls.is_empty() || task.any_state {
                    self.task(*task, &[TaskStatus::Established, TaskStatus::OnHold])
                } else {
                    calls[task.index.index(calls.len())]
                };
                let action = match action {
                    0 if *external => ConsultationAction::Start(ConsultationTarget::External(
                        "+41441234567".into(),
                    )),
                    0 => ConsultationAction::Start(ConsultationTarget::Agent(self.agent(*agent))),
                    1 => ConsultationAction::Merge,
                    2 => ConsultationAction::Transfer,
                    3 => ConsultationAction::Terminate,
                    4 => ConsultationAction::Leave,
                    5 => ConsultationAction::SetAudioRoutes(AudioRoutes {
                        customer_hears_consultant: *external,
                        consultant_hears_customer: true,
                    }),
                    _ => ConsultationAction::TerminateCustomerCall,
                };
                let _ = self.engine.consult(now, task, action);
            }
        }
    }

    /// A transferred task is a new queue entry, and forgets who declined it.
    fn transferred(&mut self, task: TaskId) {
        self.model.new_entry(task);
        self.model
            .declined
            .retain(|(declined_task, _)| *declined_task != task);
    }
}

/// Runs a plan from a fresh engine and returns every event it produced.
fn run_plan(plan: &Plan, checking: Checking) -> Result<Vec<Event>, TestCaseError> {
    let mut run = Run::configure(plan);
    run.log.absorb(&mut run.engine, run.now)?;
    if checking == Checking::EveryCommand {
        check_invariants(&run.engine)?;
        check_against_model(&run.engine, &run.model)?;
        run.log.check_reported_status(&run.engine)?;
    }
    for (step_number, step) in plan.steps.iter().enumerate() {
        let advance = match step.op {
            Op::Advance { micros } => micros,
            _ => 0,
        };
        run.now = run.now.plus(Span(step.delay_micros + advance));
        run.apply(&step.op);
        run.log.absorb(&mut run.engine, run.now)?;
        if checking == Checking::EveryCommand {
            let context = |error: TestCaseError| {
                TestCaseError::fail(format!("after step {step_number} ({:?}): {error}", step.op))
            };
            check_invariants(&run.engine).map_err(context)?;
            check_against_model(&run.engine, &run.model).map_err(context)?;
            run.log
                .check_reported_status(&run.engine)
                .map_err(context)?;
        }
    }
    Ok(run.log.events)
}

// ----- invariants -------------------------------------------------------------------------------------------

/// The invariants every engine state must satisfy, read through the public API only:
/// 1. a task offered or handled has exactly one agent and is in exactly that agent's list; waiting and
///    scheduled tasks have none; no task is in two agents' lists;
/// 2. no agent holds more than its capacity on one channel, nor more than one offer;
/// 3. work conservation, as the engine judges it and through `explain`;
/// 4. every service's queue is in priority order and `queue_position` agrees with it.
///
/// Plus the bookkeeping that ties tasks, agents and services together.
fn check_invariants(engine: &Engine) -> Result<(), TestCaseError> {
    let now = engine.now();
    let live = engine.live_tasks();
    prop_assert_eq!(engine.n_live_tasks(), live.len());
    let mut tasks = BTreeMap::new();
    for &task in &live {
        let info = engine.task_info(task).expect("a listed task is live");
        prop_assert!(
            info.status != TaskStatus::Terminated,
            "terminated task {} is still live",
            task
        );
        tasks.insert(task, info);
    }
    prop_assert_eq!(tasks.len(), live.len(), "live_tasks lists a task twice");

    // Property 1, from the tasks' side and then from the agents' side.
    let agents = engine.agents();
    let mut agent_infos = BTreeMap::new();
    for &agent in &agents {
        agent_infos.insert(
            agent,
            engine.agent_info(agent).expect("a listed agent exists"),
        );
    }
    let mut holder_of: BTreeMap<TaskId, AgentId> = BTreeMap::new();
    for (&agent, info) in &agent_infos {
        for &task in &info.tasks {
            prop_assert!(
                tasks.contains_key(&task),
                "agent {} holds dead task {}",
                agent,
                task
            );
            if let Some(other) = holder_of.insert(task, agent) {
                prop_assert!(
                    false,
                    "task {} is held by both {} and {}",
                    task,
                    other,
                    agent
                );
            }
        }
    }
    for (&task, info) in &tasks {
        match info.status {
            TaskStatus::Offered | TaskStatus::Established | TaskStatus::OnHold => {
                let agent = info.agent;
                prop_assert!(
                    agent.is_some(),
                    "{:?} task {} has no agent",
                    info.status,
                    task
                );
                prop_assert_eq!(
                    holder_of.get(&task).copied(),
                    agent,
                    "task {} and its agent disagree",
                    task
                );
            }
            TaskStatus::Waiting | TaskStatus::Scheduled => {
                prop_assert_eq!(
                    info.agent,
                    None,
                    "{:?} task {} has an agent",
                    info.status,
                    task
                );
                prop_assert!(
                    !holder_of.contains_key(&task),
                    "{:?} task {} is held",
                    info.status,
                    task
                );
            }
            TaskStatus::Terminated => unreachable!("checked above"),
        }
        if info.status == TaskStatus::Offered {
            if let Some(deadline) = info.offer_deadline {
                prop_assert!(
                    deadline >= now,
                    "task {} keeps an offer past its deadline",
                    task
                );
            }
        }
    }

    // A consultation belongs to a task an agent handles, and a consulted agent is busy: no offer, not
    // selectable, not the task's own agent.
    for (task, consultation) in engine.consultations() {
        let info = &tasks[&task];
        prop_assert!(
            matches!(info.status, TaskStatus::Established | TaskStatus::OnHold),
            "task {} consults while {:?}",
            task,
            info.status
        );
        prop_assert_eq!(info.agent, Some(consultation.initiator));
        if let ConsultationTarget::Agent(consulted) = &consultation.target {
            let consulted_info = &agent_infos[consulted];
            prop_assert!(
                info.agent != Some(*consulted),
                "task {} consults its own agent",
                task
            );
            prop_assert!(
                !consulted_info.selectable,
                "consulted agent {} is selectable",
                consulted
            );
            prop_assert!(
                consulted_info
                    .tasks
                    .iter()
                    .all(|held| tasks[held].status != TaskStatus::Offered),
                "consulted agent {} has an offer",
                consulted
            );
        }
    }

    // Property 2: capacity per channel and a single pending offer per agent.
    for (&agent, info) in &agent_infos {
        let held: Vec<&switchboard_core::TaskInfo> =
            info.tasks.iter().map(|task| &tasks[task]).collect();
        let work: Vec<&&switchboard_core::TaskInfo> = held
            .iter()
            .filter(|task| task.kind != TaskKind::Block)
            .collect();
        if let Some(first) = work.first() {
            let channel = first.kind.channel();
            prop_assert!(
                work.iter().all(|task| task.kind.channel() == channel),
                "agent {} mixes channels: {:?}",
                agent,
                work.iter().map(|task| task.kind).collect::<Vec<_>>()
            );
            prop_assert!(
                work.len() <= info.spec.capacity(channel) as usize,
                "agent {} holds {} {} tasks, capacity {}",
                agent,
                work.len(),
                channel.name(),
                info.spec.capacity(channel)
            );
        }
        let n_offered = held
            .iter()
            .filter(|task| task.status == TaskStatus::Offered)
            .count();
        prop_assert!(
            n_offered <= 1,
            "agent {} has {} offers at once",
            agent,
            n_offered
        );
        if n_offered == 1 {
            prop_assert!(
                info.presence != Presence::Offline,
                "offline agent {} holds an offer",
                agent
            );
            prop_assert!(
                matches!(info.state, AgentState::Ringing | AgentState::Dialing),
                "agent {} holds an offer but is {:?}",
                agent,
                info.state
            );
            prop_assert!(
                !info.selectable,
                "agent {} holds an offer but is selectable",
                agent
            );
        }
        if let Some(until) = info.wrapup_until {
            prop_assert!(
                until >= now,
                "agent {} is still in a wrap-up that ended",
                agent
            );
        }
    }

    // Memberships are seen the same way from both sides, and service counters match the tasks.
    let services = engine.services();
    let mut n_live_total = 0;
    let mut waiting_seen = BTreeSet::new();
    for &service in &services {
        let service_info = engine
            .service_info(service)
            .expect("a listed service exists");
        for (&agent, info) in &agent_infos {
            let member_by_service = service_info.members.contains(&agent);
            let member_by_agent = info.memberships.iter().any(|(s, _)| *s == service);
            prop_assert_eq!(
                member_by_service,
                member_by_agent,
                "agent {} and service {} disagree on membership",
                agent,
                service
            );
        }
        let n_live = tasks
            .values()
            .filter(|info| info.service == service)
            .count();
        prop_assert_eq!(
            service_info.n_live,
            n_live,
            "service {} miscounts its live tasks",
            service
        );
        n_live_total += service_info.n_live;

        // Property 4: priority order, and positions that agree with the list.
        let waiting = engine.waiting_tasks(service);
        prop_assert_eq!(service_info.n_waiting, waiting.len());
        for (position, &task) in waiting.iter().enumerate() {
            let info = tasks.get(&task);
            prop_assert!(
                info.is_some(),
                "service {} queues dead task {}",
                service,
                task
            );
            let info = info.expect("checked");
            prop_assert_eq!(
                info.status,
                TaskStatus::Waiting,
                "queued task {} is not waiting",
                task
            );
            prop_assert_eq!(
                info.service,
                service,
                "task {} queues in a foreign service",
                task
            );
            prop_assert!(waiting_seen.insert(task), "task {} is queued twice", task);
            prop_assert_eq!(
                engine.queue_position(task),
                Some(position as u32 + 1),
                "queue position of {} disagrees with the queue",
                task
            );
            if position > 0 {
                let ahead = &tasks[&waiting[position - 1]];
                prop_assert!(
                    ahead.priority >= info.priority,
                    "service {} queues priority {:?} ahead of {:?}",
                    service,
                    ahead.priority,
                    info.priority
                );
            }
        }
    }
    prop_assert_eq!(
        n_live_total,
        live.len(),
        "a live task belongs to no service"
    );
    for (&task, info) in &tasks {
        if info.status == TaskStatus::Waiting {
            prop_assert!(
                waiting_seen.contains(&task),
                "waiting task {} is in no queue",
                task
            );
        } else {
            prop_assert_eq!(
                engine.queue_position(task),
                None,
                "{:?} task {} has a queue position",
                info.status,
                task
            );
        }
    }

    // Claims hold only tasks that wait (or are scheduled), by live agents.
    for (task, agent) in engine.claims() {
        let status = tasks.get(&task).map(|info| info.status);
        prop_assert!(
            matches!(status, Some(TaskStatus::Waiting | TaskStatus::Scheduled)),
            "task {} is claimed by {} while {:?}",
            task,
            agent,
            status
        );
        prop_assert!(
            agent_infos.contains_key(&agent),
            "claim by unknown agent {}",
            agent
        );
    }

    // Property 3: the engine's own audit, and the explanation of every waiting task.
    prop_assert!(
        engine.is_work_conserving(),
        "a waiting task has an eligible idle agent"
    );
    for (&task, info) in &tasks {
        let explanation = engine.explain(task);
        prop_assert!(
            explanation.is_some(),
            "live task {} cannot be explained",
            task
        );
        let explanation = explanation.expect("checked");
        prop_assert_eq!(explanation.status, info.status);
        if info.status == TaskStatus::Waiting
            && info.distribute
            && engine.claimed_by(task).is_none()
        {
            prop_assert!(
                explanation.eligible.is_empty(),
                "task {} waits while {:?} could take it",
                task,
                explanation.eligible
            );
        }
    }
    Ok(())
}

/// Invariants judged against what the test itself recorded, not against the engine's own indexes:
/// - queue order is priority, then the age of the queue entry (RONA, decline, refresh and lost agents keep it);
/// - no waiting task has an agent that the agent's own reported status says is selectable and that meets every
///   rule of the task (membership, channel room, capabilities, traits, reservation, preferred-only, declines).
fn check_against_model(engine: &Engine, model: &Model) -> Result<(), TestCaseError> {
    let now = engine.now();
    for service in engine.services() {
        let waiting = engine.waiting_tasks(service);
        let mut previous: Option<(Priority, u64, TaskId)> = None;
        for &task in &waiting {
            let info = engine.task_info(task).expect("queued task is live");
            let entry = model.entry_order.get(&task).copied();
            prop_assert!(
                entry.is_some(),
                "task {} queues but was never created",
                task
            );
            let entry = entry.expect("checked");
            if let Some((ahead_priority, ahead_entry, ahead)) = previous {
                prop_assert!(
                    (std::cmp::Reverse(ahead_priority), ahead_entry) < (std::cmp::Reverse(info.priority), entry),
                    "service {} queues {} (priority {:?}, entry {}) ahead of {} (priority {:?}, entry {})",
                    service,
                    ahead,
                    ahead_priority,
                    ahead_entry,
                    task,
                    info.priority,
                    entry
                );
            }
            previous = Some((info.priority, entry, task));
        }
    }

    let agents: Vec<_> = engine
        .agents()
        .into_iter()
        .map(|agent| engine.agent_info(agent).expect("listed agent"))
        .collect();
    for task in engine.live_tasks() {
        let info = engine.task_info(task).expect("live task");
        if info.status != TaskStatus::Waiting
            || !info.distribute
            || engine.claimed_by(task).is_some()
        {
            continue;
        }
        let channel = info.kind.channel();
        for agent in &agents {
            let agent_id = agent.spec.id;
            if !agent.selectable || !agent.memberships.iter().any(|(s, _)| *s == info.service) {
                continue;
            }
            let channel_open = agent.tasks.iter().all(|held| {
                let held = engine.task_info(*held).expect("held task is live");
                held.kind == TaskKind::Block || held.kind.channel() == channel
            });
            let capable = agent.spec.capabilities.contains(info.required_capabilities);
            let skilled =
                info.required_traits.iter().all(|requirement| {
                    agent.spec.traits.iter().any(|(t, level)| {
                        *t == requirement.trait_id && *level >= requirement.min_level
                    })
                });
            let allowed = match info.reserved {
                Some((reserved, until)) if until > now => reserved == agent_id,
                _ => !info.preferred_only || info.preferred_agents.contains(&agent_id),
            };
            let declined = model.declined.contains(&(task, agent_id));
            prop_assert!(
                !(channel_open && capable && skilled && allowed && !declined),
                "task {} ({:?}, {:?}) waits while selectable agent {} could take it",
                task,
                info.kind,
                info.priority,
                agent_id
            );
        }
    }
    Ok(())
}

// ----- properties -------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Random configurations driven by random command sequences keep every invariant after every command,
    /// and a second run of the same commands produces exactly the same events (property 5).
    #[test]
    fn random_command_sequences_keep_the_invariants(plan in plan()) {
        let events = run_plan(&plan, Checking::EveryCommand)?;
        let again = run_plan(&plan, Checking::EventsOnly)?;
        prop_assert_eq!(events.len(), again.len(), "two runs produced different numbers of events");
        for (first, second) in events.iter().zip(&again) {
            prop_assert_eq!(first, second, "two runs diverged");
        }
    }
}

/// A plan whose tasks are all incoming calls: a contact center on the phone, where consultative calls happen.
fn call_center_plan() -> impl Strategy<Value = Plan> {
    plan().prop_map(|mut plan| {
        for step in &mut plan.steps {
            if let Op::CreateTask(task) = &mut step.op {
                task.kind = TaskKind::Call;
                task.direction = Direction::Inbound;
            }
        }
        plan
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// The same, for phone-only contact centers: consultative calls start, merge, hand over and end among
    /// every other command, and the invariants (a consulted agent is busy) hold after each.
    #[test]
    fn call_center_sequences_with_consultations_keep_the_invariants(plan in call_center_plan()) {
        let events = run_plan(&plan, Checking::EveryCommand)?;
        let again = run_plan(&plan, Checking::EventsOnly)?;
        prop_assert_eq!(&events, &again, "two runs diverged");
    }
}

/// A small engine for the focused properties: one or more LongestIdle services without requirements or
/// wrap-up, and agents that serve all of them.
struct Floor {
    engine: Engine,
    now: Time,
    services: Vec<ServiceId>,
    agents: Vec<AgentId>,
    n_tasks: u64,
}

impl Floor {
    fn new(n_services: usize, n_agents: usize) -> Floor {
        let mut engine = Engine::new(EngineConfig::default());
        let now = BASE;
        let services: Vec<ServiceId> = (0..n_services).map(service_id).collect();
        for (index, &service) in services.iter().enumerate() {
            engine
                .upsert_service(now, ServiceSpec::new(service, format!("Service {index}")))
                .expect("valid service");
        }
        let agents: Vec<AgentId> = (0..n_agents).map(agent_id).collect();
        for (index, &agent) in agents.iter().enumerate() {
            let mut spec = AgentSpec::new(agent, format!("Agent {index}"));
            spec.memberships = services.iter().map(|&service| (service, 0)).collect();
            spec.phone_line = Some(line_name(index));
            engine.upsert_agent(now, spec).expect("valid agent");
        }
        engine.drain_events().for_each(drop);
        Floor {
            engine,
            now,
            services,
            agents,
            n_tasks: 0,
        }
    }

    /// Moves the clock a millisecond, so every command happens at its own time but no offer times out.
    fn tick(&mut self) -> Time {
        self.now = self.now.plus(Span::from_millis(1));
        self.now
    }

    fn create(
        &mut self,
        service: ServiceId,
        priority: i32,
        preferred_only: Option<AgentId>,
    ) -> TaskId {
        self.n_tasks += 1;
        let id = task_id(self.n_tasks);
        let mut spec = TaskSpec::new(id, service);
        spec.kind = TaskKind::Call;
        spec.priority = Priority(priority);
        if let Some(agent) = preferred_only {
            spec.preferred_agents = vec![agent];
            spec.preferred_only = true;
        }
        let now = self.tick();
        self.engine.create_task(now, spec).expect("valid task")
    }

    fn offers(&mut self) -> Vec<(TaskId, AgentId)> {
        self.engine
            .drain_events()
            .filter_map(|event| match event.kind {
                EventKind::TaskOffered { task, agent, .. } => Some((task, agent)),
                _ => None,
            })
            .collect()
    }
}

/// What happens to the offer in the place-keeping property.
#[derive(Clone, Copy, Debug)]
enum OfferOutcome {
    /// The agent does not answer before the deadline.
    Rona,
    /// The agent declines.
    Declined,
    /// The agent logs out.
    AgentLost,
    /// The creating system refreshes the task and puts the agent on RONA.
    RefreshedWithRona,
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Property 7: with every agent busy and tasks waiting, each agent freed in turn is offered the waiting task
    /// of highest priority, and among equals the oldest, across all the services it serves.
    #[test]
    fn freed_agents_take_waiting_tasks_by_priority_then_age(
        n_agents in 1usize..=5,
        n_services in 1usize..=2,
        waiting in prop::collection::vec((-3i32..=3, any::<Index>()), 1..=12),
        free_order in prop::collection::vec(any::<Index>(), 1..=8),
    ) {
        let mut floor = Floor::new(n_services, n_agents);
        for agent in floor.agents.clone() {
            let now = floor.tick();
            floor.engine.set_presence(now, agent, Presence::Online).expect("known agent");
        }
        floor.offers();
        // Keep every agent busy with one established call.
        let mut busy: Vec<(AgentId, TaskId)> = Vec::new();
        for _ in 0..n_agents {
            let service = floor.services[0];
            let task = floor.create(service, 0, None);
            let agent = floor.engine.task_info(task).expect("live").agent;
            prop_assert!(agent.is_some(), "an idle agent was not offered the first calls");
            let agent = agent.expect("checked");
            prop_assert!(busy.iter().all(|(other, _)| *other != agent), "agent {} got two calls", agent);
            let now = floor.tick();
            floor.engine.establish(now, task, Some(agent)).expect("offered to it");
            busy.push((agent, task));
        }
        floor.offers();
        let mut queued: Vec<(i32, usize, TaskId)> = Vec::new();
        for (creation, (priority, service)) in waiting.iter().enumerate() {
            let service = floor.services[service.index(n_services)];
            let task = floor.create(service, *priority, None);
            prop_assert_eq!(floor.engine.task_info(task).expect("live").status, TaskStatus::Waiting);
            queued.push((*priority, creation, task));
        }
        prop_assert!(floor.offers().is_empty(), "a busy agent was offered a task");
        check_invariants(&floor.engine)?;
        queued.sort_by_key(|&(priority, creation, _)| (std::cmp::Reverse(priority), creation));

        for (turn, &(priority, _, expected)) in queued.iter().enumerate() {
            let pick = free_order[turn % free_order.len()].index(busy.len());
            let (agent, finished) = busy.remove(pick);
            let now = floor.tick();
            floor.engine.terminate(now, finished, TerminationReason::Completed).expect("live task");
            let offers = floor.offers();
            prop_assert_eq!(
                &offers,
                &vec![(expected, agent)],
                "turn {}: freed agent {} should get {} (priority {})",
                turn,
                agent,
                expected,
                priority
            );
            let selection = floor.engine.task_info(expected).expect("live").selection;
            prop_assert_eq!(selection, Some(Selection::Strategy(RoutingStrategy::LongestIdle)));
            check_invariants(&floor.engine)?;
            let now = floor.tick();
            floor.engine.establish(now, expected, Some(agent)).expect("offered to it");
            prop_assert!(floor.offers().is_empty(), "a busy agent was offered a task");
            busy.push((agent, expected));
        }
    }

    /// Property 8: a task whose offer comes back (RONA, decline, lost agent, refresh) returns to exactly the
    /// place its priority and original age give it among the other waiting tasks, including tasks that arrived
    /// or changed priority while it was offered.
    #[test]
    fn returned_offers_keep_their_place(
        initial in prop::collection::vec((-2i32..=2, prop::bool::weighted(0.3)), 1..=8),
        later in prop::collection::vec(-2i32..=2, 0..=6),
        reprioritized in prop::collection::vec((any::<Index>(), -2i32..=2), 0..=3),
        outcome in prop_oneof![
            Just(OfferOutcome::Rona),
            Just(OfferOutcome::Declined),
            Just(OfferOutcome::AgentLost),
            Just(OfferOutcome::RefreshedWithRona),
        ],
    ) {
        // Agent 0 takes the offer; agent 1 stays offline, so tasks restricted to it wait all along and the
        // returned task is not always the head of the queue.
        let mut floor = Floor::new(1, 2);
        let service = floor.services[0];
        let (taker, bystander) = (floor.agents[0], floor.agents[1]);
        // (task, creation order): the age the queue must respect.
        let mut created: Vec<(TaskId, usize)> = Vec::new();
        let mut restricted = BTreeSet::new();
        for (creation, &(priority, for_bystander)) in initial.iter().enumerate() {
            // The first task is always open to the taker, so there is an offer to return.
            let for_bystander = for_bystander && creation > 0;
            let task = floor.create(service, priority, for_bystander.then_some(bystander));
            if for_bystander {
                restricted.insert(task);
            }
            created.push((task, creation));
        }
        let priority_of = |floor: &Floor, task: TaskId| floor.engine.task_info(task).expect("live").priority;
        let expected_head = created
            .iter()
            .filter(|(task, _)| !restricted.contains(task))
            .min_by_key(|(task, creation)| (std::cmp::Reverse(priority_of(&floor, *task)), *creation))
            .map(|(task, _)| *task)
            .expect("the first task is open");
        floor.offers();
        let now = floor.tick();
        floor.engine.login(now, taker, &line_name(0)).expect("own line");
        let offers = floor.offers();
        prop_assert_eq!(&offers, &vec![(expected_head, taker)], "the taker should get the best open task");
        let offered = expected_head;

        for &priority in &later {
            let task = floor.create(service, priority, None);
            created.push((task, created.len()));
        }
        for &(pick, priority) in &reprioritized {
            let waiting = floor.engine.waiting_tasks(service);
            if waiting.is_empty() {
                break;
            }
            let task = waiting[pick.index(waiting.len())];
            let now = floor.tick();
            floor.engine.set_priority(now, task, Priority(priority)).expect("waiting task");
        }
        check_invariants(&floor.engine)?;
        floor.offers();

        let expected_reason = match outcome {
            OfferOutcome::Rona => {
                let deadline = floor.engine.task_info(offered).expect("live").offer_deadline;
                prop_assert!(deadline.is_some(), "the default configuration times offers out");
                floor.now = deadline.expect("checked");
                floor.engine.advance(floor.now);
                QueueReason::Rona
            }
            OfferOutcome::Declined => {
                let now = floor.tick();
                floor.engine.decline(now, offered, taker).expect("offered to it");
                QueueReason::Declined
            }
            OfferOutcome::AgentLost => {
                let now = floor.tick();
                floor.engine.logout(now, taker).expect("known agent");
                QueueReason::AgentLost
            }
            OfferOutcome::RefreshedWithRona => {
                let now = floor.tick();
                floor.engine.refresh(now, offered, true).expect("offered task");
                QueueReason::Refreshed
            }
        };
        let events: Vec<Event> = floor.engine.drain_events().collect();
        let requeued = events.iter().any(|event| {
            event.kind
                == EventKind::TaskQueued {
                    task: offered,
                    service,
                    reason: expected_reason,
                }
        });
        prop_assert!(requeued, "no {:?} re-queue event for {}: {:?}", expected_reason, offered, events);
        check_invariants(&floor.engine)?;
        prop_assert_eq!(floor.engine.task_info(offered).expect("live").status, TaskStatus::Waiting);

        // The whole queue, and the returned task in particular, must be in (priority, original age) order.
        let waiting = floor.engine.waiting_tasks(service);
        let mut expected: Vec<(TaskId, usize)> = created
            .iter()
            .copied()
            .filter(|(task, _)| waiting.contains(task))
            .collect();
        expected.sort_by_key(|&(task, creation)| (std::cmp::Reverse(priority_of(&floor, task)), creation));
        let expected: Vec<TaskId> = expected.into_iter().map(|(task, _)| task).collect();
        prop_assert_eq!(&waiting, &expected, "queue order after the offer came back");
        let place = expected.iter().position(|&task| task == offered).expect("it waits") as u32 + 1;
        prop_assert_eq!(floor.engine.queue_position(offered), Some(place));

        // A declining agent stays free and takes the best other open task at once.
        if let OfferOutcome::Declined = outcome {
            let best_other = created
                .iter()
                .filter(|(task, _)| *task != offered && !restricted.contains(task))
                .filter(|(task, _)| floor.engine.task_info(*task).is_some())
                .min_by_key(|(task, creation)| (std::cmp::Reverse(priority_of(&floor, *task)), *creation))
                .map(|(task, _)| *task);
            let offered_now: Vec<(TaskId, AgentId)> = events
                .iter()
                .filter_map(|event| match event.kind {
                    EventKind::TaskOffered { task, agent, .. } => Some((task, agent)),
                    _ => None,
                })
                .collect();
            prop_assert_eq!(offered_now, best_other.map(|task| vec![(task, taker)]).unwrap_or_default());
        }
    }
}

/// True when following overflow targets from some service through services that all wait zero leads back to
/// it: a task there would overflow round the loop forever within one instant.
fn has_zero_wait_loop(graph: &[(Option<Span>, Option<usize>)]) -> bool {
    (0..graph.len()).any(|start| {
        let mut node = start;
        for _ in 0..graph.len() {
            match graph[node] {
                (Some(Span::ZERO), Some(next)) if next == start => return true,
                (Some(Span::ZERO), Some(next)) => node = next,
                _ => return false,
            }
        }
        false
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Overflow targets are accepted exactly when they create no loop that a task would go round without ever
    /// waiting (nor target the service itself), and with any accepted configuration time moves on: advancing
    /// returns, and every task ends or keeps waiting somewhere.
    #[test]
    fn overflow_loops_without_wait_are_refused(
        services in prop::collection::vec(
            (prop::option::weighted(0.8, prop_oneof![2 => Just(0i64), 1 => 1i64..=30]), any::<Index>()),
            2..=4,
        ),
        arrivals in prop::collection::vec(any::<Index>(), 1..=6),
    ) {
        let n_services = services.len();
        let mut engine = Engine::new(EngineConfig::default());
        let mut now = BASE;
        let specs: Vec<ServiceSpec> = services
            .iter()
            .enumerate()
            .map(|(index, (max_wait_secs, _))| {
                let mut spec = ServiceSpec::new(service_id(index), format!("Service {index}"));
                spec.max_wait = max_wait_secs.map(Span::from_secs);
                spec
            })
            .collect();
        for spec in &specs {
            engine.upsert_service(now, spec.clone()).expect("valid service");
        }
        for (index, (_, target)) in services.iter().enumerate() {
            let target = target.index(n_services);
            let mut spec = specs[index].clone();
            spec.overflow_to = Some(service_id(target));
            let result = engine.upsert_service(now, spec);
            // The configuration as the engine holds it, with this target as if it were accepted.
            let mut graph: Vec<(Option<Span>, Option<usize>)> = (0..n_services)
                .map(|other| {
                    let info = engine.service_info(service_id(other)).expect("service exists");
                    let overflow = info
                        .spec
                        .overflow_to
                        .map(|to| (0..n_services).position(|s| service_id(s) == to).expect("known target"));
                    (info.spec.max_wait, overflow)
                })
                .collect();
            graph[index].1 = Some(target);
            let must_refuse = target == index || has_zero_wait_loop(&graph);
            prop_assert_eq!(
                result.is_err(),
                must_refuse,
                "overflow {} -> {} gave {:?} with configuration {:?}",
                index,
                target,
                result,
                graph
            );
        }
        for (number, arrival) in arrivals.iter().enumerate() {
            now = now.plus(Span::from_secs(1));
            let service = service_id(arrival.index(n_services));
            engine
                .create_task(now, TaskSpec::new(task_id(number as u64 + 1), service))
                .expect("valid task");
        }
        for _ in 0..5 {
            now = now.plus(Span::from_secs(20));
            engine.advance(now);
            check_invariants(&engine)?;
        }
    }
}

// ----- regressions found by the properties above ------------------------------------------------------------

/// Establishing a waiting task directly on a named agent once left the task in its queue as well, where a
/// second agent could be offered it while the first handled it.
#[test]
fn direct_establish_takes_the_task_out_of_its_queue() {
    let mut floor = Floor::new(1, 2);
    let service = floor.services[0];
    let (first, second) = (floor.agents[0], floor.agents[1]);
    let task = floor.create(service, 0, None);
    assert_eq!(floor.engine.waiting_tasks(service), vec![task]);
    let now = floor.tick();
    floor
        .engine
        .establish(now, task, Some(first))
        .expect("a waiting task can be established on a named agent");
    assert_eq!(
        floor.engine.task_info(task).expect("live").agent,
        Some(first)
    );
    assert!(floor.engine.waiting_tasks(service).is_empty());
    assert_eq!(floor.offers(), vec![(task, first)]);
    let now = floor.tick();
    floor
        .engine
        .set_presence(now, second, Presence::Online)
        .expect("known agent");
    assert!(
        floor.offers().is_empty(),
        "the established task was offered again"
    );
    check_invariants(&floor.engine).expect("invariants hold");
}

/// A block task created through `create_task` was once queued and offered like a call; ending it then
/// decremented a block count that was never incremented.
#[test]
fn block_tasks_are_never_queued() {
    let mut floor = Floor::new(1, 1);
    let agent = floor.agents[0];
    let now = floor.tick();
    floor
        .engine
        .set_presence(now, agent, Presence::Online)
        .expect("known agent");
    let mut spec = TaskSpec::new(task_id(1), floor.services[0]);
    spec.kind = TaskKind::Block;
    let now = floor.tick();
    assert!(floor.engine.create_task(now, spec).is_err());
    assert!(floor.engine.live_tasks().is_empty());
    let now = floor.tick();
    floor
        .engine
        .add_block_task(now, agent, task_id(2))
        .expect("the way to block an agent");
    let now = floor.tick();
    floor
        .engine
        .terminate(now, task_id(2), TerminationReason::Completed)
        .expect("live block task");
    check_invariants(&floor.engine).expect("invariants hold");
}
