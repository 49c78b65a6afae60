//! The providers' dialects: what an LLM API's error body says beyond its
//! status code (a quota that needs a person, a rate limit, an overloaded
//! server, a request that can never pass) and the delay it asks for in the
//! body. [`check`](super::check) uses these; they are public so that a
//! client that parses its errors itself reuses the same rules.
//!
//! The order of [`classify`]: the server's `x-should-retry` verdict (kept
//! apart, it wins in the engine over any class); then the provider's error
//! object (OpenAI and OpenAI-compatible `error.type`/`error.code`,
//! Anthropic `error.type`, Gemini `error.status` with its `details`); then
//! the status alone. The delay: `retry-after-ms`, `retry-after`, then the
//! body (Gemini's `RetryInfo.retryDelay`, OpenAI's "Please try again in
//! 1.5s"), however long (above `retry_after`'s `max`, the call gives up).

use std::time::Duration;

use reqwest::header::HeaderMap;
use serde_json::Value;

use super::{ABSURD_DELAY, retry_after, should_retry};
use crate::policy::class::Class;

/// What an error response says about retrying it.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// Its class, from the provider's error object when there is one,
    /// otherwise `Status(status)`.
    pub class: Class,
    /// The delay it asks for: headers first, then the body.
    pub retry_after: Option<Duration>,
    /// The server's `x-should-retry`, which wins over the class.
    pub should_retry: Option<bool>,
}

/// Classifies an error response from its status, headers and body, in this
/// order: the server's `x-should-retry` verdict (kept apart: it wins in the
/// engine over any class); then the provider's error object (OpenAI and
/// OpenAI-compatible `error.type`/`error.code`, Anthropic `error.type`,
/// Gemini `error.status` with its `details`; see [`classify_error`]); then
/// the status alone. The delay: `retry-after-ms`, `retry-after`
/// ([`retry_after`]), then the body (Gemini's `RetryInfo.retryDelay`,
/// OpenAI's "Please try again in 1.5s": [`message_delay`]), however long
/// (above `retry_after`'s `max`, the call gives up). A body that is not
/// JSON, or not an error object the
/// rules know, leaves the status to decide.
///
/// ```
/// use reqwest::header::HeaderMap;
/// use retry_runtime::{Class, http};
/// use std::time::Duration;
///
/// let body = r#"{"error": {"message": "You exceeded your current quota, please check your plan and billing details.",
///                "type": "insufficient_quota", "param": null, "code": "insufficient_quota"}}"#;
/// assert_eq!(http::classify(429, &HeaderMap::new(), body).class, Class::Quota);
///
/// let body = r#"{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}"#;
/// assert_eq!(http::classify(529, &HeaderMap::new(), body).class, Class::Status(529));
///
/// let body = r#"{"error": {"code": "rate_limit_exceeded", "type": "requests",
///                "message": "Rate limit reached for gpt-4o. Please try again in 1.5s."}}"#;
/// let verdict = http::classify(429, &HeaderMap::new(), body);
/// assert_eq!(verdict.class, Class::Status(429));
/// assert_eq!(verdict.retry_after, Some(Duration::from_millis(1500)));
/// ```
pub fn classify(status: u16, headers: &HeaderMap, body: &str) -> Verdict {
    let object = ErrorObject::parse(body);
    let class = object
        .as_ref()
        .and_then(|o| o.class(status))
        .unwrap_or(Class::Status(status));
    let retry_after = retry_after(headers).or_else(|| object.as_ref().and_then(ErrorObject::delay));
    Verdict {
        class,
        retry_after,
        should_retry: should_retry(headers),
    }
}

