//! The plain-data inputs of the engine: configuration of the tenant, services, profiles, agents and new tasks.

use crate::types::{
    AgentId, Capabilities, Channel, Direction, Level, Presence, Priority, ProfileId, ServiceId,
    Span, Strategy, TaskId, TaskKind, Time, TraitId, TraitRequirement,
};

/// Tenant-wide settings of one engine.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct EngineConfig {
    /// Seed of the generator behind the `Random` strategy, so runs are reproducible.
    pub random_seed: u64,
    /// RONA timeout used when neither the task nor its service sets one. `None`: offers never time out.
    pub default_rona_timeout: Option<Span>,
    /// Tasks of kind External not polled (read) within this span are terminated as abandoned (seed 002's
    /// `MaximumPollingTimeoutInMin`). `None` disables the check.
    pub max_polling_timeout: Option<Span>,
    /// Maximum lifetime of a task without a refresh (seed 002: 5 days). `None` disables the check.
    pub max_task_lifetime: Option<Span>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            random_seed: 0x5EED,
            default_rona_timeout: Some(Span::from_secs(30)),
            max_polling_timeout: None,
            max_task_lifetime: Some(Span::from_secs(5 * 24 * 3600)),
        }
    }
}

/// A service (queue) definition. Upserting an existing id updates it in place.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ServiceSpec {
    /// Stable id.
    pub id: ServiceId,
    /// Integer id used by xuc and Puzzel; `None` lets the engine assign the next free one.
    pub number: Option<u32>,
    /// Display name (`ServiceDisplayName`).
    pub name: String,
    /// SIP URI (`ServiceSipUri`).
    pub sip_uri: String,
    /// Telephone number (`ServiceTelNumber`).
    pub tel_number: String,
    /// Culture such as `en-GB` (`ServiceCulture`).
    pub culture: String,
    /// Organization unit the service belongs to, as an opaque string id.
    pub organization_unit: Option<String>,
    /// How to choose among equally ranked agents.
    pub strategy: Strategy,
    /// Traits every agent must hold to serve the service; agents whose current profile gives a responsibility on
    /// every one of these trait nodes are members without an explicit membership.
    pub required_traits: Vec<TraitRequirement>,
    /// RONA timeout for offers of this service when the task does not set one.
    pub rona_timeout: Option<Span>,
    /// Wrap-up time after an agent finishes a task of this service.
    pub wrapup: Span,
    /// Longest a task may wait in this service before it overflows.
    pub max_wait: Option<Span>,
    /// Where a task goes after `max_wait`; without one it is terminated with `MaxWaitExceeded`.
    pub overflow_to: Option<ServiceId>,
}

impl ServiceSpec {
    /// A service with defaults: longest idle, no requirements, no wrap-up, no maximum wait.
    pub fn new(id: ServiceId, name: impl Into<String>) -> ServiceSpec {
        ServiceSpec {
            id,
            number: None,
            name: name.into(),
            sip_uri: String::new(),
            tel_number: String::new(),
            culture: String::new(),
            organization_unit: None,
            strategy: Strategy::LongestIdle,
            required_traits: Vec::new(),
            rona_timeout: None,
            wrapup: Span::ZERO,
            max_wait: None,
            overflow_to: None,
        }
    }
}

/// A responsibility profile of the tenant (Day Shift, Night Shift, OffDuty...).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ProfileSpec {
    /// Stable id.
    pub id: ProfileId,
    /// Display name.
    pub name: String,
    /// An agent whose current profile is off duty is never selectable.
    pub off_duty: bool,
}

/// The responsibilities an agent has under one profile.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct AgentProfile {
    /// Which tenant profile.
    pub profile: ProfileId,
    /// Responsibility level per trait node under this profile (zero or absent: not responsible).
    pub responsibilities: Vec<(TraitId, Level)>,
}

/// Presence selectability settings of an agent (seed 001). All off by default.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct PresenceSettings {
    /// `IsBusySelectable`: presence Busy still allows work.
    pub busy_selectable: bool,
    /// `IsBusyInAMeetingSelectable`: presence InAMeeting still allows work.
    pub busy_in_meeting_selectable: bool,
    /// `ShowAwayAsOffline`: how the presence is displayed; routing treats Away as not selectable either way.
    pub show_away_as_offline: bool,
}

/// How the outside names an agent.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct AgentIdentity {
    /// `SipUri`, such as `sip:smoky.cc@dev.local`.
    pub sip_uri: String,
    /// `Upn`, the user principal name.
    pub upn: String,
    /// `Email`.
    pub email: String,
    /// `FirstName`.
    pub first_name: String,
    /// `LastName`.
    pub last_name: String,
    /// Other descriptive fields the dialects show and the engine ignores (name, value), kept in order.
    pub attributes: Vec<(String, String)>,
}

