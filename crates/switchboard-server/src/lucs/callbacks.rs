//! LUCS callbacks: a callback is a task of kind Callback; its own fields (target, retries, description...) ride
//! along as task attributes. States: `Pending` (due later), `InQueue`, `Processing` (offered or being handled),
//! `Terminated`.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use switchboard_core::{
    Command, Engine, TaskId, TaskInfo, TaskKind, TaskSpec, TaskStatus, TerminationReason, Time,
};

use super::dto::{parse_priority, NameValue};
use super::{find_service, Body, Params};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::AppState;

/// The attributes a callback keeps, in DTO field order.
const FIELDS: [&str; 15] = [
    "Target",
    "AlternativeTarget",
    "MaxRetries",
    "SecondsBetweenRetries",
    "IncomingServiceSipUri",
    "ContextUrl",
    "DueDate",
    "Supervisor",
    "Description",
    "CallerId",
    "Creator",
    "AppPoolId",
    "InitiatingSessionId",
    "Initiator",
    "RetryType",
];

/// A callback request (PROTOCOLS.md).
#[derive(Clone, Debug, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase", default)]
pub struct CallbackDto {
    pub id: Option<String>,
    pub external_task_id: Option<String>,
    pub target: Option<String>,
    pub alternative_target: Option<String>,
    pub max_retries: Option<u32>,
    pub seconds_between_retries: Option<u32>,
    pub service_id: Option<String>,
    pub service_sip: Option<String>,
    pub incoming_service_sip_uri: Option<String>,
    /// StrictPriority, Highest, VeryHigh, High, Normal, Low, VeryLow, Lowest, NothingElse (or a number).
    pub priority: Option<Value>,
    pub context_url: Option<String>,
    /// When to call back: `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM[:SS][Z]`, UTC.
    pub due_date: Option<String>,
    pub supervisor: Option<String>,
    /// At most 150 characters.
    pub description: Option<String>,
    pub caller_id: Option<String>,
    pub creator: Option<String>,
    pub left_in_queue_time_in_seconds: Option<i64>,
    pub app_pool_id: Option<String>,
    pub initiating_session_id: Option<String>,
    pub initiator: Option<String>,
    /// Pending, InQueue, Processing or Terminated.
    pub state: Option<String>,
    pub retry_type: Option<String>,
    pub retry_count: Option<u32>,
    pub context_parameters: Vec<NameValue>,
}

/// Parses `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM[:SS][Z]` as UTC; years 1 to 9999 (a larger year overflowed the
/// time's microseconds, found by the CTI parser's robustness tests).
pub fn parse_due_date(text: &str) -> Option<Time> {
    let text = text.trim().trim_end_matches('Z');
    let (date, time) = text.split_once(['T', ' ']).unwrap_or((text, "00:00:00"));
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (year, month, day) = (d.next()??, d.next()??, d.next()??);
    let mut t = time
        .split(':')
        .map(|p| p.split('.').next().and_then(|p| p.parse::<i64>().ok()));
    let (hour, minute, second) = (
        t.next()??,
        t.next().flatten().unwrap_or(0),
        t.next().flatten().unwrap_or(0),
    );
    // Four-digit years only: far larger ones would overflow the arithmetic below and the clock.
    if !(1..=9999).contains(&year)
        || !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || !(0..=23).contains(&hour)
        || !(0..=59).contains(&minute)
        || !(0..=60).contains(&second)
    {
        return None;
    }
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let doy = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    Some(Time::from_secs(
        days * 86_400 + hour * 3600 + minute * 60 + second,
    ))
}

fn state_name(status: TaskStatus) -> &'static str {
    match status {
        TaskStatus::Scheduled => "Pending",
        TaskStatus::Waiting => "InQueue",
        TaskStatus::Offered | TaskStatus::Established | TaskStatus::OnHold => "Processing",
        TaskStatus::Terminated => "Terminated",
    }
}

