//! Declarative configuration of a tenant: settings, responsibility profiles, services, users and Puzzel access
//! points, in YAML, TOML or JSON. Applying a configuration creates what is missing and changes what differs;
//! anything already equal is left alone, so applying the same file twice changes nothing. `serve --config FILE`
//! applies it at start; `switchboard import FILE` sends it to `POST /v2.0/configuration` of a running server.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use switchboard_core::{Command, ProfileId, ProfileSpec, Span};

use crate::auth::Role;
use crate::error::ApiError;
use crate::events::webhooks::{apply_webhook, WebhookRequest};
use crate::lucs::dto::ServiceDto;
use crate::lucs::{apply_service, apply_user, CreateUserDto};
use crate::puzzel::access_points::{apply_access_point, AccessPointDto};
use crate::{AppState, TenantHandle};

/// Tenant-wide settings (seed 002's task expiry, and default timers).
#[derive(Clone, Debug, Default, Serialize, Deserialize, schemars::JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", default, deny_unknown_fields)]
pub struct TenantSettings {
    /// Tasks not read (polled) for this many minutes are ended as abandoned; 0 turns the check off. At most
    /// 525600 (a year).
    #[schemars(range(max = 525600))]
    pub maximum_polling_timeout_in_min: Option<u64>,
    /// Longest a task lives without a refresh, in days (seed 002: 5); 0 turns the limit off. At most 3650.
    #[schemars(range(max = 3650))]
    pub task_lifetime_in_days: Option<u64>,
    /// RONA timeout when neither the task nor its service sets one; 0 means offers never time out. At most
    /// 2592000 (30 days, like a service's).
    #[schemars(range(max = 2592000))]
    pub default_rona_timeout_in_seconds: Option<u64>,
}

/// The largest settings accepted: more is taken for a mistake, and far more would overflow the engine's clock.
const MAX_POLLING_TIMEOUT_MINUTES: u64 = 525_600;
const MAX_TASK_LIFETIME_DAYS: u64 = 3_650;
const MAX_DEFAULT_RONA_SECONDS: u64 = 30 * 86_400;

/// A responsibility profile.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ProfileConfig {
    /// The profile's name, such as `Day Shift`.
    pub name: String,
    /// An off-duty profile makes its users unselectable.
    #[serde(default)]
    pub off_duty: bool,
}

/// A whole configuration document.
#[derive(Clone, Debug, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase", default, deny_unknown_fields)]
pub struct Configuration {
    /// Tenant settings.
    pub settings: Option<TenantSettings>,
    /// Responsibility profiles.
    pub profiles: Vec<ProfileConfig>,
    /// Organization units; a parent (by id or name) must come before its children.
    pub organization_units: Vec<crate::lucs::directory::OrganizationUnitDto>,
    /// Absence reasons users can be set absent with.
    pub absence_reasons: Vec<String>,
    /// Services, each identified by its `SipUri` (or `Id`); overflow targets must come before the services
    /// that overflow into them.
    pub services: Vec<ServiceDto>,
    /// Users, each identified by its `SipUri`.
    pub users: Vec<CreateUserDto>,
    /// Puzzel access points, each identified by its `Name`: the `To` addresses of requests and the services
    /// (id or SIP URI, listed above or already there) they queue in.
    pub access_points: Vec<AccessPointDto>,
    /// Preferred periods of callbacks (xuc callback lists), each identified by its `Name`.
    pub callback_periods: Vec<crate::xuc::callbacks::CallbackPeriodDto>,
    /// Webhook subscriptions, each identified by its `Id` and with its `Secret` (see docs/events.md). Applied
    /// through the API, a subscription receives only the event categories the caller's key may read.
    pub webhooks: Vec<WebhookRequest>,
}

/// What applying a configuration did.
#[derive(Clone, Debug, Default, Serialize, Deserialize, schemars::JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct ConfigurationReport {
    /// Settings changed.
    pub settings_changed: bool,
    /// Profiles created or changed.
    pub profiles_changed: usize,
    /// Services created or changed.
    pub services_changed: usize,
    /// Users created or changed.
    pub users_changed: usize,
    /// Organization units, absence reasons, access points and webhooks created or changed.
    pub directory_changed: usize,
    /// Entries already as described.
    pub unchanged: usize,
}

