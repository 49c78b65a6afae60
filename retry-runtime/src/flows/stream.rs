//! Streams that break midway: a retrying stream built from a factory that
//! opens the stream, driven by a [`Retrying`] policy, with the resume
//! behaviour the user chooses ([`Resume`]).
//!
//! Why not the attribute: a function that returns a stream has returned
//! before its stream fails, so a loop around its body cannot see the
//! failure; the retry has to wrap the consumption, which is what
//! [`Retrying::stream`] does. The policy is the same type as for calls:
//! attempts, waits, classes, `Retry-After`, the deadline, hooks, statistics,
//! budgets and breakers apply.
//!
//! For an annotated function and its stream, one declaration: the
//! attribute's `policy = NAME` emits `NAME()`, the function's policy as a
//! `&'static Retrying` (same keys, same name), so the stream cannot drift
//! from the function:
//!
//! ```
//! use futures_util::StreamExt;
//! use retry_runtime::stream::{Resume, Streamed};
//! use retry_runtime::retry;
//!
//! #[retry(attempts = 4, wait = none, on = [Connect], policy = words_policy)]
//! async fn words() -> std::io::Result<String> {
//!     Ok("one two".to_string())
//! }
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! let mut opened = 0;
//! let stream = words_policy().stream(Resume::Skip, |_| {
//!     opened += 1;
//!     let broken = opened < 3; // reset twice, as `on = [Connect]` retries
//!     let mut items: Vec<std::io::Result<&str>> = vec![Ok("one")];
//!     items.push(if broken { Err(std::io::ErrorKind::ConnectionReset.into()) } else { Ok("two") });
//!     async move { Ok(futures_util::stream::iter(items)) }
//! });
//! let got: Vec<Streamed<&str>> = stream.map(Result::unwrap).collect().await;
//! assert_eq!(got, [Streamed::Item("one"), Streamed::Item("two")]);
//! # }
//! ```
//!
//! ```
//! use futures_util::StreamExt;
//! use retry_runtime::stream::{Resume, Streamed};
//! use retry_runtime::{Retrying, wait};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! // A source that replays the same items and breaks after the second one,
//! // the first time only.
//! let mut opened = 0;
//! let policy = Retrying::<(), std::io::Error>::new().classify().wait(wait::none());
//! let stream = policy.stream(Resume::Skip, |_resumed| {
//!     opened += 1;
//!     let items: Vec<std::io::Result<u32>> = if opened == 1 {
//!         vec![Ok(1), Ok(2), Err(std::io::ErrorKind::ConnectionReset.into())]
//!     } else {
//!         vec![Ok(1), Ok(2), Ok(3)]
//!     };
//!     async move { Ok(futures_util::stream::iter(items)) }
//! });
//! let got: Vec<u32> = stream
//!     .map(|item| match item.unwrap() {
//!         Streamed::Item(n) => n,
//!         other => panic!("{other:?}"),
//!     })
//!     .collect()
//!     .await;
//! assert_eq!(got, [1, 2, 3]); // nothing twice, nothing lost
//! # }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures_core::Stream;
use pin_project_lite::pin_project;

use crate::counters::clock::TokioClock;
use crate::engine::sleep::{Pause, pause};
use crate::engine::{Call, Failure, Step};
use crate::flows::builder::{ForStream, Observers, Retrying};

/// What to do with what was delivered when the stream breaks and is opened
/// again.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resume {
    /// Open a fresh stream from the start, and say so in the stream: a
    /// [`Streamed::Restarted`] item with how many items had been delivered
    /// comes before the fresh stream's first item. The consumer decides
    /// (drop what it had, or keep it). Holds nothing but a count.
    Restart,
    /// Open a fresh stream and drop as many items as were already delivered
    /// (for sources that replay the same items). Holds nothing but a count.
    ///
    /// A replay that ends before it reaches what was delivered (a different,
    /// shorter answer) is a failed attempt, retried under the policy's
    /// top-level attempts and wait as a rejected `when_ok` value is; if the
    /// policy gives up, the stream's last item is [`Streamed::Incomplete`],
    /// never a plain end.
    Skip,
    /// Give the factory the items delivered so far
    /// ([`Resumed::delivered_items`]), so that it can ask the server to go on
    /// from there (for an LLM, a request that carries the partial answer).
    /// Holds every delivered item (a clone of each).
    Continue,
}

