//! What the load generators and the live demo share: a REST client bound to a server and key, idempotent
//! provisioning (services, users, CTI credentials), CTI sockets, latency histograms (HDR) and a progress line.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context};
use futures_util::stream::{self, TryStreamExt};
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

/// A server and the key to call it with.
#[derive(Clone)]
pub struct Api {
    pub client: reqwest::Client,
    pub base: String,
    pub key: String,
}

impl Api {
    pub fn new(url: &str, key: &str, connections: usize) -> anyhow::Result<Api> {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(connections)
            .build()
            .context("could not build the HTTP client")?;
        Ok(Api {
            client,
            base: url.trim_end_matches('/').to_string(),
            key: key.to_string(),
        })
    }

    pub fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.client
            .get(format!("{}{path}", self.base))
            .header("api_key", &self.key)
    }

    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.client
            .post(format!("{}{path}", self.base))
            .header("api_key", &self.key)
    }

    /// Creates the service unless a service with this SIP URI exists. `body` is a LUCS service DTO.
    pub async fn ensure_service(&self, body: Value) -> anyhow::Result<()> {
        let uri = body["SipUri"].as_str().unwrap_or_default().to_string();
        let probe = self
            .get(&format!("/v1.0/services/{uri}"))
            .send()
            .await
            .with_context(|| format!("could not reach {}", self.base))?;
        match probe.status() {
            s if s.is_success() => Ok(()),
            reqwest::StatusCode::NOT_FOUND => {
                let created = self.post("/v2.0/services").json(&body).send().await?;
                ensure_ok(created, &format!("create the service {uri}")).await?;
                Ok(())
            }
            s => bail!("the server refused the key ({s})"),
        }
    }

    /// Creates (or finds) a user with CTI credentials and signs it in; returns the CTI token. Every step is
    /// idempotent, so a connection the server closed (keep-alive races) is retried.
    pub async fn cti_user(&self, user: &CtiSetup) -> anyhow::Result<String> {
        let mut attempt = 0;
        loop {
            match self.cti_user_once(user).await {
                Ok(token) => return Ok(token),
                Err(error) if attempt < 5 => {
                    attempt += 1;
                    tracing::debug!(%error, attempt, "retrying the setup of {}", user.login);
                    tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
                }
                Err(error) => return Err(error),
            }
        }
    }

    async fn cti_user_once(&self, user: &CtiSetup) -> anyhow::Result<String> {
        let upn = user.user["SipUri"]
            .as_str()
            .unwrap_or_default()
            .trim_start_matches("sip:")
            .to_string();
        let existing = self.get(&format!("/v1.0/users/{upn}")).send().await?;
        let id = if existing.status().is_success() {
            existing.json::<Value>().await?["Id"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        } else {
            let created = self.post("/v1.0/users").json(&user.user).send().await?;
            let created = ensure_ok(created, "create a user").await?;
            created["Id"]
                .as_str()
                .or(created.as_str())
                .unwrap_or_default()
                .to_string()
        };
        let shown = self.get(&format!("/v2.0/users/{id}/cti")).send().await?;
        if !shown.status().is_success() {
            let mut body = user.credentials.clone();
            body["Login"] = json!(user.login);
            body["Password"] = json!(user.password);
            let set = self
                .post(&format!("/v2.0/users/{id}/cti"))
                .json(&body)
                .send()
                .await?;
            ensure_ok(set, "set CTI credentials").await?;
        }
        let login = self
            .client
            .post(format!("{}/xuc/api/2.0/auth/login", self.base))
            .json(&json!({"login": user.login, "password": user.password}))
            .send()
            .await?;
        let token = ensure_ok(login, "sign in").await?;
        Ok(token["token"].as_str().unwrap_or_default().to_string())
    }

    /// Opens a CTI socket with a token.
    pub async fn connect(&self, token: &str) -> anyhow::Result<Socket> {
        let url = format!(
            "{}/xuc/api/2.0/cti?token={token}",
            self.base.replacen("http://", "ws://", 1)
        );
        // disable_nagle: commands go out at once (see the server's TCP_NODELAY).
        let (socket, _) = tokio_tungstenite::connect_async_with_config(url, None, true)
            .await
            .context("could not open a CTI socket")?;
        Ok(socket)
    }
}

/// A user to provision with CTI credentials: the LUCS user DTO (with `SipUri`), the credentials body
/// (`Profile`, `PhoneLine`, `AgentGroup`, `Groups`...) and the login and password.
pub struct CtiSetup {
    pub user: Value,
    pub credentials: Value,
    pub login: String,
    pub password: String,
}

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A CTI command message.
pub fn command(name: &str, args: Value) -> Message {
    let mut message = json!({"claz": "web", "command": name});
    if let Value::Object(args) = args {
        for (key, value) in args {
            message[key] = value;
        }
    }
    Message::Text(message.to_string().into())
}

