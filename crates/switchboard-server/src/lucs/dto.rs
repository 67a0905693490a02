//! LUCS wire formats: the task, user and service DTOs with the fields and values seeds 000 and 001 show, and the
//! two timestamp formats existing clients parse.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use switchboard_core::{
    AgentInfo, Capabilities, Engine, Level, NotSelectableReason, Presence, Priority, ServiceInfo,
    Strategy, TaskInfo, TaskKind, TaskStatus, Time, TraitId,
};

/// `27.06.2019 11:58:35.4996911Z`: day.month.year, seven fractional digits, UTC (seed 000).
pub fn lucs_timestamp(time: Time) -> String {
    let micros = time.as_micros();
    let (days, rem) = (
        micros.div_euclid(86_400_000_000),
        micros.rem_euclid(86_400_000_000),
    );
    let (year, month, day) = civil_from_days(days);
    let seconds = rem / 1_000_000;
    let fraction = rem % 1_000_000;
    format!(
        "{day:02}.{month:02}.{year:04} {:02}:{:02}:{:02}.{:07}Z",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60,
        fraction * 10
    )
}

/// `6/27/2019 2:11 PM`: the `CurrentSystemTime` context parameter (seed 000).
pub fn lucs_short_time(time: Time) -> String {
    let micros = time.as_micros();
    let (days, rem) = (
        micros.div_euclid(86_400_000_000),
        micros.rem_euclid(86_400_000_000),
    );
    let (year, month, day) = civil_from_days(days);
    let minutes = rem / 60_000_000;
    let (hour, minute) = (minutes / 60, minutes % 60);
    let (hour12, meridiem) = match hour {
        0 => (12, "AM"),
        1..=11 => (hour, "AM"),
        12 => (12, "PM"),
        _ => (hour - 12, "PM"),
    };
    format!("{month}/{day}/{year} {hour12}:{minute:02} {meridiem}")
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Trait levels by name (`Attribute` in the user DTO). Unknown numbers print as the number.
pub const TRAIT_LEVELS: [(&str, Level); 5] = [
    ("Beginner", 1),
    ("Intermediate", 2),
    ("Advanced", 3),
    ("Expert", 4),
    ("Native", 5),
];

/// Responsibility levels by name (seed 001: `High`, `Medium`...).
pub const RESPONSIBILITY_LEVELS: [(&str, Level); 3] = [("Low", 1), ("Medium", 2), ("High", 3)];

/// The name of a level in a table, or its number.
pub fn level_name(table: &[(&str, Level)], level: Level) -> String {
    table
        .iter()
        .find(|(_, l)| *l == level)
        .map(|(name, _)| name.to_string())
        .unwrap_or_else(|| level.to_string())
}

/// Parses a level by name (case-insensitive) or number 1-255.
pub fn parse_level(table: &[(&str, Level)], text: &str) -> Option<Level> {
    table
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(text))
        .map(|(_, level)| *level)
        .or_else(|| text.parse::<Level>().ok().filter(|l| *l > 0))
}

/// One context parameter.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase")]
pub struct NameValue {
    /// Name.
    pub name: String,
    /// Value.
    pub value: String,
}

/// Seed 000's `ReservedUserObject`: who handles (or was offered) the task, and how they were chosen.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase")]
pub struct ReservedUserDto {
    pub id: String,
    pub display_name: String,
    pub organization_unit_name: String,
    pub sip_uri: String,
    pub user_principal_name: String,
    pub security_identifier: String,
    pub sam_account_name: String,
    pub agent_profile_name: String,
    pub responsible_since_level: u32,
    pub selection_algorithm: String,
}

/// Seed 000's task DTO.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase")]
pub struct TaskDto {
    pub id: String,
    pub external_task_id: Option<String>,
    #[serde(rename = "Type")]
    pub task_type: String,
    pub state: String,
    pub customer_identifier: String,
    pub created: String,
    pub queue_started: Option<String>,
    pub connected: Option<String>,
    pub initial_modality_type: String,
    pub origin_type: String,
    pub origin_type_custom: Option<String>,
    pub context_parameters: Vec<NameValue>,
    pub reserved_user_object: Option<ReservedUserDto>,
}

/// LUCS task type names.
pub fn task_type_name(kind: TaskKind, outbound: bool) -> &'static str {
    match kind {
        TaskKind::External => "ExternalNonBlocking",
        TaskKind::Callback => "Callback",
        TaskKind::Call if outbound => "OutboundCall",
        TaskKind::Call => "IncomingCall",
        TaskKind::Chat => "InstantMessage",
        TaskKind::Mail => "Email",
        TaskKind::Block => "BlockTask",
    }
}

