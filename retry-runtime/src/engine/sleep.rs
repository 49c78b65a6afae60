//! The pause between attempts (async and blocking), and the time limit of
//! one attempt.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// Runs one attempt with a time limit; `(outcome, timed_out)`. `expired`
/// builds the outcome of an attempt that ran out of time
/// ([`timed_out`](crate::__private::timed_out)).
/// Without a limit the attempt runs as it is.
#[inline]
pub async fn with_timeout<R, F, X>(limit: Option<Duration>, attempt: F, expired: X) -> (R, bool)
where
    F: Future<Output = R>,
    X: FnOnce() -> R,
{
    match limit {
        None => (attempt.await, false),
        // No time left (a sleep that ended late at the deadline): the
        // attempt is not started at all, not even polled once.
        Some(limit) if limit.is_zero() => (expired(), true),
        Some(limit) => match tokio::time::timeout(limit, attempt).await {
            Ok(outcome) => (outcome, false),
            Err(_) => (expired(), true),
        },
    }
}

/// The async pause between attempts: a tokio sleep, or for a zero delay one
/// trip through the executor (so that `wait = none` with many attempts does
/// not starve other tasks, and needs no timer). The delay is not kept: the
/// future is the size of a `Sleep`.
#[inline]
pub fn pause(delay: Duration) -> Pause {
    if delay.is_zero() {
        Pause::Yield(false)
    } else {
        Pause::Sleep(tokio::time::sleep(delay))
    }
}

/// See [`pause`].
pub enum Pause {
    /// Yields once.
    Yield(bool),
    /// Sleeps.
    Sleep(tokio::time::Sleep),
}

impl Future for Pause {
    type Output = ();

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // SAFETY: the `Sleep` is never moved out of the pinned enum, and the
        // enum never changes variant once created.
        match unsafe { self.get_unchecked_mut() } {
            Pause::Yield(yielded) => {
                if *yielded {
                    Poll::Ready(())
                } else {
                    *yielded = true;
                    cx.waker().wake_by_ref();
                    Poll::Pending
                }
            }
            // SAFETY: `sleep` lives in the pinned enum and is never moved.
            Pause::Sleep(sleep) => unsafe { Pin::new_unchecked(sleep) }.poll(cx),
        }
    }
}

/// The blocking sleep between attempts.
#[inline]
pub fn sleep_blocking(delay: Duration) {
    if !delay.is_zero() {
        std::thread::sleep(delay);
    }
}
