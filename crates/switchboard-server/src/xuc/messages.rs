//! The xuc wire forms of the engine's state: every server-to-client message is
//! `{"msgType": TYPE, "ctiMessage": BODY}`; agents and queues are named by their integer ids.

use serde_json::{json, Value};
use switchboard_core::{
    AgentInfo, AgentState, Direction, Engine, ServiceId, ServiceInfo, TaskInfo, TaskKind,
    TaskStatus, Time,
};

/// One message.
pub fn message(msg_type: &str, body: Value) -> String {
    json!({"msgType": msg_type, "ctiMessage": body}).to_string()
}

/// An error that names the problem (`Error`).
pub fn error(text: impl Into<String>) -> String {
    message("Error", json!({"Error": text.into()}))
}

fn service_number(engine: &Engine, service: ServiceId) -> Option<u32> {
    engine.service_spec(service).map(|(_, number)| number)
}

/// The services an agent serves, by number, in number order.
pub fn queue_numbers(engine: &Engine, info: &AgentInfo) -> Vec<u32> {
    let mut numbers: Vec<u32> = info
        .memberships
        .iter()
        .filter_map(|(service, _)| service_number(engine, *service))
        .collect();
    numbers.sort_unstable();
    numbers
}

/// `AgentStateEvent`'s body.
pub fn agent_state(engine: &Engine, info: &AgentInfo, now: Time) -> Value {
    let since = (now.as_micros() - info.state_since.as_micros()).max(0) / 1_000_000;
    let mut body = json!({
        "name": info.state.xuc_name(),
        "agentId": info.number,
        "phoneNb": info.line.clone().unwrap_or_default(),
        "since": since,
        "queues": queue_numbers(engine, info),
        "cause": info.paused.clone().or_else(|| info.absent.clone()).unwrap_or_default(),
    });
    // An extension for wallboards: the task the agent is offered or handles (docs/cti.md).
    let current = info
        .tasks
        .iter()
        .filter_map(|t| engine.task_info(*t))
        .min_by_key(|t| t.status != TaskStatus::Offered);
    if let Some(task) = &current {
        let queue = engine.service_spec(task.service);
        body["task"] = json!({
            "taskId": task.id.to_string(),
            "customer": task.customer,
            "queueId": queue.map(|(_, number)| number),
            "queueName": queue.map(|(spec, _)| spec.name.clone()),
            "taskType": kind_name(task.kind),
            "state": crate::lucs::dto::task_state_name(task.status),
        });
    }
    if info.state == AgentState::OnCall {
        let task = info
            .tasks
            .iter()
            .filter_map(|t| engine.task_info(*t))
            .find(|t| matches!(t.status, TaskStatus::Established | TaskStatus::OnHold));
        let outbound = task
            .as_ref()
            .is_some_and(|t| t.direction == Direction::Outbound);
        body["acd"] = json!(task.is_some());
        body["direction"] = json!(if outbound { "Outgoing" } else { "Incoming" });
        body["callType"] = json!("External");
        body["monitorState"] = json!("ACTIVE");
    }
    body
}

/// `AgentList` item and the `agent` of the directory.
pub fn agent_item(info: &AgentInfo) -> Value {
    json!({
        "id": info.number,
        "firstName": info.spec.identity.first_name,
        "lastName": info.spec.identity.last_name,
        "number": info.number.to_string(),
        "context": "default",
        "groupId": info.spec.group,
    })
}

/// `AgentConfig`: the agent with its queue memberships.
pub fn agent_config(engine: &Engine, info: &AgentInfo) -> Value {
    let members: Vec<Value> = info
        .memberships
        .iter()
        .filter_map(|(service, penalty)| {
            let (queue, queue_number) = engine.service_spec(*service)?;
            Some(json!({
                "queue_name": queue.name,
                "queue_id": queue_number,
                "interface": format!("Agent/{}", info.number),
                "penalty": penalty,
                "commented": 0,
                "usertype": "Agent",
                "userid": info.number,
                "channel": "Agent",
                "category": "Queue",
                "position": 1,
            }))
        })
        .collect();
    json!({
        "id": info.number,
        "firstname": info.spec.identity.first_name,
        "lastname": info.spec.identity.last_name,
        "number": info.number.to_string(),
        "context": "default",
        "member": members,
        "numgroup": info.spec.group,
        "userid": info.number,
    })
}

/// `QueueList` item.
pub fn queue_item(info: &ServiceInfo) -> Value {
    json!({
        "id": info.number,
        "name": info.spec.name,
        "displayName": info.spec.name,
        "number": info.spec.tel_number,
        "context": "default",
    })
}

/// `QueueMember`: penalty -1 when the agent left the queue.
pub fn queue_member(agent: u32, queue: u32, penalty: Option<u32>) -> Value {
    json!({
        "agentId": agent,
        "queueId": queue,
        "penalty": penalty.map(i64::from).unwrap_or(-1),
    })
}

/// `Sheet`: an offered task with its context, in seed 004's form. The entries name the task (`taskId`, the
/// id `answer` and `decline` take), its queue, customer, type, RONA deadline and every context parameter; a
/// context parameter that is a URL (`ContextUrl`, `SheetUrl`, `popupUrl`) becomes `popupUrl` of type `url`.
pub fn sheet(engine: &Engine, task: &TaskInfo, now: Time) -> Value {
    let queue = engine.service_spec(task.service);
    let mut entries = vec![
        ("taskId", task.id.to_string(), "text"),
        (
            "queueId",
            queue
                .as_ref()
                .map(|(_, number)| number.to_string())
                .unwrap_or_default(),
            "text",
        ),
        (
            "queueName",
            queue.map(|(q, _)| q.name.clone()).unwrap_or_default(),
            "text",
        ),
        ("customer", task.customer.clone(), "text"),
        ("taskType", kind_name(task.kind).to_string(), "text"),
    ];
    if let Some(deadline) = task.offer_deadline {
        let seconds = (deadline.as_micros() - now.as_micros()).max(0) / 1_000_000;
        entries.push(("ronaInSeconds", seconds.to_string(), "text"));
    }
    let mut info: Vec<Value> = entries
        .into_iter()
        .enumerate()
        .map(|(order, (name, value, kind))| {
            json!({"name": name, "value": value, "order": (order + 1) * 10, "type": kind})
        })
        .collect();
    for (name, value) in &task.context {
        let is_url = ["contexturl", "sheeturl", "popupurl"].contains(&name.to_lowercase().as_str());
        let order = (info.len() + 1) * 10;
        info.push(if is_url {
            json!({"name": "popupUrl", "value": value, "order": order, "type": "url"})
        } else {
            json!({"name": name, "value": value, "order": order, "type": "text"})
        });
    }
    json!({
        "timenow": now.as_micros() / 1_000_000,
        "compressed": false,
        "serial": "json",
        "payload": {"profile": {"user": {"sheetInfo": info}}},
        "channel": task.id.to_string(),
    })
}

fn kind_name(kind: TaskKind) -> &'static str {
    match kind {
        TaskKind::External => "External",
        TaskKind::Callback => "Callback",
        TaskKind::Call => "Call",
        TaskKind::Chat => "Chat",
        TaskKind::Mail => "Mail",
        TaskKind::Block => "Block",
    }
}
