//! POSIX per-process timers (timer_create & co.) and the CPU-time interval
//! timers (ITIMER_VIRTUAL/ITIMER_PROF).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use abi::{Errno, SysResult};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::time::{clock_now, Timespec};
use super::{sc, Args, Entry};
use crate::kernel::Kernel;
use crate::signal::{self, SigInfo, SI_TIMER};
use crate::task::run::Thread;
use crate::task::{Task, ThreadGroup};
use crate::time::{cancel, schedule, TimerId};

pub static ENTRIES: &[Entry] = &[
    sc!(SYS_timer_create, timer_create, "REALTIME/MONOTONIC/BOOTTIME clocks; CPU-time clocks EINVAL; SIGEV_THREAD is libc's"),
    sc!(SYS_timer_settime, timer_settime),
    sc!(SYS_timer_gettime, timer_gettime),
    sc!(SYS_timer_getoverrun, timer_getoverrun),
    sc!(SYS_timer_delete, timer_delete),
];

const SIGEV_SIGNAL: i32 = 0;
const SIGEV_NONE: i32 = 1;
const SIGEV_THREAD_ID: i32 = 4;
const DELAYTIMER_MAX: u64 = i32::MAX as u64;

/// `struct sigevent` (64 bytes).
#[repr(C)]
#[derive(Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
struct SigEvent {
    value: u64,
    signo: i32,
    notify: i32,
    tid: i32,
    _pad: [i32; 11],
}

#[repr(C)]
#[derive(Clone, Copy, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
struct Itimerspec {
    interval: Timespec,
    value: Timespec,
}

struct PosixTimer {
    clock: i32,
    notify: i32,
    signo: i32,
    value: u64,
    /// For SIGEV_THREAD_ID.
    target: Option<Weak<Task>>,
    next: Option<Instant>,
    interval: Duration,
    handle: Option<TimerId>,
    overrun: u64,
}

/// The timers of one process.
#[derive(Default)]
pub struct PosixTimers {
    timers: Mutex<HashMap<i32, PosixTimer>>,
}

fn timers(t: &Thread) -> &PosixTimers {
    &t.task.tg.posix_timers
}

fn supported_clock(id: i32) -> bool {
    matches!(
        id,
        libc::CLOCK_REALTIME | libc::CLOCK_MONOTONIC | libc::CLOCK_BOOTTIME | libc::CLOCK_REALTIME_ALARM | libc::CLOCK_BOOTTIME_ALARM | libc::CLOCK_TAI
    )
}

fn timer_create(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let clock = a.i32(0);
    if !supported_clock(clock) {
        return Err(Errno::EINVAL);
    }
    let (notify, signo, value, target) = if a.u64(1) == 0 {
        (SIGEV_SIGNAL, signal::SIGALRM, 0, None)
    } else {
        let ev: SigEvent = t.mm.read_obj(a.u64(1))?;
        match ev.notify {
            SIGEV_NONE => (SIGEV_NONE, 0, ev.value, None),
            SIGEV_SIGNAL | SIGEV_THREAD_ID => {
                if !signal::valid(ev.signo) {
                    return Err(Errno::EINVAL);
                }
                let target = if ev.notify == SIGEV_THREAD_ID {
                    let task = t.task.k.procs().tasks.get(&ev.tid).cloned().ok_or(Errno::EINVAL)?;
                    if task.tg.tgid != t.task.tg.tgid {
                        return Err(Errno::EINVAL);
                    }
                    Some(Arc::downgrade(&task))
                } else {
                    None
                };
                (ev.notify, ev.signo, ev.value, target)
            }
            _ => return Err(Errno::EINVAL),
        }
    };
    let mut g = timers(t).timers.lock().unwrap();
    if g.len() >= 4096 {
        return Err(Errno::EAGAIN);
    }
    let id = (0..).find(|i| !g.contains_key(i)).unwrap_or(0);
    g.insert(id, PosixTimer { clock, notify, signo, value: if a.u64(1) == 0 { id as u64 } else { value }, target, next: None, interval: Duration::ZERO, handle: None, overrun: 0 });
    drop(g);
    if let Err(e) = t.mm.write_obj(a.u64(2), &id) {
        timers(t).timers.lock().unwrap().remove(&id);
        return Err(e);
    }
    Ok(0)
}

fn ts_to_duration(ts: &Timespec) -> SysResult<Duration> {
    if ts.sec < 0 || !(0..1_000_000_000).contains(&ts.nsec) {
        return Err(Errno::EINVAL);
    }
    Ok(Duration::new(ts.sec as u64, ts.nsec as u32))
}

fn current(tm: &PosixTimer) -> Itimerspec {
    let left = tm.next.map(|n| n.saturating_duration_since(Instant::now())).unwrap_or_default();
    // An armed timer never reports zero remaining.
    let left = if tm.next.is_some() && left.is_zero() { Duration::from_nanos(1) } else { left };
    Itimerspec { interval: Timespec::from_duration(tm.interval), value: Timespec::from_duration(left) }
}

