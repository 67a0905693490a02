//! Consultative calls: while an agent handles an incoming call, it calls a colleague or an outside number to
//! consult, and then merges the three into a conference, hands the customer over, or returns to the customer.
//!
//! The engine keeps the call-control state that routing depends on: the customer waits on hold while the agent
//! consults, a consulted agent is busy for routing until the consultation ends, and a hand-over moves the task
//! to the consulted agent (who is already on the line, so the task is established at once) and sends the first
//! agent to wrap-up. The media itself is the telephony system's business. At most one consultation per task.
//! Consultations live in a side table keyed by the task, like task attributes: few tasks have one.

use crate::error::TaskError;
use crate::event::EventKind;
use crate::types::{
    AudioRoutes, Consultation, ConsultationAction, ConsultationEnd, ConsultationStatus,
    ConsultationTarget, Direction, Selection, TaskId, TaskKind, TaskStatus, TerminationReason,
    Time,
};

use super::{AgentIdx, Engine, TaskIdx};

impl Engine {
    /// Applies one consultative-call action to a task an agent handles. Only incoming call tasks can consult
    /// (seed 002); a failed action changes nothing.
    pub fn consult(
        &mut self,
        now: Time,
        task: TaskId,
        action: ConsultationAction,
    ) -> Result<(), TaskError> {
        self.begin(now);
        let task_idx = self.task_for_command(task)?;
        match action {
            ConsultationAction::Start(target) => self.start_consultation(task_idx, target)?,
            ConsultationAction::Merge => {
                self.live_consultation(task_idx, true)?;
                let now = self.now;
                let consultation = self.consultation_mut(task_idx);
                if consultation.status == ConsultationStatus::Merged {
                    return Err(TaskError::InvalidValue(
                        "the consultative call is already merged",
                    ));
                }
                consultation.status = ConsultationStatus::Merged;
                consultation.merged_at = Some(now);
                self.emit(EventKind::ConsultationMerged { task });
                // The customer joins the conference: off hold.
                if self.task(task_idx).status == TaskStatus::OnHold {
                    self.task_mut(task_idx).status = TaskStatus::Established;
                    self.emit(EventKind::TaskResumed { task });
                }
            }
            ConsultationAction::SetAudioRoutes(routes) => {
                self.live_consultation(task_idx, true)?;
                let consultation = self.consultation_mut(task_idx);
                if consultation.status != ConsultationStatus::Merged {
                    return Err(TaskError::ConsultationNotMerged);
                }
                consultation.audio_routes = routes;
                self.emit(EventKind::ConsultationAudioRoutesChanged { task, routes });
            }
            ConsultationAction::TerminateCustomerCall => {
                self.live_consultation(task_idx, true)?;
                self.consultation_mut(task_idx).customer_connected = false;
                self.emit(EventKind::ConsultationCustomerLeft { task });
            }
            ConsultationAction::Terminate => {
                self.live_consultation(task_idx, false)?;
                let consultation = self.end_consultation(task_idx, ConsultationEnd::Terminated);
                if consultation.customer_connected {
                    // Back to the customer.
                    if self.task(task_idx).status == TaskStatus::OnHold {
                        self.task_mut(task_idx).status = TaskStatus::Established;
                        self.emit(EventKind::TaskResumed { task });
                    }
                } else {
                    // The customer already hung up: with the consultation over, so is the task.
                    self.terminate_idx(task_idx, TerminationReason::Completed);
                }
            }
            ConsultationAction::Transfer => {
                self.live_consultation(task_idx, true)?;
                self.hand_over(task_idx, ConsultationEnd::Transferred);
            }
            ConsultationAction::Leave => {
                self.live_consultation(task_idx, true)?;
                if self.consultation(task_idx).status != ConsultationStatus::Merged {
                    return Err(TaskError::ConsultationNotMerged);
                }
                self.hand_over(task_idx, ConsultationEnd::Left);
            }
        }
        self.settle();
        Ok(())
    }

    /// The consultation of a live task, if it has one.
    pub fn consultation_of(&self, task: TaskId) -> Option<&Consultation> {
        let task_idx = *self.task_index.get(&task)?;
        self.consultations.get(&task_idx)
    }

    /// Every live consultation, with its task, in task order.
    pub fn consultations(&self) -> Vec<(TaskId, &Consultation)> {
        let mut all: Vec<(TaskIdx, &Consultation)> = self
            .consultations
            .iter()
            .map(|(&task_idx, consultation)| (task_idx, consultation))
            .collect();
        all.sort_unstable_by_key(|(task_idx, _)| *task_idx);
        all.into_iter()
            .map(|(task_idx, consultation)| (self.task(task_idx).id, consultation))
            .collect()
    }

