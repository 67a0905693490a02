//! Benchmark of the routing core against targets 1 and 2 of `TARGETS.md`: full task lifecycles per second on one
//! thread, how the cost per lifecycle grows from 1,000 to 100,000 agents, and a backlog of 1,000,000 waiting tasks
//! with 100,000 agents (memory, and the time for a freed agent to get its next task).
//!
//! Run with `cargo bench -p switchboard-core --bench routing`; options after `--`: `--quick` (a short run for CI),
//! `--runs N`, `--lifecycles N`, `--samples N`, `--agents N` (one steady-state size), `--skip-backlog`,
//! `--skip-per-op`. Only std is used: `Instant` for time, and the resident set size from `/proc/self/status` for
//! memory, since the workspace forbids the `unsafe` a counting global allocator would need. Every run is
//! reproducible: the workload comes from a seeded SplitMix64 generator and the engine's own seed.
//!
//! When cargo runs this target as a test (`cargo test --all-targets`, no `--bench` argument), it does one tiny
//! unoptimized pass over every phase so that the code path stays checked, and prints no verdicts.

use std::time::Instant;

use switchboard_core::{
    AgentId, AgentSpec, Engine, EngineConfig, EventKind, Presence, Priority, ServiceId,
    ServiceSpec, Span, Strategy, TaskId, TaskSpec, TerminationReason, Time, TraitId,
    TraitRequirement,
};
use uuid::Uuid;

const N_SERVICES: usize = 100;
const N_SKILLS: usize = 32;
const N_PRIORITIES: u64 = 10;
/// Simulated time between two engine calls.
const STEP: Span = Span::from_millis(1);
const WORKLOAD_SEED: u64 = 0x5EED_0001;

const SERVICE_ID_BASE: u128 = 1 << 100;
const AGENT_ID_BASE: u128 = 2 << 100;
const TASK_ID_BASE: u128 = 3 << 100;

/// SplitMix64: tiny, fast, and enough to draw a reproducible workload.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (n > 0); the tiny modulo bias does not matter here.
    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// A number in `low..=high`.
    fn between(&mut self, low: usize, high: usize) -> usize {
        low + self.below(high - low + 1)
    }
}

/// What the benchmark needs to know about the configured tenant to create tasks.
struct World {
    service_ids: Vec<ServiceId>,
    service_traits: Vec<Vec<TraitRequirement>>,
    n_memberships: usize,
}

/// The strategy of service `i`: mostly longest idle, some of the others.
fn strategy_of(service: usize) -> Strategy {
    match service % 10 {
        0..=5 => Strategy::LongestIdle,
        6 | 7 => Strategy::BestQualifiedMostResponsible,
        8 => Strategy::RoundRobin,
        _ => Strategy::FewestTasks,
    }
}

