//! The retry engine: one per-call state machine that both the attribute's
//! expansion and the [builder](crate::Retrying) drive.

use std::fmt;
use std::time::Duration;

use crate::class::Class;
use crate::wait::{Wait, WaitContext};

/// A source of time: tokio's clock for `async fn` (so a paused test clock is
/// obeyed), the system's monotonic clock for plain `fn`.
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

/// What to do with the delay a server asks for ([`Classify::retry_after`](crate::Classify::retry_after)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryAfter {
    /// Sleep `max(wait's delay, requested)`; a request above `max` gives up
    /// at once instead of sleeping that long.
    Honor {
        /// The longest requested delay that is obeyed.
        max: Duration,
    },
    /// Use the wait's delay alone.
    Ignore,
}

impl RetryAfter {
    /// The default: `honor(max = 60s)`.
    pub const DEFAULT: RetryAfter = RetryAfter::Honor {
        max: Duration::from_secs(60),
    };
}

impl Default for RetryAfter {
    fn default() -> Self {
        RetryAfter::DEFAULT
    }
}

/// The settings of one retrying function that hold for every failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// The name in logs and statistics.
    pub name: &'static str,
    /// The time budget from the first attempt's start.
    pub deadline: Option<Duration>,
    /// What to do with the server's requested delay.
    pub retry_after: RetryAfter,
    /// The per-attempt limit, if any (`async` only).
    pub timeout: Option<Duration>,
    /// Whether hooks look at the call (`before_sleep`, `on_giveup`): only
    /// then, or with a deadline, is the clock read at failures.
    pub hooks: bool,
}

impl Settings {
    /// Settings with no deadline and `retry_after = honor(max = 60s)`.
    pub const fn new(name: &'static str) -> Self {
        Settings {
            name,
            deadline: None,
            retry_after: RetryAfter::DEFAULT,
            timeout: None,
            hooks: false,
        }
    }

    /// Says that hooks look at the call (and its elapsed time).
    pub const fn hooks(mut self) -> Self {
        self.hooks = true;
        self
    }

    /// Sets the per-attempt limit.
    pub const fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Whether the clock is read when the first attempt starts: with a
    /// deadline or a per-attempt timeout, whose timers read it anyway.
    pub const fn reads_clock_at_start(&self) -> bool {
        self.deadline.is_some() || self.timeout.is_some()
    }
    /// Sets the deadline.
    pub const fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = Some(deadline);
        self
    }
    /// Sets the treatment of the server's requested delay.
    pub const fn retry_after(mut self, retry_after: RetryAfter) -> Self {
        self.retry_after = retry_after;
        self
    }
}

/// What a hook is told about the call: before a sleep (`before_sleep`) or
/// when the call gives up (`on_giveup`).
///
/// # Example
///
/// ```
/// use retry_runtime::RetryState;
///
/// fn report(state: &RetryState<'_, std::io::Error>) {
///     eprintln!(
///         "{}: attempt {} failed after {:?}, next in {:?}",
///         state.name, state.attempt, state.elapsed, state.delay
///     );
/// }
/// # let _ = report;
/// ```
#[non_exhaustive]
pub struct RetryState<'a, E> {
    /// The function's name, as in statistics.
    pub name: &'static str,
    /// The attempt that just finished, from 1.
    pub attempt: u32,
    /// The sleep about to be taken (zero in `on_giveup`).
    pub delay: Duration,
    /// Time since the first attempt started. With neither `deadline` nor
    /// `timeout`, the clock is first read when the first attempt fails (so the
    /// success path reads no clock), and that attempt's own duration is not
    /// counted.
    pub elapsed: Duration,
    /// The attempt's error; `None` when an `Ok` is being retried (`when_ok`).
    pub error: Option<&'a E>,
    /// The failure's class, when the error type implements
    /// [`Classify`](crate::Classify) (or the attempt timed out).
    pub class: Option<Class>,
    /// The delay the server asked for, if any.
    pub retry_after: Option<Duration>,
    /// `true` in `on_giveup`, `false` in `before_sleep`.
    pub giving_up: bool,
}

impl<E> Clone for RetryState<'_, E> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<E> Copy for RetryState<'_, E> {}

impl<E: fmt::Debug> fmt::Debug for RetryState<'_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryState")
            .field("name", &self.name)
            .field("attempt", &self.attempt)
            .field("delay", &self.delay)
            .field("elapsed", &self.elapsed)
            .field("error", &self.error)
            .field("class", &self.class)
            .field("retry_after", &self.retry_after)
            .field("giving_up", &self.giving_up)
            .finish()
    }
}

/// One failed attempt, as the engine sees it.
#[derive(Debug)]
pub struct Failure<'a, E> {
    /// The error; `None` for an `Ok` that `when_ok` rejected.
    pub error: Option<&'a E>,
    /// Its class, if known.
    pub class: Option<Class>,
    /// The delay the server asked for, if any.
    pub retry_after: Option<Duration>,
}

