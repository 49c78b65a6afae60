//! The attribute's compile-time errors: see `tests/ui.rs`.
