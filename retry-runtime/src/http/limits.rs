//! What a response says about the rate limits it counts against: OpenAI's
//! `x-ratelimit-*` and Anthropic's `anthropic-ratelimit-*` headers, on any
//! response, successful or not.

use std::time::{Duration, SystemTime};

use reqwest::header::HeaderMap;

use super::ABSURD_DELAY;
use super::dialect::go_duration;
use crate::protect::Paced;

/// One limit: how much it allows, how much is left, and when it is whole
/// again. Each part is `None` when the response does not say, or says
/// something that cannot be right (negative, malformed, absurd: further
/// than [`ABSURD_DELAY`]). A delay a server asks for counts however long,
/// since one call obeys it or gives up; a reset does not, since [`pace`]
/// would hold every call of a budget or breaker for it.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limit {
    /// What the limit allows per period.
    pub limit: Option<u64>,
    /// What is left of it now.
    pub remaining: Option<u64>,
    /// How long until it is whole again, from when the response was read
    /// (at most [`ABSURD_DELAY`]).
    pub reset: Option<Duration>,
}

impl Limit {
    /// When the limit is used up (`remaining` is 0) and says when it
    /// resets: how long until then.
    pub fn exhausted_for(&self) -> Option<Duration> {
        (self.remaining == Some(0)).then_some(self.reset).flatten()
    }

    fn is_empty(&self) -> bool {
        *self == Limit::default()
    }
}

/// The rate limits a response reports (OpenAI's requests and tokens;
/// Anthropic's requests, tokens, input and output tokens).
///
/// A reset is when the limit is whole again, as the providers define it:
/// OpenAI's refills as it goes, so a request may pass before it; and
/// Anthropic rounds its token counts, so a `remaining` of 0 may leave a few
/// hundred tokens. Pacing on them ([`pace`]) errs on the side of waiting.
///
/// ```
/// use reqwest::header::{HeaderMap, HeaderValue};
/// use retry_runtime::http::rate_limits;
/// use std::time::Duration;
///
/// let mut headers = HeaderMap::new();
/// headers.insert("x-ratelimit-limit-requests", HeaderValue::from_static("60"));
/// headers.insert("x-ratelimit-remaining-requests", HeaderValue::from_static("0"));
/// headers.insert("x-ratelimit-reset-requests", HeaderValue::from_static("6m0s"));
/// headers.insert("x-ratelimit-remaining-tokens", HeaderValue::from_static("-1"));
/// let limits = rate_limits(&headers);
/// assert_eq!(limits.requests.limit, Some(60));
/// assert_eq!(limits.requests.reset, Some(Duration::from_secs(360)));
/// assert_eq!(limits.tokens.remaining, None, "hostile values are None");
/// assert_eq!(limits.exhausted_for(), Some(Duration::from_secs(360)));
/// ```
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RateLimits {
    /// Requests.
    pub requests: Limit,
    /// Tokens (input and output together).
    pub tokens: Limit,
    /// Input tokens (Anthropic).
    pub input_tokens: Limit,
    /// Output tokens (Anthropic).
    pub output_tokens: Limit,
}

impl RateLimits {
    /// Whether the response said nothing about its limits.
    pub fn is_empty(&self) -> bool {
        self.all().iter().all(Limit::is_empty)
    }

    /// The longest wait among the limits that are used up: until then, a
    /// request would only meet a 429. `None` when none is used up (or none
    /// says when it resets).
    pub fn exhausted_for(&self) -> Option<Duration> {
        self.all().iter().filter_map(Limit::exhausted_for).max()
    }

    fn all(&self) -> [Limit; 4] {
        [
            self.requests,
            self.tokens,
            self.input_tokens,
            self.output_tokens,
        ]
    }
}

/// The rate limits `headers` report (see [`RateLimits`]); RFC 3339 resets
/// are read against the system's clock.
pub fn rate_limits(headers: &HeaderMap) -> RateLimits {
    rate_limits_at(headers, SystemTime::now())
}

/// [`rate_limits`] with the current time given, for RFC 3339 resets.
pub fn rate_limits_at(headers: &HeaderMap, now: SystemTime) -> RateLimits {
    let value = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let openai = |what: &str| Limit {
        limit: value(&format!("x-ratelimit-limit-{what}")).and_then(count),
        remaining: value(&format!("x-ratelimit-remaining-{what}")).and_then(count),
        reset: value(&format!("x-ratelimit-reset-{what}")).and_then(go_duration),
    };
    let anthropic = |what: &str| Limit {
        limit: value(&format!("anthropic-ratelimit-{what}-limit")).and_then(count),
        remaining: value(&format!("anthropic-ratelimit-{what}-remaining")).and_then(count),
        reset: value(&format!("anthropic-ratelimit-{what}-reset")).and_then(|v| until(v, now)),
    };
    let either = |a: Limit, b: Limit| if a.is_empty() { b } else { a };
    RateLimits {
        requests: either(openai("requests"), anthropic("requests")),
        tokens: either(openai("tokens"), anthropic("tokens")),
        input_tokens: anthropic("input-tokens"),
        output_tokens: anthropic("output-tokens"),
    }
}

