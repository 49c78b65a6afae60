//! The slot a store shared by many processes writes into: what the other
//! processes add to a budget, breaker or window, and the cool-down they
//! share. Every member has one; it stays empty (and costs one load where it
//! is read) unless the member is shared, on Redis with the `redis` feature,
//! or paced ([`Paced`]): then it holds this process's own cool-down too.

use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering::*};
use std::time::Duration;

/// A budget or breaker whose calls can be held back until a rate limit
/// resets: pacing, so that the next attempts wait for the reset a response
/// announced ("0 requests remaining, reset in 2 s") instead of meeting a
/// 429. Every call through it then waits before its first attempt, as for
/// a fleet's cool-down, in this process and, when the member is shared on
/// Redis, in the fleet.
///
/// What that means, as for a fleet's cool-down:
/// - A pause is cut to the function's `retry_after` `max` (60 s by
///   default) before a first attempt, and ignored with `retry_after =
///   ignore`; a retry that a longer pause would hold gives up at once
///   (`GiveUp::RetryAfterTooLong`), as for a `Retry-After` above `max`.
/// - No call outlasts its `deadline` for it.
/// - Once a member has been paced, it keeps a cool-down of this process's
///   own: a `Retry-After` that one call honours then holds the other calls
///   through the member too (until its `reset()`), as it holds the fleet
///   when the member is shared.
///
/// `http::pace` (the `reqwest` feature) reads the delay from a response's
/// rate-limit headers; `pause` takes one of your own.
///
/// ```
/// use retry_runtime::{CircuitBreaker, Paced};
/// use std::time::Duration;
///
/// static OPENAI: CircuitBreaker = CircuitBreaker::new();
/// // The response said: no request left for 2 s.
/// OPENAI.pause(Duration::from_secs(2));
/// ```
pub trait Paced: Sync {
    /// Holds the calls through it for `delay` from now (tokio's clock, as
    /// the calls read it). A shorter pause than one under way changes
    /// nothing.
    fn pause(&self, delay: Duration);
}

/// This process's own cool-down (pacing), when the member is not shared.
struct Local {
    /// Until when, in nanoseconds of the calls' clock (0: never set).
    until: AtomicU64,
}

impl CoolDown for Local {
    #[inline]
    fn hold(&self, now: Duration) -> Duration {
        let until = Duration::from_nanos(self.until.load(Acquire));
        until.saturating_sub(now)
    }

    fn rate_limited(&self, until: Duration) {
        let nanos = u64::try_from(until.as_nanos()).unwrap_or(u64::MAX);
        self.until.fetch_max(nanos, Release);
    }
}

/// A cool-down shared by the processes that share a budget or breaker: a
/// rate limit one of them was told about holds the others back too.
pub trait CoolDown: Sync {
    /// How long an attempt must still wait at `now` (the call's clock).
    fn hold(&self, now: Duration) -> Duration;
    /// The server asked to wait until `until` (the call's clock): tell the
    /// others.
    fn rate_limited(&self, until: Duration);
    /// Whether it is no longer kept up to date (the synchronisation that
    /// kept it ended): the member may then join another group. `false` by
    /// default.
    fn ended(&self) -> bool {
        false
    }
    /// A breaker of the group opened in this process (so that a store
    /// shared by many processes can tell them at once). Nothing by default.
    fn opened(&self) {}
}

/// What a shared member holds in this process: the cool-down of the group
/// it joined, and the other processes' counts, as last read.
pub(crate) struct FleetSlot {
    /// The group's cool-down (null: not shared); only ever a leaked
    /// `&'static &'static dyn CoolDown`. Another may replace it once its
    /// synchronisation has ended.
    link: AtomicPtr<&'static dyn CoolDown>,
    /// What the other processes add, in one word, so that a reader never
    /// sees one count of a round trip with the other of the previous one:
    /// two counts as its halves (breaker, window), or one signed balance
    /// (budget).
    others: AtomicU64,
    /// Whether the member was ever paced: its own cool-down is then read.
    paced: AtomicBool,
    /// Its own cool-down.
    local: Local,
}

impl FleetSlot {
    pub(crate) const fn new() -> FleetSlot {
        FleetSlot {
            link: AtomicPtr::new(ptr::null_mut()),
            others: AtomicU64::new(0),
            paced: AtomicBool::new(false),
            local: Local {
                until: AtomicU64::new(0),
            },
        }
    }

    /// The other processes' two counts (zeros when not shared, or while
    /// the store cannot be reached).
    #[inline]
    pub(crate) fn others(&self) -> (u64, u64) {
        let both = self.others.load(Relaxed);
        (both >> 32, both & u64::from(u32::MAX))
    }

    // (The writers below are the shared store's: unused without one.)

    /// Each count is kept up to `u32::MAX` (four billion attempts in one
    /// window).
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn set_others(&self, first: u64, second: u64) {
        let half = |n: u64| n.min(u64::from(u32::MAX));
        self.others.store(half(first) << 32 | half(second), Relaxed);
    }

    /// The other processes' balance (zero when not shared, or while the
    /// store cannot be reached).
    #[inline]
    pub(crate) fn balance(&self) -> i64 {
        self.others.load(Relaxed) as i64
    }

    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn set_balance(&self, balance: i64) {
        self.others.store(balance as u64, Relaxed);
    }

