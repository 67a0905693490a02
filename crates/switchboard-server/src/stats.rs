//! The day's statistics of one tenant (UTC day), for the xuc `QueueStatistics` totals and `AgentStatistics`.
//!
//! Fed with every durable event in engine order by the tenant's hub, and, when the tenant opens, with the stored
//! events of the day so far, so a restart keeps the day's figures. Counters reset at midnight UTC. The routing
//! core knows nothing of this: it only reads events.
//!
//! Definitions (PROTOCOLS.md names): a task *enters* a queue when it is queued there as a new entry (created, a
//! callback becoming due, transferred, overflowed, rescheduled); it is *answered* when an agent accepts it, and the
//! wait is from entering to answering; it is *abandoned* when it ends without being answered because the caller
//! gave up or it was cancelled (cancel, polling timeout, maximum wait, lifetime). `EWT` is the mean wait of the
//! tasks answered today. An agent's state times add up the time spent in each xuc state since midnight or its
//! first state change of the day.

use std::collections::HashMap;

use switchboard_core::{
    AgentId, AgentState, Engine, Event, EventKind, QueueReason, ServiceId, TaskId,
    TerminationReason, Time,
};

const DAY_MICROS: i64 = 86_400_000_000;
/// The service-level threshold of the xuc counters.
const THRESHOLD_MICROS: i64 = 15_000_000;

fn day_of(time: Time) -> i64 {
    time.as_micros().div_euclid(DAY_MICROS)
}

/// A queue's totals of the day.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueueTotals {
    pub entered: u64,
    pub answered: u64,
    pub answered_within_threshold: u64,
    pub abandoned: u64,
    pub abandoned_after_threshold: u64,
    /// Sum of the waits of answered tasks, in microseconds.
    pub answer_wait_micros: i64,
}

impl QueueTotals {
    /// The xuc counters (name, value) derived from the totals.
    pub fn counters(&self) -> Vec<(&'static str, serde_json::Value)> {
        let percent = |part: u64| {
            if self.entered == 0 {
                0.0
            } else {
                (part as f64 * 10_000.0 / self.entered as f64).round() / 100.0
            }
        };
        let ewt = if self.answered == 0 {
            0
        } else {
            self.answer_wait_micros / self.answered as i64 / 1_000_000
        };
        vec![
            ("TotalNumberCallsEntered", self.entered.into()),
            ("TotalNumberCallsAnswered", self.answered.into()),
            ("TotalNumberCallsAbandonned", self.abandoned.into()),
            (
                "TotalNumberCallsAbandonnedAfter15",
                self.abandoned_after_threshold.into(),
            ),
            (
                "PercentageAnsweredBefore15",
                percent(self.answered_within_threshold).into(),
            ),
            (
                "PercentageAbandonnedAfter15",
                percent(self.abandoned_after_threshold).into(),
            ),
            ("EWT", ewt.into()),
        ]
    }
}

/// An agent's day.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AgentTotals {
    /// The state the agent is in and since when (`None` before its first known state of the day).
    current: Option<(AgentState, Time)>,
    ready_micros: i64,
    paused_micros: i64,
    wrapup_micros: i64,
    pub login: Option<Time>,
    pub logout: Option<Time>,
}

impl AgentTotals {
    fn add(&mut self, state: AgentState, micros: i64) {
        match state {
            AgentState::Ready => self.ready_micros += micros,
            AgentState::OnPause => self.paused_micros += micros,
            AgentState::OnWrapup => self.wrapup_micros += micros,
            _ => {}
        }
    }

    /// Seconds in Ready, Paused and Wrapup until `now`, the current state's time included.
    pub fn seconds(&self, now: Time) -> (i64, i64, i64) {
        let mut totals = self.clone();
        if let Some((state, since)) = self.current {
            totals.add(state, (now.as_micros() - since.as_micros()).max(0));
        }
        (
            totals.ready_micros / 1_000_000,
            totals.paused_micros / 1_000_000,
            totals.wrapup_micros / 1_000_000,
        )
    }
}

/// One tenant's statistics of the current day.
#[derive(Debug, Default)]
pub struct Statistics {
    day: i64,
    queues: HashMap<ServiceId, QueueTotals>,
    agents: HashMap<AgentId, AgentTotals>,
    /// Tasks in a queue and not answered yet: service and when they entered.
    waiting: HashMap<TaskId, (ServiceId, Time)>,
}

