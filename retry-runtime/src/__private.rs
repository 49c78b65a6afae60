//! Items the `#[retry]` expansion calls. Not public API: no stability
//! promise, and nothing public depends on it.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

pub use crate::breaker::Permit;
pub use crate::chain::ClassifiedByFeature;
pub use crate::class::{Class, ClassSet, Classify};
pub use crate::clock::{Clock, Now, StdClock, TokioClock};
pub use crate::elapsed::Elapsed;
pub use crate::engine::{
    Call, DEFAULT_ATTEMPTS, Ended, Failure, Limits, Matched, Observer, RetryAfter, Settings,
};
pub use crate::state::RetryState;
pub use crate::stats::{Recorder, Stats};
pub use crate::wait;
pub use core;

/// Autoref specialization over the error type: `(&&&Probe(&e)).failure(..)`
/// picks, in this order, [`ByFeature`] (types classified only with a cargo
/// feature), [`ByClassify`] (every other `Classify` type) and
/// [`Unclassified`]. For a generic error type the
/// bounds the function declares decide.
pub struct Probe<'a, E>(pub &'a E);

/// Types classified through their chain of causes (`anyhow::Error`, boxed
/// errors): classes for class rules, but the default rule and the server's
/// requested delay and verdict stay as for an unclassified type unless the
/// attribute names class rules (`explicit`).
pub trait ByFeature<'a, E> {
    /// The attempt's failure.
    fn failure(&self, timed_out: bool, explicit: bool) -> Failure<'a, E>;
    /// Whether the default rule retries it.
    fn by_default(&self, failure: &Failure<'a, E>) -> bool;
}

impl<'a, E: Classify + ClassifiedByFeature> ByFeature<'a, E> for &&Probe<'a, E> {
    #[inline]
    fn failure(&self, timed_out: bool, explicit: bool) -> Failure<'a, E> {
        let e = self.0;
        if explicit {
            Failure::error(
                e,
                Some(e.class()),
                e.retry_after(),
                e.should_retry(),
                timed_out,
            )
        } else {
            Failure::error(e, None, None, None, timed_out)
        }
    }
    #[inline]
    fn by_default(&self, _: &Failure<'a, E>) -> bool {
        true
    }
}

/// `Classify` types: the default rule is `Transient`.
pub trait ByClassify<'a, E> {
    /// See [`ByFeature::failure`].
    fn failure(&self, timed_out: bool, explicit: bool) -> Failure<'a, E>;
    /// See [`ByFeature::by_default`].
    fn by_default(&self, failure: &Failure<'a, E>) -> bool;
}

impl<'a, E: Classify> ByClassify<'a, E> for &Probe<'a, E> {
    #[inline]
    fn failure(&self, timed_out: bool, _: bool) -> Failure<'a, E> {
        let e = self.0;
        Failure::error(
            e,
            Some(e.class()),
            e.retry_after(),
            e.should_retry(),
            timed_out,
        )
    }
    #[inline]
    fn by_default(&self, failure: &Failure<'a, E>) -> bool {
        ClassSet::TRANSIENT.matches(failure.class)
    }
}

/// Types without `Classify`: no class (but `Timeout` for a timed-out
/// attempt), and every error is retried by default.
pub trait Unclassified<'a, E> {
    /// See [`ByFeature::failure`].
    fn failure(&self, timed_out: bool, explicit: bool) -> Failure<'a, E>;
    /// See [`ByFeature::by_default`].
    fn by_default(&self, failure: &Failure<'a, E>) -> bool;
}

impl<'a, E> Unclassified<'a, E> for Probe<'a, E> {
    #[inline]
    fn failure(&self, timed_out: bool, _: bool) -> Failure<'a, E> {
        Failure::error(self.0, None, None, None, timed_out)
    }
    #[inline]
    fn by_default(&self, _: &Failure<'a, E>) -> bool {
        true
    }
}

/// The error as text for the DEBUG event, when its type has `Display`:
/// `(&Show(e)).shown()`.
pub struct Show<'a, E>(pub &'a E);

/// The error's type has `Display`.
pub trait ShowDisplay<'a> {
    /// The error as `Display`.
    fn shown(&self) -> Option<&'a dyn std::fmt::Display>;
}

