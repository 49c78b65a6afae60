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
//! stream cannot be cloned: it is sent once). A response whose status is not
//! a success is read whole and judged as [`check`](super::check) judges it
//! (status, `Retry-After`, `x-should-retry`, the error body); when the
//! policy gives up, that response is returned as the server sent it (status,
//! headers, body), as without the middleware. A transport error that is not
//! retried (or the last one) is returned as the error.

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
}

impl RetryMiddleware {
    /// A middleware that retries with `policy` (call `.classify()` on it
    /// for the `Transient` default and the server's requested delay).
    pub fn new(policy: Retrying<Response, Error>) -> Self {
        RetryMiddleware { policy }
    }
}

/// What the last attempt that failed got, to return it as it was.
enum Last {
    /// An error response, read whole.
    Response(::http::Response<Vec<u8>>),
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
        let Some(first) = req.try_clone() else {
            // A streamed body cannot be sent twice.
            return next.run(req, extensions).await;
        };
        let mut spare = Some(req);
        let last: Mutex<Option<Last>> = Mutex::new(None);
        let keep = |l: Option<Last>| *last.lock().unwrap_or_else(|e| e.into_inner()) = l;
        let outcome = self
            .policy
            .call(|| {
                let request = spare.take().or_else(|| first.try_clone());
                let next = next.clone();
                let mut extensions = extensions.clone();
                let keep = &keep;
                async move {
                    // What an attempt that times out leaves: nothing.
                    keep(None);
                    let Some(request) = request else {
                        return Err(Error::new(Class::Other, "the request cannot be cloned"));
                    };
                    match next.run(request, &mut extensions).await {
                        Ok(response) if response.status().is_success() => Ok(response),
                        Ok(response) => {
                            let status = response.status();
                            let version = response.version();
                            let headers = response.headers().clone();
                            let bytes = match response.bytes().await {
                                Ok(bytes) => bytes.to_vec(),
                                Err(e) => return Err(Error::from(e)),
                            };
                            let text = String::from_utf8_lossy(&bytes).into_owned();
                            let judged = Error::from_status(status.as_u16(), &headers, text);
                            let mut kept = ::http::Response::new(bytes);
                            *kept.status_mut() = status;
                            *kept.version_mut() = version;
                            *kept.headers_mut() = headers;
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
        match outcome {
            Ok(response) => Ok(response),
            Err(judged) => match last.into_inner().unwrap_or_else(|e| e.into_inner()) {
                Some(Last::Response(response)) => Ok(Response::from(response)),
                Some(Last::Failed(error)) => Err(error),
                // Refused before any attempt (an open breaker), or timed out.
                None => Err(reqwest_middleware::Error::middleware(judged)),
            },
        }
    }
}
