//! The `switchboard` command line. For now it runs the routing engine on scripts: `demo` shows routing
//! decisions on a built-in contact center, `run FILE` runs a script of your own. The server comes next.

use std::process::ExitCode;

const DEMO: &str = include_str!("demo.txt");

const USAGE: &str = "usage:
  switchboard demo          run the built-in demo contact center and print every routing decision
  switchboard run FILE      run a routing script (see crates/switchboard-core/src/script.rs for the language)
  switchboard demo --script print the demo script itself";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["demo"] => run_script(DEMO),
        ["demo", "--script"] => {
            print!("{DEMO}");
            ExitCode::SUCCESS
        }
        ["run", path] => match std::fs::read_to_string(path) {
            Ok(script) => run_script(&script),
            Err(error) => {
                eprintln!("error: could not read script {path}: {error}");
                ExitCode::FAILURE
            }
        },
        ["help"] | ["--help"] | ["-h"] => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn run_script(script: &str) -> ExitCode {
    match switchboard_core::script::run(script) {
        Ok(trace) => {
            print!("{trace}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::DEMO;

    /// The demo must keep showing what its comments promise.
    #[test]
    fn demo_routes_as_narrated() {
        let trace = switchboard_core::script::run(DEMO).expect("demo script runs");
        assert!(
            trace.contains("task claim-1 offered to alice by BestQualifiedMostResponsibleAgent")
        );
        assert!(trace.contains("task invoice-1 offered to carol by LongestIdleAgent"));
        assert!(trace.contains("task invoice-1 RONA: carol did not answer"));
        assert!(trace.contains("queue: [claim-vip@1, claim-3@2]"));
        assert!(trace.contains("task claim-vip offered to alice"));
        assert!(trace.contains("task claim-3 offered to dave"));
        assert!(trace.contains("task invoice-fr offered to carol"));
        assert!(trace.contains("work-conserving: yes"));
        assert!(!trace.contains("error:"), "{trace}");
    }
}
