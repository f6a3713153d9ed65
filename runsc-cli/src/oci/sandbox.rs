//! `runsc-rs boot` (hidden): the sandbox process of one container.
//!
//! Started by `create` in a new session with the container's stdio as
//! fds 0/1/2. It joins the cgroups and network namespace create prepared,
//! starts the gofers, builds the sandbox (stopping before the first
//! process runs), listens on `<state>/control.sock`, reports "ok" (or the
//! error) on the ready fd, and then serves control requests. It exits when
//! the container's init exits, with init's exit code (128+N for a signal).
//! Host signals it receives (TERM, INT, HUP, QUIT, USR1, USR2, WINCH,
//! ALRM) are forwarded to the container's init.

use std::collections::HashMap;
use std::io::Write;
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Condvar, Mutex};

use anyhow::{bail, Context, Result};
use clap::Args;
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use sentry::boot::{build_sandbox, Outcome, PlatformKind, Sandbox, SandboxConfig};
use sentry::control::ProcessSpec;
use sentry::kernel::{Kernel, KernelOptions};
use sentry::task::Rlimit;
use tracing::{info, warn};

use super::proto::{self, ExecSpec, Reply, Request};
use crate::{Cli, PlatformArg};

#[derive(Args, Debug)]
pub struct BootArgs {
    #[arg(long)]
    pub bundle: PathBuf,
    #[arg(long)]
    pub id: String,
    /// The container's state directory.
    #[arg(long = "state-dir")]
    pub state_dir: PathBuf,
    /// Where to report readiness ("ok\n") or the error.
    #[arg(long = "ready-fd")]
    pub ready_fd: i32,
    /// Host cgroup directories to join first.
    #[arg(long = "cgroup")]
    pub cgroups: Vec<PathBuf>,
}

/// The signals forwarded to the container's init.
pub fn forwarded_signals() -> SigSet {
    let mut s = SigSet::empty();
    for sig in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP, Signal::SIGQUIT, Signal::SIGUSR1, Signal::SIGUSR2, Signal::SIGWINCH, Signal::SIGALRM] {
        s.add(sig);
    }
    s
}

/// Block the forwarded signals in this thread (and the threads it makes).
pub fn block_forwarded() -> Result<SigSet> {
    let set = forwarded_signals();
    nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&set), None).context("blocking signals")?;
    Ok(set)
}

enum Event {
    Started(Arc<Kernel>),
    Exit(i32),
}

struct Server {
    kernel: Arc<Kernel>,
    pending: Mutex<Option<Sandbox>>,
    started: AtomicBool,
    /// Exit statuses of exec'd processes: None while running.
    execs: Mutex<HashMap<i32, Option<i32>>>,
    execs_cv: Condvar,
    events: Mutex<Sender<Event>>,
}

pub fn run(cli: &Cli, a: &BootArgs) -> Result<i32> {
    if a.ready_fd < 3 {
        bail!("--ready-fd must be an inherited descriptor (>= 3)");
    }
    // SAFETY: the fd was placed at this number for us by `create` and
    // nothing else in this process owns it.
    let ready = unsafe { OwnedFd::from_raw_fd(a.ready_fd) };
    let mut ready = std::fs::File::from(ready);
    let set = block_forwarded()?;
    let mut gofers = Vec::new();
    let r = prepare(cli, a, &mut gofers);
    let (server, listener) = match r {
        Ok(x) => {
            let _ = ready.write_all(b"ok\n");
            drop(ready);
            x
        }
        Err(e) => {
            let _ = write!(ready, "{e:#}");
            drop(ready);
            stop_gofers(&mut gofers);
            return Err(e);
        }
    };
    let (tx, rx) = channel();
    *server.events.lock().unwrap() = tx;
    {
        let s = server.clone();
        std::thread::Builder::new().name("signals".into()).spawn(move || loop {
            let Ok(sig) = set.wait() else { continue };
            let sig = sig as i32;
            info!(sig, "host signal for the container");
            if sig == libc::SIGWINCH && sentry::console::sync_winsize() {
                // The in-sandbox pty took the new size and signalled its
                // foreground group.
            } else if s.started.load(Ordering::SeqCst) {
                let _ = s.kernel.signal_process(1, sig);
            } else if sig != libc::SIGWINCH {
                let _ = s.events.lock().unwrap().send(Event::Exit(128 + sig));
            }
        })?;
    }
    {
        let s = server.clone();
        std::thread::Builder::new().name("control".into()).spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let s = s.clone();
                let _ = std::thread::Builder::new().name("control-conn".into()).spawn(move || serve(&s, conn));
            }
        })?;
    }
    let code = match rx.recv() {
        Ok(Event::Started(k)) => Outcome::from_wait_status(k.wait_done()).exit_code(),
        Ok(Event::Exit(code)) => code,
        Err(_) => 255,
    };
    info!(code, "the container's init has exited");
    // control.sock stays until `delete` removes the state directory: the
    // sandbox is confined by now and names no host path.
    stop_gofers(&mut gofers);
    Ok(code)
}

