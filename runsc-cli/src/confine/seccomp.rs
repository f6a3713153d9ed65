//! Policies as data, and their installation as seccomp-bpf filters.
//!
//! A policy is a table of [`Rule`]s: a host syscall, the arguments it may
//! have ([`When`]), and why the process needs it. [`install`] compiles two
//! filters with `seccompiler` and applies them to every thread of the
//! process (TSYNC):
//!
//! * the "fail" filter: a few syscalls that get an errno instead of running
//!   (clone3: its arguments are in memory, out of a filter's reach, so it
//!   fails with ENOSYS and glibc falls back to clone, whose flags are
//!   checked);
//! * the allow-list: anything else not in the policy is a violation.
//!
//! Several filters are combined by the kernel with the most restrictive
//! result winning, so clone3 is refused even though the allow-list lets it
//! through to the first filter.
//!
//! The violation action is SECCOMP_RET_KILL_PROCESS; with `--debug` it is
//! SECCOMP_RET_TRAP, whose SIGSYS handler writes the syscall's name to the
//! log and then dies of SIGSYS (still enforcing: the call never runs; on a
//! thread that blocks SIGSYS, e.g. glibc's around clone, the kernel kills
//! the process without running the handler). Either way the kernel's audit
//! log (dmesg: `audit: type=1326 ... syscall=N`) records the violation,
//! as long as /proc/sys/kernel/seccomp/actions_logged lists the action
//! (it does by default).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI32, Ordering};

use seccompiler::{BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule};
use syscalls::Sysno;

/// A condition on one argument (its low 32 bits: every argument the
/// policies look at is an `int`, or a flag word the kernel truncates).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cond {
    /// Argument `.0` equals `.1`.
    Eq(u8, u64),
    /// Argument `.0` masked with `.1` equals `.2`.
    Masked(u8, u64, u64),
}

/// When a rule's syscall is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// Whatever its arguments.
    Always,
    /// Argument `.0` is one of `.1`.
    ArgIn(u8, &'static [u64]),
    /// Argument `.0` has none of the bits of `.1`.
    ArgClear(u8, u64),
    /// Any of these alternatives, each a set of conditions that all hold.
    AnyOf(&'static [&'static [Cond]]),
}

/// One entry of a policy.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub sys: Sysno,
    pub when: When,
    /// Why the process needs it (the table's documentation).
    pub why: &'static str,
}

/// A rule allowing `sys` whatever its arguments.
pub const fn any(sys: Sysno, why: &'static str) -> Rule {
    Rule { sys, when: When::Always, why }
}

/// A rule allowing `sys` when `when` holds.
pub const fn only(sys: Sysno, when: When, why: &'static str) -> Rule {
    Rule { sys, when, why }
}

/// What a syscall outside the policy does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Violation {
    /// SECCOMP_RET_KILL_PROCESS: the whole process dies at once.
    Kill,
    /// SECCOMP_RET_TRAP: a SIGSYS handler logs the syscall, then the
    /// process dies of SIGSYS.
    Trap,
}

impl Violation {
    fn action(self) -> SeccompAction {
        match self {
            Violation::Kill => SeccompAction::KillProcess,
            Violation::Trap => SeccompAction::Trap,
        }
    }
}

/// Errors compiling or installing a filter.
#[derive(Debug)]
pub struct FilterError(pub String);

impl std::fmt::Display for FilterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FilterError {}

fn err<E: std::fmt::Display>(what: &str) -> impl Fn(E) -> FilterError + '_ {
    move |e| FilterError(format!("{what}: {e}"))
}

fn cond(c: Cond) -> Result<SeccompCondition, FilterError> {
    let (arg, op, value) = match c {
        Cond::Eq(arg, v) => (arg, SeccompCmpOp::Eq, v),
        Cond::Masked(arg, mask, v) => (arg, SeccompCmpOp::MaskedEq(mask), v),
    };
    SeccompCondition::new(arg, SeccompCmpArgLen::Dword, op, value).map_err(err("condition"))
}

fn one(conds: &[Cond]) -> Result<SeccompRule, FilterError> {
    SeccompRule::new(conds.iter().map(|&c| cond(c)).collect::<Result<_, _>>()?).map_err(err("rule"))
}

