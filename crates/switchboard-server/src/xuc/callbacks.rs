//! xuc callback lists (seed 004): the LUCS callbacks of each queue, seen as lists an agent works by hand.
//!
//! One list per queue (service), its uuid the service's id. A request is a live callback task of that service;
//! its fields come from the LUCS callback (`Target` is the phone number, `AlternativeTarget` the mobile number,
//! `Description`; context parameters `FirstName`, `LastName` and `Company`). Taking a request is an engine claim;
//! starting it establishes the task with the agent ahead of routing; the ticket's status closes it or, for
//! `NoAnswer` and `Callback`, reschedules it (`Engine::reschedule`). Preferred periods are tenant configuration
//! (`/v2.0/callbackperiods`, the configuration file's `CallbackPeriods`) kept in the store's configuration
//! entries; times are UTC.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use switchboard_core::{Engine, ServiceId, Span, TaskInfo, TaskKind, TaskStatus, Time};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::lucs::callbacks::{attribute, parse_due_date};
use crate::lucs::directory::{config_entries, delete_config_entry, put_config_entry};
use crate::lucs::dto::civil_from_days;
use crate::lucs::Body;
use crate::{AppState, TenantHandle};

const KIND: &str = "callback_period";

/// A preferred period for calling back: a time window of the day (UTC).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CallbackPeriodDto {
    /// Unique in the tenant, compared without regard to case.
    pub name: String,
    /// Start of the window, `HH:MM[:SS]`.
    pub period_start: String,
    /// End of the window, `HH:MM[:SS]`, after the start.
    pub period_end: String,
    /// The period of callbacks created without one (at most one period is the default).
    #[serde(default)]
    pub default: bool,
    /// Assigned when the period is created and kept when it changes; ignored on input.
    #[serde(default)]
    pub uuid: Option<String>,
}

/// A period as the CTI shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Period {
    pub uuid: String,
    pub name: String,
    /// Seconds after midnight.
    pub start: i64,
    pub end: i64,
    pub default: bool,
}

/// The built-in period when a tenant configured none: the whole day.
fn whole_day() -> Period {
    Period {
        uuid: "00000000-0000-4000-8000-00000000da11".into(),
        name: "All day".into(),
        start: 0,
        end: 86_399,
        default: true,
    }
}

fn parse_clock(text: &str) -> Option<i64> {
    let mut parts = text.trim().split(':');
    let hour: i64 = parts.next()?.parse().ok()?;
    let minute: i64 = parts.next()?.parse().ok()?;
    let second: i64 = match parts.next() {
        Some(s) => s.parse().ok()?,
        None => 0,
    };
    if parts.next().is_some() || !(0..24).contains(&hour) || !(0..60).contains(&minute) {
        return None;
    }
    if !(0..60).contains(&second) {
        return None;
    }
    Some(hour * 3600 + minute * 60 + second)
}

fn clock(seconds: i64) -> String {
    format!(
        "{:02}:{:02}:{:02}",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}

impl Period {
    pub fn to_json(&self) -> Value {
        json!({
            "uuid": self.uuid,
            "name": self.name,
            "periodStart": clock(self.start),
            "periodEnd": clock(self.end),
            "default": self.default,
        })
    }
}

/// The tenant's periods in name order; the built-in whole day when none is configured. The first default one
/// (or the first one) is the default.
pub async fn periods(state: &AppState, tenant: &str) -> Result<Vec<Period>, ApiError> {
    let configured = list(state, tenant).await?;
    if configured.is_empty() {
        return Ok(vec![whole_day()]);
    }
    let mut periods: Vec<Period> = configured
        .into_iter()
        .filter_map(|dto| {
            Some(Period {
                uuid: dto.uuid?,
                start: parse_clock(&dto.period_start)?,
                end: parse_clock(&dto.period_end)?,
                name: dto.name,
                default: dto.default,
            })
        })
        .collect();
    if !periods.iter().any(|p| p.default) {
        if let Some(first) = periods.first_mut() {
            first.default = true;
        }
    }
    Ok(periods)
}

async fn list(state: &AppState, tenant: &str) -> Result<Vec<CallbackPeriodDto>, ApiError> {
    config_entries(state, tenant, KIND).await
}

/// A period's name (trimmed), start and end (seconds of the day), checked.
pub(crate) fn period_fields(period: &CallbackPeriodDto) -> Result<(String, i64, i64), ApiError> {
    let name = period.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::invalid(
            "a callback period's Name has 1 to 100 characters",
        ));
    }
    let (Some(start), Some(end)) = (
        parse_clock(&period.period_start),
        parse_clock(&period.period_end),
    ) else {
        return Err(ApiError::invalid(
            "PeriodStart and PeriodEnd are times of day, HH:MM or HH:MM:SS",
        ));
    };
    if end <= start {
        return Err(ApiError::invalid("PeriodEnd must come after PeriodStart"));
    }
    Ok((name, start, end))
}

