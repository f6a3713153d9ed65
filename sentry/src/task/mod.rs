//! Tasks (threads of the workload) and thread groups (processes).
//!
//! Each task is driven by one host thread of the Sentry (`run`), which
//! owns the task's platform context: switch into the workload, handle the
//! syscall or fault, deliver signals, switch again.

pub mod clone;
pub mod exec;
pub mod exit;
pub mod run;
pub mod wait;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use fs::creds::Creds;
use fs::mount::Location;
use fs::waiter::{WaitQueue, Waiter};
use platform::Interrupter;

use crate::fdtable::FdTable;
use crate::kernel::Kernel;
use crate::mm::MemoryManager;
use crate::signal::{self, AltStack, DefaultAction, Pending, SigAction, SigInfo, SigSet, NSIG};

/// Resource limits (getrlimit/prlimit64).
#[derive(Clone, Copy, Debug)]
pub struct Rlimit {
    pub cur: u64,
    pub max: u64,
}

pub const RLIM_INFINITY: u64 = u64::MAX;
/// The highest capability number the sandbox knows (CAP_CHECKPOINT_RESTORE).
pub const CAP_LAST_CAP: u32 = 40;
pub const CAP_FULL_SET: u64 = (1u64 << (CAP_LAST_CAP + 1)) - 1;
pub const RLIMIT_NLIMITS: usize = 16;

pub fn default_rlimits() -> [Rlimit; RLIMIT_NLIMITS] {
    let inf = Rlimit { cur: RLIM_INFINITY, max: RLIM_INFINITY };
    let mut l = [inf; RLIMIT_NLIMITS];
    l[libc::RLIMIT_STACK as usize] = Rlimit { cur: crate::mm::STACK_SIZE, max: RLIM_INFINITY };
    l[libc::RLIMIT_CORE as usize] = Rlimit { cur: 0, max: RLIM_INFINITY };
    l[libc::RLIMIT_NOFILE as usize] = Rlimit { cur: 1024, max: 1048576 };
    l[libc::RLIMIT_NPROC as usize] = Rlimit { cur: 4096, max: 4096 };
    l[libc::RLIMIT_SIGPENDING as usize] = Rlimit { cur: 1024, max: 1024 };
    l[libc::RLIMIT_MSGQUEUE as usize] = Rlimit { cur: 819200, max: 819200 };
    l[libc::RLIMIT_MEMLOCK as usize] = Rlimit { cur: 8 << 20, max: 8 << 20 };
    l
}

/// The filesystem view of a task (shared with CLONE_FS).
#[derive(Clone)]
pub struct FsContext {
    pub root: Location,
    pub cwd: Location,
    pub umask: u32,
}

/// A process: what threads of one thread group share.
pub struct ThreadGroup {
    pub tgid: i32,
    pub actions: Mutex<[SigAction; NSIG]>,
    pub pending: Mutex<Pending>,
    /// Notified when a child changes state (wait4/waitid block on it).
    pub child_events: WaitQueue,
    pub creds: Mutex<Creds>,
    pub limits: Mutex<[Rlimit; RLIMIT_NLIMITS]>,
    /// The executable, for /proc/self/exe.
    pub exe: Mutex<Option<Location>>,
    pub start: Instant,
    pub no_new_privs: std::sync::atomic::AtomicBool,
    pub dumpable: std::sync::atomic::AtomicBool,
    /// Parent-death signal (PR_SET_PDEATHSIG).
    pub pdeath_signal: std::sync::atomic::AtomicI32,
    pub itimers: crate::time::ItimerState,
    /// CPU time consumed by reaped children (for times/getrusage).
    pub child_cpu_ns: AtomicU64,
    /// Saved set-user-id and set-group-id.
    pub saved_ids: Mutex<(u32, u32)>,
    /// Nice value (recorded only).
    pub nice: std::sync::atomic::AtomicI32,
    /// PR_SET_CHILD_SUBREAPER: orphaned descendants are reparented here.
    pub subreaper: std::sync::atomic::AtomicBool,
    /// Capability bounding set (PR_CAPBSET_READ/DROP).
    pub capbset: AtomicU64,
    /// personality(2) flags.
    pub personality: std::sync::atomic::AtomicU32,
    /// Lock-free hint for the run loop: the group is exiting (bit 0) or
    /// stopped (bit 1). Set under the process-table lock together with the
    /// state it mirrors; the loop takes that lock only when a bit is set.
    pub state_hint: std::sync::atomic::AtomicU32,
    /// CPU time of all threads, live and exited (ns).
    pub cpu_total_ns: AtomicU64,
    /// ITIMER_VIRTUAL and ITIMER_PROF: (expiry in cpu_total_ns, interval).
    pub cpu_itimers: Mutex<[Option<(u64, u64)>; 2]>,
    pub cpu_itimers_armed: std::sync::atomic::AtomicBool,
    /// POSIX timers (timer_create).
    pub posix_timers: crate::syscalls::timers::PosixTimers,
    /// PR_SET_KEEPCAPS: permitted capabilities survive leaving uid 0.
    pub keepcaps: std::sync::atomic::AtomicBool,
    /// Capability sets (the workload's view: capget, /proc status; the
    /// Sentry's permission checks still treat fsuid 0 as privileged).
    pub caps: Mutex<CapSets>,
    /// Largest resident set seen, in KiB (ru_maxrss).
    pub maxrss_kb: AtomicU64,
}

