//! End-to-end tests of `retry-runtime`'s public surface live in `tests/`.
