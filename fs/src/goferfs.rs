//! The gofer-backed filesystem: every inode holds a gofer fid; lookups
//! are walks; I/O goes straight to host fds the gofer donates.
//!
//! A gofer rooted at a regular file (a file bind mount) gives a
//! filesystem whose root inode is that file: `Vfs::mount` puts it over a
//! file, and it has nothing below it.
//!
//! Not implemented: opening fifos/sockets/devices that live on the host
//! (ENXIO), xattrs, noticing host-side changes to cached names.

use std::any::Any;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex};

use abi::{Errno, Stat, SysResult};
use gofer::{Dirent, Fid};

use crate::file::FileOps;
use crate::host::HostFile;
use crate::inode::{downcast, Filesystem, Inode};
use crate::types::{magic, DirEntry, Owner, SetAttr, StatFs};
use crate::vfs::Context;

/// The gofer client operations the filesystem needs (implemented by
/// `gofer::Client`; tests may fake it).
pub trait Remote: Send + Sync {
    fn attach(&self) -> SysResult<(Fid, Stat)>;
    fn walk(&self, dir: Fid, name: &[u8]) -> SysResult<(Fid, Stat)>;
    fn stat(&self, fid: Fid) -> SysResult<Stat>;
    fn open(&self, fid: Fid, flags: i32) -> SysResult<OwnedFd>;
    fn create(&self, dir: Fid, name: &[u8], flags: i32, mode: u32, uid: u32, gid: u32) -> SysResult<(Fid, Stat, OwnedFd)>;
    fn mkdir(&self, dir: Fid, name: &[u8], mode: u32, uid: u32, gid: u32) -> SysResult<(Fid, Stat)>;
    fn mknod(&self, dir: Fid, name: &[u8], mode: u32, uid: u32, gid: u32) -> SysResult<(Fid, Stat)>;
    fn symlink(&self, dir: Fid, name: &[u8], target: &[u8], uid: u32, gid: u32) -> SysResult<(Fid, Stat)>;
    fn link(&self, dir: Fid, name: &[u8], target: Fid) -> SysResult<()>;
    fn unlink(&self, dir: Fid, name: &[u8], flags: i32) -> SysResult<()>;
    fn rename(&self, odir: Fid, oname: &[u8], ndir: Fid, nname: &[u8], flags: u32) -> SysResult<()>;
    fn readlink(&self, fid: Fid) -> SysResult<Vec<u8>>;
    fn getdents(&self, dir: Fid) -> SysResult<Vec<Dirent>>;
    fn setattr(&self, fid: Fid, attr: &gofer::SetAttr) -> SysResult<Stat>;
    fn statfs(&self, fid: Fid) -> SysResult<gofer::StatFs>;
    fn clunk(&self, fid: Fid);
}

