//! Per-item overhead of `Retrying::batch` against spawning the same calls
//! by hand under a semaphore (the usual hand-written batch), and the
//! throughput of a retrying stream against the bare stream. Run:
//! `cargo bench -p benches --bench batch_stream`.
//!
//! Every call succeeds at once: what is measured is the machinery, not the
//! retries. Both batch variants run on the same current-thread runtime with
//! a limit of 16.

use std::hint::black_box;
use std::io;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures_util::StreamExt;
use retry_runtime::stream::Resume;
use retry_runtime::{Retrying, wait};

const ITEMS: u64 = 1000;
const LIMIT: usize = 16;

#[inline(never)]
async fn call(n: u64) -> io::Result<u64> {
    tokio::task::yield_now().await;
    Ok(black_box(n) * 2)
}

#[inline(never)]
async fn by_hand(items: u64) -> Vec<io::Result<u64>> {
    let permits = Arc::new(tokio::sync::Semaphore::new(LIMIT));
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..items {
        let permit = permits.clone().acquire_owned().await.expect("open");
        tasks.spawn_local(async move {
            let out = call(n).await;
            drop(permit);
            (n, out)
        });
    }
    let mut out: Vec<(u64, io::Result<u64>)> = Vec::with_capacity(items as usize);
    while let Some(done) = tasks.join_next().await {
        out.push(done.expect("no panic"));
    }
    out.sort_unstable_by_key(|(n, _)| *n);
    out.into_iter().map(|(_, r)| r).collect()
}

#[inline(never)]
async fn with_batch(policy: &Retrying<u64, io::Error>, items: u64) -> usize {
    let batch = policy.batch(0..items, LIMIT, |n| call(*n)).await;
    batch.outcomes.len()
}

fn batches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    let policy = Retrying::<u64, io::Error>::new()
        .classify()
        .wait(wait::none());
    let mut group = c.benchmark_group("batch");
    group.throughput(Throughput::Elements(ITEMS));
    group.bench_function("spawn_with_semaphore", |b| {
        b.iter(|| local.block_on(&rt, by_hand(black_box(ITEMS))).len())
    });
    group.bench_function("retrying_batch", |b| {
        b.iter(|| rt.block_on(with_batch(&policy, black_box(ITEMS))))
    });
    group.finish();
}

fn streams(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let policy = Retrying::<(), io::Error>::new()
        .classify()
        .wait(wait::none());
    let source =
        || futures_util::stream::iter((0..ITEMS).map(|n| Ok::<u64, io::Error>(black_box(n))));
    let mut group = c.benchmark_group("stream");
    group.throughput(Throughput::Elements(ITEMS));
    group.bench_function("bare", |b| {
        b.iter(|| rt.block_on(source().fold(0u64, |a, n| async move { a + n.unwrap() })))
    });
    group.bench_function("retrying", |b| {
        b.iter(|| {
            rt.block_on(
                policy
                    .stream(Resume::Skip, |_| std::future::ready(Ok(source())))
                    .fold(0u64, |a, n| async move { a + n.unwrap().item().unwrap() }),
            )
        })
    });
    group.finish();
}

criterion_group!(benches, batches, streams);
criterion_main!(benches);
