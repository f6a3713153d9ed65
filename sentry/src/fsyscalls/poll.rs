//! poll, ppoll, select, pselect6.

use std::time::{Duration, Instant};

use abi::{Errno, SysResult};
use fs::waiter::events;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::fdset::FdSet;
use super::ready::{wait, Polled};
use super::util::nofile;
use crate::signal::SigSet;
use crate::syscalls::{sc, Args, Entry};
use crate::task::run::Thread;

pub static ENTRIES: &[Entry] = &[
    sc!(SYS_poll, poll, "restarted after a handler-less stop with the full timeout"),
    sc!(SYS_ppoll, ppoll),
    sc!(SYS_select, select),
    sc!(SYS_pselect6, pselect6),
];

#[repr(C)]
#[derive(Clone, Copy, Default, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
struct PollFd {
    fd: i32,
    events: i16,
    revents: i16,
}

#[repr(C)]
#[derive(Clone, Copy, Default, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct Timespec {
    pub sec: i64,
    pub nsec: i64,
}

/// A relative timespec → duration (EINVAL if negative or nsec out of range).
pub fn timespec_dur(ts: Timespec) -> SysResult<Duration> {
    if ts.sec < 0 || !(0..1_000_000_000).contains(&ts.nsec) {
        return Err(Errno::EINVAL);
    }
    Ok(Duration::new(ts.sec as u64, ts.nsec as u32))
}

fn deadline_of(d: Option<Duration>) -> Option<Instant> {
    d.map(|d| Instant::now().checked_add(d).unwrap_or_else(|| Instant::now() + Duration::from_secs(1 << 40)))
}

/// Core of poll/ppoll: returns the number of ready entries.
fn do_poll(t: &mut Thread, addr: u64, nfds: u64, deadline: Option<Instant>) -> SysResult<u64> {
    if nfds > nofile(t) || nfds > (1 << 20) {
        return Err(Errno::EINVAL);
    }
    let mut pfds = vec![PollFd::default(); nfds as usize];
    t.mm.copy_in(addr, pfds.as_mut_slice().as_mut_bytes())?;
    let files = t.task.files();
    let items: Vec<Polled> = pfds
        .iter()
        .map(|p| {
            if p.fd < 0 {
                Polled { file: None, events: 0 }
            } else {
                Polled { file: files.get(p.fd).ok(), events: p.events as u16 as u32 }
            }
        })
        .collect();
    let revents = wait(t, &items, deadline)?;
    let mut n = 0;
    for (p, r) in pfds.iter_mut().zip(revents) {
        p.revents = if p.fd < 0 { 0 } else { r as u16 as i16 };
        if p.revents != 0 {
            n += 1;
        }
    }
    t.mm.copy_out(addr, pfds.as_bytes())?;
    Ok(n)
}

fn poll(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let ms = a.i32(2);
    let d = (ms >= 0).then(|| Duration::from_millis(ms as u64));
    match do_poll(t, a.u64(0), a.u64(1), deadline_of(d)) {
        Err(Errno::ERESTARTSYS) => Err(Errno::ERESTART_RESTARTBLOCK),
        r => r,
    }
}

/// Install a ppoll/pselect temporary mask; returns the old one.
pub fn set_temp_mask(t: &mut Thread, addr: u64, size: u64) -> SysResult<Option<SigSet>> {
    if addr == 0 {
        return Ok(None);
    }
    if size != 8 {
        return Err(Errno::EINVAL);
    }
    let m: u64 = t.mm.read_obj(addr)?;
    let mut s = t.task.sig();
    let old = s.mask;
    s.mask = SigSet(m).unblockable();
    Ok(Some(old))
}

/// After the call: on EINTR-like results leave the old mask for the run
/// loop to restore after the handler; otherwise restore it now.
pub fn finish_temp_mask(t: &mut Thread, old: Option<SigSet>, r: SysResult<u64>) -> SysResult<u64> {
    if let Some(old) = old {
        let mut s = t.task.sig();
        if r == Err(Errno::ERESTARTSYS) || r == Err(Errno::ERESTARTNOHAND) || r == Err(Errno::EINTR) {
            s.saved_mask = Some(old);
        } else {
            s.mask = old;
        }
    }
    match r {
        Err(Errno::ERESTARTSYS) => Err(Errno::ERESTARTNOHAND),
        r => r,
    }
}

fn ppoll(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let d = if a.u64(2) == 0 { None } else { Some(timespec_dur(t.mm.read_obj(a.u64(2))?)?) };
    let deadline = deadline_of(d);
    let old = set_temp_mask(t, a.u64(3), a.u64(4))?;
    let r = do_poll(t, a.u64(0), a.u64(1), deadline);
    if let (Some(dl), Ok(_) | Err(Errno::ERESTARTSYS)) = (deadline, &r) {
        let left = dl.saturating_duration_since(Instant::now());
        let _ = t.mm.write_obj(a.u64(2), &Timespec { sec: left.as_secs() as i64, nsec: left.subsec_nanos() as i64 });
    }
    finish_temp_mask(t, old, r)
}

const SEL_IN: u32 = events::POLLIN | events::POLLRDNORM | events::POLLHUP | events::POLLERR;
const SEL_OUT: u32 = events::POLLOUT | events::POLLWRNORM | events::POLLERR;
const SEL_EX: u32 = events::POLLPRI;

