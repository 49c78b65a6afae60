//! Failure classes: what kind of failure an error is, and sets of classes for rules.

use std::io;
use std::time::Duration;

/// The kind of failure an error represents, as the retry rules see it.
///
/// # Example
///
/// ```
/// use retry_runtime::Class;
///
/// assert!(Class::Status(503).is_server_error());
/// assert!(Class::Connect.is_transient());
/// assert!(!Class::Status(404).is_transient());
/// ```
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Class {
    /// The connection could not be made or broke: refused, reset, aborted,
    /// closed before the response.
    Connect,
    /// The operation, or one attempt of it, took too long.
    Timeout,
    /// The server answered with this HTTP status code.
    Status(u16),
    /// The account cannot be served until a person acts: billing, credits,
    /// a per-day or per-month quota (OpenAI's `insufficient_quota`,
    /// Anthropic's `billing_error`, Gemini's per-day `RESOURCE_EXHAUSTED`).
    /// Not transient and not a rate limit: never retried unless a rule
    /// names it (`on = [Quota]`), and counted apart in statistics, metrics
    /// (`class="quota"`) and logs, to alert on.
    Quota,
    /// Anything else: a failure that retrying is not expected to fix.
    Other,
}

impl Class {
    /// `true` for `Status(429)`.
    pub const fn is_rate_limited(self) -> bool {
        matches!(self, Class::Status(429))
    }

    /// `true` for `Status(500..=599)`.
    pub const fn is_server_error(self) -> bool {
        matches!(self, Class::Status(500..=599))
    }

    /// `true` for the classes of [`ClassSet::TRANSIENT`]: `Connect`, `Timeout`
    /// and `Status(408 | 409 | 429 | 500..=599)`.
    pub const fn is_transient(self) -> bool {
        ClassSet::TRANSIENT.contains(self)
    }
}

/// Tells the retry rules what kind of failure an error is.
///
/// Implement it for your error type to use the class rules (`Connect`,
/// `Timeout`, `Status(..)`, `RateLimited`, `ServerError`, `Transient`) and the
/// server's requested delay. An error type that implements it is retried on
/// [`Class::is_transient`] failures by default; one that does not is retried on
/// every error.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use retry_runtime::{Class, Classify};
///
/// enum ApiError {
///     Network,
///     Http { status: u16, retry_after: Option<Duration> },
///     Parse,
/// }
///
/// impl Classify for ApiError {
///     fn class(&self) -> Class {
///         match self {
///             ApiError::Network => Class::Connect,
///             ApiError::Http { status, .. } => Class::Status(*status),
///             ApiError::Parse => Class::Other,
///         }
///     }
///
///     fn retry_after(&self) -> Option<Duration> {
///         match self {
///             ApiError::Http { retry_after, .. } => *retry_after,
///             _ => None,
///         }
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not implement `retry_runtime::Classify`",
    label = "this rule needs to know the class of `{Self}`",
    note = "class rules (`Connect`, `Timeout`, `Status(..)`, `RateLimited`, `ServerError`, `Transient`, `Quota`) need the error type to implement `retry_runtime::Classify`",
    note = "implement `Classify` for `{Self}`, or use `Any` or a predicate `|e: &{Self}| ...` instead"
)]
pub trait Classify {
    /// The class of this failure.
    fn class(&self) -> Class;

    /// The delay the server asked for before the next attempt (HTTP
    /// `Retry-After`), if any. `None` by default.
    fn retry_after(&self) -> Option<Duration> {
        None
    }

    /// The server's explicit verdict on retrying (HTTP `x-should-retry`), if
    /// any: `Some(false)` is never retried, `Some(true)` is retried even when
    /// no rule of `on` matches (with the top-level attempts and wait). A
    /// `never` rule still wins. `None` by default.
    fn should_retry(&self) -> Option<bool> {
        None
    }
}

/// Forwards `Classify` through pointers.
macro_rules! forward_classify {
    ($($ty:ty),*) => {$(
        impl<T: Classify + ?Sized> Classify for $ty {
            fn class(&self) -> Class {
                (**self).class()
            }
            fn retry_after(&self) -> Option<Duration> {
                (**self).retry_after()
            }
            fn should_retry(&self) -> Option<bool> {
                (**self).should_retry()
            }
        }
    )*};
}

