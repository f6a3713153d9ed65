//! The ptrace platform: each [`Context`] is a *stub process* traced by the
//! Sentry thread that created it, run with `PTRACE_SYSEMU` so that every
//! `syscall` the workload executes stops instead of running on the host.
//!
//! * **Stub.** [`stub`] describes the code page (mapped once in the Sentry
//!   at [`stub::STUB_PREFERRED_ADDR`], `0x7fff_ffff_e000`, the highest user
//!   page, or lower if that is taken) that a stub process runs: after setup
//!   it holds nothing but that page, the memory file's fd, and whatever the
//!   Sentry maps for the workload. `user_range()` is
//!   `[USER_MIN, stub address)`; the vsyscall page is above it anyway.
//! * **Creation.** `new_context` raw-`clone`s the calling thread (no libc
//!   `fork`: the Sentry is multithreaded); the child jumps straight to the
//!   stub code, which does `PTRACE_TRACEME` (so the *calling thread* is the
//!   tracer), stops, and cleans itself up (see `stub.rs`). Options:
//!   `PTRACE_O_EXITKILL | PTRACE_O_TRACESYSGOOD`; the stub also has
//!   PDEATHSIG=SIGKILL and its own session.
//! * **switch.** `PTRACE_SETREGS` only if the registers differ from those the
//!   stub holds (a 216-byte compare), `PTRACE_SYSEMU`, `waitpid(__WALL)`,
//!   `PTRACE_GETREGS`, and `PTRACE_GETSIGINFO` for non-syscall stops. The
//!   stop is turned into an [`Event`] by [`classify::classify`]. Signals are
//!   never delivered to the stub (it is always resumed with signal 0).
//! * **map/unmap/protect.** Syscalls injected into the stopped stub: set
//!   `rip` to the stub's `syscall; int3`, the number and arguments,
//!   `PTRACE_CONT`, wait for the int3's SIGTRAP, read `rax`, restore the
//!   workload's registers. The context tracks what it has mapped, so
//!   `protect` skips holes and `unmap` of nothing costs nothing.
//! * **Interrupts.** [`PtraceInterrupter`] sends SIGSTOP through a pidfd
//!   (never a reused pid, safe after the context is gone). A SIGSTOP stop
//!   (any signal sent by a process, in fact) is [`Event::Interrupted`]; one
//!   that lands during an injected syscall is remembered and reported by
//!   the next `switch`.
//! * **Drop.** SIGKILL and reap.
//!
//! Requirements on the rest of the Sentry: nothing else may `wait` for
//! these children (stubs have exit signal 0, so a plain `wait(-1)` without
//! `__WALL`/`__WCLONE` does not see them); a seccomp filter installed before
//! `new_context` is inherited by the stubs and must allow mmap, munmap and
//! mprotect (the injected calls), and the setup calls in `stub.rs`.

pub mod classify;
mod rangeset;
pub mod stub;
mod sys;

use std::io;
use std::marker::PhantomData;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;

use tracing::{debug, trace, warn};

use self::classify::{classify, Stop, StopInfo};
use self::rangeset::RangeSet;
use self::stub::StubPage;
use crate::{Context, Event, FpState, Interrupter, MemoryFile, Platform, PlatformError, Prot, Regs, Result};

/// Lowest address the workload may map (the usual `vm.mmap_min_addr`).
pub const USER_MIN: u64 = 0x1_0000;
/// The user code and stack segment selectors on x86-64 Linux; `switch`
/// always runs the workload with these (64-bit mode only).
pub const USER_CS: u64 = 0x33;
pub const USER_SS: u64 = 0x2b;

const PAGE: u64 = 4096;

/// Registers for a fresh workload thread: everything zero except `rip`,
/// `rsp`, the segment selectors and `eflags` (IF set).
pub fn initial_regs(rip: u64, rsp: u64) -> Regs {
    let mut r = sys::zero_regs();
    r.rip = rip;
    r.rsp = rsp;
    r.cs = USER_CS;
    r.ss = USER_SS;
    r.eflags = 0x202;
    r
}

fn host(call: &'static str) -> impl FnOnce(io::Error) -> PlatformError {
    move |e| PlatformError::Host(call, e)
}

/// The ptrace platform.
pub struct Ptrace {
    mem: Arc<MemoryFile>,
    stub: StubPage,
}

