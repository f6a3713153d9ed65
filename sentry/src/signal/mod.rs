//! Signals: sets, dispositions, queued siginfo, and the x86-64 signal frame.

pub mod frame;

use std::collections::VecDeque;

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

pub const NSIG: usize = 64;
pub const SIGHUP: i32 = 1;
pub const SIGINT: i32 = 2;
pub const SIGQUIT: i32 = 3;
pub const SIGILL: i32 = 4;
pub const SIGTRAP: i32 = 5;
pub const SIGABRT: i32 = 6;
pub const SIGBUS: i32 = 7;
pub const SIGFPE: i32 = 8;
pub const SIGKILL: i32 = 9;
pub const SIGUSR1: i32 = 10;
pub const SIGSEGV: i32 = 11;
pub const SIGUSR2: i32 = 12;
pub const SIGPIPE: i32 = 13;
pub const SIGALRM: i32 = 14;
pub const SIGTERM: i32 = 15;
pub const SIGCHLD: i32 = 17;
pub const SIGCONT: i32 = 18;
pub const SIGSTOP: i32 = 19;
pub const SIGTSTP: i32 = 20;
pub const SIGTTIN: i32 = 21;
pub const SIGTTOU: i32 = 22;
pub const SIGURG: i32 = 23;
pub const SIGXCPU: i32 = 24;
pub const SIGXFSZ: i32 = 25;
pub const SIGVTALRM: i32 = 26;
pub const SIGPROF: i32 = 27;
pub const SIGWINCH: i32 = 28;
pub const SIGSYS: i32 = 31;
pub const SIGRTMIN: i32 = 32;

pub const SIG_DFL: u64 = 0;
pub const SIG_IGN: u64 = 1;

pub const SA_NOCLDSTOP: u64 = 1;
pub const SA_NOCLDWAIT: u64 = 2;
pub const SA_SIGINFO: u64 = 4;
pub const SA_RESTORER: u64 = 0x0400_0000;
pub const SA_ONSTACK: u64 = 0x0800_0000;
pub const SA_RESTART: u64 = 0x1000_0000;
pub const SA_NODEFER: u64 = 0x4000_0000;
pub const SA_RESETHAND: u64 = 0x8000_0000;

pub const SI_USER: i32 = 0;
pub const SI_KERNEL: i32 = 0x80;
pub const SI_QUEUE: i32 = -1;
pub const SI_TIMER: i32 = -2;
pub const SI_TKILL: i32 = -6;
pub const CLD_EXITED: i32 = 1;
pub const CLD_KILLED: i32 = 2;
pub const CLD_DUMPED: i32 = 3;
pub const CLD_STOPPED: i32 = 5;
pub const CLD_CONTINUED: i32 = 6;
pub const SEGV_MAPERR: i32 = 1;
pub const SEGV_ACCERR: i32 = 2;
pub const BUS_ADRERR: i32 = 2;

/// A set of signals: bit `n-1` is signal `n`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SigSet(pub u64);

impl SigSet {
    pub const fn of(sig: i32) -> SigSet {
        SigSet(1u64 << (sig - 1))
    }
    pub fn has(self, sig: i32) -> bool {
        valid(sig) && self.0 & (1u64 << (sig - 1)) != 0
    }
    pub fn add(&mut self, sig: i32) {
        if valid(sig) {
            self.0 |= 1u64 << (sig - 1);
        }
    }
    pub fn remove(&mut self, sig: i32) {
        if valid(sig) {
            self.0 &= !(1u64 << (sig - 1));
        }
    }
    /// SIGKILL and SIGSTOP can never be blocked.
    pub fn unblockable(self) -> SigSet {
        SigSet(self.0 & !(SigSet::of(SIGKILL).0 | SigSet::of(SIGSTOP).0))
    }
}

pub fn valid(sig: i32) -> bool {
    (1..=NSIG as i32).contains(&sig)
}

/// The kernel's `struct sigaction` as rt_sigaction passes it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct SigAction {
    pub handler: u64,
    pub flags: u64,
    pub restorer: u64,
    pub mask: u64,
}

/// What a signal does when its disposition is SIG_DFL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefaultAction {
    Terminate,
    CoreDump,
    Stop,
    Ignore,
    Continue,
}

pub fn default_action(sig: i32) -> DefaultAction {
    match sig {
        SIGCHLD | SIGURG | SIGWINCH => DefaultAction::Ignore,
        SIGCONT => DefaultAction::Continue,
        SIGSTOP | SIGTSTP | SIGTTIN | SIGTTOU => DefaultAction::Stop,
        SIGQUIT | SIGILL | SIGTRAP | SIGABRT | SIGBUS | SIGFPE | SIGSEGV | SIGXCPU | SIGXFSZ | SIGSYS => DefaultAction::CoreDump,
        _ => DefaultAction::Terminate,
    }
}

pub fn is_stop_signal(sig: i32) -> bool {
    matches!(sig, SIGSTOP | SIGTSTP | SIGTTIN | SIGTTOU)
}

/// `siginfo_t` (128 bytes): the common header and the union as raw words.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct SigInfo {
    pub signo: i32,
    pub errno: i32,
    pub code: i32,
    pub _pad: i32,
    /// The union `_sifields`, as 8-byte words.
    pub fields: [u64; 14],
}

impl SigInfo {
    pub fn new(signo: i32, code: i32) -> SigInfo {
        SigInfo { signo, errno: 0, code, _pad: 0, fields: [0; 14] }
    }