/// LUCS task state names (PROTOCOLS.md): waiting `InQueue`, scheduled `Pending`, offered `Distributed`,
/// accepted `Established`, held `OnHold`, ended `Terminated`.
pub fn task_state_name(status: TaskStatus) -> &'static str {
    match status {
        TaskStatus::Scheduled => "Pending",
        TaskStatus::Waiting => "InQueue",
        TaskStatus::Offered => "Distributed",
        TaskStatus::Established => "Established",
        TaskStatus::OnHold => "OnHold",
        TaskStatus::Terminated => "Terminated",
    }
}

fn modality(kind: TaskKind) -> &'static str {
    match kind {
        TaskKind::External | TaskKind::Block => "External",
        TaskKind::Call | TaskKind::Callback => "Audio",
        TaskKind::Chat => "InstantMessaging",
        TaskKind::Mail => "Email",
    }
}

fn attribute<'a>(info: &'a AgentInfo, name: &str) -> Option<&'a str> {
    info.spec
        .identity
        .attributes
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn profile_name(engine: &Engine, profile: Option<switchboard_core::ProfileId>) -> String {
    profile
        .and_then(|id| engine.profiles().iter().find(|p| p.id == id))
        .map(|p| p.name.clone())
        .unwrap_or_default()
}

/// The session token of an agent on a task: zero until an agent is involved (seed 000).
fn session_token(task: &TaskInfo) -> String {
    match task.last_agent {
        None => uuid::Uuid::nil().to_string(),
        Some(agent) => {
            uuid::Uuid::from_u128(task.id.0.as_u128() ^ agent.0.as_u128().rotate_left(17))
                .to_string()
        }
    }
}

impl TaskDto {
    /// The DTO of a task; `with_reserved_user` is false for the create response ("ReservedUserObject in
    /// response is always null", seed 002).
    pub fn from_task(
        engine: &Engine,
        task: &TaskInfo,
        now: Time,
        with_reserved_user: bool,
    ) -> TaskDto {
        let service = engine.service_info(task.service);
        let agent = task.last_agent.and_then(|a| engine.agent_info(a));
        let (culture, sip, tel, display) = service
            .as_ref()
            .map(|s| {
                (
                    s.spec.culture.clone(),
                    s.spec.sip_uri.clone(),
                    s.spec.tel_number.clone(),
                    s.spec.name.clone(),
                )
            })
            .unwrap_or_default();
        let mut context = vec![
            ("ServiceCulture", culture),
            ("InitialQueuePosition", task.initial_position.to_string()),
            ("ServiceSipUri", sip),
            ("SessionAgentToken", session_token(task)),
            ("CurrentSystemTime", lucs_short_time(now)),
            ("ServiceTelNumber", tel),
            (
                "ExternalTaskId",
                task.external_id.clone().unwrap_or_default(),
            ),
            ("ServiceDisplayName", display),
            (
                "AgentSipUri",
                agent
                    .as_ref()
                    .map(|a| a.spec.identity.sip_uri.clone())
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| "sip:unknown@unknown".to_string()),
            ),
        ]
        .into_iter()
        .map(|(name, value)| NameValue {
            name: name.to_string(),
            value,
        })
        .collect::<Vec<_>>();
        context.extend(task.context.iter().map(|(name, value)| NameValue {
            name: name.clone(),
            value: value.clone(),
        }));
        let reserved_user_object = match (&agent, with_reserved_user) {
            (Some(agent), true) => Some(ReservedUserDto {
                id: agent.spec.id.to_string(),
                display_name: agent.spec.display_name.clone(),
                organization_unit_name: attribute(agent, "OrganizationUnitName")
                    .unwrap_or("")
                    .to_string(),
                sip_uri: agent.spec.identity.sip_uri.clone(),
                user_principal_name: agent.spec.identity.upn.clone(),
                security_identifier: attribute(agent, "Sid").unwrap_or("").to_string(),
                sam_account_name: attribute(agent, "Sam").unwrap_or("").to_string(),
                agent_profile_name: profile_name(engine, agent.current_profile),
                responsible_since_level: 1,
                selection_algorithm: task
                    .selection
                    .map(|s| s.name().to_string())
                    .unwrap_or_default(),
            }),
            _ => None,
        };
        TaskDto {
            id: task.id.to_string(),
            external_task_id: task.external_id.clone(),
            task_type: task_type_name(
                task.kind,
                task.direction == switchboard_core::Direction::Outbound,
            )
            .to_string(),
            state: task_state_name(task.status).to_string(),
            customer_identifier: task.customer.clone(),
            created: lucs_timestamp(task.created),
            queue_started: (task.status != TaskStatus::Scheduled)
                .then(|| lucs_timestamp(task.queue_started)),
            connected: task.connected_at.map(lucs_timestamp),
            initial_modality_type: modality(task.kind).to_string(),
            origin_type: "Unknown".to_string(),
            origin_type_custom: None,
            context_parameters: context,
            reserved_user_object,
        }
    }
}

