//! Scenario runs through the real engine whose reports must make sense.

use switchboard_sim::report::Report;
use switchboard_sim::scenario::{Model, Scenario};
use switchboard_sim::simulation::{self, Plan};
use switchboard_sim::svg;

fn model(text: &str) -> Model {
    Scenario::parse(text, "test.yaml")
        .expect("the scenario parses")
        .model()
        .expect("the scenario is valid")
}

fn report(model: &Model) -> Report {
    Report::new(model, &simulation::run(model, Plan::Scenario))
}

/// One queue offered 4.5 Erlangs (90 calls an hour of 3 minutes) for 200 hours, served by `agents` agents.
fn single_queue(agents: u32, patience: &str) -> String {
    format!(
        "
seed: 11
duration: 200h
warmup: 2h
services: [{{ name: Queue, service_level_threshold: 20s }}]
groups: [{{ name: Team, agents: {agents}, skills: [Queue] }}]
arrivals:
  - service: Queue
    rate_per_hour: 90
    handling: {{ distribution: exponential, mean: 3m }}
{patience}
"
    )
}

#[test]
fn the_example_scenario_runs_and_its_report_is_sane() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/simulation.yaml"
    );
    let text = std::fs::read_to_string(path).expect("the example exists");
    let model = Scenario::parse(&text, path).unwrap().model().unwrap();
    let result = simulation::run(&model, Plan::Scenario);
    let report = Report::new(&model, &result);
    for service in &report.services {
        assert!(service.offered > 0, "{service:?}");
        assert_eq!(
            service.answered + service.abandoned + service.still_waiting,
            service.offered,
            "{service:?}"
        );
        let level = service.service_level_percent.unwrap();
        assert!((0.0..=100.0).contains(&level), "{service:?}");
        assert!(service.average_speed_of_answer_seconds.unwrap() >= 0.0);
        assert!(service.max_wait_seconds >= service.average_speed_of_answer_seconds.unwrap());
    }
    // The handling times drawn have the configured means (4 and 6 minutes, 4 on average for uniform 2-6).
    let aht: Vec<f64> = report
        .services
        .iter()
        .map(|s| s.average_handling_seconds.unwrap())
        .collect();
    assert!((aht[0] - 240.0).abs() < 24.0, "{aht:?}");
    assert!((aht[1] - 360.0).abs() < 36.0, "{aht:?}");
    assert!((aht[2] - 240.0).abs() < 40.0, "{aht:?}");
    assert_eq!(
        report.total.offered,
        report.services.iter().map(|s| s.offered).sum::<u64>()
    );
    for group in &report.groups {
        assert!(group.answered > 0, "{group:?}");
        assert_eq!(group.answered_off_shift, 0, "{group:?}");
        let occupancy = group.occupancy_percent.unwrap();
        assert!(occupancy > 0.0 && occupancy <= 100.0, "{group:?}");
    }
    // Staffed time follows the shifts: 8 agents for 10 h, 10 for 6 h, 10 for 6 h, 4 for 4 h + 4 h.
    let staffed: Vec<f64> = report.groups.iter().map(|g| g.staffed_hours).collect();
    for (actual, expected) in staffed.iter().zip([80.0, 60.0, 60.0, 32.0]) {
        assert!((actual - expected).abs() < 1e-6, "{staffed:?}");
    }
    assert_eq!(
        report.groups.iter().map(|g| g.answered).sum::<u64>(),
        report.total.answered
    );
    let text = report.to_text();
    for name in ["Sales", "Support", "Billing", "Generalists", "occupancy"] {
        assert!(text.contains(name), "{text}");
    }
    serde_json::to_string(&report).expect("the report is JSON");
    let chart = svg::chart(&model, &result.timeline, "example");
    assert!(chart.starts_with("<svg") && chart.trim_end().ends_with("</svg>"));
    assert!(chart.matches("<polyline").count() >= 4, "{chart}");
    assert_eq!(
        result.timeline.len(),
        301,
        "a sample every 2 minutes over 10 hours"
    );
}

#[test]
fn the_same_seed_gives_the_same_report_and_another_seed_another() {
    let scenario = model(&single_queue(5, ""));
    let first = serde_json::to_string(&report(&scenario)).unwrap();
    let second = serde_json::to_string(&report(&scenario)).unwrap();
    assert_eq!(first, second);
    let mut reseeded = scenario.clone();
    reseeded.seed += 1;
    assert_ne!(first, serde_json::to_string(&report(&reseeded)).unwrap());
}

#[test]
fn more_agents_answer_sooner() {
    // 4.5 Erlangs: 5 agents are at 90% occupancy, 6 at 75%, 8 at 56%. The runs share their random draws
    // (arrivals and handling times per stream), so only the staffing differs.
    let asa: Vec<f64> = [5, 6, 8]
        .iter()
        .map(|&agents| {
            let report = report(&model(&single_queue(agents, "")));
            assert_eq!(report.total.abandoned, 0);
            assert_eq!(report.total.still_waiting, 0);
            let occupancy = report.groups[0].occupancy_percent.unwrap();
            let expected = 100.0 * 4.5 / f64::from(agents);
            assert!(
                (occupancy - expected).abs() < 2.0,
                "{occupancy} vs {expected}"
            );
            report.total.average_speed_of_answer_seconds.unwrap()
        })
        .collect();
    assert!(asa[0] > asa[1] && asa[1] > asa[2], "{asa:?}");
    assert!(asa[0] > 5.0 * asa[2], "{asa:?}");
}

