use std::cell::RefCell;
use std::collections::HashMap;

use super::*;
use crate::creds::Creds;
use crate::file::File;
use crate::mount::MountFlags;
use crate::tmpfs::TmpFs;
use crate::types::Owner;

/// User memory backed by a little map of addresses.
#[derive(Default)]
struct Mem(RefCell<HashMap<u64, Vec<u8>>>);

impl UserMemory for Mem {
    fn read(&self, addr: u64, buf: &mut [u8]) -> SysResult<()> {
        let m = self.0.borrow();
        let v = m.get(&addr).ok_or(Errno::EFAULT)?;
        if v.len() < buf.len() {
            return Err(Errno::EFAULT);
        }
        buf.copy_from_slice(&v[..buf.len()]);
        Ok(())
    }
    fn write(&self, addr: u64, buf: &[u8]) -> SysResult<()> {
        self.0.borrow_mut().insert(addr, buf.to_vec());
        Ok(())
    }
}

impl Mem {
    fn put(&self, addr: u64, b: &[u8]) {
        self.0.borrow_mut().insert(addr, b.to_vec());
    }
    fn get(&self, addr: u64) -> Vec<u8> {
        self.0.borrow().get(&addr).cloned().unwrap_or_default()
    }
    fn int(&self, addr: u64) -> i32 {
        let v = self.get(addr);
        i32::from_ne_bytes([v[0], v[1], v[2], v[3]])
    }
}

/// A fake Sentry: one caller, a process table of (pid, pgid, sid).
#[derive(Default)]
struct FakeHost {
    caller: Mutex<Option<Caller>>,
    procs: Mutex<Vec<(i32, i32, i32)>>,
    sent: Mutex<Vec<(char, i32, i32)>>,
}

impl PtyHost for FakeHost {
    fn caller(&self) -> Option<Caller> {
        *self.caller.lock().unwrap()
    }
    fn signal_pgrp(&self, pgid: i32, sig: i32) {
        self.sent.lock().unwrap().push(('g', pgid, sig));
    }
    fn signal_process(&self, pid: i32, sig: i32) {
        self.sent.lock().unwrap().push(('p', pid, sig));
    }
    fn pgrp_session(&self, pgid: i32) -> Option<i32> {
        let p = self.procs.lock().unwrap();
        p.iter().find(|x| x.1 == pgid).or_else(|| p.iter().find(|x| x.0 == pgid)).map(|x| x.2)
    }
    fn session_alive(&self, sid: i32) -> bool {
        self.procs.lock().unwrap().iter().any(|x| x.0 == sid && x.2 == sid)
    }
}

impl FakeHost {
    fn set_caller(&self, pid: i32, pgid: i32, sid: i32) {
        *self.caller.lock().unwrap() = Some(Caller { pid, pgid, sid, ..Default::default() });
    }
    fn sent(&self) -> Vec<(char, i32, i32)> {
        std::mem::take(&mut *self.sent.lock().unwrap())
    }
}

struct Setup {
    vfs: Arc<Vfs>,
    ctx: Context,
    pts: Arc<DevPts>,
    host: Arc<FakeHost>,
}

fn setup() -> Setup {
    let vfs = Vfs::new(TmpFs::new(0o755, Owner { uid: 0, gid: 0 }), MountFlags::default(), "root");
    let ctx = vfs.root_context(Creds::root(), 1);
    vfs.mkdir(&ctx, None, b"/dev", 0o755).unwrap();
    vfs.mount(&ctx, None, b"/dev", crate::devfs::new_devfs().unwrap(), MountFlags::default(), "devtmpfs").unwrap();
    let pts = mount(&vfs, &ctx).unwrap();
    let host = Arc::new(FakeHost::default());
    pts.set_host(host.clone());
    Setup { vfs, ctx, pts, host }
}

const ARG: u64 = 0x1000;

fn ioctl(f: &File, mem: &Mem, cmd: u64) -> SysResult<u64> {
    f.ioctl(cmd as u32, ARG, mem)
}

/// posix_openpt + unlockpt + open(ptsname).
fn open_pair(s: &Setup) -> (Arc<File>, Arc<File>, u32) {
    let m = s.vfs.open(&s.ctx, None, b"/dev/ptmx", libc::O_RDWR | libc::O_NOCTTY, 0).unwrap();
    let mem = Mem::default();
    ioctl(&m, &mem, libc::TIOCGPTN).unwrap();
    let n = mem.int(ARG) as u32;
    let path = format!("/dev/pts/{n}");
    // Locked until unlockpt.
    assert_eq!(s.vfs.open(&s.ctx, None, path.as_bytes(), libc::O_RDWR | libc::O_NOCTTY, 0).err(), Some(Errno::EIO));
    mem.put(ARG, &0i32.to_ne_bytes());
    ioctl(&m, &mem, libc::TIOCSPTLCK).unwrap();
    let sl = s.vfs.open(&s.ctx, None, path.as_bytes(), libc::O_RDWR | libc::O_NOCTTY, 0).unwrap();
    (m, sl, n)
}

