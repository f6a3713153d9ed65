//! `runsc-rs do`: run a command in a fresh sandbox with stdio connected.

use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use sentry::boot::{run_sandbox, PlatformKind, SandboxConfig};
use sentry::kernel::KernelOptions;

use crate::{Cli, PlatformArg};

#[derive(Args, Debug)]
pub struct DoArgs {
    /// Root filesystem (default: the host's /, read-only, under an
    /// in-sandbox writable layer).
    #[arg(long)]
    pub rootfs: Option<PathBuf>,
    /// Working directory inside the sandbox.
    #[arg(long, default_value = "/")]
    pub cwd: String,
    /// Environment variables (NAME=VALUE), in addition to PATH/HOME/TERM.
    #[arg(long = "env", short = 'e')]
    pub env: Vec<String>,
    /// Run as this uid:gid.
    #[arg(long, default_value = "0:0")]
    pub user: String,
    /// The command and its arguments.
    #[arg(trailing_var_arg = true, required = true)]
    pub command: Vec<String>,
}

fn dup_stdio() -> Result<Vec<OwnedFd>> {
    let fds = [std::io::stdin().as_fd().try_clone_to_owned(), std::io::stdout().as_fd().try_clone_to_owned(), std::io::stderr().as_fd().try_clone_to_owned()];
    fds.into_iter().map(|r| r.context("duplicating stdio")).collect()
}

pub fn run(cli: &Cli, a: &DoArgs) -> Result<i32> {
    let platform = match cli.platform {
        PlatformArg::Ptrace => PlatformKind::Ptrace,
        PlatformArg::Kvm => PlatformKind::Kvm,
    };
    let root = a.rootfs.clone().unwrap_or_else(|| PathBuf::from("/"));
    let root = root.canonicalize().with_context(|| format!("rootfs {}", root.display()))?;
    let (uid, gid) = a.user.split_once(':').map(|(u, g)| (u.parse(), g.parse())).context("--user is uid:gid")?;
    let (uid, gid): (u32, u32) = (uid.context("uid")?, gid.context("gid")?);
    // `do` makes no network namespace: loopback only unless asked (then
    // the current netns, e.g. from `ip netns exec`, is taken over).
    let network = crate::network::setup(cli.network.unwrap_or(crate::network::NetworkArg::None))?;

    let (ours, theirs) = gofer::socketpair().context("gofer socket")?;
    // The gofer never writes: every change stays in the sandbox's layer.
    let mut gofer = crate::spawn::gofer(&root, theirs, true)?;

    let mut env: Vec<Vec<u8>> = vec![
        b"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_vec(),
        b"HOME=/root".to_vec(),
    ];
    if let Ok(term) = std::env::var("TERM") {
        env.push(format!("TERM={term}").into_bytes());
    }
    for e in &a.env {
        if !e.contains('=') {
            bail!("--env {e}: expected NAME=VALUE");
        }
        let name = e.split('=').next().unwrap_or("");
        env.retain(|x| !x.starts_with(format!("{name}=").as_bytes()));
        env.push(e.clone().into_bytes());
    }
    let cfg = SandboxConfig {
        platform,
        gofer: ours,
        overlay: true,
        argv: a.command.iter().map(|s| s.clone().into_bytes()).collect(),
        env,
        cwd: a.cwd.clone().into_bytes(),
        uid,
        gid,
        stdio: dup_stdio()?,
        console: false,
        opts: KernelOptions { strace: cli.strace, ..Default::default() },
        // /sys: the Sentry's sysfs, as in a container's default mounts.
        setup: Some(Box::new(|k: &std::sync::Arc<sentry::kernel::Kernel>| {
            if let Err(e) = sentry::fsyscalls::mount::mount_sysfs(k, b"/sys") {
                tracing::warn!("no sysfs on /sys: {e}");
            }
            Ok(())
        })),
        before_run: Some(crate::confine::sentry_hook(cli)),
        network,
    };
    let outcome = run_sandbox(cfg);
    let _ = gofer.kill();
    let _ = gofer.wait();
    Ok(outcome?.exit_code())
}
