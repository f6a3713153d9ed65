//! The Sentry's side of procfs: `fs::procfs::ProcProvider` over the
//! kernel's process table.
//!
//! Task state letters: Z (zombie), T (group stop), R for the task whose
//! Sentry thread is reading (host threads are named "task-<tid>", see
//! `task::run::spawn`), S for every other live task — the Sentry cannot
//! cheaply tell a runnable task from one blocked in a syscall.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use abi::{Errno, SysResult};
use fs::mount::Location;
use fs::procfs::{FdEntry, ProcProvider, ProcTask, SysInfo, TaskInfo};

use crate::kernel::Kernel;
use crate::signal::{SIG_DFL, SIG_IGN};
use crate::task::{Task, ThreadGroup, RLIMIT_NLIMITS};

/// What uname reports (kept equal to `syscalls::sys::{RELEASE, VERSION}`).
const RELEASE: &str = "4.4.0";
const VERSION: &str = "#1 SMP Sun Jan 10 15:06:54 PST 2016";

/// Largest argument or environment block shown.
const MAX_ARGS: u64 = 1 << 20;

/// Every capability up to CAP_LAST_CAP (40).

struct Inner {
    k: Weak<Kernel>,
    cpuinfo: String,
    /// oom_score_adj per thread group (the Sentry has no OOM killer).
    oom: Mutex<HashMap<i32, i32>>,
}

/// The provider for `fs::procfs::ProcFs`; holds the kernel weakly (the
/// kernel's VFS owns the procfs mount).
pub fn provider(k: &Arc<Kernel>) -> Arc<dyn ProcProvider> {
    Arc::new(Provider(Arc::new(Inner { k: Arc::downgrade(k), cpuinfo: cpuinfo_text(), oom: Mutex::new(HashMap::new()) })))
}

struct Provider(Arc<Inner>);

fn ncpus() -> u32 {
    crate::task::host_cpus() as u32
}

/// The host's /proc/cpuinfo as read at boot (before confinement), or a
/// minimal one with a stanza per CPU.
fn cpuinfo_text() -> String {
    if let Ok(s) = std::fs::read_to_string("/proc/cpuinfo") {
        if s.contains("processor") {
            return s;
        }
    }
    let mut s = String::new();
    for i in 0..ncpus() {
        s.push_str(&format!(
            "processor\t: {i}\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 85\nmodel name\t: runsc-rs virtual CPU\nflags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 syscall nx lm\n\n"
        ));
    }
    s
}

/// The tid of the task whose Sentry thread is calling, if any.
fn current_tid() -> Option<i32> {
    std::thread::current().name()?.strip_prefix("task-")?.parse().ok()
}

fn mem_total(k: &Kernel) -> u64 {
    // Same figure as sysinfo(2).
    k.pages.mem().size().min(8 << 30)
}

impl ProcProvider for Provider {
    fn pids(&self) -> Vec<i32> {
        let Some(k) = self.0.k.upgrade() else { return vec![] };
        let p = k.procs();
        p.state.keys().copied().filter(|t| p.groups.contains_key(t)).collect()
    }

    fn task(&self, pid: i32) -> Option<Arc<dyn ProcTask>> {
        let k = self.0.k.upgrade()?;
        let p = k.procs();
        if !p.groups.contains_key(&pid) || p.st(pid).is_none() {
            return None;
        }
        Some(Arc::new(View { inner: self.0.clone(), pid, tid: None }))
    }

    fn sysinfo(&self) -> SysInfo {
        let Some(k) = self.0.k.upgrade() else { return SysInfo::default() };
        let total = mem_total(&k);
        let uptime = k.boot.elapsed();
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let p = k.procs();
        SysInfo {
            mem_total: total,
            mem_free: total.saturating_sub(k.pages.used_bytes()),
            mem_cached: 0,
            uptime,
            ncpus: ncpus(),
            nr_threads: p.tasks.len() as u32,
            nr_running: 1,
            last_pid: p.tasks.keys().copied().max().unwrap_or(0),
            boot_time: now.saturating_sub(uptime).as_secs() as i64,
            processes: p.state.len() as u64,
        }
    }

