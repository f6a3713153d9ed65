//! Clocks and sleeping.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use abi::{Errno, SysResult};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::signal::read_timespec;
use super::{sc, Args, Entry};
use crate::task::run::Thread;

pub static ENTRIES: &[Entry] = &[
    sc!(SYS_clock_gettime, clock_gettime, "CPU-time clocks count time in the Sentry and the workload together"),
    sc!(SYS_clock_getres, clock_getres),
    sc!(SYS_gettimeofday, gettimeofday),
    sc!(SYS_time, time),
    sc!(SYS_nanosleep, nanosleep),
    sc!(SYS_clock_nanosleep, clock_nanosleep),
    sc!(SYS_setitimer, setitimer, "VIRTUAL and PROF both count the process's CPU time (user and Sentry)"),
    sc!(SYS_getitimer, getitimer, "VIRTUAL and PROF both count the process's CPU time (user and Sentry)"),
    sc!(SYS_alarm, alarm),
    sc!(SYS_times, times),
];

#[repr(C)]
#[derive(Clone, Copy, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct Timespec {
    pub sec: i64,
    pub nsec: i64,
}

impl Timespec {
    pub fn from_duration(d: Duration) -> Timespec {
        Timespec { sec: d.as_secs() as i64, nsec: d.subsec_nanos() as i64 }
    }
}

#[repr(C)]
#[derive(Clone, Copy, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
struct Timeval {
    sec: i64,
    usec: i64,
}

fn realtime() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}

