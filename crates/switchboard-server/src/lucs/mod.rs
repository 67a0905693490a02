//! The LUCS dialect (seed 002): `/v1.0` and `/v2.0` endpoints for tasks, users and services. v1.0 lists are bare
//! arrays; v2.0 lists are pages (`?page=N&pageSize=M`, PROTOCOLS.md).

pub mod callbacks;
pub mod consultation;
pub mod directory;
pub mod dto;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Json;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use switchboard_core::{
    AgentId, AgentIdentity, AgentProfile, AgentSpec, Command, Direction, Engine, Level, Outcome,
    Presence, ProfileId, ProfileSpec, ServiceId, ServiceSpec, Span, TaskId, TaskKind, TaskSpec,
    TaskStatus, TerminationReason, TraitRequirement,
};

use crate::auth::{Caller, Role};
use crate::error::ApiError;
use crate::openapi::{schema_of, Answer, Endpoint};
use crate::AppState;
use dto::*;

/// Which API version the path names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApiVersion {
    /// `/v1.0`: lists are bare arrays.
    V1,
    /// `/v2.0`: lists are pages.
    V2,
}

impl<S: Send + Sync> FromRequestParts<S> for ApiVersion {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<ApiVersion, ApiError> {
        if parts.uri.path().starts_with("/v2.0/") {
            Ok(ApiVersion::V2)
        } else {
            Ok(ApiVersion::V1)
        }
    }
}

/// A JSON body whose errors are answered in the LUCS error shape.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Body<T>, ApiError> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(Body(value)),
            Err(JsonRejection::JsonDataError(error)) => Err(ApiError::bad_request(format!(
                "The body does not match the expected fields: {}",
                error.body_text()
            ))),
            Err(JsonRejection::JsonSyntaxError(error)) => Err(ApiError::bad_request(format!(
                "The body is not valid JSON: {}",
                error.body_text()
            ))),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::new(
                axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UnsupportedMediaType",
                "Send the body as JSON with 'Content-Type: application/json'.",
            )),
            Err(JsonRejection::BytesRejection(error)) => Err(ApiError::new(
                error.status(),
                "BodyTooLarge",
                format!("The body could not be read: {}", error.body_text()),
            )),
            Err(other) => Err(ApiError::bad_request(other.body_text())),
        }
    }
}

/// Query parameters whose errors are answered in the LUCS error shape (400), not as axum's plain text.
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Params<T>, ApiError> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(Params(value)),
            Err(rejection) => Err(ApiError::bad_request(format!(
                "The query string cannot be read: {}",
                rejection.body_text()
            ))),
        }
    }
}

/// An optional JSON body: empty means `None`; anything else must parse.
fn optional_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<Option<T>, ApiError> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(None);
    }
    serde_json::from_slice(bytes).map(Some).map_err(|error| {
        ApiError::bad_request(format!("The body is not valid JSON for this call: {error}"))
    })
}

/// `?page=N&pageSize=M` of v2.0 lists: 1-based, default size 100, at most 1000.
#[derive(Debug, Deserialize, Default, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Paging {
    page: Option<usize>,
    page_size: Option<usize>,
}

#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase")]
struct Page<T> {
    items: Vec<T>,
    page: usize,
    page_size: usize,
    total_count: usize,
}

fn list_response<T: Serialize>(
    version: ApiVersion,
    paging: &Paging,
    items: Vec<T>,
) -> Result<Response, ApiError> {
    match version {
        ApiVersion::V1 => Ok(Json(items).into_response()),
        ApiVersion::V2 => {
            let page = paging.page.unwrap_or(1);
            let page_size = paging.page_size.unwrap_or(100);
            if page == 0 {
                return Err(ApiError::invalid("page starts at 1"));
            }
            if page_size == 0 || page_size > 1000 {
                return Err(ApiError::invalid("pageSize must be between 1 and 1000"));
            }
            let total_count = items.len();
            let items: Vec<T> = items
                .into_iter()
                .skip((page - 1).saturating_mul(page_size))
                .take(page_size)
                .collect();
            Ok(Json(Page {
                items,
                page,
                page_size,
                total_count,
            })
            .into_response())
        }
    }
}

