//! `switchboard bench create-tasks`: an open-loop load generator for task creation over REST. Requests are sent
//! at a fixed rate whatever the answers, and each latency is measured from the moment the request was due, not
//! when it was sent, so a slow server cannot hide its queueing (no coordinated omission).

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::json;

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

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)] as f64 / 1000.0
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
    let latencies: Arc<Mutex<Vec<u64>>> = Arc::new(Mutex::new(Vec::with_capacity(total as usize)));
    let errors: Arc<Mutex<BTreeMap<String, u64>>> = Arc::new(Mutex::new(BTreeMap::new()));
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
            let mut mine = Vec::new();
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
                let outcome = match result {
                    Ok(response) if response.status().is_success() => {
                        let _ = response.bytes().await;
                        None
                    }
                    Ok(response) => Some(format!("HTTP {}", response.status().as_u16())),
                    Err(error) if error.is_timeout() => Some("timeout".to_string()),
                    Err(_) => Some("connection error".to_string()),
                };
                let latency = due.elapsed().as_micros() as u64;
                match outcome {
                    None => mine.push(latency),
                    Some(kind) => *errors.lock().unwrap().entry(kind).or_insert(0) += 1,
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
            latencies.lock().unwrap().extend(mine);
        }));
    }
    // A progress bar on stderr while it runs.
    let bar_done = progress_done.clone();
    let bar = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let done = bar_done.load(Ordering::Relaxed);
            let filled = (done * 40 / total.max(1)) as usize;
            eprint!(
                "\r[{}{}] {done}/{total}",
                "#".repeat(filled),
                " ".repeat(40 - filled)
            );
            let _ = std::io::stderr().flush();
            if done >= total {
                eprintln!();
                return;
            }
        }
    });
    let wall = Instant::now();
    for worker in workers {
        worker.await?;
    }
    let elapsed = wall.elapsed().as_secs_f64();
    let _ = bar.await;
    let mut latencies = std::mem::take(&mut *latencies.lock().unwrap());
    latencies.sort_unstable();
    let errors = errors.lock().unwrap().clone();
    let ok = latencies.len() as u64;
    let report = json!({
        "scenario": "create-tasks",
        "offered_rate_per_s": run.rate,
        "connections": run.connections,
        "requests": total,
        "succeeded": ok,
        "achieved_rate_per_s": ok as f64 / elapsed,
        "latency_ms": {
            "p50": percentile(&latencies, 50.0),
            "p90": percentile(&latencies, 90.0),
            "p99": percentile(&latencies, 99.0),
            "p99_9": percentile(&latencies, 99.9),
            "max": latencies.last().map(|m| *m as f64 / 1000.0).unwrap_or(0.0),
        },
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
        let l = &report["latency_ms"];
        println!(
            "latency from due time (ms): p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}",
            l["p50"].as_f64().unwrap_or(0.0),
            l["p90"].as_f64().unwrap_or(0.0),
            l["p99"].as_f64().unwrap_or(0.0),
            l["p99_9"].as_f64().unwrap_or(0.0),
            l["max"].as_f64().unwrap_or(0.0)
        );
        for (kind, count) in &errors {
            println!("errors: {kind}: {count}");
        }
    }
    Ok(())
}
