//! The switchboard simulator: the real routing engine on a simulated clock, for contact-center scenarios and for
//! checking the engine against the Erlang C formula.
//!
//! - `scenario`: the scenario file (services, agent groups with skills and shifts, arrival streams with
//!   handling-time and patience distributions) and the checked `Model` it becomes.
//! - `simulation`: the discrete-event loop. It drives `switchboard_core::Engine` only through its public
//!   commands with a simulated `Time`, answers every offer at once, and follows the engine's deadlines.
//! - `report`: per-service and per-group figures, as text or JSON.
//! - `erlang` and `check`: the Erlang B/C formulas and the built-in check of TARGETS.md's points.
//! - `svg`: a chart of calls waiting and the rolling service level over simulated time.
//! - `rng`: the seeded generator, so a run is reproducible from its seed.
//! - `cli`: `switchboard simulate`.

pub mod check;
pub mod cli;
pub mod erlang;
pub mod report;
pub mod rng;
pub mod scenario;
pub mod simulation;
pub mod svg;
