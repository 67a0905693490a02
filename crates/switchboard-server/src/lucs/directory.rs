//! Organization units (a tree: services and users belong to units, and a unit's lists include its descendants')
//! and absence reasons. Routing does not use them, so they live in the store's configuration entries rather than
//! in the engine.

use std::collections::BTreeSet;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::dto::{ServiceDto, UserDto};
use super::{list_response, user_dtos, user_states, ApiVersion, Body, Paging, Params};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::AppState;

const UNIT: &str = "organization_unit";
const ABSENCE: &str = "absence_reason";

/// An organization unit. `ParentId` names the parent by id or name; none for a root.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase")]
pub struct OrganizationUnitDto {
    /// Stable id; given, or assigned on creation.
    #[serde(default)]
    pub id: Option<String>,
    /// Display name, unique in the tenant.
    pub name: String,
    /// The parent unit.
    #[serde(default)]
    pub parent_id: Option<String>,
}

/// An absence (not-ready) reason users can be set absent with.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase")]
pub struct AbsenceReasonDto {
    /// The reason, such as `Lunch`.
    pub name: String,
}

/// The configuration entries of one kind of a tenant, decoded (a body that no longer decodes is a corrupt store).
pub(crate) async fn config_entries<T: serde::de::DeserializeOwned>(
    state: &AppState,
    tenant: &str,
    kind: &'static str,
) -> Result<Vec<T>, ApiError> {
    let tenant = tenant.to_string();
    let rows = blocking_store(state, move |store| store.list_entries(&tenant, kind)).await?;
    rows.iter()
        .map(|(_, body)| {
            serde_json::from_str(body).map_err(|e| {
                ApiError::unavailable(&switchboard_store::StoreError::Corrupt(e.to_string()))
            })
        })
        .collect()
}

/// Stores a configuration entry under `key`, replacing the one there.
pub(crate) async fn put_config_entry<T: Serialize>(
    state: &AppState,
    tenant: &str,
    kind: &'static str,
    key: String,
    value: &T,
) -> Result<(), ApiError> {
    let body = serde_json::to_string(value).map_err(|e| ApiError::invalid(e.to_string()))?;
    let tenant = tenant.to_string();
    blocking_store(state, move |store| {
        store.put_entry(&tenant, kind, &key, &body)
    })
    .await
}

/// Removes a configuration entry; false when there was none.
pub(crate) async fn delete_config_entry(
    state: &AppState,
    tenant: &str,
    kind: &'static str,
    key: String,
) -> Result<bool, ApiError> {
    let tenant = tenant.to_string();
    blocking_store(state, move |store| store.delete_entry(&tenant, kind, &key)).await
}

pub(crate) fn blocking_store<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&switchboard_store::Store) -> Result<T, switchboard_store::StoreError>
        + Send
        + 'static,
) -> impl std::future::Future<Output = Result<T, ApiError>> {
    let state = state.clone();
    async move {
        tokio::task::spawn_blocking(move || f(state.store()))
            .await
            .map_err(|_| ApiError::unavailable(&switchboard_store::StoreError::Closed))?
            .map_err(ApiError::from)
    }
}

/// Every unit of a tenant.
pub async fn units(state: &AppState, tenant: &str) -> Result<Vec<OrganizationUnitDto>, ApiError> {
    let tenant = tenant.to_string();
    let rows = blocking_store(state, move |store| store.list_entries(&tenant, UNIT)).await?;
    rows.iter()
        .map(|(_, body)| {
            serde_json::from_str(body).map_err(|e| {
                ApiError::unavailable(&switchboard_store::StoreError::Corrupt(e.to_string()))
            })
        })
        .collect()
}

pub(crate) fn find<'a>(
    units: &'a [OrganizationUnitDto],
    identifier: &str,
) -> Option<&'a OrganizationUnitDto> {
    units
        .iter()
        .find(|u| u.id.as_deref() == Some(identifier) || u.name.eq_ignore_ascii_case(identifier))
}

fn find_or_404<'a>(
    units: &'a [OrganizationUnitDto],
    identifier: &str,
) -> Result<&'a OrganizationUnitDto, ApiError> {
    find(units, identifier).ok_or_else(|| {
        ApiError::not_found(
            "OrganizationUnitNotFound",
            format!("No organization unit '{identifier}'."),
        )
    })
}

/// The ids and names of a unit and all its descendants (a service or user may name its unit either way).
fn subtree(units: &[OrganizationUnitDto], root: &OrganizationUnitDto) -> BTreeSet<String> {
    let mut members = BTreeSet::new();
    let mut frontier = vec![root.clone()];
    while let Some(unit) = frontier.pop() {
        let id = unit.id.clone().unwrap_or_default();
        if !members.insert(id.clone()) {
            continue;
        }
        members.insert(unit.name.to_lowercase());
        frontier.extend(
            units
                .iter()
                .filter(|u| u.parent_id.as_deref() == Some(id.as_str()))
                .cloned(),
        );
    }
    members
}

