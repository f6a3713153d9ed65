//! Process and thread syscalls.

use std::sync::atomic::Ordering;

use abi::{Errno, SysResult};

use super::{sc, Args, Entry};
use crate::signal::{self, SigInfo};
use crate::task::clone::{do_clone, CloneArgs, CLONE_VFORK, CLONE_VM};
use crate::task::exec::{do_execve, MAX_ARG_BYTES};
use crate::task::exit::{exited, start_group_exit};
use crate::task::run::Thread;
use crate::task::wait::{self, do_wait, Which};

pub static ENTRIES: &[Entry] = &[
    sc!(SYS_getpid, getpid),
    sc!(SYS_getppid, getppid),
    sc!(SYS_gettid, gettid),
    sc!(SYS_exit, exit),
    sc!(SYS_exit_group, exit_group),
    sc!(SYS_fork, fork),
    sc!(SYS_vfork, vfork),
    sc!(SYS_clone, clone, "no namespace flags, no CLONE_PIDFD, CLONE_SIGHAND only with CLONE_THREAD"),
    sc!(SYS_clone3, clone3, "as clone; set_tid and cgroup not supported"),
    sc!(SYS_execve, execve),
    sc!(SYS_execveat, execveat),
    sc!(SYS_wait4, wait4, "rusage is zeroed"),
    sc!(SYS_waitid, waitid, "P_PIDFD not supported"),
    sc!(SYS_set_tid_address, set_tid_address),
    sc!(SYS_getpgid, getpgid),
    sc!(SYS_setpgid, setpgid),
    sc!(SYS_getpgrp, getpgrp),
    sc!(SYS_getsid, getsid),
    sc!(SYS_setsid, setsid),
    sc!(SYS_set_robust_list, set_robust_list, "robust futexes are not cleaned up on thread death"),
    sc!(SYS_get_robust_list, get_robust_list),
];

fn getpid(t: &mut Thread, _: &Args) -> SysResult<u64> {
    Ok(t.task.tg.tgid as u64)
}

fn getppid(t: &mut Thread, _: &Args) -> SysResult<u64> {
    Ok(t.task.k.procs().st(t.task.tg.tgid).map(|s| s.parent).unwrap_or(0) as u64)
}

fn gettid(t: &mut Thread, _: &Args) -> SysResult<u64> {
    Ok(t.task.tid() as u64)
}

fn exit(t: &mut Thread, a: &Args) -> SysResult<u64> {
    t.exit_thread = Some(a.i32(0) & 0xff);
    Ok(0)
}

fn exit_group(t: &mut Thread, a: &Args) -> SysResult<u64> {
    start_group_exit(&t.task.k, t.task.tg.tgid, exited(a.i32(0)));
    Ok(0)
}

fn fork(t: &mut Thread, _: &Args) -> SysResult<u64> {
    do_clone(t, CloneArgs { flags: signal::SIGCHLD as u64, exit_signal: signal::SIGCHLD, ..Default::default() })
}

fn vfork(t: &mut Thread, _: &Args) -> SysResult<u64> {
    do_clone(t, CloneArgs { flags: CLONE_VM | CLONE_VFORK | signal::SIGCHLD as u64, exit_signal: signal::SIGCHLD, ..Default::default() })
}

fn clone(t: &mut Thread, a: &Args) -> SysResult<u64> {
    // x86-64 order: flags, stack, parent_tid, child_tid, tls.
    let flags = a.u64(0);
    do_clone(
        t,
        CloneArgs { flags: flags & !0xff, exit_signal: (flags & 0xff) as i32, stack: a.u64(1), parent_tid: a.u64(2), child_tid: a.u64(3), tls: a.u64(4) },
    )
}

