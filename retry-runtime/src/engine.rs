//! The retry engine: the one place where a failed attempt is judged. Both
//! the attribute's expansion and the [builder](crate::Retrying) record their
//! attempts in a [`Call`] and ask [`Call::failed`] what to do next; the order
//! of the checks, the limits and the give-up logic live here and nowhere else.

use std::fmt;
use std::time::Duration;

use crate::adaptive::AdaptiveWindow;
use crate::breaker::Permit;
use crate::class::Class;
use crate::clock::{Clock, Now};
use crate::state::{GiveUp, RetryState};
use crate::wait::{Wait, WaitContext};

/// The default number of attempts, the first included.
pub const DEFAULT_ATTEMPTS: u32 = 3;

/// What to do with the delay a server asks for ([`Classify::retry_after`](crate::Classify::retry_after)).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryAfter {
    /// Sleep `max(wait's delay, requested)`; a request above `max` gives up
    /// at once instead of sleeping that long.
    Honor {
        /// The longest requested delay that is obeyed.
        max: Duration,
    },
    /// Use the wait's delay alone.
    Ignore,
}

impl RetryAfter {
    /// The default: `honor(max = 60s)`.
    pub const DEFAULT: RetryAfter = RetryAfter::honor(Duration::from_secs(60));

    /// `honor(max = max)`.
    pub const fn honor(max: Duration) -> RetryAfter {
        RetryAfter::Honor { max }
    }
}

impl Default for RetryAfter {
    fn default() -> Self {
        RetryAfter::DEFAULT
    }
}

/// How a call ended, as an [`Observer`] is told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ended {
    /// The attempts made, the first included.
    pub attempts: u32,
    /// `None` when the last attempt succeeded; otherwise why the call gave up.
    pub gave_up: Option<GiveUp>,
    /// Whether the call returns an error (a rejected `Ok` is returned as it is).
    pub error: bool,
}

