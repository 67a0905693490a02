//! The event stream for integrators (a switchboard extension, docs/events.md): `GET /v2.0/events` lists a
//! tenant's stored events in sequence order with filters, long-polls (`wait`), or streams them as Server-Sent
//! Events (`Accept: text/event-stream`, resuming from `Last-Event-ID`); `webhooks` pushes them to subscribers.
//!
//! Everything reads the store, which holds every durable event, and the tenant's hub for the live tail
//! (`Tail`): catch up from the store, then follow the hub, and go back to the store whenever the hub dropped the
//! reader for falling behind or skipped ahead. A reader never slows routing: the hub never waits for it.
//!
//! A key's roles decide which categories of events it reads: `Tasks` (TasksReadonly, TasksManage), `Agents`
//! (UserReadonly, UserProvision, UserControl), `Configuration` (ServiceReadonly, Configuration).

pub mod delivery;
pub mod dto;
pub mod webhooks;

use std::collections::{BTreeSet, HashMap};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::Json;
use serde::Serialize;
use switchboard_core::{AgentId, Event, ServiceId, TaskId};

use crate::auth::{Caller, Role};
use crate::error::ApiError;
use crate::hub::{Interest, Subscription};
use crate::lucs::Params;
use crate::openapi::{schema_of, Answer, Endpoint};
use crate::{AppState, TenantHandle};
pub use dto::{Category, EventDto};

/// Events read from the store at once.
const STORE_PAGE: usize = 1_000;
/// Most events one `GET /v2.0/events` looks at; a narrow filter over a long stretch answers `Next` to go on.
const SCAN_LIMIT: usize = 10_000;
/// Longest long-poll, in seconds.
pub const MAX_WAIT_SECONDS: u64 = 60;

/// The largest sequence number there can be (the store keeps them as signed 64-bit integers): a position beyond
/// it is refused rather than read back as a negative one, which would start from the first event.
pub const MAX_SEQUENCE: u64 = i64::MAX as u64;

/// Refuses (422) a position past the largest sequence number.
pub fn check_sequence(name: &str, value: u64) -> Result<u64, ApiError> {
    if value > MAX_SEQUENCE {
        return Err(ApiError::invalid(format!(
            "'{name}' is a sequence number, at most {MAX_SEQUENCE}."
        )));
    }
    Ok(value)
}
/// Largest page.
const MAX_LIMIT: usize = 1_000;
/// Batches a live reader may have queued in the hub before it is dropped (and reads the store instead).
const LIVE_CAPACITY: usize = 256;

/// The roles that may read events of a category.
pub fn category_roles(category: Category) -> &'static [Role] {
    match category {
        Category::Task => &[Role::TasksReadonly, Role::TasksManage],
        Category::Agent => &[Role::UserReadonly, Role::UserProvision, Role::UserControl],
        Category::Configuration => &[Role::ServiceReadonly, Role::Configuration],
    }
}

/// The roles that may read some events: the endpoint's declared roles.
pub const READ_ROLES: &[Role] = &[
    Role::TasksReadonly,
    Role::TasksManage,
    Role::UserReadonly,
    Role::UserProvision,
    Role::UserControl,
    Role::ServiceReadonly,
    Role::Configuration,
];

/// The categories a key with these roles reads.
pub fn granted(roles: &[Role]) -> BTreeSet<Category> {
    Category::ALL
        .into_iter()
        .filter(|c| category_roles(*c).iter().any(|r| roles.contains(r)))
        .collect()
}

/// What a reader wants, within what it may read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// The categories the reader may read.
    pub granted: BTreeSet<Category>,
    /// The types wanted; empty for every type of the granted categories.
    pub types: BTreeSet<&'static str>,
    /// Only events about these services (and their tasks); empty for any.
    pub services: Vec<ServiceId>,
    /// Only events about these users (agents); empty for any.
    pub agents: Vec<AgentId>,
}

