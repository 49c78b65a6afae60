//! Per-function statistics: how often a call succeeded at once, how many
//! retries it took, how often it failed.
//!
//! Every annotated function (and every [named](crate::Retrying::name)
//! builder policy) records its calls from the first time it is called.
//! Recording allocates nothing, takes no lock and never blocks: a call that
//! succeeds at once adds one to a counter of its thread's own (no
//! cache line is shared between threads that call the same function), and
//! the other outcomes add to shared counters on the failure path, which
//! sleeps anyway.
//!
//! ```
//! use retry_runtime::{retry, stats};
//!
//! #[retry(attempts = 3, wait = none, name = "flaky")]
//! fn flaky(calls: &mut u32) -> std::io::Result<u32> {
//!     *calls += 1;
//!     if *calls < 3 { Err(std::io::ErrorKind::ConnectionReset.into()) } else { Ok(*calls) }
//! }
//!
//! let mut calls = 0;
//! flaky(&mut calls).unwrap();
//! let s = stats::get("flaky").unwrap();
//! assert_eq!((s.calls, s.first_try_successes, s.retries, s.failures), (1, 0, 2, 0));
//! assert_eq!(s.succeeded_after_retries, 1);
//! assert_eq!(s.avg_retries(), 2.0);
//! ```
//!
//! Counts are of calls that have returned: a call in progress, or one whose
//! future was dropped, is not counted.

use std::fmt;
use std::ptr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicPtr, AtomicU8, AtomicU64, Ordering::*};

use crate::counters::counter::Counter;
use crate::engine::{Ended, Observer};
use crate::policy::{CallOutcome, Class, GiveUp};

/// The statistics of one function (or named builder policy), as of the last
/// [`reset`].
///
/// Every call ends in exactly one of four outcomes, resilience4j's:
/// `first_try_successes`, `succeeded_after_retries`, `failed_without_retry`
/// and `failed_after_retries`; `calls` is their sum. A call counts as
/// succeeded when it returns `Ok` (also the last `Ok` that `when_ok` kept
/// rejecting: the call then also counts in [`gave_up`](FnStats::gave_up)).
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq)]
pub struct FnStats {
    /// The function's name (`module_path::fn` unless `name` says otherwise).
    pub name: &'static str,
    /// Calls that returned.
    pub calls: u64,
    /// Calls whose first attempt succeeded.
    pub first_try_successes: u64,
    /// Attempts after the first, whether the call then succeeded or not.
    pub retries: u64,
    /// Calls that returned an error.
    pub failures: u64,
    /// Calls that succeeded after at least one retry.
    pub succeeded_after_retries: u64,
    /// Calls that returned an error without retrying (not retryable, refused
    /// by the server, or a one-attempt policy).
    pub failed_without_retry: u64,
    /// Calls that returned an error after retrying.
    pub failed_after_retries: u64,
    /// Attempts in all: `calls + retries`, less the calls a circuit breaker
    /// refused before their first attempt.
    pub attempts: u64,
    /// Why calls gave up.
    pub gave_up: GiveUpCounts,
    /// Calls that returned a [`Class::Quota`] failure: the account cannot
    /// be served until a person acts (billing, credits, a daily quota).
    /// Retrying does not help; alert on it.
    pub quota: u64,
    /// Calls that gave up with an error and returned what their `fallback`
    /// returned instead (the call itself is counted as it ended, a failure;
    /// an annotated fallback keeps statistics of its own).
    pub fallbacks: u64,
}

/// The former name of [`GiveUpCounts`].
#[deprecated(note = "renamed `GiveUpCounts`")]
pub type GaveUp = GiveUpCounts;

/// How many calls gave up, by reason (see [`GiveUp`]): a field per reason,
/// named as metrics label it (`reason="budget_exhausted"`).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GiveUpCounts {
    /// The failure was not one the rules retry.
    pub not_retryable: u64,
    /// The server said not to retry (`x-should-retry: false`).
    pub server_refused: u64,
    /// The attempts were used up.
    pub attempts: u64,
    /// The next sleep would have ended after the deadline.
    pub deadline: u64,
    /// The server asked for a longer delay than `retry_after` allows.
    pub retry_after_too_long: u64,
    /// The retry budget was empty.
    pub budget_exhausted: u64,
    /// The circuit breaker was open (also when it refused the first attempt).
    pub breaker_open: u64,
}

