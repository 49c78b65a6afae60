//! One process of a fleet: many concurrent callers of an annotated function
//! against the fault server, with its budget, breaker and rate-limit
//! cool-down shared with the other processes through Redis (or kept to
//! itself, to compare). The fleet example and the fleet tests start several.
//!
//! Configured by environment variables (`FLEET_URL`, `FLEET_REDIS`,
//! `FLEET_KEY`, `FLEET_SCENARIO`, `FLEET_CALLERS`, `FLEET_MILLIS`); reports
//! one line of `name=value` pairs on stdout.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use retry_runtime::{Budget, CircuitBreaker, http, retry};

/// What the callers of one process do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// Calls with up to 4 attempts under `Budget::new(0.01, 5)`.
    Budget,
    /// Calls of one attempt under a breaker that opens after 40 attempts
    /// at half failures (and stays open for a minute).
    Breaker,
    /// Calls of up to 3 attempts whose budget only ties them to the fleet's
    /// rate-limit cool-down.
    Cooldown,
}

impl Scenario {
    fn parse(s: &str) -> Option<Scenario> {
        match s {
            "budget" => Some(Scenario::Budget),
            "breaker" => Some(Scenario::Breaker),
            "cooldown" => Some(Scenario::Cooldown),
            _ => None,
        }
    }
}

/// One process's settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// The fault server's URL.
    pub url: String,
    /// Redis, when shared; `None` keeps the state to this process.
    pub redis: Option<String>,
    /// The key the state is shared under.
    pub key: String,
    /// What the callers do.
    pub scenario: Scenario,
    /// Concurrent callers.
    pub callers: u32,
    /// How long they call.
    pub run_for: Duration,
}

impl Config {
    /// From `FLEET_*` environment variables.
    pub fn from_env() -> Result<Config, String> {
        let var = |name: &str| std::env::var(name).map_err(|_| format!("{name} is not set"));
        let number = |name: &str, default: u64| -> Result<u64, String> {
            match std::env::var(name) {
                Ok(v) => v.parse().map_err(|_| format!("{name}: not a number")),
                Err(_) => Ok(default),
            }
        };
        Ok(Config {
            url: var("FLEET_URL")?,
            redis: std::env::var("FLEET_REDIS").ok().filter(|r| !r.is_empty()),
            key: std::env::var("FLEET_KEY").unwrap_or_else(|_| "fleet".into()),
            scenario: Scenario::parse(&var("FLEET_SCENARIO")?)
                .ok_or("FLEET_SCENARIO: budget, breaker or cooldown")?,
            callers: u32::try_from(number("FLEET_CALLERS", 8)?).unwrap_or(8),
            run_for: Duration::from_millis(number("FLEET_MILLIS", 1000)?),
        })
    }
}

/// What one process saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Calls made.
    pub calls: u64,
    /// Calls that succeeded.
    pub ok: u64,
    /// Requests sent (attempts).
    pub attempts: u64,
    /// The longest call, in milliseconds.
    pub max_call_ms: u64,
    /// Times the link to Redis went from down to up.
    pub rejoined: u64,
    /// Times it went from up to down.
    pub lost: u64,
}

impl Report {
    /// `calls=.. ok=.. attempts=.. max_call_ms=.. rejoined=.. lost=..`.
    pub fn line(&self) -> String {
        format!(
            "calls={} ok={} attempts={} max_call_ms={} rejoined={} lost={}",
            self.calls, self.ok, self.attempts, self.max_call_ms, self.rejoined, self.lost
        )
    }

    /// Reads [`Report::line`] back.
    pub fn parse(line: &str) -> Option<Report> {
        let mut report = Report::default();
        for pair in line.split_whitespace() {
            let (name, value) = pair.split_once('=')?;
            let value: u64 = value.parse().ok()?;
            match name {
                "calls" => report.calls = value,
                "ok" => report.ok = value,
                "attempts" => report.attempts = value,
                "max_call_ms" => report.max_call_ms = value,
                "rejoined" => report.rejoined = value,
                "lost" => report.lost = value,
                _ => return None,
            }
        }
        Some(report)
    }
}

static BUDGET: Budget = Budget::new(0.01, 5);
static BREAKER: CircuitBreaker = CircuitBreaker::new()
    .failure_ratio(0.5)
    .min_attempts(40)
    .window(Duration::from_secs(30))
    .open_for(Duration::from_secs(60));
