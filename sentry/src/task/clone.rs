//! fork, vfork and clone.

use std::sync::{Arc, Mutex};

use abi::{Errno, SysResult};

use crate::signal::{AltStack, SIGCHLD};
use crate::task::run::{spawn, Thread};
use crate::task::{Task, ThreadGroup, VforkDone};

pub const CLONE_VM: u64 = 0x100;
pub const CLONE_FS: u64 = 0x200;
pub const CLONE_FILES: u64 = 0x400;
pub const CLONE_SIGHAND: u64 = 0x800;
pub const CLONE_PIDFD: u64 = 0x1000;
pub const CLONE_PTRACE: u64 = 0x2000;
pub const CLONE_VFORK: u64 = 0x4000;
pub const CLONE_PARENT: u64 = 0x8000;
pub const CLONE_THREAD: u64 = 0x10000;
pub const CLONE_NEWNS: u64 = 0x20000;
pub const CLONE_SYSVSEM: u64 = 0x40000;
pub const CLONE_SETTLS: u64 = 0x80000;
pub const CLONE_PARENT_SETTID: u64 = 0x100000;
pub const CLONE_CHILD_CLEARTID: u64 = 0x200000;
pub const CLONE_DETACHED: u64 = 0x400000;
pub const CLONE_UNTRACED: u64 = 0x800000;
pub const CLONE_CHILD_SETTID: u64 = 0x1000000;
pub const CLONE_NEWCGROUP: u64 = 0x0200_0000;
pub const CLONE_NEWUTS: u64 = 0x0400_0000;
pub const CLONE_NEWIPC: u64 = 0x0800_0000;
pub const CLONE_NEWUSER: u64 = 0x1000_0000;
pub const CLONE_NEWPID: u64 = 0x2000_0000;
pub const CLONE_NEWNET: u64 = 0x4000_0000;
pub const CLONE_IO: u64 = 0x8000_0000;

const SUPPORTED: u64 = 0xff
    | CLONE_VM
    | CLONE_FS
    | CLONE_FILES
    | CLONE_SIGHAND
    | CLONE_VFORK
    | CLONE_PARENT
    | CLONE_THREAD
    | CLONE_SYSVSEM
    | CLONE_SETTLS
    | CLONE_PARENT_SETTID
    | CLONE_CHILD_CLEARTID
    | CLONE_DETACHED
    | CLONE_UNTRACED
    | CLONE_CHILD_SETTID
    | CLONE_IO
    | CLONE_PTRACE;

/// The arguments of clone/clone3.
#[derive(Clone, Copy, Debug, Default)]
pub struct CloneArgs {
    pub flags: u64,
    pub exit_signal: i32,
    pub stack: u64,
    pub parent_tid: u64,
    pub child_tid: u64,
    pub tls: u64,
}

