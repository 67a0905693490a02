//! `switchboard bench create-tasks`: an open-loop load generator for task creation over REST. Requests are sent
//! at a fixed rate whatever the answers, and each latency is measured from the moment the request was due, not
//! when it was sent, so a slow server cannot hide its queueing (no coordinated omission).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::json;

use crate::client::{print_latency, progress, request_error, Errors, Latency};

/// What to run.
pub struct CreateTasks {
    pub url: String,
    pub key: String,
    pub rate: u64,
    pub duration: Duration,
    pub connections: usize,
    pub service: String,
    pub json: bool,
}

/// Runs the scenario and prints throughput, latency percentiles (ms) and errors by kind.
pub async fn create_tasks(run: CreateTasks) -> anyhow::Result<()> {
    if run.rate == 0 || run.connections == 0 {
        bail!("--rate and --connections must be at least 1");
    }
    let base = run.url.trim_end_matches('/').to_string();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(run.connections)
        .build()
        .context("could not build the HTTP client")?;
    // Make sure the service exists (needs the Configuration role), so the run measures creations only.
    let probe = client
        .get(format!("{base}/v1.0/services/{}", run.service))
        .header("api_key", &run.key)
        .send()
        .await
        .with_context(|| format!("could not reach {base}"))?;
    if probe.status() == reqwest::StatusCode::NOT_FOUND {
        let created = client
            .post(format!("{base}/v2.0/services"))
            .header("api_key", &run.key)
            .json(&json!({"Name": "Benchmark", "SipUri": run.service}))
            .send()
            .await?;
        if !created.status().is_success() {
            bail!(
                "could not create the service {} ({})",
                run.service,
                created.status()
            );
        }
    } else if !probe.status().is_success() {
        bail!("the server refused the key ({})", probe.status());
    }
    let total = run.rate * run.duration.as_secs().max(1);
    let interval = Duration::from_secs_f64(1.0 / run.rate as f64);
    let next = Arc::new(AtomicU64::new(0));
    let latencies: Arc<Mutex<Latency>> = Arc::default();
    let errors = Errors::default();
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let started = tokio::time::Instant::now() + Duration::from_millis(100);
    let progress_done = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for _ in 0..run.connections {
        let (client, base, key, service, run_id) = (
            client.clone(),
            base.clone(),
            run.key.clone(),
            run.service.clone(),
            run_id.clone(),
        );
        let (next, latencies, errors, done) = (
            next.clone(),
            latencies.clone(),
            errors.clone(),
            progress_done.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut mine = Latency::default();
            loop {
                let slot = next.fetch_add(1, Ordering::Relaxed);
                if slot >= total {
                    break;
                }
                let due = started + interval * slot as u32;
                tokio::time::sleep_until(due).await;
                let body = json!({"Service": service, "ExternalTaskId": format!("bench-{run_id}-{slot}"), "Caller": "bench"});
                let result = client
                    .post(format!("{base}/v1.0/tasks"))
                    .header("api_key", &key)
                    .json(&body)
                    .send()
                    .await;
                let outcome = request_error(&result);
                if let Ok(response) = result {
                    let _ = response.bytes().await;
                }
                match outcome {
                    None => mine.record(due.elapsed()),
                    Some(kind) => errors.add(kind),
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
            latencies.lock().unwrap().add(&mine);
        }));
    }
    let bar = progress("create-tasks", total, progress_done.clone());
    let wall = Instant::now();
    for worker in workers {
        worker.await?;
    }
    let elapsed = wall.elapsed().as_secs_f64();
    let _ = bar.await;
    let latencies = std::mem::take(&mut *latencies.lock().unwrap());
    let errors = errors.snapshot();
    let ok = latencies.len();
    let report = json!({
        "scenario": "create-tasks",
        "offered_rate_per_s": run.rate,
        "connections": run.connections,
        "requests": total,
        "succeeded": ok,
        "achieved_rate_per_s": ok as f64 / elapsed,
        "latency": latencies.summary(),
        "errors": errors,
    });
    if run.json {
        println!("{report:#}");
    } else {
        println!(
            "create-tasks: offered {}/s for {}s over {} connections: {} of {} succeeded, {:.0}/s",
            run.rate,
            run.duration.as_secs(),
            run.connections,
            ok,
            total,
            ok as f64 / elapsed
        );
        print_latency("latency from due time", &report["latency"]);
        for (kind, count) in &errors {
            println!("errors: {kind}: {count}");
        }
    }
    Ok(())
}