/// Classifies an error object a client has already parsed: the response's
/// `status`, the error's `kind` (OpenAI's and Anthropic's `error.type`,
/// Gemini's `error.status`), its `code` (OpenAI's `error.code`) and its
/// `message`. `None` when the object says nothing the status does not (the
/// status then decides: `Class::Status(status)`).
///
/// | signal | class |
/// |---|---|
/// | `insufficient_quota`, a billing code (`billing_hard_limit_reached`, `billing_not_active`, `billing_error`, …), Gemini's per-day `RESOURCE_EXHAUSTED` | `Quota` |
/// | `rate_limit_exceeded`, `rate_limit_error`, Gemini's `RESOURCE_EXHAUSTED` | `Status(429)` |
/// | "Request too large … Limit 30000, Requested 32156" (a request above the per-minute token limit: it can never pass) | `Other` |
/// | `overloaded_error` | `Status(529)` |
/// | Gemini's `UNAVAILABLE` | `Status(503)` |
/// | `context_length_exceeded`, `invalid_request_error`, `authentication_error`, `permission_error`, `not_found_error` | the status when it is not transient, otherwise `Other` (never retried) |
///
/// ```
/// use retry_runtime::{Class, http::classify_error};
///
/// assert_eq!(classify_error(429, Some("insufficient_quota"), None, None), Some(Class::Quota));
/// assert_eq!(classify_error(400, Some("billing_error"), None, None), Some(Class::Quota));
/// assert_eq!(classify_error(500, Some("invalid_request_error"), None, None), Some(Class::Other));
/// assert_eq!(classify_error(503, Some("some_new_type"), None, None), None);
/// ```
pub fn classify_error(
    status: u16,
    kind: Option<&str>,
    code: Option<&str>,
    message: Option<&str>,
) -> Option<Class> {
    let is = |names: &[&str]| {
        [kind, code]
            .into_iter()
            .flatten()
            .any(|v| names.iter().any(|n| v.eq_ignore_ascii_case(n)))
    };
    let message = message.unwrap_or("");
    if is(QUOTA) {
        return Some(Class::Quota);
    }
    if is(&["RESOURCE_EXHAUSTED"]) {
        return Some(if per_day(message) {
            Class::Quota
        } else {
            Class::Status(429)
        });
    }
    if is(&[
        "rate_limit_exceeded",
        "rate_limit_error",
        "tokens",
        "requests",
    ]) || (status == 429 && kind.is_none() && code.is_none() && !message.is_empty())
    {
        return Some(if too_large(message) {
            Class::Other
        } else {
            Class::Status(429)
        });
    }
    if is(&["overloaded_error"]) {
        return Some(Class::Status(529));
    }
    if is(&["UNAVAILABLE"]) {
        return Some(Class::Status(503));
    }
    if is(NEVER) {
        let own = Class::Status(status);
        return Some(if own.is_transient() {
            Class::Other
        } else {
            own
        });
    }
    None
}

/// The class and requested delay of an error event inside a successful
/// (200) stream: the provider's error object read by the same rules, with
/// the server's failure mid-answer (a 500) when the object says nothing
/// they know.
pub(super) fn stream_error(data: &str) -> (Class, Option<Duration>) {
    error_object(data).unwrap_or((Class::Status(500), None))
}

/// The class and requested delay of a body that is a provider's error
/// object, by the same rules as an error event in a stream; `None` when it
/// is none (not JSON, or no `error`).
///
/// ```
/// use retry_runtime::{Class, http::error_object};
///
/// let overloaded = r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
/// assert_eq!(error_object(overloaded), Some((Class::Status(529), None)));
/// assert_eq!(error_object(r#"{"choices":[]}"#), None);
/// ```
pub fn error_object(body: &str) -> Option<(Class, Option<Duration>)> {
    ErrorObject::parse(body).map(|o| (o.class(500).unwrap_or(Class::Status(500)), o.delay()))
}

/// Types and codes of an account that needs a person.
const QUOTA: &[&str] = &[
    "insufficient_quota",
    "billing_error",
    "billing_hard_limit_reached",
    "billing_not_active",
    "access_terminated",
    "account_deactivated",
];