/// Documentation-only bodies of endpoints that accept several shapes.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase")]
#[allow(dead_code)]
struct PresenceBody {
    /// Online, Busy, DoNotDisturb, BeRightBack, Away, Offline, InACall, InAConference, InAMeeting, OutOfOffice.
    presence: String,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase")]
#[allow(dead_code)]
struct AbsentBody {
    /// The not-ready reason, at most 100 characters.
    not_ready_reason: String,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase")]
#[allow(dead_code)]
struct ProfileBody {
    /// The profile's name or id.
    profile: String,
}

/// Every endpoint of the LUCS dialect, both versions.
pub fn endpoints() -> Vec<Endpoint> {
    use axum::http::Method;
    use Role::*;
    let read_tasks = [TasksReadonly, TasksManage];
    let read_users = [UserReadonly, UserProvision];
    let read_services = [ServiceReadonly, Configuration];
    let mut list = Vec::new();
    for version in ["v1.0", "v2.0"] {
        let p = |path: &str| format!("/{version}{path}");
        list.extend([
            Endpoint::new(Method::POST, p("/tasks"), "Tasks", "Create a task; answers its id",
                &[TasksManage], Answer::Json(schema_of::<String>), post(create_task))
                .body(schema_of::<CreateTaskDto>),
            Endpoint::new(Method::GET, p("/tasks/{task}"), "Tasks", "Get a task, live or finished (counts as polling)",
                &read_tasks, Answer::Json(schema_of::<TaskDto>), get(get_task)),
            Endpoint::new(Method::POST, p("/tasks/{task}/refresh"), "Tasks",
                "Renew the task's lifetime; an offered task goes back to pending, keeping its place",
                &[TasksManage], Answer::Empty, post(refresh_task))
                .optional_body(schema_of::<RefreshBody>)
                .documented_500("AgentAlreadyConnected: the task is established or on hold (seed 000); nothing \
                    changed")
                .query_of("setAgentOnRona", "true: the agent holding the offer goes into RONA",
                    serde_json::json!({"type": "boolean"})),
            Endpoint::new(Method::POST, p("/tasks/{task}/setestablished"), "Tasks",
                "The agent accepted the offered task", &[TasksManage], Answer::Empty, post(set_established))
                .documented_500("TaskAlreadyEstablished: the task is already established or on hold (seed 000); \
                    nothing changed"),
            Endpoint::new(Method::POST, p("/tasks/{task}/terminate"), "Tasks", "End the task",
                &[TasksManage], Answer::Empty, post(terminate_task)),
            Endpoint::new(Method::POST, p("/tasks/{task}/hold"), "Tasks", "Put an established task on hold",
                &[TasksManage], Answer::Json(schema_of::<TaskStatusDto>), post(hold_task)),
            Endpoint::new(Method::POST, p("/tasks/{task}/resume"), "Tasks", "Resume a task from hold",
                &[TasksManage], Answer::Json(schema_of::<TaskStatusDto>), post(resume_task)),
            Endpoint::new(Method::POST, p("/tasks/{task}/transfer"), "Tasks",
                "Transfer an established task to a service or a user", &[TasksManage], Answer::Empty,
                post(transfer_task))
                .body(schema_of::<TransferBody>),
            Endpoint::new(Method::POST, p("/tasks/{task}/consultationCall"), "Tasks: consultative calls",
                "Consult a user or a number on an established incoming call; the customer goes on hold",
                &[TasksManage], Answer::Json(schema_of::<consultation::ConsultationCallDto>),
                post(consultation::start))
                .body(schema_of::<consultation::ConsultationCallBody>),
            Endpoint::new(Method::GET, p("/tasks/{task}/consultationCall"), "Tasks: consultative calls",
                "The task's consultative call (404 when it has none)", &read_tasks,
                Answer::Json(schema_of::<consultation::ConsultationCallDto>), get(consultation::status)),
            Endpoint::new(Method::POST, p("/tasks/{task}/consultationCall/merge"), "Tasks: consultative calls",
                "Merge the consultation with the customer into one conference", &[TasksManage],
                Answer::Json(schema_of::<consultation::ConsultationCallDto>), post(consultation::merge)),
            Endpoint::new(Method::POST, p("/tasks/{task}/consultationCall/transfer"), "Tasks: consultative calls",
                "Hand the customer to the consulted party: a consulted user has the task at once, an outside \
                 number takes the call out of the contact center; the agent goes to wrap-up", &[TasksManage],
                Answer::Json(schema_of::<TaskStatusDto>), post(consultation::transfer)),
            Endpoint::new(Method::POST, p("/tasks/{task}/consultationCall/terminate"), "Tasks: consultative calls",
                "End the consultation and return to the customer (ends the task if the customer hung up)",
                &[TasksManage], Answer::Json(schema_of::<TaskStatusDto>), post(consultation::terminate)),
            Endpoint::new(Method::POST, p("/tasks/{task}/consultationCall/leave"), "Tasks: consultative calls",
                "The agent leaves a merged consultation; customer and consulted party stay connected",
                &[TasksManage], Answer::Json(schema_of::<TaskStatusDto>), post(consultation::leave)),
            Endpoint::new(Method::POST, p("/tasks/{task}/consultationCall/audioRoutes"), "Tasks: consultative calls",
                "Set who hears whom in a merged consultation", &[TasksManage],
                Answer::Json(schema_of::<consultation::ConsultationCallDto>), post(consultation::audio_routes))
                .body(schema_of::<consultation::AudioRoutesDto>),
            Endpoint::new(Method::POST, p("/tasks/{task}/consultationCall/terminateCustomerCall"),
                "Tasks: consultative calls",
                "End the customer's call; the agent and the consulted party stay connected", &[TasksManage],
                Answer::Json(schema_of::<consultation::ConsultationCallDto>),
                post(consultation::terminate_customer_call)),
            Endpoint::new(Method::GET, p("/users/{user}/consultativeCalls"), "Tasks: consultative calls",
                "The consultative calls the user started or is consulted in", &read_tasks,
                Answer::Json(schema_of::<Vec<consultation::ConsultationCallDto>>),
                get(consultation::user_consultations)),
            Endpoint::new(Method::GET, p("/services/{service}/tasks"), "Tasks",
                "The service's live tasks, waiting ones first in queue order", &read_tasks,
                Answer::List(schema_of::<TaskDto>), get(service_tasks)),
            Endpoint::new(Method::GET, p("/services/{service}/longestwaitingtask"), "Tasks",
                "The task waiting longest in the service", &read_tasks, Answer::Json(schema_of::<TaskDto>),
                get(longest_waiting_task)),
            Endpoint::new(Method::GET, p("/users/{user}/tasks"), "Tasks", "The tasks a user holds",
                &read_tasks, Answer::List(schema_of::<TaskDto>), get(user_tasks)),
            Endpoint::new(Method::GET, p("/services"), "Services", "All services", &read_services,
                Answer::List(schema_of::<ServiceDto>), get(list_services)),
            Endpoint::new(Method::GET, p("/services/count"), "Services", "How many services exist",
                &read_services, Answer::Json(schema_of::<usize>), get(count_services)),
            Endpoint::new(Method::GET, p("/services/{service}"), "Services", "One service", &read_services,
                Answer::Json(schema_of::<ServiceDto>), get(get_service)),
            Endpoint::new(Method::GET, p("/services/{service}/users"), "User provisioning",
                "The users serving the service", &read_users, Answer::List(schema_of::<UserDto>),
                get(service_users)),
            Endpoint::new(Method::GET, p("/users"), "User provisioning", "All users", &read_users,
                Answer::List(schema_of::<UserDto>), get(list_users)),
            Endpoint::new(Method::POST, p("/users"), "User provisioning", "Create a user", &[UserProvision],
                Answer::Json(schema_of::<UserDto>), post(create_user))
                .body(schema_of::<CreateUserDto>),
            Endpoint::new(Method::GET, p("/users/{user}"), "User provisioning", "One user", &read_users,
                Answer::Json(schema_of::<UserDto>), get(get_user)),
            Endpoint::new(Method::DELETE, p("/users/{user}"), "User provisioning",
                "Remove a user (refused while it holds tasks)", &[UserProvision], Answer::Empty,
                axum::routing::delete(delete_user)),
            Endpoint::new(Method::POST, p("/users/{user}/update"), "User provisioning",
                "Change a user: the fields given replace the user's (JSON merge patch)", &[UserProvision],
                Answer::Json(schema_of::<UserDto>), post(update_user))
                .body(schema_of::<CreateUserDto>),
            Endpoint::new(Method::POST, p("/users/{user}/copy"), "User provisioning",
                "Create a new user like this one, with the identity fields given", &[UserProvision],
                Answer::Json(schema_of::<UserDto>), post(copy_user))
                .body(schema_of::<CreateUserDto>),
            Endpoint::new(Method::POST, p("/users/{user}/applytemplate/{template}"), "User provisioning",
                "Copy the fields named in FieldsToUpdate from the template user", &[UserProvision],
                Answer::Json(schema_of::<UserDto>), post(apply_template))
                .body(schema_of::<TemplateBody>),
            Endpoint::new(Method::GET, p("/users/{user}/roles"), "User provisioning", "A user's roles",
                &read_users, Answer::Json(schema_of::<Vec<UserRoleDto>>), get(get_roles)),
            Endpoint::new(Method::POST, p("/users/{user}/roles"), "User provisioning", "Set a user's roles",
                &[UserProvision], Answer::Json(schema_of::<Vec<UserRoleDto>>), post(set_roles))
                .body(schema_of::<Vec<UserRoleDto>>),
            Endpoint::new(Method::POST, p("/callbacks"), "Callbacks", "Create a callback request; answers its id",
                &[TasksManage], Answer::Json(schema_of::<String>), post(callbacks::create_callback))
                .body(schema_of::<callbacks::CallbackDto>),
            Endpoint::new(Method::GET, p("/callbacks"), "Callbacks", "Find a callback by its ExternalTaskId",
                &[TasksManage], Answer::Json(schema_of::<callbacks::CallbackDto>),
                get(callbacks::callback_by_external_id))
                .query("externalTaskId", "the callback's ExternalTaskId"),
            Endpoint::new(Method::GET, p("/callbacks/{callback}"), "Callbacks",
                "A callback by id or ExternalTaskId, live or finished", &[TasksManage],
                Answer::Json(schema_of::<callbacks::CallbackDto>), get(callbacks::get_callback)),
            Endpoint::new(Method::POST, p("/callbacks/{callback}/cancel"), "Callbacks", "Cancel a callback",
                &[TasksManage], Answer::Empty, post(callbacks::cancel_callback)),
            Endpoint::new(Method::POST, p("/callbacks/search"), "Callbacks",
                "Search callbacks by criteria; {} finds all", &[TasksManage],
                Answer::Json(schema_of::<Vec<callbacks::CallbackDto>>), post(callbacks::search_callbacks))
                .body(schema_of::<callbacks::CallbackSearch>),
            Endpoint::new(Method::GET, p("/organizationunits"), "Organization units",
                "All organization units, flat, with their ParentId", &[OuReadonly],
                Answer::List(schema_of::<directory::OrganizationUnitDto>), get(directory::list_units)),
            Endpoint::new(Method::GET, p("/organizationunits/{unit}"), "Organization units",
                "One organization unit (by id or name)", &[OuReadonly],
                Answer::Json(schema_of::<directory::OrganizationUnitDto>), get(directory::get_unit)),
            Endpoint::new(Method::GET, p("/organizationunits/{unit}/services"), "Services",
                "The services of a unit and all its descendants", &read_services,
                Answer::List(schema_of::<ServiceDto>), get(directory::unit_services)),
            Endpoint::new(Method::GET, p("/organizationunits/{unit}/users"), "User provisioning",
                "The users of a unit and all its descendants", &read_users, Answer::List(schema_of::<UserDto>),
                get(directory::unit_users)),
            Endpoint::new(Method::GET, p("/users/{user}/services/conversationas"), "Services",
                "The services a user may start conversations as", &read_services,
                Answer::List(schema_of::<ServiceDto>), get(conversation_as_services)),
            Endpoint::new(Method::POST, p("/tasks/outboundCall/start"), "Tasks",
                "Start an outbound call for a service, by a named user or a free agent; answers the task id",
                &[TasksManage], Answer::Json(schema_of::<String>), post(start_outbound_call))
                .body(schema_of::<OutboundCallBody>),
            Endpoint::new(Method::GET, p("/services/{service}/context"), "Services",
                "The context information the service adds to its tasks", &read_services,
                Answer::Json(schema_of::<Vec<NameValue>>), get(service_context)),
            Endpoint::new(Method::POST, p("/users/{user}/block"), "User control",
                "Block the user from task distribution", &[UserControl], Answer::Json(schema_of::<UserDto>),
                post(block_user)),
            Endpoint::new(Method::POST, p("/users/{user}/unblock"), "User control", "Lift the block",
                &[UserControl], Answer::Json(schema_of::<UserDto>), post(unblock_user)),
            Endpoint::new(Method::POST, p("/users/{user}/setpresence"), "User control", "Set the presence",
                &[UserControl], Answer::Empty, post(set_presence))
                .body(schema_of::<PresenceBody>)
                .query("presence", "the presence, instead of the body"),
        ]);
    }
    list.extend([
        Endpoint::new(Method::POST, "/v2.0/users/{user}/setAbsent", "User control",
            "Mark the user absent with a not-ready reason", &[UserControl], Answer::Json(schema_of::<UserDto>),
            post(set_absent))
            .body(schema_of::<AbsentBody>),
        Endpoint::new(Method::POST, "/v2.0/users/{user}/unsetAbsent", "User control", "Clear the absence",
            &[UserControl], Answer::Json(schema_of::<UserDto>), post(unset_absent)),
        Endpoint::new(Method::POST, "/v2.0/users/{user}/setActiveProfile", "User control",
            "Switch the user's responsibility profile", &[UserControl], Answer::Json(schema_of::<UserDto>),
            post(set_active_profile))
            .optional_body(schema_of::<ProfileBody>)
            .query("profile", "the profile, instead of the body"),
        Endpoint::new(Method::POST, "/v2.0/users/{user}/addBlockTask", "Tasks",
            "Add a block task: the user is busy, reported as working, until it is terminated; answers its id",
            &[TasksManage], Answer::Json(schema_of::<String>), post(add_block_task)),
        Endpoint::new(Method::POST, "/v2.0/users/{user}/setConversationAsService", "User control",
            "Set the service the user's own conversations appear as", &[UserControl],
            Answer::Json(schema_of::<UserDto>), post(set_conversation_as_service))
            .body(schema_of::<ConversationAsBody>),
        Endpoint::new(Method::GET, "/v2.0/profiles", "User provisioning",
            "Every responsibility profile (id, name, off-duty flag)", &[UserReadonly, UserProvision],
            Answer::Json(schema_of::<Vec<ProfileInfoDto>>), get(list_profiles)),
        Endpoint::new(Method::GET, "/v2.0/usersStates", "User control", "Live state of every user",
            &[UserControl], Answer::List(schema_of::<UserStateDto>), get(users_states)),
        Endpoint::new(Method::GET, "/v2.0/usersStates/{user}", "User control", "Live state of one user",
            &[UserControl], Answer::Json(schema_of::<UserStateDto>), get(user_state)),
        Endpoint::new(Method::GET, "/v2.0/services/{service}/usersStates", "User control",
            "Live state of the users serving a service", &[UserControl],
            Answer::List(schema_of::<UserStateDto>), get(service_users_states)),
        Endpoint::new(Method::GET, "/v2.0/organizationunits/{unit}/usersStates", "User control",
            "Live state of the users of a unit and its descendants", &[UserControl],
            Answer::List(schema_of::<UserStateDto>), get(directory::unit_users_states)),
        Endpoint::new(Method::GET, "/v2.0/users/{user}/getAbsentReasons", "User control",
            "The absence reasons a user can be set absent with", &[UserControl],
            Answer::Json(schema_of::<Vec<directory::AbsenceReasonDto>>), get(directory::get_absent_reasons)),
        Endpoint::new(Method::POST, "/v2.0/organizationunits", "Configuration",
            "Create an organization unit, or update the one with the same Id (or Name)", &[Configuration],
            Answer::Json(schema_of::<directory::OrganizationUnitDto>), post(directory::upsert_unit))
            .body(schema_of::<directory::OrganizationUnitDto>)
            .extension(),
        Endpoint::new(Method::DELETE, "/v2.0/organizationunits/{unit}", "Configuration",
            "Remove an organization unit without child units, services or users", &[Configuration],
            Answer::Empty, axum::routing::delete(directory::delete_unit))
            .extension(),
        Endpoint::new(Method::POST, "/v2.0/absencereasons", "Configuration", "Add an absence reason",
            &[Configuration], Answer::Json(schema_of::<Vec<directory::AbsenceReasonDto>>),
            post(directory::add_absence_reason))
            .body(schema_of::<directory::AbsenceReasonDto>)
            .extension(),
        Endpoint::new(Method::DELETE, "/v2.0/absencereasons/{reason}", "Configuration",
            "Remove an absence reason", &[Configuration], Answer::Empty,
            axum::routing::delete(directory::delete_absence_reason))
            .extension(),
        Endpoint::new(Method::POST, "/v2.0/configuration", "Configuration",
            "Apply a configuration: settings, profiles, services, users; what is already as described is left \
             alone, so applying it twice changes nothing", &[Configuration],
            Answer::Json(schema_of::<crate::configuration::ConfigurationReport>), post(apply_configuration))
            .body(schema_of::<crate::configuration::Configuration>)
            .extension(),
        Endpoint::new(Method::POST, "/v2.0/services", "Configuration",
            "Create a service, or update the one with the same Id or SipUri", &[Configuration],
            Answer::Json(schema_of::<ServiceDto>), post(upsert_service))
            .body(schema_of::<ServiceDto>)
            .extension(),
    ]);
    list
}

// ----- identifiers -------------------------------------------------------------------------------------------

pub(crate) fn find_service(engine: &Engine, identifier: &str) -> Result<ServiceId, ApiError> {
    engine.service_by_identifier(identifier).ok_or_else(|| {
        ApiError::not_found("ServiceNotFound", format!("No service '{identifier}'."))
    })
}

pub(crate) fn find_user(engine: &Engine, identifier: &str) -> Result<AgentId, ApiError> {
    engine
        .agent_by_identifier(identifier)
        .ok_or_else(|| ApiError::not_found("UserNotFound", format!("No user '{identifier}'.")))
}

fn find_live_task(engine: &Engine, identifier: &str) -> Option<TaskId> {
    if let Ok(uuid) = identifier.parse::<uuid::Uuid>() {
        if engine.task_info(TaskId(uuid)).is_some() {
            return Some(TaskId(uuid));
        }
    }
    engine.task_by_external_id(identifier)
}

fn task_not_found(identifier: &str) -> ApiError {
    ApiError::not_found("TaskNotFound", format!("No task '{identifier}'."))
}

// ----- tasks ---------------------------------------------------------------------------------------------------

async fn create_task(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<CreateTaskDto>,
) -> Result<Response, ApiError> {
    let tenant = state.tenant(&caller.tenant).await?;
    let service_ref = body
        .service
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::bad_request("'Service' is required: a service id or SIP URI."))?;
    let priority = match &body.priority {
        Some(value) => parse_priority(value).map_err(ApiError::invalid)?,
        None => Default::default(),
    };
    let rona_timeout = match body.rona_timeout_in_seconds {
        Some(seconds) if !(1..=86_400).contains(&seconds) => {
            return Err(ApiError::invalid(
                "DistributeToAgentRONATimeoutInSeconds must be between 1 and 86400",
            ))
        }
        Some(seconds) => Some(Span::from_secs(seconds)),
        None => None,
    };
    let kind = match body.task_type.as_deref() {
        None | Some("ExternalNonBlocking") | Some("External") => TaskKind::External,
        // A switchboard extension: a telephony, chat or mail connector queues its contacts through the same call.
        Some("IncomingCall") => TaskKind::Call,
        Some("InstantMessage") => TaskKind::Chat,
        Some("Email") => TaskKind::Mail,
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "Type '{other}' cannot be created here; use ExternalNonBlocking, IncomingCall, InstantMessage or \
                 Email (callbacks, outbound calls and block tasks have their own endpoints)"
            )))
        }
    };
    if body
        .external_task_id
        .as_deref()
        .is_some_and(|e| e.len() > 256)
    {
        return Err(ApiError::invalid(
            "ExternalTaskId is longer than 256 characters",
        ));
    }
    let spec = state.read(&tenant, |engine| -> Result<TaskSpec, ApiError> {
        let service = find_service(engine, service_ref)?;
        let mut spec = TaskSpec::new(TaskId(uuid::Uuid::new_v4()), service);
        spec.kind = kind;
        spec.direction = Direction::Inbound;
        spec.external_id = body.external_task_id.clone().filter(|e| !e.is_empty());
        spec.customer = body.caller.clone().unwrap_or_default();
        spec.priority = priority;
        for agent in &body.preferred_agents {
            spec.preferred_agents.push(find_user(engine, agent)?);
        }
        spec.preferred_only = body.consider_preferred_agents_only;
        spec.required_capabilities = body.required.unwrap_or_default().to_capabilities();
        spec.distribute = body.distribute_to_agent.unwrap_or(true);
        spec.rona_timeout = rona_timeout;
        spec.context = body
            .context_parameters
            .iter()
            .map(|p| (p.name.clone(), p.value.clone()))
            .collect();
        Ok(spec)
    })?;
    if spec.preferred_only && spec.preferred_agents.is_empty() {
        return Err(ApiError::invalid(
            "ConsiderPreferredAgentsOnly needs at least one entry in PreferredAgents",
        ));
    }
    let id = spec.id;
    state.command(&tenant, Command::CreateTask(spec)).await?;
    Ok(Json(id.to_string()).into_response())
}

