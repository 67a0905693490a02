//! One CTI websocket: greets the user (`LoggedOn`, `RightProfile`), answers its commands, and forwards the
//! tenant's events it may see as xuc messages.
//!
//! The socket is a lease: a client that stays silent for the grace period (xuc clients ping every 5 s) is
//! disconnected, and an agent whose last socket is gone stays logged in only for the grace period, so that a
//! reconnect carries on; after it, the agent is logged out and an offer it held returns to the queue keeping the
//! task's place. Outgoing messages go through a bounded queue drained by a writer task: a client that does not
//! read is disconnected (close code 1008, "too slow") instead of growing memory, and never delays routing or other
//! clients (the hub drops subscribers that fall behind for the same reason).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use switchboard_core::{
    AgentId, AgentInfo, AgentState, Command, Direction, Engine, Event, EventKind, ServiceId,
    TaskId, TaskKind, TaskSpec, TaskStatus, TerminationReason, Time,
};
use tokio::sync::mpsc;

use super::callbacks::{self, Period};
use super::credentials::{CtiProfile, CtiUser, TokenGrant};
use super::messages::{self, message};
use super::request::{self, ObjectType, Request, TaskAction, TicketStatus};
use crate::hub::{Interest, Subscription};
use crate::{AppState, TenantHandle};

/// Close code for a policy violation (RFC 6455): used for "too slow" and "silent too long".
const POLICY: u16 = 1008;

/// Refuses a socket whose token is not valid: `LoggedOnError`, then close.
pub async fn refuse(mut socket: WebSocket, error: &str, reason: &'static str) {
    let text = message("LoggedOnError", json!({"Error": error}));
    let _ = socket.send(Message::Text(text.into())).await;
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code: POLICY,
            reason: Utf8Bytes::from_static(reason),
        })))
        .await;
}

struct Session {
    state: AppState,
    tenant: Arc<TenantHandle>,
    user: CtiUser,
    out: mpsc::Sender<Message>,
    subscription: Subscription,
    /// Queues whose statistics the client subscribed to, with the counters last sent.
    queue_stats: Option<BTreeMap<u32, BTreeMap<&'static str, Value>>>,
    agent_stats: bool,
    /// The client asked for every agent's events it may see (supervisors, admins).
    watching_agents: bool,
    /// After `getCallbackLists`: the client receives callback events, drawn with these preferred periods (read
    /// again at every `getCallbackLists` and `getCallbackPreferredPeriods`).
    callbacks: Option<Vec<Period>>,
    /// When queue statistics were last sent: they are sent (the changed counters) at most every `STATS_EVERY`,
    /// and exactly before answering a ping, however many events arrive.
    stats_sent: Instant,
    /// Agent groups learned from the engine, so that a supervisor's session skips other groups' events without
    /// taking the tenant's lock.
    groups: HashMap<AgentId, u32>,
    /// A read-only session opened with an API key (`Watcher`): it has no agent of its own and commands nothing.
    watcher: bool,
}

/// What a watching session (API key) may ask: reads only.
const READ_COMMANDS: &[&str] = &[
    "subscribeToAgentEvents",
    "getAgentStates",
    "subscribeToQueueStats",
    "getQueueStatistics",
    "subscribeToAgentStats",
    "getList",
    "getAgentDirectory",
    "getCallbackLists",
    "getCallbackPreferredPeriods",
    "findCallbackRequest",
    "getQueueHistory",
    "getPauseReasons",
];

/// How often a session's queue statistics are sent at most.
const STATS_EVERY: Duration = Duration::from_millis(250);

/// Why the session ended.
enum End {
    ClientLeft,
    Silent,
    TooSlow,
    TokenExpired,
    TokenRevoked,
    KeyRefused,
    /// This node stopped leading the tenant.
    Moved,
}

