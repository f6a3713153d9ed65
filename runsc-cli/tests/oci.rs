//! The OCI runtime command line (issue 4): run, the create/start/state/
//! kill/delete lifecycle, exec, ps, hooks and error cases, on a bundle
//! whose rootfs holds busybox-static. Every test has its own --root.

mod common;
use common::*;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{json, Value};

/// A bundle and a state root under a fresh temp dir; `delete --force` of
/// the container on drop.
struct Env {
    dir: PathBuf,
    id: String,
}

impl Env {
    fn new(name: &str, args: &[&str]) -> Env {
        need_busybox();
        let dir = std::env::temp_dir().join(format!("runsc-rs-oci-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let bin = dir.join("bundle/rootfs/bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::copy(BUSYBOX, bin.join("busybox")).unwrap();
        for applet in ["sh", "echo", "sleep", "cat", "true"] {
            std::os::unix::fs::symlink("busybox", bin.join(applet)).unwrap();
        }
        let env = Env { dir, id: format!("c-{name}") };
        env.write_config(config(args));
        env
    }

    fn bundle(&self) -> PathBuf {
        self.dir.join("bundle")
    }

    fn root(&self) -> PathBuf {
        self.dir.join("state")
    }

    fn write_config(&self, c: Value) {
        std::fs::write(self.bundle().join("config.json"), serde_json::to_vec_pretty(&c).unwrap()).unwrap();
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(runsc());
        cmd.args(["--platform", &platform()]).arg("--root").arg(self.root()).args(args);
        cmd
    }

    /// Run a CLI command to completion (stdio captured; for commands that
    /// do not start a sandbox, or whose sandbox gets files as stdio).
    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).stdin(Stdio::null()).output().expect("runsc-rs")
    }

    /// `create`, with the container's stdout/stderr in files.
    fn create(&self, extra: &[&str]) -> Output {
        let out = std::fs::File::create(self.dir.join("out")).unwrap();
        let err = std::fs::File::create(self.dir.join("err")).unwrap();
        let mut args = vec!["create", "--bundle"];
        let b = self.bundle();
        args.push(b.to_str().unwrap());
        args.extend_from_slice(extra);
        args.push(&self.id);
        let st = self.cmd(&args).stdin(Stdio::null()).stdout(out).stderr(err).status().expect("runsc-rs create");
        Output { status: st, stdout: std::fs::read(self.dir.join("out")).unwrap(), stderr: std::fs::read(self.dir.join("err")).unwrap() }
    }

    fn state(&self) -> Value {
        let o = self.run(&["state", &self.id]);
        serde_json::from_str(&ok(o)).expect("state JSON")
    }

    fn status(&self) -> String {
        self.state()["status"].as_str().unwrap().to_string()
    }

    /// Poll `state` until the container is stopped.
    fn wait_stopped(&self) {
        for _ in 0..2000 {
            if self.status() == "stopped" {
                return;
            }
            std::thread::yield_now();
        }
        panic!("container did not stop");
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = self.run(&["delete", "--force", &self.id]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn config(args: &[&str]) -> Value {
    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": args,
            "env": ["PATH=/bin", "FOO=bar"],
            "cwd": "/"
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "oci-test",
        "annotations": {"org.example.key": "value"},
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/scratch", "type": "tmpfs", "source": "tmpfs"}
        ],
        "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}]}
    })
}

