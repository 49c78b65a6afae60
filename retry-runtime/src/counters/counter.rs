//! A counter split in one cache line per thread.

use std::sync::atomic::{AtomicU64, Ordering::*};

use super::stripe::{self, SHARED, STRIPES};

/// A counter split in one cache line per thread: up to [`STRIPES`] threads
/// at once own a line each and add with a plain load and store; threads
/// beyond them spread over [`SHARED`] more lines with atomic adds.
pub(crate) struct Counter {
    lines: [Line; STRIPES],
    pub(crate) shared: [Line; SHARED],
}

/// 128 bytes: two cache lines, as adjacent lines are fetched in pairs.
#[repr(align(128))]
pub(crate) struct Line(pub(crate) AtomicU64);

impl Line {
    /// Adds one to a line only this thread writes: a plain load and store.
    /// Returns the count before.
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn add_owned(&self) -> u64 {
        let before = self.0.load(Relaxed);
        self.0.store(before.wrapping_add(1), Relaxed);
        before
    }
}

impl Counter {
    pub(crate) const fn new() -> Self {
        Counter {
            lines: [const { Line(AtomicU64::new(0)) }; STRIPES],
            shared: [const { Line(AtomicU64::new(0)) }; SHARED],
        }
    }

    /// Adds one; returns the count before, of this thread's line (zero on
    /// the line's first add).
    #[cfg_attr(not(debug_assertions), inline(always))]
    pub(crate) fn add_one(&self) -> u64 {
        match self.lines.get(stripe::owned()) {
            Some(line) => line.add_owned(),
            None => self.add_one_slow(),
        }
    }

    /// The thread's first count (it claims a line), or a count by a thread
    /// beyond the owned lines.
    #[cold]
    #[inline(never)]
    fn add_one_slow(&self) -> u64 {
        let index = stripe::index();
        match self.lines.get(index) {
            Some(line) => line.add_owned(),
            None => {
                stripe::note_shared();
                self.shared[index % SHARED].0.fetch_add(1, Relaxed)
            }
        }
    }

    pub(crate) fn sum(&self) -> u64 {
        self.lines
            .iter()
            .chain(&self.shared)
            .map(|l| l.0.load(Relaxed))
            .fold(0, u64::wrapping_add)
    }
}
