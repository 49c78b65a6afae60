//! [`Elapsed`]: the error a timed-out attempt is turned into.

use std::fmt;

/// The error an attempt that ran past `timeout` is turned into.
///
/// Give your error type `impl From<Elapsed>` to use `timeout = ...`.
///
/// ```
/// use retry_runtime::Elapsed;
///
/// enum MyError { TimedOut, Other }
///
/// impl From<Elapsed> for MyError {
///     fn from(_: Elapsed) -> Self { MyError::TimedOut }
/// }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Elapsed(());

impl Elapsed {
    /// A new `Elapsed`.
    pub const fn new() -> Self {
        Elapsed(())
    }
}

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("attempt timed out")
    }
}

impl std::error::Error for Elapsed {}

/// An [`io::Error`](std::io::Error) of kind `TimedOut`.
impl From<Elapsed> for std::io::Error {
    fn from(e: Elapsed) -> Self {
        std::io::Error::new(std::io::ErrorKind::TimedOut, e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_and_converts() {
        assert_eq!(Elapsed::new().to_string(), "attempt timed out");
        let io = std::io::Error::from(Elapsed::new());
        assert_eq!(io.kind(), std::io::ErrorKind::TimedOut);
        assert_eq!(io.to_string(), "attempt timed out");
    }
}
