use std::cell::RefCell;

use std::time::Duration;

use super::*;
use crate::counters::clock::{Clock, Now};
use crate::counters::clock::{StdClock, TokioClock};
use crate::policy::wait::Wait;
use crate::policy::wait::{Exponential, Fixed, Jitter, NoWait};
use crate::policy::{Class, GiveUp};
use crate::protect::Permit;

fn fail(retry_after: Option<Duration>) -> Failure<'static, ()> {
    Failure::error(&(), None, retry_after, None, false)
}

fn limits(attempts: u32, secs: u64) -> Limits<'static> {
    fixed(attempts, Duration::from_secs(secs))
}

/// [`limits`] with a wait of any length.
fn fixed(attempts: u32, wait: Duration) -> Limits<'static> {
    let wait: &'static dyn Wait = Box::leak(Box::new(Fixed(wait)));
    Limits {
        attempts,
        wait,
        wait_id: 0,
    }
}

/// A failure judged by one rule that always matches.
fn retry<C: Clock, O: Observer>(
    call: &mut Call<'_, C, O>,
    failure: Failure<'_, ()>,
    rule: Limits<'_>,
) -> Option<Duration> {
    call.failed(
        failure,
        || false,
        || Some(Matched::Own(rule)),
        rule,
        |_| {},
        |_| {},
    )
}

#[test]
fn gives_up_when_attempts_are_used() {
    let settings = Settings::new("t");
    let mut call = Call::<StdClock>::new(&settings);
    assert_eq!(
        retry(&mut call, fail(None), limits(3, 0)),
        Some(Duration::ZERO)
    );
    assert_eq!(
        retry(&mut call, fail(None), limits(3, 0)),
        Some(Duration::ZERO)
    );
    let mut reason = None;
    let next = call.failed(
        fail(None),
        || false,
        || Some(Matched::Own(limits(3, 0))),
        limits(3, 0),
        |_| panic!("no sleep"),
        |s| reason = s.reason,
    );
    assert_eq!(next, None);
    assert_eq!(reason, Some(GiveUp::Attempts));
    assert_eq!(call.failures(), 3);
}

#[test]
fn the_order_of_the_checks() {
    let settings = Settings::new("t");
    let top = limits(5, 1);
    let rule = limits(5, 2);
    let case = |never: bool, verdict: Option<bool>, matched: bool| {
        let mut call = Call::<StdClock>::new(&settings);
        let failure = Failure::error(&(), None, None, verdict, false);
        let mut reason = None;
        let next = call.failed(
            failure,
            || never,
            || {
                assert!(!never && verdict != Some(false), "rules asked too early");
                matched.then_some(Matched::Own(rule))
            },
            top,
            |_| {},
            |s| reason = s.reason,
        );
        (next.map(|d| d.as_secs()), reason)
    };
    assert_eq!(
        case(true, Some(true), true),
        (None, Some(GiveUp::NotRetryable))
    );
    assert_eq!(
        case(false, Some(false), true),
        (None, Some(GiveUp::ServerRefused))
    );
    assert_eq!(case(false, None, true), (Some(2), None));
    assert_eq!(case(false, Some(true), true), (Some(2), None));
    assert_eq!(case(false, Some(true), false), (Some(1), None));
    assert_eq!(case(false, None, false), (None, Some(GiveUp::NotRetryable)));
}

#[test]
fn a_rejected_ok_uses_the_top_limits_and_no_rule() {
    let settings = Settings::new("t");
    let mut call = Call::<StdClock>::new(&settings);
    let next = call.failed(
        Failure::<()>::rejected(),
        || panic!("never is for errors"),
        || panic!("rules are for errors"),
        limits(2, 4),
        |s| assert!(s.error.is_none()),
        |_| panic!(),
    );
    assert_eq!(next, Some(Duration::from_secs(4)));
}

#[test]
fn retry_after_is_a_floor_and_its_cap_gives_up() {
    let settings = Settings::new("t").retry_after(RetryAfter::honor(Duration::from_secs(10)));
    let mut call = Call::<StdClock>::new(&settings);
    let d = retry(&mut call, fail(Some(Duration::from_secs(7))), limits(5, 2));
    assert_eq!(d, Some(Duration::from_secs(7)));
    let d = retry(&mut call, fail(Some(Duration::from_secs(1))), limits(5, 2));
    assert_eq!(d, Some(Duration::from_secs(2)));
    let d = retry(&mut call, fail(Some(Duration::from_secs(10))), limits(5, 2));
    assert_eq!(d, Some(Duration::from_secs(10)), "the cap itself is obeyed");
    let d = retry(&mut call, fail(Some(Duration::MAX)), limits(5, 2));
    assert_eq!(d, None);

    let settings = Settings::new("t").retry_after(RetryAfter::Ignore);
    let mut call = Call::<StdClock>::new(&settings);
    let d = retry(&mut call, fail(Some(Duration::MAX)), limits(5, 2));
    assert_eq!(d, Some(Duration::from_secs(2)));
}

