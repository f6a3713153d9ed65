//! End-to-end: a server on a thread over a socketpair, against a temp dir,
//! driven through the `Client`.

use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;

use abi::Errno;
use gofer::proto::{Request, Response};
use gofer::{serve, Client, Fid, GoferError, ServerOptions, SetAttr, TimeSpec};

struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "gofer-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir(&p).unwrap();
        TempDir(p)
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

struct Fixture {
    dir: TempDir,
    client: Option<Client>,
    server: Option<JoinHandle<Result<(), GoferError>>>,
}

fn open_root(p: &Path) -> OwnedFd {
    fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
        .open(p)
        .unwrap()
        .into()
}

fn start_in(dir: TempDir, read_only: bool) -> Fixture {
    let (c, s) = gofer::socketpair().unwrap();
    let root = open_root(dir.path());
    let server = std::thread::spawn(move || serve(root, s, ServerOptions { read_only }));
    Fixture {
        dir,
        client: Some(Client::new(c)),
        server: Some(server),
    }
}

fn start(read_only: bool) -> Fixture {
    start_in(TempDir::new(), read_only)
}

impl Fixture {
    fn c(&self) -> &Client {
        self.client.as_ref().unwrap()
    }
    fn host(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }
    /// Close the connection; the server must then return Ok.
    fn finish(mut self) {
        drop(self.client.take());
        let r = self.server.take().unwrap().join().unwrap();
        assert!(r.is_ok(), "server: {r:?}");
    }
}

/// Our effective uid and gid (those of a file we create).
fn ids() -> (u32, u32) {
    let probe = TempDir::new();
    let m = fs::metadata(probe.path()).unwrap();
    (m.uid(), m.gid())
}

fn is_root() -> bool {
    ids().0 == 0
}

const S_IFMT: u32 = libc::S_IFMT;

#[test]
fn attach_walk_stat_clunk() {
    let fx = start(false);
    fs::write(fx.host("f"), b"0123456789").unwrap();
    fs::create_dir(fx.host("d")).unwrap();
    fs::write(fx.host("d/g"), b"g").unwrap();
    let c = fx.c();

    let (root, rst) = c.attach().unwrap();
    assert_eq!(rst.mode & S_IFMT, libc::S_IFDIR);
    assert_eq!(rst.ino, fs::metadata(fx.dir.path()).unwrap().ino());

    let (f, fst) = c.walk(root, b"f").unwrap();
    assert_eq!(fst.mode & S_IFMT, libc::S_IFREG);
    assert_eq!(fst.size, 10);
    assert_eq!(c.stat(f).unwrap(), fst);
    assert_eq!(c.stat_at(root, b"f").unwrap().ino, fst.ino);

    let (d, _) = c.walk(root, b"d").unwrap();
    let (g, gst) = c.walk(d, b"g").unwrap();
    assert_eq!(gst.size, 1);
    assert_ne!(g, d);

    assert_eq!(c.walk(root, b"missing").map(|_| ()), Err(Errno::ENOENT));
    assert_eq!(c.stat_at(root, b"missing").map(|_| ()), Err(Errno::ENOENT));
    assert_eq!(c.walk(f, b"x").map(|_| ()), Err(Errno::ENOTDIR));

    c.clunk(g);
    assert_eq!(c.stat(g), Err(Errno::EBADF));
    assert_eq!(c.stat(Fid(999_999)), Err(Errno::EBADF));
    // A second attach gives an independent root fid.
    let (root2, _) = c.attach().unwrap();
    assert_ne!(root2, root);
    c.clunk(root);
    assert!(c.walk(root2, b"f").is_ok());
    fx.finish();
}

#[test]
fn dotdot_slash_and_dot_are_refused() {
    let fx = start(false);
    fs::create_dir(fx.host("a")).unwrap();
    fs::create_dir(fx.host("a/b")).unwrap();
    let c = fx.c();
    let (root, _) = c.attach().unwrap();
    let (a, _) = c.walk(root, b"a").unwrap();
    for bad in [&b".."[..], b"a/b", b".", b"", b"/", b"x\0y"] {
        assert_eq!(c.walk(a, bad).map(|_| ()), Err(Errno::EINVAL), "{bad:?}");
        assert_eq!(c.walk(root, bad).map(|_| ()), Err(Errno::EINVAL), "{bad:?}");
    }
    assert_eq!(
        c.walk(root, &[b'x'; 256]).map(|_| ()),
        Err(Errno::ENAMETOOLONG)
    );
    fx.finish();
}

