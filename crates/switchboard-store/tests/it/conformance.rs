//! The storage contract, run against every backend.

use std::sync::Arc;

use switchboard_core::*;
use switchboard_store::{HistoryQuery, Journal, Store, StoreError, SCHEMA_VERSION};

use crate::{agent_id, backends, id, options, run, service_id, setup, TestDb};

/// A tenant's state after a restart equals its state before, exactly, whether it is rebuilt from the command
/// log alone or from a snapshot plus the commands after it.
#[test]
fn recovery_restores_the_exact_engine_state() {
    for db in backends() {
        for snapshot_every in [1_000_000, 7, 1] {
            let tenant = format!("acme-{snapshot_every}");
            let before = {
                let store = Store::open(db.url()).expect("open");
                let mut journal =
                    Journal::open(&store, &tenant, options(snapshot_every)).expect("journal");
                setup(&mut journal, &store, 3);
                let mut now = Time::from_secs(2_000);
                for n in 0..20u128 {
                    let mut spec = TaskSpec::new(TaskId(id(10_000 + n)), service_id());
                    spec.priority = Priority((n % 4) as i32);
                    spec.external_id = Some(format!("ext-{n}"));
                    run(&mut journal, &store, now, Command::CreateTask(spec)).expect("create");
                    now = now.plus(Span::from_secs(1));
                }
                // Accept and finish a few, let one offer time out (RONA), and refuse an illegal transition.
                for n in 0..3u128 {
                    run(
                        &mut journal,
                        &store,
                        now,
                        Command::Establish {
                            task: TaskId(id(10_000 + n)),
                            agent: None,
                        },
                    )
                    .ok();
                }
                let refused = run(
                    &mut journal,
                    &store,
                    now,
                    Command::Establish {
                        task: TaskId(id(10_000)),
                        agent: None,
                    },
                );
                assert_eq!(
                    refused.unwrap_err(),
                    CommandError::Task(TaskError::AlreadyEstablished)
                );
                run(
                    &mut journal,
                    &store,
                    now,
                    Command::Terminate {
                        task: TaskId(id(10_001)),
                        reason: TerminationReason::Completed,
                    },
                )
                .expect("terminate");
                run(
                    &mut journal,
                    &store,
                    now.plus(Span::from_secs(31)),
                    Command::Advance,
                )
                .expect("advance");
                journal.engine().snapshot()
            };
            let store = Store::open(db.url()).expect("reopen");
            let journal = Journal::open(&store, &tenant, options(snapshot_every)).expect("recover");
            assert_eq!(
                journal.engine().snapshot(),
                before,
                "{}: state after restart (snapshot every {snapshot_every})",
                db.name()
            );
        }
    }
}