#[test]
fn a_sleep_past_the_deadline_is_not_taken() {
    let settings = Settings::new("t").deadline(Duration::from_secs(5));
    let mut call = Call::<StdClock>::new(&settings);
    assert_eq!(
        retry(&mut call, fail(None), limits(9, 4)),
        Some(Duration::from_secs(4))
    );
    // The clock barely moved (no sleep is taken here): 4 s still fit, 6 s do not.
    assert_eq!(
        retry(&mut call, fail(None), limits(9, 4)),
        Some(Duration::from_secs(4))
    );
    let mut reason = None;
    call.failed(
        fail(None),
        || false,
        || Some(Matched::Own(limits(9, 6))),
        limits(9, 6),
        |_| panic!(),
        |s| reason = s.reason,
    );
    assert_eq!(reason, Some(GiveUp::Deadline));
}

#[test]
fn a_real_clock_counts_towards_the_deadline() {
    // StdClock::since must not be zero: 30 ms pass, a 1 s deadline leaves
    // room for a 900 ms sleep but not for a 990 ms one.
    let settings = Settings::new("t").deadline(Duration::from_secs(1));
    let call = Call::<StdClock>::new(&settings);
    std::thread::sleep(Duration::from_millis(30));
    assert!(call.elapsed() >= Duration::from_millis(30));
    let left = call.attempt_limit().unwrap();
    assert!(left <= Duration::from_millis(970), "{left:?}");
    let mut call = call;
    let wait = Fixed(Duration::from_millis(990));
    let rule = Limits::own(3, &wait, 0);
    assert_eq!(retry(&mut call, fail(None), rule), None);
}

#[test]
fn attempt_limit_is_the_smaller_of_timeout_and_what_is_left() {
    let settings = Settings::new("t").timeout(Duration::from_secs(10));
    let call = Call::<StdClock>::new(&settings);
    assert_eq!(call.attempt_limit(), Some(Duration::from_secs(10)));
    let settings = Settings::new("t");
    assert_eq!(Call::<StdClock>::new(&settings).attempt_limit(), None);
    let settings = Settings::new("t")
        .timeout(Duration::from_secs(10))
        .deadline(Duration::from_secs(3));
    let limit = Call::<StdClock>::new(&settings).attempt_limit().unwrap();
    assert!(limit <= Duration::from_secs(3) && limit > Duration::from_secs(2));
    let settings = Settings::new("t").deadline(Duration::ZERO);
    let call = Call::<StdClock>::new(&settings);
    assert_eq!(call.attempt_limit(), Some(Duration::ZERO));
}

#[test]
fn attempt_counter_saturates() {
    let settings = Settings::new("t");
    let mut call = Call::<StdClock>::new(&settings);
    call.failed = u32::MAX - 1;
    assert_eq!(retry(&mut call, fail(None), limits(u32::MAX, 1)), None);
    assert_eq!(call.failures(), u32::MAX);
    assert_eq!(retry(&mut call, fail(None), limits(u32::MAX, 1)), None);
    assert_eq!(call.failures(), u32::MAX);
}

#[test]
fn hooks_see_the_state_and_the_clock_from_the_start() {
    let settings = Settings::new("svc::f").hooks();
    let mut call = Call::<StdClock>::new(&settings);
    std::thread::sleep(Duration::from_millis(20));
    let mut seen = None;
    call.failed(
        fail(Some(Duration::from_secs(3))),
        || false,
        || Some(Matched::Own(limits(3, 1))),
        limits(3, 1),
        |s| {
            seen = Some((
                s.name,
                s.attempt,
                s.delay,
                s.retry_after,
                s.elapsed,
                s.reason,
            ))
        },
        |_| panic!(),
    );
    let (name, attempt, delay, retry_after, elapsed, reason) = seen.unwrap();
    assert_eq!(
        (name, attempt, delay, retry_after, reason),
        (
            "svc::f",
            1,
            Duration::from_secs(3),
            Some(Duration::from_secs(3)),
            None
        )
    );
    assert!(
        elapsed >= Duration::from_millis(20),
        "the first attempt counts: {elapsed:?}"
    );
}

#[test]
fn a_timed_out_attempt_is_a_timeout() {
    let f = Failure::error(&(), Some(Class::Status(500)), None, None, true);
    assert_eq!(f.class, Some(Class::Timeout));
    let f = Failure::error(&(), None, None, None, true);
    assert_eq!(f.class, Some(Class::Timeout));
    let f = Failure::error(&(), Some(Class::Connect), None, None, false);
    assert_eq!(f.class, Some(Class::Connect));
}

