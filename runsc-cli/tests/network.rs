//! `--network=sandbox`: the sandbox takes over a network namespace's veth
//! and talks to another namespace through it (TCP both ways, UDP both
//! ways, the interface ioctls); `--network=none` in the same namespace
//! stays loopback-only. Each test makes its own pair of namespaces joined
//! by a veth (10.211.N.1 the peer, 10.211.N.2 the sandbox's), deleted at
//! the end even on failure. Needs root and `ip`; skipped otherwise.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use common::*;

const DEADLINE: Duration = Duration::from_secs(30);

/// Two network namespaces joined by a veth pair; deleted on drop.
struct Netns {
    /// Where the sandbox runs, with `SANDBOX_IP` on its end of the veth.
    sb: String,
    /// The peer, with `peer_ip`.
    peer: String,
    sb_if: String,
    peer_ip: String,
    sb_ip: String,
}

fn ip_cmd(args: &[&str]) -> Output {
    Command::new("ip").args(args).output().expect("running ip")
}

fn ip_ok(args: &[&str]) {
    let o = ip_cmd(args);
    assert!(o.status.success(), "ip {args:?}: {}", String::from_utf8_lossy(&o.stderr));
}

impl Netns {
    /// None (and a message) when this cannot run here.
    fn new() -> Option<Netns> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: needs root (network namespaces, packet sockets)");
            return None;
        }
        if Command::new("ip").arg("-V").output().is_err() {
            eprintln!("skipped: needs iproute2's `ip`");
            return None;
        }
        need_busybox();
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let pid = std::process::id() % 100_000;
        let ns = Netns {
            sb: format!("rsrs-{pid}-{n}-sb"),
            peer: format!("rsrs-{pid}-{n}-peer"),
            sb_if: format!("rv{pid}s{n}"),
            peer_ip: format!("10.211.{n}.1"),
            sb_ip: format!("10.211.{n}.2"),
        };
        if !ip_cmd(&["netns", "add", &ns.sb]).status.success() {
            eprintln!("skipped: cannot create a network namespace");
            return None;
        }
        // From here on, Drop cleans up whatever was made.
        ip_ok(&["netns", "add", &ns.peer]);
        let peer_if = format!("rv{pid}p{n}");
        ip_ok(&["link", "add", &ns.sb_if, "netns", &ns.sb, "type", "veth", "peer", "name", &peer_if, "netns", &ns.peer]);
        ip_ok(&["-n", &ns.sb, "addr", "add", &format!("{}/24", ns.sb_ip), "dev", &ns.sb_if]);
        ip_ok(&["-n", &ns.sb, "link", "set", &ns.sb_if, "up"]);
        ip_ok(&["-n", &ns.sb, "link", "set", "lo", "up"]);
        ip_ok(&["-n", &ns.peer, "addr", "add", &format!("{}/24", ns.peer_ip), "dev", &peer_if]);
        ip_ok(&["-n", &ns.peer, "link", "set", &peer_if, "up"]);
        ip_ok(&["-n", &ns.peer, "link", "set", "lo", "up"]);
        Some(ns)
    }

    /// `runsc-rs do --network MODE -- argv` inside the sandbox's netns
    /// (killed after a minute if it hangs).
    fn sandbox(&self, mode: &str, argv: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.sb, "timeout", "-s", "KILL", "60", runsc(), "--platform", &platform(), "do", "--network", mode, "--"])
            .args(argv);
        c.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        c
    }

    /// `argv` inside the peer's netns (killed after a minute).
    fn peer(&self, argv: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.peer, "timeout", "-s", "KILL", "60"]).args(argv);
        c.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        c
    }

    /// Wait until the peer listens on TCP `port` (/proc/net/tcp or tcp6).
    fn wait_peer_listening(&self, port: u16) {
        let want = format!(":{port:04X}");
        let deadline = Instant::now() + DEADLINE;
        loop {
            let o = self.peer(&["cat", "/proc/net/tcp", "/proc/net/tcp6"]).output().unwrap();
            let table = String::from_utf8_lossy(&o.stdout).into_owned();
            let found = table.lines().any(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                f.len() > 3 && f[1].ends_with(&want) && f[3] == "0A"
            });
            if found {
                return;
            }
            assert!(Instant::now() < deadline, "nothing listens on port {port} in the peer:\n{table}");
            std::thread::yield_now();
        }
    }

    /// The IPv4 addresses the host kernel has on the sandbox's veth end.
    fn host_addrs(&self) -> String {
        stdout(&ip_cmd(&["-n", &self.sb, "-4", "addr", "show", "dev", &self.sb_if]))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting a namespace deletes its end of the veth, and the pair.
        let _ = ip_cmd(&["netns", "del", &self.sb]);
        let _ = ip_cmd(&["netns", "del", &self.peer]);
    }
}