fn stop_gofers(gofers: &mut Vec<Child>) {
    for mut g in gofers.drain(..) {
        let _ = g.kill();
        let _ = g.wait();
    }
}

fn dup_stdio() -> Result<Vec<OwnedFd>> {
    [std::io::stdin().as_fd().try_clone_to_owned(), std::io::stdout().as_fd().try_clone_to_owned(), std::io::stderr().as_fd().try_clone_to_owned()]
        .into_iter()
        .map(|r| r.context("duplicating stdio"))
        .collect()
}

/// A mount the sandbox makes itself.
enum Extra {
    /// A directory served by its own gofer.
    Gofer { dest: String, client: OwnedFd, read_only: bool },
    /// A regular file served by its own gofer (rooted at that file),
    /// mounted over a file at `dest`.
    File { dest: String, client: OwnedFd, read_only: bool },
    /// Any other kind of source (a device, a socket): its content copied
    /// into the sandbox's writable layer.
    Copy { dest: String, data: Vec<u8> },
    Tmpfs { dest: String },
    /// The Sentry's synthetic sysfs.
    Sysfs { dest: String, flags: fs::mount::MountFlags },
}

/// The host namespaces the config names, for the sandbox process (and the
/// gofers and stubs it starts). Returns the sandbox's hostname.
///
/// - network with a path: joined, so the sandbox sits in the pod's netns
///   (which `--network=sandbox`, the default, then takes over: see
///   crate::network);
/// - uts with a path (a pod's containers join the pause container's): joined,
///   and its hostname is the sandbox's when the config sets none;
/// - a new uts namespace with a hostname: made and named, so containers
///   that join it later see the name, as with runc.
fn host_namespaces(spec: &oci_spec::runtime::Spec) -> Result<String> {
    use nix::sched::CloneFlags;
    use oci_spec::runtime::LinuxNamespaceType as Ns;
    let mut hostname = spec.hostname().clone();
    for ns in spec.linux().iter().flat_map(|l| l.namespaces().iter().flatten()) {
        match (ns.typ(), ns.path()) {
            (Ns::Network, Some(path)) => {
                let f = std::fs::File::open(path).with_context(|| format!("network namespace {}", path.display()))?;
                nix::sched::setns(f, CloneFlags::CLONE_NEWNET).with_context(|| format!("joining network namespace {}", path.display()))?;
            }
            (Ns::Uts, Some(path)) => {
                let f = std::fs::File::open(path).with_context(|| format!("uts namespace {}", path.display()))?;
                nix::sched::setns(f, CloneFlags::CLONE_NEWUTS).with_context(|| format!("joining uts namespace {}", path.display()))?;
                if hostname.is_none() {
                    hostname = Some(nix::unistd::gethostname().context("gethostname")?.to_string_lossy().into_owned());
                }
            }
            (Ns::Uts, None) => {
                if let Some(h) = &hostname {
                    nix::sched::unshare(CloneFlags::CLONE_NEWUTS).context("new uts namespace")?;
                    nix::unistd::sethostname(h).context("sethostname")?;
                }
            }
            _ => {}
        }
    }
    Ok(hostname.unwrap_or_else(|| "runsc-rs".into()))
}

