//! Real `reqwest` calls against a real HTTP server on 127.0.0.1 that injects
//! failures. The server counts the requests; the tests assert the counts and
//! the delays (on tokio's paused clock, except where a per-attempt timeout
//! needs the real one).

use std::time::{Duration, SystemTime};

use examples::fault_server::{FaultServer, Reply};
use retry_runtime::{Class, Classify, http, retry};
use tests::{ms, secs, take_delays, take_seen};

async fn get(client: &reqwest::Client, url: &str) -> Result<String, http::Error> {
    let response = client.get(url).send().await?;
    let response = http::check(response).await?;
    Ok(response.text().await?)
}

#[retry(attempts = 4, wait = fixed(10ms), before_sleep = tests::record)]
async fn fetch(client: &reqwest::Client, url: &str) -> Result<String, http::Error> {
    get(client, url).await
}

fn rate_limited(header: &str, value: &str) -> Reply {
    Reply::status(429, r#"{"error":"rate limited"}"#).header(header, value)
}

#[tokio::test(start_paused = true)]
async fn rate_limits_honor_each_form_of_retry_after() {
    let client = examples::http_client();
    for (reply, delay) in [
        (rate_limited("retry-after-ms", "1500"), ms(1500)),
        (rate_limited("retry-after", "2"), secs(2.0)),
        (rate_limited("retry-after", "0.25"), ms(250)),
        (rate_limited("retry-after", "0"), ms(10)),
    ] {
        let server = FaultServer::scripted([reply, Reply::status(200, "done")]);
        assert_eq!(
            fetch(&client, &server.url("/v1/models")).await.unwrap(),
            "done"
        );
        assert_eq!(server.requests(), 2);
        assert_eq!(take_delays(), [delay]);
    }
}

#[tokio::test(start_paused = true)]
async fn retry_after_as_an_http_date() {
    let client = examples::http_client();
    let when = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(4));
    let server =
        FaultServer::scripted([rate_limited("retry-after", &when), Reply::status(200, "ok")]);
    assert_eq!(fetch(&client, &server.url("/")).await.unwrap(), "ok");
    let delays = take_delays();
    assert_eq!(delays.len(), 1);
    // HTTP dates have whole seconds: 3 to 4 s from now.
    assert!(
        delays[0] > secs(2.0) && delays[0] <= secs(4.0),
        "{delays:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn hostile_retry_after_values_fall_back_to_the_wait() {
    let client = examples::http_client();
    for value in ["-5", "abc", "1e9", "NaN", "Thu, 01 Jan 1970 00:00:00 GMT"] {
        let server =
            FaultServer::scripted([rate_limited("retry-after", value), Reply::status(200, "ok")]);
        assert_eq!(
            fetch(&client, &server.url("/")).await.unwrap(),
            "ok",
            "{value}"
        );
        assert_eq!(take_delays(), [ms(10)], "{value}");
    }
}

#[tokio::test(start_paused = true)]
async fn retry_after_above_the_cap_gives_up_at_once() {
    let client = examples::http_client();
    let server = FaultServer::scripted([rate_limited("retry-after", "120")]);
    let err = fetch(&client, &server.url("/")).await.unwrap_err();
    assert_eq!(err.status(), Some(429));
    assert_eq!(err.retry_after(), Some(secs(120.0)));
    assert_eq!(server.requests(), 1);
    assert_eq!(take_delays(), []);
    // Longer than a day (a daily quota), or too long to be a number: above
    // the cap too, never taken for no request at all.
    let in_two_days = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(2 * 86_400));
    for value in [
        "90000",
        "99999999999999999999",
        &"9".repeat(400),
        &in_two_days,
    ] {
        let server = FaultServer::scripted([rate_limited("retry-after", value)]);
        let err = fetch(&client, &server.url("/")).await.unwrap_err();
        assert_eq!(err.status(), Some(429), "{value}");
        assert!(err.retry_after() > Some(secs(86_400.0)), "{value}");
        assert_eq!(server.requests(), 1, "{value}");
        assert_eq!(take_delays(), [], "{value}");
    }
}

