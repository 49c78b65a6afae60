//! Declarative retries: `#[retry(...)]` turns an `async fn` (or a plain `fn`)
//! into a retry loop, checked at compile time, with backoff, jitter, error
//! classes, the server's `Retry-After`, deadlines, per-attempt timeouts and
//! hooks. [`Retrying`] says the same at run time.
//!
//! ```
//! use retry_runtime::retry;
//!
//! #[retry(attempts = 5, wait = exponential(initial = 10ms, max = 1s), on = [Connect, Timeout])]
//! async fn fetch(url: &str) -> std::io::Result<String> {
//!     # let _ = url;
//!     Ok(String::from("hello"))
//! }
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! assert_eq!(fetch("http://127.0.0.1/").await.unwrap(), "hello");
//! # }
//! ```
//!
//! # The attribute
//!
//! Every key is optional.
//!
//! | key | meaning | default |
//! |---|---|---|
//! | `attempts = N` | total attempts, the first included; `0` is a compile error | 3 |
//! | `deadline = D` | time budget from the first attempt's start (from the call's start when a fleet's cool-down holds it first): no attempt starts at or after it, and a sleep that would end at or after it is not taken; `0` is a compile error | none |
//! | `timeout = D` | per-attempt limit on `async fn`: the attempt is dropped and fails as `Timeout`; the error type must be `From<`[`Elapsed`]`>`; `0` is a compile error | none |
//! | `wait = W` | the delay between attempts (below) | `exponential()` |
//! | `on = [RULE, ...]` | which failures are retried, in order; the first match decides. The list **replaces** the default: end it with `Default` (or `Transient`) to keep retrying the rest | `[Transient]` if the error type implements [`Classify`], else `[Any]` |
//! | `never = [CLASS, ...]` | failures never retried; wins over `on` | none |
//! | `when_ok = EXPR` | `Fn(&T) -> bool`: also retry an `Ok` for which it is true; on giving up the last `Ok` is returned | none |
//! | `retry_after = honor` / `honor(max = D)` / `ignore` | obey [`Classify::retry_after`]: sleep `max(wait, requested)`; above `max`, give up at once | `honor(max = 60s)` |
//! | `before_sleep = EXPR` | `Fn(&RetryState<'_, E>)` before each sleep; `log` is [`hooks::log`] | none |
//! | `on_giveup = EXPR` | `Fn(&RetryState<'_, E>)` once when the call gives up with an error (or a rejected `Ok`), before any `fallback` | none |
//! | `name = "..."` | the name in logs and hooks | `module_path!()::fn_name` |
//! | `attempt = NAME` | binds the running [`Attempt`] to `NAME` in the body (its number, one idempotency key per call) | none |
//! | `policy = NAME` | also emits `fn NAME() -> &'static Retrying<T, E>`: the same keys and name, built once, for the function's stream (`NAME().stream(..)`), a batch or a closure | none |
//! | `fallback = PATH` | a function with the same parameters and return type, called once with the same arguments when the call gives up with an error; its result is returned | none |
//! | `fallback_on = [CLASS, ...]` | only errors of these classes (as in `never`: classes or predicates) go to the `fallback`; the others are returned. A call refused before its first attempt (an open breaker) has no error of its own and always goes | every error |
//! | `crate = PATH` | where this crate is, for re-exports | `::retry_runtime` |
//!
//! A duration is a bare number of seconds (`2`, `0.5`) or has a unit:
//! `250ms`, `2s`, `1.5s`, `1m`. `honor` alone means `honor(max = 60s)`.
//!
//! ## Waits
//!
//! | form | delay after attempt n |
//! |---|---|
//! | `none` | 0 |
//! | `fixed(D)` | D |
//! | `random(MIN, MAX)` | uniform in [MIN, MAX] |
//! | `linear(initial = 1s, step = 1s, max = 60s)` | initial + step·(n−1), capped at max |
//! | `exponential(initial = 1s, factor = 2, min = 0, max = 60s, jitter = full)` | initial·factor^(n−1) clamped to [min, max], then jitter |
//! | `W1 + W2` | the sum |
//! | any other expression | a value implementing [`Wait`] |
//!
//! Jitter ([`Jitter`]): `none`, `full` (uniform in [min, d]), `equal`
//! (d/2 + uniform[0, d/2]), `decorrelated` (uniform[initial, 3·previous]),
//! always kept in [min, max]. The math saturates for any attempt number.
//!
//! ## Rules and classes
//!
//! A rule is a class, optionally with overrides that replace the top-level
//! `attempts` and `wait` for the failures it matches:
//! `RateLimited => (attempts = 3, wait = fixed(60))`.
//!
//! | class | matches |
//! |---|---|
//! | `Any` | every error |
//! | `Connect` | [`Class::Connect`] |
//! | `Timeout` | [`Class::Timeout`], and attempts cut by `timeout` |
//! | `Status(P)` | a status code, `a..=b`, or `a \| b \| ...` |
//! | `RateLimited` | `Status(429)` |
//! | `ServerError` | `Status(500..=599)` |
//! | `Transient` | `Connect`, `Timeout`, `Status(408 \| 409 \| 429 \| 500..=599)` |
//! | `Default` | what the default `on` retries: `Transient` for a [`Classify`] type, else `Any` |
//! | any other expression | a `Fn(&E) -> bool` predicate |
//!
//! All classes but `Any`, `Default` and predicates need `E: Classify`.
//!
//! Rules with overrides usually end with `Default`, so that the failures
//! they do not name are still retried:
//! `on = [RateLimited => (attempts = 3, wait = fixed(60)), Default]`.
//!
//! ## What the function becomes
//!
//! The body runs once per attempt, as its own unit, so `return` and `?` end
//! the attempt, not the retry. Reference arguments are passed to each attempt
//! as they are (`&mut` re-borrowed); by-value arguments, `self` included, are
//! cloned for each attempt. On giving up the function returns the last
//! attempt's own error (or, with `when_ok`, the last `Ok`). Dropping the
//! future of an `async fn` cancels the retry.
//!
//! The default `on` is chosen at compile time for a concrete error type. For a
//! generic error type `E`, the attribute cannot see whether `E: Classify`
//! unless the function says so: with a `where E: Classify` bound the class
//! rules and `Retry-After` work as for a concrete type; without one every
//! error is retried and no `Retry-After` is read.
//!
//! With `timeout` and `deadline` both set, an attempt's limit is the smaller
//! of the timeout and what is left of the deadline.
//!
//! The success path allocates nothing, takes no lock and reads no clock
//! unless a `deadline`, `timeout` or hook is set.
//!
//! # Seeing retries
//!
//! - [`stats`]: counts per function ([`stats::snapshot`], [`stats::get`]).
//! - Tracing: each decision emits one DEBUG event on the `retry_runtime`
//!   target, `retrying` or `giving up`, with the fields `retry.name`,
//!   `attempt`, `class`, `delay_ms`, `elapsed_ms`, `error` and `reason`.
//!   Arguments are never logged, and secrets in URLs (userinfo, query) are
//!   redacted from the error's text. For one span per call, put `#[retry]`
//!   above `#[tracing::instrument]` (in the other order each attempt gets its
//!   own span); give `instrument` `skip_all` or `skip(..)`, or it records
//!   every argument:
//!
//! ```
//! use retry_runtime::retry;
//!
//! #[retry(attempts = 3, wait = none)]
//! #[tracing::instrument(skip_all, name = "fetch")]
//! async fn fetch(url: &str) -> std::io::Result<String> {
//!     Ok(url.to_owned())
//! }
//! # let _ = fetch;
//! ```
//!
//! - `metrics` (cargo feature): the same through the `metrics` facade.
//! - [`testing`]: zero waits (and fewer attempts) in your own tests.
//!
//! # Protection across calls
//!
//! A [`Budget`] caps retries at a share of the calls, a [`CircuitBreaker`]
//! stops calling an API that keeps failing, and `wait = adaptive(W, ..)`
//! backs off further while recent attempts fail ([`AdaptiveWindow`]). Each is
//! a `static` named in the attribute (`budget = B`, `breaker = B`,
//! `adaptive(W, shared = H)`), shared by every function that names it.

