use retry_runtime::retry;
use std::sync::atomic::{AtomicU32, Ordering};

static CALLS: AtomicU32 = AtomicU32::new(0);

#[retry(attempts = 3, wait = fixed(1))]
async fn flaky(x: String, y: &str) -> std::io::Result<String> {
    if CALLS.fetch_add(1, Ordering::SeqCst) < 2 {
        return Err(std::io::ErrorKind::ConnectionReset.into());
    }
    Ok(format!("{x}{y}"))
}

#[tokio::test(start_paused = true)]
async fn smoke() {
    let start = tokio::time::Instant::now();
    assert_eq!(flaky("a".into(), "b").await.unwrap(), "ab");
    assert_eq!(start.elapsed(), std::time::Duration::from_secs(2));
}
