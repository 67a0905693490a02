//! The commands a CTI client sends, read from a websocket text message into a typed `Request` without the engine,
//! so that the reading can be tested and fuzzed on its own (`fuzz/`, `docs/testing.md`); `session` executes them.
//!
//! A message is a JSON object: `{"claz": "ping"}`, or `{"claz": "web", "command": NAME, ARGUMENTS...}` with the
//! arguments beside the command. Reading never panics and never consults the engine: an unknown command, a
//! missing argument or one of the wrong type is a `RequestError` naming it, which the session answers with an
//! `Error` message (the socket stays open and nothing changes). What needs the engine (whether agent 12 exists,
//! whether this user may command it, whether a callback is in the user's lists) is checked by the session after
//! reading, so an argument's type or form is reported before anything that depends on the tenant's state.
//!
//! `COMMANDS` lists every command with the arguments it reads; the robustness tests check the reader against it.

use std::fmt;

use serde_json::{Map, Value};
use switchboard_core::{TaskId, Time};

use super::callbacks::Search;

/// A command of a CTI client, its arguments read and checked for type and form.
///
/// Agents and queues are named by their integer ids as sent (`agent: None` means the user's own agent): whether
/// they exist is the session's question.
#[derive(Clone, Debug, PartialEq)]
pub enum Request {
    /// `{"claz": "ping"}`: answered `Pong` after what is pending.
    Ping,
    /// `getQueueHistory`: the last `minutes` (1 to 60) of each queue the user may see, or of `queue`.
    GetQueueHistory {
        minutes: i64,
        queue: Option<i64>,
    },
    GetPauseReasons,
    /// `agentLogin`: `line` defaults to the agent's phone line.
    AgentLogin {
        agent: Option<i64>,
        line: Option<String>,
    },
    AgentLogout {
        agent: Option<i64>,
    },
    PauseAgent {
        agent: Option<i64>,
        reason: String,
    },
    UnpauseAgent {
        agent: Option<i64>,
    },
    ListenAgent {
        agent: Option<i64>,
    },
    SetAgentQueue {
        agent: Option<i64>,
        queue: i64,
        penalty: u32,
    },
    RemoveAgentFromQueue {
        agent: Option<i64>,
        queue: i64,
    },
    SubscribeToAgentEvents,
    GetAgentStates,
    SubscribeToQueueStats,
    GetQueueStatistics {
        queue: i64,
    },
    SubscribeToAgentStats,
    GetList {
        object_type: ObjectType,
    },
    GetAgentDirectory,
    /// `answer`, `decline`, `hangup`, `hold`, `resume`: of `task`, else of the agent's current task.
    Task {
        action: TaskAction,
        task: Option<TaskId>,
    },
    EndWrapup {
        agent: Option<i64>,
    },
    /// `dialFromQueue`: `variables` become context parameters `USR_name`.
    DialFromQueue {
        destination: String,
        queue: i64,
        caller_id: Option<String>,
        variables: Vec<(String, String)>,
    },
    SetAgentGroup {
        agent: Option<i64>,
        group: u32,
    },
    GetCallbackLists,
    GetCallbackPreferredPeriods,
    TakeCallback {
        callback: TaskId,
    },
    ReleaseCallback {
        callback: TaskId,
    },
    /// `startCallback`: `number` (or `phoneNumber`) defaults to the request's target.
    StartCallback {
        callback: TaskId,
        number: Option<String>,
    },
    UpdateCallbackTicket {
        callback: TaskId,
        ticket: TicketUpdate,
    },
    /// `findCallbackRequest`: `id` is echoed as sent.
    FindCallbackRequest {
        id: Value,
        search: Search,
    },
}

/// What a task command does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskAction {
    Answer,
    Decline,
    Hangup,
    Hold,
    Resume,
}

impl TaskAction {
    /// The command's name.
    pub fn name(self) -> &'static str {
        match self {
            TaskAction::Answer => "answer",
            TaskAction::Decline => "decline",
            TaskAction::Hangup => "hangup",
            TaskAction::Hold => "hold",
            TaskAction::Resume => "resume",
        }
    }
}

/// The lists `getList` answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectType {
    Queue,
    Agent,
    QueueMember,
    AgentGroup,
}

/// The outcome of a callback call (`updateCallbackTicket`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TicketUpdate {
    pub status: TicketStatus,
    /// `comment`, else `description`, else empty.
    pub comment: String,
    /// `dueDate`: the day to call back.
    pub due_date: Option<Time>,
    /// `periodUuid`: the preferred period to call back in (its existence is the session's question).
    pub period: Option<String>,
}

/// A callback ticket's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TicketStatus {
    NoAnswer,
    Answered,
    Fax,
    Email,
    Callback,
}

