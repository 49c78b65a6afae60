//! `fallback = PATH`: when a call gives up with an error, the named function
//! is called once with the same arguments, and its result is returned.

use std::sync::atomic::{AtomicU32, Ordering};

use retry_runtime::{CircuitBreaker, retry, stats};
use tests::{ApiError, Script};

static LOCAL_CALLS: AtomicU32 = AtomicU32::new(0);

/// The last model of the chain: a local one that always answers.
async fn local_model(prompt: String, script: &Script<String>) -> Result<String, ApiError> {
    let _ = script;
    LOCAL_CALLS.fetch_add(1, Ordering::SeqCst);
    Ok(format!("local: {prompt}"))
}

/// The second model: itself annotated, falling back to the local one.
#[retry(attempts = 2, wait = none, fallback = local_model, name = "fb.claude")]
async fn claude(prompt: String, script: &Script<String>) -> Result<String, ApiError> {
    let _ = &prompt;
    script.next()
}

/// The first model, falling back to the second.
#[retry(attempts = 3, wait = none, fallback = claude, name = "fb.gpt")]
async fn gpt(prompt: String, script: &Script<String>) -> Result<String, ApiError> {
    let _ = &prompt;
    script.next()
}

#[tokio::test(start_paused = true)]
async fn a_chain_of_models_ends_at_the_first_that_answers() {
    // gpt fails 3 times, claude twice: the local model answers, with the
    // same prompt.
    let script = Script::new((0..5).map(|_| Err(ApiError::status(503))));
    let before = LOCAL_CALLS.load(Ordering::SeqCst);
    let answer = gpt("hello".to_string(), &script).await;
    assert_eq!(answer, Ok("local: hello".to_string()));
    assert_eq!(script.calls(), 3 + 2);
    assert_eq!(LOCAL_CALLS.load(Ordering::SeqCst) - before, 1);
    let (gpt, claude) = (
        stats::get("fb.gpt").unwrap(),
        stats::get("fb.claude").unwrap(),
    );
    assert_eq!((gpt.fallbacks, gpt.failures), (1, 1));
    assert_eq!((claude.fallbacks, claude.failures), (1, 1));

    // gpt fails once, then answers: no fallback.
    let script = Script::new([Err(ApiError::status(503)), Ok("gpt".to_string())]);
    assert_eq!(gpt_call(&script).await, Ok("gpt".to_string()));
    // gpt gives up; claude answers at its first attempt.
    let script = Script::new([
        Err(ApiError::status(503)),
        Err(ApiError::status(503)),
        Err(ApiError::status(503)),
        Ok("claude".to_string()),
    ]);
    assert_eq!(gpt_call(&script).await, Ok("claude".to_string()));
    assert_eq!(stats::get("fb.gpt").unwrap().fallbacks, 2);
    assert_eq!(stats::get("fb.claude").unwrap().fallbacks, 1);
}

async fn gpt_call(script: &Script<String>) -> Result<String, ApiError> {
    gpt("hi".to_string(), script).await
}

/// An error the rules do not retry gives up at once: the fallback too.
#[retry(attempts = 3, fallback = always_fails_too)]
fn not_retried(n: u32, seen: &mut Vec<u32>) -> Result<u32, ApiError> {
    seen.push(n);
    Err(ApiError::status(400))
}

fn always_fails_too(n: u32, seen: &mut Vec<u32>) -> Result<u32, ApiError> {
    seen.push(n + 100);
    Err(ApiError::other())
}

#[test]
fn a_plain_fn_falls_back_once_and_returns_the_fallbacks_error() {
    let mut seen = Vec::new();
    assert_eq!(not_retried(7, &mut seen), Err(ApiError::other()));
    assert_eq!(
        seen,
        [7, 107],
        "one attempt, then the fallback with the same arguments"
    );
}

struct Client {
    calls: AtomicU32,
}

