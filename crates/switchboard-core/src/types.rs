//! Domain newtypes and small enums shared by every part of the engine.

use std::fmt;
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
        pub struct $name(pub Uuid);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl From<Uuid> for $name {
            fn from(uuid: Uuid) -> Self {
                $name(uuid)
            }
        }
    };
}

uuid_id!(
    /// The stable identifier of an agent (a LUCS user).
    AgentId
);
uuid_id!(
    /// The stable identifier of a service (a queue).
    ServiceId
);
uuid_id!(
    /// The stable identifier of a task (a call, chat, mail, callback, external or block task).
    TaskId
);
uuid_id!(
    /// The stable identifier of a responsibility profile (Day Shift, Night Shift, OffDuty...).
    ProfileId
);

/// A point in time, in microseconds since the Unix epoch.
///
/// The engine never reads a clock: every command carries the `now` its caller observed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Time(pub i64);

impl Time {
    /// The Unix epoch.
    pub const ZERO: Time = Time(0);

    /// A time `secs` seconds after the epoch.
    pub const fn from_secs(secs: i64) -> Time {
        Time(secs * 1_000_000)
    }

    /// A time `millis` milliseconds after the epoch.
    pub const fn from_millis(millis: i64) -> Time {
        Time(millis * 1_000)
    }

    /// This time plus a span, saturating at the end of representable time.
    pub fn plus(self, span: Span) -> Time {
        Time(self.0.saturating_add(span.0))
    }

    /// The span from `earlier` to `self` (zero if `earlier` is later).
    pub fn since(self, earlier: Time) -> Span {
        Span((self.0 - earlier.0).max(0))
    }

    /// Microseconds since the epoch.
    pub const fn as_micros(self) -> i64 {
        self.0
    }
}

/// A length of time in microseconds; never negative.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Span(pub i64);

impl Span {
    /// No time at all.
    pub const ZERO: Span = Span(0);

    /// A span of whole seconds.
    pub const fn from_secs(secs: i64) -> Span {
        Span(secs * 1_000_000)
    }

    /// A span of whole milliseconds.
    pub const fn from_millis(millis: i64) -> Span {
        Span(millis * 1_000)
    }

    /// A span of whole minutes.
    pub const fn from_mins(mins: i64) -> Span {
        Span(mins * 60_000_000)
    }

    /// The span in whole seconds, rounded down.
    pub const fn as_secs(self) -> i64 {
        self.0 / 1_000_000
    }

    /// The span in microseconds.
    pub const fn as_micros(self) -> i64 {
        self.0
    }
}

/// Task priority: higher is more urgent. Puzzel's VIP score maps onto it directly; the LUCS callback priority
/// names map onto it through [`Priority::from_lucs_name`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Priority(pub i32);

impl Priority {
    /// The LUCS callback priority names, most urgent first, with the value each maps to.
    pub const LUCS_NAMES: [(&'static str, i32); 9] = [
        ("StrictPriority", 1_000_000),
        ("Highest", 7),
        ("VeryHigh", 6),
        ("High", 5),
        ("Normal", 4),
        ("Low", 3),
        ("VeryLow", 2),
        ("Lowest", 1),
        ("NothingElse", -1_000_000),
    ];

    /// Maps a LUCS priority name (case-insensitive) to a priority.
    pub fn from_lucs_name(name: &str) -> Option<Priority> {
        Self::LUCS_NAMES
            .iter()
            .find(|(known, _)| known.eq_ignore_ascii_case(name))
            .map(|(_, value)| Priority(*value))
    }

    /// The LUCS name of this priority, if it is exactly one of the named values.
    pub fn lucs_name(self) -> Option<&'static str> {
        Self::LUCS_NAMES
            .iter()
            .find(|(_, value)| *value == self.0)
            .map(|(name, _)| *name)
    }
}

/// An interned trait node such as `Expertise/Insurance Services` or `Language/English`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct TraitId(pub u32);

/// A level on a trait (skill) or a responsibility, from 1 (lowest) to 255. Zero means "none".
///
/// The wire layer maps names (`Expert`, `Native`, `High`...) onto levels; the engine only compares numbers.
pub type Level = u8;

