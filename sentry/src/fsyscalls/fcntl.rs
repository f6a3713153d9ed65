//! fcntl(2).

use abi::{Errno, SysResult};
use fs::pipe::PipeEnd;

use super::owner;
use super::util::nofile;
use crate::syscalls::{sc, Args, Entry};
use crate::task::run::Thread;

pub static ENTRIES: &[Entry] = &[sc!(
    SYS_fcntl,
    fcntl,
    "record locks are advisory without deadlock detection (no EDEADLK); no leases, notify or seals"
)];

const F_SETSIG: i32 = 10;
const F_GETSIG: i32 = 11;
const F_SETOWN_EX: i32 = 15;
const F_GETOWN_EX: i32 = 16;
use super::lockcmd::{F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW};
const F_SETLEASE: i32 = 1024;
const F_GETLEASE: i32 = 1025;
const F_NOTIFY: i32 = 1026;
const F_DUPFD_CLOEXEC: i32 = 1030;
const F_SETPIPE_SZ: i32 = 1031;
const F_GETPIPE_SZ: i32 = 1032;
const F_ADD_SEALS: i32 = 1033;
const F_GET_SEALS: i32 = 1034;

fn pipe_of(f: &fs::File) -> SysResult<&std::sync::Arc<fs::pipe::Pipe>> {
    f.ops().as_any().downcast_ref::<PipeEnd>().map(|p| p.pipe()).ok_or(Errno::EBADF)
}

fn fcntl(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let (fd, cmd, arg) = (a.i32(0), a.i32(1), a.u64(2));
    let files = t.task.files();
    let f = files.get(fd)?;
    let path_ok = matches!(cmd, libc::F_DUPFD | F_DUPFD_CLOEXEC | libc::F_GETFD | libc::F_SETFD | libc::F_GETFL);
    if f.is_path() && !path_ok {
        return Err(Errno::EBADF);
    }
    match cmd {
        libc::F_DUPFD | F_DUPFD_CLOEXEC => {
            let min = arg as i32;
            let lim = nofile(t);
            if min < 0 || min as u64 >= lim {
                return Err(Errno::EINVAL);
            }
            files.install(f, cmd == F_DUPFD_CLOEXEC, min, lim).map(|n| n as u64)
        }
        libc::F_GETFD => Ok(if files.cloexec(fd)? { libc::FD_CLOEXEC as u64 } else { 0 }),
        libc::F_SETFD => files.set_cloexec(fd, arg as i32 & libc::FD_CLOEXEC != 0).map(|_| 0),
        libc::F_GETFL => Ok(f.flags() as u32 as u64),
        libc::F_SETFL => {
            f.set_flags(arg as i32);
            owner::flags_changed(&t.task.k, &f);
            Ok(0)
        }
        libc::F_GETLK | libc::F_SETLK | libc::F_SETLKW | F_OFD_GETLK | F_OFD_SETLK | F_OFD_SETLKW => super::lockcmd::fcntl_lock(t, &f, cmd, arg),
        libc::F_GETOWN => {
            let o = owner::get(&f);
            Ok(if o.kind == owner::F_OWNER_PGRP { -o.pid } else { o.pid } as i64 as u64)
        }
        libc::F_SETOWN => {
            let v = arg as i32;
            let (kind, pid) = if v < 0 { (owner::F_OWNER_PGRP, v.checked_neg().ok_or(Errno::EINVAL)?) } else { (owner::F_OWNER_PID, v) };
            owner::update(&t.task.k, &f, |o| {
                o.kind = kind;
                o.pid = pid;
            });
            Ok(0)
        }
        F_GETOWN_EX => {
            let o = owner::get(&f);
            let mut b = [0u8; 8];
            b[..4].copy_from_slice(&(if o.pid == 0 { owner::F_OWNER_PID } else { o.kind }).to_ne_bytes());
            b[4..].copy_from_slice(&o.pid.to_ne_bytes());
            t.mm.copy_out(arg, &b)?;
            Ok(0)
        }
        F_SETOWN_EX => {
            let mut b = [0u8; 8];
            t.mm.copy_in(arg, &mut b)?;
            let kind = i32::from_ne_bytes([b[0], b[1], b[2], b[3]]);
            let pid = i32::from_ne_bytes([b[4], b[5], b[6], b[7]]);
            if !matches!(kind, owner::F_OWNER_TID | owner::F_OWNER_PID | owner::F_OWNER_PGRP) || pid < 0 {
                return Err(Errno::EINVAL);
            }
            owner::update(&t.task.k, &f, |o| {
                o.kind = kind;
                o.pid = pid;
            });
            Ok(0)
        }
        F_GETSIG => Ok(owner::get(&f).sig as u64),
        F_SETSIG => {
            if arg > 64 {
                return Err(Errno::EINVAL);
            }
            owner::update(&t.task.k, &f, |o| o.sig = arg as i32);
            Ok(0)
        }
        F_GETPIPE_SZ => Ok(pipe_of(&f)?.capacity() as u64),
        F_SETPIPE_SZ => {
            let p = pipe_of(&f)?;
            let privileged = t.task.tg.creds().is_privileged();
            p.set_capacity(arg as u32 as u64, privileged).map(|n| n as u64)
        }
        F_GETLEASE => Ok(libc::F_UNLCK as u64),
        F_SETLEASE | F_NOTIFY | F_ADD_SEALS | F_GET_SEALS => Err(Errno::EINVAL),
        _ => Err(Errno::EINVAL),
    }
}