fn prepare(cli: &Cli, a: &BootArgs, gofers: &mut Vec<Child>) -> Result<(Arc<Server>, UnixListener)> {
    for cg in &a.cgroups {
        std::fs::write(cg.join("cgroup.procs"), std::process::id().to_string()).with_context(|| format!("joining cgroup {}", cg.display()))?;
    }
    let spec = super::spec::load(&a.bundle)?;
    // process.oomScoreAdj applies to the sandbox process (and the gofers
    // and stubs it starts inherit it): the host's OOM killer sees the
    // container as this process.
    if let Some(adj) = spec.process().as_ref().and_then(|p| p.oom_score_adj()) {
        std::fs::write("/proc/self/oom_score_adj", adj.to_string()).context("setting oom_score_adj")?;
    }
    // With a console, take it as our controlling terminal: its resizes
    // then reach us as SIGWINCH, and are passed on to the in-sandbox pty.
    if spec.process().as_ref().and_then(|p| p.terminal()).unwrap_or(false) {
        use std::os::fd::AsFd;
        if let Err(e) = super::sys::set_controlling_tty(std::io::stdin().as_fd()) {
            info!("console is not our controlling terminal ({e}): resizes are not followed");
        }
    }
    let hostname = host_namespaces(&spec)?;
    // In the container's netns, before the Sentry is confined.
    let network = crate::network::setup_oci(cli.network.unwrap_or(crate::network::NetworkArg::Sandbox), &spec)?;
    let root = super::spec::rootfs(&a.bundle, &spec)?.canonicalize().context("rootfs")?;
    // root.readonly (docker --read-only): the root becomes read-only once
    // the mount points and copied files are in place.
    let read_only_root = spec.root().as_ref().and_then(|r| r.readonly()).unwrap_or(false);
    let (ours, theirs) = gofer::socketpair().context("gofer socket")?;
    gofers.push(crate::spawn::gofer(&root, theirs, true)?);

    let mut extras = Vec::new();
    for m in spec.mounts().iter().flatten() {
        let dest = m.destination().to_string_lossy().into_owned();
        let typ = m.typ().clone().unwrap_or_default();
        let opts = m.options().clone().unwrap_or_default();
        let is_bind = typ == "bind" || opts.iter().any(|o| o == "bind" || o == "rbind");
        match typ.as_str() {
            _ if is_bind => {
                let src = m.source().clone().context("bind mount without a source")?;
                let src = if src.is_absolute() { src } else { a.bundle.join(src) };
                let read_only = opts.iter().any(|o| o == "ro");
                let meta = std::fs::metadata(&src).with_context(|| format!("bind mount source {}", src.display()))?;
                if meta.is_dir() || meta.is_file() {
                    let (c, s) = gofer::socketpair().context("gofer socket")?;
                    gofers.push(crate::spawn::gofer(&src, s, read_only)?);
                    extras.push(if meta.is_dir() { Extra::Gofer { dest, client: c, read_only } } else { Extra::File { dest, client: c, read_only } });
                } else {
                    let data = std::fs::read(&src).with_context(|| format!("bind mount source {}", src.display()))?;
                    extras.push(Extra::Copy { dest, data });
                }
            }
            // The sandbox's own /dev (devfs with /dev/pts) is already
            // there: a tmpfs over it (docker's and runc's default /dev
            // mount) would hide /dev/null, /dev/ptmx and the ttys.
            "tmpfs" if dest.trim_end_matches('/') == "/dev" => info!("mount tmpfs on /dev: the sandbox's devfs stands for it"),
            "tmpfs" => extras.push(Extra::Tmpfs { dest }),
            "sysfs" => {
                let has = |o: &str| opts.iter().any(|x| x == o);
                let flags = fs::mount::MountFlags { readonly: has("ro"), nosuid: has("nosuid"), nodev: has("nodev"), noexec: has("noexec") };
                extras.push(Extra::Sysfs { dest, flags });
            }
            // Already there (/proc, /dev), or not modelled yet.
            _ => info!("mount {typ} on {dest}: accepted, not mounted"),
        }
    }

    let process = spec.process().as_ref().context("no process")?;
    let es = super::spec::exec_spec(process);
    let opts = KernelOptions {
        strace: cli.strace,
        hostname,
        sysctls: super::spec::sysctls(&spec)?,
        ..Default::default()
    };
    let cfg = SandboxConfig {
        platform: match cli.platform {
            PlatformArg::Ptrace => PlatformKind::Ptrace,
            PlatformArg::Kvm => PlatformKind::Kvm,
        },
        gofer: ours,
        overlay: true,
        argv: es.args.iter().map(|s| s.clone().into_bytes()).collect(),
        env: es.env.iter().map(|s| s.clone().into_bytes()).collect(),
        cwd: es.cwd.clone().into_bytes(),
        uid: es.uid,
        gid: es.gid,
        stdio: dup_stdio()?,
        // process.terminal: the container gets an in-sandbox pty on the
        // console (its stdio is the host pty slave from create).
        console: process.terminal().unwrap_or(false),
        opts,
        setup: Some(Box::new(move |k: &Arc<Kernel>| mount_extras(k, extras, read_only_root))),
        before_run: Some(crate::confine::sentry_hook(cli)),
        network,
    };
    let sandbox = build_sandbox(cfg).context("building the sandbox")?;
    {
        let tg = &sandbox.init.tg;
        tg.creds.lock().unwrap().groups = es.groups.clone();
        let mut l = tg.limits.lock().unwrap();
        for (r, soft, hard) in &es.rlimits {
            if let Some(slot) = l.get_mut(*r as usize) {
                *slot = Rlimit { cur: *soft, max: *hard };
            }
        }
        tg.no_new_privs.store(es.no_new_privs, Ordering::SeqCst);
        // process.capabilities: recorded for the workload's view (capget,
        // /proc/self/status); exec recomputes them from the bounding set
        // as Linux does.
        if let Some(c) = process.capabilities() {
            let mask = |set: &Option<oci_spec::runtime::Capabilities>| -> u64 {
                set.iter().flatten().filter_map(|cap| serde_json::to_value(cap).ok()).filter_map(|v| v.as_str().and_then(cap_number)).fold(0, |m, n| m | (1u64 << n))
            };
            tg.capbset.store(mask(c.bounding()), Ordering::SeqCst);
            *tg.caps.lock().unwrap() = sentry::task::CapSets {
                effective: mask(c.effective()),
                permitted: mask(c.permitted()),
                inheritable: mask(c.inheritable()),
                ambient: mask(c.ambient()),
            };
        }
    }
    let kernel = sandbox.kernel.clone();
    kernel.enable_control();
    let sock = a.state_dir.join("control.sock");
    let _ = std::fs::remove_file(&sock);
    let listener = super::sys::with_short_sock_path(&sock, |p| UnixListener::bind(p)).with_context(|| format!("control socket {}", sock.display()))?;
    let (tx, _) = channel();
    let server = Arc::new(Server {
        kernel,
        pending: Mutex::new(Some(sandbox)),
        started: AtomicBool::new(false),
        execs: Mutex::new(HashMap::new()),
        execs_cv: Condvar::new(),
        events: Mutex::new(tx),
    });
    Ok((server, listener))
}

