//! Every raw host system call the Gofer makes, each wrapped in a small safe
//! function. This is the only module of the crate with `unsafe`.
//!
//! Conventions: names are passed as `&CStr` (callers have validated them);
//! failures come back as [`Errno`] (the host's errno, which is also what the
//! workload will see).

use std::ffi::CStr;
use std::mem::{size_of, MaybeUninit};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};

use abi::{Errno, Stat};

/// The result of a host call.
pub type R<T> = Result<T, Errno>;

const EMPTY: &CStr = c"";

/// `-1` → `Err(errno)`, else the value.
fn check(ret: libc::c_long) -> R<libc::c_long> {
    if ret < 0 {
        Err(Errno::last())
    } else {
        Ok(ret)
    }
}

fn check_int(ret: libc::c_int) -> R<libc::c_int> {
    if ret < 0 {
        Err(Errno::last())
    } else {
        Ok(ret)
    }
}

/// Retry `f` while it fails with EINTR.
fn retry<T>(mut f: impl FnMut() -> R<T>) -> R<T> {
    loop {
        match f() {
            Err(Errno::EINTR) => continue,
            r => return r,
        }
    }
}

/// Take ownership of a freshly returned fd.
fn owned(fd: libc::c_long) -> OwnedFd {
    // SAFETY: `fd` was just returned by a successful open-like syscall, so it
    // is a valid descriptor that nothing else owns.
    unsafe { OwnedFd::from_raw_fd(fd as RawFd) }
}

/// `struct open_how` (libc's is non-exhaustive).
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

/// `openat2(dir, name, flags, mode, RESOLVE_BENEATH|RESOLVE_NO_MAGICLINKS|
/// RESOLVE_NO_SYMLINKS)`; `O_NOFOLLOW` and `O_CLOEXEC` are always added. Falls
/// back to `openat` with `O_NOFOLLOW` on kernels without openat2 (the name
/// is a single validated component, so that is equivalent).
pub fn openat_beneath(dir: BorrowedFd<'_>, name: &CStr, flags: i32, mode: u32) -> R<OwnedFd> {
    let flags = flags | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    if !NO_OPENAT2.load(Ordering::Relaxed) {
        let how = OpenHow {
            flags: flags as u32 as u64,
            mode: if flags & (libc::O_CREAT | libc::O_TMPFILE) != 0 {
                u64::from(mode)
            } else {
                0
            },
            resolve: libc::RESOLVE_BENEATH
                | libc::RESOLVE_NO_MAGICLINKS
                | libc::RESOLVE_NO_SYMLINKS,
        };
        let r = retry(|| {
            // SAFETY: `name` is NUL-terminated, `how` is a valid `struct open_how` that
            // outlives the call and its exact size is passed.
            check(unsafe {
                libc::syscall(
                    libc::SYS_openat2,
                    dir.as_raw_fd(),
                    name.as_ptr(),
                    &how as *const OpenHow,
                    size_of::<OpenHow>(),
                )
            })
        });
        match r {
            Err(Errno::ENOSYS) => NO_OPENAT2.store(true, Ordering::Relaxed),
            r => return r.map(owned),
        }
    }
    openat(dir, name, flags, mode)
}

/// Plain `openat(dir, name, flags | O_CLOEXEC, mode)`.
pub fn openat(dir: BorrowedFd<'_>, name: &CStr, flags: i32, mode: u32) -> R<OwnedFd> {
    retry(|| {
        // SAFETY: `name` is a valid NUL-terminated string; openat has no
        // other memory arguments.
        let fd = unsafe {
            libc::openat(
                dir.as_raw_fd(),
                name.as_ptr(),
                flags | libc::O_CLOEXEC,
                mode,
            )
        };
        check_int(fd).map(|fd| owned(fd.into()))
    })
}

fn stat_raw(dir: BorrowedFd<'_>, name: &CStr, flags: i32) -> R<Stat> {
    let mut st = MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `name` is NUL-terminated and `st` is writable memory of the
    // size of `struct stat`, which the kernel fills on success.
    check_int(unsafe { libc::fstatat(dir.as_raw_fd(), name.as_ptr(), st.as_mut_ptr(), flags) })?;
    // SAFETY: fstatat succeeded, so it initialized the whole struct.
    let st = unsafe { st.assume_init() };
    Ok(Stat::from_host(&st))
}

/// `fstatat(fd, "", AT_EMPTY_PATH|AT_SYMLINK_NOFOLLOW)`: works on O_PATH fds.
pub fn fstat(fd: BorrowedFd<'_>) -> R<Stat> {
    stat_raw(fd, EMPTY, libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW)
}

/// `fstatat(dir, name, AT_SYMLINK_NOFOLLOW)`.
pub fn fstatat(dir: BorrowedFd<'_>, name: &CStr) -> R<Stat> {
    stat_raw(dir, name, libc::AT_SYMLINK_NOFOLLOW)
}