/// Send raw requests, bypassing the client's own checks: the server must
/// refuse by itself, and survive malformed input.
#[test]
fn server_refuses_bad_names_and_garbage_by_itself() {
    let dir = TempDir::new();
    fs::create_dir(dir.path().join("a")).unwrap();
    let (c, s) = gofer::socketpair().unwrap();
    let root = open_root(dir.path());
    let server = std::thread::spawn(move || serve(root, s, ServerOptions::default()));
    let sock = UnixDatagram::from(c);
    let mut buf = vec![0u8; 70_000];
    let mut call = |msg: &[u8]| -> (u32, Response) {
        sock.send(msg).unwrap();
        let n = sock.recv(&mut buf).unwrap();
        Response::decode(&buf[..n]).unwrap()
    };
    let mut m = Vec::new();
    Request::Attach.encode(1, &mut m);
    let (tag, r) = call(&m);
    assert_eq!(tag, 1);
    let Response::FidStat { fid: root, .. } = r else {
        panic!("{r:?}")
    };
    let (_, r) = call(&{
        let mut m = Vec::new();
        Request::Walk {
            dir: root,
            name: b"a",
        }
        .encode(2, &mut m);
        m
    });
    let Response::FidStat { fid: a, .. } = r else {
        panic!("{r:?}")
    };
    for (i, bad) in [&b".."[..], b"../..", b"a/..", b".", b"", b"x\0"]
        .into_iter()
        .enumerate()
    {
        for dir in [root, a] {
            let mut m = Vec::new();
            Request::Walk { dir, name: bad }.encode(10 + i as u32, &mut m);
            assert_eq!(
                call(&m),
                (10 + i as u32, Response::Error(Errno::EINVAL)),
                "{bad:?}"
            );
            m.clear();
            Request::StatAt { dir, name: bad }.encode(10 + i as u32, &mut m);
            assert_eq!(call(&m).1, Response::Error(Errno::EINVAL), "{bad:?}");
            m.clear();
            Request::Unlink {
                dir,
                name: bad,
                flags: 0,
            }
            .encode(10 + i as u32, &mut m);
            assert_eq!(call(&m).1, Response::Error(Errno::EINVAL), "{bad:?}");
        }
    }
    // Garbage gets EINVAL (with the tag when there is one) and the server
    // keeps serving.
    assert_eq!(
        call(&[7, 0, 0, 0, 250, 1, 2]),
        (7, Response::Error(Errno::EINVAL))
    );
    assert_eq!(call(&[1]), (0, Response::Error(Errno::EINVAL)));
    let mut m = Vec::new();
    Request::Stat { fid: root }.encode(99, &mut m);
    assert!(matches!(call(&m), (99, Response::Stat(_))));
    drop(sock);
    server.join().unwrap().unwrap();
}

#[test]
fn symlinks_are_never_followed() {
    let fx = start(false);
    std::os::unix::fs::symlink("/etc/passwd", fx.host("passwd")).unwrap();
    std::os::unix::fs::symlink("..", fx.host("up")).unwrap();
    std::os::unix::fs::symlink("/", fx.host("slash")).unwrap();
    fs::create_dir(fx.host("d")).unwrap();
    fs::write(fx.host("d/g"), b"").unwrap();
    std::os::unix::fs::symlink("d", fx.host("to_d")).unwrap();
    let c = fx.c();
    let (root, _) = c.attach().unwrap();

    let (l, lst) = c.walk(root, b"passwd").unwrap();
    assert_eq!(lst.mode & S_IFMT, libc::S_IFLNK);
    assert_eq!(lst.size, "/etc/passwd".len() as i64);
    assert_eq!(c.readlink(l).unwrap(), b"/etc/passwd");
    assert_eq!(
        c.stat_at(root, b"passwd").unwrap().mode & S_IFMT,
        libc::S_IFLNK
    );
    for flags in [
        libc::O_RDONLY,
        libc::O_WRONLY,
        libc::O_RDONLY | libc::O_DIRECTORY,
    ] {
        assert_eq!(c.open(l, flags).map(|_| ()), Err(Errno::ELOOP));
    }
    // A link fid is not a directory, whatever it points at.
    for name in [&b"up"[..], b"slash", b"to_d"] {
        let (f, st) = c.walk(root, name).unwrap();
        assert_eq!(st.mode & S_IFMT, libc::S_IFLNK);
        assert_eq!(c.walk(f, b"etc").map(|_| ()), Err(Errno::ENOTDIR));
        assert_eq!(c.walk(f, b"g").map(|_| ()), Err(Errno::ENOTDIR));
        assert_eq!(c.getdents(f).map(|_| ()), Err(Errno::ENOTDIR));
    }
    // readlink of a non-link.
    let (d, _) = c.walk(root, b"d").unwrap();
    assert_eq!(c.readlink(d), Err(Errno::EINVAL));
    fx.finish();
}

