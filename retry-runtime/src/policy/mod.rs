//! What a failure is, whether it is retried, and how long to wait: values
//! only, with no clock and no state shared between calls (but for the
//! recognisers an application [`chain::register`]s at start-up).
//!
//! - [`class`]: the classes of failures ([`Class`]), sets of them
//!   ([`ClassSet`]), and how an error says its class ([`Classify`]).
//! - [`chain`]: the class of an error found in its chain of causes.
//! - [`wait`]: the delays between attempts ([`Wait`](wait::Wait)).
//! - [`GiveUp`] and [`RetryState`]: why a call gives up, and what hooks see;
//!   one table gives each reason its label (metrics, statistics) and its
//!   phrase (logs), and each call outcome its label.
//! - `defaults`: the defaults and limits the attribute checks at compile
//!   time, written here once (the macro crate mirrors them, under test).
//! - [`Elapsed`]: the error of an attempt that ran out of time.

pub mod chain;
pub mod class;
pub(crate) mod defaults;
mod elapsed;
mod outcome;
pub mod wait;

pub use class::{Class, ClassSet, Classify};
pub use elapsed::Elapsed;
pub(crate) use outcome::CallOutcome;
pub use outcome::{GiveUp, RetryState};
