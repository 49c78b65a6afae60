//! Server-sent events for the streaming examples and tests: the embedded
//! server's side (a completion streamed token by token, cut midway when
//! asked) and the client's (a `reqwest` response read as a stream of
//! events' data, parsed as the SSE specification says).

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

/// Splits off the first complete line of `buffer` (ended by CR, LF or CRLF),
/// without its ending. `None` until a whole line is there (a CR at the very
/// end may still be followed by its LF).
fn line(buffer: &mut Vec<u8>) -> Option<Vec<u8>> {
    let end = buffer.iter().position(|b| *b == b'\n' || *b == b'\r')?;
    let skip = match (buffer[end], buffer.get(end + 1)) {
        (b'\r', Some(b'\n')) => 2,
        (b'\r', None) => return None,
        _ => 1,
    };
    let line = buffer[..end].to_vec();
    buffer.drain(..end + skip);
    Some(line)
}

/// The data of each event, as it arrives: `data:` lines joined by `\n`
/// (one space after the colon removed, as the spec says), other fields
/// ignored. A connection that dies midway ends it with the (retryable,
/// `Connect`) error; `[DONE]` ends it.
pub fn tokens(response: reqwest::Response) -> impl Stream<Item = Result<String, http::Error>> {
    let bytes = response.bytes_stream();
    let state = (bytes, Vec::new(), None::<String>, false);
    futures_util::stream::unfold(
        state,
        |(mut bytes, mut buffer, mut data, done)| async move {
            if done {
                return None;
            }
            loop {
                while let Some(raw) = line(&mut buffer) {
                    if raw.is_empty() {
                        // A blank line dispatches the event.
                        match data.take() {
                            Some(d) if d == "[DONE]" => return None,
                            Some(d) => return Some((Ok(d), (bytes, buffer, None, false))),
                            None => continue,
                        }
                    }
                    let text = String::from_utf8_lossy(&raw);
                    let (field, value) = text.split_once(':').unwrap_or((&text, ""));
                    let value = value.strip_prefix(' ').unwrap_or(value);
                    if field == "data" {
                        match &mut data {
                            Some(d) => {
                                d.push('\n');
                                d.push_str(value);
                            }
                            None => data = Some(value.to_string()),
                        }
                    }
                }
                match bytes.next().await {
                    // Bytes, not text, until a line is whole: a character split
                    // between chunks stays whole.
                    Some(Ok(chunk)) => buffer.extend_from_slice(&chunk),
                    Some(Err(e)) => {
                        return Some((Err(http::Error::from(e)), (bytes, buffer, None, true)));
                    }
                    None => {
                        let cut = http::Error::new(
                            Class::Connect,
                            "the event stream ended before [DONE]",
                        );
                        return Some((Err(cut), (bytes, buffer, None, true)));
                    }
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::line;

    #[test]
    fn lines_end_with_cr_lf_or_crlf() {
        let mut b = b"a\r\nb\nc\rd\r".to_vec();
        assert_eq!(line(&mut b).unwrap(), b"a");
        assert_eq!(line(&mut b).unwrap(), b"b");
        assert_eq!(line(&mut b).unwrap(), b"c");
        assert_eq!(line(&mut b), None, "a trailing CR may have its LF coming");
        assert_eq!(b, b"d\r");
    }
}