impl Client {
    #[retry(attempts = 2, wait = none, fallback = Self::cheaper)]
    async fn complete(&self, _: u32, text: &str) -> Result<String, ApiError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let _ = text;
        Err(ApiError::timeout())
    }

    async fn cheaper(&self, n: u32, text: &str) -> Result<String, ApiError> {
        Ok(format!("cheaper {n} {text}"))
    }

    #[retry(attempts = 2, wait = none, fallback = Self::reset_and_answer)]
    fn mutate(&mut self, _: &mut u32) -> Result<u32, ApiError> {
        Err(ApiError::connect())
    }

    fn reset_and_answer(&mut self, counter: &mut u32) -> Result<u32, ApiError> {
        *counter += 1;
        self.calls.store(0, Ordering::SeqCst);
        Ok(*counter)
    }
}

#[tokio::test(start_paused = true)]
async fn methods_fall_back_to_methods_with_every_argument_even_unnamed_ones() {
    let mut client = Client {
        calls: AtomicU32::new(0),
    };
    assert_eq!(client.complete(3, "x").await, Ok("cheaper 3 x".to_string()));
    assert_eq!(client.calls.load(Ordering::SeqCst), 2);
    let mut counter = 41;
    assert_eq!(client.mutate(&mut counter), Ok(42));
    assert_eq!(client.calls.load(Ordering::SeqCst), 0);
}

/// A success is returned as it is; a rejected `Ok` that gives up is not an
/// error, so no fallback.
#[retry(attempts = 2, wait = none, when_ok = |n: &u32| *n == 0, fallback = never_called)]
fn rejected(s: &Script<u32>) -> Result<u32, ApiError> {
    s.next()
}

fn never_called(_: &Script<u32>) -> Result<u32, ApiError> {
    panic!("not for a success, nor for a rejected Ok")
}

#[test]
fn no_fallback_for_a_success_or_a_rejected_ok() {
    assert_eq!(rejected(&Script::new([Ok(5)])), Ok(5));
    assert_eq!(rejected(&Script::new([Ok(0), Ok(0)])), Ok(0));
}

static DOWN: retry_runtime::CircuitBreaker = retry_runtime::CircuitBreaker::new()
    .min_attempts(2)
    .failure_ratio(0.5);

/// An outage of the first provider: once its breaker is open, calls go
/// straight to the other one without an attempt.
#[retry(attempts = 2, wait = none, breaker = DOWN, fallback = other_provider, name = "fb.down")]
async fn first_provider(calls: &AtomicU32) -> std::io::Result<&'static str> {
    calls.fetch_add(1, Ordering::SeqCst);
    Err(std::io::ErrorKind::ConnectionReset.into())
}

async fn other_provider(_: &AtomicU32) -> std::io::Result<&'static str> {
    Ok("other")
}

#[tokio::test(start_paused = true)]
async fn an_open_breaker_sends_calls_to_the_fallback_at_once() {
    let calls = AtomicU32::new(0);
    assert_eq!(first_provider(&calls).await.unwrap(), "other");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "two failures open the breaker"
    );
    assert_eq!(first_provider(&calls).await.unwrap(), "other");
    assert_eq!(calls.load(Ordering::SeqCst), 2, "refused: no attempt");
    assert_eq!(stats::get("fb.down").unwrap().fallbacks, 2);
}

/// An error type that is not `Send`: dropped before the fallback runs, so
/// the function's future stays `Send`.
#[retry(attempts = 2, wait = none, fallback = boxed_fallback)]
async fn boxed_errors(n: u32) -> Result<u32, Box<dyn std::error::Error>> {
    Err(format!("no {n}").into())
}

async fn boxed_fallback(n: u32) -> Result<u32, Box<dyn std::error::Error>> {
    tokio::task::yield_now().await;
    Ok(n)
}

fn assert_send<T: Send>(t: T) -> T {
    t
}

#[tokio::test]
async fn a_future_with_a_non_send_error_stays_send() {
    assert_eq!(assert_send(boxed_errors(4)).await.unwrap(), 4);
}

/// A body with `?` and a timeout (the attempt is its own future).
#[retry(attempts = 2, wait = none, timeout = 1s, fallback = parsed_fallback)]
async fn parsed(text: String) -> Result<u32, std::io::Error> {
    let n: u32 = text
        .parse()
        .map_err(|_| std::io::Error::other("not a number"))?;
    Ok(n)
}

