//! The KVM platform's unsafe code: the private host mapping, memory-slot
//! registration, the kick signal and the cross-thread `immediate_exit`
//! store. Every wrapper checks its arguments or documents what the caller
//! guarantees.

use std::io;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Once;

use kvm_bindings::kvm_userspace_memory_region;
use kvm_ioctls::VmFd;

use crate::Regs;

/// All-zero user registers.
pub fn zero_regs() -> Regs {
    // SAFETY: user_regs_struct is plain integers; all-zero is valid.
    unsafe { std::mem::zeroed() }
}

/// An anonymous, private, MAP_NORESERVE host mapping: the platform's
/// private guest-physical memory (page tables, GDT/TSS, IDT, stub, stacks).
pub struct Region {
    base: *mut u8,
    size: u64,
}

// SAFETY: the mapping lives as long as the Region; accesses are raw-pointer
// reads and writes of memory no Rust reference covers. Callers partition
// the pages (each context owns its tables and vCPU pages; the shared pages
// are written once, before any vCPU runs).
unsafe impl Send for Region {}
// SAFETY: as above.
unsafe impl Sync for Region {}

impl Region {
    pub fn new(size: u64) -> io::Result<Region> {
        // SAFETY: a fresh anonymous mapping at an address the kernel picks;
        // it aliases nothing.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                size as usize,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Region { base: p.cast(), size })
    }

    pub fn host_addr(&self) -> u64 {
        self.base as u64
    }

    fn at(&self, off: u64, len: u64) -> *mut u8 {
        assert!(off.checked_add(len).is_some_and(|e| e <= self.size), "private region access {off:#x}+{len:#x}");
        // SAFETY: in bounds (checked above).
        unsafe { self.base.add(off as usize) }
    }

    pub fn read_u64(&self, off: u64) -> u64 {
        assert!(off.is_multiple_of(8));
        // SAFETY: in bounds and aligned; plain memory.
        unsafe { self.at(off, 8).cast::<u64>().read_volatile() }
    }

    pub fn write_u64(&self, off: u64, v: u64) {
        assert!(off.is_multiple_of(8));
        // SAFETY: in bounds and aligned; plain memory the caller owns.
        unsafe { self.at(off, 8).cast::<u64>().write_volatile(v) }
    }

    pub fn write_bytes(&self, off: u64, b: &[u8]) {
        // SAFETY: in bounds; `b` is a distinct Rust buffer.
        unsafe { std::ptr::copy_nonoverlapping(b.as_ptr(), self.at(off, b.len() as u64), b.len()) }
    }

    pub fn zero(&self, off: u64, len: u64) {
        // SAFETY: in bounds; plain memory the caller owns.
        unsafe { std::ptr::write_bytes(self.at(off, len), 0, len as usize) }
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: unmapping our own mapping exactly once.
        unsafe { libc::munmap(self.base.cast(), self.size as usize) };
    }
}

/// Register `[host, host+size)` as guest-physical `[gpa, gpa+size)`.
///
/// # Safety
/// The host range must stay mapped for as long as the VM exists (the
/// guest reads and writes it at any time).
pub unsafe fn set_memory_region(vm: &VmFd, slot: u32, gpa: u64, size: u64, host: u64) -> io::Result<()> {
    let r = kvm_userspace_memory_region { slot, flags: 0, guest_phys_addr: gpa, memory_size: size, userspace_addr: host };
    // SAFETY: the caller guarantees the host range outlives the VM.
    unsafe { vm.set_user_memory_region(r) }.map_err(|e| io::Error::from_raw_os_error(e.errno()))
}

/// The signal that kicks a vCPU thread out of KVM_RUN.
pub fn kick_signal() -> i32 {
    libc::SIGRTMIN() + 7
}

extern "C" fn on_kick(_: libc::c_int) {}

/// Install the (empty) kick handler once per process, SA_RESTART so that
/// other blocking calls of the thread are restarted (KVM_RUN is not:
/// it returns EINTR), and unblock the signal on the calling thread.
pub fn prepare_kick() -> io::Result<()> {
    static INSTALL: Once = Once::new();
    let mut err = None;
    INSTALL.call_once(|| {
        // SAFETY: a zeroed sigaction with a valid handler and an empty mask.
        let r = unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_kick as *const () as usize;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(kick_signal(), &sa, std::ptr::null_mut())
        };
        if r < 0 {
            err = Some(io::Error::last_os_error());
        }
    });
    if let Some(e) = err {
        return Err(e);
    }
    // SAFETY: a local sigset, initialized before use.
    let r = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, kick_signal());
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut())
    };
    if r != 0 {
        return Err(io::Error::from_raw_os_error(r));
    }
    Ok(())
}

pub fn gettid() -> i32 {
    // SAFETY: gettid has no arguments and cannot fail.
    unsafe { libc::gettid() }
}

/// Send the kick signal to thread `tid` of this process.
pub fn kick(tid: i32) -> io::Result<()> {
    // SAFETY: tgkill with integer arguments; the caller makes sure `tid` is
    // still the vCPU's thread.
    let r = unsafe { libc::syscall(libc::SYS_tgkill, libc::getpid(), tid, kick_signal()) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The `immediate_exit` byte of a vCPU's `kvm_run` page, writable from any
/// thread.
#[derive(Clone, Copy)]
pub struct ImmediateExit(*mut u8);

// SAFETY: the byte is written atomically; the owner guarantees the kvm_run
// mapping outlives every use (see KickTarget in mod.rs).
unsafe impl Send for ImmediateExit {}
// SAFETY: as above.
unsafe impl Sync for ImmediateExit {}

impl ImmediateExit {
    pub fn new(p: *mut u8) -> ImmediateExit {
        ImmediateExit(p)
    }

    /// # Safety
    /// The kvm_run mapping must still exist.
    pub unsafe fn set(&self, v: u8) {
        // SAFETY: the caller guarantees the mapping; the byte is only ever
        // accessed atomically by us (KVM reads it at KVM_RUN entry).
        unsafe { AtomicU8::from_ptr(self.0) }.store(v, Ordering::SeqCst);
    }
}

/// KVM_SET_XSAVE with a 4 KiB buffer.
///
/// The caller guarantees XCR0 only enables components whose standard-format
/// state fits in the 4096-byte `kvm_xsave` region (x87, SSE, AVX, AVX-512:
/// at most 2688 bytes), so KVM reads nothing past the struct.
pub fn set_xsave(fd: &kvm_ioctls::VcpuFd, x: &kvm_bindings::kvm_xsave) -> io::Result<()> {
    // SAFETY: see above: the state KVM copies in is within `region`.
    unsafe { fd.set_xsave(x) }.map_err(|e| io::Error::from_raw_os_error(e.errno()))
}
