//! The demo: annotated LLM API calls against an embedded OpenAI-compatible
//! server that injects failures (rate limits with Retry-After, 5xx, dropped
//! connections, slow responses, empty completions). Prints each attempt and
//! ends with the statistics the library kept (`stats::snapshot()`).
//!
//! Run: `cargo run -p examples --example llm_demo`
//!
//! With `OPENAI_BASE_URL` (e.g. `https://api.openai.com/v1`) and
//! `OPENAI_API_KEY` set, it talks to that endpoint instead (`OPENAI_MODEL`
//! and `OPENAI_EMBEDDING_MODEL` pick the models). The key is only ever sent in
//! the `Authorization` header; it is never printed or logged.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use examples::fault_server::{FaultServer, Reply, Seen};
use retry_runtime::{Class, RetryState, http, retry, stats};
use serde_json::{Value, json};

/// Where the calls go.
struct Api {
    client: reqwest::Client,
    base: String,
    key: Option<String>,
    chat_model: String,
    embedding_model: String,
}

impl Api {
    async fn post(&self, path: &str, body: &Value) -> Result<Value, http::Error> {
        let mut request = self
            .client
            .post(format!("{}{path}", self.base))
            .json_body(body);
        if let Some(key) = &self.key {
            request = request.bearer_auth(key);
        }
        let response = http::check(request.send().await?).await?;
        let bytes = response.bytes().await?;
        // A complete answer that is not JSON will not get better by asking again.
        serde_json::from_slice(&bytes)
            .map_err(|e| http::Error::new(Class::Other, format!("the answer is not JSON: {e}")))
    }
}

trait JsonBody {
    fn json_body(self, body: &Value) -> Self;
}

impl JsonBody for reqwest::RequestBuilder {
    fn json_body(self, body: &Value) -> Self {
        self.header("content-type", "application/json")
            .body(body.to_string())
    }
}

/// One line per attempt that will be retried.
fn trace(state: &RetryState<'_, http::Error>) {
    let what = match state.error {
        Some(error) => error.to_string(),
        None => "the answer was empty".to_string(),
    };
    let class = state.class.map_or("-".to_string(), |c| format!("{c:?}"));
    let server = state
        .retry_after
        .map(|d| format!(", server asked for {d:?}"))
        .unwrap_or_default();
    println!(
        "    attempt {} failed at {:>8.2?}: {what} [class {class}{server}] -> sleeping {:.2?}",
        state.attempt, state.elapsed, state.delay
    );
}

fn gave_up(state: &RetryState<'_, http::Error>) {
    let class = state.class.map_or("-".to_string(), |c| format!("{c:?}"));
    let reason = state.reason.map_or("-".to_string(), |r| format!("{r:?}"));
    println!(
        "    giving up after attempt {} ({:.2?}) [class {class}, reason {reason}]",
        state.attempt, state.elapsed
    );
}

/// A chat completion: connection failures, timeouts and 5xx get 6 attempts
/// with exponential backoff; rate limits 4 attempts with a fixed wait (or the
/// server's Retry-After when longer); everything else fails at once.
#[retry(
    name = "chat",
    attempts = 6,
    deadline = 20s,
    wait = exponential(initial = 200ms, max = 2s),
    timeout = 1s,
    on = [Connect, Timeout, ServerError, RateLimited => (attempts = 4, wait = fixed(500ms))],
    never = [Status(400 | 401 | 403 | 404)],
    retry_after = honor(max = 5s),
    before_sleep = trace,
    on_giveup = gave_up,
)]
async fn chat(api: &Api, prompt: &str) -> Result<String, http::Error> {
    let body = json!({
        "model": api.chat_model,
        "messages": [{"role": "user", "content": prompt}],
    });
    let answer = api.post("/chat/completions", &body).await?;
    content(&answer)
}

/// A summary through a provider that speaks its own dialect: an overloaded
/// server (Anthropic's 529), a rate limit whose delay is in the body
/// ("Please try again in 300ms."), then an account out of credits
/// (`insufficient_quota`: class `Quota`, not retried: a person must act).
#[retry(
    name = "summarize",
    attempts = 5,
    deadline = 20s,
    wait = exponential(initial = 100ms, max = 1s),
    before_sleep = trace,
    on_giveup = gave_up,
)]
async fn summarize(api: &Api, text: &str) -> Result<String, http::Error> {
    chat_once(api, &format!("Summarize: {text}")).await
}

