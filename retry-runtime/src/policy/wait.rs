//! Delays between attempts: fixed, random, linear, exponential with jitter, and sums.
//!
//! Every wait here is a `const`-constructible value, so the attribute builds
//! them at compile time. All arithmetic saturates: no attempt number, factor or
//! duration makes a wait overflow or panic.

use std::time::Duration;

/// How recent attempts fared: what an [`adaptive`] wait reads. The
/// protections' [`AdaptiveWindow`](crate::AdaptiveWindow) is one; the
/// context holds it as this, so that waits stay values that know no window.
pub(crate) trait Health: Sync {
    /// The share of failed attempts, as of now.
    fn failure_ratio(&self) -> f64;
    /// The share of failed attempts, as of `now` (the call's clock).
    fn failure_ratio_at(&self, now: Duration) -> f64;
}

/// What a [`Wait`] is told when it is asked for the next delay.
pub struct WaitContext<'a> {
    /// The attempt that just failed, from 1.
    pub attempt: u32,
    /// The delay chosen before the previous attempt; zero before the second.
    /// The engine keeps it as the wait chose it before an [`adaptive`] wait
    /// scaled it, so that decorrelated jitter under `adaptive` is scaled
    /// once rather than growing on an already scaled delay.
    pub previous: Duration,
    rng: Source<'a>,
    /// The window, and when it is read (the clock the call sleeps on;
    /// `None`: now). One field, so that a context without one is built as
    /// before (a null pointer).
    window: Option<(&'a dyn Health, Option<Duration>)>,
    /// What adaptive waits added to the delay and took from it (their cap):
    /// `None` when none scaled it, so that other waits pay one store.
    rescaled: Option<(Duration, Duration)>,
}

/// Where randomness comes from: a given generator, or one seeded on first use
/// (so that waits without jitter never seed one).
enum Source<'a> {
    Given(&'a mut Entropy),
    OnDemand(Option<Entropy>),
}

impl<'a> WaitContext<'a> {
    /// A context for `attempt`, drawing randomness from `rng`.
    pub fn new(attempt: u32, previous: Duration, rng: &'a mut Entropy) -> Self {
        WaitContext {
            attempt,
            previous,
            rng: Source::Given(rng),
            window: None,
            rescaled: None,
        }
    }

    /// A context for `attempt` that seeds a generator only if one is needed.
    pub fn seeded_on_demand(attempt: u32, previous: Duration) -> Self {
        WaitContext {
            attempt,
            previous,
            rng: Source::OnDemand(None),
            window: None,
            rescaled: None,
        }
    }

    /// The same context, reading the recent attempts from `health` (as of
    /// `now`, or of the moment it is asked when `None`).
    #[inline]
    pub(crate) fn health(mut self, health: &'a dyn Health, now: Option<Duration>) -> Self {
        self.window = Some((health, now));
        self
    }

    /// The share of failed attempts in the function's recent window; 0.0
    /// without a window.
    pub fn failure_ratio(&self) -> f64 {
        match self.window {
            None => 0.0,
            Some((window, None)) => window.failure_ratio(),
            Some((window, Some(now))) => window.failure_ratio_at(now),
        }
    }

    /// An adaptive wait scaled `base` to `scaled`.
    pub(crate) fn rescale(&mut self, base: Duration, scaled: Duration) {
        let (up, down) = self.rescaled.unwrap_or_default();
        self.rescaled = Some(if scaled >= base {
            (up.saturating_add(scaled - base), down)
        } else {
            (up, down.saturating_add(base - scaled))
        });
    }

    /// `delay`, which the wait chose in this context, as it was before
    /// adaptive waits scaled it: what the next context's `previous` is.
    #[inline]
    pub(crate) fn unscaled(&self, delay: Duration) -> Duration {
        match self.rescaled {
            None => delay,
            Some((up, down)) => delay.saturating_sub(up).saturating_add(down),
        }
    }

    /// A duration drawn uniformly from `[low, high]` (`low` when `high < low`).
    pub fn uniform(&mut self, low: Duration, high: Duration) -> Duration {
        match &mut self.rng {
            Source::Given(rng) => rng.uniform(low, high),
            Source::OnDemand(rng) => rng.get_or_insert_with(Entropy::new).uniform(low, high),
        }
    }
}

