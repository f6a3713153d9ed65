//! procfs over a fake provider, mounted at /proc on a tmpfs root.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use abi::Errno;

use super::*;
use crate::creds::Creds;
use crate::dirent::decode;
use crate::mount::MountFlags;
use crate::tmpfs::TmpFs;
use crate::types::Owner;

#[derive(Default)]
struct FakeTask {
    pid: i32,
    uid: u32,
    tids: Vec<i32>,
    comm: Mutex<Vec<u8>>,
    cmdline: Vec<u8>,
    fds: Mutex<BTreeMap<i32, (Arc<File>, bool)>>,
    cwd: Option<Location>,
    root: Option<Location>,
    oom: Mutex<i32>,
    mounts: String,
    zombie: bool,
}

struct FakeThread {
    t: Arc<FakeTask>,
    tid: i32,
}

impl FakeTask {
    fn info_for(&self, tid: i32) -> TaskInfo {
        TaskInfo {
            name: self.comm.lock().unwrap().clone(),
            state: if self.zombie { 'Z' } else { 'S' },
            tgid: self.pid,
            pid: tid,
            ppid: 1,
            pgrp: self.pid,
            session: 1,
            uids: [self.uid; 4],
            threads: self.tids.len() as u32,
            has_mm: !self.zombie,
            vm_size: 1 << 20,
            ..Default::default()
        }
    }
}

macro_rules! fake_task_body {
    ($s:ident, $t:expr, $tid:expr) => {
        fn pid(&$s) -> i32 { $t.pid }
        fn tids(&$s) -> Vec<i32> { $t.tids.clone() }
        fn thread(&$s, tid: i32) -> Option<Arc<dyn ProcTask>> {
            $t.tids.contains(&tid).then(|| Arc::new(FakeThread { t: $t.clone(), tid }) as Arc<dyn ProcTask>)
        }
        fn owner(&$s) -> (u32, u32) { ($t.uid, $t.uid) }
        fn info(&$s) -> Option<TaskInfo> { Some($t.info_for($tid)) }
        fn comm(&$s) -> Vec<u8> { $t.comm.lock().unwrap().clone() }
        fn set_comm(&$s, name: &[u8]) { *$t.comm.lock().unwrap() = name.to_vec(); }
        fn cmdline(&$s) -> Vec<u8> { $t.cmdline.clone() }
        fn environ(&$s) -> Vec<u8> { b"A=1\0".to_vec() }
        fn maps(&$s) -> String { "00400000-00401000 r-xp 00000000 00:00 0\n".into() }
        fn limits(&$s) -> Vec<(u64, u64)> { vec![(0, u64::MAX)] }
        fn mounts(&$s) -> String { $t.mounts.clone() }
        fn exe(&$s) -> Option<Location> { None }
        fn cwd(&$s) -> Option<Location> { $t.cwd.clone() }
        fn root(&$s) -> Option<Location> { $t.root.clone() }
        fn fds(&$s) -> Vec<FdEntry> {
            $t.fds.lock().unwrap().iter().map(|(&fd, (f, c))| FdEntry { fd, file: f.clone(), cloexec: *c }).collect()
        }
        fn fd(&$s, fd: i32) -> Option<FdEntry> {
            $t.fds.lock().unwrap().get(&fd).map(|(f, c)| FdEntry { fd, file: f.clone(), cloexec: *c })
        }
        fn oom_score_adj(&$s) -> i32 { *$t.oom.lock().unwrap() }
        fn set_oom_score_adj(&$s, v: i32) -> SysResult<()> { *$t.oom.lock().unwrap() = v; Ok(()) }
    };
}

struct TaskHandle(Arc<FakeTask>);

impl ProcTask for TaskHandle {
    fake_task_body!(self, self.0, self.0.pid);
}

impl ProcTask for FakeThread {
    fake_task_body!(self, self.t, self.tid);
}

#[derive(Default)]
struct Fake {
    tasks: Mutex<BTreeMap<i32, Arc<FakeTask>>>,
    hostname: Mutex<String>,
    sysctls: Mutex<Vec<(String, String)>>,
}