/// A task's dialect attribute (names are unique: `SetAttributes` replaces a value in place).
pub(crate) fn attribute<'a>(task: &'a TaskInfo, name: &str) -> Option<&'a str> {
    task.attributes
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// The DTO of a callback task.
pub fn callback_dto(engine: &Engine, task: &TaskInfo, now: Time) -> CallbackDto {
    let text = |name: &str| attribute(task, name).map(str::to_string);
    let number = |name: &str| attribute(task, name).and_then(|v| v.parse().ok());
    let service_sip = engine.service_info(task.service).map(|s| s.spec.sip_uri);
    let waited_until = match task.status {
        TaskStatus::Waiting => Some(now),
        TaskStatus::Scheduled => None,
        _ => task.offered_at.or(task.terminated),
    };
    CallbackDto {
        id: Some(task.id.to_string()),
        external_task_id: task.external_id.clone(),
        target: text("Target"),
        alternative_target: text("AlternativeTarget"),
        max_retries: number("MaxRetries"),
        seconds_between_retries: number("SecondsBetweenRetries"),
        service_id: Some(task.service.to_string()),
        service_sip,
        incoming_service_sip_uri: text("IncomingServiceSipUri"),
        priority: Some(
            task.priority
                .lucs_name()
                .map(|n| Value::String(n.to_string()))
                .unwrap_or(Value::from(task.priority.0)),
        ),
        context_url: text("ContextUrl"),
        due_date: text("DueDate"),
        supervisor: text("Supervisor"),
        description: text("Description"),
        caller_id: text("CallerId"),
        creator: text("Creator"),
        left_in_queue_time_in_seconds: waited_until
            .map(|until| until.since(task.queue_started).as_secs()),
        app_pool_id: text("AppPoolId"),
        initiating_session_id: text("InitiatingSessionId"),
        initiator: text("Initiator"),
        state: Some(state_name(task.status).to_string()),
        retry_type: text("RetryType"),
        retry_count: Some(number("RetryCount").unwrap_or(0)),
        context_parameters: task
            .context
            .iter()
            .map(|(name, value)| NameValue {
                name: name.clone(),
                value: value.clone(),
            })
            .collect(),
    }
}

pub(super) async fn create_callback(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<CallbackDto>,
) -> Result<Response, ApiError> {
    let target = body
        .target
        .clone()
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| ApiError::bad_request("'Target' is required: the number to call back."))?;
    let Some(seconds_between_retries) = body.seconds_between_retries else {
        return Err(ApiError::bad_request(
            "'SecondsBetweenRetries' is required.",
        ));
    };
    let priority = parse_priority(
        body.priority
            .as_ref()
            .ok_or_else(|| ApiError::bad_request("'Priority' is required."))?,
    )
    .map_err(ApiError::invalid)?;
    if body
        .description
        .as_deref()
        .is_some_and(|d| d.chars().count() > 150)
    {
        return Err(ApiError::invalid(
            "Description is longer than 150 characters",
        ));
    }
    let due = match &body.due_date {
        Some(text) => Some(parse_due_date(text).ok_or_else(|| {
            ApiError::invalid(format!(
                "DueDate '{text}' is not YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS][Z]"
            ))
        })?),
        None => None,
    };
    let service_ref = body
        .service_id
        .clone()
        .or(body.service_sip.clone())
        .ok_or_else(|| ApiError::bad_request("'ServiceId' or 'ServiceSip' is required."))?;
    let tenant = state.tenant(&caller.tenant).await?;
    let service = state.read(&tenant, |engine| find_service(engine, &service_ref))?;
    let mut spec = TaskSpec::new(TaskId(uuid::Uuid::new_v4()), service);
    spec.kind = TaskKind::Callback;
    spec.customer = target.clone();
    spec.priority = priority;
    spec.external_id = body.external_task_id.clone().filter(|e| !e.is_empty());
    spec.not_before = due;
    spec.context = body
        .context_parameters
        .iter()
        .map(|p| (p.name.clone(), p.value.clone()))
        .collect();
    let values = serde_json::to_value(&body).map_err(|e| ApiError::invalid(e.to_string()))?;
    spec.attributes = FIELDS
        .iter()
        .filter_map(|field| {
            let value = match &values[*field] {
                Value::String(text) => text.clone(),
                Value::Number(number) => number.to_string(),
                _ => return None,
            };
            Some((field.to_string(), value))
        })
        .collect();
    spec.attributes
        .retain(|(name, _)| name != "SecondsBetweenRetries");
    spec.attributes.push((
        "SecondsBetweenRetries".into(),
        seconds_between_retries.to_string(),
    ));
    spec.attributes.push(("RetryCount".into(), "0".into()));
    let id = spec.id;
    state.command(&tenant, Command::CreateTask(spec)).await?;
    Ok(Json(id.to_string()).into_response())
}