#[tokio::test(start_paused = true)]
async fn server_errors_are_retried_client_errors_are_not() {
    let client = examples::http_client();
    for status in [500, 502, 503, 504] {
        let server = FaultServer::scripted([Reply::status(status, "upstream trouble")]);
        let err = fetch(&client, &server.url("/")).await.unwrap_err();
        assert_eq!(err.status(), Some(status));
        assert_eq!(err.class(), Class::Status(status));
        assert_eq!(err.body(), Some("upstream trouble"));
        assert_eq!(server.requests(), 4, "{status}");
    }
    for status in [400, 401, 404] {
        let server = FaultServer::scripted([Reply::status(status, r#"{"error":"no"}"#)]);
        let err = fetch(&client, &server.url("/")).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(r#"HTTP {status}: {{"error":"no"}}"#)
        );
        assert_eq!(server.requests(), 1, "{status}");
    }
    take_delays();
}

#[tokio::test(start_paused = true)]
async fn x_should_retry_wins_over_the_status() {
    let client = examples::http_client();
    let server = FaultServer::scripted([Reply::status(503, "").header("x-should-retry", "false")]);
    assert!(fetch(&client, &server.url("/")).await.is_err());
    assert_eq!(server.requests(), 1);

    let server = FaultServer::scripted([
        Reply::status(400, "").header("x-should-retry", "true"),
        Reply::status(200, "second time lucky"),
    ]);
    assert_eq!(
        fetch(&client, &server.url("/")).await.unwrap(),
        "second time lucky"
    );
    assert_eq!(server.requests(), 2);
    take_delays();
}

#[tokio::test(start_paused = true)]
async fn a_connection_closed_before_the_response_is_a_connect_failure() {
    let client = examples::http_client();
    let server = FaultServer::scripted([Reply::Drop, Reply::Drop, Reply::status(200, "ok")]);
    assert_eq!(fetch(&client, &server.url("/")).await.unwrap(), "ok");
    assert_eq!(server.requests(), 3);
    let seen = take_seen();
    assert_eq!(seen.len(), 2);
    assert!(
        seen.iter().all(|s| s.class == Some(Class::Connect)),
        "{seen:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn success_after_mixed_failures() {
    let client = examples::http_client();
    let server = FaultServer::scripted([
        Reply::Drop,
        Reply::status(503, "busy"),
        rate_limited("retry-after-ms", "20"),
        Reply::status(200, "finally"),
    ]);
    assert_eq!(fetch(&client, &server.url("/")).await.unwrap(), "finally");
    assert_eq!(server.requests(), 4);
    assert_eq!(take_delays(), [ms(10), ms(10), ms(20)]);
}

#[tokio::test(start_paused = true)]
async fn connection_refused_is_retried() {
    let client = examples::http_client();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", closed.local_addr().unwrap());
    drop(closed);
    let err = fetch(&client, &url).await.unwrap_err();
    assert_eq!(err.class(), Class::Connect);
    assert!(err.reqwest().is_some_and(reqwest::Error::is_connect));
    assert_eq!(take_delays().len(), 3);
}

#[retry(attempts = 3, wait = fixed(10ms), timeout = 1s, before_sleep = tests::record)]
async fn fetch_with_timeout(client: &reqwest::Client, url: &str) -> Result<String, http::Error> {
    get(client, url).await
}

/// Real clock: the server's slowness is real. (A paused clock would jump to
/// the timeout whenever the runtime waits for the socket, even for the reply
/// that is on its way.) The margins hold on a loaded 2-core machine: a reply
/// that never comes in time (30 s) against a 1 s timeout, and an immediate one.
#[tokio::test]
async fn a_response_slower_than_the_timeout_is_dropped_and_retried() {
    let client = examples::http_client();
    let server = FaultServer::scripted([
        Reply::status(200, "too late").after(ms(30_000)),
        Reply::status(200, "in time"),
    ]);
    let start = std::time::Instant::now();
    assert_eq!(
        fetch_with_timeout(&client, &server.url("/")).await.unwrap(),
        "in time"
    );
    assert_eq!(server.requests(), 2);
    let seen = take_seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].class, Some(Class::Timeout));
    let elapsed = start.elapsed();
    assert!(elapsed >= ms(1010) && elapsed < ms(20_000), "{elapsed:?}");

    let server = FaultServer::scripted([Reply::status(200, "too late").after(ms(30_000))]);
    let err = fetch_with_timeout(&client, &server.url("/"))
        .await
        .unwrap_err();
    assert!(err.is_timeout());
    assert_eq!(err.class(), Class::Timeout);
    assert_eq!(server.requests(), 3);
    take_seen();
}

#[retry(attempts = 3, wait = fixed(10ms), on = [Transient])]
async fn with_anyhow(client: &reqwest::Client, url: &str) -> anyhow::Result<String> {
    use anyhow::Context as _;
    let text = get(client, url).await.context("calling the model")?;
    Ok(text)
}

/// No class named: as without the `anyhow` feature, every error is retried.
#[retry(attempts = 3, wait = fixed(10ms), before_sleep = tests::record)]
async fn with_anyhow_by_default(client: &reqwest::Client, url: &str) -> anyhow::Result<String> {
    Ok(get(client, url).await?)
}

#[retry(attempts = 3, wait = fixed(10ms), on = [Transient])]
async fn with_box(
    client: &reqwest::Client,
    url: &str,
) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    let response = client.get(url).send().await?;
    Ok(response.error_for_status()?.text().await?)
}

#[retry(attempts = 3, wait = fixed(10ms))]
async fn with_box_by_default(
    client: &reqwest::Client,
    url: &str,
) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    let response = client.get(url).send().await?;
    Ok(response.error_for_status()?.text().await?)
}

