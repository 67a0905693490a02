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
