//! Every shape of function the attribute goes on, async and plain.

use std::cell::Cell;
use std::fmt::Display;
use std::sync::atomic::{AtomicU32, Ordering};

use retry_runtime::retry;
use tests::{ApiError, PlainError, Script};

fn io_fail() -> std::io::Error {
    std::io::ErrorKind::ConnectionReset.into()
}

/// Docs and other attributes stay.
#[retry(attempts = 3, wait = none)]
#[must_use = "check the result"]
#[inline]
pub async fn documented(s: &Script<u32>) -> Result<u32, ApiError> {
    s.next()
}

#[tokio::test]
async fn free_async_fn() {
    let s = Script::new([Err(ApiError::connect()), Ok(3)]);
    assert_eq!(documented(&s).await, Ok(3));
}

#[retry(attempts = 3, wait = fixed(10ms))]
fn blocking(s: &Script<u32>) -> Result<u32, ApiError> {
    s.next()
}

#[test]
fn plain_fn_sleeps_blocking() {
    let s = Script::new([Err(ApiError::connect()), Err(ApiError::connect()), Ok(5)]);
    let start = std::time::Instant::now();
    assert_eq!(blocking(&s), Ok(5));
    assert_eq!(s.calls(), 3);
    assert!(start.elapsed() >= std::time::Duration::from_millis(20));
}

#[retry(attempts = 3, wait = none, deadline = 1m, when_ok = |v: &u32| *v == 0, before_sleep = tests::record, on_giveup = tests::record)]
fn blocking_everything(s: &Script<u32>) -> Result<u32, ApiError> {
    s.next()
}

#[test]
fn plain_fn_has_every_key_but_timeout() {
    let s = Script::new([Ok(0), Err(ApiError::status(503)), Ok(1)]);
    assert_eq!(blocking_everything(&s), Ok(1));
    assert_eq!(tests::take_delays().len(), 2);
}

struct Client {
    calls: Cell<u32>,
    log: Vec<String>,
}

impl Client {
    #[retry(attempts = 3, wait = none)]
    fn by_ref(&self, fail: u32) -> Result<u32, PlainError> {
        self.calls.set(self.calls.get() + 1);
        if self.calls.get() <= fail {
            return Err(PlainError(self.calls.get()));
        }
        Ok(self.calls.get())
    }

    #[retry(attempts = 3, wait = none)]
    async fn by_mut(&mut self, line: String) -> Result<usize, PlainError> {
        self.log.push(line);
        if self.log.len() < 3 {
            Err(PlainError(0))
        } else {
            Ok(self.log.len())
        }
    }

    #[retry(attempts = 2, wait = none)]
    async fn mut_self_value(mut self) -> Result<Vec<String>, PlainError> {
        self.log.push("x".into());
        Ok(self.log)
    }
}

impl Clone for Client {
    fn clone(&self) -> Self {
        Client {
            calls: Cell::new(self.calls.get()),
            log: self.log.clone(),
        }
    }
}

#[derive(Clone)]
struct Owned(u32);

impl Owned {
    #[retry(attempts = 4, wait = none)]
    async fn consume(self, s: &Script<u32>) -> Result<u32, ApiError> {
        let n = s.next()?;
        Ok(self.0 + n)
    }

    #[retry(attempts = 3, wait = none)]
    fn boxed(self: Box<Self>, tries: &AtomicU32) -> Result<u32, PlainError> {
        if tries.fetch_add(1, Ordering::SeqCst) < 2 {
            Err(PlainError(0))
        } else {
            Ok(self.0)
        }
    }

    #[retry(attempts = 3, wait = none)]
    fn nested_self(&self) -> Result<u32, PlainError> {
        struct Inner(u32);
        impl Inner {
            fn get(&self) -> u32 {
                self.0
            }
        }
        fn helper(x: u32) -> u32 {
            x + 1
        }
        Ok(helper(Inner(self.0).get()))
    }
}

#[tokio::test]
async fn methods_with_every_receiver() {
    let client = Client {
        calls: Cell::new(0),
        log: vec![],
    };
    assert_eq!(client.by_ref(2), Ok(3));

    let mut client = Client {
        calls: Cell::new(0),
        log: vec![],
    };
    assert_eq!(client.by_mut("line".into()).await, Ok(3));
    assert_eq!(client.log, ["line"; 3]);

    assert_eq!(client.mut_self_value().await.unwrap().len(), 4);

    let s = Script::new([Err(ApiError::connect()), Err(ApiError::connect()), Ok(1)]);
    assert_eq!(Owned(41).consume(&s).await, Ok(42));

    let tries = AtomicU32::new(0);
    assert_eq!(Box::new(Owned(9)).boxed(&tries), Ok(9));
    assert_eq!(Owned(1).nested_self(), Ok(2));
}