impl<'a, E: std::fmt::Display> ShowDisplay<'a> for Show<'a, E> {
    #[inline(always)]
    fn shown(&self) -> Option<&'a dyn std::fmt::Display> {
        Some(self.0)
    }
}

/// The error's type has no `Display`: nothing is shown.
pub trait ShowNothing<'a> {
    /// `None`.
    fn shown(&self) -> Option<&'a dyn std::fmt::Display>;
}

impl<'a, E> ShowNothing<'a> for &Show<'a, E> {
    #[inline(always)]
    fn shown(&self) -> Option<&'a dyn std::fmt::Display> {
        None
    }
}

/// A class rule on an error type: checks at compile time that it implements
/// `Classify` (the call is spanned at the rule's token).
#[inline(always)]
pub fn needs_classify<E: Classify>(_: &E) {}

/// A user's wait expression, checked to be a [`Wait`](crate::Wait) where it
/// is written (the opaque return type keeps the error from repeating).
#[inline(always)]
pub fn as_wait<W: crate::Wait>(wait: W) -> impl crate::Wait {
    wait
}

/// Evaluates a predicate rule.
#[inline(always)]
pub fn predicate<E, F: Fn(&E) -> bool>(error: &E, f: F) -> bool {
    f(error)
}

/// Evaluates `when_ok`.
#[inline(always)]
pub fn reject_ok<T, F: Fn(&T) -> bool>(value: &T, f: F) -> bool {
    f(value)
}

/// The result type of the function, as a value: lets hooks be typed by it.
pub struct Types<R>(PhantomData<fn() -> R>);

impl<R> Types<R> {
    /// The types of `outcome`.
    #[inline(always)]
    pub fn of(_: &R) -> Self {
        Types(PhantomData)
    }
}

/// Types a hook expression as a `Fn(&RetryState<'_, E>)` for the function's
/// error type, so that closures need no annotations. Taking it as a trait
/// object keeps a hook of the wrong type to one error, at the hook (a call
/// through it happens only on a failure).
#[inline(always)]
pub fn hook<'h, R: IsResult>(
    _: &Types<R>,
    h: &'h dyn Fn(&RetryState<'_, R::Err>),
) -> &'h dyn Fn(&RetryState<'_, R::Err>) {
    h
}

/// The hook when none is given.
#[inline(always)]
pub fn no_hook<E>(_: &RetryState<'_, E>) {}

/// The function's return type must be a `Result`.
#[diagnostic::on_unimplemented(
    message = "`#[retry]` needs a function that returns `Result`, not `{Self}`",
    label = "this must be a `Result<T, E>` (an alias such as `std::io::Result<T>` is fine)",
    note = "an attempt fails when it returns `Err`; a function that cannot fail has nothing to retry"
)]
pub trait IsResult {
    /// The `Ok` type.
    type Ok;
    /// The `Err` type.
    type Err;
}

impl<T, E> IsResult for Result<T, E> {
    type Ok = T;
    type Err = E;
}

/// The function's return type, as a value: splits an attempt's outcome into
/// a `Result` and joins it back. For a return type that is not a `Result`,
/// [`NotAResult`] keeps the rest of the expansion well-typed, so that the
/// one error the user sees is [`check_result`]'s, at the return type.
pub struct Ret<R>(PhantomData<fn() -> R>);

impl<R> Ret<R> {
    /// The marker.
    #[inline(always)]
    pub fn new() -> Self {
        Ret(PhantomData)
    }
}

impl<R> Default for Ret<R> {
    fn default() -> Self {
        Ret::new()
    }
}

/// Checks, at the user's return type, that it is a `Result`.
#[inline(always)]
pub fn check_result<R: IsResult>() {}

/// [`check_result`] for a return type with `impl Trait` inside (which
/// cannot be named in full).
#[inline(always)]
pub fn check_result_of<R: IsResult>(_: &Ret<R>) {}

/// The split of a `Result` return type.
pub trait AsResult {
    /// The return type.
    type Ret;
    /// Its `Ok` type.
    type Ok;
    /// Its `Err` type.
    type Err;
    /// The outcome as a `Result`.
    fn split(&self, outcome: Self::Ret) -> Result<Self::Ok, Self::Err>;
    /// The `Result` as the outcome.
    fn join(&self, result: Result<Self::Ok, Self::Err>) -> Self::Ret;
}

