//! HTTP calls: [`Classify`] for `reqwest::Error`, a ready error type for
//! annotated HTTP functions, and the server's requested delay read as the
//! OpenAI and Anthropic SDKs read it. Behind the `reqwest` cargo feature.
//!
//! ```no_run
//! use retry_runtime::{http, retry};
//!
//! #[retry(attempts = 5, timeout = 30s)]
//! async fn complete(client: &reqwest::Client, body: &str) -> Result<String, http::Error> {
//!     let response = client
//!         .post("http://127.0.0.1:8080/v1/chat/completions")
//!         .body(body.to_owned())
//!         .send()
//!         .await?;
//!     let response = http::check(response).await?;
//!     Ok(response.text().await?)
//! }
//! ```
//!
//! The default `on = [Transient]` then retries connection failures, timeouts,
//! 408, 409, 429 and 5xx; `Retry-After` is obeyed up to 60 s; a server's
//! `x-should-retry: false` (or `true`) overrides the status. The error body
//! of an LLM provider is read too ([`classify`]): an account out of credits
//! is [`Class::Quota`] (not retried), an Anthropic `overloaded_error` is
//! retried like a 5xx, a request larger than the per-minute token limit is
//! not retried, and the delay Gemini or OpenAI put in the body is obeyed
//! when no header gives one.

mod dialect;
mod limits;
#[cfg(feature = "reqwest-middleware")]
#[cfg_attr(docsrs, doc(cfg(feature = "reqwest-middleware")))]
pub mod middleware;
#[cfg(feature = "sse")]
#[cfg_attr(docsrs, doc(cfg(feature = "sse")))]
pub mod sse;

pub use dialect::{Verdict, classify, classify_error, error_object, go_duration, message_delay};
pub use limits::{Limit, RateLimits, pace, rate_limits, rate_limits_at};

use std::error::Error as StdError;
use std::fmt;
use std::time::{Duration, SystemTime};

use reqwest::header::HeaderMap;

use crate::policy::Elapsed;
use crate::policy::class::{Class, Classify, io_kind_class};

/// The longest reset a rate-limit header or a Go duration is taken for
/// ([`RateLimits`], [`go_duration`]); one further is `None`. (A delay the
/// server asks for is taken however long: above `retry_after`'s `max`,
/// the call gives up.)
pub const ABSURD_DELAY: Duration = Duration::from_secs(24 * 60 * 60);

/// How much of an error response's body the error keeps for its message.
pub const SNIPPET_BYTES: usize = 512;

/// How much of an error response's body [`check`] reads to classify it (a
/// Gemini error with its details runs to a few kilobytes).
pub const BODY_BYTES: usize = 64 * 1024;

/// The delay a response asks for, in the SDKs' order: `retry-after-ms`
/// (milliseconds), then `Retry-After` as seconds (integer or decimal), then
/// `Retry-After` as an HTTP date.
///
/// Negative, unparsable and past values are ignored: the next form is
/// tried, and `None` is the result when none is usable. A value of any
/// length counts (a daily quota's reset of a day or more, so that a call
/// gives up rather than retries at once); one too long for a `Duration`
/// is `Duration::MAX`.
///
/// ```
/// use reqwest::header::{HeaderMap, HeaderValue};
/// use retry_runtime::http::retry_after;
/// use std::time::Duration;
///
/// let mut headers = HeaderMap::new();
/// headers.insert("retry-after", HeaderValue::from_static("1.5"));
/// assert_eq!(retry_after(&headers), Some(Duration::from_millis(1500)));
/// headers.insert("retry-after-ms", HeaderValue::from_static("250"));
/// assert_eq!(retry_after(&headers), Some(Duration::from_millis(250)));
/// headers.insert("retry-after-ms", HeaderValue::from_static("-1"));
/// assert_eq!(retry_after(&headers), Some(Duration::from_millis(1500)));
/// ```
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    retry_after_at(headers, SystemTime::now())
}

/// [`retry_after`] with the current time given, for HTTP dates.
pub fn retry_after_at(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let millis = value("retry-after-ms").and_then(|v| positive(v, 1e-3));
    let seconds = || value("retry-after").and_then(|v| positive(v, 1.0));
    let date = || {
        let when = httpdate::parse_http_date(value("retry-after")?).ok()?;
        when.duration_since(now).ok().filter(|d| !d.is_zero())
    };
    millis.or_else(seconds).or_else(date)
}

/// A non-negative decimal number of `unit` seconds (`Duration::MAX` when
/// too long for one, as are digits too many for a number).
fn positive(text: &str, unit: f64) -> Option<Duration> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None; // rejects signs, exponents, "inf", "NaN"
    }
    dialect::requested(text.parse::<f64>().ok()? * unit)
}

