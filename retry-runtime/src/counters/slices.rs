//! Counts over a sliding window of time slices, without a lock: each slice
//! is one word that packs which slice of time it counts and its count,
//! updated with compare-and-swap (or by its one owner thread with a plain
//! store). A slice left from an earlier turn of the ring starts again from
//! zero when it is next used.
//!
//! A word has room for 22 bits of its slice's number, so a word from long
//! ago could pass for a current one. Two things keep that from happening,
//! however long the counts stay untouched: the newest slice added to is
//! kept in full (`head`), and every word is read against it; and when the
//! newest slice moves on, the words that left the window are cleared, or,
//! after a jump of [`ERA`] slices or more (a long quiet period), a new era
//! begins, and the words of an earlier era count for nothing. An add for a
//! slice older than the newest slice's window is dropped, by the owner
//! thread as by the others. The add path gains one load of `head`, which
//! is written once per slice. The owner's add of the slice it added to
//! last (most adds: with the defaults a slice lasts a second for a budget,
//! 3 s for a breaker, 30 s for an adaptive window of 5 minutes) compares the word's era
//! and tag with `head` and stores the sum, without unpacking.

use std::sync::atomic::{AtomicU64, Ordering::*};

const VALUE_BITS: u32 = 40;
const VALUE_MAX: u64 = (1 << VALUE_BITS) - 1;
const TAG_BITS: u32 = 22;
const TAG_MASK: u64 = (1 << TAG_BITS) - 1;
const ERA_BITS: u32 = 2;
const ERA_MASK: u64 = (1 << ERA_BITS) - 1;
/// A jump of the newest slice by this many slices or more starts a new era.
/// Within an era no word is more than about twice this from `head`, well
/// inside what a 22-bit tag tells apart (2^21 either way).
const ERA: u64 = 1 << 19;
/// The largest slice number kept (larger ones are taken as this one).
const EPOCH_MAX: u64 = (1 << (64 - ERA_BITS)) - 1;

/// `N` slices; the window is the current slice and the `N - 1` before it.
pub(crate) struct Slices<const N: usize> {
    /// The era (top bits) and the newest slice added to, in full.
    head: AtomicU64,
    words: [AtomicU64; N],
}

/// A slice's word: its era, the low bits of its slice number, its count.
#[derive(Clone, Copy)]
struct Word {
    era: u64,
    tag: u64,
    value: u64,
}

impl Word {
    fn unpack(word: u64) -> Word {
        Word {
            era: word >> (TAG_BITS + VALUE_BITS),
            tag: (word >> VALUE_BITS) & TAG_MASK,
            value: word & VALUE_MAX,
        }
    }

    fn pack(era: u64, epoch: u64, value: u64) -> u64 {
        ((era & ERA_MASK) << (TAG_BITS + VALUE_BITS))
            | ((epoch & TAG_MASK) << VALUE_BITS)
            | value.min(VALUE_MAX)
    }

    /// The slice this word counts, read against `near` (a slice within
    /// 2^21 of it); `None` below zero.
    fn epoch(self, near: u64) -> Option<u64> {
        let ahead = self.tag.wrapping_sub(near) & TAG_MASK;
        if ahead < 1 << (TAG_BITS - 1) {
            Some(near.saturating_add(ahead))
        } else {
            near.checked_sub((1 << TAG_BITS) - ahead)
        }
    }
}

fn unpack_head(head: u64) -> (u64, u64) {
    (head >> (64 - ERA_BITS), head & EPOCH_MAX)
}

fn pack_head(era: u64, newest: u64) -> u64 {
    ((era & ERA_MASK) << (64 - ERA_BITS)) | newest.min(EPOCH_MAX)
}

impl<const N: usize> Slices<N> {
    pub(crate) const fn new() -> Self {
        const { assert!(N > 0 && (N as u64) < ERA) };
        Slices {
            head: AtomicU64::new(0),
            words: [const { AtomicU64::new(0) }; N],
        }
    }