/// Mount the gofer at the other end of `client` (a directory or a file
/// root) on `dest`, which exists and is of the same kind.
fn mount_gofer(k: &Kernel, ctx: &fs::vfs::Context, dest: &str, client: OwnedFd, read_only: bool) -> Result<(), String> {
    let fs = fs::goferfs::GoferFs::new(Arc::new(gofer::Client::new(client))).map_err(|e| format!("bind mount {dest}: {e}"))?;
    let flags = fs::mount::MountFlags { readonly: read_only, ..Default::default() };
    k.vfs.mount(ctx, None, dest.as_bytes(), fs, flags, "bind").map_err(|e| format!("bind mount {dest}: {e}"))?;
    Ok(())
}

/// mkdir -p inside the sandbox, as root.
fn mkdir_p(k: &Kernel, path: &str) -> Result<(), String> {
    let ctx = k.vfs.root_context(fs::creds::Creds::root(), 0);
    let mut cur = String::new();
    for comp in path.split('/').filter(|c| !c.is_empty()) {
        cur.push('/');
        cur.push_str(comp);
        match k.vfs.mkdir(&ctx, None, cur.as_bytes(), 0o755) {
            Ok(()) | Err(abi::Errno::EEXIST) => {}
            Err(e) => return Err(format!("mkdir {cur}: {e}")),
        }
    }
    Ok(())
}

