//! The attempt number inside the body: the headers the OpenAI and Anthropic
//! SDKs send on every attempt (`x-stainless-retry-count`, and one
//! `Idempotency-Key` for every attempt of a logical call), against the
//! embedded server, which fails the first two requests.
//!
//! ```sh
//! cargo run -p examples --example attempt_headers
//! ```

use examples::fault_server::{FaultServer, Reply, Seen};
use retry_runtime::{http, retry};

#[retry(attempts = 4, wait = exponential(initial = 50ms), attempt = a)]
async fn complete(
    client: &reqwest::Client,
    url: &str,
    prompt: &str,
) -> Result<String, http::Error> {
    println!("  attempt {} (retry {})", a.number(), a.retries());
    let response = client
        .post(url)
        .header("x-stainless-retry-count", a.retries().to_string())
        .header("idempotency-key", a.idempotency_key().to_string())
        .body(prompt.to_string())
        .send()
        .await?;
    Ok(http::check(response).await?.text().await?)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let server = FaultServer::start(|seen: &Seen| {
        println!(
            "    server: request {} with x-stainless-retry-count: {}, idempotency-key: {}",
            seen.number,
            seen.header("x-stainless-retry-count").unwrap_or("-"),
            seen.header("idempotency-key").unwrap_or("-"),
        );
        match seen.number {
            1 => Reply::status(503, "overloaded"),
            2 => Reply::status(429, "slow down").header("retry-after-ms", "100"),
            _ => Reply::status(200, "Hello!"),
        }
    });
    let client = examples::http_client();
    let url = server.url("/v1/chat/completions");
    for call in 1..=2 {
        println!("call {call}");
        let answer = complete(&client, &url, "Say hello.").await;
        println!("  => {answer:?}");
    }
}
