//! A server whose root is a regular file (a file bind mount): that file
//! is served, and nothing else can be reached from it.

use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use abi::Errno;

use super::{serve, Server, ServerOptions};
use crate::{Client, Fid, SetAttr};

struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "gofer-file-root-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn open_path(p: &Path) -> OwnedFd {
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH)
        .open(p)
        .unwrap()
        .into()
}

/// A server on `file` in a thread; the client and the root fid.
fn serve_file(file: &Path, read_only: bool) -> (Client, Fid, std::thread::JoinHandle<()>) {
    let (c, s) = crate::socketpair().unwrap();
    let root = open_path(file);
    let h = std::thread::spawn(move || serve(root, s, ServerOptions { read_only }).unwrap());
    let client = Client::new(c);
    let (fid, _) = client.attach().unwrap();
    (client, fid, h)
}

fn read_all(fd: OwnedFd) -> Vec<u8> {
    let mut f = std::fs::File::from(fd);
    f.seek(SeekFrom::Start(0)).unwrap();
    let mut v = Vec::new();
    f.read_to_end(&mut v).unwrap();
    v
}

#[test]
fn a_file_root_serves_the_live_host_file() {
    let d = TempDir::new();
    let file = d.0.join("hosts");
    std::fs::write(&file, b"127.0.0.1 localhost\n").unwrap();
    let (c, root, h) = serve_file(&file, false);

    let st = c.stat(root).unwrap();
    let host = std::fs::metadata(&file).unwrap();
    assert_eq!(st.file_type(), libc::S_IFREG);
    assert_eq!((st.ino, st.size), (host.ino(), 20));

    // Reads see the host's current content, through the same fd too.
    let r = c.open(root, libc::O_RDONLY).unwrap();
    let mut r = std::fs::File::from(r);
    let mut first = Vec::new();
    r.read_to_end(&mut first).unwrap();
    assert_eq!(first, b"127.0.0.1 localhost\n");
    std::fs::write(&file, b"changed on the host\n").unwrap();
    r.seek(SeekFrom::Start(0)).unwrap();
    let mut again = Vec::new();
    r.read_to_end(&mut again).unwrap();
    assert_eq!(again, b"changed on the host\n");
    assert_eq!(c.stat(root).unwrap().size, 20);

    // Writes reach the host file.
    let w = c.open(root, libc::O_WRONLY | libc::O_TRUNC).unwrap();
    std::fs::File::from(w)
        .write_all(b"from the sandbox")
        .unwrap();
    assert_eq!(std::fs::read(&file).unwrap(), b"from the sandbox");
    let st = c
        .setattr(
            root,
            &SetAttr {
                size: Some(4),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(st.size, 4);
    assert_eq!(std::fs::read(&file).unwrap(), b"from");
    assert_eq!(read_all(c.open(root, libc::O_RDWR).unwrap()), b"from");
    assert!(c.statfs(root).unwrap().bsize > 0);
    drop(c);
    h.join().unwrap();
}

#[test]
fn nothing_beyond_a_file_root_is_reachable() {
    let d = TempDir::new();
    let file = d.0.join("f");
    std::fs::write(&file, b"x").unwrap();
    std::fs::write(d.0.join("secret"), b"s").unwrap();
    let (c, root, h) = serve_file(&file, false);

    assert_eq!(c.walk(root, b"secret").map(|_| ()), Err(Errno::ENOTDIR));
    assert_eq!(c.stat_at(root, b"secret").map(|_| ()), Err(Errno::ENOTDIR));
    // ".." never even leaves the client; the server refuses it as well
    // (checked in the `components_are_validated` unit test).
    assert_eq!(c.walk(root, b"..").map(|_| ()), Err(Errno::EINVAL));
    assert_eq!(c.getdents(root).map(|_| ()), Err(Errno::ENOTDIR));
    assert_eq!(
        c.create(root, b"n", libc::O_RDWR, 0o644, 0, 0).map(|_| ()),
        Err(Errno::ENOTDIR)
    );
    assert_eq!(
        c.mkdir(root, b"n", 0o755, 0, 0).map(|_| ()),
        Err(Errno::ENOTDIR)
    );
    assert_eq!(
        c.mknod(root, b"n", libc::S_IFREG | 0o644, 0, 0).map(|_| ()),
        Err(Errno::ENOTDIR)
    );
    assert_eq!(
        c.symlink(root, b"n", b"secret", 0, 0).map(|_| ()),
        Err(Errno::ENOTDIR)
    );
    assert_eq!(c.link(root, b"n", root), Err(Errno::ENOTDIR));
    assert_eq!(c.unlink(root, b"secret", 0), Err(Errno::ENOTDIR));
    assert_eq!(
        c.rename(root, b"secret", root, b"n", 0),
        Err(Errno::ENOTDIR)
    );
    assert_eq!(
        c.open(root, libc::O_RDONLY | libc::O_DIRECTORY).map(|_| ()),
        Err(Errno::ENOTDIR)
    );
    assert_eq!(c.readlink(root), Err(Errno::EINVAL));
    // Nothing changed next to the file.
    let mut names: Vec<_> = std::fs::read_dir(&d.0)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(names, ["f", "secret"]);
    assert_eq!(std::fs::read(d.0.join("secret")).unwrap(), b"s");
    drop(c);
    h.join().unwrap();
}

#[test]
fn a_read_only_file_root_refuses_writes() {
    let d = TempDir::new();
    let file = d.0.join("f");
    std::fs::write(&file, b"keep").unwrap();
    let (c, root, h) = serve_file(&file, true);
    assert_eq!(read_all(c.open(root, libc::O_RDONLY).unwrap()), b"keep");
    for flags in [libc::O_WRONLY, libc::O_RDWR, libc::O_RDONLY | libc::O_TRUNC] {
        assert_eq!(
            c.open(root, flags).map(|_| ()),
            Err(Errno::EROFS),
            "{flags:#x}"
        );
    }
    let attr = SetAttr {
        size: Some(0),
        ..Default::default()
    };
    assert_eq!(c.setattr(root, &attr).map(|_| ()), Err(Errno::EROFS));
    assert_eq!(std::fs::read(&file).unwrap(), b"keep");
    drop(c);
    h.join().unwrap();
}

#[test]
fn other_kinds_of_root_are_refused() {
    let d = TempDir::new();
    let fifo = d.0.join("fifo");
    let dir = open_path(&d.0);
    crate::sys::mknodat(
        std::os::fd::AsFd::as_fd(&dir),
        c"fifo",
        libc::S_IFIFO | 0o600,
    )
    .unwrap();
    let err = Server::new(open_path(&fifo), ServerOptions::default())
        .err()
        .expect("a fifo root must be refused");
    assert!(
        matches!(
            err,
            crate::GoferError::Host {
                errno: Errno::ENOTDIR,
                ..
            }
        ),
        "{err}"
    );
    // A directory and a regular file are fine.
    assert!(Server::new(open_path(&d.0), ServerOptions::default()).is_ok());
    std::fs::write(d.0.join("f"), b"").unwrap();
    assert!(Server::new(open_path(&d.0.join("f")), ServerOptions::default()).is_ok());
}
