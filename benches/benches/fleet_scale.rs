//! A fleet on one Redis key, at scale: N simulated processes (separate
//! connections, separate ids), each synchronising at its interval for a
//! fixed time against a local `redis-server`, with the runtime's own
//! script (`new`) and with the script of the design before it (`old`: one
//! field per process, every field read and summed on each round trip,
//! every 10 ms). For each N: round trips a second, Redis's CPU (`INFO
//! cpu`, user + sys, per second of run, as a share of one core), the round
//! trip's latency (p50, p99), and how long a breaker opened by one process
//! takes to reach every other (the open key, read back by each).
//!
//! ```sh
//! cargo bench -p benches --bench fleet_scale --features redis
//! FLEET_SIZES=1,10,100,1000 FLEET_SECONDS=5 cargo bench -p benches --bench fleet_scale --features redis
//! ```
//!
//! It needs `redis-server` on the PATH (it starts its own on a free port).

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use retry_runtime::redis::__bench;

/// The design before: one field per process in three hashes; each round
/// trip writes its own and reads and sums every live one.
const OLD_SCRIPT: &str = r"
if redis.replicate_commands then pcall(redis.replicate_commands) end
local id, stale, open, cool = ARGV[1], tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local hashes = {KEYS[1], KEYS[2], KEYS[3]}
local own = {ARGV[2], ARGV[3], ARGV[4]}
local open_key, cool_key = KEYS[4], KEYS[5]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local most = 9007199254740991
local out = {}
local budgets = 0
for h = 1, 3 do
  local a, b = 0, 0
  if own[h] ~= '-' then
    redis.call('HSET', hashes[h], id, now .. ' ' .. own[h])
    redis.call('PEXPIRE', hashes[h], stale)
    local all = redis.call('HGETALL', hashes[h])
    for i = 1, #all, 2 do
      if all[i] ~= id then
        local at, x, y = string.match(all[i + 1], '^(%d+) (%d+) (%d+)$')
        if at == nil or math.abs(now - tonumber(at)) > stale then
          redis.call('HDEL', hashes[h], all[i])
        else
          a = a + tonumber(x)
          b = b + tonumber(y)
          if h == 1 then budgets = budgets + 1 end
        end
      end
    end
  end
  out[2 * h - 1] = math.min(a, most)
  out[2 * h] = math.min(b, most)
end
if open > 0 and redis.call('PTTL', open_key) < open then
  redis.call('SET', open_key, '1', 'PX', open)
end
if cool > 0 and redis.call('PTTL', cool_key) < cool then
  redis.call('SET', cool_key, '1', 'PX', cool)
end
out[7] = redis.call('PTTL', open_key)
out[8] = redis.call('PTTL', cool_key)
out[9] = budgets
return out
";

#[derive(Clone, Copy, Debug, PartialEq)]
enum Design {
    /// The design before, at its interval (10 ms).
    Old,
    /// The design before, at the new design's stretched interval: what
    /// its script costs at the same rate of round trips.
    OldStretched,
    New,
}

impl Design {
    fn name(self) -> &'static str {
        match self {
            Design::Old => "old",
            Design::OldStretched => "old, stretched",
            Design::New => "new",
        }
    }

    fn script(self) -> &'static str {
        match self {
            Design::Old | Design::OldStretched => OLD_SCRIPT,
            Design::New => __bench::SCRIPT,
        }
    }
}

struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server() -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = std::env::temp_dir().join(format!("fleet-scale-{port}"));
    std::fs::create_dir_all(&dir).unwrap();
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no", "--maxclients", "10000"])
        .current_dir(&dir)
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server on the PATH");
    let url = format!("redis://127.0.0.1:{port}/");
    let client = redis::Client::open(url.as_str()).unwrap();
    let start = Instant::now();
    while client.get_connection().is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "redis-server did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Server { child, url }
}

