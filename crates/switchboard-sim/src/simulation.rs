//! The discrete-event loop: the real routing engine on a simulated clock. Calls arrive, wait, are offered and
//! answered, end and abandon as simulated events; everything the engine decides (who gets which call, when a
//! wrap-up ends) comes from its own commands, events and deadlines. Nothing sleeps and nothing reads a clock.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use switchboard_core::{
    AgentId, AgentSpec, AgentState, Engine, EngineConfig, EventKind, Presence, Priority, ServiceId,
    ServiceSpec, Span, TaskId, TaskKind, TaskSpec, TerminationReason, Time,
};
use uuid::Uuid;

use crate::rng::Rng;
use crate::scenario::Model;

/// Which calls are measured and when the run stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plan {
    /// The scenario's own: calls arriving in [warm-up, duration) are measured, agent time in the same window;
    /// arrivals stop at the duration and the run goes on until no call waits (or nothing more can happen).
    Scenario,
    /// By count, for steady-state estimates: the first `warmup` calls are discarded, the next `measured` are
    /// measured (and split in arrival order into `batches` equal batches for batch-means confidence
    /// intervals); arrivals stop after them and the run ends when none of them waits any more. The scenario's
    /// duration and warm-up are ignored (its rates apply from the start, the last one forever).
    Calls {
        /// Calls discarded first.
        warmup: u64,
        /// Calls measured.
        measured: u64,
        /// Batches for batch means.
        batches: u32,
    },
}

/// What the simulation counts of the calls of one service (measured calls only). Times in microseconds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceTally {
    /// Calls that arrived.
    pub offered: u64,
    /// Calls answered by an agent.
    pub answered: u64,
    /// Calls answered without waiting (offered the moment they arrived).
    pub answered_at_once: u64,
    /// Calls answered within the service level threshold.
    pub answered_within_threshold: u64,
    /// Calls whose caller hung up while waiting.
    pub abandoned: u64,
    /// Calls still waiting when the run ended.
    pub still_waiting: u64,
    /// Sum of the waits of answered calls.
    pub wait_answered: u128,
    /// Sum of the waits of abandoned calls.
    pub wait_abandoned: u128,
    /// Longest wait of any call, answered or abandoned.
    pub max_wait: i64,
    /// Sum of the handling times of answered calls (without wrap-up).
    pub handling: u128,
}

/// What the simulation counts of one agent group over the measurement window. Times in microseconds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupTally {
    /// Agent time signed in (on shift).
    pub staffed: u128,
    /// Agent time on shift spent ringing, on a call or in wrap-up.
    pub busy: u128,
    /// Measured calls answered by the group's agents.
    pub answered: u64,
    /// Calls (measured or not) offered to an agent of the group while it was off shift; always 0 unless the
    /// engine offered work to a signed-out agent.
    pub answered_off_shift: u64,
}

/// One batch of measured calls (batch means).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BatchTally {
    /// Calls answered or abandoned.
    pub calls: u64,
    /// Of which waited.
    pub waited: u64,
    /// Calls answered.
    pub answered: u64,
    /// Sum of answered calls' waits, microseconds.
    pub wait_answered: u128,
}

/// One point of the timeline.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// Seconds since the start of the run.
    pub at: f64,
    /// Calls waiting, per service.
    pub waiting: Vec<u32>,
    /// Service level of the calls that stopped waiting in the rolling window, if any did.
    pub rolling_service_level: Option<f64>,
}

