//! A batch of 200 prompts against the embedded server, 16 at a time: some
//! requests fail with 503 or 429 (retried, each item on its own), prompts
//! marked "bad" get a 400 (not retried). Prints every item's outcome as it
//! completes, then the summary in input order.
//!
//! Run: `cargo run -p examples --example batch`

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use examples::fault_server::{FaultServer, Reply, Seen};
use retry_runtime::{Retrying, http, wait};
use serde_json::{Value, json};

fn server() -> FaultServer {
    let n = AtomicU32::new(0);
    FaultServer::start(move |seen: &Seen| {
        let body: Value = serde_json::from_slice(&seen.body).unwrap_or(Value::Null);
        let prompt = body["prompt"].as_str().unwrap_or_default();
        let k = n.fetch_add(1, Ordering::SeqCst);
        if prompt.contains("bad") {
            Reply::status(400, r#"{"error":{"message":"bad prompt"}}"#)
        } else if k % 7 == 3 {
            Reply::status(503, r#"{"error":{"message":"overloaded"}}"#)
        } else if k % 11 == 5 {
            Reply::status(429, r#"{"error":{"message":"slow down"}}"#)
                .header("retry-after-ms", "50")
        } else {
            Reply::json(json!({"embedding": [prompt.len()]}).to_string())
        }
    })
}

#[tokio::main]
async fn main() {
    let server = server();
    let client = examples::http_client();
    let url = server.url("/v1/embeddings");
    let prompts: Vec<String> = (0..200)
        .map(|i| {
            if i % 50 == 49 {
                format!("bad prompt {i}")
            } else {
                format!("prompt {i}")
            }
        })
        .collect();
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
    // One outcome per prompt, in order; only the four bad prompts failed.
    assert_eq!(batch.outcomes.len(), 200);
    assert!(batch.outcomes.iter().enumerate().all(|(i, o)| o.index == i));
    assert_eq!((s.failed, s.first_try + s.after_retries), (4, 196));
    assert_eq!(u64::from(server.requests()), s.attempts);
}