pub fn do_clone(t: &mut Thread, a: CloneArgs) -> SysResult<u64> {
    let f = a.flags;
    if f & !SUPPORTED != 0 {
        // Namespaces and pidfds are not supported inside the sandbox yet.
        return Err(if f & (CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP) != 0 {
            Errno::EPERM
        } else {
            Errno::EINVAL
        });
    }
    if f & CLONE_THREAD != 0 && f & CLONE_SIGHAND == 0 {
        return Err(Errno::EINVAL);
    }
    if f & CLONE_SIGHAND != 0 && f & CLONE_VM == 0 {
        return Err(Errno::EINVAL);
    }
    if f & CLONE_SIGHAND != 0 && f & CLONE_THREAD == 0 {
        // Sharing handlers between processes is not modelled.
        return Err(Errno::EINVAL);
    }
    let parent = t.task.clone();
    let k = parent.k.clone();
    let mm = if f & CLONE_VM != 0 { t.mm.clone() } else { Arc::new(t.mm.fork()) };
    let files = if f & CLONE_FILES != 0 { parent.files() } else { parent.files().fork() };
    let fsctx = if f & CLONE_FS != 0 {
        parent.fs.lock().unwrap().clone()
    } else {
        Arc::new(Mutex::new(parent.fs_ctx()))
    };
    let mask = parent.sig().mask;
    let comm = parent.comm.lock().unwrap().clone();

    let mut p = k.procs();
    if p.tasks.len() >= 32768 {
        return Err(Errno::EAGAIN);
    }
    let tid = p.alloc_pid();
    let tg = if f & CLONE_THREAD != 0 {
        parent.tg.clone()
    } else {
        let tg = ThreadGroup::new(tid, parent.tg.creds());
        *tg.actions.lock().unwrap() = *parent.tg.actions.lock().unwrap();
        *tg.limits.lock().unwrap() = *parent.tg.limits.lock().unwrap();
        *tg.exe.lock().unwrap() = parent.tg.exe.lock().unwrap().clone();
        tg.no_new_privs.store(parent.tg.no_new_privs.load(std::sync::atomic::Ordering::SeqCst), std::sync::atomic::Ordering::SeqCst);
        tg.capbset.store(parent.tg.capbset.load(std::sync::atomic::Ordering::SeqCst), std::sync::atomic::Ordering::SeqCst);
        *tg.caps.lock().unwrap() = *parent.tg.caps.lock().unwrap();
        tg.keepcaps.store(parent.tg.keepcaps.load(std::sync::atomic::Ordering::SeqCst), std::sync::atomic::Ordering::SeqCst);
        tg.personality.store(parent.tg.personality.load(std::sync::atomic::Ordering::SeqCst), std::sync::atomic::Ordering::SeqCst);
        *tg.saved_ids.lock().unwrap() = *parent.tg.saved_ids.lock().unwrap();
        tg.nice.store(parent.tg.nice.load(std::sync::atomic::Ordering::SeqCst), std::sync::atomic::Ordering::SeqCst);
        tg
    };
    let child = Task::new(tid, tg.clone(), k.clone(), mm.clone(), files, fsctx, mask, comm);
    if f & CLONE_VM == 0 || f & CLONE_VFORK != 0 {
        child.sig().altstack = parent.sig().altstack;
    } else {
        child.sig().altstack = AltStack::default();
    }
    child.affinity.store(parent.affinity.load(std::sync::atomic::Ordering::Relaxed), std::sync::atomic::Ordering::Relaxed);
    child.timerslack.store(parent.timerslack.load(std::sync::atomic::Ordering::Relaxed), std::sync::atomic::Ordering::Relaxed);
    if f & CLONE_CHILD_CLEARTID != 0 {
        child.clear_child_tid.store(a.child_tid, std::sync::atomic::Ordering::SeqCst);
    }
    let ptgid = parent.tg.tgid;
    if f & CLONE_THREAD != 0 {
        match p.st_mut(ptgid) {
            Some(st) if st.exiting.is_none() => st.threads.push(tid),
            _ => return Err(Errno::EAGAIN),
        }
    } else {
        let (pp, pgid, sid) = {
            let st = p.st(ptgid).ok_or(Errno::ESRCH)?;
            (if f & CLONE_PARENT != 0 { st.parent } else { ptgid }, st.pgid, st.sid)
        };
        p.state.insert(
            tid,
            crate::kernel::ProcState {
                parent: pp,
                pgid,
                sid,
                threads: vec![tid],
                exit_signal: if a.exit_signal != 0 { a.exit_signal } else if f & 0xff == 0 { 0 } else { (f & 0xff) as i32 },
                ..Default::default()
            },
        );
        if let Some(ps) = p.st_mut(pp) {
            ps.children.insert(tid);
        }
        p.groups.insert(tid, tg.clone());
    }
    p.tasks.insert(tid, child.clone());
    drop(p);

    if f & CLONE_PARENT_SETTID != 0 {
        let _ = t.mm.write_obj(a.parent_tid, &(tid as u32));
    }
    if f & CLONE_CHILD_SETTID != 0 {
        let _ = mm.write_obj(a.child_tid, &(tid as u32));
    }
    let vfork = (f & CLONE_VFORK != 0).then(|| {
        let v = Arc::new(VforkDone::default());
        *child.vfork_done.lock().unwrap() = Some(v.clone());
        v
    });
    let mut regs = t.regs;
    regs.rax = 0;
    if a.stack != 0 {
        regs.rsp = a.stack;
    }
    if f & CLONE_SETTLS != 0 {
        regs.fs_base = a.tls;
    }
    if spawn(child.clone(), regs).is_err() {
        crate::task::exit::exit_thread(&child, None, 0x7f00, true);
        return Err(Errno::EAGAIN);
    }
    if let Some(v) = vfork {
        // The parent sleeps until the child execs or exits (killable only).
        loop {
            let r = t.wait_event(&[&v.queue], u32::MAX, &[], None, |_| v.done.load(std::sync::atomic::Ordering::SeqCst).then_some(Ok(())));
            if r.is_ok() || crate::task::exit::group_exiting(&t.task).is_some() {
                break;
            }
            // A signal arrived: Linux keeps waiting (it is delivered after).
            if !v.done.load(std::sync::atomic::Ordering::SeqCst) {
                let _ = t.task.waiter.wait(&[], Some(std::time::Duration::from_millis(50)));
            } else {
                break;
            }
        }
    }
    let _ = SIGCHLD;
    Ok(tid as u64)
}