#[test]
fn each_wait_continues_from_its_own_previous_delay() {
    // Decorrelated jitter draws from [initial, 3 x previous]: after a 30 s
    // Retry-After floor, the wait's own previous delay is still 1 s.
    let settings = Settings::new("t");
    let wait = Exponential::new()
        .initial(Duration::from_secs(1))
        .max(Duration::from_secs(1000))
        .jitter(Jitter::Decorrelated);
    let other = Fixed(Duration::from_secs(500));
    let connect = Limits::own(10, &wait, 0);
    let rate = Limits::own(10, &other, 1);
    for _ in 0..50 {
        let mut call = Call::<StdClock>::new(&settings);
        let first = retry(&mut call, fail(Some(Duration::from_secs(30))), connect).unwrap();
        assert_eq!(first, Duration::from_secs(30));
        // The wait's own first draw was at most 3 s, so the next is at most
        // 9 s; from the 30 s floor it could have been 90 s.
        let second = retry(&mut call, fail(None), connect).unwrap();
        assert!(second <= Duration::from_secs(9), "{second:?}");
        // Another rule's wait in between: the decorrelated range starts over.
        retry(&mut call, fail(None), rate).unwrap();
        let fourth = retry(&mut call, fail(None), connect).unwrap();
        assert!(fourth <= Duration::from_secs(3), "{fourth:?}");
    }
}

#[derive(Default)]
struct Recorder {
    events: RefCell<Vec<String>>,
    refuse_from: Option<u32>,
    /// Refuse attempts (right before they run) from this one on.
    refuse_attempt_from: Option<u32>,
}

impl Observer for Recorder {
    const GUARDS: bool = true;
    fn call_started<C: Clock>(&self, _: &Now<C>) {
        self.events.borrow_mut().push("start".into());
    }
    fn admit<C: Clock>(&self, attempt: u32, _: Duration, _: &Now<C>) -> Result<(), GiveUp> {
        self.events.borrow_mut().push(format!("admit {attempt}"));
        match self.refuse_from {
            Some(n) if attempt >= n => Err(GiveUp::Attempts),
            _ => Ok(()),
        }
    }
    fn admit_attempt<C: Clock>(&self, attempt: u32, _: &Now<C>) -> Result<Permit, GiveUp> {
        self.events.borrow_mut().push(format!("attempt {attempt}"));
        match self.refuse_attempt_from {
            Some(n) if attempt >= n => Err(GiveUp::BreakerOpen),
            _ => Ok(Permit::Trial(u64::from(attempt))),
        }
    }
    fn attempt_succeeded<C: Clock>(&self, attempt: u32, permit: Permit, _: &Now<C>) {
        // The attempt's own permit (none for an attempt that passed no gate).
        assert!(permit == Permit::default() || permit == Permit::Trial(u64::from(attempt)));
        self.events.borrow_mut().push(format!("ok {attempt}"));
    }
    fn attempt_failed<C: Clock>(
        &self,
        attempt: u32,
        class: Option<Class>,
        retryable: bool,
        permit: Permit,
        _: &Now<C>,
    ) {
        // The attempt's own permit (none for an attempt that passed no gate).
        assert!(permit == Permit::default() || permit == Permit::Trial(u64::from(attempt)));
        self.events
            .borrow_mut()
            .push(format!("failed {attempt} {class:?} {retryable}"));
    }
    fn call_ended(&self, ended: Ended) {
        self.events.borrow_mut().push(format!(
            "end {} {:?} {}",
            ended.attempts, ended.gave_up, ended.error
        ));
    }
    fn attempt_cancelled<C: Clock>(&self, _: u32, permit: Permit, _: &Now<C>) {
        self.events
            .borrow_mut()
            .push(format!("cancelled {permit:?}"));
    }
    fn retry_abandoned(&self, _: Duration) {
        self.events.borrow_mut().push("abandoned".into());
    }
}

#[test]
fn observers_hear_every_event_once() {
    let settings = Settings::new("t").observe(Recorder::default());
    let mut call = Call::<StdClock, _>::new(&settings);
    assert!(!call.refused());
    retry(&mut call, fail(None), limits(5, 0)).unwrap();
    call.admit_next();
    call.succeeded();
    assert_eq!(
        *settings.observer.events.borrow(),
        [
            "attempt 1",
            "start",
            "failed 1 None true",
            "admit 2",
            "attempt 2",
            "ok 2",
            "end 2 None false"
        ]
    );

    let settings = Settings::new("t").observe(Recorder::default());
    let mut call = Call::<StdClock, _>::new(&settings);
    retry(&mut call, fail(None), limits(2, 0)).unwrap();
    assert_eq!(retry(&mut call, fail(None), limits(2, 0)), None);
    assert_eq!(
        settings.observer.events.borrow().last().unwrap(),
        "end 2 Some(Attempts) true"
    );
}