async fn parsed_fallback(text: String) -> Result<u32, std::io::Error> {
    Ok(u32::try_from(text.len()).unwrap_or(u32::MAX))
}

#[tokio::test(start_paused = true)]
async fn a_body_with_question_marks_and_a_timeout_falls_back_too() {
    assert_eq!(parsed("12".into()).await.unwrap(), 12);
    assert_eq!(parsed("twelve".into()).await.unwrap(), 6);
}

// `fallback_on`: only the listed classes go to the fallback.

fn other_model(_: &Script<String>) -> Result<String, ApiError> {
    Ok("other model".to_string())
}

#[retry(
    attempts = 2,
    wait = none,
    on = [Transient],
    fallback = other_model,
    fallback_on = [RateLimited, Status(529), Quota],
    name = "fb.listed"
)]
fn listed(script: &Script<String>) -> Result<String, ApiError> {
    script.next()
}

#[test]
fn fallback_on_hands_on_only_the_listed_classes() {
    let quota = ApiError {
        class: retry_runtime::Class::Quota,
        ..ApiError::other()
    };
    // Quota: not retried, handed on at once.
    let script = Script::new([Err(quota)]);
    assert_eq!(listed(&script), Ok("other model".to_string()));
    assert_eq!(script.calls(), 1);
    // Rate limited twice: retried, then handed on.
    let script = Script::new([Err(ApiError::status(429)), Err(ApiError::status(429))]);
    assert_eq!(listed(&script), Ok("other model".to_string()));
    assert_eq!(script.calls(), 2);
    // A 503, then overloaded (529): the last error decides.
    let script = Script::new([Err(ApiError::status(503)), Err(ApiError::status(529))]);
    assert_eq!(listed(&script), Ok("other model".to_string()));
    // A 400, a 503 to the end, a connection that breaks: returned as they are.
    let script = Script::new([Err(ApiError::status(400))]);
    assert_eq!(listed(&script), Err(ApiError::status(400)));
    let script = Script::new([Err(ApiError::status(503)), Err(ApiError::status(503))]);
    assert_eq!(listed(&script), Err(ApiError::status(503)));
    let script = Script::new([Err(ApiError::status(429)), Err(ApiError::connect())]);
    assert_eq!(listed(&script), Err(ApiError::connect()));
    let s = stats::get("fb.listed").unwrap();
    assert_eq!((s.calls, s.fallbacks, s.failures), (6, 3, 6));
}

fn is_teapot(e: &ApiError) -> bool {
    e.class == retry_runtime::Class::Status(418)
}

// Predicates first in the list, then a class or another predicate (the list
// once failed to compile when a predicate came before another entry).
#[retry(attempts = 1, fallback = other_model, fallback_on = [is_teapot, Quota])]
fn predicate_then_class(script: &Script<String>) -> Result<String, ApiError> {
    script.next()
}

#[retry(
    attempts = 1,
    fallback = other_model,
    fallback_on = [|e: &ApiError| e.class == retry_runtime::Class::Status(418), is_teapot, RateLimited]
)]
fn closure_then_more(script: &Script<String>) -> Result<String, ApiError> {
    script.next()
}

#[test]
fn fallback_on_lists_that_start_with_a_predicate() {
    let quota = ApiError {
        class: retry_runtime::Class::Quota,
        ..ApiError::other()
    };
    for f in [predicate_then_class, closure_then_more] {
        let script = Script::new([Err(ApiError::status(418))]);
        assert_eq!(f(&script), Ok("other model".to_string()));
        let script = Script::new([Err(ApiError::status(400))]);
        assert_eq!(f(&script), Err(ApiError::status(400)));
    }
    let script = Script::new([Err(quota)]);
    assert_eq!(predicate_then_class(&script), Ok("other model".to_string()));
    let script = Script::new([Err(ApiError::status(429))]);
    assert_eq!(closure_then_more(&script), Ok("other model".to_string()));
}