fn mount_extras(k: &Arc<Kernel>, extras: Vec<Extra>, read_only_root: bool) -> Result<(), String> {
    use fs::mount::MountFlags;
    let ctx = k.vfs.root_context(fs::creds::Creds::root(), 0);
    for e in extras {
        match e {
            Extra::Gofer { dest, client, read_only } => {
                mkdir_p(k, &dest)?;
                mount_gofer(k, &ctx, &dest, client, read_only)?;
            }
            Extra::File { dest, client, read_only } => {
                // The mountpoint is a file: the image's, or an empty one
                // made in the writable layer (as runc does).
                if let Some((dir, _)) = dest.rsplit_once('/') {
                    mkdir_p(k, dir)?;
                }
                k.vfs.open(&ctx, None, dest.as_bytes(), libc::O_RDONLY | libc::O_CREAT, 0o644).map_err(|e| format!("bind mount of a file on {dest}: {e}"))?;
                mount_gofer(k, &ctx, &dest, client, read_only)?;
            }
            Extra::Tmpfs { dest } => {
                mkdir_p(k, &dest)?;
                let fs = fs::tmpfs::TmpFs::new(0o1777, fs::types::Owner { uid: 0, gid: 0 });
                k.vfs.mount(&ctx, None, dest.as_bytes(), fs, MountFlags::default(), "tmpfs").map_err(|e| format!("tmpfs on {dest}: {e}"))?;
            }
            Extra::Sysfs { dest, flags } => {
                mkdir_p(k, &dest)?;
                let fs = sentry::fsyscalls::mount::new_sysfs();
                k.vfs.mount(&ctx, None, dest.as_bytes(), fs, flags, "sysfs").map_err(|e| format!("sysfs on {dest}: {e}"))?;
            }
            Extra::Copy { dest, data } => {
                let r = (|| {
                    if let Some((dir, _)) = dest.rsplit_once('/') {
                        mkdir_p(k, dir)?;
                    }
                    let f = k
                        .vfs
                        .open(&ctx, None, dest.as_bytes(), libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC, 0o644)
                        .map_err(|e| format!("bind mount of a file on {dest}: {e}"))?;
                    let mut off = 0;
                    while off < data.len() {
                        off += f.write(&data[off..]).map_err(|e| format!("writing {dest}: {e}"))?;
                    }
                    Ok::<(), String>(())
                })();
                match r {
                    Ok(()) => {}
                    // A read-only rootfs may have no layer to copy the
                    // content into: the image's own file stays.
                    Err(e) if read_only_root => warn!("{e} (read-only rootfs: skipped)"),
                    Err(e) => return Err(e),
                }
            }
        }
    }
    if read_only_root {
        k.vfs.root().mount.remount_readonly();
    }
    Ok(())
}

fn serve(s: &Arc<Server>, conn: UnixStream) {
    let reply = match proto::read_request(&conn) {
        Ok((req, fds)) => handle(s, req, fds).unwrap_or_else(Reply::err),
        Err(e) => Reply::err(format!("bad request: {e:#}")),
    };
    if let Err(e) = proto::write_reply(&conn, &reply) {
        warn!("control reply: {e:#}");
    }
}

