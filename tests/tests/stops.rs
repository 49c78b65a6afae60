//! Hooks, `when_ok`, `deadline`, `timeout`, `Retry-After` and cancellation.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use retry_runtime::{Class, GiveUp, retry};
use tests::{ApiError, Script, Seen, ms, secs, take_delays, take_seen};
use tokio::time::Instant;

type Outcome = Result<u32, ApiError>;

#[retry(attempts = 3, wait = fixed(2), before_sleep = tests::record, on_giveup = tests::record)]
async fn hooked(s: &Script<u32>) -> Outcome {
    s.next()
}

#[tokio::test(start_paused = true)]
async fn hooks_see_every_sleep_and_the_give_up() {
    let s = Script::new([Err(ApiError::connect())]);
    let _ = hooked(&s).await;
    let seen = take_seen();
    let at = |attempt, delay, elapsed, giving_up| Seen {
        attempt,
        delay,
        elapsed,
        class: Some(Class::Connect),
        giving_up,
        had_error: true,
        reason: giving_up.then_some(GiveUp::Attempts),
    };
    assert_eq!(
        seen,
        [
            at(1, secs(2.0), secs(0.0), false),
            at(2, secs(2.0), secs(2.0), false),
            at(3, secs(0.0), secs(4.0), true),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn on_giveup_runs_for_errors_that_are_never_retried_and_not_on_success() {
    let s = Script::new([Err(ApiError::status(404))]);
    let _ = hooked(&s).await;
    let seen = take_seen();
    assert_eq!(seen.len(), 1);
    assert!(seen[0].giving_up);
    assert_eq!(seen[0].attempt, 1);

    let s = Script::new([Err(ApiError::connect()), Ok(1)]);
    assert_eq!(hooked(&s).await, Ok(1));
    assert_eq!(take_seen().iter().filter(|s| s.giving_up).count(), 0);
}

#[tokio::test(start_paused = true)]
async fn closures_capturing_state_are_hooks() {
    static SLEEPS: AtomicU32 = AtomicU32::new(0);
    static GIVEUPS: AtomicU32 = AtomicU32::new(0);

    #[retry(
        attempts = 4,
        wait = none,
        before_sleep = |state| { assert!(state.error.is_some()); SLEEPS.fetch_add(1, Ordering::SeqCst); },
        on_giveup = |state: &retry_runtime::RetryState<'_, ApiError>| { assert_eq!(state.attempt, 4); GIVEUPS.fetch_add(1, Ordering::SeqCst); },
    )]
    async fn counted(s: &Script<u32>) -> Outcome {
        s.next()
    }

    let _ = counted(&Script::new([Err(ApiError::connect())])).await;
    assert_eq!(SLEEPS.load(Ordering::SeqCst), 3);
    assert_eq!(GIVEUPS.load(Ordering::SeqCst), 1);
}

#[retry(attempts = 4, wait = fixed(1), when_ok = |s: &String| s.is_empty(), before_sleep = tests::record, on_giveup = tests::record)]
async fn completion(s: &Script<String>) -> Result<String, ApiError> {
    s.next()
}

#[tokio::test(start_paused = true)]
async fn when_ok_retries_rejected_values() {
    let s = Script::new([Ok(String::new()), Ok(String::new()), Ok("hi".to_string())]);
    assert_eq!(completion(&s).await.unwrap(), "hi");
    assert_eq!(s.calls(), 3);
    let seen = take_seen();
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(|s| !s.had_error && s.class.is_none()));
}

#[tokio::test(start_paused = true)]
async fn when_ok_returns_the_last_ok_on_giving_up() {
    let s = Script::new([Ok(String::new())]);
    let start = Instant::now();
    assert_eq!(completion(&s).await, Ok(String::new()));
    assert_eq!(s.calls(), 4);
    assert_eq!(start.elapsed(), secs(3.0));
    let seen = take_seen();
    assert!(seen.last().unwrap().giving_up);
}

#[tokio::test(start_paused = true)]
async fn when_ok_and_errors_mix() {
    let s = Script::new([Ok(String::new()), Err(ApiError::connect()), Ok("x".into())]);
    assert_eq!(completion(&s).await.unwrap(), "x");
    assert_eq!(s.calls(), 3);
    take_seen();
}

#[retry(attempts = 100, wait = fixed(3), deadline = 10, before_sleep = tests::record)]
async fn with_deadline(s: &Script<u32>, work: Duration) -> Outcome {
    tokio::time::sleep(work).await;
    s.next()
}

