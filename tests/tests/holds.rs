//! The fleet's cool-down as the engine sees it, without Redis: a budget
//! whose cool-down (`hold`) says how long attempts must wait (as a shared one does after
//! another process got a `Retry-After`), on tokio's paused clock.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use retry_runtime::__private::{Clock, TokioClock};
use retry_runtime::{Class, Classify, CoolDown, GiveUp, RetryBudget, retry};
use tokio::time::Instant;

/// Holds attempts until `until` (milliseconds of the process clock), and
/// remembers what it was told.
struct Held {
    until_ms: AtomicU64,
    told: Mutex<Vec<Duration>>,
}

impl RetryBudget for Held {
    fn deposit(&self, _: Duration) {}
    fn try_withdraw(&self, _: Duration) -> bool {
        true
    }
    fn cool_down(&self) -> Option<&dyn CoolDown> {
        Some(self)
    }
}

impl CoolDown for Held {
    fn hold(&self, now: Duration) -> Duration {
        let now = now.as_millis() as u64;
        Duration::from_millis(self.until_ms.load(Relaxed).saturating_sub(now))
    }
    fn rate_limited(&self, until: Duration) {
        self.told.lock().unwrap().push(until);
    }
}

impl Held {
    const fn new() -> Held {
        Held {
            until_ms: AtomicU64::new(0),
            told: Mutex::new(Vec::new()),
        }
    }
    /// Holds for `d` from now.
    fn hold_for(&self, d: Duration) {
        let now = <TokioClock as Clock>::ticks();
        self.until_ms.store((now + d).as_millis() as u64, Relaxed);
    }
}

#[derive(Debug)]
struct Limited(Option<Duration>);

impl Classify for Limited {
    fn class(&self) -> Class {
        Class::Status(429)
    }
    fn retry_after(&self) -> Option<Duration> {
        self.0
    }
}

static FIRST: Held = Held::new();

#[retry(attempts = 2, wait = fixed(10ms), on = [RateLimited], budget = FIRST)]
async fn first(calls: &Mutex<Vec<Instant>>) -> Result<u8, Limited> {
    calls.lock().unwrap().push(Instant::now());
    Ok(1)
}

#[tokio::test(start_paused = true)]
async fn the_first_attempt_waits_out_the_fleets_hold() {
    let calls = Mutex::new(Vec::new());
    FIRST.hold_for(Duration::from_secs(3));
    let start = Instant::now();
    assert_eq!(first(&calls).await.unwrap(), 1);
    assert_eq!(calls.lock().unwrap()[0] - start, Duration::from_secs(3));
}

static CAPPED: Held = Held::new();

#[retry(attempts = 2, wait = fixed(10ms), on = [RateLimited], budget = CAPPED, retry_after = honor(max = 2s))]
async fn capped(calls: &Mutex<Vec<Instant>>) -> Result<u8, Limited> {
    calls.lock().unwrap().push(Instant::now());
    Ok(1)
}

static IGNORED: Held = Held::new();

#[retry(attempts = 2, wait = fixed(10ms), on = [RateLimited], budget = IGNORED, retry_after = ignore)]
async fn ignored(calls: &Mutex<Vec<Instant>>) -> Result<u8, Limited> {
    calls.lock().unwrap().push(Instant::now());
    Err(Limited(Some(Duration::from_secs(5))))
}

static DEADLINE: Held = Held::new();

#[retry(attempts = 2, wait = fixed(10ms), on = [RateLimited], budget = DEADLINE, deadline = 1s)]
async fn with_deadline(calls: &Mutex<Vec<Instant>>) -> Result<u8, Limited> {
    calls.lock().unwrap().push(Instant::now());
    Ok(1)
}

