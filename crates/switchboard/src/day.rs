//! A contact-center day driven over the real interfaces: simulated agents on CTI sockets (`sim_agent`) and
//! customers calling in over REST at an open-loop arrival rate (fixed intervals, or Poisson with a day curve),
//! some of them hanging up when they have waited too long. The `lifecycle` and `mixed` benchmarks and the live
//! demo are all days with other settings.
//!
//! Every latency counts from the moment a customer was due to call, not when the request was sent, so a slow
//! server cannot hide its queueing (no coordinated omission).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::client::{in_parallel, print_latency, request_error, Api, CtiSetup, Errors, Latency};
use crate::sim_agent::{Agent, Behaviour, Dist, Report};

/// A simulated agent: how to provision it and the phone line it logs in on.
pub struct DayAgent {
    pub setup: CtiSetup,
    pub line: String,
}

/// A service customers call, and its share of the calls.
pub struct DayService {
    pub uri: String,
    pub weight: f64,
}

/// When customers call.
#[derive(Clone, Copy, Debug)]
pub enum Arrivals {
    /// Exactly `rate` per second, evenly spaced.
    Fixed { rate: f64 },
    /// Poisson arrivals averaging `rate` per second; with `curve`, the rate follows a day's shape (a morning peak
    /// and a smaller afternoon one) over the run (every ten minutes without a duration), averaging `rate`.
    Poisson { rate: f64, curve: bool },
}

/// One customer call, as the customer generator builds it: extra fields of the LUCS task DTO.
pub type CustomerFn = Box<dyn Fn(&mut SmallRng, u64) -> Value + Send + Sync>;

/// What is printed while it runs.
pub type NarrateFn = Box<dyn Fn(&str) + Send + Sync>;

/// A day to run.
pub struct Day {
    pub scenario: &'static str,
    pub agents: Vec<DayAgent>,
    pub services: Vec<DayService>,
    pub behaviour: Behaviour,
    pub arrivals: Arrivals,
    /// How long customers keep calling; `None` until `stop` is set.
    pub duration: Option<Duration>,
    /// The share of calls with high priority.
    pub vip_share: f64,
    /// How long a customer waits before hanging up; `None`: customers never give up.
    pub patience: Option<Dist>,
    /// Calls answered within this are counted in the service level.
    pub service_level: Duration,
    /// Requests in flight at most (more wait for a connection, and their wait counts).
    pub concurrency: usize,
    pub seed: u64,
    /// Extra fields for each call (`Caller`, `ContextParameters`...).
    pub customer: Option<CustomerFn>,
    /// Where to print the story of the day (the demo); `None` for benchmarks.
    pub narrate: Option<NarrateFn>,
    /// Setting it ends the day (when `duration` is `None`).
    pub stop: Arc<AtomicBool>,
}

/// The fate of one call.
#[derive(Default)]
struct Call {
    due: Option<Instant>,
    offered: bool,
    answered: bool,
    finished: bool,
    abandoned: bool,
}

#[derive(Default)]
struct Tally {
    calls: HashMap<u64, Call>,
    create: Latency,
    offer: Latency,
    answer: Latency,
    cycle: Latency,
    created: u64,
    offers: u64,
    answered: u64,
    answered_in_time: u64,
    finished: u64,
    abandoned: u64,
    ronas: u64,
    declines: u64,
    pauses: u64,
}

/// Expected calls in `duration` at `arrivals`.
fn expected(arrivals: Arrivals, duration: Duration) -> u64 {
    let rate = match arrivals {
        Arrivals::Fixed { rate } | Arrivals::Poisson { rate, .. } => rate,
    };
    (rate * duration.as_secs_f64()).round() as u64
}

/// The day curve at `x` in [0, 1): two peaks, averaging 1.
fn curve(x: f64) -> f64 {
    let peak = |center: f64, width: f64| (-((x - center) / width).powi(2)).exp();
    let raw = 0.35 + 1.2 * peak(0.3, 0.12) + 0.8 * peak(0.7, 0.12);
    // The mean of `raw` over [0, 1), computed numerically once: normalise to 1.
    raw / 0.7753
}

