#!/usr/bin/env bash
# Startup cost of runsc-rs vs runc vs gVisor's runsc:
#  1. `docker run --rm --runtime=R IMG /bin/true`, alternating runtimes;
#  2. create + start + delete -f of a bare busybox bundle with each binary.
# Prints the median of each (ms) and the ratios to runc. Needs dockerd
# running with the runtimes registered (runsc-cli/e2e/docker.sh does it,
# with KEEP_DAEMONS=1) and the image runsc-rs-busybox:latest. Registers
# gVisor as "runsc" (runtimeArgs ["--network=none"]) in daemon.json if it
# is installed and missing; that needs a dockerd restart (or SIGHUP) to
# take effect, else gVisor is left out of the docker numbers.
#
# Usage: docker-bench.sh [ROUNDS]   (default 10)
set -euo pipefail
N=${1:-10}
IMG=${IMG:-runsc-rs-busybox:latest}
RSRS=${RUNSC_RS:-/usr/local/bin/runsc-rs}
WORK=$(mktemp -d /tmp/runsc-rs-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

ms() { date +%s%N; }
median() { { grep . || true; } | sort -n | awk '{a[NR]=$1} END {if (NR==0) print "nan"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "nan" }'; }

runtimes=(runsc-rs runc)
if command -v runsc >/dev/null 2>&1; then
  if ! jq -e '.runtimes.runsc' /etc/docker/daemon.json >/dev/null 2>&1; then
    tmp=$(mktemp /etc/docker/daemon.json.XXXXXX)
    jq --arg p "$(command -v runsc)" '.runtimes.runsc = {"path": $p, "runtimeArgs": ["--network=none"]}' /etc/docker/daemon.json >"$tmp"
    mv -f "$tmp" /etc/docker/daemon.json
    echo "registered gVisor as runtime runsc in daemon.json (restart dockerd or SIGHUP it to use it)" >&2
  fi
  if docker info --format '{{json .Runtimes}}' | grep -q '"runsc"'; then runtimes+=(runsc); fi
fi

echo "== docker run --rm IMG /bin/true, $N alternating rounds"
declare -A dock
for ((i = 0; i < N; i++)); do
  for r in "${runtimes[@]}"; do
    t0=$(ms)
    if docker run --rm --pull=never --network=none --runtime="$r" "$IMG" /bin/true >/dev/null 2>&1; then
      dock[$r]+="$((($(ms) - t0) / 1000000)) "
    else
      echo "  $r: docker run failed" >&2
    fi
  done
done
declare -A dmed
for r in "${runtimes[@]}"; do dmed[$r]=$(tr ' ' '\n' <<<"${dock[$r]:-}" | median); done
for r in "${runtimes[@]}"; do
  printf '  %-9s median %6s ms   x runc %s\n' "$r" "${dmed[$r]}" "$(ratio "${dmed[$r]}" "${dmed[runc]}")"
done

echo "== bundle create+start+delete -f (/bin/true), $N alternating rounds"
B=$WORK/bundle
mkdir -p "$B/rootfs/bin" "$B/rootfs/proc" "$B/rootfs/dev" "$B/rootfs/tmp"
cp /bin/busybox "$B/rootfs/bin/busybox"
ln -s busybox "$B/rootfs/bin/true"
(cd "$B" && runc spec)
jq '.process.args = ["/bin/true"] | .process.terminal = false | .root.readonly = true
    | .linux.namespaces |= map(select(.type != "network"))' "$B/config.json" >"$B/c.json"
mv "$B/c.json" "$B/config.json"
declare -A bin=([runsc-rs]="$RSRS" [runc]=runc)
# gVisor's delete spells it -force.
declare -A delf=([runsc-rs]=-f [runc]=-f [runsc]=-force)
brts=(runsc-rs runc)
if command -v runsc >/dev/null 2>&1; then bin[runsc]="runsc --network=none"; brts+=(runsc); fi
declare -A bund
for ((i = 0; i < N; i++)); do
  for r in "${brts[@]}"; do
    id=bench-$r-$i-$$
    root=$WORK/root-$r
    t0=$(ms)
    if ${bin[$r]} --root "$root" create --bundle "$B" "$id" </dev/null >/dev/null 2>&1 &&
      ${bin[$r]} --root "$root" start "$id" >/dev/null 2>&1 &&
      ${bin[$r]} --root "$root" delete ${delf[$r]} "$id" >/dev/null 2>&1; then
      bund[$r]+="$((($(ms) - t0) / 1000000)) "
    else
      echo "  $r: run failed" >&2
      ${bin[$r]} --root "$root" delete ${delf[$r]} "$id" >/dev/null 2>&1 || true
    fi
  done
done
declare -A bmed
for r in "${brts[@]}"; do bmed[$r]=$(tr ' ' '\n' <<<"${bund[$r]:-}" | median); done
for r in "${brts[@]}"; do
  printf '  %-9s median %6s ms   x runc %s\n' "$r" "${bmed[$r]}" "$(ratio "${bmed[$r]}" "${bmed[runc]}")"
done
