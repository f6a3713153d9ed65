//! The interface every filesystem implements: `Filesystem` and `Inode`.
//!
//! Inodes know nothing of paths, mounts or permissions: the VFS walks
//! paths, checks permissions and keeps the dentry cache, then calls these
//! name-based operations on a directory inode. Defaults return the errno
//! Linux gives for an inode that does not support the operation.

use std::any::Any;
use std::sync::Arc;

use abi::{Errno, Stat, SysResult};

use crate::file::FileOps;
use crate::mount::Location;
use crate::types::{DirEntry, Owner, SetAttr, StatFs};
use crate::vfs::Context;

/// What following a symlink yields.
pub enum LinkTarget {
    /// An ordinary symlink: walk this path relative to the link's parent.
    Path(Vec<u8>),
    /// A magic link (`/proc/self/fd/N`, `/proc/self/cwd`): a location.
    Location(Location),
    /// A magic link to an open file without a path (a pipe, an eventfd):
    /// opening it shares the file's ops.
    File(Arc<crate::file::File>),
}

/// A filesystem instance (one per mount source; may be mounted often).
pub trait Filesystem: Send + Sync {
    /// The type name shown in /proc/self/mounts ("tmpfs", "proc", ...).
    fn fs_type(&self) -> &str;
    /// The root inode.
    fn root(&self) -> Arc<dyn Inode>;
    /// Whether the VFS may cache lookups (false for synthetic dynamic
    /// trees such as procfs).
    fn cache_dentries(&self) -> bool {
        true
    }
    /// Mount options shown in /proc/self/mounts after rw/ro.
    fn mount_options(&self) -> String {
        String::new()
    }
}

/// An inode. Directory operations take a single name component that the
/// VFS has already checked (not "." or "..", no '/', at most 255 bytes).
pub trait Inode: Send + Sync + Any {
    /// `stat(2)` data; `st_dev`/`st_ino` must be stable.
    fn stat(&self) -> SysResult<Stat>;

    /// For downcasting (same-filesystem checks in link/rename).
    fn as_any(&self) -> &dyn Any;

    /// Find a child. ENOENT if absent, ENOTDIR if not a directory.
    fn lookup(&self, _name: &[u8]) -> SysResult<Arc<dyn Inode>> {
        Err(Errno::ENOTDIR)
    }

    /// Create a regular file (EEXIST if the name exists).
    fn create(&self, _name: &[u8], _mode: u32, _owner: Owner) -> SysResult<Arc<dyn Inode>> {
        Err(Errno::ENOTDIR)
    }

    /// Create a directory.
    fn mkdir(&self, _name: &[u8], _mode: u32, _owner: Owner) -> SysResult<Arc<dyn Inode>> {
        Err(Errno::ENOTDIR)
    }

    /// Create a fifo, device or socket node; `mode` includes the type.
    fn mknod(&self, _name: &[u8], _mode: u32, _rdev: u64, _owner: Owner) -> SysResult<Arc<dyn Inode>> {
        Err(Errno::ENOTDIR)
    }

    /// Create a symlink.
    fn symlink(&self, _name: &[u8], _target: &[u8], _owner: Owner) -> SysResult<Arc<dyn Inode>> {
        Err(Errno::ENOTDIR)
    }

    /// Make `name` a new hard link to `target` (same filesystem, checked
    /// by the implementation: EXDEV otherwise).
    fn link(&self, _name: &[u8], _target: &Arc<dyn Inode>) -> SysResult<()> {
        Err(Errno::ENOTDIR)
    }

    /// Remove a non-directory entry.
    fn unlink(&self, _name: &[u8]) -> SysResult<()> {
        Err(Errno::ENOTDIR)
    }

    /// Remove an empty directory (ENOTEMPTY otherwise).
    fn rmdir(&self, _name: &[u8]) -> SysResult<()> {
        Err(Errno::ENOTDIR)
    }

    /// Rename `old` in this directory to `new` in `new_dir` (same
    /// filesystem). `flags` are RENAME_NOREPLACE / RENAME_EXCHANGE. The
    /// VFS has already checked type compatibility (EISDIR/ENOTDIR) and
    /// loops; the filesystem checks ENOTEMPTY and EEXIST for NOREPLACE.
    fn rename(&self, _old: &[u8], _new_dir: &Arc<dyn Inode>, _new: &[u8], _flags: u32) -> SysResult<()> {
        Err(Errno::ENOTDIR)
    }

    /// The symlink's target for `readlink(2)`.
    fn readlink(&self, _ctx: &Context) -> SysResult<Vec<u8>> {
        Err(Errno::EINVAL)
    }

    /// What walking through this symlink yields (default: its target).
    fn follow_link(&self, ctx: &Context) -> SysResult<LinkTarget> {
        self.readlink(ctx).map(LinkTarget::Path)
    }

    /// Directory listing without "." and "..".
    fn readdir(&self) -> SysResult<Vec<DirEntry>> {
        Err(Errno::ENOTDIR)
    }

    /// Change attributes; returns the new stat.
    fn setattr(&self, _attr: &SetAttr) -> SysResult<Stat> {
        Err(Errno::EPERM)
    }

    /// Open for I/O. Called for regular files, fifos and synthetic files;
    /// directories are opened by the VFS (it lists them via `readdir`),
    /// device nodes through the device registry. `flags` are the open
    /// flags (access mode, O_APPEND, O_NONBLOCK, ...).
    fn open(self: Arc<Self>, _flags: i32) -> SysResult<Arc<dyn FileOps>> {
        Err(Errno::ENXIO)
    }

    /// Create an unnamed regular file in this directory (O_TMPFILE).
    fn tmpfile(&self, _mode: u32, _owner: Owner) -> SysResult<Arc<dyn Inode>> {
        Err(Errno::EOPNOTSUPP)
    }

    /// `statfs(2)` data (the VFS fills in the mount flags).
    fn statfs(&self) -> SysResult<StatFs> {
        Err(Errno::ENOSYS)
    }

    /// Extended attributes (`getxattr`). ENODATA when absent.
    fn getxattr(&self, _name: &[u8]) -> SysResult<Vec<u8>> {
        Err(Errno::EOPNOTSUPP)
    }

    /// `setxattr` with XATTR_CREATE / XATTR_REPLACE flags.
    fn setxattr(&self, _name: &[u8], _value: &[u8], _flags: i32) -> SysResult<()> {
        Err(Errno::EOPNOTSUPP)
    }

    /// `listxattr` names.
    fn listxattr(&self) -> SysResult<Vec<Vec<u8>>> {
        Ok(vec![])
    }

    /// `removexattr`.
    fn removexattr(&self, _name: &[u8]) -> SysResult<()> {
        Err(Errno::EOPNOTSUPP)
    }
}

/// Downcast helper: the concrete inode behind a trait object.
pub fn downcast<T: 'static>(inode: &Arc<dyn Inode>) -> Option<&T> {
    inode.as_any().downcast_ref::<T>()
}

/// Downcast helper keeping ownership.
pub fn downcast_arc<T: Send + Sync + 'static>(inode: &Arc<dyn Inode>) -> Option<Arc<T>> {
    let a: Arc<dyn Any + Send + Sync> = inode.clone();
    a.downcast::<T>().ok()
}
