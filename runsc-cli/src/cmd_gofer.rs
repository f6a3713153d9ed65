//! `runsc-rs gofer`: the file server process of one container's rootfs,
//! or of one of its bind mounts (a directory or a single file).

use std::os::fd::{FromRawFd, OwnedFd};
use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Args;

#[derive(Args, Debug)]
pub struct GoferArgs {
    /// What to serve: a directory tree (the rootfs, a directory bind
    /// mount) or a single regular file (a file bind mount).
    #[arg(long)]
    pub root: PathBuf,
    /// The fd of the socket to serve on.
    #[arg(long = "io-fd")]
    pub io_fd: i32,
    /// Refuse every change (EROFS).
    #[arg(long = "read-only")]
    pub read_only: bool,
}

pub fn run(cli: &crate::Cli, a: &GoferArgs) -> Result<()> {
    if a.io_fd < 3 {
        bail!("--io-fd must be an inherited descriptor (>= 3)");
    }
    // SAFETY: the fd was placed at this number for us by the parent and
    // nothing else in this process owns it.
    let sock = unsafe { OwnedFd::from_raw_fd(a.io_fd) };
    let opts = crate::confine::Options::from_cli(cli);
    // Once its root and /proc/self/fd are open: an empty root and the
    // gofer's seccomp allow-list (see crate::confine).
    gofer::run_gofer_process(&a.root, sock, a.read_only, || crate::confine::confine_gofer(opts).map_err(|e| e.to_string()))?;
    Ok(())
}
