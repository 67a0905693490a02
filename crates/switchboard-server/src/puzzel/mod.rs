//! The Puzzel e-task dialect (seed 003, PROTOCOLS.md §2): RequestAdd, RequestGet, RequestUpdate and RequestDelete.
//!
//! A request is an engine task like any other, so LUCS sees the same tasks. Its request id is the task's integer
//! id (`TaskSpec::number`), claimed under the tenant's lock when the request is added; the task's id is derived
//! from it (`request_task_id`), which is what finds a finished request in the history. Puzzel's own fields (From,
//! To, Subject, Uri, media type) ride along as task attributes; the name/value variables are the task's context.
//! Every answer, error or not, is the envelope `{"result","code","id","message"}`.

pub mod access_points;
pub mod data;

use std::collections::{BTreeMap, HashMap};

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use switchboard_core::{
    AgentId, Command, Engine, Priority, Span, TaskId, TaskInfo, TaskKind, TaskSpec, TaskStatus,
    TerminationReason, Time,
};

use crate::auth::{Caller, Role};
use crate::error::ApiError;
use crate::openapi::{schema_of, Answer, Endpoint};
use crate::AppState;
use access_points::AccessPointDto;
use data::{InputError, MediaType, UserRef};

/// The reply envelope of every Puzzel call. `code` is 0 on success.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[schemars(rename = "Reply_for_{T}")]
pub struct Reply<T> {
    /// What the call answers: the request id, or the request.
    pub result: T,
    /// 0 on success.
    pub code: i32,
    /// The request id the call is about, as text.
    pub id: String,
    /// What happened, for people.
    pub message: String,
}

/// The envelope of an error.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct ErrorReply {
    /// Always null.
    pub result: Option<Value>,
    /// The error code: 40001 unreadable body, 40002 `data` not a JSON object, 40101 unauthorized, 40401 no such
    /// request, 40901 the request is allocated (delete needs forceDelete), 41301 body too large, 41501 not
    /// JSON, 42201 value not acceptable, 42202 unknown access point, 42203 unknown user, 42901 rate limit,
    /// 50301 could not be stored.
    pub code: i32,
    /// The request id the call was about, if any.
    pub id: String,
    /// What went wrong, for people.
    pub message: String,
}

/// The error statuses of Puzzel endpoints, as `/openapi.json` documents them.
pub const DOCUMENTED_ERRORS: [(u16, &str); 9] = [
    (
        400,
        "Unreadable body or request id (code 40001); `data` that is not a JSON object in a string, or lacks \
         `To` (40002)",
    ),
    (
        401,
        "No key, an unknown, revoked or expired key, a role that does not cover the endpoint, or a \
         customerKey that is not the key's tenant (40101)",
    ),
    (404, "No request with this id in the tenant (40401)"),
    (
        409,
        "The request is allocated to an agent: deleting it needs forceDelete (40901)",
    ),
    (413, "The body is larger than the limit, 1 MiB (41301)"),
    (
        422,
        "A value is not acceptable (42201): negative or too long wait, VipScore out of range, unknown type; \
         unknown access point (42202); unknown user id (42203)",
    ),
    (
        429,
        "Rate or burst limit of the key exceeded (42901), the key holds its most open requests and streams \
         (42902), or the tenant its most live tasks (42903); see Retry-After",
    ),
    (
        431,
        "The request line and headers are larger than the limit, 16 KiB by default (43101)",
    ),
    (
        503,
        "The change could not be stored and was not applied (50301), or the server sheds load it cannot serve \
         (50302); retry after Retry-After",
    ),
];

/// An error answered in the envelope.
#[derive(Debug)]
pub struct PuzzelError {
    /// What went wrong; its status and code decide the envelope's code.
    pub error: ApiError,
    /// The request the call was about.
    pub request_id: Option<u64>,
}

impl PuzzelError {
    fn about(mut self, request_id: u64) -> PuzzelError {
        self.request_id = Some(request_id);
        self
    }
}

