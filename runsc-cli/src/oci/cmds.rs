//! The OCI commands: create, start, run, state, kill, delete, exec, ps,
//! list, spec, events, pause, resume, features.

use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use nix::sys::signal::Signal;
use oci_spec::runtime::{Process, Spec};

use super::proto::{self, ExecSpec, Request};
use super::state::{self, Container, Saved};
use super::{cgroup, hooks, sandbox, spec, sys};
use super::{CreateArgs, DeleteArgs, EventsArgs, ExecArgs, ExecWaitArgs, IdArg, KillArgs, ListArgs, PsArgs, SpecArgs};
use crate::{Cli, PlatformArg};

pub const DEFAULT_ROOT: &str = "/run/runsc-rs";

fn root(cli: &Cli) -> PathBuf {
    cli.root.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_ROOT))
}

fn abs(p: &Path) -> Result<PathBuf> {
    Ok(if p.is_absolute() { p.to_path_buf() } else { std::env::current_dir()?.join(p) })
}

/// Write `pid` to a pid file atomically.
fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    let path = abs(path)?;
    let tmp = path.with_extension("runsc-rs-tmp");
    std::fs::write(&tmp, pid.to_string()).with_context(|| format!("writing pid file {}", path.display()))?;
    std::fs::rename(&tmp, &path).with_context(|| format!("writing pid file {}", path.display()))?;
    Ok(())
}

fn dup_stdio() -> Result<Vec<OwnedFd>> {
    [std::io::stdin().as_fd().try_clone_to_owned(), std::io::stdout().as_fd().try_clone_to_owned(), std::io::stderr().as_fd().try_clone_to_owned()]
        .into_iter()
        .map(|r| r.context("duplicating stdio"))
        .collect()
}

/// A new pty: the master goes to the console socket, the slave is
/// returned (3 fds, for stdio).
fn pty_to_console(console: &Path, size: Option<(u16, u16)>) -> Result<Vec<OwnedFd>> {
    let ws = size.map(|(h, w)| nix::pty::Winsize { ws_row: h, ws_col: w, ws_xpixel: 0, ws_ypixel: 0 });
    let pty = nix::pty::openpty(ws.as_ref(), None).context("openpty")?;
    let sock = sys::with_short_sock_path(console, |p| UnixStream::connect(p)).with_context(|| format!("connecting to the console socket {}", console.display()))?;
    sys::send_with_fds(&sock, b"/dev/ptmx", &[pty.master.as_raw_fd()]).context("sending the pty master")?;
    let s = pty.slave;
    Ok(vec![s.try_clone()?, s.try_clone()?, s])
}

/// Global flags the sandbox process inherits.
fn global_args(cli: &Cli) -> Vec<String> {
    let mut v = vec!["--platform".to_string(), match cli.platform {
        PlatformArg::Ptrace => "ptrace".into(),
        PlatformArg::Kvm => "kvm".into(),
    }];
    if cli.strace {
        v.push("--strace".into());
    }
    if cli.debug {
        v.push("--debug".into());
    }
    if let Some(l) = &cli.debug_log {
        v.push("--debug-log".into());
        v.push(l.to_string_lossy().into_owned());
    }
    if let Some(n) = cli.network {
        v.push("--network".into());
        v.push(n.as_str().into());
    }
    v
}

/// Create the container; `foreground` (run without -d) lets a terminal
/// process use our own terminal. Returns the sandbox process (our child).
fn create_container(cli: &Cli, a: &CreateArgs, foreground: bool) -> Result<(Container, Spec, Child)> {
    state::validate_id(&a.id)?;
    if a.preserve_fds != 0 {
        bail!("--preserve-fds is not supported");
    }
    let bundle = abs(&a.bundle)?;
    let spec = spec::load(&bundle)?;
    let rootfs = spec::rootfs(&bundle, &spec)?;
    let root = root(cli);
    std::fs::create_dir_all(&root).with_context(|| format!("creating the state root {}", root.display()))?;
    let dir = root.join(&a.id);
    match std::fs::create_dir(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => bail!("container with id \"{}\" already exists", a.id),
        Err(e) => return Err(e).with_context(|| format!("creating {}", dir.display())),
    }
    let mut c = Container {
        dir: dir.clone(),
        saved: Saved {
            id: a.id.clone(),
            bundle: bundle.clone(),
            rootfs,
            pid: 0,
            pid_start: None,
            created: state::now_rfc3339(),
            annotations: spec.annotations().clone().unwrap_or_default().into_iter().collect(),
            cgroups: vec![],
            freezer: None,
        },
    };
    match create_inner(cli, a, foreground, &spec, &mut c) {
        Ok(child) => Ok((c, spec, child)),
        Err(e) => {
            if c.saved.pid > 0 {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(c.saved.pid), Signal::SIGKILL);
                let _ = sys::wait_pid_exit(c.saved.pid, Duration::from_secs(10));
            }
            cgroup::remove(&c.saved.cgroups);
            let _ = std::fs::remove_dir_all(&dir);
            Err(e)
        }
    }
}

