//! Three real `switchboard serve` processes on one PostgreSQL database (docs/cluster.md): tenants spread over
//! the nodes, any node answers for any tenant (LUCS and Puzzel requests forwarded, event streams streamed, CTI
//! websockets relayed), and under load a leader is killed with SIGKILL, another is paused with SIGSTOP until its tenants
//! moved and then resumed (it must step down: its late writes are refused by the lease epoch), and the killed node
//! comes back and takes its share. A CTI agent stays on throughout: its socket closes when its tenant moves, it
//! signs in again through any node and carries on answering calls. Then every acknowledged task is there, every
//! answer was 200 or a clear 503, and each tenant's stored log audits clean (no event sequence gap, no double
//! offer) and replays to exactly the stored events (one writer at a time: no split brain), and each tenant's
//! webhook, whose deliveries moved with the tenant, delivered every event in order (repeats allowed, no gap).
//! Runs when `SWITCHBOARD_TEST_PG` is set (`.ci/run` sets it).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use common::KEY;

/// The nodes' lease in milliseconds: 1,000 here so the test is quick; `SWITCHBOARD_CLUSTER_LEASE_MS` measures
/// another (BENCHMARKS.md gives the default's failover time).
fn lease_ms() -> String {
    std::env::var("SWITCHBOARD_CLUSTER_LEASE_MS").unwrap_or_else(|_| "1000".to_string())
}
const TENANTS: usize = 6;

struct Node {
    child: Option<Child>,
    port: u16,
    /// False while the test keeps clients away (killed or paused).
    up: Arc<AtomicBool>,
}

impl Node {
    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
    fn id(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
    fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("running").id().to_string();
        let status = send_signal(signal, &pid);
        assert!(status.success(), "kill {signal} {pid}");
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            send_signal("-CONT", &child.id().to_string());
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Sends a signal with the shell's built-in `kill` (no procps needed on a bare machine).
fn send_signal(signal: &str, pid: &str) -> std::process::ExitStatus {
    Command::new("sh")
        .args(["-c", &format!("kill {signal} {pid}")])
        .status()
        .expect("sh")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("address")
        .port()
}

/// Starts a node and waits until it listens.
fn start(db: &str, port: u16, logs: &std::path::Path) -> Child {
    let log = std::fs::File::create(logs.join(format!("node-{port}.log"))).expect("log file");
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--advertise",
            &format!("http://127.0.0.1:{port}"),
            "--db",
            db,
            "--lease-ms",
            &lease_ms(),
        ])
        .env("SWITCHBOARD_ADMIN_KEY", KEY)
        .env("RUST_LOG", "warn,switchboard_server::cluster=info")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .spawn()
        .expect("start switchboard serve");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    loop {
        let line = lines
            .next()
            .expect("the node printed its address before exiting")
            .expect("read stdout");
        if line.starts_with("switchboard listening on ") {
            break;
        }
    }
    std::thread::spawn(move || for _ in lines {});
    child
}

/// Tenant → leading node, from `switchboard cluster status --json` (expired leases count as unled).
fn leaders(db: &str) -> BTreeMap<String, Option<String>> {
    let (code, out, err) = common::switchboard_in(
        None,
        &[
            "cluster",
            "status",
            "--db",
            db,
            "--lease-ms",
            &lease_ms(),
            "--json",
        ],
    );
    assert_eq!(code, 0, "cluster status: {err}");
    let status: Value = serde_json::from_str(&out).expect("status JSON");
    status["tenants"]
        .as_array()
        .expect("tenants")
        .iter()
        .map(|t| {
            let led = t["expires_in_ms"].as_i64().unwrap_or(0) > 0;
            (
                t["tenant"].as_str().unwrap_or_default().to_string(),
                t["node"].as_str().filter(|_| led).map(str::to_string),
            )
        })
        .collect()
}

/// What a webhook receiver got, per tenant: every sequence delivered, and what broke the order (a delivery
/// whose events are not consecutive, or that starts past the next undelivered sequence).
#[derive(Default)]
struct Received {
    seen: BTreeMap<String, BTreeSet<u64>>,
    deliveries: usize,
    disorder: Vec<String>,
}

