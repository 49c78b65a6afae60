//! The annotated function against a direct call, a hand-written retry loop
//! and backon, on the success path and on a fail-fail-succeed path (paused clock).
//!
//! Run: `cargo bench -p benches`

use std::future::Future;
use std::hint::black_box;
use std::io;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use backon::{ConstantBuilder, Retryable};
use criterion::{Criterion, criterion_group, criterion_main};
use retry_runtime::retry;

/// Polls a future that completes without sleeping.
fn now<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => unreachable!("no sleep on this path"),
    }
}

fn outcome(fail_first: u32, attempt: u32) -> io::Result<u64> {
    if attempt < fail_first {
        Err(io::ErrorKind::ConnectionReset.into())
    } else {
        Ok(u64::from(attempt) + 1)
    }
}

async fn direct(fail_first: u32, attempt: &mut u32) -> io::Result<u64> {
    let out = outcome(fail_first, *attempt);
    *attempt += 1;
    out
}

async fn hand_written(fail_first: u32, attempt: &mut u32) -> io::Result<u64> {
    let mut tries = 0;
    let mut delay = Duration::from_millis(1);
    loop {
        tries += 1;
        match direct(fail_first, attempt).await {
            Ok(v) => return Ok(v),
            Err(e) if tries >= 3 || e.kind() != io::ErrorKind::ConnectionReset => return Err(e),
            Err(_) => {
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
        }
    }
}

#[retry(attempts = 3, wait = exponential(initial = 1ms, jitter = none), on = [Connect])]
async fn annotated(fail_first: u32, attempt: &mut u32) -> io::Result<u64> {
    direct(fail_first, attempt).await
}

/// The same with `?` in the body: each attempt is then its own inner future.
#[retry(attempts = 3, wait = exponential(initial = 1ms, jitter = none), on = [Connect])]
async fn annotated_with_question_mark(fail_first: u32, attempt: &mut u32) -> io::Result<u64> {
    let value = direct(fail_first, attempt).await?;
    Ok(value)
}

async fn with_backon(fail_first: u32) -> io::Result<u64> {
    let mut attempt = 0;
    let attempt = &mut attempt;
    (|| {
        let out = outcome(fail_first, *attempt);
        *attempt += 1;
        async move { out }
    })
    .retry(
        ConstantBuilder::default()
            .with_delay(Duration::from_millis(1))
            .with_max_times(2),
    )
    .when(|e: &io::Error| e.kind() == io::ErrorKind::ConnectionReset)
    .await
}

fn success(c: &mut Criterion) {
    if std::env::var_os("SIZES").is_some() {
        eprintln!(
            "hand_written {}",
            std::mem::size_of_val(&hand_written(0, &mut 0))
        );
        eprintln!("annotated {}", std::mem::size_of_val(&annotated(0, &mut 0)));
        eprintln!("backon {}", std::mem::size_of_val(&with_backon(0)));
        eprintln!(
            "call {}",
            std::mem::size_of::<retry_runtime::__private::Call<retry_runtime::__private::TokioClock>>(
            )
        );
    }
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
    group.bench_function("backon", |b| b.iter(|| now(with_backon(black_box(0)))));
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
        b.iter(|| rt.block_on(with_backon(black_box(2))))
    });
    group.finish();
}

criterion_group!(benches, success, fail_fail_succeed);
criterion_main!(benches);