/// Redis's CPU time so far (user + sys), in seconds.
async fn redis_cpu(con: &mut redis::aio::MultiplexedConnection) -> f64 {
    let info: String = redis::cmd("INFO")
        .arg("cpu")
        .query_async(con)
        .await
        .unwrap();
    info.lines()
        .filter_map(|line| {
            let (name, value) = line.trim().split_once(':')?;
            matches!(name, "used_cpu_sys" | "used_cpu_user").then(|| value.parse::<f64>().ok())?
        })
        .sum()
}

/// What one simulated process saw.
#[derive(Default)]
struct Seen {
    round_trips: Vec<Duration>,
    /// When it first read the open key back (after the opener published it).
    saw_open: Option<Instant>,
}

struct Case {
    design: Design,
    processes: usize,
    seconds: f64,
}

struct Outcome {
    interval: Duration,
    rate: f64,
    cpu_share: f64,
    p50: Duration,
    p99: Duration,
    reached_all: Option<Duration>,
    reached: usize,
}

async fn run(server: &Server, case: &Case, key: &str) -> Outcome {
    let client = redis::Client::open(server.url.as_str()).unwrap();
    // A saturated Redis answers late: wait for it.
    let patient = redis::AsyncConnectionConfig::new()
        .set_response_timeout(Some(Duration::from_secs(600)))
        .set_connection_timeout(Some(Duration::from_secs(60)));
    let mut admin = client
        .get_multiplexed_async_connection_with_config(&patient)
        .await
        .unwrap();
    let interval = match case.design {
        Design::Old => Duration::from_millis(10),
        Design::OldStretched | Design::New => __bench::interval(case.processes as u64),
    };
    let period_ms = __bench::period().as_millis() as u64;
    let mut connections = Vec::with_capacity(case.processes);
    for _ in 0..case.processes {
        connections.push(
            client
                .get_multiplexed_async_connection_with_config(&patient)
                .await
                .unwrap(),
        );
    }
    let script = redis::Script::new(case.design.script());
    // Loaded once, as a process's first EVALSHA would.
    let _: String = redis::cmd("SCRIPT")
        .arg("LOAD")
        .arg(case.design.script())
        .query_async(&mut admin)
        .await
        .unwrap();
    let run_for = Duration::from_secs_f64(case.seconds);
    let stop = Arc::new(AtomicBool::new(false));
    let opened: Arc<std::sync::Mutex<Option<Instant>>> = Arc::default();
    let cpu_before = redis_cpu(&mut admin).await;
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(case.processes);
    for (index, mut con) in connections.into_iter().enumerate() {
        let script = script.clone();
        let stop = stop.clone();
        let opened = opened.clone();
        let key = key.to_string();
        let design = case.design;
        tasks.push(tokio::spawn(async move {
            let id = format!("{index:016x}");
            let mut seen = Seen::default();
            // Spread over the first interval, as processes start apart.
            let phase = interval.mul_f64((index as f64 * 0.618_034) % 1.0);
            tokio::time::sleep(phase).await;
            let mut trip = 0u64;
            while !stop.load(Ordering::Relaxed) {
                trip += 1;
                // The opener opens its breaker halfway through the run.
                let open_ms = if index == 0
                    && start.elapsed() >= run_for / 2
                    && opened.lock().unwrap().is_none()
                {
                    5_000
                } else {
                    0
                };
                let counts = [10 + trip % 7, 1, 100 + trip % 5, 5, 100, 5];
                let sent = Instant::now();
                let answer: redis::RedisResult<Vec<i64>> = match design {
                    Design::Old | Design::OldStretched => {
                        let pair = |a: u64, b: u64| format!("{a} {b}");
                        let mut call = script.prepare_invoke();
                        for name in ["budget", "breaker", "window", "open", "cooldown"] {
                            call.key(format!("retry:{{{key}}}:{name}"));
                        }
                        call.arg(&id)
                            .arg(pair(counts[0], counts[1]))
                            .arg(pair(counts[2], counts[3]))
                            .arg(pair(counts[4], counts[5]))
                            .arg(10_000)
                            .arg(open_ms)
                            .arg(0);
                        call.invoke_async(&mut con).await
                    }
                    Design::New => {
                        let wall = std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .unwrap()
                            .as_millis() as u64;
                        let period = wall / period_ms;
                        let mut call = script.prepare_invoke();
                        call.key(format!("retry:{{{key}}}:s:{period_ms}:{period}"))
                            .key(format!("retry:{{{key}}}:s:{period_ms}:{}", period - 1))
                            .key(format!("retry:{{{key}}}:p:{id}"))
                            .key(format!("retry:{{{key}}}:open"))
                            .key(format!("retry:{{{key}}}:cooldown"));
                        call.arg(period).arg(10_000).arg(open_ms).arg(0);
                        for count in counts {
                            call.arg(count);
                        }
                        call.invoke_async(&mut con).await
                    }
                };
                let took = sent.elapsed();
                if let Ok(answer) = answer {
                    seen.round_trips.push(took);
                    if open_ms > 0 {
                        // From when the breaker opened: the runtime wakes
                        // its synchronisation then, so the round trip that
                        // publishes it starts at once.
                        *opened.lock().unwrap() = Some(sent);
                    } else if seen.saw_open.is_none() {
                        let at = if design == Design::New { 24 } else { 6 };
                        let published = opened.lock().unwrap().is_some();
                        if published && answer.get(at).is_some_and(|&ms| ms > 0) {
                            seen.saw_open = Some(Instant::now());
                        }
                    }
                }
                tokio::time::sleep(interval).await;
            }
            seen
        }));
    }
    tokio::time::sleep(run_for).await;
    let cpu_after = redis_cpu(&mut admin).await;
    let elapsed = start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    let mut reached = Vec::new();
    let opened_at = *opened.lock().unwrap();
    for task in tasks {
        let seen = task.await.unwrap();
        all.extend(seen.round_trips);
        if let (Some(saw), Some(opened)) = (seen.saw_open, opened_at) {
            reached.push(saw.saturating_duration_since(opened));
        }
    }
    all.sort();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    let others = case.processes.saturating_sub(1);
    Outcome {
        interval,
        rate: all.len() as f64 / elapsed,
        cpu_share: (cpu_after - cpu_before) / elapsed,
        p50: pct(0.50),
        p99: pct(0.99),
        reached_all: (others > 0 && reached.len() >= others)
            .then(|| reached.iter().copied().max().unwrap_or_default()),
        reached: reached.len(),
    }
}