/// A requirement on one trait: the agent must hold `trait_id` at `min_level` or above.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct TraitRequirement {
    /// The trait node required.
    pub trait_id: TraitId,
    /// The lowest level that satisfies the requirement (at least 1).
    pub min_level: Level,
}

/// The LUCS / Skype for Business presence of an agent, including the activity states.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Presence {
    /// Available.
    Online,
    /// Busy (selectable only if the agent's `busy_selectable` setting says so).
    Busy,
    /// Do not disturb: never selectable.
    DoNotDisturb,
    /// Be right back: not selectable.
    BeRightBack,
    /// Away: not selectable.
    Away,
    /// Signed out.
    Offline,
    /// In a call outside the contact center: not selectable.
    InACall,
    /// In a conference: not selectable.
    InAConference,
    /// In a meeting (selectable only if `busy_in_meeting_selectable`).
    InAMeeting,
    /// Out of office: not selectable.
    OutOfOffice,
}

impl Presence {
    /// Every presence value, in the order the LUCS documentation lists them.
    pub const ALL: [Presence; 10] = [
        Presence::Online,
        Presence::Busy,
        Presence::DoNotDisturb,
        Presence::BeRightBack,
        Presence::Away,
        Presence::Offline,
        Presence::InACall,
        Presence::InAConference,
        Presence::InAMeeting,
        Presence::OutOfOffice,
    ];

    /// The PascalCase name used on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Presence::Online => "Online",
            Presence::Busy => "Busy",
            Presence::DoNotDisturb => "DoNotDisturb",
            Presence::BeRightBack => "BeRightBack",
            Presence::Away => "Away",
            Presence::Offline => "Offline",
            Presence::InACall => "InACall",
            Presence::InAConference => "InAConference",
            Presence::InAMeeting => "InAMeeting",
            Presence::OutOfOffice => "OutOfOffice",
        }
    }

    /// Parses a wire name (case-insensitive).
    pub fn from_name(name: &str) -> Option<Presence> {
        Self::ALL
            .iter()
            .copied()
            .find(|presence| presence.name().eq_ignore_ascii_case(name))
    }
}

/// The agent capabilities a task may require (seed 000's `Required` object).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Capabilities(u8);

impl Capabilities {
    /// Instant messaging.
    pub const IM: Capabilities = Capabilities(1);
    /// Audio.
    pub const AUDIO: Capabilities = Capabilities(2);
    /// Video.
    pub const VIDEO: Capabilities = Capabilities(4);
    /// Desktop sharing.
    pub const DESKTOP_SHARING: Capabilities = Capabilities(8);
    /// Conversation context display.
    pub const CONVERSATION_CONTEXT: Capabilities = Capabilities(16);
    /// No capability at all.
    pub const NONE: Capabilities = Capabilities(0);
    /// Every capability.
    pub const ALL: Capabilities = Capabilities(31);

    /// The capabilities with their wire names, in seed order.
    pub const NAMED: [(Capabilities, &'static str); 5] = [
        (Capabilities::IM, "Im"),
        (Capabilities::AUDIO, "Audio"),
        (Capabilities::VIDEO, "Video"),
        (Capabilities::DESKTOP_SHARING, "DesktopSharing"),
        (Capabilities::CONVERSATION_CONTEXT, "ConversationContext"),
    ];

    /// The union of two sets.
    pub const fn with(self, other: Capabilities) -> Capabilities {
        Capabilities(self.0 | other.0)
    }

    /// True when every capability of `other` is in `self`.
    pub const fn contains(self, other: Capabilities) -> bool {
        self.0 & other.0 == other.0
    }

    /// The capabilities of `self` that `other` lacks.
    pub const fn missing_from(self, other: Capabilities) -> Capabilities {
        Capabilities(self.0 & !other.0)
    }

    /// True when the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The wire names of the capabilities in the set.
    pub fn names(self) -> Vec<&'static str> {
        Self::NAMED
            .iter()
            .filter(|(capability, _)| self.contains(*capability))
            .map(|(_, name)| *name)
            .collect()
    }
}

