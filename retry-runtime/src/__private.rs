//! Items the `#[retry]` expansion calls. Not public API: no stability promise.

use std::future::Future;
use std::marker::PhantomData;
use std::time::Duration;

pub use crate::class::{Class, ClassSet, Classify};
pub use crate::engine::{
    Call, Elapsed, Failure, Limits, RetryAfter, RetryState, Settings, StdClock, TokioClock,
};
pub use crate::wait;
pub use core;

/// Autoref specialization: `(&Probe(&e)).probe_class()` uses [`Classify`]
/// when the (concrete) error type implements it, and [`Unclassified`]
/// otherwise. For a generic error type without a `Classify` bound, the
/// fallback is always taken.
pub struct Probe<'a, E>(pub &'a E);

/// The `Classify` side of [`Probe`].
pub trait Classified {
    /// The class, or `Timeout` when the attempt timed out.
    fn probe_class(&self, timed_out: bool) -> Option<Class>;
    /// The server's requested delay.
    fn probe_retry_after(&self) -> Option<Duration>;
    /// The default `on`: transient failures.
    fn probe_default(&self, class: Option<Class>) -> bool;
    /// The server's verdict.
    fn probe_should_retry(&self) -> Option<bool>;
}

impl<E: Classify> Classified for Probe<'_, E> {
    #[inline]
    fn probe_class(&self, timed_out: bool) -> Option<Class> {
        Some(if timed_out {
            Class::Timeout
        } else {
            self.0.class()
        })
    }
    #[inline]
    fn probe_retry_after(&self) -> Option<Duration> {
        self.0.retry_after()
    }
    #[inline]
    fn probe_default(&self, class: Option<Class>) -> bool {
        ClassSet::TRANSIENT.matches(class)
    }
    #[inline]
    fn probe_should_retry(&self) -> Option<bool> {
        self.0.should_retry()
    }
}

/// The fallback side of [`Probe`]: no class, no requested delay, and every
/// error is retried by default.
pub trait Unclassified {
    /// See [`Classified::probe_class`].
    fn probe_class(&self, timed_out: bool) -> Option<Class>;
    /// See [`Classified::probe_retry_after`].
    fn probe_retry_after(&self) -> Option<Duration>;
    /// See [`Classified::probe_default`].
    fn probe_default(&self, class: Option<Class>) -> bool;
    /// See [`Classified::probe_should_retry`].
    fn probe_should_retry(&self) -> Option<bool>;
}

impl<E> Unclassified for &Probe<'_, E> {
    #[inline]
    fn probe_class(&self, timed_out: bool) -> Option<Class> {
        if timed_out {
            Some(Class::Timeout)
        } else {
            None
        }
    }
    #[inline]
    fn probe_retry_after(&self) -> Option<Duration> {
        None
    }
    #[inline]
    fn probe_default(&self, _: Option<Class>) -> bool {
        true
    }
    #[inline]
    fn probe_should_retry(&self) -> Option<bool> {
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
/// error type, so that closures need no annotations.
#[inline(always)]
pub fn hook<R: IsResult, H: Fn(&RetryState<'_, R::Err>)>(_: &Types<R>, h: H) -> H {
    h
}

/// The hook when none is given.
#[inline(always)]
pub fn no_hook<E>(_: &RetryState<'_, E>) {}

/// A `Failure` with no error (a rejected `Ok`), typed by the function's error.
#[inline(always)]
pub fn rejected<'a, R: IsResult>(_: &Types<R>) -> Failure<'a, R::Err> {
    Failure {
        error: None,
        class: None,
        retry_after: None,
    }
}

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
    /// Splits into a `Result`.
    fn into_result(self) -> Result<Self::Ok, Self::Err>;
    /// Joins from a `Result`.
    fn from_result(r: Result<Self::Ok, Self::Err>) -> Self;
}

impl<T, E> IsResult for Result<T, E> {
    type Ok = T;
    type Err = E;
    #[inline(always)]
    fn into_result(self) -> Self {
        self
    }
    #[inline(always)]
    fn from_result(r: Self) -> Self {
        r
    }
}

/// Checks, at the user's return type, that it is a `Result`.
#[inline(always)]
pub fn assert_result<R: IsResult>() {}

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

/// A timed-out attempt's outcome.
#[inline]
pub fn timed_out<R: IsResult>() -> R
where
    R::Err: FromElapsed,
{
    R::from_result(Err(FromElapsed::from_elapsed(Elapsed::new())))
}

/// Runs one attempt with a time limit; `(outcome, timed_out)`. `expired`
/// builds the outcome of an attempt that ran out of time ([`timed_out`]).
#[inline]
pub async fn with_timeout<R, F, X>(limit: Duration, attempt: F, expired: X) -> (R, bool)
where
    F: Future<Output = R>,
    X: FnOnce() -> R,
{
    match tokio::time::timeout(limit, attempt).await {
        Ok(outcome) => (outcome, false),
        Err(_) => (expired(), true),
    }
}

/// One attempt's future, its output tied to the function's return type.
#[inline(always)]
pub fn attempt<R, F: Future<Output = R>>(future: F) -> F {
    future
}

/// The async sleep between attempts (none for a zero delay).
#[inline]
pub async fn sleep(delay: Duration) {
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
}

/// The blocking sleep between attempts.
#[inline]
pub fn sleep_blocking(delay: Duration) {
    if !delay.is_zero() {
        std::thread::sleep(delay);
    }
}