/// A message for the client, built under the engine's lock and serialized after it.
enum Outgoing {
    Message(&'static str, Value),
    Text(String),
}

/// Runs a signed-in socket to its end.
pub async fn run(
    socket: WebSocket,
    state: AppState,
    token: String,
    user: CtiUser,
    grant: TokenGrant,
) {
    let Ok(tenant) = state.tenant(&user.tenant).await else {
        refuse(socket, "loggedOnFailed", "invalid or expired token").await;
        return;
    };
    let config = state.config().cti.clone();
    // A user's sockets, and a key's requests and streams, are bounded (docs/limits.md).
    let _key_slot = match &grant.watcher {
        Some(watcher) => {
            let max = state.config().limits.max_open_per_key;
            let Some(slot) = state.limiter().open_slot(&watcher.key_id, max) else {
                refuse(
                    socket,
                    "TooManySessions",
                    "the API key has too many open requests and sessions",
                )
                .await;
                return;
            };
            Some(slot)
        }
        None => {
            if !state
                .cti_sessions()
                .connect(&user.tenant, user.agent, config.max_sessions_per_user)
            {
                refuse(
                    socket,
                    "TooManySessions",
                    "the user has too many open sessions",
                )
                .await;
                return;
            }
            None
        }
    };
    let (mut sink, mut stream) = socket.split();
    let (out, mut outgoing) = mpsc::channel::<Message>(config.socket_buffer);
    // Why the server ends the session, for the close frame the writer sends after what is queued.
    let (close_sender, close_reason) = tokio::sync::oneshot::channel::<Option<&'static str>>();
    let writer = tokio::spawn(async move {
        while let Some(message) = outgoing.recv().await {
            if sink.send(message).await.is_err() {
                return;
            }
        }
        if let Ok(Some(reason)) = close_reason.await {
            let _ = sink
                .send(Message::Close(Some(CloseFrame {
                    code: POLICY,
                    reason: Utf8Bytes::from_static(reason),
                })))
                .await;
        }
        let _ = sink.close().await;
    });
    // Supervisors and admins see everything they may see; an agent its own events.
    let interest = match user.profile {
        CtiProfile::Agent => Interest::Agent(user.agent),
        CtiProfile::Supervisor => state.read(&tenant, |engine| supervised(engine, &user)),
        CtiProfile::Admin => Interest::All,
    };
    let subscription = tenant.hub().subscribe(interest, config.socket_buffer);
    let watcher = grant.watcher.clone();
    let mut session = Session {
        state: state.clone(),
        tenant,
        user,
        out,
        subscription,
        queue_stats: None,
        agent_stats: false,
        watching_agents: false,
        callbacks: None,
        stats_sent: Instant::now(),
        groups: HashMap::new(),
        watcher: watcher.is_some(),
    };
    session.greet();
    let mut last_heard = Instant::now();
    let mut key_checked = Instant::now();
    // Once a second (queue statistics that changed without events, such as the longest wait, go out then); a
    // late tick is skipped rather than repeated, so a busy server does not get busier.
    let mut check = tokio::time::interval(Duration::from_secs(1).min(config.silence_timeout / 2));
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let end = loop {
        // Events first: an event durable before a client's message arrived is forwarded before its answer, so a
        // ping works as a barrier.
        tokio::select! {
            biased;
            batch = session.subscription.receiver.recv() => match batch {
                Some(batch) => session.forward(&batch),
                None if session.tenant.hub().is_closed() => break End::Moved,
                None => break End::TooSlow,
            },
            incoming = stream.next() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    last_heard = Instant::now();
                    session.handle(text.as_str()).await;
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break End::ClientLeft,
                Some(Ok(_)) => last_heard = Instant::now(),
            },
            _ = check.tick() => {
                session.flush_statistics(false);
                if last_heard.elapsed() > config.silence_timeout {
                    break End::Silent;
                }
                if grant.expires <= Instant::now() {
                    break End::TokenExpired;
                }
                // New or removed credentials revoke a user's tokens: its open sockets end too.
                if session.state.cti().check(&token).is_err() {
                    break End::TokenRevoked;
                }
                if let Some(watcher) = &watcher {
                    if key_checked.elapsed() >= config.watch_key_check {
                        key_checked = Instant::now();
                        if !crate::auth::key_still_valid(&session.state, &watcher.key_hash, session.now()) {
                            break End::KeyRefused;
                        }
                    }
                }
            }
        }
        if session.out.capacity() == 0 {
            break End::TooSlow;
        }
    };
    let reason = match end {
        End::ClientLeft => None,
        End::Silent => Some("no message within the silence timeout"),
        End::TooSlow => Some("too slow: the client did not read its messages"),
        End::TokenExpired => Some("the token expired"),
        End::TokenRevoked => Some("the token was revoked"),
        End::KeyRefused => Some("the API key was revoked or expired"),
        End::Moved => Some("the tenant moved to another node; reconnect"),
    };
    let _ = close_sender.send(reason);
    let Session {
        state,
        tenant,
        user,
        out,
        subscription,
        ..
    } = session;
    drop(subscription);
    drop(out);
    // The closing handshake, beside the lease below. While the writer hands over what is queued and the close
    // frame, what the client still sends is read and dropped until it answers the close or leaves: a socket
    // closed with unread input is reset, and the client would lose what was queued for it, close frame included.
    // A client that reads nothing could hold this forever: it gets `close_grace`.
    let grace = config.close_grace;
    tokio::spawn(async move {
        let writer_abort = writer.abort_handle();
        let drain = async {
            while let Some(Ok(message)) = stream.next().await {
                if matches!(message, Message::Close(_)) {
                    break;
                }
            }
        };
        let handshake = async {
            let _ = tokio::join!(writer, drain);
        };
        if tokio::time::timeout(grace, handshake).await.is_err() {
            writer_abort.abort();
        }
    });
    if watcher.is_some() {
        // A watching session holds no agent's lease.
        return;
    }
    let generation = state.cti_sessions().disconnect(&user.tenant, user.agent);
    // The lease: log the agent out unless it reconnects within the grace period.
    tokio::spawn(async move {
        tokio::time::sleep(config.logout_grace).await;
        if state
            .cti_sessions()
            .still_gone(&user.tenant, user.agent, generation)
        {
            let logged_in = state.read(&tenant, |engine| {
                engine
                    .agent_info(user.agent)
                    .is_some_and(|a| a.line.is_some())
            });
            if logged_in {
                if let Err(error) = state.command(&tenant, Command::Logout(user.agent)).await {
                    tracing::warn!(agent = %user.agent, code = error.code, "could not log out an agent whose session ended");
                }
            }
        }
    });
}

impl Session {
    fn send(&self, text: String) {
        // A full queue ends the session (checked by the loop); the message is lost with it.
        let _ = self.out.try_send(Message::Text(text.into()));
    }

    fn send_message(&self, msg_type: &str, body: Value) {
        self.send(message(msg_type, body));
    }

    fn agent_error(&self, body: Value) {
        self.send_message("AgentError", body);
    }

    fn now(&self) -> Time {
        self.state.now()
    }

    fn read<T>(&self, f: impl FnOnce(&Engine) -> T) -> T {
        self.state.read(&self.tenant, f)
    }

    fn greet(&self) {
        let (number, line) = self.read(|engine| {
            engine
                .agent_info(self.user.agent)
                .map(|a| (a.number, a.line.clone().unwrap_or_default()))
                .unwrap_or_default()
        });
        self.send_message(
            "LoggedOn",
            json!({"username": self.user.login, "userId": number, "agentId": number, "phoneNumber": line}),
        );
        // A watching session (API key) says so in its rights: it reads everything and commands nothing.
        let rights: &[&str] = if self.watcher { &["watchOnly"] } else { &[] };
        self.send_message(
            "RightProfile",
            json!({"profile": self.user.profile.xuc_name(), "rights": rights}),
        );
        // An offer still ringing for the agent (a desktop that reconnected within the logout grace): its `Sheet`
        // again, as when it was offered, so the desktop can show it and answer it. Then the agent's own state, so
        // that a desktop can draw itself at once.
        let now = self.now();
        let (sheets, state) = self.read(|engine| {
            let Some(info) = engine.agent_info(self.user.agent) else {
                return (Vec::new(), None);
            };
            let sheets: Vec<Value> = info
                .tasks
                .iter()
                .filter_map(|task| engine.task_info(*task))
                .filter(|task| {
                    task.status == TaskStatus::Offered && task.agent == Some(self.user.agent)
                })
                .map(|task| messages::sheet(engine, &task, now))
                .collect();
            (sheets, Some(messages::agent_state(engine, &info, now)))
        });
        for sheet in sheets {
            self.send_message("Sheet", sheet);
        }
        if let Some(body) = state {
            self.send_message("AgentStateEvent", body);
        }
    }

    // ----- visibility ---------------------------------------------------------------------------------------

    fn can_see_agent(&self, info: &AgentInfo) -> bool {
        match self.user.profile {
            CtiProfile::Admin => true,
            CtiProfile::Supervisor => {
                info.spec.id == self.user.agent || self.user.groups.contains(&info.spec.group)
            }
            CtiProfile::Agent => info.spec.id == self.user.agent,
        }
    }

