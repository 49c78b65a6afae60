//! Circuit breakers (Polly, resilience4j): when most recent attempts
//! against an API failed, stop calling it for a while, then let one trial
//! attempt through.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::*};
use std::time::Duration;

use super::slot::{CoolDown, FleetSlot};
use crate::counters::slices::ThreadSlices;

/// What a circuit breaker must do. [`CircuitBreaker`] keeps its state in
/// this process's memory; a store shared by many processes can implement
/// the same trait and be named by `breaker = PATH` the same way.
///
/// `now` is the time since a fixed point of the process, from the clock the
/// call sleeps on (tokio's in an `async fn`, so a paused test clock applies).
pub trait Breaker: Sync {
    /// May an attempt be made now? While open, `None`; once `open_for` has
    /// passed, a [`Permit::Trial`] for one trial attempt (half-open); while
    /// closed, a [`Permit::Closed`] of the closed period.
    fn admit(&self, now: Duration) -> Option<Permit>;
    /// The permit [`admit`](Self::admit) would give, when it is known
    /// without the time (the breaker is closed): the engine asks this first,
    /// and reads the clock for `admit` only on `None` (the default).
    fn admit_closed(&self) -> Option<Permit> {
        None
    }
    /// Would it refuse an attempt at `at` (without taking a trial)? Asked
    /// before a retry's sleep, so that a call does not sleep into an open
    /// breaker, and before a fleet's cool-down, so that a call it would
    /// refuse is refused at once.
    fn refuses_at(&self, at: Duration) -> bool;
    /// An attempt that [`admit`](Self::admit) let through with `permit`
    /// ended at `now` (outcomes are recorded when the attempt ends, however
    /// long it ran): `failed` when it failed in a way the rules would retry
    /// (a failure they would not retry, such as a 400, is not the API's ill
    /// health and counts as a success here).
    ///
    /// A stream's trial ([`Retrying::stream`](crate::Retrying::stream)) is
    /// recorded twice: as a success at its first item (the API answers),
    /// and when the stream ends, with the permit
    /// [`admit_closed`](Self::admit_closed) gave right after the first
    /// record (the trial's own permit again when it gave `None`: a second
    /// outcome for a trial already decided, which a breaker should ignore).
    /// A trial that finds the breaker closed already (another trial closed
    /// it) is recorded only at its end, with its own permit.
    fn record(&self, now: Duration, failed: bool, permit: Permit);
    /// An attempt let through with `permit` will never report: its future
    /// was dropped (the caller gave up on it, or a `select!` chose another
    /// branch). A trial gives its place back at once. Nothing by default.
    fn cancel(&self, permit: Permit) {
        let _ = permit;
    }
    /// The cool-down it shares with other processes (a rate limit one of
    /// them was told about holds this process back too), when it is shared
    /// (the `redis` feature, or a store of the implementor's own): the
    /// engine asks it before every attempt of a call through this breaker, in
    /// every build. `None` by default.
    fn cool_down(&self) -> Option<&dyn CoolDown> {
        None
    }
}

/// What a [`Breaker`] gave an attempt it let through, handed back with the
/// attempt's outcome: only the trial's outcome decides a half-open breaker.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permit {
    /// The breaker was closed, in the closed period of this id (a
    /// [`CircuitBreaker`] names a period by the slice its count starts
    /// from, 0 before it first opened): the
    /// outcome counts in its window, unless the breaker opened, or opened
    /// and closed again, meanwhile (an attempt that lasted minutes reports
    /// old news).
    Closed(u64),
    /// The half-open trial, with an id the breaker chose (a
    /// [`CircuitBreaker`] uses the time the trial started): its success
    /// closes the breaker, its failure opens it again.
    Trial(u64),
}

impl Default for Permit {
    /// `Closed(0)`: what an attempt that passed no breaker carries.
    fn default() -> Self {
        Permit::Closed(0)
    }
}

/// The state of a [`CircuitBreaker`].
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    /// Attempts go through; their outcomes are counted.
    Closed,
    /// No attempt is made until `open_for` has passed since it opened.
    Open,
    /// One trial attempt is under way: its success closes the breaker, its
    /// failure opens it again.
    HalfOpen,
}

/// The error a call returns when the breaker refuses its first attempt:
/// the error type must implement `From<CircuitOpen>` (`std::io::Error` and
/// `http::Error` do).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CircuitOpen;

impl fmt::Display for CircuitOpen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the circuit breaker is open: no attempt was made")
    }
}

impl std::error::Error for CircuitOpen {}

/// An `std::io::Error` of kind `Other` (not retried) that wraps [`CircuitOpen`].
impl From<CircuitOpen> for std::io::Error {
    fn from(open: CircuitOpen) -> Self {
        std::io::Error::other(open)
    }
}

