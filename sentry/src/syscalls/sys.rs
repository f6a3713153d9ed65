//! System information, identity, limits and other per-process settings.

use std::sync::atomic::Ordering;

use abi::{Errno, SysResult};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::{sc, Args, Entry};
use crate::task::run::Thread;
use crate::task::{Rlimit, RLIMIT_NLIMITS, RLIM_INFINITY};

pub static ENTRIES: &[Entry] = &[
    sc!(SYS_uname, uname),
    sc!(SYS_sysinfo, sysinfo),
    sc!(SYS_getrandom, getrandom),
    sc!(SYS_arch_prctl, arch_prctl, "ARCH_SET_FS/GET_FS/SET_GS/GET_GS; CPUID faulting not supported"),
    sc!(SYS_prctl, prctl, "NAME, PDEATHSIG, NO_NEW_PRIVS, DUMPABLE, KEEPCAPS, CHILD_SUBREAPER, TIMERSLACK, CAPBSET_READ/DROP"),
    sc!(SYS_getrlimit, getrlimit),
    sc!(SYS_setrlimit, setrlimit, "limits are recorded; NOFILE, STACK, FSIZE are enforced"),
    sc!(SYS_prlimit64, prlimit64),
    sc!(SYS_getuid, getuid),
    sc!(SYS_geteuid, geteuid),
    sc!(SYS_getgid, getgid),
    sc!(SYS_getegid, getegid),
    sc!(SYS_getresuid, getresuid),
    sc!(SYS_getresgid, getresgid),
    sc!(SYS_setuid, setuid),
    sc!(SYS_setgid, setgid),
    sc!(SYS_setreuid, setreuid),
    sc!(SYS_setregid, setregid),
    sc!(SYS_setresuid, setresuid),
    sc!(SYS_setresgid, setresgid),
    sc!(SYS_setfsuid, setfsuid),
    sc!(SYS_setfsgid, setfsgid),
    sc!(SYS_getgroups, getgroups),
    sc!(SYS_setgroups, setgroups),
    sc!(SYS_sched_yield, sched_yield),
    sc!(SYS_sched_getaffinity, sched_getaffinity, "masks are recorded per task, not applied to host threads"),
    sc!(SYS_sched_setaffinity, sched_setaffinity, "masks are recorded per task, not applied to host threads"),
    sc!(SYS_getcpu, getcpu, "the lowest CPU of the affinity mask, node 0"),
    sc!(SYS_sched_getscheduler, sched_getscheduler, "always SCHED_OTHER"),
    sc!(SYS_sched_setscheduler, sched_setscheduler, "SCHED_OTHER/BATCH/IDLE accepted; real-time policies EPERM"),
    sc!(SYS_sched_getparam, sched_getparam),
    sc!(SYS_sched_setparam, sched_setparam),
    sc!(SYS_sched_get_priority_max, sched_get_priority_max),
    sc!(SYS_sched_get_priority_min, sched_get_priority_min),
    sc!(SYS_sched_rr_get_interval, sched_rr_get_interval),
    sc!(SYS_getpriority, getpriority, "nice values are recorded, not applied"),
    sc!(SYS_setpriority, setpriority, "nice values are recorded, not applied"),
    sc!(SYS_sethostname, sethostname),
    sc!(SYS_setdomainname, setdomainname),
    sc!(SYS_getrusage, getrusage, "only CPU times are filled in"),
    sc!(SYS_personality, personality, "only the PER_LINUX domain; flags are recorded"),
    sc!(SYS_capget, capget, "capability sets are the workload's view: the Sentry's checks treat fsuid 0 as privileged"),
    sc!(SYS_capset, capset, "as capget"),
];

#[repr(C)]
#[derive(FromBytes, IntoBytes, Immutable, KnownLayout)]
struct Utsname {
    f: [[u8; 65]; 6],
}

fn field(s: &str) -> [u8; 65] {
    let mut b = [0u8; 65];
    let n = s.len().min(64);
    b[..n].copy_from_slice(&s.as_bytes()[..n]);
    b
}

