//! epoll: an epoll instance is a `FileOps` (so it can be polled and
//! nested) whose watches register `Waker`s on the watched files.
//!
//! Watches hold the watched description weakly, so closing its last fd
//! removes the watch (Linux's rule: a dup'ed fd keeps it alive).

use std::any::Any;
use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use abi::{Errno, Stat, SysResult};
use fs::file::{File, FileOps};
use fs::waiter::{events, WaitQueue, Waker};

use crate::task::run::Thread;

pub const EPOLLERR: u32 = 0x008;
pub const EPOLLHUP: u32 = 0x010;
pub const EPOLLEXCLUSIVE: u32 = 1 << 28;
pub const EPOLLWAKEUP: u32 = 1 << 29;
pub const EPOLLONESHOT: u32 = 1 << 30;
pub const EPOLLET: u32 = 1 << 31;
/// The event bits (everything but the flags above).
const EVENT_BITS: u32 = !(EPOLLEXCLUSIVE | EPOLLWAKEUP | EPOLLONESHOT | EPOLLET);
/// What EPOLLEXCLUSIVE may be combined with.
const EXCLUSIVE_OK: u32 = events::POLLIN | events::POLLOUT | EPOLLERR | EPOLLHUP | EPOLLWAKEUP | EPOLLET | EPOLLEXCLUSIVE;

/// The waker a watch registers on its file: remembers that an event
/// happened (for EPOLLET) and wakes the epoll's own waiters.
struct WatchWaker {
    triggered: AtomicBool,
    queue: Arc<WaitQueue>,
}

impl Waker for WatchWaker {
    fn wake(&self, _events: u32) {
        self.triggered.store(true, Ordering::SeqCst);
        self.queue.notify(events::POLLIN);
    }
}

struct Watch {
    fd: i32,
    file: Weak<File>,
    events: u32,
    data: u64,
    waker: Arc<WatchWaker>,
    /// EPOLLONESHOT fired: no more events until EPOLL_CTL_MOD.
    disabled: bool,
}

impl Watch {
    fn dyn_waker(&self) -> Arc<dyn Waker> {
        self.waker.clone()
    }
}

/// An epoll instance.
pub struct Epoll {
    watches: Mutex<Vec<Watch>>,
    queue: Arc<WaitQueue>,
    ino: u64,
}

/// One reported event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    pub events: u32,
    pub data: u64,
}