impl TicketStatus {
    /// Every status, as clients name them.
    pub const ALL: [TicketStatus; 5] = [
        TicketStatus::NoAnswer,
        TicketStatus::Answered,
        TicketStatus::Fax,
        TicketStatus::Email,
        TicketStatus::Callback,
    ];

    /// The status's name.
    pub fn name(self) -> &'static str {
        match self {
            TicketStatus::NoAnswer => "NoAnswer",
            TicketStatus::Answered => "Answered",
            TicketStatus::Fax => "Fax",
            TicketStatus::Email => "Email",
            TicketStatus::Callback => "Callback",
        }
    }
}

/// Why a message is not a command the session can execute. `Display` is the text of the `Error` answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequestError {
    /// Not JSON, or JSON but not an object.
    NotAnObject,
    /// An object without a `command` string (and not a ping).
    NoCommand,
    /// The command is unknown, not supported, or an argument is missing or wrong: `problem` names it.
    Command { command: String, problem: String },
}

impl RequestError {
    /// The command the message names, when it names one.
    pub fn command(&self) -> Option<&str> {
        match self {
            RequestError::Command { command, .. } => Some(command),
            RequestError::NotAnObject | RequestError::NoCommand => None,
        }
    }
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::NotAnObject => f.write_str("the message is not a JSON object"),
            RequestError::NoCommand => {
                f.write_str("a command needs {\"claz\":\"web\",\"command\":..}")
            }
            RequestError::Command { command, problem } => write!(f, "{command}: {problem}"),
        }
    }
}

impl std::error::Error for RequestError {}

/// What an argument holds (`COMMANDS`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgKind {
    /// An integer, or a string holding one, from `low` to `high` (an id's existence is checked later).
    Integer { low: i64, high: i64 },
    /// Text; a number is taken as its text.
    Text,
    /// Text that must not be blank.
    NonBlankText,
    /// A UUID in a string.
    Uuid,
    /// One of these words.
    OneOf(&'static [&'static str]),
    /// A day, `YYYY-MM-DD` (a time after it is accepted); blank means none.
    Date,
    /// A JSON object.
    Object,
}

/// An argument a command reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Argument {
    pub key: &'static str,
    pub kind: ArgKind,
    pub required: bool,
}

/// A command and the arguments it reads. Arguments not listed are ignored; `findCallbackRequest`'s `id` is any
/// JSON and not listed. `phoneNumber` is read only when `number` is absent or blank, `description` only when
/// `comment` is absent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommandSpec {
    pub name: &'static str,
    pub arguments: &'static [Argument],
}

const fn optional(key: &'static str, kind: ArgKind) -> Argument {
    Argument {
        key,
        kind,
        required: false,
    }
}

const fn required(key: &'static str, kind: ArgKind) -> Argument {
    Argument {
        key,
        kind,
        required: true,
    }
}

const ANY_INTEGER: ArgKind = ArgKind::Integer {
    low: i64::MIN,
    high: i64::MAX,
};
const OWN_AGENT: Argument = optional("agentid", ANY_INTEGER);
const NAMED_AGENT: Argument = optional("agentId", ANY_INTEGER);
const QUEUE: Argument = required("queueId", ANY_INTEGER);
const CALLBACK: Argument = required("uuid", ArgKind::Uuid);
const TASK: &[Argument] = &[optional("taskId", ArgKind::Uuid)];
const OBJECT_TYPES: &[&str] = &["queue", "agent", "queuemember", "agentgroup"];
const STATUSES: &[&str] = &["NoAnswer", "Answered", "Fax", "Email", "Callback"];