#[tokio::test(start_paused = true)]
async fn the_hold_is_capped_like_a_requested_delay_and_comes_before_the_deadline() {
    // At most retry_after's max before a first attempt.
    let calls = Mutex::new(Vec::new());
    CAPPED.hold_for(Duration::from_secs(3600));
    let start = Instant::now();
    capped(&calls).await.unwrap();
    assert_eq!(calls.lock().unwrap()[0] - start, Duration::from_secs(2));

    // Nothing with `ignore`, and nothing published.
    let calls = Mutex::new(Vec::new());
    IGNORED.hold_for(Duration::from_secs(3600));
    let start = Instant::now();
    ignored(&calls).await.unwrap_err();
    let seen = calls.lock().unwrap().clone();
    assert_eq!(seen[0] - start, Duration::ZERO);
    assert_eq!(seen[1] - seen[0], Duration::from_millis(10));
    assert!(IGNORED.told.lock().unwrap().is_empty());

    // No call outlasts its deadline for the fleet: a 1 s deadline does not
    // wait out a 30 s hold. Without a timeout (no error to end with), the
    // first attempt runs at once.
    let calls = Mutex::new(Vec::new());
    DEADLINE.hold_for(Duration::from_secs(30));
    let start = Instant::now();
    with_deadline(&calls).await.unwrap();
    assert_eq!(calls.lock().unwrap()[0] - start, Duration::ZERO);
}

/// An error a timed-out attempt can become.
#[derive(Debug, PartialEq)]
enum Ended {
    Limited,
    TimedOut,
    Open,
}

impl Classify for Ended {
    fn class(&self) -> Class {
        match self {
            Ended::Limited => Class::Status(429),
            Ended::TimedOut => Class::Timeout,
            Ended::Open => Class::Other,
        }
    }
}

impl From<retry_runtime::Elapsed> for Ended {
    fn from(_: retry_runtime::Elapsed) -> Self {
        Ended::TimedOut
    }
}

impl From<retry_runtime::CircuitOpen> for Ended {
    fn from(_: retry_runtime::CircuitOpen) -> Self {
        Ended::Open
    }
}

static ENDS: Held = Held::new();
static ENDS_REASON: Mutex<Option<GiveUp>> = Mutex::new(None);

#[retry(attempts = 3, wait = none, budget = ENDS, deadline = 1s, timeout = 10s,
        on_giveup = |s| *ENDS_REASON.lock().unwrap() = s.reason)]
async fn ends_at_once(calls: &Mutex<Vec<Instant>>) -> Result<u8, Ended> {
    calls.lock().unwrap().push(Instant::now());
    Ok(1)
}

static ENDS_ALONE: Held = Held::new();

// No `timeout`, but an error type built from `Elapsed`.
#[retry(attempts = 3, wait = none, budget = ENDS_ALONE, deadline = 1s)]
async fn ends_without_a_timeout(calls: &Mutex<Vec<Instant>>) -> Result<u8, Ended> {
    calls.lock().unwrap().push(Instant::now());
    Ok(1)
}