#[repr(C)]
#[derive(Default, zerocopy::FromBytes, zerocopy::IntoBytes, zerocopy::Immutable, zerocopy::KnownLayout)]
struct Clone3Args {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

fn clone3(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let size = a.usize(1);
    if size < 64 || size > 4096 {
        return Err(Errno::EINVAL);
    }
    let mut raw = vec![0u8; size];
    t.mm.copy_in(a.u64(0), &mut raw)?;
    let n = size.min(std::mem::size_of::<Clone3Args>());
    if raw[n..].iter().any(|&b| b != 0) {
        return Err(Errno::E2BIG);
    }
    let mut c = Clone3Args::default();
    zerocopy::IntoBytes::as_mut_bytes(&mut c)[..n].copy_from_slice(&raw[..n]);
    if c.set_tid != 0 || c.set_tid_size != 0 || c.exit_signal > 64 || c.flags & 0xff != 0 {
        return Err(Errno::EINVAL);
    }
    let stack = if c.stack != 0 { c.stack.checked_add(c.stack_size).ok_or(Errno::EINVAL)? } else { 0 };
    do_clone(t, CloneArgs { flags: c.flags, exit_signal: c.exit_signal as i32, stack, parent_tid: c.parent_tid, child_tid: c.child_tid, tls: c.tls })
}

fn read_args(t: &Thread, argv: u64, envp: u64) -> SysResult<(Vec<Vec<u8>>, Vec<Vec<u8>>)> {
    let argv = t.mm.read_string_array(argv, MAX_ARG_BYTES)?;
    let envp = t.mm.read_string_array(envp, MAX_ARG_BYTES)?;
    Ok((argv, envp))
}

fn execve(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let path = t.mm.read_cstring(a.u64(0), 4095)?;
    let (argv, envp) = read_args(t, a.u64(1), a.u64(2))?;
    do_execve(t, None, None, path, argv, envp, 0)
}

fn execveat(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let dirfd = a.i32(0);
    let path = t.mm.read_cstring(a.u64(1), 4095)?;
    let (argv, envp) = read_args(t, a.u64(2), a.u64(3))?;
    let flags = a.i32(4);
    if flags & !(libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW) != 0 {
        return Err(Errno::EINVAL);
    }
    if path.is_empty() && flags & libc::AT_EMPTY_PATH != 0 {
        let f = t.task.files().get(dirfd)?;
        return do_execve(t, None, Some(f), path, argv, envp, flags);
    }
    let dir = if dirfd == libc::AT_FDCWD || path.first() == Some(&b'/') {
        None
    } else {
        Some(t.task.files().get(dirfd)?.location().cloned().ok_or(Errno::ENOTDIR)?)
    };
    do_execve(t, dir, None, path, argv, envp, flags)
}

fn wait_which(pid: i32) -> Which {
    match pid {
        -1 => Which::Any,
        0 => Which::Pgid(0),
        p if p < -1 => Which::Pgid(-p),
        p => Which::Pid(p),
    }
}

fn wait4(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let pid = a.i32(0);
    let opts = a.u32(2);
    if opts & !(wait::WNOHANG | wait::WUNTRACED | wait::WCONTINUED | wait::WNOTHREAD | wait::WALL | wait::WCLONE) != 0 {
        return Err(Errno::EINVAL);
    }
    if pid == i32::MIN {
        return Err(Errno::ESRCH);
    }
    match do_wait(t, wait_which(pid), opts | wait::WEXITED)? {
        None => Ok(0),
        Some(w) => {
            if a.u64(1) != 0 {
                t.mm.write_obj(a.u64(1), &w.status)?;
            }
            if a.u64(3) != 0 {
                t.mm.write_obj(a.u64(3), &rusage(&w))?;
            }
            Ok(w.pid as u64)
        }
    }
}

fn waitid(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let (idtype, id, infop, opts) = (a.u32(0), a.i32(1), a.u64(2), a.u32(3));
    if opts & !(wait::WNOHANG | wait::WSTOPPED | wait::WEXITED | wait::WCONTINUED | wait::WNOWAIT | wait::WNOTHREAD | wait::WALL | wait::WCLONE) != 0 {
        return Err(Errno::EINVAL);
    }
    if opts & (wait::WSTOPPED | wait::WEXITED | wait::WCONTINUED) == 0 {
        return Err(Errno::EINVAL);
    }
    let which = match idtype {
        0 => Which::Any,                // P_ALL
        1 if id > 0 => Which::Pid(id),  // P_PID
        2 if id >= 0 => Which::Pgid(id), // P_PGID (0 = own group)
        1 | 2 => return Err(Errno::EINVAL),
        _ => return Err(Errno::EINVAL),
    };
    let r = do_wait(t, which, opts)?;
    if infop != 0 {
        let info = match r {
            Some(w) => {
                let mut s = SigInfo::child(w.code, w.pid, w.uid, w.si_status);
                s.errno = 0;
                s
            }
            None => SigInfo { signo: 0, errno: 0, code: 0, _pad: 0, fields: [0; 14] },
        };
        t.mm.write_obj(infop, &info)?;
    }
    if a.u64(4) != 0 {
        let ru = r.map(|w| rusage(&w)).unwrap_or([0i64; 18]);
        t.mm.write_obj(a.u64(4), &ru)?;
    }
    Ok(0)
}

/// `struct rusage` of a reaped child: CPU time and maximum RSS.
fn rusage(w: &wait::WaitInfo) -> [i64; 18] {
    let mut r = [0i64; 18];
    r[0] = (w.cpu_ns / 1_000_000_000) as i64;
    r[1] = ((w.cpu_ns % 1_000_000_000) / 1000) as i64;
    r[4] = w.maxrss_kb as i64;
    r
}

fn set_tid_address(t: &mut Thread, a: &Args) -> SysResult<u64> {
    t.task.clear_child_tid.store(a.u64(0), Ordering::SeqCst);
    Ok(t.task.tid() as u64)
}

fn pid_or_self(t: &Thread, pid: i32) -> i32 {
    if pid == 0 {
        t.task.tg.tgid
    } else {
        pid
    }
}

fn getpgid(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let pid = pid_or_self(t, a.i32(0));
    t.task.k.procs().st(pid).map(|s| s.pgid as u64).ok_or(Errno::ESRCH)
}

fn getpgrp(t: &mut Thread, _: &Args) -> SysResult<u64> {
    getpgid(t, &Args([0; 6]))
}

fn getsid(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let pid = pid_or_self(t, a.i32(0));
    t.task.k.procs().st(pid).map(|s| s.sid as u64).ok_or(Errno::ESRCH)
}

fn setsid(t: &mut Thread, _: &Args) -> SysResult<u64> {
    let me = t.task.tg.tgid;
    let mut p = t.task.k.procs();
    // A process-group leader cannot start a session, nor may anyone take
    // a pid that is in use as a process group id.
    if p.state.values().any(|s| s.pgid == me) {
        return Err(Errno::EPERM);
    }
    let st = p.st_mut(me).ok_or(Errno::ESRCH)?;
    st.sid = me;
    st.pgid = me;
    Ok(me as u64)
}

fn setpgid(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let me = t.task.tg.tgid;
    if a.i32(0) < 0 {
        return Err(Errno::EINVAL);
    }
    let pid = pid_or_self(t, a.i32(0));
    let pgid = a.i32(1);
    if pgid < 0 {
        return Err(Errno::EINVAL);
    }
    let pgid = if pgid == 0 { pid } else { pgid };
    let mut p = t.task.k.procs();
    let my_sid = p.st(me).map(|s| s.sid).ok_or(Errno::ESRCH)?;
    let target = p.st(pid).ok_or(Errno::ESRCH)?;
    if pid != me && target.parent != me {
        return Err(Errno::ESRCH);
    }
    if target.sid == pid {
        // A session leader cannot change its group.
        return Err(Errno::EPERM);
    }
    if target.sid != my_sid {
        return Err(Errno::EPERM);
    }
    if pgid != pid && !p.state.values().any(|s| s.pgid == pgid && s.sid == my_sid && s.zombie.is_none()) {
        return Err(Errno::EPERM);
    }
    p.st_mut(pid).unwrap().pgid = pgid;
    Ok(0)
}

fn set_robust_list(t: &mut Thread, a: &Args) -> SysResult<u64> {
    if a.usize(1) != 24 {
        return Err(Errno::EINVAL);
    }
    t.task.robust_list.store(a.u64(0), Ordering::SeqCst);
    Ok(0)
}

fn get_robust_list(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let pid = a.i32(0);
    let task = if pid == 0 { t.task.clone() } else { t.task.k.procs().tasks.get(&pid).cloned().ok_or(Errno::ESRCH)? };
    t.mm.write_obj(a.u64(1), &task.robust_list.load(Ordering::SeqCst))?;
    t.mm.write_obj(a.u64(2), &24u64)?;
    Ok(0)
}
