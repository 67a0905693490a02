//! The xuc CTI websocket over real sockets: sign-in, the agent day, the login cases of seed 004, supervisor
//! filtering, bad input, the session lease and a slow consumer.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{json, Value};
use switchboard_server::ServerConfig;
use switchboard_store::Store;
use tokio_tungstenite::tungstenite::Message;

use crate::TestApp;

pub(crate) type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A CTI client: the messages it received, in order.
pub(crate) struct Cti {
    pub(crate) socket: Socket,
    pub(crate) seen: Vec<Value>,
}

impl Cti {
    pub(crate) async fn connect(app: &TestApp, login: &str, password: &str) -> Cti {
        let token = token(app, login, password).await;
        Cti::connect_token(app, &token).await
    }

    /// A session opened with a token, read up to its `RightProfile`.
    pub(crate) async fn connect_token(app: &TestApp, token: &str) -> Cti {
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

    /// A socket opened with a token the server refuses: its first message (a `LoggedOnError`) and the socket.
    pub(crate) async fn refused(app: &TestApp, token: &str) -> (Value, Socket) {
        let url = format!(
            "{}/xuc/api/2.0/cti?token={token}",
            app.base.replace("http://", "ws://")
        );
        let (mut socket, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("connect");
        let first = socket.next().await.expect("message").expect("frame");
        let refused: Value = serde_json::from_str(first.to_text().unwrap()).expect("JSON");
        assert_eq!(refused["msgType"], "LoggedOnError", "{refused}");
        (refused, socket)
    }

    /// Reads until the server closes the socket, within `seconds`; returns the close frame's reason.
    pub(crate) async fn close_reason(&mut self, seconds: u64) -> String {
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(seconds), self.socket.next())
                .await
                .expect("closed in time");
            match frame {
                Some(Ok(Message::Close(Some(close)))) => return close.reason.to_string(),
                Some(Ok(_)) => continue,
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
    }

    pub(crate) async fn send(&mut self, message: Value) {
        self.socket
            .send(Message::Text(message.to_string().into()))
            .await
            .expect("send");
    }

    pub(crate) async fn command(&mut self, command: &str, args: Value) {
        let mut message = json!({"claz": "web", "command": command});
        if let Value::Object(args) = args {
            for (key, value) in args {
                message[key] = value;
            }
        }
        self.send(message).await;
    }

    /// The next message, failing after five seconds.
    pub(crate) async fn next(&mut self) -> Value {
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
    pub(crate) async fn until(&mut self, msg_type: &str, name: Option<&str>) -> Value {
        loop {
            let message = self.next().await;
            if message["msgType"] == msg_type
                && name.is_none_or(|name| message["ctiMessage"]["name"] == name)
            {
                return message["ctiMessage"].clone();
            }
        }
    }

    /// The bodies (`ctiMessage`) of the messages of this type received so far.
    pub(crate) fn received(&self, msg_type: &str) -> Vec<Value> {
        self.seen
            .iter()
            .filter(|m| m["msgType"] == msg_type)
            .map(|m| m["ctiMessage"].clone())
            .collect()
    }

    /// Everything received until the answer to a ping: events durable before the ping come before its answer.
    pub(crate) async fn drain(&mut self) -> Vec<Value> {
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

pub(crate) async fn token(app: &TestApp, login: &str, password: &str) -> String {
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
pub(crate) async fn cti_user(
    app: &TestApp,
    name: &str,
    service: &str,
    line: &str,
    profile: Value,
) -> String {
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
    Cti::refused(&app, "nope").await;

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

/// A desktop that reconnects within the grace period while an offer rings gets the offer's `Sheet` again (then
/// its AgentRinging state) and can answer it; an offer it already answered is not sent again.
#[tokio::test]
async fn a_desktop_that_reconnects_while_ringing_gets_the_offer_again() {
    let app = TestApp::start().await;
    let service = app.business_service().await;
    cti_user(&app, "anna", &service, "1001", json!({})).await;
    let mut anna = Cti::connect(&app, "anna", "secret-password").await;
    anna.command("agentLogin", json!({})).await;
    anna.until("AgentStateEvent", Some("AgentReady")).await;
    let (_, task) = app
        .post(
            "/v1.0/tasks",
            json!({"Service": service, "Caller": "+41", "Type": "IncomingCall",
                   "ContextParameters": [{"Name": "Order", "Value": "42"}]}),
        )
        .await;
    let task = task.as_str().unwrap().to_string();
    let first = anna.until("Sheet", None).await;
    drop(anna);

    let mut anna = Cti::connect(&app, "anna", "secret-password").await;
    let greeting = anna.until("AgentStateEvent", None).await;
    assert_eq!(greeting["name"], "AgentRinging", "{greeting}");
    // Compare what the desktop shows (the RONA countdown differs between the two).
    let shown = |sheet: &Value| {
        let mut info = sheet["payload"]["profile"]["user"]["sheetInfo"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["name"] == "taskId" || f["name"] == "Order" || f["name"] == "customer")
            .cloned()
            .collect::<Vec<_>>();
        info.sort_by_key(|f| f["name"].as_str().unwrap_or_default().to_string());
        info
    };
    let again = anna.received("Sheet");
    assert_eq!(again.len(), 1, "one Sheet before the state: {again:?}");
    assert_eq!(shown(&again[0]).len(), 3, "{again:?}");
    assert_eq!(shown(&again[0]), shown(&first));
    assert!(shown(&again[0]).iter().any(|f| f["value"] == task.as_str()));
    anna.command("answer", json!({})).await;
    anna.until("AgentStateEvent", Some("AgentOnCall")).await;
    let (_, state) = app.get(&format!("/v1.0/tasks/{task}")).await;
    assert_eq!(state["State"], "Established", "{state}");

    // On a call: reconnecting shows the call state and no offer.
    drop(anna);
    let mut anna = Cti::connect(&app, "anna", "secret-password").await;
    let greeting = anna.until("AgentStateEvent", None).await;
    assert_eq!(greeting["name"], "AgentOnCall", "{greeting}");
    assert!(anna.received("Sheet").is_empty());
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
    supervisor_saw_only_its_own(&received, anna_number, otto_number);

    // The same after the supervisor reconnects (a new token, a new socket, subscriptions made again) while the
    // agents carry on.
    drop(sue);
    let mut sue = Cti::connect(&app, "sue", "secret-password").await;
    sue.command("subscribeToAgentEvents", json!({})).await;
    sue.command("subscribeToQueueStats", json!({})).await;
    sue.command("getList", json!({"objectType": "queue"})).await;
    sue.command("getList", json!({"objectType": "agent"})).await;
    // Each is offered the call that waited for it.
    otto.command("unpauseAgent", json!({})).await;
    otto.until("AgentStateEvent", Some("AgentRinging")).await;
    sue.command("unpauseAgent", json!({"agentid": anna_number}))
        .await;
    anna.until("AgentStateEvent", Some("AgentRinging")).await;
    for service in [&watched, &other] {
        app.post(
            "/v1.0/tasks",
            json!({"Service": service, "Caller": "+42", "Type": "IncomingCall"}),
        )
        .await;
    }
    let received = sue.drain().await;
    supervisor_saw_only_its_own(&received, anna_number, otto_number);
}

/// A supervisor's messages name its agent (anna) and its one queue, never the other agent (otto) or queue.
fn supervisor_saw_only_its_own(received: &[Value], anna_number: i64, otto_number: i64) {
    let mut saw_anna = false;
    for message in received {
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

/// A property over a real socket: whatever bad command an agent sends (an unknown command, text that is not a
/// JSON object, or a known command with one argument of a wrong type or form, generated from the command list),
/// the answer is one `Error` naming the problem, the socket stays open, and nothing changes in the engine.
#[tokio::test]
async fn random_bad_commands_are_answered_and_change_nothing() {
    use proptest::prelude::*;
    use proptest::strategy::ValueTree;
    use switchboard_server::xuc::request::{ArgKind, COMMANDS, UNSUPPORTED};

    fn valid(kind: ArgKind) -> Value {
        match kind {
            ArgKind::Integer { low, high } => json!(0.clamp(low, high)),
            ArgKind::Text | ArgKind::NonBlankText => json!("1001"),
            ArgKind::Uuid => json!("67e55044-10b1-426f-9247-bb680e5fe0c8"),
            ArgKind::OneOf(words) => json!(words[0]),
            ArgKind::Date => json!("2026-11-24"),
            ArgKind::Object => json!({}),
        }
    }
    fn wrong(kind: ArgKind) -> Vec<Value> {
        let mut values = vec![json!(true), json!([1]), json!({"a": 1})];
        match kind {
            ArgKind::Integer { low, high } => {
                values.extend([json!("ten"), json!(1.5), json!(u64::MAX)]);
                if low > i64::MIN {
                    values.push(json!(low - 1));
                }
                if high < i64::MAX {
                    values.push(json!(high + 1));
                }
            }
            ArgKind::Text => {}
            ArgKind::NonBlankText => values.push(json!("  ")),
            ArgKind::Uuid => values.push(json!("not-a-uuid")),
            ArgKind::OneOf(_) => values.push(json!("Nope")),
            ArgKind::Date => values.extend([json!("2026-13-01"), json!("100000-01-10")]),
            ArgKind::Object => {
                values = vec![json!(1), json!("x"), json!([])];
            }
        }
        values
    }
    let mut wrong_arguments = Vec::new();
    for spec in COMMANDS {
        for argument in spec.arguments {
            for value in wrong(argument.kind) {
                let mut message = json!({"claz": "web", "command": spec.name});
                for required in spec.arguments.iter().filter(|a| a.required) {
                    message[required.key] = valid(required.kind);
                }
                message[argument.key] = value;
                wrong_arguments.push((message.to_string(), argument.key.to_string()));
            }
        }
    }
    let known: Vec<&str> = COMMANDS.iter().map(|c| c.name).collect();
    let unknown = "[a-zA-Z]{1,16}"
        .prop_filter("unknown", move |name| !known.contains(&name.as_str()))
        .prop_map(|name| {
            let message = json!({"claz": "web", "command": name, "agentid": 1});
            (message.to_string(), "unknown command".to_string())
        });
    let unsupported = proptest::sample::select(UNSUPPORTED).prop_map(|name| {
        (
            json!({"command": name}).to_string(),
            "switchboard".to_string(),
        )
    });
    let not_an_object = prop_oneof![
        "[^{]{0,40}",
        Just("{\"claz\": \"web\", \"command\": ".to_string())
    ]
    .prop_map(|text| (text, "JSON object".to_string()));
    let bad = prop_oneof![
        6 => proptest::sample::select(wrong_arguments),
        2 => unknown,
        1 => unsupported,
        1 => not_an_object,
    ];

    let app = TestApp::start().await;
    let service = app.business_service().await;
    cti_user(&app, "anna", &service, "1001", json!({})).await;
    let mut anna = Cti::connect(&app, "anna", "secret-password").await;
    anna.until("AgentStateEvent", None).await;
    let tenant = app.state.tenant("default").await.expect("tenant");
    let before = app.state.read(&tenant, |engine| engine.last_event_seq());
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    for _ in 0..256 {
        let (text, named) = bad.new_tree(&mut runner).expect("a case").current();
        anna.socket
            .send(Message::Text(text.clone().into()))
            .await
            .expect("the socket is open");
        let answer = anna.next().await;
        assert_eq!(answer["msgType"], "Error", "{text} -> {answer}");
        let problem = answer["ctiMessage"]["Error"].as_str().unwrap_or_default();
        assert!(problem.contains(&named), "{text} -> {problem}");
    }
    assert!(
        anna.drain().await.is_empty(),
        "one answer each, nothing else"
    );
    let after = app.state.read(&tenant, |engine| engine.last_event_seq());
    assert_eq!(before, after, "bad commands changed nothing");
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
    // The slow client reads only after the rest of the test, which on a loaded machine can outlast the default.
    config.cti.close_grace = Duration::from_secs(120);
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

/// Callback lists end to end: callbacks created over REST appear in the agent's lists; taking one keeps routing
/// away from it; releasing it lets routing offer it; starting it puts the agent on the call with a ticket;
/// NoAnswer counts a retry and reschedules it (and closes it once the retries are used up); Callback with a date
/// and a preferred period reschedules it; the REST API sees every change.
#[tokio::test]
async fn callbacks_end_to_end() {
    let app = TestApp::start().await;
    let service = app.business_service().await;
    let anna_id = cti_user(&app, "anna", &service, "1001", json!({})).await;
    cti_user(&app, "ben", &service, "1002", json!({})).await;
    let anna_number = agent_number(&app, &anna_id).await;
    let (status, afternoon) = app
        .post(
            "/v2.0/callbackperiods",
            json!({"Name": "Afternoon", "PeriodStart": "14:00", "PeriodEnd": "17:00"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{afternoon}");
    let (status, body) = app
        .post(
            "/v2.0/callbackperiods",
            json!({"Name": "Night", "PeriodStart": "23:00", "PeriodEnd": "01:00"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body) = app.get("/v2.0/callbackperiods").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body[0]["Name"], "Afternoon", "{body}");

    // anna works callbacks while paused, so routing offers her nothing by itself.
    let mut anna = Cti::connect(&app, "anna", "secret-password").await;
    anna.command("agentLogin", json!({"agentphonenumber": "1001"}))
        .await;
    anna.until("AgentStateEvent", Some("AgentReady")).await;
    anna.command("pauseAgent", json!({"reason": "callbacks"}))
        .await;
    anna.until("AgentStateEvent", Some("AgentOnPause")).await;

    let (status, first) = app
        .post(
            "/v1.0/callbacks",
            json!({"Target": "+41790000001", "ServiceId": service, "SecondsBetweenRetries": 300,
                   "MaxRetries": 1, "Priority": "Normal", "Description": "invoice question",
                   "ContextParameters": [{"Name": "FirstName", "Value": "Alice"},
                                         {"Name": "LastName", "Value": "O'Neill"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let first = first.as_str().unwrap().to_string();

    anna.command("getCallbackLists", json!({})).await;
    let lists = anna.until("CallbackLists", None).await;
    let list = lists
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["uuid"] == service.as_str())
        .expect("a list for the service");
    let request = &list["callbacks"][0];
    assert_eq!(request["uuid"], first.as_str());
    assert_eq!(request["listUuid"], service.as_str());
    assert_eq!(request["phoneNumber"], "+41790000001");
    assert_eq!(request["firstName"], "Alice");
    assert_eq!(request["lastName"], "O'Neill");
    assert_eq!(request["description"], "invoice question");
    assert_eq!(request["agentId"], Value::Null);
    assert_eq!(request["dueDate"], "2019-06-27");
    assert_eq!(request["preferredPeriod"]["name"], "Afternoon");

    // A callback created now reaches the open list at once.
    let (_, second) = app
        .post(
            "/v1.0/callbacks",
            json!({"Target": "+41790000002", "ServiceId": service, "SecondsBetweenRetries": 60,
                   "Priority": "Normal"}),
        )
        .await;
    let second = second.as_str().unwrap().to_string();
    let updated = anna.until("CallbackRequestUpdated", None).await;
    assert_eq!(updated["request"]["uuid"], second.as_str());

    // anna takes the first; ben, ready, is offered the second but not the taken one.
    anna.command("takeCallback", json!({"uuid": first})).await;
    let taken = anna.until("CallbackTaken", None).await;
    assert_eq!(taken["uuid"], first.as_str());
    assert_eq!(taken["agentId"], anna_number);
    let mut ben = Cti::connect(&app, "ben", "secret-password").await;
    ben.command("agentLogin", json!({"agentphonenumber": "1002"}))
        .await;
    let sheet = ben.until("Sheet", None).await;
    assert!(sheet.to_string().contains(&second), "{sheet}");
    ben.command("takeCallback", json!({"uuid": first})).await;
    let refused = ben.until("Error", None).await;
    assert!(refused.to_string().contains("claimed"), "{refused}");
    ben.command(
        "updateCallbackTicket",
        json!({"uuid": first, "status": "Answered"}),
    )
    .await;
    let refused = ben.until("Error", None).await;
    assert!(
        refused.to_string().contains("take the callback"),
        "{refused}"
    );
    ben.command("decline", json!({})).await;
    ben.until("AgentStateEvent", Some("AgentReady")).await;

    // Released, the first is routed at once: ben gets it, declines it, and anna takes it again.
    anna.command("releaseCallback", json!({"uuid": first}))
        .await;
    anna.until("CallbackReleased", None).await;
    let sheet = ben.until("Sheet", None).await;
    assert!(sheet.to_string().contains(&first), "{sheet}");
    ben.command("decline", json!({})).await;
    ben.until("AgentStateEvent", Some("AgentReady")).await;
    anna.command("takeCallback", json!({"uuid": first})).await;
    anna.until("CallbackTaken", None).await;

    // Start: anna is on the call with a ticket.
    anna.command(
        "startCallback",
        json!({"uuid": first, "number": "+41790000009"}),
    )
    .await;
    anna.until("AgentStateEvent", Some("AgentOnCall")).await;
    let started = anna.until("CallbackStarted", None).await;
    assert_eq!(started["requestUuid"], first.as_str());
    assert!(started["ticketUuid"]
        .as_str()
        .is_some_and(|t| t.len() == 36));
    let (_, shown) = app.get(&format!("/v1.0/callbacks/{first}")).await;
    assert_eq!(shown["State"], "Processing");

    // No answer: a retry is counted and the callback waits SecondsBetweenRetries.
    anna.command(
        "updateCallbackTicket",
        json!({"uuid": first, "status": "NoAnswer", "comment": "voicemail"}),
    )
    .await;
    let updated = anna.until("CallbackRequestUpdated", None).await;
    assert_eq!(updated["request"]["uuid"], first.as_str());
    let (_, shown) = app.get(&format!("/v1.0/callbacks/{first}")).await;
    assert_eq!(shown["State"], "Pending", "{shown}");
    assert_eq!(shown["RetryCount"], 1);

    // Due again after 300 s: ben (who declined it before) is offered it as a new entry, answers, no answer again:
    // MaxRetries is used up and the request is closed.
    app.advance(300).await;
    let sheet = ben.until("Sheet", None).await;
    assert!(sheet.to_string().contains(&first), "{sheet}");
    ben.command("answer", json!({})).await;
    ben.until("AgentStateEvent", Some("AgentOnCall")).await;
    ben.command(
        "updateCallbackTicket",
        json!({"uuid": first, "status": "NoAnswer"}),
    )
    .await;
    let closed = anna.until("CallbackClotured", None).await;
    assert_eq!(closed["uuid"], first.as_str());
    let (_, shown) = app.get(&format!("/v1.0/callbacks/{first}")).await;
    assert_eq!(shown["State"], "Terminated");
    assert_eq!(shown["RetryCount"], 2);

    // Callback with a date and a period: rescheduled to that day's window.
    anna.command("takeCallback", json!({"uuid": second})).await;
    anna.until("CallbackTaken", None).await;
    anna.command(
        "updateCallbackTicket",
        json!({"uuid": second, "status": "Callback", "dueDate": "2019-06-28",
               "periodUuid": afternoon["Uuid"]}),
    )
    .await;
    let updated = anna.until("CallbackRequestUpdated", None).await;
    assert_eq!(updated["request"]["uuid"], second.as_str());
    assert_eq!(updated["request"]["dueDate"], "2019-06-28");
    assert_eq!(updated["request"]["preferredPeriod"]["name"], "Afternoon");
    let (_, shown) = app.get(&format!("/v1.0/callbacks/{second}")).await;
    assert_eq!(shown["State"], "Pending");

    // Search and periods.
    anna.command(
        "findCallbackRequest",
        json!({"id": 7, "request": {"filters": [
            {"field": "phoneNumber", "operator": "=", "value": "+41790000002"}]}}),
    )
    .await;
    let found = anna.until("FindCallbackResponseWithId", None).await;
    assert_eq!(found["id"], 7);
    assert_eq!(found["response"]["total"], 1);
    assert_eq!(found["response"]["list"][0]["uuid"], second.as_str());
    anna.command("getCallbackPreferredPeriods", json!({})).await;
    let periods = anna.until("PreferredCallbackPeriodList", None).await;
    assert_eq!(periods[0]["name"], "Afternoon");
    assert_eq!(periods[0]["periodStart"], "14:00:00");
    assert_eq!(periods[0]["default"], true);
    anna.command(
        "findCallbackRequest",
        json!({"id": 8, "request": {"filters": [{"field": "secret"}]}}),
    )
    .await;
    let refused = anna.until("Error", None).await;
    assert!(refused.to_string().contains("unknown field"), "{refused}");
}

/// One engine, three views: a Puzzel e-task request rings the agent's CTI socket with its variables, the agent
/// answers over the socket, and the LUCS API and Puzzel's RequestGet both see it connected.
#[tokio::test]
async fn a_puzzel_request_reaches_the_agent_socket() {
    let app = TestApp::start().await;
    let service = app.business_service().await;
    cti_user(&app, "anna", &service, "1001", json!({})).await;
    let mut anna = Cti::connect(&app, "anna", "secret-password").await;
    anna.command("agentLogin", json!({"agentphonenumber": "1001"}))
        .await;
    anna.until("AgentStateEvent", Some("AgentReady")).await;

    let data = json!({"From": "alice@example.com", "To": "sip:smoky.businesss@dev.local",
                      "Subject": "Order 42", "VipScore": 5,
                      "variables": [{"name": "OrderId", "value": "42"}]});
    let reply = app
        .client
        .post(format!("{}/default/requests", app.base))
        .bearer_auth(crate::ADMIN_KEY)
        .json(&json!({"data": data.to_string(), "type": "mail", "version": "1.0"}))
        .send()
        .await
        .expect("request");
    assert_eq!(reply.status(), StatusCode::OK);
    let reply: Value = reply.json().await.expect("JSON");
    let request_id = reply["result"].as_u64().expect("request id");

    let sheet = anna.until("Sheet", None).await;
    let text = sheet.to_string();
    assert!(text.contains("alice@example.com"), "{sheet}");
    assert!(text.contains("OrderId") && text.contains("42"), "{sheet}");
    anna.command("answer", json!({})).await;
    anna.until("AgentStateEvent", Some("AgentOnCall")).await;

    let (status, tasks) = app.get(&format!("/v1.0/services/{service}/tasks")).await;
    assert_eq!(status, StatusCode::OK, "{tasks}");
    assert!(
        tasks.to_string().contains("Established"),
        "LUCS sees the task connected: {tasks}"
    );
    let got: Value = app
        .client
        .get(format!("{}/default/requests/{request_id}", app.base))
        .bearer_auth(crate::ADMIN_KEY)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("JSON");
    assert_eq!(got["result"]["status"], "Connected", "{got}");
}

/// The counters of one QueueStatistics message, by name.
fn counters(message: &Value) -> std::collections::HashMap<String, Value> {
    message["counters"]
        .as_array()
        .expect("counters")
        .iter()
        .map(|c| {
            (
                c["statName"].as_str().unwrap().to_string(),
                c["value"].clone(),
            )
        })
        .collect()
}

/// The day's totals: tasks entered, answered within 15 s, abandoned after 15 s, the estimated wait, and the
/// agent's time in each state, live over the socket and again after a restart (recovered from the stored events).
#[tokio::test]
async fn statistics_of_the_day() {
    let app = TestApp::start().await;
    let service = app.business_service().await;
    let anna_id = cti_user(&app, "anna", &service, "1001", json!({})).await;
    cti_user(&app, "root", &service, "1009", json!({"Profile": "Admin"})).await;
    let anna_number = agent_number(&app, &anna_id).await;
    let mut root = Cti::connect(&app, "root", "secret-password").await;
    root.command("subscribeToQueueStats", json!({})).await;
    let first = root.until("QueueStatistics", None).await;
    let all = counters(&first);
    for name in [
        "TotalNumberCallsEntered",
        "TotalNumberCallsAnswered",
        "TotalNumberCallsAbandonned",
        "TotalNumberCallsAbandonnedAfter15",
        "PercentageAnsweredBefore15",
        "PercentageAbandonnedAfter15",
        "WaitingCalls",
        "LongestWaitingTime",
        "EWT",
        "AvailableAgents",
        "TalkingAgents",
        "LoggedAgents",
    ] {
        assert!(all.contains_key(name), "{name} missing from {first}");
    }
    let queue_id = first["queueId"].clone();

    let mut anna = Cti::connect(&app, "anna", "secret-password").await;
    anna.command("agentLogin", json!({"agentphonenumber": "1001"}))
        .await;
    anna.until("AgentStateEvent", Some("AgentReady")).await;
    anna.command("pauseAgent", json!({"reason": "brief"})).await;
    anna.until("AgentStateEvent", Some("AgentOnPause")).await;

    // One task answered after 10 s, one abandoned after 20 s.
    let (_, answered) = app
        .post(
            "/v1.0/tasks",
            json!({"Service": service, "Caller": "+41790000001"}),
        )
        .await;
    app.advance(10).await;
    anna.command("unpauseAgent", json!({})).await;
    anna.until("AgentStateEvent", Some("AgentRinging")).await;
    anna.command("answer", json!({})).await;
    anna.until("AgentStateEvent", Some("AgentOnCall")).await;
    // A checkpoint of the statistics now (the server takes one a minute), kept to be restored below.
    let early = {
        let state = app.state.clone();
        tokio::task::spawn_blocking(move || {
            let tenant = tokio::runtime::Handle::current()
                .block_on(state.tenant("default"))
                .expect("tenant");
            assert!(state.checkpoint_statistics(&tenant).expect("checkpoint"));
            assert!(
                !state.checkpoint_statistics(&tenant).expect("again"),
                "nothing new"
            );
            state
                .store()
                .list_entries("default", "statistics")
                .expect("entries")
        })
        .await
        .expect("join")
    };
    assert_eq!(early.len(), 1, "{early:?}");
    let (_, abandoned) = app
        .post(
            "/v1.0/tasks",
            json!({"Service": service, "Caller": "+41790000002"}),
        )
        .await;
    app.advance(20).await;
    let (status, _) = app
        .post(
            &format!("/v1.0/tasks/{}/terminate", abandoned.as_str().unwrap()),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let expected = [
        ("TotalNumberCallsEntered", json!(2)),
        ("TotalNumberCallsAnswered", json!(1)),
        ("TotalNumberCallsAbandonned", json!(1)),
        ("TotalNumberCallsAbandonnedAfter15", json!(1)),
        ("PercentageAnsweredBefore15", json!(50.0)),
        ("PercentageAbandonnedAfter15", json!(50.0)),
        ("EWT", json!(10)),
    ];
    // Changes arrive as they happen; after a barrier, the last value of each counter is the total.
    let mut latest = all.clone();
    for message in root.drain().await {
        if message["msgType"] == "QueueStatistics" && message["ctiMessage"]["queueId"] == queue_id {
            latest.extend(counters(&message["ctiMessage"]));
        }
    }
    for (name, value) in &expected {
        assert_eq!(&latest[*name], value, "{name}: {latest:?}");
    }
    assert!(answered.is_string());

    // Agent statistics: 10 s paused so far, then 0 s ready before the offer (rang at once).
    root.command("subscribeToAgentStats", json!({})).await;
    let stats = loop {
        let stats = root.until("AgentStatistics", None).await;
        if stats["id"] == anna_number {
            break stats;
        }
    };
    let stat = |stats: &Value, name: &str| {
        stats["statistics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .map(|s| s["value"].clone())
            .unwrap_or(Value::Null)
    };
    assert_eq!(stat(&stats, "AgentPausedTotalTime"), 10, "{stats}");
    assert_eq!(stat(&stats, "AgentReadyTotalTime"), 0, "{stats}");
    assert_eq!(
        stat(&stats, "LoginDateTime"),
        "2019-06-27T11:58:35.000Z",
        "{stats}"
    );

    // A restart recovers the day's totals: from the checkpoint written at the stop (then only the events of the
    // restart itself are read); from the earlier checkpoint and the events after it, as after a crash; and with
    // no checkpoint, from all the stored events of the day.
    drop(root);
    drop(anna);
    let (dir, db_url, clock) = app.stop().await;
    let mut reads = Vec::new();
    for case in ["stop", "early", "none"] {
        let url = db_url.clone();
        let early = early.clone();
        tokio::task::spawn_blocking(move || {
            let store = Store::open(&url).expect("open");
            match case {
                "early" => store
                    .put_entry("default", "statistics", &early[0].0, &early[0].1)
                    .expect("restore the early checkpoint"),
                "none" => {
                    store
                        .delete_entry("default", "statistics", &early[0].0)
                        .expect("delete the checkpoint");
                }
                _ => {}
            }
            store.close();
        })
        .await
        .expect("join");
        let app = TestApp::start_on(&db_url, clock.clone()).await;
        let tenant = app.state.tenant("default").await.expect("tenant");
        let recovery = tenant.statistics_recovery();
        assert_eq!(
            recovery.from_checkpoint,
            case != "none",
            "{case}: {recovery:?}"
        );
        reads.push(recovery.events_read);
        let mut root = Cti::connect(&app, "root", "secret-password").await;
        root.command("getQueueStatistics", json!({"queueId": queue_id}))
            .await;
        let again = counters(&root.until("QueueStatistics", None).await);
        for (name, value) in &expected {
            assert_eq!(
                &again[*name], value,
                "{name} after a restart ({case}): {again:?}"
            );
        }
        drop(root);
        app.stop().await;
    }
    assert!(
        reads[0] < reads[1] && reads[1] < reads[2],
        "events read after a stop, from an early checkpoint, without one: {reads:?}"
    );
    drop(dir);
}

/// Queue membership over the socket (setAgentQueue adds or changes a penalty, removeAgentFromQueue removes), each
/// answered by QueueMember and AgentConfig; a change of the user over REST sends AgentConfig too.
#[tokio::test]
async fn queues_and_configuration() {
    let app = TestApp::start().await;
    let service = app.business_service().await;
    let id = cti_user(&app, "anna", &service, "1001", json!({})).await;
    let anna_number = agent_number(&app, &id).await;
    let mut anna = Cti::connect(&app, "anna", "secret-password").await;
    anna.command("getList", json!({"objectType": "queue"}))
        .await;
    let queues = anna.until("QueueList", None).await;
    let queue = queues[0]["id"].clone();
    assert_eq!(queues[0]["name"], "Business Customer Care");

    anna.command("setAgentQueue", json!({"queueId": queue, "penalty": 3}))
        .await;
    let member = anna.until("QueueMember", None).await;
    assert_eq!(
        member,
        json!({"agentId": anna_number, "queueId": queue, "penalty": 3})
    );
    let config = anna.until("AgentConfig", None).await;
    assert_eq!(config["member"][0]["penalty"], 3, "{config}");
    anna.command("getList", json!({"objectType": "queuemember"}))
        .await;
    let members = anna.until("QueueMemberList", None).await;
    assert!(members.as_array().unwrap().contains(&member), "{members}");

    anna.command("removeAgentFromQueue", json!({"queueId": queue}))
        .await;
    let member = anna.until("QueueMember", None).await;
    assert_eq!(member["penalty"], -1);
    let config = anna.until("AgentConfig", None).await;
    assert_eq!(config["member"], json!([]), "{config}");

    let (_, user) = app.get(&format!("/v1.0/users/{id}")).await;
    let mut user = user;
    user["FirstName"] = json!("Annabel");
    let (status, body) = app.post(&format!("/v1.0/users/{id}/update"), user).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let config = anna.until("AgentConfig", None).await;
    assert_eq!(config["firstname"], "Annabel", "{config}");

    // Another agent's queues are not an agent's to change.
    anna.command(
        "setAgentQueue",
        json!({"agentId": anna_number + 1000, "queueId": queue}),
    )
    .await;
    let refused = anna.until("Error", None).await;
    assert!(refused.to_string().contains("does not exist"), "{refused}");
}
