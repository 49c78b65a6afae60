//! [`Retrying`]: everything the attribute can say, built at run time.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::class::{Class, ClassSet, Classify};
use crate::engine::{
    Call, Clock, Elapsed, Failure, Limits, RetryAfter, RetryState, Settings, StdClock, TokioClock,
};
use crate::wait::{Exponential, Wait};

type Hook<E> = Arc<dyn Fn(&RetryState<'_, E>) + Send + Sync>;
type SharedWait = Arc<dyn Wait + Send + Sync>;
type Predicate<T> = Arc<dyn Fn(&T) -> bool + Send + Sync>;

/// `Classify`'s methods for the error type.
struct Classifier<E> {
    class: fn(&E) -> Class,
    retry_after: fn(&E) -> Option<Duration>,
    should_retry: fn(&E) -> Option<bool>,
}

impl<E> Clone for Classifier<E> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<E> Copy for Classifier<E> {}

/// Which failures a [`Rule`] applies to.
enum Matcher<E> {
    Any,
    Classes {
        set: ClassSet,
        classify: fn(&E) -> Class,
    },
    Predicate(Predicate<E>),
}

impl<E> Clone for Matcher<E> {
    fn clone(&self) -> Self {
        match self {
            Matcher::Any => Matcher::Any,
            Matcher::Classes { set, classify } => Matcher::Classes {
                set: *set,
                classify: *classify,
            },
            Matcher::Predicate(p) => Matcher::Predicate(p.clone()),
        }
    }
}

impl<E> Matcher<E> {
    fn matches(&self, error: &E, timed_out: bool) -> bool {
        match self {
            Matcher::Any => true,
            Matcher::Classes { set, classify } => set.contains(if timed_out {
                Class::Timeout
            } else {
                classify(error)
            }),
            Matcher::Predicate(p) => p(error),
        }
    }
}

/// One entry of `on = [...]` for the builder: which failures, and optionally
/// their own attempts and wait.
///
/// ```
/// use std::time::Duration;
/// use retry_runtime::{ClassSet, Rule, wait};
///
/// let rate_limits: Rule<std::io::Error> = Rule::class(ClassSet::RATE_LIMITED)
///     .attempts(3)
///     .wait(wait::fixed(Duration::from_secs(60)));
/// # let _ = rate_limits;
/// ```
pub struct Rule<E> {
    matcher: Matcher<E>,
    attempts: Option<u32>,
    wait: Option<SharedWait>,
}

impl<E> Clone for Rule<E> {
    fn clone(&self) -> Self {
        Rule {
            matcher: self.matcher.clone(),
            attempts: self.attempts,
            wait: self.wait.clone(),
        }
    }
}

impl<E> fmt::Debug for Rule<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let matcher = match &self.matcher {
            Matcher::Any => "Any".to_string(),
            Matcher::Classes { set, .. } => format!("{set:?}"),
            Matcher::Predicate(_) => "predicate".to_string(),
        };
        f.debug_struct("Rule")
            .field("matcher", &matcher)
            .field("attempts", &self.attempts)
            .field("wait", &self.wait.as_ref().map(|_| ".."))
            .finish()
    }
}

impl<E> Rule<E> {
    /// Every failure: `Any`.
    pub fn any() -> Self {
        Rule::from_matcher(Matcher::Any)
    }

    /// Failures whose class is in `set`: `Connect`, `Status(..)`, `Transient`...
    pub fn class(set: ClassSet) -> Self
    where
        E: Classify,
    {
        Rule::from_matcher(Matcher::Classes {
            set,
            classify: <E as Classify>::class,
        })
    }

    /// Failures for which `predicate` is true.
    pub fn when(predicate: impl Fn(&E) -> bool + Send + Sync + 'static) -> Self {
        Rule::from_matcher(Matcher::Predicate(Arc::new(predicate)))
    }

