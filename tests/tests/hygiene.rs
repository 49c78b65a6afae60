//! The expansion names everything by absolute path or through the one
//! name it imports into the function's block (`__retry_rt`, the runtime's
//! `__private`), and its locals cannot collide with the user's: a crate
//! with its own `core`, `Ok`, `Some` and `__retry_*` names still compiles.
//! Inside an annotated function `__retry_rt` is the runtime's: a module of
//! the user's by that name is shadowed there (and only there). The other
//! name shared with the body is `__retry_self`, a method's renamed `self`.

#![allow(non_snake_case, dead_code, unused)]

mod core {}
mod std {}

#[derive(Debug)]
struct Ok;
#[derive(Debug)]
struct Err;
struct Some;
struct None;
struct Option;
struct Result;
struct Duration;

#[::retry_runtime::retry(attempts = 3, wait = exponential(initial = 1ms, jitter = none), deadline = 1m, timeout = 1s, on = [Connect, Status(503)], never = [Status(501)], when_ok = |v: &u32| *v == 0)]
async fn uses_names(
    __retry_call: u32,
    __retry_error: &str,
    __retry_outcome: u8,
) -> ::std::io::Result<u32> {
    let __retry_delay = __retry_call + __retry_error.len() as u32 + __retry_outcome as u32;
    ::core::result::Result::Ok(__retry_delay)
}

#[::retry_runtime::retry(attempts = 2, wait = none)]
fn blocking(__retry_value: u32) -> ::std::io::Result<u32> {
    ::core::result::Result::Ok(__retry_value)
}

#[::tokio::test]
async fn expands_with_shadowed_prelude_names() {
    ::core::assert_eq!(uses_names(1, "ab", 3).await.unwrap(), 6);
    ::core::assert_eq!(blocking(4).unwrap(), 4);
}

/// Without the prelude: every name of the expansion is a path from the
/// crate root (`::core`), derives included. (This package builds without
/// debug assertions: the settings' type of each function is expanded too.)
#[no_implicit_prelude]
mod without_prelude {
    #[::retry_runtime::retry(attempts = 3, wait = none, on = [Connect], deadline = 1m)]
    pub async fn fetch(fail: &::std::sync::atomic::AtomicU32) -> ::std::io::Result<u32> {
        if fail.fetch_sub(1, ::std::sync::atomic::Ordering::SeqCst) > 0 {
            return ::std::result::Result::Err(
                <::std::io::Error as ::std::convert::From<_>>::from(
                    ::std::io::ErrorKind::ConnectionReset,
                ),
            );
        }
        ::std::result::Result::Ok(7)
    }

    #[::retry_runtime::retry(attempts = 2, wait = none)]
    pub fn blocking(v: u32) -> ::std::io::Result<u32> {
        ::std::result::Result::Ok(v)
    }

    static BUDGET: ::retry_runtime::Budget = ::retry_runtime::Budget::new(0.1, 10);
    static BREAKER: ::retry_runtime::CircuitBreaker = ::retry_runtime::CircuitBreaker::new();

    #[::retry_runtime::retry(attempts = 2, wait = adaptive(fixed(1ms)), budget = BUDGET, breaker = BREAKER, before_sleep = log, name = "no prelude")]
    pub async fn guarded(v: u32) -> ::std::io::Result<u32> {
        ::std::result::Result::Ok(v)
    }
}

#[::tokio::test]
async fn expands_without_the_prelude() {
    let fail = ::std::sync::atomic::AtomicU32::new(2);
    ::core::assert_eq!(without_prelude::fetch(&fail).await.unwrap(), 7);
    ::core::assert_eq!(without_prelude::blocking(4).unwrap(), 4);
    ::core::assert_eq!(without_prelude::guarded(5).await.unwrap(), 5);
}

/// The expansion names the runtime's items through one import,
/// `__retry_rt`, at the top of the function's block: a module of the user's
/// by that name (used outside the annotated functions), an argument by that
/// name and a `#[retry]` function inside another's body (its own import
/// shadows the outer one) change nothing.
mod own_runtime_name {
    mod __retry_rt {
        pub struct Ok;
        pub struct Call;
    }