impl Statistics {
    /// The start of `now`'s day.
    pub fn midnight(now: Time) -> Time {
        Time(day_of(now) * DAY_MICROS)
    }

    /// Statistics from the stored events of the day (in order) and the engine as it is after them: an agent
    /// without a state change today has been in its current state since midnight (or since it changed).
    /// Call `observe` with each of them, then `settle`.
    pub fn begin(now: Time) -> Statistics {
        Statistics {
            day: day_of(now),
            ..Statistics::default()
        }
    }

    /// After the day's stored events: what the engine knows and the events did not say.
    pub fn settle(self, engine: &Engine) -> Statistics {
        let mut stats = self;
        let midnight = Time(stats.day * DAY_MICROS);
        for agent in engine.agents() {
            let Some(info) = engine.agent_info(agent) else {
                continue;
            };
            let totals = stats.agents.entry(agent).or_default();
            if totals.current.is_none() {
                totals.current = Some((info.state, info.state_since.max(midnight)));
            }
        }
        for task in engine.live_tasks() {
            if let Some(info) = engine.task_info(task) {
                if info.connected_at.is_none()
                    && matches!(
                        info.status,
                        switchboard_core::TaskStatus::Waiting
                            | switchboard_core::TaskStatus::Offered
                    )
                {
                    stats
                        .waiting
                        .entry(task)
                        .or_insert((info.service, info.queue_started));
                }
            }
        }
        stats
    }

    /// Takes one event into account (events come in sequence order).
    pub fn observe(&mut self, event: &Event) {
        let day = day_of(event.at);
        if day > self.day {
            self.start_day(day);
        }
        match &event.kind {
            EventKind::TaskQueued {
                task,
                service,
                reason,
            } => {
                let fresh = matches!(
                    reason,
                    QueueReason::Created
                        | QueueReason::Transferred
                        | QueueReason::Overflowed
                        | QueueReason::Rescheduled
                );
                if fresh {
                    self.queues.entry(*service).or_default().entered += 1;
                    self.waiting.insert(*task, (*service, event.at));
                }
            }
            EventKind::TaskEstablished { task, .. } => {
                if let Some((service, entered)) = self.waiting.remove(task) {
                    let wait = (event.at.as_micros() - entered.as_micros()).max(0);
                    let totals = self.queues.entry(service).or_default();
                    totals.answered += 1;
                    totals.answer_wait_micros += wait;
                    if wait <= THRESHOLD_MICROS {
                        totals.answered_within_threshold += 1;
                    }
                }
            }
            EventKind::TaskRescheduled { task, .. } => {
                self.waiting.remove(task);
            }
            EventKind::TaskTerminated { task, reason, .. } => {
                if let Some((service, entered)) = self.waiting.remove(task) {
                    let abandoned = matches!(
                        reason,
                        TerminationReason::Cancelled
                            | TerminationReason::PollingTimeout
                            | TerminationReason::MaxWaitExceeded
                            | TerminationReason::LifetimeExceeded
                    );
                    if abandoned {
                        let wait = event.at.as_micros() - entered.as_micros();
                        let totals = self.queues.entry(service).or_default();
                        totals.abandoned += 1;
                        if wait > THRESHOLD_MICROS {
                            totals.abandoned_after_threshold += 1;
                        }
                    }
                }
            }
            EventKind::AgentStatusChanged { agent, state, .. } => {
                let totals = self.agents.entry(*agent).or_default();
                if let Some((previous, since)) = totals.current {
                    totals.add(previous, (event.at.as_micros() - since.as_micros()).max(0));
                }
                totals.current = Some((*state, event.at));
            }
            EventKind::AgentLoggedIn { agent, .. } => {
                self.agents.entry(*agent).or_default().login = Some(event.at);
            }
            EventKind::AgentLoggedOut { agent } => {
                self.agents.entry(*agent).or_default().logout = Some(event.at);
            }
            EventKind::AgentRemoved { agent } => {
                self.agents.remove(agent);
            }
            _ => {}
        }
    }

    /// Midnight: the counters start again; agents keep their state, counted from midnight.
    fn start_day(&mut self, day: i64) {
        let midnight = Time(day * DAY_MICROS);
        self.day = day;
        self.queues.clear();
        for totals in self.agents.values_mut() {
            *totals = AgentTotals {
                current: totals.current.map(|(state, _)| (state, midnight)),
                ..AgentTotals::default()
            };
        }
    }

