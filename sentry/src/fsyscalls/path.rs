//! Namespace operations: mkdir, mknod, unlink, rmdir, rename, symlink,
//! link, readlink.

use abi::{Errno, SysResult};

use super::util::{dir_loc, read_path};
use crate::syscalls::{sc, Args, Entry};
use crate::task::run::Thread;

pub static ENTRIES: &[Entry] = &[
    sc!(SYS_mkdir, mkdir),
    sc!(SYS_mkdirat, mkdirat),
    sc!(SYS_mknod, mknod),
    sc!(SYS_mknodat, mknodat),
    sc!(SYS_unlink, unlink),
    sc!(SYS_unlinkat, unlinkat),
    sc!(SYS_rmdir, rmdir),
    sc!(SYS_rename, rename),
    sc!(SYS_renameat, renameat),
    sc!(SYS_renameat2, renameat2, "RENAME_WHITEOUT is refused"),
    sc!(SYS_symlink, symlink),
    sc!(SYS_symlinkat, symlinkat),
    sc!(SYS_link, link),
    sc!(SYS_linkat, linkat),
    sc!(SYS_readlink, readlink),
    sc!(SYS_readlinkat, readlinkat),
];

fn do_mkdir(t: &mut Thread, dirfd: i32, pa: u64, mode: u32) -> SysResult<u64> {
    let p = read_path(t, pa)?;
    let dir = dir_loc(t, dirfd, &p)?;
    let ctx = t.task.vfs_ctx();
    t.task.k.vfs.mkdir(&ctx, dir.as_ref(), &p, mode).map(|_| 0)
}

fn mkdir(t: &mut Thread, a: &Args) -> SysResult<u64> {
    do_mkdir(t, libc::AT_FDCWD, a.u64(0), a.u32(1))
}

fn mkdirat(t: &mut Thread, a: &Args) -> SysResult<u64> {
    do_mkdir(t, a.i32(0), a.u64(1), a.u32(2))
}

fn do_mknod(t: &mut Thread, dirfd: i32, pa: u64, mode: u32, dev: u32) -> SysResult<u64> {
    let p = read_path(t, pa)?;
    let dir = dir_loc(t, dirfd, &p)?;
    let ctx = t.task.vfs_ctx();
    // The syscall's dev is the old 32-bit encoding (new_decode_dev).
    let (maj, min) = ((dev & 0xfff00) >> 8, (dev & 0xff) | ((dev >> 12) & 0xfff00));
    t.task.k.vfs.mknod(&ctx, dir.as_ref(), &p, mode, libc::makedev(maj, min)).map(|_| 0)
}

fn mknod(t: &mut Thread, a: &Args) -> SysResult<u64> {
    do_mknod(t, libc::AT_FDCWD, a.u64(0), a.u32(1), a.u32(2))
}

fn mknodat(t: &mut Thread, a: &Args) -> SysResult<u64> {
    do_mknod(t, a.i32(0), a.u64(1), a.u32(2), a.u32(3))
}

fn do_unlink(t: &mut Thread, dirfd: i32, pa: u64, flags: i32) -> SysResult<u64> {
    if flags & !libc::AT_REMOVEDIR != 0 {
        return Err(Errno::EINVAL);
    }
    let p = read_path(t, pa)?;
    let dir = dir_loc(t, dirfd, &p)?;
    let ctx = t.task.vfs_ctx();
    if flags & libc::AT_REMOVEDIR != 0 {
        t.task.k.vfs.rmdir(&ctx, dir.as_ref(), &p).map(|_| 0)
    } else {
        t.task.k.vfs.unlink(&ctx, dir.as_ref(), &p).map(|_| 0)
    }
}

fn unlink(t: &mut Thread, a: &Args) -> SysResult<u64> {
    do_unlink(t, libc::AT_FDCWD, a.u64(0), 0)
}

fn unlinkat(t: &mut Thread, a: &Args) -> SysResult<u64> {
    do_unlink(t, a.i32(0), a.u64(1), a.i32(2))
}