const SLICES: usize = 10;

pub(super) const CLOSED: u64 = 0;
pub(super) const OPEN: u64 = 1;
const HALF_OPEN: u64 = 2;
pub(super) const TAG_SHIFT: u32 = 62;
pub(super) const MILLIS: u64 = (1 << TAG_SHIFT) - 1;

fn word(tag: u64, millis: u64) -> u64 {
    (tag << TAG_SHIFT) | millis.min(MILLIS)
}

/// `d` in milliseconds, kept below the tag.
#[inline]
pub(super) fn state_millis(d: Duration) -> u64 {
    crate::counters::clock::millis(d).min(MILLIS)
}

/// The width of a window's slices in milliseconds: a tenth of it (as kept
/// below the tag), at least 1.
const fn slice_ms(window: Duration) -> u64 {
    let ms = window.as_millis();
    let ms = if ms > MILLIS as u128 {
        MILLIS
    } else {
        ms as u64
    };
    let slice = ms / SLICES as u64;
    if slice == 0 { 1 } else { slice }
}

/// A circuit breaker. It opens when, over the last `window`, at least
/// `min_attempts` attempts were made and at least `failure_ratio` of them
/// failed; it stays open for `open_for`, then lets one trial attempt
/// through (half-open): a success closes it, a failure opens it again.
///
/// While it is open no attempt is made: a call that has not yet made one
/// returns `E::from(CircuitOpen)`, and a call that is retrying gives up with
/// its last error instead of sleeping
/// ([`GiveUp::BreakerOpen`](crate::GiveUp::BreakerOpen)).
///
/// Built for calls that last minutes: each attempt's outcome is counted
/// when the attempt *ends*, in the slice of its end. Half-open, only the
/// trial decides: an attempt let through while the breaker was closed that
/// ends while it is half-open changes nothing (each attempt carries the
/// [`Permit`] it was given). However long the trial runs (a completion of a
/// minute), it is the only one: every other attempt is refused until its
/// outcome. A stream's trial ([`Retrying::stream`](crate::Retrying::stream))
/// passes at its first item, when the API answers; the rest of the stream
/// counts as an attempt of the closed breaker. A trial whose future is
/// dropped gives its place back at once, so the next attempt becomes the
/// trial; one whose outcome never comes at all (its future was leaked, or
/// is never polled again) is replaced after `trial_timeout`.
///
/// The window is counted in 10 slices of `window / 10`. Defaults:
/// `failure_ratio(0.5)`, `min_attempts(10)`, `window(30 s)`, `open_for(5 s)`,
/// `trial_timeout(10 min)`.
///
/// ```
/// use std::time::Duration;
/// use retry_runtime::{retry, CircuitBreaker};
///
/// static LLM: CircuitBreaker = CircuitBreaker::new()
///     .failure_ratio(0.5)
///     .min_attempts(10)
///     .window(Duration::from_secs(30))
///     .open_for(Duration::from_secs(5));
///
/// #[retry(attempts = 3, wait = none, breaker = LLM)]
/// fn read() -> std::io::Result<u8> {
///     Err(std::io::ErrorKind::ConnectionRefused.into())
/// }
///
/// for _ in 0..4 {
///     let _ = read(); // 12 failed attempts: the breaker opens
/// }
/// let refused = read().unwrap_err();
/// assert_eq!(refused.to_string(), "the circuit breaker is open: no attempt was made");
/// ```
pub struct CircuitBreaker {
    /// Failures per thousand attempts that open it.
    failure_permille: u64,
    min_attempts: u64,
    window: Duration,
    /// A tenth of `window` in milliseconds (at least 1): the width of the
    /// slices attempts are counted in, worked out once.
    slice_ms: u64,
    open_for: Duration,
    /// How long a trial may go without an outcome before another attempt
    /// becomes the trial.
    trial_timeout: Duration,
    /// The state's tag (2 bits) and a number: closed, the slice from which
    /// attempts count (the one after the slice it last closed in, and the
    /// id of the closed period, for permits); open, until when
    /// (milliseconds); half-open, when the trial started (milliseconds).
    /// One word, so that closing and starting the new period's count are
    /// one step.
    pub(super) state: AtomicU64,
    /// When it last opened (milliseconds): trials admitted before are of
    /// an earlier half-open period.
    opened_at: AtomicU64,
    pub(super) attempts: ThreadSlices<SLICES>,
    pub(super) failures: ThreadSlices<SLICES>,
    /// The other processes' attempts and failures, when shared.
    pub(crate) fleet: FleetSlot,
}