async fn find_callback(
    state: &AppState,
    caller: &Caller,
    identifier: &str,
) -> Result<CallbackDto, ApiError> {
    let tenant = state.tenant(&caller.tenant).await?;
    let now = state.now();
    let live = state.read(&tenant, |engine| {
        super::find_live_task(engine, identifier)
            .and_then(|task| engine.task_info(task))
            .filter(|task| task.kind == TaskKind::Callback)
            .map(|task| callback_dto(engine, &task, now))
    });
    if let Some(dto) = live {
        return Ok(dto);
    }
    let store_state = state.clone();
    let (tenant_name, wanted) = (caller.tenant.clone(), identifier.to_string());
    let finished = tokio::task::spawn_blocking(move || {
        store_state.store().history_task(&tenant_name, &wanted)
    })
    .await
    .map_err(|_| ApiError::unavailable(&switchboard_store::StoreError::Closed))??;
    match finished.filter(|task| task.kind == TaskKind::Callback) {
        Some(task) => Ok(state.read(&tenant, |engine| callback_dto(engine, &task, now))),
        None => Err(ApiError::not_found(
            "CallbackNotFound",
            format!("No callback '{identifier}'."),
        )),
    }
}

pub(super) async fn get_callback(
    State(state): State<AppState>,
    caller: Caller,
    Path(identifier): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(find_callback(&state, &caller, &identifier).await?).into_response())
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct CallbackQuery {
    external_task_id: Option<String>,
}

pub(super) async fn callback_by_external_id(
    State(state): State<AppState>,
    caller: Caller,
    Params(query): Params<CallbackQuery>,
) -> Result<Response, ApiError> {
    let external = query
        .external_task_id
        .ok_or_else(|| ApiError::bad_request("Give ?externalTaskId=..."))?;
    Ok(Json(find_callback(&state, &caller, &external).await?).into_response())
}

pub(super) async fn cancel_callback(
    State(state): State<AppState>,
    caller: Caller,
    Path(identifier): Path<String>,
) -> Result<Response, ApiError> {
    let tenant = state.tenant(&caller.tenant).await?;
    let task = state
        .read(&tenant, |engine| {
            super::find_live_task(engine, &identifier).filter(|task| {
                engine
                    .task_info(*task)
                    .is_some_and(|t| t.kind == TaskKind::Callback)
            })
        })
        .ok_or_else(|| {
            ApiError::not_found(
                "CallbackNotFound",
                format!("No live callback '{identifier}'."),
            )
        })?;
    state
        .command(
            &tenant,
            Command::Terminate {
                task,
                reason: TerminationReason::Cancelled,
            },
        )
        .await?;
    Ok(axum::http::StatusCode::OK.into_response())
}

/// The search filters; `{}` finds every callback.
#[derive(Clone, Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase", default)]
pub struct CallbackSearch {
    pub target: Option<String>,
    pub service_id: Option<String>,
    pub service_sip: Option<String>,
    pub state: Option<String>,
    /// Created at or after (same formats as DueDate).
    pub start_date: Option<String>,
    /// Created before.
    pub end_date: Option<String>,
    pub limit: Option<usize>,
    pub offset: Option<usize>,
    /// Created (default) or DueDate.
    pub order_by: Option<String>,
    /// Asc (default) or Desc.
    pub sort_order: Option<String>,
    pub external_task_id: Option<String>,
    pub caller_id: Option<String>,
}

/// Finished callbacks read from the history per query.
const HISTORY_PAGE: usize = 10_000;
/// The most finished callbacks one search reads; beyond it the caller is asked to narrow the search.
const MAX_FINISHED_SEARCHED: usize = 100_000;

