//! TTY ioctls on a host tty: termios and window size go to the host;
//! job control (foreground process group, controlling tty) is Sentry
//! state kept here, with pgids supplied by the Sentry.

use std::os::fd::BorrowedFd;
use std::sync::Mutex;

use abi::{Errno, SysResult};

use super::sys::ioctl_buf;
use crate::file::UserMemory;

/// Size of the kernel's `struct termios` (what TCGETS copies).
const TERMIOS_SIZE: usize = 36;
const WINSIZE_SIZE: usize = 8;

/// Job-control state of a tty.
#[derive(Default)]
pub struct TtyState {
    inner: Mutex<Jobs>,
}

#[derive(Default)]
struct Jobs {
    fg_pgrp: Option<i32>,
    session: Option<i32>,
}

impl TtyState {
    fn lock(&self) -> std::sync::MutexGuard<'_, Jobs> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The foreground process group (TIOCGPGRP).
    pub fn foreground(&self) -> Option<i32> {
        self.lock().fg_pgrp
    }

    /// Set by the Sentry after its own checks (TIOCSPGRP: the pgrp must
    /// be in the caller's session; it gives EPERM/ENOTTY itself).
    pub fn set_foreground(&self, pgid: i32) {
        self.lock().fg_pgrp = Some(pgid);
    }

    /// TIOCSCTTY: record the session (sid) and make its leader's group
    /// the foreground group.
    pub fn set_controlling(&self, sid: i32, pgid: i32) {
        let mut j = self.lock();
        j.session = Some(sid);
        j.fg_pgrp = Some(pgid);
    }

    /// TIOCNOTTY by the session leader.
    pub fn release(&self) {
        let mut j = self.lock();
        j.session = None;
        j.fg_pgrp = None;
    }

    /// The session this tty controls, if any.
    pub fn session(&self) -> Option<i32> {
        self.lock().session
    }

    /// The ioctls that only need the host fd and user memory. Job-control
    /// ioctls need the caller's process state: TIOCGPGRP is answered from
    /// the stored group; TIOCSPGRP/TIOCSCTTY/TIOCNOTTY return ENOSYS here
    /// so the Sentry handles them through the methods above.
    pub fn ioctl(&self, fd: BorrowedFd<'_>, cmd: u32, arg: u64, mem: &dyn UserMemory) -> SysResult<u64> {
        match cmd as u64 {
            libc::TCGETS => {
                let mut t = [0u8; 64];
                ioctl_buf(fd, libc::TCGETS, &mut t)?;
                mem.write(arg, &t[..TERMIOS_SIZE])?;
                Ok(0)
            }
            libc::TCSETS | libc::TCSETSW | libc::TCSETSF => {
                let mut t = [0u8; 64];
                mem.read(arg, &mut t[..TERMIOS_SIZE])?;
                // First read the host's full termios so the tail the
                // workload did not give (speeds) stays as it was.
                let mut cur = [0u8; 64];
                ioctl_buf(fd, libc::TCGETS, &mut cur)?;
                cur[..TERMIOS_SIZE].copy_from_slice(&t[..TERMIOS_SIZE]);
                ioctl_buf(fd, cmd as u64, &mut cur)?;
                Ok(0)
            }
            libc::TIOCGWINSZ => {
                let mut w = [0u8; WINSIZE_SIZE];
                ioctl_buf(fd, libc::TIOCGWINSZ, &mut w)?;
                mem.write(arg, &w)?;
                Ok(0)
            }
            libc::TIOCSWINSZ => {
                let mut w = [0u8; WINSIZE_SIZE];
                mem.read(arg, &mut w)?;
                ioctl_buf(fd, libc::TIOCSWINSZ, &mut w)?;
                Ok(0)
            }
            libc::TIOCGPGRP => {
                let pg = self.foreground().ok_or(Errno::ENOTTY)?;
                mem.write(arg, &pg.to_ne_bytes())?;
                Ok(0)
            }
            libc::TIOCGSID => {
                let s = self.session().ok_or(Errno::ENOTTY)?;
                mem.write(arg, &s.to_ne_bytes())?;
                Ok(0)
            }
            libc::TIOCSPGRP | libc::TIOCSCTTY | libc::TIOCNOTTY => Err(Errno::ENOSYS),
            _ => Err(Errno::ENOTTY),
        }
    }
}
