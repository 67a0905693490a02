//! A small, readable script language that drives an [`Engine`] and prints a trace of every decision.
//!
//! Scenario tests compare the trace with a snapshot; the CLI demo prints it. Names (agents, services, tasks,
//! profiles, traits) are the script's own and map onto ids deterministically. Times are absolute (`at 30s`) or
//! relative (`wait 5s`); durations take `ms`, `s`, `m`, `h`, `d` suffixes (bare numbers are seconds).
//!
//! Commands, one per line (`#` starts a comment):
//! ```text
//! config [seed=N] [rona=D|none] [polling=D|none] [lifetime=D|none]
//! profile NAME [off-duty]
//! service NAME [strategy=S] [traits=T:L,..] [rona=D] [wrapup=D] [max-wait=D] [overflow=SERVICE] [number=N]
//! agent NAME [traits=T:L,..] [member=SERVICE[:PENALTY],..] [caps=im,audio,video,desktop,context|all|none]
//!            [chat=N] [email=N] [profiles=P,..] [profile=P] [resp=P:T:L,..] [line=L] [group=N] [number=N]
//!            [busy-selectable] [meeting-selectable]
//! presence AGENT PRESENCE | login AGENT LINE | logout AGENT | block AGENT | unblock AGENT
//! absent AGENT REASON | present AGENT | pause AGENT [REASON] | unpause AGENT | shift AGENT PROFILE
//! wrapup-end AGENT | member AGENT SERVICE PENALTY | unmember AGENT SERVICE
//! remove-agent AGENT | remove-service SERVICE
//! task NAME SERVICE [kind=external|call|chat|mail|callback] [priority=N] [prefer=A,..] [only] [reserve=A:D]
//!            [caps=..] [traits=T:L,..] [rona=D] [external=ID] [nodistribute] [due=T] [outbound]
//! accept TASK [AGENT] | decline TASK AGENT | refresh TASK [rona] | terminate TASK [cancel] | hold TASK
//! resume TASK | transfer TASK service=S|agent=A | priority TASK N | reserve TASK AGENT D | unreserve TASK
//! poll TASK | blocktask AGENT NAME | claim TASK AGENT | release TASK | reschedule TASK DELAY
//! consult TASK AGENT|tel:NUMBER | consult-merge TASK | consult-transfer TASK | consult-end TASK
//! consult-leave TASK | consult-hangup TASK | consult-audio TASK [mute-consultant] [mute-customer]
//! at T | wait D
//! status AGENT.. | queue SERVICE | explain TASK | show TASK | check | restart
//! ```

use std::collections::BTreeMap;
use std::fmt::Write;

use uuid::Uuid;

use crate::{
    AgentId, AgentProfile, AgentSpec, AudioRoutes, Capabilities, ConsultationAction,
    ConsultationTarget, Direction, Engine, EngineConfig, EventKind, Ineligibility, Presence,
    Priority, ProfileId, ProfileSpec, ServiceId, ServiceSpec, Span, Strategy, TaskId, TaskKind,
    TaskSpec, TerminationReason, Time, TraitRequirement,
};

/// Runs a whole script from an empty engine and returns the trace. Errors of the engine are part of the trace;
/// a malformed script line stops the run with an error naming the line.
pub fn run(script: &str) -> Result<String, String> {
    let mut runner = Runner::new();
    for (line_no, raw) in script.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        runner
            .line(line)
            .map_err(|error| format!("line {}: {error}: {line}", line_no + 1))?;
    }
    Ok(runner.out)
}

/// Runs a script like [`run`], but replaces the engine after every line with one restored from its snapshot, and
/// checks that the restored engine's snapshot equals the original's. The trace must equal [`run`]'s: that is the
/// proof that a restore loses nothing that routing depends on.
pub fn run_with_restores(script: &str) -> Result<String, String> {
    let mut runner = Runner::new();
    for (line_no, raw) in script.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        runner
            .line(line)
            .map_err(|error| format!("line {}: {error}: {line}", line_no + 1))?;
        let snapshot = runner.engine.snapshot();
        let restored = Engine::restore(snapshot.clone())
            .map_err(|error| format!("line {}: {error}", line_no + 1))?;
        if restored.snapshot() != snapshot {
            return Err(format!(
                "line {}: the restored engine's snapshot differs from the original's",
                line_no + 1
            ));
        }
        runner.engine = restored;
    }
    Ok(runner.out)
}

/// The interpreter state: the engine, the name registry and the trace so far.
pub struct Runner {
    engine: Engine,
    now: Time,
    names: BTreeMap<Uuid, String>,
    ids: BTreeMap<(char, String), Uuid>,
    out: String,
}

impl Default for Runner {
    fn default() -> Self {
        Self::new()
    }
}