/// The server's explicit verdict: `x-should-retry: true` or `false`.
pub fn should_retry(headers: &HeaderMap) -> Option<bool> {
    match headers.get("x-should-retry")?.to_str().ok()?.trim() {
        v if v.eq_ignore_ascii_case("true") => Some(true),
        v if v.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// Turns a response into `Ok(response)` when its status is a success, and
/// into an [`Error`] otherwise, classified by [`classify`] from its status,
/// headers and body (at most [`BODY_BYTES`] of it), keeping the requested
/// delay, the `x-should-retry` verdict and the start of the body
/// ([`SNIPPET_BYTES`]) for the message.
pub async fn check(response: reqwest::Response) -> Result<reqwest::Response, Error> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let headers = response.headers().clone();
    let body = read_body(response).await;
    let body = String::from_utf8_lossy(&body).into_owned();
    Err(Error::from_status(status.as_u16(), &headers, body))
}

/// Reads at most [`BODY_BYTES`] of the body; a body that fails to arrive
/// leaves it short.
pub(crate) async fn read_body(mut response: reqwest::Response) -> Vec<u8> {
    let mut bytes = Vec::new();
    while bytes.len() < BODY_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            _ => break,
        }
    }
    bytes.truncate(BODY_BYTES);
    bytes
}

/// The first [`SNIPPET_BYTES`] of `body`, cut at a character's boundary.
fn snippet(mut body: String) -> String {
    if body.len() > SNIPPET_BYTES {
        let mut end = SNIPPET_BYTES;
        while !body.is_char_boundary(end) {
            end -= 1;
        }
        body.truncate(end);
    }
    body
}

/// The body the error keeps as its message shows it: on one line (each run
/// of white space one space), with control and direction-changing
/// characters escaped (`\u{1b}`), so that a body cannot reach a terminal or
/// a log as escape sequences or reordered text.
fn shown(body: &str) -> String {
    let mut out = String::with_capacity(body.len());
    for word in body.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        for c in word.chars() {
            let hidden = c.is_control()
                || matches!(c, '\u{61c}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
            if hidden {
                out.extend(c.escape_unicode());
            } else {
                out.push(c);
            }
        }
    }
    out
}

/// The error of an HTTP call: the request failed, the server answered with
/// an error status, or the attempt ran out of time.
///
/// It is built from `reqwest::Error` (so `?` works on `send()`), from
/// [`Elapsed`] (so `timeout = ...` works), by [`check`] from an error
/// response, and by [`Error::new`] for a failure the application finds in a
/// successful response (a completion without `choices`), with the class you
/// choose.
pub struct Error {
    kind: Kind,
}

enum Kind {
    Request(reqwest::Error),
    Status(Box<StatusError>),
    Timeout,
    Application(Class, String),
}

struct StatusError {
    status: u16,
    class: Class,
    limits: RateLimits,
    retry_after: Option<Duration>,
    should_retry: Option<bool>,
    body: String,
}

impl Error {
    /// A failure the application found, of the class it chooses: a 200 whose
    /// JSON has no `choices` is `Class::Other` (not retried by default), a
    /// truncated stream might be `Class::Connect`.
    ///
    /// ```
    /// use retry_runtime::{Class, Classify, http};
    ///
    /// let e = http::Error::new(Class::Other, "the completion has no choices");
    /// assert_eq!(e.class(), Class::Other);
    /// assert_eq!(e.to_string(), "the completion has no choices");
    /// ```
    pub fn new(class: Class, message: impl Into<String>) -> Self {
        Error {
            kind: Kind::Application(class, message.into()),
        }
    }

    /// An error status, as [`check`] builds it: classified by [`classify`]
    /// from the status, the headers and the body (of which the error keeps
    /// the first [`SNIPPET_BYTES`]).
    ///
    /// ```
    /// use reqwest::header::HeaderMap;
    /// use retry_runtime::{Class, Classify, http};
    ///
    /// let body = r#"{"type":"error","error":{"type":"billing_error","message":"Your credit balance is too low"}}"#;
    /// let e = http::Error::from_status(400, &HeaderMap::new(), body);
    /// assert_eq!((e.status(), e.class()), (Some(400), Class::Quota));
    /// ```
    pub fn from_status(status: u16, headers: &HeaderMap, body: impl Into<String>) -> Self {
        let body = body.into();
        let verdict = classify(status, headers, &body);
        Error {
            kind: Kind::Status(Box::new(StatusError {
                status,
                class: verdict.class,
                limits: rate_limits(headers),
                retry_after: verdict.retry_after,
                should_retry: verdict.should_retry,
                body: snippet(body),
            })),
        }
    }

