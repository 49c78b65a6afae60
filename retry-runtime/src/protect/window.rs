//! Adaptive waits: back off further while more of the recent attempts fail.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering::*};
use std::time::Duration;

use super::slot::FleetSlot;
use crate::counters::clock::{Clock, StdClock};
use crate::counters::slices::ThreadSlices;
use crate::policy::wait::{Health, WaitContext};

pub(crate) use crate::policy::defaults::MAX_WINDOW;
const WORDS: usize = MAX_WINDOW as usize / 64;
/// The slices `max_age` is counted in.
const AGE_SLICES: usize = 10;

/// The outcomes of the last `size` attempts of a function (or of every
/// function that shares the window), one bit each, of which those older
/// than `max_age` (5 minutes by default) no longer count: what
/// [`adaptive`](crate::wait::adaptive) waits read.
///
/// An outage seen long ago does not weigh on today's waits: once its
/// failures are `max_age` old, the ratio is that of the attempts since
/// (0.0 when there were none). For traffic busier than `size` attempts per
/// `max_age`, the age changes nothing. An attempt counts from when it
/// ended, so one that lasted ten minutes is recent when it ends. The age is
/// counted in 10 slices of `max_age / 10`: an attempt stops counting
/// between 0.9 × `max_age` and `max_age` after it ended. Shared on Redis
/// (the `redis` feature), a process publishes only its attempts within
/// `max_age` too.
///
/// Time is the clock the call sleeps on (tokio's in an `async fn`, so a
/// paused test clock applies), as for [`Budget`](crate::Budget) and
/// [`CircuitBreaker`](crate::CircuitBreaker): the engine uses
/// [`record_at`](Self::record_at) and [`failure_ratio_at`](Self::failure_ratio_at).
/// [`record`](Self::record) and [`failure_ratio`](Self::failure_ratio) take
/// the system's monotonic clock, or the newest attempt's time when a
/// paused clock ran ahead of it.
///
/// The attribute keeps one per function for `wait = adaptive(..)`; declare
/// one as a `static` to share it between functions that call the same API
/// (`wait = adaptive(W, shared = OPENAI_HEALTH)`), or to choose its age,
/// or pass it to the builder.
///
/// ```
/// use std::time::Duration;
/// use retry_runtime::AdaptiveWindow;
///
/// static OPENAI_HEALTH: AdaptiveWindow =
///     AdaptiveWindow::new(100).max_age(Duration::from_secs(600));
///
/// let minute = |m: u64| Duration::from_secs(60 * m);
/// OPENAI_HEALTH.record_at(minute(0), true);
/// OPENAI_HEALTH.record_at(minute(0), true);
/// OPENAI_HEALTH.record_at(minute(8), false);
/// assert_eq!(OPENAI_HEALTH.failure_ratio_at(minute(8)), 2.0 / 3.0);
/// // Ten minutes on, the two failures no longer count.
/// assert_eq!(OPENAI_HEALTH.failure_ratio_at(minute(10)), 0.0);
/// ```
pub struct AdaptiveWindow {
    size: u32,
    /// `max_age / AGE_SLICES`, in milliseconds.
    slice_ms: u64,
    pub(super) next: AtomicU64,
    bits: [AtomicU64; WORDS],
    /// Attempts per slice of `max_age`: how many of the last ones are recent
    /// (the last attempts are the recent ones, so the failed ones among
    /// them are the last bits).
    recent: ThreadSlices<AGE_SLICES>,
    /// The other processes' attempts and failures, when shared.
    pub(crate) fleet: FleetSlot,
}

impl AdaptiveWindow {
    /// The default [`max_age`](Self::max_age): 5 minutes, longer than the
    /// longest default adaptive wait (120 s) and a long attempt, so that a
    /// call waiting one out still sees the failures that made it wait.
    pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(300);

