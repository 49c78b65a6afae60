//! `before_sleep = log` and `on_giveup = log` emit `tracing` warnings.

use std::io::Write;
use std::sync::{Arc, Mutex};

use retry_runtime::retry;
use tests::{ApiError, Script};

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[retry(attempts = 2, wait = fixed(250ms), name = "llm.chat", before_sleep = log, on_giveup = log)]
async fn chat(s: &Script<u32>) -> Result<u32, ApiError> {
    s.next()
}

#[tokio::test(start_paused = true)]
async fn log_hook_writes_warnings() {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let s = Script::new([Err(ApiError::status(503))]);
    let _ = chat(&s).await;

    let out = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[0].contains("WARN"), "{out}");
    assert!(
        lines[0].contains("attempt 1 failed, retrying in 250ms"),
        "{out}"
    );
    assert!(lines[0].contains("retry.name=\"llm.chat\""), "{out}");
    assert!(lines[0].contains("class=Some(Status(503))"), "{out}");
    assert!(lines[0].contains("error=api error: Status(503)"), "{out}");
    assert!(lines[1].contains("giving up after 2 attempt(s)"), "{out}");
}
