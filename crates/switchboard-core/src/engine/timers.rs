//! Timers, driven only by the `now` callers pass in: RONA, reservation windows, overflow after the maximum wait,
//! scheduled callbacks becoming due, polling timeout and lifetime expiry, and the end of wrap-up.
//!
//! Each live task sits at most once in the deadline index, under the earliest of its deadlines; when that fires,
//! every deadline of the task is re-evaluated and the task is filed again under the next one.

use super::{AgentIdx, Engine, Location, TaskIdx};
use crate::event::EventKind;
use crate::types::{QueueReason, TaskKind, TaskStatus, TerminationReason, Time};

impl Engine {
    /// The polling deadline of a task, if polling applies to it in its state.
    fn polling_deadline(&self, task_idx: TaskIdx) -> Option<Time> {
        let task = self.task(task_idx);
        let applies = task.kind == TaskKind::External
            && matches!(
                task.status,
                TaskStatus::Waiting | TaskStatus::Offered | TaskStatus::Scheduled
            );
        match (applies, self.config.max_polling_timeout) {
            (true, Some(timeout)) => Some(task.last_polled.plus(timeout)),
            _ => None,
        }
    }

    fn lifetime_deadline(&self, task_idx: TaskIdx) -> Option<Time> {
        let task = self.task(task_idx);
        if task.kind == TaskKind::Block {
            return None;
        }
        self.config
            .max_task_lifetime
            .map(|lifetime| task.lifetime_start.plus(lifetime))
    }

    fn overflow_deadline(&self, task_idx: TaskIdx) -> Option<Time> {
        let task = self.task(task_idx);
        if task.status != TaskStatus::Waiting {
            return None;
        }
        self.service(task.service)
            .spec
            .max_wait
            .map(|max_wait| task.queue_started.plus(max_wait))
    }

    fn reservation_deadline(&self, task_idx: TaskIdx) -> Option<Time> {
        let task = self.task(task_idx);
        match (task.status, task.reserved) {
            (TaskStatus::Waiting, Some((_, until))) => Some(until),
            _ => None,
        }
    }

    fn next_task_deadline(&self, task_idx: TaskIdx) -> Option<Time> {
        let task = self.task(task_idx);
        let own = match task.status {
            TaskStatus::Offered => task.offer_deadline,
            TaskStatus::Scheduled => task.not_before,
            _ => None,
        };
        [
            own,
            self.reservation_deadline(task_idx),
            self.overflow_deadline(task_idx),
            self.polling_deadline(task_idx),
            self.lifetime_deadline(task_idx),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Files the task under its earliest deadline (or none).
    pub(super) fn reschedule_task(&mut self, task_idx: TaskIdx) {
        let next = self.next_task_deadline(task_idx);
        let current = self.task(task_idx).timer_at;
        if next == current {
            return;
        }
        if let Some(at) = current {
            self.task_timers.remove(&(at, task_idx));
        }
        if let Some(at) = next {
            self.task_timers.insert((at, task_idx));
        }
        self.task_mut(task_idx).timer_at = next;
    }

    /// Fires, in time order, every timer due at or before `until`. Each fires at its own time, as if the caller
    /// had called at exactly that moment, and its consequences are routed before the next one fires.
    pub(super) fn fire_timers_until(&mut self, until: Time) {
        loop {
            let task_timer = self.task_timers.first().copied();
            let agent_timer = self.agent_timers.first().copied();
            let fire_agent = match (task_timer, agent_timer) {
                (None, None) => break,
                (Some(_), None) => false,
                (None, Some(_)) => true,
                // On a tie the agent's wrap-up ends first, so the task that fires next can reach it.
                (Some((task_at, _)), Some((agent_at, _))) => agent_at <= task_at,
            };
            if fire_agent {
                let (at, agent_idx) = agent_timer.expect("chosen");
                if at > until {
                    break;
                }
                self.now = self.now.max(at);
                self.agent_timers.remove(&(at, agent_idx));
                self.fire_wrapup_end(agent_idx, at);
            } else {
                let (at, task_idx) = task_timer.expect("chosen");
                if at > until {
                    break;
                }
                self.now = self.now.max(at);
                self.task_timers.remove(&(at, task_idx));
                self.task_mut(task_idx).timer_at = None;
                self.fire_task(task_idx);
            }
            self.settle();
        }
    }

    fn fire_wrapup_end(&mut self, agent_idx: AgentIdx, at: Time) {
        if !self.agent_exists(agent_idx) || self.agent(agent_idx).wrapup_until != Some(at) {
            return;
        }
        self.agent_mut(agent_idx).wrapup_until = None;
        self.agent_changed(agent_idx);
    }

    fn fire_task(&mut self, task_idx: TaskIdx) {
        let now = self.now;
        if self.lifetime_deadline(task_idx).is_some_and(|at| at <= now) {
            self.terminate_idx(task_idx, TerminationReason::LifetimeExceeded);
            return;
        }
        if self.polling_deadline(task_idx).is_some_and(|at| at <= now) {
            self.terminate_idx(task_idx, TerminationReason::PollingTimeout);
            return;
        }
        let task = self.task(task_idx);
        match task.status {
            TaskStatus::Offered if task.offer_deadline.is_some_and(|at| at <= now) => {
                let agent_idx = task.agent.expect("offered task has an agent");
                let (task_id, agent_id) = (task.id, self.agent(agent_idx).spec.id);
                self.emit(EventKind::TaskRona {
                    task: task_id,
                    agent: agent_id,
                });
                self.unassign(task_idx);
                self.agent_mut(agent_idx).rona = true;
                self.agent_changed(agent_idx);
                self.enqueue(task_idx, QueueReason::Rona);
                return;
            }
            TaskStatus::Scheduled if task.not_before.is_some_and(|at| at <= now) => {
                self.task_mut(task_idx).queue_started = now;
                self.enqueue(task_idx, QueueReason::Created);
                return;
            }
            _ => {}
        }
        if self
            .reservation_deadline(task_idx)
            .is_some_and(|at| at <= now)
        {
            let task_id = self.task(task_idx).id;
            let was_personal = self.task(task_idx).location == Location::Personal;
            if was_personal {
                self.unplace_waiting(task_idx);
            }
            self.task_mut(task_idx).reserved = None;
            self.emit(EventKind::TaskReservationExpired { task: task_id });
            if was_personal {
                self.route_or_place(task_idx);
            }
        }
        if self.overflow_deadline(task_idx).is_some_and(|at| at <= now) {
            self.overflow(task_idx);
            return;
        }
        self.reschedule_task(task_idx);
    }

    /// Moves a task that waited the service's maximum to the overflow target, keeping its rank (so its age
    /// counts there too), or ends it when the service has no target.
    fn overflow(&mut self, task_idx: TaskIdx) {
        let from_idx = self.task(task_idx).service;
        let Some(to_idx) = self.service(from_idx).overflow_to else {
            self.terminate_idx(task_idx, TerminationReason::MaxWaitExceeded);
            return;
        };
        self.unplace_waiting(task_idx);
        self.move_service(task_idx, to_idx);
        let now = self.now;
        let task = self.task_mut(task_idx);
        task.queue_started = now;
        let task_id = task.id;
        let (from, to) = (self.service(from_idx).spec.id, self.service(to_idx).spec.id);
        self.emit(EventKind::TaskOverflowed {
            task: task_id,
            from,
            to,
        });
        self.enqueue(task_idx, QueueReason::Overflowed);
    }
}