/// Pacing: when `headers` say a rate limit is used up (0 remaining, with a
/// reset), holds the calls through `through` (a [`Budget`](crate::Budget)
/// or [`CircuitBreaker`](crate::CircuitBreaker) named by the function) until
/// the reset, so that they wait instead of meeting a 429; returns that
/// pause. Read every response, successful or not, before
/// [`check`](super::check) consumes it.
///
/// ```no_run
/// use retry_runtime::{CircuitBreaker, http, retry};
///
/// static OPENAI: CircuitBreaker = CircuitBreaker::new();
///
/// #[retry(attempts = 5, breaker = OPENAI)]
/// async fn complete(client: &reqwest::Client, body: String) -> Result<String, http::Error> {
///     let response = client.post("http://127.0.0.1:8080/v1/chat/completions").body(body).send().await?;
///     http::pace(&OPENAI, response.headers());
///     Ok(http::check(response).await?.text().await?)
/// }
/// ```
pub fn pace(through: &dyn Paced, headers: &HeaderMap) -> Option<Duration> {
    let pause = rate_limits(headers).exhausted_for()?;
    if !pause.is_zero() {
        through.pause(pause);
    }
    Some(pause)
}

/// A count: digits only (no sign, no exponent), within `u64`.
fn count(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// The time from `now` to an RFC 3339 instant in UTC (zero when it has
/// passed). Another offset is refused rather than misread: the parser
/// would take its time for UTC's.
fn until(text: &str, now: SystemTime) -> Option<Duration> {
    let utc = text.ends_with(['Z', 'z']) || text.ends_with("+00:00") || text.ends_with("-00:00");
    if !utc {
        return None;
    }
    let at = humantime::parse_rfc3339_weak(text).ok()?;
    let left = at.duration_since(now).unwrap_or(Duration::ZERO);
    (left <= ABSURD_DELAY).then_some(left)
}

#[cfg(test)]
mod tests {
    use super::super::tests::headers;
    use super::*;

    #[test]
    fn openai_headers() {
        let h = headers(&[
            ("x-ratelimit-limit-requests", b"10000"),
            ("x-ratelimit-limit-tokens", b"30000000"),
            ("x-ratelimit-remaining-requests", b"9999"),
            ("x-ratelimit-remaining-tokens", b"29999990"),
            ("x-ratelimit-reset-requests", b"6ms"),
            ("x-ratelimit-reset-tokens", b"12.577s"),
        ]);
        let l = rate_limits(&h);
        assert_eq!(
            l.requests,
            Limit {
                limit: Some(10_000),
                remaining: Some(9_999),
                reset: Some(Duration::from_millis(6)),
            }
        );
        assert_eq!(l.tokens.reset, Some(Duration::from_millis(12_577)));
        assert!(l.input_tokens.is_empty() && !l.is_empty());
        assert_eq!(l.exhausted_for(), None, "nothing used up");
    }

    #[test]
    fn anthropic_headers() {
        let now = humantime::parse_rfc3339("2025-01-01T00:00:00Z").unwrap();
        let h = headers(&[
            ("anthropic-ratelimit-requests-limit", b"50"),
            ("anthropic-ratelimit-requests-remaining", b"0"),
            (
                "anthropic-ratelimit-requests-reset",
                b"2025-01-01T00:00:30Z",
            ),
            ("anthropic-ratelimit-input-tokens-limit", b"40000"),
            ("anthropic-ratelimit-input-tokens-remaining", b"0"),
            (
                "anthropic-ratelimit-input-tokens-reset",
                b"2025-01-01T00:00:07.5Z",
            ),
            (
                "anthropic-ratelimit-output-tokens-reset",
                b"2024-12-31T23:59:00Z",
            ),
            ("anthropic-ratelimit-tokens-remaining", b"0"),
            (
                "anthropic-ratelimit-tokens-reset",
                b"2025-01-01T01:00:30+01:00",
            ),
        ]);
        let l = rate_limits_at(&h, now);
        assert_eq!(l.requests.limit, Some(50));
        assert_eq!(l.requests.reset, Some(Duration::from_secs(30)));
        assert_eq!(l.input_tokens.reset, Some(Duration::from_millis(7500)));
        assert_eq!(l.output_tokens.reset, Some(Duration::ZERO), "in the past");
        assert_eq!(
            l.tokens.reset, None,
            "an offset other than UTC's is refused"
        );
        assert_eq!(
            l.exhausted_for(),
            Some(Duration::from_secs(30)),
            "the longest"
        );
    }

    #[test]
    fn hostile_values_are_none() {
        let now = humantime::parse_rfc3339("2025-01-01T00:00:00Z").unwrap();
        for bad in [
            &b"-1"[..],
            b"",
            b"1e3",
            b"+5",
            b"abc",
            b"18446744073709551616",
            b"99999999999999999999999",
            b"\xff",
            b"1.5",
        ] {
            let h = headers(&[
                ("x-ratelimit-remaining-requests", bad),
                ("x-ratelimit-limit-tokens", bad),
                ("x-ratelimit-reset-requests", bad),
                ("anthropic-ratelimit-output-tokens-remaining", bad),
                ("anthropic-ratelimit-output-tokens-reset", bad),
            ]);
            let l = rate_limits_at(&h, now);
            assert_eq!(
                (l.requests.remaining, l.tokens.limit),
                (None, None),
                "{bad:?}"
            );
            assert_eq!(l.output_tokens, Limit::default(), "{bad:?}");
            assert_eq!(l.requests.reset, None, "{bad:?}");
        }
        let far = headers(&[
            ("x-ratelimit-remaining-requests", b"0"),
            ("x-ratelimit-reset-requests", b"9999h"),
            ("anthropic-ratelimit-tokens-remaining", b"0"),
            ("anthropic-ratelimit-tokens-reset", b"9999-12-31T23:59:59Z"),
        ]);
        let l = rate_limits_at(&far, now);
        assert_eq!((l.requests.reset, l.tokens.reset), (None, None), "absurd");
        assert_eq!(l.exhausted_for(), None);
        assert_eq!(
            count("18446744073709551615"),
            Some(u64::MAX),
            "the largest count"
        );
    }
}