/// Formats a time as seconds from the start of the script.
pub fn fmt_time(time: Time) -> String {
    let micros = time.as_micros();
    if micros % 1_000_000 == 0 {
        format!("{}s", micros / 1_000_000)
    } else {
        format!("{:.3}s", micros as f64 / 1e6)
    }
}

fn parse_span(text: &str) -> Result<Span, String> {
    let (number, unit) = match text.find(|c: char| c.is_ascii_alphabetic()) {
        Some(pos) => text.split_at(pos),
        None => (text, "s"),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a duration"))?;
    let micros_per_unit = match unit {
        "ms" => 1e3,
        "s" => 1e6,
        "m" => 60e6,
        "h" => 3600e6,
        "d" => 86400e6,
        _ => return Err(format!("unknown time unit in '{text}'")),
    };
    Ok(Span((value * micros_per_unit).round() as i64))
}

fn parse_optional_span(text: &str) -> Result<Option<Span>, String> {
    if text == "none" {
        Ok(None)
    } else {
        parse_span(text).map(Some)
    }
}

fn parse_caps(text: &str) -> Result<Capabilities, String> {
    match text {
        "all" => return Ok(Capabilities::ALL),
        "none" => return Ok(Capabilities::NONE),
        _ => {}
    }
    let mut caps = Capabilities::NONE;
    for name in text.split(',') {
        caps = caps.with(match name {
            "im" => Capabilities::IM,
            "audio" => Capabilities::AUDIO,
            "video" => Capabilities::VIDEO,
            "desktop" => Capabilities::DESKTOP_SHARING,
            "context" => Capabilities::CONVERSATION_CONTEXT,
            _ => return Err(format!("unknown capability '{name}'")),
        });
    }
    Ok(caps)
}

struct Args<'a> {
    positional: Vec<&'a str>,
    named: BTreeMap<&'a str, &'a str>,
}

impl<'a> Args<'a> {
    fn parse(words: &[&'a str]) -> Args<'a> {
        let mut positional = Vec::new();
        let mut named = BTreeMap::new();
        for word in words {
            match word.split_once('=') {
                Some((key, value)) => {
                    named.insert(key, value);
                }
                None => positional.push(*word),
            }
        }
        Args { positional, named }
    }

    fn pos(&self, index: usize, what: &str) -> Result<&'a str, String> {
        self.positional
            .get(index)
            .copied()
            .ok_or_else(|| format!("missing {what}"))
    }

    fn flag(&self, name: &str) -> bool {
        self.positional.contains(&name)
    }
}

impl Runner {
    /// An interpreter over an engine with default settings.
    pub fn new() -> Runner {
        Runner {
            engine: Engine::new(EngineConfig::default()),
            now: Time::ZERO,
            names: BTreeMap::new(),
            ids: BTreeMap::new(),
            out: String::new(),
        }
    }

    /// The engine being driven.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The trace so far.
    pub fn trace(&self) -> &str {
        &self.out
    }

    fn id(&mut self, kind: char, name: &str) -> Uuid {
        if let Some(id) = self.ids.get(&(kind, name.to_string())) {
            return *id;
        }
        let id = Uuid::from_u128(((kind as u128) << 64) | (self.ids.len() as u128 + 1));
        self.ids.insert((kind, name.to_string()), id);
        self.names.insert(id, name.to_string());
        id
    }

    fn known(&self, kind: char, name: &str) -> Result<Uuid, String> {
        self.ids
            .get(&(kind, name.to_string()))
            .copied()
            .ok_or_else(|| format!("unknown name '{name}'"))
    }

    fn agent(&self, name: &str) -> Result<AgentId, String> {
        self.known('a', name).map(AgentId)
    }

    fn service(&self, name: &str) -> Result<ServiceId, String> {
        self.known('s', name).map(ServiceId)
    }

    fn task(&self, name: &str) -> Result<TaskId, String> {
        self.known('t', name).map(TaskId)
    }

    fn name(&self, id: Uuid) -> String {
        self.names
            .get(&id)
            .cloned()
            .unwrap_or_else(|| "?".to_string())
    }

    fn traits(&mut self, text: &str) -> Result<Vec<TraitRequirement>, String> {
        text.split(',')
            .map(|item| {
                let (name, level) = item
                    .rsplit_once(':')
                    .ok_or_else(|| format!("trait '{item}' needs NAME:LEVEL"))?;
                let level: u8 = level
                    .parse()
                    .map_err(|_| format!("bad level in '{item}'"))?;
                Ok(TraitRequirement {
                    trait_id: self.engine.intern_trait(name),
                    min_level: level,
                })
            })
            .collect()
    }

