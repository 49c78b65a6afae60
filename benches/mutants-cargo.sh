#!/usr/bin/env bash
# For cargo-mutants (as its CARGO): test the runtime's mutants against the
# integration tests of the `tests` package too. cargo-mutants 27 runs
# `cargo test --package=retry-runtime@0.1.0` for a mutant of the runtime
# (its --test-workspace did not reach the `tests` package here); this adds
# `--package=tests` and runs the real cargo.
#   CARGO="$PWD/benches/mutants-cargo.sh" cargo mutants -f FILE ...
args=()
for a in "$@"; do
    if [ "$a" = "--package=retry-runtime@0.1.0" ]; then
        args+=("--package=retry-runtime" "--package=tests")
    else
        args+=("$a")
    fi
done
exec "${REAL_CARGO:-$(rustup which cargo)}" "${args[@]}"
