//! The command line as a user meets it: an unusable database stops `serve` with a clear message and a non-zero
//! exit instead of serving without durability; keys are created, listed and revoked.

mod common;

fn switchboard(args: &[&str]) -> (i32, String, String) {
    common::switchboard_in(None, args)
}

#[test]
fn serve_refuses_an_unusable_database() {
    let cases = [
        ("mysql://root:hunter2@localhost/db", "invalid database URL"),
        ("sqlite:///no/such/directory/sb.db", "does not exist"),
        (
            "sqlite:///proc/switchboard.db",
            "could not open the database sqlite:///proc/switchboard.db",
        ),
        (
            "postgres://sb:hunter2@127.0.0.1:1/db",
            "postgres://sb:***@127.0.0.1:1/db",
        ),
    ];
    for (url, expected) in cases {
        let (code, _, stderr) = switchboard(&["serve", "--listen", "127.0.0.1:0", "--db", url]);
        assert_ne!(code, 0, "{url} served");
        assert!(stderr.contains(expected), "{url}: {stderr}");
        assert!(
            !stderr.contains("hunter2"),
            "{url} leaked its password: {stderr}"
        );
    }
}

/// Several nodes need PostgreSQL and a usable advertised address; the cluster commands say so instead of
/// starting something that cannot be fenced.
#[test]
fn cluster_mode_refuses_what_it_cannot_run_on() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let sqlite = format!("sqlite://{}", dir.path().join("sb.db").display());
    let cases: [(&[&str], &str); 4] = [
        (
            &[
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--db",
                &sqlite,
                "--advertise",
                "http://127.0.0.1:1",
            ],
            "--advertise needs --db postgres://",
        ),
        (
            &[
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--advertise",
                "http://127.0.0.1:1",
            ],
            "--advertise needs --db postgres://",
        ),
        (
            &[
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--db",
                "postgres://sb@127.0.0.1:1/db",
                "--advertise",
                "127.0.0.1:1",
            ],
            "--advertise must be an http:// or https:// URL",
        ),
        (
            &["cluster", "status", "--db", &sqlite],
            "several nodes need PostgreSQL",
        ),
    ];
    for (args, expected) in cases {
        let (code, _, stderr) = switchboard(args);
        assert_ne!(code, 0, "{args:?} succeeded");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

#[test]
fn keys_are_created_listed_and_revoked() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = format!("sqlite://{}", dir.path().join("sb.db").display());
    let (code, key, stderr) = switchboard(&[
        "keys",
        "create",
        "--db",
        &db,
        "--name",
        "crm",
        "--roles",
        "TasksManage,UserControl",
        "--rate",
        "1000/h",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let key = key.trim();
    assert!(key.starts_with("sb_") && key.len() == 67, "{key}");
    let (code, list, _) = switchboard(&["keys", "list", "--db", &db]);
    assert_eq!(code, 0);
    assert!(
        list.contains("crm") && list.contains("active") && list.contains("TasksManage,UserControl")
    );
    assert!(!list.contains(key), "the list shows a secret");
    let (code, _, stderr) = switchboard(&[
        "keys",
        "create",
        "--db",
        &db,
        "--name",
        "x",
        "--roles",
        "Everything",
    ]);
    assert_ne!(code, 0);
    assert!(stderr.contains("unknown role"), "{stderr}");
    let (code, _, _) = switchboard(&["keys", "revoke", "--db", &db, "crm"]);
    assert_eq!(code, 0);
    let (_, list, _) = switchboard(&["keys", "list", "--db", &db]);
    assert!(list.contains("revoked"), "{list}");
    let (code, _, stderr) = switchboard(&["keys", "revoke", "--db", &db, "crm"]);
    assert_ne!(code, 0, "{stderr}");
}

#[test]
fn serve_applies_a_configuration_and_import_is_idempotent() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = format!("sqlite://{}", dir.path().join("sb.db").display());
    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/contact-center.yaml"
    );
    let (mut server, base, printed) = common::start_with(&db, &["--config", example]);
    assert!(
        printed
            .iter()
            .any(|l| l.contains("configuration applied: 3 services, 2 users, 3 profiles changed")),
        "{printed:?}"
    );
    for _ in 0..2 {
        let (code, stdout, stderr) =
            switchboard(&["import", example, "--url", &base, "--key", common::KEY]);
        assert_eq!(code, 0, "{stderr}");
        assert!(
            stdout.contains("applied: 0 services, 0 users, 0 profiles changed; 14 unchanged"),
            "{stdout}"
        );
    }
    let (code, _, stderr) = switchboard(&["import", example, "--url", &base, "--key", "wrong"]);
    assert_ne!(code, 0);
    assert!(stderr.contains("401"), "{stderr}");
    server.kill().expect("stop");
    server.wait().expect("reap");
}

