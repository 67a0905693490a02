//! Events: the only way the outside learns what the engine did. Each carries a per-tenant sequence number.

use crate::engine::TaskInfo;
use crate::types::{
    AgentId, AgentState, AudioRoutes, ConsultationEnd, ConsultationTarget, NotSelectableReason,
    Presence, Priority, ProfileId, QueueReason, Selection, ServiceId, TaskId, TerminationReason,
    Time,
};

/// One state change, numbered in the order the engine made it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Event {
    /// Per-tenant sequence number, starting at 1, without gaps.
    pub seq: u64,
    /// The `now` of the command that caused it.
    pub at: Time,
    /// What happened.
    pub kind: EventKind,
}

/// What happened.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum EventKind {
    /// A service was created or changed.
    ServiceUpserted {
        /// The service.
        service: ServiceId,
    },
    /// A service was removed.
    ServiceRemoved {
        /// The service.
        service: ServiceId,
    },
    /// A profile was created or changed.
    ProfileUpserted {
        /// The profile.
        profile: ProfileId,
    },
    /// An agent was created or its configuration changed.
    AgentUpserted {
        /// The agent.
        agent: AgentId,
    },
    /// An agent was removed.
    AgentRemoved {
        /// The agent.
        agent: AgentId,
    },
    /// An agent joined a service, changed its penalty (`Some`), or left it (`None`).
    MembershipChanged {
        /// The agent.
        agent: AgentId,
        /// The service.
        service: ServiceId,
        /// The new penalty, or `None` when the agent no longer serves the service.
        penalty: Option<u32>,
    },
    /// The agent's presence changed.
    AgentPresenceChanged {
        /// The agent.
        agent: AgentId,
        /// The new presence.
        presence: Presence,
    },
    /// The agent signed in on a phone line (xuc agentLogin).
    AgentLoggedIn {
        /// The agent.
        agent: AgentId,
        /// The line.
        line: String,
    },
    /// The agent signed out of its phone line.
    AgentLoggedOut {
        /// The agent.
        agent: AgentId,
    },
    /// Blocked (`true`) or unblocked (`false`) by the API.
    AgentBlocked {
        /// The agent.
        agent: AgentId,
        /// The new block state.
        blocked: bool,
    },
    /// Absent with a not-ready reason (`Some`) or back (`None`).
    AgentAbsence {
        /// The agent.
        agent: AgentId,
        /// The not-ready reason.
        reason: Option<String>,
    },
    /// Paused with a reason (`Some`) or unpaused (`None`).
    AgentPause {
        /// The agent.
        agent: AgentId,
        /// The pause reason (may be empty).
        reason: Option<String>,
    },
    /// The active responsibility profile changed.
    AgentProfileChanged {
        /// The agent.
        agent: AgentId,
        /// The new profile.
        profile: Option<ProfileId>,
    },
    /// The agent started wrap-up until the given time.
    AgentWrapupStarted {
        /// The agent.
        agent: AgentId,
        /// When it ends by itself.
        until: Time,
    },
    /// The agent's derived state changed: its xuc state, its selectability, or the reason.
    AgentStatusChanged {
        /// The agent.
        agent: AgentId,
        /// xuc state.
        state: AgentState,
        /// `IsSelectable` for new work.
        selectable: bool,
        /// `NotSelectableReason` when not selectable.
        reason: Option<NotSelectableReason>,
    },
    /// A task was accepted into the engine.
    TaskCreated {
        /// The task.
        task: TaskId,
        /// Its service.
        service: ServiceId,
        /// Its priority.
        priority: Priority,
    },
    /// A callback was scheduled for later.
    TaskScheduled {
        /// The task.
        task: TaskId,
        /// When it becomes due.
        due: Time,
    },
    /// A task entered (or re-entered) the queue of its service.
    TaskQueued {
        /// The task.
        task: TaskId,
        /// The service whose queue it is in.
        service: ServiceId,
        /// Why.
        reason: QueueReason,
    },
    /// A task was offered to an agent.
    TaskOffered {
        /// The task.
        task: TaskId,
        /// The agent.
        agent: AgentId,
        /// How the agent was chosen.
        selection: Selection,
        /// When the offer times out (RONA), if ever.
        deadline: Option<Time>,
    },
    /// The agent accepted the task; it is established.
    TaskEstablished {
        /// The task.
        task: TaskId,
        /// The agent.
        agent: AgentId,
    },
    /// The agent did not accept in time.
    TaskRona {
        /// The task.
        task: TaskId,
        /// The agent that did not answer.
        agent: AgentId,
    },
    /// The agent declined the offer.
    TaskDeclined {
        /// The task.
        task: TaskId,
        /// The agent.
        agent: AgentId,
    },
    /// The task was put on hold.
    TaskHeld {
        /// The task.
        task: TaskId,
    },
    /// The task was resumed from hold.
    TaskResumed {
        /// The task.
        task: TaskId,
    },
    /// The task's priority changed; it moved in the queue.
    TaskPriorityChanged {
        /// The task.
        task: TaskId,
        /// The new priority.
        priority: Priority,
    },
    /// Dialect attributes of the task were set (a Puzzel request's subject or URI changed, say).
    TaskAttributesChanged {
        /// The task.
        task: TaskId,
        /// The attributes set (name, value), in order.
        attributes: Vec<(String, String)>,
    },
    /// The task was reserved for an agent until a time.
    TaskReserved {
        /// The task.
        task: TaskId,
        /// The agent.
        agent: AgentId,
        /// End of the reservation window.
        until: Time,
    },
    /// An agent claimed the task from a list: it is offered to nobody else.
    TaskClaimed {
        /// The task.
        task: TaskId,
        /// The agent.
        agent: AgentId,
    },
    /// The claim ended (released, or its agent signed out); the task is routed again keeping its place.
    TaskClaimReleased {
        /// The task.
        task: TaskId,
    },
    /// The task was put back to wait until `due`; the agent that held it (if any) let go of it.
    TaskRescheduled {
        /// The task.
        task: TaskId,
        /// The agent that held it.
        agent: Option<AgentId>,
        /// When it is due again.
        due: Time,
    },
    /// The reservation window passed; the task is open to the service.
    TaskReservationExpired {
        /// The task.
        task: TaskId,
    },
    /// The task left its service for the overflow target after the maximum wait.
    TaskOverflowed {
        /// The task.
        task: TaskId,
        /// The service it waited in.
        from: ServiceId,
        /// The service it moves to.
        to: ServiceId,
    },
    /// The task was refreshed (lifetime renewed).
    TaskRefreshed {
        /// The task.
        task: TaskId,
    },
    /// The task ended and left the live engine. The final record is part of the event, so history can be
    /// kept from events alone, whatever ended the task (a command or a timer).
    /// An agent started a consultative call on its task.
    ConsultationStarted {
        /// The task.
        task: TaskId,
        /// The agent handling the task.
        agent: AgentId,
        /// Whom it calls.
        target: ConsultationTarget,
    },
    /// The consultative call was merged with the customer.
    ConsultationMerged {
        /// The task.
        task: TaskId,
    },
    /// Who hears whom in the merged call changed.
    ConsultationAudioRoutesChanged {
        /// The task.
        task: TaskId,
        /// The new routes.
        routes: AudioRoutes,
    },
    /// The customer's call ended during the consultation.
    ConsultationCustomerLeft {
        /// The task.
        task: TaskId,
    },
    /// The consultative call ended.
    ConsultationEnded {
        /// The task.
        task: TaskId,
        /// How.
        end: ConsultationEnd,
    },
    TaskTerminated {
        /// The task.
        task: TaskId,
        /// Why.
        reason: TerminationReason,
        /// The agent that handled it, if any.
        agent: Option<AgentId>,
        /// The task's final state, with `terminated` and `termination_reason` set.
        record: Box<TaskInfo>,
    },
}