    /// A window of the last `size` attempts (1 to 4096; outside, clamped),
    /// of which those older than 5 minutes no longer count.
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
            slice_ms: 0,
            next: AtomicU64::new(0),
            bits: [const { AtomicU64::new(0) }; WORDS],
            recent: ThreadSlices::new(),
            fleet: FleetSlot::new(),
        }
        .max_age(Self::DEFAULT_MAX_AGE)
    }

    /// How long an attempt counts after it ended (at least 10 ms; default
    /// 5 minutes). Set it around the time an outage takes to be over: the
    /// ratio then says how the API fares now, not how it fared then.
    ///
    /// ```
    /// use std::time::Duration;
    /// use retry_runtime::AdaptiveWindow;
    ///
    /// static CHAT_HEALTH: AdaptiveWindow =
    ///     AdaptiveWindow::new(50).max_age(Duration::from_secs(60));
    /// ```
    pub const fn max_age(mut self, max_age: Duration) -> Self {
        let ms = max_age.as_millis();
        let ms = if ms > u64::MAX as u128 {
            u64::MAX
        } else {
            ms as u64
        };
        let slice = ms / AGE_SLICES as u64;
        self.slice_ms = if slice == 0 { 1 } else { slice };
        self
    }

    fn slice(&self, now: Duration) -> u64 {
        crate::counters::clock::millis(now) / self.slice_ms
    }

    /// Now for [`record`](Self::record) and
    /// [`failure_ratio`](Self::failure_ratio): the monotonic clock, or the
    /// newest attempt's slice if a paused clock ran ahead of it.
    fn now(&self) -> Duration {
        let newest = Duration::from_millis(self.recent.newest().saturating_mul(self.slice_ms));
        StdClock::ticks().max(newest)
    }

    /// Records an attempt that ended now (the system's monotonic clock):
    /// `failed` when it failed in a way the rules retry.
    pub fn record(&self, failed: bool) {
        self.record_at(self.now(), failed);
    }

    /// Records an attempt that ended at `now`, the time since a fixed point
    /// of the process (as [`RetryBudget`](crate::RetryBudget) takes it):
    /// `failed` when it failed in a way the rules retry.
    pub fn record_at(&self, now: Duration, failed: bool) {
        let slot = self.next.fetch_add(1, Relaxed) % u64::from(self.size);
        let (word, bit) = ((slot / 64) as usize, 1u64 << (slot % 64));
        if failed {
            self.bits[word].fetch_or(bit, Relaxed);
        } else {
            self.bits[word].fetch_and(!bit, Relaxed);
        }
        self.recent.add(self.slice(now), 1);
    }

    /// The share of failed attempts among the last `size` that are not
    /// older than `max_age`, now (the system's monotonic clock); 0.0
    /// before any.
    pub fn failure_ratio(&self) -> f64 {
        self.failure_ratio_at(self.now())
    }

    /// The share of failed attempts among the last `size` that are not
    /// older than `max_age` at `now` (as [`record_at`](Self::record_at)
    /// takes it); 0.0 before any. With the `redis` feature and the window
    /// shared, the other processes' recent attempts count too.
    pub fn failure_ratio_at(&self, now: Duration) -> f64 {
        let (seen, failed) = self.counts(now);
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

    /// This process's attempts that count at `now` and the failed ones
    /// among them: the last `size`, or fewer when not all are recent.
    pub(super) fn counts(&self, now: Duration) -> (u64, u64) {
        let next = self.next.load(Relaxed);
        let recent = self.recent.sum(self.slice(now));
        let seen = next.min(u64::from(self.size)).min(recent);
        let bits = self.bits.each_ref().map(|w| w.load(Relaxed));
        // The last `seen` attempts took the `seen` slots before `next`.
        let size = u64::from(self.size);
        let from = (next - seen) % size;
        let failed = if from + seen <= size {
            ones(&bits, from, from + seen)
        } else {
            ones(&bits, from, size) + ones(&bits, 0, from + seen - size)
        };
        (seen, failed.min(seen))
    }

    /// The window's size.
    pub fn size(&self) -> u32 {
        self.size
    }

    /// Forgets every attempt (for tests), as [`Budget::reset`](crate::Budget::reset)
    /// and [`CircuitBreaker::reset`](crate::CircuitBreaker::reset) do. With
    /// the window shared on Redis, the other processes' attempts still
    /// count until the next synchronisation reads them again.
    ///
    /// ```
    /// use retry_runtime::AdaptiveWindow;
    ///
    /// static HEALTH: AdaptiveWindow = AdaptiveWindow::new(10);
    /// HEALTH.record(true);
    /// HEALTH.reset();
    /// assert_eq!(HEALTH.failure_ratio(), 0.0);
    /// ```
    pub fn reset(&self) {
        self.next.store(0, Relaxed);
        for word in &self.bits {
            word.store(0, Relaxed);
        }
        self.recent.clear();
    }
}

/// The set bits of `bits` from bit `from` to bit `to` (excluded).
fn ones(bits: &[u64; WORDS], from: u64, to: u64) -> u64 {
    let mut count = 0;
    let mut at = from;
    while at < to {
        let (word, shift) = ((at / 64) as usize, at % 64);
        let len = (to - at).min(64 - shift);
        let mask = if len == 64 {
            u64::MAX
        } else {
            ((1 << len) - 1) << shift
        };
        count += u64::from((bits[word] & mask).count_ones());
        at += len;
    }
    count
}

impl Health for AdaptiveWindow {
    fn failure_ratio(&self) -> f64 {
        AdaptiveWindow::failure_ratio(self)
    }
    fn failure_ratio_at(&self, now: Duration) -> f64 {
        AdaptiveWindow::failure_ratio_at(self, now)
    }
}

