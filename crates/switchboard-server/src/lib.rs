//! The switchboard server: the LUCS-compatible REST API, the Puzzel-compatible e-task requests and the xuc CTI
//! websocket over the routing engine and its durable store, and the web pages built on them (`web`).
//!
//! `AppState::open` recovers every tenant from the store; `app(state)` is the router; `serve(listener, state,
//! shutdown)` runs it until `shutdown` resolves, then drains and snapshots. The caller binds the listener, so
//! tests use port 0.
//!
//! Engine state: one `Journal` per tenant behind a `std::sync::Mutex`. A request locks it only to apply one
//! command and queue the write (microseconds, never across an `.await`), then waits for durability outside the
//! lock. Commands of a tenant therefore reach the store in the order they were applied.

pub mod auth;
pub mod clock;
pub mod cluster;
pub mod configuration;
pub mod error;
pub mod events;
pub mod explorer;
pub mod hub;
pub mod limits;
pub mod lucs;
pub mod metrics;
pub mod openapi;
pub mod puzzel;
pub mod stats;
pub mod web;
pub mod xuc;

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use switchboard_core::{Command, Engine, Event, Outcome, Time};
use switchboard_store::{Execution, Journal, JournalOptions, KeyRecord, Store, StoreError};
use tokio::sync::{watch, Notify};

use crate::auth::{generate_key, hash_key, KeyCache, Role};
use crate::clock::Clock;
use crate::error::ApiError;

pub use lucs::dto;

/// Server settings.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// The tenant of the admin key created on first start.
    pub default_tenant: String,
    /// Engine settings for new tenants, and the snapshot cadence.
    pub journal: JournalOptions,
    /// Sizes and counts bounded per request, key, tenant and server.
    pub limits: limits::Limits,
    /// How long stored events and terminated tasks are kept; `None` keeps them forever.
    pub retention: Option<switchboard_core::Span>,
    /// CTI websocket settings.
    pub cti: xuc::CtiConfig,
    /// Webhook delivery settings.
    pub webhooks: events::delivery::WebhookConfig,
    /// Several nodes on one PostgreSQL database (`cluster`); `None` runs one node that leads every tenant.
    pub cluster: Option<cluster::ClusterConfig>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            default_tenant: "default".to_string(),
            journal: JournalOptions::default(),
            limits: limits::Limits::default(),
            retention: Some(switchboard_core::Span::from_secs(90 * 86_400)),
            cti: xuc::CtiConfig::default(),
            webhooks: events::delivery::WebhookConfig::default(),
            cluster: None,
        }
    }
}

/// One tenant: its journal and the wake-up for its timer loop.
pub struct TenantHandle {
    name: String,
    journal: Mutex<Journal>,
    wake: Notify,
    hub: Arc<hub::Hub>,
    /// The CTI queue counters last computed, shared by every session of the tenant.
    cti_counters: Mutex<Option<xuc::QueueCounters>>,
    /// Set when this node stopped leading the tenant: nothing more is applied, its timer loop ends.
    closed: AtomicBool,
    /// Set once its timer loop and webhook deliveries are started.
    working: AtomicBool,
    /// The event sequence of the statistics checkpoint last stored (0: none yet).
    checkpointed: AtomicU64,
    /// How its statistics of the day were recovered when it opened.
    statistics_recovery: StatisticsRecovery,
}

/// How a tenant's statistics of the day were recovered when it opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatisticsRecovery {
    /// From a stored checkpoint (else from the day's first event).
    pub from_checkpoint: bool,
    /// Stored events read.
    pub events_read: u64,
}

/// The configuration-entry kind and id of the statistics checkpoints.
const STATISTICS_KIND: &str = "statistics";
const STATISTICS_ID: &str = "day";

/// How often the statistics of every tenant are checkpointed, so that a restart reads at most this much of the
/// day's events (besides a checkpoint at every graceful stop and hand-over).
const STATISTICS_CHECKPOINT_EVERY: Duration = Duration::from_secs(60);

impl TenantHandle {
    /// The tenant's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The tenant's live event fan-out.
    pub fn hub(&self) -> &Arc<hub::Hub> {
        &self.hub
    }