async fn get_task(
    State(state): State<AppState>,
    caller: Caller,
    Path(identifier): Path<String>,
) -> Result<Response, ApiError> {
    let tenant = state.tenant(&caller.tenant).await?;
    let live = state.read(&tenant, |engine| find_live_task(engine, &identifier));
    if let Some(task) = live {
        // Reading a task is what keeps it from being abandoned (seed 002's polling timeout).
        let polling = state.read(&tenant, |engine| {
            engine.config().max_polling_timeout.is_some()
        });
        if polling {
            state.command(&tenant, Command::Poll(task)).await?;
        }
        let now = state.now();
        let dto = state.read(&tenant, |engine| {
            engine
                .task_info(task)
                .map(|info| TaskDto::from_task(engine, &info, now, true))
        });
        if let Some(dto) = dto {
            return Ok(Json(dto).into_response());
        }
    }
    let store_state = state.clone();
    let tenant_name = caller.tenant.clone();
    let wanted = identifier.clone();
    let finished = tokio::task::spawn_blocking(move || {
        store_state.store().history_task(&tenant_name, &wanted)
    })
    .await
    .map_err(|_| task_not_found(&identifier))??;
    match finished {
        Some(info) => {
            let now = state.now();
            let dto = state.read(&tenant, |engine| {
                TaskDto::from_task(engine, &info, now, true)
            });
            Ok(Json(dto).into_response())
        }
        None => Err(task_not_found(&identifier)),
    }
}

#[derive(Deserialize, Default, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct RefreshQuery {
    set_agent_on_rona: Option<bool>,
}

#[derive(Deserialize, Default, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase", default)]
struct RefreshBody {
    set_agent_on_rona: Option<bool>,
}

pub(crate) async fn live_task(
    state: &AppState,
    tenant: &crate::TenantHandle,
    identifier: &str,
) -> Result<TaskId, ApiError> {
    state
        .read(tenant, |engine| find_live_task(engine, identifier))
        .ok_or_else(|| task_not_found(identifier))
}