/// `mkdirat(dir, name, mode)`.
pub fn mkdirat(dir: BorrowedFd<'_>, name: &CStr, mode: u32) -> R<()> {
    // SAFETY: `name` is NUL-terminated.
    check_int(unsafe { libc::mkdirat(dir.as_raw_fd(), name.as_ptr(), mode) }).map(drop)
}

/// `mknodat(dir, name, mode, 0)`.
pub fn mknodat(dir: BorrowedFd<'_>, name: &CStr, mode: u32) -> R<()> {
    // SAFETY: `name` is NUL-terminated.
    check_int(unsafe { libc::mknodat(dir.as_raw_fd(), name.as_ptr(), mode, 0) }).map(drop)
}

/// `symlinkat(target, dir, name)`.
pub fn symlinkat(target: &CStr, dir: BorrowedFd<'_>, name: &CStr) -> R<()> {
    // SAFETY: both strings are NUL-terminated.
    check_int(unsafe { libc::symlinkat(target.as_ptr(), dir.as_raw_fd(), name.as_ptr()) }).map(drop)
}

/// `linkat(odir, oname, ndir, nname, flags)`.
pub fn linkat(
    odir: BorrowedFd<'_>,
    oname: &CStr,
    ndir: BorrowedFd<'_>,
    nname: &CStr,
    flags: i32,
) -> R<()> {
    // SAFETY: both names are NUL-terminated.
    check_int(unsafe {
        libc::linkat(
            odir.as_raw_fd(),
            oname.as_ptr(),
            ndir.as_raw_fd(),
            nname.as_ptr(),
            flags,
        )
    })
    .map(drop)
}

/// `unlinkat(dir, name, flags)`.
pub fn unlinkat(dir: BorrowedFd<'_>, name: &CStr, flags: i32) -> R<()> {
    // SAFETY: `name` is NUL-terminated.
    check_int(unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), flags) }).map(drop)
}

/// `renameat2(odir, oname, ndir, nname, flags)` (raw syscall).
pub fn renameat2(
    odir: BorrowedFd<'_>,
    oname: &CStr,
    ndir: BorrowedFd<'_>,
    nname: &CStr,
    flags: u32,
) -> R<()> {
    // SAFETY: both names are NUL-terminated; the other arguments are
    // integers.
    check(unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            odir.as_raw_fd(),
            oname.as_ptr(),
            ndir.as_raw_fd(),
            nname.as_ptr(),
            flags,
        )
    })
    .map(drop)
}

/// `readlinkat(fd, "")` on an O_PATH fd of a symlink; the whole target.
pub fn readlink_fd(fd: BorrowedFd<'_>) -> R<Vec<u8>> {
    let mut buf = vec![0u8; libc::PATH_MAX as usize];
    // SAFETY: `buf` is writable for `buf.len()` bytes; the path is "".
    let n = check(unsafe {
        libc::readlinkat(
            fd.as_raw_fd(),
            EMPTY.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    } as libc::c_long)?;
    buf.truncate(n as usize);
    Ok(buf)
}

/// `fchownat(dir, name, uid, gid, flags)`; `u32::MAX` leaves an id unchanged.
pub fn fchownat(dir: BorrowedFd<'_>, name: &CStr, uid: u32, gid: u32, flags: i32) -> R<()> {
    // SAFETY: `name` is NUL-terminated.
    check_int(unsafe { libc::fchownat(dir.as_raw_fd(), name.as_ptr(), uid, gid, flags) }).map(drop)
}

/// `fchmodat(dir, name, mode, 0)` (follows the final component).
pub fn fchmodat(dir: BorrowedFd<'_>, name: &CStr, mode: u32) -> R<()> {
    // SAFETY: `name` is NUL-terminated.
    check_int(unsafe { libc::fchmodat(dir.as_raw_fd(), name.as_ptr(), mode, 0) }).map(drop)
}

/// `ftruncate(fd, len)`.
pub fn ftruncate(fd: BorrowedFd<'_>, len: u64) -> R<()> {
    let len = i64::try_from(len).map_err(|_| Errno::EFBIG)?;
    retry(|| {
        // SAFETY: integer arguments only.
        check_int(unsafe { libc::ftruncate(fd.as_raw_fd(), len) }).map(drop)
    })
}

/// `utimensat(dir, name, [atime, mtime], flags)`; each time is `(sec, nsec)`
/// where nsec may be UTIME_NOW / UTIME_OMIT.
pub fn utimensat(dir: BorrowedFd<'_>, name: &CStr, times: [(i64, i64); 2], flags: i32) -> R<()> {
    let ts = times.map(|(s, n)| libc::timespec {
        tv_sec: s,
        tv_nsec: n,
    });
    // SAFETY: `name` is NUL-terminated and `ts` is an array of two timespecs
    // that lives across the call.
    check_int(unsafe { libc::utimensat(dir.as_raw_fd(), name.as_ptr(), ts.as_ptr(), flags) })
        .map(drop)
}

/// `fstatfs(fd)` (works on O_PATH fds).
pub fn fstatfs(fd: BorrowedFd<'_>) -> R<libc::statfs> {
    let mut st = MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: `st` is writable memory of the size of `struct statfs`.
    check_int(unsafe { libc::fstatfs(fd.as_raw_fd(), st.as_mut_ptr()) })?;
    // SAFETY: fstatfs succeeded and filled the struct.
    Ok(unsafe { st.assume_init() })
}

/// `getdents64(fd, buf)`: the number of bytes of `linux_dirent64` records
/// written to `buf` (0 at the end of the directory).
pub fn getdents64(fd: BorrowedFd<'_>, buf: &mut [u8]) -> R<usize> {
    retry(|| {
        // SAFETY: `buf` is writable for `buf.len()` bytes.
        check(unsafe {
            libc::syscall(
                libc::SYS_getdents64,
                fd.as_raw_fd(),
                buf.as_mut_ptr(),
                buf.len(),
            )
        })
        .map(|n| n as usize)
    })
}

/// `lseek(fd, off, SEEK_SET)` (directory cookies are opaque i64 values).
pub fn lseek_set(fd: BorrowedFd<'_>, off: i64) -> R<()> {
    // SAFETY: integer arguments only.
    check(unsafe { libc::lseek(fd.as_raw_fd(), off, libc::SEEK_SET) }).map(drop)
}

/// Clear `O_NONBLOCK` in the file status flags of `fd`.
pub fn clear_nonblock(fd: BorrowedFd<'_>) -> R<()> {
    // SAFETY: F_GETFL takes no pointer argument.
    let fl = check_int(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) })?;
    // SAFETY: F_SETFL takes an integer argument.
    check_int(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, fl & !libc::O_NONBLOCK) })
        .map(drop)
}