fn pid_alive(pid: i64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'))
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn run_propagates_exit_status_and_output() {
    let e = Env::new("run", &["sh", "-c", "echo out $FOO $(hostname); test -d /scratch; exit 3"]);
    let b = e.bundle();
    let o = e.run(&["run", "--bundle", b.to_str().unwrap(), &e.id]);
    assert_eq!(o.status.code(), Some(3), "{}", err(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "out bar oci-test\n");
    assert!(!e.root().join(&e.id).exists(), "run removes the state");

    e.write_config(config(&["sh", "-c", "kill -KILL $$"]));
    let o = e.run(&["run", "--bundle", b.to_str().unwrap(), &e.id]);
    assert_eq!(o.status.code(), Some(137), "{}", err(&o));
}

/// root.readonly (docker --read-only): the image is read-only, the tmpfs
/// mounted on it is writable.
#[test]
fn read_only_root_refuses_writes_but_mounts_work() {
    let script = "echo x > /new 2>/dev/null && echo root-writable; echo y > /scratch/f && cat /scratch/f";
    let e = Env::new("ro", &["sh", "-c", script]);
    let b = e.bundle();
    let o = e.run(&["run", "--bundle", b.to_str().unwrap(), &e.id]);
    assert!(o.status.success(), "{}", err(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "y\n");
    let mut c = config(&["sh", "-c", script]);
    c["root"]["readonly"] = json!(false);
    e.write_config(c);
    let o = e.run(&["run", "--bundle", b.to_str().unwrap(), &e.id]);
    assert_eq!(String::from_utf8_lossy(&o.stdout), "root-writable\ny\n", "{}", err(&o));
}

#[test]
fn create_start_state_kill_delete() {
    let e = Env::new("life", &["sleep", "1000"]);
    let pidfile = e.dir.join("pid");
    let o = e.create(&["--pid-file", pidfile.to_str().unwrap()]);
    assert!(o.status.success(), "{}", err(&o));
    let st = e.state();
    assert_eq!(st["status"], "created");
    assert_eq!(st["id"], e.id.as_str());
    assert_eq!(st["ociVersion"], "1.0.2-dev");
    assert_eq!(st["annotations"]["org.example.key"], "value");
    assert_eq!(Path::new(st["bundle"].as_str().unwrap()), e.bundle());
    let pid = st["pid"].as_i64().unwrap();
    assert_eq!(std::fs::read_to_string(&pidfile).unwrap().trim(), pid.to_string());
    assert!(pid_alive(pid));

    ok(e.run(&["start", &e.id]));
    assert_eq!(e.status(), "running");
    let o = e.run(&["start", &e.id]);
    assert!(!o.status.success(), "start twice must fail");
    assert!(err(&o).contains("running"), "{}", err(&o));

    let list = ok(e.run(&["list", "--format", "json"]));
    assert!(list.contains(&format!("\"id\":\"{}\"", e.id)), "{list}");

    ok(e.run(&["kill", &e.id, "TERM"]));
    e.wait_stopped();
    assert!(!pid_alive(pid));
    let o = e.run(&["kill", &e.id, "KILL"]);
    assert!(!o.status.success(), "kill of a stopped container must fail");
    // runc's words, which containerd's shim looks for.
    assert!(err(&o).contains("container not running"), "{}", err(&o));
    // runc's `kill --all` of a stopped container has nothing to signal and
    // succeeds: containerd's shim calls it after a pod container exits.
    ok(e.run(&["kill", "--all", &e.id, "KILL"]));

    ok(e.run(&["delete", &e.id]));
    assert!(!e.root().join(&e.id).exists(), "delete removes the state dir");
    let o = e.run(&["state", &e.id]);
    assert!(!o.status.success());
}

#[test]
fn delete_force_kills_a_running_container() {
    let e = Env::new("force", &["sleep", "1000"]);
    assert!(e.create(&[]).status.success());
    ok(e.run(&["start", &e.id]));
    let pid = e.state()["pid"].as_i64().unwrap();
    let o = e.run(&["delete", &e.id]);
    assert!(!o.status.success(), "delete of a running container needs --force");
    ok(e.run(&["delete", "--force", &e.id]));
    assert!(!pid_alive(pid), "the sandbox process is gone");
    assert!(!e.root().join(&e.id).exists());
}

#[test]
fn duplicate_and_unknown_ids() {
    let e = Env::new("dup", &["sleep", "1000"]);
    assert!(e.create(&[]).status.success());
    let o = e.create(&[]);
    assert!(!o.status.success());
    assert!(err(&o).contains("already exists"), "{}", err(&o));
    assert_eq!(e.status(), "created", "the first container is untouched");

    for cmd in [&["state", "nope"][..], &["start", "nope"], &["kill", "nope", "KILL"], &["delete", "nope"], &["exec", "nope", "true"], &["ps", "nope"]] {
        let o = e.run(cmd);
        assert!(!o.status.success(), "{cmd:?}");
        assert!(err(&o).contains("does not exist"), "{cmd:?}: {}", err(&o));
    }
    // A created container can be deleted without --force.
    ok(e.run(&["delete", &e.id]));
}

#[test]
fn exec_and_ps_in_a_running_container() {
    let e = Env::new("exec", &["sleep", "1000"]);
    assert!(e.create(&[]).status.success());
    ok(e.run(&["start", &e.id]));
    let o = e.run(&["exec", &e.id, "echo", "hi"]);
    assert_eq!(ok(o), "hi\n");
    let o = e.run(&["exec", "--env", "X=y", &e.id, "sh", "-c", "echo $X $FOO; exit 5"]);
    assert_eq!(o.status.code(), Some(5));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "y bar\n");

    let proc_file = e.dir.join("process.json");
    std::fs::write(&proc_file, json!({"args": ["sh", "-c", "echo from-file"], "cwd": "/", "env": ["PATH=/bin"], "user": {"uid": 0, "gid": 0}}).to_string()).unwrap();
    assert_eq!(ok(e.run(&["exec", "--process", proc_file.to_str().unwrap(), &e.id])), "from-file\n");

    let table = ok(e.run(&["ps", &e.id]));
    assert!(table.lines().any(|l| l.split_whitespace().nth(1) == Some("1")), "{table}");
    let pids: Vec<i64> = serde_json::from_slice(&e.run(&["ps", "--format", "json", &e.id]).stdout).unwrap();
    let st: Value = serde_json::from_slice(&e.run(&["state", &e.id]).stdout).unwrap();
    assert!(pids.contains(&st["pid"].as_i64().unwrap()), "ps --format json gives host pids: {pids:?}");

    let stats: Value = serde_json::from_slice(&ok(e.run(&["events", "--stats", &e.id])).into_bytes()).unwrap();
    assert_eq!(stats["data"]["pids"]["current"], 1);
    assert!(stats["data"]["memory"]["usage"]["usage"].as_u64().unwrap() > 0);
}

#[test]
fn bad_bundles_are_clear_errors() {
    let e = Env::new("bad", &["true"]);
    std::fs::write(e.bundle().join("config.json"), "{ not json").unwrap();
    let b = e.bundle();
    let o = e.run(&["create", "--bundle", b.to_str().unwrap(), &e.id]);
    assert!(!o.status.success());
    assert!(err(&o).contains("config.json"), "{}", err(&o));
    assert!(!e.root().join(&e.id).exists(), "no state left behind");

    let missing = e.dir.join("missing");
    let o = e.run(&["create", "--bundle", missing.to_str().unwrap(), &e.id]);
    assert!(!o.status.success());
    assert!(err(&o).contains("does not exist"), "{}", err(&o));

    let o = e.run(&["create", "--bundle", b.to_str().unwrap(), "bad/id"]);
    assert!(!o.status.success());

    // A command that does not exist: create succeeds, the process fails.
    e.write_config(config(&["/no/such/cmd"]));
    let o = e.run(&["run", "--bundle", b.to_str().unwrap(), &e.id]);
    assert_eq!(o.status.code(), Some(127), "{}", err(&o));
}

#[test]
fn hooks_get_the_state_on_stdin() {
    let e = Env::new("hooks", &["true"]);
    let mut c = config(&["true"]);
    let hook = |name: &str| {
        let file = e.dir.join(name);
        json!({"path": BUSYBOX, "args": ["busybox", "sh", "-c", format!("cat > {}", file.display())]})
    };
    c["hooks"] = json!({
        "createRuntime": [hook("createRuntime")],
        "poststart": [hook("poststart")],
        "poststop": [hook("poststop")]
    });
    e.write_config(c);
    assert!(e.create(&[]).status.success());
    let st: Value = serde_json::from_slice(&std::fs::read(e.dir.join("createRuntime")).unwrap()).unwrap();
    assert_eq!(st["id"], e.id.as_str());
    assert_eq!(st["status"], "created");
    assert!(st["pid"].as_i64().unwrap() > 0);
    ok(e.run(&["start", &e.id]));
    let st: Value = serde_json::from_slice(&std::fs::read(e.dir.join("poststart")).unwrap()).unwrap();
    assert_eq!(st["id"], e.id.as_str());
    e.wait_stopped();
    ok(e.run(&["delete", &e.id]));
    let st: Value = serde_json::from_slice(&std::fs::read(e.dir.join("poststop")).unwrap()).unwrap();
    assert_eq!(st["status"], "stopped");
}

#[test]
fn version_spec_features() {
    let o = Command::new(runsc()).arg("--version").output().unwrap();
    let v = ok(o);
    assert!(v.starts_with("runsc-rs version ") && v.contains("\nspec: 1.0.2-dev"), "{v}");
    let e = Env::new("spec", &["true"]);
    std::fs::remove_file(e.bundle().join("config.json")).unwrap();
    let b = e.bundle();
    ok(e.run(&["spec", "--bundle", b.to_str().unwrap()]));
    let c: Value = serde_json::from_slice(&std::fs::read(b.join("config.json")).unwrap()).unwrap();
    assert_eq!(c["root"]["path"], "rootfs");
    assert!(!e.run(&["spec", "--bundle", b.to_str().unwrap()]).status.success(), "spec does not overwrite");
    let f: Value = serde_json::from_slice(&ok(e.run(&["features"])).into_bytes()).unwrap();
    assert!(f["hooks"].as_array().unwrap().len() >= 5);
}

#[test]
fn cgroup_limits_and_pause_resume() {
    if !Path::new("/sys/fs/cgroup/freezer").is_dir() || !Path::new("/sys/fs/cgroup/memory").is_dir() {
        eprintln!("skipped: needs cgroup v1 memory and freezer hierarchies");
        return;
    }
    let e = Env::new("cgroup", &["sleep", "1000"]);
    let mut c = config(&["sleep", "1000"]);
    let cg = format!("runsc-rs-test-{}/{}", std::process::id(), e.id);
    c["linux"]["cgroupsPath"] = json!(format!("/{cg}"));
    c["linux"]["resources"] = json!({"memory": {"limit": 268435456}, "pids": {"limit": 100}});
    e.write_config(c);
    assert!(e.create(&[]).status.success(), "{}", String::from_utf8_lossy(&std::fs::read(e.dir.join("err")).unwrap()));
    let mem = Path::new("/sys/fs/cgroup/memory").join(&cg);
    assert_eq!(std::fs::read_to_string(mem.join("memory.limit_in_bytes")).unwrap().trim(), "268435456");
    let pid = e.state()["pid"].as_i64().unwrap();
    assert!(std::fs::read_to_string(mem.join("cgroup.procs")).unwrap().lines().any(|l| l.trim() == pid.to_string()));
    ok(e.run(&["start", &e.id]));
    ok(e.run(&["pause", &e.id]));
    assert_eq!(e.status(), "paused");
    ok(e.run(&["resume", &e.id]));
    assert_eq!(e.status(), "running");
    assert_eq!(ok(e.run(&["exec", &e.id, "echo", "alive"])), "alive\n");
    ok(e.run(&["delete", "--force", &e.id]));
    assert!(!mem.exists(), "delete removes the cgroup");
    for ctrl in ["memory", "pids", "cpu", "freezer"] {
        let _ = std::fs::remove_dir(Path::new("/sys/fs/cgroup").join(ctrl).join(format!("runsc-rs-test-{}", std::process::id())));
    }
}

#[test]
fn terminal_goes_to_the_console_socket() {
    use std::io::Read;
    use std::os::fd::{FromRawFd, OwnedFd};
    // The container sees an in-sandbox pty (docker run -t; tty names it).
    let script = "test -t 0 && echo is-a-tty; tty; stty -a | head -n 1; echo done";
    let e = Env::new("tty", &["sh", "-c", script]);
    let mut c = config(&["sh", "-c", script]);
    c["process"]["terminal"] = json!(true);
    e.write_config(c);
    let sock_path = e.dir.join("console.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock_path).unwrap();
    let t = std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        let mut buf = [0u8; 64];
        let mut iov = [std::io::IoSliceMut::new(&mut buf)];
        let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 1]);
        let msg = nix::sys::socket::recvmsg::<()>(std::os::fd::AsRawFd::as_raw_fd(&conn), &mut iov, Some(&mut cmsg), nix::sys::socket::MsgFlags::empty()).unwrap();
        let fd = msg
            .cmsgs()
            .unwrap()
            .find_map(|c| match c {
                nix::sys::socket::ControlMessageOwned::ScmRights(v) => v.first().copied(),
                _ => None,
            })
            .expect("a pty master");
        // SAFETY: the fd was just received and belongs to nobody else.
        unsafe { OwnedFd::from_raw_fd(fd) }
    });
    let o = e.create(&["--console-socket", sock_path.to_str().unwrap()]);
    assert!(o.status.success(), "{}", err(&o));
    let master = t.join().unwrap();
    set_winsize(&master, 33, 77);
    ok(e.run(&["start", &e.id]));
    let mut f = std::fs::File::from(master);
    let mut out = Vec::new();
    let mut buf = [0u8; 256];
    // Read until the output is there (EIO once the slave is closed).
    while !String::from_utf8_lossy(&out).contains("done") {
        match f.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&out);
    assert!(text.contains("is-a-tty"), "{text:?}");
    assert!(text.contains("/dev/pts/"), "tty names an in-sandbox pty: {text:?}");
    assert!(text.contains("rows 33; columns 77"), "the console's size reaches the container: {text:?}");
    e.wait_stopped();
}

