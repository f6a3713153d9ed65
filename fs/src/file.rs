//! Open file descriptions: `File` (shared by dup'ed fds) and `FileOps`.

use std::any::Any;
use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};

use abi::{Errno, Stat, SysResult};

use crate::dirent;
use crate::mount::Location;
use crate::types::DirEntry;
use crate::waiter::{events, Waker};

/// Access to the workload's memory, implemented by the Sentry (ioctl
/// arguments are pointers).
pub trait UserMemory {
    fn read(&self, addr: u64, buf: &mut [u8]) -> SysResult<()>;
    fn write(&self, addr: u64, buf: &[u8]) -> SysResult<()>;
}

/// The operations of an open file. Implementations never block: they
/// return EAGAIN and the Sentry waits on `event_register`ed queues or on
/// `host_fd`.
pub trait FileOps: Send + Sync + Any {
    /// Read at `off` (ignored by streams). Ok(0) is EOF.
    fn read(&self, _buf: &mut [u8], _off: u64) -> SysResult<usize> {
        Err(Errno::EINVAL)
    }

    /// Write at `off` (or at the end when `append`); returns the bytes
    /// written and the offset just past them.
    fn write(&self, _buf: &[u8], _off: u64, _append: bool) -> SysResult<(usize, u64)> {
        Err(Errno::EINVAL)
    }

    /// Streams (pipes, ttys, sockets) have no offset: lseek/pread give
    /// ESPIPE.
    fn is_stream(&self) -> bool {
        false
    }

    /// New offset for `lseek`, given the current one. The default handles
    /// SEEK_SET/CUR/END/DATA/HOLE with the whole file as data.
    fn seek(&self, cur: i64, off: i64, whence: i32) -> SysResult<i64> {
        let size = self.stat()?.size;
        generic_seek(cur, off, whence, size)
    }

    fn stat(&self) -> SysResult<Stat>;

    /// Directory entries without "." and ".." (ENOTDIR for non-dirs).
    fn readdir(&self) -> SysResult<Vec<DirEntry>> {
        Err(Errno::ENOTDIR)
    }

    fn ioctl(&self, _cmd: u32, _arg: u64, _mem: &dyn UserMemory) -> SysResult<u64> {
        Err(Errno::ENOTTY)
    }

    fn fsync(&self) -> SysResult<()> {
        Ok(())
    }

    /// ftruncate (the VFS checked the file is writable and regular).
    fn truncate(&self, _size: u64) -> SysResult<()> {
        Err(Errno::EINVAL)
    }

    /// The subset of `mask` (POLL* bits) ready now; POLLERR/POLLHUP are
    /// reported whatever the mask.
    fn readiness(&self, mask: u32) -> u32 {
        mask & (events::READABLE | events::WRITABLE)
    }

    /// Wake `w` when any of `mask` may have become ready.
    fn event_register(&self, _w: &Arc<dyn Waker>, _mask: u32) {}

    fn event_unregister(&self, _w: &Arc<dyn Waker>) {}

    /// The host fd behind the file, for files whose readiness the Sentry
    /// must poll on the host (a tty or pipe given as stdio).
    fn host_fd(&self) -> Option<BorrowedFd<'_>> {
        None
    }

    /// The /proc/self/fd link text of a file without a path
    /// ("pipe:[123]", "anon_inode:[eventfd]").
    fn proc_name(&self) -> Option<String> {
        None
    }

    /// For fifos: false while `open` must still wait for the other side
    /// (see `File::open_ready`).
    fn open_ready(&self) -> bool {
        true
    }

    /// For a donated host file that shares its offset with the host's file
    /// description (stdio redirected to a file): read/write at the host's
    /// current offset. `None` means the File keeps the offset itself.
    fn read_at_host_offset(&self, _buf: &mut [u8]) -> Option<SysResult<usize>> {
        None
    }

    /// As `read_at_host_offset`, for write(2) (O_APPEND is the host's).
    fn write_at_host_offset(&self, _buf: &[u8]) -> Option<SysResult<usize>> {
        None
    }

    /// As `read_at_host_offset`, for lseek(2).
    fn seek_host_offset(&self, _off: i64, _whence: i32) -> Option<SysResult<i64>> {
        None
    }

    fn as_any(&self) -> &dyn Any;
}