/// Set the process umask.
pub fn set_umask(mask: u32) {
    // SAFETY: umask only changes process state and cannot fail.
    unsafe { libc::umask(mask) };
}

/// A connected `AF_UNIX` `SOCK_SEQPACKET` pair, both ends close-on-exec.
pub fn seqpacket_pair() -> R<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: `fds` is a writable array of two ints, as socketpair expects.
    check_int(unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    })?;
    Ok((owned(fds[0].into()), owned(fds[1].into())))
}

const CMSG_HDR: usize = size_of::<libc::cmsghdr>();
const ALIGN: usize = size_of::<usize>();
// The byte offsets below assume the x86-64 (LP64) cmsghdr layout.
const _: () = assert!(CMSG_HDR == 16);

const fn cmsg_align(n: usize) -> usize {
    (n + ALIGN - 1) & !(ALIGN - 1)
}

/// Most fds one message may carry.
pub const MAX_FDS: usize = 4;
const CONTROL_LEN: usize = cmsg_align(CMSG_HDR + MAX_FDS * size_of::<RawFd>());

/// `sendmsg` of one datagram with `fds` attached as `SCM_RIGHTS`
/// (`MSG_NOSIGNAL`: a closed peer gives EPIPE, not SIGPIPE).
pub fn send_with_fds(sock: BorrowedFd<'_>, data: &[u8], fds: &[BorrowedFd<'_>]) -> R<()> {
    if fds.len() > MAX_FDS {
        return Err(Errno::EINVAL);
    }
    // The control buffer is built byte by byte: one cmsghdr then the fds.
    // u64 storage keeps it aligned for the kernel's cmsghdr reads.
    let mut control = [0u64; CONTROL_LEN / 8];
    let mut control_len = 0;
    if !fds.is_empty() {
        let data_len = fds.len() * size_of::<RawFd>();
        let hdr = libc::cmsghdr {
            cmsg_len: CMSG_HDR + data_len,
            cmsg_level: libc::SOL_SOCKET,
            cmsg_type: libc::SCM_RIGHTS,
        };
        let bytes = as_bytes_mut(&mut control);
        bytes[..size_of::<usize>()].copy_from_slice(&hdr.cmsg_len.to_ne_bytes());
        bytes[8..12].copy_from_slice(&hdr.cmsg_level.to_ne_bytes());
        bytes[12..16].copy_from_slice(&hdr.cmsg_type.to_ne_bytes());
        for (i, fd) in fds.iter().enumerate() {
            let at = CMSG_HDR + i * size_of::<RawFd>();
            bytes[at..at + 4].copy_from_slice(&fd.as_raw_fd().to_ne_bytes());
        }
        control_len = cmsg_align(CMSG_HDR + data_len);
    }
    let mut iov = libc::iovec {
        iov_base: data.as_ptr() as *mut libc::c_void,
        iov_len: data.len(),
    };
    // SAFETY: msghdr is plain old data; all-zero is a valid (empty) value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if control_len > 0 {
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = control_len;
    }
    retry(|| {
        // SAFETY: `msg` points at `iov` (which points at `data`, only read)
        // and at `control`, all alive for the call.
        let n = check(
            unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) } as libc::c_long,
        )?;
        if n as usize != data.len() {
            return Err(Errno::EMSGSIZE);
        }
        Ok(())
    })
}

