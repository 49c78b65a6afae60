//! Server-sent events: an LLM's streamed answer read as events (framing by
//! `eventsource-stream`), with the error events that providers send inside
//! a `200 OK` stream turned into classified [`Error`]s, and OpenAI chat
//! chunks whose stream must end with a `finish_reason` or `[DONE]`. Behind
//! the `sse` cargo feature.
//!
//! Read with [`Retrying::stream`](crate::Retrying::stream), a retryable error
//! event (Anthropic's `overloaded_error`, a gateway's server error) and a
//! truncated answer are stream breaks: the stream is opened again. Other
//! error events (an invalid request) end it.
//!
//! ```no_run
//! use futures_util::StreamExt;
//! use retry_runtime::http::{self, sse};
//!
//! # async fn run(client: reqwest::Client) -> Result<(), http::Error> {
//! let response = client.post("http://127.0.0.1:8080/v1/chat/completions").send().await?;
//! let mut chunks = sse::chat_chunks(http::check(response).await?);
//! while let Some(chunk) = chunks.next().await {
//!     let json = chunk?; // one `data:` payload: a chat.completion.chunk
//!     println!("{json}");
//! }
//! # Ok(()) }
//! ```

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use eventsource_stream::{EventStreamError, Eventsource};
use futures_core::Stream;
use futures_util::StreamExt;
use serde_json::Value;

use super::Error;
use crate::policy::class::Class;
use crate::policy::class::Classify;

/// One server-sent event.
#[non_exhaustive]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Event {
    /// Its type (`event:`), `message` when the server gave none.
    pub event: String,
    /// Its data: the `data:` lines joined by newlines.
    pub data: String,
    /// Its id (`id:`), empty when none.
    pub id: String,
}

type Boxed<T> = Pin<Box<dyn Stream<Item = T> + Send>>;

/// The most an event may take before it is dispatched (a server that never
/// ends a line would otherwise grow the buffer without end).
pub const MAX_EVENT_BYTES: usize = 1 << 20;

/// The events of a response, as they arrive (a stream that is `Unpin`:
/// `.next().await` works on it as it is). It ends after the first error: a
/// body error (`Connect` when the connection broke, otherwise `Other`, as
/// for any reqwest body error), a malformed stream or an event longer than
/// [`MAX_EVENT_BYTES`] (`Other`), or an error event, classified by the
/// providers' rules ([`classify`](super::classify)): Anthropic's
/// `event: error` (`overloaded_error` is `Status(529)`), an OpenAI-compatible
/// server's `{"error": …}` chunk; an error object the rules do not know is
/// the server's failure mid-answer, `Status(500)`. Such an error's
/// `status()` is 200: it came inside a successful response.
pub fn events(
    response: reqwest::Response,
) -> impl Stream<Item = Result<Event, Error>> + Send + Unpin {
    // The bytes since the last event dispatched, bounded.
    let pending = Arc::new(AtomicUsize::new(0));
    let counted = pending.clone();
    let bytes = response.bytes_stream().map(move |chunk| {
        let chunk = chunk.map_err(Error::from)?;
        if counted.fetch_add(chunk.len(), Relaxed) + chunk.len() > MAX_EVENT_BYTES {
            return Err(Error::new(
                Class::Other,
                format!("an event longer than {MAX_EVENT_BYTES} bytes"),
            ));
        }
        Ok(chunk)
    });
    let inner: Boxed<_> = Box::pin(bytes.eventsource());
    Box::pin(futures_util::stream::unfold(Some(inner), move |inner| {
        let pending = pending.clone();
        async move {
            let mut inner = inner?;
            let item = match inner.next().await? {
                Ok(e) if is_error(&e.event, &e.data) => Err(Error::from_stream_event(&e.data)),
                Ok(e) => {
                    pending.store(0, Relaxed);
                    let event = Event {
                        event: e.event,
                        data: e.data,
                        id: e.id,
                    };
                    return Some((Ok(event), Some(inner)));
                }
                Err(EventStreamError::Transport(e)) => Err(e),
                Err(other) => Err(Error::new(
                    Class::Other,
                    format!("a malformed event stream: {other}"),
                )),
            };
            // Nothing after an error.
            Some((item, None))
        }
    }))
}

/// An error event: `event: error`, or data that is an error object
/// (`{"error": …}`, `{"type": "error", …}`).
fn is_error(event: &str, data: &str) -> bool {
    if event == "error" {
        return true;
    }
    if !data.contains("error") {
        return false;
    }
    match serde_json::from_str::<Value>(data) {
        Ok(Value::Object(o)) => {
            o.get("error").is_some_and(|e| !e.is_null())
                || o.get("type").and_then(Value::as_str) == Some("error")
        }
        _ => false,
    }
}

/// The data of an OpenAI (or OpenAI-compatible) chat completion stream's
/// chunks, up to `[DONE]`. A stream that ends without `[DONE]` and without a
/// chunk that gave a `finish_reason` was cut short: its last item is an
/// error of class `Connect` (a retryable stream break), never a silent end
/// that would pass a partial answer for a whole one. Once a chunk gave a
/// `finish_reason` (with several choices, any of them), a connection that
/// closes instead of sending `[DONE]` ends it quietly. Error events end it
/// as in [`events`].
pub fn chat_chunks(
    response: reqwest::Response,
) -> impl Stream<Item = Result<String, Error>> + Send + Unpin {
    let inner = events(response);
    Box::pin(futures_util::stream::unfold(
        Some((inner, false)),
        |state| async move {
            let (mut inner, mut finished) = state?;
            match inner.next().await {
                Some(Ok(event)) if event.data.trim() == "[DONE]" => None,
                Some(Ok(event)) => {
                    finished |= finish_reason(&event.data);
                    Some((Ok(event.data), Some((inner, finished))))
                }
                // The connection closed after the last chunk: the answer is whole.
                Some(Err(e)) if finished && e.class() == Class::Connect => None,
                Some(Err(e)) => Some((Err(e), None)),
                None if finished => None,
                None => {
                    let cut = Error::new(
                        Class::Connect,
                        "the stream ended before its end (no finish_reason, no [DONE])",
                    );
                    Some((Err(cut), None))
                }
            }
        },
    ))
}

/// Whether a chunk gives a choice's `finish_reason`.
fn finish_reason(data: &str) -> bool {
    if !data.contains("finish_reason") {
        return false;
    }
    let Ok(chunk) = serde_json::from_str::<Value>(data) else {
        return false;
    };
    chunk
        .get("choices")
        .and_then(Value::as_array)
        .is_some_and(|choices| {
            choices
                .iter()
                .any(|c| c.get("finish_reason").is_some_and(Value::is_string))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_events_and_chunks() {
        assert!(is_error("error", "anything"));
        assert!(is_error(
            "message",
            r#"{"error":{"message":"x","type":"server_error"}}"#
        ));
        assert!(is_error(
            "message",
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#
        ));
        assert!(!is_error("message", r#"{"error":null,"choices":[]}"#));
        assert!(!is_error(
            "message",
            r#"{"choices":[{"delta":{"content":"an error"}}]}"#
        ));
        assert!(!is_error("message", "error, but not JSON"));
        assert!(finish_reason(
            r#"{"choices":[{"delta":{},"finish_reason":"stop"}]}"#
        ));
        assert!(!finish_reason(
            r#"{"choices":[{"delta":{"content":"x"},"finish_reason":null}]}"#
        ));
        assert!(!finish_reason("finish_reason, not JSON"));
    }
}
