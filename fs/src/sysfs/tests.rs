//! sysfs mounted at /sys on a tmpfs root.

use std::sync::Arc;

use abi::Errno;

use super::*;
use crate::creds::Creds;
use crate::dirent::decode;
use crate::mount::MountFlags;
use crate::tmpfs::TmpFs;
use crate::vfs::{Context, Vfs};

fn setup(ncpus: u32, flags: MountFlags) -> (Arc<Vfs>, Context, Context) {
    let root = TmpFs::new(0o755, Owner { uid: 0, gid: 0 });
    let vfs = Vfs::new(root, MountFlags::default(), "none");
    let rctx = vfs.root_context(Creds::root(), 1);
    let user = vfs.root_context(Creds::user(1000, 1000), 2);
    vfs.mkdir(&rctx, None, b"/sys", 0o555).unwrap();
    vfs.mount(&rctx, None, b"/sys", SysFs::new(ncpus), flags, "sysfs").unwrap();
    (vfs, rctx, user)
}

fn text(vfs: &Vfs, ctx: &Context, path: &str) -> String {
    let f = vfs.open(ctx, None, path.as_bytes(), libc::O_RDONLY, 0).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 3]; // small reads exercise offsets
    loop {
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            return String::from_utf8(out).unwrap();
        }
        out.extend_from_slice(&buf[..n]);
    }
}

fn names(vfs: &Vfs, ctx: &Context, path: &str) -> Vec<String> {
    let f = vfs.open(ctx, None, path.as_bytes(), libc::O_RDONLY | libc::O_DIRECTORY, 0).unwrap();
    let raw = f.getdents64(65536).unwrap();
    decode(&raw).into_iter().map(|d| String::from_utf8(d.3).unwrap()).filter(|n| !n.starts_with('.')).collect()
}

#[test]
fn cpu_files_follow_the_cpu_count() {
    let (vfs, _, user) = setup(4, MountFlags::default());
    for f in ["online", "possible", "present"] {
        assert_eq!(text(&vfs, &user, &format!("/sys/devices/system/cpu/{f}")), "0-3\n", "{f}");
    }
    assert_eq!(text(&vfs, &user, "/sys/devices/system/cpu/kernel_max"), "63\n");
    assert_eq!(
        names(&vfs, &user, "/sys/devices/system/cpu"),
        vec!["cpu0", "cpu1", "cpu2", "cpu3", "kernel_max", "online", "possible", "present"]
    );
    assert_eq!(names(&vfs, &user, "/sys"), vec!["devices", "fs", "kernel"]);
    assert_eq!(names(&vfs, &user, "/sys/fs"), vec!["cgroup"]);
    assert!(names(&vfs, &user, "/sys/fs/cgroup").is_empty());
    assert!(names(&vfs, &user, "/sys/kernel").is_empty());
    assert_eq!(vfs.stat(&user, None, b"/sys/class/net/lo", 0).err(), Some(Errno::ENOENT));
    assert_eq!(vfs.stat(&user, None, b"/sys/devices/system/cpu/cpu4", 0).err(), Some(Errno::ENOENT));
    assert_eq!(vfs.stat(&user, None, b"/sys/devices/system/cpu/online/x", 0).err(), Some(Errno::ENOTDIR));

    // One CPU is "0"; counts beyond the Sentry's 64-bit masks are clamped.
    let (vfs, _, user) = setup(1, MountFlags::default());
    assert_eq!(text(&vfs, &user, "/sys/devices/system/cpu/online"), "0\n");
    let (vfs, _, user) = setup(500, MountFlags::default());
    assert_eq!(text(&vfs, &user, "/sys/devices/system/cpu/possible"), "0-63\n");
}

#[test]
fn attributes_and_statfs() {
    let (vfs, _, user) = setup(2, MountFlags::default());
    let d = vfs.stat(&user, None, b"/sys/devices/system/cpu", 0).unwrap();
    assert_eq!(d.mode, libc::S_IFDIR | 0o755);
    assert_eq!(d.nlink, 4); // ".", the parent's entry, cpu0, cpu1
    let f = vfs.stat(&user, None, b"/sys/devices/system/cpu/online", 0).unwrap();
    assert_eq!((f.mode, f.uid, f.gid, f.size), (libc::S_IFREG | 0o444, 0, 0, 4096));
    let g = vfs.stat(&user, None, b"/sys/devices/system/cpu/possible", 0).unwrap();
    assert_eq!(f.dev, g.dev);
    assert_ne!(f.ino, g.ino);
    assert_eq!(vfs.stat(&user, None, b"/sys/devices/system/cpu/online", 0).unwrap().ino, f.ino);
    let st = vfs.statfs(&user, None, b"/sys/kernel", 0).unwrap();
    assert_eq!(st.fs_type, 0x6265_6572);
    let m = vfs.mounts_text(&vfs.root());
    assert!(m.contains("sysfs /sys sysfs rw 0 0\n"), "{m}");
}

#[test]
fn read_only() {
    let (vfs, root, user) = setup(2, MountFlags::default());
    let online = b"/sys/devices/system/cpu/online";
    assert_eq!(vfs.open(&user, None, online, libc::O_WRONLY, 0).err(), Some(Errno::EACCES));
    assert_eq!(vfs.open(&root, None, online, libc::O_RDWR, 0).err(), Some(Errno::EACCES));
    assert_eq!(vfs.open(&root, None, b"/sys/kernel/new", libc::O_CREAT | libc::O_WRONLY, 0o644).err(), Some(Errno::EACCES));
    assert_eq!(vfs.mkdir(&root, None, b"/sys/fs/cgroup/x", 0o755).err(), Some(Errno::EPERM));
    assert_eq!(vfs.unlink(&root, None, online).err(), Some(Errno::EPERM));
    assert_eq!(vfs.rmdir(&root, None, b"/sys/kernel").err(), Some(Errno::EPERM));
    assert_eq!(vfs.chmod(&root, None, online, 0o666, 0).err(), Some(Errno::EPERM));
    // A read-only mount refuses writers before the file does.
    let (vfs, root, _) = setup(2, MountFlags { readonly: true, ..Default::default() });
    assert_eq!(vfs.open(&root, None, online, libc::O_WRONLY, 0).err(), Some(Errno::EROFS));
    assert_eq!(text(&vfs, &root, "/sys/devices/system/cpu/online"), "0-1\n");
    // Something can be mounted on /sys/fs/cgroup.
    let t = TmpFs::new(0o755, Owner { uid: 0, gid: 0 });
    vfs.mount(&root, None, b"/sys/fs/cgroup", t, MountFlags::default(), "cgroup").unwrap();
    assert!(vfs.mounts_text(&vfs.root()).contains("cgroup /sys/fs/cgroup tmpfs rw 0 0\n"));
}
