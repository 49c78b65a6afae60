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

/// Every reason with its label (metrics' `reason`, the statistics' field)
/// and its phrase for logs: the one table statistics, metrics and logs
/// read, in the order of [`GiveUp::index`].
const REASONS: [(GiveUp, &str, &str); GiveUp::COUNT] = [
    (GiveUp::NotRetryable, "not_retryable", "not retryable"),
    (
        GiveUp::ServerRefused,
        "server_refused",
        "the server said not to retry",
    ),
    (GiveUp::Attempts, "attempts", "attempts used up"),
    (GiveUp::Deadline, "deadline", "the deadline would pass"),
    (
        GiveUp::RetryAfterTooLong,
        "retry_after_too_long",
        "the server asked for a delay above the cap",
    ),
    (
        GiveUp::BudgetExhausted,
        "budget_exhausted",
        "the retry budget is empty",
    ),
    (
        GiveUp::BreakerOpen,
        "breaker_open",
        "the circuit breaker is open",
    ),
];

// Every reason is in the table, at its own place: the last one closes it,
// and each row is the reason of its index.
const _: () = {
    assert!(GiveUp::BreakerOpen as usize + 1 == GiveUp::COUNT);
    let mut i = 0;
    while i < GiveUp::COUNT {
        assert!(REASONS[i].0 as usize == i);
        i += 1;
    }
};

impl GiveUp {
    /// How many reasons there are (the last variant is the last of the
    /// table: checked at compile time).
    pub(crate) const COUNT: usize = 7;

    /// Every reason, in the order of [`GiveUp::index`].
    // (Read by metrics, which are behind their feature.)
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(crate) const ALL: [GiveUp; GiveUp::COUNT] = {
        let mut all = [GiveUp::NotRetryable; GiveUp::COUNT];
        let mut i = 0;
        while i < GiveUp::COUNT {
            all[i] = REASONS[i].0;
            i += 1;
        }
        all
    };

    /// Its place among the reasons (for counters kept per reason).
    pub(crate) const fn index(self) -> usize {
        self as usize
    }

    /// Its label: `reason` in metrics (`"budget_exhausted"`), and the field
    /// of the statistics' [`GiveUpCounts`](crate::stats::GiveUpCounts).
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(crate) const fn label(self) -> &'static str {
        REASONS[self.index()].1
    }

    /// A short phrase for logs: "not retryable", "attempts used up"...
    pub const fn as_str(self) -> &'static str {
        REASONS[self.index()].2
    }
}

/// How a call ended, for statistics and metrics (`outcome`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CallOutcome {
    /// Succeeded at the first attempt.
    FirstTry,
    /// Succeeded after one retry or more.
    AfterRetries,
    /// Returned an error without a retry.
    FailedAtOnce,
    /// Returned an error after one retry or more.
    FailedAfterRetries,
}

// (`ALL`, `index` and `label` are read by metrics, behind their feature.)
#[cfg_attr(not(feature = "metrics"), allow(dead_code))]
impl CallOutcome {
    /// Every outcome, in the order of [`CallOutcome::index`].
    pub(crate) const ALL: [CallOutcome; 4] = [
        CallOutcome::FirstTry,
        CallOutcome::AfterRetries,
        CallOutcome::FailedAtOnce,
        CallOutcome::FailedAfterRetries,
    ];

    /// The outcome of a call that returned an error or not, after retrying
    /// or not.
    pub(crate) const fn of(error: bool, retried: bool) -> CallOutcome {
        match (error, retried) {
            (false, false) => CallOutcome::FirstTry,
            (false, true) => CallOutcome::AfterRetries,
            (true, false) => CallOutcome::FailedAtOnce,
            (true, true) => CallOutcome::FailedAfterRetries,
        }
    }

    /// Its place in [`CallOutcome::ALL`].
    pub(crate) const fn index(self) -> usize {
        self as usize
    }

    /// Its label: `outcome` in metrics.
    pub(crate) const fn label(self) -> &'static str {
        match self {
            CallOutcome::FirstTry => "success_first_try",
            CallOutcome::AfterRetries => "success_after_retry",
            CallOutcome::FailedAtOnce => "failure_no_retry",
            CallOutcome::FailedAfterRetries => "failure_after_retry",
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
    fn one_table_gives_each_reason_and_outcome_its_place_and_label() {
        for (i, reason) in GiveUp::ALL.into_iter().enumerate() {
            assert_eq!(reason.index(), i);
            assert_eq!(REASONS[i].0, reason);
        }
        let labels = GiveUp::ALL.map(GiveUp::label);
        assert_eq!(
            labels,
            [
                "not_retryable",
                "server_refused",
                "attempts",
                "deadline",
                "retry_after_too_long",
                "budget_exhausted",
                "breaker_open",
            ]
        );
        assert_eq!(GiveUp::BreakerOpen.as_str(), "the circuit breaker is open");
        assert_eq!(
            GiveUp::BudgetExhausted.as_str(),
            "the retry budget is empty"
        );
        for (i, outcome) in CallOutcome::ALL.into_iter().enumerate() {
            assert_eq!(outcome.index(), i);
        }
        let of = [(false, false), (false, true), (true, false), (true, true)]
            .map(|(error, retried)| CallOutcome::of(error, retried).label());
        assert_eq!(
            of,
            [
                "success_first_try",
                "success_after_retry",
                "failure_no_retry",
                "failure_after_retry",
            ]
        );
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
