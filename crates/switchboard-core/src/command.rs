//! Every state-changing operation of the engine as plain data, so that callers can log commands and replay them:
//! applying the same commands with the same times to an engine restored from the same snapshot gives the same
//! events.

use std::fmt;

use crate::engine::{Engine, TaskInfo};
use crate::error::{AgentError, ConfigError, TaskError};
use crate::spec::{AgentSpec, EngineConfig, ProfileSpec, ServiceSpec, TaskSpec};
use crate::types::{
    AgentId, ConsultationAction, Presence, Priority, ProfileId, ServiceId, TaskId,
    TerminationReason, Time, TraitId,
};

/// One state-changing operation; see the `Engine` method of the same name for its rules.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Command {
    /// `Engine::set_config`.
    SetConfig(EngineConfig),
    /// `Engine::intern_trait`: trait ids in later commands depend on the order of interning.
    InternTrait(String),
    /// `Engine::upsert_profile`.
    UpsertProfile(ProfileSpec),
    /// `Engine::upsert_service`.
    UpsertService(ServiceSpec),
    /// `Engine::remove_service`.
    RemoveService(ServiceId),
    /// `Engine::upsert_agent`.
    UpsertAgent(AgentSpec),
    /// `Engine::remove_agent`.
    RemoveAgent(AgentId),
    /// `Engine::set_membership`.
    SetMembership {
        /// The agent.
        agent: AgentId,
        /// The service.
        service: ServiceId,
        /// The penalty.
        penalty: u32,
    },
    /// `Engine::remove_membership`.
    RemoveMembership {
        /// The agent.
        agent: AgentId,
        /// The service.
        service: ServiceId,
    },
    /// `Engine::set_presence`.
    SetPresence {
        /// The agent.
        agent: AgentId,
        /// The presence.
        presence: Presence,
    },
    /// `Engine::login`.
    Login {
        /// The agent.
        agent: AgentId,
        /// The phone line.
        line: String,
    },
    /// `Engine::logout`.
    Logout(AgentId),
    /// `Engine::block`.
    Block(AgentId),
    /// `Engine::unblock`.
    Unblock(AgentId),
    /// `Engine::set_absent`.
    SetAbsent {
        /// The agent.
        agent: AgentId,
        /// The not-ready reason.
        reason: String,
    },
    /// `Engine::unset_absent`.
    UnsetAbsent(AgentId),
    /// `Engine::pause`.
    Pause {
        /// The agent.
        agent: AgentId,
        /// The pause reason.
        reason: String,
    },
    /// `Engine::unpause`.
    Unpause(AgentId),
    /// `Engine::set_active_profile`.
    SetActiveProfile {
        /// The agent.
        agent: AgentId,
        /// The profile.
        profile: ProfileId,
    },
    /// `Engine::end_wrapup`.
    EndWrapup(AgentId),
    /// `Engine::create_task`.
    CreateTask(TaskSpec),
    /// `Engine::add_block_task`.
    AddBlockTask {
        /// The agent to block.
        agent: AgentId,
        /// The id of the new block task.
        task: TaskId,
    },
    /// `Engine::establish`.
    Establish {
        /// The task.
        task: TaskId,
        /// The agent that must hold (or receive) it.
        agent: Option<AgentId>,
    },
    /// `Engine::decline`.
    Decline {
        /// The task.
        task: TaskId,
        /// The agent declining.
        agent: AgentId,
    },
    /// `Engine::refresh`.
    Refresh {
        /// The task.
        task: TaskId,
        /// Put the agent holding the offer into RONA.
        set_agent_on_rona: bool,
    },
    /// `Engine::poll`.
    Poll(TaskId),
    /// `Engine::set_attributes`.
    SetAttributes {
        /// The task.
        task: TaskId,
        /// The attributes to set (name, value), in order.
        attributes: Vec<(String, String)>,
    },
    /// `Engine::hold`.
    Hold(TaskId),
    /// `Engine::resume`.
    Resume(TaskId),
    /// `Engine::terminate`.
    Terminate {
        /// The task.
        task: TaskId,
        /// Why it ends.
        reason: TerminationReason,
    },
    /// `Engine::transfer_to_service`.
    TransferToService {
        /// The task.
        task: TaskId,
        /// The target service.
        service: ServiceId,
    },
    /// `Engine::transfer_to_agent`.
    TransferToAgent {
        /// The task.
        task: TaskId,
        /// The target agent.
        agent: AgentId,
    },
    /// `Engine::set_priority`.
    SetPriority {
        /// The task.
        task: TaskId,
        /// The new priority.
        priority: Priority,
    },
    /// `Engine::reserve`.
    Reserve {
        /// The task.
        task: TaskId,
        /// The agent and the end of the window, or `None` to remove the reservation.
        reservation: Option<(AgentId, Time)>,
    },
    /// `Engine::consult`.
    Consult {
        /// The task.
        task: TaskId,
        /// What to do with its consultative call.
        action: ConsultationAction,
    },
    /// `Engine::claim`.
    Claim {
        /// The task.
        task: TaskId,
        /// The agent claiming it, or `None` to release the claim.
        agent: Option<AgentId>,
    },
    /// `Engine::reschedule`.
    Reschedule {
        /// The task.
        task: TaskId,
        /// When it is due again.
        due: Time,
    },
    /// `Engine::advance`: only fires timers.
    Advance,
    /// `Engine::recover_sessions`: run once after a restart.
    RecoverSessions,
}

