//! `testing::enable()` and `testing::enable_with_attempts(n)`: process-wide,
//! so this binary's tests run one at a time, and no other binary shares
//! its process.

#![allow(clippy::await_holding_lock)] // The lock only serialises the tests.

use std::sync::Mutex;
use std::time::Duration;

use retry_runtime::{Retrying, retry, testing};
use tests::{ApiError, Script, ms, secs};
use tokio::time::Instant;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

#[retry(attempts = 4, wait = exponential(initial = 10s, jitter = none))]
async fn fetch(s: &Script<u32>) -> Result<u32, ApiError> {
    s.next()
}

#[retry(attempts = 4, wait = fixed(2s))]
fn fetch_blocking(s: &Script<u32>) -> Result<u32, ApiError> {
    s.next()
}

/// The paused clock's time a call takes, and its result.
async fn timed(s: &Script<u32>) -> (Result<u32, ApiError>, Duration) {
    let start = Instant::now();
    let out = fetch(s).await;
    (out, start.elapsed())
}

#[tokio::test(start_paused = true)]
async fn waits_are_zero_while_the_guard_lives_and_normal_after() {
    let _serial = serial();
    let failing = || Script::new([Err(ApiError::connect())]);

    let (out, took) = timed(&failing()).await;
    assert!(out.is_err());
    assert_eq!(took, secs(10.0 + 20.0 + 40.0), "off: the waits as written");

    let guard = testing::enable();
    assert!(testing::is_enabled());
    let s = failing();
    let (out, took) = timed(&s).await;
    assert!(out.is_err());
    assert_eq!(
        (took, s.calls()),
        (Duration::ZERO, 4),
        "on: every attempt, no wait"
    );

    // The server's requested delay is a wait too.
    let s = Script::new([Err(ApiError::status(429).after(secs(30.0))), Ok(5)]);
    assert_eq!(timed(&s).await, (Ok(5), Duration::ZERO));

    drop(guard);
    assert!(!testing::is_enabled());
    let (_, took) = timed(&failing()).await;
    assert_eq!(took, secs(70.0), "dropped: back to normal");
}

#[tokio::test(start_paused = true)]
async fn a_cap_limits_attempts_and_decisions_stay_as_they_are() {
    let _serial = serial();
    let _guard = testing::enable_with_attempts(2);
    let s = Script::new([Err(ApiError::status(503))]);
    assert_eq!(timed(&s).await.1, Duration::ZERO);
    assert_eq!(s.calls(), 2);

    // A cap above the policy's attempts changes nothing.
    let _wider = testing::enable_with_attempts(10);
    let s = Script::new([Err(ApiError::status(503))]);
    fetch(&s).await.unwrap_err();
    assert_eq!(s.calls(), 2, "the smallest live cap wins");

    // What is not retried is still not retried, and a Retry-After above
    // the cap still gives up at once.
    let s = Script::new([Err(ApiError::status(400))]);
    fetch(&s).await.unwrap_err();
    assert_eq!(s.calls(), 1);
    let s = Script::new([Err(ApiError::status(429).after(secs(3600.0)))]);
    fetch(&s).await.unwrap_err();
    assert_eq!(s.calls(), 1);

    // 0 is taken as 1: the first attempt is always made.
    let _none = testing::enable_with_attempts(0);
    let s = Script::new([Err(ApiError::status(503))]);
    fetch(&s).await.unwrap_err();
    assert_eq!(s.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn overlapping_guards_keep_the_switch_on_until_the_last_is_dropped() {
    let _serial = serial();
    let a = testing::enable_with_attempts(2);
    let b = testing::enable();
    drop(a);
    let s = Script::new([Err(ApiError::connect())]);
    assert_eq!(timed(&s).await.1, Duration::ZERO, "b still lives");
    assert_eq!(s.calls(), 4, "a's cap left with a");
    drop(b);
    assert!(!testing::is_enabled());
}

#[test]
fn a_plain_fn_and_a_builder_do_not_sleep_either() {
    let _serial = serial();
    let _guard = testing::enable_with_attempts(3);
    let start = std::time::Instant::now();
    let s = Script::new([Err(ApiError::connect())]);
    fetch_blocking(&s).unwrap_err();
    assert_eq!(s.calls(), 3);

    let policy = Retrying::<u32, ApiError>::new()
        .classify()
        .attempts(5)
        .wait(secs(30.0));
    let s = Script::new([Err(ApiError::connect())]);
    policy.call_blocking(|| s.next()).unwrap_err();
    assert_eq!(s.calls(), 3);
    // Real time, generously: without the switch this takes 4 s + 60 s.
    assert!(start.elapsed() < secs(3.0));
}

#[tokio::test(start_paused = true)]
async fn the_deadline_still_holds() {
    let _serial = serial();
    #[retry(attempts = 100, wait = none, deadline = 1s)]
    async fn slow(s: &Script<u32>) -> Result<u32, ApiError> {
        tokio::time::sleep(ms(300)).await;
        s.next()
    }
    let _guard = testing::enable();
    let s = Script::new([Err(ApiError::connect())]);
    slow(&s).await.unwrap_err();
    assert_eq!(s.calls(), 4, "attempts at 0, 0.3, 0.6 and 0.9 s");
}

/// A budget of the application's own whose shared cool-down holds every
/// call for 30 s (as a fleet's `Retry-After` would).
struct Held;

impl retry_runtime::CoolDown for Held {
    fn hold(&self, _: Duration) -> Duration {
        secs(30.0)
    }
    fn rate_limited(&self, _: Duration) {}
}

impl retry_runtime::RetryBudget for Held {
    fn deposit(&self, _: Duration) {}
    fn try_withdraw(&self, _: Duration) -> bool {
        true
    }
    fn cool_down(&self) -> Option<&dyn retry_runtime::CoolDown> {
        Some(self)
    }
}

static HELD: Held = Held;

#[tokio::test(start_paused = true)]
async fn a_shared_cool_down_neither_waits_nor_ends_a_call_while_the_switch_is_on() {
    let _serial = serial();
    #[retry(attempts = 3, budget = HELD, deadline = 5s)]
    async fn held(s: &Script<u32>) -> Result<u32, ApiError> {
        s.next()
    }
    // Off: a 30 s hold the 5 s deadline cannot outlast ends the call at
    // once, with no attempt.
    let s = Script::new([Ok(7)]);
    let start = Instant::now();
    held(&s).await.unwrap_err();
    assert_eq!((s.calls(), start.elapsed()), (0, Duration::ZERO));
    // On: no hold, so the attempt runs at once.
    let _guard = testing::enable();
    let s = Script::new([Ok(7)]);
    assert_eq!(held(&s).await.unwrap(), 7);
    assert_eq!((s.calls(), start.elapsed()), (1, Duration::ZERO));
}