fn read_all(f: &File) -> Vec<u8> {
    let mut b = vec![0u8; 4096];
    match f.read(&mut b) {
        Ok(n) => b[..n].to_vec(),
        Err(Errno::EAGAIN) => vec![],
        Err(e) => panic!("read: {e:?}"),
    }
}

#[test]
fn names_stat_and_listing() {
    let s = setup();
    let (m, sl, n) = open_pair(&s);
    assert_eq!(n, 0);
    let st = s.vfs.stat(&s.ctx, None, b"/dev/pts/0", 0).unwrap();
    assert_eq!(st.rdev, makedev(PTS_MAJOR, 0));
    assert_eq!(st.mode, libc::S_IFCHR | 0o620);
    // fstat of the slave matches the node (ttyname's check).
    let fst = sl.stat().unwrap();
    assert_eq!((fst.dev, fst.ino, fst.rdev), (st.dev, st.ino, st.rdev));
    assert_eq!(s.vfs.stat(&s.ctx, None, b"/dev/ptmx", 0).unwrap().rdev, makedev(5, 2));
    let (m2, _s2, n2) = open_pair(&s);
    assert_eq!(n2, 1);
    let dir = s.vfs.open(&s.ctx, None, b"/dev/pts", libc::O_RDONLY | libc::O_DIRECTORY, 0).unwrap();
    let names: Vec<Vec<u8>> = dir.ops().readdir().unwrap().into_iter().map(|e| e.name).collect();
    assert_eq!(names, vec![b"ptmx".to_vec(), b"0".to_vec(), b"1".to_vec()]);
    // The entry goes with the master; the number is reused once both
    // sides are closed.
    drop(m2);
    assert_eq!(s.vfs.stat(&s.ctx, None, b"/dev/pts/1", 0).err(), Some(Errno::ENOENT));
    drop(_s2);
    let (_m3, _s3, n3) = open_pair(&s);
    assert_eq!(n3, 1);
    assert_eq!(s.pts.pty(1).map(|p| p.index()), Some(1));
    // TCGETS works on both sides (isatty), TIOCGPTN only on the master.
    let mem = Mem::default();
    assert!(ioctl(&m, &mem, libc::TCGETS).is_ok());
    assert!(ioctl(&sl, &mem, libc::TCGETS).is_ok());
    assert_eq!(ioctl(&sl, &mem, libc::TIOCGPTN), Err(Errno::ENOTTY));
    assert_eq!(s.vfs.stat(&s.ctx, None, b"/dev/pts/07", 0).err(), Some(Errno::ENOENT));
}

#[test]
fn data_both_ways_and_termios() {
    let s = setup();
    let (m, sl, _) = open_pair(&s);
    assert_eq!(m.write(b"hel"), Ok(3));
    assert_eq!(read_all(&m), b"hel");
    assert_eq!(sl.read(&mut [0u8; 8]), Err(Errno::EAGAIN));
    assert_eq!(sl.readiness(events::POLLIN), 0);
    assert_eq!(m.write(b"lo\n"), Ok(3));
    assert_ne!(sl.readiness(events::POLLIN), 0);
    let mem = Mem::default();
    ioctl(&sl, &mem, libc::FIONREAD).unwrap();
    assert_eq!(mem.int(ARG), 6);
    assert_eq!(read_all(&sl), b"hello\n");
    assert_eq!(read_all(&m), b"lo\r\n");
    assert_eq!(sl.write(b"a\nb"), Ok(3));
    assert_eq!(read_all(&m), b"a\r\nb");
    // Raw mode set on the slave is seen from the master.
    ioctl(&sl, &mem, libc::TCGETS).unwrap();
    let mut t = Termios::from_bytes(&mem.get(ARG).try_into().unwrap());
    t.lflag &= !(libc::ICANON | libc::ECHO);
    mem.put(ARG, &t.to_bytes());
    ioctl(&sl, &mem, libc::TCSETS).unwrap();
    ioctl(&m, &mem, libc::TCGETS).unwrap();
    assert_eq!(Termios::from_bytes(&mem.get(ARG).try_into().unwrap()).lflag & libc::ICANON, 0);
    m.write(b"x").unwrap();
    assert_eq!(read_all(&sl), b"x");
    assert_eq!(read_all(&m), b"");
    assert_eq!(ioctl(&m, &mem, 0x5499), Err(Errno::ENOTTY));
}

