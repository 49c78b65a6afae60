//! `http::middleware::RetryMiddleware` in a reqwest-middleware client,
//! against the embedded server: retries by class, `Retry-After`, and what
//! a caller gets when the policy gives up (the server's response as it was,
//! or the transport error).

use examples::fault_server::{FaultServer, Reply};
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware};
use retry_runtime::http::{self, middleware::RetryMiddleware};
use retry_runtime::{Retrying, wait};
use tests::{ms, take_delays};

fn client() -> ClientWithMiddleware {
    let policy = Retrying::<reqwest::Response, http::Error>::new()
        .attempts(3)
        .wait(wait::fixed(ms(10)))
        .classify()
        .before_sleep(tests::record);
    ClientBuilder::new(examples::http_client())
        .with(RetryMiddleware::new(policy))
        .build()
}

#[tokio::test]
async fn transient_statuses_are_retried_and_retry_after_obeyed() {
    let _ = take_delays();
    let server = FaultServer::scripted([
        Reply::status(503, "busy"),
        Reply::status(429, "slow down").header("retry-after-ms", "120"),
        Reply::status(200, "ok"),
    ]);
    let response = client().get(server.url("/v1/models")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "ok");
    assert_eq!(server.requests(), 3);
    assert_eq!(
        take_delays(),
        [ms(10), ms(120)],
        "reqwest-retry would not wait 120 ms"
    );
}

#[tokio::test]
async fn when_it_gives_up_the_caller_gets_the_servers_response() {
    let server = FaultServer::scripted([
        Reply::status(503, "one"),
        Reply::status(502, "two"),
        Reply::status(500, "three").header("x-request-id", "r3"),
        Reply::status(200, "never"),
    ]);
    let url = server.url("/v1/chat/completions");
    let response = client().post(&url).body("prompt").send().await.unwrap();
    assert_eq!(response.status(), 500);
    assert_eq!(response.url().as_str(), url, "the URL as it was");
    assert_eq!(response.headers()["x-request-id"], "r3");
    assert_eq!(response.text().await.unwrap(), "three");
    assert_eq!(server.requests(), 3);

    // Not retried: a bad request, or a quota (the body's rules).
    let quota =
        r#"{"error":{"message":"You exceeded your current quota","type":"insufficient_quota"}}"#;
    for (status, body) in [(400, "bad"), (429, quota)] {
        let server = FaultServer::scripted([Reply::status(status, body), Reply::status(200, "ok")]);
        let response = client().get(server.url("/")).send().await.unwrap();
        assert_eq!((response.status().as_u16(), server.requests()), (status, 1));
        assert_eq!(response.text().await.unwrap(), body);
    }
}

#[tokio::test]
async fn a_refused_connection_is_retried_then_returned_as_the_error() {
    // A port bound (so that no other test gets it) but not listening.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = socket.local_addr().unwrap();
    let error = client()
        .get(format!("http://{addr}/"))
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(error, reqwest_middleware::Error::Reqwest(ref e) if e.is_connect()),
        "{error:?}"
    );
    assert_eq!(take_delays().len(), 2, "three attempts");
}

#[tokio::test]
async fn a_streamed_body_is_sent_once_under_the_policy() {
    let server = FaultServer::scripted([Reply::status(503, "busy"), Reply::status(200, "ok")]);
    let chunks = futures_util::stream::iter([Ok::<_, std::io::Error>("prompt")]);
    let body = reqwest::Body::wrap_stream(chunks);
    let response = client()
        .post(server.url("/"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!((response.status().as_u16(), server.requests()), (503, 1));
}