/// Every command a session understands, with the arguments it reads.
pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "getQueueHistory",
        arguments: &[
            optional("minutes", ArgKind::Integer { low: 1, high: 60 }),
            optional("queueId", ANY_INTEGER),
        ],
    },
    CommandSpec {
        name: "getPauseReasons",
        arguments: &[],
    },
    CommandSpec {
        name: "agentLogin",
        arguments: &[OWN_AGENT, optional("agentphonenumber", ArgKind::Text)],
    },
    CommandSpec {
        name: "agentLogout",
        arguments: &[OWN_AGENT],
    },
    CommandSpec {
        name: "pauseAgent",
        arguments: &[OWN_AGENT, optional("reason", ArgKind::Text)],
    },
    CommandSpec {
        name: "unpauseAgent",
        arguments: &[OWN_AGENT],
    },
    CommandSpec {
        name: "listenAgent",
        arguments: &[OWN_AGENT],
    },
    CommandSpec {
        name: "setAgentQueue",
        arguments: &[
            NAMED_AGENT,
            QUEUE,
            optional("penalty", ArgKind::Integer { low: 0, high: 1000 }),
        ],
    },
    CommandSpec {
        name: "removeAgentFromQueue",
        arguments: &[NAMED_AGENT, QUEUE],
    },
    CommandSpec {
        name: "subscribeToAgentEvents",
        arguments: &[],
    },
    CommandSpec {
        name: "getAgentStates",
        arguments: &[],
    },
    CommandSpec {
        name: "subscribeToQueueStats",
        arguments: &[],
    },
    CommandSpec {
        name: "getQueueStatistics",
        arguments: &[QUEUE],
    },
    CommandSpec {
        name: "subscribeToAgentStats",
        arguments: &[],
    },
    CommandSpec {
        name: "getList",
        arguments: &[required("objectType", ArgKind::OneOf(OBJECT_TYPES))],
    },
    CommandSpec {
        name: "getAgentDirectory",
        arguments: &[],
    },
    CommandSpec {
        name: "answer",
        arguments: TASK,
    },
    CommandSpec {
        name: "decline",
        arguments: TASK,
    },
    CommandSpec {
        name: "hangup",
        arguments: TASK,
    },
    CommandSpec {
        name: "hold",
        arguments: TASK,
    },
    CommandSpec {
        name: "resume",
        arguments: TASK,
    },
    CommandSpec {
        name: "endWrapup",
        arguments: &[OWN_AGENT],
    },
    CommandSpec {
        name: "dialFromQueue",
        arguments: &[
            required("destination", ArgKind::NonBlankText),
            QUEUE,
            optional("callerId", ArgKind::Text),
            optional("variables", ArgKind::Object),
        ],
    },
    CommandSpec {
        name: "setAgentGroup",
        arguments: &[
            NAMED_AGENT,
            required(
                "groupId",
                ArgKind::Integer {
                    low: 0,
                    high: u32::MAX as i64,
                },
            ),
        ],
    },
    CommandSpec {
        name: "getCallbackLists",
        arguments: &[],
    },
    CommandSpec {
        name: "getCallbackPreferredPeriods",
        arguments: &[],
    },
    CommandSpec {
        name: "takeCallback",
        arguments: &[CALLBACK],
    },
    CommandSpec {
        name: "releaseCallback",
        arguments: &[CALLBACK],
    },
    CommandSpec {
        name: "startCallback",
        arguments: &[
            CALLBACK,
            optional("number", ArgKind::Text),
            optional("phoneNumber", ArgKind::Text),
        ],
    },
    CommandSpec {
        name: "updateCallbackTicket",
        arguments: &[
            CALLBACK,
            required("status", ArgKind::OneOf(STATUSES)),
            optional("comment", ArgKind::Text),
            optional("description", ArgKind::Text),
            optional("dueDate", ArgKind::Date),
            optional("periodUuid", ArgKind::Text),
        ],
    },
    CommandSpec {
        name: "findCallbackRequest",
        arguments: &[optional("request", ArgKind::Object)],
    },
];

/// Commands xuc has that switchboard answers with an error saying why.
pub const UNSUPPORTED: &[&str] = &["listenCallbackMessage", "monitorPause", "monitorUnpause"];

impl Request {
    /// The command's name (`ping` for a ping).
    pub fn name(&self) -> &'static str {
        match self {
            Request::Ping => "ping",
            Request::GetQueueHistory { .. } => "getQueueHistory",
            Request::GetPauseReasons => "getPauseReasons",
            Request::AgentLogin { .. } => "agentLogin",
            Request::AgentLogout { .. } => "agentLogout",
            Request::PauseAgent { .. } => "pauseAgent",
            Request::UnpauseAgent { .. } => "unpauseAgent",
            Request::ListenAgent { .. } => "listenAgent",
            Request::SetAgentQueue { .. } => "setAgentQueue",
            Request::RemoveAgentFromQueue { .. } => "removeAgentFromQueue",
            Request::SubscribeToAgentEvents => "subscribeToAgentEvents",
            Request::GetAgentStates => "getAgentStates",
            Request::SubscribeToQueueStats => "subscribeToQueueStats",
            Request::GetQueueStatistics { .. } => "getQueueStatistics",
            Request::SubscribeToAgentStats => "subscribeToAgentStats",
            Request::GetList { .. } => "getList",
            Request::GetAgentDirectory => "getAgentDirectory",
            Request::Task { action, .. } => action.name(),
            Request::EndWrapup { .. } => "endWrapup",
            Request::DialFromQueue { .. } => "dialFromQueue",
            Request::SetAgentGroup { .. } => "setAgentGroup",
            Request::GetCallbackLists => "getCallbackLists",
            Request::GetCallbackPreferredPeriods => "getCallbackPreferredPeriods",
            Request::TakeCallback { .. } => "takeCallback",
            Request::ReleaseCallback { .. } => "releaseCallback",
            Request::StartCallback { .. } => "startCallback",
            Request::UpdateCallbackTicket { .. } => "updateCallbackTicket",
            Request::FindCallbackRequest { .. } => "findCallbackRequest",
        }
    }
}

