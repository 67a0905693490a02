//! The Puzzel e-task requests of seed 003 over HTTP: VIP order and live queue positions, reservations that fall
//! through after their wait, updates, deletes, every refusal in the reply envelope, access points, the same tasks
//! through LUCS, and request ids across a restart. Time moves only through the test clock.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use switchboard_core::AgentId;
use switchboard_server::auth::Role;
use switchboard_server::{create_key, NewKey};

use crate::{TestApp, ADMIN_KEY};

/// How a call presents its key.
#[derive(Clone, Copy)]
enum Auth<'a> {
    Header(&'a str),
    Bearer(&'a str),
    Missing,
}

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    key: Auth<'_>,
    body: Option<String>,
) -> (StatusCode, Value) {
    let mut request = app.client.request(method, format!("{}{}", app.base, path));
    request = match key {
        Auth::Header(key) => request.header("api_key", key),
        Auth::Bearer(key) => request.header("authorization", format!("Bearer {key}")),
        Auth::Missing => request,
    };
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body);
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    let text = response.text().await.expect("body");
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
}

/// RequestAdd with this `data` object (serialised into the string as the vendor does); answers the envelope.
async fn add(app: &TestApp, data: Value) -> (StatusCode, Value) {
    let body = json!({"data": data.to_string(), "type": "mail", "version": "1.0"});
    call(
        app,
        Method::POST,
        "/default/requests",
        Auth::Bearer(ADMIN_KEY),
        Some(body.to_string()),
    )
    .await
}

/// Adds a request that must succeed; returns its id.
async fn add_ok(app: &TestApp, data: Value) -> u64 {
    let (status, reply) = add(app, data).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["code"], 0, "{reply}");
    let id = reply["result"].as_u64().expect("request id");
    assert_eq!(reply["id"], id.to_string());
    id
}

async fn get(app: &TestApp, id: u64) -> Value {
    let (status, reply) = call(
        app,
        Method::GET,
        &format!("/default/requests/{id}"),
        Auth::Header(ADMIN_KEY),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["code"], 0);
    assert_eq!(reply["id"], id.to_string());
    reply["result"].clone()
}

async fn update(app: &TestApp, id: u64, body: Value) -> (StatusCode, Value) {
    call(
        app,
        Method::POST,
        &format!("/customers/default/requests/{id}/update"),
        Auth::Bearer(ADMIN_KEY),
        Some(body.to_string()),
    )
    .await
}

async fn delete(app: &TestApp, id: u64, body: Option<Value>) -> (StatusCode, Value) {
    call(
        app,
        Method::POST,
        &format!("/default/requests/{id}/delete"),
        Auth::Bearer(ADMIN_KEY),
        body.map(|b| b.to_string()),
    )
    .await
}

/// Asserts an error envelope: status, code, no result, a message.
fn assert_refused(status: StatusCode, reply: &Value, want_status: StatusCode, want_code: i64) {
    assert_eq!(status, want_status, "{reply}");
    assert_eq!(reply["code"], want_code, "{reply}");
    assert_eq!(reply["result"], Value::Null, "{reply}");
    assert!(
        reply["message"].as_str().is_some_and(|m| m.len() > 5),
        "{reply}"
    );
    assert!(reply.get("Error").is_none(), "not the LUCS shape: {reply}");
}

/// The integer id (Puzzel user id) of a user.
async fn user_number(app: &TestApp, user: &str) -> u32 {
    let tenant = app.state.tenant("default").await.unwrap();
    let id = AgentId(user.parse().unwrap());
    app.state
        .read(&tenant, |engine| engine.agent_info(id).unwrap().number)
}

