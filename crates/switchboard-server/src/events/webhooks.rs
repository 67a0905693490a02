//! Webhook subscriptions: a URL, an event filter and a secret, managed at `/v2.0/webhooks` and in the
//! configuration file's `Webhooks`. Definitions and delivery positions live in the store's configuration
//! entries (kinds `webhook` and `webhook_state`), since routing never reads them; `delivery` sends the events.
//!
//! A subscription receives only the categories its creator's key could read (fixed at creation: `Categories`).
//! Targets must be `http` or `https` URLs without credentials; nothing is stored when any part is refused.

use std::collections::BTreeSet;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::dto::{rfc3339, Category};
use super::{granted, oldest_kept, parse_types, resolve_agents, resolve_services, EventFilter};
use crate::auth::{Caller, Role};
use crate::error::ApiError;
use crate::lucs::Body;
use crate::{AppState, TenantHandle};

/// Entry kind of a subscription's definition.
pub(crate) const KIND: &str = "webhook";
/// Entry kind of a subscription's delivery state (position, failures, pause).
pub(crate) const STATE_KIND: &str = "webhook_state";

const MAX_URL: usize = 2_048;
const MIN_SECRET: usize = 16;
const MAX_SECRET: usize = 256;
const MAX_ID: usize = 64;
const MAX_DESCRIPTION: usize = 500;

/// A subscription as created or changed (`POST`, `PUT /v2.0/webhooks/{webhook}`, the configuration file).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct WebhookRequest {
    /// Its id: letters, digits, `.`, `_`, `-`, at most 64; generated when left out of a `POST`. Required in the
    /// configuration file; a `PUT` takes it from the path.
    #[serde(default)]
    pub id: Option<String>,
    /// Where events are posted: `http` or `https`, no user name or password in it.
    pub url: String,
    /// The HMAC-SHA256 key of the `Switchboard-Signature` header, 16 to 256 characters; generated (and answered
    /// once) when left out of a `POST`. Required in the configuration file.
    #[serde(default)]
    pub secret: Option<String>,
    /// Event types (`TaskOffered`...) or categories (`Tasks`, `Agents`, `Configuration`); empty for all the key
    /// may read.
    #[serde(default)]
    pub types: Vec<String>,
    /// Only events about these services (id or SIP URI) and their tasks; empty for any.
    #[serde(default)]
    pub services: Vec<String>,
    /// Only events about these users (id, SIP URI, UPN or e-mail); empty for any.
    #[serde(default)]
    pub agents: Vec<String>,
    /// The first sequence number to deliver; left out: the next event (a `PUT` keeps the position).
    #[serde(default)]
    #[schemars(range(min = 1, max = 9223372036854775807_u64))]
    pub from: Option<u64>,
    /// A note for people.
    #[serde(default)]
    pub description: Option<String>,
}

/// `POST /v2.0/webhooks/{webhook}/replay`.
#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ReplayRequest {
    /// The first sequence number to deliver again.
    #[schemars(range(min = 1, max = 9223372036854775807_u64))]
    pub from: u64,
}

/// A subscription as stored.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct WebhookRecord {
    /// Its id.
    pub id: String,
    /// The target.
    pub url: String,
    /// The signing key.
    pub secret: String,
    /// Type names (canonical); empty for all of `categories`.
    pub types: Vec<String>,
    /// Service ids.
    pub services: Vec<String>,
    /// Agent ids.
    pub agents: Vec<String>,
    /// The categories it may receive (its creator's).
    pub categories: Vec<String>,
    /// A note.
    pub description: Option<String>,
    /// Creation time, microseconds.
    pub created: i64,
}

impl WebhookRecord {
    /// The filter its deliveries pass through.
    pub fn filter(&self) -> EventFilter {
        let granted: BTreeSet<Category> = self
            .categories
            .iter()
            .filter_map(|c| Category::parse(c))
            .collect();
        EventFilter {
            types: self
                .types
                .iter()
                .filter_map(|t| super::dto::type_category(t).map(|(name, _)| name))
                .collect(),
            services: self
                .services
                .iter()
                .filter_map(|s| s.parse().ok().map(switchboard_core::ServiceId))
                .collect(),
            agents: self
                .agents
                .iter()
                .filter_map(|s| s.parse().ok().map(switchboard_core::AgentId))
                .collect(),
            granted,
        }
    }
}

