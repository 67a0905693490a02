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
//!
//! For wallboards it also keeps, per queue, the last `RECENT_MINUTES` minutes in one-minute buckets (not reset at
//! midnight): how many tasks were unanswered in the queue (waiting or ringing; the highest count of the minute),
//! and the answers and abandons of the minute. `ServiceLevelLast15Min` and the hour's chart come from them. The
//! service level of a stretch of time is the tasks answered within 15 s over those answered plus those abandoned
//! after 15 s (a caller who hangs up within 15 s counts neither way); it has no value when there were none.

use std::collections::{HashMap, VecDeque};

use serde::{Deserialize, Serialize};

use switchboard_core::{
    AgentId, AgentState, Engine, Event, EventKind, QueueReason, ServiceId, TaskId,
    TerminationReason, Time,
};

const DAY_MICROS: i64 = 86_400_000_000;
/// The format of stored checkpoints; one of another version is not read (the day's events are read instead).
const CHECKPOINT_VERSION: u32 = 1;
/// The service-level threshold of the xuc counters.
const THRESHOLD_MICROS: i64 = 15_000_000;

fn day_of(time: Time) -> i64 {
    time.as_micros().div_euclid(DAY_MICROS)
}

/// Minutes kept per queue for the recent history: the hour of the chart plus the 15-minute window of its first
/// point.
pub const RECENT_MINUTES: i64 = 75;
const MINUTE_MICROS: i64 = 60_000_000;
/// The service-level window, in minutes.
pub const WINDOW_MINUTES: i64 = 15;

fn minute_of(time: Time) -> i64 {
    time.as_micros().div_euclid(MINUTE_MICROS)
}

/// One minute of one queue.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MinuteBucket {
    /// Minutes since the epoch.
    pub minute: i64,
    /// Unanswered tasks in the queue when the minute began (or when its first event came).
    pub first_unanswered: u64,
    /// The highest number of unanswered tasks during the minute.
    pub max_unanswered: u64,
    /// Unanswered tasks at the end of the minute (so far).
    pub last_unanswered: u64,
    /// Tasks answered in the minute.
    pub answered: u64,
    /// Of those, answered within 15 s.
    pub answered_within_threshold: u64,
    /// Tasks abandoned in the minute.
    pub abandoned: u64,
    /// Of those, abandoned after waiting more than 15 s.
    pub abandoned_after_threshold: u64,
}

/// The answers and abandons of a stretch of time, and its service level.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WindowTotals {
    pub answered: u64,
    pub answered_within_threshold: u64,
    pub abandoned: u64,
    pub abandoned_after_threshold: u64,
}

impl WindowTotals {
    fn add(&mut self, bucket: &MinuteBucket) {
        self.answered += bucket.answered;
        self.answered_within_threshold += bucket.answered_within_threshold;
        self.abandoned += bucket.abandoned;
        self.abandoned_after_threshold += bucket.abandoned_after_threshold;
    }

    /// Answered within 15 s, in percent of answered plus abandoned after 15 s (two decimals); `None` when both
    /// are zero.
    pub fn service_level(&self) -> Option<f64> {
        let base = self.answered + self.abandoned_after_threshold;
        (base > 0).then(|| {
            (self.answered_within_threshold as f64 * 10_000.0 / base as f64).round() / 100.0
        })
    }
}

/// One point of a queue's recent history.
#[derive(Clone, Debug, PartialEq)]
pub struct HistoryPoint {
    /// The start of the minute.
    pub minute_start: Time,
    /// The highest number of unanswered tasks during the minute.
    pub unanswered: u64,
    /// The minute's own answers and abandons.
    pub minute: WindowTotals,
    /// The 15 minutes ending with this one.
    pub window: WindowTotals,
}

