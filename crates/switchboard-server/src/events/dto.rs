//! The wire form of an engine event for integrators (`GET /v2.0/events`, Server-Sent Events, webhooks): the
//! sequence number, the time, the type, its category, the task, service and user it concerns, and the
//! type's own fields in `Data`. Core events are never serialized onto the wire directly.

use serde::Serialize;
use serde_json::{json, Map, Value};
use switchboard_core::{AgentId, ConsultationTarget, Event, EventKind, ServiceId, TaskId, Time};

use crate::lucs::dto::{civil_from_days, task_type_name};

/// Which family an event belongs to; a key's roles decide the families it may read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Category {
    /// Tasks, offers, queueing, consultative calls.
    Task,
    /// Users (agents): presence, state, memberships, login, block, absence, pause, wrap-up.
    Agent,
    /// Services and responsibility profiles.
    Configuration,
}

impl Category {
    /// Every category.
    pub const ALL: [Category; 3] = [Category::Task, Category::Agent, Category::Configuration];

    /// The name on the wire and in filters (`Tasks`, `Agents`, `Configuration`).
    pub fn name(self) -> &'static str {
        match self {
            Category::Task => "Tasks",
            Category::Agent => "Agents",
            Category::Configuration => "Configuration",
        }
    }

    /// Parses a category name, ignoring case.
    pub fn parse(name: &str) -> Option<Category> {
        Category::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(name))
    }
}

/// Every event type and its category, in the order of the core's `EventKind`.
pub const EVENT_TYPES: &[(&str, Category)] = &[
    ("ServiceUpserted", Category::Configuration),
    ("ServiceRemoved", Category::Configuration),
    ("ProfileUpserted", Category::Configuration),
    ("AgentUpserted", Category::Agent),
    ("AgentRemoved", Category::Agent),
    ("MembershipChanged", Category::Agent),
    ("AgentPresenceChanged", Category::Agent),
    ("AgentLoggedIn", Category::Agent),
    ("AgentLoggedOut", Category::Agent),
    ("AgentBlocked", Category::Agent),
    ("AgentAbsence", Category::Agent),
    ("AgentPause", Category::Agent),
    ("AgentProfileChanged", Category::Agent),
    ("AgentWrapupStarted", Category::Agent),
    ("AgentStatusChanged", Category::Agent),
    ("TaskCreated", Category::Task),
    ("TaskScheduled", Category::Task),
    ("TaskQueued", Category::Task),
    ("TaskOffered", Category::Task),
    ("TaskEstablished", Category::Task),
    ("TaskRona", Category::Task),
    ("TaskDeclined", Category::Task),
    ("TaskHeld", Category::Task),
    ("TaskResumed", Category::Task),
    ("TaskPriorityChanged", Category::Task),
    ("TaskAttributesChanged", Category::Task),
    ("TaskReserved", Category::Task),
    ("TaskReservationExpired", Category::Task),
    ("TaskOverflowed", Category::Task),
    ("TaskRefreshed", Category::Task),
    ("ConsultationStarted", Category::Task),
    ("ConsultationMerged", Category::Task),
    ("ConsultationAudioRoutesChanged", Category::Task),
    ("ConsultationCustomerLeft", Category::Task),
    ("ConsultationEnded", Category::Task),
    ("TaskTerminated", Category::Task),
    ("TaskClaimed", Category::Task),
    ("TaskClaimReleased", Category::Task),
    ("TaskRescheduled", Category::Task),
];

/// The category of an event type name, if it is one.
pub fn type_category(name: &str) -> Option<(&'static str, Category)> {
    EVENT_TYPES
        .iter()
        .find(|(known, _)| known.eq_ignore_ascii_case(name))
        .copied()
}

/// One event as integrators receive it.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema, PartialEq)]
#[serde(rename_all = "PascalCase")]
pub struct EventDto {
    /// The tenant's sequence number: starts at 1, no gaps; the cursor (`after`, `Last-Event-ID`).
    pub sequence: u64,
    /// When it happened, RFC 3339 in UTC with microseconds (`2019-06-27T11:58:35.499691Z`).
    pub time: String,
    /// The event type, such as `TaskOffered` or `AgentStatusChanged`.
    #[serde(rename = "Type")]
    pub event_type: String,
    /// `Tasks`, `Agents` or `Configuration`: what a key's roles must cover to read it.
    pub category: String,
    /// The task it concerns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
    /// The service it concerns: the event's own, or for task events the task's service.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_id: Option<String>,
    /// The user (agent) it concerns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The type's own fields (see docs/events.md).
    pub data: Map<String, Value>,
}

