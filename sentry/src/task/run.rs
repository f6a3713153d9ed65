//! The loop one Sentry host thread runs for one task.

use std::sync::Arc;
use std::time::{Duration, Instant};

use abi::{Errno, SysResult};
use fs::waiter::{WaitQueue, WaitResult};
use platform::{Context, Event, Prot, Regs};
use tracing::{debug, warn};

use crate::mm::{FaultError, MemoryManager, PlatformOp, ViewId};
use crate::signal::{self, frame, DefaultAction, SigInfo, SigSet};
use crate::task::{exit, Task};

/// The state of a task that only its own host thread touches: registers
/// and the platform context.
pub struct Thread {
    pub task: Arc<Task>,
    pub regs: Regs,
    pub ctx: Box<dyn Context>,
    pub mm: Arc<MemoryManager>,
    pub view: ViewId,
    /// Set by handlers that replaced the registers (execve, rt_sigreturn):
    /// the syscall's return value must not be written to rax.
    pub regs_replaced: bool,
    /// Set when the last stop was a syscall (for restart handling).
    pub in_syscall: bool,
    /// Exit requested by exit(2) of this thread: the wait status.
    pub exit_thread: Option<i32>,
}

/// Registers of a fresh user thread.
pub fn initial_regs(entry: u64, sp: u64) -> Regs {
    // SAFETY: user_regs_struct is plain integers; all-zero is valid.
    let mut r: Regs = unsafe { std::mem::zeroed() };
    r.rip = entry;
    r.rsp = sp;
    r.cs = frame::USER_CS;
    r.ss = frame::USER_SS;
    r.eflags = 0x202;
    r.orig_rax = u64::MAX;
    r
}

/// Start the host thread that runs `task` from `regs`.
pub fn spawn(task: Arc<Task>, regs: Regs) -> std::io::Result<()> {
    let name = format!("task-{}", task.tid());
    std::thread::Builder::new().name(name).stack_size(2 << 20).spawn(move || run(task, regs, None)).map(|_| ())
}

/// What the first process does before it runs: its execve.
pub type InitExec = Box<dyn FnOnce(&mut Thread) -> SysResult<()> + Send>;

/// Start the first process: its thread runs `init` (the execve of the
/// command) and then the workload. A failed exec ends the process with
/// status 127 (not found) or 126 (not executable), like a shell.
pub fn spawn_init(task: Arc<Task>, init: InitExec) -> std::io::Result<()> {
    let regs = initial_regs(0, 0);
    std::thread::Builder::new().name("task-1".into()).stack_size(2 << 20).spawn(move || run(task, regs, Some(init))).map(|_| ())
}

fn run(task: Arc<Task>, regs: Regs, init: Option<InitExec>) {
    let ctx = match task.k.platform.new_context() {
        Ok(c) => c,
        Err(e) => {
            warn!(tid = task.tid(), "cannot create platform context: {e}");
            exit::exit_thread(&task, None, 0x7f00, true);
            return;
        }
    };
    *task.interrupter.lock().unwrap() = Some(ctx.interrupter());
    let mm = task.mm();
    let view = mm.attach(Some(ctx.interrupter()));
    let mut t = Thread { task: task.clone(), regs, ctx, mm, view, regs_replaced: false, in_syscall: false, exit_thread: None };
    let status = match init.map(|f| f(&mut t)) {
        Some(Err(e)) => {
            let code = if e == Errno::ENOENT { 127 } else { 126 };
            eprintln!("runsc-rs: cannot execute the command: {e:?}");
            (code, code << 8, true)
        }
        _ => {
            // A panic is a Sentry bug; it must not hang the sandbox: the
            // task's process is killed and the rest goes on.
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| t.main_loop())) {
                Ok(s) => s,
                Err(_) => {
                    tracing::error!(tid = task.tid(), "Sentry bug: the task's thread panicked; killing its process");
                    (0, signal::SIGKILL, true)
                }
            }
        }
    };
    t.mm.detach(t.view);
    let Thread { task, ctx, .. } = t;
    *task.interrupter.lock().unwrap() = None;
    // Kill the stub before the task disappears from the tables.
    drop(ctx);
    exit::exit_thread(&task, Some(status.0), status.1, status.2);
}

