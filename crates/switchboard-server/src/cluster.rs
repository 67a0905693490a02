//! Several nodes on one PostgreSQL database (`docs/cluster.md`).
//!
//! Each tenant has one writer node at a time, holding the tenant's lease (`switchboard_store::cluster`). Every
//! write carries the lease's epoch, and the database refuses it once another node took the tenant over, so a
//! paused or partitioned old writer can never commit after the new one started.
//!
//! Who leads what: every node announces itself with a heartbeat, and each tenant's preferred node is chosen by
//! rendezvous hashing over the live nodes, so every node computes the same answer and a node joining or leaving
//! moves only its share. A node takes free or expired leases of tenants it prefers (and any lease left expired for
//! two lease periods), hands over tenants another settled node is preferred for (snapshot, then release), and
//! steps down at once when a renewal shows its lease was taken.
//!
//! Any node accepts any request: `route_request`, a layer on every documented route, finds the request's tenant
//! (its API key, CTI token or CTI login) and, when another node leads it, forwards the request there unchanged
//! and streams the answer back (event streams and long polls too); CTI websockets are relayed message by
//! message. A tenant between leaders answers 503 with `Retry-After: 1`, never a stale or wrong answer.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{FromRequestParts, Request};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use switchboard_store::cluster::{ClusterView, Leases};
use switchboard_store::{Lease, StoreError};

use crate::error::ApiError;
use crate::openapi::Dialect;
use crate::AppState;

/// Marks a request one node passed to another; the receiving node never passes it on again.
pub const FORWARDED: &str = "x-switchboard-forwarded-by";
/// Names the node that answered (on every answer of a node in a cluster).
pub const ANSWERED_BY: &str = "x-switchboard-node";

/// How this node takes part in a cluster.
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    /// This node's id (unique among the nodes; by default its advertised address).
    pub node: String,
    /// Where the other nodes reach this one: `http://host:port`.
    pub advertise: String,
    /// How long a lease lasts without renewal: a dead node's tenants move after about this long.
    pub lease_ttl: Duration,
    /// The database (PostgreSQL).
    pub db_url: String,
}

impl ClusterConfig {
    /// How often leases are renewed and the cluster looked at.
    pub fn tick(&self) -> Duration {
        (self.lease_ttl / 5).clamp(Duration::from_millis(50), Duration::from_secs(2))
    }

    /// How long after a renewal this node still counts on its lease: a margin below the lease period, since the
    /// database counts from when it ran the renewal, a little after this node sent it.
    fn trust(&self) -> Duration {
        self.lease_ttl.mul_f64(0.8)
    }
}

/// Where a request for a tenant goes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// This node leads the tenant.
    Local,
    /// This node should take the tenant (free, expired, or preferred here).
    Acquire,
    /// Another node leads (or should lead) it: its advertised address.
    Forward(String),
    /// Nobody can answer for it right now (moving between nodes).
    Unavailable(String),
}

enum Held {
    /// Leading, with the lease trusted until then.
    Leading {
        lease: Lease,
        trusted_until: Instant,
    },
    /// Handing it over: requests wait for the next leader.
    Releasing,
}

/// Lease changes, for `/metrics`.
#[derive(Default)]
struct Changes {
    acquired: AtomicU64,
    released: AtomicU64,
    lost: AtomicU64,
}

/// This node's view of the cluster and its leases.
pub struct Cluster {
    config: ClusterConfig,
    /// The lease connection; reopened after a loss.
    leases: Mutex<Option<Leases>>,
    /// Serializes taking tenants (the lease loop and requests for a free tenant).
    acquiring: Mutex<()>,
    held: RwLock<HashMap<String, Held>>,
    view: RwLock<(ClusterView, Instant)>,
    changes: Changes,
    started: AtomicBool,
    leaving: AtomicBool,
    client: reqwest::Client,
}

/// The answer for a tenant that is between nodes.
pub(crate) fn moved(tenant: &str) -> ApiError {
    unavailable(format!(
        "Tenant '{tenant}' is moving to another node; retry in a moment."
    ))
}

/// `503 TenantMoving` with `Retry-After: 1`: every answer of a tenant that has no usable leader here.
fn unavailable(message: String) -> ApiError {
    let mut error = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "TenantMoving", message);
    error.retry_after = Some(1);
    error
}

