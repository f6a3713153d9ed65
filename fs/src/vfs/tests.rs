//! VFS tests over tmpfs: path walking, symlinks, mounts, permissions.

use std::sync::Arc;

use abi::Errno;

use super::*;
use crate::dirent::decode;
use crate::tmpfs::TmpFs;
use crate::inode::Inode;
use crate::types::{Owner, TimeSpec};

fn setup() -> (Arc<Vfs>, Context) {
    let fs = TmpFs::new(0o755, Owner { uid: 0, gid: 0 });
    let vfs = Vfs::new(fs, MountFlags::default(), "none");
    let ctx = vfs.root_context(Creds::root(), 1);
    (vfs, ctx)
}

const RW: i32 = libc::O_RDWR;
const CREAT: i32 = libc::O_CREAT | libc::O_RDWR;

fn write_file(vfs: &Vfs, ctx: &Context, path: &str, data: &[u8]) {
    let f = vfs.open(ctx, None, path.as_bytes(), CREAT | libc::O_TRUNC, 0o644).unwrap();
    assert_eq!(f.write(data).unwrap(), data.len());
}

fn read_file(vfs: &Vfs, ctx: &Context, path: &str) -> Vec<u8> {
    let f = vfs.open(ctx, None, path.as_bytes(), libc::O_RDONLY, 0).unwrap();
    let mut v = vec![0u8; 4096];
    let n = f.read(&mut v).unwrap();
    v.truncate(n);
    v
}

#[test]
fn create_read_write_and_umask() {
    let (vfs, ctx) = setup();
    write_file(&vfs, &ctx, "/a", b"hello");
    assert_eq!(read_file(&vfs, &ctx, "/a"), b"hello");
    let st = vfs.stat(&ctx, None, b"/a", 0).unwrap();
    assert_eq!(st.mode, libc::S_IFREG | 0o644);
    assert_eq!(st.size, 5);
    assert_eq!(vfs.open(&ctx, None, b"/a", CREAT | libc::O_EXCL, 0o644).err(), Some(Errno::EEXIST));
    vfs.mkdir(&ctx, None, b"/d", 0o777).unwrap();
    assert_eq!(vfs.stat(&ctx, None, b"/d", 0).unwrap().mode, libc::S_IFDIR | 0o755);
    assert_eq!(vfs.mkdir(&ctx, None, b"/d", 0o777), Err(Errno::EEXIST));
    assert_eq!(vfs.mkdir(&ctx, None, b"/", 0o777), Err(Errno::EEXIST));
    assert_eq!(vfs.mkdir(&ctx, None, b"/nope/x", 0o777), Err(Errno::ENOENT));
    assert_eq!(vfs.mkdir(&ctx, None, b"/a/x", 0o777), Err(Errno::ENOTDIR));
    assert_eq!(vfs.stat(&ctx, None, b"/a/", 0).err(), Some(Errno::ENOTDIR));
    assert_eq!(vfs.stat(&ctx, None, b"", 0).err(), Some(Errno::ENOENT));
    assert_eq!(vfs.stat(&ctx, None, b"/d/../d/./", 0).unwrap().ino, vfs.stat(&ctx, None, b"/d", 0).unwrap().ino);
    // Directory nlink counts subdirectories.
    vfs.mkdir(&ctx, None, b"/d/e", 0o755).unwrap();
    assert_eq!(vfs.stat(&ctx, None, b"/d", 0).unwrap().nlink, 3);
}