fn set_winsize(fd: &std::os::fd::OwnedFd, rows: u16, cols: u16) {
    let ws = libc::winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCSWINSZ reads one winsize from our local.
    let r = unsafe { libc::ioctl(std::os::fd::AsRawFd::as_raw_fd(fd), libc::TIOCSWINSZ, &ws) };
    assert_eq!(r, 0);
}

#[test]
fn oom_score_adj_applies_to_the_sandbox_process() {
    let e = Env::new("oom", &["sleep", "1000"]);
    let mut c = config(&["sleep", "1000"]);
    c["process"]["oomScoreAdj"] = json!(512);
    e.write_config(c);
    assert!(e.create(&[]).status.success());
    let pid = e.state()["pid"].as_i64().unwrap();
    assert_eq!(std::fs::read_to_string(format!("/proc/{pid}/oom_score_adj")).unwrap().trim(), "512");
    ok(e.run(&["delete", "--force", &e.id]));
}

/// process.capabilities is what the container sees (capget via /proc).
#[test]
fn capabilities_are_the_workloads_view() {
    let script = "grep -E '^Cap(Eff|Bnd)' /proc/self/status";
    let e = Env::new("caps", &["sh", "-c", script]);
    let mut c = config(&["sh", "-c", script]);
    let set = json!(["CAP_CHOWN", "CAP_KILL"]);
    c["process"]["capabilities"] = json!({"bounding": set, "effective": set, "permitted": set});
    e.write_config(c);
    let b = e.bundle();
    let o = e.run(&["run", "--bundle", b.to_str().unwrap(), &e.id]);
    assert!(o.status.success(), "{}", err(&o));
    // CAP_CHOWN (0) and CAP_KILL (5): 0x21.
    assert_eq!(String::from_utf8_lossy(&o.stdout), "CapEff:\t0000000000000021\nCapBnd:\t0000000000000021\n");
}

