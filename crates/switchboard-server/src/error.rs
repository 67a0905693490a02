//! The API's one error type: every error body is `{"Error":{"Code":..,"Message":..}}` (PROTOCOLS.md). 4xx
//! messages are safe to show; 5xx ones are opaque and the cause is logged.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use switchboard_core::{AgentError, CommandError, ConfigError, TaskError};
use switchboard_store::StoreError;

/// An error answered to the client.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// PascalCase code in the body.
    pub code: &'static str,
    /// Human text in the body.
    pub message: String,
    /// Seconds for a `Retry-After` header.
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error with a status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 400 for a body or parameter that cannot be read.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "BadRequest", message)
    }

    /// 422 for a value that is well-formed but not acceptable.
    pub fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "InvalidValue", message)
    }

    /// 404 with a specific code.
    pub fn not_found(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, code, message)
    }

    /// 401 as LUCS answers it for a missing header, a wrong key or a missing role.
    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "Unauthorized", message)
    }

    /// 429 for a limit reached (docs/limits.md): nothing was done; `Retry-After` says when to try again.
    pub fn too_many(code: &'static str, message: impl Into<String>, retry_after: u64) -> ApiError {
        let mut error = ApiError::new(StatusCode::TOO_MANY_REQUESTS, code, message);
        error.retry_after = Some(retry_after);
        error
    }

    /// 503 when the store cannot make a change durable; nothing was acknowledged.
    pub fn unavailable(error: &StoreError) -> ApiError {
        tracing::error!(error = %error, "storage unavailable");
        let mut api = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "StorageUnavailable",
            "The change could not be stored; it was not applied. Retry later.",
        );
        api.retry_after = Some(1);
        api
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"Error": {"Code": self.code, "Message": self.message}});
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> ApiError {
        ApiError::unavailable(&error)
    }
}

impl From<TaskError> for ApiError {
    fn from(error: TaskError) -> ApiError {
        let message = error.to_string();
        let (status, code) = match error {
            TaskError::UnknownTask(_) => (StatusCode::NOT_FOUND, "TaskNotFound"),
            TaskError::UnknownService(_) => (StatusCode::NOT_FOUND, "ServiceNotFound"),
            TaskError::UnknownAgent(_) => (StatusCode::NOT_FOUND, "UserNotFound"),
            TaskError::DuplicateTask(_)
            | TaskError::DuplicateExternalId(_)
            | TaskError::DuplicateNumber(_) => (StatusCode::CONFLICT, "DuplicateTask"),
            // Seed 000 documents these two refusals as 500 with the task left unchanged.
            TaskError::AlreadyEstablished => {
                (StatusCode::INTERNAL_SERVER_ERROR, "TaskAlreadyEstablished")
            }
            TaskError::AgentConnected => {
                (StatusCode::INTERNAL_SERVER_ERROR, "AgentAlreadyConnected")
            }
            TaskError::NotOffered(_)
            | TaskError::OfferedToAnotherAgent(_)
            | TaskError::NotEstablished(_)
            | TaskError::NotOnHold(_)
            | TaskError::NotWaiting(_)
            | TaskError::NoCapacity(_)
            | TaskError::WrongKind(_) => (StatusCode::CONFLICT, "InvalidTaskState"),
            TaskError::ConsultationActive => (StatusCode::CONFLICT, "ConsultationCallActive"),
            TaskError::NoConsultation => (StatusCode::NOT_FOUND, "ConsultationCallNotFound"),
            TaskError::ConsultationNotMerged | TaskError::CustomerLeft => {
                (StatusCode::CONFLICT, "InvalidConsultationCallState")
            }
            TaskError::ConsultantUnavailable(_) => (StatusCode::CONFLICT, "UserNotAvailable"),
            TaskError::ClaimedByAnotherAgent(_) => (StatusCode::CONFLICT, "TaskClaimed"),
            TaskError::NotAMember(_) => (StatusCode::CONFLICT, "UserNotInService"),
            TaskError::InvalidValue(_) => (StatusCode::UNPROCESSABLE_ENTITY, "InvalidValue"),
        };
        ApiError::new(status, code, message)
    }
}

impl From<AgentError> for ApiError {
    fn from(error: AgentError) -> ApiError {
        let message = error.to_string();
        let (status, code) = match error {
            AgentError::UnknownAgent(_) => (StatusCode::NOT_FOUND, "UserNotFound"),
            AgentError::UnknownProfile => (StatusCode::NOT_FOUND, "ProfileNotFound"),
            _ => (StatusCode::CONFLICT, "InvalidUserState"),
        };
        ApiError::new(status, code, message)
    }
}

impl From<ConfigError> for ApiError {
    fn from(error: ConfigError) -> ApiError {
        let message = error.to_string();
        let (status, code) = match error {
            ConfigError::UnknownService(_) => (StatusCode::NOT_FOUND, "ServiceNotFound"),
            ConfigError::UnknownAgent(_) => (StatusCode::NOT_FOUND, "UserNotFound"),
            ConfigError::UnknownProfile(_) => (StatusCode::NOT_FOUND, "ProfileNotFound"),
            ConfigError::NumberInUse(_) => (StatusCode::CONFLICT, "Conflict"),
            ConfigError::StillInUse { .. } => (StatusCode::CONFLICT, "StillInUse"),
            ConfigError::InvalidOverflow(_) | ConfigError::ZeroLevel => {
                (StatusCode::UNPROCESSABLE_ENTITY, "InvalidValue")
            }
        };
        ApiError::new(status, code, message)
    }
}

impl From<CommandError> for ApiError {
    fn from(error: CommandError) -> ApiError {
        match error {
            CommandError::Config(error) => error.into(),
            CommandError::Agent(error) => error.into(),
            CommandError::Task(error) => error.into(),
        }
    }
}
