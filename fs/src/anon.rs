//! Inodes without a filesystem path: the anon mount's root, files
//! reached through magic links, and O_PATH descriptions.

use std::any::Any;
use std::sync::{Arc, Weak};

use abi::{Stat, SysResult};

use crate::file::{File, FileOps};
use crate::inode::{Filesystem, Inode};

/// The filesystem of the anon mount: an empty directory.
pub struct AnonFs {
    root: Arc<dyn Inode>,
}

impl AnonFs {
    pub fn new() -> AnonFs {
        AnonFs { root: Arc::new(AnonRoot { dev: crate::types::anon_dev() }) }
    }
}

impl Default for AnonFs {
    fn default() -> Self {
        Self::new()
    }
}

impl Filesystem for AnonFs {
    fn fs_type(&self) -> &str {
        "anon_inodefs"
    }
    fn root(&self) -> Arc<dyn Inode> {
        self.root.clone()
    }
    fn cache_dentries(&self) -> bool {
        false
    }
}

struct AnonRoot {
    dev: u64,
}

impl Inode for AnonRoot {
    fn stat(&self) -> SysResult<Stat> {
        Ok(Stat { dev: self.dev, ino: 1, nlink: 2, mode: libc::S_IFDIR | 0o500, blksize: 4096, ..Default::default() })
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn readdir(&self) -> SysResult<Vec<crate::types::DirEntry>> {
        Ok(vec![])
    }
    fn lookup(&self, _name: &[u8]) -> SysResult<Arc<dyn Inode>> {
        Err(abi::Errno::ENOENT)
    }
}

/// An inode standing for an open file without a path (reached through
/// /proc/self/fd/N): stat is the file's, opening shares its ops.
pub struct FileInode {
    pub file: Weak<File>,
    ops: Arc<dyn FileOps>,
}

impl FileInode {
    pub fn new(file: &Arc<File>) -> FileInode {
        FileInode { file: Arc::downgrade(file), ops: file.ops().clone() }
    }
}

impl Inode for FileInode {
    fn stat(&self) -> SysResult<Stat> {
        self.ops.stat()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn open(self: Arc<Self>, _flags: i32) -> SysResult<Arc<dyn FileOps>> {
        Ok(self.ops.clone())
    }
}

/// The ops of an O_PATH description: fstat only.
pub struct PathOps {
    pub inode: Arc<dyn Inode>,
}

impl FileOps for PathOps {
    fn read(&self, _buf: &mut [u8], _off: u64) -> SysResult<usize> {
        Err(abi::Errno::EBADF)
    }
    fn write(&self, _buf: &[u8], _off: u64, _append: bool) -> SysResult<(usize, u64)> {
        Err(abi::Errno::EBADF)
    }
    fn stat(&self) -> SysResult<Stat> {
        self.inode.stat()
    }
    fn readdir(&self) -> SysResult<Vec<crate::types::DirEntry>> {
        Err(abi::Errno::EBADF)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}