/// Every event is stored with its sequence number and can be read back from any point; terminated tasks are
/// in the history, findable by id and external id.
#[test]
fn events_and_history_are_queryable() {
    for db in backends() {
        let store = Store::open(db.url()).expect("open");
        let mut journal = Journal::open(&store, "acme", options(1_000)).expect("journal");
        setup(&mut journal, &store, 1);
        let now = Time::from_secs(3_000);
        for n in 0..3u128 {
            let mut spec = TaskSpec::new(TaskId(id(20_000 + n)), service_id());
            spec.external_id = Some(format!("order-{n}"));
            run(&mut journal, &store, now, Command::CreateTask(spec)).expect("create");
        }
        run(
            &mut journal,
            &store,
            now,
            Command::Establish {
                task: TaskId(id(20_000)),
                agent: Some(agent_id(0)),
            },
        )
        .expect("establish");
        for n in 0..2u128 {
            run(
                &mut journal,
                &store,
                now.plus(Span::from_secs(60)),
                Command::Terminate {
                    task: TaskId(id(20_000 + n)),
                    reason: TerminationReason::Completed,
                },
            )
            .expect("terminate");
        }
        let events = store.events_after("acme", 0, 10_000).expect("events");
        let seqs: Vec<u64> = events.iter().map(|e| e.seq).collect();
        assert_eq!(
            seqs,
            (1..=journal.engine().last_event_seq()).collect::<Vec<_>>(),
            "{}",
            db.name()
        );
        let tail = store.events_after("acme", 5, 3).expect("tail");
        assert_eq!(
            tail.iter().map(|e| e.seq).collect::<Vec<_>>(),
            vec![6, 7, 8]
        );

        let history = store
            .history("acme", &HistoryQuery::default())
            .expect("history");
        assert_eq!(history.len(), 2, "{}", db.name());
        let first = store
            .history_task("acme", "order-0")
            .expect("by external id")
            .expect("found");
        assert_eq!(first.id, TaskId(id(20_000)));
        assert_eq!(first.status, TaskStatus::Terminated);
        assert_eq!(first.last_agent, Some(agent_id(0)));
        assert_eq!(first.termination_reason, Some(TerminationReason::Completed));
        assert!(first.connected_at.is_some());
        let by_id = store
            .history_task("acme", &id(20_001).to_string())
            .expect("by id")
            .expect("found");
        assert_eq!(by_id.external_id.as_deref(), Some("order-1"));
        let filtered = store
            .history(
                "acme",
                &HistoryQuery {
                    external_id: Some("order-1".into()),
                    ..HistoryQuery::default()
                },
            )
            .expect("filtered");
        assert_eq!(filtered.len(), 1);
        let count = |query: HistoryQuery| store.history("acme", &query).expect("by kind").len();
        assert_eq!(
            count(HistoryQuery {
                kind: Some(TaskKind::External),
                ..HistoryQuery::default()
            }),
            2,
            "{}",
            db.name()
        );
        assert_eq!(
            count(HistoryQuery {
                kind: Some(TaskKind::Callback),
                ..HistoryQuery::default()
            }),
            0
        );
        assert_eq!(
            count(HistoryQuery {
                created_from: Some(now),
                created_until: Some(now.plus(Span::from_secs(1))),
                ..HistoryQuery::default()
            }),
            2
        );
        assert_eq!(
            count(HistoryQuery {
                created_from: Some(now.plus(Span::from_secs(1))),
                ..HistoryQuery::default()
            }),
            0
        );
        assert!(store
            .history_task("acme", "order-2")
            .expect("live")
            .is_none());
        assert_eq!(store.tenants().expect("tenants"), vec!["acme".to_string()]);

        // Retention removes what is older than the cut.
        let (n_events, n_history) = store
            .prune(Time::from_secs(3_030), Time::from_secs(3_030))
            .expect("prune");
        assert!(n_events > 0, "{}", db.name());
        assert_eq!(n_history, 0);
        let (_, n_history) = store
            .prune(Time::from_secs(3_030), Time::from_secs(4_000))
            .expect("prune history");
        assert_eq!(n_history, 2);
    }
}

/// Writes submitted concurrently are all acknowledged, and fewer transactions than writes are needed.
#[test]
fn group_commit_batches_concurrent_writes() {
    for db in backends() {
        let store = Arc::new(Store::open(db.url()).expect("open"));
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let store = store.clone();
                std::thread::spawn(move || {
                    let tenant = format!("tenant-{t}");
                    let mut journal =
                        Journal::open(&store, &tenant, options(1_000_000)).expect("journal");
                    setup(&mut journal, &store, 0);
                    let mut pending = Vec::new();
                    for n in 0..200u128 {
                        let spec =
                            TaskSpec::new(TaskId(id(1_000_000 * (t + 1) + n)), crate::service_id());
                        let execution = journal
                            .execute(&store, Time::from_secs(5_000), Command::CreateTask(spec))
                            .expect("execute");
                        pending.push(execution.durable);
                    }
                    for durable in pending {
                        durable.wait_blocking().expect("durable");
                    }
                    journal.engine().n_live_tasks()
                })
            })
            .collect();
        for thread in threads {
            assert_eq!(thread.join().expect("thread"), 200);
        }
        let stats = store.stats();
        let writes = stats.writes.load(std::sync::atomic::Ordering::Relaxed);
        let commits = stats.commits.load(std::sync::atomic::Ordering::Relaxed);
        assert!(writes >= 8 * 201, "{}: {writes} writes", db.name());
        assert!(
            commits < writes,
            "{}: {commits} commits for {writes} writes",
            db.name()
        );
        for t in 0..8 {
            let journal = Journal::open(&store, &format!("tenant-{t}"), options(1_000_000))
                .expect("reopen journal");
            assert_eq!(journal.engine().n_live_tasks(), 200);
        }
    }
}

