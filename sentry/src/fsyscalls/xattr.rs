//! Extended attributes: get/set/list/remove, by path, by path without
//! following a final symlink, and by fd.

use std::sync::Arc;

use abi::{Errno, SysResult};
use fs::creds::{MAY_READ, MAY_WRITE};
use fs::inode::Inode;

use super::util::read_path;
use crate::syscalls::{sc, Args, Entry};
use crate::task::run::Thread;

pub static ENTRIES: &[Entry] = &[
    sc!(SYS_getxattr, getxattr, "stored by tmpfs and the overlay's upper layer; the gofer's files have none (ENODATA)"),
    sc!(SYS_lgetxattr, lgetxattr, "as getxattr"),
    sc!(SYS_fgetxattr, fgetxattr, "as getxattr"),
    sc!(SYS_setxattr, setxattr, "as getxattr; gofer files give EOPNOTSUPP"),
    sc!(SYS_lsetxattr, lsetxattr, "as setxattr"),
    sc!(SYS_fsetxattr, fsetxattr, "as setxattr"),
    sc!(SYS_listxattr, listxattr),
    sc!(SYS_llistxattr, llistxattr),
    sc!(SYS_flistxattr, flistxattr),
    sc!(SYS_removexattr, removexattr),
    sc!(SYS_lremovexattr, lremovexattr),
    sc!(SYS_fremovexattr, fremovexattr),
];

const XATTR_NAME_MAX: usize = 255;
const XATTR_SIZE_MAX: usize = 65536;
const XATTR_LIST_MAX: usize = 65536;
const XATTR_CREATE: i32 = 1;
const XATTR_REPLACE: i32 = 2;

/// The inode named by a path (following a final symlink or not) or an fd.
enum Target {
    Path(bool),
    Fd,
}

fn inode_of(t: &Thread, target: Target, arg: u64) -> SysResult<(Arc<dyn Inode>, abi::Stat)> {
    let inode = match target {
        Target::Fd => {
            let f = t.task.files().get_io(arg as i32)?;
            f.location().map(|l| l.inode().clone()).ok_or(Errno::EOPNOTSUPP)?
        }
        Target::Path(follow) => {
            let p = read_path(t, arg)?;
            let ctx = t.task.vfs_ctx();
            let loc = t.task.k.vfs.lookup(&ctx, None, &p, if follow { 0 } else { libc::AT_SYMLINK_NOFOLLOW })?;
            loc.inode().clone()
        }
    };
    let st = inode.stat()?;
    Ok((inode, st))
}

fn read_name(t: &Thread, addr: u64) -> SysResult<Vec<u8>> {
    let n = t.mm.read_cstring(addr, XATTR_NAME_MAX).map_err(|e| if e == Errno::ENAMETOOLONG { Errno::ERANGE } else { e })?;
    if n.is_empty() {
        return Err(Errno::ERANGE);
    }
    // Only the Linux namespaces exist.
    if !(n.starts_with(b"user.") || n.starts_with(b"trusted.") || n.starts_with(b"security.") || n.starts_with(b"system.")) {
        return Err(Errno::EOPNOTSUPP);
    }
    Ok(n)
}

/// Copy `v` out if it fits `size` (size 0 asks for the length).
fn reply(t: &Thread, buf: u64, size: usize, v: &[u8]) -> SysResult<u64> {
    if size == 0 {
        return Ok(v.len() as u64);
    }
    if v.len() > size {
        return Err(Errno::ERANGE);
    }
    t.mm.copy_out(buf, v)?;
    Ok(v.len() as u64)
}

fn get(t: &mut Thread, target: Target, a: &Args) -> SysResult<u64> {
    let (inode, st) = inode_of(t, target, a.u64(0))?;
    let name = read_name(t, a.u64(1))?;
    if name.starts_with(b"user.") {
        t.task.vfs_ctx().creds.check(&st, MAY_READ)?;
    }
    let v = inode.getxattr(&name).map_err(|e| if e == Errno::EOPNOTSUPP { Errno::ENODATA } else { e })?;
    reply(t, a.u64(2), a.usize(3), &v)
}

