//! Retrying streams: every resume mode with a source that breaks at the
//! first, a middle and the last item; ordinary retries before the first
//! item; errors the rules do not retry; cancellation; and end to end with
//! reqwest against a real server-sent-events endpoint that dies midway.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use retry_runtime::stream::{Resume, Streamed};
use retry_runtime::{
    AdaptiveWindow, BreakerState, CircuitBreaker, Class, GiveUp, Retrying, stats, wait,
};
use tests::{ApiError, record, secs, take_seen};
use tokio::time::Instant;

const ITEMS: [u32; 5] = [1, 2, 3, 4, 5];

/// What the factory was told at each opening: (attempt, delivered, items).
type Opened = Arc<Mutex<Vec<(u32, u64, Vec<u32>)>>>;

/// What the scripted factory returns for one opening.
type Opening = std::future::Ready<
    Result<futures_util::stream::Iter<std::vec::IntoIter<Result<u32, ApiError>>>, ApiError>,
>;

/// A factory whose first stream yields the items before `break_at` and then
/// fails with `error`; later streams yield everything (or, in continue
/// mode, what follows the delivered items).
fn source(
    break_at: usize,
    error: ApiError,
    opened: Opened,
) -> impl FnMut(retry_runtime::stream::Resumed<'_, u32>) -> Opening {
    move |resumed| {
        opened.lock().unwrap().push((
            resumed.attempt,
            resumed.delivered,
            resumed.delivered_items.to_vec(),
        ));
        let from = resumed.delivered_items.len();
        let items: Vec<Result<u32, ApiError>> = if resumed.attempt == 1 {
            ITEMS[..break_at]
                .iter()
                .map(|n| Ok(*n))
                .chain([Err(error.clone())])
                .collect()
        } else {
            ITEMS[from..].iter().map(|n| Ok(*n)).collect()
        };
        std::future::ready(Ok(futures_util::stream::iter(items)))
    }
}

fn policy() -> Retrying<(), ApiError> {
    Retrying::new()
        .classify()
        .attempts(3)
        .wait(wait::fixed(secs(1.0)))
}

async fn collect(
    mode: Resume,
    break_at: usize,
) -> (
    Vec<Result<Streamed<u32>, ApiError>>,
    Vec<(u32, u64, Vec<u32>)>,
) {
    let opened: Opened = Arc::default();
    let policy = policy();
    let stream = policy.stream(mode, source(break_at, ApiError::connect(), opened.clone()));
    let out = stream.collect().await;
    let opened = opened.lock().unwrap().clone();
    (out, opened)
}

fn items(range: std::ops::RangeInclusive<u32>) -> Vec<Result<Streamed<u32>, ApiError>> {
    range.map(|n| Ok(Streamed::Item(n))).collect()
}

#[tokio::test(start_paused = true)]
async fn restart_announces_the_restart_and_starts_over() {
    for break_at in [0, 2, 4] {
        let start = Instant::now();
        let (out, opened) = collect(Resume::Restart, break_at).await;
        let mut expected = items(1..=break_at as u32);
        if break_at > 0 {
            expected.push(Ok(Streamed::Restarted {
                delivered: break_at as u64,
                attempt: 2,
            }));
        }
        expected.extend(items(1..=5));
        assert_eq!(out, expected, "break at {break_at}");
        assert_eq!(opened.len(), 2);
        assert_eq!(opened[1], (2, 0, vec![]), "restart keeps no items");
        assert_eq!(start.elapsed(), secs(1.0), "the policy's wait");
    }
}

#[tokio::test(start_paused = true)]
async fn skip_drops_what_was_delivered() {
    for break_at in [0, 2, 4] {
        let (out, opened) = collect(Resume::Skip, break_at).await;
        assert_eq!(out, items(1..=5), "break at {break_at}: each item once");
        assert_eq!(opened[1], (2, break_at as u64, vec![]));
    }
}

#[tokio::test(start_paused = true)]
async fn continue_hands_the_factory_what_was_delivered() {
    for break_at in [0, 2, 4] {
        let (out, opened) = collect(Resume::Continue, break_at).await;
        assert_eq!(out, items(1..=5), "break at {break_at}: each item once");
        let delivered: Vec<u32> = ITEMS[..break_at].to_vec();
        assert_eq!(opened[1], (2, break_at as u64, delivered));
    }
}

