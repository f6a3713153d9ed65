//! Thread and process exit, group exit and group stop.

use std::sync::Arc;

use tracing::debug;

use crate::fdtable::FdTable;
use crate::kernel::Kernel;
use crate::mm::MemoryManager;
use crate::signal::{self, SigInfo};
use crate::task::Task;

/// Begin exiting every thread of `tgid` with wait status `status` (the
/// first caller's status wins).
pub fn start_group_exit(k: &Kernel, tgid: i32, status: i32) {
    let tasks: Vec<Arc<Task>> = {
        let mut p = k.procs();
        let hint = p.groups.get(&tgid).cloned();
        let Some(st) = p.st_mut(tgid) else { return };
        if st.zombie.is_some() {
            return;
        }
        st.exiting.get_or_insert(status);
        st.stopped = None;
        if let Some(tg) = hint {
            tg.state_hint.store(crate::task::HINT_EXITING, std::sync::atomic::Ordering::SeqCst);
        }
        let threads = st.threads.clone();
        threads.iter().filter_map(|t| p.tasks.get(t).cloned()).collect()
    };
    for t in tasks {
        t.interrupt();
    }
}

/// The group's exit status, if it is exiting.
pub fn group_exiting(task: &Task) -> Option<i32> {
    if task.tg.state_hint.load(std::sync::atomic::Ordering::SeqCst) & crate::task::HINT_EXITING == 0 {
        return None;
    }
    task.k.procs().st(task.tg.tgid).and_then(|s| s.exiting)
}

/// Stop the whole group with `sig` and tell the parent.
pub fn group_stop(task: &Task, sig: i32) {
    let k = &task.k;
    let (others, parent) = {
        let mut p = k.procs();
        let Some(st) = p.st_mut(task.tg.tgid) else { return };
        if st.exiting.is_some() {
            return;
        }
        st.stopped = Some(sig);
        task.tg.state_hint.fetch_or(crate::task::HINT_STOPPED, std::sync::atomic::Ordering::SeqCst);
        st.stop_unreported = true;
        st.cont_unreported = false;
        let parent = st.parent;
        let threads = st.threads.clone();
        let others: Vec<Arc<Task>> = threads.iter().filter(|t| **t != task.tid()).filter_map(|t| p.tasks.get(t).cloned()).collect();
        (others, p.groups.get(&parent).cloned())
    };
    for t in others {
        t.interrupt();
    }
    if let Some(ptg) = parent {
        let act = ptg.action(signal::SIGCHLD);
        if act.flags & signal::SA_NOCLDSTOP == 0 {
            let uid = task.tg.creds().uid;
            ptg.send(k, SigInfo::child(signal::CLD_STOPPED, task.tg.tgid, uid, sig));
        }
        ptg.child_events.notify(u32::MAX);
    }
}

/// If the group is stopped, block until it is continued or killed.
/// Returns true if it blocked (the caller re-checks its state).
pub fn wait_while_stopped(task: &Task) -> bool {
    if task.tg.state_hint.load(std::sync::atomic::Ordering::SeqCst) & crate::task::HINT_STOPPED == 0 {
        return false;
    }
    let mut blocked = false;
    loop {
        {
            let p = task.k.procs();
            match p.st(task.tg.tgid) {
                Some(st) if st.stopped.is_some() && st.exiting.is_none() => {}
                _ => return blocked,
            }
        }
        blocked = true;
        let _ = task.waiter.wait(&[], None);
    }
}

const FUTEX_WAITERS: u32 = 0x8000_0000;
const FUTEX_OWNER_DIED: u32 = 0x4000_0000;
const FUTEX_TID_MASK: u32 = 0x3fff_ffff;
/// Bound on the robust list walk (Linux's ROBUST_LIST_LIMIT).
const ROBUST_LIST_LIMIT: usize = 2048;

