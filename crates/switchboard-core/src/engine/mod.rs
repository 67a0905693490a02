//! The engine of one tenant: its state, the commands that change it, and the reads that inspect it.
//!
//! Every command takes the caller's `now`, first fires the timers due by then, applies the change, routes what
//! the change made routable, and leaves the resulting events in the outbox (`drain_events`).

mod claims;
mod consultation;
mod routing;
mod snapshot;
mod status;
mod timers;

use std::collections::{BTreeMap, BTreeSet};

use rustc_hash::FxHashMap;

use crate::error::{AgentError, ConfigError, TaskError};
use crate::event::{Event, EventKind};
use crate::spec::{
    AgentSpec, EngineConfig, PresenceSettings, ProfileSpec, ServiceSpec, TaskSpec, INITIAL_PRESENCE,
};
use crate::types::{
    AgentId, AgentState, Capabilities, Channel, Consultation, ConsultationEnd, Direction, Level,
    NotSelectableReason, Presence, Priority, ProfileId, QueueReason, Selection, ServiceId, Span,
    TaskId, TaskKind, TaskStatus, TerminationReason, Time, TraitId, TraitRequirement,
};

use timers::LifetimeQueue;

pub use snapshot::{
    AgentSnapshot, MembershipSnapshot, RestoreError, ServiceSnapshot, Snapshot, TaskSnapshot,
};
pub use status::{AgentInfo, EligibleAgent, Explanation, Ineligibility, ServiceInfo, TaskInfo};

pub(crate) type AgentIdx = u32;
pub(crate) type ServiceIdx = u32;
pub(crate) type TaskIdx = u32;

/// Queue order of a waiting task: higher priority first, then the earlier queue entry.
/// A task that returns to the queue (RONA, decline, refresh) keeps its rank, and so its place.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Rank {
    neg_priority: i64,
    seq: u64,
}

impl Rank {
    fn new(priority: Priority, seq: u64) -> Rank {
        Rank {
            neg_priority: -(priority.0 as i64),
            seq,
        }
    }
}

/// An agent's entry in a service's set of available agents, ordered so that the first entry is the agent the
/// service's strategy picks: lowest penalty tier, then least loaded, then the strategy's keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct AvailKey {
    penalty: u32,
    load: u16,
    primary: u64,
    secondary: u64,
    agent: AgentIdx,
    /// `None` when the agent is idle (any channel), else the one channel it can take more of. Never decides the
    /// order, since `agent` is unique.
    channel: Option<Channel>,
}

/// The extra requirements that split a service's waiting tasks into classes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ClassKey {
    channel: Channel,
    capabilities: Capabilities,
    traits: Vec<TraitRequirement>,
}

pub(crate) struct ClassQueue {
    key: ClassKey,
    /// The class's routable tasks in queue order, each with whether any agent declined it. A task's declines
    /// change only while it is out of the queue, and the flag spares a freed agent reading every head task.
    queue: BTreeMap<Rank, (TaskIdx, bool)>,
    /// Position in the service's `nonempty_classes`, when the queue is not empty.
    nonempty_pos: Option<usize>,
}

pub(crate) struct ServiceState {
    spec: ServiceSpec,
    number: u32,
    overflow_to: Option<ServiceIdx>,
    available: BTreeSet<AvailKey>,
    classes: Vec<ClassQueue>,
    class_index: FxHashMap<ClassKey, u32>,
    nonempty_classes: Vec<u32>,
    /// Every waiting task of the service, in queue order (routable, reserved, preferred-only and parked alike).
    waiting: BTreeMap<Rank, TaskIdx>,
    /// Number of waiting tasks per priority, to compute the initial queue position without a scan.
    waiting_by_priority: BTreeMap<i32, u32>,
    /// Agents serving the service (explicit or responsibility membership, and meeting its required traits).
    members: BTreeSet<AgentIdx>,
    /// Live tasks of the service in any state.
    n_live: u32,
}

impl AvailKey {
    /// The key without its agent, as the agent's membership keeps it.
    fn entry(self) -> AvailEntry {
        AvailEntry {
            penalty: self.penalty,
            load: self.load,
            primary: self.primary,
            secondary: self.secondary,
            channel: self.channel,
        }
    }
}

/// An `AvailKey` less its agent: what a membership records of the key it has in its service's available set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct AvailEntry {
    penalty: u32,
    load: u16,
    primary: u64,
    secondary: u64,
    channel: Option<Channel>,
}

/// One line of 64 bytes, aligned: an agent's memberships, read whenever its availability changes, then span as
/// many cache lines as there are memberships.
#[derive(Clone, Debug)]
#[repr(align(64))]
pub(crate) struct Membership {
    service: ServiceIdx,
    penalty: u32,
    explicit: bool,
    responsibility: Level,
    level_sum: u32,
    last_offered: u64,
    handled: u64,
    talk_time: i64,
    /// The membership's entry in the service's available set, if it has one.
    avail: Option<AvailEntry>,
}

impl Membership {
    /// The membership's key in the service's available set, if it has one.
    fn avail_key(&self, agent: AgentIdx) -> Option<AvailKey> {
        self.avail.map(|entry| AvailKey {
            penalty: entry.penalty,
            load: entry.load,
            primary: entry.primary,
            secondary: entry.secondary,
            agent,
            channel: entry.channel,
        })
    }
}

/// Aligned to cache lines, so that an agent's routing state spans as few of them as its size allows (the slab
/// of agents is one large allocation, which the allocator would otherwise start mid-line).
#[repr(align(64))]
pub(crate) struct AgentStateData {
    /// Configuration as last upserted. Boxed, and the few fields routing reads on every command copied below,
    /// so that an agent's routing state spans fewer cache lines.
    spec: Box<AgentSpec>,
    /// `spec.id`.
    id: AgentId,
    /// `spec.capabilities`.
    capabilities: Capabilities,
    /// `spec.capacity` of every channel, by `Channel::index`.
    capacities: [u16; Channel::COUNT],
    /// `spec.presence_settings`.
    presence_settings: PresenceSettings,
    number: u32,
    traits: Box<[(TraitId, Level)]>,
    current_profile: Option<ProfileId>,
    memberships: Vec<Membership>,
    presence: Presence,
    // The strings below and `traits` are boxed rather than `String`/`Vec`: they never grow in place, and the
    // saved bytes keep the routing state within four cache lines.
    line: Option<Box<str>>,
    blocked: bool,
    absent: Option<Box<str>>,
    paused: Option<Box<str>>,
    rona: bool,
    wrapup_until: Option<Time>,
    tasks: HeldTasks,
    channel: Option<Channel>,
    load: u16,
    /// Tasks offered and not yet answered (at most one at a time).
    n_offered: u16,
    n_block_tasks: u16,
    /// Consultative calls reaching this agent (at most one): busy for routing meanwhile.
    n_consultations: u16,
    /// When the agent last became free for new work (the longest-idle key).
    idle_since: Time,
    /// Whether the agent was fully idle and selectable at the last availability sync.
    was_idle: bool,
    status: (AgentState, bool, Option<NotSelectableReason>),
    status_since: Time,
    /// Tasks restricted to this agent (reserved for it, or preferred-only naming it) that wait.
    personal: BTreeMap<Rank, TaskIdx>,
    dirty: bool,
}

/// The tasks an agent holds, in the order they came, a removal moving the last into the gap (as
/// `Vec::swap_remove`). An agent holds a few at most, so they are kept inline in its state, sparing a separate
/// allocation on every offer and completion; a longer list moves to the heap.
pub(crate) enum HeldTasks {
    Inline { len: u8, items: [TaskIdx; 4] },
    Heap(Vec<TaskIdx>),
}

impl Default for HeldTasks {
    fn default() -> HeldTasks {
        HeldTasks::Inline {
            len: 0,
            items: [0; 4],
        }
    }
}

impl std::ops::Deref for HeldTasks {
    type Target = [TaskIdx];

    fn deref(&self) -> &[TaskIdx] {
        match self {
            HeldTasks::Inline { len, items } => &items[..*len as usize],
            HeldTasks::Heap(items) => items,
        }
    }
}

impl HeldTasks {
    fn push(&mut self, task_idx: TaskIdx) {
        match self {
            HeldTasks::Inline { len, items } if (*len as usize) < items.len() => {
                items[*len as usize] = task_idx;
                *len += 1;
            }
            HeldTasks::Inline { len, items } => {
                let mut spilled = items[..*len as usize].to_vec();
                spilled.push(task_idx);
                *self = HeldTasks::Heap(spilled);
            }
            HeldTasks::Heap(items) => items.push(task_idx),
        }
    }

    fn swap_remove(&mut self, pos: usize) {
        match self {
            HeldTasks::Inline { len, items } => {
                let last = *len as usize - 1;
                assert!(pos <= last, "removing a held task that exists");
                items[pos] = items[last];
                *len -= 1;
            }
            HeldTasks::Heap(items) => {
                items.swap_remove(pos);
            }
        }
    }
}

/// Keeps room for a quarter more entries in a task index before an insert, so the table stays at most about four
/// fifths full. Tasks come and go all the time: in a nearly full table a removal leaves a tombstone, and once
/// tombstones use up the free room the whole table is rehashed in place (every few thousand tasks at 100,000 live
/// tasks, touching the whole table). With this headroom a removal almost always frees its slot instead.
fn reserve_headroom<K: Eq + std::hash::Hash, V>(map: &mut FxHashMap<K, V>) {
    map.reserve(map.len() / 4 + 1);
}