/// A write that fails is not acknowledged; the tenant refuses further writes until it reloads, and the reload
/// drops what was applied but never made durable.
#[test]
fn a_failed_write_is_not_acknowledged_and_the_tenant_reloads() {
    // With a snapshot after every command too: a snapshot of the unacknowledged state must never be stored.
    for (db, snapshot_every) in backends()
        .into_iter()
        .flat_map(|db| [1_000_000u64, 1].map(|every| (TestDb::fresh_like(&db), every)))
    {
        let store = Store::open(db.url()).expect("open");
        let mut journal = Journal::open(&store, "acme", options(snapshot_every)).expect("journal");
        setup(&mut journal, &store, 1);
        let durable_state = journal.engine().snapshot();
        // Make every insert of an event fail, as a full disk or a lost connection would.
        match &db {
            TestDb::Sqlite { .. } => db.execute(
                "CREATE TRIGGER fail_events BEFORE INSERT ON events \
                 BEGIN SELECT RAISE(ABORT, 'injected failure'); END;",
            ),
            TestDb::Postgres { .. } => db.execute(
                "CREATE FUNCTION fail_events() RETURNS trigger AS $$ \
                 BEGIN RAISE EXCEPTION 'injected failure'; END $$ LANGUAGE plpgsql; \
                 CREATE TRIGGER fail_events BEFORE INSERT ON events \
                 FOR EACH ROW EXECUTE FUNCTION fail_events();",
            ),
        }
        let spec = TaskSpec::new(TaskId(id(30_000)), service_id());
        let execution = journal
            .execute(&store, Time::from_secs(6_000), Command::CreateTask(spec))
            .expect("queued");
        // The engine offered the task in memory, but it must not be acknowledged.
        assert!(execution.result.is_ok());
        let error = execution.durable.wait_blocking().unwrap_err();
        assert!(
            matches!(error, StoreError::Unavailable(_) | StoreError::Conflict(_)),
            "{}: {error}",
            db.name()
        );
        assert!(journal.needs_reload());
        match &db {
            TestDb::Sqlite { .. } => db.execute("DROP TRIGGER fail_events"),
            TestDb::Postgres { .. } => db.execute("DROP TRIGGER fail_events ON events"),
        }
        // The next command reloads first: the unacknowledged task is gone.
        run(
            &mut journal,
            &store,
            Time::from_secs(6_001),
            Command::Advance,
        )
        .expect("advance");
        assert!(!journal.needs_reload());
        let mut reloaded = journal.engine().snapshot();
        reloaded.now = durable_state.now;
        assert_eq!(reloaded, durable_state, "{}", db.name());
        let spec = TaskSpec::new(TaskId(id(30_001)), service_id());
        run(
            &mut journal,
            &store,
            Time::from_secs(6_002),
            Command::CreateTask(spec),
        )
        .expect("create again");
        drop(journal);
        drop(store);
        let store2 = Store::open(db.url()).expect("reopen");
        let recovered = Journal::open(&store2, "acme", options(snapshot_every)).expect("recover");
        assert!(recovered.engine().task_info(TaskId(id(30_000))).is_none());
        assert!(recovered.engine().task_info(TaskId(id(30_001))).is_some());
    }
}

