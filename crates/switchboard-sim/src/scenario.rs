//! The scenario a simulation runs: services, agent groups with skills and shifts, arrival streams with their
//! handling-time and patience distributions. Read from YAML or TOML (`Scenario::parse`), then checked and
//! resolved into a `Model` whose names are indices and whose times are engine `Span`s.

use std::fmt;

use serde::{Deserialize, Deserializer};
use switchboard_core::{Span, Strategy};

use crate::rng::Rng;

/// A scenario file could not be read or does not describe a runnable contact center.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError(pub String);

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ScenarioError {}

fn error(message: impl Into<String>) -> ScenarioError {
    ScenarioError(message.into())
}

/// A length of simulated time in seconds. In a file: a number of seconds (`90`, `2.5`) or a string of
/// amounts with units `ms`, `s`, `m`, `h`, `d` (`"90s"`, `"4m"`, `"1h30m"`).
#[derive(Clone, Copy, Debug, Default, PartialEq, PartialOrd)]
pub struct Seconds(pub f64);

impl Seconds {
    /// The engine span, rounded to the microsecond.
    pub fn span(self) -> Span {
        Span((self.0 * 1e6).round() as i64)
    }

    /// Parses `"1h30m"`, `"90s"`, `"250ms"` or a bare number of seconds.
    pub fn parse(text: &str) -> Result<Seconds, ScenarioError> {
        let text = text.trim();
        if let Ok(secs) = text.parse::<f64>() {
            return Ok(Seconds(secs));
        }
        let bad = || {
            error(format!(
                "'{text}' is not a duration such as 90, \"90s\", \"4m\" or \"1h30m\""
            ))
        };
        let mut total = 0.0;
        let mut rest = text;
        if rest.is_empty() {
            return Err(bad());
        }
        while !rest.is_empty() {
            let number_len = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .ok_or_else(bad)?;
            let amount: f64 = rest[..number_len].parse().map_err(|_| bad())?;
            rest = &rest[number_len..];
            let unit_len = rest
                .find(|c: char| c.is_ascii_digit())
                .unwrap_or(rest.len());
            let factor = match rest[..unit_len].trim() {
                "ms" => 0.001,
                "s" => 1.0,
                "m" | "min" => 60.0,
                "h" => 3600.0,
                "d" => 86_400.0,
                _ => return Err(bad()),
            };
            total += amount * factor;
            rest = &rest[unit_len..];
        }
        Ok(Seconds(total))
    }
}

impl<'de> Deserialize<'de> for Seconds {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Seconds, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(f64),
            Text(String),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Number(secs) => Ok(Seconds(secs)),
            Raw::Text(text) => Seconds::parse(&text).map_err(serde::de::Error::custom),
        }
    }
}

/// A distribution of a length of time (handling time, patience).
#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
#[serde(tag = "distribution", rename_all = "lowercase", deny_unknown_fields)]
pub enum Distribution {
    /// Exponential with this mean (what Erlang C assumes of handling times).
    Exponential {
        /// The mean.
        mean: Seconds,
    },
    /// Log-normal with this mean and standard deviation (typical of real handling times).
    Lognormal {
        /// The mean.
        mean: Seconds,
        /// The standard deviation.
        sd: Seconds,
    },
    /// Always the same value.
    Fixed {
        /// The value.
        value: Seconds,
    },
    /// Uniform between two values.
    Uniform {
        /// The smallest value.
        min: Seconds,
        /// The largest value.
        max: Seconds,
    },
}

impl Distribution {
    /// The mean, seconds.
    pub fn mean(&self) -> f64 {
        match *self {
            Distribution::Exponential { mean } | Distribution::Lognormal { mean, .. } => mean.0,
            Distribution::Fixed { value } => value.0,
            Distribution::Uniform { min, max } => (min.0 + max.0) / 2.0,
        }
    }