impl<'a> WaitContext<'a> {
    /// The same context, with the recent attempts of the function (what
    /// [`adaptive`](crate::wait::adaptive) waits read), read as of now
    /// ([`AdaptiveWindow::failure_ratio`]).
    pub fn window(self, window: &'a AdaptiveWindow) -> Self {
        self.health(window, None)
    }

    /// The same context, with the recent attempts of the function read as
    /// of `now` ([`AdaptiveWindow::failure_ratio_at`]): what the engine
    /// passes, from the clock the call sleeps on.
    pub fn window_at(self, window: &'a AdaptiveWindow, now: Duration) -> Self {
        self.health(window, Some(now))
    }
}

impl fmt::Debug for AdaptiveWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdaptiveWindow")
            .field("size", &self.size)
            .field(
                "max_age",
                &Duration::from_millis(self.slice_ms.saturating_mul(AGE_SLICES as u64)),
            )
            .field("failure_ratio", &self.failure_ratio())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::wait::{Entropy, Wait, adaptive, fixed};

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

    /// The delay, and what the engine keeps of it for the next one.
    fn delay_and_kept(wait: &impl Wait, window: &AdaptiveWindow) -> (Duration, Duration) {
        let mut rng = Entropy::from_seed(1);
        let mut cx = WaitContext::new(1, Duration::ZERO, &mut rng).window_at(window, secs(1));
        let delay = wait.delay(&mut cx);
        (delay, cx.unscaled(delay))
    }

    #[test]
    fn the_context_keeps_the_delay_as_it_was_before_the_scale() {
        let window = AdaptiveWindow::new(1);
        window.record_at(secs(1), true);
        // Scaled up: 1 s × 2.
        let wait = adaptive(fixed(secs(1))).scale(1.0);
        assert_eq!(delay_and_kept(&wait, &window), (secs(2), secs(1)));
        // Cut by its cap below the inner delay.
        let wait = adaptive(fixed(secs(10))).max(secs(4));
        assert_eq!(delay_and_kept(&wait, &window), (secs(4), secs(10)));
        // In a sum, only the adaptive part is unscaled.
        let wait =
            crate::policy::wait::Sum::new(adaptive(fixed(secs(1))).scale(1.0), fixed(secs(5)));
        assert_eq!(delay_and_kept(&wait, &window), (secs(7), secs(6)));
        // Without an adaptive wait, the delay itself.
        assert_eq!(delay_and_kept(&fixed(secs(3)), &window), (secs(3), secs(3)));
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
        for age in [Duration::ZERO, Duration::from_millis(9), Duration::MAX] {
            let window = AdaptiveWindow::new(2).max_age(age);
            for at in [Duration::ZERO, secs(1), Duration::MAX, Duration::MAX] {
                window.record_at(at, true);
                assert_eq!(window.failure_ratio_at(at), 1.0, "{age:?} {at:?}");
            }
            let _ = window.failure_ratio();
        }
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn failures_older_than_max_age_stop_counting() {
        // max_age 60 s: slices of 6 s.
        let window = AdaptiveWindow::new(10).max_age(secs(60));
        for _ in 0..10 {
            window.record_at(secs(0), true);
        }
        assert_eq!(window.failure_ratio_at(secs(0)), 1.0);
        assert_eq!(window.failure_ratio_at(Duration::from_millis(59_999)), 1.0);
        assert_eq!(window.failure_ratio_at(secs(60)), 0.0, "60 s old");
        // An hour later: three successes and a failure. Without the age,
        // 6 old failures would still be among the last 10 (0.7).
        for _ in 0..3 {
            window.record_at(secs(3600), false);
        }
        window.record_at(secs(3610), true);
        assert_eq!(window.failure_ratio_at(secs(3610)), 0.25);
        let wait = adaptive(fixed(secs(1))).scale(3.0);
        let mut rng = Entropy::from_seed(1);
        let mut cx = WaitContext::new(1, Duration::ZERO, &mut rng).window_at(&window, secs(3610));
        assert_eq!(wait.delay(&mut cx), Duration::from_millis(1750));
        // The slice of 3600 leaves at 3660; the failure's at 3666.
        assert_eq!(window.failure_ratio_at(secs(3659)), 0.25);
        assert_eq!(window.failure_ratio_at(secs(3660)), 1.0);
        assert_eq!(window.failure_ratio_at(secs(3666)), 0.0);
    }

    #[test]
    fn recent_traffic_is_the_last_size_attempts() {
        let window = AdaptiveWindow::new(4);
        // F F S S S F F: the last 4 are S S F F, even with all of them recent.
        for failed in [true, true, false, false, false, true, true] {
            window.record_at(secs(100), failed);
        }
        assert_eq!(window.failure_ratio_at(secs(100)), 0.5);
        // Of a window of 5, once the first slice is old only the 3 of the
        // last slice count (S F F), and they wrap around the ring's end.
        let window = AdaptiveWindow::new(5).max_age(secs(10));
        for failed in [true, true, false, false] {
            window.record_at(secs(0), failed);
        }
        for failed in [false, true, true] {
            window.record_at(secs(9), failed);
        }
        assert_eq!(window.failure_ratio_at(secs(9)), 2.0 / 5.0, "S S S F F");
        assert_eq!(window.failure_ratio_at(secs(10)), 2.0 / 3.0);
        assert_eq!(window.failure_ratio_at(secs(19)), 0.0);
    }

    #[test]
    fn without_a_time_the_monotonic_clock_or_the_newest_attempt_is_now() {
        let window = AdaptiveWindow::new(10);
        window.record(true);
        window.record(false);
        assert_eq!(window.failure_ratio(), 0.5);
        // A paused clock far ahead: its attempts are the newest, and they
        // count as of then.
        let ahead = StdClock::ticks() + secs(7 * 24 * 3600);
        window.record_at(ahead, true);
        window.record_at(ahead, true);
        assert_eq!(window.failure_ratio(), 1.0);
        window.record(false);
        assert_eq!(window.failure_ratio(), 2.0 / 3.0);
    }

    #[test]
    fn reset_forgets_every_attempt() {
        let window = AdaptiveWindow::new(3);
        for _ in 0..5 {
            window.record_at(secs(50), true);
        }
        window.reset();
        assert_eq!(window.failure_ratio_at(secs(50)), 0.0);
        window.record_at(secs(50), false);
        window.record_at(secs(51), true);
        assert_eq!(window.failure_ratio_at(secs(51)), 0.5, "a fresh start");
        window.reset();
        window.record(true);
        assert_eq!(window.failure_ratio(), 1.0);
    }

    #[test]
    fn the_ring_is_read_bit_by_bit() {
        let mut bits = [0u64; WORDS];
        let mut rng = fastrand::Rng::with_seed(7);
        for word in &mut bits {
            *word = rng.u64(..);
        }
        let naive = |from: u64, to: u64| {
            (from..to)
                .filter(|&b| bits[(b / 64) as usize] >> (b % 64) & 1 == 1)
                .count() as u64
        };
        for from in (0..300).chain([4000, 4095]) {
            for to in (from..from + 200).chain([4096]).filter(|&t| t <= 4096) {
                assert_eq!(ones(&bits, from, to), naive(from, to), "{from}..{to}");
            }
        }
    }

    #[test]
    fn an_age_past_what_milliseconds_hold_is_for_ever() {
        // u64::MAX / 1000 + 1 seconds: its milliseconds overflow a u64 (a
        // truncation would leave 384 ms).
        let window = AdaptiveWindow::new(4).max_age(Duration::from_secs(u64::MAX / 1000 + 1));
        let start = Duration::from_secs(3600);
        window.record_at(start, true);
        assert_eq!(window.failure_ratio_at(start + Duration::from_secs(1)), 1.0);
        assert_eq!(
            window.failure_ratio_at(start + Duration::from_secs(86_400 * 365)),
            1.0
        );
    }

    #[test]
    fn recent_attempts_are_read_where_the_ring_put_them() {
        let long_ago = Duration::from_secs(3600);
        let now = long_ago + Duration::from_secs(7200);
        // Slots 0..9 long ago (successes), then 3 recent failures in
        // slots 9, 0 and 1: the recent ones wrap around the ring's end.
        let wrapped = AdaptiveWindow::new(10);
        for _ in 0..9 {
            wrapped.record_at(long_ago, false);
        }
        for _ in 0..3 {
            wrapped.record_at(now, true);
        }
        assert_eq!(wrapped.counts(now), (3, 3));
        // Recent successes wrapped over old failures (slots 2 to 8 keep
        // theirs): only the 3 recent attempts count, none failed.
        let over_old = AdaptiveWindow::new(10);
        for _ in 0..9 {
            over_old.record_at(long_ago, true);
        }
        for _ in 0..3 {
            over_old.record_at(now, false);
        }
        assert_eq!(over_old.counts(now), (3, 0));
        // 14 long ago, then 3 recent failures in slots 4, 5 and 6: they
        // do not wrap.
        let inside = AdaptiveWindow::new(10);
        for _ in 0..14 {
            inside.record_at(long_ago, false);
        }
        for _ in 0..3 {
            inside.record_at(now, true);
        }
        assert_eq!(inside.counts(now), (3, 3));
        assert_eq!(inside.failure_ratio_at(now), 1.0);
    }
}
