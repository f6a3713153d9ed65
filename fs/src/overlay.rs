//! overlay: a read-only lower filesystem (the gofer-served rootfs)
//! under a writable upper one (tmpfs), as Linux overlayfs does it.
//!
//! * Lookups merge: an upper entry hides the lower one; a whiteout
//!   (char device 0:0 in the upper) hides a lower entry; an upper
//!   directory with `trusted.overlay.opaque = "y"` hides the whole lower
//!   directory.
//! * Copy-up (data, mode, owner, times) happens on open for writing,
//!   O_TRUNC, setattr (chmod/chown/utimens/truncate), link, rename, and
//!   on creating anything inside a lower-only directory.
//! * Renaming a directory that has a lower part returns EXDEV (Linux
//!   overlayfs without redirect_dir does the same; `mv` falls back to
//!   copying). RENAME_EXCHANGE works only between upper-only entries
//!   (EXDEV otherwise).
//! * Hard links between lower files are broken by copy-up (no index);
//!   a file opened read-only before a copy-up keeps the lower data.
//! * Inode numbers: the lower inode's when there is one (stable across
//!   copy-up), else the upper's with bit 62 set; st_dev is the overlay's.

use std::any::Any;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, Weak};

use abi::{Errno, Stat, SysResult};

use crate::file::FileOps;
use crate::inode::{downcast, Filesystem, Inode};
use crate::types::{is_dir, magic, DirEntry, Owner, SetAttr, StatFs, TimeSpec};
use crate::vfs::Context;

const OPAQUE: &[u8] = b"trusted.overlay.opaque";

/// (upper part, lower part, whether a whiteout hides the name).
type Parts = (Option<Arc<dyn Inode>>, Option<Arc<dyn Inode>>, bool);

fn is_whiteout(st: &Stat) -> bool {
    st.mode & libc::S_IFMT == libc::S_IFCHR && st.rdev == 0
}

struct Shared {
    dev: u64,
}

/// An overlay filesystem instance.
pub struct OverlayFs {
    root: Arc<OverlayInode>,
}

impl OverlayFs {
    /// `upper` must be writable (a tmpfs root), `lower` is never written.
    pub fn new(upper: Arc<dyn Inode>, lower: Arc<dyn Inode>) -> Arc<OverlayFs> {
        let shared = Arc::new(Shared { dev: crate::types::anon_dev() });
        Arc::new(OverlayFs { root: OverlayInode::new(&shared, Some(upper), Some(lower), None) })
    }
}

impl Filesystem for OverlayFs {
    fn fs_type(&self) -> &str {
        "overlay"
    }
    fn root(&self) -> Arc<dyn Inode> {
        self.root.clone()
    }
}

/// An overlay inode: an upper part, a lower part, or both.
pub struct OverlayInode {
    shared: Arc<Shared>,
    me: Weak<OverlayInode>,
    upper: Mutex<Option<Arc<dyn Inode>>>,
    lower: Option<Arc<dyn Inode>>,
    /// (parent, name) for copy-up; None for the root.
    parent: Mutex<Option<(Arc<OverlayInode>, Vec<u8>)>>,
    /// Live children, so a name maps to one overlay inode at a time
    /// (copy-up state must not fork between lookups).
    children: Mutex<HashMap<Vec<u8>, Weak<OverlayInode>>>,
}

impl OverlayInode {
    fn new(shared: &Arc<Shared>, upper: Option<Arc<dyn Inode>>, lower: Option<Arc<dyn Inode>>, parent: Option<(Arc<OverlayInode>, Vec<u8>)>) -> Arc<OverlayInode> {
        Arc::new_cyclic(|me| OverlayInode { shared: shared.clone(), me: me.clone(), upper: Mutex::new(upper), lower, parent: Mutex::new(parent), children: Mutex::new(HashMap::new()) })
    }