    /// Runs one script line, appending its echo and the events it caused to the trace.
    pub fn line(&mut self, line: &str) -> Result<(), String> {
        let words: Vec<&str> = line.split_whitespace().collect();
        let (command, rest) = words.split_first().ok_or("empty line")?;
        let args = Args::parse(rest);
        let _ = writeln!(self.out, "> {line}");
        let now = self.now;
        let result: Result<(), String> = match *command {
            "config" => self.config(&args),
            "profile" => {
                let name = args.pos(0, "profile name")?;
                let id = ProfileId(self.id('p', name));
                self.engine.upsert_profile(
                    now,
                    ProfileSpec {
                        id,
                        name: name.to_string(),
                        off_duty: args.flag("off-duty"),
                    },
                );
                Ok(())
            }
            "service" => self.service_line(&args),
            "agent" => self.agent_line(&args),
            "task" => self.task_line(&args),
            "at" => {
                let at = Time(parse_span(args.pos(0, "time")?)?.0);
                if at < self.now {
                    return Err("time cannot go backwards".into());
                }
                self.now = at;
                self.engine.advance(at);
                Ok(())
            }
            "wait" => {
                self.now = self.now.plus(parse_span(args.pos(0, "duration")?)?);
                self.engine.advance(self.now);
                Ok(())
            }
            "status" => {
                for name in &args.positional {
                    let id = self.agent(name)?;
                    let info = self.engine.agent_info(id).ok_or("agent removed")?;
                    let _ = writeln!(
                        self.out,
                        "  {name}: {} {} presence={} tasks={}",
                        info.state.xuc_name(),
                        match info.reason {
                            None => "selectable".to_string(),
                            Some(reason) => format!("not-selectable({})", reason.name()),
                        },
                        info.presence.name(),
                        info.tasks.len()
                    );
                }
                Ok(())
            }
            "queue" => {
                let service = self.service(args.pos(0, "service")?)?;
                let waiting = self.engine.waiting_tasks(service);
                let mut items = Vec::new();
                for task in waiting {
                    let position = self.engine.queue_position(task).unwrap_or(0);
                    items.push(format!("{}@{}", self.name(task.0), position));
                }
                let _ = writeln!(self.out, "  queue: [{}]", items.join(", "));
                Ok(())
            }
            "explain" => self.explain_line(&args),
            "show" => {
                let task = self.task(args.pos(0, "task")?)?;
                let info = self.engine.task_info(task).ok_or("task is not live")?;
                let _ = writeln!(
                    self.out,
                    "  {}: {} priority={} agent={} selection={} offers={} initial-position={}",
                    self.name(task.0),
                    info.status.name(),
                    info.priority.0,
                    info.agent.map(|a| self.name(a.0)).unwrap_or("-".into()),
                    info.selection.map(|s| s.name()).unwrap_or("-"),
                    info.n_offers,
                    info.initial_position
                );
                if let Some(consultation) = self.engine.consultation_of(task) {
                    let target = match &consultation.target {
                        ConsultationTarget::Agent(agent) => self.name(agent.0),
                        ConsultationTarget::External(number) => format!("tel:{number}"),
                    };
                    let _ = writeln!(
                        self.out,
                        "  consultation: {} with {target} since {}{}",
                        consultation.status.name(),
                        fmt_time(consultation.started),
                        if consultation.customer_connected {
                            ""
                        } else {
                            ", customer left"
                        }
                    );
                }
                Ok(())
            }
            "restart" => {
                // What a server does after a crash: restore the engine from its snapshot, then recover sessions.
                let snapshot = self.engine.snapshot();
                self.engine = Engine::restore(snapshot).map_err(|e| e.to_string())?;
                self.engine.recover_sessions(now);
                Ok(())
            }
            "check" => {
                let ok = self.engine.is_work_conserving();
                let _ = writeln!(
                    self.out,
                    "  work-conserving: {}",
                    if ok { "yes" } else { "NO" }
                );
                Ok(())
            }
            _ => self.control_line(command, &args),
        };
        self.flush_events();
        result
    }

    fn config(&mut self, args: &Args) -> Result<(), String> {
        let mut config = self.engine.config().clone();
        if let Some(seed) = args.named.get("seed") {
            config.random_seed = seed.parse().map_err(|_| "bad seed")?;
        }
        if let Some(rona) = args.named.get("rona") {
            config.default_rona_timeout = parse_optional_span(rona)?;
        }
        if let Some(polling) = args.named.get("polling") {
            config.max_polling_timeout = parse_optional_span(polling)?;
        }
        if let Some(lifetime) = args.named.get("lifetime") {
            config.max_task_lifetime = parse_optional_span(lifetime)?;
        }
        if args.named.contains_key("seed") {
            if self.engine.last_event_seq() > 0 {
                return Err("config seed=.. must come before anything else".into());
            }
            self.engine = Engine::new(config);
        } else {
            self.engine.set_config(self.now, config);
        }
        Ok(())
    }

