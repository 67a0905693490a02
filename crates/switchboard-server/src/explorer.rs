//! The task explorer's REST extensions (`docs/web.md`): search live and recently finished tasks, a task's
//! timeline (every stored event about it), and the routing explanation of a live task (which agents could take it
//! and why each other one cannot). Read-only; roles `TasksReadonly` or `TasksManage`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Json;
use serde::Serialize;
use switchboard_core::{
    AgentId, Engine, Ineligibility, ServiceId, TaskId, TaskInfo, TaskStatus, Time,
};
use switchboard_store::HistoryQuery;

use crate::auth::{Caller, Role};
use crate::error::ApiError;
use crate::events::dto::{render, rfc3339, subjects, EventDto};
use crate::lucs::directory::blocking_store;
use crate::lucs::dto::{level_name, task_state_name, task_type_name, NameValue, TRAIT_LEVELS};
use crate::lucs::{find_service, Params};
use crate::openapi::{schema_of, Answer, Endpoint};
use crate::{AppState, TenantHandle};

/// Most finished tasks a search looks at (the newest that match its service and external id).
const RECENT_FINISHED: usize = 500;
/// Most events a timeline reads; a task older than that many events of its tenant gets a partial timeline.
const TIMELINE_SCAN_LIMIT: usize = 200_000;
const STORE_PAGE: usize = 1_000;

/// The task explorer's endpoints.
pub fn endpoints() -> Vec<Endpoint> {
    use axum::http::Method;
    const READ: &[Role] = &[Role::TasksReadonly, Role::TasksManage];
    vec![
        Endpoint::new(
            Method::GET,
            "/v2.0/tasks",
            "Tasks: explorer",
            "Search live and recently finished tasks by service, state, external id or customer; live tasks \
             first (newest first), then finished ones (most recently ended first)",
            READ,
            Answer::List(schema_of::<TaskSummaryDto>),
            get(search_tasks),
        )
        .query("service", "A service (id or SIP URI)")
        .query(
            "state",
            "Comma-separated states: InQueue, Pending, Distributed, Established, OnHold, Terminated",
        )
        .query("externalId", "The task's ExternalTaskId, exactly")
        .query(
            "customer",
            "Part of the customer identifier, case-insensitive",
        )
        .query_of(
            "finished",
            "false: live tasks only (default true: also the 500 newest finished tasks that match)",
            serde_json::json!({"type": "boolean"}),
        )
        .extension(),
        Endpoint::new(
            Method::GET,
            "/v2.0/tasks/{task}/timeline",
            "Tasks: explorer",
            "Every stored event about the task, in order, live or finished",
            READ,
            Answer::Json(schema_of::<TimelineDto>),
            get(timeline),
        )
        .extension(),
        Endpoint::new(
            Method::GET,
            "/v2.0/tasks/{task}/explanation",
            "Tasks: explorer",
            "Why a live task is where it is: the agents that could take it now in the order routing picks them, \
             and for every other candidate the first rule that excludes it (409 TaskFinished once it ended)",
            READ,
            Answer::Json(schema_of::<ExplanationDto>),
            get(explanation),
        )
        .extension(),
    ]
}

/// One task as the explorer lists it.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase")]
pub struct TaskSummaryDto {
    pub id: String,
    pub external_task_id: Option<String>,
    /// LUCS task type (`ExternalNonBlocking`, `IncomingCall`, `Callback`, ...).
    #[serde(rename = "Type")]
    pub task_type: String,
    /// `InQueue`, `Pending`, `Distributed`, `Established`, `OnHold` or `Terminated`.
    pub state: String,
    pub service_id: String,
    pub service_name: String,
    pub customer_identifier: String,
    /// The LUCS priority name, or the number.
    pub priority: String,
    /// RFC 3339, UTC.
    pub created: String,
    /// When it entered its current queue (RFC 3339).
    pub queue_started: Option<String>,
    /// When an agent accepted it (RFC 3339).
    pub connected: Option<String>,
    /// When it ended (RFC 3339).
    pub terminated: Option<String>,
    /// Why it ended (`completed`, `cancelled`, ...).
    pub termination_reason: Option<String>,
    /// The agent it is offered to or handled by, else the last one it was offered to.
    pub user_id: Option<String>,
    pub user_name: Option<String>,
    /// Its 1-based place in the queue while it waits.
    pub queue_position: Option<u32>,
    /// How many times it was offered.
    pub offers: u32,
    /// When the current offer times out (RFC 3339).
    pub offer_deadline: Option<String>,
    /// The task's own context parameters.
    pub context_parameters: Vec<NameValue>,
}

