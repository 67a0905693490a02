//! Every route against every role: permitted roles get past authorization, every other gets the documented 401.
//! Missing, wrong, revoked and expired keys, and tenant isolation.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use switchboard_core::{Span, Time};
use switchboard_server::auth::Role;
use switchboard_server::{create_key, NewKey};

use crate::TestApp;

/// (method, path, roles that may call it). Paths use ids created by `fixture`.
fn routes(service: &str, user: &str, task: &str) -> Vec<(Method, String, Vec<Role>)> {
    use Role::*;
    let read_tasks = vec![TasksReadonly, TasksManage];
    let read_users = vec![UserReadonly, UserProvision];
    let read_services = vec![ServiceReadonly, Configuration];
    let mut table = Vec::new();
    for v in ["v1.0", "v2.0"] {
        table.extend([
            (Method::POST, format!("/{v}/tasks"), vec![TasksManage]),
            (
                Method::GET,
                format!("/{v}/tasks/{task}"),
                read_tasks.clone(),
            ),
            (
                Method::POST,
                format!("/{v}/tasks/{task}/refresh"),
                vec![TasksManage],
            ),
            (
                Method::POST,
                format!("/{v}/tasks/{task}/setestablished"),
                vec![TasksManage],
            ),
            (
                Method::POST,
                format!("/{v}/tasks/{task}/hold"),
                vec![TasksManage],
            ),
            (
                Method::POST,
                format!("/{v}/tasks/{task}/resume"),
                vec![TasksManage],
            ),
            (
                Method::POST,
                format!("/{v}/tasks/{task}/terminate"),
                vec![TasksManage],
            ),
            (
                Method::POST,
                format!("/{v}/tasks/{task}/consultationCall"),
                vec![TasksManage],
            ),
            (
                Method::POST,
                format!("/{v}/tasks/{task}/consultationCall/merge"),
                vec![TasksManage],
            ),
            (
                Method::POST,
                format!("/{v}/tasks/{task}/consultationCall/transfer"),
                vec![TasksManage],
            ),
            (
                Method::POST,
                format!("/{v}/tasks/{task}/consultationCall/terminate"),
                vec![TasksManage],
            ),
            (
                Method::POST,
                format!("/{v}/tasks/{task}/consultationCall/leave"),
                vec![TasksManage],
            ),
            (
                Method::POST,
                format!("/{v}/tasks/{task}/consultationCall/audioRoutes"),
                vec![TasksManage],
            ),
            (
                Method::POST,
                format!("/{v}/tasks/{task}/consultationCall/terminateCustomerCall"),
                vec![TasksManage],
            ),
            (
                Method::GET,
                format!("/{v}/tasks/{task}/consultationCall"),
                read_tasks.clone(),
            ),
            (
                Method::GET,
                format!("/{v}/users/{user}/consultativeCalls"),
                read_tasks.clone(),
            ),
            (
                Method::GET,
                format!("/{v}/services/{service}/tasks"),
                read_tasks.clone(),
            ),
            (
                Method::GET,
                format!("/{v}/services/{service}/longestwaitingtask"),
                read_tasks.clone(),
            ),
            (
                Method::GET,
                format!("/{v}/users/{user}/tasks"),
                read_tasks.clone(),
            ),
            (Method::GET, format!("/{v}/services"), read_services.clone()),
            (
                Method::GET,
                format!("/{v}/services/count"),
                read_services.clone(),
            ),
            (
                Method::GET,
                format!("/{v}/services/{service}"),
                read_services.clone(),
            ),
            (
                Method::GET,
                format!("/{v}/services/{service}/users"),
                read_users.clone(),
            ),
            (Method::GET, format!("/{v}/users"), read_users.clone()),
            (Method::POST, format!("/{v}/users"), vec![UserProvision]),
            (
                Method::GET,
                format!("/{v}/users/{user}"),
                read_users.clone(),
            ),
            (
                Method::POST,
                format!("/{v}/users/{user}/block"),
                vec![UserControl],
            ),
            (
                Method::POST,
                format!("/{v}/users/{user}/unblock"),
                vec![UserControl],
            ),
            (
                Method::POST,
                format!("/{v}/users/{user}/setpresence"),
                vec![UserControl],
            ),
        ]);
    }
    // v2.0-only routes (seed 002), plus switchboard's configuration extensions.
    let v2_only: Vec<(Method, String, Vec<Role>)> = vec![
        (
            Method::POST,
            format!("/v2.0/users/{user}/setAbsent"),
            vec![UserControl],
        ),
        (
            Method::POST,
            format!("/v2.0/users/{user}/unsetAbsent"),
            vec![UserControl],
        ),
        (
            Method::POST,
            format!("/v2.0/users/{user}/setActiveProfile"),
            vec![UserControl],
        ),
        (
            Method::POST,
            format!("/v2.0/users/{user}/setConversationAsService"),
            vec![UserControl],
        ),
        (
            Method::GET,
            format!("/v2.0/users/{user}/getAbsentReasons"),
            vec![UserControl],
        ),
        (
            Method::POST,
            format!("/v2.0/users/{user}/addBlockTask"),
            vec![TasksManage],
        ),
        (
            Method::GET,
            "/v2.0/usersStates".to_string(),
            vec![UserControl],
        ),
        (
            Method::GET,
            format!("/v2.0/usersStates/{user}"),
            vec![UserControl],
        ),
        (
            Method::GET,
            format!("/v2.0/services/{service}/usersStates"),
            vec![UserControl],
        ),
        (
            Method::GET,
            "/v2.0/profiles".to_string(),
            vec![UserReadonly, UserProvision],
        ),
        (
            Method::POST,
            "/v2.0/callbacks/search".to_string(),
            vec![TasksManage],
        ),
        (
            Method::POST,
            "/v2.0/organizationunits".to_string(),
            vec![Configuration],
        ),
        (
            Method::POST,
            "/v2.0/absencereasons".to_string(),
            vec![Configuration],
        ),
        (
            Method::POST,
            "/v2.0/configuration".to_string(),
            vec![Configuration],
        ),
    ];
    table.extend(v2_only);
    table.push((
        Method::POST,
        "/v2.0/services".to_string(),
        vec![Configuration],
    ));
    // The task explorer and the wallboard's API-key sessions (extensions).
    table.extend([
        (Method::GET, "/v2.0/tasks".to_string(), read_tasks.clone()),
        (
            Method::GET,
            format!("/v2.0/tasks/{task}/timeline"),
            read_tasks.clone(),
        ),
        (
            Method::GET,
            format!("/v2.0/tasks/{task}/explanation"),
            read_tasks.clone(),
        ),
        (
            Method::POST,
            "/v2.0/cti/watchtoken".to_string(),
            vec![UserReadonly, UserProvision, UserControl],
        ),
    ]);
    table
}

