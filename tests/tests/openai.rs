//! async-openai 0.43 against the embedded server, through
//! `retry_runtime::openai::client`: one request per attempt (its own retry
//! layer is not installed), `Retry-After` and the error body kept, the
//! providers' classes, and `timeout` with no error type of our own.

use std::time::Duration;

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::types::chat::{
    ChatCompletionRequestUserMessage, CreateChatCompletionRequestArgs,
};
use examples::fault_server::{FaultServer, Reply};
use retry_runtime::{Class, Classify, retry};
use tests::{ms, take_delays};

fn completion(text: &str) -> Reply {
    Reply::json(format!(
        r#"{{"id":"chatcmpl-1","object":"chat.completion","created":0,"model":"m","choices":[{{"index":0,"message":{{"role":"assistant","content":"{text}"}},"finish_reason":"stop"}}]}}"#
    ))
}

fn openai(server: &FaultServer) -> Client<OpenAIConfig> {
    let config = OpenAIConfig::new()
        .with_api_base(server.url("/v1"))
        .with_api_key("sk-test");
    retry_runtime::openai::client(config, examples::http_client())
}

#[retry(attempts = 3, wait = fixed(10ms), timeout = 2s, before_sleep = tests::record)]
async fn complete(client: &Client<OpenAIConfig>, prompt: &str) -> Result<String, OpenAIError> {
    let request = CreateChatCompletionRequestArgs::default()
        .model("m")
        .messages([ChatCompletionRequestUserMessage::from(prompt).into()])
        .build()?;
    let response = client.chat().create(request).await?;
    Ok(response.choices[0]
        .message
        .content
        .clone()
        .unwrap_or_default())
}