/// Builds an engine with 100 services over 32 skills and `n_agents` online agents.
///
/// Agents are generated from services so that every service has members: agent `i` takes the skills of service
/// `i % 100` (its primary) and of one random other service, is padded with random skills up to 3-8, and is an
/// explicit member of the services its skills satisfy (primary and secondary first, at most 2-6 of them).
fn build_engine(n_agents: usize, now: &mut Time) -> (Engine, World) {
    let mut rng = Rng(WORKLOAD_SEED);
    let mut engine = Engine::new(EngineConfig {
        random_seed: 7,
        default_rona_timeout: Some(Span::from_secs(30)),
        max_polling_timeout: None,
        max_task_lifetime: Some(Span::from_secs(5 * 24 * 3600)),
    });
    let skills: Vec<TraitId> = (0..N_SKILLS)
        .map(|i| engine.intern_trait(&format!("Skill/{i:02}")))
        .collect();

    let mut service_ids = Vec::with_capacity(N_SERVICES);
    let mut service_skills: Vec<Vec<usize>> = Vec::with_capacity(N_SERVICES);
    let mut service_traits = Vec::with_capacity(N_SERVICES);
    for service in 0..N_SERVICES {
        let id = ServiceId(Uuid::from_u128(SERVICE_ID_BASE + service as u128));
        let n_required = rng.between(1, 3);
        let mut required: Vec<usize> = Vec::new();
        while required.len() < n_required {
            let skill = rng.below(N_SKILLS);
            if !required.contains(&skill) {
                required.push(skill);
            }
        }
        required.sort_unstable();
        let traits: Vec<TraitRequirement> = required
            .iter()
            .map(|&skill| TraitRequirement {
                trait_id: skills[skill],
                min_level: 1,
            })
            .collect();
        let mut spec = ServiceSpec::new(id, format!("Service {service}"));
        spec.strategy = strategy_of(service);
        spec.required_traits = traits.clone();
        engine.upsert_service(*now, spec).expect("valid service");
        service_ids.push(id);
        service_skills.push(required);
        service_traits.push(traits);
    }

    let mut n_memberships = 0;
    for agent in 0..n_agents {
        let primary = agent % N_SERVICES;
        let secondary = loop {
            let other = rng.below(N_SERVICES);
            if other != primary {
                break other;
            }
        };
        let mut held: Vec<usize> = service_skills[primary].clone();
        for &skill in &service_skills[secondary] {
            if !held.contains(&skill) {
                held.push(skill);
            }
        }
        let n_skills = rng.between(3, 8).max(held.len());
        while held.len() < n_skills {
            let skill = rng.below(N_SKILLS);
            if !held.contains(&skill) {
                held.push(skill);
            }
        }
        let mut others: Vec<usize> = (0..N_SERVICES)
            .filter(|&s| s != primary && s != secondary)
            .filter(|&s| service_skills[s].iter().all(|skill| held.contains(skill)))
            .collect();
        // Fisher-Yates, so that the extra memberships are a random subset.
        for i in (1..others.len()).rev() {
            others.swap(i, rng.below(i + 1));
        }
        let cap = rng.between(2, 6);
        let mut memberships = vec![primary, secondary];
        memberships.extend(others.into_iter().take(cap - 2));
        n_memberships += memberships.len();

        let id = AgentId(Uuid::from_u128(AGENT_ID_BASE + agent as u128));
        let mut spec = AgentSpec::new(id, format!("Agent {agent}"));
        spec.traits = held
            .iter()
            .map(|&skill| (skills[skill], rng.between(1, 5) as u8))
            .collect();
        spec.memberships = memberships.iter().map(|&s| (service_ids[s], 0)).collect();
        engine.upsert_agent(*now, spec).expect("valid agent");
        engine
            .set_presence(*now, id, Presence::Online)
            .expect("known agent");
        if agent % 1024 == 0 {
            engine.drain_events().for_each(drop);
        }
    }
    engine.drain_events().for_each(drop);
    *now = now.plus(STEP);
    let world = World {
        service_ids,
        service_traits,
        n_memberships,
    };
    (engine, world)
}

/// The three engine calls of a lifecycle, for the per-operation breakdown.
#[derive(Clone, Copy)]
enum Op {
    Create = 0,
    Accept = 1,
    Complete = 2,
}

/// Drives an engine the way a caller would: creates tasks, accepts every offer it sees in the events, and completes
/// established tasks, advancing `now` by `STEP` at every call.
struct Driver {
    engine: Engine,
    world: World,
    rng: Rng,
    now: Time,
    next_task: u128,
    /// Tasks accepted by an agent and not yet completed: one per busy agent.
    established: Vec<TaskId>,
    offers: Vec<TaskId>,
    n_events: u64,
    n_offers: u64,
    /// When set, each engine call is timed on its own (costs two `Instant::now` per call).
    timing: bool,
    op_nanos: [u64; 3],
    op_calls: [u64; 3],
}

impl Driver {
    fn new(n_agents: usize, seed: u64) -> Driver {
        let mut now = Time::from_secs(1_700_000_000);
        let (engine, world) = build_engine(n_agents, &mut now);
        Driver {
            engine,
            world,
            rng: Rng(seed),
            now,
            next_task: TASK_ID_BASE,
            established: Vec::with_capacity(n_agents),
            offers: Vec::new(),
            n_events: 0,
            n_offers: 0,
            timing: false,
            op_nanos: [0; 3],
            op_calls: [0; 3],
        }
    }

    fn tick(&mut self) -> Time {
        self.now = self.now.plus(STEP);
        self.now
    }

    /// Takes the events of the last call, noting the offers to accept.
    fn drain(&mut self) {
        for event in self.engine.drain_events() {
            self.n_events += 1;
            if let EventKind::TaskOffered { task, .. } = event.kind {
                self.offers.push(task);
                self.n_offers += 1;
            }
        }
    }