impl From<ApiError> for PuzzelError {
    fn from(error: ApiError) -> PuzzelError {
        PuzzelError {
            error,
            request_id: None,
        }
    }
}

impl From<InputError> for PuzzelError {
    fn from(error: InputError) -> PuzzelError {
        match error {
            InputError::Body(message) => ApiError::bad_request(message),
            InputError::Data(message) => {
                ApiError::new(StatusCode::BAD_REQUEST, "InvalidData", message)
            }
            InputError::Invalid(message) => ApiError::invalid(message),
        }
        .into()
    }
}

/// The envelope code of an error: its HTTP status times 100 plus a number for the kind.
fn envelope_code(error: &ApiError) -> i32 {
    match error.code {
        "InvalidData" => 40002,
        "Unauthorized" => 40101,
        "RequestNotFound" | "TaskNotFound" => 40401,
        "RequestAllocated" => 40901,
        "BodyTooLarge" => 41301,
        "UnsupportedMediaType" => 41501,
        "UnknownAccessPoint" | "ServiceNotFound" => 42202,
        "UnknownUser" | "UserNotFound" => 42203,
        "TooManyRequests" => 42901,
        "TooManyOpenRequests" => 42902,
        "TaskLimitReached" => 42903,
        "RequestHeaderFieldsTooLarge" => 43101,
        "StorageUnavailable" => 50301,
        "Overloaded" => 50302,
        _ => match error.status.as_u16() {
            404 => 40401,
            409 => 40901,
            422 => 42201,
            _ => 40001,
        },
    }
}

impl IntoResponse for PuzzelError {
    fn into_response(self) -> Response {
        let code = envelope_code(&self.error);
        // The engine's two refusals LUCS documents as 500 cannot come from these calls; should one, it is a
        // conflict with the task's state, never a server error.
        let status = if self.error.status == StatusCode::INTERNAL_SERVER_ERROR {
            StatusCode::CONFLICT
        } else {
            self.error.status
        };
        let body = ErrorReply {
            result: None,
            code,
            id: self.request_id.map(|id| id.to_string()).unwrap_or_default(),
            message: self.error.message,
        };
        let mut response = (status, Json(body)).into_response();
        if let Some(seconds) = self.error.retry_after {
            if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        response
    }
}

fn reply<T: Serialize>(result: T, request_id: u64, message: &str) -> Response {
    Json(Reply {
        result,
        code: 0,
        id: request_id.to_string(),
        message: message.to_string(),
    })
    .into_response()
}

/// The raw body, with a body over the limit answered in the envelope (413).
struct RawBody(Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = PuzzelError;

    async fn from_request(request: Request, state: &S) -> Result<RawBody, PuzzelError> {
        Bytes::from_request(request, state)
            .await
            .map(RawBody)
            .map_err(|rejection| {
                let code = if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    "BodyTooLarge"
                } else {
                    "BadRequest"
                };
                ApiError::new(
                    rejection.status(),
                    code,
                    format!("The body could not be read: {}", rejection.body_text()),
                )
                .into()
            })
    }
}

/// The `{requestId}` of the path: a positive integer.
struct RequestIdPath(u64);

impl<S: Send + Sync> FromRequestParts<S> for RequestIdPath {
    type Rejection = PuzzelError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> Result<RequestIdPath, PuzzelError> {
        let axum::extract::Path(params) =
            axum::extract::Path::<HashMap<String, String>>::from_request_parts(parts, state)
                .await
                .map_err(|rejection| ApiError::bad_request(rejection.body_text()))?;
        let text = params.get("requestId").cloned().unwrap_or_default();
        text.trim()
            .parse::<u64>()
            .ok()
            .filter(|id| *id > 0)
            .map(RequestIdPath)
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "'{text}' is not a request id: request ids are positive integers."
                ))
                .into()
            })
    }
}

