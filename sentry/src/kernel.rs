//! The kernel: the process table and everything shared by all tasks of one
//! sandbox.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Instant;

use fs::vfs::Vfs;
use platform::Platform;

use crate::mm::PageAllocator;
use crate::signal::{SigInfo, SIGCONT, SIGKILL};
use crate::task::{Task, ThreadGroup};

/// Sandbox-wide settings.
#[derive(Clone, Debug)]
pub struct KernelOptions {
    /// Log every syscall with decoded arguments and result.
    pub strace: bool,
    pub hostname: String,
    pub domainname: String,
    /// Sysctls set by the container's config (OCI `linux.sysctl`, already
    /// validated): (dotted key, value). Shown and writable (by root) at
    /// /proc/sys/<key with dots as slashes>. Recorded, no effect, except
    /// `kernel.domainname`, which is the domain name uname reports.
    pub sysctls: Vec<(String, String)>,
}

impl Default for KernelOptions {
    fn default() -> Self {
        KernelOptions { strace: false, hostname: "runsc-rs".into(), domainname: "(none)".into(), sysctls: Vec::new() }
    }
}

/// Process-relationship state of one thread group, kept under the
/// kernel's process-table lock.
#[derive(Debug, Default)]
pub struct ProcState {
    /// Parent tgid (0 for init).
    pub parent: i32,
    pub children: BTreeSet<i32>,
    pub pgid: i32,
    pub sid: i32,
    /// Live threads.
    pub threads: Vec<i32>,
    /// Set when the group is exiting: the wait status it ends with.
    pub exiting: Option<i32>,
    /// Set when every thread has exited: a zombie until reaped.
    pub zombie: Option<i32>,
    /// Group stop in effect, with the signal that stopped it.
    pub stopped: Option<i32>,
    /// A stop not yet reported to wait(WUNTRACED).
    pub stop_unreported: bool,
    /// A continue not yet reported to wait(WCONTINUED).
    pub cont_unreported: bool,
    /// Signal sent to the parent on exit (normally SIGCHLD).
    pub exit_signal: i32,
}

/// The process table.
#[derive(Default)]
pub struct Procs {
    pub tasks: HashMap<i32, Arc<Task>>,
    pub groups: HashMap<i32, Arc<ThreadGroup>>,
    pub state: HashMap<i32, ProcState>,
    next_pid: i32,
}

impl Procs {
    /// A free pid (pids are shared by threads and processes, from 1 up).
    pub fn alloc_pid(&mut self) -> i32 {
        loop {
            self.next_pid = if self.next_pid >= (1 << 22) { 2 } else { self.next_pid + 1 };
            let p = self.next_pid;
            if !self.tasks.contains_key(&p) && !self.state.contains_key(&p) && !self.state.values().any(|s| s.pgid == p || s.sid == p) {
                return p;
            }
        }
    }

    pub fn st(&self, tgid: i32) -> Option<&ProcState> {
        self.state.get(&tgid)
    }

    pub fn st_mut(&mut self, tgid: i32) -> Option<&mut ProcState> {
        self.state.get_mut(&tgid)
    }

    /// Live (non-zombie) thread groups in process group `pgid`.
    pub fn pgrp_members(&self, pgid: i32) -> Vec<i32> {
        self.state.iter().filter(|(_, s)| s.pgid == pgid && s.zombie.is_none()).map(|(t, _)| *t).collect()
    }
}

/// How the sandbox ended: init's wait status.
pub type ExitStatus = i32;

pub struct Kernel {
    pub platform: Arc<dyn Platform>,
    pub pages: Arc<PageAllocator>,
    pub vfs: Arc<Vfs>,
    pub opts: KernelOptions,
    pub procs: Mutex<Procs>,
    pub boot: Instant,
    /// Syscall numbers already logged as unsupported.
    pub unknown_logged: Mutex<HashSet<u64>>,
    done: Mutex<Option<ExitStatus>>,
    done_cv: Condvar,
    pub hostname: Mutex<String>,
    /// The recorded sysctls' current values (keys and order fixed at boot:
    /// procfs names entries by position).
    pub sysctls: Mutex<Vec<(String, String)>>,
    pub futexes: crate::futex::Futexes,
}