fn handle(s: &Arc<Server>, req: Request, fds: Vec<OwnedFd>) -> Result<Reply> {
    let k = &s.kernel;
    let started = s.started.load(Ordering::SeqCst);
    Ok(match req {
        Request::Status => Reply { started: Some(started), ..Default::default() },
        Request::Start => {
            let sandbox = s.pending.lock().unwrap().take().context("the container has already been started")?;
            let k = sandbox.start().context("starting the container's process")?;
            s.started.store(true, Ordering::SeqCst);
            let _ = s.events.lock().unwrap().send(Event::Started(k));
            Reply::default()
        }
        Request::Signal { pid, sig, all } => {
            if !started {
                if pid.is_some() {
                    bail!("the container has not started");
                }
                // Nothing runs yet: the signal ends the sandbox.
                let _ = s.events.lock().unwrap().send(Event::Exit(128 + sig));
                return Ok(Reply::default());
            }
            if all {
                k.signal_all(sig)?;
            } else {
                k.signal_process(pid.unwrap_or(1), sig)?;
            }
            Reply::default()
        }
        Request::Exec { spec } => {
            if !started {
                bail!("cannot exec in a container that is not running");
            }
            let pid = exec(s, spec, fds)?;
            Reply { pid: Some(pid), ..Default::default() }
        }
        Request::WaitPid { pid } => {
            let mut m = s.execs.lock().unwrap();
            loop {
                match m.get(&pid) {
                    None => bail!("no process {pid} started by exec"),
                    Some(Some(status)) => {
                        let status = *status;
                        m.remove(&pid);
                        break Reply { status: Some(status), ..Default::default() };
                    }
                    Some(None) => m = s.execs_cv.wait(m).unwrap(),
                }
            }
        }
        Request::Ps => {
            let procs = k
                .process_list()
                .into_iter()
                .map(|p| proto::Proc { pid: p.pid, ppid: p.ppid, uid: p.uid, state: p.state, cmd: p.comm })
                .collect();
            Reply { procs: Some(procs), ..Default::default() }
        }
        Request::Stats => {
            let st = k.stats();
            Reply { memory_bytes: Some(st.memory_bytes), pids: Some(st.pids), ..Default::default() }
        }
    })
}

fn exec(s: &Arc<Server>, spec: ExecSpec, fds: Vec<OwnedFd>) -> Result<i32> {
    if fds.len() != 3 {
        bail!("exec needs 3 stdio fds, got {}", fds.len());
    }
    let ps = ProcessSpec {
        argv: spec.args.iter().map(|x| x.clone().into_bytes()).collect(),
        env: spec.env.iter().map(|x| x.clone().into_bytes()).collect(),
        cwd: spec.cwd.into_bytes(),
        uid: spec.uid,
        gid: spec.gid,
        groups: spec.groups,
        stdio: fds,
        rlimits: spec.rlimits.iter().map(|(r, c, m)| (*r, Rlimit { cur: *c, max: *m })).collect(),
        no_new_privs: spec.no_new_privs,
    };
    let k = s.kernel.clone();
    // Hold the table lock across spawn so a fast exit is not missed.
    let mut m = s.execs.lock().unwrap();
    let pid = k.spawn_process(ps)?;
    m.insert(pid, None);
    drop(m);
    reap_exec(s, pid);
    Ok(pid)
}

/// Collect the exit status of an exec'd process.
fn reap_exec(s: &Arc<Server>, pid: i32) {
    let s2 = s.clone();
    let _ = std::thread::Builder::new().name("exec-wait".into()).spawn(move || {
        let status = s2.kernel.wait_process(pid).unwrap_or(255 << 8);
        s2.execs.lock().unwrap().insert(pid, Some(status));
        s2.execs_cv.notify_all();
    });
}

/// The number of a capability named as in the OCI spec ("CAP_CHOWN").
fn cap_number(name: &str) -> Option<u32> {
    const NAMES: [&str; 41] = [
        "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP", "LINUX_IMMUTABLE",
        "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT",
        "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE",
        "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ",
        "PERFMON", "BPF", "CHECKPOINT_RESTORE",
    ];
    let n = name.strip_prefix("CAP_").unwrap_or(name);
    NAMES.iter().position(|x| *x == n).map(|i| i as u32)
}
