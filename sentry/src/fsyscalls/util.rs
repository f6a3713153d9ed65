//! Helpers shared by the file syscalls: path arguments, dirfds, fd
//! installation and the generic "try, then wait for readiness" loop.

use std::sync::Arc;
use std::time::Instant;

use abi::{Errno, SysResult};
use fs::file::File;
use fs::mount::Location;

use crate::task::run::Thread;

/// PATH_MAX including the NUL.
pub const PATH_MAX: usize = 4096;

/// Read a path argument: EFAULT, ENAMETOOLONG (>= PATH_MAX bytes).
pub fn read_path(t: &Thread, addr: u64) -> SysResult<Vec<u8>> {
    t.mm.read_cstring(addr, PATH_MAX - 1)
}

/// The directory a *at() call starts from: None for AT_FDCWD or an
/// absolute path (Linux ignores the dirfd then), else the dirfd's
/// location (O_PATH descriptors allowed). EBADF for a bad dirfd,
/// ENOTDIR for a relative path against a non-directory.
pub fn dir_loc(t: &Thread, dirfd: i32, path: &[u8]) -> SysResult<Option<Location>> {
    if dirfd == libc::AT_FDCWD || path.first() == Some(&b'/') {
        return Ok(None);
    }
    let f = t.task.files().get(dirfd)?;
    match f.location() {
        Some(l) => {
            if !path.is_empty() && !l.is_dir() {
                return Err(Errno::ENOTDIR);
            }
            Ok(Some(l.clone()))
        }
        None => Err(Errno::ENOTDIR),
    }
}

/// The RLIMIT_NOFILE soft limit of the caller.
pub fn nofile(t: &Thread) -> u64 {
    t.task.tg.rlimit(libc::RLIMIT_NOFILE).cur
}

/// Install `f` at the lowest free fd.
pub fn install(t: &Thread, f: Arc<File>, cloexec: bool) -> SysResult<u64> {
    let lim = nofile(t);
    t.task.files().install(f, cloexec, 0, lim).map(|fd| fd as u64)
}

/// Run `op` until it stops returning EAGAIN: a non-blocking file gives
/// EAGAIN at once; otherwise wait (interruptibly, until `deadline`) for
/// `mask` on the file's queue and host fd.
pub fn block_on<R>(
    t: &mut Thread,
    file: &Arc<File>,
    mask: u32,
    deadline: Option<Instant>,
    mut op: impl FnMut(&mut Thread) -> SysResult<R>,
) -> SysResult<R> {
    match op(t) {
        Err(Errno::EAGAIN) if !file.is_nonblocking() => {}
        r => return r,
    }
    let waker = t.task.waiter.as_waker();
    file.ops().event_register(&waker, mask);
    let host: Vec<(std::os::fd::BorrowedFd<'_>, i16)> = file.ops().host_fd().map(|fd| (fd, (mask & 0xffff) as u16 as i16)).into_iter().collect();
    let r = t.wait_event(&[], mask, &host, deadline, |t| match op(t) {
        Err(Errno::EAGAIN) => None,
        r => Some(r),
    });
    file.ops().event_unregister(&waker);
    r
}

/// Raise SIGPIPE for an EPIPE from a write (the caller returns EPIPE).
pub fn sigpipe(t: &Thread, r: &SysResult<u64>) {
    if *r == Err(Errno::EPIPE) {
        t.task.send(crate::signal::SigInfo::new(crate::signal::SIGPIPE, crate::signal::SI_USER));
    }
}
