//! Runnable examples (`cargo run -p examples --example <name>`) and the
//! fault-injecting HTTP server that the demo and the HTTP tests run against.

pub mod fault_server;
pub mod fleet;
pub mod occ;
pub mod pacing;
pub mod redis_server;
pub mod sse;
pub mod storm;

/// A `reqwest` client for the demo and the tests. The process's TLS provider
/// (rustls with ring) is installed first, as `reqwest` with
/// `rustls-no-provider` expects.
pub fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .build()
        .expect("a reqwest client with the ring provider")
}
