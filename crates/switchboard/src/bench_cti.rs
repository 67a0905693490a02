//! `switchboard bench cti`: many agent and supervisor CTI sockets on a running server, tasks created over REST at
//! a fixed rate (open loop), and the latency from each task's due time to (a) the offer reaching its agent's socket
//! (`Sheet`) and (b) the agent's `AgentRinging` reaching the supervisor that watches the agent's group.
//!
//! Setup, idempotent: a service, `agents` users in it with CTI credentials (line `7<index>`, group
//! `index % supervisors`) and `supervisors` users with the Supervisor profile over one group each. Agents log in,
//! answer every offer and hang up at once (the service has no wrap-up), so they stay free. Latency counts from the
//! moment a request was due, not when it was sent, so a slow server cannot hide its queueing.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::client::{command, in_parallel, print_latency, Api, CtiSetup, Latency, Socket};
use crate::sim_agent::sheet_value;

/// What to run.
pub struct Cti {
    pub url: String,
    pub key: String,
    pub agents: usize,
    pub supervisors: usize,
    pub rate: u64,
    pub duration: Duration,
    pub json: bool,
}

const PASSWORD: &str = "bench-password";
const SERVICE: &str = "sip:bench-cti@switchboard.test";

/// Latencies, by what was measured.
#[derive(Default)]
struct Samples {
    offers: Latency,
    deliveries: Latency,
}

/// When each task was due, by its sequence number.
type DueTimes = Arc<Mutex<HashMap<u64, Instant>>>;

fn setup(name: String, credentials: Value) -> CtiSetup {
    CtiSetup {
        user: json!({"SipUri": format!("sip:{name}@bench.test"), "FirstName": name, "LastName": "Bench",
                     "Services": [{"Service": SERVICE}]}),
        credentials,
        login: name,
        password: PASSWORD.to_string(),
    }
}