    fn word(&self, epoch: u64) -> &AtomicU64 {
        &self.words[(epoch % N as u64) as usize]
    }

    /// Before an add to `epoch`: moves the newest slice on to it when it is
    /// newer (clearing what left the window), and says in which era to
    /// write; `None` when `epoch` is out of the newest slice's window (a
    /// late add, dropped). `owned`: by the owner thread, no one else writes.
    fn enter(&self, epoch: u64, owned: bool) -> Option<u64> {
        let mut head = self.head.load(Acquire);
        loop {
            let (era, newest) = unpack_head(head);
            if epoch <= newest {
                return (newest - epoch < N as u64).then_some(era);
            }
            let era = if epoch - newest >= ERA {
                (era + 1) & ERA_MASK
            } else {
                era
            };
            let next = pack_head(era, epoch);
            if owned {
                self.head.store(next, Release);
            } else if let Err(now) = self.head.compare_exchange(head, next, AcqRel, Acquire) {
                head = now;
                continue;
            }
            self.sweep(next, newest, owned);
            return Some(era);
        }
    }

    /// Clears the words that `head` (just moved on from `before`) no longer
    /// counts: those of another era, and those older than its window. Read
    /// against `before`, every word of this era is told apart exactly.
    fn sweep(&self, head: u64, before: u64, owned: bool) {
        let (era, newest) = unpack_head(head);
        let oldest = newest.saturating_sub(N as u64 - 1);
        for word in &self.words {
            let current = word.load(Acquire);
            let w = Word::unpack(current);
            let stale = w.era != era || w.epoch(before).is_none_or(|at| at < oldest);
            if w.value == 0 || !stale {
                continue;
            }
            if owned {
                word.store(0, Release);
            } else {
                // Another add moved `head` on: it sweeps (a word written in
                // a newer era must not be taken for an older one here).
                if self.head.load(Acquire) != head {
                    return;
                }
                let _ = word.compare_exchange(current, 0, AcqRel, Relaxed);
            }
        }
    }

    /// What an add of `n` to `epoch` in `era` makes of the word `current`;
    /// `None` when the word counts a newer slice.
    fn added(current: u64, era: u64, epoch: u64, n: u64) -> Option<u64> {
        let w = Word::unpack(current);
        if w.era == era && w.tag == epoch & TAG_MASK {
            Some(Word::pack(era, epoch, w.value.saturating_add(n)))
        } else if w.era == era && w.value != 0 && w.epoch(epoch).is_some_and(|at| at > epoch) {
            None
        } else {
            Some(Word::pack(era, epoch, n))
        }
    }

    /// Adds `n` to the slice of `epoch`.
    pub(crate) fn add(&self, epoch: u64, n: u64) {
        let epoch = epoch.min(EPOCH_MAX);
        let Some(era) = self.enter(epoch, false) else {
            return;
        };
        let _ = self.word(epoch).fetch_update(AcqRel, Acquire, |current| {
            // Another add may have moved the window on since: this one is
            // then late, and must not overwrite what that one wrote.
            let (now_era, newest) = unpack_head(self.head.load(Acquire));
            if now_era != era || newest.saturating_sub(epoch) >= N as u64 {
                return None;
            }
            Self::added(current, era, epoch, n)
        });
    }

    /// Takes back `n` added to the slice of `epoch` (if it still counts it).
    pub(crate) fn take_back(&self, epoch: u64, n: u64) {
        let epoch = epoch.min(EPOCH_MAX);
        let (era, _) = unpack_head(self.head.load(Acquire));
        let _ = self.word(epoch).fetch_update(AcqRel, Acquire, |current| {
            let w = Word::unpack(current);
            (w.era == era && w.tag == epoch & TAG_MASK)
                .then(|| Word::pack(era, epoch, w.value.saturating_sub(n)))
        });
    }

    /// The sum over the window that ends with the slice of `epoch`.
    #[cfg(test)]
    fn sum(&self, epoch: u64) -> u64 {
        self.sum_since(epoch, 0)
    }