impl<E> Clone for Failure<'_, E> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<E> Copy for Failure<'_, E> {}

/// The limits of the rule that matched a failure: its attempts and its wait.
#[derive(Debug)]
pub struct Limits<'w, W: ?Sized> {
    /// Total attempts, the first included.
    pub attempts: u32,
    /// The delay rule.
    pub wait: &'w W,
}

impl<W: ?Sized> Clone for Limits<'_, W> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<W: ?Sized> Copy for Limits<'_, W> {}

/// The error an attempt that ran past `timeout` is turned into.
///
/// Give your error type `impl From<Elapsed>` to use `timeout = ...`.
///
/// ```
/// use retry_runtime::Elapsed;
///
/// enum MyError { TimedOut, Other }
///
/// impl From<Elapsed> for MyError {
///     fn from(_: Elapsed) -> Self { MyError::TimedOut }
/// }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Elapsed(pub(crate) ());

impl Elapsed {
    /// A new `Elapsed`.
    pub const fn new() -> Self {
        Elapsed(())
    }
}

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("attempt timed out")
    }
}

impl std::error::Error for Elapsed {}

impl From<Elapsed> for std::io::Error {
    fn from(e: Elapsed) -> Self {
        std::io::Error::new(std::io::ErrorKind::TimedOut, e)
    }
}

/// The state of one call: which attempt this is, when it started, the last delay.
///
/// The success path touches nothing but [`Call::new`], which reads no clock
/// unless a deadline or timeout is set, and leaves the rest to the first failure.
pub struct Call<'s, C: Clock> {
    settings: &'s Settings,
    start: Option<C::Instant>,
    retry: Option<Retry>,
}

/// What a call keeps once an attempt has failed. Jitter draws from a
/// generator seeded when a wait first asks for one, so nothing random is kept
/// here and the future stays small.
struct Retry {
    attempt: u32,
    previous: Duration,
}

impl<C: Clock> fmt::Debug for Call<'_, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Call")
            .field("settings", &self.settings)
            .field("attempts", &self.attempts())
            .finish_non_exhaustive()
    }
}

impl<'s, C: Clock> Call<'s, C> {
    /// The state before the first attempt.
    #[inline(always)]
    pub fn new(settings: &'s Settings) -> Self {
        Call {
            settings,
            // A deadline counts from the first attempt's start; without one
            // (or a timeout, whose timer reads the clock anyway) the clock is
            // first read when an attempt fails.
            start: if settings.reads_clock_at_start() {
                Some(C::now())
            } else {
                None
            },
            retry: None,
        }
    }