fn set(t: &mut Thread, target: Target, a: &Args) -> SysResult<u64> {
    let flags = a.i32(4);
    if flags & !(XATTR_CREATE | XATTR_REPLACE) != 0 {
        return Err(Errno::EINVAL);
    }
    let size = a.usize(3);
    if size > XATTR_SIZE_MAX {
        return Err(Errno::E2BIG);
    }
    let (inode, st) = inode_of(t, target, a.u64(0))?;
    let name = read_name(t, a.u64(1))?;
    let creds = t.task.vfs_ctx().creds;
    if name.starts_with(b"user.") {
        if st.mode & libc::S_IFMT != libc::S_IFREG && st.mode & libc::S_IFMT != libc::S_IFDIR {
            return Err(Errno::EPERM);
        }
        creds.check(&st, MAY_WRITE)?;
    } else if !creds.is_privileged() {
        return Err(Errno::EPERM);
    }
    let mut v = vec![0u8; size];
    t.mm.copy_in(a.u64(2), &mut v)?;
    inode.setxattr(&name, &v, flags).map(|_| 0)
}

fn list(t: &mut Thread, target: Target, a: &Args) -> SysResult<u64> {
    let (inode, _) = inode_of(t, target, a.u64(0))?;
    let mut out = Vec::new();
    for n in inode.listxattr()? {
        out.extend_from_slice(&n);
        out.push(0);
    }
    if out.len() > XATTR_LIST_MAX {
        return Err(Errno::E2BIG);
    }
    reply(t, a.u64(1), a.usize(2), &out)
}

fn remove(t: &mut Thread, target: Target, a: &Args) -> SysResult<u64> {
    let (inode, st) = inode_of(t, target, a.u64(0))?;
    let name = read_name(t, a.u64(1))?;
    let creds = t.task.vfs_ctx().creds;
    if name.starts_with(b"user.") {
        creds.check(&st, MAY_WRITE)?;
    } else if !creds.is_privileged() {
        return Err(Errno::EPERM);
    }
    inode.removexattr(&name).map_err(|e| if e == Errno::EOPNOTSUPP { Errno::ENODATA } else { e }).map(|_| 0)
}

fn getxattr(t: &mut Thread, a: &Args) -> SysResult<u64> {
    get(t, Target::Path(true), a)
}
fn lgetxattr(t: &mut Thread, a: &Args) -> SysResult<u64> {
    get(t, Target::Path(false), a)
}
fn fgetxattr(t: &mut Thread, a: &Args) -> SysResult<u64> {
    get(t, Target::Fd, a)
}
fn setxattr(t: &mut Thread, a: &Args) -> SysResult<u64> {
    set(t, Target::Path(true), a)
}
fn lsetxattr(t: &mut Thread, a: &Args) -> SysResult<u64> {
    set(t, Target::Path(false), a)
}
fn fsetxattr(t: &mut Thread, a: &Args) -> SysResult<u64> {
    set(t, Target::Fd, a)
}
fn listxattr(t: &mut Thread, a: &Args) -> SysResult<u64> {
    list(t, Target::Path(true), a)
}
fn llistxattr(t: &mut Thread, a: &Args) -> SysResult<u64> {
    list(t, Target::Path(false), a)
}
fn flistxattr(t: &mut Thread, a: &Args) -> SysResult<u64> {
    list(t, Target::Fd, a)
}
fn removexattr(t: &mut Thread, a: &Args) -> SysResult<u64> {
    remove(t, Target::Path(true), a)
}
fn lremovexattr(t: &mut Thread, a: &Args) -> SysResult<u64> {
    remove(t, Target::Path(false), a)
}
fn fremovexattr(t: &mut Thread, a: &Args) -> SysResult<u64> {
    remove(t, Target::Fd, a)
}
