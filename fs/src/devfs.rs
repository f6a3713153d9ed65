//! devfs: a tmpfs with the standard character devices and links.
//!
//! Devices are drivers registered on the `Vfs` by number, so a node made
//! with mknod anywhere opens the same driver. /dev/ptmx (5:2) is a node
//! here; its driver and /dev/pts come from [`crate::devpts`]. /dev/tty's
//! driver is supplied by the Sentry (its controlling tty).

use std::any::Any;
use std::sync::Arc;

use abi::{Errno, Stat, SysResult};

use crate::device::{makedev, CharDevice};
use crate::file::FileOps;
use crate::host::sys::getrandom;
use crate::inode::Inode;
use crate::tmpfs::TmpFs;
use crate::types::Owner;
use crate::vfs::{Context, Vfs};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Null,
    Zero,
    Full,
    Random,
}

struct Dev {
    kind: Kind,
    rdev: u64,
}

impl CharDevice for Dev {
    fn open(&self, _ctx: &Context, _flags: i32) -> SysResult<Arc<dyn FileOps>> {
        Ok(Arc::new(DevFile { kind: self.kind, rdev: self.rdev }))
    }
}

struct DevFile {
    kind: Kind,
    rdev: u64,
}

impl FileOps for DevFile {
    fn read(&self, buf: &mut [u8], _off: u64) -> SysResult<usize> {
        match self.kind {
            Kind::Null => Ok(0),
            Kind::Zero | Kind::Full => {
                buf.fill(0);
                Ok(buf.len())
            }
            Kind::Random => getrandom(buf),
        }
    }
    fn write(&self, buf: &[u8], off: u64, _append: bool) -> SysResult<(usize, u64)> {
        match self.kind {
            Kind::Full => Err(Errno::ENOSPC),
            _ => Ok((buf.len(), off)),
        }
    }
    fn seek(&self, _cur: i64, _off: i64, _whence: i32) -> SysResult<i64> {
        Ok(0)
    }
    fn stat(&self) -> SysResult<Stat> {
        Ok(Stat { mode: libc::S_IFCHR | 0o666, rdev: self.rdev, nlink: 1, blksize: 4096, ..Default::default() })
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Register the memory devices (null 1:3, zero 1:5, full 1:7, random
/// 1:8, urandom 1:9) on `vfs`, and `tty` (5:0) when given.
pub fn register_devices(vfs: &Vfs, tty: Option<Arc<dyn CharDevice>>) {
    for (minor, kind) in [(3, Kind::Null), (5, Kind::Zero), (7, Kind::Full), (8, Kind::Random), (9, Kind::Random)] {
        let rdev = makedev(1, minor);
        vfs.register_device(rdev, Arc::new(Dev { kind, rdev }));
    }
    if let Some(t) = tty {
        vfs.register_device(makedev(5, 0), t);
    }
}

/// A populated devfs (mount it at /dev).
pub fn new_devfs() -> SysResult<Arc<TmpFs>> {
    let root_owner = Owner { uid: 0, gid: 0 };
    let fs = TmpFs::with_type("devtmpfs", 0o755, root_owner);
    let root = fs.root_inode();
    for (name, minor) in [("null", 3), ("zero", 5), ("full", 7), ("random", 8), ("urandom", 9)] {
        root.mknod(name.as_bytes(), libc::S_IFCHR | 0o666, makedev(1, minor), root_owner)?;
    }
    root.mknod(b"tty", libc::S_IFCHR | 0o666, makedev(5, 0), root_owner)?;
    root.mknod(b"ptmx", libc::S_IFCHR | 0o666, makedev(5, 2), root_owner)?;
    for (name, target) in [("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")] {
        root.symlink(name.as_bytes(), target.as_bytes(), root_owner)?;
    }
    root.mkdir(b"shm", 0o1777, root_owner)?;
    root.mkdir(b"pts", 0o755, root_owner)?;
    Ok(fs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::creds::Creds;
    use crate::mount::MountFlags;

    #[test]
    fn devices_work() {
        let vfs = Vfs::new(TmpFs::new(0o755, Owner { uid: 0, gid: 0 }), MountFlags::default(), "root");
        let ctx = vfs.root_context(Creds::root(), 1);
        vfs.mkdir(&ctx, None, b"/dev", 0o755).unwrap();
        vfs.mount(&ctx, None, b"/dev", new_devfs().unwrap(), MountFlags { nosuid: true, ..Default::default() }, "devtmpfs").unwrap();
        register_devices(&vfs, None);
        let mut b = [7u8; 16];
        let null = vfs.open(&ctx, None, b"/dev/null", libc::O_RDWR, 0).unwrap();
        assert_eq!(null.read(&mut b), Ok(0));
        assert_eq!(null.write(b"abc"), Ok(3));
        let zero = vfs.open(&ctx, None, b"/dev/zero", libc::O_RDONLY, 0).unwrap();
        assert_eq!(zero.read(&mut b), Ok(16));
        assert_eq!(b, [0u8; 16]);
        let full = vfs.open(&ctx, None, b"/dev/full", libc::O_WRONLY, 0).unwrap();
        assert_eq!(full.write(b"x"), Err(Errno::ENOSPC));
        let r = vfs.open(&ctx, None, b"/dev/urandom", libc::O_RDONLY, 0).unwrap();
        assert_eq!(r.read(&mut b), Ok(16));
        // No tty driver registered.
        assert_eq!(vfs.open(&ctx, None, b"/dev/tty", libc::O_RDWR, 0).err(), Some(Errno::ENXIO));
        assert_eq!(vfs.readlink(&ctx, None, b"/dev/stdout").unwrap(), b"/proc/self/fd/1");
        assert_eq!(vfs.stat(&ctx, None, b"/dev/null", 0).unwrap().rdev, makedev(1, 3));
        // Non-root users can use them too.
        let user = vfs.root_context(Creds::user(1000, 1000), 2);
        assert!(vfs.open(&user, None, b"/dev/null", libc::O_WRONLY, 0).is_ok());
    }
}