    /// How its statistics of the day were recovered when it opened.
    pub fn statistics_recovery(&self) -> StatisticsRecovery {
        self.statistics_recovery
    }
}

struct Inner {
    store: Arc<Store>,
    clock: Arc<dyn Clock>,
    config: ServerConfig,
    tenants: RwLock<HashMap<String, Arc<TenantHandle>>>,
    keys: KeyCache,
    limiter: limits::Limiter,
    metrics: metrics::Metrics,
    ready: AtomicBool,
    shutdown: watch::Sender<bool>,
    timers: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    timers_started: AtomicBool,
    cti: xuc::credentials::CtiDirectory,
    cti_sessions: xuc::Sessions,
    webhooks: events::delivery::Webhooks,
    cluster: Option<Arc<cluster::Cluster>>,
}

/// Everything a request needs. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

/// What the first start prints: the admin key, shown once.
pub struct CreatedKey {
    /// The stored record.
    pub record: KeyRecord,
    /// The secret itself; only its hash is stored.
    pub key: String,
}

/// What a new key grants.
#[derive(Clone, Debug)]
pub struct NewKey {
    /// The tenant it belongs to.
    pub tenant: String,
    /// A name to recognise it by.
    pub name: String,
    /// Roles granted.
    pub roles: Vec<Role>,
    /// When it stops working.
    pub expires_at: Option<Time>,
    /// Rate limit such as `1000/h`.
    pub rate_limit: Option<String>,
    /// Burst limit such as `50/s`.
    pub burst_limit: Option<String>,
}

/// Creates and stores a key; returns the secret (shown once).
pub fn create_key(store: &Store, new: &NewKey, now: Time) -> Result<CreatedKey, StoreError> {
    let key = generate_key();
    let record = KeyRecord {
        id: uuid::Uuid::new_v4().to_string(),
        tenant: new.tenant.clone(),
        name: new.name.clone(),
        key_hash: hash_key(&key),
        roles: new.roles.iter().map(|r| r.name().to_string()).collect(),
        created_at: now.as_micros(),
        expires_at: new.expires_at.map(Time::as_micros),
        rate_limit: new.rate_limit.clone(),
        burst_limit: new.burst_limit.clone(),
        revoked_at: None,
    };
    store.create_key(&record)?;
    Ok(CreatedKey { record, key })
}

