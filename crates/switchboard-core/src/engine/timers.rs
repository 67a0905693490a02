//! Timers, driven only by the `now` callers pass in: RONA, reservation windows, overflow after the maximum wait,
//! scheduled callbacks becoming due, polling timeout and lifetime expiry, and the end of wrap-up.
//!
//! Each live task sits at most once in the deadline index, under the earliest of its deadlines other than its
//! lifetime; when that fires, every deadline of the task is re-evaluated and the task is filed again under the
//! next one. Lifetime deadlines, which every task has and which are almost never reached, sit apart in a
//! `LifetimeQueue`, so that ending a task costs no search in a large index. Both are read as one: timers fire
//! in `(time, task slot)` order, and a task fires at the earliest of all its deadlines.

use super::{AgentIdx, Engine, Location, TaskIdx};
use crate::event::EventKind;
use crate::types::{QueueReason, TaskKind, TaskStatus, TerminationReason, Time};

/// The lifetime deadlines of live tasks, in firing order `(deadline, task slot)`, with lazy deletion.
///
/// A task's lifetime deadline is its lifetime start plus the tenant's one lifetime, and a lifetime starts at the
/// `now` of the command that starts it, which never goes back. So deadlines arrive in time order, and filing one
/// is a push at the back. Ending a task, or restarting its lifetime, only bumps its slot's generation: the old
/// entry stays where it is, dead, until it reaches the front or the queue is compacted, which happens once dead
/// entries outnumber live ones, so every entry is moved a bounded number of times. A change of the lifetime
/// setting rebuilds the queue.
///
/// Entries of one instant may arrive out of slot order; only the last group of equal deadlines can be unsorted,
/// and it is sorted before it is read or followed by a later deadline.
#[derive(Default)]
pub(crate) struct LifetimeQueue {
    /// `entries[front..]` are the entries not consumed yet, each `(deadline, slot, generation)`. The first of them
    /// is always live.
    entries: Vec<LifetimeEntry>,
    front: usize,
    /// The last group of equal deadlines in `entries` may be out of slot order.
    tail_unsorted: bool,
    /// Per task slot, a generation that changes whenever the slot is filed or taken out: odd while filed. An
    /// entry is live when its generation is its slot's. Four bytes a slot keep this table small enough to stay in
    /// cache. A generation repeats only after 2^31 filings of one slot, while compaction drops a dead entry after
    /// a few times as many filings as there are filed tasks, so a dead entry never comes back to life.
    generations: Vec<u32>,
    n_filed: usize,
}

type LifetimeEntry = (Time, TaskIdx, u32);

impl LifetimeQueue {
    /// Files a task under `deadline`, replacing its previous entry, or takes it out with `None`.
    pub(super) fn file(&mut self, task_idx: TaskIdx, deadline: Option<Time>) {
        let slot = task_idx as usize;
        if slot >= self.generations.len() {
            if deadline.is_none() {
                return;
            }
            self.generations.resize(slot + 1, 0);
        }
        let generation = self.generations[slot];
        let filed = generation % 2 == 1;
        match deadline {
            None if !filed => return,
            None => {
                self.generations[slot] = generation.wrapping_add(1);
                self.n_filed -= 1;
            }
            Some(at) => {
                // Odd, and different from any earlier entry of the slot.
                let next = if filed {
                    generation.wrapping_add(2)
                } else {
                    self.n_filed += 1;
                    generation.wrapping_add(1)
                };
                self.generations[slot] = next;
                self.push((at, task_idx, next));
            }
        }
        self.drop_dead_front();
        self.compact_if_sparse();
    }

    /// The first live entry: the task whose lifetime ends first (lowest slot on a tie).
    pub(super) fn first(&mut self) -> Option<(Time, TaskIdx)> {
        if self.tail_unsorted {
            self.sort_tail();
            self.drop_dead_front();
        }
        self.entries
            .get(self.front)
            .map(|&(at, task_idx, _)| (at, task_idx))
    }