//!
//! # Architecture
//!
//! The runtime is cut by concern, in the order a retried call meets them;
//! each module depends only on those above it in this list, never back
//! (a test, `tests/tests/layers.rs`, fails on an import of a module later
//! in the list, or on a cycle):
//!
//! ```text
//!  policy    what a failure is, whether it is retried, how long to wait (values)
//!  counters  lock-free counters and the clocks they count by
//!  protect   budget, breaker, adaptive window; the slot a shared store writes
//!  engine    one call: judge, delay, gates, clock, sleep, outcome
//!  observe   statistics, metrics, hooks: they only listen
//!  flows     the builder (async, blocking), streams, batches: drive the engine
//!  http      reqwest: errors, Retry-After, classification
//!  fleet     Redis: state shared by many processes
//!  __private what the attribute's expansion calls (not public API)
//! ```
//!
//! The attribute's expansion, the builder, streams and batches all drive
//! the same sequence of the engine's `Call`: the fleet's hold, the gate,
//! the attempt, the decision, the pause, the gate of the next attempt.
//!
//! One edge is wired by the crate root rather than imported: `policy`'s
//! chain of causes tries the integrations' error types (`reqwest`'s) from a
//! table the root fills, so that `policy` names no integration and `http`
//! may build on `policy`.

#![warn(missing_docs)]

