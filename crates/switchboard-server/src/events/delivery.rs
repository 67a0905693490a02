//! Webhook delivery: one task per active subscription follows the tenant's events (`Tail`: the store, then the
//! hub), filters them, and posts them in sequence order, one request at a time, signed, with a timeout and a
//! size limit. A failed or timed-out request is retried with exponential backoff; a subscription failing for
//! longer than `pause_after` (server clock) is paused. Its position (the last acknowledged sequence) is stored
//! at most every `position_interval` while deliveries flow (one write per delivery would compete with the
//! engine's commits on SQLite), as soon as they pause, and at shutdown; so a restart resumes there, and a
//! receiver sees events twice only after a crash within that interval of acknowledging them, recognisable by
//! their sequence numbers.
//!
//! A delivery task never blocks the engine or other subscriptions: the hub drops a subscriber that falls behind
//! and the task reads the store instead.
//!
//! `Webhooks` owns the tasks. Management operations (create, change, resume, replay, delete) stop a
//! subscription's task, write its new definition or position, and start it again; they are serialised by an
//! async mutex because they wait for the task to stop (an admin path, never the routing path).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use switchboard_core::Span;
use tokio::sync::watch;

use super::webhooks::{DeliveryState, WebhookDto, WebhookRecord, KIND, STATE_KIND};
use super::{EventDto, EventFilter, ServiceResolver, Tail, TailError};
use crate::error::ApiError;
use crate::lucs::directory::blocking_store;
use crate::{AppState, TenantHandle};

/// Delivery settings.
#[derive(Clone, Debug)]
pub struct WebhookConfig {
    /// Longest wait for a receiver's answer (connecting included).
    pub timeout: Duration,
    /// Largest request body; events beyond it go in the next request (a single larger event is sent with its
    /// `Data` replaced by a note).
    pub max_body_bytes: usize,
    /// Most events in one request.
    pub max_batch: usize,
    /// First wait after a failed attempt; it doubles up to `max_backoff`.
    pub initial_backoff: Duration,
    /// Longest wait between attempts.
    pub max_backoff: Duration,
    /// A subscription failing for this long (server clock) is paused.
    pub pause_after: Span,
    /// How often, at most, a subscription's position is stored while deliveries flow (once more when they stop,
    /// and at shutdown). A crash repeats at most this much of the acknowledged deliveries.
    pub position_interval: Duration,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            timeout: Duration::from_secs(10),
            max_body_bytes: 256 * 1024,
            max_batch: 100,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(300),
            pause_after: Span::from_secs(24 * 3600),
            position_interval: Duration::from_millis(250),
        }
    }
}

/// The header carrying the signature: `t=UNIX_SECONDS,v1=HEX(HMAC-SHA256(secret, "UNIX_SECONDS." + body))`.
pub const SIGNATURE_HEADER: &str = "Switchboard-Signature";

/// The signature header's value for a body sent at `timestamp` (seconds since the epoch).
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={timestamp},v1={hex}")
}

struct Worker {
    stop: watch::Sender<bool>,
    handle: tokio::task::JoinHandle<()>,
}

struct Subscriber {
    record: Arc<WebhookRecord>,
    status: watch::Sender<DeliveryState>,
    worker: Option<Worker>,
}

type Key = (String, String);

/// Every subscription of every tenant, with its delivery task.
#[derive(Default)]
pub struct Webhooks {
    config: WebhookConfig,
    subscribers: Mutex<HashMap<Key, Subscriber>>,
    loaded: Mutex<HashSet<String>>,
    operations: tokio::sync::Mutex<()>,
    client: OnceLock<reqwest::Client>,
}

fn key(tenant: &str, id: &str) -> Key {
    (tenant.to_string(), id.to_string())
}

fn corrupt(error: serde_json::Error) -> ApiError {
    ApiError::unavailable(&switchboard_store::StoreError::Corrupt(error.to_string()))
}

