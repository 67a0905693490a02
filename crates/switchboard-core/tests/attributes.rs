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

#[test]
fn set_attributes_replaces_by_name_adds_new_ones_and_is_reported() {
    let mut engine = Engine::new(EngineConfig::default());
    let now = Time::from_secs(100);
    let service = ServiceId(Uuid::from_u128(1));
    engine
        .upsert_service(now, ServiceSpec::new(service, "S"))
        .unwrap();
    let mut spec = TaskSpec::new(TaskId(Uuid::from_u128(2)), service);
    spec.attributes = vec![
        ("Subject".into(), "Invoice".into()),
        ("Uri".into(), "http://crm/1".into()),
    ];
    engine.create_task(now, spec.clone()).unwrap();
    engine.drain_events().for_each(drop);

    let later = Time::from_secs(160);
    engine
        .apply(
            later,
            Command::SetAttributes {
                task: spec.id,
                attributes: vec![
                    ("Subject".into(), "Urgent: invoice".into()),
                    ("Note".into(), "call first".into()),
                ],
            },
        )
        .unwrap();
    let expected = vec![
        ("Subject".to_string(), "Urgent: invoice".to_string()),
        ("Uri".to_string(), "http://crm/1".to_string()),
        ("Note".to_string(), "call first".to_string()),
    ];
    assert_eq!(engine.task_info(spec.id).unwrap().attributes, expected);
    let events: Vec<Event> = engine.drain_events().collect();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].at, later);
    assert_eq!(
        events[0].kind,
        EventKind::TaskAttributesChanged {
            task: spec.id,
            attributes: vec![
                ("Subject".into(), "Urgent: invoice".into()),
                ("Note".into(), "call first".into()),
            ],
        }
    );

    // A task created without attributes gets its first ones.
    let plain = TaskSpec::new(TaskId(Uuid::from_u128(3)), service);
    engine.create_task(later, plain.clone()).unwrap();
    engine
        .set_attributes(later, plain.id, vec![("Subject".into(), "Hello".into())])
        .unwrap();
    assert_eq!(
        engine.task_info(plain.id).unwrap().attributes,
        vec![("Subject".to_string(), "Hello".to_string())]
    );

    // Snapshots and the final record keep the changed values; the routing state is untouched.
    let mut restored = Engine::restore(engine.snapshot()).unwrap();
    assert_eq!(restored.snapshot(), engine.snapshot());
    assert_eq!(restored.task_info(spec.id).unwrap().attributes, expected);
    assert_eq!(restored.queue_position(spec.id), Some(1));
    let record = restored
        .terminate(later, spec.id, TerminationReason::Cancelled)
        .unwrap();
    assert_eq!(record.attributes, expected);

    // An unknown or finished task is refused and nothing is emitted.
    restored.drain_events().for_each(drop);
    assert_eq!(
        restored.set_attributes(later, spec.id, vec![("Subject".into(), "x".into())]),
        Err(TaskError::UnknownTask(spec.id))
    );
    assert_eq!(restored.drain_events().count(), 0);
}

#[test]
fn next_task_number_is_never_a_number_given_out_before() {
    let mut engine = Engine::new(EngineConfig::default());
    let now = Time::from_secs(100);
    let service = ServiceId(Uuid::from_u128(1));
    engine
        .upsert_service(now, ServiceSpec::new(service, "S"))
        .unwrap();
    assert_eq!(engine.next_task_number(), 1);
    let first = TaskSpec::new(TaskId(Uuid::from_u128(10)), service);
    engine.create_task(now, first.clone()).unwrap();
    assert_eq!(engine.task_info(first.id).unwrap().number, 1);
    assert_eq!(engine.next_task_number(), 2);

    // A caller claims the next number for a task of its own; the engine moves on past it.
    let mut claimed = TaskSpec::new(TaskId(Uuid::from_u128(11)), service);
    claimed.number = Some(engine.next_task_number());
    engine.create_task(now, claimed.clone()).unwrap();
    assert_eq!(engine.task_info(claimed.id).unwrap().number, 2);
    let mut high = TaskSpec::new(TaskId(Uuid::from_u128(12)), service);
    high.number = Some(40);
    engine.create_task(now, high.clone()).unwrap();
    assert_eq!(engine.next_task_number(), 41);

    // Finished tasks' numbers are not given out again, also after a restore from a snapshot.
    engine
        .terminate(now, high.id, TerminationReason::Cancelled)
        .unwrap();
    engine
        .terminate(now, claimed.id, TerminationReason::Cancelled)
        .unwrap();
    let mut restored = Engine::restore(engine.snapshot()).unwrap();
    assert_eq!(restored.next_task_number(), 41);
    let after = TaskSpec::new(TaskId(Uuid::from_u128(13)), service);
    restored.create_task(now, after.clone()).unwrap();
    assert_eq!(restored.task_info(after.id).unwrap().number, 41);
    assert_eq!(restored.next_task_number(), 42);
}
