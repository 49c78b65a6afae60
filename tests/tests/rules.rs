//! Which failures are retried, how often: classes, overrides, first match,
//! `never`, predicates and the default `on`.

use retry_runtime::{Class, retry};
use tests::{ApiError, PlainError, Script, ms, secs, take_delays};

type Outcome = Result<u32, ApiError>;

fn always(e: ApiError) -> Script<u32> {
    Script::new([Err(e)])
}

#[retry(attempts = 4, wait = none, on = [Connect, Status(500..=504)])]
async fn connect_or_5xx(s: &Script<u32>) -> Outcome {
    s.next()
}

#[tokio::test(start_paused = true)]
async fn listed_classes_are_retried_and_others_are_not() {
    for (error, calls) in [
        (ApiError::connect(), 4),
        (ApiError::status(500), 4),
        (ApiError::status(504), 4),
        (ApiError::status(505), 1),
        (ApiError::status(429), 1),
        (ApiError::timeout(), 1),
        (ApiError::other(), 1),
    ] {
        let s = always(error.clone());
        assert_eq!(connect_or_5xx(&s).await, Err(error.clone()));
        assert_eq!(s.calls(), calls, "{error:?}");
    }
}

#[retry(attempts = 3, wait = none, on = [Timeout, RateLimited, ServerError, Status(408 | 418 | 420..=422)])]
async fn named_classes(s: &Script<u32>) -> Outcome {
    s.next()
}

#[tokio::test(start_paused = true)]
async fn named_classes_and_or_patterns() {
    for (error, calls) in [
        (ApiError::timeout(), 3),
        (ApiError::status(429), 3),
        (ApiError::status(599), 3),
        (ApiError::status(408), 3),
        (ApiError::status(418), 3),
        (ApiError::status(421), 3),
        (ApiError::status(423), 1),
        (ApiError::connect(), 1),
    ] {
        let s = always(error.clone());
        let _ = named_classes(&s).await;
        assert_eq!(s.calls(), calls, "{error:?}");
    }
}

#[retry(attempts = 3, wait = none)]
async fn default_on_classified(s: &Script<u32>) -> Outcome {
    s.next()
}

#[tokio::test(start_paused = true)]
async fn default_on_is_transient_for_classify_types() {
    for (error, calls) in [
        (ApiError::connect(), 3),
        (ApiError::timeout(), 3),
        (ApiError::status(408), 3),
        (ApiError::status(409), 3),
        (ApiError::status(429), 3),
        (ApiError::status(500), 3),
        (ApiError::status(599), 3),
        (ApiError::status(400), 1),
        (ApiError::status(401), 1),
        (ApiError::status(404), 1),
        (ApiError::other(), 1),
    ] {
        let s = always(error.clone());
        let _ = default_on_classified(&s).await;
        assert_eq!(s.calls(), calls, "{error:?}");
    }
}

#[retry(attempts = 3, wait = none)]
async fn default_on_plain(s: &Script<u32, PlainError>) -> Result<u32, PlainError> {
    s.next()
}

#[tokio::test(start_paused = true)]
async fn default_on_is_any_for_other_types() {
    let s = Script::new([Err(PlainError(1))]);
    assert_eq!(default_on_plain(&s).await, Err(PlainError(1)));
    assert_eq!(s.calls(), 3);
}

#[retry(attempts = 3, wait = none)]
async fn default_on_io(s: &Script<u32, std::io::ErrorKind>) -> std::io::Result<u32> {
    s.next().map_err(std::io::Error::from)
}

#[tokio::test(start_paused = true)]
async fn io_errors_use_their_classes_by_default() {
    use std::io::ErrorKind as K;
    for (kind, calls) in [
        (K::ConnectionReset, 3),
        (K::TimedOut, 3),
        (K::NotFound, 1),
        (K::PermissionDenied, 1),
    ] {
        let s = Script::new([Err(kind)]);
        let err = default_on_io(&s).await.unwrap_err();
        assert_eq!(err.kind(), kind);
        assert_eq!(s.calls(), calls, "{kind:?}");
    }
}

#[retry(
    attempts = 5,
    wait = exponential(initial = 1, max = 8, jitter = none),
    on = [Connect, RateLimited => (attempts = 3, wait = fixed(60))],
    before_sleep = tests::record,
)]
async fn per_class_overrides(s: &Script<u32>) -> Outcome {
    s.next()
}

#[tokio::test(start_paused = true)]
async fn overrides_replace_attempts_and_wait_for_their_class() {
    let s = always(ApiError::connect());
    let _ = per_class_overrides(&s).await;
    assert_eq!(s.calls(), 5);
    assert_eq!(take_delays(), [1.0, 2.0, 4.0, 8.0].map(secs));

    let s = always(ApiError::status(429));
    let start = tokio::time::Instant::now();
    let _ = per_class_overrides(&s).await;
    assert_eq!(s.calls(), 3);
    assert_eq!(take_delays(), [secs(60.0); 2]);
    assert_eq!(start.elapsed(), secs(120.0));
}

