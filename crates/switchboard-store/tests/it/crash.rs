//! kill -9 during a stream of writes: every acknowledged write survives, and the stored event log never shows a
//! task offered to two agents at once or an agent over capacity. Rounds: `SWITCHBOARD_CRASH_ROUNDS` (default 5).

use std::io::{BufRead, BufReader};
use std::process::{Command as Process, Stdio};

use switchboard_core::*;
use switchboard_store::{Journal, Store};

use crate::{backends, options};

fn rounds() -> usize {
    std::env::var("SWITCHBOARD_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5)
}

#[test]
fn kill_dash_nine_loses_no_acknowledged_write() {
    let writer = env!("CARGO_BIN_EXE_store-crash-writer");
    for db in backends() {
        let mut acknowledged: Vec<TaskId> = Vec::new();
        let mut seed: u64 = 0x9E37_79B9;
        for round in 0..rounds() {
            let mut child = Process::new(writer)
                .args([db.url(), "crash"])
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("start the writer");
            let stdout = child.stdout.take().expect("stdout");
            // Kill after a pseudo-random number of acknowledgments, in the middle of further writes.
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let kill_after = 20 + (seed % 180) as usize;
            let mut lines = BufReader::new(stdout).lines();
            let mut acked_this_round = 0;
            while acked_this_round < kill_after {
                let line = lines
                    .next()
                    .unwrap_or_else(|| panic!("{}: writer ended early in round {round}", db.name()))
                    .expect("read line");
                let id = line.strip_prefix("ACK ").expect("ACK line");
                acknowledged.push(TaskId(id.parse().expect("uuid")));
                acked_this_round += 1;
            }
            child.kill().expect("SIGKILL");
            child.wait().expect("reap");
            // Lines printed after the kill decision may still be in the pipe: they were acknowledged too.
            for line in lines.map_while(Result::ok) {
                if let Some(id) = line.strip_prefix("ACK ") {
                    acknowledged.push(TaskId(id.parse().expect("uuid")));
                }
            }
            let store = Store::open(db.url()).expect("reopen after kill");
            let journal = Journal::open(&store, "crash", options(97)).expect("recover after kill");
            for task in &acknowledged {
                let live = journal.engine().task_info(*task).is_some();
                let finished = store
                    .history_task("crash", &task.to_string())
                    .expect("history")
                    .is_some();
                assert!(
                    live || finished,
                    "{}: acknowledged task {task} lost in round {round}",
                    db.name()
                );
            }
        }
        let store = Store::open(db.url()).expect("reopen");
        let all = switchboard_store::audit::all_events(&store, "crash").expect("events");
        let problems = switchboard_store::audit::audit_events(&all, 1);
        assert!(
            problems.is_empty(),
            "{}: {}",
            db.name(),
            problems.join("\n")
        );
        assert!(acknowledged.len() >= 20 * rounds(), "{}", db.name());
        eprintln!(
            "{}: {} rounds of kill -9, {} acknowledged tasks all recovered, {} events audited",
            db.name(),
            rounds(),
            acknowledged.len(),
            all.len()
        );
    }
}