#[tokio::test(start_paused = true)]
async fn anyhow_and_boxed_errors_are_classified_through_their_chain() {
    let client = examples::http_client();
    // 404 inside anyhow: not transient, one request.
    let server = FaultServer::scripted([Reply::status(404, "")]);
    let err = with_anyhow(&client, &server.url("/")).await.unwrap_err();
    assert_eq!(err.class(), Class::Status(404));
    assert_eq!(server.requests(), 1);
    // A dropped connection inside anyhow: Connect, retried.
    let server = FaultServer::scripted([Reply::Drop, Reply::status(200, "ok")]);
    assert_eq!(with_anyhow(&client, &server.url("/")).await.unwrap(), "ok");
    assert_eq!(server.requests(), 2);
    // A boxed reqwest status error: its status decides.
    let server = FaultServer::scripted([Reply::status(502, ""), Reply::status(200, "boxed")]);
    assert_eq!(with_box(&client, &server.url("/")).await.unwrap(), "boxed");
    assert_eq!(server.requests(), 2);
    let server = FaultServer::scripted([Reply::status(401, "")]);
    assert!(with_box(&client, &server.url("/")).await.is_err());
    assert_eq!(server.requests(), 1);
}

/// Turning on `anyhow` or `dyn-error` changes nothing for code that compiled
/// without them: with no class named, every error is retried and no
/// `Retry-After` is read, as for a type without `Classify`.
#[tokio::test(start_paused = true)]
async fn features_do_not_change_the_default() {
    let client = examples::http_client();
    let server = FaultServer::scripted([Reply::status(404, "")]);
    assert!(
        with_anyhow_by_default(&client, &server.url("/"))
            .await
            .is_err()
    );
    assert_eq!(server.requests(), 3);
    let seen = tests::take_seen();
    assert_eq!(
        seen.iter().map(|s| s.delay).collect::<Vec<_>>(),
        [ms(10), ms(10)]
    );
    assert!(
        seen.iter().all(|s| s.class.is_none()),
        "no class is read: {seen:?}"
    );
    let server = FaultServer::scripted([Reply::status(401, "")]);
    assert!(
        with_box_by_default(&client, &server.url("/"))
            .await
            .is_err()
    );
    assert_eq!(server.requests(), 3);
    // A requested delay above the 60 s cap is not read either: no give-up.
    let server = FaultServer::scripted([
        Reply::status(429, "").header("retry-after", "600"),
        Reply::status(200, "ok"),
    ]);
    assert_eq!(
        with_anyhow_by_default(&client, &server.url("/"))
            .await
            .unwrap(),
        "ok"
    );
    assert_eq!(server.requests(), 2);
    let seen = tests::take_seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].delay, ms(10), "the requested 600 s is not read");
}

