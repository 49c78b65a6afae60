//! Batches: 10,000 items on a paused clock with transient and permanent
//! failures, the concurrency limit measured, input order, cancellation, a
//! shared budget, results as they complete, and end to end against the
//! embedded HTTP server.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use retry_runtime::{Budget, Class, Retrying, wait};
use tests::{ApiError, secs};

/// How many calls are in flight, and the most there ever were.
#[derive(Default)]
struct Gauge {
    now: AtomicUsize,
    most: AtomicUsize,
}

impl Gauge {
    async fn during<T>(&self, f: impl Future<Output = T>) -> T {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
        let out = f.await;
        self.now.fetch_sub(1, Ordering::SeqCst);
        out
    }
}

/// Item `n`: fails with a 503 `n % 4` times before it succeeds; items
/// divisible by 97 fail with a 400 (never retried); items divisible by 89
/// always time out.
fn outcome(n: u32, attempt: u32) -> Result<u32, ApiError> {
    if n.is_multiple_of(97) {
        Err(ApiError::status(400))
    } else if n.is_multiple_of(89) {
        Err(ApiError::timeout())
    } else if attempt <= n % 4 {
        Err(ApiError::status(503))
    } else {
        Ok(n * 2)
    }
}

#[tokio::test(start_paused = true)]
async fn ten_thousand_items_in_order_within_the_limit() {
    let policy = Retrying::<u32, ApiError>::new()
        .classify()
        .attempts(4)
        .wait(wait::fixed(secs(1.0)));
    let attempts: Vec<AtomicU32> = (0..10_000).map(|_| AtomicU32::new(0)).collect();
    let gauge = Gauge::default();
    let batch = policy
        .batch(0..10_000u32, 64, |n| {
            let attempt = attempts[*n as usize].fetch_add(1, Ordering::SeqCst) + 1;
            let n = *n;
            let gauge = &gauge;
            async move {
                gauge
                    .during(async {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        outcome(n, attempt)
                    })
                    .await
            }
        })
        .await;

    assert_eq!(batch.outcomes.len(), 10_000, "no item lost or duplicated");
    let most = gauge.most.load(Ordering::SeqCst);
    assert!(most <= 64, "the limit was exceeded: {most}");
    assert_eq!(most, 64, "the limit was used");
    let (mut first, mut after, mut failed, mut total) = (0, 0, 0, 0u64);
    for (i, o) in batch.outcomes.iter().enumerate() {
        let n = i as u32;
        assert_eq!(o.index, i, "input order");
        assert_eq!(o.attempts, attempts[i].load(Ordering::SeqCst), "item {n}");
        total += u64::from(o.attempts);
        if n.is_multiple_of(97) {
            assert_eq!((&o.result, o.attempts), (&Err(ApiError::status(400)), 1));
            failed += 1;
        } else if n.is_multiple_of(89) {
            assert_eq!((&o.result, o.attempts), (&Err(ApiError::timeout()), 4));
            assert_eq!(o.class, Some(Class::Timeout));
            failed += 1;
        } else {
            assert_eq!((&o.result, o.attempts), (&Ok(n * 2), n % 4 + 1), "item {n}");
            if n.is_multiple_of(4) {
                first += 1;
            } else {
                after += 1;
            }
        }
    }
    let s = &batch.summary;
    assert_eq!(
        (s.first_try, s.after_retries, s.failed),
        (first, after, failed)
    );
    assert_eq!(s.attempts, total);
    let by_class: Vec<_> = s.failed_by_class.clone();
    let refused = (0..10_000u32).filter(|n| n.is_multiple_of(97)).count();
    assert!(
        by_class.contains(&(Some(Class::Status(400)), refused)),
        "{by_class:?}"
    );
    assert_eq!(
        by_class.iter().map(|(_, n)| n).sum::<usize>(),
        failed,
        "{by_class:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn results_can_be_consumed_as_they_complete() {
    let policy = Retrying::<u32, ApiError>::new()
        .classify()
        .wait(wait::none());
    // Item n takes 10 - n seconds: they complete in reverse.
    let stream = policy.batch_stream(0..10u32, 10, |n| {
        let n = *n;
        async move {
            tokio::time::sleep(secs(f64::from(10 - n))).await;
            Ok(n)
        }
    });
    let order: Vec<usize> = stream.map(|o| o.index).collect().await;
    assert_eq!(order, (0..10).rev().collect::<Vec<_>>());
}

#[tokio::test(start_paused = true)]
async fn dropping_the_batch_cancels_everything_in_flight() {
    let policy = Retrying::<u32, ApiError>::new()
        .classify()
        .wait(wait::none());
    let gauge = Gauge::default();
    let started = AtomicU32::new(0);
    let batch = policy.batch(0..100u32, 8, |n| {
        started.fetch_add(1, Ordering::SeqCst);
        let n = *n;
        let gauge = &gauge;
        async move {
            gauge
                .during(async {
                    tokio::time::sleep(secs(10.0)).await;
                    Ok(n)
                })
                .await
        }
    });
    let cut = tokio::time::timeout(secs(15.0), batch).await;
    assert!(cut.is_err(), "cut short");
    // The futures were dropped mid-sleep: nothing is in flight any more
    // (the gauge's decrement never ran, so it still counts the 8 cut).
    assert_eq!(
        started.load(Ordering::SeqCst),
        16,
        "two rounds of 8 started"
    );
    tokio::time::sleep(secs(100.0)).await;
    assert_eq!(
        started.load(Ordering::SeqCst),
        16,
        "nothing runs after the drop"
    );
}

static SHARED: Budget = Budget::new(0.0, 1);

#[tokio::test(start_paused = true)]
async fn a_budget_is_shared_by_all_items() {
    let policy = Retrying::<u32, ApiError>::new()
        .classify()
        .attempts(5)
        .wait(wait::none())
        .budget(&SHARED);
    let calls = Mutex::new(0u32);
    let batch = policy
        .batch(0..50u32, 50, |_| {
            *calls.lock().unwrap() += 1;
            async { Err::<u32, _>(ApiError::status(503)) }
        })
        .await;
    // 50 first attempts, and the reserve of 10 retries over the window.
    assert_eq!(*calls.lock().unwrap(), 50 + 10);
    assert_eq!(batch.summary.failed, 50);
    assert_eq!(batch.summary.attempts, 60);
}

#[tokio::test(start_paused = true)]
async fn a_rejected_ok_counts_as_failed() {
    let policy = Retrying::<u32, ApiError>::new()
        .classify()
        .attempts(2)
        .wait(wait::none())
        .when_ok(|v| *v == 0);
    let batch = policy
        .batch(0..3u32, 2, |n| {
            let n = *n;
            async move { Ok(n) }
        })
        .await;
    assert!(batch.outcomes[0].rejected);
    assert_eq!(batch.outcomes[0].attempts, 2);
    assert_eq!(
        (batch.summary.first_try, batch.summary.failed),
        (2, 1),
        "the last `Ok` is returned, and counted as failed"
    );
}

static ITEMS_BREAKER: retry_runtime::CircuitBreaker =
    retry_runtime::CircuitBreaker::new().min_attempts(5);

#[tokio::test(start_paused = true)]
async fn a_breaker_is_shared_by_all_items() {
    let policy = Retrying::<u32, ApiError>::new()
        .classify()
        .attempts(3)
        .wait(wait::none())
        .breaker(&ITEMS_BREAKER);
    let calls = AtomicU32::new(0);
    let batch = policy
        .batch(0..20u32, 1, |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err::<u32, _>(ApiError::status(503)) }
        })
        .await;
    // One at a time: the fifth failed attempt opens it; every later attempt
    // (retries and other items alike) is refused.
    assert_eq!(calls.load(Ordering::SeqCst), 5);
    assert_eq!(batch.summary.failed, 20);
    let refused = batch.outcomes.iter().filter(|o| o.attempts == 0).count();
    assert_eq!(
        refused,
        20 - 2,
        "items 0 and 1 made attempts; the rest none"
    );
    assert_eq!(batch.outcomes[5].result, Err(ApiError::status(599)));
}