    /// The sum over the window that ends with the slice of `epoch`, leaving
    /// out the slices before `since`.
    pub(crate) fn sum_since(&self, epoch: u64, since: u64) -> u64 {
        let (epoch, since) = (epoch.min(EPOCH_MAX), since.min(EPOCH_MAX));
        if since > epoch {
            return 0;
        }
        let oldest = since.max(epoch.saturating_sub(N as u64 - 1));
        let (era, newest) = unpack_head(self.head.load(Acquire));
        // The common case: the window is near the newest slice, where a
        // word's era and tag name one slice exactly (every word of this era
        // is within 2^20 of `newest`, the window within 2^21, and tags tell
        // apart 2^22). Then the window's slices are read, each from its own
        // word, without working out each word's slice.
        const NEAR: u64 = 1 << (TAG_BITS - 1);
        if epoch.abs_diff(newest) < NEAR && oldest.abs_diff(newest) < NEAR {
            // Word `i` holds the window's slice `epoch - back` (if any),
            // `back` being how far before `epoch`'s word it comes.
            let last = (epoch % N as u64) as usize;
            let span = epoch - oldest;
            let mut sum = 0u64;
            for (i, word) in self.words.iter().enumerate() {
                let back = if i <= last { last - i } else { last + N - i };
                // Counted from `oldest` on (`span` is at most `epoch`).
                let at = epoch.wrapping_sub(back as u64);
                let word = word.load(Acquire);
                if back as u64 <= span && word >> VALUE_BITS == (era << TAG_BITS) | (at & TAG_MASK)
                {
                    sum = sum.saturating_add(word & VALUE_MAX);
                }
            }
            return sum;
        }
        self.words
            .iter()
            .map(|w| Word::unpack(w.load(Acquire)))
            .filter(|w| w.era == era)
            .filter(|w| {
                w.epoch(newest)
                    .is_some_and(|at| (oldest..=epoch).contains(&at))
            })
            .map(|w| w.value)
            .fold(0, u64::saturating_add)
    }

    /// The newest slice added to (0 before any).
    pub(crate) fn newest(&self) -> u64 {
        unpack_head(self.head.load(Acquire)).1
    }

    /// Forgets every count.
    pub(crate) fn clear(&self) {
        self.head.store(0, Release);
        for word in &self.words {
            word.store(0, Release);
        }
    }

    /// [`add`](Self::add) by the one thread that owns these slices: plain
    /// loads and stores (readers still see whole words).
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn add_owned(&self, epoch: u64, n: u64) {
        let epoch = epoch.min(EPOCH_MAX);
        // The common case, without the general path's unpacking: the slice
        // of the last add again, its word already counting it.
        let head = self.head.load(Acquire);
        if head & EPOCH_MAX == epoch {
            let word = self.word(epoch);
            let current = word.load(Relaxed);
            let era = head >> (64 - ERA_BITS);
            if current >> VALUE_BITS == (era << TAG_BITS) | (epoch & TAG_MASK) {
                let value = (current & VALUE_MAX).saturating_add(n).min(VALUE_MAX);
                word.store((current & !VALUE_MAX) | value, Release);
                return;
            }
        }
        self.add_owned_slow(epoch, n);
    }

    #[inline(never)]
    fn add_owned_slow(&self, epoch: u64, n: u64) {
        let Some(era) = self.enter(epoch, true) else {
            return;
        };
        let word = self.word(epoch);
        if let Some(next) = Self::added(word.load(Relaxed), era, epoch, n) {
            word.store(next, Release);
        }
    }

    fn take_back_owned(&self, epoch: u64, n: u64) {
        let epoch = epoch.min(EPOCH_MAX);
        let (era, _) = unpack_head(self.head.load(Relaxed));
        let word = self.word(epoch);
        let w = Word::unpack(word.load(Relaxed));
        if w.era == era && w.tag == epoch & TAG_MASK {
            word.store(Word::pack(era, epoch, w.value.saturating_sub(n)), Release);
        }
    }
}

