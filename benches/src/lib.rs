//! Criterion benchmarks: `cargo bench -p benches`.
