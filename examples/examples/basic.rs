//! The attribute on an async and a plain function.
//!
//! Run: `cargo run -p examples --example basic`

use std::io;
use std::sync::atomic::{AtomicU32, Ordering};

use retry_runtime::{RetryState, retry};

static FETCHES: AtomicU32 = AtomicU32::new(0);
static READS: AtomicU32 = AtomicU32::new(0);

fn report(state: &RetryState<'_, io::Error>) {
    println!(
        "  {}: attempt {} failed ({}), retrying in {:?}",
        state.name,
        state.attempt,
        state.error.map(|e| e.to_string()).unwrap_or_default(),
        state.delay
    );
}

/// Fails twice with a connection reset, then answers.
#[retry(attempts = 4, wait = exponential(initial = 100ms, max = 1s, jitter = none), before_sleep = report)]
async fn fetch(url: &str) -> io::Result<String> {
    if FETCHES.fetch_add(1, Ordering::SeqCst) < 2 {
        return Err(io::Error::new(
            io::ErrorKind::ConnectionReset,
            "connection reset by peer",
        ));
    }
    Ok(format!("200 OK from {url}"))
}

/// A plain `fn` sleeps with `std::thread::sleep`; `NotFound` is not transient,
/// so it is returned at once.
#[retry(attempts = 3, wait = fixed(50ms), before_sleep = report, on_giveup = |s| println!("  giving up after {} attempt(s)", s.attempt))]
fn read_config(path: &str) -> io::Result<String> {
    READS.fetch_add(1, Ordering::SeqCst);
    Err(io::Error::new(
        io::ErrorKind::NotFound,
        format!("{path} not found"),
    ))
}

#[tokio::main]
async fn main() {
    println!("fetch (async, retried on a connection reset):");
    let body = fetch("http://127.0.0.1/health")
        .await
        .expect("third attempt succeeds");
    println!(
        "  -> {body} after {} attempts",
        FETCHES.load(Ordering::SeqCst)
    );

    println!("read_config (blocking, NotFound is not retried):");
    let err = read_config("/etc/app.toml").unwrap_err();
    println!(
        "  -> {err} after {} attempt(s)",
        READS.load(Ordering::SeqCst)
    );
}