#[test]
fn the_gate_refuses_a_retry_before_its_sleep() {
    let recorder = Recorder {
        refuse_from: Some(3),
        ..Recorder::default()
    };
    let settings = Settings::new("t").observe(&recorder);
    let mut call = Call::<StdClock, _>::new(&settings);
    assert!(retry(&mut call, fail(None), limits(9, 1)).is_some());
    let mut slept = false;
    let next = call.failed(
        fail(None),
        || false,
        || Some(Matched::Own(limits(9, 1))),
        limits(9, 1),
        |_| slept = true,
        |_| {},
    );
    assert_eq!(next, None);
    assert!(!slept);
    assert_eq!(
        *recorder.events.borrow(),
        [
            "attempt 1",
            "start",
            "failed 1 None true",
            "admit 2",
            "failed 2 None true",
            "admit 3",
            "end 2 Some(Attempts) true"
        ]
    );
}

#[test]
fn a_refused_attempt_gives_up_with_the_last_outcome() {
    // Refused before the first attempt: nothing starts, nothing is counted.
    let recorder = Recorder {
        refuse_attempt_from: Some(1),
        ..Recorder::default()
    };
    let settings = Settings::new("t").observe(&recorder);
    let mut call = Call::<StdClock, _>::new(&settings);
    assert!(call.refused());
    let mut reason = None;
    let next = call.failed(
        fail(None),
        || false,
        || Some(Matched::Own(limits(9, 1))),
        limits(9, 1),
        |_| panic!("no sleep"),
        |s| reason = Some((s.attempt, s.reason)),
    );
    assert_eq!(next, None);
    assert_eq!(reason, Some((0, Some(GiveUp::BreakerOpen))));
    assert_eq!(
        *recorder.events.borrow(),
        ["attempt 1", "end 0 Some(BreakerOpen) true"]
    );

    // Refused after a sleep: the call gives up after the attempt it made.
    let recorder = Recorder {
        refuse_attempt_from: Some(2),
        ..Recorder::default()
    };
    let settings = Settings::new("t").observe(&recorder);
    let mut call = Call::<StdClock, _>::new(&settings);
    assert!(retry(&mut call, fail(None), limits(9, 1)).is_some());
    call.admit_next();
    assert!(call.refused());
    assert_eq!(retry(&mut call, fail(None), limits(9, 1)), None);
    assert_eq!(
        recorder.events.borrow()[recorder.events.borrow().len() - 3..],
        ["attempt 2", "abandoned", "end 1 Some(BreakerOpen) true"],
        "the retry's withdrawal is given back when the gate refuses it after its sleep"
    );
    drop(call);
    assert_eq!(
        recorder.events.borrow().last().unwrap(),
        "end 1 Some(BreakerOpen) true",
        "nothing more to give back"
    );
}

#[test]
fn a_dropped_call_gives_back_its_trial_or_its_withdrawal() {
    // Dropped while its first attempt runs: the attempt's permit comes back.
    let recorder = Recorder::default();
    let settings = Settings::new("t").observe(&recorder);
    let call = Call::<StdClock, _>::new(&settings);
    drop(call);
    assert_eq!(
        *recorder.events.borrow(),
        ["attempt 1", "start", "cancelled Trial(1)"]
    );

    // Dropped while it sleeps before a retry: the withdrawal comes back.
    let recorder = Recorder::default();
    let settings = Settings::new("t").observe(&recorder);
    let mut call = Call::<StdClock, _>::new(&settings);
    assert!(retry(&mut call, fail(None), limits(9, 1)).is_some());
    drop(call);
    assert_eq!(
        *recorder.events.borrow(),
        [
            "attempt 1",
            "start",
            "failed 1 None true",
            "admit 2",
            "abandoned"
        ]
    );

    // Dropped during the retry: its permit, and no withdrawal (it was made).
    let recorder = Recorder::default();
    let settings = Settings::new("t").observe(&recorder);
    let mut call = Call::<StdClock, _>::new(&settings);
    assert!(retry(&mut call, fail(None), limits(9, 1)).is_some());
    call.admit_next();
    drop(call);
    assert_eq!(
        recorder.events.borrow()[4..],
        ["attempt 2", "cancelled Trial(2)"]
    );

    // A call that ended owes nothing.
    let recorder = Recorder::default();
    let settings = Settings::new("t").observe(&recorder);
    let call = Call::<StdClock, _>::new(&settings);
    call.succeeded();
    drop(call);
    assert_eq!(recorder.events.borrow().last().unwrap(), "end 1 None false");
}

#[test]
fn no_clock_is_read_without_a_deadline_a_timeout_or_hooks() {
    let settings = Settings::new("t");
    assert!(!settings.reads_clock_at_start());
    let call = Call::<StdClock>::new(&settings);
    std::thread::sleep(Duration::from_millis(2));
    assert_eq!(call.elapsed(), Duration::ZERO);
    for settings in [
        Settings::new("t").hooks(),
        Settings::new("t").deadline(Duration::from_secs(1)),
        Settings::new("t").timeout(Duration::from_secs(1)),
    ] {
        assert!(settings.reads_clock_at_start());
    }
}