/// The kernel release the sandbox reports.
pub const RELEASE: &str = "4.4.0";
pub const VERSION: &str = "#1 SMP Sun Jan 10 15:06:54 PST 2016";

fn uname(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let host = t.task.k.hostname.lock().unwrap().clone();
    let u = Utsname { f: [field("Linux"), field(&host), field(RELEASE), field(VERSION), field("x86_64"), field(&t.task.k.domainname())] };
    t.mm.write_obj(a.u64(0), &u)?;
    Ok(0)
}

#[repr(C)]
#[derive(Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
struct Sysinfo {
    uptime: i64,
    loads: [u64; 3],
    totalram: u64,
    freeram: u64,
    sharedram: u64,
    bufferram: u64,
    totalswap: u64,
    freeswap: u64,
    procs: u16,
    _pad: [u16; 3],
    totalhigh: u64,
    freehigh: u64,
    mem_unit: u32,
    _f: [u8; 4],
}

fn sysinfo(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let total = t.task.k.pages.mem().size().min(8 << 30);
    let used = t.task.k.pages.used_bytes();
    let procs = t.task.k.procs().tasks.len() as u16;
    let s = Sysinfo {
        uptime: super::time::clock_now(t, libc::CLOCK_BOOTTIME)?.as_secs() as i64,
        totalram: total,
        freeram: total.saturating_sub(used),
        procs,
        mem_unit: 1,
        ..Default::default()
    };
    t.mm.write_obj(a.u64(0), &s)?;
    Ok(0)
}

fn getrandom(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let flags = a.u32(2);
    if flags & !(libc::GRND_NONBLOCK | libc::GRND_RANDOM | libc::GRND_INSECURE) != 0 {
        return Err(Errno::EINVAL);
    }
    let len = a.usize(1).min(32 << 20);
    let mut buf = vec![0u8; len];
    crate::task::exec::getrandom(&mut buf);
    t.mm.copy_out(a.u64(0), &buf)?;
    Ok(len as u64)
}

fn arch_prctl(t: &mut Thread, a: &Args) -> SysResult<u64> {
    const ARCH_SET_GS: i32 = 0x1001;
    const ARCH_SET_FS: i32 = 0x1002;
    const ARCH_GET_FS: i32 = 0x1003;
    const ARCH_GET_GS: i32 = 0x1004;
    let canonical = |v: u64| v < 0x0000_8000_0000_0000;
    match a.i32(0) {
        ARCH_SET_FS => {
            if !canonical(a.u64(1)) {
                return Err(Errno::EPERM);
            }
            t.regs.fs_base = a.u64(1);
            Ok(0)
        }
        ARCH_SET_GS => {
            if !canonical(a.u64(1)) {
                return Err(Errno::EPERM);
            }
            t.regs.gs_base = a.u64(1);
            Ok(0)
        }
        ARCH_GET_FS => t.mm.write_obj(a.u64(1), &t.regs.fs_base).map(|_| 0),
        ARCH_GET_GS => t.mm.write_obj(a.u64(1), &t.regs.gs_base).map(|_| 0),
        _ => Err(Errno::EINVAL),
    }
}