/// Listens to a call's events and may refuse an attempt. Statistics, retry
/// budgets, circuit breakers and adaptive windows plug in here; `()`
/// listens to nothing and compiles away. `C` is the clock the call sleeps on.
pub trait Observer {
    /// Whether it reads the clock at every call (a budget, a breaker): the
    /// call then reads it once when it starts, for the observers of the
    /// start (an attempt's outcome reads it again when the attempt ends).
    const NEEDS_CLOCK: bool = false;
    /// Whether [`Observer::hold`] may ever say to wait (a budget or breaker
    /// shared with other processes); when `false`, the call never asks.
    const HOLDS: bool = false;
    /// Whether a call it hears may owe it something when the call is
    /// dropped, or a retry is refused: a breaker's trial to give back, a
    /// budget's withdrawal for a retry never made. When `false`, the call
    /// keeps no account of either and its drop does nothing.
    const GUARDS: bool = false;
    /// Whether an attempt at `now` would be refused (a breaker that is
    /// open), without taking a trial: a call that would be refused is
    /// refused before it waits out a fleet's cool-down.
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn refuses<C: Clock>(&self, now: &Now<C>) -> bool {
        let _ = now;
        false
    }
    /// How long the next attempt must wait whatever the wait says: a rate
    /// limit that another process sharing the state was told about.
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn hold<C: Clock>(&self, now: &Now<C>) -> Duration {
        let _ = now;
        Duration::ZERO
    }
    /// The server asked the call to wait `delay` (a `Retry-After`), as of
    /// `now`; told only when [`Observer::HOLDS`].
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn rate_limited<C: Clock>(&self, delay: Duration, now: &Now<C>) {
        let _ = (delay, now);
    }
    /// A call starts (before its first attempt).
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn call_started<C: Clock>(&self, now: &Now<C>) {
        let _ = now;
    }
    /// The gate before the sleep that precedes attempt `attempt` (from 2
    /// on), which would start after `delay`: `Err` refuses it, and the call
    /// gives up with its last outcome for that reason (a budget withdraws
    /// here; a breaker looks whether it will still be open then).
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn admit<C: Clock>(&self, attempt: u32, delay: Duration, now: &Now<C>) -> Result<(), GiveUp> {
        let _ = (attempt, delay, now);
        Ok(())
    }
    /// The gate right before attempt `attempt` runs (the first included):
    /// `Err` refuses it (a breaker that is open, or whose one trial is
    /// taken), and the call gives up. `Ok` carries the breaker's permit,
    /// handed back with the attempt's outcome.
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn admit_attempt<C: Clock>(&self, attempt: u32, now: &Now<C>) -> Result<Permit, GiveUp> {
        let _ = (attempt, now);
        Ok(Permit::default())
    }
    /// Attempt `attempt`, let through with `permit`, succeeded (an `Ok` that
    /// `when_ok` accepts) at `now`: when it ended, however long it ran.
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn attempt_succeeded<C: Clock>(&self, attempt: u32, permit: Permit, now: &Now<C>) {
        let _ = (attempt, permit, now);
    }
    /// Attempt `attempt`, let through with `permit`, failed at `now` with a
    /// failure of `class`; `retryable` when the rules would retry it (the
    /// server's health is in question), not when no rule matches or the
    /// server said not to retry.
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn attempt_failed<C: Clock>(
        &self,
        attempt: u32,
        class: Option<Class>,
        retryable: bool,
        permit: Permit,
        now: &Now<C>,
    ) {
        let _ = (attempt, class, retryable, permit, now);
    }
    /// An attempt let through with `permit` will never end: the call was
    /// dropped while it ran (told only when [`Observer::GUARDS`]).
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn attempt_cancelled(&self, permit: Permit) {
        let _ = permit;
    }
    /// A retry that [`Observer::admit`] let through at `admitted_at` (ticks)
    /// will not be made: a gate refused it after its sleep, or the call was
    /// dropped while it slept (told only when [`Observer::GUARDS`]).
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn retry_abandoned(&self, admitted_at: Duration) {
        let _ = admitted_at;
    }
    /// The call sleeps `delay` before attempt `attempt + 1`.
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn retrying(&self, attempt: u32, class: Option<Class>, delay: Duration) {
        let _ = (attempt, class, delay);
    }
    /// The call returns.
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn call_ended(&self, ended: Ended) {
        let _ = ended;
    }
    /// The recent attempts that adaptive waits read, if any.
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn window(&self) -> Option<&AdaptiveWindow> {
        None
    }
}

impl Observer for () {}

