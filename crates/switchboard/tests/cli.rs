//! The command line as a user meets it: an unusable database stops `serve` with a clear message and a non-zero
//! exit instead of serving without durability; keys are created, listed and revoked.

mod common;

use std::process::Command;

fn switchboard(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(args)
        .env_remove("SWITCHBOARD_DB")
        .env_remove("SWITCHBOARD_ADMIN_KEY")
        .output()
        .expect("run switchboard");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
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
    let p99 = report["latency_ms"]["p99"].as_f64().unwrap();
    assert!(p99 > 0.0 && p99 < 5_000.0, "{report}");
    assert!(
        report["achieved_rate_per_s"].as_f64().unwrap() > 100.0,
        "{report}"
    );
    server.kill().expect("stop");
    server.wait().expect("reap");
}
