//! Pacing before the 429: callers above an API's per-second request limit,
//! with and without `http::pace` (the simulation of `examples/src/pacing.rs`,
//! on tokio's paused clock, so it runs in a moment).
//!
//! ```sh
//! cargo run -p examples --example pacing
//! ```

use examples::pacing::simulate;

#[tokio::main(flavor = "current_thread", start_paused = true)]
async fn main() {
    let (seconds, limit) = (20, 10);
    println!("{seconds} s of calls against a limit of {limit} requests a second");
    println!(
        "{:>6}  {:>8}  {:>9}  {:>5}  {:>9}  {:>8}",
        "rate/s", "pacing", "requests", "429s", "successes", "failures"
    );
    for rate in [9, 10, 11, 12, 15, 20] {
        for pacing in [false, true] {
            let seen = simulate(pacing, rate, seconds, limit).await;
            println!(
                "{rate:>6}  {:>8}  {:>9}  {:>5}  {:>9}  {:>8}",
                if pacing { "on" } else { "off" },
                seen.requests,
                seen.rate_limited,
                seen.successes,
                seen.failures
            );
        }
    }
}
