//! The expansion allocates nothing: not on the success path, not while retrying.
//! A counting global allocator proves it (this file is its own test binary).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::Future;
use std::io::ErrorKind;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use retry_runtime::retry;

struct Counting;

thread_local! {
    // Per thread: the test harness's own threads may allocate meanwhile.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // `try_with`: a thread being torn down has no counter left.
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let before = ALLOCATIONS.with(Cell::get);
    let out = f();
    (out, ALLOCATIONS.with(Cell::get) - before)
}

/// Polls a future that completes without sleeping (a zero wait yields to
/// the executor once, so it is polled again).
fn run<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    for _ in 0..100 {
        if let Poll::Ready(out) = f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            return out;
        }
    }
    panic!("the future slept")
}

#[retry(attempts = 5, wait = exponential(initial = 0, jitter = full), on = [Connect, Status(500..=599)], never = [Status(501)])]
async fn fetch(fail: &mut u32, name: (u32, u32)) -> std::io::Result<u32> {
    if *fail > 0 {
        *fail -= 1;
        return Err(ErrorKind::ConnectionReset.into());
    }
    Ok(name.0 + name.1)
}

#[retry(attempts = 5, wait = none, when_ok = |v: &u32| *v == 0)]
async fn rejected(values: &mut Vec<u32>) -> std::io::Result<u32> {
    Ok(values.pop().unwrap_or(9))
}

#[retry(attempts = 4, wait = 1ms, deadline = 10s)]
fn blocking(fail: &mut u32) -> std::io::Result<u32> {
    if *fail > 0 {
        *fail -= 1;
        return Err(ErrorKind::TimedOut.into());
    }
    Ok(7)
}

#[test]
fn no_allocation_on_any_path() {
    let (_, n) = allocations(|| Box::new(1));
    assert_eq!(n, 1, "the counter counts");

    // Once per thread and function, not per call: a thread's first recorded
    // call claims its statistics line (std registers the thread-exit
    // destructor that gives it back, which allocates once per thread), and
    // with the `metrics` feature a function's first call builds its series
    // keys. What follows counts the calls after that.
    run(fetch(&mut 0, (1, 2))).unwrap();
    run(rejected(&mut vec![1])).unwrap();
    blocking(&mut 0).unwrap();

    let mut fail = 0;
    let (out, n) = allocations(|| run(fetch(&mut fail, (1, 2))));
    assert_eq!(out.unwrap(), 3);
    assert_eq!(n, 0, "success path allocated");

    let mut fail = 3;
    let (out, n) = allocations(|| run(fetch(&mut fail, (1, 2))));
    assert_eq!(out.unwrap(), 3);
    assert_eq!(n, 0, "retry path allocated");

    let mut fail = 9;
    let (out, n) = allocations(|| run(fetch(&mut fail, (1, 2))));
    assert_eq!(out.unwrap_err().kind(), ErrorKind::ConnectionReset);
    assert_eq!(n, 0, "give-up path allocated");

    let mut values = Vec::with_capacity(4);
    values.extend([5, 0, 0]);
    let (out, n) = allocations(|| run(rejected(&mut values)));
    assert_eq!(out.unwrap(), 5);
    assert_eq!(n, 0, "when_ok path allocated");

    let mut fail = 2;
    let (out, n) = allocations(|| blocking(&mut fail));
    assert_eq!(out.unwrap(), 7);
    assert_eq!(n, 0, "blocking retry path allocated");
}
