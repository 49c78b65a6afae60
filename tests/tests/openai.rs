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
