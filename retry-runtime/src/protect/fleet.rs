//! What a store shared by many processes (Redis, with the `redis` feature)
//! reads from the members and writes into them: each member's own counts,
//! and how the fleet's counts change what it allows. The store itself is in
//! [`fleet`](crate::fleet); this is the members' side of it, kept apart so
//! that no member's body depends on a cargo feature.

use std::sync::atomic::Ordering::*;
use std::time::Duration;

use super::breaker::{CLOSED, CircuitBreaker, MILLIS, OPEN, TAG_SHIFT, state_millis};
use super::budget::{Budget, ONE};
use super::window::AdaptiveWindow;

/// What the fleet exchanges: milli-retries, as before the grain was refined,
/// so that processes of either version agree on one key. What a process
/// publishes loses less than a thousandth of a retry.
const FLEET_ONE: u64 = 1000;

impl Budget {
    /// After a synchronisation: the other processes' deposits
    /// (milli-retries, as the fleet exchanges them) and withdrawals, and how
    /// many processes share the budget, this one included. The fleet's
    /// balance counts every deposit and withdrawal and the reserve once;
    /// until the next synchronisation this process spends its part of it,
    /// in proportion to its deposits (an equal part when nobody deposited),
    /// and what its calls deposit meanwhile. The parts add up to the
    /// balance: processes that all retry at once, before they hear of each
    /// other, do not each spend all of it.
    pub(crate) fn set_fleet(&self, now: Duration, deposits: u64, withdrawals: u64, processes: u64) {
        let second = now.as_secs();
        let own = self.own_balance(second);
        let deposits = i128::from(deposits) * i128::from(ONE / FLEET_ONE);
        let fleet = own + deposits - i128::from(withdrawals) * i128::from(ONE);
        let mine = self.deposits.sum(second);
        let all = i128::from(mine) + deposits;
        let part = if all > 0 {
            // As a ratio: fleet × mine could overflow even an i128.
            (fleet as f64 * (mine as f64 / all as f64)) as i128
        } else {
            fleet / i128::from(processes.max(1))
        };
        let beyond = (part - own).clamp(i128::from(i64::MIN), i128::from(i64::MAX));
        self.fleet.set_balance(beyond as i64);
    }

    /// This process's deposits (milli-retries, as the fleet exchanges them)
    /// and withdrawals over the window, for the fleet.
    pub(crate) fn own_counts(&self, now: Duration) -> (u64, u64) {
        let second = now.as_secs();
        let deposits = self.deposits.sum(second) / (ONE / FLEET_ONE);
        (deposits, self.withdrawn(second))
    }
}

impl CircuitBreaker {
    /// This process's attempts and failures in the window while closed
    /// (zeros while open: what opened it is not counted twice), for the
    /// fleet.
    pub(crate) fn own_counts(&self, now: Duration) -> (u64, u64) {
        self.own(self.state.load(Acquire), self.slice(now))
    }

    /// How long it stays open, when it is open.
    pub(crate) fn open_left(&self, now: Duration) -> Option<Duration> {
        let current = self.state.load(Acquire);
        let until = current & MILLIS;
        let now = state_millis(now);
        (current >> TAG_SHIFT == OPEN && until != MILLIS && until > now)
            .then(|| Duration::from_millis(until - now))
    }

    /// After a synchronisation: open when another process opened it
    /// (`open_left`: for that long), or when the fleet's counts trip it.
    pub(crate) fn fleet_apply(&self, now: Duration, open_left: Option<Duration>) {
        let current = self.state.load(Acquire);
        let (tag, at) = (current >> TAG_SHIFT, current & MILLIS);
        // Closed, or open with its time up (no trial yet): the fleet's
        // open key opens it again.
        let expired = tag == OPEN && at != MILLIS && at <= state_millis(now);
        if tag != CLOSED && !(expired && open_left.is_some()) {
            return;
        }
        if let Some(left) = open_left {
            let until = state_millis(now).saturating_add(state_millis(left));
            self.open_until(current, now, until);
            return;
        }
        let (attempts, failures) = self.counts(current, self.slice(now));
        if self.trips(attempts, failures) {
            self.open(current, now);
        }
    }
}