/// `AgentSpec::capacity` of every channel, by `Channel::index`.
fn capacities_of(spec: &AgentSpec) -> [u16; Channel::COUNT] {
    let mut capacities = [0; Channel::COUNT];
    for channel in [
        Channel::Voice,
        Channel::Chat,
        Channel::Email,
        Channel::External,
        Channel::Block,
    ] {
        capacities[channel.index()] = spec.capacity(channel);
    }
    capacities
}

impl AgentStateData {
    /// Routing state of a new agent: logged out, idle since `now`, no memberships yet.
    fn new(
        spec: AgentSpec,
        number: u32,
        traits: Vec<(TraitId, Level)>,
        current_profile: Option<ProfileId>,
        now: Time,
    ) -> AgentStateData {
        AgentStateData {
            id: spec.id,
            capabilities: spec.capabilities,
            capacities: capacities_of(&spec),
            presence_settings: spec.presence_settings,
            spec: Box::new(spec),
            number,
            traits: traits.into_boxed_slice(),
            current_profile,
            memberships: Vec::new(),
            presence: INITIAL_PRESENCE,
            line: None,
            blocked: false,
            absent: None,
            paused: None,
            rona: false,
            wrapup_until: None,
            tasks: HeldTasks::default(),
            channel: None,
            load: 0,
            n_offered: 0,
            n_block_tasks: 0,
            n_consultations: 0,
            idle_since: now,
            was_idle: false,
            status: (
                AgentState::LoggedOut,
                false,
                Some(NotSelectableReason::Offline),
            ),
            status_since: now,
            personal: BTreeMap::new(),
            dirty: false,
        }
    }

    /// Replaces the configuration, keeping the copies routing reads in step.
    fn set_spec(&mut self, spec: AgentSpec) {
        self.id = spec.id;
        self.capabilities = spec.capabilities;
        self.capacities = capacities_of(&spec);
        self.presence_settings = spec.presence_settings;
        *self.spec = spec;
    }

    /// The agent's capacity on a channel (`AgentSpec::capacity`).
    fn capacity(&self, channel: Channel) -> u16 {
        self.capacities[channel.index()]
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Location {
    /// Not waiting.
    Nowhere,
    /// In its service's class queue: any eligible member may take it.
    Class,
    /// In the personal queues of its candidate agents only.
    Personal,
    /// Waiting but never offered (`DistributeToAgent` false).
    Parked,
}

/// Aligned to cache lines, like `AgentStateData`, and kept within five of them: the strings and lists are boxed
/// (none grows in place; `declined` is rebuilt on the rare decline), and the priority is read from the rank.
#[repr(align(64))]
pub(crate) struct TaskState {
    id: TaskId,
    number: u64,
    external_id: Option<Box<str>>,
    kind: TaskKind,
    direction: Direction,
    service: ServiceIdx,
    class: u32,
    customer: Box<str>,
    rank: Rank,
    status: TaskStatus,
    location: Location,
    agent: Option<AgentIdx>,
    last_agent: Option<AgentIdx>,
    selection: Option<Selection>,
    offer_deadline: Option<Time>,
    preferred: Box<[AgentIdx]>,
    preferred_only: bool,
    /// The reservation (`reserved()`), kept as three plain fields: an `Option<(AgentIdx, Time)>` would take
    /// eight bytes more and a sixth cache line.
    is_reserved: bool,
    reserved_agent: AgentIdx,
    reserved_until: Time,
    required_capabilities: Capabilities,
    // The task's own trait requirements are its class's key (`Engine::task_traits`), not stored twice.
    distribute: bool,
    rona_timeout: Option<Span>,
    context: Box<[(String, String)]>,
    not_before: Option<Time>,
    declined: Box<[AgentIdx]>,
    created: Time,
    queue_started: Time,
    offered_at: Option<Time>,
    connected_at: Option<Time>,
    last_polled: Time,
    lifetime_start: Time,
    initial_position: u32,
    n_offers: u32,
    /// The time under which the task sits in the deadline index, if any.
    timer_at: Option<Time>,
}

impl TaskState {
    /// The task's priority, which its rank holds.
    fn priority(&self) -> Priority {
        Priority(-self.rank.neg_priority as i32)
    }

    /// The agent the task is reserved for, and the end of the reservation window.
    fn reserved(&self) -> Option<(AgentIdx, Time)> {
        self.is_reserved
            .then_some((self.reserved_agent, self.reserved_until))
    }

    fn set_reserved(&mut self, reserved: Option<(AgentIdx, Time)>) {
        self.is_reserved = reserved.is_some();
        (self.reserved_agent, self.reserved_until) = reserved.unwrap_or((0, Time::ZERO));
    }
}

/// Number of task slots in one chunk of `TaskSlots`.
const TASK_CHUNK: usize = 256;

/// The task slots, indexed by `TaskIdx`, in chunks that never move. `TaskState` is aligned to cache lines, and
/// the allocator cannot grow an over-aligned buffer in place: one `Vec` would copy every task each time it
/// doubled, with both copies resident meanwhile (hundreds of MiB at a million tasks).
#[derive(Default)]
pub(crate) struct TaskSlots {
    chunks: Vec<Box<[Option<TaskState>; TASK_CHUNK]>>,
    len: usize,
}

impl TaskSlots {
    /// Number of slots, live or free.
    fn len(&self) -> usize {
        self.len
    }

    /// Adds a slot at the end.
    fn push(&mut self, slot: Option<TaskState>) {
        if self.len == self.chunks.len() * TASK_CHUNK {
            let chunk: Box<[Option<TaskState>]> = (0..TASK_CHUNK).map(|_| None).collect();
            self.chunks
                .push(chunk.try_into().ok().expect("a chunk has TASK_CHUNK slots"));
        }
        let index = self.len;
        self.len += 1;
        self[index] = slot;
    }

    /// Every slot in index order.
    fn iter(&self) -> impl Iterator<Item = &Option<TaskState>> + '_ {
        self.chunks
            .iter()
            .flat_map(|chunk| chunk.iter())
            .take(self.len)
    }
}

impl std::ops::Index<usize> for TaskSlots {
    type Output = Option<TaskState>;

    fn index(&self, slot: usize) -> &Option<TaskState> {
        // A slot past `len` in the last chunk reads as free, like the engine's free slots.
        &self.chunks[slot / TASK_CHUNK][slot % TASK_CHUNK]
    }
}

impl std::ops::IndexMut<usize> for TaskSlots {
    fn index_mut(&mut self, slot: usize) -> &mut Option<TaskState> {
        &mut self.chunks[slot / TASK_CHUNK][slot % TASK_CHUNK]
    }
}

/// The routing engine of one tenant. Pure: no I/O, no clock, no threads; the same commands with the same `now`
/// values always produce the same events.
pub struct Engine {
    config: EngineConfig,
    now: Time,
    event_seq: u64,
    rank_seq: u64,
    offer_counter: u64,
    rng_state: u64,
    next_service_number: u32,
    next_agent_number: u32,
    next_task_number: u64,
    trait_names: Vec<String>,
    trait_index: FxHashMap<String, TraitId>,
    profiles: Vec<ProfileSpec>,
    profile_index: FxHashMap<ProfileId, usize>,
    services: Vec<Option<ServiceState>>,
    service_index: FxHashMap<ServiceId, ServiceIdx>,
    service_numbers: FxHashMap<u32, ServiceIdx>,
    services_by_trait: FxHashMap<TraitId, Vec<ServiceIdx>>,
    agents: Vec<Option<AgentStateData>>,
    agent_index: FxHashMap<AgentId, AgentIdx>,
    agent_numbers: FxHashMap<u32, AgentIdx>,
    /// Lower-cased SIP URI, UPN and e-mail of every agent.
    agent_identifiers: FxHashMap<String, AgentIdx>,
    tasks: TaskSlots,
    free_tasks: Vec<TaskIdx>,
    task_index: FxHashMap<TaskId, TaskIdx>,
    task_by_external: FxHashMap<String, TaskIdx>,
    task_by_number: FxHashMap<u64, TaskIdx>,
    /// Dialect attributes of the few tasks that carry any (a side table keeps the hot task record small).
    task_attributes: FxHashMap<TaskIdx, Box<[(String, String)]>>,
    /// Consultative calls of the few tasks that have one, by task.
    consultations: FxHashMap<TaskIdx, Consultation>,
    /// Claims (`claims.rs`): tasks an agent took from a list, by task.
    claims: FxHashMap<TaskIdx, AgentIdx>,
    n_live_tasks: usize,
    /// Live tasks under their earliest deadline other than their lifetime.
    task_timers: BTreeSet<(Time, TaskIdx)>,
    /// Live tasks under their lifetime deadline.
    lifetimes: LifetimeQueue,
    agent_timers: BTreeSet<(Time, AgentIdx)>,
    dirty_agents: Vec<AgentIdx>,
    events: Vec<Event>,
}

impl Engine {
    /// An empty engine for one tenant.
    pub fn new(config: EngineConfig) -> Engine {
        let rng_state = config.random_seed ^ 0x9E37_79B9_7F4A_7C15;
        Engine {
            config,
            now: Time::ZERO,
            event_seq: 0,
            rank_seq: 0,
            offer_counter: 0,
            rng_state,
            next_service_number: 1,
            next_agent_number: 1,
            next_task_number: 1,
            trait_names: Vec::new(),
            trait_index: FxHashMap::default(),
            profiles: Vec::new(),
            profile_index: FxHashMap::default(),
            services: Vec::new(),
            service_index: FxHashMap::default(),
            service_numbers: FxHashMap::default(),
            services_by_trait: FxHashMap::default(),
            agents: Vec::new(),
            agent_index: FxHashMap::default(),
            agent_numbers: FxHashMap::default(),
            agent_identifiers: FxHashMap::default(),
            tasks: TaskSlots::default(),
            free_tasks: Vec::new(),
            task_index: FxHashMap::default(),
            task_by_external: FxHashMap::default(),
            task_by_number: FxHashMap::default(),
            task_attributes: FxHashMap::default(),
            consultations: FxHashMap::default(),
            claims: FxHashMap::default(),
            n_live_tasks: 0,
            task_timers: BTreeSet::new(),
            lifetimes: LifetimeQueue::default(),
            agent_timers: BTreeSet::new(),
            dirty_agents: Vec::new(),
            events: Vec::new(),
        }
    }

