//! Storage benchmark: durable task creations per second through the journal (group commit), and the time to
//! recover a tenant with 100,000 live tasks and 10,000 agents.
//!
//! `cargo bench -p switchboard-store --bench store` runs on SQLite in a temporary directory, and on PostgreSQL
//! too when `SWITCHBOARD_TEST_PG` holds a URL (tables are created in a fresh schema). `-- --quick` runs a short
//! version.

use std::collections::VecDeque;
use std::time::Instant;

use switchboard_core::*;
use switchboard_store::{Journal, JournalOptions, Pending, Store};
use uuid::Uuid;

struct Sizes {
    creations: u64,
    in_flight: usize,
    live_tasks: u64,
    agents: u64,
}

fn options() -> JournalOptions {
    JournalOptions {
        config: EngineConfig {
            default_rona_timeout: None,
            ..EngineConfig::default()
        },
        snapshot_every: u64::MAX,
        lease: None,
    }
}

fn exec(journal: &mut Journal, store: &Store, now: Time, command: Command) -> Pending {
    let execution = journal.execute(store, now, command).expect("store accepts");
    execution.result.expect("command succeeds");
    execution.durable
}

/// Durable creations per second with up to `in_flight` creations awaiting their commit, as concurrent HTTP
/// requests would have.
fn creations(store: &Store, sizes: &Sizes) -> f64 {
    let mut journal = Journal::open(store, "bench-create", options()).expect("journal");
    let service = ServiceId(Uuid::from_u128(1));
    exec(
        &mut journal,
        store,
        Time::from_secs(1),
        Command::UpsertService(ServiceSpec::new(service, "S")),
    )
    .wait_blocking()
    .expect("durable");
    let started = Instant::now();
    let mut pending: VecDeque<Pending> = VecDeque::new();
    for n in 0..sizes.creations {
        if pending.len() >= sizes.in_flight {
            pending
                .pop_front()
                .expect("non-empty")
                .wait_blocking()
                .expect("durable");
        }
        let mut spec = TaskSpec::new(TaskId(Uuid::from_u128(1_000_000 + n as u128)), service);
        spec.external_id = Some(format!("crm-{n}"));
        spec.customer = format!("customer {n}");
        pending.push_back(exec(
            &mut journal,
            store,
            Time::from_secs(2),
            Command::CreateTask(spec),
        ));
    }
    for durable in pending {
        durable.wait_blocking().expect("durable");
    }
    sizes.creations as f64 / started.elapsed().as_secs_f64()
}

/// Builds a tenant with the given live tasks and agents, snapshots it (or not: then recovery replays every
/// command from the tenant's first snapshot), and times a cold recovery.
fn recovery(store_url: &str, sizes: &Sizes, tenant: &str, final_snapshot: bool) -> (f64, f64) {
    let build_started = Instant::now();
    {
        let store = Store::open(store_url).expect("open");
        let mut journal = Journal::open(&store, tenant, options()).expect("journal");
        let now = Time::from_secs(10);
        let services: Vec<ServiceId> = (0..100)
            .map(|s| ServiceId(Uuid::from_u128(10 + s)))
            .collect();
        let mut last = Pending::done();
        for service in &services {
            last = exec(
                &mut journal,
                &store,
                now,
                Command::UpsertService(ServiceSpec::new(*service, "S")),
            );
        }
        for a in 0..sizes.agents {
            let mut spec = AgentSpec::new(
                AgentId(Uuid::from_u128(100_000 + a as u128)),
                format!("agent {a}"),
            );
            spec.memberships.push((services[(a % 100) as usize], 0));
            spec.memberships
                .push((services[((a * 7 + 3) % 100) as usize], 1));
            last = exec(&mut journal, &store, now, Command::UpsertAgent(spec));
        }
        for t in 0..sizes.live_tasks {
            let mut spec = TaskSpec::new(
                TaskId(Uuid::from_u128(10_000_000 + t as u128)),
                services[(t % 100) as usize],
            );
            spec.priority = Priority((t % 10) as i32);
            spec.external_id = Some(format!("crm-{t}"));
            last = exec(&mut journal, &store, now, Command::CreateTask(spec));
        }
        last.wait_blocking().expect("durable");
        if final_snapshot {
            journal.snapshot(&store).wait_blocking().expect("snapshot");
        }
        assert_eq!(journal.engine().n_live_tasks() as u64, sizes.live_tasks);
    }
    let build = build_started.elapsed().as_secs_f64();
    let started = Instant::now();
    let store = Store::open(store_url).expect("reopen");
    let journal = Journal::open(&store, tenant, options()).expect("recover");
    let recover = started.elapsed().as_secs_f64();
    assert_eq!(journal.engine().n_live_tasks() as u64, sizes.live_tasks);
    (build, recover)
}

fn pg_schema_url(admin_url: &str) -> String {
    let schema = format!("sbbench_{}", std::process::id());
    let mut client =
        postgres::Client::connect(admin_url, postgres::NoTls).expect("connect to PostgreSQL");
    client
        .batch_execute(&format!(
            "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
        ))
        .expect("schema");
    let separator = if admin_url.contains('?') { '&' } else { '?' };
    format!("{admin_url}{separator}options=-csearch_path%3D{schema}")
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let sizes = if quick {
        Sizes {
            creations: 5_000,
            in_flight: 64,
            live_tasks: 10_000,
            agents: 1_000,
        }
    } else {
        Sizes {
            creations: 100_000,
            in_flight: 64,
            live_tasks: 100_000,
            agents: 10_000,
        }
    };
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut targets = vec![(
        "sqlite".to_string(),
        format!("sqlite://{}", dir.path().join("bench.db").display()),
    )];
    if let Ok(url) = std::env::var("SWITCHBOARD_TEST_PG") {
        if !url.is_empty() {
            targets.push(("postgres".to_string(), pg_schema_url(&url)));
        }
    }
    println!(
        "{:<10} {:>22} {:>10} {:>24} {:>14} {:>22}",
        "backend",
        "durable creations/s",
        "commits",
        "recovery (tasks/agents)",
        "recovery time",
        "replaying every command"
    );
    for (name, url) in targets {
        let store = Store::open(&url).expect("open");
        let rate = creations(&store, &sizes);
        let commits = store
            .stats()
            .commits
            .load(std::sync::atomic::Ordering::Relaxed);
        drop(store);
        let (_build, recover) = recovery(&url, &sizes, "bench-restart", true);
        let (_build, replay) = recovery(&url, &sizes, "bench-replay", false);
        let n_commands = sizes.live_tasks + sizes.agents + 100;
        println!(
            "{:<10} {:>22.0} {:>10} {:>24} {:>13.3}s {:>14.3}s ({} commands)",
            name,
            rate,
            commits,
            format!("{}/{}", sizes.live_tasks, sizes.agents),
            recover,
            replay,
            n_commands
        );
    }
}