/// Rendezvous (highest random weight) hashing: the same answer on every node, and a node joining or leaving
/// moves only the tenants it wins or held. FNV-1a, fixed so that every build agrees.
fn weight(tenant: &str, node: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in tenant.bytes().chain([0xff]).chain(node.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    // FNV alone mixes the last bytes poorly; finish with a 64-bit avalanche (splitmix64's).
    hash ^= hash >> 30;
    hash = hash.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    hash ^= hash >> 27;
    hash = hash.wrapping_mul(0x94d0_49bb_1331_11eb);
    hash ^ (hash >> 31)
}

/// The node a tenant prefers among `nodes`.
pub fn preferred<'a>(tenant: &str, nodes: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    nodes
        .into_iter()
        .max_by_key(|node| (weight(tenant, node), std::cmp::Reverse(*node)))
}

impl Cluster {
    /// A node about to join (`start` begins its lease loop).
    pub fn new(config: ClusterConfig) -> Result<Cluster, StoreError> {
        let leases = Leases::open(&config.db_url, &config.node)?;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(Duration::from_secs(2))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| StoreError::Config(format!("cannot build the forwarding client: {e}")))?;
        Ok(Cluster {
            config,
            leases: Mutex::new(Some(leases)),
            acquiring: Mutex::new(()),
            held: RwLock::new(HashMap::new()),
            view: RwLock::new((ClusterView::default(), Instant::now())),
            changes: Changes::default(),
            started: AtomicBool::new(false),
            leaving: AtomicBool::new(false),
            client,
        })
    }

    /// This node's settings.
    pub fn config(&self) -> &ClusterConfig {
        &self.config
    }

    /// True once the first round of the lease loop is done (the node has taken its share).
    pub fn is_started(&self) -> bool {
        self.started.load(Ordering::SeqCst)
    }

    /// The tenants this node leads now.
    pub fn led(&self) -> Vec<String> {
        let held = self.held.read().unwrap_or_else(|e| e.into_inner());
        let mut led: Vec<String> = held
            .iter()
            .filter(|(_, h)| matches!(h, Held::Leading { .. }))
            .map(|(t, _)| t.clone())
            .collect();
        led.sort();
        led
    }

    /// The lease under which this node writes a tenant, if it leads it.
    pub(crate) fn lease_of(&self, tenant: &str) -> Option<Lease> {
        match self
            .held
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(tenant)
        {
            Some(Held::Leading { lease, .. }) => Some(lease.clone()),
            _ => None,
        }
    }

    fn with_leases<T>(
        &self,
        f: impl FnOnce(&mut Leases) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut guard = self.leases.lock().unwrap_or_else(|e| e.into_inner());
        if guard.as_ref().is_none_or(Leases::is_closed) {
            *guard = Some(Leases::open(&self.config.db_url, &self.config.node)?);
        }
        let leases = guard.as_mut().expect("opened above");
        let result = f(leases);
        if result.is_err() && leases.is_closed() {
            *guard = None;
        }
        result
    }

    /// Live nodes (heartbeat within a lease period) as (id, advertised address), this one included.
    fn alive(&self) -> Vec<(String, String)> {
        let (view, read_at) = &*self.view.read().unwrap_or_else(|e| e.into_inner());
        let age = read_at.elapsed().as_millis() as i64;
        let ttl = self.config.lease_ttl.as_millis() as i64;
        let mut alive: Vec<(String, String)> = view
            .nodes
            .iter()
            .filter(|n| n.heartbeat_ms_ago + age < ttl && n.node != self.config.node)
            .map(|n| (n.node.clone(), n.advertise.clone()))
            .collect();
        if !self.leaving.load(Ordering::SeqCst) {
            alive.push((self.config.node.clone(), self.config.advertise.clone()));
        }
        alive
    }

    /// Where a request for `tenant` goes. `forwarded`: another node sent it here (it is never sent on again).
    pub(crate) fn route(&self, tenant: &str, forwarded: bool) -> Route {
        match self
            .held
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(tenant)
        {
            Some(Held::Leading { trusted_until, .. }) if *trusted_until > Instant::now() => {
                return Route::Local
            }
            Some(Held::Leading { .. }) => {
                return Route::Unavailable(format!(
                    "This node could not renew its lease of tenant '{tenant}' in time; retry in a moment."
                ))
            }
            Some(Held::Releasing) => {
                return Route::Unavailable(format!(
                    "Tenant '{tenant}' is moving to another node; retry in a moment."
                ))
            }
            None => {}
        }
        let holder = {
            let (view, read_at) = &*self.view.read().unwrap_or_else(|e| e.into_inner());
            let age = read_at.elapsed().as_millis() as i64;
            view.leases
                .iter()
                .find(|l| l.tenant == tenant)
                .filter(|l| l.expires_in_ms - age > 0)
                .and_then(|l| l.node.clone())
                .filter(|node| *node != self.config.node)
                .map(|node| {
                    let address = view
                        .nodes
                        .iter()
                        .find(|n| n.node == node)
                        .map(|n| n.advertise.clone());
                    (node, address)
                })
        };
        match holder {
            Some((node, _)) if forwarded => Route::Unavailable(format!(
                "Tenant '{tenant}' is led by node '{node}'; retry in a moment."
            )),
            Some((_, Some(address))) => Route::Forward(address),
            Some((node, None)) => Route::Unavailable(format!(
                "Tenant '{tenant}' is led by node '{node}', which has not announced its address."
            )),
            None if forwarded => Route::Acquire,
            None => {
                let alive = self.alive();
                let best = preferred(tenant, alive.iter().map(|(n, _)| n.as_str()))
                    .unwrap_or(&self.config.node)
                    .to_string();
                if best == self.config.node {
                    Route::Acquire
                } else {
                    let address = alive
                        .into_iter()
                        .find(|(n, _)| *n == best)
                        .map(|(_, a)| a)
                        .expect("the preferred node is alive");
                    Route::Forward(address)
                }
            }
        }
    }

    /// Takes a tenant's lease and opens the tenant here (blocking). Fails if another node holds the lease.
    pub(crate) fn acquire(&self, state: &AppState, tenant: &str) -> Result<(), ApiError> {
        let _guard = self.acquiring.lock().unwrap_or_else(|e| e.into_inner());
        if self.leaving.load(Ordering::SeqCst) {
            return Err(moved(tenant));
        }
        if self
            .held
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(tenant)
        {
            return Ok(());
        }
        let asked = Instant::now();
        let lease = self
            .with_leases(|leases| leases.acquire(tenant, self.config.lease_ttl))?
            .ok_or_else(|| {
                unavailable(format!(
                    "Tenant '{tenant}' is led by another node; retry in a moment."
                ))
            })?;
        self.held.write().unwrap_or_else(|e| e.into_inner()).insert(
            tenant.to_string(),
            Held::Leading {
                lease: lease.clone(),
                trusted_until: asked + self.config.trust(),
            },
        );
        // Credentials may have been changed by the previous leader.
        let opened = state
            .cti()
            .refresh(state.store())
            .and_then(|()| state.open_tenant(tenant).map(drop));
        if let Err(error) = opened {
            tracing::error!(tenant, error = %error, "could not open a tenant after taking its lease");
            self.held
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .remove(tenant);
            let _ = self.with_leases(|leases| leases.release(tenant, &lease));
            return Err(error.into());
        }
        self.changes.acquired.fetch_add(1, Ordering::Relaxed);
        tracing::info!(tenant, epoch = lease.epoch, node = %self.config.node, "leading tenant");
        Ok(())
    }

    /// Stops leading a tenant: with `release`, after a final snapshot, gives the lease up so the next node takes
    /// it at once; without, because the lease is already lost (nothing more can be written anyway).
    fn step_down(&self, state: &AppState, tenant: &str, release: bool) {
        let lease = {
            let mut held = self.held.write().unwrap_or_else(|e| e.into_inner());
            match held.insert(tenant.to_string(), Held::Releasing) {
                Some(Held::Leading { lease, .. }) => lease,
                _ => {
                    held.remove(tenant);
                    return;
                }
            }
        };
        state.close_tenant(tenant, release);
        if release {
            match self.with_leases(|leases| leases.release(tenant, &lease)) {
                Ok(_) => {
                    self.changes.released.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(tenant, node = %self.config.node, "handed the tenant over");
                }
                Err(error) => {
                    tracing::warn!(tenant, error = %error, "could not release a lease; it expires by itself")
                }
            }
        } else {
            self.changes.lost.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(tenant, node = %self.config.node, "lost the lease of a tenant; stepped down");
        }
        self.held
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(tenant);
    }

    /// One round of the lease loop (blocking): heartbeat, renew, step down from lost tenants, then take and hand
    /// over tenants by preference.
    pub(crate) fn round(&self, state: &AppState) -> Result<(), StoreError> {
        let asked = Instant::now();
        let first = !self.started.load(Ordering::SeqCst);
        let leading: Vec<(String, i64)> = self
            .held
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter_map(|(tenant, held)| match held {
                Held::Leading { lease, .. } => Some((tenant.clone(), lease.epoch)),
                Held::Releasing => None,
            })
            .collect();
        let names: Vec<String> = leading.iter().map(|(t, _)| t.clone()).collect();
        let (renewed, view) = self.with_leases(|leases| {
            leases.heartbeat(&self.config.advertise, first)?;
            let renewed = leases.renew(&names, self.config.lease_ttl)?;
            Ok((renewed, leases.view()?))
        })?;
        *self.view.write().unwrap_or_else(|e| e.into_inner()) = (view.clone(), Instant::now());
        for (tenant, epoch) in &leading {
            if renewed.iter().any(|(t, e)| t == tenant && e == epoch) {
                if let Some(Held::Leading { trusted_until, .. }) = self
                    .held
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .get_mut(tenant)
                {
                    *trusted_until = asked + self.config.trust();
                }
            } else {
                self.step_down(state, tenant, false);
            }
        }
        if self.leaving.load(Ordering::SeqCst) {
            return Ok(());
        }
        let ttl = self.config.lease_ttl.as_millis() as i64;
        let alive = self.alive();
        // Nodes up for a lease period: tenants are handed to them (a node just starting takes only free ones).
        let settled: BTreeSet<&str> = view
            .nodes
            .iter()
            .filter(|n| n.heartbeat_ms_ago < ttl && n.started_ms_ago > ttl)
            .map(|n| n.node.as_str())
            .collect();
        let mut tenants: BTreeSet<String> = view.tenants.iter().cloned().collect();
        tenants.extend(view.leases.iter().map(|l| l.tenant.clone()));
        tenants.insert(state.config().default_tenant.clone());
        for tenant in tenants {
            let best = preferred(&tenant, alive.iter().map(|(n, _)| n.as_str()))
                .unwrap_or(&self.config.node)
                .to_string();
            let mine = best == self.config.node;
            let leading = self
                .held
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .contains_key(&tenant);
            if leading {
                if !mine && settled.contains(best.as_str()) {
                    self.step_down(state, &tenant, true);
                }
                continue;
            }
            let row = view.leases.iter().find(|l| l.tenant == tenant);
            let free = row.is_none_or(|l| {
                l.node.is_none()
                    || l.expires_in_ms < 0
                    || l.node.as_deref() == Some(&self.config.node)
            });
            // A lease nobody took for two periods: the preferred node is not taking it; anyone may.
            let abandoned = row.is_some_and(|l| l.expires_in_ms < -2 * ttl);
            if free && (mine || abandoned) {
                if let Err(error) = self.acquire(state, &tenant) {
                    tracing::debug!(tenant, message = %error.message, "did not take a tenant");
                }
            }
        }
        self.started.store(true, Ordering::SeqCst);
        Ok(())
    }

    /// Leaves the cluster (graceful shutdown): stops taking tenants, removes the announcement, then hands every
    /// tenant over (final snapshot, release) so the other nodes take them at once.
    pub(crate) fn leave(&self, state: &AppState) {
        self.leaving.store(true, Ordering::SeqCst);
        let _guard = self.acquiring.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(error) = self.with_leases(|leases| leases.leave()) {
            tracing::warn!(error = %error, "could not leave the cluster cleanly");
        }
        for tenant in self.led() {
            self.step_down(state, &tenant, true);
        }
    }

    /// The cluster's part of `/metrics`.
    pub fn metrics_text(&self) -> String {
        let node = crate::metrics::escape(&self.config.node);
        let mut out = String::new();
        out.push_str("# HELP switchboard_cluster_lease_changes_total Tenant leases this node took, handed over or lost.\n");
        out.push_str("# TYPE switchboard_cluster_lease_changes_total counter\n");
        for (change, counter) in [
            ("acquired", &self.changes.acquired),
            ("released", &self.changes.released),
            ("lost", &self.changes.lost),
        ] {
            out.push_str(&format!(
                "switchboard_cluster_lease_changes_total{{node=\"{node}\",change=\"{change}\"}} {}\n",
                counter.load(Ordering::Relaxed)
            ));
        }
        out.push_str("# HELP switchboard_cluster_tenants_led Tenants this node leads.\n");
        out.push_str("# TYPE switchboard_cluster_tenants_led gauge\n");
        out.push_str(&format!(
            "switchboard_cluster_tenants_led{{node=\"{node}\"}} {}\n",
            self.led().len()
        ));
        out.push_str("# HELP switchboard_cluster_nodes_alive Nodes with a recent heartbeat, this one included.\n");
        out.push_str("# TYPE switchboard_cluster_nodes_alive gauge\n");
        out.push_str(&format!(
            "switchboard_cluster_nodes_alive{{node=\"{node}\"}} {}\n",
            self.alive().len()
        ));
        out
    }
}

