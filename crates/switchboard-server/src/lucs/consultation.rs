//! LUCS consultative calls (`/tasks/{task}/consultationCall...`, `/users/{user}/consultativeCalls`): the agent
//! handling an incoming call consults a colleague or an outside number, then merges, hands over, leaves or ends
//! the consultation. The engine keeps the call-control state (`Engine::consult`); this module is its wire form.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use switchboard_core::{
    AudioRoutes, Command, Consultation, ConsultationAction, ConsultationTarget, Engine, TaskId,
};

use super::dto::{lucs_timestamp, task_state_name, TaskStatusDto};
use super::{find_user, live_task, Body};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::AppState;

/// Whom to consult: exactly one of `User` (a colleague, by id, UPN or SIP URI) or `Target` (a phone number or
/// SIP address outside the contact center).
#[derive(Deserialize, Default, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase", default, deny_unknown_fields)]
pub struct ConsultationCallBody {
    /// The user to consult.
    pub user: Option<String>,
    /// The number or SIP address to consult.
    pub target: Option<String>,
}

/// Who hears whom in a merged consultative call; the agent always hears, and is heard by, both others.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct AudioRoutesDto {
    /// The customer hears the consulted party.
    pub customer_hears_consultant: bool,
    /// The consulted party hears the customer.
    pub consultant_hears_customer: bool,
}

impl From<AudioRoutes> for AudioRoutesDto {
    fn from(routes: AudioRoutes) -> AudioRoutesDto {
        AudioRoutesDto {
            customer_hears_consultant: routes.customer_hears_consultant,
            consultant_hears_customer: routes.consultant_hears_customer,
        }
    }
}

/// A task's consultative call.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase")]
pub struct ConsultationCallDto {
    /// The task (the customer's call).
    pub task_id: String,
    /// `Connected` (the customer waits on hold) or `Merged` (a conference of three).
    pub status: String,
    /// The user handling the task, who started the consultation.
    pub initiator_user_id: String,
    /// The consulted user, when a colleague was consulted.
    pub target_user_id: Option<String>,
    /// The consulted number, when an outside party was consulted.
    pub target: Option<String>,
    /// False once the customer's call ended during the consultation.
    pub customer_connected: bool,
    /// Who hears whom once merged.
    pub audio_routes: AudioRoutesDto,
    /// When the consultation started.
    pub start_date: String,
    /// When it was merged with the customer, if it was.
    pub merge_date: Option<String>,
}

impl ConsultationCallDto {
    fn new(task: TaskId, consultation: &Consultation) -> ConsultationCallDto {
        let (target_user_id, target) = match &consultation.target {
            ConsultationTarget::Agent(agent) => (Some(agent.to_string()), None),
            ConsultationTarget::External(number) => (None, Some(number.clone())),
        };
        ConsultationCallDto {
            task_id: task.to_string(),
            status: consultation.status.name().to_string(),
            initiator_user_id: consultation.initiator.to_string(),
            target_user_id,
            target,
            customer_connected: consultation.customer_connected,
            audio_routes: consultation.audio_routes.into(),
            start_date: lucs_timestamp(consultation.started),
            merge_date: consultation.merged_at.map(lucs_timestamp),
        }
    }
}

fn no_consultation(identifier: &str) -> ApiError {
    ApiError::not_found(
        "ConsultationCallNotFound",
        format!("Task '{identifier}' has no consultative call."),
    )
}

fn consultation_dto(
    engine: &Engine,
    task: TaskId,
    identifier: &str,
) -> Result<ConsultationCallDto, ApiError> {
    engine
        .consultation_of(task)
        .map(|consultation| ConsultationCallDto::new(task, consultation))
        .ok_or_else(|| no_consultation(identifier))
}

/// Applies an action and answers the consultation as it now stands.
async fn act_and_show(
    state: &AppState,
    caller: &Caller,
    identifier: &str,
    action: ConsultationAction,
) -> Result<Response, ApiError> {
    let tenant = state.tenant(&caller.tenant).await?;
    let task = live_task(state, &tenant, identifier).await?;
    state
        .command(&tenant, Command::Consult { task, action })
        .await?;
    let dto = state.read(&tenant, |engine| consultation_dto(engine, task, identifier))?;
    Ok(Json(dto).into_response())
}

/// Applies an action that ends the consultation and answers the task's state afterwards (`Established` with
/// its new agent after a hand-over, `Terminated` when the call left the contact center or the customer was gone).
async fn act_and_show_task(
    state: &AppState,
    caller: &Caller,
    identifier: &str,
    action: ConsultationAction,
) -> Result<Response, ApiError> {
    let tenant = state.tenant(&caller.tenant).await?;
    let task = live_task(state, &tenant, identifier).await?;
    state
        .command(&tenant, Command::Consult { task, action })
        .await?;
    let status = state.read(&tenant, |engine| engine.task_info(task).map(|t| t.status));
    Ok(Json(TaskStatusDto {
        id: task.to_string(),
        state: status
            .map(task_state_name)
            .unwrap_or("Terminated")
            .to_string(),
    })
    .into_response())
}