    fn cpuinfo(&self) -> String {
        self.0.cpuinfo.clone()
    }

    fn hostname(&self) -> String {
        self.0.k.upgrade().map(|k| k.hostname.lock().unwrap_or_else(|e| e.into_inner()).clone()).unwrap_or_default()
    }

    fn set_hostname(&self, name: &[u8]) -> SysResult<()> {
        let k = self.0.k.upgrade().ok_or(Errno::ESRCH)?;
        *k.hostname.lock().unwrap_or_else(|e| e.into_inner()) = String::from_utf8_lossy(name).into_owned();
        Ok(())
    }

    fn release(&self) -> (String, String) {
        (RELEASE.into(), VERSION.into())
    }

    fn sysctls(&self) -> Vec<(String, String)> {
        self.0.k.upgrade().map(|k| k.sysctls.lock().unwrap_or_else(|e| e.into_inner()).clone()).unwrap_or_default()
    }

    /// Recorded, no effect (kernel.domainname: uname's domain name).
    fn set_sysctl(&self, key: &str, value: &str) -> SysResult<()> {
        let k = self.0.k.upgrade().ok_or(Errno::ESRCH)?;
        let mut s = k.sysctls.lock().unwrap_or_else(|e| e.into_inner());
        let slot = s.iter_mut().find(|(k, _)| k == key).ok_or(Errno::ENOENT)?;
        slot.1 = value.to_string();
        Ok(())
    }
}

/// A process (`tid == None`) or one of its threads.
struct View {
    inner: Arc<Inner>,
    pid: i32,
    tid: Option<i32>,
}

/// A consistent look at one thread group, taken under the table lock.
struct Snap {
    k: Arc<Kernel>,
    tg: Arc<ThreadGroup>,
    /// The thread described (the leader, or the first live thread when
    /// the leader is gone); None for zombies.
    task: Option<Arc<Task>>,
    /// Every live thread.
    threads: Vec<Arc<Task>>,
    parent: i32,
    pgid: i32,
    sid: i32,
    zombie: bool,
    stopped: bool,
    exit_signal: i32,
}

impl View {
    fn snap(&self) -> Option<Snap> {
        let k = self.inner.k.upgrade()?;
        let p = k.procs();
        let st = p.st(self.pid)?;
        let tg = p.groups.get(&self.pid)?.clone();
        let threads: Vec<Arc<Task>> = st.threads.iter().filter_map(|t| p.tasks.get(t).cloned()).collect();
        let task = match self.tid {
            Some(tid) => Some(threads.iter().find(|t| t.tid() == tid)?.clone()),
            None => threads.iter().find(|t| t.tid() == self.pid).or(threads.first()).cloned(),
        };
        let snap = Snap {
            tg,
            task,
            threads,
            parent: st.parent,
            pgid: st.pgid,
            sid: st.sid,
            zombie: st.zombie.is_some(),
            stopped: st.stopped.is_some(),
            exit_signal: st.exit_signal,
            k: k.clone(),
        };
        drop(p);
        Some(snap)
    }

    fn live_task(&self) -> Option<Arc<Task>> {
        self.snap()?.task
    }

    /// Copy the argument (`env == false`) or environment block.
    fn read_block(&self, env: bool) -> Vec<u8> {
        let Some(t) = self.live_task() else { return vec![] };
        let mm = t.mm();
        let (args, envs) = mm.arg_env();
        let (start, end) = if env { envs } else { args };
        if end <= start {
            return vec![];
        }
        let len = (end - start).min(MAX_ARGS) as usize;
        let mut buf = vec![0u8; len];
        match mm.copy_in(start, &mut buf) {
            Ok(()) => buf,
            Err(_) => vec![],
        }
    }
}

fn sig_bits(set: crate::signal::SigSet) -> u64 {
    set.0
}

impl ProcTask for View {
    fn pid(&self) -> i32 {
        self.pid
    }

    fn tids(&self) -> Vec<i32> {
        let Some(k) = self.inner.k.upgrade() else { return vec![] };
        let p = k.procs();
        p.st(self.pid).map(|s| s.threads.iter().copied().filter(|t| p.tasks.contains_key(t)).collect()).unwrap_or_default()
    }