/// Creates or updates the period with this name; answers it and whether anything changed.
pub async fn apply_period(
    state: &AppState,
    tenant: &TenantHandle,
    period: CallbackPeriodDto,
) -> Result<(CallbackPeriodDto, bool), ApiError> {
    let (name, start, end) = period_fields(&period)?;
    let key = name.to_lowercase();
    let existing = list(state, tenant.name()).await?;
    let current = existing.iter().find(|p| p.name.to_lowercase() == key);
    let wanted = CallbackPeriodDto {
        name,
        period_start: clock(start),
        period_end: clock(end),
        default: period.default,
        uuid: Some(
            current
                .and_then(|p| p.uuid.clone())
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        ),
    };
    if current == Some(&wanted) {
        return Ok((wanted, false));
    }
    if wanted.default {
        // One default: the others lose the flag.
        for other in existing
            .iter()
            .filter(|p| p.default && p.name.to_lowercase() != key)
        {
            let mut other = other.clone();
            other.default = false;
            put_config_entry(
                state,
                tenant.name(),
                KIND,
                other.name.to_lowercase(),
                &other,
            )
            .await?;
        }
    }
    put_config_entry(state, tenant.name(), KIND, key, &wanted).await?;
    Ok((wanted, true))
}

pub(crate) async fn list_periods(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, ApiError> {
    Ok(Json(list(&state, &caller.tenant).await?).into_response())
}

pub(crate) async fn upsert_period(
    State(state): State<AppState>,
    caller: Caller,
    Body(period): Body<CallbackPeriodDto>,
) -> Result<Response, ApiError> {
    let tenant = state.tenant(&caller.tenant).await?;
    let (period, _) = apply_period(&state, &tenant, period).await?;
    Ok(Json(period).into_response())
}

pub(crate) async fn delete_period(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let deleted =
        delete_config_entry(&state, &caller.tenant, KIND, name.trim().to_lowercase()).await?;
    if !deleted {
        return Err(ApiError::not_found(
            "CallbackPeriodNotFound",
            format!("No callback period '{name}'."),
        ));
    }
    Ok(axum::http::StatusCode::OK.into_response())
}

// ----- requests as the CTI shows them ---------------------------------------------------------------------------

fn context<'a>(task: &'a TaskInfo, name: &str) -> Option<&'a str> {
    task.context
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// `YYYY-MM-DD` of a time (UTC).
pub fn date(time: Time) -> String {
    let (year, month, day) = civil_from_days(time.as_micros().div_euclid(86_400_000_000));
    format!("{year:04}-{month:02}-{day:02}")
}

/// The request's due time: when it becomes due if scheduled, else when it was due or created.
fn due(task: &TaskInfo) -> Time {
    task.not_before
        .or_else(|| attribute(task, "DueDate").and_then(parse_due_date))
        .unwrap_or(task.created)
}

/// The period of a request: the one it names, else the default.
fn period_of<'a>(task: &TaskInfo, periods: &'a [Period]) -> Option<&'a Period> {
    attribute(task, "PreferredPeriod")
        .and_then(|uuid| periods.iter().find(|p| p.uuid == uuid))
        .or_else(|| periods.iter().find(|p| p.default))
        .or(periods.first())
}

