//! The Erlang C self-check: the simulator runs M/M/N centres through the real engine (one service, FIFO, longest
//! idle agent, N identical agents, no wrap-up, offers answered at once, exponential handling, Poisson arrivals,
//! nobody abandons) and compares the probability of waiting and the average speed of answer with the Erlang C
//! formula at the points of TARGETS.md.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use serde::Serialize;
use switchboard_core::{Span, Strategy};

use crate::erlang::ErlangC;
use crate::scenario::{Distribution, Model, ModelGroup, ModelService, ModelStream, Seconds};
use crate::simulation::{self, Plan, RunResult};

/// The (agents, occupancy) points of TARGETS.md's "Erlang C agreement" target.
pub const TARGET_POINTS: [(u32, f64); 3] = [(10, 0.80), (50, 0.90), (100, 0.95)];

/// The relative tolerance TARGETS.md sets.
pub const TARGET_TOLERANCE: f64 = 0.02;

/// Measured calls per point by default, chosen from the measured variance of each point (`docs/simulate.md`):
/// the standard error of every figure is at most a quarter of the 2% tolerance. The ASA at N = 100 and 95% load
/// is the hardest figure: queues that long wander slowly, so consecutive calls' waits are strongly correlated.
pub const DEFAULT_CALLS: [u64; 3] = [20_000_000, 80_000_000, 200_000_000];

/// Mean handling time of the check's calls, seconds (any value gives the same relative figures).
pub const HANDLING_TIME: f64 = 180.0;

/// Batches per replication, for the batch-means confidence intervals.
const BATCHES: u32 = 20;

/// A point's calls are split into independent replications of at most this many measured calls (each with its
/// own warm-up and seed), so that the work spreads over the threads.
pub const CALLS_PER_REPLICATION: u64 = 20_000_000;

/// One point of the check.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Point {
    /// N.
    pub agents: u32,
    /// ρ = A / N.
    pub occupancy: f64,
    /// Measured calls.
    pub calls: u64,
}

/// How to run the check.
#[derive(Clone, Debug)]
pub struct CheckOptions {
    /// The points.
    pub points: Vec<Point>,
    /// Calls discarded at the start of each replication.
    pub warmup_calls: u64,
    /// Largest relative difference that passes.
    pub tolerance: f64,
    /// Seed; every replication of every point derives its own from it.
    pub seed: u64,
    /// Worker threads (1: everything on the calling thread).
    pub threads: usize,
}