#[test]
fn short_patience_abandons_and_no_patience_does_not() {
    let patient = report(&model(&single_queue(5, "")));
    assert_eq!(patient.total.abandoned, 0);
    assert_eq!(patient.total.average_wait_abandoned_seconds, None);
    let impatient = report(&model(&single_queue(
        5,
        "    patience: { distribution: exponential, mean: 20s }",
    )));
    let abandoned = impatient.total.abandoned_percent.unwrap();
    assert!(abandoned > 5.0 && abandoned < 50.0, "{abandoned}");
    // Abandoned calls leave the queue, so those who stay are answered sooner, and every abandon is counted
    // against the service level.
    assert!(
        impatient.total.average_speed_of_answer_seconds.unwrap()
            < patient.total.average_speed_of_answer_seconds.unwrap()
    );
    let answered_in_time = impatient.total.service_level_percent.unwrap() / 100.0
        * (impatient.total.answered + impatient.total.abandoned) as f64;
    assert!(answered_in_time <= impatient.total.answered as f64 + 0.5);
    assert!(impatient.total.average_wait_abandoned_seconds.unwrap() > 0.0);
}

#[test]
fn nobody_answers_outside_their_shift() {
    // Calls arrive only in the first half hour; the only group signs in at 1 h and out at 2 h. Every call
    // therefore waits at least half an hour, and calls left at 2 h stay unanswered.
    let scenario = model(
        "
duration: 3h
services: [{ name: Queue }]
groups: [{ name: Late, agents: 2, skills: [Queue], shifts: [{ start: 1h, end: 2h }] }]
arrivals:
  - service: Queue
    rates: [{ from: 0, per_hour: 100 }, { from: 30m, per_hour: 0 }]
    handling: { distribution: fixed, value: 5m }
",
    );
    let report = report(&scenario);
    let total = &report.total;
    assert!(total.offered > 20, "{total:?}");
    // Two agents answer 12 five-minute calls each in their hour (the last ones at 1h55m).
    assert_eq!(total.answered, 24, "{total:?}");
    assert_eq!(total.still_waiting, total.offered - 24);
    assert!(total.average_speed_of_answer_seconds.unwrap() > 1800.0);
    assert_eq!(total.waited_percent, Some(100.0));
    assert_eq!(report.groups[0].answered_off_shift, 0);
    assert!((report.groups[0].staffed_hours - 2.0).abs() < 1e-9);
}

#[test]
fn each_group_answers_only_on_its_shift() {
    let scenario = model(
        "
duration: 8h
services: [{ name: Queue }]
groups:
  - { name: Early, agents: 3, skills: [Queue], shifts: [{ start: 0h, end: 4h }] }
  - { name: Late, agents: 3, skills: [Queue], shifts: [{ start: 4h, end: 8h }] }
arrivals:
  - service: Queue
    rate_per_hour: 40
    handling: { distribution: exponential, mean: 3m }
",
    );
    let report = report(&scenario);
    for group in &report.groups {
        assert!(group.answered > 50, "{group:?}");
        assert_eq!(group.answered_off_shift, 0, "{group:?}");
        assert!((group.staffed_hours - 12.0).abs() < 1e-9, "{group:?}");
    }
}

#[test]
fn wrapup_counts_as_busy() {
    // One agent, calls of exactly 100 s each followed by 50 s of wrap-up, one call every 300 s on average:
    // occupancy 150 / 300 = 50%.
    let scenario = model(
        "
duration: 200h
services: [{ name: Queue, wrapup: 50s }]
groups: [{ name: Solo, agents: 1, skills: [Queue] }]
arrivals:
  - service: Queue
    rate_per_hour: 12
    handling: { distribution: fixed, value: 100s }
",
    );
    let report = report(&scenario);
    let occupancy = report.groups[0].occupancy_percent.unwrap();
    assert!((occupancy - 50.0).abs() < 3.0, "{occupancy}");
    assert_eq!(report.total.average_handling_seconds, Some(100.0));
}

#[test]
fn a_toml_scenario_reads_like_the_yaml_one() {
    let text = r#"
seed = 3
duration = "2h"
[[services]]
name = "Queue"
strategy = "round-robin"
[[groups]]
name = "Team"
agents = 3
skills = [{ service = "Queue", penalty = 0 }]
[[arrivals]]
service = "Queue"
rate_per_hour = 30
handling = { distribution = "lognormal", mean = "4m", sd = "1m" }
patience = { distribution = "uniform", min = "30s", max = "2m" }
"#;
    let model = Scenario::parse(text, "scenario.toml")
        .unwrap()
        .model()
        .unwrap();
    assert_eq!(
        model.services[0].strategy,
        switchboard_core::Strategy::RoundRobin
    );
    let report = report(&model);
    assert!(report.total.offered > 20);
}
