//! Compile-time checks: each mistake in an attribute is an error at the
//! offending token, with the valid choices. The `.stderr` files were written
//! with the toolchain pinned in `rust-toolchain.toml`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