/// Seed 000's `Required` object.
#[derive(
    Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, Default, schemars::JsonSchema,
)]
#[serde(rename_all = "PascalCase", default)]
pub struct CapabilitiesDto {
    pub im: bool,
    pub audio: bool,
    pub video: bool,
    pub desktop_sharing: bool,
    pub conversation_context: bool,
}

impl CapabilitiesDto {
    /// From the engine's set.
    pub fn from_capabilities(caps: Capabilities) -> CapabilitiesDto {
        CapabilitiesDto {
            im: caps.contains(Capabilities::IM),
            audio: caps.contains(Capabilities::AUDIO),
            video: caps.contains(Capabilities::VIDEO),
            desktop_sharing: caps.contains(Capabilities::DESKTOP_SHARING),
            conversation_context: caps.contains(Capabilities::CONVERSATION_CONTEXT),
        }
    }

    /// To the engine's set.
    pub fn to_capabilities(self) -> Capabilities {
        let mut caps = Capabilities::NONE;
        for (on, cap) in [
            (self.im, Capabilities::IM),
            (self.audio, Capabilities::AUDIO),
            (self.video, Capabilities::VIDEO),
            (self.desktop_sharing, Capabilities::DESKTOP_SHARING),
            (
                self.conversation_context,
                Capabilities::CONVERSATION_CONTEXT,
            ),
        ] {
            if on {
                caps = caps.with(cap);
            }
        }
        caps
    }
}

/// Seed 000's task creation body, plus switchboard's optional `Priority` (number or LUCS name),
/// `ContextParameters` and `Type`.
#[derive(Clone, Debug, Deserialize, Default, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase", default)]
pub struct CreateTaskDto {
    pub external_task_id: Option<String>,
    pub service: Option<String>,
    pub caller: Option<String>,
    pub preferred_agents: Vec<String>,
    pub consider_preferred_agents_only: bool,
    pub required: Option<CapabilitiesDto>,
    pub distribute_to_agent: Option<bool>,
    #[serde(rename = "DistributeToAgentRONATimeoutInSeconds")]
    pub rona_timeout_in_seconds: Option<i64>,
    pub priority: Option<Value>,
    pub context_parameters: Vec<NameValue>,
    /// `ExternalNonBlocking` (the default), or, as a switchboard extension for telephony, chat and mail
    /// connectors, `IncomingCall`, `InstantMessage` or `Email`.
    #[serde(rename = "Type")]
    pub task_type: Option<String>,
}

/// A priority given as a number or a LUCS name (`High`, `StrictPriority`...).
pub fn parse_priority(value: &Value) -> Result<Priority, String> {
    match value {
        Value::Number(number) => number
            .as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .map(Priority)
            .ok_or_else(|| format!("priority {number} is out of range")),
        Value::String(name) => Priority::from_lucs_name(name).ok_or_else(|| {
            format!(
                "unknown priority '{name}' (use a number or one of {})",
                Priority::LUCS_NAMES.map(|(n, _)| n).join(", ")
            )
        }),
        _ => Err("Priority must be a number or a name".to_string()),
    }
}

/// `{"Id": .., "State": ..}` returned by hold and resume.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase")]
pub struct TaskStatusDto {
    pub id: String,
    pub state: String,
}

/// One trait of a user.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase")]
pub struct TraitDto {
    pub trait_node: String,
    pub attribute: String,
}

/// One responsibility of a profile.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase")]
pub struct ResponsibilityDto {
    pub trait_node: String,
    pub responsibility: String,
}

/// A user's profile with its responsibilities.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase")]
pub struct ProfileDto {
    pub name: String,
    #[serde(default)]
    pub responsibilities: Vec<ResponsibilityDto>,
}

