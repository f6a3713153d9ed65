//! ioctl(2): fd-table ioctls here, tty job control with the caller's
//! process state, everything else forwarded to the file.

use abi::{Errno, SysResult};
use fs::host::{HostFile, TtyState};

use super::usermem::TaskMemory;
use crate::syscalls::{sc, Args, Entry};
use crate::task::run::Thread;

pub static ENTRIES: &[Entry] = &[sc!(SYS_ioctl, ioctl, "tty job control without SIGTTOU/SIGTTIN for background groups")];

fn ioctl(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let (fd, cmd, arg) = (a.i32(0), a.u32(1), a.u64(2));
    let files = t.task.files();
    let f = files.get_io(fd)?;
    match cmd as u64 {
        libc::FIOCLEX => return files.set_cloexec(fd, true).map(|_| 0),
        libc::FIONCLEX => return files.set_cloexec(fd, false).map(|_| 0),
        libc::TIOCSPGRP | libc::TIOCSCTTY | libc::TIOCNOTTY => {
            // Host terminals here; other ttys (devpts) do job control
            // themselves, through their hooks.
            if let Some(tty) = f.ops().as_any().downcast_ref::<HostFile>().and_then(|h| h.tty()) {
                return job_control(t, tty, cmd as u64, arg);
            }
        }
        _ => {}
    }
    let r = f.ioctl(cmd, arg, &TaskMemory(&t.mm));
    if cmd as u64 == libc::FIOASYNC && r.is_ok() {
        super::owner::flags_changed(&t.task.k, &f);
    }
    r
}

/// (pgid, sid) of the caller's process.
fn ids(t: &Thread) -> SysResult<(i32, i32)> {
    let p = t.task.k.procs();
    let st = p.st(t.task.tgid()).ok_or(Errno::ESRCH)?;
    Ok((st.pgid, st.sid))
}

fn job_control(t: &mut Thread, tty: &TtyState, cmd: u64, arg: u64) -> SysResult<u64> {
    let (pgid, sid) = ids(t)?;
    match cmd {
        libc::TIOCSCTTY => {
            if sid != t.task.tgid() {
                return Err(Errno::EPERM);
            }
            if tty.session() == Some(sid) {
                return Ok(0);
            }
            if tty.session().is_some() && !(arg == 1 && t.task.tg.creds().is_privileged()) {
                return Err(Errno::EPERM);
            }
            tty.set_controlling(sid, pgid);
            Ok(0)
        }
        libc::TIOCSPGRP => {
            let mut b = [0u8; 4];
            t.mm.copy_in(arg, &mut b)?;
            let want = i32::from_ne_bytes(b);
            if tty.session() != Some(sid) {
                return Err(Errno::ENOTTY);
            }
            if want < 0 {
                return Err(Errno::EINVAL);
            }
            let p = t.task.k.procs();
            let ok = p.pgrp_members(want).iter().any(|m| p.st(*m).is_some_and(|s| s.sid == sid));
            if !ok {
                return Err(Errno::EPERM);
            }
            drop(p);
            tty.set_foreground(want);
            Ok(0)
        }
        _ => {
            // TIOCNOTTY
            if tty.session() != Some(sid) {
                return Err(Errno::ENOTTY);
            }
            if sid == t.task.tgid() {
                tty.release();
            }
            Ok(0)
        }
    }
}
