#!/usr/bin/env bash
# Scores every available runtime with the conformance suite and prints the
# comparison table. Results go to syscall-tests/results/<runtime>-<date>.json.
#
#   syscall-tests/score.sh [--timeout SECS] [--filter P]
#
# Runtimes: native (always), runc (/usr/sbin/runc or RUNC=...), gVisor
# (/usr/bin/runsc or RUNSC=..., with --network=none), and runsc-rs when its
# binary can be found (RUNSC_RS=... or PATH or target/). Needs root for the
# OCI runtimes.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/.."
args=("$@")
date="$(date -u +%F)"
out="$here/results"
mkdir -p "$out"
cargo build -q -p syscall-tests || exit 1
bin="${CARGO_TARGET_DIR:-$PWD/target}/debug/syscall-tests"

files=()
run() { # NAME RUNTIME [EXTRA...]
    local name="$1" rt="$2"; shift 2
    local json="$out/$name-$date.json"
    echo "== $name ($rt)" >&2
    local start=$SECONDS
    "$bin" run --runtime "$rt" "${args[@]}" --json "$json" "$@" | tail -n 1
    echo "   took $((SECONDS - start))s" >&2
    [ -f "$json" ] && files+=("$json")
}

run native native
RUNC="${RUNC:-/usr/sbin/runc}"
[ -x "$RUNC" ] && run runc "oci:$RUNC"
RUNSC="${RUNSC:-/usr/bin/runsc}"
[ -x "$RUNSC" ] && run gvisor "oci:$RUNSC" -- --network=none
rs="${RUNSC_RS:-$(command -v runsc-rs || true)}"
for p in "$rs" target/release/runsc-rs target/debug/runsc-rs; do
    if [ -n "$p" ] && [ -x "$p" ]; then
        run runsc-rs runsc-rs --runsc-rs "$p"
        break
    fi
done

echo
"$bin" compare --cases "${files[@]}"
