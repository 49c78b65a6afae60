//! Heap allocations per call, and memory per call parked in a backoff
//! sleep. Run: `cargo bench -p benches --bench allocations`.
//!
//! 1. Every variant of `retry.rs` on the success path and on fail, fail,
//!    succeed (paused clock), under a counting allocator: allocations and
//!    bytes per call (the first call of each is left out: thread-local set-up).
//! 2. 100,000 calls of the annotated function parked in a 1-hour backoff
//!    sleep, against 100,000 bare `tokio::time::sleep`s: resident memory per
//!    call (from `/proc/self/statm`), each in a fresh runtime.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

#[path = "retry.rs"]
#[allow(dead_code)]
mod paths;

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call forwards to `System` with the same arguments.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Relaxed);
        BYTES.fetch_add(layout.size() as u64, Relaxed);
        // SAFETY: forwarded as is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const CALLS: u64 = 1000;

fn per_call(rt: &tokio::runtime::Runtime, fail_first: u32, which: &str) -> (f64, f64) {
    let run = |n: &mut u32| rt.block_on(async { paths::call_variant(which, fail_first, n).await });
    black_box(run(&mut 0).ok());
    let (a0, b0) = (ALLOCATIONS.load(Relaxed), BYTES.load(Relaxed));
    for _ in 0..CALLS {
        black_box(run(&mut 0).ok());
    }
    let (a1, b1) = (ALLOCATIONS.load(Relaxed), BYTES.load(Relaxed));
    (
        (a1 - a0) as f64 / CALLS as f64,
        (b1 - b0) as f64 / CALLS as f64,
    )
}

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

const PARKED: usize = 100_000;

#[retry_runtime::retry(attempts = 2, wait = fixed(3600), on = [Connect])]
async fn parked(fail: &std::sync::atomic::AtomicBool) -> io::Result<()> {
    if fail.swap(false, Relaxed) {
        return Err(io::ErrorKind::ConnectionReset.into());
    }
    Ok(())
}

/// Resident bytes per task: `PARKED` tasks spawned, each parked in a sleep.
fn parked_bytes(retrying: bool) -> f64 {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        let before = resident_bytes();
        let mut tasks = Vec::with_capacity(PARKED);
        for _ in 0..PARKED {
            tasks.push(if retrying {
                tokio::spawn(async {
                    let fail = std::sync::atomic::AtomicBool::new(true);
                    let _ = parked(&fail).await;
                })
            } else {
                tokio::spawn(async {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                })
            });
        }
        // Let every task reach its sleep.
        for _ in 0..4 {
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        let after = resident_bytes();
        for t in &tasks {
            t.abort();
        }
        (after.saturating_sub(before)) as f64 / PARKED as f64
    })
}

fn main() {
    // `cargo bench` passes `--bench`; nothing to parse.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    println!(
        "| variant | success: allocations / bytes in {CALLS} calls | fail, fail, succeed: allocations / bytes in {CALLS} calls |"
    );
    println!("|---|---|---|");
    for (which, name) in paths::VARIANTS {
        let (sa, sb) = per_call(&rt, 0, which);
        let (ra, rb) = if which == "direct" {
            (f64::NAN, f64::NAN)
        } else {
            per_call(&rt, 2, which)
        };
        println!("| {name} | {sa} / {sb} | {ra} / {rb} |");
    }
    let bare = parked_bytes(false);
    let retrying = parked_bytes(true);
    println!(
        "\n{PARKED} calls parked in a backoff sleep: {retrying:.0} bytes resident per call; {PARKED} bare tokio sleeps: {bare:.0} bytes per task"
    );
}
