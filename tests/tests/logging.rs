//! `before_sleep = log` and `on_giveup = log` emit `tracing` events: a
//! warning before a sleep, an error on giving up, and why.

use retry_runtime::retry;
use tests::{ApiError, Script, ms};

use tests::LogBuffer as Buffer;

#[retry(attempts = 2, wait = fixed(250ms), name = "llm.chat", before_sleep = log, on_giveup = log)]
async fn chat(s: &Script<u32>) -> Result<u32, ApiError> {
    s.next()
}

fn capture() -> (Buffer, tracing::subscriber::DefaultGuard) {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    (buffer, tracing::subscriber::set_default(subscriber))
}

fn lines_of(buffer: &Buffer) -> Vec<String> {
    buffer.lines()
}

#[tokio::test(start_paused = true)]
async fn log_hook_warns_before_a_sleep_and_errs_on_giving_up() {
    let (buffer, _guard) = capture();
    let s = Script::new([Err(ApiError::status(503).after(ms(400)))]);
    let _ = chat(&s).await;

    let lines = lines_of(&buffer);
    assert_eq!(lines.len(), 2, "{lines:#?}");
    let (first, last) = (&lines[0], &lines[1]);
    assert!(first.contains("WARN"), "{first}");
    assert!(
        first.contains("llm.chat: attempt 1 failed (api error: Status(503)), retrying in 400ms (the server asked for 400ms)"),
        "{first}"
    );
    assert!(first.contains("retry.name=\"llm.chat\""), "{first}");
    assert!(first.contains("class=Status(503)"), "{first}");
    assert!(first.contains("retry_after_ms=400"), "{first}");
    assert!(first.contains("delay_ms=400"), "{first}");
    assert!(first.contains("error=api error: Status(503)"), "{first}");
    assert!(last.contains("ERROR"), "{last}");
    assert!(
        last.contains(
            "llm.chat: giving up after 2 attempt(s): attempts used up: api error: Status(503)"
        ),
        "{last}"
    );
    assert!(last.contains("reason=\"attempts used up\""), "{last}");
}

#[retry(attempts = 5, wait = fixed(1s), before_sleep = log, on_giveup = log)]
async fn capped(s: &Script<u32>) -> Result<u32, ApiError> {
    s.next()
}

#[tokio::test(start_paused = true)]
async fn a_give_up_says_why() {
    let (buffer, _guard) = capture();
    let s = Script::new([Err(ApiError::status(429).after(ms(120_000)))]);
    let _ = capped(&s).await;
    let lines = lines_of(&buffer);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(
        lines[0]
            .contains("giving up after 1 attempt(s): the server asked for a delay above the cap"),
        "{}",
        lines[0]
    );
    assert!(lines[0].contains("retry_after_ms=120000"), "{}", lines[0]);

    let (buffer, _guard) = capture();
    let s = Script::new([Err(ApiError::other())]);
    let _ = capped(&s).await;
    let lines = lines_of(&buffer);
    assert!(lines[0].contains("not retryable"), "{}", lines[0]);
    assert!(lines[0].contains("class=Other"), "{}", lines[0]);
}

#[retry(attempts = 2, wait = none, when_ok = |v: &u32| *v == 0, before_sleep = log, on_giveup = log)]
async fn empty(s: &Script<u32>) -> Result<u32, ApiError> {
    s.next()
}

#[tokio::test(start_paused = true)]
async fn a_rejected_value_is_logged_without_a_class() {
    let (buffer, _guard) = capture();
    let s = Script::new([Ok(0)]);
    assert_eq!(empty(&s).await, Ok(0));
    let lines = lines_of(&buffer);
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert!(
        lines[0].contains("the value was rejected (when_ok)"),
        "{}",
        lines[0]
    );
    assert!(!lines[0].contains("class="), "{}", lines[0]);
}
