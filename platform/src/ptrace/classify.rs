//! Turning a wait status (and the stop's siginfo) into an [`Event`]: a pure
//! function, tested without ptrace.

use crate::{Access, Event};

/// si_code values for SIGSEGV (asm-generic/siginfo.h).
pub const SEGV_MAPERR: i32 = 1;
pub const SEGV_ACCERR: i32 = 2;

/// The parts of the stop's `siginfo_t` that matter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StopInfo {
    pub signo: i32,
    /// `si_code`: > 0 when the kernel raised the signal (a fault, a trap);
    /// <= 0 (SI_USER, SI_TKILL, SI_QUEUE, ...) when a process sent it.
    pub code: i32,
    /// `si_addr` (meaningful for SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP).
    pub addr: u64,
}

/// What a `waitpid` result means for the context.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// The stub is stopped at a workload event.
    Event(Event),
    /// The stub exited with this status.
    Exited(i32),
    /// The stub was killed by this signal.
    Killed(i32),
    /// A status the platform never asks for (a PTRACE_EVENT stop, a
    /// non-syscall stop without siginfo, ...).
    Unexpected(i32),
}

/// Classify a stop. `info` is the stop's siginfo (PTRACE_GETSIGINFO); it is
/// not needed (and may be `None`) for syscall stops. `rip` is the stub's
/// instruction pointer at the stop.
///
/// Page faults: x86 siginfo carries no page-fault error code (only the
/// signal frame's `sigcontext.err` does, and the stub never gets a frame), so
/// the access type is inferred:
/// * `exec` iff the fault address is `rip` (an instruction fetch);
/// * otherwise SEGV_MAPERR (nothing mapped) is reported as a read, and
///   SEGV_ACCERR (mapped without the needed permission) as a write. The
///   platform never maps a page without read permission unless told to, so a
///   fault on a present page is a write (or an exec). A write to an unmapped
///   page therefore takes two faults when `mm` maps the page read-only
///   first (copy-on-write); that is correct, just slower.
pub fn classify(status: i32, info: Option<&StopInfo>, rip: u64) -> Stop {
    if libc::WIFEXITED(status) {
        return Stop::Exited(libc::WEXITSTATUS(status));
    }
    if libc::WIFSIGNALED(status) {
        return Stop::Killed(libc::WTERMSIG(status));
    }
    if !libc::WIFSTOPPED(status) || (status >> 16) != 0 {
        return Stop::Unexpected(status);
    }
    let sig = libc::WSTOPSIG(status);
    if sig == libc::SIGTRAP | 0x80 {
        return Stop::Event(Event::Syscall);
    }
    let Some(info) = info else {
        return Stop::Unexpected(status);
    };
    if info.code <= 0 {
        // Sent by a process (our interrupter, or anyone else): never an
        // exception of the workload's own.
        return Stop::Event(Event::Interrupted);
    }
    match sig {
        libc::SIGSEGV if info.code == SEGV_MAPERR || info.code == SEGV_ACCERR => {
            let exec = info.addr == rip;
            let access =
                Access { read: !exec && info.code == SEGV_MAPERR, write: !exec && info.code == SEGV_ACCERR, exec };
            Stop::Event(Event::Fault { addr: info.addr, access })
        }
        libc::SIGSEGV | libc::SIGBUS | libc::SIGILL | libc::SIGFPE | libc::SIGTRAP => {
            Stop::Event(Event::Exception { signo: sig, code: info.code, addr: info.addr })
        }
        // Other kernel-raised signals (SIGXCPU, ...): not the workload's
        // business; report them as an interruption and drop them.
        _ => Stop::Event(Event::Interrupted),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stopped(sig: i32) -> i32 {
        (sig << 8) | 0x7f
    }

    fn info(signo: i32, code: i32, addr: u64) -> StopInfo {
        StopInfo { signo, code, addr }
    }

    #[test]
    fn syscall_stop() {
        assert_eq!(classify(stopped(libc::SIGTRAP | 0x80), None, 0x1000), Stop::Event(Event::Syscall));
    }

    #[test]
    fn page_faults() {
        let read = Access { read: true, write: false, exec: false };
        let write = Access { read: false, write: true, exec: false };
        let exec = Access { read: false, write: false, exec: true };
        let s = stopped(libc::SIGSEGV);
        assert_eq!(
            classify(s, Some(&info(libc::SIGSEGV, SEGV_MAPERR, 0x5000)), 0x1000),
            Stop::Event(Event::Fault { addr: 0x5000, access: read })
        );
        assert_eq!(
            classify(s, Some(&info(libc::SIGSEGV, SEGV_ACCERR, 0x5008)), 0x1000),
            Stop::Event(Event::Fault { addr: 0x5008, access: write })
        );
        assert_eq!(
            classify(s, Some(&info(libc::SIGSEGV, SEGV_MAPERR, 0x6000)), 0x6000),
            Stop::Event(Event::Fault { addr: 0x6000, access: exec })
        );
        assert_eq!(
            classify(s, Some(&info(libc::SIGSEGV, SEGV_ACCERR, 0x6000)), 0x6000),
            Stop::Event(Event::Fault { addr: 0x6000, access: exec })
        );
    }

    #[test]
    fn exceptions() {
        const SI_KERNEL: i32 = 0x80;
        for (sig, code) in [
            (libc::SIGSEGV, SI_KERNEL), // general protection
            (libc::SIGTRAP, SI_KERNEL), // int3
            (libc::SIGILL, 2),          // ILL_ILLOPN
            (libc::SIGFPE, 1),          // FPE_INTDIV
            (libc::SIGBUS, 2),          // BUS_ADRERR
        ] {
            assert_eq!(
                classify(stopped(sig), Some(&info(sig, code, 0x42)), 0x1000),
                Stop::Event(Event::Exception { signo: sig, code, addr: 0x42 }),
                "signal {sig}"
            );
        }
    }

    #[test]
    fn sent_signals_interrupt() {
        const SI_USER: i32 = 0;
        const SI_TKILL: i32 = -6;
        for sig in [libc::SIGSTOP, libc::SIGSEGV, libc::SIGTRAP, libc::SIGINT, libc::SIGCONT] {
            for code in [SI_USER, SI_TKILL] {
                assert_eq!(
                    classify(stopped(sig), Some(&info(sig, code, 0)), 0x1000),
                    Stop::Event(Event::Interrupted),
                    "signal {sig} code {code}"
                );
            }
        }
        // A kernel-raised signal that is not an exception.
        assert_eq!(
            classify(stopped(libc::SIGXCPU), Some(&info(libc::SIGXCPU, 0x80, 0)), 0),
            Stop::Event(Event::Interrupted)
        );
    }

    #[test]
    fn death_and_oddities() {
        assert_eq!(classify(3 << 8, None, 0), Stop::Exited(3));
        assert_eq!(classify(libc::SIGKILL, None, 0), Stop::Killed(libc::SIGKILL));
        // A PTRACE_EVENT stop (event in bits 16..).
        let ev = stopped(libc::SIGTRAP) | (libc::PTRACE_EVENT_EXIT << 16);
        assert_eq!(classify(ev, None, 0), Stop::Unexpected(ev));
        // A signal stop without siginfo.
        assert_eq!(classify(stopped(libc::SIGSEGV), None, 0), Stop::Unexpected(stopped(libc::SIGSEGV)));
    }
}