/// [`Slices`] split by thread, as the statistics' counters are: a thread
/// that owns a stripe adds without a locked instruction and without sharing
/// a cache line; threads beyond the owned stripes share a few more.
pub(crate) struct ThreadSlices<const N: usize> {
    owned: [Stripe<N>; crate::counters::stripe::STRIPES],
    shared: [Stripe<N>; crate::counters::stripe::SHARED],
}

#[repr(align(128))]
struct Stripe<const N: usize>(Slices<N>);

impl<const N: usize> ThreadSlices<N> {
    pub(crate) const fn new() -> Self {
        ThreadSlices {
            owned: [const { Stripe(Slices::new()) }; crate::counters::stripe::STRIPES],
            shared: [const { Stripe(Slices::new()) }; crate::counters::stripe::SHARED],
        }
    }

    /// The stripes that may hold counts: those ever claimed by a thread.
    fn all(&self) -> impl Iterator<Item = &Slices<N>> {
        let (owned, shared) = crate::counters::stripe::used();
        let shared = if shared { &self.shared[..] } else { &[] };
        self.owned[..owned.min(self.owned.len())]
            .iter()
            .chain(shared)
            .map(|s| &s.0)
    }

    /// Every stripe (for clearing).
    fn every(&self) -> impl Iterator<Item = &Slices<N>> {
        self.owned.iter().chain(&self.shared).map(|s| &s.0)
    }

    #[cfg_attr(not(debug_assertions), inline(always))]
    pub(crate) fn add(&self, epoch: u64, n: u64) {
        match self.owned.get(crate::counters::stripe::owned()) {
            Some(own) => own.0.add_owned(epoch, n),
            None => self.add_slow(epoch, n),
        }
    }

    /// The thread's first add (it claims a stripe), or an add by a thread
    /// beyond the owned stripes.
    #[cold]
    #[inline(never)]
    fn add_slow(&self, epoch: u64, n: u64) {
        let index = crate::counters::stripe::index();
        match self.owned.get(index) {
            Some(own) => own.0.add_owned(epoch, n),
            None => {
                crate::counters::stripe::note_shared();
                self.shared[index % self.shared.len()].0.add(epoch, n)
            }
        }
    }

    pub(crate) fn take_back(&self, epoch: u64, n: u64) {
        let index = crate::counters::stripe::index();
        match self.owned.get(index) {
            Some(own) => own.0.take_back_owned(epoch, n),
            None => self.shared[index % self.shared.len()].0.take_back(epoch, n),
        }
    }

    pub(crate) fn sum(&self, epoch: u64) -> u64 {
        self.sum_since(epoch, 0)
    }

    // Not inlined: a caller that sums twice (a breaker's attempts and
    // failures) shares one copy of the loop.
    #[inline(never)]
    pub(crate) fn sum_since(&self, epoch: u64, since: u64) -> u64 {
        self.all()
            .map(|s| s.sum_since(epoch, since))
            .fold(0, u64::saturating_add)
    }

    /// The newest slice added to, in any stripe (0 before any).
    pub(crate) fn newest(&self) -> u64 {
        self.all().map(Slices::newest).max().unwrap_or(0)
    }

