//! The VFS proper: the mount tree, path walking and the path-based
//! operations the file syscalls need, with Linux's checks and errnos.
//!
//! Conventions for the Sentry:
//! * Every path operation takes `(ctx, dir, path)`: `dir` is the location
//!   of the dirfd (`None` = AT_FDCWD, i.e. `ctx.cwd`); absolute paths start
//!   at `ctx.root`. The Sentry gives EBADF for a bad dirfd itself.
//! * `at_flags` are the syscall's raw AT_* flags; unknown bits give EINVAL.
//! * The umask is applied here (from `ctx.umask`) for open(O_CREAT),
//!   mkdir and mknod; never for symlinks.

mod open;
mod ops;
mod walk;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use abi::{Errno, SysResult};

use crate::creds::Creds;
use crate::dentry::Dentry;
use crate::device::CharDevice;
use crate::inode::Filesystem;
use crate::mount::{Location, Mount, MountFlags};

pub use ops::{RENAME_EXCHANGE, RENAME_NOREPLACE, RENAME_WHITEOUT, UTIME_NOW, UTIME_OMIT};
pub use walk::{Last, MAXSYMLINKS, NAME_MAX, PATH_MAX};

/// Who is asking, and from where: one per syscall (cheap clones).
#[derive(Clone, Debug)]
pub struct Context {
    /// The task's root (chroot); ".." never climbs above it.
    pub root: Location,
    /// The task's working directory (AT_FDCWD).
    pub cwd: Location,
    pub creds: Creds,
    /// Applied to creation modes by open/mkdir/mknod.
    pub umask: u32,
    /// The caller's thread-group id, for /proc/self.
    pub pid: i32,
    /// The caller's thread id, for /proc/thread-self.
    pub tid: i32,
    /// openat2's RESOLVE_* restrictions (none for every other call).
    pub resolve: Resolve,
}

/// How a walk is scoped (openat2 RESOLVE_* flags).
#[derive(Clone, Debug, Default)]
pub struct Resolve {
    /// RESOLVE_NO_SYMLINKS: any symlink gives ELOOP.
    pub no_symlinks: bool,
    /// RESOLVE_NO_MAGICLINKS: /proc magic links give ELOOP.
    pub no_magiclinks: bool,
    /// RESOLVE_NO_XDEV: crossing a mount gives EXDEV.
    pub no_xdev: bool,
    /// RESOLVE_BENEATH: the walk may not leave this directory (absolute
    /// paths, ".." above it and magic links give EXDEV). RESOLVE_IN_ROOT
    /// is expressed by making it the context's root instead, plus `scoped`.
    pub beneath: Option<Location>,
    /// RESOLVE_BENEATH or RESOLVE_IN_ROOT: magic links give EXDEV.
    pub scoped: bool,
}

impl Context {
    /// A root-credential context on a private empty mount, for internal
    /// calls that need one but no task (overlay copy-up of symlinks).
    pub fn detached() -> Context {
        let m = Mount::new(Arc::new(crate::anon::AnonFs::new()), None, MountFlags::default(), "none");
        let l = Location::mount_root(&m);
        Context { root: l.clone(), cwd: l, creds: Creds::root(), umask: 0o022, pid: 0, tid: 0, resolve: Resolve::default() }
    }
}

/// (parent mount id, mountpoint dentry id) → mounts there, last on top.
type MountTable = HashMap<(u64, u64), Vec<Arc<Mount>>>;

/// The mount tree and device registry of one sandbox.
pub struct Vfs {
    root: Arc<Mount>,
    anon: Arc<Mount>,
    /// (parent mount id, mountpoint dentry id) → mounts, last on top.
    mounts: RwLock<MountTable>,
    /// Every mount in mount order (for /proc/self/mounts).
    order: RwLock<Vec<Arc<Mount>>>,
    devices: RwLock<HashMap<u64, Arc<dyn CharDevice>>>,
}