fn create_inner(cli: &Cli, a: &CreateArgs, foreground: bool, spec: &Spec, c: &mut Container) -> Result<Child> {
    c.save()?;
    let process = spec.process().as_ref().context("no process")?;
    let stdio = if process.terminal().unwrap_or(false) {
        match &a.console_socket {
            Some(cs) => Some(pty_to_console(cs, process.console_size().map(|b| (b.height() as u16, b.width() as u16)))?),
            None if foreground => None,
            None => bail!("process.terminal is true: --console-socket is required"),
        }
    } else {
        None
    };
    let cg = cgroup::setup(spec, &a.id, cli.systemd_cgroup)?;
    c.saved.cgroups = cg.dirs.clone();
    c.saved.freezer = cg.freezer.clone();
    c.save()?;

    let (ready_r, ready_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("pipe")?;
    let exe = std::env::current_exe().context("finding our own executable")?;
    let mut cmd = Command::new(exe);
    cmd.args(global_args(cli)).arg("boot").arg("--bundle").arg(&c.saved.bundle).arg("--id").arg(&a.id).arg("--state-dir").arg(&c.dir).arg("--ready-fd").arg("3");
    for d in &cg.dirs {
        cmd.arg("--cgroup").arg(d);
    }
    if let Some(fds) = stdio {
        let mut it = fds.into_iter();
        let (i, o, e) = (it.next(), it.next(), it.next());
        cmd.stdin(Stdio::from(i.context("pty")?)).stdout(Stdio::from(o.context("pty")?)).stderr(Stdio::from(e.context("pty")?));
    }
    sys::setsid_and_place_fds(&mut cmd, vec![(ready_w.as_raw_fd(), 3)], true);
    let child = cmd.spawn().context("starting the sandbox process")?;
    drop(ready_w);
    drop(cmd);
    c.saved.pid = child.id() as i32;
    c.saved.pid_start = sys::pid_start_time(c.saved.pid);
    c.save()?;
    let mut msg = String::new();
    std::io::Read::read_to_string(&mut std::fs::File::from(ready_r), &mut msg).context("waiting for the sandbox")?;
    if msg.trim() != "ok" {
        if msg.is_empty() {
            bail!("the sandbox process exited before it was ready");
        }
        bail!("creating the sandbox: {}", msg.trim());
    }
    if let Some(p) = &a.pid_file {
        write_pid_file(p, c.saved.pid)?;
    }
    let st = c.oci_state();
    let h = spec.hooks().as_ref();
    hooks::run("prestart", h.and_then(|h| h.prestart().as_ref()), &st)?;
    hooks::run("createRuntime", h.and_then(|h| h.create_runtime().as_ref()), &st)?;
    hooks::run("createContainer", h.and_then(|h| h.create_container().as_ref()), &st)?;
    Ok(child)
}

pub fn create(cli: &Cli, a: &CreateArgs) -> Result<i32> {
    // The sandbox is reparented when we exit; no need to wait for it.
    let (_c, _spec, _child) = create_container(cli, a, false)?;
    Ok(0)
}

fn start_container(c: &Container) -> Result<()> {
    match c.status() {
        "created" => {}
        s => bail!("cannot start a container in the {s} state"),
    }
    let spec = spec::load(&c.saved.bundle).ok();
    let h = spec.as_ref().and_then(|s| s.hooks().as_ref());
    let st = c.oci_state();
    hooks::run("startContainer", h.and_then(|h| h.start_container().as_ref()), &st)?;
    proto::call(&c.control_sock(), &Request::Start, &[])?;
    let st = c.oci_state();
    if let Err(e) = hooks::run("poststart", h.and_then(|h| h.poststart().as_ref()), &st) {
        tracing::warn!("{e:#}");
    }
    Ok(())
}

pub fn start(cli: &Cli, a: &IdArg) -> Result<i32> {
    let c = Container::load(&root(cli), &a.id)?;
    start_container(&c)?;
    Ok(0)
}

/// Forward the usual signals received by this process to `target` from
/// a thread (the signals are blocked in every thread).
fn forward_signals(target: impl Fn(i32) + Send + 'static) -> Result<()> {
    let set = sandbox::block_forwarded()?;
    std::thread::Builder::new().name("signals".into()).spawn(move || loop {
        if let Ok(sig) = set.wait() {
            target(sig as i32);
        }
    })?;
    Ok(())
}

pub fn run(cli: &Cli, a: &CreateArgs) -> Result<i32> {
    // Block before the sandbox exists, so no signal is lost in between.
    let pid_cell = std::sync::Arc::new(std::sync::atomic::AtomicI32::new(0));
    if !a.detach {
        let p = pid_cell.clone();
        forward_signals(move |sig| {
            let pid = p.load(std::sync::atomic::Ordering::SeqCst);
            if pid > 0 {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::try_from(sig).ok());
            }
        })?;
    }
    let (c, _spec, mut child) = create_container(cli, a, !a.detach)?;
    pid_cell.store(c.saved.pid, std::sync::atomic::Ordering::SeqCst);
    if let Err(e) = start_container(&c) {
        let _ = child.kill();
        let _ = child.wait();
        let _ = delete_container(&c, true);
        return Err(e);
    }
    if a.detach {
        return Ok(0);
    }
    let status = child.wait().context("waiting for the sandbox")?;
    let code = match (status.code(), std::os::unix::process::ExitStatusExt::signal(&status)) {
        (Some(c), _) => c,
        (None, Some(s)) => 128 + s,
        _ => 255,
    };
    if !a.keep {
        delete_container(&c, true)?;
    }
    Ok(code)
}