    fn from_matcher(matcher: Matcher<E>) -> Self {
        Rule {
            matcher,
            attempts: None,
            wait: None,
        }
    }

    /// Total attempts for failures of this rule (replaces the top-level value).
    /// `0` is taken as `1`.
    pub fn attempts(mut self, attempts: u32) -> Self {
        self.attempts = Some(attempts.max(1));
        self
    }

    /// The wait for failures of this rule (replaces the top-level wait).
    pub fn wait(mut self, wait: impl Wait + Send + Sync + 'static) -> Self {
        self.wait = Some(Arc::new(wait));
        self
    }
}

/// A retry policy built at run time: tenacity's `Retrying`. It says all that
/// `#[retry(...)]` says, for closures and for policies read from configuration,
/// and drives the same engine.
///
/// | attribute | builder |
/// |---|---|
/// | `attempts = 5` | [`.attempts(5)`](Retrying::attempts) |
/// | `deadline = 30s` | [`.deadline(..)`](Retrying::deadline) |
/// | `timeout = 10s` | [`.timeout(..)`](Retrying::timeout) |
/// | `wait = exponential(max = 10s)` | [`.wait(wait::exponential().max(..))`](Retrying::wait) |
/// | `on = [Connect, RateLimited => (attempts = 3)]` | [`.on(Rule::class(..))`](Retrying::on), once per rule |
/// | `never = [Status(401)]` | [`.never(Rule::class(..))`](Retrying::never) |
/// | `when_ok = f` | [`.when_ok(f)`](Retrying::when_ok) |
/// | `retry_after = ignore` | [`.retry_after(RetryAfter::Ignore)`](Retrying::retry_after) |
/// | `before_sleep = f`, `on_giveup = f` | [`.before_sleep(f)`](Retrying::before_sleep), [`.on_giveup(f)`](Retrying::on_giveup) |
/// | `name = "x"` | [`.name("x")`](Retrying::name) |
///
/// The builder cannot see whether `E` implements [`Classify`]: call
/// [`.classify()`](Retrying::classify) to get the attribute's behaviour for
/// such types (transient failures retried by default, `Retry-After` obeyed,
/// classes passed to hooks). Without it every error is retried by default.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use retry_runtime::{ClassSet, Retrying, Rule, wait};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let policy = Retrying::new()
///     .name("fetch")
///     .attempts(4)
///     .wait(wait::exponential().max(Duration::from_millis(10)))
///     .classify()
///     .on(Rule::class(ClassSet::CONNECT));
///
/// let mut calls = 0;
/// let result: std::io::Result<u32> = policy
///     .call(|| {
///         calls += 1;
///         let fail = calls < 3;
///         async move {
///             if fail { Err(std::io::ErrorKind::ConnectionReset.into()) } else { Ok(7) }
///         }
///     })
///     .await;
/// assert_eq!(result.unwrap(), 7);
/// assert_eq!(calls, 3);
/// # }
/// ```
pub struct Retrying<T, E> {
    settings: Settings,
    attempts: u32,
    wait: SharedWait,
    timeout: Option<(Duration, fn() -> E)>,
    rules: Vec<Rule<E>>,
    never: Vec<Matcher<E>>,
    classify: Option<Classifier<E>>,
    when_ok: Option<Predicate<T>>,
    before_sleep: Option<Hook<E>>,
    on_giveup: Option<Hook<E>>,
}

impl<T, E> Clone for Retrying<T, E> {
    fn clone(&self) -> Self {
        Retrying {
            settings: self.settings,
            attempts: self.attempts,
            wait: self.wait.clone(),
            timeout: self.timeout,
            rules: self.rules.clone(),
            never: self.never.clone(),
            classify: self.classify,
            when_ok: self.when_ok.clone(),
            before_sleep: self.before_sleep.clone(),
            on_giveup: self.on_giveup.clone(),
        }
    }
}

