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

/// Latencies in microseconds, by what was measured.
#[derive(Default)]
struct Samples {
    offers: Vec<u64>,
    deliveries: Vec<u64>,
}

/// When each task was due, by its sequence number.
type DueTimes = Arc<Mutex<HashMap<u64, Instant>>>;

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)] as f64 / 1000.0
}

async fn ensure_ok(response: reqwest::Response, what: &str) -> anyhow::Result<Value> {
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    if !status.is_success() {
        bail!("{what}: {status} {text}");
    }
    Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Runs `jobs` with at most `parallel` at once.
async fn in_parallel<T, F>(parallel: usize, jobs: Vec<F>) -> anyhow::Result<Vec<T>>
where
    F: std::future::Future<Output = anyhow::Result<T>>,
{
    use futures_util::stream::{self, TryStreamExt};
    stream::iter(jobs.into_iter().map(Ok))
        .try_buffered(parallel)
        .try_collect()
        .await
}

/// Creates (or finds) a user with CTI credentials; returns its login token. Every step is idempotent, so a
/// connection the server closed (keep-alive races) is retried.
async fn cti_user(
    client: &reqwest::Client,
    run: &Cti,
    name: String,
    credentials: Value,
) -> anyhow::Result<String> {
    let mut attempt = 0;
    loop {
        match cti_user_once(client, run, &name, credentials.clone()).await {
            Ok(token) => return Ok(token),
            Err(error) if attempt < 5 => {
                attempt += 1;
                tracing::debug!(%error, attempt, "retrying the setup of {name}");
                tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
            }
            Err(error) => return Err(error),
        }
    }
}

async fn cti_user_once(
    client: &reqwest::Client,
    run: &Cti,
    name: &str,
    credentials: Value,
) -> anyhow::Result<String> {
    let base = run.url.trim_end_matches('/');
    let sip = format!("sip:{name}@bench.test");
    let existing = client
        .get(format!("{base}/v1.0/users/{name}@bench.test"))
        .header("api_key", &run.key)
        .send()
        .await?;
    let id = if existing.status().is_success() {
        existing.json::<Value>().await?["Id"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    } else {
        let created = client
            .post(format!("{base}/v1.0/users"))
            .header("api_key", &run.key)
            .json(
                &json!({"SipUri": sip, "FirstName": name, "LastName": "Bench",
                          "Services": [{"Service": SERVICE}]}),
            )
            .send()
            .await?;
        let created = ensure_ok(created, "create a user").await?;
        created["Id"]
            .as_str()
            .or(created.as_str())
            .unwrap_or_default()
            .to_string()
    };
    let shown = client
        .get(format!("{base}/v2.0/users/{id}/cti"))
        .header("api_key", &run.key)
        .send()
        .await?;
    if !shown.status().is_success() {
        let mut body = credentials;
        body["Login"] = json!(name);
        body["Password"] = json!(PASSWORD);
        let set = client
            .post(format!("{base}/v2.0/users/{id}/cti"))
            .header("api_key", &run.key)
            .json(&body)
            .send()
            .await?;
        ensure_ok(set, "set CTI credentials").await?;
    }
    let login = client
        .post(format!("{base}/xuc/api/2.0/auth/login"))
        .json(&json!({"login": name, "password": PASSWORD}))
        .send()
        .await?;
    let token = ensure_ok(login, "sign in").await?;
    Ok(token["token"].as_str().unwrap_or_default().to_string())
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(run: &Cti, token: &str) -> anyhow::Result<Socket> {
    let url = format!(
        "{}/xuc/api/2.0/cti?token={token}",
        run.url
            .trim_end_matches('/')
            .replacen("http://", "ws://", 1)
    );
    let (socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .context("could not open a CTI socket")?;
    Ok(socket)
}

fn command(name: &str, args: Value) -> Message {
    let mut message = json!({"claz": "web", "command": name});
    if let Value::Object(args) = args {
        for (key, value) in args {
            message[key] = value;
        }
    }
    Message::Text(message.to_string().into())
}

/// The sequence number a Sheet carries in its `BenchSeq` context parameter.
fn sheet_seq(sheet: &Value) -> Option<u64> {
    let text = sheet.to_string();
    let at = text.find("BenchSeq")?;
    let rest = &text[at..];
    let value_at = rest.find("\"value\":\"")? + 9;
    rest[value_at..]
        .split('"')
        .next()
        .and_then(|v| v.parse().ok())
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
                if let Some(seq) = sheet_seq(&value) {
                    if let Some(at) = due.lock().unwrap().get(&seq).copied() {
                        samples
                            .lock()
                            .unwrap()
                            .offers
                            .push(arrived.duration_since(at).as_micros() as u64);
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
    let base = run.url.trim_end_matches('/').to_string();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()?;
    let probe = client
        .get(format!("{base}/v1.0/services/{SERVICE}"))
        .header("api_key", &run.key)
        .send()
        .await
        .with_context(|| format!("could not reach {base}"))?;
    if !probe.status().is_success() {
        let created = client
            .post(format!("{base}/v2.0/services"))
            .header("api_key", &run.key)
            .json(&json!({"Name": "CTI benchmark", "SipUri": SERVICE}))
            .send()
            .await?;
        ensure_ok(created, "create the service").await?;
    }
    let setup = Instant::now();
    eprintln!(
        "setting up {} agents and {} supervisors (users, CTI credentials, tokens)...",
        run.agents, run.supervisors
    );
    let groups = run.supervisors as u32;
    let agent_jobs: Vec<_> = (0..run.agents)
        .map(|i| {
            let credentials = json!({"Profile": "Agent", "PhoneLine": format!("7{i:05}"),
                                     "AgentGroup": i as u32 % groups});
            cti_user(&client, &run, format!("bench-agent-{i}"), credentials)
        })
        .collect();
    let agent_tokens = in_parallel(8, agent_jobs).await?;
    let supervisor_jobs: Vec<_> = (0..run.supervisors)
        .map(|i| {
            let credentials = json!({"Profile": "Supervisor", "Groups": [i as u32]});
            cti_user(&client, &run, format!("bench-supervisor-{i}"), credentials)
        })
        .collect();
    let supervisor_tokens = in_parallel(8, supervisor_jobs).await?;
    eprintln!(
        "setup took {:.1} s; connecting sockets...",
        setup.elapsed().as_secs_f64()
    );

    let due: DueTimes = Arc::default();
    let samples: Arc<Mutex<Samples>> = Arc::default();
    let ringing: Arc<Mutex<HashMap<u64, Vec<Instant>>>> = Arc::default();
    let stop = Arc::new(AtomicU64::new(0));
    let connected = Instant::now();
    for token in &supervisor_tokens {
        let socket = connect(&run, token).await?;
        tokio::spawn(supervisor(socket, ringing.clone(), stop.clone()));
    }
    let (ready_sender, mut ready) = tokio::sync::mpsc::channel(run.agents);
    let mut orders = Vec::new();
    let mut agent_numbers = Vec::new();
    for (i, token) in agent_tokens.iter().enumerate() {
        let socket = connect(&run, token).await?;
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
    // Let the last offers arrive.
    let deadline = Instant::now() + Duration::from_secs(10);
    while samples.lock().unwrap().offers.len() < total as usize && Instant::now() < deadline {
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
                        .push(arrived.saturating_duration_since(*at).as_micros() as u64);
                }
            }
        }
    }
    let mut samples = std::mem::take(&mut *samples.lock().unwrap());
    samples.offers.sort_unstable();
    samples.deliveries.sort_unstable();
    let summary = |s: &[u64]| {
        json!({
            "count": s.len(),
            "p50_ms": percentile(s, 50.0),
            "p90_ms": percentile(s, 90.0),
            "p99_ms": percentile(s, 99.0),
            "p999_ms": percentile(s, 99.9),
            "max_ms": s.last().map(|m| *m as f64 / 1000.0).unwrap_or(0.0),
        })
    };
    let result = json!({
        "scenario": "cti",
        "agents": run.agents,
        "supervisors": run.supervisors,
        "rate": run.rate,
        "duration_s": run.duration.as_secs(),
        "tasks": total,
        "errors": errors.load(Ordering::Relaxed),
        "elapsed_s": elapsed,
        "offer_latency": summary(&samples.offers),
        "supervisor_event_latency": summary(&samples.deliveries),
    });
    if run.json {
        println!("{result:#}");
    } else {
        let line = |name: &str, v: &Value| {
            println!(
                "{name:<28} n={:<7} p50 {:>7.2} ms  p90 {:>7.2}  p99 {:>7.2}  p99.9 {:>7.2}  max {:>8.2}",
                v["count"], v["p50_ms"].as_f64().unwrap_or(0.0), v["p90_ms"].as_f64().unwrap_or(0.0),
                v["p99_ms"].as_f64().unwrap_or(0.0), v["p999_ms"].as_f64().unwrap_or(0.0),
                v["max_ms"].as_f64().unwrap_or(0.0)
            );
        };
        println!(
            "cti: {} agent and {} supervisor sockets, {} tasks at {}/s over {:.1} s, {} errors",
            run.agents, run.supervisors, total, run.rate, elapsed, result["errors"]
        );
        line("offer (REST -> agent Sheet)", &result["offer_latency"]);
        line(
            "event (REST -> supervisor)",
            &result["supervisor_event_latency"],
        );
    }
    Ok(())
}
