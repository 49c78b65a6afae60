//! Regression tests for the edge cases a review found, each named after what
//! it guards. Every one of these failed (or did not compile) before the fix.

#![deny(warnings)]

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use retry_runtime::{Class, retry};
use tests::{ApiError, Script, ms, take_seen};
use tokio::time::Instant;

// 1. `self` is renamed only where there is a receiver, never in `use` trees,
// and format strings' implicit captures follow it.

#[derive(Clone, Debug)]
struct Counter {
    tries: u32,
}

impl Counter {
    #[retry(attempts = 3, wait = none, on = [Any])]
    async fn describe(&mut self) -> Result<String, std::io::Error> {
        use std::io::{self, Write};
        self.tries += 1;
        let mut out = Vec::new();
        write!(out, "{self:?}").map_err(io::Error::other)?;
        if self.tries < 2 {
            return Err(io::ErrorKind::ConnectionReset.into());
        }
        Ok(format!(
            "{} {self:?} {{self}}",
            String::from_utf8(out).unwrap()
        ))
    }

    #[retry(attempts = 2, wait = none, on = [Any])]
    fn consume(self) -> Result<String, std::io::Error> {
        Ok(format!("{self:?}|{:>3}", self.tries))
    }
}

#[tokio::test]
async fn self_in_use_trees_and_format_strings() {
    let mut c = Counter { tries: 0 };
    let text = c.describe().await.unwrap();
    assert_eq!(text, "Counter { tries: 2 } Counter { tries: 2 } {self}");
    assert_eq!(c.consume().unwrap(), "Counter { tries: 2 }|  2");
}

#[retry(attempts = 2, wait = none)]
fn no_receiver_keeps_self_paths() -> std::io::Result<u32> {
    use std::io::{self};
    let _: fn() -> io::Error = || io::ErrorKind::Other.into();
    Ok(self::helper())
}

fn helper() -> u32 {
    4
}

#[test]
fn free_functions_keep_self_paths() {
    assert_eq!(no_receiver_keeps_self_paths().unwrap(), 4);
}

// 3. `exponential(initial = 0)` stays zero for any number of attempts.

#[retry(attempts = 2000, wait = exponential(initial = 0, jitter = none), before_sleep = tests::record)]
async fn zero_initial(s: &Script<u32>) -> Result<u32, ApiError> {
    s.next()
}

#[tokio::test(start_paused = true)]
async fn zero_initial_exponential_never_jumps_to_max() {
    let s = Script::new([Err(ApiError::connect())]);
    let start = Instant::now();
    assert!(zero_initial(&s).await.is_err());
    assert_eq!(s.calls(), 2000);
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert!(take_seen().iter().all(|s| s.delay.is_zero()));
}

// 4. A per-attempt timeout is cut to what is left of the deadline.

#[retry(attempts = 5, wait = fixed(1s), timeout = 10s, deadline = 3s)]
async fn slow(started: &AtomicU32) -> Result<u32, ApiError> {
    started.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(60)).await;
    Ok(1)
}

#[tokio::test(start_paused = true)]
async fn timeout_meets_deadline() {
    let started = AtomicU32::new(0);
    let start = Instant::now();
    let err = slow(&started).await.unwrap_err();
    assert_eq!(err.class, Class::Timeout);
    // The only attempt is cut at the 3 s deadline, not at its 10 s timeout.
    assert_eq!(start.elapsed(), Duration::from_secs(3));
    assert_eq!(started.load(Ordering::SeqCst), 1);
}

#[retry(attempts = 5, wait = fixed(1s), timeout = 2s, deadline = 4.5s)]
async fn slow_then_cut(started: &AtomicU32) -> Result<u32, ApiError> {
    started.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(60)).await;
    Ok(1)
}

#[tokio::test(start_paused = true)]
async fn the_last_attempt_gets_what_is_left() {
    // 0-2 s: timed out; sleep 1 s; from 3 s: cut by the deadline at 4.5 s
    // (1.5 s left, less than the 2 s timeout); no sleep fits after it.
    let started = AtomicU32::new(0);
    let start = Instant::now();
    assert!(slow_then_cut(&started).await.is_err());
    assert_eq!(start.elapsed(), ms(4500));
    assert_eq!(started.load(Ordering::SeqCst), 2);
}