/// Reads a configuration in the format its file name says (`.yaml`/`.yml`, `.toml`, `.json`); without a known
/// extension, each format is tried.
pub fn parse(text: &str, file_name: &str) -> Result<Configuration, String> {
    let lower = file_name.to_lowercase();
    if lower.ends_with(".toml") {
        return toml::from_str(text).map_err(|e| format!("{file_name}: {e}"));
    }
    if lower.ends_with(".yaml") || lower.ends_with(".yml") {
        return serde_yaml_ng::from_str(text).map_err(|e| format!("{file_name}: {e}"));
    }
    if lower.ends_with(".json") {
        return serde_json::from_str(text).map_err(|e| format!("{file_name}: {e}"));
    }
    serde_json::from_str(text)
        .or_else(|_| toml::from_str(text))
        .or_else(|_| serde_yaml_ng::from_str(text))
        .map_err(|e| format!("{file_name}: not YAML, TOML or JSON this server understands ({e})"))
}

/// Whether `identifier` names a service of the document that `declared` entries before it describe, the way
/// the engine finds services (id, or SIP URI with or without `sip:`).
fn declared_service(declared: &[ServiceDto], identifier: &str) -> bool {
    let lower = identifier.to_lowercase();
    declared.iter().any(|service| {
        let sip = service.sip_uri.to_lowercase();
        service
            .id
            .as_deref()
            .is_some_and(|id| id.eq_ignore_ascii_case(identifier))
            || (!sip.is_empty() && (sip == lower || sip == format!("sip:{lower}")))
    })
}

/// Every entry checked before anything is applied, so that a document refused for a bad entry changes nothing:
/// each entry's own fields, and what it refers to (services, parent units) among what the tenant has and what the
/// document declares before it. What only applying can tell (a conflict with a concurrent change) can still
/// stop an apply part-way; applying the corrected document again then completes it.
async fn check(
    state: &AppState,
    tenant: &TenantHandle,
    config: &Configuration,
) -> Result<(), ApiError> {
    let at = |kind: &str, n: usize, error: ApiError| {
        ApiError::new(
            error.status,
            error.code,
            format!("{kind}[{n}]: {}", error.message),
        )
    };
    let known = |identifier: &str, declared: &[ServiceDto]| {
        declared_service(declared, identifier)
            || state.read(tenant, |engine| {
                engine.service_by_identifier(identifier).is_some()
            })
    };
    let service_missing = |identifier: &str| {
        ApiError::not_found(
            "ServiceNotFound",
            format!("No service '{identifier}' in the tenant or earlier in the document."),
        )
    };
    if let Some(settings) = &config.settings {
        for (name, value, max) in [
            (
                "MaximumPollingTimeoutInMin",
                settings.maximum_polling_timeout_in_min,
                MAX_POLLING_TIMEOUT_MINUTES,
            ),
            (
                "TaskLifetimeInDays",
                settings.task_lifetime_in_days,
                MAX_TASK_LIFETIME_DAYS,
            ),
            (
                "DefaultRonaTimeoutInSeconds",
                settings.default_rona_timeout_in_seconds,
                MAX_DEFAULT_RONA_SECONDS,
            ),
        ] {
            if value.is_some_and(|value| value > max) {
                return Err(ApiError::invalid(format!("{name} must be at most {max}")));
            }
        }
    }
    for (n, profile) in config.profiles.iter().enumerate() {
        if profile.name.trim().is_empty() {
            let error = ApiError::invalid("A profile name must not be empty.");
            return Err(at("Profiles", n, error));
        }
    }
    let mut units = crate::lucs::directory::units(state, tenant.name()).await?;
    for (n, unit) in config.organization_units.iter().enumerate() {
        if unit.name.trim().is_empty() {
            return Err(at(
                "OrganizationUnits",
                n,
                ApiError::bad_request("'Name' is required."),
            ));
        }
        if let Some(parent) = &unit.parent_id {
            if crate::lucs::directory::find(&units, parent).is_none() {
                let error = ApiError::invalid(format!(
                    "parent organization unit '{parent}' does not exist"
                ));
                return Err(at("OrganizationUnits", n, error));
            }
        }
        units.push(unit.clone());
    }
    for (n, reason) in config.absence_reasons.iter().enumerate() {
        crate::lucs::directory::absence_reason_name(reason)
            .map_err(|e| at("AbsenceReasons", n, e))?;
    }
    for (n, service) in config.services.iter().enumerate() {
        crate::lucs::service_fields(service).map_err(|e| at("Services", n, e))?;
        if service.id.is_none() && service.sip_uri.trim().is_empty() {
            let error = ApiError::invalid(format!(
                "service '{}' needs a SipUri (or an Id) so that applying the configuration again finds it",
                service.name
            ));
            return Err(at("Services", n, error));
        }
        if let Some(target) = &service.overflow_service {
            if !known(target, &config.services[..n]) {
                return Err(at("Services", n, service_missing(target)));
            }
        }
    }
    for (n, user) in config.users.iter().enumerate() {
        crate::lucs::user_fields(user).map_err(|e| at("Users", n, e))?;
        for service in user.service_identifiers() {
            if !known(service, &config.services) {
                return Err(at("Users", n, service_missing(service)));
            }
        }
    }
    for (n, point) in config.access_points.iter().enumerate() {
        crate::puzzel::access_points::access_point_name(point)
            .map_err(|e| at("AccessPoints", n, e))?;
        if !known(&point.service, &config.services) {
            return Err(at("AccessPoints", n, service_missing(&point.service)));
        }
    }
    for (n, period) in config.callback_periods.iter().enumerate() {
        crate::xuc::callbacks::period_fields(period).map_err(|e| at("CallbackPeriods", n, e))?;
    }
    crate::events::webhooks::check_config(&config.webhooks)?;
    Ok(())
}

