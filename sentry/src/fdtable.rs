//! File descriptor tables (shared between tasks with CLONE_FILES).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use abi::{Errno, SysResult};
use fs::file::File;

#[derive(Clone)]
struct Entry {
    file: Arc<File>,
    cloexec: bool,
}

/// A table of open file descriptors.
#[derive(Default)]
pub struct FdTable {
    fds: Mutex<BTreeMap<i32, Entry>>,
}

impl FdTable {
    pub fn new() -> Arc<FdTable> {
        Arc::new(FdTable::default())
    }

    pub fn get(&self, fd: i32) -> SysResult<Arc<File>> {
        self.fds.lock().unwrap().get(&fd).map(|e| e.file.clone()).ok_or(Errno::EBADF)
    }

    /// Like `get`, but O_PATH files are refused (EBADF) as for I/O syscalls.
    pub fn get_io(&self, fd: i32) -> SysResult<Arc<File>> {
        let f = self.get(fd)?;
        if f.is_path() {
            return Err(Errno::EBADF);
        }
        Ok(f)
    }

    pub fn cloexec(&self, fd: i32) -> SysResult<bool> {
        self.fds.lock().unwrap().get(&fd).map(|e| e.cloexec).ok_or(Errno::EBADF)
    }

    pub fn set_cloexec(&self, fd: i32, on: bool) -> SysResult<()> {
        self.fds.lock().unwrap().get_mut(&fd).map(|e| e.cloexec = on).ok_or(Errno::EBADF)
    }

    /// Install at the lowest free number >= `min`, below `limit`
    /// (RLIMIT_NOFILE): EMFILE when none is free.
    pub fn install(&self, file: Arc<File>, cloexec: bool, min: i32, limit: u64) -> SysResult<i32> {
        let mut fds = self.fds.lock().unwrap();
        let mut fd = min.max(0);
        for (&k, _) in fds.range(fd..) {
            if k != fd {
                break;
            }
            fd += 1;
        }
        if fd as u64 >= limit {
            return Err(Errno::EMFILE);
        }
        fds.insert(fd, Entry { file, cloexec });
        Ok(fd)
    }

    /// Install at exactly `fd` (dup2/dup3), closing what was there. The
    /// old file is returned so that it is released outside the lock.
    pub fn install_at(&self, fd: i32, file: Arc<File>, cloexec: bool, limit: u64) -> SysResult<Option<Arc<File>>> {
        if fd < 0 || fd as u64 >= limit {
            return Err(Errno::EBADF);
        }
        Ok(self.fds.lock().unwrap().insert(fd, Entry { file, cloexec }).map(|e| e.file))
    }

    pub fn close(&self, fd: i32) -> SysResult<Arc<File>> {
        self.fds.lock().unwrap().remove(&fd).map(|e| e.file).ok_or(Errno::EBADF)
    }

    /// close_range: close (or mark close-on-exec) `[lo, hi]`.
    pub fn close_range(&self, lo: u32, hi: u32, cloexec_only: bool) -> Vec<Arc<File>> {
        let mut fds = self.fds.lock().unwrap();
        let keys: Vec<i32> = fds.range(lo.min(i32::MAX as u32) as i32..).map(|(k, _)| *k).filter(|k| *k as u32 <= hi).collect();
        let mut out = Vec::new();
        for k in keys {
            if cloexec_only {
                if let Some(e) = fds.get_mut(&k) {
                    e.cloexec = true;
                }
            } else if let Some(e) = fds.remove(&k) {
                out.push(e.file);
            }
        }
        out
    }

    /// A copy for fork (without CLONE_FILES).
    pub fn fork(&self) -> Arc<FdTable> {
        Arc::new(FdTable { fds: Mutex::new(self.fds.lock().unwrap().clone()) })
    }

    /// Close every close-on-exec descriptor (execve).
    pub fn exec(&self) -> Vec<Arc<File>> {
        let mut fds = self.fds.lock().unwrap();
        let keys: Vec<i32> = fds.iter().filter(|(_, e)| e.cloexec).map(|(k, _)| *k).collect();
        keys.into_iter().filter_map(|k| fds.remove(&k).map(|e| e.file)).collect()
    }

    /// Every (fd, file), for /proc/self/fd.
    pub fn list(&self) -> Vec<(i32, Arc<File>)> {
        self.fds.lock().unwrap().iter().map(|(k, e)| (*k, e.file.clone())).collect()
    }

    pub fn len(&self) -> usize {
        self.fds.lock().unwrap().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drop every descriptor (the last task using the table exited).
    pub fn clear(&self) -> Vec<Arc<File>> {
        std::mem::take(&mut *self.fds.lock().unwrap()).into_values().map(|e| e.file).collect()
    }
}
