//! Confinement of the Sentry and the Gofer (ARCHITECTURE.md, "Confinement
//! of the Sentry and the Gofer").
//!
//! * The Sentry, after setup and right before the first workload
//!   instruction ([`sentry::boot::SandboxConfig::before_run`]), installs a
//!   seccomp allow-list of host syscalls ([`sentry_policy`]: a common table
//!   plus one per platform).
//! * The Gofer, once its root and `/proc/self/fd` are open and before the
//!   first request, enters a new mount namespace with an empty root
//!   ([`root`]) and installs its own allow-list ([`gofer_policy`]).
//!
//! A syscall outside a policy kills the process (SECCOMP_RET_KILL_PROCESS);
//! with `--debug` it is trapped, logged (to `--debug-log` or stderr), and
//! the process then dies of SIGSYS. There is no switch to turn the filters
//! off (runsc has none either).

pub mod gofer_policy;
pub mod root;
pub mod seccomp;
pub mod sentry_policy;

use std::os::fd::IntoRawFd;

use seccomp::{install, FilterError, Violation};
use tracing::{info, trace, warn};

use crate::{Cli, PlatformArg};

/// How violations are handled, from the global flags.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub violation: Violation,
    /// Where a trapped violation is written (an fd kept open for good).
    pub log_fd: Option<i32>,
}

impl Options {
    pub fn from_cli(cli: &Cli) -> Options {
        if !cli.debug {
            return Options { violation: Violation::Kill, log_fd: None };
        }
        let log_fd = cli
            .debug_log
            .as_ref()
            .and_then(|p| std::fs::OpenOptions::new().create(true).append(true).open(p).ok())
            .map(|f| f.into_raw_fd());
        Options { violation: Violation::Trap, log_fd }
    }
}

/// Work the Sentry would otherwise do lazily, later, through host paths
/// the filter forbids: done now, before it.
fn warm_up(opts: Options) {
    // std::thread::available_parallelism reads cgroup files under /proc and
    // /sys; the Sentry caches it.
    let _ = sentry::task::host_cpus();
    // A panic (caught: the Sentry survives it) prints a backtrace when
    // RUST_BACKTRACE asks for one, and resolving it opens the executable.
    // With --debug the debug info is loaded now (~0.2 s, ~100 MB mapped);
    // otherwise panics are reported without a backtrace.
    if std::env::var_os("RUST_BACKTRACE").is_some_and(|v| v != "0") {
        if opts.violation == Violation::Trap {
            warm_up_backtraces();
        } else {
            panics_without_backtraces();
        }
    }
}

/// Report panics without a backtrace (resolving one needs host files,
/// which a confined process cannot open).
pub fn panics_without_backtraces() {
    std::panic::set_hook(Box::new(|info| {
        let t = std::thread::current();
        eprintln!(
            "thread '{}' {info}\nnote: no backtrace: the Sentry is confined (seccomp); --debug loads what backtraces need before confinement",
            t.name().unwrap_or("<unnamed>")
        );
    }));
}

/// Resolve a backtrace now, so that std keeps the executable's (and
/// libc's) debug info mapped: a panic's backtrace (RUST_BACKTRACE) would
/// otherwise open them later.
pub fn warm_up_backtraces() {
    let _ = std::backtrace::Backtrace::force_capture().to_string();
}

/// Confine the Sentry (this process, every thread).
pub fn confine_sentry(platform: PlatformArg, opts: Options) -> Result<(), FilterError> {
    warm_up(opts);
    let rules = sentry_policy::rules(platform == PlatformArg::Kvm);
    let fail: Vec<_> = sentry_policy::ENOSYS.iter().map(|&r| (r, libc::ENOSYS)).collect();
    for r in &rules {
        trace!(syscall = r.sys.name(), why = r.why, "the Sentry may call");
    }
    install(&rules, &fail, opts.violation, opts.log_fd)?;
    info!(syscalls = rules.len(), violation = ?opts.violation, "the Sentry is confined (seccomp)");
    Ok(())
}

/// The hook the sandbox runs right before the workload's first instruction.
pub fn sentry_hook(cli: &Cli) -> sentry::boot::BeforeRunFn {
    let platform = cli.platform;
    let opts = Options::from_cli(cli);
    Box::new(move || confine_sentry(platform, opts).map_err(|e| e.to_string()))
}

/// Confine the Gofer (this process): an empty root, then its filter.
/// Without the privilege for a mount namespace (not root), it keeps the
/// host's root and says so; the filter is installed either way.
pub fn confine_gofer(opts: Options) -> Result<(), FilterError> {
    match root::enter_empty_root() {
        Ok(()) => {}
        Err(e) if e.err.raw_os_error() == Some(libc::EPERM) => warn!("gofer: no empty root ({e}): it can still name host paths"),
        Err(e) => return Err(FilterError(format!("gofer: empty root: {e}"))),
    }
    for r in gofer_policy::GOFER {
        trace!(syscall = r.sys.name(), why = r.why, "the gofer may call");
    }
    if std::env::var_os("RUST_BACKTRACE").is_some_and(|v| v != "0") {
        panics_without_backtraces();
    }
    install(gofer_policy::GOFER, &[], opts.violation, opts.log_fd)?;
    info!(syscalls = gofer_policy::GOFER.len(), "the gofer is confined (empty root, seccomp)");
    Ok(())
}
