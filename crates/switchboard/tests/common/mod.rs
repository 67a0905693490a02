//! Running the `switchboard` binary for the command-line tests: one-off commands, and a real `switchboard serve`
//! process.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// The admin key the test servers are started with.
pub const KEY: &str = "crash-test-admin-key-0123456789";

/// Starts the server on a free port with extra arguments; returns it with its base URL once it listens. Lines it
/// prints before listening are returned too.
pub fn start_with(db: &str, extra: &[&str]) -> (Child, String, Vec<String>) {
    let (child, base, printed, later) = start_watched(db, extra);
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in later {});
    (child, base, printed)
}

/// As `start_with`, and the lines it prints after listening arrive on the returned channel.
pub fn start_watched(
    db: &str,
    extra: &[&str],
) -> (
    Child,
    String,
    Vec<String>,
    std::sync::mpsc::Receiver<String>,
) {
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
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            // A receiver that went away only means nobody reads any more: keep draining.
            let _ = sender.send(line);
        }
    });
    (child, base, printed, receiver)
}

/// A server process killed when the test ends, even when it fails.
pub struct KillOnDrop(pub Child);

impl std::ops::Deref for KillOnDrop {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for KillOnDrop {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `switchboard ARGS` to its end (in `dir` if given; the database and admin key variables removed) and
/// returns its exit code, standard output and standard error.
pub fn switchboard_in(dir: Option<&str>, args: &[&str]) -> (i32, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    command
        .args(args)
        .env_remove("SWITCHBOARD_DB")
        .env_remove("SWITCHBOARD_ADMIN_KEY");
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    let output = command.output().expect("run switchboard");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}