#[test]
fn donated_fds_reach_the_real_file() {
    let fx = start(false);
    fs::write(fx.host("f"), b"hello world").unwrap();
    let c = fx.c();
    let (root, _) = c.attach().unwrap();
    let (me_uid, me_gid) = ids();

    // Create, write through the fd, read the host file.
    let (nf, nst, fd) = c
        .create(root, b"new", libc::O_RDWR, 0o640, me_uid, me_gid)
        .unwrap();
    assert_eq!(nst.mode & S_IFMT, libc::S_IFREG);
    assert_eq!(nst.mode & 0o7777, 0o640 & !0o022 & 0o640);
    let mut file = fs::File::from(fd);
    file.write_all(b"written via donated fd").unwrap();
    assert_eq!(fs::read(fx.host("new")).unwrap(), b"written via donated fd");
    file.seek(SeekFrom::Start(0)).unwrap();
    let mut s = String::new();
    file.read_to_string(&mut s).unwrap();
    assert_eq!(s, "written via donated fd");
    assert_eq!(c.stat(nf).unwrap().size, 22);
    assert_eq!(
        c.create(root, b"new", libc::O_RDWR, 0o644, 0, 0)
            .map(|_| ()),
        Err(Errno::EEXIST)
    );
    // The donated fd is close-on-exec.
    assert_eq!(
        fs::read_link(format!(
            "/proc/self/fd/{}",
            std::os::fd::AsRawFd::as_raw_fd(&file)
        ))
        .unwrap(),
        fx.host("new")
    );

    // Open an existing file read-only, then for writing.
    let (f, _) = c.walk(root, b"f").unwrap();
    let mut s = String::new();
    fs::File::from(c.open(f, libc::O_RDONLY).unwrap())
        .read_to_string(&mut s)
        .unwrap();
    assert_eq!(s, "hello world");
    let mut w = fs::File::from(c.open(f, libc::O_WRONLY | libc::O_APPEND).unwrap());
    w.write_all(b"!").unwrap();
    assert_eq!(fs::read(fx.host("f")).unwrap(), b"hello world!");
    assert!(fs::File::from(c.open(f, libc::O_RDONLY).unwrap())
        .write_all(b"x")
        .is_err());
    c.open(f, libc::O_WRONLY | libc::O_TRUNC).unwrap();
    assert_eq!(fs::read(fx.host("f")).unwrap(), b"");

    // Bad flags.
    for bad in [
        libc::O_CREAT,
        libc::O_RDWR | libc::O_EXCL,
        libc::O_PATH,
        libc::O_ACCMODE,
        libc::O_NOFOLLOW,
    ] {
        assert_eq!(c.open(f, bad).map(|_| ()), Err(Errno::EINVAL), "{bad:#o}");
    }
    assert_eq!(
        c.open(f, libc::O_RDONLY | libc::O_DIRECTORY).map(|_| ()),
        Err(Errno::ENOTDIR)
    );
    assert_eq!(
        c.create(root, b"x", libc::O_DIRECTORY, 0o644, 0, 0)
            .map(|_| ()),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        c.create(f, b"x", libc::O_RDWR, 0o644, 0, 0).map(|_| ()),
        Err(Errno::ENOTDIR)
    );

    // Directories open read-only (for getdents by the Sentry), not for write.
    let dfd = c.open(root, libc::O_RDONLY | libc::O_DIRECTORY).unwrap();
    assert!(fs::File::from(dfd).metadata().unwrap().is_dir());
    assert_eq!(c.open(root, libc::O_RDWR).map(|_| ()), Err(Errno::EISDIR));

    // Ownership as asked when we may chown.
    if is_root() {
        let (_, st, _) = c
            .create(root, b"owned", libc::O_WRONLY, 0o600, 1234, 5678)
            .unwrap();
        assert_eq!((st.uid, st.gid), (1234, 5678));
        let m = fs::metadata(fx.host("owned")).unwrap();
        assert_eq!((m.uid(), m.gid()), (1234, 5678));
    }
    fx.finish();
}