#[tokio::test]
async fn end_to_end_against_the_embedded_server() {
    use examples::fault_server::{FaultServer, Reply, Seen};
    use retry_runtime::http;

    // Each item's first attempt fails with a 503 when the item is a multiple
    // of 3 (counted per item, so that the interleaving of the clients does
    // not matter); multiples of 25 are not found.
    let tries: Mutex<std::collections::HashMap<u32, u32>> = Mutex::default();
    let server = FaultServer::start(move |seen: &Seen| {
        let item: u32 = String::from_utf8_lossy(&seen.body).parse().unwrap_or(0);
        let attempt = {
            let mut tries = tries.lock().unwrap();
            let n = tries.entry(item).or_insert(0);
            *n += 1;
            *n
        };
        if item.is_multiple_of(25) {
            Reply::status(404, "no such item")
        } else if item.is_multiple_of(3) && attempt == 1 {
            Reply::status(503, "busy")
        } else {
            Reply::status(200, (item * 3).to_string())
        }
    });
    let client = examples::http_client();
    let url = server.url("/items");
    let policy = Retrying::<u32, http::Error>::new()
        .classify()
        .attempts(6)
        .wait(wait::fixed(Duration::from_millis(5)));
    let batch = policy
        .batch(1..=100u32, 8, |item| {
            let request = client.post(&url).body(item.to_string());
            async move {
                let text = http::check(request.send().await?).await?.text().await?;
                Ok(text.parse().unwrap_or(0))
            }
        })
        .await;
    for o in &batch.outcomes {
        let item = o.index as u32 + 1;
        if item.is_multiple_of(25) {
            assert_eq!(o.result.as_ref().err().and_then(|e| e.status()), Some(404));
        } else {
            assert_eq!(o.result.as_ref().ok(), Some(&(item * 3)), "item {item}");
        }
    }
    assert_eq!(batch.summary.failed, 4);
    let retried = (1..=100u32)
        .filter(|i| i.is_multiple_of(3) && !i.is_multiple_of(25))
        .count();
    assert_eq!(batch.summary.after_retries, retried);
    assert_eq!(
        u64::from(server.requests()),
        batch.summary.attempts,
        "every attempt reached the server once"
    );
}

