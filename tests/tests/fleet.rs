//! A fleet sharing one API through a real `redis-server` (started on a free
//! port by each test): several processes (`src/bin/fleet_worker.rs`), each
//! with many concurrent callers, against the fault server in this process.

use std::io::{Read, Write};
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
    let Some(redis) = RedisServer::for_test("during_an_outage_the_fleet_retries_within_one_budget")
    else {
        return;
    };
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
    // Each process spends its part of the balance between two
    // synchronisations; what it has not yet heard the others spent may
    // overdraw it a little.
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
    let Some(redis) =
        RedisServer::for_test("the_fleets_breakers_open_after_the_fleets_min_attempts")
    else {
        return;
    };
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
    let Some(redis) =
        RedisServer::for_test("one_processs_429_holds_back_the_fleet_until_it_passes")
    else {
        return;
    };
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
    let Some(mut redis) =
        RedisServer::for_test("redis_killed_mid_run_costs_no_call_and_the_fleet_rejoins")
    else {
        return;
    };
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

/// This process's last counts of one member ("budget", "breaker",
/// "window") as "a b", from its ledger (what it last added to the fleet's
/// totals), if any.
async fn own_field(
    con: &mut redis::aio::MultiplexedConnection,
    key: &str,
    member: &str,
) -> Option<String> {
    let ledgers: Vec<String> = redis::cmd("KEYS")
        .arg(format!("retry:{{{key}}}:p:*"))
        .query_async(con)
        .await
        .unwrap();
    assert!(ledgers.len() <= 1, "one process only: {ledgers:?}");
    let ledger = ledgers.into_iter().next()?;
    let fields = match member {
        "budget" => ["bd", "bw"],
        "breaker" => ["ka", "kf"],
        _ => ["wa", "wf"],
    };
    let got: Vec<Option<String>> = redis::cmd("HMGET")
        .arg(&ledger)
        .arg(&fields[..])
        .query_async(con)
        .await
        .unwrap();
    match (&got[0], &got[1]) {
        (Some(a), Some(b)) => Some(format!("{a} {b}")),
        _ => None,
    }
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
        let counts = field.as_deref();
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
    let Some((_redis, client, mut con)) =
        start_redis("an_idle_window_publishes_zeros_until_its_next_attempt").await
    else {
        return;
    };
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
    let Some(redis) = RedisServer::for_test("a_window_busy_again_does_not_publish_its_old_outage")
    else {
        return;
    };
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

    let Some((_redis, client, mut con)) =
        start_redis("leaving_publishes_the_last_counts_and_cool_down_and_waits_for_it").await
    else {
        return;
    };
    let options = Options::new()
        .timeout(Duration::from_secs(1))
        // No round trip but the first and the last.
        .interval(Duration::from_secs(3600))
        .stale(Duration::from_secs(7300));
    let sharing = share_with(&client, "leave", &[&LEAVING, &LEAVING_WINDOW], options).unwrap();
    LEAVING_WINDOW.record(true);
    LEAVING_WINDOW.record(false);
    // The server asked this process to wait 30 s; the next round trip is
    // the last one.
    let cool_down = LEAVING.cool_down().expect("shared");
    cool_down.rate_limited(TokioClock::ticks() + Duration::from_secs(30));

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
        own_field(&mut con, "leave", "window").await.as_deref(),
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

static PACED: CircuitBreaker = CircuitBreaker::new();

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pacing_a_shared_breaker_holds_the_fleet() {
    use retry_runtime::Paced;
    let Some((_redis, client, mut con)) =
        start_redis("pacing_a_shared_breaker_holds_the_fleet").await
    else {
        return;
    };
    let options = Options::new()
        .timeout(Duration::from_secs(1))
        .interval(Duration::from_millis(10));
    let sharing = share_with(&client, "pace", &[&PACED], options).unwrap();
    // A response said: no request left for 20 s. The fleet's cool-down
    // carries it to the other processes.
    PACED.pause(Duration::from_secs(20));
    let start = Instant::now();
    loop {
        let left: i64 = redis::cmd("PTTL")
            .arg("retry:{pace}:cooldown")
            .query_async(&mut con)
            .await
            .unwrap();
        if left > 0 {
            assert!((15_000..=20_000).contains(&left), "{left}");
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(5), "never published");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    sharing.stop();
}

static CHECKED: Budget = Budget::new(0.1, 10);

#[tokio::test]
async fn options_that_cannot_work_are_errors() {
    let client = redis::Client::open("redis://127.0.0.1:1/").unwrap();
    let ms = Duration::from_millis;
    let day = Duration::from_secs(86_400);
    let hour = Duration::from_secs(3600);
    for (options, wrong) in [
        (Options::new().interval(Duration::ZERO), "interval"),
        (
            Options::new().interval(Duration::from_micros(999)),
            "interval",
        ),
        (Options::new().interval(day + ms(1)).stale(day), "interval"),
        (Options::new().interval(Duration::MAX), "interval"),
        (Options::new().timeout(Duration::ZERO), "timeout"),
        (Options::new().timeout(day + ms(1)), "timeout"),
        (Options::new().timeout(Duration::MAX), "timeout"),
        (Options::new().stale(Duration::ZERO), "stale"),
        (Options::new().interval(ms(10)).stale(ms(19)), "stale"),
        // Two intervals and a round trip's limit (10 + 10 + 50 ms).
        (Options::new().interval(ms(10)).stale(ms(69)), "stale"),
        // The default stale time (10 s) with an hour's interval.
        (Options::new().interval(hour), "stale"),
        (Options::new().stale(day + ms(1)), "stale"),
        (Options::new().stale(Duration::MAX), "stale"),
    ] {
        match share_with(&client, "checked", &[&CHECKED], options) {
            Err(e @ ShareError::BadOptions(why)) => {
                assert!(
                    why.starts_with(&format!("Options::{wrong} ")),
                    "{options:?}: {why}"
                );
                assert_eq!(e.to_string(), why);
            }
            other => panic!("{options:?}: {other:?}"),
        }
    }
    // Nothing was shared, and the edges work.
    let edges = Options::new()
        .interval(ms(1))
        .timeout(ms(1))
        .stale(ms(3))
        .window_idle(ms(1));
    share_with(&client, "checked", &[&CHECKED], edges)
        .unwrap()
        .stop();
    // (Valid, and refused for another reason.)
    let edges = Options::new().interval(day / 2 - ms(25)).stale(day);
    assert!(matches!(
        share_with(&client, "checked", &[&CHECKED], edges),
        Err(ShareError::AlreadyShared("budget"))
    ));
}

/// A server that speaks just enough of Redis's protocol to take a client
/// (it answers `+OK` to what a new connection sends) and never answers a
/// script: when each script arrived.
fn silent_redis() -> (String, Arc<Mutex<Vec<Instant>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("redis://{}/", listener.local_addr().unwrap());
    let scripts: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let seen = scripts.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let seen = seen.clone();
            std::thread::spawn(move || {
                let (mut buf, mut chunk) = (Vec::new(), [0u8; 4096]);
                while let Ok(n @ 1..) = stream.read(&mut chunk) {
                    buf.extend_from_slice(&chunk[..n]);
                    while let Some((name, len)) = first_command(&buf) {
                        buf.drain(..len);
                        if name.starts_with(b"EVAL") {
                            seen.lock().unwrap().push(Instant::now());
                        } else {
                            let _ = stream.write_all(b"+OK\r\n");
                        }
                    }
                }
            });
        }
    });
    (url, scripts)
}