fn as_bytes_mut(words: &mut [u64]) -> &mut [u8] {
    let len = std::mem::size_of_val(words);
    // SAFETY: any u64 storage is valid as bytes; the slice covers exactly
    // the same memory and borrows `words` mutably for its lifetime.
    unsafe { std::slice::from_raw_parts_mut(words.as_mut_ptr().cast::<u8>(), len) }
}

/// One received datagram.
pub struct Received {
    /// Bytes of the datagram (0 with `eof` when the peer closed).
    pub len: usize,
    /// The peer closed the connection (no more messages).
    pub eof: bool,
    /// The datagram or the fds did not fit and were cut off.
    pub truncated: bool,
    /// Fds that came with it (already owned: dropping them closes them).
    pub fds: Vec<OwnedFd>,
}

/// `recvmsg` of one datagram into `buf`, with any `SCM_RIGHTS` fds
/// (received close-on-exec).
pub fn recv_with_fds(sock: BorrowedFd<'_>, buf: &mut [u8]) -> R<Received> {
    let mut control = [0u64; CONTROL_LEN / 8];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: msghdr is plain old data; all-zero is a valid value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = CONTROL_LEN;
    let n = retry(|| {
        msg.msg_controllen = CONTROL_LEN;
        // SAFETY: `msg` points at `iov` (covering `buf`, writable) and
        // `control` (writable for CONTROL_LEN bytes), both alive.
        check(
            unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) }
                as libc::c_long,
        )
    })? as usize;
    let controllen = msg.msg_controllen.min(CONTROL_LEN);
    let truncated = msg.msg_flags & (libc::MSG_TRUNC | libc::MSG_CTRUNC) != 0;
    // Parse the control messages in safe code, from bytes.
    let bytes = as_bytes_mut(&mut control);
    let mut fds = Vec::new();
    let mut at = 0;
    while at + CMSG_HDR <= controllen {
        let len = usize::from_ne_bytes(bytes[at..at + 8].try_into().unwrap_or([0; 8]));
        let level = i32::from_ne_bytes(bytes[at + 8..at + 12].try_into().unwrap_or([0; 4]));
        let typ = i32::from_ne_bytes(bytes[at + 12..at + 16].try_into().unwrap_or([0; 4]));
        if len < CMSG_HDR || at + len > controllen {
            break;
        }
        if level == libc::SOL_SOCKET && typ == libc::SCM_RIGHTS {
            let data = &bytes[at + CMSG_HDR..at + len];
            for c in data.chunks_exact(size_of::<RawFd>()) {
                let fd = RawFd::from_ne_bytes([c[0], c[1], c[2], c[3]]);
                if fd >= 0 {
                    fds.push(owned(fd.into()));
                }
            }
        }
        at += cmsg_align(len);
    }
    Ok(Received {
        len: n,
        eof: n == 0 && fds.is_empty() && !truncated,
        truncated,
        fds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn fds_cross_a_socketpair() {
        let (a, b) = seqpacket_pair().unwrap();
        let (p, q) = seqpacket_pair().unwrap();
        send_with_fds(a.as_fd(), b"hello", &[p.as_fd(), q.as_fd()]).unwrap();
        let mut buf = [0u8; 16];
        let r = recv_with_fds(b.as_fd(), &mut buf).unwrap();
        assert_eq!(&buf[..r.len], b"hello");
        assert_eq!(r.fds.len(), 2);
        assert!(!r.truncated && !r.eof);
        // The received fds are the same sockets: talk through them.
        send_with_fds(r.fds[0].as_fd(), b"x", &[]).unwrap();
        let r2 = recv_with_fds(q.as_fd(), &mut buf).unwrap();
        assert_eq!(&buf[..r2.len], b"x");
        drop(a);
        let r3 = recv_with_fds(b.as_fd(), &mut buf).unwrap();
        assert!(r3.eof);
    }

    #[test]
    fn oversized_datagram_is_flagged() {
        let (a, b) = seqpacket_pair().unwrap();
        send_with_fds(a.as_fd(), &[7u8; 64], &[]).unwrap();
        let mut buf = [0u8; 8];
        let r = recv_with_fds(b.as_fd(), &mut buf).unwrap();
        assert!(r.truncated);
    }
}