impl CircuitBreaker {
    /// A closed breaker with the defaults.
    pub const fn new() -> CircuitBreaker {
        CircuitBreaker {
            failure_permille: 500,
            min_attempts: 10,
            window: Duration::from_secs(30),
            slice_ms: slice_ms(Duration::from_secs(30)),
            open_for: Duration::from_secs(5),
            trial_timeout: Duration::from_secs(600),
            state: AtomicU64::new(CLOSED),
            opened_at: AtomicU64::new(0),
            attempts: ThreadSlices::new(),
            failures: ThreadSlices::new(),
            fleet: FleetSlot::new(),
        }
    }
    /// The share of failed attempts that opens it, from 0 to 1 (a value
    /// outside is clamped; not a number is 1). At least one failure is
    /// always needed.
    pub const fn failure_ratio(mut self, ratio: f64) -> Self {
        let ratio = if ratio.is_nan() {
            1.0
        } else {
            ratio.clamp(0.0, 1.0)
        };
        self.failure_permille = (ratio * 1000.0) as u64;
        self
    }
    /// How many attempts the window must hold before it may open (0 is 1).
    pub const fn min_attempts(mut self, attempts: u32) -> Self {
        self.min_attempts = if attempts == 0 { 1 } else { attempts as u64 };
        self
    }
    /// How far back attempts count (at least 10 ms).
    pub const fn window(mut self, window: Duration) -> Self {
        self.window = if window.as_millis() < SLICES as u128 {
            Duration::from_millis(SLICES as u64)
        } else {
            window
        };
        self.slice_ms = slice_ms(self.window);
        self
    }
    /// How long it stays open before a trial attempt.
    pub const fn open_for(mut self, open_for: Duration) -> Self {
        self.open_for = open_for;
        self
    }
    /// How long a half-open breaker waits for its trial's outcome before
    /// another attempt becomes the trial (10 minutes by default, the OpenAI
    /// SDK's request timeout). A trial that ends, or whose future is
    /// dropped, needs no timeout: this is for one that never reports, a
    /// leaked future or an attempt that hangs. Meanwhile every other attempt
    /// is refused: keep it above the longest attempt, and give the calls a
    /// `timeout` so that a hung trial ends as a failure (the breaker then
    /// opens again for `open_for` and the next attempt is the trial).
    /// Under a millisecond is zero: every attempt while half-open is a
    /// trial; `Duration::MAX` never replaces one.
    pub const fn trial_timeout(mut self, trial_timeout: Duration) -> Self {
        self.trial_timeout = trial_timeout;
        self
    }

    /// The state as last recorded (an open breaker whose `open_for` has
    /// passed reads `Open`, and a half-open one whose trial has gone past
    /// `trial_timeout` reads `HalfOpen`, until an attempt asks).
    pub fn state(&self) -> BreakerState {
        match self.state.load(Acquire) >> TAG_SHIFT {
            CLOSED => BreakerState::Closed,
            OPEN => BreakerState::Open,
            _ => BreakerState::HalfOpen,
        }
    }

    /// Closes it and forgets every attempt, any pause ([`Paced`](super::Paced))
    /// and that it was paced (for tests).
    pub fn reset(&self) {
        self.state.store(word(CLOSED, 0), Release);
        self.opened_at.store(0, Release);
        self.attempts.clear();
        self.failures.clear();
        self.fleet.unpace();
    }

    pub(super) fn slice(&self, now: Duration) -> u64 {
        state_millis(now) / self.slice_ms
    }

    /// The closed period a state word is of (the slice its count starts
    /// from); `None` when the word is not closed.
    pub(super) fn period(state: u64) -> Option<u64> {
        (state >> TAG_SHIFT == CLOSED).then_some(state & MILLIS)
    }

    /// Attempts and failures in the window (the fleet's, when shared), of
    /// the closed period `current` (a state word) is of; zeros when it is
    /// not closed.
    pub(super) fn counts(&self, current: u64, slice: u64) -> (u64, u64) {
        let (attempts, failures) = self.own(current, slice);
        let (a, f) = self.fleet.others();
        (attempts.saturating_add(a), failures.saturating_add(f))
    }

    /// This process's own attempts and failures in the window, of the
    /// closed period `current` is of; zeros when it is not closed.
    pub(super) fn own(&self, current: u64, slice: u64) -> (u64, u64) {
        let Some(from) = Self::period(current) else {
            return (0, 0);
        };
        // Read as of the period's first slice while the clock is still
        // before it (what `record` counted there).
        let slice = slice.max(from);
        (
            self.attempts.sum_since(slice, from),
            self.failures.sum_since(slice, from),
        )
    }

    pub(super) fn trips(&self, attempts: u64, failures: u64) -> bool {
        attempts >= self.min_attempts
            && failures > 0
            && failures.saturating_mul(1000) >= self.failure_permille.saturating_mul(attempts)
    }

