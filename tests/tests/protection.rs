//! Budgets, breakers and adaptive waits through the attribute and the
//! builder, on tokio's paused clock. Each test has its own statics.

use std::time::Duration;

use retry_runtime::{
    AdaptiveWindow, BreakerState, Budget, CircuitBreaker, GiveUp, Retrying, retry, stats, wait,
};
use tests::{ApiError, Script, record, secs, take_delays, take_seen};
use tokio::time::Instant;

static TIGHT: Budget = Budget::new(0.5, 0);

#[retry(attempts = 5, wait = fixed(1s), budget = TIGHT, on_giveup = record, name = "p.budget")]
async fn budgeted(s: &Script<u32>) -> Result<u32, ApiError> {
    s.next()
}

#[tokio::test(start_paused = true)]
async fn an_empty_budget_gives_up_at_once_with_the_last_error() {
    let _ = take_seen();
    // Two calls deposit one retry between them.
    let ok = Script::new([Ok(1)]);
    budgeted(&ok).await.unwrap();
    let start = Instant::now();
    let s = Script::new([Err(ApiError::status(503)), Err(ApiError::status(502))]);
    assert_eq!(budgeted(&s).await, Err(ApiError::status(502)));
    assert_eq!(s.calls(), 2, "one retry, then the budget is empty");
    assert_eq!(start.elapsed(), secs(1.0), "no sleep after the refusal");
    let seen = take_seen();
    assert_eq!(seen.last().unwrap().reason, Some(GiveUp::BudgetExhausted));
    assert_eq!(stats::get("p.budget").unwrap().gave_up.budget_exhausted, 1);

    // Ten seconds later the deposits and the withdrawal have expired.
    tokio::time::advance(secs(10.0)).await;
    let s = Script::new([Err(ApiError::status(503))]);
    budgeted(&s).await.unwrap_err();
    assert_eq!(s.calls(), 1, "half a retry is not one");
}

static SHAKY: CircuitBreaker = CircuitBreaker::new()
    .failure_ratio(0.5)
    .min_attempts(4)
    .window(Duration::from_secs(10))
    .open_for(Duration::from_secs(5));

#[retry(attempts = 3, wait = fixed(1s), breaker = SHAKY, on = [ServerError], name = "p.breaker")]
async fn guarded(s: &Script<u32>) -> Result<u32, ApiError> {
    s.next()
}

#[tokio::test(start_paused = true)]
async fn the_breaker_opens_refuses_then_lets_a_trial_through() {
    // Failures the rules do not retry (a 400) are not the API's ill health.
    for _ in 0..10 {
        let s = Script::new([Err(ApiError::status(400))]);
        guarded(&s).await.unwrap_err();
    }
    assert_eq!(SHAKY.state(), BreakerState::Closed);
    // (They count as successes: start the window afresh.)
    SHAKY.reset();

    // A 503, retried: attempts 1 and 2 fail (2 of 2), then attempt 3 fails
    // and the fourth failure in the window opens it.
    let s = Script::new([Err(ApiError::status(503))]);
    guarded(&s).await.unwrap_err();
    let start = Instant::now();
    let s = Script::new([Err(ApiError::status(503))]);
    assert_eq!(guarded(&s).await, Err(ApiError::status(503)));
    assert_eq!(SHAKY.state(), BreakerState::Open);
    assert_eq!(
        s.calls(),
        1,
        "it opened with this failure: no sleep into it"
    );
    assert_eq!(start.elapsed(), Duration::ZERO);

    // Open: no attempt, `E::from(CircuitOpen)`.
    let s = Script::new([Ok(1)]);
    assert_eq!(guarded(&s).await, Err(ApiError::status(599)));
    assert_eq!(s.calls(), 0);
    let g = stats::get("p.breaker").unwrap();
    assert_eq!(g.gave_up.breaker_open, 2);
    assert_eq!(g.calls, 13);

    // After `open_for`, one trial; its success closes it.
    tokio::time::advance(secs(5.0)).await;
    let s = Script::new([Ok(7)]);
    assert_eq!(guarded(&s).await, Ok(7));
    assert_eq!(SHAKY.state(), BreakerState::Closed);
}

static FLAKY_API: CircuitBreaker = CircuitBreaker::new()
    .min_attempts(2)
    .open_for(Duration::from_secs(3));

#[tokio::test(start_paused = true)]
async fn a_failed_trial_opens_it_again() {
    #[retry(attempts = 1, breaker = FLAKY_API)]
    async fn call(s: &Script<u32>) -> Result<u32, ApiError> {
        s.next()
    }
    for _ in 0..2 {
        call(&Script::new([Err(ApiError::connect())]))
            .await
            .unwrap_err();
    }
    assert_eq!(FLAKY_API.state(), BreakerState::Open);
    tokio::time::advance(secs(3.0)).await;
    let trial = Script::new([Err(ApiError::timeout())]);
    assert_eq!(call(&trial).await, Err(ApiError::timeout()));
    assert_eq!(trial.calls(), 1);
    assert_eq!(FLAKY_API.state(), BreakerState::Open);
    let s = Script::new([Ok(1)]);
    assert_eq!(call(&s).await, Err(ApiError::status(599)));
    assert_eq!(s.calls(), 0);
}

