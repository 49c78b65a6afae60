//! `policy = NAME`: one declaration for a function and its stream. The
//! attribute also emits `NAME()`, the same policy as a `&'static Retrying`:
//! same attempts, waits, rules, `never`, `Retry-After`, hooks, budget,
//! breaker, and the same name, so the same statistics.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use retry_runtime::stream::{Resume, Streamed};
use retry_runtime::{Budget, CircuitBreaker, RetryState, retry, stats};
use tests::{ApiError, Script, secs};
use tokio::time::Instant;

static SLEPT: Mutex<Vec<u32>> = Mutex::new(Vec::new());

fn note(state: &RetryState<'_, ApiError>) {
    SLEPT.lock().unwrap().push(state.attempt);
}

/// The completion and its stream share one declaration.
#[retry(
    attempts = 3,
    wait = fixed(2),
    on = [Connect, Status(500..=504) => (attempts = 2)],
    never = [Status(501)],
    name = "policy.complete",
    policy = complete_policy,
)]
async fn complete(script: &Script<String>) -> Result<String, ApiError> {
    script.next()
}

/// A source of tokens that breaks with `error` after `break_at` items, the
/// first `breaks` times it is opened.
fn tokens(
    opened: &AtomicU32,
    breaks: u32,
    error: ApiError,
) -> impl futures_util::Stream<Item = Result<Streamed<u32>, ApiError>> + '_ {
    complete_policy().stream(Resume::Skip, move |_| {
        let n = opened.fetch_add(1, Ordering::SeqCst) + 1;
        let mut items: Vec<Result<u32, ApiError>> = vec![Ok(1), Ok(2)];
        if n <= breaks {
            items.push(Err(error.clone()));
        } else {
            items.push(Ok(3));
        }
        std::future::ready(Ok(futures_util::stream::iter(items)))
    })
}

async fn collect(
    stream: impl futures_util::Stream<Item = Result<Streamed<u32>, ApiError>>,
) -> (Vec<u32>, Option<ApiError>) {
    let mut got = Vec::new();
    let mut error = None;
    let mut stream = std::pin::pin!(stream);
    while let Some(item) = stream.next().await {
        match item {
            Ok(Streamed::Item(n)) => got.push(n),
            Ok(other) => panic!("{other:?}"),
            Err(e) => error = Some(e),
        }
    }
    (got, error)
}

#[tokio::test(start_paused = true)]
async fn the_stream_follows_the_functions_declaration() {
    // The function: a connection error twice, then an answer, 2 s apart.
    let script = Script::new([
        Err(ApiError::connect()),
        Err(ApiError::connect()),
        Ok("done".to_string()),
    ]);
    let start = Instant::now();
    assert_eq!(complete(&script).await, Ok("done".to_string()));
    assert_eq!((script.calls(), start.elapsed()), (3, secs(4.0)));

    // Its stream: a connection that breaks twice is reopened twice, after
    // the same fixed 2 s, and delivers every item once.
    let opened = AtomicU32::new(0);
    let start = Instant::now();
    let (got, error) = collect(tokens(&opened, 2, ApiError::connect())).await;
    assert_eq!((got, error), (vec![1, 2, 3], None));
    assert_eq!(opened.load(Ordering::SeqCst), 3);
    assert_eq!(start.elapsed(), secs(4.0));

    // Three breaks: the third open is the last of `attempts = 3`.
    let opened = AtomicU32::new(0);
    let (_, error) = collect(tokens(&opened, 3, ApiError::connect())).await;
    assert_eq!(error, Some(ApiError::connect()));
    assert_eq!(opened.load(Ordering::SeqCst), 3);

    // The rule's own attempts: a 503 is tried twice.
    let opened = AtomicU32::new(0);
    let (_, error) = collect(tokens(&opened, 5, ApiError::status(503))).await;
    assert_eq!(error, Some(ApiError::status(503)));
    assert_eq!(opened.load(Ordering::SeqCst), 2);

    // `never` and the rules: a 501 and a 400 are not retried.
    for status in [501, 400] {
        let opened = AtomicU32::new(0);
        let (_, error) = collect(tokens(&opened, 5, ApiError::status(status))).await;
        assert_eq!(error, Some(ApiError::status(status)));
        assert_eq!(opened.load(Ordering::SeqCst), 1, "{status}");
    }
}

