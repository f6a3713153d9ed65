//! devpts and /dev/ptmx: pseudo-terminals inside the sandbox.
//!
//! Opening the ptmx device (char 5:2) allocates a pty pair and gives its
//! master; `/dev/pts/N` (char 136:N) appears in the devpts filesystem
//! until the master is closed (the number is reused once both sides are
//! gone). Slaves open with EIO while the pair is locked (TIOCSPTLCK, set
//! at allocation: unlockpt clears it) or after the master closed.
//!
//! Data: master writes go through the [`ldisc`] line discipline to the
//! slave's read side; slave writes go through output processing to the
//! master's read side. Like every file here nothing blocks: EAGAIN, and
//! the pair's wait queue is notified on every change.
//!
//! Hangup: closing the master hangs the slave up (its reads return 0,
//! writes EIO, poll reports POLLIN|POLLOUT|POLLERR|POLLHUP) and sends
//! SIGHUP and SIGCONT to the session leader of the controlling session.
//! Closing the last slave makes master reads return what is buffered and
//! then EIO, with POLLHUP.
//!
//! Job control needs the calling process and signal delivery: the Sentry
//! installs a [`PtyHost`] with [`DevPts::set_host`]. With it: TIOCSCTTY,
//! TIOCNOTTY (SIGHUP + SIGCONT to the foreground group when the session
//! leader gives the terminal up), TIOCSPGRP/TIOCGPGRP/TIOCGSID with
//! Linux's errors, opening a slave without O_NOCTTY as a session leader
//! without a terminal, ISIG characters and TIOCSWINSZ (SIGWINCH) signal
//! the foreground group, and background groups get SIGTTIN on read and
//! SIGTTOU on write with TOSTOP and on termios changes (EIO when the
//! signal is ignored or blocked for reads, or the group is orphaned).
//! The job-control state is a [`TtyState`] per pair (one controlling
//! session; a process's controlling terminal is the one whose session is
//! its own, and a session is gone once its leader is).
//!
//! ioctls: TCGETS, TCSETS, TCSETSW, TCSETSF (both sides see the slave's
//! termios), TIOCGWINSZ, TIOCSWINSZ, TIOCGPTN, TIOCSPTLCK, TIOCGPTLCK,
//! TIOCSCTTY, TIOCNOTTY, TIOCSPGRP, TIOCGPGRP, TIOCGSID, FIONREAD,
//! TIOCOUTQ, TCFLSH, TCXONC, TCSBRK(P), TIOCSBRK/TIOCCBRK, TIOCGETD/
//! TIOCSETD (N_TTY only), TIOCEXCL/TIOCNXCL.
//! Not implemented: TIOCGPTPEER (needs the fd table), packet mode
//! (TIOCPKT gives EINVAL when enabling), TIOCSTI, the VTIME timer (see
//! [`ldisc`]), termios2 ioctls, O_NOCTTY-less opens of the master
//! becoming a controlling terminal (Linux never does that either).

pub mod ldisc;

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, RwLock, Weak};

use abi::{Errno, Stat, SysResult};

use self::ldisc::{LineDiscipline, Termios, TERMIOS_SIZE};
use crate::device::{makedev, CharDevice};
use crate::file::{FileOps, UserMemory};
use crate::host::TtyState;
use crate::inode::{Filesystem, Inode};
use crate::types::{DirEntry, SetAttr, StatFs, TimeSpec};
use crate::vfs::{Context, Vfs};
use crate::waiter::{events, WaitQueue, Waker};

/// Major number of pty slaves.
pub const PTS_MAJOR: u32 = 136;
/// Most pairs at once (Linux's kernel.pty.max is 4096).
pub const MAX_PTYS: u32 = 1024;
/// DEVPTS_SUPER_MAGIC.
const DEVPTS_MAGIC: i64 = 0x1cd1;
/// The "tty" group slaves belong to (the mount's gid=5).
const TTY_GID: u32 = 5;

const WINSIZE_SIZE: usize = 8;

/// Who is calling a pty operation, as the Sentry sees it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Caller {
    /// Thread-group id.
    pub pid: i32,
    pub pgid: i32,
    pub sid: i32,
    /// CAP_SYS_ADMIN (TIOCSCTTY with arg 1 steals a terminal).
    pub privileged: bool,
    /// Bit `sig - 1` set when the caller ignores or blocks `sig` (only
    /// SIGTTIN and SIGTTOU are looked at).
    pub ignored: u64,
    /// The caller's process group is orphaned.
    pub orphaned: bool,
}

