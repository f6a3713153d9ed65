//! Overlay tests: tmpfs lower and upper.

use std::sync::Arc;

use abi::Errno;

use super::*;
use crate::creds::Creds;
use crate::mount::MountFlags;
use crate::tmpfs::TmpFs;
use crate::vfs::Vfs;

fn setup() -> (Arc<Vfs>, Context, Arc<TmpFs>, Arc<TmpFs>) {
    let root = Owner { uid: 0, gid: 0 };
    let lower = TmpFs::new(0o755, root);
    let upper = TmpFs::new(0o755, root);
    // Populate the lower through its own VFS.
    let lv = Vfs::new(lower.clone(), MountFlags::default(), "lower");
    let lc = lv.root_context(Creds::root(), 1);
    lv.mkdir(&lc, None, b"/etc", 0o755).unwrap();
    lv.mkdir(&lc, None, b"/etc/sub", 0o755).unwrap();
    let f = lv.open(&lc, None, b"/etc/passwd", libc::O_CREAT | libc::O_WRONLY, 0o644).unwrap();
    f.write(b"root:x:0:0").unwrap();
    lv.symlink(&lc, b"passwd", None, b"/etc/link").unwrap();
    lv.chown(&lc, None, b"/etc/passwd", 7, 8, 0).unwrap();
    let ov = OverlayFs::new(upper.root_inode(), lower.root_inode());
    let vfs = Vfs::new(ov, MountFlags::default(), "overlay");
    let ctx = vfs.root_context(Creds::root(), 1);
    (vfs, ctx, lower, upper)
}

fn read(vfs: &Vfs, ctx: &Context, p: &[u8]) -> Vec<u8> {
    let f = vfs.open(ctx, None, p, libc::O_RDONLY, 0).unwrap();
    let mut b = vec![0u8; 256];
    let n = f.read(&mut b).unwrap();
    b.truncate(n);
    b
}

fn names(vfs: &Vfs, ctx: &Context, p: &[u8]) -> Vec<String> {
    let d = vfs.open(ctx, None, p, libc::O_RDONLY | libc::O_DIRECTORY, 0).unwrap();
    let mut v: Vec<String> = crate::dirent::decode(&d.getdents64(8192).unwrap()).into_iter().map(|e| String::from_utf8(e.3).unwrap()).filter(|n| n != "." && n != "..").collect();
    v.sort();
    v
}

#[test]
fn copy_up_on_write_keeps_lower_intact() {
    let (vfs, ctx, lower, upper) = setup();
    let before = vfs.stat(&ctx, None, b"/etc/passwd", 0).unwrap();
    assert_eq!(read(&vfs, &ctx, b"/etc/link"), b"root:x:0:0");
    let f = vfs.open(&ctx, None, b"/etc/passwd", libc::O_WRONLY | libc::O_APPEND, 0).unwrap();
    f.write(b"\nme").unwrap();
    assert_eq!(read(&vfs, &ctx, b"/etc/passwd"), b"root:x:0:0\nme");
    let after = vfs.stat(&ctx, None, b"/etc/passwd", 0).unwrap();
    assert_eq!((after.ino, after.uid, after.gid, after.mode), (before.ino, 7, 8, before.mode));
    // Lower untouched; upper holds the copy.
    let lf = lower.root_inode().lookup(b"etc").unwrap().lookup(b"passwd").unwrap();
    assert_eq!(lf.stat().unwrap().size, 10);
    let uf = upper.root_inode().lookup(b"etc").unwrap().lookup(b"passwd").unwrap();
    assert_eq!(uf.stat().unwrap().size, 13);
    // chmod copies up a lower-only file too.
    vfs.chmod(&ctx, None, b"/etc/sub", 0o700, 0).unwrap();
    assert_eq!(vfs.stat(&ctx, None, b"/etc/sub", 0).unwrap().mode & 0o7777, 0o700);
    assert_eq!(lower.root_inode().lookup(b"etc").unwrap().lookup(b"sub").unwrap().stat().unwrap().mode & 0o7777, 0o755);
}

#[test]
fn whiteouts_and_opaque_dirs() {
    let (vfs, ctx, lower, _upper) = setup();
    vfs.unlink(&ctx, None, b"/etc/passwd").unwrap();
    assert_eq!(vfs.stat(&ctx, None, b"/etc/passwd", 0).err(), Some(Errno::ENOENT));
    assert_eq!(names(&vfs, &ctx, b"/etc"), vec!["link", "sub"]);
    assert!(lower.root_inode().lookup(b"etc").unwrap().lookup(b"passwd").is_ok());
    // Recreate over the whiteout.
    let f = vfs.open(&ctx, None, b"/etc/passwd", libc::O_CREAT | libc::O_WRONLY, 0o600).unwrap();
    f.write(b"new").unwrap();
    assert_eq!(read(&vfs, &ctx, b"/etc/passwd"), b"new");
    assert_eq!(names(&vfs, &ctx, b"/etc"), vec!["link", "passwd", "sub"]);
    // rmdir of a lower dir, then mkdir again: the new dir is opaque.
    let l2 = Vfs::new(lower.clone(), MountFlags::default(), "l");
    let lc = l2.root_context(Creds::root(), 1);
    l2.open(&lc, None, b"/etc/sub/inner", libc::O_CREAT | libc::O_WRONLY, 0o644).unwrap();
    assert_eq!(vfs.rmdir(&ctx, None, b"/etc/sub"), Err(Errno::ENOTEMPTY));
    vfs.unlink(&ctx, None, b"/etc/sub/inner").unwrap();
    vfs.rmdir(&ctx, None, b"/etc/sub").unwrap();
    assert_eq!(vfs.stat(&ctx, None, b"/etc/sub", 0).err(), Some(Errno::ENOENT));
    vfs.mkdir(&ctx, None, b"/etc/sub", 0o755).unwrap();
    assert!(names(&vfs, &ctx, b"/etc/sub").is_empty());
    assert_eq!(vfs.unlink(&ctx, None, b"/etc/nope"), Err(Errno::ENOENT));
}