/// An offer pending when the process died returns to the queue on restart, keeping its place.
#[test]
fn a_pending_offer_returns_to_the_queue_after_restart() {
    for db in backends() {
        {
            let store = Store::open(db.url()).expect("open");
            let mut journal = Journal::open(&store, "acme", options(1_000_000)).expect("journal");
            setup(&mut journal, &store, 1);
            for n in 0..3u128 {
                let spec = TaskSpec::new(TaskId(id(40_000 + n)), service_id());
                run(
                    &mut journal,
                    &store,
                    Time::from_secs(7_000 + n as i64),
                    Command::CreateTask(spec),
                )
                .expect("create");
            }
            let offered = journal
                .engine()
                .task_info(TaskId(id(40_000)))
                .expect("task");
            assert_eq!(offered.status, TaskStatus::Offered);
        }
        let store = Store::open(db.url()).expect("reopen");
        let mut journal = Journal::open(&store, "acme", options(1_000_000)).expect("recover");
        // The agent's presence came from REST and is kept, so the task is offered again, first in line (the
        // restart happens within the 30 s RONA window of the first offer).
        run(
            &mut journal,
            &store,
            Time::from_secs(7_010),
            Command::RecoverSessions,
        )
        .expect("recover sessions");
        let task = journal
            .engine()
            .task_info(TaskId(id(40_000)))
            .expect("task");
        assert_eq!(task.status, TaskStatus::Offered, "{}", db.name());
        assert_eq!(task.n_offers, 2);
        let waiting = journal.engine().waiting_tasks(service_id());
        assert_eq!(waiting, vec![TaskId(id(40_001)), TaskId(id(40_002))]);
    }
}

/// The schema is created and versioned; a database from a newer switchboard is refused with a clear message.
#[test]
fn migrations_run_and_newer_schemas_are_refused() {
    for db in backends() {
        drop(Store::open(db.url()).expect("create schema"));
        drop(Store::open(db.url()).expect("reopen is idempotent"));
        db.execute(&format!(
            "INSERT INTO schema_version (version) VALUES ({})",
            SCHEMA_VERSION + 1
        ));
        let error = Store::open(db.url()).err().expect("refused").to_string();
        assert!(
            error.contains("newer than this switchboard"),
            "{}: {error}",
            db.name()
        );
    }
}

/// Bad URLs and unusable databases fail at open with a message naming the database, password redacted.
#[test]
fn unusable_databases_fail_clearly() {
    let cases = [
        ("", "invalid database URL"),
        ("mysql://root:pw@localhost/db", "invalid database URL"),
        ("sqlite://", "invalid database URL"),
        ("sqlite:///no/such/dir/sb.db", "does not exist"),
        (
            "sqlite:///proc/switchboard.db",
            "sqlite:///proc/switchboard.db",
        ),
        (
            "postgres://sb:secret@127.0.0.1:1/db",
            "cannot connect to postgres://sb:***@127.0.0.1:1/db",
        ),
    ];
    for (url, expected) in cases {
        let error = Store::open(url)
            .err()
            .unwrap_or_else(|| panic!("{url} opened"))
            .to_string();
        assert!(error.contains(expected), "{url}: {error}");
        assert!(!error.contains("secret"), "{url}: {error}");
    }
}