impl Ptrace {
    /// A ptrace platform over `mem`. Maps the stub page into this process
    /// the first time it is called.
    pub fn new(mem: Arc<MemoryFile>) -> Result<Ptrace> {
        let stub = StubPage::get()?;
        Ok(Ptrace { mem, stub })
    }

    /// Like [`Platform::new_context`], with the concrete type.
    pub fn new_ptrace_context(&self) -> Result<PtraceContext> {
        PtraceContext::new(self.mem.clone(), self.stub)
    }
}

impl Platform for Ptrace {
    fn name(&self) -> &'static str {
        "ptrace"
    }

    fn user_range(&self) -> (u64, u64) {
        (USER_MIN, self.stub.addr)
    }

    fn new_context(&self) -> Result<Box<dyn Context>> {
        Ok(Box::new(self.new_ptrace_context()?))
    }
}

/// Interrupts a [`PtraceContext`] by sending its stub SIGSTOP.
pub struct PtraceInterrupter {
    pidfd: OwnedFd,
}

impl Interrupter for PtraceInterrupter {
    fn interrupt(&self) {
        match sys::pidfd_send_signal(self.pidfd.as_raw_fd(), libc::SIGSTOP) {
            Ok(()) => {}
            // The stub is gone: nothing to interrupt.
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {}
            Err(e) => warn!("interrupting a ptrace stub: {e}"),
        }
    }
}

/// One stub process: a workload thread and its address space. Must be used
/// only on the thread that created it (the tracer), hence not `Send`.
pub struct PtraceContext {
    pid: i32,
    stub: StubPage,
    memfd: i32,
    mem: Arc<MemoryFile>,
    /// The registers the stub holds now (as of its last stop or SETREGS).
    regs: Regs,
    interrupter: Arc<PtraceInterrupter>,
    /// An interrupt arrived during an injected syscall; the next `switch`
    /// reports it without running.
    interrupt_pending: bool,
    mapped: RangeSet,
    /// The stub died and was reaped; the pid must not be used again.
    reaped: bool,
    /// The thread that created the stub: the only one that may trace it.
    tracer: i32,
    _not_send: PhantomData<*mut ()>,
}

impl PtraceContext {
    fn new(mem: Arc<MemoryFile>, stub: StubPage) -> Result<PtraceContext> {
        let memfd = mem.fd().as_raw_fd();
        // SAFETY: `stub.entry()` is the stub code, mapped in this process
        // (and so in the child's copy) by StubPage::get.
        let pid = unsafe { sys::clone_into(stub.entry(), memfd) }.map_err(host("clone"))?;
        let mut guard = ChildGuard { pid, armed: true };
        let regs = Self::setup(pid, stub, &mut guard)?;
        let pidfd = sys::pidfd_open(pid).map_err(host("pidfd_open"))?;
        guard.armed = false;
        debug!(pid, "ptrace stub ready");
        Ok(PtraceContext {
            pid,
            stub,
            memfd,
            mem,
            regs,
            interrupter: Arc::new(PtraceInterrupter { pidfd }),
            interrupt_pending: false,
            mapped: RangeSet::default(),
            reaped: false,
            tracer: sys::gettid(),
            _not_send: PhantomData,
        })
    }