/// The seccompiler rules of one syscall's table entry: empty means
/// "whatever the arguments".
fn alternatives(when: When) -> Result<Vec<SeccompRule>, FilterError> {
    match when {
        When::Always => Ok(Vec::new()),
        When::ArgIn(arg, values) => values.iter().map(|&v| one(&[Cond::Eq(arg, v)])).collect(),
        When::ArgClear(arg, mask) => Ok(vec![one(&[Cond::Masked(arg, mask, 0)])?]),
        When::AnyOf(alts) => alts.iter().map(|c| one(c)).collect(),
    }
}

/// Compile `rules` into a BPF program: a listed syscall whose arguments
/// match gets `matched`, anything else `mismatch`.
pub fn compile(rules: &[Rule], mismatch: SeccompAction, matched: SeccompAction) -> Result<BpfProgram, FilterError> {
    let mut map: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for r in rules {
        let alts = alternatives(r.when)?;
        let nr = i64::from(r.sys.id());
        if map.contains_key(&nr) {
            return Err(FilterError(format!("{} is in the policy twice", r.sys.name())));
        }
        map.insert(nr, alts);
    }
    let arch: seccompiler::TargetArch = std::env::consts::ARCH.try_into().map_err(err("architecture"))?;
    let filter = SeccompFilter::new(map, mismatch, matched, arch).map_err(err("filter"))?;
    let prog: Result<BpfProgram, _> = filter.try_into();
    prog.map_err(err("compiling the filter"))
}

/// Where the SIGSYS handler writes (stderr unless set).
static TRAP_LOG_FD: AtomicI32 = AtomicI32::new(2);

/// Install both filters on every thread of this process. `log_fd` is where
/// a trapped violation is reported (kept open by the caller).
pub fn install(allow: &[Rule], fail: &[(Rule, i32)], violation: Violation, log_fd: Option<i32>) -> Result<(), FilterError> {
    // The allow-list lets the failing syscalls through to their own
    // filter (the kernel takes the most restrictive of the two answers).
    let mut all: Vec<Rule> = allow.to_vec();
    all.extend(fail.iter().map(|&(r, _)| any(r.sys, r.why)));
    let main = compile(&all, violation.action(), SeccompAction::Allow)?;
    // One filter per errno (in practice one: ENOSYS).
    let mut errnos: Vec<i32> = fail.iter().map(|&(_, e)| e).collect();
    errnos.sort_unstable();
    errnos.dedup();
    let mut fails = Vec::new();
    for e in errnos {
        let rules: Vec<Rule> = fail.iter().filter(|&&(_, x)| x == e).map(|&(r, _)| r).collect();
        fails.push(compile(&rules, SeccompAction::Allow, SeccompAction::Errno(e as u32))?);
    }
    if violation == Violation::Trap {
        if let Some(fd) = log_fd {
            TRAP_LOG_FD.store(fd, Ordering::SeqCst);
        }
        install_sigsys_handler()?;
    }
    // The fail filters first: the allow-list, once in, need not allow
    // seccomp() itself.
    for f in &fails {
        seccompiler::apply_filter_all_threads(f).map_err(err("installing a seccomp filter"))?;
    }
    seccompiler::apply_filter_all_threads(&main).map_err(err("installing the seccomp allow-list"))
}

fn install_sigsys_handler() -> Result<(), FilterError> {
    // SAFETY: a zeroed sigaction is a valid "no flags, empty mask" value;
    // the handler only makes async-signal-safe raw syscalls.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_sigsys as *const () as usize;
        sa.sa_flags = libc::SA_SIGINFO | libc::SA_NODEFER | libc::SA_RESETHAND;
        libc::sigemptyset(&mut sa.sa_mask);
        if libc::sigaction(libc::SIGSYS, &sa, std::ptr::null_mut()) < 0 {
            return Err(FilterError(format!("sigaction(SIGSYS): {}", std::io::Error::last_os_error())));
        }
    }
    Ok(())
}

/// `siginfo_t` for SIGSYS (x86-64): the syscall number is at offset 24.
#[repr(C)]
struct SigSysInfo {
    signo: i32,
    errno: i32,
    code: i32,
    _pad: i32,
    call_addr: u64,
    syscall: i32,
    arch: u32,
}