#[test]
fn append_trunc_and_offsets() {
    let (vfs, ctx) = setup();
    write_file(&vfs, &ctx, "/f", b"0123456789");
    let f = vfs.open(&ctx, None, b"/f", libc::O_WRONLY | libc::O_APPEND, 0).unwrap();
    f.write(b"ab").unwrap();
    assert_eq!(f.seek(0, libc::SEEK_CUR), Ok(12));
    assert_eq!(f.pwrite(b"Z", 0), Ok(1)); // O_APPEND pwrite appends, as Linux
    assert_eq!(read_file(&vfs, &ctx, "/f"), b"0123456789abZ");
    let g = vfs.open(&ctx, None, b"/f", RW, 0).unwrap();
    let mut b = [0u8; 3];
    assert_eq!(g.pread(&mut b, 2), Ok(3));
    assert_eq!(&b, b"234");
    assert_eq!(g.seek(0, libc::SEEK_CUR), Ok(0));
    assert_eq!(g.read(&mut b), Ok(3));
    assert_eq!(g.seek(-1, libc::SEEK_END), Ok(12));
    assert_eq!(f.truncate(1), Err(Errno::EPERM)); // O_APPEND file
    vfs.open(&ctx, None, b"/f", libc::O_WRONLY | libc::O_TRUNC, 0).unwrap();
    assert_eq!(vfs.stat(&ctx, None, b"/f", 0).unwrap().size, 0);
    vfs.truncate(&ctx, None, b"/f", 100).unwrap();
    assert_eq!(vfs.stat(&ctx, None, b"/f", 0).unwrap().size, 100);
    let r = vfs.open(&ctx, None, b"/f", libc::O_RDONLY, 0).unwrap();
    assert_eq!(r.write(b"x"), Err(Errno::EBADF));
    assert_eq!(r.truncate(0), Err(Errno::EINVAL));
}

#[test]
fn symlinks_and_loops() {
    let (vfs, ctx) = setup();
    vfs.mkdir(&ctx, None, b"/d", 0o755).unwrap();
    write_file(&vfs, &ctx, "/d/f", b"x");
    vfs.symlink(&ctx, b"d/f", None, b"/rel").unwrap();
    vfs.symlink(&ctx, b"/d", None, b"/abs").unwrap();
    vfs.symlink(&ctx, b"../d/f", None, b"/d/up").unwrap();
    assert_eq!(read_file(&vfs, &ctx, "/rel"), b"x");
    assert_eq!(read_file(&vfs, &ctx, "/abs/f"), b"x");
    assert_eq!(read_file(&vfs, &ctx, "/abs/up"), b"x");
    assert_eq!(vfs.readlink(&ctx, None, b"/rel").unwrap(), b"d/f");
    assert_eq!(vfs.readlink(&ctx, None, b"/d"), Err(Errno::EINVAL));
    let lst = vfs.stat(&ctx, None, b"/rel", libc::AT_SYMLINK_NOFOLLOW).unwrap();
    assert_eq!(lst.mode & libc::S_IFMT, libc::S_IFLNK);
    // Trailing slash follows even with NOFOLLOW.
    assert!(crate::types::is_dir(&vfs.stat(&ctx, None, b"/abs/", libc::AT_SYMLINK_NOFOLLOW).unwrap()));
    assert_eq!(vfs.open(&ctx, None, b"/rel", libc::O_RDONLY | libc::O_NOFOLLOW, 0).err(), Some(Errno::ELOOP));
    let p = vfs.open(&ctx, None, b"/rel", libc::O_PATH | libc::O_NOFOLLOW, 0).unwrap();
    assert!(p.is_path());
    assert_eq!(p.stat().unwrap().mode & libc::S_IFMT, libc::S_IFLNK);
    vfs.symlink(&ctx, b"/loop2", None, b"/loop1").unwrap();
    vfs.symlink(&ctx, b"/loop1", None, b"/loop2").unwrap();
    assert_eq!(vfs.stat(&ctx, None, b"/loop1", 0).err(), Some(Errno::ELOOP));
    // A chain of exactly 40 links resolves; 41 does not.
    write_file(&vfs, &ctx, "/t0", b"end");
    for i in 1..=41 {
        vfs.symlink(&ctx, format!("/t{}", i - 1).as_bytes(), None, format!("/t{i}").as_bytes()).unwrap();
    }
    assert_eq!(read_file(&vfs, &ctx, "/t40"), b"end");
    assert_eq!(vfs.stat(&ctx, None, b"/t41", 0).err(), Some(Errno::ELOOP));
    // O_CREAT through a dangling symlink creates the target.
    vfs.symlink(&ctx, b"/d/new", None, b"/dangling").unwrap();
    vfs.open(&ctx, None, b"/dangling", CREAT, 0o600).unwrap();
    assert_eq!(vfs.stat(&ctx, None, b"/d/new", 0).unwrap().mode, libc::S_IFREG | 0o600);
    assert_eq!(vfs.open(&ctx, None, b"/rel", CREAT | libc::O_EXCL, 0o600).err(), Some(Errno::EEXIST));
    assert_eq!(vfs.symlink(&ctx, b"", None, b"/e"), Err(Errno::ENOENT));
}