/// Types and codes of a request that will fail the same way every time.
const NEVER: &[&str] = &[
    "context_length_exceeded",
    "invalid_request_error",
    "authentication_error",
    "permission_error",
    "not_found_error",
    "invalid_api_key",
    "model_not_found",
    "INVALID_ARGUMENT",
    "PERMISSION_DENIED",
    "UNAUTHENTICATED",
    "NOT_FOUND",
    "FAILED_PRECONDITION",
];

/// OpenAI's "Request too large for gpt-4o … Limit 30000, Requested 32156":
/// more tokens than the per-minute limit, which no wait makes pass.
fn too_large(message: &str) -> bool {
    if message.contains("Request too large") {
        return true;
    }
    match (
        number_after(message, "Limit "),
        number_after(message, "Requested "),
    ) {
        (Some(limit), Some(requested)) => requested > limit,
        _ => false,
    }
}

/// The integer right after `label` in `text`.
fn number_after(text: &str, label: &str) -> Option<u64> {
    let rest = &text[text.find(label)? + label.len()..];
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    rest[..digits].parse().ok()
}

/// A Gemini quota that a wait of minutes does not restore: per day or per
/// month (`…PerDay…`, `…PerMonth…`, "per day").
fn per_day(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    [
        "perday",
        "per day",
        "per_day",
        "permonth",
        "per month",
        "per_month",
    ]
    .iter()
    .any(|p| lower.contains(p))
}

/// The parts of a provider's error object that the rules read.
#[derive(Debug, Default)]
struct ErrorObject {
    kind: Option<String>,
    code: Option<String>,
    message: Option<String>,
    /// Gemini's `QuotaFailure` violations' ids, joined.
    quota_ids: String,
    /// Gemini's `RetryInfo.retryDelay`.
    retry_delay: Option<String>,
}

impl ErrorObject {
    /// The error object of an OpenAI, Anthropic or Gemini error body (also
    /// Gemini's form wrapped in an array); `None` for anything else.
    fn parse(body: &str) -> Option<ErrorObject> {
        let value: Value = serde_json::from_str(body.trim()).ok()?;
        let value = match value {
            Value::Array(mut items) if !items.is_empty() => items.swap_remove(0),
            other => other,
        };
        let error = value.get("error")?;
        let text = |v: Option<&Value>| match v? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        };
        let mut object = ErrorObject {
            // Gemini's `status` is its type; its `code` is the HTTP status.
            kind: text(error.get("type")).or_else(|| text(error.get("status"))),
            code: text(error.get("code")).filter(|c| !c.bytes().all(|b| b.is_ascii_digit())),
            message: text(error.get("message")),
            ..ErrorObject::default()
        };
        for detail in error
            .get("details")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let kind = detail.get("@type").and_then(Value::as_str).unwrap_or("");
            if kind.ends_with("google.rpc.RetryInfo") {
                object.retry_delay = text(detail.get("retryDelay"));
            } else if kind.ends_with("google.rpc.QuotaFailure") {
                let violations = detail.get("violations").and_then(Value::as_array);
                for v in violations.into_iter().flatten() {
                    for field in ["quotaId", "quotaMetric"] {
                        if let Some(id) = v.get(field).and_then(Value::as_str) {
                            object.quota_ids.push_str(id);
                            object.quota_ids.push(' ');
                        }
                    }
                }
            }
        }
        Some(object)
    }

    fn class(&self, status: u16) -> Option<Class> {
        // A Gemini quota's ids say whether it is per day; the message only
        // when there are none.
        let message = if self.quota_ids.is_empty() {
            self.message.clone().unwrap_or_default()
        } else {
            self.quota_ids.clone()
        };
        let message = (!message.is_empty()).then_some(message.as_str());
        classify_error(status, self.kind.as_deref(), self.code.as_deref(), message)
    }

    fn delay(&self) -> Option<Duration> {
        let given = self
            .retry_delay
            .as_deref()
            .and_then(go_seconds)
            .and_then(requested);
        given.or_else(|| self.message.as_deref().and_then(message_delay))
    }
}

