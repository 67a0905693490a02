//! The event stream and webhooks over the real server: the list with filters and pages, roles, long-polling,
//! Server-Sent Events resuming from Last-Event-ID, retention (410), and webhook delivery to a receiver started
//! here that accepts, fails, hangs past the timeout and recovers: every event arrives in order, none missing,
//! none twice, signed; a failing subscription is paused, resumed and replayed; a restart resumes where delivery
//! stopped; a slow receiver delays nobody; bad subscriptions are refused and nothing is created.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use hmac::{Hmac, KeyInit, Mac};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::Sha256;
use switchboard_core::Span;
use switchboard_server::auth::Role;
use switchboard_server::events::delivery::WebhookConfig;
use switchboard_server::{create_key, NewKey, ServerConfig};
use tokio::sync::mpsc;

use crate::{TestApp, ADMIN_KEY};

const SECRET: &str = "whsec_integration_test_secret";

/// Settings that keep retries fast: a short timeout and a small backoff. Pausing follows the server's clock.
fn fast_config() -> ServerConfig {
    ServerConfig {
        webhooks: WebhookConfig {
            timeout: Duration::from_millis(300),
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(40),
            pause_after: Span::from_secs(60),
            ..WebhookConfig::default()
        },
        ..ServerConfig::default()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Accept,
    Fail,
    Hang,
}

/// What the receiver got in one request.
#[derive(Debug)]
struct Delivery {
    webhook: String,
    sequences: Vec<u64>,
    events: Vec<Value>,
    acknowledged: bool,
    signature_ok: bool,
}

#[derive(Clone)]
struct Shared {
    mode: Arc<Mutex<Mode>>,
    sender: mpsc::UnboundedSender<Delivery>,
}

/// A webhook receiver on 127.0.0.1: answers 200 (`Accept`), 500 (`Fail`) or never (`Hang`), and reports every
/// request. It counts a delivery only when it acknowledges it, as a real receiver would.
struct Receiver {
    url: String,
    mode: Arc<Mutex<Mode>>,
    deliveries: mpsc::UnboundedReceiver<Delivery>,
    /// Acknowledged sequence numbers, in the order they were acknowledged.
    acknowledged: Vec<u64>,
    /// Every request, acknowledged or not.
    received: Vec<Delivery>,
}

fn verify(secret: &str, header: &str, body: &[u8]) -> bool {
    let mut timestamp = None;
    let mut signature = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => timestamp = Some(value.to_string()),
            Some(("v1", value)) => signature = Some(value.to_string()),
            _ => {}
        }
    }
    let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    expected == signature
}

async fn receive(State(shared): State<Shared>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let mode = *shared.mode.lock().unwrap();
    let parsed: Value = serde_json::from_slice(&body).expect("a JSON body");
    let events = parsed["Events"].as_array().cloned().unwrap_or_default();
    let signature = headers
        .get("switchboard-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let delivery = Delivery {
        webhook: parsed["Webhook"].as_str().unwrap_or_default().to_string(),
        sequences: events
            .iter()
            .map(|e| e["Sequence"].as_u64().unwrap())
            .collect(),
        events,
        acknowledged: mode == Mode::Accept,
        signature_ok: verify(SECRET, signature, &body),
    };
    let _ = shared.sender.send(delivery);
    match mode {
        Mode::Accept => StatusCode::OK,
        Mode::Fail => StatusCode::INTERNAL_SERVER_ERROR,
        Mode::Hang => std::future::pending().await,
    }
}

impl Receiver {
    async fn start() -> Receiver {
        let (sender, deliveries) = mpsc::unbounded_channel();
        let mode = Arc::new(Mutex::new(Mode::Accept));
        let shared = Shared {
            mode: mode.clone(),
            sender,
        };
        let router = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(shared);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Receiver {
            url,
            mode,
            deliveries,
            acknowledged: Vec::new(),
            received: Vec::new(),
        }
    }

    fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    /// The next request, failing after ten seconds.
    async fn next(&mut self) -> &Delivery {
        let delivery = tokio::time::timeout(Duration::from_secs(10), self.deliveries.recv())
            .await
            .expect("a delivery within 10 s")
            .expect("the receiver runs");
        assert!(delivery.signature_ok, "bad signature on {delivery:?}");
        assert!(!delivery.sequences.is_empty());
        if delivery.acknowledged {
            self.acknowledged.extend(&delivery.sequences);
        }
        self.received.push(delivery);
        self.received.last().unwrap()
    }

    /// Reads requests until the event `seq` was acknowledged.
    async fn until_acknowledged(&mut self, seq: u64) {
        while !self.acknowledged.contains(&seq) {
            self.next().await;
        }
    }

    /// Reads requests until one that was not acknowledged.
    async fn until_refused(&mut self) {
        while self.next().await.acknowledged {}
    }
}