/// Mark the robust futexes a dying thread still holds as OWNER_DIED and
/// wake one waiter of each (set_robust_list). The list is workload memory:
/// every read may fail, and the walk is bounded.
fn exit_robust_list(k: &Kernel, mm: &MemoryManager, tid: i32, head: u64) {
    if head == 0 {
        return;
    }
    let Ok(first) = mm.read_obj::<u64>(head) else { return };
    let Ok(offset) = mm.read_obj::<i64>(head + 8) else { return };
    let pending = mm.read_obj::<u64>(head + 16).unwrap_or(0) & !1;
    let handle = |entry: u64| {
        let addr = entry.wrapping_add(offset as u64);
        let Ok(word) = mm.read_obj::<u32>(addr) else { return };
        if word & FUTEX_TID_MASK != tid as u32 {
            return;
        }
        let new = (word & FUTEX_WAITERS) | FUTEX_OWNER_DIED;
        if mm.write_obj(addr, &new).is_ok() && word & FUTEX_WAITERS != 0 {
            if let Ok(key) = crate::futex::key(mm, addr, false) {
                k.futexes.wake(key, 1, u32::MAX);
            }
            if let Ok(key) = crate::futex::key(mm, addr, true) {
                k.futexes.wake(key, 1, u32::MAX);
            }
        }
    };
    let mut entry = first & !1;
    let mut n = 0;
    while entry != head && entry != 0 && n < ROBUST_LIST_LIMIT {
        let next = mm.read_obj::<u64>(entry).map(|v| v & !1);
        if entry != pending {
            handle(entry);
        }
        match next {
            Ok(v) => entry = v,
            Err(_) => break,
        }
        n += 1;
    }
    if pending != 0 {
        handle(pending);
    }
}

/// Wait status for exit(code).
pub fn exited(code: i32) -> i32 {
    (code & 0xff) << 8
}