#[test]
fn a_container_joining_a_uts_namespace_takes_its_hostname() {
    // As in a Kubernetes pod: the pause container has a new UTS namespace
    // and the pod's hostname; the app container names that namespace by
    // path and sets no hostname of its own.
    let pod = Env::new("utspod", &["sleep", "1000"]);
    let mut c = config(&["sleep", "1000"]);
    c["hostname"] = json!("pod-hostname");
    c["linux"]["namespaces"] = json!([{"type": "pid"}, {"type": "mount"}, {"type": "uts"}]);
    pod.write_config(c);
    let o = pod.create(&[]);
    assert!(o.status.success(), "{}", err(&o));
    let pid = pod.state()["pid"].as_i64().unwrap();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let app = Env::new("utsapp", &["sh", "-c", "hostname; cat /proc/sys/kernel/hostname"]);
    let mut c = config(&["sh", "-c", "hostname; cat /proc/sys/kernel/hostname"]);
    c.as_object_mut().unwrap().remove("hostname");
    c["linux"]["namespaces"] = json!([{"type": "pid"}, {"type": "mount"}, {"type": "uts", "path": format!("/proc/{pid}/ns/uts")}]);
    app.write_config(c);
    std::os::unix::fs::symlink("busybox", app.bundle().join("rootfs/bin/hostname")).unwrap();
    let o = app.run(&["run", "--bundle", app.bundle().to_str().unwrap(), &app.id]);
    assert_eq!(ok(o), "pod-hostname\npod-hostname\n");
    // The host's own name is untouched.
    assert_eq!(std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap(), host);
}

