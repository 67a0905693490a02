//! Claims and rescheduling: work an agent picks from a list instead of being offered it (xuc callback lists).
//!
//! An agent claims a waiting or scheduled task of one of its services (`takeCallback`): from then on the engine
//! offers it to nobody, and the agent starts it when it likes (`Engine::establish` with the agent named, which
//! consumes the claim). Releasing the claim, or the agent signing out or being removed, returns the task to
//! routing keeping its place. Claims live in a side table keyed by the task, like consultations: few tasks have
//! one.
//!
//! Rescheduling (`updateCallbackTicket` with NoAnswer or a new due date) puts a live task back to wait until a
//! time: whoever held it lets go of it (an established task sends its agent to wrap-up) and it becomes due again
//! as a new queue entry.

use crate::error::TaskError;
use crate::event::EventKind;
use crate::types::{AgentId, QueueReason, TaskId, TaskKind, TaskStatus, Time};

use super::{AgentIdx, Engine, Rank, TaskIdx};

impl Engine {
    /// Claims a waiting or scheduled task for an agent of its service (`Some`), or releases its claim (`None`;
    /// releasing an unclaimed task changes nothing). Claiming again by the same agent changes nothing.
    pub fn claim(
        &mut self,
        now: Time,
        task: TaskId,
        agent: Option<AgentId>,
    ) -> Result<(), TaskError> {
        self.begin(now);
        let task_idx = self.task_for_command(task)?;
        let Some(agent_id) = agent else {
            self.release_claim_idx(task_idx);
            self.settle();
            return Ok(());
        };
        let agent_idx = *self
            .agent_index
            .get(&agent_id)
            .ok_or(TaskError::UnknownAgent(agent_id))?;
        let (kind, status, service) = {
            let task = self.task(task_idx);
            (task.kind, task.status, task.service)
        };
        if kind == TaskKind::Block {
            return Err(TaskError::WrongKind("a block task cannot be claimed"));
        }
        if !matches!(status, TaskStatus::Waiting | TaskStatus::Scheduled) {
            return Err(TaskError::NotWaiting(status));
        }
        match self.claims.get(&task_idx) {
            Some(&holder) if holder == agent_idx => return Ok(()),
            Some(&holder) => return Err(TaskError::ClaimedByAnotherAgent(self.agent(holder).id)),
            None => {}
        }
        if self.membership(agent_idx, service).is_none() {
            return Err(TaskError::NotAMember(agent_id));
        }
        let waiting = status == TaskStatus::Waiting;
        if waiting {
            self.unplace_waiting(task_idx);
        }
        self.claims.insert(task_idx, agent_idx);
        if waiting {
            // Parked: a claimed task is offered to nobody.
            self.place_waiting(task_idx);
        }
        self.emit(EventKind::TaskClaimed {
            task,
            agent: agent_id,
        });
        self.settle();
        Ok(())
    }

    /// The agent that claimed the task, if any.
    pub fn claimed_by(&self, task: TaskId) -> Option<AgentId> {
        let task_idx = *self.task_index.get(&task)?;
        self.claims.get(&task_idx).map(|&a| self.agent(a).id)
    }

    /// Every claim: task and agent, in task order.
    pub fn claims(&self) -> Vec<(TaskId, AgentId)> {
        let mut claims: Vec<(TaskId, AgentId)> = self
            .claims
            .iter()
            .map(|(&t, &a)| (self.task(t).id, self.agent(a).id))
            .collect();
        claims.sort();
        claims
    }

    pub(super) fn is_claimed(&self, task_idx: TaskIdx) -> bool {
        self.claims.contains_key(&task_idx)
    }

    /// Ends a claim and gives the task back to routing, keeping its place; false when it had none.
    pub(super) fn release_claim_idx(&mut self, task_idx: TaskIdx) -> bool {
        if self.claims.remove(&task_idx).is_none() {
            return false;
        }
        let task = self.task(task_idx);
        let (id, status) = (task.id, task.status);
        self.emit(EventKind::TaskClaimReleased { task: id });
        if status == TaskStatus::Waiting {
            self.unplace_waiting(task_idx);
            self.route_or_place(task_idx);
        }
        true
    }

    /// Releases every claim the agent holds (it signed out or was removed).
    pub(super) fn release_claims_of(&mut self, agent_idx: AgentIdx) {
        let mut tasks: Vec<TaskIdx> = self
            .claims
            .iter()
            .filter(|(_, &a)| a == agent_idx)
            .map(|(&t, _)| t)
            .collect();
        tasks.sort_unstable();
        for task_idx in tasks {
            self.release_claim_idx(task_idx);
        }
    }

    /// Puts a live task back to wait until `due` (now or earlier: queued at once, as a new queue entry). An
    /// offer is withdrawn; an established task ends for its agent, who goes to wrap-up; a claim and a reservation
    /// end. Refused for block tasks and while a consultative call is active.
    pub fn reschedule(&mut self, now: Time, task: TaskId, due: Time) -> Result<(), TaskError> {
        self.begin(now);
        let task_idx = self.task_for_command(task)?;
        if self.task(task_idx).kind == TaskKind::Block {
            return Err(TaskError::WrongKind("a block task cannot be rescheduled"));
        }
        if self.consultations.contains_key(&task_idx) {
            return Err(TaskError::ConsultationActive);
        }
        let status = self.task(task_idx).status;
        let agent = self.task(task_idx).agent.map(|a| self.agent(a).id);
        self.claims.remove(&task_idx);
        self.emit(EventKind::TaskRescheduled { task, agent, due });
        match status {
            TaskStatus::Waiting => self.unplace_waiting(task_idx),
            TaskStatus::Offered => self.unassign(task_idx),
            TaskStatus::Established | TaskStatus::OnHold => {
                self.finish_work(task_idx);
                self.task_mut(task_idx).connected_at = None;
            }
            TaskStatus::Scheduled | TaskStatus::Terminated => {}
        }
        let task_state = self.task_mut(task_idx);
        task_state.set_reserved(None);
        task_state.declined = Box::default();
        task_state.offer_deadline = None;
        if due > self.now {
            // A new queue entry, placed now: it queues by this moment when it becomes due.
            self.rank_seq += 1;
            let seq = self.rank_seq;
            let task_state = self.task_mut(task_idx);
            task_state.rank = Rank::new(task_state.priority(), seq);
            task_state.status = TaskStatus::Scheduled;
            task_state.not_before = Some(due);
            self.reschedule_task(task_idx);
        } else {
            self.task_mut(task_idx).not_before = None;
            self.enqueue_fresh(task_idx, QueueReason::Rescheduled);
        }
        self.settle();
        Ok(())
    }
}
