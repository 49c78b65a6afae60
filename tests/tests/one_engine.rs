//! One engine: the same table of failures through the attribute and through
//! `Retrying` gives the same outcome, the same attempts, the same delays and
//! the same reason to give up.

use std::time::Duration;

use retry_runtime::wait::fixed;
use retry_runtime::{ClassSet, GiveUp, RetryAfter, Retrying, Rule, retry};
use tests::{ApiError, Script, Seen, record, secs, take_seen};
use tokio::time::Instant;

type Outcome = Result<u32, ApiError>;

#[retry(
    attempts = 4,
    wait = fixed(1s),
    deadline = 20s,
    retry_after = honor(max = 10s),
    on = [Connect, RateLimited => (attempts = 2, wait = fixed(5s)), Status(500..=504), Timeout => (attempts = 3)],
    never = [Status(501)],
    before_sleep = record,
    on_giveup = record,
)]
async fn rules_attr(s: &Script<u32>) -> Outcome {
    s.next()
}

fn rules_builder() -> Retrying<u32, ApiError> {
    Retrying::new()
        .attempts(4)
        .wait(fixed(secs(1.0)))
        .deadline(secs(20.0))
        .retry_after(RetryAfter::honor(secs(10.0)))
        .on(Rule::class(ClassSet::CONNECT))
        .on(Rule::class(ClassSet::RATE_LIMITED)
            .attempts(2)
            .wait(fixed(secs(5.0))))
        .on(Rule::class(ClassSet::status_range(500, 504)))
        .on(Rule::class(ClassSet::TIMEOUT).attempts(3))
        .never(Rule::class(ClassSet::status(501)))
        .before_sleep(record)
        .on_giveup(record)
}

#[retry(attempts = 3, wait = fixed(2s), deadline = 5s, before_sleep = record, on_giveup = record)]
async fn default_attr(s: &Script<u32>) -> Outcome {
    s.next()
}

fn default_builder() -> Retrying<u32, ApiError> {
    Retrying::new()
        .attempts(3)
        .wait(fixed(secs(2.0)))
        .deadline(secs(5.0))
        .classify()
        .before_sleep(record)
        .on_giveup(record)
}

#[derive(Debug, PartialEq)]
struct Run {
    result: Outcome,
    calls: u32,
    seen: Vec<Seen>,
    elapsed: Duration,
}

async fn through_attr(f: impl AsyncFn(&Script<u32>) -> Outcome, script: &[Outcome]) -> Run {
    let s = Script::new(script.iter().cloned());
    let start = Instant::now();
    let result = f(&s).await;
    Run {
        result,
        calls: s.calls(),
        seen: take_seen(),
        elapsed: start.elapsed(),
    }
}

async fn through_builder(policy: Retrying<u32, ApiError>, script: &[Outcome]) -> Run {
    let s = Script::new(script.iter().cloned());
    let start = Instant::now();
    let result = policy.call(|| async { s.next() }).await;
    Run {
        result,
        calls: s.calls(),
        seen: take_seen(),
        elapsed: start.elapsed(),
    }
}

fn e(error: ApiError) -> Outcome {
    Err(error)
}

/// (script, calls, delays in seconds, reason to give up)
type Case = (Vec<Outcome>, u32, Vec<f64>, Option<GiveUp>);

fn rules_cases() -> Vec<Case> {
    let connect = ApiError::connect;
    let rate = |after: f64| ApiError::status(429).after(secs(after));
    vec![
        (
            vec![e(connect()), e(connect()), Ok(1)],
            3,
            vec![1.0, 1.0],
            None,
        ),
        (
            vec![e(connect())],
            4,
            vec![1.0, 1.0, 1.0],
            Some(GiveUp::Attempts),
        ),
        // The rate-limit rule: 2 attempts, 5 s, Retry-After as a floor.
        (vec![e(rate(3.0))], 2, vec![5.0], Some(GiveUp::Attempts)),
        (vec![e(rate(8.0)), Ok(2)], 2, vec![8.0], None),
        (vec![e(rate(10.0)), Ok(2)], 2, vec![10.0], None),
        (
            vec![e(rate(30.0))],
            1,
            vec![],
            Some(GiveUp::RetryAfterTooLong),
        ),
        // `never` wins over the 5xx rule; the server's verdict comes next.
        (
            vec![e(ApiError::status(501))],
            1,
            vec![],
            Some(GiveUp::NotRetryable),
        ),
        (
            vec![e(ApiError::status(503).verdict(false))],
            1,
            vec![],
            Some(GiveUp::ServerRefused),
        ),
        (
            vec![e(ApiError::status(501).verdict(true))],
            1,
            vec![],
            Some(GiveUp::NotRetryable),
        ),
        // No rule, but the server says to retry: the top-level limits.
        (
            vec![e(ApiError::status(404).verdict(true)), Ok(3)],
            2,
            vec![1.0],
            None,
        ),
        (
            vec![e(ApiError::status(404))],
            1,
            vec![],
            Some(GiveUp::NotRetryable),
        ),
        (
            vec![e(ApiError::status(503).verdict(true)), Ok(3)],
            2,
            vec![1.0],
            None,
        ),
        // Per-rule attempts count the whole call.
        (
            vec![e(connect()), e(connect()), e(rate(0.0))],
            3,
            vec![1.0, 1.0],
            Some(GiveUp::Attempts),
        ),
        (
            vec![e(connect()), e(ApiError::timeout())],
            3,
            vec![1.0, 1.0],
            Some(GiveUp::Attempts),
        ),
        (
            vec![e(ApiError::timeout()), e(ApiError::status(502)), Ok(4)],
            3,
            vec![1.0, 1.0],
            None,
        ),
        // The deadline: 9 + 9 would end past 20 s... 9 + 9 = 18 fits, the
        // third 9 does not.
        (
            vec![e(connect().after(secs(9.0)))],
            3,
            vec![9.0, 9.0],
            Some(GiveUp::Deadline),
        ),
        (
            vec![e(ApiError::other())],
            1,
            vec![],
            Some(GiveUp::NotRetryable),
        ),
    ]
}