/// Forwards every event to `$inner` (an expression of `self`).
macro_rules! forward {
    ($($ty:ty => |$me:ident| $inner:expr;)*) => {$(
        impl<O: Observer> Observer for $ty {
            const NEEDS_CLOCK: bool = O::NEEDS_CLOCK;
            const HOLDS: bool = O::HOLDS;
            const GUARDS: bool = O::GUARDS;
            #[cfg_attr(not(debug_assertions), inline(always))]
            fn refuses<C: Clock>(&self, now: &Now<C>) -> bool {
                let $me = self;
                match $inner { Some(o) => o.refuses(now), None => false }
            }
            #[cfg_attr(not(debug_assertions), inline(always))]
            fn hold<C: Clock>(&self, now: &Now<C>) -> Duration {
                let $me = self;
                match $inner { Some(o) => o.hold(now), None => Duration::ZERO }
            }
            #[cfg_attr(not(debug_assertions), inline(always))]
            fn rate_limited<C: Clock>(&self, delay: Duration, now: &Now<C>) {
                let $me = self;
                if let Some(o) = $inner { o.rate_limited(delay, now) }
            }
            #[cfg_attr(not(debug_assertions), inline(always))]
            fn call_started<C: Clock>(&self, now: &Now<C>) {
                let $me = self;
                if let Some(o) = $inner { o.call_started(now) }
            }
            #[cfg_attr(not(debug_assertions), inline(always))]
            fn admit<C: Clock>(&self, attempt: u32, delay: Duration, now: &Now<C>) -> Result<(), GiveUp> {
                let $me = self;
                match $inner { Some(o) => o.admit(attempt, delay, now), None => Ok(()) }
            }
            #[cfg_attr(not(debug_assertions), inline(always))]
            fn admit_attempt<C: Clock>(&self, attempt: u32, now: &Now<C>) -> Result<Permit, GiveUp> {
                let $me = self;
                match $inner { Some(o) => o.admit_attempt(attempt, now), None => Ok(Permit::default()) }
            }
            #[cfg_attr(not(debug_assertions), inline(always))]
            fn attempt_succeeded<C: Clock>(&self, attempt: u32, permit: Permit, now: &Now<C>) {
                let $me = self;
                if let Some(o) = $inner { o.attempt_succeeded(attempt, permit, now) }
            }
            #[cfg_attr(not(debug_assertions), inline(always))]
            fn attempt_failed<C: Clock>(&self, attempt: u32, class: Option<Class>, retryable: bool, permit: Permit, now: &Now<C>) {
                let $me = self;
                if let Some(o) = $inner { o.attempt_failed(attempt, class, retryable, permit, now) }
            }
            #[cfg_attr(not(debug_assertions), inline(always))]
            fn attempt_cancelled(&self, permit: Permit) {
                let $me = self;
                if let Some(o) = $inner { o.attempt_cancelled(permit) }
            }
            #[cfg_attr(not(debug_assertions), inline(always))]
            fn retry_abandoned(&self, admitted_at: Duration) {
                let $me = self;
                if let Some(o) = $inner { o.retry_abandoned(admitted_at) }
            }
            #[cfg_attr(not(debug_assertions), inline(always))]
            fn retrying(&self, attempt: u32, class: Option<Class>, delay: Duration) {
                let $me = self;
                if let Some(o) = $inner { o.retrying(attempt, class, delay) }
            }
            #[cfg_attr(not(debug_assertions), inline(always))]
            fn call_ended(&self, ended: Ended) {
                let $me = self;
                if let Some(o) = $inner { o.call_ended(ended) }
            }
            #[cfg_attr(not(debug_assertions), inline(always))]
            fn window(&self) -> Option<&AdaptiveWindow> {
                let $me = self;
                $inner.and_then(|o| o.window())
            }
        }
    )*};
}

forward! {
    &O => |me| Some(&**me);
    Option<O> => |me| me.as_ref();
}