#[test]
fn the_load_generator_runs_against_a_server() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = format!("sqlite://{}", dir.path().join("sb.db").display());
    let (mut server, base, _) = common::start_with(&db, &[]);
    let (code, stdout, stderr) = switchboard(&[
        "bench",
        "create-tasks",
        "--url",
        &base,
        "--key",
        common::KEY,
        "--rate",
        "200",
        "--duration",
        "1",
        "--connections",
        "4",
        "--json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("JSON report");
    assert_eq!(report["succeeded"], 200, "{report}");
    assert_eq!(report["errors"], serde_json::json!({}));
    let p99 = report["latency"]["p99_ms"].as_f64().unwrap();
    assert!(p99 > 0.0 && p99 < 5_000.0, "{report}");
    assert!(
        report["achieved_rate_per_s"].as_f64().unwrap() > 100.0,
        "{report}"
    );
    server.kill().expect("stop");
    server.wait().expect("reap");
}

/// Reads the server's lines until one satisfies `wanted`, or fails after `seconds` with what was printed.
fn wait_for_line(
    lines: &std::sync::mpsc::Receiver<String>,
    seconds: u64,
    wanted: impl Fn(&str) -> bool,
    seen: &mut Vec<String>,
) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => {
                seen.push(line.clone());
                if wanted(&line) {
                    return line;
                }
            }
            Err(_) => panic!(
                "no such line within {seconds} s; printed:\n{}",
                seen.join("\n")
            ),
        }
    }
}

#[test]
fn the_demo_routes_live_and_never_mixes_with_other_data() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = format!("sqlite://{}", dir.path().join("demo.db").display());
    let (server, base, printed, lines) =
        common::start_watched(&db, &["--demo", "--demo-speed", "20", "--demo-agents", "6"]);
    let mut server = common::KillOnDrop(server);
    let intro = printed.join("\n");
    assert!(
        intro.contains("wallboard:") && intro.contains("demo-agent"),
        "{intro}"
    );
    // Routing happens at once: a call, its offer, an answer and a finished call are narrated.
    let mut seen = Vec::new();
    for what in ["call ", "offer ", "answer ", "done "] {
        wait_for_line(
            &lines,
            120,
            |line| line.get(10..).is_some_and(|l| l.starts_with(what)),
            &mut seen,
        );
    }
    // The demo's data is marked and served over the real API.
    let client = reqwest::blocking::Client::new();
    let services: serde_json::Value = client
        .get(format!("{base}/v1.0/services"))
        .header("api_key", common::KEY)
        .send()
        .and_then(|r| r.json())
        .expect("services");
    let names: Vec<&str> = services
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|s| s["Name"].as_str())
        .collect();
    assert_eq!(names.len(), 4, "{services}");
    assert!(names.iter().all(|n| n.starts_with("Demo ")), "{names:?}");
    server.kill().expect("stop");
    server.wait().expect("reap");

    // Without --demo nothing of the demo is created.
    let plain = format!("sqlite://{}", dir.path().join("plain.db").display());
    let (server, base, _) = common::start_with(&plain, &[]);
    let mut server = common::KillOnDrop(server);
    let services: serde_json::Value = client
        .get(format!("{base}/v1.0/services"))
        .header("api_key", common::KEY)
        .send()
        .and_then(|r| r.json())
        .expect("services");
    assert_eq!(services, serde_json::json!([]));
    // A real service in it: --demo refuses that database, and says why.
    let created = client
        .post(format!("{base}/v2.0/services"))
        .header("api_key", common::KEY)
        .json(&serde_json::json!({"Name": "Real Care", "SipUri": "sip:care@example.com"}))
        .send()
        .expect("create a service");
    assert!(created.status().is_success());
    server.kill().expect("stop");
    server.wait().expect("reap");
    let (code, _, stderr) =
        switchboard(&["serve", "--listen", "127.0.0.1:0", "--db", &plain, "--demo"]);
    assert_ne!(code, 0);
    assert!(
        stderr.contains("already holds other services (Real Care)"),
        "{stderr}"
    );
}

