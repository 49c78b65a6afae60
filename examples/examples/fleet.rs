//! Two processes share one retry budget through Redis while the API is
//! down, then the same two with a budget each: what each process saw.
//!
//! ```sh
//! cargo run -p examples --example fleet    # needs redis-server on the PATH, or REDIS_URL
//! ```
//!
//! The example starts the fault server (every request answered 503), a
//! `redis-server` on a free port (unless `REDIS_URL` names one), and runs
//! itself twice more as the fleet's processes (`examples::fleet`).

use std::process::{Command, Stdio};

use examples::fault_server::{FaultServer, Reply};
use examples::fleet::{Config, Report, run};
use examples::redis_server::RedisServer;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A process of the fleet.
    if std::env::var_os("FLEET_URL").is_some() {
        let report = run(Config::from_env()?).await?;
        println!("{}", report.line());
        return Ok(());
    }

    let server = FaultServer::start(|_| Reply::status(503, "the provider is down"));
    let (_redis, redis_url) = match std::env::var("REDIS_URL") {
        Ok(url) => (None, url),
        Err(_) => {
            let redis = RedisServer::start()?;
            let url = redis.url();
            (Some(redis), url)
        }
    };
    println!("API down at {}; Redis at {redis_url}", server.url("/"));
    println!("each process: 8 callers for 1.5 s, up to 4 attempts a call, Budget::new(0.01, 5)\n");

    for (title, redis) in [
        ("one budget shared through Redis", Some(&redis_url)),
        ("a budget per process", None),
    ] {
        println!("{title}:");
        let mut children = Vec::new();
        for _ in 0..2 {
            children.push(
                Command::new(std::env::current_exe()?)
                    .env("FLEET_URL", server.url("/v1/chat/completions"))
                    .env("FLEET_REDIS", redis.cloned().unwrap_or_default())
                    .env("FLEET_KEY", "fleet-example")
                    .env("FLEET_SCENARIO", "budget")
                    .env("FLEET_CALLERS", "8")
                    .env("FLEET_MILLIS", "1500")
                    .stdout(Stdio::piped())
                    .spawn()?,
            );
        }
        let (mut calls, mut retries) = (0, 0);
        for (i, child) in children.into_iter().enumerate() {
            let output = tokio::task::spawn_blocking(move || child.wait_with_output()).await??;
            let line = String::from_utf8_lossy(&output.stdout);
            let report =
                Report::parse(line.trim()).ok_or_else(|| format!("process {}: {line}", i + 1))?;
            let r = report.attempts - report.calls;
            println!(
                "  process {}: {} calls, {} attempts, {r} retries",
                i + 1,
                report.calls,
                report.attempts
            );
            calls += report.calls;
            retries += r;
        }
        println!(
            "  the API saw {retries} retries for {calls} calls; one budget allows {}\n",
            calls / 100 + 50
        );
    }
    Ok(())
}
