//! The web pages' server side: the embedded pages and files, the task explorer's REST extensions (search,
//! timeline, explanation) and the CTI extensions the wallboard uses (last-15-minute counters, agents by state,
//! the hour's history, the current task in agent states, pause reasons, read-only sessions opened with an API
//! key).

use std::collections::HashMap;
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use switchboard_server::auth::Role;
use switchboard_server::{create_key, NewKey, ServerConfig};
use tokio_tungstenite::tungstenite::Message;

use crate::cti::{cti_user, Cti};
use crate::TestApp;

#[tokio::test]
async fn pages_and_their_files_are_served_with_types_and_validators() {
    let app = TestApp::start().await;
    for (path, kind) in [
        ("/", "text/html"),
        ("/wallboard", "text/html"),
        ("/agent", "text/html"),
        ("/tasks", "text/html"),
        ("/web/app.css", "text/css"),
        ("/web/wallboard.js", "text/javascript"),
        ("/web/cti.js", "text/javascript"),
        ("/web/icon.svg", "image/svg+xml"),
    ] {
        let response = app
            .client
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let headers = response.headers().clone();
        assert!(
            headers["content-type"].to_str().unwrap().starts_with(kind),
            "{path}: {:?}",
            headers["content-type"]
        );
        assert_eq!(headers["cache-control"], "no-cache", "{path}");
        let etag = headers["etag"].to_str().unwrap().to_string();
        let body = response.text().await.unwrap();
        assert!(!body.is_empty());
        let again = app
            .client
            .get(format!("{}{path}", app.base))
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{path}");
        if kind == "text/html" {
            let policy = headers["content-security-policy"].to_str().unwrap();
            assert!(policy.contains("default-src 'self'"), "{policy}");
            assert!(body.contains("/web/app.css"));
        }
    }
    let (status, body) = app.call(Method::GET, "/web/nothing.js", None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["Error"]["Code"], "NotFound");
}

/// The item of a page whose field has this value.
fn item<'a>(page: &'a Value, field: &str, value: &str) -> Option<&'a Value> {
    page["Items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|item| item[field] == value)
}

