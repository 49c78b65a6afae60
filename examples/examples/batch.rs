//! A batch of 200 prompts against the embedded server, 16 at a time: some
//! prompts meet a 503 or a 429 on their first attempts (retried, each item on
//! its own), prompts marked "bad" get a 400 (not retried). Prints the items
//! that needed more than one attempt, then the summary, and checks it against
//! the script.
//!
//! The faults follow each prompt's own attempts, not the order in which the
//! 16 concurrent requests reach the server, so every run has the same
//! outcome.
//!
//! Run: `cargo run -p examples --example batch`

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use examples::fault_server::{FaultServer, Reply, Seen};
use retry_runtime::{Retrying, http, wait};
use serde_json::{Value, json};

const ITEMS: usize = 200;

/// Every 50th prompt is "bad": the server answers it with a 400.
fn is_bad(i: usize) -> bool {
    i % 50 == 49
}

/// The script: how prompt `i` fares on its attempt `n` (1-based).
fn reply_for(i: usize, n: u32) -> Reply {
    if is_bad(i) {
        Reply::status(400, r#"{"error":{"message":"bad prompt"}}"#)
    } else if (i % 13 == 6 && n <= 2) || (i % 7 == 3 && n == 1) {
        Reply::status(503, r#"{"error":{"message":"overloaded"}}"#)
    } else if i % 11 == 5 && n == 1 {
        Reply::status(429, r#"{"error":{"message":"slow down"}}"#).header("retry-after-ms", "50")
    } else {
        Reply::json(json!({"embedding": [i]}).to_string())
    }
}

/// Attempts the script makes prompt `i` take (the 400 is not retried).
fn attempts_for(i: usize) -> u32 {
    if is_bad(i) {
        1
    } else if i % 13 == 6 {
        3
    } else if i % 7 == 3 || i % 11 == 5 {
        2
    } else {
        1
    }
}

fn prompt(i: usize) -> String {
    if is_bad(i) {
        format!("bad prompt {i}")
    } else {
        format!("prompt {i}")
    }
}

fn server() -> FaultServer {
    let seen_per_prompt: Mutex<HashMap<usize, u32>> = Mutex::new(HashMap::new());
    FaultServer::start(move |seen: &Seen| {
        let body: Value = serde_json::from_slice(&seen.body).unwrap_or(Value::Null);
        let index = body["prompt"]
            .as_str()
            .and_then(|p| p.rsplit(' ').next())
            .and_then(|i| i.parse::<usize>().ok());
        let Some(i) = index else {
            return Reply::status(400, r#"{"error":{"message":"no prompt"}}"#);
        };
        let n = {
            let mut counts = seen_per_prompt.lock().unwrap();
            let n = counts.entry(i).or_insert(0);
            *n += 1;
            *n
        };
        reply_for(i, n)
    })
}

#[tokio::main]
async fn main() {
    let server = server();
    let client = examples::http_client();
    let url = server.url("/v1/embeddings");
    let prompts: Vec<String> = (0..ITEMS).map(prompt).collect();
    let policy = Retrying::<usize, http::Error>::new()
        .classify()
        .attempts(5)
        .wait(wait::exponential().initial(std::time::Duration::from_millis(20)))
        .name("batch_embeddings");
    let start = Instant::now();
    let batch = policy
        .batch(prompts, 16, |prompt| {
            let request = client
                .post(&url)
                .body(json!({"prompt": prompt}).to_string());
            async move {
                let answer: Value =
                    serde_json::from_str(&http::check(request.send().await?).await?.text().await?)
                        .map_err(|e| {
                            http::Error::new(retry_runtime::Class::Other, e.to_string())
                        })?;
                Ok(answer["embedding"][0].as_u64().unwrap_or(0) as usize)
            }
        })
        .await;
    for outcome in batch
        .outcomes
        .iter()
        .filter(|o| o.attempts > 1 || o.result.is_err())
        .take(12)
    {
        match &outcome.result {
            Ok(v) => println!(
                "  item {:>3}: ok ({v}) after {} attempts",
                outcome.index, outcome.attempts
            ),
            Err(e) => println!(
                "  item {:>3}: failed after {} attempt(s): {e}",
                outcome.index, outcome.attempts
            ),
        }
    }
    let s = &batch.summary;
    println!(
        "\n{} items in {:.2?}: {} first time, {} after retries, {} failed {:?}; {} attempts; the server saw {} requests",
        batch.outcomes.len(),
        start.elapsed(),
        s.first_try,
        s.after_retries,
        s.failed,
        s.failed_by_class,
        s.attempts,
        server.requests()
    );
    // One outcome per prompt, in order, each with the attempts the script
    // gives it; only the four bad prompts failed, each with its 400.
    assert_eq!(batch.outcomes.len(), ITEMS);
    for (i, o) in batch.outcomes.iter().enumerate() {
        assert_eq!(o.index, i);
        assert_eq!(o.attempts, attempts_for(i), "item {i}");
        match &o.result {
            Ok(v) => assert_eq!(*v, i, "item {i}"),
            Err(e) => assert!(is_bad(i), "item {i} failed: {e}"),
        }
    }
    let retried = (0..ITEMS)
        .filter(|&i| !is_bad(i) && attempts_for(i) > 1)
        .count();
    assert_eq!(
        (s.failed, s.after_retries, s.first_try),
        (4, retried, ITEMS - 4 - retried)
    );
    assert_eq!(
        s.failed_by_class,
        [(Some(retry_runtime::Class::Status(400)), 4)]
    );
    let attempts: u64 = (0..ITEMS).map(|i| u64::from(attempts_for(i))).sum();
    assert_eq!(s.attempts, attempts);
    assert_eq!(u64::from(server.requests()), attempts);
}
