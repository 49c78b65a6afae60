//! A fleet sharing one API through a real `redis-server` (started on a free
//! port by each test): several processes (`src/bin/fleet_worker.rs`), each
//! with many concurrent callers, against the fault server in this process.

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use examples::fault_server::{FaultServer, Reply};
use examples::fleet::Report;
use examples::redis_server::RedisServer;
use retry_runtime::redis::{Options, ShareError, share, share_with};
use retry_runtime::{AdaptiveWindow, Budget, CircuitBreaker, retry};

/// Starts `n` workers and waits for their reports.
async fn fleet(n: usize, envs: Vec<(&'static str, String)>) -> Vec<Report> {
    let mut children = Vec::new();
    for _ in 0..n {
        let mut command = Command::new(env!("CARGO_BIN_EXE_fleet_worker"));
        command.stdout(Stdio::piped()).stderr(Stdio::inherit());
        for (name, value) in &envs {
            command.env(name, value);
        }
        children.push(command.spawn().expect("start fleet_worker"));
    }
    let mut reports = Vec::new();
    for child in children {
        let output = tokio::task::spawn_blocking(move || child.wait_with_output())
            .await
            .unwrap()
            .unwrap();
        assert!(output.status.success(), "a worker failed: {output:?}");
        let line = String::from_utf8(output.stdout).unwrap();
        reports.push(Report::parse(line.trim()).unwrap_or_else(|| panic!("a report: {line:?}")));
    }
    reports
}

fn envs(
    url: &str,
    redis: Option<&RedisServer>,
    key: &str,
    scenario: &str,
    callers: u32,
    millis: u64,
) -> Vec<(&'static str, String)> {
    vec![
        ("FLEET_URL", url.to_owned()),
        (
            "FLEET_REDIS",
            redis.map(RedisServer::url).unwrap_or_default(),
        ),
        ("FLEET_KEY", key.to_owned()),
        ("FLEET_SCENARIO", scenario.to_owned()),
        ("FLEET_CALLERS", callers.to_string()),
        ("FLEET_MILLIS", millis.to_string()),
    ]
}

fn total(reports: &[Report], f: impl Fn(&Report) -> u64) -> u64 {
    reports.iter().map(f).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn during_an_outage_the_fleet_retries_within_one_budget() {
    let redis = RedisServer::start().unwrap();
    let server = FaultServer::start(|_| Reply::status(503, "down"));
    let url = server.url("/v1/models");

    // Budget::new(0.01, 5) in every process: one shared budget allows the
    // whole fleet 1% of its calls plus 5 retries a second over 10 s (50).
    let shared = fleet(
        4,
        envs(&url, Some(&redis), "outage-budget", "budget", 8, 1500),
    )
    .await;
    let calls = total(&shared, |r| r.calls);
    let retries = total(&shared, |r| r.attempts) - calls;
    let allowed = calls / 100 + 50;
    println!("shared budget: {calls} calls, {retries} retries (the budget allows {allowed})");
    assert!(calls > 400, "the callers kept calling: {calls}");
    // A process may spend what it has not yet heard the others spent: at
    // most one synchronisation (10 ms) of retries per process.
    assert!(
        retries <= allowed + 40,
        "{retries} retries against {allowed} allowed"
    );
    assert!(total(&shared, |r| r.ok) == 0);

    // The same fleet with a budget per process: each has its own reserve.
    let local = fleet(4, envs(&url, None, "", "budget", 8, 1500)).await;
    let local_calls = total(&local, |r| r.calls);
    let local_retries = total(&local, |r| r.attempts) - local_calls;
    println!("budgets per process: {local_calls} calls, {local_retries} retries");
    assert!(
        local_retries >= local_calls / 100 + 4 * 50 - 10,
        "four reserves: {local_retries}"
    );
    assert!(
        local_retries > retries + 100,
        "{local_retries} against {retries}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleets_breakers_open_after_the_fleets_min_attempts() {
    let redis = RedisServer::start().unwrap();
    let server = FaultServer::start(|_| Reply::status(503, "down"));
    let url = server.url("/v1/chat");

    // min_attempts(40), failure_ratio(0.5), open for a minute.
    let shared = fleet(
        4,
        envs(&url, Some(&redis), "outage-breaker", "breaker", 4, 1000),
    )
    .await;
    let seen = server.requests();
    println!("shared breaker: the server saw {seen} attempts");
    assert_eq!(u64::from(seen), total(&shared, |r| r.attempts));
    // 40, and what the processes sent before they heard (10 ms each).
    assert!((40..=80).contains(&seen), "{seen}");
    assert!(
        total(&shared, |r| r.calls) > 4 * 40,
        "the others were refused, not idle"
    );

    let before = server.requests();
    let local = fleet(4, envs(&url, None, "", "breaker", 4, 1000)).await;
    let seen_local = server.requests() - before;
    println!("breakers per process: the server saw {seen_local} attempts");
    assert_eq!(u64::from(seen_local), total(&local, |r| r.attempts));
    assert!(
        seen_local >= 4 * 40,
        "each process opens on its own: {seen_local}"
    );
}

/// A server that answers one request with `429, Retry-After: 1` once it has
/// been called for half a second, and every other one with 200; it keeps
/// the times at which requests arrived.
/// When each request arrived, and its answer's status.
type Arrivals = Arc<Mutex<Vec<(Instant, u16)>>>;

fn rate_limiting_server() -> (FaultServer, Arrivals) {
    let seen: Arrivals = Arc::default();
    let log = seen.clone();
    let server = FaultServer::start(move |_| {
        let mut log = log.lock().unwrap();
        let now = Instant::now();
        let first = log.first().map_or(now, |f| f.0);
        let limited = log.iter().any(|r| r.1 == 429);
        let status = if !limited && now.duration_since(first) >= Duration::from_millis(500) {
            429
        } else {
            200
        };
        log.push((now, status));
        match status {
            429 => Reply::status(429, "slow down").header("retry-after", "1"),
            _ => Reply::json("{}"),
        }
    });
    (server, seen)
}

/// Requests that arrived from 100 ms to 900 ms after the 429, and after.
fn around_the_429(seen: &[(Instant, u16)]) -> (usize, usize) {
    let at = seen.iter().find(|r| r.1 == 429).expect("a 429").0;
    let during = seen
        .iter()
        .filter(|r| {
            r.0 >= at + Duration::from_millis(100) && r.0 <= at + Duration::from_millis(900)
        })
        .count();
    let after = seen
        .iter()
        .filter(|r| r.0 > at + Duration::from_millis(1000))
        .count();
    (during, after)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_processs_429_holds_back_the_fleet_until_it_passes() {
    let redis = RedisServer::start().unwrap();
    let (server, seen) = rate_limiting_server();
    let url = server.url("/v1/chat");
    let reports = fleet(
        3,
        envs(&url, Some(&redis), "rate-limit", "cooldown", 2, 2500),
    )
    .await;
    let (during, after) = around_the_429(&seen.lock().unwrap());
    println!("shared cool-down: {during} requests while it lasted, {after} after");
    assert_eq!(during, 0, "the fleet waited out the Retry-After");
    assert!(after > 30, "and called again once it passed: {after}");
    assert_eq!(total(&reports, |r| r.ok), total(&reports, |r| r.calls));

    // Without Redis the other processes keep calling.
    let (server, seen) = rate_limiting_server();
    let url = server.url("/v1/chat");
    fleet(3, envs(&url, None, "", "cooldown", 2, 2500)).await;
    let (during, _) = around_the_429(&seen.lock().unwrap());
    println!("cool-down per process: {during} requests while it lasted");
    assert!(during > 30, "{during}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_mid_run_costs_no_call_and_the_fleet_rejoins() {
    let mut redis = RedisServer::start().unwrap();
    let server = FaultServer::start(|_| Reply::json("{}"));
    let url = server.url("/v1/chat");
    let workers = tokio::spawn(fleet(
        2,
        envs(&url, Some(&redis), "redis-dies", "cooldown", 4, 4000),
    ));
    tokio::time::sleep(Duration::from_millis(1000)).await;
    redis.kill();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    redis.restart().unwrap();
    let reports = workers.await.unwrap();
    for r in &reports {
        println!("{}", r.line());
        assert!(r.calls > 100, "{r:?}");
        assert_eq!(r.ok, r.calls, "every call succeeded: {r:?}");
        assert!(r.max_call_ms < 250, "no call waited for Redis: {r:?}");
        assert!(r.lost >= 1, "it noticed: {r:?}");
        assert!(r.rejoined >= 1, "and rejoined: {r:?}");
    }
}

static LONE: Budget = Budget::new(0.1, 10);
static LONE_BREAKER: CircuitBreaker = CircuitBreaker::new();
static SECOND: Budget = Budget::new(0.1, 10);
static WINDOW: AdaptiveWindow = AdaptiveWindow::new(10);

#[retry(attempts = 3, wait = fixed(1ms), budget = LONE, breaker = LONE_BREAKER)]
async fn alone(fail: &mut u32) -> std::io::Result<u32> {
    if *fail > 0 {
        *fail -= 1;
        return Err(std::io::ErrorKind::ConnectionReset.into());
    }
    Ok(7)
}

#[test]
fn share_outside_a_runtime_is_an_error() {
    let client = redis::Client::open("redis://127.0.0.1:1/").unwrap();
    assert!(matches!(
        share(&client, "k", &[&WINDOW]),
        Err(ShareError::NoRuntime)
    ));
}

#[tokio::test]
async fn sharing_mistakes_are_errors() {
    let client = redis::Client::open("redis://127.0.0.1:1/").unwrap();
    assert!(matches!(
        share(&client, "", &[&SECOND]),
        Err(ShareError::BadKey)
    ));
    assert!(matches!(
        share(&client, &"k".repeat(201), &[&SECOND]),
        Err(ShareError::BadKey)
    ));
    assert!(matches!(
        share(&client, "k", &[&SECOND, &LONE]),
        Err(ShareError::TwoOfAKind("budget"))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_never_there_calls_run_on_local_state() {
    // A port nothing listens on: every round trip fails at once.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
    let options = Options::new().timeout(Duration::from_millis(20));
    let sharing = share_with(&client, "nobody-home", &[&LONE, &LONE_BREAKER], options).unwrap();
    assert!(matches!(
        share(&client, "again", &[&LONE]),
        Err(ShareError::AlreadyShared("budget"))
    ));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!sharing.connected());
    let start = Instant::now();
    for i in 0..50 {
        assert_eq!(alone(&mut u32::from(i % 10 == 0)).await.unwrap(), 7);
    }
    // 50 calls, five of them with a 1 ms sleep, and nothing waiting for Redis.
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    sharing.stop();
}

static IDLE_WINDOW: AdaptiveWindow = AdaptiveWindow::new(10);
static LEAVING: Budget = Budget::new(0.1, 10);
static LEAVING_WINDOW: AdaptiveWindow = AdaptiveWindow::new(10);

/// This process's field of one of `key`'s hashes ("time a b"), if any.
async fn own_field(
    con: &mut redis::aio::MultiplexedConnection,
    key: &str,
    hash: &str,
) -> Option<String> {
    let all: Vec<String> = redis::cmd("HVALS")
        .arg(format!("retry:{{{key}}}:{hash}"))
        .query_async(con)
        .await
        .unwrap();
    assert!(all.len() <= 1, "one process only: {all:?}");
    all.into_iter().next()
}

/// Polls `key`'s `hash` until this process's counts (without the time) are
/// `want`, for up to 5 s (a loaded machine may miss a round trip or two).
async fn wait_for_counts(
    con: &mut redis::aio::MultiplexedConnection,
    key: &str,
    hash: &str,
    want: Option<&str>,
) {
    let start = Instant::now();
    loop {
        let field = own_field(con, key, hash).await;
        let counts = field.as_deref().map(|f| f.split_once(' ').unwrap().1);
        if counts == want {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{key}:{hash}: {counts:?}, not {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_window_publishes_zeros_until_its_next_attempt() {
    let redis = RedisServer::start().expect("redis-server (apt install redis-server)");
    let client = redis::Client::open(redis.url()).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let options = Options::new()
        .timeout(Duration::from_secs(1))
        .window_idle(Duration::from_secs(3));
    let _sharing = share_with(&client, "idle", &[&IDLE_WINDOW], options).unwrap();
    for _ in 0..4 {
        IDLE_WINDOW.record(true);
    }
    IDLE_WINDOW.record(false);
    wait_for_counts(&mut con, "idle", "window", Some("5 4")).await;

    // Idle longer than `window_idle`: its failures leave the fleet's ratio,
    // while this process keeps them for itself.
    wait_for_counts(&mut con, "idle", "window", Some("0 0")).await;
    assert_eq!(IDLE_WINDOW.failure_ratio(), 0.8);
    // Busy again: its window is published again.
    IDLE_WINDOW.record(true);
    wait_for_counts(&mut con, "idle", "window", Some("6 5")).await;
}

static FORGETFUL: AdaptiveWindow = AdaptiveWindow::new(10).max_age(Duration::from_secs(2));

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_busy_again_does_not_publish_its_old_outage() {
    let redis = RedisServer::start().expect("redis-server (apt install redis-server)");
    let client = redis::Client::open(redis.url()).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let options = Options::new()
        .timeout(Duration::from_secs(1))
        .window_idle(Duration::from_secs(3));
    let _sharing = share_with(&client, "forget", &[&FORGETFUL], options).unwrap();
    for _ in 0..4 {
        FORGETFUL.record(true);
    }
    wait_for_counts(&mut con, "forget", "window", Some("4 4")).await;
    // Older than max_age (2 s), then idle: zeros.
    wait_for_counts(&mut con, "forget", "window", Some("0 0")).await;
    assert_eq!(FORGETFUL.failure_ratio(), 0.0);
    // Busy again: only the new attempt, not the outage (once "5 4").
    FORGETFUL.record(false);
    wait_for_counts(&mut con, "forget", "window", Some("1 0")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaving_publishes_the_last_counts_and_cool_down_and_waits_for_it() {
    use retry_runtime::__private::{Clock, TokioClock};
    use retry_runtime::RetryBudget;

    let redis = RedisServer::start().expect("redis-server (apt install redis-server)");
    let client = redis::Client::open(redis.url()).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let options = Options::new()
        .timeout(Duration::from_secs(1))
        // No round trip but the first and the last.
        .interval(Duration::from_secs(3600));
    let sharing = share_with(&client, "leave", &[&LEAVING, &LEAVING_WINDOW], options).unwrap();
    LEAVING_WINDOW.record(true);
    LEAVING_WINDOW.record(false);
    // The server asked this process to wait 30 s; the next round trip is
    // the last one.
    LEAVING.rate_limited(TokioClock::ticks() + Duration::from_secs(30));

    let start = Instant::now();
    sharing.leave().await;
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    assert!(!sharing.connected());
    // The last counts are there (they stay until they are stale: this
    // process's retries and failures are the fleet's history still), and
    // the cool-down is published.
    assert_eq!(
        own_field(&mut con, "leave", "window")
            .await
            .as_deref()
            .map(|f| f.split_once(' ').unwrap().1),
        Some("2 1")
    );
    assert!(own_field(&mut con, "leave", "budget").await.is_some());
    let left: i64 = redis::cmd("PTTL")
        .arg("retry:{leave}:cooldown")
        .query_async(&mut con)
        .await
        .unwrap();
    assert!((25_000..=30_000).contains(&left), "{left}");
    // Leaving again returns at once.
    sharing.leave().await;
}
