//! What a scenario run reports, per service and per agent group, as text or JSON. The definitions of the
//! figures are on the fields (and in `docs/simulate.md`).

use std::fmt::Write as _;

use serde::Serialize;

use crate::scenario::Model;
use crate::simulation::{RunResult, ServiceTally};

/// The report of one scenario run.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The seed used.
    pub seed: u64,
    /// Seconds during which calls arrived.
    pub duration_seconds: f64,
    /// Seconds discarded at the start.
    pub warmup_seconds: f64,
    /// Length of the measurement window (from the warm-up to the duration), seconds.
    pub measured_seconds: f64,
    /// Simulated seconds until the last waiting call was answered or abandoned.
    pub ended_at_seconds: f64,
    /// Calls created in the engine, warm-up included.
    pub calls_simulated: u64,
    /// Engine events the run produced.
    pub engine_events: u64,
    /// Per service.
    pub services: Vec<ServiceReport>,
    /// All services together (each call judged by its own service's threshold).
    pub total: ServiceReport,
    /// Per agent group.
    pub groups: Vec<GroupReport>,
}

/// The figures of one service, over the calls that arrived in the measurement window.
#[derive(Clone, Debug, Serialize)]
pub struct ServiceReport {
    /// The service.
    pub name: String,
    /// Service level threshold, seconds (`null` in the total when services differ).
    pub threshold_seconds: Option<f64>,
    /// Calls that arrived.
    pub offered: u64,
    /// Calls answered by an agent.
    pub answered: u64,
    /// Callers who hung up while waiting.
    pub abandoned: u64,
    /// abandoned / offered, percent.
    pub abandoned_percent: Option<f64>,
    /// Calls still waiting when the run ended (no agent left to take them and no patience limit).
    pub still_waiting: u64,
    /// Answered within the threshold / (answered + abandoned), percent: an abandoned call counts as missed
    /// however soon the caller hung up.
    pub service_level_percent: Option<f64>,
    /// Calls that waited (were not offered the moment they arrived) / (answered + abandoned), percent; Erlang
    /// C's probability of waiting.
    pub waited_percent: Option<f64>,
    /// Average speed of answer: the mean wait of answered calls, seconds, counting those answered at once as 0.
    pub average_speed_of_answer_seconds: Option<f64>,
    /// Average handling time of answered calls (talk time, without wrap-up), seconds.
    pub average_handling_seconds: Option<f64>,
    /// The longest wait of any call, answered or abandoned, seconds.
    pub max_wait_seconds: f64,
    /// Mean wait of abandoned calls before the caller hung up, seconds.
    pub average_wait_abandoned_seconds: Option<f64>,
}

/// The figures of one agent group over the measurement window.
#[derive(Clone, Debug, Serialize)]
pub struct GroupReport {
    /// The group.
    pub name: String,
    /// Agents in the group.
    pub agents: u32,
    /// Agent-hours signed in (on shift) in the window.
    pub staffed_hours: f64,
    /// Time on shift spent ringing, on a call or in wrap-up / time on shift, percent.
    pub occupancy_percent: Option<f64>,
    /// Measured calls the group's agents answered.
    pub answered: u64,
    /// Calls offered to an agent of the group while it was off shift (must be 0).
    pub answered_off_shift: u64,
}

fn percent(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| 100.0 * part as f64 / whole as f64)
}

fn mean_seconds(sum_micros: u128, count: u64) -> Option<f64> {
    (count > 0).then(|| sum_micros as f64 / 1e6 / count as f64)
}

fn service_report(
    name: &str,
    threshold_seconds: Option<f64>,
    tally: &ServiceTally,
) -> ServiceReport {
    let ended = tally.answered + tally.abandoned;
    ServiceReport {
        name: name.to_string(),
        threshold_seconds,
        offered: tally.offered,
        answered: tally.answered,
        abandoned: tally.abandoned,
        abandoned_percent: percent(tally.abandoned, tally.offered),
        still_waiting: tally.still_waiting,
        service_level_percent: percent(tally.answered_within_threshold, ended),
        waited_percent: percent(ended - tally.answered_at_once, ended),
        average_speed_of_answer_seconds: mean_seconds(tally.wait_answered, tally.answered),
        average_handling_seconds: mean_seconds(tally.handling, tally.answered),
        max_wait_seconds: tally.max_wait as f64 / 1e6,
        average_wait_abandoned_seconds: mean_seconds(tally.wait_abandoned, tally.abandoned),
    }
}

