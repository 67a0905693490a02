//! API keys and roles. A key is a random secret shown once; only its SHA-256 is stored. Every request names its
//! key in the `api_key` header (Puzzel requests may send it as `Authorization: Bearer` instead); the key's tenant
//! scopes everything it sees, and its roles decide which endpoints it may call (seed 002).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use sha2::{Digest, Sha256};
use switchboard_core::Time;
use switchboard_store::KeyRecord;

use crate::error::ApiError;
use crate::limits::Limit;
use crate::openapi::Dialect;
use crate::AppState;

/// The API roles of seed 002, plus `Configuration` for switchboard's own configuration endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Read organization units.
    OuReadonly,
    /// Read services.
    ServiceReadonly,
    /// Read tasks.
    TasksReadonly,
    /// Create and change tasks and callbacks.
    TasksManage,
    /// Read users.
    UserReadonly,
    /// Create, change and delete users.
    UserProvision,
    /// Presence, block, absence, profiles of users.
    UserControl,
    /// switchboard extension: services, organization units, profiles, absence reasons.
    Configuration,
}

impl Role {
    /// Every role; an admin key holds them all.
    pub const ALL: [Role; 8] = [
        Role::OuReadonly,
        Role::ServiceReadonly,
        Role::TasksReadonly,
        Role::TasksManage,
        Role::UserReadonly,
        Role::UserProvision,
        Role::UserControl,
        Role::Configuration,
    ];

    /// The name stored and accepted on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Role::OuReadonly => "OuReadonly",
            Role::ServiceReadonly => "ServiceReadonly",
            Role::TasksReadonly => "TasksReadonly",
            Role::TasksManage => "TasksManage",
            Role::UserReadonly => "UserReadonly",
            Role::UserProvision => "UserProvision",
            Role::UserControl => "UserControl",
            Role::Configuration => "Configuration",
        }
    }

    /// Parses a role name, ignoring case, spaces and the seed's spelling variants (`OU Readonly`).
    pub fn parse(name: &str) -> Option<Role> {
        let wanted: String = name.chars().filter(|c| !c.is_whitespace()).collect();
        if wanted.eq_ignore_ascii_case("admin") {
            return None;
        }
        Role::ALL
            .into_iter()
            .find(|role| role.name().eq_ignore_ascii_case(&wanted))
    }

    /// Parses a comma-separated list; `admin` stands for every role.
    pub fn parse_list(list: &str) -> Result<Vec<Role>, String> {
        let mut roles = Vec::new();
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            if name.eq_ignore_ascii_case("admin") {
                roles.extend(Role::ALL);
                continue;
            }
            roles.push(Role::parse(name).ok_or_else(|| {
                format!(
                    "unknown role '{name}' (roles: admin, {})",
                    Role::ALL.map(Role::name).join(", ")
                )
            })?);
        }
        roles.sort();
        roles.dedup();
        if roles.is_empty() {
            return Err("a key needs at least one role".into());
        }
        Ok(roles)
    }
}