    fn can_see_queue(&self, engine: &Engine, service: ServiceId) -> bool {
        match self.user.profile {
            CtiProfile::Admin => true,
            CtiProfile::Supervisor => self.user.queues.contains(&service),
            CtiProfile::Agent => engine
                .agent_info(self.user.agent)
                .is_some_and(|a| a.memberships.iter().any(|(s, _)| *s == service)),
        }
    }

    // ----- events -------------------------------------------------------------------------------------------

    /// Whether an event may mean a message for this session, decided without the tenant's lock (most events of a
    /// busy tenant concern no given supervisor: taking the lock for each, in every session, would slow routing).
    fn may_concern(&self, kind: &EventKind) -> bool {
        let may_see = |agent: &AgentId| match self.user.profile {
            CtiProfile::Admin => true,
            CtiProfile::Agent => *agent == self.user.agent,
            CtiProfile::Supervisor => {
                *agent == self.user.agent
                    || self
                        .groups
                        .get(agent)
                        .is_none_or(|group| self.user.groups.contains(group))
            }
        };
        match kind {
            EventKind::AgentStatusChanged { agent, .. } => {
                *agent == self.user.agent
                    || ((self.watching_agents || self.agent_stats) && may_see(agent))
            }
            EventKind::TaskOffered { agent, .. } => *agent == self.user.agent,
            EventKind::MembershipChanged { .. } => true,
            EventKind::AgentUpserted { .. } => true,
            EventKind::TaskCreated { .. }
            | EventKind::TaskRescheduled { .. }
            | EventKind::TaskAttributesChanged { .. }
            | EventKind::TaskClaimed { .. }
            | EventKind::TaskClaimReleased { .. } => self.callbacks.is_some(),
            EventKind::TaskTerminated { record, .. } => {
                self.callbacks.is_some() && record.kind == TaskKind::Callback
            }
            _ => false,
        }
    }

    /// Sends the queue counters that changed, if they were not sent for `STATS_EVERY` (or `exact`: now, from the
    /// engine as it is).
    fn flush_statistics(&mut self, exact: bool) {
        if self.queue_stats.is_some() && (exact || self.stats_sent.elapsed() >= STATS_EVERY) {
            self.stats_sent = Instant::now();
            self.send_queue_statistics(false, exact);
        }
    }

    fn forward(&mut self, batch: &[Event]) {
        self.flush_statistics(false);
        if self.user.profile == CtiProfile::Supervisor
            && self.callbacks.is_none()
            && batch.iter().any(|e| {
                matches!(
                    e.kind,
                    EventKind::AgentUpserted { .. } | EventKind::AgentRemoved { .. }
                )
            })
        {
            // Agents may have joined or left the supervisor's groups.
            let interest = self.read(|engine| supervised(engine, &self.user));
            self.tenant.hub().set_interest(&self.subscription, interest);
        }
        if !batch.iter().any(|event| self.may_concern(&event.kind)) {
            return;
        }
        let now = self.now();
        // Only what needs the engine happens under its lock; the messages are serialized after it.
        let mut outgoing = Vec::new();
        let mut learned = Vec::new();
        self.read(|engine| {
            for event in batch {
                match &event.kind {
                    EventKind::AgentStatusChanged { agent, state, .. } => {
                        let Some(info) = engine.agent_info(*agent) else {
                            continue;
                        };
                        learned.push((*agent, info.spec.group));
                        let own = *agent == self.user.agent;
                        if self.agent_stats && self.can_see_agent(&info) {
                            outgoing.push(Outgoing::Message(
                                "AgentStatistics",
                                agent_statistics(&self.tenant, &info, now),
                            ));
                        }
                        if (own || self.watching_agents) && self.can_see_agent(&info) {
                            let mut body = messages::agent_state(engine, &info, now);
                            body["name"] = json!(state.xuc_name());
                            body["since"] =
                                json!((now.as_micros() - event.at.as_micros()).max(0) / 1_000_000);
                            outgoing.push(Outgoing::Message("AgentStateEvent", body));
                        }
                    }
                    EventKind::TaskOffered { task, agent, .. } if *agent == self.user.agent => {
                        if let Some(info) = engine.task_info(*task) {
                            outgoing.push(Outgoing::Message(
                                "Sheet",
                                messages::sheet(engine, &info, now),
                            ));
                        }
                    }
                    EventKind::MembershipChanged {
                        agent,
                        service,
                        penalty,
                    } => {
                        let (Some(agent_info), Some(queue)) =
                            (engine.agent_info(*agent), engine.service_info(*service))
                        else {
                            continue;
                        };
                        if *agent == self.user.agent || self.can_see_queue(engine, *service) {
                            outgoing.push(Outgoing::Message(
                                "QueueMember",
                                messages::queue_member(agent_info.number, queue.number, *penalty),
                            ));
                        }
                        if *agent == self.user.agent {
                            outgoing.push(Outgoing::Message(
                                "AgentConfig",
                                messages::agent_config(engine, &agent_info),
                            ));
                        }
                    }
                    EventKind::AgentUpserted { agent, .. } if *agent == self.user.agent => {
                        if let Some(info) = engine.agent_info(*agent) {
                            outgoing.push(Outgoing::Message(
                                "AgentConfig",
                                messages::agent_config(engine, &info),
                            ));
                        }
                    }
                    _ => {}
                }
                if let Some(periods) = &self.callbacks {
                    if let Some(text) = self.callback_event(engine, &event.kind, periods) {
                        outgoing.push(Outgoing::Text(text));
                    }
                }
            }
        });
        for item in outgoing {
            match item {
                Outgoing::Message(msg_type, body) => self.send(message(msg_type, body)),
                Outgoing::Text(text) => self.send(text),
            }
        }
        for event in batch {
            // A changed agent may have changed group: learn it again from the engine next time.
            if let EventKind::AgentUpserted { agent, .. } | EventKind::AgentRemoved { agent } =
                &event.kind
            {
                self.groups.remove(agent);
            }
        }
        self.groups.extend(learned);
    }