impl Caller {
    fn ignores(&self, sig: i32) -> bool {
        (1..=64).contains(&sig) && self.ignored & (1u64 << (sig - 1)) != 0
    }
}

/// What the ptys need from the Sentry: the caller, the process table and
/// signal delivery. Signals are sent as by the kernel (SI_KERNEL).
pub trait PtyHost: Send + Sync {
    /// The process making the current call (None outside a task).
    fn caller(&self) -> Option<Caller>;
    /// Signal every process of group `pgid`.
    fn signal_pgrp(&self, pgid: i32, sig: i32);
    /// Signal process `pid` (a thread-group id).
    fn signal_process(&self, pid: i32, sig: i32);
    /// The session of process group `pgid` (or of process `pgid` when
    /// no group has that id); None when neither exists.
    fn pgrp_session(&self, pgid: i32) -> Option<i32>;
    /// Whether session `sid` still exists (its leader is alive).
    fn session_alive(&self, sid: i32) -> bool;
    /// Whether session `sid` has a controlling terminal that is not one
    /// of these ptys (the sandbox's host terminal).
    fn session_has_other_tty(&self, _sid: i32) -> bool {
        false
    }
}

/// A devpts instance: the pty table and the /dev/pts directory.
pub struct DevPts {
    dev: u64,
    ptys: Mutex<BTreeMap<u32, Weak<Pty>>>,
    host: RwLock<Option<Arc<dyn PtyHost>>>,
    root: Arc<PtsRoot>,
}

impl DevPts {
    pub fn new() -> Arc<DevPts> {
        Arc::new_cyclic(|me| DevPts {
            dev: crate::types::anon_dev(),
            ptys: Mutex::new(BTreeMap::new()),
            host: RwLock::new(None),
            root: Arc::new(PtsRoot { fs: me.clone(), created: TimeSpec::now() }),
        })
    }

    /// Install the Sentry's hooks (job control and signals).
    pub fn set_host(&self, host: Arc<dyn PtyHost>) {
        *self.host.write().unwrap_or_else(|e| e.into_inner()) = Some(host);
    }