/// The engine task id of request `number`: a version 8 UUID holding the number, so a finished request is found
/// in the history by id. Request numbers are never given out twice in a tenant, so neither is this id.
pub fn request_task_id(number: u64) -> TaskId {
    let mut bytes = [0u8; 16];
    bytes[..6].copy_from_slice(b"puzzel");
    bytes[8..].copy_from_slice(&number.to_be_bytes());
    TaskId(uuid::Builder::from_custom_bytes(bytes).into_uuid())
}

/// The attributes a request keeps, by name.
const FROM: &str = "From";
const TO: &str = "To";
const SUBJECT: &str = "Subject";
const URI: &str = "Uri";
const MEDIA_TYPE: &str = "MediaType";

fn attribute(task: &TaskInfo, name: &str) -> Option<String> {
    task.attributes
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, value)| value.clone())
}

/// The status of seed 003 a task is in: waiting `InQueue` (a callback `CallbackInQueue`), scheduled `Setup`,
/// offered `Alerting`, accepted `Connected`, held `OnHold`; ended `Disconnected`, or `Failure` when it ended
/// without being handled or cancelled (maximum wait, lifetime, polling timeout, removed service or agent).
pub fn status_name(task: &TaskInfo) -> &'static str {
    match task.status {
        TaskStatus::Scheduled => "Setup",
        TaskStatus::Waiting if task.kind == TaskKind::Callback => "CallbackInQueue",
        TaskStatus::Waiting => "InQueue",
        TaskStatus::Offered => "Alerting",
        TaskStatus::Established => "Connected",
        TaskStatus::OnHold => "OnHold",
        TaskStatus::Terminated => match task.termination_reason {
            None | Some(TerminationReason::Completed) | Some(TerminationReason::Cancelled) => {
                "Disconnected"
            }
            Some(_) => "Failure",
        },
    }
}

/// RequestGet's answer: the fields seed 003 lists first, then the request as it was added or updated.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RequestDto {
    /// The request id.
    pub request_id: u64,
    /// When the request was added (ISO 8601, UTC).
    pub request_start: String,
    /// When it entered its current queue; null while scheduled.
    pub queue_entry_time: Option<String>,
    /// Time since it was added, until now or until it ended, as a .NET TimeSpan (`hh:mm:ss`, `d.hh:mm:ss`).
    pub session_time: String,
    /// An agent has accepted it.
    pub joined: bool,
    /// Alerting, Allocated, Busy, CallbackInQueue, Connected, Connecting, Disconnected, Failure, InQueue,
    /// InService, NoAnswer, OnHold, Searching or Setup (see the docs for which engine state gives which).
    pub status: String,
    /// Undefined, Phone, EMail, Sms, Web, Chat or Social.
    pub media_type: String,
    /// 1-based position in its queue while waiting, live; 0 otherwise.
    pub queue_position: u32,
    /// The interaction's session id: the engine task id, as LUCS shows it.
    pub iq_session_id: String,
    /// The request's name/value variables.
    pub variables: BTreeMap<String, String>,
    /// The VIP score: the priority.
    pub vip_score: i32,
    /// `From` of the request: the customer.
    pub from: Option<String>,
    /// `To`: the access point.
    pub to: Option<String>,
    /// The subject.
    pub subject: Option<String>,
    /// Where the agent finds the work.
    pub uri: Option<String>,
    /// The user the request is held for, while it is.
    pub reserved_user_id: Option<u32>,
    /// Until when it is held for that user.
    pub reserved_until: Option<String>,
    /// The user the request is offered to or handled by.
    pub allocated_user_id: Option<u32>,
    /// The queue (service) it is in: its integer id.
    pub queue_id: Option<u32>,
    /// The queue's name.
    pub queue_name: Option<String>,
}

fn agent_number(engine: &Engine, agent: Option<AgentId>) -> Option<u32> {
    agent
        .and_then(|agent| engine.agent_info(agent))
        .map(|info| info.number)
}

