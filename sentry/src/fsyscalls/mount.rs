//! mount(2) and umount2(2) over the sandbox's one mount table.
//!
//! mount(2) makes new instances of the filesystem types the Sentry can
//! make from nothing: `sysfs` (fs::sysfs, no options), `proc` (no
//! options) and `tmpfs` (`mode=`, `uid=`, `gid=`; `size=`, `nr_inodes=`,
//! `nr_blocks=` are accepted and not enforced: tmpfs has no limits).
//! MS_RDONLY/NOSUID/NODEV/NOEXEC apply; the atime flags, MS_SILENT,
//! MS_SYNCHRONOUS, MS_DIRSYNC and MS_LAZYTIME are accepted without effect.
//! Propagation changes (MS_PRIVATE, MS_SLAVE, MS_UNBINDABLE, with MS_REC)
//! succeed on a mount root and change nothing: the sandbox has one mount
//! namespace and no shared subtrees, so nothing propagates anyway.
//!
//! Not supported (EINVAL, logged): MS_BIND, MS_MOVE, MS_REMOUNT,
//! MS_SHARED; other filesystem types give ENODEV. umount2's MNT_EXPIRE
//! gives EINVAL; MNT_DETACH and MNT_FORCE unmount like a plain umount
//! (busy files are not tracked; a mount with mounts under it is EBUSY).
//! Everything needs CAP_SYS_ADMIN in the effective set (EPERM).

use std::sync::Arc;

use abi::{Errno, SysResult};
use fs::inode::Filesystem;
use fs::mount::MountFlags;
use fs::types::Owner;
use tracing::info;

use super::util::read_path;
use crate::kernel::Kernel;
use crate::syscalls::{sc, Args, Entry};
use crate::task::run::Thread;

pub static ENTRIES: &[Entry] = &[
    sc!(SYS_mount, mount, "new sysfs, proc and tmpfs instances; private/slave/unbindable are no-ops; no bind, move, remount or shared"),
    sc!(SYS_umount2, umount2, "no MNT_EXPIRE; MNT_DETACH is a plain umount"),
];

const CAP_SYS_ADMIN: u32 = 21;
/// The old "magic" in the top 16 bits of mount flags.
const MS_MGC_MSK: u64 = 0xffff_0000;
const MS_MGC_VAL: u64 = 0xc0ed_0000;
const MS_PROPAGATION: u64 = libc::MS_SHARED | libc::MS_PRIVATE | libc::MS_SLAVE | libc::MS_UNBINDABLE;
/// Flags accepted and ignored for new mounts.
const MS_IGNORED: u64 =
    libc::MS_SILENT | libc::MS_SYNCHRONOUS | libc::MS_DIRSYNC | libc::MS_NOATIME | libc::MS_NODIRATIME | libc::MS_RELATIME | libc::MS_STRICTATIME | libc::MS_LAZYTIME;

fn capable(t: &Thread) -> bool {
    t.task.tg.caps.lock().unwrap_or_else(|e| e.into_inner()).effective & (1 << CAP_SYS_ADMIN) != 0
}

/// A string argument that may be NULL; EFAULT, or EINVAL past a page.
fn opt_string(t: &Thread, addr: u64) -> SysResult<Option<String>> {
    if addr == 0 {
        return Ok(None);
    }
    let b = t.mm.read_cstring(addr, 4095).map_err(|e| if e == Errno::ENAMETOOLONG { Errno::EINVAL } else { e })?;
    Ok(Some(String::from_utf8_lossy(&b).into_owned()))
}

/// A sysfs for this sandbox: as many CPUs as sched_getaffinity reports.
pub fn new_sysfs() -> Arc<dyn Filesystem> {
    fs::sysfs::SysFs::new(crate::task::all_cpus().count_ones())
}

/// Mount a new sysfs on `path` (made if missing), read-only, nosuid,
/// nodev, noexec, as a container's default /sys is: `runsc-rs do`'s /sys.
pub fn mount_sysfs(k: &Kernel, path: &[u8]) -> SysResult<()> {
    let ctx = k.vfs.root_context(fs::creds::Creds::root(), 0);
    match k.vfs.mkdir(&ctx, None, path, 0o555) {
        Ok(()) | Err(Errno::EEXIST) => {}
        Err(e) => return Err(e),
    }
    let flags = MountFlags { readonly: true, nosuid: true, nodev: true, noexec: true };
    k.vfs.mount(&ctx, None, path, new_sysfs(), flags, "sysfs").map(|_| ())
}

