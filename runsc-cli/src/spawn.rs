//! Starting helper processes (the gofer) with a socket at a known fd.

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};

use anyhow::{Context, Result};

/// The fd number the gofer finds its socket at.
pub const GOFER_FD: i32 = 3;

/// Spawn `runsc-rs gofer` serving `root` (a directory, or a regular file
/// for a file bind mount) on `sock`.
pub fn gofer(root: &std::path::Path, sock: OwnedFd, read_only: bool) -> Result<Child> {
    let exe = std::env::current_exe().context("finding our own executable")?;
    let mut cmd = Command::new(exe);
    cmd.arg("gofer").arg("--root").arg(root).arg("--io-fd").arg(GOFER_FD.to_string());
    if read_only {
        cmd.arg("--read-only");
    }
    cmd.stdin(std::process::Stdio::null());
    let raw = sock.as_raw_fd();
    // SAFETY: the closure runs in the forked child before exec and only
    // calls dup2 and prctl, which are async-signal-safe; `raw` stays open in the parent
    // until after spawn returns.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(raw, GOFER_FD) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The gofer dies with the sandbox (even one killed by SIGKILL).
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn().context("starting the gofer")?;
    drop(sock);
    Ok(child)
}