#[tokio::test(start_paused = true)]
async fn deadline_is_never_overslept() {
    // Attempts start at 0, 3, 6, 9; a sleep from 9 to 12 would pass 10.
    let s = Script::new([Err(ApiError::connect())]);
    let start = Instant::now();
    let _ = with_deadline(&s, Duration::ZERO).await;
    assert_eq!(s.calls(), 4);
    assert_eq!(start.elapsed(), secs(9.0));
    assert_eq!(take_delays(), [secs(3.0); 3]);
}

#[tokio::test(start_paused = true)]
async fn deadline_counts_attempt_time() {
    // Each attempt takes 2.5s: they start at 0 and 5.5; the second ends at 8
    // and a sleep to 11 would pass 10.
    let s = Script::new([Err(ApiError::connect())]);
    let start = Instant::now();
    let _ = with_deadline(&s, secs(2.5)).await;
    assert_eq!(s.calls(), 2);
    assert_eq!(start.elapsed(), secs(8.0));
    take_delays();
}

#[retry(attempts = 3, wait = fixed(1), timeout = 500ms, before_sleep = tests::record, on_giveup = tests::record)]
async fn with_timeout(s: &Script<u32>, started: &AtomicU32, work: &[Duration]) -> Outcome {
    let n = started.fetch_add(1, Ordering::SeqCst) as usize;
    tokio::time::sleep(work[n.min(work.len() - 1)]).await;
    s.next()
}

#[tokio::test(start_paused = true)]
async fn a_slow_attempt_is_dropped_and_counts_as_timeout() {
    let s = Script::new([Ok(7)]);
    let start = Instant::now();
    let started = AtomicU32::new(0);
    let out = with_timeout(&s, &started, &[secs(10.0), secs(10.0), ms(100)]).await;
    assert_eq!(out, Ok(7));
    assert_eq!(started.load(Ordering::SeqCst), 3);
    // Two attempts cut at 500ms (their `s.next()` never ran), two 1s sleeps, one 100ms attempt.
    assert_eq!(s.calls(), 1);
    assert_eq!(start.elapsed(), ms(500 + 1000 + 500 + 1000 + 100));
    let seen = take_seen();
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(|s| s.class == Some(Class::Timeout)));
}

#[tokio::test(start_paused = true)]
async fn timeouts_give_up_with_the_elapsed_error() {
    let s = Script::new([Ok(7)]);
    let started = AtomicU32::new(0);
    let out = with_timeout(&s, &started, &[secs(10.0)]).await;
    assert_eq!(out, Err(ApiError::timeout()));
    assert_eq!(started.load(Ordering::SeqCst), 3);
    assert_eq!(s.calls(), 0);
    take_seen();
}

#[retry(attempts = 3, wait = fixed(1), timeout = 1s, on = [Timeout])]
async fn io_timeout(work: Duration) -> std::io::Result<u8> {
    tokio::time::sleep(work).await;
    Ok(1)
}

#[tokio::test(start_paused = true)]
async fn io_errors_are_built_from_elapsed() {
    let err = io_timeout(secs(5.0)).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    assert_eq!(io_timeout(ms(10)).await.unwrap(), 1);
}

