//! Pacing before the 429: `http::pace` holds the calls through a breaker
//! until the reset a response announced: against the real server, and in
//! the simulation of `examples/src/pacing.rs` (paused clock).

use std::time::Duration;

use examples::fault_server::{FaultServer, Reply};
use examples::pacing::{Seen, simulate};
use retry_runtime::{CircuitBreaker, Paced, http, retry};
use tests::{ApiError, Script, ms, secs};
use tokio::time::Instant;

/// A function paced through its own breaker (the tests run at once).
macro_rules! paced {
    ($name:ident, $breaker:ident) => {
        static $breaker: CircuitBreaker = CircuitBreaker::new();

        #[retry(attempts = 3, wait = fixed(10ms), breaker = $breaker)]
        async fn $name(client: &reqwest::Client, url: &str) -> Result<String, http::Error> {
            let response = client.get(url).send().await?;
            http::pace(&$breaker, response.headers());
            Ok(http::check(response).await?.text().await?)
        }
    };
}

paced!(complete, THROUGH);
paced!(complete_b, THROUGH_B);

fn used_up(reset: &str) -> Reply {
    Reply::status(200, "ok")
        .header("x-ratelimit-limit-requests", "60")
        .header("x-ratelimit-remaining-requests", "0")
        .header("x-ratelimit-reset-requests", reset)
}

// Real requests on the real clock (a paused clock would jump ahead while
// a request waits on its socket), with bounds far from the delays.

#[tokio::test]
async fn a_used_up_limit_holds_the_next_calls_until_its_reset() {
    let client = examples::http_client();
    let server = FaultServer::scripted([
        used_up("1s"),
        Reply::status(200, "second"),
        Reply::status(200, "third"),
    ]);
    let url = server.url("/v1/chat/completions");
    let start = Instant::now();
    assert_eq!(complete(&client, &url).await.unwrap(), "ok");
    assert!(
        start.elapsed() < ms(900),
        "the response that says so is not held"
    );
    // The next call waits for the reset instead of meeting a 429.
    let before = Instant::now();
    assert_eq!(complete(&client, &url).await.unwrap(), "second");
    let held = before.elapsed();
    assert!(held >= ms(600) && held < secs(5.0), "{held:?}");
    // After it, nothing holds.
    let before = Instant::now();
    assert_eq!(complete(&client, &url).await.unwrap(), "third");
    assert!(before.elapsed() < ms(900));
    assert_eq!(server.requests(), 3);
}

#[tokio::test]
async fn limits_that_are_not_used_up_or_hostile_hold_nothing() {
    let client = examples::http_client();
    for (i, reply) in [
        Reply::status(200, "ok")
            .header("x-ratelimit-remaining-requests", "3")
            .header("x-ratelimit-reset-requests", "2s"),
        Reply::status(200, "ok").header("x-ratelimit-remaining-requests", "0"),
        Reply::status(200, "ok")
            .header("x-ratelimit-remaining-requests", "-1")
            .header("x-ratelimit-reset-requests", "2s"),
        used_up("-2s"),
        used_up("99999h"),
        used_up("soon"),
    ]
    .into_iter()
    .enumerate()
    {
        let server = FaultServer::scripted([reply, Reply::status(200, "next")]);
        let url = server.url("/");
        complete_b(&client, &url).await.unwrap();
        let before = Instant::now();
        assert_eq!(complete_b(&client, &url).await.unwrap(), "next");
        assert!(before.elapsed() < ms(1500), "{i}: {:?}", before.elapsed());
    }
}

static CAPPED: CircuitBreaker = CircuitBreaker::new();

#[retry(attempts = 3, breaker = CAPPED)]
async fn capped(s: &Script<u32>) -> Result<u32, ApiError> {
    s.next()
}

#[tokio::test(start_paused = true)]
async fn a_pause_longer_than_the_retry_after_cap_is_cut_to_it() {
    // Ten minutes asked; `retry_after` honours up to 60 s by default.
    CAPPED.pause(Duration::from_secs(600));
    let s = Script::new([Ok(1), Ok(2)]);
    let before = Instant::now();
    assert_eq!(capped(&s).await, Ok(1));
    assert_eq!(before.elapsed(), secs(60.0));
    // Later calls wait out what is left of it.
    tokio::time::advance(secs(500.0)).await;
    let before = Instant::now();
    assert_eq!(capped(&s).await, Ok(2));
    assert_eq!(before.elapsed(), secs(40.0));
}

/// The simulations share the example's statics: one at a time.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn run(pacing: bool, rate: u32) -> Seen {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let rt = tests::paused_runtime();
    rt.block_on(simulate(pacing, rate, 20, 10))
}

#[test]
fn pacing_avoids_429s_just_above_the_limit() {
    // 11 calls a second for 20 s against 10 a second: each second, the
    // last call meets an exhausted limit.
    let off = run(false, 11);
    let on = run(true, 11);
    assert_eq!(
        (off.successes, on.successes),
        (220, 220),
        "every call succeeds"
    );
    assert_eq!((off.rate_limited, on.rate_limited), (220, 65));
    // At or below the limit neither meets one.
    assert_eq!(run(false, 10).rate_limited, 0);
    assert_eq!(run(true, 10).rate_limited, 0);
}

#[test]
fn far_above_the_limit_pacing_cannot_queue() {
    // 20 a second against 10: the held calls go together at each reset,
    // and those beyond the limit still meet a 429 (pacing holds, it does
    // not queue).
    let off = run(false, 20);
    let on = run(true, 20);
    assert!(on.rate_limited <= off.rate_limited, "{on:?} {off:?}");
    assert!(
        on.rate_limited > off.rate_limited * 9 / 10,
        "{on:?} {off:?}"
    );
}
