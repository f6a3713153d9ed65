//! The Sentry's host syscalls once the workload may run: a table common to
//! both platforms, and one per platform.
//!
//! The Sentry gets every file from the Gofer (as donated fds) and never
//! opens a host path after setup: no open/openat/stat of paths, no socket,
//! no exec. With the ptrace platform the stub processes are clones of the
//! Sentry and inherit its filters, so the table also lists the syscalls a
//! stub makes itself while it sets up (see platform/src/ptrace/stub.rs) and
//! the ones the Sentry injects into it (mmap/munmap/mprotect). The
//! workload's own syscalls never reach the filter: under PTRACE_SYSEMU the
//! kernel reports them to the tracer and skips seccomp, and under KVM they
//! are guest code.

use syscalls::Sysno;

use super::seccomp::{any, only, Cond, Rule, When};

/// The flags glibc's pthread_create passes to clone (when clone3 fails):
/// CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD |
/// CLONE_SYSVSEM | CLONE_SETTLS | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID.
pub const THREAD_CLONE_FLAGS: u64 = 0x3d0f00;

const TCGETS: u64 = 0x5401;
const TCSETS: u64 = 0x5402;
const TCSETSW: u64 = 0x5403;
const TCSETSF: u64 = 0x5404;
const TIOCGWINSZ: u64 = 0x5413;
const TIOCSWINSZ: u64 = 0x5414;
const FIONREAD: u64 = 0x541b;

/// The host tty ioctls (the workload's stdio may be a host terminal; the
/// console bridge sets its terminal raw and follows its size).
const TTY_IOCTLS: [u64; 7] = [TCGETS, TCSETS, TCSETSW, TCSETSF, TIOCGWINSZ, TIOCSWINSZ, FIONREAD];

/// An ioctl number (`_IOC`) of the KVM family (0xAE).
const fn kvm(dir: u64, nr: u64, size: u64) -> u64 {
    (dir << 30) | (size << 16) | (0xae << 8) | nr
}
const NONE: u64 = 0;
const W: u64 = 1;
const R: u64 = 2;

/// The vCPU ioctls the kvm platform makes at run time (vCPUs are created
/// lazily, one per workload thread that runs). The VM-wide ones
/// (KVM_CREATE_VM, KVM_CHECK_EXTENSION, KVM_GET_SUPPORTED_CPUID,
/// KVM_SET_USER_MEMORY_REGION, KVM_GET_VCPU_MMAP_SIZE) happen at boot,
/// before the filter.
pub const KVM_IOCTLS: [u64; 13] = [
    kvm(NONE, 0x80, 0),     // KVM_RUN
    kvm(NONE, 0x41, 0),     // KVM_CREATE_VCPU
    kvm(W, 0x90, 8),        // KVM_SET_CPUID2
    kvm(W, 0xa7, 0x188),    // KVM_SET_XCRS
    kvm(R, 0x83, 0x138),    // KVM_GET_SREGS
    kvm(W, 0x84, 0x138),    // KVM_SET_SREGS
    kvm(R, 0x8c, 0x1a0),    // KVM_GET_FPU
    kvm(W, 0x8d, 0x1a0),    // KVM_SET_FPU
    kvm(W, 0x89, 8),        // KVM_SET_MSRS
    kvm(R, 0x9f, 0x40),     // KVM_GET_VCPU_EVENTS
    kvm(W, 0xa0, 0x40),     // KVM_SET_VCPU_EVENTS
    kvm(R, 0xa4, 0x1000),   // KVM_GET_XSAVE
    kvm(W, 0xa5, 0x1000),   // KVM_SET_XSAVE
];

const PROT_EXEC: u64 = libc::PROT_EXEC as u64;
const EMPTY_PATH: u64 = libc::AT_EMPTY_PATH as u64;

/// The signal the kvm platform kicks a vCPU thread out of KVM_RUN with
/// (platform::kvm: SIGRTMIN + 7; glibc's SIGRTMIN is 34).
const KVM_KICK: u64 = 34 + 7;

