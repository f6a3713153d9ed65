//! The OCI runtime command line, compatible with runc as docker and
//! containerd call it.
//!
//! # Design
//!
//! * **State.** `--root` (default `/run/runsc-rs`) holds one directory per
//!   container, `<root>/<id>/`, with `state.json` (bundle, sandbox pid and
//!   its start time, creation time, annotations, cgroups; see
//!   [`state::Saved`]) and `control.sock`. It outlives every CLI call and
//!   is removed by `delete`.
//! * **Processes.** `create` starts the *sandbox process*
//!   (`runsc-rs boot --bundle B --id ID --state-dir D --ready-fd 3`, hidden)
//!   in a new session (setsid; it survives the caller and is adopted by
//!   init or by the caller's subreaper, e.g. containerd-shim). Its fds
//!   0/1/2 are the container's stdio: the caller's, or the slave of a new
//!   pty whose master goes to `--console-socket` (SCM_RIGHTS) when
//!   `process.terminal` is true. The sandbox process starts the gofers
//!   itself (children of it, killed when it exits): one read-only gofer
//!   for the rootfs (under an in-sandbox tmpfs overlay, so the image is
//!   never written), one per directory bind mount (writable unless `ro`);
//!   a bind-mounted *file* (docker's /etc/hosts, resolv.conf) is copied
//!   into the sandbox's writable layer. tmpfs mounts are made in the
//!   sandbox; proc/dev are always there; sysfs mounts get the Sentry's
//!   synthetic sysfs (`fs::sysfs`); devpts, mqueue, cgroup mounts are
//!   accepted and not mounted yet. `linux.sysctl` is validated as runc
//!   does (`spec::sysctls`) and recorded under the sandbox's /proc/sys.
//! * **create stops before the user process runs**: the sandbox is built
//!   ([`sentry::boot::build_sandbox`]: memory file, platform, gofer-backed
//!   rootfs, mounts, /dev, /proc, kernel, pid 1 with its stdio) and then
//!   waits on its control socket. `create` returns once the sandbox wrote
//!   "ok" on the ready pipe (or fails with the error it wrote there).
//! * **Control protocol** ([`proto`]): one JSON request and reply per
//!   connection: status, start, signal, exec (stdio fds by SCM_RIGHTS),
//!   wait-pid, ps, stats. The sandbox side is [`sandbox`]; the kernel side
//!   is `sentry::control` (`Kernel::spawn_process`, `wait_process`,
//!   `signal_process`, `process_list`, `stats`).
//! * **pid.** The pid file and the state's `pid` are the sandbox process's
//!   host pid: it exits when the container's init exits, with init's exit
//!   code (128+N if a signal killed it), and it forwards the host signals
//!   TERM, INT, HUP, QUIT, USR1, USR2, WINCH, ALRM to init (KILL kills the
//!   whole sandbox). So a shim can signal and wait on that pid as on runc's.
//! * **Status**: stopped if the sandbox process is gone (pid + start time),
//!   paused if its freezer cgroup is frozen, else running/created as the
//!   sandbox answers on the control socket.
//! * **exec** sends the process to the sandbox (it has no host pid of its
//!   own); the `exec` CLI process then waits for it and exits with its
//!   status, forwarding signals to it. `--detach` starts a small hidden
//!   `exec-wait` process (new session) that does the waiting; its pid is
//!   what `--pid-file` gets.
//! * **Hooks** run on the host with the state JSON on stdin: prestart,
//!   createRuntime, createContainer at create; startContainer (on the host,
//!   not in the container) and poststart at start; poststop at delete.
//! * **cgroups** (v1): with `linux.cgroupsPath` (or resources), create
//!   makes `<mnt>/<ctrl>/<path>` for memory, pids, cpu and freezer, writes
//!   the limits, and the sandbox process joins them before building
//!   anything; delete removes them. pause/resume freeze/thaw the freezer
//!   cgroup (the Sentry and every stub at once).
//! * **Confinement** (`crate::confine`): the sandbox process installs its
//!   seccomp filters at `start`, before the first workload instruction;
//!   each gofer runs under its own filter with an empty root.
//! * **Not yet**: namespaces and an empty root for the Sentry, `update`,
//!   `checkpoint`/`restore`, networking beyond joining a netns, devpts in
//!   the sandbox, `ps` with host pids.