/// Several observers, told in order (the first gate that refuses wins).
macro_rules! tuple {
    ($($name:ident $index:tt),+) => {
        impl<$($name: Observer),+> Observer for ($($name,)+) {
            const NEEDS_CLOCK: bool = false $(|| $name::NEEDS_CLOCK)+;
            const HOLDS: bool = false $(|| $name::HOLDS)+;
            const GUARDS: bool = false $(|| $name::GUARDS)+;
            #[cfg_attr(not(debug_assertions), inline(always))]
            fn refuses<C: Clock>(&self, now: &Now<C>) -> bool {
                false $(|| self.$index.refuses(now))+
            }
            #[cfg_attr(not(debug_assertions), inline(always))]
            fn hold<C: Clock>(&self, now: &Now<C>) -> Duration {
                Duration::ZERO $(.max(if $name::HOLDS { self.$index.hold(now) } else { Duration::ZERO }))+
            }
            #[cfg_attr(not(debug_assertions), inline(always))]
            fn rate_limited<C: Clock>(&self, delay: Duration, now: &Now<C>) {
                $(if $name::HOLDS { self.$index.rate_limited(delay, now) })+
            }
            #[cfg_attr(not(debug_assertions), inline(always))]
            fn call_started<C: Clock>(&self, now: &Now<C>) {
                $(self.$index.call_started(now);)+
            }
            #[cfg_attr(not(debug_assertions), inline(always))]
            fn admit<C: Clock>(&self, attempt: u32, delay: Duration, now: &Now<C>) -> Result<(), GiveUp> {
                $(self.$index.admit(attempt, delay, now)?;)+
                Ok(())
            }
            #[cfg_attr(not(debug_assertions), inline(always))]
            fn admit_attempt<C: Clock>(&self, attempt: u32, now: &Now<C>) -> Result<Permit, GiveUp> {
                // One breaker at most gives a permit other than the default; a
                // gate that refuses comes before those with side effects
                // (the breaker before the budget).
                let mut permit = Permit::default();
                $(
                    let given = self.$index.admit_attempt(attempt, now)?;
                    if given != Permit::default() {
                        permit = given;
                    }
                )+
                Ok(permit)
            }
            #[cfg_attr(not(debug_assertions), inline(always))]
            fn attempt_succeeded<C: Clock>(&self, attempt: u32, permit: Permit, now: &Now<C>) {
                $(self.$index.attempt_succeeded(attempt, permit, now);)+
            }
            #[cfg_attr(not(debug_assertions), inline(always))]
            fn attempt_failed<C: Clock>(&self, attempt: u32, class: Option<Class>, retryable: bool, permit: Permit, now: &Now<C>) {
                $(self.$index.attempt_failed(attempt, class, retryable, permit, now);)+
            }
            #[cfg_attr(not(debug_assertions), inline(always))]
            fn attempt_cancelled(&self, permit: Permit) {
                $(self.$index.attempt_cancelled(permit);)+
            }
            #[cfg_attr(not(debug_assertions), inline(always))]
            fn retry_abandoned(&self, admitted_at: Duration) {
                $(self.$index.retry_abandoned(admitted_at);)+
            }
            #[cfg_attr(not(debug_assertions), inline(always))]
            fn retrying(&self, attempt: u32, class: Option<Class>, delay: Duration) {
                $(self.$index.retrying(attempt, class, delay);)+
            }
            #[cfg_attr(not(debug_assertions), inline(always))]
            fn call_ended(&self, ended: Ended) {
                $(self.$index.call_ended(ended);)+
            }
            #[cfg_attr(not(debug_assertions), inline(always))]
            fn window(&self) -> Option<&AdaptiveWindow> {
                None$(.or_else(|| self.$index.window()))+
            }
        }
    };
}

tuple!(A 0, B 1);
tuple!(A 0, B 1, C2 2);
tuple!(A 0, B 1, C2 2, D 3);

/// The settings of one retrying function that hold for every failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings<O = ()> {
    /// The name in logs and statistics.
    pub name: &'static str,
    /// The time budget from the first attempt's start (from the call's
    /// start when a fleet's hold comes first).
    pub deadline: Option<Duration>,
    /// What to do with the server's requested delay.
    pub retry_after: RetryAfter,
    /// The per-attempt limit, if any (`async` only).
    pub timeout: Option<Duration>,
    /// Whether hooks look at the call (`before_sleep`, `on_giveup`).
    pub hooks: bool,
    /// Who hears the call's events.
    pub observer: O,
}

impl Settings {
    /// Settings with no deadline, no timeout, no hooks and
    /// `retry_after = honor(max = 60s)`.
    pub const fn new(name: &'static str) -> Self {
        Settings {
            name,
            deadline: None,
            retry_after: RetryAfter::DEFAULT,
            timeout: None,
            hooks: false,
            observer: (),
        }
    }

    /// The same settings, told to `observer`.
    pub const fn observe<O: Observer>(self, observer: O) -> Settings<O> {
        Settings {
            name: self.name,
            deadline: self.deadline,
            retry_after: self.retry_after,
            timeout: self.timeout,
            hooks: self.hooks,
            observer,
        }
    }
}

