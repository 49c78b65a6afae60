//! Adaptive waits: back off further while more of the recent attempts fail.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::*};
use std::time::Duration;

use crate::wait::{Wait, WaitContext};

/// The most attempts a window remembers.
pub const MAX_WINDOW: u32 = 4096;
const WORDS: usize = MAX_WINDOW as usize / 64;

/// The outcomes of the last `size` attempts of a function (or of every
/// function that shares the window), one bit each: what
/// [`adaptive`](crate::wait::adaptive) waits read.
///
/// The attribute keeps one per function for `wait = adaptive(..)`; declare
/// one as a `static` to share it between functions that call the same API
/// (`wait = adaptive(W, shared = OPENAI_HEALTH)`), or pass it to the builder.
///
/// ```
/// use retry_runtime::AdaptiveWindow;
///
/// static OPENAI_HEALTH: AdaptiveWindow = AdaptiveWindow::new(100);
/// OPENAI_HEALTH.record(true);
/// OPENAI_HEALTH.record(false);
/// assert_eq!(OPENAI_HEALTH.failure_ratio(), 0.5);
/// ```
pub struct AdaptiveWindow {
    size: u32,
    next: AtomicU64,
    bits: [AtomicU64; WORDS],
    /// The other processes' attempts and failures, when shared.
    #[cfg(feature = "redis")]
    pub(crate) fleet: crate::redis::Slot,
}

impl AdaptiveWindow {
    /// A window of the last `size` attempts (1 to 4096; outside, clamped).
    pub const fn new(size: u32) -> AdaptiveWindow {
        let size = if size == 0 {
            1
        } else if size > MAX_WINDOW {
            MAX_WINDOW
        } else {
            size
        };
        AdaptiveWindow {
            size,
            next: AtomicU64::new(0),
            bits: [const { AtomicU64::new(0) }; WORDS],
            #[cfg(feature = "redis")]
            fleet: crate::redis::Slot::new(),
        }
    }

    /// Records an attempt: `failed` when it failed in a way the rules retry.
    pub fn record(&self, failed: bool) {
        let slot = self.next.fetch_add(1, Relaxed) % u64::from(self.size);
        let (word, bit) = ((slot / 64) as usize, 1u64 << (slot % 64));
        if failed {
            self.bits[word].fetch_or(bit, Relaxed);
        } else {
            self.bits[word].fetch_and(!bit, Relaxed);
        }
    }

    /// The share of failed attempts among the last `size` (0.0 before any).
    pub fn failure_ratio(&self) -> f64 {
        let (seen, failed) = self.counts();
        #[cfg(feature = "redis")]
        let (seen, failed) = {
            // The fleet's last attempts too, when shared.
            let (s, f) = self.fleet.others();
            (seen.saturating_add(s), failed.saturating_add(f))
        };
        if seen == 0 {
            return 0.0;
        }
        (failed as f64 / seen as f64).min(1.0)
    }

    /// This process's attempts in the window and the failed ones among them.
    fn counts(&self) -> (u64, u64) {
        let seen = self.next.load(Relaxed).min(u64::from(self.size));
        let failed: u32 = self.bits.iter().map(|w| w.load(Relaxed).count_ones()).sum();
        (seen, u64::from(failed).min(seen))
    }

    /// [`AdaptiveWindow::counts`], for the fleet, after how many attempts
    /// it ever recorded (to tell an idle window).
    #[cfg(feature = "redis")]
    pub(crate) fn own_counts(&self) -> (u64, u64, u64) {
        let (seen, failed) = self.counts();
        (self.next.load(Relaxed), seen, failed)
    }

    /// The window's size.
    pub fn size(&self) -> u32 {
        self.size
    }
}

impl fmt::Debug for AdaptiveWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdaptiveWindow")
            .field("size", &self.size)
            .field("failure_ratio", &self.failure_ratio())
            .finish()
    }
}

/// The delay of `W` times `1 + scale × r`, capped at `max`, where `r` is
/// the failure ratio of the window the engine passes in
/// ([`WaitContext::failure_ratio`]); `wait = adaptive(W, ..)`.
///
/// ```
/// use std::time::Duration;
/// use retry_runtime::AdaptiveWindow;
/// use retry_runtime::wait::{adaptive, fixed, Entropy, Wait, WaitContext};
///
/// let wait = adaptive(fixed(Duration::from_secs(1))).scale(3.0);
/// let window = AdaptiveWindow::new(4);
/// for failed in [true, true, false, false] {
///     window.record(failed);
/// }
/// let mut rng = Entropy::from_seed(0);
/// let mut cx = WaitContext::new(1, Duration::ZERO, &mut rng).window(&window);
/// assert_eq!(wait.delay(&mut cx), Duration::from_millis(2500)); // 1 s × (1 + 3 × 0.5)
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Adaptive<W> {
    inner: W,
    scale: f64,
    max: Duration,
}

