//! Budgets, breakers and adaptive waits through the attribute and the
//! builder, on tokio's paused clock. Each test has its own statics.

use std::time::Duration;

use retry_runtime::{
    AdaptiveWindow, BreakerState, Budget, CircuitBreaker, GiveUp, Retrying, retry, stats, wait,
};
use tests::{ApiError, Script, ms, record, secs, take_delays, take_seen};
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

static OWN_DEPOSIT: Budget = Budget::new(1.0, 0);

#[retry(attempts = 3, wait = fixed(1s), budget = OWN_DEPOSIT, on_giveup = record)]
async fn long_budgeted(s: &Script<u32>) -> Result<u32, ApiError> {
    tokio::time::sleep(secs(35.0)).await;
    s.next()
}

#[tokio::test(start_paused = true)]
async fn a_call_longer_than_the_budgets_window_finds_its_own_deposit() {
    // A 35 s completion that fails: its deposit (one retry, with a ratio
    // of 1) is made when its first attempt ends, so it is still in the
    // 10 s window when the retry asks.
    let s = Script::new([Err(ApiError::status(503)), Ok(4)]);
    let start = Instant::now();
    assert_eq!(long_budgeted(&s).await, Ok(4));
    assert_eq!((s.calls(), start.elapsed()), (2, secs(71.0)));
    // The retry used it: a call that fails twice finds the budget empty
    // after its one retry (its own deposit is one retry, not two).
    let _ = take_seen();
    let s = Script::new([
        Err(ApiError::status(503)),
        Err(ApiError::status(503)),
        Ok(5),
    ]);
    long_budgeted(&s).await.unwrap_err();
    assert_eq!(s.calls(), 2);
    assert_eq!(
        take_seen().last().unwrap().reason,
        Some(GiveUp::BudgetExhausted)
    );
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
static LONG_CALLS_BREAKER: CircuitBreaker = CircuitBreaker::new();

#[retry(attempts = 1, breaker = LONG_CALLS_BREAKER)]
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
    assert_eq!(LONG_CALLS_BREAKER.state(), BreakerState::Closed);
}

static TRIAL: CircuitBreaker = CircuitBreaker::new()
    .min_attempts(1)
    .open_for(Duration::from_secs(5));

/// An attempt that works for `work`, then fails with a connection reset or
/// returns 1.
async fn work_for(work: Duration, fail: bool) -> std::io::Result<u8> {
    tokio::time::sleep(work).await;
    if fail {
        Err(std::io::ErrorKind::ConnectionReset.into())
    } else {
        Ok(1)
    }
}

#[retry(attempts = 1, breaker = TRIAL)]
async fn trial(work: Duration, fail: bool) -> std::io::Result<u8> {
    work_for(work, fail).await
}

#[tokio::test(start_paused = true)]
async fn a_dropped_trial_gives_its_place_back_at_once() {
    trial(Duration::ZERO, true).await.unwrap_err();
    assert_eq!(TRIAL.state(), BreakerState::Open);
    tokio::time::advance(secs(5.0)).await;
    // The trial starts a 10-minute attempt, and its caller gives up on it
    // after a second (its future is dropped).
    let dropped = tokio::time::timeout(secs(1.0), trial(secs(600.0), false)).await;
    assert!(dropped.is_err());
    assert_eq!(TRIAL.state(), BreakerState::Open, "open, with its time up");
    // The next call is the trial at once, not refused until `trial_timeout`
    // has passed since the dropped one started.
    assert_eq!(trial(secs(30.0), false).await.unwrap(), 1);
    assert_eq!(TRIAL.state(), BreakerState::Closed);
}

static MINUTE_TRIAL: CircuitBreaker = CircuitBreaker::new()
    .min_attempts(1)
    .open_for(Duration::from_secs(5));

#[retry(attempts = 2, wait = fixed(1s), breaker = MINUTE_TRIAL)]
async fn minute_trial(work: Duration, fail: bool) -> std::io::Result<u8> {
    work_for(work, fail).await
}

#[tokio::test(start_paused = true)]
async fn a_trial_of_a_minute_is_the_only_attempt_until_it_ends() {
    minute_trial(Duration::ZERO, true).await.unwrap_err();
    assert_eq!(MINUTE_TRIAL.state(), BreakerState::Open);
    tokio::time::advance(secs(5.0)).await;
    // The trial: a completion of a minute.
    let start = Instant::now();
    let trial = tokio::spawn(minute_trial(secs(60.0), false));
    tokio::task::yield_now().await;
    assert_eq!(MINUTE_TRIAL.state(), BreakerState::HalfOpen);
    // Every other call while it runs, one every 5 s (each `open_for`), is
    // refused before its first attempt.
    for _ in 0..11 {
        tokio::time::advance(secs(5.0)).await;
        let refused = minute_trial(Duration::ZERO, false).await.unwrap_err();
        assert!(
            refused
                .get_ref()
                .is_some_and(|e| e.is::<retry_runtime::CircuitOpen>()),
            "{refused:?}"
        );
    }
    assert_eq!(trial.await.unwrap().unwrap(), 1);
    assert_eq!(start.elapsed(), secs(60.0));
    assert_eq!(
        MINUTE_TRIAL.state(),
        BreakerState::Closed,
        "its success closes it"
    );
    assert_eq!(minute_trial(Duration::ZERO, false).await.unwrap(), 1);
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
        breaker.record(now, true, breaker.admit(now).unwrap_or(Permit::default()));
    }
    assert_eq!(breaker.state(), BreakerState::Open);
}

