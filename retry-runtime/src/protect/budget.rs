//! Retry budgets (Finagle's `RetryBudget`): retries may add at most a share
//! of the calls, plus a small reserve, so that an outage does not multiply
//! the load on a struggling API.

use std::fmt;
use std::time::Duration;

use super::slot::{CoolDown, FleetSlot};
use crate::counters::slices::ThreadSlices;

/// What a retry budget must do. [`Budget`] keeps its state in this
/// process's memory; a store shared by many processes can implement the
/// same trait and be named by `budget = PATH` the same way.
///
/// `now` is the time since a fixed point of the process, from the clock the
/// call sleeps on (tokio's in an `async fn`, so a paused test clock applies).
pub trait RetryBudget: Sync {
    /// A call's first attempt ended at `now` (whatever its outcome, before
    /// its retry asks [`try_withdraw`](Self::try_withdraw)): it deposits its
    /// share of a retry. Made when the attempt ends rather than when the
    /// call starts, so that a call that ran longer than the budget's window
    /// (an LLM completion of a minute) finds its own deposit there.
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
    /// The cool-down it shares with other processes (a rate limit one of
    /// them was told about holds this process back too), when it is shared
    /// (the `redis` feature, or a store of the implementor's own): the
    /// engine asks it before every attempt of a call through this budget, in
    /// every build. `None` by default.
    fn cool_down(&self) -> Option<&dyn CoolDown> {
        None
    }
}

/// Micro-retries: one retry is a million, so that a ratio as small as a
/// millionth still deposits (a thousandth of a retry was once the grain,
/// and 0.0005 deposited nothing).
pub(super) const ONE: u64 = 1_000_000;
/// Deposits and withdrawals expire after this many seconds.
const TTL_SECS: u64 = 10;

/// A retry budget: each call deposits `ratio` of a retry, each retry
/// withdraws one, and a reserve of `min_per_second` retries a second is
/// always there: as in Finagle, it is a pool of `min_per_second × 10`
/// retries over the 10-second window (it may be spent in one burst), on top
/// of the deposits. Deposits are counted in millionths of a retry, so a
/// small ratio (0.0005: one retry per 2,000 calls, for calls that each
/// cost a minute of a model's time) earns its retries exactly; a positive
/// ratio below a millionth deposits a millionth. Deposits and withdrawals
/// expire after 10 seconds; a
/// call deposits when its first attempt ends, or when the call is dropped
/// during it (a call a breaker refuses earns nothing; a completion that ran
/// a minute still finds its deposit in the window when its retry asks). When a call wants to
/// retry and finds the budget empty, it gives up at once and returns its
/// last error ([`GiveUp::BudgetExhausted`](crate::GiveUp::BudgetExhausted)).
/// A retry that was withdrawn but never made (a breaker refused it after
/// its sleep, or the call was dropped while it slept) gives its withdrawal
/// back.
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
    /// What a call deposits, in micro-retries.
    deposit: u64,
    /// What is always available over the window, in micro-retries.
    reserve: u64,
    pub(super) deposits: ThreadSlices<{ TTL_SECS as usize }>,
    withdrawals: ThreadSlices<{ TTL_SECS as usize }>,
    /// Withdrawals given back (retries never made), counted on the thread
    /// that gives them back: the one that withdrew may be another.
    returned: ThreadSlices<{ TTL_SECS as usize }>,
    /// What this process may spend of the fleet's balance beyond its own
    /// (micro-retries, maybe less than nothing), when shared.
    pub(crate) fleet: FleetSlot,
}

impl Budget {
    /// A budget where retries may add `ratio` of the calls (0.1: 10%), plus
    /// `min_per_second` retries a second. `ratio` is rounded to a
    /// millionth; a positive one below a millionth is taken as a millionth,
    /// one that is not a finite number above zero as 0, one above 1000 as
    /// 1000.
    ///
    /// What one thread deposits in one second is kept up to about a
    /// million retries (2^40 millionths): at a ratio of 1000, past 1,099
    /// calls a second on one thread the budget stops growing, never
    /// overflows.
    ///
    /// ```
    /// use retry_runtime::Budget;
    ///
    /// // One retry per 2,000 calls, and no reserve.
    /// static SPARING: Budget = Budget::new(0.0005, 0);
    /// ```
    pub const fn new(ratio: f64, min_per_second: u32) -> Budget {
        let deposit = if ratio.is_finite() && ratio > 0.0 {
            let micros = (ratio.min(1000.0) * ONE as f64 + 0.5) as u64;
            if micros == 0 { 1 } else { micros }
        } else {
            0
        };
        Budget {
            deposit,
            reserve: (min_per_second as u64).saturating_mul(TTL_SECS * ONE),
            deposits: ThreadSlices::new(),
            withdrawals: ThreadSlices::new(),
            returned: ThreadSlices::new(),
            fleet: FleetSlot::new(),
        }
    }

    /// Retries withdrawn over the window and not given back.
    pub(super) fn withdrawn(&self, second: u64) -> u64 {
        self.withdrawals
            .sum(second)
            .saturating_sub(self.returned.sum(second))
    }