impl<T, E> AsResult for Ret<Result<T, E>> {
    type Ret = Result<T, E>;
    type Ok = T;
    type Err = E;
    #[inline(always)]
    fn split(&self, outcome: Result<T, E>) -> Result<T, E> {
        outcome
    }
    #[inline(always)]
    fn join(&self, result: Result<T, E>) -> Result<T, E> {
        result
    }
}

/// The stand-in for a return type that is not a `Result` (a compile error
/// already, reported once by [`check_result`]).
pub trait NotAResult {
    /// The return type.
    type Ret;
    /// No `Ok`.
    type Ok;
    /// No `Err`.
    type Err;
    /// Never runs: the program does not compile.
    fn split(&self, outcome: Self::Ret) -> Result<Self::Ok, Self::Err>;
    /// Never runs: the program does not compile.
    fn join(&self, result: Result<Self::Ok, Self::Err>) -> Self::Ret;
}

impl<R> NotAResult for &Ret<R> {
    type Ret = R;
    type Ok = std::convert::Infallible;
    type Err = std::convert::Infallible;
    fn split(&self, _: R) -> Result<Self::Ok, Self::Err> {
        unreachable!("a return type that is not a `Result` does not compile")
    }
    fn join(&self, result: Result<Self::Ok, Self::Err>) -> R {
        match result {
            Ok(never) | Err(never) => match never {},
        }
    }
}

/// Clones a by-value argument for one attempt.
#[diagnostic::on_unimplemented(
    message = "`#[retry]` passes this argument to every attempt, but `{Self}` is not `Clone`",
    label = "each attempt needs its own `{Self}`",
    note = "take the argument by reference (`&{Self}`), or implement `Clone` for it"
)]
pub trait CloneArg: Sized {
    /// A copy for the next attempt.
    fn clone_arg(&self) -> Self;
}

impl<T: Clone> CloneArg for T {
    #[inline(always)]
    fn clone_arg(&self) -> Self {
        self.clone()
    }
}

/// Re-borrows a `self: Pin<&mut Self>` receiver for one attempt.
#[inline(always)]
pub fn reborrow_pin<'a, T: ?Sized>(pin: &'a mut Pin<&mut T>) -> Pin<&'a mut T> {
    pin.as_mut()
}

/// An error type that a timed-out attempt can be turned into.
#[diagnostic::on_unimplemented(
    message = "`timeout` needs `{Self}` to be built from `retry_runtime::Elapsed`",
    label = "a timed-out attempt must become a `{Self}`",
    note = "add `impl From<retry_runtime::Elapsed> for {Self}` (std::io::Error has it)"
)]
pub trait FromElapsed {
    /// The error for a timed-out attempt.
    fn from_elapsed(e: Elapsed) -> Self;
}

impl<E: From<Elapsed>> FromElapsed for E {
    #[inline]
    fn from_elapsed(e: Elapsed) -> Self {
        E::from(e)
    }
}

/// Autoref specialisation over the return type: `(&&ElapsedProbe::of(&ret)).ends()`
/// is how to build `Err(E::from(Elapsed))` when `E` has that conversion
/// ([`EndsWithElapsed`]), and `None` otherwise ([`CannotEnd`]): a call
/// whose deadline a fleet's hold would outlast ends at once with it.
pub struct ElapsedProbe<R>(PhantomData<fn() -> R>);

impl<R> ElapsedProbe<R> {
    /// The probe of the return type `marker` stands for.
    #[inline(always)]
    pub fn of(_: &Ret<R>) -> Self {
        ElapsedProbe(PhantomData)
    }
}

/// The error type is built from [`Elapsed`].
pub trait EndsWithElapsed<R> {
    /// The timed-out outcome.
    fn ends(&self) -> Option<fn() -> R>;
}

impl<T, E: From<Elapsed>> EndsWithElapsed<Result<T, E>> for &ElapsedProbe<Result<T, E>> {
    #[inline(always)]
    fn ends(&self) -> Option<fn() -> Result<T, E>> {
        Some(|| Err(E::from(Elapsed::new())))
    }
}

