//! tmpfs: the in-memory filesystem (/tmp, /dev, the overlay's upper).
//!
//! No size limit is enforced (ENOSPC is never returned); atime is not
//! updated by reads.

mod data;

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use abi::{Errno, Stat, SysResult};

use crate::file::{generic_seek, FileOps};
use crate::inode::{downcast, downcast_arc, Filesystem, Inode};
use crate::pipe::Pipe;
use crate::types::{dtype_of, magic, DirEntry, Owner, SetAttr, StatFs, TimeSpec};
use crate::vfs::Context;
pub use data::Data;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

struct Shared {
    dev: u64,
    next_ino: AtomicU64,
    rename_lock: Mutex<()>,
}

/// A tmpfs instance.
pub struct TmpFs {
    root: Arc<TmpInode>,
    fs_type: String,
}

impl TmpFs {
    /// A new, empty tmpfs whose root has `mode` (permission bits) and owner.
    pub fn new(mode: u32, owner: Owner) -> Arc<TmpFs> {
        Self::with_type("tmpfs", mode, owner)
    }

    /// Same, shown under another type name (devtmpfs).
    pub fn with_type(fs_type: &str, mode: u32, owner: Owner) -> Arc<TmpFs> {
        let shared = Arc::new(Shared { dev: crate::types::anon_dev(), next_ino: AtomicU64::new(2), rename_lock: Mutex::new(()) });
        let root = TmpInode::new(&shared, 1, libc::S_IFDIR | (mode & 0o7777), owner, Kind::Dir(Mutex::new(BTreeMap::new())));
        lock(&root.meta).nlink = 2;
        Arc::new(TmpFs { root, fs_type: fs_type.to_string() })
    }

    pub fn root_inode(&self) -> Arc<TmpInode> {
        self.root.clone()
    }
}

impl Filesystem for TmpFs {
    fn fs_type(&self) -> &str {
        &self.fs_type
    }
    fn root(&self) -> Arc<dyn Inode> {
        self.root.clone()
    }
}

struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    nlink: u64,
    atime: TimeSpec,
    mtime: TimeSpec,
    ctime: TimeSpec,
    xattrs: BTreeMap<Vec<u8>, Vec<u8>>,
}

enum Kind {
    Dir(Mutex<BTreeMap<Vec<u8>, Arc<TmpInode>>>),
    Reg(Mutex<Data>),
    Symlink(Vec<u8>),
    Fifo(Arc<Pipe>),
    Node(u64),
}

/// A tmpfs inode.
pub struct TmpInode {
    shared: Arc<Shared>,
    ino: u64,
    meta: Mutex<Meta>,
    kind: Kind,
}

impl TmpInode {
    fn new(shared: &Arc<Shared>, ino: u64, mode: u32, owner: Owner, kind: Kind) -> Arc<TmpInode> {
        let now = TimeSpec::now();
        Arc::new(TmpInode {
            shared: shared.clone(),
            ino,
            meta: Mutex::new(Meta { mode, uid: owner.uid, gid: owner.gid, nlink: 1, atime: now, mtime: now, ctime: now, xattrs: BTreeMap::new() }),
            kind,
        })
    }

    fn alloc(&self, mode: u32, owner: Owner, kind: Kind) -> Arc<TmpInode> {
        let ino = self.shared.next_ino.fetch_add(1, Ordering::Relaxed);
        TmpInode::new(&self.shared, ino, mode, owner, kind)
    }

    fn dir(&self) -> SysResult<MutexGuard<'_, BTreeMap<Vec<u8>, Arc<TmpInode>>>> {
        match &self.kind {
            Kind::Dir(m) => Ok(lock(m)),
            _ => Err(Errno::ENOTDIR),
        }
    }

    fn touch_mc(&self) {
        let now = TimeSpec::now();
        let mut m = lock(&self.meta);
        m.mtime = now;
        m.ctime = now;
    }

    fn touch_c(&self) {
        lock(&self.meta).ctime = TimeSpec::now();
    }

    fn add_nlink(&self, d: i64) {
        let mut m = lock(&self.meta);
        m.nlink = (m.nlink as i64 + d).max(0) as u64;
    }

    fn is_dir(&self) -> bool {
        matches!(self.kind, Kind::Dir(_))
    }

    fn insert(&self, name: &[u8], child: Arc<TmpInode>) -> SysResult<Arc<dyn Inode>> {
        let mut d = self.dir()?;
        if d.contains_key(name) {
            return Err(Errno::EEXIST);
        }
        if child.is_dir() {
            self.add_nlink(1);
        }
        d.insert(name.to_vec(), child.clone());
        drop(d);
        self.touch_mc();
        Ok(child)
    }

    fn ensure_dir(&self) -> SysResult<()> {
        self.dir().map(|_| ())
    }

    /// The file contents (regular files), for copy-up and tests.
    pub fn with_data<R>(&self, f: impl FnOnce(&mut Data) -> R) -> SysResult<R> {
        match &self.kind {
            Kind::Reg(d) => Ok(f(&mut lock(d))),
            Kind::Dir(_) => Err(Errno::EISDIR),
            _ => Err(Errno::EINVAL),
        }
    }
}