impl Vfs {
    /// A VFS whose root mount is `root_fs`.
    pub fn new(root_fs: Arc<dyn Filesystem>, flags: MountFlags, source: &str) -> Arc<Vfs> {
        let root = Mount::new(root_fs, None, flags, source);
        let anon = Mount::new(Arc::new(crate::anon::AnonFs::new()), None, MountFlags::default(), "anon");
        Arc::new(Vfs {
            root: root.clone(),
            anon,
            mounts: RwLock::new(HashMap::new()),
            order: RwLock::new(vec![root]),
            devices: RwLock::new(HashMap::new()),
        })
    }

    /// The root of the mount tree.
    pub fn root(&self) -> Location {
        Location::mount_root(&self.root)
    }

    /// A context rooted at the VFS root, cwd = root, umask 022.
    pub fn root_context(&self, creds: Creds, pid: i32) -> Context {
        Context { root: self.root(), cwd: self.root(), creds, umask: 0o022, pid, tid: pid, resolve: Resolve::default() }
    }

    /// Register a character device driver for `rdev` (see `device::makedev`).
    pub fn register_device(&self, rdev: u64, dev: Arc<dyn CharDevice>) {
        self.devices.write().unwrap_or_else(|e| e.into_inner()).insert(rdev, dev);
    }

    pub(crate) fn device(&self, rdev: u64) -> Option<Arc<dyn CharDevice>> {
        self.devices.read().unwrap_or_else(|e| e.into_inner()).get(&rdev).cloned()
    }

    /// The mount for files without a path (anon inodes), so that every
    /// `File` may have a location.
    pub fn anon_mount(&self) -> &Arc<Mount> {
        &self.anon
    }

    /// Mount `fs` on the directory at `path` (MS_* semantics reduced to
    /// `flags`). The mountpoint must be a directory unless the new root is
    /// not one (file mounts).
    pub fn mount(&self, ctx: &Context, dir: Option<&Location>, path: &[u8], fs: Arc<dyn Filesystem>, flags: MountFlags, source: &str) -> SysResult<Location> {
        let at = self.lookup(ctx, dir, path, 0)?;
        let target_dir = at.is_dir();
        let root_dir = fs.root().stat().map(|s| crate::types::is_dir(&s)).unwrap_or(false);
        if target_dir != root_dir {
            return Err(Errno::ENOTDIR);
        }
        let m = Mount::new(fs, Some((at.mount.clone(), at.dentry.clone())), flags, source);
        self.mounts
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .entry((at.mount.id, at.dentry.id()))
            .or_default()
            .push(m.clone());
        self.order.write().unwrap_or_else(|e| e.into_inner()).push(m.clone());
        tracing::debug!(mount = m.id, fstype = m.fs.fs_type(), "mounted");
        Ok(Location::mount_root(&m))
    }

    /// umount2: the location must be a mount root (EINVAL otherwise);
    /// EBUSY if something is mounted under it (busy files are not
    /// tracked).
    pub fn umount(&self, ctx: &Context, dir: Option<&Location>, path: &[u8]) -> SysResult<()> {
        let at = self.lookup(ctx, dir, path, 0)?;
        if !at.is_mount_root() {
            return Err(Errno::EINVAL);
        }
        let Some((pm, pd)) = at.mount.parent.clone() else {
            return Err(Errno::EBUSY);
        };
        if self.order.read().unwrap_or_else(|e| e.into_inner()).iter().any(|m| m.parent.as_ref().is_some_and(|(p, _)| Arc::ptr_eq(p, &at.mount))) {
            return Err(Errno::EBUSY);
        }
        let mut mounts = self.mounts.write().unwrap_or_else(|e| e.into_inner());
        if let Some(v) = mounts.get_mut(&(pm.id, pd.id())) {
            v.retain(|m| !Arc::ptr_eq(m, &at.mount));
            if v.is_empty() {
                mounts.remove(&(pm.id, pd.id()));
            }
        }
        self.order.write().unwrap_or_else(|e| e.into_inner()).retain(|m| !Arc::ptr_eq(m, &at.mount));
        Ok(())
    }

    /// The mount on top of `loc`, if `loc` is a mountpoint.
    pub(crate) fn mounted_on(&self, loc: &Location) -> Option<Arc<Mount>> {
        self.mounts.read().unwrap_or_else(|e| e.into_inner()).get(&(loc.mount.id, loc.dentry.id())).and_then(|v| v.last().cloned())
    }

