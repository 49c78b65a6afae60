#!/usr/bin/env bash
# The build cost of the attribute: four binary crates with tokio (rt, macros,
# time) and 200 small async fns, built cold and after a one-line edit.
#   plain:     tokio only
#   runtime:   retry-runtime added, the functions left plain
#   annotated: every function under #[retry(...)]
#   hand:      tokio only, every function a hand-written retry loop (3
#              attempts, 10 ms doubling, on a connection reset; no jitter,
#              no statistics, no other rules): retrying without the library
# Usage: [PASSES=1] [TOP=10] bash benches/build_cost/run.sh [N=200] [FEATURES=]
#    or: BEFORE=DIR [ROUNDS=6] bash benches/build_cost/run.sh [N=200]
# Prints wall and CPU seconds per build, and the slowest units (cargo --timings);
# with PASSES=1 also rustc's slowest passes for the plain, the annotated and
# the hand-written crate (-Z time-passes).
# With BEFORE (another checkout, e.g. `git worktree add /tmp/before REV`):
# only the annotated crate, once against BEFORE's runtime and once against
# this one, each built once, then ROUNDS rounds that rebuild the user's crate
# alone against each in turn (not incremental: user + system CPU), and an
# edit (incremental, wall): single cold builds drift by several CPU-s here,
# alternating rebuilds of the same crate do not.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
n=${1:-200}
features=${FEATURES:-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

make_crate() { # name, with runtime (0/1), functions: plain 0, annotated 1, hand-written loop 2[, checkout]
    local dir=$work/$1 runtime=${4:-$repo}
    mkdir -p "$dir/src"
    {
        echo "[package]"
        echo "name = \"$1\""
        echo 'version = "0.1.0"'
        echo 'edition = "2024"'
        echo '[dependencies]'
        echo 'tokio = { version = "1", features = ["rt", "macros", "time"] }'
        if [ "$2" = 1 ]; then
            echo "retry-runtime = { path = \"$runtime/retry-runtime\", features = [$features] }"
        fi
        echo '[workspace]'
    } > "$dir/Cargo.toml"
    {
        [ "$3" = 1 ] && echo 'use retry_runtime::retry;'
        for i in $(seq 0 $((n - 1))); do
            body="*n += $i; if *n % 7 == 0 { return Err(std::io::ErrorKind::ConnectionReset.into()); } Ok(*n)"
            [ "$3" = 1 ] && echo '#[retry(attempts = 3, wait = exponential(initial = 10ms))]'
            if [ "$3" = 2 ]; then
                echo "pub async fn f$i(n: &mut u32) -> std::io::Result<u32> {"
                echo "    let mut tries = 0u32;"
                echo "    let mut delay = std::time::Duration::from_millis(10);"
                echo "    loop {"
                echo "        tries += 1;"
                echo "        let r: std::io::Result<u32> = async { $body }.await;"
                echo "        match r {"
                echo "            Ok(v) => return Ok(v),"
                echo "            Err(e) if tries >= 3 || e.kind() != std::io::ErrorKind::ConnectionReset => return Err(e),"
                echo "            Err(_) => { tokio::time::sleep(delay).await; delay = (delay * 2).min(std::time::Duration::from_secs(60)); }"
                echo "        }"
                echo "    }"
                echo "}"
            else
                echo "pub async fn f$i(n: &mut u32) -> std::io::Result<u32> { $body }"
            fi
        done
        echo '#[tokio::main(flavor = "current_thread")]'
        echo 'async fn main() {'
        echo '    let mut n = 1;'
        echo '    let mut s = 0;'
        for i in $(seq 0 $((n - 1))); do
            echo "    s += f$i(&mut n).await.unwrap_or(0);"
        done
        echo '    println!("{s}");'
        echo '}'
    } > "$dir/src/main.rs"
    # The lock file is shared, so that all three resolve the same versions.
    cp "$repo/Cargo.lock" "$dir/Cargo.lock" 2>/dev/null || true
}

measure() { # name
    local dir=$work/$1
    # Each crate builds into its own target directory, whatever the
    # environment or a cargo config says (a global CARGO_TARGET_DIR would
    # share one between the crates and make the "cold" builds warm, and put
    # the --timings report elsewhere).
    export CARGO_TARGET_DIR=$dir/target CARGO_BUILD_BUILD_DIR=$dir/target
    (cd "$dir" && cargo fetch -q 2>/dev/null || true)
    /usr/bin/time -f "%e %U %S" -o "$work/$1.time" \
        cargo build -q -j 2 --timings --manifest-path "$dir/Cargo.toml" 2>/dev/null
    read -r wall user sys < "$work/$1.time"
    echo "$1 cold: wall ${wall}s, cpu $(echo "$user + $sys" | bc)s"
    echo "// edit" >> "$dir/src/main.rs"
    /usr/bin/time -f "%e %U %S" -o "$work/$1.time" \
        cargo build -q -j 2 --manifest-path "$dir/Cargo.toml" 2>/dev/null
    read -r wall user sys < "$work/$1.time"
    echo "$1 after a one-line edit: wall ${wall}s, cpu $(echo "$user + $sys" | bc)s"
    # Per-unit durations from the --timings report (the slowest ten).
    local html
    html=$dir/target/cargo-timings/cargo-timing.html
    python3 - "$html" <<'PY'
import json, re, sys
text = open(sys.argv[1]).read()
m = re.search(r"const UNIT_DATA = (\[.*?\]);", text, re.S)
units = json.loads(m.group(1)) if m else []
units.sort(key=lambda u: -u["duration"])
print("    " + ", ".join(f'{u["name"]}{"(build)" if u.get("target","").strip()=="build-script" else ""} {u["duration"]:.2f}s' for u in units[:int(__import__("os").environ.get("TOP","10"))]))
PY
}

passes() { # name: rustc's own passes for the crate alone (not incremental)
    local dir=$work/$1 out=$work/$1.passes
    echo "// passes" >> "$dir/src/main.rs"
    # -Z time-passes on the stable compiler, for this crate only
    # (RUSTC_BOOTSTRAP=<crate>: the dependencies, proc-macro2's probe
    # included, build as they do for users); its own target directory.
    if ! (cd "$dir" && CARGO_TARGET_DIR="$dir/target" CARGO_BUILD_BUILD_DIR="$dir/target" \
        CARGO_INCREMENTAL=0 RUSTC_BOOTSTRAP="$1" \
        cargo rustc -q -j 2 --manifest-path "$dir/Cargo.toml" -- -Z time-passes) > /dev/null 2> "$out"; then
        echo "$1 passes: cargo rustc failed:"; tail -20 "$out"; return 1
    fi
    # The slowest passes (nested ones included, so they do not add up).
    sed -n 's/^time: *\([0-9.]*\);.*\t\(.*\)$/\1 \2/p' "$out" | sort -rn |
        awk -v c="$1" -v top="${TOP:-10}" 'BEGIN { printf "%s passes:", c }
            NR <= top { printf " %s %ss,", $2, $1 } END { print "" }'
}

ab() { # the annotated crate against BEFORE's runtime and this one, alternating
    local rounds=${ROUNDS:-6} before
    before=$(cd "$BEFORE" && pwd)
    make_crate before 1 1 "$before"
    make_crate after 1 1
    for c in before after; do
        (cd "$work/$c" && CARGO_TARGET_DIR="$work/$c/target" cargo build -q -j 2)
    done
    for r in $(seq 1 "$rounds"); do
        for c in before after; do
            local dir=$work/$c
            export CARGO_TARGET_DIR=$dir/target CARGO_BUILD_BUILD_DIR=$dir/target
            echo "// rebuild $r" >> "$dir/src/main.rs"
            /usr/bin/time -f "%e %U %S" -o "$work/$c.time" env CARGO_INCREMENTAL=0 \
                cargo build -q -j 2 --manifest-path "$dir/Cargo.toml"
            read -r _ user sys < "$work/$c.time"
            # An incremental build first, so that the edit below has a base.
            echo "// base $r" >> "$dir/src/main.rs"
            cargo build -q -j 2 --manifest-path "$dir/Cargo.toml"
            echo "// edit $r" >> "$dir/src/main.rs"
            /usr/bin/time -f "%e" -o "$work/$c.edit" cargo build -q -j 2 --manifest-path "$dir/Cargo.toml"
            echo "round $r $c: the user's crate $(echo "$user + $sys" | bc) CPU-s, an edit $(cat "$work/$c.edit") s"
        done
    done
}

if [ -n "${BEFORE:-}" ]; then
    ab
    exit 0
fi

make_crate plain 0 0
make_crate runtime 1 0
make_crate annotated 1 1
make_crate hand 0 2
for c in plain runtime annotated hand; do measure "$c"; done
# PASSES=1: where the user's crate's compile time goes, plain, annotated and
# hand-written.
if [ "${PASSES:-0}" = 1 ]; then
    for c in plain annotated hand; do passes "$c"; done
fi