#[test]
fn winsize_and_sigwinch() {
    let s = setup();
    let (m, sl, _) = open_pair(&s);
    s.host.procs.lock().unwrap().push((10, 10, 10));
    s.host.set_caller(10, 10, 10);
    let mem = Mem::default();
    ioctl(&sl, &mem, libc::TIOCSCTTY).unwrap();
    let ws = [33u16.to_ne_bytes(), 101u16.to_ne_bytes(), [0, 0], [0, 0]].concat();
    mem.put(ARG, &ws);
    ioctl(&m, &mem, libc::TIOCSWINSZ).unwrap();
    assert_eq!(s.host.sent(), vec![('g', 10, libc::SIGWINCH)]);
    // Same size again: no signal.
    ioctl(&m, &mem, libc::TIOCSWINSZ).unwrap();
    assert_eq!(s.host.sent(), vec![]);
    mem.put(ARG, &[0; 8]);
    ioctl(&sl, &mem, libc::TIOCGWINSZ).unwrap();
    assert_eq!(mem.get(ARG), ws);
}

#[test]
fn job_control() {
    let s = setup();
    let (m, sl, _) = open_pair(&s);
    let mem = Mem::default();
    // pid 5 in session 1 (not a leader); 10 leads session 10; 11 is in
    // its own group of session 10; 20 leads session 20.
    s.host.procs.lock().unwrap().extend([(1, 1, 1), (5, 1, 1), (10, 10, 10), (11, 11, 10), (20, 20, 20)]);
    s.host.set_caller(5, 1, 1);
    assert_eq!(ioctl(&sl, &mem, libc::TIOCSCTTY), Err(Errno::EPERM));
    assert_eq!(ioctl(&sl, &mem, libc::TIOCGPGRP), Err(Errno::ENOTTY));
    assert_eq!(ioctl(&sl, &mem, libc::TIOCGSID), Err(Errno::ENOTTY));
    s.host.set_caller(10, 10, 10);
    ioctl(&sl, &mem, libc::TIOCSCTTY).unwrap();
    ioctl(&sl, &mem, libc::TIOCGSID).unwrap();
    assert_eq!(mem.int(ARG), 10);
    ioctl(&sl, &mem, libc::TIOCGPGRP).unwrap();
    assert_eq!(mem.int(ARG), 10);
    // A second pty cannot become the same session's terminal.
    let (_m2, s2, _) = open_pair(&s);
    assert_eq!(ioctl(&s2, &mem, libc::TIOCSCTTY), Err(Errno::EPERM));
    // Another session leader cannot steal it.
    s.host.set_caller(20, 20, 20);
    assert_eq!(ioctl(&sl, &mem, libc::TIOCSCTTY), Err(Errno::EPERM));
    s.host.set_caller(10, 10, 10);
    for (want, err) in [(0x3ffff0i32, Errno::ESRCH), (-1, Errno::EINVAL), (20, Errno::EPERM)] {
        mem.put(ARG, &want.to_ne_bytes());
        assert_eq!(ioctl(&sl, &mem, libc::TIOCSPGRP), Err(err));
    }
    mem.put(ARG, &11i32.to_ne_bytes());
    ioctl(&sl, &mem, libc::TIOCSPGRP).unwrap();
    ioctl(&m, &mem, libc::TIOCGPGRP).unwrap();
    assert_eq!(mem.int(ARG), 11);
    // ^C goes to the foreground group.
    m.write(b"\x03").unwrap();
    assert_eq!(s.host.sent(), vec![('g', 11, libc::SIGINT)]);
    // The leader is now in the background: reading gets SIGTTIN...
    assert_eq!(sl.read(&mut [0u8; 4]), Err(Errno::ERESTARTSYS));
    assert_eq!(s.host.sent(), vec![('g', 10, libc::SIGTTIN)]);
    // ...or EIO when it ignores SIGTTIN; TOSTOP writes get SIGTTOU.
    let c = Caller { pid: 10, pgid: 10, sid: 10, ignored: 1 << (libc::SIGTTIN - 1), ..Default::default() };
    *s.host.caller.lock().unwrap() = Some(c);
    assert_eq!(sl.read(&mut [0u8; 4]), Err(Errno::EIO));
    assert_eq!(sl.write(b"w"), Ok(1));
    ioctl(&sl, &mem, libc::TCGETS).unwrap();
    let mut t = Termios::from_bytes(&mem.get(ARG).try_into().unwrap());
    t.lflag |= libc::TOSTOP;
    mem.put(ARG, &t.to_bytes());
    assert_eq!(ioctl(&sl, &mem, libc::TCSETS), Err(Errno::ERESTARTSYS));
    assert_eq!(s.host.sent(), vec![('g', 10, libc::SIGTTOU)]);
    // With SIGTTOU ignored, background termios changes are allowed.
    let c = Caller { ignored: 1 << (libc::SIGTTOU - 1), ..c };
    *s.host.caller.lock().unwrap() = Some(c);
    ioctl(&sl, &mem, libc::TCSETS).unwrap();
    mem.put(ARG, &10i32.to_ne_bytes());
    ioctl(&sl, &mem, libc::TIOCSPGRP).unwrap();
    // TIOCNOTTY by the leader: SIGHUP + SIGCONT to the foreground group.
    assert_eq!(ioctl(&m, &mem, libc::TIOCNOTTY), Err(Errno::ENOTTY));
    ioctl(&sl, &mem, libc::TIOCNOTTY).unwrap();
    assert_eq!(s.host.sent(), vec![('g', 10, libc::SIGHUP), ('g', 10, libc::SIGCONT)]);
    assert_eq!(ioctl(&sl, &mem, libc::TIOCGPGRP), Err(Errno::ENOTTY));
    // A session leader opening without O_NOCTTY acquires the terminal.
    let again = s.vfs.open(&s.ctx, None, b"/dev/pts/0", libc::O_RDWR, 0).unwrap();
    ioctl(&again, &mem, libc::TIOCGSID).unwrap();
    assert_eq!(mem.int(ARG), 10);
    // The session ends with its leader: the terminal is free again.
    s.host.procs.lock().unwrap().retain(|p| p.0 != 10);
    s.host.set_caller(20, 20, 20);
    ioctl(&sl, &mem, libc::TIOCSCTTY).unwrap();
    // Hangup: closing the master signals the session leader.
    drop(m);
    assert_eq!(s.host.sent(), vec![('p', 20, libc::SIGHUP), ('p', 20, libc::SIGCONT)]);
}