// 5. With hooks (and no deadline or timeout), `elapsed` counts the first attempt.

#[retry(attempts = 2, wait = fixed(1s), before_sleep = tests::record, on_giveup = tests::record)]
async fn slow_failure(s: &Script<u32>) -> Result<u32, ApiError> {
    tokio::time::sleep(Duration::from_millis(300)).await;
    s.next()
}

#[tokio::test(start_paused = true)]
async fn elapsed_counts_the_first_attempt() {
    let s = Script::new([Err(ApiError::connect())]);
    assert!(slow_failure(&s).await.is_err());
    let seen = take_seen();
    assert_eq!(seen[0].elapsed, ms(300));
    assert_eq!(seen[1].elapsed, ms(1600));
}

// One hook alone is enough for the clock to be read at the start.
#[retry(attempts = 2, wait = fixed(1s), on_giveup = tests::record)]
async fn slow_failure_giveup_only(s: &Script<u32>) -> Result<u32, ApiError> {
    tokio::time::sleep(Duration::from_millis(300)).await;
    s.next()
}

#[retry(attempts = 2, wait = fixed(1s), before_sleep = tests::record)]
async fn slow_failure_before_sleep_only(s: &Script<u32>) -> Result<u32, ApiError> {
    tokio::time::sleep(Duration::from_millis(300)).await;
    s.next()
}

#[tokio::test(start_paused = true)]
async fn either_hook_alone_sees_the_elapsed_time() {
    let _ = take_seen();
    let s = Script::new([Err(ApiError::connect())]);
    assert!(slow_failure_giveup_only(&s).await.is_err());
    assert_eq!(take_seen()[0].elapsed, ms(1600));
    assert!(slow_failure_before_sleep_only(&s).await.is_err());
    assert_eq!(take_seen()[0].elapsed, ms(300));
}

// 7. Per-rule waits: a 30 s Retry-After floor does not widen the next
// `Connect` decorrelated range.

#[retry(attempts = 10, retry_after = honor(max = 60s), before_sleep = tests::record,
        on = [Connect => (wait = exponential(initial = 1s, max = 100s, jitter = decorrelated)), Default])]
async fn decorrelated(s: &Script<u32>) -> Result<u32, ApiError> {
    s.next()
}

#[tokio::test(start_paused = true)]
async fn retry_after_does_not_feed_decorrelated_jitter() {
    for _ in 0..20 {
        let s = Script::new([
            Err(ApiError::connect().after(Duration::from_secs(30))),
            Err(ApiError::connect()),
            Ok(1),
        ]);
        assert_eq!(decorrelated(&s).await, Ok(1));
        let delays: Vec<_> = take_seen().into_iter().map(|s| s.delay).collect();
        assert_eq!(delays[0], Duration::from_secs(30));
        assert!(delays[1] <= Duration::from_secs(9), "{delays:?}");
    }
}

// 9. Receivers, parameter attributes, diverging bodies, lower-case
// predicates, yielding between zero waits.

struct Stream {
    polls: u32,
}

impl Stream {
    #[retry(attempts = 3, wait = none, on = [Any])]
    async fn pinned(mut self: Pin<&mut Self>) -> Result<u32, std::io::Error> {
        self.polls += 1;
        let this = self.as_mut().get_mut();
        if this.polls < 3 {
            return Err(std::io::ErrorKind::ConnectionReset.into());
        }
        Ok(this.polls)
    }

    #[retry(attempts = 2, wait = none)]
    fn boxed(self: Box<Self>) -> Result<u32, std::io::Error> {
        Ok(self.polls)
    }
}

impl Clone for Stream {
    fn clone(&self) -> Self {
        Stream { polls: self.polls }
    }
}

#[tokio::test]
async fn pinned_and_boxed_receivers() {
    let mut s = Stream { polls: 0 };
    assert_eq!(Pin::new(&mut s).pinned().await.unwrap(), 3);
    assert_eq!(Box::new(s).boxed().unwrap(), 3);
}