    /// The tenant settings.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Changes the tenant settings; timers of live tasks follow the new values from the next command on.
    pub fn set_config(&mut self, now: Time, config: EngineConfig) {
        self.begin(now);
        self.config = config;
        self.refile_lifetimes();
        let live: Vec<TaskIdx> = self.live_task_indices().collect();
        for task_idx in live {
            self.reschedule_task(task_idx);
        }
        self.settle();
    }

    /// The latest `now` the engine has seen.
    pub fn now(&self) -> Time {
        self.now
    }

    /// Sequence number of the last event emitted (0 before any).
    pub fn last_event_seq(&self) -> u64 {
        self.event_seq
    }

    /// Takes the events produced since the last call, in sequence order.
    pub fn drain_events(&mut self) -> std::vec::Drain<'_, Event> {
        self.events.drain(..)
    }

    /// Events produced since the last drain, without taking them.
    pub fn pending_events(&self) -> &[Event] {
        &self.events
    }

    /// Returns the id of a trait node name, interning it on first use.
    pub fn intern_trait(&mut self, name: &str) -> TraitId {
        if let Some(id) = self.trait_index.get(name) {
            return *id;
        }
        let id = TraitId(self.trait_names.len() as u32);
        self.trait_names.push(name.to_string());
        self.trait_index.insert(name.to_string(), id);
        id
    }

    /// The id of a trait node name, if it was interned.
    pub fn trait_id(&self, name: &str) -> Option<TraitId> {
        self.trait_index.get(name).copied()
    }

    /// The name of an interned trait node.
    pub fn trait_name(&self, id: TraitId) -> &str {
        self.trait_names
            .get(id.0 as usize)
            .map(String::as_str)
            .unwrap_or("?")
    }

    // ----- configuration -------------------------------------------------------------------------------------

    /// Creates or updates a responsibility profile.
    pub fn upsert_profile(&mut self, now: Time, spec: ProfileSpec) {
        self.begin(now);
        let id = spec.id;
        let off_duty_changed = match self.profile_index.get(&id) {
            Some(&pos) => {
                let changed = self.profiles[pos].off_duty != spec.off_duty;
                self.profiles[pos] = spec;
                changed
            }
            None => {
                self.profile_index.insert(id, self.profiles.len());
                self.profiles.push(spec);
                false
            }
        };
        self.emit(EventKind::ProfileUpserted { profile: id });
        if off_duty_changed {
            let affected: Vec<AgentIdx> = self
                .agent_indices()
                .filter(|&a| self.agent(a).current_profile == Some(id))
                .collect();
            for agent_idx in affected {
                self.agent_changed(agent_idx);
            }
        }
        self.settle();
    }

    /// The tenant's profiles.
    pub fn profiles(&self) -> &[ProfileSpec] {
        &self.profiles
    }

    /// Creates or updates a service. Updating keeps its queue; members and requirements are re-evaluated.
    pub fn upsert_service(&mut self, now: Time, spec: ServiceSpec) -> Result<(), ConfigError> {
        self.begin(now);
        if spec.required_traits.iter().any(|r| r.min_level == 0) {
            return Err(ConfigError::ZeroLevel);
        }
        let overflow_to = match spec.overflow_to {
            None => None,
            Some(target) if target == spec.id => return Err(ConfigError::InvalidOverflow(target)),
            Some(target) => Some(
                *self
                    .service_index
                    .get(&target)
                    .ok_or(ConfigError::InvalidOverflow(target))?,
            ),
        };
        // A task overflows as soon as its maximum wait is over. Around a loop of services that all wait zero it
        // would bounce forever within one instant and the next command would never return, so such a loop is
        // refused. Existing services hold no such loop, so the walk ends within one pass over them.
        if let (Some(Span::ZERO), Some(first)) = (spec.max_wait, overflow_to) {
            let mut next = first;
            for _ in 0..self.services.len() {
                let service = self.service(next);
                if service.spec.id == spec.id {
                    return Err(ConfigError::InvalidOverflow(self.service(first).spec.id));
                }
                match (service.spec.max_wait, service.overflow_to) {
                    (Some(Span::ZERO), Some(after)) => next = after,
                    _ => break,
                }
            }
        }
        let existing = self.service_index.get(&spec.id).copied();
        let number = match (spec.number, existing) {
            (Some(number), _) => {
                if let Some(&other) = self.service_numbers.get(&number) {
                    if Some(other) != existing {
                        return Err(ConfigError::NumberInUse(number as u64));
                    }
                }
                number
            }
            (None, Some(service_idx)) => self.service(service_idx).number,
            (None, None) => self.fresh_service_number(),
        };
        let mut spec = spec;
        spec.required_traits.sort();
        spec.required_traits.dedup_by_key(|r| r.trait_id);
        let service_idx = match existing {
            Some(service_idx) => {
                let old_number = self.service(service_idx).number;
                self.service_numbers.remove(&old_number);
                let old_traits = self.service(service_idx).spec.required_traits.clone();
                for requirement in &old_traits {
                    if let Some(list) = self.services_by_trait.get_mut(&requirement.trait_id) {
                        list.retain(|&s| s != service_idx);
                    }
                }
                let service = self.service_mut(service_idx);
                service.spec = spec;
                service.number = number;
                service.overflow_to = overflow_to;
                service_idx
            }
            None => {
                let service_idx = self.services.len() as ServiceIdx;
                self.services.push(Some(ServiceState {
                    spec,
                    number,
                    overflow_to,
                    available: BTreeSet::new(),
                    classes: Vec::new(),
                    class_index: FxHashMap::default(),
                    nonempty_classes: Vec::new(),
                    waiting: BTreeMap::new(),
                    waiting_by_priority: BTreeMap::new(),
                    members: BTreeSet::new(),
                    n_live: 0,
                }));
                self.service_index
                    .insert(self.service(service_idx).spec.id, service_idx);
                service_idx
            }
        };
        self.service_numbers.insert(number, service_idx);
        let traits: Vec<TraitId> = self
            .service(service_idx)
            .spec
            .required_traits
            .iter()
            .map(|r| r.trait_id)
            .collect();
        for trait_id in traits {
            self.services_by_trait
                .entry(trait_id)
                .or_default()
                .push(service_idx);
        }
        let service_id = self.service(service_idx).spec.id;
        self.emit(EventKind::ServiceUpserted {
            service: service_id,
        });
        // Requirements, strategy or timers may have changed: re-evaluate every agent's membership and keys, and
        // the deadlines of the service's waiting tasks.
        let all_agents: Vec<AgentIdx> = self.agent_indices().collect();
        for agent_idx in all_agents {
            self.recompute_memberships(agent_idx);
            self.agent_changed(agent_idx);
        }
        let waiting: Vec<TaskIdx> = self
            .service(service_idx)
            .waiting
            .values()
            .copied()
            .collect();
        for task_idx in waiting {
            self.reschedule_task(task_idx);
        }
        self.settle();
        Ok(())
    }

    /// Removes a service. Refused while it has live tasks or is another service's overflow target.
    pub fn remove_service(&mut self, now: Time, id: ServiceId) -> Result<(), ConfigError> {
        self.begin(now);
        let service_idx = *self
            .service_index
            .get(&id)
            .ok_or(ConfigError::UnknownService(id))?;
        if self.service(service_idx).n_live > 0 {
            return Err(ConfigError::StillInUse { what: "live tasks" });
        }
        if self
            .service_indices()
            .any(|s| self.service(s).overflow_to == Some(service_idx))
        {
            return Err(ConfigError::StillInUse {
                what: "overflow target of another service",
            });
        }
        let members: Vec<AgentIdx> = self.service(service_idx).members.iter().copied().collect();
        for agent_idx in &members {
            let agent = self.agent_mut(*agent_idx);
            agent.spec.memberships.retain(|(s, _)| *s != id);
        }
        let traits: Vec<TraitId> = self
            .service(service_idx)
            .spec
            .required_traits
            .iter()
            .map(|r| r.trait_id)
            .collect();
        for trait_id in traits {
            if let Some(list) = self.services_by_trait.get_mut(&trait_id) {
                list.retain(|&s| s != service_idx);
            }
        }
        for agent_idx in members {
            self.leave_service(agent_idx, service_idx);
            self.agent_changed(agent_idx);
        }
        let number = self.service(service_idx).number;
        self.service_numbers.remove(&number);
        self.service_index.remove(&id);
        self.services[service_idx as usize] = None;
        self.emit(EventKind::ServiceRemoved { service: id });
        self.settle();
        Ok(())
    }