/// What every Sentry needs, whatever the platform.
pub const COMMON: &[Rule] = &[
    // Files: the workload's stdio, the fds the Gofer donates, the memory
    // file, the control connections (OCI).
    any(Sysno::read, "reads of host fds: stdio, donated files, the console"),
    any(Sysno::write, "writes to host fds: stdio, donated files, the logs"),
    any(Sysno::pread64, "reads of donated files at an offset (file-backed memory, page cache)"),
    any(Sysno::pwrite64, "writes of donated files at an offset"),
    any(Sysno::lseek, "seeking donated files (directories, host stdio)"),
    any(Sysno::close, "closing host fds"),
    only(Sysno::newfstatat, When::AnyOf(&[&[Cond::Masked(3, EMPTY_PATH, EMPTY_PATH)]]), "fstat of an fd: fstatat(fd, \"\", AT_EMPTY_PATH) (glibc's fstat)"),
    only(
        Sysno::fcntl,
        When::ArgIn(1, &[libc::F_GETFL as u64, libc::F_SETFL as u64, libc::F_GETFD as u64, libc::F_SETFD as u64, libc::F_DUPFD_CLOEXEC as u64]),
        "file status flags (O_NONBLOCK of host fds) and duplicating an fd",
    ),
    only(Sysno::ioctl, When::ArgIn(1, &TTY_IOCTLS), "termios and window size of a host tty"),
    only(
        Sysno::fallocate,
        When::ArgIn(1, &[(libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE) as u64]),
        "freeing pages of the memory file (punching holes)",
    ),
    any(Sysno::poll, "waiting for a host fd (stdio, the console, a packet socket) to be ready"),
    any(Sysno::eventfd2, "waking threads blocked in poll on a host fd"),
    // The Gofer protocol and the OCI control socket.
    any(Sysno::sendmsg, "gofer requests"),
    any(Sysno::recvmsg, "gofer replies and the fds they carry; the stdio fds of an OCI exec"),
    any(Sysno::recvfrom, "frames from the packet sockets of --network=sandbox (opened before confinement)"),
    any(Sysno::sendto, "frames to the packet sockets of --network=sandbox"),
    only(Sysno::accept4, When::ArgClear(3, !(libc::SOCK_CLOEXEC as u64 | libc::SOCK_NONBLOCK as u64)), "accepting control connections (OCI)"),
    // Memory.
    any(Sysno::munmap, "freeing memory; the stub unmapping the Sentry's copy of its address space"),
    any(Sysno::madvise, "the allocator and thread stacks returning memory"),
    any(Sysno::mremap, "the allocator growing large buffers"),
    any(Sysno::brk, "the allocator's main heap"),
    // Threads and their synchronisation.
    any(Sysno::futex, "locks and condition variables"),
    any(Sysno::sched_yield, "spinning locks"),
    any(Sysno::set_robust_list, "every new thread (glibc)"),
    any(Sysno::rseq, "every new thread registers rseq (glibc); a ptrace stub unregisters it"),
    any(Sysno::sigaltstack, "every new thread's signal stack (Rust's stack overflow guard)"),
    only(Sysno::prctl, When::ArgIn(0, &[libc::PR_SET_NAME as u64, libc::PR_GET_NAME as u64, libc::PR_SET_PDEATHSIG as u64]), "thread names; a ptrace stub dies with the Sentry"),
    any(Sysno::sched_getaffinity, "the host CPU count (std::thread::available_parallelism)"),
    any(Sysno::exit, "a thread ends"),
    any(Sysno::exit_group, "the sandbox ends"),
    any(Sysno::getpid, "signalling our own threads"),
    any(Sysno::gettid, "signalling our own threads"),
    only(Sysno::tgkill, When::ArgIn(2, &[KVM_KICK, libc::SIGSYS as u64, libc::SIGABRT as u64]), "kicking a vCPU thread out of KVM_RUN; dying of a violation (--debug) or an abort"),
    // Signals.
    any(Sysno::rt_sigaction, "signal handlers (the vCPU kick, SIGSYS with --debug)"),
    any(Sysno::rt_sigprocmask, "masking signals around thread creation and on vCPU threads"),
    any(Sysno::rt_sigreturn, "returning from a signal handler (the vCPU kick)"),
    any(Sysno::rt_sigtimedwait, "the OCI sandbox forwards host signals it waits for"),
    any(Sysno::restart_syscall, "a futex wait with a timeout resumes after a signal (the vCPU kick)"),
    // Time.
    any(Sysno::clock_gettime, "clocks (when the vDSO falls back to the syscall)"),
    any(Sysno::gettimeofday, "as clock_gettime"),
    any(Sysno::getcwd, "a panic's backtrace (RUST_BACKTRACE) prints source paths relative to the cwd"),
    any(Sysno::getrandom, "the sandbox's /dev/urandom and getrandom; hash map seeds"),
    // Processes the Sentry owns: the gofers, (ptrace) its stubs.
    any(Sysno::wait4, "reaping a stopped gofer; ptrace stops of the stubs"),
];

