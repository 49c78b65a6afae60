//! Times that hold up on a busy machine: every variant runs once per round,
//! in an order rotated each round, and each time is divided by the direct
//! call's time in the same round. Prints, per variant, the median time per
//! call and the median ratio to the direct call over the rounds. Run it in
//! several processes and compare:
//!
//! ```sh
//! cargo bench -p benches --bench rounds            # 3 processes × 15 rounds
//! ```

use std::hint::black_box;
use std::time::Instant;

#[path = "retry.rs"]
#[allow(dead_code)]
mod paths;

const ROUNDS: usize = 15;
const CALLS: u32 = 20_000;
use paths::VARIANTS;

/// Nanoseconds per call of `which` on the success path.
fn time(which: &str) -> f64 {
    let start = Instant::now();
    for _ in 0..CALLS {
        let mut n = 0;
        let f = black_box(0);
        let out = paths::now_pub(paths::call_variant(which, f, &mut n));
        black_box(out.ok());
    }
    start.elapsed().as_nanos() as f64 / f64::from(CALLS)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn one_process() {
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); VARIANTS.len()];
    let mut ratios: Vec<Vec<f64>> = vec![Vec::new(); VARIANTS.len()];
    for round in 0..ROUNDS {
        let mut this = vec![0.0; VARIANTS.len()];
        for k in 0..VARIANTS.len() {
            let i = (k + round) % VARIANTS.len();
            this[i] = time(VARIANTS[i].0);
        }
        for i in 0..VARIANTS.len() {
            times[i].push(this[i]);
            ratios[i].push(this[i] / this[0]);
        }
    }
    for (i, (_, name)) in VARIANTS.iter().enumerate() {
        println!(
            "| {name} | {:.1} ns | {:.2}× |",
            median(times[i].clone()),
            median(ratios[i].clone())
        );
    }
}

fn main() {
    // `cargo bench` passes `--bench`; the child processes get `--child`.
    if std::env::args().any(|a| a == "--child") {
        one_process();
        return;
    }
    let me = std::env::current_exe().expect("own path");
    for process in 1..=3 {
        println!(
            "\nprocess {process} (success path, {ROUNDS} rounds of {CALLS} calls, medians):\n"
        );
        println!("| variant | time per call | ratio to the direct call |\n|---|---|---|");
        let out = std::process::Command::new(&me)
            .arg("--child")
            .output()
            .expect("a child process");
        print!("{}", String::from_utf8_lossy(&out.stdout));
    }
}
