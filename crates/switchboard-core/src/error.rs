//! Errors of the engine's operations: each says which rule was broken.

use std::fmt;

use crate::types::{AgentId, ServiceId, TaskId, TaskStatus};

/// Errors when changing configuration (services, profiles, agents, memberships).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// No service with this id.
    UnknownService(ServiceId),
    /// No agent with this id.
    UnknownAgent(AgentId),
    /// A profile id referenced by an agent does not exist.
    UnknownProfile(crate::types::ProfileId),
    /// The integer id is used by another entity.
    NumberInUse(u64),
    /// A service's overflow target is itself or unknown, or leads back to it through services that all have a
    /// maximum wait of zero.
    InvalidOverflow(ServiceId),
    /// The entity still holds live work; remove or finish that first.
    StillInUse {
        /// What is still referencing it.
        what: &'static str,
    },
    /// A trait requirement or level of zero.
    ZeroLevel,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::UnknownService(id) => write!(f, "service {id} does not exist"),
            ConfigError::UnknownAgent(id) => write!(f, "agent {id} does not exist"),
            ConfigError::UnknownProfile(id) => write!(f, "profile {} does not exist", id.0),
            ConfigError::NumberInUse(number) => write!(f, "integer id {number} is already in use"),
            ConfigError::InvalidOverflow(id) => {
                write!(
                    f,
                    "overflow target {id} is unknown, the service itself, or leads back to it with no wait"
                )
            }
            ConfigError::StillInUse { what } => write!(f, "still in use: {what}"),
            ConfigError::ZeroLevel => write!(f, "trait levels must be at least 1"),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Errors when commanding an agent (presence, block, absence, pause, login...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AgentError {
    /// No agent with this id.
    UnknownAgent(AgentId),
    /// No profile with this id, or the agent has no responsibilities under it.
    UnknownProfile,
    /// The agent has no phone line of that number (xuc `PhoneNumberUnknown`).
    PhoneNumberUnknown,
    /// The agent is logged in on another line (xuc `LoggedInOnAnotherPhone`).
    LoggedInOnAnotherPhone {
        /// The line the agent is on.
        current: String,
        /// The line requested.
        requested: String,
    },
    /// The operation needs a signed-in agent.
    NotLoggedIn,
    /// The agent is not in wrap-up.
    NotInWrapup,
    /// The agent is not blocked / absent / paused as the command assumes.
    NotInThatState(&'static str),
}

impl fmt::Display for AgentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AgentError::UnknownAgent(id) => write!(f, "agent {id} does not exist"),
            AgentError::UnknownProfile => {
                write!(f, "the agent has no such responsibility profile")
            }
            AgentError::PhoneNumberUnknown => write!(f, "the phone number is not a known line"),
            AgentError::LoggedInOnAnotherPhone { current, requested } => write!(
                f,
                "the agent is logged in on line {current}, not on {requested}"
            ),
            AgentError::NotLoggedIn => write!(f, "the agent is not logged in"),
            AgentError::NotInWrapup => write!(f, "the agent is not in wrap-up"),
            AgentError::NotInThatState(state) => write!(f, "the agent is not {state}"),
        }
    }
}

impl std::error::Error for AgentError {}

/// Errors when creating or changing a task. Each names the rule that refused the change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TaskError {
    /// No live task with this id (it never existed or is terminated).
    UnknownTask(TaskId),
    /// The task's service does not exist.
    UnknownService(ServiceId),
    /// A named agent does not exist.
    UnknownAgent(AgentId),
    /// A live task already has this id.
    DuplicateTask(TaskId),
    /// A live task already has this external id.
    DuplicateExternalId(String),
    /// The integer id is already used by a live task.
    DuplicateNumber(u64),
    /// Seed 000: an established task cannot be set established again.
    AlreadyEstablished,
    /// Seed 000: a task whose agent is connected cannot be refreshed.
    AgentConnected,
    /// The operation needs an offered task.
    NotOffered(TaskStatus),
    /// The task is offered to another agent.
    OfferedToAnotherAgent(AgentId),
    /// The operation needs an established task.
    NotEstablished(TaskStatus),
    /// Resume needs a task on hold.
    NotOnHold(TaskStatus),
    /// The operation needs a waiting task.
    NotWaiting(TaskStatus),
    /// The named agent cannot take another task on this channel.
    NoCapacity(AgentId),
    /// The task kind does not allow this operation (for example a block task cannot be transferred).
    WrongKind(&'static str),
    /// A reservation must end after it starts, and priorities and spans must be in range.
    InvalidValue(&'static str),
    /// The task already has a consultative call (one at a time; end it first).
    ConsultationActive,
    /// The task has no consultative call.
    NoConsultation,
    /// The action needs a merged consultative call.
    ConsultationNotMerged,
    /// The customer's call already ended during the consultation.
    CustomerLeft,
    /// The agent to consult is signed out, ringing, consulted already or busy on another call.
    ConsultantUnavailable(AgentId),
    /// Another agent claimed the task from a list.
    ClaimedByAnotherAgent(AgentId),
    /// The agent is not a member of the task's service.
    NotAMember(AgentId),
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskError::UnknownTask(id) => write!(f, "task {id} does not exist (any more)"),
            TaskError::UnknownService(id) => write!(f, "service {id} does not exist"),
            TaskError::UnknownAgent(id) => write!(f, "agent {id} does not exist"),
            TaskError::DuplicateTask(id) => write!(f, "a task with id {id} already exists"),
            TaskError::DuplicateExternalId(external) => {
                write!(
                    f,
                    "a live task with ExternalTaskId '{external}' already exists"
                )
            }
            TaskError::DuplicateNumber(number) => {
                write!(f, "a live task with integer id {number} already exists")
            }
            TaskError::AlreadyEstablished => {
                write!(
                    f,
                    "the task is already established and cannot be set established again"
                )
            }
            TaskError::AgentConnected => write!(
                f,
                "the task's agent is already connected; an established task cannot be refreshed"
            ),
            TaskError::NotOffered(status) => {
                write!(f, "the task is {}, not offered to an agent", status.name())
            }
            TaskError::OfferedToAnotherAgent(agent) => {
                write!(f, "the task is offered to another agent ({agent})")
            }
            TaskError::NotEstablished(status) => {
                write!(f, "the task is {}, not established", status.name())
            }
            TaskError::NotOnHold(status) => write!(f, "the task is {}, not on hold", status.name()),
            TaskError::NotWaiting(status) => {
                write!(f, "the task is {}, not waiting", status.name())
            }
            TaskError::NoCapacity(agent) => {
                write!(f, "agent {agent} has no capacity left for this task")
            }
            TaskError::WrongKind(why) => write!(f, "{why}"),
            TaskError::InvalidValue(why) => write!(f, "{why}"),
            TaskError::ConsultationActive => write!(
                f,
                "the task already has a consultative call; end it first"
            ),
            TaskError::NoConsultation => write!(f, "the task has no consultative call"),
            TaskError::ConsultationNotMerged => {
                write!(f, "the consultative call is not merged with the customer")
            }
            TaskError::CustomerLeft => write!(
                f,
                "the customer's call already ended during the consultation"
            ),
            TaskError::ConsultantUnavailable(agent) => write!(
                f,
                "agent {agent} cannot be consulted now (signed out, ringing, already consulted or on another call)"
            ),
            TaskError::ClaimedByAnotherAgent(agent) => {
                write!(f, "the task is claimed by agent {agent}")
            }
            TaskError::NotAMember(agent) => {
                write!(f, "agent {agent} is not a member of the task's service")
            }
        }
    }
}

impl std::error::Error for TaskError {}