#[test]
fn name_limits() {
    let (vfs, ctx) = setup();
    let long = vec![b'a'; 256];
    assert_eq!(vfs.mkdir(&ctx, None, &long, 0o755), Err(Errno::ENAMETOOLONG));
    assert_eq!(vfs.mkdir(&ctx, None, &long[..255], 0o755), Ok(()));
    let mut path = Vec::new();
    while path.len() < 4096 {
        path.extend_from_slice(b"/x");
    }
    assert_eq!(vfs.stat(&ctx, None, &path, 0).err(), Some(Errno::ENAMETOOLONG));
}

#[test]
fn dotdot_stays_in_root_and_crosses_mounts() {
    let (vfs, ctx) = setup();
    vfs.mkdir(&ctx, None, b"/jail", 0o755).unwrap();
    vfs.mkdir(&ctx, None, b"/jail/sub", 0o755).unwrap();
    vfs.mkdir(&ctx, None, b"/mnt", 0o755).unwrap();
    write_file(&vfs, &ctx, "/secret", b"s");
    let jail = vfs.lookup(&ctx, None, b"/jail", 0).unwrap();
    let mut jctx = ctx.clone();
    jctx.root = jail.clone();
    jctx.cwd = jail.clone();
    assert_eq!(vfs.lookup(&jctx, None, b"../../..", 0).unwrap(), jail);
    assert_eq!(vfs.stat(&jctx, None, b"/../secret", 0).err(), Some(Errno::ENOENT));
    assert_eq!(vfs.getcwd(&jctx).unwrap(), b"/");
    // Mount a second tmpfs and walk across it both ways.
    let other = TmpFs::new(0o1777, Owner { uid: 0, gid: 0 });
    vfs.mount(&ctx, None, b"/mnt", other, MountFlags::default(), "tmpfs").unwrap();
    write_file(&vfs, &ctx, "/mnt/inner", b"in");
    let m = vfs.lookup(&ctx, None, b"/mnt", 0).unwrap();
    assert!(m.is_mount_root());
    assert_eq!(vfs.stat(&ctx, None, b"/mnt", 0).unwrap().mode & 0o7777, 0o1777);
    assert_eq!(vfs.lookup(&ctx, None, b"/mnt/..", 0).unwrap(), vfs.root());
    assert_eq!(read_file(&vfs, &ctx, "/mnt/../mnt/inner"), b"in");
    let inner = vfs.lookup(&ctx, None, b"/mnt/inner", 0).unwrap();
    assert_eq!(vfs.path_from(&ctx.root, &inner).0, b"/mnt/inner");
    // Cross-mount link and rename give EXDEV; mountpoints are busy.
    assert_eq!(vfs.link(&ctx, None, b"/secret", None, b"/mnt/l", 0), Err(Errno::EXDEV));
    assert_eq!(vfs.rename(&ctx, None, b"/secret", None, b"/mnt/s", 0), Err(Errno::EXDEV));
    assert_eq!(vfs.rmdir(&ctx, None, b"/mnt"), Err(Errno::EBUSY));
    let text = vfs.mounts_text(&ctx.root);
    assert!(text.contains("none / tmpfs rw 0 0\n"), "{text}");
    assert!(text.contains("tmpfs /mnt tmpfs rw 0 0\n"), "{text}");
    vfs.umount(&ctx, None, b"/mnt").unwrap();
    assert_eq!(vfs.stat(&ctx, None, b"/mnt/inner", 0).err(), Some(Errno::ENOENT));
}