mod counters;
mod engine;
mod fleet;
mod flows;
#[cfg(feature = "reqwest")]
#[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
pub mod http;
mod observe;
#[cfg(feature = "async-openai")]
#[cfg_attr(docsrs, doc(cfg(feature = "async-openai")))]
pub mod openai;
mod policy;
mod protect;

#[doc(hidden)]
pub mod __private;

pub use engine::testing;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use fleet::redis;
#[cfg(feature = "batch")]
#[cfg_attr(docsrs, doc(cfg(feature = "batch")))]
pub use flows::batch;
#[cfg(feature = "stream")]
#[cfg_attr(docsrs, doc(cfg(feature = "stream")))]
pub use flows::stream;
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub use observe::metrics;
pub use observe::{hooks, stats};
pub use policy::{chain, class, wait};

pub use engine::{Attempt, IdempotencyKey, RetryAfter};
pub use flows::builder::{Retrying, Rule};
pub use policy::wait::{Jitter, Wait};
pub use policy::{Class, ClassSet, Classify, Elapsed, GiveUp, RetryState};
pub use protect::{
    AdaptiveWindow, Breaker, BreakerState, Budget, CircuitBreaker, CircuitOpen, CoolDown, Paced,
    Permit, RetryBudget,
};

/// The classifiers of the integrations' error types, that [`chain`] tries
/// first: the crate root wires each integration in here, so that `chain`
/// names none of them.
pub(crate) const INTEGRATIONS: &[chain::Recogniser] = &[
    #[cfg(feature = "reqwest")]
    http::recognise,
    #[cfg(feature = "async-openai")]
    openai::recognise,
];

/// The `reqwest` this crate's `reqwest` feature was built against (0.13):
/// build your client from it so that its errors are the ones classified.
/// It comes without TLS and without `json`: for an `https` API, add
/// `reqwest = { version = "0.13", default-features = false, features =
/// ["rustls", "json"] }` to your own dependencies (features unify: the
/// re-exported crate is the same one, with them).
#[cfg(feature = "reqwest")]
#[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
pub use reqwest;

/// Turns a function into a retry loop. See the [crate documentation](crate)
/// for the keys, waits and classes.
pub use retry_macros::retry;
