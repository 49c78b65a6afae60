//! The annotated function against a direct call of its body, a hand-written
//! retry loop and backon, on the success path and on a fail-fail-succeed path
//! (paused clock). All are configured alike: 5 attempts, exponential waits
//! from 10 ms doubling, no jitter, only `ConnectionReset` retried. The body is
//! a real out-of-line async fn whose input goes through `black_box`, so that
//! "direct" is not a constant folded away.
//!
//! Run: `cargo bench -p benches --bench retry`. The sizes of the returned
//! futures are printed first.

use std::future::Future;
use std::hint::black_box;
use std::io;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use criterion::{Criterion, criterion_group, criterion_main};
use retry_runtime::retry;

/// [`now`], for the other harnesses.
pub fn now_pub<F: Future>(f: F) -> F::Output {
    now(f)
}

/// Polls a future that completes without sleeping.
fn now<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => unreachable!("no sleep on this path"),
    }
}

/// The body: fails with a connection reset for the first `fail_first`
/// attempts. Its future holds 16 bytes (the count and the reference).
#[inline(never)]
async fn body(fail_first: u32, attempt: &mut u32) -> io::Result<u64> {
    let n = *attempt;
    *attempt += 1;
    if n < black_box(fail_first) {
        Err(io::ErrorKind::ConnectionReset.into())
    } else {
        Ok(u64::from(n) + 1)
    }
}

#[inline(never)]
pub async fn direct(fail_first: u32, attempt: &mut u32) -> io::Result<u64> {
    body(fail_first, attempt).await
}

#[inline(never)]
pub async fn hand_written(fail_first: u32, attempt: &mut u32) -> io::Result<u64> {
    let mut tries = 0u32;
    let mut delay = Duration::from_millis(10);
    loop {
        tries += 1;
        match body(fail_first, attempt).await {
            Ok(v) => return Ok(v),
            Err(e) if tries >= 5 || e.kind() != io::ErrorKind::ConnectionReset => return Err(e),
            Err(_) => {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(60));
            }
        }
    }
}

#[inline(never)]
#[retry(attempts = 5, wait = exponential(initial = 10ms, jitter = none), on = [Connect])]
pub async fn annotated(fail_first: u32, attempt: &mut u32) -> io::Result<u64> {
    body(fail_first, attempt).await
}

// Configured never to refuse: what is measured is the bookkeeping, not the
// refusals (each call deposits 10 retries; the breaker never opens).
pub static BENCH_BUDGET: retry_runtime::Budget = retry_runtime::Budget::new(10.0, 10);
pub static BENCH_BREAKER: retry_runtime::CircuitBreaker = retry_runtime::CircuitBreaker::new()
    .failure_ratio(1.0)
    .min_attempts(u32::MAX);

/// The same with a retry budget and a circuit breaker named: a clock read,
/// a deposit and the breaker's record on every call.
#[inline(never)]
#[retry(attempts = 5, wait = exponential(initial = 10ms, jitter = none), on = [Connect], budget = BENCH_BUDGET, breaker = BENCH_BREAKER)]
pub async fn annotated_protected(fail_first: u32, attempt: &mut u32) -> io::Result<u64> {
    body(fail_first, attempt).await
}

/// The same with `?` in the body: each attempt is then its own inner future.
#[inline(never)]
#[retry(attempts = 5, wait = exponential(initial = 10ms, jitter = none), on = [Connect])]
pub async fn annotated_with_question_mark(fail_first: u32, attempt: &mut u32) -> io::Result<u64> {
    let value = body(fail_first, attempt).await?;
    Ok(value)
}

/// backon's closure cannot lend `&mut` to the future it returns: the count
/// lives in a `Cell` and the body takes it by value.
#[inline(never)]
async fn body_at(fail_first: u32, n: u32) -> io::Result<u64> {
    if n < black_box(fail_first) {
        Err(io::ErrorKind::ConnectionReset.into())
    } else {
        Ok(u64::from(n) + 1)
    }
}