    /// The settings.
    pub fn settings(&self) -> &'s Settings {
        self.settings
    }

    /// Attempts finished so far (counted from the first failure on).
    pub fn attempts(&self) -> u32 {
        self.retry.as_ref().map_or(0, |r| r.attempt)
    }

    /// Time since the call started (see [`RetryState::elapsed`]).
    pub fn elapsed(&mut self) -> Duration {
        C::since(*self.start.get_or_insert_with(C::now))
    }

    /// The time left before the deadline, if there is one.
    pub fn remaining(&mut self) -> Option<Duration> {
        let deadline = self.settings.deadline?;
        Some(deadline.saturating_sub(self.elapsed()))
    }

    /// Records a failed attempt and decides: `Some(delay)` to sleep and try
    /// again, `None` to give up.
    ///
    /// `limits` is `None` when no rule retries this failure. Otherwise the
    /// call gives up when the attempts are used up, when the server asks for
    /// longer than `retry_after`'s cap, or when the sleep would end after the
    /// deadline. `before_sleep` runs only when a sleep follows.
    pub fn failed<E, W, H>(
        &mut self,
        failure: Failure<'_, E>,
        limits: Option<Limits<'_, W>>,
        before_sleep: H,
    ) -> Option<Duration>
    where
        W: Wait + ?Sized,
        H: FnOnce(&RetryState<'_, E>),
    {
        // Nobody looks at the time without a deadline or a hook.
        let elapsed = if self.settings.deadline.is_some() || self.settings.hooks {
            self.elapsed()
        } else {
            Duration::ZERO
        };
        let retry = self.retry.get_or_insert(Retry {
            attempt: 0,
            previous: Duration::ZERO,
        });
        retry.attempt = retry.attempt.saturating_add(1);
        let limits = limits?;
        if retry.attempt >= limits.attempts {
            return None;
        }
        let mut delay = limits.wait.delay(&mut WaitContext::seeded_on_demand(
            retry.attempt,
            retry.previous,
        ));
        if let (RetryAfter::Honor { max }, Some(requested)) =
            (self.settings.retry_after, failure.retry_after)
        {
            if requested > max {
                return None;
            }
            delay = delay.max(requested);
        }
        if let Some(deadline) = self.settings.deadline
            && elapsed.saturating_add(delay) > deadline
        {
            return None;
        }
        retry.previous = delay;
        before_sleep(&self.state(failure, delay, elapsed, false));
        Some(delay)
    }

    /// Runs `on_giveup` for the failure the call is about to return.
    pub fn give_up<E, H>(&mut self, failure: Failure<'_, E>, on_giveup: H)
    where
        H: FnOnce(&RetryState<'_, E>),
    {
        let elapsed = if self.settings.hooks {
            self.elapsed()
        } else {
            Duration::ZERO
        };
        on_giveup(&self.state(failure, Duration::ZERO, elapsed, true));
    }

    fn state<'e, E>(
        &self,
        failure: Failure<'e, E>,
        delay: Duration,
        elapsed: Duration,
        giving_up: bool,
    ) -> RetryState<'e, E> {
        RetryState {
            name: self.settings.name,
            attempt: self.attempts(),
            delay,
            elapsed,
            error: failure.error,
            class: failure.class,
            retry_after: failure.retry_after,
            giving_up,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wait::{Fixed, NoWait};

    fn fail(retry_after: Option<Duration>) -> Failure<'static, ()> {
        Failure {
            error: None,
            class: None,
            retry_after,
        }
    }

    fn limits(attempts: u32, secs: u64) -> Option<Limits<'static, Fixed>> {
        let wait: &'static Fixed = Box::leak(Box::new(Fixed(Duration::from_secs(secs))));
        Some(Limits { attempts, wait })
    }

    #[test]
    fn gives_up_when_attempts_are_used() {
        let settings = Settings::new("t");
        let mut call = Call::<StdClock>::new(&settings);
        assert_eq!(
            call.failed(fail(None), limits(3, 0), |_| {}),
            Some(Duration::ZERO)
        );
        assert_eq!(
            call.failed(fail(None), limits(3, 0), |_| {}),
            Some(Duration::ZERO)
        );
        assert_eq!(call.failed(fail(None), limits(3, 0), |_| {}), None);
        assert_eq!(call.attempts(), 3);
    }

    #[test]
    fn no_rule_means_no_retry() {
        let settings = Settings::new("t");
        let mut call = Call::<StdClock>::new(&settings);
        assert_eq!(
            call.failed(fail(None), None::<Limits<'_, NoWait>>, |_| panic!()),
            None
        );
        assert_eq!(call.attempts(), 1);
    }

    #[test]
    fn retry_after_is_a_floor_and_its_cap_gives_up() {
        let settings = Settings::new("t").retry_after(RetryAfter::Honor {
            max: Duration::from_secs(10),
        });
        let mut call = Call::<StdClock>::new(&settings);
        let d = call.failed(fail(Some(Duration::from_secs(7))), limits(5, 2), |_| {});
        assert_eq!(d, Some(Duration::from_secs(7)));
        let d = call.failed(fail(Some(Duration::from_secs(1))), limits(5, 2), |_| {});
        assert_eq!(d, Some(Duration::from_secs(2)));
        let d = call.failed(fail(Some(Duration::MAX)), limits(5, 2), |_| panic!());
        assert_eq!(d, None);

        let settings = Settings::new("t").retry_after(RetryAfter::Ignore);
        let mut call = Call::<StdClock>::new(&settings);
        let d = call.failed(fail(Some(Duration::MAX)), limits(5, 2), |_| {});
        assert_eq!(d, Some(Duration::from_secs(2)));
    }

    #[test]
    fn a_sleep_past_the_deadline_is_not_taken() {
        let settings = Settings::new("t").deadline(Duration::from_secs(5));
        let mut call = Call::<StdClock>::new(&settings);
        assert_eq!(
            call.failed(fail(None), limits(9, 4), |_| {}),
            Some(Duration::from_secs(4))
        );
        assert_eq!(call.failed(fail(None), limits(9, 6), |_| panic!()), None);
    }

    #[test]
    fn attempt_counter_saturates() {
        let settings = Settings::new("t");
        let mut call = Call::<StdClock>::new(&settings);
        call.failed(fail(None), limits(1, 1), |_| {});
        call.retry.as_mut().unwrap().attempt = u32::MAX;
        assert_eq!(call.failed(fail(None), limits(u32::MAX, 1), |_| {}), None);
        assert_eq!(call.attempts(), u32::MAX);
    }

    #[test]
    fn hooks_see_the_state() {
        let settings = Settings::new("svc::f").hooks();
        let mut call = Call::<StdClock>::new(&settings);
        let mut seen = None;
        call.failed(fail(Some(Duration::from_secs(3))), limits(3, 1), |s| {
            seen = Some((s.name, s.attempt, s.delay, s.retry_after));
        });
        assert_eq!(
            seen,
            Some((
                "svc::f",
                1,
                Duration::from_secs(3),
                Some(Duration::from_secs(3))
            ))
        );
        let mut gave_up = None;
        call.give_up(fail(None), |s| gave_up = Some((s.attempt, s.delay)));
        assert_eq!(gave_up, Some((1, Duration::ZERO)));
    }
}