    /// Creates an agent, or updates its configuration keeping its live state (presence, tasks, block...).
    pub fn upsert_agent(&mut self, now: Time, spec: AgentSpec) -> Result<(), ConfigError> {
        self.begin(now);
        if spec.traits.iter().any(|(_, level)| *level == 0) {
            return Err(ConfigError::ZeroLevel);
        }
        for (service, _) in &spec.memberships {
            if !self.service_index.contains_key(service) {
                return Err(ConfigError::UnknownService(*service));
            }
        }
        for profile in spec
            .profiles
            .iter()
            .map(|p| p.profile)
            .chain(spec.default_profile)
        {
            if !self.profile_index.contains_key(&profile) {
                return Err(ConfigError::UnknownProfile(profile));
            }
        }
        let existing = self.agent_index.get(&spec.id).copied();
        let number = match (spec.number, existing) {
            (Some(number), _) => {
                if let Some(&other) = self.agent_numbers.get(&number) {
                    if Some(other) != existing {
                        return Err(ConfigError::NumberInUse(number as u64));
                    }
                }
                number
            }
            (None, Some(agent_idx)) => self.agent(agent_idx).number,
            (None, None) => self.fresh_agent_number(),
        };
        let mut traits = spec.traits.clone();
        traits.sort();
        traits.dedup_by_key(|(trait_id, _)| *trait_id);
        let agent_idx = match existing {
            Some(agent_idx) => {
                let old_number = self.agent(agent_idx).number;
                self.agent_numbers.remove(&old_number);
                let agent = self.agent_mut(agent_idx);
                // Keep the current profile if the agent still has it; otherwise fall back to the default.
                let keeps_profile = agent
                    .current_profile
                    .map(|p| spec.profiles.iter().any(|ap| ap.profile == p))
                    .unwrap_or(false);
                if !keeps_profile {
                    agent.current_profile = spec.default_profile;
                }
                agent.set_spec(spec);
                agent.number = number;
                agent.traits = traits.into_boxed_slice();
                agent_idx
            }
            None => {
                let agent_idx = self.agents.len() as AgentIdx;
                let current_profile = spec.default_profile;
                self.agent_index.insert(spec.id, agent_idx);
                self.agents.push(Some(AgentStateData::new(
                    spec,
                    number,
                    traits,
                    current_profile,
                    now,
                )));
                agent_idx
            }
        };
        self.agent_numbers.insert(number, agent_idx);
        self.index_identifiers(agent_idx);
        let agent_id = self.agent(agent_idx).id;
        self.emit(EventKind::AgentUpserted { agent: agent_id });
        self.recompute_memberships(agent_idx);
        self.agent_changed(agent_idx);
        self.settle();
        Ok(())
    }

    /// Removes an agent. Refused while it holds tasks; tasks reserved for it open to their service.
    pub fn remove_agent(&mut self, now: Time, id: AgentId) -> Result<(), ConfigError> {
        self.begin(now);
        let agent_idx = *self
            .agent_index
            .get(&id)
            .ok_or(ConfigError::UnknownAgent(id))?;
        if !self.agent(agent_idx).tasks.is_empty() {
            return Err(ConfigError::StillInUse {
                what: "tasks held by the agent",
            });
        }
        if self.agent(agent_idx).n_consultations > 0 {
            return Err(ConfigError::StillInUse {
                what: "a consultative call reaching the agent",
            });
        }
        let services: Vec<ServiceIdx> = self
            .agent(agent_idx)
            .memberships
            .iter()
            .map(|m| m.service)
            .collect();
        self.release_claims_of(agent_idx);
        for service_idx in services {
            self.leave_service(agent_idx, service_idx);
        }
        let personal: Vec<TaskIdx> = self.agent(agent_idx).personal.values().copied().collect();
        let number = self.agent(agent_idx).number;
        self.agent_numbers.remove(&number);
        self.agent_identifiers.retain(|_, a| *a != agent_idx);
        self.agent_index.remove(&id);
        self.agent_timers.retain(|(_, a)| *a != agent_idx);
        self.agents[agent_idx as usize] = None;
        self.emit(EventKind::AgentRemoved { agent: id });
        for task_idx in personal {
            // Re-place the task: its candidates changed.
            self.unplace_waiting(task_idx);
            let task = self.task_mut(task_idx);
            if task.reserved().map(|(a, _)| a) == Some(agent_idx) {
                task.set_reserved(None);
            }
            task.preferred = task
                .preferred
                .iter()
                .copied()
                .filter(|&a| a != agent_idx)
                .collect();
            self.place_waiting(task_idx);
            self.reschedule_task(task_idx);
        }
        self.settle();
        Ok(())
    }

    /// Adds the agent to a service with a penalty, or changes the penalty (xuc `setAgentQueue`).
    pub fn set_membership(
        &mut self,
        now: Time,
        agent: AgentId,
        service: ServiceId,
        penalty: u32,
    ) -> Result<(), ConfigError> {
        self.begin(now);
        let agent_idx = *self
            .agent_index
            .get(&agent)
            .ok_or(ConfigError::UnknownAgent(agent))?;
        if !self.service_index.contains_key(&service) {
            return Err(ConfigError::UnknownService(service));
        }
        let memberships = &mut self.agent_mut(agent_idx).spec.memberships;
        match memberships.iter_mut().find(|(s, _)| *s == service) {
            Some(entry) => entry.1 = penalty,
            None => memberships.push((service, penalty)),
        }
        self.recompute_memberships(agent_idx);
        self.agent_changed(agent_idx);
        self.settle();
        Ok(())
    }

    /// Removes the agent's explicit membership of a service (xuc `removeAgentFromQueue`). A responsibility
    /// membership from the current profile remains.
    pub fn remove_membership(
        &mut self,
        now: Time,
        agent: AgentId,
        service: ServiceId,
    ) -> Result<(), ConfigError> {
        self.begin(now);
        let agent_idx = *self
            .agent_index
            .get(&agent)
            .ok_or(ConfigError::UnknownAgent(agent))?;
        if !self.service_index.contains_key(&service) {
            return Err(ConfigError::UnknownService(service));
        }
        self.agent_mut(agent_idx)
            .spec
            .memberships
            .retain(|(s, _)| *s != service);
        self.recompute_memberships(agent_idx);
        self.agent_changed(agent_idx);
        self.settle();
        Ok(())
    }

    /// Re-indexes an agent's SIP URI, UPN and e-mail (lower-cased). Identifiers claimed by another agent stay
    /// with the agent that had them first.
    pub(crate) fn index_identifiers(&mut self, agent_idx: AgentIdx) {
        self.agent_identifiers.retain(|_, a| *a != agent_idx);
        let identity = &self.agent(agent_idx).spec.identity;
        let keys: Vec<String> = [&identity.sip_uri, &identity.upn, &identity.email]
            .into_iter()
            .filter(|k| !k.is_empty())
            .map(|k| k.to_lowercase())
            .collect();
        for key in keys {
            self.agent_identifiers.entry(key).or_insert(agent_idx);
        }
    }

    /// The dialect attributes of a live task.
    pub(crate) fn task_attributes(&self, task_idx: TaskIdx) -> &[(String, String)] {
        self.task_attributes
            .get(&task_idx)
            .map(|a| &a[..])
            .unwrap_or(&[])
    }

    /// Finds an agent by id, SIP URI, UPN or e-mail, case-insensitively (LUCS `{userIdentifier}`).
    pub fn agent_by_identifier(&self, identifier: &str) -> Option<AgentId> {
        if let Ok(uuid) = identifier.parse::<uuid::Uuid>() {
            if self.agent_index.contains_key(&AgentId(uuid)) {
                return Some(AgentId(uuid));
            }
        }
        let lower = identifier.to_lowercase();
        let found = self.agent_identifiers.get(&lower).or_else(|| {
            // SIP URIs are often given without their scheme.
            self.agent_identifiers.get(&format!("sip:{lower}"))
        })?;
        Some(self.agent(*found).id)
    }

    /// Finds a service by id or SIP URI, case-insensitively (LUCS `{serviceIdentifier}`).
    pub fn service_by_identifier(&self, identifier: &str) -> Option<ServiceId> {
        if let Ok(uuid) = identifier.parse::<uuid::Uuid>() {
            if self.service_index.contains_key(&ServiceId(uuid)) {
                return Some(ServiceId(uuid));
            }
        }
        let lower = identifier.to_lowercase();
        self.service_indices()
            .map(|s| &self.service(s).spec)
            .find(|spec| {
                !spec.sip_uri.is_empty()
                    && (spec.sip_uri.to_lowercase() == lower
                        || spec.sip_uri.to_lowercase() == format!("sip:{lower}"))
            })
            .map(|spec| spec.id)
    }

    // ----- agent control -------------------------------------------------------------------------------------

    /// Sets the agent's presence (LUCS `setpresence`). Any explicit presence also clears a RONA state.
    pub fn set_presence(
        &mut self,
        now: Time,
        agent: AgentId,
        presence: Presence,
    ) -> Result<(), AgentError> {
        self.begin(now);
        let agent_idx = self.agent_for_command(agent)?;
        self.apply_presence(agent_idx, presence);
        self.settle();
        Ok(())
    }