/// The agent a request is with: the one that took it, else the one handling it.
fn agent_number(engine: &Engine, task: &TaskInfo) -> Option<u32> {
    engine
        .claimed_by(task.id)
        .or(task.agent)
        .and_then(|a| engine.agent_info(a))
        .map(|a| a.number)
}

/// A callback request (seed 004's `CallbackLists` item), with `queueId` and `status` added.
pub fn request(engine: &Engine, task: &TaskInfo, periods: &[Period]) -> Value {
    let text = |value: Option<&str>| {
        value
            .map(|v| Value::String(v.to_string()))
            .unwrap_or(Value::Null)
    };
    json!({
        "uuid": task.id.to_string(),
        "listUuid": task.service.to_string(),
        "queueId": engine.service_spec(task.service).map(|s| s.1),
        "phoneNumber": attribute(task, "Target").unwrap_or(&task.customer),
        "mobilePhoneNumber": text(attribute(task, "AlternativeTarget")),
        "firstName": text(context(task, "FirstName")),
        "lastName": text(context(task, "LastName")),
        "company": text(context(task, "Company")),
        "description": text(attribute(task, "Description")),
        "agentId": agent_number(engine, task),
        "dueDate": date(due(task)),
        "preferredPeriod": period_of(task, periods).map(Period::to_json),
        "status": match task.status {
            TaskStatus::Scheduled => "Pending",
            TaskStatus::Waiting => "InQueue",
            TaskStatus::Terminated => "Clotured",
            _ => "Processing",
        },
        "retryCount": attribute(task, "RetryCount").and_then(|r| r.parse::<u32>().ok()).unwrap_or(0),
    })
}

/// The live callbacks of a service, oldest due first.
pub fn callbacks_of(engine: &Engine, service: ServiceId) -> Vec<TaskInfo> {
    let mut tasks: Vec<TaskInfo> = engine
        .service_tasks(service)
        .into_iter()
        .filter_map(|t| engine.task_info(t))
        .filter(|t| t.kind == TaskKind::Callback)
        .collect();
    tasks.sort_by_key(|t| (due(t), t.created, t.id));
    tasks
}

/// The callback list of a service.
pub fn list_of(engine: &Engine, service: ServiceId, periods: &[Period]) -> Option<Value> {
    let info = engine.service_info(service)?;
    let callbacks: Vec<Value> = callbacks_of(engine, service)
        .iter()
        .map(|task| request(engine, task, periods))
        .collect();
    Some(json!({
        "uuid": service.to_string(),
        "name": info.spec.name,
        "queueId": info.number,
        "callbacks": callbacks,
    }))
}

/// When a request rescheduled to `date` (or the current due date) in `period` becomes due: the start of the
/// period that day, or now when that is past.
pub fn reschedule_time(
    now: Time,
    date: Option<Time>,
    current_due: Time,
    period: Option<&Period>,
) -> Time {
    let day = date.unwrap_or(current_due.max(now));
    let midnight = Time(day.as_micros().div_euclid(86_400_000_000) * 86_400_000_000);
    let start = period.map(|p| p.start).unwrap_or(0);
    let due = midnight.plus(Span::from_secs(start));
    match period {
        // The window of that day is already over: the next day's.
        Some(p) if date.is_none() && midnight.plus(Span::from_secs(p.end)) < now => {
            due.plus(Span::from_secs(86_400))
        }
        _ => due.max(now),
    }
}

/// The current due time of a request.
pub fn current_due(task: &TaskInfo) -> Time {
    due(task)
}

// ----- findCallbackRequest ------------------------------------------------------------------------------------

/// One filter of `findCallbackRequest`: `{field, operator, value}`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Filter {
    field: String,
    operator: String,
    value: Option<String>,
}

/// The fields a filter may name.
const FIELDS: [&str; 11] = [
    "uuid",
    "listUuid",
    "queueId",
    "phoneNumber",
    "mobilePhoneNumber",
    "firstName",
    "lastName",
    "company",
    "description",
    "agentId",
    "dueDate",
];

const OPERATORS: [&str; 11] = [
    "=",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "like",
    "ilike",
    "contains",
    "is null",
    "is not null",
];

