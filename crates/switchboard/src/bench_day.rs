//! `switchboard bench lifecycle` and `switchboard bench mixed`: days (see `day`) with benchmark settings.
//!
//! - lifecycle: agents answer every offer at once and hang up at once, calls arrive at a fixed rate: the full
//!   task lifecycle (create over REST, offer on the agent's socket, answer, hang up) at the server's speed.
//! - mixed: a compressed contact-center day: Poisson arrivals following a day curve, several services with
//!   different strategies and wrap-up, agents serving some of them, ringing, talk times, declines, RONAs,
//!   pauses with reasons, VIP calls and customers hanging up when they have waited too long.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use serde_json::{json, Value};

use crate::client::{Api, CtiSetup};
use crate::day::{ensure_services, Arrivals, Day, DayAgent, DayService};
use crate::sim_agent::{Behaviour, Dist};

/// The options both scenarios share.
pub struct DayOptions {
    pub url: String,
    pub key: String,
    pub agents: usize,
    pub services: usize,
    /// Services each agent serves.
    pub skills: usize,
    /// Calls per second (the average, for mixed).
    pub rate: f64,
    pub duration: Duration,
    pub concurrency: usize,
    pub seed: u64,
    pub json: bool,
}

/// Mixed-only settings.
pub struct MixedOptions {
    /// Mean talk time.
    pub handle: Duration,
    /// Wrap-up after each call, in whole seconds.
    pub wrapup_secs: u64,
    /// Mean patience of a waiting customer.
    pub patience: Duration,
    pub vip_share: f64,
}

const PASSWORD: &str = "bench-password";
const STRATEGIES: [&str; 4] = [
    "LongestIdleAgent",
    "RoundRobin",
    "FewestTasksHandled",
    "LeastTalkTime",
];

fn check(options: &DayOptions) -> anyhow::Result<()> {
    if options.agents == 0 || options.services == 0 || options.skills == 0 || options.rate <= 0.0 {
        bail!("--agents, --services, --skills and --rate must be at least 1");
    }
    if options.skills > options.services {
        bail!("--skills (services per agent) cannot exceed --services");
    }
    Ok(())
}

/// The services agent `i` serves: `skills` of them, spread so every service has agents.
fn skills_of(i: usize, services: usize, skills: usize) -> Vec<usize> {
    (0..skills).map(|j| (i + j) % services).collect()
}

fn agents(prefix: &str, options: &DayOptions, uri: impl Fn(usize) -> String) -> Vec<DayAgent> {
    (0..options.agents)
        .map(|i| {
            let login = format!("{prefix}-agent-{i}");
            let services: Vec<Value> = skills_of(i, options.services, options.skills)
                .into_iter()
                .map(|s| json!({"Service": uri(s)}))
                .collect();
            DayAgent {
                setup: CtiSetup {
                    user: json!({"SipUri": format!("sip:{login}@bench.test"), "FirstName": login,
                                 "LastName": "Bench", "Services": services}),
                    credentials: json!({"Profile": "Agent", "PhoneLine": format!("8{i:05}")}),
                    login,
                    password: PASSWORD.to_string(),
                },
                line: format!("8{i:05}"),
            }
        })
        .collect()
}

/// `bench lifecycle`.
pub async fn lifecycle(options: DayOptions) -> anyhow::Result<()> {
    check(&options)?;
    let api = Api::new(&options.url, &options.key, options.concurrency)?;
    let uri = |s: usize| format!("sip:bench-lifecycle-{s}@switchboard.test");
    let services: Vec<Value> = (0..options.services)
        .map(|s| json!({"Name": format!("Lifecycle benchmark {s}"), "SipUri": uri(s)}))
        .collect();
    ensure_services(&api, &services).await?;
    let day = Day {
        scenario: "lifecycle",
        agents: agents("bench-lifecycle", &options, uri),
        services: (0..options.services)
            .map(|s| DayService {
                uri: uri(s),
                weight: 1.0,
            })
            .collect(),
        behaviour: Behaviour::instant(),
        arrivals: Arrivals::Fixed { rate: options.rate },
        duration: Some(options.duration),
        vip_share: 0.0,
        patience: None,
        service_level: Duration::from_secs(1),
        concurrency: options.concurrency,
        seed: options.seed,
        customer: None,
        narrate: None,
        stop: Arc::new(AtomicBool::new(false)),
    };
    let report = day.run(&api, options.json).await?;
    if options.json {
        println!("{report:#}");
    }
    Ok(())
}

/// `bench mixed`.
pub async fn mixed(options: DayOptions, mix: MixedOptions) -> anyhow::Result<()> {
    check(&options)?;
    let load = options.rate * mix.handle.as_secs_f64() + options.rate * mix.wrapup_secs as f64;
    if load > options.agents as f64 {
        eprintln!(
            "note: the offered load ({load:.0} agents busy on average) exceeds the {} agents: queues will grow and customers hang up",
            options.agents
        );
    }
    let api = Api::new(&options.url, &options.key, options.concurrency)?;
    let uri = |s: usize| format!("sip:bench-mixed-{s}@switchboard.test");
    let services: Vec<Value> = (0..options.services)
        .map(|s| {
            json!({"Name": format!("Mixed benchmark {s}"), "SipUri": uri(s),
                   "DistributionStrategy": STRATEGIES[s % STRATEGIES.len()],
                   "WrapUpTimeInSeconds": mix.wrapup_secs, "RonaTimeoutInSeconds": 5})
        })
        .collect();
    ensure_services(&api, &services).await?;
    let day = Day {
        scenario: "mixed",
        agents: agents("bench-mixed", &options, uri),
        services: (0..options.services)
            .map(|s| DayService {
                uri: uri(s),
                // The first service takes the most calls, as a main line does.
                weight: if s == 0 { 3.0 } else { 1.0 },
            })
            .collect(),
        behaviour: Behaviour {
            ring: Dist::Uniform(Duration::from_millis(200), Duration::from_millis(1500)),
            handle: Dist::Exp(mix.handle),
            no_answer: 0.02,
            decline: 0.01,
            pause_gap: Some(Dist::Exp(Duration::from_secs(60))),
            pause_length: Dist::Uniform(Duration::from_secs(2), Duration::from_secs(8)),
            pause_reasons: vec!["Break".into(), "Coaching".into(), "Lunch".into()],
            rona_recovery: Dist::Uniform(Duration::from_secs(1), Duration::from_secs(3)),
        },
        arrivals: Arrivals::Poisson {
            rate: options.rate,
            curve: true,
        },
        duration: Some(options.duration),
        vip_share: mix.vip_share,
        patience: Some(Dist::Exp(mix.patience)),
        service_level: Duration::from_secs(5),
        concurrency: options.concurrency,
        seed: options.seed,
        customer: None,
        narrate: None,
        stop: Arc::new(AtomicBool::new(false)),
    };
    let report = day.run(&api, options.json).await?;
    if options.json {
        println!("{report:#}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_service_has_agents_and_each_agent_its_skills() {
        for (services, skills) in [(1, 1), (4, 1), (4, 2), (4, 3), (5, 3), (10, 10)] {
            let mut covered = vec![false; services];
            for i in 0..40 {
                let mine = skills_of(i, services, skills);
                assert_eq!(
                    mine.len(),
                    skills,
                    "{services} services, {skills} skills, agent {i}: {mine:?}"
                );
                for s in mine {
                    covered[s] = true;
                }
            }
            assert!(
                covered.iter().all(|c| *c),
                "{services}/{skills}: {covered:?}"
            );
        }
    }
}
