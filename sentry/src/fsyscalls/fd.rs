//! dup, dup2, dup3.

use abi::{Errno, SysResult};

use super::util::{install, nofile};
use crate::syscalls::{sc, Args, Entry};
use crate::task::run::Thread;

pub static ENTRIES: &[Entry] = &[sc!(SYS_dup, dup), sc!(SYS_dup2, dup2), sc!(SYS_dup3, dup3)];

fn dup(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let f = t.task.files().get(a.i32(0))?;
    install(t, f, false)
}

fn dup_to(t: &mut Thread, old: i32, new: i32, cloexec: bool) -> SysResult<u64> {
    let files = t.task.files();
    let f = files.get(old)?;
    let prev = files.install_at(new, f, cloexec, nofile(t))?;
    if let Some(p) = &prev {
        super::locks::on_close(t.task.tgid(), p);
    }
    drop(prev);
    Ok(new as u64)
}

fn dup2(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let (old, new) = (a.i32(0), a.i32(1));
    if old == new {
        t.task.files().get(old)?;
        return Ok(new as u64);
    }
    dup_to(t, old, new, false)
}

fn dup3(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let (old, new, flags) = (a.i32(0), a.i32(1), a.i32(2));
    if flags & !libc::O_CLOEXEC != 0 || old == new {
        return Err(Errno::EINVAL);
    }
    dup_to(t, old, new, flags & libc::O_CLOEXEC != 0)
}