/// What the factory is told when it opens the stream. More fields may
/// follow; only the stream builds it.
#[non_exhaustive]
#[derive(Debug)]
pub struct Resumed<'a, I> {
    /// The attempt that is about to start, from 1.
    pub attempt: u32,
    /// How many items were delivered to the consumer so far (since the last
    /// restart, in [`Resume::Restart`]).
    pub delivered: u64,
    /// The items delivered so far, in [`Resume::Continue`]; empty otherwise.
    pub delivered_items: &'a [I],
}

/// An item of a retrying stream. More kinds may follow: a `match` needs a
/// `_` arm.
///
/// ```
/// use retry_runtime::stream::Streamed;
///
/// fn show(item: Streamed<String>) -> String {
///     match item {
///         Streamed::Item(token) => token,
///         Streamed::Restarted { attempt, .. } => format!("[attempt {attempt} starts over]"),
///         Streamed::Incomplete { .. } => "[the answer is incomplete]".into(),
///         _ => String::new(),
///     }
/// }
/// assert_eq!(show(Streamed::Item("Hi".into())), "Hi");
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Streamed<I> {
    /// An item of the underlying stream.
    Item(I),
    /// ([`Resume::Restart`] only.) The stream broke after `delivered` items
    /// and was opened again from the start; attempt `attempt` follows.
    Restarted {
        /// Items delivered before the break.
        delivered: u64,
        /// The attempt that follows, from 2.
        attempt: u32,
    },
    /// ([`Resume::Skip`] only.) The last item: the source's replay ended
    /// after `replayed` items, short of the `delivered` ones the consumer
    /// has, and the policy gave up opening it again. What was delivered is
    /// the start of an answer whose end never came.
    Incomplete {
        /// Items delivered to the consumer.
        delivered: u64,
        /// Items the last replay had before it ended.
        replayed: u64,
    },
}

impl<I> Streamed<I> {
    /// The item, if this is one.
    ///
    /// ```
    /// use retry_runtime::stream::Streamed;
    ///
    /// assert_eq!(Streamed::Item(7).item(), Some(7));
    /// assert_eq!(Streamed::<u32>::Incomplete { delivered: 4, replayed: 2 }.item(), None);
    /// ```
    pub fn item(self) -> Option<I> {
        match self {
            Streamed::Item(item) => Some(item),
            Streamed::Restarted { .. } | Streamed::Incomplete { .. } => None,
        }
    }
}

/// How an attempt of the stream failed.
enum Broke<E> {
    /// Opening or reading failed (or the idle limit ran out).
    Error(E),
    /// ([`Resume::Skip`]) The replay ended after `replayed` items, before it
    /// reached what was delivered.
    ShortReplay { replayed: u64 },
}

impl<E> Broke<E> {
    /// The failure as the engine sees it: a short replay has no error, and
    /// is retried as a rejected value is.
    fn failure<'e, T>(&'e self, policy: &Retrying<T, E>, timed_out: bool) -> Failure<'e, E> {
        match self {
            Broke::Error(error) => policy.failure_of(error, timed_out),
            Broke::ShortReplay { .. } => Failure::rejected(),
        }
    }

    /// The stream's last item when the call gives up.
    fn last_item<I>(self, delivered: u64) -> Result<Streamed<I>, E> {
        match self {
            Broke::Error(error) => Err(error),
            Broke::ShortReplay { replayed } => Ok(Streamed::Incomplete {
                delivered,
                replayed,
            }),
        }
    }
}

