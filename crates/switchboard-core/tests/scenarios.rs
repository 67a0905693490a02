//! Data-driven routing scenarios: every `tests/scenarios/*.txt` holds a script, a `----` line, and the trace the
//! script must print. Run with `UPDATE_SCENARIOS=1` to rewrite the expected traces after a deliberate change.

use std::path::Path;

const SEPARATOR: &str = "----\n";

#[test]
fn scenarios_match_their_snapshots() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
    let update = std::env::var_os("UPDATE_SCENARIOS").is_some();
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/scenarios exists")
        .map(|entry| entry.expect("readable entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "txt"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no scenario files in {}", dir.display());
    let mut failures = Vec::new();
    for path in &paths {
        let text = std::fs::read_to_string(path).expect("readable scenario");
        let (script, expected) = match text.split_once(SEPARATOR) {
            Some((script, expected)) => (script, expected),
            None => (text.as_str(), ""),
        };
        let actual = match switchboard_core::script::run(script) {
            Ok(trace) => trace,
            Err(error) => {
                failures.push(format!("{}: script error: {error}", path.display()));
                continue;
            }
        };
        // Determinism: the same script must give the same trace twice.
        let again = switchboard_core::script::run(script).expect("second run");
        if again != actual {
            failures.push(format!(
                "{}: two runs gave different traces",
                path.display()
            ));
        }
        // Restoring the engine from a snapshot after every line must not change a single decision.
        match switchboard_core::script::run_with_restores(script) {
            Ok(restored) if restored == actual => {}
            Ok(_) => failures.push(format!(
                "{}: the trace changes when the engine is restored from snapshots",
                path.display()
            )),
            Err(error) => failures.push(format!("{}: {error}", path.display())),
        }
        if actual != expected {
            if update {
                std::fs::write(path, format!("{script}{SEPARATOR}{actual}"))
                    .expect("writable scenario");
            } else {
                failures.push(format!(
                    "{}: trace differs from the snapshot (UPDATE_SCENARIOS=1 to accept)\n--- expected\n{expected}\n--- actual\n{actual}",
                    path.display()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
