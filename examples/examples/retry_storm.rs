//! The retry storm: 1,000 callers each call an API once a second for 20
//! simulated seconds; the API fails everything for the first 8 seconds,
//! then recovers. Every call makes up to 5 attempts with exponential
//! backoff. Printed: the requests the API receives each second, and the
//! calls that succeed, with no protection, with a retry budget
//! (`Budget::new(0.1, 10)`) and with a circuit breaker.
//!
//! Run: `cargo run -p examples --example retry_storm` (a paused clock: it
//! takes a few seconds of real time).

use std::time::Duration;

use examples::storm::{Protection, Second, simulate};

const CALLERS: usize = 1000;
const SECONDS: u64 = 20;
const DOWN_FOR: Duration = Duration::from_secs(8);

fn run(protection: Protection) -> Vec<Second> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime");
    rt.block_on(simulate(protection, CALLERS, SECONDS, DOWN_FOR))
}

fn main() {
    let none = run(Protection::None);
    let budget = run(Protection::Budget);
    let breaker = run(Protection::Breaker);
    println!(
        "{CALLERS} callers, one call a second each, 5 attempts per call; the API is down for the first {}s\n",
        DOWN_FOR.as_secs()
    );
    println!(
        "{:>6} | {:>22} | {:>22} | {:>22}",
        "second", "no protection", "budget(0.1, 10)", "circuit breaker"
    );
    println!(
        "{:>6} | {:>22} | {:>22} | {:>22}",
        "", "requests  ok  failed", "requests  ok  failed", "requests  ok  failed"
    );
    let cell = |s: &Second| format!("{:>8} {:>5} {:>7}", s.requests, s.successes, s.failures);
    let rows = none.len().min(budget.len()).min(breaker.len());
    for i in 0..rows {
        if none[i] == Second::default()
            && budget[i] == Second::default()
            && breaker[i] == Second::default()
        {
            continue;
        }
        println!(
            "{i:>6} | {:>22} | {:>22} | {:>22}",
            cell(&none[i]),
            cell(&budget[i]),
            cell(&breaker[i])
        );
    }
    let total = |v: &[Second]| {
        v.iter().fold(Second::default(), |a, s| Second {
            requests: a.requests + s.requests,
            successes: a.successes + s.successes,
            failures: a.failures + s.failures,
        })
    };
    println!(
        "{:>6} | {:>22} | {:>22} | {:>22}",
        "total",
        cell(&total(&none)),
        cell(&total(&budget)),
        cell(&total(&breaker))
    );
    let during = |v: &[Second]| {
        v[..DOWN_FOR.as_secs() as usize]
            .iter()
            .map(|s| s.requests)
            .sum::<u32>()
    };
    println!(
        "\nrequests while the API was down: {} without protection, {} with the budget, {} with the breaker",
        during(&none),
        during(&budget),
        during(&breaker)
    );
}
