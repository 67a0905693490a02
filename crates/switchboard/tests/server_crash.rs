//! kill -9 of a real `switchboard serve` process under mixed load, many times: REST clients create tasks and
//! accept and finish half of them; agents on CTI websockets are offered the other half, answer and hang up. After
//! every restart every acknowledged task is there, no agent is left stuck, and at the end the stored event log
//! (audited independently of the engine) never shows a task offered to two agents or an agent over capacity.
//! Rounds: `SWITCHBOARD_CRASH_ROUNDS` (default 5).

mod common;

use std::process::Child;
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

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

const CTI_AGENTS: usize = 3;

/// A CTI agent until its socket dies with the server: signs in, logs in on its line (then says so on `ready`),
/// answers every offer and hangs up as soon as it is on the call. Returns the calls it finished.
async fn cti_agent(
    client: reqwest::Client,
    base: String,
    login: String,
    ready: tokio::sync::mpsc::Sender<()>,
) -> usize {
    let Some((200, answer)) = call(
        &client,
        reqwest::Method::POST,
        format!("{base}/xuc/api/2.0/auth/login"),
        json!({"login": login, "password": "crash-password"}),
    )
    .await
    else {
        return 0;
    };
    let token = answer["token"].as_str().unwrap_or_default().to_string();
    let url = format!(
        "{}/xuc/api/2.0/cti?token={token}",
        base.replace("http://", "ws://")
    );
    let Ok((mut socket, _)) = tokio_tungstenite::connect_async(url).await else {
        return 0;
    };
    let command =
        |name: &str| Message::Text(json!({"claz": "web", "command": name}).to_string().into());
    if socket.send(command("agentLogin")).await.is_err() {
        return 0;
    }
    let mut finished = 0;
    let mut announced = false;
    while let Some(Ok(message)) = socket.next().await {
        let Message::Text(text) = message else {
            continue;
        };
        let value: Value = serde_json::from_str(&text).unwrap_or_default();
        if !announced
            && value["msgType"] == "AgentStateEvent"
            && value["ctiMessage"]["name"] != "AgentLoggedOut"
        {
            announced = true;
            let _ = ready.try_send(());
        }
        let reply = match value["msgType"].as_str() {
            Some("Sheet") => "answer",
            Some("AgentStateEvent") if value["ctiMessage"]["name"] == "AgentOnCall" => {
                finished += 1;
                "hangup"
            }
            _ => continue,
        };
        if socket.send(command(reply)).await.is_err() {
            break;
        }
    }
    finished
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_dash_nine_of_the_server_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = format!("sqlite://{}", dir.path().join("switchboard.db").display());
    let client = reqwest::Client::new();
    let acknowledged: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let mut seed: u64 = 0xC0FFEE;
    let mut service = String::new();
    let mut cti_service = String::new();
    let mut cti_users = Vec::new();
    let mut cti_calls = 0;
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
            // The other service is served by agents on CTI sockets.
            let (status, body) = call(
                &client,
                reqwest::Method::POST,
                format!("{base}/v2.0/services"),
                json!({"Name": "Crash CTI", "SipUri": "sip:crash-cti@test"}),
            )
            .await
            .expect("create service");
            assert_eq!(status, 200, "{body}");
            cti_service = body["Id"].as_str().unwrap().to_string();
            for n in 0..CTI_AGENTS {
                let (status, user) = call(
                    &client,
                    reqwest::Method::POST,
                    format!("{base}/v1.0/users"),
                    json!({"SipUri": format!("sip:cti{n}@test"), "Services": [{"Service": cti_service}]}),
                )
                .await
                .expect("create user");
                assert_eq!(status, 200, "{user}");
                let id = user["Id"].as_str().unwrap().to_string();
                let (status, body) = call(
                    &client,
                    reqwest::Method::POST,
                    format!("{base}/v2.0/users/{id}/cti"),
                    json!({"Login": format!("cti{n}"), "Password": "crash-password", "PhoneLine": format!("20{n}")}),
                )
                .await
                .expect("credentials");
                assert_eq!(status, 200, "{body}");
                cti_users.push(id);
            }
        }
        // The CTI agents sign in and log in before the load starts (signing in costs an argon2 hash).
        let (ready, mut logged_in) = tokio::sync::mpsc::channel(CTI_AGENTS * 4);
        let agents: Vec<_> = (0..CTI_AGENTS)
            .map(|n| {
                let login = format!("cti{n}");
                tokio::spawn(cti_agent(
                    client.clone(),
                    base.clone(),
                    login,
                    ready.clone(),
                ))
            })
            .collect();
        for _ in 0..CTI_AGENTS {
            tokio::time::timeout(std::time::Duration::from_secs(60), logged_in.recv())
                .await
                .expect("the CTI agents log in within 60 s")
                .expect("a CTI agent logged in");
        }
        // Eight clients create tasks, accept and finish those of the REST agents' service and leave the others to
        // the CTI agents, until the kill.
        let workers: Vec<_> = (0..8)
            .map(|worker| {
                let client = client.clone();
                let base = base.clone();
                let service = service.clone();
                let cti_service = cti_service.clone();
                let acknowledged = acknowledged.clone();
                tokio::spawn(async move {
                    for n in 0.. {
                        let external = format!("r{round}-w{worker}-{n}");
                        let for_cti = n % 2 == 1;
                        let target = if for_cti { &cti_service } else { &service };
                        let Some((status, id)) = call(
                            &client,
                            reqwest::Method::POST,
                            format!("{base}/v1.0/tasks"),
                            json!({"Service": target, "ExternalTaskId": external}),
                        )
                        .await
                        else {
                            return;
                        };
                        if status != 200 {
                            continue;
                        }
                        acknowledged.lock().unwrap().push(external);
                        if for_cti {
                            continue;
                        }
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
        for agent in agents {
            cti_calls += agent.await.unwrap_or(0);
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
            // The CTI agents' sockets died with the server: they are logged out (or still busy with a task).
            let logged_out =
                cti_users.iter().any(|cti| cti == id) && user["NotSelectableReason"] == "Offline";
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
                    || logged_out
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
    assert!(cti_calls > 0, "the CTI agents took no call");
    eprintln!(
        "{} rounds of kill -9 under load: {total} acknowledged tasks all recovered ({cti_calls} calls answered \
         on CTI sockets), {} events audited",
        rounds(),
        events.len()
    );
}
