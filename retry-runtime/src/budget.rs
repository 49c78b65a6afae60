//! Retry budgets (Finagle's `RetryBudget`): retries may add at most a share
//! of the calls, plus a small reserve, so that an outage does not multiply
//! the load on a struggling API.

use std::fmt;
use std::time::Duration;

use crate::slices::Striped as Slices;

/// What a retry budget must do. [`Budget`] keeps its state in this
/// process's memory; a store shared by many processes can implement the
/// same trait and be named by `budget = PATH` the same way.
///
/// `now` is the time since a fixed point of the process, from the clock the
/// call sleeps on (tokio's in an `async fn`, so a paused test clock applies).
pub trait RetryBudget: Sync {
    /// A call starts: it deposits its share of a retry.
    fn deposit(&self, now: Duration);
    /// A call wants to retry: `true` (and one retry withdrawn) when the
    /// budget allows it.
    fn try_withdraw(&self, now: Duration) -> bool;
    /// A retry withdrawn at `withdrawn_at` was never made (a breaker
    /// refused it after its sleep, or the call was dropped while it slept):
    /// the withdrawal is given back. Nothing by default.
    fn give_back(&self, withdrawn_at: Duration) {
        let _ = withdrawn_at;
    }
    /// Whether [`hold`](Self::hold) may say to wait (it is shared); asked
    /// first, so that a call reads the clock for it only then. `false` by
    /// default.
    fn holds(&self) -> bool {
        false
    }
    /// How long an attempt must still wait: a rate limit that another
    /// process sharing this budget was told about (the `redis`
    /// feature). Zero by default.
    fn hold(&self, now: Duration) -> Duration {
        let _ = now;
        Duration::ZERO
    }
    /// The server asked to wait until `until`: tell whoever shares it.
    /// Nothing by default.
    fn rate_limited(&self, until: Duration) {
        let _ = until;
    }
}

/// Milli-retries: one retry is 1000.
const ONE: u64 = 1000;
/// Deposits and withdrawals expire after this many seconds.
const TTL_SECS: u64 = 10;

/// A retry budget: each call deposits `ratio` of a retry, each retry
/// withdraws one, and a reserve of `min_per_second` retries a second is
/// always there: as in Finagle, it is a pool of `min_per_second × 10`
/// retries over the 10-second window (it may be spent in one burst), on top
/// of the deposits. Deposits and withdrawals expire after 10 seconds; a
/// call deposits only when its first attempt is made (a call a breaker
/// refuses earns nothing). When a call wants to
/// retry and finds the budget empty, it gives up at once and returns its
/// last error ([`GiveUp::BudgetExhausted`](crate::GiveUp::BudgetExhausted)).
///
/// Declare it as a `static` and name it in the attribute (or pass it to
/// [`Retrying::budget`](crate::Retrying::budget)); functions that name the
/// same budget share it.
///
/// ```
/// use retry_runtime::{retry, Budget};
///
/// // Retries may add at most 10% to the calls, plus 10 retries a second.
/// static OPENAI: Budget = Budget::new(0.1, 10);
///
/// #[retry(attempts = 5, wait = none, budget = OPENAI)]
/// fn complete(fail: &mut u32) -> std::io::Result<u32> {
///     if *fail > 0 {
///         *fail -= 1;
///         return Err(std::io::ErrorKind::ConnectionReset.into());
///     }
///     Ok(1)
/// }
///
/// assert_eq!(complete(&mut 2).unwrap(), 1);
/// ```
pub struct Budget {
    /// What a call deposits, in milli-retries.
    deposit: u64,
    /// What is always available over the window, in milli-retries.
    reserve: u64,
    deposits: Slices<{ TTL_SECS as usize }>,
    withdrawals: Slices<{ TTL_SECS as usize }>,
    /// What this process may spend of the fleet's balance beyond its own
    /// (milli-retries, maybe less than nothing), when shared.
    #[cfg(feature = "redis")]
    pub(crate) fleet: crate::redis::Slot,
}

impl Budget {
    /// A budget where retries may add `ratio` of the calls (0.1: 10%), plus
    /// `min_per_second` retries a second. A `ratio` that is not a finite
    /// number of at least zero is taken as 0; above 1000 as 1000.
    pub const fn new(ratio: f64, min_per_second: u32) -> Budget {
        let ratio = if ratio.is_finite() && ratio > 0.0 {
            ratio.min(1000.0)
        } else {
            0.0
        };
        Budget {
            deposit: (ratio * ONE as f64) as u64,
            reserve: min_per_second as u64 * TTL_SECS * ONE,
            deposits: Slices::new(),
            withdrawals: Slices::new(),
            #[cfg(feature = "redis")]
            fleet: crate::redis::Slot::new(),
        }
    }

    /// This process's deposits and reserve less its withdrawals.
    fn own_balance(&self, second: u64) -> i128 {
        let deposited = i128::from(self.deposits.sum(second));
        let withdrawn = i128::from(self.withdrawals.sum(second)) * i128::from(ONE);
        deposited + i128::from(self.reserve) - withdrawn
    }

    fn balance(&self, second: u64) -> i128 {
        let balance = self.own_balance(second);
        #[cfg(feature = "redis")]
        let balance = balance + i128::from(self.fleet.balance());
        balance
    }

