//! [async-openai](https://docs.rs/async-openai) (0.43, on reqwest 0.13):
//! [`Classify`] for its `OpenAIError`, and a transport that keeps what its
//! own error drops. Behind the `async-openai` cargo feature.
//!
//! **async-openai retries by itself.** Its default client wraps every
//! request in a retry layer of its own (a few attempts on 429 and 5xx).
//! Under `#[retry(attempts = 5)]` each of the five attempts would then be
//! several requests, and a rate-limited API sees a retry storm. Build the
//! client with [`client`]: it installs [`Transport`], which sends each
//! request once (no retry layer), so one logical call sends exactly
//! `attempts` requests, and turns an error response into an
//! [`http::Error`] that keeps the status, `Retry-After`, `x-should-retry`,
//! the rate-limit headers and the provider's error body (read by the same
//! rules as [`http::check`]). async-openai's own error (`ApiError`) keeps
//! only the status and the parsed body: with it, the `Retry-After` header
//! is lost (the delay in OpenAI's message, "Please try again in 1.5s", is
//! still read).
//!
//! ```no_run
//! use async_openai::config::OpenAIConfig;
//! use async_openai::error::OpenAIError;
//! use async_openai::types::chat::{ChatCompletionRequestUserMessage, CreateChatCompletionRequestArgs};
//! use async_openai::Client;
//! use retry_runtime::retry;
//!
//! #[retry(attempts = 5, timeout = 60s)]
//! async fn complete(client: &Client<OpenAIConfig>, prompt: &str) -> Result<String, OpenAIError> {
//!     let request = CreateChatCompletionRequestArgs::default()
//!         .model("gpt-4o-mini")
//!         .messages([ChatCompletionRequestUserMessage::from(prompt).into()])
//!         .build()?;
//!     let response = client.chat().create(request).await?;
//!     Ok(response.choices[0].message.content.clone().unwrap_or_default())
//! }
//!
//! # async fn run() -> Result<(), OpenAIError> {
//! let client = retry_runtime::openai::client(
//!     OpenAIConfig::new().with_api_base("http://127.0.0.1:8080/v1"),
//!     reqwest::Client::new(),
//! );
//! println!("{}", complete(&client, "Say hello.").await?);
//! # Ok(()) }
//! ```
//!
//! A chat stream cut short (the connection closed before the last
//! `finish_reason`) ends quietly in async-openai; [`chat_chunks`] turns
//! that end into a break that [`Retrying::stream`](crate::Retrying::stream)
//! reopens.
//!
//! With [`client`], an error response arrives as `OpenAIError::Boxed`
//! holding an [`http::Error`] (not as `OpenAIError::ApiError`): match on
//! its class, or downcast it. Calling `with_http_client` on the client
//! afterwards puts async-openai's own retry layer back.
//!
//! Classes: a transport error as reqwest's ([`Classify`] for
//! `reqwest::Error`); an error response by the providers' rules
//! ([`http::classify`]: `insufficient_quota` is `Quota`, a rate limit is
//! `Status(429)`, …); a stream that broke midway (`StreamError`) is
//! `Connect`, a break that `Retrying::stream` reopens; a body that does not
//! decode is `Other` unless it is an error object (a gateway's error in a
//! 200 body or stream event: the providers' rules); a file error or an
//! invalid argument is `Other`. `OpenAIError`
//! comes from [`Elapsed`] (so `timeout = ...` works with no error type of
//! your own) and from [`CircuitOpen`] (so does `breaker = ...`).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use async_openai::config::Config;
use async_openai::error::{OpenAIError, StreamError};
use async_openai::middleware::HttpRequestFactory;
use async_openai::types::chat::CreateChatCompletionStreamResponse;

use crate::http;
use crate::policy::Elapsed;
use crate::policy::class::{Class, Classify};
use crate::protect::CircuitOpen;

/// An async-openai client that sends each request once, through
/// [`Transport`]: its own retry layer is not installed (the retries are
/// `#[retry]`'s), and an error response keeps its headers.
pub fn client<C: Config>(config: C, http_client: reqwest::Client) -> async_openai::Client<C> {
    async_openai::Client::build(http_client.clone(), config)
        .with_http_service(Transport::new(http_client))
}