/// The media channel a task occupies on the agent; capacity is counted per channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Channel {
    /// Calls and callbacks.
    Voice,
    /// Instant messages and chats: several at once up to the agent's `NumberOfSimultaneousIm`.
    Chat,
    /// E-mail and other e-tasks.
    Email,
    /// External tasks pushed over the API (LUCS `ExternalNonBlocking`).
    External,
    /// A block task: occupies the agent entirely.
    Block,
}

impl Channel {
    /// Number of channels.
    pub const COUNT: usize = 5;

    /// A dense index for per-channel arrays.
    pub const fn index(self) -> usize {
        match self {
            Channel::Voice => 0,
            Channel::Chat => 1,
            Channel::Email => 2,
            Channel::External => 3,
            Channel::Block => 4,
        }
    }

    /// The name used in traces and errors.
    pub fn name(self) -> &'static str {
        match self {
            Channel::Voice => "voice",
            Channel::Chat => "chat",
            Channel::Email => "email",
            Channel::External => "external",
            Channel::Block => "block",
        }
    }
}

/// What kind of work a task is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum TaskKind {
    /// An external task created over the API (LUCS `ExternalNonBlocking`).
    External,
    /// A callback request (LUCS callbacks, xuc callback lists).
    Callback,
    /// A phone call, inbound or outbound.
    Call,
    /// A chat or instant message.
    Chat,
    /// An e-mail or e-task (Puzzel requests).
    Mail,
    /// A "fake" task that keeps an agent busy (LUCS `addBlockTask`).
    Block,
}

impl TaskKind {
    /// The channel a task of this kind occupies.
    pub const fn channel(self) -> Channel {
        match self {
            TaskKind::External => Channel::External,
            TaskKind::Callback | TaskKind::Call => Channel::Voice,
            TaskKind::Chat => Channel::Chat,
            TaskKind::Mail => Channel::Email,
            TaskKind::Block => Channel::Block,
        }
    }

    /// The name used in traces.
    pub fn name(self) -> &'static str {
        match self {
            TaskKind::External => "external",
            TaskKind::Callback => "callback",
            TaskKind::Call => "call",
            TaskKind::Chat => "chat",
            TaskKind::Mail => "mail",
            TaskKind::Block => "block",
        }
    }
}

/// Whether the customer called in or the agent calls out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Direction {
    /// The customer reached the contact center (the default).
    #[default]
    Inbound,
    /// The agent places the call (outbound calls, `dialFromQueue`, started callbacks).
    Outbound,
}

/// How a service chooses among equally ranked eligible agents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Strategy {
    /// Seed 000's `BestQualifiedMostResponsibleAgent`: highest responsibility in the current profile for the
    /// service's trait nodes, then highest trait level, then longest idle.
    BestQualifiedMostResponsible,
    /// The agent idle the longest (the default).
    #[default]
    LongestIdle,
    /// Each member in turn (least recently offered in this service first).
    RoundRobin,
    /// The member that handled the fewest tasks of this service.
    FewestTasks,
    /// The member with the least accumulated talk time in this service.
    LeastTalkTime,
    /// Always the first member in fixed order (Asterisk's `linear`).
    TopDown,
    /// A uniformly random eligible agent, from the engine's seeded generator.
    Random,
}

impl Strategy {
    /// Every strategy.
    pub const ALL: [Strategy; 7] = [
        Strategy::BestQualifiedMostResponsible,
        Strategy::LongestIdle,
        Strategy::RoundRobin,
        Strategy::FewestTasks,
        Strategy::LeastTalkTime,
        Strategy::TopDown,
        Strategy::Random,
    ];