fn agent_name(engine: &Engine, agent: AgentId) -> String {
    engine
        .agent_info(agent)
        .map(|info| {
            let identity = &info.spec.identity;
            let full = format!("{} {}", identity.first_name, identity.last_name);
            if !info.spec.display_name.trim().is_empty() {
                info.spec.display_name.clone()
            } else if !full.trim().is_empty() {
                full.trim().to_string()
            } else {
                agent.to_string()
            }
        })
        .unwrap_or_else(|| agent.to_string())
}

fn summary(engine: &Engine, task: &TaskInfo) -> TaskSummaryDto {
    let agent = task.agent.or(task.last_agent);
    TaskSummaryDto {
        id: task.id.to_string(),
        external_task_id: task.external_id.clone(),
        task_type: task_type_name(
            task.kind,
            task.direction == switchboard_core::Direction::Outbound,
        )
        .to_string(),
        state: task_state_name(task.status).to_string(),
        service_id: task.service.to_string(),
        service_name: engine
            .service_spec(task.service)
            .map(|(spec, _)| spec.name.clone())
            .unwrap_or_default(),
        customer_identifier: task.customer.clone(),
        priority: task
            .priority
            .lucs_name()
            .map(str::to_string)
            .unwrap_or_else(|| task.priority.0.to_string()),
        created: rfc3339(task.created),
        queue_started: (task.status != TaskStatus::Scheduled).then(|| rfc3339(task.queue_started)),
        connected: task.connected_at.map(rfc3339),
        terminated: task.terminated.map(rfc3339),
        termination_reason: task.termination_reason.map(|r| r.name().to_string()),
        user_id: agent.map(|a| a.to_string()),
        user_name: agent.map(|a| agent_name(engine, a)),
        queue_position: engine.queue_position(task.id),
        offers: task.n_offers,
        offer_deadline: task.offer_deadline.map(rfc3339),
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

fn parse_states(text: &str) -> Result<Vec<TaskStatus>, ApiError> {
    const STATES: [TaskStatus; 6] = [
        TaskStatus::Waiting,
        TaskStatus::Scheduled,
        TaskStatus::Offered,
        TaskStatus::Established,
        TaskStatus::OnHold,
        TaskStatus::Terminated,
    ];
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|name| {
            STATES
                .into_iter()
                .find(|s| task_state_name(*s).eq_ignore_ascii_case(name))
                .ok_or_else(|| {
                    ApiError::invalid(format!(
                        "Unknown state '{name}': use InQueue, Pending, Distributed, Established, OnHold or \
                         Terminated."
                    ))
                })
        })
        .collect()
}

async fn search_tasks(
    State(state): State<AppState>,
    caller: Caller,
    Params(query): Params<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let tenant = state.tenant(&caller.tenant).await?;
    let parameter = |name: &str| {
        query
            .get(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let page = number(&query, "page")?.unwrap_or(1);
    let page_size = number(&query, "pageSize")?.unwrap_or(100);
    if page == 0 {
        return Err(ApiError::invalid("page starts at 1"));
    }
    if page_size == 0 || page_size > 1000 {
        return Err(ApiError::invalid("pageSize must be between 1 and 1000"));
    }
    let states = parse_states(&parameter("state").unwrap_or_default())?;
    let external_id = parameter("externalId");
    let customer = parameter("customer").map(|c| c.to_lowercase());
    let finished = match parameter("finished").as_deref() {
        None | Some("true") => true,
        Some("false") => false,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "'finished' is true or false, not '{other}'."
            )))
        }
    };
    let service = match parameter("service") {
        Some(identifier) => Some(state.read(&tenant, |engine| find_service(engine, &identifier))?),
        None => None,
    };
    let wanted = |task: &TaskInfo| {
        (states.is_empty() || states.contains(&task.status))
            && service.is_none_or(|s| s == task.service)
            && external_id
                .as_deref()
                .is_none_or(|e| task.external_id.as_deref() == Some(e))
            && customer
                .as_deref()
                .is_none_or(|c| task.customer.to_lowercase().contains(c))
    };
    let mut items: Vec<TaskSummaryDto> = state.read(&tenant, |engine| {
        let mut live: Vec<TaskInfo> = engine
            .live_tasks()
            .into_iter()
            .filter_map(|t| engine.task_info(t))
            .filter(|t| wanted(t))
            .collect();
        live.sort_by_key(|t| std::cmp::Reverse((t.created, t.number)));
        live.iter().map(|t| summary(engine, t)).collect()
    });
    if finished && (states.is_empty() || states.contains(&TaskStatus::Terminated)) {
        let history_query = HistoryQuery {
            service,
            external_id: external_id.clone(),
            limit: RECENT_FINISHED,
            ..HistoryQuery::default()
        };
        let tenant_name = caller.tenant.clone();
        let history = blocking_store(&state, move |store| {
            store.history(&tenant_name, &history_query)
        })
        .await?;
        let ended: Vec<TaskInfo> = history.into_iter().filter(|t| wanted(t)).collect();
        items.extend(state.read(&tenant, |engine| {
            ended.iter().map(|t| summary(engine, t)).collect::<Vec<_>>()
        }));
    }
    let total_count = items.len();
    let items: Vec<TaskSummaryDto> = items
        .into_iter()
        .skip((page - 1).saturating_mul(page_size))
        .take(page_size)
        .collect();
    Ok(Json(serde_json::json!({
        "Items": items,
        "Page": page,
        "PageSize": page_size,
        "TotalCount": total_count,
    }))
    .into_response())
}

