//! The xuc (XiVO CC) dialect: agent and supervisor CTI over a websocket (seed 004, PROTOCOLS.md section 3).
//!
//! `POST /xuc/api/2.0/auth/login` trades a login and password for a token; `GET /xuc/api/2.0/auth/check` checks
//! one; `GET /xuc/api/2.0/cti?token=..` upgrades to the websocket, where `session` runs the conversation. CTI
//! credentials are provisioned over `/v2.0/users/{user}/cti` (an extension) and kept by `credentials`.

pub mod callbacks;
pub mod credentials;
mod messages;
pub mod request;
mod session;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Json;
use serde::{Deserialize, Serialize};
use switchboard_core::{AgentId, Command};

use crate::auth::{Caller, Role};
use crate::error::ApiError;
use crate::lucs::{find_service, find_user, Body};
use crate::openapi::{schema_of, Answer, Endpoint};
use crate::AppState;
use credentials::{hash_password, AuthFailure, CtiProfile, CtiUser};

/// The queue counters of every queue of a tenant, computed once for all its sessions: recomputed when the engine
/// changed and the last computation is older than `COUNTERS_FRESH` (or when a session needs them exact, before a
/// Pong), so a hundred supervisors cost what one does.
pub struct QueueCounters {
    seq: u64,
    at: std::time::Instant,
    queues: std::sync::Arc<
        HashMap<switchboard_core::ServiceId, Vec<(&'static str, serde_json::Value)>>,
    >,
}

const COUNTERS_FRESH: Duration = Duration::from_millis(100);

/// The tenant's queue counters (see `QueueCounters`).
pub(crate) fn queue_counters(
    tenant: &crate::TenantHandle,
    engine: &switchboard_core::Engine,
    now: switchboard_core::Time,
    exact: bool,
) -> std::sync::Arc<HashMap<switchboard_core::ServiceId, Vec<(&'static str, serde_json::Value)>>> {
    let mut cache = tenant
        .cti_counters
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let seq = engine.last_event_seq();
    if let Some(cached) = cache.as_ref() {
        if cached.seq == seq || (!exact && cached.at.elapsed() < COUNTERS_FRESH) {
            return cached.queues.clone();
        }
    }
    let queues = std::sync::Arc::new(session::all_queue_counters(tenant, engine, now));
    *cache = Some(QueueCounters {
        seq,
        at: std::time::Instant::now(),
        queues: queues.clone(),
    });
    queues
}

/// CTI settings.
#[derive(Clone, Debug)]
pub struct CtiConfig {
    /// How long a socket may stay silent before the server drops it (xuc clients ping every 5 s and give up
    /// after three silent periods).
    pub silence_timeout: Duration,
    /// How long an agent whose last socket went away stays logged in waiting for a reconnect, before it is
    /// logged out and an offer it held returns to the queue.
    pub logout_grace: Duration,
    /// How long a login token is valid.
    pub token_ttl: Duration,
    /// Outgoing messages queued per socket; a client that lets more pile up is disconnected.
    pub socket_buffer: usize,
    /// Largest message a client may send.
    pub max_message_bytes: usize,
    /// Sockets one user may have open at once (a desktop and a softphone, a reconnect overlapping the old
    /// socket); one more is refused with `LoggedOnError` "TooManySessions".
    pub max_sessions_per_user: u32,
    /// How often a watching session (opened with an API key) checks that the key still works.
    pub watch_key_check: Duration,
    /// How long a session the server ends may take to hand its client what was queued and the close frame
    /// saying why; a client that reads nothing meanwhile loses the connection without that frame.
    pub close_grace: Duration,
}

impl Default for CtiConfig {
    fn default() -> Self {
        CtiConfig {
            silence_timeout: Duration::from_secs(15),
            logout_grace: Duration::from_secs(15),
            token_ttl: Duration::from_secs(12 * 3600),
            socket_buffer: 1024,
            max_message_bytes: 64 * 1024,
            max_sessions_per_user: 8,
            watch_key_check: Duration::from_secs(1),
            close_grace: Duration::from_secs(5),
        }
    }
}

/// Open CTI sockets per agent, so that an agent is logged out only when its last socket is gone for good.
#[derive(Default)]
pub struct Sessions {
    open: Mutex<HashMap<(String, AgentId), SessionCount>>,
}

#[derive(Default, Clone, Copy)]
struct SessionCount {
    open: u32,
    /// Bumped by every connect: a lease that expires after a reconnect does nothing.
    generation: u64,
}

impl Sessions {
    /// Records a new socket of the agent; false (and nothing recorded) when it already has `max` open.
    fn connect(&self, tenant: &str, agent: AgentId, max: u32) -> bool {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry((tenant.to_string(), agent)).or_default();
        if count.open >= max {
            return false;
        }
        count.open += 1;
        count.generation += 1;
        true
    }