/// A bind mount of a regular file is the live host file, served by its own
/// gofer: the container's writes reach the host, host changes made while it
/// runs are seen, "ro" refuses writes with EROFS, and /proc/mounts shows it.
#[test]
fn file_bind_mounts_are_the_live_host_files() {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::os::unix::fs::MetadataExt;
    let script = "cat /mnt/rw.txt; echo from-container > /mnt/rw.txt && echo written; read go; cat /mnt/rw.txt; \
                  busybox stat -c 'stat %s %i' /mnt/rw.txt; cat /etc/ro.conf; \
                  (echo x > /etc/ro.conf) 2>&1; echo ro-status $?; \
                  busybox grep /mnt/rw.txt /proc/mounts; busybox grep /etc/ro.conf /proc/mounts";
    let e = Env::new("filebind", &["sh", "-c", script]);
    let (rw, ro) = (e.dir.join("host-rw.txt"), e.dir.join("host-ro.conf"));
    std::fs::write(&rw, "initial\n").unwrap();
    std::fs::write(&ro, "ro-content\n").unwrap();
    // The image has its own /etc/ro.conf: the bind hides it. /mnt/rw.txt
    // does not exist: its mountpoint is made.
    std::fs::create_dir_all(e.bundle().join("rootfs/etc")).unwrap();
    std::fs::write(e.bundle().join("rootfs/etc/ro.conf"), "image\n").unwrap();
    let mut c = config(&["sh", "-c", script]);
    // A writable root: EROFS can only come from the "ro" bind itself.
    c["root"]["readonly"] = json!(false);
    let mounts = c["mounts"].as_array_mut().unwrap();
    mounts.push(json!({"destination": "/mnt/rw.txt", "type": "bind", "source": rw, "options": ["rbind", "rw"]}));
    mounts.push(json!({"destination": "/etc/ro.conf", "type": "bind", "source": ro, "options": ["rbind", "ro"]}));
    e.write_config(c.clone());
    let b = e.bundle();
    let mut child = e
        .cmd(&["run", "--bundle", b.to_str().unwrap(), &e.id])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runsc-rs run");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "initial\n");
    line.clear();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "written\n");
    assert_eq!(std::fs::read_to_string(&rw).unwrap(), "from-container\n");
    // Changed on the host while the container runs (same inode).
    std::fs::write(&rw, "from-host\n").unwrap();
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{rest}\n{stderr}");
    let lines: Vec<&str> = rest.lines().collect();
    let ino = std::fs::metadata(&rw).unwrap().ino();
    assert_eq!(lines[0], "from-host", "{rest}");
    assert_eq!(lines[1], format!("stat 10 {ino}"), "{rest}");
    assert_eq!(lines[2], "ro-content", "{rest}");
    assert!(lines[3].contains("Read-only file system"), "{rest}");
    assert!(lines[4].starts_with("ro-status ") && lines[4] != "ro-status 0", "{rest}");
    assert!(lines[5].split_whitespace().nth(1) == Some("/mnt/rw.txt") && lines[5].contains(" rw"), "{rest}");
    assert!(lines[6].split_whitespace().nth(1) == Some("/etc/ro.conf") && lines[6].contains(" ro"), "{rest}");
    assert_eq!(std::fs::read_to_string(&ro).unwrap(), "ro-content\n");
    assert_eq!(std::fs::read_to_string(e.bundle().join("rootfs/etc/ro.conf")).unwrap(), "image\n");

    // With a read-only root (docker --read-only) the file bind still
    // mounts, and stays writable.
    c["root"]["readonly"] = json!(true);
    c["process"]["args"] = json!(["sh", "-c", "echo appended >> /mnt/rw.txt && cat /etc/ro.conf"]);
    e.write_config(c);
    let o = e.run(&["run", "--bundle", b.to_str().unwrap(), &e.id]);
    assert_eq!(ok(o), "ro-content\n");
    assert_eq!(std::fs::read_to_string(&rw).unwrap(), "from-host\nappended\n");
}