impl<T, E> fmt::Debug for Retrying<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Retrying")
            .field("settings", &self.settings)
            .field("attempts", &self.attempts)
            .field("timeout", &self.timeout.map(|(d, _)| d))
            .field("rules", &self.rules)
            .field("classify", &self.classify.is_some())
            .finish_non_exhaustive()
    }
}

impl<T, E> Default for Retrying<T, E> {
    fn default() -> Self {
        Retrying::new()
    }
}

impl<T, E> Retrying<T, E> {
    /// The attribute's defaults: 3 attempts, `exponential()`, no deadline, no
    /// timeout, `retry_after = honor(max = 60s)`, every error retried.
    pub fn new() -> Self {
        Retrying {
            settings: Settings::new("retrying"),
            attempts: 3,
            wait: Arc::new(Exponential::new()),
            timeout: None,
            rules: Vec::new(),
            never: Vec::new(),
            classify: None,
            when_ok: None,
            before_sleep: None,
            on_giveup: None,
        }
    }

    /// The name in logs and hooks (`"retrying"` by default).
    pub fn name(mut self, name: &'static str) -> Self {
        self.settings.name = name;
        self
    }

    /// Total attempts, the first included (`0` is taken as `1`).
    pub fn attempts(mut self, attempts: u32) -> Self {
        self.attempts = attempts.max(1);
        self
    }

