//! timerfd_create/settime/gettime. Expirations are computed from the
//! clock when asked; a timer-thread callback only wakes waiters.

use std::any::Any;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use abi::{Errno, Stat, SysResult};
use fs::file::FileOps;
use fs::waiter::{events, WaitQueue, Waker};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::poll::Timespec;
use super::util::install;
use crate::syscalls::{sc, Args, Entry};
use crate::task::run::Thread;
use crate::time::{cancel, schedule, TimerId};

pub static ENTRIES: &[Entry] = &[
    sc!(SYS_timerfd_create, timerfd_create, "*_ALARM clocks behave as their base clocks"),
    sc!(SYS_timerfd_settime, timerfd_settime, "TFD_TIMER_CANCEL_ON_SET is accepted but never cancels"),
    sc!(SYS_timerfd_gettime, timerfd_gettime),
];

#[derive(Default)]
struct State {
    /// The next expiration not yet read.
    next: Option<Instant>,
    interval: Duration,
    wake: Option<TimerId>,
}

pub struct TimerFd {
    state: Mutex<State>,
    queue: Arc<WaitQueue>,
    ino: u64,
}

/// Expirations at `now` of a timer due at `next` with `interval`.
pub fn expirations(next: Instant, interval: Duration, now: Instant) -> u64 {
    if now < next {
        return 0;
    }
    if interval.is_zero() {
        return 1;
    }
    let late = now - next;
    1 + (late.as_nanos() / interval.as_nanos()).min(u64::MAX as u128 - 1) as u64
}

