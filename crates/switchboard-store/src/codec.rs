//! Turning records into rows and back. Bodies are JSON of the core types (the core's `serde` feature); the
//! format is versioned with the schema, and stored bodies are only ever read by the store.

use switchboard_core::{Command, Event, EventKind, Snapshot, TaskInfo, TaskKind};

use crate::error::StoreError;
use crate::records::{Batch, CommandRecord};

/// A command row.
pub(crate) struct CommandRow {
    pub seq: i64,
    pub at: i64,
    pub body: String,
}

/// An event row.
pub(crate) struct EventRow {
    pub seq: i64,
    pub at: i64,
    pub kind: String,
    pub body: String,
}

/// A history row.
pub(crate) struct HistoryRow {
    pub task_id: String,
    pub external_id: Option<String>,
    pub service: String,
    pub agent: Option<String>,
    pub reason: String,
    pub kind: String,
    pub created: i64,
    pub terminated: i64,
    pub body: String,
}

/// A snapshot row: `packed` is an LZ4 frame of the snapshot's JSON.
pub(crate) struct SnapshotRow {
    pub command_seq: i64,
    pub event_seq: i64,
    pub packed: Vec<u8>,
}

/// A stored snapshot body as read back: packed (schema 6 on), or the plain JSON that earlier versions wrote.
pub(crate) enum SnapshotBody {
    Json(String),
    Packed(Vec<u8>),
}

impl SnapshotBody {
    /// Reads the `body` and `packed` columns of a snapshot row.
    pub(crate) fn from_columns(body: String, packed: Option<Vec<u8>>) -> SnapshotBody {
        match packed {
            Some(packed) => SnapshotBody::Packed(packed),
            None => SnapshotBody::Json(body),
        }
    }
}

/// Encodes a snapshot: JSON (tolerant of fields added later, like every stored body) streamed through an LZ4
/// frame with a content checksum. A 10,100-agent tenant's 10 MB of JSON packs to a fraction of that, which is
/// what has to be written and synced (BENCHMARKS.md, CTI websocket).
pub(crate) fn encode_snapshot(
    record: &crate::records::SnapshotRecord,
) -> Result<SnapshotRow, StoreError> {
    let frame = lz4_flex::frame::FrameInfo::new().content_checksum(true);
    let mut encoder = lz4_flex::frame::FrameEncoder::with_frame_info(frame, Vec::new());
    serde_json::to_writer(&mut encoder, &record.snapshot)
        .map_err(|error| StoreError::Corrupt(format!("cannot encode a snapshot: {error}")))?;
    let packed = encoder
        .finish()
        .map_err(|error| StoreError::Corrupt(format!("cannot pack a snapshot: {error}")))?;
    Ok(SnapshotRow {
        command_seq: record.command_seq as i64,
        event_seq: record.snapshot.event_seq as i64,
        packed,
    })
}

/// A batch in row form, ready for one transaction.
pub(crate) struct EncodedBatch {
    pub tenant: String,
    pub lease: Option<crate::records::Lease>,
    pub commands: Vec<CommandRow>,
    pub events: Vec<EventRow>,
    pub history: Vec<HistoryRow>,
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value)
        .map_err(|error| StoreError::Corrupt(format!("cannot encode: {error}")))
}

/// The name of a task kind, for the history's `kind` column: its JSON name (`Callback`, `Call`...), which the
/// migration that added the column also read from the stored bodies.
pub(crate) fn task_kind_name(kind: TaskKind) -> String {
    match serde_json::to_value(kind) {
        Ok(serde_json::Value::String(name)) => name,
        _ => format!("{kind:?}"),
    }
}

/// The name of an event kind, for the `kind` column (`TaskOffered`, `AgentStatusChanged`...).
pub(crate) fn event_kind_name(kind: &EventKind) -> String {
    match serde_json::to_value(kind) {
        Ok(serde_json::Value::Object(map)) => map.keys().next().cloned().unwrap_or_default(),
        Ok(serde_json::Value::String(name)) => name,
        _ => String::new(),
    }
}

pub(crate) fn encode_batch(batch: Batch) -> Result<EncodedBatch, StoreError> {
    let mut commands = Vec::with_capacity(batch.commands.len());
    for record in &batch.commands {
        commands.push(CommandRow {
            seq: record.seq as i64,
            at: record.at.as_micros(),
            body: to_json(&record.command)?,
        });
    }
    let mut events = Vec::with_capacity(batch.events.len());
    let mut history = Vec::new();
    for event in &batch.events {
        if let EventKind::TaskTerminated { record, .. } = &event.kind {
            history.push(HistoryRow {
                task_id: record.id.to_string(),
                external_id: record.external_id.clone(),
                service: record.service.to_string(),
                agent: record.last_agent.map(|a| a.to_string()),
                reason: record
                    .termination_reason
                    .map(|r| r.name().to_string())
                    .unwrap_or_default(),
                kind: task_kind_name(record.kind),
                created: record.created.as_micros(),
                terminated: record.terminated.unwrap_or(event.at).as_micros(),
                body: to_json(record.as_ref())?,
            });
        }
        events.push(EventRow {
            seq: event.seq as i64,
            at: event.at.as_micros(),
            kind: event_kind_name(&event.kind),
            body: to_json(event)?,
        });
    }
    Ok(EncodedBatch {
        tenant: batch.tenant,
        lease: batch.lease,
        commands,
        events,
        history,
    })
}

pub(crate) fn decode_command(seq: i64, at: i64, body: &str) -> Result<CommandRecord, StoreError> {
    let command: Command = serde_json::from_str(body)
        .map_err(|error| StoreError::Corrupt(format!("command {seq}: {error}")))?;
    Ok(CommandRecord {
        seq: seq as u64,
        at: switchboard_core::Time(at),
        command,
    })
}

pub(crate) fn decode_event(body: &str) -> Result<Event, StoreError> {
    serde_json::from_str(body).map_err(|error| StoreError::Corrupt(format!("event: {error}")))
}

pub(crate) fn decode_snapshot(body: &SnapshotBody) -> Result<Snapshot, StoreError> {
    let corrupt = |error: &dyn std::fmt::Display| StoreError::Corrupt(format!("snapshot: {error}"));
    match body {
        SnapshotBody::Json(json) => serde_json::from_str(json).map_err(|e| corrupt(&e)),
        SnapshotBody::Packed(packed) => {
            let mut json = Vec::with_capacity(packed.len().saturating_mul(6));
            std::io::Read::read_to_end(
                &mut lz4_flex::frame::FrameDecoder::new(packed.as_slice()),
                &mut json,
            )
            .map_err(|e| corrupt(&e))?;
            serde_json::from_slice(&json).map_err(|e| corrupt(&e))
        }
    }
}

pub(crate) fn decode_history(body: &str) -> Result<TaskInfo, StoreError> {
    serde_json::from_str(body).map_err(|error| StoreError::Corrupt(format!("history: {error}")))
}
