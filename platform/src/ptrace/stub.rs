//! The stub: a page of position-independent code, mapped once at a fixed
//! high address in the Sentry, that every stub process runs from.
//!
//! A new stub process is a raw `clone` of the Sentry thread that jumps to
//! [`StubPage::entry`] with the memory file's fd in r12. The code then:
//!
//! 1. `ptrace(PTRACE_TRACEME)` (the forking thread becomes the tracer) and
//!    stops itself with SIGSTOP. The tracer sets its options and reads the
//!    inherited rseq registration (glibc registers one per thread) with
//!    PTRACE_GET_RSEQ_CONFIGURATION, and puts it in r13/r14/r15.
//! 2. Unregisters that rseq area (it is about to be unmapped: the kernel
//!    would otherwise SIGSEGV the stub on its next preemption), sets
//!    PR_SET_PDEATHSIG(SIGKILL), `setsid()` (no terminal signals), closes
//!    every fd but the memory file (`close_range`), unmaps everything below
//!    and above the stub page, and stops with SIGSTOP again.
//! 3. From then on only the `syscall; int3` trampoline at
//!    [`StubPage::syscall_addr`] is used, for syscalls injected by the
//!    tracer. Any failure during setup is `exit_group(1..)`.

use std::arch::global_asm;
use std::sync::OnceLock;

use tracing::debug;

use super::sys;
use crate::{PlatformError, Result};

/// One past the highest user address on x86-64 with 4-level paging
/// (TASK_SIZE_MAX: the last page below 2^47 is never mappable).
pub const USER_TOP: u64 = 0x7fff_ffff_f000;
/// The preferred stub address: the highest mappable page.
pub const STUB_PREFERRED_ADDR: u64 = USER_TOP - STUB_SIZE;
/// Size of the stub region.
pub const STUB_SIZE: u64 = 4096;

global_asm!(
    ".pushsection .text.runsc_ptrace_stub,\"ax\",@progbits",
    ".globl runsc_ptrace_stub_start",
    ".globl runsc_ptrace_stub_syscall",
    ".globl runsc_ptrace_stub_end",
    "runsc_ptrace_stub_start:",
    ".Lrunsc_stub_base:",
    // ptrace(PTRACE_TRACEME, 0, 0, 0)
    "mov eax, 101",
    "xor edi, edi",
    "xor esi, esi",
    "xor edx, edx",
    "xor r10d, r10d",
    "syscall",
    "mov r15d, 2",
    "test rax, rax",
    "jnz .Lrunsc_stub_die",
    // kill(getpid(), SIGSTOP): first stop, tracer fills r13/r14/r15.
    "mov eax, 39",
    "syscall",
    "mov edi, eax",
    "mov esi, 19",
    "mov eax, 62",
    "syscall",
    // rseq(r13, r14d, RSEQ_FLAG_UNREGISTER, r15d) if r13 != 0
    "test r13, r13",
    "jz 1f",
    "mov eax, 334",
    "mov rdi, r13",
    "mov esi, r14d",
    "mov edx, 1",
    "mov r10d, r15d",
    "syscall",
    "mov r15d, 3",
    "test rax, rax",
    "jnz .Lrunsc_stub_die",
    "1:",
    // prctl(PR_SET_PDEATHSIG, SIGKILL)
    "mov eax, 157",
    "mov edi, 1",
    "mov esi, 9",
    "syscall",
    // setsid()
    "mov eax, 112",
    "syscall",
    // close_range(0, fd-1, 0) if fd > 0
    "test r12d, r12d",
    "jz 2f",
    "mov eax, 436",
    "xor edi, edi",
    "lea esi, [r12 - 1]",
    "xor edx, edx",
    "syscall",
    "2:",
    // close_range(fd+1, ~0U, 0)
    "mov eax, 436",
    "lea edi, [r12 + 1]",
    "mov esi, -1",
    "xor edx, edx",
    "syscall",
    "mov r15d, 4",
    "test rax, rax",
    "jnz .Lrunsc_stub_die",
    // munmap(0, stub_start)
    "mov eax, 11",
    "xor edi, edi",
    "lea rsi, [rip + .Lrunsc_stub_base]",
    "syscall",
    "mov r15d, 5",
    "test rax, rax",
    "jnz .Lrunsc_stub_die",
    // munmap(stub_start + 4096, USER_TOP - (stub_start + 4096)) if non-empty
    "lea rdi, [rip + .Lrunsc_stub_base]",
    "add rdi, 4096",
    "mov rsi, 0x7ffffffff000",
    "sub rsi, rdi",
    "jbe 3f",
    "mov eax, 11",
    "syscall",
    "mov r15d, 6",
    "test rax, rax",
    "jnz .Lrunsc_stub_die",
    "3:",
    // kill(getpid(), SIGSTOP): second stop, ready.
    "mov eax, 39",
    "syscall",
    "mov edi, eax",
    "mov esi, 19",
    "mov eax, 62",
    "syscall",
    "runsc_ptrace_stub_syscall:",
    ".Lrunsc_stub_tramp:",
    "syscall",
    "int3",
    "jmp .Lrunsc_stub_tramp",
    ".Lrunsc_stub_die:",
    "mov eax, 231",
    "mov edi, r15d",
    "syscall",
    "ud2",
    "runsc_ptrace_stub_end:",
    ".popsection",
);

extern "C" {
    static runsc_ptrace_stub_start: u8;
    static runsc_ptrace_stub_syscall: u8;
    static runsc_ptrace_stub_end: u8;
}