impl<O> Settings<O> {
    /// Says that hooks look at the call (and its elapsed time).
    pub const fn hooks(mut self) -> Self {
        self.hooks = true;
        self
    }
    /// Sets the per-attempt limit.
    pub const fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
    /// Sets the deadline.
    pub const fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = Some(deadline);
        self
    }
    /// Sets the treatment of the server's requested delay.
    pub const fn retry_after(mut self, retry_after: RetryAfter) -> Self {
        self.retry_after = retry_after;
        self
    }
    /// Whether the clock is read when the first attempt starts: with a
    /// deadline, a per-attempt timeout (whose timer reads it anyway) or hooks
    /// (which cost more than a clock read). The success path without any of
    /// them reads no clock.
    pub const fn reads_clock_at_start(&self) -> bool {
        self.deadline.is_some() || self.timeout.is_some() || self.hooks
    }
}

/// One failed attempt, as the engine sees it.
pub struct Failure<'a, E> {
    /// The error; `None` for an `Ok` that `when_ok` rejected.
    pub error: Option<&'a E>,
    /// Its class, if known.
    pub class: Option<Class>,
    /// The delay the server asked for, if any.
    pub retry_after: Option<Duration>,
    /// The server's verdict (`x-should-retry`), if any.
    pub should_retry: Option<bool>,
    /// The error as text for the DEBUG event, when its type has `Display`.
    pub shown: Option<&'a dyn fmt::Display>,
}

impl<E: fmt::Debug> fmt::Debug for Failure<'_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Failure")
            .field("error", &self.error)
            .field("class", &self.class)
            .field("retry_after", &self.retry_after)
            .field("should_retry", &self.should_retry)
            .finish_non_exhaustive()
    }
}

impl<E> Clone for Failure<'_, E> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<E> Copy for Failure<'_, E> {}

impl<'a, E> Failure<'a, E> {
    /// An error with what its type says of it. An attempt that ran out of
    /// time is a `Timeout`, whatever the error says: this is the one place
    /// that rule is written.
    #[inline]
    pub fn error(
        error: &'a E,
        class: Option<Class>,
        retry_after: Option<Duration>,
        should_retry: Option<bool>,
        timed_out: bool,
    ) -> Self {
        Failure {
            error: Some(error),
            class: if timed_out {
                Some(Class::Timeout)
            } else {
                class
            },
            retry_after,
            should_retry,
            shown: None,
        }
    }

    /// The same failure, shown as `shown` in the DEBUG event.
    #[cfg_attr(not(debug_assertions), inline(always))]
    pub fn shown(mut self, shown: Option<&'a dyn fmt::Display>) -> Self {
        self.shown = shown;
        self
    }

    /// An `Ok` that `when_ok` rejected.
    #[inline]
    pub const fn rejected() -> Self {
        Failure {
            error: None,
            class: None,
            retry_after: None,
            should_retry: None,
            shown: None,
        }
    }
}

/// The limits of the rule that matched a failure: its attempts and its wait.
/// The top-level limits keep their wait's own type, so that its `delay` is
/// called (and inlined) directly; a rule's own wait is a `dyn Wait`. The
/// top-level limits' `wait_id` is not read (it is 0 by definition).
pub struct Limits<'w, W: ?Sized = dyn Wait + 'w> {
    /// Total attempts, the first included.
    pub attempts: u32,
    /// The delay rule.
    pub wait: &'w W,
    /// Which wait this is (0 for the top-level wait, `i` for the override of
    /// the `i`-th rule): decorrelated jitter continues from the previous
    /// delay only while the same wait is in use.
    pub wait_id: u32,
}

impl<W: ?Sized> Clone for Limits<'_, W> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<W: ?Sized> Copy for Limits<'_, W> {}

impl<'w> Limits<'w> {
    /// A rule's own limits.
    #[cfg_attr(not(debug_assertions), inline(always))]
    pub fn own(attempts: u32, wait: &'w (dyn Wait + 'w), wait_id: u32) -> Self {
        Limits {
            attempts,
            wait,
            wait_id,
        }
    }
}