#[tokio::test(start_paused = true)]
async fn a_hold_longer_than_the_deadline_ends_the_call_at_once() {
    // Any error type built from `Elapsed` ends, with or without a timeout.
    let calls = Mutex::new(Vec::new());
    ENDS_ALONE.hold_for(Duration::from_secs(30));
    let start = Instant::now();
    assert_eq!(ends_without_a_timeout(&calls).await, Err(Ended::TimedOut));
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert!(calls.lock().unwrap().is_empty());

    // The attribute: no attempt, the timed-out error, at once.
    let calls = Mutex::new(Vec::new());
    ENDS.hold_for(Duration::from_secs(3));
    let start = Instant::now();
    assert_eq!(ends_at_once(&calls).await, Err(Ended::TimedOut));
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert!(calls.lock().unwrap().is_empty());
    assert_eq!(*ENDS_REASON.lock().unwrap(), Some(GiveUp::Deadline));
    let stats = retry_runtime::stats::get(concat!(module_path!(), "::ends_at_once")).unwrap();
    assert_eq!((stats.calls, stats.failures), (1, 1));

    // A shorter hold is waited out, and counts against the deadline: the
    // attempt gets what is left (here cut by it).
    ENDS.hold_for(Duration::from_millis(400));
    let policy: retry_runtime::Retrying<u8, Ended> = retry_runtime::Retrying::new()
        .classify()
        .attempts(3)
        .wait(retry_runtime::wait::none())
        .budget(&ENDS)
        .deadline(Duration::from_secs(1))
        .timeout(Duration::from_secs(10));
    let start = Instant::now();
    let outcome = policy
        .call(|| async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok(1)
        })
        .await;
    assert_eq!(outcome, Err(Ended::TimedOut));
    assert_eq!(
        start.elapsed(),
        Duration::from_secs(1),
        "0.4 s held + 0.6 s attempt"
    );

    // The builder with a hold as long as the deadline: at once, no attempt.
    ENDS.hold_for(Duration::from_secs(1));
    let start = Instant::now();
    let mut made = 0;
    let outcome = policy
        .call(|| {
            made += 1;
            async { Ok(1) }
        })
        .await;
    assert_eq!((outcome, made), (Err(Ended::TimedOut), 0));
    assert_eq!(start.elapsed(), Duration::ZERO);

    // A stream likewise: it ends with the timed-out error, never opened.
    use futures_util::StreamExt;
    let streams: retry_runtime::Retrying<(), Ended> = retry_runtime::Retrying::new()
        .classify()
        .attempts(2)
        .budget(&ENDS)
        .deadline(Duration::from_secs(1))
        .timeout(Duration::from_secs(10));
    ENDS.hold_for(Duration::from_secs(3));
    let start = Instant::now();
    let mut opened = 0;
    let items: Vec<_> = streams
        .stream(retry_runtime::stream::Resume::Restart, |_| {
            opened += 1;
            std::future::ready(Ok(futures_util::stream::iter([Ok::<u8, Ended>(1)])))
        })
        .collect()
        .await;
    assert_eq!(opened, 0);
    assert!(matches!(items[..], [Err(Ended::TimedOut)]), "{items:?}");
    assert_eq!(start.elapsed(), Duration::ZERO);
}

static OPEN_HELD: Held = Held::new();
static OPEN: retry_runtime::CircuitBreaker = retry_runtime::CircuitBreaker::new().min_attempts(1);

#[retry(attempts = 3, wait = none, budget = OPEN_HELD, breaker = OPEN)]
async fn refused_at_once(calls: &Mutex<Vec<Instant>>) -> Result<u8, Ended> {
    calls.lock().unwrap().push(Instant::now());
    Err(Ended::Limited)
}

#[tokio::test(start_paused = true)]
async fn an_open_breaker_refuses_before_the_fleets_hold() {
    let calls = Mutex::new(Vec::new());
    assert_eq!(refused_at_once(&calls).await, Err(Ended::Limited));
    assert_eq!(OPEN.state(), retry_runtime::BreakerState::Open);
    OPEN_HELD.hold_for(Duration::from_secs(3));
    let start = Instant::now();
    assert_eq!(refused_at_once(&calls).await, Err(Ended::Open));
    assert_eq!(
        start.elapsed(),
        Duration::ZERO,
        "no sleep to be refused after"
    );
    assert_eq!(calls.lock().unwrap().len(), 1);
}

static RETRIED: Held = Held::new();

#[retry(attempts = 3, wait = fixed(10ms), on = [RateLimited], budget = RETRIED, on_giveup = |s| *REASON.lock().unwrap() = s.reason)]
async fn retried(calls: &Mutex<Vec<Instant>>, after: Duration) -> Result<u8, Limited> {
    calls.lock().unwrap().push(Instant::now());
    Err(Limited(Some(after)))
}

static REASON: Mutex<Option<GiveUp>> = Mutex::new(None);

