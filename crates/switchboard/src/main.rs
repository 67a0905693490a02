//! The `switchboard` command line: `serve` runs the server, `keys` manages API keys, `demo` and `run` show the
//! routing engine on scripts.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use switchboard_server::limits::Limits;
use switchboard_server::xuc::CtiConfig;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand, ValueEnum};
use switchboard_core::Time;
use switchboard_server::auth::Role;
use switchboard_server::clock::{Clock, SystemClock};
use switchboard_server::{AppState, ServerConfig};
use switchboard_store::{Store, StoreUrl};

mod bench;
mod bench_cti;
mod bench_day;
mod client;
mod day;
mod demo_live;
mod sim_agent;

const DEMO: &str = include_str!("demo.txt");

#[derive(Parser)]
#[command(
    name = "switchboard",
    version,
    about = "A contact-center routing engine"
)]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Commands {
    /// Run the server.
    Serve {
        /// Address to listen on.
        #[arg(long, env = "SWITCHBOARD_LISTEN", default_value = "127.0.0.1:4444")]
        listen: SocketAddr,
        /// Database: sqlite://PATH or postgres://USER:PASSWORD@HOST/DB [default: sqlite://switchboard.db, or
        /// sqlite://switchboard-demo.db with --demo].
        #[arg(long, env = "SWITCHBOARD_DB")]
        db: Option<String>,
        /// Run the demo contact center: demo services, agents and callers routing live (simulated agents on CTI
        /// sockets, callers over REST), every decision printed. Refuses a database that holds other data.
        #[arg(long)]
        demo: bool,
        /// Simulated agents in the demo.
        #[arg(long, default_value_t = 24, requires = "demo")]
        demo_agents: usize,
        /// How many times faster than real time the demo runs.
        #[arg(long, default_value_t = 1.0, requires = "demo")]
        demo_speed: f64,
        /// Make sure an admin key with this value exists (for automation).
        #[arg(long, env = "SWITCHBOARD_ADMIN_KEY", hide_env_values = true)]
        admin_key: Option<String>,
        /// Log format.
        #[arg(long, value_enum, default_value = "text")]
        log_format: LogFormat,
        /// Days to keep stored events and terminated tasks (0 keeps them forever).
        #[arg(long, env = "SWITCHBOARD_RETENTION_DAYS", default_value_t = 90)]
        retention_days: u32,
        /// Write a snapshot of a tenant after this many commands; a restart replays at most that many.
        #[arg(long, env = "SWITCHBOARD_SNAPSHOT_EVERY", default_value_t = 500_000)]
        snapshot_every: u64,
        /// Seconds a CTI agent whose socket went away stays logged in waiting for a reconnect; after it, the
        /// agent is logged out and an offer it held returns to the queue keeping its place.
        #[arg(long, env = "SWITCHBOARD_CTI_LOGOUT_GRACE", default_value_t = 15)]
        cti_logout_grace: u64,
        /// Seconds a CTI socket may stay silent (xuc clients ping every 5 s) before it is closed.
        #[arg(long, env = "SWITCHBOARD_CTI_SILENCE_TIMEOUT", default_value_t = 15)]
        cti_silence_timeout: u64,
        /// A configuration file (YAML, TOML or JSON) applied to the default tenant at start.
        #[arg(long, env = "SWITCHBOARD_CONFIG")]
        config: Option<String>,
        /// Seconds a webhook receiver has to answer a delivery.
        #[arg(long, env = "SWITCHBOARD_WEBHOOK_TIMEOUT_SECS", default_value_t = 10)]
        webhook_timeout_secs: u64,
        /// Minutes a webhook subscription may keep failing before it is paused.
        #[arg(
            long,
            env = "SWITCHBOARD_WEBHOOK_PAUSE_AFTER_MINUTES",
            default_value_t = 1440
        )]
        webhook_pause_after_minutes: u64,
        #[command(flatten)]
        limits: LimitArgs,
        #[command(flatten)]
        cluster: ClusterArgs,
    },
    /// Apply a configuration file (YAML, TOML or JSON) to a running server; applying it twice changes nothing.
    Import {
        /// The configuration file.
        file: String,
        /// The server.
        #[arg(long, env = "SWITCHBOARD_URL", default_value = "http://127.0.0.1:4444")]
        url: String,
        /// An API key with the Configuration role; its tenant is the one configured.
        #[arg(long, env = "SWITCHBOARD_API_KEY", hide_env_values = true)]
        key: String,
    },
    /// Manage API keys.
    Keys {
        /// Database: sqlite://PATH (default) or postgres://...
        #[arg(
            long,
            env = "SWITCHBOARD_DB",
            default_value = "sqlite://switchboard.db",
            global = true
        )]
        db: String,
        #[command(subcommand)]
        command: KeyCommands,
    },
    /// Run the built-in demo contact center on the routing engine and print every decision.
    Demo {
        /// Print the demo script instead of running it.
        #[arg(long)]
        script: bool,
    },
    /// Print the OpenAPI document of the server's API.
    Openapi,
    /// Look at a cluster of nodes sharing one PostgreSQL database (docs/cluster.md).
    Cluster {
        #[command(subcommand)]
        command: ClusterCommands,
    },
    /// Drive a running server with load and report throughput and latency.
    Bench {
        #[command(subcommand)]
        scenario: BenchScenario,
    },
    /// Run a routing script (the language is described in crates/switchboard-core/src/script.rs).
    Run {
        /// The script file.
        file: String,
    },
    /// Simulate a contact center on the routing engine with a simulated clock, or check it against Erlang C.
    Simulate(switchboard_sim::cli::SimulateArgs),
}