#[test]
fn readonly_mount() {
    let (vfs, ctx) = setup();
    vfs.mkdir(&ctx, None, b"/ro", 0o755).unwrap();
    let fs = TmpFs::new(0o755, Owner { uid: 0, gid: 0 });
    let l = vfs.mount(&ctx, None, b"/ro", fs.clone(), MountFlags { readonly: true, ..Default::default() }, "x").unwrap();
    // Populate through the inode directly.
    fs.root_inode().create(b"f", 0o644, Owner { uid: 0, gid: 0 }).unwrap();
    let _ = l;
    assert_eq!(vfs.mkdir(&ctx, None, b"/ro/d", 0o755), Err(Errno::EROFS));
    assert_eq!(vfs.mkdir(&ctx, None, b"/ro/f", 0o755), Err(Errno::EEXIST));
    assert_eq!(vfs.open(&ctx, None, b"/ro/f", RW, 0).err(), Some(Errno::EROFS));
    assert!(vfs.open(&ctx, None, b"/ro/f", libc::O_RDONLY, 0).is_ok());
    assert_eq!(vfs.unlink(&ctx, None, b"/ro/f"), Err(Errno::EROFS));
    assert_eq!(vfs.access(&ctx, None, b"/ro/f", 2, 0), Err(Errno::EROFS));
    assert_eq!(vfs.chmod(&ctx, None, b"/ro/f", 0o600, 0), Err(Errno::EROFS));
    assert_ne!(vfs.statfs(&ctx, None, b"/ro", 0).unwrap().flags & libc::ST_RDONLY as i64, 0);
}

#[test]
fn unlink_rmdir_errors() {
    let (vfs, ctx) = setup();
    vfs.mkdir(&ctx, None, b"/d", 0o755).unwrap();
    write_file(&vfs, &ctx, "/d/f", b"");
    assert_eq!(vfs.rmdir(&ctx, None, b"/d"), Err(Errno::ENOTEMPTY));
    assert_eq!(vfs.unlink(&ctx, None, b"/d"), Err(Errno::EISDIR));
    assert_eq!(vfs.rmdir(&ctx, None, b"/d/f"), Err(Errno::ENOTDIR));
    assert_eq!(vfs.unlink(&ctx, None, b"/d/f/"), Err(Errno::ENOTDIR));
    assert_eq!(vfs.rmdir(&ctx, None, b"/d/."), Err(Errno::EINVAL));
    assert_eq!(vfs.rmdir(&ctx, None, b"/d/.."), Err(Errno::ENOTEMPTY));
    assert_eq!(vfs.rmdir(&ctx, None, b"/"), Err(Errno::EBUSY));
    assert_eq!(vfs.unlink(&ctx, None, b"/d/nope"), Err(Errno::ENOENT));
    let keep = vfs.open(&ctx, None, b"/d/f", RW, 0).unwrap();
    vfs.unlink(&ctx, None, b"/d/f").unwrap();
    // The open file lives on with nlink 0, and its path shows deleted.
    assert_eq!(keep.write(b"still"), Ok(5));
    assert_eq!(keep.stat().unwrap().nlink, 0);
    assert_eq!(vfs.proc_path(&ctx.root, keep.location().unwrap()), b"/d/f (deleted)");
    vfs.rmdir(&ctx, None, b"/d").unwrap();
    assert_eq!(vfs.stat(&ctx, None, b"/d", 0).err(), Some(Errno::ENOENT));
    assert_eq!(vfs.stat(&ctx, None, b"/", 0).unwrap().nlink, 2);
}