#[retry(attempts = 4, wait = fixed(1), before_sleep = tests::record)]
async fn server_delay(s: &Script<u32>) -> Outcome {
    s.next()
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_honored_as_a_floor() {
    let s = Script::new([
        Err(ApiError::status(429).after(secs(7.0))),
        Err(ApiError::status(503).after(ms(10))),
        Ok(1),
    ]);
    let start = Instant::now();
    assert_eq!(server_delay(&s).await, Ok(1));
    assert_eq!(take_delays(), [secs(7.0), secs(1.0)]);
    assert_eq!(start.elapsed(), secs(8.0));
}

#[tokio::test(start_paused = true)]
async fn retry_after_above_the_default_cap_gives_up_at_once() {
    let s = Script::new([Err(ApiError::status(429).after(secs(61.0)))]);
    let start = Instant::now();
    assert!(server_delay(&s).await.is_err());
    assert_eq!(s.calls(), 1);
    assert_eq!(start.elapsed(), Duration::ZERO);

    // Hostile values: the longest Duration there is.
    let s = Script::new([Err(ApiError::status(429).after(Duration::MAX))]);
    assert!(server_delay(&s).await.is_err());
    assert_eq!(s.calls(), 1);
    // Exactly the cap is obeyed.
    let s = Script::new([Err(ApiError::status(429).after(secs(60.0))), Ok(2)]);
    assert_eq!(server_delay(&s).await, Ok(2));
    assert_eq!(take_delays(), [secs(60.0)]);
}

#[retry(attempts = 4, wait = fixed(1), retry_after = honor(max = 2m), before_sleep = tests::record)]
async fn raised_cap(s: &Script<u32>) -> Outcome {
    s.next()
}

#[retry(attempts = 4, wait = fixed(1), retry_after = ignore, before_sleep = tests::record)]
async fn ignored(s: &Script<u32>) -> Outcome {
    s.next()
}

#[retry(attempts = 4, wait = fixed(1), retry_after = honor, before_sleep = tests::record)]
async fn plain_honor(s: &Script<u32>) -> Outcome {
    s.next()
}

#[tokio::test(start_paused = true)]
async fn retry_after_policies() {
    let s = Script::new([Err(ApiError::status(429).after(secs(90.0))), Ok(1)]);
    assert_eq!(raised_cap(&s).await, Ok(1));
    assert_eq!(take_delays(), [secs(90.0)]);

    let s = Script::new([Err(ApiError::status(429).after(secs(90.0))), Ok(1)]);
    assert_eq!(ignored(&s).await, Ok(1));
    assert_eq!(take_delays(), [secs(1.0)]);

    let s = Script::new([Err(ApiError::status(429).after(secs(90.0))), Ok(1)]);
    assert!(plain_honor(&s).await.is_err());
    let s = Script::new([Err(ApiError::status(429).after(secs(30.0))), Ok(1)]);
    assert_eq!(plain_honor(&s).await, Ok(1));
    assert_eq!(take_delays(), [secs(30.0)]);
}

#[retry(attempts = 5, wait = fixed(1), deadline = 10)]
async fn retry_after_and_deadline(s: &Script<u32>) -> Outcome {
    s.next()
}

#[tokio::test(start_paused = true)]
async fn retry_after_never_oversleeps_the_deadline() {
    let s = Script::new([Err(ApiError::status(503).after(secs(11.0))), Ok(1)]);
    let start = Instant::now();
    assert!(retry_after_and_deadline(&s).await.is_err());
    assert_eq!(start.elapsed(), Duration::ZERO);
}

#[retry(attempts = 10, wait = fixed(1))]
async fn counted_forever(calls: Arc<AtomicU32>) -> Outcome {
    calls.fetch_add(1, Ordering::SeqCst);
    Err(ApiError::connect())
}

#[tokio::test(start_paused = true)]
async fn dropping_the_future_cancels_the_retry() {
    let calls = Arc::new(AtomicU32::new(0));
    let out = tokio::time::timeout(ms(2500), counted_forever(calls.clone())).await;
    assert!(out.is_err());
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    tokio::time::sleep(secs(100.0)).await;
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "no attempt runs after the drop"
    );
}

#[tokio::test(start_paused = true)]
async fn an_aborted_task_runs_no_more_attempts() {
    let calls = Arc::new(AtomicU32::new(0));
    let task = tokio::spawn(counted_forever(calls.clone()));
    tokio::time::sleep(ms(1500)).await;
    task.abort();
    let _ = task.await;
    let before = calls.load(Ordering::SeqCst);
    tokio::time::sleep(secs(100.0)).await;
    assert_eq!(calls.load(Ordering::SeqCst), before);
    assert_eq!(before, 2);
}

static HANGS: AtomicU32 = AtomicU32::new(0);

#[retry(attempts = 3, deadline = 2s, timeout = 10s, wait = none)]
async fn hangs() -> std::io::Result<u8> {
    HANGS.fetch_add(1, Ordering::Relaxed);
    std::future::pending::<()>().await;
    Ok(1)
}

/// An attempt cut at the deadline leaves no time for another: the body
/// runs once, not three times (the last two cut at once).
#[tokio::test(start_paused = true)]
async fn no_attempt_starts_with_no_time_left() {
    let start = tokio::time::Instant::now();
    let error = hangs().await.unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::TimedOut);
    assert_eq!(start.elapsed(), secs(2.0));
    assert_eq!(HANGS.load(Ordering::Relaxed), 1);
}

static LATE: AtomicU32 = AtomicU32::new(0);

#[retry(attempts = 3, wait = fixed(999.5ms), deadline = 1s, timeout = 5s)]
async fn sleeps_into_the_deadline() -> std::io::Result<u8> {
    LATE.fetch_add(1, Ordering::Relaxed);
    Err(std::io::ErrorKind::ConnectionReset.into())
}

/// A sleep that would end within the deadline's last millisecond ends at
/// the deadline (tokio's timer wakes on whole milliseconds): it is not
/// taken, and the call returns its last error, not a timed-out attempt
/// that never ran.
#[tokio::test(start_paused = true)]
async fn a_sleep_into_the_last_millisecond_is_not_taken() {
    let start = tokio::time::Instant::now();
    let error = sleeps_into_the_deadline().await.unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::ConnectionReset);
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(LATE.load(Ordering::Relaxed), 1);
}