/// The transport of [`client`] (a `tower::Service` for async-openai's
/// `with_http_service`): one request per call, a success returned as it
/// is (its rate-limit headers with it), an error response turned into an
/// [`http::Error`] by [`http::check`], inside `OpenAIError::Boxed`.
#[derive(Clone, Debug)]
pub struct Transport {
    client: reqwest::Client,
}

impl Transport {
    /// A transport that sends with `client`.
    pub fn new(client: reqwest::Client) -> Self {
        Transport { client }
    }
}

type Sent = Pin<Box<dyn Future<Output = Result<reqwest::Response, OpenAIError>> + Send>>;

impl tower::Service<HttpRequestFactory> for Transport {
    type Response = reqwest::Response;
    type Error = OpenAIError;
    type Future = Sent;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: HttpRequestFactory) -> Self::Future {
        let client = self.client.clone();
        Box::pin(async move {
            let request = request.build().await?;
            let response = client.execute(request).await?;
            http::check(response)
                .await
                .map_err(|e| OpenAIError::Boxed(Box::new(e)))
        })
    }
}

/// What classifies an `OpenAIError` that wraps another error (from
/// [`Transport`], a timeout or breaker of this crate, or a tower layer of
/// the user's around them): the first error of its chain that is
/// recognised.
fn inner(error: &OpenAIError) -> Option<&dyn Classify> {
    match error {
        OpenAIError::Boxed(boxed) => crate::policy::chain::recognise(boxed.as_ref()),
        _ => None,
    }
}