impl Inode for TmpInode {
    fn stat(&self) -> SysResult<Stat> {
        let m = lock(&self.meta);
        let (size, blocks, rdev) = match &self.kind {
            Kind::Reg(d) => {
                let d = lock(d);
                (d.size() as i64, d.pages() as i64 * 8, 0)
            }
            Kind::Dir(_) => (4096, 8, 0),
            Kind::Symlink(t) => (t.len() as i64, 0, 0),
            Kind::Node(r) => (0, 0, *r),
            Kind::Fifo(_) => (0, 0, 0),
        };
        Ok(Stat {
            dev: self.shared.dev,
            ino: self.ino,
            nlink: m.nlink,
            mode: m.mode,
            uid: m.uid,
            gid: m.gid,
            rdev,
            size,
            blksize: 4096,
            blocks,
            atime: m.atime.sec,
            atime_nsec: m.atime.nsec,
            mtime: m.mtime.sec,
            mtime_nsec: m.mtime.nsec,
            ctime: m.ctime.sec,
            ctime_nsec: m.ctime.nsec,
            ..Default::default()
        })
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn lookup(&self, name: &[u8]) -> SysResult<Arc<dyn Inode>> {
        self.dir()?.get(name).cloned().map(|c| c as Arc<dyn Inode>).ok_or(Errno::ENOENT)
    }

    fn create(&self, name: &[u8], mode: u32, owner: Owner) -> SysResult<Arc<dyn Inode>> {
        self.ensure_dir()?;
        let c = self.alloc(libc::S_IFREG | (mode & 0o7777), owner, Kind::Reg(Mutex::new(Data::default())));
        self.insert(name, c)
    }

    fn mkdir(&self, name: &[u8], mode: u32, owner: Owner) -> SysResult<Arc<dyn Inode>> {
        self.ensure_dir()?;
        let c = self.alloc(libc::S_IFDIR | (mode & 0o7777), owner, Kind::Dir(Mutex::new(BTreeMap::new())));
        lock(&c.meta).nlink = 2;
        self.insert(name, c)
    }

    fn mknod(&self, name: &[u8], mode: u32, rdev: u64, owner: Owner) -> SysResult<Arc<dyn Inode>> {
        self.ensure_dir()?;
        let ino = self.shared.next_ino.fetch_add(1, Ordering::Relaxed);
        let kind = match mode & libc::S_IFMT {
            libc::S_IFIFO => Kind::Fifo(Pipe::new(Some((ino, self.shared.dev)), owner)),
            libc::S_IFCHR | libc::S_IFBLK => Kind::Node(rdev),
            libc::S_IFSOCK => Kind::Node(0),
            libc::S_IFREG => Kind::Reg(Mutex::new(Data::default())),
            _ => return Err(Errno::EINVAL),
        };
        let c = TmpInode::new(&self.shared, ino, mode, owner, kind);
        self.insert(name, c)
    }

    fn symlink(&self, name: &[u8], target: &[u8], owner: Owner) -> SysResult<Arc<dyn Inode>> {
        self.ensure_dir()?;
        let c = self.alloc(libc::S_IFLNK | 0o777, owner, Kind::Symlink(target.to_vec()));
        self.insert(name, c)
    }

    fn link(&self, name: &[u8], target: &Arc<dyn Inode>) -> SysResult<()> {
        let t = downcast::<TmpInode>(target).ok_or(Errno::EXDEV)?;
        if !Arc::ptr_eq(&t.shared, &self.shared) {
            return Err(Errno::EXDEV);
        }
        let mut d = self.dir()?;
        if d.contains_key(name) {
            return Err(Errno::EEXIST);
        }
        let arc = downcast_arc::<TmpInode>(target).ok_or(Errno::EXDEV)?;
        d.insert(name.to_vec(), arc);
        drop(d);
        t.add_nlink(1);
        t.touch_c();
        self.touch_mc();
        Ok(())
    }

    fn unlink(&self, name: &[u8]) -> SysResult<()> {
        let mut d = self.dir()?;
        let c = d.get(name).ok_or(Errno::ENOENT)?;
        if c.is_dir() {
            return Err(Errno::EISDIR);
        }
        let c = d.remove(name).ok_or(Errno::ENOENT)?;
        drop(d);
        c.add_nlink(-1);
        c.touch_c();
        self.touch_mc();
        Ok(())
    }

    fn rmdir(&self, name: &[u8]) -> SysResult<()> {
        let mut d = self.dir()?;
        let c = d.get(name).ok_or(Errno::ENOENT)?;
        if !c.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        if !c.dir()?.is_empty() {
            return Err(Errno::ENOTEMPTY);
        }
        let c = d.remove(name).ok_or(Errno::ENOENT)?;
        drop(d);
        lock(&c.meta).nlink = 0;
        self.add_nlink(-1);
        self.touch_mc();
        Ok(())
    }

    fn rename(&self, old: &[u8], new_dir: &Arc<dyn Inode>, new: &[u8], flags: u32) -> SysResult<()> {
        let nd = downcast::<TmpInode>(new_dir).ok_or(Errno::EXDEV)?;
        if !Arc::ptr_eq(&nd.shared, &self.shared) {
            return Err(Errno::EXDEV);
        }
        let _g = lock(&self.shared.rename_lock);
        let same = std::ptr::eq(self, nd);
        let exchange = flags & crate::vfs::RENAME_EXCHANGE != 0;
        let noreplace = flags & crate::vfs::RENAME_NOREPLACE != 0;
        // Snapshot both entries, then apply (the rename lock serialises
        // renames; each map lock is taken briefly).
        let src = self.dir()?.get(old).cloned().ok_or(Errno::ENOENT)?;
        let dst = nd.dir()?.get(new).cloned();
        if let Some(d) = &dst {
            if Arc::ptr_eq(d, &src) {
                return Ok(());
            }
            if noreplace {
                return Err(Errno::EEXIST);
            }
            if !exchange {
                if d.is_dir() && !src.is_dir() {
                    return Err(Errno::EISDIR);
                }
                if !d.is_dir() && src.is_dir() {
                    return Err(Errno::ENOTDIR);
                }
                if d.is_dir() && !d.dir()?.is_empty() {
                    return Err(Errno::ENOTEMPTY);
                }
            }
        } else if exchange {
            return Err(Errno::ENOENT);
        }
        if exchange {
            let d = dst.ok_or(Errno::ENOENT)?;
            self.dir()?.insert(old.to_vec(), d.clone());
            nd.dir()?.insert(new.to_vec(), src.clone());
            if !same && src.is_dir() != d.is_dir() {
                let delta = if src.is_dir() { 1 } else { -1 };
                nd.add_nlink(delta);
                self.add_nlink(-delta);
            }
            d.touch_c();
        } else {
            self.dir()?.remove(old);
            let replaced = nd.dir()?.insert(new.to_vec(), src.clone());
            if let Some(r) = replaced {
                if r.is_dir() {
                    lock(&r.meta).nlink = 0;
                    nd.add_nlink(-1);
                } else {
                    r.add_nlink(-1);
                }
                r.touch_c();
            }
            if src.is_dir() && !same {
                self.add_nlink(-1);
                nd.add_nlink(1);
            }
        }
        src.touch_c();
        self.touch_mc();
        if !same {
            nd.touch_mc();
        }
        Ok(())
    }

    fn readlink(&self, _ctx: &Context) -> SysResult<Vec<u8>> {
        match &self.kind {
            Kind::Symlink(t) => Ok(t.clone()),
            _ => Err(Errno::EINVAL),
        }
    }

    fn readdir(&self) -> SysResult<Vec<DirEntry>> {
        let d = self.dir()?;
        Ok(d.iter()
            .map(|(n, c)| DirEntry { ino: c.ino, kind: dtype_of(lock(&c.meta).mode), name: n.clone() })
            .collect())
    }

    fn setattr(&self, a: &SetAttr) -> SysResult<Stat> {
        if let Some(size) = a.size {
            match &self.kind {
                Kind::Reg(d) => {
                    let mut d = lock(d);
                    if size != d.size() {
                        d.truncate(size)?;
                    }
                    drop(d);
                    self.touch_mc();
                }
                Kind::Dir(_) => return Err(Errno::EISDIR),
                _ => return Err(Errno::EINVAL),
            }
        }
        {
            let mut m = lock(&self.meta);
            if let Some(mode) = a.mode {
                m.mode = (m.mode & libc::S_IFMT) | (mode & 0o7777);
            }
            if let Some(u) = a.uid {
                m.uid = u;
            }
            if let Some(g) = a.gid {
                m.gid = g;
            }
            if let Some(t) = a.atime {
                m.atime = t;
            }
            if let Some(t) = a.mtime {
                m.mtime = t;
            }
            m.ctime = TimeSpec::now();
        }
        self.stat()
    }

    fn open(self: Arc<Self>, flags: i32) -> SysResult<Arc<dyn FileOps>> {
        match &self.kind {
            Kind::Fifo(p) => Ok(p.open_fifo(flags)?),
            Kind::Reg(_) => Ok(Arc::new(TmpFile { inode: self.clone() })),
            _ => Err(Errno::ENXIO),
        }
    }

    fn tmpfile(&self, mode: u32, owner: Owner) -> SysResult<Arc<dyn Inode>> {
        self.ensure_dir()?;
        let c = self.alloc(libc::S_IFREG | (mode & 0o7777), owner, Kind::Reg(Mutex::new(Data::default())));
        lock(&c.meta).nlink = 0;
        Ok(c)
    }

    fn statfs(&self) -> SysResult<StatFs> {
        Ok(StatFs { fs_type: magic::TMPFS, bsize: 4096, frsize: 4096, namelen: 255, blocks: 1 << 20, bfree: 1 << 20, bavail: 1 << 20, files: 1 << 20, ffree: 1 << 20, ..Default::default() })
    }

    fn getxattr(&self, name: &[u8]) -> SysResult<Vec<u8>> {
        lock(&self.meta).xattrs.get(name).cloned().ok_or(Errno::ENODATA)
    }

    fn setxattr(&self, name: &[u8], value: &[u8], flags: i32) -> SysResult<()> {
        let mut m = lock(&self.meta);
        let exists = m.xattrs.contains_key(name);
        if flags & libc::XATTR_CREATE != 0 && exists {
            return Err(Errno::EEXIST);
        }
        if flags & libc::XATTR_REPLACE != 0 && !exists {
            return Err(Errno::ENODATA);
        }
        m.xattrs.insert(name.to_vec(), value.to_vec());
        m.ctime = TimeSpec::now();
        Ok(())
    }

    fn listxattr(&self) -> SysResult<Vec<Vec<u8>>> {
        Ok(lock(&self.meta).xattrs.keys().cloned().collect())
    }

    fn removexattr(&self, name: &[u8]) -> SysResult<()> {
        lock(&self.meta).xattrs.remove(name).map(|_| ()).ok_or(Errno::ENODATA)
    }
}

/// An open regular tmpfs file.
pub struct TmpFile {
    inode: Arc<TmpInode>,
}

impl TmpFile {
    fn data(&self) -> SysResult<MutexGuard<'_, Data>> {
        match &self.inode.kind {
            Kind::Reg(d) => Ok(lock(d)),
            _ => Err(Errno::EINVAL),
        }
    }
}

