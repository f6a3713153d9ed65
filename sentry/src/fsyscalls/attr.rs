//! Attribute changes and checks: access, chmod, chown, utimes, truncate.

use abi::{Errno, SysResult};
use fs::mount::Location;
use fs::TimeSpec;

use super::util::{dir_loc, read_path};
use crate::signal::{SigInfo, SIGXFSZ, SI_USER};
use crate::syscalls::{sc, Args, Entry};
use crate::task::run::Thread;

pub static ENTRIES: &[Entry] = &[
    sc!(SYS_access, access),
    sc!(SYS_faccessat, faccessat),
    sc!(SYS_faccessat2, faccessat2),
    sc!(SYS_chmod, chmod),
    sc!(SYS_fchmod, fchmod),
    sc!(SYS_fchmodat, fchmodat),
    sc!(SYS_chown, chown),
    sc!(SYS_lchown, lchown),
    sc!(SYS_fchown, fchown),
    sc!(SYS_fchownat, fchownat),
    sc!(SYS_utimensat, utimensat),
    sc!(SYS_utimes, utimes),
    sc!(SYS_futimesat, futimesat),
    sc!(SYS_utime, utime),
    sc!(SYS_truncate, truncate),
    sc!(SYS_ftruncate, ftruncate),
];

fn do_access(t: &mut Thread, dirfd: i32, pa: u64, mode: u32, flags: i32) -> SysResult<u64> {
    let p = read_path(t, pa)?;
    let dir = dir_loc(t, dirfd, &p)?;
    let ctx = t.task.vfs_ctx();
    t.task.k.vfs.access(&ctx, dir.as_ref(), &p, mode, flags).map(|_| 0)
}

fn access(t: &mut Thread, a: &Args) -> SysResult<u64> {
    do_access(t, libc::AT_FDCWD, a.u64(0), a.u32(1), 0)
}

fn faccessat(t: &mut Thread, a: &Args) -> SysResult<u64> {
    do_access(t, a.i32(0), a.u64(1), a.u32(2), 0)
}

fn faccessat2(t: &mut Thread, a: &Args) -> SysResult<u64> {
    do_access(t, a.i32(0), a.u64(1), a.u32(2), a.i32(3))
}

/// The location of an fd for f*() attribute calls (O_PATH refused).
fn fd_loc(t: &Thread, fd: i32) -> SysResult<Option<Location>> {
    let f = t.task.files().get_io(fd)?;
    Ok(f.location().cloned())
}

fn chmod(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let p = read_path(t, a.u64(0))?;
    let ctx = t.task.vfs_ctx();
    t.task.k.vfs.chmod(&ctx, None, &p, a.u32(1), 0).map(|_| 0)
}

fn fchmodat(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let p = read_path(t, a.u64(1))?;
    let dir = dir_loc(t, a.i32(0), &p)?;
    let ctx = t.task.vfs_ctx();
    t.task.k.vfs.chmod(&ctx, dir.as_ref(), &p, a.u32(2), 0).map(|_| 0)
}

fn fchmod(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let ctx = t.task.vfs_ctx();
    match fd_loc(t, a.i32(0))? {
        Some(l) => t.task.k.vfs.chmod_at(&ctx, &l, a.u32(1)).map(|_| 0),
        // Pipes and anon inodes: nothing persistent to change.
        None => Ok(0),
    }
}