/// Routes that destroy their target, checked last.
fn destructive_routes(user: &str) -> Vec<(Method, String, Vec<Role>)> {
    vec![(
        Method::DELETE,
        format!("/v1.0/users/{user}"),
        vec![Role::UserProvision],
    )]
}

fn key_for(app: &TestApp, tenant: &str, roles: &[Role], expires_at: Option<Time>) -> String {
    create_key(
        app.state.store(),
        &NewKey {
            tenant: tenant.to_string(),
            name: format!("{roles:?}"),
            roles: roles.to_vec(),
            expires_at,
            rate_limit: None,
            burst_limit: None,
        },
        app.state.now(),
    )
    .expect("key")
    .key
}

/// A server with a service, an online user holding a task, and one key per role.
struct RoleFixture {
    app: TestApp,
    service: String,
    user: String,
    task: String,
    keys: Vec<(Role, String)>,
}

impl RoleFixture {
    async fn start() -> RoleFixture {
        let app = TestApp::start().await;
        let service = app.business_service().await;
        let user = app
            .online_user("smoky.cc", "Curt", "Connors", &service)
            .await;
        let (_, task) = app
            .post(
                "/v1.0/tasks",
                json!({"Service": service, "ExternalTaskId": "auth"}),
            )
            .await;
        let task = task.as_str().unwrap().to_string();
        let keys = Role::ALL
            .iter()
            .map(|role| (*role, key_for(&app, "default", &[*role], None)))
            .collect();
        RoleFixture {
            app,
            service,
            user,
            task,
            keys,
        }
    }
}