impl CheckOptions {
    /// The full check of TARGETS.md: its points with `DEFAULT_CALLS`, or `calls` at every point.
    pub fn target(calls: Option<u64>) -> CheckOptions {
        let points = TARGET_POINTS
            .iter()
            .zip(DEFAULT_CALLS)
            .map(|(&(agents, occupancy), default)| Point {
                agents,
                occupancy,
                calls: calls.unwrap_or(default),
            })
            .collect();
        CheckOptions {
            points,
            warmup_calls: WARMUP_CALLS,
            tolerance: TARGET_TOLERANCE,
            seed: 1,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

/// Calls discarded at the start of each replication: the centres start empty, and at N = 100 and 95% load the
/// queue forgets its start within a few thousand calls.
pub const WARMUP_CALLS: u64 = 50_000;

/// One figure: the formula's value, the simulated one and its confidence interval.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Comparison {
    /// Erlang C.
    pub predicted: f64,
    /// The simulation.
    pub simulated: f64,
    /// (simulated − predicted) / predicted.
    pub relative_difference: f64,
    /// Half-width of the 95% confidence interval of the simulated value (batch means), relative to the
    /// predicted value.
    pub relative_confidence: f64,
}

/// Student's t quantile 0.975 for `df` degrees of freedom (Cornish-Fisher expansion; within 0.1% from 10 on).
fn t_975(df: f64) -> f64 {
    let z: f64 = 1.959_964;
    z + (z.powi(3) + z) / (4.0 * df)
        + (5.0 * z.powi(5) + 16.0 * z.powi(3) + 3.0 * z) / (96.0 * df * df)
}

impl Comparison {
    fn new(predicted: f64, simulated: f64, batch_values: &[f64]) -> Comparison {
        let n = batch_values.len() as f64;
        let mean = batch_values.iter().sum::<f64>() / n;
        let variance = batch_values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
        Comparison {
            predicted,
            simulated,
            relative_difference: (simulated - predicted) / predicted,
            relative_confidence: t_975(n - 1.0) * (variance / n).sqrt() / predicted,
        }
    }
}

/// The result at one point.
#[derive(Clone, Debug, Serialize)]
pub struct PointResult {
    /// N.
    pub agents: u32,
    /// ρ.
    pub occupancy: f64,
    /// Measured calls.
    pub calls: u64,
    /// Independent replications the calls were split into.
    pub replications: u32,
    /// Probability of waiting.
    pub probability_of_waiting: Comparison,
    /// Average speed of answer, seconds.
    pub average_speed_of_answer: Comparison,
    /// Simulated agent occupancy over the measurement windows (Erlang C: ρ).
    pub simulated_occupancy: f64,
    /// Both figures within the tolerance.
    pub passed: bool,
    /// Simulated time, hours, summed over the replications.
    pub simulated_hours: f64,
    /// Run time of the point's replications, summed, seconds (wall time of each on its thread: on a busy
    /// machine more than the processor time).
    pub run_seconds: f64,
}

/// The whole check.
#[derive(Clone, Debug, Serialize)]
pub struct CheckReport {
    /// The tolerance applied.
    pub tolerance: f64,
    /// Warm-up calls per replication.
    pub warmup_calls: u64,
    /// Worker threads.
    pub threads: usize,
    /// Per point.
    pub points: Vec<PointResult>,
    /// Every point passed.
    pub passed: bool,
    /// Wall time of the whole check, seconds.
    pub wall_seconds: f64,
}

/// The M/M/N model of a point: one service, N agents, exponential handling, constant Poisson rate.
pub fn point_model(agents: u32, occupancy: f64, seed: u64) -> Model {
    let formula = ErlangC::at_occupancy(agents, occupancy, HANDLING_TIME);
    Model {
        seed,
        duration: Span::from_secs(3600),
        warmup: Span::ZERO,
        sample_interval: Span::from_secs(60),
        rolling_window: Span::from_mins(15),
        services: vec![ModelService {
            name: format!("M/M/{agents}"),
            strategy: Strategy::LongestIdle,
            threshold: Span::from_secs(20),
            wrapup: Span::ZERO,
        }],
        groups: vec![ModelGroup {
            name: "agents".to_string(),
            agents,
            skills: vec![(0, 0)],
            shifts: vec![(Span::ZERO, Span(i64::MAX / 4))],
        }],
        streams: vec![ModelStream {
            service: 0,
            rates: vec![(Span::ZERO, formula.arrival_rate())],
            handling: Distribution::Exponential {
                mean: Seconds(HANDLING_TIME),
            },
            patience: None,
            priority: 0,
        }],
    }
}

/// One replication of one point.
struct Unit {
    point: usize,
    replication: u32,
    calls: u64,
}

/// The seed of a replication: distinct for every (seed, point, replication).
fn unit_seed(seed: u64, point: usize, replication: u32) -> u64 {
    let mut state = seed ^ ((point as u64) << 40) ^ u64::from(replication);
    crate::rng::splitmix64(&mut state)
}

/// Runs the check.
pub fn run(options: &CheckOptions) -> CheckReport {
    let started = Instant::now();
    let mut units = Vec::new();
    for (index, point) in options.points.iter().enumerate() {
        let replications = point.calls.div_ceil(CALLS_PER_REPLICATION).max(1);
        for replication in 0..replications {
            // Spread the calls evenly: the first replications take one more call when they do not divide.
            let calls =
                point.calls / replications + u64::from(replication < point.calls % replications);
            units.push(Unit {
                point: index,
                replication: replication as u32,
                calls,
            });
        }
    }
    // Longest first, so that the threads finish together.
    units.sort_by_key(|unit| std::cmp::Reverse(unit.calls));
    let run_unit = |unit: &Unit| -> (RunResult, f64) {
        let unit_started = Instant::now();
        let point = options.points[unit.point];
        let model = point_model(
            point.agents,
            point.occupancy,
            unit_seed(options.seed, unit.point, unit.replication),
        );
        let result = simulation::run(
            &model,
            Plan::Calls {
                warmup: options.warmup_calls,
                measured: unit.calls,
                batches: BATCHES,
            },
        );
        (result, unit_started.elapsed().as_secs_f64())
    };
    let next = AtomicUsize::new(0);
    let worker = || {
        let mut done = Vec::new();
        loop {
            let index = next.fetch_add(1, Ordering::Relaxed);
            let Some(unit) = units.get(index) else {
                return done;
            };
            done.push((index, run_unit(unit)));
        }
    };
    let mut results: Vec<(usize, (RunResult, f64))> = if options.threads > 1 {
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..options.threads.min(units.len()))
                .map(|_| scope.spawn(worker))
                .collect();
            handles
                .into_iter()
                .flat_map(|handle| handle.join().expect("a check replication does not panic"))
                .collect()
        })
    } else {
        worker()
    };
    results.sort_by_key(|(index, _)| (units[*index].point, units[*index].replication));
    let points: Vec<PointResult> = options
        .points
        .iter()
        .enumerate()
        .map(|(index, point)| {
            let runs: Vec<&(RunResult, f64)> = results
                .iter()
                .filter(|(unit, _)| units[*unit].point == index)
                .map(|(_, run)| run)
                .collect();
            compare(point, &runs, options.tolerance)
        })
        .collect();
    CheckReport {
        tolerance: options.tolerance,
        warmup_calls: options.warmup_calls,
        threads: options.threads,
        passed: points.iter().all(|p| p.passed),
        points,
        wall_seconds: started.elapsed().as_secs_f64(),
    }
}