    fn thread(&self, tid: i32) -> Option<Arc<dyn ProcTask>> {
        if !self.tids().contains(&tid) {
            return None;
        }
        Some(Arc::new(View { inner: self.inner.clone(), pid: self.pid, tid: Some(tid) }))
    }

    fn owner(&self) -> (u32, u32) {
        match self.inner.k.upgrade().and_then(|k| k.procs().groups.get(&self.pid).cloned()) {
            Some(tg) => {
                let c = tg.creds();
                (c.euid, c.egid)
            }
            None => (0, 0),
        }
    }

    fn info(&self) -> Option<TaskInfo> {
        let s = self.snap()?;
        let tg = &s.tg;
        let creds = tg.creds();
        let saved = *tg.saved_ids.lock().unwrap_or_else(|e| e.into_inner());
        let limits = *tg.limits.lock().unwrap_or_else(|e| e.into_inner());
        let tid = self.tid.unwrap_or(self.pid);
        let me = current_tid();
        let running = match self.tid {
            Some(t) => me == Some(t),
            None => me.is_some_and(|m| s.threads.iter().any(|t| t.tid() == m)),
        };
        let state = if s.zombie || s.task.is_none() {
            'Z'
        } else if s.stopped {
            'T'
        } else if running {
            'R'
        } else {
            'S'
        };
        let (mut ign, mut cgt) = (0u64, 0u64);
        for (i, a) in tg.actions.lock().unwrap_or_else(|e| e.into_inner()).iter().enumerate() {
            if a.handler == SIG_IGN {
                ign |= 1 << i;
            } else if a.handler != SIG_DFL {
                cgt |= 1 << i;
            }
        }
        let shd_pnd = sig_bits(tg.pending.lock().unwrap_or_else(|e| e.into_inner()).set);
        let caps = *tg.caps.lock().unwrap_or_else(|e| e.into_inner());
        let mut info = TaskInfo {
            state,
            tgid: self.pid,
            pid: tid,
            ppid: s.parent,
            pgrp: s.pgid,
            session: s.sid,
            tty_nr: 0,
            tpgid: -1,
            uids: [creds.uid, creds.euid, saved.0, creds.fsuid],
            gids: [creds.gid, creds.egid, saved.1, creds.fsgid],
            groups: creds.groups.clone(),
            fd_size: 64,
            threads: s.threads.len() as u32,
            sig_limit: limits[libc::RLIMIT_SIGPENDING as usize].cur,
            shd_pnd,
            sig_ign: ign,
            sig_cgt: cgt,
            cap_prm: caps.permitted,
            cap_eff: caps.effective,
            cap_inh: caps.inheritable,
            cap_amb: caps.ambient,
            cap_bnd: tg.capbset.load(std::sync::atomic::Ordering::SeqCst),
            no_new_privs: tg.no_new_privs.load(Ordering::Relaxed),
            nice: tg.nice.load(Ordering::Relaxed),
            cutime: Duration::from_nanos(tg.child_cpu_ns.load(Ordering::Relaxed)),
            start_time: tg.start.saturating_duration_since(s.k.boot),
            rsslim: limits[libc::RLIMIT_RSS as usize].cur,
            exit_signal: s.exit_signal,
            ncpus: ncpus(),
            ..Default::default()
        };
        if let Some(t) = &s.task {
            info.name = t.comm.lock().unwrap_or_else(|e| e.into_inner()).clone();
            info.umask = t.fs_ctx().umask;
            let files = t.files();
            let max = files.list().last().map(|(fd, _)| *fd).unwrap_or(0).max(0) as u32;
            info.fd_size = (max / 64 + 1) * 64;
            let mm = t.mm();
            info.has_mm = true;
            info.vm_size = mm.vm_size();
            info.vm_rss = mm.rss();
            let ((a0, a1), (e0, e1)) = mm.arg_env();
            (info.arg_start, info.arg_end, info.env_start, info.env_end) = (a0, a1, e0, e1);
            let sig = t.sig();
            info.sig_blk = sig_bits(sig.mask);
            info.sig_pnd = sig_bits(sig.pending.set);
            drop(sig);
            let cpu: u64 = match self.tid {
                Some(_) => t.cpu_ns.load(Ordering::Relaxed),
                None => s.threads.iter().map(|t| t.cpu_ns.load(Ordering::Relaxed)).sum(),
            };
            info.utime = Duration::from_nanos(cpu);
            if self.tid.is_some() {
                info.start_time = t.start.saturating_duration_since(s.k.boot);
            }
        }
        info.sig_queued = u64::from((info.sig_pnd | info.shd_pnd).count_ones());
        Some(info)
    }

