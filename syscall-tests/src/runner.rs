//! Running the area binaries: natively, inside an OCI runtime, or under
//! `runsc-rs do`, and collecting their `RESULT` lines.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::report::{parse_result_line, CaseResult, Status};

/// An area: one static test binary.
#[derive(Clone, Debug)]
pub struct Area {
    pub name: String,
    pub binary: PathBuf,
}

/// The directory the build script put the area binaries in.
pub fn default_bin_dir() -> PathBuf {
    PathBuf::from(env!("SYSCALL_TESTS_CASES_DIR"))
}

/// Every area binary in `dir`, sorted by name.
pub fn areas(dir: &Path) -> Result<Vec<Area>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let e = e?;
        if e.file_type()?.is_file() {
            out.push(Area { name: e.file_name().to_string_lossy().into_owned(), binary: e.path() });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    if out.is_empty() {
        bail!("no area binaries in {}", dir.display());
    }
    Ok(out)
}

/// The case names (without the area prefix) of an area matching `filter`,
/// as the binary itself lists them when run natively.
pub fn list_cases(area: &Area, filter: Option<&str>) -> Result<Vec<String>> {
    let mut cmd = Command::new(&area.binary);
    cmd.arg("--list");
    if let Some(f) = filter {
        cmd.args(["--filter", f]);
    }
    let out = cmd.output().with_context(|| format!("running {} --list", area.binary.display()))?;
    if !out.status.success() {
        bail!("{} --list failed: {}", area.binary.display(), out.status);
    }
    let prefix = format!("{}.", area.name);
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().strip_prefix(&prefix).map(str::to_string))
        .collect())
}

/// How the runner stops a command that overran its deadline.
pub enum Killer<'a> {
    /// SIGKILL the process group the command leads.
    Group,
    /// Run this first (say `runc kill ID KILL`), then SIGKILL the process.
    Command(&'a mut dyn FnMut()),
}

enum Event {
    Line(String),
    Eof,
    Exited(std::io::Result<ExitStatus>),
}

