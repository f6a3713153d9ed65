//! Platforms run the workload and report each syscall, fault and signal to
//! the Sentry. A platform knows nothing about files, tasks or signals
//! semantics: it runs a [`Context`] with given registers until something
//! happens, and keeps the context's address space mapped onto pages of the
//! one [`MemoryFile`] as the Sentry's `mm` tells it to.
//!
//! * `ptrace`: each context is a stub process driven with PTRACE_SYSEMU;
//!   address-space changes are syscalls injected into the stub.
//! * `kvm` (later): each context is a vCPU in guest ring 3; the address space
//!   is a set of page tables over the memory file as guest-physical memory.

pub mod memfile;
pub mod kvm;
pub mod ptrace;

use std::sync::Arc;

pub use memfile::MemoryFile;

bitflags::bitflags! {
    /// Page protections, with the values of PROT_*.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
    pub struct Prot: u32 {
        const READ = libc::PROT_READ as u32;
        const WRITE = libc::PROT_WRITE as u32;
        const EXEC = libc::PROT_EXEC as u32;
    }
}

/// The kind of access that faulted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Access {
    pub read: bool,
    pub write: bool,
    pub exec: bool,
}

/// The general-purpose registers of a workload thread (x86-64
/// `user_regs_struct`: includes `fs_base`/`gs_base`, `orig_rax`, `eflags`).
pub type Regs = libc::user_regs_struct;

/// The x87/SSE state of a workload thread in FXSAVE layout (512 bytes), as
/// a signal frame stores it.
#[derive(Clone)]
#[repr(C, align(16))]
pub struct FpState(pub [u8; 512]);

impl Default for FpState {
    fn default() -> Self {
        let mut s = FpState([0; 512]);
        // FCW = 0x37f (all exceptions masked, extended precision),
        // MXCSR = 0x1f80 (all SSE exceptions masked): the reset state.
        s.0[0..2].copy_from_slice(&0x37fu16.to_le_bytes());
        s.0[24..28].copy_from_slice(&0x1f80u32.to_le_bytes());
        s
    }
}

/// What stopped the workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// The workload executed `syscall`. `regs.orig_rax` holds the number,
    /// `rdi, rsi, rdx, r10, r8, r9` the arguments, `rip` points after the
    /// instruction. The Sentry sets `rax` to the result before switching back.
    Syscall,
    /// A page fault at `addr` that the address space did not satisfy (no
    /// mapping there yet, or one without the needed protection). `regs` are
    /// at the faulting instruction.
    Fault { addr: u64, access: Access },
    /// A synchronous exception other than a page fault, as the host kernel
    /// reports it: a host signal number (SIGILL, SIGFPE, SIGTRAP, SIGBUS,
    /// SIGSEGV for a general-protection fault), with `si_code` and `si_addr`.
    Exception { signo: i32, code: i32, addr: u64 },
    /// [`Interrupter::interrupt`] was called (or the thread received a host
    /// signal meant for the Sentry). The registers are consistent; the Sentry
    /// may deliver signals and switch back.
    Interrupted,
}

/// Errors of the platform itself (not the workload's): a broken stub, a
/// failed host call. The Sentry treats these as fatal for the task.
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    #[error("host call {0} failed: {1}")]
    Host(&'static str, std::io::Error),
    #[error("stub process misbehaved: {0}")]
    Stub(String),
    #[error("address range {0:#x}+{1:#x} is outside the workload's address space")]
    BadRange(u64, u64),
}

pub type Result<T> = std::result::Result<T, PlatformError>;

/// Wakes a context out of [`Context::switch`] from another thread.
pub trait Interrupter: Send + Sync {
    /// Make the current or next `switch` of the context return
    /// [`Event::Interrupted`] promptly. Idempotent; safe to call at any time
    /// (including after the context is gone).
    fn interrupt(&self);
}

/// A way to run workloads: one per sandbox.
pub trait Platform: Send + Sync {
    /// The name given to `--platform`.
    fn name(&self) -> &'static str;

    /// Lowest and one-past-highest address the workload may map.
    fn user_range(&self) -> (u64, u64);

    /// A new context with an empty address space. Must be called on the host
    /// thread that will call `switch` on it (for ptrace, that thread becomes
    /// the tracer). The context is not `Send`.
    fn new_context(&self) -> Result<Box<dyn Context>>;
}

/// One workload thread and the address space it runs in.
///
/// The address space is kept by the Sentry's `mm` as the truth; the
/// platform's mappings are a cache of it: a missing mapping only causes an
/// [`Event::Fault`], which `mm` answers by calling [`Context::map`].
pub trait Context {
    /// Run the workload with `regs` until an [`Event`]. On return `regs`
    /// holds the workload's registers at the event.
    fn switch(&mut self, regs: &mut Regs) -> Result<Event>;

    /// Map `len` bytes at `addr` to the memory file at `offset`, shared, with
    /// `prot`, replacing whatever was mapped there. Page-aligned arguments.
    fn map(&mut self, addr: u64, len: u64, prot: Prot, offset: u64) -> Result<()>;

    /// Remove any mapping in `[addr, addr+len)`.
    fn unmap(&mut self, addr: u64, len: u64) -> Result<()>;

    /// Change the protection of mapped pages in `[addr, addr+len)`; unmapped
    /// pages in the range stay unmapped.
    fn protect(&mut self, addr: u64, len: u64, prot: Prot) -> Result<()>;

    /// Read the thread's floating-point state.
    fn get_fpstate(&mut self) -> Result<FpState>;

    /// Replace the thread's floating-point state.
    fn set_fpstate(&mut self, fp: &FpState) -> Result<()>;

    /// A handle other threads use to interrupt `switch`.
    fn interrupter(&self) -> Arc<dyn Interrupter>;
}
