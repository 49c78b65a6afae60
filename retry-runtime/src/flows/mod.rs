//! The ways to drive calls at run time, each on the one engine: a policy
//! built as a value ([`Retrying`](builder::Retrying), async and blocking),
//! streams that resume where they broke ([`stream`]) and batches with one
//! outcome per item ([`batch`]).

#[cfg(feature = "batch")]
#[cfg_attr(docsrs, doc(cfg(feature = "batch")))]
pub mod batch;
pub(crate) mod builder;
#[cfg(feature = "stream")]
#[cfg_attr(docsrs, doc(cfg(feature = "stream")))]
pub mod stream;