/// Runs one area's command and turns its output into exactly one result per
/// expected case; `report` sees each result as it is known.
pub fn run_area(
    area: &str,
    mut cmd: Command,
    expected: &[String],
    deadline: Duration,
    killer: Killer<'_>,
    report: &mut dyn FnMut(&CaseResult),
) -> Vec<CaseResult> {
    let expected_set: HashSet<&str> = expected.iter().map(String::as_str).collect();
    let mut results: Vec<CaseResult> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();

    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    if matches!(killer, Killer::Group) {
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    }
    let program = cmd.get_program().to_string_lossy().into_owned();
    let child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let msg = format!("runtime error: cannot start {program}: {e}");
            return fill_missing(area, expected, &seen, results, Status::Fail, &msg, report);
        }
    };
    let pid = Pid::from_raw(child.id() as i32);
    let (tx, rx) = mpsc::channel();
    let stderr_buf = Arc::new(Mutex::new(Vec::<u8>::new()));
    spawn_readers(child, tx, stderr_buf.clone());

    let start = Instant::now();
    let mut eof = false;
    let mut exit: Option<std::io::Result<ExitStatus>> = None;
    let mut timed_out = false;
    let mut killer = killer;
    // After the process exits, its stdout may still be held open by a leftover
    // descendant; give EOF a bounded grace period, then stop reading.
    let mut exited_at: Option<Instant> = None;
    while !(eof && exit.is_some()) {
        let mut limit = deadline.saturating_sub(start.elapsed());
        if let Some(t) = exited_at {
            limit = limit.min(Duration::from_secs(5).saturating_sub(t.elapsed()));
        }
        match rx.recv_timeout(limit) {
            Ok(Event::Line(line)) => {
                let Some(r) = parse_result_line(&line) else { continue };
                if r.area != area || !expected_set.contains(r.name.as_str()) || !seen.insert(r.name.clone()) {
                    continue;
                }
                report(&r);
                results.push(r);
            }
            Ok(Event::Eof) => eof = true,
            Ok(Event::Exited(st)) => {
                exit = Some(st);
                exited_at = Some(Instant::now());
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if exit.is_some() {
                    break; // exited, but stdout never reached EOF
                }
                timed_out = true;
                match &mut killer {
                    Killer::Group => {
                        let _ = kill(Pid::from_raw(-pid.as_raw()), Signal::SIGKILL);
                    }
                    Killer::Command(f) => {
                        f();
                        let _ = kill(pid, Signal::SIGKILL);
                    }
                }
                // Collect the exit status (bounded: the kill is synchronous).
                let grace = Instant::now();
                while exit.is_none() && grace.elapsed() < Duration::from_secs(10) {
                    match rx.recv_timeout(Duration::from_secs(10).saturating_sub(grace.elapsed())) {
                        Ok(Event::Exited(st)) => exit = Some(st),
                        Ok(_) => {}
                        Err(_) => break,
                    }
                }
                break;
            }
        }
    }

    let stderr = {
        let buf = stderr_buf.lock().map(|b| b.clone()).unwrap_or_default();
        let s = String::from_utf8_lossy(&buf).into_owned();
        let tail: String = s.trim().lines().rev().take(3).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join(" / ");
        tail.chars().take(300).collect::<String>()
    };
    let exit_desc = match &exit {
        Some(Ok(st)) => st.to_string(),
        Some(Err(e)) => format!("wait failed: {e}"),
        None => "still running".to_string(),
    };
    let stderr_note = if stderr.is_empty() { String::new() } else { format!("; stderr: {stderr}") };
    if timed_out {
        let msg = format!("the area ran past its deadline of {}s before this case reported{stderr_note}", deadline.as_secs());
        fill_missing(area, expected, &seen, results, Status::Timeout, &msg, report)
    } else if results.is_empty() && !expected.is_empty() {
        let msg = format!("runtime error: no results ({exit_desc}){stderr_note}");
        fill_missing(area, expected, &seen, results, Status::Fail, &msg, report)
    } else {
        let msg = format!("not reported: the area exited ({exit_desc}) before this case finished{stderr_note}");
        fill_missing(area, expected, &seen, results, Status::Crash, &msg, report)
    }
}

fn spawn_readers(mut child: Child, tx: mpsc::Sender<Event>, stderr_buf: Arc<Mutex<Vec<u8>>>) {
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let tx_out = tx.clone();
    std::thread::spawn(move || {
        if let Some(out) = stdout {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx_out.send(Event::Line(line)).is_err() {
                    return;
                }
            }
        }
        let _ = tx_out.send(Event::Eof);
    });
    std::thread::spawn(move || {
        if let Some(mut err) = stderr {
            let mut chunk = [0u8; 4096];
            while let Ok(n) = err.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                if let Ok(mut b) = stderr_buf.lock() {
                    b.extend_from_slice(&chunk[..n]);
                    let len = b.len();
                    if len > 16 * 1024 {
                        b.drain(..len - 16 * 1024);
                    }
                }
            }
        }
    });
    std::thread::spawn(move || {
        let st = child.wait();
        let _ = tx.send(Event::Exited(st));
    });
}

fn fill_missing(
    area: &str,
    expected: &[String],
    seen: &HashSet<String>,
    mut results: Vec<CaseResult>,
    status: Status,
    msg: &str,
    report: &mut dyn FnMut(&CaseResult),
) -> Vec<CaseResult> {
    for name in expected {
        if !seen.contains(name) {
            let r = CaseResult { area: area.to_string(), name: name.clone(), status, message: msg.to_string() };
            report(&r);
            results.push(r);
        }
    }
    // Keep the binary's own order.
    let order: std::collections::HashMap<&str, usize> =
        expected.iter().enumerate().map(|(i, n)| (n.as_str(), i)).collect();
    results.sort_by_key(|r| order.get(r.name.as_str()).copied().unwrap_or(usize::MAX));
    results
}

/// An OCI bundle holding every area binary under /tests.
pub struct Bundle {
    pub dir: tempfile::TempDir,
}