async fn refresh_task(
    State(state): State<AppState>,
    caller: Caller,
    Path(identifier): Path<String>,
    Params(query): Params<RefreshQuery>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let body: Option<RefreshBody> = optional_json(&body)?;
    let tenant = state.tenant(&caller.tenant).await?;
    let task = live_task(&state, &tenant, &identifier).await?;
    let set_agent_on_rona = query
        .set_agent_on_rona
        .or(body.and_then(|b| b.set_agent_on_rona))
        .unwrap_or(false);
    state
        .command(
            &tenant,
            Command::Refresh {
                task,
                set_agent_on_rona,
            },
        )
        .await?;
    Ok(axum::http::StatusCode::OK.into_response())
}

/// Runs one command on a live task named by id or external id (role TasksManage); returns the tenant and task.
async fn task_command(
    state: &AppState,
    caller: &Caller,
    identifier: &str,
    command: impl FnOnce(TaskId) -> Command,
) -> Result<(std::sync::Arc<crate::TenantHandle>, TaskId), ApiError> {
    let tenant = state.tenant(&caller.tenant).await?;
    let task = live_task(state, &tenant, identifier).await?;
    state.command(&tenant, command(task)).await?;
    Ok((tenant, task))
}

async fn set_established(
    State(state): State<AppState>,
    caller: Caller,
    Path(identifier): Path<String>,
) -> Result<Response, ApiError> {
    task_command(&state, &caller, &identifier, |task| Command::Establish {
        task,
        agent: None,
    })
    .await?;
    Ok(axum::http::StatusCode::OK.into_response())
}

async fn terminate_task(
    State(state): State<AppState>,
    caller: Caller,
    Path(identifier): Path<String>,
) -> Result<Response, ApiError> {
    let tenant = state.tenant(&caller.tenant).await?;
    let task = live_task(&state, &tenant, &identifier).await?;
    let handled = state.read(&tenant, |engine| {
        engine
            .task_info(task)
            .is_some_and(|t| matches!(t.status, TaskStatus::Established | TaskStatus::OnHold))
    });
    let reason = if handled {
        TerminationReason::Completed
    } else {
        TerminationReason::Cancelled
    };
    state
        .command(&tenant, Command::Terminate { task, reason })
        .await?;
    Ok(axum::http::StatusCode::OK.into_response())
}

async fn hold_or_resume(
    state: AppState,
    caller: Caller,
    identifier: String,
    hold: bool,
) -> Result<Response, ApiError> {
    let command = if hold { Command::Hold } else { Command::Resume };
    let (tenant, task) = task_command(&state, &caller, &identifier, command).await?;
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

async fn hold_task(
    State(state): State<AppState>,
    caller: Caller,
    Path(identifier): Path<String>,
) -> Result<Response, ApiError> {
    hold_or_resume(state, caller, identifier, true).await
}

async fn resume_task(
    State(state): State<AppState>,
    caller: Caller,
    Path(identifier): Path<String>,
) -> Result<Response, ApiError> {
    hold_or_resume(state, caller, identifier, false).await
}

async fn service_tasks(
    State(state): State<AppState>,
    caller: Caller,
    version: ApiVersion,
    Path(identifier): Path<String>,
    Params(paging): Params<Paging>,
) -> Result<Response, ApiError> {
    let tenant = state.tenant(&caller.tenant).await?;
    let now = state.now();
    let items = state.read(&tenant, |engine| -> Result<Vec<TaskDto>, ApiError> {
        let service = find_service(engine, &identifier)?;
        Ok(engine
            .service_tasks(service)
            .into_iter()
            .filter_map(|task| engine.task_info(task))
            .map(|info| TaskDto::from_task(engine, &info, now, true))
            .collect())
    })?;
    list_response(version, &paging, items)
}

async fn longest_waiting_task(
    State(state): State<AppState>,
    caller: Caller,
    Path(identifier): Path<String>,
) -> Result<Response, ApiError> {
    let tenant = state.tenant(&caller.tenant).await?;
    let now = state.now();
    let dto = state.read(&tenant, |engine| -> Result<Option<TaskDto>, ApiError> {
        let service = find_service(engine, &identifier)?;
        Ok(engine
            .longest_waiting(service)
            .and_then(|task| engine.task_info(task))
            .map(|info| TaskDto::from_task(engine, &info, now, true)))
    })?;
    match dto {
        Some(dto) => Ok(Json(dto).into_response()),
        None => Err(ApiError::not_found(
            "TaskNotFound",
            format!("No task is waiting in service '{identifier}'."),
        )),
    }
}

async fn user_tasks(
    State(state): State<AppState>,
    caller: Caller,
    version: ApiVersion,
    Path(identifier): Path<String>,
    Params(paging): Params<Paging>,
) -> Result<Response, ApiError> {
    let tenant = state.tenant(&caller.tenant).await?;
    let now = state.now();
    let items = state.read(&tenant, |engine| -> Result<Vec<TaskDto>, ApiError> {
        let agent = find_user(engine, &identifier)?;
        let info = engine
            .agent_info(agent)
            .ok_or_else(|| task_not_found(&identifier))?;
        Ok(info
            .tasks
            .iter()
            .filter_map(|task| engine.task_info(*task))
            .map(|task| TaskDto::from_task(engine, &task, now, true))
            .collect())
    })?;
    list_response(version, &paging, items)
}

// ----- users ---------------------------------------------------------------------------------------------------

fn user_dtos(engine: &Engine, agents: impl IntoIterator<Item = AgentId>) -> Vec<UserDto> {
    agents
        .into_iter()
        .filter_map(|agent| engine.agent_info(agent))
        .map(|info| UserDto::from_agent(engine, &info))
        .collect()
}

async fn list_users(
    State(state): State<AppState>,
    caller: Caller,
    version: ApiVersion,
    Params(paging): Params<Paging>,
) -> Result<Response, ApiError> {
    let tenant = state.tenant(&caller.tenant).await?;
    let items = state.read(&tenant, |engine| user_dtos(engine, engine.agents()));
    list_response(version, &paging, items)
}

async fn get_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(identifier): Path<String>,
) -> Result<Response, ApiError> {
    let tenant = state.tenant(&caller.tenant).await?;
    let dto = state.read(&tenant, |engine| -> Result<UserDto, ApiError> {
        let agent = find_user(engine, &identifier)?;
        Ok(user_dtos(engine, [agent]).remove(0))
    })?;
    Ok(Json(dto).into_response())
}

async fn service_users(
    State(state): State<AppState>,
    caller: Caller,
    version: ApiVersion,
    Path(identifier): Path<String>,
    Params(paging): Params<Paging>,
) -> Result<Response, ApiError> {
    let tenant = state.tenant(&caller.tenant).await?;
    let items = state.read(&tenant, |engine| -> Result<Vec<UserDto>, ApiError> {
        let service = find_service(engine, &identifier)?;
        let members = engine
            .service_info(service)
            .map(|s| s.members)
            .unwrap_or_default();
        Ok(user_dtos(engine, members))
    })?;
    list_response(version, &paging, items)
}

/// A membership given when creating a user (switchboard extension).
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase")]
pub struct MembershipDto {
    service: String,
    #[serde(default)]
    penalty: u32,
}

/// The body of user creation: the fields of seed 001's DTO (all optional but `SipUri`), plus switchboard's
/// `Services` (explicit queue memberships), `PhoneLine` and `AgentGroup`.
#[derive(Clone, Debug, Serialize, Deserialize, Default, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase", default)]
pub struct CreateUserDto {
    id: Option<String>,
    sip_uri: String,
    first_name: String,
    last_name: String,
    upn: String,
    email: String,
    current_profile: Option<String>,
    default_profile: Option<String>,
    number_of_simultaneous_im: Option<u16>,
    is_busy_selectable: bool,
    is_busy_in_a_meeting_selectable: bool,
    show_away_as_offline: bool,
    traits: Vec<TraitDto>,
    profiles: Vec<ProfileDto>,
    capabilities: Option<CapabilitiesDto>,
    services: Vec<MembershipDto>,
    phone_line: Option<String>,
    agent_group: u32,
    #[serde(rename = "AAConfiguration")]
    aa_configuration: Option<String>,
    recording_type: Option<String>,
    sid: Option<String>,
    sam: Option<String>,
    roles: Vec<UserRoleDto>,
    organization_unit_node_id: Option<String>,
    conversation_as_service: Option<String>,
}

async fn create_user(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<CreateUserDto>,
) -> Result<Response, ApiError> {
    let tenant = state.tenant(&caller.tenant).await?;
    let dto = upsert_user(&state, &tenant, body).await?;
    Ok(Json(dto).into_response())
}

/// Creates or replaces a user from a full description.
/// The checks of a user body that need no engine (its SIP URI, id, profile names, traits and responsibilities);
/// answers the id it names, if any. A body refused here changes nothing.
pub(crate) fn user_fields(body: &CreateUserDto) -> Result<Option<AgentId>, ApiError> {
    if body.sip_uri.trim().is_empty() {
        return Err(ApiError::bad_request("'SipUri' is required."));
    }
    let id = match &body.id {
        Some(id) => {
            Some(AgentId(id.parse().map_err(|_| {
                ApiError::invalid(format!("Id '{id}' is not a UUID"))
            })?))
        }
        None => None,
    };
    if body
        .profiles
        .iter()
        .map(|p| p.name.as_str())
        .chain(body.current_profile.as_deref())
        .chain(body.default_profile.as_deref())
        .any(|name| name.trim().is_empty())
    {
        return Err(ApiError::invalid("A profile name must not be empty."));
    }
    for t in &body.traits {
        trait_node(&t.trait_node)?;
        trait_level(&t.attribute)?;
    }
    for r in body.profiles.iter().flat_map(|p| &p.responsibilities) {
        trait_node(&r.trait_node)?;
        responsibility_level(&r.responsibility)?;
    }
    Ok(id)
}

