use super::*;
use crate::counters::stripe::{self, LINES, SHARED, STRIPES};

fn stripes_used() -> (usize, bool) {
    stripe::used()
}

fn ended(attempts: u32, gave_up: Option<GiveUp>, error: bool) -> Ended {
    Ended {
        attempts,
        gave_up,
        error,
        class: None,
    }
}

#[test]
fn a_call_that_returned_a_quota_failure_is_counted_apart() {
    static R: Recorder = Recorder::new("stats::tests::quota");
    let s = Stats(&R);
    let quota = |error| Ended {
        attempts: 1,
        gave_up: Some(GiveUp::NotRetryable),
        error,
        class: Some(Class::Quota),
    };
    s.call_ended(quota(true));
    s.call_ended(quota(true));
    // A rejected `Ok` returned as it is carries no error to alert on.
    s.call_ended(quota(false));
    s.call_ended(ended(1, Some(GiveUp::NotRetryable), true));
    let got = get("stats::tests::quota").unwrap();
    assert_eq!((got.quota, got.failures, got.calls), (2, 3, 4));
}

#[test]
fn every_outcome_lands_in_its_counter() {
    static R: Recorder = Recorder::new("stats::tests::outcomes");
    let s = Stats(&R);
    s.call_ended(ended(1, None, false));
    s.call_ended(ended(1, None, false));
    s.call_ended(ended(3, None, false));
    s.call_ended(ended(1, Some(GiveUp::NotRetryable), true));
    s.call_ended(ended(4, Some(GiveUp::Attempts), true));
    s.call_ended(ended(2, Some(GiveUp::Deadline), true));
    s.call_ended(ended(2, Some(GiveUp::RetryAfterTooLong), true));
    s.call_ended(ended(1, Some(GiveUp::ServerRefused), true));
    // A rejected `Ok` returned after retrying: a success that gave up.
    s.call_ended(ended(3, Some(GiveUp::Attempts), false));
    let got = get("stats::tests::outcomes").unwrap();
    assert_eq!(
        got,
        FnStats {
            name: "stats::tests::outcomes",
            calls: 9,
            first_try_successes: 2,
            retries: 2 + 3 + 1 + 1 + 2,
            failures: 5,
            succeeded_after_retries: 2,
            failed_without_retry: 2,
            failed_after_retries: 3,
            attempts: 9 + 9,
            gave_up: GiveUpCounts {
                not_retryable: 1,
                server_refused: 1,
                attempts: 2,
                deadline: 1,
                retry_after_too_long: 1,
                budget_exhausted: 0,
                breaker_open: 0,
            },
            quota: 0,
            fallbacks: 0,
        }
    );
    assert_eq!(got.first_try_success_rate(), 2.0 / 9.0);
    assert_eq!(got.avg_retries(), 1.0);
    assert_eq!(got.failure_rate(), 5.0 / 9.0);
    assert_eq!(
        got.to_string(),
        "stats::tests::outcomes: 9 calls, 22.2% first try, 1.00 retries/call, 55.6% failed"
    );
}

#[test]
fn rates_are_zero_without_calls() {
    static R: Recorder = Recorder::new("stats::tests::none");
    assert_eq!(get("stats::tests::none"), None, "listed only once called");
    R.list();
    let got = get("stats::tests::none").unwrap();
    assert_eq!(got.calls, 0);
    assert_eq!(got.first_try_success_rate(), 0.0);
    assert_eq!(got.avg_retries(), 0.0);
    assert_eq!(got.failure_rate(), 0.0);
}

#[test]
fn one_entry_per_name_and_sorted() {
    static A: Recorder = Recorder::new("stats::tests::shared");
    static B: Recorder = Recorder::new("stats::tests::shared");
    static C: Recorder = Recorder::new("stats::tests::a-first");
    Stats(&A).call_ended(ended(1, None, false));
    Stats(&B).call_ended(ended(2, None, false));
    Stats(&C).call_ended(ended(1, None, false));
    Stats(&A).call_ended(ended(1, None, false));
    let shared = get("stats::tests::shared").unwrap();
    assert_eq!(
        (shared.calls, shared.first_try_successes, shared.retries),
        (3, 2, 1)
    );
    let all = snapshot();
    let names: Vec<_> = all.iter().map(|s| s.name).collect();
    let mut sorted = names.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(names, sorted, "sorted, one entry per name");
    assert_eq!(
        all.iter().find(|s| s.name == "stats::tests::shared"),
        Some(&shared)
    );
    assert!(names.contains(&"stats::tests::a-first"));
}

#[test]
fn a_named_builder_recorder_is_made_once_per_name() {
    let a = Recorder::named("stats::tests::builder");
    let b = Recorder::named("stats::tests::builder");
    assert!(ptr::eq(a, b));
    assert!(!ptr::eq(a, Recorder::named("stats::tests::other builder")));
}