forward_classify!(&T, Box<T>, std::sync::Arc<T>);

/// `io::ErrorKind`s of a connection that failed or broke (refused, reset,
/// aborted, not connected, broken pipe, unexpected end of file): `Connect`;
/// `TimedOut`: `Timeout`; others, `WouldBlock` included: `Other`.
impl Classify for io::Error {
    // Inline in an optimised build: the class is then one comparison of
    // the kind against the rules' classes, not a call per failure (a debug
    // build keeps one copy, as the engine does).
    #[cfg_attr(not(debug_assertions), inline)]
    fn class(&self) -> Class {
        io_kind_class(self.kind())
    }
}

/// A timed-out attempt: `Timeout`.
impl Classify for crate::policy::Elapsed {
    #[inline]
    fn class(&self) -> Class {
        Class::Timeout
    }
}

/// `tokio::time::timeout` ran out: `Timeout`.
impl Classify for tokio::time::error::Elapsed {
    #[inline]
    fn class(&self) -> Class {
        Class::Timeout
    }
}

/// The class of an [`io::ErrorKind`], as [`Classify`] for [`io::Error`] sees it.
///
/// ```
/// use std::io::ErrorKind;
/// use retry_runtime::{Class, class::io_kind_class};
///
/// assert_eq!(io_kind_class(ErrorKind::ConnectionReset), Class::Connect);
/// assert_eq!(io_kind_class(ErrorKind::TimedOut), Class::Timeout);
/// assert_eq!(io_kind_class(ErrorKind::NotFound), Class::Other);
/// ```
#[cfg_attr(not(debug_assertions), inline)]
pub const fn io_kind_class(kind: io::ErrorKind) -> Class {
    use io::ErrorKind::*;
    match kind {
        ConnectionRefused | ConnectionReset | ConnectionAborted | NotConnected | BrokenPipe
        | UnexpectedEof => Class::Connect,
        TimedOut => Class::Timeout,
        _ => Class::Other,
    }
}

const STATUS_WORDS: usize = 10; // 640 bits: every code of 0..=599

/// A set of failure classes, as a rule of `on = [...]` or `never = [...]`
/// describes it. Built at compile time by the attribute, or by hand for the
/// [builder](crate::Retrying).
///
/// # Example
///
/// ```
/// use retry_runtime::{Class, ClassSet};
///
/// let set = ClassSet::CONNECT.union(ClassSet::status_range(500, 504));
/// assert!(set.contains(Class::Connect));
/// assert!(set.contains(Class::Status(502)));
/// assert!(!set.contains(Class::Status(505)));
/// assert!(!set.contains(Class::Timeout));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClassSet {
    connect: bool,
    timeout: bool,
    quota: bool,
    other: bool,
    /// Status codes above 599 (only in [`ClassSet::ALL`]).
    beyond: bool,
    statuses: [u64; STATUS_WORDS],
}

impl ClassSet {
    /// No class at all.
    pub const EMPTY: ClassSet = ClassSet {
        connect: false,
        timeout: false,
        quota: false,
        other: false,
        beyond: false,
        statuses: [0; STATUS_WORDS],
    };
    /// Every class, including `Quota` and `Other`.
    pub const ALL: ClassSet = ClassSet {
        connect: true,
        timeout: true,
        quota: true,
        other: true,
        beyond: true,
        statuses: [u64::MAX; STATUS_WORDS],
    };
    /// [`Class::Connect`].
    pub const CONNECT: ClassSet = ClassSet {
        connect: true,
        ..ClassSet::EMPTY
    };
    /// [`Class::Timeout`].
    pub const TIMEOUT: ClassSet = ClassSet {
        timeout: true,
        ..ClassSet::EMPTY
    };
    /// [`Class::Quota`].
    pub const QUOTA: ClassSet = ClassSet {
        quota: true,
        ..ClassSet::EMPTY
    };
    /// [`Class::Other`].
    pub const OTHER: ClassSet = ClassSet {
        other: true,
        ..ClassSet::EMPTY
    };
    /// `Status(429)`.
    pub const RATE_LIMITED: ClassSet = ClassSet::status(429);
    /// `Status(500..=599)`.
    pub const SERVER_ERROR: ClassSet = ClassSet::status_range(500, 599);
    /// `Connect`, `Timeout` and `Status(408 | 409 | 429 | 500..=599)`: failures
    /// that a later attempt may not meet.
    pub const TRANSIENT: ClassSet = ClassSet::CONNECT
        .union(ClassSet::TIMEOUT)
        .union(ClassSet::status(408))
        .union(ClassSet::status(409))
        .union(ClassSet::RATE_LIMITED)
        .union(ClassSet::SERVER_ERROR);