/// The ptrace platform: the Sentry traces one stub process per address
/// space; stubs are raw clones of a Sentry thread.
pub const PTRACE: &[Rule] = &[
    only(
        Sysno::clone,
        When::AnyOf(&[&[Cond::Eq(0, THREAD_CLONE_FLAGS)], &[Cond::Eq(0, 0)]]),
        "new threads; a new stub process (flags 0: a plain fork with no exit signal)",
    ),
    only(
        Sysno::ptrace,
        When::ArgIn(
            0,
            &[
                libc::PTRACE_TRACEME as u64,
                libc::PTRACE_CONT as u64,
                libc::PTRACE_SYSEMU as u64,
                libc::PTRACE_GETREGS as u64,
                libc::PTRACE_SETREGS as u64,
                libc::PTRACE_GETFPREGS as u64,
                libc::PTRACE_SETFPREGS as u64,
                libc::PTRACE_GETSIGINFO as u64,
                libc::PTRACE_SETOPTIONS as u64,
                libc::PTRACE_GET_RSEQ_CONFIGURATION as u64,
            ],
        ),
        "tracing the stubs (a stub asks to be traced with PTRACE_TRACEME)",
    ),
    only(Sysno::kill, When::ArgIn(1, &[libc::SIGKILL as u64, libc::SIGSTOP as u64]), "killing a stub or a gofer; a stub stops itself"),
    any(Sysno::pidfd_open, "a pidfd per stub, to interrupt it without pid reuse races"),
    only(Sysno::pidfd_send_signal, When::ArgIn(1, &[libc::SIGSTOP as u64]), "interrupting a stub that runs the workload"),
    // Injected into a stub by the tracer (PTRACE_CONT runs them for real).
    only(
        Sysno::mmap,
        When::AnyOf(&[&[Cond::Masked(2, PROT_EXEC, 0)], &[Cond::Eq(3, (libc::MAP_SHARED | libc::MAP_FIXED) as u64)]]),
        "memory without PROT_EXEC; in a stub, the memory file mapped MAP_SHARED|MAP_FIXED with the workload's protection",
    ),
    any(Sysno::mprotect, "thread stack guards; in a stub, the workload's mprotect (PROT_EXEC included)"),
    // Made by a stub while it sets itself up.
    any(Sysno::setsid, "a new stub leaves the Sentry's session"),
    any(Sysno::close_range, "a new stub closes every fd but the memory file"),
];

/// The kvm platform: the workload runs in a VM, one vCPU per thread.
pub const KVM: &[Rule] = &[
    only(Sysno::clone, When::ArgIn(0, &[THREAD_CLONE_FLAGS]), "new threads (vCPU threads among them)"),
    only(Sysno::kill, When::ArgIn(1, &[libc::SIGKILL as u64]), "killing a gofer"),
    only(Sysno::mmap, When::ArgClear(2, PROT_EXEC), "memory (never executable): the allocator, thread stacks, a new vCPU's kvm_run"),
    only(Sysno::mprotect, When::ArgClear(2, PROT_EXEC), "thread stack guards (never executable)"),
];

/// The ioctl rule for the kvm platform: tty ioctls plus the vCPU ones.
const fn kvm_ioctl() -> Rule {
    const ALL: [u64; TTY_IOCTLS.len() + KVM_IOCTLS.len()] = {
        let mut a = [0u64; TTY_IOCTLS.len() + KVM_IOCTLS.len()];
        let mut i = 0;
        while i < TTY_IOCTLS.len() {
            a[i] = TTY_IOCTLS[i];
            i += 1;
        }
        let mut j = 0;
        while j < KVM_IOCTLS.len() {
            a[i + j] = KVM_IOCTLS[j];
            j += 1;
        }
        a
    };
    only(Sysno::ioctl, When::ArgIn(1, &ALL), "termios and window size of a host tty; the vCPU ioctls")
}

/// The syscalls that fail with ENOSYS instead of running.
pub const ENOSYS: &[Rule] = &[
    any(
        Sysno::clone3,
        "glibc tries clone3 first for a new thread; its flags are in memory, out of the filter's reach, so it fails and glibc falls back to clone, whose flags the allow-list checks",
    ),
    any(
        Sysno::openat,
        "glibc's malloc, trimming a thread's arena (shrink_heap), opens /proc/sys/vm/overcommit_memory once (check_may_shrink_heap); when that fails it only madvises instead of remapping",
    ),
];