    fn comm(&self) -> Vec<u8> {
        self.live_task().map(|t| t.comm.lock().unwrap_or_else(|e| e.into_inner()).clone()).unwrap_or_default()
    }

    fn set_comm(&self, name: &[u8]) {
        if let Some(t) = self.live_task() {
            *t.comm.lock().unwrap_or_else(|e| e.into_inner()) = name.to_vec();
        }
    }

    fn cmdline(&self) -> Vec<u8> {
        self.read_block(false)
    }

    fn environ(&self) -> Vec<u8> {
        self.read_block(true)
    }

    fn maps(&self) -> String {
        self.live_task().map(|t| t.mm().maps_text()).unwrap_or_default()
    }

    fn limits(&self) -> Vec<(u64, u64)> {
        let Some(s) = self.snap() else { return vec![] };
        let l = *s.tg.limits.lock().unwrap_or_else(|e| e.into_inner());
        l.iter().take(RLIMIT_NLIMITS).map(|r| (r.cur, r.max)).collect()
    }

    fn mounts(&self) -> String {
        let Some(s) = self.snap() else { return String::new() };
        let Some(t) = s.task else { return String::new() };
        s.k.vfs.mounts_text(&t.fs_ctx().root)
    }

    fn exe(&self) -> Option<Location> {
        let s = self.snap()?;
        s.task.as_ref()?;
        let exe = s.tg.exe.lock().unwrap_or_else(|e| e.into_inner()).clone();
        exe
    }

    fn cwd(&self) -> Option<Location> {
        Some(self.live_task()?.fs_ctx().cwd)
    }

    fn root(&self) -> Option<Location> {
        Some(self.live_task()?.fs_ctx().root)
    }

    fn fds(&self) -> Vec<FdEntry> {
        let Some(t) = self.live_task() else { return vec![] };
        let files = t.files();
        files.list().into_iter().map(|(fd, file)| FdEntry { fd, file, cloexec: files.cloexec(fd).unwrap_or(false) }).collect()
    }

    fn fd(&self, fd: i32) -> Option<FdEntry> {
        let t = self.live_task()?;
        let files = t.files();
        let file = files.get(fd).ok()?;
        Some(FdEntry { fd, file, cloexec: files.cloexec(fd).unwrap_or(false) })
    }

    /// A group without its own value shows its nearest ancestor's (an
    /// approximation of fork inheriting it).
    fn oom_score_adj(&self) -> i32 {
        let m = self.inner.oom.lock().unwrap_or_else(|e| e.into_inner());
        let Some(k) = self.inner.k.upgrade() else { return 0 };
        let p = k.procs();
        let mut pid = self.pid;
        for _ in 0..64 {
            if let Some(v) = m.get(&pid) {
                return *v;
            }
            match p.st(pid) {
                Some(st) if st.parent > 0 => pid = st.parent,
                _ => break,
            }
        }
        0
    }

    fn set_oom_score_adj(&self, v: i32) -> SysResult<()> {
        self.snap().ok_or(Errno::ESRCH)?;
        let mut m = self.inner.oom.lock().unwrap_or_else(|e| e.into_inner());
        // Forget groups that are gone.
        if let Some(k) = self.inner.k.upgrade() {
            let p = k.procs();
            m.retain(|pid, _| p.groups.contains_key(pid));
        }
        m.insert(self.pid, v);
        Ok(())
    }
}