/// The hook and the name of a function reach its policy.
#[retry(attempts = 2, wait = none, before_sleep = note, name = "policy.hooked", policy = hooked_policy)]
async fn hooked(script: &Script<String>) -> Result<String, ApiError> {
    script.next()
}

#[tokio::test(start_paused = true)]
async fn the_policy_shares_the_functions_name_hooks_and_statistics() {
    let script = Script::new([Err(ApiError::connect()), Ok("a".to_string())]);
    hooked(&script).await.unwrap();
    // The policy by itself, for a closure: the same hook, the same entry.
    let script = Script::new([Err(ApiError::status(502)), Ok("b".to_string())]);
    let answer = hooked_policy().call(|| async { script.next() }).await;
    assert_eq!(answer, Ok("b".to_string()));
    assert_eq!(*SLEPT.lock().unwrap(), [1, 1]);
    assert!(std::ptr::eq(hooked_policy(), hooked_policy()), "built once");
    let s = stats::get("policy.hooked").unwrap();
    assert_eq!((s.calls, s.retries), (2, 2));
}

/// Without `on`, a `Classify` error type retries `Transient` failures, as
/// the attribute does; a type without `Classify` retries every error.
#[retry(attempts = 2, wait = none, policy = classified_policy)]
async fn classified() -> Result<(), ApiError> {
    Ok(())
}

#[retry(attempts = 2, wait = none, policy = unclassified_policy)]
fn unclassified() -> Result<(), String> {
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn the_default_rules_are_the_attributes() {
    for (error, calls) in [
        (ApiError::status(503), 2),
        (ApiError::status(404), 1),
        (ApiError::status(429).after(Duration::from_secs(3)), 2),
    ] {
        let script: Script<()> = Script::new([Err(error.clone())]);
        let start = Instant::now();
        let _ = classified_policy().call(|| async { script.next() }).await;
        assert_eq!(script.calls(), calls, "{error:?}");
        if error.retry_after.is_some() {
            assert_eq!(start.elapsed(), secs(3.0), "Retry-After is read");
        }
    }
    let calls = AtomicU32::new(0);
    let _ = unclassified_policy().call_blocking(|| {
        calls.fetch_add(1, Ordering::SeqCst);
        Err::<(), _>("any".to_string())
    });
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

/// Budget, breaker, an adaptive wait and a predicate rule reach the policy;
/// on a method, the policy is an associated function.
static SHARED_BUDGET: Budget = Budget::new(0.1, 100);
static SHARED_BREAKER: CircuitBreaker = CircuitBreaker::new().min_attempts(6).failure_ratio(0.5);
static EMPTY_BUDGET: Budget = Budget::new(0.0, 0);

struct Client;

impl Client {
    #[retry(
        attempts = 4,
        wait = adaptive(fixed(1)),
        on = [|e: &ApiError| e.class == retry_runtime::Class::Status(418)],
        budget = SHARED_BUDGET,
        breaker = SHARED_BREAKER,
        policy = ask_policy,
    )]
    async fn ask(&self) -> Result<u32, ApiError> {
        Ok(1)
    }

    #[retry(attempts = 4, wait = none, budget = EMPTY_BUDGET, policy = frugal_policy)]
    async fn frugal(&self) -> Result<u32, ApiError> {
        Ok(2)
    }
}

async fn failing(
    policy: &retry_runtime::Retrying<u32, ApiError>,
    status: u16,
) -> (Result<u32, ApiError>, u32) {
    let calls = AtomicU32::new(0);
    let outcome = policy
        .call(|| async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<u32, _>(ApiError::status(status))
        })
        .await;
    (outcome, calls.load(Ordering::SeqCst))
}