/// One agent: log in, then answer and hang up every offer; record each offer's latency and, per agent, the
/// order of the tasks it was offered (for the supervisors' side).
async fn agent(
    mut socket: Socket,
    line: String,
    due: DueTimes,
    samples: Arc<Mutex<Samples>>,
    order: Arc<Mutex<Vec<u64>>>,
    number: Arc<AtomicU64>,
    ready: tokio::sync::mpsc::Sender<()>,
) {
    let _ = socket
        .send(command(
            "agentLogin",
            json!({"agentphonenumber": line.as_str()}),
        ))
        .await;
    let mut ready = Some(ready);
    let mut ping = tokio::time::interval(Duration::from_secs(5));
    loop {
        let message = tokio::select! {
            message = socket.next() => message,
            _ = ping.tick() => {
                if socket.send(Message::Text(r#"{"claz":"ping"}"#.into())).await.is_err() {
                    return;
                }
                continue;
            }
        };
        let Some(Ok(Message::Text(text))) = message else {
            if matches!(message, None | Some(Err(_))) {
                return;
            }
            continue;
        };
        let arrived = Instant::now();
        let Ok(value) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        match value["msgType"].as_str() {
            Some("LoggedOn") => {
                number.store(
                    value["ctiMessage"]["agentId"].as_u64().unwrap_or(0),
                    Ordering::Relaxed,
                );
            }
            Some("AgentStateEvent") => {
                let name = value["ctiMessage"]["name"].as_str().unwrap_or_default();
                if name == "AgentReady" {
                    if let Some(ready) = ready.take() {
                        let _ = ready.send(()).await;
                    }
                } else if name == "AgentOnCall" {
                    let _ = socket.send(command("hangup", json!({}))).await;
                }
            }
            Some("Sheet") => {
                if let Some(seq) = sheet_value(&value, "BenchSeq").and_then(|s| s.parse().ok()) {
                    if let Some(at) = due.lock().unwrap().get(&seq).copied() {
                        samples
                            .lock()
                            .unwrap()
                            .offers
                            .record(arrived.duration_since(at));
                    }
                    order.lock().unwrap().push(seq);
                }
                let _ = socket.send(command("answer", json!({}))).await;
            }
            _ => {}
        }
    }
}

/// One supervisor: record when each watched agent's AgentRinging arrives, per agent number, in order.
async fn supervisor(
    mut socket: Socket,
    ringing: Arc<Mutex<HashMap<u64, Vec<Instant>>>>,
    stop: Arc<AtomicU64>,
) {
    let _ = socket
        .send(command("subscribeToAgentEvents", json!({})))
        .await;
    let mut ping = tokio::time::interval(Duration::from_secs(5));
    while stop.load(Ordering::Relaxed) == 0 {
        let message = tokio::select! {
            message = socket.next() => message,
            _ = ping.tick() => {
                if socket.send(Message::Text(r#"{"claz":"ping"}"#.into())).await.is_err() {
                    return;
                }
                continue;
            }
        };
        let Some(Ok(Message::Text(text))) = message else {
            if matches!(message, None | Some(Err(_))) {
                return;
            }
            continue;
        };
        let arrived = Instant::now();
        if !text.contains("AgentRinging") {
            continue;
        }
        let Ok(value) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        if value["msgType"] == "AgentStateEvent" && value["ctiMessage"]["name"] == "AgentRinging" {
            if let Some(agent) = value["ctiMessage"]["agentId"].as_u64() {
                ringing
                    .lock()
                    .unwrap()
                    .entry(agent)
                    .or_default()
                    .push(arrived);
            }
        }
    }
}

/// Runs the scenario and prints the latencies (ms).
pub async fn cti(run: Cti) -> anyhow::Result<()> {
    if run.agents == 0 || run.supervisors == 0 || run.rate == 0 {
        bail!("--agents, --supervisors and --rate must be at least 1");
    }
    let api = Api::new(&run.url, &run.key, 64)?;
    api.ensure_service(json!({"Name": "CTI benchmark", "SipUri": SERVICE}))
        .await?;
    let (client, base) = (api.client.clone(), api.base.clone());
    let started_setup = Instant::now();
    eprintln!(
        "setting up {} agents and {} supervisors (users, CTI credentials, tokens)...",
        run.agents, run.supervisors
    );
    let groups = run.supervisors as u32;
    let agent_jobs: Vec<_> = (0..run.agents)
        .map(|i| {
            let credentials = json!({"Profile": "Agent", "PhoneLine": format!("7{i:05}"),
                                     "AgentGroup": i as u32 % groups});
            let user = setup(format!("bench-agent-{i}"), credentials);
            let api = api.clone();
            async move { api.cti_user(&user).await }
        })
        .collect();
    let agent_tokens = in_parallel(8, agent_jobs).await?;
    let supervisor_jobs: Vec<_> = (0..run.supervisors)
        .map(|i| {
            let credentials = json!({"Profile": "Supervisor", "Groups": [i as u32]});
            let user = setup(format!("bench-supervisor-{i}"), credentials);
            let api = api.clone();
            async move { api.cti_user(&user).await }
        })
        .collect();
    let supervisor_tokens = in_parallel(8, supervisor_jobs).await?;
    eprintln!(
        "setup took {:.1} s; connecting sockets...",
        started_setup.elapsed().as_secs_f64()
    );

    let due: DueTimes = Arc::default();
    let samples: Arc<Mutex<Samples>> = Arc::default();
    let ringing: Arc<Mutex<HashMap<u64, Vec<Instant>>>> = Arc::default();
    let stop = Arc::new(AtomicU64::new(0));
    let connected = Instant::now();
    for token in &supervisor_tokens {
        let socket = api.connect(token).await?;
        tokio::spawn(supervisor(socket, ringing.clone(), stop.clone()));
    }
    let (ready_sender, mut ready) = tokio::sync::mpsc::channel(run.agents);
    let mut orders = Vec::new();
    let mut agent_numbers = Vec::new();
    for (i, token) in agent_tokens.iter().enumerate() {
        let socket = api.connect(token).await?;
        let order = Arc::new(Mutex::new(Vec::new()));
        let number = Arc::new(AtomicU64::new(0));
        orders.push(order.clone());
        agent_numbers.push(number.clone());
        tokio::spawn(agent(
            socket,
            format!("7{i:05}"),
            due.clone(),
            samples.clone(),
            order,
            number,
            ready_sender.clone(),
        ));
    }
    for _ in 0..run.agents {
        tokio::time::timeout(Duration::from_secs(120), ready.recv())
            .await
            .context("agents did not all become ready within 120 s")?;
    }
    eprintln!(
        "{} agent and {} supervisor sockets connected, agents ready, in {:.1} s",
        run.agents,
        run.supervisors,
        connected.elapsed().as_secs_f64()
    );
    // The agents' integer ids (from LoggedOn), to join the supervisors' events with the agents' offers.
    let numbers: Vec<u64> = agent_numbers
        .iter()
        .map(|n| n.load(Ordering::Relaxed))
        .collect();

    // The load: tasks at a fixed rate, each carrying its sequence number.
    let total = run.rate * run.duration.as_secs();
    let interval = Duration::from_secs_f64(1.0 / run.rate as f64);
    let errors = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut sends = Vec::new();
    for seq in 0..total {
        let at = start + interval.mul_f64(seq as f64);
        tokio::time::sleep_until(at.into()).await;
        due.lock().unwrap().insert(seq, at);
        let (client, base, key, errors) = (
            client.clone(),
            base.clone(),
            run.key.clone(),
            errors.clone(),
        );
        sends.push(tokio::spawn(async move {
            let answer = client
                .post(format!("{base}/v1.0/tasks"))
                .header("api_key", key)
                .json(&json!({"Service": SERVICE, "Caller": format!("+4179{seq:07}"),
                              "Type": "IncomingCall",
                              "ContextParameters": [{"Name": "BenchSeq", "Value": seq.to_string()}]}))
                .send()
                .await;
            if !answer.is_ok_and(|a| a.status().is_success()) {
                errors.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for send in sends {
        let _ = send.await;
    }
    // Let the last offers, and their ringing events at the supervisors, arrive (stopping at the last offer could
    // cut off the supervisor's copy of it).
    let deadline = Instant::now() + Duration::from_secs(10);
    let ringing_seen = || {
        ringing
            .lock()
            .unwrap()
            .values()
            .map(|arrivals| arrivals.len() as u64)
            .sum::<u64>()
    };
    while (samples.lock().unwrap().offers.len() < total || ringing_seen() < total)
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(1, Ordering::Relaxed);
    let elapsed = start.elapsed().as_secs_f64();

    // Join: the k-th AgentRinging of an agent at its supervisor is the k-th offer of that agent.
    {
        let due = due.lock().unwrap();
        let ringing = ringing.lock().unwrap();
        let mut samples = samples.lock().unwrap();
        for (i, order) in orders.iter().enumerate() {
            let order = order.lock().unwrap();
            let Some(arrivals) = ringing.get(&numbers[i]) else {
                continue;
            };
            for (seq, arrived) in order.iter().zip(arrivals) {
                if let Some(at) = due.get(seq) {
                    samples
                        .deliveries
                        .record(arrived.saturating_duration_since(*at));
                }
            }
        }
    }
    let samples = std::mem::take(&mut *samples.lock().unwrap());
    let result = json!({
        "scenario": "cti",
        "agents": run.agents,
        "supervisors": run.supervisors,
        "rate": run.rate,
        "duration_s": run.duration.as_secs(),
        "tasks": total,
        "errors": errors.load(Ordering::Relaxed),
        "elapsed_s": elapsed,
        "offer_latency": samples.offers.summary(),
        "supervisor_event_latency": samples.deliveries.summary(),
    });
    if run.json {
        println!("{result:#}");
    } else {
        println!(
            "cti: {} agent and {} supervisor sockets, {} tasks at {}/s over {:.1} s, {} errors",
            run.agents, run.supervisors, total, run.rate, elapsed, result["errors"]
        );
        print_latency("offer (REST -> agent Sheet)", &result["offer_latency"]);
        print_latency(
            "event (REST -> supervisor)",
            &result["supervisor_event_latency"],
        );
    }
    Ok(())
}