/// A body cut short by the connection is a `Connect` failure: retried.
#[tokio::test(start_paused = true)]
async fn a_body_cut_midway_is_a_connection_failure() {
    let client = examples::http_client();
    let server = FaultServer::scripted([
        Reply::cut("{\"choices\": [", 4096),
        Reply::status(200, "whole"),
    ]);
    assert_eq!(fetch(&client, &server.url("/")).await.unwrap(), "whole");
    assert_eq!(server.requests(), 2);
    let seen = take_seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].class, Some(Class::Connect));

    // The reqwest error itself, read directly.
    let server = FaultServer::scripted([Reply::cut("abc", 100)]);
    let response = client.get(server.url("/")).send().await.unwrap();
    let error = response.text().await.unwrap_err();
    assert!(error.is_body() || error.is_decode(), "{error:?}");
    assert_eq!(error.class(), Class::Connect);
}

/// A complete body the application cannot use is its own failure, of the
/// class it chooses: `http::Error::new`.
#[retry(attempts = 3, wait = fixed(10ms))]
async fn choices(client: &reqwest::Client, url: &str) -> Result<String, http::Error> {
    let text = get(client, url).await?;
    let json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| http::Error::new(Class::Other, format!("malformed completion: {e}")))?;
    json["choices"][0]["text"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| http::Error::new(Class::Status(502), "the completion has no choices"))
}

#[tokio::test(start_paused = true)]
async fn application_failures_have_the_class_they_are_given() {
    let client = examples::http_client();
    let server = FaultServer::scripted([
        Reply::json("{\"choices\": []}"),
        Reply::json("{\"choices\": [{\"text\": \"hi\"}]}"),
    ]);
    assert_eq!(choices(&client, &server.url("/")).await.unwrap(), "hi");
    assert_eq!(server.requests(), 2, "a 502-class failure is transient");
    let server = FaultServer::scripted([Reply::json("{not json")]);
    let err = choices(&client, &server.url("/")).await.unwrap_err();
    assert_eq!(err.class(), Class::Other);
    assert!(err.to_string().starts_with("malformed completion"), "{err}");
    assert_eq!(server.requests(), 1, "Other is not retried");
}

/// `reqwest::Error` is classified only with the `reqwest` feature: with no
/// class named, the attribute retries every error, as without the feature.
#[retry(attempts = 3, wait = fixed(10ms))]
async fn raw_reqwest(client: &reqwest::Client, url: &str) -> Result<String, reqwest::Error> {
    client
        .get(url)
        .send()
        .await?
        .error_for_status()?
        .text()
        .await
}

#[retry(attempts = 3, wait = fixed(10ms), on = [Transient])]
async fn raw_reqwest_transient(
    client: &reqwest::Client,
    url: &str,
) -> Result<String, reqwest::Error> {
    client
        .get(url)
        .send()
        .await?
        .error_for_status()?
        .text()
        .await
}