fn default_cases() -> Vec<Case> {
    vec![
        (vec![e(ApiError::status(503)), Ok(1)], 2, vec![2.0], None),
        (
            vec![e(ApiError::status(408))],
            3,
            vec![2.0, 2.0],
            Some(GiveUp::Attempts),
        ),
        (
            vec![e(ApiError::status(404))],
            1,
            vec![],
            Some(GiveUp::NotRetryable),
        ),
        (
            vec![e(ApiError::timeout()), e(ApiError::connect()), Ok(5)],
            3,
            vec![2.0, 2.0],
            None,
        ),
        (
            vec![e(ApiError::status(429).after(secs(2.5))), Ok(5)],
            2,
            vec![2.5],
            None,
        ),
        (
            vec![e(ApiError::status(429).after(secs(4.0)))],
            2,
            vec![4.0],
            Some(GiveUp::Deadline),
        ),
        (
            vec![e(ApiError::status(429).after(secs(61.0)))],
            1,
            vec![],
            Some(GiveUp::RetryAfterTooLong),
        ),
        (
            vec![e(ApiError::other().verdict(true)), Ok(6)],
            2,
            vec![2.0],
            None,
        ),
        (
            vec![e(ApiError::status(500).verdict(false))],
            1,
            vec![],
            Some(GiveUp::ServerRefused),
        ),
    ]
}

fn check(run: &Run, (script, calls, delays, reason): &Case) {
    assert_eq!(run.calls, *calls, "{script:?}: {run:#?}");
    let slept: Vec<Duration> = run
        .seen
        .iter()
        .filter(|s| !s.giving_up)
        .map(|s| s.delay)
        .collect();
    let want: Vec<Duration> = delays.iter().map(|d| secs(*d)).collect();
    assert_eq!(slept, want, "{script:?}");
    assert_eq!(run.elapsed, want.iter().sum::<Duration>(), "{script:?}");
    let gave_up = run.seen.iter().find(|s| s.giving_up).and_then(|s| s.reason);
    assert_eq!(gave_up, *reason, "{script:?}");
    assert_eq!(run.result.is_ok(), reason.is_none(), "{script:?}");
}

#[tokio::test(start_paused = true)]
async fn rules_through_both() {
    for case in rules_cases() {
        let attr = through_attr(rules_attr, &case.0).await;
        let builder = through_builder(rules_builder(), &case.0).await;
        check(&attr, &case);
        assert_eq!(attr, builder, "{:?}", case.0);
    }
}

#[tokio::test(start_paused = true)]
async fn the_default_through_both() {
    for case in default_cases() {
        let attr = through_attr(default_attr, &case.0).await;
        let builder = through_builder(default_builder(), &case.0).await;
        check(&attr, &case);
        assert_eq!(attr, builder, "{:?}", case.0);
    }
}

/// Without `.classify()`, the builder is the attribute on a type without
/// `Classify`: every error is retried, no requested delay is read.
#[retry(attempts = 3, wait = fixed(2s), before_sleep = record, on_giveup = record)]
async fn unclassified_attr(s: &Script<u32, tests::PlainError>) -> Result<u32, tests::PlainError> {
    s.next()
}

#[tokio::test(start_paused = true)]
async fn unclassified_through_both() {
    let script = [Err(tests::PlainError(1)), Err(tests::PlainError(2)), Ok(9)];
    let s = Script::new(script.clone());
    let attr = (unclassified_attr(&s).await, s.calls(), take_seen());
    let s = Script::new(script);
    let policy = Retrying::new()
        .attempts(3)
        .wait(fixed(secs(2.0)))
        .before_sleep(record)
        .on_giveup(record);
    let builder = (
        policy.call(|| async { s.next() }).await,
        s.calls(),
        take_seen(),
    );
    assert_eq!(attr, builder);
    assert_eq!(attr.0, Ok(9));
}