/// API keys are stored by hash, found by hash, listed, and revoked by id or name.
#[test]
fn api_keys_are_stored_hashed_and_revocable() {
    for db in backends() {
        let store = Store::open(db.url()).expect("open");
        let key = switchboard_store::KeyRecord {
            id: "key-1".into(),
            tenant: "acme".into(),
            name: "crm".into(),
            key_hash: "ab".repeat(32),
            roles: vec!["TasksManage".into(), "UserControl".into()],
            created_at: 1,
            expires_at: Some(2_000_000),
            rate_limit: Some("1000/h".into()),
            burst_limit: None,
            revoked_at: None,
        };
        store.create_key(&key).expect("create");
        assert!(
            store.create_key(&key).is_err(),
            "{}: duplicate key accepted",
            db.name()
        );
        assert_eq!(
            store.find_key(&"ab".repeat(32)).expect("find"),
            Some(key.clone())
        );
        assert_eq!(store.find_key(&"cd".repeat(32)).expect("find"), None);
        assert_eq!(store.list_keys().expect("list"), vec![key.clone()]);
        assert!(store.revoke_key("crm", Time(5)).expect("revoke"));
        assert!(!store.revoke_key("crm", Time(6)).expect("revoke again"));
        let revoked = store
            .find_key(&"ab".repeat(32))
            .expect("find")
            .expect("still listed");
        assert_eq!(revoked.revoked_at, Some(5));
    }
}

/// A database written by an older switchboard is upgraded in place, keeping its data.
#[test]
fn an_older_schema_is_upgraded_in_place() {
    for db in backends() {
        {
            let store = Store::open(db.url()).expect("open");
            let mut journal = Journal::open(&store, "acme", options(1_000_000)).expect("journal");
            setup(&mut journal, &store, 1);
            let now = Time::from_secs(3_000);
            let mut spec = TaskSpec::new(TaskId(id(30_000)), service_id());
            spec.kind = TaskKind::Callback;
            run(&mut journal, &store, now, Command::CreateTask(spec)).expect("create");
            let terminate = Command::Terminate {
                task: TaskId(id(30_000)),
                reason: TerminationReason::Cancelled,
            };
            run(&mut journal, &store, now, terminate).expect("terminate");
        }
        // Make it look like version 1: no API key table, no history kinds, snapshots as plain JSON (the tenant's
        // only snapshot is the empty engine it started from), no record of migrations 2 and on.
        let first = serde_json::to_string(&Engine::new(EngineConfig::default()).snapshot())
            .expect("json")
            .replace('\'', "''");
        db.execute(&format!("UPDATE snapshots SET body = '{first}'"));
        db.execute(
            "DROP TABLE api_keys; DROP TABLE config_entries; DROP INDEX task_history_kind; \
             ALTER TABLE task_history DROP COLUMN kind; ALTER TABLE snapshots DROP COLUMN packed; \
             DELETE FROM schema_version WHERE version >= 2;",
        );
        if let TestDb::Postgres { .. } = db {
            db.execute("DROP TABLE tenant_leases; DROP TABLE cluster_nodes;");
        }
        let store = Store::open(db.url()).expect("upgrade");
        assert!(store.list_keys().expect("api_keys exists again").is_empty());
        // Migration 4 read the kind of the tasks finished before it from their stored records.
        let callbacks = store
            .history(
                "acme",
                &HistoryQuery {
                    kind: Some(TaskKind::Callback),
                    ..HistoryQuery::default()
                },
            )
            .expect("history by kind");
        assert_eq!(callbacks.len(), 1, "{}", db.name());
        let journal = Journal::open(&store, "acme", options(1_000_000)).expect("data kept");
        assert_eq!(journal.engine().agents().len(), 1, "{}", db.name());
    }
}