/// The lease loop: one round per tick until shutdown.
pub(crate) async fn run(state: AppState, cluster: Arc<Cluster>) {
    let mut shutdown = state.shutdown_signal();
    loop {
        let round_state = state.clone();
        let round_cluster = cluster.clone();
        let result = tokio::task::spawn_blocking(move || round_cluster.round(&round_state)).await;
        if let Ok(Err(error)) = result {
            tracing::warn!(error = %error, "the lease round failed; retrying");
        }
        state.start_tenant_work();
        tokio::select! {
            _ = tokio::time::sleep(cluster.config.tick()) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Where a documented route finds the tenant of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TenantFrom {
    /// Nowhere: answered by any node (health, metrics, documentation, pages).
    Nothing,
    /// The API key (`api_key` header, or `Authorization: Bearer` where the dialect accepts it).
    ApiKey,
    /// The CTI login in the JSON body (`POST /xuc/api/2.0/auth/login`).
    CtiLogin,
    /// A CTI token in `Authorization: Bearer`.
    CtiBearer,
    /// A CTI token in the `token` query parameter (the websocket).
    CtiQuery,
}

impl TenantFrom {
    /// How the tenant of an endpoint is found.
    pub fn of(path: &str, has_roles: bool) -> TenantFrom {
        match path {
            "/xuc/api/2.0/auth/login" => TenantFrom::CtiLogin,
            "/xuc/api/2.0/auth/check" => TenantFrom::CtiBearer,
            "/xuc/api/2.0/cti" => TenantFrom::CtiQuery,
            _ if has_roles => TenantFrom::ApiKey,
            _ => TenantFrom::Nothing,
        }
    }
}

/// The tenant a request is for, if it can be told; a request whose tenant cannot be told (no key, an unknown
/// key) is answered where it arrived, which refuses it as any node would.
async fn tenant_of(
    state: &AppState,
    from: TenantFrom,
    dialect: Dialect,
    request: Request,
) -> Result<(Option<String>, Request), Response> {
    let tenant = match from {
        TenantFrom::Nothing => None,
        TenantFrom::ApiKey => {
            let presented = if dialect.accepts_bearer() {
                crate::auth::presented_key_or_bearer(request.headers())
            } else {
                crate::auth::presented_key(request.headers())
            };
            match presented {
                Some(key) => crate::auth::key_tenant(state, key),
                None => None,
            }
        }
        TenantFrom::CtiBearer => request
            .headers()
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .and_then(|token| crate::xuc::credentials::token_tenant(token.trim())),
        TenantFrom::CtiQuery => request.uri().query().and_then(|query| {
            query
                .split('&')
                .filter_map(|pair| pair.split_once('='))
                .find(|(name, _)| *name == "token")
                .and_then(|(_, token)| crate::xuc::credentials::token_tenant(token))
        }),
        TenantFrom::CtiLogin => {
            let (parts, body) = request.into_parts();
            let max = state.config().limits.max_body_bytes;
            let bytes = match axum::body::to_bytes(body, max).await {
                Ok(bytes) => bytes,
                Err(_) => {
                    return Err(ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "PayloadTooLarge",
                        "The body is too large.",
                    )
                    .into_response())
                }
            };
            let login = serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| v.get("login").and_then(|l| l.as_str()).map(str::to_string));
            let request = Request::from_parts(parts, Body::from(bytes));
            let Some(login) = login else {
                return Ok((None, request));
            };
            let mut user = state.cti().user(&login);
            if user.is_none() {
                // Perhaps created through another node since this one read the credentials.
                let refresh = state.clone();
                let _ = tokio::task::spawn_blocking(move || refresh.cti().refresh(refresh.store()))
                    .await;
                user = state.cti().user(&login);
            }
            return Ok((user.map(|u| u.tenant), request));
        }
    };
    Ok((tenant, request))
}

/// Route layer (between admission and authentication): serves a request here when this node leads its tenant,
/// takes the tenant when it is free and preferred here, and otherwise passes the request to the node that leads
/// it.
pub async fn route_request(
    state: AppState,
    from: TenantFrom,
    dialect: Dialect,
    request: Request,
    next: Next,
) -> Response {
    let Some(cluster) = state.cluster().cloned() else {
        return next.run(request).await;
    };
    let forwarded = request.headers().contains_key(FORWARDED);
    let (tenant, request) = match tenant_of(&state, from, dialect, request).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let mut response = match tenant {
        None => next.run(request).await,
        Some(tenant) => match cluster.route(&tenant, forwarded) {
            Route::Local => next.run(request).await,
            Route::Acquire => {
                let acquire_state = state.clone();
                let acquire_cluster = cluster.clone();
                let name = tenant.clone();
                let taken = tokio::task::spawn_blocking(move || {
                    acquire_cluster.acquire(&acquire_state, &name)
                })
                .await
                .unwrap_or_else(|_| Err(moved(&tenant)));
                match taken {
                    Ok(()) => {
                        state.start_tenant_work();
                        next.run(request).await
                    }
                    Err(error) => dialect.error_response(error),
                }
            }
            Route::Forward(address) => forward(&state, &cluster, dialect, &address, request).await,
            Route::Unavailable(message) => dialect.error_response(unavailable(message)),
        },
    };
    if let Ok(node) = HeaderValue::from_str(&cluster.config.node) {
        response
            .headers_mut()
            .entry(HeaderName::from_static(ANSWERED_BY))
            .or_insert(node);
    }
    response
}

/// Headers that belong to one connection and are not passed on.
fn hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "transfer-encoding"
            | "te"
            | "trailer"
            | "upgrade"
            | "host"
            | "content-length"
    )
}