impl Thread {
    /// Returns (thread exit code, group wait status, whether the group exits).
    fn main_loop(&mut self) -> (i32, i32, bool) {
        loop {
            if let Some(code) = self.exit_thread {
                return (code, code << 8, false);
            }
            if self.task.killed_by_exec.load(std::sync::atomic::Ordering::SeqCst) {
                return (0, 0, false);
            }
            if let Some(status) = self.handle_signals() {
                return (status, status, true);
            }
            if let Err(e) = self.apply_mm_ops() {
                warn!(tid = self.task.tid(), "platform mapping failed: {e}");
                return (0, signal::SIGKILL, true);
            }
            let t0 = Instant::now();
            let ev = match self.ctx.switch(&mut self.regs) {
                Ok(ev) => ev,
                Err(e) => {
                    warn!(tid = self.task.tid(), "platform switch failed: {e}");
                    return (0, signal::SIGKILL, true);
                }
            };
            let dt = t0.elapsed().as_nanos() as u64;
            self.task.cpu_ns.fetch_add(dt, std::sync::atomic::Ordering::Relaxed);
            self.task.tg.account_cpu(&self.task.k, dt);
            self.in_syscall = false;
            match ev {
                Event::Syscall => {
                    self.in_syscall = true;
                    crate::syscalls::dispatch(self);
                    self.mm.kick_others(self.view);
                }
                Event::Fault { addr, access } => match self.mm.handle_fault(self.view, addr, access) {
                    Ok(()) => {}
                    Err(e) if tracing::enabled!(tracing::Level::DEBUG) => {
                        debug!(tid = self.task.tid(), addr = format_args!("{addr:#x}"), rip = format_args!("{:#x}", self.regs.rip), ?access, ?e, "fault delivered as a signal");
                        self.fault_signal(e, addr);
                    }
                    Err(e) => self.fault_signal(e, addr),
                },
                Event::Exception { signo, code, addr } => self.force_signal(SigInfo::fault(signo, code, addr)),
                Event::Interrupted => {}
            }
        }
    }

    fn fault_signal(&mut self, e: FaultError, addr: u64) {
        let info = match e {
            FaultError::MapErr => SigInfo::fault(signal::SIGSEGV, signal::SEGV_MAPERR, addr),
            FaultError::AccErr => SigInfo::fault(signal::SIGSEGV, signal::SEGV_ACCERR, addr),
            FaultError::Bus => SigInfo::fault(signal::SIGBUS, signal::BUS_ADRERR, addr),
        };
        self.force_signal(info);
    }

    /// Apply queued address-space changes to the platform context.
    pub fn apply_mm_ops(&mut self) -> platform::Result<()> {
        for op in self.mm.take_ops(self.view) {
            match op {
                PlatformOp::Map { addr, len, prot, offset } => self.ctx.map(addr, len, prot, offset)?,
                PlatformOp::Unmap { addr, len } => self.ctx.unmap(addr, len)?,
                PlatformOp::Protect { addr, len, prot } => self.ctx.protect(addr, len, prot)?,
            }
        }
        Ok(())
    }

    /// Switch to a new address space (execve).
    pub fn replace_mm(&mut self, mm: Arc<MemoryManager>) {
        self.mm.detach(self.view);
        self.view = mm.attach(Some(self.ctx.interrupter()));
        *self.task.mm.lock().unwrap() = mm.clone();
        self.mm = mm;
    }

