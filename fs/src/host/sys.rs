//! The few host calls nix does not wrap for us (ioctls on raw buffers,
//! getrandom). Every unsafe block is here.

use std::os::fd::{AsRawFd, BorrowedFd};

use abi::{Errno, SysResult};

/// ioctl(fd, cmd, buf) where the kernel reads/writes `buf` in place.
pub fn ioctl_buf(fd: BorrowedFd<'_>, cmd: u64, buf: &mut [u8]) -> SysResult<i32> {
    // SAFETY: `buf` is a valid, writable buffer for its whole length; the
    // callers only pass commands whose argument size is at most
    // `buf.len()` (termios 36 bytes, winsize 8, int 4).
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), cmd as _, buf.as_mut_ptr()) };
    if r < 0 {
        Err(Errno::last())
    } else {
        Ok(r)
    }
}

/// Fill `buf` from the host's getrandom(2).
pub fn getrandom(buf: &mut [u8]) -> SysResult<usize> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes.
    let r = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), 0) };
    if r < 0 {
        Err(Errno::last())
    } else {
        Ok(r as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_and_notty() {
        let mut b = [0u8; 64];
        assert_eq!(getrandom(&mut b), Ok(64));
        assert!(b.iter().any(|&x| x != 0));
        let (r, _w) = nix::unistd::pipe().unwrap();
        use std::os::fd::AsFd;
        let mut t = [0u8; 36];
        assert_eq!(ioctl_buf(r.as_fd(), libc::TCGETS, &mut t), Err(Errno::ENOTTY));
    }
}
