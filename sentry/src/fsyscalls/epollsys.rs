//! The epoll syscalls.

use std::sync::Arc;
use std::time::Instant;

use abi::{Errno, SysResult};

use super::epoll::{ms_deadline, Epoll, Event};
use super::poll::{finish_temp_mask, set_temp_mask, timespec_dur, Timespec};
use super::util::install;
use crate::syscalls::{sc, Args, Entry};
use crate::task::run::Thread;

pub static ENTRIES: &[Entry] = &[
    sc!(SYS_epoll_create, epoll_create),
    sc!(SYS_epoll_create1, epoll_create1),
    sc!(SYS_epoll_ctl, epoll_ctl, "EPOLLEXCLUSIVE is accepted but wakes every waiter; EPOLLET on host-fd files (stdio ttys) is level-triggered"),
    sc!(SYS_epoll_wait, epoll_wait),
    sc!(SYS_epoll_pwait, epoll_pwait),
    sc!(SYS_epoll_pwait2, epoll_pwait2),
];

fn create(t: &mut Thread, cloexec: bool) -> SysResult<u64> {
    let f = super::anon::file(Arc::new(Epoll::new()), false);
    install(t, f, cloexec)
}

fn epoll_create(t: &mut Thread, a: &Args) -> SysResult<u64> {
    if a.i32(0) <= 0 {
        return Err(Errno::EINVAL);
    }
    create(t, false)
}

fn epoll_create1(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let flags = a.i32(0);
    if flags & !libc::EPOLL_CLOEXEC != 0 {
        return Err(Errno::EINVAL);
    }
    create(t, flags != 0)
}

/// Parse a packed `struct epoll_event` (12 bytes).
pub fn parse_event(b: &[u8; 12]) -> (u32, u64) {
    let ev = u32::from_ne_bytes([b[0], b[1], b[2], b[3]]);
    let mut d = [0u8; 8];
    d.copy_from_slice(&b[4..12]);
    (ev, u64::from_ne_bytes(d))
}

pub fn encode_events(ev: &[Event]) -> Vec<u8> {
    let mut out = Vec::with_capacity(ev.len() * 12);
    for e in ev {
        out.extend_from_slice(&e.events.to_ne_bytes());
        out.extend_from_slice(&e.data.to_ne_bytes());
    }
    out
}

fn epoll_ctl(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let (epfd, op, fd, evp) = (a.i32(0), a.i32(1), a.i32(2), a.u64(3));
    let mut ev = (0, 0);
    if op != libc::EPOLL_CTL_DEL {
        let mut b = [0u8; 12];
        t.mm.copy_in(evp, &mut b)?;
        ev = parse_event(&b);
    }
    let files = t.task.files();
    let epf = files.get_io(epfd)?;
    let target = files.get_io(fd)?;
    let ep = epf.ops().as_any().downcast_ref::<Epoll>().ok_or(Errno::EINVAL)?;
    if epfd == fd || Arc::ptr_eq(&epf, &target) {
        return Err(Errno::EINVAL);
    }
    // Files without poll support (regular files, directories).
    let st = target.stat()?;
    if matches!(st.mode & libc::S_IFMT, libc::S_IFREG | libc::S_IFDIR) {
        return Err(Errno::EPERM);
    }
    match op {
        libc::EPOLL_CTL_ADD => ep.add(fd, &target, ev.0, ev.1),
        libc::EPOLL_CTL_MOD => ep.modify(fd, &target, ev.0, ev.1),
        libc::EPOLL_CTL_DEL => ep.delete(fd, &target),
        _ => Err(Errno::EINVAL),
    }
    .map(|_| 0)
}

const MAX_EVENTS: i32 = i32::MAX / 12;

fn do_wait(t: &mut Thread, epfd: i32, evp: u64, max: i32, deadline: Option<Instant>) -> SysResult<u64> {
    if max <= 0 || max > MAX_EVENTS {
        return Err(Errno::EINVAL);
    }
    let f = t.task.files().get_io(epfd)?;
    let ep = f.ops().as_any().downcast_ref::<Epoll>().ok_or(Errno::EINVAL)?;
    // EFAULT before waiting if the buffer cannot take one event.
    t.mm.copy_in(evp, &mut [0u8; 12])?;
    let ev = ep.wait(t, max as usize, deadline)?;
    t.mm.copy_out(evp, &encode_events(&ev))?;
    Ok(ev.len() as u64)
}

fn epoll_wait(t: &mut Thread, a: &Args) -> SysResult<u64> {
    do_wait(t, a.i32(0), a.u64(1), a.i32(2), ms_deadline(a.i32(3)))
}

fn epoll_pwait(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let deadline = ms_deadline(a.i32(3));
    let old = set_temp_mask(t, a.u64(4), a.u64(5))?;
    let r = do_wait(t, a.i32(0), a.u64(1), a.i32(2), deadline);
    finish_temp_mask(t, old, r)
}

fn epoll_pwait2(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let deadline = if a.u64(3) == 0 {
        None
    } else {
        let ts: Timespec = t.mm.read_obj(a.u64(3))?;
        let d = timespec_dur(ts)?;
        Some(Instant::now() + d)
    };
    let old = set_temp_mask(t, a.u64(4), a.u64(5))?;
    let r = do_wait(t, a.i32(0), a.u64(1), a.i32(2), deadline);
    finish_temp_mask(t, old, r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_event_layout() {
        let b = encode_events(&[Event { events: 5, data: 0x1122_3344_5566_7788 }]);
        assert_eq!(b.len(), 12);
        let arr: [u8; 12] = b.try_into().unwrap();
        assert_eq!(parse_event(&arr), (5, 0x1122_3344_5566_7788));
    }
}
