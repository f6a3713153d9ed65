//! open/openat/openat2/creat, close, close_range.

use std::sync::Arc;

use abi::{Errno, SysResult};
use fs::file::File;
use fs::waiter::events;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::util::{dir_loc, install, read_path};
use crate::syscalls::{sc, Args, Entry};
use crate::task::run::Thread;

pub static ENTRIES: &[Entry] = &[
    sc!(SYS_open, open),
    sc!(SYS_openat, openat),
    sc!(SYS_openat2, openat2),
    sc!(SYS_creat, creat),
    sc!(SYS_close, close),
    sc!(SYS_close_range, close_range),
];

/// Open `path` relative to `dirfd` and install it.
pub fn do_open(t: &mut Thread, dirfd: i32, path: &[u8], flags: i32, mode: u32) -> SysResult<u64> {
    do_open_resolve(t, dirfd, path, flags, mode, 0)
}

const RESOLVE_NO_XDEV: u64 = 0x01;
const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
const RESOLVE_NO_SYMLINKS: u64 = 0x04;
const RESOLVE_BENEATH: u64 = 0x08;
const RESOLVE_IN_ROOT: u64 = 0x10;
const RESOLVE_CACHED: u64 = 0x20;

fn do_open_resolve(t: &mut Thread, dirfd: i32, path: &[u8], flags: i32, mode: u32, resolve: u64) -> SysResult<u64> {
    let mut ctx = t.task.vfs_ctx();
    if resolve & (RESOLVE_BENEATH | RESOLVE_IN_ROOT) != 0 {
        // The scope is the dirfd (or the cwd), whatever the path says.
        let scope = if dirfd == libc::AT_FDCWD {
            ctx.cwd.clone()
        } else {
            t.task.files().get(dirfd)?.location().cloned().ok_or(Errno::ENOTDIR)?
        };
        if resolve & RESOLVE_IN_ROOT != 0 {
            ctx.root = scope.clone();
        } else {
            ctx.resolve.beneath = Some(scope.clone());
        }
        ctx.resolve.scoped = true;
    }
    ctx.resolve.no_symlinks = resolve & RESOLVE_NO_SYMLINKS != 0;
    ctx.resolve.no_magiclinks = resolve & RESOLVE_NO_MAGICLINKS != 0;
    ctx.resolve.no_xdev = resolve & RESOLVE_NO_XDEV != 0;
    let dir = if resolve & RESOLVE_IN_ROOT != 0 && path.first() == Some(&b'/') { None } else { dir_loc(t, dirfd, path)? };
    let mode = if flags & libc::O_CREAT != 0 || flags & libc::O_TMPFILE == libc::O_TMPFILE { mode & 0o7777 } else { 0 };
    let f = t.task.k.vfs.open(&ctx, dir.as_ref(), path, flags, mode)?;
    wait_open_ready(t, &f)?;
    install(t, f, flags & libc::O_CLOEXEC != 0)
}

/// A fifo opened without O_NONBLOCK waits for its peer.
fn wait_open_ready(t: &mut Thread, f: &Arc<File>) -> SysResult<()> {
    if f.is_nonblocking() || f.open_ready() {
        return Ok(());
    }
    let waker = t.task.waiter.as_waker();
    f.ops().event_register(&waker, events::READABLE | events::WRITABLE);
    let r = t.wait_event(&[], 0, &[], None, |_| f.open_ready().then_some(Ok(())));
    f.ops().event_unregister(&waker);
    r
}

fn open(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let p = read_path(t, a.u64(0))?;
    do_open(t, libc::AT_FDCWD, &p, a.i32(1), a.u32(2))
}

fn openat(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let p = read_path(t, a.u64(1))?;
    do_open(t, a.i32(0), &p, a.i32(2), a.u32(3))
}

fn creat(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let p = read_path(t, a.u64(0))?;
    do_open(t, libc::AT_FDCWD, &p, libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC, a.u32(1))
}

