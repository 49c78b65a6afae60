//! The clocks the engine reads: tokio's for `async fn` (so a paused test
//! clock is obeyed), the system's monotonic clock for plain `fn`.

use std::time::Duration;

/// A source of time.
pub trait Clock {
    /// A point in time.
    type Instant: Copy;
    /// Now.
    fn now() -> Self::Instant;
    /// Time passed since `start`.
    fn since(start: Self::Instant) -> Duration;
}

/// [`tokio::time::Instant`]: honours `tokio::time::pause`.
#[derive(Debug)]
pub enum TokioClock {}

impl Clock for TokioClock {
    type Instant = tokio::time::Instant;
    #[inline]
    fn now() -> Self::Instant {
        tokio::time::Instant::now()
    }
    #[inline]
    fn since(start: Self::Instant) -> Duration {
        start.elapsed()
    }
}

/// [`std::time::Instant`].
#[derive(Debug)]
pub enum StdClock {}

impl Clock for StdClock {
    type Instant = std::time::Instant;
    #[inline]
    fn now() -> Self::Instant {
        std::time::Instant::now()
    }
    #[inline]
    fn since(start: Self::Instant) -> Duration {
        start.elapsed()
    }
}