    /// One status code. Codes above 599 make an empty set.
    pub const fn status(code: u16) -> ClassSet {
        ClassSet::status_range(code, code)
    }

    /// The inclusive range `low..=high` of status codes (clipped to 0..=599;
    /// empty when `low > high`).
    pub const fn status_range(low: u16, high: u16) -> ClassSet {
        let mut set = ClassSet::EMPTY;
        let mut code = low as usize;
        while code <= high as usize && code < STATUS_WORDS * 64 && code < 600 {
            set.statuses[code / 64] |= 1 << (code % 64);
            code += 1;
        }
        set
    }

    /// Every class in `self` or `other`.
    pub const fn union(self, other: ClassSet) -> ClassSet {
        let mut set = self;
        set.connect |= other.connect;
        set.timeout |= other.timeout;
        set.quota |= other.quota;
        set.other |= other.other;
        set.beyond |= other.beyond;
        let mut i = 0;
        while i < STATUS_WORDS {
            set.statuses[i] |= other.statuses[i];
            i += 1;
        }
        set
    }

    /// Whether `class` is in the set. A status code above 599 is only in
    /// [`ClassSet::ALL`].
    #[inline]
    pub const fn contains(&self, class: Class) -> bool {
        match class {
            Class::Connect => self.connect,
            Class::Timeout => self.timeout,
            Class::Quota => self.quota,
            Class::Other => self.other,
            Class::Status(code) => {
                let code = code as usize;
                if code < 600 {
                    self.statuses[code / 64] & (1 << (code % 64)) != 0
                } else {
                    self.beyond
                }
            }
        }
    }

    /// Whether the class of a failure, if it has one, is in the set.
    #[inline]
    pub const fn matches(&self, class: Option<Class>) -> bool {
        match class {
            Some(class) => self.contains(class),
            None => false,
        }
    }
}

