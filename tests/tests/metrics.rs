//! The `metrics` feature: every series, its labels and values, through
//! metrics-util's debugging recorder (a real recorder, installed for the
//! current thread only).

use std::collections::BTreeMap;

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use retry_runtime::retry;
use tests::{ApiError, Script};

#[retry(attempts = 3, wait = fixed(250ms), name = "llm.complete")]
async fn complete(s: &Script<u32>) -> Result<u32, ApiError> {
    s.next()
}

/// `name{label=value,...}` → counter value, or the histogram's samples.
fn series(recorder: &DebuggingRecorder) -> BTreeMap<String, DebugValue> {
    let snapshot = recorder.snapshotter().snapshot().into_vec();
    snapshot
        .into_iter()
        .map(|(key, _, _, value)| {
            let key = key.key();
            let mut labels: Vec<String> = key
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            labels.sort();
            (format!("{}{{{}}}", key.name(), labels.join(",")), value)
        })
        .collect()
}

fn run<T>(recorder: &DebuggingRecorder, f: impl Future<Output = T>) -> T {
    let rt = tests::paused_runtime();
    metrics::with_local_recorder(recorder, || rt.block_on(f))
}

#[test]
fn calls_attempts_retries_give_ups_and_sleeps() {
    let recorder = DebuggingRecorder::new();
    run(&recorder, async {
        complete(&Script::new([Ok(1)])).await.unwrap();
        let flaky = [
            Err(ApiError::status(503)),
            Err(ApiError::status(429)),
            Ok(2),
        ];
        complete(&Script::new(flaky)).await.unwrap();
        complete(&Script::new([Err(ApiError::connect())]))
            .await
            .unwrap_err();
        complete(&Script::new([Err(ApiError::status(400))]))
            .await
            .unwrap_err();
    });
    let got = series(&recorder);
    let counter = |name: &str| match got.get(name) {
        Some(DebugValue::Counter(n)) => *n,
        other => panic!("{name}: {other:?} in {:#?}", got.keys()),
    };
    let f = "function=llm.complete";
    assert_eq!(
        counter(&format!(
            "retry_calls_total{{{f},outcome=success_first_try}}"
        )),
        1
    );
    assert_eq!(
        counter(&format!(
            "retry_calls_total{{{f},outcome=success_after_retry}}"
        )),
        1
    );
    assert_eq!(
        counter(&format!(
            "retry_calls_total{{{f},outcome=failure_after_retry}}"
        )),
        1
    );
    assert_eq!(
        counter(&format!(
            "retry_calls_total{{{f},outcome=failure_no_retry}}"
        )),
        1
    );
    assert_eq!(
        counter(&format!("retry_attempts_total{{{f}}}")),
        1 + 3 + 3 + 1
    );
    assert_eq!(
        counter(&format!("retry_retries_total{{class=server_error,{f}}}")),
        1
    );
    assert_eq!(
        counter(&format!("retry_retries_total{{class=rate_limited,{f}}}")),
        1
    );
    assert_eq!(
        counter(&format!("retry_retries_total{{class=connect,{f}}}")),
        2
    );
    // The errors returned, by class.
    assert_eq!(
        counter(&format!("retry_errors_total{{class=connect,{f}}}")),
        1
    );
    assert_eq!(
        counter(&format!("retry_errors_total{{class=status,{f}}}")),
        1
    );
    assert_eq!(
        counter(&format!("retry_gave_up_total{{{f},reason=attempts}}")),
        1
    );
    assert_eq!(
        counter(&format!("retry_gave_up_total{{{f},reason=not_retryable}}")),
        1
    );
    match got.get(&format!("retry_sleep_seconds{{{f}}}")) {
        Some(DebugValue::Histogram(samples)) => {
            let samples: Vec<f64> = samples.iter().map(|s| s.into_inner()).collect();
            assert_eq!(samples, vec![0.25; 4]);
        }
        other => panic!("{other:?}"),
    }
    // Only the series that happened, and nothing but the function's name
    // and the fixed label sets.
    assert_eq!(got.len(), 4 + 1 + 3 + 2 + 2 + 1, "{:#?}", got.keys());
}

#[test]
fn no_recorder_no_trouble() {
    // Without a recorder the facade discards everything.
    let rt = tests::paused_runtime();
    let s = Script::new([Err(ApiError::timeout()), Ok(1)]);
    assert_eq!(rt.block_on(complete(&s)), Ok(1));
}

#[test]
fn a_quota_failure_has_its_own_class() {
    let recorder = DebuggingRecorder::new();
    let quota = ApiError {
        class: retry_runtime::Class::Quota,
        ..ApiError::other()
    };
    let s = Script::new([Err(quota)]);
    run(&recorder, async {
        complete(&s).await.unwrap_err();
    });
    assert_eq!(s.calls(), 1, "not retried by default");
    let got = series(&recorder);
    let f = "function=llm.complete";
    assert!(
        matches!(
            got.get(&format!("retry_errors_total{{class=quota,{f}}}")),
            Some(DebugValue::Counter(1))
        ),
        "{:#?}",
        got.keys()
    );
}

#[test]
fn describe_names_the_series() {
    let recorder = DebuggingRecorder::new();
    metrics::with_local_recorder(&recorder, retry_runtime::metrics::describe);
    run(&recorder, async {
        let _ = complete(&Script::new([Err(ApiError::timeout()), Ok(1)])).await;
    });
    let snapshot = recorder.snapshotter().snapshot().into_vec();
    let sleep = snapshot
        .iter()
        .find(|(k, ..)| k.key().name() == "retry_sleep_seconds")
        .unwrap();
    assert_eq!(sleep.1, Some(metrics::Unit::Seconds));
    assert!(sleep.2.is_some(), "a help text");
}
