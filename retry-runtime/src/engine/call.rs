//! One call: the state of its attempts, and the decision after each.

use std::fmt;
use std::time::Duration;

use super::log::{debug_enabled, trace};
use super::observer::{Ended, Observer};
use super::settings::{Failure, Limits, Matched, RetryAfter, Settings, SettingsSource};
use crate::counters::clock::{Clock, Now};
use crate::policy::wait::{Wait, WaitContext};
use crate::policy::{GiveUp, RetryState};
use crate::protect::Permit;

/// What the driver of a call does next: the one sequence of a call, which
/// the attribute's expansion, the builder (async and blocking), streams and
/// batches all follow.
///
/// ```text
/// let (call, step) = Call::start(..)
/// loop:
///     Sleep(d)  -> sleep d, then step = call.resume()   (the fleet's hold; a retry's pause)
///     Attempt   -> run one attempt (within call.attempt_limit())
///     Refused   -> the attempt is not made: the outcome is the last one
///                  (or the refusal's error before the first attempt)
///     then: call.succeeded() and return, or call.failed(..):
///           Some(delay) -> step = Step::Sleep(delay); None -> return
/// ```
///
/// [`Call::start`] and [`Call::resume`] hold the order of the gates: the
/// fleet's hold before the first attempt's gate and deposit, a breaker's
/// gate after every pause.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Sleep this long (zero: yield once), then ask [`Call::resume`].
    Sleep(Duration),
    /// Make an attempt, then report it ([`Call::succeeded`] or
    /// [`Call::failed`]).
    Attempt,
    /// The attempt is not made (a breaker refused it, or the deadline
    /// cannot be met): report the last outcome (before the first attempt,
    /// the refusal's error) through [`Call::failed`], which gives up.
    Refused,
}

/// The state of one call: how many attempts failed, when it started, and
/// the previous delay of the wait in use.
///
/// The success path touches nothing but [`Call::start`] and
/// [`Call::succeeded`], which read no clock unless the settings ask for it.
/// A driver follows [`Step`]. Dropping the call at any point gives back
/// what it holds (a breaker's trial, a budget's withdrawal for a retry
/// never made). The settings come from `S`: a reference, or (the attribute,
/// in a build without debug assertions) a type of each function's own whose
/// settings are its `static` ([`SettingsSource`]).
pub struct Call<'s, C: Clock, O: Observer = (), S: SettingsSource<'s, O> = &'s Settings<O>> {
    /// Where the settings are (see [`SettingsSource`]).
    source: S,
    start: Option<C::Instant>,
    /// Attempts that failed so far.
    pub(super) failed: u32,
    /// The wait that chose the last delay, and that delay (before any
    /// Retry-After floor, and before an adaptive wait's scale); none before
    /// the first retry.
    last_wait: Option<(u32, Duration)>,
    /// Why the next attempt may not run (a breaker refused it): the call
    /// then gives up with its last outcome.
    refused: Option<GiveUp>,
    /// The permit of the attempt let through and not yet reported (kept
    /// only when the observers guard).
    in_flight: std::cell::Cell<Option<Permit>>,
    /// When the retry about to be made was let through by the gates, until
    /// it starts (kept only when the observers guard).
    withdrawn: Option<Duration>,
    /// The call waited out a fleet's hold after its start was read.
    held: bool,
    /// What the source lends: the call has the variance and auto traits
    /// of a `&'s Settings<O>`, whatever its source.
    lent: std::marker::PhantomData<&'s Settings<O>>,
}

impl<'s, C: Clock, O: Observer + fmt::Debug, S: SettingsSource<'s, O>> fmt::Debug
    for Call<'s, C, O, S>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Call")
            .field("settings", self.settings())
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl<'s, C: Clock, O: Observer, S: SettingsSource<'s, O>> Drop for Call<'s, C, O, S> {
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn drop(&mut self) {
        // Nothing held after a call that reported its last attempt: no
        // call on the success path.
        if O::GUARDS && (self.in_flight.get().is_some() || self.withdrawn.is_some()) {
            self.give_back();
        }
    }
}

