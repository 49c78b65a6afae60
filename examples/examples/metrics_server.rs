//! Serves Prometheus metrics on `http://127.0.0.1:9898/metrics` while a load
//! of flaky calls runs against the embedded fault server (a random 20% of
//! requests fail with a 503, 5% with a 429 and Retry-After, 5% drop the
//! connection). Scrape it while it runs:
//!
//! ```sh
//! cargo run -p examples --example metrics_server          # runs 30 s
//! curl -s http://127.0.0.1:9898/metrics | grep '^retry_'
//! ```
//!
//! `METRICS_PORT` and `RUN_SECONDS` change the port and the duration. At the
//! end it scrapes itself once and prints the `retry_` series.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use examples::fault_server::{FaultServer, Reply, Seen};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use retry_runtime::{http, retry, stats};

#[retry(
    name = "flaky_completion",
    attempts = 4,
    wait = exponential(initial = 20ms, max = 200ms),
    retry_after = honor(max = 1s),
)]
async fn complete(client: &reqwest::Client, url: &str) -> Result<String, http::Error> {
    let response = http::check(client.post(url).send().await?).await?;
    Ok(response.text().await?)
}

/// A tiny deterministic generator, so that no dependency is needed for it.
fn pick(counter: &AtomicU64) -> u64 {
    let n = counter.fetch_add(1, Ordering::Relaxed);
    n.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17) % 100
}

#[tokio::main]
async fn main() {
    let port: u16 = env_or("METRICS_PORT", 9898);
    let seconds: u64 = env_or("RUN_SECONDS", 30);
    PrometheusBuilder::new()
        .with_http_listener(([127, 0, 0, 1], port))
        // Buckets make `retry_sleep_seconds` a histogram (else a summary).
        .set_buckets_for_metric(
            Matcher::Full(retry_runtime::metrics::SLEEP.into()),
            &[0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0],
        )
        .expect("valid buckets")
        .install()
        .expect("the Prometheus exporter starts");
    retry_runtime::metrics::describe();

    let draws = AtomicU64::new(1);
    let server = FaultServer::start(move |_: &Seen| match pick(&draws) {
        0..20 => Reply::status(503, r#"{"error":{"message":"overloaded"}}"#),
        20..25 => Reply::status(429, r#"{"error":{"message":"slow down"}}"#)
            .header("retry-after-ms", "100"),
        25..30 => Reply::Drop,
        _ => Reply::json(r#"{"choices":[{"message":{"content":"ok"}}]}"#),
    });
    println!("metrics on http://127.0.0.1:{port}/metrics for {seconds} s");

    let client = examples::http_client();
    let url = server.url("/v1/chat/completions");
    let end = tokio::time::Instant::now() + Duration::from_secs(seconds);
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move {
                while tokio::time::Instant::now() < end {
                    let _ = complete(&client, &url).await;
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.unwrap();
    }

    let scrape = client
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .expect("the scrape answers");
    let body = scrape.text().await.unwrap();
    for line in body.lines().filter(|l| l.starts_with("retry_")) {
        println!("{line}");
    }
    if let Some(s) = stats::get("flaky_completion") {
        println!("\n{s}");
    }
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
