#!/usr/bin/env bash
# End-to-end: docker and containerd with runsc-rs as their OCI runtime.
#
# Installs Debian's docker.io, containerd and busybox-static if missing,
# builds and installs runsc-rs (/usr/local/bin/runsc-rs), registers it in
# /etc/docker/daemon.json (`runsc-rs install`) with "bridge": "none" and
# "iptables": false, starts containerd and dockerd if they are not
# running (and stops only those it started), imports a busybox image made
# from busybox-static (no network), and checks docker run/exec/ps/logs/
# kill/stop/rm, ctr run with runsc-rs, and a pod through containerd's CRI
# with the runtime handler runsc-rs (e2e/cri-client). Each check prints PASS or FAIL
# with a reason; the last line is "N passed, M failed"; the exit status is
# non-zero if any check failed.
#
# Environment: RUNSC_RS_BIN (use this binary, skip the build),
# KEEP_DAEMONS=1 (leave the daemons it started running), E2E_TIMEOUT
# (seconds per docker command, default 60).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
export DEBIAN_FRONTEND=noninteractive
T=${E2E_TIMEOUT:-60}
IMG=runsc-rs-busybox:latest
RT=runsc-rs
BIN=/usr/local/bin/runsc-rs
DOCKER_ROOT_STATE=/run/docker/runtime-runc/moby
WORK=$(mktemp -d /tmp/runsc-rs-e2e.XXXXXX)
# The CRI checks run a containerd inside this network namespace, so the
# pods' CNI bridge and veths live there, never on the host.
E2E_NETNS=runsc-rs-e2e-$$
CNI_NET=runsc-rs-e2e
STARTED_PIDS=()
NPASS=0
NFAIL=0