/// Which limits the first matching rule of `on` gives a failure.
#[derive(Clone, Copy, Debug)]
pub enum Matched<'w> {
    /// The top-level limits.
    Top,
    /// The top-level wait, with other attempts.
    TopAttempts(u32),
    /// The rule's own wait (and attempts).
    Own(Limits<'w>),
}

impl<W: ?Sized> fmt::Debug for Limits<'_, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Limits")
            .field("attempts", &self.attempts)
            .field("wait_id", &self.wait_id)
            .finish_non_exhaustive()
    }
}

/// The state of one call: how many attempts failed, when it started, and
/// the previous delay of the wait in use.
///
/// The success path touches nothing but [`Call::new`] and
/// [`Call::succeeded`], which read no clock unless the settings ask for it.
///
/// The sequence a caller drives (the attribute's expansion, the builder,
/// streams): [`Call::new`], or for a gated call (a budget or breaker)
/// [`Call::holding`], the fleet's hold, then [`Call::begin`]; each attempt
/// (unless [`Call::refused`]); [`Call::succeeded`], or [`Call::failed`] and
/// its pause, then [`Call::admit_next`]. Dropping the call at any point
/// gives back what it holds (a breaker's trial, a budget's withdrawal for a
/// retry never made).
pub struct Call<'s, C: Clock, O: Observer = ()> {
    settings: &'s Settings<O>,
    start: Option<C::Instant>,
    /// Attempts that failed so far.
    failed: u32,
    /// The wait that chose `previous`.
    wait_id: u32,
    /// The last delay that wait chose (before any Retry-After floor, and
    /// before an adaptive wait's scale).
    previous: Duration,
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
}

impl<C: Clock, O: Observer + fmt::Debug> fmt::Debug for Call<'_, C, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Call")
            .field("settings", &self.settings)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl<C: Clock, O: Observer> Drop for Call<'_, C, O> {
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn drop(&mut self) {
        if O::GUARDS {
            self.give_back();
        }
    }
}

impl<'s, C: Clock, O: Observer> Call<'s, C, O> {
    /// The state before the first attempt, for a call with no gate.
    #[cfg_attr(not(debug_assertions), inline(always))]
    pub fn new(settings: &'s Settings<O>) -> Self {
        let mut call = Call::fresh(settings);
        call.begin();
        call
    }

    /// [`Call::new`] with the gate before the first attempt: when an
    /// observer (a circuit breaker) refuses it, [`Call::refused`] says so,
    /// nothing is deposited, and the call should give up at once (through
    /// [`Call::failed`], with the error of a refused call). One clock reading
    /// serves the gate and the start.
    #[cfg_attr(not(debug_assertions), inline(always))]
    pub fn gated(settings: &'s Settings<O>) -> Self {
        Call::new(settings)
    }

    /// A gated call that starts now (its `deadline` counts from here), and
    /// how long it must first wait: a rate limit another process sharing a
    /// budget or breaker was told about, at most `retry_after`'s `max`
    /// (nothing with `ignore`). Wait it out, then [`Call::begin`]: the
    /// breaker's gate and the budget's deposit come after the wait.
    ///
    /// No call waits to be refused: when the breaker would refuse the first
    /// attempt now, the hold is zero (and `begin` refuses it). No call
    /// outlasts its `deadline` for the hold: when the hold is as long as the
    /// deadline or longer, a call that can end (`can_end`: its caller builds
    /// a timed-out error, `E::from(Elapsed)`) is refused at once
    /// ([`GiveUp::Deadline`]); one that cannot does not wait, and its first
    /// attempt runs at once. Zero unless an observer holds, so this compiles
    /// away for every other function.
    #[cfg_attr(not(debug_assertions), inline(always))]
    pub fn holding(settings: &'s Settings<O>, can_end: bool) -> (Self, Duration) {
        let mut call = Call::fresh(settings);
        let hold = call.fleet_hold(can_end);
        call.held = !hold.is_zero();
        (call, hold)
    }