/// The error type is not built from [`Elapsed`] (or the return type is not
/// a `Result`).
pub trait CannotEnd<R> {
    /// `None`.
    fn ends(&self) -> Option<fn() -> R>;
}

impl<R> CannotEnd<R> for ElapsedProbe<R> {
    #[inline(always)]
    fn ends(&self) -> Option<fn() -> R> {
        None
    }
}

/// A timed-out attempt's error.
#[inline]
pub fn timed_out<E: FromElapsed>() -> E {
    FromElapsed::from_elapsed(Elapsed::new())
}

/// Runs one attempt with a time limit; `(outcome, timed_out)`. `expired`
/// builds the outcome of an attempt that ran out of time ([`timed_out`]).
/// Without a limit the attempt runs as it is.
#[inline]
pub async fn with_timeout<R, F, X>(limit: Option<Duration>, attempt: F, expired: X) -> (R, bool)
where
    F: Future<Output = R>,
    X: FnOnce() -> R,
{
    match limit {
        None => (attempt.await, false),
        // No time left (a sleep that ended late at the deadline): the
        // attempt is not started at all, not even polled once.
        Some(limit) if limit.is_zero() => (expired(), true),
        Some(limit) => match tokio::time::timeout(limit, attempt).await {
            Ok(outcome) => (outcome, false),
            Err(_) => (expired(), true),
        },
    }
}

/// One attempt's future, its output tied to the function's return type.
#[inline(always)]
pub fn attempt<R, F: Future<Output = R>>(future: F) -> F {
    future
}

/// The async pause between attempts: a tokio sleep, or for a zero delay one
/// trip through the executor (so that `wait = none` with many attempts does
/// not starve other tasks, and needs no timer). The delay is not kept: the
/// future is the size of a `Sleep`.
#[inline]
pub fn pause(delay: Duration) -> Pause {
    if delay.is_zero() {
        Pause::Yield(false)
    } else {
        Pause::Sleep(tokio::time::sleep(delay))
    }
}

/// See [`pause`].
pub enum Pause {
    /// Yields once.
    Yield(bool),
    /// Sleeps.
    Sleep(tokio::time::Sleep),
}

impl Future for Pause {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // SAFETY: the `Sleep` is never moved out of the pinned enum, and the
        // enum never changes variant once created.
        match unsafe { self.get_unchecked_mut() } {
            Pause::Yield(yielded) => {
                if *yielded {
                    Poll::Ready(())
                } else {
                    *yielded = true;
                    cx.waker().wake_by_ref();
                    Poll::Pending
                }
            }
            // SAFETY: `sleep` lives in the pinned enum and is never moved.
            Pause::Sleep(sleep) => unsafe { Pin::new_unchecked(sleep) }.poll(cx),
        }
    }
}

/// The blocking sleep between attempts.
#[inline]
pub fn sleep_blocking(delay: Duration) {
    if !delay.is_zero() {
        std::thread::sleep(delay);
    }
}

/// The fleet's cool-down, asked of a budget and of a breaker alike (their
/// traits carry the same three methods): `hold` reads the clock only when
/// the member is shared.
macro_rules! fleet_cool_down {
    () => {
        const HOLDS: bool = cfg!(feature = "redis");
        #[inline]
        fn hold<C: Clock>(&self, now: &Now<C>) -> Duration {
            if self.0.holds() {
                self.0.hold(now.ticks())
            } else {
                Duration::ZERO
            }
        }
        #[inline]
        fn rate_limited<C: Clock>(&self, delay: Duration, now: &Now<C>) {
            self.0.rate_limited(now.ticks().saturating_add(delay));
        }
    };
}

/// `budget = PATH`: a call deposits when it starts, a retry withdraws.
#[derive(Clone, Copy)]
pub struct BudgetGate(pub &'static dyn crate::RetryBudget);

impl std::fmt::Debug for BudgetGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BudgetGate")
    }
}