#[test]
fn the_lifecycle_and_mixed_benchmarks_run_against_a_server() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = format!("sqlite://{}", dir.path().join("sb.db").display());
    let (server, base, _) = common::start_with(&db, &[]);
    let mut server = common::KillOnDrop(server);
    let (code, stdout, stderr) = switchboard(&[
        "bench",
        "lifecycle",
        "--url",
        &base,
        "--key",
        common::KEY,
        "--agents",
        "8",
        "--services",
        "2",
        "--skills",
        "2",
        "--rate",
        "50",
        "--duration",
        "2",
        "--json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("JSON report");
    assert_eq!(report["calls"], 100, "{report}");
    assert_eq!(report["created"], 100, "{report}");
    assert_eq!(
        report["finished"], 100,
        "every call went through its whole life: {report}"
    );
    assert_eq!(report["errors"], serde_json::json!({}), "{report}");
    for measure in ["create_latency", "offer_latency", "full_cycle"] {
        assert_eq!(report[measure]["count"], 100, "{measure}: {report}");
        let p99 = report[measure]["p99_ms"].as_f64().unwrap();
        assert!(p99 > 0.0 && p99 < 5_000.0, "{measure}: {report}");
    }
    assert!(report["offer_latency"]["p50_ms"].as_f64() <= report["full_cycle"]["p50_ms"].as_f64());

    let (code, stdout, stderr) = switchboard(&[
        "bench",
        "mixed",
        "--url",
        &base,
        "--key",
        common::KEY,
        "--agents",
        "8",
        "--services",
        "3",
        "--skills",
        "2",
        "--rate",
        "8",
        "--duration",
        "3",
        "--handle-secs",
        "0.3",
        "--wrapup-secs",
        "0",
        "--patience-secs",
        "3",
        "--json",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("JSON report");
    let calls = report["calls"].as_u64().unwrap();
    assert!(calls > 5, "{report}");
    assert_eq!(report["created"], calls, "{report}");
    let answered = report["answered"].as_u64().unwrap();
    assert!(answered > 0, "{report}");
    // Every call ended: answered and hung up, or abandoned by its caller.
    if report["unfinished"] != 0 {
        // What the server says about them, to tell a lost call from a lost report.
        let http = reqwest::blocking::Client::new();
        for call in report["unfinished_calls"].as_array().unwrap() {
            let id = call["external_task_id"].as_str().unwrap();
            let task = http
                .get(format!("{base}/v2.0/tasks/{id}/timeline"))
                .header("api_key", common::KEY)
                .send()
                .and_then(|r| r.text());
            eprintln!("unfinished {call}: {task:?}");
        }
    }
    assert_eq!(report["unfinished"], 0, "{report}");
    let ended = report["finished"].as_u64().unwrap() + report["abandoned"].as_u64().unwrap();
    assert_eq!(ended, calls, "{report}");
    let errors = report["errors"].as_object().unwrap();
    assert!(errors.keys().all(|k| !k.starts_with("create")), "{report}");
    server.kill().expect("stop");
    server.wait().expect("reap");
}