#[tokio::test(start_paused = true)]
async fn mixed_failures_use_the_rule_of_each_failure() {
    // Attempts count the whole call: a rate limit at attempt 3 hits its own limit of 3.
    let s = Script::new([
        Err(ApiError::connect()),
        Err(ApiError::status(429)),
        Err(ApiError::status(429)),
        Ok(1),
    ]);
    assert_eq!(per_class_overrides(&s).await, Err(ApiError::status(429)));
    assert_eq!(s.calls(), 3);
    assert_eq!(take_delays(), [secs(1.0), secs(60.0)]);
}

#[retry(attempts = 2, wait = none, on = [Status(500..=599) => (attempts = 4), ServerError => (attempts = 9), Any])]
async fn first_match(s: &Script<u32>) -> Outcome {
    s.next()
}

#[tokio::test(start_paused = true)]
async fn the_first_matching_rule_decides() {
    let s = always(ApiError::status(503));
    let _ = first_match(&s).await;
    assert_eq!(s.calls(), 4);
    let s = always(ApiError::other());
    let _ = first_match(&s).await;
    assert_eq!(s.calls(), 2);
}

#[retry(attempts = 4, wait = none, on = [Any], never = [Status(401 | 403), Timeout])]
async fn never_wins(s: &Script<u32>) -> Outcome {
    s.next()
}

#[tokio::test(start_paused = true)]
async fn never_wins_over_on() {
    for (error, calls) in [
        (ApiError::status(401), 1),
        (ApiError::status(403), 1),
        (ApiError::timeout(), 1),
        (ApiError::status(404), 4),
        (ApiError::connect(), 4),
    ] {
        let s = always(error.clone());
        let _ = never_wins(&s).await;
        assert_eq!(s.calls(), calls, "{error:?}");
    }
}

#[retry(wait = none, never = [Status(503)])]
async fn never_with_default_on(s: &Script<u32>) -> Outcome {
    s.next()
}

#[tokio::test(start_paused = true)]
async fn never_narrows_the_default() {
    let s = always(ApiError::status(503));
    let _ = never_with_default_on(&s).await;
    assert_eq!(s.calls(), 1);
    let s = always(ApiError::status(502));
    let _ = never_with_default_on(&s).await;
    assert_eq!(s.calls(), 3);
}

fn is_odd(e: &PlainError) -> bool {
    e.0 % 2 == 1
}

#[retry(attempts = 3, wait = none, on = [is_odd, |e: &PlainError| e.0 == 10 => (attempts = 5)])]
async fn predicates(s: &Script<u32, PlainError>) -> Result<u32, PlainError> {
    s.next()
}

#[tokio::test(start_paused = true)]
async fn predicates_work_without_classify() {
    for (code, calls) in [(1, 3), (2, 1), (10, 5)] {
        let s = Script::new([Err(PlainError(code))]);
        let _ = predicates(&s).await;
        assert_eq!(s.calls(), calls, "{code}");
    }
}

#[retry(attempts = 3, wait = none, on = [Connect, |e: &ApiError| e.class == Class::Status(418)], never = [|e: &ApiError| e.retry_after.is_some()])]
async fn classes_and_predicates(s: &Script<u32>) -> Outcome {
    s.next()
}

#[tokio::test(start_paused = true)]
async fn classes_and_predicates_mix() {
    let s = always(ApiError::status(418));
    let _ = classes_and_predicates(&s).await;
    assert_eq!(s.calls(), 3);
    let s = always(ApiError::connect().after(ms(1)));
    let _ = classes_and_predicates(&s).await;
    assert_eq!(s.calls(), 1);
}

#[retry(attempts = 3, wait = none)]
async fn succeeds_after_failures(s: &Script<u32>) -> Outcome {
    s.next()
}

#[tokio::test(start_paused = true)]
async fn success_after_failures_returns_the_value() {
    let s = Script::new([Err(ApiError::connect()), Err(ApiError::status(503)), Ok(42)]);
    assert_eq!(succeeds_after_failures(&s).await, Ok(42));
    assert_eq!(s.calls(), 3);
}

#[retry(attempts = 1, wait = none)]
async fn one_attempt(s: &Script<u32>) -> Outcome {
    s.next()
}

#[tokio::test(start_paused = true)]
async fn one_attempt_never_retries() {
    let s = always(ApiError::connect());
    let _ = one_attempt(&s).await;
    assert_eq!(s.calls(), 1);
}
