//! Server-sent events for the streaming examples and tests: the embedded
//! server's side (a completion streamed token by token, cut midway when
//! asked) and the client's (a `reqwest` response read as a stream of tokens).

use futures_util::{Stream, StreamExt};
use retry_runtime::{Class, http};

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

/// The tokens of an event stream, as they arrive. A connection that dies
/// midway ends it with the (retryable, `Connect`) error; `[DONE]` ends it.
pub fn tokens(response: reqwest::Response) -> impl Stream<Item = Result<String, http::Error>> {
    let bytes = response.bytes_stream();
    futures_util::stream::unfold(
        (bytes, String::new(), false),
        |(mut bytes, mut buffer, done)| async move {
            if done {
                return None;
            }
            loop {
                if let Some(end) = buffer.find("\n\n") {
                    let event: String = buffer.drain(..end + 2).collect();
                    let data = event.trim().strip_prefix("data:").map(str::trim);
                    match data {
                        Some("[DONE]") => return None,
                        Some(token) => {
                            return Some((Ok(token.to_string()), (bytes, buffer, false)));
                        }
                        None => continue,
                    }
                }
                match bytes.next().await {
                    Some(Ok(chunk)) => buffer.push_str(&String::from_utf8_lossy(&chunk)),
                    Some(Err(e)) => {
                        return Some((Err(http::Error::from(e)), (bytes, buffer, true)));
                    }
                    None => {
                        let cut = http::Error::new(
                            Class::Connect,
                            "the event stream ended before [DONE]",
                        );
                        return Some((Err(cut), (bytes, buffer, true)));
                    }
                }
            }
        },
    )
}
