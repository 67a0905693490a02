//! kill -9 of a real `switchboard serve` process in the middle of a stream of REST writes, many times: every
//! acknowledged task is there after the restart, the stored event log (audited independently) never shows a
//! task offered to two agents or an agent over capacity, and no agent is left stuck.
//! Rounds: `SWITCHBOARD_CRASH_ROUNDS` (default 5).

mod common;

use std::process::Child;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use common::KEY;

fn rounds() -> usize {
    std::env::var("SWITCHBOARD_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5)
}

/// Starts the server on a free port and returns it with its base URL, once it listens.
fn start(db: &str) -> (Child, String) {
    let (child, base, _) = common::start_with(db, &[]);
    (child, base)
}

async fn call(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    body: Value,
) -> Option<(u16, Value)> {
    let response = client
        .request(method, url)
        .header("api_key", KEY)
        .json(&body)
        .send()
        .await
        .ok()?;
    let status = response.status().as_u16();
    let text = response.text().await.ok()?;
    Some((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_dash_nine_of_the_server_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = format!("sqlite://{}", dir.path().join("switchboard.db").display());
    let client = reqwest::Client::new();
    let acknowledged: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let mut seed: u64 = 0xC0FFEE;
    let mut service = String::new();
    for round in 0..rounds() {
        let (mut child, base) = start(&db);
        if round == 0 {
            let (status, body) = call(
                &client,
                reqwest::Method::POST,
                format!("{base}/v2.0/services"),
                json!({"Name": "Crash", "SipUri": "sip:crash@test"}),
            )
            .await
            .expect("create service");
            assert_eq!(status, 200, "{body}");
            service = body["Id"].as_str().unwrap().to_string();
            for n in 0..4 {
                let (status, user) = call(
                    &client,
                    reqwest::Method::POST,
                    format!("{base}/v1.0/users"),
                    json!({"SipUri": format!("sip:agent{n}@test"), "Services": [{"Service": service}]}),
                )
                .await
                .expect("create user");
                assert_eq!(status, 200, "{user}");
                let id = user["Id"].as_str().unwrap();
                let (status, _) = call(
                    &client,
                    reqwest::Method::POST,
                    format!("{base}/v1.0/users/{id}/setpresence"),
                    json!({"Presence": "Online"}),
                )
                .await
                .expect("presence");
                assert_eq!(status, 200);
            }
        }
        // Eight clients create tasks and accept and finish them, until the kill.
        let workers: Vec<_> = (0..8)
            .map(|worker| {
                let client = client.clone();
                let base = base.clone();
                let service = service.clone();
                let acknowledged = acknowledged.clone();
                tokio::spawn(async move {
                    for n in 0.. {
                        let external = format!("r{round}-w{worker}-{n}");
                        let Some((status, id)) = call(
                            &client,
                            reqwest::Method::POST,
                            format!("{base}/v1.0/tasks"),
                            json!({"Service": service, "ExternalTaskId": external}),
                        )
                        .await
                        else {
                            return;
                        };
                        if status != 200 {
                            continue;
                        }
                        acknowledged.lock().unwrap().push(external);
                        let id = id.as_str().unwrap_or_default().to_string();
                        for step in ["setestablished", "terminate"] {
                            if call(
                                &client,
                                reqwest::Method::POST,
                                format!("{base}/v1.0/tasks/{id}/{step}"),
                                json!({}),
                            )
                            .await
                            .is_none()
                            {
                                return;
                            }
                        }
                    }
                })
            })
            .collect();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let target = acknowledged.lock().unwrap().len() + 30 + (seed % 150) as usize;
        while acknowledged.lock().unwrap().len() < target {
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
        for worker in workers {
            let _ = worker.await;
        }

        // Restart and check every acknowledged task is there, live or finished.
        let (mut child, base) = start(&db);
        let wanted = acknowledged.lock().unwrap().clone();
        for external in &wanted {
            let (status, task) = call(
                &client,
                reqwest::Method::GET,
                format!("{base}/v1.0/tasks/{external}"),
                json!({}),
            )
            .await
            .expect("get task");
            assert_eq!(
                status, 200,
                "round {round}: acknowledged task {external} lost: {task}"
            );
        }
        // No agent is stuck: each is ready or busy with a task that exists.
        let (_, users) = call(
            &client,
            reqwest::Method::GET,
            format!("{base}/v1.0/users"),
            json!({}),
        )
        .await
        .expect("users");
        for user in users.as_array().expect("users") {
            let id = user["Id"].as_str().unwrap();
            let (_, tasks) = call(
                &client,
                reqwest::Method::GET,
                format!("{base}/v1.0/users/{id}/tasks"),
                json!({}),
            )
            .await
            .expect("user tasks");
            let n_tasks = tasks.as_array().map(Vec::len).unwrap_or(0);
            assert!(
                user["IsSelectable"] == true
                    || n_tasks > 0
                    || user["NotSelectableReason"] == "Rona",
                "round {round}: agent {id} is stuck: {user}"
            );
        }
        child.kill().expect("stop");
        child.wait().expect("reap");
    }
    let store = switchboard_store::Store::open(&db).expect("open store");
    let events = switchboard_store::audit::all_events(&store, "default").expect("events");
    let problems = switchboard_store::audit::audit_events(&events, 1);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    let total = acknowledged.lock().unwrap().len();
    assert!(total >= 30 * rounds());
    eprintln!(
        "{} rounds of kill -9 under load: {total} acknowledged tasks all recovered, {} events audited",
        rounds(),
        events.len()
    );
}
