//! `RetryMiddleware` in a reqwest-middleware client, against the embedded
//! server: a 503, a 429 with `retry-after-ms` (which reqwest-retry would not
//! read), then an answer; the statistics the policy kept.
//!
//! ```sh
//! cargo run -p examples --example reqwest_middleware
//! ```

use examples::fault_server::{FaultServer, Reply, Seen};
use reqwest_middleware::ClientBuilder;
use retry_runtime::http::{self, middleware::RetryMiddleware};
use retry_runtime::{RetryState, Retrying, stats, wait};

fn trace(state: &RetryState<'_, http::Error>) {
    println!(
        "  attempt {} failed: {} -> sleeping {:?}",
        state.attempt,
        state.error.map_or(String::new(), ToString::to_string),
        state.delay
    );
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let server = FaultServer::start(|seen: &Seen| match seen.number {
        1 => Reply::status(503, "overloaded"),
        2 => Reply::status(429, "slow down").header("retry-after-ms", "250"),
        _ => Reply::status(200, r#"{"data":[{"id":"demo-model"}]}"#),
    });
    let policy = Retrying::new()
        .attempts(4)
        .wait(wait::exponential().initial(std::time::Duration::from_millis(100)))
        .classify()
        .name("models")
        .before_sleep(trace);
    let client = ClientBuilder::new(examples::http_client())
        .with(RetryMiddleware::new(policy))
        .build();
    println!("GET /v1/models through RetryMiddleware");
    let response = client.get(server.url("/v1/models")).send().await.unwrap();
    println!(
        "  => {} {}",
        response.status(),
        response.text().await.unwrap()
    );
    let s = stats::get("models").unwrap();
    println!(
        "  statistics: {} call, {} retries; the server saw {} requests",
        s.calls,
        s.retries,
        server.requests()
    );
}
