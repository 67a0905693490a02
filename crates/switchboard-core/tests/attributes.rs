//! Dialect attributes ride along with a task: readable while it lives, kept by snapshots, and in its final record.

use switchboard_core::*;
use uuid::Uuid;

#[test]
fn attributes_are_carried_snapshotted_and_recorded() {
    let mut engine = Engine::new(EngineConfig::default());
    let now = Time::from_secs(100);
    let service = ServiceId(Uuid::from_u128(1));
    engine
        .upsert_service(now, ServiceSpec::new(service, "S"))
        .unwrap();
    let mut spec = TaskSpec::new(TaskId(Uuid::from_u128(2)), service);
    spec.attributes = vec![
        ("Target".into(), "+41790000000".into()),
        ("MaxRetries".into(), "3".into()),
    ];
    let plain = TaskSpec::new(TaskId(Uuid::from_u128(3)), service);
    engine.create_task(now, spec.clone()).unwrap();
    engine.create_task(now, plain).unwrap();
    assert_eq!(
        engine.task_info(spec.id).unwrap().attributes,
        spec.attributes
    );
    assert!(engine
        .task_info(TaskId(Uuid::from_u128(3)))
        .unwrap()
        .attributes
        .is_empty());

    let mut restored = Engine::restore(engine.snapshot()).unwrap();
    assert_eq!(restored.snapshot(), engine.snapshot());
    assert_eq!(
        restored.task_info(spec.id).unwrap().attributes,
        spec.attributes
    );

    let record = restored
        .terminate(now, spec.id, TerminationReason::Cancelled)
        .unwrap();
    assert_eq!(record.attributes, spec.attributes);
    let event_record = restored
        .drain_events()
        .find_map(|e| match e.kind {
            EventKind::TaskTerminated { record, .. } => Some(record),
            _ => None,
        })
        .unwrap();
    assert_eq!(event_record.attributes, spec.attributes);
    // The slot is reused without inheriting anything.
    let reuse = TaskSpec::new(TaskId(Uuid::from_u128(4)), service);
    restored.create_task(now, reuse).unwrap();
    assert!(restored
        .task_info(TaskId(Uuid::from_u128(4)))
        .unwrap()
        .attributes
        .is_empty());
}