impl Bundle {
    pub fn new(areas: &[Area]) -> Result<Bundle> {
        let dir = tempfile::Builder::new().prefix("syscall-tests-bundle-").tempdir()?;
        let rootfs = dir.path().join("rootfs");
        for d in ["tests", "tmp", "proc", "dev", "sys", "etc"] {
            std::fs::create_dir_all(rootfs.join(d))?;
        }
        std::fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")?;
        std::fs::write(rootfs.join("etc/group"), "root:x:0:\ntty:x:5:\nnogroup:x:65534:\n")?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(rootfs.join("tmp"), std::fs::Permissions::from_mode(0o1777))?;
        for a in areas {
            let dst = rootfs.join("tests").join(&a.name);
            std::fs::copy(&a.binary, &dst).with_context(|| format!("copying {}", a.binary.display()))?;
            std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(0o755))?;
        }
        Ok(Bundle { dir })
    }

    pub fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    /// Writes config.json for running `args` in the container.
    pub fn write_config(&self, args: &[String]) -> Result<()> {
        let config = oci_config(args);
        std::fs::write(self.dir.path().join("config.json"), serde_json::to_vec_pretty(&config)?)?;
        Ok(())
    }
}

/// The arguments of an area binary inside a sandbox.
pub fn area_args(area: &str, timeout: u64, filter: Option<&str>) -> Vec<String> {
    let mut v = vec![format!("/tests/{area}"), "--timeout".to_string(), timeout.to_string()];
    if let Some(f) = filter {
        v.push("--filter".into());
        v.push(f.into());
    }
    v
}

fn oci_config(args: &[String]) -> serde_json::Value {
    let caps = [
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_FSETID",
        "CAP_FOWNER",
        "CAP_MKNOD",
        "CAP_NET_RAW",
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_SETFCAP",
        "CAP_SETPCAP",
        "CAP_NET_BIND_SERVICE",
        "CAP_SYS_CHROOT",
        "CAP_KILL",
        "CAP_AUDIT_WRITE",
    ];
    serde_json::json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": { "uid": 0, "gid": 0 },
            "args": args,
            "env": [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "TMPDIR=/tmp"
            ],
            "cwd": "/",
            "capabilities": {
                "bounding": caps,
                "effective": caps,
                "permitted": caps
            },
            "rlimits": [{ "type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024 }],
            "noNewPrivileges": false
        },
        "root": { "path": "rootfs", "readonly": false },
        "hostname": "syscall-tests",
        "mounts": [
            { "destination": "/proc", "type": "proc", "source": "proc" },
            { "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
              "options": ["nosuid", "strictatime", "mode=755", "size=65536k"] },
            { "destination": "/dev/pts", "type": "devpts", "source": "devpts",
              "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"] },
            { "destination": "/dev/shm", "type": "tmpfs", "source": "shm",
              "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
            { "destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
              "options": ["nosuid", "noexec", "nodev"] },
            { "destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
              "options": ["nosuid", "nodev", "mode=1777"] },
            { "destination": "/sys", "type": "sysfs", "source": "sysfs",
              "options": ["nosuid", "noexec", "nodev", "ro"] }
        ],
        "linux": {
            "namespaces": [
                { "type": "pid" },
                { "type": "ipc" },
                { "type": "uts" },
                { "type": "mount" },
                { "type": "network" }
            ]
        }
    })
}

