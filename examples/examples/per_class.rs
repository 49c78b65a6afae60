//! Per-class rules on an LLM-style call: connection errors get 5 attempts with
//! exponential waits, rate limits 3 attempts with a fixed wait (or the
//! server's `Retry-After`, if longer), bad requests none.
//!
//! Run: `cargo run -p examples --example per_class`

use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use retry_runtime::{Class, Classify, RetryState, retry};

#[derive(Debug)]
enum ApiError {
    Connect,
    Http {
        status: u16,
        retry_after: Option<Duration>,
    },
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Connect => f.write_str("connection refused"),
            ApiError::Http { status, .. } => write!(f, "HTTP {status}"),
        }
    }
}

impl Classify for ApiError {
    fn class(&self) -> Class {
        match self {
            ApiError::Connect => Class::Connect,
            ApiError::Http { status, .. } => Class::Status(*status),
        }
    }
    fn retry_after(&self) -> Option<Duration> {
        match self {
            ApiError::Http { retry_after, .. } => *retry_after,
            ApiError::Connect => None,
        }
    }
}

/// What the fake backend answers next.
static SCRIPT: Mutex<Vec<Result<&str, ApiError>>> = Mutex::new(Vec::new());

fn trace(state: &RetryState<'_, ApiError>) {
    println!(
        "    attempt {} failed: {} (class {:?}), sleeping {:?}",
        state.attempt,
        state.error.map(ToString::to_string).unwrap_or_default(),
        state.class,
        state.delay,
    );
}

#[retry(
    attempts = 5,
    wait = exponential(initial = 50ms, max = 400ms, jitter = none),
    // Rate limits get their own limits; `Default` keeps retrying the rest of
    // what the default retries (connection failures, timeouts, 5xx).
    on = [RateLimited => (attempts = 3, wait = fixed(200ms)), Default],
    retry_after = honor(max = 1s),
    before_sleep = trace,
    on_giveup = |s| println!("    giving up after attempt {}", s.attempt),
)]
async fn complete(prompt: &str) -> Result<String, ApiError> {
    let next = SCRIPT.lock().unwrap().pop().unwrap_or(Ok("(script ended)"));
    next.map(|answer| format!("{prompt} -> {answer}"))
}

async fn scenario(title: &str, mut script: Vec<Result<&'static str, ApiError>>) {
    println!("{title}");
    script.reverse();
    *SCRIPT.lock().unwrap() = script;
    let start = tokio::time::Instant::now();
    match complete("Say hi").await {
        Ok(answer) => println!("  ok: {answer} ({:?})", start.elapsed()),
        Err(e) => println!("  error: {e} ({:?})", start.elapsed()),
    }
}

fn http(status: u16) -> ApiError {
    ApiError::Http {
        status,
        retry_after: None,
    }
}

#[tokio::main]
async fn main() {
    scenario(
        "connection errors, then a 503, then an answer:",
        vec![
            Err(ApiError::Connect),
            Err(ApiError::Connect),
            Err(http(503)),
            Ok("hi!"),
        ],
    )
    .await;
    scenario(
        "rate limited three times (the rule allows 3 attempts):",
        vec![
            Err(http(429)),
            Err(http(429)),
            Err(http(429)),
            Ok("never reached"),
        ],
    )
    .await;
    scenario(
        "rate limited with Retry-After: 0.5s (longer than the rule's wait):",
        vec![
            Err(ApiError::Http {
                status: 429,
                retry_after: Some(Duration::from_millis(500)),
            }),
            Ok("hello after waiting"),
        ],
    )
    .await;
    scenario("a 400 is not retried:", vec![Err(http(400))]).await;
}
