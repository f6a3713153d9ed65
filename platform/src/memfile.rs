//! The memory file: one memfd holding every page of workload memory.
//!
//! The Sentry maps the whole file into its own address space once, so
//! copying in and out of the workload is a memcpy at `base + offset`; the
//! platforms map ranges of the same file into the workload.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use crate::{PlatformError, Result};

/// A sparse memfd of fixed maximal size, mapped shared into the Sentry.
pub struct MemoryFile {
    fd: OwnedFd,
    base: *mut u8,
    size: u64,
}

// SAFETY: `base` points to a MAP_SHARED mapping that lives as long as the
// MemoryFile; the file's bytes are workload memory that any thread may copy
// to or from (the workload itself races on it as it likes).
unsafe impl Send for MemoryFile {}
// SAFETY: as above; no interior state besides the mapping.
unsafe impl Sync for MemoryFile {}

impl MemoryFile {
    /// A new memory file of `size` bytes (sparse: nothing is allocated until
    /// touched).
    pub fn new(size: u64) -> Result<MemoryFile> {
        let name = c"runsc-rs-memory";
        // SAFETY: memfd_create with a valid NUL-terminated name; no memory
        // is passed besides it.
        let raw = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
        if raw < 0 {
            return Err(PlatformError::Host("memfd_create", std::io::Error::last_os_error()));
        }
        // SAFETY: `raw` is a fresh fd that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: ftruncate on an fd we own.
        if unsafe { libc::ftruncate(fd.as_raw_fd(), size as libc::off_t) } < 0 {
            return Err(PlatformError::Host("ftruncate", std::io::Error::last_os_error()));
        }
        // SAFETY: a fresh shared mapping of the whole file at an address the
        // kernel chooses; it aliases nothing in our address space.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                size as usize,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_NORESERVE,
                fd.as_raw_fd(),
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(PlatformError::Host("mmap", std::io::Error::last_os_error()));
        }
        Ok(MemoryFile { fd, base: base.cast(), size })
    }

    /// The memfd, for platforms that map it into the workload.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Base of the Sentry's mapping of the whole file (for platforms that
    /// hand it to the host kernel, e.g. as KVM guest memory).
    pub fn as_ptr(&self) -> *mut u8 {
        self.base
    }

    /// Size of the file in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    fn check(&self, offset: u64, len: usize) {
        assert!(
            offset.checked_add(len as u64).is_some_and(|e| e <= self.size),
            "memory file access {offset:#x}+{len:#x} out of range (a Sentry bug, not workload input)"
        );
    }

    /// Copy bytes out of the file at `offset`.
    pub fn read(&self, offset: u64, buf: &mut [u8]) {
        self.check(offset, buf.len());
        // SAFETY: the range is inside the mapping (checked); `buf` is a
        // distinct Rust buffer, so the ranges do not overlap.
        unsafe { std::ptr::copy_nonoverlapping(self.base.add(offset as usize), buf.as_mut_ptr(), buf.len()) }
    }

    /// Copy bytes into the file at `offset`.
    pub fn write(&self, offset: u64, buf: &[u8]) {
        self.check(offset, buf.len());
        // SAFETY: as in `read`, with the direction reversed.
        unsafe { std::ptr::copy_nonoverlapping(buf.as_ptr(), self.base.add(offset as usize), buf.len()) }
    }

    /// Copy `len` bytes within the file (page copy for copy-on-write).
    pub fn copy(&self, from: u64, to: u64, len: usize) {
        self.check(from, len);
        self.check(to, len);
        // SAFETY: both ranges are inside the mapping; `copy` allows overlap.
        unsafe { std::ptr::copy(self.base.add(from as usize), self.base.add(to as usize), len) }
    }

    /// Release the pages of `[offset, offset+len)` back to the host; they
    /// read as zeros afterwards.
    pub fn decommit(&self, offset: u64, len: u64) {
        self.check(offset, len as usize);
        // SAFETY: fallocate on our own fd; punching a hole only zeroes file
        // contents and cannot affect Rust-visible memory invariants.
        unsafe {
            libc::fallocate(
                self.fd.as_raw_fd(),
                libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                offset as libc::off_t,
                len as libc::off_t,
            );
        }
    }
}

impl Drop for MemoryFile {
    fn drop(&mut self) {
        // SAFETY: unmapping the mapping created in `new`, exactly once.
        unsafe { libc::munmap(self.base.cast(), self.size as usize) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_write_decommit() {
        let m = MemoryFile::new(1 << 30).unwrap();
        m.write(8192, b"hello");
        let mut b = [0u8; 5];
        m.read(8192, &mut b);
        assert_eq!(&b, b"hello");
        m.copy(8192, 4096, 5);
        m.read(4096, &mut b);
        assert_eq!(&b, b"hello");
        m.decommit(8192, 4096);
        m.read(8192, &mut b);
        assert_eq!(b, [0; 5]);
    }
}