fn host_clock(id: libc::clockid_t) -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec into our local.
    unsafe { libc::clock_gettime(id, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// The value of clock `id` for the calling thread.
pub fn clock_now(t: &Thread, id: i32) -> SysResult<Duration> {
    Ok(match id {
        libc::CLOCK_REALTIME | libc::CLOCK_REALTIME_COARSE | libc::CLOCK_TAI => realtime(),
        libc::CLOCK_MONOTONIC | libc::CLOCK_MONOTONIC_COARSE | libc::CLOCK_MONOTONIC_RAW => host_clock(libc::CLOCK_MONOTONIC),
        libc::CLOCK_BOOTTIME => host_clock(libc::CLOCK_BOOTTIME),
        libc::CLOCK_PROCESS_CPUTIME_ID => {
            let p = t.task.k.procs();
            let ns: u64 = p
                .st(t.task.tg.tgid)
                .map(|s| s.threads.iter().filter_map(|x| p.tasks.get(x)).map(|x| x.cpu_ns.load(std::sync::atomic::Ordering::Relaxed)).sum())
                .unwrap_or(0);
            Duration::from_nanos(ns)
        }
        libc::CLOCK_THREAD_CPUTIME_ID => Duration::from_nanos(t.task.cpu_ns.load(std::sync::atomic::Ordering::Relaxed)),
        id if id < 0 => cpu_clock_of(t, id)?,
        _ => return Err(Errno::EINVAL),
    })
}

/// Dynamic CPU-time clocks (clock_getcpuclockid / pthread_getcpuclockid):
/// `~pid << 3 | type`, bit 2 set for a thread clock.
fn cpu_clock_of(t: &Thread, id: i32) -> SysResult<Duration> {
    if id & 7 == 7 {
        return Err(Errno::EINVAL); // a clock fd (FD_TO_CLOCKID): not supported
    }
    if id & 3 == 3 {
        return Err(Errno::EINVAL);
    }
    let pid = !(id >> 3);
    let p = t.task.k.procs();
    let pid = if pid == 0 { if id & 4 != 0 { t.task.tid() } else { t.task.tg.tgid } } else { pid };
    let ns = if id & 4 != 0 {
        p.tasks.get(&pid).map(|x| x.cpu_ns.load(std::sync::atomic::Ordering::Relaxed)).ok_or(Errno::EINVAL)?
    } else {
        let st = p.st(pid).filter(|s| s.zombie.is_none()).ok_or(Errno::EINVAL)?;
        st.threads.iter().filter_map(|x| p.tasks.get(x)).map(|x| x.cpu_ns.load(std::sync::atomic::Ordering::Relaxed)).sum()
    };
    Ok(Duration::from_nanos(ns))
}

fn clock_gettime(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let now = clock_now(t, a.i32(0))?;
    t.mm.write_obj(a.u64(1), &Timespec::from_duration(now))?;
    Ok(0)
}

fn clock_getres(t: &mut Thread, a: &Args) -> SysResult<u64> {
    clock_now(t, a.i32(0))?;
    let res = match a.i32(0) {
        libc::CLOCK_REALTIME_COARSE | libc::CLOCK_MONOTONIC_COARSE => Timespec { sec: 0, nsec: 4_000_000 },
        _ => Timespec { sec: 0, nsec: 1 },
    };
    if a.u64(1) != 0 {
        t.mm.write_obj(a.u64(1), &res)?;
    }
    Ok(0)
}

fn gettimeofday(t: &mut Thread, a: &Args) -> SysResult<u64> {
    if a.u64(0) != 0 {
        let now = realtime();
        t.mm.write_obj(a.u64(0), &Timeval { sec: now.as_secs() as i64, usec: now.subsec_micros() as i64 })?;
    }
    if a.u64(1) != 0 {
        t.mm.write_obj(a.u64(1), &[0i32; 2])?;
    }
    Ok(0)
}

fn time(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let s = realtime().as_secs();
    if a.u64(0) != 0 {
        t.mm.write_obj(a.u64(0), &(s as i64))?;
    }
    Ok(s)
}

/// Sleep for `d`; on a signal, write the remaining time to `rem` (if
/// non-zero) and return EINTR through restart processing.
fn sleep_rel(t: &mut Thread, d: Duration, rem: u64) -> SysResult<u64> {
    let deadline = Instant::now() + d;
    match t.sleep_until(deadline) {
        Ok(()) => Ok(0),
        Err(e) => {
            if rem != 0 {
                let left = deadline.saturating_duration_since(Instant::now());
                t.mm.write_obj(rem, &Timespec::from_duration(left))?;
            }
            if e == Errno::ERESTARTSYS {
                Err(Errno::ERESTARTNOHAND)
            } else {
                Err(e)
            }
        }
    }
}

fn nanosleep(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let d = read_timespec(t, a.u64(0))?;
    sleep_rel(t, d, a.u64(1))
}

fn clock_nanosleep(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let (id, flags) = (a.i32(0), a.i32(1));
    let req = read_timespec(t, a.u64(2))?;
    if id == libc::CLOCK_THREAD_CPUTIME_ID {
        return Err(Errno::EINVAL);
    }
    let now = clock_now(t, id)?;
    if flags & libc::TIMER_ABSTIME != 0 {
        let d = req.saturating_sub(now);
        let deadline = Instant::now() + d;
        return match t.sleep_until(deadline) {
            Ok(()) => Ok(0),
            Err(Errno::ERESTARTSYS) => Err(Errno::ERESTARTNOHAND),
            Err(e) => Err(e),
        };
    }
    sleep_rel(t, req, a.u64(3))
}

#[repr(C)]
#[derive(Clone, Copy, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
struct Itimerval {
    interval: Timeval,
    value: Timeval,
}

fn tv(d: Duration) -> Timeval {
    Timeval { sec: d.as_secs() as i64, usec: d.subsec_micros() as i64 }
}

fn from_tv(v: Timeval) -> SysResult<Duration> {
    if v.sec < 0 || !(0..1_000_000).contains(&v.usec) {
        return Err(Errno::EINVAL);
    }
    Ok(Duration::new(v.sec as u64, v.usec as u32 * 1000))
}

/// Slot of ITIMER_VIRTUAL (0) / ITIMER_PROF (1) in ThreadGroup::cpu_itimers.
fn cpu_slot(which: i32) -> SysResult<Option<usize>> {
    match which {
        libc::ITIMER_REAL => Ok(None),
        libc::ITIMER_VIRTUAL => Ok(Some(0)),
        libc::ITIMER_PROF => Ok(Some(1)),
        _ => Err(Errno::EINVAL),
    }
}

fn cpu_itimer_get(t: &Thread, slot: usize) -> Itimerval {
    let total = t.task.tg.cpu_total_ns.load(std::sync::atomic::Ordering::Relaxed);
    match t.task.tg.cpu_itimers.lock().unwrap()[slot] {
        Some((at, interval)) => Itimerval { interval: tv(Duration::from_nanos(interval)), value: tv(Duration::from_nanos(at.saturating_sub(total).max(1000))) },
        None => Itimerval::default(),
    }
}

fn setitimer(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let new: Itimerval = if a.u64(1) != 0 { t.mm.read_obj(a.u64(1))? } else { Itimerval::default() };
    let (value, interval) = (from_tv(new.value)?, from_tv(new.interval)?);
    if let Some(slot) = cpu_slot(a.i32(0))? {
        let old = cpu_itimer_get(t, slot);
        {
            let tg = &t.task.tg;
            let mut g = tg.cpu_itimers.lock().unwrap();
            let total = tg.cpu_total_ns.load(std::sync::atomic::Ordering::Relaxed);
            g[slot] = (!value.is_zero()).then(|| (total + value.as_nanos() as u64, interval.as_nanos() as u64));
            tg.cpu_itimers_armed.store(g.iter().any(|x| x.is_some()), std::sync::atomic::Ordering::Relaxed);
        }
        if a.u64(2) != 0 {
            t.mm.write_obj(a.u64(2), &old)?;
        }
        return Ok(0);
    }
    let tg = t.task.tg.clone();
    let (old_v, old_i) = tg.itimers.set_real(std::sync::Arc::downgrade(&tg), std::sync::Arc::downgrade(&t.task.k), value, interval);
    if a.u64(2) != 0 {
        t.mm.write_obj(a.u64(2), &Itimerval { interval: tv(old_i), value: tv(old_v) })?;
    }
    Ok(0)
}

fn getitimer(t: &mut Thread, a: &Args) -> SysResult<u64> {
    if let Some(slot) = cpu_slot(a.i32(0))? {
        let v = cpu_itimer_get(t, slot);
        t.mm.write_obj(a.u64(1), &v)?;
        return Ok(0);
    }
    let (v, i) = t.task.tg.itimers.get_real();
    t.mm.write_obj(a.u64(1), &Itimerval { interval: tv(i), value: tv(v) })?;
    Ok(0)
}

fn alarm(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let tg = t.task.tg.clone();
    let (old, _) = tg.itimers.set_real(std::sync::Arc::downgrade(&tg), std::sync::Arc::downgrade(&t.task.k), Duration::from_secs(a.u64(0) as u32 as u64), Duration::ZERO);
    // Round up like Linux (a pending sub-second alarm reports 1).
    Ok(old.as_secs() + u64::from(old.subsec_nanos() >= 500_000_000 || (old.as_secs() == 0 && !old.is_zero())))
}

fn times(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let ticks = |d: Duration| (d.as_millis() / 10) as i64;
    let own = clock_now(t, libc::CLOCK_PROCESS_CPUTIME_ID)?;
    let children = Duration::from_nanos(t.task.tg.child_cpu_ns.load(std::sync::atomic::Ordering::Relaxed));
    if a.u64(0) != 0 {
        t.mm.write_obj(a.u64(0), &[ticks(own), 0, ticks(children), 0])?;
    }
    Ok(ticks(t.task.k.boot.elapsed()) as u64 + 1)
}