    /// One draw, seconds (never negative).
    pub fn sample(&self, rng: &mut Rng) -> f64 {
        let value = match *self {
            Distribution::Exponential { mean } => rng.exponential(mean.0),
            Distribution::Lognormal { mean, sd } => {
                // The underlying normal's parameters from the log-normal's mean m and deviation s:
                // σ² = ln(1 + s²/m²), μ = ln m − σ²/2.
                let variance = (1.0 + (sd.0 / mean.0).powi(2)).ln();
                let location = mean.0.ln() - variance / 2.0;
                (location + variance.sqrt() * rng.standard_normal()).exp()
            }
            Distribution::Fixed { value } => value.0,
            Distribution::Uniform { min, max } => min.0 + (max.0 - min.0) * rng.uniform(),
        };
        value.max(0.0)
    }

    fn check(&self, what: &str) -> Result<(), ScenarioError> {
        let ok = match *self {
            Distribution::Exponential { mean } => mean.0 > 0.0,
            Distribution::Lognormal { mean, sd } => mean.0 > 0.0 && sd.0 >= 0.0,
            Distribution::Fixed { value } => value.0 >= 0.0,
            Distribution::Uniform { min, max } => min.0 >= 0.0 && max.0 >= min.0,
        };
        if ok {
            Ok(())
        } else {
            Err(error(format!(
                "{what}: the distribution's parameters must be positive ({self:?})"
            )))
        }
    }
}

/// A scenario as written in its file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Seed of every random draw (arrivals, handling times, patience, the engine's `Random` strategy).
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// How long calls arrive; the run then continues until no call waits.
    pub duration: Seconds,
    /// Calls arriving before this are simulated but not reported, nor is agent time before it.
    #[serde(default)]
    pub warmup: Seconds,
    /// Spacing of the timeline samples (waiting calls, rolling service level); default: 1/240 of the duration.
    #[serde(default)]
    pub sample_interval: Option<Seconds>,
    /// The rolling service level of the timeline covers the calls that stopped waiting in this window
    /// (default 15 minutes).
    #[serde(default)]
    pub rolling_window: Option<Seconds>,
    /// The services (queues).
    pub services: Vec<ServiceConfig>,
    /// The agent groups.
    pub groups: Vec<GroupConfig>,
    /// The arrival streams.
    pub arrivals: Vec<ArrivalConfig>,
}

fn default_seed() -> u64 {
    1
}

/// A service (queue).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// Its name, used by groups' skills and arrival streams.
    pub name: String,
    /// How an agent is chosen among those free: `LongestIdleAgent` (default), `RoundRobin`, `FewestTasksHandled`,
    /// `LeastTalkTime`, `TopDown`, `Random`, `BestQualifiedMostResponsibleAgent`.
    #[serde(default)]
    pub strategy: Option<String>,
    /// A call answered within this wait counts towards the service level (default 20 s).
    #[serde(default = "default_threshold")]
    pub service_level_threshold: Seconds,
    /// Wrap-up after each call, during which the agent takes no work (default none).
    #[serde(default)]
    pub wrapup: Seconds,
}

fn default_threshold() -> Seconds {
    Seconds(20.0)
}

/// A group of identical agents.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupConfig {
    /// Its name, in the report.
    pub name: String,
    /// How many agents.
    pub agents: u32,
    /// The services they serve: a name, or `{ service: NAME, penalty: N }` (a lower penalty is tried first by
    /// calls, and an agent serving several services takes the longest-waiting call of its best tier).
    pub skills: Vec<Skill>,
    /// When they are signed in, from the start of the run; default: the whole run.
    #[serde(default)]
    pub shifts: Option<Vec<Shift>>,
}

/// One skill of a group.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum Skill {
    /// Serves the service at penalty 0.
    Service(String),
    /// Serves the service at a penalty.
    WithPenalty {
        /// The service.
        service: String,
        /// The penalty (0 first).
        #[serde(default)]
        penalty: u32,
    },
}

/// A period in which a group is signed in.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shift {
    /// Sign-in, from the start of the run.
    pub start: Seconds,
    /// Sign-out: a call in progress is finished, and no new one offered.
    pub end: Seconds,
}

