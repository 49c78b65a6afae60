//! The defaults and limits the attribute checks at compile time, written
//! here once: `retry-macros` mirrors them (its `args::valid`), and a test
//! there reads this file and fails when the two disagree.

/// The cap of `exponential` and `linear` waits, in seconds.
pub(crate) const DEFAULT_MAX_SECS: u64 = 60;

/// The most attempts an adaptive window remembers.
pub(crate) const MAX_WINDOW: u32 = 4096;

/// The attempts `wait = adaptive(..)` remembers when it names no `window`.
pub const ADAPTIVE_WINDOW: u32 = 100;