impl ProcProvider for Fake {
    fn pids(&self) -> Vec<i32> {
        self.tasks.lock().unwrap().keys().copied().collect()
    }
    fn task(&self, pid: i32) -> Option<Arc<dyn ProcTask>> {
        self.tasks.lock().unwrap().get(&pid).map(|t| Arc::new(TaskHandle(t.clone())) as Arc<dyn ProcTask>)
    }
    fn sysinfo(&self) -> SysInfo {
        SysInfo { mem_total: 1 << 30, mem_free: 1 << 29, ncpus: 1, nr_threads: 2, nr_running: 1, ..Default::default() }
    }
    fn cpuinfo(&self) -> String {
        "processor\t: 0\nvendor_id\t: Fake\nflags\t\t: fpu\n\n".into()
    }
    fn hostname(&self) -> String {
        self.hostname.lock().unwrap().clone()
    }
    fn set_hostname(&self, name: &[u8]) -> SysResult<()> {
        *self.hostname.lock().unwrap() = String::from_utf8_lossy(name).into_owned();
        Ok(())
    }
    fn release(&self) -> (String, String) {
        ("4.4.0".into(), "#1 SMP".into())
    }
    fn sysctls(&self) -> Vec<(String, String)> {
        self.sysctls.lock().unwrap().clone()
    }
    fn set_sysctl(&self, key: &str, value: &str) -> SysResult<()> {
        let mut v = self.sysctls.lock().unwrap();
        let slot = v.iter_mut().find(|(k, _)| k == key).ok_or(Errno::ENOENT)?;
        slot.1 = value.to_string();
        Ok(())
    }
}

struct Env {
    vfs: Arc<Vfs>,
    ctx: Context,
    fake: Arc<Fake>,
}

fn setup() -> Env {
    let root = TmpFs::new(0o755, Owner { uid: 0, gid: 0 });
    let vfs = Vfs::new(root, MountFlags::default(), "none");
    let ctx = vfs.root_context(Creds::user(1000, 1000), 7);
    let rctx = vfs.root_context(Creds::root(), 0);
    vfs.mkdir(&rctx, None, b"/proc", 0o555).unwrap();
    vfs.mkdir(&rctx, None, b"/tmp", 0o777).unwrap();
    vfs.chmod(&rctx, None, b"/tmp", 0o1777, 0).unwrap();
    let fake = Arc::new(Fake { hostname: Mutex::new("box".into()), ..Default::default() });
    let pfs = ProcFs::new(fake.clone(), &vfs);
    vfs.mount(&rctx, None, b"/proc", pfs, MountFlags { nosuid: true, nodev: true, noexec: true, ..Default::default() }, "proc").unwrap();
    // Task 7 (uid 1000) with threads 7 and 8, a tmpfs file on fd 3 and a
    // pipe on fds 4/5.
    let file = vfs.open(&ctx, None, b"/tmp/f", libc::O_CREAT | libc::O_RDWR, 0o644).unwrap();
    file.write(b"hello world").unwrap();
    let (r, w) = crate::pipe::pipe2(0, Owner { uid: 1000, gid: 1000 }).unwrap();
    let tmp = vfs.lookup(&ctx, None, b"/tmp", 0).unwrap();
    let mut fds = BTreeMap::new();
    fds.insert(3, (file, false));
    fds.insert(4, (r, true));
    fds.insert(5, (w, false));
    let t7 = FakeTask {
        pid: 7,
        uid: 1000,
        tids: vec![7, 8],
        comm: Mutex::new(b"prog".to_vec()),
        cmdline: b"/bin/prog\0-x\0".to_vec(),
        fds: Mutex::new(fds),
        cwd: Some(tmp),
        root: Some(vfs.root()),
        mounts: vfs.mounts_text(&vfs.root()),
        ..Default::default()
    };
    let t1 = FakeTask { pid: 1, uid: 0, tids: vec![1], comm: Mutex::new(b"init".to_vec()), ..Default::default() };
    fake.tasks.lock().unwrap().insert(7, Arc::new(t7));
    fake.tasks.lock().unwrap().insert(1, Arc::new(t1));
    Env { vfs, ctx, fake }
}

