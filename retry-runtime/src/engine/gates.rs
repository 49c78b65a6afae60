//! The protections as the engine's observers: `budget = ..`, `breaker = ..`
//! and `wait = adaptive(..)` become gates a call asks and tells.

use std::time::Duration;

use super::observer::Observer;
use crate::counters::clock::{Clock, Now};
use crate::policy::{Class, GiveUp};
use crate::protect::{AdaptiveWindow, Breaker, CoolDown, Permit, RetryBudget};

/// The cool-down a budget or breaker shares (a fleet's, on Redis, or a
/// user's own [`CoolDown`]): read (and the clock with it) only when it has
/// one, in every build.
#[inline]
fn hold<C: Clock>(cool_down: Option<&dyn CoolDown>, now: &Now<C>) -> Duration {
    match cool_down {
        Some(c) => c.hold(now.ticks()),
        None => Duration::ZERO,
    }
}

/// Tells a shared member's group that the server asked to wait `delay`.
#[inline]
fn rate_limited<C: Clock>(cool_down: Option<&dyn CoolDown>, delay: Duration, now: &Now<C>) {
    if let Some(c) = cool_down {
        c.rate_limited(now.ticks().saturating_add(delay));
    }
}

/// `budget = PATH`: a call deposits when its first attempt ends (however
/// long it ran, its deposit is in the window when its retry asks), a retry
/// withdraws.
#[derive(Clone, Copy)]
pub struct BudgetGate(pub &'static dyn RetryBudget);

impl std::fmt::Debug for BudgetGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BudgetGate")
    }
}

impl Observer for BudgetGate {
    const GUARDS: bool = true;
    const HOLDS: bool = true;
    #[inline]
    fn hold<C: Clock>(&self, now: &Now<C>) -> Duration {
        hold(self.0.cool_down(), now)
    }
    #[inline]
    fn rate_limited<C: Clock>(&self, delay: Duration, now: &Now<C>) {
        rate_limited(self.0.cool_down(), delay, now);
    }
    /// The call's deposit, when its first attempt ends: with the clock
    /// read for the breaker's record, and before the retry's withdrawal.
    #[inline]
    fn attempt_succeeded<C: Clock>(&self, attempt: u32, _: Permit, now: &Now<C>) {
        if attempt == 1 {
            self.0.deposit(now.ticks());
        }
    }
    #[inline]
    fn attempt_failed<C: Clock>(
        &self,
        attempt: u32,
        _: Option<Class>,
        _: bool,
        _: Permit,
        now: &Now<C>,
    ) {
        if attempt == 1 {
            self.0.deposit(now.ticks());
        }
    }
    /// A call dropped during its first attempt (a `select!`, a timeout of
    /// the caller's own, a consumer that stopped reading) still made it.
    #[inline]
    fn attempt_cancelled<C: Clock>(&self, attempt: u32, _: Permit, now: &Now<C>) {
        if attempt == 1 {
            self.0.deposit(now.ticks());
        }
    }
    #[inline]
    fn admit<C: Clock>(&self, _: u32, _: Duration, now: &Now<C>) -> Result<(), GiveUp> {
        if self.0.try_withdraw(now.ticks()) {
            Ok(())
        } else {
            Err(GiveUp::BudgetExhausted)
        }
    }
    #[inline]
    fn retry_abandoned(&self, admitted_at: Duration) {
        self.0.give_back(admitted_at);
    }
}

/// `breaker = PATH`: every attempt asks it first and reports to it after.
#[derive(Clone, Copy)]
pub struct BreakerGate(pub &'static dyn Breaker);

impl std::fmt::Debug for BreakerGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BreakerGate")
    }
}

impl Observer for BreakerGate {
    const GUARDS: bool = true;
    const HOLDS: bool = true;
    #[inline]
    fn hold<C: Clock>(&self, now: &Now<C>) -> Duration {
        hold(self.0.cool_down(), now)
    }
    #[inline]
    fn rate_limited<C: Clock>(&self, delay: Duration, now: &Now<C>) {
        rate_limited(self.0.cool_down(), delay, now);
    }
    /// Open now: a call is refused before it waits out a fleet's hold.
    #[inline]
    fn refuses<C: Clock>(&self, now: &Now<C>) -> bool {
        self.0.refuses_at(now.ticks())
    }
    /// Before a sleep: will it still be open when the sleep ends?
    #[inline]
    fn admit<C: Clock>(&self, _: u32, delay: Duration, now: &Now<C>) -> Result<(), GiveUp> {
        if self.0.refuses_at(now.ticks().saturating_add(delay)) {
            Err(GiveUp::BreakerOpen)
        } else {
            Ok(())
        }
    }
    /// Right before an attempt: may it run (the trial included)? No clock
    /// read while it is closed.
    #[inline]
    fn admit_attempt<C: Clock>(&self, _: u32, now: &Now<C>) -> Result<Permit, GiveUp> {
        match self.0.admit_closed() {
            Some(permit) => Ok(permit),
            None => self.0.admit(now.ticks()).ok_or(GiveUp::BreakerOpen),
        }
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
    /// A trial that answers closes the breaker (its success, recorded now);
    /// the attempt then holds the closed period's permit, so that its end
    /// (a break, say) counts in the window like any other attempt's. A
    /// trial that finds the breaker closed already (another trial closed
    /// it after this one went past `trial_timeout`) is old news, and keeps
    /// its permit: its end is not counted (unless the other trial closes it
    /// between this look and this trial's record: its end then counts in
    /// the new period, as any attempt's that ends in it).
    #[inline]
    fn attempt_answered<C: Clock>(&self, permit: Permit, now: &Now<C>) -> Permit {
        match permit {
            Permit::Trial(_) if self.0.admit_closed().is_none() => {
                self.0.record(now.ticks(), false, permit);
                self.0.admit_closed().unwrap_or(permit)
            }
            other => other,
        }
    }
    #[inline]
    fn attempt_cancelled<C: Clock>(&self, _: u32, permit: Permit, _: &Now<C>) {
        self.0.cancel(permit);
    }
}

/// `wait = adaptive(..)`: every attempt's outcome goes into the window that
/// the wait reads.
#[derive(Clone, Copy, Debug)]
pub struct WindowGate(pub &'static AdaptiveWindow);

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
    fn window(&self) -> Option<&AdaptiveWindow> {
        Some(self.0)
    }
}