/// A stream of calls into one service.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArrivalConfig {
    /// The service the calls queue in.
    pub service: String,
    /// Poisson arrivals at this many calls per hour for the whole run...
    #[serde(default)]
    pub rate_per_hour: Option<f64>,
    /// ...or piecewise: each rate holds from its `from` to the next one's.
    #[serde(default)]
    pub rates: Option<Vec<RateInterval>>,
    /// Handling time of a call (talk time, without wrap-up).
    pub handling: Distribution,
    /// How long a caller waits before hanging up; default: forever.
    #[serde(default)]
    pub patience: Option<Distribution>,
    /// Calls of higher priority are answered first.
    #[serde(default)]
    pub priority: i32,
}

/// A Poisson rate from a time on.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateInterval {
    /// From when, since the start of the run.
    pub from: Seconds,
    /// Calls per hour.
    pub per_hour: f64,
}

/// A checked scenario with names resolved to indices.
#[derive(Clone, Debug)]
pub struct Model {
    /// The seed.
    pub seed: u64,
    /// How long calls arrive.
    pub duration: Span,
    /// What is not reported.
    pub warmup: Span,
    /// Timeline spacing.
    pub sample_interval: Span,
    /// Rolling service level window.
    pub rolling_window: Span,
    /// Services.
    pub services: Vec<ModelService>,
    /// Groups.
    pub groups: Vec<ModelGroup>,
    /// Arrival streams.
    pub streams: Vec<ModelStream>,
}

/// A service of a `Model`.
#[derive(Clone, Debug)]
pub struct ModelService {
    /// Name.
    pub name: String,
    /// Routing strategy.
    pub strategy: Strategy,
    /// Service level threshold.
    pub threshold: Span,
    /// Wrap-up.
    pub wrapup: Span,
}

/// A group of a `Model`.
#[derive(Clone, Debug)]
pub struct ModelGroup {
    /// Name.
    pub name: String,
    /// Number of agents.
    pub agents: u32,
    /// (service index, penalty).
    pub skills: Vec<(usize, u32)>,
    /// Signed-in periods (start, end), sorted, not overlapping; `end` may be past the duration.
    pub shifts: Vec<(Span, Span)>,
}

/// An arrival stream of a `Model`.
#[derive(Clone, Debug)]
pub struct ModelStream {
    /// Service index.
    pub service: usize,
    /// (from, calls per second), sorted by `from`, the first from 0.
    pub rates: Vec<(Span, f64)>,
    /// Handling time.
    pub handling: Distribution,
    /// Patience; `None` never abandons.
    pub patience: Option<Distribution>,
    /// Priority.
    pub priority: i32,
}

/// The routing strategy of a name: the engine's `SelectionAlgorithm` names, case and separators ignored
/// (`LongestIdleAgent`, `longest-idle-agent`, `longest_idle`).
pub fn parse_strategy(name: &str) -> Result<Strategy, ScenarioError> {
    let normalize = |text: &str| -> String {
        text.chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_lowercase())
            .collect()
    };
    let wanted = normalize(name);
    Strategy::ALL
        .into_iter()
        .find(|strategy| {
            let full = normalize(strategy.name());
            full == wanted || full.strip_suffix("agent") == Some(wanted.as_str())
        })
        .ok_or_else(|| {
            let names: Vec<&str> = Strategy::ALL.iter().map(|s| s.name()).collect();
            error(format!(
                "unknown strategy '{name}' (one of {})",
                names.join(", ")
            ))
        })
}

impl Scenario {
    /// Reads a scenario from YAML or TOML text; `file_name` picks the format by its extension (`.toml` is TOML,
    /// anything else YAML) and names the file in errors.
    pub fn parse(text: &str, file_name: &str) -> Result<Scenario, ScenarioError> {
        if file_name.ends_with(".toml") {
            toml::from_str(text).map_err(|e| error(format!("{file_name}: {e}")))
        } else {
            serde_yaml_ng::from_str(text).map_err(|e| error(format!("{file_name}: {e}")))
        }
    }