fn parse_filters(request: &Map<String, Value>) -> Result<Vec<Filter>, String> {
    let filters = match request.get("filters") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(filters)) => filters,
        Some(_) => return Err("request.filters must be a list of {field, operator, value}".into()),
    };
    filters
        .iter()
        .map(|filter| {
            let field = filter
                .get("field")
                .and_then(Value::as_str)
                .ok_or("every filter needs a field")?;
            if !FIELDS.contains(&field) {
                return Err(format!(
                    "unknown field '{field}' (one of {})",
                    FIELDS.join(", ")
                ));
            }
            let operator = filter
                .get("operator")
                .and_then(Value::as_str)
                .unwrap_or("=")
                .to_lowercase();
            if !OPERATORS.contains(&operator.as_str()) {
                return Err(format!(
                    "unknown operator '{operator}' (one of {})",
                    OPERATORS.join(", ")
                ));
            }
            let value = match filter.get("value") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(other) => Some(other.to_string()),
            };
            if value.is_none() && !operator.starts_with("is ") {
                return Err(format!("the filter on '{field}' needs a value"));
            }
            Ok(Filter {
                field: field.to_string(),
                operator,
                value,
            })
        })
        .collect()
}

fn matches(request: &Value, filter: &Filter) -> bool {
    let actual = match &request[filter.field.as_str()] {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    };
    let Some(actual) = actual else {
        return filter.operator == "is null";
    };
    let wanted = filter.value.clone().unwrap_or_default();
    // Numbers compare as numbers, the rest as text (dates are ISO, so text order is time order).
    let ordering = match (actual.parse::<f64>(), wanted.parse::<f64>()) {
        (Ok(a), Ok(b)) => a.partial_cmp(&b),
        _ => Some(actual.cmp(&wanted)),
    };
    use std::cmp::Ordering::*;
    match filter.operator.as_str() {
        "=" => ordering == Some(Equal),
        "!=" => ordering != Some(Equal),
        "<" => ordering == Some(Less),
        "<=" => matches!(ordering, Some(Less | Equal)),
        ">" => ordering == Some(Greater),
        ">=" => matches!(ordering, Some(Greater | Equal)),
        "like" | "ilike" | "contains" => {
            let pattern = wanted.replace('%', "");
            if filter.operator == "like" {
                actual.contains(&pattern)
            } else {
                actual.to_lowercase().contains(&pattern.to_lowercase())
            }
        }
        "is null" => false,
        _ => true, // "is not null"
    }
}

/// The `request` of `findCallbackRequest` (`{filters, offset, limit}`), read and checked before any request is
/// looked at (see `super::request`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Search {
    filters: Vec<Filter>,
    offset: u64,
    limit: u64,
}

impl Search {
    /// Reads `{filters, offset, limit}`; every part is optional (no filter, from the first, at most 100).
    pub fn parse(request: &Map<String, Value>) -> Result<Search, String> {
        let filters = parse_filters(request)?;
        let number = |key: &str, default: u64| -> Result<u64, String> {
            match request.get(key) {
                None | Some(Value::Null) => Ok(default),
                Some(value) => value
                    .as_u64()
                    .ok_or(format!("request.{key} must be a non-negative integer")),
            }
        };
        Ok(Search {
            filters,
            offset: number("offset", 0)?,
            limit: number("limit", 100)?.min(1000),
        })
    }

    /// The answer: `{total, list}` of the matching requests among `requests`, paged.
    pub fn run(&self, requests: Vec<Value>) -> Value {
        let found: Vec<Value> = requests
            .into_iter()
            .filter(|r| self.filters.iter().all(|f| matches(r, f)))
            .collect();
        let total = found.len();
        let list: Vec<Value> = found
            .into_iter()
            .skip(usize::try_from(self.offset).unwrap_or(usize::MAX))
            .take(usize::try_from(self.limit).unwrap_or(usize::MAX))
            .collect();
        json!({"total": total, "list": list})
    }
}