fn prctl(t: &mut Thread, a: &Args) -> SysResult<u64> {
    match a.i32(0) {
        libc::PR_SET_NAME => {
            let mut name = t.mm.read_cstring(a.u64(1), 4096).or_else(|e| if e == Errno::ENAMETOOLONG { Ok(vec![]) } else { Err(e) })?;
            name.truncate(15);
            *t.task.comm.lock().unwrap() = name;
            Ok(0)
        }
        libc::PR_GET_NAME => {
            let mut b = [0u8; 16];
            let c = t.task.comm.lock().unwrap().clone();
            b[..c.len().min(15)].copy_from_slice(&c[..c.len().min(15)]);
            t.mm.copy_out(a.u64(1), &b)?;
            Ok(0)
        }
        libc::PR_SET_PDEATHSIG => {
            let s = a.i32(1);
            if s != 0 && !crate::signal::valid(s) {
                return Err(Errno::EINVAL);
            }
            t.task.tg.pdeath_signal.store(s, Ordering::SeqCst);
            Ok(0)
        }
        libc::PR_GET_PDEATHSIG => t.mm.write_obj(a.u64(1), &t.task.tg.pdeath_signal.load(Ordering::SeqCst)).map(|_| 0),
        libc::PR_SET_NO_NEW_PRIVS => {
            if a.u64(1) != 1 || a.u64(2) != 0 || a.u64(3) != 0 || a.u64(4) != 0 {
                return Err(Errno::EINVAL);
            }
            t.task.tg.no_new_privs.store(true, Ordering::SeqCst);
            Ok(0)
        }
        libc::PR_GET_NO_NEW_PRIVS => {
            if a.u64(1) != 0 || a.u64(2) != 0 || a.u64(3) != 0 || a.u64(4) != 0 {
                return Err(Errno::EINVAL);
            }
            Ok(t.task.tg.no_new_privs.load(Ordering::SeqCst) as u64)
        }
        libc::PR_SET_DUMPABLE => {
            if a.u64(1) > 1 {
                return Err(Errno::EINVAL);
            }
            t.task.tg.dumpable.store(a.u64(1) == 1, Ordering::SeqCst);
            Ok(0)
        }
        libc::PR_GET_DUMPABLE => Ok(t.task.tg.dumpable.load(Ordering::SeqCst) as u64),
        libc::PR_SET_KEEPCAPS => {
            if a.u64(1) > 1 {
                return Err(Errno::EINVAL);
            }
            t.task.tg.keepcaps.store(a.u64(1) == 1, Ordering::SeqCst);
            Ok(0)
        }
        libc::PR_GET_KEEPCAPS => Ok(t.task.tg.keepcaps.load(Ordering::SeqCst) as u64),
        libc::PR_SET_CHILD_SUBREAPER => {
            t.task.tg.subreaper.store(a.u64(1) != 0, Ordering::SeqCst);
            Ok(0)
        }
        libc::PR_GET_CHILD_SUBREAPER => {
            t.mm.write_obj(a.u64(1), &(t.task.tg.subreaper.load(Ordering::SeqCst) as i32))?;
            Ok(0)
        }
        libc::PR_CAPBSET_READ => {
            let cap = a.u64(1);
            if cap > crate::task::CAP_LAST_CAP as u64 {
                return Err(Errno::EINVAL);
            }
            Ok((t.task.tg.capbset.load(Ordering::SeqCst) >> cap) & 1)
        }
        libc::PR_CAPBSET_DROP => {
            let cap = a.u64(1);
            if cap > crate::task::CAP_LAST_CAP as u64 {
                return Err(Errno::EINVAL);
            }
            if t.task.tg.creds().euid != 0 {
                return Err(Errno::EPERM);
            }
            t.task.tg.capbset.fetch_and(!(1u64 << cap), Ordering::SeqCst);
            Ok(0)
        }
        libc::PR_SET_TIMERSLACK => {
            let v = a.u64(1);
            t.task.timerslack.store(if v == 0 { 50_000 } else { v }, Ordering::Relaxed);
            Ok(0)
        }
        libc::PR_GET_TIMERSLACK => Ok(t.task.timerslack.load(Ordering::Relaxed)),
        libc::PR_GET_SECCOMP => Ok(0),
        _ => Err(Errno::EINVAL),
    }
}

#[repr(C)]
#[derive(Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
struct RawRlimit {
    cur: u64,
    max: u64,
}