#[tokio::test(start_paused = true)]
async fn no_attempt_starts_at_or_after_the_deadline() {
    let settings = Settings::new("t").deadline(Duration::from_secs(5));
    let mut call = Call::<TokioClock>::new(&settings);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rule = limits(9, 4);
    let mut reason = None;
    let next = call.failed(
        fail(None),
        || false,
        || Some(Matched::Own(rule)),
        rule,
        |_| {},
        |s| reason = s.reason,
    );
    assert_eq!(
        next, None,
        "1 s + 4 s: the attempt would start at the 5 s deadline"
    );
    assert_eq!(reason, Some(GiveUp::Deadline));

    let mut call = Call::<TokioClock>::new(&settings);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let next = retry(&mut call, fail(None), limits(9, 3));
    assert_eq!(next, Some(Duration::from_secs(3)), "1 s + 3 s leaves 1 s");
    tokio::time::sleep(Duration::from_secs(4)).await;
    // An attempt that ends right at the deadline (a timeout cut it there):
    // even a zero wait would start the next one with no time left.
    assert_eq!(call.attempt_limit(), Some(Duration::ZERO));
    let next = retry(&mut call, fail(None), limits(9, 0));
    assert_eq!(next, None, "a zero sleep at the deadline does not fit");
}

#[test]
fn no_wait_is_no_wait() {
    let settings = Settings::new("t");
    let mut call = Call::<StdClock>::new(&settings);
    let rule = Limits::own(3, &NoWait, 0);
    assert_eq!(retry(&mut call, fail(None), rule), Some(Duration::ZERO));
}

#[test]
fn debug_of_the_call_and_limits() {
    let settings = Settings::new("dbg");
    let mut call = Call::<StdClock>::new(&settings);
    retry(&mut call, fail(None), limits(3, 0));
    let text = format!("{call:?}");
    assert!(
        text.contains("\"dbg\"") && text.contains("failed: 1"),
        "{text}"
    );
    let text = format!("{:?}", limits(7, 0));
    assert!(
        text.contains("attempts: 7") && text.contains("wait_id: 0"),
        "{text}"
    );
    assert_eq!(call.settings().name, "dbg");
    assert_eq!(
        RetryAfter::default(),
        RetryAfter::honor(Duration::from_secs(60))
    );
}

#[test]
fn a_rule_without_its_own_wait_continues_the_top_wait() {
    // Top-level decorrelated jitter; the rule only overrides the attempts.
    let settings = Settings::new("t").retry_after(RetryAfter::honor(Duration::from_secs(60)));
    let mut call = Call::<StdClock>::new(&settings);
    let wait = Exponential::new()
        .initial(Duration::from_secs(1))
        .max(Duration::from_secs(100))
        .jitter(Jitter::Decorrelated);
    let top = Limits {
        attempts: 9,
        wait: &wait,
        wait_id: 0,
    };
    let mut step = |retry_after| {
        call.failed(
            fail(retry_after),
            || false,
            || Some(Matched::TopAttempts(4)),
            top,
            |_| {},
            |_| {},
        )
    };
    // A 30 s floor on the first: the wait's own draw was at most 3 s.
    assert_eq!(
        step(Some(Duration::from_secs(30))),
        Some(Duration::from_secs(30))
    );
    let second = step(None).unwrap();
    assert!(second <= Duration::from_secs(9), "{second:?}");
    step(None).unwrap();
    assert_eq!(step(None), None, "the rule's 4 attempts");
}

/// Holds attempts for `hold`, and may say a breaker is open.
struct Holding {
    hold: Duration,
    open: bool,
}

impl Observer for Holding {
    const NEEDS_CLOCK: bool = true;
    const HOLDS: bool = true;
    fn refuses<C: Clock>(&self, _: &Now<C>) -> bool {
        self.open
    }
    fn hold<C: Clock>(&self, _: &Now<C>) -> Duration {
        self.hold
    }
    fn admit_attempt<C: Clock>(&self, _: u32, _: &Now<C>) -> Result<Permit, GiveUp> {
        if self.open {
            Err(GiveUp::BreakerOpen)
        } else {
            Ok(Permit::default())
        }
    }
}

