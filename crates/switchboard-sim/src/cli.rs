//! `switchboard simulate`: the command line of the simulator (arguments and what each mode prints).

use std::path::PathBuf;

use anyhow::{bail, Context};

use crate::check::{self, CheckOptions};
use crate::report::Report;
use crate::scenario::Scenario;
use crate::simulation::{self, Plan};
use crate::svg;

/// Arguments of `switchboard simulate`.
#[derive(clap::Args, Debug, Clone)]
pub struct SimulateArgs {
    /// The scenario file: YAML, or TOML when its name ends in .toml (see examples/simulation.yaml).
    #[arg(
        required_unless_present = "erlang_check",
        conflicts_with = "erlang_check"
    )]
    pub scenario: Option<PathBuf>,
    /// Seed of every random draw, overriding the scenario's (the check: the seed of its first point).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Write an SVG chart of calls waiting and the rolling service level over simulated time.
    #[arg(long, value_name = "FILE", conflicts_with = "erlang_check")]
    pub svg: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Run the built-in Erlang C check at the points of TARGETS.md (N=10 at 80% load, 50 at 90%, 100 at 95%);
    /// it fails unless the probability of waiting and the ASA are within 2% of the formula everywhere.
    #[arg(long)]
    pub erlang_check: bool,
    /// Measured calls at every point of the check (default: 20 million at N=10, 80 million at N=50, 200 million
    /// at N=100, enough for standard errors of at most a quarter of the tolerance).
    #[arg(long, requires = "erlang_check")]
    pub calls: Option<u64>,
    /// Calls discarded at the start of each replication of the check.
    #[arg(long, requires = "erlang_check", default_value_t = check::WARMUP_CALLS)]
    pub warmup_calls: u64,
    /// Worker threads of the check (default: the available cores).
    #[arg(long, requires = "erlang_check")]
    pub threads: Option<usize>,
}

/// Runs `switchboard simulate`; a failed Erlang C check is an error.
pub fn run(args: SimulateArgs) -> anyhow::Result<()> {
    if args.erlang_check {
        return erlang_check(&args);
    }
    let Some(path) = &args.scenario else {
        bail!("give a scenario file, or --erlang-check");
    };
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("could not read the scenario {shown}"))?;
    let mut scenario = Scenario::parse(&text, &shown)?;
    if let Some(seed) = args.seed {
        scenario.seed = seed;
    }
    let model = scenario
        .model()
        .with_context(|| format!("the scenario {shown} is not valid"))?;
    let result = simulation::run(&model, Plan::Scenario);
    let report = Report::new(&model, &result);
    if let Some(svg_path) = &args.svg {
        let title = format!(
            "{shown}: calls waiting and rolling service level (seed {})",
            model.seed
        );
        std::fs::write(svg_path, svg::chart(&model, &result.timeline, &title))
            .with_context(|| format!("could not write the chart {}", svg_path.display()))?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.to_text());
        if let Some(svg_path) = &args.svg {
            println!("chart written to {}", svg_path.display());
        }
    }
    Ok(())
}

fn erlang_check(args: &SimulateArgs) -> anyhow::Result<()> {
    if args.calls.is_some_and(|calls| calls < 1000) {
        bail!("--calls must be at least 1000");
    }
    let mut options = CheckOptions::target(args.calls);
    options.warmup_calls = args.warmup_calls;
    if let Some(seed) = args.seed {
        options.seed = seed;
    }
    if let Some(threads) = args.threads {
        options.threads = threads.max(1);
    }
    let report = check::run(&options);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.to_text());
    }
    if !report.passed {
        bail!(
            "the simulation does not agree with Erlang C within {:.0}%",
            100.0 * report.tolerance
        );
    }
    Ok(())
}