    /// Follow mounts down from a mountpoint to the topmost mount root.
    pub(crate) fn follow_mounts(&self, mut loc: Location) -> Location {
        while let Some(m) = self.mounted_on(&loc) {
            loc = Location::mount_root(&m);
        }
        loc
    }

    /// Whether `loc` is a mountpoint or a mount root (EBUSY targets).
    pub(crate) fn is_busy(&self, loc: &Location) -> bool {
        loc.is_mount_root() || self.mounted_on(loc).is_some()
    }

    /// The path of `loc` as seen from `root`, and whether it is reachable
    /// from there at all.
    pub fn path_from(&self, root: &Location, loc: &Location) -> (Vec<u8>, bool) {
        let mut parts: Vec<Vec<u8>> = Vec::new();
        let mut cur = loc.clone();
        let mut reachable = true;
        loop {
            if cur == *root {
                break;
            }
            if cur.is_mount_root() {
                match &cur.mount.parent {
                    Some((pm, pd)) => {
                        cur = Location::new(pm.clone(), pd.clone());
                        continue;
                    }
                    None => {
                        reachable = false;
                        break;
                    }
                }
            }
            parts.push(cur.dentry.name());
            match cur.dentry.parent() {
                Some(p) => cur = Location::new(cur.mount.clone(), p),
                None => {
                    reachable = false;
                    break;
                }
            }
        }
        let mut out = Vec::new();
        for p in parts.iter().rev() {
            out.push(b'/');
            out.extend_from_slice(p);
        }
        if out.is_empty() {
            out.push(b'/');
        }
        (out, reachable)
    }

    /// The text a /proc/self/fd link or /proc/self/cwd shows: the path,
    /// with " (deleted)" for unlinked files.
    pub fn proc_path(&self, root: &Location, loc: &Location) -> Vec<u8> {
        if Arc::ptr_eq(&loc.mount, &self.anon) {
            return loc.dentry.name();
        }
        let (mut p, _) = self.path_from(root, loc);
        if loc.dentry.is_deleted() {
            p.extend_from_slice(b" (deleted)");
        }
        p
    }

    /// getcwd(2): ENOENT if the cwd was removed; "(unreachable)" prefix
    /// when the cwd is outside the task's root.
    pub fn getcwd(&self, ctx: &Context) -> SysResult<Vec<u8>> {
        if ctx.cwd.dentry.is_deleted() {
            return Err(Errno::ENOENT);
        }
        let (p, reachable) = self.path_from(&ctx.root, &ctx.cwd);
        if reachable {
            Ok(p)
        } else {
            let mut v = b"(unreachable)".to_vec();
            v.extend_from_slice(&p);
            Ok(v)
        }
    }

    /// /proc/self/mounts text for a task whose root is `root`.
    pub fn mounts_text(&self, root: &Location) -> String {
        let mut s = String::new();
        for m in self.order.read().unwrap_or_else(|e| e.into_inner()).iter() {
            let (path, reachable) = self.path_from(root, &Location::mount_root(m));
            if !reachable {
                continue;
            }
            let mut opts = m.flags().options();
            let extra = m.fs.mount_options();
            if !extra.is_empty() {
                opts.push(',');
                opts.push_str(&extra);
            }
            s.push_str(&format!("{} {} {} {} 0 0\n", escape(m.source.as_bytes()), escape(&path), m.fs.fs_type(), opts));
        }
        s
    }

    /// Bind a fresh, unlinked dentry on the anon mount (pipes, eventfds).
    pub fn anon_location(&self, inode: Arc<dyn crate::inode::Inode>, name: &[u8]) -> Location {
        Location::new(self.anon.clone(), Dentry::new_detached(inode, name))
    }
}

/// Octal-escape space, tab, newline and backslash as /proc/mounts does.
fn escape(b: &[u8]) -> String {
    let mut s = String::new();
    for &c in b {
        match c {
            b' ' | b'\t' | b'\n' | b'\\' => s.push_str(&format!("\\{c:03o}")),
            _ => s.push(c as char),
        }
    }
    s
}

#[cfg(test)]
mod tests;