/// The DTO of a live or finished task.
pub fn request_dto(engine: &Engine, task: &TaskInfo, now: Time) -> RequestDto {
    let service = engine.service_info(task.service);
    let live = task.status != TaskStatus::Terminated;
    let reserved = task.reserved.filter(|(_, until)| live && *until > now);
    let media = attribute(task, MEDIA_TYPE)
        .unwrap_or_else(|| MediaType::of_kind(task.kind).name().to_string());
    RequestDto {
        request_id: task.number,
        request_start: data::date_time(task.created),
        queue_entry_time: (task.status != TaskStatus::Scheduled)
            .then(|| data::date_time(task.queue_started)),
        session_time: data::duration(task.terminated.unwrap_or(now).since(task.created)),
        joined: task.connected_at.is_some(),
        status: status_name(task).to_string(),
        media_type: media,
        queue_position: engine.queue_position(task.id).unwrap_or(0),
        iq_session_id: task.id.to_string(),
        variables: task.context.iter().cloned().collect(),
        vip_score: task.priority.0,
        from: attribute(task, FROM),
        to: attribute(task, TO),
        subject: attribute(task, SUBJECT),
        uri: attribute(task, URI),
        reserved_user_id: agent_number(engine, reserved.map(|(agent, _)| agent)),
        reserved_until: reserved.map(|(_, until)| data::date_time(until)),
        allocated_user_id: agent_number(engine, if live { task.agent } else { task.last_agent }),
        queue_id: service.as_ref().map(|s| s.number),
        queue_name: service.map(|s| s.spec.name),
    }
}

/// The live task of request `number`. Block tasks are not requests.
fn live_request(engine: &Engine, number: u64) -> Option<TaskInfo> {
    engine
        .task_by_number(number)
        .and_then(|task| engine.task_info(task))
        .filter(|task| task.kind != TaskKind::Block)
}

fn request_not_found(number: u64) -> PuzzelError {
    PuzzelError::from(ApiError::not_found(
        "RequestNotFound",
        format!("No request {number} in the queue."),
    ))
    .about(number)
}

fn find_agent(engine: &Engine, user: &UserRef) -> Result<AgentId, ApiError> {
    let found = match user {
        UserRef::Number(number) => engine.agent_by_number(*number),
        UserRef::Identifier(identifier) => engine.agent_by_identifier(identifier),
    };
    found.ok_or_else(|| {
        let name = match user {
            UserRef::Number(number) => number.to_string(),
            UserRef::Identifier(identifier) => identifier.clone(),
        };
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "UnknownUser",
            format!("No user {name}."),
        )
    })
}

/// Documentation of RequestAdd's body (the handler reads it leniently, see `data`).
#[derive(Deserialize, schemars::JsonSchema)]
#[allow(dead_code)]
struct AddRequestBody {
    /// A JSON object serialised as a string: `To` (required: the access point), `From`, `Subject`, `Uri`,
    /// `VipScore` (the priority, default 0), `reservedUserId` and `reservedUserWaitTime` (hold the request for
    /// that user for so many seconds, then open it to the queue keeping its place), `Variables` (a list of
    /// {Name, Value} or an object); any other field becomes a variable too.
    data: String,
    /// mail (default), phone, sms, web, chat, social or undefined.
    #[serde(rename = "type")]
    media_type: Option<String>,
    /// The API version, `1.0`.
    version: Option<String>,
}

/// Documentation of RequestUpdate's body; it may also come wrapped as `{"requestUpdateObject": {...}}`. Fields
/// left out are not changed.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct RequestUpdateObject {
    /// The new priority; a waiting request moves in the queue at once.
    vip_score: Option<i32>,
    /// Hold the request for this user (0: for nobody).
    reserved_user_id: Option<u32>,
    /// For this many seconds from now; without reservedUserId, the current reservation is extended.
    reserved_seconds_from_now: Option<u32>,
    /// The new subject.
    additional_info_subject: Option<String>,
    /// The new URI.
    additional_info_uri: Option<String>,
}