async fn upsert_user(
    state: &AppState,
    tenant: &crate::TenantHandle,
    body: CreateUserDto,
) -> Result<UserDto, ApiError> {
    // Profiles and trait names are created by commands of their own before the user is: everything a body can be
    // refused for is checked first, so a refused body changes nothing.
    let id = user_fields(&body)?.unwrap_or_else(|| AgentId(uuid::Uuid::new_v4()));
    state.read(tenant, |engine| -> Result<(), ApiError> {
        sip_uri_free(engine, &body.sip_uri, id)?;
        for membership in &body.services {
            find_service(engine, &membership.service)?;
        }
        Ok(())
    })?;
    // Profiles named by the user that the tenant does not have yet are created (an `OffDuty` profile is off duty).
    let mut profile_names: Vec<String> = body.profiles.iter().map(|p| p.name.clone()).collect();
    profile_names.extend(body.current_profile.clone());
    profile_names.extend(body.default_profile.clone());
    let known = state.read(tenant, |engine| {
        engine
            .profiles()
            .iter()
            .map(|p| (p.name.to_lowercase(), p.id))
            .collect::<std::collections::HashMap<_, _>>()
    });
    let mut profile_ids = known.clone();
    for name in profile_names {
        if profile_ids.contains_key(&name.to_lowercase()) {
            continue;
        }
        let profile = ProfileId(uuid::Uuid::new_v4());
        state
            .command(
                tenant,
                Command::UpsertProfile(ProfileSpec {
                    id: profile,
                    name: name.clone(),
                    off_duty: name.eq_ignore_ascii_case("OffDuty"),
                }),
            )
            .await?;
        profile_ids.insert(name.to_lowercase(), profile);
    }
    // Trait names become trait ids through logged commands, so a replay interns them identically.
    let mut trait_names: Vec<String> = body.traits.iter().map(|t| t.trait_node.clone()).collect();
    for profile in &body.profiles {
        trait_names.extend(
            profile
                .responsibilities
                .iter()
                .map(|r| r.trait_node.clone()),
        );
    }
    let mut trait_ids = std::collections::HashMap::new();
    for name in trait_names {
        if let Outcome::Trait(id) = state
            .command(tenant, Command::InternTrait(name.clone()))
            .await?
        {
            trait_ids.insert(name, id);
        }
    }
    let spec = state.read(tenant, |engine| -> Result<AgentSpec, ApiError> {
        // Checked again: another request may have taken the SIP URI meanwhile.
        sip_uri_free(engine, &body.sip_uri, id)?;
        let display = format!("{} {}", body.first_name, body.last_name)
            .trim()
            .to_string();
        let mut spec = AgentSpec::new(
            id,
            if display.is_empty() {
                body.sip_uri.clone()
            } else {
                display
            },
        );
        spec.identity = AgentIdentity {
            sip_uri: body.sip_uri.clone(),
            upn: body.upn.clone(),
            email: body.email.clone(),
            first_name: body.first_name.clone(),
            last_name: body.last_name.clone(),
            attributes: [
                ("AAConfiguration", body.aa_configuration.clone()),
                ("RecordingType", body.recording_type.clone()),
                ("Sid", body.sid.clone()),
                ("Sam", body.sam.clone()),
                (
                    "OrganizationUnitNodeId",
                    body.organization_unit_node_id.clone(),
                ),
                (
                    "ConversationAsService",
                    body.conversation_as_service.clone(),
                ),
                (
                    "Roles",
                    (!body.roles.is_empty())
                        .then(|| serde_json::to_string(&body.roles).unwrap_or_default()),
                ),
            ]
            .into_iter()
            .filter_map(|(name, value)| value.map(|v| (name.to_string(), v)))
            .collect(),
        };
        for t in &body.traits {
            spec.traits
                .push((trait_ids[&t.trait_node], trait_level(&t.attribute)?));
        }
        for p in &body.profiles {
            let mut responsibilities = Vec::new();
            for r in &p.responsibilities {
                let level = responsibility_level(&r.responsibility)?;
                responsibilities.push((trait_ids[&r.trait_node], level));
            }
            spec.profiles.push(AgentProfile {
                profile: profile_ids[&p.name.to_lowercase()],
                responsibilities,
            });
        }
        let default = body
            .default_profile
            .clone()
            .or(body.current_profile.clone());
        spec.default_profile = default.map(|name| profile_ids[&name.to_lowercase()]);
        if let Some(profile) = spec.default_profile {
            if !spec.profiles.iter().any(|p| p.profile == profile) {
                spec.profiles.push(AgentProfile {
                    profile,
                    responsibilities: Vec::new(),
                });
            }
        }
        spec.capabilities = body
            .capabilities
            .map(|c| c.to_capabilities())
            .unwrap_or(spec.capabilities);
        spec.chat_capacity = body.number_of_simultaneous_im.unwrap_or(spec.chat_capacity);
        spec.presence_settings.busy_selectable = body.is_busy_selectable;
        spec.presence_settings.busy_in_meeting_selectable = body.is_busy_in_a_meeting_selectable;
        spec.presence_settings.show_away_as_offline = body.show_away_as_offline;
        for membership in &body.services {
            spec.memberships.push((
                find_service(engine, &membership.service)?,
                membership.penalty,
            ));
        }
        spec.phone_line = body.phone_line.clone();
        spec.group = body.agent_group;
        Ok(spec)
    })?;
    let unchanged = state.read(tenant, |engine| {
        engine.agent_info(id).is_some_and(|info| info.spec == spec)
    });
    if !unchanged {
        state.command(tenant, Command::UpsertAgent(spec)).await?;
    }
    Ok(state.read(tenant, |engine| user_dtos(engine, [id]).remove(0)))
}

fn trait_node(name: &str) -> Result<(), ApiError> {
    if name.trim().is_empty() {
        return Err(ApiError::invalid("TraitNode must not be empty"));
    }
    Ok(())
}

fn trait_level(text: &str) -> Result<Level, ApiError> {
    parse_level(&TRAIT_LEVELS, text).ok_or_else(|| {
        ApiError::invalid(format!(
            "unknown trait level '{text}' (use {} or 1-255)",
            TRAIT_LEVELS.map(|(n, _)| n).join(", ")
        ))
    })
}

fn responsibility_level(text: &str) -> Result<Level, ApiError> {
    parse_level(&RESPONSIBILITY_LEVELS, text).ok_or_else(|| {
        ApiError::invalid(format!(
            "unknown responsibility '{text}' (use Low, Medium, High or 1-255)"
        ))
    })
}

/// No other user than `id` has this SIP URI.
fn sip_uri_free(engine: &Engine, sip_uri: &str, id: AgentId) -> Result<(), ApiError> {
    if engine
        .agent_by_identifier(sip_uri)
        .is_some_and(|other| other != id)
    {
        return Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "Conflict",
            format!("Another user has SipUri '{sip_uri}'."),
        ));
    }
    Ok(())
}

/// Creates or updates the user with the body's `Id`, or else its `SipUri`; an unchanged user is left alone.
/// Returns the user and whether anything changed.
pub(crate) async fn apply_user(
    state: &AppState,
    tenant: &crate::TenantHandle,
    mut body: CreateUserDto,
) -> Result<(UserDto, bool), ApiError> {
    if body.id.is_none() {
        body.id = state.read(tenant, |engine| {
            engine
                .agent_by_identifier(&body.sip_uri)
                .map(|a| a.to_string())
        });
    }
    let before = body
        .id
        .as_ref()
        .and_then(|id| id.parse::<uuid::Uuid>().ok())
        .and_then(|id| {
            state.read(tenant, |engine| {
                engine.agent_info(AgentId(id)).map(|i| i.spec)
            })
        });
    let dto = upsert_user(state, tenant, body).await?;
    let after = dto.id.parse::<uuid::Uuid>().ok().and_then(|id| {
        state.read(tenant, |engine| {
            engine.agent_info(AgentId(id)).map(|i| i.spec)
        })
    });
    Ok((dto, before != after))
}

impl CreateUserDto {
    /// The user's SIP URI.
    pub fn sip_uri(&self) -> &str {
        &self.sip_uri
    }

    /// The services the user is a member of, as the body names them.
    pub fn service_identifiers(&self) -> impl Iterator<Item = &str> {
        self.services.iter().map(|m| m.service.as_str())
    }
}

/// switchboard extension: applies a configuration document (settings, profiles, services, users).
async fn apply_configuration(
    State(state): State<AppState>,
    caller: Caller,
    Body(config): Body<crate::configuration::Configuration>,
) -> Result<Response, ApiError> {
    let tenant = state.tenant(&caller.tenant).await?;
    let report = crate::configuration::apply_as(&state, &tenant, config, &caller.roles).await?;
    Ok(Json(report).into_response())
}