pin_project! {
    #[project = StateProj]
    enum State<Fut, S, E> {
        Opening { #[pin] open: Fut },
        Streaming { #[pin] stream: S },
        // The engine's `Step::Sleep`: the fleet's hold before the first
        // attempt (no `last`), or the pause after a failed one.
        Sleeping { #[pin] pause: Pause, last: Option<Broke<E>> },
        Done,
    }
}

pin_project! {
    /// A stream that opens its source again when it breaks; see
    /// [`Retrying::stream`]. Dropping it cancels everything.
    #[must_use = "streams do nothing unless polled"]
    pub struct RetryStream<'p, T, E, I, F, Fut, S> {
        policy: &'p Retrying<T, E>,
        call: Option<Call<'p, TokioClock, Observers>>,
        factory: F,
        mode: Resume,
        attempt: u32,
        delivered: u64,
        kept: Vec<I>,
        // Items of the fresh stream still to drop (skip).
        skip: u64,
        // A restart to announce before the fresh stream's first item.
        announce: Option<u64>,
        // Whether the current attempt delivered an item; false again once
        // it failed, so that a stream dropped before the next attempt
        // delivers reports no success for it.
        got_item: bool,
        // Whether the current attempt's source answered (an item came, a
        // replayed one included): told to the call once per attempt.
        answered: bool,
        // Whether the call's end was reported.
        ended: bool,
        // The policy's `timeout`, as a limit on opening and between items.
        #[pin]
        timer: Option<tokio::time::Sleep>,
        #[pin]
        state: State<Fut, S, E>,
    }

    impl<'p, T, E, I, F, Fut, S> PinnedDrop for RetryStream<'p, T, E, I, F, Fut, S> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            // A consumer that stops after the current attempt's items
            // arrived ends a good call; one that leaves while the stream
            // waits to open again (or opens it) ends nothing: the last
            // attempt failed and was reported so.
            if let (false, true, Some(call)) = (*this.ended, *this.got_item, this.call.as_ref()) {
                call.succeeded();
            }
        }
    }
}