trait Api {
    async fn get(&self, key: &str) -> Result<String, PlainError>;
    fn put(&mut self, value: u32) -> Result<u32, PlainError>;
}

struct Store {
    tries: AtomicU32,
    value: u32,
}

impl Api for Store {
    #[retry(attempts = 3, wait = none)]
    async fn get(&self, key: &str) -> Result<String, PlainError> {
        if self.tries.fetch_add(1, Ordering::SeqCst) == 0 {
            return Err(PlainError(1));
        }
        Ok(format!("{key}={}", self.value))
    }

    #[retry(attempts = 3, wait = none)]
    fn put(&mut self, value: u32) -> Result<u32, PlainError> {
        self.value += value;
        if self.value < 3 {
            Err(PlainError(self.value))
        } else {
            Ok(self.value)
        }
    }
}

#[tokio::test]
async fn trait_impl_methods() {
    let mut store = Store {
        tries: AtomicU32::new(0),
        value: 0,
    };
    assert_eq!(store.put(1), Ok(3));
    assert_eq!(store.get("k").await.unwrap(), "k=3");
}

#[retry(attempts = 3, wait = none)]
async fn generic<T, U: Display + Clone>(items: &[T], label: U) -> Result<String, PlainError>
where
    T: Display,
{
    let joined: Vec<String> = items.iter().map(|i| i.to_string()).collect();
    Ok(format!("{label}:{}", joined.join(",")))
}

#[retry(attempts = 3, wait = none)]
async fn impl_trait_arg(
    text: impl AsRef<str> + Clone,
    tries: &AtomicU32,
) -> Result<usize, PlainError> {
    if tries.fetch_add(1, Ordering::SeqCst) == 0 {
        return Err(PlainError(0));
    }
    Ok(text.as_ref().len())
}

#[retry(attempts = 3, wait = none)]
async fn patterns(
    (a, b): (u32, u32),
    mut total: u32,
    _: u32,
    &c: &u32,
    tries: &AtomicU32,
) -> Result<u32, PlainError> {
    total += a + b + c;
    if tries.fetch_add(1, Ordering::SeqCst) == 0 {
        return Err(PlainError(total));
    }
    Ok(total)
}

#[retry(attempts = 3, wait = none)]
async fn lifetimes<'a, 'b: 'a>(first: &'a str, _second: &'b str) -> Result<&'a str, PlainError> {
    Ok(first)
}

#[tokio::test]
async fn generics_impl_trait_patterns_lifetimes() {
    assert_eq!(generic(&[1, 2], "n").await.unwrap(), "n:1,2");
    let tries = AtomicU32::new(0);
    assert_eq!(impl_trait_arg("four", &tries).await, Ok(4));
    assert_eq!(tries.load(Ordering::SeqCst), 2);
    // `mut total` is cloned afresh for each attempt: the second one starts from 4 again.
    let tries = AtomicU32::new(0);
    assert_eq!(patterns((1, 2), 4, 0, &3, &tries).await, Ok(10));
    assert_eq!(tries.load(Ordering::SeqCst), 2);
    let s = String::from("x");
    assert_eq!(lifetimes(&s, "y").await, Ok("x"));
}

#[retry(attempts = 3, wait = none)]
async fn question_mark(s: &Script<u32, std::io::ErrorKind>) -> std::io::Result<u32> {
    let value = s.next().map_err(std::io::Error::from)?;
    if value == 0 {
        return Err(io_fail());
    }
    Ok(value)
}

#[tokio::test]
async fn return_and_question_mark_end_the_attempt_not_the_retry() {
    use std::io::ErrorKind as K;
    let s = Script::new([Err(K::ConnectionReset), Ok(0), Ok(8)]);
    assert_eq!(question_mark(&s).await.unwrap(), 8);
    assert_eq!(s.calls(), 3);
}

#[retry(attempts = 3, wait = none, on = [Any])]
async fn anyhow_alias(tries: &AtomicU32) -> anyhow::Result<u32> {
    if tries.fetch_add(1, Ordering::SeqCst) < 2 {
        anyhow::bail!("not yet");
    }
    Ok(1)
}

#[retry(attempts = 2, wait = none)]
fn io_alias(tries: &AtomicU32) -> std::io::Result<u32> {
    tries.fetch_add(1, Ordering::SeqCst);
    Err(io_fail())
}

/// With the `anyhow` feature (on in these tests) `anyhow::Error` is
/// classified through its chain, but the default stays what it is without
/// the feature: every error is retried.
#[retry(attempts = 3, wait = none)]
async fn anyhow_default(tries: &AtomicU32) -> anyhow::Result<u32> {
    tries.fetch_add(1, Ordering::SeqCst);
    anyhow::bail!("bad input")
}