    fn upper(&self) -> Option<Arc<dyn Inode>> {
        self.upper.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn real(&self) -> SysResult<Arc<dyn Inode>> {
        self.upper().or_else(|| self.lower.clone()).ok_or(Errno::ENOENT)
    }

    fn opaque(&self) -> bool {
        self.upper().is_some_and(|u| u.getxattr(OPAQUE).is_ok_and(|v| v == b"y"))
    }

    /// The lower directory to merge, if any.
    fn merge_lower(&self) -> Option<Arc<dyn Inode>> {
        if self.opaque() {
            return None;
        }
        self.lower.clone()
    }

    /// Make sure this inode has an upper part; returns it.
    fn copy_up(&self) -> SysResult<Arc<dyn Inode>> {
        if let Some(u) = self.upper() {
            return Ok(u);
        }
        let lower = self.lower.clone().ok_or(Errno::ENOENT)?;
        let (parent, name) = self.parent.lock().unwrap_or_else(|e| e.into_inner()).clone().ok_or(Errno::EIO)?;
        let pu = parent.copy_up()?;
        let st = lower.stat()?;
        let owner = Owner { uid: st.uid, gid: st.gid };
        // A whiteout may sit where we copy up only if the tree changed
        // under us; refuse rather than clobber.
        let up = match st.mode & libc::S_IFMT {
            libc::S_IFDIR => {
                let u = pu.mkdir(&name, st.mode & 0o7777, owner)?;
                // Lower-only directory: nothing of the upper to hide.
                u
            }
            libc::S_IFREG => {
                let u = pu.create(&name, st.mode & 0o7777, owner)?;
                copy_data(&lower, &u)?;
                u
            }
            libc::S_IFLNK => {
                let t = lower.readlink(&dummy_ctx_free())?;
                pu.symlink(&name, &t, owner)?
            }
            _ => pu.mknod(&name, st.mode, st.rdev, owner)?,
        };
        let _ = up.setattr(&SetAttr {
            mode: (st.mode & libc::S_IFMT != libc::S_IFLNK).then_some(st.mode & 0o7777),
            uid: Some(st.uid),
            gid: Some(st.gid),
            atime: Some(TimeSpec { sec: st.atime, nsec: st.atime_nsec }),
            mtime: Some(TimeSpec { sec: st.mtime, nsec: st.mtime_nsec }),
            ..Default::default()
        });
        *self.upper.lock().unwrap_or_else(|e| e.into_inner()) = Some(up.clone());
        tracing::debug!(name = %String::from_utf8_lossy(&name), "overlay: copied up");
        Ok(up)
    }

    fn me(&self) -> SysResult<Arc<OverlayInode>> {
        self.me.upgrade().ok_or(Errno::EIO)
    }

    /// The merged child: (upper, lower) parts, whiteouts removed.
    fn parts(&self, name: &[u8]) -> SysResult<Parts> {
        let mut whiteout = false;
        let mut upper = None;
        if let Some(u) = self.upper() {
            match u.lookup(name) {
                Ok(c) => {
                    if is_whiteout(&c.stat()?) {
                        whiteout = true;
                    } else {
                        upper = Some(c);
                    }
                }
                Err(Errno::ENOENT) => {}
                Err(e) => return Err(e),
            }
        }
        let mut lower = None;
        if !whiteout {
            if let Some(l) = self.merge_lower() {
                match l.lookup(name) {
                    Ok(c) => lower = Some(c),
                    Err(Errno::ENOENT) | Err(Errno::ENOTDIR) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        // A non-directory on either side hides the other side.
        if let (Some(u), Some(l)) = (&upper, &lower) {
            if !is_dir(&u.stat()?) || !is_dir(&l.stat()?) {
                lower = None;
            }
        }
        Ok((upper, lower, whiteout))
    }

    fn exists(&self, name: &[u8]) -> SysResult<bool> {
        let (u, l, _) = self.parts(name)?;
        Ok(u.is_some() || l.is_some())
    }

    /// Prepare to create `name`: copy this dir up, clear a whiteout.
    /// Returns the upper dir and whether a whiteout was removed.
    fn prepare_create(&self, name: &[u8]) -> SysResult<(Arc<dyn Inode>, bool)> {
        if self.exists(name)? {
            return Err(Errno::EEXIST);
        }
        let u = self.copy_up()?;
        let (_, _, whiteout) = self.parts(name)?;
        if whiteout {
            u.unlink(name)?;
        }
        Ok((u, whiteout))
    }

    fn wrap(&self, name: &[u8], upper: Option<Arc<dyn Inode>>, lower: Option<Arc<dyn Inode>>) -> SysResult<Arc<dyn Inode>> {
        let c = OverlayInode::new(&self.shared, upper, lower, Some((self.me()?, name.to_vec())));
        self.kids().insert(name.to_vec(), Arc::downgrade(&c));
        Ok(c)
    }

    fn kids(&self) -> std::sync::MutexGuard<'_, HashMap<Vec<u8>, Weak<OverlayInode>>> {
        self.children.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn cached(&self, name: &[u8]) -> Option<Arc<OverlayInode>> {
        let mut k = self.kids();
        match k.get(name).and_then(|w| w.upgrade()) {
            Some(c) => Some(c),
            None => {
                k.remove(name);
                None
            }
        }
    }

    /// Hide the lower `name` with a whiteout if a lower entry exists.
    fn whiteout_if_lower(&self, up: &Arc<dyn Inode>, name: &[u8]) -> SysResult<()> {
        if let Some(l) = self.merge_lower() {
            if l.lookup(name).is_ok() {
                up.mknod(name, libc::S_IFCHR, 0, Owner { uid: 0, gid: 0 })?;
            }
        }
        Ok(())
    }

    /// Upper entries first (without whiteouts), then lower entries not
    /// shadowed. Inode numbers are the ones `stat` reports: the lower's
    /// when the name exists below, else the upper's with bit 62 set.
    fn merged_readdir(&self) -> SysResult<Vec<DirEntry>> {
        let lower: Vec<DirEntry> = match self.merge_lower() {
            Some(l) => l.readdir()?,
            None => Vec::new(),
        };
        let lower_ino: HashMap<&[u8], u64> = lower.iter().map(|e| (e.name.as_slice(), e.ino)).collect();
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        if let Some(u) = self.upper() {
            for mut e in u.readdir()? {
                seen.insert(e.name.clone());
                if e.kind == libc::DT_CHR {
                    if let Ok(c) = u.lookup(&e.name) {
                        if c.stat().is_ok_and(|s| is_whiteout(&s)) {
                            continue;
                        }
                    }
                }
                e.ino = match lower_ino.get(e.name.as_slice()) {
                    Some(&ino) => ino,
                    None => e.ino | (1 << 62),
                };
                out.push(e);
            }
        }
        for e in lower {
            if !seen.contains(&e.name) {
                out.push(e);
            }
        }
        Ok(out)
    }
}

/// readlink of lower symlinks needs no task context (gofer/tmpfs ignore it).
fn dummy_ctx_free() -> Context {
    Context::detached()
}

fn copy_data(from: &Arc<dyn Inode>, to: &Arc<dyn Inode>) -> SysResult<()> {
    let src = from.clone().open(libc::O_RDONLY)?;
    let dst = to.clone().open(libc::O_WRONLY)?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut off = 0u64;
    loop {
        let n = src.read(&mut buf, off)?;
        if n == 0 {
            break;
        }
        let mut done = 0;
        while done < n {
            let (w, _) = dst.write(&buf[done..n], off + done as u64, false)?;
            if w == 0 {
                return Err(Errno::EIO);
            }
            done += w;
        }
        off += n as u64;
    }
    Ok(())
}

impl Inode for OverlayInode {
    fn stat(&self) -> SysResult<Stat> {
        let mut st = self.real()?.stat()?;
        st.dev = self.shared.dev;
        match &self.lower {
            Some(l) => st.ino = l.stat()?.ino,
            None => st.ino |= 1 << 62,
        }
        Ok(st)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn lookup(&self, name: &[u8]) -> SysResult<Arc<dyn Inode>> {
        if !is_dir(&self.real()?.stat()?) {
            return Err(Errno::ENOTDIR);
        }
        if let Some(c) = self.cached(name) {
            return Ok(c);
        }
        let (u, l, _) = self.parts(name)?;
        if u.is_none() && l.is_none() {
            return Err(Errno::ENOENT);
        }
        self.wrap(name, u, l)
    }
    fn create(&self, name: &[u8], mode: u32, owner: Owner) -> SysResult<Arc<dyn Inode>> {
        let (u, _) = self.prepare_create(name)?;
        let c = u.create(name, mode, owner)?;
        self.wrap(name, Some(c), None)
    }
    fn mkdir(&self, name: &[u8], mode: u32, owner: Owner) -> SysResult<Arc<dyn Inode>> {
        let (u, whiteout) = self.prepare_create(name)?;
        let c = u.mkdir(name, mode, owner)?;
        if whiteout {
            // Over a deleted lower entry: the new directory hides it.
            c.setxattr(OPAQUE, b"y", 0)?;
        }
        self.wrap(name, Some(c), None)
    }
    fn mknod(&self, name: &[u8], mode: u32, rdev: u64, owner: Owner) -> SysResult<Arc<dyn Inode>> {
        if mode & libc::S_IFMT == libc::S_IFCHR && rdev == 0 {
            return Err(Errno::EPERM);
        }
        let (u, _) = self.prepare_create(name)?;
        let c = u.mknod(name, mode, rdev, owner)?;
        self.wrap(name, Some(c), None)
    }
    fn symlink(&self, name: &[u8], target: &[u8], owner: Owner) -> SysResult<Arc<dyn Inode>> {
        let (u, _) = self.prepare_create(name)?;
        let c = u.symlink(name, target, owner)?;
        self.wrap(name, Some(c), None)
    }
    fn link(&self, name: &[u8], target: &Arc<dyn Inode>) -> SysResult<()> {
        let t = downcast::<OverlayInode>(target).ok_or(Errno::EXDEV)?;
        if !Arc::ptr_eq(&t.shared, &self.shared) {
            return Err(Errno::EXDEV);
        }
        let tu = t.copy_up()?;
        let (u, _) = self.prepare_create(name)?;
        u.link(name, &tu)
    }
    fn unlink(&self, name: &[u8]) -> SysResult<()> {
        let (cu, cl, _) = self.parts(name)?;
        let c = cu.clone().or(cl.clone()).ok_or(Errno::ENOENT)?;
        if is_dir(&c.stat()?) {
            return Err(Errno::EISDIR);
        }
        let u = self.copy_up()?;
        if cu.is_some() {
            u.unlink(name)?;
        }
        if cl.is_some() {
            self.whiteout_if_lower(&u, name)?;
        }
        self.kids().remove(name);
        Ok(())
    }
    fn rmdir(&self, name: &[u8]) -> SysResult<()> {
        let child = self.lookup(name)?;
        let c = downcast::<OverlayInode>(&child).ok_or(Errno::EIO)?;
        if !is_dir(&c.stat()?) {
            return Err(Errno::ENOTDIR);
        }
        if !c.merged_readdir()?.is_empty() {
            return Err(Errno::ENOTEMPTY);
        }
        let u = self.copy_up()?;
        if let Some(cu) = c.upper() {
            // Only whiteouts can be left inside: clear them first.
            for e in cu.readdir()? {
                cu.unlink(&e.name)?;
            }
            u.rmdir(name)?;
        }
        if c.lower.is_some() {
            self.whiteout_if_lower(&u, name)?;
        }
        self.kids().remove(name);
        Ok(())
    }
    fn rename(&self, old: &[u8], new_dir: &Arc<dyn Inode>, new: &[u8], flags: u32) -> SysResult<()> {
        let nd = downcast::<OverlayInode>(new_dir).ok_or(Errno::EXDEV)?;
        if !Arc::ptr_eq(&nd.shared, &self.shared) {
            return Err(Errno::EXDEV);
        }
        let src = self.lookup(old)?;
        let s = downcast::<OverlayInode>(&src).ok_or(Errno::EIO)?;
        let sst = s.stat()?;
        if is_dir(&sst) && s.lower.is_some() {
            return Err(Errno::EXDEV);
        }
        let (tu, tl, twhiteout) = nd.parts(new)?;
        if flags & crate::vfs::RENAME_NOREPLACE != 0 && (tu.is_some() || tl.is_some()) {
            return Err(Errno::EEXIST);
        }
        if flags & crate::vfs::RENAME_EXCHANGE != 0 && (s.lower.is_some() || tl.is_some() || tu.is_none()) {
            return Err(Errno::EXDEV);
        }
        // An exchange swaps the two names whatever their types.
        let exchange = flags & crate::vfs::RENAME_EXCHANGE != 0;
        if let Some(t) = tu.clone().or(tl.clone()).filter(|_| !exchange) {
            let tst = t.stat()?;
            if is_dir(&tst) {
                if !is_dir(&sst) {
                    return Err(Errno::EISDIR);
                }
                let tw = nd.lookup(new)?;
                let tw = downcast::<OverlayInode>(&tw).ok_or(Errno::EIO)?;
                if !tw.merged_readdir()?.is_empty() {
                    return Err(Errno::ENOTEMPTY);
                }
                if tl.is_some() {
                    // Replacing a merged directory would need it opaque.
                    return Err(Errno::EXDEV);
                }
            } else if is_dir(&sst) {
                return Err(Errno::ENOTDIR);
            }
        }
        let su = s.copy_up()?;
        let _ = su;
        let ou = self.copy_up()?;
        let nu = nd.copy_up()?;
        if twhiteout && tu.is_none() {
            nu.unlink(new)?;
        }
        ou.rename(old, &nu, new, flags & !crate::vfs::RENAME_NOREPLACE)?;
        if s.lower.is_some() {
            self.whiteout_if_lower(&ou, old)?;
        }
        // Keep the inode cache in step with the names.
        let moved = self.kids().remove(old);
        let other = nd.kids().remove(new);
        if let Some(m) = moved.as_ref().and_then(|w| w.upgrade()) {
            *m.parent.lock().unwrap_or_else(|e| e.into_inner()) = Some((nd.me()?, new.to_vec()));
            nd.kids().insert(new.to_vec(), Arc::downgrade(&m));
        }
        if flags & crate::vfs::RENAME_EXCHANGE != 0 {
            if let Some(o) = other.as_ref().and_then(|w| w.upgrade()) {
                *o.parent.lock().unwrap_or_else(|e| e.into_inner()) = Some((self.me()?, old.to_vec()));
                self.kids().insert(old.to_vec(), Arc::downgrade(&o));
            }
        }
        Ok(())
    }
    fn readlink(&self, ctx: &Context) -> SysResult<Vec<u8>> {
        self.real()?.readlink(ctx)
    }
    fn readdir(&self) -> SysResult<Vec<DirEntry>> {
        self.merged_readdir()
    }
    fn setattr(&self, attr: &SetAttr) -> SysResult<Stat> {
        self.copy_up()?.setattr(attr)?;
        self.stat()
    }
    fn open(self: Arc<Self>, flags: i32) -> SysResult<Arc<dyn FileOps>> {
        let write = flags & libc::O_ACCMODE != libc::O_RDONLY || flags & libc::O_TRUNC != 0;
        let real = if write { self.copy_up()? } else { self.real()? };
        let inner = real.open(flags)?;
        let st = self.stat()?;
        Ok(Arc::new(OverlayFile { inner, dev: st.dev, ino: st.ino }))
    }
    fn tmpfile(&self, mode: u32, owner: Owner) -> SysResult<Arc<dyn Inode>> {
        let u = self.copy_up()?;
        let t = u.tmpfile(mode, owner)?;
        Ok(OverlayInode::new(&self.shared, Some(t), None, None))
    }
    fn statfs(&self) -> SysResult<StatFs> {
        let mut s = self.upper().map(|u| u.statfs()).unwrap_or_else(|| self.real()?.statfs())?;
        s.fs_type = magic::OVERLAYFS;
        Ok(s)
    }
    fn getxattr(&self, name: &[u8]) -> SysResult<Vec<u8>> {
        if name.starts_with(b"trusted.overlay.") {
            return Err(Errno::ENODATA);
        }
        self.real()?.getxattr(name)
    }
    fn setxattr(&self, name: &[u8], value: &[u8], flags: i32) -> SysResult<()> {
        if name.starts_with(b"trusted.overlay.") {
            return Err(Errno::EPERM);
        }
        self.copy_up()?.setxattr(name, value, flags)
    }
    fn listxattr(&self) -> SysResult<Vec<Vec<u8>>> {
        Ok(self.real()?.listxattr()?.into_iter().filter(|n| !n.starts_with(b"trusted.overlay.")).collect())
    }
    fn removexattr(&self, name: &[u8]) -> SysResult<()> {
        if name.starts_with(b"trusted.overlay.") {
            return Err(Errno::EPERM);
        }
        self.copy_up()?.removexattr(name)
    }
}

#[cfg(test)]
#[path = "overlay_tests.rs"]
mod tests;

/// An open overlay file: the layer's own file, but `fstat` reports the
/// overlay's device and inode numbers, as `stat` of the path does.
struct OverlayFile {
    inner: Arc<dyn FileOps>,
    dev: u64,
    ino: u64,
}

impl FileOps for OverlayFile {
    fn read(&self, buf: &mut [u8], off: u64) -> SysResult<usize> {
        self.inner.read(buf, off)
    }
    fn write(&self, buf: &[u8], off: u64, append: bool) -> SysResult<(usize, u64)> {
        self.inner.write(buf, off, append)
    }
    fn is_stream(&self) -> bool {
        self.inner.is_stream()
    }
    fn seek(&self, cur: i64, off: i64, whence: i32) -> SysResult<i64> {
        self.inner.seek(cur, off, whence)
    }
    fn stat(&self) -> SysResult<Stat> {
        let mut st = self.inner.stat()?;
        st.dev = self.dev;
        st.ino = self.ino;
        Ok(st)
    }
    fn readdir(&self) -> SysResult<Vec<crate::types::DirEntry>> {
        self.inner.readdir()
    }
    fn ioctl(&self, cmd: u32, arg: u64, mem: &dyn crate::file::UserMemory) -> SysResult<u64> {
        self.inner.ioctl(cmd, arg, mem)
    }
    fn fsync(&self) -> SysResult<()> {
        self.inner.fsync()
    }
    fn truncate(&self, size: u64) -> SysResult<()> {
        self.inner.truncate(size)
    }
    fn readiness(&self, mask: u32) -> u32 {
        self.inner.readiness(mask)
    }
    fn event_register(&self, w: &Arc<dyn crate::waiter::Waker>, mask: u32) {
        self.inner.event_register(w, mask)
    }
    fn event_unregister(&self, w: &Arc<dyn crate::waiter::Waker>) {
        self.inner.event_unregister(w)
    }
    fn host_fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        self.inner.host_fd()
    }
    fn proc_name(&self) -> Option<String> {
        self.inner.proc_name()
    }
    fn open_ready(&self) -> bool {
        self.inner.open_ready()
    }
    fn as_any(&self) -> &dyn Any {
        // Callers downcast to the layer's type (a fifo's pipe end).
        self.inner.as_any()
    }
}