/// Where delivery of a subscription stands; stored, and updated by its delivery task.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeliveryState {
    /// Every event up to this sequence was delivered and acknowledged (or filtered out).
    pub acknowledged: u64,
    /// Paused: nothing is delivered until it is resumed or replayed.
    pub paused: bool,
    /// Why it was paused.
    pub paused_reason: Option<String>,
    /// Since when deliveries fail (server clock, microseconds); `None` while they succeed.
    pub failing_since: Option<i64>,
    /// Failed attempts in a row.
    pub failures: u32,
    /// What the last failed attempt got.
    pub last_error: Option<String>,
    /// The last attempt, microseconds.
    pub last_attempt: Option<i64>,
    /// The last acknowledged delivery, microseconds.
    pub last_delivery: Option<i64>,
}

/// A subscription with its delivery status, as answered.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase")]
pub struct WebhookDto {
    /// Its id.
    pub id: String,
    /// The target.
    pub url: String,
    /// The signing key: only in the answer that generated it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Types it receives; empty for all of its categories.
    pub types: Vec<String>,
    /// Services it is limited to (ids).
    pub services: Vec<String>,
    /// Users it is limited to (ids).
    pub agents: Vec<String>,
    /// The categories its creator's key could read, hence it receives.
    pub categories: Vec<String>,
    /// A note.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `Active`, `Failing` (retrying with backoff) or `Paused`.
    pub status: String,
    /// Every event up to this sequence was delivered and acknowledged (or filtered out).
    pub acknowledged: u64,
    /// Why it is paused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paused_reason: Option<String>,
    /// Since when deliveries fail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<String>,
    /// Failed attempts in a row.
    pub consecutive_failures: u32,
    /// What the last failed attempt got.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// The last attempt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_attempt: Option<String>,
    /// The last acknowledged delivery.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_delivery: Option<String>,
}

impl WebhookDto {
    /// The answer for a subscription and its state.
    pub fn new(record: &WebhookRecord, state: &DeliveryState) -> WebhookDto {
        let time = |t: Option<i64>| t.map(|t| rfc3339(switchboard_core::Time(t)));
        let status = if state.paused {
            "Paused"
        } else if state.failing_since.is_some() {
            "Failing"
        } else {
            "Active"
        };
        WebhookDto {
            id: record.id.clone(),
            url: record.url.clone(),
            secret: None,
            types: record.types.clone(),
            services: record.services.clone(),
            agents: record.agents.clone(),
            categories: record.categories.clone(),
            description: record.description.clone(),
            status: status.to_string(),
            acknowledged: state.acknowledged,
            paused_reason: state.paused_reason.clone(),
            failing_since: time(state.failing_since),
            consecutive_failures: state.failures,
            last_error: state.last_error.clone(),
            last_attempt: time(state.last_attempt),
            last_delivery: time(state.last_delivery),
        }
    }
}

/// Checks a target URL: absolute, `http` or `https`, a host, no credentials.
pub fn validate_url(url: &str) -> Result<String, ApiError> {
    let trimmed = url.trim();
    if trimmed.is_empty() || trimmed.len() > MAX_URL {
        return Err(ApiError::invalid(format!(
            "'Url' must be an http or https URL of at most {MAX_URL} characters."
        )));
    }
    let parsed = reqwest::Url::parse(trimmed)
        .map_err(|e| ApiError::invalid(format!("'Url' is not a URL ({e}): '{trimmed}'.")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(ApiError::invalid(format!(
            "'Url' must use http or https, not '{}'.",
            parsed.scheme()
        )));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(ApiError::invalid("'Url' has no host."));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(ApiError::invalid(
            "'Url' must not contain a user name or password: receivers authenticate deliveries by their \
             signature.",
        ));
    }
    Ok(parsed.to_string())
}

fn validate_id(id: &str) -> Result<(), ApiError> {
    let ok = !id.is_empty()
        && id.len() <= MAX_ID
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(format!(
            "A webhook id has 1 to {MAX_ID} letters, digits, '.', '_' or '-', not '{id}'."
        )))
    }
}

fn validate_secret(secret: &str) -> Result<(), ApiError> {
    let n = secret.chars().count();
    if (MIN_SECRET..=MAX_SECRET).contains(&n) && !secret.chars().any(char::is_control) {
        Ok(())
    } else {
        Err(ApiError::invalid(format!(
            "'Secret' has {MIN_SECRET} to {MAX_SECRET} characters and no control characters."
        )))
    }
}