#[retry(attempts = 6, wait = adaptive(fixed(1s), scale = 3, window = 4, max = 3s), before_sleep = record)]
async fn adaptive_call(s: &Script<u32>) -> Result<u32, ApiError> {
    s.next()
}

#[tokio::test(start_paused = true)]
async fn adaptive_waits_rise_with_failures_and_fall_back() {
    let _ = take_delays();
    let s = Script::new([
        Err(ApiError::connect()),
        Err(ApiError::connect()),
        Err(ApiError::connect()),
        Err(ApiError::connect()),
        Ok(1),
    ]);
    adaptive_call(&s).await.unwrap();
    // The window of 4 fills with failures: 1 s × (1 + 3 × r), capped at 3 s.
    assert_eq!(
        take_delays(),
        [secs(4.0_f64.min(3.0)), secs(3.0), secs(3.0), secs(3.0)]
    );
    // Successes push the failures out of the window.
    for _ in 0..4 {
        adaptive_call(&Script::new([Ok(1)])).await.unwrap();
    }
    let s = Script::new([Err(ApiError::connect()), Ok(1)]);
    adaptive_call(&s).await.unwrap();
    // 1 of the last 4 failed: 1 s × (1 + 3 × 0.25).
    assert_eq!(take_delays(), [secs(1.75)]);
}

static OPENAI_HEALTH: AdaptiveWindow = AdaptiveWindow::new(10);

#[retry(attempts = 2, wait = adaptive(fixed(1s), shared = OPENAI_HEALTH), before_sleep = record)]
async fn chat(s: &Script<u32>) -> Result<u32, ApiError> {
    s.next()
}

#[retry(attempts = 2, wait = adaptive(fixed(1s), shared = OPENAI_HEALTH))]
async fn embed(s: &Script<u32>) -> Result<u32, ApiError> {
    s.next()
}

#[tokio::test(start_paused = true)]
async fn functions_can_share_a_window() {
    let _ = take_delays();
    for _ in 0..4 {
        embed(&Script::new([Err(ApiError::status(500))]))
            .await
            .unwrap_err();
    }
    // embed: 8 failed attempts in the shared window of 10.
    assert_eq!(OPENAI_HEALTH.failure_ratio(), 1.0);
    chat(&Script::new([Err(ApiError::connect()), Ok(1)]))
        .await
        .unwrap();
    // 9 of 9 failed: 1 s × (1 + 3), capped at the default 120 s.
    assert_eq!(take_delays(), [secs(4.0)]);
}

static BUILDER_BUDGET: Budget = Budget::new(0.0, 0);
static BUILDER_BREAKER: CircuitBreaker = CircuitBreaker::new().min_attempts(1);
static BUILDER_WINDOW: AdaptiveWindow = AdaptiveWindow::new(2);

#[tokio::test(start_paused = true)]
async fn the_builder_says_the_same() {
    let policy = Retrying::<u32, ApiError>::new()
        .classify()
        .wait(secs(1.0))
        .budget(&BUILDER_BUDGET);
    let s = Script::new([Err(ApiError::status(503))]);
    policy.call(|| async { s.next() }).await.unwrap_err();
    assert_eq!(s.calls(), 1, "an empty budget: no retry");

    let policy = Retrying::<u32, ApiError>::new()
        .classify()
        .attempts(1)
        .breaker(&BUILDER_BREAKER);
    let s = Script::new([Err(ApiError::status(503))]);
    policy.call_blocking(|| s.next()).unwrap_err();
    assert_eq!(BUILDER_BREAKER.state(), BreakerState::Open);
    let s = Script::new([Ok(1)]);
    assert_eq!(
        policy.call_blocking(|| s.next()),
        Err(ApiError::status(599))
    );
    assert_eq!(s.calls(), 0);

    let _ = take_delays();
    let policy = Retrying::<u32, ApiError>::new()
        .classify()
        .wait(wait::adaptive(wait::fixed(secs(1.0))).scale(1.0))
        .window(&BUILDER_WINDOW)
        .before_sleep(record);
    let s = Script::new([
        Err(ApiError::status(503)),
        Err(ApiError::status(503)),
        Ok(1),
    ]);
    policy.call(|| async { s.next() }).await.unwrap();
    // 1 of 1, then 2 of 2 failed: ×2 both times.
    assert_eq!(take_delays(), [secs(2.0), secs(2.0)]);
}

/// Calls that last 35 s, one in fifty failing: a breaker at the defaults
/// stays closed (every outcome counts where its attempt ended; a success
/// counted at its call's start fell out of the window, and the window held
/// the failures alone).
static LONG_CALLS: CircuitBreaker = CircuitBreaker::new();

#[retry(attempts = 1, breaker = LONG_CALLS)]
async fn long_completion(n: u64) -> std::io::Result<u64> {
    tokio::time::sleep(secs(35.0)).await;
    if n.is_multiple_of(50) {
        Err(std::io::ErrorKind::ConnectionReset.into())
    } else {
        Ok(n)
    }
}