#[tokio::test(start_paused = true)]
async fn a_failure_to_open_is_an_ordinary_retry_and_the_rules_decide() {
    // Opening fails twice with a 503, then works.
    let tries = AtomicU32::new(0);
    let policy = policy();
    let stream = policy.stream(Resume::Skip, |_| {
        let n = tries.fetch_add(1, Ordering::SeqCst);
        std::future::ready(if n < 2 {
            Err(ApiError::status(503))
        } else {
            Ok(futures_util::stream::iter(ITEMS.map(Ok)))
        })
    });
    let out: Vec<_> = stream.collect().await;
    assert_eq!(out, items(1..=5));
    assert_eq!(tries.load(Ordering::SeqCst), 3);

    // A 400 is not retried: the stream ends with it, after what was delivered.
    let opened: Opened = Arc::default();
    let policy = policy.on_giveup(record);
    let _ = take_seen();
    let stream = policy.stream(
        Resume::Skip,
        source(2, ApiError::status(400), opened.clone()),
    );
    let out: Vec<_> = stream.collect().await;
    assert_eq!(out[..2], items(1..=2)[..]);
    assert_eq!(out[2], Err(ApiError::status(400)));
    assert_eq!(out.len(), 3);
    assert_eq!(opened.lock().unwrap().len(), 1);
    assert_eq!(take_seen()[0].reason, Some(GiveUp::NotRetryable));
}