impl GiveUpCounts {
    /// The counts, each reason's from `count`.
    fn of(count: impl Fn(GiveUp) -> u64) -> GiveUpCounts {
        GiveUpCounts {
            not_retryable: count(GiveUp::NotRetryable),
            server_refused: count(GiveUp::ServerRefused),
            attempts: count(GiveUp::Attempts),
            deadline: count(GiveUp::Deadline),
            retry_after_too_long: count(GiveUp::RetryAfterTooLong),
            budget_exhausted: count(GiveUp::BudgetExhausted),
            breaker_open: count(GiveUp::BreakerOpen),
        }
    }

    /// How many calls gave up for `reason`.
    pub fn get(&self, reason: GiveUp) -> u64 {
        match reason {
            GiveUp::NotRetryable => self.not_retryable,
            GiveUp::ServerRefused => self.server_refused,
            GiveUp::Attempts => self.attempts,
            GiveUp::Deadline => self.deadline,
            GiveUp::RetryAfterTooLong => self.retry_after_too_long,
            GiveUp::BudgetExhausted => self.budget_exhausted,
            GiveUp::BreakerOpen => self.breaker_open,
        }
    }
}

impl FnStats {
    /// The share of calls that succeeded on the first attempt; 0.0 without calls.
    pub fn first_try_success_rate(&self) -> f64 {
        ratio(self.first_try_successes, self.calls)
    }
    /// Retries per call; 0.0 without calls.
    pub fn avg_retries(&self) -> f64 {
        ratio(self.retries, self.calls)
    }
    /// The share of calls that returned an error; 0.0 without calls.
    pub fn failure_rate(&self) -> f64 {
        ratio(self.failures, self.calls)
    }
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

impl fmt::Display for FnStats {
    /// One line: `name: 10 calls, 80.0% first try, 0.30 retries/call, 10.0% failed`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} calls, {:.1}% first try, {:.2} retries/call, {:.1}% failed",
            self.name,
            self.calls,
            self.first_try_success_rate() * 100.0,
            self.avg_retries(),
            self.failure_rate() * 100.0
        )
    }
}

/// The statistics of every function that has been called, sorted by name.
/// Functions that share a name share one entry.
pub fn snapshot() -> Vec<FnStats> {
    let mut all: Vec<FnStats> = registered().map(Recorder::read).collect();
    all.sort_by(|a, b| a.name.cmp(b.name));
    all.dedup_by(|next, kept| {
        let same = next.name == kept.name;
        if same {
            kept.add(next);
        }
        same
    });
    all
}

/// The statistics of the function named `name`, if it has been called.
pub fn get(name: &str) -> Option<FnStats> {
    registered()
        .filter(|r| r.name == name)
        .map(Recorder::read)
        .reduce(|mut a, b| {
            a.add(&b);
            a
        })
}

/// Sets every counter of every function to zero (for tests). Calls that
/// are recorded while it runs may or may not be counted.
pub fn reset() {
    for recorder in registered() {
        let now = recorder.raw();
        *recorder.base.lock().unwrap_or_else(|e| e.into_inner()) = now;
    }
}

impl FnStats {
    fn add(&mut self, other: &FnStats) {
        self.calls += other.calls;
        self.first_try_successes += other.first_try_successes;
        self.retries += other.retries;
        self.failures += other.failures;
        self.succeeded_after_retries += other.succeeded_after_retries;
        self.failed_without_retry += other.failed_without_retry;
        self.failed_after_retries += other.failed_after_retries;
        self.attempts += other.attempts;
        let (mine, theirs) = (self.gave_up, other.gave_up);
        self.gave_up = GiveUpCounts::of(|reason| mine.get(reason) + theirs.get(reason));
        self.quota += other.quota;
        self.fallbacks += other.fallbacks;
    }
}

/// The counters, as plain numbers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Counts {
    first_try_successes: u64,
    succeeded_after_retries: u64,
    failed_without_retry: u64,
    failed_after_retries: u64,
    retries: u64,
    not_attempted: u64,
    gave_up: [u64; REASONS],
    quota: u64,
    fallbacks: u64,
}

const REASONS: usize = GiveUp::COUNT;

fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Relaxed);
}