#[retry(attempts = 2, wait = none)]
async fn with_cfg_params(
    #[cfg(not(test))] missing: String,
    #[cfg(test)] present: u32,
    #[cfg_attr(test, allow(unused_variables))] unused: u32,
) -> Result<u32, std::io::Error> {
    Ok(present)
}

#[tokio::test]
async fn cfg_on_parameters() {
    assert_eq!(with_cfg_params(7, 0).await.unwrap(), 7);
}

fn diverge(reason: &str) -> ! {
    panic!("{reason}")
}

#[retry(attempts = 2, wait = none)]
#[allow(dead_code)]
async fn diverging_body(flag: bool) -> Result<u32, std::io::Error> {
    if flag {
        return Ok(1);
    }
    diverge("never called")
}

#[retry(attempts = 2, wait = none)]
#[allow(dead_code)]
async fn diverging_plain_body() -> Result<u32, std::io::Error> {
    diverge("never called")
}

#[tokio::test]
async fn diverging_bodies_compile_without_warnings() {
    // `#![deny(warnings)]` above: an `unreachable_code` warning fails the build.
    assert_eq!(diverging_body(true).await.unwrap(), 1);
}

fn connect(e: &ApiError) -> bool {
    e.class == Class::Status(418)
}

#[retry(attempts = 3, wait = none, on = [connect])]
async fn lower_case_predicate(s: &Script<u32>) -> Result<u32, ApiError> {
    s.next()
}

#[tokio::test]
async fn predicates_named_like_classes() {
    let s = Script::new([Err(ApiError::status(418)), Ok(2)]);
    assert_eq!(lower_case_predicate(&s).await, Ok(2));
    let s = Script::new([Err(ApiError::connect())]);
    assert!(lower_case_predicate(&s).await.is_err());
    assert_eq!(s.calls(), 1);
}

#[retry(attempts = 1000, wait = none)]
async fn busy(s: &Script<u32>) -> Result<u32, ApiError> {
    s.next()
}

#[tokio::test(flavor = "current_thread")]
async fn zero_waits_yield_to_other_tasks() {
    let ticks = std::sync::Arc::new(AtomicU32::new(0));
    let counter = ticks.clone();
    let other = tokio::spawn(async move {
        loop {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::task::yield_now().await;
        }
    });
    let s = Script::new([Err(ApiError::connect())]);
    assert!(busy(&s).await.is_err());
    // On one thread, the other task ran between the attempts.
    assert!(
        ticks.load(Ordering::SeqCst) >= 900,
        "{}",
        ticks.load(Ordering::SeqCst)
    );
    other.abort();
}

// 18. Coercions in bodies that run as their own future (`?`, `return`).

trait Provider {
    fn name(&self) -> &str;
}

struct OpenAi;

impl Provider for OpenAi {
    fn name(&self) -> &str {
        "openai"
    }
}

#[retry(attempts = 2, wait = none)]
async fn boxed_provider(fail: bool) -> Result<Box<dyn Provider>, std::io::Error> {
    if fail {
        return Err(std::io::ErrorKind::NotFound.into());
    }
    let p = OpenAi;
    std::convert::identity(Ok::<(), std::io::Error>(()))?;
    Ok(Box::new(p))
}

struct Named {
    name: String,
    items: Vec<u8>,
}

impl Named {
    #[retry(attempts = 2, wait = none)]
    async fn name(&self) -> Result<&str, std::io::Error> {
        std::convert::identity(Ok::<(), std::io::Error>(()))?;
        Ok(&self.name)
    }

    #[retry(attempts = 2, wait = none)]
    async fn items(&self) -> Result<&[u8], std::io::Error> {
        let v = &self.items;
        if v.is_empty() {
            return Ok(&[]);
        }
        Ok(v)
    }
}

#[tokio::test]
async fn coercions_in_early_returning_bodies() {
    assert_eq!(boxed_provider(false).await.unwrap().name(), "openai");
    let n = Named {
        name: "x".into(),
        items: vec![1, 2],
    };
    assert_eq!(n.name().await.unwrap(), "x");
    assert_eq!(n.items().await.unwrap(), &[1, 2]);
}

