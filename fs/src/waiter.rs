//! Waiting for events: `WaitQueue`s that objects notify, `Waiter`s that
//! Sentry threads block on.
//!
//! A `Waiter` owns an eventfd, so one host `poll(2)` waits on internal
//! events (a pipe became readable) and host fds (a tty stdin) together.
//! File operations never block: they return EAGAIN, and the Sentry's
//! generic loop is: register on the file(s), re-check readiness, then
//! `Waiter::wait`, then unregister.

use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use abi::{Errno, SysResult};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::eventfd::{EfdFlags, EventFd};

/// Poll event bits as Linux defines them (POLLIN = 1, ...).
pub mod events {
    pub const POLLIN: u32 = libc::POLLIN as u32;
    pub const POLLPRI: u32 = libc::POLLPRI as u32;
    pub const POLLOUT: u32 = libc::POLLOUT as u32;
    pub const POLLERR: u32 = libc::POLLERR as u32;
    pub const POLLHUP: u32 = libc::POLLHUP as u32;
    pub const POLLNVAL: u32 = libc::POLLNVAL as u32;
    pub const POLLRDNORM: u32 = libc::POLLRDNORM as u32;
    pub const POLLWRNORM: u32 = libc::POLLWRNORM as u32;
    pub const POLLRDHUP: u32 = libc::POLLRDHUP as u32;
    /// Readable in every sense.
    pub const READABLE: u32 = POLLIN | POLLRDNORM;
    /// Writable in every sense.
    pub const WRITABLE: u32 = POLLOUT | POLLWRNORM;
}

/// Something a `WaitQueue` can wake: a `Waiter`, or an epoll instance.
pub trait Waker: Send + Sync {
    /// `events` is the mask that became ready.
    fn wake(&self, events: u32);
}

struct Entry {
    waker: Weak<dyn Waker>,
    mask: u32,
}

/// The list of wakers interested in an object's events.
#[derive(Default)]
pub struct WaitQueue {
    entries: Mutex<Vec<Entry>>,
}

fn same(a: &Weak<dyn Waker>, b: &Arc<dyn Waker>) -> bool {
    std::ptr::addr_eq(a.as_ptr(), Arc::as_ptr(b))
}