#[tokio::test(start_paused = true)]
async fn when_ok_runs_once_per_attempt() {
    static ASKED: AtomicU32 = AtomicU32::new(0);
    let policy = Retrying::<u32, ApiError>::new()
        .classify()
        .attempts(3)
        .wait(wait::fixed(secs(60.0)))
        .when_ok(|v| {
            ASKED.fetch_add(1, Ordering::SeqCst);
            *v == 0
        });
    // Every attempt takes 30 s; item 0 answers 0 (rejected) each time.
    let start = tokio::time::Instant::now();
    let batch = policy
        .batch(0..4u32, 4, |n| {
            let n = *n;
            async move {
                tokio::time::sleep(secs(30.0)).await;
                Ok(n)
            }
        })
        .await;
    // Item 0: three attempts of 30 s and two waits of a minute.
    assert_eq!(start.elapsed(), secs(210.0));
    assert_eq!(
        ASKED.load(Ordering::SeqCst),
        3 + 1 + 1 + 1,
        "the engine's decision is the only one"
    );
    let rejected: Vec<_> = batch
        .outcomes
        .iter()
        .map(|o| (o.rejected, o.attempts))
        .collect();
    assert_eq!(rejected, [(true, 3), (false, 1), (false, 1), (false, 1)]);
    let s = &batch.summary;
    assert_eq!((s.first_try, s.after_retries, s.failed), (3, 0, 1));
    assert_eq!(s.attempts, 6);
}

