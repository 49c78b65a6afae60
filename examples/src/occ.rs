//! Marc Brooker's experiment from "Exponential Backoff and Jitter" (AWS
//! Architecture Blog, 2015), in Rust, with this crate's own waits and
//! jitter: N clients each make one optimistic-concurrency write to one
//! contended row. A client reads the row's version, then writes with that
//! version; the write fails if another client wrote in between, and the
//! client backs off and starts over. Every message takes a network delay
//! drawn from a normal distribution (mean 10 ms, standard deviation 2 ms).
//!
//! The model follows the reference simulator (awslabs/aws-arch-backoff-
//! simulator): the server answers at once; after the n-th failed write a
//! client waits `min(cap, base · 2^n)` (base 5 ms, cap 2 s), jittered, before
//! its next read; the figures are the writes (calls) and the time until the
//! last client is done, averaged over many runs. Deterministic for a seed.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use retry_runtime::wait::{Entropy, Exponential, Jitter, NoWait, Wait, WaitContext};

/// The backoff a client uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backoff {
    /// Retry at once.
    None,
    /// Capped exponential, no jitter.
    Exponential,
    /// Half the exponential delay plus a uniform draw over the other half.
    Equal,
    /// A uniform draw between zero and the exponential delay.
    Full,
    /// A uniform draw between the base and three times the previous delay.
    Decorrelated,
}

impl Backoff {
    /// Every kind, in the order of the tables.
    pub const ALL: [Backoff; 5] = [
        Backoff::None,
        Backoff::Exponential,
        Backoff::Equal,
        Backoff::Full,
        Backoff::Decorrelated,
    ];

    /// The name in tables and plots.
    pub fn name(self) -> &'static str {
        match self {
            Backoff::None => "none",
            Backoff::Exponential => "exponential",
            Backoff::Equal => "equal jitter",
            Backoff::Full => "full jitter",
            Backoff::Decorrelated => "decorrelated",
        }
    }

    /// This crate's wait for it. The reference sleeps `base · 2^n` after the
    /// n-th failure; the crate's exponential waits `initial · 2^(n−1)`, so
    /// `initial` is twice the base. Decorrelated jitter starts from the base.
    fn wait(self) -> Box<dyn Wait> {
        const BASE: Duration = Duration::from_millis(5);
        const CAP: Duration = Duration::from_secs(2);
        let exponential = |jitter| {
            Box::new(Exponential::new().initial(BASE * 2).max(CAP).jitter(jitter)) as Box<dyn Wait>
        };
        match self {
            Backoff::None => Box::new(NoWait),
            Backoff::Exponential => exponential(Jitter::None),
            Backoff::Equal => exponential(Jitter::Equal),
            Backoff::Full => exponential(Jitter::Full),
            Backoff::Decorrelated => Box::new(
                Exponential::new()
                    .initial(BASE)
                    .max(CAP)
                    .jitter(Jitter::Decorrelated),
            ),
        }
    }
}

/// The averages of one point.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Point {
    /// Writes per run (the work the row's server did).
    pub calls: f64,
    /// Milliseconds until the last client was done.
    pub completion_ms: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    /// A read arrives at the server.
    Read(usize),
    /// The version arrives at the client.
    Version(usize, u64),
    /// A write with the version the client read arrives at the server.
    Write(usize, u64),
    /// The answer to the write arrives at the client.
    Written(usize, bool),
}

/// Time in nanoseconds, for an ordered heap without floats.
type Nanos = u64;

struct Net {
    rng: SmallRng,
}

impl Net {
    /// `|N(10 ms, 2 ms)|` by Box–Muller.
    fn delay(&mut self) -> Nanos {
        let u1: f64 = self.rng.random::<f64>().max(f64::MIN_POSITIVE);
        let u2: f64 = self.rng.random();
        let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        ((10.0 + 2.0 * z).abs() * 1e6) as Nanos
    }
}

/// One run: `clients` clients, each writing once. Returns (writes, time of
/// the last event in ms).
fn run(clients: usize, backoff: Backoff, seed: u64) -> (u64, f64) {
    let wait = backoff.wait();
    let mut net = Net {
        rng: SmallRng::seed_from_u64(seed),
    };
    let mut entropy = Entropy::from_seed(seed ^ 0x9E37_79B9_7F4A_7C15);
    let mut attempts = vec![0u32; clients];
    let mut previous = vec![Duration::ZERO; clients];
    let mut version = 0u64;
    let mut calls = 0u64;
    let mut queue = BinaryHeap::new();
    for client in 0..clients {
        queue.push(Reverse((net.delay(), Event::Read(client))));
    }
    let mut now = 0;
    while let Some(Reverse((at, event))) = queue.pop() {
        now = at;
        let next = match event {
            Event::Read(c) => Some(Event::Version(c, version)),
            Event::Version(c, v) => Some(Event::Write(c, v)),
            Event::Write(c, v) => {
                calls += 1;
                let ok = v == version;
                if ok {
                    version += 1;
                }
                Some(Event::Written(c, ok))
            }
            Event::Written(_, true) => None,
            Event::Written(c, false) => {
                attempts[c] += 1;
                let mut cx = WaitContext::new(attempts[c], previous[c], &mut entropy);
                let sleep = wait.delay(&mut cx);
                previous[c] = sleep;
                let sleep = u64::try_from(sleep.as_nanos()).unwrap_or(u64::MAX);
                queue.push(Reverse((now + net.delay() + sleep, Event::Read(c))));
                None
            }
        };
        if let Some(next) = next {
            queue.push(Reverse((now + net.delay(), next)));
        }
    }
    (calls, now as f64 / 1e6)
}

/// The average over `runs` runs (seeds `seed`, `seed + 1`, ...).
pub fn point(clients: usize, backoff: Backoff, runs: u64, seed: u64) -> Point {
    let (mut calls, mut ms) = (0u64, 0.0);
    for r in 0..runs {
        let (c, t) = run(clients, backoff, seed.wrapping_add(r));
        calls += c;
        ms += t;
    }
    Point {
        calls: calls as f64 / runs as f64,
        completion_ms: ms / runs as f64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_client_writes_once_and_the_same_seed_gives_the_same_run() {
        for backoff in Backoff::ALL {
            let (calls, ms) = run(1, backoff, 7);
            assert_eq!(calls, 1);
            assert!((20.0..80.0).contains(&ms), "{ms}");
            assert_eq!(run(30, backoff, 7), run(30, backoff, 7));
        }
    }

    #[test]
    fn every_client_finishes_and_jitter_does_less_work() {
        let none = point(50, Backoff::None, 20, 1);
        let full = point(50, Backoff::Full, 20, 1);
        let plain = point(50, Backoff::Exponential, 20, 1);
        assert!(none.calls >= 50.0 && full.calls >= 50.0);
        assert!(full.calls < none.calls, "{full:?} {none:?}");
        assert!(
            full.completion_ms < plain.completion_ms,
            "{full:?} {plain:?}"
        );
    }
}