    /// Drive the stub through its two setup stops; returns its registers at
    /// the second one.
    fn setup(pid: i32, stub: StubPage, guard: &mut ChildGuard) -> Result<Regs> {
        let expect_sigstop = |guard: &mut ChildGuard, what: &str| -> Result<()> {
            let status = sys::wait(pid).map_err(host("waitpid"))?;
            if libc::WIFSTOPPED(status) && libc::WSTOPSIG(status) == libc::SIGSTOP {
                return Ok(());
            }
            if libc::WIFEXITED(status) || libc::WIFSIGNALED(status) {
                guard.armed = false;
            }
            Err(PlatformError::Stub(format!("stub {pid} {what}: wait status {status:#x}")))
        };
        expect_sigstop(guard, "did not stop after PTRACE_TRACEME")?;
        sys::set_options(pid, libc::PTRACE_O_EXITKILL | libc::PTRACE_O_TRACESYSGOOD)
            .map_err(host("PTRACE_SETOPTIONS"))?;
        let rseq = match sys::get_rseq_config(pid) {
            Ok(c) => Some(c),
            Err(e) => {
                warn!("PTRACE_GET_RSEQ_CONFIGURATION: {e}; assuming no rseq registration");
                None
            }
        };
        let mut regs = sys::zero_regs();
        sys::get_regs(pid, &mut regs).map_err(host("PTRACE_GETREGS"))?;
        let c = rseq.as_ref();
        regs.r13 = c.map_or(0, |c| c.pointer);
        regs.r14 = c.map_or(0, |c| c.size.into());
        regs.r15 = c.map_or(0, |c| c.signature.into());
        sys::set_regs(pid, &regs).map_err(host("PTRACE_SETREGS"))?;
        sys::cont(pid, 0).map_err(host("PTRACE_CONT"))?;
        expect_sigstop(guard, "failed during setup")?;
        sys::get_regs(pid, &mut regs).map_err(host("PTRACE_GETREGS"))?;
        if regs.rip != stub.syscall_addr {
            return Err(PlatformError::Stub(format!(
                "stub {pid} stopped at {:#x}, expected {:#x}",
                regs.rip, stub.syscall_addr
            )));
        }
        if rseq.is_some() {
            let c = sys::get_rseq_config(pid).map_err(host("PTRACE_GET_RSEQ_CONFIGURATION"))?;
            if c.pointer != 0 {
                return Err(PlatformError::Stub(format!("stub {pid} still has rseq registered: {c:?}")));
            }
        }
        Ok(regs)
    }

    /// The stub's pid (for diagnostics).
    pub fn pid(&self) -> i32 {
        self.pid
    }

    fn check_alive(&self) -> Result<()> {
        if self.reaped {
            return Err(PlatformError::Stub(format!("stub {} is gone", self.pid)));
        }
        Ok(())
    }

    /// The stub is no longer stopped: `status` is its exit (it was reaped by
    /// the wait that returned it) or something we cannot handle.
    fn lost(&mut self, status: i32) -> PlatformError {
        match classify(status, None, 0) {
            Stop::Exited(code) => {
                self.reaped = true;
                PlatformError::Stub(format!("stub {} exited with status {code}", self.pid))
            }
            Stop::Killed(sig) => {
                self.reaped = true;
                PlatformError::Stub(format!("stub {} was killed by signal {sig}", self.pid))
            }
            _ => PlatformError::Stub(format!("stub {}: unexpected wait status {status:#x}", self.pid)),
        }
    }

    /// A ptrace request failed. ESRCH on the tracer thread means the stub is
    /// not in a ptrace-stop although only we resume it: it was killed. Reap
    /// it and report its death.
    fn ptrace_error(&mut self, call: &'static str, e: io::Error) -> PlatformError {
        if e.raw_os_error() != Some(libc::ESRCH) {
            return PlatformError::Host(call, e);
        }
        if sys::gettid() != self.tracer {
            return PlatformError::Stub(format!(
                "{call} on stub {} from thread {}, but its tracer is thread {}",
                self.pid,
                sys::gettid(),
                self.tracer
            ));
        }
        match sys::wait(self.pid) {
            Ok(status) => self.lost(status),
            Err(e) => PlatformError::Host("waitpid", e),
        }
    }

    fn siginfo(&mut self) -> Result<StopInfo> {
        let si = sys::get_siginfo(self.pid).map_err(|e| self.ptrace_error("PTRACE_GETSIGINFO", e))?;
        Ok(StopInfo { signo: si.signo, code: si.code, addr: si.addr })
    }