/// A role assignment of a user.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase")]
pub struct UserRoleDto {
    pub organization_unit: String,
    pub role: String,
    pub permission: String,
}

/// Seed 001's user DTO.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase")]
pub struct UserDto {
    pub id: String,
    pub sip_uri: String,
    pub first_name: String,
    pub last_name: String,
    pub is_blocked_by_luware_api: bool,
    pub current_profile: Option<String>,
    pub default_profile: Option<String>,
    pub not_ready_reason: Option<String>,
    pub not_selectable_reason: Option<String>,
    #[serde(rename = "AAConfiguration")]
    pub aa_configuration: Option<String>,
    pub number_of_simultaneous_im: u16,
    pub conversation_as_service: Option<String>,
    pub is_busy_selectable: bool,
    pub is_busy_in_a_meeting_selectable: bool,
    pub show_away_as_offline: bool,
    pub busy_on_busy_in_a_call_enabled: bool,
    pub can_login_to_recording_manager: bool,
    pub retarget_type: String,
    pub retarget_source: Option<String>,
    pub retarget_to: Option<String>,
    pub retarget_private_number: bool,
    pub retarget_only_if_in_duty_profile: bool,
    pub recording_type: String,
    pub traits: Vec<TraitDto>,
    pub profiles: Vec<ProfileDto>,
    pub roles: Vec<UserRoleDto>,
    pub organization_unit_node_id: Option<String>,
    pub sid: Option<String>,
    pub sam: Option<String>,
    pub upn: String,
    pub email: String,
    pub is_selectable: bool,
    pub presence_token: String,
    pub presence_state: String,
    pub capabilities: CapabilitiesDto,
}

fn trait_dtos(
    engine: &Engine,
    traits: &[(TraitId, Level)],
    table: &[(&str, Level)],
) -> Vec<TraitDto> {
    traits
        .iter()
        .map(|(id, level)| TraitDto {
            trait_node: engine.trait_name(*id).to_string(),
            attribute: level_name(table, *level),
        })
        .collect()
}

