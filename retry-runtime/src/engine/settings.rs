//! The settings of one retrying function, and what the engine is told of
//! one failed attempt: the limits of the rule that matched it.

use std::fmt;
use std::time::Duration;

use super::observer::Observer;
use crate::policy::Class;
use crate::policy::wait::Wait;

/// The default number of attempts, the first included.
pub const DEFAULT_ATTEMPTS: u32 = 3;

/// What to do with the delay a server asks for ([`Classify::retry_after`](crate::Classify::retry_after)).
#[non_exhaustive]
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
    pub const DEFAULT: RetryAfter = RetryAfter::honor(Duration::from_secs(60));

    /// `honor(max = max)`.
    pub const fn honor(max: Duration) -> RetryAfter {
        RetryAfter::Honor { max }
    }
}

impl Default for RetryAfter {
    fn default() -> Self {
        RetryAfter::DEFAULT
    }
}

/// The settings of one retrying function that hold for every failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings<O = ()> {
    /// The name in logs and statistics.
    pub name: &'static str,
    /// The time budget from the first attempt's start (from the call's
    /// start when a fleet's hold comes first).
    pub deadline: Option<Duration>,
    /// What to do with the server's requested delay.
    pub retry_after: RetryAfter,
    /// The per-attempt limit, if any (`async` only).
    pub timeout: Option<Duration>,
    /// Whether hooks look at the call (`before_sleep`, `on_giveup`).
    pub hooks: bool,
    /// Who hears the call's events.
    pub observer: O,
}

impl Settings {
    /// Settings with no deadline, no timeout, no hooks and
    /// `retry_after = honor(max = 60s)`.
    pub const fn new(name: &'static str) -> Self {
        Settings {
            name,
            deadline: None,
            retry_after: RetryAfter::DEFAULT,
            timeout: None,
            hooks: false,
            observer: (),
        }
    }

    /// The same settings, told to `observer`.
    pub const fn observe<O: Observer>(self, observer: O) -> Settings<O> {
        Settings {
            name: self.name,
            deadline: self.deadline,
            retry_after: self.retry_after,
            timeout: self.timeout,
            hooks: self.hooks,
            observer,
        }
    }
}

impl<O> Settings<O> {
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
    /// Whether the clock is read when the first attempt starts: with a
    /// deadline, a per-attempt timeout (whose timer reads it anyway) or hooks
    /// (which cost more than a clock read). The success path without any of
    /// them reads no clock.
    pub const fn reads_clock_at_start(&self) -> bool {
        self.deadline.is_some() || self.timeout.is_some() || self.hooks
    }
}

/// Where a [`Call`](super::Call) finds its settings: a reference (the
/// builder, streams, batches, and the attribute in a build with debug
/// assertions), or, in a build without them, a type of the attribute's
/// own, one per annotated function, whose `settings` returns that
/// function's `static` (`settings_source!` in `__private`).
///
/// The second is what keeps the settings constants after an `.await`: a
/// reference kept in the call's future is read back from memory at every
/// resumption, and each setting with it, while the address of a `static`
/// is known when the function is compiled, so an optimised build folds the
/// settings (no deadline, no hooks, the statistics' recorder) into the
/// code. A debug build keeps the reference: `Call` is generic over its
/// source, and a type per function would compile the engine's decision
/// once per function.
pub trait SettingsSource<'s, O>: Copy {
    /// The settings.
    fn settings(self) -> &'s Settings<O>;
}

impl<'s, O> SettingsSource<'s, O> for &'s Settings<O> {
    #[inline(always)]
    fn settings(self) -> &'s Settings<O> {
        self
    }
}