#[test]
fn mkdir_symlink_mknod() {
    let fx = start(false);
    let c = fx.c();
    let (root, _) = c.attach().unwrap();
    let (uid, gid) = ids();

    let (d, dst) = c.mkdir(root, b"sub", 0o750, uid, gid).unwrap();
    assert_eq!(dst.mode & S_IFMT, libc::S_IFDIR);
    assert_eq!(dst.mode & 0o777, 0o750);
    assert!(fs::metadata(fx.host("sub")).unwrap().is_dir());
    assert_eq!(
        c.mkdir(root, b"sub", 0o755, uid, gid).map(|_| ()),
        Err(Errno::EEXIST)
    );

    let (l, lst) = c.symlink(d, b"ln", b"../../outside", uid, gid).unwrap();
    assert_eq!(lst.mode & S_IFMT, libc::S_IFLNK);
    assert_eq!(c.readlink(l).unwrap(), b"../../outside");
    assert_eq!(
        fs::read_link(fx.host("sub/ln")).unwrap(),
        Path::new("../../outside")
    );
    assert_eq!(c.open(l, libc::O_RDONLY).map(|_| ()), Err(Errno::ELOOP));

    let (p, pst) = c
        .mknod(d, b"fifo", libc::S_IFIFO | 0o600, uid, gid)
        .unwrap();
    assert_eq!(pst.mode & S_IFMT, libc::S_IFIFO);
    // Opening a FIFO for reading does not block the server.
    let rfd = c.open(p, libc::O_RDONLY).unwrap();
    let w = fs::File::from(c.open(p, libc::O_WRONLY).unwrap());
    (&w).write_all(b"pipe").unwrap();
    drop(w);
    let mut s = String::new();
    fs::File::from(rfd).read_to_string(&mut s).unwrap();
    assert_eq!(s, "pipe");

    assert_eq!(
        c.mknod(d, b"dev", libc::S_IFCHR | 0o600, uid, gid)
            .map(|_| ()),
        Err(Errno::EPERM)
    );
    let (_, rst) = c.mknod(d, b"plain", 0o644, uid, gid).unwrap();
    assert_eq!(rst.mode & S_IFMT, libc::S_IFREG);
    fx.finish();
}

#[test]
fn getdents_lists_entries_with_types() {
    let fx = start(false);
    let c = fx.c();
    let (root, _) = c.attach().unwrap();
    let (uid, gid) = ids();
    assert!(c.getdents(root).unwrap().is_empty());
    c.create(root, b"file", libc::O_WRONLY, 0o644, uid, gid)
        .unwrap();
    c.mkdir(root, b"dir", 0o755, uid, gid).unwrap();
    c.symlink(root, b"link", b"file", uid, gid).unwrap();
    c.mknod(root, b"fifo", libc::S_IFIFO | 0o644, uid, gid)
        .unwrap();
    let mut ents = c.getdents(root).unwrap();
    ents.sort_by(|a, b| a.name.cmp(&b.name));
    let got: Vec<(&[u8], u8)> = ents.iter().map(|e| (&e.name[..], e.kind)).collect();
    assert_eq!(
        got,
        vec![
            (&b"dir"[..], libc::DT_DIR),
            (&b"fifo"[..], libc::DT_FIFO),
            (&b"file"[..], libc::DT_REG),
            (&b"link"[..], libc::DT_LNK),
        ]
    );
    for e in &ents {
        assert_eq!(e.ino, c.stat_at(root, &e.name).unwrap().ino);
    }
    let (f, _) = c.walk(root, b"file").unwrap();
    assert_eq!(c.getdents(f).map(|_| ()), Err(Errno::ENOTDIR));
    fx.finish();
}

