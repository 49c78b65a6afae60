//! `attempt = a`: the running attempt inside the body (its 1-based number,
//! one idempotency key per call), in the attribute and the builder; sent as
//! the SDKs' headers to the real server.

use std::sync::{Arc, Mutex};

use examples::fault_server::{FaultServer, Reply, Seen};
use retry_runtime::{Attempt, CircuitBreaker, Retrying, http, retry, wait};
use tests::{ApiError, Script};

#[retry(attempts = 4, wait = none, attempt = a)]
async fn numbered(s: &Script<u32>, seen: &Mutex<Vec<Attempt>>) -> Result<u32, ApiError> {
    seen.lock().unwrap().push(a);
    s.next()
}

#[tokio::test]
async fn every_attempt_has_its_number_and_the_calls_key() {
    let seen = Mutex::new(Vec::new());
    let s = Script::new([Err(ApiError::status(503)), Err(ApiError::connect()), Ok(7)]);
    assert_eq!(numbered(&s, &seen).await, Ok(7));
    let first_call = std::mem::take(&mut *seen.lock().unwrap());
    let numbers: Vec<u32> = first_call.iter().map(Attempt::number).collect();
    assert_eq!(numbers, [1, 2, 3]);
    let retries: Vec<u32> = first_call.iter().map(Attempt::retries).collect();
    assert_eq!(retries, [0, 1, 2]);
    let key = first_call[0].idempotency_key();
    assert!(first_call.iter().all(|a| a.idempotency_key() == key));
    // Another call, another key.
    numbered(&Script::new([Ok(1)]), &seen).await.unwrap();
    assert_ne!(seen.lock().unwrap()[0].idempotency_key(), key);
}

static SHUT: CircuitBreaker = CircuitBreaker::new().min_attempts(1).failure_ratio(1.0);

/// A plain `fn`, a method and a name that shadows nothing of the caller's.
struct Api;

impl Api {
    #[retry(attempts = 3, wait = none, attempt = attempt, breaker = SHUT)]
    fn send(&self, log: &mut Vec<u32>) -> std::io::Result<u32> {
        log.push(attempt.number());
        Err(std::io::ErrorKind::ConnectionReset.into())
    }
}

#[test]
fn refused_attempts_do_not_run_the_body_nor_take_a_number() {
    let mut log = Vec::new();
    // The first failure opens the breaker: the retry is refused.
    Api.send(&mut log).unwrap_err();
    assert_eq!(log, [1]);
}

#[tokio::test]
async fn the_builder_gives_each_attempt_too() {
    let policy = Retrying::<u32, std::io::Error>::new()
        .attempts(3)
        .wait(wait::none());
    let seen = Mutex::new(Vec::new());
    let n = policy
        .call_with(|a| {
            seen.lock().unwrap().push(a);
            async move {
                if a.is_retry() {
                    Ok(a.number())
                } else {
                    Err(std::io::ErrorKind::TimedOut.into())
                }
            }
        })
        .await
        .unwrap();
    assert_eq!(n, 2);
    let seen = seen.into_inner().unwrap();
    assert_eq!(seen[0].idempotency_key(), seen[1].idempotency_key());
    let blocking = policy.call_blocking_with(|a| Ok(a.number()));
    assert_eq!(blocking.unwrap(), 1);
}

/// The two headers the OpenAI and Anthropic SDKs send.
#[retry(attempts = 3, wait = none, attempt = a)]
async fn complete(client: &reqwest::Client, url: &str) -> Result<String, http::Error> {
    let response = client
        .post(url)
        .header("x-stainless-retry-count", a.retries().to_string())
        .header("idempotency-key", a.idempotency_key().to_string())
        .send()
        .await?;
    Ok(http::check(response).await?.text().await?)
}

#[tokio::test]
async fn the_server_sees_the_retry_count_and_one_idempotency_key() {
    let headers: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let kept = headers.clone();
    let server = FaultServer::start(move |seen: &Seen| {
        let count = seen.header("x-stainless-retry-count").unwrap_or("-");
        let key = seen.header("idempotency-key").unwrap_or("-");
        kept.lock()
            .unwrap()
            .push((count.to_string(), key.to_string()));
        if seen.number < 3 {
            Reply::status(503, "busy")
        } else {
            Reply::status(200, "ok")
        }
    });
    let client = examples::http_client();
    assert_eq!(
        complete(&client, &server.url("/v1/chat/completions"))
            .await
            .unwrap(),
        "ok"
    );
    let headers = headers.lock().unwrap().clone();
    let counts: Vec<&str> = headers.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(counts, ["0", "1", "2"]);
    assert_eq!(headers[0].1.len(), 32);
    assert!(headers.iter().all(|(_, k)| *k == headers[0].1));
}
