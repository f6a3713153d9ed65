//! Signal syscalls.

use std::time::Instant;

use abi::{Errno, SysResult};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::{sc, Args, Entry};
use crate::signal::{self, AltStack, Pending, SigAction, SigInfo, SigSet, SS_DISABLE, SS_ONSTACK};
use crate::task::run::Thread;
use crate::task::Task;

pub static ENTRIES: &[Entry] = &[
    sc!(SYS_rt_sigaction, rt_sigaction),
    sc!(SYS_rt_sigprocmask, rt_sigprocmask),
    sc!(SYS_rt_sigreturn, rt_sigreturn),
    sc!(SYS_rt_sigpending, rt_sigpending),
    sc!(SYS_rt_sigsuspend, rt_sigsuspend),
    sc!(SYS_rt_sigtimedwait, rt_sigtimedwait),
    sc!(SYS_rt_sigqueueinfo, rt_sigqueueinfo),
    sc!(SYS_rt_tgsigqueueinfo, rt_tgsigqueueinfo),
    sc!(SYS_sigaltstack, sigaltstack),
    sc!(SYS_kill, kill),
    sc!(SYS_tkill, tkill),
    sc!(SYS_tgkill, tgkill),
    sc!(SYS_pause, pause),
];

fn check_sigsetsize(a: &Args, i: usize) -> SysResult<()> {
    if a.u64(i) != 8 {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

fn rt_sigaction(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let sig = a.i32(0);
    check_sigsetsize(a, 3)?;
    if !signal::valid(sig) {
        return Err(Errno::EINVAL);
    }
    let new: Option<SigAction> = if a.u64(1) != 0 { Some(t.mm.read_obj(a.u64(1))?) } else { None };
    if new.is_some() && (sig == signal::SIGKILL || sig == signal::SIGSTOP) {
        return Err(Errno::EINVAL);
    }
    let old = {
        let mut acts = t.task.tg.actions.lock().unwrap();
        let old = acts[(sig - 1) as usize];
        if let Some(mut n) = new {
            n.mask = SigSet(n.mask).unblockable().0;
            acts[(sig - 1) as usize] = n;
        }
        old
    };
    if let Some(n) = new {
        let ignored = n.handler == signal::SIG_IGN
            || (n.handler == signal::SIG_DFL && matches!(signal::default_action(sig), signal::DefaultAction::Ignore));
        if ignored {
            discard_everywhere(&t.task, SigSet::of(sig));
        }
    }
    if a.u64(2) != 0 {
        t.mm.write_obj(a.u64(2), &old)?;
    }
    Ok(0)
}

/// Drop pending instances of `set` from the group and all its threads.
fn discard_everywhere(task: &Task, set: SigSet) {
    task.tg.pending.lock().unwrap().discard(set);
    let threads: Vec<_> = {
        let p = task.k.procs();
        p.st(task.tg.tgid).map(|s| s.threads.iter().filter_map(|t| p.tasks.get(t).cloned()).collect()).unwrap_or_default()
    };
    for th in threads {
        th.sig().pending.discard(set);
    }
}

fn rt_sigprocmask(t: &mut Thread, a: &Args) -> SysResult<u64> {
    check_sigsetsize(a, 3)?;
    let how = a.i32(0);
    let new: Option<u64> = if a.u64(1) != 0 { Some(t.mm.read_obj(a.u64(1))?) } else { None };
    let old = t.task.sig().mask;
    if let Some(n) = new {
        let m = match how {
            libc::SIG_BLOCK => old.0 | n,
            libc::SIG_UNBLOCK => old.0 & !n,
            libc::SIG_SETMASK => n,
            _ => return Err(Errno::EINVAL),
        };
        t.task.sig().mask = SigSet(m).unblockable();
    }
    if a.u64(2) != 0 {
        t.mm.write_obj(a.u64(2), &old.0)?;
    }
    Ok(0)
}

fn rt_sigreturn(t: &mut Thread, _: &Args) -> SysResult<u64> {
    t.sigreturn()
}

fn rt_sigpending(t: &mut Thread, a: &Args) -> SysResult<u64> {
    if a.u64(1) != 8 {
        return Err(Errno::EINVAL);
    }
    let set = {
        let s = t.task.sig();
        let g = t.task.tg.pending.lock().unwrap();
        (s.pending.set.0 | g.set.0) & s.mask.0
    };
    t.mm.write_obj(a.u64(0), &set)?;
    Ok(0)
}

fn rt_sigsuspend(t: &mut Thread, a: &Args) -> SysResult<u64> {
    check_sigsetsize(a, 1)?;
    let mask: u64 = t.mm.read_obj(a.u64(0))?;
    {
        let mut s = t.task.sig();
        let old = s.mask;
        s.saved_mask = Some(old);
        s.mask = SigSet(mask).unblockable();
    }
    let _ = t.wait_event::<u64>(&[], 0, &[], None, |_| None);
    Err(Errno::ERESTARTNOHAND)
}

fn pause(t: &mut Thread, _: &Args) -> SysResult<u64> {
    let _ = t.wait_event::<u64>(&[], 0, &[], None, |_| None);
    Err(Errno::ERESTARTNOHAND)
}

#[repr(C)]
#[derive(Clone, Copy, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
struct Timespec {
    sec: i64,
    nsec: i64,
}

pub(crate) fn read_timespec(t: &Thread, addr: u64) -> SysResult<std::time::Duration> {
    let ts: Timespec = t.mm.read_obj(addr)?;
    if ts.sec < 0 || !(0..1_000_000_000).contains(&ts.nsec) {
        return Err(Errno::EINVAL);
    }
    Ok(std::time::Duration::new(ts.sec as u64, ts.nsec as u32))
}

fn take_from(p: &mut Pending, set: SigSet) -> Option<SigInfo> {
    let avail = p.set.0 & set.0;
    if avail == 0 {
        return None;
    }
    p.take(avail.trailing_zeros() as i32 + 1)
}

fn rt_sigtimedwait(t: &mut Thread, a: &Args) -> SysResult<u64> {
    check_sigsetsize(a, 3)?;
    let set = SigSet(t.mm.read_obj::<u64>(a.u64(0))?).unblockable();
    let deadline = if a.u64(2) != 0 { Some(Instant::now() + read_timespec(t, a.u64(2))?) } else { None };
    let task = t.task.clone();
    // While waiting, the signals in `set` are effectively unblocked for us
    // but must not be delivered to a handler: check them first each time.
    let r = t.wait_event(&[], 0, &[], deadline, |_| {
        let mut s = task.sig();
        if let Some(i) = take_from(&mut s.pending, set) {
            return Some(Ok(i));
        }
        drop(s);
        take_from(&mut task.tg.pending.lock().unwrap(), set).map(Ok)
    });
    match r {
        Ok(info) => {
            if a.u64(1) != 0 {
                t.mm.write_obj(a.u64(1), &info)?;
            }
            Ok(info.signo as u64)
        }
        Err(Errno::ETIMEDOUT) => Err(Errno::EAGAIN),
        Err(Errno::ERESTARTSYS) => Err(Errno::EINTR),
        Err(e) => Err(e),
    }
}

#[repr(C)]
#[derive(Clone, Copy, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
struct StackT {
    sp: u64,
    flags: i32,
    _pad: i32,
    size: u64,
}

fn sigaltstack(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let cur = t.task.sig().altstack;
    let on = cur.on_stack(t.regs.rsp);
    if a.u64(0) != 0 {
        let n: StackT = t.mm.read_obj(a.u64(0))?;
        if on {
            return Err(Errno::EPERM);
        }
        let flags = n.flags & !(1 << 31); // SS_AUTODISARM accepted
        if flags != 0 && flags != SS_DISABLE && flags != SS_ONSTACK {
            return Err(Errno::EINVAL);
        }
        let new = if flags == SS_DISABLE {
            AltStack { sp: 0, flags: SS_DISABLE, size: 0 }
        } else {
            if n.size < 2048 {
                return Err(Errno::ENOMEM);
            }
            AltStack { sp: n.sp, flags: 0, size: n.size }
        };
        t.task.sig().altstack = new;
    }
    if a.u64(1) != 0 {
        let flags = if on { SS_ONSTACK } else if cur.size == 0 { SS_DISABLE } else { cur.flags };
        t.mm.write_obj(a.u64(1), &StackT { sp: cur.sp, flags, _pad: 0, size: cur.size })?;
    }
    Ok(0)
}

/// Whether the caller may signal a process with `target` credentials.
fn may_signal(t: &Thread, target: &crate::task::ThreadGroup, sig: i32) -> bool {
    let me = t.task.tg.creds();
    let them = target.creds();
    if me.euid == 0 {
        return true;
    }
    if sig == signal::SIGCONT {
        let p = t.task.k.procs();
        if p.st(t.task.tg.tgid).map(|s| s.sid) == p.st(target.tgid).map(|s| s.sid) {
            return true;
        }
    }
    me.euid == them.uid || me.uid == them.uid || me.euid == them.euid || me.uid == them.euid
}

fn kill(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let (pid, sig) = (a.i32(0), a.i32(1));
    if sig != 0 && !signal::valid(sig) {
        return Err(Errno::EINVAL);
    }
    let k = t.task.k.clone();
    let me = t.task.tg.tgid;
    let targets: Vec<i32> = {
        let p = k.procs();
        match pid {
            p_ if p_ > 0 => {
                // A zombie still exists: signalling it succeeds (and does
                // nothing).
                let tgid = p.tasks.get(&p_).map(|x| x.tg.tgid).or_else(|| p.state.contains_key(&p_).then_some(p_)).ok_or(Errno::ESRCH)?;
                vec![tgid]
            }
            0 => p.pgrp_members(p.st(me).map(|s| s.pgid).unwrap_or(0)),
            -1 => p.state.iter().filter(|(t, s)| **t != 1 && **t != me && s.zombie.is_none()).map(|(t, _)| *t).collect(),
            _ if pid == i32::MIN => return Err(Errno::ESRCH),
            _ => p.pgrp_members(-pid),
        }
    };
    if targets.is_empty() {
        return Err(Errno::ESRCH);
    }
    let uid = t.task.tg.creds().uid;
    let mut sent = 0;
    let mut denied = false;
    for tgid in targets {
        let Some(tg) = k.procs().groups.get(&tgid).cloned() else { continue };
        if k.procs().st(tgid).is_some_and(|s| s.zombie.is_some()) {
            sent += 1;
            continue;
        }
        if !may_signal(t, &tg, sig) {
            denied = true;
            continue;
        }
        sent += 1;
        if sig != 0 {
            tg.send(&k, SigInfo::from_user(sig, signal::SI_USER, me, uid));
        }
    }
    if sent == 0 {
        return Err(if denied { Errno::EPERM } else { Errno::ESRCH });
    }
    Ok(0)
}

fn thread_kill(t: &mut Thread, tgid: Option<i32>, tid: i32, sig: i32, info: Option<SigInfo>) -> SysResult<u64> {
    if tid <= 0 || tgid.is_some_and(|g| g <= 0) {
        return Err(Errno::EINVAL);
    }
    if sig != 0 && !signal::valid(sig) {
        return Err(Errno::EINVAL);
    }
    let task = t.task.k.procs().tasks.get(&tid).cloned().ok_or(Errno::ESRCH)?;
    if tgid.is_some_and(|g| g != task.tg.tgid) {
        return Err(Errno::ESRCH);
    }
    if !may_signal(t, &task.tg, sig) {
        return Err(Errno::EPERM);
    }
    if sig != 0 {
        let info = info.unwrap_or_else(|| SigInfo::from_user(sig, signal::SI_TKILL, t.task.tg.tgid, t.task.tg.creds().uid));
        task.send(info);
    }
    Ok(0)
}

fn tkill(t: &mut Thread, a: &Args) -> SysResult<u64> {
    thread_kill(t, None, a.i32(0), a.i32(1), None)
}

fn tgkill(t: &mut Thread, a: &Args) -> SysResult<u64> {
    thread_kill(t, Some(a.i32(0)), a.i32(1), a.i32(2), None)
}

fn user_info(t: &Thread, target: i32, sig: i32, addr: u64) -> SysResult<SigInfo> {
    let mut info: SigInfo = t.mm.read_obj(addr)?;
    if (info.code >= 0 || info.code == signal::SI_TKILL) && target != t.task.tg.tgid {
        return Err(Errno::EPERM);
    }
    info.signo = sig;
    Ok(info)
}

fn rt_sigqueueinfo(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let (pid, sig) = (a.i32(0), a.i32(1));
    if !signal::valid(sig) {
        return Err(Errno::EINVAL);
    }
    let info = user_info(t, pid, sig, a.u64(2))?;
    let k = t.task.k.clone();
    let tg = k.procs().tasks.get(&pid).map(|x| x.tg.clone()).ok_or(Errno::ESRCH)?;
    if !may_signal(t, &tg, sig) {
        return Err(Errno::EPERM);
    }
    tg.send(&k, info);
    Ok(0)
}

fn rt_tgsigqueueinfo(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let (tgid, tid, sig) = (a.i32(0), a.i32(1), a.i32(2));
    if !signal::valid(sig) {
        return Err(Errno::EINVAL);
    }
    let info = user_info(t, tgid, sig, a.u64(3))?;
    thread_kill(t, Some(tgid), tid, sig, Some(info))
}
