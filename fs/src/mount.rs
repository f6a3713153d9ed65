//! Mounts and locations (a mount plus a dentry: Linux's `struct path`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::dentry::Dentry;
use crate::inode::{Filesystem, Inode};

/// Per-mount flags (MS_RDONLY and friends).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MountFlags {
    pub readonly: bool,
    pub nosuid: bool,
    pub nodev: bool,
    pub noexec: bool,
}

impl MountFlags {
    /// `ST_*` flags for statfs.
    pub fn st_flags(&self) -> i64 {
        let mut f = 0;
        if self.readonly {
            f |= libc::ST_RDONLY;
        }
        if self.nosuid {
            f |= libc::ST_NOSUID;
        }
        if self.nodev {
            f |= libc::ST_NODEV;
        }
        if self.noexec {
            f |= libc::ST_NOEXEC;
        }
        f as i64
    }

    /// The "rw,nosuid,..." option string.
    pub fn options(&self) -> String {
        let mut s = String::from(if self.readonly { "ro" } else { "rw" });
        for (on, name) in [(self.nosuid, "nosuid"), (self.nodev, "nodev"), (self.noexec, "noexec")] {
            if on {
                s.push(',');
                s.push_str(name);
            }
        }
        s
    }
}

/// One mount of a filesystem.
pub struct Mount {
    pub(crate) id: u64,
    pub(crate) fs: Arc<dyn Filesystem>,
    pub(crate) root: Arc<Dentry>,
    /// Where it is mounted: (parent mount, mountpoint dentry).
    pub(crate) parent: Option<(Arc<Mount>, Arc<Dentry>)>,
    pub(crate) flags: MountFlags,
    pub(crate) source: String,
    /// Remounted read-only after creation (MS_REMOUNT|MS_RDONLY).
    pub(crate) remount_ro: std::sync::atomic::AtomicBool,
}

impl Mount {
    pub(crate) fn new(fs: Arc<dyn Filesystem>, parent: Option<(Arc<Mount>, Arc<Dentry>)>, flags: MountFlags, source: &str) -> Arc<Mount> {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let root = Dentry::new_root(fs.root(), fs.cache_dentries());
        Arc::new(Mount { id: NEXT.fetch_add(1, Ordering::Relaxed), fs, root, parent, flags, source: source.to_string(), remount_ro: false.into() })
    }

    pub fn id(&self) -> u64 {
        self.id
    }
    pub fn flags(&self) -> MountFlags {
        let mut f = self.flags;
        f.readonly |= self.remount_ro.load(std::sync::atomic::Ordering::SeqCst);
        f
    }

    /// Make the mount read-only from now on (like `mount -o remount,ro`).
    pub fn remount_readonly(&self) {
        self.remount_ro.store(true, std::sync::atomic::Ordering::SeqCst);
    }
    pub fn fs(&self) -> &Arc<dyn Filesystem> {
        &self.fs
    }
    pub fn root_dentry(&self) -> &Arc<Dentry> {
        &self.root
    }
}

/// A place in the mount tree: what a cwd, a root or an open file refers to.
#[derive(Clone)]
pub struct Location {
    pub mount: Arc<Mount>,
    pub dentry: Arc<Dentry>,
}

impl Location {
    pub fn new(mount: Arc<Mount>, dentry: Arc<Dentry>) -> Location {
        Location { mount, dentry }
    }

    /// The root of a mount.
    pub fn mount_root(mount: &Arc<Mount>) -> Location {
        Location { mount: mount.clone(), dentry: mount.root.clone() }
    }

    pub fn inode(&self) -> &Arc<dyn Inode> {
        self.dentry.inode()
    }

    /// Whether this is the root dentry of its mount.
    pub fn is_mount_root(&self) -> bool {
        Arc::ptr_eq(&self.dentry, &self.mount.root)
    }

    /// Whether the inode is a directory.
    pub fn is_dir(&self) -> bool {
        self.inode().stat().map(|s| crate::types::is_dir(&s)).unwrap_or(false)
    }

    /// Climb out of mounts whose root this is, to the mountpoint beneath.
    pub fn escape_mounts(&self) -> Location {
        let mut cur = self.clone();
        while cur.is_mount_root() {
            match &cur.mount.parent {
                Some((pm, pd)) => cur = Location::new(pm.clone(), pd.clone()),
                None => break,
            }
        }
        cur
    }
}

impl PartialEq for Location {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.mount, &other.mount) && Arc::ptr_eq(&self.dentry, &other.dentry)
    }
}
impl Eq for Location {}

impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Location(mount {}, {:?})", self.mount.id, self.dentry)
    }
}