    /// An error event inside a successful stream (its data), classified by
    /// the providers' rules ([`sse`](crate::http) reads them).
    #[cfg_attr(not(feature = "sse"), allow(dead_code))]
    pub(crate) fn from_stream_event(data: &str) -> Self {
        let (class, retry_after) = dialect::stream_error(data);
        Error {
            kind: Kind::Status(Box::new(StatusError {
                status: 200,
                class,
                limits: RateLimits::default(),
                retry_after,
                should_retry: None,
                body: snippet(data.to_owned()),
            })),
        }
    }

    /// The response's status code, for an error status (or a reqwest status error).
    pub fn status(&self) -> Option<u16> {
        match &self.kind {
            Kind::Status(s) => Some(s.status),
            Kind::Request(e) => e.status().map(|s| s.as_u16()),
            Kind::Timeout | Kind::Application(..) => None,
        }
    }

    /// The rate limits the error response reported (see [`RateLimits`]).
    pub fn rate_limits(&self) -> Option<&RateLimits> {
        match &self.kind {
            Kind::Status(s) => Some(&s.limits),
            _ => None,
        }
    }

    /// The start of the error response's body.
    pub fn body(&self) -> Option<&str> {
        match &self.kind {
            Kind::Status(s) => Some(&s.body),
            _ => None,
        }
    }

    /// Whether the attempt ran out of time (`timeout = ...`, or reqwest's own timeout).
    pub fn is_timeout(&self) -> bool {
        match &self.kind {
            Kind::Timeout => true,
            Kind::Request(e) => e.is_timeout(),
            Kind::Status(_) | Kind::Application(..) => false,
        }
    }