pub mod cgroup;
pub mod cmds;
pub mod hooks;
pub mod install;
pub mod proto;
pub mod sandbox;
pub mod spec;
pub mod state;
pub mod sys;

use std::path::PathBuf;

use clap::Args;

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// The bundle directory (config.json and the rootfs).
    #[arg(long, short = 'b', default_value = ".")]
    pub bundle: PathBuf,
    /// Write the sandbox process's pid here.
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// A unix socket that receives the pty master (process.terminal).
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// Accepted for runc compatibility.
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// Accepted for runc compatibility.
    #[arg(long = "no-new-keyring")]
    pub no_new_keyring: bool,
    /// Accepted for runc compatibility (must be 0).
    #[arg(long = "preserve-fds", default_value = "0")]
    pub preserve_fds: u32,
    /// Run detached (`run` only).
    #[arg(long, short = 'd')]
    pub detach: bool,
    /// Keep the container after it exits (`run` only).
    #[arg(long)]
    pub keep: bool,
    pub id: String,
}

#[derive(Args, Debug)]
pub struct IdArg {
    pub id: String,
}

#[derive(Args, Debug)]
pub struct KillArgs {
    /// Signal every process of the container.
    #[arg(long, short = 'a')]
    pub all: bool,
    pub id: String,
    /// A name (TERM, SIGTERM) or number.
    #[arg(default_value = "TERM")]
    pub signal: String,
}

#[derive(Args, Debug)]
pub struct DeleteArgs {
    /// Kill the container if it is still running.
    #[arg(long, short = 'f')]
    pub force: bool,
    pub id: String,
}

#[derive(Args, Debug)]
pub struct ExecArgs {
    /// A process.json (the process section of a config.json).
    #[arg(long, short = 'p')]
    pub process: Option<PathBuf>,
    #[arg(long, short = 't')]
    pub tty: bool,
    #[arg(long, short = 'd')]
    pub detach: bool,
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    #[arg(long)]
    pub cwd: Option<String>,
    #[arg(long = "env", short = 'e')]
    pub env: Vec<String>,
    /// uid[:gid]
    #[arg(long, short = 'u')]
    pub user: Option<String>,
    #[arg(long = "additional-gids", short = 'g')]
    pub additional_gids: Vec<u32>,
    #[arg(long = "no-new-privs")]
    pub no_new_privs: bool,
    /// Accepted for runc compatibility.
    #[arg(long = "preserve-fds", default_value = "0")]
    pub preserve_fds: u32,
    /// Accepted for runc compatibility.
    #[arg(long = "cap", short = 'c')]
    pub cap: Vec<String>,
    #[arg(long = "process-label")]
    pub process_label: Option<String>,
    #[arg(long = "apparmor")]
    pub apparmor: Option<String>,
    pub id: String,
    /// The command (without --process).
    #[arg(trailing_var_arg = true)]
    pub command: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ExecWaitArgs {
    pub id: String,
    pub pid: i32,
}

#[derive(Args, Debug)]
pub struct PsArgs {
    /// table or json
    #[arg(long, short = 'f', default_value = "table")]
    pub format: String,
    pub id: String,
    /// ps options (accepted, ignored).
    #[arg(trailing_var_arg = true)]
    pub ps_args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    /// table or json
    #[arg(long, short = 'f', default_value = "table")]
    pub format: String,
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct SpecArgs {
    #[arg(long, short = 'b', default_value = ".")]
    pub bundle: PathBuf,
    /// Accepted for runc compatibility.
    #[arg(long)]
    pub rootless: bool,
}

#[derive(Args, Debug)]
pub struct EventsArgs {
    /// Print the stats once and exit.
    #[arg(long)]
    pub stats: bool,
    /// Interval between stats (default 5s).
    #[arg(long, default_value = "5s")]
    pub interval: String,
    pub id: String,
}
