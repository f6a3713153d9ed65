//! Control of a running sandbox from outside the workload: what the OCI
//! runtime's control server needs (exec, wait, signal, ps, stats).
//!
//! Processes started here (`Kernel::spawn_process`, like `runc exec`) have
//! no parent inside the sandbox (getppid() is 0) and lead a new session.
//! To keep their exit status until the control server reaps it, the
//! kernel gets a *reaper group* at pid 0 ([`Kernel::enable_control`]): a
//! thread group with no threads and no process-table state, so it is
//! invisible to the workload (not in /proc, not a kill target), but the
//! exit path sees a parent and leaves a zombie behind instead of
//! discarding the status. Init (whose parent is 0 as well) then also stays
//! a zombie after it exits; nothing reaps it, and nothing needs to.

use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex};

use abi::Errno;
use fs::creds::Creds;
use fs::file::File;

use crate::boot::{resolve_command, ControllingTty};
use crate::fdtable::FdTable;
use crate::kernel::{Kernel, ProcState};
use crate::signal::{SigInfo, SigSet, SI_USER};
use crate::task::{run, FsContext, Rlimit, Task, ThreadGroup};

/// Errors of control operations.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("empty command")]
    EmptyCommand,
    #[error("{0}: {1}")]
    Fs(&'static str, Errno),
    #[error("starting the process's thread: {0}")]
    Spawn(std::io::Error),
    #[error("no such process: {0}")]
    NoProcess(i32),
    #[error("invalid signal {0}")]
    BadSignal(i32),
}

/// A new process to start in a running sandbox.
#[derive(Default)]
pub struct ProcessSpec {
    pub argv: Vec<Vec<u8>>,
    pub env: Vec<Vec<u8>>,
    pub cwd: Vec<u8>,
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups.
    pub groups: Vec<u32>,
    /// Host fds that become the process's fds 0, 1, 2 (in order).
    pub stdio: Vec<OwnedFd>,
    /// Resource limits to set (RLIMIT_* number, limit).
    pub rlimits: Vec<(u32, Rlimit)>,
    pub no_new_privs: bool,
}

/// One process, as `ps` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessInfo {
    pub pid: i32,
    pub ppid: i32,
    pub uid: u32,
    /// The command name (comm of the thread-group leader).
    pub comm: String,
    pub threads: usize,
    /// 'R' running, 'T' stopped, 'Z' zombie.
    pub state: char,
}

/// Resource use of the whole sandbox.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Bytes of the memory file in use.
    pub memory_bytes: u64,
    /// Live processes.
    pub pids: u64,
    /// Live threads.
    pub threads: u64,
}

/// The pid the reaper group lives at.
const REAPER: i32 = 0;

impl Kernel {
    /// Make exit statuses of processes started by [`Kernel::spawn_process`]
    /// collectable by [`Kernel::wait_process`]. Call once, before any
    /// workload runs.
    pub fn enable_control(&self) {
        let mut p = self.procs();
        p.groups.entry(REAPER).or_insert_with(|| ThreadGroup::new(REAPER, Creds::root()));
    }

    /// Start a new process in the sandbox (like `runc exec`): a new session
    /// and process group, no parent, the given credentials and stdio; the
    /// command is resolved through the PATH of its environment. Returns its
    /// pid. A command that cannot be executed ends the process with status
    /// 127 (not found) or 126.
    pub fn spawn_process(self: &Arc<Self>, spec: ProcessSpec) -> Result<i32, ControlError> {
        let argv0 = spec.argv.first().cloned().ok_or(ControlError::EmptyCommand)?;
        let mut creds = Creds::user(spec.uid, spec.gid);
        creds.groups = spec.groups.clone();
        let vfs = self.vfs.clone();
        let ctx = vfs.root_context(creds.clone(), 0);
        let cwd = vfs.lookup(&ctx, None, &spec.cwd, 0).map_err(|e| ControlError::Fs("the working directory", e))?;
        let path = resolve_command(&vfs, &ctx, &argv0, &spec.env);
        let fsctx = Arc::new(Mutex::new(FsContext { root: vfs.root(), cwd, umask: 0o022 }));
        let files = FdTable::new();
        let mut terminal = None;
        for (i, fd) in spec.stdio.into_iter().enumerate() {
            let host = fs::host::HostFile::new_donated(fd).map_err(|e| ControlError::Fs("stdio", e))?;
            if host.tty().is_some() && terminal.is_none() {
                terminal = Some(host.clone());
            }
            let file = File::new(host, libc::O_RDWR, None);
            files.install_at(i as i32, file, false, u64::MAX).map_err(|e| ControlError::Fs("stdio", e))?;
        }
        let (lo, hi) = self.platform.user_range();
        let mm = Arc::new(crate::mm::MemoryManager::new(self.pages.clone(), lo, hi));
        let comm = argv0.rsplit(|&c| c == b'/').next().unwrap_or(&argv0).to_vec();
        let task = {
            let mut p = self.procs();
            let pid = p.alloc_pid();
            let tg = ThreadGroup::new(pid, creds);
            {
                let mut l = tg.limits.lock().unwrap();
                for (r, lim) in &spec.rlimits {
                    if let Some(slot) = l.get_mut(*r as usize) {
                        *slot = *lim;
                    }
                }
            }
            tg.no_new_privs.store(spec.no_new_privs, std::sync::atomic::Ordering::SeqCst);
            let task = Task::new(pid, tg.clone(), self.clone(), mm, files, fsctx, SigSet::default(), comm);
            p.state.insert(pid, ProcState { parent: REAPER, pgid: pid, sid: pid, threads: vec![pid], exit_signal: 0, ..Default::default() });
            p.groups.insert(pid, tg);
            p.tasks.insert(pid, task.clone());
            task
        };
        let pid = task.tid();
        if let Some(t) = terminal {
            if let Some(tty) = t.tty() {
                tty.set_controlling(pid, pid);
            }
            // /dev/tty for the new session: its own terminal.
            fs::devfs::register_devices(&vfs, Some(Arc::new(ControllingTty(t))));
        }
        let (argv, env) = (spec.argv, spec.env);
        if let Err(e) = run::spawn_init(task, Box::new(move |t| crate::task::exec::do_execve(t, None, None, path, argv, env, 0).map(|_| ()))) {
            let mut p = self.procs();
            p.tasks.remove(&pid);
            p.groups.remove(&pid);
            p.state.remove(&pid);
            return Err(ControlError::Spawn(e));
        }
        Ok(pid)
    }