    fn apply_presence(&mut self, agent_idx: AgentIdx, presence: Presence) {
        let agent_id = self.agent(agent_idx).id;
        let data = self.agent_mut(agent_idx);
        let changed = data.presence != presence;
        data.presence = presence;
        data.rona = false;
        if changed {
            self.emit(EventKind::AgentPresenceChanged {
                agent: agent_id,
                presence,
            });
        }
        if presence == Presence::Offline {
            self.return_offers(agent_idx, QueueReason::AgentLost);
        }
        self.agent_changed(agent_idx);
    }

    /// Signs the agent in on a phone line (xuc `agentLogin`): presence Online, not paused.
    ///
    /// Follows seed 004: an unknown line is refused; an agent already on another line stays there and gets an
    /// error; an agent taking a line used by another agent takes it over and the other is logged out.
    pub fn login(&mut self, now: Time, agent: AgentId, line: &str) -> Result<(), AgentError> {
        self.begin(now);
        let agent_idx = self.agent_for_command(agent)?;
        let known_line = self.agent(agent_idx).spec.phone_line.as_deref() == Some(line)
            || self
                .agent_indices()
                .any(|a| self.agent(a).spec.phone_line.as_deref() == Some(line));
        if !known_line {
            return Err(AgentError::PhoneNumberUnknown);
        }
        if let Some(current) = &self.agent(agent_idx).line {
            if &**current == line {
                return Ok(());
            }
            return Err(AgentError::LoggedInOnAnotherPhone {
                current: current.to_string(),
                requested: line.to_string(),
            });
        }
        let holder = self
            .agent_indices()
            .find(|&a| a != agent_idx && self.agent(a).line.as_deref() == Some(line));
        if let Some(other) = holder {
            self.logout_idx(other);
        }
        self.agent_mut(agent_idx).line = Some(line.into());
        self.agent_mut(agent_idx).paused = None;
        self.emit(EventKind::AgentLoggedIn {
            agent,
            line: line.to_string(),
        });
        self.apply_presence(agent_idx, Presence::Online);
        self.settle();
        Ok(())
    }

    /// Signs the agent out (xuc `agentLogout`, or a lost session): presence Offline; an offer it held returns to
    /// the queue keeping the task's place.
    pub fn logout(&mut self, now: Time, agent: AgentId) -> Result<(), AgentError> {
        self.begin(now);
        let agent_idx = self.agent_for_command(agent)?;
        self.logout_idx(agent_idx);
        self.settle();
        Ok(())
    }

    fn logout_idx(&mut self, agent_idx: AgentIdx) {
        let agent_id = self.agent(agent_idx).id;
        let data = self.agent_mut(agent_idx);
        let had_line = data.line.take().is_some();
        data.paused = None;
        if had_line {
            self.emit(EventKind::AgentLoggedOut { agent: agent_id });
        }
        self.release_claims_of(agent_idx);
        self.apply_presence(agent_idx, Presence::Offline);
    }

    /// After a restart: agents' CTI sessions did not survive, so agents logged in on a phone line are logged out,
    /// and every offer still ringing returns to the queue keeping its place (nobody can have accepted it).
    /// Presence set over the REST API is the outside system's state and is kept.
    pub fn recover_sessions(&mut self, now: Time) {
        self.begin(now);
        let agents: Vec<AgentIdx> = self.agent_indices().collect();
        for agent_idx in agents {
            if self.agent(agent_idx).line.is_some() {
                self.logout_idx(agent_idx);
            } else if self.agent(agent_idx).n_offered > 0 {
                self.return_offers(agent_idx, QueueReason::AgentLost);
            }
        }
        self.settle();
    }

    /// Blocks the agent from task distribution (LUCS `block`); presence is unaffected.
    pub fn block(&mut self, now: Time, agent: AgentId) -> Result<(), AgentError> {
        self.set_blocked(now, agent, true)
    }

    /// Lifts an API block (LUCS `unblock`); waiting work is offered at once.
    pub fn unblock(&mut self, now: Time, agent: AgentId) -> Result<(), AgentError> {
        self.set_blocked(now, agent, false)
    }

    fn set_blocked(&mut self, now: Time, agent: AgentId, blocked: bool) -> Result<(), AgentError> {
        self.begin(now);
        let agent_idx = self.agent_for_command(agent)?;
        if self.agent(agent_idx).blocked != blocked {
            self.agent_mut(agent_idx).blocked = blocked;
            self.emit(EventKind::AgentBlocked { agent, blocked });
            self.agent_changed(agent_idx);
        }
        self.settle();
        Ok(())
    }

    /// Marks the agent absent with a not-ready reason (LUCS `setAbsent`).
    pub fn set_absent(
        &mut self,
        now: Time,
        agent: AgentId,
        reason: &str,
    ) -> Result<(), AgentError> {
        self.begin(now);
        let agent_idx = self.agent_for_command(agent)?;
        self.agent_mut(agent_idx).absent = Some(reason.into());
        self.emit(EventKind::AgentAbsence {
            agent,
            reason: Some(reason.to_string()),
        });
        self.agent_changed(agent_idx);
        self.settle();
        Ok(())
    }

    /// Clears the absence (LUCS `unsetAbsent`).
    pub fn unset_absent(&mut self, now: Time, agent: AgentId) -> Result<(), AgentError> {
        self.begin(now);
        let agent_idx = self.agent_for_command(agent)?;
        if self.agent_mut(agent_idx).absent.take().is_some() {
            self.emit(EventKind::AgentAbsence {
                agent,
                reason: None,
            });
            self.agent_changed(agent_idx);
        }
        self.settle();
        Ok(())
    }

    /// Pauses the agent with a reason (xuc `pauseAgent`).
    pub fn pause(&mut self, now: Time, agent: AgentId, reason: &str) -> Result<(), AgentError> {
        self.begin(now);
        let agent_idx = self.agent_for_command(agent)?;
        if self.agent(agent_idx).presence == Presence::Offline {
            return Err(AgentError::NotLoggedIn);
        }
        self.agent_mut(agent_idx).paused = Some(reason.into());
        self.emit(EventKind::AgentPause {
            agent,
            reason: Some(reason.to_string()),
        });
        self.agent_changed(agent_idx);
        self.settle();
        Ok(())
    }

    /// Makes the agent ready again (xuc `unpauseAgent`): clears pause and RONA.
    pub fn unpause(&mut self, now: Time, agent: AgentId) -> Result<(), AgentError> {
        self.begin(now);
        let agent_idx = self.agent_for_command(agent)?;
        if self.agent(agent_idx).presence == Presence::Offline {
            return Err(AgentError::NotLoggedIn);
        }
        let data = self.agent_mut(agent_idx);
        let was_paused = data.paused.take().is_some();
        data.rona = false;
        if was_paused {
            self.emit(EventKind::AgentPause {
                agent,
                reason: None,
            });
        }
        self.agent_changed(agent_idx);
        self.settle();
        Ok(())
    }

    /// Switches the agent's active responsibility profile (LUCS `setActiveProfile`); memberships by
    /// responsibility follow.
    pub fn set_active_profile(
        &mut self,
        now: Time,
        agent: AgentId,
        profile: ProfileId,
    ) -> Result<(), AgentError> {
        self.begin(now);
        let agent_idx = self.agent_for_command(agent)?;
        if !self.profile_index.contains_key(&profile)
            || !self
                .agent(agent_idx)
                .spec
                .profiles
                .iter()
                .any(|p| p.profile == profile)
        {
            return Err(AgentError::UnknownProfile);
        }
        if self.agent(agent_idx).current_profile != Some(profile) {
            self.agent_mut(agent_idx).current_profile = Some(profile);
            self.emit(EventKind::AgentProfileChanged {
                agent,
                profile: Some(profile),
            });
            self.recompute_memberships(agent_idx);
            self.agent_changed(agent_idx);
        }
        self.settle();
        Ok(())
    }

    /// Ends the agent's wrap-up early.
    pub fn end_wrapup(&mut self, now: Time, agent: AgentId) -> Result<(), AgentError> {
        self.begin(now);
        let agent_idx = self.agent_for_command(agent)?;
        let Some(until) = self.agent(agent_idx).wrapup_until else {
            return Err(AgentError::NotInWrapup);
        };
        self.agent_timers.remove(&(until, agent_idx));
        self.agent_mut(agent_idx).wrapup_until = None;
        self.agent_changed(agent_idx);
        self.settle();
        Ok(())
    }

    // ----- tasks ---------------------------------------------------------------------------------------------

    /// Creates a task and routes it at once: offered if an eligible agent is available, else queued. Block tasks
    /// are refused here; `add_block_task` puts them on their agent.
    pub fn create_task(&mut self, now: Time, spec: TaskSpec) -> Result<TaskId, TaskError> {
        self.begin(now);
        // A block task never queues: it is put on its agent by `add_block_task`, and only that path counts it in
        // the agent's block tasks, which ending it decrements.
        if spec.kind == TaskKind::Block {
            return Err(TaskError::WrongKind(
                "a block task is added to an agent with add_block_task, not created in a queue",
            ));
        }
        let task_idx = self.insert_task(spec)?;
        let task = self.task(task_idx);
        let (id, service_idx, priority) = (task.id, task.service, task.priority());
        let service_id = self.service(service_idx).spec.id;
        self.emit(EventKind::TaskCreated {
            task: id,
            service: service_id,
            priority,
        });
        match self.task(task_idx).not_before {
            Some(due) if due > self.now => {
                self.task_mut(task_idx).status = TaskStatus::Scheduled;
                self.emit(EventKind::TaskScheduled { task: id, due });
                self.reschedule_task(task_idx);
            }
            _ => {
                self.enqueue(task_idx, QueueReason::Created);
            }
        }
        self.settle();
        Ok(id)
    }