    /// Checks the scenario and resolves its names.
    pub fn model(&self) -> Result<Model, ScenarioError> {
        if !self.duration.0.is_finite() || self.duration.0 <= 0.0 {
            return Err(error("duration must be positive"));
        }
        if !(self.warmup.0 >= 0.0 && self.warmup.0 < self.duration.0) {
            return Err(error(
                "warmup must be at least 0 and shorter than the duration",
            ));
        }
        if self.services.is_empty() {
            return Err(error("a scenario needs at least one service"));
        }
        let mut services = Vec::new();
        for service in &self.services {
            if services
                .iter()
                .any(|s: &ModelService| s.name == service.name)
            {
                return Err(error(format!("service '{}' is listed twice", service.name)));
            }
            if service.service_level_threshold.0 < 0.0 || service.wrapup.0 < 0.0 {
                return Err(error(format!(
                    "service '{}': times cannot be negative",
                    service.name
                )));
            }
            services.push(ModelService {
                name: service.name.clone(),
                strategy: match &service.strategy {
                    Some(name) => parse_strategy(name)?,
                    None => Strategy::LongestIdle,
                },
                threshold: service.service_level_threshold.span(),
                wrapup: service.wrapup.span(),
            });
        }
        let service_index = |name: &str, user: &str| -> Result<usize, ScenarioError> {
            services
                .iter()
                .position(|s| s.name == name)
                .ok_or_else(|| error(format!("{user}: no service named '{name}'")))
        };
        let mut groups = Vec::new();
        for group in &self.groups {
            let user = format!("group '{}'", group.name);
            let mut skills = Vec::new();
            for skill in &group.skills {
                let (name, penalty) = match skill {
                    Skill::Service(name) => (name.as_str(), 0),
                    Skill::WithPenalty { service, penalty } => (service.as_str(), *penalty),
                };
                let index = service_index(name, &user)?;
                if skills.iter().any(|&(s, _)| s == index) {
                    return Err(error(format!("{user}: service '{name}' is listed twice")));
                }
                skills.push((index, penalty));
            }
            if skills.is_empty() {
                return Err(error(format!("{user} serves no service")));
            }
            let mut shifts: Vec<(Span, Span)> = match &group.shifts {
                None => vec![(Span::ZERO, Span(i64::MAX / 4))],
                Some(shifts) => shifts
                    .iter()
                    .map(|s| (s.start.span(), s.end.span()))
                    .collect(),
            };
            shifts.sort();
            for (index, &(start, end)) in shifts.iter().enumerate() {
                if start.0 < 0 || end <= start {
                    return Err(error(format!(
                        "{user}: a shift must end after it starts, at or after 0"
                    )));
                }
                if index > 0 && shifts[index - 1].1 > start {
                    return Err(error(format!("{user}: shifts overlap")));
                }
            }
            groups.push(ModelGroup {
                name: group.name.clone(),
                agents: group.agents,
                skills,
                shifts,
            });
        }
        if groups.iter().map(|g| u64::from(g.agents)).sum::<u64>() > 1_000_000 {
            return Err(error("at most 1,000,000 agents"));
        }
        let mut streams = Vec::new();
        for stream in &self.arrivals {
            let user = format!("arrivals into '{}'", stream.service);
            let service = service_index(&stream.service, &user)?;
            let mut rates = match (&stream.rate_per_hour, &stream.rates) {
                (Some(rate), None) => vec![(Span::ZERO, *rate)],
                (None, Some(rates)) if !rates.is_empty() => {
                    rates.iter().map(|r| (r.from.span(), r.per_hour)).collect()
                }
                _ => return Err(error(format!("{user}: give either rate_per_hour or rates"))),
            };
            rates.sort_by_key(|&(from, _)| from);
            if rates
                .iter()
                .any(|&(from, rate)| from.0 < 0 || !rate.is_finite() || rate < 0.0)
            {
                return Err(error(format!(
                    "{user}: rates must be 0 or more, from 0 or later"
                )));
            }
            if rates[0].0 > Span::ZERO {
                rates.insert(0, (Span::ZERO, 0.0));
            }
            stream.handling.check(&format!("{user}, handling"))?;
            if let Some(patience) = &stream.patience {
                patience.check(&format!("{user}, patience"))?;
            }
            streams.push(ModelStream {
                service,
                rates: rates
                    .into_iter()
                    .map(|(from, per_hour)| (from, per_hour / 3600.0))
                    .collect(),
                handling: stream.handling,
                patience: stream.patience,
                priority: stream.priority,
            });
        }
        if streams.is_empty() {
            return Err(error("a scenario needs at least one arrival stream"));
        }
        let duration = self.duration.span();
        let sample_interval = match self.sample_interval {
            Some(interval) if interval.0 > 0.0 => interval.span(),
            Some(_) => return Err(error("sample_interval must be positive")),
            None => Span((duration.0 / 240).max(1_000_000)),
        };
        let rolling_window = match self.rolling_window {
            Some(window) if window.0 > 0.0 => window.span(),
            Some(_) => return Err(error("rolling_window must be positive")),
            None => Span::from_mins(15),
        };
        Ok(Model {
            seed: self.seed,
            duration,
            warmup: self.warmup.span(),
            sample_interval,
            rolling_window,
            services,
            groups,
            streams,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(Seconds::parse("90").unwrap(), Seconds(90.0));
        assert_eq!(Seconds::parse("90s").unwrap(), Seconds(90.0));
        assert_eq!(Seconds::parse("1h30m").unwrap(), Seconds(5400.0));
        assert_eq!(Seconds::parse("2.5m").unwrap(), Seconds(150.0));
        assert_eq!(Seconds::parse("250ms").unwrap(), Seconds(0.25));
        assert_eq!(Seconds::parse("1d").unwrap(), Seconds(86_400.0));
        assert!(Seconds::parse("soon").is_err());
        assert!(Seconds::parse("5 parsecs").is_err());
        assert!(Seconds::parse("").is_err());
    }

    #[test]
    fn strategies_by_any_spelling() {
        assert_eq!(
            parse_strategy("LongestIdleAgent").unwrap(),
            Strategy::LongestIdle
        );
        assert_eq!(
            parse_strategy("longest-idle").unwrap(),
            Strategy::LongestIdle
        );
        assert_eq!(parse_strategy("round_robin").unwrap(), Strategy::RoundRobin);
        assert_eq!(parse_strategy("Random").unwrap(), Strategy::Random);
        assert!(parse_strategy("whoever").is_err());
    }

    #[test]
    fn lognormal_has_its_mean_and_deviation() {
        let distribution = Distribution::Lognormal {
            mean: Seconds(240.0),
            sd: Seconds(120.0),
        };
        let mut rng = Rng::new(3, 0);
        let n = 400_000;
        let draws: Vec<f64> = (0..n).map(|_| distribution.sample(&mut rng)).collect();
        let mean = draws.iter().sum::<f64>() / n as f64;
        let sd = (draws.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64).sqrt();
        assert!((mean - 240.0).abs() < 2.0, "{mean}");
        assert!((sd - 120.0).abs() < 3.0, "{sd}");
    }

    #[test]
    fn errors_name_the_problem() {
        let text = "
duration: 1h
services: [{ name: Sales }]
groups: [{ name: Team, agents: 2, skills: [Support] }]
arrivals: [{ service: Sales, rate_per_hour: 10, handling: { distribution: fixed, value: 60 } }]
";
        let scenario = Scenario::parse(text, "x.yaml").unwrap();
        let message = scenario.model().unwrap_err().to_string();
        assert!(message.contains("no service named 'Support'"), "{message}");
        let bad = Scenario::parse("duration: 1h\nservices: []\nbogus: 1\n", "x.yaml").unwrap_err();
        assert!(bad.to_string().contains("bogus"), "{bad}");
    }
}
