//! POSIX record locks (F_SETLK/F_SETLKW/F_GETLK) and open-file-description
//! locks (F_OFD_*), advisory, in one table for the sandbox.
//!
//! Process locks are released when the process closes any fd of the file
//! (`on_close`) or exits (dead owners are pruned lazily); OFD locks die
//! with their description (held weakly).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use abi::{Errno, SysResult};
use fs::file::File;
use fs::waiter::WaitQueue;

use crate::kernel::Kernel;

#[derive(Clone, Debug)]
pub enum LockOwner {
    Process(i32),
    Ofd(Weak<File>),
}

impl LockOwner {
    fn same(&self, o: &LockOwner) -> bool {
        match (self, o) {
            (LockOwner::Process(a), LockOwner::Process(b)) => a == b,
            (LockOwner::Ofd(a), LockOwner::Ofd(b)) => Weak::ptr_eq(a, b),
            _ => false,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Lock {
    pub owner: LockOwner,
    /// F_RDLCK or F_WRLCK.
    pub kind: i32,
    pub start: u64,
    /// Inclusive; u64::MAX = to the end of file and beyond.
    pub end: u64,
}

/// The locks of one file.
#[derive(Default)]
pub struct Locks(pub Vec<Lock>);

impl Locks {
    /// The first lock of another owner conflicting with (kind, range).
    pub fn conflict(&self, owner: &LockOwner, kind: i32, start: u64, end: u64) -> Option<&Lock> {
        self.0.iter().find(|l| !l.owner.same(owner) && l.start <= end && start <= l.end && (kind == libc::F_WRLCK || l.kind == libc::F_WRLCK))
    }

    /// Set (or with F_UNLCK remove) `owner`'s lock over [start, end],
    /// splitting and replacing the owner's overlapping locks.
    pub fn set(&mut self, owner: &LockOwner, kind: i32, start: u64, end: u64) {
        let mut out = Vec::with_capacity(self.0.len() + 2);
        for l in self.0.drain(..) {
            if !l.owner.same(owner) || l.end < start || l.start > end {
                out.push(l);
                continue;
            }
            if l.start < start {
                out.push(Lock { end: start - 1, ..l.clone() });
            }
            if l.end > end {
                out.push(Lock { start: end + 1, ..l.clone() });
            }
        }
        if kind != libc::F_UNLCK {
            out.push(Lock { owner: owner.clone(), kind, start, end });
        }
        self.0 = out;
    }
}

pub struct Table {
    files: Mutex<HashMap<(u64, u64), Locks>>,
    pub queue: WaitQueue,
}

pub fn table() -> &'static Table {
    static T: OnceLock<Table> = OnceLock::new();
    T.get_or_init(|| Table { files: Mutex::new(HashMap::new()), queue: WaitQueue::new() })
}

impl Table {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(u64, u64), Locks>> {
        self.files.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn prune(k: &Kernel, locks: &mut Locks) {
        let procs = k.procs();
        locks.0.retain(|l| match &l.owner {
            LockOwner::Process(p) => procs.st(*p).is_some_and(|s| s.zombie.is_none()),
            LockOwner::Ofd(w) => w.strong_count() > 0,
        });
    }

    /// F_GETLK: a conflicting lock, if any.
    pub fn test(&self, k: &Kernel, key: (u64, u64), owner: &LockOwner, kind: i32, start: u64, end: u64) -> Option<Lock> {
        let mut t = self.lock();
        let l = t.get_mut(&key)?;
        Self::prune(k, l);
        l.conflict(owner, kind, start, end).cloned()
    }

    /// F_SETLK: EAGAIN on conflict.
    pub fn try_set(&self, k: &Kernel, key: (u64, u64), owner: &LockOwner, kind: i32, start: u64, end: u64) -> SysResult<()> {
        let mut t = self.lock();
        let l = t.entry(key).or_default();
        Self::prune(k, l);
        if kind != libc::F_UNLCK && l.conflict(owner, kind, start, end).is_some() {
            return Err(Errno::EAGAIN);
        }
        l.set(owner, kind, start, end);
        if l.0.is_empty() {
            t.remove(&key);
        }
        drop(t);
        self.queue.notify(u32::MAX);
        Ok(())
    }

    /// Drop the process locks of `pid` on `key` (a close by that process).
    pub fn release(&self, key: (u64, u64), pid: i32) {
        let mut t = self.lock();
        if let Some(l) = t.get_mut(&key) {
            let before = l.0.len();
            l.0.retain(|x| !matches!(x.owner, LockOwner::Process(p) if p == pid));
            let changed = l.0.len() != before;
            if l.0.is_empty() {
                t.remove(&key);
            }
            drop(t);
            if changed {
                self.queue.notify(u32::MAX);
            }
        }
    }
}

/// `fd` of process `pid` was closed: its POSIX locks on the file go.
pub fn on_close(pid: i32, f: &Arc<File>) {
    if f.location().is_none() {
        return;
    }
    if let Ok(st) = f.stat() {
        table().release((st.dev, st.ino), pid);
    }
}

/// Resolve (whence, start, len) against the file: the inclusive range.
pub fn range(whence: i16, start: i64, len: i64, cur: i64, size: i64) -> SysResult<(u64, u64)> {
    let base = match whence as i32 {
        libc::SEEK_SET => 0,
        libc::SEEK_CUR => cur,
        libc::SEEK_END => size,
        _ => return Err(Errno::EINVAL),
    };
    let s = base.checked_add(start).ok_or(Errno::EOVERFLOW)?;
    let (s, e) = if len > 0 {
        (s, s.checked_add(len - 1).ok_or(Errno::EOVERFLOW)?)
    } else if len == 0 {
        (s, i64::MAX)
    } else {
        (s.checked_add(len).ok_or(Errno::EINVAL)?, s - 1)
    };
    if s < 0 || e < s {
        return Err(Errno::EINVAL);
    }
    Ok((s as u64, if e == i64::MAX { u64::MAX } else { e as u64 }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_and_conflict() {
        let a = LockOwner::Process(1);
        let b = LockOwner::Process(2);
        let mut l = Locks::default();
        l.set(&a, libc::F_WRLCK, 0, 99);
        l.set(&a, libc::F_UNLCK, 10, 19);
        assert_eq!(l.0.len(), 2);
        assert!(l.conflict(&b, libc::F_RDLCK, 10, 19).is_none());
        assert!(l.conflict(&b, libc::F_RDLCK, 15, 25).is_some());
        assert!(l.conflict(&a, libc::F_WRLCK, 0, 99).is_none());
        let mut r = Locks::default();
        r.set(&a, libc::F_RDLCK, 0, 9);
        assert!(r.conflict(&b, libc::F_RDLCK, 0, 9).is_none());
        assert!(r.conflict(&b, libc::F_WRLCK, 5, 5).is_some());
    }

    #[test]
    fn ranges() {
        assert_eq!(range(libc::SEEK_SET as i16, 0, 0, 0, 0), Ok((0, u64::MAX)));
        assert_eq!(range(libc::SEEK_CUR as i16, -5, 5, 10, 0), Ok((5, 9)));
        assert_eq!(range(libc::SEEK_SET as i16, 10, -5, 0, 0), Ok((5, 9)));
        assert_eq!(range(libc::SEEK_SET as i16, 2, -5, 0, 0), Err(Errno::EINVAL));
        assert_eq!(range(9, 0, 0, 0, 0), Err(Errno::EINVAL));
    }
}