/// The answer's JSON body, or an error naming what was tried and what the server said.
pub async fn ensure_ok(response: reqwest::Response, what: &str) -> anyhow::Result<Value> {
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    if !status.is_success() {
        bail!("{what}: {status} {text}");
    }
    Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Runs `jobs` with at most `parallel` at once.
pub async fn in_parallel<T, F>(parallel: usize, jobs: Vec<F>) -> anyhow::Result<Vec<T>>
where
    F: std::future::Future<Output = anyhow::Result<T>>,
{
    stream::iter(jobs.into_iter().map(Ok))
        .try_buffered(parallel)
        .try_collect()
        .await
}

/// A latency histogram in microseconds (HDR, 3 significant digits, up to an hour).
pub struct Latency(Histogram<u64>);

impl Default for Latency {
    fn default() -> Latency {
        Latency(Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds"))
    }
}

impl Latency {
    pub fn record(&mut self, duration: Duration) {
        let micros = (duration.as_micros() as u64).clamp(1, 3_600_000_000);
        self.0.record(micros).expect("clamped into range");
    }

    pub fn len(&self) -> u64 {
        self.0.len()
    }

    pub fn add(&mut self, other: &Latency) {
        self.0.add(&other.0).expect("same bounds");
    }

    /// Count and percentiles in milliseconds.
    pub fn summary(&self) -> Value {
        let ms = |q: f64| {
            if self.0.is_empty() {
                0.0
            } else {
                self.0.value_at_quantile(q) as f64 / 1000.0
            }
        };
        json!({
            "count": self.0.len(),
            "p50_ms": ms(0.50),
            "p90_ms": ms(0.90),
            "p99_ms": ms(0.99),
            "p999_ms": ms(0.999),
            "max_ms": if self.0.is_empty() { 0.0 } else { self.0.max() as f64 / 1000.0 },
        })
    }
}

/// Prints a summary made by `Latency::summary` as one line.
pub fn print_latency(name: &str, v: &Value) {
    println!(
        "{name:<34} n={:<7} p50 {:>7.2} ms  p90 {:>7.2}  p99 {:>7.2}  p99.9 {:>7.2}  max {:>8.2}",
        v["count"],
        v["p50_ms"].as_f64().unwrap_or(0.0),
        v["p90_ms"].as_f64().unwrap_or(0.0),
        v["p99_ms"].as_f64().unwrap_or(0.0),
        v["p999_ms"].as_f64().unwrap_or(0.0),
        v["max_ms"].as_f64().unwrap_or(0.0)
    );
}

/// Errors by kind.
#[derive(Clone, Default)]
pub struct Errors(Arc<Mutex<BTreeMap<String, u64>>>);

impl Errors {
    pub fn add(&self, kind: impl Into<String>) {
        *self.0.lock().unwrap().entry(kind.into()).or_insert(0) += 1;
    }

    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.0.lock().unwrap().clone()
    }
}

/// The kind of a failed request, for `Errors`.
pub fn request_error(result: &Result<reqwest::Response, reqwest::Error>) -> Option<String> {
    match result {
        Ok(response) if response.status().is_success() => None,
        Ok(response) => Some(format!("HTTP {}", response.status().as_u16())),
        Err(error) if error.is_timeout() => Some("timeout".to_string()),
        Err(_) => Some("connection error".to_string()),
    }
}

/// A progress line on stderr until `done` reaches `total`: a bar redrawn four times a second on a terminal, a
/// line every five seconds otherwise (logs stay readable).
pub fn progress(
    label: &'static str,
    total: u64,
    done: Arc<AtomicU64>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let terminal = std::io::stderr().is_terminal();
        let every = if terminal { 250 } else { 5000 };
        loop {
            tokio::time::sleep(Duration::from_millis(every)).await;
            let now = done.load(Ordering::Relaxed).min(total);
            if terminal {
                let filled = (now * 40 / total.max(1)) as usize;
                eprint!(
                    "\r{label} [{}{}] {now}/{total}",
                    "#".repeat(filled),
                    " ".repeat(40 - filled)
                );
                let _ = std::io::stderr().flush();
            } else {
                eprintln!("{label}: {now}/{total}");
            }
            if now >= total {
                if terminal {
                    eprintln!();
                }
                return;
            }
        }
    })
}