#[test]
fn rename_semantics() {
    let (vfs, ctx) = setup();
    vfs.mkdir(&ctx, None, b"/a", 0o755).unwrap();
    vfs.mkdir(&ctx, None, b"/a/b", 0o755).unwrap();
    vfs.mkdir(&ctx, None, b"/e", 0o755).unwrap();
    write_file(&vfs, &ctx, "/f", b"F");
    write_file(&vfs, &ctx, "/g", b"G");
    assert_eq!(vfs.rename(&ctx, None, b"/a", None, b"/a/b/c", 0), Err(Errno::EINVAL));
    assert_eq!(vfs.rename(&ctx, None, b"/f", None, b"/e", 0), Err(Errno::EISDIR));
    assert_eq!(vfs.rename(&ctx, None, b"/e", None, b"/f", 0), Err(Errno::ENOTDIR));
    assert_eq!(vfs.rename(&ctx, None, b"/e", None, b"/a", 0), Err(Errno::ENOTEMPTY));
    assert_eq!(vfs.rename(&ctx, None, b"/f", None, b"/g", crate::vfs::RENAME_NOREPLACE), Err(Errno::EEXIST));
    assert_eq!(vfs.rename(&ctx, None, b"/f", None, b"/zz", crate::vfs::RENAME_EXCHANGE), Err(Errno::ENOENT));
    assert_eq!(vfs.rename(&ctx, None, b"/f", None, b"/g", 3), Err(Errno::EINVAL));
    assert_eq!(vfs.rename(&ctx, None, b"/.", None, b"/x", 0), Err(Errno::EBUSY));
    vfs.rename(&ctx, None, b"/f", None, b"/g", crate::vfs::RENAME_EXCHANGE).unwrap();
    assert_eq!(read_file(&vfs, &ctx, "/f"), b"G");
    assert_eq!(read_file(&vfs, &ctx, "/g"), b"F");
    vfs.rename(&ctx, None, b"/f", None, b"/g", 0).unwrap();
    assert_eq!(read_file(&vfs, &ctx, "/g"), b"G");
    assert_eq!(vfs.stat(&ctx, None, b"/f", 0).err(), Some(Errno::ENOENT));
    // Moving a directory keeps cached children reachable and fixes nlink.
    let b = vfs.lookup(&ctx, None, b"/a/b", 0).unwrap();
    vfs.rename(&ctx, None, b"/a/b", None, b"/e/b2", 0).unwrap();
    assert_eq!(vfs.path_from(&ctx.root, &b).0, b"/e/b2");
    assert_eq!(vfs.stat(&ctx, None, b"/a", 0).unwrap().nlink, 2);
    assert_eq!(vfs.stat(&ctx, None, b"/e", 0).unwrap().nlink, 3);
    // Renaming over an empty directory works.
    vfs.mkdir(&ctx, None, b"/empty", 0o755).unwrap();
    vfs.rename(&ctx, None, b"/e/b2", None, b"/empty", 0).unwrap();
    assert!(vfs.lookup(&ctx, None, b"/empty", 0).unwrap() == b);
}

#[test]
fn hard_links_and_tmpfile() {
    let (vfs, ctx) = setup();
    write_file(&vfs, &ctx, "/f", b"data");
    vfs.link(&ctx, None, b"/f", None, b"/h", 0).unwrap();
    assert_eq!(vfs.stat(&ctx, None, b"/f", 0).unwrap().nlink, 2);
    assert_eq!(vfs.link(&ctx, None, b"/f", None, b"/h", 0), Err(Errno::EEXIST));
    assert_eq!(vfs.link(&ctx, None, b"/", None, b"/dirlink", 0), Err(Errno::EPERM));
    vfs.unlink(&ctx, None, b"/f").unwrap();
    assert_eq!(read_file(&vfs, &ctx, "/h"), b"data");
    assert_eq!(vfs.stat(&ctx, None, b"/h", 0).unwrap().nlink, 1);
    let t = vfs.open(&ctx, None, b"/", libc::O_TMPFILE | libc::O_RDWR, 0o600).unwrap();
    t.write(b"tmp").unwrap();
    assert_eq!(t.stat().unwrap().nlink, 0);
    assert_eq!(vfs.open(&ctx, None, b"/", libc::O_TMPFILE | libc::O_RDONLY, 0o600).err(), Some(Errno::EINVAL));
    let tl = t.location().unwrap().clone();
    vfs.link(&ctx, Some(&tl), b"", None, b"/named", libc::AT_EMPTY_PATH).unwrap();
    assert_eq!(read_file(&vfs, &ctx, "/named"), b"tmp");
}