impl EventFilter {
    /// Whether the event passes; `service` is the event's service (see `ServiceResolver`).
    pub fn matches(&self, event: &Event, service: Option<ServiceId>) -> bool {
        let (name, category) = dto::event_type(&event.kind);
        if !self.granted.contains(&category) {
            return false;
        }
        if !self.types.is_empty() && !self.types.contains(name) {
            return false;
        }
        if !self.services.is_empty() && !service.is_some_and(|s| self.services.contains(&s)) {
            return false;
        }
        if !self.agents.is_empty() {
            let agent = dto::subjects(&event.kind).agent;
            if !agent.is_some_and(|a| self.agents.contains(&a)) {
                return false;
            }
        }
        true
    }
}

/// Reads type and category names (`TaskOffered`, `Tasks`) into type names, refusing unknown names (422) and
/// names the reader's categories do not cover (401).
pub fn parse_types(
    names: &[String],
    granted: &BTreeSet<Category>,
) -> Result<BTreeSet<&'static str>, ApiError> {
    let mut types = BTreeSet::new();
    for name in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
        let (wanted, category): (Vec<&'static str>, Category) = if let Some((known, category)) =
            dto::type_category(name)
        {
            (vec![known], category)
        } else if let Some(category) = Category::parse(name) {
            let all = dto::EVENT_TYPES
                .iter()
                .filter(|(_, c)| *c == category)
                .map(|(n, _)| *n)
                .collect();
            (all, category)
        } else {
            return Err(ApiError::invalid(format!(
                    "Unknown event type '{name}'. Types: {}; or a category: Tasks, Agents, Configuration.",
                    dto::EVENT_TYPES
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
        };
        if !granted.contains(&category) {
            return Err(ApiError::unauthorized(format!(
                "The API key's roles do not cover {} events ('{name}'): one of {} is needed.",
                category.name(),
                category_roles(category)
                    .iter()
                    .map(|r| r.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        types.extend(wanted);
    }
    Ok(types)
}

/// Resolves service identifiers (id or SIP URI); an unknown one is a 404.
pub fn resolve_services(
    state: &AppState,
    tenant: &TenantHandle,
    identifiers: &[String],
) -> Result<Vec<ServiceId>, ApiError> {
    state.read(tenant, |engine| {
        identifiers
            .iter()
            .map(|id| id.trim())
            .filter(|id| !id.is_empty())
            .map(|id| {
                engine.service_by_identifier(id).ok_or_else(|| {
                    ApiError::not_found("ServiceNotFound", format!("No service '{id}'."))
                })
            })
            .collect()
    })
}

/// Resolves user identifiers (id, SIP URI, UPN or e-mail); an unknown one is a 404.
pub fn resolve_agents(
    state: &AppState,
    tenant: &TenantHandle,
    identifiers: &[String],
) -> Result<Vec<AgentId>, ApiError> {
    state.read(tenant, |engine| {
        identifiers
            .iter()
            .map(|id| id.trim())
            .filter(|id| !id.is_empty())
            .map(|id| {
                engine
                    .agent_by_identifier(id)
                    .ok_or_else(|| ApiError::not_found("UserNotFound", format!("No user '{id}'.")))
            })
            .collect()
    })
}

/// The service of each event: its own, or for a task event the task's, learnt from the events seen (creation,
/// queueing, overflow) or else looked up in the live engine or the history. Blocking (it may read the store).
#[derive(Default)]
pub struct ServiceResolver {
    known: HashMap<TaskId, ServiceId>,
}

const RESOLVER_MAX: usize = 100_000;

impl ServiceResolver {
    /// The event's service, if it has one.
    pub fn service_of(
        &mut self,
        state: &AppState,
        tenant: &TenantHandle,
        event: &Event,
    ) -> Option<ServiceId> {
        let subjects = dto::subjects(&event.kind);
        if let Some(service) = subjects.service {
            if let Some(task) = subjects.task {
                self.remember(task, service);
            }
            return Some(service);
        }
        let task = subjects.task?;
        if let Some(service) = self.known.get(&task) {
            return Some(*service);
        }
        let found = state
            .read(tenant, |engine| engine.task_info(task).map(|t| t.service))
            .or_else(|| {
                state
                    .store()
                    .history_task(tenant.name(), &task.to_string())
                    .ok()
                    .flatten()
                    .map(|t| t.service)
            });
        if let Some(service) = found {
            self.remember(task, service);
        }
        found
    }

    /// Whether resolving these events needs a lookup in the engine or the store (a task event whose task was
    /// not seen creating, queueing or overflowing).
    pub fn needs_lookup(&self, events: &[Event]) -> bool {
        let mut learnt = std::collections::HashSet::new();
        for event in events {
            let subjects = dto::subjects(&event.kind);
            match (subjects.task, subjects.service) {
                (Some(task), Some(_)) => {
                    learnt.insert(task);
                }
                (Some(task), None)
                    if !self.known.contains_key(&task) && !learnt.contains(&task) =>
                {
                    return true
                }
                _ => {}
            }
        }
        false
    }

    fn remember(&mut self, task: TaskId, service: ServiceId) {
        if self.known.len() >= RESOLVER_MAX {
            self.known.clear();
        }
        self.known.insert(task, service);
    }
}

/// Filters and renders events (blocking: the resolver may read the store).
pub fn select(
    state: &AppState,
    tenant: &TenantHandle,
    filter: &EventFilter,
    resolver: &mut ServiceResolver,
    events: &[Event],
) -> Vec<EventDto> {
    events
        .iter()
        .filter_map(|event| {
            let service = resolver.service_of(state, tenant, event);
            filter
                .matches(event, service)
                .then(|| dto::render(event, service))
        })
        .collect()
}

/// `select` off the async runtime when it needs lookups (in place when the events say all it needs, the usual
/// case on the live tail).
pub async fn select_blocking(
    state: &AppState,
    tenant: &Arc<TenantHandle>,
    filter: &Arc<EventFilter>,
    resolver: ServiceResolver,
    events: Vec<Event>,
) -> Result<(ServiceResolver, Vec<EventDto>), ApiError> {
    if !resolver.needs_lookup(&events) {
        let mut resolver = resolver;
        let selected = select(state, tenant, filter, &mut resolver, &events);
        return Ok((resolver, selected));
    }
    let (state, tenant, filter) = (state.clone(), tenant.clone(), filter.clone());
    tokio::task::spawn_blocking(move || {
        let mut resolver = resolver;
        let selected = select(&state, &tenant, &filter, &mut resolver, &events);
        (resolver, selected)
    })
    .await
    .map_err(|_| ApiError::unavailable(&switchboard_store::StoreError::Closed))
}

/// The answer when the events after a sequence are no longer kept.
pub fn gone(after: u64, oldest: u64) -> ApiError {
    ApiError::new(
        StatusCode::GONE,
        "EventsNoLongerKept",
        format!(
            "Events after sequence {after} are no longer kept (retention); the oldest kept is {oldest}. Start \
             from after={} or later.",
            oldest.saturating_sub(1)
        ),
    )
}

/// Why a tail cannot go on.
#[derive(Debug)]
pub enum TailError {
    /// The events right after the position were pruned (retention); the oldest kept is `oldest`.
    Gone {
        /// The position.
        after: u64,
        /// The oldest event kept.
        oldest: u64,
    },
    /// The store could not be read.
    Store(ApiError),
}

impl From<TailError> for ApiError {
    fn from(error: TailError) -> ApiError {
        match error {
            TailError::Gone { after, oldest } => gone(after, oldest),
            TailError::Store(error) => error,
        }
    }
}

/// Follows a tenant's events from a position: every event after it, in order, none missing, each once. Reads
/// the store until caught up, then the hub; back to the store whenever the hub dropped it or skipped ahead.
pub struct Tail {
    state: AppState,
    tenant: Arc<TenantHandle>,
    after: u64,
    live: Option<Subscription>,
    behind: bool,
}

impl Tail {
    /// A tail positioned after sequence `after`.
    pub fn new(state: &AppState, tenant: &Arc<TenantHandle>, after: u64) -> Tail {
        Tail {
            state: state.clone(),
            tenant: tenant.clone(),
            after,
            live: None,
            behind: true,
        }
    }

    /// The sequence of the last event returned (or the start).
    pub fn position(&self) -> u64 {
        self.after
    }

    /// The next events after the position, in order (never empty); waits until there are some.
    pub async fn next(&mut self) -> Result<Vec<Event>, TailError> {
        loop {
            if self.live.is_none() {
                // Subscribe before reading the store: whatever the store does not have yet, the hub will bring.
                self.live = Some(self.tenant.hub().subscribe(Interest::All, LIVE_CAPACITY));
                self.behind = true;
            }
            if self.behind {
                let events = read_store(&self.state, self.tenant.name(), self.after, STORE_PAGE)
                    .await
                    .map_err(TailError::Store)?;
                if let Some(first) = events.first() {
                    if first.seq > self.after + 1 {
                        return Err(TailError::Gone {
                            after: self.after,
                            oldest: first.seq,
                        });
                    }
                }
                if events.len() < STORE_PAGE {
                    self.behind = false;
                }
                if let Some(last) = events.last() {
                    self.after = last.seq;
                    return Ok(events);
                }
                continue;
            }
            let live = self.live.as_mut().expect("subscribed above");
            match live.receiver.recv().await {
                None if self.tenant.hub().is_closed() => {
                    return Err(TailError::Store(crate::cluster::moved(self.tenant.name())))
                }
                None => self.live = None,
                Some(batch) => {
                    let fresh: Vec<Event> = batch
                        .iter()
                        .filter(|e| e.seq > self.after)
                        .cloned()
                        .collect();
                    match fresh.first() {
                        None => {}
                        Some(first) if first.seq != self.after + 1 => self.behind = true,
                        Some(_) => {
                            self.after = fresh.last().map(|e| e.seq).unwrap_or(self.after);
                            return Ok(fresh);
                        }
                    }
                }
            }
        }
    }
}

async fn read_store(
    state: &AppState,
    tenant: &str,
    after: u64,
    limit: usize,
) -> Result<Vec<Event>, ApiError> {
    let tenant = tenant.to_string();
    crate::lucs::directory::blocking_store(state, move |store| {
        store.events_after(&tenant, after, limit)
    })
    .await
}

/// The position just before a tenant's first stored event at or after `time`, found by bisecting the sequence
/// numbers up to `last_seq` (event times grow with them): reading after it gives the events from `time` on.
/// Blocking.
pub fn position_before(
    store: &switchboard_store::Store,
    tenant: &str,
    last_seq: u64,
    time: switchboard_core::Time,
) -> Result<u64, switchboard_store::StoreError> {
    let (mut low, mut high) = (0u64, last_seq);
    // The first sequence number whose event is at or after `time` is in (low, high].
    while high > low + 1 {
        let middle = low + (high - low) / 2;
        match store.events_after(tenant, middle - 1, 1)?.first() {
            Some(event) if event.at < time => low = event.seq.max(middle),
            _ => high = middle,
        }
    }
    Ok(low)
}

/// The oldest stored event of a tenant, if any.
pub async fn oldest_kept(state: &AppState, tenant: &str) -> Result<Option<u64>, ApiError> {
    Ok(read_store(state, tenant, 0, 1)
        .await?
        .first()
        .map(|event| event.seq))
}

/// One page of `GET /v2.0/events`.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase")]
pub struct EventPage {
    /// The events, in sequence order.
    pub items: Vec<EventDto>,
    /// Pass as `after` to go on: the last event looked at (beyond the last item when filters skipped some).
    pub next: u64,
}

/// A parsed `GET /v2.0/events` request.
struct EventsQuery {
    after: Option<u64>,
    limit: usize,
    wait: Duration,
    filter: Arc<EventFilter>,
}

fn list_parameter(query: &HashMap<String, String>, name: &str) -> Vec<String> {
    query
        .get(name)
        .map(|value| {
            value
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

fn number_parameter(query: &HashMap<String, String>, name: &str) -> Result<Option<u64>, ApiError> {
    query
        .get(name)
        .map(|value| {
            value.trim().parse::<u64>().map_err(|_| {
                ApiError::bad_request(format!(
                    "'{name}' must be a non-negative integer, not '{value}'."
                ))
            })
        })
        .transpose()
}

fn parse_query(
    state: &AppState,
    tenant: &TenantHandle,
    caller: &Caller,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<EventsQuery, ApiError> {
    let mut after = number_parameter(query, "after")?
        .map(|after| check_sequence("after", after))
        .transpose()?;
    if let Some(last) = headers.get("last-event-id") {
        let text = last.to_str().unwrap_or_default().trim();
        if !text.is_empty() {
            let last = text.parse::<u64>().map_err(|_| {
                ApiError::bad_request(format!(
                    "'Last-Event-ID' must be a sequence number, not '{text}'."
                ))
            })?;
            after = Some(check_sequence("Last-Event-ID", last)?);
        }
    }
    let limit = number_parameter(query, "limit")?.unwrap_or(100) as usize;
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::invalid(format!("'limit' is 1 to {MAX_LIMIT}.")));
    }
    let wait = number_parameter(query, "wait")?.unwrap_or(0);
    if wait > MAX_WAIT_SECONDS {
        return Err(ApiError::invalid(format!(
            "'wait' is 0 to {MAX_WAIT_SECONDS} seconds."
        )));
    }
    let granted = granted(&caller.roles);
    let types = parse_types(&list_parameter(query, "type"), &granted)?;
    let services = resolve_services(state, tenant, &list_parameter(query, "service"))?;
    let agents = resolve_agents(state, tenant, &list_parameter(query, "agent"))?;
    Ok(EventsQuery {
        after,
        limit,
        wait: Duration::from_secs(wait),
        filter: Arc::new(EventFilter {
            granted,
            types,
            services,
            agents,
        }),
    })
}

/// Reads one page from the store: up to `limit` matching events after `after`, looking at most at
/// `SCAN_LIMIT` events. Also says whether it reached the newest stored event.
fn scan(
    state: &AppState,
    tenant: &TenantHandle,
    filter: &EventFilter,
    after: u64,
    limit: usize,
) -> Result<(EventPage, bool), ApiError> {
    let mut resolver = ServiceResolver::default();
    let mut items = Vec::new();
    let mut next = after;
    let mut scanned = 0;
    loop {
        let events = state
            .store()
            .events_after(tenant.name(), next, STORE_PAGE)?;
        if let Some(first) = events.first() {
            if scanned == 0 && first.seq > after + 1 {
                return Err(gone(after, first.seq));
            }
        }
        for event in &events {
            if items.len() == limit {
                return Ok((EventPage { items, next }, false));
            }
            let service = resolver.service_of(state, tenant, event);
            if filter.matches(event, service) {
                items.push(dto::render(event, service));
            }
            next = event.seq;
        }
        scanned += events.len();
        if events.len() < STORE_PAGE {
            return Ok((EventPage { items, next }, true));
        }
        if scanned >= SCAN_LIMIT {
            return Ok((EventPage { items, next }, false));
        }
    }
}

async fn scan_blocking(
    state: &AppState,
    tenant: &Arc<TenantHandle>,
    filter: &Arc<EventFilter>,
    after: u64,
    limit: usize,
) -> Result<(EventPage, bool), ApiError> {
    let (state, tenant, filter) = (state.clone(), tenant.clone(), filter.clone());
    tokio::task::spawn_blocking(move || scan(&state, &tenant, &filter, after, limit))
        .await
        .map_err(|_| ApiError::unavailable(&switchboard_store::StoreError::Closed))?
}

/// Where a read without `after` starts: just before the oldest event kept.
async fn default_start(state: &AppState, tenant: &TenantHandle) -> Result<u64, ApiError> {
    Ok(oldest_kept(state, tenant.name())
        .await?
        .map(|oldest| oldest - 1)
        .unwrap_or_else(|| state.read(tenant, |engine| engine.last_event_seq())))
}

async fn list_events(
    State(state): State<AppState>,
    caller: Caller,
    slot: Option<axum::Extension<crate::limits::KeySlot>>,
    headers: HeaderMap,
    Params(query): Params<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let tenant = state.tenant(&caller.tenant).await?;
    let parsed = parse_query(&state, &tenant, &caller, &query, &headers)?;
    let wants_stream = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/event-stream"));
    let after = match parsed.after {
        Some(after) => after,
        None => default_start(&state, &tenant).await?,
    };
    if wants_stream {
        let slot = slot.map(|axum::Extension(slot)| slot);
        return stream_events(state, tenant, parsed.filter, after, slot).await;
    }
    let (mut page, at_end) =
        scan_blocking(&state, &tenant, &parsed.filter, after, parsed.limit).await?;
    if page.items.is_empty() && at_end && !parsed.wait.is_zero() {
        page = long_poll(
            &state,
            &tenant,
            &parsed.filter,
            page.next,
            parsed.limit,
            parsed.wait,
        )
        .await?;
    }
    Ok(Json(page).into_response())
}

/// Waits up to `wait` for a matching event after `after`; answers what arrived (possibly nothing).
async fn long_poll(
    state: &AppState,
    tenant: &Arc<TenantHandle>,
    filter: &Arc<EventFilter>,
    after: u64,
    limit: usize,
    wait: Duration,
) -> Result<EventPage, ApiError> {
    let deadline = tokio::time::Instant::now() + wait;
    let mut shutdown = state.shutdown_signal();
    let mut tail = Tail::new(state, tenant, after);
    let mut resolver = ServiceResolver::default();
    loop {
        let events = tokio::select! {
            next = tail.next() => next?,
            _ = tokio::time::sleep_until(deadline) => break,
            _ = shutdown.wait_for(|stopping| *stopping) => break,
        };
        let (kept, selected) =
            select_blocking(state, tenant, filter, resolver, events.clone()).await?;
        resolver = kept;
        if selected.is_empty() {
            continue;
        }
        if selected.len() <= limit {
            return Ok(EventPage {
                items: selected,
                next: tail.position(),
            });
        }
        let items: Vec<EventDto> = selected.into_iter().take(limit).collect();
        let next = items.last().map(|e| e.sequence).unwrap_or(after);
        return Ok(EventPage { items, next });
    }
    Ok(EventPage {
        items: Vec::new(),
        next: tail.position(),
    })
}

/// The Server-Sent Events form: every matching event as `id: SEQ`, `event: TYPE`, `data: JSON`, live, until
/// the client leaves or the server stops.
async fn stream_events(
    state: AppState,
    tenant: Arc<TenantHandle>,
    filter: Arc<EventFilter>,
    after: u64,
    slot: Option<crate::limits::KeySlot>,
) -> Result<Response, ApiError> {
    // Refuse a start that is no longer kept before answering 200.
    if let Some(first) = read_store(&state, tenant.name(), after, 1).await?.first() {
        if first.seq > after + 1 {
            return Err(gone(after, first.seq));
        }
    }
    struct Stream {
        state: AppState,
        tenant: Arc<TenantHandle>,
        filter: Arc<EventFilter>,
        tail: Tail,
        resolver: Option<ServiceResolver>,
        queued: std::collections::VecDeque<axum::response::sse::Event>,
        shutdown: tokio::sync::watch::Receiver<bool>,
        done: bool,
        /// One of the key's open requests and streams, held while the stream lives.
        _slot: Option<crate::limits::KeySlot>,
    }
    let stream = Stream {
        _slot: slot,
        tail: Tail::new(&state, &tenant, after),
        shutdown: state.shutdown_signal(),
        state,
        tenant,
        filter,
        resolver: Some(ServiceResolver::default()),
        queued: Default::default(),
        done: false,
    };
    let events = futures_util::stream::unfold(stream, |mut s| async move {
        loop {
            if let Some(event) = s.queued.pop_front() {
                return Some((Ok::<_, Infallible>(event), s));
            }
            if s.done {
                return None;
            }
            let next = tokio::select! {
                next = s.tail.next() => next,
                _ = s.shutdown.wait_for(|stopping| *stopping) => return None,
            };
            let events = match next {
                Ok(events) => events,
                Err(error) => {
                    let error = ApiError::from(error);
                    s.done = true;
                    s.queued.push_back(
                        axum::response::sse::Event::default()
                            .event("error")
                            .data(format!("{}: {}", error.code, error.message)),
                    );
                    continue;
                }
            };
            let resolver = s.resolver.take().unwrap_or_default();
            match select_blocking(&s.state, &s.tenant, &s.filter, resolver, events).await {
                Ok((resolver, selected)) => {
                    s.resolver = Some(resolver);
                    for dto in selected {
                        let data = serde_json::to_string(&dto).unwrap_or_default();
                        s.queued.push_back(
                            axum::response::sse::Event::default()
                                .id(dto.sequence.to_string())
                                .event(dto.event_type.clone())
                                .data(data),
                        );
                    }
                }
                Err(_) => return None,
            }
        }
    });
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}

/// The event stream's and the webhooks' endpoints.
pub fn endpoints() -> Vec<Endpoint> {
    use axum::http::Method;
    use webhooks::*;
    const MANAGE: &[Role] = &[Role::Configuration];
    vec![
        Endpoint::new(
            Method::GET,
            "/v2.0/events",
            "Events",
            "The tenant's events in sequence order after a position, filtered; long-polls with wait, or streams \
             as Server-Sent Events with Accept: text/event-stream (resumes from Last-Event-ID)",
            READ_ROLES,
            Answer::Json(schema_of::<EventPage>),
            get(list_events),
        )
        .query_of(
            "after",
            "Sequence after which to start (default: before the oldest event kept); 410 when the next one is \
             no longer kept",
            serde_json::json!({"type": "integer", "format": "int64", "minimum": 0, "maximum": MAX_SEQUENCE}),
        )
        .query_of(
            "limit",
            "Most events answered, 1 to 1000 (default 100)",
            serde_json::json!({"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}),
        )
        .query(
            "type",
            "Comma-separated event types (TaskOffered, ...) or categories (Tasks, Agents, Configuration)",
        )
        .query(
            "service",
            "Comma-separated services (id or SIP URI): their events and their tasks' events",
        )
        .query(
            "agent",
            "Comma-separated users (id, SIP URI, UPN or e-mail): the events about them",
        )
        .query_of(
            "wait",
            "Seconds (0 to 60) to wait for a matching event when there is none yet (long-polling)",
            serde_json::json!({"type": "integer", "minimum": 0, "maximum": MAX_WAIT_SECONDS}),
        )
        .gone("The events right after 'after' (or Last-Event-ID) are no longer kept (retention)")
        .extension(),
        Endpoint::new(
            Method::GET,
            "/v2.0/webhooks",
            "Events",
            "The webhook subscriptions of the tenant, with their delivery status",
            MANAGE,
            Answer::Json(schema_of::<Vec<WebhookDto>>),
            get(list_webhooks),
        )
        .extension(),
        Endpoint::new(
            Method::POST,
            "/v2.0/webhooks",
            "Events",
            "Subscribe a URL to the tenant's events (answers the secret once when it was generated)",
            MANAGE,
            Answer::Json(schema_of::<WebhookDto>),
            post(create_webhook),
        )
        .body(schema_of::<WebhookRequest>)
        .gone("'From' names an event that is no longer kept")
        .extension(),
        Endpoint::new(
            Method::GET,
            "/v2.0/webhooks/{webhook}",
            "Events",
            "One webhook subscription with its delivery status",
            MANAGE,
            Answer::Json(schema_of::<WebhookDto>),
            get(get_webhook),
        )
        .extension(),
        Endpoint::new(
            Method::PUT,
            "/v2.0/webhooks/{webhook}",
            "Events",
            "Create or change the subscription with this id (URL, filter, secret); delivery goes on from its \
             position",
            MANAGE,
            Answer::Json(schema_of::<WebhookDto>),
            put(put_webhook),
        )
        .body(schema_of::<WebhookRequest>)
        .gone("'From' names an event that is no longer kept")
        .extension(),
        Endpoint::new(
            Method::DELETE,
            "/v2.0/webhooks/{webhook}",
            "Events",
            "Delete a subscription; delivery stops",
            MANAGE,
            Answer::Empty,
            delete(delete_webhook),
        )
        .extension(),
        Endpoint::new(
            Method::POST,
            "/v2.0/webhooks/{webhook}/resume",
            "Events",
            "Resume a paused subscription from the last event it acknowledged",
            MANAGE,
            Answer::Json(schema_of::<WebhookDto>),
            post(resume_webhook),
        )
        .extension(),
        Endpoint::new(
            Method::POST,
            "/v2.0/webhooks/{webhook}/replay",
            "Events",
            "Deliver again from a sequence number (and resume if paused)",
            MANAGE,
            Answer::Json(schema_of::<WebhookDto>),
            post(replay_webhook),
        )
        .body(schema_of::<ReplayRequest>)
        .gone("'From' names an event that is no longer kept")
        .extension(),
    ]
}

#[cfg(test)]
mod tests {
    use switchboard_core::{EventKind, Priority, QueueReason, Time};
    use uuid::Uuid;

    use super::*;

    fn event(seq: u64, kind: EventKind) -> Event {
        Event {
            seq,
            at: Time::ZERO,
            kind,
        }
    }

    #[test]
    fn filters_keep_granted_categories_types_services_and_agents() {
        let (task, service, agent) = (
            TaskId(Uuid::from_u128(1)),
            ServiceId(Uuid::from_u128(2)),
            AgentId(Uuid::from_u128(3)),
        );
        let created = event(
            1,
            EventKind::TaskCreated {
                task,
                service,
                priority: Priority(0),
            },
        );
        let established = event(2, EventKind::TaskEstablished { task, agent });
        let presence = event(
            3,
            EventKind::AgentPresenceChanged {
                agent,
                presence: switchboard_core::Presence::Online,
            },
        );
        let tasks_only = EventFilter {
            granted: granted(&[Role::TasksReadonly]),
            ..EventFilter::default()
        };
        assert!(tasks_only.matches(&created, Some(service)));
        assert!(!tasks_only.matches(&presence, None));
        let by_service = EventFilter {
            granted: granted(&Role::ALL),
            services: vec![service],
            ..EventFilter::default()
        };
        assert!(by_service.matches(&established, Some(service)));
        assert!(!by_service.matches(&presence, None));
        let by_agent = EventFilter {
            granted: granted(&Role::ALL),
            agents: vec![agent],
            types: parse_types(&["TaskEstablished".into()], &granted(&Role::ALL)).unwrap(),
            ..EventFilter::default()
        };
        assert!(by_agent.matches(&established, Some(service)));
        assert!(!by_agent.matches(&created, Some(service)));
        assert!(!by_agent.matches(&presence, None));
        assert!(parse_types(&["Agents".into()], &granted(&[Role::TasksReadonly])).is_err());
        assert!(parse_types(&["Nope".into()], &granted(&Role::ALL)).is_err());
    }

    #[test]
    fn a_task_seen_created_or_queued_needs_no_lookup() {
        let (task, service) = (TaskId(Uuid::from_u128(1)), ServiceId(Uuid::from_u128(2)));
        let agent = AgentId(Uuid::from_u128(3));
        let resolver = ServiceResolver::default();
        let queued = event(
            1,
            EventKind::TaskQueued {
                task,
                service,
                reason: QueueReason::Created,
            },
        );
        let established = event(2, EventKind::TaskEstablished { task, agent });
        assert!(!resolver.needs_lookup(&[queued.clone(), established.clone()]));
        assert!(resolver.needs_lookup(&[established]));
    }
}