/// The raw result of a run.
#[derive(Clone, Debug)]
pub struct RunResult {
    /// Per service, in model order.
    pub services: Vec<ServiceTally>,
    /// Per group, in model order.
    pub groups: Vec<GroupTally>,
    /// Batches (count plans only).
    pub batches: Vec<BatchTally>,
    /// The timeline (scenario plans only).
    pub timeline: Vec<Sample>,
    /// Length of the measurement window, microseconds.
    pub measured_span: i64,
    /// Simulated time at the end of the run, microseconds since its start.
    pub end: i64,
    /// Calls created in the engine.
    pub calls_simulated: u64,
    /// Engine events processed.
    pub engine_events: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum SimEvent {
    /// Sign-in or sign-out of every agent of a group.
    Shift { group: u32, on: bool },
    /// The next call of a stream arrives.
    Arrival { stream: u32 },
    /// A call's handling ends.
    Completion { slot: u32, number: u64 },
    /// A caller's patience runs out (ignored if the call was answered).
    Abandon { slot: u32, number: u64 },
    /// A timeline sample.
    Sample,
    /// The measurement window opens.
    MeasureStart,
    /// The measurement window closes.
    MeasureEnd,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CallState {
    Waiting,
    Answered,
}

#[derive(Clone, Copy, Debug)]
struct Call {
    number: u64,
    service: u32,
    arrival: Time,
    handling: Span,
    state: CallState,
    measured: bool,
}

#[derive(Clone, Copy, Debug)]
struct AgentTrack {
    group: u32,
    on_shift: bool,
    busy: bool,
    since: Time,
}

const SERVICE_TAG: u128 = 0x5E << 120;
const AGENT_TAG: u128 = 0xA6 << 120;
const TASK_TAG: u128 = 0x7A << 120;

/// The simulated clock starts here, far from the engine's epoch (nothing in a run depends on the value).
const START: Time = Time::from_secs(1_000_000);

fn service_id(index: usize) -> ServiceId {
    ServiceId(Uuid::from_u128(SERVICE_TAG | index as u128))
}

fn agent_id(index: usize) -> AgentId {
    AgentId(Uuid::from_u128(AGENT_TAG | index as u128))
}

fn agent_index(agent: AgentId) -> usize {
    (agent.0.as_u128() & 0xFFFF_FFFF) as usize
}

/// A call's task id carries its slot (low 32 bits) and its number, so ids are never reused.
fn task_id(slot: u32, number: u64) -> TaskId {
    TaskId(Uuid::from_u128(
        TASK_TAG | (u128::from(number) << 32) | u128::from(slot),
    ))
}

fn task_slot(task: TaskId) -> u32 {
    (task.0.as_u128() & 0xFFFF_FFFF) as u32
}

fn seconds_to_span(seconds: f64) -> Span {
    Span((seconds * 1e6).round() as i64)
}

/// Changes an agent's shift and busy flags at `now`, counting its time since the last change to its group when
/// the measurement window is open.
fn account(
    track: &mut AgentTrack,
    groups: &mut [GroupTally],
    measuring: bool,
    now: Time,
    on_shift: bool,
    busy: bool,
) {
    if measuring && track.on_shift {
        let elapsed = now.since(track.since).0 as u128;
        let group = &mut groups[track.group as usize];
        group.staffed += elapsed;
        if track.busy {
            group.busy += elapsed;
        }
    }
    track.on_shift = on_shift;
    track.busy = busy;
    track.since = now;
}

/// Random streams: one per purpose and arrival stream, so that changing one thing (more agents) leaves every
/// draw of the others unchanged (common random numbers across compared runs).
const ARRIVALS: u64 = 1;
const HANDLING: u64 = 2;
const PATIENCE: u64 = 3;

struct Simulator<'m> {
    model: &'m Model,
    plan: Plan,
    engine: Engine,
    now: Time,
    heap: BinaryHeap<Reverse<(Time, u64, SimEvent)>>,
    next_seq: u64,
    arrival_rngs: Vec<Rng>,
    handling_rngs: Vec<Rng>,
    patience_rngs: Vec<Rng>,
    calls: Vec<Call>,
    free_slots: Vec<u32>,
    n_arrivals: u64,
    arrivals_open: bool,
    waiting: Vec<u32>,
    measured_waiting: u64,
    agents: Vec<AgentTrack>,
    measuring: bool,
    measure_started: Option<Time>,
    measure_ended: Option<Time>,
    services: Vec<ServiceTally>,
    groups: Vec<GroupTally>,
    batches: Vec<BatchTally>,
    timeline: Vec<Sample>,
    window: VecDeque<(u64, u64)>,
    bucket: (u64, u64),
    offers: Vec<(TaskId, AgentId)>,
    engine_events: u64,
    /// Check the engine's work conservation after every step (tests only: it reads every waiting task).
    check_work_conservation: bool,
}

/// Runs the model under a plan. The result depends only on the model (its seed included) and the plan.
pub fn run(model: &Model, plan: Plan) -> RunResult {
    let mut simulator = Simulator::new(model, plan);
    simulator.run();
    simulator.finish()
}

impl<'m> Simulator<'m> {
    fn new(model: &'m Model, plan: Plan) -> Simulator<'m> {
        let engine = Engine::new(EngineConfig {
            random_seed: model.seed,
            // Offers are answered at once, and no timer but wrap-up may end anything.
            default_rona_timeout: None,
            max_polling_timeout: None,
            max_task_lifetime: None,
        });
        let stream_rngs = |purpose: u64| -> Vec<Rng> {
            (0..model.streams.len() as u64)
                .map(|stream| Rng::new(model.seed, purpose << 32 | stream))
                .collect()
        };
        let batches = match plan {
            Plan::Calls { batches, .. } => vec![BatchTally::default(); batches.max(1) as usize],
            Plan::Scenario => Vec::new(),
        };
        Simulator {
            model,
            plan,
            engine,
            now: START,
            heap: BinaryHeap::new(),
            next_seq: 0,
            arrival_rngs: stream_rngs(ARRIVALS),
            handling_rngs: stream_rngs(HANDLING),
            patience_rngs: stream_rngs(PATIENCE),
            calls: Vec::new(),
            free_slots: Vec::new(),
            n_arrivals: 0,
            arrivals_open: true,
            waiting: vec![0; model.services.len()],
            measured_waiting: 0,
            agents: Vec::new(),
            measuring: false,
            measure_started: None,
            measure_ended: None,
            services: vec![ServiceTally::default(); model.services.len()],
            groups: vec![GroupTally::default(); model.groups.len()],
            batches,
            timeline: Vec::new(),
            window: VecDeque::new(),
            bucket: (0, 0),
            offers: Vec::new(),
            engine_events: 0,
            check_work_conservation: false,
        }
    }

    fn schedule(&mut self, at: Time, event: SimEvent) {
        self.heap.push(Reverse((at, self.next_seq, event)));
        self.next_seq += 1;
    }

    fn configure(&mut self) {
        let model = self.model;
        for (index, service) in model.services.iter().enumerate() {
            let mut spec = ServiceSpec::new(service_id(index), service.name.clone());
            spec.strategy = service.strategy;
            spec.wrapup = service.wrapup;
            self.engine
                .upsert_service(self.now, spec)
                .expect("a simulated service is valid");
        }
        for (group_index, group) in model.groups.iter().enumerate() {
            for member in 0..group.agents {
                let index = self.agents.len();
                let mut spec =
                    AgentSpec::new(agent_id(index), format!("{} {}", group.name, member + 1));
                spec.group = group_index as u32;
                spec.memberships = group
                    .skills
                    .iter()
                    .map(|&(service, penalty)| (service_id(service), penalty))
                    .collect();
                self.engine
                    .upsert_agent(self.now, spec)
                    .expect("a simulated agent is valid");
                self.agents.push(AgentTrack {
                    group: group_index as u32,
                    on_shift: false,
                    busy: false,
                    since: self.now,
                });
            }
            for &(start, end) in &group.shifts {
                self.schedule(
                    START.plus(start),
                    SimEvent::Shift {
                        group: group_index as u32,
                        on: true,
                    },
                );
                // A shift "until forever" has no end to schedule.
                if end.0 < i64::MAX / 8 {
                    self.schedule(
                        START.plus(end),
                        SimEvent::Shift {
                            group: group_index as u32,
                            on: false,
                        },
                    );
                }
            }
        }
        self.engine.drain_events();
        match self.plan {
            Plan::Scenario => {
                self.schedule(START.plus(model.warmup), SimEvent::MeasureStart);
                self.schedule(START.plus(model.duration), SimEvent::MeasureEnd);
                self.schedule(START, SimEvent::Sample);
            }
            Plan::Calls { .. } => {}
        }
        for stream in 0..model.streams.len() {
            if let Some(at) = self.next_arrival(stream, START) {
                self.schedule(
                    at,
                    SimEvent::Arrival {
                        stream: stream as u32,
                    },
                );
            }
        }
    }

    /// The next arrival of a non-homogeneous Poisson stream with piecewise constant rates, after `from`: an
    /// exponential gap at the current rate, restarted at each rate change (exact, by memorylessness).
    fn next_arrival(&mut self, stream: usize, from: Time) -> Option<Time> {
        let rates = &self.model.streams[stream].rates;
        let end = match self.plan {
            Plan::Scenario => Some(START.plus(self.model.duration)),
            Plan::Calls { .. } => None,
        };
        let mut at = from;
        loop {
            let elapsed = at.since(START);
            let current = rates
                .iter()
                .rposition(|&(from, _)| from <= elapsed)
                .unwrap_or(0);
            let (_, rate) = rates[current];
            let interval_end = rates.get(current + 1).map(|&(from, _)| START.plus(from));
            if rate > 0.0 {
                let candidate = at.plus(seconds_to_span(
                    self.arrival_rngs[stream].exponential(1.0 / rate),
                ));
                if interval_end.is_none_or(|limit| candidate < limit) {
                    return match end {
                        Some(end) if candidate >= end => None,
                        _ => Some(candidate),
                    };
                }
            }
            at = interval_end?;
            if end.is_some_and(|end| at >= end) {
                return None;
            }
        }
    }

    fn run(&mut self) {
        self.configure();
        loop {
            if self.is_done() {
                break;
            }
            let next_event = self.heap.peek().map(|Reverse((at, _, _))| *at);
            let deadline = self.engine.next_deadline();
            let engine_first = match (next_event, deadline) {
                (_, None) => false,
                (None, Some(_)) => true,
                (Some(at), Some(deadline)) => deadline <= at,
            };
            if engine_first {
                let deadline = deadline.expect("engine_first has a deadline");
                debug_assert!(deadline > self.engine.now(), "a due timer has fired");
                self.set_now(deadline);
                self.engine.advance(self.now);
                self.pump();
            } else if let Some(Reverse((at, _, event))) = self.heap.pop() {
                self.set_now(at);
                self.handle(event);
            } else {
                break;
            }
        }
    }

    fn is_done(&self) -> bool {
        if self.arrivals_open {
            return false;
        }
        match self.plan {
            Plan::Scenario => self.measure_ended.is_some() && self.waiting.iter().all(|&n| n == 0),
            Plan::Calls { .. } => self.measured_waiting == 0,
        }
    }

    fn set_now(&mut self, at: Time) {
        debug_assert!(at >= self.now, "simulated time never goes back");
        self.now = self.now.max(at);
    }

    fn handle(&mut self, event: SimEvent) {
        match event {
            SimEvent::Arrival { stream } => self.arrive(stream as usize),
            SimEvent::Completion { slot, number } => self.complete(slot, number),
            SimEvent::Abandon { slot, number } => self.abandon(slot, number),
            SimEvent::Shift { group, on } => self.shift(group as usize, on),
            SimEvent::Sample => self.sample(),
            SimEvent::MeasureStart => self.start_measuring(),
            SimEvent::MeasureEnd => {
                self.stop_measuring();
                self.arrivals_open = false;
            }
        }
    }

    fn start_measuring(&mut self) {
        self.flush_agents();
        self.measuring = true;
        self.measure_started = Some(self.now);
    }

    fn stop_measuring(&mut self) {
        if self.measuring {
            self.flush_agents();
            self.measuring = false;
            self.measure_ended = Some(self.now);
        }
    }

    /// Counts every agent's time up to now, so that the window opens or closes exactly now.
    fn flush_agents(&mut self) {
        for agent in 0..self.agents.len() {
            let track = self.agents[agent];
            self.set_agent(agent, track.on_shift, track.busy);
        }
    }

    /// Changes an agent's shift and busy flags, counting its time since the last change.
    fn set_agent(&mut self, agent: usize, on_shift: bool, busy: bool) {
        account(
            &mut self.agents[agent],
            &mut self.groups,
            self.measuring,
            self.now,
            on_shift,
            busy,
        );
    }

    fn arrive(&mut self, stream: usize) {
        let number = self.n_arrivals;
        self.n_arrivals += 1;
        let measured = match self.plan {
            Plan::Scenario => self.measuring,
            Plan::Calls {
                warmup, measured, ..
            } => {
                if number == warmup {
                    self.start_measuring();
                }
                (warmup..warmup + measured).contains(&number)
            }
        };
        let model = self.model;
        let config = &model.streams[stream];
        let handling = seconds_to_span(config.handling.sample(&mut self.handling_rngs[stream]));
        let patience = config
            .patience
            .map(|patience| seconds_to_span(patience.sample(&mut self.patience_rngs[stream])));
        let call = Call {
            number,
            service: config.service as u32,
            arrival: self.now,
            handling,
            state: CallState::Waiting,
            measured,
        };
        let slot = match self.free_slots.pop() {
            Some(slot) => {
                self.calls[slot as usize] = call;
                slot
            }
            None => {
                self.calls.push(call);
                (self.calls.len() - 1) as u32
            }
        };
        self.waiting[config.service] += 1;
        if measured {
            self.services[config.service].offered += 1;
            self.measured_waiting += 1;
        }
        let mut spec = TaskSpec::new(task_id(slot, number), service_id(config.service));
        spec.kind = TaskKind::Call;
        spec.priority = Priority(config.priority);
        self.engine
            .create_task(self.now, spec)
            .expect("a simulated call is valid");
        if let Some(patience) = patience {
            self.schedule(self.now.plus(patience), SimEvent::Abandon { slot, number });
        }
        match self.plan {
            Plan::Calls {
                warmup, measured, ..
            } if number + 1 >= warmup + measured => {
                self.arrivals_open = false;
            }
            _ => {
                if let Some(at) = self.next_arrival(stream, self.now) {
                    self.schedule(
                        at,
                        SimEvent::Arrival {
                            stream: stream as u32,
                        },
                    );
                } else if self.plan != Plan::Scenario {
                    self.arrivals_open = false;
                }
            }
        }
        self.pump();
        if let Plan::Calls {
            warmup, measured, ..
        } = self.plan
        {
            if number + 1 == warmup + measured {
                self.stop_measuring();
            }
        }
    }

    fn complete(&mut self, slot: u32, number: u64) {
        debug_assert_eq!(self.calls[slot as usize].number, number);
        self.engine
            .terminate(
                self.now,
                task_id(slot, number),
                TerminationReason::Completed,
            )
            .expect("an answered call can end");
        self.free_slots.push(slot);
        self.pump();
    }

    fn abandon(&mut self, slot: u32, number: u64) {
        let call = self.calls[slot as usize];
        if call.number != number || call.state != CallState::Waiting {
            return;
        }
        self.engine
            .terminate(
                self.now,
                task_id(slot, number),
                TerminationReason::Cancelled,
            )
            .expect("a waiting call can be cancelled");
        let wait = self.now.since(call.arrival).0;
        let service = call.service as usize;
        self.waiting[service] -= 1;
        self.bucket.0 += 1;
        if call.measured {
            self.measured_waiting -= 1;
            let tally = &mut self.services[service];
            tally.abandoned += 1;
            tally.wait_abandoned += wait as u128;
            tally.max_wait = tally.max_wait.max(wait);
            if let Some(batch) = self.batch_of(number) {
                batch.calls += 1;
                batch.waited += 1;
            }
        }
        self.free_slots.push(slot);
        self.pump();
    }

    fn shift(&mut self, group: usize, on: bool) {
        let presence = if on {
            Presence::Online
        } else {
            Presence::Offline
        };
        for agent in 0..self.agents.len() {
            if self.agents[agent].group as usize != group {
                continue;
            }
            let busy = self.agents[agent].busy;
            self.set_agent(agent, on, busy);
            self.engine
                .set_presence(self.now, agent_id(agent), presence)
                .expect("a simulated agent exists");
        }
        self.pump();
    }

    fn sample(&mut self) {
        let model = self.model;
        let window_buckets = (model.rolling_window.0 / model.sample_interval.0).max(1) as usize;
        self.window.push_back(self.bucket);
        self.bucket = (0, 0);
        while self.window.len() > window_buckets {
            self.window.pop_front();
        }
        let (ended, within) = self
            .window
            .iter()
            .fold((0, 0), |(e, w), &(ended, within)| (e + ended, w + within));
        self.timeline.push(Sample {
            at: self.now.since(START).0 as f64 / 1e6,
            waiting: self.waiting.clone(),
            rolling_service_level: (ended > 0).then(|| within as f64 / ended as f64),
        });
        let next = self.now.plus(model.sample_interval);
        if next <= START.plus(model.duration) {
            self.schedule(next, SimEvent::Sample);
        }
    }

    fn batch_of(&mut self, number: u64) -> Option<&mut BatchTally> {
        let Plan::Calls {
            warmup, measured, ..
        } = self.plan
        else {
            return None;
        };
        let n_batches = self.batches.len() as u64;
        let index = ((number - warmup) as u128 * n_batches as u128 / measured as u128) as usize;
        self.batches.get_mut(index)
    }

    /// Takes the engine's events: answers every offer at once (no ringing), follows agents' states, and repeats
    /// until an answer causes no new offer.
    fn pump(&mut self) {
        loop {
            // The events are read in place and then dropped, not moved out: they are large and numerous.
            let Simulator {
                engine,
                offers,
                agents,
                groups,
                measuring,
                now,
                engine_events,
                ..
            } = self;
            let events = engine.pending_events();
            *engine_events += events.len() as u64;
            for event in events {
                match event.kind {
                    EventKind::TaskOffered { task, agent, .. } => offers.push((task, agent)),
                    EventKind::AgentStatusChanged { agent, state, .. } => {
                        let index = agent_index(agent);
                        let busy = matches!(
                            state,
                            AgentState::Ringing
                                | AgentState::Dialing
                                | AgentState::OnCall
                                | AgentState::OnWrapup
                        );
                        let on_shift = agents[index].on_shift;
                        account(&mut agents[index], groups, *measuring, *now, on_shift, busy);
                    }
                    _ => {}
                }
            }
            engine.drain_events();
            if self.offers.is_empty() {
                if self.check_work_conservation {
                    assert!(
                        self.engine.is_work_conserving(),
                        "a call waits while an agent who may take it is free, at {:?}",
                        self.now
                    );
                }
                break;
            }
            let mut offers = std::mem::take(&mut self.offers);
            for (task, agent) in offers.drain(..) {
                self.answer(task, agent);
            }
            self.offers = offers;
        }
    }

    fn answer(&mut self, task: TaskId, agent: AgentId) {
        let slot = task_slot(task);
        let call = self.calls[slot as usize];
        assert_eq!(call.state, CallState::Waiting, "a call is offered once");
        self.calls[slot as usize].state = CallState::Answered;
        let wait = self.now.since(call.arrival).0;
        let service = call.service as usize;
        self.waiting[service] -= 1;
        let threshold = self.model.services[service].threshold.0;
        self.bucket.0 += 1;
        if wait <= threshold {
            self.bucket.1 += 1;
        }
        let track = self.agents[agent_index(agent)];
        let group = &mut self.groups[track.group as usize];
        if !track.on_shift {
            group.answered_off_shift += 1;
        }
        if call.measured {
            group.answered += 1;
            self.measured_waiting -= 1;
            let tally = &mut self.services[service];
            tally.answered += 1;
            if wait == 0 {
                tally.answered_at_once += 1;
            }
            if wait <= threshold {
                tally.answered_within_threshold += 1;
            }
            tally.wait_answered += wait as u128;
            tally.max_wait = tally.max_wait.max(wait);
            tally.handling += call.handling.0 as u128;
            if let Some(batch) = self.batch_of(call.number) {
                batch.calls += 1;
                batch.answered += 1;
                if wait > 0 {
                    batch.waited += 1;
                }
                batch.wait_answered += wait as u128;
            }
        }
        self.engine
            .establish(self.now, task, Some(agent))
            .expect("an offered call can be answered");
        self.schedule(
            self.now.plus(call.handling),
            SimEvent::Completion {
                slot,
                number: call.number,
            },
        );
    }

    fn finish(mut self) -> RunResult {
        self.stop_measuring();
        for tally in &mut self.services {
            tally.still_waiting = tally.offered - tally.answered - tally.abandoned;
        }
        let measured_span = match (self.measure_started, self.measure_ended) {
            (Some(start), Some(end)) => end.since(start).0,
            _ => 0,
        };
        RunResult {
            services: self.services,
            groups: self.groups,
            batches: self.batches,
            timeline: self.timeline,
            measured_span,
            end: self.now.since(START).0,
            calls_simulated: self.n_arrivals,
            engine_events: self.engine_events,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::point_model;
    use crate::scenario::Scenario;

    /// A call waits only when every agent is busy: after every step of an M/M/N run, and of the example
    /// scenario (skills, penalties, priorities, shifts, wrap-up, abandonment), the engine is work-conserving.
    #[test]
    fn the_engine_is_work_conserving_after_every_step() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../examples/simulation.yaml"
        );
        let text = std::fs::read_to_string(path).unwrap();
        let example = Scenario::parse(&text, path).unwrap().model().unwrap();
        for (model, plan) in [
            (
                point_model(10, 0.9, 5),
                Plan::Calls {
                    warmup: 1_000,
                    measured: 20_000,
                    batches: 1,
                },
            ),
            (example, Plan::Scenario),
        ] {
            let mut simulator = Simulator::new(&model, plan);
            simulator.check_work_conservation = true;
            simulator.run();
            let result = simulator.finish();
            assert!(result.services.iter().map(|s| s.answered).sum::<u64>() > 1_000);
        }
    }
}