impl Remote for gofer::Client {
    fn attach(&self) -> SysResult<(Fid, Stat)> {
        gofer::Client::attach(self)
    }
    fn walk(&self, dir: Fid, name: &[u8]) -> SysResult<(Fid, Stat)> {
        gofer::Client::walk(self, dir, name)
    }
    fn stat(&self, fid: Fid) -> SysResult<Stat> {
        gofer::Client::stat(self, fid)
    }
    fn open(&self, fid: Fid, flags: i32) -> SysResult<OwnedFd> {
        gofer::Client::open(self, fid, flags)
    }
    fn create(&self, dir: Fid, name: &[u8], flags: i32, mode: u32, uid: u32, gid: u32) -> SysResult<(Fid, Stat, OwnedFd)> {
        gofer::Client::create(self, dir, name, flags, mode, uid, gid)
    }
    fn mkdir(&self, dir: Fid, name: &[u8], mode: u32, uid: u32, gid: u32) -> SysResult<(Fid, Stat)> {
        gofer::Client::mkdir(self, dir, name, mode, uid, gid)
    }
    fn mknod(&self, dir: Fid, name: &[u8], mode: u32, uid: u32, gid: u32) -> SysResult<(Fid, Stat)> {
        gofer::Client::mknod(self, dir, name, mode, uid, gid)
    }
    fn symlink(&self, dir: Fid, name: &[u8], target: &[u8], uid: u32, gid: u32) -> SysResult<(Fid, Stat)> {
        gofer::Client::symlink(self, dir, name, target, uid, gid)
    }
    fn link(&self, dir: Fid, name: &[u8], target: Fid) -> SysResult<()> {
        gofer::Client::link(self, dir, name, target)
    }
    fn unlink(&self, dir: Fid, name: &[u8], flags: i32) -> SysResult<()> {
        gofer::Client::unlink(self, dir, name, flags)
    }
    fn rename(&self, odir: Fid, oname: &[u8], ndir: Fid, nname: &[u8], flags: u32) -> SysResult<()> {
        gofer::Client::rename(self, odir, oname, ndir, nname, flags)
    }
    fn readlink(&self, fid: Fid) -> SysResult<Vec<u8>> {
        gofer::Client::readlink(self, fid)
    }
    fn getdents(&self, dir: Fid) -> SysResult<Vec<Dirent>> {
        gofer::Client::getdents(self, dir)
    }
    fn setattr(&self, fid: Fid, attr: &gofer::SetAttr) -> SysResult<Stat> {
        gofer::Client::setattr(self, fid, attr)
    }
    fn statfs(&self, fid: Fid) -> SysResult<gofer::StatFs> {
        gofer::Client::statfs(self, fid)
    }
    fn clunk(&self, fid: Fid) {
        gofer::Client::clunk(self, fid)
    }
}

struct Shared {
    remote: Arc<dyn Remote>,
}

/// A filesystem served by a gofer.
pub struct GoferFs {
    root: Arc<GoferInode>,
    read_only_hint: bool,
}

impl GoferFs {
    /// Attach to the gofer's root.
    pub fn new(remote: Arc<dyn Remote>) -> SysResult<Arc<GoferFs>> {
        let (fid, _) = remote.attach()?;
        let shared = Arc::new(Shared { remote });
        Ok(Arc::new(GoferFs { root: GoferInode::new(&shared, fid, None), read_only_hint: false }))
    }
}

impl Filesystem for GoferFs {
    fn fs_type(&self) -> &str {
        "9p"
    }
    fn root(&self) -> Arc<dyn Inode> {
        self.root.clone()
    }
    fn mount_options(&self) -> String {
        if self.read_only_hint { String::new() } else { "trans=fd".into() }
    }
}

/// An inode of a gofer filesystem.
pub struct GoferInode {
    shared: Arc<Shared>,
    fid: Fid,
    /// The fd `create` donated, used by the first open.
    created_fd: Mutex<Option<OwnedFd>>,
}

impl GoferInode {
    fn new(shared: &Arc<Shared>, fid: Fid, fd: Option<OwnedFd>) -> Arc<GoferInode> {
        Arc::new(GoferInode { shared: shared.clone(), fid, created_fd: Mutex::new(fd) })
    }

    fn remote(&self) -> &dyn Remote {
        &*self.shared.remote
    }

    fn child(&self, fid: Fid) -> Arc<dyn Inode> {
        GoferInode::new(&self.shared, fid, None)
    }

    fn peer<'a>(&self, other: &'a Arc<dyn Inode>) -> SysResult<&'a GoferInode> {
        let o = downcast::<GoferInode>(other).ok_or(Errno::EXDEV)?;
        if !Arc::ptr_eq(&o.shared, &self.shared) {
            return Err(Errno::EXDEV);
        }
        Ok(o)
    }
}

impl Drop for GoferInode {
    fn drop(&mut self) {
        self.shared.remote.clunk(self.fid);
    }
}

fn to_gofer_attr(a: &SetAttr) -> gofer::SetAttr {
    let t = |x: Option<crate::types::TimeSpec>| x.map(|t| gofer::TimeSpec { sec: t.sec, nsec: t.nsec });
    gofer::SetAttr { mode: a.mode, uid: a.uid, gid: a.gid, size: a.size, atime: t(a.atime), mtime: t(a.mtime) }
}