impl Observer for BudgetGate {
    const NEEDS_CLOCK: bool = true;
    const GUARDS: bool = true;
    fleet_cool_down!();
    #[inline]
    fn call_started<C: Clock>(&self, now: &Now<C>) {
        self.0.deposit(now.ticks());
    }
    #[inline]
    fn admit<C: Clock>(&self, _: u32, _: Duration, now: &Now<C>) -> Result<(), crate::GiveUp> {
        if self.0.try_withdraw(now.ticks()) {
            Ok(())
        } else {
            Err(crate::GiveUp::BudgetExhausted)
        }
    }
    #[inline]
    fn retry_abandoned(&self, admitted_at: Duration) {
        self.0.give_back(admitted_at);
    }
}

/// `breaker = PATH`: every attempt asks it first and reports to it after.
#[derive(Clone, Copy)]
pub struct BreakerGate(pub &'static dyn crate::Breaker);

impl std::fmt::Debug for BreakerGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BreakerGate")
    }
}

impl Observer for BreakerGate {
    const NEEDS_CLOCK: bool = true;
    const GUARDS: bool = true;
    fleet_cool_down!();
    /// Open now: a call is refused before it waits out a fleet's hold.
    #[inline]
    fn refuses<C: Clock>(&self, now: &Now<C>) -> bool {
        self.0.refuses_at(now.ticks())
    }
    /// Before a sleep: will it still be open when the sleep ends?
    #[inline]
    fn admit<C: Clock>(&self, _: u32, delay: Duration, now: &Now<C>) -> Result<(), crate::GiveUp> {
        if self.0.refuses_at(now.ticks().saturating_add(delay)) {
            Err(crate::GiveUp::BreakerOpen)
        } else {
            Ok(())
        }
    }
    /// Right before an attempt: may it run (the trial included)?
    #[inline]
    fn admit_attempt<C: Clock>(&self, _: u32, now: &Now<C>) -> Result<Permit, crate::GiveUp> {
        self.0.admit(now.ticks()).ok_or(crate::GiveUp::BreakerOpen)
    }
    #[inline]
    fn attempt_succeeded<C: Clock>(&self, _: u32, permit: Permit, now: &Now<C>) {
        self.0.record(now.ticks(), false, permit);
    }
    #[inline]
    fn attempt_failed<C: Clock>(
        &self,
        _: u32,
        _: Option<Class>,
        retryable: bool,
        permit: Permit,
        now: &Now<C>,
    ) {
        self.0.record(now.ticks(), retryable, permit);
    }
    #[inline]
    fn attempt_cancelled(&self, permit: Permit) {
        self.0.cancel(permit);
    }
}

/// `wait = adaptive(..)`: every attempt's outcome goes into the window that
/// the wait reads.
#[derive(Clone, Copy, Debug)]
pub struct WindowGate(pub &'static crate::AdaptiveWindow);

impl Observer for WindowGate {
    #[inline]
    fn attempt_succeeded<C: Clock>(&self, _: u32, _: Permit, now: &Now<C>) {
        // Read when the attempt ended, however long it ran.
        self.0.record_at(now.ticks(), false);
    }
    #[inline]
    fn attempt_failed<C: Clock>(
        &self,
        _: u32,
        _: Option<Class>,
        retryable: bool,
        _: Permit,
        now: &Now<C>,
    ) {
        self.0.record_at(now.ticks(), retryable);
    }
    #[inline]
    fn window(&self) -> Option<&crate::AdaptiveWindow> {
        Some(self.0)
    }
}

pub use crate::AdaptiveWindow;

/// The error type of a function with `breaker = ..` must be built from
/// [`CircuitOpen`](crate::CircuitOpen).
#[diagnostic::on_unimplemented(
    message = "`breaker = ..` needs the error type to implement `From<retry_runtime::CircuitOpen>`, which `{Self}` does not",
    label = "a call the open breaker refuses returns `E::from(CircuitOpen)`",
    note = "implement `From<retry_runtime::CircuitOpen>` for `{Self}` (`std::io::Error` and `http::Error` have it)"
)]
pub trait FromCircuitOpen {
    /// The error.
    fn circuit_open() -> Self;
}

impl<E: From<crate::CircuitOpen>> FromCircuitOpen for E {
    fn circuit_open() -> Self {
        E::from(crate::CircuitOpen)
    }
}

/// The error of a call the open breaker refused.
#[cold]
pub fn circuit_open<E: FromCircuitOpen>() -> E {
    E::circuit_open()
}
