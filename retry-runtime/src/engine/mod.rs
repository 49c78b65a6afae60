//! The retry engine: one call, from its first attempt to what it returns.
//! It judges each failed attempt, chooses the delay, asks the gates (a
//! budget, a breaker) and tells the observers (statistics), reads the clock
//! and sleeps; the attribute's expansion, the [builder](crate::Retrying),
//! streams and batches drive it, and the order of the checks, the limits and
//! the give-up logic live here and nowhere else.
//!
//! - [`settings`]: what holds for every failure of one function
//!   ([`Settings`]), and what one failure is ([`Failure`], [`Limits`]).
//! - [`call`]: one call's state and decisions ([`Call`]).
//! - [`observer`]: who hears the call ([`Observer`]), and [`gates`]: the
//!   protections as observers.
//! - [`sleep`]: the pause between attempts and the per-attempt time limit.
//! - [`log`]: the DEBUG event of each decision; [`redact`]: secrets out of
//!   logged text.
//! - [`testing`]: the switch that zeroes waits in tests.
//! - [`attempt`]: what the body may know of its attempt ([`Attempt`]).

pub(crate) mod attempt;
pub(crate) mod call;
pub(crate) mod gates;
pub(crate) mod log;
pub(crate) mod observer;
pub(crate) mod redact;
pub(crate) mod settings;
pub(crate) mod sleep;
pub mod testing;

pub use attempt::{Attempt, IdempotencyKey};
pub use call::{Call, Step};
pub(crate) use observer::forward;
pub use observer::{Ended, Observer};
pub use settings::{
    DEFAULT_ATTEMPTS, Failure, Limits, Matched, RetryAfter, Settings, SettingsSource,
};

#[cfg(test)]
mod tests;