fn in_subtree(members: &BTreeSet<String>, reference: Option<&str>) -> bool {
    reference.is_some_and(|r| members.contains(r) || members.contains(&r.to_lowercase()))
}

pub(super) async fn list_units(
    State(state): State<AppState>,
    caller: Caller,
    version: ApiVersion,
    Params(paging): Params<Paging>,
) -> Result<Response, ApiError> {
    let list = units(&state, &caller.tenant).await?;
    list_response(version, &paging, list)
}

pub(super) async fn get_unit(
    State(state): State<AppState>,
    caller: Caller,
    Path(identifier): Path<String>,
) -> Result<Response, ApiError> {
    let list = units(&state, &caller.tenant).await?;
    Ok(Json(find_or_404(&list, &identifier)?.clone()).into_response())
}

pub(super) async fn unit_services(
    State(state): State<AppState>,
    caller: Caller,
    version: ApiVersion,
    Path(identifier): Path<String>,
    Params(paging): Params<Paging>,
) -> Result<Response, ApiError> {
    let list = units(&state, &caller.tenant).await?;
    let members = subtree(&list, find_or_404(&list, &identifier)?);
    let tenant = state.tenant(&caller.tenant).await?;
    let items: Vec<ServiceDto> = state.read(&tenant, |engine| {
        engine
            .services()
            .into_iter()
            .filter_map(|s| engine.service_info(s))
            .filter(|info| in_subtree(&members, info.spec.organization_unit.as_deref()))
            .map(|info| ServiceDto::from_service(engine, &info))
            .collect()
    });
    list_response(version, &paging, items)
}

pub(super) async fn unit_users(
    State(state): State<AppState>,
    caller: Caller,
    version: ApiVersion,
    Path(identifier): Path<String>,
    Params(paging): Params<Paging>,
) -> Result<Response, ApiError> {
    let list = units(&state, &caller.tenant).await?;
    let members = subtree(&list, find_or_404(&list, &identifier)?);
    let tenant = state.tenant(&caller.tenant).await?;
    let items: Vec<UserDto> = state.read(&tenant, |engine| {
        user_dtos(engine, engine.agents())
            .into_iter()
            .filter(|user| in_subtree(&members, user.organization_unit_node_id.as_deref()))
            .collect()
    });
    list_response(version, &paging, items)
}

pub(super) async fn unit_users_states(
    State(state): State<AppState>,
    caller: Caller,
    Path(identifier): Path<String>,
    Params(paging): Params<Paging>,
) -> Result<Response, ApiError> {
    let list = units(&state, &caller.tenant).await?;
    let members = subtree(&list, find_or_404(&list, &identifier)?);
    let tenant = state.tenant(&caller.tenant).await?;
    let items = state.read(&tenant, |engine| {
        let agents: Vec<_> = engine
            .agents()
            .into_iter()
            .filter(|agent| {
                user_dtos(engine, [*agent]).first().is_some_and(|user| {
                    in_subtree(&members, user.organization_unit_node_id.as_deref())
                })
            })
            .collect();
        user_states(engine, agents)
    });
    list_response(ApiVersion::V2, &paging, items)
}

/// Creates or updates a unit (matched by `Id`, else by `Name`). Returns the unit and whether it changed.
pub async fn apply_unit(
    state: &AppState,
    tenant: &str,
    mut unit: OrganizationUnitDto,
) -> Result<(OrganizationUnitDto, bool), ApiError> {
    if unit.name.trim().is_empty() {
        return Err(ApiError::bad_request("'Name' is required."));
    }
    let list = units(state, tenant).await?;
    let existing = match &unit.id {
        Some(id) => list.iter().find(|u| u.id.as_deref() == Some(id.as_str())),
        None => list
            .iter()
            .find(|u| u.name.eq_ignore_ascii_case(&unit.name)),
    };
    let id = existing
        .and_then(|u| u.id.clone())
        .or(unit.id.clone())
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    unit.id = Some(id.clone());
    if list
        .iter()
        .any(|u| u.name.eq_ignore_ascii_case(&unit.name) && u.id.as_deref() != Some(id.as_str()))
    {
        return Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "Conflict",
            format!("Another organization unit is called '{}'.", unit.name),
        ));
    }
    if let Some(parent) = unit.parent_id.clone() {
        let parent = find(&list, &parent).ok_or_else(|| {
            ApiError::invalid(format!(
                "parent organization unit '{parent}' does not exist"
            ))
        })?;
        let parent_id = parent.id.clone().unwrap_or_default();
        // The parent must not be the unit itself or one of its descendants.
        let mut cursor = Some(parent_id.clone());
        while let Some(current) = cursor {
            if current == id {
                return Err(ApiError::invalid(
                    "an organization unit cannot be its own ancestor",
                ));
            }
            cursor = list
                .iter()
                .find(|u| u.id.as_deref() == Some(current.as_str()))
                .and_then(|u| u.parent_id.clone());
        }
        unit.parent_id = Some(parent_id);
    }
    if existing == Some(&unit) {
        return Ok((unit, false));
    }
    let body = serde_json::to_string(&unit).map_err(|e| ApiError::invalid(e.to_string()))?;
    let tenant = tenant.to_string();
    blocking_store(state, move |store| {
        store.put_entry(&tenant, UNIT, &id, &body)
    })
    .await?;
    Ok((unit, true))
}