/// A webhook receiver on a free local port (`POST /hook/{tenant}`, always 200); returns its base URL.
async fn webhook_receiver(received: Arc<Mutex<Received>>) -> String {
    let app = axum::Router::new().route(
        "/hook/{tenant}",
        axum::routing::post(
            move |axum::extract::Path(tenant): axum::extract::Path<String>,
                  axum::Json(body): axum::Json<Value>| {
                let received = received.clone();
                async move {
                    let sequences: Vec<u64> = body["Events"]
                        .as_array()
                        .map(|events| {
                            events
                                .iter()
                                .filter_map(|e| e["Sequence"].as_u64())
                                .collect()
                        })
                        .unwrap_or_default();
                    let mut received = received.lock().unwrap();
                    received.deliveries += 1;
                    let next = received
                        .seen
                        .get(&tenant)
                        .and_then(|seen| seen.last())
                        .map_or(1, |last| last + 1);
                    let consecutive = sequences.windows(2).all(|w| w[1] == w[0] + 1);
                    if !consecutive || sequences.first().is_some_and(|&first| first > next) {
                        let problem = format!("{tenant}: {sequences:?} after {}", next - 1);
                        received.disorder.push(problem);
                    }
                    received.seen.entry(tenant).or_default().extend(sequences);
                    axum::http::StatusCode::OK
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("webhook receiver");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

/// The base URL of a node that does not lead `tenant`.
fn follower(nodes: &[Node], db: &str, tenant: &str) -> String {
    let leader = leaders(db)[tenant].clone().expect("the tenant is led");
    nodes
        .iter()
        .find(|n| n.id() != leader)
        .expect("a follower")
        .base()
}

/// Polls until `done` holds (at most `limit`), returning how long it took.
async fn wait_for(limit: Duration, what: &str, mut done: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    started.elapsed()
}

/// The load clients' shared parts: the nodes (and which are up), and what they saw.
#[derive(Clone)]
struct Load {
    client: reqwest::Client,
    bases: Vec<String>,
    ups: Vec<Arc<AtomicBool>>,
    /// (tenant index, external id) of every task whose creation was answered 200.
    acknowledged: Arc<Mutex<Vec<(usize, String)>>>,
    /// Answers that were neither success nor a clear 503.
    wrong: Arc<Mutex<Vec<String>>>,
    /// Requests answered 503 or not answered (a dead or paused node).
    refused: Arc<AtomicU64>,
}

impl Load {
    /// Creates a task of tenant `tenant` through node `node` (modulo the nodes) if that node is up; returns its
    /// id when the creation was acknowledged.
    async fn create(
        &self,
        node: usize,
        tenant: usize,
        key: &str,
        service: &str,
        external: String,
    ) -> Option<String> {
        let node = node % self.bases.len();
        if !self.ups[node].load(Ordering::SeqCst) {
            return None;
        }
        let url = format!("{}/v1.0/tasks", self.bases[node]);
        let body = json!({"Service": service, "ExternalTaskId": external});
        match call(&self.client, reqwest::Method::POST, url, key, body).await {
            Ok((200, id)) => {
                self.acknowledged.lock().unwrap().push((tenant, external));
                Some(id.as_str().unwrap_or_default().to_string())
            }
            Ok((503, _)) | Err(_) => {
                self.refused.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
                None
            }
            Ok((status, body)) => {
                let answer = format!("create {external}: {status} {body}");
                self.wrong.lock().unwrap().push(answer);
                None
            }
        }
    }

    /// A task step (`setestablished`, `terminate`) through node `node`; it may be refused (the task is not
    /// offered yet, or the tenant is moving), but never with an unexpected server error.
    async fn step(&self, node: usize, key: &str, id: &str, step: &str) {
        let url = format!(
            "{}/v1.0/tasks/{id}/{step}",
            self.bases[node % self.bases.len()]
        );
        if let Ok((status, body)) =
            call(&self.client, reqwest::Method::POST, url, key, json!({})).await
        {
            if status >= 500 && status != 503 {
                self.wrong
                    .lock()
                    .unwrap()
                    .push(format!("{step}: {status} {body}"));
            }
        }
    }
}

/// A CTI agent that reconnects: counts its sessions (sign-in and socket) and the calls it finished.
#[derive(Clone)]
struct CtiAgent {
    client: reqwest::Client,
    bases: Vec<String>,
    ups: Vec<Arc<AtomicBool>>,
    stop: Arc<AtomicBool>,
    calls: Arc<AtomicU64>,
    sessions: Arc<AtomicU64>,
}

impl CtiAgent {
    async fn run(self) {
        let mut attempt = 0usize;
        while !self.stop.load(Ordering::SeqCst) {
            attempt += 1;
            let node = attempt % self.bases.len();
            if !self.ups[node].load(Ordering::SeqCst) {
                continue;
            }
            let base = &self.bases[node];
            let token = match call(
                &self.client,
                reqwest::Method::POST,
                format!("{base}/xuc/api/2.0/auth/login"),
                "",
                json!({"login": "cti-t0", "password": "cluster-password"}),
            )
            .await
            {
                Ok((200, answer)) => answer["token"].as_str().unwrap_or_default().to_string(),
                _ => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let url = format!(
                "{}/xuc/api/2.0/cti?token={token}",
                base.replace("http://", "ws://")
            );
            let Ok((mut socket, _)) = tokio_tungstenite::connect_async(url).await else {
                continue;
            };
            let command = |name: &str| {
                Message::Text(json!({"claz": "web", "command": name}).to_string().into())
            };
            if socket.send(command("agentLogin")).await.is_err() {
                continue;
            }
            self.sessions.fetch_add(1, Ordering::SeqCst);
            while let Some(Ok(message)) = socket.next().await {
                let Message::Text(text) = message else {
                    continue;
                };
                let value: Value = serde_json::from_str(&text).unwrap_or_default();
                // An offer rings with a Sheet, also one still ringing when the agent comes back.
                let reply = match value["msgType"].as_str() {
                    Some("Sheet") => "answer",
                    Some("AgentStateEvent") if value["ctiMessage"]["name"] == "AgentOnCall" => {
                        self.calls.fetch_add(1, Ordering::SeqCst);
                        "hangup"
                    }
                    _ => continue,
                };
                if socket.send(command(reply)).await.is_err() {
                    break;
                }
            }
        }
    }
}

async fn call(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    key: &str,
    body: Value,
) -> Result<(u16, Value), String> {
    let response = client
        .request(method, url)
        .header("api_key", key)
        .json(&body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let text = response.text().await.map_err(|e| e.to_string())?;
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

/// A call retried while the tenant is between nodes (503) or a node is unreachable, for up to 15 s.
async fn settled_call(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    key: &str,
    body: Value,
) -> (u16, Value) {
    let started = Instant::now();
    loop {
        match call(client, method.clone(), url.clone(), key, body.clone()).await {
            Ok((503, _)) | Err(_) if started.elapsed() < Duration::from_secs(15) => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Ok(answer) => return answer,
            Err(error) => panic!("{url}: {error}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_survive_kill_and_pause_without_loss_or_split_brain() {
    let admin_url = match std::env::var("SWITCHBOARD_TEST_PG") {
        Ok(url) if !url.is_empty() => url,
        _ => {
            eprintln!("skipping: set SWITCHBOARD_TEST_PG to run the cluster test");
            return;
        }
    };
    let schema = format!("sbcluster_{}", std::process::id());
    // PostgreSQL's blocking client must not run on an async task's thread: `block_in_place`.
    let sql = |statement: String| {
        tokio::task::block_in_place(|| {
            postgres::Client::connect(&admin_url, postgres::NoTls)
                .expect("PostgreSQL")
                .batch_execute(&statement)
                .expect("SQL");
        })
    };
    sql(format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
    ));
    let separator = if admin_url.contains('?') { '&' } else { '?' };
    let db = format!("{admin_url}{separator}options=-csearch_path%3D{schema}");
    let logs = tempfile::tempdir().expect("log directory");

    let mut nodes: Vec<Node> = (0..3)
        .map(|_| {
            let port = free_port();
            Node {
                child: Some(start(&db, port, logs.path())),
                port,
                up: Arc::new(AtomicBool::new(true)),
            }
        })
        .collect();
    let bases: Vec<String> = nodes.iter().map(Node::base).collect();
    let ups: Vec<Arc<AtomicBool>> = nodes.iter().map(|n| n.up.clone()).collect();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");

    // Tenants with keys, a service and two agents each, set up through the first node whoever leads them.
    let mut tenants = Vec::new();
    for n in 0..TENANTS {
        let tenant = format!("t{n}");
        let (code, out, err) = common::switchboard_in(
            None,
            &[
                "keys", "create", "--db", &db, "--name", &tenant, "--roles", "admin", "--tenant",
                &tenant,
            ],
        );
        assert_eq!(code, 0, "keys create: {err}");
        let key = out.trim().to_string();
        let (status, body) = settled_call(
            &client,
            reqwest::Method::POST,
            format!("{}/v2.0/services", bases[0]),
            &key,
            json!({"Name": "Cluster", "SipUri": format!("sip:cluster@{tenant}")}),
        )
        .await;
        assert_eq!(status, 200, "{tenant}: {body}");
        let service = body["Id"].as_str().expect("service id").to_string();
        for agent in 0..2 {
            let (status, user) = settled_call(
                &client,
                reqwest::Method::POST,
                format!("{}/v1.0/users", bases[agent + 1]),
                &key,
                json!({"SipUri": format!("sip:agent{agent}@{tenant}"), "Services": [{"Service": service}]}),
            )
            .await;
            assert_eq!(status, 200, "{user}");
            let id = user["Id"].as_str().expect("user id");
            let (status, _) = settled_call(
                &client,
                reqwest::Method::POST,
                format!("{}/v1.0/users/{id}/setpresence", bases[0]),
                &key,
                json!({"Presence": "Online"}),
            )
            .await;
            assert_eq!(status, 200);
        }
        tenants.push((tenant, key, service));
    }
    // Each tenant's events go to a webhook from the first one on; its deliveries move with the tenant.
    let received: Arc<Mutex<Received>> = Arc::default();
    let receiver = webhook_receiver(received.clone()).await;
    for (n, (tenant, key, _)) in tenants.iter().enumerate() {
        let (status, body) = settled_call(
            &client,
            reqwest::Method::POST,
            format!("{}/v2.0/webhooks", bases[n % 3]),
            key,
            json!({"Id": "audit", "Url": format!("{receiver}/hook/{tenant}"),
                   "Secret": "cluster-webhook-secret", "From": 1}),
        )
        .await;
        assert_eq!(status, 200, "{tenant}: {body}");
    }

    // Every tenant led, and spread over more than one node.
    wait_for(
        Duration::from_secs(20),
        "tenants spread over the nodes",
        || {
            let leaders = leaders(&db);
            let led: BTreeSet<&String> = leaders.values().flatten().collect();
            tenants
                .iter()
                .all(|(t, _, _)| leaders.get(t).is_some_and(Option::is_some))
                && led.len() >= 2
        },
    )
    .await;

    // Nodes hand tenants to their preferred node once it has been up a lease period: wait until nothing moves.
    let mut last = leaders(&db);
    let mut stable_since = Instant::now();
    wait_for(Duration::from_secs(20), "leases stable", || {
        let now = leaders(&db);
        if now != last {
            last = now;
            stable_since = Instant::now();
        }
        stable_since.elapsed() > Duration::from_millis(2_500)
    })
    .await;

    // A CTI agent of t0 signs in and opens its socket through a node that does not lead t0: the login is
    // forwarded, the socket relayed, and an offer reaches it.
    let cti_service = {
        let (_, key, _) = &tenants[0];
        let via = follower(&nodes, &db, "t0");
        let (status, body) = settled_call(
            &client,
            reqwest::Method::POST,
            format!("{via}/v2.0/services"),
            key,
            json!({"Name": "CTI", "SipUri": "sip:cti@t0"}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let cti_service = body["Id"].as_str().expect("id").to_string();
        let (_, user) = settled_call(
            &client,
            reqwest::Method::POST,
            format!("{via}/v1.0/users"),
            key,
            json!({"SipUri": "sip:cti@t0", "Services": [{"Service": cti_service}]}),
        )
        .await;
        let id = user["Id"].as_str().expect("user id");
        let (status, body) = settled_call(
            &client,
            reqwest::Method::POST,
            format!("{via}/v2.0/users/{id}/cti"),
            key,
            json!({"Login": "cti-t0", "Password": "cluster-password", "PhoneLine": "2000"}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let (status, answer) = settled_call(
            &client,
            reqwest::Method::POST,
            format!("{via}/xuc/api/2.0/auth/login"),
            "",
            json!({"login": "cti-t0", "password": "cluster-password"}),
        )
        .await;
        assert_eq!(status, 200, "{answer}");
        let token = answer["token"].as_str().expect("token");
        let url = format!(
            "{}/xuc/api/2.0/cti?token={token}",
            via.replace("http://", "ws://")
        );
        let (mut socket, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("relayed socket");
        socket
            .send(Message::Text(
                json!({"claz": "web", "command": "agentLogin"})
                    .to_string()
                    .into(),
            ))
            .await
            .expect("send");
        let mut created = false;
        let offered = tokio::time::timeout(Duration::from_secs(15), async {
            while let Some(Ok(message)) = socket.next().await {
                let Message::Text(text) = message else {
                    continue;
                };
                let value: Value = serde_json::from_str(&text).unwrap_or_default();
                if !created
                    && value["msgType"] == "AgentStateEvent"
                    && value["ctiMessage"]["name"] == "AgentReady"
                {
                    created = true;
                    let (status, body) = call(
                        &client,
                        reqwest::Method::POST,
                        format!("{via}/v1.0/tasks"),
                        key,
                        json!({"Service": cti_service, "ExternalTaskId": "cti-offer"}),
                    )
                    .await
                    .expect("create");
                    assert_eq!(status, 200, "{body}");
                }
                // Answer the offer and end the call, so the agent is free for the calls to come.
                let reply = match value["msgType"].as_str() {
                    Some("Sheet") => "answer",
                    Some("AgentStateEvent") if value["ctiMessage"]["name"] == "AgentOnCall" => {
                        "hangup"
                    }
                    _ => continue,
                };
                let command = json!({"claz": "web", "command": reply}).to_string();
                socket
                    .send(Message::Text(command.into()))
                    .await
                    .expect("send");
                if reply == "hangup" {
                    return true;
                }
            }
            false
        })
        .await;
        assert_eq!(
            offered,
            Ok(true),
            "the offer reached the relayed CTI socket and was answered"
        );
        let _ = socket.close(None).await;
        cti_service
    };

    // Load: one client per tenant, spread over the nodes that are up, until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged: Arc<Mutex<Vec<(usize, String)>>> = Arc::default();
    let wrong: Arc<Mutex<Vec<String>>> = Arc::default();
    let refused = Arc::new(AtomicU64::new(0));
    // The CTI agent of t0 stays on through everything: it answers and hangs up every call, and when its socket
    // closes (its tenant moved) it signs in again through any node that is up and carries on. A client feeds it
    // calls through the nodes in turn.
    let cti = CtiAgent {
        client: client.clone(),
        bases: bases.clone(),
        ups: ups.clone(),
        stop: stop.clone(),
        calls: Arc::default(),
        sessions: Arc::default(),
    };
    let cti_agent = tokio::spawn(cti.clone().run());
    let load = Load {
        client: client.clone(),
        bases: bases.clone(),
        ups: ups.clone(),
        acknowledged: acknowledged.clone(),
        wrong: wrong.clone(),
        refused: refused.clone(),
    };
    let cti_calls = {
        let (load, stop) = (load.clone(), stop.clone());
        let (key, service) = (tenants[0].1.clone(), cti_service.clone());
        tokio::spawn(async move {
            let mut n = 0usize;
            while !stop.load(Ordering::SeqCst) {
                n += 1;
                if load
                    .create(n, 0, &key, &service, format!("t0-cti-{n}"))
                    .await
                    .is_some()
                {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        })
    };
    let workers: Vec<_> = tenants
        .iter()
        .enumerate()
        .map(|(t, (tenant, key, service))| {
            let (load, stop) = (load.clone(), stop.clone());
            let (tenant, key, service) = (tenant.clone(), key.clone(), service.clone());
            tokio::spawn(async move {
                let mut n = 0usize;
                while !stop.load(Ordering::SeqCst) {
                    n += 1;
                    let node = t + n;
                    let Some(id) = load
                        .create(node, t, &key, &service, format!("{tenant}-{n}"))
                        .await
                    else {
                        continue;
                    };
                    if n.is_multiple_of(2) {
                        for step in ["setestablished", "terminate"] {
                            load.step(node, &key, &id, step).await;
                        }
                    }
                }
            })
        })
        .collect();
    let acknowledged_count = || acknowledged.lock().unwrap().len();
    let before = acknowledged_count();
    wait_for(Duration::from_secs(20), "load running", || {
        acknowledged_count() > before + 100
    })
    .await;

    // An event stream of t1 opened through a node that does not lead it streams through.
    {
        let via = follower(&nodes, &db, "t1");
        let streaming = reqwest::Client::new();
        let response = streaming
            .get(format!("{via}/v2.0/events"))
            .header("api_key", &tenants[1].1)
            .header("accept", "text/event-stream")
            .send()
            .await
            .expect("event stream");
        assert_eq!(response.status(), 200);
        let mut stream = response.bytes_stream();
        let mut text = String::new();
        let streamed = tokio::time::timeout(Duration::from_secs(15), async {
            while let Some(Ok(chunk)) = stream.next().await {
                text.push_str(&String::from_utf8_lossy(&chunk));
                if text.lines().filter(|l| l.starts_with("id:")).count() >= 50
                    && text.contains("TaskCreated")
                {
                    return true;
                }
            }
            false
        })
        .await;
        assert_eq!(
            streamed,
            Ok(true),
            "events streamed through a follower: {text}"
        );
    }
    // Puzzel e-task requests of t1 through a node that does not lead it (bearer key, tenant in the path).
    {
        let (_, key, _) = &tenants[1];
        let via = follower(&nodes, &db, "t1");
        let (status, body) = settled_call(
            &client,
            reqwest::Method::POST,
            format!("{via}/v2.0/accesspoints"),
            key,
            json!({"Name": "care@t1", "Service": "sip:cluster@t1"}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let data =
            json!({"From": "jane@customer.com", "To": "care@t1", "Subject": "Invoice"}).to_string();
        let answer: Value = client
            .post(format!("{via}/t1/requests"))
            .bearer_auth(key)
            .json(&json!({"data": data, "type": "mail", "version": "1.0"}))
            .send()
            .await
            .expect("RequestAdd")
            .json()
            .await
            .expect("envelope");
        assert_eq!(answer["code"], 0, "{answer}");
        let id = answer["id"].as_str().expect("request id").to_string();
        let answer: Value = client
            .get(format!("{via}/t1/requests/{id}"))
            .bearer_auth(key)
            .send()
            .await
            .expect("RequestGet")
            .json()
            .await
            .expect("envelope");
        assert_eq!(answer["code"], 0, "{answer}");
    }
    wait_for(Duration::from_secs(20), "the CTI agent takes calls", || {
        cti.calls.load(Ordering::SeqCst) > 0
    })
    .await;

    // 1. kill -9 the leader of t0 under load: another node takes t0 over from the durable state.
    let leader = leaders(&db)["t0"].clone().expect("t0 led");
    let killed = nodes
        .iter()
        .position(|n| n.id() == leader)
        .expect("leader is one of ours");
    nodes[killed].up.store(false, Ordering::SeqCst);
    nodes[killed].signal("-KILL");
    let _ = nodes[killed].child.take().expect("running").wait();
    let killed_at = Instant::now();
    let t0_key = tenants[0].1.clone();
    let live = bases[(killed + 1) % 3].clone();
    loop {
        let answer = call(
            &client,
            reqwest::Method::GET,
            format!("{live}/v1.0/services"),
            &t0_key,
            json!({}),
        )
        .await;
        if matches!(answer, Ok((200, _))) {
            break;
        }
        assert!(
            killed_at.elapsed() < Duration::from_secs(15),
            "t0 not served again: {answer:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let failover = killed_at.elapsed();
    // The CTI agent lost its socket with t0's leader, signed in again and takes calls from the new leader.
    let calls_at_kill = cti.calls.load(Ordering::SeqCst);
    wait_for(
        Duration::from_secs(20),
        "the CTI agent carries on after the kill",
        || {
            cti.sessions.load(Ordering::SeqCst) >= 2
                && cti.calls.load(Ordering::SeqCst) > calls_at_kill
        },
    )
    .await;
    let before = acknowledged_count();
    wait_for(Duration::from_secs(20), "load after the kill", || {
        acknowledged_count() > before + 100
    })
    .await;

    // 2. SIGSTOP the node leading the most tenants; once they all moved, resume it: it must step down.
    let leaders_now = leaders(&db);
    let paused = (0..3)
        .filter(|&i| i != killed)
        .max_by_key(|&i| {
            leaders_now
                .values()
                .filter(|l| l.as_deref() == Some(nodes[i].id().as_str()))
                .count()
        })
        .expect("a live node");
    let paused_id = nodes[paused].id();
    let its_tenants: Vec<String> = leaders_now
        .iter()
        .filter(|(_, l)| l.as_deref() == Some(paused_id.as_str()))
        .map(|(t, _)| t.clone())
        .collect();
    assert!(!its_tenants.is_empty());
    nodes[paused].up.store(false, Ordering::SeqCst);
    nodes[paused].signal("-STOP");
    let takeover = wait_for(
        Duration::from_secs(15),
        "the paused node's tenants taken over",
        || {
            let leaders = leaders(&db);
            its_tenants.iter().all(|t| {
                leaders
                    .get(t)
                    .cloned()
                    .flatten()
                    .is_some_and(|l| l != paused_id)
            })
        },
    )
    .await;
    let before = acknowledged_count();
    wait_for(Duration::from_secs(20), "load while paused", || {
        acknowledged_count() > before + 50
    })
    .await;
    nodes[paused].signal("-CONT");
    let paused_base = nodes[paused].base();
    let resumed = Instant::now();
    loop {
        let metrics = match client.get(format!("{paused_base}/metrics")).send().await {
            Ok(answer) => answer.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        let lost = metrics
            .lines()
            .any(|l| l.contains("change=\"lost\"") && !l.ends_with(" 0") && !l.starts_with('#'));
        if lost {
            break;
        }
        assert!(
            resumed.elapsed() < Duration::from_secs(15),
            "the resumed node did not step down"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    nodes[paused].up.store(true, Ordering::SeqCst);

    // 3. The killed node comes back (same address, same id) and takes its share again.
    nodes[killed].child = Some(start(&db, nodes[killed].port, logs.path()));
    let returned_id = nodes[killed].id();
    let rejoin = wait_for(
        Duration::from_secs(20),
        "the returning node leads a tenant",
        || {
            leaders(&db)
                .values()
                .any(|l| l.as_deref() == Some(returned_id.as_str()))
        },
    )
    .await;
    nodes[killed].up.store(true, Ordering::SeqCst);
    let before = acknowledged_count();
    wait_for(Duration::from_secs(20), "load at the end", || {
        acknowledged_count() > before + 100
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    for worker in workers {
        worker.await.expect("worker");
    }
    cti_calls.await.expect("CTI call feeder");
    cti_agent.abort();

    // Every answer was 200 or a clear 503; every acknowledged task is there, asked through any node.
    let wrong = wrong.lock().unwrap().clone();
    assert!(wrong.is_empty(), "wrong answers: {wrong:?}");
    let acknowledged = acknowledged.lock().unwrap().clone();
    for (i, (t, external)) in acknowledged.iter().enumerate() {
        let (status, task) = settled_call(
            &client,
            reqwest::Method::GET,
            format!("{}/v1.0/tasks/{external}", bases[i % 3]),
            &tenants[*t].1,
            json!({}),
        )
        .await;
        assert_eq!(status, 200, "acknowledged task {external} lost: {task}");
    }

    // Every event stored so far reached the tenant's webhook, in order, across the kill, the pause and the
    // moves; repeats (a position stored just before a crash) are allowed, gaps are not.
    let stored: BTreeMap<String, u64> = tokio::task::block_in_place(|| {
        let mut client = postgres::Client::connect(&db, postgres::NoTls).expect("PostgreSQL");
        tenants
            .iter()
            .map(|(tenant, _, _)| {
                let last: i64 = client
                    .query_one("SELECT MAX(seq) FROM events WHERE tenant = $1", &[tenant])
                    .expect("last event")
                    .get(0);
                (tenant.clone(), last as u64)
            })
            .collect()
    });
    wait_for(
        Duration::from_secs(30),
        "every stored event delivered to the webhooks",
        || {
            let received = received.lock().unwrap();
            stored.iter().all(|(tenant, last)| {
                received
                    .seen
                    .get(tenant)
                    .is_some_and(|seen| (1..=*last).all(|seq| seen.contains(&seq)))
            })
        },
    )
    .await;
    let (deliveries, delivered_events) = {
        let received = received.lock().unwrap();
        assert!(
            received.disorder.is_empty(),
            "webhook deliveries out of order: {:?}",
            received.disorder
        );
        (received.deliveries, stored.values().sum::<u64>())
    };

    // Graceful stop of every node: each hands its tenants over (the others lead them at once), the last one
    // releases them.
    let mut handovers = Vec::new();
    for (i, node) in nodes.iter_mut().enumerate() {
        let stopping = Instant::now();
        node.signal("-TERM");
        let status = node.child.take().expect("running").wait().expect("exit");
        assert!(status.success(), "node {} exited with {status}", node.id());
        if i + 1 < 3 {
            let gone = node.id();
            handovers.push(
                wait_for(
                    Duration::from_secs(10),
                    "the stopped node's tenants led by others",
                    || {
                        let leaders = leaders(&db);
                        tenants.iter().all(|(t, _, _)| {
                            leaders.get(t).cloned().flatten().is_some_and(|l| l != gone)
                        })
                    },
                )
                .await
                    + stopping.elapsed(),
            );
        }
    }

    // Each tenant's log: no gap, no double offer, and a replay that reproduces exactly the stored events.
    let audited = tokio::task::block_in_place(|| audit(&db, &tenants));
    let leases = leaders(&db);
    assert!(
        leases.values().all(Option::is_none),
        "leases left held: {leases:?}"
    );
    eprintln!(
        "3 nodes, {TENANTS} tenants, lease {} ms: {} tasks acknowledged and all found ({} calls answered by a CTI \
         agent over {} sessions); {} requests \
         refused with 503 or unreachable; kill -9 of t0's leader: served again after {:.2} s; SIGSTOP: its {} \
         tenants taken over after {:.2} s, stepped down on SIGCONT; restarted node led a tenant after {:.2} s; \
         graceful stops: every tenant led by the others {:.2} s and {:.2} s after SIGTERM; \
         {audited} events audited; webhooks: all {delivered_events} events in {deliveries} deliveries",
        lease_ms(),
        acknowledged.len(),
        cti.calls.load(Ordering::SeqCst),
        cti.sessions.load(Ordering::SeqCst),
        refused.load(Ordering::Relaxed),
        failover.as_secs_f64(),
        its_tenants.len(),
        takeover.as_secs_f64(),
        rejoin.as_secs_f64(),
        handovers[0].as_secs_f64(),
        handovers[1].as_secs_f64(),
    );
    drop(nodes);
    sql(format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
}

/// Audits every tenant's stored log; returns how many events were read.
fn audit(db: &str, tenants: &[(String, String, String)]) -> usize {
    let store = switchboard_store::Store::open(db).expect("open store");
    let mut audited = 0;
    for (tenant, _, _) in tenants {
        let events = switchboard_store::audit::all_events(&store, tenant).expect("events");
        let problems = switchboard_store::audit::audit_events(&events, 1);
        assert!(problems.is_empty(), "{tenant}: {}", problems.join("\n"));
        switchboard_store::Journal::open(&store, tenant, Default::default())
            .unwrap_or_else(|e| panic!("{tenant} does not replay to its stored events: {e}"));
        audited += events.len();
    }
    store.close();
    audited
}