/// Core of select/pselect6: fd_sets read, waited on and written back.
fn do_select(t: &mut Thread, nfds: i32, ptrs: [u64; 3], deadline: Option<Instant>) -> SysResult<u64> {
    if nfds < 0 {
        return Err(Errno::EINVAL);
    }
    let files = t.task.files();
    // Linux clips nfds to the fd table size.
    let max_open = files.list().last().map(|(fd, _)| *fd as usize + 1).unwrap_or(0);
    let nfds = (nfds as usize).min(max_open.max(nofile(t) as usize).min(1 << 20)).min(nfds as usize);
    let bytes = FdSet::words(nfds) * 8;
    let mut sets = [FdSet::zeroed(nfds), FdSet::zeroed(nfds), FdSet::zeroed(nfds)];
    for (i, p) in ptrs.iter().enumerate() {
        if *p != 0 {
            let mut b = vec![0u8; bytes];
            t.mm.copy_in(*p, &mut b)?;
            sets[i] = FdSet::from_bytes(&b, nfds);
        }
    }
    let mut fds: Vec<usize> = sets.iter().flat_map(|s| s.iter()).collect();
    fds.sort_unstable();
    fds.dedup();
    let mut items = Vec::with_capacity(fds.len());
    for &fd in &fds {
        let f = files.get(fd as i32)?;
        let mut ev = 0;
        if sets[0].has(fd) {
            ev |= SEL_IN;
        }
        if sets[1].has(fd) {
            ev |= SEL_OUT;
        }
        if sets[2].has(fd) {
            ev |= SEL_EX;
        }
        items.push(Polled { file: Some(f), events: ev });
    }
    let revents = wait(t, &items, deadline)?;
    let mut out = [FdSet::zeroed(nfds), FdSet::zeroed(nfds), FdSet::zeroed(nfds)];
    for (&fd, r) in fds.iter().zip(revents) {
        if sets[0].has(fd) && r & SEL_IN != 0 {
            out[0].set(fd);
        }
        if sets[1].has(fd) && r & SEL_OUT != 0 {
            out[1].set(fd);
        }
        if sets[2].has(fd) && r & SEL_EX != 0 {
            out[2].set(fd);
        }
    }
    let n: u32 = out.iter().map(|s| s.count()).sum();
    for (i, p) in ptrs.iter().enumerate() {
        if *p != 0 {
            t.mm.copy_out(*p, &out[i].to_bytes())?;
        }
    }
    Ok(n as u64)
}

#[repr(C)]
#[derive(Clone, Copy, Default, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
struct Timeval {
    sec: i64,
    usec: i64,
}

fn select(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let tvp = a.u64(4);
    let d = if tvp == 0 {
        None
    } else {
        let tv: Timeval = t.mm.read_obj(tvp)?;
        if tv.sec < 0 || tv.usec < 0 {
            return Err(Errno::EINVAL);
        }
        // Linux normalises large usec values.
        let total = (tv.sec as u128) * 1_000_000 + tv.usec as u128;
        Some(Duration::from_micros(total.min(u64::MAX as u128) as u64))
    };
    let deadline = deadline_of(d);
    let r = do_select(t, a.i32(0), [a.u64(1), a.u64(2), a.u64(3)], deadline);
    if let (Some(dl), Ok(_) | Err(Errno::ERESTARTSYS)) = (deadline, &r) {
        let left = dl.saturating_duration_since(Instant::now());
        let _ = t.mm.write_obj(tvp, &Timeval { sec: left.as_secs() as i64, usec: left.subsec_micros() as i64 });
    }
    match r {
        Err(Errno::ERESTARTSYS) => Err(Errno::ERESTARTNOHAND),
        r => r,
    }
}

fn pselect6(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let tsp = a.u64(4);
    let d = if tsp == 0 { None } else { Some(timespec_dur(t.mm.read_obj(tsp)?)?) };
    let deadline = deadline_of(d);
    // The 6th argument: { const sigset_t *ss; size_t ss_len; }.
    let (ss, ss_len) = if a.u64(5) == 0 {
        (0, 0)
    } else {
        let v: [u64; 2] = t.mm.read_obj(a.u64(5))?;
        (v[0], v[1])
    };
    let old = set_temp_mask(t, ss, ss_len)?;
    let r = do_select(t, a.i32(0), [a.u64(1), a.u64(2), a.u64(3)], deadline);
    if let (Some(dl), Ok(_) | Err(Errno::ERESTARTSYS)) = (deadline, &r) {
        let left = dl.saturating_duration_since(Instant::now());
        let _ = t.mm.write_obj(tsp, &Timespec { sec: left.as_secs() as i64, nsec: left.subsec_nanos() as i64 });
    }
    finish_temp_mask(t, old, r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timespec_validation() {
        assert_eq!(timespec_dur(Timespec { sec: 1, nsec: 5 }), Ok(Duration::new(1, 5)));
        assert_eq!(timespec_dur(Timespec { sec: -1, nsec: 0 }), Err(Errno::EINVAL));
        assert_eq!(timespec_dur(Timespec { sec: 0, nsec: 1_000_000_000 }), Err(Errno::EINVAL));
    }
}
