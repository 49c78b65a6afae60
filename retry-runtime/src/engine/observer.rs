//! Who hears a call's events and may refuse an attempt: statistics, retry
//! budgets, circuit breakers and adaptive windows (see [`gates`](super::gates)).

use std::time::Duration;

use crate::counters::clock::{Clock, Now};
use crate::policy::{Class, GiveUp};
use crate::protect::{AdaptiveWindow, Permit};

/// How a call ended, as an [`Observer`] is told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ended {
    /// The attempts made, the first included.
    pub attempts: u32,
    /// `None` when the last attempt succeeded; otherwise why the call gave up.
    pub gave_up: Option<GiveUp>,
    /// Whether the call returns an error (a rejected `Ok` is returned as it is).
    pub error: bool,
    /// The class of the last failure, when the call gave up on one that has
    /// a class.
    pub class: Option<Class>,
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
    /// A stream's running attempt, let through with `permit`, delivered its
    /// first item at `now` (a replayed one included): the API answers. A
    /// half-open breaker's trial has its answer then (a success), rather
    /// than when a stream of a minute ends; the attempt's outcome is still
    /// told when it ends. Returns the permit the attempt holds from now on.
    /// Told once per attempt, only when [`Observer::GUARDS`], and only for
    /// a [`Permit::Trial`].
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn attempt_answered<C: Clock>(&self, permit: Permit, now: &Now<C>) -> Permit {
        let _ = now;
        permit
    }
    /// Attempt `attempt`, let through with `permit`, will never end: the
    /// call was dropped while it ran (told only when [`Observer::GUARDS`]).
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn attempt_cancelled<C: Clock>(&self, attempt: u32, permit: Permit, now: &Now<C>) {
        let _ = (attempt, permit, now);
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
    /// The call gave up with an error, and the function's `fallback` is
    /// called instead (after [`Observer::call_ended`]).
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn fell_back(&self) {}
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

/// Forwards every event to `$inner` (an expression of `self`: an
/// `Option<&$to>`).
macro_rules! forward {
    ($([$($generics:tt)*] $ty:ty => $to:ty, |$me:ident| $inner:expr;)*) => {$(
        const _: () = {
        #[allow(unused_imports)]
        use {
            ::std::time::Duration,
            $crate::counters::clock::{Clock, Now},
            $crate::engine::{Ended, Observer},
            $crate::policy::{Class, GiveUp},
            $crate::protect::{AdaptiveWindow, Permit},
        };
        impl<$($generics)*> Observer for $ty {
            const NEEDS_CLOCK: bool = <$to as Observer>::NEEDS_CLOCK;
            const HOLDS: bool = <$to as Observer>::HOLDS;
            const GUARDS: bool = <$to as Observer>::GUARDS;
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
            fn attempt_answered<C: Clock>(&self, permit: Permit, now: &Now<C>) -> Permit {
                let $me = self;
                match $inner { Some(o) => o.attempt_answered(permit, now), None => permit }
            }
            #[cfg_attr(not(debug_assertions), inline(always))]
            fn attempt_cancelled<C: Clock>(&self, attempt: u32, permit: Permit, now: &Now<C>) {
                let $me = self;
                if let Some(o) = $inner { o.attempt_cancelled(attempt, permit, now) }
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
            fn fell_back(&self) {
                let $me = self;
                if let Some(o) = $inner { o.fell_back() }
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
        };
    )*};
}

pub(crate) use forward;

forward! {
    [O: Observer] &O => O, |me| Some(&**me);
    [O: Observer] Option<O> => O, |me| me.as_ref();
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
            fn attempt_answered<C: Clock>(&self, permit: Permit, now: &Now<C>) -> Permit {
                // One breaker at most holds a trial: each passes the permit on.
                $(let permit = self.$index.attempt_answered(permit, now);)+
                permit
            }
            #[cfg_attr(not(debug_assertions), inline(always))]
            fn attempt_cancelled<C: Clock>(&self, attempt: u32, permit: Permit, now: &Now<C>) {
                $(self.$index.attempt_cancelled(attempt, permit, now);)+
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
            fn fell_back(&self) {
                $(self.$index.fell_back();)+
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