fn read_all(e: &Env, path: &str) -> SysResult<Vec<u8>> {
    let f = e.vfs.open(&e.ctx, None, path.as_bytes(), libc::O_RDONLY, 0)?;
    let mut out = Vec::new();
    let mut buf = [0u8; 7]; // small reads exercise offsets
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(out);
        }
        out.extend_from_slice(&buf[..n]);
    }
}

fn text(e: &Env, path: &str) -> String {
    String::from_utf8(read_all(e, path).unwrap()).unwrap()
}

fn names(e: &Env, path: &str) -> Vec<String> {
    let f = e.vfs.open(&e.ctx, None, path.as_bytes(), libc::O_RDONLY | libc::O_DIRECTORY, 0).unwrap();
    let raw = f.getdents64(65536).unwrap();
    decode(&raw).into_iter().map(|d| String::from_utf8(d.3).unwrap()).filter(|n| !n.starts_with('.')).collect()
}

#[test]
fn self_links_and_pid_dirs() {
    let e = setup();
    assert_eq!(e.vfs.readlink(&e.ctx, None, b"/proc/self").unwrap(), b"7");
    assert_eq!(e.vfs.readlink(&e.ctx, None, b"/proc/thread-self").unwrap(), b"7/task/7");
    assert_eq!(e.vfs.readlink(&e.ctx, None, b"/proc/mounts").unwrap(), b"self/mounts");
    let a = e.vfs.stat(&e.ctx, None, b"/proc/self", 0).unwrap();
    let b = e.vfs.stat(&e.ctx, None, b"/proc/7", 0).unwrap();
    assert_eq!(a.ino, b.ino);
    assert_eq!(a.mode, libc::S_IFDIR | 0o555);
    assert_eq!((a.uid, a.gid), (1000, 1000));
    assert_eq!(e.vfs.stat(&e.ctx, None, b"/proc/99", 0).err(), Some(Errno::ENOENT));
    assert_eq!(e.vfs.stat(&e.ctx, None, b"/proc/007", 0).err(), Some(Errno::ENOENT));
    assert_eq!(e.vfs.stat(&e.ctx, None, b"/proc/99999999999999", 0).err(), Some(Errno::ENOENT));
    assert_eq!(e.vfs.stat(&e.ctx, None, b"/proc/7/nope", 0).err(), Some(Errno::ENOENT));
    let root = names(&e, "/proc");
    assert!(root.contains(&"1".to_string()) && root.contains(&"7".to_string()) && root.contains(&"self".to_string()));
    let fdst = e.vfs.stat(&e.ctx, None, b"/proc/self/fd", 0).unwrap();
    assert_eq!(fdst.mode, libc::S_IFDIR | 0o500);
    assert_eq!(e.vfs.stat(&e.ctx, None, b"/proc/self/status", 0).unwrap().mode, libc::S_IFREG | 0o444);
    assert_eq!(e.vfs.stat(&e.ctx, None, b"/proc/cpuinfo", 0).unwrap().uid, 0);
    // A reaped task's directory disappears.
    e.fake.tasks.lock().unwrap().remove(&1);
    assert_eq!(e.vfs.stat(&e.ctx, None, b"/proc/1/status", 0).err(), Some(Errno::ENOENT));
    assert!(!names(&e, "/proc").contains(&"1".to_string()));
    let st = e.vfs.statfs(&e.ctx, None, b"/proc", 0).unwrap();
    assert_eq!(st.fs_type, magic::PROC);
}

