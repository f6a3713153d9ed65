//! signalfd4/signalfd: reading signals as `struct signalfd_siginfo`.
//!
//! What a signalfd reports depends on the *calling* thread (its pending
//! signals and its group's), as on Linux. `FileOps` has no caller, so the
//! syscalls that evaluate readiness record the current task in a
//! thread-local first (one Sentry host thread drives one task).

use std::any::Any;
use std::cell::RefCell;
use std::sync::{Arc, Mutex, Weak};

use abi::{Errno, Stat, SysResult};
use fs::file::{File, FileOps};
use fs::waiter::events;
use zerocopy::{Immutable, IntoBytes, KnownLayout};

use super::util::install;
use crate::signal::{self, SigInfo, SigSet};
use crate::syscalls::{sc, Args, Entry};
use crate::task::run::Thread;
use crate::task::Task;

pub static ENTRIES: &[Entry] = &[sc!(SYS_signalfd4, signalfd4), sc!(SYS_signalfd, signalfd)];

thread_local! {
    static CURRENT: RefCell<Weak<Task>> = const { RefCell::new(Weak::new()) };
}

/// Record the task this host thread runs (for signalfd readiness).
pub fn set_current(t: &Thread) {
    CURRENT.with(|c| {
        let mut c = c.borrow_mut();
        if c.strong_count() == 0 {
            *c = Arc::downgrade(&t.task);
        }
    });
}

fn current() -> Option<Arc<Task>> {
    CURRENT.with(|c| c.borrow().upgrade())
}

pub struct SignalFd {
    mask: Mutex<SigSet>,
    ino: u64,
}