#[tokio::test]
async fn every_route_against_every_role() {
    let RoleFixture {
        app,
        service,
        user,
        task,
        keys,
    } = RoleFixture::start().await;
    let mut table = routes(&service, &user, &task);
    table.extend(destructive_routes(&user));
    for (method, path, allowed) in &table {
        for (role, key) in &keys {
            let (status, body) = app
                .call(method.clone(), path, Some(key), Some(json!({})))
                .await;
            if allowed.contains(role) {
                assert_ne!(
                    status,
                    StatusCode::UNAUTHORIZED,
                    "{method} {path} refused {role:?}: {body}"
                );
            } else {
                assert_eq!(
                    status,
                    StatusCode::UNAUTHORIZED,
                    "{method} {path} allowed {role:?}: {body}"
                );
                assert_eq!(body["Error"]["Code"], "Unauthorized", "{method} {path}");
            }
        }
        let (status, body) = app.call(method.clone(), path, None, Some(json!({}))).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{method} {path} without a key"
        );
        assert_eq!(
            body,
            json!({"Error": {"Code": "Unauthorized", "Message": "Header 'api_key' not found."}})
        );
    }
}

#[tokio::test]
async fn wrong_revoked_and_expired_keys_are_refused() {
    let app = TestApp::start().await;
    let (status, body) = app
        .call(Method::GET, "/v1.0/services", Some("sb_wrong"), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["Error"]["Code"], "Unauthorized");

    let expiring = key_for(
        &app,
        "default",
        &[Role::ServiceReadonly],
        Some(app.state.now().plus(Span::from_secs(60))),
    );
    let (status, _) = app
        .call(Method::GET, "/v1.0/services", Some(&expiring), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    app.advance(61).await;
    let (status, body) = app
        .call(Method::GET, "/v1.0/services", Some(&expiring), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["Error"]["Message"], "The API key has expired.");

    let revoked = key_for(&app, "default", &[Role::ServiceReadonly], None);
    let (status, _) = app
        .call(Method::GET, "/v1.0/services", Some(&revoked), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let record = app
        .state
        .store()
        .list_keys()
        .unwrap()
        .into_iter()
        .find(|k| k.key_hash == switchboard_server::auth::hash_key(&revoked))
        .unwrap();
    assert!(app
        .state
        .store()
        .revoke_key(&record.id, app.state.now())
        .unwrap());
    // Revocation from another process is seen within the key cache's one-second lifetime.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    loop {
        let (status, _) = app
            .call(Method::GET, "/v1.0/services", Some(&revoked), None)
            .await;
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "revoked key still accepted"
        );
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn a_key_never_sees_another_tenant() {
    let app = TestApp::start().await;
    let service = app.business_service().await;
    let (_, task) = app
        .post(
            "/v1.0/tasks",
            json!({"Service": service, "ExternalTaskId": "secret"}),
        )
        .await;
    let other = key_for(&app, "other-tenant", &Role::ALL, None);
    let (status, _) = app
        .call(Method::GET, "/v1.0/tasks/secret", Some(&other), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .call(
            Method::GET,
            &format!("/v1.0/tasks/{}", task.as_str().unwrap()),
            Some(&other),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, services) = app
        .call(Method::GET, "/v1.0/services", Some(&other), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(services, Value::Array(vec![]));
    let (status, _) = app
        .call(
            Method::POST,
            "/v1.0/tasks",
            Some(&other),
            Some(json!({"Service": service})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Rate and burst limits per key answer 429 with `Retry-After`, are not queued, and reset with their window.
#[tokio::test]
async fn rate_and_burst_limits_hold_per_key() {
    let app = TestApp::start().await;
    let limited = create_key(
        app.state.store(),
        &NewKey {
            tenant: "default".into(),
            name: "limited".into(),
            roles: vec![Role::ServiceReadonly],
            expires_at: None,
            rate_limit: Some("3/m".into()),
            burst_limit: Some("2/s".into()),
        },
        app.state.now(),
    )
    .expect("key")
    .key;
    let get = |key: String| {
        let client = app.client.clone();
        let url = format!("{}/v1.0/services", app.base);
        async move {
            let response = client.get(url).header("api_key", key).send().await.unwrap();
            let retry = response
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_string());
            let status = response.status();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            (status, retry, body)
        }
    };
    // Align with the start of a minute so both windows are fresh.
    let now = app.state.now().as_micros();
    app.clock
        .advance(Span(60_000_000 - now.rem_euclid(60_000_000)));
    assert_eq!(get(limited.clone()).await.0, StatusCode::OK);
    assert_eq!(get(limited.clone()).await.0, StatusCode::OK);
    let (status, retry, body) = get(limited.clone()).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(retry.as_deref(), Some("1"));
    assert_eq!(body["Error"]["Message"], "Too many requests");
    // Another key is not affected.
    assert_eq!(app.get("/v1.0/services").await.0, StatusCode::OK);
    app.clock.advance(Span::from_secs(1));
    assert_eq!(get(limited.clone()).await.0, StatusCode::OK);
    let (status, retry, _) = get(limited.clone()).await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "the rate limit (3 per minute) holds"
    );
    assert_eq!(retry.as_deref(), Some("59"));
    app.clock.advance(Span::from_secs(59));
    assert_eq!(get(limited.clone()).await.0, StatusCode::OK);
}

/// `/metrics` speaks Prometheus: requests by route pattern and status, offers, waiting tasks, agents by state.
#[tokio::test]
async fn metrics_are_exposed() {
    let app = TestApp::start().await;
    let service = app.business_service().await;
    app.online_user("smoky.cc", "Curt", "Connors", &service)
        .await;
    app.post("/v1.0/tasks", json!({"Service": service})).await;
    app.post("/v1.0/tasks", json!({"Service": service})).await;
    let text = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("switchboard_http_requests_total{route=\"/v1.0/tasks\",status=\"200\"} 2"),
        "{text}"
    );
    assert!(text.contains(
        "switchboard_http_request_duration_seconds_bucket{route=\"/v1.0/tasks\",le=\"+Inf\"} 2"
    ));
    assert!(text.contains("switchboard_offers_total 1"), "{text}");
    assert!(text.contains(&format!(
        "switchboard_tasks_waiting{{tenant=\"default\",service=\"{service}\"}} 1"
    )));
    assert!(text.contains("switchboard_agents{tenant=\"default\",state=\"AgentRinging\"} 1"));
    assert!(text.contains("switchboard_store_commits_total"));
    // The tenant's first snapshot was stored when it was created: its phases and size are reported.
    let value = |name: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
            .unwrap_or_else(|| panic!("{name} missing: {text}"))
    };
    assert!(value("switchboard_store_snapshots_total ") >= 1.0);
    assert!(value("switchboard_store_last_snapshot_bytes ") > 0.0);
    assert!(value("switchboard_store_last_snapshot_seconds{phase=\"store\"} ") > 0.0);
    assert!(
        !text.contains(&service.to_string().replace('-', "_")),
        "ids only appear as label values"
    );
}

/// A documented route's path with the fixture's ids in its parameters.
fn fill_path(
    path: &str,
    service: &str,
    user: &str,
    task: &str,
    customer: &str,
    request: &str,
) -> String {
    path.replace("{task}", task)
        .replace("{user}", user)
        .replace("{template}", user)
        .replace("{service}", service)
        .replace("{unit}", "Nowhere")
        .replace("{reason}", "Nothing")
        .replace("{callback}", task)
        .replace("{customerKey}", customer)
        .replace("{requestId}", request)
        .replace("{accessPoint}", "nothing")
}

/// Every documented route against every role, derived from the server's own endpoint list: declared roles get
/// past authorization, every other role gets 401 before anything else (a body is never even read).
#[tokio::test]
async fn every_documented_route_enforces_its_roles() {
    let RoleFixture {
        app,
        service,
        user,
        task,
        keys,
    } = RoleFixture::start().await;
    let mut endpoints = switchboard_server::endpoints();
    // Destructive calls last, so the user they remove is not missed by the others.
    endpoints.sort_by_key(|e| e.method == Method::DELETE);
    let mut checked = 0;
    for endpoint in endpoints.iter().filter(|e| !e.roles.is_empty()) {
        let path = fill_path(&endpoint.path, &service, &user, &task, "default", "1");
        for (role, key) in &keys {
            // An invalid body: a role check that came after reading it would answer 400, not 401.
            let (status, body) = app
                .call(
                    endpoint.method.clone(),
                    &path,
                    Some(key),
                    Some(json!({"Unknown": [1, 2, 3]})),
                )
                .await;
            if endpoint.roles.contains(role) {
                assert_ne!(
                    status,
                    StatusCode::UNAUTHORIZED,
                    "{} {path} refused {role:?}: {body}",
                    endpoint.method
                );
            } else {
                assert_eq!(
                    status,
                    StatusCode::UNAUTHORIZED,
                    "{} {path} answered {role:?}: {body}",
                    endpoint.method
                );
            }
        }
        checked += 1;
    }
    assert!(checked > 50, "only {checked} routes checked");
}

/// What tenant A's own key reads through every documented GET route: compared before and after tenant B's
/// attempts, it shows that nothing of A changed.
async fn view_of(
    app: &TestApp,
    service: &str,
    user: &str,
    task: &str,
    request: &str,
) -> Vec<(String, Value)> {
    let mut view = Vec::new();
    for endpoint in switchboard_server::endpoints() {
        if endpoint.method != Method::GET || endpoint.roles.is_empty() {
            continue;
        }
        let path = fill_path(&endpoint.path, service, user, task, "default", request);
        if path.contains("/events") {
            // Read below by sequence number.
            continue;
        }
        let (status, body) = app
            .call(Method::GET, &path, Some(crate::ADMIN_KEY), None)
            .await;
        view.push((path, json!({"status": status.as_u16(), "body": body})));
    }
    view
}

/// Tenant B's key, with every role, through every documented route (LUCS, Puzzel, events, CTI provisioning)
/// filled with tenant A's ids and bodies naming them, never reads or changes anything of A: A's event log does
/// not move, everything A reads is the same afterwards, and no answer carries A's data. A CTI session of B
/// sees none of A's agents or events.
#[tokio::test]
async fn no_route_crosses_tenants() {
    let RoleFixture {
        app,
        service,
        user,
        task,
        ..
    } = RoleFixture::start().await;
    // More of A: CTI credentials, a callback, a Puzzel request.
    let (status, body) = app
        .post(
            &format!("/v2.0/users/{user}/cti"),
            json!({"Login": "curt", "Password": "secret-password", "PhoneLine": "1001"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app
        .post(
            "/v2.0/callbacks",
            json!({"Target": "+41790000077", "SecondsBetweenRetries": 60, "Priority": "Normal",
                   "ServiceId": service, "ExternalTaskId": "callback-of-a"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let data = json!({"To": "sip:smoky.businesss@dev.local", "Subject": "puzzel-of-a"});
    let reply: Value = app
        .client
        .post(format!("{}/default/requests", app.base))
        .header("api_key", crate::ADMIN_KEY)
        .json(&json!({"data": data.to_string(), "type": "mail", "version": "1.0"}))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("envelope");
    assert_eq!(reply["code"], 0, "{reply}");
    let request = reply["result"].to_string();
    let tenant = app.state.tenant("default").await.expect("tenant");
    let sequence = || app.state.read(&tenant, |engine| engine.last_event_seq());
    let before = sequence();
    let view = view_of(&app, &service, &user, &task, &request).await;

    let other = key_for(&app, "other-tenant", &Role::ALL, None);
    // What only A knows: names, numbers and external ids it never sends in B's requests.
    let secrets = [
        "Curt",
        "Connors",
        "smoky.cc",
        "Business Customer Care",
        "+41790000077",
        "callback-of-a",
        "puzzel-of-a",
        "\"auth\"",
    ];
    let bodies = [
        json!({}),
        json!({"Service": service, "ServiceId": service, "UserId": user, "User": user, "TaskId": task,
               "Presence": "Away", "Target": "+41790000009", "SecondsBetweenRetries": 60,
               "Priority": "Normal", "Login": "curt", "Password": "secret-password", "Reason": "Nothing",
               "Services": [{"Service": service}], "RequestId": 1, "Name": "hijack"}),
    ];
    let mut endpoints = switchboard_server::endpoints();
    endpoints.sort_by_key(|e| e.method == Method::DELETE);
    let mut calls = 0;
    for endpoint in endpoints.iter().filter(|e| !e.roles.is_empty()) {
        for customer in ["default", "other-tenant"] {
            let path = fill_path(&endpoint.path, &service, &user, &task, customer, &request);
            for body in &bodies {
                let (status, answer) = app
                    .call(
                        endpoint.method.clone(),
                        &path,
                        Some(&other),
                        Some(body.clone()),
                    )
                    .await;
                calls += 1;
                assert!(
                    !status.is_server_error(),
                    "{} {path}: {status} {answer}",
                    endpoint.method
                );
                let text = answer.to_string();
                for secret in secrets {
                    assert!(
                        !text.contains(secret),
                        "{} {path} showed tenant A's {secret}: {text}",
                        endpoint.method
                    );
                }
                if status.is_success() {
                    for id in [&service, &user, &task] {
                        assert!(
                            !text.contains(id.as_str()),
                            "{} {path} answered tenant A's id {id}: {text}",
                            endpoint.method
                        );
                    }
                }
            }
        }
    }
    assert!(calls > 200, "only {calls} calls");
    assert!(
        view.iter().filter(|(_, v)| v["status"] == 200).count() > 20,
        "A's own view reads little: {view:?}"
    );
    assert_eq!(sequence(), before, "tenant B's calls changed tenant A");
    assert_eq!(view_of(&app, &service, &user, &task, &request).await, view);

    // B's CTI session (a watcher of B, which sees everything of its own tenant) sees nothing of A.
    let (status, answer) = app
        .call(Method::POST, "/v2.0/cti/watchtoken", Some(&other), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let mut watcher = crate::cti::Cti::connect_token(&app, answer["token"].as_str().unwrap()).await;
    for list in ["agent", "queue", "queuemember", "agentgroup"] {
        watcher
            .command("getList", json!({"objectType": list}))
            .await;
    }
    watcher.command("subscribeToAgentEvents", json!({})).await;
    watcher.command("subscribeToQueueStats", json!({})).await;
    let (status, _) = app
        .post(
            "/v1.0/tasks",
            json!({"Service": service, "ExternalTaskId": "while-b-watches"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .post(
            &format!("/v1.0/users/{user}/setpresence"),
            json!({"Presence": "Away"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let seen = watcher.drain().await;
    let text = serde_json::to_string(&seen).unwrap();
    for secret in [
        "Curt",
        "Connors",
        "Business Customer Care",
        "while-b-watches",
        "1001",
    ] {
        assert!(
            !text.contains(secret),
            "B's CTI session saw A's {secret}: {text}"
        );
    }
}