impl Kernel {
    pub fn new(platform: Arc<dyn Platform>, pages: Arc<PageAllocator>, vfs: Arc<Vfs>, opts: KernelOptions) -> Arc<Kernel> {
        Arc::new(Kernel {
            platform,
            pages,
            vfs,
            hostname: Mutex::new(opts.hostname.clone()),
            sysctls: Mutex::new(opts.sysctls.clone()),
            opts,
            procs: Mutex::new(Procs::default()),
            boot: Instant::now(),
            unknown_logged: Mutex::new(HashSet::new()),
            done: Mutex::new(None),
            done_cv: Condvar::new(),
            futexes: crate::futex::Futexes::default(),
        })
    }

    /// The domain name uname reports: a recorded `kernel.domainname`
    /// sysctl (its current value), else the option.
    pub fn domainname(&self) -> String {
        let s = self.sysctls.lock().unwrap_or_else(|e| e.into_inner());
        s.iter().find(|(k, _)| k == "kernel.domainname").map(|(_, v)| v.clone()).unwrap_or_else(|| self.opts.domainname.clone())
    }

    pub fn procs(&self) -> MutexGuard<'_, Procs> {
        self.procs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Record init's end and wake `wait_done`.
    pub fn finish(&self, status: ExitStatus) {
        let mut d = self.done.lock().unwrap();
        if d.is_none() {
            *d = Some(status);
        }
        self.done_cv.notify_all();
    }

    /// Block until init has exited and every task is gone; init's status.
    pub fn wait_done(&self) -> ExitStatus {
        let mut d = self.done.lock().unwrap();
        loop {
            if let Some(s) = *d {
                if self.procs().tasks.is_empty() {
                    return s;
                }
            }
            d = self.done_cv.wait(d).unwrap();
        }
    }

    /// Called when a task's host thread is gone (to let `wait_done` finish).
    pub fn task_gone(&self) {
        let _d = self.done.lock().unwrap();
        self.done_cv.notify_all();
    }

    /// Send a signal to a whole thread group (kill(2) semantics).
    pub fn signal_group(&self, tgid: i32, info: SigInfo) -> bool {
        let tg = match self.procs().groups.get(&tgid) {
            Some(tg) => tg.clone(),
            None => return false,
        };
        tg.send(self, info);
        true
    }

    /// Kill every process (init exited).
    pub fn kill_all(&self) {
        let groups: Vec<Arc<ThreadGroup>> = self.procs().groups.values().cloned().collect();
        for tg in groups {
            tg.send(self, SigInfo::new(SIGKILL, crate::signal::SI_KERNEL));
        }
    }

    /// SIGCONT side effects happen at send time: continue a stopped group.
    pub fn continue_group(&self, tgid: i32) {
        let mut p = self.procs();
        let hint = p.groups.get(&tgid).cloned();
        let Some(st) = p.st_mut(tgid) else { return };
        if st.stopped.take().is_some() {
            if let Some(tg) = hint {
                tg.state_hint.fetch_and(!crate::task::HINT_STOPPED, std::sync::atomic::Ordering::SeqCst);
            }
            st.cont_unreported = true;
            st.stop_unreported = false;
            let parent = st.parent;
            let threads = st.threads.clone();
            let tasks: Vec<Arc<Task>> = threads.iter().filter_map(|t| p.tasks.get(t).cloned()).collect();
            let ptg = p.groups.get(&parent).cloned();
            let uid = p.groups.get(&tgid).map(|g| g.creds().uid).unwrap_or(0);
            drop(p);
            for t in tasks {
                t.waiter.notify();
            }
            if let Some(ptg) = ptg {
                if ptg.action(crate::signal::SIGCHLD).flags & crate::signal::SA_NOCLDSTOP == 0 {
                    ptg.send(self, SigInfo::child(crate::signal::CLD_CONTINUED, tgid, uid, SIGCONT));
                }
                ptg.child_events.notify(u32::MAX);
            }
        }
    }
}