// 19. `impl Trait` in the `Ok` type with `on = [Any]` needs no `Classify`.

#[derive(Debug, PartialEq)]
struct StatusCode(u16);

#[retry(attempts = 3, wait = none, on = [Any])]
async fn handler(s: &Script<u32, u16>) -> Result<impl std::fmt::Display, StatusCode> {
    s.next().map_err(StatusCode)
}

#[tokio::test]
async fn impl_trait_ok_with_any() {
    let s: Script<u32, u16> = Script::new([Err(503), Ok(5)]);
    assert_eq!(handler(&s).await.unwrap().to_string(), "5");
}

#[retry(attempts = 2, wait = none)]
fn returns_future() -> Result<impl Future<Output = u32>, std::io::Error> {
    Ok(async { 3 })
}

#[tokio::test]
async fn impl_future_ok() {
    assert_eq!(returns_future().unwrap().await, 3);
}

// 12. `Default` extends the default rather than replacing it.

#[retry(attempts = 3, wait = none, on = [RateLimited => (attempts = 2), Default])]
async fn rate_limits_then_default(s: &Script<u32>) -> Result<u32, ApiError> {
    s.next()
}

#[tokio::test]
async fn default_keeps_retrying_what_is_not_named() {
    for (error, calls) in [
        (ApiError::status(429), 2),
        (ApiError::status(503), 3),
        (ApiError::timeout(), 3),
        (ApiError::status(404), 1),
    ] {
        let s = Script::new([Err(error.clone())]);
        assert!(rate_limits_then_default(&s).await.is_err());
        assert_eq!(s.calls(), calls, "{error:?}");
    }
}

#[retry(attempts = 3, wait = none, on = [|e: &tests::PlainError| e.0 == 1, Default])]
async fn plain_default(s: &Script<u32, tests::PlainError>) -> Result<u32, tests::PlainError> {
    s.next()
}

#[tokio::test]
async fn default_of_an_unclassified_type_is_any() {
    let s = Script::new([Err(tests::PlainError(7))]);
    assert!(plain_default(&s).await.is_err());
    assert_eq!(s.calls(), 3);
}

// A per-rule wait that is an expression (not a built-in constant).

const SLOW: Duration = Duration::from_secs(7);

fn backoff() -> retry_runtime::wait::Fixed {
    retry_runtime::wait::fixed(Duration::from_secs(3))
}

#[retry(attempts = 4, before_sleep = tests::record,
        on = [RateLimited => (wait = SLOW), Connect => (wait = backoff()), Timeout => (wait = fixed(1) + SLOW)])]
async fn expression_waits(s: &Script<u32>) -> Result<u32, ApiError> {
    s.next()
}

#[tokio::test(start_paused = true)]
async fn per_rule_expression_waits() {
    let s = Script::new([
        Err(ApiError::status(429)),
        Err(ApiError::connect()),
        Err(ApiError::timeout()),
        Ok(1),
    ]);
    assert_eq!(expression_waits(&s).await, Ok(1));
    let delays: Vec<_> = take_seen().into_iter().map(|s| s.delay).collect();
    assert_eq!(
        delays,
        [SLOW, Duration::from_secs(3), Duration::from_secs(8)]
    );
}

// A pinned argument is re-borrowed for each attempt; lint attributes on a
// parameter reach its per-attempt binding.

#[retry(attempts = 3, wait = none, on = [Any])]
async fn pinned_arg(
    counter: Pin<&mut u32>,
    #[allow(unused_variables)] unused: u8,
) -> Result<u32, std::io::Error> {
    let c = counter.get_mut();
    *c += 1;
    if *c < 3 {
        return Err(std::io::ErrorKind::ConnectionReset.into());
    }
    Ok(*c)
}

#[tokio::test]
async fn pinned_arguments_and_parameter_lints() {
    let mut n = 0u32;
    assert_eq!(pinned_arg(Pin::new(&mut n), 0).await.unwrap(), 3);
}

// The body's inner attributes (`#![allow(..)]`) are the function's: they
// compile and apply to the whole body (this file denies warnings), with or
// without an early return, blocking or async, before a loop's `break`.