pub(super) async fn search_callbacks(
    State(state): State<AppState>,
    caller: Caller,
    Body(search): Body<CallbackSearch>,
) -> Result<Response, ApiError> {
    let parse_date = |text: &Option<String>, field: &str| -> Result<Option<Time>, ApiError> {
        text.as_deref()
            .map(|t| {
                parse_due_date(t)
                    .ok_or_else(|| ApiError::invalid(format!("{field} '{t}' is not a date")))
            })
            .transpose()
    };
    let (from, until) = (
        parse_date(&search.start_date, "StartDate")?,
        parse_date(&search.end_date, "EndDate")?,
    );
    let tenant = state.tenant(&caller.tenant).await?;
    let now = state.now();
    let service = match search.service_id.as_ref().or(search.service_sip.as_ref()) {
        Some(reference) => Some(state.read(&tenant, |engine| find_service(engine, reference))?),
        None => None,
    };
    let mut tasks: Vec<TaskInfo> = state.read(&tenant, |engine| {
        engine
            .live_tasks()
            .into_iter()
            .filter_map(|task| engine.task_info(task))
            .filter(|task| task.kind == TaskKind::Callback)
            .collect()
    });
    let store_state = state.clone();
    let tenant_name = caller.tenant.clone();
    // Finished callbacks come from the history, narrowed there by kind, service and creation time (indexed), a
    // page at a time. The other criteria are the callback's own fields, filtered below.
    let history = tokio::task::spawn_blocking(move || {
        let mut found = Vec::new();
        loop {
            let page = store_state.store().history(
                &tenant_name,
                &switchboard_store::HistoryQuery {
                    kind: Some(TaskKind::Callback),
                    service,
                    created_from: from,
                    created_until: until,
                    limit: HISTORY_PAGE,
                    offset: found.len(),
                    ..Default::default()
                },
            )?;
            let last_page = page.len() < HISTORY_PAGE;
            found.extend(page);
            if last_page || found.len() > MAX_FINISHED_SEARCHED {
                return Ok::<_, switchboard_store::StoreError>(found);
            }
        }
    })
    .await
    .map_err(|_| ApiError::unavailable(&switchboard_store::StoreError::Closed))??;
    if history.len() > MAX_FINISHED_SEARCHED {
        return Err(ApiError::invalid(format!(
            "more than {MAX_FINISHED_SEARCHED} finished callbacks match; narrow the search with StartDate and \
             EndDate or a service"
        )));
    }
    tasks.extend(history);
    let mut found: Vec<(TaskInfo, CallbackDto)> = state.read(&tenant, |engine| {
        tasks
            .into_iter()
            .map(|task| {
                let dto = callback_dto(engine, &task, now);
                (task, dto)
            })
            .filter(|(task, dto)| {
                search
                    .target
                    .as_ref()
                    .is_none_or(|t| dto.target.as_ref() == Some(t))
                    && service.is_none_or(|s| task.service == s)
                    && search.state.as_ref().is_none_or(|s| {
                        dto.state
                            .as_deref()
                            .is_some_and(|state| state.eq_ignore_ascii_case(s))
                    })
                    && from.is_none_or(|f| task.created >= f)
                    && until.is_none_or(|u| task.created < u)
                    && search
                        .external_task_id
                        .as_ref()
                        .is_none_or(|e| task.external_id.as_ref() == Some(e))
                    && search
                        .caller_id
                        .as_ref()
                        .is_none_or(|c| dto.caller_id.as_ref() == Some(c))
            })
            .collect()
    });
    let by_due = search
        .order_by
        .as_deref()
        .is_some_and(|o| o.eq_ignore_ascii_case("DueDate"));
    found.sort_by_key(|(task, _)| {
        (
            if by_due {
                task.not_before.unwrap_or(task.created)
            } else {
                task.created
            },
            task.id,
        )
    });
    if search
        .sort_order
        .as_deref()
        .is_some_and(|o| o.eq_ignore_ascii_case("Desc"))
    {
        found.reverse();
    }
    let items: Vec<CallbackDto> = found
        .into_iter()
        .map(|(_, dto)| dto)
        .skip(search.offset.unwrap_or(0))
        .take(search.limit.unwrap_or(1000).min(10_000))
        .collect();
    Ok(Json(items).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn due_dates_are_utc_and_years_past_9999_are_refused() {
        assert_eq!(parse_due_date("1970-01-02"), Some(Time::from_secs(86_400)));
        assert_eq!(
            parse_due_date("2019-06-27T11:58:35Z"),
            Some(Time::from_secs(1_561_636_715))
        );
        // Found by the API fuzzer's neighbourhood: these overflowed (a panic in debug builds).
        for text in [
            "999999999999999-01-01",
            "2020-01-01T-99999999999999:00",
            "2020-01-01T10:-99999999999999",
            "0-01-01",
            "10000-01-01",
        ] {
            assert_eq!(parse_due_date(text), None, "{text}");
        }
    }

    proptest! {
        #[test]
        fn parsing_a_due_date_never_panics(
            year in any::<i64>(), month in any::<i64>(), day in any::<i64>(),
            hour in any::<i64>(), minute in any::<i64>(), second in any::<i64>(), text in "\\PC*",
        ) {
            let _ = parse_due_date(&format!("{year}-{month}-{day}T{hour}:{minute}:{second}Z"));
            let _ = parse_due_date(&text);
        }
    }
}