impl ThreadGroup {
    pub fn new(tgid: i32, creds: Creds) -> Arc<ThreadGroup> {
        Arc::new(ThreadGroup {
            tgid,
            actions: Mutex::new([SigAction::default(); NSIG]),
            pending: Mutex::new(Pending::default()),
            child_events: WaitQueue::new(),
            limits: Mutex::new(default_rlimits()),
            exe: Mutex::new(None),
            start: Instant::now(),
            no_new_privs: false.into(),
            dumpable: true.into(),
            pdeath_signal: 0.into(),
            itimers: Default::default(),
            child_cpu_ns: AtomicU64::new(0),
            saved_ids: Mutex::new((creds.uid, creds.gid)),
            nice: 0.into(),
            subreaper: false.into(),
            capbset: AtomicU64::new(CAP_FULL_SET),
            personality: 0.into(),
            keepcaps: false.into(),
            caps: Mutex::new(CapSets::for_uid(creds.euid)),
            posix_timers: Default::default(),
            state_hint: 0.into(),
            cpu_total_ns: AtomicU64::new(0),
            cpu_itimers: Mutex::new([None, None]),
            cpu_itimers_armed: false.into(),
            maxrss_kb: AtomicU64::new(0),
            creds: Mutex::new(creds),
        })
    }

    /// Account `ns` of CPU time and fire expired ITIMER_VIRTUAL/ITIMER_PROF.
    pub fn account_cpu(&self, k: &Kernel, ns: u64) {
        let total = self.cpu_total_ns.fetch_add(ns, Ordering::Relaxed) + ns;
        if !self.cpu_itimers_armed.load(Ordering::Relaxed) {
            return;
        }
        let mut fire = Vec::new();
        {
            let mut g = self.cpu_itimers.lock().unwrap();
            for (i, slot) in g.iter_mut().enumerate() {
                if let Some((at, interval)) = *slot {
                    if total >= at {
                        fire.push(if i == 0 { signal::SIGVTALRM } else { signal::SIGPROF });
                        *slot = (interval != 0).then(|| (total + interval, interval));
                    }
                }
            }
            self.cpu_itimers_armed.store(g.iter().any(|x| x.is_some()), Ordering::Relaxed);
        }
        for sig in fire {
            self.send(k, SigInfo::new(sig, signal::SI_KERNEL));
        }
    }

    pub fn creds(&self) -> Creds {
        self.creds.lock().unwrap().clone()
    }

    pub fn action(&self, sig: i32) -> SigAction {
        self.actions.lock().unwrap()[(sig - 1) as usize]
    }

    pub fn rlimit(&self, r: u32) -> Rlimit {
        self.limits.lock().unwrap()[r as usize]
    }

    /// Whether `sig` would be discarded on arrival (ignored, not blocked).
    fn ignores(&self, sig: i32) -> bool {
        let a = self.action(sig);
        a.handler == signal::SIG_IGN
            || (a.handler == signal::SIG_DFL && matches!(signal::default_action(sig), DefaultAction::Ignore | DefaultAction::Continue))
    }

    /// Send a process-directed signal (kill semantics): side effects of
    /// SIGKILL/SIGCONT/stop signals now, then queue and wake one thread
    /// that does not block it.
    pub fn send(&self, k: &Kernel, info: SigInfo) {
        let sig = info.signo;
        // Callers validate user-given numbers; this keeps any other path
        // (e.g. a legacy clone exit signal above 64, which Linux accepts
        // and never sends) from indexing past the action table.
        if !signal::valid(sig) {
            return;
        }
        let threads: Vec<Arc<Task>> = {
            let p = k.procs();
            match p.st(self.tgid) {
                Some(st) if st.zombie.is_none() => st.threads.iter().filter_map(|t| p.tasks.get(t).cloned()).collect(),
                _ => return,
            }
        };
        if sig == signal::SIGKILL {
            exit::start_group_exit(k, self.tgid, signal::SIGKILL);
            return;
        }
        if sig == signal::SIGCONT {
            k.continue_group(self.tgid);
            let stops = SigSet(SigSet::of(signal::SIGSTOP).0 | SigSet::of(signal::SIGTSTP).0 | SigSet::of(signal::SIGTTIN).0 | SigSet::of(signal::SIGTTOU).0);
            self.pending.lock().unwrap().discard(stops);
            for t in &threads {
                t.sig().pending.discard(stops);
            }
        } else if signal::is_stop_signal(sig) {
            self.pending.lock().unwrap().discard(SigSet::of(signal::SIGCONT));
        }
        let all_block = threads.iter().all(|t| t.sig().mask.has(sig));
        if self.ignores(sig) && !all_block {
            return;
        }
        self.pending.lock().unwrap().push(info);
        match threads.iter().find(|t| !t.sig().mask.has(sig)) {
            Some(t) => t.interrupt(),
            // Blocked everywhere: only sigtimedwait-style waiters care.
            None => threads.iter().for_each(|t| t.waiter.notify()),
        }
    }
}