/// Documentation of RequestDelete's optional body; it may also come wrapped as `{"RequestDelete": {...}}`.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct RequestDeleteBody {
    /// Also end the request when an agent already has it (offered or accepted).
    force_delete: Option<bool>,
}

/// Every endpoint of the Puzzel dialect, and the access point provisioning extension.
pub fn endpoints() -> Vec<Endpoint> {
    use axum::http::Method;
    use Role::*;
    vec![
        Endpoint::new(
            Method::POST,
            "/{customerKey}/requests",
            "Puzzel requests",
            "RequestAdd: queue a request for the access point in data.To; answers its request id",
            &[TasksManage],
            Answer::Json(schema_of::<Reply<u64>>),
            post(add_request),
        )
        .body(schema_of::<AddRequestBody>)
        .puzzel(),
        Endpoint::new(
            Method::GET,
            "/{customerKey}/requests/{requestId}",
            "Puzzel requests",
            "RequestGet: a request, live or finished, with its status and live queue position",
            &[TasksReadonly, TasksManage],
            Answer::Json(schema_of::<Reply<RequestDto>>),
            get(get_request),
        )
        .puzzel(),
        Endpoint::new(
            Method::POST,
            "/customers/{customerKey}/requests/{requestId}/update",
            "Puzzel requests",
            "RequestUpdate: change the VIP score, the reservation, the subject or the URI; answers the request id",
            &[TasksManage],
            Answer::Json(schema_of::<Reply<u64>>),
            post(update_request),
        )
        .body(schema_of::<RequestUpdateObject>)
        .puzzel(),
        Endpoint::new(
            Method::POST,
            "/{customerKey}/requests/{requestId}/delete",
            "Puzzel requests",
            "RequestDelete: take the request out of the queue (forceDelete: also when an agent has it)",
            &[TasksManage],
            Answer::Json(schema_of::<Reply<u64>>),
            post(delete_request),
        )
        .optional_body(schema_of::<RequestDeleteBody>)
        .puzzel(),
        Endpoint::new(
            Method::GET,
            "/v2.0/accesspoints",
            "Configuration",
            "The Puzzel access points configured: the To addresses and the services they lead to",
            &[ServiceReadonly, Configuration],
            Answer::Json(schema_of::<Vec<AccessPointDto>>),
            get(access_points::list_access_points),
        )
        .extension(),
        Endpoint::new(
            Method::POST,
            "/v2.0/accesspoints",
            "Configuration",
            "Create a Puzzel access point, or change the service of the one with the same Name",
            &[Configuration],
            Answer::Json(schema_of::<AccessPointDto>),
            post(access_points::upsert_access_point),
        )
        .body(schema_of::<AccessPointDto>)
        .extension(),
        Endpoint::new(
            Method::DELETE,
            "/v2.0/accesspoints/{accessPoint}",
            "Configuration",
            "Remove a Puzzel access point",
            &[Configuration],
            Answer::Empty,
            delete(access_points::delete_access_point),
        )
        .extension(),
    ]
}

async fn add_request(
    State(state): State<AppState>,
    caller: Caller,
    RawBody(body): RawBody,
) -> Result<Response, PuzzelError> {
    let add = data::parse_add_body(&body)?;
    let tenant = state.tenant(&caller.tenant).await?;
    let configured = access_points::list(&state, &caller.tenant).await?;
    let now = state.now();
    let (_, number) = state
        .command_with(&tenant, |engine| {
            let service =
                access_points::resolve(engine, &configured, &add.data.to).map_err(|message| {
                    ApiError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "UnknownAccessPoint",
                        message,
                    )
                })?;
            let reserved = match &add.data.reservation {
                Some((user, seconds)) => Some((
                    find_agent(engine, user)?,
                    now.plus(Span::from_secs(*seconds)),
                )),
                None => None,
            };
            let number = engine.next_task_number();
            let mut spec = TaskSpec::new(request_task_id(number), service);
            spec.number = Some(number);
            spec.kind = add.media.task_kind();
            spec.customer = add.data.from.clone().unwrap_or_default();
            spec.priority = Priority(add.data.vip_score);
            spec.reserved = reserved;
            spec.context = add.data.variables.clone();
            spec.attributes = [
                (FROM, add.data.from.clone()),
                (TO, Some(add.data.to.clone())),
                (SUBJECT, add.data.subject.clone()),
                (URI, add.data.uri.clone()),
                (MEDIA_TYPE, Some(add.media.name().to_string())),
            ]
            .into_iter()
            .filter_map(|(name, value)| value.map(|v| (name.to_string(), v)))
            .collect();
            Ok((Command::CreateTask(spec), number))
        })
        .await?;
    Ok(reply(number, number, "Request added"))
}