#[test]
fn threads_beyond_the_stripes_share_a_line_and_lose_nothing() {
    let _one_at_a_time = LINES.lock().unwrap_or_else(|e| e.into_inner());
    static R: Recorder = Recorder::new("stats::tests::threads");
    let threads = STRIPES * 2 + 3;
    let barrier = std::sync::Barrier::new(threads);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                // All alive at once, so that some find no free line.
                barrier.wait();
                for _ in 0..1000 {
                    Stats(&R).call_ended(ended(1, None, false));
                }
                barrier.wait();
            });
        }
    });
    let got = get("stats::tests::threads").unwrap();
    assert_eq!(got.first_try_successes, threads as u64 * 1000);
    let shared: u64 = R
        .first_try_successes
        .shared
        .iter()
        .map(|l| l.0.load(Relaxed))
        .sum();
    assert!(shared > 0, "some threads shared");
    let used = R
        .first_try_successes
        .shared
        .iter()
        .filter(|l| l.0.load(Relaxed) > 0)
        .count();
    assert_eq!(
        used, SHARED,
        "the threads beyond the owned lines spread over every shared one"
    );
    assert!(
        stripes_used().1,
        "and the shared lines are known to be used"
    );
}

#[test]
fn a_recorder_shows_its_name_and_observers_compare_by_recorder() {
    static A: Recorder = Recorder::new("stats::tests::shown");
    static B: Recorder = Recorder::new("stats::tests::shown");
    assert_eq!(
        format!("{A:?}"),
        "Recorder { name: \"stats::tests::shown\", .. }"
    );
    assert_eq!(Stats(&A), Stats(&A));
    assert_ne!(Stats(&A), Stats(&B), "the same name, another recorder");
}

#[test]
fn a_thread_gives_its_line_back_when_it_exits() {
    let _one_at_a_time = LINES.lock().unwrap_or_else(|e| e.into_inner());
    // One after another, more threads than lines: each finds a free line
    // only if the ones before gave theirs back.
    for _ in 0..STRIPES * 2 {
        let index = std::thread::spawn(stripe::index).join().unwrap();
        assert!(index < STRIPES, "line {index}: not given back");
    }
}

#[test]
fn counts_never_wrap_or_panic_near_the_top() {
    static R: Recorder = Recorder::new("stats::tests::huge");
    Stats(&R).call_ended(ended(u32::MAX, Some(GiveUp::Attempts), true));
    let got = get("stats::tests::huge").unwrap();
    assert_eq!(got.retries, u64::from(u32::MAX) - 1);
    assert_eq!(got.attempts, u64::from(u32::MAX));
}

#[test]
fn entries_of_one_name_add_up_field_by_field() {
    static A: Recorder = Recorder::new("stats::tests::summed");
    static B: Recorder = Recorder::new("stats::tests::summed");
    let reasons = [
        GiveUp::NotRetryable,
        GiveUp::ServerRefused,
        GiveUp::Attempts,
        GiveUp::Deadline,
        GiveUp::RetryAfterTooLong,
        GiveUp::BudgetExhausted,
        GiveUp::BreakerOpen,
    ];
    // Every counter of both gets a different, non-zero count.
    for (recorder, times) in [(&A, 1u32), (&B, 3)] {
        for _ in 0..times {
            Stats(recorder).call_ended(ended(1, None, false));
            Stats(recorder).call_ended(ended(3, None, false));
            Stats(recorder).call_ended(ended(1, Some(GiveUp::NotRetryable), true));
            for (i, reason) in reasons.iter().enumerate() {
                Stats(recorder).call_ended(ended(2 + i as u32, Some(*reason), true));
            }
        }
    }
    let (a, b) = (A.read(), B.read());
    let sum = get("stats::tests::summed").unwrap();
    let fields = |s: &FnStats| {
        let g = &s.gave_up;
        [
            s.calls,
            s.first_try_successes,
            s.retries,
            s.failures,
            s.succeeded_after_retries,
            s.failed_without_retry,
            s.failed_after_retries,
            s.attempts,
            g.not_retryable,
            g.server_refused,
            g.attempts,
            g.deadline,
            g.retry_after_too_long,
            g.budget_exhausted,
            g.breaker_open,
        ]
    };
    for ((a, b), sum) in fields(&a).into_iter().zip(fields(&b)).zip(fields(&sum)) {
        assert!(a > 0 && b > a, "{a} {b}");
        assert_eq!(sum, a + b);
    }
    assert_eq!(
        snapshot()
            .into_iter()
            .find(|s| s.name == "stats::tests::summed"),
        Some(sum)
    );
}

#[test]
fn give_up_counts_by_reason_read_and_add_by_name() {
    // Each reason its own count, read back by the same reason.
    let counts = GiveUpCounts::of(|reason| reason.index() as u64 + 1);
    for reason in GiveUp::ALL {
        assert_eq!(counts.get(reason), reason.index() as u64 + 1, "{reason:?}");
    }
    assert_eq!((counts.not_retryable, counts.breaker_open), (1, 7));
    assert_eq!((counts.deadline, counts.budget_exhausted), (4, 6));
    // FnStats add up reason by reason.
    let one = FnStats {
        name: "one",
        calls: 1,
        first_try_successes: 0,
        retries: 0,
        failures: 1,
        succeeded_after_retries: 0,
        failed_without_retry: 1,
        failed_after_retries: 0,
        attempts: 1,
        gave_up: counts,
        quota: 3,
        fallbacks: 1,
    };
    let mut sum = one.clone();
    sum.add(&one);
    for reason in GiveUp::ALL {
        assert_eq!(sum.gave_up.get(reason), 2 * counts.get(reason));
    }
    assert_eq!((sum.quota, sum.fallbacks), (6, 2));
    // The former name still compiles.
    #[allow(deprecated)]
    let former: crate::observe::stats::GaveUp = GiveUpCounts::default();
    assert_eq!(former, GiveUpCounts::default());
}