    /// kill/tgkill/sigqueue: sender pid and uid, optional value.
    pub fn from_user(signo: i32, code: i32, pid: i32, uid: u32) -> SigInfo {
        let mut s = SigInfo::new(signo, code);
        s.fields[0] = (pid as u32 as u64) | ((uid as u64) << 32);
        s
    }

    /// SIGSEGV/SIGBUS/SIGFPE/SIGILL: the faulting address.
    pub fn fault(signo: i32, code: i32, addr: u64) -> SigInfo {
        let mut s = SigInfo::new(signo, code);
        s.fields[0] = addr;
        s
    }

    /// SIGCHLD: child pid, uid, status, utime, stime.
    pub fn child(code: i32, pid: i32, uid: u32, status: i32) -> SigInfo {
        let mut s = SigInfo::new(SIGCHLD, code);
        s.fields[0] = (pid as u32 as u64) | ((uid as u64) << 32);
        s.fields[1] = status as u32 as u64;
        s
    }

    /// The `si_value` word (sigqueue, timers).
    pub fn set_value(&mut self, v: u64) {
        self.fields[1] = v;
    }

    pub fn pid(&self) -> i32 {
        self.fields[0] as u32 as i32
    }
}

/// Pending signals of a task or a thread group: standard signals coalesce,
/// real-time signals queue.
#[derive(Default)]
pub struct Pending {
    pub set: SigSet,
    queue: VecDeque<SigInfo>,
}

/// Limit on queued real-time signals (RLIMIT_SIGPENDING-like).
const MAX_QUEUED: usize = 1024;

impl Pending {
    /// Queue a signal; false if it was dropped (standard signal already
    /// pending, or the queue is full).
    pub fn push(&mut self, info: SigInfo) -> bool {
        let sig = info.signo;
        if sig < SIGRTMIN && self.set.has(sig) {
            return false;
        }
        if self.queue.len() >= MAX_QUEUED {
            return false;
        }
        self.set.add(sig);
        self.queue.push_back(info);
        true
    }

    /// Take the lowest-numbered pending signal not in `blocked`
    /// (synchronous fault signals first, as Linux does).
    pub fn pop(&mut self, blocked: SigSet) -> Option<SigInfo> {
        let deliverable = self.set.0 & !blocked.unblockable().0;
        if deliverable == 0 {
            return None;
        }
        const SYNC: u64 = (1 << (SIGSEGV - 1)) | (1 << (SIGBUS - 1)) | (1 << (SIGILL - 1)) | (1 << (SIGTRAP - 1)) | (1 << (SIGFPE - 1)) | (1 << (SIGSYS - 1));
        let pick = if deliverable & SYNC != 0 { deliverable & SYNC } else { deliverable };
        let sig = pick.trailing_zeros() as i32 + 1;
        self.take(sig)
    }

    /// Remove one instance of `sig`.
    pub fn take(&mut self, sig: i32) -> Option<SigInfo> {
        let i = self.queue.iter().position(|s| s.signo == sig)?;
        let info = self.queue.remove(i)?;
        if !self.queue.iter().any(|s| s.signo == sig) {
            self.set.remove(sig);
        }
        Some(info)
    }

    /// The first pending siginfo matching `pred` (timer overrun counting).
    pub fn find_mut(&mut self, pred: impl Fn(&SigInfo) -> bool) -> Option<&mut SigInfo> {
        self.queue.iter_mut().find(|s| pred(s))
    }

    /// Drop every pending instance of the signals in `set`.
    pub fn discard(&mut self, set: SigSet) {
        self.queue.retain(|s| !set.has(s.signo));
        self.set.0 &= !set.0;
    }
}

/// An alternate signal stack (sigaltstack).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AltStack {
    pub sp: u64,
    pub flags: i32,
    pub size: u64,
}

pub const SS_ONSTACK: i32 = 1;
pub const SS_DISABLE: i32 = 2;

impl AltStack {
    pub fn on_stack(&self, sp: u64) -> bool {
        self.flags & SS_DISABLE == 0 && self.size != 0 && sp > self.sp && sp - self.sp <= self.size
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_signals_coalesce_rt_signals_queue() {
        let mut p = Pending::default();
        assert!(p.push(SigInfo::new(SIGUSR1, SI_USER)));
        assert!(!p.push(SigInfo::new(SIGUSR1, SI_USER)));
        assert!(p.push(SigInfo::new(SIGRTMIN, SI_QUEUE)));
        assert!(p.push(SigInfo::new(SIGRTMIN, SI_QUEUE)));
        assert_eq!(p.pop(SigSet::default()).unwrap().signo, SIGUSR1);
        assert_eq!(p.pop(SigSet::default()).unwrap().signo, SIGRTMIN);
        assert!(p.set.has(SIGRTMIN));
        assert_eq!(p.pop(SigSet::default()).unwrap().signo, SIGRTMIN);
        assert!(p.pop(SigSet::default()).is_none());
    }

    #[test]
    fn blocked_and_sync_order() {
        let mut p = Pending::default();
        p.push(SigInfo::new(SIGHUP, SI_USER));
        p.push(SigInfo::new(SIGSEGV, SI_KERNEL));
        assert_eq!(p.pop(SigSet::default()).unwrap().signo, SIGSEGV);
        assert!(p.pop(SigSet::of(SIGHUP)).is_none());
        // SIGKILL cannot be blocked.
        p.push(SigInfo::new(SIGKILL, SI_USER));
        assert_eq!(p.pop(SigSet(!0)).unwrap().signo, SIGKILL);
    }

    #[test]
    fn siginfo_is_128_bytes() {
        assert_eq!(std::mem::size_of::<SigInfo>(), 128);
        assert_eq!(std::mem::size_of::<SigAction>(), 32);
    }
}