async fn get_request(
    State(state): State<AppState>,
    caller: Caller,
    RequestIdPath(number): RequestIdPath,
) -> Result<Response, PuzzelError> {
    let tenant = state.tenant(&caller.tenant).await?;
    let live = state.read(&tenant, |engine| {
        let task = live_request(engine, number)?;
        Some((task.id, engine.config().max_polling_timeout.is_some()))
    });
    if let Some((task, polling)) = live {
        // Reading a request counts as polling it, as reading a LUCS task does.
        if polling {
            state
                .command(&tenant, Command::Poll(task))
                .await
                .map_err(|e| PuzzelError::from(e).about(number))?;
        }
        let now = state.now();
        let dto = state.read(&tenant, |engine| {
            live_request(engine, number).map(|task| request_dto(engine, &task, now))
        });
        if let Some(dto) = dto {
            return Ok(reply(dto, number, "OK"));
        }
    }
    let store_state = state.clone();
    let (tenant_name, task_id) = (caller.tenant.clone(), request_task_id(number).to_string());
    let finished = tokio::task::spawn_blocking(move || {
        store_state.store().history_task(&tenant_name, &task_id)
    })
    .await
    .map_err(|_| ApiError::unavailable(&switchboard_store::StoreError::Closed))?
    .map_err(ApiError::from)?;
    match finished.filter(|task| task.number == number) {
        Some(task) => {
            let now = state.now();
            let dto = state.read(&tenant, |engine| request_dto(engine, &task, now));
            Ok(reply(dto, number, "OK"))
        }
        None => Err(PuzzelError::from(ApiError::not_found(
            "RequestNotFound",
            format!("No request {number}."),
        ))
        .about(number)),
    }
}

async fn update_request(
    State(state): State<AppState>,
    caller: Caller,
    RequestIdPath(number): RequestIdPath,
    RawBody(body): RawBody,
) -> Result<Response, PuzzelError> {
    let about = |error: PuzzelError| error.about(number);
    let update = data::parse_update_body(&body).map_err(|e| about(e.into()))?;
    let tenant = state.tenant(&caller.tenant).await?;
    let now = state.now();
    // Everything is checked before anything changes.
    let (task, reservation) = state
        .read(&tenant, |engine| -> Result<_, PuzzelError> {
            let task = live_request(engine, number).ok_or_else(|| request_not_found(number))?;
            let user = match &update.reserved_user {
                Some(Some(user)) => Some(Some(find_agent(engine, user)?)),
                Some(None) => Some(None),
                None => None,
            };
            let reservation = match (user, update.reserved_seconds) {
                (None, None) => None,
                (Some(None), _) => Some(None),
                (Some(Some(_)), None) => {
                    return Err(ApiError::invalid(
                        "'reservedSecondsFromNow' is required with 'reservedUserId'",
                    )
                    .into())
                }
                (Some(Some(agent)), Some(seconds)) => {
                    Some((seconds > 0).then(|| (agent, now.plus(Span::from_secs(seconds)))))
                }
                (None, Some(seconds)) => {
                    let agent = task.reserved.map(|(agent, _)| agent).ok_or_else(|| {
                        ApiError::invalid(
                            "the request is held for nobody: give 'reservedUserId' with \
                             'reservedSecondsFromNow'",
                        )
                    })?;
                    Some((seconds > 0).then(|| (agent, now.plus(Span::from_secs(seconds)))))
                }
            };
            Ok((task.id, reservation))
        })
        .map_err(about)?;
    let attributes: Vec<(String, String)> = [(SUBJECT, &update.subject), (URI, &update.uri)]
        .into_iter()
        .filter_map(|(name, value)| value.clone().map(|v| (name.to_string(), v)))
        .collect();
    let mut commands = Vec::new();
    if !attributes.is_empty() {
        commands.push(Command::SetAttributes { task, attributes });
    }
    if let Some(reservation) = reservation {
        commands.push(Command::Reserve { task, reservation });
    }
    if let Some(score) = update.vip_score {
        commands.push(Command::SetPriority {
            task,
            priority: Priority(score),
        });
    }
    for command in commands {
        state
            .command(&tenant, command)
            .await
            .map_err(|e| about(e.into()))?;
    }
    Ok(reply(number, number, "Request updated"))
}