impl Epoll {
    pub fn new() -> Epoll {
        Epoll { watches: Mutex::new(Vec::new()), queue: Arc::new(WaitQueue::new()), ino: super::anon::next_ino() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Watch>> {
        self.watches.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Collect up to `max` ready events; `consume` applies EPOLLET and
    /// EPOLLONESHOT bookkeeping (false for a readiness probe).
    pub fn collect(&self, max: usize, consume: bool) -> Vec<Event> {
        let mut out = Vec::new();
        let mut reported = Vec::new();
        let mut w = self.lock();
        w.retain(|x| x.file.strong_count() > 0);
        for (i, x) in w.iter_mut().enumerate() {
            if out.len() >= max {
                break;
            }
            if x.disabled {
                continue;
            }
            let Some(f) = x.file.upgrade() else { continue };
            let et = x.events & EPOLLET != 0 && f.ops().host_fd().is_none();
            if et {
                let was = if consume { x.waker.triggered.swap(false, Ordering::SeqCst) } else { x.waker.triggered.load(Ordering::SeqCst) };
                if !was {
                    continue;
                }
            }
            let mask = (x.events & EVENT_BITS) | EPOLLERR | EPOLLHUP;
            let r = f.readiness(mask) & mask;
            if r == 0 {
                continue;
            }
            out.push(Event { events: r, data: x.data });
            reported.push(i);
            if consume && x.events & EPOLLONESHOT != 0 {
                x.disabled = true;
            }
        }
        if consume {
            // Reported watches go to the back, so a small maxevents
            // still lets every ready file have its turn (as Linux's
            // ready list does).
            for (n, i) in reported.into_iter().enumerate() {
                let x = w.remove(i - n);
                w.push(x);
            }
        }
        out
    }

    /// The files being watched that the Sentry must poll on the host.
    fn host_files(&self) -> Vec<(Arc<File>, u32)> {
        self.lock()
            .iter()
            .filter_map(|x| x.file.upgrade().filter(|f| f.ops().host_fd().is_some()).map(|f| (f, x.events & EVENT_BITS)))
            .collect()
    }

    /// Whether `target` (an epoll) is this one or is watched by it,
    /// transitively (ELOOP for EPOLL_CTL_ADD).
    fn contains(&self, target: *const Epoll, depth: u32) -> bool {
        if std::ptr::eq(self, target) {
            return true;
        }
        if depth > 5 {
            return true;
        }
        let files: Vec<Arc<File>> = self.lock().iter().filter_map(|x| x.file.upgrade()).collect();
        files.iter().any(|f| f.ops().as_any().downcast_ref::<Epoll>().is_some_and(|e| e.contains(target, depth + 1)))
    }

    /// EPOLL_CTL_ADD.
    pub fn add(&self, fd: i32, file: &Arc<File>, events: u32, data: u64) -> SysResult<()> {
        if events & EPOLLEXCLUSIVE != 0 && events & !EXCLUSIVE_OK != 0 {
            return Err(Errno::EINVAL);
        }
        if let Some(inner) = file.ops().as_any().downcast_ref::<Epoll>() {
            if events & EPOLLEXCLUSIVE != 0 {
                return Err(Errno::EINVAL);
            }
            if inner.contains(self as *const Epoll, 0) {
                return Err(Errno::ELOOP);
            }
        }
        let mut w = self.lock();
        w.retain(|x| x.file.strong_count() > 0);
        if w.iter().any(|x| x.fd == fd && std::ptr::eq(x.file.as_ptr(), Arc::as_ptr(file))) {
            return Err(Errno::EEXIST);
        }
        let waker = Arc::new(WatchWaker { triggered: AtomicBool::new(true), queue: self.queue.clone() });
        let watch = Watch { fd, file: Arc::downgrade(file), events: events | EPOLLERR | EPOLLHUP, data, waker, disabled: false };
        file.ops().event_register(&watch.dyn_waker(), watch.events & EVENT_BITS);
        w.push(watch);
        drop(w);
        self.queue.notify(events::POLLIN);
        Ok(())
    }

    /// EPOLL_CTL_MOD.
    pub fn modify(&self, fd: i32, file: &Arc<File>, events: u32, data: u64) -> SysResult<()> {
        let mut w = self.lock();
        let x = w.iter_mut().find(|x| x.fd == fd && std::ptr::eq(x.file.as_ptr(), Arc::as_ptr(file))).ok_or(Errno::ENOENT)?;
        if events & EPOLLEXCLUSIVE != 0 || x.events & EPOLLEXCLUSIVE != 0 {
            return Err(Errno::EINVAL);
        }
        x.events = events | EPOLLERR | EPOLLHUP;
        x.data = data;
        x.disabled = false;
        x.waker.triggered.store(true, Ordering::SeqCst);
        file.ops().event_register(&x.dyn_waker(), x.events & EVENT_BITS);
        drop(w);
        self.queue.notify(events::POLLIN);
        Ok(())
    }

    /// EPOLL_CTL_DEL.
    pub fn delete(&self, fd: i32, file: &Arc<File>) -> SysResult<()> {
        let mut w = self.lock();
        let i = w.iter().position(|x| x.fd == fd && std::ptr::eq(x.file.as_ptr(), Arc::as_ptr(file))).ok_or(Errno::ENOENT)?;
        let x = w.remove(i);
        file.ops().event_unregister(&x.dyn_waker());
        Ok(())
    }

    /// Wait for events (epoll_wait and friends): Ok(events), possibly
    /// empty at the deadline; EINTR on a signal.
    pub fn wait(&self, t: &mut Thread, max: usize, deadline: Option<Instant>) -> SysResult<Vec<Event>> {
        super::signalfd::set_current(t);
        let ev = self.collect(max, true);
        if !ev.is_empty() || deadline.is_some_and(|d| d <= Instant::now()) {
            return Ok(ev);
        }
        let hf = self.host_files();
        let host: Vec<(BorrowedFd<'_>, i16)> = hf.iter().filter_map(|(f, m)| f.ops().host_fd().map(|fd| (fd, (*m & 0xffff) as u16 as i16))).collect();
        let r = t.wait_event(&[&self.queue], events::POLLIN, &host, deadline, |_| {
            let ev = self.collect(max, true);
            (!ev.is_empty()).then_some(Ok(ev))
        });
        match r {
            Err(Errno::ETIMEDOUT) => Ok(Vec::new()),
            Err(Errno::ERESTARTSYS) => Err(Errno::EINTR),
            r => r,
        }
    }
}

impl Default for Epoll {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Epoll {
    fn drop(&mut self) {
        let w = std::mem::take(&mut *self.lock());
        for x in w {
            if let Some(f) = x.file.upgrade() {
                f.ops().event_unregister(&x.dyn_waker());
            }
        }
    }
}

impl FileOps for Epoll {
    fn stat(&self) -> SysResult<Stat> {
        Ok(super::anon::stat(self.ino))
    }

    fn is_stream(&self) -> bool {
        true
    }

    fn readiness(&self, mask: u32) -> u32 {
        if self.collect(1, false).is_empty() {
            0
        } else {
            mask & events::READABLE
        }
    }

    fn event_register(&self, w: &Arc<dyn Waker>, mask: u32) {
        self.queue.register(w, mask);
    }

    fn event_unregister(&self, w: &Arc<dyn Waker>) {
        self.queue.unregister(w);
    }

    fn proc_name(&self) -> Option<String> {
        Some("anon_inode:[eventpoll]".into())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// A timeout in ms (negative = forever) as a deadline.
pub fn ms_deadline(ms: i32) -> Option<Instant> {
    (ms >= 0).then(|| Instant::now() + Duration::from_millis(ms as u64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use fs::types::Owner;
    const EPOLLIN: u32 = events::POLLIN;

    #[test]
    fn level_edge_oneshot() {
        let (r, w) = fs::pipe::pipe2(libc::O_NONBLOCK, Owner { uid: 0, gid: 0 }).unwrap();
        let ep = Epoll::new();
        ep.add(3, &r, EPOLLIN, 7).unwrap();
        assert_eq!(ep.add(3, &r, EPOLLIN, 7), Err(Errno::EEXIST));
        assert!(ep.collect(8, true).is_empty());
        w.write(b"x").unwrap();
        // Level: reported again and again.
        assert_eq!(ep.collect(8, true), vec![Event { events: EPOLLIN, data: 7 }]);
        assert_eq!(ep.collect(8, true).len(), 1);
        // Edge: once per wake.
        ep.modify(3, &r, EPOLLIN | EPOLLET, 8).unwrap();
        assert_eq!(ep.collect(8, true).len(), 1);
        assert!(ep.collect(8, true).is_empty());
        w.write(b"y").unwrap();
        assert_eq!(ep.collect(8, true).len(), 1);
        // One-shot: disabled until MOD.
        ep.modify(3, &r, EPOLLIN | EPOLLONESHOT, 9).unwrap();
        assert_eq!(ep.collect(8, true).len(), 1);
        assert!(ep.collect(8, true).is_empty());
        assert_eq!(ep.modify(3, &r, EPOLLIN | EPOLLEXCLUSIVE, 9), Err(Errno::EINVAL));
        ep.delete(3, &r).unwrap();
        assert_eq!(ep.delete(3, &r), Err(Errno::ENOENT));
    }

    #[test]
    fn closed_file_drops_watch_and_hup() {
        let (r, w) = fs::pipe::pipe2(0, Owner { uid: 0, gid: 0 }).unwrap();
        let ep = Epoll::new();
        ep.add(4, &r, EPOLLIN, 1).unwrap();
        drop(w);
        let ev = ep.collect(8, true);
        assert_eq!(ev[0].events & EPOLLHUP, EPOLLHUP);
        drop(r);
        assert!(ep.collect(8, true).is_empty());
        assert!(ep.lock().is_empty());
    }
}