    /// The underlying reqwest error, if the request itself failed.
    pub fn reqwest(&self) -> Option<&reqwest::Error> {
        match &self.kind {
            Kind::Request(e) => Some(e),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Request(e) => {
                // reqwest's message leaves out why; the innermost cause says it.
                // A key in the URL's query (`?key=..`) stays out of the text.
                write!(f, "request failed: {}", crate::engine::redact::Redacted(e))?;
                let mut cause = e.source();
                let mut last = None;
                while let Some(c) = cause {
                    last = Some(c);
                    cause = c.source();
                }
                match last {
                    Some(c) => write!(f, ": {}", crate::engine::redact::Redacted(c)),
                    None => Ok(()),
                }
            }
            Kind::Timeout => f.write_str("attempt timed out"),
            Kind::Application(_, message) => f.write_str(message),
            Kind::Status(s) => {
                write!(f, "HTTP {}", s.status)?;
                let body = shown(&s.body);
                if !body.is_empty() {
                    // A key the server echoes in a URL stays out of logs,
                    // as in a request's error.
                    write!(f, ": {}", crate::engine::redact::Redacted(body))?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            // reqwest's Debug has the URL: its key stays out, as in Display.
            Kind::Request(e) => f
                .debug_tuple("Request")
                .field(&format_args!(
                    "{}",
                    crate::engine::redact::redact(&format!("{e:?}"))
                ))
                .finish(),
            Kind::Timeout => f.write_str("Timeout"),
            Kind::Application(class, message) => f
                .debug_tuple("Application")
                .field(class)
                .field(message)
                .finish(),
            Kind::Status(s) => f
                .debug_struct("Status")
                .field("status", &s.status)
                .field("class", &s.class)
                .field("retry_after", &s.retry_after)
                .field("should_retry", &s.should_retry)
                .field("body", &crate::engine::redact::redact(&s.body))
                .finish(),
        }
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match &self.kind {
            Kind::Request(e) => Some(e),
            _ => None,
        }
    }
}

impl From<reqwest::Error> for Error {
    fn from(e: reqwest::Error) -> Self {
        Error {
            kind: Kind::Request(e),
        }
    }
}

/// An application failure of class `Other` (not retried) that says the
/// circuit breaker refused the call.
impl From<crate::protect::CircuitOpen> for Error {
    fn from(open: crate::protect::CircuitOpen) -> Self {
        Error::new(Class::Other, open.to_string())
    }
}

impl From<Elapsed> for Error {
    fn from(_: Elapsed) -> Self {
        Error {
            kind: Kind::Timeout,
        }
    }
}

impl Classify for Error {
    fn class(&self) -> Class {
        match &self.kind {
            Kind::Request(e) => e.class(),
            Kind::Status(s) => s.class,
            Kind::Timeout => Class::Timeout,
            Kind::Application(class, _) => *class,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match &self.kind {
            Kind::Status(s) => s.retry_after,
            _ => None,
        }
    }

    fn should_retry(&self) -> Option<bool> {
        match &self.kind {
            Kind::Status(s) => s.should_retry,
            _ => None,
        }
    }
}

/// Connect failures: `Connect`; timeouts: `Timeout`; status errors: their
/// status; a request, body or decode error whose source chain shows a
/// connection that broke (reset, aborted, closed, an incomplete message, an
/// unexpected end of file): `Connect`, since the body was cut short; other
/// body and decode errors (a complete but malformed body), builder and
/// redirect errors: `Other`.
impl Classify for reqwest::Error {
    fn class(&self) -> Class {
        if self.is_timeout() {
            Class::Timeout
        } else if self.is_connect() {
            Class::Connect
        } else if let Some(status) = self.status() {
            Class::Status(status.as_u16())
        } else if (self.is_request() || self.is_body() || self.is_decode())
            && broken_connection(self)
        {
            Class::Connect
        } else {
            Class::Other
        }
    }
}

/// This module's error types, found in a chain of causes
/// ([`chain::recognise`](crate::chain::recognise)).
pub(crate) fn recognise<'e>(e: &'e (dyn StdError + 'static)) -> Option<&'e dyn Classify> {
    if let Some(e) = e.downcast_ref::<Error>() {
        return Some(e);
    }
    e.downcast_ref::<reqwest::Error>()
        .map(|e| e as &dyn Classify)
}

/// `reqwest::Error` is classified only with this crate's `reqwest` feature:
/// the attribute treats it as unclassified unless it names classes.
impl crate::policy::chain::ClassifiedByFeature for reqwest::Error {}

/// Whether the error's source chain shows a connection that broke.
fn broken_connection(error: &(dyn StdError + 'static)) -> bool {
    let mut source = error.source();
    while let Some(e) = source {
        let broke = e
            .downcast_ref::<hyper::Error>()
            .is_some_and(|h| h.is_incomplete_message() || h.is_closed() || h.is_canceled());
        let reset = e
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io_kind_class(io.kind()) == Class::Connect);
        if broke || reset {
            return true;
        }
        source = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    /// A header map of `pairs` (also for the submodules' tests).
    pub(super) fn headers(pairs: &[(&'static str, &[u8])]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_bytes(value).unwrap());
        }
        map
    }

    fn after(pairs: &[(&'static str, &[u8])]) -> Option<Duration> {
        retry_after(&headers(pairs))
    }

    #[test]
    fn forms_and_their_order() {
        assert_eq!(
            after(&[("retry-after", b"7")]),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            after(&[("retry-after", b" 0.25 ")]),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            after(&[("retry-after-ms", b"1500.5")]),
            Some(Duration::from_micros(1_500_500))
        );
        assert_eq!(
            after(&[("retry-after-ms", b"100"), ("retry-after", b"9")]),
            Some(Duration::from_millis(100))
        );
        assert_eq!(after(&[("retry-after", b"0")]), Some(Duration::ZERO));
        assert_eq!(after(&[]), None);
    }

    #[test]
    fn http_dates() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        let map = headers(&[("retry-after", b"Wed, 21 Oct 2015 07:28:30 GMT")]);
        assert_eq!(retry_after_at(&map, now), Some(Duration::from_secs(30)));
        let past = headers(&[("retry-after", b"Wed, 21 Oct 2015 07:27:00 GMT")]);
        assert_eq!(retry_after_at(&past, now), None);
        let far = headers(&[("retry-after", b"Tue, 21 Oct 2025 07:28:00 GMT")]);
        assert_eq!(
            retry_after_at(&far, now),
            Some(Duration::from_secs(3653 * 86_400)),
            "ten years"
        );
    }

    #[test]
    fn hostile_values_are_ignored() {
        for bad in [
            &b"-1"[..],
            b"-0.5",
            b"abc",
            b"",
            b"  ",
            b"1e400",
            b"1e3",
            b"inf",
            b"NaN",
            b"infinity",
            b"+5",
            b"5 seconds",
            b"1.2.3",
            b"\xff\xfe",
            b"Thu, 99 Foo 2015 07:28:00 GMT",
        ] {
            assert_eq!(
                after(&[("retry-after", bad)]),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
            assert_eq!(
                after(&[("retry-after-ms", bad)]),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        // A bad `retry-after-ms` falls back to `Retry-After`.
        assert_eq!(
            after(&[("retry-after-ms", b"-5"), ("retry-after", b"3")]),
            Some(Duration::from_secs(3))
        );
        // Repeated headers: the first value counts.
        assert_eq!(
            after(&[("retry-after", b"2"), ("retry-after", b"9")]),
            Some(Duration::from_secs(2))
        );
        // However long (a daily quota's reset): it counts, so that a call
        // gives up (above the cap) rather than retrying at once; too long
        // for a `Duration`, or for a number, it is `Duration::MAX`.
        for (long, want) in [
            (&b"86401"[..], Duration::from_secs(86_401)),
            (b"90000", Duration::from_secs(90_000)),
            (b"18446744073709551616", Duration::MAX),
            (b"99999999999999999999999999999999", Duration::MAX),
            (&[b'9'; 400], Duration::MAX),
        ] {
            assert_eq!(
                after(&[("retry-after", long)]),
                Some(want),
                "{:?}",
                String::from_utf8_lossy(long)
            );
        }
        assert_eq!(
            after(&[("retry-after-ms", b"86400001")]),
            Some(Duration::from_millis(86_400_001))
        );
    }

    #[test]
    fn should_retry_header() {
        assert_eq!(
            should_retry(&headers(&[("x-should-retry", b"true")])),
            Some(true)
        );
        assert_eq!(
            should_retry(&headers(&[("x-should-retry", b"FALSE")])),
            Some(false)
        );
        assert_eq!(
            should_retry(&headers(&[("x-should-retry", b"maybe")])),
            None
        );
        assert_eq!(should_retry(&headers(&[])), None);
    }

    #[test]
    fn status_errors_classify_and_print() {
        let map = headers(&[("retry-after", b"2"), ("x-should-retry", b"false")]);
        let e = Error::from_status(503, &map, "  upstream\n overloaded ");
        assert_eq!(e.class(), Class::Status(503));
        assert_eq!(e.retry_after(), Some(Duration::from_secs(2)));
        assert_eq!(e.should_retry(), Some(false));
        assert_eq!(e.to_string(), "HTTP 503: upstream overloaded");
        assert_eq!(e.status(), Some(503));
        let t = Error::from(Elapsed::new());
        assert_eq!(t.class(), Class::Timeout);
        assert!(t.is_timeout());
        assert!(!e.is_timeout());
        assert!(!Error::new(Class::Other, "x").is_timeout());
        assert_eq!(e.body(), Some("  upstream\n overloaded "));
        assert_eq!(t.body(), None);
        assert_eq!(t.status(), None);
        assert!(e.reqwest().is_none());
        let debug = format!("{e:?}");
        assert!(
            debug.contains("status: 503") && debug.contains("retry_after"),
            "{debug}"
        );
        assert_eq!(format!("{t:?}"), "Timeout");
        assert_eq!(
            format!("{:?}", Error::new(Class::Connect, "cut")),
            "Application(Connect, \"cut\")"
        );
        assert_eq!(t.to_string(), "attempt timed out");
        assert!(e.source().is_none());
        // The message shows what the error keeps: the body's first
        // `SNIPPET_BYTES` (a long body's 512 bytes, not fewer).
        let long = Error::from_status(400, &HeaderMap::new(), "x".repeat(1000));
        assert_eq!(long.body().map(str::len), Some(SNIPPET_BYTES));
        assert_eq!(long.to_string(), format!("HTTP 400: {}", "x".repeat(512)));
        assert_eq!(
            Error::from_status(500, &HeaderMap::new(), " \n ").to_string(),
            "HTTP 500"
        );
        // Escape sequences, a reordering mark and a key in a URL the
        // server echoes do not reach a log as they came.
        let hostile = "\u{1b}[31mred\u{7} \u{202e}txt https://h/v1?key=SECRET";
        assert_eq!(
            Error::from_status(502, &HeaderMap::new(), hostile).to_string(),
            "HTTP 502: \\u{1b}[31mred\\u{7} \\u{202e}txt https://h/v1?[redacted]"
        );
    }

    #[test]
    fn request_errors_keep_their_source() {
        // No client needed (a client would need a TLS provider here): a
        // status error made from a response.
        let response = hyper::Response::builder()
            .status(502)
            .body(String::new())
            .unwrap();
        let status = reqwest::Response::from(response)
            .error_for_status()
            .unwrap_err();
        assert_eq!(status.class(), Class::Status(502));
        let e = Error::from(status);
        assert_eq!(e.class(), Class::Status(502));
        assert_eq!(e.status(), Some(502));
        assert!(e.source().is_some());
        assert!(e.reqwest().is_some());
        assert!(!e.is_timeout());
        assert!(e.to_string().starts_with("request failed: "), "{e}");
        assert!(format!("{e:?}").starts_with("Request("));
    }
}
