//! `switchboard serve --demo`: a demo contact center inside the server. It applies a demo configuration (four
//! services with different strategies, agents with traits, profiles and memberships, pause reasons) to the
//! default tenant, provisions CTI credentials, and runs simulated agents on real CTI sockets and simulated
//! customers calling over REST (a `day` without end), narrating every routing decision on the terminal.
//!
//! Demo data is marked: every service is named "Demo ...", every address is in `demo.switchboard.invalid`, and
//! `--demo` refuses a database whose tenant holds anything else.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use rand::rngs::SmallRng;
use rand::Rng;
use serde_json::{json, Value};
use switchboard_core::{AgentId, EventKind, ServiceId, TaskId, Time};
use switchboard_server::hub::Interest;
use switchboard_server::{AppState, TenantHandle};

use crate::client::{Api, CtiSetup};
use crate::day::{Arrivals, Day, DayAgent, DayService};
use crate::sim_agent::{Behaviour, Dist};

/// The domain of every demo address.
pub const DOMAIN: &str = "demo.switchboard.invalid";
/// The password of the demo's sign-ins.
pub const PASSWORD: &str = "demo-password";
/// The human agent's login (not simulated: sign in with it on the agent desktop).
pub const AGENT_LOGIN: &str = "demo-agent";
/// The supervisor's login (for the wallboard).
pub const SUPERVISOR_LOGIN: &str = "demo-supervisor";

const FIRST: [&str; 24] = [
    "Anna", "Ben", "Chiara", "David", "Elif", "Felix", "Greta", "Hugo", "Ines", "Jonas", "Katja",
    "Luca", "Mara", "Nils", "Olga", "Paul", "Quinn", "Rosa", "Sven", "Tara", "Uwe", "Vera", "Wim",
    "Yara",
];
const LAST: [&str; 12] = [
    "Berg", "Keller", "Rossi", "Meier", "Yilmaz", "Weber", "Lind", "Moreau", "Costa", "Frei",
    "Novak", "Brandt",
];
const CUSTOMERS: [&str; 16] = [
    "Mia Hoffmann",
    "Noah Schmid",
    "Emma Fischer",
    "Liam Huber",
    "Sofia Bauer",
    "Leon Wagner",
    "Lea Graf",
    "Elias Koch",
    "Lina Roth",
    "Finn Vogel",
    "Ella Kunz",
    "Jan Steiner",
    "Nora Lang",
    "Tim Baumann",
    "Zoe Frank",
    "Max Wolf",
];
const REASONS: [&str; 8] = [
    "Invoice question",
    "Change of address",
    "Order status",
    "Contract renewal",
    "Technical fault",
    "Cancel subscription",
    "New customer",
    "Complaint",
];

/// The demo's services: (short name, strategy, wrap-up seconds, share of the calls).
const SERVICES: [(&str, &str, u64, f64); 4] = [
    ("sales", "LongestIdleAgent", 5, 3.0),
    ("support", "BestQualifiedMostResponsibleAgent", 10, 4.0),
    ("billing", "RoundRobin", 5, 2.0),
    ("premium", "LeastTalkTime", 5, 1.0),
];

fn service_uri(short: &str) -> String {
    format!("sip:{short}@{DOMAIN}")
}

fn title(short: &str) -> String {
    let mut chars = short.chars();
    let first = chars.next().map(|c| c.to_ascii_uppercase()).unwrap_or(' ');
    format!("Demo {first}{}", chars.as_str())
}

/// The services agent `i` of the demo serves.
fn services_of(i: usize) -> Vec<&'static str> {
    match i % 6 {
        0 => vec!["sales", "premium"],
        1 => vec!["support"],
        2 => vec!["support", "billing"],
        3 => vec!["sales", "billing"],
        4 => vec!["support", "premium"],
        _ => vec!["sales", "support", "billing"],
    }
}