/// One function's counters. The attribute declares one `static` per
/// function; it joins the list that [`snapshot`] reads when first used.
#[doc(hidden)]
pub struct Recorder {
    name: &'static str,
    /// 0: not listed; 1: being listed; 2: listed.
    listed: AtomicU8,
    next: AtomicPtr<Recorder>,
    first_try_successes: Counter,
    succeeded_after_retries: AtomicU64,
    failed_without_retry: AtomicU64,
    failed_after_retries: AtomicU64,
    retries: AtomicU64,
    /// Calls refused before their first attempt (by a breaker).
    not_attempted: AtomicU64,
    gave_up: [AtomicU64; REASONS],
    /// Calls that returned a `Quota` failure.
    quota: AtomicU64,
    /// Calls handed to their fallback.
    fallbacks: AtomicU64,
    /// The counts at the last [`reset`]: counters only grow, and what is
    /// read is the difference.
    base: Mutex<Counts>,
    #[cfg(feature = "metrics")]
    keys: std::sync::OnceLock<crate::observe::metrics::Keys>,
}

impl fmt::Debug for Recorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recorder")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

static HEAD: AtomicPtr<Recorder> = AtomicPtr::new(ptr::null_mut());

fn registered() -> impl Iterator<Item = &'static Recorder> {
    let mut at = HEAD.load(Acquire);
    std::iter::from_fn(move || {
        // SAFETY: only `&'static Recorder`s are ever pushed, and never removed.
        let recorder: &'static Recorder = unsafe { at.as_ref()? };
        at = recorder.next.load(Acquire);
        Some(recorder)
    })
}

impl Recorder {
    /// A recorder for the function `name`, not yet listed.
    pub const fn new(name: &'static str) -> Self {
        Recorder {
            name,
            listed: AtomicU8::new(0),
            next: AtomicPtr::new(ptr::null_mut()),
            first_try_successes: Counter::new(),
            succeeded_after_retries: AtomicU64::new(0),
            failed_without_retry: AtomicU64::new(0),
            failed_after_retries: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            not_attempted: AtomicU64::new(0),
            gave_up: [const { AtomicU64::new(0) }; REASONS],
            quota: AtomicU64::new(0),
            fallbacks: AtomicU64::new(0),
            base: Mutex::new(Counts {
                first_try_successes: 0,
                succeeded_after_retries: 0,
                failed_without_retry: 0,
                failed_after_retries: 0,
                retries: 0,
                not_attempted: 0,
                gave_up: [0; REASONS],
                quota: 0,
                fallbacks: 0,
            }),
            #[cfg(feature = "metrics")]
            keys: std::sync::OnceLock::new(),
        }
    }

    #[cfg(feature = "metrics")]
    fn keys(&self) -> &crate::observe::metrics::Keys {
        crate::observe::metrics::keys(&self.keys, self.name)
    }

