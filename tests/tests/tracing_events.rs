//! Each retry decision emits one structured DEBUG event (silent unless
//! DEBUG is enabled for `retry_runtime`), and `#[tracing::instrument]`
//! composes with `#[retry]` in both orders.

use retry_runtime::retry;
use tests::{ApiError, Script};
use tracing::Level;
use tracing_subscriber::fmt::format::FmtSpan;

use tests::LogBuffer as Buffer;

fn capture(level: Level) -> (Buffer, tracing::subscriber::DefaultGuard) {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(level)
        .with_span_events(FmtSpan::NEW)
        .finish();
    (buffer, tracing::subscriber::set_default(subscriber))
}

fn lines_of(buffer: &Buffer) -> Vec<String> {
    buffer.lines()
}

#[retry(attempts = 3, wait = fixed(2s), name = "llm.chat")]
async fn chat(s: &Script<u32>, api_key: &str) -> Result<u32, ApiError> {
    let _ = api_key;
    s.next()
}

#[tokio::test(start_paused = true)]
async fn one_debug_event_per_decision_without_arguments() {
    let (buffer, _guard) = capture(Level::DEBUG);
    let s = Script::new([Err(ApiError::status(503)), Err(ApiError::connect())]);
    let _ = chat(&s, "sk-secret").await;

    let lines = lines_of(&buffer);
    assert_eq!(lines.len(), 3, "{lines:#?}");
    let retrying = &lines[0];
    for part in [
        "DEBUG",
        "retry_runtime",
        "retrying",
        "attempt=1",
        "retry.name=\"llm.chat\"",
        "class=Status(503)",
        "delay_ms=2000",
        "elapsed_ms=0",
        "error=api error: Status(503)",
    ] {
        assert!(retrying.contains(part), "{part} in {retrying}");
    }
    assert!(lines[1].contains("attempt=2") && lines[1].contains("class=Connect"));
    let giving_up = &lines[2];
    for part in [
        "giving up",
        "attempt=3",
        "elapsed_ms=4000",
        "reason=\"attempts used up\"",
    ] {
        assert!(giving_up.contains(part), "{part} in {giving_up}");
    }
    assert!(!giving_up.contains("delay_ms"), "{giving_up}");
    assert!(
        lines.iter().all(|l| !l.contains("sk-secret")),
        "arguments are never logged"
    );
}

#[tokio::test(start_paused = true)]
async fn silent_at_the_default_level() {
    let (buffer, _guard) = capture(Level::INFO);
    let s = Script::new([Err(ApiError::status(503)), Ok(1)]);
    assert_eq!(chat(&s, "k").await, Ok(1));
    assert_eq!(lines_of(&buffer), Vec::<String>::new());
}

#[tokio::test(start_paused = true)]
async fn an_error_without_display_is_logged_without_text() {
    #[derive(Clone, Debug)]
    struct Opaque;
    #[retry(attempts = 2, wait = none)]
    async fn call(s: &Script<u32, Opaque>) -> Result<u32, Opaque> {
        s.next()
    }
    let (buffer, _guard) = capture(Level::DEBUG);
    let _ = call(&Script::new([Err(Opaque)])).await;
    let lines = lines_of(&buffer);
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert!(!lines[0].contains("error="), "{}", lines[0]);
    assert!(!lines[0].contains("class="), "no class without Classify");
    assert!(
        lines[0].contains("elapsed_ms=0"),
        "with DEBUG on the clock is read even without a deadline"
    );
}

// `#[retry]` above `#[tracing::instrument]`: the span wraps the whole call,
// and every attempt and decision is inside it.
#[retry(attempts = 3, wait = fixed(1s))]
#[tracing::instrument(skip_all, name = "complete")]
async fn outer_retry(s: &Script<u32>) -> Result<u32, ApiError> {
    tracing::info!("attempt");
    s.next()
}

// `#[tracing::instrument]` above `#[retry]`: instrument expands first, so
// the body `#[retry]` repeats is already instrumented: one span per attempt.
#[tracing::instrument(skip_all, name = "complete")]
#[retry(attempts = 3, wait = fixed(1s))]
async fn outer_instrument(s: &Script<u32>) -> Result<u32, ApiError> {
    tracing::info!("attempt");
    s.next()
}

async fn spans_of(f: impl AsyncFnOnce(&Script<u32>) -> Result<u32, ApiError>) -> Vec<String> {
    let (buffer, _guard) = capture(Level::DEBUG);
    let s = Script::new([
        Err(ApiError::status(503)),
        Err(ApiError::status(503)),
        Ok(1),
    ]);
    assert_eq!(f(&s).await, Ok(1));
    lines_of(&buffer)
}

#[tokio::test(start_paused = true)]
async fn retry_above_instrument_groups_all_attempts_under_one_span() {
    let lines = spans_of(outer_retry).await;
    let new_spans = lines.iter().filter(|l| l.ends_with("new")).count();
    assert_eq!(new_spans, 1, "one span per call: {lines:#?}");
    let attempts: Vec<_> = lines.iter().filter(|l| l.ends_with("attempt")).collect();
    assert_eq!(attempts.len(), 3, "{lines:#?}");
    let decisions: Vec<_> = lines.iter().filter(|l| l.contains("retrying")).collect();
    assert_eq!(decisions.len(), 2, "{lines:#?}");
    for line in attempts.iter().chain(&decisions) {
        assert!(line.contains("complete: "), "inside the span: {line}");
    }
}

#[tokio::test(start_paused = true)]
async fn instrument_above_retry_opens_one_span_per_attempt() {
    let lines = spans_of(outer_instrument).await;
    let new_spans = lines.iter().filter(|l| l.ends_with("new")).count();
    assert_eq!(new_spans, 3, "one span per attempt: {lines:#?}");
    for line in lines.iter().filter(|l| l.ends_with("attempt")) {
        assert!(line.contains("complete: "), "inside its span: {line}");
    }
    for line in lines.iter().filter(|l| l.contains("retrying")) {
        assert!(!line.contains("complete: "), "between the spans: {line}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_key_in_the_url_is_never_logged() {
    use retry_runtime::http;
    #[retry(attempts = 2, wait = none, before_sleep = log, on_giveup = log)]
    async fn generate(client: &reqwest::Client, url: &str) -> Result<String, http::Error> {
        Ok(client.get(url).send().await?.text().await?)
    }
    // A closed port: the connection is refused, and reqwest's error text
    // carries the URL.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let client = examples::http_client();
    let url = format!("http://user:pw@127.0.0.1:{port}/v1/generate?key=SECRET-KEY&alt=sse");
    let (buffer, _guard) = capture(Level::DEBUG);
    let error = generate(&client, &url).await.unwrap_err();
    assert!(!error.to_string().contains("SECRET"), "{error}");
    // What `unwrap()` prints too.
    let debug = format!("{error:?}");
    assert!(
        debug.contains("127.0.0.1") && !debug.contains("SECRET") && !debug.contains(":pw@"),
        "{debug}"
    );
    let all = lines_of(&buffer);
    for line in &all {
        assert!(!line.contains("SECRET") && !line.contains(":pw@"), "{line}");
    }
    let ours: Vec<_> = all
        .iter()
        .filter(|l| l.contains(" retry_runtime"))
        .collect();
    assert_eq!(ours.len(), 4, "two events and two log lines: {ours:#?}");
    assert!(ours[0].contains("/v1/generate?[redacted]"), "{}", ours[0]);
}
