//! Dentries: the VFS's cache of names → inodes, with parent links.
//!
//! The cache holds positive entries only and never evicts (a directory's
//! cached children live as long as it does). Unlink/rmdir/rename through
//! the VFS keep it coherent; changes made behind the Sentry's back (on
//! the host, by another sandbox) are not noticed for cached names.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use abi::SysResult;

use crate::inode::Inode;

/// A name in the tree bound to an inode.
pub struct Dentry {
    id: u64,
    inode: Arc<dyn Inode>,
    name: Mutex<Vec<u8>>,
    parent: Mutex<Option<Arc<Dentry>>>,
    children: Mutex<HashMap<Vec<u8>, Arc<Dentry>>>,
    deleted: AtomicBool,
    /// An O_TMPFILE file opened without O_EXCL: may be linked into the
    /// tree once although it has no name (Linux's I_LINKABLE).
    linkable: AtomicBool,
    cacheable: bool,
}

fn next_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Dentry {
    /// A filesystem root (no parent).
    pub fn new_root(inode: Arc<dyn Inode>, cacheable: bool) -> Arc<Dentry> {
        Arc::new(Dentry {
            id: next_id(),
            inode,
            name: Mutex::new(b"/".to_vec()),
            parent: Mutex::new(None),
            children: Mutex::new(HashMap::new()),
            deleted: AtomicBool::new(false),
            linkable: AtomicBool::new(false),
            cacheable,
        })
    }

    /// A dentry not linked into any directory (O_TMPFILE, anonymous).
    pub fn new_detached(inode: Arc<dyn Inode>, name: &[u8]) -> Arc<Dentry> {
        let d = Dentry::new_root(inode, false);
        *lock(&d.name) = name.to_vec();
        d.deleted.store(true, Ordering::Relaxed);
        d
    }

    /// Whether a nameless file here may still be linked (see `linkable`).
    pub fn is_linkable(&self) -> bool {
        self.linkable.load(Ordering::Relaxed)
    }

    pub fn set_linkable(&self, on: bool) {
        self.linkable.store(on, Ordering::Relaxed);
    }

    /// Unique id (used to key the mount table).
    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn inode(&self) -> &Arc<dyn Inode> {
        &self.inode
    }

    pub fn name(&self) -> Vec<u8> {
        lock(&self.name).clone()
    }

    pub fn parent(&self) -> Option<Arc<Dentry>> {
        lock(&self.parent).clone()
    }

    /// Whether the name was unlinked (getcwd / proc show " (deleted)").
    pub fn is_deleted(&self) -> bool {
        self.deleted.load(Ordering::Relaxed)
    }

    /// Look `name` up, through the cache.
    pub fn child(self: &Arc<Self>, name: &[u8]) -> SysResult<Arc<Dentry>> {
        if self.cacheable {
            if let Some(d) = lock(&self.children).get(name) {
                return Ok(d.clone());
            }
        }
        let inode = self.inode.lookup(name)?;
        Ok(self.add_child(name, inode))
    }

    /// Bind a freshly created or looked-up inode under `name`.
    pub fn add_child(self: &Arc<Self>, name: &[u8], inode: Arc<dyn Inode>) -> Arc<Dentry> {
        let d = Arc::new(Dentry {
            id: next_id(),
            inode,
            name: Mutex::new(name.to_vec()),
            parent: Mutex::new(Some(self.clone())),
            children: Mutex::new(HashMap::new()),
            deleted: AtomicBool::new(false),
            linkable: AtomicBool::new(false),
            cacheable: self.cacheable,
        });
        if self.cacheable {
            let mut c = lock(&self.children);
            // Another thread may have raced us: keep the first.
            return c.entry(name.to_vec()).or_insert(d).clone();
        }
        d
    }

    /// The cached child, if any (no lookup).
    pub fn cached_child(&self, name: &[u8]) -> Option<Arc<Dentry>> {
        lock(&self.children).get(name).cloned()
    }

    /// Forget `name` after it was removed; marks the dentry deleted.
    pub fn remove_child(&self, name: &[u8]) {
        if let Some(d) = lock(&self.children).remove(name) {
            d.deleted.store(true, Ordering::Relaxed);
        }
    }

    /// Mark this dentry deleted (used when the cache did not hold it).
    pub fn mark_deleted(&self) {
        self.deleted.store(true, Ordering::Relaxed);
    }

    /// Update the cache after `old_dir/old` was renamed to `new_dir/new`.
    pub fn moved(old_dir: &Arc<Dentry>, old: &[u8], new_dir: &Arc<Dentry>, new: &[u8], exchange: bool) {
        let moving = lock(&old_dir.children).remove(old);
        let other = lock(&new_dir.children).remove(new);
        if let Some(d) = moving {
            *lock(&d.name) = new.to_vec();
            *lock(&d.parent) = Some(new_dir.clone());
            if new_dir.cacheable {
                lock(&new_dir.children).insert(new.to_vec(), d);
            }
        }
        if let Some(o) = other {
            if exchange {
                *lock(&o.name) = old.to_vec();
                *lock(&o.parent) = Some(old_dir.clone());
                if old_dir.cacheable {
                    lock(&old_dir.children).insert(old.to_vec(), o);
                }
            } else {
                o.deleted.store(true, Ordering::Relaxed);
            }
        }
    }

    /// Whether `self` is `other` or one of its descendants (by dentry
    /// parents, within one filesystem).
    pub fn is_descendant_of(self: &Arc<Self>, other: &Arc<Dentry>) -> bool {
        let mut cur = Some(self.clone());
        while let Some(d) = cur {
            if Arc::ptr_eq(&d, other) {
                return true;
            }
            cur = d.parent();
        }
        false
    }
}

impl std::fmt::Debug for Dentry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Dentry({}, {:?})", self.id, String::from_utf8_lossy(&self.name()))
    }
}