pub fn state(cli: &Cli, a: &IdArg) -> Result<i32> {
    let c = Container::load(&root(cli), &a.id)?;
    println!("{}", serde_json::to_string_pretty(&c.oci_state())?);
    Ok(0)
}

/// A signal by name (KILL, SIGKILL) or number.
pub fn parse_signal(s: &str) -> Result<i32> {
    if let Ok(n) = s.parse::<i32>() {
        if (1..=64).contains(&n) {
            return Ok(n);
        }
        bail!("invalid signal {s}");
    }
    let up = s.to_ascii_uppercase();
    let name = if up.starts_with("SIG") { up } else { format!("SIG{up}") };
    if let Ok(sig) = name.parse::<Signal>() {
        return Ok(sig as i32);
    }
    if let Some(rest) = name.strip_prefix("SIGRTMIN") {
        let off: i32 = if rest.is_empty() { 0 } else { rest.trim_start_matches('+').parse().context("signal")? };
        return Ok(34 + off);
    }
    bail!("unknown signal {s}")
}

/// runc's wording: containerd's shim recognises a container that has
/// already exited by the words "container not running" in the error.
fn not_running(id: &str) -> anyhow::Error {
    anyhow::anyhow!("container not running: \"{id}\"")
}

pub fn kill(cli: &Cli, a: &KillArgs) -> Result<i32> {
    let c = Container::load(&root(cli), &a.id)?;
    let sig = parse_signal(&a.signal)?;
    match c.status() {
        // Like runc: `kill --all` signals whatever is left, and a stopped
        // sandbox has nothing left (the shim calls it after every exit
        // of a container that shares a pid namespace).
        "stopped" if a.all => return Ok(0),
        "stopped" => return Err(not_running(&a.id)),
        "paused" if sig == libc::SIGKILL => {
            // Frozen tasks cannot die: thaw first.
            if let Some(f) = &c.saved.freezer {
                cgroup::freeze(f, false)?;
            }
        }
        _ => {}
    }
    if sig == libc::SIGKILL && !a.all {
        // KILL of init ends the whole sandbox: the host pid can do that.
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(c.saved.pid), Signal::SIGKILL).context("kill")?;
        return Ok(0);
    }
    match proto::call(&c.control_sock(), &Request::Signal { pid: None, sig, all: a.all }, &[]) {
        Ok(_) => Ok(0),
        Err(_) if a.all && !c.sandbox_alive() => Ok(0),
        Err(e) if !c.sandbox_alive() => Err(not_running(&a.id).context(format!("{e:#}"))),
        Err(e) => Err(e),
    }
}