    /// A time budget from the first attempt's start.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.settings.deadline = Some(deadline);
        self
    }

    /// A limit per attempt ([`call`](Retrying::call) only): the attempt is
    /// dropped and fails as a `Timeout`, with the error built from [`Elapsed`].
    pub fn timeout(mut self, limit: Duration) -> Self
    where
        E: From<Elapsed>,
    {
        self.timeout = Some((limit, || E::from(Elapsed::new())));
        self.settings.timeout = Some(limit);
        self
    }

    /// The delay between attempts.
    pub fn wait(mut self, wait: impl Wait + Send + Sync + 'static) -> Self {
        self.wait = Arc::new(wait);
        self
    }

    /// Uses `E`'s [`Classify`]: the default rule becomes `Transient`, the
    /// server's requested delay is read, and hooks see the class.
    pub fn classify(mut self) -> Self
    where
        E: Classify,
    {
        self.classify = Some(Classifier {
            class: <E as Classify>::class,
            retry_after: <E as Classify>::retry_after,
            should_retry: <E as Classify>::should_retry,
        });
        self
    }

    /// Adds a rule to `on`; the first that matches decides.
    pub fn on(mut self, rule: Rule<E>) -> Self {
        self.rules.push(rule);
        self
    }

    /// Never retries failures that `rule` matches (its overrides are ignored);
    /// wins over `on`.
    pub fn never(mut self, rule: Rule<E>) -> Self {
        self.never.push(rule.matcher);
        self
    }

    /// Also retries an `Ok` value for which `reject` is true; on giving up
    /// the last `Ok` is returned.
    pub fn when_ok(mut self, reject: impl Fn(&T) -> bool + Send + Sync + 'static) -> Self {
        self.when_ok = Some(Arc::new(reject));
        self
    }

    /// What to do with the server's requested delay.
    pub fn retry_after(mut self, retry_after: RetryAfter) -> Self {
        self.settings.retry_after = retry_after;
        self
    }

    /// Called before each sleep.
    pub fn before_sleep(
        mut self,
        hook: impl Fn(&RetryState<'_, E>) + Send + Sync + 'static,
    ) -> Self {
        self.before_sleep = Some(Arc::new(hook));
        self.settings.hooks = true;
        self
    }

    /// Called once when the call returns an error (or a rejected `Ok`).
    pub fn on_giveup(mut self, hook: impl Fn(&RetryState<'_, E>) + Send + Sync + 'static) -> Self {
        self.on_giveup = Some(Arc::new(hook));
        self.settings.hooks = true;
        self
    }

    /// Runs `attempt` until it succeeds or the policy gives up, sleeping with
    /// `tokio::time::sleep`. Dropping the future cancels the retry.
    pub async fn call<F, Fut>(&self, mut attempt: F) -> Result<T, E>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut call = Call::<TokioClock>::new(&self.settings);
        loop {
            let (outcome, timed_out) = match self.timeout {
                None => (attempt().await, false),
                Some((limit, make)) => match tokio::time::timeout(limit, attempt()).await {
                    Ok(outcome) => (outcome, false),
                    Err(_) => (Err(make()), true),
                },
            };
            match self.step(&mut call, outcome, timed_out) {
                Ok(delay) => crate::__private::sleep(delay).await,
                Err(done) => return done,
            }
        }
    }

    /// Runs `attempt` until it succeeds or the policy gives up, sleeping with
    /// `std::thread::sleep`. A `timeout` does not apply here.
    pub fn call_blocking<F>(&self, mut attempt: F) -> Result<T, E>
    where
        F: FnMut() -> Result<T, E>,
    {
        let mut call = Call::<StdClock>::new(&self.settings);
        loop {
            match self.step(&mut call, attempt(), false) {
                Ok(delay) => crate::__private::sleep_blocking(delay),
                Err(done) => return done,
            }
        }
    }

    /// One outcome: `Ok(delay)` to retry, `Err(result)` to return it.
    fn step<C: Clock>(
        &self,
        call: &mut Call<'_, C>,
        outcome: Result<T, E>,
        timed_out: bool,
    ) -> Result<Duration, Result<T, E>> {
        let hook = |h: &Option<Hook<E>>, state: &RetryState<'_, E>| {
            if let Some(h) = h {
                h(state)
            }
        };
        let top = Limits {
            attempts: self.attempts,
            wait: &*self.wait,
        };
        match outcome {
            Ok(value) => {
                let rejected = self.when_ok.as_ref().is_some_and(|reject| reject(&value));
                if !rejected {
                    return Err(Ok(value));
                }
                let failure = Failure {
                    error: None,
                    class: None,
                    retry_after: None,
                };
                match call.failed(failure, Some(top), |s| hook(&self.before_sleep, s)) {
                    Some(delay) => Ok(delay),
                    None => {
                        call.give_up(failure, |s| hook(&self.on_giveup, s));
                        Err(Ok(value))
                    }
                }
            }
            Err(error) => {
                let (class, retry_after) = match self.classify {
                    Some(c) => (
                        Some(if timed_out {
                            Class::Timeout
                        } else {
                            (c.class)(&error)
                        }),
                        (c.retry_after)(&error),
                    ),
                    None => (timed_out.then_some(Class::Timeout), None),
                };
                let failure = Failure {
                    error: Some(&error),
                    class,
                    retry_after,
                };
                let verdict = self.classify.and_then(|c| (c.should_retry)(&error));
                let limits = if self.never.iter().any(|m| m.matches(&error, timed_out))
                    || verdict == Some(false)
                {
                    None
                } else if self.rules.is_empty() {
                    let retried = match self.classify {
                        Some(_) => ClassSet::TRANSIENT.matches(class),
                        None => true,
                    };
                    retried.then_some(top)
                } else {
                    self.rules
                        .iter()
                        .find(|rule| rule.matcher.matches(&error, timed_out))
                        .map(|rule| Limits {
                            attempts: rule.attempts.unwrap_or(self.attempts),
                            wait: rule.wait.as_deref().unwrap_or(&*self.wait),
                        })
                };
                let limits = match (limits, verdict) {
                    (None, Some(true)) => Some(top),
                    (limits, _) => limits,
                };
                match call.failed(failure, limits, |s| hook(&self.before_sleep, s)) {
                    Some(delay) => Ok(delay),
                    None => {
                        call.give_up(failure, |s| hook(&self.on_giveup, s));
                        Err(Err(error))
                    }
                }
            }
        }
    }
}