fn finish(c: Child) -> Output {
    c.wait_with_output().expect("waiting")
}

fn out_err(o: &Output) -> String {
    format!("status {:?}\nstdout:\n{}\nstderr:\n{}", o.status, String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// A server in the sandbox answers a client in the peer's namespace, and
/// the sandbox's ifconfig shows the copied interface.
#[test]
fn tcp_server_in_sandbox_reached_from_peer() {
    let Some(ns) = Netns::new() else { return };
    let script = "busybox ifconfig 2>/dev/null; busybox nc -l -p 7100 -e /bin/busybox sh -c 'read l; echo got:$l'";
    let sb = ns.sandbox("sandbox", &[BUSYBOX, "sh", "-c", script]).spawn().unwrap();
    // Connect until the sandbox listens (the host kernel refuses until the
    // address is taken over; then SYNs wait for the sandbox's stack).
    let deadline = Instant::now() + DEADLINE;
    let reply = loop {
        let mut c = ns.peer(&[BUSYBOX, "nc", &ns.sb_ip, "7100"]);
        c.stdin(Stdio::piped());
        let mut child = c.spawn().unwrap();
        {
            use std::io::Write;
            let mut si = child.stdin.take().unwrap();
            si.write_all(b"ping-from-peer\n").unwrap();
        }
        let o = finish(child);
        if o.status.success() && !o.stdout.is_empty() {
            break stdout(&o);
        }
        assert!(Instant::now() < deadline, "never connected: {}", out_err(&o));
    };
    assert_eq!(reply, "got:ping-from-peer\n");
    let o = finish(sb);
    let out = ok(o);
    // ifconfig (SIOCGIFCONF/SIOCGIF*): lo and the veth with its address
    // and MAC.
    assert!(out.contains("lo ") && out.contains("inet addr:127.0.0.1"), "{out}");
    assert!(out.contains(&ns.sb_if) && out.contains(&format!("inet addr:{}", ns.sb_ip)) && out.contains("HWaddr"), "{out}");
    assert!(out.contains("Mask:255.255.255.0") && out.contains("MTU:1500"), "{out}");
    // The host kernel no longer has the address.
    assert!(!ns.host_addrs().contains(&ns.sb_ip), "{}", ns.host_addrs());
}

/// A client in the sandbox reaches a server in the peer's namespace.
#[test]
fn tcp_client_in_sandbox_reaches_peer() {
    let Some(ns) = Netns::new() else { return };
    let srv = ns.peer(&[BUSYBOX, "nc", "-l", "-p", "7200", "-e", BUSYBOX, "sh", "-c", "read l; echo got:$l"]).spawn().unwrap();
    ns.wait_peer_listening(7200);
    let script = format!("echo ping-from-sandbox | busybox nc {} 7200", ns.peer_ip);
    let out = ok(ns.sandbox("sandbox", &[BUSYBOX, "sh", "-c", &script]).output().unwrap());
    assert_eq!(out, "got:ping-from-sandbox\n");
    assert!(finish(srv).status.success());
}

const UDP_C: &str = r#"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
/* udp serve PORT: print "ready", take one datagram, answer "echo:MSG" to
   its sender, print "MSG from IP".
   udp ask IP PORT MSG: send MSG, print the answer and who sent it.
   Receiving gives up after 30 s. */
int main(int argc, char **argv) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct timeval tv = {30, 0};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in a; memset(&a, 0, sizeof a); a.sin_family = AF_INET;
    char buf[2048]; struct sockaddr_in from; socklen_t fl = sizeof from;
    if (argc == 3 && !strcmp(argv[1], "serve")) {
        a.sin_port = htons(atoi(argv[2]));
        if (bind(s, (void *)&a, sizeof a)) { perror("bind"); return 1; }
        printf("ready\n"); fflush(stdout);
        ssize_t n = recvfrom(s, buf, 1000, 0, (void *)&from, &fl);
        if (n < 0) { perror("recvfrom"); return 1; }
        buf[n] = 0;
        char out[1100]; snprintf(out, sizeof out, "echo:%s", buf);
        if (sendto(s, out, strlen(out), 0, (void *)&from, fl) < 0) { perror("sendto"); return 1; }
        printf("%s from %s\n", buf, inet_ntoa(from.sin_addr));
        return 0;
    }
    if (argc == 5 && !strcmp(argv[1], "ask")) {
        a.sin_port = htons(atoi(argv[3]));
        inet_pton(AF_INET, argv[2], &a.sin_addr);
        if (sendto(s, argv[4], strlen(argv[4]), 0, (void *)&a, sizeof a) < 0) { perror("sendto"); return 1; }
        ssize_t n = recvfrom(s, buf, sizeof buf - 1, 0, (void *)&from, &fl);
        if (n < 0) { perror("recvfrom"); return 1; }
        buf[n] = 0;
        printf("%s from %s\n", buf, inet_ntoa(from.sin_addr));
        return 0;
    }
    return 2;
}
"#;

/// UDP both ways: the peer asks a server in the sandbox, which answers;
/// then a client in the sandbox asks a server in the peer.
#[test]
fn udp_both_ways() {
    let Some(ns) = Netns::new() else { return };
    let udp = cc("udp", UDP_C);
    let udp = udp.to_str().unwrap();
    // One sandbox run: first serve, then ask the peer (the address is
    // taken over once per namespace).
    let mut peer_srv = ns.peer(&[udp, "serve", "7301"]).spawn().unwrap();
    let mut peer_lines = BufReader::new(peer_srv.stdout.take().unwrap()).lines();
    assert_eq!(peer_lines.next().unwrap().unwrap(), "ready");
    let script = format!("{udp} serve 7300 && {udp} ask {} 7301 hello-peer", ns.peer_ip);
    let mut sb = ns.sandbox("sandbox", &[BUSYBOX, "sh", "-c", &script]).spawn().unwrap();
    let mut lines = BufReader::new(sb.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "ready");
    let o = ns.peer(&[udp, "ask", &ns.sb_ip, "7300", "hello-sandbox"]).output().unwrap();
    assert_eq!(ok(o), format!("echo:hello-sandbox from {}\n", ns.sb_ip));
    assert_eq!(lines.next().unwrap().unwrap(), format!("hello-sandbox from {}", ns.peer_ip));
    assert_eq!(lines.next().unwrap().unwrap(), format!("echo:hello-peer from {}", ns.peer_ip));
    assert_eq!(peer_lines.next().unwrap().unwrap(), format!("hello-peer from {}", ns.sb_ip));
    assert!(peer_srv.wait().unwrap().success());
    let st = sb.wait().unwrap();
    assert!(st.success(), "{st:?}");
}

/// `--network none` in the same namespace: loopback only, the host's
/// address untouched; `--network host` is refused.
#[test]
fn none_is_loopback_only_and_host_is_refused() {
    let Some(ns) = Netns::new() else { return };
    let script = format!("busybox ifconfig 2>/dev/null; busybox nc {} 7400 </dev/null; echo rc=$?", ns.peer_ip);
    let o = ns.sandbox("none", &[BUSYBOX, "sh", "-c", &script]).output().unwrap();
    let all = out_err(&o);
    assert!(o.status.success(), "{all}");
    assert!(all.contains("Network is unreachable") && all.contains("rc=1"), "{all}");
    assert!(all.contains("inet addr:127.0.0.1") && !all.contains(&ns.sb_if), "{all}");
    assert!(ns.host_addrs().contains(&ns.sb_ip), "{}", ns.host_addrs());
    let o = ns.sandbox("host", &[BUSYBOX, "true"]).output().unwrap();
    assert!(!o.status.success() && out_err(&o).contains("--network=host is not supported"), "{}", out_err(&o));
}
