//! [`Retrying`]: everything the attribute can say, built at run time.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::counters::clock::{Clock, StdClock, TokioClock};
use crate::engine::gates::{BreakerGate, BudgetGate, WindowGate};
use crate::engine::sleep::{pause, sleep_blocking, with_timeout};
use crate::engine::{Call, DEFAULT_ATTEMPTS, Failure, Limits, Matched, RetryAfter, Settings, Step};
use crate::observe::stats::{Recorder, Stats};
use crate::policy::Elapsed;
use crate::policy::RetryState;
use crate::policy::class::{Class, ClassSet, Classify};
use crate::policy::wait::{Exponential, Wait};
use crate::protect::{AdaptiveWindow, Breaker, CircuitOpen, RetryBudget};

/// What a builder policy tells: statistics (when named), a breaker, a
/// budget and an adaptive window, each when set; told in that order (the
/// breaker's gate before the budget's withdrawal). Set by name
/// ([`Observers::parts`]); the tuple is only the order they are told in.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Observers {
    told: (
        Option<Stats>,
        Option<BreakerGate>,
        Option<BudgetGate>,
        Option<WindowGate>,
    ),
}

/// The observers of a builder policy, by name.
struct Parts<'a> {
    stats: &'a mut Option<Stats>,
    breaker: &'a mut Option<BreakerGate>,
    budget: &'a mut Option<BudgetGate>,
    window: &'a mut Option<WindowGate>,
}

impl Observers {
    fn parts(&mut self) -> Parts<'_> {
        let (stats, breaker, budget, window) = &mut self.told;
        Parts {
            stats,
            breaker,
            budget,
            window,
        }
    }
}

crate::engine::forward! {
    [] Observers => (Option<Stats>, Option<BreakerGate>, Option<BudgetGate>, Option<WindowGate>),
        |me| Some(&me.told);
}