    /// Adds a block task to the agent (LUCS `addBlockTask`): it keeps the agent busy, reported as working, until
    /// the task is terminated.
    pub fn add_block_task(
        &mut self,
        now: Time,
        agent: AgentId,
        task: TaskId,
    ) -> Result<TaskId, TaskError> {
        self.begin(now);
        let agent_idx = *self
            .agent_index
            .get(&agent)
            .ok_or(TaskError::UnknownAgent(agent))?;
        // A block task belongs to the agent's first service, or to none if it serves none; it never queues.
        let service_idx = self
            .agent(agent_idx)
            .memberships
            .first()
            .map(|m| m.service)
            .or_else(|| self.service_indices().next())
            .ok_or(TaskError::WrongKind(
                "a block task needs at least one service in the tenant",
            ))?;
        let mut spec = TaskSpec::new(task, self.service(service_idx).spec.id);
        spec.kind = TaskKind::Block;
        spec.customer = "Block".to_string();
        let task_idx = self.insert_task(spec)?;
        let service_id = self.service(service_idx).spec.id;
        self.emit(EventKind::TaskCreated {
            task,
            service: service_id,
            priority: Priority(0),
        });
        self.start_block(task_idx, agent_idx);
        self.settle();
        Ok(task)
    }

    /// The agent accepts the offered task (LUCS `setestablished`, xuc answer). With `agent` given, the task must
    /// be offered to that agent. A waiting task that is not distributed (`DistributeToAgent` false) can be
    /// established directly on a named agent with capacity.
    pub fn establish(
        &mut self,
        now: Time,
        task: TaskId,
        agent: Option<AgentId>,
    ) -> Result<(), TaskError> {
        self.begin(now);
        let task_idx = self.task_for_command(task)?;
        let named = match agent {
            Some(agent_id) => Some(
                *self
                    .agent_index
                    .get(&agent_id)
                    .ok_or(TaskError::UnknownAgent(agent_id))?,
            ),
            None => None,
        };
        match self.task(task_idx).status {
            TaskStatus::Offered => {
                let holder = self
                    .task(task_idx)
                    .agent
                    .expect("offered task has an agent");
                if let Some(named) = named {
                    if named != holder {
                        return Err(TaskError::OfferedToAnotherAgent(self.agent(holder).id));
                    }
                }
                self.establish_idx(task_idx);
            }
            TaskStatus::Established | TaskStatus::OnHold => {
                return Err(TaskError::AlreadyEstablished)
            }
            status @ (TaskStatus::Waiting | TaskStatus::Scheduled) => {
                let Some(agent_idx) = named else {
                    return Err(TaskError::NotOffered(status));
                };
                if self.task(task_idx).kind == TaskKind::Block {
                    return Err(TaskError::WrongKind("a block task is never offered"));
                }
                if let Some(&holder) = self.claims.get(&task_idx) {
                    if holder != agent_idx {
                        return Err(TaskError::ClaimedByAnotherAgent(self.agent(holder).id));
                    }
                }
                let channel = self.task(task_idx).kind.channel();
                if !self.has_capacity(agent_idx, channel) {
                    return Err(TaskError::NoCapacity(self.agent(agent_idx).id));
                }
                // A claim is consumed: the task now has its agent.
                self.claims.remove(&task_idx);
                if status == TaskStatus::Scheduled {
                    // Started ahead of its due time (a callback an agent picked from its list).
                    let now = self.now;
                    let task = self.task_mut(task_idx);
                    task.not_before = None;
                    task.queue_started = now;
                }
                // The task leaves its queue first: left there, it would still be counted as waiting and could be
                // offered to a second agent while this one handles it.
                self.unplace_waiting(task_idx);
                self.assign(task_idx, agent_idx, Selection::Direct);
                self.establish_idx(task_idx);
            }
            status => return Err(TaskError::NotOffered(status)),
        }
        self.settle();
        Ok(())
    }

    /// The agent declines the offer: the task returns to the queue keeping its place and is not offered to that
    /// agent again.
    pub fn decline(&mut self, now: Time, task: TaskId, agent: AgentId) -> Result<(), TaskError> {
        self.begin(now);
        let task_idx = self.task_for_command(task)?;
        let agent_idx = *self
            .agent_index
            .get(&agent)
            .ok_or(TaskError::UnknownAgent(agent))?;
        let status = self.task(task_idx).status;
        if status != TaskStatus::Offered {
            return Err(TaskError::NotOffered(status));
        }
        let holder = self
            .task(task_idx)
            .agent
            .expect("offered task has an agent");
        if holder != agent_idx {
            return Err(TaskError::OfferedToAnotherAgent(self.agent(holder).id));
        }
        self.emit(EventKind::TaskDeclined { task, agent });
        let task_state = self.task_mut(task_idx);
        let mut declined = std::mem::take(&mut task_state.declined).into_vec();
        declined.push(agent_idx);
        task_state.declined = declined.into_boxed_slice();
        self.unassign(task_idx);
        self.enqueue(task_idx, QueueReason::Declined);
        self.settle();
        Ok(())
    }

    /// LUCS `refresh`: renews the task's lifetime and polling; an offered task goes back to pending keeping its
    /// place (and its agent gets RONA when `set_agent_on_rona`). Refused once the agent is connected.
    pub fn refresh(
        &mut self,
        now: Time,
        task: TaskId,
        set_agent_on_rona: bool,
    ) -> Result<(), TaskError> {
        self.begin(now);
        let task_idx = self.task_for_command(task)?;
        match self.task(task_idx).status {
            TaskStatus::Established | TaskStatus::OnHold => return Err(TaskError::AgentConnected),
            TaskStatus::Offered => {
                let agent_idx = self
                    .task(task_idx)
                    .agent
                    .expect("offered task has an agent");
                self.unassign(task_idx);
                if set_agent_on_rona {
                    self.agent_mut(agent_idx).rona = true;
                    self.agent_changed(agent_idx);
                }
                self.touch_lifetime(task_idx);
                self.emit(EventKind::TaskRefreshed { task });
                self.enqueue(task_idx, QueueReason::Refreshed);
            }
            TaskStatus::Waiting | TaskStatus::Scheduled => {
                self.touch_lifetime(task_idx);
                self.emit(EventKind::TaskRefreshed { task });
                self.reschedule_task(task_idx);
            }
            TaskStatus::Terminated => return Err(TaskError::UnknownTask(task)),
        }
        self.settle();
        Ok(())
    }

    fn touch_lifetime(&mut self, task_idx: TaskIdx) {
        let now = self.now;
        let task = self.task_mut(task_idx);
        task.lifetime_start = now;
        task.last_polled = now;
        self.file_lifetime(task_idx);
    }

    /// Records that the creating system read the task (it is not abandoned): renews the polling timeout.
    pub fn poll(&mut self, now: Time, task: TaskId) -> Result<(), TaskError> {
        self.begin(now);
        let task_idx = self.task_for_command(task)?;
        self.task_mut(task_idx).last_polled = self.now;
        self.reschedule_task(task_idx);
        self.settle();
        Ok(())
    }

    /// Sets dialect attributes of a live task (see `TaskSpec::attributes`): a name it already carries gets the new
    /// value in place, a new name is added at the end. The engine never reads them; routing is unchanged.
    pub fn set_attributes(
        &mut self,
        now: Time,
        task: TaskId,
        attributes: Vec<(String, String)>,
    ) -> Result<(), TaskError> {
        self.begin(now);
        let task_idx = self.task_for_command(task)?;
        let mut merged = self.task_attributes(task_idx).to_vec();
        for (name, value) in &attributes {
            match merged.iter_mut().find(|(known, _)| known == name) {
                Some(entry) => entry.1 = value.clone(),
                None => merged.push((name.clone(), value.clone())),
            }
        }
        if merged.is_empty() {
            self.task_attributes.remove(&task_idx);
        } else {
            self.task_attributes
                .insert(task_idx, merged.into_boxed_slice());
        }
        self.emit(EventKind::TaskAttributesChanged { task, attributes });
        self.settle();
        Ok(())
    }

    /// Puts an established task on hold.
    pub fn hold(&mut self, now: Time, task: TaskId) -> Result<(), TaskError> {
        self.begin(now);
        let task_idx = self.task_for_command(task)?;
        let status = self.task(task_idx).status;
        if status != TaskStatus::Established {
            return Err(TaskError::NotEstablished(status));
        }
        self.task_mut(task_idx).status = TaskStatus::OnHold;
        self.emit(EventKind::TaskHeld { task });
        self.settle();
        Ok(())
    }