#[tokio::test]
async fn one_logical_call_sends_exactly_attempts_requests() {
    let server = FaultServer::start(|_| {
        Reply::status(503, r#"{"error":{"message":"busy","type":"server_error"}}"#)
    });
    let error = complete(&openai(&server), "hi").await.unwrap_err();
    assert_eq!(
        server.requests(),
        3,
        "no retry layer of async-openai's own under ours"
    );
    assert_eq!(error.class(), Class::Status(503));
}

#[tokio::test]
async fn retry_after_and_the_body_are_kept() {
    let _ = take_delays();
    let server = FaultServer::scripted([
        Reply::status(429, r#"{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}"#)
            .header("retry-after-ms", "150"),
        completion("hello"),
    ]);
    assert_eq!(complete(&openai(&server), "hi").await.unwrap(), "hello");
    assert_eq!(
        take_delays(),
        [ms(150)],
        "the header async-openai's own error drops"
    );

    let quota = r#"{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}}"#;
    let server = FaultServer::scripted([Reply::status(429, quota), completion("never")]);
    let error = complete(&openai(&server), "hi").await.unwrap_err();
    assert_eq!((error.class(), server.requests()), (Class::Quota, 1));
}

#[tokio::test]
async fn a_slow_answer_times_out_and_is_retried() {
    let server = FaultServer::scripted([
        completion("late").after(Duration::from_secs(5)),
        completion("in time"),
    ]);
    assert_eq!(complete(&openai(&server), "hi").await.unwrap(), "in time");
    assert_eq!(server.requests(), 2);
}

#[test]
fn async_openais_own_errors_are_classified() {
    use async_openai::error::{ApiError, ApiErrorResponse, StreamError};
    let api = |status: u16, kind: &str, message: &str| {
        OpenAIError::ApiError(ApiErrorResponse {
            status_code: reqwest::StatusCode::from_u16(status).unwrap(),
            api_error: ApiError {
                message: message.into(),
                r#type: Some(kind.into()),
                ..ApiError::default()
            },
        })
    };
    assert_eq!(api(429, "insufficient_quota", "x").class(), Class::Quota);
    let limited = api(
        429,
        "requests",
        "Rate limit reached. Please try again in 1.5s.",
    );
    assert_eq!(limited.class(), Class::Status(429));
    assert_eq!(
        limited.retry_after(),
        Some(ms(1500)),
        "the delay in the message"
    );
    assert_eq!(api(500, "server_error", "x").class(), Class::Status(500));
    assert_eq!(
        api(400, "invalid_request_error", "x").class(),
        Class::Status(400)
    );
    let broke = OpenAIError::StreamError(Box::new(StreamError::EventStream("reset".into())));
    assert_eq!(
        broke.class(),
        Class::Connect,
        "a stream that broke is a break"
    );
    assert_eq!(
        OpenAIError::InvalidArgument("x".into()).class(),
        Class::Other
    );
    let timed_out = OpenAIError::from(retry_runtime::Elapsed::default());
    assert_eq!(timed_out.class(), Class::Timeout);
    let open = OpenAIError::from(retry_runtime::CircuitOpen);
    assert_eq!(open.class(), Class::Other);
}

#[test]
fn an_error_object_in_a_200_body_is_classified_by_the_rules() {
    let body = r#"{"error":{"message":"Overloaded","type":"overloaded_error"}}"#;
    let decode = serde_json::from_str::<u32>(body).unwrap_err();
    let e = OpenAIError::JSONDeserialize(decode, body.to_string());
    assert_eq!(e.class(), Class::Status(529));
    let decode = serde_json::from_str::<u32>("{}").unwrap_err();
    let e = OpenAIError::JSONDeserialize(decode, "{\"choices\":[]}".to_string());
    assert_eq!(e.class(), Class::Other, "a body that just does not decode");
}

/// An OpenAI chat chunk as async-openai reads it.
fn openai_chunk(content: &str, finish: Option<&str>) -> String {
    let finish = finish.map_or("null".to_string(), |f| format!("\"{f}\""));
    format!(
        "data: {{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":0,\"model\":\"m\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{content}\"}},\"finish_reason\":{finish}}}]}}\n\n"
    )
}

fn event_stream(body: String) -> Reply {
    Reply::status(200, body).header("content-type", "text/event-stream")
}

/// The first stream is cut after one chunk (the connection closes, no
/// `finish_reason`, no `[DONE]`); the second is whole.
fn cut_then_whole() -> FaultServer {
    let served = std::sync::atomic::AtomicU32::new(0);
    FaultServer::start(move |_| {
        if served.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            event_stream(openai_chunk("Hel", None))
        } else {
            event_stream(format!(
                "{}{}data: [DONE]\n\n",
                openai_chunk("Hel", None),
                openai_chunk("lo", Some("stop"))
            ))
        }
    })
}

fn stream_request() -> async_openai::types::chat::CreateChatCompletionRequest {
    CreateChatCompletionRequestArgs::default()
        .model("m")
        .messages([ChatCompletionRequestUserMessage::from("hi").into()])
        .stream(true)
        .build()
        .unwrap()
}

fn text(chunk: &async_openai::types::chat::CreateChatCompletionStreamResponse) -> String {
    chunk.choices[0].delta.content.clone().unwrap_or_default()
}

#[tokio::test]
async fn a_chat_stream_cut_short_is_a_break_not_an_answer() {
    use futures_util::StreamExt;
    let server = cut_then_whole();
    let client = openai(&server);
    // Read as async-openai gives it, the cut stream looks complete...
    let plain: Vec<_> = client
        .chat()
        .create_stream(stream_request())
        .await
        .unwrap()
        .collect()
        .await;
    assert_eq!(plain.len(), 1);
    assert!(plain[0].is_ok());
    // ...and through `chat_chunks` it ends with a break.
    let server = cut_then_whole();
    let client = openai(&server);
    let checked: Vec<_> = retry_runtime::openai::chat_chunks(
        client.chat().create_stream(stream_request()).await.unwrap(),
    )
    .collect()
    .await;
    assert_eq!(checked.len(), 2);
    assert_eq!(text(checked[0].as_ref().unwrap()), "Hel");
    let cut = checked[1].as_ref().unwrap_err();
    assert_eq!(cut.class(), Class::Connect, "{cut}");
    // A whole stream is left as it is.
    let whole: Vec<_> = retry_runtime::openai::chat_chunks(
        client.chat().create_stream(stream_request()).await.unwrap(),
    )
    .collect()
    .await;
    let whole: Vec<String> = whole.iter().map(|c| text(c.as_ref().unwrap())).collect();
    assert_eq!(whole, ["Hel", "lo"]);
}

#[tokio::test]
async fn a_retrying_stream_reopens_a_chat_stream_cut_short() {
    use futures_util::StreamExt;
    use retry_runtime::stream::{Resume, Streamed};
    let server = cut_then_whole();
    let client = openai(&server);
    let policy = retry_runtime::Retrying::<(), OpenAIError>::new()
        .classify()
        .attempts(3)
        .wait(retry_runtime::wait::none());
    let stream = policy.stream(Resume::Restart, |_| {
        let client = client.clone();
        async move {
            Ok(retry_runtime::openai::chat_chunks(
                client.chat().create_stream(stream_request()).await?,
            ))
        }
    });
    let got: Vec<String> = stream
        .map(|item| match item.unwrap() {
            Streamed::Item(chunk) => text(&chunk),
            Streamed::Restarted { .. } => "|".to_string(),
            other => panic!("{other:?}"),
        })
        .collect()
        .await;
    assert_eq!(got, ["Hel", "|", "Hel", "lo"]);
    assert_eq!(server.requests(), 2);
}
