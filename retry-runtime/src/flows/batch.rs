//! Batches where some items fail: many calls with a concurrency limit, each
//! retried under the policy on its own, one outcome per item.
//!
//! Everything runs inside the returned future (or stream): nothing is
//! spawned, so dropping it cancels every call in flight. A budget or breaker
//! the policy names is shared by all items.
//!
//! ```
//! use retry_runtime::{Retrying, wait};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! let policy = Retrying::<u32, std::io::Error>::new().classify().wait(wait::none());
//! let tries = std::sync::Mutex::new(std::collections::HashMap::new());
//! let batch = policy
//!     .batch(1..=5u32, 2, |n| {
//!         // Item 3 fails once with a reset (retried); item 5 is refused (not retried).
//!         let tries = {
//!             let mut t = tries.lock().unwrap();
//!             let k = t.entry(*n).or_insert(0);
//!             *k += 1;
//!             *k
//!         };
//!         let n = *n;
//!         async move {
//!             match (n, tries) {
//!                 (3, 1) => Err(std::io::ErrorKind::ConnectionReset.into()),
//!                 (5, _) => Err(std::io::ErrorKind::PermissionDenied.into()),
//!                 _ => Ok(n * 10),
//!             }
//!         }
//!     })
//!     .await;
//! let values: Vec<_> = batch.outcomes.iter().map(|o| o.result.as_ref().ok().copied()).collect();
//! assert_eq!(values, [Some(10), Some(20), Some(30), Some(40), None]);
//! assert_eq!(batch.outcomes[2].attempts, 2);
//! assert_eq!(
//!     (batch.summary.first_try, batch.summary.after_retries, batch.summary.failed),
//!     (3, 1, 1)
//! );
//! # }
//! ```

use std::future::Future;
use std::sync::Arc;

use futures_core::Stream;
use futures_util::StreamExt;

use crate::flows::builder::{Counted, Retrying};
use crate::policy::class::Class;

/// The final outcome of one item.
#[non_exhaustive]
#[derive(Debug)]
pub struct ItemOutcome<T, E> {
    /// The item's place in the input, from 0.
    pub index: usize,
    /// What its last attempt returned.
    pub result: Result<T, E>,
    /// How many attempts it took (0 when a circuit breaker refused it).
    pub attempts: u32,
    /// The class of its error, when it failed and the policy classifies.
    pub class: Option<Class>,
    /// Whether `result` is an `Ok` that `when_ok` kept rejecting until the
    /// policy gave up (counted as failed in the summary).
    pub rejected: bool,
}

/// How a batch went.
#[non_exhaustive]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BatchSummary {
    /// Items that succeeded at the first attempt.
    pub first_try: usize,
    /// Items that succeeded after retries.
    pub after_retries: usize,
    /// Items that failed.
    pub failed: usize,
    /// The failed items by the class of their error (`None`: not classified),
    /// in the order the classes first appeared.
    pub failed_by_class: Vec<(Option<Class>, usize)>,
    /// Attempts in all.
    pub attempts: u64,
}

impl BatchSummary {
    fn add<T, E>(&mut self, outcome: &ItemOutcome<T, E>) {
        self.attempts += u64::from(outcome.attempts);
        match (&outcome.result, outcome.attempts) {
            (Ok(_), 1) if !outcome.rejected => self.first_try += 1,
            (Ok(_), _) if !outcome.rejected => self.after_retries += 1,
            _ => {
                self.failed += 1;
                match self
                    .failed_by_class
                    .iter_mut()
                    .find(|(class, _)| *class == outcome.class)
                {
                    Some((_, n)) => *n += 1,
                    None => self.failed_by_class.push((outcome.class, 1)),
                }
            }
        }
    }
}

/// Every item's outcome in input order, and the summary.
#[non_exhaustive]
#[derive(Debug)]
pub struct Batch<T, E> {
    /// One outcome per item, in input order.
    pub outcomes: Vec<ItemOutcome<T, E>>,
    /// The counts.
    pub summary: BatchSummary,
}

impl<T, E> Retrying<T, E> {
    /// Calls `f` for every item, at most `concurrency` at once (0 is taken
    /// as 1), each retried under this policy on its own, and yields each
    /// item's final outcome as it completes. A permanent failure of one item
    /// never stops the others; dropping the stream cancels every call in
    /// flight.
    pub fn batch_stream<'a, I, F, Fut>(
        &'a self,
        items: impl IntoIterator<Item = I> + 'a,
        concurrency: usize,
        f: F,
    ) -> impl Stream<Item = ItemOutcome<T, E>> + 'a
    where
        I: 'a,
        F: Fn(&I) -> Fut + 'a,
        Fut: Future<Output = Result<T, E>> + 'a,
        T: 'a,
        E: 'a,
    {
        let f = Arc::new(f);
        futures_util::stream::iter(items.into_iter().enumerate())
            .map(move |(index, item)| {
                let f = Arc::clone(&f);
                async move {
                    // `rejected` is the engine's verdict: `when_ok` is not
                    // asked again (it may be costly, or answer otherwise).
                    let Counted {
                        result,
                        attempts,
                        rejected,
                    } = self.call_counted(|| f(&item)).await;
                    let class = result.as_ref().err().and_then(|e| self.class_of(e));
                    ItemOutcome {
                        index,
                        result,
                        attempts,
                        class,
                        rejected,
                    }
                }
            })
            .buffer_unordered(concurrency.max(1))
    }

    /// [`batch_stream`](Retrying::batch_stream), collected: one outcome per
    /// item in input order, and a summary.
    pub async fn batch<I, F, Fut>(
        &self,
        items: impl IntoIterator<Item = I>,
        concurrency: usize,
        f: F,
    ) -> Batch<T, E>
    where
        F: Fn(&I) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut outcomes: Vec<ItemOutcome<T, E>> =
            self.batch_stream(items, concurrency, f).collect().await;
        outcomes.sort_unstable_by_key(|o| o.index);
        let mut summary = BatchSummary::default();
        for outcome in &outcomes {
            summary.add(outcome);
        }
        Batch { outcomes, summary }
    }
}

/// The outcome types may grow: users read them, and cannot build them.
///
/// ```compile_fail
/// let _ = retry_runtime::batch::ItemOutcome::<u32, std::io::Error> {
///     index: 0,
///     result: Ok(1),
///     attempts: 1,
///     class: None,
///     rejected: false,
/// };
/// ```
///
/// ```compile_fail
/// let _ = retry_runtime::batch::BatchSummary {
///     first_try: 1,
///     after_retries: 0,
///     failed: 0,
///     failed_by_class: Vec::new(),
///     attempts: 1,
/// };
/// ```
///
/// ```compile_fail
/// let _ = retry_runtime::batch::Batch::<u32, std::io::Error> {
///     outcomes: Vec::new(),
///     summary: Default::default(),
/// };
/// ```
#[cfg(doctest)]
struct MayGrow;