/// `adaptive(W)`: `scale = 3`, `max = 120s` (the window is the engine's).
pub const fn adaptive<W: Wait>(inner: W) -> Adaptive<W> {
    Adaptive {
        inner,
        scale: 3.0,
        max: Duration::from_secs(120),
    }
}

impl<W> Adaptive<W> {
    /// How much a full window of failures multiplies the delay, minus one.
    /// Values that are not finite or are negative are taken as 0.
    pub const fn scale(mut self, scale: f64) -> Self {
        self.scale = if scale.is_finite() && scale > 0.0 {
            scale
        } else {
            0.0
        };
        self
    }
    /// The cap.
    pub const fn max(mut self, max: Duration) -> Self {
        self.max = max;
        self
    }
}

impl<W: Wait> Wait for Adaptive<W> {
    fn delay(&self, cx: &mut WaitContext<'_>) -> Duration {
        let base = self.inner.delay(cx);
        let factor = 1.0 + self.scale * cx.failure_ratio();
        let scaled = Duration::try_from_secs_f64(base.as_secs_f64() * factor).unwrap_or(self.max);
        scaled.min(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wait::{Entropy, fixed};

    fn delay_with(wait: &impl Wait, window: &AdaptiveWindow) -> Duration {
        let mut rng = Entropy::from_seed(1);
        wait.delay(&mut WaitContext::new(1, Duration::ZERO, &mut rng).window(window))
    }

    #[test]
    fn rises_with_failures_falls_back_after_successes_and_is_capped() {
        let wait = adaptive(fixed(Duration::from_secs(2)))
            .scale(3.0)
            .max(Duration::from_secs(7));
        let window = AdaptiveWindow::new(10);
        assert_eq!(
            delay_with(&wait, &window),
            Duration::from_secs(2),
            "no attempts yet"
        );
        for _ in 0..5 {
            window.record(false);
        }
        assert_eq!(delay_with(&wait, &window), Duration::from_secs(2));
        for _ in 0..2 {
            window.record(true);
        }
        // 2 of 7 failed: 2 s × (1 + 3 × 2/7).
        assert_eq!(
            delay_with(&wait, &window),
            Duration::from_secs_f64(2.0 * (1.0 + 6.0 / 7.0))
        );
        for _ in 0..8 {
            window.record(true);
        }
        assert_eq!(window.failure_ratio(), 1.0);
        assert_eq!(delay_with(&wait, &window), Duration::from_secs(7), "capped");
        for _ in 0..10 {
            window.record(false);
        }
        assert_eq!(window.failure_ratio(), 0.0, "the failures left the window");
        assert_eq!(delay_with(&wait, &window), Duration::from_secs(2));
    }

    #[test]
    fn without_a_window_it_is_the_inner_wait() {
        let wait = adaptive(fixed(Duration::from_secs(2)));
        let mut rng = Entropy::from_seed(1);
        let d = wait.delay(&mut WaitContext::new(1, Duration::ZERO, &mut rng));
        assert_eq!(d, Duration::from_secs(2));
    }

    #[test]
    fn odd_values_are_tamed() {
        assert_eq!(AdaptiveWindow::new(0).size(), 1);
        assert_eq!(AdaptiveWindow::new(u32::MAX).size(), MAX_WINDOW);
        let huge = adaptive(fixed(Duration::MAX)).scale(f64::INFINITY);
        let window = AdaptiveWindow::new(1);
        window.record(true);
        assert_eq!(delay_with(&huge, &window), Duration::from_secs(120));
        let huge = adaptive(fixed(Duration::MAX))
            .scale(1e300)
            .max(Duration::MAX);
        assert_eq!(delay_with(&huge, &window), Duration::MAX, "saturates");
        let neg = adaptive(fixed(Duration::from_secs(1))).scale(-5.0);
        assert_eq!(delay_with(&neg, &window), Duration::from_secs(1));
        let full = AdaptiveWindow::new(MAX_WINDOW);
        for _ in 0..MAX_WINDOW + 10 {
            full.record(true);
        }
        assert_eq!(full.failure_ratio(), 1.0);
        assert!(format!("{full:?}").contains("4096"));
    }
}