impl Classify for OpenAIError {
    fn class(&self) -> Class {
        if let Some(e) = inner(self) {
            return e.class();
        }
        match self {
            OpenAIError::Reqwest(e) => e.class(),
            OpenAIError::ApiError(response) => {
                let status = response.status_code.as_u16();
                let e = &response.api_error;
                http::classify_error(
                    status,
                    e.r#type.as_deref(),
                    e.code.as_deref(),
                    Some(&e.message),
                )
                .unwrap_or(Class::Status(status))
            }
            OpenAIError::StreamError(e) => match **e {
                StreamError::EventStream(_) => Class::Connect,
                _ => Class::Other,
            },
            // A 200 body (or stream event) that is an error object: by the
            // providers' rules; anything else that does not decode: `Other`.
            OpenAIError::JSONDeserialize(_, content) => {
                http::error_object(content).map_or(Class::Other, |(class, _)| class)
            }
            _ => Class::Other,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        if let Some(e) = inner(self) {
            return e.retry_after();
        }
        match self {
            OpenAIError::ApiError(response) => http::message_delay(&response.api_error.message),
            OpenAIError::JSONDeserialize(_, content) => {
                http::error_object(content).and_then(|(_, delay)| delay)
            }
            _ => None,
        }
    }

    fn should_retry(&self) -> Option<bool> {
        inner(self).and_then(Classify::should_retry)
    }
}

/// Found in a chain of causes ([`chain`](crate::chain)): an `OpenAIError`
/// inside an `anyhow::Error` or a boxed error.
pub(crate) fn recognise<'e>(e: &'e (dyn std::error::Error + 'static)) -> Option<&'e dyn Classify> {
    e.downcast_ref::<OpenAIError>().map(|e| e as &dyn Classify)
}

/// A timed-out attempt (`timeout = ...`): class `Timeout`.
impl From<Elapsed> for OpenAIError {
    fn from(elapsed: Elapsed) -> Self {
        OpenAIError::Boxed(Box::new(http::Error::from(elapsed)))
    }
}

/// A call an open breaker refused (`breaker = ...`): class `Other`.
impl From<CircuitOpen> for OpenAIError {
    fn from(open: CircuitOpen) -> Self {
        OpenAIError::Boxed(Box::new(http::Error::from(open)))
    }
}

pin_project_lite::pin_project! {
    /// A chat completion stream that must end with a `finish_reason`
    /// ([`chat_chunks`]).
    #[must_use = "streams do nothing unless polled"]
    pub struct ChatChunks<S> {
        #[pin]
        inner: S,
        // The choices seen without their `finish_reason` yet, and those
        // that have theirs.
        open: Vec<u32>,
        done: Vec<u32>,
        // An error went through: the consumer knows already.
        failed: bool,
        // The end was reported.
        ended: bool,
    }
}

/// A chat completion stream (`client.chat().create_stream(..)`) whose end
/// is checked: async-openai ends the stream quietly when the connection
/// closes, so an answer cut short looks complete. Through `chat_chunks`, a
/// stream that ends before every choice it started has its
/// `finish_reason` (or before any choice ended) ends with one more item,
/// an `OpenAIError::StreamError`: class `Connect`, a break that
/// [`Retrying::stream`](crate::Retrying::stream) reopens. A stream that
/// yielded an error ends as it does (the consumer has heard it). A choice
/// that never sent a chunk cannot be told apart from one not asked for
/// (`n`): only the choices seen are checked. The `[DONE]`
/// line itself is swallowed by async-openai; the `finish_reason` is what
/// OpenAI (and compatible servers) send before it.
///
/// ```no_run
/// use async_openai::config::OpenAIConfig;
/// use async_openai::error::OpenAIError;
/// use async_openai::types::chat::CreateChatCompletionRequest;
/// use futures_util::StreamExt;
/// use retry_runtime::stream::Resume;
/// use retry_runtime::{Retrying, openai};
///
/// # async fn run(client: async_openai::Client<OpenAIConfig>, request: CreateChatCompletionRequest) {
/// let policy = Retrying::<(), OpenAIError>::new().classify().attempts(3);
/// let stream = policy.stream(Resume::Restart, |_| {
///     let (client, request) = (client.clone(), request.clone());
///     async move { Ok(openai::chat_chunks(client.chat().create_stream(request).await?)) }
/// });
/// let mut stream = std::pin::pin!(stream);
/// while let Some(chunk) = stream.next().await {
///     println!("{:?}", chunk);
/// }
/// # }
/// ```
pub fn chat_chunks<S>(stream: S) -> ChatChunks<S>
where
    S: futures_core::Stream<Item = Result<CreateChatCompletionStreamResponse, OpenAIError>>,
{
    ChatChunks {
        inner: stream,
        open: Vec::new(),
        done: Vec::new(),
        failed: false,
        ended: false,
    }
}

impl<S> futures_core::Stream for ChatChunks<S>
where
    S: futures_core::Stream<Item = Result<CreateChatCompletionStreamResponse, OpenAIError>>,
{
    type Item = Result<CreateChatCompletionStreamResponse, OpenAIError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.project();
        if *this.ended {
            return Poll::Ready(None);
        }
        let item = match this.inner.poll_next(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(item) => item,
        };
        match &item {
            Some(Ok(chunk)) => {
                for choice in &chunk.choices {
                    // A choice that has its end stays ended (a usage chunk,
                    // a late delta).
                    if this.done.contains(&choice.index) {
                        continue;
                    }
                    if choice.finish_reason.is_some() {
                        this.open.retain(|i| *i != choice.index);
                        this.done.push(choice.index);
                    } else if !this.open.contains(&choice.index) {
                        this.open.push(choice.index);
                    }
                }
                Poll::Ready(item)
            }
            // An error goes through as it is (the stream may go on); the
            // consumer has heard that the answer is not whole.
            Some(Err(_)) => {
                *this.failed = true;
                Poll::Ready(item)
            }
            None => {
                *this.ended = true;
                if *this.failed || (!this.done.is_empty() && this.open.is_empty()) {
                    return Poll::Ready(None);
                }
                let cut = OpenAIError::StreamError(Box::new(StreamError::EventStream(
                    "the stream ended before its finish_reason: the answer is cut short"
                        .to_string(),
                )));
                Poll::Ready(Some(Err(cut)))
            }
        }
    }
}
