//! What hooks are told: [`RetryState`], and why a call gave up: [`GiveUp`].

use std::fmt;
use std::time::Duration;

use crate::policy::class::Class;

/// Why a call stopped retrying and returned its last outcome.
///
/// More reasons may follow, so match with a wildcard arm.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GiveUp {
    /// No rule retries this failure, or a `never` rule matched.
    NotRetryable,
    /// The server said not to retry (`x-should-retry: false`).
    ServerRefused,
    /// The attempts were used up.
    Attempts,
    /// The next attempt would start after the deadline.
    Deadline,
    /// The server asked for a longer delay than `retry_after = honor(max = ..)` allows.
    RetryAfterTooLong,
    /// The retry budget was empty ([`Budget`](crate::Budget)).
    BudgetExhausted,
    /// The circuit breaker was open ([`CircuitBreaker`](crate::CircuitBreaker)).
    BreakerOpen,
}

impl GiveUp {
    /// Every reason, in the order of [`GiveUp::index`].
    pub(crate) const COUNT: usize = 7;

    /// Its place among the reasons (for counters kept per reason).
    pub(crate) const fn index(self) -> usize {
        match self {
            GiveUp::NotRetryable => 0,
            GiveUp::ServerRefused => 1,
            GiveUp::Attempts => 2,
            GiveUp::Deadline => 3,
            GiveUp::RetryAfterTooLong => 4,
            GiveUp::BudgetExhausted => 5,
            GiveUp::BreakerOpen => 6,
        }
    }

    /// A short phrase for logs: "not retryable", "attempts used up"...
    pub const fn as_str(self) -> &'static str {
        match self {
            GiveUp::NotRetryable => "not retryable",
            GiveUp::ServerRefused => "the server said not to retry",
            GiveUp::Attempts => "attempts used up",
            GiveUp::Deadline => "the deadline would pass",
            GiveUp::RetryAfterTooLong => "the server asked for a delay above the cap",
            GiveUp::BudgetExhausted => "the retry budget is empty",
            GiveUp::BreakerOpen => "the circuit breaker is open",
        }
    }
}

impl fmt::Display for GiveUp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
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
    /// Time since the first attempt started.
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
    /// Why the call gives up (`on_giveup` only).
    pub reason: Option<GiveUp>,
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
            .field("reason", &self.reason)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_read_as_phrases() {
        for (reason, text) in [
            (GiveUp::NotRetryable, "not retryable"),
            (GiveUp::ServerRefused, "the server said not to retry"),
            (GiveUp::Attempts, "attempts used up"),
            (GiveUp::Deadline, "the deadline would pass"),
            (
                GiveUp::RetryAfterTooLong,
                "the server asked for a delay above the cap",
            ),
        ] {
            assert_eq!(reason.to_string(), text);
            assert_eq!(reason.as_str(), text);
        }
    }

    #[test]
    fn states_debug_and_copy() {
        let error = 7u8;
        let state = RetryState {
            name: "n",
            attempt: 2,
            delay: Duration::from_secs(1),
            elapsed: Duration::from_secs(3),
            error: Some(&error),
            class: Some(Class::Connect),
            retry_after: None,
            giving_up: true,
            reason: Some(GiveUp::Attempts),
        };
        let copy = state;
        let text = format!("{:?}", copy.clone());
        for needle in [
            "\"n\"",
            "attempt: 2",
            "Some(7)",
            "Connect",
            "giving_up: true",
            "Attempts",
        ] {
            assert!(text.contains(needle), "{needle} in {text}");
        }
    }
}