/// Per-thread signal state.
#[derive(Default)]
pub struct TaskSignals {
    pub mask: SigSet,
    pub pending: Pending,
    pub altstack: AltStack,
    /// Mask to restore after a sigsuspend/ppoll-style temporary mask, once
    /// a signal handler frame has been set up.
    pub saved_mask: Option<SigSet>,
}

/// A thread of the workload.
pub struct Task {
    /// The thread id; changes only when a non-leader thread execs and
    /// takes over the leader's (see `set_tid`).
    tid: std::sync::atomic::AtomicI32,
    pub tg: Arc<ThreadGroup>,
    pub k: Arc<Kernel>,
    pub mm: Mutex<Arc<MemoryManager>>,
    pub files: Mutex<Arc<FdTable>>,
    pub fs: Mutex<Arc<Mutex<FsContext>>>,
    sig: Mutex<TaskSignals>,
    pub waiter: Arc<Waiter>,
    pub interrupter: Mutex<Option<Arc<dyn Interrupter>>>,
    pub clear_child_tid: AtomicU64,
    pub comm: Mutex<Vec<u8>>,
    /// For vfork: notified when this child execs or exits.
    pub vfork_done: Mutex<Option<Arc<VforkDone>>>,
    pub robust_list: AtomicU64,
    /// Set when another thread of the group execs: this thread must exit
    /// (de_thread), without ending the group.
    pub killed_by_exec: std::sync::atomic::AtomicBool,
    pub start: Instant,
    /// Time spent in the Sentry and the workload (approximation of CPU time).
    pub cpu_ns: AtomicU64,
    /// CPU affinity mask (sched_setaffinity; recorded, getcpu honours it).
    pub affinity: AtomicU64,
    /// PR_SET_TIMERSLACK, in ns.
    pub timerslack: AtomicU64,
}

pub const HINT_EXITING: u32 = 1;
pub const HINT_STOPPED: u32 = 2;

/// Effective, permitted, inheritable and ambient capability sets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CapSets {
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
    pub ambient: u64,
}

impl CapSets {
    /// What a process of effective uid `euid` starts with: everything for
    /// root, nothing otherwise.
    pub fn for_uid(euid: u32) -> CapSets {
        let full = if euid == 0 { CAP_FULL_SET } else { 0 };
        CapSets { effective: full, permitted: full, inheritable: 0, ambient: 0 }
    }

    /// Linux's rules when uids change (cap_emulate_setxuid): leaving uid 0
    /// for every id drops permitted and effective (unless keepcaps keeps
    /// permitted); leaving euid 0 drops effective; regaining euid 0 makes
    /// effective = permitted.
    pub fn on_setuid(&mut self, old: (u32, u32, u32), new: (u32, u32, u32), keepcaps: bool) {
        let was_root = old.0 == 0 || old.1 == 0 || old.2 == 0;
        let now_root = new.0 == 0 || new.1 == 0 || new.2 == 0;
        if was_root && !now_root {
            if !keepcaps {
                self.permitted = 0;
            }
            self.effective = 0;
            self.ambient = 0;
        }
        if old.1 == 0 && new.1 != 0 {
            self.effective = 0;
        }
        if old.1 != 0 && new.1 == 0 {
            self.effective = self.permitted;
        }
    }

    /// execve: root gets its bounding set (and inheritable); others keep
    /// only ambient capabilities (no file capabilities in the sandbox).
    pub fn on_exec(&mut self, euid: u32, uid: u32, bounding: u64) {
        if euid == 0 || uid == 0 {
            self.permitted = (self.inheritable | bounding) & CAP_FULL_SET;
            self.effective = if euid == 0 { self.permitted } else { 0 };
        } else {
            self.permitted = self.ambient;
            self.effective = self.ambient;
        }
    }
}

/// The number of host CPUs, read once: std reads cgroup files under /proc
/// and /sys for it, which a confined Sentry cannot open (the sandbox calls
/// this before confining itself).
pub fn host_cpus() -> usize {
    static N: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *N.get_or_init(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1))
}