    fn record(&mut self, op: Op, started: Option<Instant>) {
        if let Some(started) = started {
            self.op_nanos[op as usize] += started.elapsed().as_nanos() as u64;
            self.op_calls[op as usize] += 1;
        }
    }

    fn start(&self) -> Option<Instant> {
        self.timing.then(Instant::now)
    }

    fn accept_offers(&mut self) {
        while let Some(task) = self.offers.pop() {
            let now = self.tick();
            let started = self.start();
            self.engine
                .establish(now, task, None)
                .expect("the offer is accepted");
            self.record(Op::Accept, started);
            self.drain();
            self.established.push(task);
        }
    }

    /// Creates one task in a random service with a random priority 0-9; it inherits the service's requirements.
    fn create_task(&mut self) {
        let service = self.rng.below(N_SERVICES);
        let priority = self.rng.next_u64() % N_PRIORITIES;
        let id = TaskId(Uuid::from_u128(self.next_task));
        self.next_task += 1;
        let mut spec = TaskSpec::new(id, self.world.service_ids[service]);
        spec.priority = Priority(priority as i32);
        spec.required_traits = self.world.service_traits[service].clone();
        let now = self.tick();
        let started = self.start();
        self.engine.create_task(now, spec).expect("valid task");
        self.record(Op::Create, started);
        self.drain();
        self.accept_offers();
    }

    /// Completes the established task of a random busy agent; the freed agent is offered its next task, if any,
    /// and accepts it. Returns the time the `terminate` call took.
    fn complete_random_task(&mut self) -> std::time::Duration {
        let pos = self.rng.below(self.established.len());
        let task = self.established.swap_remove(pos);
        let now = self.tick();
        let started = Instant::now();
        self.engine
            .terminate(now, task, TerminationReason::Completed)
            .expect("live task");
        let elapsed = started.elapsed();
        if self.timing {
            self.op_nanos[Op::Complete as usize] += elapsed.as_nanos() as u64;
            self.op_calls[Op::Complete as usize] += 1;
        }
        self.drain();
        self.accept_offers();
        elapsed
    }

    /// One full lifecycle in steady state: a task enters, and one task completes (its agent takes the next one).
    /// Never inlined, so that a profiler can attribute cost to it (`valgrind --toggle-collect`).
    #[inline(never)]
    fn lifecycle(&mut self) {
        self.create_task();
        self.complete_random_task();
    }

    fn n_busy(&self) -> usize {
        self.established.len()
    }

    fn n_waiting(&self) -> usize {
        self.engine.n_live_tasks() - self.established.len()
    }
}

/// Outcome of one steady-state run.
struct SteadyRun {
    nanos_per_lifecycle: f64,
    busy_fraction: f64,
    n_waiting: usize,
    events_per_lifecycle: f64,
    offers_per_lifecycle: f64,
    memberships_per_agent: f64,
}

/// Builds a fresh engine with `n_agents`, fills it with one task per agent plus a backlog of a tenth of that, and
/// warms it up with two lifecycles per agent (at least 10,000), so that the tasks, agents and queues are spread
/// over the heap as they are after hours of traffic rather than in creation order.
fn warmed_driver(n_agents: usize, seed: u64) -> Driver {
    let mut driver = Driver::new(n_agents, seed);
    let n_live = n_agents + n_agents / 10;
    while driver.engine.n_live_tasks() < n_live {
        driver.create_task();
    }
    for _ in 0..(2 * n_agents).max(10_000) {
        driver.lifecycle();
    }
    driver
}

/// Times `n_lifecycles` steady-state lifecycles on a fresh, warmed-up engine.
fn steady_run(n_agents: usize, n_lifecycles: usize, run: u64) -> SteadyRun {
    let mut driver = warmed_driver(n_agents, 0xB0B0 + run);
    let n_live = driver.engine.n_live_tasks();
    let (events_before, offers_before) = (driver.n_events, driver.n_offers);
    let started = Instant::now();
    for _ in 0..n_lifecycles {
        driver.lifecycle();
    }
    let elapsed = started.elapsed();
    assert_eq!(
        driver.engine.n_live_tasks(),
        n_live,
        "every task is accounted for"
    );
    SteadyRun {
        nanos_per_lifecycle: elapsed.as_nanos() as f64 / n_lifecycles as f64,
        busy_fraction: driver.n_busy() as f64 / n_agents as f64,
        n_waiting: driver.n_waiting(),
        events_per_lifecycle: (driver.n_events - events_before) as f64 / n_lifecycles as f64,
        offers_per_lifecycle: (driver.n_offers - offers_before) as f64 / n_lifecycles as f64,
        memberships_per_agent: driver.world.n_memberships as f64 / n_agents as f64,
    }
}