fn rmdir(t: &mut Thread, a: &Args) -> SysResult<u64> {
    do_unlink(t, libc::AT_FDCWD, a.u64(0), libc::AT_REMOVEDIR)
}

fn do_rename(t: &mut Thread, ofd: i32, oa: u64, nfd: i32, na: u64, flags: u32) -> SysResult<u64> {
    let op = read_path(t, oa)?;
    let np = read_path(t, na)?;
    let od = dir_loc(t, ofd, &op)?;
    let nd = dir_loc(t, nfd, &np)?;
    let ctx = t.task.vfs_ctx();
    t.task.k.vfs.rename(&ctx, od.as_ref(), &op, nd.as_ref(), &np, flags).map(|_| 0)
}

fn rename(t: &mut Thread, a: &Args) -> SysResult<u64> {
    do_rename(t, libc::AT_FDCWD, a.u64(0), libc::AT_FDCWD, a.u64(1), 0)
}

fn renameat(t: &mut Thread, a: &Args) -> SysResult<u64> {
    do_rename(t, a.i32(0), a.u64(1), a.i32(2), a.u64(3), 0)
}

fn renameat2(t: &mut Thread, a: &Args) -> SysResult<u64> {
    do_rename(t, a.i32(0), a.u64(1), a.i32(2), a.u64(3), a.u32(4))
}

fn do_symlink(t: &mut Thread, ta: u64, dirfd: i32, pa: u64) -> SysResult<u64> {
    let target = read_path(t, ta)?;
    let p = read_path(t, pa)?;
    let dir = dir_loc(t, dirfd, &p)?;
    let ctx = t.task.vfs_ctx();
    t.task.k.vfs.symlink(&ctx, &target, dir.as_ref(), &p).map(|_| 0)
}

fn symlink(t: &mut Thread, a: &Args) -> SysResult<u64> {
    do_symlink(t, a.u64(0), libc::AT_FDCWD, a.u64(1))
}

fn symlinkat(t: &mut Thread, a: &Args) -> SysResult<u64> {
    do_symlink(t, a.u64(0), a.i32(1), a.u64(2))
}

fn do_link(t: &mut Thread, ofd: i32, oa: u64, nfd: i32, na: u64, flags: i32) -> SysResult<u64> {
    if flags & !(libc::AT_SYMLINK_FOLLOW | libc::AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let op = read_path(t, oa)?;
    let np = read_path(t, na)?;
    let od = dir_loc(t, ofd, &op)?;
    let nd = dir_loc(t, nfd, &np)?;
    let ctx = t.task.vfs_ctx();
    t.task.k.vfs.link(&ctx, od.as_ref(), &op, nd.as_ref(), &np, flags).map(|_| 0)
}

fn link(t: &mut Thread, a: &Args) -> SysResult<u64> {
    do_link(t, libc::AT_FDCWD, a.u64(0), libc::AT_FDCWD, a.u64(1), 0)
}

fn linkat(t: &mut Thread, a: &Args) -> SysResult<u64> {
    do_link(t, a.i32(0), a.u64(1), a.i32(2), a.u64(3), a.i32(4))
}

fn do_readlink(t: &mut Thread, dirfd: i32, pa: u64, buf: u64, size: i32) -> SysResult<u64> {
    if size <= 0 {
        return Err(Errno::EINVAL);
    }
    let p = read_path(t, pa)?;
    if p.is_empty() && dirfd == libc::AT_FDCWD {
        return Err(Errno::ENOENT);
    }
    let dir = dir_loc(t, dirfd, &p)?;
    let ctx = t.task.vfs_ctx();
    let target = t.task.k.vfs.readlink(&ctx, dir.as_ref(), &p)?;
    let n = target.len().min(size as usize);
    t.mm.copy_out(buf, &target[..n])?;
    Ok(n as u64)
}

fn readlink(t: &mut Thread, a: &Args) -> SysResult<u64> {
    do_readlink(t, libc::AT_FDCWD, a.u64(0), a.u64(1), a.i32(2))
}

fn readlinkat(t: &mut Thread, a: &Args) -> SysResult<u64> {
    do_readlink(t, a.i32(0), a.u64(1), a.u64(2), a.i32(3))
}