fn delete_container(c: &Container, force: bool) -> Result<()> {
    let status = c.status();
    match status {
        "stopped" | "creating" => {}
        "created" => {}
        s if !force => bail!("cannot delete container \"{}\" that is not stopped: {s}", c.saved.id),
        _ => {}
    }
    if c.saved.pid > 0 && c.sandbox_alive() {
        if let Some(f) = &c.saved.freezer {
            let _ = cgroup::freeze(f, false);
        }
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(c.saved.pid), Signal::SIGKILL);
        if !sys::wait_pid_exit(c.saved.pid, Duration::from_secs(30))? {
            bail!("the sandbox process {} did not exit", c.saved.pid);
        }
    }
    if let Ok(spec) = spec::load(&c.saved.bundle) {
        let mut st = c.oci_state();
        st.status = "stopped".into();
        st.pid = 0;
        if let Err(e) = hooks::run("poststop", spec.hooks().as_ref().and_then(|h| h.poststop().as_ref()), &st) {
            tracing::warn!("{e:#}");
        }
    }
    cgroup::remove(&c.saved.cgroups);
    std::fs::remove_dir_all(&c.dir).with_context(|| format!("removing {}", c.dir.display()))?;
    Ok(())
}

pub fn delete(cli: &Cli, a: &DeleteArgs) -> Result<i32> {
    let c = match Container::load(&root(cli), &a.id) {
        Ok(c) => c,
        // runc: delete --force of a missing container succeeds.
        Err(_) if a.force && state::validate_id(&a.id).is_ok() => return Ok(0),
        Err(e) => return Err(e),
    };
    delete_container(&c, a.force)?;
    Ok(0)
}

fn parse_user(u: &str) -> Result<(u32, Option<u32>)> {
    Ok(match u.split_once(':') {
        Some((a, b)) => (a.parse().context("uid")?, Some(b.parse().context("gid")?)),
        None => (u.parse().context("uid")?, None),
    })
}