    /// Sends the counters of every subscribed queue: all of them the first time, then only those that changed.
    fn send_queue_statistics(&mut self, all: bool, exact: bool) {
        let now = self.now();
        let Some(mut sent) = self.queue_stats.take() else {
            return;
        };
        let current: Vec<(u32, Vec<(&'static str, Value)>)> = self.read(|engine| {
            let counters = super::queue_counters(&self.tenant, engine, now, exact);
            engine
                .services()
                .into_iter()
                .filter(|service| self.can_see_queue(engine, *service))
                .filter_map(|service| {
                    let mut queue = counters.get(&service)?.clone();
                    queue.extend(moving_counters(&self.tenant, engine, service, now));
                    Some((engine.service_spec(service)?.1, queue))
                })
                .collect()
        });
        for (queue, counters) in current {
            let previous = sent.entry(queue).or_default();
            let mut changed = Vec::new();
            for (name, value) in counters {
                if all || previous.get(name) != Some(&value) {
                    changed.push(json!({"statName": name, "value": value}));
                    previous.insert(name, value);
                }
            }
            if !changed.is_empty() {
                self.send_message(
                    "QueueStatistics",
                    json!({"queueId": queue, "counters": changed}),
                );
            }
        }
        self.queue_stats = Some(sent);
    }

    // ----- commands -----------------------------------------------------------------------------------------

    /// Reads a message (`request`, which needs no engine) and executes it. A message that cannot be read is
    /// answered with an `Error` naming the problem; the socket stays open and nothing changes.
    async fn handle(&mut self, text: &str) {
        let request = request::parse(text);
        if let Ok(Request::Ping) = request {
            // Statistics held back are sent first, so a ping stays a barrier for them too.
            self.flush_statistics(true);
            self.send_message("Pong", json!({}));
            return;
        }
        // A watching session learns that it only watches before anything about the arguments.
        let command = match &request {
            Ok(request) => Some(request.name()),
            Err(error) => error.command(),
        };
        if let Some(command) = command {
            if self.watcher && !READ_COMMANDS.contains(&command) {
                self.send(messages::error(format!(
                    "{command}: a session opened with an API key only watches; sign in as a user to command"
                )));
                return;
            }
        }
        let request = match request {
            Ok(request) => request,
            Err(error) => {
                self.send(messages::error(error.to_string()));
                return;
            }
        };
        let command = request.name();
        if let Err(problem) = self.dispatch(request).await {
            self.send(messages::error(format!("{command}: {problem}")));
        }
    }

    async fn dispatch(&mut self, request: Request) -> Result<(), String> {
        match request {
            Request::Ping => Ok(()),
            Request::GetQueueHistory { minutes, queue } => self.queue_history(minutes, queue),
            Request::GetPauseReasons => {
                let reasons =
                    crate::lucs::directory::absence_reasons(&self.state, &self.user.tenant)
                        .await
                        .map_err(|e| e.message)?;
                let list: Vec<Value> = reasons.iter().map(|r| json!({"name": r.name})).collect();
                self.send_message("PauseReasons", Value::Array(list));
                Ok(())
            }
            Request::AgentLogin { agent, line } => {
                let agent = self.target_agent(agent)?;
                let line = match line {
                    Some(line) => line,
                    None => self
                        .read(|engine| engine.agent_info(agent).and_then(|a| a.spec.phone_line))
                        .ok_or("agentphonenumber is missing and the agent has no phone line")?,
                };
                self.agent_command(Command::Login { agent, line }).await
            }
            Request::AgentLogout { agent } => {
                let agent = self.target_agent(agent)?;
                self.agent_command(Command::Logout(agent)).await
            }
            Request::PauseAgent { agent, reason } => {
                let agent = self.target_agent(agent)?;
                self.agent_command(Command::Pause { agent, reason }).await
            }
            Request::UnpauseAgent { agent } => {
                let agent = self.target_agent(agent)?;
                self.agent_command(Command::Unpause(agent)).await
            }
            Request::ListenAgent { agent } => {
                let agent = self.target_agent(agent)?;
                if self.user.profile == CtiProfile::Agent {
                    return Err("listening needs a supervisor or admin profile".into());
                }
                let (number, line) = self.read(|engine| {
                    engine
                        .agent_info(agent)
                        .map(|a| (a.number, a.line.unwrap_or_default()))
                        .unwrap_or_default()
                });
                self.send_message(
                    "AgentListen",
                    json!({"started": true, "phoneNumber": line, "agentId": number}),
                );
                Ok(())
            }
            Request::SetAgentQueue {
                agent,
                queue,
                penalty,
            } => {
                let agent = self.target_agent(agent)?;
                let service = self.target_queue(queue)?;
                self.agent_command(Command::SetMembership {
                    agent,
                    service,
                    penalty,
                })
                .await
            }
            Request::RemoveAgentFromQueue { agent, queue } => {
                let agent = self.target_agent(agent)?;
                let service = self.target_queue(queue)?;
                self.agent_command(Command::RemoveMembership { agent, service })
                    .await
            }
            Request::SubscribeToAgentEvents | Request::GetAgentStates => {
                if request == Request::SubscribeToAgentEvents {
                    self.watching_agents = self.user.profile != CtiProfile::Agent;
                }
                let now = self.now();
                let states: Vec<Value> = self.read(|engine| {
                    engine
                        .agents()
                        .into_iter()
                        .filter_map(|a| engine.agent_info(a))
                        .filter(|info| self.can_see_agent(info))
                        .map(|info| messages::agent_state(engine, &info, now))
                        .collect()
                });
                for body in states {
                    self.send_message("AgentStateEvent", body);
                }
                Ok(())
            }
            Request::SubscribeToQueueStats => {
                self.queue_stats = Some(BTreeMap::new());
                self.send_queue_statistics(true, true);
                Ok(())
            }
            Request::GetQueueStatistics { queue } => {
                let service = self.target_queue(queue)?;
                let now = self.now();
                let (number, counters) = self.read(|engine| {
                    (
                        engine.service_spec(service).map(|s| s.1).unwrap_or(0),
                        super::queue_counters(&self.tenant, engine, now, true)
                            .get(&service)
                            .cloned()
                            .into_iter()
                            .flatten()
                            .chain(moving_counters(&self.tenant, engine, service, now))
                            .collect::<Vec<_>>(),
                    )
                });
                let counters: Vec<Value> = counters
                    .into_iter()
                    .map(|(name, value)| json!({"statName": name, "value": value}))
                    .collect();
                self.send_message(
                    "QueueStatistics",
                    json!({"queueId": number, "counters": counters}),
                );
                Ok(())
            }
            Request::SubscribeToAgentStats => {
                self.agent_stats = true;
                let now = self.now();
                let stats: Vec<Value> = self.read(|engine| {
                    engine
                        .agents()
                        .into_iter()
                        .filter_map(|a| engine.agent_info(a))
                        .filter(|info| self.can_see_agent(info))
                        .map(|info| agent_statistics(&self.tenant, &info, now))
                        .collect()
                });
                for body in stats {
                    self.send_message("AgentStatistics", body);
                }
                Ok(())
            }
            Request::GetList { object_type } => {
                self.get_list(object_type);
                Ok(())
            }
            Request::GetAgentDirectory => {
                let now = self.now();
                let directory: Vec<Value> = self.read(|engine| {
                    engine
                        .agents()
                        .into_iter()
                        .filter_map(|a| engine.agent_info(a))
                        .filter(|info| self.can_see_agent(info))
                        .map(|info| {
                            json!({"agent": messages::agent_item(&info),
                                   "agentState": messages::agent_state(engine, &info, now)})
                        })
                        .collect()
                });
                self.send_message("AgentDirectory", json!({"directory": directory}));
                Ok(())
            }
            Request::Task { action, task } => self.task_command(action, task).await,
            Request::EndWrapup { agent } => {
                let agent = self.target_agent(agent)?;
                self.agent_command(Command::EndWrapup(agent)).await
            }
            Request::DialFromQueue {
                destination,
                queue,
                caller_id,
                variables,
            } => {
                self.dial_from_queue(destination, queue, caller_id, variables)
                    .await
            }
            Request::SetAgentGroup { agent, group } => {
                let agent = self.target_agent(agent)?;
                if self.user.profile != CtiProfile::Admin {
                    return Err("moving agents between groups needs the admin profile".into());
                }
                let spec = self
                    .read(|engine| engine.agent_info(agent).map(|a| a.spec))
                    .ok_or("unknown agent")?;
                let mut spec = spec;
                spec.group = group;
                self.agent_command(Command::UpsertAgent(spec)).await
            }
            Request::GetCallbackLists => self.callback_lists().await,
            Request::GetCallbackPreferredPeriods => {
                let periods = callbacks::periods(&self.state, &self.user.tenant)
                    .await
                    .map_err(|e| e.message)?;
                let list: Vec<Value> = periods.iter().map(Period::to_json).collect();
                if self.callbacks.is_some() {
                    self.callbacks = Some(periods);
                }
                self.send_message("PreferredCallbackPeriodList", Value::Array(list));
                Ok(())
            }
            Request::TakeCallback { callback } => {
                let task = self.visible_callback(callback)?;
                self.agent_command(Command::Claim {
                    task,
                    agent: Some(self.user.agent),
                })
                .await
            }
            Request::ReleaseCallback { callback } => {
                let task = self.visible_callback(callback)?;
                let holder = self.read(|engine| engine.claimed_by(task));
                match holder {
                    None => return Err("the callback is not taken".into()),
                    Some(agent)
                        if agent != self.user.agent && self.user.profile == CtiProfile::Agent =>
                    {
                        return Err("the callback was taken by another agent".into())
                    }
                    Some(_) => {}
                }
                self.agent_command(Command::Claim { task, agent: None })
                    .await
            }
            Request::StartCallback { callback, number } => {
                self.start_callback(callback, number).await
            }
            Request::UpdateCallbackTicket { callback, ticket } => {
                self.update_callback_ticket(callback, ticket).await
            }
            Request::FindCallbackRequest { id, search } => {
                let periods = callbacks::periods(&self.state, &self.user.tenant)
                    .await
                    .map_err(|e| e.message)?;
                let requests: Vec<Value> = self.read(|engine| {
                    engine
                        .services()
                        .into_iter()
                        .filter(|s| self.can_see_queue(engine, *s))
                        .flat_map(|s| {
                            callbacks::callbacks_of(engine, s)
                                .into_iter()
                                .map(|task| callbacks::request(engine, &task, &periods))
                                .collect::<Vec<_>>()
                        })
                        .collect()
                });
                let response = search.run(requests);
                self.send_message(
                    "FindCallbackResponseWithId",
                    json!({"id": id, "response": response}),
                );
                Ok(())
            }
        }
    }