fn flag(info: &AgentInfo, name: &str) -> bool {
    attribute(info, name).is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

impl UserDto {
    /// The DTO of an agent.
    pub fn from_agent(engine: &Engine, info: &AgentInfo) -> UserDto {
        let identity = &info.spec.identity;
        let not_ready_reason = info.absent.clone().or_else(|| info.paused.clone());
        let presence = if info.presence == Presence::Away
            && info.spec.presence_settings.show_away_as_offline
        {
            Presence::Offline
        } else {
            info.presence
        };
        UserDto {
            id: info.spec.id.to_string(),
            sip_uri: identity.sip_uri.clone(),
            first_name: identity.first_name.clone(),
            last_name: identity.last_name.clone(),
            is_blocked_by_luware_api: info.blocked,
            current_profile: Some(profile_name(engine, info.current_profile))
                .filter(|n| !n.is_empty()),
            default_profile: Some(profile_name(engine, info.spec.default_profile))
                .filter(|n| !n.is_empty()),
            not_ready_reason,
            not_selectable_reason: info
                .reason
                .map(|r| NotSelectableReason::name(r).to_string()),
            aa_configuration: attribute(info, "AAConfiguration").map(str::to_string),
            number_of_simultaneous_im: info.spec.chat_capacity,
            conversation_as_service: attribute(info, "ConversationAsService").map(str::to_string),
            is_busy_selectable: info.spec.presence_settings.busy_selectable,
            is_busy_in_a_meeting_selectable: info.spec.presence_settings.busy_in_meeting_selectable,
            show_away_as_offline: info.spec.presence_settings.show_away_as_offline,
            busy_on_busy_in_a_call_enabled: flag(info, "BusyOnBusyInACallEnabled"),
            can_login_to_recording_manager: flag(info, "CanLoginToRecordingManager"),
            retarget_type: attribute(info, "RetargetType")
                .unwrap_or("NoRetarget")
                .to_string(),
            retarget_source: attribute(info, "RetargetSource").map(str::to_string),
            retarget_to: attribute(info, "RetargetTo").map(str::to_string),
            retarget_private_number: flag(info, "RetargetPrivateNumber"),
            retarget_only_if_in_duty_profile: flag(info, "RetargetOnlyIfInDutyProfile"),
            recording_type: attribute(info, "RecordingType")
                .unwrap_or("None")
                .to_string(),
            traits: trait_dtos(engine, &info.spec.traits, &TRAIT_LEVELS),
            profiles: info
                .spec
                .profiles
                .iter()
                .map(|p| ProfileDto {
                    name: profile_name(engine, Some(p.profile)),
                    responsibilities: trait_dtos(
                        engine,
                        &p.responsibilities,
                        &RESPONSIBILITY_LEVELS,
                    )
                    .into_iter()
                    .map(|t| ResponsibilityDto {
                        trait_node: t.trait_node,
                        responsibility: t.attribute,
                    })
                    .collect(),
                })
                .collect(),
            roles: attribute(info, "Roles")
                .and_then(|json| serde_json::from_str(json).ok())
                .unwrap_or_default(),
            organization_unit_node_id: attribute(info, "OrganizationUnitNodeId")
                .map(str::to_string),
            sid: attribute(info, "Sid").map(str::to_string),
            sam: attribute(info, "Sam").map(str::to_string),
            upn: identity.upn.clone(),
            email: identity.email.clone(),
            is_selectable: info.selectable,
            presence_token: "None".to_string(),
            presence_state: presence.name().to_string(),
            capabilities: CapabilitiesDto::from_capabilities(info.spec.capabilities),
        }
    }
}

/// A service as shown and as configured (switchboard's service DTO; LUCS configures services elsewhere).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, Default, schemars::JsonSchema)]
#[serde(rename_all = "PascalCase", default)]
pub struct ServiceDto {
    pub id: Option<String>,
    pub number: Option<u32>,
    pub name: String,
    pub sip_uri: String,
    pub tel_number: String,
    pub culture: String,
    pub organization_unit: Option<String>,
    pub distribution_strategy: Option<String>,
    pub required_traits: Vec<TraitDto>,
    pub rona_timeout_in_seconds: Option<i64>,
    pub wrap_up_time_in_seconds: Option<i64>,
    pub max_wait_time_in_seconds: Option<i64>,
    pub overflow_service: Option<String>,
    pub waiting_tasks: Option<usize>,
    pub available_agents: Option<usize>,
}

impl ServiceDto {
    /// The DTO of a service.
    pub fn from_service(engine: &Engine, info: &ServiceInfo) -> ServiceDto {
        let spec = &info.spec;
        ServiceDto {
            id: Some(spec.id.to_string()),
            number: Some(info.number),
            name: spec.name.clone(),
            sip_uri: spec.sip_uri.clone(),
            tel_number: spec.tel_number.clone(),
            culture: spec.culture.clone(),
            organization_unit: spec.organization_unit.clone(),
            distribution_strategy: Some(spec.strategy.name().to_string()),
            required_traits: spec
                .required_traits
                .iter()
                .map(|r| TraitDto {
                    trait_node: engine.trait_name(r.trait_id).to_string(),
                    attribute: level_name(&TRAIT_LEVELS, r.min_level),
                })
                .collect(),
            rona_timeout_in_seconds: spec.rona_timeout.map(|s| s.as_secs()),
            wrap_up_time_in_seconds: Some(spec.wrapup.as_secs()),
            max_wait_time_in_seconds: spec.max_wait.map(|s| s.as_secs()),
            overflow_service: spec.overflow_to.map(|s| s.to_string()),
            waiting_tasks: Some(info.n_waiting),
            available_agents: Some(info.n_available),
        }
    }
}

/// Parses a strategy name as the API accepts it.
pub fn parse_strategy(name: &str) -> Result<Strategy, String> {
    Strategy::from_name(name).ok_or_else(|| {
        format!(
            "unknown distribution strategy '{name}' (one of {})",
            Strategy::ALL.map(|s| s.name()).join(", ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_look_like_seed_000() {
        // 2019-06-27 11:58:35.4996911 UTC, to the microsecond.
        let time = Time(1_561_636_715_499_691);
        assert_eq!(lucs_timestamp(time), "27.06.2019 11:58:35.4996910Z");
        assert_eq!(
            lucs_short_time(Time(1_561_644_660_000_000)),
            "6/27/2019 2:11 PM"
        );
        assert_eq!(
            lucs_short_time(Time(1_561_593_600_000_000)),
            "6/27/2019 12:00 AM"
        );
        assert_eq!(lucs_timestamp(Time(0)), "01.01.1970 00:00:00.0000000Z");
        assert_eq!(
            lucs_timestamp(Time(951_782_400_000_000)),
            "29.02.2000 00:00:00.0000000Z"
        );
    }
}