    fn service_line(&mut self, args: &Args) -> Result<(), String> {
        let name = args.pos(0, "service name")?;
        let id = ServiceId(self.id('s', name));
        let mut spec = ServiceSpec::new(id, name);
        spec.sip_uri = format!("sip:{name}@example.test");
        if let Some(strategy) = args.named.get("strategy") {
            spec.strategy = Strategy::from_name(strategy)
                .ok_or_else(|| format!("unknown strategy '{strategy}'"))?;
        }
        if let Some(traits) = args.named.get("traits") {
            spec.required_traits = self.traits(traits)?;
        }
        if let Some(rona) = args.named.get("rona") {
            spec.rona_timeout = parse_optional_span(rona)?;
        }
        if let Some(wrapup) = args.named.get("wrapup") {
            spec.wrapup = parse_span(wrapup)?;
        }
        if let Some(max_wait) = args.named.get("max-wait") {
            spec.max_wait = parse_optional_span(max_wait)?;
        }
        if let Some(overflow) = args.named.get("overflow") {
            spec.overflow_to = Some(self.service(overflow)?);
        }
        if let Some(number) = args.named.get("number") {
            spec.number = Some(number.parse().map_err(|_| "bad number")?);
        }
        self.engine
            .upsert_service(self.now, spec)
            .map_err(|e| e.to_string())
            .or_else(|e| self.error(e))
    }

    fn agent_line(&mut self, args: &Args) -> Result<(), String> {
        let name = args.pos(0, "agent name")?;
        let id = AgentId(self.id('a', name));
        let mut spec = AgentSpec::new(id, name);
        if let Some(traits) = args.named.get("traits") {
            spec.traits = self
                .traits(traits)?
                .into_iter()
                .map(|r| (r.trait_id, r.min_level))
                .collect();
        }
        if let Some(members) = args.named.get("member") {
            for item in members.split(',') {
                let (service, penalty) = match item.split_once(':') {
                    Some((service, penalty)) => {
                        (service, penalty.parse().map_err(|_| "bad penalty")?)
                    }
                    None => (item, 0),
                };
                spec.memberships.push((self.service(service)?, penalty));
            }
        }
        if let Some(caps) = args.named.get("caps") {
            spec.capabilities = parse_caps(caps)?;
        }
        if let Some(chat) = args.named.get("chat") {
            spec.chat_capacity = chat.parse().map_err(|_| "bad chat capacity")?;
        }
        if let Some(email) = args.named.get("email") {
            spec.email_capacity = email.parse().map_err(|_| "bad email capacity")?;
        }
        if let Some(profiles) = args.named.get("profiles") {
            for profile in profiles.split(',') {
                let profile = ProfileId(self.known('p', profile)?);
                spec.profiles.push(AgentProfile {
                    profile,
                    responsibilities: Vec::new(),
                });
            }
        }
        if let Some(responsibilities) = args.named.get("resp") {
            for item in responsibilities.split(',') {
                let parts: Vec<&str> = item.split(':').collect();
                let [profile, trait_name, level] = parts[..] else {
                    return Err(format!("responsibility '{item}' needs PROFILE:TRAIT:LEVEL"));
                };
                let profile = ProfileId(self.known('p', profile)?);
                let trait_id = self.engine.intern_trait(trait_name);
                let level: u8 = level.parse().map_err(|_| "bad responsibility level")?;
                match spec.profiles.iter_mut().find(|p| p.profile == profile) {
                    Some(agent_profile) => agent_profile.responsibilities.push((trait_id, level)),
                    None => spec.profiles.push(AgentProfile {
                        profile,
                        responsibilities: vec![(trait_id, level)],
                    }),
                }
            }
        }
        if let Some(profile) = args.named.get("profile") {
            spec.default_profile = Some(ProfileId(self.known('p', profile)?));
        }
        if let Some(line) = args.named.get("line") {
            spec.phone_line = Some(line.to_string());
        }
        if let Some(group) = args.named.get("group") {
            spec.group = group.parse().map_err(|_| "bad group")?;
        }
        if let Some(number) = args.named.get("number") {
            spec.number = Some(number.parse().map_err(|_| "bad number")?);
        }
        spec.presence_settings.busy_selectable = args.flag("busy-selectable");
        spec.presence_settings.busy_in_meeting_selectable = args.flag("meeting-selectable");
        self.engine
            .upsert_agent(self.now, spec)
            .map_err(|e| e.to_string())
            .or_else(|e| self.error(e))
    }