/// The demo configuration (the same format as `--config` files), with `agents` simulated agents.
pub fn configuration(agents: usize) -> Value {
    let services: Vec<Value> = SERVICES
        .iter()
        .map(|(short, strategy, wrapup, _)| {
            let mut service = json!({
                "Name": title(short), "SipUri": service_uri(short), "Culture": "en-GB",
                "DistributionStrategy": strategy, "WrapUpTimeInSeconds": wrapup,
                "RonaTimeoutInSeconds": 15,
            });
            if *short == "support" {
                service["RequiredTraits"] =
                    json!([{"TraitNode": "Expertise/Support", "Attribute": "Advanced"}]);
            }
            service
        })
        .collect();
    let mut users: Vec<Value> = (0..agents)
        .map(|i| {
            let (first, last) = (FIRST[i % FIRST.len()], LAST[i % LAST.len()]);
            let login = format!("demo-{}", first.to_lowercase());
            let login = if i < FIRST.len() { login } else { format!("{login}-{i}") };
            let level = ["Advanced", "Expert", "Advanced", "Intermediate"][i % 4];
            let responsibility = ["High", "Medium", "Low"][i % 3];
            json!({
                "SipUri": format!("sip:{login}@{DOMAIN}"), "FirstName": first, "LastName": last,
                "Upn": format!("{login}@{DOMAIN}"), "Email": format!("{login}@{DOMAIN}"),
                "CurrentProfile": "Demo Day Shift",
                "Traits": [{"TraitNode": "Expertise/Support", "Attribute": level},
                           {"TraitNode": "Language/English", "Attribute": "Native"}],
                "Profiles": [{"Name": "Demo Day Shift", "Responsibilities": [
                    {"TraitNode": "Expertise/Support", "Responsibility": responsibility}]}],
                "Services": services_of(i).iter().map(|s| json!({"Service": service_uri(s)})).collect::<Vec<_>>(),
            })
        })
        .collect();
    users.push(json!({
        "SipUri": format!("sip:{AGENT_LOGIN}@{DOMAIN}"), "FirstName": "Alex", "LastName": "Demo (you)",
        "Upn": format!("{AGENT_LOGIN}@{DOMAIN}"), "Email": format!("{AGENT_LOGIN}@{DOMAIN}"),
        "CurrentProfile": "Demo Day Shift",
        "Traits": [{"TraitNode": "Expertise/Support", "Attribute": "Expert"}],
        "Profiles": [{"Name": "Demo Day Shift"}],
        "Services": SERVICES.iter().map(|(s, ..)| json!({"Service": service_uri(s)})).collect::<Vec<_>>(),
    }));
    users.push(json!({
        "SipUri": format!("sip:{SUPERVISOR_LOGIN}@{DOMAIN}"), "FirstName": "Sam",
        "LastName": "Supervisor (demo)", "Upn": format!("{SUPERVISOR_LOGIN}@{DOMAIN}"),
        "Email": format!("{SUPERVISOR_LOGIN}@{DOMAIN}"),
    }));
    json!({
        "Settings": {"DefaultRonaTimeoutInSeconds": 15},
        "Profiles": [{"Name": "Demo Day Shift"}],
        "AbsenceReasons": ["Break", "Lunch", "Coaching", "Training"],
        "Services": services,
        "Users": users,
    })
}

/// Refuses a tenant that holds services other than the demo's: demo data never mixes with real data.
pub fn check_tenant(state: &AppState, tenant: &TenantHandle) -> anyhow::Result<()> {
    let foreign: Vec<String> = state.read(tenant, |engine| {
        engine
            .services()
            .into_iter()
            .filter_map(|id| engine.service_spec(id))
            .filter(|(spec, _)| !spec.sip_uri.ends_with(DOMAIN))
            .map(|(spec, _)| spec.name.clone())
            .collect()
    });
    if !foreign.is_empty() {
        bail!(
            "--demo seeds demo data, but this database already holds other services ({}); \
             run the demo on its own database (the default without --db is sqlite://switchboard-demo.db)",
            foreign.join(", ")
        );
    }
    Ok(())
}

/// The phone line of the demo's `i`-th user (the human agent is user number `agents`).
pub fn line_of(i: usize) -> String {
    format!("{}", 1001 + i)
}