    fn host(&self) -> Option<Arc<dyn PtyHost>> {
        self.host.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn table(&self) -> MutexGuard<'_, BTreeMap<u32, Weak<Pty>>> {
        self.ptys.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The live pair number `n`.
    pub fn pty(&self, n: u32) -> Option<Arc<Pty>> {
        self.table().get(&n).and_then(Weak::upgrade)
    }

    /// The devpts instance behind a /dev/pts directory inode.
    pub fn from_inode(inode: &Arc<dyn Inode>) -> Option<Arc<DevPts>> {
        crate::inode::downcast::<PtsRoot>(inode)?.fs.upgrade()
    }

    /// Pairs whose master is open (what /dev/pts lists).
    fn visible(&self) -> Vec<Arc<Pty>> {
        self.table().values().filter_map(Weak::upgrade).filter(|p| p.lock().master_open).collect()
    }

    /// Allocate a pair (ptmx open): the lowest free number.
    fn allocate(self: &Arc<Self>, ctx: &Context) -> SysResult<Arc<Pty>> {
        let mut t = self.table();
        t.retain(|_, w| w.strong_count() > 0);
        let n = (0..MAX_PTYS).find(|n| !t.contains_key(n)).ok_or(Errno::ENOSPC)?;
        let now = TimeSpec::now();
        let pty = Arc::new(Pty {
            index: n,
            dev: self.dev,
            fs: Arc::downgrade(self),
            jobs: TtyState::default(),
            queue: WaitQueue::new(),
            state: Mutex::new(PtyState {
                ld: LineDiscipline::new(),
                master_open: true,
                slaves: 0,
                other_closed: false,
                locked: true,
                winsize: [0; WINSIZE_SIZE],
                node: NodeAttr { mode: 0o620, uid: ctx.creds.fsuid, gid: TTY_GID, atime: now, mtime: now, ctime: now },
            }),
        });
        t.insert(n, Arc::downgrade(&pty));
        Ok(pty)
    }

    /// Whether session `sid` already has one of these ptys as its
    /// controlling terminal.
    fn session_has_pty(&self, host: &Arc<dyn PtyHost>, sid: i32) -> bool {
        let ptys: Vec<Arc<Pty>> = self.table().values().filter_map(Weak::upgrade).collect();
        ptys.iter().any(|p| p.session(host) == Some(sid))
    }
}

impl Filesystem for DevPts {
    fn fs_type(&self) -> &str {
        "devpts"
    }
    fn root(&self) -> Arc<dyn Inode> {
        self.root.clone()
    }
    fn cache_dentries(&self) -> bool {
        false
    }
    fn mount_options(&self) -> String {
        format!("gid={TTY_GID},mode=620,ptmxmode=666")
    }
}

/// Register the ptmx (5:2) and slave (136:N) drivers on `vfs`.
pub fn register_devices(vfs: &Vfs, pts: &Arc<DevPts>) {
    vfs.register_device(makedev(5, 2), Arc::new(PtmxDevice { pts: pts.clone() }));
    for n in 0..MAX_PTYS {
        vfs.register_device(makedev(PTS_MAJOR, n), Arc::new(SlaveDevice { pts: Arc::downgrade(pts), index: n }));
    }
}

/// Mount a new devpts on `/dev/pts` (made if missing) and register its
/// devices; returns the instance.
pub fn mount(vfs: &Vfs, ctx: &Context) -> SysResult<Arc<DevPts>> {
    match vfs.mkdir(ctx, None, b"/dev/pts", 0o755) {
        Ok(()) | Err(Errno::EEXIST) => {}
        Err(e) => return Err(e),
    }
    let pts = DevPts::new();
    let flags = crate::mount::MountFlags { nosuid: true, noexec: true, ..Default::default() };
    vfs.mount(ctx, None, b"/dev/pts", pts.clone(), flags, "devpts")?;
    register_devices(vfs, &pts);
    Ok(pts)
}

fn ts_stat(st: &mut Stat, a: &NodeAttr) {
    st.atime = a.atime.sec;
    st.atime_nsec = a.atime.nsec;
    st.mtime = a.mtime.sec;
    st.mtime_nsec = a.mtime.nsec;
    st.ctime = a.ctime.sec;
    st.ctime_nsec = a.ctime.nsec;
}

/// /dev/pts itself.
struct PtsRoot {
    fs: Weak<DevPts>,
    created: TimeSpec,
}

impl PtsRoot {
    fn fs(&self) -> SysResult<Arc<DevPts>> {
        self.fs.upgrade().ok_or(Errno::ENOENT)
    }
}

impl Inode for PtsRoot {
    fn stat(&self) -> SysResult<Stat> {
        let fs = self.fs()?;
        let a = NodeAttr { mode: 0, uid: 0, gid: 0, atime: self.created, mtime: self.created, ctime: self.created };
        let mut st = Stat { dev: fs.dev, ino: 1, nlink: 2, mode: libc::S_IFDIR | 0o755, blksize: 1024, ..Default::default() };
        ts_stat(&mut st, &a);
        Ok(st)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn lookup(&self, name: &[u8]) -> SysResult<Arc<dyn Inode>> {
        let fs = self.fs()?;
        if name == b"ptmx" {
            return Ok(Arc::new(PtmxNode { dev: fs.dev, created: self.created }));
        }
        let s = std::str::from_utf8(name).map_err(|_| Errno::ENOENT)?;
        if s.is_empty() || (s.len() > 1 && s.starts_with('0')) || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Errno::ENOENT);
        }
        let n: u32 = s.parse().map_err(|_| Errno::ENOENT)?;
        let pty = fs.pty(n).ok_or(Errno::ENOENT)?;
        if !pty.lock().master_open {
            return Err(Errno::ENOENT);
        }
        Ok(Arc::new(SlaveNode { pty }))
    }
    fn readdir(&self) -> SysResult<Vec<DirEntry>> {
        let fs = self.fs()?;
        let mut v = vec![DirEntry { ino: 2, kind: libc::DT_CHR, name: b"ptmx".to_vec() }];
        for p in fs.visible() {
            v.push(DirEntry { ino: p.ino(), kind: libc::DT_CHR, name: p.index.to_string().into_bytes() });
        }
        Ok(v)
    }
    fn statfs(&self) -> SysResult<StatFs> {
        Ok(StatFs { fs_type: DEVPTS_MAGIC, bsize: 4096, namelen: 255, frsize: 4096, ..Default::default() })
    }
    fn setattr(&self, _attr: &SetAttr) -> SysResult<Stat> {
        Err(Errno::EPERM)
    }
}