/// The source of randomness for jitter: a small, fast generator seeded per
/// call, without a lock or a heap allocation.
pub struct Entropy(fastrand::Rng);

impl Entropy {
    /// A generator with a fresh seed.
    pub fn new() -> Self {
        use std::hash::{BuildHasher, Hasher};
        // RandomState is seeded from the OS once per thread and stepped on every
        // use: a distinct, unpredictable seed without a syscall or an allocation.
        let seed = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        Entropy(fastrand::Rng::with_seed(seed))
    }

    /// A generator with a fixed seed, for reproducible tests.
    pub fn from_seed(seed: u64) -> Self {
        Entropy(fastrand::Rng::with_seed(seed))
    }

    /// A duration drawn uniformly from `[low, high]` (`low` when `high < low`).
    pub fn uniform(&mut self, low: Duration, high: Duration) -> Duration {
        if high <= low {
            return low;
        }
        let span = nanos(high - low);
        low.saturating_add(Duration::from_nanos(self.0.u64(0..=span)))
    }
}

impl Default for Entropy {
    fn default() -> Self {
        Entropy::new()
    }
}

impl std::fmt::Debug for Entropy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Entropy")
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// A rule for the delay before the next attempt.
///
/// Implement it for a custom backoff and pass the value as `wait = ...`.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use retry_runtime::wait::{Wait, WaitContext};
///
/// /// 100 ms, 200 ms, 300 ms, ... never above one second.
/// struct Steps;
///
/// impl Wait for Steps {
///     fn delay(&self, cx: &mut WaitContext<'_>) -> Duration {
///         Duration::from_millis(100)
///             .saturating_mul(cx.attempt)
///             .min(Duration::from_secs(1))
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a wait",
    label = "expected a wait here",
    note = "a wait is `none`, `fixed(D)`, `random(MIN, MAX)`, `linear(..)`, `exponential(..)`, a duration such as `500ms`, a sum `W1 + W2`, or a value implementing `retry_runtime::Wait`"
)]
pub trait Wait {
    /// The delay after the failed attempt `cx.attempt`.
    fn delay(&self, cx: &mut WaitContext<'_>) -> Duration;
}

/// Forwards `Wait` through pointers.
macro_rules! forward_wait {
    ($($ty:ty),*) => {$(
        impl<W: Wait + ?Sized> Wait for $ty {
            fn delay(&self, cx: &mut WaitContext<'_>) -> Duration {
                (**self).delay(cx)
            }
        }
    )*};
}

forward_wait!(&W, Box<W>, std::sync::Arc<W>);

/// A plain `Duration` waits that long every time.
impl Wait for Duration {
    #[inline]
    fn delay(&self, _: &mut WaitContext<'_>) -> Duration {
        *self
    }
}

/// Computes a delay as `f(attempt)`; see [`from_fn`].
#[derive(Clone, Copy, Debug)]
pub struct FromFn<F>(F);

/// A wait computed by a function of the failed attempt's number.
///
/// ```
/// use std::time::Duration;
/// use retry_runtime::wait::from_fn;
///
/// let wait = from_fn(|attempt| Duration::from_millis(10 * u64::from(attempt)));
/// # let _ = wait;
/// ```
pub const fn from_fn<F: Fn(u32) -> Duration>(f: F) -> FromFn<F> {
    FromFn(f)
}

impl<F: Fn(u32) -> Duration> Wait for FromFn<F> {
    fn delay(&self, cx: &mut WaitContext<'_>) -> Duration {
        (self.0)(cx.attempt)
    }
}

/// No delay: `wait = none`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoWait;

impl Wait for NoWait {
    #[inline]
    fn delay(&self, _: &mut WaitContext<'_>) -> Duration {
        Duration::ZERO
    }
}

/// The same delay every time: `wait = fixed(D)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fixed(pub Duration);

impl Wait for Fixed {
    #[inline]
    fn delay(&self, _: &mut WaitContext<'_>) -> Duration {
        self.0
    }
}

/// A delay drawn uniformly from `[min, max]`: `wait = random(MIN, MAX)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Random {
    /// The shortest delay.
    pub min: Duration,
    /// The longest delay.
    pub max: Duration,
}

impl Random {
    /// Uniform in `[min, max]`.
    pub const fn new(min: Duration, max: Duration) -> Self {
        Random { min, max }
    }
}