impl AppState {
    /// Opens the server state over an open store (blocking: call it outside the async runtime or in
    /// `spawn_blocking`): recovers every stored tenant (engine from snapshot and log,
    /// then `RecoverSessions`), and makes sure an admin key exists: `admin_key` if given, else a new one on an
    /// empty store, returned so the caller can show it once.
    pub fn open(
        store: Arc<Store>,
        clock: Arc<dyn Clock>,
        config: ServerConfig,
        admin_key: Option<&str>,
    ) -> Result<(AppState, Option<CreatedKey>), StoreError> {
        let (shutdown, _) = watch::channel(false);
        let cti = xuc::credentials::CtiDirectory::load(&store)?;
        let cluster = match &config.cluster {
            Some(cluster) => Some(Arc::new(cluster::Cluster::new(cluster.clone())?)),
            None => None,
        };
        let webhooks = events::delivery::Webhooks::new(config.webhooks.clone());
        let state = AppState {
            inner: Arc::new(Inner {
                store,
                clock,
                config,
                tenants: RwLock::new(HashMap::new()),
                keys: KeyCache::default(),
                limiter: limits::Limiter::default(),
                metrics: metrics::Metrics::default(),
                ready: AtomicBool::new(false),
                shutdown,
                timers: Mutex::new(Vec::new()),
                timers_started: AtomicBool::new(false),
                cti,
                cti_sessions: xuc::Sessions::default(),
                webhooks,
                cluster,
            }),
        };
        let mut tenants = state.store().tenants()?;
        let default_tenant = state.inner.config.default_tenant.clone();
        if !tenants.contains(&default_tenant) {
            tenants.push(default_tenant.clone());
        }
        // In a cluster, tenants are opened as their leases are taken (`cluster::run`).
        if state.inner.cluster.is_none() {
            for tenant in tenants {
                state.open_tenant(&tenant)?;
            }
        }
        let now = state.now();
        let mut created = None;
        match admin_key {
            Some(key) => {
                // Several nodes may start at once on an empty database: a key another one just stored is fine.
                if state.store().find_key(&hash_key(key))?.is_none() {
                    let record = KeyRecord {
                        id: uuid::Uuid::new_v4().to_string(),
                        tenant: default_tenant.clone(),
                        name: "admin (SWITCHBOARD_ADMIN_KEY)".to_string(),
                        key_hash: hash_key(key),
                        roles: Role::ALL.iter().map(|r| r.name().to_string()).collect(),
                        created_at: now.as_micros(),
                        expires_at: None,
                        rate_limit: None,
                        burst_limit: None,
                        revoked_at: None,
                    };
                    match state.store().create_key(&record) {
                        Ok(()) | Err(StoreError::Conflict(_)) => {}
                        Err(error) => return Err(error),
                    }
                }
            }
            None => {
                if state.store().list_keys()?.is_empty() {
                    created = Some(create_key(
                        state.store(),
                        &NewKey {
                            tenant: default_tenant.clone(),
                            name: "admin".to_string(),
                            roles: Role::ALL.to_vec(),
                            expires_at: None,
                            rate_limit: None,
                            burst_limit: None,
                        },
                        now,
                    )?);
                }
            }
        }
        state.inner.ready.store(true, Ordering::SeqCst);
        Ok((state, created))
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Now, by the server's clock.
    pub fn now(&self) -> Time {
        self.inner.clock.now()
    }

    pub(crate) fn keys(&self) -> &KeyCache {
        &self.inner.keys
    }

    pub(crate) fn config(&self) -> &ServerConfig {
        &self.inner.config
    }

    pub(crate) fn cti(&self) -> &xuc::credentials::CtiDirectory {
        &self.inner.cti
    }

    pub(crate) fn cti_sessions(&self) -> &xuc::Sessions {
        &self.inner.cti_sessions
    }

    /// The webhook subscriptions and their delivery tasks.
    pub fn webhooks(&self) -> &events::delivery::Webhooks {
        &self.inner.webhooks
    }

    /// Turns true when the server starts shutting down; long-lived answers (event streams, long polls) end then.
    pub(crate) fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.inner.shutdown.subscribe()
    }

    /// Starts shutting down: not ready any more, and timers, event streams and long polls stop. `shutdown`
    /// finishes the job.
    pub fn begin_shutdown(&self) {
        self.inner.ready.store(false, Ordering::SeqCst);
        let _ = self.inner.shutdown.send(true);
    }

    /// Requests being handled now (what `limits::Limits::max_in_flight` bounds).
    pub fn requests_in_flight(&self) -> usize {
        self.inner.limiter.in_flight()
    }

    pub(crate) fn limiter(&self) -> &limits::Limiter {
        &self.inner.limiter
    }

    /// The server's counters.
    pub fn metrics(&self) -> &metrics::Metrics {
        &self.inner.metrics
    }