/// lseek arithmetic for a file of `size` bytes.
pub fn generic_seek(cur: i64, off: i64, whence: i32, size: i64) -> SysResult<i64> {
    let new = match whence {
        libc::SEEK_SET => Some(off),
        libc::SEEK_CUR => cur.checked_add(off),
        libc::SEEK_END => size.checked_add(off),
        libc::SEEK_DATA => {
            if off < 0 || off >= size {
                return Err(Errno::ENXIO);
            }
            Some(off)
        }
        libc::SEEK_HOLE => {
            if off < 0 || off >= size {
                return Err(Errno::ENXIO);
            }
            Some(size)
        }
        _ => return Err(Errno::EINVAL),
    };
    match new {
        Some(n) if n >= 0 => Ok(n),
        Some(_) => Err(Errno::EINVAL),
        None => Err(Errno::EOVERFLOW),
    }
}

/// Status flags `fcntl(F_SETFL)` may change.
pub const SETTABLE_FLAGS: i32 = libc::O_APPEND | libc::O_NONBLOCK | libc::O_ASYNC | libc::O_DIRECT | libc::O_NOATIME;

/// An open file description.
pub struct File {
    flags: AtomicI32,
    offset: Mutex<i64>,
    location: Option<Location>,
    ops: Arc<dyn FileOps>,
    /// getdents snapshot: entries (with "." and "..") taken at offset 0.
    dir: Mutex<Option<Vec<DirEntry>>>,
}

impl File {
    /// A new description; `flags` are the open flags minus creation flags.
    pub fn new(ops: Arc<dyn FileOps>, flags: i32, location: Option<Location>) -> Arc<File> {
        let keep = libc::O_ACCMODE | SETTABLE_FLAGS | libc::O_PATH | libc::O_DSYNC | libc::O_SYNC | libc::O_DIRECTORY | libc::O_LARGEFILE;
        Arc::new(File {
            flags: AtomicI32::new(flags & keep),
            offset: Mutex::new(0),
            location,
            ops,
            dir: Mutex::new(None),
        })
    }

    /// For F_GETFL: access mode and status flags (O_LARGEFILE always set
    /// as on x86-64 Linux).
    pub fn flags(&self) -> i32 {
        self.flags.load(Ordering::Relaxed) & !libc::O_DIRECTORY | libc::O_LARGEFILE
    }

