//! Files backed by a donated host fd: regular files from the gofer
//! (I/O straight to the fd) and the workload's stdio (host pipes or a
//! tty; reads never block the Sentry: EAGAIN plus `host_fd` to poll).

pub(crate) mod sys;
mod tty;

use std::any::Any;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::Arc;

use abi::{Errno, Stat, SysResult};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::file::{generic_seek, FileOps, UserMemory};
use crate::waiter::events;
pub use tty::TtyState;

fn nix_err(e: nix::errno::Errno) -> Errno {
    Errno(e as i32)
}

/// A FileOps over a host fd.
pub struct HostFile {
    fd: OwnedFd,
    stream: bool,
    tty: Option<TtyState>,
    /// read/write/lseek use the host description's offset (donated stdio).
    host_offset: bool,
}

impl HostFile {
    /// Wrap `fd`. Pipes, sockets, ttys and character devices are
    /// streams (no offset); a tty also gets the tty ioctls.
    pub fn new(fd: OwnedFd) -> SysResult<Arc<HostFile>> {
        let st = nix::sys::stat::fstat(fd.as_raw_fd()).map_err(nix_err)?;
        let kind = st.st_mode & libc::S_IFMT;
        let stream = matches!(kind, libc::S_IFIFO | libc::S_IFSOCK | libc::S_IFCHR);
        let is_tty = nix::unistd::isatty(fd.as_raw_fd()).unwrap_or(false);
        Ok(Arc::new(HostFile { fd, stream, tty: is_tty.then(TtyState::default), host_offset: false }))
    }

    /// Wrap a donated fd whose file description the host shares (the
    /// workload's stdio): a regular file is read and written at the host's
    /// offset, so output appends where the host left off and fds sharing
    /// the description (2>&1) do not overwrite each other.
    pub fn new_donated(fd: OwnedFd) -> SysResult<Arc<HostFile>> {
        let mut f = Arc::into_inner(HostFile::new(fd)?).ok_or(Errno::EIO)?;
        f.host_offset = !f.stream;
        Ok(Arc::new(f))
    }

    /// The tty state, for the Sentry's job control (None: not a tty).
    pub fn tty(&self) -> Option<&TtyState> {
        self.tty.as_ref()
    }

    fn ready_now(&self, ev: PollFlags) -> SysResult<PollFlags> {
        let mut fds = [PollFd::new(self.fd.as_fd(), ev)];
        match poll(&mut fds, PollTimeout::ZERO) {
            Ok(_) => Ok(fds[0].revents().unwrap_or(PollFlags::empty())),
            Err(nix::errno::Errno::EINTR) => Ok(PollFlags::empty()),
            Err(e) => Err(nix_err(e)),
        }
    }
}

impl FileOps for HostFile {
    fn read(&self, buf: &mut [u8], off: u64) -> SysResult<usize> {
        if self.stream {
            // Never block the Sentry thread: poll first.
            if self.ready_now(PollFlags::POLLIN)?.is_empty() {
                return Err(Errno::EAGAIN);
            }
            return nix::unistd::read(self.fd.as_raw_fd(), buf).map_err(nix_err);
        }
        let off = i64::try_from(off).map_err(|_| Errno::EINVAL)?;
        nix::sys::uio::pread(self.fd.as_fd(), buf, off).map_err(nix_err)
    }

    fn write(&self, buf: &[u8], off: u64, append: bool) -> SysResult<(usize, u64)> {
        if self.stream {
            if self.ready_now(PollFlags::POLLOUT)?.is_empty() {
                return Err(Errno::EAGAIN);
            }
            let n = nix::unistd::write(&self.fd, buf).map_err(nix_err)?;
            return Ok((n, 0));
        }
        let off = if append {
            nix::sys::stat::fstat(self.fd.as_raw_fd()).map_err(nix_err)?.st_size as u64
        } else {
            off
        };
        let o = i64::try_from(off).map_err(|_| Errno::EFBIG)?;
        let n = nix::sys::uio::pwrite(self.fd.as_fd(), buf, o).map_err(nix_err)?;
        Ok((n, off + n as u64))
    }

    fn is_stream(&self) -> bool {
        self.stream
    }

    fn read_at_host_offset(&self, buf: &mut [u8]) -> Option<SysResult<usize>> {
        self.host_offset.then(|| nix::unistd::read(self.fd.as_raw_fd(), buf).map_err(nix_err))
    }

    fn write_at_host_offset(&self, buf: &[u8]) -> Option<SysResult<usize>> {
        self.host_offset.then(|| nix::unistd::write(&self.fd, buf).map_err(nix_err))
    }

    fn seek_host_offset(&self, off: i64, whence: i32) -> Option<SysResult<i64>> {
        let w = match whence {
            libc::SEEK_SET => nix::unistd::Whence::SeekSet,
            libc::SEEK_CUR => nix::unistd::Whence::SeekCur,
            libc::SEEK_END => nix::unistd::Whence::SeekEnd,
            libc::SEEK_DATA => nix::unistd::Whence::SeekData,
            libc::SEEK_HOLE => nix::unistd::Whence::SeekHole,
            _ => return self.host_offset.then_some(Err(Errno::EINVAL)),
        };
        self.host_offset.then(|| nix::unistd::lseek(self.fd.as_raw_fd(), off, w).map_err(nix_err))
    }

    fn seek(&self, cur: i64, off: i64, whence: i32) -> SysResult<i64> {
        if self.stream {
            return Err(Errno::ESPIPE);
        }
        match whence {
            libc::SEEK_DATA | libc::SEEK_HOLE => {
                let w = if whence == libc::SEEK_DATA { nix::unistd::Whence::SeekData } else { nix::unistd::Whence::SeekHole };
                nix::unistd::lseek(self.fd.as_raw_fd(), off, w).map_err(nix_err)
            }
            _ => generic_seek(cur, off, whence, self.stat()?.size),
        }
    }

