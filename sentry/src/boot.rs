//! Assembling a sandbox: memory file, platform, root filesystem, kernel and
//! the first process.

use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex};

use abi::{Errno, SysResult};
use fs::creds::Creds;
use fs::file::File;
use fs::inode::Filesystem;
use fs::mount::MountFlags;
use fs::types::Owner;
use fs::vfs::Vfs;
use platform::{MemoryFile, Platform};
use tracing::info;

use crate::fdtable::FdTable;
use crate::kernel::{Kernel, KernelOptions, ProcState};
use crate::mm::{MemoryManager, PageAllocator};
use crate::signal::SigSet;
use crate::task::{run, FsContext, Task, ThreadGroup};

/// Size of the (sparse) memory file: the most workload memory a sandbox
/// can use.
pub const MEMORY_FILE_SIZE: u64 = 16 << 30;

/// Which platform runs the workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlatformKind {
    Ptrace,
    Kvm,
}

/// What to run and how.
pub struct SandboxConfig {
    pub platform: PlatformKind,
    /// The client end of the gofer serving the rootfs.
    pub gofer: OwnedFd,
    /// Put an in-sandbox writable layer (tmpfs) over the rootfs.
    pub overlay: bool,
    pub argv: Vec<Vec<u8>>,
    pub env: Vec<Vec<u8>>,
    pub cwd: Vec<u8>,
    pub uid: u32,
    pub gid: u32,
    /// The workload's fds 0, 1, 2 (host fds donated to it).
    pub stdio: Vec<OwnedFd>,
    /// When stdin is a host terminal, give the workload an in-sandbox pty
    /// bridged to it (OCI process.terminal) instead of the host tty itself.
    pub console: bool,
    pub opts: KernelOptions,
    /// Called once /dev and /proc are mounted and before the first process
    /// is made (its cwd looked up): the OCI runtime mounts the container's
    /// other mounts here.
    pub setup: Option<SetupFn>,
    /// Called once, in [`Sandbox::start`], right before the first workload
    /// instruction can run: the runtime confines the Sentry here (seccomp).
    pub before_run: Option<BeforeRunFn>,
    /// The NICs of `--network=sandbox` (empty: loopback only).
    pub network: Vec<netstack::NicConfig>,
}

/// See [`SandboxConfig::setup`].
pub type SetupFn = Box<dyn FnOnce(&Arc<Kernel>) -> Result<(), String> + Send>;

/// See [`SandboxConfig::before_run`].
pub type BeforeRunFn = Box<dyn FnOnce() -> Result<(), String> + Send>;

/// How the first process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Exited(i32),
    Signaled(i32),
}

impl Outcome {
    pub fn from_wait_status(s: i32) -> Outcome {
        if s & 0x7f == 0 {
            Outcome::Exited((s >> 8) & 0xff)
        } else {
            Outcome::Signaled(s & 0x7f)
        }
    }

    /// The shell convention: the exit code, or 128 + signal.
    pub fn exit_code(self) -> i32 {
        match self {
            Outcome::Exited(c) => c,
            Outcome::Signaled(s) => 128 + s,
        }
    }
}