/// The mask of every host CPU (at most 64).
pub fn all_cpus() -> u64 {
    let n = host_cpus().min(64);
    if n == 64 {
        u64::MAX
    } else {
        (1u64 << n) - 1
    }
}

/// The event a vfork parent waits for.
#[derive(Default)]
pub struct VforkDone {
    pub done: std::sync::atomic::AtomicBool,
    pub queue: WaitQueue,
}

impl VforkDone {
    pub fn release(&self) {
        self.done.store(true, Ordering::SeqCst);
        self.queue.notify(u32::MAX);
    }
}

impl Task {
    /// The thread id.
    pub fn tid(&self) -> i32 {
        self.tid.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Give the task a new thread id: only exec's de_thread does this, under
    /// the process-table lock, when a non-leader thread takes over the
    /// leader's id.
    pub(crate) fn set_tid(&self, tid: i32) {
        self.tid.store(tid, std::sync::atomic::Ordering::Relaxed);
    }

    #[allow(clippy::too_many_arguments)]
    pub fn new(
        tid: i32,
        tg: Arc<ThreadGroup>,
        k: Arc<Kernel>,
        mm: Arc<MemoryManager>,
        files: Arc<FdTable>,
        fs: Arc<Mutex<FsContext>>,
        mask: SigSet,
        comm: Vec<u8>,
    ) -> Arc<Task> {
        Arc::new(Task {
            tid: std::sync::atomic::AtomicI32::new(tid),
            tg,
            k,
            mm: Mutex::new(mm),
            files: Mutex::new(files),
            fs: Mutex::new(fs),
            sig: Mutex::new(TaskSignals { mask, ..Default::default() }),
            waiter: Waiter::new().expect("eventfd for a task waiter"),
            interrupter: Mutex::new(None),
            clear_child_tid: AtomicU64::new(0),
            comm: Mutex::new(comm),
            vfork_done: Mutex::new(None),
            robust_list: AtomicU64::new(0),
            killed_by_exec: false.into(),
            start: Instant::now(),
            cpu_ns: AtomicU64::new(0),
            affinity: AtomicU64::new(all_cpus()),
            timerslack: AtomicU64::new(50_000),
        })
    }

    pub fn sig(&self) -> MutexGuard<'_, TaskSignals> {
        self.sig.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn mm(&self) -> Arc<MemoryManager> {
        self.mm.lock().unwrap().clone()
    }

    pub fn files(&self) -> Arc<FdTable> {
        self.files.lock().unwrap().clone()
    }

    pub fn fs_ctx(&self) -> FsContext {
        self.fs.lock().unwrap().lock().unwrap().clone()
    }

    pub fn tgid(&self) -> i32 {
        self.tg.tgid
    }

    /// The VFS context for a path operation by this task.
    pub fn vfs_ctx(&self) -> fs::vfs::Context {
        let f = self.fs_ctx();
        fs::vfs::Context { root: f.root, cwd: f.cwd, creds: self.tg.creds(), umask: f.umask, pid: self.tg.tgid, tid: self.tid(), resolve: Default::default() }
    }

    /// Wake the task: out of a blocking wait, and out of the workload.
    pub fn interrupt(&self) {
        self.waiter.interrupt();
        if let Some(i) = self.interrupter.lock().unwrap().as_ref() {
            i.interrupt();
        }
    }

    /// Send a thread-directed signal (tgkill, synchronous faults).
    pub fn send(&self, info: SigInfo) {
        if !signal::valid(info.signo) {
            return;
        }
        if info.signo == signal::SIGKILL {
            exit::start_group_exit(&self.k, self.tg.tgid, signal::SIGKILL);
            return;
        }
        if info.signo == signal::SIGCONT {
            self.k.continue_group(self.tg.tgid);
        }
        let blocked = self.sig().mask.has(info.signo);
        if self.tg.ignores(info.signo) && !blocked {
            return;
        }
        self.sig().pending.push(info);
        if blocked {
            self.waiter.notify();
        } else {
            self.interrupt();
        }
    }

    /// Whether a signal is deliverable now, or the group is exiting or
    /// stopping: a blocking syscall must return (ERESTARTSYS/EINTR).
    pub fn signal_pending(&self) -> bool {
        if self.killed_by_exec.load(Ordering::SeqCst) {
            return true;
        }
        if self.tg.state_hint.load(Ordering::SeqCst) != 0 {
            let p = self.k.procs();
            if let Some(st) = p.st(self.tg.tgid) {
                if st.exiting.is_some() || st.stopped.is_some() {
                    return true;
                }
            }
        }
        let s = self.sig();
        let mask = s.mask.unblockable();
        if s.pending.set.0 & !mask.0 != 0 {
            return true;
        }
        let g = self.tg.pending.lock().unwrap();
        g.set.0 & !mask.0 != 0
    }
}
