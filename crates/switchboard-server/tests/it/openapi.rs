//! The OpenAPI document: well-formed, every reference resolves, and every documented operation is routed on the
//! live server (the router and the document come from the same list, and this checks it from outside).

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::{TestApp, ADMIN_KEY};

fn refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get("$ref") {
                out.push(target.clone());
            }
            map.values().for_each(|v| refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn the_document_is_complete_and_every_operation_is_routed() {
    let app = TestApp::start().await;
    let response = app
        .client
        .get(format!("{}/openapi.json", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let spec: Value = response.json().await.unwrap();
    assert_eq!(spec["openapi"], "3.0.3");
    assert_eq!(
        spec["components"]["securitySchemes"]["api_key"]["name"],
        "api_key"
    );
    let mut targets = Vec::new();
    refs(&spec, &mut targets);
    assert!(!targets.is_empty());
    for target in targets {
        let name = target
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unexpected reference {target}"));
        assert!(
            spec["components"]["schemas"].get(name).is_some(),
            "{target} does not resolve"
        );
    }
    let mut operation_ids = std::collections::BTreeSet::new();
    let mut operations = 0;
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            operations += 1;
            let id = operation["operationId"].as_str().expect("operationId");
            assert!(
                operation_ids.insert(id.to_string()),
                "duplicate operationId {id}"
            );
            assert!(operation["responses"]["200"].is_object(), "{method} {path}");
            let url = format!("{}{}", app.base, path.replace('{', "x").replace('}', ""));
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let response = app
                .client
                .request(method.clone(), url)
                .header("api_key", ADMIN_KEY)
                .header("content-type", "application/json")
                .body("{}")
                .send()
                .await
                .unwrap();
            let status = response.status();
            let body = response.text().await.unwrap();
            assert_ne!(
                status,
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path} is documented but not routed"
            );
            if status == StatusCode::NOT_FOUND {
                assert!(
                    body.contains("\"Error\""),
                    "{method} {path} is documented but not routed"
                );
            }
        }
    }
    assert!(operations > 50, "only {operations} operations documented");
    let docs = app
        .client
        .get(format!("{}/docs", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(docs.status(), StatusCode::OK);
    let html = docs.text().await.unwrap();
    assert!(html.contains("switchboard API") && html.contains("/openapi.json"));
    assert!(
        !html.contains("https://"),
        "the docs page must work offline"
    );
}

#[tokio::test]
async fn the_document_lists_500_only_where_the_vendor_documents_it_and_415_where_a_body_is_read() {
    // Found by the API fuzzer: every authenticated endpoint listed 500, and none listed the 415 a body endpoint
    // answers when the body is not sent as JSON.
    let spec = switchboard_server::openapi_document();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let responses = &operation["responses"];
            let documents_500 = responses.get("500").is_some();
            let vendor_500 = method == "post"
                && (path.ends_with("/tasks/{task}/setestablished")
                    || path.ends_with("/tasks/{task}/refresh"));
            assert_eq!(documents_500, vendor_500, "{method} {path}: 500");
            let lucs =
                operation["security"] != serde_json::json!([]) && !path.contains("{customerKey}");
            if lucs && operation["requestBody"]["required"] == true {
                assert!(responses.get("415").is_some(), "{method} {path}: 415");
            }
        }
    }
    let asset = &spec["paths"]["/web/{asset}"]["get"]["responses"];
    assert!(asset["404"].is_object() && asset["200"]["content"]["text/css"].is_object());
    let login = &spec["paths"]["/xuc/api/2.0/auth/login"]["post"]["responses"];
    assert!(login["400"].is_object() && login["401"].is_object());
}