/// SHA-256 of a key, hex. Keys are long random secrets, so a fast hash is enough: there is nothing to guess.
pub fn hash_key(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// A new random key: `sb_` and 64 hex digits from two v4 UUIDs (244 random bits).
pub fn generate_key() -> String {
    format!(
        "sb_{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// Who is calling: the key's tenant and roles.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The tenant the key belongs to.
    pub tenant: String,
    /// The key's id.
    pub key_id: String,
    /// Roles granted.
    pub roles: Vec<Role>,
}

impl Caller {
    /// Succeeds when the key holds at least one of the roles; else the documented 401.
    pub fn require(&self, any_of: &[Role]) -> Result<(), ApiError> {
        if any_of.iter().any(|role| self.roles.contains(role)) {
            Ok(())
        } else {
            Err(ApiError::unauthorized(format!(
                "The API key lacks the role for this endpoint (one of: {}).",
                any_of
                    .iter()
                    .map(|r| r.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            )))
        }
    }
}

/// Keys found recently, so most requests do not touch the database. An entry lives one second: a key revoked
/// from another process (`switchboard keys revoke`) stops working within that second.
#[derive(Default)]
pub struct KeyCache {
    entries: Mutex<HashMap<String, (Option<KeyRecord>, Instant)>>,
}

const KEY_CACHE_TTL: Duration = Duration::from_secs(1);
const KEY_CACHE_MAX: usize = 10_000;

impl KeyCache {
    /// Drops every cached entry (after a key changed in this process).
    pub fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    fn lookup(&self, state: &AppState, key_hash: &str) -> Result<Option<KeyRecord>, ApiError> {
        if let Some((record, at)) = self
            .entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key_hash)
        {
            if at.elapsed() < KEY_CACHE_TTL {
                return Ok(record.clone());
            }
        }
        let record = state.store().find_key(key_hash)?;
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= KEY_CACHE_MAX {
            entries.clear();
        }
        entries.insert(key_hash.to_string(), (record.clone(), Instant::now()));
        Ok(record)
    }
}

/// Checks a presented key: known, not revoked, not expired.
pub fn authenticate(
    state: &AppState,
    presented: Option<&str>,
    now: Time,
) -> Result<Caller, ApiError> {
    let Some(key) = presented else {
        return Err(ApiError::unauthorized("Header 'api_key' not found."));
    };
    let record = state
        .keys()
        .lookup(state, &hash_key(key))?
        .ok_or_else(|| ApiError::unauthorized("The API key is not valid."))?;
    if record.revoked_at.is_some() {
        return Err(ApiError::unauthorized("The API key has been revoked."));
    }
    if record.expires_at.is_some_and(|at| at <= now.as_micros()) {
        return Err(ApiError::unauthorized("The API key has expired."));
    }
    let rate = record.rate_limit.as_deref().and_then(Limit::parse);
    let burst = record.burst_limit.as_deref().and_then(Limit::parse);
    if let Err(seconds) = state.limiter().check(&record.id, rate, burst, now) {
        return Err(ApiError::too_many(
            "TooManyRequests",
            "Too many requests",
            seconds,
        ));
    }
    Ok(Caller {
        tenant: record.tenant,
        key_id: record.id,
        roles: record.roles.iter().filter_map(|r| Role::parse(r)).collect(),
    })
}

/// The tenant of a presented key that works (known, not revoked, not expired), without counting a request
/// against its limits: a node uses it to find where a request belongs before the node that leads the tenant
/// authenticates it.
pub(crate) fn key_tenant(state: &AppState, key: &str) -> Option<String> {
    let record = state.keys().lookup(state, &hash_key(key)).ok()??;
    let now = state.now().as_micros();
    (record.revoked_at.is_none() && record.expires_at.is_none_or(|at| at > now))
        .then_some(record.tenant)
}

/// Whether the key with this hash still works (known, not revoked, not expired), without counting a request
/// against its limits: long-lived sessions opened with a key check it now and then.
pub(crate) fn key_still_valid(state: &AppState, key_hash: &str, now: Time) -> bool {
    match state.keys().lookup(state, key_hash) {
        Ok(Some(record)) => {
            record.revoked_at.is_none() && record.expires_at.is_none_or(|at| at > now.as_micros())
        }
        Ok(None) => false,
        // The store could not say: keep the session rather than cut every wallboard on a hiccup.
        Err(_) => true,
    }
}

pub(crate) fn presented_key(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get("api_key")
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
}

/// The key of a request in a dialect that also takes it as `Authorization: Bearer <key>` (Puzzel); the
/// `api_key` header wins when both are sent.
pub(crate) fn presented_key_or_bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    presented_key(headers).or_else(|| {
        let value = headers
            .get(axum::http::header::AUTHORIZATION)?
            .to_str()
            .ok()?
            .trim();
        let (scheme, token) = value.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim())
            .filter(|token| !token.is_empty())
    })
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Caller, ApiError> {
        // The route layer has usually authenticated the request already; do not count it twice.
        if let Some(caller) = parts.extensions.get::<Caller>() {
            return Ok(caller.clone());
        }
        authenticate(state, presented_key(&parts.headers), state.now())
    }
}

/// Route layer: authenticates the request and checks the endpoint's declared roles before the handler (and so
/// before any body is read). The declared roles are the documented ones, so documentation and enforcement
/// cannot drift apart. A dialect that names the tenant in the path (Puzzel's `customerKey`) must name the key's
/// own tenant. Refusals are answered in the endpoint's dialect.
pub async fn require_roles(
    state: AppState,
    roles: std::sync::Arc<Vec<Role>>,
    dialect: Dialect,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if roles.is_empty() {
        return next.run(request).await;
    }
    let bearer = dialect.accepts_bearer();
    let presented = if bearer {
        presented_key_or_bearer(request.headers())
    } else {
        presented_key(request.headers())
    };
    let caller = if presented.is_none() && bearer {
        Err(ApiError::unauthorized(
            "No API key: send it as 'Authorization: Bearer <key>' or in the 'api_key' header.",
        ))
    } else {
        authenticate(&state, presented, state.now())
    };
    let caller = match caller {
        Ok(caller) => caller,
        Err(error) => return dialect.error_response(error),
    };
    if let Err(error) = caller.require(&roles) {
        return dialect.error_response(error);
    }
    if let Some(parameter) = dialect.tenant_parameter() {
        let (mut parts, body) = request.into_parts();
        let named =
            axum::extract::Path::<HashMap<String, String>>::from_request_parts(&mut parts, &state)
                .await
                .ok()
                .and_then(|axum::extract::Path(params)| params.get(parameter).cloned());
        if named.as_deref() != Some(caller.tenant.as_str()) {
            return dialect.error_response(ApiError::unauthorized(format!(
                "The API key does not belong to customer '{}'.",
                named.unwrap_or_default()
            )));
        }
        request = axum::extract::Request::from_parts(parts, body);
    }
    // One of the key's open requests; an event stream keeps it (from the extensions) for its whole life.
    let max_open = state.config().limits.max_open_per_key;
    let Some(slot) = state.limiter().open_slot(&caller.key_id, max_open) else {
        return dialect.error_response(ApiError::too_many(
            "TooManyOpenRequests",
            format!("The API key already has {max_open} requests or event streams open; wait for one to end."),
            1,
        ));
    };
    request.extensions_mut().insert(slot);
    request.extensions_mut().insert(caller);
    next.run(request).await
}