    /// The earliest lifetime deadline, if any task has one.
    pub(super) fn first_deadline(&self) -> Option<Time> {
        // The front entry is live, and the only group that may be out of slot order shares one deadline.
        self.entries.get(self.front).map(|&(at, _, _)| at)
    }

    /// Takes out the first live entry (which `first` returned) as its timer fires.
    pub(super) fn pop_first(&mut self) {
        let (_, task_idx, _) = self.entries[self.front];
        self.file(task_idx, None);
    }

    /// Replaces every entry, for a new lifetime setting or a restored engine.
    pub(super) fn rebuild(&mut self, n_slots: usize, deadlines: Vec<(Time, TaskIdx)>) {
        // Generations only need to differ from those of dead entries, and no entry survives this.
        self.generations.clear();
        self.generations.resize(n_slots, 0);
        self.entries = deadlines
            .into_iter()
            .map(|(at, task_idx)| {
                self.generations[task_idx as usize] = 1;
                (at, task_idx, 1)
            })
            .collect();
        self.entries.sort_unstable();
        self.n_filed = self.entries.len();
        self.front = 0;
        self.tail_unsorted = false;
    }

    fn is_live(&self, (_, task_idx, generation): LifetimeEntry) -> bool {
        self.generations[task_idx as usize] == generation
    }

    fn push(&mut self, entry: LifetimeEntry) {
        if let Some(&last) = self.entries[self.front..].last() {
            if entry.0 < last.0 {
                // Lifetimes start at the engine's clock, which never goes back, so this does not happen; kept
                // correct all the same by inserting in place.
                if self.tail_unsorted {
                    self.sort_tail();
                }
                let at = self.front + self.entries[self.front..].partition_point(|e| *e < entry);
                self.entries.insert(at, entry);
                return;
            }
            if entry.0 == last.0 && entry.1 < last.1 {
                self.tail_unsorted = true;
            } else if entry.0 > last.0 && self.tail_unsorted {
                self.sort_tail();
            }
        }
        self.entries.push(entry);
    }

    /// Sorts the last group of equal deadlines by slot.
    fn sort_tail(&mut self) {
        if let Some(&(last_at, _, _)) = self.entries[self.front..].last() {
            let start = self.front + self.entries[self.front..].partition_point(|e| e.0 < last_at);
            self.entries[start..].sort_unstable();
        }
        self.tail_unsorted = false;
    }

    fn drop_dead_front(&mut self) {
        while let Some(&entry) = self.entries.get(self.front) {
            if self.is_live(entry) {
                return;
            }
            self.front += 1;
        }
        self.entries.clear();
        self.front = 0;
        self.tail_unsorted = false;
    }

