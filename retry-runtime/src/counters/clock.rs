//! The clocks the engine reads: tokio's for `async fn` (so a paused test
//! clock is obeyed), the system's monotonic clock for plain `fn`.

use std::sync::OnceLock;
use std::time::Duration;

/// `d` in whole milliseconds, `u64::MAX` when it has more: the one
/// conversion that logs, metrics, the breaker and the fleet share.
#[inline]
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A source of time.
pub trait Clock {
    /// A point in time.
    type Instant: Copy;
    /// Now.
    fn now() -> Self::Instant;
    /// Time passed since `start`.
    fn since(start: Self::Instant) -> Duration;
    /// Now, as the time since a fixed point of the process: what the state
    /// shared across calls (budgets, breakers) stores.
    #[inline]
    fn ticks() -> Duration {
        Self::ticks_of(Self::now())
    }
    /// `at` as the time since the same fixed point.
    fn ticks_of(at: Self::Instant) -> Duration;
    /// Whether its sleeps end on whole milliseconds (tokio's timer), rather
    /// than when asked.
    const SLEEPS_IN_MILLIS: bool = false;
}

/// One reading of `C`'s [`ticks`](Clock::ticks), taken when first asked
/// for: the observers of one event share it.
pub struct Now<C> {
    at: std::cell::Cell<Option<Duration>>,
    clock: std::marker::PhantomData<fn() -> C>,
}

impl<C: Clock> Now<C> {
    /// Not read yet.
    #[inline(always)]
    pub fn new() -> Self {
        Now {
            at: std::cell::Cell::new(None),
            clock: std::marker::PhantomData,
        }
    }

    /// A reading taken already.
    #[inline(always)]
    pub fn at(ticks: Duration) -> Self {
        Now {
            at: std::cell::Cell::new(Some(ticks)),
            clock: std::marker::PhantomData,
        }
    }

    /// The reading (taken now if it was not yet).
    #[inline]
    pub fn ticks(&self) -> Duration {
        match self.at.get() {
            Some(at) => at,
            None => {
                let at = C::ticks();
                self.at.set(Some(at));
                at
            }
        }
    }
}

impl<C: Clock> Default for Now<C> {
    fn default() -> Self {
        Now::new()
    }
}

impl<C> std::fmt::Debug for Now<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Now").field(&self.at.get()).finish()
    }
}

/// The fixed point of [`Clock::ticks`]: an hour before the first use (or
/// the boot), so that a paused test clock that started a little earlier
/// still reads after it.
fn origin() -> std::time::Instant {
    static ORIGIN: OnceLock<std::time::Instant> = OnceLock::new();
    *ORIGIN.get_or_init(|| {
        let now = std::time::Instant::now();
        now.checked_sub(Duration::from_secs(3600)).unwrap_or(now)
    })
}

/// [`tokio::time::Instant`]: honours `tokio::time::pause`.
#[derive(Debug)]
pub enum TokioClock {}

impl Clock for TokioClock {
    type Instant = tokio::time::Instant;
    const SLEEPS_IN_MILLIS: bool = true;
    #[inline]
    fn now() -> Self::Instant {
        tokio::time::Instant::now()
    }
    #[inline]
    fn since(start: Self::Instant) -> Duration {
        start.elapsed()
    }
    #[inline]
    fn ticks_of(at: Self::Instant) -> Duration {
        at.into_std().saturating_duration_since(origin())
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
    #[inline]
    fn ticks_of(at: Self::Instant) -> Duration {
        at.saturating_duration_since(origin())
    }
}
