//! The DEBUG event of each decision, and the text helpers that hooks and
//! metrics share with it.

use std::fmt;
use std::time::Duration;

use crate::counters::clock::millis;
use crate::policy::{Class, GiveUp};

/// A class as a log field: `Connect`, `Status(503)`.
pub(crate) struct ClassField(pub(crate) Class);

impl fmt::Display for ClassField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// Whether DEBUG events of this crate go anywhere.
#[cfg_attr(not(debug_assertions), inline(always))]
pub(crate) fn debug_enabled() -> bool {
    tracing::enabled!(target: "retry_runtime", tracing::Level::DEBUG)
}

/// The structured DEBUG event of each decision (silent unless a subscriber
/// enables DEBUG for `retry_runtime`). Arguments are never logged.
#[cold]
#[inline(never)]
pub(crate) fn trace(
    name: &str,
    attempt: u32,
    class: Option<Class>,
    error: Option<&dyn fmt::Display>,
    elapsed: Option<Duration>,
    decision: Result<Duration, GiveUp>,
) {
    let class = class.map(ClassField);
    let class = class.as_ref().map(tracing::field::display);
    let error = error.map(|e| tracing::field::display(crate::engine::redact::Redacted(e)));
    let elapsed_ms = elapsed.map(millis);
    match decision {
        Ok(delay) => tracing::debug!(
            target: "retry_runtime",
            attempt,
            retry.name = name,
            class,
            delay_ms = millis(delay),
            elapsed_ms,
            error,
            "retrying"
        ),
        Err(reason) => tracing::debug!(
            target: "retry_runtime",
            attempt,
            retry.name = name,
            class,
            elapsed_ms,
            error,
            reason = reason.as_str(),
            "giving up"
        ),
    }
}