impl TimerFd {
    fn new() -> TimerFd {
        TimerFd { state: Mutex::new(State::default()), queue: Arc::new(WaitQueue::new()), ino: super::anon::next_ino() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Arrange for waiters to be woken at `at`.
    fn arm_wake(&self, s: &mut State, at: Instant) {
        if let Some(id) = s.wake.take() {
            cancel(id);
        }
        let q: Weak<WaitQueue> = Arc::downgrade(&self.queue);
        s.wake = Some(schedule(
            at,
            Box::new(move || {
                if let Some(q) = q.upgrade() {
                    q.notify(events::READABLE);
                }
            }),
        ));
    }

    /// (time to the next expiration, interval) as gettime reports them.
    fn get(&self) -> (Duration, Duration) {
        let s = self.lock();
        let now = Instant::now();
        match s.next {
            None => (Duration::ZERO, s.interval),
            Some(n) if now < n => (n - now, s.interval),
            Some(n) => {
                if s.interval.is_zero() {
                    (Duration::ZERO, Duration::ZERO)
                } else {
                    let k = expirations(n, s.interval, now) as u32;
                    let nxt = n + s.interval * k;
                    (nxt.saturating_duration_since(now), s.interval)
                }
            }
        }
    }

    fn set(&self, first: Option<Instant>, interval: Duration) {
        let mut s = self.lock();
        s.next = first;
        s.interval = interval;
        match first {
            Some(at) => self.arm_wake(&mut s, at),
            None => {
                if let Some(id) = s.wake.take() {
                    cancel(id);
                }
            }
        }
    }
}

impl Drop for TimerFd {
    fn drop(&mut self) {
        if let Some(id) = self.lock().wake.take() {
            cancel(id);
        }
    }
}

impl FileOps for TimerFd {
    fn read(&self, buf: &mut [u8], _off: u64) -> SysResult<usize> {
        if buf.len() < 8 {
            return Err(Errno::EINVAL);
        }
        let mut s = self.lock();
        let now = Instant::now();
        let Some(n) = s.next else { return Err(Errno::EAGAIN) };
        let k = expirations(n, s.interval, now);
        if k == 0 {
            return Err(Errno::EAGAIN);
        }
        if s.interval.is_zero() {
            s.next = None;
        } else {
            let nxt = n + s.interval * (k.min(u32::MAX as u64) as u32);
            s.next = Some(nxt);
            self.arm_wake(&mut s, nxt);
        }
        buf[..8].copy_from_slice(&k.to_ne_bytes());
        Ok(8)
    }

    fn is_stream(&self) -> bool {
        true
    }

    fn stat(&self) -> SysResult<Stat> {
        Ok(super::anon::stat(self.ino))
    }

    fn readiness(&self, mask: u32) -> u32 {
        let s = self.lock();
        match s.next {
            Some(n) if Instant::now() >= n => mask & events::READABLE,
            _ => 0,
        }
    }

    fn event_register(&self, w: &Arc<dyn Waker>, mask: u32) {
        self.queue.register(w, mask);
    }

    fn event_unregister(&self, w: &Arc<dyn Waker>) {
        self.queue.unregister(w);
    }

    fn proc_name(&self) -> Option<String> {
        Some("anon_inode:[timerfd]".into())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

const CLOCK_REALTIME_ALARM: i32 = 8;
const CLOCK_BOOTTIME_ALARM: i32 = 9;

fn timerfd_create(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let (clock, flags) = (a.i32(0), a.i32(1));
    match clock {
        libc::CLOCK_REALTIME | libc::CLOCK_MONOTONIC | libc::CLOCK_BOOTTIME => {}
        CLOCK_REALTIME_ALARM | CLOCK_BOOTTIME_ALARM => {
            if !t.task.tg.creds().is_privileged() {
                return Err(Errno::EPERM);
            }
        }
        _ => return Err(Errno::EINVAL),
    }
    if flags & !(libc::TFD_CLOEXEC | libc::TFD_NONBLOCK) != 0 {
        return Err(Errno::EINVAL);
    }
    let ops = Arc::new(Clocked { clock, timer: TimerFd::new() });
    let f = super::anon::file(ops, flags & libc::TFD_NONBLOCK != 0);
    install(t, f, flags & libc::TFD_CLOEXEC != 0)
}

/// A timerfd with its clock (for absolute times).
pub struct Clocked {
    clock: i32,
    timer: TimerFd,
}

impl FileOps for Clocked {
    fn read(&self, buf: &mut [u8], off: u64) -> SysResult<usize> {
        self.timer.read(buf, off)
    }
    fn is_stream(&self) -> bool {
        true
    }
    fn stat(&self) -> SysResult<Stat> {
        self.timer.stat()
    }
    fn readiness(&self, mask: u32) -> u32 {
        self.timer.readiness(mask)
    }
    fn event_register(&self, w: &Arc<dyn Waker>, mask: u32) {
        self.timer.event_register(w, mask)
    }
    fn event_unregister(&self, w: &Arc<dyn Waker>) {
        self.timer.event_unregister(w)
    }
    fn proc_name(&self) -> Option<String> {
        self.timer.proc_name()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[repr(C)]
#[derive(Clone, Copy, Default, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
struct Itimerspec {
    interval: Timespec,
    value: Timespec,
}

fn ts_dur(ts: Timespec) -> SysResult<Duration> {
    if ts.sec < 0 || !(0..1_000_000_000).contains(&ts.nsec) {
        return Err(Errno::EINVAL);
    }
    Ok(Duration::new(ts.sec as u64, ts.nsec as u32))
}

fn to_ts(d: Duration) -> Timespec {
    Timespec { sec: d.as_secs() as i64, nsec: d.subsec_nanos() as i64 }
}

/// The current value of `clock` (for TFD_TIMER_ABSTIME).
fn clock_now(clock: i32) -> Duration {
    match clock {
        libc::CLOCK_REALTIME | CLOCK_REALTIME_ALARM => SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default(),
        _ => {
            let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
            let id = if clock == libc::CLOCK_MONOTONIC { libc::CLOCK_MONOTONIC } else { libc::CLOCK_BOOTTIME };
            // SAFETY: clock_gettime writes one timespec into our local.
            unsafe { libc::clock_gettime(id, &mut ts) };
            Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
        }
    }
}

fn get_timer(t: &Thread, fd: i32) -> SysResult<Arc<fs::File>> {
    let f = t.task.files().get_io(fd)?;
    if f.ops().as_any().downcast_ref::<Clocked>().is_none() {
        return Err(Errno::EINVAL);
    }
    Ok(f)
}

const TFD_TIMER_ABSTIME: i32 = 1;
const TFD_TIMER_CANCEL_ON_SET: i32 = 2;

fn timerfd_settime(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let (fd, flags, newp, oldp) = (a.i32(0), a.i32(1), a.u64(2), a.u64(3));
    if flags & !(TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET) != 0 {
        return Err(Errno::EINVAL);
    }
    let new: Itimerspec = t.mm.read_obj(newp)?;
    let f = get_timer(t, fd)?;
    let c = f.ops().as_any().downcast_ref::<Clocked>().ok_or(Errno::EINVAL)?;
    let interval = ts_dur(new.interval)?;
    let value = ts_dur(new.value)?;
    let (ov, oi) = c.timer.get();
    let first = if value.is_zero() {
        None
    } else if flags & TFD_TIMER_ABSTIME != 0 {
        let now = Instant::now();
        Some(now + value.saturating_sub(clock_now(c.clock)))
    } else {
        Some(Instant::now() + value)
    };
    c.timer.set(first, interval);
    if oldp != 0 {
        t.mm.write_obj(oldp, &Itimerspec { interval: to_ts(oi), value: to_ts(ov) })?;
    }
    Ok(0)
}

fn timerfd_gettime(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let f = get_timer(t, a.i32(0))?;
    let c = f.ops().as_any().downcast_ref::<Clocked>().ok_or(Errno::EINVAL)?;
    let (v, i) = c.timer.get();
    t.mm.write_obj(a.u64(1), &Itimerspec { interval: to_ts(i), value: to_ts(v) })?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiration_counting() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        assert_eq!(expirations(t0 + ms(5), ms(0), t0), 0);
        assert_eq!(expirations(t0, ms(0), t0 + ms(100)), 1);
        assert_eq!(expirations(t0, ms(10), t0 + ms(35)), 4);
    }

    #[test]
    fn read_consumes_and_rearms() {
        let tf = TimerFd::new();
        let mut b = [0u8; 8];
        assert_eq!(tf.read(&mut b, 0), Err(Errno::EAGAIN));
        tf.set(Some(Instant::now() - Duration::from_millis(25)), Duration::from_millis(10));
        assert_eq!(tf.read(&mut b, 0), Ok(8));
        assert!(u64::from_ne_bytes(b) >= 3);
        assert_eq!(tf.read(&mut b, 0), Err(Errno::EAGAIN));
        assert!(tf.get().0 <= Duration::from_millis(10));
        tf.set(None, Duration::ZERO);
        assert_eq!(tf.get(), (Duration::ZERO, Duration::ZERO));
    }
}