impl FileOps for TmpFile {
    fn read(&self, buf: &mut [u8], off: u64) -> SysResult<usize> {
        Ok(self.data()?.read(buf, off))
    }

    fn write(&self, buf: &[u8], off: u64, append: bool) -> SysResult<(usize, u64)> {
        let mut d = self.data()?;
        let off = if append { d.size() } else { off };
        let n = d.write(buf, off)?;
        drop(d);
        if n > 0 {
            self.inode.touch_mc();
            // Writing clears set-user-ID (and set-group-ID with group x).
            let mut m = lock(&self.inode.meta);
            if m.mode & libc::S_ISUID != 0 || m.mode & (libc::S_ISGID | 0o010) == libc::S_ISGID | 0o010 {
                m.mode &= !(libc::S_ISUID | if m.mode & 0o010 != 0 { libc::S_ISGID } else { 0 });
            }
        }
        Ok((n, off + n as u64))
    }

    fn seek(&self, cur: i64, off: i64, whence: i32) -> SysResult<i64> {
        match whence {
            libc::SEEK_DATA => self.data()?.seek_data_hole(off, true),
            libc::SEEK_HOLE => self.data()?.seek_data_hole(off, false),
            _ => generic_seek(cur, off, whence, self.data()?.size() as i64),
        }
    }

    fn stat(&self) -> SysResult<Stat> {
        self.inode.stat()
    }

    fn truncate(&self, size: u64) -> SysResult<()> {
        self.inode.setattr(&SetAttr { size: Some(size), ..Default::default() }).map(|_| ())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[cfg(test)]
mod tests;
