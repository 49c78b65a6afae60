//! Items the `#[retry]` expansion calls. Not public API: no stability
//! promise, and nothing public depends on it.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;

pub use crate::counters::clock::{Clock, Now, StdClock, TokioClock};
pub use crate::engine::Attempt;
pub use crate::engine::{
    Call, DEFAULT_ATTEMPTS, Ended, Failure, Limits, Matched, Observer, RetryAfter, Settings,
    SettingsSource, Step,
};
pub use crate::observe::stats::{Recorder, Stats};
pub use crate::policy::Elapsed;
pub use crate::policy::RetryState;
pub use crate::policy::chain::ClassifiedByFeature;
pub use crate::policy::class::{Class, ClassSet, Classify};
pub use crate::policy::defaults::ADAPTIVE_WINDOW;
pub use crate::policy::wait;
pub use crate::protect::Permit;
pub use core;
// The variants the expansion matches and builds, named through this module
// (`__retry_rt::Ok(..)`): a user's own `Ok` in scope cannot take their place.
pub use core::option::Option::{None, Some};
pub use core::result::Result::{Err, Ok};

/// The traits the expansion's autoref probes resolve through, each imported
/// as `_`: the expansion brings them all into scope with one glob
/// (`use __private::probes::*`).
pub mod probes {
    pub use super::{
        AsResult as _, ByClassify as _, ByFeature as _, CannotEnd as _, EndsWithElapsed as _,
        NotAResult as _, ShowDisplay as _, ShowNothing as _, Unclassified as _,
    };
}

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
    /// The attempt's failure, with whether the default rule retries it
    /// ([`Failure::by_default`]).
    fn failure(&self, timed_out: bool, explicit: bool) -> Failure<'a, E>;
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
}

/// `Classify` types: the default rule is `Transient`.
pub trait ByClassify<'a, E> {
    /// See [`ByFeature::failure`].
    fn failure(&self, timed_out: bool, explicit: bool) -> Failure<'a, E>;
}

impl<'a, E: Classify> ByClassify<'a, E> for &Probe<'a, E> {
    #[inline]
    fn failure(&self, timed_out: bool, _: bool) -> Failure<'a, E> {
        let e = self.0;
        let mut failure = Failure::error(
            e,
            Some(e.class()),
            e.retry_after(),
            e.should_retry(),
            timed_out,
        );
        failure.by_default = ClassSet::TRANSIENT.matches(failure.class);
        failure
    }
}

/// Types without `Classify`: no class (but `Timeout` for a timed-out
/// attempt), and every error is retried by default.
pub trait Unclassified<'a, E> {
    /// See [`ByFeature::failure`].
    fn failure(&self, timed_out: bool, explicit: bool) -> Failure<'a, E>;
}

impl<'a, E> Unclassified<'a, E> for Probe<'a, E> {
    #[inline]
    fn failure(&self, timed_out: bool, _: bool) -> Failure<'a, E> {
        Failure::error(self.0, None, None, None, timed_out)
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

/// One attempt's future, its output tied to the function's return type.
#[inline(always)]
pub fn attempt<R, F: Future<Output = R>>(future: F) -> F {
    future
}

pub use crate::engine::gates::{BreakerGate, BudgetGate, WindowGate};
pub use crate::engine::sleep::{Pause, pause, sleep_blocking, with_timeout};
pub use crate::protect::AdaptiveWindow;

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

/// `policy = NAME`: the builder classifies as the attribute does, by autoref
/// specialisation over the error type:
/// `(&&&PolicyProbe::<T, E>::new()).classified(builder)` calls
/// [`Retrying::classify`](crate::Retrying::classify) for a `Classify` type
/// that is not classified only through a cargo feature (for those, and for
/// unclassified types, the class rules the attribute names teach the
/// builder the classes).
pub struct PolicyProbe<T, E>(PhantomData<fn() -> (T, E)>);

impl<T, E> PolicyProbe<T, E> {
    /// The probe.
    pub fn new() -> Self {
        PolicyProbe(PhantomData)
    }
}

impl<T, E> Default for PolicyProbe<T, E> {
    fn default() -> Self {
        PolicyProbe::new()
    }
}

/// See [`PolicyProbe`]: types classified through a feature.
pub trait PolicyByFeature<T, E> {
    /// The builder, classified as the attribute classifies `E`.
    fn classified(&self, policy: crate::Retrying<T, E>) -> crate::Retrying<T, E>;
}

impl<T, E: Classify + ClassifiedByFeature> PolicyByFeature<T, E> for &&PolicyProbe<T, E> {
    fn classified(&self, policy: crate::Retrying<T, E>) -> crate::Retrying<T, E> {
        policy
    }
}

/// See [`PolicyProbe`]: every other `Classify` type.
pub trait PolicyByClassify<T, E> {
    /// See [`PolicyByFeature::classified`].
    fn classified(&self, policy: crate::Retrying<T, E>) -> crate::Retrying<T, E>;
}

impl<T, E: Classify> PolicyByClassify<T, E> for &PolicyProbe<T, E> {
    fn classified(&self, policy: crate::Retrying<T, E>) -> crate::Retrying<T, E> {
        policy.classify()
    }
}

/// See [`PolicyProbe`]: types without `Classify`.
pub trait PolicyUnclassified<T, E> {
    /// See [`PolicyByFeature::classified`].
    fn classified(&self, policy: crate::Retrying<T, E>) -> crate::Retrying<T, E>;
}

impl<T, E> PolicyUnclassified<T, E> for PolicyProbe<T, E> {
    fn classified(&self, policy: crate::Retrying<T, E>) -> crate::Retrying<T, E> {
        policy
    }
}

/// The source of one annotated function's settings for its call
/// ([`SettingsSource`]), given its observers' type and its `static`: in a
/// build without debug assertions (a release build) a type of the
/// function's own, so that an optimised build reads the settings as
/// constants after every `.await`; with debug assertions (a debug build)
/// the reference (a type per function would compile the engine's decision
/// again for every function, and be type-checked for nothing). The switch
/// is `debug_assertions`, the only setting of the user's profile a crate
/// can see, not the optimisation level. Written here once rather than by
/// the attribute for every function: rustc expands it faster than the
/// attribute writes it. The derives are named by path
/// (`#![no_implicit_prelude]`); derived, they are `automatically_derived`
/// for lints.
#[doc(hidden)]
#[macro_export]
macro_rules! __retry_settings_source {
    ($observer:ty, $settings:ident) => {{
        #[cfg(not(debug_assertions))]
        #[derive(::core::clone::Clone, ::core::marker::Copy)]
        struct __RetrySettings;
        #[cfg(not(debug_assertions))]
        impl $crate::__private::SettingsSource<'static, $observer> for __RetrySettings {
            #[inline(always)]
            fn settings(self) -> &'static $crate::__private::Settings<$observer> {
                &$settings
            }
        }
        #[cfg(debug_assertions)]
        let source = &$settings;
        #[cfg(not(debug_assertions))]
        let source = __RetrySettings;
        source
    }};
}

pub use crate::__retry_settings_source as settings_source;