#[tokio::test(start_paused = true)]
async fn the_attempts_run_out_over_the_whole_stream() {
    // Every stream breaks after one new item: three openings, then the error.
    let policy = policy();
    let stream = policy.stream(Resume::Continue, |resumed| {
        let next = resumed.delivered_items.len() as u32 + 1;
        std::future::ready(Ok::<_, ApiError>(futures_util::stream::iter([
            Ok(next),
            Err(ApiError::timeout()),
        ])))
    });
    let out: Vec<_> = stream.collect().await;
    let mut expected = items(1..=3);
    expected.push(Err(ApiError::timeout()));
    assert_eq!(out, expected);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_stream_cancels_everything() {
    struct Flag(Arc<AtomicBool>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let dropped = Arc::new(AtomicBool::new(false));
    let policy = policy();
    let flag = dropped.clone();
    let stream = policy.stream(Resume::Skip, move |_| {
        let guard = Flag(flag.clone());
        std::future::ready(Ok::<_, ApiError>(
            futures_util::stream::iter(ITEMS.map(Ok)).map(move |item| {
                let _ = &guard;
                item
            }),
        ))
    });
    let mut stream = Box::pin(stream);
    assert_eq!(stream.next().await, Some(Ok(Streamed::Item(1))));
    assert!(!dropped.load(Ordering::SeqCst));
    drop(stream);
    assert!(dropped.load(Ordering::SeqCst), "the source went with it");
}

#[tokio::test(start_paused = true)]
async fn a_named_stream_counts_as_one_call() {
    let opened: Opened = Arc::default();
    let policy = policy().name("streams.counted");
    let stream = policy.stream(Resume::Skip, source(3, ApiError::connect(), opened));
    let _: Vec<_> = stream.collect().await;
    let s = stats::get("streams.counted").unwrap();
    assert_eq!((s.calls, s.retries, s.succeeded_after_retries), (1, 1, 1));
}

mod end_to_end {
    use super::*;
    use examples::fault_server::{FaultServer, Seen};
    use examples::sse;
    use retry_runtime::http;
    use serde_json::{Value, json};

    const ANSWER: [&str; 8] = [
        "Retries", "that", "resume", "do", "not", "repeat", "the", "text",
    ];

    /// The first request is cut after 3 tokens; a request with `partial`
    /// gets the rest.
    fn server() -> FaultServer {
        FaultServer::start(|seen: &Seen| {
            let body: Value = serde_json::from_slice(&seen.body).unwrap_or(Value::Null);
            let already = body["partial"]
                .as_str()
                .unwrap_or_default()
                .split_whitespace()
                .count();
            let cut = (seen.number == 1).then_some(3);
            sse::reply(ANSWER.iter().skip(already).copied(), cut)
        })
    }

    async fn run(mode: Resume) -> (Vec<Streamed<String>>, u32) {
        let server = server();
        let client = examples::http_client();
        let url = server.url("/v1/chat/completions");
        let policy = Retrying::<(), http::Error>::new()
            .classify()
            .wait(wait::none());
        let stream = policy.stream(mode, |resumed| {
            let partial = resumed.delivered_items.join(" ");
            let request = client
                .post(&url)
                .body(json!({"partial": partial}).to_string());
            async move { Ok(sse::tokens(http::check(request.send().await?).await?)) }
        });
        let out: Vec<_> = stream
            .map(|item| item.expect("no error reaches the consumer"))
            .collect()
            .await;
        (out, server.requests())
    }

    fn tokens(from: usize) -> Vec<Streamed<String>> {
        ANSWER[from..]
            .iter()
            .map(|t| Streamed::Item(t.to_string()))
            .collect()
    }

    #[tokio::test]
    async fn continue_asks_for_the_rest() {
        let (out, requests) = run(Resume::Continue).await;
        assert_eq!(out, tokens(0));
        assert_eq!(requests, 2);
    }

    #[tokio::test]
    async fn skip_drops_the_replayed_start() {
        let (out, _) = run(Resume::Skip).await;
        assert_eq!(out, tokens(0));
    }

    #[tokio::test]
    async fn restart_says_so_in_the_stream() {
        let (out, _) = run(Resume::Restart).await;
        let mut expected = tokens(0)[..3].to_vec();
        expected.push(Streamed::Restarted {
            delivered: 3,
            attempt: 2,
        });
        expected.extend(tokens(0));
        assert_eq!(out, expected);
    }
}

#[tokio::test(start_paused = true)]
async fn a_break_after_the_last_item_is_retried_without_repeats() {
    // The source yields all five items, then fails instead of ending.
    let (out, opened) = collect(Resume::Skip, 5).await;
    assert_eq!(out, items(1..=5));
    assert_eq!(opened[1], (2, 5, vec![]));
    let (out, _) = collect(Resume::Continue, 5).await;
    assert_eq!(out, items(1..=5));
}

#[tokio::test(start_paused = true)]
async fn a_silent_source_times_out_between_items() {
    // The first stream sends two items and then nothing at all; the policy's
    // timeout is an idle limit, so the stream is opened again.
    let policy = Retrying::<(), ApiError>::new()
        .classify()
        .wait(wait::none())
        .timeout(secs(5.0))
        .before_sleep(record);
    let _ = take_seen();
    let start = Instant::now();
    let stream = policy.stream(Resume::Continue, |resumed| {
        let from = resumed.delivered_items.len();
        let first = resumed.attempt == 1;
        std::future::ready(Ok::<_, ApiError>(
            futures_util::stream::iter(ITEMS[from..].to_vec())
                .take(if first { 2 } else { 5 })
                .map(Ok)
                .chain(futures_util::stream::pending().take(if first { 1 } else { 0 })),
        ))
    });
    // Bounded: a stream whose idle limit is never armed waits for ever
    // (the paused clock then jumps to this limit, and the test fails).
    let out: Vec<_> = tokio::time::timeout(secs(60.0), stream.collect())
        .await
        .expect("the idle limit reopens the stream");
    assert_eq!(out, items(1..=5));
    assert_eq!(start.elapsed(), secs(5.0), "one idle limit");
    let seen = take_seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].class, Some(retry_runtime::Class::Timeout));
}

static STREAM_BREAKER: retry_runtime::CircuitBreaker = retry_runtime::CircuitBreaker::new()
    .min_attempts(2)
    .open_for(std::time::Duration::from_secs(60));