fn do_chown(t: &mut Thread, dirfd: i32, pa: u64, uid: u32, gid: u32, flags: i32) -> SysResult<u64> {
    if flags & !(libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let p = read_path(t, pa)?;
    if p.is_empty() && flags & libc::AT_EMPTY_PATH != 0 && dirfd != libc::AT_FDCWD {
        let ctx = t.task.vfs_ctx();
        return match t.task.files().get(dirfd)?.location() {
            Some(l) => t.task.k.vfs.chown_at(&ctx, l, uid, gid).map(|_| 0),
            None => Ok(0),
        };
    }
    let dir = dir_loc(t, dirfd, &p)?;
    let ctx = t.task.vfs_ctx();
    t.task.k.vfs.chown(&ctx, dir.as_ref(), &p, uid, gid, flags).map(|_| 0)
}

fn chown(t: &mut Thread, a: &Args) -> SysResult<u64> {
    do_chown(t, libc::AT_FDCWD, a.u64(0), a.u32(1), a.u32(2), 0)
}

fn lchown(t: &mut Thread, a: &Args) -> SysResult<u64> {
    do_chown(t, libc::AT_FDCWD, a.u64(0), a.u32(1), a.u32(2), libc::AT_SYMLINK_NOFOLLOW)
}

fn fchownat(t: &mut Thread, a: &Args) -> SysResult<u64> {
    do_chown(t, a.i32(0), a.u64(1), a.u32(2), a.u32(3), a.i32(4))
}

fn fchown(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let ctx = t.task.vfs_ctx();
    match fd_loc(t, a.i32(0))? {
        Some(l) => t.task.k.vfs.chown_at(&ctx, &l, a.u32(1), a.u32(2)).map(|_| 0),
        None => Ok(0),
    }
}

/// Apply times to (dirfd, path) or, with a NULL path, to dirfd itself.
fn set_times(t: &mut Thread, dirfd: i32, pa: u64, times: Option<[TimeSpec; 2]>, flags: i32) -> SysResult<u64> {
    if flags & !(libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let ctx = t.task.vfs_ctx();
    if pa == 0 && dirfd != libc::AT_FDCWD {
        if flags & libc::AT_SYMLINK_NOFOLLOW != 0 {
            return Err(Errno::EINVAL);
        }
        let f = t.task.files().get(dirfd)?;
        return match f.location() {
            Some(l) => t.task.k.vfs.utimens_at(&ctx, l, times).map(|_| 0),
            None => Ok(0),
        };
    }
    let p = read_path(t, pa)?;
    if p.is_empty() && flags & libc::AT_EMPTY_PATH != 0 && dirfd != libc::AT_FDCWD {
        let f = t.task.files().get(dirfd)?;
        return match f.location() {
            Some(l) => t.task.k.vfs.utimens_at(&ctx, l, times).map(|_| 0),
            None => Ok(0),
        };
    }
    let dir = dir_loc(t, dirfd, &p)?;
    t.task.k.vfs.utimens(&ctx, dir.as_ref(), &p, times, flags).map(|_| 0)
}

fn utimensat(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let times = if a.u64(2) == 0 {
        None
    } else {
        let raw: [i64; 4] = t.mm.read_obj(a.u64(2))?;
        Some([TimeSpec { sec: raw[0], nsec: raw[1] }, TimeSpec { sec: raw[2], nsec: raw[3] }])
    };
    set_times(t, a.i32(0), a.u64(1), times, a.i32(3))
}

/// `struct timeval[2]` → timespecs (EINVAL for a bad usec).
pub fn timevals(raw: [i64; 4]) -> SysResult<[TimeSpec; 2]> {
    let one = |s: i64, us: i64| {
        if !(0..1_000_000).contains(&us) {
            return Err(Errno::EINVAL);
        }
        Ok(TimeSpec { sec: s, nsec: us * 1000 })
    };
    Ok([one(raw[0], raw[1])?, one(raw[2], raw[3])?])
}

fn do_utimes(t: &mut Thread, dirfd: i32, pa: u64, ta: u64) -> SysResult<u64> {
    let times = if ta == 0 { None } else { Some(timevals(t.mm.read_obj(ta)?)?) };
    if pa == 0 {
        return Err(Errno::EFAULT);
    }
    set_times(t, dirfd, pa, times, 0)
}

fn utimes(t: &mut Thread, a: &Args) -> SysResult<u64> {
    do_utimes(t, libc::AT_FDCWD, a.u64(0), a.u64(1))
}

fn futimesat(t: &mut Thread, a: &Args) -> SysResult<u64> {
    do_utimes(t, a.i32(0), a.u64(1), a.u64(2))
}

fn utime(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let times = if a.u64(1) == 0 {
        None
    } else {
        let raw: [i64; 2] = t.mm.read_obj(a.u64(1))?;
        Some([TimeSpec { sec: raw[0], nsec: 0 }, TimeSpec { sec: raw[1], nsec: 0 }])
    };
    set_times(t, libc::AT_FDCWD, a.u64(0), times, 0)
}

/// RLIMIT_FSIZE check for a new size.
fn check_fsize(t: &Thread, size: i64) -> SysResult<()> {
    let lim = t.task.tg.rlimit(libc::RLIMIT_FSIZE).cur;
    if size > 0 && size as u64 > lim {
        t.task.send(SigInfo::new(SIGXFSZ, SI_USER));
        return Err(Errno::EFBIG);
    }
    Ok(())
}

fn truncate(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let p = read_path(t, a.u64(0))?;
    let size = a.i64(1);
    if size < 0 {
        return Err(Errno::EINVAL);
    }
    check_fsize(t, size)?;
    let ctx = t.task.vfs_ctx();
    t.task.k.vfs.truncate(&ctx, None, &p, size).map(|_| 0)
}

fn ftruncate(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let f = t.task.files().get_io(a.i32(0))?;
    let size = a.i64(1);
    if size < 0 {
        return Err(Errno::EINVAL);
    }
    check_fsize(t, size)?;
    f.truncate(size).map(|_| 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeval_conversion() {
        assert_eq!(timevals([1, 2, 3, 999_999]).unwrap()[1], TimeSpec { sec: 3, nsec: 999_999_000 });
        assert_eq!(timevals([1, -1, 0, 0]), Err(Errno::EINVAL));
        assert_eq!(timevals([1, 0, 0, 1_000_000]), Err(Errno::EINVAL));
    }
}