#[inline(never)]
pub async fn with_backon(fail_first: u32, attempt: &mut u32) -> io::Result<u64> {
    let count = std::cell::Cell::new(*attempt);
    let out = (|| {
        let n = count.get();
        count.set(n + 1);
        body_at(fail_first, n)
    })
    .retry(
        ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(10))
            .with_max_times(4),
    )
    .when(|e: &io::Error| e.kind() == io::ErrorKind::ConnectionReset)
    .await;
    *attempt = count.get();
    out
}

/// tokio-retry2: delays `2^n · 5 ms` (10, 20, 40, 80 ms), 4 retries; the
/// body's errors are wrapped in `RetryError` (transient or permanent).
#[inline(never)]
pub async fn with_tokio_retry2(fail_first: u32, attempt: &mut u32) -> io::Result<u64> {
    use tokio_retry2::strategy::ExponentialBackoff;
    use tokio_retry2::{Retry, RetryError};
    let count = std::cell::Cell::new(*attempt);
    let strategy = ExponentialBackoff::from_millis(2).factor(5).take(4);
    let out = Retry::spawn(strategy, || {
        let n = count.get();
        count.set(n + 1);
        async move {
            body_at(fail_first, n).await.map_err(|e| {
                if e.kind() == io::ErrorKind::ConnectionReset {
                    RetryError::transient(e)
                } else {
                    RetryError::permanent(e)
                }
            })
        }
    })
    .await;
    *attempt = count.get();
    out
}

/// backoff: exponential from 10 ms doubling, no randomisation, no elapsed
/// limit; it has no attempt limit, so the fifth failure is made permanent.
#[inline(never)]
pub async fn with_backoff(fail_first: u32, attempt: &mut u32) -> io::Result<u64> {
    let count = std::cell::Cell::new(*attempt);
    let policy = backoff::ExponentialBackoffBuilder::new()
        .with_initial_interval(Duration::from_millis(10))
        .with_multiplier(2.0)
        .with_randomization_factor(0.0)
        .with_max_interval(Duration::from_secs(60))
        .with_max_elapsed_time(None)
        .build();
    let start = *attempt;
    let out = backoff::future::retry(policy, || {
        let n = count.get();
        count.set(n + 1);
        async move {
            body_at(fail_first, n).await.map_err(|e| {
                if e.kind() == io::ErrorKind::ConnectionReset && n - start < 4 {
                    backoff::Error::transient(e)
                } else {
                    backoff::Error::permanent(e)
                }
            })
        }
    })
    .await;
    *attempt = count.get();
    out
}

/// The variants the harnesses compare: the name on their command lines, and
/// the name in tables.
pub const VARIANTS: [(&str, &str); 8] = [
    ("direct", "direct"),
    ("hand", "hand-written loop"),
    ("attribute", "#[retry]"),
    ("question", "#[retry] with ?"),
    ("protected", "#[retry] + budget + breaker"),
    ("backon", "backon"),
    ("tokio_retry2", "tokio-retry2"),
    ("backoff", "backoff"),
];

/// One call of the variant named `arg` (see [`VARIANTS`]); any other name
/// runs nothing.
pub async fn call_variant(arg: &str, fail_first: u32, attempt: &mut u32) -> io::Result<u64> {
    match arg {
        "direct" => direct(fail_first, attempt).await,
        "hand" => hand_written(fail_first, attempt).await,
        "attribute" => annotated(fail_first, attempt).await,
        "question" => annotated_with_question_mark(fail_first, attempt).await,
        "protected" => annotated_protected(fail_first, attempt).await,
        "backon" => with_backon(fail_first, attempt).await,
        "tokio_retry2" => with_tokio_retry2(fail_first, attempt).await,
        "backoff" => with_backoff(fail_first, attempt).await,
        _ => Ok(0),
    }
}