#[tokio::test(start_paused = true)]
async fn a_breaker_refuses_the_reopening_and_the_next_stream() {
    let policy = Retrying::<(), ApiError>::new()
        .classify()
        .attempts(5)
        .wait(wait::fixed(secs(1.0)))
        .breaker(&STREAM_BREAKER)
        .on_giveup(record);
    let _ = take_seen();
    // Two breaks open it: the third opening is refused after the sleep, and
    // the stream ends with the last error.
    let opened: Opened = Arc::default();
    let stream = policy.stream(Resume::Continue, |resumed| {
        opened
            .lock()
            .unwrap()
            .push((resumed.attempt, resumed.delivered, vec![]));
        let next = resumed.delivered_items.len() as u32 + 1;
        std::future::ready(Ok::<_, ApiError>(futures_util::stream::iter([
            Ok(next),
            Err(ApiError::connect()),
        ])))
    });
    let out: Vec<_> = stream.collect().await;
    let mut expected = items(1..=2);
    expected.push(Err(ApiError::connect()));
    assert_eq!(out, expected);
    assert_eq!(opened.lock().unwrap().len(), 2);
    assert_eq!(take_seen()[0].reason, Some(GiveUp::BreakerOpen));

    // Open: the next stream is refused before it opens, and says so.
    let stream = policy.stream(
        Resume::Skip,
        |_| -> std::future::Ready<
            Result<futures_util::stream::Empty<Result<u32, ApiError>>, ApiError>,
        > { panic!("not opened while the breaker is open") },
    );
    let out: Vec<_> = stream.collect().await;
    assert_eq!(out, vec![Err(ApiError::status(599))]);
    let seen = take_seen();
    assert_eq!(
        (seen[0].attempt, seen[0].reason),
        (0, Some(GiveUp::BreakerOpen))
    );
}

/// A source whose items arrive `every` apart on tokio's clock (an LLM's
/// answer takes seconds to minutes).
fn timed(
    every: Duration,
    items: Vec<Result<u32, ApiError>>,
) -> impl futures_util::Stream<Item = Result<u32, ApiError>> {
    futures_util::stream::iter(items).then(move |item| async move {
        tokio::time::sleep(every).await;
        item
    })
}

static LEFT_WAITING: AdaptiveWindow = AdaptiveWindow::new(10);
static LEFT_OPENING: AdaptiveWindow = AdaptiveWindow::new(10);