    /// Run one syscall in the stub and return its raw result.
    fn inject(&mut self, nr: i64, args: [u64; 6]) -> Result<u64> {
        self.check_alive()?;
        let pid = self.pid;
        let mut r = self.regs;
        r.rax = nr as u64;
        r.orig_rax = u64::MAX; // not in a syscall: no restart fixups
        r.rdi = args[0];
        r.rsi = args[1];
        r.rdx = args[2];
        r.r10 = args[3];
        r.r8 = args[4];
        r.r9 = args[5];
        r.rip = self.stub.syscall_addr;
        r.cs = USER_CS;
        r.ss = USER_SS;
        sys::set_regs(pid, &r).map_err(|e| self.ptrace_error("PTRACE_SETREGS", e))?;
        let done_rip = self.stub.syscall_addr + 3; // after `syscall; int3`
        loop {
            sys::cont(pid, 0).map_err(|e| self.ptrace_error("PTRACE_CONT", e))?;
            let status = sys::wait(pid).map_err(host("waitpid"))?;
            if !libc::WIFSTOPPED(status) {
                return Err(self.lost(status));
            }
            sys::get_regs(pid, &mut r).map_err(|e| self.ptrace_error("PTRACE_GETREGS", e))?;
            if libc::WSTOPSIG(status) == libc::SIGTRAP && r.rip == done_rip {
                break;
            }
            // Anything else must be a signal sent to the stub (the
            // interrupter's SIGSTOP): remember it, drop it, go on.
            let info = self.siginfo()?;
            match classify(status, Some(&info), r.rip) {
                Stop::Event(Event::Interrupted) => self.interrupt_pending = true,
                other => {
                    return Err(PlatformError::Stub(format!(
                        "stub {pid}: {other:?} ({info:?}) during injected syscall {nr}"
                    )))
                }
            }
        }
        sys::set_regs(pid, &self.regs).map_err(|e| self.ptrace_error("PTRACE_SETREGS", e))?;
        Ok(r.rax)
    }

    fn check_range(&self, addr: u64, len: u64) -> Result<u64> {
        let end = addr.checked_add(len).ok_or(PlatformError::BadRange(addr, len))?;
        if !addr.is_multiple_of(PAGE) || !len.is_multiple_of(PAGE) || addr < USER_MIN || end > self.stub.addr {
            return Err(PlatformError::BadRange(addr, len));
        }
        Ok(end)
    }
}

/// Turn a raw syscall return into `Ok(value)` or the host error.
fn syscall_result(call: &'static str, ret: u64) -> Result<u64> {
    let v = ret as i64;
    if (-4095..0).contains(&v) {
        Err(PlatformError::Host(call, io::Error::from_raw_os_error(-v as i32)))
    } else {
        Ok(ret)
    }
}

impl Context for PtraceContext {
    fn switch(&mut self, regs: &mut Regs) -> Result<Event> {
        self.check_alive()?;
        if std::mem::take(&mut self.interrupt_pending) {
            return Ok(Event::Interrupted);
        }
        let pid = self.pid;
        regs.cs = USER_CS;
        regs.ss = USER_SS;
        if !sys::regs_eq(regs, &self.regs) {
            sys::set_regs(pid, regs).map_err(|e| self.ptrace_error("PTRACE_SETREGS", e))?;
            self.regs = *regs;
        }
        sys::sysemu(pid, 0).map_err(|e| self.ptrace_error("PTRACE_SYSEMU", e))?;
        let status = sys::wait(pid).map_err(host("waitpid"))?;
        if !libc::WIFSTOPPED(status) {
            return Err(self.lost(status));
        }
        sys::get_regs(pid, regs).map_err(|e| self.ptrace_error("PTRACE_GETREGS", e))?;
        self.regs = *regs;
        let info = if libc::WSTOPSIG(status) == libc::SIGTRAP | 0x80 { None } else { Some(self.siginfo()?) };
        match classify(status, info.as_ref(), regs.rip) {
            Stop::Event(ev) => {
                trace!(pid, ?ev, rip = regs.rip, "ptrace stop");
                Ok(ev)
            }
            other => Err(PlatformError::Stub(format!("stub {pid}: {other:?} ({info:?})"))),
        }
    }

    fn map(&mut self, addr: u64, len: u64, prot: Prot, offset: u64) -> Result<()> {
        let end = self.check_range(addr, len)?;
        if len == 0 {
            return Ok(());
        }
        if !offset.is_multiple_of(PAGE) || offset.checked_add(len).is_none_or(|e| e > self.mem.size()) {
            return Err(PlatformError::Host("mmap", io::Error::from_raw_os_error(libc::EINVAL)));
        }
        let flags = (libc::MAP_SHARED | libc::MAP_FIXED) as u64;
        let args = [addr, len, u64::from(prot.bits()), flags, self.memfd as u64, offset];
        let r = syscall_result("mmap", self.inject(libc::SYS_mmap, args)?)?;
        if r != addr {
            return Err(PlatformError::Stub(format!("mmap in stub returned {r:#x} for {addr:#x}")));
        }
        self.mapped.insert(addr, end);
        Ok(())
    }