    /// The group's cool-down, when the member is shared; its own, when it
    /// was paced; otherwise none (and nothing more is read).
    #[inline]
    pub(crate) fn cool_down(&self) -> Option<&dyn CoolDown> {
        match self.linked() {
            Some(group) => Some(group),
            None if self.paced.load(Acquire) => Some(&self.local),
            None => None,
        }
    }

    #[inline]
    fn linked(&self) -> Option<&'static dyn CoolDown> {
        // SAFETY: null, or a leaked `&'static &'static dyn CoolDown`
        // (`FleetSlot::link`), never freed.
        unsafe { self.link.load(Acquire).as_ref() }.copied()
    }

    /// Forgets this process's own pause, and that it was paced (for
    /// `reset`).
    /// The member (a breaker) opened in this process: its group hears of
    /// it at once, when it has one.
    pub(crate) fn opened(&self) {
        if let Some(group) = self.linked() {
            group.opened();
        }
    }

    pub(crate) fn unpace(&self) {
        self.paced.store(false, Release);
        self.local.until.store(0, Release);
    }

    /// Holds the member's calls until `until` (the calls' clock): the
    /// group's cool-down when shared (the fleet hears of it), its own
    /// otherwise.
    pub(crate) fn pace(&self, until: Duration) {
        match self.linked() {
            Some(group) => group.rate_limited(until),
            None => {
                // The time first, then the flag: a reader that sees the
                // flag sees the time.
                self.local.rate_limited(until);
                self.paced.store(true, Release);
            }
        }
    }

    /// Joins a group: its cool-down holds this member's calls from now on.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn link(&self, cool_down: &'static dyn CoolDown) {
        let leaked: &'static mut &'static dyn CoolDown = Box::leak(Box::new(cool_down));
        self.link.store(ptr::from_mut(leaked), Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(Duration);

    impl CoolDown for Fixed {
        fn hold(&self, _: Duration) -> Duration {
            self.0
        }
        fn rate_limited(&self, _: Duration) {}
    }

    #[test]
    fn empty_until_linked_then_reads_the_groups_cool_down() {
        let slot = FleetSlot::new();
        assert!(slot.cool_down().is_none());
        assert_eq!((slot.others(), slot.balance()), ((0, 0), 0));
        static GROUP: Fixed = Fixed(Duration::from_secs(3));
        slot.link(&GROUP);
        assert!(slot.cool_down().is_some());
        let hold = slot.cool_down().map(|c| c.hold(Duration::ZERO));
        assert_eq!(hold, Some(Duration::from_secs(3)));
    }

    #[test]
    fn a_paced_member_reads_its_own_cool_down_until_it_joins_a_group() {
        let slot = FleetSlot::new();
        assert!(slot.cool_down().is_none(), "never paced: nothing to read");
        slot.pace(Duration::from_secs(10));
        let hold = |slot: &FleetSlot, at| slot.cool_down().map(|c| c.hold(Duration::from_secs(at)));
        assert_eq!(hold(&slot, 4), Some(Duration::from_secs(6)));
        slot.pace(Duration::from_secs(5));
        assert_eq!(
            hold(&slot, 4),
            Some(Duration::from_secs(6)),
            "a shorter pause changes nothing"
        );
        assert_eq!(hold(&slot, 11), Some(Duration::ZERO));
        slot.pace(Duration::MAX);
        assert_eq!(
            hold(&slot, 0),
            Some(Duration::from_nanos(u64::MAX)),
            "saturates"
        );
        slot.unpace();
        assert!(slot.cool_down().is_none(), "reset: not paced any more");
        // Shared: the group's cool-down is read and told (the fleet hears).
        struct Told(AtomicU64);
        impl CoolDown for Told {
            fn hold(&self, now: Duration) -> Duration {
                Duration::from_secs(self.0.load(Relaxed)).saturating_sub(now)
            }
            fn rate_limited(&self, until: Duration) {
                self.0.fetch_max(until.as_secs(), Relaxed);
            }
        }
        static GROUP: Told = Told(AtomicU64::new(0));
        slot.link(&GROUP);
        assert_eq!(
            hold(&slot, 0),
            Some(Duration::ZERO),
            "the group's, not its own"
        );
        slot.pace(Duration::from_secs(9));
        assert_eq!(GROUP.0.load(Relaxed), 9);
        assert_eq!(hold(&slot, 4), Some(Duration::from_secs(5)));
    }

    #[test]
    fn counts_are_halves_of_one_word_and_a_balance_is_signed() {
        let slot = FleetSlot::new();
        slot.set_others(7, 9);
        assert_eq!(slot.others(), (7, 9));
        slot.set_others(u64::MAX, 1 << 40);
        assert_eq!(slot.others(), (u64::from(u32::MAX), u64::from(u32::MAX)));
        slot.set_others(0, 1);
        assert_eq!(slot.others(), (0, 1));
        slot.set_balance(-5);
        assert_eq!(slot.balance(), -5);
        slot.set_balance(i64::MAX);
        assert_eq!(slot.balance(), i64::MAX);
    }
}