    /// Every open tenant.
    pub fn tenant_handles(&self) -> Vec<Arc<TenantHandle>> {
        self.inner
            .tenants
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// True once recovery is done (in a cluster: once this node took its share of tenants) and until shutdown
    /// starts.
    pub fn is_ready(&self) -> bool {
        self.inner.ready.load(Ordering::SeqCst)
            && self.inner.cluster.as_ref().is_none_or(|c| c.is_started())
    }

    /// This node's part in a cluster, if it runs in one.
    pub fn cluster(&self) -> Option<&Arc<cluster::Cluster>> {
        self.inner.cluster.as_ref()
    }

    /// Opens (recovers) a tenant here. In a cluster, only under the tenant's lease, which its writes carry.
    pub(crate) fn open_tenant(&self, name: &str) -> Result<Arc<TenantHandle>, StoreError> {
        if let Some(handle) = self
            .inner
            .tenants
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
        {
            return Ok(handle.clone());
        }
        let mut tenants = self
            .inner
            .tenants
            .write()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(handle) = tenants.get(name) {
            return Ok(handle.clone());
        }
        let mut options = self.inner.config.journal.clone();
        if let Some(cluster) = &self.inner.cluster {
            options.lease = Some(
                cluster
                    .lease_of(name)
                    .ok_or_else(|| StoreError::Fenced(name.to_string()))?,
            );
        }
        let mut journal = Journal::open(self.store(), name, options)?;
        // Sessions did not survive the restart: CTI agents are logged out, ringing offers go back to the queue.
        let execution = journal.execute(self.store(), self.now(), Command::RecoverSessions)?;
        execution.durable.wait_blocking()?;
        let started = std::time::Instant::now();
        let (statistics, statistics_recovery) = self.recover_statistics(name, journal.engine())?;
        let millis = started.elapsed().as_millis() as u64;
        let (events_read, from_checkpoint) = (
            statistics_recovery.events_read,
            statistics_recovery.from_checkpoint,
        );
        // Worth an operator's attention only when it slows the start down.
        if millis >= 250 {
            tracing::info!(
                tenant = name,
                events_read,
                from_checkpoint,
                millis,
                "recovered the statistics of the day"
            );
        } else {
            tracing::debug!(
                tenant = name,
                events_read,
                from_checkpoint,
                millis,
                "recovered the statistics of the day"
            );
        }
        let checkpointed = if statistics_recovery.from_checkpoint {
            statistics.seq()
        } else {
            0
        };
        let handle = Arc::new(TenantHandle {
            name: name.to_string(),
            journal: Mutex::new(journal),
            wake: Notify::new(),
            hub: Arc::new(hub::Hub::with_statistics(statistics)),
            cti_counters: Mutex::new(None),
            closed: AtomicBool::new(false),
            working: AtomicBool::new(false),
            checkpointed: AtomicU64::new(checkpointed),
            statistics_recovery,
        });
        tenants.insert(name.to_string(), handle.clone());
        Ok(handle)
    }

    /// The day's statistics of a tenant being opened: its stored checkpoint of today and the events after it, or
    /// else its stored events since midnight UTC (found by bisecting the sequence numbers: event times grow with
    /// them). Without checkpoints, a restart after a busy day would read every event of the day.
    fn recover_statistics(
        &self,
        name: &str,
        engine: &Engine,
    ) -> Result<(stats::Statistics, StatisticsRecovery), StoreError> {
        let now = self.now();
        let midnight = stats::Statistics::midnight(now);
        let store = self.store();
        let checkpoint = store
            .list_entries(name, STATISTICS_KIND)?
            .into_iter()
            .find(|(id, _)| id == STATISTICS_ID)
            .and_then(|(_, body)| {
                stats::Statistics::from_checkpoint(&body, now, engine.last_event_seq())
            });
        let from_checkpoint = checkpoint.is_some();
        let (mut statistics, mut after) = match checkpoint {
            Some(statistics) => {
                let after = statistics.seq();
                (statistics, after)
            }
            None => (
                stats::Statistics::begin(now),
                events::position_before(store, name, engine.last_event_seq(), midnight)?,
            ),
        };
        let mut events_read = 0;
        loop {
            let page = store.events_after(name, after, 10_000)?;
            let Some(last) = page.last() else {
                break;
            };
            after = last.seq;
            events_read += page.len() as u64;
            for event in page.iter().filter(|e| e.at >= midnight) {
                statistics.observe(event);
            }
        }
        let recovery = StatisticsRecovery {
            from_checkpoint,
            events_read,
        };
        Ok((statistics.settle(engine, now), recovery))
    }

    /// Stores a checkpoint of the tenant's statistics of the day if events came since the last one (blocking):
    /// a restart then reads only the events after it. True if one was stored.
    pub fn checkpoint_statistics(&self, tenant: &TenantHandle) -> Result<bool, StoreError> {
        let statistics = tenant.hub.statistics(|statistics| statistics.clone());
        if statistics.seq() == tenant.checkpointed.load(Ordering::SeqCst) {
            return Ok(false);
        }
        let body = statistics.checkpoint();
        self.store()
            .put_entry(&tenant.name, STATISTICS_KIND, STATISTICS_ID, &body)?;
        tenant
            .checkpointed
            .store(statistics.seq(), Ordering::SeqCst);
        Ok(true)
    }

    /// The tenant's handle, opening (recovering) it on first use, for example when a key was created for a new
    /// tenant by `switchboard keys create` while the server runs.
    pub async fn tenant(&self, name: &str) -> Result<Arc<TenantHandle>, ApiError> {
        if let Some(handle) = self
            .inner
            .tenants
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
        {
            return Ok(handle.clone());
        }
        // In a cluster, a tenant is opened only by taking its lease (requests for it were routed here).
        if self.inner.cluster.is_some() {
            return Err(cluster::moved(name));
        }
        let state = self.clone();
        let owned = name.to_string();
        let handle = tokio::task::spawn_blocking(move || state.open_tenant(&owned))
            .await
            .map_err(|_| ApiError::unavailable(&StoreError::Closed))??;
        self.start_tenant_work();
        Ok(handle)
    }

    /// Starts the timer loop and webhook deliveries of every open tenant that has none yet (once timers run).
    pub(crate) fn start_tenant_work(&self) {
        if !self.inner.timers_started.load(Ordering::SeqCst) || *self.inner.shutdown.borrow() {
            return;
        }
        for handle in self.tenant_handles() {
            if handle.working.swap(true, Ordering::SeqCst) {
                continue;
            }
            let shutdown = self.inner.shutdown.subscribe();
            let timer = tokio::spawn(timer_loop(self.clone(), handle.clone(), shutdown));
            let mut timers = self.inner.timers.lock().unwrap_or_else(|e| e.into_inner());
            timers.retain(|t| !t.is_finished());
            timers.push(timer);
            if self.inner.cluster.is_some() {
                let state = self.clone();
                let name = handle.name.clone();
                tokio::spawn(async move { state.webhooks().start_tenant(&state, &name).await });
            }
        }
    }

    /// Stops applying anything to a tenant and drops it here (blocking): this node no longer leads it. With
    /// `snapshot`, writes a final snapshot first (a graceful hand-over: the next leader replays nothing). Its
    /// sockets and event streams end; their clients reconnect to the new leader through any node.
    pub(crate) fn close_tenant(&self, name: &str, snapshot: bool) {
        let Some(handle) = self
            .inner
            .tenants
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name)
        else {
            return;
        };
        let pending = {
            let mut journal = handle.journal.lock().unwrap_or_else(|e| e.into_inner());
            handle.closed.store(true, Ordering::SeqCst);
            snapshot.then(|| journal.snapshot(self.store()))
        };
        handle.wake.notify_one();
        handle.hub.close();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let state = self.clone();
            let owned = name.to_string();
            runtime.block_on(async move { state.webhooks().stop_tenant(&owned).await });
        }
        if let Some(pending) = pending {
            if let Err(error) = pending.wait_blocking() {
                tracing::warn!(tenant = name, error = %error, "no final snapshot before the hand-over");
            }
            if let Err(error) = self.checkpoint_statistics(&handle) {
                tracing::warn!(tenant = name, error = %error, "no statistics checkpoint before the hand-over");
            }
        }
    }

    /// Reads the tenant's engine under its lock.
    pub fn read<T>(&self, tenant: &TenantHandle, f: impl FnOnce(&Engine) -> T) -> T {
        let journal = tenant.journal.lock().unwrap_or_else(|e| e.into_inner());
        f(journal.engine())
    }

    /// Applies a command to a tenant and waits until it is durable. The engine's refusal is returned as the
    /// inner error; a storage failure as the outer one (503: nothing was acknowledged).
    pub async fn execute(
        &self,
        tenant: &TenantHandle,
        command: Command,
    ) -> Result<(Result<Outcome, ApiError>, Vec<Event>), ApiError> {
        let (result, events, ()) = self.execute_with(tenant, |_| Ok((command, ()))).await?;
        Ok((result, events))
    }

    /// Builds a command from the tenant's engine and applies it under the same lock, so nothing changes in between
    /// (a Puzzel request claims the next request id this way), then waits until it is durable and publishes its
    /// events to the tenant's hub. `build` also returns what the caller needs to know about the command it built;
    /// its refusal is returned as the outer error and nothing is applied.
    pub async fn execute_with<T>(
        &self,
        tenant: &TenantHandle,
        build: impl FnOnce(&Engine) -> Result<(Command, T), ApiError>,
    ) -> Result<(Result<Outcome, ApiError>, Vec<Event>, T), ApiError> {
        let (execution, ticket, built) = {
            let mut journal = tenant.journal.lock().unwrap_or_else(|e| e.into_inner());
            if tenant.closed.load(Ordering::SeqCst) {
                return Err(cluster::moved(&tenant.name));
            }
            let (command, built) = build(journal.engine())?;
            if matches!(command, Command::CreateTask(_)) {
                let max = self.inner.config.limits.max_live_tasks;
                if journal.engine().n_live_tasks() >= max {
                    return Err(ApiError::too_many(
                        "TaskLimitReached",
                        format!("The tenant holds {max} live tasks, its limit; try again when some have ended."),
                        1,
                    ));
                }
            }
            let ticket = tenant.hub.ticket();
            match journal.execute(self.store(), self.now(), command) {
                Ok(execution) => (execution, ticket, built),
                Err(error) => {
                    tenant.hub.complete(ticket, Vec::new());
                    return Err(error.into());
                }
            }
        };
        tenant.wake.notify_one();
        let Execution {
            result,
            events,
            durable,
        } = execution;
        // Waiting for durability and publishing run in their own task: a caller that goes away (a client that
        // disconnects) must not leave the ticket open, which would hold back every later event of the tenant.
        let hub = tenant.hub.clone();
        let published = events.clone();
        let durable = tokio::spawn(async move {
            let outcome = durable.wait().await;
            match &outcome {
                Ok(()) => hub.complete(ticket, published),
                Err(_) => hub.complete(ticket, Vec::new()),
            }
            outcome
        });
        durable
            .await
            .map_err(|_| ApiError::unavailable(&StoreError::Closed))??;
        self.inner.metrics.observe_events(&events);
        Ok((result.map_err(ApiError::from), events, built))
    }

    /// `execute_with` for callers that treat an engine refusal like any other error.
    pub async fn command_with<T>(
        &self,
        tenant: &TenantHandle,
        build: impl FnOnce(&Engine) -> Result<(Command, T), ApiError>,
    ) -> Result<(Outcome, T), ApiError> {
        let (result, _, built) = self.execute_with(tenant, build).await?;
        Ok((result?, built))
    }

    /// Applies a command; engine refusals and storage failures alike become the error.
    pub async fn command(
        &self,
        tenant: &TenantHandle,
        command: Command,
    ) -> Result<Outcome, ApiError> {
        self.execute(tenant, command).await?.0
    }

    /// Fires due timers of every tenant now (what the timer loops do by themselves; tests with a manual clock
    /// call it after moving the clock).
    pub async fn tick(&self) -> Result<(), ApiError> {
        let tenants = self.tenant_handles();
        for tenant in tenants {
            let _ = self.execute(&tenant, Command::Advance).await?;
        }
        Ok(())
    }

    /// Starts one timer loop per tenant: each sleeps until its engine's next deadline (or a command changed it)
    /// and then advances the engine.
    pub fn start_timers(&self) {
        let tenants = self.tenant_handles();
        self.inner.timers_started.store(true, Ordering::SeqCst);
        let mut timers = self.inner.timers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(retention) = self.inner.config.retention {
            let shutdown = self.inner.shutdown.subscribe();
            timers.push(tokio::spawn(retention_loop(
                self.clone(),
                retention,
                shutdown,
            )));
        }
        for tenant in tenants {
            tenant.working.store(true, Ordering::SeqCst);
            let state = self.clone();
            let shutdown = self.inner.shutdown.subscribe();
            timers.push(tokio::spawn(timer_loop(state, tenant, shutdown)));
        }
        // Webhook delivery tasks are owned by `Webhooks`; this one only loads and starts them.
        let state = self.clone();
        timers.push(tokio::spawn(async move {
            state.webhooks().start_all(&state).await;
        }));
        if let Some(cluster) = &self.inner.cluster {
            timers.push(tokio::spawn(cluster::run(self.clone(), cluster.clone())));
        }
        let shutdown = self.inner.shutdown.subscribe();
        timers.push(tokio::spawn(statistics_loop(self.clone(), shutdown)));
    }

    /// Stops the timer loops, writes a snapshot of every tenant so the next start replays nothing, and closes
    /// the store after every queued write is committed.
    pub async fn shutdown(&self) {
        self.begin_shutdown();
        let timers =
            std::mem::take(&mut *self.inner.timers.lock().unwrap_or_else(|e| e.into_inner()));
        for timer in timers {
            let _ = timer.await;
        }
        // Delivery tasks store their positions as they stop, before the store closes.
        self.inner.webhooks.stop_all().await;
        // In a cluster: leave, and hand every tenant over (final snapshot, then release the lease).
        if let Some(cluster) = self.inner.cluster.clone() {
            let state = self.clone();
            let _ = tokio::task::spawn_blocking(move || cluster.leave(&state)).await;
        }
        let tenants = self.tenant_handles();
        for tenant in tenants {
            let pending = {
                let mut journal = tenant.journal.lock().unwrap_or_else(|e| e.into_inner());
                journal.snapshot(self.store())
            };
            if let Err(error) = pending.wait().await {
                tracing::error!(tenant = %tenant.name, error = %error, "could not write the shutdown snapshot");
            }
            let state = self.clone();
            let checkpoint =
                tokio::task::spawn_blocking(move || state.checkpoint_statistics(&tenant)).await;
            if let Ok(Err(error)) = checkpoint {
                tracing::warn!(error = %error, "could not write the shutdown statistics checkpoint");
            }
        }
        let store = self.inner.store.clone();
        let _ = tokio::task::spawn_blocking(move || store.close()).await;
    }
}