/// Times each engine call of `n_lifecycles` lifecycles separately.
fn per_operation(n_agents: usize, n_lifecycles: usize) -> [(u64, u64); 3] {
    let mut driver = warmed_driver(n_agents, 0xB0B0);
    driver.timing = true;
    for _ in 0..n_lifecycles {
        driver.lifecycle();
    }
    [0, 1, 2].map(|op| (driver.op_nanos[op], driver.op_calls[op]))
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// A value of `/proc/self/status` in KiB (`VmRSS`, `VmHWM`); `None` off Linux.
fn proc_status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

fn mib(kib: Option<u64>) -> String {
    kib.map(|kib| format!("{:.1} MiB", kib as f64 / 1024.0))
        .unwrap_or_else(|| "n/a".to_string())
}

fn diff_kib(after: Option<u64>, before: Option<u64>) -> Option<u64> {
    Some(after?.saturating_sub(before?))
}

fn percentile(sorted: &[u64], per_mille: usize) -> u64 {
    sorted[((sorted.len() - 1) * per_mille) / 1000]
}

fn micros(nanos: u64) -> String {
    format!("{:.2} µs", nanos as f64 / 1000.0)
}

fn met(ok: bool) -> &'static str {
    if ok {
        "MET"
    } else {
        "NOT MET"
    }
}

struct Settings {
    label: &'static str,
    runs: usize,
    lifecycles: usize,
    scale_agents: Vec<usize>,
    backlog_agents: usize,
    backlog_tasks: usize,
    samples: usize,
    skip_backlog: bool,
    skip_per_op: bool,
    /// False in test mode, whose unoptimized numbers say nothing about the targets.
    verdicts: bool,
}

fn settings_from_args() -> Settings {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let bench_mode = args.iter().any(|a| a == "--bench");
    let quick = args.iter().any(|a| a == "--quick");
    let mut settings = if !bench_mode {
        // Run as a test by `cargo test --all-targets`: one tiny pass over every phase.
        Settings {
            label: "test mode, tiny and unoptimized: use cargo bench for numbers",
            runs: 1,
            lifecycles: 2_000,
            scale_agents: vec![200, 2_000],
            backlog_agents: 1_000,
            backlog_tasks: 10_000,
            samples: 500,
            skip_backlog: false,
            skip_per_op: false,
            verdicts: false,
        }
    } else if quick {
        Settings {
            label: "quick",
            runs: 3,
            lifecycles: 50_000,
            scale_agents: vec![1_000, 10_000, 100_000],
            backlog_agents: 10_000,
            backlog_tasks: 100_000,
            samples: 5_000,
            skip_backlog: false,
            skip_per_op: false,
            verdicts: true,
        }
    } else {
        Settings {
            label: "full",
            runs: 5,
            lifecycles: 200_000,
            scale_agents: vec![1_000, 10_000, 100_000],
            backlog_agents: 100_000,
            backlog_tasks: 1_000_000,
            samples: 20_000,
            skip_backlog: false,
            skip_per_op: false,
            verdicts: true,
        }
    };
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let mut value = || -> usize {
            iter.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{arg} needs a number"))
        };
        match arg.as_str() {
            "--bench" | "--quick" => {}
            "--runs" => settings.runs = value().max(1),
            "--lifecycles" => settings.lifecycles = value().max(1),
            "--samples" => settings.samples = value().max(1),
            "--agents" => settings.scale_agents = vec![value().max(10)],
            "--skip-backlog" => settings.skip_backlog = true,
            "--skip-per-op" => settings.skip_per_op = true,
            other => eprintln!("ignoring unknown argument {other:?}"),
        }
    }
    settings
}

