//! Which stripe the current thread owns: up to [`STRIPES`] threads at once
//! own one each (given back when the thread exits); threads beyond them
//! spread over [`SHARED`] shared stripes. Every striped counter of the
//! crate indexes its lines with [`owned`] on its hot path and [`index`]
//! (which claims a stripe on a thread's first count) on its cold one.

use std::cell::Cell;
#[cfg(test)]
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::*};

/// Threads that own a stripe of their own at once.
pub(crate) const STRIPES: usize = 16;
/// Stripes shared by the threads beyond them.
pub(crate) const SHARED: usize = 8;

/// The tests that claim every owned stripe at once run one at a time (and
/// apart from the ones that need a free stripe), in every module.
#[cfg(test)]
pub(crate) static LINES: Mutex<()> = Mutex::new(());

/// Per slot: whether a living thread owns it.
static TAKEN: [AtomicBool; STRIPES] = [const { AtomicBool::new(false) }; STRIPES];

/// Sentinel: no slot chosen yet.
const UNSET: usize = usize::MAX;
/// Threads without a slot of their own count from here, so that they
/// spread over the shared lines.
static OVERFLOW: AtomicUsize = AtomicUsize::new(0);

fn overflow() -> usize {
    STRIPES + OVERFLOW.fetch_add(1, Relaxed) % (usize::MAX / 2)
}

/// How many owned stripes were ever claimed, and whether any thread went
/// to the shared ones: a reader sums only those (the others are zero).
static CLAIMED: AtomicUsize = AtomicUsize::new(0);

/// Whether a count was ever made on a shared stripe.
static SHARED_USED: AtomicBool = AtomicBool::new(false);

/// Called before a count on a shared stripe (a cold path).
pub(crate) fn note_shared() {
    if !SHARED_USED.load(Relaxed) {
        SHARED_USED.store(true, SeqCst);
    }
}

/// `(owned stripes ever used, whether shared stripes were used)`.
pub(crate) fn used() -> (usize, bool) {
    (CLAIMED.load(Acquire), SHARED_USED.load(Acquire))
}

thread_local! {
    static INDEX: Cell<usize> = const { Cell::new(UNSET) };
    static OWNER: Owner = const { Owner };
}

/// Gives the slot back when the thread exits.
struct Owner;

impl Drop for Owner {
    fn drop(&mut self) {
        // Later counts of this exiting thread go to a shared stripe.
        let index = INDEX.replace(STRIPES);
        if let Some(taken) = TAKEN.get(index) {
            taken.store(false, Release);
        }
    }
}

/// This thread's slot as it stands, without claiming one: below `STRIPES`
/// when it owns one; at or above it otherwise, and also before its first
/// count (unset is the largest value), so that a count's hot path needs a
/// single comparison and leaves the rest to [`index`] on its cold path.
#[cfg_attr(not(debug_assertions), inline(always))]
pub(crate) fn owned() -> usize {
    INDEX.get()
}

/// The slot of this thread (claimed on its first count): below `STRIPES`
/// when it owns one.
#[cfg_attr(not(debug_assertions), inline(always))]
pub(crate) fn index() -> usize {
    let index = INDEX.get();
    if index != UNSET { index } else { claim() }
}

#[cold]
#[inline(never)]
fn claim() -> usize {
    let free = TAKEN
        .iter()
        .position(|t| t.compare_exchange(false, true, Acquire, Relaxed).is_ok());
    let index = match free {
        // The slot must be given back when the thread exits; if its
        // exit has begun, give it back now.
        Some(i) if OWNER.try_with(|_| ()).is_ok() => {
            CLAIMED.fetch_max(i + 1, AcqRel);
            i
        }
        Some(i) => {
            TAKEN[i].store(false, Release);
            overflow()
        }
        None => overflow(),
    };
    INDEX.set(index);
    index
}