/// Every `STATISTICS_CHECKPOINT_EVERY`, checkpoints the statistics of every tenant led here that had events.
async fn statistics_loop(state: AppState, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(STATISTICS_CHECKPOINT_EVERY) => {}
            _ = shutdown.changed() => return,
        }
        for tenant in state.tenant_handles() {
            if tenant.closed.load(Ordering::SeqCst) {
                continue;
            }
            let worker = state.clone();
            let name = tenant.name.clone();
            let result =
                tokio::task::spawn_blocking(move || worker.checkpoint_statistics(&tenant)).await;
            if let Ok(Err(error)) = result {
                tracing::warn!(tenant = %name, error = %error, "statistics checkpoint failed; retrying later");
            }
        }
    }
}

/// Every hour, deletes events and terminated tasks older than the retention period.
async fn retention_loop(
    state: AppState,
    retention: switchboard_core::Span,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let cut = Time(state.now().as_micros() - retention.as_micros());
        let prune_state = state.clone();
        match tokio::task::spawn_blocking(move || prune_state.store().prune(cut, cut)).await {
            Ok(Ok((events, tasks))) if events + tasks > 0 => {
                tracing::info!(
                    events,
                    tasks,
                    "pruned history older than the retention period"
                )
            }
            Ok(Err(error)) => {
                tracing::warn!(error = %error, "pruning history failed; retrying later")
            }
            _ => {}
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
            _ = shutdown.changed() => return,
        }
    }
}

