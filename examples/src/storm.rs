//! The retry storm, simulated on tokio's paused clock: many callers, an API
//! that fails everything for a while and then recovers, and the load the API
//! sees per second with no protection, with a retry budget and with a
//! circuit breaker.

use std::sync::Mutex;
use std::time::Duration;

use retry_runtime::{Budget, CircuitBreaker, retry};
use tokio::time::Instant;

/// The simulated API: 50 ms per request, failing until `down_for` has passed
/// since the start; it counts requests and successes per second.
pub struct Api {
    start: Instant,
    down_for: Duration,
    seconds: Mutex<Vec<Second>>,
}

/// What the API saw in one second.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Second {
    /// Requests that arrived.
    pub requests: u32,
    /// Calls that returned `Ok` to their caller.
    pub successes: u32,
    /// Calls that returned an error to their caller.
    pub failures: u32,
}

impl Api {
    fn new(down_for: Duration, seconds: usize) -> Self {
        Api {
            start: Instant::now(),
            down_for,
            seconds: Mutex::new(vec![Second::default(); seconds + 1]),
        }
    }

    fn second(&self) -> usize {
        self.start.elapsed().as_secs() as usize
    }

    fn count(&self, f: impl FnOnce(&mut Second)) {
        let at = self.second();
        let mut seconds = self.seconds.lock().unwrap();
        let last = seconds.len() - 1;
        f(&mut seconds[at.min(last)]);
    }

    async fn request(&self) -> std::io::Result<()> {
        self.count(|s| s.requests += 1);
        tokio::time::sleep(Duration::from_millis(50)).await;
        if self.start.elapsed() < self.down_for {
            Err(std::io::ErrorKind::ConnectionRefused.into())
        } else {
            Ok(())
        }
    }
}

/// Retries may add 10% to the calls, plus 10 a second.
pub static BUDGET: Budget = Budget::new(0.1, 10);

/// Opens when half of the last 5 s of attempts failed (once there were 20),
/// for 1 s at a time.
pub static BREAKER: CircuitBreaker = CircuitBreaker::new()
    .failure_ratio(0.5)
    .min_attempts(20)
    .window(Duration::from_secs(5))
    .open_for(Duration::from_secs(1));

#[retry(attempts = 5, wait = exponential(initial = 100ms, max = 2s))]
async fn unprotected(api: &Api) -> std::io::Result<()> {
    api.request().await
}

#[retry(attempts = 5, wait = exponential(initial = 100ms, max = 2s), budget = BUDGET)]
async fn with_budget(api: &Api) -> std::io::Result<()> {
    api.request().await
}

#[retry(attempts = 5, wait = exponential(initial = 100ms, max = 2s), breaker = BREAKER)]
async fn with_breaker(api: &Api) -> std::io::Result<()> {
    api.request().await
}

#[retry(
    attempts = 5,
    wait = exponential(initial = 100ms, max = 2s),
    budget = BUDGET,
    breaker = BREAKER
)]
async fn with_both(api: &Api) -> std::io::Result<()> {
    api.request().await
}

/// Which protection the callers use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protection {
    /// Five attempts, exponential backoff, nothing else.
    None,
    /// The same, with [`BUDGET`].
    Budget,
    /// The same, with [`BREAKER`].
    Breaker,
    /// The same, with both.
    Both,
}

impl Protection {
    /// Every kind, in the order of the tables.
    pub const ALL: [Protection; 4] = [
        Protection::None,
        Protection::Budget,
        Protection::Breaker,
        Protection::Both,
    ];

    /// The name in tables and plots.
    pub fn name(self) -> &'static str {
        match self {
            Protection::None => "no protection",
            Protection::Budget => "budget(0.1, 10)",
            Protection::Breaker => "circuit breaker",
            Protection::Both => "budget and breaker",
        }
    }
}

/// `callers` callers each make one call a second for `seconds` seconds
/// against an API that is down for the first `down_for`. Run it on a
/// runtime with a paused clock. Returns what the API saw, per second.
pub async fn simulate(
    protection: Protection,
    callers: usize,
    seconds: u64,
    down_for: Duration,
) -> Vec<Second> {
    BUDGET.reset();
    BREAKER.reset();
    let api = std::sync::Arc::new(Api::new(down_for, seconds as usize + 30));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..callers {
        let api = api.clone();
        tasks.spawn(async move {
            let start = api.start;
            for tick in 0..seconds {
                tokio::time::sleep_until(start + Duration::from_secs(tick)).await;
                let outcome = match protection {
                    Protection::None => unprotected(&api).await,
                    Protection::Budget => with_budget(&api).await,
                    Protection::Breaker => with_breaker(&api).await,
                    Protection::Both => with_both(&api).await,
                };
                api.count(|s| match outcome {
                    Ok(()) => s.successes += 1,
                    Err(_) => s.failures += 1,
                });
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("a caller panicked");
    }
    api.seconds.lock().unwrap().clone()
}
