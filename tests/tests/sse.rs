//! `http::sse` against the embedded server, driven by `Retrying::stream`:
//! error events inside a 200 stream classified by the providers' rules, and
//! OpenAI chat chunks cut short without `finish_reason` or `[DONE]`.

use examples::fault_server::{FaultServer, Reply};
use futures_util::StreamExt;
use retry_runtime::http::{self, sse};
use retry_runtime::stream::{Resume, Streamed};
use retry_runtime::{Class, Classify, Retrying, wait};

fn stream_reply(body: String) -> Reply {
    Reply::status(200, body).header("content-type", "text/event-stream")
}

fn chunk(content: &str, finish: Option<&str>) -> String {
    let finish = finish.map_or("null".to_string(), |f| format!("\"{f}\""));
    format!(
        "data: {{\"object\":\"chat.completion.chunk\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{content}\"}},\"finish_reason\":{finish}}}]}}\n\n"
    )
}

fn content(data: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(data).unwrap();
    v["choices"][0]["delta"]["content"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

/// Opens `url` through a restarting stream; the items' contents, and the
/// error that ended it, if any.
async fn chat(url: &str) -> (Vec<String>, Option<http::Error>) {
    let client = examples::http_client();
    let policy = Retrying::<(), http::Error>::new()
        .attempts(3)
        .classify()
        .wait(wait::none());
    let stream = policy.stream(Resume::Restart, |_| {
        let request = client.post(url);
        async move { Ok(sse::chat_chunks(http::check(request.send().await?).await?)) }
    });
    let mut got = Vec::new();
    let mut error = None;
    futures_util::pin_mut!(stream);
    while let Some(item) = stream.next().await {
        match item {
            Ok(Streamed::Item(data)) => got.push(content(&data)),
            Ok(Streamed::Restarted { .. }) => got.push("|".into()),
            Ok(other) => got.push(format!("{other:?}")),
            Err(e) => error = Some(e),
        }
    }
    (got, error)
}

#[tokio::test]
async fn a_chat_stream_cut_short_without_finish_reason_is_a_break_and_retried() {
    // The first answer ends cleanly after two chunks: no finish_reason, no
    // [DONE]. Read as a whole answer, it would be a silent truncation.
    let cut = chunk("Hel", None) + &chunk("lo", None);
    let whole = chunk("Hel", None) + &chunk("lo!", Some("stop")) + "data: [DONE]\n\n";
    let server = FaultServer::scripted([stream_reply(cut), stream_reply(whole)]);
    let (got, error) = chat(&server.url("/v1/chat/completions")).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(got, ["Hel", "lo", "|", "Hel", "lo!"]);
    assert_eq!(server.requests(), 2);
}

#[tokio::test]
async fn a_finish_reason_without_done_is_a_complete_answer() {
    let whole = chunk("Hi", None) + &chunk("", Some("stop"));
    let server = FaultServer::scripted([stream_reply(whole)]);
    let (got, error) = chat(&server.url("/")).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(got, ["Hi", ""]);
    assert_eq!(server.requests(), 1);
}

#[tokio::test]
async fn error_events_in_a_200_stream_are_classified_by_the_same_rules() {
    // Anthropic's overloaded error mid-stream: a break, retried.
    let overloaded = chunk("Hel", None)
        + "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";
    let whole = chunk("Hello", Some("stop")) + "data: [DONE]\n\n";
    let server = FaultServer::scripted([stream_reply(overloaded), stream_reply(whole)]);
    let (got, error) = chat(&server.url("/")).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(got, ["Hel", "|", "Hello"]);
    assert_eq!(server.requests(), 2);

    // An OpenAI-compatible server's error chunk for a bad request: it ends
    // the stream, not retried.
    let invalid = chunk("Hel", None)
        + "data: {\"error\":{\"message\":\"bad\",\"type\":\"invalid_request_error\",\"code\":\"context_length_exceeded\"}}\n\n";
    let server = FaultServer::scripted([
        stream_reply(invalid),
        stream_reply(chunk("x", Some("stop"))),
    ]);
    let (got, error) = chat(&server.url("/")).await;
    let error = error.expect("the error ends the stream");
    assert_eq!((error.class(), error.status()), (Class::Other, Some(200)));
    assert_eq!(got, ["Hel"]);
    assert_eq!(server.requests(), 1);

    // An error object the rules do not know: the server failed mid-answer.
    let unknown =
        "data: {\"error\":{\"message\":\"boom\",\"type\":\"server_error\"}}\n\n".to_string();
    let server = FaultServer::scripted([
        stream_reply(unknown),
        stream_reply(chunk("ok", Some("stop")) + "data: [DONE]\n\n"),
    ]);
    let (got, error) = chat(&server.url("/")).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(got, ["ok"]);
    assert_eq!(server.requests(), 2);
}

/// Every item of `sse::events` over a 200 stream of `body`.
async fn events_of(body: String) -> Vec<Result<sse::Event, http::Error>> {
    let server = FaultServer::scripted([stream_reply(body)]);
    let client = examples::http_client();
    let response = http::check(client.get(server.url("/")).send().await.unwrap())
        .await
        .unwrap();
    sse::events(response).collect().await
}

#[tokio::test]
async fn events_keep_their_type_and_id() {
    let body = "event: message_start\nid: 7\ndata: {\"type\":\"message_start\"}\n\n: a comment\n\ndata: line1\ndata: line2\n\n".to_string();
    let events: Vec<_> = events_of(body).await;
    let events: Vec<_> = events.into_iter().map(Result::unwrap).collect();
    assert_eq!(events.len(), 2);
    assert_eq!(
        (events[0].event.as_str(), events[0].id.as_str()),
        ("message_start", "7")
    );
    assert_eq!(
        (events[1].event.as_str(), events[1].data.as_str()),
        ("message", "line1\nline2")
    );
}

#[tokio::test]
async fn an_event_that_never_ends_is_cut_at_the_limit() {
    // 2 MiB of data on one line, never dispatched.
    let endless = format!("data: {}", "x".repeat(2 << 20));
    let events = events_of(endless).await;
    assert_eq!(events.len(), 1);
    let error = events[0].as_ref().unwrap_err();
    assert_eq!(error.class(), Class::Other);
    assert!(error.to_string().contains("longer than"), "{error}");
}