#[test]
fn the_fleets_hold_meets_the_breaker_and_the_deadline() {
    let held = |hold: u64, open: bool| Holding {
        hold: Duration::from_secs(hold),
        open,
    };
    // Waited out, capped at retry_after's max, nothing with `ignore`.
    let settings = Settings::new("t").observe(held(3, false));
    let (mut call, hold) = Call::<StdClock, _>::holding(&settings, true);
    assert_eq!(hold, Duration::from_secs(3));
    call.begin(&Now::new());
    assert!(!call.refused());
    let settings = Settings::new("t")
        .retry_after(RetryAfter::honor(Duration::from_secs(2)))
        .observe(held(3, false));
    assert_eq!(
        Call::<StdClock, _>::holding(&settings, true).1,
        Duration::from_secs(2)
    );
    let settings = Settings::new("t")
        .retry_after(RetryAfter::Ignore)
        .observe(held(3, false));
    assert_eq!(
        Call::<StdClock, _>::holding(&settings, true).1,
        Duration::ZERO
    );

    // An open breaker: no wait, and refused at once.
    let settings = Settings::new("t").observe(held(3, true));
    let (mut call, hold) = Call::<StdClock, _>::holding(&settings, true);
    assert_eq!(hold, Duration::ZERO);
    call.begin(&Now::new());
    assert!(call.refused());
    assert!(!call.refused_by_deadline());

    // A hold as long as the deadline: ended at once when the call can end,
    // else no wait (the first attempt runs at once); a shorter one is waited.
    let settings = Settings::new("t")
        .deadline(Duration::from_secs(3))
        .observe(held(3, false));
    let (mut call, hold) = Call::<StdClock, _>::holding(&settings, true);
    assert_eq!(hold, Duration::ZERO);
    call.begin(&Now::new());
    assert!(call.refused_by_deadline());
    let (mut call, hold) = Call::<StdClock, _>::holding(&settings, false);
    assert_eq!(hold, Duration::ZERO);
    call.begin(&Now::new());
    assert!(!call.refused());
    let settings = Settings::new("t")
        .deadline(Duration::from_secs(4))
        .observe(held(3, false));
    assert_eq!(
        Call::<StdClock, _>::holding(&settings, true).1,
        Duration::from_secs(3)
    );
}

#[test]
fn start_and_resume_give_the_one_sequence_of_a_call() {
    let held = |hold: u64, open: bool| Holding {
        hold: Duration::from_secs(hold),
        open,
    };
    // Nothing holds it: the first attempt at once.
    let plain = Settings::new("t");
    let (_, step) = Call::<StdClock>::start(&plain, true);
    assert_eq!(step, Step::Attempt);
    // A hold: sleep it out, then the attempt.
    let settings = Settings::new("t").observe(held(3, false));
    let (mut call, step) = Call::<StdClock, _>::start(&settings, true);
    assert_eq!(step, Step::Sleep(Duration::from_secs(3)));
    assert!(!call.refused(), "the gate is asked after the hold");
    assert_eq!(call.resume(), Step::Attempt);
    // An open breaker refuses before any sleep.
    let settings = Settings::new("t").observe(held(3, true));
    let (mut call, step) = Call::<StdClock, _>::start(&settings, true);
    assert_eq!(step, Step::Refused);
    assert!(call.refused());
    // After a retry's pause, resume asks the gate again.
    assert_eq!(call.resume(), Step::Refused);
    // A hold the deadline cannot outlast ends the call at once.
    let settings = Settings::new("t")
        .deadline(Duration::from_secs(2))
        .observe(held(3, false));
    let (call, step) = Call::<StdClock, _>::start(&settings, true);
    assert_eq!(step, Step::Refused);
    assert!(call.refused_by_deadline());
}

/// A budget of a user's own, with a cool-down of its own.
struct OwnBudget {
    cool_down: OwnCoolDown,
}

struct OwnCoolDown {
    until: std::sync::atomic::AtomicU64,
}

impl crate::protect::CoolDown for OwnCoolDown {
    fn hold(&self, now: Duration) -> Duration {
        let until = Duration::from_nanos(self.until.load(std::sync::atomic::Ordering::Relaxed));
        until.saturating_sub(now)
    }
    fn rate_limited(&self, until: Duration) {
        let ns = u64::try_from(until.as_nanos()).unwrap_or(u64::MAX);
        self.until
            .fetch_max(ns, std::sync::atomic::Ordering::Relaxed);
    }
}

impl crate::protect::RetryBudget for OwnBudget {
    fn deposit(&self, _: Duration) {}
    fn try_withdraw(&self, _: Duration) -> bool {
        true
    }
    fn cool_down(&self) -> Option<&dyn crate::protect::CoolDown> {
        Some(&self.cool_down)
    }
}

#[tokio::test(start_paused = true)]
async fn a_users_own_cool_down_holds_every_call_in_every_build() {
    use crate::counters::clock::TokioClock;
    static OWN: OwnBudget = OwnBudget {
        cool_down: OwnCoolDown {
            until: std::sync::atomic::AtomicU64::new(0),
        },
    };
    let settings = Settings::new("t").observe(super::gates::BudgetGate(&OWN));
    let (mut call, step) = Call::<TokioClock, _>::start(&settings, true);
    assert_eq!(step, Step::Attempt);
    // The server asks for 7 s: told to the budget's cool-down...
    let delay = retry(&mut call, fail(Some(Duration::from_secs(7))), limits(3, 0));
    assert_eq!(delay, Some(Duration::from_secs(7)));
    drop(call);
    // ...which holds the next call back for what is left of it.
    tokio::time::advance(Duration::from_secs(2)).await;
    let (_, step) = Call::<TokioClock, _>::start(&settings, true);
    assert_eq!(step, Step::Sleep(Duration::from_secs(5)));
}