    /// Block until process `pid` (started by `spawn_process`) has exited,
    /// reap it and return its wait status. Only one caller may wait for a
    /// given pid.
    pub fn wait_process(&self, pid: i32) -> Result<i32, ControlError> {
        let reaper = self.procs().groups.get(&REAPER).cloned().ok_or(ControlError::NoProcess(pid))?;
        let waiter = fs::waiter::Waiter::new().map_err(|e| ControlError::Fs("waiter", e))?;
        let waker = waiter.as_waker();
        reaper.child_events.register(&waker, u32::MAX);
        let r = loop {
            {
                let mut p = self.procs();
                match p.st(pid) {
                    None => break Err(ControlError::NoProcess(pid)),
                    Some(st) if st.parent != REAPER => break Err(ControlError::NoProcess(pid)),
                    Some(st) => {
                        if let Some(status) = st.zombie {
                            if pid != 1 {
                                p.state.remove(&pid);
                                p.groups.remove(&pid);
                            }
                            break Ok(status);
                        }
                    }
                }
            }
            let _ = waiter.wait(&[], None);
            waiter.clear_interrupt();
        };
        reaper.child_events.unregister(&waker);
        r
    }

    /// Send `sig` to process `pid` (kill(2) from outside: SI_USER, pid 0).
    pub fn signal_process(&self, pid: i32, sig: i32) -> Result<(), ControlError> {
        if !(1..=64).contains(&sig) {
            return Err(ControlError::BadSignal(sig));
        }
        if pid == REAPER || !self.signal_group(pid, SigInfo::from_user(sig, SI_USER, 0, 0)) {
            return Err(ControlError::NoProcess(pid));
        }
        Ok(())
    }

    /// Send `sig` to every live process of the sandbox.
    pub fn signal_all(&self, sig: i32) -> Result<(), ControlError> {
        if !(1..=64).contains(&sig) {
            return Err(ControlError::BadSignal(sig));
        }
        let pids: Vec<i32> = {
            let p = self.procs();
            p.state.iter().filter(|(t, s)| **t != REAPER && s.zombie.is_none()).map(|(t, _)| *t).collect()
        };
        for pid in pids {
            self.signal_group(pid, SigInfo::from_user(sig, SI_USER, 0, 0));
        }
        Ok(())
    }

    /// Every process of the sandbox, by pid.
    pub fn process_list(&self) -> Vec<ProcessInfo> {
        let p = self.procs();
        let mut v: Vec<ProcessInfo> = p
            .state
            .iter()
            .filter(|(pid, _)| **pid != REAPER)
            .map(|(pid, st)| {
                let comm = p.tasks.get(pid).map(|t| String::from_utf8_lossy(&t.comm.lock().unwrap()).into_owned()).unwrap_or_default();
                let uid = p.groups.get(pid).map(|g| g.creds().uid).unwrap_or(0);
                let state = if st.zombie.is_some() {
                    'Z'
                } else if st.stopped.is_some() {
                    'T'
                } else {
                    'R'
                };
                ProcessInfo { pid: *pid, ppid: st.parent, uid, comm, threads: st.threads.len(), state }
            })
            .collect();
        v.sort_by_key(|x| x.pid);
        v
    }

    /// Memory and process counts.
    pub fn stats(&self) -> Stats {
        let p = self.procs();
        let pids = p.state.iter().filter(|(t, s)| **t != REAPER && s.zombie.is_none()).count() as u64;
        Stats { memory_bytes: self.pages.used_bytes(), pids, threads: p.tasks.len() as u64 }
    }
}