#[test]
fn fd_links() {
    let e = setup();
    assert_eq!(names(&e, "/proc/self/fd"), vec!["3", "4", "5"]);
    assert_eq!(e.vfs.readlink(&e.ctx, None, b"/proc/self/fd/3").unwrap(), b"/tmp/f");
    let p = e.vfs.readlink(&e.ctx, None, b"/proc/self/fd/4").unwrap();
    assert!(p.starts_with(b"pipe:["));
    assert_eq!(e.vfs.readlink(&e.ctx, None, b"/proc/self/fd/5").unwrap(), p);
    assert_eq!(e.vfs.readlink(&e.ctx, None, b"/proc/self/fd/9").err(), Some(Errno::ENOENT));
    let l = e.vfs.stat(&e.ctx, None, b"/proc/self/fd/4", libc::AT_SYMLINK_NOFOLLOW).unwrap();
    assert_eq!(l.mode, libc::S_IFLNK | 0o500);
    let l = e.vfs.stat(&e.ctx, None, b"/proc/self/fd/3", libc::AT_SYMLINK_NOFOLLOW).unwrap();
    assert_eq!(l.mode, libc::S_IFLNK | 0o700);
    // Following reaches the tmpfs file itself: same inode, new offset.
    let real = e.vfs.stat(&e.ctx, None, b"/tmp/f", 0).unwrap();
    assert_eq!(e.vfs.stat(&e.ctx, None, b"/proc/self/fd/3", 0).unwrap().ino, real.ino);
    assert_eq!(read_all(&e, "/proc/self/fd/3").unwrap(), b"hello world");
    // Deleted files still open, and show " (deleted)".
    e.vfs.unlink(&e.ctx, None, b"/tmp/f").unwrap();
    assert_eq!(e.vfs.readlink(&e.ctx, None, b"/proc/7/fd/3").unwrap(), b"/tmp/f (deleted)");
    assert_eq!(read_all(&e, "/proc/7/fd/3").unwrap(), b"hello world");
    // The pipe: opening the read end's link shares the pipe.
    let w = e.fake.tasks.lock().unwrap()[&7].fds.lock().unwrap()[&5].0.clone();
    w.write(b"xyz").unwrap();
    let r = e.vfs.open(&e.ctx, None, b"/proc/self/fd/4", libc::O_RDONLY | libc::O_NONBLOCK, 0).unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(r.read(&mut buf).unwrap(), 3);
    assert_eq!(&buf[..3], b"xyz");
    // cwd/root magic links, and walking through them.
    assert_eq!(e.vfs.readlink(&e.ctx, None, b"/proc/self/cwd").unwrap(), b"/tmp");
    assert_eq!(e.vfs.readlink(&e.ctx, None, b"/proc/self/root").unwrap(), b"/");
    assert!(e.vfs.stat(&e.ctx, None, b"/proc/self/root/tmp", 0).is_ok());
    assert_eq!(e.vfs.readlink(&e.ctx, None, b"/proc/self/exe").err(), Some(Errno::ENOENT));
    // Another user may not follow or read them (nor enter fd/).
    let other = e.vfs.root_context(Creds::user(2000, 2000), 1);
    assert_eq!(e.vfs.readlink(&other, None, b"/proc/7/cwd").err(), Some(Errno::EACCES));
    assert_eq!(e.vfs.readlink(&other, None, b"/proc/7/fd/3").err(), Some(Errno::EACCES));
    assert_eq!(e.vfs.open(&other, None, b"/proc/7/environ", libc::O_RDONLY, 0).err(), Some(Errno::EACCES));
    assert!(e.vfs.open(&other, None, b"/proc/7/status", libc::O_RDONLY, 0).is_ok());
}

#[test]
fn fdinfo() {
    let e = setup();
    let f = e.fake.tasks.lock().unwrap()[&7].fds.lock().unwrap()[&3].0.clone();
    f.seek(4, libc::SEEK_SET).unwrap();
    let t = text(&e, "/proc/self/fdinfo/3");
    assert!(t.starts_with("pos:\t4\nflags:\t0100002\nmnt_id:\t"), "{t}");
    let t = text(&e, "/proc/self/fdinfo/4");
    assert!(t.contains("flags:\t02000000\n"), "{t}");
    assert_eq!(names(&e, "/proc/self/fdinfo"), vec!["3", "4", "5"]);
    assert_eq!(read_all(&e, "/proc/self/fdinfo/6").err(), Some(Errno::ENOENT));
}