    /// This process's deposits and reserve less its withdrawals.
    pub(super) fn own_balance(&self, second: u64) -> i128 {
        let deposited = i128::from(self.deposits.sum(second));
        let withdrawn = i128::from(self.withdrawn(second)) * i128::from(ONE);
        deposited + i128::from(self.reserve) - withdrawn
    }

    /// What may be spent: this process's balance, and what the other
    /// processes sharing the budget leave it (zero when not shared).
    fn balance(&self, second: u64) -> i128 {
        self.own_balance(second) + i128::from(self.fleet.balance())
    }

    /// Forgets every deposit and withdrawal, any pause
    /// ([`Paced`](super::Paced)) and that it was paced (for tests).
    pub fn reset(&self) {
        self.deposits.clear();
        self.withdrawals.clear();
        self.returned.clear();
        self.fleet.unpace();
    }

    /// The retries the budget allows at `now` (whole retries).
    #[cfg(test)]
    pub(super) fn available(&self, now: Duration) -> u64 {
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
        self.returned.add(withdrawn_at.as_secs(), 1);
    }

    fn cool_down(&self) -> Option<&dyn CoolDown> {
        self.fleet.cool_down()
    }
}

impl super::Paced for Budget {
    fn pause(&self, delay: Duration) {
        use crate::counters::clock::{Clock, TokioClock};
        self.fleet.pace(TokioClock::ticks().saturating_add(delay));
    }
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
    fn a_small_ratio_still_earns_retries() {
        // 0.0005: 2,000 calls earn one retry.
        let b = Budget::new(0.0005, 0);
        for _ in 0..1999 {
            b.deposit(at(5));
        }
        assert!(!b.try_withdraw(at(5)), "1,999 calls are not enough");
        b.deposit(at(5));
        assert!(b.try_withdraw(at(5)), "2,000 calls earn one");
        assert!(!b.try_withdraw(at(5)));
        // 0.000251 is 251 millionths (not 250, as 0.000251 × 10^6 truncated):
        // 3,985 calls earn one retry, not 4,000.
        let b = Budget::new(0.000251, 0);
        for _ in 0..3984 {
            b.deposit(at(5));
        }
        assert!(!b.try_withdraw(at(5)));
        b.deposit(at(5));
        assert!(b.try_withdraw(at(5)));
        // Below a millionth, a call deposits a millionth.
        let b = Budget::new(1e-12, 0);
        for _ in 0..1_000_000 {
            b.deposit(at(5));
        }
        assert!(b.try_withdraw(at(5)));
        assert!(format!("{b:?}").starts_with("Budget { ratio: 1e-6"));
    }

    #[test]
    fn the_largest_ratio_saturates_and_never_overflows() {
        let b = Budget::new(1000.0, u32::MAX);
        for _ in 0..5000 {
            b.deposit(at(5));
        }
        // One thread's second holds up to 2^40 millionths (1,099,511
        // retries): past 1,099 calls at 1,000 retries each it stops growing.
        let reserve = u64::from(u32::MAX) * 10;
        assert_eq!(b.available(at(5)), reserve + 1_099_511);
        assert!(b.try_withdraw(at(5)));
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

    #[test]
    fn a_withdrawal_given_back_on_another_thread_comes_back() {
        let b = Budget::new(0.0, 1);
        // Withdrawn on this thread (which keeps its stripe)...
        for _ in 0..10 {
            assert!(b.try_withdraw(at(3)));
        }
        assert!(!b.try_withdraw(at(3)), "the reserve of 10 is spent");
        // ...given back from others (whose stripes hold no withdrawal).
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| b.give_back(at(3)));
            }
        });
        assert_eq!(b.available(at(3)), 4);
        assert_eq!(b.withdrawn(at(3).as_secs()), 6);
        // They expire with the withdrawals they returned.
        assert_eq!(b.available(at(13)), 10);
    }

    /// A budget of the user's own, with only what it must have.
    struct Minimal;

    impl RetryBudget for Minimal {
        fn deposit(&self, _: Duration) {}
        fn try_withdraw(&self, _: Duration) -> bool {
            true
        }
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
        let member = Budget::new(0.1, 1);
        assert!(member.cool_down().is_none(), "not shared");
        static GROUP: Group = Group;
        member.fleet.link(&GROUP);
        let hold = member.cool_down().map(|c| c.hold(Duration::ZERO));
        assert_eq!(hold, Some(Duration::from_secs(4)));
    }

    #[test]
    fn a_budgets_own_implementation_gets_quiet_defaults() {
        let b = Minimal;
        assert!(b.cool_down().is_none(), "not shared: no cool-down");
        b.give_back(at(1));
        assert!(b.try_withdraw(at(1)));
    }

    #[test]
    fn debug_shows_the_ratio_and_the_reserve() {
        let shown = format!("{:?}", Budget::new(0.25, 7));
        assert_eq!(shown, "Budget { ratio: 0.25, min_per_second: 7, .. }");
    }
}
