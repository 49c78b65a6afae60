//! What listens to calls and never changes them: per-function
//! [`stats`], the `metrics` facade ([`metrics`], a cargo feature) and the
//! ready-made [`hooks`]. Statistics and metrics are an
//! [`Observer`](crate::engine::Observer) the expansion adds to every
//! function; hooks are what `before_sleep` and `on_giveup` name.

pub mod hooks;
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub mod metrics;
pub mod stats;