static COOLDOWN: Budget = Budget::new(10.0, 1000);

static ATTEMPTS: AtomicU64 = AtomicU64::new(0);

async fn get(client: &reqwest::Client, url: &str) -> Result<(), http::Error> {
    ATTEMPTS.fetch_add(1, Relaxed);
    http::check(client.get(url).send().await?).await?;
    Ok(())
}

#[retry(attempts = 4, wait = fixed(20ms), on = [Transient], budget = BUDGET)]
async fn budgeted(client: &reqwest::Client, url: &str) -> Result<(), http::Error> {
    get(client, url).await
}

#[retry(attempts = 1, on = [Transient], breaker = BREAKER)]
async fn guarded(client: &reqwest::Client, url: &str) -> Result<(), http::Error> {
    get(client, url).await
}

#[retry(attempts = 3, wait = fixed(10ms), on = [Transient], budget = COOLDOWN)]
async fn cooled(client: &reqwest::Client, url: &str) -> Result<(), http::Error> {
    get(client, url).await
}

/// Runs the callers for `config.run_for` and reports.
pub async fn run(config: Config) -> Result<Report, String> {
    let sharing = match &config.redis {
        Some(url) => {
            let client = redis::Client::open(url.as_str()).map_err(|e| e.to_string())?;
            let members: &[&'static dyn retry_runtime::redis::Shared] = match config.scenario {
                Scenario::Budget => &[&BUDGET],
                Scenario::Breaker => &[&BREAKER],
                Scenario::Cooldown => &[&COOLDOWN],
            };
            let sharing = retry_runtime::redis::share(&client, &config.key, members)
                .map_err(|e| e.to_string())?;
            // Joined before the first call (or given up after a second).
            let start = Instant::now();
            while !sharing.connected() && start.elapsed() < Duration::from_secs(1) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Some(sharing)
        }
        None => None,
    };
    let client = crate::http_client();
    let calls = Arc::new(AtomicU64::new(0));
    let ok = Arc::new(AtomicU64::new(0));
    let max_ms = Arc::new(AtomicU64::new(0));
    let end = Instant::now() + config.run_for;
    // Watches the link to Redis.
    let watch = sharing.map(|sharing| {
        tokio::spawn(async move {
            let (mut rejoined, mut lost, mut up) = (0, 0, sharing.connected());
            while Instant::now() < end {
                tokio::time::sleep(Duration::from_millis(5)).await;
                let now_up = sharing.connected();
                match (up, now_up) {
                    (false, true) => rejoined += 1,
                    (true, false) => lost += 1,
                    _ => {}
                }
                up = now_up;
            }
            (rejoined, lost)
        })
    });
    let mut tasks = Vec::new();
    for _ in 0..config.callers {
        let (client, url) = (client.clone(), config.url.clone());
        let (calls, ok, max_ms) = (calls.clone(), ok.clone(), max_ms.clone());
        let scenario = config.scenario;
        tasks.push(tokio::spawn(async move {
            while Instant::now() < end {
                let started = Instant::now();
                let result = match scenario {
                    Scenario::Budget => budgeted(&client, &url).await,
                    Scenario::Breaker => guarded(&client, &url).await,
                    Scenario::Cooldown => cooled(&client, &url).await,
                };
                let took = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                max_ms.fetch_max(took, Relaxed);
                calls.fetch_add(1, Relaxed);
                if result.is_ok() {
                    ok.fetch_add(1, Relaxed);
                }
                // A caller's pace: a call every few milliseconds at most.
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }));
    }
    for task in tasks {
        task.await.map_err(|e| e.to_string())?;
    }
    let (rejoined, lost) = match watch {
        Some(watch) => watch.await.map_err(|e| e.to_string())?,
        None => (0, 0),
    };
    // A last round trip before the process exits.
    if let Some(sharing) = sharing {
        sharing.leave().await;
    }
    Ok(Report {
        calls: calls.load(Relaxed),
        ok: ok.load(Relaxed),
        attempts: ATTEMPTS.load(Relaxed),
        max_call_ms: max_ms.load(Relaxed),
        rejoined,
        lost,
    })
}
