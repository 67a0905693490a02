//! Per-key rate and burst limits (seed 002): a rate limit such as `1000/h` allows that many calls per fixed
//! period; a burst limit such as `50/s` caps short spikes. A rejected call answers 429 with `Retry-After` and is
//! not queued. Windows run on the server's clock, so tests move time instead of sleeping.

use std::collections::HashMap;
use std::sync::Mutex;

use switchboard_core::Time;

/// A limit: at most `count` calls per `period_micros`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    /// Calls allowed per period.
    pub count: u64,
    /// Period length in microseconds.
    pub period_micros: i64,
}

impl Limit {
    /// Parses `N/s`, `N/m`, `N/h` or `N/d`.
    pub fn parse(text: &str) -> Option<Limit> {
        let (count, unit) = text.trim().split_once('/')?;
        let count: u64 = count.trim().parse().ok()?;
        let seconds = match unit.trim() {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ => return None,
        };
        Some(Limit {
            count,
            period_micros: seconds * 1_000_000,
        })
    }
}

#[derive(Default)]
struct Window {
    start: i64,
    used: u64,
}

impl Window {
    /// Counts a call; returns the microseconds until the window resets when the call is over the limit.
    fn take(&mut self, limit: Limit, now: i64) -> Result<(), i64> {
        let start = now - now.rem_euclid(limit.period_micros);
        if start != self.start {
            self.start = start;
            self.used = 0;
        }
        if self.used >= limit.count {
            return Err(self.start + limit.period_micros - now);
        }
        self.used += 1;
        Ok(())
    }
}

#[derive(Default)]
struct KeyWindows {
    rate: Window,
    burst: Window,
}

/// The windows of every key seen.
#[derive(Default)]
pub struct Limiter {
    keys: Mutex<HashMap<String, KeyWindows>>,
}

impl Limiter {
    /// Counts a call of `key_id`; `Err(seconds)` to wait when a limit is exceeded (the call is not counted
    /// against the other limit).
    pub fn check(
        &self,
        key_id: &str,
        rate: Option<Limit>,
        burst: Option<Limit>,
        now: Time,
    ) -> Result<(), u64> {
        if rate.is_none() && burst.is_none() {
            return Ok(());
        }
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        let windows = keys.entry(key_id.to_string()).or_default();
        let now = now.as_micros();
        let to_seconds = |micros: i64| ((micros + 999_999) / 1_000_000).max(1) as u64;
        if let Some(burst) = burst {
            windows.burst.take(burst, now).map_err(to_seconds)?;
        }
        if let Some(rate) = rate {
            if let Err(wait) = windows.rate.take(rate, now) {
                // Give back the burst slot: the call is rejected as a whole.
                windows.burst.used = windows.burst.used.saturating_sub(1);
                return Err(to_seconds(wait));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_reset_and_report_the_wait() {
        let limiter = Limiter::default();
        let rate = Limit::parse("5/m");
        let burst = Limit::parse("2/s");
        let t0 = Time::from_secs(600);
        assert_eq!(limiter.check("k", rate, burst, t0), Ok(()));
        assert_eq!(limiter.check("k", rate, burst, t0), Ok(()));
        assert_eq!(limiter.check("k", rate, burst, t0), Err(1));
        let t1 = Time::from_secs(601);
        assert_eq!(limiter.check("k", rate, burst, t1), Ok(()));
        assert_eq!(limiter.check("k", rate, burst, t1), Ok(()));
        let t2 = Time::from_secs(602);
        assert_eq!(limiter.check("k", rate, burst, t2), Ok(()));
        assert_eq!(limiter.check("k", rate, burst, t2), Err(58));
        assert_eq!(limiter.check("other", rate, burst, t2), Ok(()));
        assert_eq!(
            limiter.check("k", rate, burst, Time::from_secs(660)),
            Ok(())
        );
        assert_eq!(Limit::parse("10/x"), None);
        assert_eq!(Limit::parse("ten/s"), None);
    }
}