/// Pools a point's replications and compares them with the formula.
fn compare(point: &Point, runs: &[&(RunResult, f64)], tolerance: f64) -> PointResult {
    let formula = ErlangC::at_occupancy(point.agents, point.occupancy, HANDLING_TIME);
    let (mut ended, mut at_once, mut answered, mut wait) = (0u64, 0u64, 0u64, 0u128);
    let (mut busy, mut staffed, mut hours, mut run_time) = (0u128, 0u128, 0.0, 0.0);
    let mut batch_wait = Vec::new();
    let mut batch_asa = Vec::new();
    for (result, seconds) in runs {
        let tally = &result.services[0];
        ended += tally.answered + tally.abandoned;
        at_once += tally.answered_at_once;
        answered += tally.answered;
        wait += tally.wait_answered;
        busy += result.groups[0].busy;
        staffed += result.groups[0].staffed;
        hours += result.end as f64 / 3.6e9;
        run_time += seconds;
        for batch in &result.batches {
            batch_wait.push(batch.waited as f64 / batch.calls as f64);
            batch_asa.push(batch.wait_answered as f64 / 1e6 / batch.answered as f64);
        }
    }
    let probability_of_waiting = Comparison::new(
        formula.probability_of_waiting(),
        (ended - at_once) as f64 / ended as f64,
        &batch_wait,
    );
    let average_speed_of_answer = Comparison::new(
        formula.average_speed_of_answer(),
        wait as f64 / 1e6 / answered as f64,
        &batch_asa,
    );
    PointResult {
        agents: point.agents,
        occupancy: point.occupancy,
        calls: point.calls,
        replications: runs.len() as u32,
        passed: probability_of_waiting.relative_difference.abs() <= tolerance
            && average_speed_of_answer.relative_difference.abs() <= tolerance,
        probability_of_waiting,
        average_speed_of_answer,
        simulated_occupancy: busy as f64 / staffed as f64,
        simulated_hours: hours,
        run_seconds: run_time,
    }
}

impl CheckReport {
    /// The table: Erlang C beside the simulated figures at every point.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Erlang C check: M/M/N through the routing engine (one service, FIFO, longest idle agent, no wrap-up,\n\
             offers answered at once, exponential handling of mean {HANDLING_TIME:.0} s, Poisson arrivals).\n\
             Each point runs in replications of at most {CALLS_PER_REPLICATION} measured calls, each after {} \
             discarded calls.\n\
             diff = (simulated - Erlang C) / Erlang C; ±: half-width of the 95% confidence interval of the \
             simulated value\n(batch means, {BATCHES} batches per replication), relative to Erlang C.\n",
            self.warmup_calls
        );
        let _ = writeln!(
            out,
            "{:>4} {:>5} {:>11} | {:>8} {:>9} {:>16} | {:>7} {:>9} {:>16} | {:>6} {:>7} | result",
            "N",
            "load",
            "calls",
            "P(wait)",
            "simulated",
            "diff",
            "ASA s",
            "simulated",
            "diff",
            "occup.",
            "run s"
        );
        for point in &self.points {
            let diff = |c: &Comparison| {
                format!(
                    "{:+.2}% ±{:.2}%",
                    100.0 * c.relative_difference,
                    100.0 * c.relative_confidence
                )
            };
            let _ = writeln!(
                out,
                "{:>4} {:>4.0}% {:>11} | {:>8.4} {:>9.4} {:>16} | {:>7.3} {:>9.3} {:>16} | {:>5.2}% {:>7.1} | {}",
                point.agents,
                100.0 * point.occupancy,
                point.calls,
                point.probability_of_waiting.predicted,
                point.probability_of_waiting.simulated,
                diff(&point.probability_of_waiting),
                point.average_speed_of_answer.predicted,
                point.average_speed_of_answer.simulated,
                diff(&point.average_speed_of_answer),
                100.0 * point.simulated_occupancy,
                point.run_seconds,
                if point.passed { "PASS" } else { "FAIL" },
            );
        }
        let _ = writeln!(
            out,
            "\n{}: every figure must be within {:.1}% of Erlang C; wall time {:.1} s on {} threads.",
            if self.passed { "PASS" } else { "FAIL" },
            100.0 * self.tolerance,
            self.wall_seconds,
            self.threads,
        );
        out
    }
}
