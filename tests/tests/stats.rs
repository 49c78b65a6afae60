//! `stats::snapshot`, `stats::get`, `stats::reset` and `FnStats`, through
//! annotated functions and named builder policies. `reset` touches every
//! function, so the tests of this binary run one at a time.

#![allow(clippy::await_holding_lock)] // The lock only serialises the tests.

use std::sync::Mutex;

use retry_runtime::stats::{self, FnStats};
use retry_runtime::{Retrying, retry};
use tests::{ApiError, Script, ms};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

#[retry(attempts = 3, wait = fixed(1s))]
async fn complete(s: &Script<u32>) -> Result<u32, ApiError> {
    s.next()
}

#[retry(attempts = 2, wait = none, name = "llm.embed")]
fn embed(s: &Script<u32>) -> Result<u32, ApiError> {
    s.next()
}

fn get(name: &str) -> FnStats {
    stats::get(name).unwrap_or_else(|| panic!("{name} not listed"))
}

#[tokio::test(start_paused = true)]
async fn counts_calls_first_tries_retries_and_failures() {
    let _serial = serial();
    // Whatever ran before: start from zero.
    stats::reset();
    // The default name is the module path and the function's name.
    let name = "stats::complete";

    let ok = Script::new([Ok(1)]);
    let flaky = Script::new([Err(ApiError::status(503)), Ok(2)]);
    let down = Script::new([Err(ApiError::connect())]);
    let bad = Script::new([Err(ApiError::status(400))]);
    complete(&ok).await.unwrap();
    complete(&ok).await.unwrap();
    complete(&flaky).await.unwrap();
    complete(&down).await.unwrap_err();
    complete(&bad).await.unwrap_err();

    let s = get(name);
    assert_eq!(s.name, name);
    assert_eq!(
        (s.calls, s.first_try_successes, s.retries, s.failures),
        (5, 2, 1 + 2, 2)
    );
    assert_eq!(
        (
            s.succeeded_after_retries,
            s.failed_without_retry,
            s.failed_after_retries,
            s.attempts
        ),
        (1, 1, 1, 5 + 3)
    );
    assert_eq!((s.gave_up.attempts, s.gave_up.not_retryable), (1, 1));
    assert_eq!(s.first_try_success_rate(), 0.4);
    assert_eq!(s.avg_retries(), 0.6);
    assert_eq!(s.failure_rate(), 0.4);
    assert!(stats::snapshot().contains(&s));
}

#[test]
fn a_plain_fn_records_under_its_name() {
    let _serial = serial();
    let s = Script::new([Err(ApiError::timeout()), Ok(1)]);
    embed(&s).unwrap();
    let e = get("llm.embed");
    assert_eq!((e.calls, e.retries, e.succeeded_after_retries), (1, 1, 1));
}

#[tokio::test(start_paused = true)]
async fn give_up_reasons_are_counted() {
    let _serial = serial();
    #[retry(attempts = 5, wait = fixed(10s), deadline = 15s, name = "stats.reasons")]
    async fn call(s: &Script<u32>) -> Result<u32, ApiError> {
        s.next()
    }
    call(&Script::new([Err(ApiError::status(503))]))
        .await
        .unwrap_err();
    call(&Script::new([Err(ApiError::status(503).verdict(false))]))
        .await
        .unwrap_err();
    call(&Script::new([
        Err(ApiError::status(429).after(ms(120_000))),
    ]))
    .await
    .unwrap_err();
    call(&Script::new([Err(ApiError::other())]))
        .await
        .unwrap_err();
    let g = get("stats.reasons").gave_up;
    assert_eq!(
        (
            g.deadline,
            g.server_refused,
            g.retry_after_too_long,
            g.not_retryable,
            g.attempts
        ),
        (1, 1, 1, 1, 0)
    );
}

#[tokio::test(start_paused = true)]
async fn a_rejected_ok_counts_as_returned_and_as_given_up() {
    let _serial = serial();
    #[retry(attempts = 2, wait = none, when_ok = |v: &u32| *v == 0, name = "stats.when_ok")]
    async fn call(s: &Script<u32>) -> Result<u32, ApiError> {
        s.next()
    }
    assert_eq!(call(&Script::new([Ok(0)])).await, Ok(0));
    let s = get("stats.when_ok");
    assert_eq!((s.calls, s.failures, s.succeeded_after_retries), (1, 0, 1));
    assert_eq!(s.gave_up.attempts, 1);
}

#[tokio::test(start_paused = true)]
async fn a_named_builder_policy_records_and_an_unnamed_one_does_not() {
    let _serial = serial();
    let policy = Retrying::<u32, ApiError>::new()
        .classify()
        .wait(ms(1))
        .name("stats.builder");
    let s = Script::new([Err(ApiError::status(502)), Ok(3)]);
    policy.call(|| async { s.next() }).await.unwrap();
    // A second policy with the same name shares the entry.
    let again = Retrying::<u32, ApiError>::new().name("stats.builder");
    again.call_blocking(|| Ok(1)).unwrap();
    let b = get("stats.builder");
    assert_eq!((b.calls, b.first_try_successes, b.retries), (2, 1, 1));

    let unnamed = Retrying::<u32, ApiError>::new();
    unnamed.call_blocking(|| Ok(1)).unwrap();
    assert!(stats::get("retrying").is_none());
}

#[tokio::test(start_paused = true)]
async fn generic_functions_and_methods_have_one_entry_each() {
    let _serial = serial();
    #[retry(wait = none, name = "stats.generic")]
    async fn generic<T: Clone + Send>(s: &Script<T>) -> Result<T, ApiError> {
        s.next()
    }
    generic(&Script::new([Ok(1u8)])).await.unwrap();
    generic(&Script::new([Ok("a")])).await.unwrap();
    assert_eq!(get("stats.generic").calls, 2);

    struct Client;
    impl Client {
        #[retry(wait = none)]
        async fn send(&self, s: &Script<u32>) -> Result<u32, ApiError> {
            s.next()
        }
    }
    Client.send(&Script::new([Ok(1)])).await.unwrap();
    assert_eq!(get("stats::send").calls, 1);
}

#[tokio::test(start_paused = true)]
async fn reset_zeroes_every_counter_and_keeps_the_entries() {
    let _serial = serial();
    complete(&Script::new([Ok(1)])).await.unwrap();
    embed(&Script::new([Ok(1)])).unwrap();
    stats::reset();
    let all = stats::snapshot();
    assert!(all.iter().any(|s| s.name == "stats::complete"));
    for s in &all {
        assert_eq!(s.calls, 0, "{s:?}");
        assert_eq!(s.retries, 0, "{s:?}");
        assert_eq!(s.attempts, 0, "{s:?}");
        assert_eq!(s.gave_up, Default::default(), "{s:?}");
    }
    complete(&Script::new([Err(ApiError::status(500)), Ok(1)]))
        .await
        .unwrap();
    let s = get("stats::complete");
    assert_eq!((s.calls, s.retries, s.first_try_successes), (1, 1, 0));
}

#[test]
fn threads_calling_one_function_lose_no_count() {
    let _serial = serial();
    #[retry(wait = none, name = "stats.threads")]
    fn call(n: u32) -> Result<u32, ApiError> {
        if n.is_multiple_of(10) {
            Err(ApiError::other())
        } else {
            Ok(n)
        }
    }
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| {
                for n in 1..=1000 {
                    let _ = call(n);
                }
            });
        }
    });
    let s = get("stats.threads");
    assert_eq!(
        (s.calls, s.first_try_successes, s.failed_without_retry),
        (8000, 7200, 800)
    );
}