    pub fn users_own() -> u8 {
        let __retry_rt::Ok = __retry_rt::Ok;
        1
    }

    #[::retry_runtime::retry(attempts = 3, wait = adaptive(none), when_ok = |v: &u32| *v == 0, policy = named_policy)]
    pub async fn named(
        __retry_rt: u32,
        fail: &::std::sync::atomic::AtomicU32,
    ) -> ::std::io::Result<u32> {
        if fail.load(::std::sync::atomic::Ordering::SeqCst) > 0 {
            fail.fetch_sub(1, ::std::sync::atomic::Ordering::SeqCst);
            return ::std::result::Result::Err(::std::io::ErrorKind::ConnectionReset.into());
        }
        ::std::result::Result::Ok(__retry_rt)
    }

    #[::retry_runtime::retry(attempts = 2, wait = none)]
    pub async fn outer(v: u32) -> ::std::io::Result<u32> {
        #[::retry_runtime::retry(attempts = 2, wait = none)]
        async fn inner(v: u32) -> ::std::io::Result<u32> {
            ::std::result::Result::Ok(v + 1)
        }
        inner(v).await
    }
}

#[::tokio::test]
async fn expands_beside_the_users_own_runtime_name() {
    let fail = ::std::sync::atomic::AtomicU32::new(2);
    ::core::assert_eq!(own_runtime_name::named(9, &fail).await.unwrap(), 9);
    ::core::assert_eq!(fail.load(::std::sync::atomic::Ordering::SeqCst), 0);
    // `when_ok` rejects a 0: three attempts, all rejected, the last `Ok` returned.
    let fail = ::std::sync::atomic::AtomicU32::new(0);
    ::core::assert_eq!(own_runtime_name::named(0, &fail).await.unwrap(), 0);
    ::core::assert_eq!(
        own_runtime_name::named_policy()
            .call(|| async { ::std::result::Result::Ok(3) })
            .await
            .unwrap(),
        3
    );
    ::core::assert_eq!(own_runtime_name::outer(1).await.unwrap(), 2);
    ::core::assert_eq!(own_runtime_name::users_own(), 1);
}

/// Arguments whose names the expansion's own locals spell alike, read by
/// the attribute's predicates: they stay the user's.
mod predicate_names {
    #[::retry_runtime::retry(
        attempts = 3,
        wait = none,
        on = [|e: &::std::io::Error| e.raw_os_error() == ::std::option::Option::Some(__retry_error)],
        fallback = backup,
        fallback_on = [|e: &::std::io::Error| e.raw_os_error() == ::std::option::Option::Some(__retry_e)],
    )]
    pub fn fetch(
        tries: &::std::sync::atomic::AtomicU32,
        __retry_error: i32,
        __retry_e: i32,
    ) -> ::std::io::Result<u32> {
        tries.fetch_add(1, ::std::sync::atomic::Ordering::SeqCst);
        ::std::result::Result::Err(::std::io::Error::from_raw_os_error(7))
    }

    pub fn backup(_: &::std::sync::atomic::AtomicU32, _: i32, _: i32) -> ::std::io::Result<u32> {
        ::std::result::Result::Ok(99)
    }
}

#[test]
fn predicates_read_the_users_names() {
    let tries = ::std::sync::atomic::AtomicU32::new(0);
    // Retried by the `on` predicate (os error 7), then handed to the fallback.
    ::core::assert_eq!(predicate_names::fetch(&tries, 7, 7).unwrap(), 99);
    ::core::assert_eq!(tries.load(::std::sync::atomic::Ordering::SeqCst), 3);
    // Neither predicate matches: no retry, no fallback.
    let tries = ::std::sync::atomic::AtomicU32::new(0);
    ::core::assert!(predicate_names::fetch(&tries, 8, 8).is_err());
    ::core::assert_eq!(tries.load(::std::sync::atomic::Ordering::SeqCst), 1);
}