#[tokio::test]
async fn result_aliases() {
    let tries = AtomicU32::new(0);
    assert_eq!(anyhow_alias(&tries).await.unwrap(), 1);
    let tries = AtomicU32::new(0);
    assert!(anyhow_default(&tries).await.is_err());
    assert_eq!(tries.load(Ordering::SeqCst), 3);
    let tries = AtomicU32::new(0);
    assert!(io_alias(&tries).is_err());
    assert_eq!(tries.load(Ordering::SeqCst), 2);
}

#[retry(attempts = 4, wait = none)]
async fn cloned_per_attempt(mut text: String, tries: &AtomicU32) -> Result<String, PlainError> {
    text.push('!');
    if tries.fetch_add(1, Ordering::SeqCst) < 3 {
        return Err(PlainError(0));
    }
    Ok(text)
}

#[tokio::test]
async fn by_value_arguments_are_fresh_for_every_attempt() {
    let tries = AtomicU32::new(0);
    assert_eq!(
        cloned_per_attempt("hi".into(), &tries).await.unwrap(),
        "hi!"
    );
}

#[retry(attempts = 3, wait = none)]
async fn mut_ref(buf: &mut Vec<u32>) -> Result<usize, PlainError> {
    buf.push(1);
    if buf.len() < 3 {
        Err(PlainError(0))
    } else {
        Ok(buf.len())
    }
}

#[tokio::test]
async fn mut_references_are_reborrowed() {
    let mut buf = Vec::new();
    assert_eq!(mut_ref(&mut buf).await, Ok(3));
    assert_eq!(buf, [1, 1, 1]);
}

fn assert_send<F: std::future::Future + Send>(f: F) -> F {
    f
}

#[tokio::test]
async fn the_future_is_send_when_the_body_is() {
    let s = Script::new([Ok(1)]);
    assert_eq!(assert_send(documented(&s)).await, Ok(1));
    let handle = tokio::spawn(async {
        let s = Script::new([Err(ApiError::connect()), Ok(2)]);
        documented(&s).await
    });
    assert_eq!(handle.await.unwrap(), Ok(2));
}

#[retry(name = "custom.name", attempts = 2, wait = none, on_giveup = |s| assert_eq!(s.name, "custom.name"))]
fn named(s: &Script<u32>) -> Result<u32, ApiError> {
    s.next()
}

#[retry(attempts = 2, wait = none, on_giveup = |s| assert_eq!(s.name, "signatures::default_name"))]
fn default_name(s: &Script<u32>) -> Result<u32, ApiError> {
    s.next()
}

#[test]
fn names() {
    assert!(named(&Script::new([Err(ApiError::connect())])).is_err());
    assert!(default_name(&Script::new([Err(ApiError::connect())])).is_err());
}

mod reexport {
    pub mod deep {
        pub use retry_runtime as rt;
    }
}

#[reexport::deep::rt::retry(crate = reexport::deep::rt, attempts = 2, wait = none)]
fn through_a_reexport(s: &Script<u32>) -> Result<u32, ApiError> {
    s.next()
}

#[test]
fn crate_key_points_at_a_reexport() {
    let s = Script::new([Err(ApiError::connect()), Ok(1)]);
    assert_eq!(through_a_reexport(&s), Ok(1));
}

/// Bodies that never reach their end compile without warnings (CI denies them).
#[allow(dead_code)]
mod diverging {
    use retry_runtime::retry;
    use tests::PlainError;

    #[retry]
    async fn unfinished() -> Result<u32, PlainError> {
        todo!()
    }

    #[retry]
    fn unfinished_blocking() -> Result<u32, PlainError> {
        unimplemented!("later")
    }

    #[retry(attempts = 2, wait = none, on = [Any])]
    async fn always_fails() -> anyhow::Result<u32> {
        anyhow::bail!("no")
    }

    #[retry(attempts = 2, wait = none, on = [Any])]
    async fn spins() -> anyhow::Result<u32> {
        loop {
            tokio::task::yield_now().await;
        }
    }
}

fn module_helper() -> u32 {
    7
}

struct Paths;

impl Paths {
    /// `self::` paths in the body stay module paths.
    #[retry(attempts = 2, wait = none)]
    fn module_path_in_body(&self) -> Result<u32, PlainError> {
        let _ = self;
        Ok(self::module_helper())
    }
}

#[retry(attempts = 4294967295, wait = none)]
async fn the_largest_attempt_count(s: &Script<u32>) -> Result<u32, ApiError> {
    s.next()
}

#[tokio::test]
async fn self_paths_and_huge_attempt_counts() {
    assert_eq!(Paths.module_path_in_body(), Ok(7));
    let s = Script::new((0..50).map(|_| Err(ApiError::connect())).chain([Ok(9)]));
    assert_eq!(the_largest_attempt_count(&s).await, Ok(9));
    assert_eq!(s.calls(), 51);
}