impl Wait for Random {
    #[inline]
    fn delay(&self, cx: &mut WaitContext<'_>) -> Duration {
        cx.uniform(self.min, self.max)
    }
}

/// `initial + step·(n−1)`, capped at `max`: `wait = linear(initial = D, step = D, max = D)`.
///
/// ```
/// use std::time::Duration;
/// use retry_runtime::wait::{Linear, Wait, WaitContext, Entropy};
///
/// let wait = Linear::new().initial(Duration::from_secs(1)).step(Duration::from_secs(2));
/// let mut rng = Entropy::from_seed(0);
/// let mut at = |n| wait.delay(&mut WaitContext::new(n, Duration::ZERO, &mut rng));
/// assert_eq!(at(1), Duration::from_secs(1));
/// assert_eq!(at(3), Duration::from_secs(5));
/// assert_eq!(at(u32::MAX), Duration::from_secs(60));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Linear {
    initial: Duration,
    step: Duration,
    max: Duration,
}

impl Linear {
    /// `initial = 1s, step = 1s, max = 60s`.
    pub const fn new() -> Self {
        Linear {
            initial: Duration::from_secs(1),
            step: Duration::from_secs(1),
            max: Duration::from_secs(super::defaults::DEFAULT_MAX_SECS),
        }
    }
    /// The delay after the first attempt.
    pub const fn initial(mut self, initial: Duration) -> Self {
        self.initial = initial;
        self
    }
    /// What each further attempt adds.
    pub const fn step(mut self, step: Duration) -> Self {
        self.step = step;
        self
    }
    /// The cap.
    pub const fn max(mut self, max: Duration) -> Self {
        self.max = max;
        self
    }
}

impl Default for Linear {
    fn default() -> Self {
        Linear::new()
    }
}

impl Wait for Linear {
    #[inline]
    fn delay(&self, cx: &mut WaitContext<'_>) -> Duration {
        let steps = cx.attempt.saturating_sub(1);
        self.step
            .checked_mul(steps)
            .and_then(|grown| self.initial.checked_add(grown))
            .map_or(self.max, |d| d.min(self.max))
    }
}

/// How randomness is added to an exponential delay (after Brooker,
/// "Exponential Backoff and Jitter"). The result is always kept in `[min, max]`.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Jitter {
    /// The delay itself.
    None,
    /// Uniform in `[min, d]`.
    #[default]
    Full,
    /// `d/2 + uniform[0, d/2]`.
    Equal,
    /// Uniform in `[initial, 3·previous]`, capped at `max`.
    Decorrelated,
}

/// tenacity's `wait_exponential`: `initial · factor^(n−1)` clamped to
/// `[min, max]`, then jitter: `wait = exponential(initial = 1s, factor = 2,
/// min = 0, max = 60s, jitter = full)`.
///
/// ```
/// use std::time::Duration;
/// use retry_runtime::wait::{Exponential, Jitter, Wait, WaitContext, Entropy};
///
/// let wait = Exponential::new().jitter(Jitter::None).max(Duration::from_secs(10));
/// let mut rng = Entropy::from_seed(0);
/// let mut at = |n| wait.delay(&mut WaitContext::new(n, Duration::ZERO, &mut rng));
/// assert_eq!(at(1), Duration::from_secs(1));
/// assert_eq!(at(4), Duration::from_secs(8));
/// assert_eq!(at(5), Duration::from_secs(10));
/// assert_eq!(at(u32::MAX), Duration::from_secs(10));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Exponential {
    initial: Duration,
    factor: f64,
    /// `factor` when it is a whole number (the usual 2), else 0: then the
    /// delay is computed in integers, without a float round trip.
    whole_factor: u32,
    min: Duration,
    max: Duration,
    jitter: Jitter,
}