/// The CTI sign-ins of the demo: the simulated agents, then the human agent and the supervisor.
fn setups(configuration: &Value, agents: usize) -> Vec<(CtiSetup, String)> {
    let users = configuration["Users"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    users
        .into_iter()
        .enumerate()
        .map(|(i, user)| {
            let login = user["Upn"]
                .as_str()
                .unwrap_or_default()
                .trim_end_matches(&format!("@{DOMAIN}"))
                .to_string();
            let line = line_of(i);
            let credentials = if login == SUPERVISOR_LOGIN {
                json!({"Profile": "Supervisor", "Groups": [0, 1, 2],
                       "Queues": SERVICES.iter().map(|(s, ..)| service_uri(s)).collect::<Vec<_>>()})
            } else {
                json!({"Profile": "Agent", "PhoneLine": line, "AgentGroup": (i.min(agents) % 3) as u32})
            };
            (
                CtiSetup {
                    user,
                    credentials,
                    login,
                    password: PASSWORD.to_string(),
                },
                line,
            )
        })
        .collect()
}

/// Options of the demo.
pub struct Demo {
    /// Simulated agents.
    pub agents: usize,
    /// How much faster than real time the demo runs (talk times, rings and pauses shrink, calls come faster).
    pub speed: f64,
}

impl Demo {
    /// Provisions the people of the demo and runs it until `stop` is set.
    pub async fn run(
        self,
        api: Api,
        state: AppState,
        tenant: Arc<TenantHandle>,
        stop: Arc<AtomicBool>,
    ) -> anyhow::Result<()> {
        let configuration = configuration(self.agents);
        let mut people = setups(&configuration, self.agents);
        // The human agent and the supervisor get credentials but no simulation.
        for (setup, _) in people.split_off(self.agents) {
            api.cti_user(&setup).await?;
        }
        let narrator = tokio::spawn(narrate(state, tenant));
        let speed = self.speed.max(0.01);
        let s = |secs: f64| Duration::from_secs_f64(secs / speed);
        // 24 agents ringing, talking 35 s on average and wrapping up, some of them on a break, serve about 0.5
        // calls/s; offer 0.35 on average, along the day curve: twice that at the peak (queues build, callers
        // hang up), half of it in the quiet times.
        let rate = 0.35 * self.agents as f64 / 24.0 * speed;
        let day = Day {
            scenario: "demo",
            agents: people
                .into_iter()
                .map(|(setup, line)| DayAgent { setup, line })
                .collect(),
            services: SERVICES
                .iter()
                .map(|(short, _, _, weight)| DayService {
                    uri: service_uri(short),
                    weight: *weight,
                })
                .collect(),
            behaviour: Behaviour {
                ring: Dist::Uniform(s(1.0), s(4.0)),
                handle: Dist::Exp(s(35.0)),
                no_answer: 0.03,
                decline: 0.02,
                pause_gap: Some(Dist::Exp(s(240.0))),
                pause_length: Dist::Uniform(s(20.0), s(60.0)),
                pause_reasons: vec!["Break".into(), "Lunch".into(), "Coaching".into()],
                rona_recovery: Dist::Uniform(s(3.0), s(8.0)),
            },
            arrivals: Arrivals::Poisson { rate, curve: true },
            duration: None,
            vip_share: 0.1,
            patience: Some(Dist::Exp(s(90.0))),
            service_level: s(20.0),
            concurrency: 8,
            seed: 2026,
            customer: Some(Box::new(customer)),
            narrate: Some(Box::new(|line| println!("{line}"))),
            stop,
        };
        let result = day.run(&api, true).await;
        narrator.abort();
        result.map(|_| ())
    }
}

/// A demo customer: a name, a number and what they call about.
fn customer(rng: &mut SmallRng, seq: u64) -> Value {
    let name = CUSTOMERS[rng.random_range(0..CUSTOMERS.len())];
    let reason = REASONS[rng.random_range(0..REASONS.len())];
    let id = 10_000 + rng.random_range(0..90_000u32);
    json!({
        "Caller": format!("{name} +41 79 555 {:02} {:02}", seq % 100, id % 100),
        "ContextParameters": [
            {"Name": "Customer", "Value": name},
            {"Name": "CustomerId", "Value": id.to_string()},
            {"Name": "Reason", "Value": reason},
            {"Name": "SheetUrl", "Value": format!("https://crm.{DOMAIN}/customers/{id}")},
        ],
    })
}

/// Prints every routing decision of the tenant as it happens.
async fn narrate(state: AppState, tenant: Arc<TenantHandle>) {
    let mut subscription = tenant.hub().subscribe(Interest::All, 4096);
    let mut created: std::collections::HashMap<TaskId, Time> = Default::default();
    while let Some(batch) = subscription.receiver.recv().await {
        for event in batch.iter() {
            let line = state.read(&tenant, |engine| {
                let agent = |id: AgentId| {
                    engine
                        .agent_info(id)
                        .map(|a| a.spec.display_name)
                        .unwrap_or_else(|| id.to_string())
                };
                let service = |id: ServiceId| {
                    engine
                        .service_spec(id)
                        .map(|(s, _)| s.name.clone())
                        .unwrap_or_default()
                };
                let customer = |task: TaskId| {
                    engine
                        .task_info(task)
                        .map(|t| t.customer)
                        .unwrap_or_default()
                };
                let waited = |task: &TaskId| {
                    created
                        .get(task)
                        .map(|at| (event.at.as_micros() - at.as_micros()) as f64 / 1e6)
                        .unwrap_or(0.0)
                };
                Some(match &event.kind {
                    EventKind::TaskCreated { task, service: s, priority } => {
                        let vip = if priority.0 > 0 { "  VIP" } else { "" };
                        format!("call    {:<14} {}{vip}", service(*s), customer(*task))
                    }
                    EventKind::TaskOffered { task, agent: a, selection, .. } => format!(
                        "offer   {:<14} -> {} ({}, waited {:.1} s)",
                        engine.task_info(*task).map(|t| service(t.service)).unwrap_or_default(),
                        agent(*a),
                        selection.name(),
                        waited(task)
                    ),
                    EventKind::TaskEstablished { agent: a, .. } => {
                        format!("answer  {:<14} picked up", agent(*a))
                    }
                    EventKind::TaskRona { agent: a, .. } => format!(
                        "RONA    {:<14} did not answer: the call goes back to the queue, keeping its place",
                        agent(*a)
                    ),
                    EventKind::TaskDeclined { agent: a, .. } => {
                        format!("decline {:<14} declined: offered to the next agent", agent(*a))
                    }
                    EventKind::AgentPause { agent: a, reason: Some(reason), .. } => {
                        format!("pause   {:<14} {reason}", agent(*a))
                    }
                    EventKind::TaskTerminated { agent: Some(a), .. } => {
                        format!("done    {:<14} hung up", agent(*a))
                    }
                    EventKind::TaskTerminated { task, agent: None, record, .. } => format!(
                        "abandon {:<14} {} hung up after waiting {:.0} s",
                        service(record.service),
                        record.customer,
                        waited(task)
                    ),
                    _ => return None,
                })
            });
            match &event.kind {
                EventKind::TaskCreated { task, .. } => {
                    created.insert(*task, event.at);
                }
                EventKind::TaskTerminated { task, .. } => {
                    created.remove(task);
                }
                _ => {}
            }
            if let Some(line) = line {
                let seconds = event.at.as_micros() / 1_000_000;
                let (h, m, s) = ((seconds / 3600) % 24, (seconds / 60) % 60, seconds % 60);
                println!("{h:02}:{m:02}:{s:02}  {line}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_configuration_parses_and_is_marked() {
        let text = configuration(24).to_string();
        switchboard_server::configuration::parse(&text, "demo.json").expect("valid configuration");
        let value = configuration(30);
        for service in value["Services"].as_array().unwrap() {
            assert!(service["Name"].as_str().unwrap().starts_with("Demo "));
            assert!(service["SipUri"].as_str().unwrap().ends_with(DOMAIN));
        }
        let users = value["Users"].as_array().unwrap();
        assert_eq!(users.len(), 32);
        let logins: std::collections::HashSet<_> =
            users.iter().map(|u| u["Upn"].as_str().unwrap()).collect();
        assert_eq!(logins.len(), 32, "logins are unique");
        assert!(users
            .iter()
            .all(|u| u["SipUri"].as_str().unwrap().ends_with(DOMAIN)));
    }
}