    fn task_line(&mut self, args: &Args) -> Result<(), String> {
        let name = args.pos(0, "task name")?;
        let service = self.service(args.pos(1, "service")?)?;
        let id = TaskId(self.id('t', name));
        let mut spec = TaskSpec::new(id, service);
        spec.customer = format!("customer of {name}");
        if let Some(kind) = args.named.get("kind") {
            spec.kind = match *kind {
                "external" => TaskKind::External,
                "call" => TaskKind::Call,
                "chat" => TaskKind::Chat,
                "mail" => TaskKind::Mail,
                "callback" => TaskKind::Callback,
                _ => return Err(format!("unknown task kind '{kind}'")),
            };
        }
        if let Some(priority) = args.named.get("priority") {
            spec.priority = Priority(priority.parse().map_err(|_| "bad priority")?);
        }
        if let Some(prefer) = args.named.get("prefer") {
            for agent in prefer.split(',') {
                spec.preferred_agents.push(self.agent(agent)?);
            }
        }
        spec.preferred_only = args.flag("only");
        if let Some(reserve) = args.named.get("reserve") {
            let (agent, span) = reserve
                .split_once(':')
                .ok_or("reserve needs AGENT:DURATION")?;
            spec.reserved = Some((self.agent(agent)?, self.now.plus(parse_span(span)?)));
        }
        if let Some(caps) = args.named.get("caps") {
            spec.required_capabilities = parse_caps(caps)?;
        }
        if let Some(traits) = args.named.get("traits") {
            spec.required_traits = self.traits(traits)?;
        }
        if let Some(rona) = args.named.get("rona") {
            spec.rona_timeout = parse_optional_span(rona)?;
        }
        if let Some(external) = args.named.get("external") {
            spec.external_id = Some(external.to_string());
        }
        if let Some(due) = args.named.get("due") {
            spec.not_before = Some(Time(parse_span(due)?.0));
        }
        spec.distribute = !args.flag("nodistribute");
        if args.flag("outbound") {
            spec.direction = Direction::Outbound;
        }
        let result = self.engine.create_task(self.now, spec);
        result
            .map(|_| ())
            .map_err(|e| e.to_string())
            .or_else(|e| self.error(e))
    }

    fn control_line(&mut self, command: &str, args: &Args) -> Result<(), String> {
        let now = self.now;
        let result: Result<(), String> = match command {
            "presence" => {
                let agent = self.agent(args.pos(0, "agent")?)?;
                let presence = args.pos(1, "presence")?;
                let presence = Presence::from_name(presence)
                    .ok_or_else(|| format!("unknown presence '{presence}'"))?;
                self.engine
                    .set_presence(now, agent, presence)
                    .map_err(|e| e.to_string())
            }
            "login" => {
                let agent = self.agent(args.pos(0, "agent")?)?;
                let line = args.pos(1, "line")?;
                self.engine
                    .login(now, agent, line)
                    .map_err(|e| e.to_string())
            }
            "logout" => {
                let agent = self.agent(args.pos(0, "agent")?)?;
                self.engine.logout(now, agent).map_err(|e| e.to_string())
            }
            "block" | "unblock" | "present" | "unpause" | "wrapup-end" => {
                let agent = self.agent(args.pos(0, "agent")?)?;
                match command {
                    "block" => self.engine.block(now, agent),
                    "unblock" => self.engine.unblock(now, agent),
                    "present" => self.engine.unset_absent(now, agent),
                    "unpause" => self.engine.unpause(now, agent),
                    _ => self.engine.end_wrapup(now, agent),
                }
                .map_err(|e| e.to_string())
            }
            "absent" | "pause" => {
                let agent = self.agent(args.pos(0, "agent")?)?;
                let reason = args.positional.get(1).copied().unwrap_or("");
                if command == "absent" {
                    self.engine.set_absent(now, agent, reason)
                } else {
                    self.engine.pause(now, agent, reason)
                }
                .map_err(|e| e.to_string())
            }
            "shift" => {
                let agent = self.agent(args.pos(0, "agent")?)?;
                let profile = ProfileId(self.known('p', args.pos(1, "profile")?)?);
                self.engine
                    .set_active_profile(now, agent, profile)
                    .map_err(|e| e.to_string())
            }
            "member" => {
                let agent = self.agent(args.pos(0, "agent")?)?;
                let service = self.service(args.pos(1, "service")?)?;
                let penalty = args.pos(2, "penalty")?.parse().map_err(|_| "bad penalty")?;
                self.engine
                    .set_membership(now, agent, service, penalty)
                    .map_err(|e| e.to_string())
            }
            "unmember" => {
                let agent = self.agent(args.pos(0, "agent")?)?;
                let service = self.service(args.pos(1, "service")?)?;
                self.engine
                    .remove_membership(now, agent, service)
                    .map_err(|e| e.to_string())
            }
            "remove-agent" => {
                let agent = self.agent(args.pos(0, "agent")?)?;
                self.engine
                    .remove_agent(now, agent)
                    .map_err(|e| e.to_string())
            }
            "remove-service" => {
                let service = self.service(args.pos(0, "service")?)?;
                self.engine
                    .remove_service(now, service)
                    .map_err(|e| e.to_string())
            }
            "blocktask" => {
                let agent = self.agent(args.pos(0, "agent")?)?;
                let task = TaskId(self.id('t', args.pos(1, "task name")?));
                self.engine
                    .add_block_task(now, agent, task)
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }
            _ => return self.task_control_line(command, args),
        };
        result.or_else(|e| self.error(e))
    }

