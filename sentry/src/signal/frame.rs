//! The x86-64 rt signal frame: what a handler finds on its stack, and what
//! rt_sigreturn restores.
//!
//! Layout (as Linux builds it): `pretcode` (the return address: the
//! sa_restorer), then `struct ucontext` (flags, link, stack_t, sigcontext,
//! sigmask), then `siginfo_t`; the 512-byte FXSAVE area sits above,
//! 64-byte aligned, and `sigcontext.fpstate` points to it.

use abi::{Errno, SysResult};
use platform::{FpState, Regs};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::{AltStack, SigInfo, SigSet, SS_DISABLE, SS_ONSTACK};
use crate::mm::MemoryManager;

/// `struct sigcontext` (x86-64), 256 bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct SigContext {
    pub r8: u64,
    pub r9: u64,
    pub r10: u64,
    pub r11: u64,
    pub r12: u64,
    pub r13: u64,
    pub r14: u64,
    pub r15: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rbp: u64,
    pub rbx: u64,
    pub rdx: u64,
    pub rax: u64,
    pub rcx: u64,
    pub rsp: u64,
    pub rip: u64,
    pub eflags: u64,
    pub cs: u16,
    pub gs: u16,
    pub fs: u16,
    pub ss: u16,
    pub err: u64,
    pub trapno: u64,
    pub oldmask: u64,
    pub cr2: u64,
    pub fpstate: u64,
    pub reserved: [u64; 8],
}

/// `struct ucontext` as the kernel writes it (304 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct UContext {
    pub flags: u64,
    pub link: u64,
    pub ss_sp: u64,
    pub ss_flags: i32,
    pub _pad: i32,
    pub ss_size: u64,
    pub mcontext: SigContext,
    pub sigmask: u64,
}

/// `struct rt_sigframe`.
#[repr(C)]
#[derive(Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct RtSigFrame {
    pub pretcode: u64,
    pub uc: UContext,
    pub info: SigInfo,
}

const UC_SIGCONTEXT_SS: u64 = 2;
const UC_STRICT_RESTORE_SS: u64 = 4;
/// User code and stack selectors on x86-64 Linux.
pub const USER_CS: u64 = 0x33;
pub const USER_SS: u64 = 0x2b;
/// Flags a user may change through sigreturn (CF PF AF ZF SF TF DF OF AC...).
const FIX_EFLAGS: u64 = 0x40dd5 | 0x100 | 0x200 | 0x400 | 0x4_0000 | 0x20_0000;

/// What the handler is called with.
pub struct HandlerSetup {
    pub handler: u64,
    pub restorer: u64,
    pub sig: i32,
    pub info: SigInfo,
    pub siginfo_flag: bool,
    /// The mask in effect before the handler (restored on return).
    pub old_mask: SigSet,
    pub altstack: AltStack,
    pub use_altstack: bool,
}