    pub(super) fn open(&self, from: u64, now: Duration) -> bool {
        let until = state_millis(now).saturating_add(state_millis(self.open_for));
        let opened = self.open_until(from, now, until);
        if opened {
            self.fleet.opened();
        }
        opened
    }

    pub(super) fn open_until(&self, from: u64, now: Duration, until: u64) -> bool {
        let opened = self
            .state
            .compare_exchange(from, word(OPEN, until), AcqRel, Acquire)
            .is_ok();
        if opened {
            self.opened_at.fetch_max(state_millis(now), AcqRel);
        }
        opened
    }
}

impl CircuitBreaker {
    /// A failure counted while closed: does it open the breaker? Out of
    /// line, so that a success's record stays small.
    #[inline(never)]
    fn failed_while_closed(&self, current: u64, slice: u64, now: Duration) {
        self.failures.add(slice, 1);
        let (attempts, failures) = self.counts(current, slice);
        if self.trips(attempts, failures) {
            self.open(current, now);
        }
    }

    /// A trial's outcome. Only a trial of this half-open period counts (the
    /// one under way, or one it replaced after `trial_timeout` without an
    /// outcome), and its first outcome decides.
    #[inline(never)]
    fn trial_ended(&self, current: u64, trial: u64, now: Duration, failed: bool) {
        let of_this_period = current >> TAG_SHIFT == HALF_OPEN
            && trial >> TAG_SHIFT == HALF_OPEN
            && trial & MILLIS >= self.opened_at.load(Acquire);
        if !of_this_period {
            return;
        }
        if failed {
            self.open(current, now);
        } else {
            // A fresh start: the failures that opened it are history (what
            // is counted starts with the next slice, the new period's id).
            // Closing and the new period are one word: no permit of an
            // earlier period is handed out once it is closed, and a trial
            // that loses the race to close it changes nothing.
            // (A breaker that opens and closes again within one slice, an
            // `open_for` shorter than a tenth of the window, gives the same
            // id twice: the earlier period's last outcomes then count in
            // the new one, which reopens it sooner.)
            let period = self.slice(now).saturating_add(1).min(MILLIS);
            let _ = self
                .state
                .compare_exchange(current, word(CLOSED, period), AcqRel, Acquire);
        }
    }
}

impl Default for CircuitBreaker {
    fn default() -> Self {
        CircuitBreaker::new()
    }
}

impl Breaker for CircuitBreaker {
    #[inline]
    fn admit_closed(&self) -> Option<Permit> {
        Self::period(self.state.load(Acquire)).map(Permit::Closed)
    }

    fn admit(&self, now: Duration) -> Option<Permit> {
        let now_ms = state_millis(now);
        let mut current = self.state.load(Acquire);
        loop {
            let (tag, at) = (current >> TAG_SHIFT, current & MILLIS);
            let trial = match tag {
                CLOSED => return Some(Permit::Closed(at)),
                // Open until `at` (for ever once the time saturated).
                OPEN if now_ms < at || at == MILLIS => return None,
                OPEN => word(HALF_OPEN, now_ms),
                // A trial with no outcome after `trial_timeout` (its future
                // was leaked): another one starts, and the first outcome of
                // either decides.
                _ if now_ms >= at.saturating_add(state_millis(self.trial_timeout)) => {
                    word(HALF_OPEN, now_ms)
                }
                _ => return None,
            };
            match self.state.compare_exchange(current, trial, AcqRel, Acquire) {
                Ok(_) => return Some(Permit::Trial(trial)),
                Err(now_state) => current = now_state,
            }
        }
    }

    fn refuses_at(&self, at: Duration) -> bool {
        let at_ms = state_millis(at);
        let current = self.state.load(Acquire);
        let since = current & MILLIS;
        match current >> TAG_SHIFT {
            CLOSED => false,
            OPEN => at_ms < since || since == MILLIS,
            // A trial is under way: refused unless it will have gone stale.
            _ => at_ms < since.saturating_add(state_millis(self.trial_timeout)),
        }
    }

    fn record(&self, now: Duration, failed: bool, permit: Permit) {
        let current = self.state.load(Acquire);
        match permit {
            // An attempt let through while closed counts only while it is
            // still the same closed period: one that ends after the breaker
            // opened (or went half-open, or closed again) is old news, and
            // only a trial decides.
            Permit::Closed(period) if Self::period(current) == Some(period) => {
                // A trial that closed it starts the count with the next
                // slice: an attempt of the new period that ends in the
                // trial's slice (a stream that answered the trial, then
                // broke) counts in the period's first slice. Only from the
                // slice just before: a clock far behind (a plain `fn`'s
                // beside a paused tokio clock) is not moved ahead.
                let slice = self.slice(now);
                let slice = if slice.saturating_add(1) == period {
                    period
                } else {
                    slice
                };
                self.attempts.add(slice, 1);
                if failed {
                    self.failed_while_closed(current, slice, now);
                }
            }
            Permit::Trial(trial) => self.trial_ended(current, trial, now, failed),
            Permit::Closed(_) => {}
        }
    }

