//! Regressions found by the API fuzzer (`tests/api-fuzz/run.sh`): each test replays what schemathesis sent and
//! checks the answer is the documented refusal or success, in the LUCS error shape, and that the server lives on.

use reqwest::StatusCode;
use serde_json::Value;

use crate::{TestApp, ADMIN_KEY};

/// A raw GET whose body is read as text, so a non-JSON answer shows up as one.
async fn get_raw(app: &TestApp, path: &str) -> (StatusCode, String, String) {
    let response = app
        .client
        .get(format!("{}{}", app.base, path))
        .header("api_key", ADMIN_KEY)
        .send()
        .await
        .expect("the server answers");
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (status, content_type, response.text().await.expect("body"))
}

#[tokio::test]
async fn a_page_far_past_the_end_is_empty_rather_than_an_overflow() {
    // (page - 1) * pageSize overflowed: a panic in debug builds (the connection dropped), a wrapped skip in
    // release.
    let app = TestApp::start().await;
    app.business_service().await;
    for path in [
        "/v2.0/services?page=184467440737095518",
        "/v2.0/users?page=18446744073709551615&pageSize=1000",
        "/v2.0/tasks?page=184467440737095518",
    ] {
        let (status, page) = app.get(path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {page}");
        assert_eq!(page["Items"], Value::Array(Vec::new()), "{path}");
    }
    let (status, page) = app.get("/v2.0/services?page=1").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["TotalCount"], 1);
}