    /// The name reported as `SelectionAlgorithm`.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::BestQualifiedMostResponsible => "BestQualifiedMostResponsibleAgent",
            Strategy::LongestIdle => "LongestIdleAgent",
            Strategy::RoundRobin => "RoundRobin",
            Strategy::FewestTasks => "FewestTasksHandled",
            Strategy::LeastTalkTime => "LeastTalkTime",
            Strategy::TopDown => "TopDown",
            Strategy::Random => "Random",
        }
    }

    /// Parses a name as returned by [`Strategy::name`] (case-insensitive), or a short alias
    /// (`best-qualified`, `longest-idle`, `round-robin`, `fewest-tasks`, `least-talk-time`, `top-down`, `random`).
    pub fn from_name(name: &str) -> Option<Strategy> {
        let aliases = [
            ("best-qualified", Strategy::BestQualifiedMostResponsible),
            ("longest-idle", Strategy::LongestIdle),
            ("round-robin", Strategy::RoundRobin),
            ("fewest-tasks", Strategy::FewestTasks),
            ("least-talk-time", Strategy::LeastTalkTime),
            ("top-down", Strategy::TopDown),
            ("random", Strategy::Random),
        ];
        Self::ALL
            .iter()
            .copied()
            .find(|strategy| strategy.name().eq_ignore_ascii_case(name))
            .or_else(|| {
                aliases
                    .iter()
                    .find(|(alias, _)| alias.eq_ignore_ascii_case(name))
                    .map(|(_, strategy)| *strategy)
            })
    }
}

/// Why an offer went to the agent it went to; reported as `SelectionAlgorithm`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Selection {
    /// The service's strategy chose the agent.
    Strategy(Strategy),
    /// The agent was one of the task's preferred agents.
    PreferredAgent,
    /// The task was reserved for this agent.
    ReservedAgent,
    /// The agent was named explicitly (transfer to an agent, direct establish).
    Direct,
}

impl Selection {
    /// The name reported as `SelectionAlgorithm`.
    pub fn name(self) -> &'static str {
        match self {
            Selection::Strategy(strategy) => strategy.name(),
            Selection::PreferredAgent => "PreferredAgent",
            Selection::ReservedAgent => "ReservedAgent",
            Selection::Direct => "Direct",
        }
    }
}

/// The xuc (XiVO CC) agent state, derivable at any moment from the engine's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum AgentState {
    /// Not signed in.
    LoggedOut,
    /// Signed in and selectable (or waiting only for work).
    Ready,
    /// Signed in but not taking work (paused, absent, blocked, RONA, not-selectable presence, off duty).
    OnPause,
    /// An inbound task is offered and waits for the agent to accept.
    Ringing,
    /// An outbound task is offered to the agent.
    Dialing,
    /// The agent handles an established task.
    OnCall,
    /// The agent is in wrap-up after a task.
    OnWrapup,
}

impl AgentState {
    /// The xuc `AgentStateEvent` name.
    pub fn xuc_name(self) -> &'static str {
        match self {
            AgentState::LoggedOut => "AgentLoggedOut",
            AgentState::Ready => "AgentReady",
            AgentState::OnPause => "AgentOnPause",
            AgentState::Ringing => "AgentRinging",
            AgentState::Dialing => "AgentDialing",
            AgentState::OnCall => "AgentOnCall",
            AgentState::OnWrapup => "AgentOnWrapup",
        }
    }
}

/// Why an agent is not selectable right now (LUCS `NotSelectableReason`), first applicable cause wins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum NotSelectableReason {
    /// Presence is Offline: not signed in.
    Offline,
    /// The current responsibility profile is an OffDuty profile.
    OffDuty,
    /// Blocked by the API, or holding a block task (seed 001 shows a blocked user as `InAServiceTask`).
    InAServiceTask,
    /// Busy with an external task (seed 001).
    InAnExternalTask,
    /// Busy with a call, chat, mail or callback of a service.
    InAContactCenterTask,
    /// An offer is ringing on the agent.
    Alerting,
    /// Absent with a not-ready reason (`setAbsent`).
    NotReady,
    /// Paused (xuc `pauseAgent`).
    Paused,
    /// Did not answer an offer in time; not selectable until ready again.
    Rona,
    /// In wrap-up after a task.
    WrapUp,
    /// Presence DoNotDisturb.
    DoNotDisturb,
    /// Presence Busy while `busy_selectable` is off.
    Busy,
    /// Presence BeRightBack.
    BeRightBack,
    /// Presence Away.
    Away,
    /// Presence InACall.
    InACall,
    /// Presence InAConference.
    InAConference,
    /// Presence InAMeeting while `busy_in_meeting_selectable` is off.
    InAMeeting,
    /// Presence OutOfOffice.
    OutOfOffice,
}

