//! End to end: a real Prometheus exporter listening on 127.0.0.1, calls of
//! an annotated function, and a scrape over HTTP. Installing the exporter
//! is process-wide, so it has this test binary to itself.

use std::net::TcpListener;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use retry_runtime::retry;
use tests::{ApiError, Script};

#[retry(attempts = 3, wait = fixed(5ms), name = "prom.call")]
async fn call(s: &Script<u32>) -> Result<u32, ApiError> {
    s.next()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scrape_finds_the_series() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    PrometheusBuilder::new()
        .with_http_listener(([127, 0, 0, 1], port))
        .set_buckets_for_metric(
            Matcher::Full(retry_runtime::metrics::SLEEP.into()),
            &[0.001, 0.01, 0.1, 1.0],
        )
        .unwrap()
        .install()
        .unwrap();
    retry_runtime::metrics::describe();

    call(&Script::new([Ok(1)])).await.unwrap();
    let flaky = [Err(ApiError::status(502)), Err(ApiError::connect()), Ok(2)];
    call(&Script::new(flaky)).await.unwrap();
    call(&Script::new([Err(ApiError::status(404))]))
        .await
        .unwrap_err();

    let url = format!("http://127.0.0.1:{port}/metrics");
    let client = examples::http_client();
    let mut body = String::new();
    // The listener starts in the background: try for a while.
    for _ in 0..100 {
        match client.get(&url).send().await {
            Ok(response) if response.status().is_success() => {
                body = response.text().await.unwrap();
                break;
            }
            _ => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
        }
    }
    for series in [
        "retry_calls_total{function=\"prom.call\",outcome=\"success_first_try\"} 1",
        "retry_calls_total{function=\"prom.call\",outcome=\"success_after_retry\"} 1",
        "retry_calls_total{function=\"prom.call\",outcome=\"failure_no_retry\"} 1",
        "retry_attempts_total{function=\"prom.call\"} 5",
        "retry_retries_total{function=\"prom.call\",class=\"server_error\"} 1",
        "retry_retries_total{function=\"prom.call\",class=\"connect\"} 1",
        "retry_gave_up_total{function=\"prom.call\",reason=\"not_retryable\"} 1",
        "retry_sleep_seconds_count{function=\"prom.call\"} 2",
        "retry_sleep_seconds_bucket{function=\"prom.call\",le=\"0.01\"} 2",
        "# TYPE retry_calls_total counter",
        "# HELP retry_calls_total Calls of retrying functions, by outcome",
    ] {
        assert!(body.contains(series), "{series} not in:\n{body}");
    }
}