/// The text of a chat completion; an answer without `choices` is an
/// application failure of class `Other` (not retried).
fn content(answer: &Value) -> Result<String, http::Error> {
    answer["choices"][0]["message"]["content"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| http::Error::new(Class::Other, "the completion has no choices"))
}

/// Embeddings: the defaults (transient failures) with equal jitter.
#[retry(
    name = "embeddings",
    attempts = 4,
    deadline = 20s,
    wait = exponential(initial = 150ms, max = 1s, jitter = equal),
    before_sleep = trace,
    on_giveup = gave_up,
)]
async fn embed(api: &Api, text: &str) -> Result<usize, http::Error> {
    let body = json!({"model": api.embedding_model, "input": text});
    let answer = api.post("/embeddings", &body).await?;
    answer["data"][0]["embedding"]
        .as_array()
        .map(Vec::len)
        .ok_or_else(|| http::Error::new(Class::Other, "the answer has no embedding"))
}

/// A completion whose empty answers are retried (`when_ok`).
#[retry(
    name = "haiku",
    attempts = 4,
    deadline = 20s,
    wait = fixed(300ms),
    when_ok = |answer: &String| answer.trim().is_empty(),
    before_sleep = trace,
    on_giveup = gave_up,
)]
async fn haiku(api: &Api, topic: &str) -> Result<String, http::Error> {
    chat_once(api, &format!("Write a haiku about {topic}.")).await
}

async fn chat_once(api: &Api, prompt: &str) -> Result<String, http::Error> {
    let body = json!({"model": api.chat_model, "messages": [{"role": "user", "content": prompt}]});
    let answer = api.post("/chat/completions", &body).await?;
    content(&answer)
}

fn completion(text: &str) -> Reply {
    Reply::json(
        json!({
            "id": "chatcmpl-demo",
            "object": "chat.completion",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        })
        .to_string(),
    )
}

/// The embedded server: each scenario's failures, in order, then success.
fn embedded_server() -> FaultServer {
    let chat = AtomicU32::new(0);
    let haiku = AtomicU32::new(0);
    let summary = AtomicU32::new(0);
    let embeddings = AtomicU32::new(0);
    FaultServer::start(move |seen: &Seen| {
        let body: Value = serde_json::from_slice(&seen.body).unwrap_or(Value::Null);
        let prompt = body["messages"][0]["content"].as_str().unwrap_or_default();
        match seen.path.as_str() {
            "/v1/chat/completions" if prompt.contains("haiku") => {
                match haiku.fetch_add(1, Ordering::SeqCst) {
                    0 | 1 => completion(""),
                    _ => completion(
                        "Backoff doubles—\nthe server catches its breath;\nthird try, a reply.",
                    ),
                }
            }
            "/v1/chat/completions" if prompt.starts_with("Summarize") => {
                match summary.fetch_add(1, Ordering::SeqCst) {
                    0 => Reply::status(
                        529,
                        r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
                    ),
                    1 => Reply::status(
                        429,
                        r#"{"error":{"message":"Rate limit reached for demo-model on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 300ms.","type":"requests","code":"rate_limit_exceeded"}}"#,
                    ),
                    _ => Reply::status(
                        429,
                        r#"{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","code":"insufficient_quota"}}"#,
                    ),
                }
            }
            "/v1/chat/completions" => match chat.fetch_add(1, Ordering::SeqCst) {
                0 => Reply::status(
                    429,
                    r#"{"error":{"message":"Rate limit reached","type":"requests"}}"#,
                )
                .header("retry-after-ms", "700"),
                1 => Reply::Drop,
                2 => Reply::status(
                    503,
                    r#"{"error":{"message":"The engine is currently overloaded"}}"#,
                ),
                3 => completion("(too slow)").after(Duration::from_millis(2500)),
                _ => completion(
                    "Hello! Retries handled: rate limit, dropped connection, 503, timeout.",
                ),
            },
            "/v1/embeddings" => match embeddings.fetch_add(1, Ordering::SeqCst) {
                0 => Reply::status(502, "<html>Bad Gateway</html>"),
                _ => Reply::json(
                    json!({"data": [{"embedding": vec![0.01; 1536], "index": 0}]}).to_string(),
                ),
            },
            _ => Reply::status(404, r#"{"error":{"message":"unknown route"}}"#),
        }
    })
}

/// `scheme://host[:port]/path` without any user or password.
fn redact(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
            format!("{scheme}://{rest}")
        }
        None => "(unparsable URL)".to_string(),
    }
}