// A breaker with a 10 ms window counts in 1 ms slices: a quiet night is
// millions of them, past the 2^24 at which a slice's packed number used to
// wrap. Each attempt lasts 30 s; the ones of one test end together.
static NIGHT_BACK: CircuitBreaker = CircuitBreaker::new()
    .min_attempts(4)
    .window(Duration::from_millis(10));
static NIGHT_LOST: CircuitBreaker = CircuitBreaker::new()
    .min_attempts(4)
    .window(Duration::from_millis(10));

#[retry(attempts = 1, breaker = NIGHT_BACK)]
async fn before_dawn() -> Result<u32, ApiError> {
    tokio::time::sleep(secs(30.0)).await;
    Err(ApiError::status(503))
}

#[retry(attempts = 1, breaker = NIGHT_LOST)]
async fn after_dawn() -> Result<u32, ApiError> {
    tokio::time::sleep(secs(30.0)).await;
    Err(ApiError::status(503))
}

/// Time to advance so that the next 30 s attempt ends `slices` ms after
/// the last one ended.
fn night(slices: u64) -> Duration {
    ms(slices) - secs(30.0)
}

#[tokio::test(start_paused = true)]
async fn failures_from_exactly_2_pow_24_slices_ago_do_not_come_back() {
    let (a, b, c) = tokio::join!(before_dawn(), before_dawn(), before_dawn());
    assert!(a.is_err() && b.is_err() && c.is_err());
    assert_eq!(
        NIGHT_BACK.state(),
        BreakerState::Closed,
        "3 of the 4 needed"
    );
    for quiet in [1u64 << 24, 1 << 24, 2 << 24] {
        tokio::time::advance(night(quiet)).await;
        // One failure: if the night's 3 came back, 4 failures would open it.
        before_dawn().await.unwrap_err();
        assert_eq!(NIGHT_BACK.state(), BreakerState::Closed, "quiet {quiet}");
    }
}

/// Threads that each hold one of the stripes a thread may own (16), so
/// that this thread's counts go to the shared ones, where adds compare
/// and swap (the path that refused them). Dropped: they end.
struct Crowd {
    _ends: Vec<std::sync::mpsc::Sender<()>>,
}

fn crowd() -> Crowd {
    static ANY: Budget = Budget::new(1.0, 0);
    let senders = (0..20)
        .map(|_| {
            let (ready, wait) = std::sync::mpsc::channel();
            let (end, ended) = std::sync::mpsc::channel::<()>();
            std::thread::spawn(move || {
                retry_runtime::RetryBudget::deposit(&ANY, Duration::ZERO);
                ready.send(()).unwrap();
                let _ = ended.recv();
            });
            wait.recv().unwrap();
            end
        })
        .collect();
    Crowd { _ends: senders }
}

#[tokio::test(start_paused = true)]
async fn failures_after_2_pow_24_minus_6_slices_are_counted() {
    let _crowd = crowd();
    let (a, b, c) = tokio::join!(after_dawn(), after_dawn(), after_dawn());
    assert!(a.is_err() && b.is_err() && c.is_err());
    // The night's slice and this one share a word, whose old number read as
    // 6 slices ahead: every add to it was refused.
    tokio::time::advance(night((1 << 24) - 6)).await;
    let (a, b, c, d) = tokio::join!(after_dawn(), after_dawn(), after_dawn(), after_dawn());
    assert!(a.is_err() && b.is_err() && c.is_err() && d.is_err());
    assert_eq!(NIGHT_LOST.state(), BreakerState::Open, "4 failures of 4");
}

// Attempts of 30 s, as a model's answer takes; the window's default age
// is 5 minutes.
static AGED: AdaptiveWindow = AdaptiveWindow::new(10);

#[retry(attempts = 2, wait = adaptive(fixed(1s), shared = AGED), before_sleep = record)]
async fn answer(s: &Script<u32>) -> Result<u32, ApiError> {
    tokio::time::sleep(secs(30.0)).await;
    s.next()
}

#[tokio::test(start_paused = true)]
async fn an_outage_an_hour_ago_does_not_lengthen_todays_waits() {
    for _ in 0..5 {
        answer(&Script::new([Err(ApiError::status(503))]))
            .await
            .unwrap_err();
    }
    assert_eq!(AGED.failure_ratio(), 1.0, "10 failed attempts");
    let _ = take_delays();
    tokio::time::advance(secs(3600.0)).await;
    for _ in 0..3 {
        answer(&Script::new([Ok(1)])).await.unwrap();
    }
    answer(&Script::new([Err(ApiError::status(503)), Ok(1)]))
        .await
        .unwrap();
    // 1 of the 4 attempts of the last 2 minutes failed: 1 s × (1 + 3 × 1/4).
    // Counting the hour-old outage, 7 of the last 10 would have: 3.1 s.
    assert_eq!(take_delays(), [secs(1.75)]);
    AGED.reset();
    assert_eq!(AGED.failure_ratio(), 0.0);
}