fn main() {
    let sizes: Vec<usize> = std::env::var("FLEET_SIZES")
        .unwrap_or_else(|_| "1,10,100,1000".into())
        .split(',')
        .map(|n| n.trim().parse().expect("FLEET_SIZES: numbers"))
        .collect();
    let seconds: f64 = std::env::var("FLEET_SECONDS")
        .ok()
        .map_or(5.0, |s| s.parse().expect("FLEET_SECONDS: a number"));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = start_server();
    println!(
        "fleet_scale: {seconds} s per case, redis-server at {}",
        server.url
    );
    println!();
    println!(
        "| design | processes | interval | round trips/s | Redis CPU (share of a core) | p50 | p99 | breaker reached every other process |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for &processes in &sizes {
        for design in [Design::Old, Design::OldStretched, Design::New] {
            let case = Case {
                design,
                processes,
                seconds,
            };
            let key = format!("{:?}-{processes}", design).to_lowercase();
            let out = runtime.block_on(run(&server, &case, &key));
            let reach = match (processes, out.reached_all) {
                (1, _) => "—".to_string(),
                (_, Some(d)) => format!("{:.0} ms", d.as_secs_f64() * 1e3),
                (_, None) => format!("{} of {} within the run", out.reached, processes - 1),
            };
            println!(
                "| {} | {} | {:.0} ms | {:.0} | {:.1}% | {:.2} ms | {:.2} ms | {} |",
                design.name(),
                processes,
                out.interval.as_secs_f64() * 1e3,
                out.rate,
                out.cpu_share * 100.0,
                out.p50.as_secs_f64() * 1e3,
                out.p99.as_secs_f64() * 1e3,
                reach,
            );
        }
    }
}