/// `2019-06-27T11:58:35.499691Z`.
pub fn rfc3339(time: Time) -> String {
    let micros = time.as_micros();
    let (days, rem) = (
        micros.div_euclid(86_400_000_000),
        micros.rem_euclid(86_400_000_000),
    );
    let (year, month, day) = civil_from_days(days);
    let seconds = rem / 1_000_000;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60,
        rem % 1_000_000
    )
}

/// What an event concerns, as far as the event itself says.
pub struct Subjects {
    /// The task.
    pub task: Option<TaskId>,
    /// The service, when the event names it.
    pub service: Option<ServiceId>,
    /// The agent.
    pub agent: Option<AgentId>,
}

/// The task, service and agent an event names itself.
pub fn subjects(kind: &EventKind) -> Subjects {
    use EventKind::*;
    let (task, service) = match kind {
        ServiceUpserted { service } | ServiceRemoved { service } => (None, Some(*service)),
        MembershipChanged { service, .. } => (None, Some(*service)),
        TaskCreated { task, service, .. } | TaskQueued { task, service, .. } => {
            (Some(*task), Some(*service))
        }
        TaskOverflowed { task, to, .. } => (Some(*task), Some(*to)),
        TaskTerminated { task, record, .. } => (Some(*task), Some(record.service)),
        TaskScheduled { task, .. }
        | TaskOffered { task, .. }
        | TaskEstablished { task, .. }
        | TaskRona { task, .. }
        | TaskDeclined { task, .. }
        | TaskHeld { task }
        | TaskResumed { task }
        | TaskPriorityChanged { task, .. }
        | TaskAttributesChanged { task, .. }
        | TaskReserved { task, .. }
        | TaskReservationExpired { task }
        | TaskClaimed { task, .. }
        | TaskClaimReleased { task }
        | TaskRescheduled { task, .. }
        | TaskRefreshed { task }
        | ConsultationStarted { task, .. }
        | ConsultationMerged { task }
        | ConsultationAudioRoutesChanged { task, .. }
        | ConsultationCustomerLeft { task }
        | ConsultationEnded { task, .. } => (Some(*task), None),
        _ => (None, None),
    };
    let agent = match kind {
        TaskReserved { agent, .. } => Some(*agent),
        TaskRescheduled { agent, .. } => *agent,
        other => crate::hub::event_agent(other),
    };
    Subjects {
        task,
        service,
        agent,
    }
}

/// The type name and category of an event.
pub fn event_type(kind: &EventKind) -> (&'static str, Category) {
    use EventKind::*;
    let index = match kind {
        ServiceUpserted { .. } => 0,
        ServiceRemoved { .. } => 1,
        ProfileUpserted { .. } => 2,
        AgentUpserted { .. } => 3,
        AgentRemoved { .. } => 4,
        MembershipChanged { .. } => 5,
        AgentPresenceChanged { .. } => 6,
        AgentLoggedIn { .. } => 7,
        AgentLoggedOut { .. } => 8,
        AgentBlocked { .. } => 9,
        AgentAbsence { .. } => 10,
        AgentPause { .. } => 11,
        AgentProfileChanged { .. } => 12,
        AgentWrapupStarted { .. } => 13,
        AgentStatusChanged { .. } => 14,
        TaskCreated { .. } => 15,
        TaskScheduled { .. } => 16,
        TaskQueued { .. } => 17,
        TaskOffered { .. } => 18,
        TaskEstablished { .. } => 19,
        TaskRona { .. } => 20,
        TaskDeclined { .. } => 21,
        TaskHeld { .. } => 22,
        TaskResumed { .. } => 23,
        TaskPriorityChanged { .. } => 24,
        TaskAttributesChanged { .. } => 25,
        TaskReserved { .. } => 26,
        TaskReservationExpired { .. } => 27,
        TaskOverflowed { .. } => 28,
        TaskRefreshed { .. } => 29,
        ConsultationStarted { .. } => 30,
        ConsultationMerged { .. } => 31,
        ConsultationAudioRoutesChanged { .. } => 32,
        ConsultationCustomerLeft { .. } => 33,
        ConsultationEnded { .. } => 34,
        TaskTerminated { .. } => 35,
        TaskClaimed { .. } => 36,
        TaskClaimReleased { .. } => 37,
        TaskRescheduled { .. } => 38,
    };
    EVENT_TYPES[index]
}

fn optional_time(time: Option<Time>) -> Value {
    time.map(|t| Value::String(rfc3339(t)))
        .unwrap_or(Value::Null)
}