impl Inode for GoferInode {
    fn stat(&self) -> SysResult<Stat> {
        self.remote().stat(self.fid)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn lookup(&self, name: &[u8]) -> SysResult<Arc<dyn Inode>> {
        let (fid, _) = self.remote().walk(self.fid, name)?;
        Ok(self.child(fid))
    }
    fn create(&self, name: &[u8], mode: u32, o: Owner) -> SysResult<Arc<dyn Inode>> {
        let (fid, _, fd) = self.remote().create(self.fid, name, libc::O_RDWR | libc::O_CREAT | libc::O_EXCL, mode & 0o7777, o.uid, o.gid)?;
        Ok(GoferInode::new(&self.shared, fid, Some(fd)))
    }
    fn mkdir(&self, name: &[u8], mode: u32, o: Owner) -> SysResult<Arc<dyn Inode>> {
        let (fid, _) = self.remote().mkdir(self.fid, name, mode & 0o7777, o.uid, o.gid)?;
        Ok(self.child(fid))
    }
    fn mknod(&self, name: &[u8], mode: u32, _rdev: u64, o: Owner) -> SysResult<Arc<dyn Inode>> {
        let (fid, _) = self.remote().mknod(self.fid, name, mode, o.uid, o.gid)?;
        Ok(self.child(fid))
    }
    fn symlink(&self, name: &[u8], target: &[u8], o: Owner) -> SysResult<Arc<dyn Inode>> {
        let (fid, _) = self.remote().symlink(self.fid, name, target, o.uid, o.gid)?;
        Ok(self.child(fid))
    }
    fn link(&self, name: &[u8], target: &Arc<dyn Inode>) -> SysResult<()> {
        let t = self.peer(target)?;
        self.remote().link(self.fid, name, t.fid)
    }
    fn unlink(&self, name: &[u8]) -> SysResult<()> {
        self.remote().unlink(self.fid, name, 0)
    }
    fn rmdir(&self, name: &[u8]) -> SysResult<()> {
        self.remote().unlink(self.fid, name, libc::AT_REMOVEDIR)
    }
    fn rename(&self, old: &[u8], new_dir: &Arc<dyn Inode>, new: &[u8], flags: u32) -> SysResult<()> {
        let nd = self.peer(new_dir)?;
        self.remote().rename(self.fid, old, nd.fid, new, flags)
    }
    fn readlink(&self, _ctx: &Context) -> SysResult<Vec<u8>> {
        self.remote().readlink(self.fid)
    }
    fn readdir(&self) -> SysResult<Vec<DirEntry>> {
        Ok(self.remote().getdents(self.fid)?.into_iter().map(|d| DirEntry { ino: d.ino, kind: d.kind, name: d.name }).collect())
    }
    fn setattr(&self, attr: &SetAttr) -> SysResult<Stat> {
        self.remote().setattr(self.fid, &to_gofer_attr(attr))
    }
    fn open(self: Arc<Self>, flags: i32) -> SysResult<Arc<dyn FileOps>> {
        let st = self.stat()?;
        if st.mode & libc::S_IFMT != libc::S_IFREG {
            return Err(Errno::ENXIO);
        }
        let acc = flags & libc::O_ACCMODE;
        let cached = self.created_fd.lock().unwrap_or_else(|e| e.into_inner()).take();
        let fd = match cached {
            Some(fd) => fd,
            None => self.remote().open(self.fid, acc)?,
        };
        Ok(HostFile::new(fd)?)
    }
    fn statfs(&self) -> SysResult<StatFs> {
        let s = self.remote().statfs(self.fid)?;
        Ok(StatFs {
            fs_type: if s.f_type == 0 { magic::V9FS } else { s.f_type as i64 },
            bsize: s.bsize as i64,
            blocks: s.blocks,
            bfree: s.bfree,
            bavail: s.bavail,
            files: s.files,
            ffree: s.ffree,
            namelen: s.namelen as i64,
            frsize: s.frsize as i64,
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::creds::Creds;
    use crate::mount::MountFlags;
    use crate::types::Owner;
    use crate::vfs::Vfs;

    /// A real gofer server on a temp dir, in a thread.
    pub(crate) fn served_dir(tag: &str) -> (std::path::PathBuf, Arc<dyn Remote>) {
        let dir = std::env::temp_dir().join(format!("fs-gofer-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("sub/hello"), b"hello world").unwrap();
        std::os::unix::fs::symlink("sub/hello", dir.join("link")).unwrap();
        let root: OwnedFd = std::fs::File::open(&dir).unwrap().into();
        let (a, b) = gofer::socketpair().unwrap();
        std::thread::spawn(move || gofer::serve(root, a, gofer::ServerOptions::default()));
        (dir, Arc::new(gofer::Client::new(b)))
    }

    #[test]
    fn walk_read_create_rename() {
        let (dir, remote) = served_dir("basic");
        let fs = GoferFs::new(remote).unwrap();
        let vfs = Vfs::new(fs, MountFlags::default(), "/host");
        let ctx = vfs.root_context(Creds::root(), 1);
        // The symlink is resolved by the VFS, not the host.
        let f = vfs.open(&ctx, None, b"/link", libc::O_RDONLY, 0).unwrap();
        let mut b = [0u8; 32];
        assert_eq!(f.read(&mut b), Ok(11));
        assert_eq!(&b[..11], b"hello world");
        assert!(f.ops().host_fd().is_some());
        assert_eq!(vfs.readlink(&ctx, None, b"/link").unwrap(), b"sub/hello");
        let st = vfs.stat(&ctx, None, b"/sub/hello", 0).unwrap();
        let host = std::fs::metadata(dir.join("sub/hello")).unwrap();
        use std::os::unix::fs::MetadataExt;
        assert_eq!((st.ino, st.dev, st.size), (host.ino(), host.dev(), 11));
        let w = vfs.open(&ctx, None, b"/sub/new", libc::O_CREAT | libc::O_WRONLY, 0o600).unwrap();
        w.write(b"created").unwrap();
        assert_eq!(std::fs::read(dir.join("sub/new")).unwrap(), b"created");
        vfs.rename(&ctx, None, b"/sub/new", None, b"/moved", 0).unwrap();
        assert!(dir.join("moved").exists());
        vfs.mkdir(&ctx, None, b"/d", 0o700).unwrap();
        assert_eq!(vfs.rmdir(&ctx, None, b"/sub"), Err(Errno::ENOTEMPTY));
        vfs.unlink(&ctx, None, b"/moved").unwrap();
        assert!(!dir.join("moved").exists());
        let d = vfs.open(&ctx, None, b"/", libc::O_RDONLY | libc::O_DIRECTORY, 0).unwrap();
        let names: Vec<Vec<u8>> = crate::dirent::decode(&d.getdents64(4096).unwrap()).into_iter().map(|e| e.3).collect();
        assert!(names.contains(&b"sub".to_vec()) && names.contains(&b"d".to_vec()) && names.contains(&b"..".to_vec()));
        vfs.truncate(&ctx, None, b"/sub/hello", 5).unwrap();
        assert_eq!(std::fs::read(dir.join("sub/hello")).unwrap(), b"hello");
        assert!(vfs.statfs(&ctx, None, b"/", 0).unwrap().bsize > 0);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A real gofer server rooted at the regular file `path`, in a thread.
    fn served_file(path: &std::path::Path, read_only: bool) -> Arc<dyn Remote> {
        use std::os::unix::fs::OpenOptionsExt;
        let root: OwnedFd = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_PATH).open(path).unwrap().into();
        let (a, b) = gofer::socketpair().unwrap();
        std::thread::spawn(move || gofer::serve(root, a, gofer::ServerOptions { read_only }));
        Arc::new(gofer::Client::new(b))
    }

    #[test]
    fn a_file_root_mounts_over_a_file() {
        use std::os::unix::fs::MetadataExt;
        let dir = std::env::temp_dir().join(format!("fs-gofer-file-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (rw, ro) = (dir.join("rw"), dir.join("ro"));
        std::fs::write(&rw, b"one\n").unwrap();
        std::fs::write(&ro, b"fixed\n").unwrap();

        let fs = GoferFs::new(served_file(&rw, false)).unwrap();
        assert_eq!(fs.root().stat().unwrap().mode & libc::S_IFMT, libc::S_IFREG);
        assert_eq!(fs.root().lookup(b"x").map(|_| ()).err(), Some(Errno::ENOTDIR));

        let vfs = Vfs::new(crate::tmpfs::TmpFs::new(0o755, Owner { uid: 0, gid: 0 }), MountFlags::default(), "none");
        let ctx = vfs.root_context(Creds::root(), 1);
        vfs.mkdir(&ctx, None, b"/etc", 0o755).unwrap();
        for p in [&b"/etc/hosts"[..], b"/etc/ro"] {
            vfs.open(&ctx, None, p, libc::O_RDONLY | libc::O_CREAT, 0o644).unwrap();
        }
        // A file root does not go over a directory.
        assert_eq!(vfs.mount(&ctx, None, b"/etc", fs.clone(), MountFlags::default(), "bind").err(), Some(Errno::ENOTDIR));
        vfs.mount(&ctx, None, b"/etc/hosts", fs, MountFlags::default(), "bind").unwrap();
        let ro_flags = MountFlags { readonly: true, ..Default::default() };
        vfs.mount(&ctx, None, b"/etc/ro", GoferFs::new(served_file(&ro, true)).unwrap(), ro_flags, "bind").unwrap();

        // stat and reads show the host file, as it is now.
        let st = vfs.stat(&ctx, None, b"/etc/hosts", 0).unwrap();
        let host = std::fs::metadata(&rw).unwrap();
        assert_eq!((st.ino, st.dev, st.size), (host.ino(), host.dev(), 4));
        let read = |p: &[u8]| {
            let f = vfs.open(&ctx, None, p, libc::O_RDONLY, 0).unwrap();
            let mut b = vec![0u8; 64];
            let n = f.read(&mut b).unwrap();
            b.truncate(n);
            b
        };
        assert_eq!(read(b"/etc/hosts"), b"one\n");
        std::fs::write(&rw, b"two, from the host\n").unwrap();
        assert_eq!(read(b"/etc/hosts"), b"two, from the host\n");
        assert_eq!(vfs.stat(&ctx, None, b"/etc/hosts", 0).unwrap().size, 19);

        // Writes reach the host file.
        let w = vfs.open(&ctx, None, b"/etc/hosts", libc::O_WRONLY | libc::O_TRUNC, 0).unwrap();
        w.write(b"three\n").unwrap();
        assert_eq!(std::fs::read(&rw).unwrap(), b"three\n");
        let a = vfs.open(&ctx, None, b"/etc/hosts", libc::O_WRONLY | libc::O_APPEND, 0).unwrap();
        a.write(b"four\n").unwrap();
        assert_eq!(std::fs::read(&rw).unwrap(), b"three\nfour\n");

        // Nothing is below a file; the mountpoint is busy.
        assert_eq!(vfs.stat(&ctx, None, b"/etc/hosts/x", 0).err(), Some(Errno::ENOTDIR));
        assert_eq!(vfs.unlink(&ctx, None, b"/etc/hosts"), Err(Errno::EBUSY));

        // The read-only one refuses writes with EROFS and stays as it is.
        assert_eq!(read(b"/etc/ro"), b"fixed\n");
        for flags in [libc::O_WRONLY, libc::O_RDWR, libc::O_RDONLY | libc::O_TRUNC] {
            assert_eq!(vfs.open(&ctx, None, b"/etc/ro", flags, 0).err(), Some(Errno::EROFS), "{flags:#x}");
        }
        assert_eq!(vfs.truncate(&ctx, None, b"/etc/ro", 0), Err(Errno::EROFS));
        assert_eq!(std::fs::read(&ro).unwrap(), b"fixed\n");

        let text = vfs.mounts_text(&ctx.root);
        assert!(text.contains("bind /etc/hosts 9p rw,trans=fd 0 0\n"), "{text}");
        assert!(text.contains("bind /etc/ro 9p ro,trans=fd 0 0\n"), "{text}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