    fn start_consultation(
        &mut self,
        task_idx: TaskIdx,
        target: ConsultationTarget,
    ) -> Result<(), TaskError> {
        let task = self.task(task_idx);
        if task.kind != TaskKind::Call || task.direction != Direction::Inbound {
            return Err(TaskError::WrongKind(
                "consultative calls apply only to incoming call tasks",
            ));
        }
        if !matches!(task.status, TaskStatus::Established | TaskStatus::OnHold) {
            return Err(TaskError::NotEstablished(task.status));
        }
        if self.consultations.contains_key(&task_idx) {
            return Err(TaskError::ConsultationActive);
        }
        let initiator = task.agent.expect("an established task has an agent");
        let consultant = match &target {
            ConsultationTarget::Agent(agent_id) => {
                let agent_idx = *self
                    .agent_index
                    .get(agent_id)
                    .ok_or(TaskError::UnknownAgent(*agent_id))?;
                if agent_idx == initiator {
                    return Err(TaskError::InvalidValue(
                        "an agent cannot consult itself on its own task",
                    ));
                }
                if !self.can_be_consulted(agent_idx) {
                    return Err(TaskError::ConsultantUnavailable(*agent_id));
                }
                Some(agent_idx)
            }
            ConsultationTarget::External(number) => {
                if number.trim().is_empty() {
                    return Err(TaskError::InvalidValue(
                        "a consultative call needs a user or a phone number to call",
                    ));
                }
                None
            }
        };
        let now = self.now;
        let task_id = self.task(task_idx).id;
        let initiator_id = self.agent(initiator).id;
        self.consultations.insert(
            task_idx,
            Consultation {
                initiator: initiator_id,
                target: target.clone(),
                status: ConsultationStatus::Connected,
                customer_connected: true,
                audio_routes: AudioRoutes::default(),
                started: now,
                merged_at: None,
            },
        );
        self.emit(EventKind::ConsultationStarted {
            task: task_id,
            agent: initiator_id,
            target,
        });
        // The customer waits on hold while the agent consults.
        if self.task(task_idx).status == TaskStatus::Established {
            self.task_mut(task_idx).status = TaskStatus::OnHold;
            self.emit(EventKind::TaskHeld { task: task_id });
        }
        if let Some(agent_idx) = consultant {
            self.agent_mut(agent_idx).n_consultations += 1;
            self.agent_changed(agent_idx);
        }
        Ok(())
    }

    /// Whether an agent can take a consultative call now: signed in, no offer ringing, not consulted already,
    /// and room for one more voice call. Pause, absence or wrap-up do not stop a colleague from being consulted.
    fn can_be_consulted(&self, agent_idx: AgentIdx) -> bool {
        let agent = self.agent(agent_idx);
        agent.presence != crate::types::Presence::Offline
            && agent.n_consultations == 0
            && self.has_capacity(agent_idx, crate::types::Channel::Voice)
    }

    /// Checks that the task has a consultation, and, with `customer_needed`, that the customer is still on the
    /// line.
    fn live_consultation(&self, task_idx: TaskIdx, customer_needed: bool) -> Result<(), TaskError> {
        let consultation = self
            .consultations
            .get(&task_idx)
            .ok_or(TaskError::NoConsultation)?;
        if customer_needed && !consultation.customer_connected {
            return Err(TaskError::CustomerLeft);
        }
        Ok(())
    }

    fn consultation(&self, task_idx: TaskIdx) -> &Consultation {
        self.consultations
            .get(&task_idx)
            .expect("checked by live_consultation")
    }

    fn consultation_mut(&mut self, task_idx: TaskIdx) -> &mut Consultation {
        self.consultations
            .get_mut(&task_idx)
            .expect("checked by live_consultation")
    }

    /// Ends a task's consultation and frees the consulted agent. Used by every way a consultation can end,
    /// including the end of its task.
    pub(super) fn end_consultation(
        &mut self,
        task_idx: TaskIdx,
        end: ConsultationEnd,
    ) -> Consultation {
        let consultation = self
            .consultations
            .remove(&task_idx)
            .expect("the task has a consultation");
        let task_id = self.task(task_idx).id;
        self.emit(EventKind::ConsultationEnded { task: task_id, end });
        if let ConsultationTarget::Agent(agent_id) = &consultation.target {
            let agent_idx = *self
                .agent_index
                .get(agent_id)
                .expect("a consulted agent cannot be removed");
            self.agent_mut(agent_idx).n_consultations -= 1;
            self.agent_changed(agent_idx);
        }
        consultation
    }

    /// The first agent leaves and the customer stays with the consulted party: a consulted agent takes the task
    /// over, established at once (both are already on the line); an outside number takes the call out of the
    /// contact center, which ends the task.
    fn hand_over(&mut self, task_idx: TaskIdx, end: ConsultationEnd) {
        let consultation = self.end_consultation(task_idx, end);
        match consultation.target {
            ConsultationTarget::Agent(agent_id) => {
                let agent_idx = self.agent_index[&agent_id];
                self.release_for_transfer(task_idx);
                self.assign(task_idx, agent_idx, Selection::Direct);
                self.establish_idx(task_idx);
            }
            ConsultationTarget::External(_) => {
                self.terminate_idx(task_idx, TerminationReason::TransferredOut);
            }
        }
    }
}