static LONG_CALLS: AdaptiveWindow = AdaptiveWindow::new(10);

#[tokio::test(start_paused = true)]
async fn an_attempt_counts_from_when_it_ended() {
    let _ = take_delays();
    // The builder's policy reads the clock when a call starts; a success
    // after 10 minutes must still count as recent when it ends.
    let policy = Retrying::<u32, ApiError>::new()
        .classify()
        .wait(wait::adaptive(wait::fixed(secs(1.0))).scale(1.0))
        .window(&LONG_CALLS)
        .before_sleep(record);
    let ok = policy
        .call(|| async {
            tokio::time::sleep(secs(600.0)).await;
            Ok(1)
        })
        .await;
    assert_eq!(ok, Ok(1));
    let s = Script::new([Err(ApiError::status(503)), Ok(1)]);
    policy.call(|| async { s.next() }).await.unwrap();
    // 1 of 2: 1 s × (1 + 1 × 1/2).
    assert_eq!(take_delays(), [secs(1.5)]);
}

/// A wait that continues from the previous delay: one second more.
struct OneMore;

impl wait::Wait for OneMore {
    fn delay(&self, cx: &mut wait::WaitContext<'_>) -> Duration {
        cx.previous + secs(1.0)
    }
}

#[retry(attempts = 4, wait = adaptive(OneMore, scale = 1, window = 1), before_sleep = record)]
async fn continued(s: &Script<u32>) -> Result<u32, ApiError> {
    tokio::time::sleep(secs(45.0)).await;
    s.next()
}

#[tokio::test(start_paused = true)]
async fn an_adaptive_wait_scales_the_inner_delay_once() {
    let _ = take_delays();
    continued(&Script::new([Err(ApiError::connect())]))
        .await
        .unwrap_err();
    // The window of 1 holds a failure: ×2 each time, on the inner wait's own
    // 1 s, 2 s, 3 s (scaled delays fed back would give 2, 6, 14).
    assert_eq!(take_delays(), [secs(2.0), secs(4.0), secs(6.0)]);
}

#[retry(
    attempts = 10,
    wait = adaptive(exponential(initial = 1s, max = 1000s, jitter = decorrelated), scale = 3, window = 1, max = 100000s),
    before_sleep = record
)]
async fn decorrelated(s: &Script<u32>) -> Result<u32, ApiError> {
    tokio::time::sleep(secs(20.0)).await;
    s.next()
}

#[tokio::test(start_paused = true)]
async fn decorrelated_jitter_under_adaptive_does_not_compound() {
    for _ in 0..20 {
        let _ = take_delays();
        decorrelated(&Script::new([Err(ApiError::status(503))]))
            .await
            .unwrap_err();
        let delays = take_delays();
        assert_eq!(delays.len(), 9);
        // Each delay is 4 × the inner one, which is uniform in
        // [1 s, 3 × the inner one before]: never more than 3 × the delay
        // before (fed the scaled delay, it could reach 12 ×).
        for pair in delays.windows(2) {
            assert!(pair[1] <= pair[0] * 3, "{delays:?}");
        }
        assert!(delays.iter().all(|&d| d >= secs(4.0)), "{delays:?}");
        assert!(delays[0] <= secs(12.0), "{delays:?}");
    }
}

static ASKED: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
static REFUSES_OK: CircuitBreaker = CircuitBreaker::new().min_attempts(1_000);

/// Asked once per attempt; a second answer would differ.
fn fickle(_: &u32) -> bool {
    ASKED.fetch_add(1, std::sync::atomic::Ordering::Relaxed) == 0
}

#[retry(attempts = 3, wait = fixed(1s), breaker = REFUSES_OK, when_ok = fickle, name = "p.fickle")]
async fn fickle_ok() -> Result<u32, ApiError> {
    Ok(5)
}

/// The attribute, like the builder, does not ask `when_ok` again about
/// the last `Ok` when the breaker refuses the retry after its sleep.
#[tokio::test(start_paused = true)]
async fn a_refused_retry_does_not_ask_when_ok_again() {
    let open = async {
        tokio::time::sleep(secs(0.5)).await;
        force_open(&REFUSES_OK);
    };
    let (outcome, ()) = tokio::join!(fickle_ok(), open);
    assert_eq!(outcome, Ok(5), "the last Ok, rejected");
    assert_eq!(ASKED.load(std::sync::atomic::Ordering::Relaxed), 1);
    let stats = stats::get("p.fickle").unwrap();
    assert_eq!(stats.gave_up.breaker_open, 1, "given up, not a success");
}