/// `POST /tasks/{task}/consultationCall`: consult a user or a number; the customer goes on hold.
pub async fn start(
    State(state): State<AppState>,
    caller: Caller,
    Path(identifier): Path<String>,
    Body(body): Body<ConsultationCallBody>,
) -> Result<Response, ApiError> {
    let tenant = state.tenant(&caller.tenant).await?;
    let target = match (body.user, body.target) {
        (Some(user), None) => {
            let agent = state.read(&tenant, |engine| find_user(engine, &user))?;
            ConsultationTarget::Agent(agent)
        }
        (None, Some(target)) if !target.trim().is_empty() => {
            ConsultationTarget::External(target.trim().to_string())
        }
        _ => {
            return Err(ApiError::bad_request(
                "Give exactly one of 'User' or 'Target' (a number or SIP address) to consult.",
            ))
        }
    };
    act_and_show(
        &state,
        &caller,
        &identifier,
        ConsultationAction::Start(target),
    )
    .await
}

/// `GET /tasks/{task}/consultationCall`.
pub async fn status(
    State(state): State<AppState>,
    caller: Caller,
    Path(identifier): Path<String>,
) -> Result<Response, ApiError> {
    let tenant = state.tenant(&caller.tenant).await?;
    let task = live_task(&state, &tenant, &identifier).await?;
    let dto = state.read(&tenant, |engine| {
        consultation_dto(engine, task, &identifier)
    })?;
    Ok(Json(dto).into_response())
}

/// `POST /tasks/{task}/consultationCall/merge`.
pub async fn merge(
    State(state): State<AppState>,
    caller: Caller,
    Path(identifier): Path<String>,
) -> Result<Response, ApiError> {
    act_and_show(&state, &caller, &identifier, ConsultationAction::Merge).await
}

/// `POST /tasks/{task}/consultationCall/audioRoutes`.
pub async fn audio_routes(
    State(state): State<AppState>,
    caller: Caller,
    Path(identifier): Path<String>,
    Body(body): Body<AudioRoutesDto>,
) -> Result<Response, ApiError> {
    let routes = AudioRoutes {
        customer_hears_consultant: body.customer_hears_consultant,
        consultant_hears_customer: body.consultant_hears_customer,
    };
    act_and_show(
        &state,
        &caller,
        &identifier,
        ConsultationAction::SetAudioRoutes(routes),
    )
    .await
}

/// `POST /tasks/{task}/consultationCall/terminateCustomerCall`.
pub async fn terminate_customer_call(
    State(state): State<AppState>,
    caller: Caller,
    Path(identifier): Path<String>,
) -> Result<Response, ApiError> {
    act_and_show(
        &state,
        &caller,
        &identifier,
        ConsultationAction::TerminateCustomerCall,
    )
    .await
}

/// `POST /tasks/{task}/consultationCall/transfer`.
pub async fn transfer(
    State(state): State<AppState>,
    caller: Caller,
    Path(identifier): Path<String>,
) -> Result<Response, ApiError> {
    act_and_show_task(&state, &caller, &identifier, ConsultationAction::Transfer).await
}

/// `POST /tasks/{task}/consultationCall/terminate`.
pub async fn terminate(
    State(state): State<AppState>,
    caller: Caller,
    Path(identifier): Path<String>,
) -> Result<Response, ApiError> {
    act_and_show_task(&state, &caller, &identifier, ConsultationAction::Terminate).await
}

/// `POST /tasks/{task}/consultationCall/leave`.
pub async fn leave(
    State(state): State<AppState>,
    caller: Caller,
    Path(identifier): Path<String>,
) -> Result<Response, ApiError> {
    act_and_show_task(&state, &caller, &identifier, ConsultationAction::Leave).await
}

/// `GET /users/{user}/consultativeCalls`: the consultations the user started or is consulted in.
pub async fn user_consultations(
    State(state): State<AppState>,
    caller: Caller,
    Path(identifier): Path<String>,
) -> Result<Response, ApiError> {
    let tenant = state.tenant(&caller.tenant).await?;
    let items = state.read(&tenant, |engine| -> Result<_, ApiError> {
        let user = find_user(engine, &identifier)?;
        Ok(engine
            .consultations()
            .into_iter()
            .filter(|(_, consultation)| {
                consultation.initiator == user
                    || consultation.target == ConsultationTarget::Agent(user)
            })
            .map(|(task, consultation)| ConsultationCallDto::new(task, consultation))
            .collect::<Vec<_>>())
    })?;
    Ok(Json(items).into_response())
}