/// Offsets of the stub code's labels and its bytes as linked into this
/// binary.
fn stub_code() -> (&'static [u8], u64) {
    let start = &raw const runsc_ptrace_stub_start as usize;
    let sys = &raw const runsc_ptrace_stub_syscall as usize;
    let end = &raw const runsc_ptrace_stub_end as usize;
    assert!(start < sys && sys < end && end - start <= STUB_SIZE as usize);
    // SAFETY: [start, end) is the stub's code in our own text section,
    // readable for the life of the program.
    let code = unsafe { std::slice::from_raw_parts(start as *const u8, end - start) };
    (code, (sys - start) as u64)
}

/// The stub page as mapped in this process (once).
#[derive(Debug, Clone, Copy)]
pub struct StubPage {
    /// Start of the stub page; also the entry point.
    pub addr: u64,
    /// Address of the `syscall; int3` trampoline.
    pub syscall_addr: u64,
}

impl StubPage {
    pub fn entry(&self) -> u64 {
        self.addr
    }

    /// The stub page of this process, mapped on first use.
    pub fn get() -> Result<StubPage> {
        static PAGE: OnceLock<std::result::Result<StubPage, String>> = OnceLock::new();
        PAGE.get_or_init(|| Self::install().map_err(|e| e.to_string())).clone().map_err(PlatformError::Stub)
    }

    fn install() -> Result<StubPage> {
        let addr = Self::place()?;
        let (code, sys_off) = stub_code();
        // SAFETY: `addr` is the fresh private RW page `place` mapped for us;
        // the code is shorter than the page (asserted in `stub_code`).
        unsafe { sys::install_code(addr, STUB_SIZE as usize, code) }
            .map_err(|e| PlatformError::Host("mprotect(stub)", e))?;
        let page = StubPage { addr, syscall_addr: addr + sys_off };
        debug!(?page, "ptrace stub page installed");
        Ok(page)
    }

    /// Map the stub page: at [`STUB_PREFERRED_ADDR`] if free, else in the
    /// highest gap of our address space that leaves 2 MiB on both sides
    /// (room for a stack above it to grow down into).
    fn place() -> Result<u64> {
        if sys::map_page_at(STUB_PREFERRED_ADDR, STUB_SIZE as usize)
            .map_err(|e| PlatformError::Host("mmap(stub)", e))?
        {
            return Ok(STUB_PREFERRED_ADDR);
        }
        let maps =
            std::fs::read_to_string("/proc/self/maps").map_err(|e| PlatformError::Host("read /proc/self/maps", e))?;
        let ranges: Vec<(u64, u64)> = maps
            .lines()
            .filter_map(|l| {
                let r = l.split_whitespace().next()?;
                let (a, b) = r.split_once('-')?;
                Some((u64::from_str_radix(a, 16).ok()?, u64::from_str_radix(b, 16).ok()?))
            })
            .collect();
        for cand in gap_candidates(ranges) {
            if sys::map_page_at(cand, STUB_SIZE as usize).map_err(|e| PlatformError::Host("mmap(stub)", e))? {
                return Ok(cand);
            }
        }
        Err(PlatformError::Stub("no free place for the stub page".into()))
    }
}

/// Places for the stub page in the gaps between `ranges` (a process's
/// mappings), highest first, each 2 MiB away from the mappings around it.
fn gap_candidates(mut ranges: Vec<(u64, u64)>) -> Vec<u64> {
    const MARGIN: u64 = 2 << 20;
    ranges.retain(|&(a, _)| a < USER_TOP);
    ranges.sort();
    let mut out = Vec::new();
    let mut hi = USER_TOP;
    for &(start, end) in ranges.iter().rev() {
        let end = end.min(USER_TOP);
        if hi >= end + 2 * MARGIN + STUB_SIZE {
            out.push(hi - MARGIN - STUB_SIZE);
        }
        hi = hi.min(start);
    }
    if hi >= 2 * MARGIN + STUB_SIZE {
        out.push(hi - MARGIN - STUB_SIZE);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn gap_candidates_keep_clear_of_mappings() {
        let stack = (0x7fff_ff00_0000, 0x7fff_ffff_e000 + STUB_SIZE); // covers the preferred page
        let vdso = (0x7fff_fe00_0000, 0x7fff_fe00_2000);
        let c = gap_candidates(vec![vdso, stack, (0x5555_0000_0000, 0x5555_0001_0000)]);
        assert_eq!(c[0], stack.0 - (2 << 20) - STUB_SIZE);
        assert!(c[0] >= vdso.1 + (2 << 20));
        assert_eq!(c[1], vdso.0 - (2 << 20) - STUB_SIZE);
        assert!(c.windows(2).all(|w| w[0] > w[1]));
        // Two mappings too close together leave no room between them.
        let c = gap_candidates(vec![(0x7fff_fff0_0000, USER_TOP), (0x7fff_ffe0_0000, 0x7fff_ffef_0000)]);
        assert_eq!(c[0], 0x7fff_ffe0_0000 - (2 << 20) - STUB_SIZE);
    }

    use super::*;

    #[test]
    fn stub_code_layout() {
        let (code, off) = stub_code();
        assert!(code.len() < STUB_SIZE as usize);
        // The trampoline is `syscall; int3`.
        assert_eq!(&code[off as usize..off as usize + 3], &[0x0f, 0x05, 0xcc]);
        let p = StubPage::get().unwrap();
        assert_eq!(p.syscall_addr - p.addr, off);
        assert!(p.addr + STUB_SIZE <= USER_TOP);
    }
}