/// What a successful command returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing beyond the events.
    Done,
    /// The id of the task created.
    Task(TaskId),
    /// The id of the trait interned.
    Trait(TraitId),
    /// The final state of the task terminated.
    Terminated(Box<TaskInfo>),
}

/// Why a command was refused; the engine state is unchanged apart from timers that fired first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommandError {
    /// A configuration rule.
    Config(ConfigError),
    /// An agent rule.
    Agent(AgentError),
    /// A task rule.
    Task(TaskError),
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::Config(error) => error.fmt(f),
            CommandError::Agent(error) => error.fmt(f),
            CommandError::Task(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for CommandError {}

impl From<ConfigError> for CommandError {
    fn from(error: ConfigError) -> Self {
        CommandError::Config(error)
    }
}

impl From<AgentError> for CommandError {
    fn from(error: AgentError) -> Self {
        CommandError::Agent(error)
    }
}

impl From<TaskError> for CommandError {
    fn from(error: TaskError) -> Self {
        CommandError::Task(error)
    }
}

impl Engine {
    /// Applies one command at `now`.
    pub fn apply(&mut self, now: Time, command: Command) -> Result<Outcome, CommandError> {
        use Command as C;
        let done = Ok(Outcome::Done);
        match command {
            C::SetConfig(config) => {
                self.set_config(now, config);
                done
            }
            C::InternTrait(name) => Ok(Outcome::Trait(self.intern_trait(&name))),
            C::UpsertProfile(spec) => {
                self.upsert_profile(now, spec);
                done
            }
            C::UpsertService(spec) => self
                .upsert_service(now, spec)
                .map(|_| Outcome::Done)
                .map_err(Into::into),
            C::RemoveService(id) => self
                .remove_service(now, id)
                .map(|_| Outcome::Done)
                .map_err(Into::into),
            C::UpsertAgent(spec) => self
                .upsert_agent(now, spec)
                .map(|_| Outcome::Done)
                .map_err(Into::into),
            C::RemoveAgent(id) => self
                .remove_agent(now, id)
                .map(|_| Outcome::Done)
                .map_err(Into::into),
            C::SetMembership {
                agent,
                service,
                penalty,
            } => self
                .set_membership(now, agent, service, penalty)
                .map(|_| Outcome::Done)
                .map_err(Into::into),
            C::RemoveMembership { agent, service } => self
                .remove_membership(now, agent, service)
                .map(|_| Outcome::Done)
                .map_err(Into::into),
            C::SetPresence { agent, presence } => {
                self.set_presence(now, agent, presence)?;
                done
            }
            C::Login { agent, line } => {
                self.login(now, agent, &line)?;
                done
            }
            C::Logout(agent) => {
                self.logout(now, agent)?;
                done
            }
            C::Block(agent) => {
                self.block(now, agent)?;
                done
            }
            C::Unblock(agent) => {
                self.unblock(now, agent)?;
                done
            }
            C::SetAbsent { agent, reason } => {
                self.set_absent(now, agent, &reason)?;
                done
            }
            C::UnsetAbsent(agent) => {
                self.unset_absent(now, agent)?;
                done
            }
            C::Pause { agent, reason } => {
                self.pause(now, agent, &reason)?;
                done
            }
            C::Unpause(agent) => {
                self.unpause(now, agent)?;
                done
            }
            C::SetActiveProfile { agent, profile } => {
                self.set_active_profile(now, agent, profile)?;
                done
            }
            C::EndWrapup(agent) => {
                self.end_wrapup(now, agent)?;
                done
            }
            C::CreateTask(spec) => Ok(Outcome::Task(self.create_task(now, spec)?)),
            C::AddBlockTask { agent, task } => {
                Ok(Outcome::Task(self.add_block_task(now, agent, task)?))
            }
            C::Establish { task, agent } => {
                self.establish(now, task, agent)?;
                done
            }
            C::Decline { task, agent } => {
                self.decline(now, task, agent)?;
                done
            }
            C::Refresh {
                task,
                set_agent_on_rona,
            } => {
                self.refresh(now, task, set_agent_on_rona)?;
                done
            }
            C::Poll(task) => {
                self.poll(now, task)?;
                done
            }
            C::SetAttributes { task, attributes } => {
                self.set_attributes(now, task, attributes)?;
                done
            }
            C::Hold(task) => {
                self.hold(now, task)?;
                done
            }
            C::Resume(task) => {
                self.resume(now, task)?;
                done
            }
            C::Terminate { task, reason } => Ok(Outcome::Terminated(Box::new(
                self.terminate(now, task, reason)?,
            ))),
            C::TransferToService { task, service } => {
                self.transfer_to_service(now, task, service)?;
                done
            }
            C::TransferToAgent { task, agent } => {
                self.transfer_to_agent(now, task, agent)?;
                done
            }
            C::SetPriority { task, priority } => {
                self.set_priority(now, task, priority)?;
                done
            }
            C::Reserve { task, reservation } => {
                self.reserve(now, task, reservation)?;
                done
            }
            C::Consult { task, action } => {
                self.consult(now, task, action)?;
                done
            }
            C::Claim { task, agent } => {
                self.claim(now, task, agent)?;
                done
            }
            C::Reschedule { task, due } => {
                self.reschedule(now, task, due)?;
                done
            }
            C::Advance => {
                self.advance(now);
                done
            }
            C::RecoverSessions => {
                self.recover_sessions(now);
                done
            }
        }
    }
}