/// A user as the body that would create it, for update, copy and templates.
fn user_as_create_body(engine: &Engine, agent: AgentId) -> Option<CreateUserDto> {
    let info = engine.agent_info(agent)?;
    let user = UserDto::from_agent(engine, &info);
    let attribute = |name: &str| {
        info.spec
            .identity
            .attributes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    Some(CreateUserDto {
        id: Some(user.id),
        sip_uri: user.sip_uri,
        first_name: user.first_name,
        last_name: user.last_name,
        upn: user.upn,
        email: user.email,
        current_profile: user.current_profile,
        default_profile: user.default_profile,
        number_of_simultaneous_im: Some(user.number_of_simultaneous_im),
        is_busy_selectable: user.is_busy_selectable,
        is_busy_in_a_meeting_selectable: user.is_busy_in_a_meeting_selectable,
        show_away_as_offline: user.show_away_as_offline,
        traits: user.traits,
        profiles: user.profiles,
        capabilities: Some(user.capabilities),
        services: info
            .spec
            .memberships
            .iter()
            .map(|(service, penalty)| MembershipDto {
                service: service.to_string(),
                penalty: *penalty,
            })
            .collect(),
        phone_line: info.spec.phone_line.clone(),
        agent_group: info.spec.group,
        aa_configuration: attribute("AAConfiguration"),
        recording_type: attribute("RecordingType"),
        sid: attribute("Sid"),
        sam: attribute("Sam"),
        roles: user.roles,
        organization_unit_node_id: attribute("OrganizationUnitNodeId"),
        conversation_as_service: attribute("ConversationAsService"),
    })
}

/// Applies a JSON merge patch (RFC 7396) of `patch` onto `target`.
fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(fields) => {
            if !target.is_object() {
                *target = Value::Object(Default::default());
            }
            let object = target.as_object_mut().expect("object");
            for (name, value) in fields {
                if value.is_null() {
                    object.remove(name);
                } else {
                    merge_patch(object.entry(name.clone()).or_insert(Value::Null), value);
                }
            }
        }
        other => *target = other.clone(),
    }
}

fn patched(current: &CreateUserDto, patch: &Value) -> Result<CreateUserDto, ApiError> {
    let mut value = serde_json::to_value(current).map_err(|e| ApiError::invalid(e.to_string()))?;
    merge_patch(&mut value, patch);
    serde_json::from_value(value).map_err(|error| {
        ApiError::bad_request(format!(
            "The body does not match the user's fields: {error}"
        ))
    })
}

fn current_user(
    state: &AppState,
    tenant: &crate::TenantHandle,
    identifier: &str,
) -> Result<CreateUserDto, ApiError> {
    state.read(tenant, |engine| {
        let agent = find_user(engine, identifier)?;
        user_as_create_body(engine, agent)
            .ok_or_else(|| ApiError::not_found("UserNotFound", "gone"))
    })
}

/// `POST /users/{user}/update`: the fields given replace the user's (JSON merge patch); the id stays.
async fn update_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(identifier): Path<String>,
    Body(patch): Body<Value>,
) -> Result<Response, ApiError> {
    let tenant = state.tenant(&caller.tenant).await?;
    let current = current_user(&state, &tenant, &identifier)?;
    let mut updated = patched(&current, &patch)?;
    updated.id = current.id.clone();
    Ok(Json(upsert_user(&state, &tenant, updated).await?).into_response())
}

/// `POST /users/{user}/copy`: a new user like this one, with the identity fields of the body.
async fn copy_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(identifier): Path<String>,
    Body(patch): Body<Value>,
) -> Result<Response, ApiError> {
    let tenant = state.tenant(&caller.tenant).await?;
    let current = current_user(&state, &tenant, &identifier)?;
    let mut copy = patched(&current, &patch)?;
    copy.id = None;
    if copy.sip_uri.eq_ignore_ascii_case(&current.sip_uri) {
        return Err(ApiError::invalid("A copy needs its own SipUri."));
    }
    Ok(Json(upsert_user(&state, &tenant, copy).await?).into_response())
}

#[derive(Deserialize, schemars::JsonSchema, Default)]
#[serde(rename_all = "PascalCase", default)]
struct TemplateBody {
    /// Fields of the user DTO to copy from the template, such as `Traits`, `Profiles`, `Services`.
    fields_to_update: Vec<String>,
}

/// `POST /users/{user}/applytemplate/{template}`: copies the named fields from the template user.
async fn apply_template(
    State(state): State<AppState>,
    caller: Caller,
    Path((identifier, template)): Path<(String, String)>,
    Body(body): Body<TemplateBody>,
) -> Result<Response, ApiError> {
    let tenant = state.tenant(&caller.tenant).await?;
    let current = current_user(&state, &tenant, &identifier)?;
    let source = serde_json::to_value(current_user(&state, &tenant, &template)?)
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    let mut patch = serde_json::Map::new();
    for field in &body.fields_to_update {
        if ["Id", "SipUri", "Upn", "Email"].contains(&field.as_str()) {
            return Err(ApiError::invalid(format!(
                "'{field}' identifies a user and cannot come from a template"
            )));
        }
        let value = source
            .get(field)
            .ok_or_else(|| ApiError::invalid(format!("unknown field '{field}'")))?;
        patch.insert(field.clone(), value.clone());
    }
    let mut updated = patched(&current, &Value::Object(patch))?;
    updated.id = current.id.clone();
    Ok(Json(upsert_user(&state, &tenant, updated).await?).into_response())
}

async fn delete_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(identifier): Path<String>,
) -> Result<Response, ApiError> {
    let tenant = state.tenant(&caller.tenant).await?;
    let agent = state.read(&tenant, |engine| find_user(engine, &identifier))?;
    state.command(&tenant, Command::RemoveAgent(agent)).await?;
    Ok(axum::http::StatusCode::OK.into_response())
}

async fn get_roles(
    State(state): State<AppState>,
    caller: Caller,
    Path(identifier): Path<String>,
) -> Result<Response, ApiError> {
    let tenant = state.tenant(&caller.tenant).await?;
    Ok(Json(current_user(&state, &tenant, &identifier)?.roles).into_response())
}

async fn set_roles(
    State(state): State<AppState>,
    caller: Caller,
    Path(identifier): Path<String>,
    Body(roles): Body<Vec<UserRoleDto>>,
) -> Result<Response, ApiError> {
    let tenant = state.tenant(&caller.tenant).await?;
    let mut user = current_user(&state, &tenant, &identifier)?;
    user.roles = roles;
    let dto = upsert_user(&state, &tenant, user).await?;
    Ok(Json(dto.roles).into_response())
}

/// The services a user may start conversations as: the services it serves.
async fn conversation_as_services(
    State(state): State<AppState>,
    caller: Caller,
    version: ApiVersion,
    Path(identifier): Path<String>,
    Params(paging): Params<Paging>,
) -> Result<Response, ApiError> {
    let tenant = state.tenant(&caller.tenant).await?;
    let items = state.read(&tenant, |engine| -> Result<Vec<ServiceDto>, ApiError> {
        let agent = find_user(engine, &identifier)?;
        let info = engine
            .agent_info(agent)
            .ok_or_else(|| ApiError::not_found("UserNotFound", "gone"))?;
        Ok(info
            .memberships
            .iter()
            .filter_map(|(service, _)| engine.service_info(*service))
            .map(|service| ServiceDto::from_service(engine, &service))
            .collect())
    })?;
    list_response(version, &paging, items)
}

#[derive(Deserialize, schemars::JsonSchema, Default)]
#[serde(rename_all = "PascalCase", default)]
struct ConversationAsBody {
    /// A service the user serves (id or SIP URI), or none to clear.
    service: Option<String>,
}

/// Sets the service the user's own conversations appear as; it must be one the user serves.
async fn set_conversation_as_service(
    State(state): State<AppState>,
    caller: Caller,
    Path(identifier): Path<String>,
    Body(body): Body<ConversationAsBody>,
) -> Result<Response, ApiError> {
    let tenant = state.tenant(&caller.tenant).await?;
    let mut user = current_user(&state, &tenant, &identifier)?;
    user.conversation_as_service = match &body.service {
        None => None,
        Some(service) => {
            let name = state.read(&tenant, |engine| -> Result<String, ApiError> {
                let service = find_service(engine, service)?;
                let agent = find_user(engine, &identifier)?;
                let serves = engine
                    .agent_info(agent)
                    .is_some_and(|info| info.memberships.iter().any(|(s, _)| *s == service));
                if !serves {
                    return Err(ApiError::invalid("the user does not serve that service"));
                }
                Ok(engine
                    .service_info(service)
                    .map(|s| s.spec.name)
                    .unwrap_or_default())
            })?;
            Some(name)
        }
    };
    Ok(Json(upsert_user(&state, &tenant, user).await?).into_response())
}

#[derive(Deserialize, schemars::JsonSchema, Default)]
#[serde(rename_all = "PascalCase", default)]
struct OutboundCallBody {
    /// The number or SIP URI to call.
    target: String,
    /// The service the call is made for (id or SIP URI).
    service: Option<String>,
    /// The user who makes the call; without one, a free agent of the service is chosen.
    user: Option<String>,
    /// Shown as the caller to the called party.
    caller_id: Option<String>,
    /// Context parameters for the agent.
    context_parameters: Vec<NameValue>,
}