    fn unmap(&mut self, addr: u64, len: u64) -> Result<()> {
        let end = self.check_range(addr, len)?;
        if self.mapped.intersect(addr, end).is_empty() {
            return Ok(());
        }
        syscall_result("munmap", self.inject(libc::SYS_munmap, [addr, len, 0, 0, 0, 0])?)?;
        self.mapped.remove(addr, end);
        Ok(())
    }

    fn protect(&mut self, addr: u64, len: u64, prot: Prot) -> Result<()> {
        let end = self.check_range(addr, len)?;
        for (s, e) in self.mapped.intersect(addr, end) {
            let args = [s, e - s, u64::from(prot.bits()), 0, 0, 0];
            syscall_result("mprotect", self.inject(libc::SYS_mprotect, args)?)?;
        }
        Ok(())
    }

    fn get_fpstate(&mut self) -> Result<FpState> {
        self.check_alive()?;
        let mut fp = FpState([0; 512]);
        sys::get_fpregs(self.pid, &mut fp).map_err(|e| self.ptrace_error("PTRACE_GETFPREGS", e))?;
        Ok(fp)
    }

    fn set_fpstate(&mut self, fp: &FpState) -> Result<()> {
        self.check_alive()?;
        sys::set_fpregs(self.pid, fp).map_err(|e| self.ptrace_error("PTRACE_SETFPREGS", e))
    }

    fn interrupter(&self) -> Arc<dyn Interrupter> {
        self.interrupter.clone()
    }
}

impl Drop for PtraceContext {
    fn drop(&mut self) {
        if !self.reaped {
            ChildGuard { pid: self.pid, armed: true }.kill_and_reap();
        }
    }
}

/// Kills and reaps a stub that is still our unreaped child (so its pid
/// cannot have been reused) unless disarmed.
struct ChildGuard {
    pid: i32,
    armed: bool,
}

impl ChildGuard {
    fn kill_and_reap(&mut self) {
        if !std::mem::take(&mut self.armed) {
            return;
        }
        if let Err(e) = sys::kill(self.pid, libc::SIGKILL) {
            warn!(pid = self.pid, "killing stub: {e}");
        }
        loop {
            match sys::wait(self.pid) {
                Ok(st) if libc::WIFEXITED(st) || libc::WIFSIGNALED(st) => break,
                Ok(_) => continue,
                Err(e) => {
                    warn!(pid = self.pid, "reaping stub: {e}");
                    break;
                }
            }
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill_and_reap();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn platform() -> Ptrace {
        Ptrace::new(Arc::new(MemoryFile::new(1 << 20).unwrap())).unwrap()
    }

    #[test]
    fn stub_holds_only_its_page_and_the_memory_file() {
        let p = platform();
        let ctx = p.new_ptrace_context().unwrap();
        let pid = ctx.pid();
        let fds: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(fds, vec![ctx.memfd.to_string()]);
        let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
        let starts: Vec<u64> = maps
            .lines()
            .filter(|l| !l.ends_with("[vsyscall]"))
            .map(|l| u64::from_str_radix(l.split('-').next().unwrap(), 16).unwrap())
            .collect();
        assert_eq!(starts, vec![p.stub.addr], "maps:\n{maps}");
        // Its own session (setsid): field 6 of /proc/pid/stat.
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let after_comm = &stat[stat.rfind(')').unwrap() + 2..];
        let sid: i32 = after_comm.split(' ').nth(3).unwrap().parse().unwrap();
        assert_eq!(sid, pid);
    }

    #[test]
    fn stub_death_is_an_error_and_drop_reaps() {
        let p = platform();
        let mut ctx = p.new_ptrace_context().unwrap();
        let pid = ctx.pid();
        let intr = ctx.interrupter();
        sys::kill(pid, libc::SIGKILL).unwrap();
        let mut regs = initial_regs(0x40_0000, 0);
        assert!(matches!(ctx.switch(&mut regs), Err(PlatformError::Stub(_))));
        assert!(ctx.reaped);
        assert!(matches!(ctx.map(0x40_0000, PAGE, Prot::READ, 0), Err(PlatformError::Stub(_))));
        intr.interrupt();
        drop(ctx);

        let ctx = p.new_ptrace_context().unwrap();
        let pid = ctx.pid();
        drop(ctx);
        assert_eq!(sys::wait(pid).unwrap_err().raw_os_error(), Some(libc::ECHILD));
    }
}