#[test]
fn getdents_of_a_big_directory_comes_in_chunks() {
    let dir = TempDir::new();
    let n = 1500;
    for i in 0..n {
        // 200-byte names: ~320 KB of entries, several 64 KiB chunks.
        fs::write(dir.path().join(format!("{i:0>200}")), b"").unwrap();
    }
    let fx = start_in(dir, true);
    let c = fx.c();
    let (root, _) = c.attach().unwrap();
    let (first, next, eof) = c.getdents_chunk(root, 0).unwrap();
    assert!(!eof);
    assert!(!first.is_empty() && first.len() < n);
    assert_ne!(next, 0);
    let all = c.getdents(root).unwrap();
    assert_eq!(all.len(), n);
    let mut names: Vec<Vec<u8>> = all.into_iter().map(|e| e.name).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), n);
    assert_eq!(names[7], format!("{:0>200}", 7).into_bytes());
    fx.finish();
}

#[test]
fn rename_unlink_link_and_nlink() {
    let fx = start(false);
    fs::create_dir(fx.host("d")).unwrap();
    fs::create_dir(fx.host("d/inner")).unwrap();
    let c = fx.c();
    let (root, _) = c.attach().unwrap();
    let (uid, gid) = ids();
    let (d, _) = c.walk(root, b"d").unwrap();
    let (a, ast, _) = c
        .create(root, b"a", libc::O_WRONLY, 0o644, uid, gid)
        .unwrap();
    assert_eq!(ast.nlink, 1);

    c.link(root, b"b", a).unwrap();
    assert_eq!(c.stat(a).unwrap().nlink, 2);
    assert_eq!(fs::metadata(fx.host("b")).unwrap().ino(), ast.ino);
    assert_eq!(c.link(root, b"b", a), Err(Errno::EEXIST));
    assert_eq!(c.link(root, b"dlink", d), Err(Errno::EPERM));

    c.rename(root, b"b", d, b"c", 0).unwrap();
    assert!(!fx.host("b").exists());
    assert_eq!(fs::metadata(fx.host("d/c")).unwrap().ino(), ast.ino);

    c.create(root, b"other", libc::O_WRONLY, 0o644, uid, gid)
        .unwrap();
    assert_eq!(
        c.rename(root, b"other", d, b"c", libc::RENAME_NOREPLACE),
        Err(Errno::EEXIST)
    );
    assert_eq!(c.rename(root, b"other", d, b"c", 0x100), Err(Errno::EINVAL));
    c.rename(root, b"other", d, b"c", libc::RENAME_EXCHANGE)
        .unwrap();
    assert_eq!(fs::metadata(fx.host("other")).unwrap().ino(), ast.ino);
    assert_eq!(c.rename(root, b"nope", d, b"x", 0), Err(Errno::ENOENT));

    c.unlink(root, b"a", 0).unwrap();
    c.unlink(root, b"other", 0).unwrap();
    // The fid outlives its names.
    assert_eq!(c.stat(a).unwrap().nlink, 0);
    assert_eq!(c.unlink(root, b"a", 0), Err(Errno::ENOENT));

    assert_eq!(c.unlink(root, b"d", 0), Err(Errno::EISDIR));
    assert_eq!(
        c.unlink(root, b"d", libc::AT_REMOVEDIR),
        Err(Errno::ENOTEMPTY)
    );
    assert_eq!(c.unlink(d, b"inner", 0x4000), Err(Errno::EINVAL));
    c.unlink(d, b"inner", libc::AT_REMOVEDIR).unwrap();
    assert!(!fx.host("d/inner").exists());
    fx.finish();
}

