//! The few host operations of the OCI runtime that need `unsafe`: fds
//! received over SCM_RIGHTS, pidfds, and the child-side setup before exec.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::Duration;

use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};

/// Most fds one message carries.
pub const MAX_FDS: usize = 8;

/// Send `data` with `fds` attached (SCM_RIGHTS) on the first chunk.
pub fn send_with_fds(sock: &UnixStream, data: &[u8], fds: &[RawFd]) -> std::io::Result<()> {
    let cmsgs = if fds.is_empty() { vec![] } else { vec![ControlMessage::ScmRights(fds)] };
    let n = sendmsg::<()>(sock.as_raw_fd(), &[IoSlice::new(data)], &cmsgs, MsgFlags::MSG_NOSIGNAL, None)?;
    if n < data.len() {
        use std::io::Write;
        (&*sock).write_all(&data[n..])?;
    }
    Ok(())
}

/// Receive up to `buf.len()` bytes and any fds attached to them.
pub fn recv_with_fds(sock: &UnixStream, buf: &mut [u8]) -> std::io::Result<(usize, Vec<OwnedFd>)> {
    let mut cmsg = nix::cmsg_space!([RawFd; MAX_FDS]);
    let mut iov = [IoSliceMut::new(buf)];
    let msg = recvmsg::<()>(sock.as_raw_fd(), &mut iov, Some(&mut cmsg), MsgFlags::MSG_CMSG_CLOEXEC)?;
    let mut fds = Vec::new();
    for c in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(raw) = c {
            for fd in raw {
                // SAFETY: the kernel just installed this fd in our table for
                // this message; nothing else owns it.
                fds.push(unsafe { OwnedFd::from_raw_fd(fd) });
            }
        }
    }
    Ok((msg.bytes, fds))
}

/// Whether host process `pid` exists (a zombie counts as gone).
pub fn pid_alive(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !matches!(s.rsplit(')').next().and_then(|r| r.split_whitespace().next()), Some("Z") | Some("X")),
        Err(_) => false,
    }
}

/// The start time (clock ticks since boot) of host process `pid`, to tell
/// it from a later process that reuses the pid.
pub fn pid_start_time(pid: i32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Field 22 overall; after the ")" closing comm, it is the 20th.
    s.rsplit(')').next()?.split_whitespace().nth(19)?.parse().ok()
}

/// Wait until host process `pid` (not necessarily our child) has exited,
/// at most `timeout`. Returns whether it exited.
pub fn wait_pid_exit(pid: i32, timeout: Duration) -> std::io::Result<bool> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        let e = std::io::Error::last_os_error();
        return if e.raw_os_error() == Some(libc::ESRCH) { Ok(true) } else { Err(e) };
    }
    // SAFETY: pidfd_open returned a fresh fd that we alone own.
    let pidfd = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if !pid_alive(pid) {
            return Ok(true);
        }
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Ok(false);
        }
        let mut pfd = [nix::poll::PollFd::new(std::os::fd::AsFd::as_fd(&pidfd), nix::poll::PollFlags::POLLIN)];
        let ms = left.as_millis().min(i32::MAX as u128) as i32;
        match nix::poll::poll(&mut pfd, nix::poll::PollTimeout::try_from(ms).unwrap_or(nix::poll::PollTimeout::MAX)) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// In the child before exec: a new session (so the caller's terminal
/// signals do not reach it), and `fds` moved to the given numbers.
pub fn setsid_and_place_fds(cmd: &mut Command, fds: Vec<(RawFd, RawFd)>, setsid: bool) {
    // SAFETY: the closure runs in the forked child before exec and calls
    // only setsid, dup2 and fcntl, which are async-signal-safe; the source
    // fds stay open in the parent until spawn returns.
    unsafe {
        cmd.pre_exec(move || {
            if setsid && libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            for &(from, to) in &fds {
                if from == to {
                    let flags = libc::fcntl(from, libc::F_GETFD);
                    if flags < 0 || libc::fcntl(from, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                } else if libc::dup2(from, to) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            // Signals blocked by a forwarding parent must not stay blocked.
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
            Ok(())
        });
    }
}

/// Call `f` with a path to `path` that fits in a sockaddr_un (108 bytes):
/// `path` itself if short, else `/proc/self/fd/N/<name>` through an
/// O_PATH descriptor of its directory (docker's state directories,
/// `/run/docker/runtime-runc/moby/<64 hex>/control.sock`, are too long).
pub fn with_short_sock_path<R>(path: &std::path::Path, f: impl FnOnce(&std::path::Path) -> std::io::Result<R>) -> std::io::Result<R> {
    use std::os::unix::ffi::OsStrExt;
    if path.as_os_str().as_bytes().len() < 100 {
        return f(path);
    }
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else { return f(path) };
    let dir = std::fs::File::options()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
        .open(if dir.as_os_str().is_empty() { std::path::Path::new(".") } else { dir })?;
    let short = std::path::PathBuf::from(format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&dir))).join(name);
    f(&short)
}

/// Make `fd` (a terminal) the controlling terminal of this session, so a
/// resize of it sends us SIGWINCH.
pub fn set_controlling_tty(fd: std::os::fd::BorrowedFd<'_>) -> std::io::Result<()> {
    // SAFETY: TIOCSCTTY takes an int argument and touches no memory of ours.
    let r = unsafe { libc::ioctl(std::os::fd::AsRawFd::as_raw_fd(&fd), libc::TIOCSCTTY, 0) };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