/// Counts what the engine asks of it; a hold, and a breaker that may open.
#[derive(Default)]
struct Counting {
    hold: Duration,
    open: std::sync::atomic::AtomicBool,
    started: std::sync::atomic::AtomicU32,
    admitted: std::sync::atomic::AtomicU32,
    asked_refuses: std::sync::atomic::AtomicU32,
    /// The readings the hold, the gate and the deposit saw.
    seen: std::sync::Mutex<Vec<Duration>>,
}

impl Observer for Counting {
    const NEEDS_CLOCK: bool = true;
    const HOLDS: bool = true;
    const GUARDS: bool = true;
    fn refuses<C: Clock>(&self, _: &Now<C>) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        self.asked_refuses.fetch_add(1, Relaxed);
        self.open.load(Relaxed)
    }
    fn hold<C: Clock>(&self, now: &Now<C>) -> Duration {
        self.seen.lock().unwrap().push(now.ticks());
        self.hold
    }
    fn call_started<C: Clock>(&self, now: &Now<C>) {
        use std::sync::atomic::Ordering::Relaxed;
        self.seen.lock().unwrap().push(now.ticks());
        self.started.fetch_add(1, Relaxed);
    }
    fn admit_attempt<C: Clock>(&self, _: u32, now: &Now<C>) -> Result<Permit, GiveUp> {
        use std::sync::atomic::Ordering::Relaxed;
        self.seen.lock().unwrap().push(now.ticks());
        self.admitted.fetch_add(1, Relaxed);
        if self.open.load(Relaxed) {
            Err(GiveUp::BreakerOpen)
        } else {
            Ok(Permit::default())
        }
    }
}

#[test]
fn the_gate_and_the_deposit_come_after_the_hold_and_every_pause() {
    use std::sync::atomic::Ordering::Relaxed;
    let counts = |c: &Counting| (c.started.load(Relaxed), c.admitted.load(Relaxed));
    let settings = Settings::new("t")
        .retry_after(RetryAfter::honor(Duration::from_secs(60)))
        .observe(Counting {
            hold: Duration::from_secs(3),
            ..Counting::default()
        });
    let observer = &settings.observer;
    // The hold first: neither the gate nor the deposit yet.
    let (mut call, step) = Call::<StdClock, _>::start(&settings, true);
    assert_eq!(step, Step::Sleep(Duration::from_secs(3)));
    assert_eq!(counts(observer), (0, 0));
    // After it, the first attempt's gate and the call's start (deposit).
    assert_eq!(call.resume(), Step::Attempt);
    assert_eq!(counts(observer), (1, 1));
    // A failure, a pause; the breaker opens during it: the next attempt's
    // gate refuses it, and the call does not start again.
    let delay = retry(&mut call, fail(None), limits(3, 1));
    assert_eq!(delay, Some(Duration::from_secs(3)), "the hold is the floor");
    observer.open.store(true, Relaxed);
    assert_eq!(call.resume(), Step::Refused);
    assert_eq!(counts(observer), (1, 2));
    // A breaker open during the hold: refused after it, with no deposit.
    observer.open.store(false, Relaxed);
    let (mut call, step) = Call::<StdClock, _>::start(&settings, true);
    assert!(matches!(step, Step::Sleep(_)));
    observer.open.store(true, Relaxed);
    assert_eq!(call.resume(), Step::Refused);
    assert_eq!(counts(observer), (1, 3));
}

#[test]
fn without_a_hold_the_start_is_read_once_and_the_breaker_asked_at_its_gate() {
    use std::sync::atomic::Ordering::Relaxed;
    let settings = Settings::new("t").observe(Counting::default());
    let observer = &settings.observer;
    let (_call, step) = Call::<StdClock, _>::start(&settings, true);
    assert_eq!(step, Step::Attempt);
    // No hold: `refuses` is not asked before the gate.
    assert_eq!(observer.asked_refuses.load(Relaxed), 0);
    // The hold, the gate and the deposit saw one reading.
    let seen = observer.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3);
    assert!(seen.iter().all(|&t| t == seen[0]), "{seen:?}");
}