fn generate_secret() -> String {
    format!(
        "whsec_{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// Whether a secret is required (configuration file) or generated when missing (API).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum SecretPolicy {
    Generate,
    Require,
}

/// Checks a request and builds the record it describes; nothing is stored. Returns the record, the position
/// to start from when `From` was given (sequence - 1), and whether the secret was generated.
pub(crate) async fn build_record(
    state: &AppState,
    tenant: &TenantHandle,
    id: String,
    request: &WebhookRequest,
    roles: &[Role],
    policy: SecretPolicy,
) -> Result<(WebhookRecord, Option<u64>, bool), ApiError> {
    validate_id(&id)?;
    let url = validate_url(&request.url)?;
    let (secret, generated) = match (&request.secret, policy) {
        (Some(secret), _) => {
            validate_secret(secret)?;
            (secret.clone(), false)
        }
        (None, SecretPolicy::Generate) => (generate_secret(), true),
        (None, SecretPolicy::Require) => {
            return Err(ApiError::invalid(format!(
                "webhook '{id}' needs a 'Secret' ({MIN_SECRET} to {MAX_SECRET} characters)"
            )))
        }
    };
    if request
        .description
        .as_ref()
        .is_some_and(|d| d.chars().count() > MAX_DESCRIPTION)
    {
        return Err(ApiError::invalid(format!(
            "'Description' has at most {MAX_DESCRIPTION} characters."
        )));
    }
    let categories = granted(roles);
    let types = parse_types(&request.types, &categories)?;
    let services = resolve_services(state, tenant, &request.services)?;
    let agents = resolve_agents(state, tenant, &request.agents)?;
    let start = match request.from {
        None => None,
        Some(0) => return Err(ApiError::invalid("'From' is a sequence number, 1 or more.")),
        Some(from) => {
            super::check_sequence("From", from)?;
            check_kept(state, tenant, from).await?;
            Some(from - 1)
        }
    };
    let mut services: Vec<String> = services.iter().map(|s| s.to_string()).collect();
    services.sort();
    services.dedup();
    let mut agents: Vec<String> = agents.iter().map(|a| a.to_string()).collect();
    agents.sort();
    agents.dedup();
    let record = WebhookRecord {
        id,
        url,
        secret,
        types: types.iter().map(|t| t.to_string()).collect(),
        services,
        agents,
        categories: categories.iter().map(|c| c.name().to_string()).collect(),
        description: request.description.clone(),
        created: state.now().as_micros(),
    };
    Ok((record, start, generated))
}

/// Refuses (410) a start at an event no longer kept.
async fn check_kept(state: &AppState, tenant: &TenantHandle, from: u64) -> Result<(), ApiError> {
    if let Some(oldest) = oldest_kept(state, tenant.name()).await? {
        if from < oldest {
            return Err(super::gone(from - 1, oldest));
        }
    }
    Ok(())
}

/// The position of a new subscription without `From`: after the newest event.
pub(crate) fn current_position(state: &AppState, tenant: &TenantHandle) -> u64 {
    state.read(tenant, |engine| engine.last_event_seq())
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found("WebhookNotFound", format!("No webhook '{id}'."))
}

pub(crate) async fn list_webhooks(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, ApiError> {
    let list = state.webhooks().list(&state, &caller.tenant).await?;
    Ok(Json(list).into_response())
}

pub(crate) async fn get_webhook(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let found = state
        .webhooks()
        .get(&state, &caller.tenant, &id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    Ok(Json(found).into_response())
}

pub(crate) async fn create_webhook(
    State(state): State<AppState>,
    caller: Caller,
    Body(request): Body<WebhookRequest>,
) -> Result<Response, ApiError> {
    let tenant = state.tenant(&caller.tenant).await?;
    let id = request
        .id
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let (record, start, generated) = build_record(
        &state,
        &tenant,
        id,
        &request,
        &caller.roles,
        SecretPolicy::Generate,
    )
    .await?;
    let start = start.unwrap_or_else(|| current_position(&state, &tenant));
    let mut dto = state
        .webhooks()
        .create(&state, &tenant, record.clone(), start)
        .await?;
    if generated {
        dto.secret = Some(record.secret);
    }
    Ok(Json(dto).into_response())
}

pub(crate) async fn put_webhook(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(request): Body<WebhookRequest>,
) -> Result<Response, ApiError> {
    if request.id.as_ref().is_some_and(|body_id| *body_id != id) {
        return Err(ApiError::invalid(
            "The body's 'Id' differs from the path's; leave it out or make them equal.",
        ));
    }
    let tenant = state.tenant(&caller.tenant).await?;
    // A change that leaves the secret out keeps the subscription's secret.
    let mut request = request;
    if request.secret.is_none()
        && state
            .webhooks()
            .get(&state, &caller.tenant, &id)
            .await?
            .is_some()
    {
        request.secret = state
            .webhooks()
            .record(&caller.tenant, &id)
            .map(|record| record.secret.clone());
    }
    let (record, start, generated) = build_record(
        &state,
        &tenant,
        id,
        &request,
        &caller.roles,
        SecretPolicy::Generate,
    )
    .await?;
    let (mut dto, _) = state
        .webhooks()
        .upsert(&state, &tenant, record.clone(), start)
        .await?;
    if generated {
        dto.secret = Some(record.secret);
    }
    Ok(Json(dto).into_response())
}

pub(crate) async fn delete_webhook(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    if !state.webhooks().delete(&state, &caller.tenant, &id).await? {
        return Err(not_found(&id));
    }
    Ok(axum::http::StatusCode::OK.into_response())
}

pub(crate) async fn resume_webhook(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let tenant = state.tenant(&caller.tenant).await?;
    let dto = state
        .webhooks()
        .reposition(&state, &tenant, &id, None)
        .await?
        .ok_or_else(|| not_found(&id))?;
    Ok(Json(dto).into_response())
}

pub(crate) async fn replay_webhook(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(request): Body<ReplayRequest>,
) -> Result<Response, ApiError> {
    let tenant = state.tenant(&caller.tenant).await?;
    if request.from == 0 {
        return Err(ApiError::invalid("'From' is a sequence number, 1 or more."));
    }
    super::check_sequence("From", request.from)?;
    if state
        .webhooks()
        .get(&state, tenant.name(), &id)
        .await?
        .is_none()
    {
        return Err(not_found(&id));
    }
    check_kept(&state, &tenant, request.from).await?;
    let dto = state
        .webhooks()
        .reposition(&state, &tenant, &id, Some(request.from - 1))
        .await?
        .ok_or_else(|| not_found(&id))?;
    Ok(Json(dto).into_response())
}

/// Creates or changes a webhook of the configuration file. Returns whether anything changed.
pub(crate) async fn apply_webhook(
    state: &AppState,
    tenant: &TenantHandle,
    request: WebhookRequest,
    roles: &[Role],
) -> Result<bool, ApiError> {
    let id = request
        .id
        .clone()
        .ok_or_else(|| ApiError::invalid("every webhook of a configuration needs an 'Id'"))?;
    let (record, start, _) =
        build_record(state, tenant, id, &request, roles, SecretPolicy::Require).await?;
    let handle = state.tenant(tenant.name()).await?;
    let (_, changed) = state
        .webhooks()
        .upsert(state, &handle, record, start)
        .await?;
    Ok(changed)
}

/// Checks what can be checked of a configuration's webhooks without the tenant (ids, URLs, secrets), so a bad
/// one refuses the whole configuration before anything is applied.
pub(crate) fn check_config(webhooks: &[WebhookRequest]) -> Result<(), ApiError> {
    let mut ids = BTreeSet::new();
    for webhook in webhooks {
        let id = webhook
            .id
            .as_deref()
            .ok_or_else(|| ApiError::invalid("every webhook of a configuration needs an 'Id'"))?;
        validate_id(id)?;
        if !ids.insert(id) {
            return Err(ApiError::invalid(format!("webhook '{id}' is listed twice")));
        }
        validate_url(&webhook.url)?;
        match &webhook.secret {
            Some(secret) => validate_secret(secret)?,
            None => {
                return Err(ApiError::invalid(format!(
                    "webhook '{id}' needs a 'Secret' ({MIN_SECRET} to {MAX_SECRET} characters)"
                )))
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_and_https_targets_without_credentials_are_accepted() {
        assert!(validate_url("https://crm.example.com/hooks/switchboard").is_ok());
        assert!(validate_url("http://127.0.0.1:8080/x").is_ok());
        for bad in [
            "ftp://example.com/x",
            "file:///etc/passwd",
            "https://user:pw@example.com/",
            "https://user@example.com/",
            "not a url",
            "",
            "https://",
            "mailto:a@example.com",
        ] {
            assert!(validate_url(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn ids_and_secrets_are_checked() {
        assert!(validate_id("crm-1.prod_x").is_ok());
        assert!(validate_id("").is_err());
        assert!(validate_id("a/b").is_err());
        assert!(validate_secret("short").is_err());
        assert!(validate_secret(&generate_secret()).is_ok());
    }
}