/// Reads one text message of a CTI socket.
pub fn parse(text: &str) -> Result<Request, RequestError> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(message)) => parse_object(&message),
        _ => Err(RequestError::NotAnObject),
    }
}

/// Reads a message already parsed as a JSON object.
pub fn parse_object(message: &Map<String, Value>) -> Result<Request, RequestError> {
    if message.get("claz").and_then(Value::as_str) == Some("ping") {
        return Ok(Request::Ping);
    }
    let Some(command) = message.get("command").and_then(Value::as_str) else {
        return Err(RequestError::NoCommand);
    };
    parse_command(command, message).map_err(|problem| RequestError::Command {
        command: command.to_string(),
        problem,
    })
}

/// The arguments of a known command, in the order the session has always checked them, so the first problem
/// found is the one named.
fn parse_command(command: &str, args: &Map<String, Value>) -> Result<Request, String> {
    let own_agent = || int_arg(args, "agentid");
    let named_agent = || int_arg(args, "agentId");
    let task = |action| -> Result<Request, String> {
        let task = string_arg(args, "taskId")?
            .map(|id| {
                uuid::Uuid::parse_str(&id)
                    .map(TaskId)
                    .map_err(|_| format!("taskId '{id}' is not a task id"))
            })
            .transpose()?;
        Ok(Request::Task { action, task })
    };
    Ok(match command {
        "getQueueHistory" => {
            let minutes = match int_arg(args, "minutes")? {
                Some(m) if (1..=60).contains(&m) => m,
                Some(_) => return Err("minutes must be between 1 and 60".into()),
                None => 60,
            };
            Request::GetQueueHistory {
                minutes,
                queue: int_arg(args, "queueId")?,
            }
        }
        "getPauseReasons" => Request::GetPauseReasons,
        "agentLogin" => Request::AgentLogin {
            agent: own_agent()?,
            line: string_arg(args, "agentphonenumber")?,
        },
        "agentLogout" => Request::AgentLogout {
            agent: own_agent()?,
        },
        "pauseAgent" => Request::PauseAgent {
            agent: own_agent()?,
            reason: string_arg(args, "reason")?.unwrap_or_default(),
        },
        "unpauseAgent" => Request::UnpauseAgent {
            agent: own_agent()?,
        },
        "listenAgent" => Request::ListenAgent {
            agent: own_agent()?,
        },
        "setAgentQueue" => {
            let agent = named_agent()?;
            let queue = queue_arg(args)?;
            let penalty = match int_arg(args, "penalty")? {
                Some(p) => u32::try_from(p)
                    .ok()
                    .filter(|p| *p <= 1000)
                    .ok_or("penalty must be between 0 and 1000")?,
                None => 0,
            };
            Request::SetAgentQueue {
                agent,
                queue,
                penalty,
            }
        }
        "removeAgentFromQueue" => Request::RemoveAgentFromQueue {
            agent: named_agent()?,
            queue: queue_arg(args)?,
        },
        "subscribeToAgentEvents" => Request::SubscribeToAgentEvents,
        "getAgentStates" => Request::GetAgentStates,
        "subscribeToQueueStats" => Request::SubscribeToQueueStats,
        "getQueueStatistics" => Request::GetQueueStatistics {
            queue: queue_arg(args)?,
        },
        "subscribeToAgentStats" => Request::SubscribeToAgentStats,
        "getList" => {
            let object_type = string_arg(args, "objectType")?.ok_or("objectType is missing")?;
            let object_type = match object_type.as_str() {
                "queue" => ObjectType::Queue,
                "agent" => ObjectType::Agent,
                "queuemember" => ObjectType::QueueMember,
                "agentgroup" => ObjectType::AgentGroup,
                other => {
                    return Err(format!(
                        "objectType '{other}' is not one of queue, agent, queuemember, agentgroup"
                    ))
                }
            };
            Request::GetList { object_type }
        }
        "getAgentDirectory" => Request::GetAgentDirectory,
        "answer" => task(TaskAction::Answer)?,
        "decline" => task(TaskAction::Decline)?,
        "hangup" => task(TaskAction::Hangup)?,
        "hold" => task(TaskAction::Hold)?,
        "resume" => task(TaskAction::Resume)?,
        "endWrapup" => Request::EndWrapup {
            agent: own_agent()?,
        },
        "dialFromQueue" => {
            let destination = string_arg(args, "destination")?
                .filter(|d| !d.trim().is_empty())
                .ok_or("destination is missing")?;
            let queue = queue_arg(args)?;
            let caller_id = string_arg(args, "callerId")?;
            let variables = match args.get("variables") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Object(variables)) => variables
                    .iter()
                    .map(|(name, value)| {
                        let value = match value {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        (name.clone(), value)
                    })
                    .collect(),
                Some(_) => return Err("variables must be an object of name: value".into()),
            };
            Request::DialFromQueue {
                destination,
                queue,
                caller_id,
                variables,
            }
        }
        "setAgentGroup" => {
            let agent = named_agent()?;
            let group = int_arg(args, "groupId")?
                .and_then(|g| u32::try_from(g).ok())
                .ok_or("groupId must be a non-negative integer")?;
            Request::SetAgentGroup { agent, group }
        }
        "getCallbackLists" => Request::GetCallbackLists,
        "getCallbackPreferredPeriods" => Request::GetCallbackPreferredPeriods,
        "takeCallback" => Request::TakeCallback {
            callback: callback_arg(args)?,
        },
        "releaseCallback" => Request::ReleaseCallback {
            callback: callback_arg(args)?,
        },
        "startCallback" => {
            let callback = callback_arg(args)?;
            let non_blank = |key| -> Result<Option<String>, String> {
                Ok(string_arg(args, key)?.filter(|n| !n.trim().is_empty()))
            };
            let number = match non_blank("number")? {
                Some(number) => Some(number),
                None => non_blank("phoneNumber")?,
            };
            Request::StartCallback { callback, number }
        }
        "updateCallbackTicket" => Request::UpdateCallbackTicket {
            callback: callback_arg(args)?,
            ticket: ticket_arg(args)?,
        },
        "findCallbackRequest" => {
            let id = args.get("id").cloned().unwrap_or(Value::Null);
            let search = match args.get("request") {
                None | Some(Value::Null) => Search::parse(&Map::new())?,
                Some(Value::Object(request)) => Search::parse(request)?,
                Some(_) => return Err("request must be an object {filters, offset, limit}".into()),
            };
            Request::FindCallbackRequest { id, search }
        }
        "listenCallbackMessage" => {
            return Err("switchboard stores no voice messages for callbacks".into())
        }
        "monitorPause" | "monitorUnpause" => {
            return Err(
                "call recording is the telephony system's; switchboard has no recording to pause"
                    .into(),
            )
        }
        other => return Err(format!("unknown command '{other}'")),
    })
}