fn check_resource(r: u32) -> SysResult<()> {
    if r as usize >= RLIMIT_NLIMITS {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

fn getrlimit(t: &mut Thread, a: &Args) -> SysResult<u64> {
    check_resource(a.u32(0))?;
    let l = t.task.tg.rlimit(a.u32(0));
    t.mm.write_obj(a.u64(1), &RawRlimit { cur: l.cur, max: l.max })?;
    Ok(0)
}

fn set_limit(t: &Thread, tg: &crate::task::ThreadGroup, r: u32, new: RawRlimit) -> SysResult<()> {
    if new.cur > new.max {
        return Err(Errno::EINVAL);
    }
    if r == libc::RLIMIT_NOFILE as u32 && new.max != RLIM_INFINITY && new.max > 1048576 {
        return Err(Errno::EPERM);
    }
    let mut l = tg.limits.lock().unwrap();
    let old = l[r as usize];
    if new.max > old.max && t.task.tg.creds().euid != 0 {
        return Err(Errno::EPERM);
    }
    l[r as usize] = Rlimit { cur: new.cur, max: new.max };
    Ok(())
}

fn setrlimit(t: &mut Thread, a: &Args) -> SysResult<u64> {
    check_resource(a.u32(0))?;
    let new: RawRlimit = t.mm.read_obj(a.u64(1))?;
    let tg = t.task.tg.clone();
    set_limit(t, &tg, a.u32(0), new).map(|_| 0)
}

fn prlimit64(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let (pid, r) = (a.i32(0), a.u32(1));
    check_resource(r)?;
    let tg = if pid == 0 { t.task.tg.clone() } else { t.task.k.procs().tasks.get(&pid).map(|x| x.tg.clone()).ok_or(Errno::ESRCH)? };
    let old = tg.rlimit(r);
    if a.u64(2) != 0 {
        let new: RawRlimit = t.mm.read_obj(a.u64(2))?;
        set_limit(t, &tg, r, new)?;
    }
    if a.u64(3) != 0 {
        t.mm.write_obj(a.u64(3), &RawRlimit { cur: old.cur, max: old.max })?;
    }
    Ok(0)
}

fn getuid(t: &mut Thread, _: &Args) -> SysResult<u64> {
    Ok(t.task.tg.creds().uid as u64)
}
fn geteuid(t: &mut Thread, _: &Args) -> SysResult<u64> {
    Ok(t.task.tg.creds().euid as u64)
}
fn getgid(t: &mut Thread, _: &Args) -> SysResult<u64> {
    Ok(t.task.tg.creds().gid as u64)
}
fn getegid(t: &mut Thread, _: &Args) -> SysResult<u64> {
    Ok(t.task.tg.creds().egid as u64)
}

fn getresuid(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let c = t.task.tg.creds();
    let saved = *t.task.tg.saved_ids.lock().unwrap();
    t.mm.write_obj(a.u64(0), &c.uid)?;
    t.mm.write_obj(a.u64(1), &c.euid)?;
    t.mm.write_obj(a.u64(2), &saved.0)?;
    Ok(0)
}

fn getresgid(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let c = t.task.tg.creds();
    let saved = *t.task.tg.saved_ids.lock().unwrap();
    t.mm.write_obj(a.u64(0), &c.gid)?;
    t.mm.write_obj(a.u64(1), &c.egid)?;
    t.mm.write_obj(a.u64(2), &saved.1)?;
    Ok(0)
}

const KEEP: u32 = u32::MAX;

/// setresuid/setresgid core: privileged callers may set anything; others
/// only to one of their current real/effective/saved ids.
fn set_ids(t: &Thread, uid: bool, r: u32, e: u32, s: u32) -> SysResult<u64> {
    let tg = &t.task.tg;
    let mut c = tg.creds.lock().unwrap();
    let mut saved = tg.saved_ids.lock().unwrap();
    let privileged = c.euid == 0;
    let (cur_r, cur_e, cur_s) = if uid { (c.uid, c.euid, saved.0) } else { (c.gid, c.egid, saved.1) };
    let ok = |v: u32| v == KEEP || privileged || v == cur_r || v == cur_e || v == cur_s;
    if !(ok(r) && ok(e) && ok(s)) {
        return Err(Errno::EPERM);
    }
    let pick = |v: u32, cur: u32| if v == KEEP { cur } else { v };
    let (nr, ne, ns) = (pick(r, cur_r), pick(e, cur_e), pick(s, cur_s));
    if uid {
        let keep = tg.keepcaps.load(Ordering::SeqCst);
        tg.caps.lock().unwrap().on_setuid((cur_r, cur_e, cur_s), (nr, ne, ns), keep);
    }
    if uid {
        c.uid = nr;
        c.euid = ne;
        c.fsuid = ne;
        saved.0 = ns;
    } else {
        c.gid = nr;
        c.egid = ne;
        c.fsgid = ne;
        saved.1 = ns;
    }
    Ok(0)
}

fn setresuid(t: &mut Thread, a: &Args) -> SysResult<u64> {
    set_ids(t, true, a.u32(0), a.u32(1), a.u32(2))
}
fn setresgid(t: &mut Thread, a: &Args) -> SysResult<u64> {
    set_ids(t, false, a.u32(0), a.u32(1), a.u32(2))
}

fn setuid(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let v = a.u32(0);
    if v == KEEP {
        return Err(Errno::EINVAL);
    }
    if t.task.tg.creds().euid == 0 {
        set_ids(t, true, v, v, v)
    } else {
        set_ids(t, true, KEEP, v, KEEP)
    }
}

fn setgid(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let v = a.u32(0);
    if v == KEEP {
        return Err(Errno::EINVAL);
    }
    if t.task.tg.creds().euid == 0 {
        set_ids(t, false, v, v, v)
    } else {
        set_ids(t, false, KEEP, v, KEEP)
    }
}

fn setreuid(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let (r, e) = (a.u32(0), a.u32(1));
    // The saved id follows the new effective id when the real id is set
    // or the effective id changes to something other than the real id.
    let c = t.task.tg.creds();
    let s = if r != KEEP || (e != KEEP && e != c.uid) { if e != KEEP { e } else { c.euid } } else { KEEP };
    set_ids(t, true, r, e, s)
}

fn setregid(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let (r, e) = (a.u32(0), a.u32(1));
    let c = t.task.tg.creds();
    let s = if r != KEEP || (e != KEEP && e != c.gid) { if e != KEEP { e } else { c.egid } } else { KEEP };
    set_ids(t, false, r, e, s)
}

fn setfsuid(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let mut c = t.task.tg.creds.lock().unwrap();
    let old = c.fsuid;
    let v = a.u32(0);
    if v != KEEP && (c.euid == 0 || v == c.uid || v == c.euid || v == c.fsuid || v == saved_uid(&t.task.tg)) {
        c.fsuid = v;
    }
    Ok(old as u64)
}

fn setfsgid(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let mut c = t.task.tg.creds.lock().unwrap();
    let old = c.fsgid;
    let v = a.u32(0);
    if v != KEEP && (c.euid == 0 || v == c.gid || v == c.egid || v == c.fsgid || v == saved_gid(&t.task.tg)) {
        c.fsgid = v;
    }
    Ok(old as u64)
}

fn saved_uid(tg: &crate::task::ThreadGroup) -> u32 {
    tg.saved_ids.lock().unwrap().0
}

fn saved_gid(tg: &crate::task::ThreadGroup) -> u32 {
    tg.saved_ids.lock().unwrap().1
}

fn getgroups(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let g = t.task.tg.creds().groups;
    let n = a.i32(0);
    if n < 0 {
        return Err(Errno::EINVAL);
    }
    if n == 0 {
        return Ok(g.len() as u64);
    }
    if (n as usize) < g.len() {
        return Err(Errno::EINVAL);
    }
    let bytes: Vec<u8> = g.iter().flat_map(|x| x.to_le_bytes()).collect();
    t.mm.copy_out(a.u64(1), &bytes)?;
    Ok(g.len() as u64)
}

fn setgroups(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let n = a.usize(0);
    if n > 65536 {
        return Err(Errno::EINVAL);
    }
    if t.task.tg.creds().euid != 0 {
        return Err(Errno::EPERM);
    }
    let mut raw = vec![0u8; n * 4];
    t.mm.copy_in(a.u64(1), &mut raw)?;
    let groups = raw.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    t.task.tg.creds.lock().unwrap().groups = groups;
    Ok(0)
}

fn sched_yield(_t: &mut Thread, _: &Args) -> SysResult<u64> {
    std::thread::yield_now();
    Ok(0)
}

/// The task named by a scheduling call's pid (0 = the caller).
fn sched_target(t: &Thread, pid: i32) -> SysResult<std::sync::Arc<crate::task::Task>> {
    if pid < 0 {
        return Err(Errno::EINVAL);
    }
    if pid == 0 {
        return Ok(t.task.clone());
    }
    t.task.k.procs().tasks.get(&pid).cloned().ok_or(Errno::ESRCH)
}

fn sched_getaffinity(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let len = a.usize(1);
    if len < 8 || len % 8 != 0 {
        return Err(Errno::EINVAL);
    }
    let target = sched_target(t, a.i32(0))?;
    let mask = target.affinity.load(Ordering::Relaxed);
    t.mm.copy_out(a.u64(2), &mask.to_le_bytes())?;
    Ok(8)
}

fn sched_setaffinity(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let target = sched_target(t, a.i32(0))?;
    let len = a.usize(1).min(1024);
    let mut raw = vec![0u8; len];
    t.mm.copy_in(a.u64(2), &mut raw)?;
    let mut m = [0u8; 8];
    let n = len.min(8);
    m[..n].copy_from_slice(&raw[..n]);
    let mask = u64::from_le_bytes(m) & crate::task::all_cpus();
    if mask == 0 {
        return Err(Errno::EINVAL);
    }
    target.affinity.store(mask, Ordering::Relaxed);
    Ok(0)
}

fn getcpu(t: &mut Thread, a: &Args) -> SysResult<u64> {
    // The lowest CPU the task may run on (the Sentry does not migrate it).
    let cpu = t.task.affinity.load(Ordering::Relaxed).trailing_zeros().min(63);
    if a.u64(0) != 0 {
        t.mm.write_obj(a.u64(0), &cpu)?;
    }
    if a.u64(1) != 0 {
        t.mm.write_obj(a.u64(1), &0u32)?;
    }
    Ok(0)
}

fn sched_getscheduler(t: &mut Thread, a: &Args) -> SysResult<u64> {
    sched_target(t, a.i32(0))?;
    Ok(libc::SCHED_OTHER as u64)
}

fn sched_setscheduler(t: &mut Thread, a: &Args) -> SysResult<u64> {
    sched_target(t, a.i32(0))?;
    let prio: i32 = t.mm.read_obj(a.u64(2))?;
    match a.i32(1) & !libc::SCHED_RESET_ON_FORK {
        libc::SCHED_OTHER | libc::SCHED_BATCH | libc::SCHED_IDLE if prio == 0 => Ok(0),
        libc::SCHED_FIFO | libc::SCHED_RR => Err(Errno::EPERM),
        _ => Err(Errno::EINVAL),
    }
}

fn sched_getparam(t: &mut Thread, a: &Args) -> SysResult<u64> {
    sched_target(t, a.i32(0))?;
    t.mm.write_obj(a.u64(1), &0i32)?;
    Ok(0)
}

fn sched_setparam(t: &mut Thread, a: &Args) -> SysResult<u64> {
    sched_target(t, a.i32(0))?;
    let prio: i32 = t.mm.read_obj(a.u64(1))?;
    if prio != 0 {
        return Err(Errno::EINVAL);
    }
    Ok(0)
}

fn sched_get_priority_max(_t: &mut Thread, a: &Args) -> SysResult<u64> {
    match a.i32(0) {
        libc::SCHED_FIFO | libc::SCHED_RR => Ok(99),
        libc::SCHED_OTHER | libc::SCHED_BATCH | libc::SCHED_IDLE => Ok(0),
        _ => Err(Errno::EINVAL),
    }
}

fn sched_get_priority_min(_t: &mut Thread, a: &Args) -> SysResult<u64> {
    match a.i32(0) {
        libc::SCHED_FIFO | libc::SCHED_RR => Ok(1),
        libc::SCHED_OTHER | libc::SCHED_BATCH | libc::SCHED_IDLE => Ok(0),
        _ => Err(Errno::EINVAL),
    }
}

fn sched_rr_get_interval(t: &mut Thread, a: &Args) -> SysResult<u64> {
    sched_target(t, a.i32(0))?;
    t.mm.write_obj(a.u64(1), &[0i64, 100_000_000])?;
    Ok(0)
}

/// The thread group a getpriority/setpriority call names (PRIO_PROCESS;
/// other `which` values apply to the caller's group or user as a whole).
fn prio_target(t: &Thread, which: i32, who: i32) -> SysResult<std::sync::Arc<crate::task::ThreadGroup>> {
    match which {
        w if w == libc::PRIO_PROCESS as i32 => {
            if who == 0 {
                Ok(t.task.tg.clone())
            } else {
                t.task.k.procs().tasks.get(&who).map(|x| x.tg.clone()).ok_or(Errno::ESRCH)
            }
        }
        w if w == libc::PRIO_PGRP as i32 || w == libc::PRIO_USER as i32 => {
            if who == 0 || (which == libc::PRIO_USER as i32 && who as u32 == t.task.tg.creds().uid) {
                Ok(t.task.tg.clone())
            } else {
                Err(Errno::ESRCH)
            }
        }
        _ => Err(Errno::EINVAL),
    }
}

fn getpriority(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let tg = prio_target(t, a.i32(0), a.i32(1))?;
    // 20 - nice (the raw syscall's encoding).
    Ok((20 - tg.nice.load(Ordering::SeqCst)) as u64)
}

fn setpriority(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let tg = prio_target(t, a.i32(0), a.i32(1))?;
    let nice = a.i32(2).clamp(-20, 19);
    let cur = tg.nice.load(Ordering::SeqCst);
    if nice < cur && t.task.tg.creds().euid != 0 {
        return Err(Errno::EACCES);
    }
    tg.nice.store(nice, Ordering::SeqCst);
    Ok(0)
}

fn sethostname(t: &mut Thread, a: &Args) -> SysResult<u64> {
    if t.task.tg.creds().euid != 0 {
        return Err(Errno::EPERM);
    }
    let len = a.usize(1);
    if len > 64 {
        return Err(Errno::EINVAL);
    }
    let mut b = vec![0u8; len];
    t.mm.copy_in(a.u64(0), &mut b)?;
    *t.task.k.hostname.lock().unwrap() = String::from_utf8_lossy(&b).into_owned();
    Ok(0)
}

fn setdomainname(t: &mut Thread, a: &Args) -> SysResult<u64> {
    if t.task.tg.creds().euid != 0 {
        return Err(Errno::EPERM);
    }
    if a.usize(1) > 64 {
        return Err(Errno::EINVAL);
    }
    Ok(0)
}

fn getrusage(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let who = a.i32(0);
    let ns = match who {
        libc::RUSAGE_SELF => super::time::clock_now(t, libc::CLOCK_PROCESS_CPUTIME_ID)?.as_nanos() as u64,
        libc::RUSAGE_CHILDREN => t.task.tg.child_cpu_ns.load(Ordering::Relaxed),
        libc::RUSAGE_THREAD => t.task.cpu_ns.load(Ordering::Relaxed),
        _ => return Err(Errno::EINVAL),
    };
    let maxrss_kb = match who {
        libc::RUSAGE_CHILDREN => t.task.tg.maxrss_kb.load(Ordering::Relaxed),
        _ => t.mm.rss() / 1024,
    };
    let mut r = [0i64; 18];
    r[0] = (ns / 1_000_000_000) as i64;
    r[1] = ((ns % 1_000_000_000) / 1000) as i64;
    r[4] = maxrss_kb as i64;
    t.mm.write_obj(a.u64(1), &r)?;
    Ok(0)
}

fn personality(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let old = t.task.tg.personality.load(Ordering::SeqCst);
    let new = a.u32(0);
    if new == 0xffff_ffff {
        return Ok(old as u64);
    }
    // Only the Linux execution domain; its flags (ADDR_NO_RANDOMIZE,
    // READ_IMPLIES_EXEC, ...) are recorded.
    if new & 0xff != 0 {
        return Err(Errno::EINVAL);
    }
    t.task.tg.personality.store(new, Ordering::SeqCst);
    Ok(old as u64)
}

const CAP_V1: u32 = 0x1998_0330;
const CAP_V2: u32 = 0x2007_1026;
const CAP_V3: u32 = 0x2008_0522;

/// The capability header: version and pid; an unknown version is EINVAL
/// after writing the preferred one back.
fn cap_header(t: &Thread, addr: u64) -> SysResult<(u32, i32)> {
    let version: u32 = t.mm.read_obj(addr)?;
    let pid: i32 = t.mm.read_obj(addr + 4)?;
    if version != CAP_V1 && version != CAP_V2 && version != CAP_V3 {
        t.mm.write_obj(addr, &CAP_V3)?;
        return Err(Errno::EINVAL);
    }
    Ok((version, pid))
}

fn capget(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let (version, pid) = cap_header(t, a.u64(0))?;
    let tg = if pid == 0 { t.task.tg.clone() } else { t.task.k.procs().tasks.get(&pid).map(|x| x.tg.clone()).ok_or(Errno::ESRCH)? };
    if a.u64(1) != 0 {
        let c = *tg.caps.lock().unwrap();
        let words = if version == CAP_V1 { 1 } else { 2 };
        let data: Vec<u32> = (0..words)
            .flat_map(|i| {
                let sh = 32 * i;
                [(c.effective >> sh) as u32, (c.permitted >> sh) as u32, (c.inheritable >> sh) as u32]
            })
            .collect();
        let bytes: Vec<u8> = data.iter().flat_map(|x| x.to_le_bytes()).collect();
        t.mm.copy_out(a.u64(1), &bytes)?;
    }
    Ok(0)
}

/// capset: a process may lower its sets (effective within permitted;
/// inheritable within inheritable | permitted, and within the bounding
/// set for additions).
fn capset(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let (version, pid) = cap_header(t, a.u64(0))?;
    if pid != 0 && pid != t.task.tid() {
        return Err(Errno::EPERM);
    }
    let words = if version == CAP_V1 { 1 } else { 2 };
    let mut raw = vec![0u8; 12 * words];
    t.mm.copy_in(a.u64(1), &mut raw)?;
    let w = |i: usize| u32::from_le_bytes([raw[4 * i], raw[4 * i + 1], raw[4 * i + 2], raw[4 * i + 3]]) as u64;
    let (mut eff, mut prm, mut inh) = (w(0), w(1), w(2));
    if words == 2 {
        eff |= w(3) << 32;
        prm |= w(4) << 32;
        inh |= w(5) << 32;
    }
    let mut c = t.task.tg.caps.lock().unwrap();
    let bnd = t.task.tg.capbset.load(Ordering::SeqCst);
    if prm & !c.permitted != 0 || eff & !prm != 0 {
        return Err(Errno::EPERM);
    }
    const CAP_SETPCAP: u32 = 8;
    let setpcap = c.effective & (1 << CAP_SETPCAP) != 0;
    let allowed_inh = c.inheritable | if setpcap { bnd } else { c.permitted & bnd };
    if inh & !allowed_inh != 0 {
        return Err(Errno::EPERM);
    }
    *c = crate::task::CapSets { effective: eff, permitted: prm, inheritable: inh, ambient: c.ambient & prm & inh };
    Ok(0)
}