impl Day {
    /// Provisions and connects the agents, runs the day, and returns the report (also printed unless `json`).
    pub async fn run(self, api: &Api, json_output: bool) -> anyhow::Result<Value> {
        if self.agents.is_empty() || self.services.is_empty() {
            bail!("a day needs at least one agent and one service");
        }
        let narrate = |line: &str| {
            if let Some(narrate) = &self.narrate {
                narrate(line);
            }
        };
        let setup = Instant::now();
        if self.narrate.is_none() {
            eprintln!(
                "setting up {} agents (users, CTI credentials, sign-in)...",
                self.agents.len()
            );
        }
        let jobs: Vec<_> = self
            .agents
            .iter()
            .map(|agent| api.cti_user(&agent.setup))
            .collect();
        let tokens = in_parallel(8, jobs).await?;
        let (reports, mut inbox) = mpsc::unbounded_channel();
        let behaviour = Arc::new(self.behaviour.clone());
        let agents_stop = Arc::new(AtomicBool::new(false));
        for (index, (agent, token)) in self.agents.iter().zip(&tokens).enumerate() {
            let socket = api.connect(token).await?;
            let sim = Agent {
                index,
                line: agent.line.clone(),
                behaviour: behaviour.clone(),
                seed: self.seed.wrapping_add(index as u64 * 7919),
                reports: reports.clone(),
                stop: agents_stop.clone(),
            };
            tokio::spawn(sim.run(socket));
        }
        drop(reports);
        let mut ready = 0;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        while ready < self.agents.len() {
            match tokio::time::timeout_at(deadline, inbox.recv()).await {
                Ok(Some((_, Report::Ready))) => ready += 1,
                Ok(Some((_, Report::Error(error)))) => bail!("an agent failed to start: {error}"),
                Ok(Some(_)) => {}
                Ok(None) => bail!("the agents' sockets closed"),
                Err(_) => bail!(
                    "{} of {} agents became ready within 120 s",
                    ready,
                    self.agents.len()
                ),
            }
        }
        let setup_s = setup.elapsed().as_secs_f64();
        if self.narrate.is_none() {
            eprintln!(
                "{} agents ready in {setup_s:.1} s; calls start",
                self.agents.len()
            );
        }

        // The collector: every agent report, joined with the calls by sequence number.
        let tally: Arc<Mutex<Tally>> = Arc::default();
        let errors = Errors::default();
        let service_level = self.service_level;
        let collector = {
            let (tally, errors) = (tally.clone(), errors.clone());
            tokio::spawn(async move {
                while let Some((_, report)) = inbox.recv().await {
                    let mut t = tally.lock().unwrap();
                    match report {
                        Report::Offered { seq, at, .. } => {
                            t.offers += 1;
                            let Some(seq) = seq else { continue };
                            let call = t.calls.entry(seq).or_default();
                            let first = !call.offered;
                            call.offered = true;
                            if let (true, Some(due)) = (first, call.due) {
                                t.offer.record(at.saturating_duration_since(due));
                            }
                        }
                        Report::Answered { seq, .. } => {
                            t.answered += 1;
                            let Some(seq) = seq else { continue };
                            let call = t.calls.entry(seq).or_default();
                            call.answered = true;
                            if let Some(due) = call.due {
                                let wait = due.elapsed();
                                t.answer.record(wait);
                                if wait <= service_level {
                                    t.answered_in_time += 1;
                                }
                            }
                        }
                        Report::Finished { seq, .. } => {
                            t.finished += 1;
                            let Some(seq) = seq else { continue };
                            let call = t.calls.entry(seq).or_default();
                            call.finished = true;
                            if let Some(due) = call.due {
                                t.cycle.record(due.elapsed());
                            }
                        }
                        Report::Rona => t.ronas += 1,
                        Report::Declined => t.declines += 1,
                        Report::Paused => t.pauses += 1,
                        Report::Error(error) => errors.add(error),
                        Report::Ready => {}
                    }
                }
            })
        };

        // The customers.
        let run_id = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
        let total = self.duration.map(|d| expected(self.arrivals, d));
        let sent = Arc::new(AtomicU64::new(0));
        let progress =
            total.map(|total| crate::client::progress(self.scenario, total, sent.clone()));
        let permits = Arc::new(tokio::sync::Semaphore::new(self.concurrency.max(1)));
        let customer = Arc::new(self.customer);
        let mut rng = SmallRng::seed_from_u64(self.seed);
        let weights: f64 = self.services.iter().map(|s| s.weight).sum();
        let start = Instant::now();
        let mut at = start;
        let mut seq = 0u64;
        let mut requests = Vec::new();
        loop {
            let elapsed = at.duration_since(start);
            match (self.duration, self.arrivals) {
                // Exactly rate x duration calls (adding up float intervals could make one more).
                (Some(duration), Arrivals::Fixed { .. })
                    if seq >= expected(self.arrivals, duration) =>
                {
                    break
                }
                (Some(duration), _) if elapsed >= duration => break,
                _ => {}
            }
            if self.stop.load(Ordering::Relaxed) {
                break;
            }
            tokio::time::sleep_until(at.into()).await;
            let due = at;
            at = match self.arrivals {
                Arrivals::Fixed { rate } => {
                    start + Duration::from_secs_f64((seq + 1) as f64 / rate)
                }
                Arrivals::Poisson {
                    rate,
                    curve: shaped,
                } => {
                    let factor = match (shaped, self.duration) {
                        (true, Some(d)) => curve(elapsed.as_secs_f64() / d.as_secs_f64()),
                        // A day without end repeats the curve every ten minutes.
                        (true, None) => curve((elapsed.as_secs_f64() / 600.0).fract()),
                        (false, _) => 1.0,
                    };
                    let u: f64 = rng.random_range(f64::EPSILON..1.0);
                    at + Duration::from_secs_f64(-u.ln() / (rate * factor))
                }
            };
            let mut pick = rng.random_range(0.0..weights);
            let service = self
                .services
                .iter()
                .find(|s| {
                    pick -= s.weight;
                    pick < 0.0
                })
                .unwrap_or(&self.services[0]);
            let mut body = customer
                .as_ref()
                .as_ref()
                .map(|f| f(&mut rng, seq))
                .unwrap_or_else(|| json!({"Caller": format!("+4179{seq:07}")}));
            let external = format!("{}-{run_id}-{seq}", self.scenario);
            body["Service"] = json!(service.uri);
            body["Type"] = json!("IncomingCall");
            body["ExternalTaskId"] = json!(external);
            if rng.random_range(0.0..1.0) < self.vip_share {
                body["Priority"] = json!("High");
            }
            let mut context = body["ContextParameters"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            context.push(json!({"Name": "BenchSeq", "Value": seq.to_string()}));
            body["ContextParameters"] = json!(context);
            tally.lock().unwrap().calls.entry(seq).or_default().due = Some(due);
            let patience = self.patience.map(|p| p.sample(&mut rng));
            let (api, permits, tally, errors, sent) = (
                api.clone(),
                permits.clone(),
                tally.clone(),
                errors.clone(),
                sent.clone(),
            );
            requests.push(tokio::spawn(async move {
                let permit = permits.acquire_owned().await;
                let result = api.post("/v1.0/tasks").json(&body).send().await;
                drop(permit);
                sent.fetch_add(1, Ordering::Relaxed);
                if let Some(kind) = request_error(&result) {
                    errors.add(format!("create: {kind}"));
                    return;
                }
                let _ = result.map(|r| r.bytes());
                {
                    let mut t = tally.lock().unwrap();
                    t.created += 1;
                    t.create.record(due.elapsed());
                }
                let Some(patience) = patience else { return };
                tokio::time::sleep_until((due + patience).into()).await;
                let waiting = {
                    let t = tally.lock().unwrap();
                    t.calls.get(&seq).is_some_and(|c| !c.answered)
                };
                if waiting {
                    let result = api
                        .post(&format!("/v1.0/tasks/{external}/terminate"))
                        .send()
                        .await;
                    match request_error(&result) {
                        None => {
                            let mut t = tally.lock().unwrap();
                            t.abandoned += 1;
                            if let Some(call) = t.calls.get_mut(&seq) {
                                call.abandoned = true;
                            }
                        }
                        // Answered (or ended) in the meantime: not an abandon.
                        Some(kind) if kind.starts_with("HTTP 4") => {}
                        Some(kind) => errors.add(format!("abandon: {kind}")),
                    }
                }
            }));
            seq += 1;
            if requests.len() > 4096 {
                requests.retain(|r| !r.is_finished());
            }
        }
        let calling = start.elapsed();
        narrate("the day is over: no more calls; waiting for the last ones to end");
        // Let the calls in progress end: until every call was finished or abandoned, or a deadline.
        let longest = match self.behaviour.handle {
            Dist::Fixed(d) => d * 2,
            Dist::Exp(mean) => mean * 8,
            Dist::Uniform(_, high) => high * 2,
        } + Duration::from_secs(10);
        let settle = Instant::now() + longest;
        loop {
            let open = {
                let t = tally.lock().unwrap();
                t.calls
                    .values()
                    .filter(|c| !c.finished && !c.abandoned)
                    .count()
            };
            if open == 0 || Instant::now() >= settle {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        for request in requests {
            request.abort();
        }
        if let Some(progress) = progress {
            sent.store(total.unwrap_or(0).max(seq), Ordering::Relaxed);
            let _ = progress.await;
        }
        agents_stop.store(true, Ordering::Relaxed);
        // The collector ends when every agent has hung up its socket.
        let _ = tokio::time::timeout(Duration::from_secs(5), collector).await;
        let t = std::mem::take(&mut *tally.lock().unwrap());
        let open = t
            .calls
            .values()
            .filter(|c| c.due.is_some() && !c.finished && !c.abandoned)
            .count();
        // The first few unfinished calls by external id, to look up in the task explorer.
        let mut unfinished: Vec<(&u64, &Call)> = t
            .calls
            .iter()
            .filter(|(_, c)| c.due.is_some() && !c.finished && !c.abandoned)
            .collect();
        unfinished.sort_by_key(|(seq, _)| **seq);
        let unfinished_calls: Vec<Value> = unfinished
            .iter()
            .take(20)
            .map(|(seq, c)| {
                json!({
                    "external_task_id": format!("{}-{run_id}-{seq}", self.scenario),
                    "offered": c.offered,
                    "answered": c.answered,
                })
            })
            .collect();
        let seconds = calling.as_secs_f64();
        let report = json!({
            "scenario": self.scenario,
            "agents": self.agents.len(),
            "services": self.services.len(),
            "arrivals": format!("{:?}", self.arrivals),
            "duration_s": seconds,
            "setup_s": setup_s,
            "calls": seq,
            "created": t.created,
            "offers": t.offers,
            "answered": t.answered,
            "finished": t.finished,
            "abandoned": t.abandoned,
            "unfinished": open,
            "unfinished_calls": unfinished_calls,
            "ronas": t.ronas,
            "declines": t.declines,
            "pauses": t.pauses,
            "finished_per_s": t.finished as f64 / seconds,
            "service_level": {
                "threshold_s": self.service_level.as_secs_f64(),
                "answered_within_percent": if t.answered == 0 { 0.0 } else {
                    100.0 * t.answered_in_time as f64 / (t.answered + t.abandoned) as f64 },
            },
            "create_latency": t.create.summary(),
            "offer_latency": t.offer.summary(),
            "wait_until_answered": t.answer.summary(),
            "full_cycle": t.cycle.summary(),
            "errors": errors.snapshot(),
        });
        if !json_output {
            print_day(&report);
        }
        Ok(report)
    }
}

/// Prints a day's report for people.
pub fn print_day(r: &Value) {
    println!(
        "{}: {} agents, {} services, {} calls over {:.1} s ({}), setup {:.1} s",
        r["scenario"].as_str().unwrap_or_default(),
        r["agents"],
        r["services"],
        r["calls"],
        r["duration_s"].as_f64().unwrap_or(0.0),
        r["arrivals"].as_str().unwrap_or_default(),
        r["setup_s"].as_f64().unwrap_or(0.0),
    );
    println!(
        "created {}, offers {}, answered {}, finished {} ({:.0}/s), abandoned {}, unfinished {}, RONA {}, declined {}, pauses {}",
        r["created"], r["offers"], r["answered"], r["finished"],
        r["finished_per_s"].as_f64().unwrap_or(0.0), r["abandoned"], r["unfinished"], r["ronas"],
        r["declines"], r["pauses"]
    );
    println!(
        "service level: {:.1}% answered within {} s (abandoned calls count as missed)",
        r["service_level"]["answered_within_percent"]
            .as_f64()
            .unwrap_or(0.0),
        r["service_level"]["threshold_s"]
    );
    print_latency("create (due -> REST answer)", &r["create_latency"]);
    print_latency("offer (due -> agent's socket)", &r["offer_latency"]);
    print_latency("wait (due -> answered)", &r["wait_until_answered"]);
    print_latency("full cycle (due -> hung up)", &r["full_cycle"]);
    if let Some(errors) = r["errors"].as_object() {
        for (kind, count) in errors {
            println!("errors: {kind}: {count}");
        }
    }
}

/// Makes sure the day's services exist; `body` builds each service's DTO from its URI and index.
pub async fn ensure_services(api: &Api, services: &[Value]) -> anyhow::Result<()> {
    for service in services {
        api.ensure_service(service.clone())
            .await
            .with_context(|| format!("could not set up the service {}", service["SipUri"]))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_day_curve_averages_one() {
        let n = 100_000;
        let mean: f64 = (0..n).map(|i| curve(i as f64 / n as f64)).sum::<f64>() / n as f64;
        assert!((mean - 1.0).abs() < 0.01, "mean {mean}");
        assert!(curve(0.3) > 1.4 && curve(0.05) < 0.6);
    }
}
