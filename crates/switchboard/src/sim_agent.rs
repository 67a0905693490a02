//! A simulated agent on a real CTI socket, as the load generators and the live demo use it: it logs in on its
//! line, lets an offer ring for a while, answers (or declines, or lets it ring out into RONA), talks, hangs up,
//! goes through the service's wrap-up, now and then pauses with a reason, and reports what happened.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use tokio::sync::mpsc::UnboundedSender;
use tokio_tungstenite::tungstenite::Message;

use crate::client::{command, Socket};

/// A random duration.
#[derive(Clone, Copy, Debug)]
pub enum Dist {
    /// Always this long.
    Fixed(Duration),
    /// Exponential with this mean.
    Exp(Duration),
    /// Uniform between the two.
    Uniform(Duration, Duration),
}

impl Dist {
    pub const ZERO: Dist = Dist::Fixed(Duration::ZERO);

    pub fn sample(&self, rng: &mut impl Rng) -> Duration {
        match *self {
            Dist::Fixed(d) => d,
            Dist::Exp(mean) => {
                let u: f64 = rng.random_range(f64::EPSILON..1.0);
                mean.mul_f64(-u.ln())
            }
            Dist::Uniform(low, high) if high > low => {
                low + (high - low).mul_f64(rng.random_range(0.0..1.0))
            }
            Dist::Uniform(low, _) => low,
        }
    }
}

/// How an agent works.
#[derive(Clone, Debug)]
pub struct Behaviour {
    /// How long an offer rings before the agent acts on it.
    pub ring: Dist,
    /// How long a call lasts once answered.
    pub handle: Dist,
    /// The share of offers left ringing until RONA.
    pub no_answer: f64,
    /// The share of offers declined.
    pub decline: f64,
    /// Time between pauses, if the agent pauses at all.
    pub pause_gap: Option<Dist>,
    /// How long a pause lasts.
    pub pause_length: Dist,
    /// Reasons to pick from.
    pub pause_reasons: Vec<String>,
    /// How long an agent takes to become ready again after a RONA paused it.
    pub rona_recovery: Dist,
}

impl Behaviour {
    /// Answers every offer at once and hangs up at once: the full lifecycle at the server's speed.
    pub fn instant() -> Behaviour {
        Behaviour {
            ring: Dist::ZERO,
            handle: Dist::ZERO,
            no_answer: 0.0,
            decline: 0.0,
            pause_gap: None,
            pause_length: Dist::ZERO,
            pause_reasons: Vec::new(),
            rona_recovery: Dist::ZERO,
        }
    }
}

/// What an agent saw or did.
#[derive(Debug)]
pub enum Report {
    /// Ready for the first time.
    Ready,
    /// An offer arrived (its `Sheet`), with the call's `BenchSeq` context parameter.
    Offered { seq: Option<u64>, at: Instant },
    /// The agent's answer was confirmed (AgentOnCall).
    Answered { seq: Option<u64> },
    /// The agent hung up and the server confirmed the end of the task.
    Finished { seq: Option<u64> },
    /// The agent declined an offer.
    Declined,
    /// An offer rang out (RONA).
    Rona,
    /// The agent paused with a reason.
    Paused,
    /// The server refused a command of the agent, or the socket closed.
    Error(String),
}