fn queue_arg(args: &Map<String, Value>) -> Result<i64, String> {
    int_arg(args, "queueId")?.ok_or_else(|| "queueId is missing".into())
}

/// The callback request a command names by `uuid`.
fn callback_arg(args: &Map<String, Value>) -> Result<TaskId, String> {
    let uuid = string_arg(args, "uuid")?.ok_or("uuid is missing")?;
    uuid::Uuid::parse_str(&uuid)
        .map(TaskId)
        .map_err(|_| format!("uuid '{uuid}' is not a callback request id"))
}

fn ticket_arg(args: &Map<String, Value>) -> Result<TicketUpdate, String> {
    let status = string_arg(args, "status")?.ok_or("status is missing")?;
    let status = TicketStatus::ALL
        .into_iter()
        .find(|s| s.name() == status)
        .ok_or_else(|| format!("status '{status}' is not one of {}", STATUSES.join(", ")))?;
    let comment = match string_arg(args, "comment")? {
        Some(comment) => comment,
        None => string_arg(args, "description")?.unwrap_or_default(),
    };
    let due_date = match string_arg(args, "dueDate")? {
        Some(date) if !date.trim().is_empty() => Some(
            crate::lucs::callbacks::parse_due_date(&date)
                .ok_or(format!("dueDate '{date}' is not YYYY-MM-DD"))?,
        ),
        _ => None,
    };
    let period = string_arg(args, "periodUuid")?.filter(|uuid| !uuid.trim().is_empty());
    Ok(TicketUpdate {
        status,
        comment,
        due_date,
        period,
    })
}

/// A text argument: absent (or null), a string, or a number taken as its text.
fn string_arg(args: &Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    match args.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(format!("{key} must be a string")),
    }
}