    pub(crate) fn clear(&self) {
        self.every().for_each(Slices::clear);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_expire_with_their_slice() {
        let s = Slices::<10>::new();
        s.add(100, 3);
        s.add(105, 2);
        assert_eq!(s.sum(105), 5);
        assert_eq!(s.sum(109), 5);
        assert_eq!(s.sum(110), 2, "epoch 100 is out of the window");
        assert_eq!(s.sum(115), 0);
        // The slice of 110 reuses the word of 100 and starts again.
        s.add(110, 1);
        assert_eq!(s.sum(110), 3);
        s.take_back(110, 1);
        assert_eq!(s.sum(110), 2);
        s.take_back(100, 5);
        assert_eq!(s.sum(110), 2, "a slice no longer counted is left alone");
        s.add(110, 4);
        s.add(100, 7);
        assert_eq!(s.sum(110), 6, "a late add for an older slice is dropped");
        assert_eq!(s.sum_since(110, 106), 4, "only slices from 106 on");
        assert_eq!(s.sum_since(110, 105), 6);
        assert_eq!(s.sum_since(110, 111), 0);
        s.clear();
        assert_eq!(s.sum(110), 0);
    }

    #[test]
    fn striped_slices_sum_every_thread() {
        let _one_at_a_time = crate::counters::stripe::LINES
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let s = ThreadSlices::<10>::new();
        std::thread::scope(|scope| {
            for _ in 0..(crate::counters::stripe::STRIPES + 5) {
                scope.spawn(|| {
                    for _ in 0..100 {
                        s.add(7, 2);
                    }
                    s.take_back(7, 1);
                });
            }
        });
        let threads = (crate::counters::stripe::STRIPES + 5) as u64;
        assert_eq!(s.sum(7), threads * 199);
        assert_eq!(s.sum(17), 0);
        s.clear();
        assert_eq!(s.sum(7), 0);
    }

    #[test]
    fn huge_values_and_epochs_saturate() {
        let s = Slices::<4>::new();
        s.add(u64::MAX, u64::MAX);
        s.add(u64::MAX, 1);
        assert_eq!(s.sum(u64::MAX), VALUE_MAX);
        assert_eq!(s.sum(EPOCH_MAX), VALUE_MAX, "the same slice");
        s.take_back(u64::MAX, u64::MAX);
        assert_eq!(s.sum(u64::MAX), 0);
        s.add_owned(u64::MAX, 3);
        s.take_back_owned(u64::MAX, 1);
        assert_eq!(s.sum_since(u64::MAX, u64::MAX), 2);
        assert_eq!(s.newest(), EPOCH_MAX);
        // The owner's short path (the slice of its last add) saturates too,
        // without spilling into the word's tag.
        s.add_owned(u64::MAX, u64::MAX);
        s.add_owned(u64::MAX, 1);
        assert_eq!(s.sum(u64::MAX), VALUE_MAX);
        assert_eq!(s.sum(u64::MAX - 1), VALUE_MAX, "the same slice still");
        // The owner's adds to slice 0 of fresh slices (a budget in the
        // process's first second): the first through the general path, the
        // next through the short one.
        let s = Slices::<4>::new();
        s.add_owned(0, 1);
        s.add_owned(0, 1);
        assert_eq!((s.sum(0), s.sum(3), s.sum(4)), (2, 2, 0));
        // Slice 0 and the words' packing at their edges.
        let s = Slices::<4>::new();
        s.add(0, 1);
        assert_eq!(s.sum(0), 1);
        assert_eq!(s.sum(3), 1);
        assert_eq!(s.sum(4), 0);
        s.add((1 << TAG_BITS) - 1, 2);
        s.add(1 << TAG_BITS, 3);
        assert_eq!(s.sum(1 << TAG_BITS), 5);
        s.clear();
        assert_eq!((s.sum(1 << TAG_BITS), s.newest()), (0, 0));
    }

    /// Both ways of adding: the shared one (compare-and-swap) and the
    /// owner's (a plain load and store).
    fn add_by(s: &Slices<10>, owned: bool, epoch: u64, n: u64) {
        if owned {
            s.add_owned(epoch, n);
        } else {
            s.add(epoch, n);
        }
    }

    /// Quiet periods of every length that matters to a packed epoch: around
    /// the ring's size, around powers of two up to and past 2^24 slices
    /// (the old tag's wrap), and their multiples.
    const QUIET: &[u64] = &[
        1,
        9,
        10,
        11,
        (1 << 19) - 1,
        1 << 19,
        (1 << 19) + 1,
        1 << 21,
        (1 << 22) - 1,
        1 << 22,
        (1 << 22) + 1,
        1 << 23,
        (1 << 24) - 6,
        (1 << 24) - 1,
        1 << 24,
        (1 << 24) + 1,
        (1 << 24) + 10,
        2 << 24,
        3 << 24,
        (5 << 24) + 3,
        10 << 24,
        1 << 40,
    ];

    #[test]
    fn a_quiet_period_of_any_length_loses_and_resurrects_nothing() {
        for owned in [false, true] {
            for &quiet in QUIET {
                for start in [7, 1000, (1 << 24) - 3] {
                    let s = Slices::<10>::new();
                    add_by(&s, owned, start, 3);
                    let later = start + quiet;
                    let kept = if quiet < 10 { 3 } else { 0 };
                    let at = format!("owned {owned}, start {start}, quiet {quiet}");
                    assert_eq!(s.sum(later), kept, "resurrected: {at}");
                    for k in 0..10 {
                        assert_eq!(s.sum(later + 10 + k), 0, "resurrected later: {at}");
                    }
                    add_by(&s, owned, later, 2);
                    assert_eq!(s.sum(later), kept + 2, "lost: {at}");
                    add_by(&s, owned, later + 1, 4);
                    let kept_next = if quiet + 1 < 10 { 3 } else { 0 };
                    assert_eq!(s.sum(later + 1), kept_next + 6, "lost next: {at}");
                    assert_eq!(s.sum(later + 10), 4, "{at}");
                    assert_eq!(s.sum(later + 11), 0, "{at}");
                }
            }
        }
    }

    #[test]
    fn a_slice_left_unused_for_ever_never_comes_back() {
        for owned in [false, true] {
            // Only index 3 ever holds epoch 3; then only index 0 is used,
            // in steps of half a million slices, past 2^24.
            let s = Slices::<10>::new();
            add_by(&s, owned, 3, 5);
            let mut at = 20;
            while at < 3 << 24 {
                add_by(&s, owned, at, 1);
                assert_eq!(s.sum(at), 1, "owned {owned}, at {at}");
                at += 500_000;
            }
            for k in 1..3 {
                let alias = 3 + (k << 24);
                assert_eq!(s.sum(alias), 0, "owned {owned}: epoch 3 read as {alias}");
                assert_eq!(s.sum(alias + 5), 0, "owned {owned}");
            }
        }
    }

    #[test]
    fn a_late_add_for_an_older_slice_never_replaces_a_newer_one() {
        for owned in [false, true] {
            let s = Slices::<10>::new();
            add_by(&s, owned, 110, 4);
            add_by(&s, owned, 100, 7);
            assert_eq!(s.sum(110), 4, "owned {owned}");
            assert_eq!(s.sum(109), 0, "owned {owned}: 100 is out of 110's window");
            // Within the newest slice's window, a late add counts.
            add_by(&s, owned, 105, 1);
            assert_eq!(s.sum(110), 5, "owned {owned}");
            assert_eq!(s.sum(105), 1, "owned {owned}");
        }
        // Attempts and failures counted apart (a breaker's): a late success
        // must not leave more failures than attempts in the window.
        let attempts = Slices::<10>::new();
        let failures = Slices::<10>::new();
        attempts.add_owned(115, 5);
        failures.add_owned(115, 3);
        attempts.add_owned(105, 1);
        assert_eq!((attempts.sum(115), failures.sum(115)), (5, 3));
    }

    #[test]
    fn threads_that_end_a_quiet_period_together_lose_nothing() {
        for quiet in [10, 1 << 19, 1 << 24, 3 << 24] {
            let s = Slices::<10>::new();
            s.add(7, 100);
            let later = 7 + quiet;
            std::thread::scope(|scope| {
                for t in 0..4u64 {
                    let s = &s;
                    scope.spawn(move || {
                        for i in 0..2000u64 {
                            // Late adds (dropped when out of the window)
                            // race with the current ones.
                            s.add(later - (i + t) % 12, 1);
                        }
                    });
                }
            });
            // Per thread, 2000 adds over 12 slices, of which the last 10
            // are in the window.
            let expected: u64 = (0..4u64)
                .map(|t| (0..2000u64).filter(|i| (i + t) % 12 < 10).count() as u64)
                .sum();
            assert_eq!(s.sum(later), expected, "quiet {quiet}");
        }
    }

    #[test]
    fn a_thread_beyond_the_owned_stripes_takes_back_from_the_stripe_it_added_to() {
        let _one_at_a_time = crate::counters::stripe::LINES
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let threads = crate::counters::stripe::STRIPES * 2 + 3;
        let barrier = std::sync::Barrier::new(threads);
        let got: Vec<(usize, u64)> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    scope.spawn(|| {
                        // All alive at once, so that some find no stripe of
                        // their own.
                        barrier.wait();
                        let s = ThreadSlices::<10>::new();
                        s.add(7, 3);
                        s.take_back(7, 1);
                        let got = (crate::counters::stripe::index(), s.sum(7));
                        barrier.wait();
                        got
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(
            got.iter()
                .any(|&(index, _)| index >= crate::counters::stripe::STRIPES)
        );
        for (index, sum) in got {
            assert_eq!(sum, 2, "stripe {index}");
        }
    }

    /// Takes back from both ways: see [`add_by`].
    fn take_back_by(s: &Slices<10>, owned: bool, epoch: u64, n: u64) {
        if owned {
            s.take_back_owned(epoch, n);
        } else {
            s.take_back(epoch, n);
        }
    }

    /// Moves `head` on to `epoch` as an add does, then puts back every word
    /// its sweep cleared: the state another add finds while the sweep of the
    /// one that moved `head` has not begun (or has given way to it).
    fn move_unswept(s: &Slices<10>, epoch: u64) {
        let before: Vec<u64> = s.words.iter().map(|w| w.load(Relaxed)).collect();
        assert!(s.enter(epoch, false).is_some());
        for (word, was) in s.words.iter().zip(before) {
            word.store(was, Relaxed);
        }
    }

    #[test]
    fn a_word_reads_as_the_slice_nearest_the_one_it_is_read_against() {
        let at = |slice: u64, near: u64| Word::unpack(Word::pack(0, slice, 1)).epoch(near);
        let half = 1 << (TAG_BITS - 1);
        let near = 5 << TAG_BITS;
        assert_eq!(at(near, near), Some(near));
        assert_eq!(at(near + half - 1, near), Some(near + half - 1));
        // Exactly half a turn of the tag away: the older slice.
        assert_eq!(at(near - half, near), Some(near - half));
        assert_eq!(at(near + half, near), Some(near - half));
        assert_eq!(at(near - 1, near), Some(near - 1));
        assert_eq!(at(half, 2 * half - 1), Some(half));
        assert_eq!(at(TAG_MASK, 0), None, "below slice 0");
        assert_eq!(at(half, 0), None);
    }

    #[test]
    fn a_late_add_by_exactly_the_window_is_dropped() {
        for owned in [false, true] {
            let s = Slices::<10>::new();
            add_by(&s, owned, 20, 2);
            // Emptied, 20's word no longer refuses an older slice: only
            // the window does.
            take_back_by(&s, owned, 20, 2);
            add_by(&s, owned, 10, 5);
            assert_eq!(s.sum(19), 0, "owned {owned}: 10 is out of 20's window");
            assert_eq!(s.sum(20), 0, "owned {owned}");
            add_by(&s, owned, 20, 1);
            assert_eq!(s.sum(20), 1, "owned {owned}");
        }
    }

    #[test]
    fn taking_back_from_an_old_slice_leaves_the_newer_one_in_its_word_alone() {
        for owned in [false, true] {
            let s = Slices::<10>::new();
            add_by(&s, owned, 10, 5);
            add_by(&s, owned, 20, 3);
            take_back_by(&s, owned, 10, 1);
            assert_eq!(s.sum(20), 3, "owned {owned}");
            take_back_by(&s, owned, 20, 1);
            assert_eq!(s.sum(20), 2, "owned {owned}");
        }
    }

    #[test]
    fn a_slice_out_of_the_window_is_gone_as_soon_as_the_newest_moves_on() {
        for owned in [false, true] {
            let s = Slices::<10>::new();
            add_by(&s, owned, 10, 5);
            add_by(&s, owned, 15, 1);
            // An add for 20 has moved the newest slice on, and not yet
            // written its own word (the word of 10): a reader one slice
            // behind sees only the window of 20.
            assert!(s.enter(20, owned).is_some());
            assert_eq!(s.sum(19), 1, "owned {owned}");
            assert_eq!(s.sum(10), 0, "owned {owned}");
        }
    }

    #[test]
    fn an_add_starts_its_slice_afresh_over_a_word_a_sweep_has_not_reached() {
        // The word of an older slice of the same era.
        let s = Slices::<10>::new();
        s.add(10, 5);
        move_unswept(&s, 20);
        s.add(20, 2);
        assert_eq!(s.sum(20), 2);
        // The word of an earlier era, that reads as a slice 4 ahead.
        let s = Slices::<10>::new();
        s.add(1000, 5);
        let later = 1000 + (1 << TAG_BITS) - 4;
        move_unswept(&s, later);
        s.add(later, 2);
        assert_eq!(s.sum(later), 2);
    }

    #[test]
    fn a_word_a_sweep_has_not_reached_counts_in_no_later_era() {
        // Two jumps of at least ERA slices; the second ends where the tag of
        // 1000 comes round again, so 1000 read against the first is within
        // the window: only its era tells it apart.
        let s = Slices::<10>::new();
        s.add(1000, 5);
        let end = 1000 + (1 << TAG_BITS);
        move_unswept(&s, end - ERA);
        s.add(end, 2);
        assert_eq!(s.sum(end), 2);
        assert_eq!(unpack_head(s.head.load(Relaxed)).0, 2);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]

        /// Against a model: every add within `N` slices of the newest one
        /// counts, every other add is dropped, and a sum over a window adds
        /// the counts of its slices that are within `N` of the newest.
        #[test]
        fn slices_count_as_a_sliding_window(
            owned in proptest::bool::ANY,
            steps in proptest::collection::vec(
                (0usize..QUIET.len() + 12, 1u64..5, 0u64..25, 0u64..12),
                1..40,
            ),
        ) {
            use std::collections::BTreeMap;
            let s = Slices::<10>::new();
            let mut model: BTreeMap<u64, u64> = BTreeMap::new();
            let mut newest: Option<u64> = None;
            let mut at = 1u64 << 30;
            for (jump, n, back, since_back) in steps {
                // A step forward (a quiet period, or a small one), or back.
                at = match jump.checked_sub(12) {
                    Some(i) => at + QUIET[i],
                    None if jump < 6 => at + jump as u64,
                    None => at.saturating_sub(jump as u64 - 5),
                };
                let epoch = at.saturating_sub(back % 3);
                add_by(&s, owned, epoch, n);
                let held = newest.is_none_or(|top| epoch + 10 > top);
                if held {
                    *model.entry(epoch).or_default() += n;
                    newest = Some(newest.map_or(epoch, |top| top.max(epoch)));
                }
                let top = newest.unwrap_or(0);
                // Queries far ahead of the newest slice too, where a tag
                // comes round again (2^22 on): they must count nothing.
                let far = 1u64 << TAG_BITS;
                let queries = [
                    at, at.saturating_sub(back), at + back, top, top + 9, top + 10,
                    top + far / 2, top + far, top + far + back,
                ];
                for query in queries {
                    let since = query.saturating_sub(since_back);
                    let low = since.max(query.saturating_sub(9)).max(top.saturating_sub(9));
                    let expected: u64 = if low > query {
                        0
                    } else {
                        model.range(low..=query).map(|(_, n)| n).sum()
                    };
                    proptest::prop_assert_eq!(
                        s.sum_since(query, since), expected,
                        "query {} since {} (newest {})", query, since, top
                    );
                }
            }
        }
    }
}