/// `when_ok`, a per-attempt `timeout`, a rule ending in `Default`.
#[retry(
    attempts = 4,
    wait = fixed(1s),
    timeout = 2s,
    when_ok = |v: &u32| *v == 0,
    on = [RateLimited => (attempts = 2, wait = fixed(3s)), Default],
    before_sleep = record,
    on_giveup = record,
)]
async fn mixed_attr(s: &Script<u32>) -> Outcome {
    slow_on_99(s).await
}

/// `Ok(99)` stands for an attempt that hangs past the timeout.
async fn slow_on_99(s: &Script<u32>) -> Outcome {
    let out = s.next();
    if out == Ok(99) {
        tokio::time::sleep(secs(3600.0)).await;
    }
    out
}

fn mixed_builder() -> Retrying<u32, ApiError> {
    Retrying::new()
        .attempts(4)
        .wait(fixed(secs(1.0)))
        .timeout(secs(2.0))
        .when_ok(|v: &u32| *v == 0)
        .classify()
        .on(Rule::class(ClassSet::RATE_LIMITED)
            .attempts(2)
            .wait(fixed(secs(3.0))))
        .on(Rule::default())
        .before_sleep(record)
        .on_giveup(record)
}

/// `on = [Any]` on a `Classify` type still obeys `Retry-After`.
#[retry(attempts = 3, wait = fixed(1s), on = [Any], before_sleep = record, on_giveup = record)]
async fn any_attr(s: &Script<u32>) -> Outcome {
    s.next()
}

fn any_builder() -> Retrying<u32, ApiError> {
    Retrying::new()
        .attempts(3)
        .wait(fixed(secs(1.0)))
        .classify()
        .on(Rule::any())
        .before_sleep(record)
        .on_giveup(record)
}

#[tokio::test(start_paused = true)]
async fn when_ok_timeouts_default_and_any_through_both() {
    // (script, result, calls, delays in seconds, elapsed in seconds)
    type Mixed = (Vec<Outcome>, Outcome, u32, Vec<f64>, f64);
    let mixed: Vec<Mixed> = vec![
        (vec![Ok(0), Ok(5)], Ok(5), 2, vec![1.0], 1.0),
        (vec![Ok(0)], Ok(0), 4, vec![1.0, 1.0, 1.0], 3.0),
        (vec![Ok(99), Ok(7)], Ok(7), 2, vec![1.0], 3.0),
        (
            vec![Ok(99)],
            Err(ApiError::timeout()),
            4,
            vec![1.0, 1.0, 1.0],
            11.0,
        ),
        (
            vec![e(ApiError::status(429)), Ok(1)],
            Ok(1),
            2,
            vec![3.0],
            3.0,
        ),
        (
            vec![e(ApiError::status(429))],
            e(ApiError::status(429)),
            2,
            vec![3.0],
            3.0,
        ),
        (
            vec![e(ApiError::status(503)), e(ApiError::timeout()), Ok(2)],
            Ok(2),
            3,
            vec![1.0, 1.0],
            2.0,
        ),
        (
            vec![e(ApiError::status(404))],
            e(ApiError::status(404)),
            1,
            vec![],
            0.0,
        ),
    ];
    for (script, result, calls, delays, elapsed) in mixed {
        let attr = through_attr(mixed_attr, &script).await;
        let s = Script::new(script.iter().cloned());
        let start = Instant::now();
        let out = mixed_builder().call(|| slow_on_99(&s)).await;
        let builder = Run {
            result: out,
            calls: s.calls(),
            seen: take_seen(),
            elapsed: start.elapsed(),
        };
        assert_eq!(attr, builder, "{script:?}");
        assert_eq!(attr.result, result, "{script:?}");
        assert_eq!(attr.calls, calls, "{script:?}");
        let slept: Vec<_> = attr
            .seen
            .iter()
            .filter(|s| !s.giving_up)
            .map(|s| s.delay)
            .collect();
        assert_eq!(
            slept,
            delays.iter().map(|d| secs(*d)).collect::<Vec<_>>(),
            "{script:?}"
        );
        assert_eq!(attr.elapsed, secs(elapsed), "{script:?}");
    }
    for script in [
        vec![e(ApiError::status(429).after(secs(5.0))), Ok(1)],
        vec![e(ApiError::other()), e(ApiError::status(404)), Ok(2)],
        vec![e(ApiError::status(429).after(secs(61.0)))],
    ] {
        let attr = through_attr(any_attr, &script).await;
        let builder = through_builder(any_builder(), &script).await;
        assert_eq!(attr, builder, "{script:?}");
    }
}