#[test]
fn permissions() {
    let (vfs, root) = setup();
    vfs.mkdir(&root, None, b"/priv", 0o700).unwrap();
    write_file(&vfs, &root, "/priv/f", b"x");
    vfs.mkdir(&root, None, b"/pub", 0o777).unwrap();
    vfs.chmod(&root, None, b"/pub", 0o1777, 0).unwrap();
    let mut user = vfs.root_context(Creds::user(1000, 1000), 2);
    user.umask = 0o022;
    assert_eq!(vfs.stat(&user, None, b"/priv/f", 0).err(), Some(Errno::EACCES));
    assert_eq!(vfs.open(&user, None, b"/priv/g", CREAT, 0o644).err(), Some(Errno::EACCES));
    assert_eq!(vfs.access(&user, None, b"/priv", 4, 0), Err(Errno::EACCES));
    assert_eq!(vfs.access(&user, None, b"/pub", 7, 0), Ok(()));
    // Sticky /pub: another user cannot remove my file.
    write_file(&vfs, &user, "/pub/mine", b"");
    assert_eq!(vfs.stat(&user, None, b"/pub/mine", 0).unwrap().uid, 1000);
    let other = vfs.root_context(Creds::user(1001, 1001), 3);
    assert_eq!(vfs.unlink(&other, None, b"/pub/mine"), Err(Errno::EPERM));
    assert_eq!(vfs.chmod(&other, None, b"/pub/mine", 0o777, 0), Err(Errno::EPERM));
    assert_eq!(vfs.chown(&user, None, b"/pub/mine", 0, u32::MAX, 0), Err(Errno::EPERM));
    assert_eq!(vfs.open(&other, None, b"/pub/mine", libc::O_WRONLY, 0).err(), Some(Errno::EACCES));
    // Explicit times need ownership; "now" needs write permission.
    let t = Some([TimeSpec { sec: 5, nsec: 0 }, TimeSpec { sec: 6, nsec: 0 }]);
    assert_eq!(vfs.utimens(&other, None, b"/pub/mine", t, 0), Err(Errno::EPERM));
    assert_eq!(vfs.utimens(&other, None, b"/pub/mine", None, 0), Err(Errno::EACCES));
    vfs.utimens(&user, None, b"/pub/mine", t, 0).unwrap();
    let st = vfs.stat(&user, None, b"/pub/mine", 0).unwrap();
    assert_eq!((st.atime, st.mtime), (5, 6));
    assert_eq!(vfs.utimens(&user, None, b"/pub/mine", Some([TimeSpec { sec: 0, nsec: -1 }; 2]), 0), Err(Errno::EINVAL));
    vfs.unlink(&user, None, b"/pub/mine").unwrap();
    // Root chown clears setuid.
    write_file(&vfs, &root, "/s", b"");
    vfs.chmod(&root, None, b"/s", 0o4755, 0).unwrap();
    vfs.chown(&root, None, b"/s", 5, 5, 0).unwrap();
    let st = vfs.stat(&root, None, b"/s", 0).unwrap();
    assert_eq!((st.uid, st.gid, st.mode & 0o7777), (5, 5, 0o755));
    assert_eq!(vfs.mknod(&user, None, b"/pub/dev", libc::S_IFCHR | 0o600, 0), Err(Errno::EPERM));
}

