//! The Erlang B and Erlang C formulas of the M/M/N queue (Poisson arrivals, exponential handling, N identical
//! agents, one FIFO queue, nobody abandons), which the simulator reproduces as its self-check.

/// An M/M/N contact center: `agents` identical agents, an offered load of `load` Erlangs (arrival rate times mean
/// handling time) and the mean handling time, in seconds, that converts Erlang C's results into times.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ErlangC {
    /// N, the number of agents.
    pub agents: u32,
    /// A = λ · AHT, the offered load in Erlangs.
    pub load: f64,
    /// The mean handling time, seconds.
    pub handling_time: f64,
}

/// Erlang B: the probability that an arrival finds all `agents` busy in a loss system offered `load` Erlangs,
/// by the numerically stable recursion B(0) = 1, B(k) = A·B(k-1) / (k + A·B(k-1)).
pub fn erlang_b(agents: u32, load: f64) -> f64 {
    let mut blocking = 1.0;
    for k in 1..=agents {
        blocking = load * blocking / (f64::from(k) + load * blocking);
    }
    blocking
}

impl ErlangC {
    /// The centre with `agents` agents at `occupancy` (ρ = A/N) and the given mean handling time.
    pub fn at_occupancy(agents: u32, occupancy: f64, handling_time: f64) -> ErlangC {
        ErlangC {
            agents,
            load: occupancy * f64::from(agents),
            handling_time,
        }
    }

    /// Arrivals per second: λ = A / AHT.
    pub fn arrival_rate(&self) -> f64 {
        self.load / self.handling_time
    }

    /// ρ = A / N, the fraction of time an agent is busy.
    pub fn occupancy(&self) -> f64 {
        self.load / f64::from(self.agents)
    }

    /// Whether the queue is stable (A < N); without it nothing below is finite.
    pub fn is_stable(&self) -> bool {
        self.load < f64::from(self.agents)
    }

    /// Erlang C: the probability that an arrival waits, C = N·B / (N − A·(1 − B)); 1 when A ≥ N.
    pub fn probability_of_waiting(&self) -> f64 {
        if !self.is_stable() {
            return 1.0;
        }
        let n = f64::from(self.agents);
        let blocking = erlang_b(self.agents, self.load);
        n * blocking / (n - self.load * (1.0 - blocking))
    }

    /// Average speed of answer over all calls, seconds: ASA = C · AHT / (N − A).
    pub fn average_speed_of_answer(&self) -> f64 {
        if !self.is_stable() {
            return f64::INFINITY;
        }
        self.probability_of_waiting() * self.handling_time / (f64::from(self.agents) - self.load)
    }

    /// The fraction of calls answered within `threshold` seconds: 1 − C · exp(−(N − A) · t / AHT).
    pub fn service_level(&self, threshold: f64) -> f64 {
        if !self.is_stable() {
            return 0.0;
        }
        let rate = (f64::from(self.agents) - self.load) / self.handling_time;
        1.0 - self.probability_of_waiting() * (-rate * threshold).exp()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(actual: f64, expected: f64, tolerance: f64) {
        assert!(
            (actual - expected).abs() <= tolerance,
            "{actual} is not within {tolerance} of {expected}"
        );
    }

    #[test]
    fn erlang_b_textbook_values() {
        // Closed forms: B(1, A) = A / (1 + A); B(2, 1) = (1/2) / (1 + 1 + 1/2) = 0.2.
        close(erlang_b(1, 3.0), 0.75, 1e-12);
        close(erlang_b(2, 1.0), 0.2, 1e-12);
        // Tables: 10 Erlangs on 10 trunks block 21.46%; 5 Erlangs on 10 trunks block 1.84%.
        close(erlang_b(10, 10.0), 0.214_582, 1e-6);
        close(erlang_b(10, 5.0), 0.018_385, 1e-6);
    }

    #[test]
    fn erlang_c_closed_forms() {
        // M/M/1: the probability of waiting is ρ and Wq = ρ / (μ − λ).
        let single = ErlangC::at_occupancy(1, 0.8, 1.0);
        close(single.probability_of_waiting(), 0.8, 1e-12);
        close(single.average_speed_of_answer(), 0.8 / 0.2, 1e-9);
        // M/M/2 with A = 1: C = 1/3. M/M/3 with A = 2: C = 4/9.
        close(
            ErlangC {
                agents: 2,
                load: 1.0,
                handling_time: 1.0,
            }
            .probability_of_waiting(),
            1.0 / 3.0,
            1e-12,
        );
        close(
            ErlangC {
                agents: 3,
                load: 2.0,
                handling_time: 1.0,
            }
            .probability_of_waiting(),
            4.0 / 9.0,
            1e-12,
        );
    }

    #[test]
    fn erlang_c_call_centre_textbook_example() {
        // The classic staffing example: 100 calls per half hour, 180 s handling time, so A = 10 Erlangs, with a
        // target of 80% answered in 20 s. Published tables give P(wait) 68.21% / 44.94% / 28.53% / 17.41% for
        // 11 / 12 / 13 / 14 agents, and with 14 agents an ASA of 7.8 s and a service level of 88.8%.
        let centre = |agents| ErlangC {
            agents,
            load: 10.0,
            handling_time: 180.0,
        };
        close(centre(11).probability_of_waiting(), 0.6821, 5e-5);
        close(centre(12).probability_of_waiting(), 0.4494, 5e-5);
        close(centre(13).probability_of_waiting(), 0.2853, 5e-5);
        close(centre(14).probability_of_waiting(), 0.1741, 5e-5);
        close(centre(14).average_speed_of_answer(), 7.8, 0.05);
        close(centre(14).service_level(20.0), 0.888, 5e-4);
        close(centre(14).arrival_rate() * 1800.0, 100.0, 1e-9);
    }

    #[test]
    fn the_target_points() {
        // The three points of TARGETS.md, computed independently (double precision, same recursion).
        let point = |agents, occupancy| ErlangC::at_occupancy(agents, occupancy, 1.0);
        close(
            point(10, 0.8).probability_of_waiting(),
            0.409_180_150_8,
            1e-9,
        );
        close(
            point(50, 0.9).probability_of_waiting(),
            0.363_864_467_2,
            1e-9,
        );
        close(
            point(100, 0.95).probability_of_waiting(),
            0.506_456_853_9,
            1e-9,
        );
        close(
            point(100, 0.95).average_speed_of_answer(),
            0.101_291_370_8,
            1e-9,
        );
    }

    #[test]
    fn overload_is_certain_waiting() {
        let overloaded = ErlangC {
            agents: 5,
            load: 5.0,
            handling_time: 60.0,
        };
        assert!(!overloaded.is_stable());
        assert_eq!(overloaded.probability_of_waiting(), 1.0);
        assert!(overloaded.average_speed_of_answer().is_infinite());
    }
}