/// A tmpfs root from mount data (`mode=`, `uid=`, `gid=`; size options
/// accepted). `owner` is the default owner (the caller's fsuid/fsgid).
fn tmpfs_from(data: &str, mut owner: Owner) -> SysResult<Arc<dyn Filesystem>> {
    let mut mode = 0o1777;
    for opt in data.split(',').filter(|o| !o.is_empty()) {
        let (k, v) = opt.split_once('=').unwrap_or((opt, ""));
        match k {
            "mode" => mode = u32::from_str_radix(v, 8).map_err(|_| Errno::EINVAL)? & 0o7777,
            "uid" => owner.uid = v.parse().map_err(|_| Errno::EINVAL)?,
            "gid" => owner.gid = v.parse().map_err(|_| Errno::EINVAL)?,
            "size" | "nr_inodes" | "nr_blocks" => {}
            _ => {
                info!("mount tmpfs: option {opt:?} not supported");
                return Err(Errno::EINVAL);
            }
        }
    }
    Ok(fs::tmpfs::TmpFs::new(mode, owner))
}

/// A new instance of `fstype` for mount(2). ENODEV for types the Sentry
/// cannot make; EINVAL for options it does not support.
pub fn new_filesystem(k: &Arc<Kernel>, fstype: &str, data: &str, owner: Owner) -> SysResult<Arc<dyn Filesystem>> {
    match fstype {
        "sysfs" | "proc" if !data.is_empty() => {
            info!("mount {fstype}: options {data:?} not supported");
            Err(Errno::EINVAL)
        }
        "sysfs" => Ok(new_sysfs()),
        "proc" => Ok(fs::procfs::ProcFs::new(crate::procfs::provider(k), &k.vfs)),
        "tmpfs" => tmpfs_from(data, owner),
        _ => {
            info!("mount: filesystem type {fstype:?} not supported");
            Err(Errno::ENODEV)
        }
    }
}

fn mount(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let source = opt_string(t, a.u64(0))?;
    let target = read_path(t, a.u64(1))?;
    let fstype = opt_string(t, a.u64(2))?;
    let mut flags = a.u64(3);
    if flags & MS_MGC_MSK == MS_MGC_VAL {
        flags &= !MS_MGC_MSK;
    }
    let k = t.task.k.clone();
    let ctx = t.task.vfs_ctx();
    let at = k.vfs.lookup(&ctx, None, &target, 0)?;
    if !capable(t) {
        return Err(Errno::EPERM);
    }
    let unsupported = libc::MS_REMOUNT | libc::MS_BIND | libc::MS_MOVE;
    if flags & unsupported != 0 {
        info!(flags, "mount: bind, move and remount are not supported");
        return Err(Errno::EINVAL);
    }
    let prop = flags & MS_PROPAGATION;
    if prop != 0 {
        if prop.count_ones() != 1 || flags & !(prop | libc::MS_REC | libc::MS_SILENT) != 0 || !at.is_mount_root() {
            return Err(Errno::EINVAL);
        }
        if prop == libc::MS_SHARED {
            info!("mount: shared subtrees are not supported");
            return Err(Errno::EINVAL);
        }
        return Ok(0);
    }
    let known = libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC | MS_IGNORED;
    if flags & !known != 0 {
        info!(flags, "mount: unsupported flags");
        return Err(Errno::EINVAL);
    }
    let fstype = fstype.ok_or(Errno::EINVAL)?;
    let data = opt_string(t, a.u64(4))?.unwrap_or_default();
    let owner = Owner { uid: ctx.creds.fsuid, gid: ctx.creds.fsgid };
    let new = new_filesystem(&k, &fstype, &data, owner)?;
    let mflags = MountFlags {
        readonly: flags & libc::MS_RDONLY != 0,
        nosuid: flags & libc::MS_NOSUID != 0,
        nodev: flags & libc::MS_NODEV != 0,
        noexec: flags & libc::MS_NOEXEC != 0,
    };
    let source = source.filter(|s| !s.is_empty()).unwrap_or_else(|| "none".into());
    k.vfs.mount(&ctx, None, &target, new, mflags, &source)?;
    Ok(0)
}

fn umount2(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let target = read_path(t, a.u64(0))?;
    let flags = a.i32(1);
    let known = libc::MNT_FORCE | libc::MNT_DETACH | libc::MNT_EXPIRE | libc::UMOUNT_NOFOLLOW;
    if flags & !known != 0 {
        return Err(Errno::EINVAL);
    }
    if flags & libc::MNT_EXPIRE != 0 {
        info!("umount2: MNT_EXPIRE is not supported");
        return Err(Errno::EINVAL);
    }
    let k = t.task.k.clone();
    let ctx = t.task.vfs_ctx();
    let nofollow = flags & libc::UMOUNT_NOFOLLOW != 0;
    let at = k.vfs.lookup(&ctx, None, &target, if nofollow { libc::AT_SYMLINK_NOFOLLOW } else { 0 })?;
    if !capable(t) {
        return Err(Errno::EPERM);
    }
    if !at.is_mount_root() {
        return Err(Errno::EINVAL);
    }
    k.vfs.umount(&ctx, None, &target)?;
    Ok(0)
}