/// A predicate in `fallback_on`, and a refused call (an open breaker) that
/// falls back whatever its error's class.
static LISTED_DOWN: CircuitBreaker = CircuitBreaker::new().min_attempts(4).failure_ratio(0.5);

async fn local_answer(_: &AtomicU32, _: u16) -> Result<&'static str, ApiError> {
    Ok("local")
}

#[retry(
    attempts = 2,
    wait = none,
    breaker = LISTED_DOWN,
    fallback = local_answer,
    fallback_on = [|e: &ApiError| e.class == retry_runtime::Class::Status(529)],
    name = "fb.listed_down"
)]
async fn overloaded_then_down(calls: &AtomicU32, status: u16) -> Result<&'static str, ApiError> {
    calls.fetch_add(1, Ordering::SeqCst);
    Err(ApiError::status(status))
}

#[tokio::test(start_paused = true)]
async fn fallback_on_a_refused_call_falls_back_and_a_predicate_decides_the_rest() {
    let calls = AtomicU32::new(0);
    // Two 503s: retried, given up, not what the predicate asks for: the
    // error comes back.
    assert_eq!(
        overloaded_then_down(&calls, 503).await,
        Err(ApiError::status(503))
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    // Two 529s: the predicate says yes: the fallback answers.
    assert_eq!(overloaded_then_down(&calls, 529).await, Ok("local"));
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    // Four failures: the breaker is open, the call is refused before its
    // first attempt, and falls back whatever it would have failed with.
    assert_eq!(overloaded_then_down(&calls, 503).await, Ok("local"));
    assert_eq!(calls.load(Ordering::SeqCst), 4, "refused: no attempt");
    assert_eq!(stats::get("fb.listed_down").unwrap().fallbacks, 2);
}

/// A type classified only through a cargo feature (`anyhow::Error`):
/// `fallback_on` reads its class for the fallback's decision, and the
/// retries stay as the default says for it (`[Any]`).
fn anyhow_fallback(_: &AtomicU32, _: std::io::ErrorKind) -> anyhow::Result<&'static str> {
    Ok("fallback")
}

#[retry(attempts = 3, wait = none, fallback = anyhow_fallback, fallback_on = [Connect])]
fn through_anyhow(calls: &AtomicU32, kind: std::io::ErrorKind) -> anyhow::Result<&'static str> {
    calls.fetch_add(1, Ordering::SeqCst);
    Err(std::io::Error::from(kind).into())
}

#[test]
fn fallback_on_classifies_a_feature_classified_error_for_its_own_decision() {
    let calls = AtomicU32::new(0);
    let reset = std::io::ErrorKind::ConnectionReset;
    assert_eq!(through_anyhow(&calls, reset).unwrap(), "fallback");
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    // Not found: retried all the same (`[Any]`), not handed on.
    let calls = AtomicU32::new(0);
    assert!(through_anyhow(&calls, std::io::ErrorKind::NotFound).is_err());
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

/// A generic fallback whose parameter only its arguments name (nothing
/// infers it), written as in a type (`size_of_type<u64>`) or with a turbofish
/// (`size_of_type::<u16>`).
fn size_of_type<T>(script: &Script<usize>) -> Result<usize, ApiError> {
    let _ = script;
    Ok(std::mem::size_of::<T>())
}

#[retry(attempts = 2, wait = none, fallback = size_of_type<u64>)]
fn generic_without_turbofish(script: &Script<usize>) -> Result<usize, ApiError> {
    script.next()
}

#[retry(attempts = 2, wait = none, fallback = size_of_type::<u16>)]
fn generic_with_turbofish(script: &Script<usize>) -> Result<usize, ApiError> {
    script.next()
}

#[test]
fn a_generic_fallback_is_called_with_its_arguments() {
    let script = Script::new([Err(ApiError::connect()), Err(ApiError::connect())]);
    assert_eq!(generic_without_turbofish(&script), Ok(8));
    assert_eq!(script.calls(), 2);
    let script = Script::new([Err(ApiError::connect()), Err(ApiError::connect())]);
    assert_eq!(generic_with_turbofish(&script), Ok(2));
    assert_eq!(script.calls(), 2);
}