#[tokio::test(start_paused = true)]
async fn a_retry_after_is_published_and_a_longer_hold_is_waited_or_refused() {
    // The server's delay is published as a deadline on the process clock.
    let calls = Mutex::new(Vec::new());
    let t0 = <TokioClock as Clock>::ticks();
    retried(&calls, Duration::from_secs(1)).await.unwrap_err();
    let told = RETRIED.told.lock().unwrap().clone();
    // Every attempt's, the last one's too (the fleet must hear of it even
    // when this call gives up).
    let secs = |n| t0 + Duration::from_secs(n);
    assert_eq!(told, vec![secs(1), secs(2), secs(3)]);
    let seen = calls.lock().unwrap().clone();
    assert_eq!(seen[1] - seen[0], Duration::from_secs(1));

    // Another process's longer hold makes the retry wait for it...
    let calls = Mutex::new(Vec::new());
    RETRIED.hold_for(Duration::from_secs(5));
    let start = Instant::now();
    retried(&calls, Duration::from_millis(100))
        .await
        .unwrap_err();
    let seen = calls.lock().unwrap().clone();
    assert_eq!(
        seen[0] - start,
        Duration::from_secs(5),
        "the first attempt waits"
    );
    assert_eq!(seen[1] - seen[0], Duration::from_millis(100));

    // ...and one above retry_after's max (60 s) gives up as a long
    // Retry-After would.
    let calls = Mutex::new(Vec::new());
    too_long(&calls).await.unwrap_err();
    assert_eq!(calls.lock().unwrap().len(), 1);
    assert_eq!(*REASON.lock().unwrap(), Some(GiveUp::RetryAfterTooLong));
}

static TOO_LONG: Held = Held::new();

// Another process gets a 61 s Retry-After while this attempt runs.
#[retry(attempts = 3, wait = fixed(10ms), on = [RateLimited], budget = TOO_LONG, on_giveup = |s| *REASON.lock().unwrap() = s.reason)]
async fn too_long(calls: &Mutex<Vec<Instant>>) -> Result<u8, Limited> {
    calls.lock().unwrap().push(Instant::now());
    TOO_LONG.hold_for(Duration::from_secs(61));
    Err(Limited(None))
}

static BUILT: Held = Held::new();

/// The builder's calls, batches and streams wait out the hold before they
/// start, as the attribute does.
#[tokio::test(start_paused = true)]
async fn the_builder_call_batch_and_stream_wait_out_the_hold_first() {
    use futures_util::StreamExt;
    use retry_runtime::stream::{Resume, Streamed};
    use retry_runtime::{Retrying, wait};

    let policy: Retrying<u8, Limited> = Retrying::new()
        .classify()
        .attempts(2)
        .wait(wait::fixed(Duration::from_millis(10)))
        .budget(&BUILT);

    BUILT.hold_for(Duration::from_secs(2));
    let start = Instant::now();
    let mut at = None;
    let got = policy
        .call(|| {
            at.get_or_insert_with(Instant::now);
            async { Ok(7) }
        })
        .await;
    assert_eq!(got.unwrap(), 7);
    assert_eq!(at.unwrap() - start, Duration::from_secs(2));

    BUILT.hold_for(Duration::from_secs(3));
    let start = Instant::now();
    let firsts = Mutex::new(Vec::new());
    let outcomes = policy
        .batch([1u8, 2], 2, |n| {
            firsts.lock().unwrap().push(Instant::now());
            let n = *n;
            async move { Ok(n) }
        })
        .await;
    assert_eq!(outcomes.outcomes.len(), 2);
    for t in firsts.lock().unwrap().iter() {
        assert_eq!(*t - start, Duration::from_secs(3));
    }

    let streams: Retrying<(), Limited> = Retrying::new().classify().attempts(2).budget(&BUILT);
    BUILT.hold_for(Duration::from_secs(4));
    let start = Instant::now();
    let opened = Mutex::new(Vec::new());
    let items: Vec<_> = streams
        .stream(Resume::Restart, |_| {
            opened.lock().unwrap().push(Instant::now());
            std::future::ready(Ok(futures_util::stream::iter([
                Ok::<u8, Limited>(1),
                Ok(2),
            ])))
        })
        .collect()
        .await;
    assert_eq!(items.len(), 2);
    assert!(matches!(items[0], Ok(Streamed::Item(1))));
    assert_eq!(
        *opened.lock().unwrap(),
        vec![start + Duration::from_secs(4)]
    );
}