/// One failed attempt, as the engine sees it.
pub struct Failure<'a, E> {
    /// The error; `None` for an `Ok` that `when_ok` rejected.
    pub error: Option<&'a E>,
    /// Its class, if known.
    pub class: Option<Class>,
    /// The delay the server asked for, if any.
    pub retry_after: Option<Duration>,
    /// The server's verdict (`x-should-retry`), if any.
    pub should_retry: Option<bool>,
    /// The error as text for the DEBUG event, when its type has `Display`.
    pub shown: Option<&'a dyn fmt::Display>,
    /// Whether the attribute's default rule (`Default`) retries it: set by
    /// the expansion's probe with the class (`Transient` for a `Classify`
    /// type; every error of another type, or of one classified only through
    /// a cargo feature). `Failure::error` makes it `true` and
    /// `Failure::rejected` `false`; the builder and streams judge their
    /// default rule themselves and do not read it.
    pub by_default: bool,
}

impl<E: fmt::Debug> fmt::Debug for Failure<'_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Failure")
            .field("error", &self.error)
            .field("class", &self.class)
            .field("retry_after", &self.retry_after)
            .field("should_retry", &self.should_retry)
            .finish_non_exhaustive()
    }
}

impl<E> Clone for Failure<'_, E> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<E> Copy for Failure<'_, E> {}

impl<'a, E> Failure<'a, E> {
    /// An error with what its type says of it. An attempt that ran out of
    /// time is a `Timeout`, whatever the error says: this is the one place
    /// that rule is written.
    #[inline]
    pub fn error(
        error: &'a E,
        class: Option<Class>,
        retry_after: Option<Duration>,
        should_retry: Option<bool>,
        timed_out: bool,
    ) -> Self {
        Failure {
            error: Some(error),
            class: if timed_out {
                Some(Class::Timeout)
            } else {
                class
            },
            retry_after,
            should_retry,
            shown: None,
            by_default: true,
        }
    }

    /// The same failure, shown as `shown` in the DEBUG event.
    #[cfg_attr(not(debug_assertions), inline(always))]
    pub fn shown(mut self, shown: Option<&'a dyn fmt::Display>) -> Self {
        self.shown = shown;
        self
    }

    /// An `Ok` that `when_ok` rejected.
    #[inline]
    pub const fn rejected() -> Self {
        Failure {
            error: None,
            class: None,
            retry_after: None,
            should_retry: None,
            shown: None,
            by_default: false,
        }
    }
}

/// The limits of the rule that matched a failure: its attempts and its wait.
/// The top-level limits keep their wait's own type, so that its `delay` is
/// called (and inlined) directly; a rule's own wait is a `dyn Wait`. The
/// top-level limits' `wait_id` is not read (it is 0 by definition).
pub struct Limits<'w, W: ?Sized = dyn Wait + 'w> {
    /// Total attempts, the first included.
    pub attempts: u32,
    /// The delay rule.
    pub wait: &'w W,
    /// Which wait this is (0 for the top-level wait, `i` for the override of
    /// the `i`-th rule): decorrelated jitter continues from the previous
    /// delay only while the same wait is in use.
    pub wait_id: u32,
}

impl<W: ?Sized> Clone for Limits<'_, W> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<W: ?Sized> Copy for Limits<'_, W> {}

impl<'w> Limits<'w> {
    /// A rule's own limits.
    #[cfg_attr(not(debug_assertions), inline(always))]
    pub fn own(attempts: u32, wait: &'w (dyn Wait + 'w), wait_id: u32) -> Self {
        Limits {
            attempts,
            wait,
            wait_id,
        }
    }
}

/// Which limits the first matching rule of `on` gives a failure.
#[derive(Clone, Copy, Debug)]
pub enum Matched<'w> {
    /// The top-level limits.
    Top,
    /// The top-level wait, with other attempts.
    TopAttempts(u32),
    /// The rule's own wait (and attempts).
    Own(Limits<'w>),
}

impl<W: ?Sized> fmt::Debug for Limits<'_, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Limits")
            .field("attempts", &self.attempts)
            .field("wait_id", &self.wait_id)
            .finish_non_exhaustive()
    }
}
