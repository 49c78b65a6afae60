//! Server-sent events for the streaming examples and tests: the embedded
//! server's side (a completion streamed token by token, cut midway when
//! asked) and the client's (the runtime's `http::sse` reader).

use futures_util::Stream;
use retry_runtime::http;

use crate::fault_server::Reply;

/// The body of an event stream: one `data:` event per token, then `[DONE]`.
pub fn events<'a>(tokens: impl IntoIterator<Item = &'a str>) -> String {
    let mut body: String = tokens
        .into_iter()
        .map(|t| format!("data: {t}\n\n"))
        .collect();
    body.push_str("data: [DONE]\n\n");
    body
}

/// A `200 OK` event stream of `tokens`; with `cut_after = Some(n)`, the
/// connection dies after the first `n` tokens (the response announced more).
pub fn reply<'a>(tokens: impl IntoIterator<Item = &'a str>, cut_after: Option<usize>) -> Reply {
    let tokens: Vec<&str> = tokens.into_iter().collect();
    match cut_after {
        Some(n) => {
            let sent: String = tokens[..n.min(tokens.len())]
                .iter()
                .map(|t| format!("data: {t}\n\n"))
                .collect();
            let whole = events(tokens.iter().copied());
            Reply::cut(sent, whole.len())
        }
        None => Reply::status(200, events(tokens)).header("content-type", "text/event-stream"),
    }
}

/// The data of each event, as it arrives, up to `[DONE]`: the runtime's
/// reader ([`http::sse::chat_chunks`]). A connection that dies midway, or a
/// stream that ends before `[DONE]`, ends it with a retryable (`Connect`)
/// error.
pub fn tokens(response: reqwest::Response) -> impl Stream<Item = Result<String, http::Error>> {
    http::sse::chat_chunks(response)
}