thread_local! {
    static READINGS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// The system's clock, counting its readings on this thread.
enum CountedClock {}

impl Clock for CountedClock {
    type Instant = std::time::Instant;
    fn now() -> Self::Instant {
        READINGS.with(|r| r.set(r.get() + 1));
        std::time::Instant::now()
    }
    fn since(start: Self::Instant) -> Duration {
        start.elapsed()
    }
    fn ticks_of(at: Self::Instant) -> Duration {
        StdClock::ticks_of(at)
    }
}

#[test]
fn a_protected_success_reads_the_clock_once_when_the_attempt_ends() {
    use super::gates::{BreakerGate, BudgetGate};
    use crate::protect::{Budget, CircuitBreaker, RetryBudget};
    static BUDGET: Budget = Budget::new(1.0, 0);
    static BREAKER: CircuitBreaker = CircuitBreaker::new();
    let settings = Settings::new("t").observe((BudgetGate(&BUDGET), BreakerGate(&BREAKER)));
    READINGS.with(|r| r.set(0));
    let (call, step) = Call::<CountedClock, _>::start(&settings, true);
    assert_eq!(step, Step::Attempt);
    assert_eq!(
        READINGS.with(|r| r.get()),
        0,
        "a closed breaker needs no time"
    );
    call.succeeded();
    assert_eq!(
        READINGS.with(|r| r.get()),
        1,
        "the record and the deposit share one"
    );
    // The deposit was made (with a ratio of 1, one retry).
    let now = StdClock::ticks();
    assert!(BUDGET.try_withdraw(now));
    assert!(!BUDGET.try_withdraw(now));
}

#[test]
fn a_call_dropped_during_its_first_attempt_still_deposits() {
    use super::gates::BudgetGate;
    use crate::protect::{Budget, RetryBudget};
    static BUDGET: Budget = Budget::new(1.0, 0);
    let settings = Settings::new("t").observe(BudgetGate(&BUDGET));
    let (call, step) = Call::<StdClock, _>::start(&settings, true);
    assert_eq!(step, Step::Attempt);
    let now = StdClock::ticks();
    assert!(
        !BUDGET.try_withdraw(now),
        "nothing deposited before the attempt ends"
    );
    // The caller's `select!` chose another branch.
    drop(call);
    let now = StdClock::ticks();
    assert!(BUDGET.try_withdraw(now), "its deposit");
    assert!(!BUDGET.try_withdraw(now));
}

/// The first failure's delay under a 1 s deadline, with a fixed wait of
/// `micros`, on clock `C`.
fn under_a_second<C: Clock>(micros: u64) -> Option<Duration> {
    let settings = Settings::new("t").deadline(Duration::from_secs(1));
    let mut call = Call::<C>::new(&settings);
    retry(
        &mut call,
        fail(None),
        fixed(9, Duration::from_micros(micros)),
    )
}

#[tokio::test(start_paused = true)]
async fn a_sleep_into_the_deadlines_last_millisecond_is_not_taken() {
    // Tokio's timer wakes on whole milliseconds: a sleep of 999.5 ms would
    // end at the deadline, with no time left for the attempt after it.
    assert_eq!(under_a_second::<TokioClock>(999_500), None);
    // 999 ms ends within it, on a whole millisecond.
    assert_eq!(
        under_a_second::<TokioClock>(999_000),
        Some(Duration::from_millis(999))
    );
    // No sleep is not rounded: an attempt that fails at 999.5 ms may run
    // another at once.
    let settings = Settings::new("t").deadline(Duration::from_secs(1));
    let mut call = Call::<TokioClock>::new(&settings);
    tokio::time::advance(Duration::from_micros(999_500)).await;
    assert_eq!(
        retry(&mut call, fail(None), fixed(9, Duration::ZERO)),
        Some(Duration::ZERO)
    );
}

#[test]
fn a_plain_sleep_is_not_rounded_to_the_millisecond() {
    // `std::thread::sleep` ends when asked: 999.5 ms fits a 1 s deadline.
    assert_eq!(
        under_a_second::<StdClock>(999_500),
        Some(Duration::from_micros(999_500))
    );
}

#[test]
fn a_trial_that_answers_closes_the_breaker_and_holds_the_closed_permit() {
    use crate::engine::gates::BreakerGate;
    use crate::protect::{Breaker, BreakerState, CircuitBreaker};
    static B: CircuitBreaker = CircuitBreaker::new()
        .min_attempts(1)
        .open_for(Duration::from_secs(5))
        .trial_timeout(Duration::from_secs(5));
    let at = |s: u64| Now::<StdClock>::at(Duration::from_secs(s));
    let gate = BreakerGate(&B);
    B.record(Duration::from_secs(1), true, B.admit_closed().unwrap());
    assert_eq!(B.state(), BreakerState::Open);

    // The trial answers: closed, and the attempt holds the new period's
    // permit.
    let trial = gate.admit_attempt(1, &at(6)).unwrap();
    assert!(matches!(trial, Permit::Trial(_)));
    let held = gate.attempt_answered(trial, &at(7));
    assert_eq!(B.state(), BreakerState::Closed);
    assert_eq!(Some(held), B.admit_closed());
    // A permit of the closed period passes through unchanged.
    assert_eq!(gate.attempt_answered(held, &at(8)), held);

    // A stale trial (replaced after `trial_timeout`, and its replacement
    // closed the breaker) keeps its own permit: its end is not counted.
    B.record(Duration::from_secs(9), true, held);
    assert_eq!(B.state(), BreakerState::Open);
    let stale = gate.admit_attempt(1, &at(14)).unwrap();
    let replacement = gate.admit_attempt(1, &at(20)).unwrap();
    assert_ne!(stale, replacement);
    B.record(Duration::from_secs(21), false, replacement);
    assert_eq!(B.state(), BreakerState::Closed);
    assert_eq!(gate.attempt_answered(stale, &at(22)), stale);
}