/// Target 2: a large backlog, built first so that the process's memory growth is the engine's alone.
fn backlog(settings: &Settings) -> bool {
    let (n_agents, n_tasks) = (settings.backlog_agents, settings.backlog_tasks);
    println!("\n## Backlog: {n_agents} agents all busy, {n_tasks} waiting tasks (target 2)");
    let rss_start = proc_status_kib("VmRSS");
    let started = Instant::now();
    let mut driver = Driver::new(n_agents, 0xBAC0);
    let agents_built = started.elapsed();
    let rss_agents = proc_status_kib("VmRSS");
    let started = Instant::now();
    while driver.n_busy() < n_agents || driver.n_waiting() < n_tasks {
        driver.create_task();
    }
    let tasks_built = started.elapsed();
    let rss_full = proc_status_kib("VmRSS");
    let n_waiting = driver.n_waiting();
    let n_live = driver.engine.n_live_tasks();
    let growth = diff_kib(rss_full, rss_start);
    let task_growth = diff_kib(rss_full, rss_agents);

    // The next task for a freed agent: time each terminate, which finishes the task, finds the agent's best
    // waiting task across its services and offers it. Every sample must produce an offer.
    let mut samples: Vec<u64> = Vec::with_capacity(settings.samples);
    let offers_before = driver.n_offers;
    for _ in 0..settings.samples {
        samples.push(driver.complete_random_task().as_nanos() as u64);
    }
    let n_offered = driver.n_offers - offers_before;
    samples.sort_unstable();
    // Enqueue into the full backlog, for reference.
    let mut enqueue: Vec<u64> = Vec::with_capacity(settings.samples);
    for _ in 0..settings.samples {
        let started = Instant::now();
        driver.create_task();
        enqueue.push(started.elapsed().as_nanos() as u64);
    }
    enqueue.sort_unstable();
    let hwm = proc_status_kib("VmHWM");

    let p99 = percentile(&samples, 990);
    let memory_ok = growth.is_some_and(|kib| kib <= 1536 * 1024);
    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| build: {n_agents} agents online | {:.2} s |",
        agents_built.as_secs_f64()
    );
    println!(
        "| build: {n_live} tasks created ({n_waiting} waiting, all agents busy) | {:.2} s ({:.2} µs/task) |",
        tasks_built.as_secs_f64(),
        tasks_built.as_secs_f64() * 1e6 / n_live as f64
    );
    println!("| RSS at start | {} |", mib(rss_start));
    println!(
        "| RSS growth, agents only | {} |",
        mib(diff_kib(rss_agents, rss_start))
    );
    let memory_verdict = if settings.verdicts {
        format!(" ({})", met(memory_ok))
    } else {
        String::new()
    };
    println!(
        "| RSS growth, agents + tasks (target <= 1536 MiB) | {}{memory_verdict} |",
        mib(growth)
    );
    if let Some(kib) = task_growth {
        println!(
            "| RSS per live task | {:.0} bytes |",
            kib as f64 * 1024.0 / n_live as f64
        );
    }
    println!("| peak RSS of the process (VmHWM) | {} |", mib(hwm));
    println!(
        "| freed agent gets next task (terminate), {} samples, {} offered | p50 {} / p99 {} / max {} |",
        samples.len(),
        n_offered,
        micros(percentile(&samples, 500)),
        micros(p99),
        micros(*samples.last().expect("samples"))
    );
    println!(
        "| enqueue into the backlog (create_task), {} samples | p50 {} / p99 {} / max {} |",
        enqueue.len(),
        micros(percentile(&enqueue, 500)),
        micros(percentile(&enqueue, 990)),
        micros(*enqueue.last().expect("samples"))
    );
    assert_eq!(
        n_offered as usize,
        samples.len(),
        "each freed agent got a task"
    );
    let latency_ok = p99 <= 10_000;
    if !settings.verdicts {
        return true;
    }
    println!(
        "Target 2: memory {} ; next-task p99 {} <= 10 µs: {}",
        met(memory_ok),
        micros(p99),
        met(latency_ok)
    );
    memory_ok && latency_ok
}