impl Report {
    /// The report of a scenario run.
    pub fn new(model: &Model, result: &RunResult) -> Report {
        let services: Vec<ServiceReport> = model
            .services
            .iter()
            .zip(&result.services)
            .map(|(service, tally)| {
                service_report(&service.name, Some(service.threshold.0 as f64 / 1e6), tally)
            })
            .collect();
        let mut sum = ServiceTally::default();
        for tally in &result.services {
            sum.offered += tally.offered;
            sum.answered += tally.answered;
            sum.answered_at_once += tally.answered_at_once;
            sum.answered_within_threshold += tally.answered_within_threshold;
            sum.abandoned += tally.abandoned;
            sum.still_waiting += tally.still_waiting;
            sum.wait_answered += tally.wait_answered;
            sum.wait_abandoned += tally.wait_abandoned;
            sum.max_wait = sum.max_wait.max(tally.max_wait);
            sum.handling += tally.handling;
        }
        let thresholds: Vec<i64> = model.services.iter().map(|s| s.threshold.0).collect();
        let common_threshold = thresholds
            .iter()
            .all(|&t| t == thresholds[0])
            .then(|| thresholds[0] as f64 / 1e6);
        let groups = model
            .groups
            .iter()
            .zip(&result.groups)
            .map(|(group, tally)| GroupReport {
                name: group.name.clone(),
                agents: group.agents,
                staffed_hours: tally.staffed as f64 / 3.6e9,
                occupancy_percent: (tally.staffed > 0)
                    .then(|| 100.0 * tally.busy as f64 / tally.staffed as f64),
                answered: tally.answered,
                answered_off_shift: tally.answered_off_shift,
            })
            .collect();
        Report {
            seed: model.seed,
            duration_seconds: model.duration.0 as f64 / 1e6,
            warmup_seconds: model.warmup.0 as f64 / 1e6,
            measured_seconds: result.measured_span as f64 / 1e6,
            ended_at_seconds: result.end as f64 / 1e6,
            calls_simulated: result.calls_simulated,
            engine_events: result.engine_events,
            services,
            total: service_report("all services", common_threshold, &sum),
            groups,
        }
    }

    /// The report as aligned text tables.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let opt = |value: Option<f64>, decimals: usize| match value {
            Some(value) => format!("{value:.decimals$}"),
            None => "-".to_string(),
        };
        let _ = writeln!(
            out,
            "simulated {:.1} h of arrivals ({:.1} h measured after {:.1} h warm-up), seed {}: {} calls, {} engine events",
            self.duration_seconds / 3600.0,
            self.measured_seconds / 3600.0,
            self.warmup_seconds / 3600.0,
            self.seed,
            self.calls_simulated,
            self.engine_events,
        );
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{:<20} {:>8} {:>8} {:>9} {:>7} {:>10} {:>7} {:>7} {:>7} {:>9} {:>5}",
            "service",
            "offered",
            "answered",
            "abandoned",
            "aband.",
            "SL",
            "waited",
            "ASA s",
            "AHT s",
            "max wait",
            "left"
        );
        for service in self.services.iter().chain(std::iter::once(&self.total)) {
            let level = match (service.service_level_percent, service.threshold_seconds) {
                (Some(level), Some(threshold)) => format!("{level:.1}%/{threshold:.0}s"),
                (Some(level), None) => format!("{level:.1}%"),
                _ => "-".to_string(),
            };
            let _ = writeln!(
                out,
                "{:<20} {:>8} {:>8} {:>9} {:>6}% {:>10} {:>6}% {:>7} {:>7} {:>8}s {:>5}",
                service.name,
                service.offered,
                service.answered,
                service.abandoned,
                opt(service.abandoned_percent, 1),
                level,
                opt(service.waited_percent, 1),
                opt(service.average_speed_of_answer_seconds, 1),
                opt(service.average_handling_seconds, 1),
                format!("{:.0}", service.max_wait_seconds),
                service.still_waiting,
            );
        }
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{:<20} {:>7} {:>14} {:>10} {:>9}",
            "group", "agents", "staffed hours", "occupancy", "answered"
        );
        for group in &self.groups {
            let _ = writeln!(
                out,
                "{:<20} {:>7} {:>14.1} {:>9}% {:>9}",
                group.name,
                group.agents,
                group.staffed_hours,
                opt(group.occupancy_percent, 1),
                group.answered,
            );
        }
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "aband.: abandoned / offered; SL: answered within the threshold / (answered + abandoned);\n\
             waited: % of calls not offered on arrival; ASA: mean wait of answered calls; left: still waiting at the end;\n\
             occupancy: time ringing, talking or in wrap-up / time on shift."
        );
        out
    }
}