impl Webhooks {
    /// A registry with these settings.
    pub fn new(config: WebhookConfig) -> Webhooks {
        Webhooks {
            config,
            ..Webhooks::default()
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Subscriber>> {
        self.subscribers.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn client(&self) -> &reqwest::Client {
        self.client.get_or_init(|| {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .connect_timeout(self.config.timeout)
                .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
                .build()
                .unwrap_or_else(|_| reqwest::Client::new())
        })
    }

    /// Loads a tenant's subscriptions from the store (once) and starts their delivery tasks.
    async fn ensure_loaded(&self, state: &AppState, tenant: &str) -> Result<(), ApiError> {
        if self
            .loaded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(tenant)
        {
            return Ok(());
        }
        let name = tenant.to_string();
        let (records, states) = blocking_store(state, move |store| {
            Ok((
                store.list_entries(&name, KIND)?,
                store.list_entries(&name, STATE_KIND)?,
            ))
        })
        .await?;
        let states: HashMap<String, String> = states.into_iter().collect();
        let handle = state.tenant(tenant).await?;
        for (id, body) in records {
            let record: WebhookRecord = serde_json::from_str(&body).map_err(corrupt)?;
            let status: DeliveryState = match states.get(&id) {
                Some(body) => serde_json::from_str(body).map_err(corrupt)?,
                None => DeliveryState::default(),
            };
            let k = key(tenant, &id);
            if self.lock().contains_key(&k) {
                continue;
            }
            let (sender, _) = watch::channel(status);
            self.lock().insert(
                k.clone(),
                Subscriber {
                    record: Arc::new(record),
                    status: sender,
                    worker: None,
                },
            );
            self.start(state, &handle, &k);
        }
        self.loaded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(tenant.to_string());
        Ok(())
    }

    /// Loads every tenant's subscriptions and starts delivering (at server start).
    pub async fn start_all(&self, state: &AppState) {
        let _guard = self.operations.lock().await;
        for tenant in state.tenant_handles() {
            if let Err(error) = self.ensure_loaded(state, tenant.name()).await {
                tracing::error!(tenant = %tenant.name(), code = error.code, message = %error.message,
                    "could not load the webhook subscriptions");
            }
        }
    }

    /// Loads one tenant's subscriptions and starts delivering (a cluster node that just took the tenant).
    pub async fn start_tenant(&self, state: &AppState, tenant: &str) {
        let _guard = self.operations.lock().await;
        if let Err(error) = self.ensure_loaded(state, tenant).await {
            tracing::error!(tenant, code = error.code, message = %error.message,
                "could not load the webhook subscriptions");
        }
    }

    /// Stops and forgets one tenant's delivery tasks (a cluster node that stopped leading it); positions are
    /// stored as they stop, and the next leader carries on from them.
    pub async fn stop_tenant(&self, tenant: &str) {
        let _guard = self.operations.lock().await;
        let workers: Vec<Worker> = {
            let mut subscribers = self.lock();
            let workers = subscribers
                .iter_mut()
                .filter(|((t, _), _)| t == tenant)
                .filter_map(|(_, s)| s.worker.take())
                .collect();
            subscribers.retain(|(t, _), _| t != tenant);
            workers
        };
        self.loaded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(tenant);
        for worker in &workers {
            let _ = worker.stop.send(true);
        }
        for worker in workers {
            let _ = worker.handle.await;
        }
    }

    /// Stops every delivery task (at shutdown); positions are stored as they stop.
    pub async fn stop_all(&self) {
        let _guard = self.operations.lock().await;
        let workers: Vec<Worker> = self
            .lock()
            .values_mut()
            .filter_map(|s| s.worker.take())
            .collect();
        for worker in &workers {
            let _ = worker.stop.send(true);
        }
        for worker in workers {
            let _ = worker.handle.await;
        }
    }

    fn start(&self, state: &AppState, tenant: &Arc<TenantHandle>, k: &Key) {
        if *state.shutdown_signal().borrow() {
            return;
        }
        let mut subscribers = self.lock();
        let Some(subscriber) = subscribers.get_mut(k) else {
            return;
        };
        if subscriber.status.borrow().paused || subscriber.worker.is_some() {
            return;
        }
        let (stop, stopped) = watch::channel(false);
        let task = DeliveryTask {
            state: state.clone(),
            tenant: tenant.clone(),
            record: subscriber.record.clone(),
            filter: Arc::new(subscriber.record.filter()),
            status: subscriber.status.clone(),
            config: self.config.clone(),
            client: self.client().clone(),
            stop: stopped,
        };
        let handle = tokio::spawn(task.run());
        subscriber.worker = Some(Worker { stop, handle });
    }

    async fn stop(&self, k: &Key) {
        let worker = self.lock().get_mut(k).and_then(|s| s.worker.take());
        if let Some(worker) = worker {
            let _ = worker.stop.send(true);
            let _ = worker.handle.await;
        }
    }

    /// The tenant's subscriptions, by id.
    pub async fn list(&self, state: &AppState, tenant: &str) -> Result<Vec<WebhookDto>, ApiError> {
        {
            let _guard = self.operations.lock().await;
            self.ensure_loaded(state, tenant).await?;
        }
        let subscribers = self.lock();
        let mut list: Vec<WebhookDto> = subscribers
            .iter()
            .filter(|((t, _), _)| t == tenant)
            .map(|(_, s)| WebhookDto::new(&s.record, &s.status.borrow()))
            .collect();
        list.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(list)
    }

    /// One subscription.
    pub async fn get(
        &self,
        state: &AppState,
        tenant: &str,
        id: &str,
    ) -> Result<Option<WebhookDto>, ApiError> {
        {
            let _guard = self.operations.lock().await;
            self.ensure_loaded(state, tenant).await?;
        }
        Ok(self
            .lock()
            .get(&key(tenant, id))
            .map(|s| WebhookDto::new(&s.record, &s.status.borrow())))
    }

    /// A loaded subscription's definition.
    pub(crate) fn record(&self, tenant: &str, id: &str) -> Option<Arc<WebhookRecord>> {
        self.lock().get(&key(tenant, id)).map(|s| s.record.clone())
    }

    /// Follows a subscription's delivery status (tests wait on it instead of sleeping).
    pub fn watch(&self, tenant: &str, id: &str) -> Option<watch::Receiver<DeliveryState>> {
        self.lock()
            .get(&key(tenant, id))
            .map(|s| s.status.subscribe())
    }

    /// Creates a subscription starting after `position`; 409 if the id is taken.
    pub async fn create(
        &self,
        state: &AppState,
        tenant: &Arc<TenantHandle>,
        record: WebhookRecord,
        position: u64,
    ) -> Result<WebhookDto, ApiError> {
        let _guard = self.operations.lock().await;
        self.ensure_loaded(state, tenant.name()).await?;
        if self.lock().contains_key(&key(tenant.name(), &record.id)) {
            return Err(ApiError::new(
                axum::http::StatusCode::CONFLICT,
                "WebhookExists",
                format!(
                    "A webhook '{}' exists already; change it with PUT /v2.0/webhooks/{}.",
                    record.id, record.id
                ),
            ));
        }
        let status = DeliveryState {
            acknowledged: position,
            ..DeliveryState::default()
        };
        self.write(state, tenant.name(), &record.id, Some(&record), &status)
            .await?;
        let k = key(tenant.name(), &record.id);
        let dto = WebhookDto::new(&record, &status);
        let (sender, _) = watch::channel(status);
        self.lock().insert(
            k.clone(),
            Subscriber {
                record: Arc::new(record),
                status: sender,
                worker: None,
            },
        );
        self.start(state, tenant, &k);
        Ok(dto)
    }

    /// Creates or replaces a subscription, keeping its position unless `position` is given. Returns it and
    /// whether anything changed.
    pub async fn upsert(
        &self,
        state: &AppState,
        tenant: &Arc<TenantHandle>,
        mut record: WebhookRecord,
        position: Option<u64>,
    ) -> Result<(WebhookDto, bool), ApiError> {
        let _guard = self.operations.lock().await;
        self.ensure_loaded(state, tenant.name()).await?;
        let k = key(tenant.name(), &record.id);
        let existing = self
            .lock()
            .get(&k)
            .map(|s| (s.record.clone(), s.status.borrow().clone()));
        let mut status = match &existing {
            Some((old, status)) => {
                record.created = old.created;
                if **old == record && position.is_none() {
                    return Ok((WebhookDto::new(old, status), false));
                }
                status.clone()
            }
            None => DeliveryState {
                acknowledged: super::webhooks::current_position(state, tenant),
                ..DeliveryState::default()
            },
        };
        if let Some(position) = position {
            status = DeliveryState {
                acknowledged: position,
                ..DeliveryState::default()
            };
        }
        self.stop(&k).await;
        // The stopped task may have moved the position since it was read.
        if position.is_none() {
            if let Some(current) = self.lock().get(&k).map(|s| s.status.borrow().clone()) {
                status = current;
            }
        }
        self.write(state, tenant.name(), &record.id, Some(&record), &status)
            .await?;
        let dto = WebhookDto::new(&record, &status);
        {
            let mut subscribers = self.lock();
            match subscribers.get_mut(&k) {
                Some(subscriber) => {
                    subscriber.record = Arc::new(record);
                    subscriber.status.send_replace(status);
                }
                None => {
                    let (sender, _) = watch::channel(status);
                    subscribers.insert(
                        k.clone(),
                        Subscriber {
                            record: Arc::new(record),
                            status: sender,
                            worker: None,
                        },
                    );
                }
            }
        }
        self.start(state, tenant, &k);
        Ok((dto, true))
    }

    /// Resumes a subscription: from its position (`None`) or after `position` (replay). Clears pause and
    /// failures. `None` if there is no such subscription.
    pub async fn reposition(
        &self,
        state: &AppState,
        tenant: &Arc<TenantHandle>,
        id: &str,
        position: Option<u64>,
    ) -> Result<Option<WebhookDto>, ApiError> {
        let _guard = self.operations.lock().await;
        self.ensure_loaded(state, tenant.name()).await?;
        let k = key(tenant.name(), id);
        if !self.lock().contains_key(&k) {
            return Ok(None);
        }
        self.stop(&k).await;
        let Some((record, current)) = self
            .lock()
            .get(&k)
            .map(|s| (s.record.clone(), s.status.borrow().clone()))
        else {
            return Ok(None);
        };
        let status = DeliveryState {
            acknowledged: position.unwrap_or(current.acknowledged),
            last_delivery: current.last_delivery,
            ..DeliveryState::default()
        };
        if let Err(error) = self.write(state, tenant.name(), id, None, &status).await {
            // Leave it as it was: restart the task on the old state.
            self.start(state, tenant, &k);
            return Err(error);
        }
        if let Some(subscriber) = self.lock().get(&k) {
            subscriber.status.send_replace(status.clone());
        }
        self.start(state, tenant, &k);
        Ok(Some(WebhookDto::new(&record, &status)))
    }

    /// Deletes a subscription; false if there was none.
    pub async fn delete(&self, state: &AppState, tenant: &str, id: &str) -> Result<bool, ApiError> {
        let _guard = self.operations.lock().await;
        self.ensure_loaded(state, tenant).await?;
        let k = key(tenant, id);
        if !self.lock().contains_key(&k) {
            return Ok(false);
        }
        self.stop(&k).await;
        let (name, owned) = (tenant.to_string(), id.to_string());
        blocking_store(state, move |store| {
            store.delete_entry(&name, KIND, &owned)?;
            store.delete_entry(&name, STATE_KIND, &owned)
        })
        .await?;
        self.lock().remove(&k);
        Ok(true)
    }

    async fn write(
        &self,
        state: &AppState,
        tenant: &str,
        id: &str,
        record: Option<&WebhookRecord>,
        status: &DeliveryState,
    ) -> Result<(), ApiError> {
        let record = record
            .map(serde_json::to_string)
            .transpose()
            .map_err(corrupt)?;
        let status = serde_json::to_string(status).map_err(corrupt)?;
        let (name, id) = (tenant.to_string(), id.to_string());
        blocking_store(state, move |store| {
            if let Some(body) = &record {
                store.put_entry(&name, KIND, &id, body)?;
            }
            store.put_entry(&name, STATE_KIND, &id, &status)
        })
        .await
    }
}

/// One subscription's delivery loop.
struct DeliveryTask {
    state: AppState,
    tenant: Arc<TenantHandle>,
    record: Arc<WebhookRecord>,
    filter: Arc<EventFilter>,
    status: watch::Sender<DeliveryState>,
    config: WebhookConfig,
    client: reqwest::Client,
    stop: watch::Receiver<bool>,
}

/// What ended a wait.
enum Stopped {
    Yes,
}

impl DeliveryTask {
    async fn run(mut self) {
        let start = self.status.borrow().acknowledged;
        let mut tail = Tail::new(&self.state, &self.tenant, start);
        let mut resolver = ServiceResolver::default();
        let mut pending: VecDeque<EventDto> = VecDeque::new();
        let mut stored = start;
        let mut last_store = tokio::time::Instant::now();
        loop {
            if pending.is_empty() {
                // Events filtered out move the position too.
                let scanned = tail.position();
                if scanned > self.status.borrow().acknowledged {
                    self.status.send_modify(|s| s.acknowledged = scanned);
                }
                // The position is stored at most once per `position_interval` while events flow, and as soon
                // as that interval has passed when they stop (`Tail::next` may be cancelled: it changes nothing
                // until it returns).
                let unstored = self.status.borrow().acknowledged != stored;
                let store_at = last_store + self.config.position_interval;
                let next = tokio::select! {
                    next = tail.next() => next,
                    _ = tokio::time::sleep_until(store_at), if unstored => {
                        stored = self.status.borrow().acknowledged;
                        self.persist().await;
                        last_store = tokio::time::Instant::now();
                        continue;
                    }
                    _ = self.stopped() => break,
                };
                match next {
                    Ok(events) => {
                        match super::select_blocking(
                            &self.state,
                            &self.tenant,
                            &self.filter,
                            resolver,
                            events,
                        )
                        .await
                        {
                            Ok((kept, selected)) => {
                                resolver = kept;
                                pending.extend(selected);
                            }
                            Err(_) => break,
                        }
                    }
                    Err(TailError::Gone { after, oldest }) => {
                        let reason = format!(
                            "events after sequence {after} are no longer kept (retention); the oldest kept is \
                             {oldest}: replay from {oldest} or later"
                        );
                        tracing::warn!(tenant = %self.tenant.name(), webhook = %self.record.id, %reason,
                            "webhook paused");
                        self.status.send_modify(|s| {
                            s.paused = true;
                            s.paused_reason = Some(reason);
                        });
                        break;
                    }
                    Err(TailError::Store(_)) => {
                        if let Err(Stopped::Yes) = self.wait(self.config.initial_backoff).await {
                            break;
                        }
                        resolver = ServiceResolver::default();
                        tail = Tail::new(&self.state, &self.tenant, tail.position());
                    }
                }
                continue;
            }
            let (body, count) = build_body(
                &self.record.id,
                &pending,
                self.config.max_body_bytes,
                self.config.max_batch,
            );
            let first = pending.front().map(|e| e.sequence).unwrap_or_default();
            let last = pending
                .get(count - 1)
                .map(|e| e.sequence)
                .unwrap_or_default();
            match self.deliver(&body, first, last).await {
                Ok(()) => {
                    pending.drain(..count);
                    let acknowledged = if pending.is_empty() {
                        tail.position()
                    } else {
                        last
                    };
                    let now = self.state.now().as_micros();
                    self.status.send_modify(|s| {
                        s.acknowledged = acknowledged;
                        s.failing_since = None;
                        s.failures = 0;
                        s.last_error = None;
                        s.last_delivery = Some(now);
                    });
                    if last_store.elapsed() >= self.config.position_interval {
                        self.persist().await;
                        stored = acknowledged;
                        last_store = tokio::time::Instant::now();
                    }
                }
                Err(Stopped::Yes) => break,
            }
        }
        if self.status.borrow().acknowledged != stored || self.status.borrow().paused {
            self.persist().await;
        }
    }

    /// Resolves when the task is told to stop.
    async fn stopped(&self) {
        let mut stop = self.stop.clone();
        let _ = stop.wait_for(|stop| *stop).await;
    }

    /// Sleeps, unless told to stop first.
    async fn wait(&self, span: Duration) -> Result<(), Stopped> {
        tokio::select! {
            _ = tokio::time::sleep(span) => Ok(()),
            _ = self.stopped() => Err(Stopped::Yes),
        }
    }

    /// Posts one body until it is acknowledged, backing off between attempts; pauses the subscription when it
    /// has been failing longer than allowed (and then answers `Stopped`).
    async fn deliver(&mut self, body: &[u8], first: u64, last: u64) -> Result<(), Stopped> {
        let mut backoff = self.config.initial_backoff;
        loop {
            let now = self.state.now();
            let signature = sign(&self.record.secret, now.as_micros() / 1_000_000, body);
            let request = self
                .client
                .post(&self.record.url)
                .timeout(self.config.timeout)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(SIGNATURE_HEADER, signature)
                .header("Switchboard-Webhook", self.record.id.as_str())
                .header("Switchboard-Sequence", format!("{first}-{last}"))
                .body(body.to_vec());
            let outcome = tokio::select! {
                outcome = request.send() => outcome,
                _ = self.stopped() => return Err(Stopped::Yes),
            };
            let error = match outcome {
                Ok(response) if response.status().is_success() => return Ok(()),
                Ok(response) => format!("the receiver answered {}", response.status()),
                Err(error) if error.is_timeout() => {
                    format!("no answer within {} ms", self.config.timeout.as_millis())
                }
                Err(error) if error.is_connect() => format!("could not connect: {error}"),
                Err(error) => format!("the request failed: {error}"),
            };
            let now = self.state.now().as_micros();
            let mut paused = false;
            let pause_after = self.config.pause_after.as_micros();
            self.status.send_modify(|s| {
                let since = *s.failing_since.get_or_insert(now);
                s.failures += 1;
                s.last_attempt = Some(now);
                s.last_error = Some(error.clone());
                if now - since >= pause_after {
                    s.paused = true;
                    s.paused_reason = Some(format!(
                        "deliveries failed for longer than {} s; last error: {error}",
                        pause_after / 1_000_000
                    ));
                    paused = true;
                }
            });
            tracing::warn!(tenant = %self.tenant.name(), webhook = %self.record.id, first, last, %error,
                paused, "webhook delivery failed");
            self.persist().await;
            if paused {
                return Err(Stopped::Yes);
            }
            self.wait(backoff).await?;
            backoff = (backoff * 2).min(self.config.max_backoff);
        }
    }

    /// Stores the delivery state (the durable cursor).
    async fn persist(&self) {
        let status = self.status.borrow().clone();
        let Ok(body) = serde_json::to_string(&status) else {
            return;
        };
        let (tenant, id) = (self.tenant.name().to_string(), self.record.id.clone());
        if let Err(error) = blocking_store(&self.state, move |store| {
            store.put_entry(&tenant, STATE_KIND, &id, &body)
        })
        .await
        {
            tracing::warn!(webhook = %self.record.id, code = error.code,
                "could not store the webhook position; it will be stored with the next delivery");
        }
    }
}

/// The body of one delivery: `{"Webhook": ID, "Events": [...]}` with as many pending events as fit the limits
/// (at least one: an event too large alone goes with its `Data` replaced by a note). Returns it and how many
/// events it holds.
fn build_body(
    id: &str,
    pending: &VecDeque<EventDto>,
    max_bytes: usize,
    max_batch: usize,
) -> (Vec<u8>, usize) {
    let head = format!(
        "{{\"Webhook\":{},\"Events\":[",
        serde_json::Value::String(id.to_string())
    );
    let mut body = head.into_bytes();
    let mut count = 0;
    for event in pending.iter().take(max_batch.max(1)) {
        let mut encoded = serde_json::to_vec(event).unwrap_or_default();
        if count == 0 && body.len() + encoded.len() + 2 > max_bytes {
            let mut small = event.clone();
            small.data = serde_json::Map::new();
            small
                .data
                .insert("Truncated".into(), serde_json::Value::Bool(true));
            small.data.insert(
                "Note".into(),
                serde_json::Value::String(format!(
                    "larger than the delivery limit; read it with GET /v2.0/events?after={}&limit=1",
                    event.sequence.saturating_sub(1)
                )),
            );
            encoded = serde_json::to_vec(&small).unwrap_or_default();
        } else if count > 0 && body.len() + encoded.len() + 3 > max_bytes {
            break;
        }
        if count > 0 {
            body.push(b',');
        }
        body.extend_from_slice(&encoded);
        count += 1;
    }
    body.extend_from_slice(b"]}");
    (body, count)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(seq: u64, size: usize) -> EventDto {
        let mut data = serde_json::Map::new();
        data.insert("Pad".into(), serde_json::Value::String("x".repeat(size)));
        EventDto {
            sequence: seq,
            time: "2019-06-27T11:58:35.499691Z".into(),
            event_type: "TaskRefreshed".into(),
            category: "Tasks".into(),
            task_id: None,
            service_id: None,
            user_id: None,
            data,
        }
    }

    #[test]
    fn bodies_respect_the_size_and_count_limits() {
        let pending: VecDeque<EventDto> = (1..=10).map(|seq| event(seq, 100)).collect();
        let (body, count) = build_body("crm", &pending, 1_000, 100);
        assert!(body.len() <= 1_000, "{}", body.len());
        assert!((1..10).contains(&count));
        let parsed: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(parsed["Events"].as_array().unwrap().len(), count);
        let (_, count) = build_body("crm", &pending, 1_000_000, 3);
        assert_eq!(count, 3);
        let huge: VecDeque<EventDto> = [event(7, 10_000)].into_iter().collect();
        let (body, count) = build_body("crm", &huge, 1_000, 100);
        assert_eq!(count, 1);
        assert!(body.len() <= 1_000);
        let parsed: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(parsed["Events"][0]["Data"]["Truncated"], true);
    }

    #[test]
    fn the_signature_is_hmac_sha256_over_timestamp_and_body() {
        // Computed independently: Python's hmac.new(secret, b"1561636715." + body, hashlib.sha256).hexdigest().
        let signature = sign(
            "whsec_test_secret_0123",
            1_561_636_715,
            br#"{"Webhook":"crm","Events":[]}"#,
        );
        assert_eq!(
            signature,
            "t=1561636715,v1=93e82b3fe90740904c850b7658f6091b3b509047d69746cbe85ba24e133198ce"
        );
    }
}