    /// A synchronous signal from a fault: if it is blocked or ignored, the
    /// process is killed by it (as Linux's force_sig does).
    pub fn force_signal(&mut self, info: SigInfo) {
        let sig = info.signo;
        let act = self.task.tg.action(sig);
        let blocked = self.task.sig().mask.has(sig);
        if blocked || act.handler == signal::SIG_IGN {
            let mut a = self.task.tg.actions.lock().unwrap();
            a[(sig - 1) as usize].handler = signal::SIG_DFL;
            drop(a);
            self.task.sig().mask.remove(sig);
        }
        self.task.sig().pending.push(info);
    }

    /// Deliver pending signals; returns the group's wait status if the
    /// task must exit.
    fn handle_signals(&mut self) -> Option<i32> {
        loop {
            if let Some(status) = exit::group_exiting(&self.task) {
                return Some(status);
            }
            if exit::wait_while_stopped(&self.task) {
                continue;
            }
            let info = {
                let mut s = self.task.sig();
                let mask = s.mask;
                match s.pending.pop(mask) {
                    Some(i) => Some(i),
                    None => {
                        drop(s);
                        self.task.tg.pending.lock().unwrap().pop(mask)
                    }
                }
            };
            let Some(info) = info else { break };
            let sig = info.signo;
            let act = self.task.tg.action(sig);
            if act.handler == signal::SIG_IGN {
                continue;
            }
            if act.handler == signal::SIG_DFL {
                match signal::default_action(sig) {
                    DefaultAction::Ignore | DefaultAction::Continue => continue,
                    DefaultAction::Stop => {
                        exit::group_stop(&self.task, sig);
                        continue;
                    }
                    DefaultAction::Terminate => {
                        exit::start_group_exit(&self.task.k, self.task.tg.tgid, sig);
                        continue;
                    }
                    DefaultAction::CoreDump => {
                        exit::start_group_exit(&self.task.k, self.task.tg.tgid, sig | 0x80);
                        continue;
                    }
                }
            }
            self.setup_handler(sig, info, act);
            return None;
        }
        // No handler ran: restart an interrupted syscall transparently.
        self.restore_saved_mask();
        if self.in_syscall {
            let rax = self.regs.rax as i64;
            if [Errno::ERESTARTSYS, Errno::ERESTARTNOINTR, Errno::ERESTARTNOHAND, Errno::ERESTART_RESTARTBLOCK]
                .iter()
                .any(|e| rax == -(e.0 as i64))
            {
                self.regs.rax = self.regs.orig_rax;
                self.regs.rip -= 2;
            }
            self.in_syscall = false;
        }
        None
    }

    fn restore_saved_mask(&mut self) {
        let mut s = self.task.sig();
        if let Some(m) = s.saved_mask.take() {
            s.mask = m;
        }
    }

    fn setup_handler(&mut self, sig: i32, info: SigInfo, act: signal::SigAction) {
        // Syscall restart decision.
        if self.in_syscall {
            let rax = self.regs.rax as i64;
            let code = |e: Errno| rax == -(e.0 as i64);
            if code(Errno::ERESTARTNOHAND) || code(Errno::ERESTART_RESTARTBLOCK) || (code(Errno::ERESTARTSYS) && act.flags & signal::SA_RESTART == 0) {
                self.regs.rax = Errno::EINTR.as_ret();
            } else if code(Errno::ERESTARTSYS) || code(Errno::ERESTARTNOINTR) {
                self.regs.rax = self.regs.orig_rax;
                self.regs.rip -= 2;
            }
            self.in_syscall = false;
        }
        let (old_mask, altstack) = {
            let mut s = self.task.sig();
            let old = s.saved_mask.take().unwrap_or(s.mask);
            (old, s.altstack)
        };
        let fp = match self.ctx.get_fpstate() {
            Ok(fp) => fp,
            Err(e) => {
                warn!("get_fpstate: {e}");
                platform::FpState::default()
            }
        };
        let setup = frame::HandlerSetup {
            handler: act.handler,
            restorer: act.restorer,
            sig,
            info,
            siginfo_flag: act.flags & signal::SA_SIGINFO != 0,
            old_mask,
            altstack,
            use_altstack: act.flags & signal::SA_ONSTACK != 0,
        };
        if frame::setup(&self.mm, &mut self.regs, &fp, &setup).is_err() {
            debug!(tid = self.task.tid(), sig, "cannot build signal frame: SIGSEGV");
            let mut a = self.task.tg.actions.lock().unwrap();
            a[(signal::SIGSEGV - 1) as usize].handler = signal::SIG_DFL;
            drop(a);
            exit::start_group_exit(&self.task.k, self.task.tg.tgid, signal::SIGSEGV | 0x80);
            return;
        }
        // A fresh FP state for the handler.
        let _ = self.ctx.set_fpstate(&platform::FpState::default());
        let mut s = self.task.sig();
        let mut m = SigSet(s.mask.0 | act.mask);
        if act.flags & signal::SA_NODEFER == 0 {
            m.add(sig);
        }
        s.mask = m.unblockable();
        drop(s);
        if act.flags & signal::SA_RESETHAND != 0 {
            let mut a = self.task.tg.actions.lock().unwrap();
            a[(sig - 1) as usize] = signal::SigAction::default();
        }
    }