    /// Records a closed socket; returns the generation to check when the grace period ends.
    fn disconnect(&self, tenant: &str, agent: AgentId) -> u64 {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry((tenant.to_string(), agent)).or_default();
        count.open = count.open.saturating_sub(1);
        count.generation
    }

    /// True when no socket of the agent opened since `generation` and none is open.
    fn still_gone(&self, tenant: &str, agent: AgentId, generation: u64) -> bool {
        let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.get(&(tenant.to_string(), agent))
            .is_none_or(|count| count.open == 0 && count.generation == generation)
    }
}

/// The xuc endpoints, and the CTI credential provisioning extension.
pub fn endpoints() -> Vec<Endpoint> {
    use axum::http::Method;
    vec![
        Endpoint::new(
            Method::POST,
            "/xuc/api/2.0/auth/login",
            "CTI (xuc)",
            "Sign in with a CTI login and password; answers a token for the websocket",
            &[],
            Answer::Json(schema_of::<LoginAnswer>),
            post(login),
        )
        .body(schema_of::<LoginBody>)
        .refusal(400, "The body is not {\"login\", \"password\"} (InvalidRequest)", schema_of::<XucError>)
        .refusal(401, "Unknown login or wrong password (InvalidCredentials)", schema_of::<XucError>)
        .refusal(413, "The body is larger than the limit, 1 MiB (InvalidRequest)", schema_of::<XucError>),
        Endpoint::new(
            Method::GET,
            "/xuc/api/2.0/auth/check",
            "CTI (xuc)",
            "Check a token (Authorization: Bearer TOKEN)",
            &[],
            Answer::Json(schema_of::<LoginAnswer>),
            get(check),
        )
        .refusal(401, "No token, or a token that is not valid (InvalidToken) or expired (TokenExpired)",
            schema_of::<XucError>),
        Endpoint::new(
            Method::GET,
            "/xuc/api/2.0/cti",
            "CTI (xuc)",
            "The CTI websocket (upgrade); the protocol is described in docs/cti.md",
            &[],
            Answer::Text("text/plain"),
            get(websocket),
        )
        .query("token", "a token from /xuc/api/2.0/auth/login"),
        Endpoint::new(
            Method::POST,
            "/v2.0/cti/watchtoken",
            "CTI (xuc)",
            "Trade the API key for a CTI token of a read-only session that watches every queue and agent of the \
             key's tenant (wallboards without a CTI login); the session ends when the key is revoked or expires",
            &[Role::UserReadonly, Role::UserProvision, Role::UserControl],
            Answer::Json(schema_of::<LoginAnswer>),
            post(watch_token),
        )
        .extension(),
        Endpoint::new(
            Method::GET,
            "/v2.0/callbackperiods",
            "Configuration",
            "The preferred periods of callbacks (xuc callback lists): name, window of the day (UTC), default",
            &[Role::ServiceReadonly, Role::Configuration],
            Answer::Json(schema_of::<Vec<callbacks::CallbackPeriodDto>>),
            get(callbacks::list_periods),
        )
        .extension(),
        Endpoint::new(
            Method::POST,
            "/v2.0/callbackperiods",
            "Configuration",
            "Create a preferred callback period, or change the one with the same Name",
            &[Role::Configuration],
            Answer::Json(schema_of::<callbacks::CallbackPeriodDto>),
            post(callbacks::upsert_period),
        )
        .body(schema_of::<callbacks::CallbackPeriodDto>)
        .extension(),
        Endpoint::new(
            Method::DELETE,
            "/v2.0/callbackperiods/{period}",
            "Configuration",
            "Remove a preferred callback period (by Name)",
            &[Role::Configuration],
            Answer::Empty,
            axum::routing::delete(callbacks::delete_period),
        )
        .extension(),
        Endpoint::new(
            Method::GET,
            "/v2.0/users/{user}/cti",
            "CTI (xuc)",
            "The user's CTI login, profile and supervision lists (never the password)",
            &[Role::UserReadonly, Role::UserProvision],
            Answer::Json(schema_of::<CtiUserDto>),
            get(get_credentials),
        )
        .extension(),
        Endpoint::new(
            Method::POST,
            "/v2.0/users/{user}/cti",
            "CTI (xuc)",
            "Set the user's CTI login and password, profile (Agent, Supervisor, Admin), supervised queues and \
             agent groups, and phone line; revokes its tokens",
            &[Role::UserProvision],
            Answer::Json(schema_of::<CtiUserDto>),
            post(set_credentials),
        )
        .body(schema_of::<CtiUserBody>)
        .extension(),
        Endpoint::new(
            Method::DELETE,
            "/v2.0/users/{user}/cti",
            "CTI (xuc)",
            "Remove the user's CTI login; its tokens stop working",
            &[Role::UserProvision],
            Answer::Empty,
            axum::routing::delete(delete_credentials),
        )
        .extension(),
    ]
}

#[derive(Deserialize, schemars::JsonSchema)]
struct LoginBody {
    login: String,
    password: String,
}

/// `{"error":..,"message":..}`: how the xuc endpoints refuse.
#[derive(Serialize, schemars::JsonSchema)]
struct XucError {
    /// InvalidRequest, InvalidCredentials, TokenExpired or InvalidToken.
    error: String,
    /// What went wrong, for people.
    message: String,
}

/// `{"login":..,"token":..}`.
#[derive(Serialize, schemars::JsonSchema)]
struct LoginAnswer {
    login: String,
    token: String,
}

fn auth_error(failure: AuthFailure) -> Response {
    let message = match failure {
        AuthFailure::InvalidCredentials => "unknown login or wrong password",
        AuthFailure::TokenExpired => "the token expired; sign in again",
        AuthFailure::InvalidToken => "the token is not valid",
    };
    (
        StatusCode::UNAUTHORIZED,
        Json(serde_json::json!({"error": failure.code(), "message": message})),
    )
        .into_response()
}

async fn login(
    State(state): State<AppState>,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            return (
                rejection.status(),
                Json(serde_json::json!({"error": "InvalidRequest",
                    "message": format!("the body could not be read: {}", rejection.body_text())})),
            )
                .into_response()
        }
    };
    let Ok(body) = serde_json::from_slice::<LoginBody>(&body) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(serde_json::json!({"error": "InvalidRequest",
                "message": "the body must be {\"login\": .., \"password\": ..}"})),
        )
            .into_response();
    };
    // argon2 takes tens of milliseconds on purpose: off the async threads.
    let ttl = state.config().cti.token_ttl;
    let verifier = state.clone();
    let signed = tokio::task::spawn_blocking(move || {
        verifier.cti().sign_in(&body.login, &body.password, ttl)
    })
    .await;
    match signed {
        Ok(Ok((user, token))) => Json(LoginAnswer {
            login: user.login,
            token,
        })
        .into_response(),
        Ok(Err(failure)) => auth_error(failure),
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

async fn watch_token(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let key = crate::auth::presented_key(&headers)
        .ok_or_else(|| ApiError::unauthorized("Header 'api_key' not found."))?;
    let login = format!("api key {}", caller.key_id);
    let token = state.cti().watch(
        &caller.tenant,
        &caller.key_id,
        &crate::auth::hash_key(key),
        state.config().cti.token_ttl,
    );
    Ok(Json(LoginAnswer { login, token }).into_response())
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

async fn check(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(token) = bearer(&headers) else {
        return auth_error(AuthFailure::InvalidToken);
    };
    match state.cti().check(token) {
        Ok((user, _)) => Json(LoginAnswer {
            login: user.login,
            token: token.to_string(),
        })
        .into_response(),
        Err(failure) => auth_error(failure),
    }
}

#[derive(Deserialize)]
struct SocketQuery {
    token: Option<String>,
}

async fn websocket(
    State(state): State<AppState>,
    Query(query): Query<SocketQuery>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let token = query.token.unwrap_or_default();
    let checked = state.cti().check(&token);
    let max = state.config().cti.max_message_bytes;
    upgrade
        .max_message_size(max)
        .max_frame_size(max)
        // tungstenite zero-fills its whole read buffer (128 KiB by default) before every read: with thousands of
        // sockets reading small commands that was a sixth of the server's time. Commands are small; a larger
        // one is read in several steps.
        .read_buffer_size(4096)
        .on_upgrade(move |socket| async move {
            match checked {
                Ok((user, grant)) => session::run(socket, state, token, user, grant).await,
                Err(_) => {
                    session::refuse(socket, "loggedOnFailed", "invalid or expired token").await
                }
            }
        })
}

/// The user's CTI settings as the provisioning API shows them.
#[derive(Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase")]
struct CtiUserDto {
    login: String,
    /// `Agent` (itself only), `Supervisor` (its queues and groups) or `Admin` (everything).
    profile: CtiProfile,
    /// Supervised services (ids).
    queues: Vec<String>,
    /// Supervised agent groups.
    groups: Vec<u32>,
    /// The user's phone line, the number it logs in on.
    phone_line: Option<String>,
    /// The agent group the user belongs to (what supervisors' group lists name).
    agent_group: u32,
}

/// The body of `POST /v2.0/users/{user}/cti`.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct CtiUserBody {
    login: String,
    /// At least 8 characters.
    password: String,
    /// `Agent` (default), `Supervisor` or `Admin`.
    profile: Option<String>,
    /// Services a supervisor watches (ids or SIP URIs).
    #[serde(default)]
    queues: Vec<String>,
    /// Agent groups a supervisor watches.
    #[serde(default)]
    groups: Vec<u32>,
    /// The user's phone line (the number `agentLogin` names); unchanged when absent.
    phone_line: Option<String>,
    /// The agent group the user belongs to; unchanged when absent.
    agent_group: Option<u32>,
}

fn dto_of(user: &CtiUser, spec: Option<&switchboard_core::AgentSpec>) -> CtiUserDto {
    CtiUserDto {
        login: user.login.clone(),
        profile: user.profile,
        queues: user.queues.iter().map(|q| q.to_string()).collect(),
        groups: user.groups.clone(),
        phone_line: spec.and_then(|s| s.phone_line.clone()),
        agent_group: spec.map(|s| s.group).unwrap_or_default(),
    }
}

async fn get_credentials(
    State(state): State<AppState>,
    caller: Caller,
    Path(identifier): Path<String>,
) -> Result<Response, ApiError> {
    let tenant = state.tenant(&caller.tenant).await?;
    let (agent, spec) = state.read(&tenant, |engine| -> Result<_, ApiError> {
        let agent = find_user(engine, &identifier)?;
        Ok((agent, engine.agent_info(agent).map(|a| a.spec)))
    })?;
    let user = state.cti().user_of(&caller.tenant, agent).ok_or_else(|| {
        ApiError::not_found(
            "CtiLoginNotFound",
            format!("User '{identifier}' has no CTI login."),
        )
    })?;
    Ok(Json(dto_of(&user, spec.as_ref())).into_response())
}

async fn set_credentials(
    State(state): State<AppState>,
    caller: Caller,
    Path(identifier): Path<String>,
    Body(body): Body<CtiUserBody>,
) -> Result<Response, ApiError> {
    let login = body.login.trim().to_string();
    if login.is_empty() || login.len() > 100 || login.chars().any(char::is_whitespace) {
        return Err(ApiError::invalid(
            "Login must be 1 to 100 characters without spaces",
        ));
    }
    if body.password.chars().count() < 8 || body.password.len() > 1024 {
        return Err(ApiError::invalid("Password must be 8 to 1024 characters"));
    }
    let profile = match body.profile.as_deref() {
        None => CtiProfile::Agent,
        Some(name) => CtiProfile::parse(name).ok_or_else(|| {
            ApiError::invalid(format!(
                "Profile '{name}' is not one of Agent, Supervisor, Admin"
            ))
        })?,
    };
    if let Some(line) = &body.phone_line {
        if line.trim().is_empty() || line.len() > 64 {
            return Err(ApiError::invalid("PhoneLine must be 1 to 64 characters"));
        }
    }
    let tenant = state.tenant(&caller.tenant).await?;
    let (agent, queues, spec) = state.read(&tenant, |engine| -> Result<_, ApiError> {
        let agent = find_user(engine, &identifier)?;
        let queues = body
            .queues
            .iter()
            .map(|q| find_service(engine, q))
            .collect::<Result<Vec<_>, _>>()?;
        let spec = engine.agent_info(agent).map(|a| a.spec);
        Ok((agent, queues, spec))
    })?;
    // The line and the group belong to the engine (logins are checked against the line); set them first, so
    // that a refused change stores no credentials.
    let mut spec = spec;
    if let Some(current) = &spec {
        let mut changed = current.clone();
        if let Some(line) = &body.phone_line {
            changed.phone_line = Some(line.trim().to_string());
        }
        if let Some(group) = body.agent_group {
            changed.group = group;
        }
        if &changed != current {
            state
                .command(&tenant, Command::UpsertAgent(changed.clone()))
                .await?;
            spec = Some(changed);
        }
    }
    let user = CtiUser {
        login,
        tenant: caller.tenant.clone(),
        agent,
        password_hash: String::new(),
        profile,
        queues,
        groups: body.groups,
    };
    let saver = state.clone();
    let password = body.password;
    let stored = tokio::task::spawn_blocking(move || {
        let mut user = user;
        user.password_hash = hash_password(&password);
        saver.cti().put(saver.store(), user.clone()).map(|()| user)
    })
    .await
    .map_err(|_| ApiError::unavailable(&switchboard_store::StoreError::Closed))?;
    let user = match stored {
        Ok(user) => user,
        Err(switchboard_store::StoreError::Conflict(message)) => {
            return Err(ApiError::new(StatusCode::CONFLICT, "LoginInUse", message))
        }
        Err(error) => return Err(ApiError::unavailable(&error)),
    };
    Ok(Json(dto_of(&user, spec.as_ref())).into_response())
}

async fn delete_credentials(
    State(state): State<AppState>,
    caller: Caller,
    Path(identifier): Path<String>,
) -> Result<Response, ApiError> {
    let tenant = state.tenant(&caller.tenant).await?;
    let agent = state.read(&tenant, |engine| find_user(engine, &identifier))?;
    let remover = state.clone();
    let tenant_name = caller.tenant.clone();
    let removed = tokio::task::spawn_blocking(move || {
        remover.cti().remove(remover.store(), &tenant_name, agent)
    })
    .await
    .map_err(|_| ApiError::unavailable(&switchboard_store::StoreError::Closed))?
    .map_err(|e| ApiError::unavailable(&e))?;
    if !removed {
        return Err(ApiError::not_found(
            "CtiLoginNotFound",
            format!("User '{identifier}' has no CTI login."),
        ));
    }
    Ok(StatusCode::OK.into_response())
}
