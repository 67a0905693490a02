//! The xuc CTI websocket over real sockets: sign-in, the agent day, the login cases of seed 004, supervisor
//! filtering, bad input, the session lease and a slow consumer.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{json, Value};
use switchboard_server::ServerConfig;
use tokio_tungstenite::tungstenite::Message;

use crate::TestApp;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A CTI client: the messages it received, in order.
struct Cti {
    socket: Socket,
    seen: Vec<Value>,
}

impl Cti {
    async fn connect(app: &TestApp, login: &str, password: &str) -> Cti {
        let token = token(app, login, password).await;
        let url = format!(
            "{}/xuc/api/2.0/cti?token={token}",
            app.base.replace("http://", "ws://")
        );
        let (socket, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("connect");
        let mut cti = Cti {
            socket,
            seen: Vec::new(),
        };
        let logged_on = cti.next().await;
        assert_eq!(logged_on["msgType"], "LoggedOn", "{logged_on}");
        let profile = cti.next().await;
        assert_eq!(profile["msgType"], "RightProfile", "{profile}");
        cti
    }

    async fn send(&mut self, message: Value) {
        self.socket
            .send(Message::Text(message.to_string().into()))
            .await
            .expect("send");
    }

    async fn command(&mut self, command: &str, args: Value) {
        let mut message = json!({"claz": "web", "command": command});
        if let Value::Object(args) = args {
            for (key, value) in args {
                message[key] = value;
            }
        }
        self.send(message).await;
    }

    /// The next message, failing after five seconds.
    async fn next(&mut self) -> Value {
        loop {
            let message = tokio::time::timeout(Duration::from_secs(5), self.socket.next())
                .await
                .expect("a message within 5 s")
                .expect("the socket is open")
                .expect("a frame");
            if let Message::Text(text) = message {
                let value: Value = serde_json::from_str(&text).expect("JSON");
                self.seen.push(value.clone());
                return value;
            }
        }
    }

    /// Reads until a message of this type (and, if given, with `name`) arrives.
    async fn until(&mut self, msg_type: &str, name: Option<&str>) -> Value {
        loop {
            let message = self.next().await;
            if message["msgType"] == msg_type
                && name.is_none_or(|name| message["ctiMessage"]["name"] == name)
            {
                return message["ctiMessage"].clone();
            }
        }
    }

    /// Everything received until the answer to a ping: events durable before the ping come before its answer.
    async fn drain(&mut self) -> Vec<Value> {
        self.send(json!({"claz": "ping"})).await;
        let mut drained = Vec::new();
        loop {
            let message = self.next().await;
            if message["msgType"] == "Pong" {
                return drained;
            }
            drained.push(message);
        }
    }
}

async fn token(app: &TestApp, login: &str, password: &str) -> String {
    let (status, body) = app
        .call(
            reqwest::Method::POST,
            "/xuc/api/2.0/auth/login",
            None,
            Some(json!({"login": login, "password": password})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["token"].as_str().expect("token").to_string()
}

/// A user with CTI credentials; returns its id.
async fn cti_user(app: &TestApp, name: &str, service: &str, line: &str, profile: Value) -> String {
    let id = app.online_user(name, name, "Agent", service).await;
    let mut body = json!({"Login": name, "Password": "secret-password", "PhoneLine": line});
    if let Value::Object(extra) = profile {
        for (key, value) in extra {
            body[key] = value;
        }
    }
    let (status, answer) = app.post(&format!("/v2.0/users/{id}/cti"), body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    // CTI agents sign in through the socket.
    let (status, _) = app
        .post(
            &format!("/v1.0/users/{id}/setpresence"),
            json!({"Presence": "Offline"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    id
}

async fn agent_number(app: &TestApp, id: &str) -> i64 {
    let (_, user) = app.get(&format!("/v1.0/users/{id}")).await;
    let number = app
        .state
        .read(
            &app.state.tenant("default").await.expect("tenant"),
            |engine| {
                engine
                    .agent_info(switchboard_core::AgentId(
                        uuid::Uuid::parse_str(id).expect("uuid"),
                    ))
                    .map(|a| a.number)
            },
        )
        .expect("agent");
    assert!(user.is_object());
    i64::from(number)
}

#[tokio::test]
async fn sign_in_and_tokens() {
    let app = TestApp::start().await;
    let service = app.business_service().await;
    let id = cti_user(&app, "anna", &service, "1001", json!({})).await;
    let (status, body) = app
        .call(
            reqwest::Method::POST,
            "/xuc/api/2.0/auth/login",
            None,
            Some(json!({"login": "anna", "password": "wrong-password"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "InvalidCredentials");
    let token = token(&app, "ANNA", "secret-password").await;
    let check = app
        .client
        .get(format!("{}/xuc/api/2.0/auth/check", app.base))
        .bearer_auth(&token)
        .send()
        .await
        .expect("check");
    assert_eq!(check.status(), StatusCode::OK);
    let (_, shown) = app.get(&format!("/v2.0/users/{id}/cti")).await;
    assert_eq!(shown["Login"], "anna");
    assert_eq!(shown["Profile"], "Agent");
    assert_eq!(shown["PhoneLine"], "1001");
    assert!(shown.get("Password").is_none() && !shown.to_string().contains("argon2"));

    // A bad token: LoggedOnError, then the socket closes.
    let url = format!(
        "{}/xuc/api/2.0/cti?token=nope",
        app.base.replace("http://", "ws://")
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connect");
    let first = socket.next().await.expect("message").expect("frame");
    assert!(
        first.to_text().unwrap().contains("LoggedOnError"),
        "{first}"
    );

    // New credentials revoke the old tokens at once; removing them too.
    let (status, _) = app
        .post(
            &format!("/v2.0/users/{id}/cti"),
            json!({"Login": "anna", "Password": "another-password"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let check = app
        .client
        .get(format!("{}/xuc/api/2.0/auth/check", app.base))
        .bearer_auth(&token)
        .send()
        .await
        .expect("check");
    assert_eq!(check.status(), StatusCode::UNAUTHORIZED);
    let (status, body) = app
        .post(
            &format!("/v2.0/users/{id}/cti"),
            json!({"Login": "anna", "Password": "short"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let other = app.online_user("bob", "Bob", "B", &service).await;
    let (status, _) = app
        .post(
            &format!("/v2.0/users/{other}/cti"),
            json!({"Login": "Anna", "Password": "secret-password"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "a login is unique");
    let (status, _) = app
        .call(
            reqwest::Method::DELETE,
            &format!("/v2.0/users/{id}/cti"),
            Some(crate::ADMIN_KEY),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.get(&format!("/v2.0/users/{id}/cti")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Login, ready, offered (Sheet with the task's context), answer, end, wrap-up, ready, pause with a reason,
/// unpause, logout.
#[tokio::test]
async fn the_agent_day() {
    let app = TestApp::start().await;
    let service = app.business_service().await;
    let id = cti_user(&app, "anna", &service, "1001", json!({})).await;
    let mut anna = Cti::connect(&app, "anna", "secret-password").await;
    let state = anna.until("AgentStateEvent", None).await;
    assert_eq!(state["name"], "AgentLoggedOut");

    anna.command("agentLogin", json!({"agentphonenumber": "1001"}))
        .await;
    let ready = anna.until("AgentStateEvent", Some("AgentReady")).await;
    assert_eq!(ready["phoneNb"], "1001");
    assert_eq!(ready["agentId"], agent_number(&app, &id).await);

    let (status, task) = app
        .post(
            "/v1.0/tasks",
            json!({"Service": service, "Caller": "+41790000001", "Type": "IncomingCall",
                   "ContextParameters": [{"Name": "ContextUrl", "Value": "https://crm.example/42"},
                                         {"Name": "Order", "Value": "42"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{task}");
    let task = task.as_str().unwrap().to_string();
    let sheet = anna.until("Sheet", None).await;
    let info = &sheet["payload"]["profile"]["user"]["sheetInfo"];
    let field = |name: &str| {
        info.as_array()
            .unwrap()
            .iter()
            .find(|f| f["name"] == name)
            .map(|f| f["value"].clone())
            .unwrap_or(Value::Null)
    };
    assert_eq!(field("taskId"), task.as_str());
    assert_eq!(field("customer"), "+41790000001");
    assert_eq!(field("popupUrl"), "https://crm.example/42");
    assert_eq!(field("Order"), "42");
    anna.until("AgentStateEvent", Some("AgentRinging")).await;

    anna.command("answer", json!({})).await;
    let on_call = anna.until("AgentStateEvent", Some("AgentOnCall")).await;
    assert_eq!(on_call["direction"], "Incoming");
    let (_, shown) = app.get(&format!("/v1.0/tasks/{task}")).await;
    assert_eq!(shown["State"], "Established");

    anna.command("hangup", json!({})).await;
    let after = anna.until("AgentStateEvent", None).await;
    assert!(
        after["name"] == "AgentOnWrapup" || after["name"] == "AgentReady",
        "{after}"
    );
    if after["name"] == "AgentOnWrapup" {
        app.advance(60).await;
        anna.until("AgentStateEvent", Some("AgentReady")).await;
    }

    anna.command("pauseAgent", json!({"reason": "lunch"})).await;
    let paused = anna.until("AgentStateEvent", Some("AgentOnPause")).await;
    assert_eq!(paused["cause"], "lunch");
    anna.command("unpauseAgent", json!({})).await;
    anna.until("AgentStateEvent", Some("AgentReady")).await;
    anna.command("agentLogout", json!({})).await;
    anna.until("AgentStateEvent", Some("AgentLoggedOut")).await;
}

/// Seed 004's five login cases.
#[tokio::test]
async fn login_cases() {
    let app = TestApp::start().await;
    let service = app.business_service().await;
    cti_user(&app, "anna", &service, "1001", json!({})).await;
    let ben = cti_user(&app, "ben", &service, "1002", json!({})).await;
    let mut anna = Cti::connect(&app, "anna", "secret-password").await;
    let mut bens = Cti::connect(&app, "ben", "secret-password").await;

    anna.command("agentLogin", json!({"agentphonenumber": "9999"}))
        .await;
    let error = anna.until("AgentError", None).await;
    assert_eq!(error, json!({"Error": "PhoneNumberUnknown"}));

    anna.command("agentLogin", json!({"agentphonenumber": "1001"}))
        .await;
    anna.until("AgentStateEvent", Some("AgentReady")).await;
    anna.command("agentLogin", json!({"agentphonenumber": "1001"}))
        .await;
    let stays: Vec<Value> = anna.drain().await;
    assert!(
        stays.iter().all(|m| m["msgType"] != "AgentError"),
        "logging in again on the same line is fine: {stays:?}"
    );

    anna.command("agentLogin", json!({"agentphonenumber": "1002"}))
        .await;
    let error = anna.until("AgentError", None).await;
    assert_eq!(
        error,
        json!({"Error": "LoggedInOnAnotherPhone", "phoneNb": "1001", "RequestedNb": "1002"})
    );

    // Ben takes over Anna's line: Anna is logged out.
    bens.command("agentLogin", json!({"agentphonenumber": "1001"}))
        .await;
    let ben_ready = bens.until("AgentStateEvent", Some("AgentReady")).await;
    assert_eq!(ben_ready["phoneNb"], "1001");
    anna.until("AgentStateEvent", Some("AgentLoggedOut")).await;
    let (_, state) = app.get(&format!("/v2.0/usersStates/{ben}")).await;
    assert_eq!(state["AgentState"], "AgentReady");
}

/// A supervisor sees the agents of its groups and the queues of its list, and nothing else; it cannot command
/// agents outside them. An agent commands only itself.
#[tokio::test]
async fn supervisors_see_only_their_queues_and_groups() {
    let app = TestApp::start().await;
    let watched = app.business_service().await;
    let (_, other) = app
        .post(
            "/v2.0/services",
            json!({"Name": "Other", "SipUri": "sip:other@dev.local"}),
        )
        .await;
    let other = other["Id"].as_str().unwrap().to_string();
    let in_group = cti_user(&app, "anna", &watched, "1001", json!({"AgentGroup": 1})).await;
    let outside = cti_user(&app, "otto", &other, "1002", json!({"AgentGroup": 2})).await;
    cti_user(
        &app,
        "sue",
        &watched,
        "1003",
        json!({"Profile": "Supervisor", "Queues": [watched], "Groups": [1]}),
    )
    .await;
    let mut sue = Cti::connect(&app, "sue", "secret-password").await;
    assert_eq!(sue.seen[1]["ctiMessage"]["profile"], "Supervisor");
    sue.command("subscribeToAgentEvents", json!({})).await;
    sue.command("subscribeToQueueStats", json!({})).await;
    sue.command("getList", json!({"objectType": "queue"})).await;
    sue.command("getList", json!({"objectType": "agent"})).await;
    let anna_number = agent_number(&app, &in_group).await;
    let otto_number = agent_number(&app, &outside).await;

    let mut anna = Cti::connect(&app, "anna", "secret-password").await;
    let mut otto = Cti::connect(&app, "otto", "secret-password").await;
    anna.command("agentLogin", json!({})).await;
    otto.command("agentLogin", json!({})).await;
    anna.until("AgentStateEvent", Some("AgentReady")).await;
    otto.until("AgentStateEvent", Some("AgentReady")).await;
    otto.command("pauseAgent", json!({"reason": "coffee"}))
        .await;
    otto.until("AgentStateEvent", Some("AgentOnPause")).await;
    // An agent cannot command another; a supervisor cannot command outside its groups.
    anna.command("pauseAgent", json!({"agentid": otto_number}))
        .await;
    let refused = anna.until("Error", None).await;
    assert!(
        refused["Error"].as_str().unwrap().contains("not yours"),
        "{refused}"
    );
    sue.command("pauseAgent", json!({"agentid": otto_number}))
        .await;
    sue.command(
        "pauseAgent",
        json!({"agentid": anna_number, "reason": "meeting"}),
    )
    .await;
    anna.until("AgentStateEvent", Some("AgentOnPause")).await;
    for service in [&watched, &other] {
        app.post(
            "/v1.0/tasks",
            json!({"Service": service, "Caller": "+41", "Type": "IncomingCall"}),
        )
        .await;
    }

    let received = sue.drain().await;
    let mut saw_anna = false;
    for message in &received {
        let body = &message["ctiMessage"];
        match message["msgType"].as_str().unwrap() {
            "AgentStateEvent" => {
                assert_ne!(body["agentId"], otto_number, "{message}");
                saw_anna |= body["agentId"] == anna_number;
            }
            "AgentList" => {
                assert!(body
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|a| a["id"] != otto_number));
            }
            "QueueList" => assert_eq!(body.as_array().unwrap().len(), 1, "{body}"),
            "Error" => assert!(
                body["Error"].as_str().unwrap().contains("not yours"),
                "{message}"
            ),
            _ => {}
        }
    }
    assert!(saw_anna, "{received:?}");
    let queue_ids: std::collections::BTreeSet<String> = received
        .iter()
        .filter(|m| m["msgType"] == "QueueStatistics" || m["msgType"] == "QueueMember")
        .map(|m| m["ctiMessage"]["queueId"].to_string())
        .collect();
    assert_eq!(queue_ids.len(), 1, "only the watched queue: {queue_ids:?}");
}

/// Unknown commands, missing or mistyped arguments: an Error naming the problem, and the socket stays open.
#[tokio::test]
async fn bad_input_is_answered_and_changes_nothing() {
    let app = TestApp::start().await;
    let service = app.business_service().await;
    cti_user(&app, "anna", &service, "1001", json!({})).await;
    let mut anna = Cti::connect(&app, "anna", "secret-password").await;
    anna.send(json!("not an object")).await;
    assert!(anna.until("Error", None).await["Error"]
        .as_str()
        .unwrap()
        .contains("JSON object"));
    anna.command("fly", json!({})).await;
    assert!(anna.until("Error", None).await["Error"]
        .as_str()
        .unwrap()
        .contains("unknown command 'fly'"));
    anna.command("setAgentQueue", json!({"queueId": "two"}))
        .await;
    assert!(anna.until("Error", None).await["Error"]
        .as_str()
        .unwrap()
        .contains("queueId must be an integer"));
    anna.command("getList", json!({})).await;
    assert!(anna.until("Error", None).await["Error"]
        .as_str()
        .unwrap()
        .contains("objectType is missing"));
    anna.command("pauseAgent", json!({"agentid": 4242})).await;
    assert!(anna.until("Error", None).await["Error"]
        .as_str()
        .unwrap()
        .contains("does not exist"));
    assert!(
        anna.drain().await.is_empty(),
        "still open, nothing else sent"
    );
}

/// The session is a lease: when an agent's socket goes away, the agent stays logged in for the grace period,
/// then is logged out and the offer it held goes back to the queue, keeping its place.
#[tokio::test]
async fn a_lost_session_logs_the_agent_out_and_returns_its_offer() {
    let mut config = ServerConfig::default();
    config.cti.logout_grace = Duration::from_millis(300);
    let app = TestApp::start_with(config).await;
    let service = app.business_service().await;
    let id = cti_user(&app, "anna", &service, "1001", json!({})).await;
    cti_user(&app, "root", &service, "1009", json!({"Profile": "Admin"})).await;
    let mut root = Cti::connect(&app, "root", "secret-password").await;
    root.command("subscribeToAgentEvents", json!({})).await;
    root.drain().await;
    let mut anna = Cti::connect(&app, "anna", "secret-password").await;
    anna.command("agentLogin", json!({})).await;
    anna.until("AgentStateEvent", Some("AgentReady")).await;
    let (_, task) = app
        .post(
            "/v1.0/tasks",
            json!({"Service": service, "Caller": "+41", "Type": "IncomingCall"}),
        )
        .await;
    let task = task.as_str().unwrap().to_string();
    anna.until("Sheet", None).await;
    drop(anna);
    let anna_number = agent_number(&app, &id).await;
    loop {
        let state = root.until("AgentStateEvent", Some("AgentLoggedOut")).await;
        if state["agentId"] == anna_number {
            break;
        }
    }
    let (_, shown) = app.get(&format!("/v1.0/tasks/{task}")).await;
    assert_eq!(shown["State"], "InQueue", "{shown}");
}

/// A client that does not read is cut off with a clear reason; the others keep receiving everything.
#[tokio::test]
async fn a_slow_consumer_is_cut_off_and_others_carry_on() {
    let mut config = ServerConfig::default();
    config.cti.socket_buffer = 8;
    let app = TestApp::start_with(config).await;
    let service = app.business_service().await;
    let id = cti_user(&app, "anna", &service, "1001", json!({"Profile": "Admin"})).await;
    cti_user(&app, "root", &service, "1009", json!({"Profile": "Admin"})).await;

    // The slow client reads nothing after its greeting, through a tiny receive buffer.
    let token = token(&app, "root", "secret-password").await;
    let address = app.base.trim_start_matches("http://").to_string();
    let tcp = tokio::net::TcpSocket::new_v4().expect("socket");
    tcp.set_recv_buffer_size(2048).expect("buffer");
    let stream = tcp
        .connect(address.parse().expect("address"))
        .await
        .expect("connect");
    let (mut slow, _) = tokio_tungstenite::client_async(
        format!("ws://{address}/xuc/api/2.0/cti?token={token}"),
        stream,
    )
    .await
    .expect("handshake");
    // It asks for much more than it reads.
    for _ in 0..200 {
        slow.send(Message::Text(
            json!({"claz": "web", "command": "getAgentDirectory"})
                .to_string()
                .into(),
        ))
        .await
        .expect("send");
    }

    let mut fast = Cti::connect(&app, "anna", "secret-password").await;
    fast.command("subscribeToAgentEvents", json!({})).await;
    fast.drain().await;
    let mut sent = 0;
    for round in 0..50 {
        let presence = if round % 2 == 0 { "Away" } else { "Online" };
        let (status, _) = app
            .post(
                &format!("/v1.0/users/{id}/setpresence"),
                json!({"Presence": presence}),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        sent += 1;
    }
    let received = fast.drain().await;
    let states = received
        .iter()
        .filter(|m| m["msgType"] == "AgentStateEvent")
        .count();
    assert!(states >= sent, "{states} state events for {sent} changes");

    // The slow one finds, after what was buffered, a close frame saying why.
    let mut reason = None;
    while let Ok(Some(frame)) = tokio::time::timeout(Duration::from_secs(5), slow.next()).await {
        match frame {
            Ok(Message::Close(Some(close))) => {
                reason = Some(close.reason.to_string());
                break;
            }
            Ok(_) => continue,
            Err(_) => break,
        }
    }
    assert_eq!(
        reason.as_deref(),
        Some("too slow: the client did not read its messages")
    );
}
