//! Access points: the addresses a Puzzel request's `To` names, each leading to a service (queue). Configured ones
//! live in the store's configuration entries (kind `access_point`, keyed by the normalised name) because routing
//! never reads them; without one, `To` matches a service's SIP URI or telephone number. Provisioned through
//! `/v2.0/accesspoints` (a switchboard extension) and the configuration file's `AccessPoints`.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use switchboard_core::{Engine, ServiceId};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::lucs::directory::{config_entries, delete_config_entry, put_config_entry};
use crate::lucs::Body;
use crate::{AppState, TenantHandle};

const KIND: &str = "access_point";

/// Longest access point name accepted (the longest e-mail address is 254 characters).
const MAX_NAME: usize = 320;

/// An access point: requests whose `To` is `Name` queue in `Service`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct AccessPointDto {
    /// The address a request's `To` names, such as `support@example.com` or `+41440000000`; unique in the
    /// tenant and compared without regard to case (`Name <address>` and `mailto:` are looked through).
    pub name: String,
    /// The service its requests queue in, by id or SIP URI; answered as the service's id.
    pub service: String,
}

/// The form an address is compared in: the part inside `<...>` if any, without `mailto:`, trimmed, lower case.
pub fn normalize(address: &str) -> String {
    let mut address = address.trim();
    if let (Some(open), Some(close)) = (address.rfind('<'), address.rfind('>')) {
        if open < close {
            address = address[open + 1..close].trim();
        }
    }
    let lower = address.to_lowercase();
    match lower.strip_prefix("mailto:") {
        Some(rest) => rest.trim().to_string(),
        None => lower,
    }
}

/// A telephone number without its `tel:` scheme and punctuation, for comparing.
fn phone_key(number: &str) -> String {
    let number = normalize(number);
    number
        .strip_prefix("tel:")
        .unwrap_or(&number)
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.' | '/'))
        .collect()
}

/// The service a request's `To` leads to: a configured access point of that name, else the first service whose
/// SIP URI (with or without `sip:`) or telephone number is `To`. The error says why nothing matched.
pub fn resolve(
    engine: &Engine,
    configured: &[AccessPointDto],
    to: &str,
) -> Result<ServiceId, String> {
    let wanted = normalize(to);
    if let Some(point) = configured.iter().find(|p| normalize(&p.name) == wanted) {
        return point
            .service
            .parse::<uuid::Uuid>()
            .ok()
            .map(ServiceId)
            .filter(|service| engine.service_info(*service).is_some())
            .ok_or_else(|| {
                format!("Access point '{to}' leads to a service that no longer exists.")
            });
    }
    let phone = phone_key(to);
    engine
        .services()
        .into_iter()
        .filter_map(|service| engine.service_info(service))
        .find(|info| {
            let sip = info.spec.sip_uri.to_lowercase();
            let by_sip = !sip.is_empty()
                && (sip == wanted || sip.strip_prefix("sip:") == Some(wanted.as_str()));
            let by_tel =
                !info.spec.tel_number.trim().is_empty() && phone_key(&info.spec.tel_number) == phone;
            by_sip || by_tel
        })
        .map(|info| info.spec.id)
        .ok_or_else(|| {
            format!(
                "No access point '{to}': configure it (POST /v2.0/accesspoints) or use a service's SIP URI or \
                 telephone number."
            )
        })
}

/// The tenant's configured access points, in name order.
pub async fn list(state: &AppState, tenant: &str) -> Result<Vec<AccessPointDto>, ApiError> {
    config_entries(state, tenant, KIND).await
}

/// An access point's name (trimmed), checked: 1 to `MAX_NAME` characters.
pub(crate) fn access_point_name(point: &AccessPointDto) -> Result<String, ApiError> {
    let name = point.name.trim().to_string();
    if name.is_empty() || name.chars().count() > MAX_NAME {
        return Err(ApiError::invalid(format!(
            "an access point's Name has 1 to {MAX_NAME} characters"
        )));
    }
    Ok(name)
}

/// Creates or updates the access point with this name. Returns it (its service as an id) and whether anything
/// changed; an access point already as described is not written again.
pub async fn apply_access_point(
    state: &AppState,
    tenant: &TenantHandle,
    point: AccessPointDto,
) -> Result<(AccessPointDto, bool), ApiError> {
    let name = access_point_name(&point)?;
    let service = state.read(tenant, |engine| {
        engine.service_by_identifier(&point.service).ok_or_else(|| {
            ApiError::not_found(
                "ServiceNotFound",
                format!("No service '{}'.", point.service),
            )
        })
    })?;
    let wanted = AccessPointDto {
        name,
        service: service.to_string(),
    };
    let key = normalize(&wanted.name);
    let existing = list(state, tenant.name())
        .await?
        .into_iter()
        .find(|p| normalize(&p.name) == key);
    if existing.as_ref() == Some(&wanted) {
        return Ok((wanted, false));
    }
    put_config_entry(state, tenant.name(), KIND, key, &wanted).await?;
    Ok((wanted, true))
}

pub(crate) async fn list_access_points(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, ApiError> {
    Ok(Json(list(&state, &caller.tenant).await?).into_response())
}

pub(crate) async fn upsert_access_point(
    State(state): State<AppState>,
    caller: Caller,
    Body(point): Body<AccessPointDto>,
) -> Result<Response, ApiError> {
    let tenant = state.tenant(&caller.tenant).await?;
    let (point, _) = apply_access_point(&state, &tenant, point).await?;
    Ok(Json(point).into_response())
}

pub(crate) async fn delete_access_point(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let deleted = delete_config_entry(&state, &caller.tenant, KIND, normalize(&name)).await?;
    if !deleted {
        return Err(ApiError::not_found(
            "AccessPointNotFound",
            format!("No access point '{name}'."),
        ));
    }
    Ok(axum::http::StatusCode::OK.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_compared_in_one_form() {
        assert_eq!(normalize("  Support@Example.COM "), "support@example.com");
        assert_eq!(
            normalize("Customer Care <Care@Example.com>"),
            "care@example.com"
        );
        assert_eq!(normalize("mailto:Care@Example.com"), "care@example.com");
        assert_eq!(phone_key("tel:+41 (44) 000-00.00"), "+41440000000");
        assert_eq!(normalize("<>"), "");
    }
}
