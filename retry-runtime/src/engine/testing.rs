//! A switch for an application's own test suite: no backoff sleeps, and
//! optionally fewer attempts, in every retrying function of the process.
//!
//! ```
//! use retry_runtime::{retry, testing};
//!
//! #[retry(attempts = 5, wait = fixed(30))]
//! fn fetch(calls: &mut u32) -> std::io::Result<()> {
//!     *calls += 1;
//!     Err(std::io::ErrorKind::ConnectionReset.into())
//! }
//!
//! let _guard = testing::enable_with_attempts(2);
//! let mut calls = 0;
//! assert!(fetch(&mut calls).is_err()); // at once: no 30 s sleeps
//! assert_eq!(calls, 2);
//! ```
//!
//! While any guard lives, every wait is zero (the wait's own delay and the
//! server's `Retry-After` alike; a zero wait still yields to the executor).
//! Everything else decides as usual: the rules, the deadline, a
//! `Retry-After` above the cap. With several guards alive at once (tests
//! running in parallel threads of one process), waits stay zero until the
//! last guard is dropped, and the attempt cap is the smallest cap among the
//! live guards. The switch is read only when an attempt fails.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

/// The state the engine reads on a failure: 0 when off, else the attempt
/// cap (`u32::MAX` for none).
static STATE: AtomicU32 = AtomicU32::new(OFF);

const OFF: u32 = 0;

/// The last guard id given out, and the live guards' caps (`u32::MAX` for
/// none) by guard id.
static GUARDS: Mutex<(u64, Vec<(u64, u32)>)> = Mutex::new((0, Vec::new()));

/// While it lives, waits are zero (and attempts capped, with
/// [`enable_with_attempts`]). Dropping it restores normal behaviour once no
/// other guard lives.
#[must_use = "the switch is off again as soon as the guard is dropped"]
#[derive(Debug)]
pub struct TestingGuard {
    id: u64,
}

/// Makes every wait zero while the guard lives.
pub fn enable() -> TestingGuard {
    start(u32::MAX)
}

/// Makes every wait zero and lets no call make more than `attempts`
/// attempts while the guard lives. `0` is taken as `1`: the first attempt
/// is always made.
pub fn enable_with_attempts(attempts: u32) -> TestingGuard {
    start(attempts.max(1))
}

fn start(cap: u32) -> TestingGuard {
    let mut guards = GUARDS.lock().unwrap_or_else(|e| e.into_inner());
    guards.0 += 1;
    let id = guards.0;
    guards.1.push((id, cap));
    publish(&guards.1);
    TestingGuard { id }
}

impl Drop for TestingGuard {
    fn drop(&mut self) {
        let mut guards = GUARDS.lock().unwrap_or_else(|e| e.into_inner());
        guards.1.retain(|(id, _)| *id != self.id);
        publish(&guards.1);
    }
}

fn publish(guards: &[(u64, u32)]) {
    let state = guards.iter().map(|(_, cap)| *cap).min().unwrap_or(OFF);
    STATE.store(state, Relaxed);
}

/// What the switch says, as the engine reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Switch {
    /// Whether every wait is zero.
    pub(crate) zero_waits: bool,
    /// The most attempts a call may make (`u32::MAX` for no cap).
    pub(crate) attempts: u32,
}

/// The switch now. One relaxed load; read only on the failure path.
#[inline]
pub(crate) fn current() -> Switch {
    match STATE.load(Relaxed) {
        OFF => Switch {
            zero_waits: false,
            attempts: u32::MAX,
        },
        cap => Switch {
            zero_waits: true,
            attempts: cap,
        },
    }
}

/// Whether a guard lives.
pub fn is_enabled() -> bool {
    STATE.load(Relaxed) != OFF
}