/// One agent's run; it ends when `stop` is set or the socket closes.
pub struct Agent {
    pub index: usize,
    pub line: String,
    pub behaviour: Arc<Behaviour>,
    pub seed: u64,
    pub reports: UnboundedSender<(usize, Report)>,
    pub stop: Arc<AtomicBool>,
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Phase {
    Idle,
    Ringing,
    Answering,
    OnCall,
    HungUp,
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Action {
    Answer,
    Decline,
    Hangup,
    Pause,
    Unpause,
}

/// A context parameter of a `Sheet` by name.
pub fn sheet_value(sheet: &Value, name: &str) -> Option<String> {
    sheet["ctiMessage"]["payload"]["profile"]["user"]["sheetInfo"]
        .as_array()?
        .iter()
        .find(|entry| entry["name"] == name)
        .and_then(|entry| entry["value"].as_str().map(str::to_string))
}

impl Agent {
    pub async fn run(self, mut socket: Socket) {
        let mut rng = SmallRng::seed_from_u64(self.seed);
        let report = |r: Report| {
            let _ = self.reports.send((self.index, r));
        };
        if socket
            .send(command(
                "agentLogin",
                json!({"agentphonenumber": self.line.as_str()}),
            ))
            .await
            .is_err()
        {
            report(Report::Error("socket closed".into()));
            return;
        }
        let b = &*self.behaviour;
        let mut phase = Phase::Idle;
        let mut current: Option<Option<u64>> = None;
        let mut pending: Option<(Instant, Action)> = None;
        let mut unpause_at: Option<Instant> = None;
        let mut seen_ready = false;
        let mut pause_at = b.pause_gap.map(|gap| Instant::now() + gap.sample(&mut rng));
        let mut ping = tokio::time::interval(Duration::from_secs(5));
        let mut stop_check = tokio::time::interval(Duration::from_millis(200));
        loop {
            // The earliest of: the call action, the end of a pause, the next pause (only when idle).
            let mut next: Option<(Instant, Action)> = pending;
            for candidate in [
                unpause_at.map(|at| (at, Action::Unpause)),
                pause_at
                    .filter(|_| phase == Phase::Idle && unpause_at.is_none())
                    .map(|at| (at, Action::Pause)),
            ]
            .into_iter()
            .flatten()
            {
                if next.is_none_or(|(at, _)| candidate.0 < at) {
                    next = Some(candidate);
                }
            }
            let message = tokio::select! {
                message = socket.next() => message,
                _ = ping.tick() => {
                    if socket.send(Message::Text(r#"{"claz":"ping"}"#.into())).await.is_err() {
                        report(Report::Error("socket closed".into()));
                        return;
                    }
                    continue;
                }
                _ = stop_check.tick() => {
                    if self.stop.load(Ordering::Relaxed) {
                        let _ = socket.send(command("agentLogout", json!({}))).await;
                        let _ = socket.close(None).await;
                        return;
                    }
                    continue;
                }
                _ = sleep_until_opt(next.map(|(at, _)| at)) => {
                    let Some((_, action)) = next else { continue };
                    let (name, args) = match action {
                        Action::Answer => {
                            pending = None;
                            phase = Phase::Answering;
                            ("answer", json!({}))
                        }
                        Action::Decline => {
                            pending = None;
                            if current.take().is_some() {
                                report(Report::Declined);
                            }
                            phase = Phase::Idle;
                            ("decline", json!({}))
                        }
                        Action::Hangup => {
                            pending = None;
                            phase = Phase::HungUp;
                            ("hangup", json!({}))
                        }
                        Action::Pause => {
                            pause_at = None;
                            let reason = if b.pause_reasons.is_empty() {
                                "Break".to_string()
                            } else {
                                b.pause_reasons[rng.random_range(0..b.pause_reasons.len())].clone()
                            };
                            unpause_at = Some(Instant::now() + b.pause_length.sample(&mut rng));
                            report(Report::Paused);
                            ("pauseAgent", json!({"reason": reason}))
                        }
                        Action::Unpause => {
                            unpause_at = None;
                            if let Some(gap) = b.pause_gap {
                                pause_at = Some(Instant::now() + gap.sample(&mut rng));
                            }
                            ("unpauseAgent", json!({}))
                        }
                    };
                    if socket.send(command(name, args)).await.is_err() {
                        report(Report::Error("socket closed".into()));
                        return;
                    }
                    continue;
                }
            };
            let text = match message {
                Some(Ok(Message::Text(text))) => text,
                Some(Ok(_)) => continue,
                None | Some(Err(_)) => {
                    if !self.stop.load(Ordering::Relaxed) {
                        report(Report::Error("socket closed".into()));
                    }
                    return;
                }
            };
            let arrived = Instant::now();
            let Ok(value) = serde_json::from_str::<Value>(&text) else {
                continue;
            };
            match value["msgType"].as_str() {
                Some("Sheet") => {
                    // A new offer right after a hang-up can come before (or instead of) the state event that ends
                    // the previous task: the agent's state is read when the events are sent, and by then it rings.
                    if phase == Phase::HungUp {
                        if let Some(seq) = current.take() {
                            report(Report::Finished { seq });
                        }
                    }
                    let seq = sheet_value(&value, "BenchSeq").and_then(|s| s.parse().ok());
                    report(Report::Offered { seq, at: arrived });
                    current = Some(seq);
                    phase = Phase::Ringing;
                    let roll: f64 = rng.random_range(0.0..1.0);
                    let ring = b.ring.sample(&mut rng);
                    pending = if roll < b.no_answer {
                        None
                    } else if roll < b.no_answer + b.decline {
                        Some((arrived + ring, Action::Decline))
                    } else if ring.is_zero() {
                        phase = Phase::Answering;
                        if socket.send(command("answer", json!({}))).await.is_err() {
                            return;
                        }
                        None
                    } else {
                        Some((arrived + ring, Action::Answer))
                    };
                }
                Some("AgentStateEvent") => {
                    let name = value["ctiMessage"]["name"].as_str().unwrap_or_default();
                    match name {
                        "AgentOnCall" if phase == Phase::Answering => {
                            phase = Phase::OnCall;
                            if let Some(seq) = current {
                                report(Report::Answered { seq });
                            }
                            let handle = b.handle.sample(&mut rng);
                            if handle.is_zero() {
                                phase = Phase::HungUp;
                                if socket.send(command("hangup", json!({}))).await.is_err() {
                                    return;
                                }
                            } else {
                                pending = Some((arrived + handle, Action::Hangup));
                            }
                        }
                        "AgentReady" | "AgentOnWrapup" | "AgentOnPause" => {
                            if name == "AgentReady" && !seen_ready {
                                seen_ready = true;
                                report(Report::Ready);
                            }
                            if phase == Phase::HungUp {
                                if let Some(seq) = current.take() {
                                    report(Report::Finished { seq });
                                }
                            }
                            if name == "AgentOnPause" && unpause_at.is_none() {
                                // Not a pause of ours: an offer rang out and RONA paused the agent.
                                if matches!(phase, Phase::Ringing | Phase::Answering)
                                    && current.is_some()
                                {
                                    report(Report::Rona);
                                }
                                unpause_at = Some(arrived + b.rona_recovery.sample(&mut rng));
                            }
                            if phase != Phase::Idle {
                                // Finished, rang out, or the customer hung up first: nothing left to do.
                                pending = None;
                                current = None;
                                phase = Phase::Idle;
                            }
                        }
                        _ => {}
                    }
                }
                Some("AgentError") | Some("Error") => {
                    let text = value["ctiMessage"]["Error"]
                        .as_str()
                        .or(value["ctiMessage"]["message"].as_str())
                        .unwrap_or("refused")
                        .to_string();
                    report(Report::Error(format!("agent command refused: {text}")));
                    if matches!(phase, Phase::Answering | Phase::HungUp) {
                        // The task is gone (the customer hung up first): carry on.
                        phase = Phase::Idle;
                        current = None;
                    }
                }
                _ => {}
            }
        }
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}