    /// Resumes a task from hold.
    pub fn resume(&mut self, now: Time, task: TaskId) -> Result<(), TaskError> {
        self.begin(now);
        let task_idx = self.task_for_command(task)?;
        let status = self.task(task_idx).status;
        if status != TaskStatus::OnHold {
            return Err(TaskError::NotOnHold(status));
        }
        self.task_mut(task_idx).status = TaskStatus::Established;
        self.emit(EventKind::TaskResumed { task });
        self.settle();
        Ok(())
    }

    /// Ends a task in any live state. A task an agent handled sends the agent to the service's wrap-up.
    /// Returns the final state of the task.
    pub fn terminate(
        &mut self,
        now: Time,
        task: TaskId,
        reason: TerminationReason,
    ) -> Result<TaskInfo, TaskError> {
        self.begin(now);
        let task_idx = self.task_for_command(task)?;
        let info = self.terminate_idx(task_idx, reason);
        self.settle();
        Ok(info)
    }

    /// Transfers a task handled by an agent to another service: the agent is released (with wrap-up) and the
    /// task queues in the target service as a new entry.
    pub fn transfer_to_service(
        &mut self,
        now: Time,
        task: TaskId,
        service: ServiceId,
    ) -> Result<(), TaskError> {
        self.begin(now);
        let task_idx = self.task_for_command(task)?;
        let service_idx = *self
            .service_index
            .get(&service)
            .ok_or(TaskError::UnknownService(service))?;
        self.check_transferable(task_idx)?;
        self.release_for_transfer(task_idx);
        self.move_service(task_idx, service_idx);
        let task = self.task_mut(task_idx);
        task.preferred = Box::default();
        task.preferred_only = false;
        task.set_reserved(None);
        task.declined = Box::default();
        self.enqueue_fresh(task_idx, QueueReason::Transferred);
        self.settle();
        Ok(())
    }

    /// Transfers a task handled by an agent to another agent: it is offered only to that agent.
    pub fn transfer_to_agent(
        &mut self,
        now: Time,
        task: TaskId,
        agent: AgentId,
    ) -> Result<(), TaskError> {
        self.begin(now);
        let task_idx = self.task_for_command(task)?;
        let agent_idx = *self
            .agent_index
            .get(&agent)
            .ok_or(TaskError::UnknownAgent(agent))?;
        self.check_transferable(task_idx)?;
        self.release_for_transfer(task_idx);
        let task = self.task_mut(task_idx);
        task.preferred = Box::new([agent_idx]);
        task.preferred_only = true;
        task.set_reserved(None);
        task.declined = Box::default();
        self.enqueue_fresh(task_idx, QueueReason::Transferred);
        self.settle();
        Ok(())
    }

    fn check_transferable(&self, task_idx: TaskIdx) -> Result<(), TaskError> {
        let task = self.task(task_idx);
        if task.kind == TaskKind::Block {
            return Err(TaskError::WrongKind("a block task cannot be transferred"));
        }
        if self.consultations.contains_key(&task_idx) {
            return Err(TaskError::ConsultationActive);
        }
        match task.status {
            TaskStatus::Established | TaskStatus::OnHold => Ok(()),
            status => Err(TaskError::NotEstablished(status)),
        }
    }

    fn release_for_transfer(&mut self, task_idx: TaskIdx) {
        self.finish_work(task_idx);
        let task = self.task_mut(task_idx);
        task.connected_at = None;
        task.status = TaskStatus::Waiting;
    }

    /// Changes a task's priority (Puzzel `vipScore` update); a waiting task moves in the queue at once.
    pub fn set_priority(
        &mut self,
        now: Time,
        task: TaskId,
        priority: Priority,
    ) -> Result<(), TaskError> {
        self.begin(now);
        let task_idx = self.task_for_command(task)?;
        let waiting = self.task(task_idx).status == TaskStatus::Waiting;
        if waiting {
            self.unplace_waiting(task_idx);
        }
        let task_state = self.task_mut(task_idx);
        task_state.rank = Rank::new(priority, task_state.rank.seq);
        self.emit(EventKind::TaskPriorityChanged { task, priority });
        if waiting {
            self.route_or_place(task_idx);
        }
        self.settle();
        Ok(())
    }

    /// Reserves a task for an agent until `until` (Puzzel `reservedUserId` + `reservedSecondsFromNow`); after it,
    /// the task opens to the service keeping its place. `None` removes a reservation.
    pub fn reserve(
        &mut self,
        now: Time,
        task: TaskId,
        reservation: Option<(AgentId, Time)>,
    ) -> Result<(), TaskError> {
        self.begin(now);
        let task_idx = self.task_for_command(task)?;
        let reservation = match reservation {
            Some((agent_id, until)) => {
                let agent_idx = *self
                    .agent_index
                    .get(&agent_id)
                    .ok_or(TaskError::UnknownAgent(agent_id))?;
                if until < self.now {
                    return Err(TaskError::InvalidValue(
                        "a reservation cannot end in the past",
                    ));
                }
                Some((agent_idx, until))
            }
            None => None,
        };
        let waiting = self.task(task_idx).status == TaskStatus::Waiting;
        if waiting {
            self.unplace_waiting(task_idx);
        }
        self.task_mut(task_idx).set_reserved(reservation);
        if let Some((agent_idx, until)) = reservation {
            let agent_id = self.agent(agent_idx).id;
            self.emit(EventKind::TaskReserved {
                task,
                agent: agent_id,
                until,
            });
        }
        if waiting {
            self.route_or_place(task_idx);
        }
        self.reschedule_task(task_idx);
        self.settle();
        Ok(())
    }

    /// Fires every timer due at or before `now` (RONA, reservation windows, wrap-up, overflow, expiry, callbacks
    /// becoming due) and routes what they free.
    pub fn advance(&mut self, now: Time) {
        self.begin(now);
        self.settle();
    }

    /// The earliest time at which a timer will fire, so the caller knows when to call `advance`.
    pub fn next_deadline(&self) -> Option<Time> {
        [
            self.task_timers.first().map(|(at, _)| *at),
            self.lifetimes.first_deadline(),
            self.agent_timers.first().map(|(at, _)| *at),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    // ----- internals shared by the submodules ----------------------------------------------------------------

    /// Starts a command: time never goes backwards, and timers due by `now` fire first.
    fn begin(&mut self, now: Time) {
        if now > self.now {
            self.fire_timers_until(now);
            self.now = now;
        }
    }

    fn emit(&mut self, kind: EventKind) {
        self.event_seq += 1;
        self.events.push(Event {
            seq: self.event_seq,
            at: self.now,
            kind,
        });
    }

    fn next_random(&mut self) -> u64 {
        // SplitMix64: small, fast and good enough to pick an agent; seeded per tenant for reproducible runs.
        self.rng_state = self.rng_state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng_state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn fresh_service_number(&mut self) -> u32 {
        while self.service_numbers.contains_key(&self.next_service_number) {
            self.next_service_number += 1;
        }
        self.next_service_number
    }

    fn fresh_agent_number(&mut self) -> u32 {
        while self.agent_numbers.contains_key(&self.next_agent_number) {
            self.next_agent_number += 1;
        }
        self.next_agent_number
    }

    fn agent_for_command(&self, agent: AgentId) -> Result<AgentIdx, AgentError> {
        self.agent_index
            .get(&agent)
            .copied()
            .ok_or(AgentError::UnknownAgent(agent))
    }

    fn task_for_command(&self, task: TaskId) -> Result<TaskIdx, TaskError> {
        self.task_index
            .get(&task)
            .copied()
            .ok_or(TaskError::UnknownTask(task))
    }

    pub(crate) fn agent(&self, agent_idx: AgentIdx) -> &AgentStateData {
        self.agents[agent_idx as usize]
            .as_ref()
            .expect("agent index refers to a live agent")
    }

    fn agent_mut(&mut self, agent_idx: AgentIdx) -> &mut AgentStateData {
        self.agents[agent_idx as usize]
            .as_mut()
            .expect("agent index refers to a live agent")
    }

    fn agent_exists(&self, agent_idx: AgentIdx) -> bool {
        matches!(self.agents.get(agent_idx as usize), Some(Some(_)))
    }

    pub(crate) fn service(&self, service_idx: ServiceIdx) -> &ServiceState {
        self.services[service_idx as usize]
            .as_ref()
            .expect("service index refers to a live service")
    }

    fn service_mut(&mut self, service_idx: ServiceIdx) -> &mut ServiceState {
        self.services[service_idx as usize]
            .as_mut()
            .expect("service index refers to a live service")
    }

    /// The task's extra trait requirements (sorted by trait): those of its class, which every task of the
    /// class shares.
    fn task_traits(&self, task: &TaskState) -> &[TraitRequirement] {
        &self.service(task.service).classes[task.class as usize]
            .key
            .traits
    }

    pub(crate) fn task(&self, task_idx: TaskIdx) -> &TaskState {
        self.tasks[task_idx as usize]
            .as_ref()
            .expect("task index refers to a live task")
    }

    fn task_mut(&mut self, task_idx: TaskIdx) -> &mut TaskState {
        self.tasks[task_idx as usize]
            .as_mut()
            .expect("task index refers to a live task")
    }

    fn agent_indices(&self) -> impl Iterator<Item = AgentIdx> + '_ {
        self.agents
            .iter()
            .enumerate()
            .filter(|(_, a)| a.is_some())
            .map(|(i, _)| i as AgentIdx)
    }

    fn service_indices(&self) -> impl Iterator<Item = ServiceIdx> + '_ {
        self.services
            .iter()
            .enumerate()
            .filter(|(_, s)| s.is_some())
            .map(|(i, _)| i as ServiceIdx)
    }

    fn live_task_indices(&self) -> impl Iterator<Item = TaskIdx> + '_ {
        self.tasks
            .iter()
            .enumerate()
            .filter(|(_, t)| t.is_some())
            .map(|(i, _)| i as TaskIdx)
    }