/// Fire timer `id` of `tg`: queue its signal (or count an overrun while the
/// previous one is still pending), then re-arm an interval timer.
fn fire(k: Weak<Kernel>, tg: Weak<ThreadGroup>, id: i32, at: Instant) {
    let (Some(k), Some(tg)) = (k.upgrade(), tg.upgrade()) else { return };
    let mut g = tg.posix_timers.timers.lock().unwrap();
    let Some(tm) = g.get_mut(&id) else { return };
    if tm.next != Some(at) {
        return; // re-armed or disarmed since
    }
    if tm.notify != SIGEV_NONE {
        let is_ours = |s: &SigInfo| s.code == SI_TIMER && s.signo == tm.signo && s.fields[0] as u32 as i32 == id;
        let target = tm.target.as_ref().and_then(|w| w.upgrade());
        let bumped = match &target {
            Some(task) => task.sig().pending.find_mut(is_ours).map(|s| bump(s, &mut tm.overrun)).is_some(),
            None => tg.pending.lock().unwrap().find_mut(is_ours).map(|s| bump(s, &mut tm.overrun)).is_some(),
        };
        if !bumped {
            tm.overrun = 0;
            let mut info = SigInfo::new(tm.signo, SI_TIMER);
            info.fields[0] = id as u32 as u64;
            info.fields[1] = tm.value;
            match target {
                Some(task) => task.send(info),
                None => tg.send(&k, info),
            }
        }
    }
    if tm.interval.is_zero() {
        tm.next = None;
        tm.handle = None;
    } else {
        // Catch up on expirations missed while the timer thread was late.
        let mut next = at + tm.interval;
        let now = Instant::now();
        while next <= now {
            next += tm.interval;
            tm.overrun = (tm.overrun + 1).min(DELAYTIMER_MAX);
        }
        tm.next = Some(next);
        let (kw, tw) = (Arc::downgrade(&k), Arc::downgrade(&tg));
        tm.handle = Some(schedule(next, Box::new(move || fire(kw, tw, id, next))));
    }
}

fn bump(s: &mut SigInfo, overrun: &mut u64) {
    *overrun = (*overrun + 1).min(DELAYTIMER_MAX);
    s.fields[0] = (s.fields[0] & 0xffff_ffff) | (*overrun << 32);
}

fn timer_settime(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let id = a.i32(0);
    let flags = a.i32(1);
    let new: Itimerspec = t.mm.read_obj(a.u64(2))?;
    let value = ts_to_duration(&new.value)?;
    let interval = ts_to_duration(&new.interval)?;
    let clock = timers(t).timers.lock().unwrap().get(&id).map(|tm| tm.clock).ok_or(Errno::EINVAL)?;
    let delay = if flags & libc::TIMER_ABSTIME != 0 && !value.is_zero() { value.saturating_sub(clock_now(t, clock)?) } else { value };
    let tg = t.task.tg.clone();
    let k = Arc::downgrade(&t.task.k);
    let mut g = tg.posix_timers.timers.lock().unwrap();
    let tm = g.get_mut(&id).ok_or(Errno::EINVAL)?;
    let old = current(tm);
    if let Some(h) = tm.handle.take() {
        cancel(h);
    }
    tm.next = None;
    tm.interval = interval;
    if !value.is_zero() {
        let at = Instant::now() + delay;
        tm.next = Some(at);
        let tw = Arc::downgrade(&tg);
        tm.handle = Some(schedule(at, Box::new(move || fire(k, tw, id, at))));
    }
    drop(g);
    if a.u64(3) != 0 {
        t.mm.write_obj(a.u64(3), &old)?;
    }
    Ok(0)
}

fn timer_gettime(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let cur = {
        let g = timers(t).timers.lock().unwrap();
        current(g.get(&a.i32(0)).ok_or(Errno::EINVAL)?)
    };
    t.mm.write_obj(a.u64(1), &cur)?;
    Ok(0)
}

fn timer_getoverrun(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let g = timers(t).timers.lock().unwrap();
    Ok(g.get(&a.i32(0)).ok_or(Errno::EINVAL)?.overrun)
}

fn timer_delete(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let tm = timers(t).timers.lock().unwrap().remove(&a.i32(0)).ok_or(Errno::EINVAL)?;
    if let Some(h) = tm.handle {
        cancel(h);
    }
    Ok(0)
}

impl PosixTimers {
    /// Disarm everything (exec and exit).
    pub fn clear(&self) {
        for (_, tm) in self.timers.lock().unwrap().drain() {
            if let Some(h) = tm.handle {
                cancel(h);
            }
        }
    }
}
