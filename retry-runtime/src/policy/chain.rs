//! Classifying an error by its chain of causes: the first error in the chain
//! whose type is known decides.
//!
//! [`recognise`] knows `std::io::Error`, [`Elapsed`](crate::Elapsed), tokio's
//! `Elapsed`, and with the `reqwest` feature `reqwest::Error` and
//! [`http::Error`](crate::http::Error). Your own [`Classify`] types join them
//! through [`register`]:
//!
//! ```
//! use retry_runtime::{Class, Classify, chain};
//!
//! #[derive(Debug)]
//! struct Overloaded;
//! impl std::fmt::Display for Overloaded {
//!     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
//!         f.write_str("overloaded")
//!     }
//! }
//! impl std::error::Error for Overloaded {}
//! impl Classify for Overloaded {
//!     fn class(&self) -> Class { Class::Status(503) }
//! }
//!
//! chain::register(chain::downcast::<Overloaded>);
//! let error: Box<dyn std::error::Error + Send + Sync> = Box::new(Overloaded);
//! assert_eq!(chain::recognise(&*error).map(|c| c.class()), Some(Class::Status(503)));
//! ```
//!
//! With the `anyhow` feature `anyhow::Error` implements [`Classify`] this
//! way, and with `dyn-error` so does `Box<dyn Error + Send + Sync>`. Turning a
//! feature on never changes what existing code retries: for these types the
//! default rule stays `Any` (as for a type without `Classify`), and the
//! server's `Retry-After` and `x-should-retry` are read only when the
//! attribute names a class rule (`on = [Connect, ...]`, `never = [...]`),
//! which needs the feature to compile. The builder reads them after
//! [`.classify()`](crate::Retrying::classify).

use std::error::Error;
use std::io;
use std::sync::RwLock;

#[cfg(any(feature = "dyn-error", feature = "anyhow"))]
use std::time::Duration;

#[cfg(any(feature = "dyn-error", feature = "anyhow"))]
use crate::policy::class::Class;
use crate::policy::class::Classify;

/// Finds a [`Classify`] view of one error of a chain, if its type is known.
pub type Recogniser = for<'e> fn(&'e (dyn Error + 'static)) -> Option<&'e dyn Classify>;

static REGISTERED: RwLock<Vec<Recogniser>> = RwLock::new(Vec::new());

/// Adds a recogniser that [`recognise`] consults, process-wide, after the
/// built-in ones. Registering the same function twice has no further effect.
pub fn register(recogniser: Recogniser) {
    let mut all = REGISTERED
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if !all.iter().any(|r| std::ptr::fn_addr_eq(*r, recogniser)) {
        all.push(recogniser);
    }
}

/// The recogniser of one type: `chain::register(chain::downcast::<MyError>)`.
pub fn downcast<'e, T: Classify + Error + 'static>(
    error: &'e (dyn Error + 'static),
) -> Option<&'e dyn Classify> {
    error.downcast_ref::<T>().map(|e| e as &dyn Classify)
}

/// The first error in the chain of `error` and its sources whose type is
/// known: built in, or [`register`]ed.
///
/// ```
/// use retry_runtime::{Class, chain::recognise};
///
/// #[derive(Debug)]
/// struct Upload(std::io::Error);
/// impl std::fmt::Display for Upload {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         f.write_str("upload failed")
///     }
/// }
/// impl std::error::Error for Upload {
///     fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
///         Some(&self.0)
///     }
/// }
///
/// let error = Upload(std::io::ErrorKind::ConnectionReset.into());
/// assert_eq!(recognise(&error).map(|c| c.class()), Some(Class::Connect));
/// ```
pub fn recognise<'a>(error: &'a (dyn Error + 'static)) -> Option<&'a dyn Classify> {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(found) = built_in(e).or_else(|| registered(e)) {
            return Some(found);
        }
        next = e.source();
    }
    None
}

