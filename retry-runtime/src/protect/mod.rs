//! Protection across calls: what one call cannot see alone.
//!
//! - [`Budget`] ([`RetryBudget`]): retries may add at most a share of the
//!   calls.
//! - [`CircuitBreaker`] ([`Breaker`]): stop calling an API that keeps
//!   failing; let one trial through after a while.
//! - [`AdaptiveWindow`]: the recent attempts' outcomes that adaptive waits
//!   read.
//! - [`slot`]: the slot a store shared by many processes writes into (what
//!   the others add, and their common cool-down, [`CoolDown`]), and this
//!   process's own cool-down when a member is paced ([`Paced`]).
//!
//! Each counts in [`counters`](crate::counters) and knows nothing of calls:
//! the engine's gates ask and tell them. A shared store (the `redis`
//! feature) plugs in at this module's edge, in `fleet.rs`: it reads what a
//! member counted and writes what the others did into its slot.

mod breaker;
mod budget;
pub(crate) mod slot;
mod window;

#[cfg(feature = "redis")]
mod fleet;

pub use breaker::{Breaker, BreakerState, CircuitBreaker, CircuitOpen, Permit};
pub use budget::{Budget, RetryBudget};
pub use slot::{CoolDown, Paced};
pub use window::AdaptiveWindow;