impl<'s, C: Clock, O: Observer, S: SettingsSource<'s, O>> Call<'s, C, O, S> {
    /// A call that starts now (its `deadline` counts from here), and its
    /// first step: [`Step::Sleep`] while a rate limit another process
    /// sharing a budget or breaker was told about holds it back (at most
    /// `retry_after`'s `max`; nothing with `ignore`), otherwise the first
    /// attempt, past its gate (a breaker may refuse it) and a budget's
    /// deposit.
    ///
    /// No call waits to be refused: when the breaker would refuse the first
    /// attempt now, there is no hold (and the step is [`Step::Refused`]). No
    /// call outlasts its `deadline` for the hold: when the hold is as long
    /// as the deadline or longer, a call that can end (`can_end`: its
    /// caller builds a timed-out error, `E::from(Elapsed)`) is refused at
    /// once ([`GiveUp::Deadline`], [`Call::refused_by_deadline`]); one that
    /// cannot does not wait, and its first attempt runs at once. Without a
    /// budget or breaker this is [`Step::Attempt`], known at compile time.
    #[cfg_attr(not(debug_assertions), inline(always))]
    pub fn start(settings: S, can_end: bool) -> (Self, Step) {
        let mut call = Call::fresh(settings);
        // One reading of the start for the hold, the gate and the deposit.
        let now = call.now();
        let hold = call.fleet_hold(can_end, &now);
        if !hold.is_zero() {
            call.held = true;
            return (call, Step::Sleep(hold));
        }
        call.begin(&now);
        let step = call.step();
        (call, step)
    }

    /// The step after a [`Step::Sleep`]: the gate of the attempt that
    /// follows (after the fleet's hold, the first attempt's gate and
    /// deposit; after a retry's pause, a breaker that opened meanwhile
    /// refuses it, and what the retry withdrew from a budget is given back).
    #[cfg_attr(not(debug_assertions), inline(always))]
    pub fn resume(&mut self) -> Step {
        if self.held {
            // After a hold the start's reading is old: the gate reads the clock.
            self.begin(&Now::new());
            self.held = false;
        } else {
            self.admit_next();
        }
        self.step()
    }

    #[cfg_attr(not(debug_assertions), inline(always))]
    fn step(&self) -> Step {
        if self.refused.is_some() {
            Step::Refused
        } else {
            Step::Attempt
        }
    }

    /// A call with no hold, past the first attempt's gate (for the engine's
    /// tests, which drive the steps one by one).
    #[cfg(test)]
    pub(crate) fn new(settings: S) -> Self {
        let mut call = Call::fresh(settings);
        let now = call.now();
        call.begin(&now);
        call
    }

    /// [`Call::start`] as its parts (for the engine's tests).
    #[cfg(test)]
    pub(crate) fn holding(settings: S, can_end: bool) -> (Self, Duration) {
        let mut call = Call::fresh(settings);
        let hold = call.fleet_hold(can_end, &call.now());
        call.held = !hold.is_zero();
        (call, hold)
    }

    /// The fleet's hold before the first attempt (see [`Call::start`]).
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn fleet_hold(&mut self, can_end: bool, now: &Now<C>) -> Duration {
        if !O::HOLDS {
            return Duration::ZERO;
        }
        let RetryAfter::Honor { max } = self.settings().retry_after else {
            return Duration::ZERO;
        };
        let observer = &self.settings().observer;
        // No hold when nothing holds the call (its members are not shared,
        // or no cool-down runs: nothing more is asked then), when the
        // testing switch zeroes waits, or when the breaker would refuse at
        // once.
        let hold = observer.hold(now).min(max);
        if hold.is_zero() || crate::engine::testing::current().zero_waits || observer.refuses(now) {
            return Duration::ZERO;
        }
        match self.settings().deadline {
            Some(deadline) if wakes_at::<C>(Duration::ZERO, hold) >= deadline => {
                if can_end {
                    self.refused = Some(GiveUp::Deadline);
                }
                Duration::ZERO
            }
            _ => hold,
        }
    }

    /// The gate before the first attempt, and the call's start for the
    /// observers (a budget's deposit); nothing when the call was already
    /// refused.
    #[cfg_attr(not(debug_assertions), inline(always))]
    pub(crate) fn begin(&mut self, now: &Now<C>) {
        if self.refused.is_some() {
            return;
        }
        let observer = &self.settings().observer;
        match observer.admit_attempt(1, now) {
            Ok(permit) => {
                if O::GUARDS {
                    self.in_flight.set(Some(permit));
                }
                observer.call_started(now);
            }
            Err(reason) => self.refused = Some(reason),
        }
    }

    /// Whether the next attempt was refused ([`Step::Refused`]).
    #[cfg_attr(not(debug_assertions), inline(always))]
    pub fn refused(&self) -> bool {
        self.refused.is_some()
    }

    /// Whether the call was refused because its deadline could not be met
    /// (a fleet's hold as long as the deadline): it ends with a timed-out
    /// error rather than a breaker's.
    #[cfg_attr(not(debug_assertions), inline(always))]
    pub fn refused_by_deadline(&self) -> bool {
        self.refused == Some(GiveUp::Deadline)
    }

    /// The gate right before a retry runs (after its sleep): a breaker that
    /// opened meanwhile refuses it, [`Call::refused`] says so, and what the
    /// retry withdrew from a budget is given back.
    #[cfg_attr(not(debug_assertions), inline(always))]
    pub(crate) fn admit_next(&mut self) {
        let attempt = self.failed.saturating_add(1);
        let observer = &self.settings().observer;
        match observer.admit_attempt(attempt, &Now::<C>::new()) {
            Ok(permit) => {
                if O::GUARDS {
                    self.in_flight.set(Some(permit));
                    self.withdrawn = None;
                }
            }
            Err(reason) => {
                self.refused = Some(reason);
                if O::GUARDS {
                    self.give_back();
                }
            }
        }
    }

    /// Gives back what the call holds and will not use: the trial of an
    /// attempt that will not report, the withdrawal of a retry not made.
    #[cold]
    fn give_back(&mut self) {
        let observer = &self.settings().observer;
        if let Some(permit) = self.in_flight.take() {
            let attempt = self.failed.saturating_add(1);
            observer.attempt_cancelled(attempt, permit, &Now::<C>::new());
        }
        if let Some(at) = self.withdrawn.take() {
            observer.retry_abandoned(at);
        }
    }

    #[cfg_attr(not(debug_assertions), inline(always))]
    fn fresh(source: S) -> Self {
        let settings = source.settings();
        Call {
            source,
            // With DEBUG on for this crate, the decision events say how long
            // the call has taken (one relaxed load when it is off).
            start: if O::NEEDS_CLOCK || settings.reads_clock_at_start() || debug_enabled() {
                Some(C::now())
            } else {
                None
            },
            failed: 0,
            last_wait: None,
            refused: None,
            in_flight: std::cell::Cell::new(None),
            withdrawn: None,
            held: false,
            lent: std::marker::PhantomData,
        }
    }

    /// The call's start as the observers' reading (read when needed if the
    /// start was not).
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn now(&self) -> Now<C> {
        match self.start {
            Some(at) if O::NEEDS_CLOCK => Now::at(C::ticks_of(at)),
            _ => Now::new(),
        }
    }

    /// The settings.
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    pub fn settings(&self) -> &'s Settings<O> {
        self.source.settings()
    }

    /// Attempts that failed so far.
    pub fn failures(&self) -> u32 {
        self.failed
    }

    /// Time since the call started; zero when nothing asked for the clock
    /// (no deadline, timeout or hooks).
    pub fn elapsed(&self) -> Duration {
        self.start.map_or(Duration::ZERO, C::since)
    }

    /// The time limit of the next attempt: the per-attempt `timeout`, cut to
    /// what is left before the `deadline`.
    #[inline]
    pub fn attempt_limit(&self) -> Option<Duration> {
        let left = self
            .settings()
            .deadline
            .map(|deadline| deadline.saturating_sub(self.elapsed()));
        match (self.settings().timeout, left) {
            (Some(timeout), Some(left)) => Some(timeout.min(left)),
            (timeout, left) => timeout.or(left),
        }
    }

    /// The attempt succeeded (or its `Ok` was accepted): the call returns it.
    /// The observers hear it as of now, when the attempt ended, however
    /// long it ran (a breaker's window counts it where it ended).
    #[cfg_attr(not(debug_assertions), inline(always))]
    pub fn succeeded(&self) {
        // The first attempt's success with its count a constant, so that
        // the observers' branches on it fold away.
        if self.failed == 0 {
            self.report_success(1);
        } else {
            self.report_success(self.failed.saturating_add(1));
        }
    }

    #[cfg_attr(not(debug_assertions), inline(always))]
    fn report_success(&self, attempts: u32) {
        let observer = &self.settings().observer;
        let permit = self.take_permit();
        observer.attempt_succeeded(attempts, permit, &Now::<C>::new());
        observer.call_ended(Ended {
            attempts,
            gave_up: None,
            error: false,
            class: None,
        });
    }

    /// The running attempt delivered its first item (a stream; asked once
    /// per attempt): a breaker's trial has its answer
    /// ([`Observer::attempt_answered`]). Nothing for an attempt that is no
    /// trial.
    pub fn answered(&self) {
        if !O::GUARDS {
            return;
        }
        if let Some(permit @ Permit::Trial(_)) = self.in_flight.get() {
            let observer = &self.settings().observer;
            let held = observer.attempt_answered(permit, &Now::<C>::new());
            self.in_flight.set(Some(held));
        }
    }

    /// The permit of the attempt that just ended (only observers that guard
    /// keep one: for the others, nothing to take).
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn take_permit(&self) -> Permit {
        if O::GUARDS {
            self.in_flight.take().unwrap_or_default()
        } else {
            Permit::default()
        }
    }

    /// The call gave up with an error, and the function's `fallback` is
    /// called with the same arguments instead: the observers count it.
    #[cold]
    pub fn fell_back(&self) {
        self.settings().observer.fell_back();
    }

    /// Records a failed attempt and decides: `Some(delay)` to sleep and try
    /// again (after `before_sleep`), `None` to give up (after `on_giveup`).
    ///
    /// The order, for an error: a `never` rule that matches gives up; so does
    /// a server that says not to retry; then the first rule of `on` that
    /// matches (`rules`) gives the limits; failing that, a server that says
    /// to retry gets the `top` limits; otherwise the call gives up. A rejected
    /// `Ok` gets the `top` limits. Then the call gives up when the attempts
    /// are used up, when the server asks for longer than `retry_after`'s cap,
    /// when the sleep would end after the deadline, or when an observer's
    /// gate refuses the next attempt.
    #[allow(clippy::too_many_arguments)]
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    pub fn failed<'w, E, W: Wait + ?Sized>(
        &mut self,
        failure: Failure<'_, E>,
        mut never: impl FnMut() -> bool,
        mut rules: impl FnMut() -> Option<Matched<'w>>,
        top: Limits<'w, W>,
        mut before_sleep: impl FnMut(&RetryState<'_, E>),
        mut on_giveup: impl FnMut(&RetryState<'_, E>),
    ) -> Option<Duration> {
        // Behind `dyn`, the decision below is compiled once per clock,
        // observer, error and wait, not once per annotated function (whose
        // closures are types of their own): in a debug build, what each
        // function compiles of it is this call. Inlined in an optimised
        // build, the calls through the constant vtables are direct again
        // (the instruction counts in BENCHMARKS.md). `FnMut`, not
        // `FnOnce`, so that no flag says whether each was called: each
        // is called once at most.
        self.decide(
            failure,
            &mut never,
            &mut rules,
            top,
            &mut before_sleep,
            &mut on_giveup,
        )
    }

    /// [`Call::failed`] with its closures behind `dyn`.
    #[allow(clippy::too_many_arguments)]
    #[cfg_attr(not(debug_assertions), inline(always))]
    #[cfg_attr(debug_assertions, inline)]
    fn decide<'w, E, W: Wait + ?Sized>(
        &mut self,
        failure: Failure<'_, E>,
        never: &mut dyn FnMut() -> bool,
        rules: &mut dyn FnMut() -> Option<Matched<'w>>,
        top: Limits<'w, W>,
        before_sleep: &mut dyn FnMut(&RetryState<'_, E>),
        on_giveup: &mut dyn FnMut(&RetryState<'_, E>),
    ) -> Option<Duration> {
        // A refused attempt did not run: nothing new failed, and the call
        // gives up with its last outcome.
        if self.refused.is_none() {
            self.failed = self.failed.saturating_add(1);
        }
        let elapsed = if self.settings().deadline.is_some() || self.settings().hooks {
            self.elapsed()
        } else {
            Duration::ZERO
        };
        let decision = match self.refused {
            Some(reason) => Err(reason),
            None => {
                let judged = judge(&failure, never, rules);
                self.settle(&failure, elapsed, judged, top)
            }
        };
        self.report(&failure, decision);
        match decision {
            Ok(delay) => {
                before_sleep(&self.state(failure, delay, elapsed, None));
                Some(delay)
            }
            Err(reason) => {
                on_giveup(&self.state(failure, Duration::ZERO, elapsed, Some(reason)));
                self.settings().observer.call_ended(Ended {
                    attempts: self.failed,
                    gave_up: Some(reason),
                    error: failure.error.is_some(),
                    class: failure.class,
                });
                None
            }
        }
    }

    /// The DEBUG event of a decision, and the observers' `retrying`.
    // Generic over the clock, observer and error only (not the closures of
    // one function), so that a debug build compiles it once per error type
    // rather than once per annotated function; inlined in optimised builds.
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn report<E>(&self, failure: &Failure<'_, E>, decision: Result<Duration, GiveUp>) {
        if debug_enabled() {
            // The time since the start, when the clock was read then.
            let elapsed = self.start.map(C::since);
            let (name, class) = (self.settings().name, failure.class);
            trace(name, self.failed, class, failure.shown, elapsed, decision);
        }
        if let Ok(delay) = decision {
            self.settings()
                .observer
                .retrying(self.failed, failure.class, delay);
        }
    }

    /// The delay before the next attempt, or why the call gives up, for a
    /// failure already judged by the rules.
    // Always inlined in optimised builds, so that the top-level wait's
    // `delay` (called through its own type `W`) inlines with the policy's
    // constants folded in; out of line in debug builds (see `report`).
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn settle<'w, E, W: Wait + ?Sized>(
        &mut self,
        failure: &Failure<'_, E>,
        elapsed: Duration,
        judged: Result<Matched<'w>, GiveUp>,
        top: Limits<'w, W>,
    ) -> Result<Duration, GiveUp> {
        let observer = &self.settings().observer;
        let now = Now::<C>::new();
        let permit = self.take_permit();
        observer.attempt_failed(self.failed, failure.class, judged.is_ok(), permit, &now);
        // A requested delay this function would obey is the fleet's too,
        // whether or not this call retries (`ignore`, or one above `max`,
        // publishes nothing).
        if let (true, RetryAfter::Honor { max }, Some(requested)) =
            (O::HOLDS, self.settings().retry_after, failure.retry_after)
        {
            if requested <= max && !crate::engine::testing::current().zero_waits {
                observer.rate_limited(requested, &now);
            }
        }
        let (attempts, wait_id, own) = match judged? {
            Matched::Top => (top.attempts, 0, None),
            Matched::TopAttempts(attempts) => (attempts, 0, None),
            Matched::Own(limits) => (limits.attempts, limits.wait_id, Some(limits.wait)),
        };
        let testing = crate::engine::testing::current();
        if self.failed >= attempts.min(testing.attempts) {
            return Err(GiveUp::Attempts);
        }
        // Each wait continues from its own last delay; a Retry-After floor
        // or another rule's wait never feeds into it.
        let previous = match self.last_wait {
            Some((id, previous)) if id == wait_id => previous,
            _ => Duration::ZERO,
        };
        let mut cx = WaitContext::seeded_on_demand(self.failed, previous);
        if let Some(window) = observer.window() {
            // As of this failure (the window's observer read the clock).
            cx = cx.window_at(window, now.ticks());
        }
        let wait = match own {
            None => top.wait.delay(&mut cx),
            Some(own) => own.delay(&mut cx),
        };
        // What the wait continues from is its own delay: an adaptive scale
        // is applied afresh each time, not compounded.
        let unscaled = cx.unscaled(wait);
        let mut delay = wait;
        if let (RetryAfter::Honor { max }, Some(requested)) =
            (self.settings().retry_after, failure.retry_after)
        {
            if requested > max {
                return Err(GiveUp::RetryAfterTooLong);
            }
            delay = delay.max(requested);
        }
        if let (true, RetryAfter::Honor { max }) = (O::HOLDS, self.settings().retry_after) {
            // A delay another process was told holds this call back, under
            // the same cap as its own.
            let hold = observer.hold(&now);
            if hold > max {
                return Err(GiveUp::RetryAfterTooLong);
            }
            delay = delay.max(hold);
        }
        if testing.zero_waits {
            delay = Duration::ZERO;
        }
        if self
            .settings()
            .deadline
            .is_some_and(|deadline| wakes_at::<C>(elapsed, delay) >= deadline)
        {
            return Err(GiveUp::Deadline);
        }
        observer.admit(self.failed.saturating_add(1), delay, &now)?;
        if O::GUARDS {
            // Given back if the retry is never made.
            self.withdrawn = Some(now.ticks());
        }
        self.last_wait = Some((wait_id, unscaled));
        Ok(delay)
    }

    fn state<'e, E>(
        &self,
        failure: Failure<'e, E>,
        delay: Duration,
        elapsed: Duration,
        reason: Option<GiveUp>,
    ) -> RetryState<'e, E> {
        RetryState {
            name: self.settings().name,
            attempt: self.failed,
            delay,
            elapsed,
            error: failure.error,
            class: failure.class,
            retry_after: failure.retry_after,
            giving_up: reason.is_some(),
            reason,
        }
    }
}

