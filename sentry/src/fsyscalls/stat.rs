//! stat family, statx, statfs/fstatfs.

use abi::{Errno, Stat, SysResult};
use fs::mount::Location;
use fs::StatFs;
use zerocopy::{Immutable, IntoBytes, KnownLayout};

use super::util::{dir_loc, read_path};
use crate::syscalls::{sc, Args, Entry};
use crate::task::run::Thread;

pub static ENTRIES: &[Entry] = &[
    sc!(SYS_stat, stat),
    sc!(SYS_lstat, lstat),
    sc!(SYS_fstat, fstat),
    sc!(SYS_newfstatat, newfstatat),
    sc!(SYS_statx, statx, "basic stats and mount id; no btime or attributes"),
    sc!(SYS_statfs, statfs),
    sc!(SYS_fstatfs, fstatfs),
];

/// Resolve (dirfd, path, at_flags) for a stat-like call. An empty path
/// with AT_EMPTY_PATH names the dirfd itself, which may have no location
/// (a pipe): then the stat comes from the open file.
fn stat_at(t: &Thread, dirfd: i32, path: &[u8], flags: i32, allowed: i32) -> SysResult<(Stat, Option<Location>)> {
    if flags & !allowed != 0 {
        return Err(Errno::EINVAL);
    }
    if path.is_empty() && flags & libc::AT_EMPTY_PATH != 0 && dirfd != libc::AT_FDCWD {
        let f = t.task.files().get(dirfd)?;
        return Ok((f.stat()?, f.location().cloned()));
    }
    let dir = dir_loc(t, dirfd, path)?;
    let ctx = t.task.vfs_ctx();
    let loc = t.task.k.vfs.lookup(&ctx, dir.as_ref(), path, flags & (libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH))?;
    Ok((loc.inode().stat()?, Some(loc)))
}

const STAT_FLAGS: i32 = libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH | libc::AT_NO_AUTOMOUNT;

fn stat(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let p = read_path(t, a.u64(0))?;
    let (st, _) = stat_at(t, libc::AT_FDCWD, &p, 0, 0)?;
    t.mm.write_obj(a.u64(1), &st).map(|_| 0)
}

fn lstat(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let p = read_path(t, a.u64(0))?;
    let (st, _) = stat_at(t, libc::AT_FDCWD, &p, libc::AT_SYMLINK_NOFOLLOW, STAT_FLAGS)?;
    t.mm.write_obj(a.u64(1), &st).map(|_| 0)
}

fn fstat(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let st = t.task.files().get(a.i32(0))?.stat()?;
    t.mm.write_obj(a.u64(1), &st).map(|_| 0)
}

/// A NULL path is "" for AT_EMPTY_PATH callers (Linux 6.11+).
fn path_or_empty(t: &Thread, addr: u64, flags: i32) -> SysResult<Vec<u8>> {
    if addr == 0 && flags & libc::AT_EMPTY_PATH != 0 {
        return Ok(Vec::new());
    }
    read_path(t, addr)
}

fn newfstatat(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let flags = a.i32(3);
    let p = path_or_empty(t, a.u64(1), flags)?;
    let (st, _) = stat_at(t, a.i32(0), &p, flags, STAT_FLAGS)?;
    t.mm.write_obj(a.u64(2), &st).map(|_| 0)
}

#[repr(C)]
#[derive(Clone, Copy, Default, IntoBytes, Immutable, KnownLayout)]
pub struct StatxTimestamp {
    pub sec: i64,
    pub nsec: u32,
    pub _reserved: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default, IntoBytes, Immutable, KnownLayout)]
pub struct Statx {
    pub mask: u32,
    pub blksize: u32,
    pub attributes: u64,
    pub nlink: u32,
    pub uid: u32,
    pub gid: u32,
    pub mode: u16,
    pub _spare0: u16,
    pub ino: u64,
    pub size: u64,
    pub blocks: u64,
    pub attributes_mask: u64,
    pub atime: StatxTimestamp,
    pub btime: StatxTimestamp,
    pub ctime: StatxTimestamp,
    pub mtime: StatxTimestamp,
    pub rdev_major: u32,
    pub rdev_minor: u32,
    pub dev_major: u32,
    pub dev_minor: u32,
    pub mnt_id: u64,
    pub dio_mem_align: u32,
    pub dio_offset_align: u32,
    pub _spare: [u64; 12],
}

