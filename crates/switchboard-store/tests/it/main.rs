//! Storage integration tests. Every test in `conformance` runs against SQLite, and against PostgreSQL when
//! `SWITCHBOARD_TEST_PG` holds a connection URL (each test then works in a schema of its own).

mod conformance;
mod crash;
mod leases;

use std::sync::atomic::{AtomicU64, Ordering};

use switchboard_core::*;
use switchboard_store::{Journal, JournalOptions, Store};
use uuid::Uuid;

/// A fresh, empty database of one backend, removed when dropped.
pub enum TestDb {
    Sqlite {
        _dir: tempfile::TempDir,
        url: String,
    },
    Postgres {
        admin_url: String,
        schema: String,
        url: String,
    },
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

impl TestDb {
    pub fn url(&self) -> &str {
        match self {
            TestDb::Sqlite { url, .. } | TestDb::Postgres { url, .. } => url,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            TestDb::Sqlite { .. } => "sqlite",
            TestDb::Postgres { .. } => "postgres",
        }
    }

    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temporary directory");
        let url = format!("sqlite://{}", dir.path().join("switchboard.db").display());
        TestDb::Sqlite { _dir: dir, url }
    }

    pub fn postgres(admin_url: &str) -> TestDb {
        let schema = format!(
            "sbtest_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        let mut client = postgres::Client::connect(admin_url, postgres::NoTls)
            .expect("SWITCHBOARD_TEST_PG must point at a reachable PostgreSQL");
        client
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"
            ))
            .expect("create test schema");
        let separator = if admin_url.contains('?') { '&' } else { '?' };
        // The application name lets a test find (and kill) only its own connections.
        let url = format!(
            "{admin_url}{separator}options=-csearch_path%3D{schema}&application_name={schema}"
        );
        TestDb::Postgres {
            admin_url: admin_url.to_string(),
            schema,
            url,
        }
    }

    /// Another fresh, empty database of the same backend.
    pub fn fresh_like(other: &TestDb) -> TestDb {
        match other {
            TestDb::Sqlite { .. } => TestDb::sqlite(),
            TestDb::Postgres { admin_url, .. } => TestDb::postgres(admin_url),
        }
    }

    /// The single integer a query answers.
    pub fn query_int(&self, sql: &str) -> i64 {
        self.query_int_in("", sql)
    }

    /// Runs SQL directly against this database (to inject faults or inspect tables).
    pub fn execute(&self, sql: &str) {
        self.execute_in("", sql)
    }

    /// `query_int` on the database that holds the snapshots: on SQLite the sibling file `PATH-snapshots`.
    pub fn query_int_on_snapshots(&self, sql: &str) -> i64 {
        self.query_int_in("-snapshots", sql)
    }

    /// `execute` on the database that holds the snapshots.
    pub fn execute_on_snapshots(&self, sql: &str) {
        self.execute_in("-snapshots", sql)
    }

    /// `suffix` names the SQLite file beside the main one (empty: the main file); PostgreSQL has one database.
    fn query_int_in(&self, suffix: &str, sql: &str) -> i64 {
        match self {
            TestDb::Sqlite { url, .. } => {
                let path = url.strip_prefix("sqlite://").expect("sqlite url");
                let conn =
                    rusqlite::Connection::open(format!("{path}{suffix}")).expect("open sqlite");
                conn.query_row(sql, [], |row| row.get(0)).expect("query")
            }
            TestDb::Postgres { url, .. } => {
                let mut client = postgres::Client::connect(url, postgres::NoTls).expect("connect");
                client.query_one(sql, &[]).expect("query").get(0)
            }
        }
    }

    fn execute_in(&self, suffix: &str, sql: &str) {
        match self {
            TestDb::Sqlite { url, .. } => {
                let path = url.strip_prefix("sqlite://").expect("sqlite url");
                let conn =
                    rusqlite::Connection::open(format!("{path}{suffix}")).expect("open sqlite");
                conn.execute_batch(sql).expect("execute sql");
            }
            TestDb::Postgres { url, .. } => {
                let mut client = postgres::Client::connect(url, postgres::NoTls).expect("connect");
                client.batch_execute(sql).expect("execute sql");
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let TestDb::Postgres {
            admin_url, schema, ..
        } = self
        {
            if let Ok(mut client) = postgres::Client::connect(admin_url, postgres::NoTls) {
                let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
            }
        }
    }
}

/// One fresh database per available backend: SQLite always, PostgreSQL when configured.
pub fn backends() -> Vec<TestDb> {
    let mut dbs = vec![TestDb::sqlite()];
    match std::env::var("SWITCHBOARD_TEST_PG") {
        Ok(url) if !url.is_empty() => dbs.push(TestDb::postgres(&url)),
        _ => {
            eprintln!("skipping PostgreSQL: set SWITCHBOARD_TEST_PG to a connection URL to run it")
        }
    }
    dbs
}

pub fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

pub fn service_id() -> ServiceId {
    ServiceId(id(1))
}

pub fn agent_id(n: u128) -> AgentId {
    AgentId(id(1000 + n))
}

/// Applies a command and waits until it is durable; panics on any storage error.
pub fn run(
    journal: &mut Journal,
    store: &Store,
    now: Time,
    command: Command,
) -> Result<Outcome, CommandError> {
    let execution = journal
        .execute(store, now, command)
        .expect("store accepts the command");
    execution.durable.wait_blocking().expect("durable");
    execution.result
}

/// A tenant with one service and `n_agents` online agents.
pub fn setup(journal: &mut Journal, store: &Store, n_agents: u128) {
    let now = Time::from_secs(1_000);
    let mut service = ServiceSpec::new(service_id(), "Support");
    service.rona_timeout = Some(Span::from_secs(30));
    run(journal, store, now, Command::UpsertService(service)).expect("service");
    for n in 0..n_agents {
        let mut agent = AgentSpec::new(agent_id(n), format!("agent {n}"));
        agent.memberships.push((service_id(), 0));
        run(journal, store, now, Command::UpsertAgent(agent)).expect("agent");
        run(
            journal,
            store,
            now,
            Command::SetPresence {
                agent: agent_id(n),
                presence: Presence::Online,
            },
        )
        .expect("presence");
    }
}

pub fn options(snapshot_every: u64) -> JournalOptions {
    JournalOptions {
        config: EngineConfig::default(),
        snapshot_every,
        lease: None,
    }
}