    /// After a synchronisation: the other processes' deposits
    /// (milli-retries) and withdrawals, and how many processes share the
    /// budget, this one included. The fleet's balance counts every deposit
    /// and withdrawal and the reserve once; until the next synchronisation
    /// this process spends its part of it, in proportion to its deposits
    /// (an equal part when nobody deposited), and what its calls deposit
    /// meanwhile. The parts add up to the balance: processes that all
    /// retry at once, before they hear of each other, do not each spend
    /// all of it.
    #[cfg(feature = "redis")]
    pub(crate) fn set_fleet(&self, now: Duration, deposits: u64, withdrawals: u64, processes: u64) {
        let second = now.as_secs();
        let own = self.own_balance(second);
        let fleet = own + i128::from(deposits) - i128::from(withdrawals) * i128::from(ONE);
        let mine = self.deposits.sum(second);
        let all = u128::from(mine) + u128::from(deposits);
        let part = if all > 0 {
            // As a ratio: fleet × mine could overflow even an i128.
            (fleet as f64 * (mine as f64 / all as f64)) as i128
        } else {
            fleet / i128::from(processes.max(1))
        };
        let beyond = (part - own).clamp(i128::from(i64::MIN), i128::from(i64::MAX));
        self.fleet.set_balance(beyond as i64);
    }

    /// This process's deposits (milli-retries) and withdrawals over the
    /// window, for the fleet.
    #[cfg(feature = "redis")]
    pub(crate) fn own_counts(&self, now: Duration) -> (u64, u64) {
        let second = now.as_secs();
        (self.deposits.sum(second), self.withdrawals.sum(second))
    }

    /// Forgets every deposit and withdrawal (for tests).
    pub fn reset(&self) {
        self.deposits.clear();
        self.withdrawals.clear();
    }

    /// The retries the budget allows at `now` (whole retries).
    #[cfg(test)]
    fn available(&self, now: Duration) -> u64 {
        u64::try_from(self.balance(now.as_secs()) / i128::from(ONE)).unwrap_or(0)
    }
}

impl RetryBudget for Budget {
    fn deposit(&self, now: Duration) {
        if self.deposit > 0 {
            self.deposits.add(now.as_secs(), self.deposit);
        }
    }

    fn try_withdraw(&self, now: Duration) -> bool {
        let second = now.as_secs();
        // Withdraw first, then look: two callers that race for the last
        // retry may both be refused, but the budget is never overdrawn.
        self.withdrawals.add(second, 1);
        // Two callers that withdraw at once each see the other's withdrawal
        // (or one of them does).
        std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
        if self.balance(second) >= 0 {
            return true;
        }
        self.withdrawals.take_back(second, 1);
        false
    }

    fn give_back(&self, withdrawn_at: Duration) {
        self.withdrawals.take_back(withdrawn_at.as_secs(), 1);
    }

    #[cfg(feature = "redis")]
    crate::redis::fleet_member!();
}

impl fmt::Debug for Budget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Budget")
            .field("ratio", &(self.deposit as f64 / ONE as f64))
            .field("min_per_second", &(self.reserve / TTL_SECS / ONE))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    #[cfg(feature = "redis")]
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
    fn calls_earn_a_share_of_a_retry_and_the_reserve_is_always_there() {
        let b = Budget::new(0.1, 1);
        // The reserve: 1 a second over 10 s.
        assert_eq!(b.available(at(100)), 10);
        for _ in 0..100 {
            b.deposit(at(100));
        }
        assert_eq!(b.available(at(100)), 20);
        for _ in 0..20 {
            assert!(b.try_withdraw(at(100)));
        }
        assert!(!b.try_withdraw(at(100)), "empty");
        assert_eq!(b.available(at(100)), 0);
        // A refused withdrawal took nothing.
        b.deposit(at(101));
        assert_eq!(b.available(at(101)), 0);
        for _ in 0..9 {
            b.deposit(at(101));
        }
        assert!(b.try_withdraw(at(101)), "ten calls earn one retry");
    }

    #[test]
    fn deposits_and_withdrawals_expire_after_ten_seconds() {
        let b = Budget::new(0.5, 0);
        for _ in 0..10 {
            b.deposit(at(0));
        }
        assert_eq!(b.available(at(9)), 5);
        assert_eq!(b.available(at(10)), 0, "the deposits expired");
        let b = Budget::new(0.0, 1);
        for _ in 0..10 {
            assert!(b.try_withdraw(at(50)));
        }
        assert!(!b.try_withdraw(at(59)));
        assert!(b.try_withdraw(at(60)), "the withdrawals expired");
    }

    #[test]
    fn odd_ratios_are_tamed() {
        for ratio in [f64::NAN, -1.0, f64::NEG_INFINITY, 0.0] {
            let b = Budget::new(ratio, 0);
            b.deposit(at(1));
            assert_eq!(b.available(at(1)), 0, "{ratio}");
            assert!(!b.try_withdraw(at(1)));
        }
        let b = Budget::new(f64::INFINITY, u32::MAX);
        b.deposit(at(1));
        assert!(b.available(at(1)) >= 1000);
        assert!(b.try_withdraw(at(u64::MAX / 2)));
        assert!(format!("{b:?}").starts_with("Budget { ratio: 0.0"));
    }
}
