//! Exact delays of every wait kind, on tokio's paused clock.

use retry_runtime::retry;
use tests::{ApiError, Script, ms, secs, take_delays};
use tokio::time::Instant;

type Outcome = Result<u32, ApiError>;

fn failing() -> Script<u32> {
    Script::new([Err(ApiError::connect())])
}

async fn run<F: std::future::Future<Output = Outcome>>(
    f: F,
) -> (Outcome, std::time::Duration, Vec<std::time::Duration>) {
    let start = Instant::now();
    let out = f.await;
    (out, start.elapsed(), take_delays())
}

#[retry(attempts = 4, wait = none, before_sleep = tests::record)]
async fn no_wait(s: &Script<u32>) -> Outcome {
    s.next()
}

#[tokio::test(start_paused = true)]
async fn none_waits_zero() {
    let s = failing();
    let (out, elapsed, delays) = run(no_wait(&s)).await;
    assert!(out.is_err());
    assert_eq!(s.calls(), 4);
    assert_eq!(elapsed, ms(0));
    assert_eq!(delays, [ms(0); 3]);
}

#[retry(attempts = 4, wait = fixed(1.5s), before_sleep = tests::record)]
async fn fixed_wait(s: &Script<u32>) -> Outcome {
    s.next()
}

#[tokio::test(start_paused = true)]
async fn fixed_waits_the_same() {
    let s = failing();
    let (_, elapsed, delays) = run(fixed_wait(&s)).await;
    assert_eq!(delays, [ms(1500); 3]);
    assert_eq!(elapsed, ms(4500));
}

#[retry(attempts = 30, wait = random(100ms, 300ms), before_sleep = tests::record)]
async fn random_wait(s: &Script<u32>) -> Outcome {
    s.next()
}

#[tokio::test(start_paused = true)]
async fn random_stays_in_its_range() {
    let s = failing();
    let (_, elapsed, delays) = run(random_wait(&s)).await;
    assert_eq!(delays.len(), 29);
    assert!(
        delays.iter().all(|d| (ms(100)..=ms(300)).contains(d)),
        "{delays:?}"
    );
    assert!(delays.iter().any(|d| *d != delays[0]));
    // tokio's timer rounds each sleep up to the millisecond.
    let sum: std::time::Duration = delays.iter().sum();
    assert!(
        elapsed >= sum && elapsed <= sum + ms(29),
        "{elapsed:?} vs {sum:?}"
    );
}

#[retry(attempts = 6, wait = linear(initial = 1, step = 500ms, max = 2.5s), before_sleep = tests::record)]
async fn linear_wait(s: &Script<u32>) -> Outcome {
    s.next()
}

#[tokio::test(start_paused = true)]
async fn linear_grows_by_step_up_to_max() {
    let s = failing();
    let (_, elapsed, delays) = run(linear_wait(&s)).await;
    assert_eq!(delays, [ms(1000), ms(1500), ms(2000), ms(2500), ms(2500)]);
    assert_eq!(elapsed, ms(9500));
}

#[retry(attempts = 9, wait = exponential(min = 2, max = 60, jitter = none), before_sleep = tests::record)]
async fn tenacity_exponential(s: &Script<u32>) -> Outcome {
    s.next()
}

#[tokio::test(start_paused = true)]
async fn exponential_without_jitter_is_tenacitys_wait_exponential() {
    // tenacity.wait_exponential(multiplier=1, min=2, max=60)
    let s = failing();
    let (_, elapsed, delays) = run(tenacity_exponential(&s)).await;
    let want = [2.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0].map(secs);
    assert_eq!(delays, want);
    assert_eq!(elapsed, want.iter().sum());
}

#[retry(attempts = 5, wait = exponential(initial = 100ms, factor = 3, max = 1s, jitter = none), before_sleep = tests::record)]
async fn exponential_factor(s: &Script<u32>) -> Outcome {
    s.next()
}

#[tokio::test(start_paused = true)]
async fn exponential_initial_and_factor() {
    let s = failing();
    let (_, _, delays) = run(exponential_factor(&s)).await;
    assert_eq!(delays, [ms(100), ms(300), ms(900), ms(1000)]);
}

#[retry(attempts = 12, wait = exponential(initial = 1s, max = 8s), before_sleep = tests::record)]
async fn full_jitter(s: &Script<u32>) -> Outcome {
    s.next()
}

