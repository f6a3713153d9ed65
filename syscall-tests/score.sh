#!/usr/bin/env bash
# Scores every available runtime with the conformance suite and prints the
# comparison table. Results go to syscall-tests/results/<runtime>-<date>.json.
#
#   syscall-tests/score.sh [--timeout SECS] [--filter P]
#
# Runtimes: native (always), runc (/usr/sbin/runc or RUNC=...), gVisor
# (/usr/bin/runsc or RUNSC=..., with --network=none), and runsc-rs when its
# binary can be found (RUNSC_RS=..., else target/, else PATH). Needs root for the
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
# This tree's build before an installed copy (which may be older).
tgt="${CARGO_TARGET_DIR:-$PWD/target}"
for p in "${RUNSC_RS:-}" "$tgt/release/runsc-rs" "$tgt/debug/runsc-rs" "$(command -v runsc-rs || true)"; do
    if [ -n "$p" ] && [ -x "$p" ]; then
        run runsc-rs runsc-rs --runsc-rs "$p"
        break
    fi
done

echo
"$bin" compare --cases "${files[@]}"