/// The first whole command in `buf` (an array of bulk strings): its name in
/// upper case, and its length in bytes.
fn first_command(buf: &[u8]) -> Option<(Vec<u8>, usize)> {
    fn line(buf: &[u8], at: usize, tag: u8) -> Option<(usize, usize)> {
        let end = at + buf.get(at..)?.windows(2).position(|w| w == b"\r\n")?;
        let n = std::str::from_utf8(buf[at..end].strip_prefix(&[tag])?).ok()?;
        Some((n.parse().ok()?, end + 2))
    }
    let (args, mut at) = line(buf, 0, b'*')?;
    let mut name = Vec::new();
    for i in 0..args {
        let (len, from) = line(buf, at, b'$')?;
        let arg = buf.get(from..from + len)?;
        if i == 0 {
            name = arg.to_ascii_uppercase();
        }
        at = from + len + 2;
    }
    (buf.len() >= at).then_some((name, at))
}

static SILENT: Budget = Budget::new(0.1, 10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_redis_is_down_it_never_polls_faster_than_while_it_answers() {
    let (url, scripts) = silent_redis();
    let client = redis::Client::open(url).unwrap();
    // An interval longer than the back-off's usual ceiling (1 s).
    let interval = Duration::from_millis(1500);
    let options = Options::new()
        .interval(interval)
        .timeout(Duration::from_millis(50))
        .stale(interval * 2 + Duration::from_millis(50));
    let sharing = share_with(&client, "silent", &[&SILENT], options).unwrap();
    // The third round trip comes after two failures: the process decides
    // alone and backs off.
    let start = Instant::now();
    while scripts.lock().unwrap().len() < 3 {
        assert!(start.elapsed() < Duration::from_secs(20), "{scripts:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!sharing.connected());
    let times = scripts.lock().unwrap().clone();
    for pair in times.windows(2) {
        // An interval and a time limit (1.55 s) at least; the slack is for
        // a script read late by a slow machine.
        let gap = pair[1] - pair[0];
        assert!(gap >= Duration::from_millis(1300), "{gap:?} in {times:?}");
    }
    sharing.stop();
}

/// A redis-server of the test's own, a client of it and a connection.
async fn start_redis(
    test: &str,
) -> Option<(
    RedisServer,
    redis::Client,
    redis::aio::MultiplexedConnection,
)> {
    let redis = RedisServer::for_test(test)?;
    let client = redis::Client::open(redis.url()).unwrap();
    let con = client.get_multiplexed_async_connection().await.unwrap();
    Some((redis, client, con))
}

/// Redis's clock, in milliseconds (what the fields' times are written in).
async fn redis_now(con: &mut redis::aio::MultiplexedConnection) -> u64 {
    let (secs, micros): (u64, u64) = redis::cmd("TIME").query_async(con).await.unwrap();
    secs * 1000 + micros / 1000
}

/// Writes totals of other processes into `key`'s current period (of
/// `period` ms, on Redis's clock), as their round trips would: `fields`
/// by name (`bd bw bn ka kf kn wa wf wn`).
async fn other_processes(
    con: &mut redis::aio::MultiplexedConnection,
    key: &str,
    period: u64,
    fields: &[(&str, &str)],
) {
    other_processes_in(con, key, period, 0, fields).await;
}

/// [`other_processes`] in the period `ahead` periods after the current one.
async fn other_processes_in(
    con: &mut redis::aio::MultiplexedConnection,
    key: &str,
    period: u64,
    ahead: u64,
    fields: &[(&str, &str)],
) {
    let now = redis_now(con).await;
    let mut hset = redis::cmd("HSET");
    hset.arg(format!(
        "retry:{{{key}}}:s:{period}:{}",
        now / period + ahead
    ));
    for (name, value) in fields {
        hset.arg(*name).arg(*value);
    }
    let () = hset.query_async(con).await.unwrap();
}

/// Polls `done` every 10 ms for up to 5 s (a loaded machine may miss a
/// round trip or two).
async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < Duration::from_secs(5), "not {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Options with which no round trip happens unless one is asked for with
/// [`round_trip`].
fn on_demand() -> Options {
    Options::new()
        .timeout(Duration::from_secs(1))
        .interval(Duration::from_secs(3600))
        .stale(Duration::from_secs(7300))
}

/// Makes the synchronisation that `budget` is shared by run one round trip
/// now: a rate limit that has passed already wakes it, and holds nothing.
fn round_trip(budget: &Budget) {
    use retry_runtime::RetryBudget;
    if let Some(cool_down) = budget.cool_down() {
        cool_down.rate_limited(Duration::ZERO);
    }
}

static CAPPED: Budget = Budget::new(0.1, 10);
static CAPPED_BREAKER: CircuitBreaker = CircuitBreaker::new();

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn times_read_back_from_redis_are_capped_at_a_day() {
    use retry_runtime::__private::{Clock, TokioClock};
    use retry_runtime::{Breaker, RetryBudget};

    let Some((_redis, client, mut con)) =
        start_redis("times_read_back_from_redis_are_capped_at_a_day").await
    else {
        return;
    };
    // Something set the fleet's cool-down and open breaker for ten days.
    let day = Duration::from_secs(86_400);
    for key in ["retry:{capped}:cooldown", "retry:{capped}:open"] {
        let px = (10 * day).as_millis() as u64;
        let () = redis::cmd("SET")
            .arg(key)
            .arg(1)
            .arg("PX")
            .arg(px)
            .query_async(&mut con)
            .await
            .unwrap();
    }
    let sharing = share_with(&client, "capped", &[&CAPPED, &CAPPED_BREAKER], on_demand()).unwrap();
    round_trip(&CAPPED);
    eventually("connected", || sharing.connected()).await;

    let now = TokioClock::ticks();
    let hold = CAPPED.cool_down().map_or(Duration::ZERO, |c| c.hold(now));
    assert!(
        hold <= day && hold > day - Duration::from_secs(60),
        "{hold:?}"
    );
    let minute = Duration::from_secs(60);
    assert!(CAPPED_BREAKER.refuses_at(now + day - minute));
    assert!(!CAPPED_BREAKER.refuses_at(now + day + minute));
    sharing.leave().await;
}

static HUGE: Budget = Budget::new(0.1, 10);
static HOSTILE_WINDOW: AdaptiveWindow = AdaptiveWindow::new(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn totals_read_back_from_redis_never_overflow_nor_break_the_round_trip() {
    use retry_runtime::RetryBudget;

    let Some((_redis, client, mut con)) =
        start_redis("totals_read_back_from_redis_never_overflow_nor_break_the_round_trip").await
    else {
        return;
    };
    // The current period's totals, as something other than the runtime
    // wrote them: withdrawals past i64::MAX, window counts that are no
    // numbers or below zero. (on_demand's period: twice its interval.)
    let huge = "9".repeat(30);
    let fields = [
        ("bd", "0"),
        ("bw", huge.as_str()),
        ("bn", "1"),
        ("wa", "many"),
        ("wf", "-5"),
        ("wn", "1"),
    ];
    other_processes(&mut con, "huge", 7_200_000, &fields).await;

    let sharing = share_with(&client, "huge", &[&HUGE, &HOSTILE_WINDOW], on_demand()).unwrap();
    HOSTILE_WINDOW.record(true);
    HOSTILE_WINDOW.record(false);
    HOSTILE_WINDOW.record(false);
    HOSTILE_WINDOW.record(false);
    round_trip(&HUGE);
    eventually("connected", || sharing.connected()).await;
    // The fleet withdrew more than it ever had: no retry is left (a total
    // read as i64::MIN, taken as none withdrawn, would let 100 through).
    assert!(!HUGE.try_withdraw(Duration::from_secs(100)));
    // The window's totals that are no counts are none: its own ratio.
    assert_eq!(HOSTILE_WINDOW.failure_ratio(), 0.25);
    // This process's own counts were added where Redis could: not to a
    // total that is no number (its ledger says 0 added there, so that it
    // never takes for its own what it could not add), the rest as usual.
    assert_eq!(
        own_field(&mut con, "huge", "window").await.as_deref(),
        Some("0 1")
    );
    sharing.leave().await;
}

static WATCHED: Budget = Budget::new(0.1, 10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connected_says_whether_the_last_round_trip_succeeded() {
    let Some(mut redis) =
        RedisServer::for_test("connected_says_whether_the_last_round_trip_succeeded")
    else {
        return;
    };
    let client = redis::Client::open(redis.url()).unwrap();
    let options = on_demand().timeout(Duration::from_millis(200));
    let sharing = share_with(&client, "watched", &[&WATCHED], options).unwrap();
    assert!(!sharing.connected(), "no round trip yet");
    round_trip(&WATCHED);
    eventually("connected", || sharing.connected()).await;

    // One failed round trip is enough (the process keeps the fleet's last
    // sums until a second one fails, but the last round trip failed).
    redis.kill();
    round_trip(&WATCHED);
    eventually("disconnected", || !sharing.connected()).await;

    // Back: the client reconnects within a round trip or two.
    redis.restart().unwrap();
    let start = Instant::now();
    while !sharing.connected() {
        assert!(start.elapsed() < Duration::from_secs(5), "not back");
        round_trip(&WATCHED);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    sharing.leave().await;
    assert!(!sharing.connected(), "ended");
}

static RESHARED: Budget = Budget::new(0.1, 10);
static RESHARED_WINDOW: AdaptiveWindow = AdaptiveWindow::new(10);

/// A runtime of its own, as each `#[tokio::test]` has.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn a_member_whose_synchronisation_ended_can_be_shared_again() {
    let Some(redis) =
        RedisServer::for_test("a_member_whose_synchronisation_ended_can_be_shared_again")
    else {
        return;
    };
    let client = redis::Client::open(redis.url()).unwrap();
    let members: [&'static dyn retry_runtime::redis::Shared; 2] = [&RESHARED, &RESHARED_WINDOW];
    let share = || share_with(&client, "reshared", &members, on_demand());

    // Shared in a runtime that is then dropped.
    let first = runtime().block_on(async {
        let sharing = share().unwrap();
        round_trip(&RESHARED);
        eventually("connected", || sharing.connected()).await;
        sharing
    });
    assert!(!first.connected(), "its runtime is gone");

    // A later runtime shares the same statics again (under another key
    // too), and they are shared until that synchronisation ends.
    runtime().block_on(async {
        let second = share().unwrap();
        assert!(matches!(share(), Err(ShareError::AlreadyShared(_))));
        round_trip(&RESHARED);
        eventually("connected again", || second.connected()).await;
        second.leave().await;
        let third = share_with(&client, "elsewhere", &[&RESHARED], on_demand()).unwrap();
        round_trip(&RESHARED);
        eventually("connected elsewhere", || third.connected()).await;
        third.leave().await;
    });
}

static PARTED: Budget = Budget::new(0.0, 10);
static PARTED_BY_CALLS: Budget = Budget::new(0.5, 1);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_budgets_reserve_counts_once_for_the_fleet_even_in_a_burst() {
    use retry_runtime::__private::{Clock, TokioClock};
    use retry_runtime::RetryBudget;

    let Some((_redis, client, mut con)) =
        start_redis("a_shared_budgets_reserve_counts_once_for_the_fleet_even_in_a_burst").await
    else {
        return;
    };
    let withdrawals = |budget: &Budget| {
        (0..1000)
            .take_while(|_| budget.try_withdraw(TokioClock::ticks()))
            .count()
    };

    // Another live process; no call deposits (a ratio of 0).
    let one = [("bd", "0"), ("bw", "0"), ("bn", "1")];
    other_processes(&mut con, "parted", 7_200_000, &one).await;
    let sharing = share_with(&client, "parted", &[&PARTED], on_demand()).unwrap();
    round_trip(&PARTED);
    eventually("connected", || sharing.connected()).await;
    // A burst of failures in both processes before they hear of each
    // other: each spends half of the reserve (100 retries), not all of it.
    assert_eq!(withdrawals(&PARTED), 50);
    sharing.leave().await;

    // The other process's calls deposited 30 retries' worth, this one's 10
    // (20 calls at 0.5): its part is a quarter of the fleet's balance, 10 +
    // 30 + 10 (the reserve), and what its calls deposit meanwhile.
    let one = [("bd", "30000"), ("bw", "0"), ("bn", "1")];
    other_processes(&mut con, "by-calls", 7_200_000, &one).await;
    let members: [&'static dyn retry_runtime::redis::Shared; 1] = [&PARTED_BY_CALLS];
    let sharing = share_with(&client, "by-calls", &members, on_demand()).unwrap();
    for _ in 0..20 {
        PARTED_BY_CALLS.deposit(TokioClock::ticks());
    }
    round_trip(&PARTED_BY_CALLS);
    eventually("connected", || sharing.connected()).await;
    assert_eq!(withdrawals(&PARTED_BY_CALLS), 12);
    for _ in 0..2 {
        PARTED_BY_CALLS.deposit(TokioClock::ticks());
    }
    assert_eq!(withdrawals(&PARTED_BY_CALLS), 1);
    sharing.leave().await;
}

/// The fleet's totals for one member, as "a b n", in the period this
/// key's one process last added to (its ledger says which).
async fn totals(
    con: &mut redis::aio::MultiplexedConnection,
    key: &str,
    fields: [&str; 3],
) -> String {
    let ledgers: Vec<String> = redis::cmd("KEYS")
        .arg(format!("retry:{{{key}}}:p:*"))
        .query_async(con)
        .await
        .unwrap();
    assert!(ledgers.len() <= 1, "one process: {ledgers:?}");
    let Some(ledger) = ledgers.first() else {
        return "no ledger".to_string();
    };
    let period: String = redis::cmd("HGET")
        .arg(ledger)
        .arg("p")
        .query_async(con)
        .await
        .unwrap();
    let slices: Vec<String> = redis::cmd("KEYS")
        .arg(format!("retry:{{{key}}}:s:*:{period}"))
        .query_async(con)
        .await
        .unwrap();
    assert_eq!(slices.len(), 1, "{slices:?}");
    let got: Vec<Option<String>> = redis::cmd("HMGET")
        .arg(&slices[0])
        .arg(&fields[..])
        .query_async(con)
        .await
        .unwrap();
    got.iter()
        .map(|v| v.clone().unwrap_or_else(|| "0".into()))
        .collect::<Vec<_>>()
        .join(" ")
}

static ONCE_WINDOW: AdaptiveWindow = AdaptiveWindow::new(100);
static ONCE_BUDGET: Budget = Budget::new(0.1, 10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_are_added_once_across_round_trips_lost_answers_and_a_redis_restart() {
    let Some(mut redis) = RedisServer::for_test(
        "counts_are_added_once_across_round_trips_lost_answers_and_a_redis_restart",
    ) else {
        return;
    };
    let client = redis::Client::open(redis.url()).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let window = ["wa", "wf", "wn"];
    let sharing = share_with(&client, "once", &[&ONCE_WINDOW, &ONCE_BUDGET], on_demand()).unwrap();
    // Three attempts that succeeded and one that failed (`record(failed)`).
    for _ in 0..3 {
        ONCE_WINDOW.record(false);
    }
    ONCE_WINDOW.record(true);
    let trip = || round_trip(&ONCE_BUDGET);
    trip();
    eventually("connected", || sharing.connected()).await;
    // Round trip after round trip: the process's counts once, not summed.
    for _ in 0..5 {
        trip();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(totals(&mut con, "once", window).await, "4 1 1");
    // A new attempt (failed) adds the difference only.
    ONCE_WINDOW.record(true);
    let start = Instant::now();
    while own_field(&mut con, "once", "window").await.as_deref() != Some("5 2") {
        assert!(start.elapsed() < Duration::from_secs(5), "not added");
        trip();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(totals(&mut con, "once", window).await, "5 2 1");

    // An answer lost on its way back: the script ran, the process did not
    // hear it. Running it again (as the next round trip does) adds nothing
    // more: the ledger says what this process's totals hold.
    let ledger: Vec<String> = redis::cmd("KEYS")
        .arg("retry:{once}:p:*")
        .query_async(&mut con)
        .await
        .unwrap();
    let before: Vec<(String, String)> = redis::cmd("HGETALL")
        .arg(&ledger[0])
        .query_async(&mut con)
        .await
        .unwrap();
    trip();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let after: Vec<(String, String)> = redis::cmd("HGETALL")
        .arg(&ledger[0])
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(before, after);
    assert_eq!(totals(&mut con, "once", window).await, "5 2 1");

    // Redis restarts empty: the next round trip adds the whole counts
    // again, once.
    redis.kill();
    redis.restart().unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let start = Instant::now();
    loop {
        trip();
        tokio::time::sleep(Duration::from_millis(50)).await;
        if totals(&mut con, "once", window).await == "5 2 1" {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(5), "not back");
    }
    for _ in 0..3 {
        trip();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(totals(&mut con, "once", window).await, "5 2 1");
    sharing.leave().await;
}

static AGEING_WINDOW: AdaptiveWindow = AdaptiveWindow::new(100);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_that_stops_reporting_leaves_the_totals_within_two_periods() {
    let Some((_redis, client, mut con)) =
        start_redis("a_process_that_stops_reporting_leaves_the_totals_within_two_periods").await
    else {
        return;
    };
    let period = Duration::from_millis(300);
    let options = Options::new()
        .timeout(Duration::from_secs(1))
        .period(period);
    // Another process reported 9 failures of 9 attempts in this period and
    // the next (whichever this process's first round trip falls in), then
    // died.
    let dead = [("wa", "9"), ("wf", "9"), ("wn", "1")];
    other_processes_in(&mut con, "ageing", 300, 0, &dead).await;
    other_processes_in(&mut con, "ageing", 300, 1, &dead).await;
    let sharing = share_with(&client, "ageing", &[&AGEING_WINDOW], options).unwrap();
    // One attempt of this process's own, which succeeded.
    AGEING_WINDOW.record(false);
    let start = Instant::now();
    eventually("the dead process's failures counted", || {
        AGEING_WINDOW.failure_ratio() == 0.9
    })
    .await;
    // It adds nothing to the periods after: within two periods of its
    // last (three of the first written here) and a round trip, its counts
    // are gone, while this process's stay.
    eventually("the dead process's failures gone", || {
        AGEING_WINDOW.failure_ratio() == 0.0
    })
    .await;
    let gone = start.elapsed();
    assert!(gone <= period * 3 + Duration::from_millis(300), "{gone:?}");
    AGEING_WINDOW.record(true);
    eventually("this process's own failure counted", || {
        AGEING_WINDOW.failure_ratio() == 0.5
    })
    .await;
    sharing.leave().await;
}

static KEY_A: AdaptiveWindow = AdaptiveWindow::new(100);
static KEY_B: AdaptiveWindow = AdaptiveWindow::new(100);
static KEY_A_BUDGET: Budget = Budget::new(0.1, 10);
static KEY_B_BUDGET: Budget = Budget::new(0.1, 10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_keys_never_mix() {
    let Some((_redis, client, mut con)) = start_redis("two_keys_never_mix").await else {
        return;
    };
    let a = share_with(&client, "a", &[&KEY_A, &KEY_A_BUDGET], on_demand()).unwrap();
    let b = share_with(&client, "b", &[&KEY_B, &KEY_B_BUDGET], on_demand()).unwrap();
    // One failed attempt under `a`, three that succeeded under `b`.
    KEY_A.record(true);
    for _ in 0..3 {
        KEY_B.record(false);
    }
    round_trip(&KEY_A_BUDGET);
    round_trip(&KEY_B_BUDGET);
    eventually("both connected", || a.connected() && b.connected()).await;
    let window = ["wa", "wf", "wn"];
    wait_for_counts(&mut con, "a", "window", Some("1 1")).await;
    wait_for_counts(&mut con, "b", "window", Some("3 0")).await;
    assert_eq!(totals(&mut con, "a", window).await, "1 1 1");
    assert_eq!(totals(&mut con, "b", window).await, "3 0 1");
    // Each key's every key is in its own hash slot: `{a}`, `{b}`.
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("retry:*")
        .query_async(&mut con)
        .await
        .unwrap();
    assert!(!keys.is_empty());
    for key in &keys {
        assert!(
            key.starts_with("retry:{a}:") || key.starts_with("retry:{b}:"),
            "{key}"
        );
    }
    assert_eq!(KEY_A.failure_ratio(), 1.0);
    assert_eq!(KEY_B.failure_ratio(), 0.0);
    a.leave().await;
    b.leave().await;
}

static LOST_WINDOW: AdaptiveWindow = AdaptiveWindow::new(100);
static LOST_BUDGET: Budget = Budget::new(0.1, 10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_lost_on_its_way_back_is_neither_counted_again_nor_taken_for_the_others() {
    let Some((_redis, client, mut con)) = start_redis(
        "an_answer_lost_on_its_way_back_is_neither_counted_again_nor_taken_for_the_others",
    )
    .await
    else {
        return;
    };
    let options = on_demand().timeout(Duration::from_millis(100));
    let sharing = share_with(&client, "lost", &[&LOST_WINDOW, &LOST_BUDGET], options).unwrap();
    let window = ["wa", "wf", "wn"];
    LOST_WINDOW.record(true);
    round_trip(&LOST_BUDGET);
    eventually("connected", || sharing.connected()).await;
    assert_eq!(totals(&mut con, "lost", window).await, "1 1 1");

    // Redis is busy for 400 ms (a long script of someone else's): the next
    // round trip's script runs after it, once its answer was given up.
    LOST_WINDOW.record(false);
    let busy = client.get_multiplexed_async_connection().await.unwrap();
    let blocker = tokio::spawn(async move {
        let mut busy = busy;
        let script = "local t = redis.call('TIME') local from = t[1] * 1000000 + t[2] \
            repeat t = redis.call('TIME') until t[1] * 1000000 + t[2] - from > 400000 return 1";
        let _: redis::RedisResult<i64> = redis::cmd("EVAL")
            .arg(script)
            .arg(0)
            .query_async(&mut busy)
            .await;
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    round_trip(&LOST_BUDGET);
    eventually("the answer given up", || !sharing.connected()).await;
    blocker.await.unwrap();
    // The script ran: the new attempt is in the totals once.
    eventually_async("added once", || async {
        let mut con = client.get_multiplexed_async_connection().await.unwrap();
        totals(&mut con, "lost", window).await == "2 1 1"
    })
    .await;
    // The next round trip adds nothing more, and takes none of it for the
    // other processes': this process's own ratio, 1 of 2.
    round_trip(&LOST_BUDGET);
    eventually("connected again", || sharing.connected()).await;
    for _ in 0..3 {
        round_trip(&LOST_BUDGET);
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    assert_eq!(totals(&mut con, "lost", window).await, "2 1 1");
    assert_eq!(LOST_WINDOW.failure_ratio(), 0.5);
    sharing.leave().await;
}

/// [`eventually`] for a condition that needs `.await`.
async fn eventually_async<F: std::future::Future<Output = bool>>(
    what: &str,
    mut done: impl FnMut() -> F,
) {
    let start = Instant::now();
    while !done().await {
        assert!(start.elapsed() < Duration::from_secs(5), "not {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