#[tokio::test(start_paused = true)]
async fn a_stream_dropped_before_it_reopens_records_no_success() {
    // Items every 30 s; the first stream breaks after two (at 1 min 30 s),
    // the policy waits 5 min, and opening again takes 1 min. The consumer
    // leaves during the wait (at 3 min), or during the opening (at 7 min).
    // The attempt that delivered items failed and the next one never
    // delivered any: no observer may hear of a success.
    for (name, window, leave_after, openings) in [
        ("streams.left_waiting", &LEFT_WAITING, secs(120.0), 1),
        ("streams.left_opening", &LEFT_OPENING, secs(360.0), 2),
    ] {
        let policy = Retrying::<(), ApiError>::new()
            .classify()
            .attempts(3)
            .wait(wait::fixed(secs(300.0)))
            .name(name)
            .window(window);
        let opened = AtomicU32::new(0);
        let start = Instant::now();
        let stream = policy.stream(Resume::Skip, |resumed| {
            opened.fetch_add(1, Ordering::SeqCst);
            let first = resumed.attempt == 1;
            async move {
                let items = if first {
                    vec![Ok(1), Ok(2), Err(ApiError::connect())]
                } else {
                    tokio::time::sleep(secs(60.0)).await;
                    ITEMS.map(Ok).to_vec()
                };
                Ok(timed(secs(30.0), items))
            }
        });
        let mut stream = Box::pin(stream);
        assert_eq!(stream.next().await, Some(Ok(Streamed::Item(1))));
        assert_eq!(stream.next().await, Some(Ok(Streamed::Item(2))));
        let left = tokio::time::timeout(leave_after, stream.next()).await;
        assert!(left.is_err(), "{name}: nothing came");
        drop(stream);
        assert_eq!(start.elapsed(), secs(60.0) + leave_after, "{name}");
        assert_eq!(opened.load(Ordering::SeqCst), openings, "{name}");
        assert_eq!(window.failure_ratio(), 1.0, "{name}: one failed attempt");
        let s = stats::get(name).unwrap();
        assert_eq!(
            (s.calls, s.succeeded_after_retries, s.retries),
            (0, 0, 0),
            "{name}: a call that never ended"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn skip_retries_a_replay_shorter_than_what_was_delivered() {
    // Items every 20 s. The first stream breaks after four items; the
    // second replays only two and ends (a different, shorter answer); the
    // third replays all five.
    let policy = Retrying::<(), ApiError>::new()
        .classify()
        .attempts(3)
        .wait(wait::fixed(secs(60.0)))
        .name("streams.short_replay")
        .before_sleep(record);
    let _ = take_seen();
    let start = Instant::now();
    let stream = policy.stream(Resume::Skip, |resumed| {
        let items = match resumed.attempt {
            1 => vec![Ok(1), Ok(2), Ok(3), Ok(4), Err(ApiError::connect())],
            2 => vec![Ok(1), Ok(2)],
            _ => ITEMS.map(Ok).to_vec(),
        };
        async move { Ok(timed(secs(20.0), items)) }
    });
    let out: Vec<_> = stream.collect().await;
    assert_eq!(out, items(1..=5), "nothing lost, nothing twice");
    // 100 s, the wait, 40 s, the wait, 100 s.
    assert_eq!(start.elapsed(), secs(360.0));
    let seen: Vec<_> = take_seen()
        .into_iter()
        .map(|s| (s.attempt, s.class, s.had_error, s.delay))
        .collect();
    assert_eq!(
        seen,
        [
            (1, Some(Class::Connect), true, secs(60.0)),
            (2, None, false, secs(60.0)),
        ],
        "the short replay is a failed attempt, without an error"
    );
    let s = stats::get("streams.short_replay").unwrap();
    assert_eq!((s.calls, s.retries, s.succeeded_after_retries), (1, 2, 1));
}

#[tokio::test(start_paused = true)]
async fn skip_says_the_answer_is_incomplete_when_no_replay_reaches_it() {
    // Four items were delivered; every replay has two and ends.
    let policy = Retrying::<(), ApiError>::new()
        .classify()
        .attempts(3)
        .wait(wait::fixed(secs(60.0)))
        .name("streams.incomplete")
        .on_giveup(record);
    let _ = take_seen();
    let start = Instant::now();
    let stream = policy.stream(Resume::Skip, |resumed| {
        let items = match resumed.attempt {
            1 => vec![Ok(1), Ok(2), Ok(3), Ok(4), Err(ApiError::connect())],
            _ => vec![Ok(1), Ok(2)],
        };
        async move { Ok(timed(secs(20.0), items)) }
    });
    let out: Vec<_> = stream.collect().await;
    let mut expected = items(1..=4);
    expected.push(Ok(Streamed::Incomplete {
        delivered: 4,
        replayed: 2,
    }));
    assert_eq!(out, expected, "the consumer is told, not handed 4 of 5");
    // 100 s, the wait, 40 s, the wait, 40 s.
    assert_eq!(start.elapsed(), secs(300.0));
    let seen: Vec<_> = take_seen()
        .into_iter()
        .map(|s| (s.attempt, s.had_error, s.reason))
        .collect();
    assert_eq!(seen, [(3, false, Some(GiveUp::Attempts))]);
    let s = stats::get("streams.incomplete").unwrap();
    assert_eq!((s.calls, s.retries, s.gave_up.attempts), (1, 2, 1));
}

// Opens as soon as 60% of the last 30 s of attempts failed.
static LONG_STREAMS: CircuitBreaker = CircuitBreaker::new()
    .failure_ratio(0.6)
    .min_attempts(1)
    .window(Duration::from_secs(30))
    .open_for(Duration::from_secs(60));

#[tokio::test(start_paused = true)]
async fn a_long_stream_is_counted_when_it_ends() {
    // A first attempt that lasts minutes counts where it ends: there, one
    // failure beside it is 1 in 2 and the breaker stays closed. Counted
    // where it started, it would have left the window, and that failure
    // alone would open the breaker.
    let policy = Retrying::<(), ApiError>::new()
        .classify()
        .attempts(1)
        .wait(wait::none())
        .breaker(&LONG_STREAMS);
    let one_failure = || policy.call(|| async { Err(ApiError::status(503)) });

    // Five items two minutes apart: the stream ends after 10 min.
    let start = Instant::now();
    let stream = policy.stream(Resume::Skip, |_| {
        std::future::ready(Ok(timed(secs(120.0), ITEMS.map(Ok).to_vec())))
    });
    let out: Vec<_> = stream.collect().await;
    assert_eq!(out, items(1..=5));
    assert_eq!(start.elapsed(), secs(600.0));
    assert_eq!(one_failure().await, Err(ApiError::status(503)));
    assert_eq!(LONG_STREAMS.state(), BreakerState::Closed);

    // The consumer leaves after three items (6 min): a good call, counted
    // when it leaves.
    LONG_STREAMS.reset();
    let start = Instant::now();
    let stream = policy.stream(Resume::Skip, |_| {
        std::future::ready(Ok(timed(secs(120.0), ITEMS.map(Ok).to_vec())))
    });
    let got: Vec<_> = stream.take(3).collect().await;
    assert_eq!(got, items(1..=3));
    assert_eq!(start.elapsed(), secs(360.0));
    assert_eq!(one_failure().await, Err(ApiError::status(503)));
    assert_eq!(LONG_STREAMS.state(), BreakerState::Closed);

    // The same failure alone opens it (the test's premise).
    LONG_STREAMS.reset();
    assert_eq!(one_failure().await, Err(ApiError::status(503)));
    assert_eq!(LONG_STREAMS.state(), BreakerState::Open);
}

// Opens at the first failure; half-open after 5 s.
static TRIAL_STREAMS: CircuitBreaker = CircuitBreaker::new()
    .failure_ratio(0.5)
    .min_attempts(1)
    .window(Duration::from_secs(300))
    .open_for(Duration::from_secs(5));

#[tokio::test(start_paused = true)]
async fn a_streams_trial_passes_at_its_first_item() {
    // After an outage, the half-open breaker's trial is a stream of a
    // minute (items 30 s apart). Its first item says the API answers: the
    // breaker closes then, and a call 1 s later goes through, rather than
    // being refused until the stream ends.
    let policy = Retrying::<(), ApiError>::new()
        .classify()
        .attempts(1)
        .wait(wait::none())
        .breaker(&TRIAL_STREAMS);
    assert_eq!(
        policy.call(|| async { Err(ApiError::status(503)) }).await,
        Err(ApiError::status(503))
    );
    assert_eq!(TRIAL_STREAMS.state(), BreakerState::Open);
    tokio::time::sleep(secs(5.0)).await;

    let start = Instant::now();
    let stream = policy.stream(Resume::Skip, |_| {
        std::future::ready(Ok(timed(secs(30.0), vec![Ok(1), Ok(2)])))
    });
    let beside = async {
        tokio::time::sleep(secs(10.0)).await;
        let during_the_wait = policy.call(|| async { Ok(()) }).await;
        assert_eq!(TRIAL_STREAMS.state(), BreakerState::HalfOpen);
        tokio::time::sleep(secs(21.0)).await;
        let after_the_first_item = policy.call(|| async { Ok(()) }).await;
        (during_the_wait, after_the_first_item, start.elapsed())
    };
    let (out, (during, after, at)) = tokio::join!(stream.collect::<Vec<_>>(), beside);
    assert_eq!(out, items(1..=2));
    assert_eq!(start.elapsed(), secs(60.0));
    assert_eq!(at, secs(31.0));
    assert_eq!(during, Err(ApiError::status(599)), "one trial at a time");
    assert_eq!(after, Ok(()), "closed at the first item (30 s)");
    assert_eq!(TRIAL_STREAMS.state(), BreakerState::Closed);

    // The trial's attempt goes on as an attempt of the closed breaker: a
    // break after its first item is a failure in the window, and opens it.
    TRIAL_STREAMS.reset();
    assert!(
        policy
            .call(|| async { Err(ApiError::status(503)) })
            .await
            .is_err()
    );
    tokio::time::sleep(secs(5.0)).await;
    let stream = policy.stream(Resume::Skip, |_| {
        std::future::ready(Ok(timed(secs(30.0), vec![Ok(1), Err(ApiError::connect())])))
    });
    let out: Vec<_> = stream.collect().await;
    assert_eq!(out, vec![Ok(Streamed::Item(1)), Err(ApiError::connect())]);
    assert_eq!(TRIAL_STREAMS.state(), BreakerState::Open);

    // The same when the break comes 1 s after the first item, in the slice
    // (30 s) where the trial closed the breaker: it still counts.
    tokio::time::sleep(secs(5.0)).await;
    let stream = policy.stream(Resume::Skip, |_| {
        std::future::ready(Ok(paced(vec![
            (secs(30.0), Ok(1)),
            (secs(1.0), Err(ApiError::connect())),
        ])))
    });
    let out: Vec<_> = stream.collect().await;
    assert_eq!(out, vec![Ok(Streamed::Item(1)), Err(ApiError::connect())]);
    assert_eq!(TRIAL_STREAMS.state(), BreakerState::Open);
}

/// A source whose items come each after its own delay.
fn paced(
    items: Vec<(Duration, Result<u32, ApiError>)>,
) -> impl futures_util::Stream<Item = Result<u32, ApiError>> {
    futures_util::stream::iter(items).then(|(after, item)| async move {
        tokio::time::sleep(after).await;
        item
    })
}

/// A breaker of the user's own, always half-open with one trial, that
/// keeps what it is told.
struct Told(Mutex<Vec<(bool, retry_runtime::Permit)>>);

impl retry_runtime::Breaker for Told {
    fn admit(&self, _: Duration) -> Option<retry_runtime::Permit> {
        Some(retry_runtime::Permit::Trial(7))
    }
    fn refuses_at(&self, _: Duration) -> bool {
        false
    }
    fn record(&self, _: Duration, failed: bool, permit: retry_runtime::Permit) {
        self.0.lock().unwrap().push((failed, permit));
    }
}

static TOLD: Told = Told(Mutex::new(Vec::new()));

#[tokio::test(start_paused = true)]
async fn a_streams_trial_is_told_its_first_item_once_then_its_end() {
    // A breaker whose `admit_closed` says nothing (the trait's default):
    // the trial hears of its first item once, not of each item, and of
    // its end with its own permit. A replayed item answers too: the
    // second attempt's trial is told at its first (skipped) item.
    let policy = Retrying::<(), ApiError>::new()
        .classify()
        .attempts(2)
        .wait(wait::none())
        .breaker(&TOLD);
    let opened = AtomicU32::new(0);
    let stream = policy.stream(Resume::Skip, |_| {
        let first = opened.fetch_add(1, Ordering::SeqCst) == 0;
        let items = if first {
            vec![Ok(1), Ok(2), Err(ApiError::connect())]
        } else {
            vec![Ok(1), Ok(2), Ok(3)]
        };
        std::future::ready(Ok(futures_util::stream::iter(items)))
    });
    let out: Vec<_> = stream.collect().await;
    assert_eq!(out, items(1..=3));
    let trial = retry_runtime::Permit::Trial(7);
    assert_eq!(
        *TOLD.0.lock().unwrap(),
        [
            (false, trial),
            (true, trial),
            (false, trial),
            (false, trial)
        ],
        "the first item, the break; the replay's first item, the end"
    );
}

/// The idle limit starts again with every item: items 4 s apart under a
/// 5 s timeout flow for 20 s without a break.
#[tokio::test(start_paused = true)]
async fn the_idle_limit_starts_again_with_every_item() {
    let policy = Retrying::<(), ApiError>::new()
        .classify()
        .attempts(1)
        .timeout(secs(5.0));
    let start = Instant::now();
    let stream = policy.stream(Resume::Continue, |_| {
        std::future::ready(Ok::<_, ApiError>(
            futures_util::stream::iter(ITEMS.to_vec()).then(|item| async move {
                tokio::time::sleep(secs(4.0)).await;
                Ok(item)
            }),
        ))
    });
    assert!(format!("{stream:?}").starts_with("RetryStream { mode: Continue"));
    let out: Vec<_> = stream.collect().await;
    assert_eq!(out, items(1..=5));
    assert_eq!(start.elapsed(), secs(20.0));
    assert_eq!(Streamed::Item(7).item(), Some(7));
    assert_eq!(
        Streamed::<u32>::Incomplete {
            delivered: 4,
            replayed: 2
        }
        .item(),
        None
    );
}