/// Starts an outbound call: a call task offered to the named user (only), or to a free agent of the service.
async fn start_outbound_call(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<OutboundCallBody>,
) -> Result<Response, ApiError> {
    if body.target.trim().is_empty() {
        return Err(ApiError::bad_request("'Target' is required."));
    }
    let tenant = state.tenant(&caller.tenant).await?;
    let spec = state.read(&tenant, |engine| -> Result<TaskSpec, ApiError> {
        let agent = body
            .user
            .as_deref()
            .map(|u| find_user(engine, u))
            .transpose()?;
        let service = match (&body.service, agent) {
            (Some(service), _) => find_service(engine, service)?,
            (None, Some(agent)) => engine
                .agent_info(agent)
                .and_then(|info| info.memberships.first().map(|(s, _)| *s))
                .ok_or_else(|| {
                    ApiError::invalid("the user serves no service to call for; give 'Service'")
                })?,
            (None, None) => return Err(ApiError::bad_request("Give 'Service', 'User' or both.")),
        };
        let mut spec = TaskSpec::new(TaskId(uuid::Uuid::new_v4()), service);
        spec.kind = TaskKind::Call;
        spec.direction = Direction::Outbound;
        spec.customer = body.target.clone();
        if let Some(agent) = agent {
            spec.preferred_agents = vec![agent];
            spec.preferred_only = true;
        }
        spec.context = body
            .context_parameters
            .iter()
            .map(|p| (p.name.clone(), p.value.clone()))
            .chain(
                body.caller_id
                    .clone()
                    .map(|id| ("CallerId".to_string(), id)),
            )
            .collect();
        Ok(spec)
    })?;
    let id = spec.id;
    state.command(&tenant, Command::CreateTask(spec)).await?;
    Ok(Json(id.to_string()).into_response())
}

/// A responsibility profile of the tenant.
#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase")]
struct ProfileInfoDto {
    id: String,
    name: String,
    off_duty: bool,
}

async fn list_profiles(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, ApiError> {
    let tenant = state.tenant(&caller.tenant).await?;
    let profiles: Vec<ProfileInfoDto> = state.read(&tenant, |engine| {
        engine
            .profiles()
            .iter()
            .map(|p| ProfileInfoDto {
                id: p.id.0.to_string(),
                name: p.name.clone(),
                off_duty: p.off_duty,
            })
            .collect()
    });
    Ok(Json(profiles).into_response())
}

async fn service_context(
    State(state): State<AppState>,
    caller: Caller,
    Path(identifier): Path<String>,
) -> Result<Response, ApiError> {
    let tenant = state.tenant(&caller.tenant).await?;
    let context = state.read(&tenant, |engine| -> Result<Vec<NameValue>, ApiError> {
        let service = find_service(engine, &identifier)?;
        let info = engine
            .service_info(service)
            .ok_or_else(|| ApiError::not_found("ServiceNotFound", "gone"))?;
        Ok([
            ("ServiceCulture", info.spec.culture.clone()),
            ("ServiceSipUri", info.spec.sip_uri.clone()),
            ("ServiceTelNumber", info.spec.tel_number.clone()),
            ("ServiceDisplayName", info.spec.name.clone()),
        ]
        .into_iter()
        .map(|(name, value)| NameValue {
            name: name.to_string(),
            value,
        })
        .collect())
    })?;
    Ok(Json(context).into_response())
}

async fn user_command(
    state: &AppState,
    caller: &Caller,
    identifier: &str,
    command: impl FnOnce(AgentId) -> Command,
) -> Result<Response, ApiError> {
    let tenant = state.tenant(&caller.tenant).await?;
    let agent = state.read(&tenant, |engine| find_user(engine, identifier))?;
    state.command(&tenant, command(agent)).await?;
    let dto = state.read(&tenant, |engine| user_dtos(engine, [agent]).remove(0));
    Ok(Json(dto).into_response())
}

async fn block_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(identifier): Path<String>,
) -> Result<Response, ApiError> {
    user_command(&state, &caller, &identifier, Command::Block).await
}

async fn unblock_user(
    State(state): State<AppState>,
    caller: Caller,
    Path(identifier): Path<String>,
) -> Result<Response, ApiError> {
    user_command(&state, &caller, &identifier, Command::Unblock).await
}

#[derive(Deserialize, Default, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
struct PresenceQuery {
    presence: Option<String>,
}

async fn set_presence(
    State(state): State<AppState>,
    caller: Caller,
    Path(identifier): Path<String>,
    Params(query): Params<PresenceQuery>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let body: Option<Value> = optional_json(&body)?;
    // The presence comes as `{"Presence": "DoNotDisturb"}` (also `PresenceState`), a bare JSON string, or
    // `?presence=`.
    let name = query.presence.or_else(|| match body {
        Some(Value::String(name)) => Some(name),
        Some(Value::Object(map)) => ["Presence", "PresenceState", "presence"]
            .iter()
            .find_map(|k| map.get(*k).and_then(|v| v.as_str()).map(str::to_string)),
        _ => None,
    });
    let name = name.ok_or_else(|| {
        ApiError::bad_request(
            "Give the presence as {\"Presence\": \"Online\"} or ?presence=Online.",
        )
    })?;
    let presence = Presence::from_name(&name).ok_or_else(|| {
        ApiError::invalid(format!(
            "unknown presence '{name}' (one of {})",
            Presence::ALL.map(|p| p.name()).join(", ")
        ))
    })?;
    let tenant = state.tenant(&caller.tenant).await?;
    let agent = state.read(&tenant, |engine| find_user(engine, &identifier))?;
    state
        .command(&tenant, Command::SetPresence { agent, presence })
        .await?;
    Ok(axum::http::StatusCode::OK.into_response())
}

/// Reads a string field from a JSON body given under one of several names, or from a bare JSON string.
fn body_field(body: &Option<Value>, names: &[&str]) -> Option<String> {
    match body {
        Some(Value::String(text)) => Some(text.clone()),
        Some(Value::Object(map)) => names
            .iter()
            .find_map(|name| map.get(*name).and_then(|v| v.as_str()).map(str::to_string)),
        _ => None,
    }
}

