//! The paths of `retry.rs`, run a fixed number of times, for instruction
//! counts that do not drift with the machine's load:
//!
//! ```sh
//! cargo bench -p benches --bench instructions --no-run
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/deps/instructions-* success attribute
//! ```
//!
//! Arguments: `success` or `retry`, then `direct`, `hand`, `attribute`,
//! `question`, `protected` (budget and breaker), `backon`, `tokio_retry2`
//! or `backoff`; `none` runs nothing (the harness's own count, to
//! subtract); any other name panics. Without arguments it runs each once
//! and prints the sizes.
//!
//! With `--features redis`, two more:
//! - `shared`: `protected` with its budget and breaker shared on Redis
//!   (`retry_runtime::redis::share`), what a call pays for the shared state.
//!   The synchronisation is set to run once a day, so no round trip falls
//!   in the count (and no Redis is needed: the connection is made lazily).
//! - `sync URL SECONDS` and `sync none SECONDS`: an idle process on the real
//!   clock, sharing on the Redis at `URL` every 10 ms, or not sharing. The
//!   difference over the round trips made (Redis's `INFO commandstats`,
//!   `cmdstat_evalsha`) is the background cost of one synchronisation.

use std::hint::black_box;

#[path = "retry.rs"]
#[allow(dead_code)]
mod paths;

const ITERATIONS: u32 = 100_000;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("sync") {
        return sync(&args[1..]);
    }
    let fail_first = match args.first().map(String::as_str) {
        Some("success") => 0,
        Some("retry") => 2,
        _ => {
            paths::sizes();
            return;
        }
    };
    let mut builder = tokio::runtime::Builder::new_current_thread();
    builder.enable_time();
    // The retry path sleeps, on the paused clock (no time passes). The
    // success path reads the clock only for a budget or a breaker, and
    // reads the system's, as applications do: in a process that ever
    // paused tokio's clock, every read of it takes the paused path (the
    // runtime's handle and a lock), which the system's clock does not.
    // (Under callgrind the system's clock is a system call, and the
    // kernel's part of it is not counted.) Compare checkouts from before
    // `a462318` on the retry path only: their success path paused it.
    if fail_first > 0 {
        builder.start_paused(true);
    }
    let rt = builder.build().unwrap();
    let which = args.get(1).map(String::as_str).unwrap_or("none");
    #[cfg(not(feature = "redis"))]
    assert_ne!(which, "shared", "build with --features redis");
    rt.block_on(async {
        #[cfg(feature = "redis")]
        let _sharing = (which == "shared").then(|| {
            let client = redis::Client::open("redis://127.0.0.1:1/").unwrap();
            // No round trip while it is measured.
            let rarely = retry_runtime::redis::Options::new()
                .interval(std::time::Duration::from_secs(43_000))
                .stale(std::time::Duration::from_secs(86_400));
            let members: [&'static dyn retry_runtime::redis::Shared; 2] =
                [&paths::BENCH_BUDGET, &paths::BENCH_BREAKER];
            retry_runtime::redis::share_with(&client, "bench", &members, rarely).unwrap()
        });
        // The variant is resolved to a number before the loop: matching
        // its name inside the loop would compare strings on every call, more
        // for the names matched later, and count that as the variant's own.
        let variant = black_box(variant_number(which));
        for _ in 0..ITERATIONS {
            let mut n = 0;
            let f = black_box(fail_first);
            // Dispatched here, not through `paths::call_variant`: a second
            // async layer would add its own instructions to every variant.
            let out = match variant {
                1 => paths::direct(f, &mut n).await,
                2 => paths::hand_written(f, &mut n).await,
                3 => paths::annotated(f, &mut n).await,
                4 => paths::annotated_with_question_mark(f, &mut n).await,
                5 => paths::annotated_protected(f, &mut n).await,
                6 => paths::with_backon(f, &mut n).await,
                7 => paths::with_tokio_retry2(f, &mut n).await,
                8 => paths::with_backoff(f, &mut n).await,
                _ => Ok(0),
            };
            black_box(out.ok());
        }
    });
}

/// The variant's number in `main`'s loop (0: `none`, the harness alone).
fn variant_number(which: &str) -> u32 {
    match which {
        "direct" => 1,
        "hand" => 2,
        "attribute" => 3,
        "question" => 4,
        "protected" | "shared" => 5,
        "backon" => 6,
        "tokio_retry2" => 7,
        "backoff" => 8,
        "none" => 0,
        other => panic!("unknown variant {other:?}"),
    }
}

/// `sync URL SECONDS` / `sync none SECONDS`: idle on the real clock, with or
/// without the synchronisation running.
fn sync(args: &[String]) {
    let url = args.first().map(String::as_str).unwrap_or("none");
    let seconds: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(2);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        #[cfg(feature = "redis")]
        let _sharing = (url != "none").then(|| {
            let client = redis::Client::open(url).unwrap();
            let members: [&'static dyn retry_runtime::redis::Shared; 2] =
                [&paths::BENCH_BUDGET, &paths::BENCH_BREAKER];
            retry_runtime::redis::share(&client, "bench-sync", &members).unwrap()
        });
        #[cfg(not(feature = "redis"))]
        assert_eq!(url, "none", "build with --features redis");
        tokio::time::sleep(std::time::Duration::from_secs(seconds)).await;
    });
}