#[test]
fn task_files() {
    let e = setup();
    assert_eq!(read_all(&e, "/proc/self/cmdline").unwrap(), b"/bin/prog\0-x\0");
    assert_eq!(text(&e, "/proc/self/comm"), "prog\n");
    assert_eq!(text(&e, "/proc/7/environ"), "A=1\0");
    let st = text(&e, "/proc/self/status");
    assert!(st.contains("Name:\tprog\n") && st.contains("Pid:\t7\n") && st.contains("Threads:\t2\n"), "{st}");
    assert!(text(&e, "/proc/self/stat").starts_with("7 (prog) S 1 7 1 "));
    assert_eq!(text(&e, "/proc/self/statm"), "256 0 0 0 0 256 0\n");
    assert!(text(&e, "/proc/self/maps").starts_with("00400000-"));
    assert!(text(&e, "/proc/self/limits").contains("\nMax cpu time              0                    unlimited"));
    assert_eq!(text(&e, "/proc/self/cgroup"), "0::/\n");
    let m = text(&e, "/proc/self/mounts");
    assert!(m.contains("proc /proc proc rw,nosuid,nodev,noexec 0 0\n"), "{m}");
    assert!(text(&e, "/proc/self/mountinfo").contains(" /proc rw,nosuid,nodev,noexec - proc proc "));
    // task/ lists threads; per-thread files.
    assert_eq!(names(&e, "/proc/self/task"), vec!["7", "8"]);
    assert!(text(&e, "/proc/self/task/8/status").contains("Pid:\t8\nPPid"));
    assert!(text(&e, "/proc/thread-self/stat").starts_with("7 (prog)"));
    assert!(!names(&e, "/proc/7/task/8").contains(&"task".to_string()));
    assert_eq!(e.vfs.stat(&e.ctx, None, b"/proc/7/task/9", 0).err(), Some(Errno::ENOENT));
    // Seeking over the snapshot.
    let f = e.vfs.open(&e.ctx, None, b"/proc/self/comm", libc::O_RDONLY, 0).unwrap();
    assert_eq!(f.seek(2, libc::SEEK_SET).unwrap(), 2);
    let mut b = [0u8; 16];
    assert_eq!(f.read(&mut b).unwrap(), 3);
    assert_eq!(&b[..3], b"og\n");
    assert_eq!(f.seek(0, libc::SEEK_END).unwrap(), 5);
    assert_eq!(f.pread(&mut b, 1 << 40).unwrap(), 0);
}

#[test]
fn writes() {
    let e = setup();
    // comm: first 15 bytes.
    let f = e.vfs.open(&e.ctx, None, b"/proc/self/comm", libc::O_WRONLY | libc::O_TRUNC, 0).unwrap();
    assert_eq!(f.write(b"0123456789abcdefghij").unwrap(), 20);
    assert_eq!(text(&e, "/proc/self/comm"), "0123456789abcde\n");
    assert_eq!(text(&e, "/proc/self/task/8/comm"), "0123456789abcde\n");
    // oom_score_adj: range-checked integer.
    let f = e.vfs.open(&e.ctx, None, b"/proc/self/oom_score_adj", libc::O_WRONLY, 0).unwrap();
    assert_eq!(f.write(b"500\n").unwrap(), 4);
    assert_eq!(f.write(b"5000\n").err(), Some(Errno::EINVAL));
    assert_eq!(f.write(b"abc").err(), Some(Errno::EINVAL));
    assert_eq!(text(&e, "/proc/self/oom_score_adj"), "500\n");
    // Read-only files refuse writers, even root's.
    let root = e.vfs.root_context(Creds::root(), 1);
    assert_eq!(e.vfs.open(&e.ctx, None, b"/proc/self/status", libc::O_WRONLY, 0).err(), Some(Errno::EACCES));
    assert_eq!(e.vfs.open(&root, None, b"/proc/version", libc::O_RDWR, 0).err(), Some(Errno::EACCES));
    assert_eq!(e.vfs.open(&root, None, b"/proc/new", libc::O_CREAT | libc::O_WRONLY, 0o644).err(), Some(Errno::EACCES));
    assert_eq!(e.vfs.mkdir(&root, None, b"/proc/7/x", 0o755).err(), Some(Errno::EPERM));
    assert_eq!(e.vfs.unlink(&root, None, b"/proc/7/status").err(), Some(Errno::EPERM));
    assert_eq!(e.vfs.chmod(&root, None, b"/proc/7/status", 0o777, 0).err(), Some(Errno::EPERM));
    // Another user cannot write task 7's comm.
    let other = e.vfs.root_context(Creds::user(2000, 2000), 1);
    assert_eq!(e.vfs.open(&other, None, b"/proc/7/comm", libc::O_WRONLY, 0).err(), Some(Errno::EACCES));
    // hostname through the provider (root only by mode).
    assert_eq!(e.vfs.open(&e.ctx, None, b"/proc/sys/kernel/hostname", libc::O_WRONLY, 0).err(), Some(Errno::EACCES));
    let f = e.vfs.open(&root, None, b"/proc/sys/kernel/hostname", libc::O_WRONLY | libc::O_TRUNC, 0).unwrap();
    f.write(b"newname\n").unwrap();
    assert_eq!(text(&e, "/proc/sys/kernel/hostname"), "newname\n");
}