    fn task_control_line(&mut self, command: &str, args: &Args) -> Result<(), String> {
        let now = self.now;
        let task = self.task(args.pos(0, "task")?)?;
        let result = match command {
            "accept" => {
                let agent = match args.positional.get(1) {
                    Some(name) => Some(self.agent(name)?),
                    None => None,
                };
                self.engine.establish(now, task, agent)
            }
            "decline" => {
                let agent = self.agent(args.pos(1, "agent")?)?;
                self.engine.decline(now, task, agent)
            }
            "refresh" => self.engine.refresh(now, task, args.flag("rona")),
            "terminate" => {
                let reason = if args.flag("cancel") {
                    TerminationReason::Cancelled
                } else {
                    TerminationReason::Completed
                };
                self.engine.terminate(now, task, reason).map(|_| ())
            }
            "hold" => self.engine.hold(now, task),
            "resume" => self.engine.resume(now, task),
            "poll" => self.engine.poll(now, task),
            "transfer" => {
                if let Some(service) = args.named.get("service") {
                    let service = self.service(service)?;
                    self.engine.transfer_to_service(now, task, service)
                } else if let Some(agent) = args.named.get("agent") {
                    let agent = self.agent(agent)?;
                    self.engine.transfer_to_agent(now, task, agent)
                } else {
                    return Err("transfer needs service=S or agent=A".into());
                }
            }
            "priority" => {
                let priority = args
                    .pos(1, "priority")?
                    .parse()
                    .map_err(|_| "bad priority")?;
                self.engine.set_priority(now, task, Priority(priority))
            }
            "reserve" => {
                let agent = self.agent(args.pos(1, "agent")?)?;
                let until = now.plus(parse_span(args.pos(2, "duration")?)?);
                self.engine.reserve(now, task, Some((agent, until)))
            }
            "unreserve" => self.engine.reserve(now, task, None),
            "claim" => {
                let agent = self.agent(args.pos(1, "agent")?)?;
                self.engine.claim(now, task, Some(agent))
            }
            "release" => self.engine.claim(now, task, None),
            "reschedule" => {
                let due = now.plus(parse_span(args.pos(1, "delay")?)?);
                self.engine.reschedule(now, task, due)
            }
            "consult" => {
                let target = args.pos(1, "agent or tel:NUMBER")?;
                let target = match target.strip_prefix("tel:") {
                    Some(number) => ConsultationTarget::External(number.to_string()),
                    None => ConsultationTarget::Agent(self.agent(target)?),
                };
                self.engine
                    .consult(now, task, ConsultationAction::Start(target))
            }
            "consult-merge" => self.engine.consult(now, task, ConsultationAction::Merge),
            "consult-transfer" => self.engine.consult(now, task, ConsultationAction::Transfer),
            "consult-end" => self
                .engine
                .consult(now, task, ConsultationAction::Terminate),
            "consult-leave" => self.engine.consult(now, task, ConsultationAction::Leave),
            "consult-hangup" => {
                self.engine
                    .consult(now, task, ConsultationAction::TerminateCustomerCall)
            }
            "consult-audio" => {
                let routes = AudioRoutes {
                    customer_hears_consultant: !args.flag("mute-consultant"),
                    consultant_hears_customer: !args.flag("mute-customer"),
                };
                self.engine
                    .consult(now, task, ConsultationAction::SetAudioRoutes(routes))
            }
            _ => return Err(format!("unknown command '{command}'")),
        };
        result.map_err(|e| e.to_string()).or_else(|e| self.error(e))
    }

    fn error(&mut self, message: String) -> Result<(), String> {
        // Errors name entities by id; show the script's names instead.
        let mut message = message;
        for (id, name) in &self.names {
            message = message.replace(&id.to_string(), name);
        }
        let _ = writeln!(self.out, "  error: {message}");
        Ok(())
    }