// A parenthesised reference type, and one that comes through a macro's
// `$t:ty` (an invisible group): both are passed as references, not cloned.
#[allow(unused_parens)]
#[retry(attempts = 3, wait = none)]
fn through_parens(count: (&mut u32)) -> Result<u32, PlainError> {
    *count += 1;
    if *count < 3 {
        Err(PlainError(*count))
    } else {
        Ok(*count)
    }
}

macro_rules! counted {
    ($t:ty) => {
        #[retry(attempts = 3, wait = none)]
        fn through_a_macro(count: $t) -> Result<u32, PlainError> {
            *count += 1;
            if *count < 3 {
                Err(PlainError(*count))
            } else {
                Ok(*count)
            }
        }
    };
}
counted!(&mut u32);

#[test]
fn references_in_parentheses_or_macro_groups_are_reborrowed() {
    let mut n = 0;
    assert_eq!(through_parens(&mut n).unwrap(), 3);
    assert_eq!(n, 3, "every attempt counted on the caller's value");
    let mut n = 0;
    assert_eq!(through_a_macro(&mut n).unwrap(), 3);
    assert_eq!(n, 3);
}

// `ref` and `@` patterns keep their meaning for every attempt.
#[allow(clippy::toplevel_ref_arg)]
#[retry(attempts = 2, wait = none)]
fn ref_and_at(
    ref text: String,
    pair @ (a, b): (u32, u32),
    calls: &Cell<u32>,
) -> Result<usize, PlainError> {
    calls.set(calls.get() + 1);
    let len: &String = text;
    if calls.get() < 2 {
        Err(PlainError(pair.0))
    } else {
        Ok(len.len() + (a + b + pair.1) as usize)
    }
}

#[test]
fn ref_and_at_patterns() {
    let calls = Cell::new(0);
    assert_eq!(
        ref_and_at("abc".to_string(), (1, 2), &calls).unwrap(),
        3 + 5
    );
    assert_eq!(calls.get(), 2);
}

// Only `Pin<&mut T>` is re-borrowed as a pin; another type whose first
// argument is `&mut T` is an ordinary by-value argument.
#[retry(attempts = 2, wait = none)]
fn phantom_mut(
    marker: std::marker::PhantomData<&mut u32>,
    calls: &Cell<u32>,
) -> Result<u32, PlainError> {
    let _ = marker;
    calls.set(calls.get() + 1);
    if calls.get() < 2 {
        Err(PlainError(1))
    } else {
        Ok(calls.get())
    }
}

#[test]
fn only_pin_is_reborrowed_as_a_pin() {
    let calls = Cell::new(0);
    assert_eq!(phantom_mut(std::marker::PhantomData, &calls).unwrap(), 2);
}

/// Sets merged by a method: `union` is a method name here, not an item, so
/// the `self` after it is this attempt's receiver too.
#[derive(Clone, Default)]
struct Sets {
    seen: std::collections::BTreeSet<u32>,
    pending: std::collections::BTreeSet<u32>,
}

impl Sets {
    #[retry(attempts = 3, wait = none)]
    async fn merged(mut self, fail_first: &AtomicU32) -> Result<Vec<u32>, PlainError> {
        self.pending.insert(1);
        if fail_first.fetch_sub(1, Ordering::SeqCst) > 0 {
            return Err(PlainError(0));
        }
        let union = self.seen.union(&self.pending).copied().collect();
        Ok(union)
    }

    #[retry(attempts = 3, wait = none)]
    fn merged_by_ref(&mut self) -> Result<usize, PlainError> {
        self.pending.insert(2);
        let union = self.seen.union(&self.pending).count();
        Ok(union + self.pending.len())
    }
}

#[tokio::test]
async fn union_as_a_method_name_sees_the_attempt_receiver() {
    let sets = Sets {
        seen: [5].into(),
        pending: Default::default(),
    };
    let fail_first = AtomicU32::new(1);
    assert_eq!(sets.clone().merged(&fail_first).await, Ok(vec![1, 5]));
    let mut sets = sets;
    assert_eq!(sets.merged_by_ref(), Ok(3));
}

// A facade crate's macro (`tests::facade_retry!`, another crate) names the
// runtime through `$crate` and passes this crate's predicate on: the calls
// made at the predicate's, `when_ok`'s and `log`'s tokens still reach the
// runtime through the facade.
tests::facade_retry!(through_a_facade, |e: &ApiError| e.class
    == retry_runtime::Class::Connect);

#[test]
fn a_facade_macro_passes_predicates_through_crate() {
    let s = Script::new([Err(ApiError::connect()), Ok(0), Ok(2)]);
    assert_eq!(through_a_facade(&s), Ok(2));
    assert_eq!(s.calls(), 3);
}