async fn timer_loop(
    state: AppState,
    tenant: Arc<TenantHandle>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        if *shutdown.borrow() || tenant.closed.load(Ordering::SeqCst) {
            return;
        }
        let deadline = state.read(&tenant, |engine| engine.next_deadline());
        let now = state.now();
        let wait = match deadline {
            Some(at) if at <= now => Duration::ZERO,
            Some(at) => Duration::from_micros((at.as_micros() - now.as_micros()) as u64),
            None => Duration::from_secs(3600),
        };
        if !wait.is_zero() {
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = tenant.wake.notified() => continue,
                _ = shutdown.changed() => return,
            }
        }
        if let Err(error) = state.execute(&tenant, Command::Advance).await {
            tracing::warn!(tenant = %tenant.name, code = error.code, "timer advance failed; retrying");
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                _ = shutdown.changed() => return,
            }
        }
    }
}

/// Every endpoint the server answers, documented: health, metrics, the API description, the LUCS dialect and the
/// Puzzel e-task requests.
pub fn endpoints() -> Vec<openapi::Endpoint> {
    use axum::http::Method;
    use openapi::{Answer, Endpoint};
    let mut list = vec![
        Endpoint::new(
            Method::GET,
            "/healthz",
            "Operations",
            "The process is up",
            &[],
            Answer::Text("text/plain"),
            get(|| async { "ok" }),
        ),
        Endpoint::new(
            Method::GET,
            "/readyz",
            "Operations",
            "The store is reachable and recovery is done (503 while starting or stopping)",
            &[],
            Answer::Text("text/plain"),
            get(readyz),
        ),
        Endpoint::new(
            Method::GET,
            "/metrics",
            "Operations",
            "Prometheus metrics",
            &[],
            Answer::Text("text/plain"),
            get(metrics::render),
        ),
        Endpoint::new(
            Method::GET,
            "/openapi.json",
            "Operations",
            "This API description",
            &[],
            Answer::Text("application/json"),
            get(openapi_json),
        ),
        Endpoint::new(
            Method::GET,
            "/docs",
            "Operations",
            "Interactive API documentation (works offline)",
            &[],
            Answer::Text("text/html"),
            get(docs_page),
        ),
    ];
    list.extend(lucs::endpoints());
    list.extend(puzzel::endpoints());
    list.extend(xuc::endpoints());
    list.extend(events::endpoints());
    list.extend(explorer::endpoints());
    list.extend(web::endpoints());
    list
}