/// Finds the runsc-rs binary: the explicit path, then this workspace's
/// build (`$CARGO_TARGET_DIR`, then `target/`; release before debug), then
/// $PATH. The tree's own build comes before an installed copy, which may be
/// older (e2e/docker.sh installs one in /usr/local/bin).
pub fn find_runsc_rs(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = explicit {
        if p.is_file() {
            return Ok(p.to_path_buf());
        }
        bail!("--runsc-rs {}: no such file", p.display());
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut dirs: Vec<PathBuf> = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).into_iter().collect();
    dirs.push(workspace.join("target"));
    let mut candidates: Vec<PathBuf> =
        dirs.iter().flat_map(|d| ["release", "debug"].map(|profile| d.join(profile).join("runsc-rs"))).collect();
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|dir| dir.join("runsc-rs")));
    }
    candidates
        .into_iter()
        .find(|p| p.is_file())
        .with_context(|| "runsc-rs not found (give --runsc-rs PATH, build it into target/, or put it on PATH)")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut c = Command::new("/bin/sh");
        c.args(["-c", script]);
        c
    }

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn statuses(r: &[CaseResult]) -> Vec<(String, Status)> {
        r.iter().map(|c| (c.name.clone(), c.status)).collect()
    }

    #[test]
    fn missing_cases_are_crashes_and_foreign_lines_ignored() {
        let script = "echo 'RESULT a.x PASS'; echo 'RESULT b.y PASS'; echo 'RESULT a.zzz PASS'; \
                      echo 'RESULT a.x FAIL dup'; echo noise; exit 3";
        let mut seen = 0;
        let r = run_area("a", sh(script), &names(&["x", "y"]), Duration::from_secs(30), Killer::Group, &mut |_| seen += 1);
        assert_eq!(statuses(&r), vec![("x".into(), Status::Pass), ("y".into(), Status::Crash)]);
        assert!(r[1].message.contains("exit status: 3"), "{}", r[1].message);
        assert_eq!(seen, 2);
    }

    #[test]
    fn runtime_that_reports_nothing_fails_every_case() {
        let r = run_area("a", sh("echo boom >&2; exit 1"), &names(&["x", "y"]), Duration::from_secs(30), Killer::Group, &mut |_| {});
        assert!(r.iter().all(|c| c.status == Status::Fail), "{r:?}");
        assert!(r[0].message.starts_with("runtime error:") && r[0].message.contains("boom"), "{}", r[0].message);
    }

    #[test]
    fn runtime_that_cannot_start_fails_every_case() {
        let cmd = Command::new("/nonexistent/runtime");
        let r = run_area("a", cmd, &names(&["x"]), Duration::from_secs(30), Killer::Group, &mut |_| {});
        assert_eq!(r[0].status, Status::Fail);
        assert!(r[0].message.contains("cannot start"), "{}", r[0].message);
    }

    #[test]
    fn hung_area_times_out_unreported_cases() {
        // The "hang" is a child that never exits; the deadline must end it.
        let start = Instant::now();
        let r = run_area(
            "a",
            sh("echo 'RESULT a.x SKIP no tty'; exec sleep 600"),
            &names(&["x", "y"]),
            Duration::from_secs(1),
            Killer::Group,
            &mut |_| {},
        );
        assert!(start.elapsed() < Duration::from_secs(20));
        assert_eq!(statuses(&r), vec![("x".into(), Status::Skip), ("y".into(), Status::Timeout)]);
        assert_eq!(r[0].message, "no tty");
    }

    #[test]
    fn leftover_descendant_holding_stdout_does_not_block() {
        // The area exits but a background child keeps stdout open.
        let start = Instant::now();
        let r = run_area(
            "a",
            sh("echo 'RESULT a.x PASS'; (exec sleep 15) & exit 0"),
            &names(&["x"]),
            Duration::from_secs(120),
            Killer::Group,
            &mut |_| {},
        );
        assert!(start.elapsed() < Duration::from_secs(30), "{:?}", start.elapsed());
        assert_eq!(statuses(&r), vec![("x".into(), Status::Pass)]);
    }

    #[test]
    fn oci_config_has_the_required_shape() {
        let c = oci_config(&area_args("files", 7, Some("lseek")));
        assert_eq!(c["process"]["args"], serde_json::json!(["/tests/files", "--timeout", "7", "--filter", "lseek"]));
        assert_eq!(c["process"]["terminal"], false);
        assert_eq!(c["root"]["readonly"], false);
        let ns: Vec<&str> = c["linux"]["namespaces"].as_array().unwrap().iter().map(|n| n["type"].as_str().unwrap()).collect();
        assert_eq!(ns, ["pid", "ipc", "uts", "mount", "network"]);
        let pts = c["mounts"].as_array().unwrap().iter().find(|m| m["destination"] == "/dev/pts").unwrap();
        assert!(pts["options"].as_array().unwrap().iter().any(|o| o == "newinstance"));
    }
}