impl NotSelectableReason {
    /// The PascalCase name used on the wire.
    pub fn name(self) -> &'static str {
        match self {
            NotSelectableReason::Offline => "Offline",
            NotSelectableReason::OffDuty => "OffDuty",
            NotSelectableReason::InAServiceTask => "InAServiceTask",
            NotSelectableReason::InAnExternalTask => "InAnExternalTask",
            NotSelectableReason::InAContactCenterTask => "InAContactCenterTask",
            NotSelectableReason::Alerting => "Alerting",
            NotSelectableReason::NotReady => "NotReady",
            NotSelectableReason::Paused => "Paused",
            NotSelectableReason::Rona => "Rona",
            NotSelectableReason::WrapUp => "WrapUp",
            NotSelectableReason::DoNotDisturb => "DoNotDisturb",
            NotSelectableReason::Busy => "Busy",
            NotSelectableReason::BeRightBack => "BeRightBack",
            NotSelectableReason::Away => "Away",
            NotSelectableReason::InACall => "InACall",
            NotSelectableReason::InAConference => "InAConference",
            NotSelectableReason::InAMeeting => "InAMeeting",
            NotSelectableReason::OutOfOffice => "OutOfOffice",
        }
    }
}

/// The lifecycle state of a live task.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum TaskStatus {
    /// A callback whose due time has not come yet.
    Scheduled,
    /// In the queue, waiting for an agent (LUCS `InQueue` / Pending).
    Waiting,
    /// Offered to one agent, waiting for the accept (or RONA).
    Offered,
    /// Accepted: the agent works on it.
    Established,
    /// Established and put on hold.
    OnHold,
    /// Finished; terminated tasks leave the live engine.
    Terminated,
}

impl TaskStatus {
    /// The name used in traces and errors.
    pub fn name(self) -> &'static str {
        match self {
            TaskStatus::Scheduled => "scheduled",
            TaskStatus::Waiting => "waiting",
            TaskStatus::Offered => "offered",
            TaskStatus::Established => "established",
            TaskStatus::OnHold => "on-hold",
            TaskStatus::Terminated => "terminated",
        }
    }
}

/// Why a task ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum TerminationReason {
    /// Finished normally (terminate after it was handled, or a block task removed).
    Completed,
    /// Cancelled before an agent handled it (terminate while waiting, callback cancel, Puzzel delete).
    Cancelled,
    /// Not polled within the tenant's polling timeout: considered abandoned (seed 002).
    PollingTimeout,
    /// Older than the maximum task lifetime without a refresh (seed 002: 5 days).
    LifetimeExceeded,
    /// Waited longer than the service's maximum wait and the service has no overflow target.
    MaxWaitExceeded,
    /// Its service or agent was removed.
    Orphaned,
    /// Handed to an outside number by a consultative call: it left the contact center.
    TransferredOut,
}

impl TerminationReason {
    /// The name used in traces and reports.
    pub fn name(self) -> &'static str {
        match self {
            TerminationReason::Completed => "completed",
            TerminationReason::Cancelled => "cancelled",
            TerminationReason::PollingTimeout => "polling-timeout",
            TerminationReason::LifetimeExceeded => "lifetime-exceeded",
            TerminationReason::MaxWaitExceeded => "max-wait-exceeded",
            TerminationReason::Orphaned => "orphaned",
            TerminationReason::TransferredOut => "transferred-out",
        }
    }
}

/// Why a task (re-)entered the queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum QueueReason {
    /// Newly created, or a scheduled callback became due.
    Created,
    /// The offer was not accepted in time; the task keeps its place.
    Rona,
    /// The agent declined the offer; the task keeps its place.
    Declined,
    /// `refresh` reset an offered task to pending; it keeps its place.
    Refreshed,
    /// The reserved agent's window passed; the task opens to the service keeping its place.
    ReservationExpired,
    /// Moved to the overflow service after the maximum wait.
    Overflowed,
    /// Transferred by the agent handling it.
    Transferred,
    /// The agent holding the offer was logged out or removed; the task keeps its place.
    AgentLost,
    /// Put back to wait (`Engine::reschedule`) and due now: a new queue entry.
    Rescheduled,
}