/// Snapshots are stored packed (an LZ4 frame of their JSON, body left empty); a snapshot stored as plain JSON by
/// schema 5 and before still restores the exact state; a damaged packed snapshot is refused as corrupt.
#[test]
fn snapshots_are_stored_packed_and_older_plain_ones_still_load() {
    for db in backends() {
        let before = {
            let store = Store::open(db.url()).expect("open");
            let mut journal = Journal::open(&store, "acme", options(1_000_000)).expect("journal");
            setup(&mut journal, &store, 3);
            for n in 0..5u128 {
                let spec = TaskSpec::new(TaskId(id(60_000 + n)), service_id());
                run(
                    &mut journal,
                    &store,
                    Time::from_secs(4_000),
                    Command::CreateTask(spec),
                )
                .expect("create");
            }
            journal.snapshot(&store).wait_blocking().expect("snapshot");
            journal.engine().snapshot()
        };
        assert_eq!(
            db.query_int_on_snapshots(
                "SELECT COUNT(*) FROM snapshots WHERE tenant = 'acme' AND body = '' AND packed IS NOT NULL"
            ),
            1,
            "{}: the snapshot is not stored packed",
            db.name()
        );
        let packed_bytes = db.query_int_on_snapshots(
            "SELECT CAST(LENGTH(packed) AS BIGINT) FROM snapshots WHERE tenant = 'acme'",
        );
        let json = serde_json::to_string(&before).expect("json");
        assert!(
            (packed_bytes as usize) < json.len() / 2,
            "{}: packed {packed_bytes} bytes of {} bytes of JSON",
            db.name(),
            json.len()
        );
        {
            let store = Store::open(db.url()).expect("reopen");
            let journal = Journal::open(&store, "acme", options(1_000_000)).expect("packed");
            assert_eq!(journal.engine().snapshot(), before, "{}: packed", db.name());
        }
        // As schema 5 stored it: the JSON in `body`, nothing packed.
        db.execute_on_snapshots(&format!(
            "UPDATE snapshots SET body = '{}', packed = NULL WHERE tenant = 'acme'",
            json.replace('\'', "''")
        ));
        {
            let store = Store::open(db.url()).expect("reopen");
            let journal = Journal::open(&store, "acme", options(1_000_000)).expect("plain JSON");
            assert_eq!(journal.engine().snapshot(), before, "{}: plain", db.name());
            // The next snapshot is packed again.
            let mut journal = journal;
            journal.snapshot(&store).wait_blocking().expect("snapshot");
        }
        assert_eq!(
            db.query_int_on_snapshots(
                "SELECT COUNT(*) FROM snapshots WHERE tenant = 'acme' AND body = '' AND packed IS NOT NULL"
            ),
            1,
            "{}: not packed again",
            db.name()
        );
        // Cut short: the frame ends early and the tenant does not open on a wrong state.
        let cut = match db {
            TestDb::Sqlite { .. } => "substr(packed, 1, 40)",
            TestDb::Postgres { .. } => "substring(packed from 1 for 40)",
        };
        db.execute_on_snapshots(&format!(
            "UPDATE snapshots SET packed = {cut} WHERE tenant = 'acme'"
        ));
        let store = Store::open(db.url()).expect("reopen");
        match Journal::open(&store, "acme", options(1_000_000)) {
            Err(StoreError::Corrupt(message)) => {
                assert!(message.contains("snapshot"), "{}: {message}", db.name())
            }
            Err(other) => panic!("{}: {other}", db.name()),
            Ok(_) => panic!("{}: a damaged snapshot was restored", db.name()),
        }
    }
}

/// PostgreSQL: a lost connection fails the writes in flight (never acknowledged), the store reconnects, and the
/// tenant reloads from the log before its next command.
#[test]
fn a_lost_postgres_connection_is_survived() {
    for db in backends() {
        let TestDb::Postgres { .. } = &db else {
            continue;
        };
        let store = Store::open(db.url()).expect("open");
        let mut journal = Journal::open(&store, "acme", options(1_000_000)).expect("journal");
        setup(&mut journal, &store, 1);
        // Kill this test's other connections: the store's writer and reader.
        db.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE application_name = current_setting('application_name') AND pid <> pg_backend_pid()",
        );
        let spec = TaskSpec::new(TaskId(id(50_000)), service_id());
        let execution = journal
            .execute(&store, Time::from_secs(8_000), Command::CreateTask(spec))
            .expect("queued");
        let error = execution.durable.wait_blocking().unwrap_err();
        assert!(matches!(error, StoreError::Unavailable(_)), "{error}");
        // Reconnection has a backoff: retry until the store is back, as a client would after a 503.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let spec = TaskSpec::new(TaskId(id(50_001)), service_id());
            let stored = journal
                .execute(&store, Time::from_secs(8_001), Command::CreateTask(spec))
                .map(|execution| execution.durable.wait_blocking().is_ok())
                .unwrap_or(false);
            if stored {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the store did not reconnect"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        assert!(
            journal.engine().task_info(TaskId(id(50_000))).is_none(),
            "unacknowledged task kept"
        );
        assert!(journal.engine().task_info(TaskId(id(50_001))).is_some());
    }
}