/// A queue's totals of the day.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statistics {
    day: i64,
    /// The sequence number of the last event observed.
    seq: u64,
    queues: HashMap<ServiceId, QueueTotals>,
    agents: HashMap<AgentId, AgentTotals>,
    /// Tasks in a queue and not answered yet: service and when they entered.
    waiting: HashMap<TaskId, (ServiceId, Time)>,
    /// How many of `waiting` each queue has.
    n_unanswered: HashMap<ServiceId, u64>,
    /// Each queue's recent minutes, oldest first, at most `RECENT_MINUTES`.
    recent: HashMap<ServiceId, VecDeque<MinuteBucket>>,
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
    pub fn settle(self, engine: &Engine, now: Time) -> Statistics {
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
                    && !stats.waiting.contains_key(&task)
                {
                    stats.enter(task, info.service, info.queue_started, now);
                }
            }
        }
        stats
    }

    /// The sequence number of the last event taken into account.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// A checkpoint of these statistics (JSON), stored so that a restart reads only the events after it.
    pub fn checkpoint(&self) -> String {
        #[derive(Serialize)]
        struct Stored<'a> {
            version: u32,
            statistics: &'a Statistics,
        }
        serde_json::to_string(&Stored {
            version: CHECKPOINT_VERSION,
            statistics: self,
        })
        .unwrap_or_default()
    }

    /// The statistics of a checkpoint, if it is of `now`'s day and of events the tenant has (at most
    /// `last_event_seq`): a checkpoint of another day, of another version, unreadable, or ahead of the stored
    /// events (a database restored from an older backup) is not used, and the day's events are read instead.
    pub fn from_checkpoint(text: &str, now: Time, last_event_seq: u64) -> Option<Statistics> {
        #[derive(Deserialize)]
        struct Stored {
            version: u32,
            statistics: Statistics,
        }
        let stored: Stored = serde_json::from_str(text).ok()?;
        (stored.version == CHECKPOINT_VERSION
            && stored.statistics.day == day_of(now)
            && stored.statistics.seq <= last_event_seq)
            .then_some(stored.statistics)
    }

    /// Takes one event into account (events come in sequence order).
    pub fn observe(&mut self, event: &Event) {
        self.seq = self.seq.max(event.seq);
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
                    self.enter(*task, *service, event.at, event.at);
                }
            }
            EventKind::TaskEstablished { task, .. } => {
                if let Some((service, entered)) = self.leave(*task, event.at) {
                    let wait = (event.at.as_micros() - entered.as_micros()).max(0);
                    let within = wait <= THRESHOLD_MICROS;
                    let totals = self.queues.entry(service).or_default();
                    totals.answered += 1;
                    totals.answer_wait_micros += wait;
                    if within {
                        totals.answered_within_threshold += 1;
                    }
                    let bucket = self.bucket(service, event.at);
                    bucket.answered += 1;
                    if within {
                        bucket.answered_within_threshold += 1;
                    }
                }
            }
            EventKind::TaskRescheduled { task, .. } => {
                self.leave(*task, event.at);
            }
            EventKind::TaskTerminated { task, reason, .. } => {
                if let Some((service, entered)) = self.leave(*task, event.at) {
                    let abandoned = matches!(
                        reason,
                        TerminationReason::Cancelled
                            | TerminationReason::PollingTimeout
                            | TerminationReason::MaxWaitExceeded
                            | TerminationReason::LifetimeExceeded
                    );
                    if abandoned {
                        let wait = event.at.as_micros() - entered.as_micros();
                        let late = wait > THRESHOLD_MICROS;
                        let totals = self.queues.entry(service).or_default();
                        totals.abandoned += 1;
                        if late {
                            totals.abandoned_after_threshold += 1;
                        }
                        let bucket = self.bucket(service, event.at);
                        bucket.abandoned += 1;
                        if late {
                            bucket.abandoned_after_threshold += 1;
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

    /// A task enters a queue unanswered (leaving the queue it was in, if any).
    fn enter(&mut self, task: TaskId, service: ServiceId, entered: Time, at: Time) {
        self.leave(task, at);
        self.bucket(service, at);
        self.waiting.insert(task, (service, entered));
        let count = self.n_unanswered.entry(service).or_default();
        *count += 1;
        let count = *count;
        let bucket = self.bucket(service, at);
        bucket.last_unanswered = count;
        bucket.max_unanswered = bucket.max_unanswered.max(count);
    }

    /// A task leaves the unanswered ones (answered, rescheduled, ended); its queue and when it entered.
    fn leave(&mut self, task: TaskId, at: Time) -> Option<(ServiceId, Time)> {
        let (service, entered) = self.waiting.remove(&task)?;
        self.bucket(service, at);
        let count = self.n_unanswered.entry(service).or_default();
        *count = count.saturating_sub(1);
        let count = *count;
        self.bucket(service, at).last_unanswered = count;
        Some((service, entered))
    }

    /// The bucket of `at`'s minute in a queue's recent history, created (carrying the unanswered count) if
    /// needed; buckets older than `RECENT_MINUTES` go.
    fn bucket(&mut self, service: ServiceId, at: Time) -> &mut MinuteBucket {
        let minute = minute_of(at);
        let level = self.n_unanswered.get(&service).copied().unwrap_or(0);
        let buckets = self.recent.entry(service).or_default();
        // Events come in order, so a minute is never older than the newest bucket but for a clock step back;
        // such an event counts in the newest bucket.
        if buckets.back().is_none_or(|b| b.minute < minute) {
            let carried = buckets.back().map(|b| b.last_unanswered).unwrap_or(level);
            buckets.push_back(MinuteBucket {
                minute,
                first_unanswered: carried,
                max_unanswered: carried,
                last_unanswered: carried,
                ..MinuteBucket::default()
            });
            while buckets
                .front()
                .is_some_and(|b| b.minute <= minute - RECENT_MINUTES)
            {
                buckets.pop_front();
            }
        }
        buckets.back_mut().expect("a bucket was just ensured")
    }

    /// The answers and abandons of a queue in the `WINDOW_MINUTES` minutes up to `now` (its minute included).
    pub fn recent_window(&self, service: ServiceId, now: Time) -> WindowTotals {
        let last = minute_of(now);
        let mut totals = WindowTotals::default();
        for bucket in self.recent.get(&service).into_iter().flatten() {
            if bucket.minute > last - WINDOW_MINUTES && bucket.minute <= last {
                totals.add(bucket);
            }
        }
        totals
    }

    /// A queue's last `minutes` minutes up to `now`'s, oldest first: the unanswered tasks (highest of each
    /// minute), the minute's answers and abandons, and the 15-minute window ending with it.
    pub fn recent_history(&self, service: ServiceId, now: Time, minutes: i64) -> Vec<HistoryPoint> {
        let last = minute_of(now);
        let first = last - minutes.clamp(1, RECENT_MINUTES - WINDOW_MINUTES) + 1;
        let empty = VecDeque::new();
        let buckets = self.recent.get(&service).unwrap_or(&empty);
        let current = self.n_unanswered.get(&service).copied().unwrap_or(0);
        let mut points = Vec::new();
        let mut window: VecDeque<WindowTotals> = VecDeque::new();
        let mut index = 0;
        // The level before the first bucket of the range: the count the next bucket started with.
        let mut level = None;
        for minute in (first - WINDOW_MINUTES + 1)..=last {
            while index < buckets.len() && buckets[index].minute < minute {
                level = Some(buckets[index].last_unanswered);
                index += 1;
            }
            let bucket = buckets.get(index).filter(|b| b.minute == minute);
            let mut totals = WindowTotals::default();
            let unanswered = match bucket {
                Some(bucket) => {
                    totals.add(bucket);
                    bucket.max_unanswered
                }
                None => level
                    .or_else(|| buckets.get(index).map(|b| b.first_unanswered))
                    .unwrap_or(current),
            };
            window.push_back(totals);
            if window.len() > WINDOW_MINUTES as usize {
                window.pop_front();
            }
            if minute >= first {
                let mut sum = WindowTotals::default();
                for part in &window {
                    sum.answered += part.answered;
                    sum.answered_within_threshold += part.answered_within_threshold;
                    sum.abandoned += part.abandoned;
                    sum.abandoned_after_threshold += part.abandoned_after_threshold;
                }
                points.push(HistoryPoint {
                    minute_start: Time(minute * MINUTE_MICROS),
                    unanswered,
                    minute: totals,
                    window: sum,
                });
            }
        }
        points
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
    fn the_recent_history_keeps_minutes_and_carries_the_unanswered_count() {
        let service = ServiceId(Uuid::from_u128(1));
        let agent = AgentId(Uuid::from_u128(2));
        let task = |n: u128| TaskId(Uuid::from_u128(100 + n));
        let queued = |n| EventKind::TaskQueued {
            task: task(n),
            service,
            reason: QueueReason::Created,
        };
        let answered = |n| EventKind::TaskEstablished {
            task: task(n),
            agent,
        };
        let mut stats = Statistics::default();
        // Minute 10: two enter, one is answered after 10 s. Minute 12: the other is answered after 120 s.
        // Minute 40: one enters and is still waiting.
        for e in [
            event(1, 600, queued(1)),
            event(2, 605, queued(2)),
            event(3, 615, answered(1)),
            event(4, 725, answered(2)),
            event(5, 2_400, queued(3)),
        ] {
            stats.observe(&e);
        }
        let now = at(2_430);
        let points = stats.recent_history(service, now, 60);
        assert_eq!(points.len(), 60);
        assert_eq!(points.last().unwrap().minute_start, at(2_400));
        let point = |second: i64| {
            points
                .iter()
                .find(|p| p.minute_start == at(second))
                .expect("a point for that minute")
        };
        assert_eq!(point(600).unanswered, 2);
        assert_eq!(point(600).minute.answered, 1);
        assert_eq!(point(600).window.service_level(), Some(100.0));
        assert_eq!(point(660).unanswered, 1, "carried over a quiet minute");
        assert_eq!(point(720).minute.answered, 1);
        assert_eq!(point(720).window.service_level(), Some(50.0));
        assert_eq!(point(1_440).window.service_level(), Some(50.0));
        assert_eq!(
            point(1_500).window.service_level(),
            Some(0.0),
            "minute 10 left the window"
        );
        assert_eq!(point(1_620).window.service_level(), None, "15 minutes on");
        assert_eq!(point(1_620).unanswered, 0);
        assert_eq!(point(2_400).unanswered, 1);
        assert_eq!(points[0].unanswered, 0, "before anything happened");
        let window = stats.recent_window(service, now);
        assert_eq!(window, WindowTotals::default());
        assert_eq!(stats.recent_window(service, at(720)).answered, 2);
    }

    /// A checkpoint taken after any event, read back and fed the events after it, gives exactly the statistics
    /// of feeding them all; a checkpoint of another day, ahead of the stored events or unreadable is not used.
    #[test]
    fn a_checkpoint_plus_the_later_events_equals_all_the_events() {
        let events = day_of_events();
        let mut all = Statistics::begin(at(0));
        for e in &events {
            all.observe(e);
        }
        for k in 0..=events.len() {
            let mut first = Statistics::begin(at(0));
            for e in &events[..k] {
                first.observe(e);
            }
            let text = first.checkpoint();
            let mut resumed =
                Statistics::from_checkpoint(&text, at(400), events.len() as u64).expect("usable");
            assert_eq!(resumed.seq(), k as u64);
            for e in &events[k..] {
                resumed.observe(e);
            }
            assert_eq!(resumed, all, "checkpoint after {k} events");
        }
        let text = all.checkpoint();
        assert!(
            Statistics::from_checkpoint(&text, at(86_400 + 5), 100).is_none(),
            "next day"
        );
        assert!(
            Statistics::from_checkpoint(&text, at(400), 10).is_none(),
            "ahead of the log"
        );
        assert!(Statistics::from_checkpoint("{}", at(400), 100).is_none());
        assert!(
            Statistics::from_checkpoint(
                &text.replace("\"version\":1", "\"version\":2"),
                at(400),
                100
            )
            .is_none(),
            "another version"
        );
    }

    #[test]
    fn answered_and_abandoned_tasks_and_agent_times_add_up() {
        let service = ServiceId(Uuid::from_u128(1));
        let agent = AgentId(Uuid::from_u128(2));
        let events = day_of_events();
        let mut stats = Statistics::default();
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

    /// Eleven events of one queue and one agent: answers within and after 15 s, a cancel, a polling timeout,
    /// ready, on call and paused.
    fn day_of_events() -> Vec<Event> {
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
        vec![
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
        ]
    }
}