    fn stat(&self) -> SysResult<Stat> {
        let st = nix::sys::stat::fstat(self.fd.as_raw_fd()).map_err(nix_err)?;
        Ok(Stat::from_host(&st))
    }

    fn ioctl(&self, cmd: u32, arg: u64, mem: &dyn UserMemory) -> SysResult<u64> {
        if cmd as u64 == libc::FIONREAD {
            let mut v = [0u8; 4];
            sys::ioctl_buf(self.fd.as_fd(), libc::FIONREAD, &mut v)?;
            mem.write(arg, &v)?;
            return Ok(0);
        }
        if cmd as u64 == libc::FIONBIO {
            // The description's flag changed; the host fd stays as it is
            // (reads are already non-blocking by polling first).
            return Ok(0);
        }
        match &self.tty {
            Some(t) => t.ioctl(self.fd.as_fd(), cmd, arg, mem),
            None => Err(Errno::ENOTTY),
        }
    }

    fn fsync(&self) -> SysResult<()> {
        if self.stream {
            return Ok(());
        }
        nix::unistd::fsync(self.fd.as_raw_fd()).map_err(nix_err)
    }

    fn truncate(&self, size: u64) -> SysResult<()> {
        let s = i64::try_from(size).map_err(|_| Errno::EFBIG)?;
        nix::unistd::ftruncate(self.fd.as_fd(), s).map_err(nix_err)
    }

    fn readiness(&self, mask: u32) -> u32 {
        if !self.stream {
            return mask & (events::READABLE | events::WRITABLE);
        }
        let ev = PollFlags::from_bits_truncate((mask & 0xffff) as i16);
        match self.ready_now(ev) {
            Ok(r) => (r.bits() as u16 as u32) & (mask | events::POLLHUP | events::POLLERR),
            Err(_) => events::POLLERR,
        }
    }

    fn host_fd(&self) -> Option<BorrowedFd<'_>> {
        Some(self.fd.as_fd())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::file::File;

    struct NoMem;
    impl UserMemory for NoMem {
        fn read(&self, _a: u64, _b: &mut [u8]) -> SysResult<()> {
            Err(Errno::EFAULT)
        }
        fn write(&self, _a: u64, _b: &[u8]) -> SysResult<()> {
            Err(Errno::EFAULT)
        }
    }

    /// Donated stdio on a regular file shares the host's offset: two Files
    /// over dups of one description (1 and 2 after 2>&1) append in turn,
    /// after what the host wrote first.
    #[test]
    fn donated_file_shares_host_offset() {
        use std::io::{Read, Seek, Write};
        use std::os::fd::AsFd;
        let mut host = tempfile_in_tmp();
        host.write_all(b"host:").unwrap();
        let a = File::new(HostFile::new_donated(host.as_fd().try_clone_to_owned().unwrap()).unwrap(), libc::O_WRONLY, None);
        let b = File::new(HostFile::new_donated(host.as_fd().try_clone_to_owned().unwrap()).unwrap(), libc::O_WRONLY, None);
        a.write(b"one,").unwrap();
        b.write(b"two").unwrap();
        assert_eq!(a.seek(0, libc::SEEK_CUR), Ok(12));
        let mut s = String::new();
        host.rewind().unwrap();
        host.read_to_string(&mut s).unwrap();
        assert_eq!(s, "host:one,two");
    }

    fn tempfile_in_tmp() -> std::fs::File {
        let p = std::env::temp_dir().join(format!("fs-host-test-{}-{:?}", std::process::id(), std::thread::current().id()));
        let f = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&p).unwrap();
        let _ = std::fs::remove_file(&p);
        f
    }

    #[test]
    fn host_pipe_never_blocks() {
        let (r, w) = nix::unistd::pipe().unwrap();
        let rf = File::new(HostFile::new(r).unwrap(), libc::O_RDONLY, None);
        let wf = File::new(HostFile::new(w).unwrap(), libc::O_WRONLY, None);
        let mut b = [0u8; 8];
        assert_eq!(rf.read(&mut b), Err(Errno::EAGAIN));
        assert_eq!(rf.readiness(events::POLLIN), 0);
        assert!(rf.ops().host_fd().is_some());
        wf.write(b"abc").unwrap();
        assert_eq!(rf.readiness(events::POLLIN), events::POLLIN);
        assert_eq!(rf.read(&mut b), Ok(3));
        assert_eq!(rf.seek(0, libc::SEEK_SET), Err(Errno::ESPIPE));
        assert_eq!(rf.ioctl(libc::TCGETS as u32, 0, &NoMem), Err(Errno::ENOTTY));
        drop(wf);
        assert_eq!(rf.read(&mut b), Ok(0));
    }

    #[test]
    fn host_regular_file() {
        let dir = std::env::temp_dir().join(format!("fs-host-{}", std::process::id()));
        let f = std::fs::File::options().create(true).truncate(true).read(true).write(true).open(&dir).unwrap();
        std::fs::remove_file(&dir).unwrap();
        let file = File::new(HostFile::new(OwnedFd::from(f)).unwrap(), libc::O_RDWR | libc::O_APPEND, None);
        file.write(b"hello").unwrap();
        file.write(b"!").unwrap();
        let mut b = [0u8; 16];
        assert_eq!(file.pread(&mut b, 1), Ok(5));
        assert_eq!(&b[..5], b"ello!");
        assert_eq!(file.stat().unwrap().size, 6);
        assert_eq!(file.seek(0, libc::SEEK_END), Ok(6));
    }
}