#[tokio::test(start_paused = true)]
async fn reqwest_errors_need_named_classes() {
    let client = examples::http_client();
    let server = FaultServer::scripted([Reply::status(404, "")]);
    assert!(raw_reqwest(&client, &server.url("/")).await.is_err());
    assert_eq!(server.requests(), 3, "the default retries every error");
    let server = FaultServer::scripted([Reply::status(404, "")]);
    assert!(
        raw_reqwest_transient(&client, &server.url("/"))
            .await
            .is_err()
    );
    assert_eq!(server.requests(), 1, "a 404 is not transient");
    let server = FaultServer::scripted([Reply::status(503, ""), Reply::status(200, "ok")]);
    assert_eq!(
        raw_reqwest_transient(&client, &server.url("/"))
            .await
            .unwrap(),
        "ok"
    );
    assert_eq!(server.requests(), 2);
}

/// A server that answers with garbage: a request error that is no broken
/// connection and no timeout, so `Other`, not retried.
#[tokio::test]
async fn a_malformed_response_is_other() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        for _ in 0..3 {
            let Ok((mut stream, _)) = listener.accept() else {
                return;
            };
            let mut buf = [0u8; 1024];
            let _ = stream.read(&mut buf);
            let _ = stream.write_all(b"THIS IS NOT HTTP\r\n\r\n");
            let _ = stream.flush();
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    });
    let client = examples::http_client();
    let error = client
        .get(format!("http://{addr}/"))
        .send()
        .await
        .unwrap_err();
    assert!(!error.is_timeout() && !error.is_connect(), "{error:?}");
    assert_eq!(error.class(), Class::Other, "{error:?}");
    let err = fetch(&client, &format!("http://{addr}/"))
        .await
        .unwrap_err();
    assert_eq!(err.class(), Class::Other);
    assert!(take_delays().is_empty(), "not retried");
    drop(client);
    // Unblock the server thread's last accept.
    let _ = std::net::TcpStream::connect(addr);
    let _ = server.join();
}

/// reqwest's own timeout is a `Timeout`.
#[tokio::test]
async fn reqwests_timeout_is_a_timeout() {
    let server = FaultServer::scripted([Reply::status(200, "late").after(ms(30_000))]);
    let client = reqwest::Client::builder().timeout(ms(200)).build().unwrap();
    let error = client.get(server.url("/")).send().await.unwrap_err();
    assert!(error.is_timeout());
    assert_eq!(error.class(), Class::Timeout);
    assert_eq!(http::Error::from(error).class(), Class::Timeout);
}

/// The providers' dialects through `http::check`, against the real server.
mod dialects {
    use super::*;
    use examples::fault_server::{FaultServer, Reply};

    #[retry(attempts = 4, wait = fixed(10ms), before_sleep = tests::record, name = "http.dialects")]
    async fn call(client: &reqwest::Client, url: &str) -> Result<String, http::Error> {
        get(client, url).await
    }

    /// Counted apart: the other tests of this module make Quota failures
    /// through `call` at the same time.
    #[retry(attempts = 4, wait = fixed(10ms), name = "http.dialects.quota")]
    async fn counted(client: &reqwest::Client, url: &str) -> Result<String, http::Error> {
        get(client, url).await
    }

    #[retry(attempts = 3, wait = fixed(10ms), on = [Quota, Transient])]
    async fn call_even_on_quota(
        client: &reqwest::Client,
        url: &str,
    ) -> Result<String, http::Error> {
        get(client, url).await
    }

    const QUOTA: &str = r#"{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#;

