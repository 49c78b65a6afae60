//! The run-time builder says what the attribute says, with the same engine.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use retry_runtime::wait::{Jitter, exponential, fixed, linear};
use retry_runtime::{Class, ClassSet, Classify, RetryAfter, Retrying, Rule};
use tests::{ApiError, PlainError, Script, ms, secs};
use tokio::time::Instant;

#[tokio::test(start_paused = true)]
async fn defaults_retry_every_error_three_times() {
    let s: Script<u32, PlainError> = Script::new([Err(PlainError(1))]);
    let out = Retrying::new().call(|| async { s.next() }).await;
    assert_eq!(out, Err(PlainError(1)));
    assert_eq!(s.calls(), 3);
}

#[tokio::test(start_paused = true)]
async fn classify_uses_transient_by_default() {
    let policy = Retrying::new().wait(fixed(secs(1.0))).classify();
    let s = Script::new([Err(ApiError::status(404))]);
    let _ = policy.call(|| async { s.next() }).await;
    assert_eq!(s.calls(), 1);
    let s: Script<u32> = Script::new([Err(ApiError::status(503))]);
    let start = Instant::now();
    let _ = policy.call(|| async { s.next() }).await;
    assert_eq!(s.calls(), 3);
    assert_eq!(start.elapsed(), secs(2.0));
}

#[tokio::test(start_paused = true)]
async fn rules_overrides_and_never() {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    let policy = Retrying::new()
        .name("builder")
        .attempts(5)
        .wait(
            exponential()
                .initial(secs(1.0))
                .max(secs(8.0))
                .jitter(Jitter::None),
        )
        .on(Rule::class(ClassSet::CONNECT))
        .on(Rule::class(ClassSet::RATE_LIMITED)
            .attempts(3)
            .wait(fixed(secs(60.0))))
        .on(Rule::when(|e: &ApiError| e.class == Class::Status(418)))
        .never(Rule::class(ClassSet::status(401)))
        .before_sleep(move |s| record.lock().unwrap().push((s.name, s.attempt, s.delay)));

    let s: Script<u32> = Script::new([Err(ApiError::connect())]);
    let _ = policy.call(|| async { s.next() }).await;
    assert_eq!(s.calls(), 5);
    let delays: Vec<_> = seen.lock().unwrap().drain(..).map(|(_, _, d)| d).collect();
    assert_eq!(delays, [1.0, 2.0, 4.0, 8.0].map(secs));

    let s: Script<u32> = Script::new([Err(ApiError::status(429))]);
    let _ = policy.call(|| async { s.next() }).await;
    assert_eq!(s.calls(), 3);
    let got: Vec<_> = seen.lock().unwrap().drain(..).collect();
    assert_eq!(
        got,
        [("builder", 1, secs(60.0)), ("builder", 2, secs(60.0))]
    );

    for (error, calls) in [
        (ApiError::status(418), 5),
        (ApiError::status(401), 1),
        (ApiError::status(500), 1),
    ] {
        let s: Script<u32> = Script::new([Err(error.clone())]);
        let _ = policy.call(|| async { s.next() }).await;
        assert_eq!(s.calls(), calls, "{error:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn retry_after_deadline_timeout_when_ok() {
    let policy = Retrying::new()
        .attempts(4)
        .wait(fixed(secs(1.0)))
        .classify();
    let s = Script::new([Err(ApiError::status(429).after(secs(5.0))), Ok(1)]);
    let start = Instant::now();
    assert_eq!(policy.call(|| async { s.next() }).await, Ok(1));
    assert_eq!(start.elapsed(), secs(5.0));

    let ignore = policy.clone().retry_after(RetryAfter::Ignore);
    let s = Script::new([Err(ApiError::status(429).after(secs(500.0))), Ok(1)]);
    let start = Instant::now();
    assert_eq!(ignore.call(|| async { s.next() }).await, Ok(1));
    assert_eq!(start.elapsed(), secs(1.0));

    let deadline = Retrying::new()
        .attempts(100)
        .wait(fixed(secs(3.0)))
        .deadline(secs(10.0));
    let s: Script<u32> = Script::new([Err(ApiError::connect())]);
    let _ = deadline.call(|| async { s.next() }).await;
    assert_eq!(s.calls(), 4);

    let timeout = Retrying::new()
        .attempts(3)
        .wait(fixed(ms(100)))
        .timeout(ms(50))
        .classify()
        .on(Rule::class(ClassSet::TIMEOUT));
    let started = AtomicU32::new(0);
    let out: Result<u32, ApiError> = timeout
        .call(|| {
            started.fetch_add(1, Ordering::SeqCst);
            async {
                tokio::time::sleep(secs(1.0)).await;
                Ok(1)
            }
        })
        .await;
    assert_eq!(out, Err(ApiError::timeout()));
    assert_eq!(started.load(Ordering::SeqCst), 3);

    let gave_up = Arc::new(AtomicU32::new(0));
    let counter = gave_up.clone();
    let when_ok = Retrying::<String, ApiError>::new()
        .wait(linear().initial(ms(10)))
        .when_ok(|s: &String| s.is_empty())
        .on_giveup(move |state| {
            assert!(state.error.is_none());
            counter.fetch_add(1, Ordering::SeqCst);
        });
    let s = Script::new([Ok(String::new())]);
    assert_eq!(when_ok.call(|| async { s.next() }).await, Ok(String::new()));
    assert_eq!(s.calls(), 3);
    assert_eq!(gave_up.load(Ordering::SeqCst), 1);
}

#[test]
fn call_blocking() {
    let policy = Retrying::new().attempts(3).wait(Duration::from_millis(1));
    let s: Script<u32, PlainError> = Script::new([Err(PlainError(1)), Ok(2)]);
    assert_eq!(policy.call_blocking(|| s.next()), Ok(2));
    assert_eq!(s.calls(), 2);
}

/// A policy chosen at run time, as from a configuration file.
#[tokio::test(start_paused = true)]
async fn policies_from_configuration() {
    struct Config {
        attempts: u32,
        backoff: &'static str,
        base_ms: u64,
    }
    fn policy(config: &Config) -> Retrying<u32, std::io::Error> {
        let base = ms(config.base_ms);
        let p = Retrying::new().attempts(config.attempts).classify();
        match config.backoff {
            "fixed" => p.wait(fixed(base)),
            _ => p.wait(exponential().initial(base).jitter(Jitter::None)),
        }
    }
    for (config, elapsed) in [
        (
            Config {
                attempts: 3,
                backoff: "fixed",
                base_ms: 100,
            },
            ms(200),
        ),
        (
            Config {
                attempts: 4,
                backoff: "exponential",
                base_ms: 100,
            },
            ms(700),
        ),
    ] {
        let start = Instant::now();
        let out = policy(&config)
            .call(|| async {
                Err::<u32, _>(std::io::Error::from(std::io::ErrorKind::ConnectionReset))
            })
            .await;
        assert_eq!(out.unwrap_err().kind(), std::io::ErrorKind::ConnectionReset);
        assert_eq!(start.elapsed(), elapsed);
    }
}

#[test]
fn classify_is_implemented_for_references_and_boxes() {
    let e = ApiError::status(503);
    assert_eq!(e.class(), Class::Status(503));
    assert_eq!(Box::new(e).class(), Class::Status(503));
}