/// Passes a request to the node at `address` and streams its answer back.
async fn forward(
    state: &AppState,
    cluster: &Cluster,
    dialect: Dialect,
    address: &str,
    request: Request,
) -> Response {
    let is_websocket = request
        .headers()
        .get(axum::http::header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let path = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".to_string());
    if is_websocket {
        return relay_websocket(state, address, &path, request).await;
    }
    let (parts, body) = request.into_parts();
    let max = state.config().limits.max_body_bytes;
    let Ok(bytes) = axum::body::to_bytes(body, max).await else {
        return dialect.error_response(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PayloadTooLarge",
            "The body is too large.",
        ));
    };
    let mut outgoing = cluster
        .client
        .request(parts.method.clone(), format!("{address}{path}"))
        .body(bytes);
    for (name, value) in &parts.headers {
        if !hop_by_hop(name) {
            outgoing = outgoing.header(name, value);
        }
    }
    outgoing = outgoing.header(FORWARDED, cluster.config.node.as_str());
    let answer = match outgoing.send().await {
        Ok(answer) => answer,
        Err(error) => {
            tracing::warn!(address, error = %error, "could not reach the tenant's node");
            return dialect.error_response(unavailable(
                "The node leading this tenant cannot be reached; retry in a moment.".to_string(),
            ));
        }
    };
    let mut response = Response::builder().status(answer.status().as_u16());
    for (name, value) in answer.headers() {
        if !hop_by_hop(name) || name == axum::http::header::CONTENT_LENGTH {
            response = response.header(name, value);
        }
    }
    response
        .body(Body::from_stream(answer.bytes_stream()))
        .unwrap_or_else(|_| StatusCode::BAD_GATEWAY.into_response())
}