async fn set_absent(
    State(state): State<AppState>,
    caller: Caller,
    Path(identifier): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let body: Option<Value> = optional_json(&body)?;
    let reason = body_field(&body, &["NotReadyReason", "Reason", "AbsentReason"])
        .filter(|r| !r.trim().is_empty())
        .ok_or_else(|| {
            ApiError::bad_request("Give the reason as {\"NotReadyReason\": \"Lunch\"}.")
        })?;
    if reason.len() > 100 {
        return Err(ApiError::invalid(
            "NotReadyReason is longer than 100 characters",
        ));
    }
    // With configured absence reasons, only those are accepted.
    let known = directory::absence_reasons(&state, &caller.tenant).await?;
    if !known.is_empty() && !known.iter().any(|r| r.name == reason) {
        return Err(ApiError::invalid(format!(
            "'{reason}' is not an absence reason of this tenant ({})",
            known
                .iter()
                .map(|r| r.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    user_command(&state, &caller, &identifier, |agent| Command::SetAbsent {
        agent,
        reason,
    })
    .await
}

async fn unset_absent(
    State(state): State<AppState>,
    caller: Caller,
    Path(identifier): Path<String>,
) -> Result<Response, ApiError> {
    user_command(&state, &caller, &identifier, Command::UnsetAbsent).await
}

async fn set_active_profile(
    State(state): State<AppState>,
    caller: Caller,
    Path(identifier): Path<String>,
    Params(query): Params<std::collections::HashMap<String, String>>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let body: Option<Value> = optional_json(&body)?;
    let name = query
        .get("profile")
        .cloned()
        .or_else(|| body_field(&body, &["Profile", "ProfileName", "Name"]))
        .ok_or_else(|| {
            ApiError::bad_request(
                "Give the profile as {\"Profile\": \"Night Shift\"} or ?profile=.",
            )
        })?;
    let tenant = state.tenant(&caller.tenant).await?;
    let (agent, profile) = state.read(&tenant, |engine| -> Result<_, ApiError> {
        let agent = find_user(engine, &identifier)?;
        let profile = engine
            .profiles()
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(&name) || p.id.0.to_string() == name)
            .map(|p| p.id)
            .ok_or_else(|| {
                ApiError::not_found("ProfileNotFound", format!("No profile '{name}'."))
            })?;
        Ok((agent, profile))
    })?;
    state
        .command(&tenant, Command::SetActiveProfile { agent, profile })
        .await?;
    let dto = state.read(&tenant, |engine| user_dtos(engine, [agent]).remove(0));
    Ok(Json(dto).into_response())
}

async fn add_block_task(
    State(state): State<AppState>,
    caller: Caller,
    Path(identifier): Path<String>,
) -> Result<Response, ApiError> {
    let tenant = state.tenant(&caller.tenant).await?;
    let agent = state.read(&tenant, |engine| find_user(engine, &identifier))?;
    let task = TaskId(uuid::Uuid::new_v4());
    state
        .command(&tenant, Command::AddBlockTask { agent, task })
        .await?;
    Ok(Json(task.to_string()).into_response())
}

#[derive(Deserialize, Default, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase", default)]
struct TransferBody {
    service: Option<String>,
    user: Option<String>,
}

async fn transfer_task(
    State(state): State<AppState>,
    caller: Caller,
    Path(identifier): Path<String>,
    Body(body): Body<TransferBody>,
) -> Result<Response, ApiError> {
    let tenant = state.tenant(&caller.tenant).await?;
    let task = live_task(&state, &tenant, &identifier).await?;
    let command = state.read(&tenant, |engine| -> Result<Command, ApiError> {
        match (&body.service, &body.user) {
            (Some(service), None) => Ok(Command::TransferToService {
                task,
                service: find_service(engine, service)?,
            }),
            (None, Some(user)) => Ok(Command::TransferToAgent {
                task,
                agent: find_user(engine, user)?,
            }),
            _ => Err(ApiError::bad_request(
                "Give exactly one of 'Service' or 'User' to transfer to.",
            )),
        }
    })?;
    state.command(&tenant, command).await?;
    Ok(axum::http::StatusCode::OK.into_response())
}

/// A user's live state (`usersStates`).
#[derive(Serialize, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase")]
struct UserStateDto {
    id: String,
    sip_uri: String,
    presence_state: String,
    is_selectable: bool,
    not_selectable_reason: Option<String>,
    not_ready_reason: Option<String>,
    is_blocked_by_luware_api: bool,
    current_profile: Option<String>,
    agent_state: String,
    state_since: String,
    tasks: Vec<String>,
}

fn user_states(engine: &Engine, agents: impl IntoIterator<Item = AgentId>) -> Vec<UserStateDto> {
    agents
        .into_iter()
        .filter_map(|agent| engine.agent_info(agent))
        .map(|info| {
            let user = UserDto::from_agent(engine, &info);
            UserStateDto {
                id: user.id,
                sip_uri: user.sip_uri,
                presence_state: user.presence_state,
                is_selectable: user.is_selectable,
                not_selectable_reason: user.not_selectable_reason,
                not_ready_reason: user.not_ready_reason,
                is_blocked_by_luware_api: user.is_blocked_by_luware_api,
                current_profile: user.current_profile,
                agent_state: info.state.xuc_name().to_string(),
                state_since: lucs_timestamp(info.state_since),
                tasks: info.tasks.iter().map(|t| t.to_string()).collect(),
            }
        })
        .collect()
}

async fn users_states(
    State(state): State<AppState>,
    caller: Caller,
    Params(paging): Params<Paging>,
) -> Result<Response, ApiError> {
    let tenant = state.tenant(&caller.tenant).await?;
    let items = state.read(&tenant, |engine| user_states(engine, engine.agents()));
    list_response(ApiVersion::V2, &paging, items)
}

async fn user_state(
    State(state): State<AppState>,
    caller: Caller,
    Path(identifier): Path<String>,
) -> Result<Response, ApiError> {
    let tenant = state.tenant(&caller.tenant).await?;
    let dto = state.read(&tenant, |engine| -> Result<UserStateDto, ApiError> {
        let agent = find_user(engine, &identifier)?;
        Ok(user_states(engine, [agent]).remove(0))
    })?;
    Ok(Json(dto).into_response())
}

async fn service_users_states(
    State(state): State<AppState>,
    caller: Caller,
    Path(identifier): Path<String>,
    Params(paging): Params<Paging>,
) -> Result<Response, ApiError> {
    let tenant = state.tenant(&caller.tenant).await?;
    let items = state.read(&tenant, |engine| -> Result<Vec<UserStateDto>, ApiError> {
        let service = find_service(engine, &identifier)?;
        let members = engine
            .service_info(service)
            .map(|s| s.members)
            .unwrap_or_default();
        Ok(user_states(engine, members))
    })?;
    list_response(ApiVersion::V2, &paging, items)
}

// ----- services ------------------------------------------------------------------------------------------------

async fn list_services(
    State(state): State<AppState>,
    caller: Caller,
    version: ApiVersion,
    Params(paging): Params<Paging>,
) -> Result<Response, ApiError> {
    let tenant = state.tenant(&caller.tenant).await?;
    let items = state.read(&tenant, |engine| {
        engine
            .services()
            .into_iter()
            .filter_map(|s| engine.service_info(s))
            .map(|info| ServiceDto::from_service(engine, &info))
            .collect::<Vec<_>>()
    });
    list_response(version, &paging, items)
}

async fn count_services(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, ApiError> {
    let tenant = state.tenant(&caller.tenant).await?;
    let count = state.read(&tenant, |engine| engine.services().len());
    Ok(Json(count).into_response())
}

async fn get_service(
    State(state): State<AppState>,
    caller: Caller,
    Path(identifier): Path<String>,
) -> Result<Response, ApiError> {
    let tenant = state.tenant(&caller.tenant).await?;
    let dto = state.read(&tenant, |engine| -> Result<ServiceDto, ApiError> {
        let service = find_service(engine, &identifier)?;
        let info = engine
            .service_info(service)
            .ok_or_else(|| ApiError::not_found("ServiceNotFound", "gone"))?;
        Ok(ServiceDto::from_service(engine, &info))
    })?;
    Ok(Json(dto).into_response())
}

/// switchboard extension: creates a service, or updates the one with the same `Id` or `SipUri`.
async fn upsert_service(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<ServiceDto>,
) -> Result<Response, ApiError> {
    let tenant = state.tenant(&caller.tenant).await?;
    let (dto, _) = apply_service(&state, &tenant, body).await?;
    Ok(Json(dto).into_response())
}

/// Creates or updates a service from its DTO; unchanged services are left alone. Returns the service and
/// whether anything changed.
/// The fields of a service body that need no engine, checked: everything but the service's identity and overflow
/// target. A body refused here changes nothing.
pub(crate) struct ServiceFields {
    pub strategy: switchboard_core::Strategy,
    pub rona: Option<Span>,
    pub wrapup: Span,
    pub max_wait: Option<Span>,
    /// The level of each required trait, in order.
    pub levels: Vec<Level>,
}

pub(crate) fn service_fields(body: &ServiceDto) -> Result<ServiceFields, ApiError> {
    if body.name.trim().is_empty() {
        return Err(ApiError::bad_request("'Name' is required."));
    }
    if let Some(id) = &body.id {
        id.parse::<uuid::Uuid>()
            .map_err(|_| ApiError::invalid(format!("Id '{id}' is not a UUID")))?;
    }
    let strategy = match &body.distribution_strategy {
        Some(name) => parse_strategy(name).map_err(ApiError::invalid)?,
        None => Default::default(),
    };
    let span = |field: &str, value: Option<i64>| -> Result<Option<Span>, ApiError> {
        match value {
            Some(v) if !(0..=30 * 86_400).contains(&v) => Err(ApiError::invalid(format!(
                "{field} must be between 0 and 2592000 seconds"
            ))),
            Some(v) => Ok(Some(Span::from_secs(v))),
            None => Ok(None),
        }
    };
    let levels = body
        .required_traits
        .iter()
        .map(|required| {
            parse_level(&TRAIT_LEVELS, &required.attribute).ok_or_else(|| {
                ApiError::invalid(format!("unknown trait level '{}'", required.attribute))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ServiceFields {
        strategy,
        rona: span("RonaTimeoutInSeconds", body.rona_timeout_in_seconds)?,
        wrapup: span("WrapUpTimeInSeconds", body.wrap_up_time_in_seconds)?.unwrap_or(Span::ZERO),
        max_wait: span("MaxWaitTimeInSeconds", body.max_wait_time_in_seconds)?,
        levels,
    })
}

pub(crate) async fn apply_service(
    state: &AppState,
    tenant: &crate::TenantHandle,
    body: ServiceDto,
) -> Result<(ServiceDto, bool), ApiError> {
    let ServiceFields {
        strategy,
        rona,
        wrapup,
        max_wait,
        levels,
    } = service_fields(&body)?;
    let mut trait_ids = Vec::new();
    for (required, level) in body.required_traits.iter().zip(levels) {
        if let Outcome::Trait(id) = state
            .command(tenant, Command::InternTrait(required.trait_node.clone()))
            .await?
        {
            trait_ids.push(TraitRequirement {
                trait_id: id,
                min_level: level,
            });
        }
    }
    let spec = state.read(tenant, |engine| -> Result<ServiceSpec, ApiError> {
        let existing = match &body.id {
            Some(id) => {
                Some(ServiceId(id.parse().map_err(|_| {
                    ApiError::invalid(format!("Id '{id}' is not a UUID"))
                })?))
            }
            None => (!body.sip_uri.is_empty())
                .then(|| engine.service_by_identifier(&body.sip_uri))
                .flatten(),
        };
        let id = existing.unwrap_or(ServiceId(uuid::Uuid::new_v4()));
        let mut spec = ServiceSpec::new(id, body.name.clone());
        spec.number = body.number;
        spec.sip_uri = body.sip_uri.clone();
        spec.tel_number = body.tel_number.clone();
        spec.culture = body.culture.clone();
        spec.organization_unit = body.organization_unit.clone();
        spec.strategy = strategy;
        spec.required_traits = trait_ids;
        spec.rona_timeout = rona;
        spec.wrapup = wrapup;
        spec.max_wait = max_wait;
        spec.overflow_to = match &body.overflow_service {
            Some(target) => Some(find_service(engine, target)?),
            None => None,
        };
        Ok(spec)
    })?;
    let id = spec.id;
    let unchanged = state.read(tenant, |engine| {
        engine
            .service_info(id)
            .is_some_and(|info| info.spec == spec)
    });
    if !unchanged {
        state.command(tenant, Command::UpsertService(spec)).await?;
    }
    let dto = state
        .read(tenant, |engine| {
            engine
                .service_info(id)
                .map(|info| ServiceDto::from_service(engine, &info))
        })
        .ok_or_else(|| ApiError::not_found("ServiceNotFound", "gone"))?;
    Ok((dto, !unchanged))
}