pub fn sizes() {
    let mut n = 0;
    eprintln!("future sizes in bytes:");
    eprintln!("  body          {}", size_of_val(&body(0, &mut n)));
    eprintln!("  hand_written  {}", size_of_val(&hand_written(0, &mut n)));
    eprintln!("  #[retry]      {}", size_of_val(&annotated(0, &mut n)));
    eprintln!(
        "  #[retry] ?    {}",
        size_of_val(&annotated_with_question_mark(0, &mut n))
    );
    eprintln!(
        "  #[retry] + budget + breaker {}",
        size_of_val(&annotated_protected(0, &mut n))
    );
    eprintln!("  backon        {}", size_of_val(&with_backon(0, &mut n)));
    eprintln!(
        "  tokio-retry2  {}",
        size_of_val(&with_tokio_retry2(0, &mut n))
    );
    eprintln!("  backoff       {}", size_of_val(&with_backoff(0, &mut n)));
}

fn success(c: &mut Criterion) {
    sizes();
    let mut group = c.benchmark_group("success");
    group.bench_function("direct", |b| b.iter(|| now(direct(black_box(0), &mut 0))));
    group.bench_function("hand_written", |b| {
        b.iter(|| now(hand_written(black_box(0), &mut 0)))
    });
    group.bench_function("retry_attribute", |b| {
        b.iter(|| now(annotated(black_box(0), &mut 0)))
    });
    group.bench_function("retry_attribute_question_mark", |b| {
        b.iter(|| now(annotated_with_question_mark(black_box(0), &mut 0)))
    });
    group.bench_function("retry_attribute_budget_breaker", |b| {
        b.iter(|| now(annotated_protected(black_box(0), &mut 0)))
    });
    group.bench_function("backon", |b| {
        b.iter(|| now(with_backon(black_box(0), &mut 0)))
    });
    group.bench_function("tokio_retry2", |b| {
        b.iter(|| now(with_tokio_retry2(black_box(0), &mut 0)))
    });
    group.bench_function("backoff", |b| {
        b.iter(|| now(with_backoff(black_box(0), &mut 0)))
    });
    group.finish();
}

fn fail_fail_succeed(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    let mut group = c.benchmark_group("fail_fail_succeed");
    group.bench_function("hand_written", |b| {
        b.iter(|| rt.block_on(hand_written(black_box(2), &mut 0)))
    });
    group.bench_function("retry_attribute", |b| {
        b.iter(|| rt.block_on(annotated(black_box(2), &mut 0)))
    });
    group.bench_function("backon", |b| {
        b.iter(|| rt.block_on(with_backon(black_box(2), &mut 0)))
    });
    group.bench_function("tokio_retry2", |b| {
        b.iter(|| rt.block_on(with_tokio_retry2(black_box(2), &mut 0)))
    });
    group.bench_function("backoff", |b| {
        b.iter(|| rt.block_on(with_backoff(black_box(2), &mut 0)))
    });
    group.finish();
}

/// The naive way to count calls: one atomic add on one shared cache line.
static NAIVE_COUNT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

#[inline(never)]
pub async fn hand_written_with_shared_counter(
    fail_first: u32,
    attempt: &mut u32,
) -> io::Result<u64> {
    let out = hand_written(fail_first, attempt).await;
    NAIVE_COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    out
}

/// `threads` threads each make `iters` calls at once; the slowest thread's
/// time, so that the time per call compares with one thread's.
fn at_once(threads: usize, iters: u64, call: fn()) -> std::time::Duration {
    let barrier = std::sync::Barrier::new(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    barrier.wait();
                    let start = std::time::Instant::now();
                    for _ in 0..iters {
                        call();
                    }
                    start.elapsed()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .max()
            .unwrap()
    })
}

/// The success path from one thread and from two at once: statistics keep
/// one cache line per thread, so the second thread should cost nothing.
fn threads(c: &mut Criterion) {
    let mut group = c.benchmark_group("threads");
    for threads in [1, 2] {
        group.bench_function(format!("retry_attribute/{threads}"), |b| {
            b.iter_custom(|iters| {
                at_once(threads, iters, || {
                    black_box(now(annotated(black_box(0), &mut 0)).ok());
                })
            })
        });
        group.bench_function(format!("shared_atomic/{threads}"), |b| {
            b.iter_custom(|iters| {
                at_once(threads, iters, || {
                    black_box(now(hand_written_with_shared_counter(black_box(0), &mut 0)).ok());
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, success, fail_fail_succeed, threads);
criterion_main!(benches);