impl Exponential {
    /// `initial = 1s, factor = 2, min = 0, max = 60s, jitter = full`.
    pub const fn new() -> Self {
        Exponential {
            initial: Duration::from_secs(1),
            factor: 2.0,
            whole_factor: 2,
            min: Duration::ZERO,
            max: Duration::from_secs(super::defaults::DEFAULT_MAX_SECS),
            jitter: Jitter::Full,
        }
    }
    /// The delay after the first attempt, before clamping and jitter.
    pub const fn initial(mut self, initial: Duration) -> Self {
        self.initial = initial;
        self
    }
    /// The growth factor per attempt. Values that are not finite or not
    /// positive are treated as 1.
    pub const fn factor(mut self, factor: f64) -> Self {
        self.factor = if factor.is_finite() && factor > 0.0 {
            factor
        } else {
            1.0
        };
        let whole = self.factor as u32;
        self.whole_factor = if whole as f64 == self.factor {
            whole
        } else {
            0
        };
        self
    }
    /// The floor.
    pub const fn min(mut self, min: Duration) -> Self {
        self.min = min;
        self
    }
    /// The cap.
    pub const fn max(mut self, max: Duration) -> Self {
        self.max = max;
        self
    }
    /// The jitter kind.
    pub const fn jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// The delay after attempt `n` before jitter: `initial · factor^(n−1)`
    /// clamped to `[min, max]`. Saturates at `max` for any `n`.
    #[cfg_attr(not(debug_assertions), inline(always))]
    pub fn base(&self, attempt: u32) -> Duration {
        if self.initial.is_zero() {
            // Zero stays zero: 0 · factor^n would be 0 · ∞ = NaN for large n.
            return self.clamp(Duration::ZERO);
        }
        let exponent = attempt.saturating_sub(1);
        if let Some(times) = self.whole_factor.checked_pow(exponent).filter(|t| *t > 0) {
            return self.clamp(self.initial.checked_mul(times).unwrap_or(Duration::MAX));
        }
        // `factor` is finite and positive, so the product is a number (maybe ∞).
        let nanos = self.initial.as_nanos() as f64 * powu(self.factor, exponent);
        let raw = if nanos < u64::MAX as f64 {
            Duration::from_nanos(nanos.round() as u64)
        } else {
            // Past 584 years in nanoseconds, in seconds (saturating at ∞).
            Duration::try_from_secs_f64(nanos / 1e9).unwrap_or(Duration::MAX)
        };
        self.clamp(raw)
    }

    #[cfg_attr(not(debug_assertions), inline(always))]
    fn clamp(&self, d: Duration) -> Duration {
        // `max` wins when the bounds cross: it is a cap on the sleep. (tenacity
        // lets `min` win; the attribute rejects crossed bounds at compile time.)
        d.max(self.min).min(self.max)
    }
}

/// `base^exp` for any exponent, without the i32 limit of `powi`.
fn powu(base: f64, exp: u32) -> f64 {
    match i32::try_from(exp) {
        Ok(exp) => base.powi(exp),
        Err(_) => base.powf(f64::from(exp)),
    }
}

impl Default for Exponential {
    fn default() -> Self {
        Exponential::new()
    }
}

impl Wait for Exponential {
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn delay(&self, cx: &mut WaitContext<'_>) -> Duration {
        let base = self.base(cx.attempt);
        let jittered = match self.jitter {
            // Already clamped.
            Jitter::None => return base,
            Jitter::Full => cx.uniform(self.min, base),
            Jitter::Equal => {
                let half = base / 2;
                half.saturating_add(cx.uniform(Duration::ZERO, base - half))
            }
            Jitter::Decorrelated => {
                let previous = if cx.previous.is_zero() {
                    self.initial
                } else {
                    cx.previous
                };
                let high = previous.saturating_mul(3).min(self.max);
                cx.uniform(self.initial.min(high), high)
            }
        };
        self.clamp(jittered)
    }
}

/// The sum of two waits: `wait = W1 + W2`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sum<A, B>(pub A, pub B);

impl<A, B> Sum<A, B> {
    /// `a + b`.
    pub const fn new(a: A, b: B) -> Self {
        Sum(a, b)
    }
}

impl<A: Wait, B: Wait> Wait for Sum<A, B> {
    fn delay(&self, cx: &mut WaitContext<'_>) -> Duration {
        self.0.delay(cx).saturating_add(self.1.delay(cx))
    }
}

macro_rules! add_impl {
    ($($ty:ty),*) => {$(
        impl<W: Wait> std::ops::Add<W> for $ty {
            type Output = Sum<Self, W>;
            fn add(self, other: W) -> Sum<Self, W> {
                Sum(self, other)
            }
        }
    )*};
}
add_impl!(NoWait, Fixed, Random, Linear, Exponential);