    fn cancel(&self, permit: Permit) {
        // The trial under way dropped before its outcome: open until the
        // trial's start (already past), so that the next attempt becomes
        // the trial.
        match permit {
            Permit::Trial(trial) if trial >> TAG_SHIFT == HALF_OPEN => {
                let _ =
                    self.state
                        .compare_exchange(trial, word(OPEN, trial & MILLIS), AcqRel, Acquire);
            }
            _ => {}
        }
    }

    fn cool_down(&self) -> Option<&dyn CoolDown> {
        self.fleet.cool_down()
    }
}

impl super::Paced for CircuitBreaker {
    fn pause(&self, delay: Duration) {
        use crate::counters::clock::{Clock, TokioClock};
        self.fleet.pace(TokioClock::ticks().saturating_add(delay));
    }
}

impl fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("failure_ratio", &(self.failure_permille as f64 / 1000.0))
            .field("min_attempts", &self.min_attempts)
            .field("window", &self.window)
            .field("open_for", &self.open_for)
            .field("trial_timeout", &self.trial_timeout)
            .field("state", &self.state())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn breaker() -> CircuitBreaker {
        CircuitBreaker::new()
            .failure_ratio(0.5)
            .min_attempts(4)
            .window(Duration::from_secs(10))
            .open_for(Duration::from_secs(5))
    }

    #[test]
    fn opens_at_the_ratio_once_enough_attempts_were_seen() {
        let b = breaker();
        b.record(ms(0), true, Permit::Closed(0));
        b.record(ms(0), true, Permit::Closed(0));
        b.record(ms(0), true, Permit::Closed(0));
        assert_eq!(b.state(), BreakerState::Closed, "3 < min_attempts");
        b.record(ms(100), false, Permit::Closed(0));
        assert_eq!(
            b.state(),
            BreakerState::Closed,
            "a success does not open it"
        );
        b.record(ms(200), true, Permit::Closed(0));
        assert_eq!(b.state(), BreakerState::Open, "4 of 5 failed");
        assert!(b.admit(ms(200)).is_none());
        assert!(b.admit(ms(5199)).is_none());
    }

    #[test]
    fn below_the_ratio_it_stays_closed_and_old_attempts_expire() {
        let b = breaker();
        for i in 0..6 {
            b.record(ms(i), i % 2 == 0 && i < 4, Permit::Closed(0));
        }
        assert_eq!(b.state(), BreakerState::Closed, "2 of 6 failed");
        // Ten seconds later those six no longer count.
        for t in [10_000, 10_001, 10_002] {
            b.record(ms(t), true, Permit::Closed(0));
        }
        assert_eq!(
            b.state(),
            BreakerState::Closed,
            "3 < min_attempts in the window"
        );
        b.record(ms(10_003), true, Permit::Closed(0));
        assert_eq!(b.state(), BreakerState::Open);
    }

    #[test]
    fn half_open_lets_one_trial_through_and_its_outcome_decides() {
        let b = breaker();
        for _ in 0..4 {
            b.record(ms(0), true, Permit::Closed(0));
        }
        assert!(b.admit(ms(4999)).is_none());
        let trial = b.admit(ms(5000)).expect("the trial");
        assert!(matches!(trial, Permit::Trial(_)));
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert!(b.admit(ms(5001)).is_none(), "one trial at a time");
        b.record(ms(5100), true, trial);
        assert_eq!(
            b.state(),
            BreakerState::Open,
            "a failed trial opens it again"
        );
        assert!(b.admit(ms(10_099)).is_none());
        let trial = b.admit(ms(10_100)).expect("the next trial");
        b.record(ms(10_200), false, trial);
        assert_eq!(b.state(), BreakerState::Closed, "a good trial closes it");
        let fresh = b.admit(ms(10_200)).unwrap();
        assert!(
            matches!(fresh, Permit::Closed(period) if period > 0),
            "a new closed period"
        );
        // The window starts afresh: one failure does not reopen it.
        b.record(ms(10_300), true, fresh);
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn the_new_periods_attempts_that_end_in_the_trials_slice_count() {
        // Slices of 1 s; the trial closes it at 10.2 s (slice 10), and the
        // count starts with slice 11.
        let b = breaker().min_attempts(2);
        for _ in 0..4 {
            b.record(ms(0), true, Permit::Closed(0));
        }
        let trial = b.admit(ms(10_100)).unwrap();
        b.record(ms(10_200), false, trial);
        let fresh = b.admit_closed().unwrap();
        assert_eq!(fresh, Permit::Closed(11));
        // Two failures of the new period in slice 10: counted (in slice
        // 11), and they open it.
        b.record(ms(10_300), true, fresh);
        assert_eq!(b.state(), BreakerState::Closed);
        // Read while the clock is still in slice 10: the period's first
        // slice (what the fleet publishes too).
        let current = b.state.load(Acquire);
        assert_eq!(b.counts(current, b.slice(ms(10_400))), (1, 1));
        b.record(ms(10_900), true, fresh);
        assert_eq!(b.state(), BreakerState::Open);

        // Read on a clock far behind (a plain `fn`'s beside a paused tokio
        // clock that ran ahead), an outcome is not moved ahead into the
        // period: not counted.
        let b = breaker().min_attempts(1);
        b.record(ms(0), true, Permit::Closed(0));
        let trial = b.admit(ms(10_100)).unwrap();
        b.record(ms(10_200), false, trial);
        let fresh = b.admit_closed().unwrap();
        b.record(ms(3_000), true, fresh);
        b.record(ms(9_900), true, fresh);
        assert_eq!(
            b.state(),
            BreakerState::Closed,
            "two slices behind: not moved"
        );
    }

    #[test]
    fn admit_closed_is_admit_while_closed_and_none_otherwise() {
        let b = breaker();
        assert_eq!(b.admit_closed(), Some(Permit::Closed(0)));
        assert_eq!(b.admit_closed(), b.admit(ms(0)));
        for _ in 0..4 {
            b.record(ms(0), true, Permit::Closed(0));
        }
        assert_eq!(b.admit_closed(), None, "open: asked with the time");
        let trial = b.admit(ms(5000)).unwrap();
        assert_eq!(b.admit_closed(), None, "half-open");
        b.record(ms(5100), false, trial);
        let closed = b.admit_closed().expect("closed again");
        assert_eq!(Some(closed), b.admit(ms(5100)));
        assert_ne!(closed, Permit::Closed(0), "a new closed period");
        assert_eq!(Minimal.admit_closed(), None, "the trait's default");
    }

    #[test]
    fn a_trial_without_an_outcome_after_trial_timeout_gets_a_second() {
        let b = breaker().trial_timeout(Duration::from_secs(5));
        for _ in 0..4 {
            b.record(ms(0), true, Permit::Closed(0));
        }
        let first = b.admit(ms(5000)).unwrap();
        assert!(b.admit(ms(9999)).is_none());
        let second = b.admit(ms(10_000)).expect("a new trial");
        assert!(b.admit(ms(10_001)).is_none());
        // The first outcome of either decides (here the replaced one's,
        // late); the other's is of a period that ended.
        b.record(ms(10_002), false, first);
        assert_eq!(b.state(), BreakerState::Closed);
        b.record(ms(10_003), true, second);
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn stragglers_admitted_while_closed_do_not_decide_a_half_open_breaker() {
        let b = breaker();
        // A long attempt starts while it is closed...
        let straggler = b.admit(ms(0)).unwrap();
        assert_eq!(straggler, Permit::Closed(0));
        for _ in 0..4 {
            b.record(ms(100), true, Permit::Closed(0));
        }
        // ...it opens, and half-opens at 5.1 s with a trial.
        let trial = b.admit(ms(5100)).unwrap();
        // A straggler that succeeds does not close it...
        b.record(ms(30_000), false, straggler);
        assert_eq!(b.state(), BreakerState::HalfOpen);
        // ...nor does one that fails reopen it.
        b.record(ms(30_000), true, straggler);
        assert_eq!(b.state(), BreakerState::HalfOpen);
        // The trial's own outcome decides.
        b.record(ms(40_000), false, trial);
        assert_eq!(b.state(), BreakerState::Closed);
        // Stragglers of the old closed period that end now are old news:
        // four failures would reopen it (min_attempts 4, ratio 0.5).
        for _ in 0..4 {
            b.record(ms(41_000), true, straggler);
        }
        assert_eq!(b.state(), BreakerState::Closed);
        let fresh = b.admit(ms(41_000)).unwrap();
        for _ in 0..4 {
            b.record(ms(41_000), true, fresh);
        }
        assert_eq!(b.state(), BreakerState::Open, "the new period's count");
    }

    #[test]
    fn a_trial_of_a_minute_is_the_only_one_until_its_outcome() {
        let b = breaker();
        for _ in 0..4 {
            b.record(ms(0), true, Permit::Closed(0));
        }
        // A trial of 60 s, one caller a second: every other caller is
        // refused until it ends, however many `open_for`s it lasts.
        let mut admitted = Vec::new();
        for t in (5_000..65_000).step_by(1_000) {
            assert_eq!(b.refuses_at(ms(t)), t > 5_000, "at {t} ms");
            if let Some(permit) = b.admit(ms(t)) {
                admitted.push((t, permit));
            }
        }
        assert_eq!(admitted.len(), 1, "one trial: {admitted:?}");
        assert_eq!(b.state(), BreakerState::HalfOpen);
        b.record(ms(65_000), false, admitted[0].1);
        assert_eq!(b.state(), BreakerState::Closed, "its success closes it");
        // The same with a failure: it opens again, for `open_for`.
        for _ in 0..4 {
            b.record(ms(66_000), true, b.admit(ms(66_000)).unwrap());
        }
        let trial = b.admit(ms(71_000)).unwrap();
        assert!(b.admit(ms(120_000)).is_none());
        b.record(ms(131_000), true, trial);
        assert_eq!(b.state(), BreakerState::Open);
        assert!(b.admit(ms(136_000 - 1)).is_none());
        assert!(matches!(b.admit(ms(136_000)), Some(Permit::Trial(_))));
        // Only after `trial_timeout` without an outcome does another start.
        assert!(b.admit(ms(136_000 + 599_999)).is_none());
        assert!(b.admit(ms(136_000 + 600_000)).is_some());
    }

    #[test]
    fn a_trial_longer_than_trial_timeout_still_decides() {
        let b = breaker().trial_timeout(Duration::from_secs(5));
        for _ in 0..4 {
            b.record(ms(0), true, Permit::Closed(0));
        }
        // Trials of 35 s, one caller a second: each `trial_timeout` (5 s)
        // without an outcome lets another trial through; the first outcome
        // decides.
        let mut trials = Vec::new();
        for t in (5_000..40_000).step_by(1_000) {
            if let Some(trial) = b.admit(ms(t)) {
                trials.push((t, trial));
            }
        }
        assert_eq!(trials.len(), 7, "one every 5 s: {trials:?}");
        b.record(ms(40_000), false, trials[0].1);
        assert_eq!(b.state(), BreakerState::Closed);
        // The later trials' outcomes are of a period that ended.
        b.record(ms(41_000), true, trials[1].1);
        assert_eq!(b.state(), BreakerState::Closed);

        // A trial of an earlier half-open period decides nothing now.
        for _ in 0..4 {
            b.record(ms(42_000), true, b.admit(ms(42_000)).unwrap());
        }
        assert_eq!(b.state(), BreakerState::Open);
        let current = b.admit(ms(47_000)).unwrap();
        b.record(ms(47_500), false, trials[2].1);
        assert_eq!(b.state(), BreakerState::HalfOpen, "an old period's trial");
        b.record(ms(48_000), true, current);
        assert_eq!(b.state(), BreakerState::Open);
    }

    #[test]
    fn a_cancelled_trial_gives_its_place_back_at_once() {
        let b = breaker();
        for _ in 0..4 {
            b.record(ms(0), true, Permit::Closed(0));
        }
        let trial = b.admit(ms(5000)).unwrap();
        assert!(b.admit(ms(5001)).is_none());
        b.cancel(trial);
        assert_eq!(b.state(), BreakerState::Open);
        let next = b
            .admit(ms(5002))
            .expect("the next attempt is the trial at once");
        assert!(matches!(next, Permit::Trial(_)));
        // Cancelling an old trial or a closed permit changes nothing.
        b.cancel(trial);
        b.cancel(Permit::Closed(0));
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert!(b.admit(ms(5003)).is_none());
    }

    #[test]
    fn late_outcomes_while_open_change_nothing() {
        let b = breaker();
        for _ in 0..4 {
            b.record(ms(0), true, Permit::Closed(0));
        }
        b.record(ms(1), false, Permit::Closed(0));
        assert_eq!(b.state(), BreakerState::Open);
    }

    #[test]
    fn settings_are_tamed() {
        let b = CircuitBreaker::new()
            .failure_ratio(f64::NAN)
            .min_attempts(0)
            .window(Duration::ZERO)
            .open_for(Duration::MAX);
        assert_eq!(b.failure_permille, 1000);
        assert_eq!(b.min_attempts, 1);
        assert_eq!(b.window, ms(10));
        b.record(ms(0), false, Permit::Closed(0));
        b.record(ms(0), true, Permit::Closed(0));
        assert_eq!(
            b.state(),
            BreakerState::Closed,
            "1 of 2 is below a ratio of 1"
        );
        let b = CircuitBreaker::new()
            .failure_ratio(0.0)
            .min_attempts(1)
            .open_for(Duration::MAX);
        b.record(ms(0), false, Permit::Closed(0));
        assert_eq!(
            b.state(),
            BreakerState::Closed,
            "a failure is always needed"
        );
        b.record(ms(0), true, Permit::Closed(0));
        assert_eq!(b.state(), BreakerState::Open);
        assert!(
            b.admit(Duration::MAX).is_none(),
            "open for ever, without overflow"
        );
        assert_eq!(
            CircuitBreaker::new().failure_ratio(7.0).failure_permille,
            1000
        );
        assert!(format!("{:?}", CircuitBreaker::default()).contains("Closed"));
    }

    /// A breaker of the user's own, with only what it must have.
    struct Minimal;

    impl Breaker for Minimal {
        fn admit(&self, _: Duration) -> Option<Permit> {
            Some(Permit::Trial(7))
        }
        fn refuses_at(&self, _: Duration) -> bool {
            false
        }
        fn record(&self, _: Duration, _: bool, _: Permit) {}
    }

    /// A group's cool-down that holds for a fixed time.
    struct Group;

    impl CoolDown for Group {
        fn hold(&self, _: Duration) -> Duration {
            Duration::from_secs(4)
        }
        fn rate_limited(&self, _: Duration) {}
    }

    #[test]
    fn its_cool_down_is_its_groups_once_it_joins_one() {
        let member = CircuitBreaker::new();
        assert!(member.cool_down().is_none(), "not shared");
        static GROUP: Group = Group;
        member.fleet.link(&GROUP);
        let hold = member.cool_down().map(|c| c.hold(Duration::ZERO));
        assert_eq!(hold, Some(Duration::from_secs(4)));
    }

    #[test]
    fn a_breakers_own_implementation_gets_quiet_defaults() {
        let b = Minimal;
        assert!(b.cool_down().is_none(), "not shared: no cool-down");
        b.cancel(Permit::Trial(7));
        assert_eq!(b.admit(ms(0)), Some(Permit::Trial(7)));
        assert_eq!(Permit::default(), Permit::Closed(0));
        let open = std::io::Error::from(CircuitOpen);
        assert_eq!(open.kind(), std::io::ErrorKind::Other);
        assert_eq!(
            open.to_string(),
            "the circuit breaker is open: no attempt was made"
        );
    }

    #[test]
    fn refuses_at_says_what_admit_would_without_taking_a_trial() {
        let b = breaker();
        assert!(!b.refuses_at(ms(0)), "closed");
        for _ in 0..4 {
            b.record(ms(1_000), true, Permit::Closed(0));
        }
        // Open until 6 s.
        assert!(b.refuses_at(ms(1_000)));
        assert!(b.refuses_at(ms(5_999)));
        assert!(!b.refuses_at(ms(6_000)), "its time is up at 6 s exactly");
        assert_eq!(b.state(), BreakerState::Open, "asking took no trial");
        // A trial under way from 6 s: refused until it goes stale, after
        // `trial_timeout` (10 minutes), at 606 s.
        let trial = b.admit(ms(6_000)).unwrap();
        assert!(b.refuses_at(ms(6_000)));
        assert!(b.refuses_at(ms(11_000)));
        assert!(b.refuses_at(ms(605_999)));
        assert!(!b.refuses_at(ms(606_000)));
        b.record(ms(7_000), false, trial);
        assert!(!b.refuses_at(ms(7_000)), "closed again");
        // Open for ever: refused at any time.
        let b = breaker().open_for(Duration::MAX);
        for _ in 0..4 {
            b.record(ms(0), true, Permit::Closed(0));
        }
        assert!(b.refuses_at(Duration::MAX));
    }

    #[test]
    fn failures_that_end_while_it_is_open_do_not_extend_it() {
        let b = breaker();
        for _ in 0..4 {
            b.record(ms(1_000), true, Permit::Closed(0));
        }
        // Stragglers fail at 4 s and 5.9 s: still open until 6 s only.
        b.record(ms(4_000), true, Permit::Closed(0));
        b.record(ms(5_900), true, Permit::Closed(0));
        assert!(b.admit(ms(5_999)).is_none());
        assert!(matches!(b.admit(ms(6_000)), Some(Permit::Trial(_))));
    }

    #[test]
    fn debug_shows_the_settings() {
        let shown = format!("{:?}", breaker().failure_ratio(0.25));
        assert!(shown.contains("failure_ratio: 0.25"), "{shown}");
        assert!(shown.contains("min_attempts: 4"), "{shown}");
        assert!(shown.contains("window: 10s"), "{shown}");
        assert!(shown.contains("trial_timeout: 600s"), "{shown}");
    }
}
