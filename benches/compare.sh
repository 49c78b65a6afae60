#!/usr/bin/env bash
# Instruction counts of two checkouts, side by side in one run, the two
# binaries alternating variant by variant (callgrind counts instructions,
# which do not drift with the machine's load).
# Usage: bash benches/compare.sh BEFORE_DIR AFTER_DIR
#   (e.g. git worktree add /tmp/before <rev>; bash benches/compare.sh /tmp/before .)
# Since `a462318` the success path runs on the system's clock (before, on
# tokio's paused clock, whose reads cost a budget's and a breaker's path
# 48 more): against an older checkout compare the retry path only, or the
# success path of the variants that read no clock.
set -euo pipefail
before=$(cd "$1" && pwd)
after=$(cd "$2" && pwd)
bin() { # the instructions benchmark of a checkout, built
    (cd "$1" && CARGO_TARGET_DIR="$1/target" cargo bench -q -p benches --bench instructions --no-run 2>/dev/null)
    ls -t "$1"/target/release/deps/instructions-* | grep -v '\.d$' | head -1
}
B=$(bin "$before")
A=$(bin "$after")
refs() { valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 | sed -n 's/.*refs: *//p' | tr -d ,; }
echo "instructions per call (100,000 calls, the harness's own count subtracted)"
printf '%-8s %-10s %10s %10s\n' path variant before after
for path in success retry; do
    b0=$(refs "$B" $path none); a0=$(refs "$A" $path none)
    for v in hand attribute protected; do
        b=$(refs "$B" $path $v); a=$(refs "$A" $path $v)
        printf '%-8s %-10s %10s %10s\n' $path $v $(((b - b0) / 100000)) $(((a - a0) / 100000))
    done
done
echo "future sizes, before:"; "$B" | tail -n +2
echo "future sizes, after:"; "$A" | tail -n +2