type Hook<E> = Arc<dyn Fn(&RetryState<'_, E>) + Send + Sync>;
type SharedWait = Arc<dyn Wait + Send + Sync>;
type Predicate<T> = Arc<dyn Fn(&T) -> bool + Send + Sync>;

/// `Classify`'s methods for the error type.
struct Classifier<E> {
    class: fn(&E) -> Class,
    retry_after: fn(&E) -> Option<Duration>,
    should_retry: fn(&E) -> Option<bool>,
}

impl<E: Classify> Classifier<E> {
    fn of() -> Self {
        Classifier {
            class: <E as Classify>::class,
            retry_after: <E as Classify>::retry_after,
            should_retry: <E as Classify>::should_retry,
        }
    }
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
    /// What the default `on` retries.
    Default,
    Classes(ClassSet),
    Predicate(Predicate<E>),
}

impl<E> Clone for Matcher<E> {
    fn clone(&self) -> Self {
        match self {
            Matcher::Any => Matcher::Any,
            Matcher::Default => Matcher::Default,
            Matcher::Classes(set) => Matcher::Classes(*set),
            Matcher::Predicate(p) => Matcher::Predicate(p.clone()),
        }
    }
}

impl<E> Matcher<E> {
    /// `transient`: whether the default rule is `Transient` (after
    /// `.classify()`) rather than `Any`.
    fn matches(&self, failure: &Failure<'_, E>, transient: bool) -> bool {
        match self {
            Matcher::Any => true,
            Matcher::Default => !transient || ClassSet::TRANSIENT.matches(failure.class),
            Matcher::Classes(set) => set.matches(failure.class),
            Matcher::Predicate(p) => failure.error.is_some_and(|e| p(e)),
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
    /// How a class rule learns the class.
    classifier: Option<Classifier<E>>,
    attempts: Option<u32>,
    wait: Option<SharedWait>,
}

impl<E> Clone for Rule<E> {
    fn clone(&self) -> Self {
        Rule {
            matcher: self.matcher.clone(),
            classifier: self.classifier,
            attempts: self.attempts,
            wait: self.wait.clone(),
        }
    }
}

impl<E> fmt::Debug for Rule<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let matcher = match &self.matcher {
            Matcher::Any => "Any".to_string(),
            Matcher::Default => "Default".to_string(),
            Matcher::Classes(set) => format!("{set:?}"),
            Matcher::Predicate(_) => "predicate".to_string(),
        };
        f.debug_struct("Rule")
            .field("matcher", &matcher)
            .field("attempts", &self.attempts)
            .field("wait", &self.wait.as_ref().map(|_| ".."))
            .finish()
    }
}

/// What the default `on` retries, as the attribute's `Default` class: end a
/// list of rules with it so that the failures they do not name are still
/// retried. `Transient` after [`.classify()`](Retrying::classify), `Any`
/// without.
///
/// ```
/// use std::time::Duration;
/// use retry_runtime::{ClassSet, Retrying, Rule, wait};
///
/// let policy = Retrying::<String, std::io::Error>::new()
///     .classify()
///     .on(Rule::class(ClassSet::RATE_LIMITED).attempts(3).wait(wait::fixed(Duration::from_secs(60))))
///     .on(Rule::default());
/// # let _ = policy;
/// ```
impl<E> Default for Rule<E> {
    fn default() -> Self {
        Rule::from_matcher(Matcher::Default)
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
        Rule {
            classifier: Some(Classifier::of()),
            ..Rule::from_matcher(Matcher::Classes(set))
        }
    }

    /// Failures for which `predicate` is true.
    pub fn when(predicate: impl Fn(&E) -> bool + Send + Sync + 'static) -> Self {
        Rule::from_matcher(Matcher::Predicate(Arc::new(predicate)))
    }

    fn from_matcher(matcher: Matcher<E>) -> Self {
        Rule {
            matcher,
            classifier: None,
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
/// | `on = [.., Default]` | [`.on(Rule::default())`](Rule::default) |
/// | `never = [Status(401)]` | [`.never(Rule::class(..))`](Retrying::never) |
/// | `when_ok = f` | [`.when_ok(f)`](Retrying::when_ok) |
/// | `retry_after = ignore` | [`.retry_after(RetryAfter::Ignore)`](Retrying::retry_after) |
/// | `before_sleep = f`, `on_giveup = f` | [`.before_sleep(f)`](Retrying::before_sleep), [`.on_giveup(f)`](Retrying::on_giveup) |
/// | `name = "x"` | [`.name("x")`](Retrying::name) |
/// | `budget = B` | [`.budget(&B)`](Retrying::budget) |
/// | `breaker = B` | [`.breaker(&B)`](Retrying::breaker) |
/// | `wait = adaptive(W, scale = 3, max = 120s, shared = H)` | [`.wait(wait::adaptive(W).scale(3.0).max(..))`](crate::wait::adaptive) and [`.window(&H)`](Retrying::window) |
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
    settings: Settings<Observers>,
    /// The error of a call an open breaker refuses (set with the breaker).
    circuit_open: Option<fn() -> E>,
    attempts: u32,
    wait: SharedWait,
    timeout: Option<fn() -> E>,
    rules: Vec<Rule<E>>,
    never: Vec<Matcher<E>>,
    /// How the class, the requested delay and the server's verdict are read.
    classifier: Option<Classifier<E>>,
    /// Whether the default rule is `Transient` (after `.classify()`) or `Any`.
    transient_by_default: bool,
    when_ok: Option<Predicate<T>>,
    before_sleep: Option<Hook<E>>,
    on_giveup: Option<Hook<E>>,
}

impl<T, E> Clone for Retrying<T, E> {
    fn clone(&self) -> Self {
        Retrying {
            settings: self.settings,
            circuit_open: self.circuit_open,
            attempts: self.attempts,
            wait: self.wait.clone(),
            timeout: self.timeout,
            rules: self.rules.clone(),
            never: self.never.clone(),
            classifier: self.classifier,
            transient_by_default: self.transient_by_default,
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
            .field("rules", &self.rules)
            .field("classify", &self.classifier.is_some())
            .field("transient_by_default", &self.transient_by_default)
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
    /// timeout, `retry_after = honor(max = 60s)`.
    ///
    /// **One difference:** the attribute sees at compile time whether the
    /// error type implements [`Classify`] and then retries only transient
    /// failures by default, obeying `Retry-After`. The builder cannot see it:
    /// without [`.classify()`](Retrying::classify) it retries every error and
    /// reads no requested delay, as the attribute does for a type without
    /// `Classify`. Call `.classify()` for the attribute's behaviour:
    ///
    /// ```
    /// use retry_runtime::Retrying;
    ///
    /// // What `#[retry]` does for an `std::io::Result` function:
    /// let policy = Retrying::<String, std::io::Error>::new().classify();
    /// # let _ = policy;
    /// ```
    pub fn new() -> Self {
        Retrying {
            settings: Settings::new("retrying").observe(Observers::default()),
            circuit_open: None,
            attempts: DEFAULT_ATTEMPTS,
            wait: Arc::new(Exponential::new()),
            timeout: None,
            rules: Vec::new(),
            never: Vec::new(),
            classifier: None,
            transient_by_default: false,
            when_ok: None,
            before_sleep: None,
            on_giveup: None,
        }
    }

    /// The name in logs, hooks and [statistics](crate::stats): a named
    /// policy records its calls under `name` (policies that share a name
    /// share the entry). Without a name (`"retrying"` in logs) nothing is
    /// recorded. Naming looks the entry up under a lock: build a policy once
    /// and keep it, rather than once per call.
    pub fn name(mut self, name: &'static str) -> Self {
        self.settings.name = name;
        *self.settings.observer.parts().stats = Some(Stats(Recorder::named(name)));
        self
    }

    /// Shares a retry budget (`budget = PATH`): each call deposits, each
    /// retry withdraws, and an empty budget makes the call give up at once.
    pub fn budget(mut self, budget: &'static impl RetryBudget) -> Self {
        *self.settings.observer.parts().budget = Some(BudgetGate(budget));
        self
    }

    /// Shares a circuit breaker (`breaker = PATH`): while it is open no
    /// attempt is made, and a call refused before its first attempt returns
    /// `E::from(CircuitOpen)`.
    pub fn breaker(mut self, breaker: &'static impl Breaker) -> Self
    where
        E: From<CircuitOpen>,
    {
        *self.settings.observer.parts().breaker = Some(BreakerGate(breaker));
        self.circuit_open = Some(|| E::from(CircuitOpen));
        self
    }

    /// The window of recent attempts that an [`adaptive`](crate::wait::adaptive)
    /// wait reads: every attempt of this policy is recorded in it (declare
    /// it as a `static`; policies and functions may share one).
    pub fn window(mut self, window: &'static AdaptiveWindow) -> Self {
        *self.settings.observer.parts().window = Some(WindowGate(window));
        self
    }

    /// Total attempts, the first included (`0` is taken as `1`).
    pub fn attempts(mut self, attempts: u32) -> Self {
        self.attempts = attempts.max(1);
        self
    }

    /// A time budget from the first attempt's start (from the call's start
    /// when a fleet's cool-down holds it first): no attempt starts at or
    /// after it.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.settings.deadline = Some(deadline);
        self
    }

    /// A limit per attempt ([`call`](Retrying::call), batches, and streams
    /// as a limit on opening and between items; not
    /// [`call_blocking`](Retrying::call_blocking)): the attempt is dropped
    /// and fails as a `Timeout`, with the error built from [`Elapsed`].
    /// With a deadline, an attempt's limit is the smaller of the two.
    pub fn timeout(mut self, limit: Duration) -> Self
    where
        E: From<Elapsed>,
    {
        self.timeout = Some(|| E::from(Elapsed::new()));
        self.settings.timeout = Some(limit);
        self
    }

    /// The delay between attempts.
    pub fn wait(mut self, wait: impl Wait + Send + Sync + 'static) -> Self {
        self.wait = Arc::new(wait);
        self
    }

    /// Uses `E`'s [`Classify`] as the attribute does: the default rule
    /// becomes `Transient`, the server's requested delay and verdict are
    /// read, and hooks see the class.
    pub fn classify(mut self) -> Self
    where
        E: Classify,
    {
        self.classifier = Some(Classifier::of());
        self.transient_by_default = true;
        self
    }

    /// Adds a rule to `on`; the first that matches decides. The rules
    /// **replace** the default: end them with [`Rule::default()`] to keep
    /// retrying what the default retries. A class rule reads the error's
    /// class (and the server's requested delay and verdict) even without
    /// [`.classify()`](Retrying::classify).
    pub fn on(mut self, rule: Rule<E>) -> Self {
        self.learn_classes(&rule);
        self.rules.push(rule);
        self
    }

    /// Never retries failures that `rule` matches (its overrides are ignored);
    /// wins over `on`.
    pub fn never(mut self, rule: Rule<E>) -> Self {
        self.learn_classes(&rule);
        self.never.push(rule.matcher);
        self
    }

    fn learn_classes(&mut self, rule: &Rule<E>) {
        if self.classifier.is_none() {
            self.classifier = rule.classifier;
        }
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
    pub async fn call<F, Fut>(&self, attempt: F) -> Result<T, E>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.call_counted(attempt).await.result
    }

    /// [`call`](Retrying::call), with the running [`Attempt`](crate::engine::Attempt)
    /// given to each attempt: its number (for `x-stainless-retry-count`, for
    /// logs) and a key every attempt of the call shares (for
    /// `Idempotency-Key`).
    ///
    /// ```
    /// use retry_runtime::{Retrying, wait};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let policy = Retrying::<u32, std::io::Error>::new().attempts(3).wait(wait::none());
    /// let mut keys = Vec::new();
    /// let n = policy
    ///     .call_with(|attempt| {
    ///         keys.push(attempt.idempotency_key());
    ///         let n = attempt.number();
    ///         async move {
    ///             if n < 2 { Err(std::io::ErrorKind::ConnectionReset.into()) } else { Ok(n) }
    ///         }
    ///     })
    ///     .await
    ///     .unwrap();
    /// assert_eq!((n, keys.len()), (2, 2));
    /// assert_eq!(keys[0], keys[1]);
    /// # }
    /// ```
    pub async fn call_with<F, Fut>(&self, mut attempt: F) -> Result<T, E>
    where
        F: FnMut(crate::engine::Attempt) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let first = crate::engine::Attempt::first();
        let mut number = 0;
        self.call(|| {
            number += 1;
            attempt(first.numbered(number))
        })
        .await
    }

    /// [`call_blocking`](Retrying::call_blocking) with the running
    /// [`Attempt`](crate::engine::Attempt) given to each attempt (see
    /// [`call_with`](Retrying::call_with)).
    pub fn call_blocking_with<F>(&self, mut attempt: F) -> Result<T, E>
    where
        F: FnMut(crate::engine::Attempt) -> Result<T, E>,
    {
        let first = crate::engine::Attempt::first();
        let mut number = 0;
        self.call_blocking(|| {
            number += 1;
            attempt(first.numbered(number))
        })
    }

    /// [`call`](Retrying::call), and how it went.
    pub(crate) async fn call_counted<F, Fut>(&self, mut attempt: F) -> Counted<T, E>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        // The engine's steps (see `Step`): the fleet's hold, the gates and
        // the pauses are its to order.
        let (mut call, mut step) =
            Call::<TokioClock, _>::start(&self.settings, self.timeout.is_some());
        let mut last = None;
        let mut attempts = 0;
        loop {
            let (outcome, timed_out) = match step {
                Step::Sleep(delay) => {
                    pause(delay).await;
                    step = call.resume();
                    continue;
                }
                // A breaker refused this attempt (or the deadline cannot
                // be met): give up with the last outcome.
                Step::Refused => (self.refused_outcome(&call, &mut last), false),
                Step::Attempt => {
                    attempts += 1;
                    match self.timeout {
                        Some(expired) => {
                            let limit = call.attempt_limit();
                            with_timeout(limit, attempt(), || Err(expired())).await
                        }
                        None => (attempt().await, false),
                    }
                }
            };
            match self.decide(&mut call, outcome, timed_out) {
                Ok((delay, outcome)) => {
                    last = Some(outcome);
                    step = Step::Sleep(delay);
                }
                Err(result) => {
                    // The engine counts every attempt as failed but one that
                    // succeeded: an `Ok` after as many failures as attempts
                    // is one `when_ok` rejected (asked once, by the engine).
                    let rejected = result.is_ok() && call.failures() == attempts;
                    return Counted {
                        result,
                        attempts,
                        rejected,
                    };
                }
            }
        }
    }

    /// What a refused call returns: its last outcome, or (before any
    /// attempt) `E::from(Elapsed)` when its deadline could not be met and
    /// `E::from(CircuitOpen)` when the breaker refused it.
    fn refused_outcome<C: Clock>(
        &self,
        call: &Call<'_, C, Observers>,
        last: &mut Option<Result<T, E>>,
    ) -> Result<T, E> {
        let error = if call.refused_by_deadline() {
            self.timeout
        } else {
            self.circuit_open
        };
        match (last.take(), error) {
            (Some(outcome), _) => outcome,
            (None, Some(error)) => Err(error()),
            // Only a breaker refuses a first attempt, and it comes with the
            // conversion; the deadline only with a timeout's.
            (None, None) => unreachable!("a refusal without its error"),
        }
    }

    /// Runs `attempt` until it succeeds or the policy gives up, sleeping with
    /// `std::thread::sleep`. A `timeout` does not apply here.
    pub fn call_blocking<F>(&self, mut attempt: F) -> Result<T, E>
    where
        F: FnMut() -> Result<T, E>,
    {
        // A blocking call has no timeout: it cannot end for its deadline,
        // so a hold as long as the deadline is not waited out.
        let (mut call, mut step) = Call::<StdClock, _>::start(&self.settings, false);
        let mut last = None;
        loop {
            let outcome = match step {
                Step::Sleep(delay) => {
                    sleep_blocking(delay);
                    step = call.resume();
                    continue;
                }
                Step::Refused => self.refused_outcome(&call, &mut last),
                Step::Attempt => attempt(),
            };
            match self.decide(&mut call, outcome, false) {
                Ok((delay, outcome)) => {
                    last = Some(outcome);
                    step = Step::Sleep(delay);
                }
                Err(done) => return done,
            }
        }
    }

    /// One outcome: `Ok((delay, outcome))` to retry (the outcome is kept
    /// in case a breaker refuses the retry), `Err(result)` to return it. The
    /// decision itself is the engine's ([`Call::failed`]), as for the attribute.
    #[allow(clippy::type_complexity)]
    fn decide<C: Clock>(
        &self,
        call: &mut Call<'_, C, Observers>,
        outcome: Result<T, E>,
        timed_out: bool,
    ) -> Result<(Duration, Result<T, E>), Result<T, E>> {
        let failure = match &outcome {
            Ok(value) => {
                // A refused attempt did not run: its outcome is the last
                // one, which `when_ok` rejected already.
                if !call.refused() && !self.when_ok.as_ref().is_some_and(|reject| reject(value)) {
                    call.succeeded();
                    return Err(outcome);
                }
                Failure::rejected()
            }
            Err(error) => self.failure_of(error, timed_out),
        };
        match self.judge(call, failure) {
            Some(delay) => Ok((delay, outcome)),
            None => Err(outcome),
        }
    }

    /// An error as the engine sees it, read by the classifier if any.
    pub(crate) fn failure_of<'e>(&self, error: &'e E, timed_out: bool) -> Failure<'e, E> {
        match self.classifier {
            Some(c) => Failure::error(
                error,
                Some((c.class)(error)),
                (c.retry_after)(error),
                (c.should_retry)(error),
                timed_out,
            ),
            None => Failure::error(error, None, None, None, timed_out),
        }
    }

    /// The class of an error, when the policy classifies.
    #[cfg(feature = "batch")]
    pub(crate) fn class_of(&self, error: &E) -> Option<crate::policy::Class> {
        self.classifier.map(|c| (c.class)(error))
    }

    /// The engine's decision on a failure: the delay before the next
    /// attempt, or `None` to give up.
    pub(crate) fn judge<C: Clock>(
        &self,
        call: &mut Call<'_, C, Observers>,
        failure: Failure<'_, E>,
    ) -> Option<Duration> {
        let top = Limits {
            attempts: self.attempts,
            wait: &*self.wait,
            wait_id: 0,
        };
        let transient = self.transient_by_default;
        let rules = || {
            if self.rules.is_empty() {
                return Matcher::Default
                    .matches(&failure, transient)
                    .then_some(Matched::Top);
            }
            let (index, rule) = (1..)
                .zip(&self.rules)
                .find(|(_, rule)| rule.matcher.matches(&failure, transient))?;
            let attempts = rule.attempts.unwrap_or(self.attempts);
            Some(match rule.wait.as_deref() {
                Some(wait) => Matched::Own(Limits::own(attempts, wait, index)),
                None => Matched::TopAttempts(attempts),
            })
        };
        call.failed(
            failure,
            || self.never.iter().any(|m| m.matches(&failure, transient)),
            rules,
            top,
            |state| run(&self.before_sleep, state),
            |state| run(&self.on_giveup, state),
        )
    }

    /// What a stream reads of the policy, by name.
    #[cfg(feature = "stream")]
    pub(crate) fn for_stream(&self) -> ForStream<'_, E> {
        ForStream {
            settings: &self.settings,
            limit: self.timeout.and(self.settings.timeout),
            expired: self.timeout,
            circuit_open: self.circuit_open,
        }
    }
}