/// The OpenAPI document of the whole API.
pub fn openapi_document() -> serde_json::Value {
    openapi::document(&endpoints())
}

async fn openapi_json() -> axum::response::Response {
    use axum::response::IntoResponse;
    static DOCUMENT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let body = DOCUMENT.get_or_init(|| openapi_document().to_string());
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body.as_str(),
    )
        .into_response()
}

async fn docs_page() -> axum::response::Html<&'static str> {
    axum::response::Html(include_str!("docs.html"))
}

/// The router, built from `endpoints()`.
pub fn app(state: AppState) -> Router {
    let max_body = state.config().limits.max_body_bytes;
    let mut router = Router::new();
    for endpoint in endpoints() {
        let roles = Arc::new(endpoint.roles.clone());
        let dialect = endpoint.dialect;
        let tenant_from = cluster::TenantFrom::of(&endpoint.path, !endpoint.roles.is_empty());
        let guarded = endpoint
            .router
            .route_layer(axum::middleware::from_fn_with_state(
                state.clone(),
                move |axum::extract::State(state): axum::extract::State<AppState>,
                      request,
                      next| {
                    auth::require_roles(state, roles.clone(), dialect, request, next)
                },
            ))
            // In a cluster, a request for a tenant another node leads goes there before it is authenticated
            // (and its limits counted) here.
            .route_layer(axum::middleware::from_fn_with_state(
                state.clone(),
                move |axum::extract::State(state): axum::extract::State<AppState>,
                      request,
                      next| {
                    cluster::route_request(state, tenant_from, dialect, request, next)
                },
            ))
            // Admission outside authentication: a shed request costs no key lookup.
            .route_layer(axum::middleware::from_fn_with_state(
                state.clone(),
                move |axum::extract::State(state): axum::extract::State<AppState>,
                      request,
                      next| { limits::admit(state, dialect, request, next) },
            ));
        router = router.route(&endpoint.path, guarded);
    }
    router
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(max_body))
        .with_state(state)
}

async fn readyz(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if state.is_ready() {
        "ready".into_response()
    } else {
        (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "starting or stopping",
        )
            .into_response()
    }
}

/// Serves until `shutdown` resolves, then stops accepting, finishes in-flight requests, and shuts the state down
/// (timers, snapshots, store).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    state.start_timers();
    let router = app(state.clone());
    // Event streams never end by themselves: tell them to as soon as shutdown starts, or the graceful shutdown
    // would wait for them forever.
    let signal = state.clone();
    let shutdown = async move {
        shutdown.await;
        signal.begin_shutdown();
    };
    // Small messages (CTI events, answers) go out at once: without TCP_NODELAY, Nagle's algorithm holds a small
    // write until the previous one is acknowledged, and a peer's delayed ACK makes that up to 40 ms.
    use axum::serve::ListenerExt;
    let listener = listener.tap_io(|tcp| {
        if let Err(error) = tcp.set_nodelay(true) {
            tracing::debug!(%error, "could not set TCP_NODELAY on a connection");
        }
    });
    let result = axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await;
    state.shutdown().await;
    result
}