#[tokio::test(start_paused = true)]
async fn a_fickle_when_ok_is_not_asked_again() {
    // Rejects every other value it is shown: the engine's verdict on the
    // last attempt is the one the outcome reports.
    static SHOWN: AtomicU32 = AtomicU32::new(0);
    let policy = Retrying::<u32, ApiError>::new()
        .classify()
        .attempts(2)
        .wait(wait::fixed(secs(60.0)))
        .when_ok(|_| SHOWN.fetch_add(1, Ordering::SeqCst).is_multiple_of(2));
    let batch = policy
        .batch(0..1u32, 1, |n| {
            let n = *n;
            async move {
                tokio::time::sleep(secs(600.0)).await;
                Ok(n)
            }
        })
        .await;
    // Rejected, then accepted: a success after one retry.
    let o = &batch.outcomes[0];
    assert_eq!((&o.result, o.attempts, o.rejected), (&Ok(0), 2, false));
    let s = &batch.summary;
    assert_eq!((s.first_try, s.after_retries, s.failed), (0, 1, 0));
}

// Opens as soon as 60% of the last 30 s of attempts failed.
static LONG_ITEMS: retry_runtime::CircuitBreaker = retry_runtime::CircuitBreaker::new()
    .failure_ratio(0.6)
    .min_attempts(1)
    .window(Duration::from_secs(30))
    .open_for(Duration::from_secs(60));

#[tokio::test(start_paused = true)]
async fn a_long_item_is_counted_when_it_ends() {
    // Item 0's only attempt lasts 10 min and succeeds; then item 1 fails at
    // once. Counted where it ended, the success keeps the breaker closed
    // (1 failure in 2); counted where it started, it would have left the
    // window and the failure alone would open the breaker.
    let policy = Retrying::<u32, ApiError>::new()
        .classify()
        .attempts(1)
        .wait(wait::none())
        .breaker(&LONG_ITEMS);
    let start = tokio::time::Instant::now();
    let batch = policy
        .batch(0..2u32, 1, |n| {
            let n = *n;
            async move {
                if n == 1 {
                    return Err(ApiError::status(503));
                }
                tokio::time::sleep(secs(600.0)).await;
                Ok(n)
            }
        })
        .await;
    assert_eq!(start.elapsed(), secs(600.0));
    let s = &batch.summary;
    assert_eq!((s.first_try, s.failed), (1, 1));
    assert_eq!(LONG_ITEMS.state(), retry_runtime::BreakerState::Closed);
}

// Opens once two attempts in the last hour failed, all of them.
static REFUSES_RETRY: retry_runtime::CircuitBreaker = retry_runtime::CircuitBreaker::new()
    .failure_ratio(1.0)
    .min_attempts(2)
    .window(Duration::from_secs(3600))
    .open_for(Duration::from_secs(300));

#[tokio::test(start_paused = true)]
async fn a_refused_retry_does_not_ask_when_ok_again() {
    static ASKED: AtomicU32 = AtomicU32::new(0);
    let policy = Retrying::<u32, ApiError>::new()
        .classify()
        .attempts(2)
        .wait(wait::fixed(secs(60.0)))
        .breaker(&REFUSES_RETRY)
        .when_ok(|v| {
            ASKED.fetch_add(1, Ordering::SeqCst);
            *v == 0
        });
    // Item 0 answers 0 (rejected) after 10 min and waits a minute to retry;
    // item 1 fails after 10 min 30 s and opens the breaker, which refuses
    // item 0's retry when its wait ends.
    let start = tokio::time::Instant::now();
    let batch = policy
        .batch(0..2u32, 2, |n| {
            let n = *n;
            async move {
                if n == 1 {
                    tokio::time::sleep(secs(630.0)).await;
                    return Err(ApiError::status(503));
                }
                tokio::time::sleep(secs(600.0)).await;
                Ok(0)
            }
        })
        .await;
    assert_eq!(start.elapsed(), secs(660.0));
    assert_eq!(
        ASKED.load(Ordering::SeqCst),
        1,
        "asked once, for one attempt"
    );
    let o = &batch.outcomes[0];
    assert_eq!((&o.result, o.attempts, o.rejected), (&Ok(0), 1, true));
    let s = &batch.summary;
    assert_eq!((s.first_try, s.failed, s.attempts), (0, 2, 2));
}