impl SignalFd {
    fn mask(&self) -> SigSet {
        *self.mask.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Whether `task` has a signal of `mask` pending (thread or group).
fn has_pending(task: &Task, mask: SigSet) -> bool {
    if task.sig().pending.set.0 & mask.0 != 0 {
        return true;
    }
    task.tg.pending.lock().unwrap_or_else(|e| e.into_inner()).set.0 & mask.0 != 0
}

/// Dequeue one signal of `mask`: the thread's first, lowest number first.
fn dequeue(task: &Task, mask: SigSet) -> Option<SigInfo> {
    {
        let mut s = task.sig();
        let m = s.pending.set.0 & mask.0;
        if m != 0 {
            return s.pending.take(m.trailing_zeros() as i32 + 1);
        }
    }
    let mut g = task.tg.pending.lock().unwrap_or_else(|e| e.into_inner());
    let m = g.set.0 & mask.0;
    if m != 0 {
        return g.take(m.trailing_zeros() as i32 + 1);
    }
    None
}

impl FileOps for SignalFd {
    fn read(&self, _buf: &mut [u8], _off: u64) -> SysResult<usize> {
        // Only read(2) (handled by `try_read`) reads a signalfd.
        Err(Errno::EINVAL)
    }

    fn is_stream(&self) -> bool {
        true
    }

    fn stat(&self) -> SysResult<Stat> {
        Ok(super::anon::stat(self.ino))
    }

    fn readiness(&self, mask: u32) -> u32 {
        match current() {
            Some(task) if has_pending(&task, self.mask()) => mask & events::READABLE,
            _ => 0,
        }
    }

    fn proc_name(&self) -> Option<String> {
        Some("anon_inode:[signalfd]".into())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// `struct signalfd_siginfo` (128 bytes).
#[repr(C)]
#[derive(Clone, Copy, Default, Debug, IntoBytes, Immutable, KnownLayout)]
pub struct SignalfdSiginfo {
    pub signo: u32,
    pub errno: i32,
    pub code: i32,
    pub pid: u32,
    pub uid: u32,
    pub fd: i32,
    pub tid: u32,
    pub band: u32,
    pub overrun: u32,
    pub trapno: u32,
    pub status: i32,
    pub int: i32,
    pub ptr: u64,
    pub utime: u64,
    pub stime: u64,
    pub addr: u64,
    pub addr_lsb: u16,
    pub _pad2: u16,
    pub syscall: i32,
    pub call_addr: u64,
    pub arch: u32,
    pub _pad: [u8; 28],
}

const _: () = assert!(std::mem::size_of::<SignalfdSiginfo>() == 128);

/// Translate a queued siginfo into the signalfd record.
pub fn to_ssi(i: &SigInfo) -> SignalfdSiginfo {
    let mut s = SignalfdSiginfo { signo: i.signo as u32, errno: i.errno, code: i.code, ..Default::default() };
    let (lo, hi) = (i.fields[0] as u32, (i.fields[0] >> 32) as u32);
    let fault = matches!(i.signo, signal::SIGSEGV | signal::SIGBUS | signal::SIGILL | signal::SIGFPE | signal::SIGTRAP);
    if i.code == signal::SI_TIMER {
        s.tid = lo;
        s.overrun = hi;
        s.ptr = i.fields[1];
        s.int = i.fields[1] as i32;
    } else if fault && i.code > 0 {
        s.addr = i.fields[0];
    } else if i.signo == signal::SIGCHLD && i.code > 0 {
        s.pid = lo;
        s.uid = hi;
        s.status = i.fields[1] as i32;
        s.utime = i.fields[2];
        s.stime = i.fields[3];
    } else {
        s.pid = lo;
        s.uid = hi;
        s.ptr = i.fields[1];
        s.int = i.fields[1] as i32;
    }
    s
}

const SSI: u64 = 128;

/// read(2) on a signalfd: Some(result) if `f` is one.
pub fn try_read(t: &mut Thread, f: &Arc<File>, buf: u64, len: u64) -> Option<SysResult<u64>> {
    let sfd = f.ops().as_any().downcast_ref::<SignalFd>()?;
    Some(read(t, f, sfd, buf, len))
}

fn read(t: &mut Thread, f: &Arc<File>, sfd: &SignalFd, buf: u64, len: u64) -> SysResult<u64> {
    if len < SSI {
        return Err(Errno::EINVAL);
    }
    let max = len / SSI;
    let mask = sfd.mask();
    let first = match dequeue(&t.task, mask) {
        Some(i) => i,
        None if f.is_nonblocking() => return Err(Errno::EAGAIN),
        None => t.wait_event(&[], 0, &[], None, |t| dequeue(&t.task, sfd.mask()).map(Ok))?,
    };
    let mut n = 0u64;
    let mut next = Some(first);
    while let Some(i) = next {
        if let Err(e) = t.mm.write_obj(buf + n * SSI, &to_ssi(&i)) {
            // Put it back so the signal is not lost.
            t.task.sig().pending.push(i);
            return if n > 0 { Ok(n * SSI) } else { Err(e) };
        }
        n += 1;
        next = if n < max { dequeue(&t.task, mask) } else { None };
    }
    Ok(n * SSI)
}

fn do_signalfd(t: &mut Thread, fd: i32, maskp: u64, size: u64, flags: i32) -> SysResult<u64> {
    if size != 8 || flags & !(libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) != 0 {
        return Err(Errno::EINVAL);
    }
    let raw: u64 = t.mm.read_obj(maskp)?;
    let mask = SigSet(raw).unblockable();
    if fd != -1 {
        let f = t.task.files().get(fd)?;
        let s = f.ops().as_any().downcast_ref::<SignalFd>().ok_or(Errno::EINVAL)?;
        *s.mask.lock().unwrap_or_else(|e| e.into_inner()) = mask;
        return Ok(fd as u64);
    }
    let ops = Arc::new(SignalFd { mask: Mutex::new(mask), ino: super::anon::next_ino() });
    let f = super::anon::file(ops, flags & libc::SFD_NONBLOCK != 0);
    install(t, f, flags & libc::SFD_CLOEXEC != 0)
}

fn signalfd4(t: &mut Thread, a: &Args) -> SysResult<u64> {
    do_signalfd(t, a.i32(0), a.u64(1), a.u64(2), a.i32(3))
}

fn signalfd(t: &mut Thread, a: &Args) -> SysResult<u64> {
    do_signalfd(t, a.i32(0), a.u64(1), a.u64(2), 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssi_from_kill_and_fault() {
        let k = SigInfo::from_user(signal::SIGUSR1, signal::SI_USER, 42, 1000);
        let s = to_ssi(&k);
        assert_eq!((s.signo, s.pid, s.uid), (signal::SIGUSR1 as u32, 42, 1000));
        let f = SigInfo::fault(signal::SIGSEGV, signal::SEGV_MAPERR, 0xdead);
        assert_eq!(to_ssi(&f).addr, 0xdead);
        let b = s.as_bytes();
        assert_eq!(u32::from_ne_bytes(b[12..16].try_into().unwrap()), 42);
    }

    #[test]
    fn dequeue_prefers_thread_then_group() {
        let mut p = signal::Pending::default();
        p.push(SigInfo::new(signal::SIGUSR2, 0));
        p.push(SigInfo::new(signal::SIGUSR1, 0));
        let m = SigSet(SigSet::of(signal::SIGUSR1).0 | SigSet::of(signal::SIGUSR2).0);
        let low = p.set.0 & m.0;
        assert_eq!(p.take(low.trailing_zeros() as i32 + 1).unwrap().signo, signal::SIGUSR1);
    }
}