impl WaitQueue {
    pub fn new() -> WaitQueue {
        WaitQueue::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wake `w` on any of `mask` (POLLERR|POLLHUP always included).
    /// Registering again replaces the mask.
    pub fn register(&self, w: &Arc<dyn Waker>, mask: u32) {
        let mask = mask | events::POLLERR | events::POLLHUP;
        let mut e = self.lock();
        if let Some(x) = e.iter_mut().find(|x| same(&x.waker, w)) {
            x.mask = mask;
        } else {
            e.push(Entry { waker: Arc::downgrade(w), mask });
        }
    }

    pub fn unregister(&self, w: &Arc<dyn Waker>) {
        self.lock().retain(|x| !same(&x.waker, w) && x.waker.strong_count() > 0);
    }

    /// Wake every waker interested in any bit of `mask`.
    pub fn notify(&self, mask: u32) {
        let to_wake: Vec<Arc<dyn Waker>> = {
            let mut e = self.lock();
            e.retain(|x| x.waker.strong_count() > 0);
            e.iter().filter(|x| x.mask & mask != 0).filter_map(|x| x.waker.upgrade()).collect()
        };
        for w in to_wake {
            w.wake(mask);
        }
    }

    /// Number of live registrations (for tests and debugging).
    pub fn len(&self) -> usize {
        self.lock().iter().filter(|x| x.waker.strong_count() > 0).count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Why `Waiter::wait` returned.
#[derive(Debug, PartialEq, Eq)]
pub enum WaitResult {
    /// Notified through a queue, or a host fd is ready: re-check. The
    /// vector holds the revents of each host fd passed in (0 = none).
    Ready { host_revents: Vec<i16> },
    /// The timeout passed with nothing ready.
    TimedOut,
    /// `interrupt()` was called (a signal arrived for the task).
    Interrupted,
}

/// What one Sentry thread blocks on.
pub struct Waiter {
    efd: EventFd,
    interrupted: AtomicBool,
}

impl Waiter {
    pub fn new() -> SysResult<Arc<Waiter>> {
        let efd = EventFd::from_value_and_flags(0, EfdFlags::EFD_NONBLOCK | EfdFlags::EFD_CLOEXEC)
            .map_err(|e| Errno(e as i32))?;
        Ok(Arc::new(Waiter { efd, interrupted: AtomicBool::new(false) }))
    }

    /// As a `Waker` trait object for `WaitQueue::register`.
    pub fn as_waker(self: &Arc<Self>) -> Arc<dyn Waker> {
        self.clone()
    }

    /// Wake the thread (idempotent until it waits again).
    pub fn notify(&self) {
        // EAGAIN only when the counter is saturated: already notified.
        let _ = self.efd.write(1);
    }

    /// A signal arrived: make the current or next `wait` return
    /// `Interrupted` (once).
    pub fn interrupt(&self) {
        self.interrupted.store(true, Ordering::SeqCst);
        self.notify();
    }

    /// Whether an interrupt is pending (without consuming it).
    pub fn is_interrupted(&self) -> bool {
        self.interrupted.load(Ordering::SeqCst)
    }

    /// Forget a pending interrupt (after the Sentry handled the signal).
    pub fn clear_interrupt(&self) {
        self.interrupted.store(false, Ordering::SeqCst);
    }

    fn drain(&self) {
        let _ = self.efd.read();
    }

    /// Block until notified, a host fd is ready, the timeout passes
    /// (`None` = forever) or `interrupt()` is called.
    pub fn wait(&self, host: &[(BorrowedFd<'_>, i16)], timeout: Option<Duration>) -> SysResult<WaitResult> {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            if self.interrupted.swap(false, Ordering::SeqCst) {
                self.drain();
                return Ok(WaitResult::Interrupted);
            }
            let mut fds = Vec::with_capacity(host.len() + 1);
            fds.push(PollFd::new(self.efd.as_fd(), PollFlags::POLLIN));
            for (fd, ev) in host {
                fds.push(PollFd::new(*fd, PollFlags::from_bits_truncate(*ev)));
            }
            let pt = match deadline {
                None => PollTimeout::NONE,
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    let ms = left.as_millis().min(i32::MAX as u128 - 1) as i32;
                    // Round up so a sub-millisecond remainder still waits.
                    let ms = if left > Duration::from_millis(ms as u64) { ms + 1 } else { ms };
                    PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)
                }
            };
            match poll(&mut fds, pt) {
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(Errno(e as i32)),
                Ok(0) => {
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        return Ok(WaitResult::TimedOut);
                    }
                }
                Ok(_) => {
                    let own = fds[0].revents().is_some_and(|r| !r.is_empty());
                    let revs: Vec<i16> = fds[1..].iter().map(|f| f.revents().map_or(0, |r| r.bits())).collect();
                    if own {
                        self.drain();
                        if self.interrupted.swap(false, Ordering::SeqCst) {
                            return Ok(WaitResult::Interrupted);
                        }
                    }
                    return Ok(WaitResult::Ready { host_revents: revs });
                }
            }
        }
    }
}

impl Waker for Waiter {
    fn wake(&self, _events: u32) {
        self.notify();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_wakes_only_matching_masks() {
        let q = WaitQueue::new();
        let w = Waiter::new().unwrap();
        q.register(&w.as_waker(), events::POLLIN);
        q.notify(events::POLLOUT);
        assert_eq!(w.wait(&[], Some(Duration::ZERO)).unwrap(), WaitResult::TimedOut);
        q.notify(events::POLLIN);
        assert!(matches!(w.wait(&[], Some(Duration::ZERO)).unwrap(), WaitResult::Ready { .. }));
        // Drained: nothing pending now.
        assert_eq!(w.wait(&[], Some(Duration::ZERO)).unwrap(), WaitResult::TimedOut);
        q.unregister(&w.as_waker());
        assert!(q.is_empty());
    }

    #[test]
    fn interrupt_from_another_thread() {
        let w = Waiter::new().unwrap();
        let w2 = w.clone();
        let t = std::thread::spawn(move || w2.interrupt());
        assert_eq!(w.wait(&[], None).unwrap(), WaitResult::Interrupted);
        t.join().unwrap();
        assert_eq!(w.wait(&[], Some(Duration::ZERO)).unwrap(), WaitResult::TimedOut);
    }

    #[test]
    fn host_fd_readiness() {
        let (r, w) = nix::unistd::pipe().unwrap();
        let waiter = Waiter::new().unwrap();
        let host = [(r.as_fd(), libc::POLLIN)];
        assert_eq!(waiter.wait(&host, Some(Duration::ZERO)).unwrap(), WaitResult::TimedOut);
        nix::unistd::write(&w, b"x").unwrap();
        match waiter.wait(&host, None).unwrap() {
            WaitResult::Ready { host_revents } => assert_eq!(host_revents, vec![libc::POLLIN]),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn dropped_waker_is_pruned() {
        let q = WaitQueue::new();
        let w = Waiter::new().unwrap();
        q.register(&w.as_waker(), events::POLLIN);
        assert_eq!(q.len(), 1);
        drop(w);
        q.notify(events::POLLIN);
        assert_eq!(q.len(), 0);
    }
}