/// The Sentry's allow-list for a platform.
pub fn rules(kvm_platform: bool) -> Vec<Rule> {
    let mut v: Vec<Rule> = COMMON.to_vec();
    if kvm_platform {
        v.retain(|r| r.sys != Sysno::ioctl);
        v.push(kvm_ioctl());
        v.extend_from_slice(KVM);
    } else {
        v.extend_from_slice(PTRACE);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::confine::seccomp::check_table;

    #[test]
    fn execve_or_a_host_socket_kills_a_confined_sentry() {
        use crate::confine::seccomp::{install, tests::in_child, Violation};
        let fail: Vec<_> = ENOSYS.iter().map(|&r| (r, libc::ENOSYS)).collect();
        for kvm in [false, true] {
            for case in 0..2 {
                let st = in_child(|| {
                    if install(&rules(kvm), &fail, Violation::Kill, None).is_err() {
                        return 2;
                    }
                    // A thread still starts (clone3 → ENOSYS → clone).
                    if std::thread::spawn(|| 7).join().ok() != Some(7) {
                        return 3;
                    }
                    let argv = [c"/bin/true".as_ptr(), std::ptr::null()];
                    // SAFETY: raw syscalls with valid arguments; the filter
                    // kills the process first.
                    unsafe {
                        if case == 0 {
                            libc::execve(argv[0], argv.as_ptr(), std::ptr::null());
                        } else {
                            libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
                        }
                    }
                    4
                });
                assert!(libc::WIFSIGNALED(st) && libc::WTERMSIG(st) == libc::SIGSYS, "kvm {kvm} case {case}: status {st:#x}");
            }
        }
    }

    #[test]
    fn a_panic_backtrace_after_confinement_needs_the_warm_up() {
        use crate::confine::seccomp::{install, tests::in_child, Violation};
        let fail: Vec<_> = ENOSYS.iter().map(|&r| (r, libc::ENOSYS)).collect();
        for warm in [false, true] {
            let st = in_child(|| {
                if warm {
                    crate::confine::warm_up_backtraces();
                }
                if install(&rules(false), &fail, Violation::Kill, None).is_err() {
                    return 2;
                }
                let bt = std::thread::spawn(|| std::backtrace::Backtrace::force_capture().to_string()).join().unwrap_or_default();
                if bt.contains("a_panic_backtrace_after_confinement") { 0 } else { 3 }
            });
            if warm {
                assert!(libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 0, "warmed up: status {st:#x}");
            } else {
                // Without it, std opens the executable (/proc/self/exe).
                assert!(libc::WIFSIGNALED(st) && libc::WTERMSIG(st) == libc::SIGSYS, "cold: status {st:#x}");
            }
        }
    }

    #[test]
    fn a_caught_panic_does_not_kill_a_confined_sentry() {
        use crate::confine::seccomp::{install, tests::in_child, Violation};
        let fail: Vec<_> = ENOSYS.iter().map(|&r| (r, libc::ENOSYS)).collect();
        let st = in_child(|| {
            crate::confine::panics_without_backtraces();
            if install(&rules(true), &fail, Violation::Kill, None).is_err() {
                return 2;
            }
            let r = std::thread::spawn(|| std::panic::catch_unwind(|| panic!("a Sentry bug")).is_err()).join();
            if r.ok() == Some(true) { 0 } else { 3 }
        });
        assert!(libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 0, "status {st:#x}");
    }

    #[test]
    fn tables_are_sane_on_both_platforms() {
        for kvm in [false, true] {
            let r = rules(kvm);
            check_table(&r);
            for forbidden in [Sysno::execve, Sysno::execveat, Sysno::open, Sysno::openat, Sysno::openat2, Sysno::socket, Sysno::connect, Sysno::mount, Sysno::unlinkat, Sysno::fork, Sysno::vfork, Sysno::seccomp] {
                assert!(r.iter().all(|x| x.sys != forbidden), "{} must not be allowed", forbidden.name());
            }
            assert!(r.iter().all(|x| x.sys != Sysno::clone3), "clone3 is refused with ENOSYS, not allowed");
        }
        check_table(ENOSYS);
        // The ioctl numbers, as strace shows them.
        assert_eq!(KVM_IOCTLS[0], 0xae80);
        assert_eq!(KVM_IOCTLS[4], 0x8138ae83);
        assert_eq!(KVM_IOCTLS[11], 0x9000aea4);
        assert_eq!(KVM_IOCTLS[12], 0x5000aea5);
        assert_eq!(KVM_IOCTLS[9], 0x8040ae9f);
        assert_eq!(KVM_IOCTLS[2], 0x4008ae90);
        assert!(matches!(rules(true).iter().find(|r| r.sys == Sysno::ioctl).unwrap().when, When::ArgIn(1, v) if v.len() == TTY_IOCTLS.len() + KVM_IOCTLS.len()));
        assert_eq!(libc::SIGRTMIN() as u64 + 7, KVM_KICK);
    }
}