impl AdaptiveWindow {
    /// [`AdaptiveWindow::counts`] at `now`, for the fleet, after how many
    /// attempts it ever recorded (to tell an idle window).
    pub(crate) fn own_counts(&self, now: Duration) -> (u64, u64, u64) {
        let (seen, failed) = self.counts(now);
        (self.next.load(Relaxed), seen, failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protect::{Breaker, BreakerState, Permit, RetryBudget};

    fn at(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn breaker() -> CircuitBreaker {
        CircuitBreaker::new()
            .failure_ratio(0.5)
            .min_attempts(4)
            .window(Duration::from_secs(10))
            .open_for(Duration::from_secs(5))
    }

    #[test]
    fn a_shared_budget_spends_its_part_of_the_fleets_balance_and_never_overflows() {
        let now = at(100);
        let b = Budget::new(0.1, 1);
        assert_eq!(b.available(now), 10);
        // Nobody deposited: the reserve is shared out equally, once.
        b.set_fleet(now, 0, 0, 1);
        assert_eq!(b.available(now), 10);
        b.set_fleet(now, 0, 0, 4);
        assert_eq!(b.available(now), 2);
        b.set_fleet(now, 0, 0, 0);
        assert_eq!(b.available(now), 10);
        // The others made every call: none of it is this process's part.
        b.set_fleet(now, 50_000, 30, 4);
        assert_eq!(b.available(now), 0);
        // A quarter of the calls were made here: a quarter of 10 (the
        // reserve) + 10 + 30 (deposits) - 5 (withdrawn elsewhere).
        for _ in 0..100 {
            b.deposit(now);
        }
        b.set_fleet(now, 30_000, 5, 4);
        assert_eq!(b.available(now), 11);
        // What its calls deposit and withdraw meanwhile is its own.
        for _ in 0..10 {
            b.deposit(now);
        }
        assert_eq!(b.available(now), 12);
        assert!(b.try_withdraw(now));
        assert_eq!(b.available(now), 11);
        // A fleet overdrawn: a part of its debt.
        b.set_fleet(now, 30_000, 100, 4);
        assert!(!b.try_withdraw(now));
        // Any counts: no overflow.
        b.set_fleet(now, 0, u64::MAX, u64::MAX);
        assert_eq!(b.available(now), 0);
        b.set_fleet(now, u64::MAX, 0, 1);
        assert_eq!(b.available(now), 11, "about what it deposited itself");
        b.reset();
        b.set_fleet(now, u64::MAX, 0, 1);
        assert_eq!(b.available(now), 0, "deposited nothing itself");
        let b = Budget::new(1000.0, u32::MAX);
        b.deposit(now);
        b.set_fleet(now, u64::MAX, 0, 1);
        assert!(b.try_withdraw(now));
        b.set_fleet(now, 0, u64::MAX, u64::MAX);
        assert!(!b.try_withdraw(now));
    }

    #[test]
    fn the_fleet_exchanges_thousandths_of_a_retry() {
        let b = Budget::new(0.0005, 0);
        for _ in 0..3 {
            b.deposit(at(7));
        }
        assert_eq!(b.own_counts(at(7)), (1, 0), "1,500 millionths publish as 1");
        // What others deposited arrives in thousandths: four processes
        // deposited 2 retries here and 6 elsewhere, and withdrew 2 there;
        // this process's part is a quarter of the 6 left.
        let b = Budget::new(0.5, 0);
        for _ in 0..4 {
            b.deposit(at(7));
        }
        b.set_fleet(at(7), 6_000, 2, 4);
        assert_eq!(b.available(at(7)), 1);
        assert!(b.try_withdraw(at(7)));
        assert!(!b.try_withdraw(at(7)), "1.5 retries: one");
    }

    #[test]
    fn what_the_fleet_is_told_and_what_it_tells() {
        let b = breaker();
        // Its own counts while closed, since it last closed.
        b.record(ms(100), true, Permit::Closed(0));
        b.record(ms(100), false, Permit::Closed(0));
        b.record(ms(200), false, Permit::Closed(0));
        assert_eq!(b.own_counts(ms(300)), (3, 1));
        assert_eq!(b.open_left(ms(300)), None, "closed");
        // The fleet's counts trip it: 2 of this process's 3 and the others'
        // 3 failures in 5.
        b.fleet.set_others(5, 3);
        b.fleet_apply(ms(400), None);
        assert_eq!(b.state(), BreakerState::Open);
        assert_eq!(b.own_counts(ms(400)), (0, 0), "nothing while open");
        assert_eq!(b.open_left(ms(400)), Some(ms(5_000)));
        assert_eq!(b.open_left(ms(5_399)), Some(ms(1)));
        assert_eq!(b.open_left(ms(5_400)), None, "its time is up");
        // Another process's open key: ignored while open with time left...
        b.fleet_apply(ms(1_000), Some(ms(60_000)));
        assert_eq!(b.open_left(ms(1_000)), Some(ms(4_400)));
        // ...taken once its time is up and no trial started.
        b.fleet_apply(ms(6_000), Some(ms(2_000)));
        assert_eq!(b.open_left(ms(6_000)), Some(ms(2_000)));
        // Half-open: the trial decides, not the fleet.
        let trial = b.admit(ms(8_000)).unwrap();
        b.fleet_apply(ms(8_100), Some(ms(2_000)));
        assert_eq!(b.state(), BreakerState::HalfOpen);
        b.record(ms(8_200), false, trial);
        assert_eq!(b.state(), BreakerState::Closed);
        // Closed: another process's open key opens it for that long.
        b.fleet.set_others(0, 0);
        b.fleet_apply(ms(9_000), Some(ms(3_000)));
        assert_eq!(b.open_left(ms(9_000)), Some(ms(3_000)));

        // The fleet's attempts without a failure never trip it, whatever
        // the ratio.
        let b = CircuitBreaker::new().failure_ratio(0.0).min_attempts(1);
        b.fleet.set_others(1_000, 0);
        b.fleet_apply(ms(0), None);
        assert_eq!(b.state(), BreakerState::Closed);
        b.fleet.set_others(1_000, 1);
        b.fleet_apply(ms(0), None);
        assert_eq!(b.state(), BreakerState::Open);
        // Open for ever: no time left to publish.
        let b = breaker().open_for(Duration::MAX);
        for _ in 0..4 {
            b.record(ms(0), true, Permit::Closed(0));
        }
        assert_eq!(b.open_left(ms(10)), None);
    }
    #[test]
    fn the_fleet_sees_only_attempts_within_max_age() {
        let window = AdaptiveWindow::new(10).max_age(secs(60));
        for _ in 0..10 {
            window.record_at(secs(0), true);
        }
        assert_eq!(window.own_counts(secs(30)), (10, 10, 10));
        // An idle hour, then one success: the old outage is not published
        // again with it.
        window.record_at(secs(3600), false);
        assert_eq!(window.own_counts(secs(3600)), (11, 1, 0));
    }
}