    fn explain_line(&mut self, args: &Args) -> Result<(), String> {
        let task = self.task(args.pos(0, "task")?)?;
        let explanation = self.engine.explain(task).ok_or("task is not live")?;
        let eligible: Vec<String> = explanation
            .eligible
            .iter()
            .map(|e| format!("{}(penalty {})", self.name(e.agent.0), e.penalty))
            .collect();
        let _ = writeln!(
            self.out,
            "  {} is {}; eligible: [{}]",
            self.name(task.0),
            explanation.status.name(),
            eligible.join(", ")
        );
        for (agent, why) in &explanation.ineligible {
            let why = match why {
                Ineligibility::NotDistributed => "task is not distributed".to_string(),
                Ineligibility::ClaimedBy(agent) => {
                    format!("task is claimed by {}", self.name(agent.0))
                }
                Ineligibility::ReservedForAnother { agent, until } => {
                    format!(
                        "reserved for {} until {}",
                        self.name(agent.0),
                        fmt_time(*until)
                    )
                }
                Ineligibility::NotAPreferredAgent => "not a preferred agent".to_string(),
                Ineligibility::MissingServiceTrait {
                    trait_id,
                    min_level,
                    held,
                } => format!(
                    "service needs {}>={min_level}, has {held}",
                    self.engine.trait_name(*trait_id)
                ),
                Ineligibility::NotAMember => "not a member of the service".to_string(),
                Ineligibility::Declined => "declined this task".to_string(),
                Ineligibility::MissingCapabilities(caps) => {
                    format!("lacks capabilities {}", caps.names().join(","))
                }
                Ineligibility::MissingTrait {
                    trait_id,
                    min_level,
                    held,
                } => format!(
                    "task needs {}>={min_level}, has {held}",
                    self.engine.trait_name(*trait_id)
                ),
                Ineligibility::NotSelectable(reason) => {
                    format!("not selectable: {}", reason.name())
                }
                Ineligibility::NoCapacity(channel) => format!("no capacity on {}", channel.name()),
            };
            let _ = writeln!(self.out, "    {}: {why}", self.name(agent.0));
        }
        Ok(())
    }