    /// `getQueueHistory` (an extension for wallboards): the last `minutes` minutes (default and at most 60) of
    /// each queue the user may see, or of `queueId`, one `QueueHistory` message per queue.
    fn queue_history(&self, minutes: i64, queue: Option<i64>) -> Result<(), String> {
        let wanted = queue.map(|queue| self.target_queue(queue)).transpose()?;
        let now = self.now();
        let queues: Vec<(ServiceId, u32)> = self.read(|engine| {
            engine
                .services()
                .into_iter()
                .filter(|s| wanted.is_none_or(|w| w == *s))
                .filter(|s| self.can_see_queue(engine, *s))
                .filter_map(|s| Some((s, engine.service_spec(s)?.1)))
                .collect()
        });
        if wanted.is_some() && queues.is_empty() {
            return Err("the queue is not one you may see".into());
        }
        for (service, number) in queues {
            let points = self
                .tenant
                .hub()
                .statistics(|stats| stats.recent_history(service, now, minutes));
            let minutes: Vec<Value> = points
                .iter()
                .map(|point| {
                    json!({
                        "start": iso_time(point.minute_start),
                        "unanswered": point.unanswered,
                        "answered": point.minute.answered,
                        "answeredWithin15": point.minute.answered_within_threshold,
                        "abandoned": point.minute.abandoned,
                        "abandonedAfter15": point.minute.abandoned_after_threshold,
                        "window": {
                            "answered": point.window.answered,
                            "answeredWithin15": point.window.answered_within_threshold,
                            "abandoned": point.window.abandoned,
                            "abandonedAfter15": point.window.abandoned_after_threshold,
                        },
                        "serviceLevel": point.window.service_level(),
                    })
                })
                .collect();
            self.send_message(
                "QueueHistory",
                json!({"queueId": number, "minutes": minutes}),
            );
        }
        Ok(())
    }

    // ----- callbacks ------------------------------------------------------------------------------------------

    /// `getCallbackLists`: every list the user may see, and from now on the callback events.
    async fn callback_lists(&mut self) -> Result<(), String> {
        let periods = callbacks::periods(&self.state, &self.user.tenant)
            .await
            .map_err(|e| e.message)?;
        if self.user.profile != CtiProfile::Admin {
            // Lists change with other agents' work: the session needs the tenant's events.
            self.tenant
                .hub()
                .set_interest(&self.subscription, Interest::All);
        }
        let lists: Vec<Value> = self.read(|engine| {
            engine
                .services()
                .into_iter()
                .filter(|s| self.can_see_queue(engine, *s))
                .filter_map(|s| callbacks::list_of(engine, s, &periods))
                .collect()
        });
        self.callbacks = Some(periods);
        self.send_message("CallbackLists", Value::Array(lists));
        Ok(())
    }

