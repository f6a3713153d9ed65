#!/usr/bin/env bash
# Benchmarks for runsc-rs, measured against the raw ptrace round trip,
# gVisor's runsc (Debian package, --network=none) and native, in one run.
# Quote the ratios: absolute times on shared VMs are noisy.
#
#   runsc-cli/bench/bench.sh [ITERATIONS] [STARTUP_RUNS]
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-20000}
RUNS=${2:-21}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

cargo build --release -q -p runsc-cli -p platform --bins
RUNSC_RS=${CARGO_TARGET_DIR:-target}/release/runsc-rs
PTRACE_BENCH=${CARGO_TARGET_DIR:-target}/release/ptrace-bench
gcc -static -O2 -o "$out/getppid" runsc-cli/bench/getppid.c
have_gvisor=0
command -v runsc >/dev/null 2>&1 && have_gvisor=1

val() { awk -v k="$1" '$1 == k { print $2 }'; }

echo "== syscall round trip (getppid, $N calls) =="
native=$("$out/getppid" "$N" | val getppid_ns)
raw=$("$PTRACE_BENCH" "$N" 3 | val raw_sysemu_ns)
ours=$("$RUNSC_RS" --platform ptrace do -- "$out/getppid" "$N" | val getppid_ns)
echo "native            ${native} ns"
echo "raw PTRACE_SYSEMU ${raw} ns"
echo "runsc-rs ptrace   ${ours} ns"
if [ -c /dev/kvm ]; then
  kvm=$("$RUNSC_RS" --platform kvm do -- "$out/getppid" "$N" | val getppid_ns)
  echo "runsc-rs kvm      ${kvm} ns"
fi
if [ $have_gvisor = 1 ]; then
  gv=$(runsc --network=none --platform=ptrace do "$out/getppid" "$N" 2>/dev/null | val getppid_ns)
  echo "gVisor ptrace     ${gv} ns"
fi
python3 - "$ours" "$raw" "${gv:-0}" <<'PY'
import sys
ours, raw, gv = map(float, sys.argv[1:])
print(f"ratio runsc-rs/raw-sysemu {ours/raw:.2f} (goal <= 1.5)")
if gv:
    print(f"ratio gVisor-ptrace/raw-sysemu {gv/raw:.2f}")
PY

echo "== startup: do /bin/true (busybox), median of $RUNS runs, alternating =="
python3 - "$RUNSC_RS" "$RUNS" "$have_gvisor" <<'PY'
import statistics, subprocess, sys, time
runsc_rs, runs, have_gvisor = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
cmds = {"runsc-rs": [runsc_rs, "do", "--", "/bin/busybox", "true"]}
if have_gvisor:
    cmds["gVisor"] = ["runsc", "--network=none", "do", "/bin/busybox", "true"]
cmds["native"] = ["/bin/busybox", "true"]
times = {k: [] for k in cmds}
for i in range(runs):
    for k, c in cmds.items():
        t = time.perf_counter()
        r = subprocess.run(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        times[k].append(time.perf_counter() - t)
        if r.returncode != 0:
            sys.exit(f"{k} failed: {r.stderr.decode()[-500:]}")
med = {k: statistics.median(v) * 1000 for k, v in times.items()}
for k, v in med.items():
    print(f"{k:10s} {v:8.1f} ms")
if have_gvisor:
    print(f"ratio runsc-rs/gVisor startup {med['runsc-rs']/med['gVisor']:.2f} (goal < 0.25)")
PY
