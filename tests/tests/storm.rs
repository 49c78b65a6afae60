//! The outage simulation (`examples/src/storm.rs`) on a paused clock: 1,000
//! callers, 5 attempts per call, an API that fails everything and then
//! recovers.

use std::time::Duration;

use examples::storm::{Protection, Second, simulate};

/// The simulations share the example's statics: one at a time.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn run(protection: Protection, seconds: u64, down_for: u64) -> Vec<Second> {
    let _serial = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let rt = tests::paused_runtime();
    rt.block_on(simulate(
        protection,
        1000,
        seconds,
        Duration::from_secs(down_for),
    ))
}

fn requests(v: &[Second]) -> u32 {
    v.iter().map(|s| s.requests).sum()
}

#[test]
fn one_wave_during_an_outage() {
    // Every caller calls once, while the API is down for good.
    let none = run(Protection::None, 1, 60);
    assert_eq!(requests(&none), 5000, "1,000 calls × 5 attempts");

    let budget = run(Protection::Budget, 1, 60);
    // 1,000 first attempts; retries: 10% of the calls plus the reserve of
    // 10 a second over the 10 s window.
    assert_eq!(requests(&budget), 1000 + 100 + 100);

    let breaker = run(Protection::Breaker, 1, 60);
    // The 1,000 first attempts are in flight before the first failure opens
    // it; every retry then asks it right before it would run, and is refused.
    assert_eq!(requests(&breaker), 1000);
}

#[test]
fn a_long_outage_and_the_recovery() {
    let down = 8;
    let none = run(Protection::None, 20, down);
    let budget = run(Protection::Budget, 20, down);
    let breaker = run(Protection::Breaker, 20, down);

    for second in 1..down as usize {
        assert!(none[second].requests > 4000, "{second}: {:?}", none[second]);
        // 1,000 calls and their 10% (the reserve went in the first second).
        assert!(
            budget[second].requests <= 1100,
            "{second}: {:?}",
            budget[second]
        );
        assert!(
            breaker[second].requests <= 2,
            "{second}: {:?}",
            breaker[second]
        );
    }
    assert!(requests(&breaker[..down as usize]) < requests(&budget[..down as usize]));
    assert!(requests(&budget[..down as usize]) * 4 < requests(&none[..down as usize]));

    // Once it is back, every protected caller gets through again.
    for second in down as usize + 1..20 {
        for (name, run) in [("budget", &budget), ("breaker", &breaker), ("none", &none)] {
            let s = run[second];
            assert_eq!(
                (s.successes, s.failures),
                (1000, 0),
                "{name} at {second}: {s:?}"
            );
        }
    }
}
