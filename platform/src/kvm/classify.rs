//! Turning a guest exit into an [`Event`] and the workload's [`Regs`]:
//! pure functions, tested without KVM.

use kvm_bindings::{kvm_regs, kvm_segment};

use super::layout::{USER_CS, USER_DS};
use crate::{Access, Event, Regs};

pub const SI_KERNEL: i32 = 0x80;
pub const ILL_ILLOPN: i32 = 2;
pub const FPE_INTDIV: i32 = 1;
pub const FPE_FLTDIV: i32 = 3;
pub const FPE_FLTOVF: i32 = 4;
pub const FPE_FLTUND: i32 = 5;
pub const FPE_FLTRES: i32 = 6;
pub const FPE_FLTINV: i32 = 7;
pub const TRAP_BRKPT: i32 = 1;
pub const TRAP_TRACE: i32 = 2;
pub const BUS_ADRALN: i32 = 1;

/// RFLAGS.IF.
pub const RFLAGS_IF: u64 = 0x200;

/// `-ENOSYS`: what `rax` holds at a syscall stop under ptrace.
pub const ENOSYS_RET: u64 = (-(libc::ENOSYS as i64)) as u64;

/// What an exception vector means for the workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Event(Event),
    /// A vector that never comes from ring 3 of a sane guest (NMI, double
    /// fault, machine check, a page fault with reserved bits): a platform bug.
    Bug,
}

/// The exception frame the CPU pushed on the kernel stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Frame {
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

/// si_code for an x87 (#MF) or SIMD (#XM) exception, from the unmasked
/// exception bits (as Linux computes it).
pub fn fp_code(unmasked: u32) -> i32 {
    if unmasked & 0x001 != 0 {
        FPE_FLTINV
    } else if unmasked & 0x004 != 0 {
        FPE_FLTDIV
    } else if unmasked & 0x008 != 0 {
        FPE_FLTOVF
    } else if unmasked & 0x012 != 0 {
        FPE_FLTUND
    } else if unmasked & 0x020 != 0 {
        FPE_FLTRES
    } else {
        0
    }
}

/// Classify exception `vector` taken in ring 3 at `rip` with `error`
/// (0 if the vector has none) and `cr2`. `fp_unmasked` gives the unmasked
/// exception bits for #MF/#XM (computed from the FP state only then).
pub fn classify(vector: u8, error: u64, cr2: u64, rip: u64, fp_unmasked: impl FnOnce(u8) -> u32) -> Outcome {
    let exc = |signo, code, addr| Outcome::Event(Event::Exception { signo, code, addr });
    match vector {
        0 => exc(libc::SIGFPE, FPE_INTDIV, rip),
        1 => exc(libc::SIGTRAP, TRAP_TRACE, rip),
        3 => exc(libc::SIGTRAP, SI_KERNEL, 0),
        6 => exc(libc::SIGILL, ILL_ILLOPN, rip),
        11 | 12 => exc(libc::SIGBUS, SI_KERNEL, 0),
        14 => {
            if error & (1 << 3) != 0 {
                return Outcome::Bug; // reserved bit set in our tables
            }
            let write = error & (1 << 1) != 0;
            let exec = error & (1 << 4) != 0;
            Outcome::Event(Event::Fault { addr: cr2, access: Access { read: !write && !exec, write, exec } })
        }
        16 | 19 => exc(libc::SIGFPE, fp_code(fp_unmasked(vector)), rip),
        17 => exc(libc::SIGBUS, BUS_ADRALN, 0),
        2 | 8 | 18 => Outcome::Bug,
        // #OF, #BR, #NM, #TS, #GP, reserved vectors, #CP...: Linux sends
        // SIGSEGV with SI_KERNEL.
        _ => exc(libc::SIGSEGV, SI_KERNEL, 0),
    }
}

/// The user registers after `syscall`: the CPU put the user `rip` in rcx
/// and `rflags` in r11 and left everything else (rsp included) alone.
pub fn syscall_regs(k: &kvm_regs, fs_base: u64, gs_base: u64) -> Regs {
    let mut r = gprs(k, fs_base, gs_base);
    r.orig_rax = k.rax;
    r.rax = ENOSYS_RET;
    r.rip = k.rcx;
    r.eflags = k.r11;
    r.rsp = k.rsp;
    r
}