/// Build the frame on the workload's stack and point `regs` at the
/// handler. Errors mean the stack is unusable: the caller kills with
/// SIGSEGV, as Linux does.
pub fn setup(mm: &MemoryManager, regs: &mut Regs, fp: &FpState, h: &HandlerSetup) -> SysResult<()> {
    let on_alt = h.altstack.on_stack(regs.rsp);
    let mut sp = if h.use_altstack && !on_alt && h.altstack.flags & SS_DISABLE == 0 && h.altstack.size > 0 {
        h.altstack.sp + h.altstack.size
    } else {
        // Skip the red zone.
        regs.rsp.wrapping_sub(128)
    };
    sp = sp.wrapping_sub(512) & !63;
    let fp_addr = sp;
    mm.copy_out(fp_addr, &fp.0)?;
    sp = (sp.wrapping_sub(std::mem::size_of::<RtSigFrame>() as u64) & !15).wrapping_sub(8);
    let frame_addr = sp;

    let mc = SigContext {
        r8: regs.r8,
        r9: regs.r9,
        r10: regs.r10,
        r11: regs.r11,
        r12: regs.r12,
        r13: regs.r13,
        r14: regs.r14,
        r15: regs.r15,
        rdi: regs.rdi,
        rsi: regs.rsi,
        rbp: regs.rbp,
        rbx: regs.rbx,
        rdx: regs.rdx,
        rax: regs.rax,
        rcx: regs.rcx,
        rsp: regs.rsp,
        rip: regs.rip,
        eflags: regs.eflags,
        cs: USER_CS as u16,
        ss: USER_SS as u16,
        trapno: if h.sig == super::SIGSEGV { 14 } else { 0 },
        oldmask: h.old_mask.0,
        cr2: if matches!(h.sig, super::SIGSEGV | super::SIGBUS) { h.info.fields[0] } else { 0 },
        fpstate: fp_addr,
        ..Default::default()
    };
    let frame = RtSigFrame {
        pretcode: h.restorer,
        uc: UContext {
            flags: UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS,
            link: 0,
            ss_sp: h.altstack.sp,
            ss_flags: if on_alt { SS_ONSTACK } else { h.altstack.flags },
            _pad: 0,
            ss_size: h.altstack.size,
            mcontext: mc,
            sigmask: h.old_mask.0,
        },
        info: h.info,
    };
    mm.write_obj(frame_addr, &frame)?;

    regs.rsp = frame_addr;
    regs.rip = h.handler;
    regs.rdi = h.sig as u64;
    regs.rsi = frame_addr + std::mem::offset_of!(RtSigFrame, info) as u64;
    regs.rdx = frame_addr + std::mem::offset_of!(RtSigFrame, uc) as u64;
    regs.rax = 0;
    // Clear DF, TF (and RF) for the handler.
    regs.eflags &= !(0x400 | 0x100 | 0x1_0000);
    Ok(())
}

/// What rt_sigreturn restores besides the registers.
pub struct Restored {
    pub mask: SigSet,
    pub fp: FpState,
    pub altstack: AltStack,
}

/// rt_sigreturn: read the frame the handler returned through (its
/// `pretcode` was popped, so the frame starts at rsp - 8).
pub fn restore(mm: &MemoryManager, regs: &mut Regs) -> SysResult<Restored> {
    let frame_addr = regs.rsp.wrapping_sub(8);
    let frame: RtSigFrame = mm.read_obj(frame_addr)?;
    let mc = &frame.uc.mcontext;
    regs.r8 = mc.r8;
    regs.r9 = mc.r9;
    regs.r10 = mc.r10;
    regs.r11 = mc.r11;
    regs.r12 = mc.r12;
    regs.r13 = mc.r13;
    regs.r14 = mc.r14;
    regs.r15 = mc.r15;
    regs.rdi = mc.rdi;
    regs.rsi = mc.rsi;
    regs.rbp = mc.rbp;
    regs.rbx = mc.rbx;
    regs.rdx = mc.rdx;
    regs.rax = mc.rax;
    regs.rcx = mc.rcx;
    regs.rsp = mc.rsp;
    regs.rip = mc.rip;
    regs.eflags = (regs.eflags & !FIX_EFLAGS) | (mc.eflags & FIX_EFLAGS);
    regs.cs = USER_CS;
    regs.ss = USER_SS;
    // Not a syscall any more: no restart processing.
    regs.orig_rax = u64::MAX;
    let mut fp = FpState::default();
    if mc.fpstate != 0 {
        mm.copy_in(mc.fpstate, &mut fp.0).map_err(|_| Errno::EFAULT)?;
        // MXCSR reserved bits set would fault the host's FXRSTOR: sanitize.
        let mxcsr = u32::from_le_bytes([fp.0[24], fp.0[25], fp.0[26], fp.0[27]]) & 0xffff;
        fp.0[24..28].copy_from_slice(&mxcsr.to_le_bytes());
    }
    Ok(Restored {
        mask: SigSet(frame.uc.sigmask),
        fp,
        altstack: AltStack { sp: frame.uc.ss_sp, flags: frame.uc.ss_flags, size: frame.uc.ss_size },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_linux() {
        assert_eq!(std::mem::size_of::<SigContext>(), 256);
        assert_eq!(std::mem::size_of::<UContext>(), 304);
        assert_eq!(std::mem::offset_of!(UContext, mcontext), 40);
        assert_eq!(std::mem::offset_of!(RtSigFrame, info), 312);
    }
}