/// An agent (user) definition. Upserting an existing id updates its configuration and keeps its live state.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct AgentSpec {
    /// Stable id.
    pub id: AgentId,
    /// Integer id used by xuc; `None` lets the engine assign the next free one.
    pub number: Option<u32>,
    /// Display name, for traces and explanations.
    pub display_name: String,
    /// Identity of the user as the dialects address it: SIP URI, user principal name, e-mail, names. Any of the
    /// first three (and the id) finds the agent through `Engine::agent_by_identifier`.
    pub identity: AgentIdentity,
    /// Agent group (xuc supervisors filter by group).
    pub group: u32,
    /// Trait levels held, such as `Language/English` = Native.
    pub traits: Vec<(TraitId, Level)>,
    /// Responsibility profiles of the agent.
    pub profiles: Vec<AgentProfile>,
    /// The profile active when the agent is created; `None` means "no profile" (member only explicitly).
    pub default_profile: Option<ProfileId>,
    /// Capabilities of the agent's client.
    pub capabilities: Capabilities,
    /// `NumberOfSimultaneousIm`: chat capacity.
    pub chat_capacity: u16,
    /// Capacity on the email channel (other channels hold one task).
    pub email_capacity: u16,
    /// Presence selectability settings.
    pub presence_settings: PresenceSettings,
    /// Explicit queue memberships with their penalty (lower penalty is tried first).
    pub memberships: Vec<(ServiceId, u32)>,
    /// The agent's phone line (xuc phone number); `None` if it has none.
    pub phone_line: Option<String>,
}

impl AgentSpec {
    /// An agent with every capability, one task per channel (three chats), no traits and no memberships.
    pub fn new(id: AgentId, display_name: impl Into<String>) -> AgentSpec {
        AgentSpec {
            id,
            number: None,
            display_name: display_name.into(),
            identity: AgentIdentity::default(),
            group: 0,
            traits: Vec::new(),
            profiles: Vec::new(),
            default_profile: None,
            capabilities: Capabilities::ALL,
            chat_capacity: 3,
            email_capacity: 1,
            presence_settings: PresenceSettings::default(),
            memberships: Vec::new(),
            phone_line: None,
        }
    }

    /// The capacity of the agent on a channel.
    pub fn capacity(&self, channel: Channel) -> u16 {
        match channel {
            Channel::Chat => self.chat_capacity,
            Channel::Email => self.email_capacity,
            Channel::Voice | Channel::External | Channel::Block => 1,
        }
    }
}

/// A request for a new task.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct TaskSpec {
    /// Stable id, chosen by the caller.
    pub id: TaskId,
    /// Integer id (Puzzel request id); `None` lets the engine assign the next one.
    pub number: Option<u64>,
    /// Tenant-unique id of the creating system (`ExternalTaskId`).
    pub external_id: Option<String>,
    /// What kind of work.
    pub kind: TaskKind,
    /// Inbound or outbound.
    pub direction: Direction,
    /// The service it queues in.
    pub service: ServiceId,
    /// Who the customer is (`CustomerIdentifier`, the `Caller` of seed 000).
    pub customer: String,
    /// Higher is more urgent.
    pub priority: Priority,
    /// Agents to try first.
    pub preferred_agents: Vec<AgentId>,
    /// Only the preferred agents may take it (`ConsiderPreferredAgentsOnly`).
    pub preferred_only: bool,
    /// Hold the task for this agent until the time given, then open it to the service keeping its place.
    pub reserved: Option<(AgentId, Time)>,
    /// Capabilities the agent must have.
    pub required_capabilities: Capabilities,
    /// Traits the agent must hold beyond the service's own.
    pub required_traits: Vec<TraitRequirement>,
    /// `DistributeToAgent`: when false the engine queues but never offers it; an external system establishes it.
    pub distribute: bool,
    /// RONA timeout for this task's offers, overriding the service's.
    pub rona_timeout: Option<Span>,
    /// Caller-supplied context (name, value) pairs, kept in order.
    pub context: Vec<(String, String)>,
    /// Dialect data the engine carries but never reads (a callback's target and retry settings, say): kept with
    /// the task, in its snapshot and in its final record.
    pub attributes: Vec<(String, String)>,
    /// A scheduled callback does not queue before this time.
    pub not_before: Option<Time>,
}

impl TaskSpec {
    /// An inbound external task with priority 0, distributed, no preferences and no requirements.
    pub fn new(id: TaskId, service: ServiceId) -> TaskSpec {
        TaskSpec {
            id,
            number: None,
            external_id: None,
            kind: TaskKind::External,
            direction: Direction::Inbound,
            service,
            customer: String::new(),
            priority: Priority(0),
            preferred_agents: Vec::new(),
            preferred_only: false,
            reserved: None,
            required_capabilities: Capabilities::NONE,
            required_traits: Vec::new(),
            distribute: true,
            rona_timeout: None,
            context: Vec::new(),
            attributes: Vec::new(),
            not_before: None,
        }
    }
}

/// The presence an agent starts with.
pub const INITIAL_PRESENCE: Presence = Presence::Offline;