#[test]
fn rename_and_link() {
    let (vfs, ctx, _lower, _upper) = setup();
    vfs.rename(&ctx, None, b"/etc/passwd", None, b"/passwd2", 0).unwrap();
    assert_eq!(read(&vfs, &ctx, b"/passwd2"), b"root:x:0:0");
    assert_eq!(vfs.stat(&ctx, None, b"/etc/passwd", 0).err(), Some(Errno::ENOENT));
    // The symlink now dangles.
    assert_eq!(vfs.stat(&ctx, None, b"/etc/link", 0).err(), Some(Errno::ENOENT));
    // Lower directories cannot be renamed (no redirect_dir).
    assert_eq!(vfs.rename(&ctx, None, b"/etc/sub", None, b"/sub2", 0), Err(Errno::EXDEV));
    vfs.mkdir(&ctx, None, b"/newdir", 0o755).unwrap();
    vfs.rename(&ctx, None, b"/newdir", None, b"/etc/newdir", 0).unwrap();
    assert!(vfs.stat(&ctx, None, b"/etc/newdir", 0).is_ok());
    vfs.link(&ctx, None, b"/passwd2", None, b"/etc/hard", 0).unwrap();
    assert_eq!(vfs.stat(&ctx, None, b"/etc/hard", 0).unwrap().nlink, 2);
    let mut names_root = names(&vfs, &ctx, b"/");
    names_root.sort();
    assert_eq!(names_root, vec!["etc", "passwd2"]);
}

#[test]
fn fstat_and_stat_agree_on_dev_and_ino() {
    let (vfs, ctx, _upper, _lower) = setup();
    for path in [&b"/etc/passwd"[..], &b"/etc/sub"[..]] {
        let st = vfs.stat(&ctx, None, path, 0).unwrap();
        let f = vfs.open(&ctx, None, path, libc::O_RDONLY, 0).unwrap();
        let fst = f.stat().unwrap();
        assert_eq!((st.dev, st.ino), (fst.dev, fst.ino), "{}", String::from_utf8_lossy(path));
    }
}

#[test]
fn readdir_inode_numbers_match_stat() {
    let (vfs, ctx, _upper, _lower) = setup();
    // One lower-only, one copied-up, one upper-only entry.
    vfs.chmod(&ctx, None, b"/etc/passwd", 0o600, 0).unwrap();
    vfs.mkdir(&ctx, None, b"/etc/new", 0o755).unwrap();
    let d = vfs.open(&ctx, None, b"/etc", libc::O_RDONLY | libc::O_DIRECTORY, 0).unwrap();
    for (ino, _, _, name) in crate::dirent::decode(&d.getdents64(8192).unwrap()) {
        if name == b"." || name == b".." {
            continue;
        }
        let mut p = b"/etc/".to_vec();
        p.extend_from_slice(&name);
        let st = vfs.stat(&ctx, None, &p, libc::AT_SYMLINK_NOFOLLOW).unwrap();
        assert_eq!(ino, st.ino, "{}", String::from_utf8_lossy(&name));
    }
}

/// syscall-tests links.renameat2_exchange: a file and a directory swap.
#[test]
fn exchange_swaps_a_file_and_a_directory() {
    let (vfs, ctx, _upper, _lower) = setup();
    let f = vfs.open(&ctx, None, b"/a", libc::O_CREAT | libc::O_WRONLY, 0o644).unwrap();
    f.write(b"A").unwrap();
    vfs.mkdir(&ctx, None, b"/d", 0o755).unwrap();
    let g = vfs.open(&ctx, None, b"/d/f", libc::O_CREAT | libc::O_WRONLY, 0o644).unwrap();
    g.write(b"F").unwrap();
    vfs.rename(&ctx, None, b"/a", None, b"/d", crate::vfs::RENAME_EXCHANGE).unwrap();
    assert_eq!(read(&vfs, &ctx, b"/d"), b"A");
    assert_eq!(read(&vfs, &ctx, b"/a/f"), b"F");
}

#[test]
fn xattrs_go_to_the_upper_layer_and_list() {
    let (vfs, ctx, _upper, _lower) = setup();
    let loc = vfs.lookup(&ctx, None, b"/etc/passwd", 0).unwrap();
    loc.inode().setxattr(b"user.k", b"v", 0).unwrap();
    assert_eq!(loc.inode().getxattr(b"user.k").unwrap(), b"v");
    assert_eq!(loc.inode().listxattr().unwrap(), vec![b"user.k".to_vec()]);
    loc.inode().removexattr(b"user.k").unwrap();
    assert!(loc.inode().listxattr().unwrap().is_empty());
}