pub(super) async fn upsert_unit(
    State(state): State<AppState>,
    caller: Caller,
    Body(unit): Body<OrganizationUnitDto>,
) -> Result<Response, ApiError> {
    let (unit, _) = apply_unit(&state, &caller.tenant, unit).await?;
    Ok(Json(unit).into_response())
}

pub(super) async fn delete_unit(
    State(state): State<AppState>,
    caller: Caller,
    Path(identifier): Path<String>,
) -> Result<Response, ApiError> {
    let list = units(&state, &caller.tenant).await?;
    let unit = find_or_404(&list, &identifier)?.clone();
    let id = unit.id.clone().unwrap_or_default();
    if list
        .iter()
        .any(|u| u.parent_id.as_deref() == Some(id.as_str()))
    {
        return Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "StillInUse",
            "The unit has child units.",
        ));
    }
    let members: BTreeSet<String> = [id.clone(), unit.name.to_lowercase()].into();
    let tenant = state.tenant(&caller.tenant).await?;
    let used = state.read(&tenant, |engine| {
        engine
            .services()
            .into_iter()
            .filter_map(|s| engine.service_info(s))
            .any(|info| in_subtree(&members, info.spec.organization_unit.as_deref()))
            || user_dtos(engine, engine.agents())
                .iter()
                .any(|user| in_subtree(&members, user.organization_unit_node_id.as_deref()))
    });
    if used {
        return Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "StillInUse",
            "Services or users belong to the unit.",
        ));
    }
    let tenant_name = caller.tenant.clone();
    blocking_store(&state, move |store| {
        store.delete_entry(&tenant_name, UNIT, &id)
    })
    .await?;
    Ok(axum::http::StatusCode::OK.into_response())
}

/// The tenant's absence reasons, in name order.
pub async fn absence_reasons(
    state: &AppState,
    tenant: &str,
) -> Result<Vec<AbsenceReasonDto>, ApiError> {
    let tenant = tenant.to_string();
    let rows = blocking_store(state, move |store| store.list_entries(&tenant, ABSENCE)).await?;
    Ok(rows
        .into_iter()
        .map(|(_, body)| AbsenceReasonDto { name: body })
        .collect())
}

/// Adds an absence reason; returns whether it was new.
/// An absence reason as stored (trimmed), if it is one: 1 to 100 characters.
pub(crate) fn absence_reason_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim().to_string();
    if name.is_empty() || name.len() > 100 {
        return Err(ApiError::invalid(
            "an absence reason has 1 to 100 characters",
        ));
    }
    Ok(name)
}

pub async fn apply_absence_reason(
    state: &AppState,
    tenant: &str,
    name: &str,
) -> Result<bool, ApiError> {
    let name = absence_reason_name(name)?;
    let known = absence_reasons(state, tenant).await?;
    if known.iter().any(|r| r.name == name) {
        return Ok(false);
    }
    let tenant = tenant.to_string();
    let key = name.to_lowercase();
    blocking_store(state, move |store| {
        store.put_entry(&tenant, ABSENCE, &key, &name)
    })
    .await?;
    Ok(true)
}

pub(super) async fn get_absent_reasons(
    State(state): State<AppState>,
    caller: Caller,
    Path(identifier): Path<String>,
) -> Result<Response, ApiError> {
    let tenant = state.tenant(&caller.tenant).await?;
    state.read(&tenant, |engine| super::find_user(engine, &identifier))?;
    Ok(Json(absence_reasons(&state, &caller.tenant).await?).into_response())
}

pub(super) async fn add_absence_reason(
    State(state): State<AppState>,
    caller: Caller,
    Body(reason): Body<AbsenceReasonDto>,
) -> Result<Response, ApiError> {
    apply_absence_reason(&state, &caller.tenant, &reason.name).await?;
    Ok(Json(absence_reasons(&state, &caller.tenant).await?).into_response())
}

pub(super) async fn delete_absence_reason(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let tenant = caller.tenant.clone();
    let key = name.to_lowercase();
    let deleted = blocking_store(&state, move |store| {
        store.delete_entry(&tenant, ABSENCE, &key)
    })
    .await?;
    if !deleted {
        return Err(ApiError::not_found(
            "AbsenceReasonNotFound",
            format!("No absence reason '{name}'."),
        ));
    }
    Ok(axum::http::StatusCode::OK.into_response())
}
