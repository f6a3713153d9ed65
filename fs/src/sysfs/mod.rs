//! sysfs: a small synthetic, read-only sysfs (statfs magic SYSFS_MAGIC).
//!
//! What programs read to count CPUs (glibc's `get_nprocs` and
//! `get_nprocs_conf`, Go's and Java's runtimes, `nproc`, `lscpu`):
//!
//! ```text
//! /sys/devices/system/cpu/{online,possible,present}   "0-N" (or "0")
//! /sys/devices/system/cpu/kernel_max                   "63"
//! /sys/devices/system/cpu/cpu0 .. cpuN/                (empty directories)
//! /sys/fs/cgroup/                                      (empty: a mount point)
//! /sys/kernel/                                         (empty)
//! ```
//!
//! N + 1 is the sandbox's CPU count as the Sentry reports it in
//! sched_getaffinity (given to [`SysFs::new`]); `kernel_max` is 63
//! because the Sentry's CPU masks are 64 bits wide.
//!
//! Everything is owned by root: directories 0755, files 0444 (size 4096,
//! as sysfs attributes show). Opening a file for writing gives EACCES
//! (EROFS first on a read-only mount, from the VFS), creating files
//! EACCES, other namespace changes and chmod/chown EPERM.
//!
//! Not there (honest list): devices other than the CPUs (no
//! `/sys/class/net`: the netstack's interfaces are not modelled here, nor
//! `/sys/block`, `/sys/bus`, `/sys/module`, `/sys/firmware`), CPU
//! topology and cpufreq files, uevents, cgroupfs itself.

#[cfg(test)]
mod tests;

use std::any::Any;
use std::sync::Arc;

use abi::{Errno, Stat, SysResult};

use crate::file::FileOps;
use crate::inode::{Filesystem, Inode};
use crate::types::{magic, DirEntry, Owner, SetAttr, StatFs, TimeSpec};

/// The widest CPU mask the Sentry keeps (sched_getaffinity's u64).
const MAX_CPUS: u32 = 64;

enum Kind {
    /// Children, by index into `Tree::nodes`.
    Dir(Vec<usize>),
    File(Vec<u8>),
}

struct Node {
    name: Vec<u8>,
    kind: Kind,
}

/// The whole (immutable) tree of one instance.
struct Tree {
    dev: u64,
    time: TimeSpec,
    nodes: Vec<Node>,
}

impl Tree {
    fn add(&mut self, parent: Option<usize>, name: &str, kind: Kind) -> usize {
        let i = self.nodes.len();
        self.nodes.push(Node { name: name.as_bytes().to_vec(), kind });
        if let Some(p) = parent {
            if let Kind::Dir(c) = &mut self.nodes[p].kind {
                c.push(i);
            }
        }
        i
    }

    fn dir(&mut self, parent: usize, name: &str) -> usize {
        self.add(Some(parent), name, Kind::Dir(Vec::new()))
    }

    fn file(&mut self, parent: usize, name: &str, text: String) {
        self.add(Some(parent), name, Kind::File(text.into_bytes()));
    }
}

/// The kernel's CPU list format: "0" or "0-N".
fn cpu_range(ncpus: u32) -> String {
    if ncpus <= 1 {
        "0\n".into()
    } else {
        format!("0-{}\n", ncpus - 1)
    }
}

/// A sysfs instance (mount it with source "sysfs").
pub struct SysFs {
    root: Arc<SysInode>,
}

impl SysFs {
    /// A sysfs for a sandbox with `ncpus` CPUs (1..=64; clamped).
    pub fn new(ncpus: u32) -> Arc<SysFs> {
        let ncpus = ncpus.clamp(1, MAX_CPUS);
        let mut t = Tree { dev: crate::types::anon_dev(), time: TimeSpec::now(), nodes: Vec::new() };
        let root = t.add(None, "", Kind::Dir(Vec::new()));
        let devices = t.dir(root, "devices");
        let fs = t.dir(root, "fs");
        t.dir(root, "kernel");
        t.dir(fs, "cgroup");
        let system = t.dir(devices, "system");
        let cpu = t.dir(system, "cpu");
        for i in 0..ncpus {
            t.dir(cpu, &format!("cpu{i}"));
        }
        t.file(cpu, "kernel_max", format!("{}\n", MAX_CPUS - 1));
        for name in ["online", "possible", "present"] {
            t.file(cpu, name, cpu_range(ncpus));
        }
        Arc::new(SysFs { root: Arc::new(SysInode { tree: Arc::new(t), idx: root }) })
    }
}

impl Filesystem for SysFs {
    fn fs_type(&self) -> &str {
        "sysfs"
    }
    fn root(&self) -> Arc<dyn Inode> {
        self.root.clone()
    }
}

/// One node of the tree.
pub struct SysInode {
    tree: Arc<Tree>,
    idx: usize,
}

impl SysInode {
    fn node(&self) -> &Node {
        &self.tree.nodes[self.idx]
    }

    fn child(&self, idx: usize) -> Arc<dyn Inode> {
        Arc::new(SysInode { tree: self.tree.clone(), idx })
    }

