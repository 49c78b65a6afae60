//! A streamed completion that breaks midway, resumed three ways. The
//! embedded server streams "The quick brown fox ..." token by token as
//! server-sent events, and the first stream of each run dies after four
//! tokens.
//!
//! - restart: open a fresh stream; the consumer is told, in the stream, that
//!   it restarted after 4 tokens, and sees every token again;
//! - skip: open a fresh stream and drop the 4 tokens already delivered;
//! - continue: ask the server to go on from the partial answer (the request
//!   carries it), so only the rest is generated and sent.
//!
//! The streams follow the declaration of `completion` (`policy = ...`): the
//! same attempts, wait, hook and name as the function that reads the whole
//! answer at once, which is retried from the start when it breaks.
//!
//! Run: `cargo run -p examples --example stream_resume`

use std::sync::Mutex;

use examples::fault_server::{FaultServer, Seen};
use examples::sse;
use futures_util::StreamExt;
use retry_runtime::stream::{Resume, Streamed};
use retry_runtime::{RetryState, http, retry};
use serde_json::{Value, json};

const ANSWER: &str = "The quick brown fox jumps over the lazy dog .";

fn server() -> FaultServer {
    // The first request of each run is cut after four tokens.
    let cut: Mutex<Vec<String>> = Mutex::new(Vec::new());
    FaultServer::start(move |seen: &Seen| {
        let body: Value = serde_json::from_slice(&seen.body).unwrap_or(Value::Null);
        let run = body["run"].as_str().unwrap_or_default().to_string();
        let partial = body["partial"].as_str().unwrap_or_default();
        let already = partial.split_whitespace().count();
        let tokens: Vec<&str> = ANSWER.split_whitespace().skip(already).collect();
        let mut cut = cut.lock().unwrap();
        let first = !cut.contains(&run);
        if first {
            cut.push(run);
        }
        sse::reply(tokens, first.then_some(4))
    })
}

fn note(state: &RetryState<'_, http::Error>) {
    if let Some(e) = state.error {
        println!(
            "    [attempt {} broke: {e}; retrying in {:?}]",
            state.attempt, state.delay
        );
    }
}

/// The whole answer at once: a stream that breaks fails the attempt, and the
/// next attempt starts over. `completion_policy()` is the same policy.
#[retry(attempts = 4, wait = fixed(100ms), before_sleep = note, name = "completion", policy = completion_policy)]
async fn completion(client: &reqwest::Client, url: &str, run: &str) -> Result<String, http::Error> {
    let request = client.post(url).body(json!({"run": run}).to_string());
    let tokens = sse::tokens(http::check(request.send().await?).await?);
    let mut tokens = std::pin::pin!(tokens);
    let mut text = Vec::new();
    while let Some(token) = tokens.next().await {
        text.push(token?);
    }
    Ok(text.join(" "))
}

#[tokio::main]
async fn main() {
    let server = server();
    let client = examples::http_client();
    let url = server.url("/v1/chat/completions");

    println!("whole (the function):");
    let text = completion(&client, &url, "whole").await.expect("answered");
    println!("  => {text}");
    assert_eq!(text, ANSWER);
    let policy = completion_policy();

    for (run, mode) in [
        ("restart", Resume::Restart),
        ("skip", Resume::Skip),
        ("continue", Resume::Continue),
    ] {
        println!("\n{run}:");
        let stream = policy.stream(mode, |resumed| {
            // In continue mode the request carries the partial answer.
            let partial = resumed.delivered_items.join(" ");
            let request = client
                .post(&url)
                .body(json!({"run": run, "partial": partial}).to_string());
            async move { Ok(sse::tokens(http::check(request.send().await?).await?)) }
        });
        let mut stream = std::pin::pin!(stream);
        let mut text = Vec::new();
        while let Some(item) = stream.next().await {
            match item {
                Ok(Streamed::Item(token)) => {
                    println!("    token: {token}");
                    text.push(token);
                }
                Ok(Streamed::Restarted { delivered, attempt }) => {
                    println!(
                        "    [retrying... received {delivered} tokens; attempt {attempt} starts over]"
                    );
                    text.clear();
                }
                Ok(Streamed::Incomplete {
                    delivered,
                    replayed,
                }) => {
                    println!(
                        "    [incomplete: the replay had {replayed} of the {delivered} tokens received]"
                    );
                    break;
                }
                // More kinds of items may follow.
                Ok(_) => {}
                Err(e) => {
                    println!("    gave up: {e}");
                    break;
                }
            }
        }
        println!("  => {}", text.join(" "));
        // Nothing lost, nothing twice, whichever the mode.
        assert_eq!(text.join(" "), ANSWER, "{run}");
    }
    println!("\nrequests the server received: {}", server.requests());
}