    /// The callback request a command names by `uuid`, if it is a live callback of a queue the user may see.
    fn visible_callback(&self, task: TaskId) -> Result<TaskId, String> {
        let visible = self.read(|engine| {
            engine
                .task_info(task)
                .filter(|t| t.kind == TaskKind::Callback)
                .is_some_and(|t| self.can_see_queue(engine, t.service))
        });
        if !visible {
            return Err(format!("no open callback request '{task}' in your lists"));
        }
        Ok(task)
    }

    /// Whether this user may work the request: it took it or handles it (an admin or supervisor may too).
    fn works_on(&self, task: TaskId) -> bool {
        self.user.profile != CtiProfile::Agent
            || self.read(|engine| {
                engine.claimed_by(task) == Some(self.user.agent)
                    || engine.task_info(task).and_then(|t| t.agent) == Some(self.user.agent)
            })
    }

    /// `startCallback`: the agent calls the customer now. The task is established with the agent (ahead of
    /// routing; a claim by another agent refuses it) and gets a ticket.
    async fn start_callback(&self, callback: TaskId, number: Option<String>) -> Result<(), String> {
        let task = self.visible_callback(callback)?;
        let (status, holder, target) = self.read(|engine| {
            let info = engine.task_info(task);
            (
                info.as_ref().map(|t| t.status),
                info.as_ref().and_then(|t| t.agent),
                info.as_ref().map(|t| {
                    t.attributes
                        .iter()
                        .find(|(n, _)| n == "Target")
                        .map(|(_, v)| v.clone())
                        .unwrap_or_else(|| t.customer.clone())
                }),
            )
        });
        let number = number.or(target).unwrap_or_default();
        let already_mine = holder == Some(self.user.agent)
            && matches!(status, Some(TaskStatus::Established | TaskStatus::OnHold));
        if !already_mine {
            self.agent_command(Command::Establish {
                task,
                agent: Some(self.user.agent),
            })
            .await?;
            // The engine refused (an error was sent) or someone else has it.
            if self.read(|engine| engine.task_info(task).and_then(|t| t.agent))
                != Some(self.user.agent)
            {
                return Ok(());
            }
        }
        self.agent_command(Command::SetAttributes {
            task,
            attributes: vec![
                ("TicketUuid".into(), uuid::Uuid::new_v4().to_string()),
                ("DialedNumber".into(), number),
            ],
        })
        .await
    }

    /// `updateCallbackTicket`: the outcome of a call. `Callback` (or a new due date or period) reschedules the
    /// request; `NoAnswer` counts a retry and reschedules it after `SecondsBetweenRetries` (closing it once
    /// `MaxRetries` retries are used up); any other status closes it.
    async fn update_callback_ticket(
        &self,
        callback: TaskId,
        ticket: request::TicketUpdate,
    ) -> Result<(), String> {
        let task = self.visible_callback(callback)?;
        if !self.works_on(task) {
            return Err("take the callback before updating its ticket".into());
        }
        let request::TicketUpdate {
            status,
            comment,
            due_date: date,
            period,
        } = ticket;
        let periods = callbacks::periods(&self.state, &self.user.tenant)
            .await
            .map_err(|e| e.message)?;
        let period = match period {
            Some(uuid) => Some(
                periods
                    .iter()
                    .find(|p| p.uuid == uuid)
                    .cloned()
                    .ok_or(format!("no preferred period '{uuid}'"))?,
            ),
            None => None,
        };
        let now = self.now();
        let Some(info) = self.read(|engine| engine.task_info(task)) else {
            return Err("the callback request ended".into());
        };
        let number = |name: &str| {
            info.attributes
                .iter()
                .rev()
                .find(|(n, _)| n == name)
                .and_then(|(_, v)| v.parse::<i64>().ok())
        };
        let mut attributes = vec![
            ("TicketStatus".to_string(), status.name().to_string()),
            ("TicketComment".to_string(), comment),
        ];
        let retries =
            number("RetryCount").unwrap_or(0) + i64::from(status == TicketStatus::NoAnswer);
        if status == TicketStatus::NoAnswer {
            attributes.push(("RetryCount".into(), retries.to_string()));
        }
        let reschedule = status == TicketStatus::Callback
            || (status == TicketStatus::NoAnswer
                && number("MaxRetries").is_none_or(|max| retries <= max));
        let due = if !reschedule {
            None
        } else if date.is_some() || period.is_some() {
            let period = period.as_ref().or_else(|| {
                let current = info
                    .attributes
                    .iter()
                    .rev()
                    .find(|(n, _)| n == "PreferredPeriod")
                    .map(|(_, v)| v.clone());
                current.and_then(|uuid| periods.iter().find(|p| p.uuid == uuid))
            });
            Some(callbacks::reschedule_time(
                now,
                date,
                callbacks::current_due(&info),
                period,
            ))
        } else if status == TicketStatus::Callback {
            return Err("status Callback needs a dueDate or a periodUuid".into());
        } else {
            let wait = number("SecondsBetweenRetries").unwrap_or(0).max(0);
            Some(now.plus(switchboard_core::Span::from_secs(wait)))
        };
        if let Some(due) = due {
            if let Some(period) = &period {
                attributes.push(("PreferredPeriod".into(), period.uuid.clone()));
            }
            attributes.push(("DueDate".into(), callbacks::date(due)));
        }
        self.agent_command(Command::SetAttributes { task, attributes })
            .await?;
        let command = match due {
            Some(due) => Command::Reschedule { task, due },
            None => Command::Terminate {
                task,
                reason: TerminationReason::Completed,
            },
        };
        self.agent_command(command).await
    }