/// `linux.sysctl`: namespaced keys are recorded at /proc/sys/<key with
/// dots as slashes>, readable by all, rewritable by root.
#[test]
fn sysctls_recorded_under_proc_sys() {
    let script = "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmax; \
                  echo 0 > /proc/sys/net/ipv4/ip_forward && cat /proc/sys/net/ipv4/ip_forward";
    let e = Env::new("sysctl", &["sh", "-c", script]);
    let mut c = config(&["sh", "-c", script]);
    c["linux"]["namespaces"] = json!([{"type": "pid"}, {"type": "mount"}, {"type": "ipc"}, {"type": "network"}]);
    c["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1", "kernel.shmmax": "4096"});
    e.write_config(c.clone());
    let b = e.bundle();
    let o = e.run(&["run", "--bundle", b.to_str().unwrap(), &e.id]);
    assert_eq!(ok(o), "1\n4096\n0\n");

    // Not namespaced: create fails, saying why, and leaves nothing.
    c["linux"]["sysctl"] = json!({"vm.swappiness": "10"});
    e.write_config(c.clone());
    let o = e.create(&[]);
    assert!(!o.status.success());
    assert!(err(&o).contains("sysctl \"vm.swappiness\" is not in a separate kernel namespace"), "{}", err(&o));
    assert!(!e.run(&["state", &e.id]).status.success());
    // Namespaced, but the config shares the host's network namespace.
    c["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
    c["linux"]["namespaces"] = json!([{"type": "pid"}, {"type": "mount"}, {"type": "ipc"}]);
    e.write_config(c);
    let o = e.create(&[]);
    assert!(!o.status.success());
    assert!(err(&o).contains("not allowed in the host's network namespace"), "{}", err(&o));
}