const _: () = assert!(std::mem::size_of::<Statx>() == 256);

pub const STATX_BASIC_STATS: u32 = 0x7ff;
pub const STATX_MNT_ID: u32 = 0x1000;
const STATX_RESERVED: u32 = 0x8000_0000;

pub fn major(dev: u64) -> u32 {
    (((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0xfff)) as u32
}

pub fn minor(dev: u64) -> u32 {
    (((dev >> 12) & 0xffff_ff00) | (dev & 0xff)) as u32
}

fn ts(sec: i64, nsec: i64) -> StatxTimestamp {
    StatxTimestamp { sec, nsec: nsec.clamp(0, 999_999_999) as u32, _reserved: 0 }
}

/// Build a `struct statx` from a stat (and the mount id if known).
pub fn to_statx(st: &Stat, mnt_id: Option<u64>) -> Statx {
    Statx {
        mask: STATX_BASIC_STATS | if mnt_id.is_some() { STATX_MNT_ID } else { 0 },
        blksize: st.blksize as u32,
        nlink: st.nlink as u32,
        uid: st.uid,
        gid: st.gid,
        mode: st.mode as u16,
        ino: st.ino,
        size: st.size as u64,
        blocks: st.blocks as u64,
        atime: ts(st.atime, st.atime_nsec),
        ctime: ts(st.ctime, st.ctime_nsec),
        mtime: ts(st.mtime, st.mtime_nsec),
        rdev_major: major(st.rdev),
        rdev_minor: minor(st.rdev),
        dev_major: major(st.dev),
        dev_minor: minor(st.dev),
        mnt_id: mnt_id.unwrap_or(0),
        ..Default::default()
    }
}

fn statx(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let (dirfd, flags, mask) = (a.i32(0), a.i32(2), a.u32(3));
    if mask & STATX_RESERVED != 0 || flags & libc::AT_STATX_SYNC_TYPE == libc::AT_STATX_SYNC_TYPE {
        return Err(Errno::EINVAL);
    }
    let p = path_or_empty(t, a.u64(1), flags)?;
    let (st, loc) = stat_at(t, dirfd, &p, flags, STAT_FLAGS | libc::AT_STATX_SYNC_TYPE)?;
    let sx = to_statx(&st, loc.map(|l| l.mount.id()));
    t.mm.write_obj(a.u64(4), &sx).map(|_| 0)
}

fn statfs(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let p = read_path(t, a.u64(0))?;
    let ctx = t.task.vfs_ctx();
    let s = t.task.k.vfs.statfs(&ctx, None, &p, 0)?;
    t.mm.copy_out(a.u64(1), &s.to_bytes()).map(|_| 0)
}

/// statfs of files without a path (pipes, anon inodes).
fn anon_statfs() -> StatFs {
    StatFs { fs_type: 0x5049_5045, bsize: 4096, namelen: 255, frsize: 4096, ..Default::default() }
}

fn fstatfs(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let f = t.task.files().get(a.i32(0))?;
    let s = match f.location() {
        Some(l) => fs::Vfs::statfs_at(l)?,
        None => anon_statfs(),
    };
    t.mm.copy_out(a.u64(1), &s.to_bytes()).map(|_| 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_split_matches_libc() {
        let d = libc::makedev(259, 70000);
        assert_eq!(major(d), 259);
        assert_eq!(minor(d), 70000);
    }

    #[test]
    fn statx_fields() {
        let st = Stat { mode: libc::S_IFREG | 0o644, size: 10, mtime: 5, mtime_nsec: 7, ..Default::default() };
        let x = to_statx(&st, Some(3));
        assert_eq!(x.mask, STATX_BASIC_STATS | STATX_MNT_ID);
        assert_eq!(x.mode as u32, libc::S_IFREG | 0o644);
        assert_eq!((x.mtime.sec, x.mtime.nsec), (5, 7));
        let b = x.as_bytes();
        assert_eq!(u64::from_ne_bytes(b[144..152].try_into().unwrap()), 3);
        assert_eq!(u64::from_ne_bytes(b[40..48].try_into().unwrap()), 10);
    }
}