/// Format `n` in decimal into `buf`, returning the digits.
fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

/// The message the SIGSYS handler writes, built without allocating.
fn violation_message(nr: i32, out: &mut [u8; 160]) -> usize {
    let name = usize::try_from(nr).ok().and_then(Sysno::new).map(|s| s.name()).unwrap_or("?");
    let mut digits = [0u8; 20];
    let parts: [&[u8]; 5] = [
        b"runsc-rs: seccomp: host syscall ",
        name.as_bytes(),
        b" (",
        decimal(nr.max(0) as u64, &mut digits),
        b") is not in this process's policy; killing it\n",
    ];
    let mut n = 0;
    for p in parts {
        let k = p.len().min(out.len() - n);
        out[n..n + k].copy_from_slice(&p[..k]);
        n += k;
    }
    n
}

extern "C" fn on_sigsys(_sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a SIGSYS siginfo, laid out as SigSysInfo.
    let nr = unsafe { (*(info as *const SigSysInfo)).syscall };
    let mut msg = [0u8; 160];
    let n = violation_message(nr, &mut msg);
    // SAFETY: write, getpid, gettid and tgkill are async-signal-safe raw
    // syscalls (all in every policy); SA_RESETHAND restored the default
    // action and SA_NODEFER left SIGSYS unblocked, so tgkill ends the
    // process with SIGSYS.
    unsafe {
        libc::write(TRAP_LOG_FD.load(Ordering::Relaxed), msg.as_ptr().cast(), n);
        libc::syscall(libc::SYS_tgkill, libc::getpid(), libc::gettid(), libc::SIGSYS);
    }
}

