//! Generic error types: the default `on` and `Retry-After` follow the bounds
//! the function declares.

use retry_runtime::{Classify, retry};
use tests::{ApiError, Script, ms, take_delays};

#[retry(attempts = 3, wait = none)]
async fn unbounded<E: Clone>(s: &Script<u32, E>) -> Result<u32, E> {
    s.next()
}

#[retry(attempts = 3, wait = fixed(1ms), before_sleep = tests::record)]
async fn bounded<E: Classify + Clone>(s: &Script<u32, E>) -> Result<u32, E> {
    s.next()
}

#[retry(attempts = 3, wait = none, on = [Connect])]
async fn class_rule<E: Classify + Clone>(s: &Script<u32, E>) -> Result<u32, E> {
    s.next()
}

#[tokio::test(start_paused = true)]
async fn bounds_decide_what_the_attribute_can_see() {
    // Without a `Classify` bound every error is retried.
    let s = Script::new([Err(ApiError::status(404))]);
    let _ = unbounded(&s).await;
    assert_eq!(s.calls(), 3);

    // With it, the default is `Transient` and `Retry-After` is read.
    let s = Script::new([Err(ApiError::status(404))]);
    let _ = bounded(&s).await;
    assert_eq!(s.calls(), 1);
    take_delays();
    let s = Script::new([Err(ApiError::status(503).after(ms(30))), Ok(1)]);
    assert_eq!(bounded(&s).await, Ok(1));
    assert_eq!(take_delays(), [ms(30)]);

    let s = Script::new([Err(ApiError::connect())]);
    let _ = class_rule(&s).await;
    assert_eq!(s.calls(), 3);
}