/// Whether a page fault with this frame is really a SYSCALL: some KVM
/// implementations (PVM, the paravirtual KVM without VMX/SVM) emulate
/// SYSCALL from ring 3 by jumping to LSTAR *without* leaving ring 3 (rcx,
/// r11, SFMASK applied, but CS stays 0x33); the fetch of the supervisor-only
/// stub then faults at exactly LSTAR. IF is clear only in that case: a
/// workload that jumps to LSTAR itself cannot clear IF (IOPL is 0).
pub fn is_syscall_quirk(f: &Frame, lstar: u64) -> bool {
    f.rip == lstar && f.rflags & 0x200 == 0
}

/// Whether an exception frame says the platform's own code (the stub, in
/// the kernel half) was running in ring 3: user `cs`, a kernel-half `rip`,
/// and IF clear. The workload cannot clear IF (IOPL is 0 and every entry
/// sets it), and everything the platform runs has it clear (the entry
/// stubs, and LSTAR and the vectors after SFMASK or an interrupt gate), so
/// such a frame is never the workload's own fault: a workload that jumps
/// into the kernel half faults with IF set. (The PVM SYSCALL at LSTAR is
/// one case, recognized first by [`is_syscall_quirk`].)
pub fn is_platform_code_in_ring3(f: &Frame) -> bool {
    f.cs == u64::from(USER_CS) && !is_user_canonical(f.rip) && f.rflags & RFLAGS_IF == 0
}

/// The privilege level a vCPU's `cs` gives: its selector's RPL, or its DPL
/// if a hypervisor reports only that.
pub fn cpl(cs: &kvm_segment) -> u8 {
    ((cs.selector & 3) as u8).max(cs.dpl & 3)
}

/// The user registers at an exception: GPRs from the vCPU (the stub does
/// not touch them), the rest from the frame.
pub fn exception_regs(k: &kvm_regs, f: &Frame, fs_base: u64, gs_base: u64) -> Regs {
    let mut r = gprs(k, fs_base, gs_base);
    r.orig_rax = u64::MAX;
    r.rip = f.rip;
    r.eflags = f.rflags;
    r.rsp = f.rsp;
    r
}

/// The user registers of a vCPU stopped in ring 3 (an interrupted run).
pub fn user_regs(k: &kvm_regs, fs_base: u64, gs_base: u64) -> Regs {
    let mut r = gprs(k, fs_base, gs_base);
    r.orig_rax = u64::MAX;
    r.rip = k.rip;
    r.eflags = k.rflags;
    r.rsp = k.rsp;
    r
}

fn gprs(k: &kvm_regs, fs_base: u64, gs_base: u64) -> Regs {
    let mut r = super::sys::zero_regs();
    r.r15 = k.r15;
    r.r14 = k.r14;
    r.r13 = k.r13;
    r.r12 = k.r12;
    r.rbp = k.rbp;
    r.rbx = k.rbx;
    r.r11 = k.r11;
    r.r10 = k.r10;
    r.r9 = k.r9;
    r.r8 = k.r8;
    r.rax = k.rax;
    r.rcx = k.rcx;
    r.rdx = k.rdx;
    r.rsi = k.rsi;
    r.rdi = k.rdi;
    r.cs = u64::from(USER_CS);
    r.ss = u64::from(USER_DS);
    r.fs_base = fs_base;
    r.gs_base = gs_base;
    r
}

/// The flags a workload may hold: CF PF AF ZF SF TF DF OF RF AC ID; IF is
/// always set, bit 1 always 1; IOPL, NT, VM, VIF, VIP never.
pub fn user_rflags(f: u64) -> u64 {
    const USER_FLAGS: u64 = 0x1 | 0x4 | 0x10 | 0x40 | 0x80 | 0x100 | 0x400 | 0x800 | 0x1_0000 | 0x4_0000 | 0x20_0000;
    (f & USER_FLAGS) | 0x202
}

/// Whether `a` is a canonical lower-half (user) address.
pub fn is_user_canonical(a: u64) -> bool {
    a < 0x8000_0000_0000
}

