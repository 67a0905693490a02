//! Starting a real `switchboard serve` process for the command-line tests.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// The admin key the test servers are started with.
pub const KEY: &str = "crash-test-admin-key-0123456789";

/// Starts the server on a free port with extra arguments; returns it with its base URL once it listens. Lines it
/// prints before listening are returned too.
pub fn start_with(db: &str, extra: &[&str]) -> (Child, String, Vec<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["serve", "--listen", "127.0.0.1:0", "--db", db])
        .args(extra)
        .env("SWITCHBOARD_ADMIN_KEY", KEY)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start switchboard serve");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut printed = Vec::new();
    let base = loop {
        let line = lines
            .next()
            .expect("the server printed its address before exiting")
            .expect("read stdout");
        if let Some(rest) = line.strip_prefix("switchboard listening on ") {
            break rest.split_whitespace().next().expect("address").to_string();
        }
        printed.push(line);
    };
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines.by_ref() {});
    (child, base, printed)
}