    /// The xuc message for a callback event the user may see, if the event concerns a callback.
    fn callback_event(
        &self,
        engine: &Engine,
        kind: &EventKind,
        periods: &[Period],
    ) -> Option<String> {
        let visible_callback = |task: TaskId| {
            engine
                .task_info(task)
                .filter(|t| t.kind == TaskKind::Callback && self.can_see_queue(engine, t.service))
        };
        match kind {
            EventKind::TaskCreated { task, .. } | EventKind::TaskRescheduled { task, .. } => {
                let info = visible_callback(*task)?;
                Some(message(
                    "CallbackRequestUpdated",
                    json!({"request": callbacks::request(engine, &info, periods)}),
                ))
            }
            EventKind::TaskAttributesChanged { task, attributes } => {
                let info = visible_callback(*task)?;
                match attributes.iter().find(|(n, _)| n == "TicketUuid") {
                    Some((_, ticket)) => Some(message(
                        "CallbackStarted",
                        json!({"requestUuid": task.to_string(), "ticketUuid": ticket}),
                    )),
                    None => Some(message(
                        "CallbackRequestUpdated",
                        json!({"request": callbacks::request(engine, &info, periods)}),
                    )),
                }
            }
            EventKind::TaskClaimed { task, agent } => {
                visible_callback(*task)?;
                let number = engine.agent_info(*agent).map(|a| a.number);
                Some(message(
                    "CallbackTaken",
                    json!({"uuid": task.to_string(), "agentId": number}),
                ))
            }
            EventKind::TaskClaimReleased { task } => {
                visible_callback(*task)?;
                Some(message(
                    "CallbackReleased",
                    json!({"uuid": task.to_string()}),
                ))
            }
            EventKind::TaskTerminated { task, record, .. } => (record.kind == TaskKind::Callback
                && self.can_see_queue(engine, record.service))
            .then(|| message("CallbackClotured", json!({"uuid": task.to_string()}))),
            _ => None,
        }
    }

    /// The agent a command is for: the named one (its integer id) if this user may command it, else itself.
    fn target_agent(&self, number: Option<i64>) -> Result<AgentId, String> {
        let Some(number) = number else {
            return Ok(self.user.agent);
        };
        let info = self.read(|engine| {
            u32::try_from(number)
                .ok()
                .and_then(|n| engine.agent_by_number(n))
                .and_then(|a| engine.agent_info(a))
        });
        let Some(info) = info else {
            return Err(format!("agent {number} does not exist"));
        };
        if !self.can_see_agent(&info) {
            return Err(format!("agent {number} is not yours to command"));
        }
        Ok(info.spec.id)
    }

    fn target_queue(&self, number: i64) -> Result<ServiceId, String> {
        self.read(|engine| {
            let service = u32::try_from(number)
                .ok()
                .and_then(|n| engine.service_by_number(n))
                .ok_or(format!("queue {number} does not exist"))?;
            if self.user.profile == CtiProfile::Supervisor && !self.user.queues.contains(&service) {
                return Err(format!("queue {number} is not in your queue list"));
            }
            Ok(service)
        })
    }

    /// Runs an agent command; the engine's refusals of logins are the xuc `AgentError`s of seed 004.
    async fn agent_command(&self, command: Command) -> Result<(), String> {
        match self.state.execute(&self.tenant, command).await {
            Ok((Ok(_), _)) => Ok(()),
            Ok((Err(error), _)) => {
                if let Some(body) = login_error(&error.message) {
                    self.agent_error(body);
                    Ok(())
                } else {
                    Err(error.message)
                }
            }
            Err(error) => Err(format!("not stored, try again ({})", error.message)),
        }
    }

    async fn task_command(&self, action: TaskAction, task: Option<TaskId>) -> Result<(), String> {
        let task = match task {
            Some(task) => task,
            None => self
                .current_task(action)
                .ok_or("no task to act on; name it with taskId")?,
        };
        let holder = self.read(|engine| engine.task_info(task).and_then(|t| t.agent));
        if holder != Some(self.user.agent) && self.user.profile != CtiProfile::Admin {
            return Err("the task is not yours".into());
        }
        let engine_command = match action {
            TaskAction::Answer => Command::Establish {
                task,
                agent: Some(self.user.agent),
            },
            TaskAction::Decline => Command::Decline {
                task,
                agent: holder.unwrap_or(self.user.agent),
            },
            TaskAction::Hold => Command::Hold(task),
            TaskAction::Resume => Command::Resume(task),
            TaskAction::Hangup => Command::Terminate {
                task,
                reason: TerminationReason::Completed,
            },
        };
        self.agent_command(engine_command).await
    }

    /// The agent's task a task command means when none is named: the ringing one for answer and decline, the
    /// one it handles for the others.
    fn current_task(&self, action: TaskAction) -> Option<TaskId> {
        let wanted: &[TaskStatus] = match action {
            TaskAction::Answer | TaskAction::Decline => &[TaskStatus::Offered],
            TaskAction::Resume => &[TaskStatus::OnHold],
            TaskAction::Hangup | TaskAction::Hold => &[TaskStatus::Established, TaskStatus::OnHold],
        };
        self.read(|engine| {
            let info = engine.agent_info(self.user.agent)?;
            info.tasks.iter().copied().find(|t| {
                engine
                    .task_info(*t)
                    .is_some_and(|t| wanted.contains(&t.status))
            })
        })
    }

    async fn dial_from_queue(
        &self,
        destination: String,
        queue: i64,
        caller_id: Option<String>,
        variables: Vec<(String, String)>,
    ) -> Result<(), String> {
        let service = self.target_queue(queue)?;
        let mut spec = TaskSpec::new(TaskId(uuid::Uuid::new_v4()), service);
        spec.kind = TaskKind::Call;
        spec.direction = Direction::Outbound;
        spec.customer = destination;
        if let Some(caller) = caller_id {
            spec.context.push(("CallerId".into(), caller));
        }
        for (name, value) in variables {
            spec.context.push((format!("USR_{name}"), value));
        }
        self.agent_command(Command::CreateTask(spec)).await
    }

    fn get_list(&self, object_type: ObjectType) {
        let (msg_type, items): (&str, Vec<Value>) = self.read(|engine| match object_type {
            ObjectType::Queue => (
                "QueueList",
                engine
                    .services()
                    .into_iter()
                    .filter(|s| self.can_see_queue(engine, *s))
                    .filter_map(|s| engine.service_info(s))
                    .map(|info| messages::queue_item(&info))
                    .collect(),
            ),
            ObjectType::Agent => (
                "AgentList",
                engine
                    .agents()
                    .into_iter()
                    .filter_map(|a| engine.agent_info(a))
                    .filter(|info| self.can_see_agent(info))
                    .map(|info| messages::agent_item(&info))
                    .collect(),
            ),
            ObjectType::QueueMember => (
                "QueueMemberList",
                engine
                    .agents()
                    .into_iter()
                    .filter_map(|a| engine.agent_info(a))
                    .flat_map(|info| {
                        info.memberships
                            .iter()
                            .filter(|(service, _)| self.can_see_queue(engine, *service))
                            .filter_map(|(service, penalty)| {
                                let queue = engine.service_info(*service)?;
                                Some(messages::queue_member(
                                    info.number,
                                    queue.number,
                                    Some(*penalty),
                                ))
                            })
                            .collect::<Vec<_>>()
                    })
                    .collect(),
            ),
            ObjectType::AgentGroup => {
                let groups: BTreeSet<u32> = engine
                    .agents()
                    .into_iter()
                    .filter_map(|a| engine.agent_info(a))
                    .filter(|info| self.can_see_agent(info))
                    .map(|info| info.spec.group)
                    .collect();
                (
                    "AgentGroupList",
                    groups
                        .into_iter()
                        .map(|g| json!({"id": g, "name": format!("group-{g}")}))
                        .collect(),
                )
            }
        });
        self.send_message(msg_type, Value::Array(items));
    }
}