pub fn exec(cli: &Cli, a: &ExecArgs) -> Result<i32> {
    let c = Container::load(&root(cli), &a.id)?;
    if c.status() != "running" {
        bail!("cannot exec in a container that is not running ({})", c.status());
    }
    let (mut es, terminal, size) = match &a.process {
        Some(p) => {
            let data = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
            let proc_: Process = serde_json::from_slice(&data).with_context(|| format!("invalid process file {}", p.display()))?;
            let size = proc_.console_size().map(|b| (b.height() as u16, b.width() as u16));
            (spec::exec_spec(&proc_), proc_.terminal().unwrap_or(false), size)
        }
        None => {
            if a.command.is_empty() {
                bail!("exec: no command (give --process FILE or the command)");
            }
            let base = spec::load(&c.saved.bundle).ok().and_then(|s| s.process().clone());
            let mut es = base.as_ref().map(spec::exec_spec).unwrap_or_default();
            es.args = a.command.clone();
            (es, a.tty, None)
        }
    };
    if let Some(cwd) = &a.cwd {
        es.cwd = cwd.clone();
    }
    if es.cwd.is_empty() {
        es.cwd = "/".into();
    }
    for e in &a.env {
        let name = e.split('=').next().unwrap_or("");
        es.env.retain(|x| !x.starts_with(&format!("{name}=")));
        es.env.push(e.clone());
    }
    if !es.env.iter().any(|e| e.starts_with("PATH=")) {
        es.env.push("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    }
    if let Some(u) = &a.user {
        let (uid, gid) = parse_user(u)?;
        es.uid = uid;
        es.gid = gid.unwrap_or(es.gid);
    }
    es.groups.extend(a.additional_gids.iter().copied());
    es.no_new_privs |= a.no_new_privs;
    let stdio = if terminal {
        match &a.console_socket {
            Some(cs) => pty_to_console(cs, size)?,
            None if !a.detach => dup_stdio()?,
            None => bail!("a terminal needs --console-socket with --detach"),
        }
    } else {
        dup_stdio()?
    };
    exec_process(cli, &c, es, stdio, a)
}

fn exec_process(cli: &Cli, c: &Container, es: ExecSpec, stdio: Vec<OwnedFd>, a: &ExecArgs) -> Result<i32> {
    let sock = c.control_sock();
    if !a.detach {
        let s2 = sock.clone();
        let pid_cell = std::sync::Arc::new(std::sync::atomic::AtomicI32::new(0));
        let p = pid_cell.clone();
        forward_signals(move |sig| {
            let pid = p.load(std::sync::atomic::Ordering::SeqCst);
            if pid > 0 {
                let _ = proto::call(&s2, &Request::Signal { pid: Some(pid), sig, all: false }, &[]);
            }
        })?;
        let r = proto::call(&sock, &Request::Exec { spec: es }, &stdio)?;
        drop(stdio);
        let pid = r.pid.context("no pid in the reply")?;
        pid_cell.store(pid, std::sync::atomic::Ordering::SeqCst);
        if let Some(pf) = &a.pid_file {
            write_pid_file(pf, std::process::id() as i32)?;
        }
        let r = proto::call(&sock, &Request::WaitPid { pid }, &[])?;
        return Ok(sentry::boot::Outcome::from_wait_status(r.status.unwrap_or(255 << 8)).exit_code());
    }
    let r = proto::call(&sock, &Request::Exec { spec: es }, &stdio)?;
    drop(stdio);
    let pid = r.pid.context("no pid in the reply")?;
    // A host process that stands for the exec'd one: waits, exits with
    // its status, forwards signals.
    let exe = std::env::current_exe()?;
    let mut cmd = Command::new(exe);
    cmd.arg("--root").arg(root(cli)).arg("exec-wait").arg(&c.saved.id).arg(pid.to_string());
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    sys::setsid_and_place_fds(&mut cmd, vec![], true);
    let child = cmd.spawn().context("starting exec-wait")?;
    if let Some(pf) = &a.pid_file {
        write_pid_file(pf, child.id() as i32)?;
    }
    Ok(0)
}

pub fn exec_wait(cli: &Cli, a: &ExecWaitArgs) -> Result<i32> {
    let c = Container::load(&root(cli), &a.id)?;
    let sock = c.control_sock();
    let s2 = sock.clone();
    let pid = a.pid;
    forward_signals(move |sig| {
        let _ = proto::call(&s2, &Request::Signal { pid: Some(pid), sig, all: false }, &[]);
    })?;
    let r = proto::call(&sock, &Request::WaitPid { pid }, &[])?;
    Ok(sentry::boot::Outcome::from_wait_status(r.status.unwrap_or(255 << 8)).exit_code())
}

pub fn ps(cli: &Cli, a: &PsArgs) -> Result<i32> {
    let c = Container::load(&root(cli), &a.id)?;
    if c.status() == "stopped" {
        return Err(not_running(&a.id));
    }
    if a.format == "json" {
        // Host pids, as runc gives: callers (docker top, containerd's
        // Pids) look them up in the host's ps. The workload has none of
        // its own: these are the sandbox process, its gofers and stubs
        // (the container's cgroup), or just the sandbox process.
        let mut pids: Vec<i32> = c
            .saved
            .cgroups
            .first()
            .and_then(|d| std::fs::read_to_string(d.join("cgroup.procs")).ok())
            .map(|t| t.lines().filter_map(|l| l.trim().parse().ok()).collect())
            .unwrap_or_default();
        if !pids.contains(&c.saved.pid) {
            pids.insert(0, c.saved.pid);
        }
        println!("{}", serde_json::to_string(&pids)?);
        return Ok(0);
    }
    let r = proto::call(&c.control_sock(), &Request::Ps, &[])?;
    let procs = r.procs.unwrap_or_default();
    match a.format.as_str() {
        "table" => {
            println!("{:<8} {:<8} {:<8} {:<4} CMD", "UID", "PID", "PPID", "STAT");
            for p in procs {
                println!("{:<8} {:<8} {:<8} {:<4} {}", p.uid, p.pid, p.ppid, p.state, p.cmd);
            }
        }
        f => bail!("invalid format {f} (table or json)"),
    }
    Ok(0)
}

pub fn list(cli: &Cli, a: &ListArgs) -> Result<i32> {
    let root = root(cli);
    let mut states = Vec::new();
    if let Ok(rd) = std::fs::read_dir(&root) {
        let mut ids: Vec<String> = rd.filter_map(|e| e.ok()).filter(|e| e.path().is_dir()).map(|e| e.file_name().to_string_lossy().into_owned()).collect();
        ids.sort();
        for id in ids {
            if let Ok(c) = Container::load(&root, &id) {
                states.push(c.oci_state());
            }
        }
    }
    if a.quiet {
        for s in &states {
            println!("{}", s.id);
        }
    } else if a.format == "json" {
        println!("{}", serde_json::to_string(&states)?);
    } else {
        println!("{:<20} {:<8} {:<10} {:<40} {:<32} OWNER", "ID", "PID", "STATUS", "BUNDLE", "CREATED");
        for s in &states {
            println!("{:<20} {:<8} {:<10} {:<40} {:<32} root", s.id, s.pid, s.status, s.bundle.display(), s.created);
        }
    }
    Ok(0)
}

pub fn spec_cmd(_cli: &Cli, a: &SpecArgs) -> Result<i32> {
    let path = a.bundle.join("config.json");
    if path.exists() {
        bail!("File {} exists. Remove it first", path.display());
    }
    let s = spec::default_spec();
    let json = serde_json::to_string_pretty(&s)?;
    std::fs::write(&path, json).with_context(|| format!("writing {}", path.display()))?;
    Ok(0)
}

fn stats_json(id: &str, r: &proto::Reply) -> serde_json::Value {
    serde_json::json!({
        "type": "stats",
        "id": id,
        "data": {
            "memory": { "usage": { "usage": r.memory_bytes.unwrap_or(0) } },
            "pids": { "current": r.pids.unwrap_or(0) },
        }
    })
}

fn parse_duration(s: &str) -> Result<Duration> {
    let (num, mul) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else {
        (s, 1.0)
    };
    let v: f64 = num.parse().with_context(|| format!("invalid interval {s}"))?;
    Ok(Duration::from_secs_f64(v * mul))
}

pub fn events(cli: &Cli, a: &EventsArgs) -> Result<i32> {
    let c = Container::load(&root(cli), &a.id)?;
    let interval = parse_duration(&a.interval)?;
    loop {
        if c.status() == "stopped" {
            return Err(not_running(&a.id));
        }
        let r = proto::call(&c.control_sock(), &Request::Stats, &[])?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", stats_json(&a.id, &r))?;
        out.flush()?;
        if a.stats {
            return Ok(0);
        }
        // Periodic sampling, as runc events does.
        std::thread::sleep(interval);
    }
}

pub fn pause(cli: &Cli, a: &IdArg, frozen: bool) -> Result<i32> {
    let c = Container::load(&root(cli), &a.id)?;
    let st = c.status();
    match (frozen, st) {
        (true, "running") | (false, "paused") => {}
        _ => bail!("container \"{}\" is {st}", a.id),
    }
    let f = c.saved.freezer.as_ref().context("pause/resume needs a freezer cgroup (linux.cgroupsPath on a cgroup v1 host)")?;
    cgroup::freeze(f, frozen)?;
    Ok(0)
}

pub fn features() -> Result<i32> {
    let v = serde_json::json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.1.0",
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": ["bind", "rbind", "ro", "rw", "nosuid", "nodev", "noexec"],
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"],
            "capabilities": [],
            "cgroup": { "v1": true, "v2": true, "systemd": false, "systemdUser": false },
            "seccomp": { "enabled": false },
            "apparmor": { "enabled": false },
            "selinux": { "enabled": false }
        },
        "annotations": {
            "org.opencontainers.runtime-spec.features.version": "1.0.2-dev",
            "dev.runsc-rs.sandbox": "userspace kernel (Sentry) over ptrace or kvm"
        }
    });
    println!("{}", serde_json::to_string_pretty(&v)?);
    Ok(0)
}