/// Errors setting the sandbox up (not the workload's).
#[derive(Debug, thiserror::Error)]
pub enum BootError {
    #[error("platform: {0}")]
    Platform(#[from] platform::PlatformError),
    #[error("{0}: {1}")]
    Fs(&'static str, Errno),
    #[error("{0}")]
    Setup(String),
}

fn fs_err(what: &'static str) -> impl Fn(Errno) -> BootError {
    move |e| BootError::Fs(what, e)
}

/// Build the root filesystem: gofer-backed, optionally under an overlay,
/// with /dev mounted.
fn build_vfs(cfg: &SandboxConfig) -> Result<Arc<Vfs>, BootError> {
    let client = gofer::Client::new(cfg.gofer.try_clone().map_err(|e| BootError::Fs("gofer fd", e.into()))?);
    let lower = fs::goferfs::GoferFs::new(Arc::new(client)).map_err(fs_err("attach to the gofer"))?;
    let root_owner = Owner { uid: 0, gid: 0 };
    let rootfs: Arc<dyn Filesystem> = if cfg.overlay {
        let upper = fs::tmpfs::TmpFs::new(0o755, root_owner);
        fs::overlay::OverlayFs::new(upper.root(), lower.root())
    } else {
        lower
    };
    let vfs = Vfs::new(rootfs, MountFlags::default(), "none");
    let ctx = vfs.root_context(Creds::root(), 0);
    match vfs.mkdir(&ctx, None, b"/dev", 0o755) {
        Ok(()) | Err(Errno::EEXIST) => {
            let dev = fs::devfs::new_devfs().map_err(fs_err("devfs"))?;
            vfs.mount(&ctx, None, b"/dev", dev, MountFlags { nosuid: true, ..Default::default() }, "none").map_err(fs_err("mount /dev"))?;
            fs::devpts::mount(&vfs, &ctx).map_err(fs_err("mount /dev/pts"))?;
        }
        Err(e) => info!("no /dev in the sandbox: {e}"),
    }
    fs::devfs::register_devices(&vfs, None);
    Ok(vfs)
}

/// Mount procfs on /proc (created if missing); it needs the kernel.
fn mount_proc(k: &Arc<Kernel>) -> Result<(), BootError> {
    let ctx = k.vfs.root_context(Creds::root(), 0);
    match k.vfs.mkdir(&ctx, None, b"/proc", 0o555) {
        Ok(()) | Err(Errno::EEXIST) => {
            let procfs = fs::procfs::ProcFs::new(crate::procfs::provider(k), &k.vfs);
            let flags = MountFlags { nosuid: true, nodev: true, noexec: true, ..Default::default() };
            k.vfs.mount(&ctx, None, b"/proc", procfs, flags, "proc").map_err(fs_err("mount /proc"))?;
        }
        Err(e) => info!("no /proc in the sandbox: {e}"),
    }
    Ok(())
}

/// /dev/tty when the workload's stdio is a terminal: opening it gives the
/// same terminal (and its job-control state).
pub(crate) struct ControllingTty(pub(crate) Arc<fs::host::HostFile>);

impl fs::device::CharDevice for ControllingTty {
    fn open(&self, _ctx: &fs::vfs::Context, _flags: i32) -> SysResult<Arc<dyn fs::file::FileOps>> {
        Ok(self.0.clone())
    }
}

/// Resolve a command name through PATH inside the sandbox.
pub(crate) fn resolve_command(vfs: &Vfs, ctx: &fs::vfs::Context, argv0: &[u8], env: &[Vec<u8>]) -> Vec<u8> {
    if argv0.contains(&b'/') {
        return argv0.to_vec();
    }
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix(b"PATH="))
        .map(|p| p.to_vec())
        .unwrap_or_else(|| b"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_vec());
    for dir in path.split(|&c| c == b':').filter(|d| !d.is_empty()) {
        let mut cand = dir.to_vec();
        cand.push(b'/');
        cand.extend_from_slice(argv0);
        if let Ok(st) = vfs.stat(ctx, None, &cand, 0) {
            if st.mode & libc::S_IFMT == libc::S_IFREG {
                return cand;
            }
        }
    }
    argv0.to_vec()
}

/// A sandbox built and ready: the kernel, its filesystems, and the first
/// process (pid 1) created with its stdio but not yet running. The OCI
/// `create` stops here; `start` calls [`Sandbox::start`].
pub struct Sandbox {
    pub kernel: Arc<Kernel>,
    /// The first process, not yet running: its thread group may still be
    /// adjusted (supplementary groups, rlimits, no_new_privs).
    pub init: Arc<Task>,
    path: Vec<u8>,
    argv: Vec<Vec<u8>>,
    env: Vec<Vec<u8>>,
    before_run: Option<BeforeRunFn>,
}

/// Run the sandbox to completion: returns how the first process ended.
pub fn run_sandbox(cfg: SandboxConfig) -> Result<Outcome, BootError> {
    let k = build_sandbox(cfg)?.start()?;
    Ok(Outcome::from_wait_status(k.wait_done()))
}

/// Build everything (memory file, platform, root filesystem, /dev, /proc,
/// kernel, the first process) without running any workload code.
pub fn build_sandbox(cfg: SandboxConfig) -> Result<Sandbox, BootError> {
    let mem = Arc::new(MemoryFile::new(MEMORY_FILE_SIZE)?);
    let platform: Arc<dyn Platform> = match cfg.platform {
        PlatformKind::Ptrace => Arc::new(platform::ptrace::Ptrace::new(mem.clone())?),
        PlatformKind::Kvm => Arc::new(platform::kvm::Kvm::new(mem.clone())?),
    };
    let pages = Arc::new(PageAllocator::new(mem));
    let vfs = build_vfs(&cfg)?;
    let k = Kernel::new(platform.clone(), pages.clone(), vfs.clone(), cfg.opts.clone());
    crate::socket::inet::register_inet(cfg.network);
    mount_proc(&k)?;
    if let Some(setup) = cfg.setup {
        setup(&k).map_err(BootError::Setup)?;
    }

    let creds = Creds::user(cfg.uid, cfg.gid);
    let ctx = vfs.root_context(creds.clone(), 1);
    let cwd = vfs.lookup(&ctx, None, &cfg.cwd, 0).map_err(fs_err("the working directory"))?;
    let fsctx = Arc::new(Mutex::new(FsContext { root: vfs.root(), cwd, umask: 0o022 }));
    let files = FdTable::new();
    let mut terminal: Option<Arc<fs::host::HostFile>> = None;
    let mut stdio = cfg.stdio;
    // SAFETY: isatty only inspects the fd.
    let console = cfg.console && stdio.first().is_some_and(|fd| unsafe { libc::isatty(std::os::fd::AsRawFd::as_raw_fd(fd)) } == 1);
    let mut console_pty = None;
    if console {
        let host = stdio.remove(0);
        let (slave, pty) = crate::console::bridge(&k, host).map_err(fs_err("console"))?;
        for i in 0..3 {
            files.install_at(i, slave.clone(), false, u64::MAX).map_err(fs_err("stdio"))?;
        }
        // The other host fds are the same terminal: not needed.
        stdio.clear();
        console_pty = Some(pty);
    }
    for (i, fd) in stdio.into_iter().enumerate() {
        let host = fs::host::HostFile::new_donated(fd).map_err(fs_err("stdio"))?;
        if let Some(tty) = host.tty() {
            if terminal.is_none() {
                // The first process's session owns the terminal.
                tty.set_controlling(1, 1);
                terminal = Some(host.clone());
            }
        }
        let flags = libc::O_RDWR;
        let file = File::new(host, flags, None);
        files.install_at(i as i32, file, false, u64::MAX).map_err(fs_err("stdio"))?;
    }
    crate::pty::install(&k, terminal.as_ref());
    if let Some(p) = console_pty {
        fs::devfs::register_devices(&vfs, Some(Arc::new(crate::console::PtyTty(p))));
    }
    if let Some(t) = terminal {
        // /dev/tty: the sandbox's one terminal, its stdio tty.
        fs::devfs::register_devices(&vfs, Some(Arc::new(ControllingTty(t))));
    }
    let (lo, hi) = platform.user_range();
    let mm = Arc::new(MemoryManager::new(pages, lo, hi));
    let tg = ThreadGroup::new(1, creds);
    let comm = cfg.argv.first().map(|a| a.rsplit(|&c| c == b'/').next().unwrap_or(a).to_vec()).unwrap_or_default();
    let task = Task::new(1, tg.clone(), k.clone(), mm, files, fsctx, SigSet::default(), comm);
    {
        let mut p = k.procs();
        let _ = p.alloc_pid();
        p.state.insert(1, ProcState { parent: 0, pgid: 1, sid: 1, threads: vec![1], exit_signal: 0, ..Default::default() });
        p.groups.insert(1, tg);
        p.tasks.insert(1, task.clone());
    }
    let argv0 = cfg.argv.first().cloned().ok_or(BootError::Fs("empty command", Errno::EINVAL))?;
    let path = resolve_command(&vfs, &ctx, &argv0, &cfg.env);
    Ok(Sandbox { kernel: k, init: task, path, argv: cfg.argv, env: cfg.env, before_run: cfg.before_run })
}

impl Sandbox {
    /// Start the first process (its execve, then the workload); returns
    /// the kernel, whose `wait_done` gives init's wait status.
    pub fn start(self) -> Result<Arc<Kernel>, BootError> {
        let Sandbox { kernel, init, path, argv, env, before_run } = self;
        if let Some(f) = before_run {
            f().map_err(BootError::Setup)?;
        }
        run::spawn_init(init, Box::new(move |t| crate::task::exec::do_execve(t, None, None, path, argv, env, 0).map(|_| ())))
            .map_err(|e| BootError::Fs("spawn", e.into()))?;
        Ok(kernel)
    }
}