#[derive(Subcommand)]
enum BenchScenario {
    /// Open-loop task creation over REST at a fixed rate; latency counts from each request's due time.
    CreateTasks {
        /// The server.
        #[arg(long, env = "SWITCHBOARD_URL", default_value = "http://127.0.0.1:4444")]
        url: String,
        /// An API key with TasksManage (and Configuration to create the service if missing).
        #[arg(long, env = "SWITCHBOARD_API_KEY", hide_env_values = true)]
        key: String,
        /// Requests per second offered.
        #[arg(long, default_value_t = 1000)]
        rate: u64,
        /// Seconds to run.
        #[arg(long, default_value_t = 10)]
        duration: u64,
        /// Concurrent connections.
        #[arg(long, default_value_t = 64)]
        connections: usize,
        /// The service to create tasks in (SIP URI; created if missing).
        #[arg(long, default_value = "sip:bench@switchboard.test")]
        service: String,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Agent and supervisor CTI sockets under task load: latency from a task's creation over REST to the offer
    /// on its agent's socket and to the AgentRinging at the supervisor watching that agent.
    Cti {
        /// The server.
        #[arg(long, env = "SWITCHBOARD_URL", default_value = "http://127.0.0.1:4444")]
        url: String,
        /// An admin API key (it provisions users, CTI credentials and a service).
        #[arg(long, env = "SWITCHBOARD_API_KEY", hide_env_values = true)]
        key: String,
        /// Agent sockets.
        #[arg(long, default_value_t = 1000)]
        agents: usize,
        /// Supervisor sockets, each watching one agent group (agents are spread over the groups).
        #[arg(long, default_value_t = 10)]
        supervisors: usize,
        /// Tasks per second offered.
        #[arg(long, default_value_t = 100)]
        rate: u64,
        /// Seconds to run.
        #[arg(long, default_value_t = 10)]
        duration: u64,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// The full task lifecycle: calls created over REST at a fixed rate, each offer answered on the agent's CTI
    /// socket and hung up at once; latency from each call's due time to its offer, answer and end.
    Lifecycle {
        #[command(flatten)]
        day: DayArgs,
    },
    /// A compressed contact-center day: Poisson arrivals following a day curve over several services, agents
    /// that ring, talk, wrap up, decline, miss offers (RONA) and pause, VIP callers and callers who hang up.
    Mixed {
        #[command(flatten)]
        day: DayArgs,
        /// Mean talk time in seconds.
        #[arg(long, default_value_t = 4.0)]
        handle_secs: f64,
        /// Wrap-up after each call, in seconds.
        #[arg(long, default_value_t = 1)]
        wrapup_secs: u64,
        /// Mean patience of a waiting caller, in seconds.
        #[arg(long, default_value_t = 20.0)]
        patience_secs: f64,
        /// Share of VIP (high priority) calls.
        #[arg(long, default_value_t = 0.1)]
        vip_share: f64,
    },
}

/// Several nodes on one PostgreSQL database (docs/cluster.md).
#[derive(clap::Args)]
struct ClusterArgs {
    /// Join a cluster of nodes sharing the PostgreSQL database, reachable by the other nodes at this URL (for
    /// example http://10.0.0.5:4444). Each tenant is led by one node at a time; any node answers any request.
    #[arg(long, env = "SWITCHBOARD_ADVERTISE")]
    advertise: Option<String>,
    /// This node's id in the cluster [default: the advertised address]. Must be unique among running nodes.
    #[arg(long, env = "SWITCHBOARD_NODE_ID", requires = "advertise")]
    node_id: Option<String>,
    /// Milliseconds a tenant lease lasts without renewal: a node that died loses its tenants after about this
    /// long (renewed five times per period).
    #[arg(long, env = "SWITCHBOARD_LEASE_MS", default_value_t = 5000)]
    lease_ms: u64,
}

#[derive(Subcommand)]
enum ClusterCommands {
    /// Nodes, the tenants each leads and the age of every lease, as the database sees them.
    Status {
        /// Database: postgres://...
        #[arg(long, env = "SWITCHBOARD_DB")]
        db: String,
        /// A node is shown alive when its last heartbeat is younger than this (the nodes' --lease-ms).
        #[arg(long, default_value_t = 5000)]
        lease_ms: u64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// What the lifecycle and mixed scenarios share.
/// What a request, key, tenant, CTI user or the whole server may take (docs/limits.md).
#[derive(clap::Args)]
struct LimitArgs {
    /// Largest request body in bytes (413 past it).
    #[arg(long, env = "SWITCHBOARD_MAX_BODY_BYTES", default_value_t = Limits::default().max_body_bytes)]
    max_body_bytes: usize,
    /// Largest request line plus headers in bytes (431 past it).
    #[arg(long, env = "SWITCHBOARD_MAX_HEADER_BYTES", default_value_t = Limits::default().max_header_bytes)]
    max_header_bytes: usize,
    /// Requests handled at once by the whole server; more are answered 503 with Retry-After at once.
    #[arg(long, env = "SWITCHBOARD_MAX_IN_FLIGHT", default_value_t = Limits::default().max_in_flight)]
    max_in_flight: usize,
    /// Requests and event streams (and CTI sessions opened with the key) one API key may have open (429 past it).
    #[arg(long, env = "SWITCHBOARD_MAX_OPEN_PER_KEY", default_value_t = Limits::default().max_open_per_key)]
    max_open_per_key: usize,
    /// Live tasks one tenant may hold; creating another answers 429 until some end.
    #[arg(long, env = "SWITCHBOARD_MAX_LIVE_TASKS", default_value_t = Limits::default().max_live_tasks)]
    max_live_tasks: usize,
    /// Largest CTI websocket message a client may send, in bytes.
    #[arg(long, env = "SWITCHBOARD_CTI_MAX_MESSAGE_BYTES", default_value_t = CtiConfig::default().max_message_bytes)]
    cti_max_message_bytes: usize,
    /// CTI sockets one user may have open at once.
    #[arg(long, env = "SWITCHBOARD_CTI_MAX_SESSIONS_PER_USER", default_value_t = CtiConfig::default().max_sessions_per_user)]
    cti_max_sessions_per_user: u32,
}

#[derive(clap::Args)]
struct DayArgs {
    /// The server.
    #[arg(long, env = "SWITCHBOARD_URL", default_value = "http://127.0.0.1:4444")]
    url: String,
    /// An admin API key (it provisions services, users and CTI credentials).
    #[arg(long, env = "SWITCHBOARD_API_KEY", hide_env_values = true)]
    key: String,
    /// Agents (each on its own CTI socket).
    #[arg(long, default_value_t = 100)]
    agents: usize,
    /// Services.
    #[arg(long, default_value_t = 1)]
    services: usize,
    /// Services each agent serves.
    #[arg(long, default_value_t = 1)]
    skills: usize,
    /// Calls per second offered (open loop; the average for mixed).
    #[arg(long, default_value_t = 100.0)]
    rate: f64,
    /// Seconds of calls.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// REST requests in flight at most.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Seed of the random choices.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

impl DayArgs {
    fn options(self) -> bench_day::DayOptions {
        bench_day::DayOptions {
            url: self.url,
            key: self.key,
            agents: self.agents,
            services: self.services,
            skills: self.skills,
            rate: self.rate,
            duration: std::time::Duration::from_secs(self.duration),
            concurrency: self.concurrency,
            seed: self.seed,
            json: self.json,
        }
    }
}

#[derive(Subcommand)]
enum KeyCommands {
    /// Create a key and print it on stdout alone (it is shown only once).
    Create {
        /// A name to recognise the key by.
        #[arg(long)]
        name: String,
        /// Comma-separated roles, or `admin` for all of them.
        #[arg(long)]
        roles: String,
        /// The tenant the key belongs to.
        #[arg(long, default_value = "default")]
        tenant: String,
        /// Expiry date (YYYY-MM-DD, UTC midnight).
        #[arg(long)]
        expires: Option<String>,
        /// Rate limit, such as 1000/h.
        #[arg(long)]
        rate: Option<String>,
        /// Burst limit, such as 50/s.
        #[arg(long)]
        burst: Option<String>,
    },
    /// List keys (never the secrets).
    List,
    /// Revoke a key by id or name.
    Revoke {
        /// The key's id or name.
        key: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Commands::Demo { script: true } => {
            print!("{DEMO}");
            Ok(())
        }
        Commands::Demo { script: false } => run_script(DEMO),
        Commands::Run { file } => std::fs::read_to_string(&file)
            .with_context(|| format!("could not read script {file}"))
            .and_then(|script| run_script(&script)),
        Commands::Keys { db, command } => keys(&db, command),
        Commands::Cluster {
            command: ClusterCommands::Status { db, lease_ms, json },
        } => cluster_status(&db, lease_ms, json),
        Commands::Simulate(args) => switchboard_sim::cli::run(args),
        Commands::Bench {
            scenario:
                BenchScenario::CreateTasks {
                    url,
                    key,
                    rate,
                    duration,
                    connections,
                    service,
                    json,
                },
        } => tokio::runtime::Runtime::new()
            .context("could not start the async runtime")
            .and_then(|runtime| {
                runtime.block_on(bench::create_tasks(bench::CreateTasks {
                    url,
                    key,
                    rate,
                    duration: std::time::Duration::from_secs(duration),
                    connections,
                    service,
                    json,
                }))
            }),
        Commands::Bench {
            scenario:
                BenchScenario::Cti {
                    url,
                    key,
                    agents,
                    supervisors,
                    rate,
                    duration,
                    json,
                },
        } => tokio::runtime::Runtime::new()
            .context("could not start the async runtime")
            .and_then(|runtime| {
                runtime.block_on(bench_cti::cti(bench_cti::Cti {
                    url,
                    key,
                    agents,
                    supervisors,
                    rate,
                    duration: std::time::Duration::from_secs(duration),
                    json,
                }))
            }),
        Commands::Bench {
            scenario: BenchScenario::Lifecycle { day },
        } => tokio::runtime::Runtime::new()
            .context("could not start the async runtime")
            .and_then(|runtime| runtime.block_on(bench_day::lifecycle(day.options()))),
        Commands::Bench {
            scenario:
                BenchScenario::Mixed {
                    day,
                    handle_secs,
                    wrapup_secs,
                    patience_secs,
                    vip_share,
                },
        } => tokio::runtime::Runtime::new()
            .context("could not start the async runtime")
            .and_then(|runtime| {
                runtime.block_on(bench_day::mixed(
                    day.options(),
                    bench_day::MixedOptions {
                        handle: std::time::Duration::from_secs_f64(handle_secs.max(0.0)),
                        wrapup_secs,
                        patience: std::time::Duration::from_secs_f64(patience_secs.max(0.001)),
                        vip_share: vip_share.clamp(0.0, 1.0),
                    },
                ))
            }),
        Commands::Openapi => {
            println!("{:#}", switchboard_server::openapi_document());
            Ok(())
        }
        Commands::Serve {
            listen,
            db,
            demo,
            demo_agents,
            demo_speed,
            admin_key,
            log_format,
            retention_days,
            snapshot_every,
            cti_logout_grace,
            cti_silence_timeout,
            config,
            webhook_timeout_secs,
            webhook_pause_after_minutes,
            limits,
            cluster,
        } => {
            let cluster = match cluster.advertise {
                None => None,
                Some(advertise) => {
                    let advertise = advertise.trim_end_matches('/').to_string();
                    if !advertise.starts_with("http://") && !advertise.starts_with("https://") {
                        eprintln!("error: --advertise must be an http:// or https:// URL, such as http://10.0.0.5:4444");
                        return ExitCode::FAILURE;
                    }
                    if !db.as_deref().is_some_and(|d| d.starts_with("postgres")) {
                        eprintln!("error: several nodes share a PostgreSQL database: --advertise needs --db postgres://...");
                        return ExitCode::FAILURE;
                    }
                    if demo || config.is_some() {
                        eprintln!(
                            "error: --demo and --config run on one node; in a cluster, apply a configuration with \
                             `switchboard import` against any node"
                        );
                        return ExitCode::FAILURE;
                    }
                    Some(switchboard_server::cluster::ClusterConfig {
                        node: cluster.node_id.unwrap_or_else(|| {
                            advertise
                                .trim_start_matches("http://")
                                .trim_start_matches("https://")
                                .to_string()
                        }),
                        advertise,
                        lease_ttl: std::time::Duration::from_millis(cluster.lease_ms.max(100)),
                        db_url: db.clone().expect("checked above"),
                    })
                }
            };
            let server_config = ServerConfig {
                retention: (retention_days > 0)
                    .then(|| switchboard_core::Span::from_secs(i64::from(retention_days) * 86_400)),
                journal: switchboard_store::JournalOptions {
                    snapshot_every: snapshot_every.max(1),
                    ..Default::default()
                },
                cti: CtiConfig {
                    logout_grace: std::time::Duration::from_secs(cti_logout_grace),
                    silence_timeout: std::time::Duration::from_secs(cti_silence_timeout.max(1)),
                    max_message_bytes: limits.cti_max_message_bytes.max(1024),
                    max_sessions_per_user: limits.cti_max_sessions_per_user.max(1),
                    ..Default::default()
                },
                limits: Limits {
                    max_body_bytes: limits.max_body_bytes,
                    max_header_bytes: limits.max_header_bytes,
                    max_in_flight: limits.max_in_flight.max(1),
                    max_open_per_key: limits.max_open_per_key.max(1),
                    max_live_tasks: limits.max_live_tasks,
                },
                webhooks: switchboard_server::events::delivery::WebhookConfig {
                    timeout: std::time::Duration::from_secs(webhook_timeout_secs.max(1)),
                    pause_after: switchboard_core::Span::from_secs(
                        webhook_pause_after_minutes.max(1) as i64 * 60,
                    ),
                    ..Default::default()
                },
                cluster,
                ..ServerConfig::default()
            };
            let db = db.unwrap_or_else(|| {
                if demo {
                    "sqlite://switchboard-demo.db".to_string()
                } else {
                    "sqlite://switchboard.db".to_string()
                }
            });
            let demo = demo.then_some(demo_live::Demo {
                agents: demo_agents.max(1),
                speed: demo_speed,
            });
            serve(
                listen,
                &db,
                admin_key,
                log_format,
                server_config,
                config.as_deref(),
                demo,
            )
        }
        Commands::Import { file, url, key } => import(&file, &url, &key),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run_script(script: &str) -> anyhow::Result<()> {
    match switchboard_core::script::run(script) {
        Ok(trace) => {
            print!("{trace}");
            Ok(())
        }
        Err(error) => bail!("{error}"),
    }
}

fn open_store(db: &str) -> anyhow::Result<Store> {
    let shown = StoreUrl::parse(db)
        .map(|url| url.redacted())
        .unwrap_or_else(|_| switchboard_store::redact(db));
    Store::open(db).with_context(|| format!("could not open the database {shown}"))
}

/// Midnight UTC of a `YYYY-MM-DD` date.
fn parse_date(text: &str) -> anyhow::Result<Time> {
    let parts: Vec<&str> = text.split('-').collect();
    let [year, month, day] = parts[..] else {
        bail!("'{text}' is not a date (YYYY-MM-DD)");
    };
    let (year, month, day): (i64, i64, i64) = (
        year.parse().context("bad year")?,
        month.parse().context("bad month")?,
        day.parse().context("bad day")?,
    );
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        bail!("'{text}' is not a date (YYYY-MM-DD)");
    }
    // Days from civil (Howard Hinnant).
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Ok(Time::from_secs(days * 86_400))
}

fn parse_limit(text: &str) -> anyhow::Result<String> {
    let (count, unit) = text
        .split_once('/')
        .with_context(|| format!("'{text}' is not a limit such as 1000/h or 50/s"))?;
    count
        .parse::<u32>()
        .with_context(|| format!("'{text}' is not a limit such as 1000/h or 50/s"))?;
    if !["s", "m", "h", "d"].contains(&unit) {
        bail!("'{text}': the period must be s, m, h or d");
    }
    Ok(text.to_string())
}

fn keys(db: &str, command: KeyCommands) -> anyhow::Result<()> {
    let store = open_store(db)?;
    let now = SystemClock.now();
    match command {
        KeyCommands::Create {
            name,
            roles,
            tenant,
            expires,
            rate,
            burst,
        } => {
            let roles = Role::parse_list(&roles).map_err(anyhow::Error::msg)?;
            let expires = expires.as_deref().map(parse_date).transpose()?;
            if expires.is_some_and(|at| at <= now) {
                bail!("the expiry date is in the past");
            }
            let rate = rate.as_deref().map(parse_limit).transpose()?;
            let burst = burst.as_deref().map(parse_limit).transpose()?;
            let new = switchboard_server::NewKey {
                tenant,
                name,
                roles,
                expires_at: expires,
                rate_limit: rate,
                burst_limit: burst,
            };
            let created = switchboard_server::create_key(&store, &new, now)
                .context("could not store the key")?;
            println!("{}", created.key);
        }
        KeyCommands::List => {
            println!(
                "{:<38} {:<12} {:<20} {:<9} ROLES",
                "ID", "TENANT", "NAME", "STATE"
            );
            for key in store.list_keys()? {
                let state = if key.revoked_at.is_some() {
                    "revoked"
                } else if key.expires_at.is_some_and(|at| at <= now.as_micros()) {
                    "expired"
                } else {
                    "active"
                };
                println!(
                    "{:<38} {:<12} {:<20} {:<9} {}",
                    key.id,
                    key.tenant,
                    key.name,
                    state,
                    key.roles.join(",")
                );
            }
        }
        KeyCommands::Revoke { key } => {
            if !store.revoke_key(&key, now)? {
                bail!("no active key with id or name '{key}'");
            }
            println!("revoked {key}");
        }
    }
    store.close();
    Ok(())
}

/// `switchboard cluster status`: read straight from the database, so it works whichever nodes are up.
fn cluster_status(db: &str, lease_ms: u64, json: bool) -> anyhow::Result<()> {
    // Opening a store brings the schema up to date (and fails clearly on an SQLite URL below).
    let store = open_store(db)?;
    store.close();
    let mut leases = switchboard_store::cluster::Leases::open(db, "switchboard cluster status")?;
    let view = leases.view()?;
    let alive = |heartbeat_ms_ago: i64| heartbeat_ms_ago < lease_ms as i64;
    if json {
        let nodes: Vec<serde_json::Value> = view
            .nodes
            .iter()
            .map(|n| {
                serde_json::json!({
                    "node": n.node, "advertise": n.advertise, "alive": alive(n.heartbeat_ms_ago),
                    "up_ms": n.started_ms_ago, "heartbeat_ms_ago": n.heartbeat_ms_ago,
                    "tenants": view.leases.iter()
                        .filter(|l| l.node.as_deref() == Some(n.node.as_str()) && l.expires_in_ms > 0)
                        .map(|l| l.tenant.clone()).collect::<Vec<_>>(),
                })
            })
            .collect();
        let tenants: Vec<serde_json::Value> = view
            .leases
            .iter()
            .map(|l| {
                serde_json::json!({
                    "tenant": l.tenant, "node": l.node, "epoch": l.epoch, "lease_age_ms": l.held_ms,
                    "expires_in_ms": l.expires_in_ms, "changes": l.changes,
                })
            })
            .collect();
        println!(
            "{:#}",
            serde_json::json!({"nodes": nodes, "tenants": tenants})
        );
        return Ok(());
    }
    let seconds = |ms: i64| format!("{:.1}s", ms as f64 / 1000.0);
    println!("nodes ({}):", view.nodes.len());
    println!(
        "  {:<24} {:<30} {:<6} {:>9} {:>10} {:>8}",
        "NODE", "ADDRESS", "STATE", "UP", "HEARTBEAT", "TENANTS"
    );
    for n in &view.nodes {
        let led = view
            .leases
            .iter()
            .filter(|l| l.node.as_deref() == Some(n.node.as_str()) && l.expires_in_ms > 0)
            .count();
        println!(
            "  {:<24} {:<30} {:<6} {:>9} {:>10} {:>8}",
            n.node,
            n.advertise,
            if alive(n.heartbeat_ms_ago) {
                "alive"
            } else {
                "silent"
            },
            seconds(n.started_ms_ago),
            format!("{} ago", seconds(n.heartbeat_ms_ago)),
            led
        );
    }
    println!("tenants ({}):", view.leases.len());
    println!(
        "  {:<24} {:<24} {:>6} {:>10} {:>11} {:>8}",
        "TENANT", "LEADER", "EPOCH", "LEASE AGE", "EXPIRES IN", "CHANGES"
    );
    for l in &view.leases {
        let leader = match (&l.node, l.expires_in_ms > 0) {
            (Some(node), true) => node.clone(),
            (Some(node), false) => format!("({node}, expired)"),
            (None, _) => "(released)".to_string(),
        };
        println!(
            "  {:<24} {:<24} {:>6} {:>10} {:>11} {:>8}",
            l.tenant,
            leader,
            l.epoch,
            seconds(l.held_ms),
            seconds(l.expires_in_ms),
            l.changes
        );
    }
    let unled: Vec<&String> = view
        .tenants
        .iter()
        .filter(|t| !view.leases.iter().any(|l| &l.tenant == *t))
        .collect();
    if !unled.is_empty() {
        println!(
            "never led yet: {}",
            unled
                .iter()
                .map(|t| t.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(())
}

fn serve(
    listen: SocketAddr,
    db: &str,
    admin_key: Option<String>,
    log_format: LogFormat,
    config: ServerConfig,
    config_file: Option<&str>,
    demo: Option<demo_live::Demo>,
) -> anyhow::Result<()> {
    let configuration = config_file
        .map(|file| {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("could not read the configuration {file}"))?;
            switchboard_server::configuration::parse(&text, file).map_err(anyhow::Error::msg)
        })
        .transpose()?;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    match log_format {
        LogFormat::Text => tracing_subscriber::fmt().with_env_filter(filter).init(),
        LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .init(),
    }
    let shown = StoreUrl::parse(db)?.redacted();
    let store = Arc::new(open_store(db)?);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let (state, created) = AppState::open(store, clock, config, admin_key.as_deref())
        .with_context(|| format!("could not recover the state from {shown}"))?;
    let runtime = tokio::runtime::Runtime::new().context("could not start the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("could not listen on {listen}"))?;
        let address = listener.local_addr()?;
        if let Some(configuration) = configuration {
            let tenant = state
                .tenant(&ServerConfig::default().default_tenant)
                .await
                .map_err(|e| anyhow::anyhow!("{}", e.message))?;
            let report = switchboard_server::configuration::apply(&state, &tenant, configuration)
                .await
                .map_err(|e| anyhow::anyhow!("the configuration was not applied: {}", e.message))?;
            println!(
                "configuration applied: {} services, {} users, {} profiles changed; {} unchanged",
                report.services_changed, report.users_changed, report.profiles_changed, report.unchanged
            );
        }
        if let Some(created) = created {
            println!("\nFirst start: created the admin API key (shown only this once; it is stored hashed):\n");
            println!("    {}\n", created.key);
            println!("Use it in the api_key header, for example:");
            println!("    curl -H 'api_key: {}' http://{address}/v1.0/services\n", created.key);
            println!("More keys: switchboard keys create --name crm --roles TasksManage,UserControl\n");
        }
        let demo_stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        if let Some(demo) = demo {
            start_demo(&state, address, demo, demo_stop.clone()).await?;
        }
        println!("switchboard listening on http://{address} (database {shown})");
        let result = switchboard_server::serve(listener, state, shutdown_signal())
            .await
            .context("server error");
        demo_stop.store(true, std::sync::atomic::Ordering::Relaxed);
        result
    })
}

/// Seeds the demo tenant (refusing a database with other data), then runs the demo beside the server.
async fn start_demo(
    state: &AppState,
    address: SocketAddr,
    demo: demo_live::Demo,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> anyhow::Result<()> {
    let tenant_name = ServerConfig::default().default_tenant;
    let tenant = state
        .tenant(&tenant_name)
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.message))?;
    demo_live::check_tenant(state, &tenant)?;
    let text = demo_live::configuration(demo.agents).to_string();
    let configuration =
        switchboard_server::configuration::parse(&text, "demo.json").map_err(anyhow::Error::msg)?;
    switchboard_server::configuration::apply(state, &tenant, configuration)
        .await
        .map_err(|e| anyhow::anyhow!("the demo configuration was not applied: {}", e.message))?;
    // The demo drives the server over its own API with a key of its own, made anew at every start.
    let now = state.now();
    while state.store().revoke_key("demo-driver", now)? {}
    let key = switchboard_server::create_key(
        state.store(),
        &switchboard_server::NewKey {
            tenant: tenant_name.clone(),
            name: "demo-driver".to_string(),
            roles: Role::ALL.to_vec(),
            expires_at: None,
            rate_limit: None,
            burst_limit: None,
        },
        now,
    )?;
    // A read-only key for the task explorer (and the wallboard's API-key sign-in), also made anew.
    while state.store().revoke_key("demo-viewer", now)? {}
    let viewer = switchboard_server::create_key(
        state.store(),
        &switchboard_server::NewKey {
            tenant: tenant_name,
            name: "demo-viewer".to_string(),
            roles: vec![
                Role::OuReadonly,
                Role::ServiceReadonly,
                Role::TasksReadonly,
                Role::UserReadonly,
            ],
            expires_at: None,
            rate_limit: None,
            burst_limit: None,
        },
        now,
    )?;
    let api = client::Api::new(&format!("http://{address}"), &key.key, 16)?;
    println!(
        "\nDemo contact center (all of it marked Demo, addresses in {}):",
        demo_live::DOMAIN
    );
    println!(
        "  {} simulated agents on CTI sockets, simulated callers over REST, at {}x real time",
        demo.agents, demo.speed
    );
    println!(
        "  wallboard:     http://{address}/wallboard  (supervisor {} / {})",
        demo_live::SUPERVISOR_LOGIN,
        demo_live::PASSWORD
    );
    println!(
        "  agent desktop: http://{address}/agent  (agent {} / {}, line {})",
        demo_live::AGENT_LOGIN,
        demo_live::PASSWORD,
        demo_live::line_of(demo.agents)
    );
    println!(
        "  task explorer: http://{address}/tasks  (read-only API key {})",
        viewer.key
    );
    println!("Every routing decision follows (time, what, where, who):\n");
    let state = state.clone();
    tokio::spawn(async move {
        if let Err(error) = demo.run(api, state, tenant, stop).await {
            eprintln!("the demo stopped: {error:#}");
        }
    });
    Ok(())
}

fn import(file: &str, url: &str, key: &str) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(file).with_context(|| format!("could not read {file}"))?;
    let configuration =
        switchboard_server::configuration::parse(&text, file).map_err(anyhow::Error::msg)?;
    let runtime = tokio::runtime::Runtime::new().context("could not start the async runtime")?;
    runtime.block_on(async {
        let endpoint = format!("{}/v2.0/configuration", url.trim_end_matches('/'));
        let response = reqwest::Client::new()
            .post(&endpoint)
            .header("api_key", key)
            .json(&configuration)
            .send()
            .await
            .with_context(|| format!("could not reach {endpoint}"))?;
        let status = response.status();
        let body: serde_json::Value = response.json().await.unwrap_or(serde_json::Value::Null);
        if !status.is_success() {
            bail!(
                "the server refused the configuration ({status}): {}",
                body["Error"]["Message"].as_str().unwrap_or("no message")
            );
        }
        println!(
            "applied: {} services, {} users, {} profiles changed{}; {} unchanged",
            body["ServicesChanged"],
            body["UsersChanged"],
            body["ProfilesChanged"],
            if body["SettingsChanged"] == true {
                ", settings changed"
            } else {
                ""
            },
            body["Unchanged"]
        );
        Ok(())
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
    tracing::info!("shutting down: finishing requests and writing snapshots");
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn dates_and_limits_parse() {
        assert_eq!(parse_date("1970-01-02").unwrap(), Time::from_secs(86_400));
        assert_eq!(
            parse_date("2026-11-24").unwrap(),
            Time::from_secs(1_795_478_400)
        );
        assert!(parse_date("2026-13-01").is_err());
        assert!(parse_date("tomorrow").is_err());
        assert!(parse_limit("1000/h").is_ok());
        assert!(parse_limit("50/s").is_ok());
        assert!(parse_limit("50/y").is_err());
        assert!(parse_limit("many/s").is_err());
    }
}