/// The sequence numbers of every stored event after `after`, as the admin reads them.
async fn sequences_after(app: &TestApp, after: u64) -> Vec<u64> {
    let (status, page) = app
        .get(&format!("/v2.0/events?after={after}&limit=1000"))
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["Items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["Sequence"].as_u64().unwrap())
        .collect()
}

async fn latest(app: &TestApp) -> u64 {
    let tenant = app.state.tenant("default").await.unwrap();
    app.state.read(&tenant, |engine| engine.last_event_seq())
}

/// Some routing: a task created, offered to the user, accepted and ended.
async fn handle_a_task(app: &TestApp, service: &str, external: &str) {
    let (status, id) = app
        .post(
            "/v1.0/tasks",
            json!({"ExternalTaskId": external, "Service": service, "DistributeToAgentRONATimeoutInSeconds": 50}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{id}");
    let (status, body) = app
        .post(&format!("/v1.0/tasks/{external}/setestablished"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app
        .post(&format!("/v1.0/tasks/{external}/terminate"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// A contact center with one service and one online user; returns (service id, user id).
async fn center(app: &TestApp) -> (String, String) {
    let service = app.business_service().await;
    let user = app
        .online_user("smoky.cc", "Curt", "Connors", &service)
        .await;
    (service, user)
}

fn key_with(app: &TestApp, roles: &[Role]) -> String {
    create_key(
        app.state.store(),
        &NewKey {
            tenant: "default".to_string(),
            name: format!("{roles:?}"),
            roles: roles.to_vec(),
            expires_at: None,
            rate_limit: None,
            burst_limit: None,
        },
        app.state.now(),
    )
    .expect("key")
    .key
}

async fn subscribe(app: &TestApp, body: Value) -> Value {
    let (status, created) = app.post("/v2.0/webhooks", body).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    created
}

#[tokio::test]
async fn the_event_list_is_ordered_filtered_and_paged() {
    let app = TestApp::start().await;
    let (service, user) = center(&app).await;
    handle_a_task(&app, &service, "first").await;
    handle_a_task(&app, &service, "second").await;

    let (status, page) = app.get("/v2.0/events").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let items = page["Items"].as_array().unwrap();
    let sequences: Vec<u64> = items
        .iter()
        .map(|e| e["Sequence"].as_u64().unwrap())
        .collect();
    assert_eq!(sequences, (1..=latest(&app).await).collect::<Vec<_>>());
    assert_eq!(page["Next"], *sequences.last().unwrap());
    let types: BTreeSet<&str> = items.iter().map(|e| e["Type"].as_str().unwrap()).collect();
    for expected in [
        "ServiceUpserted",
        "AgentPresenceChanged",
        "TaskCreated",
        "TaskOffered",
        "TaskEstablished",
        "TaskTerminated",
        "AgentStatusChanged",
    ] {
        assert!(
            types.contains(expected),
            "{expected} missing from {types:?}"
        );
    }
    let offered = items.iter().find(|e| e["Type"] == "TaskOffered").unwrap();
    assert_eq!(offered["UserId"], user.as_str());
    assert_eq!(offered["ServiceId"], service.as_str());
    assert_eq!(offered["Category"], "Tasks");
    assert!(offered["Time"].as_str().unwrap().ends_with('Z'));
    let terminated = items
        .iter()
        .find(|e| e["Type"] == "TaskTerminated")
        .unwrap();
    assert_eq!(terminated["Data"]["ExternalTaskId"], "first");

    // By type, by service (task events carry their task's service), by user.
    let (_, page) = app
        .get("/v2.0/events?after=0&type=TaskOffered,TaskEstablished")
        .await;
    let types: Vec<&str> = page["Items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["Type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "TaskOffered",
            "TaskEstablished",
            "TaskOffered",
            "TaskEstablished"
        ]
    );
    let (_, page) = app
        .get("/v2.0/events?after=0&service=sip:smoky.businesss@dev.local")
        .await;
    let by_service = page["Items"].as_array().unwrap();
    assert!(by_service
        .iter()
        .all(|e| e["ServiceId"] == service.as_str()));
    assert!(by_service.iter().any(|e| e["Type"] == "TaskEstablished"));
    let (_, page) = app
        .get("/v2.0/events?after=0&agent=smoky.cc@dev.local")
        .await;
    let by_user = page["Items"].as_array().unwrap();
    assert!(!by_user.is_empty());
    assert!(by_user.iter().all(|e| e["UserId"] == user.as_str()));
    let (_, page) = app.get("/v2.0/events?after=0&type=Agents").await;
    assert!(page["Items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["Category"] == "Agents"));

    // Pages of two, following Next, give the same list.
    let mut paged = Vec::new();
    let mut after = 0;
    loop {
        let (_, page) = app
            .get(&format!("/v2.0/events?after={after}&limit=2"))
            .await;
        let items = page["Items"].as_array().unwrap();
        if items.is_empty() {
            break;
        }
        assert!(items.len() <= 2);
        paged.extend(items.iter().map(|e| e["Sequence"].as_u64().unwrap()));
        after = page["Next"].as_u64().unwrap();
    }
    assert_eq!(paged, sequences);

    // Bad input.
    for (path, expected) in [
        ("/v2.0/events?type=Nope", StatusCode::UNPROCESSABLE_ENTITY),
        ("/v2.0/events?limit=0", StatusCode::UNPROCESSABLE_ENTITY),
        ("/v2.0/events?limit=1001", StatusCode::UNPROCESSABLE_ENTITY),
        ("/v2.0/events?wait=61", StatusCode::UNPROCESSABLE_ENTITY),
        ("/v2.0/events?after=abc", StatusCode::BAD_REQUEST),
        (
            "/v2.0/events?service=sip:nobody@dev.local",
            StatusCode::NOT_FOUND,
        ),
        ("/v2.0/events?agent=nobody@dev.local", StatusCode::NOT_FOUND),
    ] {
        let (status, body) = app.get(path).await;
        assert_eq!(status, expected, "{path}: {body}");
        assert!(body["Error"]["Message"].is_string(), "{path}: {body}");
    }
}

#[tokio::test]
async fn roles_decide_which_events_a_key_reads() {
    let app = TestApp::start().await;
    let (service, _) = center(&app).await;
    handle_a_task(&app, &service, "t").await;
    let categories = |page: &Value| -> BTreeSet<String> {
        page["Items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["Category"].as_str().unwrap().to_string())
            .collect()
    };
    for (roles, expected) in [
        (vec![Role::TasksReadonly], vec!["Tasks"]),
        (vec![Role::TasksManage], vec!["Tasks"]),
        (vec![Role::UserReadonly], vec!["Agents"]),
        (vec![Role::UserControl], vec!["Agents"]),
        (vec![Role::ServiceReadonly], vec!["Configuration"]),
        (
            vec![Role::TasksReadonly, Role::UserReadonly],
            vec!["Agents", "Tasks"],
        ),
    ] {
        let key = key_with(&app, &roles);
        let (status, page) = app
            .call(Method::GET, "/v2.0/events?after=0", Some(&key), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{roles:?}: {page}");
        let expected: BTreeSet<String> = expected.iter().map(|s| s.to_string()).collect();
        assert_eq!(categories(&page), expected, "{roles:?}");
    }
    let tasks_only = key_with(&app, &[Role::TasksReadonly]);
    let (status, body) = app
        .call(
            Method::GET,
            "/v2.0/events?type=AgentStatusChanged",
            Some(&tasks_only),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let units_only = key_with(&app, &[Role::OuReadonly]);
    let (status, _) = app
        .call(Method::GET, "/v2.0/events", Some(&units_only), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Webhooks are managed with the Configuration role, and receive only what the creating key may read.
    let (status, _) = app
        .call(Method::GET, "/v2.0/webhooks", Some(&tasks_only), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let configuration = key_with(&app, &[Role::Configuration, Role::TasksReadonly]);
    let (status, body) = app
        .call(
            Method::POST,
            "/v2.0/webhooks",
            Some(&configuration),
            Some(json!({"Url": "http://127.0.0.1:9/hook", "Types": ["Agents"]})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, created) = app
        .call(
            Method::POST,
            "/v2.0/webhooks",
            Some(&configuration),
            Some(json!({"Url": "http://127.0.0.1:9/hook"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    assert_eq!(created["Categories"], json!(["Tasks", "Configuration"]));
    assert!(created["Secret"].as_str().unwrap().len() >= 16);
    let (_, listed) = app.get("/v2.0/webhooks").await;
    assert!(
        listed[0].get("Secret").is_none(),
        "the secret is shown only once"
    );
}

#[tokio::test]
async fn a_long_poll_returns_when_an_event_arrives() {
    let app = TestApp::start().await;
    let (service, _) = center(&app).await;
    let after = latest(&app).await;
    let tenant = app.state.tenant("default").await.unwrap();
    let listeners = tenant.hub().n_subscribers();
    let (client, url) = (
        app.client.clone(),
        format!(
            "{}/v2.0/events?after={after}&type=TaskCreated&wait=30",
            app.base
        ),
    );
    let poll = tokio::spawn(async move {
        let response = client
            .get(url)
            .header("api_key", ADMIN_KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.json::<Value>().await.unwrap()
    });
    // The poll is waiting once it follows the hub.
    while tenant.hub().n_subscribers() == listeners {
        tokio::task::yield_now().await;
    }
    let started = std::time::Instant::now();
    handle_a_task(&app, &service, "wake-up").await;
    let page = tokio::time::timeout(Duration::from_secs(10), poll)
        .await
        .expect("the poll answers when the event arrives")
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(30));
    let items = page["Items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{page}");
    assert_eq!(items[0]["Type"], "TaskCreated");
    assert_eq!(items[0]["Sequence"], after + 1);
}

/// A Server-Sent Events client: the (id, event type) of each event, skipping keep-alive comments.
struct SseClient {
    response: reqwest::Response,
    buffer: String,
}

impl SseClient {
    async fn open(app: &TestApp, query: &str, last_event_id: Option<u64>) -> SseClient {
        let mut request = app
            .client
            .get(format!("{}/v2.0/events{query}", app.base))
            .header("api_key", ADMIN_KEY)
            .header("accept", "text/event-stream");
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id.to_string());
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream"));
        SseClient {
            response,
            buffer: String::new(),
        }
    }

    async fn next(&mut self) -> (u64, String, Value) {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let frame: String = self.buffer.drain(..end + 2).collect();
                let (mut id, mut kind, mut data) = (None, None, None);
                for line in frame.lines() {
                    if let Some(value) = line.strip_prefix("id:") {
                        id = Some(value.trim().parse::<u64>().unwrap());
                    } else if let Some(value) = line.strip_prefix("event:") {
                        kind = Some(value.trim().to_string());
                    } else if let Some(value) = line.strip_prefix("data:") {
                        data = Some(serde_json::from_str::<Value>(value.trim()).unwrap());
                    }
                }
                if let (Some(id), Some(kind), Some(data)) = (id, kind, data) {
                    return (id, kind, data);
                }
                continue;
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), self.response.chunk())
                .await
                .expect("an event within 10 s")
                .unwrap()
                .expect("the stream stays open");
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

#[tokio::test]
async fn server_sent_events_stream_live_and_resume_from_last_event_id() {
    let app = TestApp::start().await;
    let (service, _) = center(&app).await;
    let stored = latest(&app).await;
    let mut stream = SseClient::open(&app, "", None).await;
    for expected in 1..=stored {
        let (id, kind, data) = stream.next().await;
        assert_eq!(id, expected);
        assert_eq!(data["Sequence"], expected);
        assert_eq!(data["Type"], kind.as_str());
    }
    // Live: what happens now arrives on the open stream, in order.
    handle_a_task(&app, &service, "live").await;
    let now = latest(&app).await;
    let mut seen = Vec::new();
    while seen.last() != Some(&now) {
        seen.push(stream.next().await.0);
    }
    assert_eq!(seen, ((stored + 1)..=now).collect::<Vec<_>>());
    drop(stream);

    // A client that saw up to `stored + 2` reconnects with Last-Event-ID and gets the rest, then new ones.
    let mut resumed = SseClient::open(&app, "", Some(stored + 2)).await;
    let (id, _, _) = resumed.next().await;
    assert_eq!(id, stored + 3);
    // With a filter, only matching events arrive.
    let mut filtered = SseClient::open(&app, "?type=TaskTerminated", Some(stored)).await;
    handle_a_task(&app, &service, "after-reconnect").await;
    let (_, kind, first) = filtered.next().await;
    assert_eq!(kind, "TaskTerminated");
    assert_eq!(first["Data"]["ExternalTaskId"], "live");
    let (_, kind, second) = filtered.next().await;
    assert_eq!(kind, "TaskTerminated");
    assert_eq!(second["Data"]["ExternalTaskId"], "after-reconnect");
    let mut previous = id;
    for _ in 0..(latest(&app).await - stored - 3) {
        let (id, _, _) = resumed.next().await;
        assert_eq!(id, previous + 1);
        previous = id;
    }
    // Shutdown ends open streams instead of waiting for them.
    let (_dir, _, _) = app.stop().await;
}

#[tokio::test]
async fn sequences_no_longer_kept_answer_410() {
    let app = TestApp::start_with(fast_config()).await;
    let (service, _) = center(&app).await;
    let old = latest(&app).await;
    app.clock.advance(Span::from_secs(10 * 86_400));
    handle_a_task(&app, &service, "recent").await;
    let cut = switchboard_core::Time(app.state.now().as_micros() - 5 * 86_400 * 1_000_000);
    let state = app.state.clone();
    let (events, _) = tokio::task::spawn_blocking(move || state.store().prune(cut, cut))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(events, old);

    let (status, body) = app.get("/v2.0/events?after=0").await;
    assert_eq!(status, StatusCode::GONE, "{body}");
    assert_eq!(body["Error"]["Code"], "EventsNoLongerKept");
    let message = body["Error"]["Message"].as_str().unwrap();
    assert!(
        message.contains(&format!("the oldest kept is {}", old + 1)),
        "{message}"
    );
    // Without `after`, the list starts at the oldest event kept; from there on nothing is refused.
    let (status, page) = app.get("/v2.0/events").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["Items"][0]["Sequence"], old + 1);
    let (status, _) = app.get(&format!("/v2.0/events?after={old}")).await;
    assert_eq!(status, StatusCode::OK);
    let response = app
        .client
        .get(format!("{}/v2.0/events", app.base))
        .header("api_key", ADMIN_KEY)
        .header("accept", "text/event-stream")
        .header("last-event-id", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::GONE);
    // A subscription cannot start, nor replay, from a pruned event; nothing is created.
    let (status, body) = app
        .post(
            "/v2.0/webhooks",
            json!({"Id": "late", "Url": "http://127.0.0.1:9/hook", "Secret": SECRET, "From": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::GONE, "{body}");
    let (_, list) = app.get("/v2.0/webhooks").await;
    assert_eq!(list, json!([]));
    subscribe(
        &app,
        json!({"Id": "ok", "Url": "http://127.0.0.1:9/hook", "Secret": SECRET}),
    )
    .await;
    let (status, _) = app
        .post("/v2.0/webhooks/ok/replay", json!({"From": old}))
        .await;
    assert_eq!(status, StatusCode::GONE);
}

#[tokio::test]
async fn webhooks_deliver_every_event_in_order_through_failures_and_timeouts() {
    let app = TestApp::start_with(fast_config()).await;
    let mut receiver = Receiver::start().await;
    let (service, _) = center(&app).await;
    let start = latest(&app).await;
    let created = subscribe(
        &app,
        json!({"Id": "crm", "Url": receiver.url, "Secret": SECRET, "Description": "CRM"}),
    )
    .await;
    assert_eq!(created["Status"], "Active");
    assert_eq!(created["Acknowledged"], start);
    assert!(
        created.get("Secret").is_none(),
        "a secret the caller chose is not echoed"
    );

    handle_a_task(&app, &service, "one").await;
    receiver.until_acknowledged(latest(&app).await).await;

    // The receiver fails: retried with backoff, nothing skipped.
    receiver.set(Mode::Fail);
    handle_a_task(&app, &service, "two").await;
    receiver.until_refused().await;
    receiver.until_refused().await;
    let (_, status) = app.get("/v2.0/webhooks/crm").await;
    assert_eq!(status["Status"], "Failing", "{status}");
    assert!(status["ConsecutiveFailures"].as_u64().unwrap() >= 1);
    assert!(status["LastError"].as_str().unwrap().contains("500"));

    // The receiver hangs past the timeout: retried too.
    receiver.set(Mode::Hang);
    receiver.until_refused().await;
    receiver.until_refused().await;

    // It recovers: everything arrives.
    receiver.set(Mode::Accept);
    handle_a_task(&app, &service, "three").await;
    let last = latest(&app).await;
    receiver.until_acknowledged(last).await;

    let expected = sequences_after(&app, start).await;
    assert_eq!(
        receiver.acknowledged, expected,
        "every event exactly once, in order"
    );
    // Every attempt started right after what had been acknowledged: a retry resends the same events.
    let mut acknowledged_up_to = start;
    for delivery in &receiver.received {
        assert_eq!(delivery.webhook, "crm");
        assert_eq!(
            delivery.sequences[0],
            acknowledged_up_to + 1,
            "{delivery:?}"
        );
        assert!(delivery.sequences.windows(2).all(|w| w[1] == w[0] + 1));
        assert!(delivery
            .events
            .iter()
            .all(|e| e["Type"].is_string() && e["Time"].is_string()));
        if delivery.acknowledged {
            acknowledged_up_to = *delivery.sequences.last().unwrap();
        }
    }
    let mut status = app.state.webhooks().watch("default", "crm").unwrap();
    status.wait_for(|s| s.acknowledged == last).await.unwrap();
    let (_, status) = app.get("/v2.0/webhooks/crm").await;
    assert_eq!(status["Status"], "Active", "{status}");
    assert_eq!(status["Acknowledged"], last);
    assert_eq!(status["ConsecutiveFailures"], 0);
}

#[tokio::test]
async fn a_webhook_with_a_filter_receives_only_matching_events() {
    let app = TestApp::start_with(fast_config()).await;
    let mut receiver = Receiver::start().await;
    let (service, user) = center(&app).await;
    subscribe(
        &app,
        json!({"Id": "offers", "Url": receiver.url, "Secret": SECRET,
               "Types": ["TaskOffered", "TaskTerminated"], "Services": ["sip:smoky.businesss@dev.local"],
               "Agents": ["smoky.cc@dev.local"]}),
    )
    .await;
    handle_a_task(&app, &service, "a").await;
    handle_a_task(&app, &service, "b").await;
    let (_, page) = app.get("/v2.0/events?after=0&type=TaskTerminated").await;
    let last = page["Items"][1]["Sequence"].as_u64().unwrap();
    receiver.until_acknowledged(last).await;
    let types: Vec<&str> = receiver
        .received
        .iter()
        .flat_map(|d| d.events.iter().map(|e| e["Type"].as_str().unwrap()))
        .collect();
    assert_eq!(
        types,
        [
            "TaskOffered",
            "TaskTerminated",
            "TaskOffered",
            "TaskTerminated"
        ]
    );
    assert!(receiver
        .received
        .iter()
        .flat_map(|d| d.events.iter())
        .all(|e| e["UserId"] == user.as_str() && e["ServiceId"] == service.as_str()));
}

#[tokio::test]
async fn a_webhook_failing_too_long_is_paused_then_resumed_and_replayed() {
    let app = TestApp::start_with(fast_config()).await;
    let mut receiver = Receiver::start().await;
    let (service, _) = center(&app).await;
    let start = latest(&app).await;
    subscribe(
        &app,
        json!({"Id": "crm", "Url": receiver.url, "Secret": SECRET}),
    )
    .await;
    let mut status = app.state.webhooks().watch("default", "crm").unwrap();
    receiver.set(Mode::Fail);
    handle_a_task(&app, &service, "one").await;
    receiver.until_refused().await;
    // Failing for longer than `pause_after` on the server's clock: the next failure pauses it.
    app.clock.advance(Span::from_secs(61));
    status.wait_for(|s| s.paused).await.unwrap();
    let (_, paused) = app.get("/v2.0/webhooks/crm").await;
    assert_eq!(paused["Status"], "Paused", "{paused}");
    assert!(paused["PausedReason"]
        .as_str()
        .unwrap()
        .contains("longer than 60 s"));
    assert_eq!(paused["Acknowledged"], start);

    // Resumed, it delivers from the last acknowledged event.
    handle_a_task(&app, &service, "two").await;
    receiver.set(Mode::Accept);
    receiver.received.clear();
    let (status_code, resumed) = app.post("/v2.0/webhooks/crm/resume", json!({})).await;
    assert_eq!(status_code, StatusCode::OK, "{resumed}");
    assert_eq!(resumed["Status"], "Active");
    let last = latest(&app).await;
    receiver.until_acknowledged(last).await;
    let acknowledged: Vec<u64> = receiver
        .received
        .iter()
        .filter(|d| d.acknowledged)
        .flat_map(|d| d.sequences.clone())
        .collect();
    assert_eq!(acknowledged, sequences_after(&app, start).await);

    // Replayed from an earlier sequence, it delivers again from there, in order.
    receiver.acknowledged.clear();
    let (status_code, replayed) = app
        .post("/v2.0/webhooks/crm/replay", json!({"From": start + 2}))
        .await;
    assert_eq!(status_code, StatusCode::OK, "{replayed}");
    assert_eq!(replayed["Acknowledged"], start + 1);
    receiver.until_acknowledged(last).await;
    assert_eq!(
        receiver.acknowledged,
        sequences_after(&app, start + 1).await
    );
    let (status_code, _) = app
        .post("/v2.0/webhooks/nope/replay", json!({"From": 1}))
        .await;
    assert_eq!(status_code, StatusCode::NOT_FOUND);
    let (status_code, _) = app.post("/v2.0/webhooks/nope/resume", json!({})).await;
    assert_eq!(status_code, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn delivery_resumes_where_it_stopped_after_a_restart() {
    let app = TestApp::start_with(fast_config()).await;
    let mut receiver = Receiver::start().await;
    let (service, _) = center(&app).await;
    let start = latest(&app).await;
    subscribe(
        &app,
        json!({"Id": "crm", "Url": receiver.url, "Secret": SECRET}),
    )
    .await;
    handle_a_task(&app, &service, "before").await;
    receiver.until_acknowledged(latest(&app).await).await;
    // Then the receiver fails, so events are pending when the server stops.
    receiver.set(Mode::Fail);
    handle_a_task(&app, &service, "pending").await;
    receiver.until_refused().await;
    let (dir, db_url, clock) = app.stop().await;

    receiver.set(Mode::Accept);
    let app = TestApp::start_configured(&db_url, clock, fast_config()).await;
    handle_a_task(&app, &service, "after").await;
    let last = latest(&app).await;
    receiver.until_acknowledged(last).await;
    assert_eq!(
        receiver.acknowledged,
        sequences_after(&app, start).await,
        "nothing lost and nothing twice across a restart"
    );
    let (_, status) = app.get("/v2.0/webhooks/crm").await;
    assert_eq!(status["Status"], "Active", "{status}");
    drop(app);
    drop(dir);
}

#[tokio::test]
async fn a_slow_receiver_delays_neither_routing_nor_other_subscriptions() {
    let mut config = fast_config();
    config.webhooks.timeout = Duration::from_secs(60);
    let app = TestApp::start_with(config).await;
    let mut slow = Receiver::start().await;
    let mut fast = Receiver::start().await;
    slow.set(Mode::Hang);
    let (service, _) = center(&app).await;
    let start = latest(&app).await;
    subscribe(
        &app,
        json!({"Id": "slow", "Url": slow.url, "Secret": SECRET}),
    )
    .await;
    subscribe(
        &app,
        json!({"Id": "fast", "Url": fast.url, "Secret": SECRET}),
    )
    .await;
    for n in 0..20 {
        handle_a_task(&app, &service, &format!("task-{n}")).await;
    }
    let last = latest(&app).await;
    fast.until_acknowledged(last).await;
    assert_eq!(fast.acknowledged, sequences_after(&app, start).await);
    // The slow receiver holds its first request; nothing else reached it, and routing went on meanwhile.
    let first = slow.next().await;
    assert!(!first.acknowledged);
    assert!(slow.deliveries.try_recv().is_err());
    let (_, status) = app.get("/v2.0/webhooks/slow").await;
    assert_eq!(status["Acknowledged"], start);
}

#[tokio::test]
async fn bad_webhooks_are_refused_and_nothing_is_created() {
    let app = TestApp::start().await;
    center(&app).await;
    for (body, expected) in [
        (
            json!({"Url": "ftp://example.com/hook"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"Url": "https://user:password@example.com/hook"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"Url": "not a url"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"Url": "file:///etc/passwd"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (json!({}), StatusCode::BAD_REQUEST),
        (
            json!({"Url": "http://127.0.0.1:9/hook", "Unknown": 1}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"Url": "http://127.0.0.1:9/hook", "Types": ["TaskExploded"]}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"Url": "http://127.0.0.1:9/hook", "Services": ["sip:nobody@dev.local"]}),
            StatusCode::NOT_FOUND,
        ),
        (
            json!({"Url": "http://127.0.0.1:9/hook", "Agents": ["nobody@dev.local"]}),
            StatusCode::NOT_FOUND,
        ),
        (
            json!({"Url": "http://127.0.0.1:9/hook", "Secret": "short"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"Url": "http://127.0.0.1:9/hook", "Id": "a/b"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"Url": "http://127.0.0.1:9/hook", "From": 0}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        let (status, answer) = app.post("/v2.0/webhooks", body.clone()).await;
        assert_eq!(status, expected, "{body}: {answer}");
        assert!(answer["Error"]["Message"].is_string(), "{body}: {answer}");
        let (status, _) = app
            .call(
                Method::PUT,
                "/v2.0/webhooks/x",
                Some(ADMIN_KEY),
                Some(body.clone()),
            )
            .await;
        assert!(status.is_client_error(), "PUT {body}: {status}");
    }
    let (status, answer) = app
        .post(
            "/v2.0/configuration",
            json!({"Webhooks": [{"Id": "crm", "Url": "gopher://example.com", "Secret": SECRET}]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    let (status, answer) = app
        .post(
            "/v2.0/configuration",
            json!({"Webhooks": [{"Id": "crm", "Url": "http://127.0.0.1:9/hook"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    let (status, list) = app.get("/v2.0/webhooks").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list, json!([]), "nothing was created");
    let (status, _) = app.get("/v2.0/webhooks/x").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A good one, then the same id again: 409, and the first one is left as it was.
    subscribe(
        &app,
        json!({"Id": "crm", "Url": "http://127.0.0.1:9/hook", "Secret": SECRET}),
    )
    .await;
    let (status, _) = app
        .post(
            "/v2.0/webhooks",
            json!({"Id": "crm", "Url": "http://127.0.0.1:9/other", "Secret": SECRET}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (_, found) = app.get("/v2.0/webhooks/crm").await;
    assert_eq!(found["Url"], "http://127.0.0.1:9/hook");
    let (status, _) = app
        .call(Method::DELETE, "/v2.0/webhooks/crm", Some(ADMIN_KEY), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .call(Method::DELETE, "/v2.0/webhooks/crm", Some(ADMIN_KEY), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn webhooks_come_from_the_configuration_file_and_can_be_changed() {
    let app = TestApp::start_with(fast_config()).await;
    let mut receiver = Receiver::start().await;
    let (service, _) = center(&app).await;
    let configuration = json!({"Webhooks": [{"Id": "crm", "Url": receiver.url, "Secret": SECRET,
                                              "Types": ["Tasks"]}]});
    let (status, report) = app.post("/v2.0/configuration", configuration.clone()).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["DirectoryChanged"], 1);
    let (_, report) = app.post("/v2.0/configuration", configuration).await;
    assert_eq!(
        report["DirectoryChanged"], 0,
        "applying it twice changes nothing"
    );
    assert_eq!(report["Unchanged"], 1);
    handle_a_task(&app, &service, "configured").await;
    let (_, page) = app.get("/v2.0/events?after=0&type=Tasks").await;
    let last_task_event = page["Items"].as_array().unwrap().last().unwrap()["Sequence"]
        .as_u64()
        .unwrap();
    receiver.until_acknowledged(last_task_event).await;
    let last = latest(&app).await;
    let mut status = app.state.webhooks().watch("default", "crm").unwrap();
    status.wait_for(|s| s.acknowledged == last).await.unwrap();
    assert!(receiver
        .received
        .iter()
        .flat_map(|d| d.events.iter())
        .all(|e| e["Category"] == "Tasks"));

    // PUT changes the filter and keeps the position.
    let (status, changed) = app
        .call(
            Method::PUT,
            "/v2.0/webhooks/crm",
            Some(ADMIN_KEY),
            Some(json!({"Url": receiver.url, "Types": ["TaskCreated"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert!(
        changed.get("Secret").is_none(),
        "a change without Secret keeps the secret (deliveries below verify with it)"
    );
    assert_eq!(changed["Types"], json!(["TaskCreated"]));
    assert_eq!(changed["Acknowledged"], last);
    receiver.received.clear();
    handle_a_task(&app, &service, "filtered").await;
    let (_, page) = app
        .get(&format!("/v2.0/events?after={last}&type=TaskCreated"))
        .await;
    let created = page["Items"][0]["Sequence"].as_u64().unwrap();
    receiver.until_acknowledged(created).await;
    let types: Vec<&str> = receiver
        .received
        .iter()
        .flat_map(|d| d.events.iter().map(|e| e["Type"].as_str().unwrap()))
        .collect();
    assert_eq!(types, ["TaskCreated"]);
}

#[tokio::test]
async fn a_crash_before_the_position_is_stored_repeats_only_events_identifiable_by_sequence() {
    let app = TestApp::start_with(fast_config()).await;
    let mut receiver = Receiver::start().await;
    let (service, _) = center(&app).await;
    let start = latest(&app).await;
    subscribe(
        &app,
        json!({"Id": "crm", "Url": receiver.url, "Secret": SECRET}),
    )
    .await;
    handle_a_task(&app, &service, "before").await;
    let acknowledged = latest(&app).await;
    receiver.until_acknowledged(acknowledged).await;
    let (dir, db_url, clock) = app.stop().await;

    // A crash right after the receiver acknowledged but before the position was written leaves an older
    // position in the store; rewind it to stand for that.
    let rewound = start + 2;
    let url = db_url.clone();
    tokio::task::spawn_blocking(move || {
        let store = switchboard_store::Store::open(&url).unwrap();
        let (_, body) = store
            .list_entries("default", "webhook_state")
            .unwrap()
            .into_iter()
            .find(|(id, _)| id == "crm")
            .unwrap();
        let mut state: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(state["acknowledged"], acknowledged, "stored as delivered");
        state["acknowledged"] = json!(rewound);
        store
            .put_entry("default", "webhook_state", "crm", &state.to_string())
            .unwrap();
        store.close();
    })
    .await
    .unwrap();

    let app = TestApp::start_configured(&db_url, clock, fast_config()).await;
    handle_a_task(&app, &service, "after").await;
    let last = latest(&app).await;
    receiver.until_acknowledged(last).await;
    let expected = sequences_after(&app, start).await;
    let repeated: Vec<u64> = ((rewound + 1)..=acknowledged).collect();
    let mut once = receiver.acknowledged.clone();
    let duplicates = once.len() - {
        let mut seen = BTreeSet::new();
        once.retain(|seq| seen.insert(*seq));
        once.len()
    };
    assert_eq!(
        duplicates,
        repeated.len(),
        "only the unrecorded events again"
    );
    assert_eq!(
        once, expected,
        "by sequence number, every event once and in order"
    );
    drop(app);
    drop(dir);
}

#[tokio::test]
async fn event_and_webhook_endpoints_against_every_role() {
    let app = TestApp::start().await;
    for role in Role::ALL {
        let key = key_with(&app, &[role]);
        let (status, _) = app
            .call(Method::GET, "/v2.0/events", Some(&key), None)
            .await;
        let may_read = role != Role::OuReadonly;
        assert_eq!(status == StatusCode::OK, may_read, "{role:?}: {status}");
        if !may_read {
            assert_eq!(status, StatusCode::UNAUTHORIZED);
        }
        let (status, _) = app
            .call(Method::GET, "/v2.0/webhooks", Some(&key), None)
            .await;
        let expected = if role == Role::Configuration {
            StatusCode::OK
        } else {
            StatusCode::UNAUTHORIZED
        };
        assert_eq!(status, expected, "{role:?}");
        let (status, _) = app
            .call(Method::DELETE, "/v2.0/webhooks/none", Some(&key), None)
            .await;
        let expected = if role == Role::Configuration {
            StatusCode::NOT_FOUND
        } else {
            StatusCode::UNAUTHORIZED
        };
        assert_eq!(status, expected, "{role:?}");
    }
}
