//! Thin wrappers over the host calls the ptrace platform makes. All of the
//! platform's `unsafe` lives here and in `stub.rs`; every wrapper checks
//! its result and returns an `io::Error` (the caller names the call).

use std::arch::asm;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

use crate::{FpState, Regs};

/// MAP_FIXED_NOREPLACE (not exported by `libc` for glibc targets).
pub(super) const MAP_FIXED_NOREPLACE: i32 = 0x10_0000;

const _: () = assert!(std::mem::size_of::<Regs>() == 27 * 8);
const _: () = assert!(std::mem::size_of::<FpState>() == std::mem::size_of::<libc::user_fpregs_struct>());

fn check(ret: libc::c_long) -> io::Result<libc::c_long> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// The fields of a `siginfo_t` for the signals the platform classifies.
/// The layout is the kernel's for x86-64 (`si_addr` is the first union
/// member, at offset 16).
#[repr(C)]
pub(super) struct RawSigInfo {
    pub signo: i32,
    pub errno: i32,
    pub code: i32,
    _pad: i32,
    pub addr: u64,
    _rest: [u64; 13],
}

const _: () = assert!(std::mem::size_of::<RawSigInfo>() == 128);

fn ptrace(req: libc::c_uint, pid: i32, addr: usize, data: usize) -> io::Result<libc::c_long> {
    // SAFETY: every caller passes, for `data`, either an integer (options,
    // signal) or a pointer to a live buffer of the size the request writes or
    // reads; the tracee's memory is not ours, so no Rust memory is aliased.
    check(unsafe { libc::syscall(libc::SYS_ptrace, req as libc::c_long, pid as libc::c_long, addr, data) })
}

pub(super) fn set_options(pid: i32, opts: i32) -> io::Result<()> {
    ptrace(libc::PTRACE_SETOPTIONS, pid, 0, opts as usize).map(drop)
}

/// Resume with PTRACE_CONT (syscalls execute for real), delivering `sig`.
pub(super) fn cont(pid: i32, sig: i32) -> io::Result<()> {
    ptrace(libc::PTRACE_CONT, pid, 0, sig as usize).map(drop)
}

/// Resume with PTRACE_SYSEMU: the next syscall stops instead of running.
pub(super) fn sysemu(pid: i32, sig: i32) -> io::Result<()> {
    ptrace(libc::PTRACE_SYSEMU, pid, 0, sig as usize).map(drop)
}

pub(super) fn get_regs(pid: i32, regs: &mut Regs) -> io::Result<()> {
    ptrace(libc::PTRACE_GETREGS, pid, 0, regs as *mut Regs as usize).map(drop)
}

pub(super) fn set_regs(pid: i32, regs: &Regs) -> io::Result<()> {
    ptrace(libc::PTRACE_SETREGS, pid, 0, regs as *const Regs as usize).map(drop)
}

pub(super) fn get_fpregs(pid: i32, fp: &mut FpState) -> io::Result<()> {
    ptrace(libc::PTRACE_GETFPREGS, pid, 0, fp as *mut FpState as usize).map(drop)
}

pub(super) fn set_fpregs(pid: i32, fp: &FpState) -> io::Result<()> {
    ptrace(libc::PTRACE_SETFPREGS, pid, 0, fp as *const FpState as usize).map(drop)
}

pub(super) fn get_siginfo(pid: i32) -> io::Result<RawSigInfo> {
    let mut si = RawSigInfo { signo: 0, errno: 0, code: 0, _pad: 0, addr: 0, _rest: [0; 13] };
    ptrace(libc::PTRACE_GETSIGINFO, pid, 0, &mut si as *mut RawSigInfo as usize)?;
    Ok(si)
}

/// `struct ptrace_rseq_configuration`.
#[repr(C)]
#[derive(Default, Debug)]
pub(super) struct RseqConfig {
    pub pointer: u64,
    pub size: u32,
    pub signature: u32,
    pub flags: u32,
    pub pad: u32,
}

/// The tracee's rseq registration (kernel >= 5.13).
pub(super) fn get_rseq_config(pid: i32) -> io::Result<RseqConfig> {
    let mut c = RseqConfig::default();
    let size = std::mem::size_of::<RseqConfig>();
    ptrace(libc::PTRACE_GET_RSEQ_CONFIGURATION, pid, size, &mut c as *mut RseqConfig as usize)?;
    Ok(c)
}

