//! Prometheus metrics at `/metrics`: requests by route and status, request latency histograms, offers and RONAs,
//! tasks waiting per service, agents by state, and store commit counts and latency. Counters are kept here;
//! gauges are read from the engines at scrape time.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use switchboard_core::{AgentState, Event, EventKind};

use crate::AppState;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

#[derive(Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        for (bound, count) in BUCKETS.iter().zip(self.counts.iter_mut()) {
            if seconds <= *bound {
                *count += 1;
            }
        }
        self.count += 1;
        self.sum += seconds;
    }
}

/// The server's counters.
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    latency: Mutex<BTreeMap<String, Histogram>>,
    tasks_created: AtomicU64,
    tasks_terminated: AtomicU64,
    offers: AtomicU64,
    ronas: AtomicU64,
}

impl Metrics {
    /// Counts what a batch of engine events says happened.
    pub fn observe_events(&self, events: &[Event]) {
        for event in events {
            let counter = match event.kind {
                EventKind::TaskCreated { .. } => &self.tasks_created,
                EventKind::TaskTerminated { .. } => &self.tasks_terminated,
                EventKind::TaskOffered { .. } => &self.offers,
                EventKind::TaskRona { .. } => &self.ronas,
                _ => continue,
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn observe_request(&self, route: &str, status: u16, seconds: f64) {
        *self
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry((route.to_string(), status))
            .or_insert(0) += 1;
        self.latency
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(route.to_string())
            .or_default()
            .observe(seconds);
    }
}

/// Middleware recording every request by its route pattern (never the raw path, which holds ids).
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "unmatched".to_string());
    let method = request.method().clone();
    let started = Instant::now();
    let response = next.run(request).await;
    let seconds = started.elapsed().as_secs_f64();
    let status = response.status().as_u16();
    state.metrics().observe_request(&route, status, seconds);
    tracing::debug!(%method, route = %route, status, micros = (seconds * 1e6) as u64, "request");
    response
}

pub(crate) fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The `/metrics` page in Prometheus text format.
pub async fn render(State(state): State<AppState>) -> Response {
    let metrics = state.metrics();
    let mut out = String::new();
    out.push_str("# HELP switchboard_http_requests_total HTTP requests by route and status.\n");
    out.push_str("# TYPE switchboard_http_requests_total counter\n");
    for ((route, status), count) in metrics
        .requests
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
    {
        let _ = writeln!(
            out,
            "switchboard_http_requests_total{{route=\"{}\",status=\"{status}\"}} {count}",
            escape(route)
        );
    }
    out.push_str(
        "# HELP switchboard_http_request_duration_seconds HTTP request latency by route.\n",
    );
    out.push_str("# TYPE switchboard_http_request_duration_seconds histogram\n");
    for (route, histogram) in metrics
        .latency
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
    {
        let route = escape(route);
        for (bound, count) in BUCKETS.iter().zip(histogram.counts.iter()) {
            let _ = writeln!(
                out,
                "switchboard_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {count}"
            );
        }
        let _ = writeln!(
            out,
            "switchboard_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
            histogram.count
        );
        let _ = writeln!(
            out,
            "switchboard_http_request_duration_seconds_sum{{route=\"{route}\"}} {}",
            histogram.sum
        );
        let _ = writeln!(
            out,
            "switchboard_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
            histogram.count
        );
    }
    for (name, help, counter) in [
        (
            "switchboard_tasks_created_total",
            "Tasks created.",
            &metrics.tasks_created,
        ),
        (
            "switchboard_tasks_terminated_total",
            "Tasks terminated.",
            &metrics.tasks_terminated,
        ),
        (
            "switchboard_offers_total",
            "Offers made to agents.",
            &metrics.offers,
        ),
        (
            "switchboard_rona_total",
            "Offers not answered in time (RONA).",
            &metrics.ronas,
        ),
    ] {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
            counter.load(Ordering::Relaxed)
        );
    }
    out.push_str("# HELP switchboard_tasks_waiting Tasks waiting per service.\n");
    out.push_str("# TYPE switchboard_tasks_waiting gauge\n");
    let mut agents_by_state = String::new();
    agents_by_state.push_str(
        "# HELP switchboard_agents Agents by xuc state.\n# TYPE switchboard_agents gauge\n",
    );
    for tenant in state.tenant_handles() {
        let name = escape(tenant.name());
        let (waiting, by_state) = state.read(&tenant, |engine| {
            let waiting: Vec<(String, usize)> = engine
                .services()
                .into_iter()
                .filter_map(|s| engine.service_info(s))
                .map(|info| (info.spec.id.to_string(), info.n_waiting))
                .collect();
            let mut by_state: BTreeMap<&'static str, usize> = BTreeMap::new();
            for state in [
                AgentState::LoggedOut,
                AgentState::Ready,
                AgentState::OnPause,
                AgentState::Ringing,
                AgentState::Dialing,
                AgentState::OnCall,
                AgentState::OnWrapup,
            ] {
                by_state.insert(state.xuc_name(), 0);
            }
            for agent in engine.agents() {
                if let Some(info) = engine.agent_info(agent) {
                    *by_state.entry(info.state.xuc_name()).or_insert(0) += 1;
                }
            }
            (waiting, by_state)
        });
        for (service, n) in waiting {
            let _ = writeln!(
                out,
                "switchboard_tasks_waiting{{tenant=\"{name}\",service=\"{service}\"}} {n}"
            );
        }
        for (agent_state, n) in by_state {
            let _ = writeln!(
                agents_by_state,
                "switchboard_agents{{tenant=\"{name}\",state=\"{agent_state}\"}} {n}"
            );
        }
    }
    out.push_str(&agents_by_state);
    let stats = state.store().stats();
    let commits = stats.commits.load(Ordering::Relaxed);
    let commit_seconds = stats.commit_micros.load(Ordering::Relaxed) as f64 / 1e6;
    let _ = writeln!(
        out,
        "# HELP switchboard_store_commits_total Store transactions committed.\n# TYPE switchboard_store_commits_total counter\nswitchboard_store_commits_total {commits}"
    );
    let _ = writeln!(
        out,
        "# HELP switchboard_store_commit_seconds_total Time spent committing.\n# TYPE switchboard_store_commit_seconds_total counter\nswitchboard_store_commit_seconds_total {commit_seconds}"
    );
    let _ = writeln!(
        out,
        "# HELP switchboard_store_last_commit_seconds Duration of the last commit.\n# TYPE switchboard_store_last_commit_seconds gauge\nswitchboard_store_last_commit_seconds {}",
        stats.last_commit_micros.load(Ordering::Relaxed) as f64 / 1e6
    );
    let _ = writeln!(
        out,
        "# HELP switchboard_store_writes_total Writes acknowledged durable.\n# TYPE switchboard_store_writes_total counter\nswitchboard_store_writes_total {}",
        stats.writes.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        out,
        "# HELP switchboard_store_failed_writes_total Writes refused by the store.\n# TYPE switchboard_store_failed_writes_total counter\nswitchboard_store_failed_writes_total {}",
        stats.failed_writes.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        out,
        "# HELP switchboard_store_snapshots_total Snapshots stored.\n# TYPE switchboard_store_snapshots_total counter\nswitchboard_store_snapshots_total {}",
        stats.snapshots.load(Ordering::Relaxed)
    );
    out.push_str("# HELP switchboard_store_last_snapshot_seconds The last snapshot's phases: copy (under the tenant's lock), encode and store (on the snapshot thread).\n");
    out.push_str("# TYPE switchboard_store_last_snapshot_seconds gauge\n");
    for (phase, micros) in [
        ("copy", &stats.last_snapshot_copy_micros),
        ("encode", &stats.last_snapshot_encode_micros),
        ("store", &stats.last_snapshot_store_micros),
    ] {
        let _ = writeln!(
            out,
            "switchboard_store_last_snapshot_seconds{{phase=\"{phase}\"}} {}",
            micros.load(Ordering::Relaxed) as f64 / 1e6
        );
    }
    let _ = writeln!(
        out,
        "# HELP switchboard_store_last_snapshot_bytes The last snapshot's size.\n# TYPE switchboard_store_last_snapshot_bytes gauge\nswitchboard_store_last_snapshot_bytes {}",
        stats.last_snapshot_bytes.load(Ordering::Relaxed)
    );
    if let Some(cluster) = state.cluster() {
        out.push_str(&cluster.metrics_text());
    }
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        out,
    )
        .into_response()
}
