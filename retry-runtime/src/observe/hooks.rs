//! Ready-made hooks for `before_sleep` and `on_giveup`.

use std::fmt::{self, Display};

use crate::counters::clock::millis;
use crate::engine::log::ClassField;
use crate::engine::redact::Redacted;
use crate::policy::RetryState;

/// Emits a `tracing` event for a failed attempt: a warning before a sleep
/// (which attempt failed, why, and how long the call waits, with the
/// server's requested delay when there was one), and an error when the call
/// gives up (after how many attempts, and why it stopped).
/// `before_sleep = log` and `on_giveup = log` name this function.
///
/// The event carries the fields `retry.name`, `attempt`, `delay_ms`,
/// `elapsed_ms`, `class` (`Connect`, `Status(503)`...; absent when the error
/// type has no class), `retry_after_ms` (when the server asked), `reason`
/// (on giving up) and `error`. Arguments of the function are never logged,
/// and the user, password and query string of any URL in the error's text
/// (where some APIs put the key) are replaced by `[redacted]`.
///
/// ```
/// use retry_runtime::retry;
///
/// #[retry(attempts = 2, wait = none, before_sleep = log, on_giveup = log)]
/// fn read() -> std::io::Result<u8> {
///     Err(std::io::ErrorKind::ConnectionReset.into())
/// }
///
/// assert!(read().is_err());
/// ```
pub fn log<E: Display>(state: &RetryState<'_, E>) {
    let delay_ms = millis(state.delay);
    let elapsed_ms = millis(state.elapsed);
    let class = state.class.map(ClassField);
    let retry_after_ms = state.retry_after.map(millis);
    let error = state.error.map(|e| e as &dyn Display);
    // A key in a URL's query (`?key=..`) stays out of the log.
    let error = Redacted(error.unwrap_or(&"the value was rejected (when_ok)"));
    if state.giving_up {
        let reason = state.reason.map_or("", |r| r.as_str());
        tracing::error!(
            retry.name = state.name,
            attempt = state.attempt,
            elapsed_ms,
            class = class.as_ref().map(tracing::field::display),
            retry_after_ms,
            reason,
            error = %error,
            "{}: giving up after {} attempt(s): {}: {}",
            state.name,
            state.attempt,
            reason,
            error,
        );
    } else {
        tracing::warn!(
            retry.name = state.name,
            attempt = state.attempt,
            delay_ms,
            elapsed_ms,
            class = class.as_ref().map(tracing::field::display),
            retry_after_ms,
            error = %error,
            "{}: attempt {} failed ({}), retrying in {:?}{}",
            state.name,
            state.attempt,
            error,
            state.delay,
            RetryAfterNote(state.retry_after),
        );
    }
}

struct RetryAfterNote(Option<std::time::Duration>);

impl Display for RetryAfterNote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(d) => write!(f, " (the server asked for {d:?})"),
            None => Ok(()),
        }
    }
}