impl QueueReason {
    /// The name used in traces.
    pub fn name(self) -> &'static str {
        match self {
            QueueReason::Created => "created",
            QueueReason::Rona => "rona",
            QueueReason::Declined => "declined",
            QueueReason::Refreshed => "refreshed",
            QueueReason::ReservationExpired => "reservation-expired",
            QueueReason::Overflowed => "overflowed",
            QueueReason::Transferred => "transferred",
            QueueReason::AgentLost => "agent-lost",
            QueueReason::Rescheduled => "rescheduled",
        }
    }
}

/// Whom a consultative call reaches.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum ConsultationTarget {
    /// A colleague: busy for routing while consulted, and the one who takes the task over on a transfer.
    Agent(AgentId),
    /// An outside phone number or SIP address: a transfer takes the call out of the contact center.
    External(String),
}

/// Where a consultative call stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum ConsultationStatus {
    /// The agent talks with the consulted party; the customer waits on hold.
    Connected,
    /// Agent, customer and consulted party are in one conference.
    Merged,
}

impl ConsultationStatus {
    /// The name used in traces and on the wire.
    pub fn name(self) -> &'static str {
        match self {
            ConsultationStatus::Connected => "Connected",
            ConsultationStatus::Merged => "Merged",
        }
    }
}

/// Who hears whom in a merged consultative call. The agent always hears, and is heard by, both others;
/// turning a route off lets the agent talk to one party without the other hearing (whisper, coaching).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct AudioRoutes {
    /// The customer hears the consulted party.
    pub customer_hears_consultant: bool,
    /// The consulted party hears the customer.
    pub consultant_hears_customer: bool,
}

impl Default for AudioRoutes {
    /// Everyone hears everyone, as in any conference.
    fn default() -> AudioRoutes {
        AudioRoutes {
            customer_hears_consultant: true,
            consultant_hears_customer: true,
        }
    }
}

/// A task's consultative call.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Consultation {
    /// The agent handling the task, who started the consultation.
    pub initiator: AgentId,
    /// Whom it reaches.
    pub target: ConsultationTarget,
    /// Connected or merged.
    pub status: ConsultationStatus,
    /// False once the customer's call ended during the consultation.
    pub customer_connected: bool,
    /// Who hears whom once merged.
    pub audio_routes: AudioRoutes,
    /// When it started.
    pub started: Time,
    /// When it was merged, if it was.
    pub merged_at: Option<Time>,
}

/// What to do with a task's consultative call (`Engine::consult`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum ConsultationAction {
    /// Call a colleague or a number; the customer goes on hold.
    Start(ConsultationTarget),
    /// Join the customer into the call (a conference); the customer is off hold.
    Merge,
    /// Hand the customer to the consulted party; the agent leaves for wrap-up.
    Transfer,
    /// End the consultation; the agent is back with the customer (or, if the customer hung up meanwhile, the
    /// task ends).
    Terminate,
    /// The agent leaves a merged call; the customer and the consulted party stay connected (as `Transfer`).
    Leave,
    /// Set who hears whom in a merged call.
    SetAudioRoutes(AudioRoutes),
    /// End the customer's call; the agent and the consulted party stay connected until `Terminate`.
    TerminateCustomerCall,
}

/// How a consultative call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum ConsultationEnd {
    /// Ended by the agent; back to the customer.
    Terminated,
    /// The customer was handed to the consulted party.
    Transferred,
    /// The agent left a merged call.
    Left,
    /// Its task ended.
    TaskEnded,
}

impl ConsultationEnd {
    /// The name used in traces and on the wire.
    pub fn name(self) -> &'static str {
        match self {
            ConsultationEnd::Terminated => "terminated",
            ConsultationEnd::Transferred => "transferred",
            ConsultationEnd::Left => "left",
            ConsultationEnd::TaskEnded => "task-ended",
        }
    }
}