    fn flush_events(&mut self) {
        let events: Vec<_> = self.engine.drain_events().collect();
        for event in events {
            let at = fmt_time(event.at);
            let n = |id: Uuid| self.name(id);
            let text = match &event.kind {
                EventKind::ServiceUpserted { .. }
                | EventKind::AgentUpserted { .. }
                | EventKind::ProfileUpserted { .. } => continue,
                EventKind::ServiceRemoved { service } => {
                    format!("service {} removed", n(service.0))
                }
                EventKind::AgentRemoved { agent } => format!("agent {} removed", n(agent.0)),
                EventKind::MembershipChanged {
                    agent,
                    service,
                    penalty,
                } => match penalty {
                    Some(penalty) => {
                        format!("{} serves {} (penalty {penalty})", n(agent.0), n(service.0))
                    }
                    None => format!("{} no longer serves {}", n(agent.0), n(service.0)),
                },
                EventKind::AgentPresenceChanged { agent, presence } => {
                    format!("{} presence {}", n(agent.0), presence.name())
                }
                EventKind::AgentLoggedIn { agent, line } => {
                    format!("{} logged in on {line}", n(agent.0))
                }
                EventKind::AgentLoggedOut { agent } => format!("{} logged out", n(agent.0)),
                EventKind::AgentBlocked { agent, blocked } => {
                    format!(
                        "{} {}",
                        n(agent.0),
                        if *blocked { "blocked" } else { "unblocked" }
                    )
                }
                EventKind::AgentAbsence { agent, reason } => match reason {
                    Some(reason) => format!("{} absent ({reason})", n(agent.0)),
                    None => format!("{} no longer absent", n(agent.0)),
                },
                EventKind::AgentPause { agent, reason } => match reason {
                    Some(reason) => format!("{} paused ({reason})", n(agent.0)),
                    None => format!("{} unpaused", n(agent.0)),
                },
                EventKind::AgentProfileChanged { agent, profile } => format!(
                    "{} profile {}",
                    n(agent.0),
                    profile.map(|p| n(p.0)).unwrap_or("-".into())
                ),
                EventKind::AgentWrapupStarted { agent, until } => {
                    format!("{} wrap-up until {}", n(agent.0), fmt_time(*until))
                }
                EventKind::AgentStatusChanged {
                    agent,
                    state,
                    selectable,
                    reason,
                } => format!(
                    "{} is {}{}",
                    n(agent.0),
                    state.xuc_name(),
                    match (selectable, reason) {
                        (true, _) => ", selectable".to_string(),
                        (false, Some(reason)) => format!(", not selectable ({})", reason.name()),
                        (false, None) => ", not selectable".to_string(),
                    }
                ),
                EventKind::TaskCreated {
                    task,
                    service,
                    priority,
                } => format!(
                    "task {} created in {} (priority {})",
                    n(task.0),
                    n(service.0),
                    priority.0
                ),
                EventKind::TaskScheduled { task, due } => {
                    format!("task {} scheduled for {}", n(task.0), fmt_time(*due))
                }
                EventKind::TaskQueued {
                    task,
                    service,
                    reason,
                } => format!(
                    "task {} queued in {} ({})",
                    n(task.0),
                    n(service.0),
                    reason.name()
                ),
                EventKind::TaskOffered {
                    task,
                    agent,
                    selection,
                    deadline,
                } => format!(
                    "task {} offered to {} by {}{}",
                    n(task.0),
                    n(agent.0),
                    selection.name(),
                    deadline
                        .map(|d| format!(", RONA at {}", fmt_time(d)))
                        .unwrap_or_default()
                ),
                EventKind::TaskEstablished { task, agent } => {
                    format!("task {} established with {}", n(task.0), n(agent.0))
                }
                EventKind::TaskRona { task, agent } => {
                    format!("task {} RONA: {} did not answer", n(task.0), n(agent.0))
                }
                EventKind::TaskDeclined { task, agent } => {
                    format!("task {} declined by {}", n(task.0), n(agent.0))
                }
                EventKind::TaskHeld { task } => format!("task {} on hold", n(task.0)),
                EventKind::TaskResumed { task } => format!("task {} resumed", n(task.0)),
                EventKind::TaskPriorityChanged { task, priority } => {
                    format!("task {} priority {}", n(task.0), priority.0)
                }
                EventKind::TaskAttributesChanged { task, attributes } => format!(
                    "task {} attributes {}",
                    n(task.0),
                    attributes
                        .iter()
                        .map(|(name, value)| format!("{name}={value}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
                EventKind::TaskReserved { task, agent, until } => format!(
                    "task {} reserved for {} until {}",
                    n(task.0),
                    n(agent.0),
                    fmt_time(*until)
                ),
                EventKind::TaskReservationExpired { task } => {
                    format!("task {} reservation expired", n(task.0))
                }
                EventKind::TaskClaimed { task, agent } => {
                    format!("task {} claimed by {}", n(task.0), n(agent.0))
                }
                EventKind::TaskClaimReleased { task } => {
                    format!("task {} claim released", n(task.0))
                }
                EventKind::TaskRescheduled { task, agent, due } => format!(
                    "task {} rescheduled{} until {}",
                    n(task.0),
                    agent
                        .map(|a| format!(" by {}", n(a.0)))
                        .unwrap_or_default(),
                    fmt_time(*due)
                ),
                EventKind::TaskOverflowed { task, from, to } => {
                    format!(
                        "task {} overflowed from {} to {}",
                        n(task.0),
                        n(from.0),
                        n(to.0)
                    )
                }
                EventKind::TaskRefreshed { task } => format!("task {} refreshed", n(task.0)),
                EventKind::ConsultationStarted {
                    task,
                    agent,
                    target,
                } => format!(
                    "task {} consultation by {} with {}",
                    n(task.0),
                    n(agent.0),
                    match target {
                        ConsultationTarget::Agent(consulted) => n(consulted.0),
                        ConsultationTarget::External(number) => format!("tel:{number}"),
                    }
                ),
                EventKind::ConsultationMerged { task } => {
                    format!("task {} consultation merged", n(task.0))
                }
                EventKind::ConsultationAudioRoutesChanged { task, routes } => format!(
                    "task {} consultation audio: customer hears consultant {}, consultant hears customer {}",
                    n(task.0),
                    yes_no(routes.customer_hears_consultant),
                    yes_no(routes.consultant_hears_customer)
                ),
                EventKind::ConsultationCustomerLeft { task } => {
                    format!("task {} customer left during consultation", n(task.0))
                }
                EventKind::ConsultationEnded { task, end } => {
                    format!("task {} consultation ended ({})", n(task.0), end.name())
                }
                EventKind::TaskTerminated {
                    task,
                    reason,
                    agent,
                    ..
                } => format!(
                    "task {} terminated ({}){}",
                    n(task.0),
                    reason.name(),
                    agent
                        .map(|a| format!(", handled by {}", n(a.0)))
                        .unwrap_or_default()
                ),
            };
            let _ = writeln!(self.out, "  #{} {at} {text}", event.seq);
        }
    }
}

fn yes_no(value: bool) -> &'static str {
    if value {
        "yes"
    } else {
        "no"
    }
}