impl From<Class> for ClassSet {
    fn from(class: Class) -> ClassSet {
        match class {
            Class::Connect => ClassSet::CONNECT,
            Class::Timeout => ClassSet::TIMEOUT,
            Class::Status(code) => ClassSet::status(code),
            Class::Quota => ClassSet::QUOTA,
            Class::Other => ClassSet::OTHER,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_is_exactly_the_documented_set() {
        for code in 0..=u16::MAX {
            let expected = matches!(code, 408 | 409 | 429 | 500..=599);
            assert_eq!(
                ClassSet::TRANSIENT.contains(Class::Status(code)),
                expected,
                "{code}"
            );
        }
        assert!(ClassSet::TRANSIENT.contains(Class::Connect));
        assert!(ClassSet::TRANSIENT.contains(Class::Timeout));
        assert!(!ClassSet::TRANSIENT.contains(Class::Other));
        assert!(!ClassSet::TRANSIENT.contains(Class::Quota));
        assert!(!ClassSet::RATE_LIMITED.contains(Class::Quota));
        assert!(ClassSet::ALL.contains(Class::Quota) && ClassSet::QUOTA.contains(Class::Quota));
        assert_eq!(ClassSet::from(Class::Quota), ClassSet::QUOTA);
        assert!(!ClassSet::QUOTA.contains(Class::Other) && !ClassSet::OTHER.contains(Class::Quota));
    }

    #[test]
    fn class_predicates() {
        for code in 0..=1000u16 {
            let c = Class::Status(code);
            assert_eq!(c.is_rate_limited(), code == 429, "{code}");
            assert_eq!(c.is_server_error(), (500..=599).contains(&code), "{code}");
        }
        for c in [Class::Connect, Class::Timeout, Class::Other] {
            assert!(!c.is_rate_limited() && !c.is_server_error());
        }
        assert!(Class::Timeout.is_transient() && !Class::Other.is_transient());
        let range = ClassSet::status_range(500, 504);
        assert!(range.contains(Class::Status(500)) && range.contains(Class::Status(504)));
        assert!(!range.contains(Class::Status(499)) && !range.contains(Class::Status(505)));
        assert_eq!(ClassSet::from(Class::Connect), ClassSet::CONNECT);
        assert_eq!(ClassSet::from(Class::Timeout), ClassSet::TIMEOUT);
        assert_eq!(ClassSet::from(Class::Other), ClassSet::OTHER);
        assert_eq!(ClassSet::from(Class::Status(418)), ClassSet::status(418));
        assert!(!ClassSet::EMPTY.matches(None) && !ClassSet::ALL.matches(None));
        assert!(ClassSet::ALL.matches(Some(Class::Other)));
        // Each named set holds its class, and a union holds both sides'.
        assert!(
            ClassSet::OTHER.contains(Class::Other) && !ClassSet::OTHER.contains(Class::Connect)
        );
        assert!(
            ClassSet::CONNECT.contains(Class::Connect) && !ClassSet::CONNECT.contains(Class::Other)
        );
        assert!(
            ClassSet::TIMEOUT.contains(Class::Timeout) && !ClassSet::TIMEOUT.contains(Class::Other)
        );
        let both = ClassSet::CONNECT.union(ClassSet::TIMEOUT);
        assert!(both.contains(Class::Connect) && both.contains(Class::Timeout));
        let both = ClassSet::OTHER.union(ClassSet::status(418));
        assert!(both.contains(Class::Other) && both.contains(Class::Status(418)));
        assert!(!both.contains(Class::Status(417)));
        // Codes above 599 are never stored: the sets compare equal.
        assert_eq!(
            ClassSet::status_range(0, 700),
            ClassSet::status_range(0, 599)
        );
        assert_eq!(ClassSet::status(600), ClassSet::EMPTY);
    }

    #[test]
    fn pointers_forward_classify() {
        let e = io::Error::from(io::ErrorKind::ConnectionReset);
        let by_ref: &io::Error = &e;
        assert_eq!(<&io::Error as Classify>::class(&by_ref), Class::Connect);
        let boxed = Box::new(io::Error::from(io::ErrorKind::TimedOut));
        assert_eq!(<Box<io::Error> as Classify>::class(&boxed), Class::Timeout);
        let arc = std::sync::Arc::new(io::Error::from(io::ErrorKind::NotFound));
        assert_eq!(arc.class(), Class::Other);
        assert_eq!(arc.retry_after(), None);
        assert_eq!(arc.should_retry(), None);
        assert_eq!(crate::policy::Elapsed::new().class(), Class::Timeout);
    }

    #[test]
    fn ranges_clip_and_empty_ranges_are_empty() {
        assert_eq!(ClassSet::status_range(10, 5), ClassSet::EMPTY);
        assert_eq!(ClassSet::status(700), ClassSet::EMPTY);
        let all = ClassSet::status_range(0, u16::MAX);
        assert!(all.contains(Class::Status(599)));
        assert!(!all.contains(Class::Status(600)));
        assert!(ClassSet::ALL.contains(Class::Status(999)));
        let three = ClassSet::CONNECT
            .union(ClassSet::TIMEOUT)
            .union(ClassSet::OTHER);
        assert!(
            !three.contains(Class::Status(999)),
            "only ALL has codes above 599"
        );
        assert!(three.union(ClassSet::ALL).contains(Class::Status(700)));
    }

    #[test]
    fn io_errors_classify_by_kind() {
        use io::ErrorKind as K;
        for kind in [
            K::ConnectionRefused,
            K::ConnectionReset,
            K::ConnectionAborted,
            K::NotConnected,
            K::BrokenPipe,
            K::UnexpectedEof,
        ] {
            assert_eq!(io::Error::from(kind).class(), Class::Connect, "{kind:?}");
        }
        assert_eq!(io::Error::from(K::TimedOut).class(), Class::Timeout);
        assert_eq!(io::Error::from(K::PermissionDenied).class(), Class::Other);
        // A non-blocking socket with no data yet did not time out.
        assert_eq!(io::Error::from(K::WouldBlock).class(), Class::Other);
        assert_eq!(io::Error::from(K::TimedOut).retry_after(), None);
    }
}
