//! Limits (docs/limits.md): each one exceeded gives a clear error and changes nothing; the server sheds load it
//! cannot serve with 503 and keeps what it accepted; a user's sockets are bounded; revoked credentials end open
//! sockets.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use switchboard_server::ServerConfig;
use tokio_tungstenite::tungstenite::Message;

use crate::cti::{cti_user, token, Cti};
use crate::{TestApp, ADMIN_KEY};

async fn live_tasks(app: &TestApp) -> usize {
    let tenant = app.state.tenant("default").await.expect("tenant");
    app.state.read(&tenant, |engine| engine.n_live_tasks())
}

/// Bodies and heads over their bounds are refused with a JSON error before anything is created.
#[tokio::test]
async fn oversized_bodies_and_heads_are_refused() {
    let mut config = ServerConfig::default();
    config.limits.max_body_bytes = 4096;
    config.limits.max_header_bytes = 2048;
    let app = TestApp::start_with(config).await;
    let service = app.business_service().await;
    let (status, body) = app
        .post(
            "/v1.0/tasks",
            json!({"Service": service, "Caller": "x".repeat(5000)}),
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    let response = app
        .client
        .post(format!("{}/v1.0/tasks", app.base))
        .header("api_key", ADMIN_KEY)
        .header("X-Padding", "y".repeat(3000))
        .json(&json!({"Service": service}))
        .send()
        .await
        .expect("request");
    assert_eq!(
        response.status(),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
    let body: Value = response.json().await.expect("JSON error");
    assert_eq!(
        body["Error"]["Code"], "RequestHeaderFieldsTooLarge",
        "{body}"
    );
    // The Puzzel dialect answers in its envelope.
    let response = app
        .client
        .post(format!("{}/default/requests", app.base))
        .header("api_key", ADMIN_KEY)
        .header("X-Padding", "y".repeat(3000))
        .json(&json!({"data": "{\"To\": \"x\"}", "type": "mail"}))
        .send()
        .await
        .expect("request");
    assert_eq!(
        response.status(),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
    let body: Value = response.json().await.expect("JSON envelope");
    assert_eq!(body["code"], 43101, "{body}");
    assert_eq!(live_tasks(&app).await, 0);
    // Within the bounds the same call works.
    let (status, body) = app
        .post("/v1.0/tasks", json!({"Service": service, "Caller": "+41"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// A tenant holds at most its live tasks, whatever the dialect; once some end, creating works again.
#[tokio::test]
async fn a_tenant_holds_at_most_its_live_tasks() {
    let mut config = ServerConfig::default();
    config.limits.max_live_tasks = 2;
    let app = TestApp::start_with(config).await;
    let service = app.business_service().await;
    let mut created = Vec::new();
    for n in 0..2 {
        let (status, id) = app
            .post(
                "/v1.0/tasks",
                json!({"Service": service, "ExternalTaskId": format!("t{n}")}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{id}");
        created.push(id);
    }
    let response = app
        .client
        .post(format!("{}/v1.0/tasks", app.base))
        .header("api_key", ADMIN_KEY)
        .json(&json!({"Service": service, "ExternalTaskId": "t2"}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "1");
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["Error"]["Code"], "TaskLimitReached", "{body}");
    let (status, body) = app
        .post(
            "/v2.0/callbacks",
            json!({"Target": "+41790000002", "SecondsBetweenRetries": 60, "Priority": "Normal", "ServiceId": service}),
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(live_tasks(&app).await, 2);
    let (status, _) = app
        .post(
            &format!("/v1.0/tasks/{}/terminate", created[0].as_str().unwrap()),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app
        .post(
            "/v1.0/tasks",
            json!({"Service": service, "ExternalTaskId": "t2"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// A key holds at most its open requests and event streams; other keys are not affected.
#[tokio::test]
async fn a_key_holds_at_most_its_open_requests_and_streams() {
    let mut config = ServerConfig::default();
    config.limits.max_open_per_key = 2;
    let app = TestApp::start_with(config).await;
    let stream = || {
        app.client
            .get(format!("{}/v2.0/events", app.base))
            .header("api_key", ADMIN_KEY)
            .header("Accept", "text/event-stream")
            .send()
    };
    // Two event streams hold both of the key's places for as long as they live.
    let first = stream().await.expect("stream");
    assert_eq!(first.status(), StatusCode::OK);
    let second = stream().await.expect("stream");
    assert_eq!(second.status(), StatusCode::OK);
    let response = app
        .client
        .get(format!("{}/v1.0/services", app.base))
        .header("api_key", ADMIN_KEY)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "1");
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["Error"]["Code"], "TooManyOpenRequests", "{body}");
    // Another key of the tenant is served.
    let other = switchboard_server::create_key(
        app.state.store(),
        &switchboard_server::NewKey {
            tenant: "default".into(),
            name: "other".into(),
            roles: switchboard_server::auth::Role::ALL.to_vec(),
            expires_at: None,
            rate_limit: None,
            burst_limit: None,
        },
        app.state.now(),
    )
    .expect("key")
    .key;
    let (status, _) = app
        .call(Method::GET, "/v1.0/services", Some(&other), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    // Health and metrics are answered whatever the keys hold.
    let health = app
        .client
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .expect("health");
    assert_eq!(health.status(), StatusCode::OK);
    drop((first, second));
}

/// More concurrent requests than the server takes: the surplus is answered 503 with `Retry-After` at once,
/// every accepted task is kept, and the server serves normally once the flood is over.
#[tokio::test]
async fn overload_is_shed_and_accepted_work_is_kept() {
    let mut config = ServerConfig::default();
    config.limits.max_in_flight = 4;
    let app = Arc::new(TestApp::start_with(config).await);
    let service = app.business_service().await;
    let clients = 64;
    let per_client = 25;
    let mut handles = Vec::new();
    for client in 0..clients {
        let app = app.clone();
        let service = service.clone();
        handles.push(tokio::spawn(async move {
            // Each client on its own connection, as independent callers would be.
            let http = reqwest::Client::new();
            let mut outcome = (0usize, 0usize);
            for n in 0..per_client {
                let response = http
                    .post(format!("{}/v1.0/tasks", app.base))
                    .header("api_key", ADMIN_KEY)
                    .json(&json!({"Service": service, "ExternalTaskId": format!("c{client}-{n}")}))
                    .send()
                    .await
                    .expect("request");
                match response.status() {
                    StatusCode::OK => outcome.0 += 1,
                    StatusCode::SERVICE_UNAVAILABLE => {
                        assert_eq!(response.headers()["retry-after"], "1");
                        let body: Value = response.json().await.expect("JSON");
                        assert_eq!(body["Error"]["Code"], "Overloaded", "{body}");
                        outcome.1 += 1;
                    }
                    other => panic!("unexpected {other}: {:?}", response.text().await),
                }
            }
            outcome
        }));
    }
    let (mut accepted, mut shed) = (0, 0);
    for handle in handles {
        let (ok, refused) = handle.await.expect("client");
        accepted += ok;
        shed += refused;
    }
    assert_eq!(accepted + shed, clients * per_client);
    assert!(
        shed > 0,
        "64 concurrent clients against 4 places shed nothing"
    );
    assert!(accepted > 0);
    assert_eq!(
        live_tasks(&app).await,
        accepted,
        "every acknowledged task is kept"
    );
    assert_eq!(
        app.state.requests_in_flight(),
        0,
        "every place was given back"
    );
    // The flood is over: served again.
    let (status, body) = app
        .post(
            "/v1.0/tasks",
            json!({"Service": service, "ExternalTaskId": "after"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let metrics = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("status=\"503\""),
        "shed requests are counted"
    );
}

/// A user has at most its sockets open; one more is refused with a clear reason.
#[tokio::test]
async fn a_user_has_at_most_its_sockets() {
    let mut config = ServerConfig::default();
    config.cti.max_sessions_per_user = 2;
    let app = TestApp::start_with(config).await;
    let service = app.business_service().await;
    cti_user(&app, "anna", &service, "1001", json!({})).await;
    let _first = Cti::connect(&app, "anna", "secret-password").await;
    let _second = Cti::connect(&app, "anna", "secret-password").await;
    let token = token(&app, "anna", "secret-password").await;
    let (refused, mut third) = Cti::refused(&app, &token).await;
    assert_eq!(
        refused["ctiMessage"]["Error"], "TooManySessions",
        "{refused}"
    );
    match third.next().await {
        Some(Ok(Message::Close(Some(close)))) => {
            assert_eq!(close.reason.as_str(), "the user has too many open sessions")
        }
        other => panic!("expected a close frame, got {other:?}"),
    }
}

/// New credentials revoke a user's tokens: a socket opened with one is closed with the reason.
#[tokio::test]
async fn revoked_credentials_end_open_sockets() {
    let app = TestApp::start().await;
    let service = app.business_service().await;
    let id = cti_user(&app, "anna", &service, "1001", json!({})).await;
    let mut anna = Cti::connect(&app, "anna", "secret-password").await;
    let (status, _) = app
        .post(
            &format!("/v2.0/users/{id}/cti"),
            json!({"Login": "anna", "Password": "another-password"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(anna.close_reason(5).await, "the token was revoked");
}

/// An expired token stops working at once: the token check refuses it and its open socket is closed with the
/// reason.
#[tokio::test]
async fn an_expired_token_stops_working() {
    let mut config = ServerConfig::default();
    config.cti.token_ttl = Duration::from_millis(1500);
    let app = TestApp::start_with(config).await;
    let service = app.business_service().await;
    cti_user(&app, "anna", &service, "1001", json!({})).await;
    let token = token(&app, "anna", "secret-password").await;
    let mut anna = Cti::connect_token(&app, &token).await;
    // The server ends the session when the token expires (its own timer, checked every second).
    assert_eq!(anna.close_reason(10).await, "the token expired");
    let check = app
        .client
        .get(format!("{}/xuc/api/2.0/auth/check", app.base))
        .bearer_auth(&token)
        .send()
        .await
        .expect("check");
    assert_eq!(check.status(), StatusCode::UNAUTHORIZED);
    // A new socket with it is refused.
    Cti::refused(&app, &token).await;
}
