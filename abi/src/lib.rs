//! The Linux x86-64 ABI as the Sentry, the Gofer and the platforms share it.
//!
//! Values here are what a *workload* sees: errno numbers, `struct stat`,
//! flags. They equal the host's on x86-64, which is the only target, so the
//! constants are re-exported from `libc` rather than written out again.

pub mod errno;
pub mod stat;

pub use errno::{Errno, SysResult};
pub use stat::Stat;

/// Size of a page on x86-64.
pub const PAGE_SIZE: u64 = 4096;

/// Round `x` down to a page boundary.
pub const fn page_down(x: u64) -> u64 {
    x & !(PAGE_SIZE - 1)
}

/// Round `x` up to a page boundary; `None` on overflow.
pub const fn page_up(x: u64) -> Option<u64> {
    match x.checked_add(PAGE_SIZE - 1) {
        Some(v) => Some(v & !(PAGE_SIZE - 1)),
        None => None,
    }
}

/// Name of a syscall number, for logs and `--strace` (`None` if unknown).
pub fn syscall_name(nr: u64) -> Option<&'static str> {
    let nr = u32::try_from(nr).ok()?;
    syscalls::Sysno::new(nr as usize).map(|s| s.name())
}