#[tokio::test]
async fn the_explorer_finds_tasks_and_shows_timelines_and_explanations() {
    let app = TestApp::start().await;
    let service = app.business_service().await;
    app.online_user("anna", "Anna", "Lindqvist", &service).await;
    let (_, first) = app
        .post(
            "/v1.0/tasks",
            json!({"Service": service, "ExternalTaskId": "first", "Caller": "Johnny Appleseed",
                   "ContextParameters": [{"Name": "Order", "Value": "1001"}]}),
        )
        .await;
    let first = first.as_str().unwrap().to_string();
    let (status, _) = app
        .post(&format!("/v1.0/tasks/{first}/setestablished"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    app.advance(3).await;
    let (_, second) = app
        .post(
            "/v1.0/tasks",
            json!({"Service": service, "ExternalTaskId": "second", "Caller": "Mary Major"}),
        )
        .await;
    let second = second.as_str().unwrap().to_string();

    // Search: newest first, by state, customer, external id and service.
    let (status, page) = app.get("/v2.0/tasks").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["TotalCount"], 2);
    assert_eq!(page["Items"][0]["Id"], second.as_str());
    assert_eq!(page["Items"][1]["State"], "Established");
    assert_eq!(page["Items"][1]["UserName"], "Anna Lindqvist");
    assert_eq!(page["Items"][1]["ServiceName"], "Business Customer Care");
    assert_eq!(page["Items"][1]["ContextParameters"][0]["Value"], "1001");
    let (_, waiting) = app.get("/v2.0/tasks?state=InQueue").await;
    assert_eq!(waiting["TotalCount"], 1);
    assert_eq!(waiting["Items"][0]["QueuePosition"], 1);
    let (_, by_customer) = app.get("/v2.0/tasks?customer=JOHNNY").await;
    assert_eq!(by_customer["TotalCount"], 1);
    assert_eq!(by_customer["Items"][0]["Id"], first.as_str());
    let (_, by_external) = app.get("/v2.0/tasks?externalId=second").await;
    assert_eq!(by_external["Items"][0]["Id"], second.as_str());
    let (_, by_service) = app
        .get("/v2.0/tasks?service=sip:smoky.businesss@dev.local&pageSize=1&page=2")
        .await;
    assert_eq!(by_service["TotalCount"], 2);
    assert_eq!(by_service["Items"][0]["Id"], first.as_str());
    let (status, body) = app.get("/v2.0/tasks?state=Sleeping").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body) = app.get("/v2.0/tasks?service=nowhere").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    // Why the second waits: Anna has no capacity left.
    let (status, explanation) = app.get(&format!("/v2.0/tasks/{second}/explanation")).await;
    assert_eq!(status, StatusCode::OK, "{explanation}");
    assert_eq!(explanation["State"], "InQueue");
    assert_eq!(explanation["QueuePosition"], 1);
    assert_eq!(explanation["Eligible"], json!([]));
    assert_eq!(explanation["Ineligible"][0]["Name"], "Anna Lindqvist");
    assert_eq!(explanation["Ineligible"][0]["Reason"], "NoCapacity");
    assert!(explanation["Ineligible"][0]["Detail"]
        .as_str()
        .unwrap()
        .contains("no capacity"));

    // The first one's timeline, by external id, holds its own events only.
    let (status, timeline) = app.get("/v2.0/tasks/first/timeline").await;
    assert_eq!(status, StatusCode::OK, "{timeline}");
    let types: Vec<&str> = timeline["Items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["Type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "TaskCreated",
            "TaskQueued",
            "TaskOffered",
            "TaskEstablished"
        ]
    );
    assert!(timeline["Items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["TaskId"] == first.as_str()));
    assert_eq!(timeline["Complete"], true);
    assert_eq!(timeline["State"], "Established");

    // Once it ends: the timeline ends with its termination, the search finds it finished, and there is no
    // explanation any more.
    let (status, _) = app
        .post(&format!("/v1.0/tasks/{first}/terminate"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, timeline) = app.get(&format!("/v2.0/tasks/{first}/timeline")).await;
    assert_eq!(timeline["State"], "Terminated");
    let items = timeline["Items"].as_array().unwrap();
    assert_eq!(items.last().unwrap()["Type"], "TaskTerminated");
    assert_eq!(items.last().unwrap()["Data"]["Reason"], "completed");
    let (_, finished) = app.get("/v2.0/tasks?state=Terminated").await;
    let done = item(&finished, "Id", &first).expect("the finished task is found");
    assert_eq!(done["TerminationReason"], "completed");
    assert!(done["Terminated"].is_string());
    let (_, live_only) = app.get("/v2.0/tasks?finished=false").await;
    assert!(item(&live_only, "Id", &first).is_none());
    let (status, body) = app.get(&format!("/v2.0/tasks/{first}/explanation")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["Error"]["Code"], "TaskFinished");
    for path in [
        "/v2.0/tasks/nothing/timeline",
        "/v2.0/tasks/nothing/explanation",
    ] {
        let (status, body) = app.get(path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        assert_eq!(body["Error"]["Code"], "TaskNotFound");
    }
}

fn watcher_key(app: &TestApp, roles: &[Role]) -> (String, String) {
    let created = create_key(
        app.state.store(),
        &NewKey {
            tenant: "default".to_string(),
            name: "wallboard".to_string(),
            roles: roles.to_vec(),
            expires_at: None,
            rate_limit: None,
            burst_limit: None,
        },
        app.state.now(),
    )
    .expect("key");
    (created.record.id, created.key)
}

/// Every counter of the queue as last sent, from all the `QueueStatistics` messages seen.
fn counters(messages: &[Value]) -> HashMap<String, Value> {
    let mut counters = HashMap::new();
    for message in messages
        .iter()
        .filter(|m| m["msgType"] == "QueueStatistics")
    {
        for counter in message["ctiMessage"]["counters"].as_array().unwrap() {
            counters.insert(
                counter["statName"].as_str().unwrap().to_string(),
                counter["value"].clone(),
            );
        }
    }
    counters
}

#[tokio::test]
async fn an_api_key_watches_the_tenant_with_the_wallboard_figures() {
    let mut config = ServerConfig::default();
    config.cti.watch_key_check = Duration::ZERO;
    let app = TestApp::start_with(config).await;
    let service = app.business_service().await;
    let (status, _) = app
        .post("/v2.0/absencereasons", json!({"Name": "Lunch"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    cti_user(&app, "anna", &service, "1001", json!({})).await;
    let mut agent = Cti::connect(&app, "anna", "secret-password").await;
    agent.command("agentLogin", json!({})).await;
    agent.until("AgentStateEvent", Some("AgentReady")).await;
    agent.command("getPauseReasons", json!({})).await;
    assert_eq!(
        agent.until("PauseReasons", None).await,
        json!([{"name": "Lunch"}])
    );

    // A key whose roles do not read users gets no token; one that does, a watching session.
    let (_, tasks_key) = watcher_key(&app, &[Role::TasksReadonly]);
    let (status, _) = app
        .call(Method::POST, "/v2.0/cti/watchtoken", Some(&tasks_key), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (key_id, key) = watcher_key(&app, &[Role::UserReadonly]);
    let (status, answer) = app
        .call(Method::POST, "/v2.0/cti/watchtoken", Some(&key), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let token = answer["token"].as_str().unwrap().to_string();
    let checked = app
        .client
        .get(format!("{}/xuc/api/2.0/auth/check", app.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(checked.status(), StatusCode::OK);
    let checked: Value = checked.json().await.unwrap();
    assert_eq!(checked["login"], format!("api key {key_id}"));
    let mut board = Cti::connect_token(&app, &token).await;
    let profile = board.seen[1]["ctiMessage"].clone();
    assert_eq!(
        profile,
        json!({"profile": "Admin", "rights": ["watchOnly"]})
    );
    // It reads, and commands nothing.
    board
        .command("pauseAgent", json!({"agentid": 1, "reason": "x"}))
        .await;
    let refused = board.until("Error", None).await;
    assert!(
        refused["Error"].as_str().unwrap().contains("only watches"),
        "{refused}"
    );
    board.command("subscribeToAgentEvents", json!({})).await;
    board.command("subscribeToQueueStats", json!({})).await;
    let first_counters = counters(&board.drain().await);
    for name in [
        "BusyAgents",
        "PausedAgents",
        "WrapupAgents",
        "AnsweredLast15Min",
        "AbandonedLast15Min",
    ] {
        assert_eq!(first_counters[name], 0, "{name}");
    }
    assert_eq!(first_counters["AvailableAgents"], 1);
    assert_eq!(first_counters["ServiceLevelLast15Min"], Value::Null);

    // One task answered after 5 s, one abandoned after 20 s: 1 within 15 s of 2 counted, 50 %.
    let (_, first) = app
        .post(
            "/v1.0/tasks",
            json!({"Service": service, "Caller": "Johnny Appleseed"}),
        )
        .await;
    let ringing = board.until("AgentStateEvent", Some("AgentRinging")).await;
    assert_eq!(ringing["task"]["customer"], "Johnny Appleseed");
    assert_eq!(ringing["task"]["taskId"], first);
    assert_eq!(ringing["task"]["queueName"], "Business Customer Care");
    app.advance(5).await;
    agent.command("answer", json!({})).await;
    agent.until("AgentStateEvent", Some("AgentOnCall")).await;
    let (_, second) = app
        .post(
            "/v1.0/tasks",
            json!({"Service": service, "Caller": "Mary Major"}),
        )
        .await;
    let second = second.as_str().unwrap();
    app.advance(20).await;
    let (status, _) = app
        .post(&format!("/v1.0/tasks/{second}/terminate"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let now = counters(&board.drain().await);
    assert_eq!(now["ServiceLevelLast15Min"], 50.0);
    assert_eq!(now["AnsweredLast15Min"], 1);
    assert_eq!(now["AbandonedLast15Min"], 1);
    assert_eq!(now["BusyAgents"], 1);
    assert_eq!(now["TalkingAgents"], 1);
    assert_eq!(now["AvailableAgents"], 0);

    // The hour, minute by minute.
    board.command("getQueueHistory", json!({})).await;
    let history = board.until("QueueHistory", None).await;
    let queue = history["queueId"].clone();
    let minutes = history["minutes"].as_array().unwrap();
    assert_eq!(minutes.len(), 60);
    let sum = |field: &str| -> u64 { minutes.iter().map(|m| m[field].as_u64().unwrap()).sum() };
    assert_eq!(sum("answered"), 1);
    assert_eq!(sum("answeredWithin15"), 1);
    assert_eq!(sum("abandonedAfter15"), 1);
    assert_eq!(
        minutes
            .iter()
            .map(|m| m["unanswered"].as_u64().unwrap())
            .max(),
        Some(1)
    );
    let last = minutes.last().unwrap();
    assert_eq!(last["serviceLevel"], 50.0);
    assert_eq!(last["unanswered"], 1, "the highest of its minute");
    assert_eq!(minutes[0]["serviceLevel"], Value::Null);

    // Sixteen minutes later the window is empty, and the hour still shows what happened.
    app.advance(16 * 60).await;
    let later = counters(&board.drain().await);
    assert_eq!(later["ServiceLevelLast15Min"], Value::Null);
    assert_eq!(later["AnsweredLast15Min"], 0);
    board
        .command("getQueueHistory", json!({"queueId": queue, "minutes": 30}))
        .await;
    let history = board.until("QueueHistory", None).await;
    let minutes = history["minutes"].as_array().unwrap();
    assert_eq!(minutes.len(), 30);
    assert_eq!(minutes.last().unwrap()["serviceLevel"], Value::Null);
    assert_eq!(minutes.last().unwrap()["unanswered"], 0);
    assert!(minutes.iter().any(|m| m["serviceLevel"] == 50.0));

    // Revoking the key ends the session.
    assert!(app
        .state
        .store()
        .revoke_key(&key_id, app.state.now())
        .unwrap());
    let reason = loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), board.socket.next())
            .await
            .expect("the session ends within the key check")
            .expect("a close frame before the end")
            .expect("a frame");
        if let Message::Close(Some(frame)) = frame {
            break frame.reason.to_string();
        }
    };
    assert_eq!(reason, "the API key was revoked or expired");
}