/// The delay in an error message: OpenAI's "Please try again in 120ms",
/// "… in 1.5s", "… in 6m0s" (Go durations), or "… in 20 seconds".
///
/// ```
/// use retry_runtime::http::message_delay;
/// use std::time::Duration;
///
/// let m = "Rate limit reached for gpt-4o on tokens per min. Please try again in 6m0s. Visit …";
/// assert_eq!(message_delay(m), Some(Duration::from_secs(360)));
/// assert_eq!(message_delay("Please try again in 120ms."), Some(Duration::from_millis(120)));
/// assert_eq!(message_delay("Please try again later."), None);
/// ```
pub fn message_delay(message: &str) -> Option<Duration> {
    let lower = message.to_ascii_lowercase();
    let at = lower.find("try again in ")? + "try again in ".len();
    let rest = &message[at..];
    let word = rest.split_whitespace().next()?;
    let word = word.trim_end_matches(['.', ',', ';', ')']);
    if let Some(seconds) = go_seconds(word) {
        return requested(seconds);
    }
    // "20 seconds", "1 minute"
    let mut words = rest.split_whitespace();
    let number: f64 = words.next()?.parse().ok()?;
    let unit = words.next()?.trim_end_matches(['.', ',', ';', ')']);
    let seconds = match unit {
        u if u.starts_with("second") || u == "sec" || u == "secs" => 1.0,
        u if u.starts_with("minute") || u == "min" || u == "mins" => 60.0,
        u if u.starts_with("millisecond") => 1e-3,
        _ => return None,
    };
    requested(number * seconds)
}

/// A Go duration (`time.Duration.String()`): "38s", "1.5s", "6m0s",
/// "12.577s", "20ms", "1h2m3s", "250us". `None` for a negative, malformed,
/// non-finite or absurd one (above [`ABSURD_DELAY`]). (A delay the server
/// asks for in a body is taken however long.)
///
/// ```
/// use retry_runtime::http::go_duration;
/// use std::time::Duration;
///
/// assert_eq!(go_duration("6m0s"), Some(Duration::from_secs(360)));
/// assert_eq!(go_duration("12.577s"), Some(Duration::from_millis(12_577)));
/// assert_eq!(go_duration("20ms"), Some(Duration::from_millis(20)));
/// assert_eq!(go_duration("-1s"), None);
/// assert_eq!(go_duration("9999999h"), None);
/// ```
pub fn go_duration(text: &str) -> Option<Duration> {
    go_seconds(text).and_then(within_a_day)
}

/// A Go duration in seconds, however long (`None` when malformed).
fn go_seconds(text: &str) -> Option<f64> {
    let text = text.trim();
    if text == "0" {
        return Some(0.0);
    }
    let mut rest = text;
    let mut seconds = 0.0_f64;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest
            .bytes()
            .take_while(|b| b.is_ascii_digit() || *b == b'.')
            .count();
        if digits == 0 {
            return None;
        }
        let number: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit() || *c == '.')
            .map_or(rest.len(), |(i, _)| i);
        let scale = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" | "μs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        seconds += number * scale;
    }
    Some(seconds)
}

/// `seconds` as a duration within [`ABSURD_DELAY`].
fn within_a_day(seconds: f64) -> Option<Duration> {
    (seconds.is_finite() && (0.0..=ABSURD_DELAY.as_secs_f64()).contains(&seconds))
        .then(|| Duration::from_secs_f64(seconds))
}