    /// A queue's totals (zero when nothing happened today, or when asked on a later day than the last event).
    pub fn queue(&self, service: ServiceId, now: Time) -> QueueTotals {
        if day_of(now) > self.day {
            return QueueTotals::default();
        }
        self.queues.get(&service).cloned().unwrap_or_default()
    }

    /// An agent's totals as of `now`.
    pub fn agent(&self, agent: AgentId, now: Time) -> AgentTotals {
        let totals = self.agents.get(&agent).cloned().unwrap_or_default();
        if day_of(now) > self.day {
            let midnight = Time(day_of(now) * DAY_MICROS);
            return AgentTotals {
                current: totals.current.map(|(state, _)| (state, midnight)),
                ..AgentTotals::default()
            };
        }
        totals
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn at(seconds: i64) -> Time {
        Time::from_secs(1_561_593_600 + seconds) // 2019-06-27 00:00 UTC
    }

    fn event(seq: u64, seconds: i64, kind: EventKind) -> Event {
        Event {
            seq,
            at: at(seconds),
            kind,
        }
    }

    /// A task's final record, from a real engine.
    fn record(task: TaskId, service: ServiceId) -> switchboard_core::TaskInfo {
        use switchboard_core::{EngineConfig, ServiceSpec, TaskSpec};
        let mut engine = Engine::new(EngineConfig::default());
        engine
            .upsert_service(Time::ZERO, ServiceSpec::new(service, "s"))
            .expect("service");
        engine
            .create_task(Time::ZERO, TaskSpec::new(task, service))
            .expect("task");
        engine.task_info(task).expect("live")
    }

    #[test]
    fn answered_and_abandoned_tasks_and_agent_times_add_up() {
        let service = ServiceId(Uuid::from_u128(1));
        let agent = AgentId(Uuid::from_u128(2));
        let task = |n: u128| TaskId(Uuid::from_u128(100 + n));
        let queued = |n| EventKind::TaskQueued {
            task: task(n),
            service,
            reason: QueueReason::Created,
        };
        let status = |state| EventKind::AgentStatusChanged {
            agent,
            state,
            selectable: true,
            reason: None,
        };
        let terminated = |n, reason| EventKind::TaskTerminated {
            task: task(n),
            reason,
            agent: None,
            record: Box::new(record(task(n), service)),
        };
        let mut stats = Statistics::default();
        let events = vec![
            event(1, 100, status(AgentState::Ready)),
            event(2, 110, queued(1)),
            event(
                3,
                120,
                EventKind::TaskEstablished {
                    task: task(1),
                    agent,
                },
            ),
            event(4, 120, status(AgentState::OnCall)),
            event(5, 130, queued(2)),
            event(
                6,
                200,
                EventKind::TaskEstablished {
                    task: task(2),
                    agent,
                },
            ),
            event(7, 210, queued(3)),
            event(8, 215, terminated(3, TerminationReason::Cancelled)),
            event(9, 220, queued(4)),
            event(10, 300, terminated(4, TerminationReason::PollingTimeout)),
            event(11, 300, status(AgentState::OnPause)),
        ];
        for e in &events {
            stats.observe(e);
        }
        let totals = stats.queue(service, at(400));
        assert_eq!(totals.entered, 4);
        assert_eq!(totals.answered, 2);
        assert_eq!(totals.answered_within_threshold, 1);
        assert_eq!(totals.abandoned, 2);
        assert_eq!(totals.abandoned_after_threshold, 1);
        let counters: HashMap<_, _> = totals.counters().into_iter().collect();
        assert_eq!(counters["PercentageAnsweredBefore15"], 25.0);
        assert_eq!(counters["PercentageAbandonnedAfter15"], 25.0);
        assert_eq!(counters["EWT"], 40); // (10 + 70) / 2
                                         // Ready 100..120, paused 300..400 (now).
        assert_eq!(stats.agent(agent, at(400)).seconds(at(400)), (20, 100, 0));
        // The next day starts from zero, the agent still paused since midnight.
        let tomorrow = at(86_400 + 60);
        assert_eq!(stats.queue(service, tomorrow), QueueTotals::default());
        assert_eq!(stats.agent(agent, tomorrow).seconds(tomorrow), (0, 60, 0));
    }
}
