//! Pacing before the 429, simulated on tokio's paused clock: an API with a
//! per-second request limit that reports it in OpenAI's rate-limit headers
//! (`x-ratelimit-remaining-requests`, `x-ratelimit-reset-requests`) and
//! answers 429 with `retry-after` past it; callers at a steady rate above
//! the limit, with and without `http::pace` through a circuit breaker.

use std::sync::Mutex;
use std::time::Duration;

use retry_runtime::reqwest::header::{HeaderMap, HeaderValue};
use retry_runtime::{CircuitBreaker, http, retry};
use tokio::time::Instant;

/// The simulated API: a fixed window of `limit` requests per second from
/// its start, 20 ms per request.
pub struct Api {
    start: Instant,
    limit: u32,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The window counted, and its requests.
    window: u64,
    used: u32,
    /// What was seen.
    seen: Seen,
}

/// What the API saw and the callers got.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Seen {
    /// Requests that arrived.
    pub requests: u32,
    /// Requests answered 429.
    pub rate_limited: u32,
    /// Calls that returned `Ok`.
    pub successes: u32,
    /// Calls that returned an error.
    pub failures: u32,
}

impl Api {
    fn new(limit: u32) -> Self {
        Api {
            start: Instant::now(),
            limit,
            state: Mutex::new(State::default()),
        }
    }

    /// One request: `Ok` with the rate-limit headers, or a 429 error with
    /// them and `retry-after`.
    async fn request(&self) -> Result<HeaderMap, http::Error> {
        let since = self.start.elapsed();
        let window = since.as_secs();
        let reset = Duration::from_secs(window + 1) - since;
        let (allowed, remaining) = {
            let mut s = self.state.lock().unwrap();
            if s.window != window {
                (s.window, s.used) = (window, 0);
            }
            s.seen.requests += 1;
            let allowed = s.used < self.limit;
            if allowed {
                s.used += 1;
            } else {
                s.seen.rate_limited += 1;
            }
            (allowed, self.limit - s.used)
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        let mut headers = HeaderMap::new();
        let number = |n: u64| HeaderValue::from_str(&n.to_string()).unwrap();
        headers.insert("x-ratelimit-limit-requests", number(self.limit.into()));
        headers.insert("x-ratelimit-remaining-requests", number(remaining.into()));
        let reset_ms = u64::try_from(reset.as_millis()).unwrap_or(u64::MAX);
        headers.insert(
            "x-ratelimit-reset-requests",
            HeaderValue::from_str(&format!("{reset_ms}ms")).unwrap(),
        );
        if allowed {
            Ok(headers)
        } else {
            let seconds = format!("{:.3}", reset.as_secs_f64());
            headers.insert("retry-after", HeaderValue::from_str(&seconds).unwrap());
            let body = r#"{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}"#;
            Err(http::Error::from_status(429, &headers, body))
        }
    }
}

/// The breaker the unpaced callers name (it never opens on rate limits:
/// its threshold is out of reach here).
pub static UNPACED: CircuitBreaker = CircuitBreaker::new().min_attempts(u32::MAX);
/// The breaker the paced callers name and pace through.
pub static PACED: CircuitBreaker = CircuitBreaker::new().min_attempts(u32::MAX);

#[retry(attempts = 5, wait = exponential(initial = 100ms, max = 2s, jitter = none), breaker = UNPACED)]
async fn unpaced(api: &Api) -> Result<(), http::Error> {
    api.request().await.map(drop)
}

#[retry(attempts = 5, wait = exponential(initial = 100ms, max = 2s, jitter = none), breaker = PACED)]
async fn paced(api: &Api) -> Result<(), http::Error> {
    match api.request().await {
        Ok(headers) => {
            http::pace(&PACED, &headers);
            Ok(())
        }
        Err(e) => {
            // An error response's limits pace the others too.
            if let Some(limits) = e.rate_limits().and_then(|l| l.exhausted_for()) {
                retry_runtime::Paced::pause(&PACED, limits);
            }
            Err(e)
        }
    }
}

/// `rate` calls a second, evenly spaced, for `seconds` seconds, against an
/// API that allows `limit` requests a second; `pacing` says whether the
/// callers pace through their breaker. Run it on a runtime with a paused
/// clock.
pub async fn simulate(pacing: bool, rate: u32, seconds: u64, limit: u32) -> Seen {
    UNPACED.reset();
    PACED.reset();
    let api = std::sync::Arc::new(Api::new(limit));
    let mut tasks = tokio::task::JoinSet::new();
    let every = Duration::from_secs(1) / rate.max(1);
    let calls = u64::from(rate) * seconds;
    for i in 0..calls {
        let api = api.clone();
        let at = api.start + every * u32::try_from(i).unwrap_or(u32::MAX);
        tasks.spawn(async move {
            tokio::time::sleep_until(at).await;
            let outcome = if pacing {
                paced(&api).await
            } else {
                unpaced(&api).await
            };
            let mut s = api.state.lock().unwrap();
            match outcome {
                Ok(()) => s.seen.successes += 1,
                Err(_) => s.seen.failures += 1,
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("a caller panicked");
    }
    api.state.lock().unwrap().seen
}
