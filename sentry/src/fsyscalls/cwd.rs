//! Working directory, umask, sync.

use abi::{Errno, SysResult};

use super::util::read_path;
use crate::syscalls::{sc, Args, Entry};
use crate::task::run::Thread;

pub static ENTRIES: &[Entry] = &[
    sc!(SYS_getcwd, getcwd),
    sc!(SYS_chdir, chdir),
    sc!(SYS_fchdir, fchdir),
    sc!(SYS_chroot, chroot),
    sc!(SYS_umask, umask),
    sc!(SYS_fsync, fsync),
    sc!(SYS_fdatasync, fsync),
    sc!(SYS_sync_file_range, sync_file_range),
    sc!(SYS_syncfs, syncfs, "file data is synced by fsync only; syncfs just validates the fd"),
    sc!(SYS_sync, sync, "no-op: files are synced by fsync only"),
];

fn getcwd(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let ctx = t.task.vfs_ctx();
    let mut p = t.task.k.vfs.getcwd(&ctx)?;
    p.push(0);
    if (a.u64(1) as usize) < p.len() {
        return Err(Errno::ERANGE);
    }
    t.mm.copy_out(a.u64(0), &p)?;
    Ok(p.len() as u64)
}

fn set_cwd(t: &Thread, loc: fs::Location) {
    let fsc = t.task.fs.lock().unwrap_or_else(|e| e.into_inner()).clone();
    fsc.lock().unwrap_or_else(|e| e.into_inner()).cwd = loc;
}

fn chdir(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let p = read_path(t, a.u64(0))?;
    let ctx = t.task.vfs_ctx();
    let loc = t.task.k.vfs.chdir(&ctx, None, &p, 0)?;
    set_cwd(t, loc);
    Ok(0)
}

fn fchdir(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let f = t.task.files().get(a.i32(0))?;
    let loc = f.location().cloned().ok_or(Errno::ENOTDIR)?;
    let ctx = t.task.vfs_ctx();
    let loc = t.task.k.vfs.chdir(&ctx, Some(&loc), b"", libc::AT_EMPTY_PATH)?;
    set_cwd(t, loc);
    Ok(0)
}

fn chroot(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let p = read_path(t, a.u64(0))?;
    let ctx = t.task.vfs_ctx();
    let loc = t.task.k.vfs.chdir(&ctx, None, &p, 0)?;
    if !ctx.creds.is_privileged() {
        return Err(Errno::EPERM);
    }
    let fsc = t.task.fs.lock().unwrap_or_else(|e| e.into_inner()).clone();
    fsc.lock().unwrap_or_else(|e| e.into_inner()).root = loc;
    Ok(0)
}

fn umask(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let fsc = t.task.fs.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let mut g = fsc.lock().unwrap_or_else(|e| e.into_inner());
    let old = g.umask;
    g.umask = a.u32(0) & 0o777;
    Ok(old as u64)
}

fn fsync(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let f = t.task.files().get_io(a.i32(0))?;
    if f.location().is_none() {
        // Pipes, eventfds...: no storage to sync.
        return Err(Errno::EINVAL);
    }
    f.ops().fsync().map(|_| 0)
}

fn sync_file_range(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let (off, n, flags) = (a.i64(1), a.i64(2), a.u32(3));
    if flags & !7 != 0 || off < 0 || n < 0 || off.checked_add(n).is_none() {
        return Err(Errno::EINVAL);
    }
    let f = t.task.files().get_io(a.i32(0))?;
    let st = f.stat()?;
    if !fs::types::is_reg(&st) && st.mode & libc::S_IFMT != libc::S_IFBLK && st.mode & libc::S_IFMT != libc::S_IFDIR && st.mode & libc::S_IFMT != libc::S_IFLNK {
        return Err(Errno::ESPIPE);
    }
    f.ops().fsync().map(|_| 0)
}

fn syncfs(t: &mut Thread, a: &Args) -> SysResult<u64> {
    t.task.files().get_io(a.i32(0))?;
    Ok(0)
}

fn sync(_t: &mut Thread, _a: &Args) -> SysResult<u64> {
    Ok(0)
}