#[test]
fn getdents_cookies_and_rewind() {
    let (vfs, ctx) = setup();
    vfs.mkdir(&ctx, None, b"/d", 0o755).unwrap();
    for i in 0..10 {
        write_file(&vfs, &ctx, &format!("/d/file{i}"), b"");
    }
    let d = vfs.open(&ctx, None, b"/d", libc::O_RDONLY | libc::O_DIRECTORY, 0).unwrap();
    let mut names = Vec::new();
    loop {
        let b = d.getdents64(100).unwrap();
        if b.is_empty() {
            break;
        }
        for (_, _, _, n) in decode(&b) {
            names.push(String::from_utf8(n).unwrap());
        }
    }
    assert_eq!(names.len(), 12);
    assert_eq!(&names[..2], &[".", ".."]);
    assert!(names.contains(&"file7".to_string()));
    assert_eq!(d.seek(0, libc::SEEK_SET), Ok(0));
    let first = decode(&d.getdents64(4096).unwrap());
    assert_eq!(first.len(), 12);
    // Seek to a cookie resumes there.
    d.seek(first[5].1, libc::SEEK_SET).unwrap();
    let rest = decode(&d.getdents64(4096).unwrap());
    assert_eq!(rest[0].3, first[6].3);
    d.seek(0, libc::SEEK_SET).unwrap();
    assert_eq!(d.getdents64(10).err(), Some(Errno::EINVAL));
    assert_eq!(d.read(&mut [0u8; 4]), Err(Errno::EISDIR));
    assert_eq!(vfs.open(&ctx, None, b"/d", RW, 0).err(), Some(Errno::EISDIR));
    let f = vfs.open(&ctx, None, b"/d/file1", libc::O_RDONLY, 0).unwrap();
    assert_eq!(f.getdents64(4096).err(), Some(Errno::ENOTDIR));
    assert_eq!(vfs.open(&ctx, None, b"/d/file1", libc::O_RDONLY | libc::O_DIRECTORY, 0).err(), Some(Errno::ENOTDIR));
}

#[test]
fn relative_walks_and_empty_path() {
    let (vfs, mut ctx) = setup();
    vfs.mkdir(&ctx, None, b"/w", 0o755).unwrap();
    write_file(&vfs, &ctx, "/w/f", b"1");
    let w = vfs.chdir(&ctx, None, b"/w", 0).unwrap();
    ctx.cwd = w.clone();
    assert_eq!(read_file(&vfs, &ctx, "f"), b"1");
    assert_eq!(vfs.getcwd(&ctx).unwrap(), b"/w");
    let f = vfs.lookup(&ctx, None, b"f", 0).unwrap();
    assert_eq!(vfs.stat(&ctx, Some(&f), b"", libc::AT_EMPTY_PATH).unwrap().size, 1);
    assert_eq!(vfs.stat(&ctx, Some(&f), b"x", 0).err(), Some(Errno::ENOTDIR));
    assert_eq!(vfs.stat(&ctx, Some(&f), b"", 0).err(), Some(Errno::ENOENT));
    assert_eq!(vfs.stat(&ctx, None, b"f", 0x4000_0000).err(), Some(Errno::EINVAL));
    assert_eq!(vfs.chdir(&ctx, None, b"f", 0).err(), Some(Errno::ENOTDIR));
    vfs.rmdir(&ctx, None, b"/w").unwrap_err();
    vfs.unlink(&ctx, None, b"f").unwrap();
    vfs.rmdir(&ctx, None, b"/w").unwrap();
    assert_eq!(vfs.getcwd(&ctx).err(), Some(Errno::ENOENT));
}

