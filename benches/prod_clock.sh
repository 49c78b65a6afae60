#!/usr/bin/env bash
# The success path's instruction counts with tokio built as users build it.
# The `benches` package turns tokio's `test-util` on (the retry path runs on
# its paused clock), and with it every read of tokio's clock goes through
# the test clock's lock; an application's build reads the system's clock.
# This builds `benches/benches/instructions.rs` outside the workspace,
# without `test-util` (`--cfg prod_clock`), and counts each variant of the
# success path under callgrind, the harness's own count subtracted.
# Usage: bash benches/prod_clock.sh
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
{
    echo '[package]'
    echo 'name = "prod-clock"'
    echo 'version = "0.0.0"'
    echo 'edition = "2024"'
    echo '[[bin]]'
    echo 'name = "instructions"'
    echo "path = \"$repo/benches/benches/instructions.rs\""
    echo '[dependencies]'
    echo "retry-runtime = { path = \"$repo/retry-runtime\", features = [\"stream\", \"batch\"] }"
    echo 'tokio = { version = "1", default-features = false, features = ["rt", "rt-multi-thread", "time", "sync", "macros"] }'
    # The harness's other dependencies, as the benches package has them.
    sed -n '/^\[dev-dependencies\]/,/^\[/p' "$repo/benches/Cargo.toml" |
        grep -E '^[a-z]' | grep -vE '^(tokio|retry-runtime) '
    echo '[lints.rust]'
    echo 'unexpected_cfgs = { level = "allow" }'
    echo '[workspace]'
} > "$work/Cargo.toml"
cp "$repo/Cargo.lock" "$work/Cargo.lock"
(cd "$work" && CARGO_TARGET_DIR="$work/target" cargo rustc -q --release --bin instructions -- --cfg prod_clock)
bin=$work/target/release/instructions
refs() { valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 | sed -n 's/.*refs: *//p' | tr -d ,; }
echo "success path, instructions per call (100,000 calls), tokio without test-util"
base=$(refs "$bin" success none)
for v in direct hand attribute protected; do
    printf '%-10s %6s\n' $v $((($(refs "$bin" success $v) - base) / 100000))
done