#[tokio::test(start_paused = true)]
async fn long_calls_at_a_two_percent_failure_rate_keep_the_breaker_closed() {
    let mut tasks = Vec::new();
    // 700 callers, staggered over one completion's length: about 20 calls
    // end every second, so each 30 s window holds about 600 outcomes.
    for caller in 0..700u64 {
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(caller * 50)).await;
            let mut refused = 0;
            for round in 0..8u64 {
                match long_completion(caller * 8 + round + 1).await {
                    Err(e) if e.to_string().contains("circuit breaker") => refused += 1,
                    _ => {}
                }
            }
            refused
        }));
    }
    let mut refused = 0;
    for task in tasks {
        refused += task.await.unwrap();
    }
    assert_eq!(refused, 0, "no call was refused");
    assert_eq!(LONG_CALLS.state(), BreakerState::Closed);
}

static TRIAL: CircuitBreaker = CircuitBreaker::new()
    .min_attempts(1)
    .open_for(Duration::from_secs(5));

#[retry(attempts = 1, breaker = TRIAL)]
async fn trial(work: Duration, fail: bool) -> std::io::Result<u8> {
    tokio::time::sleep(work).await;
    if fail {
        Err(std::io::ErrorKind::ConnectionReset.into())
    } else {
        Ok(1)
    }
}

#[tokio::test(start_paused = true)]
async fn a_dropped_trial_gives_its_place_back_at_once() {
    trial(Duration::ZERO, true).await.unwrap_err();
    assert_eq!(TRIAL.state(), BreakerState::Open);
    tokio::time::advance(secs(5.0)).await;
    // The trial starts a 10-minute attempt, and its caller gives up on it
    // after a minute (its future is dropped).
    let dropped = tokio::time::timeout(secs(60.0), trial(secs(600.0), false)).await;
    assert!(dropped.is_err());
    assert_eq!(TRIAL.state(), BreakerState::Open, "open, with its time up");
    // The next call is the trial at once, not refused for another 5 s.
    assert_eq!(trial(secs(30.0), false).await.unwrap(), 1);
    assert_eq!(TRIAL.state(), BreakerState::Closed);
}

static GIVEN_BACK: Budget = Budget::new(0.0, 1);
static GIVEN_BACK_BREAKER: CircuitBreaker = CircuitBreaker::new()
    .min_attempts(1_000)
    .open_for(Duration::from_secs(60));

#[retry(attempts = 2, wait = fixed(1s), budget = GIVEN_BACK, breaker = GIVEN_BACK_BREAKER,
        on_giveup = record, name = "p.given_back")]
async fn given_back(s: &Script<u32>) -> Result<u32, ApiError> {
    s.next()
}

#[tokio::test(start_paused = true)]
async fn a_retry_never_made_gives_its_withdrawal_back() {
    // The budget's reserve is 10 retries over its 10 s window. Ten calls
    // each withdraw one and are dropped while they sleep before the retry.
    for _ in 0..10 {
        let s = Script::new([Err(ApiError::status(503)), Ok(1)]);
        let dropped = tokio::time::timeout(secs(0.5), given_back(&s)).await;
        assert!(dropped.is_err());
        assert_eq!(s.calls(), 1);
    }
    // Every withdrawal came back: the eleventh call still retries.
    let _ = take_seen();
    let s = Script::new([Err(ApiError::status(503)), Ok(7)]);
    assert_eq!(given_back(&s).await, Ok(7));
    assert_eq!(s.calls(), 2);
    GIVEN_BACK.reset();
    GIVEN_BACK_BREAKER.reset();

    // A retry the breaker refuses after its sleep gives its withdrawal back
    // too: ten calls whose retry finds the breaker forced open meanwhile.
    for _ in 0..10 {
        let s = Script::new([Err(ApiError::status(503)), Ok(1)]);
        let call = given_back(&s);
        let open = async {
            tokio::time::sleep(secs(0.5)).await;
            force_open(&GIVEN_BACK_BREAKER);
        };
        let (outcome, ()) = tokio::join!(call, open);
        assert_eq!(outcome, Err(ApiError::status(503)));
        assert_eq!(
            take_seen().last().unwrap().reason,
            Some(GiveUp::BreakerOpen)
        );
        GIVEN_BACK_BREAKER.reset();
    }
    let s = Script::new([Err(ApiError::status(503)), Ok(7)]);
    assert_eq!(
        given_back(&s).await,
        Ok(7),
        "the budget still has its retries"
    );
}

/// Opens a breaker as a burst of failures would.
fn force_open(breaker: &CircuitBreaker) {
    use retry_runtime::{Breaker, Permit};
    let now = <retry_runtime::__private::TokioClock as retry_runtime::__private::Clock>::ticks();
    for _ in 0..1_000 {
        breaker.record(now, true, Permit::Closed);
    }
    assert_eq!(breaker.state(), BreakerState::Open);
}
