//! async-openai under `#[retry]`, against the embedded server: a 503, a 429
//! with `retry-after-ms`, then an answer. The client from
//! `retry_runtime::openai::client` sends each request once (async-openai's
//! own retry layer is not installed) and keeps the headers its error drops.
//!
//! ```sh
//! cargo run -p examples --example async_openai
//! ```

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::types::chat::{
    ChatCompletionRequestUserMessage, CreateChatCompletionRequestArgs,
};
use examples::fault_server::{FaultServer, Reply, Seen};
use retry_runtime::{Classify, RetryState, retry};

fn trace(state: &RetryState<'_, OpenAIError>) {
    println!(
        "  attempt {} failed: {} [class {:?}] -> sleeping {:?}",
        state.attempt,
        state.error.map_or(String::new(), |e| e.to_string()),
        state.error.map(Classify::class),
        state.delay
    );
}

#[retry(attempts = 4, wait = exponential(initial = 100ms), timeout = 10s, before_sleep = trace)]
async fn complete(client: &Client<OpenAIConfig>, prompt: &str) -> Result<String, OpenAIError> {
    let request = CreateChatCompletionRequestArgs::default()
        .model("demo-model")
        .messages([ChatCompletionRequestUserMessage::from(prompt).into()])
        .build()?;
    let response = client.chat().create(request).await?;
    Ok(response.choices[0]
        .message
        .content
        .clone()
        .unwrap_or_default())
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let server = FaultServer::start(|seen: &Seen| {
        match seen.number {
        1 => Reply::status(503, r#"{"error":{"message":"The engine is currently overloaded","type":"server_error"}}"#),
        2 => Reply::status(429, r#"{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}"#)
            .header("retry-after-ms", "300"),
        _ => Reply::json(
            r#"{"id":"chatcmpl-1","object":"chat.completion","created":0,"model":"demo-model","choices":[{"index":0,"message":{"role":"assistant","content":"Hello from async-openai!"},"finish_reason":"stop"}]}"#,
        ),
    }
    });
    let config = OpenAIConfig::new()
        .with_api_base(server.url("/v1"))
        .with_api_key("sk-demo");
    let client = retry_runtime::openai::client(config, examples::http_client());
    println!("chat through async-openai, against {}", server.addr());
    let answer = complete(&client, "Say hello.").await;
    println!("  => {answer:?}");
    println!("  requests the server received: {}", server.requests());
}