/// Relays a websocket to the node at `address`: the client's upgrade is accepted here, a socket opened there,
/// and messages pass both ways until either side closes (the close frame, with its reason, is passed on).
async fn relay_websocket(
    state: &AppState,
    address: &str,
    path: &str,
    request: Request,
) -> Response {
    use axum::extract::ws::{CloseFrame, Message, WebSocketUpgrade};
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
    use tokio_tungstenite::tungstenite::protocol::CloseFrame as UpstreamClose;
    use tokio_tungstenite::tungstenite::Message as Upstream;

    let (mut parts, _) = request.into_parts();
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, state).await {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    let url = format!(
        "{}{path}",
        address
            .replacen("https://", "wss://", 1)
            .replacen("http://", "ws://", 1)
    );
    let max = state.config().cti.max_message_bytes;
    upgrade
        .max_message_size(max)
        .on_upgrade(move |client| async move {
            let (mut to_client, mut from_client) = client.split();
            let upstream = match tokio_tungstenite::connect_async(url.as_str()).await {
                Ok((upstream, _)) => upstream,
                Err(error) => {
                    tracing::warn!(url, error = %error, "could not relay a websocket to the tenant's node");
                    let _ = to_client
                        .send(Message::Close(Some(CloseFrame {
                            code: 1013,
                            reason: "the tenant's node cannot be reached; reconnect".into(),
                        })))
                        .await;
                    return;
                }
            };
            let (mut to_upstream, mut from_upstream) = upstream.split();
            let down = async {
                while let Some(Ok(message)) = from_upstream.next().await {
                    let relayed = match message {
                        Upstream::Text(text) => Message::Text(text.as_str().into()),
                        Upstream::Binary(bytes) => Message::Binary(bytes),
                        Upstream::Ping(bytes) => Message::Ping(bytes),
                        Upstream::Pong(bytes) => Message::Pong(bytes),
                        Upstream::Close(frame) => {
                            let _ = to_client
                                .send(Message::Close(frame.map(|f| CloseFrame {
                                    code: f.code.into(),
                                    reason: f.reason.as_str().into(),
                                })))
                                .await;
                            return;
                        }
                        Upstream::Frame(_) => continue,
                    };
                    if to_client.send(relayed).await.is_err() {
                        return;
                    }
                }
                // The node went away without a close frame.
                let _ = to_client
                    .send(Message::Close(Some(CloseFrame {
                        code: 1012,
                        reason: "the tenant's node went away; reconnect".into(),
                    })))
                    .await;
            };
            let up = async {
                while let Some(Ok(message)) = from_client.next().await {
                    let relayed = match message {
                        Message::Text(text) => Upstream::Text(text.as_str().into()),
                        Message::Binary(bytes) => Upstream::Binary(bytes),
                        Message::Ping(bytes) => Upstream::Ping(bytes),
                        Message::Pong(bytes) => Upstream::Pong(bytes),
                        Message::Close(frame) => {
                            let _ = to_upstream
                                .send(Upstream::Close(frame.map(|f| UpstreamClose {
                                    code: CloseCode::from(f.code),
                                    reason: f.reason.as_str().into(),
                                })))
                                .await;
                            return;
                        }
                    };
                    if to_upstream.send(relayed).await.is_err() {
                        return;
                    }
                }
                let _ = to_upstream.close().await;
            };
            // Either direction ending ends the relay (the other side was told).
            tokio::select! {
                _ = down => {}
                _ = up => {}
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preference_is_stable_and_moves_only_a_leaving_nodes_share() {
        let three = ["a", "b", "c"];
        let tenants: Vec<String> = (0..300).map(|n| format!("tenant-{n}")).collect();
        let mut counts = HashMap::new();
        for tenant in &tenants {
            let best = preferred(tenant, three).expect("a node");
            *counts.entry(best).or_insert(0) += 1;
            // Same answer in any order.
            assert_eq!(preferred(tenant, ["c", "a", "b"]), Some(best));
            // Without a node that did not win it, the winner stays.
            let without: Vec<&str> = three.iter().copied().filter(|n| *n != best).collect();
            for gone in without {
                let rest: Vec<&str> = three.iter().copied().filter(|n| *n != gone).collect();
                assert_eq!(preferred(tenant, rest), Some(best));
            }
        }
        // Spread: each of three nodes gets a fair share of 300 tenants.
        for node in three {
            let n = counts.get(node).copied().unwrap_or(0);
            assert!((70..=130).contains(&n), "{node} got {n} of 300: {counts:?}");
        }
        assert_eq!(preferred("x", Vec::<&str>::new()), None);
    }
}