/// Configuration entries are stored per tenant and kind, replaced, listed in id order and deleted.
#[test]
fn configuration_entries_round_trip() {
    for db in backends() {
        let store = Store::open(db.url()).expect("open");
        store
            .put_entry("acme", "ou", "b", "{\"Name\":\"B\"}")
            .expect("put");
        store
            .put_entry("acme", "ou", "a", "{\"Name\":\"A\"}")
            .expect("put");
        store
            .put_entry("acme", "ou", "a", "{\"Name\":\"A2\"}")
            .expect("replace");
        store
            .put_entry("other", "ou", "z", "{}")
            .expect("other tenant");
        assert_eq!(
            store.list_entries("acme", "ou").expect("list"),
            vec![
                ("a".to_string(), "{\"Name\":\"A2\"}".to_string()),
                ("b".to_string(), "{\"Name\":\"B\"}".to_string())
            ],
            "{}",
            db.name()
        );
        assert!(store.delete_entry("acme", "ou", "a").expect("delete"));
        assert!(!store.delete_entry("acme", "ou", "a").expect("delete again"));
        assert!(store
            .list_entries("acme", "absence")
            .expect("other kind")
            .is_empty());
    }
}

/// The commands a durable snapshot covers are deleted from the log (when writes pause), and a tenant that opens
/// deletes those an earlier process left behind (it stopped while trimming).
#[test]
fn commands_covered_by_a_snapshot_are_trimmed() {
    for db in backends() {
        let store = Store::open(db.url()).expect("open");
        let mut journal = Journal::open(&store, "acme", options(1_000_000)).expect("journal");
        setup(&mut journal, &store, 3);
        let covered = journal.command_seq() as i64;
        journal.snapshot(&store).wait_blocking().expect("snapshot");
        run(
            &mut journal,
            &store,
            Time::from_secs(2_000),
            Command::Advance,
        )
        .ok();
        let spec = TaskSpec::new(TaskId(id(50_000)), service_id());
        run(
            &mut journal,
            &store,
            Time::from_secs(2_001),
            Command::CreateTask(spec),
        )
        .expect("create");
        store.wait_for_trims().expect("trims");
        let count = |db: &TestDb, condition: &str| {
            db.query_int(&format!(
                "SELECT COUNT(*) FROM commands WHERE tenant = 'acme' AND {condition}"
            ))
        };
        assert_eq!(count(&db, &format!("seq <= {covered}")), 0, "{}", db.name());
        assert!(
            count(&db, &format!("seq > {covered}")) >= 1,
            "{}",
            db.name()
        );
        // A command the snapshot covers, as a process stopped mid-trim would leave it.
        drop(journal);
        drop(store);
        db.execute(
            "INSERT INTO commands (tenant, seq, at, body) VALUES ('acme', 1, 0, '\"Advance\"')",
        );
        let store = Store::open(db.url()).expect("reopen");
        let journal = Journal::open(&store, "acme", options(1_000_000)).expect("recover");
        store.wait_for_trims().expect("trims");
        assert_eq!(count(&db, "seq = 1"), 0, "{}", db.name());
        assert!(journal.engine().task_info(TaskId(id(50_000))).is_some());
    }
}
