//! The switchboard routing engine: a pure, deterministic core that decides which agent gets which task.
//!
//! One [`Engine`] holds the whole state of one tenant. Callers feed it commands (configuration, agent control,
//! task operations) together with the time they observed, and read back [`Event`]s, the only record of what
//! happened. The engine does no I/O, reads no clock, spawns nothing and allocates its own ids for nothing the
//! outside must know in advance, so the same inputs always give the same outputs.
//!
//! ```
//! use switchboard_core::*;
//! use uuid::Uuid;
//!
//! let mut engine = Engine::new(EngineConfig::default());
//! let now = Time::from_secs(1_000);
//! let sales = ServiceId(Uuid::from_u128(1));
//! engine.upsert_service(now, ServiceSpec::new(sales, "Sales")).unwrap();
//! let alice = AgentId(Uuid::from_u128(2));
//! let mut spec = AgentSpec::new(alice, "Alice");
//! spec.memberships.push((sales, 0));
//! engine.upsert_agent(now, spec).unwrap();
//! engine.set_presence(now, alice, Presence::Online).unwrap();
//!
//! let task = engine.create_task(now, TaskSpec::new(TaskId(Uuid::from_u128(3)), sales)).unwrap();
//! assert_eq!(engine.task_info(task).unwrap().agent, Some(alice));
//! ```

mod command;
mod engine;
mod error;
mod event;
pub mod script;
mod spec;
mod types;

pub use command::{Command, CommandError, Outcome};
pub use engine::{
    AgentInfo, AgentSnapshot, EligibleAgent, Engine, Explanation, Ineligibility,
    MembershipSnapshot, RestoreError, ServiceInfo, ServiceSnapshot, Snapshot, TaskInfo,
    TaskSnapshot,
};
pub use error::{AgentError, ConfigError, TaskError};
pub use event::{Event, EventKind};
pub use spec::{
    AgentIdentity, AgentProfile, AgentSpec, EngineConfig, PresenceSettings, ProfileSpec,
    ServiceSpec, TaskSpec, INITIAL_PRESENCE,
};
pub use types::*;