impl<T, E> Retrying<T, E> {
    /// A stream of `factory`'s streams, opened again under this policy when
    /// opening or reading fails. `factory` is called for each attempt with
    /// what was delivered so far ([`Resumed`]); `mode` says what happens to
    /// it ([`Resume`]). Items are yielded as they arrive. A failure before
    /// the first item is an ordinary retry; an error the rules do not retry
    /// (or the last one) ends the stream with that error.
    ///
    /// - Each opening of the source counts as an attempt, for the whole
    ///   stream: a policy of 5 attempts gives up at the fifth break.
    /// - The policy's [`timeout`](Retrying::timeout) limits the opening and
    ///   the wait for each item (an idle timeout): a source that goes silent
    ///   fails as a `Timeout`. Its `deadline` counts from the first opening
    ///   (from the stream's start when a fleet's cool-down holds it first),
    ///   streaming time included: a break after the deadline is not retried.
    /// - `when_ok` does not apply (items are not the policy's `T`).
    /// - The call succeeds when the stream ends, or when the consumer drops
    ///   it after the current attempt delivered items; statistics, breakers
    ///   and adaptive windows hear it then, when the attempt ends, however
    ///   long it ran. A half-open breaker's trial is the exception: it
    ///   passes at the attempt's first item (the API answers), and the rest
    ///   of the stream counts as an attempt of the closed breaker. Dropped
    ///   while it waits to open again (or while it opens), the stream
    ///   reports nothing more: its last attempt failed, and was reported
    ///   when it did.
    /// - In [`Resume::Skip`], a replay that ends before it reaches what was
    ///   delivered is a failed attempt (the source did not replay the same
    ///   items), retried under the top-level attempts and wait. If the
    ///   policy gives up, the stream ends with [`Streamed::Incomplete`]: the
    ///   consumer is told that the answer lacks its end. Hooks see the
    ///   failure without an error (as for a rejected `when_ok` value), and
    ///   statistics count the call as they count a rejected value: not
    ///   among `failures` (calls that returned an error), with its reason
    ///   among `gave_up`.
    pub fn stream<I, F, Fut, S>(
        &self,
        mode: Resume,
        factory: F,
    ) -> RetryStream<'_, T, E, I, F, Fut, S>
    where
        I: Clone,
        F: FnMut(Resumed<'_, I>) -> Fut,
        Fut: Future<Output = Result<S, E>>,
        S: Stream<Item = Result<I, E>>,
    {
        RetryStream {
            policy: self,
            call: None,
            factory,
            mode,
            attempt: 0,
            delivered: 0,
            kept: Vec::new(),
            skip: 0,
            announce: None,
            got_item: false,
            answered: false,
            ended: false,
            timer: None,
            state: State::Done,
        }
    }
}

/// Starts the idle timer, or starts it again (when the policy has a timeout).
fn arm(mut timer: Pin<&mut Option<tokio::time::Sleep>>, limit: Option<std::time::Duration>) {
    let Some(limit) = limit else { return };
    if timer.is_none() {
        timer.set(Some(tokio::time::sleep(limit)));
    } else if let Some(sleep) = timer.as_pin_mut() {
        sleep.reset(tokio::time::Instant::now() + limit);
    }
}

impl<T, E, I, F, Fut, S> Stream for RetryStream<'_, T, E, I, F, Fut, S>
where
    I: Clone,
    F: FnMut(Resumed<'_, I>) -> Fut,
    Fut: Future<Output = Result<S, E>>,
    S: Stream<Item = Result<I, E>>,
{
    type Item = Result<Streamed<I>, E>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        let ForStream {
            settings,
            limit,
            expired,
            circuit_open,
        } = this.policy.for_stream();
        // The engine's step to follow, and the last attempt's failure.
        let mut next = None;
        if this.call.is_none() {
            // The call starts: the fleet's hold, or the first attempt past
            // its gate (with a timeout it ends at once when the hold would
            // outlast its deadline).
            let (call, step) = Call::<TokioClock, Observers>::start(settings, expired.is_some());
            *this.call = Some(call);
            next = Some((step, None));
        }
        loop {
            if let Some((step, last)) = next.take() {
                let Some(call) = this.call.as_mut() else {
                    return Poll::Ready(None);
                };
                match step {
                    Step::Sleep(delay) => this.state.set(State::Sleeping {
                        pause: pause(delay),
                        last,
                    }),
                    Step::Refused => {
                        *this.ended = true;
                        this.state.set(State::Done);
                        // Through the engine, so that hooks and statistics
                        // hear it: the last outcome, or before any attempt
                        // the refusal's error.
                        let Some(broke) = last else {
                            let error = if call.refused_by_deadline() {
                                expired
                            } else {
                                circuit_open
                            };
                            // Only a breaker refuses a first attempt, and it
                            // comes with the conversion; the deadline only
                            // with a timeout's.
                            let Some(error) = error else {
                                return Poll::Ready(None);
                            };
                            let error = error();
                            let _ = this
                                .policy
                                .judge(call, this.policy.failure_of(&error, false));
                            return Poll::Ready(Some(Err(error)));
                        };
                        let _ = this.policy.judge(call, broke.failure(this.policy, false));
                        return Poll::Ready(Some(broke.last_item(*this.delivered)));
                    }
                    Step::Attempt => {
                        *this.attempt += 1;
                        // A break before the first item is an ordinary retry.
                        if *this.mode == Resume::Restart && *this.delivered > 0 {
                            *this.announce = Some(*this.delivered);
                            *this.delivered = 0;
                        }
                        arm(this.timer.as_mut(), limit);
                        let open = (this.factory)(Resumed {
                            attempt: *this.attempt,
                            delivered: *this.delivered,
                            delivered_items: this.kept,
                        });
                        this.state.set(State::Opening { open });
                    }
                }
            }
            // What failed, and whether it ran out of time.
            let (broke, timed_out) = match this.state.as_mut().project() {
                StateProj::Done => return Poll::Ready(None),
                StateProj::Opening { open } => match open.poll(cx) {
                    Poll::Ready(Ok(stream)) => {
                        *this.skip = if *this.mode == Resume::Skip {
                            *this.delivered
                        } else {
                            0
                        };
                        arm(this.timer.as_mut(), limit);
                        this.state.set(State::Streaming { stream });
                        if let Some(delivered) = this.announce.take() {
                            let attempt = *this.attempt;
                            return Poll::Ready(Some(Ok(Streamed::Restarted {
                                delivered,
                                attempt,
                            })));
                        }
                        continue;
                    }
                    Poll::Ready(Err(error)) => (Broke::Error(error), false),
                    Poll::Pending => match timed_out(this.timer.as_mut(), cx, expired) {
                        Some(error) => (Broke::Error(error), true),
                        None => return Poll::Pending,
                    },
                },
                StateProj::Streaming { stream } => match stream.poll_next(cx) {
                    Poll::Ready(Some(Ok(item))) => {
                        arm(this.timer.as_mut(), limit);
                        // The source answers (a replayed item too): a
                        // breaker's trial passes now, not when a stream of a
                        // minute ends.
                        if !*this.answered {
                            *this.answered = true;
                            if let Some(call) = this.call.as_ref() {
                                call.answered();
                            }
                        }
                        if *this.skip > 0 {
                            *this.skip -= 1;
                            continue;
                        }
                        *this.delivered += 1;
                        *this.got_item = true;
                        if *this.mode == Resume::Continue {
                            this.kept.push(item.clone());
                        }
                        return Poll::Ready(Some(Ok(Streamed::Item(item))));
                    }
                    Poll::Ready(Some(Err(error))) => (Broke::Error(error), false),
                    // A replay that ends short of what was delivered: the
                    // source did not replay the same items.
                    Poll::Ready(None) if *this.skip > 0 => {
                        let replayed = this.delivered.saturating_sub(*this.skip);
                        (Broke::ShortReplay { replayed }, false)
                    }
                    Poll::Ready(None) => {
                        if let Some(call) = this.call.as_ref() {
                            call.succeeded();
                        }
                        *this.ended = true;
                        this.state.set(State::Done);
                        return Poll::Ready(None);
                    }
                    Poll::Pending => match timed_out(this.timer.as_mut(), cx, expired) {
                        Some(error) => (Broke::Error(error), true),
                        None => return Poll::Pending,
                    },
                },
                StateProj::Sleeping { pause, last } => {
                    ready!(pause.poll(cx));
                    let last = last.take();
                    let Some(call) = this.call.as_mut() else {
                        return Poll::Ready(None);
                    };
                    next = Some((call.resume(), last));
                    continue;
                }
            };
            *this.got_item = false;
            *this.answered = false;
            let Some(call) = this.call.as_mut() else {
                return Poll::Ready(None);
            };
            match this
                .policy
                .judge(call, broke.failure(this.policy, timed_out))
            {
                Some(delay) => next = Some((Step::Sleep(delay), Some(broke))),
                None => {
                    *this.ended = true;
                    this.state.set(State::Done);
                    return Poll::Ready(Some(broke.last_item(*this.delivered)));
                }
            }
        }
    }
}

/// The timeout's error when the idle timer has run out.
fn timed_out<E>(
    timer: Pin<&mut Option<tokio::time::Sleep>>,
    cx: &mut Context<'_>,
    expired: Option<fn() -> E>,
) -> Option<E> {
    let sleep = timer.as_pin_mut()?;
    match sleep.poll(cx) {
        Poll::Ready(()) => expired.map(|e| e()),
        Poll::Pending => None,
    }
}

impl<T, E, I, F, Fut, S> std::fmt::Debug for RetryStream<'_, T, E, I, F, Fut, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetryStream")
            .field("mode", &self.mode)
            .field("attempt", &self.attempt)
            .field("delivered", &self.delivered)
            .finish_non_exhaustive()
    }
}

/// [`Resumed`] and [`Streamed`] may grow: users cannot build a `Resumed`,
/// nor match a `Streamed` without a `_` arm.
///
/// ```compile_fail
/// let _ = retry_runtime::stream::Resumed::<u32> {
///     attempt: 1,
///     delivered: 0,
///     delivered_items: &[],
/// };
/// ```
///
/// ```compile_fail
/// use retry_runtime::stream::Streamed;
///
/// fn item(s: Streamed<u32>) -> Option<u32> {
///     match s {
///         Streamed::Item(n) => Some(n),
///         Streamed::Restarted { .. } | Streamed::Incomplete { .. } => None,
///     }
/// }
/// ```
#[cfg(doctest)]
struct MayGrow;