/// What a supervisor's session subscribes to: itself and the agents of its groups.
fn supervised(engine: &Engine, user: &CtiUser) -> Interest {
    let mut agents: Vec<AgentId> = engine
        .agents()
        .into_iter()
        .filter(|&agent| {
            agent == user.agent
                || engine
                    .agent_info(agent)
                    .is_some_and(|info| user.groups.contains(&info.spec.group))
        })
        .collect();
    if !agents.contains(&user.agent) {
        agents.push(user.agent);
    }
    Interest::Agents(agents)
}

/// Seed 004's login refusals, from the engine's error messages' codes.
fn login_error(message: &str) -> Option<Value> {
    if message.contains("not a known line") {
        return Some(json!({"Error": "PhoneNumberUnknown"}));
    }
    let rest = message.strip_prefix("the agent is logged in on line ")?;
    let (current, requested) = rest.split_once(", not on ")?;
    Some(json!({"Error": "LoggedInOnAnotherPhone", "phoneNb": current, "RequestedNb": requested}))
}

/// The counters of every queue (PROTOCOLS.md) but `LongestWaitingTime`, which moves with the clock
/// (`longest_wait`): the live ones from the engine, the day's totals from the tenant's statistics.
pub(super) fn all_queue_counters(
    tenant: &TenantHandle,
    engine: &Engine,
    now: Time,
) -> HashMap<ServiceId, Vec<(&'static str, Value)>> {
    let mut talking: HashMap<ServiceId, usize> = HashMap::new();
    let mut logged: HashMap<ServiceId, usize> = HashMap::new();
    let mut busy: HashMap<ServiceId, usize> = HashMap::new();
    let mut paused: HashMap<ServiceId, usize> = HashMap::new();
    let mut wrapup: HashMap<ServiceId, usize> = HashMap::new();
    for (service, state) in engine.membership_states() {
        match state {
            AgentState::OnCall => {
                *talking.entry(service).or_default() += 1;
                *busy.entry(service).or_default() += 1;
            }
            AgentState::Ringing | AgentState::Dialing => *busy.entry(service).or_default() += 1,
            AgentState::OnPause => *paused.entry(service).or_default() += 1,
            AgentState::OnWrapup => *wrapup.entry(service).or_default() += 1,
            AgentState::Ready | AgentState::LoggedOut => {}
        }
        if state != AgentState::LoggedOut {
            *logged.entry(service).or_default() += 1;
        }
    }
    let count = |counts: &HashMap<ServiceId, usize>, service| {
        json!(counts.get(&service).copied().unwrap_or(0))
    };
    engine
        .services()
        .into_iter()
        .filter_map(|service| {
            let info = engine.service_info(service)?;
            let mut counters = tenant
                .hub()
                .statistics(|stats| stats.queue(service, now))
                .counters();
            counters.extend([
                ("WaitingCalls", json!(info.n_waiting)),
                ("AvailableAgents", json!(info.n_available)),
                ("TalkingAgents", count(&talking, service)),
                ("LoggedAgents", count(&logged, service)),
                // Extensions for wallboards (docs/cti.md).
                ("BusyAgents", count(&busy, service)),
                ("PausedAgents", count(&paused, service)),
                ("WrapupAgents", count(&wrapup, service)),
            ]);
            Some((service, counters))
        })
        .collect()
}

/// The counters that move with the clock even when nothing happens: `LongestWaitingTime` and the extensions over
/// the last 15 minutes (`ServiceLevelLast15Min`, null when nothing was answered or abandoned after 15 s;
/// `AnsweredLast15Min`, `AbandonedLast15Min`).
fn moving_counters(
    tenant: &TenantHandle,
    engine: &Engine,
    service: ServiceId,
    now: Time,
) -> [(&'static str, Value); 4] {
    let window = tenant
        .hub()
        .statistics(|stats| stats.recent_window(service, now));
    [
        longest_wait(engine, service, now),
        ("ServiceLevelLast15Min", json!(window.service_level())),
        ("AnsweredLast15Min", json!(window.answered)),
        ("AbandonedLast15Min", json!(window.abandoned)),
    ]
}

/// `LongestWaitingTime`: the longest current wait in the queue, in seconds.
fn longest_wait(engine: &Engine, service: ServiceId, now: Time) -> (&'static str, Value) {
    let longest = engine
        .longest_waiting(service)
        .and_then(|task| engine.task_info(task))
        .map(|t| (now.as_micros() - t.queue_started.as_micros()).max(0) / 1_000_000)
        .unwrap_or(0);
    ("LongestWaitingTime", json!(longest))
}

/// An agent's statistics of the day (seed 004), with its current state added.
fn agent_statistics(tenant: &TenantHandle, info: &AgentInfo, now: Time) -> Value {
    let in_state = (now.as_micros() - info.state_since.as_micros()).max(0) / 1_000_000;
    let totals = tenant
        .hub()
        .statistics(|stats| stats.agent(info.spec.id, now));
    let (ready, paused, wrapup) = totals.seconds(now);
    let time = |t: Option<Time>| t.map(iso_time).map(Value::String).unwrap_or(Value::Null);
    json!({
        "id": info.number,
        "statistics": [
            {"name": "AgentPausedTotalTime", "value": paused},
            {"name": "AgentWrapupTotalTime", "value": wrapup},
            {"name": "AgentReadyTotalTime", "value": ready},
            {"name": "LoginDateTime", "value": time(totals.login)},
            {"name": "LogoutDateTime", "value": time(totals.logout)},
            {"name": "State", "value": info.state.xuc_name()},
            {"name": "SecondsInState", "value": in_state},
        ]
    })
}

/// `2019-06-27T11:58:35.000Z`.
fn iso_time(time: Time) -> String {
    let micros = time.as_micros();
    let (days, rem) = (
        micros.div_euclid(86_400_000_000),
        micros.rem_euclid(86_400_000_000),
    );
    let (year, month, day) = crate::lucs::dto::civil_from_days(days);
    let seconds = rem / 1_000_000;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60,
        rem % 1_000_000 / 1000
    )
}
