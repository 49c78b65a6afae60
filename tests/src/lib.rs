//! Helpers for the end-to-end tests in `tests/`: a classified error type, a
//! scripted sequence of outcomes, and a recorder for hooks.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use retry_runtime::{Class, Classify, Elapsed, GiveUp, RetryState};

/// An API error with a class and an optional requested delay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub class: Class,
    pub retry_after: Option<Duration>,
    /// The server's verdict (`x-should-retry`).
    pub should_retry: Option<bool>,
}

impl ApiError {
    pub fn status(code: u16) -> Self {
        ApiError {
            class: Class::Status(code),
            retry_after: None,
            should_retry: None,
        }
    }
    pub fn connect() -> Self {
        ApiError {
            class: Class::Connect,
            retry_after: None,
            should_retry: None,
        }
    }
    pub fn timeout() -> Self {
        ApiError {
            class: Class::Timeout,
            retry_after: None,
            should_retry: None,
        }
    }
    pub fn other() -> Self {
        ApiError {
            class: Class::Other,
            retry_after: None,
            should_retry: None,
        }
    }
    pub fn after(mut self, delay: Duration) -> Self {
        self.retry_after = Some(delay);
        self
    }
    pub fn verdict(mut self, retry: bool) -> Self {
        self.should_retry = Some(retry);
        self
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "api error: {:?}", self.class)
    }
}

impl std::error::Error for ApiError {}

/// A call an open breaker refused: a 599 (no attempt was made).
impl From<retry_runtime::CircuitOpen> for ApiError {
    fn from(_: retry_runtime::CircuitOpen) -> Self {
        ApiError::status(599)
    }
}

impl Classify for ApiError {
    fn class(&self) -> Class {
        self.class
    }
    fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
    fn should_retry(&self) -> Option<bool> {
        self.should_retry
    }
}

impl From<Elapsed> for ApiError {
    fn from(_: Elapsed) -> Self {
        ApiError::timeout()
    }
}

/// An error type without `Classify`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlainError(pub u32);

impl fmt::Display for PlainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "plain error {}", self.0)
    }
}

/// A scripted sequence of outcomes; the last one repeats.
pub struct Script<T, E = ApiError> {
    outcomes: Mutex<VecDeque<Result<T, E>>>,
    calls: AtomicU32,
}

impl<T: Clone, E: Clone> Script<T, E> {
    pub fn new(outcomes: impl IntoIterator<Item = Result<T, E>>) -> Self {
        Script {
            outcomes: Mutex::new(outcomes.into_iter().collect()),
            calls: AtomicU32::new(0),
        }
    }

    /// The next outcome.
    pub fn next(&self) -> Result<T, E> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let mut outcomes = self.outcomes.lock().unwrap();
        if outcomes.len() > 1 {
            outcomes.pop_front().unwrap()
        } else {
            outcomes.front().cloned().expect("script is empty")
        }
    }

    /// How many attempts ran.
    pub fn calls(&self) -> u32 {
        self.calls.load(Ordering::SeqCst)
    }
}

/// What a hook saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    pub attempt: u32,
    pub delay: Duration,
    pub elapsed: Duration,
    pub class: Option<Class>,
    pub giving_up: bool,
    pub had_error: bool,
    pub reason: Option<GiveUp>,
}

thread_local! {
    static SEEN: RefCell<Vec<Seen>> = const { RefCell::new(Vec::new()) };
}

/// A hook that records what it sees on this thread.
pub fn record<E>(state: &RetryState<'_, E>) {
    SEEN.with(|seen| {
        seen.borrow_mut().push(Seen {
            attempt: state.attempt,
            delay: state.delay,
            elapsed: state.elapsed,
            class: state.class,
            giving_up: state.giving_up,
            had_error: state.error.is_some(),
            reason: state.reason,
        })
    });
}

/// Takes what the hooks recorded on this thread.
pub fn take_seen() -> Vec<Seen> {
    SEEN.with(|seen| std::mem::take(&mut *seen.borrow_mut()))
}

/// The delays recorded before sleeps on this thread (and clears the record).
pub fn take_delays() -> Vec<Duration> {
    take_seen()
        .into_iter()
        .filter(|s| !s.giving_up)
        .map(|s| s.delay)
        .collect()
}

pub fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A writer for a test's own `tracing` subscriber: what it wrote, in lines.
#[derive(Clone, Default)]
pub struct LogBuffer(std::sync::Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogBuffer {
    /// The lines written so far.
    pub fn lines(&self) -> Vec<String> {
        let out = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
        out.lines().map(str::to_owned).collect()
    }
}

/// A current-thread runtime on a paused clock, for tests that drive one
/// themselves (a simulation, a local recorder).
pub fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime")
}

/// The runtime as a facade crate re-exports it (for `facade_retry!`).
#[doc(hidden)]
pub use retry_runtime as facade_rt;

/// A facade crate's macro: an annotated function whose attribute names the
/// runtime through `$crate` (`crate = $crate::facade_rt`) and takes the
/// caller's predicate.
#[macro_export]
#[rustfmt::skip] // rustfmt indents the attribute's arguments further at each run
macro_rules! facade_retry {
    ($name:ident, $pred:expr) => {
        #[$crate::facade_rt::retry(
            crate = $crate::facade_rt,
            attempts = 3,
            wait = none,
            on = [$pred],
            when_ok = |v: &u32| *v == 0,
            before_sleep = log
        )]
        fn $name(s: &$crate::Script<u32>) -> Result<u32, $crate::ApiError> {
            s.next()
        }
    };
}