#[tokio::test(start_paused = true)]
async fn full_jitter_is_below_the_exponential_value() {
    let s = failing();
    let (_, _, delays) = run(full_jitter(&s)).await;
    for (i, d) in delays.iter().enumerate() {
        let cap = secs(2f64.powi(i as i32).min(8.0));
        assert!(*d <= cap, "attempt {}: {d:?} > {cap:?}", i + 1);
    }
}

#[retry(attempts = 12, wait = exponential(initial = 1s, max = 8s, jitter = equal), before_sleep = tests::record)]
async fn equal_jitter(s: &Script<u32>) -> Outcome {
    s.next()
}

#[tokio::test(start_paused = true)]
async fn equal_jitter_is_in_the_upper_half() {
    let s = failing();
    let (_, _, delays) = run(equal_jitter(&s)).await;
    for (i, d) in delays.iter().enumerate() {
        let cap = secs(2f64.powi(i as i32).min(8.0));
        assert!(*d >= cap / 2 && *d <= cap, "attempt {}: {d:?}", i + 1);
    }
}

#[retry(attempts = 20, wait = exponential(initial = 100ms, max = 5s, jitter = decorrelated), before_sleep = tests::record)]
async fn decorrelated_jitter(s: &Script<u32>) -> Outcome {
    s.next()
}

#[tokio::test(start_paused = true)]
async fn decorrelated_jitter_grows_from_the_previous_delay() {
    let s = failing();
    let (_, _, delays) = run(decorrelated_jitter(&s)).await;
    let mut previous = ms(100);
    for d in &delays {
        assert!(
            *d >= ms(100) && *d <= (previous * 3).min(secs(5.0)),
            "{d:?} after {previous:?}"
        );
        previous = *d;
    }
}

#[retry(attempts = 4, wait = fixed(1) + linear(initial = 100ms, step = 100ms), before_sleep = tests::record)]
async fn summed(s: &Script<u32>) -> Outcome {
    s.next()
}

#[tokio::test(start_paused = true)]
async fn sums_add_up() {
    let s = failing();
    let (_, elapsed, delays) = run(summed(&s)).await;
    assert_eq!(delays, [ms(1100), ms(1200), ms(1300)]);
    assert_eq!(elapsed, ms(3600));
}

struct Doubling;

impl retry_runtime::Wait for Doubling {
    fn delay(&self, cx: &mut retry_runtime::wait::WaitContext<'_>) -> std::time::Duration {
        ms(10).saturating_mul(2u32.saturating_pow(cx.attempt))
    }
}

#[retry(attempts = 4, wait = Doubling, before_sleep = tests::record)]
async fn custom_wait(s: &Script<u32>) -> Outcome {
    s.next()
}

#[retry(attempts = 3, wait = Doubling + fixed(5ms), before_sleep = tests::record)]
async fn custom_plus_builtin(s: &Script<u32>) -> Outcome {
    s.next()
}

#[tokio::test(start_paused = true)]
async fn expressions_implementing_wait() {
    let s = failing();
    let (_, _, delays) = run(custom_wait(&s)).await;
    assert_eq!(delays, [ms(20), ms(40), ms(80)]);
    let s = failing();
    let (_, _, delays) = run(custom_plus_builtin(&s)).await;
    assert_eq!(delays, [ms(25), ms(45)]);
}

#[retry(before_sleep = tests::record)]
async fn defaults(s: &Script<u32>) -> Outcome {
    s.next()
}

#[tokio::test(start_paused = true)]
async fn default_is_three_attempts_with_jittered_exponential() {
    let s = failing();
    let (out, _, delays) = run(defaults(&s)).await;
    assert_eq!(out, Err(ApiError::connect()));
    assert_eq!(s.calls(), 3);
    assert_eq!(delays.len(), 2);
    assert!(
        delays[0] <= secs(1.0) && delays[1] <= secs(2.0),
        "{delays:?}"
    );
}

#[retry(attempts = 3, wait = 0.25, before_sleep = tests::record)]
async fn bare_seconds(s: &Script<u32>) -> Outcome {
    s.next()
}

#[retry(attempts = 3, wait = 40ms + fixed(1m), before_sleep = tests::record)]
async fn bare_with_unit(s: &Script<u32>) -> Outcome {
    s.next()
}

#[tokio::test(start_paused = true)]
async fn a_bare_duration_is_a_fixed_wait() {
    let s = failing();
    let (_, _, delays) = run(bare_seconds(&s)).await;
    assert_eq!(delays, [ms(250), ms(250)]);
    let s = failing();
    let (_, _, delays) = run(bare_with_unit(&s)).await;
    assert_eq!(delays, [ms(60_040), ms(60_040)]);
}