#[test]
fn global_files() {
    let e = setup();
    assert!(text(&e, "/proc/cpuinfo").contains("vendor_id"));
    assert!(text(&e, "/proc/meminfo").starts_with("MemTotal:        1048576 kB\n"));
    assert!(text(&e, "/proc/loadavg").ends_with(" 1/2 0\n"));
    assert!(text(&e, "/proc/stat").starts_with("cpu  "));
    assert!(text(&e, "/proc/uptime").contains('.'));
    assert!(text(&e, "/proc/version").starts_with("Linux version 4.4.0 "));
    assert!(text(&e, "/proc/filesystems").contains("\tproc\n"));
    for (p, v) in [
        ("kernel/hostname", "box"),
        ("kernel/osrelease", "4.4.0"),
        ("kernel/ostype", "Linux"),
        ("kernel/pid_max", "4194304"),
        ("kernel/ngroups_max", "65536"),
        ("kernel/cap_last_cap", "40"),
        ("fs/pipe-max-size", "1048576"),
        ("fs/nr_open", "1048576"),
        ("vm/overcommit_memory", "0"),
    ] {
        assert_eq!(text(&e, &format!("/proc/sys/{p}")), format!("{v}\n"), "{p}");
    }
    assert_eq!(names(&e, "/proc/sys"), vec!["fs", "kernel", "vm"]);
    assert_eq!(read_all(&e, "/proc/sys/kernel/nope").err(), Some(Errno::ENOENT));
}

fn set_sysctls(e: &Env, kv: &[(&str, &str)]) {
    *e.fake.sysctls.lock().unwrap() = kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
}