/// `waitpid(pid, &status, __WALL)`, retried on EINTR. Returns the status.
pub(super) fn wait(pid: i32) -> io::Result<i32> {
    loop {
        let mut status = 0;
        // SAFETY: `status` is a live i32 the call writes.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::__WALL) };
        if r >= 0 {
            return Ok(status);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

pub(super) fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes no pointers.
    let fd = check(unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::c_long, 0 as libc::c_long) })?;
    // SAFETY: a fresh fd nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Send `sig` to the process behind `pidfd` (ESRCH once it is reaped: a
/// pidfd never names a reused pid).
pub(super) fn pidfd_send_signal(pidfd: i32, sig: i32) -> io::Result<()> {
    // SAFETY: a NULL siginfo is allowed (the kernel fills in SI_USER).
    check(unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd as libc::c_long,
            sig as libc::c_long,
            0usize,
            0 as libc::c_long,
        )
    })
    .map(drop)
}

/// Map one anonymous page at exactly `addr` (MAP_FIXED_NOREPLACE). Returns
/// false if something is already mapped there.
pub(super) fn map_page_at(addr: u64, len: usize) -> io::Result<bool> {
    // SAFETY: MAP_FIXED_NOREPLACE never replaces an existing mapping, so no
    // memory Rust knows about is affected.
    let p = unsafe {
        libc::mmap(
            addr as *mut libc::c_void,
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        let e = io::Error::last_os_error();
        return if e.raw_os_error() == Some(libc::EEXIST) { Ok(false) } else { Err(e) };
    }
    if p as u64 != addr {
        // A kernel without MAP_FIXED_NOREPLACE took it as a hint.
        // SAFETY: unmapping the mapping we just created.
        unsafe { libc::munmap(p, len) };
        return Ok(false);
    }
    Ok(true)
}

/// Copy `code` to the start of the fresh page at `addr` and make the page
/// read+exec.
///
/// # Safety
/// `[addr, addr+len)` must be a private anonymous RW mapping made by
/// [`map_page_at`] that nothing else uses, and `code.len() <= len`.
pub(super) unsafe fn install_code(addr: u64, len: usize, code: &[u8]) -> io::Result<()> {
    // SAFETY: by the contract the range is ours, writable and large enough.
    unsafe { std::ptr::copy_nonoverlapping(code.as_ptr(), addr as *mut u8, code.len()) };
    // SAFETY: changes only the protection of our own page.
    if unsafe { libc::mprotect(addr as *mut libc::c_void, len, libc::PROT_READ | libc::PROT_EXEC) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Fork the calling thread (raw `clone`, exit signal 0, no CLONE_VM) into a
/// child that jumps straight to `entry` with `r12 = memfd`, never returning
/// into Rust or libc. Returns the child's pid.
///
/// # Safety
/// `entry` must be the address of the stub code (see `stub.rs`), which uses
/// no stack and only raw syscalls.
pub(super) unsafe fn clone_into(entry: u64, memfd: i32) -> io::Result<i32> {
    let ret: i64;
    // SAFETY: without CLONE_VM the parent's memory is untouched; in the child
    // (rax == 0) control leaves to `entry` at once, which by the contract
    // runs self-contained code in the child's copy of the address space. The
    // parent continues with only rax/rcx/r11 changed, as declared.
    unsafe {
        asm!(
            "syscall",
            "test rax, rax",
            "jnz 2f",
            "jmp r13",
            "2:",
            inlateout("rax") libc::SYS_clone => ret,
            in("rdi") 0u64, // flags: no CLONE_*, exit signal 0
            in("rsi") 0u64, // same stack (copied)
            in("rdx") 0u64,
            in("r10") 0u64,
            in("r8") 0u64,
            in("r12") memfd as u64,
            in("r13") entry,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    if ret < 0 {
        return Err(io::Error::from_raw_os_error(-ret as i32));
    }
    Ok(ret as i32)
}

/// Bytewise equality of two register sets.
pub(super) fn regs_eq(a: &Regs, b: &Regs) -> bool {
    as_words(a) == as_words(b)
}

fn as_words(r: &Regs) -> &[u64; 27] {
    // SAFETY: user_regs_struct is repr(C) with 27 u64 fields and no padding
    // (size checked above); u64 has no invalid bit patterns and the
    // alignment is the same.
    unsafe { &*(r as *const Regs as *const [u64; 27]) }
}

/// All-zero registers (a valid `user_regs_struct` value).
pub(super) fn zero_regs() -> Regs {
    // SAFETY: user_regs_struct is plain integers; all-zero is valid.
    unsafe { std::mem::zeroed() }
}

/// `kill(pid, sig)`. Only for our own unreaped children (the pid cannot
/// have been reused while the child is a zombie or alive).
pub(super) fn kill(pid: i32, sig: i32) -> io::Result<()> {
    // SAFETY: kill takes no pointers.
    check(unsafe { libc::kill(pid, sig) } as libc::c_long).map(drop)
}

/// The calling thread's id.
pub(super) fn gettid() -> i32 {
    // SAFETY: gettid takes no arguments and cannot fail.
    unsafe { libc::gettid() }
}