#[test]
fn hangup_both_ways() {
    let s = setup();
    let (m, sl, _) = open_pair(&s);
    sl.write(b"z").unwrap();
    drop(sl);
    let mut b = [0u8; 8];
    assert_eq!(m.read(&mut b), Ok(1));
    assert_eq!(m.read(&mut b), Err(Errno::EIO));
    assert_ne!(m.readiness(events::POLLIN) & events::POLLHUP, 0);
    // Reopening the slave clears the condition.
    let sl = s.vfs.open(&s.ctx, None, b"/dev/pts/0", libc::O_RDWR | libc::O_NOCTTY, 0).unwrap();
    assert_eq!(m.read(&mut b), Err(Errno::EAGAIN));
    assert_eq!(m.readiness(events::POLLIN) & events::POLLHUP, 0);
    m.write(b"pending\n").unwrap();
    drop(m);
    // A hung-up slave reads end of file and cannot write.
    assert_eq!(sl.read(&mut b), Ok(0));
    assert_eq!(sl.write(b"x"), Err(Errno::EIO));
    let r = sl.readiness(events::POLLIN | events::POLLOUT);
    assert_eq!(r & (events::POLLHUP | events::POLLERR), events::POLLHUP | events::POLLERR);
    let mem = Mem::default();
    assert_eq!(ioctl(&sl, &mem, libc::TCGETS), Err(Errno::EIO));
    assert_eq!(s.vfs.open(&s.ctx, None, b"/dev/pts/0", libc::O_RDWR, 0).err(), Some(Errno::ENOENT));
}

#[test]
fn waiters_woken() {
    use crate::waiter::{WaitResult, Waiter};
    let s = setup();
    let (m, sl, _) = open_pair(&s);
    let w = Waiter::new().unwrap();
    sl.ops().event_register(&w.as_waker(), events::POLLIN);
    let t = std::thread::spawn(move || {
        m.write(b"line\n").unwrap();
        m
    });
    assert!(matches!(w.wait(&[], None).unwrap(), WaitResult::Ready { .. }));
    let _m = t.join().unwrap();
    assert_eq!(read_all(&sl), b"line\n");
    sl.ops().event_unregister(&w.as_waker());
}

#[test]
fn flush_and_flow() {
    let s = setup();
    let (m, sl, _) = open_pair(&s);
    let mem = Mem::default();
    m.write(b"abc\n").unwrap();
    sl.ioctl(libc::TCFLSH as u32, libc::TCIFLUSH as u64, &mem).unwrap();
    assert_eq!(sl.read(&mut [0u8; 8]), Err(Errno::EAGAIN));
    assert_eq!(sl.ioctl(libc::TCFLSH as u32, 7, &mem), Err(Errno::EINVAL));
    sl.ioctl(libc::TCXONC as u32, libc::TCOOFF as u64, &mem).unwrap();
    assert_eq!(sl.write(b"x"), Err(Errno::EAGAIN));
    sl.ioctl(libc::TCXONC as u32, libc::TCOON as u64, &mem).unwrap();
    assert_eq!(sl.write(b"x"), Ok(1));
}