    fn children(&self) -> Option<&[usize]> {
        match &self.node().kind {
            Kind::Dir(c) => Some(c),
            Kind::File(_) => None,
        }
    }

    /// The errno of a namespace change: `e` in a directory, else ENOTDIR.
    fn dir_only<T>(&self, e: Errno) -> SysResult<T> {
        if self.children().is_some() {
            Err(e)
        } else {
            Err(Errno::ENOTDIR)
        }
    }
}

impl Inode for SysInode {
    fn stat(&self) -> SysResult<Stat> {
        let t = &self.tree;
        let (mode, nlink, size) = match &self.node().kind {
            Kind::Dir(c) => {
                let subdirs = c.iter().filter(|&&i| matches!(t.nodes[i].kind, Kind::Dir(_))).count() as u64;
                (libc::S_IFDIR | 0o755, 2 + subdirs, 0)
            }
            Kind::File(_) => (libc::S_IFREG | 0o444, 1, 4096),
        };
        Ok(Stat {
            dev: t.dev,
            ino: self.idx as u64 + 1,
            nlink,
            mode,
            size,
            blksize: 4096,
            atime: t.time.sec,
            atime_nsec: t.time.nsec,
            mtime: t.time.sec,
            mtime_nsec: t.time.nsec,
            ctime: t.time.sec,
            ctime_nsec: t.time.nsec,
            ..Default::default()
        })
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn lookup(&self, name: &[u8]) -> SysResult<Arc<dyn Inode>> {
        let c = self.children().ok_or(Errno::ENOTDIR)?;
        c.iter().find(|&&i| self.tree.nodes[i].name == name).map(|&i| self.child(i)).ok_or(Errno::ENOENT)
    }

    fn readdir(&self) -> SysResult<Vec<DirEntry>> {
        let c = self.children().ok_or(Errno::ENOTDIR)?;
        let mut v: Vec<DirEntry> = c
            .iter()
            .map(|&i| {
                let n = &self.tree.nodes[i];
                let kind = if matches!(n.kind, Kind::Dir(_)) { libc::DT_DIR } else { libc::DT_REG };
                DirEntry { ino: i as u64 + 1, kind, name: n.name.clone() }
            })
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(v)
    }

    fn create(&self, _name: &[u8], _mode: u32, _owner: Owner) -> SysResult<Arc<dyn Inode>> {
        self.dir_only(Errno::EACCES)
    }

    fn mkdir(&self, _name: &[u8], _mode: u32, _owner: Owner) -> SysResult<Arc<dyn Inode>> {
        self.dir_only(Errno::EPERM)
    }

    fn mknod(&self, _name: &[u8], _mode: u32, _rdev: u64, _owner: Owner) -> SysResult<Arc<dyn Inode>> {
        self.dir_only(Errno::EPERM)
    }

    fn symlink(&self, _name: &[u8], _target: &[u8], _owner: Owner) -> SysResult<Arc<dyn Inode>> {
        self.dir_only(Errno::EPERM)
    }

    fn link(&self, _name: &[u8], _target: &Arc<dyn Inode>) -> SysResult<()> {
        self.dir_only(Errno::EPERM)
    }

    fn unlink(&self, _name: &[u8]) -> SysResult<()> {
        self.dir_only(Errno::EPERM)
    }

    fn rmdir(&self, _name: &[u8]) -> SysResult<()> {
        self.dir_only(Errno::EPERM)
    }

    fn rename(&self, _old: &[u8], _new_dir: &Arc<dyn Inode>, _new: &[u8], _flags: u32) -> SysResult<()> {
        self.dir_only(Errno::EPERM)
    }

    fn setattr(&self, attr: &SetAttr) -> SysResult<Stat> {
        if attr.mode.is_some() || attr.uid.is_some() || attr.gid.is_some() || attr.size.is_some() {
            return Err(Errno::EPERM);
        }
        // Times are not kept.
        self.stat()
    }

    fn open(self: Arc<Self>, flags: i32) -> SysResult<Arc<dyn FileOps>> {
        let Kind::File(data) = &self.node().kind else { return Err(Errno::EISDIR) };
        if flags & libc::O_ACCMODE != libc::O_RDONLY {
            return Err(Errno::EACCES);
        }
        let stat = self.stat()?;
        Ok(Arc::new(AttrFile { data: data.clone(), stat }))
    }

    fn statfs(&self) -> SysResult<StatFs> {
        Ok(StatFs { fs_type: magic::SYSFS, bsize: 4096, namelen: 255, frsize: 4096, ..Default::default() })
    }
}

/// An open sysfs attribute: its (constant) text.
struct AttrFile {
    data: Vec<u8>,
    stat: Stat,
}

impl FileOps for AttrFile {
    fn read(&self, buf: &mut [u8], off: u64) -> SysResult<usize> {
        let Ok(off) = usize::try_from(off) else { return Ok(0) };
        let Some(rest) = self.data.get(off..) else { return Ok(0) };
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        Ok(n)
    }

    fn seek(&self, cur: i64, off: i64, whence: i32) -> SysResult<i64> {
        crate::file::generic_seek(cur, off, whence, self.data.len() as i64)
    }

    fn stat(&self) -> SysResult<Stat> {
        Ok(self.stat)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