    /// Drops the dead entries once they outnumber the live ones, and the consumed prefix once it is half the
    /// storage, so both cost O(1) amortized per filing.
    fn compact_if_sparse(&mut self) {
        let n_entries = self.entries.len() - self.front;
        if n_entries > 2 * self.n_filed + 64 {
            let generations = &self.generations;
            let front = self.front;
            let mut position = 0;
            // Dropping entries keeps the others in order, sorted or not.
            self.entries.retain(|&(_, task_idx, generation)| {
                position += 1;
                position > front && generations[task_idx as usize] == generation
            });
            self.front = 0;
        } else if self.front > 64 && self.front * 2 > self.entries.len() {
            self.entries.drain(..self.front);
            self.front = 0;
        }
    }
}

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

    pub(super) fn lifetime_deadline(&self, task_idx: TaskIdx) -> Option<Time> {
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
        match (task.status, task.reserved()) {
            (TaskStatus::Waiting, Some((_, until))) => Some(until),
            _ => None,
        }
    }

    /// The earliest deadline of a task other than its lifetime, which `lifetimes` keeps.
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

    /// Files the task's lifetime deadline (or none) in `lifetimes`.
    pub(super) fn file_lifetime(&mut self, task_idx: TaskIdx) {
        let deadline = self.lifetime_deadline(task_idx);
        self.lifetimes.file(task_idx, deadline);
    }

    /// Files every live task's lifetime deadline again, after the lifetime setting may have changed.
    pub(super) fn refile_lifetimes(&mut self) {
        let entries: Vec<(Time, TaskIdx)> = self
            .live_task_indices()
            .filter_map(|task_idx| Some((self.lifetime_deadline(task_idx)?, task_idx)))
            .collect();
        self.lifetimes.rebuild(self.tasks.len(), entries);
    }

    /// The first task timer due, from the deadline index or the lifetime queue, and whether it is a lifetime.
    fn first_task_timer(&mut self) -> Option<((Time, TaskIdx), bool)> {
        let deadline = self.task_timers.first().copied();
        match (deadline, self.lifetimes.first()) {
            (Some(deadline), Some(lifetime)) if lifetime < deadline => Some((lifetime, true)),
            (None, Some(lifetime)) => Some((lifetime, true)),
            (deadline, _) => deadline.map(|timer| (timer, false)),
        }
    }

    /// Fires, in time order, every timer due at or before `until`. Each fires at its own time, as if the caller
    /// had called at exactly that moment, and its consequences are routed before the next one fires.
    pub(super) fn fire_timers_until(&mut self, until: Time) {
        loop {
            let task_timer = self.first_task_timer();
            let agent_timer = self.agent_timers.first().copied();
            let fire_agent = match (task_timer, agent_timer) {
                (None, None) => break,
                (Some(_), None) => false,
                (None, Some(_)) => true,
                // On a tie the agent's wrap-up ends first, so the task that fires next can reach it.
                (Some(((task_at, _), _)), Some((agent_at, _))) => agent_at <= task_at,
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
                let ((at, task_idx), lifetime) = task_timer.expect("chosen");
                if at > until {
                    break;
                }
                self.now = self.now.max(at);
                if lifetime {
                    self.lifetimes.pop_first();
                } else {
                    self.task_timers.remove(&(at, task_idx));
                    self.task_mut(task_idx).timer_at = None;
                }
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
                let (task_id, agent_id) = (task.id, self.agent(agent_idx).id);
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
            self.task_mut(task_idx).set_reserved(None);
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::LifetimeQueue;
    use crate::types::Time;

    /// The queue answers like an ordered set of `(deadline, slot)` under random filing, refiling, ending and
    /// firing, with many deadlines shared by several slots, across compactions.
    #[test]
    fn lifetime_queue_matches_an_ordered_set() {
        let mut queue = LifetimeQueue::default();
        let mut model: BTreeSet<(Time, u32)> = BTreeSet::new();
        let mut filed: Vec<Option<Time>> = vec![None; 200];
        let mut now = 0i64;
        let mut seed: u64 = 11;
        for _ in 0..50_000 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            if (seed >> 60) == 0 {
                now += ((seed >> 20) % 5) as i64;
            }
            let slot = ((seed >> 33) % 200) as u32;
            let deadline = match (seed >> 45) % 4 {
                0 => None,
                _ => Some(Time(now + 1_000)),
            };
            if let Some(previous) = filed[slot as usize] {
                model.remove(&(previous, slot));
            }
            if let Some(at) = deadline {
                model.insert((at, slot));
            }
            filed[slot as usize] = deadline;
            queue.file(slot, deadline);
            if (seed >> 50).is_multiple_of(7) {
                if let Some(first) = queue.first() {
                    assert_eq!(Some(&first), model.first());
                    queue.pop_first();
                    model.remove(&first);
                    filed[first.1 as usize] = None;
                }
            }
            assert_eq!(queue.first_deadline(), model.first().map(|(at, _)| *at));
            assert_eq!(queue.first(), model.first().copied());
            assert!(queue.entries.len() - queue.front <= 2 * model.len() + 65);
        }
    }
}