/// An integer argument: absent (or null), a JSON integer, or a string holding one.
fn int_arg(args: &Map<String, Value>, key: &str) -> Result<Option<i64>, String> {
    match args.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| format!("{key} must be an integer")),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| format!("{key} must be an integer")),
        Some(_) => Err(format!("{key} must be an integer")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    /// A value the argument accepts.
    fn valid_value(kind: ArgKind) -> Value {
        match kind {
            ArgKind::Integer { low, high } => json!(0.clamp(low, high)),
            ArgKind::Text => json!("1001"),
            ArgKind::NonBlankText => json!("+41790000000"),
            ArgKind::Uuid => json!("67e55044-10b1-426f-9247-bb680e5fe0c8"),
            ArgKind::OneOf(words) => json!(words[0]),
            ArgKind::Date => json!("2026-11-24"),
            ArgKind::Object => json!({"a": 1}),
        }
    }

    /// Values that are neither text nor numbers.
    fn not_scalar() -> BoxedStrategy<Value> {
        prop_oneof![
            Just(json!(true)),
            Just(json!(false)),
            Just(json!([])),
            Just(json!([1, "a"])),
            Just(json!({})),
            Just(json!({"a": [null]})),
        ]
        .boxed()
    }

    /// Values the argument refuses: of a wrong type, or of the right type and a wrong form or range.
    fn wrong_value(kind: ArgKind) -> BoxedStrategy<Value> {
        match kind {
            ArgKind::Integer { low, high } => {
                let mut wrong = vec![
                    not_scalar(),
                    "[a-z ]{0,8}|[0-9]{1,4}\\.[0-9]{1,3}|[1-9][0-9]{19,23}"
                        .prop_map(Value::from)
                        .boxed(),
                    any::<f64>()
                        .prop_filter_map("finite", serde_json::Number::from_f64)
                        .prop_map(Value::Number)
                        .boxed(),
                    (i64::MAX as u64 + 1..=u64::MAX)
                        .prop_map(Value::from)
                        .boxed(),
                ];
                if low > i64::MIN {
                    wrong.push((i64::MIN..low).prop_map(Value::from).boxed());
                }
                if high < i64::MAX {
                    wrong.push((high + 1..=i64::MAX).prop_map(Value::from).boxed());
                }
                proptest::strategy::Union::new(wrong).boxed()
            }
            ArgKind::Text => not_scalar(),
            ArgKind::NonBlankText => {
                prop_oneof![not_scalar(), "[ \t]{0,3}".prop_map(Value::from)].boxed()
            }
            ArgKind::Uuid => prop_oneof![
                not_scalar(),
                "[g-z-]{0,12}".prop_map(Value::from),
                any::<i32>().prop_map(Value::from),
            ]
            .boxed(),
            ArgKind::OneOf(words) => prop_oneof![
                not_scalar(),
                "[A-Za-z]{0,12}"
                    .prop_filter("not a word of the list", move |w| !words
                        .contains(&w.as_str()))
                    .prop_map(Value::from),
                any::<i64>().prop_map(Value::from),
            ]
            .boxed(),
            ArgKind::Date => prop_oneof![
                not_scalar(),
                "[a-z]{1,10}".prop_map(Value::from),
                // Months and days out of range, and years no calendar holds.
                "20[0-9]{2}-(1[3-9]|00)-1[0-9]|20[0-9]{2}-0[1-9]-(3[2-9]|00)".prop_map(Value::from),
                "-?[1-9][0-9]{5,18}-0[1-9]-1[0-9](T0[0-9]:00)?".prop_map(Value::from),
            ]
            .boxed(),
            ArgKind::Object => prop_oneof![
                Just(json!(1)),
                Just(json!("x")),
                Just(json!([])),
                Just(json!(true)),
            ]
            .boxed(),
        }
    }

    /// The command with its required arguments set to accepted values.
    fn near_valid(spec: &CommandSpec) -> Map<String, Value> {
        let mut message = Map::new();
        message.insert("claz".into(), json!("web"));
        message.insert("command".into(), json!(spec.name));
        for argument in spec.arguments.iter().filter(|a| a.required) {
            message.insert(argument.key.into(), valid_value(argument.kind));
        }
        message
    }

    /// A command, one of its arguments, and a value that argument refuses.
    fn wrong_argument() -> impl Strategy<Value = (&'static CommandSpec, Argument, Value)> {
        proptest::sample::select(
            COMMANDS
                .iter()
                .flat_map(|spec| spec.arguments.iter().map(move |a| (spec, *a)))
                .collect::<Vec<_>>(),
        )
        .prop_flat_map(|(spec, argument)| {
            wrong_value(argument.kind).prop_map(move |value| (spec, argument, value))
        })
    }

    fn refusal(result: Result<Request, RequestError>) -> (String, String) {
        match result {
            Err(RequestError::Command { command, problem }) => (command, problem),
            other => panic!("expected an error naming the problem, got {other:?}"),
        }
    }

    /// Any JSON, with the words of the protocol among its keys and strings.
    fn json_value() -> impl Strategy<Value = Value> {
        let words: Vec<&'static str> = COMMANDS
            .iter()
            .flat_map(|spec| std::iter::once(spec.name).chain(spec.arguments.iter().map(|a| a.key)))
            .chain([
                "claz", "command", "web", "ping", "id", "filters", "field", "operator", "value",
            ])
            .chain(UNSUPPORTED.iter().copied())
            .collect();
        let word = prop_oneof![
            3 => proptest::sample::select(words).prop_map(str::to_string),
            1 => any::<String>(),
        ];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter_map("finite", serde_json::Number::from_f64)
                .prop_map(Value::Number),
            word.clone().prop_map(Value::from),
            "-?[0-9]{1,25}( )?".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 6, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::vec((word.clone(), inner), 0..6)
                    .prop_map(|fields| Value::Object(fields.into_iter().collect())),
            ]
        })
    }

    /// A message that names a known command (or none, or an unknown one) with arbitrary arguments.
    fn command_message() -> impl Strategy<Value = Map<String, Value>> {
        let name = prop_oneof![
            4 => proptest::sample::select(COMMANDS.iter().map(|c| c.name).collect::<Vec<_>>())
                .prop_map(Value::from),
            1 => json_value(),
        ];
        (
            name,
            proptest::collection::vec(json_value(), 0..6),
            any::<bool>(),
        )
            .prop_map(|(name, values, ping)| {
                let spec = COMMANDS.iter().find(|c| Some(c.name) == name.as_str());
                let mut message = Map::new();
                message.insert("claz".into(), json!(if ping { "ping" } else { "web" }));
                message.insert("command".into(), name);
                let keys = spec.map(|s| s.arguments).unwrap_or_default();
                for (argument, value) in keys.iter().zip(values) {
                    message.insert(argument.key.into(), value);
                }
                message
            })
    }

    #[test]
    fn every_listed_command_is_read_and_named() {
        for spec in COMMANDS {
            let message = Value::Object(near_valid(spec)).to_string();
            let request = parse(&message).unwrap_or_else(|e| panic!("{message}: {e}"));
            assert_eq!(request.name(), spec.name);
        }
        assert_eq!(parse(r#"{"claz":"ping"}"#), Ok(Request::Ping));
        assert_eq!(parse(r#"{"claz":"ping","command":7}"#), Ok(Request::Ping));
        for name in UNSUPPORTED {
            let (command, problem) = refusal(parse(&json!({"command": name}).to_string()));
            assert_eq!(command, *name);
            assert!(problem.contains("switchboard"), "{problem}");
        }
    }

    #[test]
    fn the_envelope_errors_say_what_a_message_is() {
        assert_eq!(parse("not json"), Err(RequestError::NotAnObject));
        assert_eq!(parse("[1]"), Err(RequestError::NotAnObject));
        assert_eq!(parse(r#"{"claz":"web"}"#), Err(RequestError::NoCommand));
        assert_eq!(parse(r#"{"command":5}"#), Err(RequestError::NoCommand));
        assert_eq!(
            parse(r#"{"command":"fly"}"#).unwrap_err().to_string(),
            "fly: unknown command 'fly'"
        );
        assert_eq!(
            RequestError::NotAnObject.to_string(),
            "the message is not a JSON object"
        );
    }

    #[test]
    fn arguments_are_read_as_the_session_always_read_them() {
        let read = |message: Value| parse(&message.to_string());
        assert_eq!(
            read(
                json!({"command": "setAgentQueue", "agentId": "12", "queueId": 3, "penalty": " 7 "})
            ),
            Ok(Request::SetAgentQueue {
                agent: Some(12),
                queue: 3,
                penalty: 7
            })
        );
        assert_eq!(
            read(json!({"command": "pauseAgent", "reason": 42})),
            Ok(Request::PauseAgent {
                agent: None,
                reason: "42".into()
            })
        );
        // `phoneNumber` stands in for a blank `number`; it is not read when `number` is given.
        let uuid = "67e55044-10b1-426f-9247-bb680e5fe0c8";
        assert_eq!(
            read(
                json!({"command": "startCallback", "uuid": uuid, "number": " ", "phoneNumber": "12"})
            ),
            Ok(Request::StartCallback {
                callback: TaskId(uuid::Uuid::parse_str(uuid).unwrap()),
                number: Some("12".into())
            })
        );
        assert!(read(
            json!({"command": "startCallback", "uuid": uuid, "number": "1", "phoneNumber": []})
        )
        .is_ok());
        assert_eq!(
            read(
                json!({"command": "dialFromQueue", "destination": "1", "queueId": 1,
                        "variables": {"a": "x", "b": 2}})
            ),
            Ok(Request::DialFromQueue {
                destination: "1".into(),
                queue: 1,
                caller_id: None,
                variables: vec![("a".into(), "x".into()), ("b".into(), "2".into())]
            })
        );
        let (_, problem) = refusal(read(
            json!({"command": "findCallbackRequest", "request": {"filters": [{"field": "secret"}]}}),
        ));
        assert!(problem.contains("unknown field 'secret'"), "{problem}");
    }

    proptest! {
        /// No text makes the reader panic, and every answer is a request or an error with something to say.
        #[test]
        fn any_text_is_read_or_refused(text in any::<String>()) {
            match parse(&text) {
                Ok(request) => prop_assert!(request.name() == "ping" || COMMANDS.iter().any(|c| c.name == request.name())),
                Err(error) => prop_assert!(!error.to_string().is_empty()),
            }
        }

        /// Nor any JSON built from the protocol's words, whole or cut short.
        #[test]
        fn json_shaped_text_is_read_or_refused(value in json_value(), cut in any::<prop::sample::Index>()) {
            let text = value.to_string();
            let mut end = cut.index(text.len() + 1);
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            for text in [text.as_str(), &text[..end]] {
                match parse(text) {
                    Ok(request) => prop_assert!(request.name() == "ping" || COMMANDS.iter().any(|c| c.name == request.name())),
                    Err(error) => prop_assert!(!error.to_string().is_empty()),
                }
            }
        }

        /// A known command with arbitrary argument values is read, or refused with an error naming one of its
        /// arguments.
        #[test]
        fn known_commands_with_arbitrary_arguments_are_read_or_named(message in command_message()) {
            let name = message.get("command").and_then(Value::as_str).map(str::to_string);
            let result = parse_object(&message);
            if message.get("claz") == Some(&json!("ping")) {
                prop_assert_eq!(result, Ok(Request::Ping));
                return Ok(());
            }
            let Some(name) = name else {
                prop_assert_eq!(result, Err(RequestError::NoCommand));
                return Ok(());
            };
            match (COMMANDS.iter().find(|c| c.name == name), result) {
                (Some(spec), Ok(request)) => prop_assert_eq!(request.name(), spec.name),
                (Some(spec), Err(RequestError::Command { command, problem })) => {
                    prop_assert_eq!(&command, &name);
                    let named = spec.arguments.iter().any(|a| problem.contains(a.key))
                        || (spec.name == "findCallbackRequest"
                            && ["request", "filter", "field", "operator"].iter().any(|w| problem.contains(w)));
                    prop_assert!(named, "{}: {} names none of its arguments", name, problem);
                }
                (None, Err(RequestError::Command { command, problem })) => {
                    prop_assert_eq!(&command, &name);
                    prop_assert!(problem.contains(&name) || UNSUPPORTED.contains(&name.as_str()));
                }
                (spec, result) => prop_assert!(false, "{:?} gave {:?}", spec.map(|s| s.name), result),
            }
        }

        /// Every known command with one argument of a wrong type or form is refused, naming that argument.
        #[test]
        fn a_wrong_argument_is_named((spec, argument, value) in wrong_argument()) {
            let mut message = near_valid(spec);
            message.insert(argument.key.into(), value.clone());
            let (command, problem) = refusal(parse_object(&message));
            prop_assert_eq!(command, spec.name);
            prop_assert!(problem.contains(argument.key), "{} {}={}: {}", spec.name, argument.key, value, problem);
            // The same text through the socket's path.
            let (_, again) = refusal(parse(&Value::Object(message).to_string()));
            prop_assert_eq!(again, problem);
        }
    }

    /// Inputs the robustness tests found: each once made the reader panic.
    #[test]
    fn regressions() {
        // A due date past year 9999 overflowed the time's microseconds.
        let uuid = "67e55044-10b1-426f-9247-bb680e5fe0c8";
        for date in ["100000-01-10", "9223372036854775807-03-01"] {
            let (_, problem) = refusal(parse(
                &json!({"command": "updateCallbackTicket", "uuid": uuid, "status": "Callback",
                        "dueDate": date})
                .to_string(),
            ));
            assert!(problem.contains("dueDate"), "{problem}");
        }
        // fuzz/ cti_command's first crash (artifact crash-4e1ff1c2..., a false alarm of the target's own check):
        // the bytes "1" x 40, ".", "1" x 10, read as the value of hangup's taskId. A float argument is read as its
        // text, and serde_json's float reading is not exact, so the same message printed and read again names the
        // same argument with a number one unit off in the last place: the same refusal, not the same text.
        let float = format!("{}.{}", "1".repeat(40), "1".repeat(10));
        let message = format!(r#"{{"claz":"web","command":"hangup","taskId":{float}}}"#);
        let (command, problem) = refusal(parse(&message));
        assert_eq!(command, "hangup");
        assert!(
            problem.starts_with("taskId '1.111111111111111"),
            "{problem}"
        );
        let again = serde_json::from_str::<Value>(&message).unwrap().to_string();
        let (command_again, problem_again) = refusal(parse(&again));
        assert_eq!(command_again, command);
        assert!(
            problem_again.contains("is not a task id"),
            "{problem_again}"
        );
    }

    #[test]
    fn a_missing_required_argument_is_named() {
        for spec in COMMANDS {
            for argument in spec.arguments.iter().filter(|a| a.required) {
                let mut message = near_valid(spec);
                message.remove(argument.key);
                let (command, problem) = refusal(parse_object(&message));
                assert_eq!(command, spec.name);
                assert!(problem.contains(argument.key), "{}: {problem}", spec.name);
            }
        }
    }
}