    /// The recorder for a builder policy named `name`: the one already
    /// listed under that name, or a new one (made once per name).
    pub(crate) fn named(name: &'static str) -> &'static Recorder {
        static MAKING: Mutex<()> = Mutex::new(());
        let _one_at_a_time = MAKING.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(found) = registered().find(|r| r.name == name) {
            return found;
        }
        let made: &'static Recorder = Box::leak(Box::new(Recorder::new(name)));
        made.list();
        made
    }

    /// Joins the list of [`snapshot`] (once).
    #[cold]
    #[inline(never)]
    fn list(&'static self) {
        if self.listed.load(Acquire) == 2 {
            return;
        }
        if self
            .listed
            .compare_exchange(0, 1, Relaxed, Acquire)
            .is_err()
        {
            // Another thread is listing it: once this returns, `get` finds it.
            while self.listed.load(Acquire) != 2 {
                std::thread::yield_now();
            }
            return;
        }
        let me = ptr::from_ref(self).cast_mut();
        let mut head = HEAD.load(Relaxed);
        loop {
            self.next.store(head, Relaxed);
            match HEAD.compare_exchange_weak(head, me, Release, Relaxed) {
                Ok(_) => break,
                Err(now) => head = now,
            }
        }
        self.listed.store(2, Release);
    }

    #[cold]
    #[inline(never)]
    fn ended_slowly(&self, ended: Ended) {
        let retried = ended.attempts > 1;
        match CallOutcome::of(ended.error, retried) {
            // A rejected `Ok` returned at once (a one-attempt policy).
            CallOutcome::FirstTry => {
                self.first_try_successes.add_one();
            }
            CallOutcome::AfterRetries => add(&self.succeeded_after_retries, 1),
            CallOutcome::FailedAtOnce => add(&self.failed_without_retry, 1),
            CallOutcome::FailedAfterRetries => add(&self.failed_after_retries, 1),
        }
        if retried {
            add(&self.retries, u64::from(ended.attempts - 1));
        }
        if ended.attempts == 0 {
            add(&self.not_attempted, 1);
        }
        if let Some(reason) = ended.gave_up {
            add(&self.gave_up[reason.index()], 1);
        }
        if ended.error && ended.class == Some(Class::Quota) {
            add(&self.quota, 1);
        }
    }

    fn raw(&self) -> Counts {
        Counts {
            first_try_successes: self.first_try_successes.sum(),
            succeeded_after_retries: self.succeeded_after_retries.load(Relaxed),
            failed_without_retry: self.failed_without_retry.load(Relaxed),
            failed_after_retries: self.failed_after_retries.load(Relaxed),
            retries: self.retries.load(Relaxed),
            not_attempted: self.not_attempted.load(Relaxed),
            gave_up: std::array::from_fn(|i| self.gave_up[i].load(Relaxed)),
            quota: self.quota.load(Relaxed),
            fallbacks: self.fallbacks.load(Relaxed),
        }
    }

    fn read(&self) -> FnStats {
        let now = self.raw();
        let base = *self.base.lock().unwrap_or_else(|e| e.into_inner());
        let since = |now: u64, base: u64| now.saturating_sub(base);
        let first_try_successes = since(now.first_try_successes, base.first_try_successes);
        let succeeded_after_retries =
            since(now.succeeded_after_retries, base.succeeded_after_retries);
        let failed_without_retry = since(now.failed_without_retry, base.failed_without_retry);
        let failed_after_retries = since(now.failed_after_retries, base.failed_after_retries);
        let retries = since(now.retries, base.retries);
        let not_attempted = since(now.not_attempted, base.not_attempted);
        let gave_up: [u64; REASONS] =
            std::array::from_fn(|i| since(now.gave_up[i], base.gave_up[i]));
        let calls = first_try_successes
            + succeeded_after_retries
            + failed_without_retry
            + failed_after_retries;
        FnStats {
            name: self.name,
            calls,
            first_try_successes,
            retries,
            failures: failed_without_retry + failed_after_retries,
            succeeded_after_retries,
            failed_without_retry,
            failed_after_retries,
            attempts: (calls + retries).saturating_sub(not_attempted),
            gave_up: GiveUpCounts::of(|reason| gave_up[reason.index()]),
            quota: since(now.quota, base.quota),
            fallbacks: since(now.fallbacks, base.fallbacks),
        }
    }
}

/// The observer that records a call in a function's [`Recorder`] (and,
/// with the `metrics` feature, in the `metrics` facade).
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub struct Stats(pub &'static Recorder);

impl PartialEq for Stats {
    fn eq(&self, other: &Self) -> bool {
        ptr::eq(self.0, other.0)
    }
}
impl Eq for Stats {}

impl Observer for Stats {
    #[cfg_attr(not(debug_assertions), inline(always))]
    fn retrying(&self, attempt: u32, class: Option<Class>, delay: std::time::Duration) {
        #[cfg(feature = "metrics")]
        crate::observe::metrics::retrying(self.0.keys(), class, delay);
        let _ = (attempt, class, delay);
    }

    #[cold]
    fn fell_back(&self) {
        add(&self.0.fallbacks, 1);
        #[cfg(feature = "metrics")]
        crate::observe::metrics::fell_back(self.0.keys());
    }

    #[cfg_attr(not(debug_assertions), inline(always))]
    fn call_ended(&self, ended: Ended) {
        let recorder = self.0;
        if ended.attempts <= 1 && ended.gave_up.is_none() {
            // A line's first count lists the function: no other check on
            // this path.
            if recorder.first_try_successes.add_one() == 0 {
                recorder.list();
            }
        } else {
            recorder.list();
            recorder.ended_slowly(ended);
        }
        #[cfg(feature = "metrics")]
        crate::observe::metrics::ended(recorder.keys(), ended);
    }
}

#[cfg(test)]
mod tests;