/// The vCPU registers that enter user mode through the stub: the user's
/// GPRs, kernel `rsp` at `frame_rsp`, `rip` at the stub, interrupts off.
pub fn entry_regs(r: &Regs, frame_rsp: u64, stub_rip: u64) -> kvm_regs {
    kvm_regs {
        rax: r.rax,
        rbx: r.rbx,
        rcx: r.rcx,
        rdx: r.rdx,
        rsi: r.rsi,
        rdi: r.rdi,
        rsp: frame_rsp,
        rbp: r.rbp,
        r8: r.r8,
        r9: r.r9,
        r10: r.r10,
        r11: r.r11,
        r12: r.r12,
        r13: r.r13,
        r14: r.r14,
        r15: r.r15,
        rip: stub_rip,
        rflags: 0x2,
    }
}

/// The IRET frame that returns to `r` in ring 3.
pub fn iret_frame(r: &Regs) -> Frame {
    Frame { rip: r.rip, cs: u64::from(USER_CS), rflags: user_rflags(r.eflags), rsp: r.rsp, ss: u64::from(USER_DS) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none(_: u8) -> u32 {
        panic!("FP state not needed")
    }

    #[test]
    fn page_faults_carry_exact_access() {
        let f = |err| classify(14, err, 0x5000, 0x1000, none);
        let acc = |read, write, exec| Outcome::Event(Event::Fault { addr: 0x5000, access: Access { read, write, exec } });
        assert_eq!(f(0b00100), acc(true, false, false), "user read, not present");
        assert_eq!(f(0b00101), acc(true, false, false), "user read, protection");
        assert_eq!(f(0b00110), acc(false, true, false), "user write, not present");
        assert_eq!(f(0b00111), acc(false, true, false), "user write, protection");
        assert_eq!(f(0b10100), acc(false, false, true), "fetch, not present");
        assert_eq!(f(0b10101), acc(false, false, true), "fetch, NX");
        assert_eq!(f(0b01101), Outcome::Bug, "reserved bit");
    }

    #[test]
    fn exceptions_map_to_linux_signals() {
        let e = |signo, code, addr| Outcome::Event(Event::Exception { signo, code, addr });
        assert_eq!(classify(0, 0, 0, 0x42, none), e(libc::SIGFPE, FPE_INTDIV, 0x42));
        assert_eq!(classify(1, 0, 0, 0x42, none), e(libc::SIGTRAP, TRAP_TRACE, 0x42));
        assert_eq!(classify(3, 0, 0, 0x42, none), e(libc::SIGTRAP, SI_KERNEL, 0));
        assert_eq!(classify(6, 0, 0, 0x42, none), e(libc::SIGILL, ILL_ILLOPN, 0x42));
        assert_eq!(classify(13, 0x1a, 0, 0x42, none), e(libc::SIGSEGV, SI_KERNEL, 0));
        assert_eq!(classify(12, 0, 0, 0x42, none), e(libc::SIGBUS, SI_KERNEL, 0));
        assert_eq!(classify(17, 0, 0, 0x42, none), e(libc::SIGBUS, BUS_ADRALN, 0));
        assert_eq!(classify(19, 0, 0, 0x42, |v| if v == 19 { 0x4 } else { 0 }), e(libc::SIGFPE, FPE_FLTDIV, 0x42));
        assert_eq!(classify(16, 0, 0, 0x42, |_| 0x1), e(libc::SIGFPE, FPE_FLTINV, 0x42));
        for v in [2, 8, 18] {
            assert_eq!(classify(v, 0, 0, 0, none), Outcome::Bug, "vector {v}");
        }
        assert_eq!(fp_code(0x20), FPE_FLTRES);
        assert_eq!(fp_code(0x10), FPE_FLTUND);
        assert_eq!(fp_code(0x8), FPE_FLTOVF);
    }

    #[test]
    fn registers_at_syscall_and_exception() {
        let k = kvm_regs {
            rax: 39,
            rcx: 0x40_0007,
            r11: 0x246,
            rsp: 0x7ff0,
            rdi: 1,
            rip: 0xffff_ff80_0000_1012,
            rflags: 0x2,
            ..Default::default()
        };
        let r = syscall_regs(&k, 0x1000, 0x2000);
        assert_eq!((r.orig_rax, r.rax, r.rip, r.eflags, r.rsp), (39, ENOSYS_RET, 0x40_0007, 0x246, 0x7ff0));
        assert_eq!((r.rcx, r.r11, r.rdi), (0x40_0007, 0x246, 1), "rcx and r11 as the CPU set them");
        assert_eq!((r.cs, r.ss, r.fs_base, r.gs_base), (0x33, 0x2b, 0x1000, 0x2000));
        let f = Frame { rip: 0x40_0010, cs: 0x33, rflags: 0x10246, rsp: 0x7fe0, ss: 0x2b };
        let r = exception_regs(&k, &f, 0, 0);
        assert_eq!((r.rip, r.eflags, r.rsp, r.rax, r.orig_rax), (0x40_0010, 0x10246, 0x7fe0, 39, u64::MAX));
    }

    #[test]
    fn syscall_through_a_fault_at_lstar() {
        let lstar = 0xffff_ff80_0000_1010;
        let f = Frame { rip: lstar, cs: 0x33, rflags: 0x10002, rsp: 0x7000, ss: 0x2b };
        assert!(is_syscall_quirk(&f, lstar));
        assert!(!is_syscall_quirk(&Frame { rflags: 0x10202, ..f }, lstar), "a jump to LSTAR with IF set");
        assert!(!is_syscall_quirk(&Frame { rip: lstar + 1, ..f }, lstar));
    }

    #[test]
    fn platform_code_in_ring3_is_never_a_workload_fault() {
        // The IRETQ entry stub run in ring 3 (entry rflags 0x2).
        let stub = Frame { rip: 0xffff_ff80_0000_1008, cs: 0x33, rflags: 0x2, rsp: 0xffff_ff80_0001_0fd8, ss: 0x2b };
        assert!(is_platform_code_in_ring3(&stub));
        // A vector stub reached in ring 3 through an interrupt gate.
        assert!(is_platform_code_in_ring3(&Frame { rip: 0xffff_ff80_0000_1170, rflags: 0x10046, ..stub }));
        // The workload jumping there itself has IF set: its own fault.
        assert!(!is_platform_code_in_ring3(&Frame { rflags: 0x246, ..stub }));
        // A user rip, or a ring-0 frame, is something else.
        assert!(!is_platform_code_in_ring3(&Frame { rip: 0x40_0000, ..stub }));
        assert!(!is_platform_code_in_ring3(&Frame { cs: 0x10, ..stub }));
        let seg = |selector, dpl| kvm_segment { selector, dpl, ..Default::default() };
        assert_eq!(cpl(&seg(0x33, 3)), 3);
        assert_eq!(cpl(&seg(0x33, 0)), 3);
        assert_eq!(cpl(&seg(0x10, 0)), 0);
        assert_eq!(cpl(&seg(0, 3)), 3);
    }

    #[test]
    fn entry_sanitizes_flags() {
        assert_eq!(user_rflags(0), 0x202);
        assert_eq!(user_rflags(0x3000 | 0x4000 | 0x2_0000 | 0xc5), 0x2c7, "IOPL, NT, VM dropped");
        assert_eq!(user_rflags(0x4_0100), 0x4_0302, "AC and TF kept");
        assert!(is_user_canonical(0x7fff_ffff_ffff));
        assert!(!is_user_canonical(0x8000_0000_0000));
        let mut r = super::super::sys::zero_regs();
        r.rax = 5;
        r.rsp = 0x1234;
        r.eflags = 0x3202;
        let k = entry_regs(&r, 0xffff_ff80_0000_9fd8, 0xffff_ff80_0000_1008);
        assert_eq!((k.rax, k.rsp, k.rip, k.rflags), (5, 0xffff_ff80_0000_9fd8, 0xffff_ff80_0000_1008, 2));
        let f = iret_frame(&r);
        assert_eq!((f.rsp, f.rflags, f.cs, f.ss), (0x1234, 0x202, 0x33, 0x2b));
    }
}
