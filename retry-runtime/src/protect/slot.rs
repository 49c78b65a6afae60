//! The slot a store shared by many processes writes into: what the other
//! processes add to a budget, breaker or window, and the cool-down they
//! share. Every member has one; it stays empty (and costs one load where it
//! is read) unless the member is shared, on Redis with the `redis` feature.

use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering::*};
use std::time::Duration;

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
}

impl FleetSlot {
    pub(crate) const fn new() -> FleetSlot {
        FleetSlot {
            link: AtomicPtr::new(ptr::null_mut()),
            others: AtomicU64::new(0),
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

    /// The group's cool-down, when the member is shared.
    #[inline]
    pub(crate) fn cool_down(&self) -> Option<&'static dyn CoolDown> {
        // SAFETY: null, or a leaked `&'static &'static dyn CoolDown`
        // (`FleetSlot::link`), never freed.
        unsafe { self.link.load(Acquire).as_ref() }.copied()
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