async fn run<T: std::fmt::Debug>(
    title: &str,
    call: impl std::future::Future<Output = Result<T, http::Error>>,
) {
    println!("\n{title}");
    let start = Instant::now();
    let outcome = call.await;
    let took = start.elapsed();
    let shown = match &outcome {
        Ok(value) => format!("ok: {value:?}"),
        Err(error) => format!("error: {error}"),
    };
    println!("  => {shown} (in {took:.2?})");
}

#[tokio::main]
async fn main() {
    let base = std::env::var("OPENAI_BASE_URL")
        .ok()
        .filter(|s| !s.is_empty());
    let key = std::env::var("OPENAI_API_KEY")
        .ok()
        .filter(|s| !s.is_empty());
    let (api, server) = match (base, key) {
        (Some(base), Some(key)) => {
            println!("Using the endpoint {}", redact(&base));
            let api = Api {
                client: examples::http_client(),
                base: base.trim_end_matches('/').to_string(),
                key: Some(key),
                chat_model: std::env::var("OPENAI_MODEL").unwrap_or_else(|_| "gpt-4o-mini".into()),
                embedding_model: std::env::var("OPENAI_EMBEDDING_MODEL")
                    .unwrap_or_else(|_| "text-embedding-3-small".into()),
            };
            (api, None)
        }
        _ => {
            let server = embedded_server();
            println!(
                "Embedded OpenAI-compatible server on {} (set OPENAI_BASE_URL and OPENAI_API_KEY to use a real one)",
                server.addr()
            );
            let api = Api {
                client: examples::http_client(),
                base: server.url("/v1"),
                key: None,
                chat_model: "demo-model".into(),
                embedding_model: "demo-embedding".into(),
            };
            (api, Some(server))
        }
    };

    // The headings say which faults the embedded server injects; a real
    // endpoint injects none on purpose.
    let injected = server.is_some();
    let heading = |name: &str, faults: &str| {
        if injected {
            format!("{name}: {faults}")
        } else {
            format!("{name}: against the real endpoint")
        }
    };
    run(
        &heading(
            "chat",
            "a 429 with retry-after-ms, a dropped connection, a 503, a reply slower than the 1s timeout",
        ),
        chat(&api, "Say hello in one sentence."),
    )
    .await;
    run(
        &heading("embeddings", "a 502 from the gateway"),
        embed(&api, "retry budgets"),
    )
    .await;
    run(
        &heading("haiku", "empty completions are rejected by when_ok"),
        haiku(&api, "retries"),
    )
    .await;

    run(
        &heading(
            "summarize",
            "an overloaded 529, a 429 whose delay is in the body, then an account out of credits",
        ),
        summarize(&api, "retries in production"),
    )
    .await;

    // The library's own statistics (`retry_runtime::stats`).
    println!("\nStatistics");
    println!(
        "  {:<12} {:>5} {:>9} {:>7} {:>8} {:>12} {:>9} {:>6}",
        "function", "calls", "first try", "retries", "failures", "retries/call", "failed", "quota"
    );
    for s in stats::snapshot() {
        println!(
            "  {:<12} {:>5} {:>9} {:>7} {:>8} {:>12.2} {:>8.0}% {:>6}",
            s.name,
            s.calls,
            s.first_try_successes,
            s.retries,
            s.failures,
            s.avg_retries(),
            s.failure_rate() * 100.0,
            s.quota
        );
    }
    if let Some(server) = server {
        println!("\n  requests the server received: {}", server.requests());
    }
}