fn number(query: &HashMap<String, String>, name: &str) -> Result<Option<usize>, ApiError> {
    query
        .get(name)
        .map(|value| {
            value.trim().parse::<usize>().map_err(|_| {
                ApiError::bad_request(format!("'{name}' must be a number, not '{value}'."))
            })
        })
        .transpose()
}

/// A task, live or finished, by id or external id.
async fn find_task(
    state: &AppState,
    tenant: &TenantHandle,
    identifier: &str,
) -> Result<TaskInfo, ApiError> {
    let live = state.read(tenant, |engine| {
        let id = identifier
            .parse::<uuid::Uuid>()
            .ok()
            .map(TaskId)
            .filter(|id| engine.task_info(*id).is_some())
            .or_else(|| engine.task_by_external_id(identifier));
        id.and_then(|id| engine.task_info(id))
    });
    if let Some(info) = live {
        return Ok(info);
    }
    let tenant_name = tenant.name().to_string();
    let wanted = identifier.to_string();
    blocking_store(state, move |store| {
        store.history_task(&tenant_name, &wanted)
    })
    .await?
    .ok_or_else(|| ApiError::not_found("TaskNotFound", format!("No task '{identifier}'.")))
}

/// A task's timeline.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase")]
pub struct TimelineDto {
    pub task_id: String,
    /// The task's state now (`Terminated` once it ended).
    pub state: String,
    /// Its events in sequence order, in the form of `GET /v2.0/events`.
    pub items: Vec<EventDto>,
    /// False when the task's events reach further back than a timeline reads (200,000 events of the tenant),
    /// or some were already pruned (retention).
    pub complete: bool,
}

async fn timeline(
    State(state): State<AppState>,
    caller: Caller,
    Path(identifier): Path<String>,
) -> Result<Response, ApiError> {
    let tenant = state.tenant(&caller.tenant).await?;
    let task = find_task(&state, &tenant, &identifier).await?;
    let last_seq = state.read(&tenant, |engine| engine.last_event_seq());
    let tenant_name = caller.tenant.clone();
    let (id, service, created, terminated) = (task.id, task.service, task.created, task.terminated);
    let (items, complete) = blocking_store(&state, move |store| {
        read_timeline(
            store,
            &tenant_name,
            last_seq,
            id,
            service,
            created,
            terminated,
        )
    })
    .await?;
    Ok(Json(TimelineDto {
        task_id: task.id.to_string(),
        state: task_state_name(task.status).to_string(),
        items,
        complete,
    })
    .into_response())
}

/// Reads the events about `task` from its creation to its end (or the newest event). Blocking.
fn read_timeline(
    store: &switchboard_store::Store,
    tenant: &str,
    last_seq: u64,
    task: TaskId,
    service: ServiceId,
    created: Time,
    terminated: Option<Time>,
) -> Result<(Vec<EventDto>, bool), switchboard_store::StoreError> {
    let mut after = crate::events::position_before(store, tenant, last_seq, created)?;
    let mut items = Vec::new();
    let mut scanned = 0;
    let mut complete = true;
    loop {
        let events = store.events_after(tenant, after, STORE_PAGE)?;
        for event in &events {
            if terminated.is_some_and(|end| event.at > end) {
                return Ok((items, complete));
            }
            if subjects(&event.kind).task == Some(task) {
                items.push(render(event, Some(service)));
            }
            after = event.seq;
        }
        scanned += events.len();
        if events.len() < STORE_PAGE {
            break;
        }
        if scanned >= TIMELINE_SCAN_LIMIT {
            complete = false;
            break;
        }
    }
    // The creation is the first event of every task: without it, the start was pruned.
    if !items.iter().any(|e| e.event_type == "TaskCreated") {
        complete = false;
    }
    Ok((items, complete))
}

/// An agent that could take the task now.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase")]
pub struct EligibleDto {
    pub user_id: String,
    pub name: String,
    /// Its penalty tier in the task's service (lower tiers are tried first).
    pub penalty: u32,
}

