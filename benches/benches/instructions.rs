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
//! subtract). Without arguments it runs each once and prints the sizes.

use std::hint::black_box;

#[path = "retry.rs"]
#[allow(dead_code)]
mod paths;

const ITERATIONS: u32 = 100_000;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    let fail_first = match args.first().map(String::as_str) {
        Some("success") => 0,
        Some("retry") => 2,
        _ => {
            paths::sizes();
            return;
        }
    };
    let which = args.get(1).map(String::as_str).unwrap_or("none");
    rt.block_on(async {
        for _ in 0..ITERATIONS {
            let mut n = 0;
            let f = black_box(fail_first);
            // Dispatched here, not through `paths::call_variant`: a second
            // async layer would add its own instructions to every variant.
            let out = match which {
                "direct" => paths::direct(f, &mut n).await,
                "hand" => paths::hand_written(f, &mut n).await,
                "attribute" => paths::annotated(f, &mut n).await,
                "question" => paths::annotated_with_question_mark(f, &mut n).await,
                "protected" => paths::annotated_protected(f, &mut n).await,
                "backon" => paths::with_backon(f, &mut n).await,
                "tokio_retry2" => paths::with_tokio_retry2(f, &mut n).await,
                "backoff" => paths::with_backoff(f, &mut n).await,
                _ => Ok(0),
            };
            black_box(out.ok());
        }
    });
}