    /// rt_sigreturn.
    pub fn sigreturn(&mut self) -> SysResult<u64> {
        let r = match frame::restore(&self.mm, &mut self.regs) {
            Ok(r) => r,
            Err(_) => {
                self.force_signal(SigInfo::new(signal::SIGSEGV, signal::SI_KERNEL));
                self.regs_replaced = true;
                return Ok(0);
            }
        };
        self.task.sig().mask = r.mask.unblockable();
        let _ = self.ctx.set_fpstate(&r.fp);
        self.regs_replaced = true;
        self.in_syscall = false;
        Ok(0)
    }

    /// Block until `check` yields a result, a signal arrives (ERESTARTSYS),
    /// or `deadline` passes (ETIMEDOUT). The waiter is registered on
    /// `queues` for `mask` while blocked; `host` fds are polled as well.
    pub fn wait_event<T>(
        &mut self,
        queues: &[&WaitQueue],
        mask: u32,
        host: &[(std::os::fd::BorrowedFd<'_>, i16)],
        deadline: Option<Instant>,
        mut check: impl FnMut(&mut Thread) -> Option<SysResult<T>>,
    ) -> SysResult<T> {
        let waker = self.task.waiter.as_waker();
        for q in queues {
            q.register(&waker, mask);
        }
        let res = loop {
            if let Some(r) = check(self) {
                break r;
            }
            if self.task.signal_pending() {
                break Err(Errno::ERESTARTSYS);
            }
            let timeout = match deadline {
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        break Err(Errno::ETIMEDOUT);
                    }
                    Some(d - now)
                }
                None => None,
            };
            match self.task.waiter.wait(host, timeout) {
                Ok(WaitResult::TimedOut) => {
                    if let Some(r) = check(self) {
                        break r;
                    }
                    break Err(Errno::ETIMEDOUT);
                }
                Ok(_) => {}
                Err(e) => break Err(e),
            }
        };
        for q in queues {
            q.unregister(&waker);
        }
        res
    }

    /// Sleep until `deadline` or a signal: Ok(()) when the time passed,
    /// Err(ERESTARTSYS) when interrupted.
    pub fn sleep_until(&mut self, deadline: Instant) -> SysResult<()> {
        match self.wait_event::<()>(&[], 0, &[], Some(deadline), |_| None) {
            Err(Errno::ETIMEDOUT) => Ok(()),
            Err(e) => Err(e),
            Ok(()) => Ok(()),
        }
    }

    pub fn sleep_for(&mut self, d: Duration) -> SysResult<()> {
        self.sleep_until(Instant::now() + d)
    }

    /// Protection helper for mm syscalls.
    pub fn prot(bits: u64) -> SysResult<Prot> {
        Prot::from_bits(bits as u32).ok_or(Errno::EINVAL)
    }
}