/// Applies a configuration to a tenant with every right (the server's own `--config`).
pub async fn apply(
    state: &AppState,
    tenant: &TenantHandle,
    config: Configuration,
) -> Result<ConfigurationReport, ApiError> {
    apply_as(state, tenant, config, &Role::ALL).await
}

/// Applies a configuration to a tenant for a key with these roles (what its webhooks may receive).
pub async fn apply_as(
    state: &AppState,
    tenant: &TenantHandle,
    config: Configuration,
    roles: &[Role],
) -> Result<ConfigurationReport, ApiError> {
    check(state, tenant, &config).await?;
    let mut report = ConfigurationReport::default();
    if let Some(settings) = &config.settings {
        let current = state.read(tenant, |engine| engine.config().clone());
        let mut wanted = current.clone();
        if let Some(minutes) = settings.maximum_polling_timeout_in_min {
            wanted.max_polling_timeout = (minutes > 0).then(|| Span::from_mins(minutes as i64));
        }
        if let Some(days) = settings.task_lifetime_in_days {
            wanted.max_task_lifetime = (days > 0).then(|| Span::from_secs(days as i64 * 86_400));
        }
        if let Some(seconds) = settings.default_rona_timeout_in_seconds {
            wanted.default_rona_timeout = (seconds > 0).then(|| Span::from_secs(seconds as i64));
        }
        if wanted != current {
            state.command(tenant, Command::SetConfig(wanted)).await?;
            report.settings_changed = true;
        } else {
            report.unchanged += 1;
        }
    }
    let profiles: HashMap<String, ProfileSpec> = state.read(tenant, |engine| {
        engine
            .profiles()
            .iter()
            .map(|p| (p.name.to_lowercase(), p.clone()))
            .collect()
    });
    for profile in &config.profiles {
        let existing = profiles.get(&profile.name.to_lowercase());
        if existing.is_some_and(|p| p.off_duty == profile.off_duty && p.name == profile.name) {
            report.unchanged += 1;
            continue;
        }
        let id = existing
            .map(|p| p.id)
            .unwrap_or_else(|| ProfileId(uuid::Uuid::new_v4()));
        state
            .command(
                tenant,
                Command::UpsertProfile(ProfileSpec {
                    id,
                    name: profile.name.clone(),
                    off_duty: profile.off_duty,
                }),
            )
            .await?;
        report.profiles_changed += 1;
    }
    for unit in config.organization_units {
        let (_, changed) = crate::lucs::directory::apply_unit(state, tenant.name(), unit).await?;
        if changed {
            report.directory_changed += 1;
        } else {
            report.unchanged += 1;
        }
    }
    for reason in &config.absence_reasons {
        if crate::lucs::directory::apply_absence_reason(state, tenant.name(), reason).await? {
            report.directory_changed += 1;
        } else {
            report.unchanged += 1;
        }
    }
    for service in config.services {
        let (_, changed) = apply_service(state, tenant, service).await?;
        if changed {
            report.services_changed += 1;
        } else {
            report.unchanged += 1;
        }
    }
    for user in config.users {
        let (_, changed) = apply_user(state, tenant, user).await?;
        if changed {
            report.users_changed += 1;
        } else {
            report.unchanged += 1;
        }
    }
    for point in config.access_points {
        let (_, changed) = apply_access_point(state, tenant, point).await?;
        if changed {
            report.directory_changed += 1;
        } else {
            report.unchanged += 1;
        }
    }
    for period in config.callback_periods {
        let (_, changed) = crate::xuc::callbacks::apply_period(state, tenant, period).await?;
        if changed {
            report.directory_changed += 1;
        } else {
            report.unchanged += 1;
        }
    }
    for webhook in config.webhooks {
        if apply_webhook(state, tenant, webhook, roles).await? {
            report.directory_changed += 1;
        } else {
            report.unchanged += 1;
        }
    }
    Ok(report)
}
