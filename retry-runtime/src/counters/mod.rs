//! Lock-free counters and the clocks they count by, with no retry
//! vocabulary: the cells that statistics and the protections count in.
//!
//! - [`clock`]: the clocks calls sleep on, read as ticks since a fixed
//!   point of the process; a time-sliced counter is told its slice in them.
//! - [`stripe`]: which stripe (cache line) the current thread owns.
//! - [`counter::Counter`]: a counter of one line per thread.
//! - [`slices::Slices`]: counts over a sliding window of time slices, and
//!   [`slices::ThreadSlices`], one such window per thread stripe.

pub(crate) mod clock;
pub(crate) mod counter;
pub(crate) mod slices;
pub(crate) mod stripe;