/// A sysfs mount gets the Sentry's sysfs, and mount(2) of sysfs works
/// inside the sandbox.
#[test]
fn sysfs_mount_shows_the_cpus() {
    let script = "cat /sys/devices/system/cpu/online; busybox grep ' /sys ' /proc/mounts; \
                  busybox mkdir /scratch/s && busybox mount -t sysfs sysfs /scratch/s && cat /scratch/s/devices/system/cpu/possible; \
                  echo 1 > /sys/devices/system/cpu/online || echo refused";
    let e = Env::new("sysfs", &["sh", "-c", script]);
    let mut c = config(&["sh", "-c", script]);
    let mounts = c["mounts"].as_array_mut().unwrap();
    mounts.push(json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]}));
    e.write_config(c);
    let b = e.bundle();
    let o = e.run(&["run", "--bundle", b.to_str().unwrap(), &e.id]);
    let out = ok(o);
    let n = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(64);
    let cpus = if n == 1 { "0".to_string() } else { format!("0-{}", n - 1) };
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert_eq!(lines[0], cpus, "{out}");
    assert_eq!(lines[1], "sysfs /sys sysfs ro,nosuid,nodev,noexec 0 0", "{out}");
    assert_eq!(lines[2], cpus, "{out}");
    assert_eq!(lines[3], "refused", "{out}");
}

/// (Seccomp mode, number of filters) of a host process.
fn seccomp_status(pid: u32) -> (u32, u32) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> u32 { status.lines().find_map(|l| l.strip_prefix(name)).map(|v| v.trim().parse().unwrap()).unwrap() };
    (field("Seccomp:"), field("Seccomp_filters:"))
}

/// Confinement: the sandbox process installs its seccomp filters at
/// `start` (before the first workload instruction, after setup), and every
/// gofer runs under its own filter with an empty root from the beginning.
#[test]
fn the_sandbox_is_confined_once_started_and_its_gofers_always() {
    let e = Env::new("seccomp", &["sleep", "1000"]);
    let o = e.create(&[]);
    assert!(o.status.success(), "{}", err(&o));
    let pid = e.state()["pid"].as_i64().unwrap() as u32;
    assert_eq!(seccomp_status(pid).0, 0, "not confined before start");
    let mut gofers = Vec::new();
    for t in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap().flatten() {
        for c in std::fs::read_to_string(t.path().join("children")).unwrap_or_default().split_whitespace() {
            let c: u32 = c.parse().unwrap();
            if std::fs::read(format!("/proc/{c}/cmdline")).is_ok_and(|s| s.split(|&b| b == 0).nth(1) == Some(b"gofer")) {
                gofers.push(c);
            }
        }
    }
    assert!(!gofers.is_empty());
    for g in &gofers {
        assert_eq!(seccomp_status(*g), (2, 1), "gofer {g}");
        assert_eq!(std::fs::read_dir(format!("/proc/{g}/root")).unwrap().count(), 0, "gofer {g} sees host files");
    }
    ok(e.run(&["start", &e.id]));
    assert_eq!(seccomp_status(pid), (2, 2));
    // Still serving control requests: exec, ps, kill.
    let o = e.run(&["exec", &e.id, "echo", "hi"]);
    assert_eq!(ok(o), "hi\n");
    assert!(ok(e.run(&["ps", &e.id])).lines().count() >= 2);
    ok(e.run(&["kill", &e.id, "KILL"]));
    e.wait_stopped();
    ok(e.run(&["delete", &e.id]));
}
