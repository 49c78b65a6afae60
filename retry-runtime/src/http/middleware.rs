//! A [`reqwest_middleware::Middleware`] that retries a request with a
//! [`Retrying`] policy: classes, `Retry-After`, the providers' error
//! bodies, deadlines, budgets, breakers and statistics. The drop-in for
//! reqwest-retry (which does not read `Retry-After`). Behind the
//! `reqwest-middleware` cargo feature.
//!
//! ```no_run
//! use reqwest_middleware::ClientBuilder;
//! use retry_runtime::http::middleware::RetryMiddleware;
//! use retry_runtime::{Retrying, wait};
//!
//! let policy = Retrying::new()
//!     .attempts(5)
//!     .wait(wait::exponential())
//!     .classify()
//!     .name("openai");
//! let client = ClientBuilder::new(reqwest::Client::new())
//!     .with(RetryMiddleware::new(policy))
//!     .build();
//! ```
//!
//! Each attempt sends a clone of the request (a request whose body is a
//! stream cannot be cloned: it is sent once, still under the policy's
//! gates and statistics). A response whose status is not a success is read
//! (up to [`BODY_BYTES`](super::BODY_BYTES)) and judged as
//! [`check`](super::check) judges it (status, `Retry-After`,
//! `x-should-retry`, the error body); when the policy gives up, that
//! response is returned with its status, headers, URL, extensions and the
//! body as read, as without the middleware. A transport error that is not
//! retried (or the last one) is returned as the error. What the inner
//! middlewares write into the extensions on the last attempt reaches the
//! caller.

use std::sync::Mutex;

use reqwest::{Request, Response};
use reqwest_middleware::{Middleware, Next};

use super::Error;
use crate::flows::builder::Retrying;
use crate::policy::class::{Class, Classify};

/// Retries requests with a [`Retrying`] policy (see the [module](self)).
#[derive(Clone, Debug)]
pub struct RetryMiddleware {
    policy: Retrying<Response, Error>,
    /// The same policy with one attempt, for a request that cannot be cloned.
    once: Retrying<Response, Error>,
}

impl RetryMiddleware {
    /// A middleware that retries with `policy`, its errors classified
    /// (`.classify()` is applied: the `Transient` default, the server's
    /// requested delay and `x-should-retry`).
    pub fn new(policy: Retrying<Response, Error>) -> Self {
        let policy = policy.classify();
        let once = policy.clone().attempts(1);
        RetryMiddleware { policy, once }
    }
}

/// What the last attempt that failed got, to return it as it was.
enum Last {
    /// An error response, read (up to [`BODY_BYTES`](super::BODY_BYTES)).
    Response(Response),
    Failed(reqwest_middleware::Error),
}

#[async_trait::async_trait]
impl Middleware for RetryMiddleware {
    async fn handle(
        &self,
        req: Request,
        extensions: &mut ::http::Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        // A request whose body is a stream cannot be sent twice: one
        // attempt, still under the policy's gates, timeout and statistics.
        let first = req.try_clone();
        let policy = if first.is_some() {
            &self.policy
        } else {
            &self.once
        };
        let mut spare = Some(req);
        let last: Mutex<Option<Last>> = Mutex::new(None);
        let keep = |l: Option<Last>| *last.lock().unwrap_or_else(|e| e.into_inner()) = l;
        // What the inner middlewares wrote, from the last attempt.
        let written: Mutex<Option<::http::Extensions>> = Mutex::new(None);
        let outcome = policy
            .call(|| {
                let request = spare
                    .take()
                    .or_else(|| first.as_ref().and_then(Request::try_clone));
                let next = next.clone();
                let mut attempt_extensions = extensions.clone();
                let (keep, written) = (&keep, &written);
                async move {
                    // What an attempt that times out leaves: nothing.
                    keep(None);
                    let Some(request) = request else {
                        return Err(Error::new(Class::Other, "the request cannot be cloned"));
                    };
                    let sent = next.run(request, &mut attempt_extensions).await;
                    *written.lock().unwrap_or_else(|e| e.into_inner()) = Some(attempt_extensions);
                    match sent {
                        Ok(response) if response.status().is_success() => Ok(response),
                        Ok(response) => {
                            let (judged, kept) = read_error(response).await;
                            keep(Some(Last::Response(kept)));
                            Err(judged)
                        }
                        Err(reqwest_middleware::Error::Reqwest(e)) => {
                            let judged = Error::new(e.class(), e.to_string());
                            keep(Some(Last::Failed(reqwest_middleware::Error::Reqwest(e))));
                            Err(judged)
                        }
                        Err(other) => {
                            let judged = Error::new(Class::Other, other.to_string());
                            keep(Some(Last::Failed(other)));
                            Err(judged)
                        }
                    }
                }
            })
            .await;
        if let Some(written) = written.into_inner().unwrap_or_else(|e| e.into_inner()) {
            *extensions = written;
        }
        match outcome {
            Ok(response) => Ok(response),
            Err(judged) => match last.into_inner().unwrap_or_else(|e| e.into_inner()) {
                Some(Last::Response(response)) => Ok(response),
                Some(Last::Failed(error)) => Err(error),
                // Refused before any attempt (an open breaker), or timed out.
                None => Err(reqwest_middleware::Error::middleware(judged)),
            },
        }
    }
}

/// An error response judged as [`check`](super::check) judges it, and the
/// same response rebuilt for the caller: status, version, headers, URL and
/// extensions as they were, the body as read (up to [`BODY_BYTES`](super::BODY_BYTES)).
async fn read_error(response: Response) -> (Error, Response) {
    use reqwest::ResponseBuilderExt;
    let url = response.url().clone();
    let response = ::http::Response::from(response);
    let (parts, body) = response.into_parts();
    let bytes = super::read_body(Response::from(::http::Response::new(body))).await;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let judged = Error::from_status(parts.status.as_u16(), &parts.headers, text);
    let mut kept = ::http::Response::builder()
        .status(parts.status)
        .version(parts.version)
        .url(url)
        .body(bytes)
        .unwrap_or_default();
    *kept.headers_mut() = parts.headers;
    kept.extensions_mut().extend(parts.extensions);
    (judged, Response::from(kept))
}