/// The registered recognisers, one at a time: the lock is not held while a
/// recogniser runs (it may register another).
fn registered<'a>(e: &'a (dyn Error + 'static)) -> Option<&'a dyn Classify> {
    let nth = |i: usize| {
        let all = REGISTERED
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        all.get(i).copied()
    };
    (0..).map_while(nth).find_map(|recogniser| recogniser(e))
}

fn built_in<'e>(e: &'e (dyn Error + 'static)) -> Option<&'e dyn Classify> {
    // The integrations' types first (the `reqwest` feature's), as the crate
    // root wires them in.
    if let Some(c) = crate::INTEGRATIONS
        .iter()
        .find_map(|recognise| recognise(e))
    {
        return Some(c);
    }
    if let Some(e) = e.downcast_ref::<io::Error>() {
        return Some(e);
    }
    if let Some(e) = e.downcast_ref::<super::Elapsed>() {
        return Some(e);
    }
    e.downcast_ref::<tokio::time::error::Elapsed>()
        .map(|e| e as &dyn Classify)
}

/// Types that implement [`Classify`] only when a cargo feature is on
/// (`anyhow::Error`, boxed errors, `reqwest::Error`). The attribute treats
/// them as unclassified unless it names classes, so that turning the feature
/// on (possibly through another crate: features unify) changes nothing that
/// compiled without it.
#[doc(hidden)]
pub trait ClassifiedByFeature {}

impl<T: ClassifiedByFeature + ?Sized> ClassifiedByFeature for &T {}
impl<T: ClassifiedByFeature + ?Sized> ClassifiedByFeature for Box<T> {}
impl<T: ClassifiedByFeature + ?Sized> ClassifiedByFeature for std::sync::Arc<T> {}

/// `Classify` for an error type that carries a chain of causes: the first
/// error of the chain that [`recognise`] knows decides; `Other` when none does.
#[cfg(any(feature = "dyn-error", feature = "anyhow"))]
macro_rules! classify_by_chain {
    ($(#[$attr:meta])* $ty:ty, |$this:ident| $chain:expr) => {
        $(#[$attr])*
        impl Classify for $ty {
            fn class(&self) -> Class {
                let $this = self;
                recognise($chain).map_or(Class::Other, |c| c.class())
            }
            fn retry_after(&self) -> Option<Duration> {
                let $this = self;
                recognise($chain).and_then(|c| c.retry_after())
            }
            fn should_retry(&self) -> Option<bool> {
                let $this = self;
                recognise($chain).and_then(|c| c.should_retry())
            }
        }
        impl ClassifiedByFeature for $ty {}
    };
}

#[cfg(feature = "dyn-error")]
classify_by_chain!(
    /// Classifies through [`recognise`], so `Box<dyn Error + Send + Sync>` is
    /// classified by the first error of its chain that is recognised.
    dyn Error + Send + Sync + 'static,
    |this| this
);

#[cfg(feature = "anyhow")]
classify_by_chain!(
    /// Classifies the first error of [`anyhow::Error::chain`] that
    /// [`recognise`] knows; `Other` when none is.
    anyhow::Error,
    |this| this.as_ref()
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::class::Class;

    #[derive(Debug)]
    struct Mine(u16);
    impl std::fmt::Display for Mine {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "mine {}", self.0)
        }
    }
    impl Error for Mine {}
    impl Classify for Mine {
        fn class(&self) -> Class {
            Class::Status(self.0)
        }
    }

    #[derive(Debug)]
    struct Wrapper(Box<dyn Error + Send + Sync>);
    impl std::fmt::Display for Wrapper {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("wrapper")
        }
    }
    impl Error for Wrapper {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&*self.0)
        }
    }

    #[derive(Debug)]
    struct Unknown;
    impl std::fmt::Display for Unknown {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("unknown")
        }
    }
    impl Error for Unknown {}

    #[test]
    fn built_in_types_in_a_chain() {
        let wrapped = Wrapper(Box::new(std::io::Error::from(std::io::ErrorKind::TimedOut)));
        assert_eq!(recognise(&wrapped).map(|c| c.class()), Some(Class::Timeout));
        let wrapped = Wrapper(Box::new(crate::policy::Elapsed::new()));
        assert_eq!(recognise(&wrapped).map(|c| c.class()), Some(Class::Timeout));
        assert!(recognise(&Wrapper(Box::new(Unknown))).is_none());
        assert!(downcast::<Mine>(&Unknown).is_none());
        assert_eq!(
            downcast::<Mine>(&Mine(7)).map(|c| c.class()),
            Some(Class::Status(7))
        );
    }

    #[test]
    fn registered_types_in_a_chain() {
        let wrapped = Wrapper(Box::new(Mine(503)));
        register(downcast::<Mine>);
        register(downcast::<Mine>);
        let count = REGISTERED
            .read()
            .unwrap()
            .iter()
            .filter(|r| std::ptr::fn_addr_eq(**r, downcast::<Mine> as Recogniser))
            .count();
        assert_eq!(count, 1, "registered once");
        assert_eq!(
            recognise(&wrapped).map(|c| c.class()),
            Some(Class::Status(503))
        );
        assert_eq!(
            registered(&Mine(404)).map(|c| c.class()),
            Some(Class::Status(404))
        );
        assert!(registered(&Unknown).is_none());
    }
}
