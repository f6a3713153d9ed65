//! pipe, pipe2.

use abi::{Errno, SysResult};
use fs::types::Owner;

use super::util::nofile;
use crate::syscalls::{sc, Args, Entry};
use crate::task::run::Thread;

pub static ENTRIES: &[Entry] = &[sc!(SYS_pipe, pipe), sc!(SYS_pipe2, pipe2), sc!(SYS_tee, tee)];

const SPLICE_F_NONBLOCK: u32 = 2;

/// The pipe behind an open file, if it is a pipe or fifo end.
fn pipe_of(f: &std::sync::Arc<fs::file::File>) -> Option<std::sync::Arc<fs::pipe::Pipe>> {
    f.ops().as_any().downcast_ref::<fs::pipe::PipeEnd>().map(|e| e.pipe().clone())
}

/// tee(2): copy up to `len` bytes from one pipe to another without
/// consuming them.
fn tee(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let (fin, fout, len, flags) = (t.task.files().get_io(a.i32(0))?, t.task.files().get_io(a.i32(1))?, a.usize(2), a.u32(3));
    if flags & !0xf != 0 {
        return Err(Errno::EINVAL);
    }
    if !fin.readable() || !fout.writable() {
        return Err(Errno::EBADF);
    }
    let (pin, pout) = (pipe_of(&fin).ok_or(Errno::EINVAL)?, pipe_of(&fout).ok_or(Errno::EINVAL)?);
    if std::sync::Arc::ptr_eq(&pin, &pout) {
        return Err(Errno::EINVAL);
    }
    if len == 0 {
        return Ok(0);
    }
    let nonblock = flags & SPLICE_F_NONBLOCK != 0;
    let max = len.min(fs::pipe::MAX_CAPACITY);
    let attempt = |_: &mut Thread| -> SysResult<u64> {
        if !pout.has_readers() {
            return Err(Errno::EPIPE);
        }
        let mut b = vec![0u8; max];
        let n = pin.peek(&mut b);
        if n == 0 {
            return if pin.has_writers() { Err(Errno::EAGAIN) } else { Ok(0) };
        }
        let m = n.min(pout.space());
        if m == 0 {
            return Err(Errno::EAGAIN);
        }
        fout.ops().write(&b[..m], 0, false).map(|(w, _)| w as u64)
    };
    let r = if nonblock {
        attempt(t)
    } else {
        // Wait for data in the source and room in the destination.
        let waker = t.task.waiter.as_waker();
        fin.ops().event_register(&waker, fs::waiter::events::READABLE);
        fout.ops().event_register(&waker, fs::waiter::events::WRITABLE);
        let r = t.wait_event(&[], 0, &[], None, |t| match attempt(t) {
            Err(Errno::EAGAIN) => None,
            r => Some(r),
        });
        fin.ops().event_unregister(&waker);
        fout.ops().event_unregister(&waker);
        r
    };
    super::util::sigpipe(t, &r);
    r
}

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