#[test]
fn setattr_and_statfs() {
    let fx = start(false);
    fs::write(fx.host("f"), b"0123456789").unwrap();
    std::os::unix::fs::symlink("f", fx.host("l")).unwrap();
    let c = fx.c();
    let (root, _) = c.attach().unwrap();
    let (f, before) = c.walk(root, b"f").unwrap();

    assert_eq!(c.setattr(f, &SetAttr::default()).unwrap(), before);
    let st = c
        .setattr(
            f,
            &SetAttr {
                size: Some(4),
                mode: Some(0o600),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(st.size, 4);
    assert_eq!(st.mode & 0o7777, 0o600);
    assert_eq!(fs::read(fx.host("f")).unwrap(), b"0123");
    assert_eq!(
        fs::metadata(fx.host("f")).unwrap().permissions().mode() & 0o7777,
        0o600
    );

    let st = c
        .setattr(
            f,
            &SetAttr {
                atime: Some(TimeSpec {
                    sec: 1_000_000,
                    nsec: 5,
                }),
                mtime: Some(TimeSpec {
                    sec: 2_000_000,
                    nsec: 7,
                }),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        (st.atime, st.atime_nsec, st.mtime, st.mtime_nsec),
        (1_000_000, 5, 2_000_000, 7)
    );
    let st = c
        .setattr(
            f,
            &SetAttr {
                mtime: Some(TimeSpec::NOW),
                atime: Some(TimeSpec::OMIT),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!((st.atime, st.atime_nsec), (1_000_000, 5));
    assert!(st.mtime > 2_000_000);

    if is_root() {
        let st = c
            .setattr(
                f,
                &SetAttr {
                    uid: Some(4321),
                    gid: Some(8765),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!((st.uid, st.gid), (4321, 8765));
        let st = c
            .setattr(
                f,
                &SetAttr {
                    gid: Some(1),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!((st.uid, st.gid), (4321, 1));
    }

    let (l, _) = c.walk(root, b"l").unwrap();
    assert_eq!(
        c.setattr(
            l,
            &SetAttr {
                mode: Some(0o777),
                ..Default::default()
            }
        ),
        Err(Errno::EOPNOTSUPP)
    );
    assert_eq!(
        c.setattr(
            l,
            &SetAttr {
                size: Some(0),
                ..Default::default()
            }
        ),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        c.setattr(
            root,
            &SetAttr {
                size: Some(0),
                ..Default::default()
            }
        ),
        Err(Errno::EISDIR)
    );
    // Times of the link itself, not of its target.
    let lst = c
        .setattr(
            l,
            &SetAttr {
                mtime: Some(TimeSpec { sec: 42, nsec: 0 }),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(lst.mtime, 42);
    assert_ne!(c.stat(f).unwrap().mtime, 42);

    let sfs = c.statfs(root).unwrap();
    assert!(sfs.bsize > 0 && sfs.namelen > 0 && sfs.blocks > 0);
    assert_eq!(c.statfs(f).unwrap().f_type, sfs.f_type);
    fx.finish();
}

#[test]
fn read_only_refuses_every_mutation() {
    let dir = TempDir::new();
    fs::write(dir.path().join("f"), b"data").unwrap();
    fs::create_dir(dir.path().join("d")).unwrap();
    let fx = start_in(dir, true);
    let c = fx.c();
    let (root, _) = c.attach().unwrap();
    let (f, fst) = c.walk(root, b"f").unwrap();
    let rofs = Err(Errno::EROFS);

    assert_eq!(
        c.create(root, b"n", libc::O_RDWR, 0o644, 0, 0).map(|_| ()),
        rofs
    );
    assert_eq!(c.mkdir(root, b"n", 0o755, 0, 0).map(|_| ()), rofs);
    assert_eq!(c.symlink(root, b"n", b"f", 0, 0).map(|_| ()), rofs);
    assert_eq!(
        c.mknod(root, b"n", libc::S_IFIFO | 0o644, 0, 0).map(|_| ()),
        rofs
    );
    assert_eq!(c.link(root, b"n", f), rofs);
    assert_eq!(c.unlink(root, b"f", 0), rofs);
    assert_eq!(c.unlink(root, b"d", libc::AT_REMOVEDIR), rofs);
    assert_eq!(c.rename(root, b"f", root, b"g", 0), rofs);
    assert_eq!(
        c.setattr(
            f,
            &SetAttr {
                size: Some(0),
                ..Default::default()
            }
        )
        .map(|_| ()),
        rofs
    );
    assert_eq!(
        c.setattr(
            f,
            &SetAttr {
                mode: Some(0o777),
                ..Default::default()
            }
        )
        .map(|_| ()),
        rofs
    );
    assert_eq!(
        c.setattr(
            f,
            &SetAttr {
                mtime: Some(TimeSpec::NOW),
                ..Default::default()
            }
        )
        .map(|_| ()),
        rofs
    );
    for flags in [libc::O_WRONLY, libc::O_RDWR, libc::O_RDONLY | libc::O_TRUNC] {
        assert_eq!(c.open(f, flags).map(|_| ()), rofs, "{flags:#o}");
    }
    // Reads still work and nothing changed.
    let mut s = String::new();
    fs::File::from(c.open(f, libc::O_RDONLY).unwrap())
        .read_to_string(&mut s)
        .unwrap();
    assert_eq!(s, "data");
    // (Only atime may have moved, by the read.)
    let after = c.setattr(f, &SetAttr::default()).unwrap();
    assert_eq!(
        (after.size, after.mode, after.mtime, after.mtime_nsec),
        (fst.size, fst.mode, fst.mtime, fst.mtime_nsec)
    );
    let mut names: Vec<_> = c
        .getdents(root)
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    names.sort();
    assert_eq!(names, vec![b"d".to_vec(), b"f".to_vec()]);
    fx.finish();
}

#[test]
fn closed_server_gives_eio_not_a_panic() {
    let (c, s) = gofer::socketpair().unwrap();
    drop(s);
    let client = Client::new(c);
    let clone = client.clone();
    assert_eq!(client.attach().map(|_| ()), Err(Errno::EIO));
    assert_eq!(clone.stat(Fid(1)), Err(Errno::EIO));
    assert_eq!(clone.open(Fid(1), 0).map(|_| ()), Err(Errno::EIO));
    assert_eq!(clone.getdents(Fid(1)).map(|_| ()), Err(Errno::EIO));
    clone.clunk(Fid(1));
    assert!(client.is_broken());

    // A server that goes away mid-session.
    let dir = TempDir::new();
    let (c, s) = gofer::socketpair().unwrap();
    let server_side = UnixDatagram::from(s.try_clone().unwrap());
    let root = open_root(dir.path());
    let h = std::thread::spawn(move || serve(root, s, ServerOptions::default()));
    let client = Client::new(c);
    let (root, _) = client.attach().unwrap();
    server_side.shutdown(std::net::Shutdown::Both).unwrap();
    h.join().unwrap().unwrap();
    assert_eq!(client.stat(root), Err(Errno::EIO));
    assert_eq!(client.walk(root, b"x").map(|_| ()), Err(Errno::EIO));
    assert!(client.is_broken());
}

#[test]
fn many_threads_share_one_client() {
    let fx = start(false);
    for i in 0..8 {
        fs::write(fx.host(&format!("f{i}")), vec![b'x'; i]).unwrap();
    }
    let (root, _) = fx.c().attach().unwrap();
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let c = fx.c().clone();
            std::thread::spawn(move || {
                let name = format!("f{i}");
                for _ in 0..200 {
                    let (f, st) = c.walk(root, name.as_bytes()).unwrap();
                    assert_eq!(st.size, i as i64);
                    let fd = c.open(f, libc::O_RDONLY).unwrap();
                    assert_eq!(fs::File::from(fd).metadata().unwrap().len(), i as u64);
                    c.clunk(f);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    fx.finish();
}

#[test]
fn run_gofer_process_serves_a_path() {
    let dir = TempDir::new();
    fs::write(dir.path().join("hello"), b"hi").unwrap();
    let (c, s) = gofer::socketpair().unwrap();
    let p = dir.path().to_path_buf();
    // No confinement in a test thread (it would confine the test binary).
    let h = std::thread::spawn(move || gofer::run_gofer_process(&p, s, true, || Ok(())));
    let client = Client::new(c);
    let (root, _) = client.attach().unwrap();
    let (f, st) = client.walk(root, b"hello").unwrap();
    assert_eq!(st.size, 2);
    assert_eq!(client.unlink(root, b"hello", 0), Err(Errno::EROFS));
    let _ = f;
    drop(client);
    h.join().unwrap().unwrap();

    let (_c, s) = gofer::socketpair().unwrap();
    let missing = dir.path().join("nope");
    assert!(gofer::run_gofer_process(&missing, s, false, || Ok(())).is_err());
}