#[test]
fn recorded_sysctls_appear_under_sys() {
    let e = setup();
    set_sysctls(
        &e,
        &[
            ("net.ipv4.ip_forward", "1"),
            ("kernel.shmmax", "4096"),
            ("net.ipv4.conf.all.rp_filter", "2"),
            ("net.core.somaxconn", "512"),
            ("fs.mqueue.msg_max", "10"),
            // Static entries win over recorded ones.
            ("kernel.hostname", "ignored"),
            // Not a usable path: left out.
            ("net..x", "0"),
        ],
    );
    assert_eq!(text(&e, "/proc/sys/net/ipv4/ip_forward"), "1\n");
    assert_eq!(text(&e, "/proc/sys/kernel/shmmax"), "4096\n");
    assert_eq!(text(&e, "/proc/sys/net/ipv4/conf/all/rp_filter"), "2\n");
    assert_eq!(text(&e, "/proc/sys/fs/mqueue/msg_max"), "10\n");
    assert_eq!(text(&e, "/proc/sys/kernel/hostname"), "box\n");
    assert_eq!(names(&e, "/proc/sys"), vec!["fs", "kernel", "net", "vm"]);
    assert_eq!(names(&e, "/proc/sys/net"), vec!["core", "ipv4"]);
    assert_eq!(names(&e, "/proc/sys/net/ipv4"), vec!["conf", "ip_forward"]);
    let k = names(&e, "/proc/sys/kernel");
    assert!(k.contains(&"shmmax".to_string()) && k.contains(&"osrelease".to_string()), "{k:?}");
    assert_eq!(k.iter().filter(|n| *n == "hostname").count(), 1);
    assert!(names(&e, "/proc/sys/fs").contains(&"mqueue".to_string()));
    // Made-up directories: one inode per path, whichever key leads there.
    let a = e.vfs.stat(&e.ctx, None, b"/proc/sys/net/ipv4", 0).unwrap();
    assert_eq!(a.mode, libc::S_IFDIR | 0o555);
    assert_eq!(e.vfs.stat(&e.ctx, None, b"/proc/sys/net/ipv4/conf/..", 0).unwrap().ino, a.ino);
    let f = e.vfs.stat(&e.ctx, None, b"/proc/sys/net/ipv4/ip_forward", 0).unwrap();
    assert_eq!((f.mode, f.uid), (libc::S_IFREG | 0o644, 0));
    assert_ne!(f.ino, a.ino);
    for missing in ["/proc/sys/net/ipv6", "/proc/sys/net/ipv4/ip_forward/x", "/proc/sys/net/x", "/proc/sys/kernel/shmall"] {
        assert!(e.vfs.stat(&e.ctx, None, missing.as_bytes(), 0).is_err(), "{missing}");
    }
    assert_eq!(e.vfs.stat(&e.ctx, None, b"/proc/sys/net/ipv4/ip_forward/x", 0).err(), Some(Errno::ENOTDIR));
}

#[test]
fn recorded_sysctls_are_written_by_root_and_read_back() {
    let e = setup();
    set_sysctls(&e, &[("net.ipv4.ip_forward", "1"), ("kernel.shmmax", "4096")]);
    let path = b"/proc/sys/net/ipv4/ip_forward";
    // Anyone reads; only root writes (mode 0644, owner root).
    assert_eq!(e.vfs.open(&e.ctx, None, path, libc::O_WRONLY, 0).err(), Some(Errno::EACCES));
    let root = e.vfs.root_context(Creds::root(), 1);
    let f = e.vfs.open(&root, None, path, libc::O_WRONLY | libc::O_TRUNC, 0).unwrap();
    assert_eq!(f.write(b"0\n").unwrap(), 2);
    assert_eq!(text(&e, "/proc/sys/net/ipv4/ip_forward"), "0\n");
    // A write past the start changes nothing (Linux's strict mode).
    assert_eq!(f.write(b"7\n").unwrap(), 2);
    assert_eq!(text(&e, "/proc/sys/net/ipv4/ip_forward"), "0\n");
    let f = e.vfs.open(&root, None, b"/proc/sys/kernel/shmmax", libc::O_RDWR, 0).unwrap();
    assert_eq!(f.pwrite(b"8192", 0).unwrap(), 4);
    assert_eq!(text(&e, "/proc/sys/kernel/shmmax"), "8192\n");
    assert_eq!(f.pwrite(b"\xff\n", 0).err(), Some(Errno::EINVAL));
    assert_eq!(f.pwrite(&vec![b'1'; 5000], 0).err(), Some(Errno::EINVAL));
    assert_eq!(e.fake.sysctls.lock().unwrap()[1], ("kernel.shmmax".to_string(), "8192".to_string()));
    // Still no new entries.
    assert_eq!(e.vfs.open(&root, None, b"/proc/sys/net/ipv4/new", libc::O_CREAT | libc::O_WRONLY, 0o644).err(), Some(Errno::EACCES));
    assert_eq!(e.vfs.mkdir(&root, None, b"/proc/sys/net/x", 0o755).err(), Some(Errno::EPERM));
}
