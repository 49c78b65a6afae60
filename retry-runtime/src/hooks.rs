//! Ready-made hooks for `before_sleep` and `on_giveup`.

use std::fmt::Display;

use crate::engine::RetryState;

/// Emits a `tracing` warning for a failed attempt: before a sleep it says
/// which attempt failed and how long the call waits; on giving up it says so.
/// `before_sleep = log` and `on_giveup = log` name this function.
///
/// The event carries the fields `retry.name`, `attempt`, `delay_ms`,
/// `elapsed_ms`, `class` and `error`.
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
    let delay_ms = state.delay.as_millis() as u64;
    let elapsed_ms = state.elapsed.as_millis() as u64;
    let class = state.class;
    match (state.error, state.giving_up) {
        (Some(error), false) => tracing::warn!(
            retry.name = state.name,
            attempt = state.attempt,
            delay_ms,
            elapsed_ms,
            class = ?class,
            error = %error,
            "attempt {} failed, retrying in {:?}",
            state.attempt,
            state.delay,
        ),
        (None, false) => tracing::warn!(
            retry.name = state.name,
            attempt = state.attempt,
            delay_ms,
            elapsed_ms,
            "attempt {} returned a rejected value, retrying in {:?}",
            state.attempt,
            state.delay,
        ),
        (Some(error), true) => tracing::warn!(
            retry.name = state.name,
            attempt = state.attempt,
            elapsed_ms,
            class = ?class,
            error = %error,
            "giving up after {} attempt(s)",
            state.attempt,
        ),
        (None, true) => tracing::warn!(
            retry.name = state.name,
            attempt = state.attempt,
            elapsed_ms,
            "giving up after {} attempt(s): the last value was rejected",
            state.attempt,
        ),
    }
}