    /// The hold of [`Call::holding`].
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn fleet_hold(&mut self, can_end: bool) -> Duration {
        if !O::HOLDS || crate::testing::current().zero_waits {
            return Duration::ZERO;
        }
        let RetryAfter::Honor { max } = self.settings.retry_after else {
            return Duration::ZERO;
        };
        let observer = &self.settings.observer;
        let now = self.now();
        if observer.refuses(&now) {
            return Duration::ZERO;
        }
        let hold = observer.hold(&now).min(max);
        match self.settings.deadline {
            Some(deadline) if !hold.is_zero() && hold >= deadline => {
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
    pub fn begin(&mut self) {
        if self.refused.is_some() {
            return;
        }
        // After a hold the start's reading is old: the gate reads the clock.
        let now = if self.held { Now::new() } else { self.now() };
        let observer = &self.settings.observer;
        match observer.admit_attempt(1, &now) {
            Ok(permit) => {
                if O::GUARDS {
                    self.in_flight.set(Some(permit));
                }
                observer.call_started(&now);
            }
            Err(reason) => self.refused = Some(reason),
        }
    }

    /// Whether the next attempt was refused (see [`Call::gated`],
    /// [`Call::holding`] and [`Call::admit_next`]).
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
    pub fn admit_next(&mut self) {
        let attempt = self.failed.saturating_add(1);
        let observer = &self.settings.observer;
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
        let observer = &self.settings.observer;
        if let Some(permit) = self.in_flight.take() {
            observer.attempt_cancelled(permit);
        }
        if let Some(at) = self.withdrawn.take() {
            observer.retry_abandoned(at);
        }
    }

    #[cfg_attr(not(debug_assertions), inline(always))]
    fn fresh(settings: &'s Settings<O>) -> Self {
        Call {
            settings,
            // With DEBUG on for this crate, the decision events say how long
            // the call has taken (one relaxed load when it is off).
            start: if O::NEEDS_CLOCK || settings.reads_clock_at_start() || debug_enabled() {
                Some(C::now())
            } else {
                None
            },
            failed: 0,
            wait_id: 0,
            previous: Duration::ZERO,
            refused: None,
            in_flight: std::cell::Cell::new(None),
            withdrawn: None,
            held: false,
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
    pub fn settings(&self) -> &'s Settings<O> {
        self.settings
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
            .settings
            .deadline
            .map(|deadline| deadline.saturating_sub(self.elapsed()));
        match (self.settings.timeout, left) {
            (Some(timeout), Some(left)) => Some(timeout.min(left)),
            (timeout, left) => timeout.or(left),
        }
    }

    /// The attempt succeeded (or its `Ok` was accepted): the call returns it.
    /// The observers hear it as of now, when the attempt ended, however
    /// long it ran (a breaker's window counts it where it ended).
    #[cfg_attr(not(debug_assertions), inline(always))]
    pub fn succeeded(&self) {
        let attempts = self.failed.saturating_add(1);
        let observer = &self.settings.observer;
        let permit = self.in_flight.take().unwrap_or_default();
        observer.attempt_succeeded(attempts, permit, &Now::<C>::new());
        observer.call_ended(Ended {
            attempts,
            gave_up: None,
            error: false,
        });
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
    #[inline]
    pub fn failed<'w, E, W: Wait + ?Sized>(
        &mut self,
        failure: Failure<'_, E>,
        never: impl FnOnce() -> bool,
        rules: impl FnOnce() -> Option<Matched<'w>>,
        top: Limits<'w, W>,
        before_sleep: impl FnOnce(&RetryState<'_, E>),
        on_giveup: impl FnOnce(&RetryState<'_, E>),
    ) -> Option<Duration> {
        // A refused attempt did not run: nothing new failed, and the call
        // gives up with its last outcome.
        if self.refused.is_none() {
            self.failed = self.failed.saturating_add(1);
        }
        let elapsed = if self.settings.deadline.is_some() || self.settings.hooks {
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
                self.settings.observer.call_ended(Ended {
                    attempts: self.failed,
                    gave_up: Some(reason),
                    error: failure.error.is_some(),
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
            let (name, class) = (self.settings.name, failure.class);
            trace(name, self.failed, class, failure.shown, elapsed, decision);
        }
        if let Ok(delay) = decision {
            self.settings
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
        let observer = &self.settings.observer;
        let now = Now::<C>::new();
        let permit = self.in_flight.take().unwrap_or_default();
        observer.attempt_failed(self.failed, failure.class, judged.is_ok(), permit, &now);
        // A requested delay this function would obey is the fleet's too,
        // whether or not this call retries (`ignore`, or one above `max`,
        // publishes nothing).
        if let (true, RetryAfter::Honor { max }, Some(requested)) =
            (O::HOLDS, self.settings.retry_after, failure.retry_after)
            && requested <= max
            && !crate::testing::current().zero_waits
        {
            observer.rate_limited(requested, &now);
        }
        let (attempts, wait_id, own) = match judged? {
            Matched::Top => (top.attempts, 0, None),
            Matched::TopAttempts(attempts) => (attempts, 0, None),
            Matched::Own(limits) => (limits.attempts, limits.wait_id, Some(limits.wait)),
        };
        let testing = crate::testing::current();
        if self.failed >= attempts.min(testing.attempts) {
            return Err(GiveUp::Attempts);
        }
        // Each wait continues from its own last delay; a Retry-After floor
        // or another rule's wait never feeds into it.
        let previous = if self.wait_id == wait_id {
            self.previous
        } else {
            Duration::ZERO
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
            (self.settings.retry_after, failure.retry_after)
        {
            if requested > max {
                return Err(GiveUp::RetryAfterTooLong);
            }
            delay = delay.max(requested);
        }
        if let (true, RetryAfter::Honor { max }) = (O::HOLDS, self.settings.retry_after) {
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
        if let Some(deadline) = self.settings.deadline
            && elapsed.saturating_add(delay) >= deadline
        {
            return Err(GiveUp::Deadline);
        }
        observer.admit(self.failed.saturating_add(1), delay, &now)?;
        if O::GUARDS {
            // Given back if the retry is never made.
            self.withdrawn = Some(now.ticks());
        }
        self.wait_id = wait_id;
        self.previous = unscaled;
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
            name: self.settings.name,
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

/// Whether DEBUG events of this crate go anywhere.
#[cfg_attr(not(debug_assertions), inline(always))]
fn debug_enabled() -> bool {
    tracing::enabled!(target: "retry_runtime", tracing::Level::DEBUG)
}

/// The structured DEBUG event of each decision (silent unless a subscriber
/// enables DEBUG for `retry_runtime`). Arguments are never logged.
#[cold]
#[inline(never)]
fn trace(
    name: &str,
    attempt: u32,
    class: Option<Class>,
    error: Option<&dyn fmt::Display>,
    elapsed: Option<Duration>,
    decision: Result<Duration, GiveUp>,
) {
    use crate::hooks::{ClassField, millis};
    let class = class.map(ClassField);
    let class = class.as_ref().map(tracing::field::display);
    let error = error.map(|e| tracing::field::display(crate::redact::Redacted(e)));
    let elapsed_ms = elapsed.map(millis);
    match decision {
        Ok(delay) => tracing::debug!(
            target: "retry_runtime",
            attempt,
            retry.name = name,
            class,
            delay_ms = millis(delay),
            elapsed_ms,
            error,
            "retrying"
        ),
        Err(reason) => tracing::debug!(
            target: "retry_runtime",
            attempt,
            retry.name = name,
            class,
            elapsed_ms,
            error,
            reason = reason.as_str(),
            "giving up"
        ),
    }
}

#[cfg(test)]
mod tests;
