//! Load for the storage crash test: opens a tenant, then creates, accepts and finishes tasks forever, printing
//! `ACK <task id>` once a task's creation is durable. The test kills it with SIGKILL at random moments.
//!
//! Usage: store-crash-writer DB_URL TENANT

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use switchboard_core::*;
use switchboard_store::{Journal, JournalOptions, Store};
use uuid::Uuid;

const AGENTS: u128 = 5;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, tenant] = &args[..] else {
        eprintln!("usage: store-crash-writer DB_URL TENANT");
        std::process::exit(2);
    };
    let store = Store::open(url).unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(1)
    });
    let options = JournalOptions {
        config: EngineConfig::default(),
        snapshot_every: 97,
        lease: None,
    };
    let mut journal = Journal::open(&store, tenant, options).unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(1)
    });
    let clock = || {
        Time(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .expect("clock after 1970")
                .as_micros() as i64,
        )
    };
    let service = ServiceId(Uuid::from_u128(1));
    let exec = |journal: &mut Journal, command: Command| {
        let execution = journal
            .execute(&store, clock(), command)
            .expect("store accepts");
        execution.durable.wait_blocking().expect("durable");
        execution.result
    };
    // What a restarted server does first.
    let _ = exec(&mut journal, Command::RecoverSessions);
    if journal.engine().service_info(service).is_none() {
        let _ = exec(
            &mut journal,
            Command::UpsertService(ServiceSpec::new(service, "Crash")),
        );
        for n in 0..AGENTS {
            let agent = AgentId(Uuid::from_u128(100 + n));
            let mut spec = AgentSpec::new(agent, format!("agent {n}"));
            spec.memberships.push((service, 0));
            let _ = exec(&mut journal, Command::UpsertAgent(spec));
            let _ = exec(
                &mut journal,
                Command::SetPresence {
                    agent,
                    presence: Presence::Online,
                },
            );
        }
    }
    let stdout = std::io::stdout();
    let run_id = clock().as_micros() as u128;
    for counter in 0u128.. {
        let task = TaskId(Uuid::from_u128((run_id << 32) | counter));
        // Several writes in flight at once, as a loaded server would have.
        let created = journal
            .execute(
                &store,
                clock(),
                Command::CreateTask(TaskSpec::new(task, service)),
            )
            .expect("store accepts");
        let mut in_flight = vec![created.durable];
        // Accept every offer and finish established work now and then.
        for agent_n in 0..AGENTS {
            let agent = AgentId(Uuid::from_u128(100 + agent_n));
            let Some(info) = journal.engine().agent_info(agent) else {
                continue;
            };
            for held in info.tasks {
                let status = journal.engine().task_info(held).map(|t| t.status);
                let command = match status {
                    Some(TaskStatus::Offered) => Command::Establish {
                        task: held,
                        agent: Some(agent),
                    },
                    Some(TaskStatus::Established) if counter % 2 == 0 => Command::Terminate {
                        task: held,
                        reason: TerminationReason::Completed,
                    },
                    _ => continue,
                };
                let execution = journal
                    .execute(&store, clock(), command)
                    .expect("store accepts");
                in_flight.push(execution.durable);
            }
        }
        let mut durable = true;
        for pending in in_flight {
            durable &= pending.wait_blocking().is_ok();
        }
        if durable {
            let mut out = stdout.lock();
            let _ = writeln!(out, "ACK {task}");
            let _ = out.flush();
        }
    }
}