/// A delay the server asks for, `seconds` long however long
/// (`Duration::MAX` when too long for one, or infinite: the call gives up
/// rather than retrying at once); `None` when negative or not a number.
pub(super) fn requested(seconds: f64) -> Option<Duration> {
    if seconds.is_nan() || seconds < 0.0 {
        None
    } else {
        Some(Duration::try_from_secs_f64(seconds).unwrap_or(Duration::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn class(status: u16, body: &str) -> Class {
        classify(status, &HeaderMap::new(), body).class
    }

    #[test]
    fn openai_bodies() {
        let quota = r#"{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#;
        assert_eq!(class(429, quota), Class::Quota);
        let billing = r#"{"error":{"message":"Billing hard limit has been reached","type":"invalid_request_error","code":"billing_hard_limit_reached"}}"#;
        assert_eq!(class(400, billing), Class::Quota, "the billing code wins");
        let limit = r#"{"error":{"message":"Rate limit reached for gpt-4o in organization org-x on requests per min (RPM): Limit 500, Used 500, Requested 1. Please try again in 120ms.","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#;
        let v = classify(429, &HeaderMap::new(), limit);
        assert_eq!(v.class, Class::Status(429));
        assert_eq!(v.retry_after, Some(Duration::from_millis(120)));
        let too_large = r#"{"error":{"message":"Request too large for gpt-4o in organization org-x on tokens per min (TPM): Limit 30000, Requested 32156. The input or output tokens must be reduced in order to run successfully.","type":"tokens","param":null,"code":"rate_limit_exceeded"}}"#;
        assert_eq!(class(429, too_large), Class::Other, "it can never pass");
        let context = r#"{"error":{"message":"This model's maximum context length is 128000 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#;
        assert_eq!(class(400, context), Class::Status(400));
        assert_eq!(
            class(503, context),
            Class::Other,
            "never a retry, whatever the status"
        );
        // Not an object the rules know: the status decides.
        let server = r#"{"error":{"message":"The server had an error","type":"server_error","param":null,"code":null}}"#;
        assert_eq!(class(500, server), Class::Status(500));
    }

    #[test]
    fn anthropic_bodies() {
        let body =
            |t: &str| format!(r#"{{"type":"error","error":{{"type":"{t}","message":"x"}}}}"#);
        assert_eq!(class(529, &body("overloaded_error")), Class::Status(529));
        assert_eq!(class(500, &body("overloaded_error")), Class::Status(529));
        assert_eq!(class(429, &body("rate_limit_error")), Class::Status(429));
        assert_eq!(class(400, &body("billing_error")), Class::Quota);
        assert_eq!(
            class(502, &body("billing_error")),
            Class::Quota,
            "whatever the status"
        );
        for never in [
            "invalid_request_error",
            "authentication_error",
            "permission_error",
            "not_found_error",
        ] {
            assert_eq!(class(400, &body(never)), Class::Status(400), "{never}");
            assert!(!class(503, &body(never)).is_transient(), "{never}");
        }
        assert_eq!(class(500, &body("api_error")), Class::Status(500));
    }

    #[test]
    fn gemini_bodies() {
        let body = |quota_id: &str, delay: &str| {
            format!(
                r#"{{"error":{{"code":429,"message":"You exceeded your current quota.","status":"RESOURCE_EXHAUSTED","details":[
                {{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{{"quotaMetric":"generativelanguage.googleapis.com/generate_content_free_tier_requests","quotaId":"{quota_id}"}}]}},
                {{"@type":"type.googleapis.com/google.rpc.Help","links":[{{"description":"Learn more","url":"https://ai.google.dev/gemini-api/docs/rate-limits"}}]}},
                {{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"{delay}"}}]}}}}"#
            )
        };
        let day = classify(
            429,
            &HeaderMap::new(),
            &body("GenerateRequestsPerDayPerProjectPerModel-FreeTier", "38s"),
        );
        assert_eq!(day.class, Class::Quota);
        let minute = classify(
            429,
            &HeaderMap::new(),
            &body(
                "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                "1.5s",
            ),
        );
        assert_eq!(minute.class, Class::Status(429));
        assert_eq!(minute.retry_after, Some(Duration::from_millis(1500)));
        // Vertex's form: the object inside an array.
        let wrapped = format!("[{}]", body("PerMinute", "38s"));
        let v = classify(429, &HeaderMap::new(), &wrapped);
        assert_eq!(
            (v.class, v.retry_after),
            (Class::Status(429), Some(Duration::from_secs(38)))
        );
        let unavailable =
            r#"{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}"#;
        assert_eq!(class(503, unavailable), Class::Status(503));
        let invalid = r#"{"error":{"code":400,"message":"x","status":"INVALID_ARGUMENT"}}"#;
        assert_eq!(class(400, invalid), Class::Status(400));
    }

    #[test]
    fn headers_come_first_and_should_retry_is_kept() {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", HeaderValue::from_static("3"));
        headers.insert("x-should-retry", HeaderValue::from_static("true"));
        let body = r#"{"error":{"message":"Please try again in 20s.","type":"insufficient_quota","code":"insufficient_quota"}}"#;
        let v = classify(429, &headers, body);
        assert_eq!(
            v.retry_after,
            Some(Duration::from_secs(3)),
            "the header wins"
        );
        assert_eq!((v.class, v.should_retry), (Class::Quota, Some(true)));
        // Without the header, the body's delay.
        assert_eq!(
            classify(429, &HeaderMap::new(), body).retry_after,
            Some(Duration::from_secs(20))
        );
    }

    #[test]
    fn hostile_bodies_fall_back_to_the_status() {
        let huge = format!(
            r#"{{"error":{{"message":"Please try again in {}s.","type":"requests"}}}}"#,
            "9".repeat(400)
        );
        for body in [
            "",
            "not json",
            "{",
            "[]",
            "null",
            r#"{"error": null}"#,
            r#"{"error": "a string"}"#,
            r#"{"error": {"type": 7, "code": [1], "message": {"a": 1}}}"#,
            r#"{"error": {"details": "no"}}"#,
            r#"{"error": {"details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "-5s"}]}}"#,
            r#"{"error": {"message": "Please try again in -1s."}}"#,
            "\u{0}\u{fffd}",
        ] {
            let v = classify(503, &HeaderMap::new(), body);
            assert_eq!(v.retry_after, None, "{body:?}");
            assert!(matches!(v.class, Class::Status(_)), "{body:?}");
        }
        // A delay longer than a day, however long, counts: above the cap,
        // the call gives up rather than retrying at once.
        for body in [
            &huge,
            r#"{"error": {"message": "Please try again in 25h0m0s."}}"#,
            r#"{"error": {"message": "Please try again in 90000 seconds."}}"#,
            r#"{"error": {"details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "99999999999999999999s"}]}}"#,
        ] {
            let v = classify(503, &HeaderMap::new(), body);
            assert!(v.retry_after > Some(ABSURD_DELAY), "{body:?}");
        }
        // A deeply nested body is refused by the parser, not a stack overflow.
        let deep = "[".repeat(100_000);
        assert_eq!(class(500, &deep), Class::Status(500));
    }

    #[test]
    fn go_durations() {
        let ms = Duration::from_millis;
        for (text, want) in [
            ("38s", Some(ms(38_000))),
            ("1.5s", Some(ms(1500))),
            ("6m0s", Some(ms(360_000))),
            ("1h2m3s", Some(ms(3_723_000))),
            ("20ms", Some(ms(20))),
            ("250us", Some(Duration::from_micros(250))),
            ("0", Some(Duration::ZERO)),
            ("0s", Some(Duration::ZERO)),
            ("", None),
            ("s", None),
            ("5", None),
            ("5x", None),
            ("-1s", None),
            ("1..5s", None),
            ("25h", None),
            ("1e9s", None),
            ("99999999999999999999999999h", None),
        ] {
            assert_eq!(go_duration(text), want, "{text:?}");
        }
        assert_eq!(
            message_delay("Please try again in 20 seconds."),
            Some(ms(20_000))
        );
        assert_eq!(message_delay("try again in 1 minute"), Some(ms(60_000)));
        assert_eq!(message_delay("Please TRY AGAIN IN 2s"), Some(ms(2000)));
        assert_eq!(message_delay("try again in"), None);
        assert_eq!(message_delay("try again in 5 fortnights"), None);
    }
}