#[retry(attempts = 3, wait = none, on = [Any])]
async fn inner_attribute(tries: &AtomicU32) -> Result<u32, std::io::Error> {
    #![allow(unused_variables)]
    #![allow(clippy::let_unit_value)]
    let unused = ();
    if tries.fetch_add(1, Ordering::SeqCst) < 1 {
        return Err(std::io::ErrorKind::ConnectionReset.into());
    }
    let mut n = 0;
    loop {
        n += 1;
        if n == 4 {
            break;
        }
    }
    Ok(n)
}

#[retry(attempts = 2, wait = none)]
fn inner_attribute_blocking() -> Result<u32, std::io::Error> {
    #![allow(unused_variables)]
    let unused = 1;
    Ok(2)
}

#[tokio::test]
async fn inner_attributes_of_the_body() {
    let tries = AtomicU32::new(0);
    assert_eq!(inner_attribute(&tries).await.unwrap(), 4);
    assert_eq!(tries.load(Ordering::SeqCst), 2);
    assert_eq!(inner_attribute_blocking().unwrap(), 2);
}

// A body of one expression on one line, on the path with an inner future (a
// `timeout`, an early return, a macro), draws no `unused_braces` on the
// user's braces (the compiler lints a one-line block only; hence
// `rustfmt::skip`).

#[rustfmt::skip]
#[retry(attempts = 2, wait = none, timeout = 1s)]
async fn one_expression_with_timeout() -> Result<u32, std::io::Error> { Ok(3) }

#[rustfmt::skip]
#[retry(attempts = 2, wait = none)]
async fn one_question_mark_expression(v: Option<u32>) -> Result<u32, std::io::Error> { Ok(v.ok_or(std::io::Error::from(std::io::ErrorKind::NotFound))? + 1) }

#[rustfmt::skip]
#[retry(attempts = 2, wait = none)]
async fn one_diverging_macro() -> Result<u32, std::io::Error> { unimplemented!() }

#[tokio::test]
async fn one_expression_bodies() {
    assert_eq!(one_expression_with_timeout().await.unwrap(), 3);
    assert_eq!(one_question_mark_expression(Some(4)).await.unwrap(), 5);
    let _ = one_diverging_macro;
}

// A function written by `macro_rules!`: its body passed as `$b:block`, or the
// whole function as `$f:item`, arrives inside an invisible group.

macro_rules! with_body {
    ($name:ident, $b:block) => {
        #[retry(attempts = 2, wait = none)]
        async fn $name() -> Result<u32, std::io::Error> $b
    };
}

macro_rules! annotated_item {
    ($f:item) => {
        #[retry(attempts = 2, wait = none)]
        $f
    };
}

// A `Pin<&mut T>` argument whose type comes as `$t:ty` (an invisible
// group) is re-borrowed, not cloned.
macro_rules! with_arg_type {
    ($name:ident, $t:ty) => {
        #[retry(attempts = 3, wait = none, on = [Any])]
        async fn $name(counter: $t) -> Result<u32, std::io::Error> {
            let c = counter.get_mut();
            *c += 1;
            if *c < 2 {
                return Err(std::io::ErrorKind::ConnectionReset.into());
            }
            Ok(*c)
        }
    };
}

with_arg_type!(pinned_from_a_macro, Pin<&mut u32>);
with_body!(body_from_a_macro, { Ok(6) });
annotated_item! {
    async fn item_from_a_macro(tries: &AtomicU32) -> Result<u32, std::io::Error> {
        if tries.fetch_add(1, Ordering::SeqCst) == 0 {
            return Err(std::io::ErrorKind::ConnectionReset.into());
        }
        Ok(7)
    }
}

#[tokio::test]
async fn functions_written_by_macros() {
    assert_eq!(body_from_a_macro().await.unwrap(), 6);
    let tries = AtomicU32::new(0);
    assert_eq!(item_from_a_macro(&tries).await.unwrap(), 7);
    assert_eq!(tries.load(Ordering::SeqCst), 2);
    let mut n = 0u32;
    assert_eq!(pinned_from_a_macro(Pin::new(&mut n)).await.unwrap(), 2);
}
