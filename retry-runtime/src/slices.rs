//! Counts over a sliding window of time slices, without a lock: each slice
//! is one word that packs the slice's epoch (which slice of time it counts)
//! and its count, updated with compare-and-swap. A slice left from an
//! earlier turn of the ring starts again from zero when it is next used.

use std::sync::atomic::{AtomicU64, Ordering::*};

const VALUE_BITS: u32 = 40;
const VALUE_MAX: u64 = (1 << VALUE_BITS) - 1;
const EPOCH_MASK: u64 = (1 << (64 - VALUE_BITS)) - 1;

/// `N` slices; the window is the current slice and the `N - 1` before it.
pub(crate) struct Slices<const N: usize> {
    words: [AtomicU64; N],
}

fn unpack(word: u64) -> (u64, u64) {
    (word >> VALUE_BITS, word & VALUE_MAX)
}

/// Whether the slice tagged `at` is newer than `tag` (a late add for an
/// older slice must not wipe a newer one that reuses its word).
fn newer(at: u64, tag: u64) -> bool {
    let ahead = at.wrapping_sub(tag) & EPOCH_MASK;
    ahead != 0 && ahead < (EPOCH_MASK >> 1)
}

fn pack(epoch: u64, value: u64) -> u64 {
    ((epoch & EPOCH_MASK) << VALUE_BITS) | value.min(VALUE_MAX)
}

impl<const N: usize> Slices<N> {
    pub(crate) const fn new() -> Self {
        Slices {
            words: [const { AtomicU64::new(0) }; N],
        }
    }

    fn word(&self, epoch: u64) -> &AtomicU64 {
        &self.words[(epoch % N as u64) as usize]
    }

    /// Adds `n` to the slice of `epoch`.
    pub(crate) fn add(&self, epoch: u64, n: u64) {
        let tag = epoch & EPOCH_MASK;
        let word = self.word(epoch);
        let _ = word.fetch_update(AcqRel, Acquire, |current| {
            let (at, value) = unpack(current);
            if at == tag {
                Some(pack(tag, value.saturating_add(n)))
            } else if value != 0 && newer(at, tag) {
                None
            } else {
                Some(pack(tag, n))
            }
        });
    }

    /// Takes back `n` added to the slice of `epoch` (if it still counts it).
    pub(crate) fn take_back(&self, epoch: u64, n: u64) {
        let tag = epoch & EPOCH_MASK;
        let _ = self.word(epoch).fetch_update(AcqRel, Acquire, |current| {
            let (at, value) = unpack(current);
            (at == tag).then(|| pack(tag, value.saturating_sub(n)))
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
        if since > epoch {
            return 0;
        }
        let now = epoch & EPOCH_MASK;
        let oldest = (N as u64 - 1).min(epoch.saturating_sub(since));
        self.words
            .iter()
            .map(|w| unpack(w.load(Acquire)))
            .filter(|(at, _)| now.wrapping_sub(*at) & EPOCH_MASK <= oldest)
            .map(|(_, value)| value)
            .fold(0, u64::saturating_add)
    }

    /// Forgets every count.
    pub(crate) fn clear(&self) {
        for word in &self.words {
            word.store(0, Release);
        }
    }

    /// [`add`](Self::add) by the one thread that owns these slices: a plain
    /// load and store (readers still see whole words).
    fn add_owned(&self, epoch: u64, n: u64) {
        let tag = epoch & EPOCH_MASK;
        let word = self.word(epoch);
        let (at, value) = unpack(word.load(Relaxed));
        let next = if at == tag {
            value.saturating_add(n)
        } else {
            n
        };
        word.store(pack(tag, next), Release);
    }

    fn take_back_owned(&self, epoch: u64, n: u64) {
        let tag = epoch & EPOCH_MASK;
        let word = self.word(epoch);
        let (at, value) = unpack(word.load(Relaxed));
        if at == tag {
            word.store(pack(tag, value.saturating_sub(n)), Release);
        }
    }
}

/// [`Slices`] split by thread, as the statistics' counters are: a thread
/// that owns a stripe adds without a locked instruction and without sharing
/// a cache line; threads beyond the owned stripes share a few more.
pub(crate) struct Striped<const N: usize> {
    owned: [Stripe<N>; crate::stats::STRIPES],
    shared: [Stripe<N>; crate::stats::SHARED],
}

#[repr(align(128))]
struct Stripe<const N: usize>(Slices<N>);

impl<const N: usize> Striped<N> {
    pub(crate) const fn new() -> Self {
        Striped {
            owned: [const { Stripe(Slices::new()) }; crate::stats::STRIPES],
            shared: [const { Stripe(Slices::new()) }; crate::stats::SHARED],
        }
    }

    /// The stripes that may hold counts: those ever claimed by a thread.
    fn all(&self) -> impl Iterator<Item = &Slices<N>> {
        let (owned, shared) = crate::stats::stripes_used();
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

    pub(crate) fn add(&self, epoch: u64, n: u64) {
        let index = crate::stats::stripe_index();
        match self.owned.get(index) {
            Some(own) => own.0.add_owned(epoch, n),
            None => {
                crate::stats::note_shared();
                self.shared[index % self.shared.len()].0.add(epoch, n)
            }
        }
    }

    pub(crate) fn take_back(&self, epoch: u64, n: u64) {
        let index = crate::stats::stripe_index();
        match self.owned.get(index) {
            Some(own) => own.0.take_back_owned(epoch, n),
            None => self.shared[index % self.shared.len()].0.take_back(epoch, n),
        }
    }

    pub(crate) fn sum(&self, epoch: u64) -> u64 {
        self.sum_since(epoch, 0)
    }

    pub(crate) fn sum_since(&self, epoch: u64, since: u64) -> u64 {
        self.all()
            .map(|s| s.sum_since(epoch, since))
            .fold(0, u64::saturating_add)
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
        let s = Striped::<10>::new();
        std::thread::scope(|scope| {
            for _ in 0..(crate::stats::STRIPES + 5) {
                scope.spawn(|| {
                    for _ in 0..100 {
                        s.add(7, 2);
                    }
                    s.take_back(7, 1);
                });
            }
        });
        let threads = (crate::stats::STRIPES + 5) as u64;
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
        s.take_back(u64::MAX, u64::MAX);
        assert_eq!(s.sum(u64::MAX), 0);
        // The epoch wraps at 24 bits: the window still works across it.
        let wrap = EPOCH_MASK;
        s.add(wrap, 1);
        s.add(wrap + 1, 1);
        assert_eq!(s.sum(wrap + 1), 2);
        assert_eq!(s.sum(wrap + 4), 1);
    }
}