async fn set_presence(app: &TestApp, user: &str, presence: &str) {
    let (status, body) = app
        .post(
            &format!("/v1.0/users/{user}/setpresence"),
            json!({"Presence": presence}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn lucs_post(app: &TestApp, path: &str) {
    let (status, body) = app.post(path, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
}

/// A LUCS task offered only to `user` and accepted by them: the user is busy until it ends.
async fn keep_busy(app: &TestApp, service: &str, user: &str) -> String {
    let (status, task) = app
        .post(
            "/v1.0/tasks",
            json!({"Service": service, "PreferredAgents": [user], "ConsiderPreferredAgentsOnly": true}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{task}");
    let task = task.as_str().unwrap().to_string();
    lucs_post(app, &format!("/v1.0/tasks/{task}/setestablished")).await;
    task
}

async fn live_tasks(app: &TestApp) -> usize {
    let tenant = app.state.tenant("default").await.unwrap();
    app.state.read(&tenant, |engine| engine.n_live_tasks())
}

/// Several requests with different VIP scores: positions are live and 1-based, the agent receives them in VIP
/// order (first come first within a score), and LUCS sees the same tasks.
#[tokio::test]
async fn vip_scores_order_the_queue_and_agents_receive_requests_in_that_order() {
    let app = TestApp::start().await;
    let service = app.business_service().await;
    let agent = app
        .online_user("smoky.cc", "Curt", "Connors", &service)
        .await;
    set_presence(&app, &agent, "Offline").await;
    let agent_number = user_number(&app, &agent).await;

    let mut ids = Vec::new();
    for (n, vip) in [0, 100, 50, 100].into_iter().enumerate() {
        ids.push(
            add_ok(
                &app,
                json!({
                    // The default access point: the service's SIP URI, here without its scheme.
                    "From": format!("customer{n}@example.com"),
                    "To": "Smoky.Businesss@dev.local",
                    "Subject": format!("Case {n}"),
                    "Uri": format!("http://crm.example.com/cases/{n}"),
                    "VipScore": vip,
                    "Variables": [{"Name": "CaseNumber", "Value": format!("C-{n}")}],
                    "Segment": "Gold"
                }),
            )
            .await,
        );
    }
    assert_eq!(ids, [1, 2, 3, 4], "request ids are the tenant's integers");

    let request = get(&app, ids[0]).await;
    assert_eq!(request["requestId"], 1);
    assert_eq!(request["status"], "InQueue");
    assert_eq!(request["mediaType"], "EMail");
    assert_eq!(request["joined"], false);
    assert_eq!(request["requestStart"], "2019-06-27T11:58:35.000Z");
    assert_eq!(request["queueEntryTime"], "2019-06-27T11:58:35.000Z");
    assert_eq!(request["sessionTime"], "00:00:00");
    assert_eq!(request["from"], "customer0@example.com");
    assert_eq!(request["to"], "Smoky.Businesss@dev.local");
    assert_eq!(request["subject"], "Case 0");
    assert_eq!(request["uri"], "http://crm.example.com/cases/0");
    assert_eq!(request["vipScore"], 0);
    assert_eq!(
        request["variables"],
        json!({"CaseNumber": "C-0", "Segment": "Gold"})
    );
    assert_eq!(request["queueName"], "Business Customer Care");
    assert!(request["queueId"].as_u64().is_some());
    assert_eq!(request["allocatedUserId"], Value::Null);
    let session = request["iqSessionId"].as_str().unwrap().to_string();
    assert!(uuid::Uuid::parse_str(&session).is_ok());

    let positions = |requests: &[Value]| -> Vec<u64> {
        requests
            .iter()
            .map(|r| r["queuePosition"].as_u64().unwrap())
            .collect()
    };
    let mut requests = Vec::new();
    for id in &ids {
        requests.push(get(&app, *id).await);
    }
    assert_eq!(positions(&requests), [4, 1, 3, 2]);

    app.advance(65).await;
    assert_eq!(get(&app, ids[0]).await["sessionTime"], "00:01:05");

    // LUCS sees the same tasks, in the same order.
    let (_, tasks) = app.get(&format!("/v1.0/services/{service}/tasks")).await;
    let order: Vec<&str> = tasks
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["CustomerIdentifier"].as_str().unwrap())
        .collect();
    assert_eq!(
        order,
        [
            "customer1@example.com",
            "customer3@example.com",
            "customer2@example.com",
            "customer0@example.com"
        ]
    );
    let (status, task) = app.get(&format!("/v1.0/tasks/{session}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(task["Type"], "Email");
    assert_eq!(task["State"], "InQueue");
    assert_eq!(task["CustomerIdentifier"], "customer0@example.com");
    assert!(task["ContextParameters"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["Name"] == "CaseNumber" && p["Value"] == "C-0"));

    // The agent signs in and receives them one after the other, in VIP order.
    set_presence(&app, &agent, "Online").await;
    let mut received = Vec::new();
    for _ in 0..ids.len() {
        let mut offered = None;
        for id in &ids {
            let request = get(&app, *id).await;
            if request["status"] == "Alerting" {
                assert!(offered.is_none(), "one offer at a time");
                assert_eq!(request["allocatedUserId"], agent_number);
                assert_eq!(request["queuePosition"], 0);
                offered = Some((*id, request["iqSessionId"].as_str().unwrap().to_string()));
            }
        }
        let (id, session) = offered.expect("a request is offered");
        received.push(id);
        lucs_post(&app, &format!("/v1.0/tasks/{session}/setestablished")).await;
        let request = get(&app, id).await;
        assert_eq!(request["status"], "Connected");
        assert_eq!(request["joined"], true);
        lucs_post(&app, &format!("/v1.0/tasks/{session}/terminate")).await;
        let finished = get(&app, id).await;
        assert_eq!(finished["status"], "Disconnected");
        assert_eq!(finished["joined"], true);
        assert_eq!(finished["allocatedUserId"], agent_number);
    }
    assert_eq!(received, [2, 4, 3, 1]);
}

/// A request reserved for a busy agent is held for them, not given to a free one; after the wait it opens to
/// the queue keeping its place ahead of a later request.
#[tokio::test]
async fn a_reservation_for_a_busy_agent_falls_through_after_the_wait_keeping_its_place() {
    let app = TestApp::start().await;
    let service = app.business_service().await;
    let aa = app
        .online_user("smoky.aa", "Alisa", "Abbot", &service)
        .await;
    let bb = app.online_user("smoky.bb", "Bert", "Brown", &service).await;
    let (aa_number, bb_number) = (user_number(&app, &aa).await, user_number(&app, &bb).await);
    keep_busy(&app, &service, &aa).await;

    let reserved = add_ok(
        &app,
        json!({"To": "sip:smoky.businesss@dev.local", "reservedUserId": aa_number, "reservedUserWaitTime": 60}),
    )
    .await;
    let request = get(&app, reserved).await;
    assert_eq!(
        request["status"], "InQueue",
        "Bert is free but it is held for Alisa"
    );
    assert_eq!(request["reservedUserId"], aa_number);
    assert_eq!(request["reservedUntil"], "2019-06-27T11:59:35.000Z");
    assert_eq!(request["queuePosition"], 1);

    // Bert gets busy too; a later request queues behind the reserved one.
    let bert_task = keep_busy(&app, &service, &bb).await;
    let later = add_ok(&app, json!({"To": "sip:smoky.businesss@dev.local"})).await;
    assert_eq!(get(&app, later).await["queuePosition"], 2);

    app.advance(59).await;
    assert_eq!(get(&app, reserved).await["reservedUserId"], aa_number);
    app.advance(1).await;
    let request = get(&app, reserved).await;
    assert_eq!(request["status"], "InQueue");
    assert_eq!(request["reservedUserId"], Value::Null);
    assert_eq!(request["queuePosition"], 1, "it kept its place");

    // The first agent free takes it, whoever it is, before the later request.
    lucs_post(&app, &format!("/v1.0/tasks/{bert_task}/terminate")).await;
    let request = get(&app, reserved).await;
    assert_eq!(request["status"], "Alerting");
    assert_eq!(request["allocatedUserId"], bb_number);
    assert_eq!(get(&app, later).await["status"], "InQueue");
}

/// Within its wait, a reserved request goes to its agent as soon as they are free.
#[tokio::test]
async fn a_reserved_request_goes_to_its_agent_when_they_free_up_in_time() {
    let app = TestApp::start().await;
    let service = app.business_service().await;
    let aa = app
        .online_user("smoky.aa", "Alisa", "Abbot", &service)
        .await;
    app.online_user("smoky.bb", "Bert", "Brown", &service).await;
    let aa_number = user_number(&app, &aa).await;
    let alisa_task = keep_busy(&app, &service, &aa).await;
    // The user may also be named by SIP URI (a switchboard extension).
    let reserved = add_ok(
        &app,
        json!({"To": "sip:smoky.businesss@dev.local", "reservedUserId": "sip:smoky.aa@dev.local", "reservedUserWaitTime": 60}),
    )
    .await;
    assert_eq!(get(&app, reserved).await["reservedUserId"], aa_number);
    app.advance(30).await;
    assert_eq!(get(&app, reserved).await["status"], "InQueue");
    lucs_post(&app, &format!("/v1.0/tasks/{alisa_task}/terminate")).await;
    let request = get(&app, reserved).await;
    assert_eq!(request["status"], "Alerting");
    assert_eq!(request["allocatedUserId"], aa_number);
}

/// RequestUpdate: a new VIP score moves the request at once; the reservation, subject and URI change.
#[tokio::test]
async fn updates_move_the_request_and_change_its_reservation_and_details() {
    let app = TestApp::start().await;
    let service = app.business_service().await;
    let agent = app
        .online_user("smoky.cc", "Curt", "Connors", &service)
        .await;
    set_presence(&app, &agent, "Offline").await;
    let agent_number = user_number(&app, &agent).await;
    let to = json!("sip:smoky.businesss@dev.local");
    let first = add_ok(&app, json!({"To": to, "VipScore": 0, "Subject": "Old"})).await;
    let second = add_ok(&app, json!({"To": to, "VipScore": 10})).await;
    let third = add_ok(&app, json!({"To": to, "VipScore": 5})).await;
    assert_eq!(get(&app, first).await["queuePosition"], 3);

    let (status, reply) = update(
        &app,
        first,
        json!({"requestUpdateObject": {"vipScore": 20, "additionalInfoSubject": "Urgent", "additionalInfoUri": "http://crm/9"}}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(
        reply,
        json!({"result": first, "code": 0, "id": first.to_string(), "message": "Request updated"})
    );
    let request = get(&app, first).await;
    assert_eq!(request["queuePosition"], 1);
    assert_eq!(request["vipScore"], 20);
    assert_eq!(request["subject"], "Urgent");
    assert_eq!(request["uri"], "http://crm/9");
    assert_eq!(get(&app, second).await["queuePosition"], 2);
    assert_eq!(get(&app, third).await["queuePosition"], 3);

    // Bare fields work too; a lower score sends it back.
    let (status, _) = update(&app, first, json!({"vipScore": -1})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(get(&app, first).await["queuePosition"], 3);
    assert_eq!(get(&app, third).await["queuePosition"], 2);

    // Reserve it, extend the reservation, remove it.
    let (status, reply) = update(
        &app,
        third,
        json!({"reservedUserId": agent_number, "reservedSecondsFromNow": 120}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    let request = get(&app, third).await;
    assert_eq!(request["reservedUserId"], agent_number);
    assert_eq!(request["reservedUntil"], "2019-06-27T12:00:35.000Z");
    app.advance(100).await;
    update(&app, third, json!({"reservedSecondsFromNow": 60})).await;
    assert_eq!(
        get(&app, third).await["reservedUntil"],
        "2019-06-27T12:01:15.000Z"
    );
    let (status, _) = update(
        &app,
        third,
        json!({"reservedUserId": 0, "reservedSecondsFromNow": 0}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(get(&app, third).await["reservedUserId"], Value::Null);

    // Refusals change nothing.
    let (status, reply) = update(&app, first, json!({"reservedSecondsFromNow": -5})).await;
    assert_refused(status, &reply, StatusCode::UNPROCESSABLE_ENTITY, 42201);
    assert_eq!(reply["id"], first.to_string());
    let (status, reply) = update(
        &app,
        first,
        json!({"vipScore": 99, "reservedUserId": 4242, "reservedSecondsFromNow": 5}),
    )
    .await;
    assert_refused(status, &reply, StatusCode::UNPROCESSABLE_ENTITY, 42203);
    assert_eq!(get(&app, first).await["vipScore"], -1);
    let (status, reply) = update(&app, first, json!({"reservedSecondsFromNow": 5})).await;
    assert_refused(status, &reply, StatusCode::UNPROCESSABLE_ENTITY, 42201);
    let (status, reply) = update(&app, first, json!({})).await;
    assert_refused(status, &reply, StatusCode::BAD_REQUEST, 40001);
    let (status, reply) = update(&app, 999, json!({"vipScore": 1})).await;
    assert_refused(status, &reply, StatusCode::NOT_FOUND, 40401);
    assert_eq!(reply["id"], "999");
}

/// RequestDelete: a waiting request leaves the queue; one an agent has needs forceDelete.
#[tokio::test]
async fn deletes_take_requests_out_and_force_ends_allocated_ones() {
    let app = TestApp::start().await;
    let service = app.business_service().await;
    let agent = app
        .online_user("smoky.cc", "Curt", "Connors", &service)
        .await;
    let to = json!("sip:smoky.businesss@dev.local");
    let offered = add_ok(&app, json!({"To": to})).await;
    let waiting = add_ok(&app, json!({"To": to})).await;
    let behind = add_ok(&app, json!({"To": to})).await;
    assert_eq!(get(&app, offered).await["status"], "Alerting");
    assert_eq!(get(&app, behind).await["queuePosition"], 2);

    let (status, reply) = delete(&app, waiting, None).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["code"], 0);
    assert_eq!(reply["id"], waiting.to_string());
    let request = get(&app, waiting).await;
    assert_eq!(request["status"], "Disconnected");
    assert_eq!(request["queuePosition"], 0);
    assert_eq!(
        get(&app, behind).await["queuePosition"],
        1,
        "the one behind moves up"
    );
    let (status, reply) = delete(&app, waiting, None).await;
    assert_refused(status, &reply, StatusCode::NOT_FOUND, 40401);

    // Offered to the agent: only forceDelete ends it, and the agent gets the next one.
    let (status, reply) = delete(&app, offered, Some(json!({"forceDelete": false}))).await;
    assert_refused(status, &reply, StatusCode::CONFLICT, 40901);
    assert_eq!(get(&app, offered).await["status"], "Alerting");
    let (status, reply) = delete(&app, offered, Some(json!({"forceDelete": true}))).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(get(&app, offered).await["status"], "Disconnected");
    let request = get(&app, behind).await;
    assert_eq!(request["status"], "Alerting");

    // Accepted by the agent: the wrapped form of the body works as well.
    let session = request["iqSessionId"].as_str().unwrap().to_string();
    lucs_post(&app, &format!("/v1.0/tasks/{session}/setestablished")).await;
    let (status, reply) = delete(&app, behind, None).await;
    assert_refused(status, &reply, StatusCode::CONFLICT, 40901);
    let (status, reply) = delete(
        &app,
        behind,
        Some(json!({"RequestDelete": {"forceDelete": true}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(get(&app, behind).await["status"], "Disconnected");
    assert_eq!(live_tasks(&app).await, 0);
    let (_, user) = app.get(&format!("/v2.0/usersStates/{agent}")).await;
    assert_eq!(user["Tasks"], json!([]));
}

/// Every bad input gets a clear 4xx in the envelope, and nothing is created.
#[tokio::test]
async fn bad_input_is_refused_in_the_envelope_and_creates_nothing() {
    let app = TestApp::start().await;
    let service = app.business_service().await;
    let agent = app
        .online_user("smoky.cc", "Curt", "Connors", &service)
        .await;
    let agent_number = user_number(&app, &agent).await;
    let to = "sip:smoky.businesss@dev.local";
    let post_body = |body: String| {
        call(
            &app,
            Method::POST,
            "/default/requests",
            Auth::Header(ADMIN_KEY),
            Some(body),
        )
    };

    let (status, reply) =
        post_body(json!({"data": "{\"To\": \"x\", ", "type": "mail"}).to_string()).await;
    assert_refused(status, &reply, StatusCode::BAD_REQUEST, 40002);
    assert!(reply["message"]
        .as_str()
        .unwrap()
        .contains("not valid JSON"));
    let (status, reply) =
        post_body(json!({"data": "{\"From\": \"a@b.c\"}", "type": "mail"}).to_string()).await;
    assert_refused(status, &reply, StatusCode::BAD_REQUEST, 40002);
    let (status, reply) = post_body("{\"data\": ".to_string()).await;
    assert_refused(status, &reply, StatusCode::BAD_REQUEST, 40001);
    let (status, reply) = add(&app, json!({"To": "nobody@example.com"})).await;
    assert_refused(status, &reply, StatusCode::UNPROCESSABLE_ENTITY, 42202);
    assert!(reply["message"]
        .as_str()
        .unwrap()
        .contains("nobody@example.com"));
    let (status, reply) = add(
        &app,
        json!({"To": to, "reservedUserId": agent_number + 100, "reservedUserWaitTime": 30}),
    )
    .await;
    assert_refused(status, &reply, StatusCode::UNPROCESSABLE_ENTITY, 42203);
    let (status, reply) = add(
        &app,
        json!({"To": to, "reservedUserId": agent_number, "reservedUserWaitTime": -30}),
    )
    .await;
    assert_refused(status, &reply, StatusCode::UNPROCESSABLE_ENTITY, 42201);
    assert!(reply["message"].as_str().unwrap().contains("negative"));
    let (status, reply) = add(&app, json!({"To": to, "VipScore": "very"})).await;
    assert_refused(status, &reply, StatusCode::UNPROCESSABLE_ENTITY, 42201);
    let (status, reply) =
        post_body(json!({"data": json!({"To": to}).to_string(), "type": "fax"}).to_string()).await;
    assert_refused(status, &reply, StatusCode::UNPROCESSABLE_ENTITY, 42201);
    let (status, reply) =
        post_body(format!("{{\"data\": \"{}\"}}", "x".repeat(2 * 1024 * 1024))).await;
    assert_refused(status, &reply, StatusCode::PAYLOAD_TOO_LARGE, 41301);

    // A customerKey that is not the key's tenant, in either direction; no key; a wrong key.
    let body = json!({"data": json!({"To": to}).to_string()}).to_string();
    let (status, reply) = call(
        &app,
        Method::POST,
        "/10006/requests",
        Auth::Bearer(ADMIN_KEY),
        Some(body.clone()),
    )
    .await;
    assert_refused(status, &reply, StatusCode::UNAUTHORIZED, 40101);
    assert!(reply["message"].as_str().unwrap().contains("10006"));
    let other = create_key(
        app.state.store(),
        &NewKey {
            tenant: "10006".into(),
            name: "other".into(),
            roles: Role::ALL.to_vec(),
            expires_at: None,
            rate_limit: None,
            burst_limit: None,
        },
        app.state.now(),
    )
    .unwrap()
    .key;
    let (status, reply) = call(
        &app,
        Method::POST,
        "/default/requests",
        Auth::Bearer(&other),
        Some(body.clone()),
    )
    .await;
    assert_refused(status, &reply, StatusCode::UNAUTHORIZED, 40101);
    let (status, reply) = call(
        &app,
        Method::POST,
        "/default/requests",
        Auth::Missing,
        Some(body.clone()),
    )
    .await;
    assert_refused(status, &reply, StatusCode::UNAUTHORIZED, 40101);
    assert!(reply["message"].as_str().unwrap().contains("Bearer"));
    let (status, reply) = call(
        &app,
        Method::POST,
        "/default/requests",
        Auth::Bearer("sb_wrong"),
        Some(body.clone()),
    )
    .await;
    assert_refused(status, &reply, StatusCode::UNAUTHORIZED, 40101);

    assert_eq!(live_tasks(&app).await, 0, "nothing was created");
    // Nor was a request id used up: the next request gets the first one.
    assert_eq!(add_ok(&app, json!({"To": to})).await, 1);

    // Unknown and malformed request ids.
    for path in [
        "/default/requests/999",
        "/default/requests/999/delete",
        "/customers/default/requests/999/update",
    ] {
        let method = if path.ends_with("999") {
            Method::GET
        } else {
            Method::POST
        };
        let (status, reply) = call(
            &app,
            method,
            path,
            Auth::Header(ADMIN_KEY),
            Some(json!({"vipScore": 1}).to_string()),
        )
        .await;
        assert_refused(status, &reply, StatusCode::NOT_FOUND, 40401);
        assert_eq!(reply["id"], "999", "{path}");
    }
    let (status, reply) = call(
        &app,
        Method::GET,
        "/default/requests/abc",
        Auth::Header(ADMIN_KEY),
        None,
    )
    .await;
    assert_refused(status, &reply, StatusCode::BAD_REQUEST, 40001);
}

/// The Puzzel routes enforce their roles in the envelope: reads for the task readers, writes for TasksManage.
#[tokio::test]
async fn puzzel_routes_enforce_their_roles_in_the_envelope() {
    let app = TestApp::start().await;
    let service = app.business_service().await;
    app.online_user("smoky.cc", "Curt", "Connors", &service)
        .await;
    let id = add_ok(&app, json!({"To": "sip:smoky.businesss@dev.local"})).await;
    let routes = [
        (
            Method::GET,
            format!("/default/requests/{id}"),
            vec![Role::TasksReadonly, Role::TasksManage],
        ),
        (
            Method::POST,
            "/default/requests".to_string(),
            vec![Role::TasksManage],
        ),
        (
            Method::POST,
            format!("/customers/default/requests/{id}/update"),
            vec![Role::TasksManage],
        ),
        (
            Method::POST,
            format!("/default/requests/{id}/delete"),
            vec![Role::TasksManage],
        ),
    ];
    for role in Role::ALL {
        let key = create_key(
            app.state.store(),
            &NewKey {
                tenant: "default".into(),
                name: format!("{role:?}"),
                roles: vec![role],
                expires_at: None,
                rate_limit: None,
                burst_limit: None,
            },
            app.state.now(),
        )
        .unwrap()
        .key;
        for (method, path, allowed) in &routes {
            // A body no handler accepts: a refusal after reading it would be 400, not 401.
            let (status, reply) = call(
                &app,
                method.clone(),
                path,
                Auth::Bearer(&key),
                Some("{\"unknown\": ".to_string()),
            )
            .await;
            if allowed.contains(&role) {
                assert_ne!(status, StatusCode::UNAUTHORIZED, "{method} {path} {role:?}");
            } else {
                assert_refused(status, &reply, StatusCode::UNAUTHORIZED, 40101);
            }
        }
    }
}

/// The routes of both dialects live side by side: a tenant may even be called `customers`, and LUCS, health
/// and metrics answer as before.
#[tokio::test]
async fn bearer_and_api_key_alike_and_routes_do_not_collide() {
    let app = TestApp::start().await;
    let customers = create_key(
        app.state.store(),
        &NewKey {
            tenant: "customers".into(),
            name: "customers".into(),
            roles: Role::ALL.to_vec(),
            expires_at: None,
            rate_limit: None,
            burst_limit: None,
        },
        app.state.now(),
    )
    .unwrap()
    .key;
    let (status, body) = app
        .call(
            Method::POST,
            "/v2.0/services",
            Some(&customers),
            Some(json!({"Name": "Mail", "SipUri": "sip:mail@customers.local"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let add_body = json!({"data": json!({"To": "mail@customers.local"}).to_string()}).to_string();
    for key in [Auth::Bearer(&customers), Auth::Header(&customers)] {
        let (status, reply) = call(
            &app,
            Method::POST,
            "/customers/requests",
            key,
            Some(add_body.clone()),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{reply}");
    }
    for path in [
        "/customers/requests/2",
        "/customers/requests/2/delete",
        "/customers/customers/requests/1/update",
    ] {
        let method = if path.ends_with('2') {
            Method::GET
        } else {
            Method::POST
        };
        let (status, reply) = call(
            &app,
            method,
            path,
            Auth::Bearer(&customers),
            Some(json!({"vipScore": 3}).to_string()),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{path}: {reply}");
        assert_eq!(reply["code"], 0);
    }

    // The other dialect and the operations endpoints are untouched.
    let (status, services) = app.get("/v1.0/services").await;
    assert_eq!(status, StatusCode::OK);
    assert!(services.is_array());
    for path in [
        "/healthz",
        "/metrics",
        "/openapi.json",
        "/v2.0/services/count",
    ] {
        let (status, _) = app.get(path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
    }
    // `/v1.0/requests` is a request list of a customer called v1.0, not a LUCS route.
    let (status, reply) = call(
        &app,
        Method::POST,
        "/v1.0/requests",
        Auth::Header(ADMIN_KEY),
        None,
    )
    .await;
    assert_refused(status, &reply, StatusCode::UNAUTHORIZED, 40101);
    let (status, body) = app.call(Method::GET, "/v1.0/tasks/none", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["Error"]["Message"], "Header 'api_key' not found.");
    let (status, _) = call(
        &app,
        Method::GET,
        "/v1.0/services",
        Auth::Bearer(ADMIN_KEY),
        None,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "LUCS takes its key from api_key only"
    );
}

/// Access points: provisioned, configured idempotently from a file, matched case-insensitively; the defaults
/// are a service's SIP URI and telephone number.
#[tokio::test]
async fn access_points_are_provisioned_configured_and_matched() {
    let app = TestApp::start().await;
    let service = app.business_service().await;
    let (status, point) = app
        .post(
            "/v2.0/accesspoints",
            json!({"Name": "Support@Example.com", "Service": "sip:smoky.businesss@dev.local"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{point}");
    assert_eq!(
        point,
        json!({"Name": "Support@Example.com", "Service": service})
    );
    let (status, list) = app.get("/v2.0/accesspoints").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list, json!([point]));

    let by_point = add_ok(
        &app,
        json!({"To": "Customer Support <support@EXAMPLE.com>"}),
    )
    .await;
    let by_tel = add_ok(&app, json!({"To": "tel:+41 000 000 000"})).await;
    for id in [by_point, by_tel] {
        assert_eq!(get(&app, id).await["queueName"], "Business Customer Care");
    }

    // The configuration file: applying it twice changes nothing the second time.
    let yaml =
        "AccessPoints:\n  - Name: sales@example.com\n    Service: sip:smoky.businesss@dev.local\n";
    let toml = "[[AccessPoints]]\nName = \"sales@example.com\"\nService = \"sip:smoky.businesss@dev.local\"\n";
    let from_yaml = switchboard_server::configuration::parse(yaml, "points.yaml").unwrap();
    let from_toml = switchboard_server::configuration::parse(toml, "points.toml").unwrap();
    let body = serde_json::to_value(&from_yaml).unwrap();
    assert_eq!(body, serde_json::to_value(&from_toml).unwrap());
    let (status, report) = app.post("/v2.0/configuration", body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["DirectoryChanged"], 1);
    let stored = app
        .state
        .store()
        .list_entries("default", "access_point")
        .unwrap();
    let (_, again) = app.post("/v2.0/configuration", body).await;
    assert_eq!(again["DirectoryChanged"], 0);
    assert_eq!(again["Unchanged"], 1);
    assert_eq!(
        app.state
            .store()
            .list_entries("default", "access_point")
            .unwrap(),
        stored
    );
    assert_eq!(stored.len(), 2);
    add_ok(&app, json!({"To": "SALES@example.com"})).await;

    // Removed: requests to it are refused; removing again is 404; unknown services are refused.
    let (status, _) = app
        .call(
            Method::DELETE,
            "/v2.0/accesspoints/support@example.com",
            Some(ADMIN_KEY),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, reply) = add(&app, json!({"To": "support@example.com"})).await;
    assert_refused(status, &reply, StatusCode::UNPROCESSABLE_ENTITY, 42202);
    let (status, error) = app
        .call(
            Method::DELETE,
            "/v2.0/accesspoints/support@example.com",
            Some(ADMIN_KEY),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error["Error"]["Code"], "AccessPointNotFound");
    let (status, error) = app
        .post(
            "/v2.0/accesspoints",
            json!({"Name": "x@example.com", "Service": "sip:none@dev.local"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error["Error"]["Code"], "ServiceNotFound");
    let (status, _) = app
        .post(
            "/v2.0/accesspoints",
            json!({"Name": "  ", "Service": service}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

/// Request ids are stable across a restart: live requests keep id and place, finished ones are still found,
/// and new requests get new ids.
#[tokio::test]
async fn request_ids_survive_a_restart() {
    let app = TestApp::start().await;
    app.business_service().await;
    let to = json!("sip:smoky.businesss@dev.local");
    let first = add_ok(&app, json!({"To": to, "Subject": "first"})).await;
    let second = add_ok(&app, json!({"To": to, "VipScore": 5})).await;
    let third = add_ok(&app, json!({"To": to})).await;
    delete(&app, third, None).await;
    let before = get(&app, first).await;

    let (dir, db_url, clock) = app.stop().await;
    let app = TestApp::start_on(&db_url, clock).await;
    let after = get(&app, first).await;
    assert_eq!(after, before);
    assert_eq!(get(&app, second).await["queuePosition"], 1);
    assert_eq!(get(&app, third).await["status"], "Disconnected");
    assert_eq!(add_ok(&app, json!({"To": to})).await, 4);
    drop(app);
    drop(dir);
}

/// `/openapi.json` documents the Puzzel routes with their envelope, both ways of sending the key, and marks the
/// access point provisioning as an extension.
#[tokio::test]
async fn the_api_description_covers_the_puzzel_dialect() {
    let app = TestApp::start().await;
    let (status, spec) = call(&app, Method::GET, "/openapi.json", Auth::Missing, None).await;
    assert_eq!(status, StatusCode::OK);
    let paths = &spec["paths"];
    for (path, method) in [
        ("/{customerKey}/requests", "post"),
        ("/{customerKey}/requests/{requestId}", "get"),
        (
            "/customers/{customerKey}/requests/{requestId}/update",
            "post",
        ),
        ("/{customerKey}/requests/{requestId}/delete", "post"),
    ] {
        let operation = &paths[path][method];
        assert_eq!(operation["tags"], json!(["Puzzel requests"]), "{path}");
        assert_eq!(
            operation["security"],
            json!([{"api_key": []}, {"bearer": []}])
        );
        assert_eq!(
            operation["responses"]["401"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/ErrorReply",
            "{path}"
        );
        assert!(operation["responses"]["500"].is_null(), "{path}");
        assert!(operation["x-switchboard-extension"].is_null());
    }
    assert!(spec["components"]["schemas"]["ErrorReply"]["properties"]["code"].is_object());
    assert_eq!(
        spec["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    for (path, method) in [
        ("/v2.0/accesspoints", "get"),
        ("/v2.0/accesspoints", "post"),
        ("/v2.0/accesspoints/{accessPoint}", "delete"),
    ] {
        assert_eq!(
            paths[path][method]["x-switchboard-extension"], true,
            "{method} {path}"
        );
    }
}
