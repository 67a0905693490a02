//! `switchboard simulate` as a user meets it: a scenario file gives a report (tables, JSON, a chart), a bad file
//! a clear error, and the Erlang C check a table whose verdict is the exit status.

mod common;

/// Runs the binary from the repository's root, where the example scenarios are.
fn switchboard(args: &[&str]) -> (i32, String, String) {
    common::switchboard_in(Some(concat!(env!("CARGO_MANIFEST_DIR"), "/../..")), args)
}

#[test]
fn a_scenario_gives_a_report_and_a_chart() {
    let directory = tempfile::tempdir().unwrap();
    let chart = directory.path().join("day.svg");
    let chart_arg = chart.to_str().unwrap();
    let (code, stdout, stderr) =
        switchboard(&["simulate", "examples/simulation.yaml", "--svg", chart_arg]);
    assert_eq!(code, 0, "{stderr}");
    for expected in [
        "Sales",
        "Support",
        "Billing",
        "occupancy",
        "chart written to",
    ] {
        assert!(stdout.contains(expected), "{stdout}");
    }
    let svg = std::fs::read_to_string(&chart).expect("the chart is written");
    assert!(svg.starts_with("<svg") && svg.contains("polyline"));

    let (code, stdout, stderr) = switchboard(&[
        "simulate",
        "examples/simulation.yaml",
        "--json",
        "--seed",
        "7",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(report["seed"], 7);
    assert_eq!(report["services"].as_array().unwrap().len(), 3);
    assert_eq!(report["groups"].as_array().unwrap().len(), 4);
}

#[test]
fn a_bad_scenario_is_refused_clearly() {
    let directory = tempfile::tempdir().unwrap();
    let file = directory.path().join("bad.yaml");
    std::fs::write(
        &file,
        "duration: 1h\nservices: [{ name: A }]\ngroups: [{ name: G, agents: 1, skills: [B] }]\narrivals: []\n",
    )
    .unwrap();
    let (code, _, stderr) = switchboard(&["simulate", file.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(stderr.contains("no service named 'B'"), "{stderr}");
    let (code, _, stderr) = switchboard(&["simulate", "no/such/scenario.yaml"]);
    assert_ne!(code, 0);
    assert!(stderr.contains("could not read the scenario"), "{stderr}");
}

/// Too few calls for 2%: whatever the verdict, the exit status must say the same as the table.
#[test]
fn the_erlang_check_verdict_is_the_exit_status() {
    let (code, stdout, stderr) = switchboard(&[
        "simulate",
        "--erlang-check",
        "--calls",
        "2000",
        "--warmup-calls",
        "1000",
        "--json",
    ]);
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    let points = report["points"].as_array().unwrap();
    let agents: Vec<u64> = points
        .iter()
        .map(|p| p["agents"].as_u64().unwrap())
        .collect();
    assert_eq!(agents, [10, 50, 100]);
    assert_eq!(report["tolerance"], 0.02);
    if report["passed"] == true {
        assert_eq!(code, 0, "{stderr}");
    } else {
        assert_ne!(code, 0);
        assert!(stderr.contains("does not agree with Erlang C"), "{stderr}");
    }
}