#[tokio::test(start_paused = true)]
async fn budgets_breakers_adaptive_waits_and_predicates_reach_the_policy() {
    assert_eq!(Client.ask().await, Ok(1));
    assert_eq!(Client.frugal().await, Ok(2));
    // A 503 is not in the predicate's rule: not retried.
    assert_eq!(failing(Client::ask_policy(), 503).await.1, 1);
    // A teapot is, to `attempts = 4`, with the adaptive wait: 1 s times
    // 1 + 3 × the policy's own window's failure ratio.
    let start = Instant::now();
    let (outcome, calls) = failing(Client::ask_policy(), 418).await;
    assert_eq!((outcome, calls), (Err(ApiError::status(418)), 4));
    // The policy's window holds the 503 (no failure to it: not retried)
    // and the teapots: ratios 1/2, 2/3, 3/4 give 2.5 s, 3 s and 3.25 s.
    assert_eq!(start.elapsed(), secs(8.75));
    // The breaker heard the five failures: open, the next call is refused
    // before its first attempt (`E::from(CircuitOpen)`: a 599 here).
    let (outcome, calls) = failing(Client::ask_policy(), 418).await;
    assert_eq!((outcome, calls), (Err(ApiError::status(599)), 0));
    // An empty budget (no ratio, no reserve): no retry.
    assert_eq!(failing(Client::frugal_policy(), 503).await.1, 1);
}

/// A `'static` borrow in the return type is nameable: the policy is built.
#[retry(attempts = 2, wait = none, policy = label_policy)]
fn label() -> Result<&'static str, ApiError> {
    Ok("label")
}

#[test]
fn a_static_borrow_in_the_return_type_is_fine() {
    assert_eq!(label(), Ok("label"));
    let calls = AtomicU32::new(0);
    let outcome = label_policy().call_blocking(|| {
        calls.fetch_add(1, Ordering::SeqCst);
        Err::<&'static str, _>(ApiError::status(503))
    });
    assert_eq!(outcome, Err(ApiError::status(503)));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

/// A type classified only through a cargo feature (`anyhow::Error`) keeps
/// `[Any]` by default, in the policy as in the attribute.
#[retry(attempts = 3, wait = none, policy = anyhow_policy)]
fn with_anyhow() -> anyhow::Result<u32> {
    Ok(3)
}

/// A function type in the return type borrows only in its own signature.
#[retry(attempts = 2, wait = none, policy = parser_policy)]
fn parser() -> Result<fn(&str) -> usize, ApiError> {
    Ok(str::len)
}

#[test]
fn a_type_classified_through_a_feature_and_function_types_work_too() {
    assert_eq!(with_anyhow().unwrap(), 3);
    let calls = AtomicU32::new(0);
    let _ = anyhow_policy().call_blocking(|| {
        calls.fetch_add(1, Ordering::SeqCst);
        // A 404 would not be retried by `Transient`; `Any` retries it.
        Err::<u32, _>(anyhow::Error::new(std::io::Error::from(
            std::io::ErrorKind::NotFound,
        )))
    });
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(parser().unwrap()("four"), 4);
    assert!(parser_policy().call_blocking(|| parser()).is_ok());
}

/// `crate = PATH` reaches the policy too: the attribute and the policy are
/// built through the re-export. (This package also depends on the runtime
/// under its own name, so a path hard-coded as `::retry_runtime` would still
/// resolve here: `expand::tests::every_emitted_path_goes_through_the_crate_key`
/// in the macro's crate checks that none is.)
mod through_a_reexport {
    mod deep {
        pub use retry_runtime as rt;
    }
    use tests::{ApiError, Script};

    #[deep::rt::retry(crate = deep::rt, attempts = 3, wait = none, on = [Connect], policy = renamed_policy)]
    pub fn renamed(script: &Script<u32>) -> Result<u32, ApiError> {
        script.next()
    }

    #[test]
    fn the_policy_is_built_through_the_crate_path() {
        let script = Script::new([Err(ApiError::connect()), Ok(7)]);
        assert_eq!(renamed(&script), Ok(7));
        // The policy: the same attempts and rules, for a closure.
        let script = Script::new([Err(ApiError::connect()), Err(ApiError::connect()), Ok(8)]);
        let policy: &'static deep::rt::Retrying<u32, ApiError> = renamed_policy();
        assert_eq!(policy.call_blocking(|| script.next()), Ok(8));
        // `on = [Connect]`: a 400 is not retried.
        let script = Script::new([Err(ApiError::status(400)), Ok(9)]);
        assert_eq!(
            policy.call_blocking(|| script.next()),
            Err(ApiError::status(400))
        );
        // Three attempts, then the last error.
        let script = Script::new([
            Err(ApiError::connect()),
            Err(ApiError::connect()),
            Err(ApiError::connect()),
            Ok(10),
        ]);
        assert_eq!(renamed(&script), Err(ApiError::connect()));
    }
}
