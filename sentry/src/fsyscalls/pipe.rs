//! pipe, pipe2.

use abi::{Errno, SysResult};
use fs::types::Owner;

use super::util::nofile;
use crate::syscalls::{sc, Args, Entry};
use crate::task::run::Thread;

pub static ENTRIES: &[Entry] = &[sc!(SYS_pipe, pipe), sc!(SYS_pipe2, pipe2, "O_DIRECT (packet mode) gives a byte-stream pipe")];

fn do_pipe(t: &mut Thread, addr: u64, flags: i32) -> SysResult<u64> {
    if flags & !(libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_DIRECT) != 0 {
        return Err(Errno::EINVAL);
    }
    let c = t.task.tg.creds();
    let (r, w) = fs::pipe::pipe2(flags, Owner { uid: c.euid, gid: c.egid })?;
    let files = t.task.files();
    let cloexec = flags & libc::O_CLOEXEC != 0;
    let lim = nofile(t);
    let rfd = files.install(r, cloexec, 0, lim)?;
    let wfd = match files.install(w, cloexec, 0, lim) {
        Ok(fd) => fd,
        Err(e) => {
            drop(files.close(rfd));
            return Err(e);
        }
    };
    let fds = [rfd, wfd];
    if let Err(e) = t.mm.write_obj(addr, &fds) {
        drop(files.close(rfd));
        drop(files.close(wfd));
        return Err(e);
    }
    Ok(0)
}

fn pipe(t: &mut Thread, a: &Args) -> SysResult<u64> {
    do_pipe(t, a.u64(0), 0)
}

fn pipe2(t: &mut Thread, a: &Args) -> SysResult<u64> {
    do_pipe(t, a.u64(0), a.i32(1))
}