/// The answer to `findCallbackRequest`: `{total, list}` of the matching requests among `requests`, paged.
pub fn find(requests: Vec<Value>, request: &Map<String, Value>) -> Result<Value, String> {
    Ok(Search::parse(request)?.run(requests))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// No text makes the due date reader panic (a year past 9999 overflowed the time: found by the CTI
        /// parser's robustness tests).
        #[test]
        fn due_dates_are_read_or_refused(text in "[0-9T: .Z-]{0,30}|-?[0-9]{1,20}-[0-9]{1,3}-[0-9]{1,3}") {
            let _ = parse_due_date(&text);
        }

        /// A day printed by `date` reads back as that day at midnight.
        #[test]
        fn due_dates_round_trip(year in 1i64..=9999, month in 1i64..=12, day in 1i64..=28) {
            let text = format!("{year:04}-{month:02}-{day:02}");
            let time = parse_due_date(&text).expect("a valid day");
            prop_assert_eq!(date(time), text);
            prop_assert_eq!(time.as_micros().rem_euclid(86_400_000_000), 0);
        }
    }

    #[test]
    fn due_dates_out_of_the_calendar_are_refused() {
        for text in [
            "100000-01-10",
            "9223372036854775807-03-01",
            "0-01-01",
            "2026-11-24T-1:00",
            "2026-11-24T10:-5",
        ] {
            assert_eq!(parse_due_date(text), None, "{text}");
        }
        assert!(parse_due_date("9999-12-31T23:59:60Z").is_some());
    }

    #[test]
    fn filters_compare_numbers_as_numbers_and_text_as_text() {
        let requests = vec![
            json!({"uuid": "a", "agentId": 9, "lastName": "O'Neill", "dueDate": "2026-11-24"}),
            json!({"uuid": "b", "agentId": 10, "lastName": "Smith", "dueDate": "2026-11-25"}),
            json!({"uuid": "c", "agentId": null, "lastName": "oneida", "dueDate": "2026-12-01"}),
        ];
        let find_uuids = |filters: Value| -> Vec<String> {
            let request = json!({"filters": filters});
            let answer = find(requests.clone(), request.as_object().unwrap()).unwrap();
            answer["list"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["uuid"].as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(
            find_uuids(json!([{"field": "agentId", "operator": ">", "value": "9"}])),
            ["b"]
        );
        assert_eq!(
            find_uuids(json!([{"field": "agentId", "operator": "is null"}])),
            ["c"]
        );
        assert_eq!(
            find_uuids(json!([{"field": "lastName", "operator": "ilike", "value": "%NE%"}])),
            ["a", "c"]
        );
        assert_eq!(
            find_uuids(json!([{"field": "dueDate", "operator": "<=", "value": "2026-11-25"}])),
            ["a", "b"]
        );
        let bad = json!({"filters": [{"field": "password", "value": "x"}]});
        assert!(find(requests.clone(), bad.as_object().unwrap()).is_err());
        let paged = json!({"offset": 1, "limit": 1});
        let answer = find(requests, paged.as_object().unwrap()).unwrap();
        assert_eq!(answer["total"], 3);
        assert_eq!(answer["list"][0]["uuid"], "b");
    }

    #[test]
    fn a_reschedule_lands_at_the_start_of_the_period_or_now() {
        let afternoon = Period {
            uuid: "p".into(),
            name: "Afternoon".into(),
            start: 14 * 3600,
            end: 17 * 3600,
            default: false,
        };
        let day = parse_due_date("2026-11-24").unwrap();
        let at = |h: i64| day.plus(Span::from_secs(h * 3600));
        // A date in the future: that day at the period's start.
        let next = parse_due_date("2026-11-26").unwrap();
        assert_eq!(
            reschedule_time(at(9), Some(next), at(9), Some(&afternoon)),
            next.plus(Span::from_secs(14 * 3600))
        );
        // No date, before the window: today at its start; inside it: now; after it: tomorrow.
        assert_eq!(
            reschedule_time(at(9), None, at(0), Some(&afternoon)),
            at(14)
        );
        assert_eq!(
            reschedule_time(at(15), None, at(0), Some(&afternoon)),
            at(15)
        );
        assert_eq!(
            reschedule_time(at(18), None, at(0), Some(&afternoon)),
            at(24 + 14)
        );
        assert_eq!(parse_clock("25:00"), None);
        assert_eq!(clock(parse_clock("09:30").unwrap()), "09:30:00");
    }
}
