//! The spread of the Erlang C check's figures over many seeds at one point: what the call counts of the full
//! check and the tolerances of the short CI check are chosen from (docs/simulate.md).
//!
//! ```text
//! cargo run --release -p switchboard-sim --example check_variance -- AGENTS OCCUPANCY CALLS SEEDS [WARMUP]
//! cargo run --release -p switchboard-sim --example check_variance -- 100 0.95 1000000 60 20000
//! ```
//!
//! Each seed is one independent run of CALLS measured calls after WARMUP discarded ones; the output is the mean,
//! standard deviation and largest deviation of the relative differences from Erlang C, and the standard deviation
//! times the square root of CALLS (about constant in CALLS, so it gives the calls needed for a wanted precision).

use std::sync::atomic::{AtomicUsize, Ordering};

use switchboard_sim::check::{point_model, HANDLING_TIME};
use switchboard_sim::erlang::ErlangC;
use switchboard_sim::simulation::{run, Plan};

fn argument<T: std::str::FromStr>(position: usize, name: &str, default: Option<T>) -> T {
    match std::env::args().nth(position) {
        Some(text) => text
            .parse()
            .unwrap_or_else(|_| panic!("{name}: cannot read '{text}'")),
        None => default.unwrap_or_else(|| {
            panic!("usage: check_variance AGENTS OCCUPANCY CALLS SEEDS [WARMUP]")
        }),
    }
}

/// Mean, standard deviation and largest absolute value.
fn spread(values: &[f64]) -> (f64, f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let sd = (values.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    let largest = values.iter().fold(0.0f64, |a, x| a.max(x.abs()));
    (mean, sd, largest)
}

fn main() {
    let agents: u32 = argument(1, "AGENTS", None);
    let occupancy: f64 = argument(2, "OCCUPANCY", None);
    let calls: u64 = argument(3, "CALLS", None);
    let seeds: usize = argument(4, "SEEDS", None);
    let warmup: u64 = argument(5, "WARMUP", Some(20_000));
    let formula = ErlangC::at_occupancy(agents, occupancy, HANDLING_TIME);
    let next = AtomicUsize::new(0);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let differences: Vec<(f64, f64)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let seed = next.fetch_add(1, Ordering::Relaxed);
                        if seed >= seeds {
                            return done;
                        }
                        let model = point_model(agents, occupancy, 1000 + seed as u64);
                        let plan = Plan::Calls {
                            warmup,
                            measured: calls,
                            batches: 1,
                        };
                        let tally = &run(&model, plan).services[0];
                        let waited = (tally.answered - tally.answered_at_once) as f64
                            / tally.answered as f64;
                        let asa = tally.wait_answered as f64 / 1e6 / tally.answered as f64;
                        done.push((
                            waited / formula.probability_of_waiting() - 1.0,
                            asa / formula.average_speed_of_answer() - 1.0,
                        ));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| worker.join().expect("a run does not panic"))
            .collect()
    });
    let root_calls = (calls as f64).sqrt();
    for (name, values) in [
        (
            "P(wait)",
            differences.iter().map(|d| d.0).collect::<Vec<_>>(),
        ),
        ("ASA", differences.iter().map(|d| d.1).collect()),
    ] {
        let (mean, sd, largest) = spread(&values);
        println!(
            "N={agents} load={occupancy} calls={calls} seeds={seeds} {name:>7}: mean {:+.3}%  sd {:.3}%  \
             largest {:.3}%  sd*sqrt(calls) {:.1}",
            100.0 * mean,
            100.0 * sd,
            100.0 * largest,
            sd * root_calls
        );
    }
}