    #[tokio::test(start_paused = true)]
    async fn an_account_out_of_credits_is_not_retried_and_is_counted() {
        let client = examples::http_client();
        let server = FaultServer::scripted([Reply::status(429, QUOTA), Reply::status(200, "ok")]);
        let e = counted(&client, &server.url("/v1/chat/completions"))
            .await
            .unwrap_err();
        assert_eq!((e.class(), e.status()), (Class::Quota, Some(429)));
        assert_eq!(server.requests(), 1, "a person must act: no retry");
        let stats = retry_runtime::stats::get("http.dialects.quota").unwrap();
        assert_eq!((stats.quota, stats.failures, stats.calls), (1, 1, 1));
        // A rule that names it retries it.
        let server = FaultServer::scripted([Reply::status(429, QUOTA), Reply::status(200, "ok")]);
        let url = server.url("/");
        assert_eq!(call_even_on_quota(&client, &url).await.unwrap(), "ok");
        assert_eq!(server.requests(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn the_delay_in_the_body_is_obeyed_when_no_header_gives_one() {
        let client = examples::http_client();
        let gemini = r#"{"error":{"code":429,"message":"Resource has been exhausted.","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaId":"GenerateRequestsPerMinutePerProjectPerModel"}]},{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"3s"}]}}"#;
        let openai = r#"{"error":{"message":"Rate limit reached for gpt-4o on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 1.5s.","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#;
        for (reply, delay) in [
            (Reply::status(429, gemini), secs(3.0)),
            (Reply::status(429, openai), ms(1500)),
            // A header wins over the body.
            (
                Reply::status(429, openai).header("retry-after", "2"),
                secs(2.0),
            ),
        ] {
            let server = FaultServer::scripted([reply, Reply::status(200, "ok")]);
            assert_eq!(call(&client, &server.url("/")).await.unwrap(), "ok");
            assert_eq!(take_delays(), [delay]);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn overloaded_is_retried_and_requests_that_cannot_pass_are_not() {
        let client = examples::http_client();
        let overloaded =
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
        let server = FaultServer::scripted([
            Reply::status(529, overloaded),
            Reply::status(529, overloaded),
            Reply::status(200, "ok"),
        ]);
        assert_eq!(call(&client, &server.url("/")).await.unwrap(), "ok");
        assert_eq!(server.requests(), 3);
        take_seen();
        let too_large = r#"{"error":{"message":"Request too large for gpt-4o on tokens per min (TPM): Limit 30000, Requested 32156.","type":"tokens","param":null,"code":"rate_limit_exceeded"}}"#;
        let billing = r#"{"type":"error","error":{"type":"billing_error","message":"Your credit balance is too low"}}"#;
        let gemini_day = r#"{"error":{"code":429,"message":"Quota exceeded.","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaId":"GenerateRequestsPerDayPerProjectPerModel-FreeTier"}]},{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"38s"}]}}"#;
        for (status, body, class) in [
            (429, too_large, Class::Other),
            (500, billing, Class::Quota),
            (429, gemini_day, Class::Quota),
        ] {
            let server =
                FaultServer::scripted([Reply::status(status, body), Reply::status(200, "ok")]);
            let e = call(&client, &server.url("/")).await.unwrap_err();
            assert_eq!(e.class(), class, "{body}");
            assert_eq!(server.requests(), 1, "{body}");
        }
        // x-should-retry still wins over the body.
        let server = FaultServer::scripted([
            Reply::status(429, QUOTA).header("x-should-retry", "true"),
            Reply::status(200, "ok"),
        ]);
        assert_eq!(call(&client, &server.url("/")).await.unwrap(), "ok");
        assert_eq!(server.requests(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_long_error_body_is_read_whole_for_its_class_and_kept_short() {
        let client = examples::http_client();
        // The quota's type comes after 4 KB of message.
        let long = format!(
            r#"{{"error":{{"message":"{}","type":"insufficient_quota"}}}}"#,
            "x".repeat(4096)
        );
        let server = FaultServer::scripted([Reply::status(429, long.as_str())]);
        let e = call(&client, &server.url("/")).await.unwrap_err();
        assert_eq!(e.class(), Class::Quota);
        assert_eq!(e.body().unwrap().len(), http::SNIPPET_BYTES);
    }
}