/// /dev/pts/ptmx.
struct PtmxNode {
    dev: u64,
    created: TimeSpec,
}

fn ptmx_stat(dev: u64, t: TimeSpec) -> Stat {
    let a = NodeAttr { mode: 0, uid: 0, gid: 0, atime: t, mtime: t, ctime: t };
    let mut st = Stat { dev, ino: 2, nlink: 1, mode: libc::S_IFCHR | 0o666, rdev: makedev(5, 2), blksize: 1024, ..Default::default() };
    ts_stat(&mut st, &a);
    st
}

impl Inode for PtmxNode {
    fn stat(&self) -> SysResult<Stat> {
        Ok(ptmx_stat(self.dev, self.created))
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// /dev/pts/N.
struct SlaveNode {
    pty: Arc<Pty>,
}

impl Inode for SlaveNode {
    fn stat(&self) -> SysResult<Stat> {
        Ok(self.pty.node_stat())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn setattr(&self, attr: &SetAttr) -> SysResult<Stat> {
        {
            let mut s = self.pty.lock();
            let now = TimeSpec::now();
            if let Some(m) = attr.mode {
                s.node.mode = m & 0o7777;
            }
            if let Some(u) = attr.uid {
                s.node.uid = u;
            }
            if let Some(g) = attr.gid {
                s.node.gid = g;
            }
            if let Some(t) = attr.atime {
                s.node.atime = t;
            }
            if let Some(t) = attr.mtime {
                s.node.mtime = t;
            }
            s.node.ctime = now;
        }
        Ok(self.pty.node_stat())
    }
}

#[derive(Clone, Copy)]
struct NodeAttr {
    mode: u32,
    uid: u32,
    gid: u32,
    atime: TimeSpec,
    mtime: TimeSpec,
    ctime: TimeSpec,
}

struct PtyState {
    ld: LineDiscipline,
    master_open: bool,
    slaves: usize,
    /// Every slave closed after one was opened: master reads give EIO.
    other_closed: bool,
    locked: bool,
    winsize: [u8; WINSIZE_SIZE],
    node: NodeAttr,
}

/// A pseudo-terminal pair.
pub struct Pty {
    index: u32,
    dev: u64,
    fs: Weak<DevPts>,
    state: Mutex<PtyState>,
    /// Readiness of both sides.
    queue: WaitQueue,
    jobs: TtyState,
}

/// Signals to send once the pair's lock is released.
type Pending = Vec<(i32, i32)>;

impl Pty {
    fn lock(&self) -> MutexGuard<'_, PtyState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn index(&self) -> u32 {
        self.index
    }

    fn ino(&self) -> u64 {
        self.index as u64 + 3
    }

    fn node_stat(&self) -> Stat {
        let a = self.lock().node;
        let mut st = Stat {
            dev: self.dev,
            ino: self.ino(),
            nlink: 1,
            mode: libc::S_IFCHR | a.mode,
            uid: a.uid,
            gid: a.gid,
            rdev: makedev(PTS_MAJOR, self.index),
            blksize: 1024,
            ..Default::default()
        };
        ts_stat(&mut st, &a);
        st
    }

    /// Job-control state (foreground group, controlling session).
    pub fn jobs(&self) -> &TtyState {
        &self.jobs
    }

    fn host(&self) -> Option<Arc<dyn PtyHost>> {
        self.fs.upgrade()?.host()
    }

    fn notify(&self) {
        self.queue.notify(events::READABLE | events::WRITABLE | events::POLLHUP | events::POLLERR);
    }

    /// The controlling session, forgetting it once its leader is gone.
    fn session(&self, host: &Arc<dyn PtyHost>) -> Option<i32> {
        let s = self.jobs.session()?;
        if host.session_alive(s) {
            Some(s)
        } else {
            self.jobs.release();
            None
        }
    }

    /// The caller, when it has this pty as its controlling terminal.
    fn ctty_caller(&self) -> Option<(Arc<dyn PtyHost>, Caller)> {
        let host = self.host()?;
        let c = host.caller()?;
        (self.session(&host) == Some(c.sid)).then_some((host, c))
    }

    /// Linux's __tty_check_change: a background process touching its
    /// controlling terminal gets `sig` (and the call restarts after the
    /// stop), or EIO.
    fn check_change(&self, sig: i32) -> SysResult<()> {
        let Some((host, c)) = self.ctty_caller() else { return Ok(()) };
        let Some(fg) = self.jobs.foreground() else { return Ok(()) };
        if fg == c.pgid {
            return Ok(());
        }
        if c.ignores(sig) {
            return if sig == libc::SIGTTIN { Err(Errno::EIO) } else { Ok(()) };
        }
        if c.orphaned {
            return Err(Errno::EIO);
        }
        host.signal_pgrp(c.pgid, sig);
        Err(Errno::ERESTARTSYS)
    }

    fn send(&self, pending: Pending) {
        if pending.is_empty() {
            return;
        }
        if let Some(host) = self.host() {
            for (pgid, sig) in pending {
                host.signal_pgrp(pgid, sig);
            }
        }
    }

    /// Open a slave (the slave driver, or tests).
    pub fn open_slave(self: &Arc<Self>, flags: i32) -> SysResult<Arc<PtySlave>> {
        {
            let mut s = self.lock();
            if !s.master_open || s.locked {
                return Err(Errno::EIO);
            }
            s.slaves += 1;
            s.other_closed = false;
        }
        let slave = Arc::new(PtySlave { pty: self.clone() });
        self.notify();
        // A session leader without a terminal opening one without
        // O_NOCTTY acquires it (for reading opens, as Linux does).
        if flags & libc::O_NOCTTY == 0 && flags & libc::O_ACCMODE != libc::O_WRONLY {
            if let (Some(host), Some(fs)) = (self.host(), self.fs.upgrade()) {
                if let Some(c) = host.caller() {
                    if c.pid == c.sid && self.session(&host).is_none() && !fs.session_has_pty(&host, c.sid) && !host.session_has_other_tty(c.sid) {
                        self.jobs.set_controlling(c.sid, c.pgid);
                    }
                }
            }
        }
        Ok(slave)
    }

    fn master_closed(&self) {
        let (sess, host) = {
            let mut s = self.lock();
            s.master_open = false;
            (self.jobs.session(), self.host())
        };
        self.jobs.release();
        self.notify();
        if let (Some(sid), Some(host)) = (sess, host) {
            if host.session_alive(sid) {
                host.signal_process(sid, libc::SIGHUP);
                host.signal_process(sid, libc::SIGCONT);
            }
        }
    }

    fn slave_closed(&self) {
        {
            let mut s = self.lock();
            s.slaves = s.slaves.saturating_sub(1);
            if s.slaves == 0 {
                s.other_closed = true;
            }
        }
        self.notify();
    }

    // ---- data ----

    fn master_read(&self, buf: &mut [u8]) -> SysResult<usize> {
        let mut s = self.lock();
        if buf.is_empty() {
            return Ok(0);
        }
        let n = s.ld.read_output(buf);
        if n > 0 {
            drop(s);
            self.notify();
            return Ok(n);
        }
        if s.other_closed {
            return Err(Errno::EIO);
        }
        Err(Errno::EAGAIN)
    }

    fn master_write(&self, buf: &[u8]) -> SysResult<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let mut sigs = Vec::new();
        let (n, pending) = {
            let mut s = self.lock();
            let n = s.ld.receive(buf, &mut sigs);
            let fg = self.jobs.foreground();
            let pending: Pending = match fg {
                Some(pg) => sigs.iter().map(|&sig| (pg, sig)).collect(),
                None => vec![],
            };
            (n, pending)
        };
        if n > 0 {
            self.notify();
        }
        self.send(pending);
        if n == 0 {
            return Err(Errno::EAGAIN);
        }
        Ok(n)
    }

    fn slave_read(&self, buf: &mut [u8]) -> SysResult<usize> {
        if !self.lock().master_open {
            return Ok(0);
        }
        self.check_change(libc::SIGTTIN)?;
        let mut s = self.lock();
        if !s.master_open {
            return Ok(0);
        }
        match s.ld.read(buf) {
            Some(n) => {
                drop(s);
                self.notify();
                Ok(n)
            }
            None => Err(Errno::EAGAIN),
        }
    }

    fn slave_write(&self, buf: &[u8]) -> SysResult<usize> {
        let tostop = {
            let s = self.lock();
            if !s.master_open {
                return Err(Errno::EIO);
            }
            s.ld.termios().lflag & libc::TOSTOP != 0
        };
        if tostop {
            self.check_change(libc::SIGTTOU)?;
        }
        if buf.is_empty() {
            return Ok(0);
        }
        let n = {
            let mut s = self.lock();
            if !s.master_open {
                return Err(Errno::EIO);
            }
            s.ld.write_output(buf)
        };
        if n == 0 {
            return Err(Errno::EAGAIN);
        }
        self.notify();
        Ok(n)
    }

    fn readiness(&self, master: bool, mask: u32) -> u32 {
        let s = self.lock();
        let mut r = 0;
        if master {
            if s.ld.output_len() > 0 {
                r |= events::READABLE;
            }
            if s.ld.input_room() {
                r |= events::WRITABLE;
            }
            if s.other_closed {
                r |= events::POLLHUP;
            }
        } else {
            if !s.master_open {
                return events::READABLE | events::WRITABLE | events::POLLERR | events::POLLHUP;
            }
            if s.ld.readable() {
                r |= events::READABLE;
            }
            if s.ld.output_room() {
                r |= events::WRITABLE;
            }
        }
        r & (mask | events::POLLHUP | events::POLLERR)
    }

    // ---- ioctls ----

    fn ioctl(&self, master: bool, cmd: u32, arg: u64, mem: &dyn UserMemory) -> SysResult<u64> {
        if !master && !self.lock().master_open {
            return Err(if cmd as u64 == libc::TIOCSPGRP { Errno::ENOTTY } else { Errno::EIO });
        }
        let int_arg = |mem: &dyn UserMemory| -> SysResult<i32> {
            let mut b = [0u8; 4];
            mem.read(arg, &mut b)?;
            Ok(i32::from_ne_bytes(b))
        };
        let put_int = |mem: &dyn UserMemory, v: i32| -> SysResult<u64> {
            mem.write(arg, &v.to_ne_bytes())?;
            Ok(0)
        };
        match cmd as u64 {
            libc::TCGETS => {
                let t = self.lock().ld.termios();
                mem.write(arg, &t.to_bytes())?;
                Ok(0)
            }
            libc::TCSETS | libc::TCSETSW | libc::TCSETSF => {
                self.check_change(libc::SIGTTOU)?;
                let mut b = [0u8; TERMIOS_SIZE];
                mem.read(arg, &mut b)?;
                let mut t = Termios::from_bytes(&b);
                // The pty has no hardware: keep CLOCAL/CREAD-style bits
                // as given, like Linux keeps what it does not implement.
                t.line = 0;
                {
                    let mut s = self.lock();
                    if cmd as u64 == libc::TCSETSF {
                        s.ld.flush_input();
                    }
                    s.ld.set_termios(t);
                }
                self.notify();
                Ok(0)
            }
            libc::TIOCGWINSZ => {
                let w = self.lock().winsize;
                mem.write(arg, &w)?;
                Ok(0)
            }
            libc::TIOCSWINSZ => {
                let mut w = [0u8; WINSIZE_SIZE];
                mem.read(arg, &mut w)?;
                let changed = {
                    let mut s = self.lock();
                    let c = s.winsize != w;
                    s.winsize = w;
                    c
                };
                if changed {
                    if let Some(pg) = self.jobs.foreground() {
                        self.send(vec![(pg, libc::SIGWINCH)]);
                    }
                }
                Ok(0)
            }
            libc::TIOCGPTN if master => put_int(mem, self.index as i32),
            libc::TIOCSPTLCK if master => {
                let v = int_arg(mem)?;
                self.lock().locked = v != 0;
                Ok(0)
            }
            libc::TIOCGPTLCK if master => put_int(mem, self.lock().locked as i32),
            libc::TIOCPKT if master => {
                // Packet mode is not implemented: turning it off is fine.
                if int_arg(mem)? != 0 {
                    return Err(Errno::EINVAL);
                }
                Ok(0)
            }
            libc::TIOCGPKT if master => put_int(mem, 0),
            libc::FIONREAD => {
                let s = self.lock();
                let n = if master { s.ld.output_len() } else { s.ld.input_available() };
                drop(s);
                put_int(mem, n.min(i32::MAX as usize) as i32)
            }
            libc::TIOCOUTQ => put_int(mem, 0),
            libc::TCFLSH => {
                self.check_change(libc::SIGTTOU)?;
                let how = arg as i32;
                let input = match how {
                    libc::TCIFLUSH | libc::TCIOFLUSH => true,
                    libc::TCOFLUSH => false,
                    _ => return Err(Errno::EINVAL),
                };
                if input {
                    // Each side flushes what it would read; flushing the
                    // output of a pty drops nothing already written
                    // (Linux's pty_flush_buffer).
                    let mut s = self.lock();
                    if master {
                        s.ld.flush_output();
                    } else {
                        s.ld.flush_input();
                    }
                }
                self.notify();
                Ok(0)
            }
            libc::TCXONC => {
                self.check_change(libc::SIGTTOU)?;
                match arg as i32 {
                    libc::TCOOFF => self.lock().ld.set_stopped(true),
                    libc::TCOON => self.lock().ld.set_stopped(false),
                    libc::TCIOFF | libc::TCION => {}
                    _ => return Err(Errno::EINVAL),
                }
                self.notify();
                Ok(0)
            }
            libc::TCSBRK | libc::TCSBRKP | libc::TIOCSBRK | libc::TIOCCBRK | libc::TIOCEXCL | libc::TIOCNXCL => Ok(0),
            libc::TIOCGETD => put_int(mem, 0),
            libc::TIOCSETD => {
                if int_arg(mem)? != 0 {
                    return Err(Errno::EINVAL);
                }
                Ok(0)
            }
            libc::TIOCSCTTY => self.tiocsctty(arg),
            libc::TIOCNOTTY => self.tiocnotty(master),
            libc::TIOCSPGRP => self.tiocspgrp(mem, arg),
            libc::TIOCGPGRP => {
                if !master && self.ctty_caller().is_none() {
                    return Err(Errno::ENOTTY);
                }
                put_int(mem, self.jobs.foreground().unwrap_or(0))
            }
            libc::TIOCGSID => {
                if !master && self.ctty_caller().is_none() {
                    return Err(Errno::ENOTTY);
                }
                let sid = self.host().and_then(|h| self.session(&h)).ok_or(Errno::ENOTTY)?;
                put_int(mem, sid)
            }
            _ => Err(Errno::ENOTTY),
        }
    }

    fn tiocsctty(&self, arg: u64) -> SysResult<u64> {
        let host = self.host().ok_or(Errno::EPERM)?;
        let c = host.caller().ok_or(Errno::EPERM)?;
        let fs = self.fs.upgrade().ok_or(Errno::EIO)?;
        let cur = self.session(&host);
        if c.pid == c.sid && cur == Some(c.sid) {
            return Ok(0);
        }
        if c.pid != c.sid || fs.session_has_pty(&host, c.sid) || host.session_has_other_tty(c.sid) {
            return Err(Errno::EPERM);
        }
        if cur.is_some() && !(arg == 1 && c.privileged) {
            return Err(Errno::EPERM);
        }
        self.jobs.set_controlling(c.sid, c.pgid);
        Ok(0)
    }

    fn tiocnotty(&self, master: bool) -> SysResult<u64> {
        if master {
            return Err(Errno::ENOTTY);
        }
        let (host, c) = self.ctty_caller().ok_or(Errno::ENOTTY)?;
        if c.pid == c.sid {
            let fg = self.jobs.foreground();
            self.jobs.release();
            if let Some(pg) = fg {
                host.signal_pgrp(pg, libc::SIGHUP);
                host.signal_pgrp(pg, libc::SIGCONT);
            }
        }
        // A non-leader loses its terminal alone; per-process controlling
        // terminals are not tracked (see the module docs).
        Ok(0)
    }

    fn tiocspgrp(&self, mem: &dyn UserMemory, arg: u64) -> SysResult<u64> {
        match self.check_change(libc::SIGTTOU) {
            Err(Errno::EIO) => return Err(Errno::ENOTTY),
            r => r?,
        }
        let mut b = [0u8; 4];
        mem.read(arg, &mut b)?;
        let want = i32::from_ne_bytes(b);
        if want < 0 {
            return Err(Errno::EINVAL);
        }
        let (host, c) = self.ctty_caller().ok_or(Errno::ENOTTY)?;
        match host.pgrp_session(want) {
            None => Err(Errno::ESRCH),
            Some(s) if s != c.sid => Err(Errno::EPERM),
            Some(_) => {
                self.jobs.set_foreground(want);
                Ok(0)
            }
        }
    }
}

/// The ptmx driver: each open allocates a pair.
struct PtmxDevice {
    pts: Arc<DevPts>,
}

impl CharDevice for PtmxDevice {
    fn open(&self, ctx: &Context, _flags: i32) -> SysResult<Arc<dyn FileOps>> {
        let pty = self.pts.allocate(ctx)?;
        Ok(Arc::new(PtyMaster { pty }))
    }
}

/// Open the master of a new pair on `pts` (what opening /dev/ptmx does).
pub fn open_master(pts: &Arc<DevPts>, ctx: &Context) -> SysResult<Arc<PtyMaster>> {
    let pty = pts.allocate(ctx)?;
    Ok(Arc::new(PtyMaster { pty }))
}

/// The driver of slave `index` (136:index).
struct SlaveDevice {
    pts: Weak<DevPts>,
    index: u32,
}

impl CharDevice for SlaveDevice {
    fn open(&self, _ctx: &Context, flags: i32) -> SysResult<Arc<dyn FileOps>> {
        let pts = self.pts.upgrade().ok_or(Errno::ENXIO)?;
        let pty = pts.pty(self.index).ok_or(Errno::EIO)?;
        Ok(pty.open_slave(flags)?)
    }
}

/// The master side of a pair (an open of ptmx).
pub struct PtyMaster {
    pty: Arc<Pty>,
}

impl PtyMaster {
    pub fn pty(&self) -> &Arc<Pty> {
        &self.pty
    }
}

impl Drop for PtyMaster {
    fn drop(&mut self) {
        self.pty.master_closed();
    }
}

/// One open of a slave.
pub struct PtySlave {
    pty: Arc<Pty>,
}

impl PtySlave {
    pub fn pty(&self) -> &Arc<Pty> {
        &self.pty
    }
}

impl Drop for PtySlave {
    fn drop(&mut self) {
        self.pty.slave_closed();
    }
}

impl FileOps for PtyMaster {
    fn read(&self, buf: &mut [u8], _off: u64) -> SysResult<usize> {
        self.pty.master_read(buf)
    }
    fn write(&self, buf: &[u8], _off: u64, _append: bool) -> SysResult<(usize, u64)> {
        self.pty.master_write(buf).map(|n| (n, 0))
    }
    fn is_stream(&self) -> bool {
        true
    }
    fn seek(&self, _cur: i64, _off: i64, _whence: i32) -> SysResult<i64> {
        Err(Errno::ESPIPE)
    }
    fn stat(&self) -> SysResult<Stat> {
        Ok(ptmx_stat(self.pty.dev, self.pty.lock().node.ctime))
    }
    fn ioctl(&self, cmd: u32, arg: u64, mem: &dyn UserMemory) -> SysResult<u64> {
        self.pty.ioctl(true, cmd, arg, mem)
    }
    fn readiness(&self, mask: u32) -> u32 {
        self.pty.readiness(true, mask)
    }
    fn event_register(&self, w: &Arc<dyn Waker>, mask: u32) {
        self.pty.queue.register(w, mask);
    }
    fn event_unregister(&self, w: &Arc<dyn Waker>) {
        self.pty.queue.unregister(w);
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl FileOps for PtySlave {
    fn read(&self, buf: &mut [u8], _off: u64) -> SysResult<usize> {
        self.pty.slave_read(buf)
    }
    fn write(&self, buf: &[u8], _off: u64, _append: bool) -> SysResult<(usize, u64)> {
        self.pty.slave_write(buf).map(|n| (n, 0))
    }
    fn is_stream(&self) -> bool {
        true
    }
    fn seek(&self, _cur: i64, _off: i64, _whence: i32) -> SysResult<i64> {
        Err(Errno::ESPIPE)
    }
    fn stat(&self) -> SysResult<Stat> {
        Ok(self.pty.node_stat())
    }
    fn ioctl(&self, cmd: u32, arg: u64, mem: &dyn UserMemory) -> SysResult<u64> {
        self.pty.ioctl(false, cmd, arg, mem)
    }
    fn readiness(&self, mask: u32) -> u32 {
        self.pty.readiness(false, mask)
    }
    fn event_register(&self, w: &Arc<dyn Waker>, mask: u32) {
        self.pty.queue.register(w, mask);
    }
    fn event_unregister(&self, w: &Arc<dyn Waker>) {
        self.pty.queue.unregister(w);
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[cfg(test)]
mod tests;