log() { echo "== $*"; }
pass() { echo "PASS: $1"; NPASS=$((NPASS + 1)); }
fail() { echo "FAIL: $1 -- $2"; NFAIL=$((NFAIL + 1)); }
# check NAME CONDITION-RESULT REASON: PASS if the condition (a command) holds.
check() {
  local name=$1 reason=$2
  shift 2
  if "$@"; then pass "$name"; else fail "$name" "$reason"; fi
}
# cap CMD...: run with a timeout; sets OUT (stdout+stderr, \r removed) and RC.
cap() {
  set +e
  OUT=$(timeout --kill-after=5 "$T" "$@" 2>&1)
  RC=$?
  set -e
  OUT=${OUT//$'\r'/}
}
short() { printf '%s' "$1" | tr '\n' ' ' | cut -c1-300; }

# dockerd turns IPv6 off host-wide (net.ipv6.conf.*.disable_ipv6): put
# back what was there, so the machine is left as it was found.
IPV6_SYSCTLS=(net.ipv6.conf.all.disable_ipv6 net.ipv6.conf.default.disable_ipv6 net.ipv6.conf.lo.disable_ipv6)
declare -A IPV6_SAVED=()
for k in "${IPV6_SYSCTLS[@]}"; do IPV6_SAVED[$k]=$(sysctl -n "$k" 2>/dev/null || true); done

cleanup() {
  local rc=$?
  set +e
  for c in $(docker ps -aq --filter label=runsc-rs-e2e 2>/dev/null); do docker rm -f "$c" >/dev/null 2>&1; done
  if [ "${KEEP_DAEMONS:-0}" != 1 ]; then
    # Only what this script started, newest first, by pid.
    for ((i = ${#STARTED_PIDS[@]} - 1; i >= 0; i--)); do
      local p=${STARTED_PIDS[$i]}
      kill -TERM "$p" 2>/dev/null
      for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null
    done
  fi
  rm -rf "$WORK"
  ip netns del "$E2E_NETNS" 2>/dev/null
  rm -rf "/var/lib/cni/networks/$CNI_NET"
  for k in "${IPV6_SYSCTLS[@]}"; do
    [ -n "${IPV6_SAVED[$k]}" ] && sysctl -qw "$k=${IPV6_SAVED[$k]}"
  done
  exit "$rc"
}
trap cleanup EXIT

# --- packages -----------------------------------------------------------
need=()
[ -x /usr/sbin/dockerd ] || need+=(docker.io)
command -v containerd >/dev/null 2>&1 && command -v ctr >/dev/null 2>&1 || need+=(containerd)
[ -x /bin/busybox ] || need+=(busybox-static)
[ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)
if [ "${#need[@]}" -gt 0 ]; then
  log "installing ${need[*]}"
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi

# --- runsc-rs -----------------------------------------------------------
if [ -n "${RUNSC_RS_BIN:-}" ]; then
  SRC=$RUNSC_RS_BIN
else
  log "building runsc-rs"
  (cd "$REPO" && cargo build --release -p runsc-cli)
  SRC=${CARGO_TARGET_DIR:-$REPO/target}/release/runsc-rs
fi
# The CRI client (crictl is not packaged here): e2e/cri-client, which needs protoc.
command -v protoc >/dev/null 2>&1 || { apt-get update -qq; apt-get install -y -qq protobuf-compiler >/dev/null; }
log "building the CRI client"
(cd "$REPO/runsc-cli/e2e/cri-client" && cargo build --release --locked --target-dir "${CARGO_TARGET_DIR:-$REPO/target}/cri-client")
CRI=${CARGO_TARGET_DIR:-$REPO/target}/cri-client/release/cri-client
install -m 0755 "$SRC" "$BIN.new"
mv -f "$BIN.new" "$BIN"

# --- daemon.json: never a bridge, never iptables rules -------------------
mkdir -p /etc/docker
[ -s /etc/docker/daemon.json ] || echo '{}' >/etc/docker/daemon.json
tmp=$(mktemp /etc/docker/daemon.json.XXXXXX)
jq '. + {"bridge": "none", "iptables": false, "ip6tables": false, "ip-forward": false, "ip-masq": false}' /etc/docker/daemon.json >"$tmp"
mv -f "$tmp" /etc/docker/daemon.json
"$BIN" install --runtime "$RT"
log "daemon.json: $(jq -c . /etc/docker/daemon.json)"
[ "$(jq -r .bridge /etc/docker/daemon.json)" = none ] && [ "$(jq -r .iptables /etc/docker/daemon.json)" = false ] || {
  echo "daemon.json lost bridge=none/iptables=false" >&2
  exit 1
}

# --- daemons ------------------------------------------------------------
CTRD_SOCK=/run/containerd/containerd.sock
if ctr --address "$CTRD_SOCK" version >/dev/null 2>&1; then
  log "containerd already running"
else
  log "starting containerd"
  containerd >/var/log/runsc-rs-e2e-containerd.log 2>&1 &
  STARTED_PIDS+=($!)
  for _ in $(seq 1 100); do ctr --address "$CTRD_SOCK" version >/dev/null 2>&1 && break; sleep 0.2; done
  ctr --address "$CTRD_SOCK" version >/dev/null
fi
if docker info >/dev/null 2>&1; then
  log "dockerd already running"
  docker info --format '{{json .Runtimes}}' | grep -q "\"$RT\"" || {
    echo "the running dockerd does not know runtime $RT: restart it (or send it SIGHUP) to read /etc/docker/daemon.json" >&2
    exit 1
  }
else
  log "starting dockerd"
  dockerd --containerd "$CTRD_SOCK" >/var/log/runsc-rs-e2e-dockerd.log 2>&1 &
  STARTED_PIDS+=($!)
  for _ in $(seq 1 150); do docker info >/dev/null 2>&1 && break; sleep 0.2; done
  docker info >/dev/null || { tail -20 /var/log/runsc-rs-e2e-dockerd.log >&2; exit 1; }
fi
# Whatever happens, there must be no docker bridge.
if ip link show docker0 >/dev/null 2>&1; then
  echo "docker0 exists: refusing to go on" >&2
  exit 1
fi

# --- the busybox image (no network) ---------------------------------------
log "building $IMG from busybox-static"
R=$WORK/rootfs
mkdir -p "$R/bin" "$R/sbin" "$R/usr/bin" "$R/usr/sbin" "$R/etc" "$R/tmp" "$R/root" "$R/home/user" "$R/proc" "$R/dev" "$R/sys"
chmod 1777 "$R/tmp"
cp /bin/busybox "$R/bin/busybox"
chroot "$R" /bin/busybox --install -s
printf 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$R/etc/passwd"
printf 'root:x:0:\nuser:x:1000:\nnogroup:x:65534:\n' >"$R/etc/group"
chown 1000:1000 "$R/home/user"
tar -C "$R" -cf "$WORK/rootfs.tar" .
docker import -c 'CMD ["/bin/sh"]' -c 'ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin' "$WORK/rootfs.tar" "$IMG" >/dev/null
# The pod sandbox image: busybox's sleep, killed by StopPodSandbox.
PAUSE=runsc-rs-pause:latest
PAUSE_IMG=docker.io/library/$PAUSE
P=$WORK/pause-rootfs
mkdir -p "$P/bin"
cp /bin/busybox "$P/bin/busybox"
ln -s busybox "$P/bin/sleep"
tar -C "$P" -cf "$WORK/pause-rootfs.tar" .
docker import -c 'CMD ["/bin/sleep", "2147483647"]' "$WORK/pause-rootfs.tar" "$PAUSE" >/dev/null
docker save "$PAUSE" -o "$WORK/pause.tar"

# Every docker run: runsc-rs, no network, labelled for cleanup.
RUN=(docker run --pull=never --runtime="$RT" --network=none --label runsc-rs-e2e=1)

# --- docker checks --------------------------------------------------------
log "docker checks"
cap "${RUN[@]}" --rm "$IMG" echo hi
check "run echo" "rc=$RC out=$(short "$OUT")" test "$RC" = 0 -a "$OUT" = hi

cap "${RUN[@]}" --rm "$IMG" sh -c 'exit 3'
check "exit code 3" "rc=$RC out=$(short "$OUT")" test "$RC" = 3

cap "${RUN[@]}" --rm -i "$IMG" cat <<<"stdin-data"
check "-i stdin" "rc=$RC out=$(short "$OUT")" test "$RC" = 0 -a "$OUT" = stdin-data

cap "${RUN[@]}" --rm -t "$IMG" tty
check "-t tty" "rc=$RC out=$(short "$OUT")" bash -c '[[ $0 == /dev/pts/* ]]' "$OUT"

cap "${RUN[@]}" --rm -e FOO=bar-baz "$IMG" sh -c 'echo $FOO'
check "-e env" "rc=$RC out=$(short "$OUT")" test "$OUT" = bar-baz

cap "${RUN[@]}" --rm -w /tmp/work "$IMG" pwd
check "-w workdir" "rc=$RC out=$(short "$OUT")" test "$OUT" = /tmp/work

cap "${RUN[@]}" --rm -u 1000 "$IMG" id -u
check "-u 1000" "rc=$RC out=$(short "$OUT")" test "$OUT" = 1000

cap "${RUN[@]}" --rm --read-only "$IMG" sh -c 'echo x >/rofile && echo WROTE || echo write-failed'
check "--read-only" "rc=$RC out=$(short "$OUT")" bash -c '[[ $0 == *write-failed* && $0 != *WROTE* ]]' "$OUT"

HD=$WORK/hostdir
mkdir -p "$HD"
echo from-host >"$HD/in.txt"
cap "${RUN[@]}" --rm -v "$HD:/data" "$IMG" sh -c 'cat /data/in.txt && echo from-container >/data/out.txt'
check "-v read" "rc=$RC out=$(short "$OUT")" test "$OUT" = from-host
check "-v write reaches the host" "host has: $(cat "$HD/out.txt" 2>&1 | head -c 100)" test "$(cat "$HD/out.txt" 2>/dev/null)" = from-container

cap "${RUN[@]}" --rm --tmpfs /scratch "$IMG" sh -c 'echo t >/scratch/f && cat /scratch/f && grep -c " /scratch tmpfs" /proc/mounts'
check "--tmpfs" "rc=$RC out=$(short "$OUT")" test "$OUT" = $'t\n1'

# Limits: docker accepts them and the sandbox's cgroup has them.
cap "${RUN[@]}" -d --memory 64m --pids-limit 50 "$IMG" sleep 300
LID=$OUT
if [ "$RC" = 0 ]; then
  sleep 0.5
  LPID=$(docker inspect -f '{{.State.Pid}}' "$LID")
  mem=$(cat "/sys/fs/cgroup/memory/docker/$LID/memory.limit_in_bytes" 2>&1 || true)
  pids=$(cat "/sys/fs/cgroup/pids/docker/$LID/pids.max" 2>&1 || true)
  check "--memory 64m: cgroup limit" "memory.limit_in_bytes=$mem" test "$mem" = 67108864
  check "--memory: sandbox in the cgroup" "pid $LPID not in memory/docker/$LID/cgroup.procs" grep -qx "$LPID" "/sys/fs/cgroup/memory/docker/$LID/cgroup.procs"
  check "--pids-limit 50: cgroup limit" "pids.max=$pids" test "$pids" = 50
  docker rm -f "$LID" >/dev/null 2>&1 || true
else
  fail "--memory 64m --pids-limit 50" "rc=$RC out=$(short "$OUT")"
fi

# A detached container: exec, ps, logs, kill -s USR1, stop, rm -f.
NAME=runsc-rs-e2e-$$
cap "${RUN[@]}" -d --name "$NAME" "$IMG" sh -c 'trap "echo got-usr1; echo usr1 >/tmp/usr1" USR1; echo started; while :; do sleep 1; done'
check "run -d" "rc=$RC out=$(short "$OUT")" test "$RC" = 0
CID=$(docker inspect -f '{{.Id}}' "$NAME" 2>/dev/null || echo none)
sleep 1
cap docker exec "$NAME" sh -c 'echo exec-ok; exit 4'
check "exec output and exit code" "rc=$RC out=$(short "$OUT")" test "$RC" = 4 -a "$OUT" = exec-ok
cap docker exec -i "$NAME" cat <<<"exec-stdin"
check "exec -i" "rc=$RC out=$(short "$OUT")" test "$OUT" = exec-stdin
cap docker exec -u 1000 -w /tmp -e E=1 "$NAME" sh -c 'echo $(id -u) $(pwd) $E'
check "exec -u -w -e" "rc=$RC out=$(short "$OUT")" test "$OUT" = "1000 /tmp 1"
cap docker ps --filter "name=$NAME" --format '{{.Status}}'
check "ps status Up" "rc=$RC out=$(short "$OUT")" bash -c '[[ $0 == Up* ]]' "$OUT"
# docker top maps `ps --format json` (host pids) through the host's ps: it
# shows the sandbox process (the workload has no host pids of its own).
cap docker top "$NAME"
check "top shows the sandbox process" "rc=$RC out=$(short "$OUT")" bash -c '[[ $0 == *runsc-rs*boot* && $0 != *process_api* ]]' "$OUT"
cap docker logs "$NAME"
check "logs" "rc=$RC out=$(short "$OUT")" bash -c '[[ $0 == *started* ]]' "$OUT"
cap docker kill -s USR1 "$NAME"
ok=0
for _ in $(seq 1 50); do
  if docker logs "$NAME" 2>&1 | grep -q got-usr1; then ok=1; break; fi
  sleep 0.2
done
check "kill -s USR1 reaches the trap" "rc=$RC, logs: $(short "$(docker logs "$NAME" 2>&1)")" test $ok = 1
cap docker exec "$NAME" cat /tmp/usr1
check "USR1 trap wrote a file (seen by exec)" "rc=$RC out=$(short "$OUT")" test "$OUT" = usr1
t0=$(date +%s)
cap docker stop -t 3 "$NAME"
t1=$(date +%s)
st=$(docker inspect -f '{{.State.Status}}' "$NAME" 2>&1 || true)
check "stop (TERM, then KILL after 3s)" "rc=$RC took $((t1 - t0))s status=$st out=$(short "$OUT")" test "$RC" = 0 -a "$st" = exited -a $((t1 - t0)) -le 20
cap docker start "$NAME"
check "start again after stop" "rc=$RC out=$(short "$OUT")" test "$RC" = 0
cap docker rm -f "$NAME"
check "rm -f" "rc=$RC out=$(short "$OUT")" test "$RC" = 0
sleep 0.5
left=$(pgrep -af -- "$CID" | grep -v pgrep || true)
check "after rm -f: no runsc-rs processes" "left: $(short "$left")" test -z "$left"
check "after rm -f: no state dir" "$(ls -d "$DOCKER_ROOT_STATE/$CID" 2>&1)" test ! -e "$DOCKER_ROOT_STATE/$CID"
m=$(grep -c -- "$CID" /proc/self/mountinfo || true)
check "after rm -f: no mounts" "$m mounts name $CID" test "$m" = 0
cg=$(ls -d /sys/fs/cgroup/*/docker/"$CID" 2>/dev/null || true)
check "after rm -f: no cgroups" "left: $(short "$cg")" test -z "$cg"

# --- containerd -----------------------------------------------------------
log "containerd checks"
NS=runsc-rs-e2e
docker save "$IMG" -o "$WORK/image.tar"
cap ctr -n "$NS" image import "$WORK/image.tar"
check "ctr image import" "rc=$RC out=$(short "$OUT")" test "$RC" = 0
CIMG=docker.io/library/$IMG
cap ctr -n "$NS" run --runc-binary "$BIN" --rm "$CIMG" "e2e-$$" echo hi
check "ctr run --runc-binary runsc-rs echo" "rc=$RC out=$(short "$OUT")" test "$RC" = 0 -a "$OUT" = hi
cap ctr -n "$NS" run --runc-binary "$BIN" --rm "$CIMG" "e2e2-$$" sh -c 'exit 5'
check "ctr run exit code" "rc=$RC out=$(short "$OUT")" test "$RC" = 5
left=$(ls /run/containerd/runc/$NS 2>/dev/null || true)
check "ctr: no state left" "left: $left" test -z "$left"

# A separate containerd with the runsc-rs runtime handler (the config of
# README's "OCI runtime" section), so the system one is never restarted.
C2=$WORK/ctrd
mkdir -p "$C2"
{
  echo 'version = 2'
  echo "root = \"$C2/root\""
  echo "state = \"$C2/state\""
  echo '[grpc]'
  echo "  address = \"$C2/containerd.sock\""
  echo '[ttrpc]'
  echo "  address = \"$C2/containerd.sock.ttrpc\""
  echo '[debug]'
  echo "  address = \"$C2/debug.sock\""
  # The pod sandbox ("pause") image is a local one (no registry here).
  # restrict_oom_score_adj: the CRI asks for oomScoreAdj -998 for the pause
  # container, which needs CAP_SYS_RESOURCE; root on this VM lacks it (so
  # runc would fail the same way): cap requests at containerd's own value.
  echo '[plugins."io.containerd.grpc.v1.cri"]'
  echo "  sandbox_image = \"$PAUSE_IMG\""
  echo '  restrict_oom_score_adj = true'
  echo '[plugins."io.containerd.grpc.v1.cri".cni]'
  echo '  bin_dir = "/usr/lib/cni"'
  echo "  conf_dir = \"$C2/net.d\""
  grep -v '^version' "$REPO/runsc-cli/e2e/containerd-runsc-rs.toml" | sed "s#/usr/local/bin/runsc-rs#$BIN#"
} >"$C2/config.toml"
cap containerd --config "$C2/config.toml" config dump
check "containerd config with handler runsc-rs" "rc=$RC $(short "$(printf '%s' "$OUT" | grep -A3 'runtimes.runsc-rs' | head -8)")" \
  bash -c '[[ $0 == *"runtimes.runsc-rs"* && $0 == *"BinaryName = \"'"$BIN"'\""* ]]' "$OUT"
# Pod networks: a bridge with host-local addresses, inside E2E_NETNS (no
# gateway, no masquerading: nothing leaves the namespace).
mkdir -p "$C2/net.d"
echo '{"cniVersion": "1.0.0", "name": "'"$CNI_NET"'", "plugins": [{"type": "bridge", "bridge": "e2ebr0", "isGateway": false, "ipMasq": false, "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.231.77.0/24"}]]}}]}' >"$C2/net.d/10-e2e.conflist"
ip netns add "$E2E_NETNS"
ip -n "$E2E_NETNS" link set lo up
ip netns exec "$E2E_NETNS" containerd --config "$C2/config.toml" >"$C2/log" 2>&1 &
C2PID=$!
STARTED_PIDS+=($C2PID)
for _ in $(seq 1 100); do ctr --address "$C2/containerd.sock" version >/dev/null 2>&1 && break; sleep 0.2; done
cap ctr --address "$C2/containerd.sock" plugins ls
check "separate containerd: cri plugin loaded with the config" "rc=$RC $(grep -m3 -i 'error\|fail' "$C2/log" | cut -c1-200)" \
  bash -c '[[ $0 =~ io.containerd.grpc.v1[[:space:]]+cri[[:space:]].*ok ]]' "$OUT"
cap ctr --address "$C2/containerd.sock" -n "$NS" image import "$WORK/image.tar"
cap ctr --address "$C2/containerd.sock" -n "$NS" run --runtime io.containerd.runc.v2 --runc-binary "$BIN" --rm "$CIMG" "e2e3-$$" echo hi
check "separate containerd: ctr run echo" "rc=$RC out=$(short "$OUT")" test "$RC" = 0 -a "$OUT" = hi

# --- the CRI: a pod with runtime handler runsc-rs, as the kubelet runs it ---
log "CRI checks (runtime handler $RT)"
CRI_SOCK=$C2/containerd.sock
K8S_STATE=/run/containerd/runc/k8s.io
for img in "$WORK/image.tar" "$WORK/pause.tar"; do
  ctr --address "$CRI_SOCK" -n k8s.io image import "$img" >/dev/null
done
cri() { cap "$CRI" --socket "$CRI_SOCK" "$@"; }
cri version
check "CRI: version over the CRI socket" "rc=$RC out=$(short "$OUT")" bash -c '[[ $0 == containerd* ]]' "$OUT"
PODLOGS=$WORK/podlogs
mkdir -p "$PODLOGS"
cri runp "e2e-pod-$$" "$RT" "$PODLOGS"
POD=$OUT
check "CRI: RunPodSandbox with handler $RT" "rc=$RC out=$(short "$OUT")" test "$RC" = 0
cri pod "$POD"
check "CRI: pod ready, handler $RT" "rc=$RC out=$(short "$OUT")" test "$OUT" = "SANDBOX_READY $RT"
cap "$BIN" --root "$K8S_STATE" state "$POD"
check "CRI: the pod sandbox is a running runsc-rs container" "rc=$RC out=$(short "$OUT")" test "$(jq -r .status <<<"$OUT" 2>/dev/null)" = running
cri create "$POD" c1 "$CIMG" "$PODLOGS" -e FOO=bar -- sh -c 'echo hello $FOO; hostname; exit 7'
C1=$OUT
cri start "$C1"
check "CRI: CreateContainer + StartContainer" "rc=$RC out=$(short "$OUT")" test "$RC" = 0
cri wait "$C1" "$T"
check "CRI: the container's exit code" "rc=$RC out=$(short "$OUT")" test "$OUT" = 7
cl=$(cut -d' ' -f4- "$PODLOGS/c1.log" 2>&1 || true)
# A host-network pod has the node's hostname (as with runc).
check "CRI: container log (env, the pod's hostname)" "log: $(short "$cl")" test "$cl" = "hello bar"$'\n'"$(hostname)"
cri create "$POD" c2 "$CIMG" "$PODLOGS" -- sh -c 'trap "echo got-term; exit 0" TERM; echo up; while :; do sleep 1; done'
C2C=$OUT
cri start "$C2C"
cri state "$C2C"
check "CRI: long-running container is running" "rc=$RC out=$(short "$OUT")" test "$OUT" = "CONTAINER_RUNNING 0"
cap "$BIN" --root "$K8S_STATE" state "$C2C"
check "CRI: ... in runsc-rs" "rc=$RC out=$(short "$OUT")" test "$(jq -r .status <<<"$OUT" 2>/dev/null)" = running
cri exec "$C2C" -- sh -c 'echo exec-out; exit 3'
check "CRI: ExecSync output and exit code" "rc=$RC out=$(short "$OUT")" test "$RC" = 3 -a "$OUT" = exec-out
cri stop "$C2C" 10
cri state "$C2C"
check "CRI: StopContainer (TERM reaches the trap)" "rc=$RC out=$(short "$OUT")" test "$OUT" = "CONTAINER_EXITED 0"
check "CRI: ... and the trap ran" "log: $(short "$(cat "$PODLOGS/c2.log" 2>&1)")" grep -q got-term "$PODLOGS/c2.log"

# A pod with its own network (CNI) and UTS namespaces: the app container's
# sandbox joins the pod's netns and takes the pod's hostname from its uts
# namespace.
cri runp "e2e-netpod-$$" "$RT" "$PODLOGS" pod
NPOD=$OUT
check "CRI: RunPodSandbox with a pod network" "rc=$RC out=$(short "$OUT")" test "$RC" = 0
cri create "$NPOD" n1 "$CIMG" "$PODLOGS" -- sleep 300
N1=$OUT
cri start "$N1"
cri exec "$N1" -- hostname
check "CRI: pod network: the container has the pod's hostname" "rc=$RC out=$(short "$OUT")" test "$OUT" = "e2e-netpod-$$"
ppid_=$("$BIN" --root "$K8S_STATE" state "$NPOD" 2>/dev/null | jq -r .pid)
cpid_=$("$BIN" --root "$K8S_STATE" state "$N1" 2>/dev/null | jq -r .pid)
pns=$(readlink "/proc/$ppid_/ns/net" 2>&1 || true)
cns=$(readlink "/proc/$cpid_/ns/net" 2>&1 || true)
ens=$(ip netns exec "$E2E_NETNS" readlink /proc/self/ns/net)
check "CRI: pod network: both sandboxes in the pod's netns" "pod=$pns container=$cns containerd's=$ens" \
  bash -c '[[ $0 == net:* && $0 == "$1" && $0 != "$2" ]]' "$pns" "$cns" "$ens"
cri stopp "$NPOD"
cri rmp "$NPOD"
check "CRI: pod network: the pod is removed" "rc=$RC out=$(short "$OUT")" test "$RC" = 0

cri rm "$C1"
cri rm "$C2C"
cri stopp "$POD"
check "CRI: StopPodSandbox" "rc=$RC out=$(short "$OUT")" test "$RC" = 0
cri rmp "$POD"
check "CRI: RemovePodSandbox" "rc=$RC out=$(short "$OUT")" test "$RC" = 0
left=$(pgrep -af -- "$POD\|$NPOD" | grep -v pgrep || true)
check "CRI: no runsc-rs processes left" "left: $(short "$left")" test -z "$left"
left=$(ls "$K8S_STATE" 2>/dev/null || true)
check "CRI: no state left" "left: $left" test -z "$left"
m=$(grep -c -e "$POD" -e "$C1" -e "$C2C" -e "$NPOD" /proc/self/mountinfo || true)
check "CRI: no mounts left" "$m mounts" test "$m" = 0

kill -TERM "$C2PID" 2>/dev/null || true
for _ in $(seq 1 100); do kill -0 "$C2PID" 2>/dev/null || break; sleep 0.1; done
ctr -n "$NS" image rm "$CIMG" >/dev/null 2>&1 || true

echo "$NPASS passed, $NFAIL failed"
[ "$NFAIL" = 0 ]