#[tokio::test]
async fn an_unreadable_query_string_is_a_lucs_400() {
    // axum's query rejection answered 400 in text/plain, which the spec does not document.
    let app = TestApp::start().await;
    for path in [
        "/v2.0/services?pageSize=null",
        "/v2.0/users?page=-1",
        "/v2.0/organizationunits?page=x",
        "/v2.0/events?after=x",
    ] {
        let (status, content_type, body) = get_raw(&app, path).await;
        assert!(
            status == StatusCode::BAD_REQUEST || status == StatusCode::UNPROCESSABLE_ENTITY,
            "{path}: {status} {body}"
        );
        assert!(
            content_type.starts_with("application/json"),
            "{path}: {content_type} {body}"
        );
        let error: Value = serde_json::from_str(&body).expect("a JSON error");
        assert!(error["Error"]["Code"].is_string(), "{path}: {body}");
    }
    let (status, error) = app
        .call(
            reqwest::Method::POST,
            "/v1.0/tasks/nothing/refresh?setAgentOnRona=",
            Some(ADMIN_KEY),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert_eq!(error["Error"]["Code"], "BadRequest");
}

#[tokio::test]
async fn a_due_date_far_in_the_future_is_refused_not_a_crash() {
    // The day arithmetic of a DueDate (or a search's StartDate) with a huge year overflowed: a panic in debug
    // builds (no answer at all), a wrapped time in release.
    let app = TestApp::start().await;
    let service = app.business_service().await;
    let (status, error) = app
        .post(
            "/v1.0/callbacks",
            serde_json::json!({
                "Target": "+41440000000", "SecondsBetweenRetries": 60, "Priority": "Normal",
                "ServiceId": service, "DueDate": "999999999999999-01-01"
            }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    let (status, error) = app
        .post(
            "/v1.0/callbacks/search",
            serde_json::json!({"StartDate": "2020-01-01T-99999999999999:00"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    let (status, found) = app
        .post("/v1.0/callbacks/search", serde_json::json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(found, Value::Array(Vec::new()), "nothing was created");
}

#[tokio::test]
async fn tenant_settings_too_large_for_the_clock_are_refused_and_change_nothing() {
    // TaskLifetimeInDays, MaximumPollingTimeoutInMin and DefaultRonaTimeoutInSeconds were multiplied into
    // microseconds unchecked: 4000000000 days overflowed (a panic in debug builds, a negative lifetime in
    // release, which would have ended every task at once).
    let app = TestApp::start().await;
    let tenant = app
        .state
        .tenant("default")
        .await
        .expect("the default tenant");
    let before = app.state.read(&tenant, |engine| engine.config().clone());
    for settings in [
        serde_json::json!({"TaskLifetimeInDays": 4_000_000_000u64}),
        serde_json::json!({"MaximumPollingTimeoutInMin": u64::MAX}),
        serde_json::json!({"DefaultRonaTimeoutInSeconds": 10_000_000_000_000u64}),
    ] {
        let (status, error) = app
            .post(
                "/v2.0/configuration",
                serde_json::json!({"Settings": settings.clone()}),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{settings}: {error}"
        );
        assert_eq!(error["Error"]["Code"], "InvalidValue");
    }
    let after = app.state.read(&tenant, |engine| engine.config().clone());
    assert_eq!(after, before, "a refused configuration changes nothing");
    let (status, report) = app
        .post(
            "/v2.0/configuration",
            serde_json::json!({"Settings": {"TaskLifetimeInDays": 5}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
}

#[tokio::test]
async fn an_empty_profile_name_is_refused_not_a_crash_and_a_refused_user_changes_nothing() {
    // Found by the fuzzer: {"CurrentProfile": ""} skipped creating the profile "" and then looked it up, a panic
    // (the connection closed with no answer). A body refused after its profiles and traits had been created by
    // their own commands also left them behind.
    let app = TestApp::start().await;
    let service = app.business_service().await;
    let user = app
        .online_user("smoky.cc", "Curt", "Connors", &service)
        .await;
    // The fuzzer's case exactly: a user with no profile at all.
    let (status, plain) = app
        .post(
            "/v1.0/users",
            serde_json::json!({"SipUri": "sip:plain@dev.local"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{plain}");
    let (status, error) = app
        .post(
            "/v1.0/users/plain@dev.local/update",
            serde_json::json!({"AAConfiguration": null, "CurrentProfile": ""}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    let (_, plain_after) = app.get("/v1.0/users/plain@dev.local").await;
    assert_eq!(plain_after, plain);
    let (_, profiles_before) = app.get("/v2.0/profiles").await;
    let (_, user_before) = app.get(&format!("/v1.0/users/{user}")).await;
    for body in [
        serde_json::json!({"AAConfiguration": null, "CurrentProfile": ""}),
        serde_json::json!({"DefaultProfile": "  "}),
        serde_json::json!({"Profiles": [{"Name": "", "Responsibilities": []}]}),
        serde_json::json!({"Profiles": [{"Name": "Night Shift", "Responsibilities": [
            {"TraitNode": "Language/German", "Responsibility": "Enormous"}]}]}),
        serde_json::json!({"CurrentProfile": "Night Shift", "Traits": [
            {"TraitNode": "Language/German", "Attribute": "Superb"}]}),
        serde_json::json!({"CurrentProfile": "Night Shift", "Services": [{"Service": "sip:nothing@dev.local"}]}),
    ] {
        let (status, error) = app
            .post(&format!("/v1.0/users/{user}/update"), body.clone())
            .await;
        assert!(
            status == StatusCode::UNPROCESSABLE_ENTITY || status == StatusCode::NOT_FOUND,
            "{body}: {status} {error}"
        );
        assert!(error["Error"]["Code"].is_string(), "{body}: {error}");
    }
    let (status, error) = app
        .post(
            "/v1.0/users",
            serde_json::json!({"SipUri": "sip:new@dev.local", "CurrentProfile": "Night Shift",
                "Traits": [{"TraitNode": "Language/German", "Attribute": "Superb"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    let (_, profiles_after) = app.get("/v2.0/profiles").await;
    assert_eq!(profiles_after, profiles_before, "no profile was created");
    let (_, user_after) = app.get(&format!("/v1.0/users/{user}")).await;
    assert_eq!(user_after, user_before);
    let (status, _) = app.get("/v1.0/users/new@dev.local").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_position_past_the_largest_sequence_number_is_refused() {
    // Found by the fuzzer: after=9223372036854775808 was read back by the store as a negative position and
    // answered every event from the first; after=18446744073709551615 overflowed `after + 1` (a panic in debug
    // builds). A webhook's From had the same problem.
    let app = TestApp::start().await;
    app.business_service().await;
    for after in ["9223372036854775808", "18446744073709551615"] {
        let (status, error) = app.get(&format!("/v2.0/events?after={after}")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{after}: {error}");
        assert_eq!(error["Error"]["Code"], "InvalidValue");
    }
    let response = app
        .client
        .get(format!("{}/v2.0/events", app.base))
        .header("api_key", ADMIN_KEY)
        .header("Last-Event-ID", "18446744073709551615")
        .send()
        .await
        .expect("the server answers");
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let (status, page) = app.get("/v2.0/events?after=9223372036854775807").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["Items"], Value::Array(Vec::new()));
    let (status, webhook) = app
        .post(
            "/v2.0/webhooks",
            serde_json::json!({"Id": "crm", "Url": "http://127.0.0.1:9/hook"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{webhook}");
    for (path, body) in [
        (
            "/v2.0/webhooks",
            serde_json::json!({"Id": "late", "Url": "http://127.0.0.1:9/hook", "From": 9223372036854775808u64}),
        ),
        (
            "/v2.0/webhooks/crm/replay",
            serde_json::json!({"From": u64::MAX}),
        ),
    ] {
        let (status, error) = app.post(path, body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {error}");
    }
    let (status, _) = app.get("/v2.0/webhooks/late").await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a refused subscription is not created"
    );
}