/// The task's host thread is done. `thread_code` is Some for a normal
/// thread end; `status` is the group's wait status if this is the last
/// thread; `group` says the whole group is exiting.
pub fn exit_thread(task: &Arc<Task>, thread_code: Option<i32>, status: i32, group: bool) {
    let k = task.k.clone();
    if group {
        start_group_exit(&k, task.tg.tgid, status);
    }
    let _ = thread_code;
    let mm0 = task.mm();
    exit_robust_list(&k, &mm0, task.tid(), task.robust_list.load(std::sync::atomic::Ordering::SeqCst));
    drop(mm0);
    let ctid = task.clear_child_tid.swap(0, std::sync::atomic::Ordering::SeqCst);
    let mm = task.mm();
    if let Some(v) = task.vfork_done.lock().unwrap().take() {
        v.release();
    }
    // Release files and memory now: readers must see EOF on pipes.
    let files = std::mem::replace(&mut *task.files.lock().unwrap(), FdTable::new());
    if Arc::strong_count(&files) == 1 {
        drop(files.clear());
    }
    drop(files);
    // What the parent's wait4 rusage reports: this thread's CPU time.
    task.tg.child_cpu_ns.fetch_add(task.cpu_ns.load(std::sync::atomic::Ordering::Relaxed), std::sync::atomic::Ordering::Relaxed);
    let rss_kb = mm.rss() / 1024;
    task.tg.maxrss_kb.fetch_max(rss_kb, std::sync::atomic::Ordering::Relaxed);
    let empty = Arc::new(MemoryManager::new(k.pages.clone(), 0, 0));
    drop(std::mem::replace(&mut *task.mm.lock().unwrap(), empty));

    let mut notify: Vec<Box<dyn FnOnce()>> = Vec::new();
    {
        let mut p = k.procs();
        p.tasks.remove(&task.tid());
        let tgid = task.tg.tgid;
        let last = match p.st_mut(tgid) {
            Some(st) => {
                st.threads.retain(|t| *t != task.tid());
                st.threads.is_empty()
            }
            None => false,
        };
        if !last {
            // A sibling may be waiting for the group to shrink (exec).
            let tg = task.tg.clone();
            notify.push(Box::new(move || tg.child_events.notify(u32::MAX)));
        }
        if last {
            task.tg.posix_timers.clear();
            let st = p.st_mut(tgid).unwrap();
            let final_status = st.exiting.unwrap_or(status);
            st.zombie = Some(final_status);
            st.stopped = None;
            let parent = st.parent;
            let exit_signal = st.exit_signal;
            let children: Vec<i32> = std::mem::take(&mut st.children).into_iter().collect();
            debug!(tgid, status = final_status, "process exited");
            // Orphans go to the nearest living subreaper ancestor, else init.
            let reaper = if tgid == 1 {
                0
            } else {
                let mut r = 1;
                let mut a = parent;
                let mut hops = 0;
                while a > 1 && hops < 4096 {
                    let alive = p.st(a).is_some_and(|s| s.zombie.is_none());
                    if alive && p.groups.get(&a).is_some_and(|g| g.subreaper.load(std::sync::atomic::Ordering::SeqCst)) {
                        r = a;
                        break;
                    }
                    a = p.st(a).map(|s| s.parent).unwrap_or(0);
                    hops += 1;
                }
                r
            };
            for c in &children {
                if let Some(cs) = p.st_mut(*c) {
                    cs.parent = reaper;
                }
                if let Some(ctg) = p.groups.get(c).cloned() {
                    let sig = ctg.pdeath_signal.load(std::sync::atomic::Ordering::SeqCst);
                    if sig != 0 {
                        let k2 = k.clone();
                        notify.push(Box::new(move || ctg.send(&k2, SigInfo::new(sig, signal::SI_USER))));
                    }
                }
            }
            if reaper != 0 {
                if let Some(rs) = p.st_mut(reaper) {
                    rs.children.extend(children.iter().copied());
                }
                if let Some(rtg) = p.groups.get(&reaper).cloned() {
                    notify.push(Box::new(move || rtg.child_events.notify(u32::MAX)));
                }
            }
            let uid = task.tg.creds().uid;
            match p.groups.get(&parent).cloned() {
                Some(ptg) => {
                    let act = ptg.action(signal::SIGCHLD);
                    let autoreap = exit_signal == signal::SIGCHLD
                        && (act.handler == signal::SIG_IGN || act.flags & signal::SA_NOCLDWAIT != 0);
                    if autoreap {
                        p.state.remove(&tgid);
                        p.groups.remove(&tgid);
                        if let Some(ps) = p.st_mut(parent) {
                            ps.children.remove(&tgid);
                        }
                    }
                    let k2 = k.clone();
                    notify.push(Box::new(move || {
                        if signal::valid(exit_signal) {
                            let (code, st) = if final_status & 0x7f == 0 {
                                (signal::CLD_EXITED, (final_status >> 8) & 0xff)
                            } else if final_status & 0x80 != 0 {
                                (signal::CLD_DUMPED, final_status & 0x7f)
                            } else {
                                (signal::CLD_KILLED, final_status & 0x7f)
                            };
                            let mut info = SigInfo::child(code, tgid, uid, st);
                            info.signo = exit_signal;
                            ptg.send(&k2, info);
                        }
                        ptg.child_events.notify(u32::MAX);
                    }));
                }
                None => {
                    // Init (or a process whose parent is gone): nobody reaps it.
                    p.state.remove(&tgid);
                    p.groups.remove(&tgid);
                }
            }
            if tgid == 1 {
                let k2 = k.clone();
                notify.push(Box::new(move || {
                    k2.kill_all();
                    k2.finish(final_status);
                }));
            }
        }
    }
    for n in notify {
        n();
    }
    // CLONE_CHILD_CLEARTID: zero the tid word and wake a joiner, only now
    // that the thread is gone from the tables (/proc/self/task, kill).
    if ctid != 0 && mm.write_obj(ctid, &0u32).is_ok() {
        if let Ok(key) = crate::futex::key(&mm, ctid, false) {
            k.futexes.wake(key, 1, u32::MAX);
        }
    }
    drop(mm);
    k.task_gone();
}
