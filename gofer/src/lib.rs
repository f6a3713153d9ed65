//! The Gofer: the separate, confined process that alone opens host files
//! for the sandbox and donates their fds to the Sentry.
//!
//! * [`proto`]: the messages and their wire format;
//! * [`server`]: the server (one per container, in its own process);
//! * [`client`]: the Sentry's side ([`Client`], cheap to clone, thread-safe).
//!
//! The Sentry walks paths itself, one component at a time, and resolves
//! ".." and symlinks itself; the server never follows a symlink and never
//! leaves the root it was given.

pub mod client;
pub mod proto;
pub mod server;
mod sys;

use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use abi::Errno;

pub use client::Client;
pub use proto::{Dirent, Fid, SetAttr, StatFs, TimeSpec};
pub use server::{serve, Server, ServerOptions};

/// A failure of the Gofer server itself (not of one request: those go back
/// to the client as an errno).
#[derive(Debug, thiserror::Error)]
pub enum GoferError {
    #[error("{what}: {errno}")]
    Host { what: String, errno: Errno },
    #[error("confining the gofer: {0}")]
    Confine(String),
}

/// A connected `SOCK_SEQPACKET` unix socket pair (close-on-exec): one end
/// for [`Client::new`], the other for [`serve`].
pub fn socketpair() -> Result<(OwnedFd, OwnedFd), GoferError> {
    sys::seqpacket_pair().map_err(|errno| GoferError::Host {
        what: "socketpair".into(),
        errno,
    })
}

/// The body of the `runsc-rs gofer` subcommand: serve `rootfs` on `sock`
/// until the Sentry closes it. `rootfs` is a directory, or a regular file
/// for a file bind mount (then that file is all the gofer serves). The
/// host path itself is resolved by the host (as runc resolves a bind
/// mount's source); from then on only the opened inode counts.
///
/// `confine` is called once every fd the server needs is open and before
/// the first request is read: the runtime confines the process there
/// (seccomp filter, mount namespace, an empty root).
pub fn run_gofer_process(
    rootfs: &Path,
    sock: OwnedFd,
    read_only: bool,
    confine: impl FnOnce() -> Result<(), String>,
) -> Result<(), GoferError> {
    // Modes come from the Sentry with the workload's umask already applied.
    sys::set_umask(0);
    let root = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH)
        .open(rootfs)
        .map_err(|e| GoferError::Host {
            what: format!("open rootfs {}", rootfs.display()),
            errno: e.into(),
        })?;
    let mut server = Server::new(root.into(), ServerOptions { read_only })?;
    confine().map_err(GoferError::Confine)?;
    tracing::info!(rootfs = %rootfs.display(), read_only, "gofer serving");
    server.serve(std::os::fd::AsFd::as_fd(&sock))
}