fn main() {
    let settings = settings_from_args();
    println!(
        "# switchboard-core routing benchmark ({}): {} run(s) x {} lifecycles per size",
        settings.label, settings.runs, settings.lifecycles
    );
    println!(
        "Workload: {N_SERVICES} services, {N_SKILLS} skills, tasks of priority 0-9 in a random service; \
         steady state keeps agents + agents/10 tasks live."
    );
    let backlog_ok = settings.skip_backlog || backlog(&settings);

    println!(
        "\n## Steady state: full task lifecycles (create, offer, accept, complete) on one thread"
    );
    println!(
        "| agents | memberships/agent | ns/lifecycle (median) | lifecycles/s | ns/engine call | \
         runs (ns/lifecycle) | busy | waiting | events/lifecycle |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    // Runs alternate between the sizes, so that a noisy moment on a shared machine hits every size alike.
    let mut runs: Vec<Vec<SteadyRun>> = settings.scale_agents.iter().map(|_| Vec::new()).collect();
    for run in 0..settings.runs {
        for (size, &n_agents) in settings.scale_agents.iter().enumerate() {
            runs[size].push(steady_run(n_agents, settings.lifecycles, run as u64));
        }
    }
    let mut costs: Vec<(usize, f64)> = Vec::new();
    for (&n_agents, mut runs) in settings.scale_agents.iter().zip(runs) {
        let mut nanos: Vec<f64> = runs.iter().map(|r| r.nanos_per_lifecycle).collect();
        let listed = nanos
            .iter()
            .map(|n| format!("{n:.0}"))
            .collect::<Vec<_>>()
            .join(", ");
        let median_nanos = median(&mut nanos);
        let last = runs.pop().expect("at least one run");
        // Three engine calls per lifecycle: create_task, establish, terminate.
        println!(
            "| {n_agents} | {:.2} | {:.0} | {:.0} | {:.0} | {listed} | {:.1}% | {} | {:.1} (offers {:.2}) |",
            last.memberships_per_agent,
            median_nanos,
            1e9 / median_nanos,
            median_nanos / 3.0,
            last.busy_fraction * 100.0,
            last.n_waiting,
            last.events_per_lifecycle,
            last.offers_per_lifecycle,
        );
        costs.push((n_agents, median_nanos));
    }

    if !settings.skip_per_op {
        print_per_operation(&settings);
    }

    if !settings.verdicts {
        return;
    }
    println!("\n## Verdict");
    let rate_at_10k = costs
        .iter()
        .find(|(n, _)| *n == 10_000)
        .map(|(_, nanos)| 1e9 / nanos);
    if let Some(rate) = rate_at_10k {
        println!(
            "Target 1 throughput at 10,000 agents: {rate:.0} lifecycles/s (target >= 250,000): {}",
            met(rate >= 250_000.0)
        );
    }
    if costs.len() > 1 {
        let smallest = costs.first().expect("sizes");
        let largest = costs.last().expect("sizes");
        let ratio = largest.1 / smallest.1;
        println!(
            "Target 1 scaling: cost({}) / cost({}) = {ratio:.2}x (target <= 1.5x): {}",
            largest.0,
            smallest.0,
            met(ratio <= 1.5)
        );
    }
    if !settings.skip_backlog {
        println!("Target 2 (backlog): {}", met(backlog_ok));
    }
}

/// Prints the mean cost of each engine call of a lifecycle, each call timed on its own.
fn print_per_operation(settings: &Settings) {
    // At 10,000 agents (target 1) when that size is measured, else at the largest size measured.
    let per_op_agents = if settings.scale_agents.contains(&10_000) {
        10_000
    } else {
        *settings.scale_agents.iter().max().expect("sizes")
    };
    let per_op = per_operation(per_op_agents, settings.lifecycles);
    // What timing one call costs by itself: each figure below includes about this much.
    let n_clock_reads = 1_000_000;
    let started = Instant::now();
    for _ in 0..n_clock_reads {
        std::hint::black_box(Instant::now());
    }
    let clock_nanos = started.elapsed().as_nanos() as f64 / n_clock_reads as f64;
    println!(
        "\n## Per engine call at {per_op_agents} agents \
         (each call timed alone; one Instant::now costs {clock_nanos:.0} ns here)"
    );
    println!("| call | calls | mean ns |");
    println!("|---|---|---|");
    for (name, (nanos, calls)) in [
        "create_task (enqueue, offer if an agent is free)",
        "establish (accept)",
        "terminate (complete; freed agent offered next task)",
    ]
    .iter()
    .zip(per_op)
    {
        println!(
            "| {name} | {calls} | {:.0} |",
            nanos as f64 / calls.max(1) as f64
        );
    }
}
