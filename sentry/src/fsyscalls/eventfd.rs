//! eventfd2/eventfd.

use std::any::Any;
use std::sync::{Arc, Mutex};

use abi::{Errno, Stat, SysResult};
use fs::file::FileOps;
use fs::waiter::{events, WaitQueue, Waker};

use super::util::install;
use crate::syscalls::{sc, Args, Entry};
use crate::task::run::Thread;

pub static ENTRIES: &[Entry] = &[sc!(SYS_eventfd2, eventfd2), sc!(SYS_eventfd, eventfd)];

const MAX: u64 = u64::MAX - 1;

pub struct EventFd {
    count: Mutex<u64>,
    semaphore: bool,
    queue: WaitQueue,
    ino: u64,
}

impl EventFd {
    pub fn new(init: u64, semaphore: bool) -> EventFd {
        EventFd { count: Mutex::new(init), semaphore, queue: WaitQueue::new(), ino: super::anon::next_ino() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, u64> {
        self.count.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl FileOps for EventFd {
    fn read(&self, buf: &mut [u8], _off: u64) -> SysResult<usize> {
        if buf.len() < 8 {
            return Err(Errno::EINVAL);
        }
        let v = {
            let mut c = self.lock();
            if *c == 0 {
                return Err(Errno::EAGAIN);
            }
            let v = if self.semaphore { 1 } else { *c };
            *c -= v;
            v
        };
        buf[..8].copy_from_slice(&v.to_ne_bytes());
        self.queue.notify(events::WRITABLE);
        Ok(8)
    }

    fn write(&self, buf: &[u8], _off: u64, _append: bool) -> SysResult<(usize, u64)> {
        if buf.len() < 8 {
            return Err(Errno::EINVAL);
        }
        let mut b = [0u8; 8];
        b.copy_from_slice(&buf[..8]);
        let v = u64::from_ne_bytes(b);
        if v == u64::MAX {
            return Err(Errno::EINVAL);
        }
        {
            let mut c = self.lock();
            if MAX - *c < v {
                return Err(Errno::EAGAIN);
            }
            *c += v;
        }
        if v > 0 {
            self.queue.notify(events::READABLE);
        }
        Ok((8, 0))
    }

    fn is_stream(&self) -> bool {
        true
    }

    fn stat(&self) -> SysResult<Stat> {
        Ok(super::anon::stat(self.ino))
    }

    fn readiness(&self, mask: u32) -> u32 {
        let c = *self.lock();
        let mut r = 0;
        if c > 0 {
            r |= events::READABLE;
        }
        if c < MAX {
            r |= events::WRITABLE;
        }
        if c == u64::MAX {
            r |= events::POLLERR;
        }
        r & (mask | events::POLLERR)
    }

    fn event_register(&self, w: &Arc<dyn Waker>, mask: u32) {
        self.queue.register(w, mask);
    }

    fn event_unregister(&self, w: &Arc<dyn Waker>) {
        self.queue.unregister(w);
    }

    fn proc_name(&self) -> Option<String> {
        Some("anon_inode:[eventfd]".into())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

const EFD_SEMAPHORE: i32 = 1;

fn do_eventfd(t: &mut Thread, init: u32, flags: i32) -> SysResult<u64> {
    if flags & !(libc::EFD_CLOEXEC | libc::EFD_NONBLOCK | EFD_SEMAPHORE) != 0 {
        return Err(Errno::EINVAL);
    }
    let ops = Arc::new(EventFd::new(init as u64, flags & EFD_SEMAPHORE != 0));
    let f = super::anon::file(ops, flags & libc::EFD_NONBLOCK != 0);
    install(t, f, flags & libc::EFD_CLOEXEC != 0)
}

fn eventfd2(t: &mut Thread, a: &Args) -> SysResult<u64> {
    do_eventfd(t, a.u32(0), a.i32(1))
}

fn eventfd(t: &mut Thread, a: &Args) -> SysResult<u64> {
    do_eventfd(t, a.u32(0), 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_and_semaphore() {
        let e = EventFd::new(0, false);
        let mut b = [0u8; 8];
        assert_eq!(e.read(&mut b, 0), Err(Errno::EAGAIN));
        e.write(&3u64.to_ne_bytes(), 0, false).unwrap();
        e.write(&4u64.to_ne_bytes(), 0, false).unwrap();
        assert_eq!(e.read(&mut b, 0), Ok(8));
        assert_eq!(u64::from_ne_bytes(b), 7);
        let s = EventFd::new(2, true);
        s.read(&mut b, 0).unwrap();
        assert_eq!(u64::from_ne_bytes(b), 1);
        assert_eq!(s.readiness(events::POLLIN), events::POLLIN);
        assert_eq!(s.write(&u64::MAX.to_ne_bytes(), 0, false), Err(Errno::EINVAL));
        assert_eq!(s.write(&(MAX).to_ne_bytes(), 0, false), Err(Errno::EAGAIN));
        assert_eq!(s.read(&mut [0u8; 4], 0), Err(Errno::EINVAL));
    }
}
