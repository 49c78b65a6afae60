//! What the body of one attempt may know about itself: its number, and a
//! key that every attempt of the same call shares.

use std::fmt;

/// The attempt that is running, as the body sees it with
/// `#[retry(attempt = a)]` (or [`Retrying::call_with`](crate::Retrying::call_with)):
/// its 1-based number, and a key that every attempt of one call shares.
///
/// Only a function that asks for it pays for it (a random key drawn once
/// per call); the others are unchanged.
///
/// ```
/// use retry_runtime::{Attempt, retry};
///
/// #[retry(attempts = 3, wait = none, attempt = a)]
/// fn send(log: &mut Vec<(u32, String)>) -> std::io::Result<()> {
///     // Headers an LLM SDK sends: `x-stainless-retry-count: {a.retries()}`,
///     // `Idempotency-Key: {a.idempotency_key()}`.
///     log.push((a.retries(), a.idempotency_key().to_string()));
///     if a.number() < 3 { Err(std::io::ErrorKind::ConnectionReset.into()) } else { Ok(()) }
/// }
///
/// let mut log = Vec::new();
/// send(&mut log).unwrap();
/// assert_eq!(log.iter().map(|(n, _)| *n).collect::<Vec<_>>(), [0, 1, 2]);
/// assert!(log.iter().all(|(_, key)| *key == log[0].1), "one key for the call");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attempt {
    number: u32,
    key: IdempotencyKey,
}

impl Attempt {
    /// The first attempt of a new call (a fresh key).
    #[doc(hidden)]
    pub fn first() -> Attempt {
        Attempt {
            number: 1,
            key: IdempotencyKey(random_u128()),
        }
    }

    /// Attempt `number` of the same call.
    #[doc(hidden)]
    #[must_use]
    pub fn numbered(self, number: u32) -> Attempt {
        Attempt {
            number: number.max(1),
            ..self
        }
    }

    /// The attempt's number: 1 for the first.
    pub fn number(&self) -> u32 {
        self.number
    }

    /// The attempts before this one: 0 for the first (what the OpenAI and
    /// Anthropic SDKs send as `x-stainless-retry-count`).
    pub fn retries(&self) -> u32 {
        self.number - 1
    }

    /// Whether this is a retry (not the first attempt).
    pub fn is_retry(&self) -> bool {
        self.number > 1
    }

    /// A key that every attempt of this call shares and no other call has
    /// (128 random bits): the `Idempotency-Key` of a request that a server
    /// must not carry out twice.
    pub fn idempotency_key(&self) -> IdempotencyKey {
        self.key
    }
}

/// 128 unpredictable bits without a syscall: two draws of the standard
/// library's per-thread random hash keys (seeded from the OS once per
/// thread, and stepped on every use), each hashed with the process id, so
/// that processes forked from one thread do not draw the same keys.
fn random_u128() -> u128 {
    use std::hash::{BuildHasher, Hasher};
    let draw = || {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u32(std::process::id());
        hasher.finish()
    };
    (u128::from(draw()) << 64) | u128::from(draw())
}

/// One call's key, shown as 32 hexadecimal digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(u128);

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

impl fmt::Debug for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdempotencyKey({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_retries_and_one_key_per_call() {
        let first = Attempt::first();
        assert_eq!(
            (first.number(), first.retries(), first.is_retry()),
            (1, 0, false)
        );
        let third = first.numbered(3);
        assert_eq!(
            (third.number(), third.retries(), third.is_retry()),
            (3, 2, true)
        );
        assert_eq!(third.idempotency_key(), first.idempotency_key());
        assert_ne!(Attempt::first().idempotency_key(), first.idempotency_key());
        assert_eq!(first.numbered(0).number(), 1, "never below 1");
        assert_eq!(first.idempotency_key().to_string().len(), 32);
        let max = first.numbered(u32::MAX);
        assert_eq!(max.retries(), u32::MAX - 1);
    }
}