/// The type's own fields.
fn data(kind: &EventKind) -> Value {
    use EventKind::*;
    match kind {
        ProfileUpserted { profile } => json!({"ProfileId": profile.to_string()}),
        MembershipChanged { penalty, .. } => {
            json!({"Member": penalty.is_some(), "Penalty": penalty})
        }
        AgentPresenceChanged { presence, .. } => json!({"Presence": presence.name()}),
        AgentLoggedIn { line, .. } => json!({"Line": line}),
        AgentBlocked { blocked, .. } => json!({"Blocked": blocked}),
        AgentAbsence { reason, .. } => json!({"Absent": reason.is_some(), "Reason": reason}),
        AgentPause { reason, .. } => json!({"Paused": reason.is_some(), "Reason": reason}),
        AgentProfileChanged { profile, .. } => {
            json!({"ProfileId": profile.map(|p| p.to_string())})
        }
        AgentWrapupStarted { until, .. } => json!({"Until": rfc3339(*until)}),
        AgentStatusChanged {
            state,
            selectable,
            reason,
            ..
        } => json!({
            "State": state.xuc_name(),
            "IsSelectable": selectable,
            "NotSelectableReason": reason.map(|r| r.name()),
        }),
        TaskCreated { priority, .. } => json!({"Priority": priority.0}),
        TaskScheduled { due, .. } => json!({"Due": rfc3339(*due)}),
        TaskQueued { reason, .. } => json!({"Reason": reason.name()}),
        TaskOffered {
            selection,
            deadline,
            ..
        } => {
            json!({"SelectionAlgorithm": selection.name(), "RonaDeadline": optional_time(*deadline)})
        }
        TaskPriorityChanged { priority, .. } => json!({"Priority": priority.0}),
        TaskAttributesChanged { attributes, .. } => {
            let attributes: Map<String, Value> = attributes
                .iter()
                .map(|(name, value)| (name.clone(), Value::String(value.clone())))
                .collect();
            json!({ "Attributes": attributes })
        }
        TaskReserved { until, .. } => json!({"Until": rfc3339(*until)}),
        TaskRescheduled { due, .. } => json!({"Due": rfc3339(*due)}),
        TaskOverflowed { from, to, .. } => {
            json!({"FromServiceId": from.to_string(), "ToServiceId": to.to_string()})
        }
        ConsultationStarted { target, .. } => match target {
            ConsultationTarget::Agent(agent) => json!({"TargetUserId": agent.to_string()}),
            ConsultationTarget::External(target) => json!({ "Target": target }),
        },
        ConsultationAudioRoutesChanged { routes, .. } => json!({
            "CustomerHearsConsultant": routes.customer_hears_consultant,
            "ConsultantHearsCustomer": routes.consultant_hears_customer,
        }),
        ConsultationEnded { end, .. } => json!({"End": end.name()}),
        TaskTerminated { reason, record, .. } => json!({
            "Reason": reason.name(),
            "ExternalTaskId": record.external_id,
            "Number": record.number,
            "TaskType": task_type_name(record.kind, record.direction == switchboard_core::Direction::Outbound),
            "Created": rfc3339(record.created),
            "Connected": optional_time(record.connected_at),
            "Terminated": optional_time(record.terminated),
            "Offers": record.n_offers,
            "SelectionAlgorithm": record.selection.map(|s| s.name()),
        }),
        _ => json!({}),
    }
}

/// The wire form of an event; `service` is the task's service for task events that do not name it.
pub fn render(event: &Event, service: Option<ServiceId>) -> EventDto {
    let (name, category) = event_type(&event.kind);
    let subjects = subjects(&event.kind);
    let data = match data(&event.kind) {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    EventDto {
        sequence: event.seq,
        time: rfc3339(event.at),
        event_type: name.to_string(),
        category: category.name().to_string(),
        task_id: subjects.task.map(|t| t.to_string()),
        service_id: subjects.service.or(service).map(|s| s.to_string()),
        user_id: subjects.agent.map(|a| a.to_string()),
        data,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_with_microseconds() {
        assert_eq!(
            rfc3339(Time(1_561_636_715_499_691)),
            "2019-06-27T11:58:35.499691Z"
        );
        assert_eq!(rfc3339(Time(0)), "1970-01-01T00:00:00.000000Z");
    }

    #[test]
    fn every_type_name_is_unique_and_parses() {
        let mut names: Vec<&str> = EVENT_TYPES.iter().map(|(n, _)| *n).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), EVENT_TYPES.len());
        assert_eq!(
            type_category("taskoffered"),
            Some(("TaskOffered", Category::Task))
        );
        assert_eq!(Category::parse("agents"), Some(Category::Agent));
    }
}