    /// F_SETFL: only `SETTABLE_FLAGS` change.
    pub fn set_flags(&self, new: i32) {
        let _ = self.flags.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| Some((old & !SETTABLE_FLAGS) | (new & SETTABLE_FLAGS)));
    }

    pub fn is_nonblocking(&self) -> bool {
        self.flags.load(Ordering::Relaxed) & libc::O_NONBLOCK != 0
    }

    /// Opened with O_PATH: only fstat, fchdir, *at() and close work.
    pub fn is_path(&self) -> bool {
        self.flags.load(Ordering::Relaxed) & libc::O_PATH != 0
    }

    pub fn readable(&self) -> bool {
        let f = self.flags.load(Ordering::Relaxed);
        f & libc::O_PATH == 0 && matches!(f & libc::O_ACCMODE, libc::O_RDONLY | libc::O_RDWR)
    }

    pub fn writable(&self) -> bool {
        let f = self.flags.load(Ordering::Relaxed);
        f & libc::O_PATH == 0 && matches!(f & libc::O_ACCMODE, libc::O_WRONLY | libc::O_RDWR)
    }

    /// Where the file was opened (None for pipes, sockets, anon inodes).
    pub fn location(&self) -> Option<&Location> {
        self.location.as_ref()
    }

    pub fn ops(&self) -> &Arc<dyn FileOps> {
        &self.ops
    }

    fn offset(&self) -> std::sync::MutexGuard<'_, i64> {
        self.offset.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// read(2).
    pub fn read(&self, buf: &mut [u8]) -> SysResult<usize> {
        if !self.readable() {
            return Err(Errno::EBADF);
        }
        if self.ops.is_stream() {
            return self.ops.read(buf, 0);
        }
        if let Some(r) = self.ops.read_at_host_offset(buf) {
            return r;
        }
        let mut off = self.offset();
        let n = self.ops.read(buf, *off as u64)?;
        *off += n as i64;
        Ok(n)
    }

    /// pread64(2).
    pub fn pread(&self, buf: &mut [u8], off: i64) -> SysResult<usize> {
        if !self.readable() {
            return Err(Errno::EBADF);
        }
        if self.ops.is_stream() {
            return Err(Errno::ESPIPE);
        }
        if off < 0 {
            return Err(Errno::EINVAL);
        }
        self.ops.read(buf, off as u64)
    }

    fn append(&self) -> bool {
        self.flags.load(Ordering::Relaxed) & libc::O_APPEND != 0
    }

    /// write(2). EPIPE means the Sentry should also send SIGPIPE.
    pub fn write(&self, buf: &[u8]) -> SysResult<usize> {
        if !self.writable() {
            return Err(Errno::EBADF);
        }
        if self.ops.is_stream() {
            return self.ops.write(buf, 0, false).map(|r| r.0);
        }
        if let Some(r) = self.ops.write_at_host_offset(buf) {
            return r;
        }
        let mut off = self.offset();
        let (n, end) = self.ops.write(buf, *off as u64, self.append())?;
        *off = i64::try_from(end).map_err(|_| Errno::EFBIG)?;
        Ok(n)
    }

    /// pwrite64(2) (with O_APPEND the data goes to the end, as on Linux).
    pub fn pwrite(&self, buf: &[u8], off: i64) -> SysResult<usize> {
        if !self.writable() {
            return Err(Errno::EBADF);
        }
        if self.ops.is_stream() {
            return Err(Errno::ESPIPE);
        }
        if off < 0 {
            return Err(Errno::EINVAL);
        }
        self.ops.write(buf, off as u64, self.append()).map(|r| r.0)
    }

    /// lseek(2).
    pub fn seek(&self, off: i64, whence: i32) -> SysResult<i64> {
        if self.is_path() {
            return Err(Errno::EBADF);
        }
        if self.ops.is_stream() {
            return Err(Errno::ESPIPE);
        }
        if let Some(r) = self.ops.seek_host_offset(off, whence) {
            return r;
        }
        let mut cur = self.offset();
        let new = self.ops.seek(*cur, off, whence)?;
        if new == 0 || new != *cur {
            // A directory rewinds (or moves): take a fresh snapshot.
            *self.dir.lock().unwrap_or_else(|e| e.into_inner()) = None;
        }
        *cur = new;
        Ok(new)
    }

    pub fn stat(&self) -> SysResult<Stat> {
        self.ops.stat()
    }

    /// ftruncate(2).
    pub fn truncate(&self, size: i64) -> SysResult<()> {
        if size < 0 {
            return Err(Errno::EINVAL);
        }
        if !self.writable() {
            return Err(Errno::EINVAL);
        }
        let st = self.ops.stat()?;
        if crate::types::is_dir(&st) {
            return Err(Errno::EISDIR);
        }
        if !crate::types::is_reg(&st) {
            return Err(Errno::EINVAL);
        }
        if self.append() {
            return Err(Errno::EPERM);
        }
        self.ops.truncate(size as u64)
    }

    /// ioctl(2); FIONBIO and FIOASYNC act on the description itself
    /// (FIOCLEX/FIONCLEX belong to the fd table: the Sentry's).
    pub fn ioctl(&self, cmd: u32, arg: u64, mem: &dyn UserMemory) -> SysResult<u64> {
        if self.is_path() {
            return Err(Errno::EBADF);
        }
        match cmd as u64 {
            libc::FIONBIO | libc::FIOASYNC => {
                let mut v = [0u8; 4];
                mem.read(arg, &mut v)?;
                let bit = if cmd as u64 == libc::FIONBIO { libc::O_NONBLOCK } else { libc::O_ASYNC };
                let on = i32::from_ne_bytes(v) != 0;
                let _ = self.flags.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |f| Some(if on { f | bit } else { f & !bit }));
                // Host-backed files see FIONBIO too (no harm for others).
                if cmd as u64 == libc::FIONBIO {
                    let _ = self.ops.ioctl(cmd, arg, mem);
                }
                Ok(0)
            }
            _ => self.ops.ioctl(cmd, arg, mem),
        }
    }

    /// poll readiness; O_PATH files report POLLNVAL-free nothing.
    pub fn readiness(&self, mask: u32) -> u32 {
        if self.is_path() {
            return events::POLLNVAL;
        }
        self.ops.readiness(mask)
    }

    /// For a fifo just opened without O_NONBLOCK: whether `open` may
    /// return yet. The Sentry loops: `event_register` on the file,
    /// recheck, block interruptibly (EINTR / ERESTARTSYS on a signal,
    /// dropping the File).
    pub fn open_ready(&self) -> bool {
        self.ops.open_ready()
    }

    /// getdents64(2): at most `buf_len` bytes of `linux_dirent64` records.
    /// d_off is a cookie: the offset after the entry; lseek to a cookie
    /// (or 0) resumes (or rewinds) there.
    pub fn getdents64(&self, buf_len: usize) -> SysResult<Vec<u8>> {
        if self.is_path() {
            return Err(Errno::EBADF);
        }
        // A directory removed while open lists nothing, not even "." (Linux).
        if self.location.as_ref().is_some_and(|l| l.dentry.is_deleted()) {
            return Err(Errno::ENOENT);
        }
        let mut off = self.offset();
        let mut snap = self.dir.lock().unwrap_or_else(|e| e.into_inner());
        if snap.is_none() || *off == 0 {
            let mut all = self.dot_entries()?;
            all.extend(self.ops.readdir()?);
            *snap = Some(all);
        }
        let entries = snap.as_deref().unwrap_or(&[]);
        let start = usize::try_from(*off).map_err(|_| Errno::EINVAL)?;
        let (out, next) = dirent::encode(entries, start, buf_len)?;
        *off = next as i64;
        Ok(out)
    }

    fn dot_entries(&self) -> SysResult<Vec<DirEntry>> {
        let st = self.ops.stat()?;
        if !crate::types::is_dir(&st) {
            return Err(Errno::ENOTDIR);
        }
        let parent_ino = match &self.location {
            Some(l) => {
                let up = l.escape_mounts();
                match up.dentry.parent() {
                    Some(p) => p.inode().stat().map(|s| s.ino).unwrap_or(st.ino),
                    None => up.inode().stat().map(|s| s.ino).unwrap_or(st.ino),
                }
            }
            None => st.ino,
        };
        Ok(vec![
            DirEntry { ino: st.ino, kind: libc::DT_DIR, name: b".".to_vec() },
            DirEntry { ino: parent_ino, kind: libc::DT_DIR, name: b"..".to_vec() },
        ])
    }
}

impl std::fmt::Debug for File {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "File(flags {:#o}, {:?})", self.flags(), self.location)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seek_arith() {
        assert_eq!(generic_seek(5, 3, libc::SEEK_CUR, 100), Ok(8));
        assert_eq!(generic_seek(5, -10, libc::SEEK_CUR, 100), Err(Errno::EINVAL));
        assert_eq!(generic_seek(0, -1, libc::SEEK_END, 100), Ok(99));
        assert_eq!(generic_seek(0, 100, libc::SEEK_DATA, 100), Err(Errno::ENXIO));
        assert_eq!(generic_seek(0, 10, libc::SEEK_HOLE, 100), Ok(100));
        assert_eq!(generic_seek(i64::MAX, 1, libc::SEEK_CUR, 0), Err(Errno::EOVERFLOW));
        assert_eq!(generic_seek(0, 0, 99, 0), Err(Errno::EINVAL));
    }
}