/// Which limits a failure gets, or why it is not retried. The order: a
/// rejected `Ok` gets the top limits; for an error, a matching `never` rule
/// gives up, then a server that says not to retry, then the first matching
/// rule of `on` decides, then a server that says to retry gets the top
/// limits; otherwise the error is not retryable.
#[inline(always)]
fn judge<'w, E>(
    failure: &Failure<'_, E>,
    never: impl FnOnce() -> bool,
    rules: impl FnOnce() -> Option<Matched<'w>>,
) -> Result<Matched<'w>, GiveUp> {
    if failure.error.is_none() {
        Ok(Matched::Top)
    } else if never() {
        Err(GiveUp::NotRetryable)
    } else if failure.should_retry == Some(false) {
        Err(GiveUp::ServerRefused)
    } else if let Some(matched) = rules() {
        Ok(matched)
    } else if failure.should_retry == Some(true) {
        Ok(Matched::Top)
    } else {
        Err(GiveUp::NotRetryable)
    }
}

/// When a sleep of `delay` from `elapsed` ends. Tokio's timer wakes on
/// whole milliseconds, so a sleep that would end within a deadline's last
/// millisecond ends at the deadline, with no time left for the attempt
/// after it (which would be cut at once, rather than the call returning
/// its last error). No sleep (a zero delay), or a clock whose sleeps end
/// when asked, is not rounded.
#[inline]
fn wakes_at<C: Clock>(elapsed: Duration, delay: Duration) -> Duration {
    let at = elapsed.saturating_add(delay);
    if !C::SLEEPS_IN_MILLIS || delay.is_zero() {
        return at;
    }
    match at.subsec_nanos() % 1_000_000 {
        0 => at,
        part => at.saturating_add(Duration::from_nanos(u64::from(1_000_000 - part))),
    }
}