async fn delete_request(
    State(state): State<AppState>,
    caller: Caller,
    RequestIdPath(number): RequestIdPath,
    RawBody(body): RawBody,
) -> Result<Response, PuzzelError> {
    let force = data::parse_delete_body(&body).map_err(|e| PuzzelError::from(e).about(number))?;
    let tenant = state.tenant(&caller.tenant).await?;
    let task = state
        .read(&tenant, |engine| live_request(engine, number))
        .ok_or_else(|| request_not_found(number))?;
    let allocated = matches!(
        task.status,
        TaskStatus::Offered | TaskStatus::Established | TaskStatus::OnHold
    );
    if allocated && !force {
        return Err(PuzzelError::from(ApiError::new(
            StatusCode::CONFLICT,
            "RequestAllocated",
            format!(
                "Request {number} is allocated to an agent (status {}); send {{\"forceDelete\": true}} to end it.",
                status_name(&task)
            ),
        ))
        .about(number));
    }
    let reason = if matches!(task.status, TaskStatus::Established | TaskStatus::OnHold) {
        TerminationReason::Completed
    } else {
        TerminationReason::Cancelled
    };
    state
        .command(
            &tenant,
            Command::Terminate {
                task: task.id,
                reason,
            },
        )
        .await
        .map_err(|e| PuzzelError::from(e).about(number))?;
    Ok(reply(number, number, "Request deleted"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_task_ids_are_distinct_and_marked() {
        let ids: std::collections::BTreeSet<TaskId> = [1u64, 2, 255, 256, 1 << 40, u64::MAX >> 2]
            .into_iter()
            .map(request_task_id)
            .collect();
        assert_eq!(ids.len(), 6);
        let id = request_task_id(42);
        assert_eq!(id.0.get_version_num(), 8);
        assert_eq!(&id.0.as_bytes()[..6], b"puzzel");
        assert_eq!(id.0.as_bytes()[15], 42);
    }

    #[test]
    fn errors_carry_their_code_in_the_envelope() {
        let cases = [
            (ApiError::bad_request("x"), 40001),
            (
                ApiError::new(StatusCode::BAD_REQUEST, "InvalidData", "x"),
                40002,
            ),
            (ApiError::unauthorized("x"), 40101),
            (ApiError::not_found("TaskNotFound", "x"), 40401),
            (ApiError::invalid("x"), 42201),
            (
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "UnknownAccessPoint", "x"),
                42202,
            ),
            (ApiError::not_found("UserNotFound", "x"), 42203),
            (
                ApiError::new(StatusCode::CONFLICT, "InvalidTaskState", "x"),
                40901,
            ),
        ];
        for (error, code) in cases {
            assert_eq!(envelope_code(&error), code, "{error:?}");
        }
    }
}