#[repr(C)]
#[derive(Clone, Copy, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// Every flag open(2) knows (openat2 refuses others).
const VALID_OPEN_FLAGS: u64 = (libc::O_ACCMODE
    | libc::O_CREAT
    | libc::O_EXCL
    | libc::O_NOCTTY
    | libc::O_TRUNC
    | libc::O_APPEND
    | libc::O_NONBLOCK
    | libc::O_DSYNC
    | libc::O_ASYNC
    | libc::O_DIRECT
    | libc::O_LARGEFILE
    | libc::O_DIRECTORY
    | libc::O_NOFOLLOW
    | libc::O_NOATIME
    | libc::O_CLOEXEC
    | libc::O_PATH
    | libc::O_SYNC
    | libc::O_TMPFILE) as u32 as u64;

fn openat2(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let size = a.u64(3);
    if size < std::mem::size_of::<OpenHow>() as u64 || size > abi::PAGE_SIZE {
        return Err(if size > abi::PAGE_SIZE { Errno::E2BIG } else { Errno::EINVAL });
    }
    let how: OpenHow = t.mm.read_obj(a.u64(2))?;
    // Bytes past the struct we know must be zero.
    if size > 24 {
        let mut rest = vec![0u8; (size - 24) as usize];
        t.mm.copy_in(a.u64(2) + 24, &mut rest)?;
        if rest.iter().any(|b| *b != 0) {
            return Err(Errno::E2BIG);
        }
    }
    let known = RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH | RESOLVE_IN_ROOT | RESOLVE_CACHED;
    if how.flags & !VALID_OPEN_FLAGS != 0 || how.mode & !0o7777 != 0 || how.resolve & !known != 0 {
        return Err(Errno::EINVAL);
    }
    if how.resolve & RESOLVE_BENEATH != 0 && how.resolve & RESOLVE_IN_ROOT != 0 {
        return Err(Errno::EINVAL);
    }
    // RESOLVE_CACHED: the Sentry's walk never blocks on I/O it could
    // avoid, so a cached-only lookup is simply a lookup; O_CREAT/O_TRUNC
    // and O_TMPFILE would need I/O (EAGAIN as on Linux).
    if how.resolve & RESOLVE_CACHED != 0 && how.flags & (libc::O_CREAT | libc::O_TRUNC | libc::O_TMPFILE) as u32 as u64 != 0 {
        return Err(Errno::EAGAIN);
    }
    let flags = how.flags as i32;
    if how.mode != 0 && flags & libc::O_CREAT == 0 && flags & libc::O_TMPFILE != libc::O_TMPFILE {
        return Err(Errno::EINVAL);
    }
    let p = read_path(t, a.u64(1))?;
    do_open_resolve(t, a.i32(0), &p, flags, how.mode as u32, how.resolve)
}

fn close(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let f = t.task.files().close(a.i32(0))?;
    super::locks::on_close(t.task.tgid(), &f);
    drop(f);
    Ok(0)
}

const CLOSE_RANGE_UNSHARE: u32 = 2;
const CLOSE_RANGE_CLOEXEC: u32 = 4;

fn close_range(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let (lo, hi, flags) = (a.u32(0), a.u32(1), a.u32(2));
    if flags & !(CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC) != 0 || lo > hi {
        return Err(Errno::EINVAL);
    }
    if flags & CLOSE_RANGE_UNSHARE != 0 {
        let mut g = t.task.files.lock().unwrap_or_else(|e| e.into_inner());
        if Arc::strong_count(&g) > 1 {
            let copy = g.fork();
            *g = copy;
        }
    }
    let closed = t.task.files().close_range(lo, hi, flags & CLOSE_RANGE_CLOEXEC != 0);
    for f in &closed {
        super::locks::on_close(t.task.tgid(), f);
    }
    drop(closed);
    Ok(0)
}