/// What a stream reads of a [`Retrying`] policy.
#[cfg(feature = "stream")]
pub(crate) struct ForStream<'p, E> {
    /// The engine's settings.
    pub(crate) settings: &'p Settings<Observers>,
    /// The per-attempt limit (with `timeout_error` set).
    pub(crate) limit: Option<Duration>,
    /// The error of an attempt that ran out of time (or of a call whose
    /// deadline a fleet's hold would outlast).
    pub(crate) expired: Option<fn() -> E>,
    /// The error of a first attempt a breaker refused.
    pub(crate) circuit_open: Option<fn() -> E>,
}

/// What [`Retrying::call_counted`] returns.
// Batches read all of it; `call`, only the result.
#[cfg_attr(not(feature = "batch"), allow(dead_code))]
pub(crate) struct Counted<T, E> {
    /// What the call returns.
    pub(crate) result: Result<T, E>,
    /// The attempts it made (0 when a circuit breaker refused the first).
    pub(crate) attempts: u32,
    /// Whether `result` is an `Ok` that `when_ok` rejected until the
    /// policy gave up.
    pub(crate) rejected: bool,
}

fn run<E>(hook: &Option<Hook<E>>, state: &RetryState<'_, E>) {
    if let Some(hook) = hook {
        hook(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::wait::fixed;

    #[test]
    fn debug_shows_the_policy() {
        let policy: Retrying<u32, std::io::Error> = Retrying::new()
            .name("p")
            .attempts(4)
            .classify()
            .on(Rule::class(ClassSet::CONNECT)
                .attempts(2)
                .wait(fixed(Duration::from_secs(1))))
            .on(Rule::any())
            .on(Rule::default())
            .on(Rule::when(|_| true));
        let text = format!("{policy:?}");
        for needle in [
            "\"p\"",
            "attempts: 4",
            "Any",
            "Default",
            "predicate",
            "Some(2)",
            "classify: true",
        ] {
            assert!(text.contains(needle), "{needle} in {text}");
        }
    }

    #[test]
    fn clones_behave_alike() {
        let calls = std::sync::atomic::AtomicU32::new(0);
        let policy: Retrying<u32, std::io::Error> = Retrying::new()
            .attempts(3)
            .wait(crate::policy::wait::none())
            .when_ok(|v| *v == 0)
            .on(
                Rule::when(|e: &std::io::Error| e.kind() == std::io::ErrorKind::NotFound)
                    .attempts(2),
            )
            .before_sleep(|_| {})
            .on_giveup(|_| {});
        let copy = policy.clone();
        let rule = Rule::<std::io::Error>::any().attempts(5);
        assert_eq!(format!("{:?}", rule.clone()), format!("{rule:?}"));
        for p in [&policy, &copy] {
            calls.store(0, std::sync::atomic::Ordering::SeqCst);
            let out = p.call_blocking(|| {
                calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Err(std::io::ErrorKind::NotFound.into())
            });
            assert!(out.is_err());
            assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 2);
            assert_eq!(
                p.call_blocking(|| Ok(0)).unwrap(),
                0,
                "the last Ok on giving up"
            );
        }
    }
}