    /// Validates a new task and stores it (not yet queued).
    fn insert_task(&mut self, mut spec: TaskSpec) -> Result<TaskIdx, TaskError> {
        let attributes = std::mem::take(&mut spec.attributes);
        if self.task_index.contains_key(&spec.id) {
            return Err(TaskError::DuplicateTask(spec.id));
        }
        if let Some(external) = &spec.external_id {
            if self.task_by_external.contains_key(external) {
                return Err(TaskError::DuplicateExternalId(external.clone()));
            }
        }
        if let Some(number) = spec.number {
            if self.task_by_number.contains_key(&number) {
                return Err(TaskError::DuplicateNumber(number));
            }
        }
        if spec.required_traits.iter().any(|r| r.min_level == 0) {
            return Err(TaskError::InvalidValue(
                "trait requirements need a level of at least 1",
            ));
        }
        let service_idx = *self
            .service_index
            .get(&spec.service)
            .ok_or(TaskError::UnknownService(spec.service))?;
        let mut preferred = Vec::with_capacity(spec.preferred_agents.len());
        for agent_id in &spec.preferred_agents {
            let agent_idx = *self
                .agent_index
                .get(agent_id)
                .ok_or(TaskError::UnknownAgent(*agent_id))?;
            if !preferred.contains(&agent_idx) {
                preferred.push(agent_idx);
            }
        }
        if spec.preferred_only && preferred.is_empty() {
            return Err(TaskError::InvalidValue(
                "ConsiderPreferredAgentsOnly needs at least one preferred agent",
            ));
        }
        let reserved = match spec.reserved {
            Some((agent_id, until)) => Some((
                *self
                    .agent_index
                    .get(&agent_id)
                    .ok_or(TaskError::UnknownAgent(agent_id))?,
                until,
            )),
            None => None,
        };
        let number = match spec.number {
            Some(number) => number,
            None => {
                while self.task_by_number.contains_key(&self.next_task_number) {
                    self.next_task_number += 1;
                }
                self.next_task_number
            }
        };
        self.next_task_number = self.next_task_number.max(number + 1);
        let mut required_traits = spec.required_traits;
        required_traits.sort();
        required_traits.dedup_by_key(|r| r.trait_id);
        let class = self.class_for(
            service_idx,
            ClassKey {
                channel: spec.kind.channel(),
                capabilities: spec.required_capabilities,
                traits: required_traits,
            },
        );
        self.rank_seq += 1;
        let now = self.now;
        let mut task = TaskState {
            id: spec.id,
            number,
            external_id: spec.external_id.map(String::into_boxed_str),
            kind: spec.kind,
            direction: spec.direction,
            service: service_idx,
            class,
            customer: spec.customer.into_boxed_str(),
            rank: Rank::new(spec.priority, self.rank_seq),
            status: TaskStatus::Waiting,
            location: Location::Nowhere,
            agent: None,
            last_agent: None,
            selection: None,
            offer_deadline: None,
            preferred: preferred.into_boxed_slice(),
            preferred_only: spec.preferred_only,
            is_reserved: false,
            reserved_agent: 0,
            reserved_until: Time::ZERO,
            required_capabilities: spec.required_capabilities,
            distribute: spec.distribute,
            rona_timeout: spec.rona_timeout,
            context: spec.context.into_boxed_slice(),
            not_before: spec.not_before,
            declined: Box::default(),
            created: now,
            queue_started: now,
            offered_at: None,
            connected_at: None,
            last_polled: now,
            lifetime_start: now,
            initial_position: 0,
            n_offers: 0,
            timer_at: None,
        };
        task.set_reserved(reserved);
        let task_idx = match self.free_tasks.pop() {
            Some(task_idx) => {
                self.tasks[task_idx as usize] = Some(task);
                task_idx
            }
            None => {
                self.tasks.push(Some(task));
                (self.tasks.len() - 1) as TaskIdx
            }
        };
        let task = self.task(task_idx);
        let (id, external) = (task.id, task.external_id.as_deref().map(str::to_string));
        reserve_headroom(&mut self.task_index);
        self.task_index.insert(id, task_idx);
        if let Some(external) = external {
            reserve_headroom(&mut self.task_by_external);
            self.task_by_external.insert(external, task_idx);
        }
        reserve_headroom(&mut self.task_by_number);
        self.task_by_number.insert(number, task_idx);
        if !attributes.is_empty() {
            self.task_attributes
                .insert(task_idx, attributes.into_boxed_slice());
        }
        self.service_mut(service_idx).n_live += 1;
        self.n_live_tasks += 1;
        self.file_lifetime(task_idx);
        Ok(task_idx)
    }

    fn class_for(&mut self, service_idx: ServiceIdx, key: ClassKey) -> u32 {
        let service = self.service_mut(service_idx);
        if let Some(&class) = service.class_index.get(&key) {
            return class;
        }
        let class = service.classes.len() as u32;
        service.classes.push(ClassQueue {
            key: key.clone(),
            queue: BTreeMap::new(),
            nonempty_pos: None,
        });
        service.class_index.insert(key, class);
        class
    }

    /// Moves a task (not waiting) to another service, re-deriving its class there.
    fn move_service(&mut self, task_idx: TaskIdx, service_idx: ServiceIdx) {
        let task = self.task(task_idx);
        let old_service = task.service;
        let key = ClassKey {
            channel: task.kind.channel(),
            capabilities: task.required_capabilities,
            traits: self.task_traits(task).to_vec(),
        };
        let class = self.class_for(service_idx, key);
        self.service_mut(old_service).n_live -= 1;
        self.service_mut(service_idx).n_live += 1;
        let task = self.task_mut(task_idx);
        task.service = service_idx;
        task.class = class;
    }

    /// Ends a task and removes it from the live engine, returning its final state.
    fn terminate_idx(&mut self, task_idx: TaskIdx, reason: TerminationReason) -> TaskInfo {
        // The snapshot and the event come first, so that they still name the agent and precede the agent's
        // wrap-up in the event stream. The task leaves the engine below and nothing on the way reads its
        // heap-owning fields again, so the snapshot takes them over instead of copying them.
        if self.consultations.contains_key(&task_idx) {
            self.end_consultation(task_idx, ConsultationEnd::TaskEnded);
        }
        self.claims.remove(&task_idx);
        let now = self.now;
        let required_traits = self.task_traits(self.task(task_idx)).to_vec();
        let task = self.task_mut(task_idx);
        let (status, handled_by) = (task.status, task.agent);
        let owned = status::OwnedTaskFields {
            external_id: task.external_id.take().map(String::from),
            customer: std::mem::take(&mut task.customer).into_string(),
            required_traits,
            context: std::mem::take(&mut task.context).into_vec(),
            attributes: Vec::new(),
        };
        let mut owned = owned;
        owned.attributes = self
            .task_attributes
            .remove(&task_idx)
            .map(|a| a.into_vec())
            .unwrap_or_default();
        let mut info = self.task_info_with(task_idx, owned);
        info.status = TaskStatus::Terminated;
        info.terminated = Some(now);
        info.termination_reason = Some(reason);
        let agent_id = handled_by.map(|a| self.agent(a).id);
        self.emit(EventKind::TaskTerminated {
            task: info.id,
            reason,
            agent: agent_id,
            record: Box::new(info.clone()),
        });
        match status {
            TaskStatus::Waiting => self.unplace_waiting(task_idx),
            TaskStatus::Offered => self.unassign(task_idx),
            TaskStatus::Established | TaskStatus::OnHold => self.finish_work(task_idx),
            TaskStatus::Scheduled | TaskStatus::Terminated => {}
        }
        // Drop the task from every index.
        let task = self.tasks[task_idx as usize]
            .take()
            .expect("terminating a live task");
        if let Some(at) = task.timer_at {
            self.task_timers.remove(&(at, task_idx));
        }
        self.lifetimes.file(task_idx, None);
        self.task_index.remove(&info.id);
        if let Some(external) = &info.external_id {
            self.task_by_external.remove(external);
        }
        self.task_by_number.remove(&info.number);
        self.service_mut(task.service).n_live -= 1;
        self.n_live_tasks -= 1;
        self.free_tasks.push(task_idx);
        info
    }
}

#[cfg(test)]
mod tests {
    use super::{HeldTasks, TaskIdx};

    /// The inline list behaves like the `Vec` it replaces, across the move to the heap and back down.
    #[test]
    fn held_tasks_behave_like_a_vec() {
        let mut held = HeldTasks::default();
        let mut expected: Vec<TaskIdx> = Vec::new();
        let mut seed: u64 = 7;
        for step in 0..2_000u32 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let grow =
                expected.len() < 2 || (!(seed >> 33).is_multiple_of(3) && expected.len() < 9);
            if grow {
                held.push(step);
                expected.push(step);
            } else {
                let pos = (seed >> 40) as usize % expected.len();
                held.swap_remove(pos);
                expected.swap_remove(pos);
            }
            assert_eq!(&*held, expected.as_slice());
        }
    }
}
