//! What one request, key, tenant or the whole server may take (docs/limits.md): per-key rate and burst limits
//! (seed 002: a rate limit such as `1000/h` allows that many calls per fixed period; a burst limit such as `50/s`
//! caps short spikes), concurrent requests and streams per key, requests in flight in the whole server (past it
//! the server sheds load with 503 instead of queueing without bound), and header size. A rejected call is not
//! queued. Rate windows run on the server's clock, so tests move time instead of sleeping.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use switchboard_core::Time;

use crate::error::ApiError;
use crate::openapi::Dialect;
use crate::AppState;

/// The bounds, each with a default safe for one machine; `switchboard serve` sets them from its flags.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest request body (413 past it).
    pub max_body_bytes: usize,
    /// Largest request head: the request line and every header together (431 past it).
    pub max_header_bytes: usize,
    /// Requests being handled at once by the whole server; past it a request is answered 503 with `Retry-After`
    /// at once, so the latency of accepted work stays bounded under overload. Health, readiness and metrics are
    /// always answered.
    pub max_in_flight: usize,
    /// Requests and event streams one API key may have open at once (429 past it).
    pub max_open_per_key: usize,
    /// Live (not yet terminated) tasks one tenant may hold; creating another answers 429 until some end.
    pub max_live_tasks: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 1024 * 1024,
            max_header_bytes: 16 * 1024,
            max_in_flight: 1024,
            max_open_per_key: 512,
            max_live_tasks: 1_000_000,
        }
    }
}

/// Paths answered whatever the load: a load balancer must see an overloaded server as alive.
fn always_answered(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/metrics")
}

/// Paths whose requests wait for events rather than work (long-polls, Server-Sent Events): they would fill the
/// places in flight while costing nothing; the per-key bound holds them instead.
fn waits_for_events(path: &str) -> bool {
    path == "/v2.0/events"
}

/// Admission of every request, before authentication or body: the head's size, then a place among the requests
/// in flight. Refusals are answered in the endpoint's dialect.
pub async fn admit(state: AppState, dialect: Dialect, request: Request, next: Next) -> Response {
    let limits = &state.config().limits;
    let head = request.uri().to_string().len()
        + request
            .headers()
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len() + 4)
            .sum::<usize>();
    if head > limits.max_header_bytes {
        return dialect.error_response(ApiError::new(
            axum::http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "RequestHeaderFieldsTooLarge",
            format!(
                "The request line and headers take {head} bytes; at most {} are accepted.",
                limits.max_header_bytes
            ),
        ));
    }
    let path = request.uri().path();
    if always_answered(path) || waits_for_events(path) {
        return next.run(request).await;
    }
    let Some(_place) = state.limiter().enter(limits.max_in_flight) else {
        let mut error = ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "Overloaded",
            "The server is handling as many requests as it can; try again shortly.",
        );
        error.retry_after = Some(1);
        return dialect.error_response(error);
    };
    next.run(request).await
}

/// A place among the requests in flight, given back when dropped.
pub struct InFlight {
    count: Arc<AtomicUsize>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One of a key's open requests or streams, given back when the last clone is dropped (an event stream keeps
/// it for its whole life).
#[derive(Clone)]
pub struct KeySlot(#[allow(dead_code)] Arc<OpenSlot>);

pub struct OpenSlot {
    open: Arc<Mutex<HashMap<String, usize>>>,
    key_id: String,
}

impl Drop for OpenSlot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.key_id) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.key_id);
            }
        }
    }
}

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

/// The windows of every key seen, the open requests and streams per key, and the requests in flight.
#[derive(Default)]
pub struct Limiter {
    keys: Mutex<HashMap<String, KeyWindows>>,
    open: Arc<Mutex<HashMap<String, usize>>>,
    in_flight: Arc<AtomicUsize>,
}

impl Limiter {
    /// A place among at most `max` requests in flight, or `None` when they are all taken.
    pub fn enter(&self, max: usize) -> Option<InFlight> {
        if self.in_flight.fetch_add(1, Ordering::Relaxed) >= max {
            self.in_flight.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        Some(InFlight {
            count: self.in_flight.clone(),
        })
    }

    /// Requests being handled now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// One of at most `max` open requests and streams of `key_id`, or `None` when the key holds them all.
    pub fn open_slot(&self, key_id: &str, max: usize) -> Option<KeySlot> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(key_id.to_string()).or_default();
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(KeySlot(Arc::new(OpenSlot {
            open: self.open.clone(),
            key_id: key_id.to_string(),
        })))
    }

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
    fn places_in_flight_and_key_slots_are_bounded_and_given_back() {
        let limiter = Limiter::default();
        let first = limiter.enter(2).expect("first");
        let second = limiter.enter(2).expect("second");
        assert!(limiter.enter(2).is_none(), "a third place past the bound");
        assert_eq!(limiter.in_flight(), 2);
        drop(first);
        let third = limiter.enter(2).expect("a place given back is taken again");
        drop((second, third));
        assert_eq!(limiter.in_flight(), 0);

        let slot = limiter.open_slot("k", 1).expect("slot");
        let kept = slot.clone();
        assert!(limiter.open_slot("k", 1).is_none());
        assert!(
            limiter.open_slot("other", 1).is_some(),
            "keys are counted apart"
        );
        drop(slot);
        assert!(
            limiter.open_slot("k", 1).is_none(),
            "a clone still holds it"
        );
        drop(kept);
        assert!(limiter.open_slot("k", 1).is_some());
    }

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
