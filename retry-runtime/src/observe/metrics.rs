//! Calls, attempts, retries and sleep time through the [`metrics`] facade,
//! so that any exporter (Prometheus, StatsD, ...) sees them. On with the
//! `metrics` cargo feature; every series is labelled with `function`, the
//! name that statistics use.
//!
//! | series | type | labels |
//! |---|---|---|
//! | `retry_calls_total` | counter | `function`, `outcome`: `success_first_try`, `success_after_retry`, `failure_no_retry`, `failure_after_retry` |
//! | `retry_attempts_total` | counter | `function` |
//! | `retry_retries_total` | counter | `function`, `class`: `connect`, `timeout`, `rate_limited`, `server_error`, `status` (other codes), `quota`, `other`, `unclassified` |
//! | `retry_errors_total` | counter | `function`, `class` (as above): calls that returned an error, by the class of that error (`class="quota"`: an account that needs a person, to alert on) |
//! | `retry_gave_up_total` | counter | `function`, `reason`: `not_retryable`, `server_refused`, `attempts`, `deadline`, `retry_after_too_long`, `budget_exhausted`, `breaker_open` |
//! | `retry_fallbacks_total` | counter | `function`: calls that gave up with an error and called their `fallback` |
//! | `retry_sleep_seconds` | histogram | `function` |
//!
//! Install an exporter first, then (optionally) call [`describe`] for the
//! help texts:
//!
//! ```no_run
//! # fn install_your_exporter() {}
//! install_your_exporter(); // e.g. metrics_exporter_prometheus::PrometheusBuilder
//! retry_runtime::metrics::describe();
//! ```
//!
//! The keys of a function's series are built once, at its first call; each
//! call then looks its two or three series up in the installed recorder.

use std::sync::OnceLock;
use std::time::Duration;

use ::metrics::{Key, Label, Level, Metadata};

use crate::engine::Ended;
use crate::policy::class::Class;
use crate::policy::{CallOutcome, GiveUp};

/// Calls by outcome.
pub const CALLS: &str = "retry_calls_total";
/// Attempts, the first included.
pub const ATTEMPTS: &str = "retry_attempts_total";
/// Retries by the class of the failure that caused them.
pub const RETRIES: &str = "retry_retries_total";
/// Calls that returned an error, by the class of that error.
pub const ERRORS: &str = "retry_errors_total";
/// Calls that gave up, by reason.
pub const GAVE_UP: &str = "retry_gave_up_total";
/// Calls handed to their `fallback`.
pub const FALLBACKS: &str = "retry_fallbacks_total";
/// The sleeps between attempts.
pub const SLEEP: &str = "retry_sleep_seconds";

static METADATA: Metadata<'static> =
    Metadata::new("retry_runtime", Level::INFO, Some("retry_runtime"));

const CLASSES: [&str; 8] = [
    "connect",
    "timeout",
    "rate_limited",
    "server_error",
    "status",
    "quota",
    "other",
    "unclassified",
];

/// Describes the series to the installed recorder (units and help texts).
pub fn describe() {
    use ::metrics::{Unit, describe_counter, describe_histogram};
    describe_counter!(CALLS, "Calls of retrying functions, by outcome");
    describe_counter!(
        ATTEMPTS,
        "Attempts of retrying functions, the first included"
    );
    describe_counter!(
        RETRIES,
        "Retries, by the class of the failure that caused them"
    );
    describe_counter!(
        ERRORS,
        "Calls that returned an error, by the class of that error"
    );
    describe_counter!(GAVE_UP, "Calls that gave up, by reason");
    describe_counter!(
        FALLBACKS,
        "Calls that gave up with an error and called their fallback"
    );
    describe_histogram!(SLEEP, Unit::Seconds, "Sleeps between attempts");
}

/// A function's series keys, built at its first call.
pub(crate) struct Keys {
    calls: [Key; 4],
    attempts: Key,
    retries: [Key; CLASSES.len()],
    errors: [Key; CLASSES.len()],
    gave_up: [Key; GiveUp::COUNT],
    fallbacks: Key,
    sleep: Key,
}

impl Keys {
    fn new(function: &'static str) -> Self {
        let of = |name: &'static str| {
            Key::from_parts(name, vec![Label::from_static_parts("function", function)])
        };
        let with = |name: &'static str, label: &'static str, value: &'static str| {
            Key::from_parts(
                name,
                vec![
                    Label::from_static_parts("function", function),
                    Label::from_static_parts(label, value),
                ],
            )
        };
        Keys {
            calls: CallOutcome::ALL.map(|o| with(CALLS, "outcome", o.label())),
            attempts: of(ATTEMPTS),
            retries: CLASSES.map(|c| with(RETRIES, "class", c)),
            errors: CLASSES.map(|c| with(ERRORS, "class", c)),
            gave_up: GiveUp::ALL.map(|r| with(GAVE_UP, "reason", r.label())),
            fallbacks: of(FALLBACKS),
            sleep: of(SLEEP),
        }
    }
}

/// The keys of `function`, kept in `cell`.
#[inline]
pub(crate) fn keys<'k>(cell: &'k OnceLock<Keys>, function: &'static str) -> &'k Keys {
    cell.get_or_init(|| Keys::new(function))
}

fn class_index(class: Option<Class>) -> usize {
    match class {
        Some(Class::Connect) => 0,
        Some(Class::Timeout) => 1,
        Some(Class::Status(429)) => 2,
        Some(Class::Status(500..=599)) => 3,
        Some(Class::Status(_)) => 4,
        Some(Class::Quota) => 5,
        Some(Class::Other) => 6,
        None => 7,
    }
}

/// A retry is about to sleep `delay` after a failure of `class`.
pub(crate) fn retrying(keys: &Keys, class: Option<Class>, delay: Duration) {
    ::metrics::with_recorder(|r| {
        r.register_counter(&keys.retries[class_index(class)], &METADATA)
            .increment(1);
        r.register_histogram(&keys.sleep, &METADATA)
            .record(delay.as_secs_f64());
    });
}

/// A call gave up and called its fallback.
pub(crate) fn fell_back(keys: &Keys) {
    ::metrics::with_recorder(|r| {
        r.register_counter(&keys.fallbacks, &METADATA).increment(1);
    });
}

/// A call returned.
#[inline]
pub(crate) fn ended(keys: &Keys, ended: Ended) {
    let outcome = CallOutcome::of(ended.error, ended.attempts > 1).index();
    ::metrics::with_recorder(|r| {
        r.register_counter(&keys.calls[outcome], &METADATA)
            .increment(1);
        r.register_counter(&keys.attempts, &METADATA)
            .increment(u64::from(ended.attempts));
        if let Some(reason) = ended.gave_up {
            r.register_counter(&keys.gave_up[reason.index()], &METADATA)
                .increment(1);
        }
        if ended.error {
            r.register_counter(&keys.errors[class_index(ended.class)], &METADATA)
                .increment(1);
        }
    });
}