/// An agent that cannot take the task, and why.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase")]
pub struct IneligibleDto {
    pub user_id: String,
    pub name: String,
    /// The first rule that excludes it: `NotDistributed`, `ClaimedBy`, `ReservedForAnother`,
    /// `NotAPreferredAgent`, `MissingServiceTrait`, `NotAMember`, `Declined`, `MissingCapabilities`,
    /// `MissingTrait`, `NotSelectable`, `NoCapacity`.
    pub reason: String,
    /// The same, for people.
    pub detail: String,
}

/// Why a task is where it is.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase")]
pub struct ExplanationDto {
    pub task_id: String,
    pub state: String,
    /// Its 1-based place in the queue while it waits.
    pub queue_position: Option<u32>,
    /// The agents that could take it now, in the order routing picks them (the first would get it).
    pub eligible: Vec<EligibleDto>,
    /// Every other member of the service, preferred or reserved agent, with the first rule that excludes it.
    pub ineligible: Vec<IneligibleDto>,
}

fn describe(engine: &Engine, why: &Ineligibility) -> (&'static str, String) {
    let trait_text = |trait_id, min_level, held| {
        let held = if held == 0 {
            "none".to_string()
        } else {
            level_name(&TRAIT_LEVELS, held)
        };
        format!(
            "lacks {} at {} (holds {held})",
            engine.trait_name(trait_id),
            level_name(&TRAIT_LEVELS, min_level)
        )
    };
    match why {
        Ineligibility::NotDistributed => (
            "NotDistributed",
            "the task is not distributed to agents (DistributeToAgent false)".into(),
        ),
        Ineligibility::ClaimedBy(agent) => (
            "ClaimedBy",
            format!(
                "taken from a callback list by {}",
                agent_name(engine, *agent)
            ),
        ),
        Ineligibility::ReservedForAnother { agent, until } => (
            "ReservedForAnother",
            format!(
                "reserved for {} until {}",
                agent_name(engine, *agent),
                rfc3339(*until)
            ),
        ),
        Ineligibility::NotAPreferredAgent => (
            "NotAPreferredAgent",
            "the task considers its preferred agents only".into(),
        ),
        Ineligibility::MissingServiceTrait {
            trait_id,
            min_level,
            held,
        } => (
            "MissingServiceTrait",
            format!(
                "the service requires a trait: {}",
                trait_text(*trait_id, *min_level, *held)
            ),
        ),
        Ineligibility::NotAMember => (
            "NotAMember",
            "neither a member of the service nor responsible for it in the current profile".into(),
        ),
        Ineligibility::Declined => ("Declined", "declined this task before".into()),
        Ineligibility::MissingCapabilities(missing) => (
            "MissingCapabilities",
            format!("its client lacks {}", missing.names().join(", ")),
        ),
        Ineligibility::MissingTrait {
            trait_id,
            min_level,
            held,
        } => (
            "MissingTrait",
            format!(
                "the task requires a trait: {}",
                trait_text(*trait_id, *min_level, *held)
            ),
        ),
        Ineligibility::NotSelectable(reason) => (
            "NotSelectable",
            format!("not selectable: {}", reason.name()),
        ),
        Ineligibility::NoCapacity(channel) => (
            "NoCapacity",
            format!("no capacity left on the {} channel", channel.name()),
        ),
    }
}

async fn explanation(
    State(state): State<AppState>,
    caller: Caller,
    Path(identifier): Path<String>,
) -> Result<Response, ApiError> {
    let tenant: Arc<TenantHandle> = state.tenant(&caller.tenant).await?;
    let found = state.read(&tenant, |engine| {
        let id = identifier
            .parse::<uuid::Uuid>()
            .ok()
            .map(TaskId)
            .filter(|id| engine.task_info(*id).is_some())
            .or_else(|| engine.task_by_external_id(&identifier))?;
        let explanation = engine.explain(id)?;
        Some(ExplanationDto {
            task_id: id.to_string(),
            state: task_state_name(explanation.status).to_string(),
            queue_position: engine.queue_position(id),
            eligible: explanation
                .eligible
                .iter()
                .map(|e| EligibleDto {
                    user_id: e.agent.to_string(),
                    name: agent_name(engine, e.agent),
                    penalty: e.penalty,
                })
                .collect(),
            ineligible: explanation
                .ineligible
                .iter()
                .map(|(agent, why)| {
                    let (reason, detail) = describe(engine, why);
                    IneligibleDto {
                        user_id: agent.to_string(),
                        name: agent_name(engine, *agent),
                        reason: reason.to_string(),
                        detail,
                    }
                })
                .collect(),
        })
    });
    if let Some(dto) = found {
        return Ok(Json(dto).into_response());
    }
    // Not live: finished (409) or unknown (404).
    find_task(&state, &tenant, &identifier).await?;
    Err(ApiError::new(
        axum::http::StatusCode::CONFLICT,
        "TaskFinished",
        format!("Task '{identifier}' has ended; only live tasks have a routing explanation."),
    ))
}
