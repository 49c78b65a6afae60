//! A real `redis-server` on a free port of 127.0.0.1, for the fleet tests
//! and the fleet example: started, killed and started again on the same
//! port. It stops when dropped.

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `redis-server` child process (no persistence, no password).
pub struct RedisServer {
    port: u16,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts one on a free port and waits until it accepts connections.
    pub fn start() -> std::io::Result<RedisServer> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let mut server = RedisServer { port, child: None };
        server.restart()?;
        Ok(server)
    }

    /// [`RedisServer::start`] for a test that needs one: where no
    /// `redis-server` is installed, the test says so and is skipped
    /// (`None`), except under CI (`CI=true`), where a missing server is a
    /// failure (`.ci/run` installs one).
    pub fn for_test(test: &str) -> Option<RedisServer> {
        let installed = Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok();
        if !installed {
            if std::env::var("CI").is_ok_and(|ci| ci == "true") {
                panic!(
                    "{test}: redis-server is not installed, and CI=true: install it (apt-get install redis-server) or run bash .ci/run"
                );
            }
            // Straight to stderr: the test harness captures `eprintln!` of
            // a test that passes, and this must be seen.
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED {test}: it needs a redis-server, and none is installed (apt-get install redis-server, or bash .ci/run); it did not run"
            );
            return None;
        }
        Some(RedisServer::start().unwrap_or_else(|e| panic!("{test}: {e}")))
    }

    /// `redis://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Kills it (as a crash would: no shutdown, no goodbye to clients).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port (after [`RedisServer::kill`]).
    pub fn restart(&mut self) -> std::io::Result<()> {
        self.kill();
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!(
                        "cannot start redis-server ({e}); install it (apt-get install redis-server) or run bash .ci/run"
                    ),
                )
            })?;
        self.child = Some(child);
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let start = Instant::now();
        while TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_err() {
            if start.elapsed() > Duration::from_secs(10) {
                return Err(std::io::Error::other("redis-server did not start in 10 s"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
