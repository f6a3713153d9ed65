//! Confinement (ARCHITECTURE.md): the sandbox process of `do` runs under
//! the Sentry's seccomp filters once the workload runs, and its gofer under
//! its own filter with an empty root.

mod common;
use common::*;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

/// (Seccomp mode, number of filters) of a host process.
pub fn seccomp_of(pid: u32) -> (u32, u32) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> u32 {
        status.lines().find_map(|l| l.strip_prefix(name)).map(|v| v.trim().parse().unwrap()).unwrap_or_else(|| panic!("no {name} in {status}"))
    };
    (field("Seccomp:"), field("Seccomp_filters:"))
}

/// The child processes of `pid` (every thread's).
pub fn children(pid: u32) -> Vec<u32> {
    let mut v = Vec::new();
    for t in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap().flatten() {
        let s = std::fs::read_to_string(t.path().join("children")).unwrap_or_default();
        v.extend(s.split_whitespace().map(|x| x.parse::<u32>().unwrap()));
    }
    v
}

fn is_gofer(pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c.split(|&b| b == 0).nth(1) == Some(b"gofer"))
}

#[test]
fn do_confines_the_sentry_and_the_gofer() {
    need_busybox();
    let mut child = Command::new(runsc())
        .args(["--platform", &platform(), "do", "--", BUSYBOX, "sh", "-c", "echo ready; read x; echo got $x"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "ready\n");
    let pid = child.id();
    // The Sentry: its allow-list and the clone3 → ENOSYS filter.
    assert_eq!(seccomp_of(pid), (2, 2));
    let gofers: Vec<u32> = children(pid).into_iter().filter(|&p| is_gofer(p)).collect();
    assert_eq!(gofers.len(), 1, "children: {:?}", children(pid));
    // The gofer: its own allow-list, and nothing to see at its root.
    assert_eq!(seccomp_of(gofers[0]), (2, 1));
    let root: Vec<_> = std::fs::read_dir(format!("/proc/{}/root", gofers[0])).unwrap().collect();
    assert!(root.is_empty(), "the gofer's root holds {root:?}");
    // It still serves: the workload goes on and exits normally.
    child.stdin.take().unwrap().write_all(b"more\n").unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    let st = child.wait().unwrap();
    assert!(st.success(), "{st:?}");
    assert_eq!(rest, "got more\n");
}

#[test]
fn the_workload_still_execs_forks_and_uses_files() {
    // A busy script: fork/exec (new stubs or address spaces after the
    // filter), pipes, files through the gofer, the in-sandbox /proc.
    let out = ok(sh("for i in 1 2 3; do echo $i | cat; done; ls /bin/busybox; cat /proc/self/status | grep -c Pid; (sleep 0; echo sub) &  wait"));
    assert_eq!(out, "1\n2\n3\n/bin/busybox\n3\nsub\n");
}

#[test]
fn a_confined_gofer_serves_then_exits_cleanly_when_the_sentry_hangs_up() {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let (ours, theirs) = gofer::socketpair().unwrap();
    let raw = theirs.as_raw_fd();
    let mut cmd = Command::new(runsc());
    cmd.args(["gofer", "--root", "/", "--io-fd", "3", "--read-only"]).stdin(Stdio::null());
    // SAFETY: dup2 is async-signal-safe; `raw` is open until spawn returns.
    unsafe {
        cmd.pre_exec(move || if libc::dup2(raw, 3) < 0 { Err(std::io::Error::last_os_error()) } else { Ok(()) });
    }
    let mut child = cmd.spawn().unwrap();
    drop(theirs);
    // A reply means it serves, and so is confined.
    let client = gofer::Client::new(ours);
    let (root, _) = client.attach().unwrap();
    let (_, st) = client.walk(root, b"etc").unwrap();
    assert_eq!(st.mode & libc::S_IFMT, libc::S_IFDIR);
    assert_eq!(seccomp_of(child.id()), (2, 1));
    // The Sentry hangs up: the gofer exits 0 (its exit path is in the policy).
    drop(client);
    let st = child.wait().unwrap();
    assert_eq!(st.code(), Some(0), "{st:?}");
}