impl<A: Wait, B: Wait, W: Wait> std::ops::Add<W> for Sum<A, B> {
    type Output = Sum<Self, W>;
    fn add(self, other: W) -> Sum<Self, W> {
        Sum(self, other)
    }
}

/// `fixed(d)` as a function, for the builder.
pub const fn fixed(d: Duration) -> Fixed {
    Fixed(d)
}

/// `random(min, max)` as a function, for the builder.
pub const fn random(min: Duration, max: Duration) -> Random {
    Random::new(min, max)
}

/// `linear()` with its defaults, for the builder.
pub const fn linear() -> Linear {
    Linear::new()
}

/// `exponential()` with its defaults, for the builder.
pub const fn exponential() -> Exponential {
    Exponential::new()
}

/// `none`, for the builder.
pub const fn none() -> NoWait {
    NoWait
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
        let scaled = scaled.min(self.max);
        cx.rescale(base, scaled);
        scaled
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at<W: Wait>(w: &W, attempt: u32, previous: Duration) -> Duration {
        let mut rng = Entropy::from_seed(attempt as u64);
        w.delay(&mut WaitContext::new(attempt, previous, &mut rng))
    }

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn exponential_without_jitter_matches_tenacity() {
        // tenacity: wait_exponential(multiplier=1, min=2, max=60) -> 2, 2, 4, 8, 16, 32, 60, 60
        let w = Exponential::new()
            .min(secs(2.0))
            .max(secs(60.0))
            .jitter(Jitter::None);
        let got: Vec<_> = (1..=8).map(|n| at(&w, n, Duration::ZERO)).collect();
        let want: Vec<_> = [2.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0]
            .map(secs)
            .to_vec();
        assert_eq!(got, want);

        // multiplier=0.5, exp_base=3: 0.5, 1.5, 4.5, 13.5
        let w = Exponential::new()
            .initial(secs(0.5))
            .factor(3.0)
            .jitter(Jitter::None);
        let got: Vec<_> = (1..=4).map(|n| at(&w, n, Duration::ZERO)).collect();
        assert_eq!(got, [0.5, 1.5, 4.5, 13.5].map(secs));
    }

    #[test]
    fn zero_initial_stays_zero_for_every_attempt() {
        for jitter in [
            Jitter::None,
            Jitter::Full,
            Jitter::Equal,
            Jitter::Decorrelated,
        ] {
            let w = Exponential::new().initial(Duration::ZERO).jitter(jitter);
            for n in [1, 2, 1_000, 1_100, 100_000, u32::MAX] {
                assert_eq!(at(&w, n, Duration::ZERO), Duration::ZERO, "{jitter:?} {n}");
            }
            let floor = w.min(secs(0.5));
            assert_eq!(at(&floor, 5_000, Duration::ZERO), secs(0.5));
        }
        assert_eq!(
            Exponential::new().initial(Duration::ZERO).base(2_000),
            Duration::ZERO
        );
    }

    #[test]
    fn whole_factors_agree_with_the_float_rule() {
        // The integer path (whole factors) and the float path give the same
        // delays wherever both are exact.
        for factor in [1.0, 2.0, 3.0, 10.0] {
            for initial_ms in [1u64, 7, 250, 1000, 86_400_000] {
                let w = Exponential::new()
                    .initial(Duration::from_millis(initial_ms))
                    .factor(factor)
                    .max(Duration::MAX)
                    .jitter(Jitter::None);
                assert_ne!(w.whole_factor, 0);
                let float = Exponential {
                    whole_factor: 0,
                    ..w
                };
                for n in 1..=40 {
                    let (exact, float) = (w.base(n), float.base(n));
                    // Exact while the float holds every nanosecond (2^53 ns).
                    let tolerance = exact.as_secs_f64() * 1e-12;
                    assert!(
                        (exact.as_secs_f64() - float.as_secs_f64()).abs() <= tolerance,
                        "{factor} {initial_ms} {n}: {exact:?} {float:?}"
                    );
                    if exact < Duration::from_nanos(1 << 53) {
                        assert_eq!(exact, float, "{factor} {initial_ms} {n}");
                    }
                }
            }
        }
        assert_eq!(Exponential::new().factor(1.5).whole_factor, 0);
        assert_eq!(Exponential::new().factor(0.5).whole_factor, 0);
        assert_eq!(Exponential::new().factor(f64::NAN).whole_factor, 1);
        // 2^40 overflows the integer path: the float path takes over.
        let tiny = Exponential::new()
            .initial(Duration::from_nanos(1))
            .max(Duration::MAX)
            .jitter(Jitter::None);
        assert_eq!(tiny.base(41), Duration::from_nanos(1 << 40));
    }

    #[test]
    fn base_grows_saturates_and_keeps_small_values() {
        let w = Exponential::new().max(Duration::MAX).jitter(Jitter::None);
        assert_eq!(w.base(1), secs(1.0));
        assert_eq!(w.base(3), secs(4.0));
        assert_eq!(w.base(35), Duration::from_secs(1 << 34));
        assert_eq!(w.base(64), Duration::from_secs(1 << 63));
        assert_eq!(w.base(65), Duration::MAX);
        let float = w.factor(2.5);
        assert_eq!(float.base(100), Duration::MAX);
        // Whole factors are exact where a float would round: 13^8 times an
        // odd number of nanoseconds needs 60 bits.
        let exact = Exponential::new()
            .initial(Duration::from_nanos(999_999_999))
            .factor(13.0)
            .max(Duration::MAX)
            .jitter(Jitter::None);
        assert_eq!(exact.base(9), Duration::from_nanos(815_730_720_184_269_279));
        // Half nanoseconds round away from zero, as `f64::round` does.
        let halves = w.initial(Duration::from_nanos(3)).factor(1.5);
        assert_eq!(halves.base(2), Duration::from_nanos(5));
        assert_eq!(float.base(3), secs(6.25));
        assert_eq!(w.base(u32::MAX), Duration::MAX);
        let tiny = Exponential::new()
            .initial(Duration::from_nanos(1))
            .factor(0.5)
            .jitter(Jitter::None);
        assert_eq!(tiny.base(1), Duration::from_nanos(1));
        assert_eq!(tiny.base(3), Duration::ZERO);
        let floor = Exponential::new().min(secs(3.0)).max(secs(5.0));
        assert_eq!(floor.base(1), secs(3.0));
        assert_eq!(floor.base(3), secs(4.0));
        assert_eq!(floor.base(9), secs(5.0));
    }

    #[test]
    fn durations_and_functions_are_waits() {
        assert_eq!(at(&secs(1.5), 4, Duration::ZERO), secs(1.5));
        let f = from_fn(|n| Duration::from_millis(10 * u64::from(n)));
        assert_eq!(at(&f, 3, Duration::ZERO), Duration::from_millis(30));
        let boxed: Box<dyn Wait> = Box::new(Fixed(secs(2.0)));
        assert_eq!(at(&boxed, 1, Duration::ZERO), secs(2.0));
    }

    #[test]
    fn min_above_max_yields_max() {
        let w = Exponential::new()
            .min(secs(10.0))
            .max(secs(5.0))
            .jitter(Jitter::None);
        assert_eq!(at(&w, 1, Duration::ZERO), secs(5.0));
    }

    #[test]
    fn bad_factors_mean_constant() {
        for f in [0.0, -2.0, f64::NAN, f64::INFINITY] {
            let w = Exponential::new().factor(f).jitter(Jitter::None);
            assert_eq!(at(&w, 9, Duration::ZERO), secs(1.0), "{f}");
        }
    }

    #[test]
    fn linear_and_fixed_and_sum() {
        let w = Linear::new()
            .initial(secs(0.5))
            .step(secs(0.25))
            .max(secs(1.0));
        let got: Vec<_> = (1..=4).map(|n| at(&w, n, Duration::ZERO)).collect();
        assert_eq!(got, [0.5, 0.75, 1.0, 1.0].map(secs));
        let sum = Fixed(secs(1.0)) + Linear::new();
        assert_eq!(at(&sum, 3, Duration::ZERO), secs(4.0));
        assert_eq!(
            at(
                &(Fixed(Duration::MAX) + Fixed(Duration::MAX)),
                1,
                Duration::ZERO
            ),
            Duration::MAX
        );
        assert_eq!(at(&NoWait, 7, Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn the_default_cap_is_sixty_seconds() {
        // The attribute checks `min` against the same 60 s at compile time
        // (retry-macros `DEFAULT_MAX_SECS`, pinned by the `min-above-max` UI case).
        let w = Exponential::new().jitter(Jitter::None);
        assert_eq!(w.base(u32::MAX), secs(60.0));
        assert_eq!(
            Linear::new().delay(&mut WaitContext::seeded_on_demand(u32::MAX, Duration::ZERO)),
            secs(60.0)
        );
    }

    #[test]
    fn a_seed_fixes_the_draws() {
        let draws = |seed| {
            let mut rng = Entropy::from_seed(seed);
            (0..8)
                .map(|_| rng.uniform(Duration::ZERO, secs(1.0)))
                .collect::<Vec<_>>()
        };
        assert_eq!(draws(7), draws(7));
        assert_ne!(draws(7), draws(8));
    }

    #[test]
    fn random_stays_in_bounds_and_varies() {
        let w = Random::new(secs(1.0), secs(2.0));
        let mut rng = Entropy::from_seed(7);
        let draws: Vec<_> = (0..200)
            .map(|_| w.delay(&mut WaitContext::new(1, Duration::ZERO, &mut rng)))
            .collect();
        assert!(draws.iter().all(|d| (secs(1.0)..=secs(2.0)).contains(d)));
        // Spread over the range, not bunched at one end.
        let (low, high) = (draws.iter().min().unwrap(), draws.iter().max().unwrap());
        assert!(*low < secs(1.1) && *high > secs(1.9), "{low:?}..{high:?}");
        // Reversed bounds give the lower one rather than panicking.
        assert_eq!(
            at(&Random::new(secs(3.0), secs(1.0)), 1, Duration::ZERO),
            secs(3.0)
        );
    }

    proptest! {
        #[test]
        fn exponential_never_panics_and_stays_in_bounds(
            attempt in any::<u32>(),
            initial_ns in any::<u64>(),
            factor in prop_oneof![any::<f64>(), 0.0f64..100.0],
            min_ns in any::<u64>(),
            max_ns in any::<u64>(),
            prev_ns in any::<u64>(),
            jitter in prop_oneof![Just(Jitter::None), Just(Jitter::Full), Just(Jitter::Equal), Just(Jitter::Decorrelated)],
        ) {
            let (min, max) = (Duration::from_nanos(min_ns), Duration::from_nanos(max_ns));
            let w = Exponential::new()
                .initial(Duration::from_nanos(initial_ns))
                .factor(factor)
                .min(min)
                .max(max)
                .jitter(jitter);
            let d = at(&w, attempt, Duration::from_nanos(prev_ns));
            prop_assert!(d <= max);
            if min <= max {
                prop_assert!(d >= min);
            }
        }

        #[test]
        fn exponential_is_monotonic_without_jitter(attempt in 1u32..u32::MAX, initial_ms in 0u64..100_000) {
            let w = Exponential::new().initial(Duration::from_millis(initial_ms)).jitter(Jitter::None);
            prop_assert!(at(&w, attempt, Duration::ZERO) <= at(&w, attempt + 1, Duration::ZERO));
        }

        #[test]
        fn linear_never_panics(attempt in any::<u32>(), a in any::<u64>(), b in any::<u64>(), c in any::<u64>()) {
            let max = Duration::from_nanos(c);
            let w = Linear::new().initial(Duration::from_nanos(a)).step(Duration::from_nanos(b)).max(max);
            prop_assert!(at(&w, attempt, Duration::ZERO) <= max);
        }

        #[test]
        fn jitter_kinds_stay_in_their_ranges(attempt in 1u32..40, prev_ms in 0u64..200_000) {
            let base = Exponential::new().jitter(Jitter::None);
            let d = at(&base, attempt, Duration::ZERO);
            let full = at(&base.jitter(Jitter::Full), attempt, Duration::ZERO);
            prop_assert!(full <= d);
            let equal = at(&base.jitter(Jitter::Equal), attempt, Duration::ZERO);
            prop_assert!(equal >= d / 2 && equal <= d);
            let prev = Duration::from_millis(prev_ms);
            let dec = at(&base.jitter(Jitter::Decorrelated), attempt, prev);
            let p = if prev.is_zero() { Duration::from_secs(1) } else { prev };
            prop_assert!(dec <= (p * 3).min(Duration::from_secs(60)));
            prop_assert!(dec >= Duration::from_secs(1).min(p * 3));
        }
    }
}
