//! `runsc-rs gofer`: the file server process of one container.

use std::os::fd::{FromRawFd, OwnedFd};
use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Args;

#[derive(Args, Debug)]
pub struct GoferArgs {
    /// The root filesystem to serve.
    #[arg(long)]
    pub root: PathBuf,
    /// The fd of the socket to serve on.
    #[arg(long = "io-fd")]
    pub io_fd: i32,
    /// Refuse every change (EROFS).
    #[arg(long = "read-only")]
    pub read_only: bool,
}

pub fn run(a: &GoferArgs) -> Result<()> {
    if a.io_fd < 3 {
        bail!("--io-fd must be an inherited descriptor (>= 3)");
    }
    // SAFETY: the fd was placed at this number for us by the parent and
    // nothing else in this process owns it.
    let sock = unsafe { OwnedFd::from_raw_fd(a.io_fd) };
    gofer::run_gofer_process(&a.root, sock, a.read_only)?;
    Ok(())
}
