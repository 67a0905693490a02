//! Tenant leases on PostgreSQL (several nodes on one database): one writer per tenant, and fencing: a writer
//! that lost its lease can never commit again, neither commands nor snapshots. Runs when `SWITCHBOARD_TEST_PG`
//! is set.

use std::time::Duration;

use switchboard_core::*;
use switchboard_store::cluster::Leases;
use switchboard_store::{Journal, JournalOptions, Store, StoreError};

use crate::{id, options, run, service_id, setup, TestDb};

const TTL: Duration = Duration::from_secs(30);

fn postgres() -> Option<TestDb> {
    match std::env::var("SWITCHBOARD_TEST_PG") {
        Ok(url) if !url.is_empty() => Some(TestDb::postgres(&url)),
        _ => {
            eprintln!("skipping: set SWITCHBOARD_TEST_PG to run the lease tests");
            None
        }
    }
}

fn leased(lease: switchboard_store::Lease) -> JournalOptions {
    JournalOptions {
        lease: Some(lease),
        ..options(1_000_000)
    }
}

#[test]
fn a_writer_that_lost_its_lease_can_never_commit_again() {
    let Some(db) = postgres() else { return };
    let store = Store::open(db.url()).expect("open");
    let mut a = Leases::open(db.url(), "node-a").expect("leases a");
    let mut b = Leases::open(db.url(), "node-b").expect("leases b");
    a.heartbeat("http://127.0.0.1:1", true)
        .expect("heartbeat a");
    b.heartbeat("http://127.0.0.1:2", true)
        .expect("heartbeat b");

    let lease_a = a
        .acquire("acme", TTL)
        .expect("acquire")
        .expect("free lease");
    assert_eq!(lease_a.epoch, 1);
    let mut journal_a = Journal::open(&store, "acme", leased(lease_a.clone())).expect("open a");
    setup(&mut journal_a, &store, 2);
    // Held and not expired: the other node cannot take it.
    assert_eq!(b.acquire("acme", TTL).expect("try"), None);
    let acme = ["acme".to_string()];
    assert_eq!(
        a.renew(&acme, TTL).expect("renew"),
        vec![("acme".to_string(), 1)]
    );

    // Node a stops renewing (paused); its lease expires and node b takes over from the durable state.
    db.execute("UPDATE tenant_leases SET expires_at = clock_timestamp() - interval '1 second'");
    let lease_b = b
        .acquire("acme", TTL)
        .expect("acquire")
        .expect("expired lease");
    assert_eq!(lease_b.epoch, 2);
    // Node b is another process: its own store.
    let store_b = Store::open(db.url()).expect("open b's store");
    let mut journal_b = Journal::open(&store_b, "acme", leased(lease_b.clone())).expect("open b");
    assert_eq!(journal_b.command_seq(), journal_a.command_seq());

    // Node a wakes up and writes: refused, and it must reload, which does not help it.
    let late = TaskSpec::new(TaskId(id(40_000)), service_id());
    let execution = journal_a
        .execute(&store, Time::from_secs(2_000), Command::CreateTask(late))
        .expect("queued");
    assert_eq!(
        execution.durable.wait_blocking(),
        Err(StoreError::Fenced("acme".to_string()))
    );
    assert!(journal_a.needs_reload());
    journal_a.reload(&store).expect("reading is still allowed");
    assert_eq!(
        journal_a.snapshot(&store).wait_blocking(),
        Err(StoreError::Fenced("acme".to_string())),
        "a stale snapshot must never replace the new writer's"
    );
    // Its renewal tells it the lease is gone.
    assert_eq!(a.renew(&acme, TTL).expect("renew"), vec![]);

    // The new writer carries on; the late task exists nowhere.
    let task = TaskSpec::new(TaskId(id(40_001)), service_id());
    run(
        &mut journal_b,
        &store_b,
        Time::from_secs(2_001),
        Command::CreateTask(task),
    )
    .expect("create");
    journal_b
        .snapshot(&store_b)
        .wait_blocking()
        .expect("snapshot b");
    let recovered = Journal::open(&store_b, "acme", options(1_000_000)).expect("recover");
    assert!(recovered.engine().task_info(TaskId(id(40_000))).is_none());
    assert!(recovered.engine().task_info(TaskId(id(40_001))).is_some());

    // A graceful release lets node a back in at once, with a new epoch.
    assert!(b.release("acme", &lease_b).expect("release"));
    assert!(!b.release("acme", &lease_b).expect("release twice"));
    let again = a
        .acquire("acme", TTL)
        .expect("acquire")
        .expect("released lease");
    assert_eq!(again.epoch, 3);
    let view = a.view().expect("view");
    assert_eq!(view.nodes.len(), 2);
    assert_eq!(view.leases.len(), 1);
    assert_eq!(view.leases[0].node.as_deref(), Some("node-a"));
    assert_eq!(view.leases[0].changes, 4, "three grants and one release");
    assert!(view.leases[0].expires_in_ms > 25_000);
    assert_eq!(view.tenants, vec!["acme".to_string()]);
    a.leave().expect("leave");
    assert_eq!(b.view().expect("view").nodes.len(), 1);
}

#[test]
fn a_fenced_tenant_does_not_fail_other_tenants_in_the_same_group_commit() {
    let Some(db) = postgres() else { return };
    let store = Store::open(db.url()).expect("open");
    let mut a = Leases::open(db.url(), "node-a").expect("leases a");
    let mut b = Leases::open(db.url(), "node-b").expect("leases b");
    let lease_one = a.acquire("one", TTL).expect("acquire").expect("free");
    let lease_two = a.acquire("two", TTL).expect("acquire").expect("free");
    let mut one = Journal::open(&store, "one", leased(lease_one)).expect("open one");
    let mut two = Journal::open(&store, "two", leased(lease_two)).expect("open two");
    setup(&mut one, &store, 1);
    setup(&mut two, &store, 1);
    db.execute("UPDATE tenant_leases SET expires_at = clock_timestamp() - interval '1 second' WHERE tenant = 'one'");
    b.acquire("one", TTL).expect("acquire").expect("expired");
    // Both writes are queued before either is awaited, so they can share a transaction.
    let first = one
        .execute(
            &store,
            Time::from_secs(3_000),
            Command::CreateTask(TaskSpec::new(TaskId(id(1)), service_id())),
        )
        .expect("queued");
    let second = two
        .execute(
            &store,
            Time::from_secs(3_000),
            Command::CreateTask(TaskSpec::new(TaskId(id(2)), service_id())),
        )
        .expect("queued");
    assert!(matches!(
        first.durable.wait_blocking(),
        Err(StoreError::Fenced(_))
    ));
    second
        .durable
        .wait_blocking()
        .expect("the other tenant's write commits");
}