/// Consistency checks every policy table must pass (used by the tests of
/// each policy).
#[cfg(test)]
pub fn check_table(rules: &[Rule]) {
    use std::collections::HashSet;
    use std::str::FromStr;
    let mut seen = HashSet::new();
    for r in rules {
        assert!(seen.insert(r.sys), "{} is listed twice", r.sys.name());
        assert_eq!(Sysno::from_str(r.sys.name()), Ok(r.sys), "{} does not resolve", r.sys.name());
        assert!(!r.why.trim().is_empty(), "{} has no reason", r.sys.name());
        let args: Vec<u8> = match r.when {
            When::Always => vec![],
            When::ArgIn(a, v) => {
                assert!(!v.is_empty(), "{}: empty value list", r.sys.name());
                vec![a]
            }
            When::ArgClear(a, _) => vec![a],
            When::AnyOf(alts) => {
                assert!(!alts.is_empty(), "{}: no alternative", r.sys.name());
                alts.iter().flat_map(|c| c.iter()).map(|c| match *c {
                    Cond::Eq(a, _) | Cond::Masked(a, _, _) => a,
                }).collect()
            }
        };
        assert!(args.iter().all(|&a| a < 6), "{}: no such argument", r.sys.name());
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// Run `f` in a forked child and return its wait status. The child
    /// runs nothing but `f` and `_exit`.
    pub fn in_child(f: impl FnOnce() -> i32) -> i32 {
        // SAFETY: the test harness is multi-threaded: the child only runs
        // `f` (raw syscalls, and allocation, which glibc's fork keeps
        // usable in the child) and then `_exit`s.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork");
        if pid == 0 {
            let code = f();
            // SAFETY: _exit ends the child without running the parent's
            // atexit handlers.
            unsafe { libc::_exit(code) };
        }
        let mut status = 0;
        // SAFETY: `status` is a live i32.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        status
    }

    const SMALL: &[Rule] = &[
        any(Sysno::write, "the test reports"),
        any(Sysno::exit_group, "the child exits"),
        only(Sysno::kill, When::ArgIn(1, &[0]), "probe only"),
        only(Sysno::mmap, When::ArgClear(2, libc::PROT_EXEC as u64), "no exec"),
        only(Sysno::prctl, When::AnyOf(&[&[Cond::Eq(0, libc::PR_GET_NAME as u64)], &[Cond::Masked(0, 0xff, 0x1f)]]), "x"),
    ];

    #[test]
    fn a_table_compiles_and_duplicates_are_refused() {
        check_table(SMALL);
        assert!(!compile(SMALL, SeccompAction::KillProcess, SeccompAction::Allow).unwrap().is_empty());
        let dup = [any(Sysno::write, "a"), any(Sysno::write, "b")];
        assert!(compile(&dup, SeccompAction::KillProcess, SeccompAction::Allow).is_err());
    }

    #[test]
    fn argument_filters_decide_and_clone3_gets_enosys() {
        let main = compile(SMALL, SeccompAction::KillProcess, SeccompAction::Allow).unwrap();
        // Allowed: kill(pid, 0); clone3 fails with ENOSYS.
        let st = in_child(|| {
            // SAFETY: getpid has no arguments.
            let me = unsafe { libc::getpid() };
            if install(SMALL, &[(any(Sysno::clone3, "x"), libc::ENOSYS)], Violation::Kill, None).is_err() {
                return 2;
            }
            // SAFETY: raw syscalls with valid (or null) arguments.
            unsafe {
                if libc::kill(me, 0) != 0 {
                    return 3;
                }
                let r = libc::syscall(libc::SYS_clone3, 0usize, 0usize);
                if r != -1 || *libc::__errno_location() != libc::ENOSYS {
                    return 4;
                }
                // mmap without PROT_EXEC is allowed.
                let p = libc::mmap(std::ptr::null_mut(), 4096, libc::PROT_READ, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1, 0);
                if p == libc::MAP_FAILED {
                    return 5;
                }
            }
            0
        });
        assert!(libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 0, "status {st:#x}");
        // Not allowed: kill with a real signal, and mmap with PROT_EXEC.
        for bad in 0..2 {
            let st = in_child(|| {
                // SAFETY: getpid has no arguments.
                let me = unsafe { libc::getpid() };
                if seccompiler::apply_filter(&main).is_err() {
                    return 2;
                }
                // SAFETY: raw syscalls; the filter kills the process first.
                unsafe {
                    if bad == 0 {
                        libc::kill(me, libc::SIGCONT);
                    } else {
                        libc::mmap(std::ptr::null_mut(), 4096, libc::PROT_READ | libc::PROT_EXEC, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1, 0);
                    }
                }
                0
            });
            assert!(libc::WIFSIGNALED(st) && libc::WTERMSIG(st) == libc::SIGSYS, "case {bad}: status {st:#x}");
        }
    }

    #[test]
    fn trap_mode_reports_the_syscall_and_still_kills() {
        let mut buf = [0u8; 160];
        let n = violation_message(41, &mut buf);
        assert_eq!(std::str::from_utf8(&buf[..n]).unwrap(), "runsc-rs: seccomp: host syscall socket (41) is not in this process's policy; killing it\n");
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two fds.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        let st = in_child(|| {
            // SAFETY: closing our copy of the read end.
            unsafe { libc::close(fds[0]) };
            let rules = [any(Sysno::write, "report"), any(Sysno::getpid, "handler"), any(Sysno::gettid, "handler"), any(Sysno::tgkill, "handler"), any(Sysno::rt_sigreturn, "handler")];
            if install(&rules, &[], Violation::Trap, Some(fds[1])).is_err() {
                return 2;
            }
            // SAFETY: a raw syscall the filter traps.
            unsafe { libc::syscall(libc::SYS_socket, libc::AF_INET, libc::SOCK_STREAM, 0) };
            0
        });
        // SAFETY: closing our write end so the read sees EOF.
        unsafe { libc::close(fds[1]) };
        let mut out = vec![0u8; 512];
        // SAFETY: `out` is a live buffer of that length.
        let n = unsafe { libc::read(fds[0], out.as_mut_ptr().cast(), out.len()) };
        // SAFETY: our read end.
        unsafe { libc::close(fds[0]) };
        assert!(libc::WIFSIGNALED(st) && libc::WTERMSIG(st) == libc::SIGSYS, "status {st:#x}");
        let msg = String::from_utf8_lossy(&out[..n.max(0) as usize]).into_owned();
        assert!(msg.contains("host syscall socket (41)"), "{msg:?}");
    }
}