#[test]
fn fifo_in_tmpfs() {
    let (vfs, ctx) = setup();
    vfs.mknod(&ctx, None, b"/p", libc::S_IFIFO | 0o666, 0).unwrap();
    assert_eq!(vfs.open(&ctx, None, b"/p", libc::O_WRONLY | libc::O_NONBLOCK, 0).err(), Some(Errno::ENXIO));
    let r = vfs.open(&ctx, None, b"/p", libc::O_RDONLY | libc::O_NONBLOCK, 0).unwrap();
    let w = vfs.open(&ctx, None, b"/p", libc::O_WRONLY, 0).unwrap();
    assert!(w.open_ready());
    w.write(b"hi").unwrap();
    let mut b = [0u8; 4];
    assert_eq!(r.read(&mut b), Ok(2));
    assert_eq!(vfs.stat(&ctx, None, b"/p", 0).unwrap().mode, libc::S_IFIFO | 0o644);
    assert_eq!(r.stat().unwrap().ino, vfs.stat(&ctx, None, b"/p", 0).unwrap().ino);
    vfs.mknod(&ctx, None, b"/c", libc::S_IFCHR | 0o666, crate::device::makedev(1, 3)).unwrap();
    assert_eq!(vfs.open(&ctx, None, b"/c", RW, 0).err(), Some(Errno::ENXIO));
}

/// syscall-tests dirs.rmdir_of_cwd: creating in a removed cwd is ENOENT.
#[test]
fn no_creation_in_a_removed_directory() {
    let (vfs, ctx) = setup();
    vfs.mkdir(&ctx, None, b"/gone", 0o755).unwrap();
    let mut c2 = ctx.clone();
    c2.cwd = vfs.lookup(&ctx, None, b"/gone", 0).unwrap();
    vfs.rmdir(&ctx, None, b"/gone").unwrap();
    assert_eq!(vfs.open(&c2, None, b"new", libc::O_CREAT | libc::O_WRONLY, 0o644).err(), Some(Errno::ENOENT));
    assert_eq!(vfs.mkdir(&c2, None, b"d", 0o755), Err(Errno::ENOENT));
}

/// openat2 RESOLVE_*: scoped walks refuse to leave their directory, and
/// NO_SYMLINKS refuses every symlink.
#[test]
fn resolve_scopes_the_walk() {
    let (vfs, ctx) = setup();
    vfs.mkdir(&ctx, None, b"/d", 0o755).unwrap();
    vfs.mkdir(&ctx, None, b"/d/e", 0o755).unwrap();
    vfs.symlink(&ctx, b"/d", None, b"/d/abs").unwrap();
    vfs.symlink(&ctx, b"e", None, b"/d/rel").unwrap();
    let d = vfs.lookup(&ctx, None, b"/d", 0).unwrap();
    let mut c = ctx.clone();
    c.resolve.beneath = Some(d.clone());
    c.resolve.scoped = true;
    assert!(vfs.lookup(&c, Some(&d), b"e/..", 0).is_ok());
    assert!(vfs.lookup(&c, Some(&d), b"rel", 0).is_ok());
    assert_eq!(vfs.lookup(&c, Some(&d), b"..", 0).err(), Some(Errno::EXDEV));
    assert_eq!(vfs.lookup(&c, Some(&d), b"e/../..", 0).err(), Some(Errno::EXDEV));
    assert_eq!(vfs.lookup(&c, Some(&d), b"/d", 0).err(), Some(Errno::EXDEV));
    assert_eq!(vfs.lookup(&c, Some(&d), b"abs", 0).err(), Some(Errno::EXDEV));
    let mut n = ctx.clone();
    n.resolve.no_symlinks = true;
    assert_eq!(vfs.lookup(&n, None, b"/d/rel", 0).err(), Some(Errno::ELOOP));
    assert!(vfs.lookup(&n, None, b"/d/rel", libc::AT_SYMLINK_NOFOLLOW).is_ok());
}

#[test]
fn remount_readonly_refuses_writes_after_setup() {
    let (vfs, ctx) = setup();
    vfs.mkdir(&ctx, None, b"/mnt", 0o755).unwrap();
    vfs.root().mount.remount_readonly();
    assert_eq!(vfs.mkdir(&ctx, None, b"/other", 0o755), Err(Errno::EROFS));
    assert_eq!(vfs.open(&ctx, None, b"/f", libc::O_CREAT | libc::O_WRONLY, 0o644).err(), Some(Errno::EROFS));
    assert!(vfs.mounts_text(&vfs.root()).contains(" ro"));
}
