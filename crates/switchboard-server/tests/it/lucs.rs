//! The LUCS use cases of seeds 000 and 001 over HTTP, plus bad input, timers and restarts.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::TestApp;

fn context(task: &Value, name: &str) -> String {
    task["ContextParameters"]
        .as_array()
        .expect("context parameters")
        .iter()
        .find(|p| p["Name"] == name)
        .and_then(|p| p["Value"].as_str())
        .unwrap_or_else(|| panic!("no context parameter {name}"))
        .to_string()
}

/// Seed 000: create with preferred agents and RONA, get, refresh, setestablished, terminate; every status code
/// and the DTOs as documented.
#[tokio::test]
async fn seed_000_external_task_lifecycle() {
    let app = TestApp::start().await;
    let service = app.business_service().await;
    let aa = app
        .online_user("smoky.aa", "Alisa", "Abbot", &service)
        .await;
    let bb = app.online_user("smoky.bb", "Bert", "Brown", &service).await;
    let cc = app
        .online_user("smoky.cc", "Curt", "Connors", &service)
        .await;

    // Step 1: POST Tasks → 200 with the new id.
    let (status, id) = app
        .post(
            "/v1.0/tasks",
            json!({
                "ExternalTaskId": "testingtask123",
                "Service": service,
                "Caller": "Johnny HasaProblem Again",
                "PreferredAgents": ["sip:smoky.aa@dev.local", "sip:smoky.bb@dev.local", "sip:smoky.cc@dev.local"],
                "ConsiderPreferredAgentsOnly": true,
                "Required": {"Im": true, "Audio": true, "Video": true, "DesktopSharing": true, "ConversationContext": true},
                "DistributeToAgent": true,
                "DistributeToAgentRONATimeoutInSeconds": 50
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{id}");
    let id = id.as_str().expect("id string").to_string();
    assert!(uuid::Uuid::parse_str(&id).is_ok());

    // Step 2: GET the task by id and by external id; it was distributed to a preferred agent at once.
    let (status, task) = app.get(&format!("/v1.0/tasks/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    let (_, by_external) = app.get("/v1.0/tasks/testingtask123").await;
    assert_eq!(by_external["Id"], task["Id"]);
    assert_eq!(task["ExternalTaskId"], "testingtask123");
    assert_eq!(task["Type"], "ExternalNonBlocking");
    assert_eq!(task["State"], "Distributed");
    assert_eq!(task["CustomerIdentifier"], "Johnny HasaProblem Again");
    assert_eq!(task["Created"], "27.06.2019 11:58:35.0000000Z");
    assert_eq!(task["QueueStarted"], task["Created"]);
    assert_eq!(task["Connected"], Value::Null);
    assert_eq!(task["InitialModalityType"], "External");
    assert_eq!(task["OriginType"], "Unknown");
    assert_eq!(task["OriginTypeCustom"], Value::Null);
    let names: Vec<&str> = task["ContextParameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["Name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "ServiceCulture",
            "InitialQueuePosition",
            "ServiceSipUri",
            "SessionAgentToken",
            "CurrentSystemTime",
            "ServiceTelNumber",
            "ExternalTaskId",
            "ServiceDisplayName",
            "AgentSipUri"
        ]
    );
    assert_eq!(context(&task, "ServiceCulture"), "en-GB");
    assert_eq!(context(&task, "InitialQueuePosition"), "1");
    assert_eq!(
        context(&task, "ServiceSipUri"),
        "sip:smoky.businesss@dev.local"
    );
    assert_eq!(context(&task, "CurrentSystemTime"), "6/27/2019 11:58 AM");
    assert_eq!(context(&task, "ServiceTelNumber"), "+41000000000");
    assert_eq!(
        context(&task, "ServiceDisplayName"),
        "Business Customer Care"
    );
    let first_agent = task["ReservedUserObject"]["Id"]
        .as_str()
        .expect("offered")
        .to_string();
    assert!([&aa, &bb, &cc].contains(&&first_agent));
    assert_eq!(
        task["ReservedUserObject"]["SelectionAlgorithm"],
        "PreferredAgent"
    );

    // Step 3: refresh with SetAgentOnRona → 200; the task goes back and to another preferred agent.
    let (status, _) = app
        .post(
            &format!("/v1.0/tasks/{id}/refresh?setAgentOnRona=true"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, task) = app.get(&format!("/v1.0/tasks/{id}")).await;
    assert_eq!(task["State"], "Distributed");
    let second_agent = task["ReservedUserObject"]["Id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(second_agent, first_agent);
    let (_, rona_user) = app.get(&format!("/v1.0/users/{first_agent}")).await;
    assert_eq!(rona_user["NotSelectableReason"], "Rona");

    // Step 4: setestablished → 200; again → 500 (documented); refresh now → 500 (agent connected).
    let (status, _) = app
        .post(&format!("/v1.0/tasks/{id}/setestablished"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, error) = app
        .post(&format!("/v1.0/tasks/{id}/setestablished"), json!({}))
        .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(error["Error"]["Code"], "TaskAlreadyEstablished");
    let (status, error) = app
        .post(&format!("/v1.0/tasks/{id}/refresh"), json!({}))
        .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(error["Error"]["Code"], "AgentAlreadyConnected");
    let (_, task) = app.get(&format!("/v1.0/tasks/{id}")).await;
    assert_eq!(task["State"], "Established");
    assert_eq!(task["Connected"], "27.06.2019 11:58:35.0000000Z");

    // Step 5: terminate → 200; the terminated DTO carries the agent and the algorithm; again → 404.
    app.advance(60).await;
    let (status, _) = app
        .post(&format!("/v1.0/tasks/{id}/terminate"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, task) = app.get(&format!("/v1.0/tasks/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(task["State"], "Terminated");
    assert_eq!(task["ReservedUserObject"]["Id"], second_agent.as_str());
    assert_eq!(
        task["ReservedUserObject"]["SelectionAlgorithm"],
        "PreferredAgent"
    );
    assert_eq!(
        task["ReservedUserObject"]["DisplayName"]
            .as_str()
            .map(|n| !n.is_empty()),
        Some(true)
    );
    assert_ne!(
        context(&task, "SessionAgentToken"),
        "00000000-0000-0000-0000-000000000000"
    );
    assert!(context(&task, "AgentSipUri").starts_with("sip:smoky."));
    let (status, error) = app
        .post(&format!("/v1.0/tasks/{id}/terminate"), json!({}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error["Error"]["Code"], "TaskNotFound");
}

/// Seed 001: list selectable users, block (task stays pending), unblock (the task goes to that user at once),
/// setpresence.
#[tokio::test]
async fn seed_001_block_unblock_setpresence() {
    let app = TestApp::start().await;
    let service = app.business_service().await;
    let cc = app
        .online_user("smoky.cc", "Curt", "Connors", &service)
        .await;

    let (status, users) = app.get(&format!("/v1.0/services/{service}/users")).await;
    assert_eq!(status, StatusCode::OK);
    let user = &users[0];
    assert_eq!(user["Id"], cc.as_str());
    assert_eq!(user["SipUri"], "sip:smoky.cc@dev.local");
    assert_eq!(user["IsSelectable"], true);
    assert_eq!(user["IsBlockedByLuwareApi"], false);
    assert_eq!(user["NotSelectableReason"], Value::Null);
    assert_eq!(user["PresenceState"], "Online");
    assert_eq!(user["CurrentProfile"], "Day Shift");
    assert_eq!(
        user["Traits"][0]["TraitNode"],
        "Expertise/Customer Care Services"
    );
    assert_eq!(user["Traits"][0]["Attribute"], "Expert");
    assert_eq!(
        user["Profiles"][0]["Responsibilities"][0]["Responsibility"],
        "High"
    );
    assert_eq!(user["Capabilities"]["Im"], true);
    for field in [
        "AAConfiguration",
        "RetargetType",
        "RecordingType",
        "Roles",
        "Upn",
        "Email",
        "Sam",
    ] {
        assert!(user.get(field).is_some(), "user DTO lacks {field}");
    }

    // Block: the DTO changes as documented; presence stays Online.
    let (status, user) = app
        .post(&format!("/v1.0/users/{cc}/block"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(user["IsBlockedByLuwareApi"], true);
    assert_eq!(user["NotSelectableReason"], "InAServiceTask");
    assert_eq!(user["IsSelectable"], false);
    assert_eq!(user["PresenceState"], "Online");

    let (status, id) = app
        .post(
            "/v1.0/tasks",
            json!({
                "ExternalTaskId": "testblockingtask",
                "Service": service,
                "Caller": "Get me Curt Connors now!",
                "PreferredAgents": ["sip:smoky.cc@dev.local"],
                "ConsiderPreferredAgentsOnly": true,
                "DistributeToAgent": true,
                "DistributeToAgentRONATimeoutInSeconds": 50
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let id = id.as_str().unwrap().to_string();
    let (_, task) = app.get(&format!("/v1.0/tasks/{id}")).await;
    assert_eq!(task["State"], "InQueue");

    // Unblock: the task goes to the user at once; once accepted, the user reads InAnExternalTask.
    let (status, user) = app
        .post("/v1.0/users/sip:smoky.cc@dev.local/unblock", json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(user["IsBlockedByLuwareApi"], false);
    assert_eq!(user["IsSelectable"], false);
    let (_, task) = app.get(&format!("/v1.0/tasks/{id}")).await;
    assert_eq!(task["State"], "Distributed");
    assert_eq!(task["ReservedUserObject"]["Id"], cc.as_str());
    let (status, _) = app
        .post(&format!("/v1.0/tasks/{id}/setestablished"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, user) = app.get("/v1.0/users/SMOKY.CC@dev.local").await;
    assert_eq!(user["NotSelectableReason"], "InAnExternalTask");
    assert_eq!(user["PresenceState"], "Online");

    // setpresence → 200, no body.
    let (status, body) = app
        .post(
            &format!("/v1.0/users/{cc}/setpresence"),
            json!({"Presence": "DoNotDisturb"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, Value::Null);
    let (_, user) = app.get(&format!("/v2.0/users/{cc}")).await;
    assert_eq!(user["PresenceState"], "DoNotDisturb");
}

/// RONA happens on the server's clock: after the timeout the task returns to the queue keeping its place.
#[tokio::test]
async fn rona_returns_the_task_after_the_timeout() {
    let app = TestApp::start().await;
    let service = app.business_service().await;
    let cc = app
        .online_user("smoky.cc", "Curt", "Connors", &service)
        .await;
    let (_, id) = app
        .post(
            "/v1.0/tasks",
            json!({"Service": service, "DistributeToAgentRONATimeoutInSeconds": 20}),
        )
        .await;
    let id = id.as_str().unwrap().to_string();
    let (_, task) = app.get(&format!("/v1.0/tasks/{id}")).await;
    assert_eq!(task["State"], "Distributed");
    app.advance(19).await;
    let (_, task) = app.get(&format!("/v1.0/tasks/{id}")).await;
    assert_eq!(task["State"], "Distributed");
    app.advance(1).await;
    let (_, task) = app.get(&format!("/v1.0/tasks/{id}")).await;
    assert_eq!(task["State"], "InQueue");
    let (_, user) = app.get(&format!("/v1.0/users/{cc}")).await;
    assert_eq!(user["NotSelectableReason"], "Rona");
    // Ready again (a presence change) → offered again.
    app.post(
        &format!("/v1.0/users/{cc}/setpresence"),
        json!({"Presence": "Online"}),
    )
    .await;
    let (_, task) = app.get(&format!("/v1.0/tasks/{id}")).await;
    assert_eq!(task["State"], "Distributed");
}

/// Lists: v1.0 bare arrays, v2.0 pages; queue order, longest waiting, a user's tasks.
#[tokio::test]
async fn lists_and_paging() {
    let app = TestApp::start().await;
    let service = app.business_service().await;
    for n in 0..5 {
        let (status, _) = app
            .post(
                "/v1.0/tasks",
                json!({"Service": service, "ExternalTaskId": format!("t{n}"), "Priority": n % 3}),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        app.advance(1).await;
    }
    let (status, tasks) = app.get(&format!("/v1.0/services/{service}/tasks")).await;
    assert_eq!(status, StatusCode::OK);
    let order: Vec<&str> = tasks
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["ExternalTaskId"].as_str().unwrap())
        .collect();
    assert_eq!(order, ["t2", "t1", "t4", "t0", "t3"]);
    let (_, page) = app
        .get(&format!("/v2.0/services/{service}/tasks?page=2&pageSize=2"))
        .await;
    assert_eq!(page["TotalCount"], 5);
    assert_eq!(page["Page"], 2);
    assert_eq!(page["PageSize"], 2);
    assert_eq!(page["Items"][0]["ExternalTaskId"], "t4");
    let (status, error) = app
        .get(&format!("/v2.0/services/{service}/tasks?pageSize=5000"))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    let (_, longest) = app
        .get(&format!("/v1.0/services/{service}/longestwaitingtask"))
        .await;
    assert_eq!(longest["ExternalTaskId"], "t0");
    let (_, count) = app.get("/v1.0/services/count").await;
    assert_eq!(count, 1);
    let (_, services) = app.get("/v2.0/services").await;
    assert_eq!(
        services["Items"][0]["SipUri"],
        "sip:smoky.businesss@dev.local"
    );
}

/// Bad input gets a clear 4xx in the LUCS error shape, and nothing is created.
#[tokio::test]
async fn bad_input_is_refused_clearly() {
    let app = TestApp::start().await;
    let service = app.business_service().await;
    let raw = app
        .client
        .post(format!("{}/v1.0/tasks", app.base))
        .header("api_key", crate::ADMIN_KEY)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), StatusCode::BAD_REQUEST);
    let body: Value = raw.json().await.unwrap();
    assert_eq!(body["Error"]["Code"], "BadRequest");
    let cases = [
        (json!({"Service": 42}), StatusCode::BAD_REQUEST),
        (json!({"Caller": "no service"}), StatusCode::BAD_REQUEST),
        (
            json!({"Service": "sip:nobody@dev.local"}),
            StatusCode::NOT_FOUND,
        ),
        (
            json!({"Service": service, "PreferredAgents": ["sip:ghost@dev.local"]}),
            StatusCode::NOT_FOUND,
        ),
        (
            json!({"Service": service, "DistributeToAgentRONATimeoutInSeconds": -5}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"Service": service, "Priority": "Urgentest"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"Service": service, "ConsiderPreferredAgentsOnly": true}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ];
    for (body, expected) in cases {
        let (status, error) = app.post("/v1.0/tasks", body.clone()).await;
        assert_eq!(status, expected, "{body} → {error}");
        assert!(error["Error"]["Code"].is_string(), "{error}");
        assert!(error["Error"]["Message"].is_string(), "{error}");
    }
    let (_, tasks) = app.get(&format!("/v1.0/services/{service}/tasks")).await;
    assert_eq!(tasks, json!([]), "a refused request created something");
    // Duplicate ExternalTaskId of a live task.
    app.post(
        "/v1.0/tasks",
        json!({"Service": service, "ExternalTaskId": "dup"}),
    )
    .await;
    let (status, _) = app
        .post(
            "/v1.0/tasks",
            json!({"Service": service, "ExternalTaskId": "dup"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    // Oversized body.
    let big = "x".repeat(2 * 1024 * 1024);
    let (status, _) = app
        .post("/v1.0/tasks", json!({"Service": service, "Caller": big}))
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    // Unknown presence and unknown user.
    let (status, _) = app
        .post("/v1.0/users/sip:ghost@dev.local/block", json!({}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let cc = app
        .online_user("smoky.cc", "Curt", "Connors", &service)
        .await;
    let (status, error) = app
        .post(
            &format!("/v1.0/users/{cc}/setpresence"),
            json!({"Presence": "Sleepy"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    // Unknown task.
    let (status, _) = app.get("/v1.0/tasks/no-such-task").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// What was acknowledged survives a restart; an offer that was ringing goes back to the queue keeping its
/// place and is offered again.
#[tokio::test]
async fn state_survives_a_restart() {
    let app = TestApp::start().await;
    let service = app.business_service().await;
    let cc = app
        .online_user("smoky.cc", "Curt", "Connors", &service)
        .await;
    let (_, first) = app
        .post(
            "/v1.0/tasks",
            json!({"Service": service, "ExternalTaskId": "first"}),
        )
        .await;
    let (_, second) = app
        .post(
            "/v1.0/tasks",
            json!({"Service": service, "ExternalTaskId": "second"}),
        )
        .await;
    let (dir, db_url, clock) = app.stop().await;
    let app = TestApp::start_on(&db_url, clock).await;
    let (status, task) = app
        .get(&format!("/v1.0/tasks/{}", first.as_str().unwrap()))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(task["State"], "Distributed");
    assert_eq!(task["ReservedUserObject"]["Id"], cc.as_str());
    let (_, task) = app
        .get(&format!("/v1.0/tasks/{}", second.as_str().unwrap()))
        .await;
    assert_eq!(task["State"], "InQueue");
    let (_, user) = app.get(&format!("/v1.0/users/{cc}")).await;
    assert_eq!(user["PresenceState"], "Online");
    drop(app);
    drop(dir);
}

/// User control of seed 002: absence, active profile, block tasks, user states, and task transfer.
#[tokio::test]
async fn user_control_and_transfer() {
    let app = TestApp::start().await;
    let service = app.business_service().await;
    let cc = app
        .online_user("smoky.cc", "Curt", "Connors", &service)
        .await;

    let (status, user) = app
        .post(
            &format!("/v2.0/users/{cc}/setAbsent"),
            json!({"NotReadyReason": "Lunch"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{user}");
    assert_eq!(user["NotSelectableReason"], "NotReady");
    assert_eq!(user["NotReadyReason"], "Lunch");
    let (_, id) = app.post("/v1.0/tasks", json!({"Service": service})).await;
    let id = id.as_str().unwrap().to_string();
    let (_, task) = app.get(&format!("/v1.0/tasks/{id}")).await;
    assert_eq!(task["State"], "InQueue", "an absent user gets nothing");
    let (status, user) = app
        .post(&format!("/v2.0/users/{cc}/unsetAbsent"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(user["NotReadyReason"], Value::Null);
    let (_, task) = app.get(&format!("/v1.0/tasks/{id}")).await;
    assert_eq!(task["State"], "Distributed");

    let (status, state) = app.get(&format!("/v2.0/usersStates/{cc}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(state["AgentState"], "AgentRinging");
    assert_eq!(state["Tasks"], json!([id]));
    let (_, states) = app.get("/v2.0/usersStates").await;
    assert_eq!(states["TotalCount"], 1);
    let (_, states) = app
        .get(&format!("/v2.0/services/{service}/usersStates"))
        .await;
    assert_eq!(states["Items"][0]["Id"], cc.as_str());

    // Off duty: the OffDuty profile makes the user not selectable; back to Day Shift.
    app.post(&format!("/v1.0/tasks/{id}/setestablished"), json!({}))
        .await;
    app.post(&format!("/v1.0/tasks/{id}/terminate"), json!({}))
        .await;
    let (status, user) = app
        .post(
            &format!("/v2.0/users/{cc}/setActiveProfile"),
            json!({"Profile": "OffDuty"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{user}");
    assert_eq!(user["CurrentProfile"], "OffDuty");
    assert_eq!(user["NotSelectableReason"], "OffDuty");
    let (status, _) = app
        .post(
            &format!("/v2.0/users/{cc}/setActiveProfile"),
            json!({"Profile": "Nope"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, user) = app
        .post(
            &format!("/v2.0/users/{cc}/setActiveProfile?profile=Day%20Shift"),
            json!({}),
        )
        .await;
    assert_eq!(user["IsSelectable"], true);

    // A block task keeps the user busy, reported as working, until it is terminated.
    let (status, block) = app
        .post(&format!("/v2.0/users/{cc}/addBlockTask"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, user) = app.get(&format!("/v1.0/users/{cc}")).await;
    assert_eq!(user["NotSelectableReason"], "InAServiceTask");
    let (status, _) = app
        .post(
            &format!("/v1.0/tasks/{}/terminate", block.as_str().unwrap()),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, user) = app.get(&format!("/v1.0/users/{cc}")).await;
    assert_eq!(user["IsSelectable"], true);

    // Transfer an established task to another service: it queues there.
    let (status, other) = app
        .post(
            "/v2.0/services",
            json!({"Name": "Claims", "SipUri": "sip:claims@dev.local"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, id) = app.post("/v1.0/tasks", json!({"Service": service})).await;
    let id = id.as_str().unwrap().to_string();
    app.post(&format!("/v1.0/tasks/{id}/setestablished"), json!({}))
        .await;
    let (status, error) = app
        .post(&format!("/v1.0/tasks/{id}/transfer"), json!({}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    let (status, _) = app
        .post(
            &format!("/v1.0/tasks/{id}/transfer"),
            json!({"Service": "sip:claims@dev.local"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, tasks) = app
        .get(&format!(
            "/v1.0/services/{}/tasks",
            other["Id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(tasks[0]["Id"], id.as_str());
    assert_eq!(tasks[0]["State"], "InQueue");
}

/// User provisioning of seed 002: update (merge patch), copy, template, roles, delete; profiles and service context.
#[tokio::test]
async fn user_provisioning() {
    let app = TestApp::start().await;
    let service = app.business_service().await;
    let cc = app
        .online_user("smoky.cc", "Curt", "Connors", &service)
        .await;

    let (status, user) = app
        .post(
            &format!("/v1.0/users/{cc}/update"),
            json!({"LastName": "Connors-Smith", "NumberOfSimultaneousIm": 5}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{user}");
    assert_eq!(user["LastName"], "Connors-Smith");
    assert_eq!(user["FirstName"], "Curt", "fields not given are kept");
    assert_eq!(user["NumberOfSimultaneousIm"], 5);
    assert_eq!(user["Traits"][0]["Attribute"], "Expert");
    assert_eq!(
        user["PresenceState"], "Online",
        "live state survives an update"
    );
    let (status, _) = app
        .post(
            &format!("/v1.0/users/{cc}/update"),
            json!({"Traits": "not a list"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, copy) = app
        .post(&format!("/v1.0/users/{cc}/copy"), json!({"SipUri": "sip:smoky.dd@dev.local", "FirstName": "Dora", "Upn": "smoky.dd@dev.local", "Email": "smoky.dd@dev.local"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{copy}");
    assert_ne!(copy["Id"], cc.as_str());
    assert_eq!(copy["FirstName"], "Dora");
    assert_eq!(copy["Traits"], user["Traits"]);
    let (status, _) = app.post(&format!("/v1.0/users/{cc}/copy"), json!({})).await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a copy needs its own SipUri"
    );

    let (status, roles) = app
        .post(
            &format!("/v1.0/users/{cc}/roles"),
            json!([{"OrganizationUnit": "Insurance", "Role": "Supervisor", "Permission": "Full"}]),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{roles}");
    let (_, roles) = app.get(&format!("/v2.0/users/{cc}/roles")).await;
    assert_eq!(roles[0]["Role"], "Supervisor");
    let (_, user) = app.get(&format!("/v1.0/users/{cc}")).await;
    assert_eq!(user["Roles"][0]["OrganizationUnit"], "Insurance");

    let dd = copy["Id"].as_str().unwrap().to_string();
    app.post(&format!("/v1.0/users/{dd}/update"), json!({"Traits": []}))
        .await;
    let (status, templated) = app
        .post(
            &format!("/v2.0/users/{dd}/applytemplate/{cc}"),
            json!({"FieldsToUpdate": ["Traits"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{templated}");
    assert_eq!(templated["Traits"], user["Traits"]);
    assert_eq!(templated["FirstName"], "Dora");
    let (status, _) = app
        .post(
            &format!("/v2.0/users/{dd}/applytemplate/{cc}"),
            json!({"FieldsToUpdate": ["SipUri"]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    let (_, profiles) = app.get("/v2.0/profiles").await;
    let names: Vec<&str> = profiles
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["Name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"Day Shift") && names.contains(&"OffDuty"),
        "{profiles}"
    );
    assert!(profiles
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["Name"] == "OffDuty" && p["OffDuty"] == true));

    let (_, context) = app.get(&format!("/v1.0/services/{service}/context")).await;
    assert_eq!(
        context[0],
        json!({"Name": "ServiceCulture", "Value": "en-GB"})
    );

    // A user holding a task cannot be deleted; once free, it can.
    let (_, id) = app.post("/v1.0/tasks", json!({"Service": service, "PreferredAgents": [cc], "ConsiderPreferredAgentsOnly": true})).await;
    let (status, error) = app
        .call(
            reqwest::Method::DELETE,
            &format!("/v1.0/users/{cc}"),
            Some(crate::ADMIN_KEY),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{error}");
    app.post(
        &format!("/v1.0/tasks/{}/terminate", id.as_str().unwrap()),
        json!({}),
    )
    .await;
    let (status, _) = app
        .call(
            reqwest::Method::DELETE,
            &format!("/v1.0/users/{cc}"),
            Some(crate::ADMIN_KEY),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.get(&format!("/v1.0/users/{cc}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Declarative configuration: YAML and TOML examples apply; applying again changes nothing; a change applies
/// just that change.
#[tokio::test]
async fn configuration_is_applied_idempotently() {
    let app = TestApp::start().await;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let yaml = std::fs::read_to_string(root.join("contact-center.yaml")).unwrap();
    let config = switchboard_server::configuration::parse(&yaml, "contact-center.yaml").unwrap();
    let body = serde_json::to_value(&config).unwrap();
    let (status, report) = app.post("/v2.0/configuration", body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["ServicesChanged"], 3);
    assert_eq!(report["UsersChanged"], 2);
    assert_eq!(report["ProfilesChanged"], 3);
    assert_eq!(report["SettingsChanged"], true);
    assert_eq!(report["DirectoryChanged"], 5);
    let events_before = app
        .state
        .store()
        .events_after("default", 0, 10_000)
        .unwrap()
        .len();

    let (_, again) = app.post("/v2.0/configuration", body.clone()).await;
    assert_eq!(
        again,
        json!({"SettingsChanged": false, "ProfilesChanged": 0, "ServicesChanged": 0, "UsersChanged": 0,
               "DirectoryChanged": 0, "Unchanged": 14})
    );
    let events_after = app
        .state
        .store()
        .events_after("default", 0, 10_000)
        .unwrap()
        .len();
    assert_eq!(
        events_before, events_after,
        "applying the same configuration again changed something"
    );

    // The configured contact center routes: Alisa serves insurance.
    app.post(
        "/v1.0/users/smoky.aa@dev.local/setpresence",
        json!({"Presence": "Online"}),
    )
    .await;
    let (_, id) = app
        .post("/v1.0/tasks", json!({"Service": "sip:insurance@dev.local"}))
        .await;
    let (_, task) = app
        .get(&format!("/v1.0/tasks/{}", id.as_str().unwrap()))
        .await;
    assert_eq!(
        task["ReservedUserObject"]["SipUri"],
        "sip:smoky.aa@dev.local"
    );
    let (_, service) = app.get("/v1.0/services/sip:insurance@dev.local").await;
    assert_eq!(service["MaxWaitTimeInSeconds"], 120);

    // One change: only that user changes.
    let mut changed = body.clone();
    changed["Users"][1]["LastName"] = json!("Connors-Smith");
    let (_, report) = app.post("/v2.0/configuration", changed).await;
    assert_eq!(report["UsersChanged"], 1);
    assert_eq!(report["Unchanged"], 13);
    let (_, user) = app.get("/v1.0/users/smoky.cc@dev.local").await;
    assert_eq!(user["LastName"], "Connors-Smith");

    let toml = std::fs::read_to_string(root.join("small.toml")).unwrap();
    let config = switchboard_server::configuration::parse(&toml, "small.toml").unwrap();
    let (status, report) = app
        .post(
            "/v2.0/configuration",
            serde_json::to_value(&config).unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["ServicesChanged"], 1);

    // Mistakes are named and nothing is half-applied.
    let error = switchboard_server::configuration::parse("Servics: []", "bad.yaml").unwrap_err();
    assert!(error.contains("Servics"), "{error}");
    let (status, error) = app
        .post(
            "/v2.0/configuration",
            json!({"Services": [{"Name": "No identity"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
}

/// A document with one bad entry anywhere is refused before anything is applied: the answer names the entry,
/// and neither the engine's log nor the stored configuration changes. Entries may refer to services declared
/// earlier in the same document.
#[tokio::test]
async fn a_configuration_with_a_bad_entry_changes_nothing() {
    let app = TestApp::start().await;
    let good = json!({
        "Settings": {"TaskLifetimeInDays": 3},
        "Profiles": [{"Name": "Late"}],
        "OrganizationUnits": [{"Name": "Care"}, {"Name": "Care North", "ParentId": "Care"}],
        "AbsenceReasons": ["Training"],
        "Services": [
            {"Name": "Overflow", "SipUri": "sip:overflow@dev.local"},
            {"Name": "Care", "SipUri": "sip:care@dev.local", "OverflowService": "sip:overflow@dev.local",
             "RequiredTraits": [{"TraitNode": "German", "Attribute": "Advanced"}]}
        ],
        "Users": [{"SipUri": "sip:ann@dev.local", "FirstName": "Ann",
                   "Services": [{"Service": "care@dev.local"}]}],
        "AccessPoints": [{"Name": "care@customer.example", "Service": "sip:care@dev.local"}],
        "CallbackPeriods": [{"Name": "Morning", "PeriodStart": "08:00", "PeriodEnd": "12:00"}]
    });
    let stored = |app: &TestApp| {
        let store = app.state.store();
        let events = store.events_after("default", 0, 10_000).unwrap().len();
        let entries: usize = [
            "organization_unit",
            "absence_reason",
            "access_point",
            "callback_period",
        ]
        .iter()
        .map(|kind| store.list_entries("default", kind).unwrap().len())
        .sum();
        (events, entries)
    };
    let before = stored(&app);
    // Each of these breaks one entry of an otherwise good document, late in the order of application.
    type Break = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Break, &str)> = vec![
        (
            "bad trait level",
            Box::new(|c| c["Services"][1]["RequiredTraits"][0]["Attribute"] = json!("Superb")),
            "Services[1]",
        ),
        (
            "bad strategy",
            Box::new(|c| c["Services"][1]["DistributionStrategy"] = json!("Fastest")),
            "Services[1]",
        ),
        (
            "overflow to a later service",
            Box::new(|c| c["Services"][0]["OverflowService"] = json!("sip:care@dev.local")),
            "Services[0]",
        ),
        (
            "user of an unknown service",
            Box::new(|c| c["Users"][0]["Services"][0]["Service"] = json!("sip:nope@dev.local")),
            "Users[0]",
        ),
        (
            "user id not a UUID",
            Box::new(|c| c["Users"][0]["Id"] = json!("ann")),
            "Users[0]",
        ),
        (
            "empty profile of a user",
            Box::new(|c| c["Users"][0]["CurrentProfile"] = json!(" ")),
            "Users[0]",
        ),
        (
            "access point to an unknown service",
            Box::new(|c| c["AccessPoints"][0]["Service"] = json!("sip:nope@dev.local")),
            "AccessPoints[0]",
        ),
        (
            "period ending before it starts",
            Box::new(|c| c["CallbackPeriods"][0]["PeriodEnd"] = json!("07:00")),
            "CallbackPeriods[0]",
        ),
        (
            "unit under an unknown parent",
            Box::new(|c| c["OrganizationUnits"][1]["ParentId"] = json!("Nowhere")),
            "OrganizationUnits[1]",
        ),
        (
            "empty absence reason",
            Box::new(|c| c["AbsenceReasons"][0] = json!("")),
            "AbsenceReasons[0]",
        ),
    ];
    for (case, break_it, entry) in &cases {
        let mut config = good.clone();
        break_it(&mut config);
        let (status, error) = app.post("/v2.0/configuration", config).await;
        assert!(status.is_client_error(), "{case}: {status} {error}");
        let message = error["Error"]["Message"].as_str().unwrap_or_default();
        assert!(message.starts_with(entry), "{case}: {error}");
        assert_eq!(stored(&app), before, "{case}: something was applied");
    }
    let (status, report) = app.post("/v2.0/configuration", good).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["ServicesChanged"], 2, "{report}");
    assert_eq!(report["UsersChanged"], 1, "{report}");
}

/// Organization units: a tree whose lists include descendants; absence reasons restrict setAbsent.
#[tokio::test]
async fn organization_units_and_absence_reasons() {
    let app = TestApp::start().await;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let yaml = std::fs::read_to_string(root.join("contact-center.yaml")).unwrap();
    let config = switchboard_server::configuration::parse(&yaml, "contact-center.yaml").unwrap();
    app.post(
        "/v2.0/configuration",
        serde_json::to_value(&config).unwrap(),
    )
    .await;

    let (status, units) = app.get("/v1.0/organizationunits").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(units.as_array().unwrap().len(), 2);
    let (_, claims) = app.get("/v2.0/organizationunits/Claims").await;
    let (_, parent) = app
        .get("/v1.0/organizationunits/Insurance%20Services")
        .await;
    assert_eq!(claims["ParentId"], parent["Id"]);
    let (_, services) = app
        .get("/v1.0/organizationunits/Insurance%20Services/services")
        .await;
    let names: Vec<&str> = services
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["Name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["Insurance"],
        "the parent's list includes its child unit's services"
    );
    let (_, users) = app
        .get("/v2.0/organizationunits/Insurance%20Services/users")
        .await;
    assert_eq!(users["TotalCount"], 1);
    assert_eq!(users["Items"][0]["SipUri"], "sip:smoky.aa@dev.local");
    let (_, states) = app
        .get("/v2.0/organizationunits/Insurance%20Services/usersStates")
        .await;
    assert_eq!(states["TotalCount"], 1);
    let (status, _) = app.get("/v1.0/organizationunits/Nowhere").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // A unit cannot become its own ancestor, needs an existing parent, and cannot go while in use.
    let (status, _) = app
        .post(
            "/v2.0/organizationunits",
            json!({"Name": "Insurance Services", "ParentId": "Claims"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = app
        .post(
            "/v2.0/organizationunits",
            json!({"Name": "Orphan", "ParentId": "Ghost"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = app
        .call(
            reqwest::Method::DELETE,
            "/v2.0/organizationunits/Claims",
            Some(crate::ADMIN_KEY),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "services still belong to it");
    let (status, unit) = app
        .post(
            "/v2.0/organizationunits",
            json!({"Name": "Spare", "ParentId": "Claims"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{unit}");
    let (status, _) = app
        .call(
            reqwest::Method::DELETE,
            "/v2.0/organizationunits/Spare",
            Some(crate::ADMIN_KEY),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let (_, reasons) = app
        .get("/v2.0/users/smoky.aa@dev.local/getAbsentReasons")
        .await;
    let names: Vec<&str> = reasons
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["Name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Coaching", "Lunch", "Training"]);
    let (status, error) = app
        .post(
            "/v2.0/users/smoky.aa@dev.local/setAbsent",
            json!({"NotReadyReason": "Nap"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    let (status, _) = app
        .post(
            "/v2.0/users/smoky.aa@dev.local/setAbsent",
            json!({"NotReadyReason": "Lunch"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

/// Conversation-as services and outbound calls.
#[tokio::test]
async fn conversation_as_and_outbound_calls() {
    let app = TestApp::start().await;
    let service = app.business_service().await;
    let cc = app
        .online_user("smoky.cc", "Curt", "Connors", &service)
        .await;
    let (status, services) = app
        .get(&format!("/v1.0/users/{cc}/services/conversationas"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(services[0]["Id"], service.as_str());
    let (status, user) = app
        .post(
            &format!("/v2.0/users/{cc}/setConversationAsService"),
            json!({"Service": service}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{user}");
    assert_eq!(user["ConversationAsService"], "Business Customer Care");
    let (other, _) = app
        .post(
            "/v2.0/services",
            json!({"Name": "Other", "SipUri": "sip:other@dev.local"}),
        )
        .await;
    assert_eq!(other, StatusCode::OK);
    let (status, _) = app
        .post(
            &format!("/v2.0/users/{cc}/setConversationAsService"),
            json!({"Service": "sip:other@dev.local"}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "not a service the user serves"
    );

    let (status, id) = app
        .post(
            "/v1.0/tasks/outboundCall/start",
            json!({"Target": "+41790000000", "User": cc, "CallerId": "+41000000000"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{id}");
    let (_, task) = app
        .get(&format!("/v1.0/tasks/{}", id.as_str().unwrap()))
        .await;
    assert_eq!(task["Type"], "OutboundCall");
    assert_eq!(task["State"], "Distributed");
    assert_eq!(task["CustomerIdentifier"], "+41790000000");
    let (_, state) = app.get(&format!("/v2.0/usersStates/{cc}")).await;
    assert_eq!(state["AgentState"], "AgentDialing");
    let (status, _) = app
        .post("/v1.0/tasks/outboundCall/start", json!({"Target": "+41"}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

/// Callbacks (PROTOCOLS.md): create, scheduled by due date, get by id or external id, search, cancel.
#[tokio::test]
async fn callbacks_lifecycle() {
    let app = TestApp::start().await;
    let service = app.business_service().await;
    // Due tomorrow (the test clock starts on 27.06.2019): pending until then.
    let (status, later) = app
        .post(
            "/v1.0/callbacks",
            json!({"Target": "+41790000001", "SecondsBetweenRetries": 300, "MaxRetries": 3, "Priority": "High",
                   "ServiceSip": "sip:smoky.businesss@dev.local", "DueDate": "2019-06-28T09:00:00Z",
                   "Description": "Call about the claim", "ExternalTaskId": "cb-1", "CallerId": "+41000000000"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{later}");
    let (status, now) = app
        .post(
            "/v2.0/callbacks",
            json!({"Target": "+41790000002", "SecondsBetweenRetries": 60, "Priority": "Normal", "ServiceId": service}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{now}");
    let (_, callback) = app
        .get(&format!("/v1.0/callbacks/{}", later.as_str().unwrap()))
        .await;
    assert_eq!(callback["State"], "Pending");
    assert_eq!(callback["Target"], "+41790000001");
    assert_eq!(callback["MaxRetries"], 3);
    assert_eq!(callback["SecondsBetweenRetries"], 300);
    assert_eq!(callback["Priority"], "High");
    assert_eq!(callback["ServiceSip"], "sip:smoky.businesss@dev.local");
    assert_eq!(callback["Description"], "Call about the claim");
    assert_eq!(callback["RetryCount"], 0);
    let (_, same) = app.get("/v1.0/callbacks/cb-1").await;
    assert_eq!(same["Id"], callback["Id"]);
    let (_, by_query) = app.get("/v1.0/callbacks?externalTaskId=cb-1").await;
    assert_eq!(by_query["Id"], callback["Id"]);
    let (_, queued) = app
        .get(&format!("/v2.0/callbacks/{}", now.as_str().unwrap()))
        .await;
    assert_eq!(queued["State"], "InQueue");

    let (_, all) = app.post("/v1.0/callbacks/search", json!({})).await;
    assert_eq!(all.as_array().unwrap().len(), 2);
    let (_, pending) = app
        .post("/v1.0/callbacks/search", json!({"State": "Pending"}))
        .await;
    assert_eq!(pending.as_array().unwrap().len(), 1);
    assert_eq!(pending[0]["ExternalTaskId"], "cb-1");
    let (_, paged) = app
        .post("/v1.0/callbacks/search", json!({"Limit": 1, "Offset": 1}))
        .await;
    assert_eq!(paged.as_array().unwrap().len(), 1);

    // The due time comes on the server clock: the callback enters the queue.
    app.advance(24 * 3600).await;
    let (_, due) = app.get("/v1.0/callbacks/cb-1").await;
    assert_eq!(due["State"], "InQueue");

    let (status, _) = app.post("/v1.0/callbacks/cb-1/cancel", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, cancelled) = app.get("/v1.0/callbacks/cb-1").await;
    assert_eq!(status, StatusCode::OK, "finished callbacks stay readable");
    assert_eq!(cancelled["State"], "Terminated");
    let (_, terminated) = app
        .post("/v1.0/callbacks/search", json!({"State": "Terminated"}))
        .await;
    assert_eq!(terminated.as_array().unwrap().len(), 1);
    let (status, _) = app.post("/v1.0/callbacks/cb-1/cancel", json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    for (body, expected) in [
        (
            json!({"SecondsBetweenRetries": 1, "Priority": "High", "ServiceId": service}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"Target": "1", "Priority": "High", "ServiceId": service}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"Target": "1", "SecondsBetweenRetries": 1, "ServiceId": service}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"Target": "1", "SecondsBetweenRetries": 1, "Priority": "High"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"Target": "1", "SecondsBetweenRetries": 1, "Priority": "Urgentest", "ServiceId": service}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"Target": "1", "SecondsBetweenRetries": 1, "Priority": "High", "ServiceId": service, "Description": "x".repeat(151)}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"Target": "1", "SecondsBetweenRetries": 1, "Priority": "High", "ServiceId": service, "DueDate": "someday"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"Target": "1", "SecondsBetweenRetries": 1, "Priority": "High", "ServiceSip": "sip:nobody@dev.local"}),
            StatusCode::NOT_FOUND,
        ),
    ] {
        let (status, error) = app.post("/v1.0/callbacks", body.clone()).await;
        assert_eq!(status, expected, "{body} → {error}");
    }
    let (_, all) = app.post("/v1.0/callbacks/search", json!({})).await;
    assert_eq!(
        all.as_array().unwrap().len(),
        2,
        "a refused request created something"
    );
}

/// Consultative calls (seed 002): consult a colleague (busy for routing meanwhile), merge, audio routes, leave
/// (the colleague has the task at once); consult an outside number and transfer the call out; the customer
/// hangs up during a consultation; every refusal.
#[tokio::test]
async fn consultative_calls() {
    let app = TestApp::start().await;
    let service = app.business_service().await;
    let a = app.online_user("smoky.a", "Ann", "Agent", &service).await;
    let b = app.online_user("smoky.b", "Ben", "Expert", &service).await;
    let call_for = |agent: &str, caller: &str| {
        json!({"Service": service, "Caller": caller, "Type": "IncomingCall",
               "PreferredAgents": [agent], "ConsiderPreferredAgentsOnly": true})
    };
    let (status, id) = app.post("/v1.0/tasks", call_for(&a, "+41790000001")).await;
    assert_eq!(status, StatusCode::OK, "{id}");
    let task = id.as_str().unwrap().to_string();
    let consult = format!("/v1.0/tasks/{task}/consultationCall");

    // Only an established call can consult.
    let (status, body) = app.post(&consult, json!({"User": b})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, _) = app
        .post(&format!("/v1.0/tasks/{task}/setestablished"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app.get(&consult).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["Error"]["Code"], "ConsultationCallNotFound", "{body}");
    for (bad, expected) in [
        (json!({}), StatusCode::BAD_REQUEST),
        (json!({"User": b, "Target": "+41"}), StatusCode::BAD_REQUEST),
        (json!({"Target": "  "}), StatusCode::BAD_REQUEST),
        (json!({"User": "nobody@dev.local"}), StatusCode::NOT_FOUND),
        (json!({"User": a}), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({"User": 42}), StatusCode::BAD_REQUEST),
    ] {
        let (status, body) = app.post(&consult, bad.clone()).await;
        assert_eq!(status, expected, "{bad} -> {body}");
    }
    let (status, _) = app
        .get(&format!("/v1.0/tasks/{task}/consultationCall"))
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a refused start creates nothing"
    );

    // Consult b: the customer waits on hold, b is busy for routing.
    let (status, body) = app.post(&consult, json!({"User": b})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["Status"], "Connected");
    assert_eq!(body["InitiatorUserId"], a.as_str());
    assert_eq!(body["TargetUserId"], b.as_str());
    assert_eq!(body["Target"], Value::Null);
    assert_eq!(body["CustomerConnected"], true);
    assert_eq!(body["AudioRoutes"]["CustomerHearsConsultant"], true);
    let (_, got) = app
        .get(&format!("/v2.0/tasks/{task}/consultationCall"))
        .await;
    assert_eq!(got, body, "GET shows what POST answered");
    let (_, shown) = app.get(&format!("/v1.0/tasks/{task}")).await;
    assert_eq!(shown["State"], "OnHold");
    let (_, state) = app.get(&format!("/v2.0/usersStates/{b}")).await;
    assert_eq!(state["AgentState"], "AgentOnCall", "{state}");
    assert_eq!(state["IsSelectable"], false);
    for user in [&a, &b] {
        let (status, calls) = app
            .get(&format!("/v2.0/users/{user}/consultativeCalls"))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(calls.as_array().unwrap().len(), 1, "{calls}");
        assert_eq!(calls[0]["TaskId"], task.as_str());
    }
    let (status, _) = app.post(&consult, json!({"User": b})).await;
    assert_eq!(status, StatusCode::CONFLICT, "one consultation at a time");
    // Work for the service waits: a is on the call, b is consulted.
    let (status, id) = app
        .post(
            "/v1.0/tasks",
            json!({"Service": service, "Caller": "+41790000002", "Type": "IncomingCall"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let waiting = id.as_str().unwrap().to_string();
    let (_, shown) = app.get(&format!("/v1.0/tasks/{waiting}")).await;
    assert_eq!(shown["State"], "InQueue");

    let (status, body) = app.post(&format!("{consult}/leave"), json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["Error"]["Code"], "InvalidConsultationCallState");
    let routes = json!({"CustomerHearsConsultant": false, "ConsultantHearsCustomer": true});
    let (status, _) = app
        .post(&format!("{consult}/audioRoutes"), routes.clone())
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "audio routes need a merged call"
    );
    let (status, body) = app.post(&format!("{consult}/merge"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["Status"], "Merged");
    assert!(body["MergeDate"].is_string());
    let (_, shown) = app.get(&format!("/v1.0/tasks/{task}")).await;
    assert_eq!(shown["State"], "Established", "the customer is off hold");
    let (status, body) = app
        .post(&format!("{consult}/audioRoutes"), routes.clone())
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["AudioRoutes"], routes);
    let (status, _) = app
        .post(
            &format!("{consult}/audioRoutes"),
            json!({"CustomerHearsConsultant": "no"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = app
        .post(
            &format!("/v1.0/tasks/{task}/transfer"),
            json!({"Service": service}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["Error"]["Code"], "ConsultationCallActive");

    // a leaves: b has the call at once, a is free and takes the waiting call.
    let (status, body) = app.post(&format!("{consult}/leave"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"Id": task, "State": "Established"}));
    let (_, held) = app.get(&format!("/v1.0/users/{b}/tasks")).await;
    assert_eq!(held[0]["Id"], task.as_str(), "{held}");
    let (status, _) = app.get(&consult).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, calls) = app.get(&format!("/v1.0/users/{a}/consultativeCalls")).await;
    assert_eq!(calls, json!([]));
    let (_, shown) = app.get(&format!("/v1.0/tasks/{waiting}")).await;
    assert_eq!(shown["State"], "Distributed", "{shown}");

    // b consults an outside number; the customer hangs up; ending the consultation ends the task.
    let (status, body) = app.post(&consult, json!({"Target": "+41441234567"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["Target"], "+41441234567");
    assert_eq!(body["TargetUserId"], Value::Null);
    assert_eq!(body["InitiatorUserId"], b.as_str());
    let (status, body) = app
        .post(&format!("{consult}/terminateCustomerCall"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["CustomerConnected"], false);
    let (status, _) = app.post(&format!("{consult}/merge"), json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "the customer is gone");
    let (status, body) = app.post(&format!("{consult}/terminate"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["State"], "Terminated");
    let (_, shown) = app.get(&format!("/v1.0/tasks/{task}")).await;
    assert_eq!(shown["State"], "Terminated");

    // a takes the waiting call, consults a number, and hands the call out of the contact center.
    let other = format!("/v2.0/tasks/{waiting}/consultationCall");
    let (status, _) = app
        .post(&format!("/v1.0/tasks/{waiting}/setestablished"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.post(&other, json!({"Target": "+41441234567"})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app.post(&format!("{other}/terminate"), json!({})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["State"], "Established", "back to the customer");
    let (status, _) = app.post(&other, json!({"Target": "+41441234567"})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app.post(&format!("{other}/transfer"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["State"], "Terminated");
    let (status, _) = app.post(&format!("{other}/transfer"), json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the task is gone");

    // Only incoming calls consult.
    let (status, id) = app
        .post("/v1.0/tasks", json!({"Service": service, "Caller": "crm"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let external = id.as_str().unwrap();
    app.post(&format!("/v1.0/tasks/{external}/setestablished"), json!({}))
        .await;
    let (status, body) = app
        .post(
            &format!("/v1.0/tasks/{external}/consultationCall"),
            json!({"Target": "+41441234567"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body["Error"]["Message"]
        .as_str()
        .unwrap()
        .contains("incoming call"));
}
