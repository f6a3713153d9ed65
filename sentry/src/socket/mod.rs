//! The socket layer: the family-independent half of the socket syscalls,
//! and the AF_UNIX family (`unix`).
//!
//! # Shape
//!
//! * A socket object implements [`Socket`]. It never blocks: an operation
//!   that would wait returns EAGAIN, and this layer waits on the socket's
//!   wait queue(s) (`Socket::event_register`) with `Thread::wait_event`,
//!   honouring O_NONBLOCK / MSG_DONTWAIT, SO_RCVTIMEO / SO_SNDTIMEO
//!   (EAGAIN on timeout, EINTR rather than a restart on a signal) and
//!   ERESTARTSYS otherwise. EPIPE from a send raises SIGPIPE here unless
//!   MSG_NOSIGNAL.
//! * A socket file is a `File` over [`SocketFile`], which holds the
//!   `Arc<dyn Socket>` plus what every family shares (timeouts, the
//!   sockfs inode number for fstat and "socket:[ino]").
//! * SOL_SOCKET options SO_TYPE, SO_DOMAIN, SO_PROTOCOL, SO_RCVTIMEO and
//!   SO_SNDTIMEO are answered here; every other option goes to the family.
//!
//! # Plugging in a family (AF_INET / AF_INET6)
//!
//! Implement [`Family`] (socket creation) and [`Socket`] (the object),
//! then register the family once at boot, before the workload runs:
//!
//! ```text
//! sentry::socket::register_family(libc::AF_INET, Arc::new(MyInet { .. }));
//! sentry::socket::register_family(libc::AF_INET6, Arc::new(MyInet6 { .. }));
//! ```
//!
//! `Socket` methods receive addresses as raw `sockaddr` bytes (already
//! copied in, at most 128 bytes) and return them the same way; the layer
//! does the user-memory copies, the `socklen_t` in/out rules, iovecs,
//! msghdr/mmsghdr, control-message encoding (SCM_RIGHTS installs fds,
//! SCM_CREDENTIALS, and any family cmsg in `Control::other`), fd
//! installation and blocking. Until a family is registered,
//! socket(AF_INET...) gives EAFNOSUPPORT and socketpair(AF_INET...)
//! EOPNOTSUPP (what Linux answers for inet socketpairs).
//!
//! Since netstack cannot depend on the Sentry, the `Socket` impl for inet
//! is a thin adapter living in the Sentry (e.g. `socket/inet.rs`) over the
//! netstack's endpoints; the netstack's wait queues can be `fs::waiter`
//! `WaitQueue`s (fs is a leaf crate both may use).

mod addr;
mod cmsg;
pub mod inet;
mod syscalls;
mod unix;

use std::any::Any;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use abi::{Errno, Stat, SysResult};
use fs::file::{File, FileOps, UserMemory};
use fs::waiter::Waker;

pub use syscalls::ENTRIES;

/// Credentials as struct ucred carries them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ucred {
    pub pid: i32,
    pub uid: u32,
    pub gid: u32,
}

impl Ucred {
    pub fn to_bytes(self) -> [u8; 12] {
        let mut b = [0u8; 12];
        b[..4].copy_from_slice(&self.pid.to_ne_bytes());
        b[4..8].copy_from_slice(&self.uid.to_ne_bytes());
        b[8..].copy_from_slice(&self.gid.to_ne_bytes());
        b
    }

    pub fn from_bytes(b: &[u8]) -> Option<Ucred> {
        if b.len() < 12 {
            return None;
        }
        let w = |i: usize| [b[i], b[i + 1], b[i + 2], b[i + 3]];
        Some(Ucred { pid: i32::from_ne_bytes(w(0)), uid: u32::from_ne_bytes(w(4)), gid: u32::from_ne_bytes(w(8)) })
    }
}

/// Who is calling: the ids families need (credentials passing, peer
/// credentials, permission to claim other credentials).
#[derive(Clone, Debug, Default)]
pub struct Caller {
    /// Thread-group id.
    pub pid: i32,
    pub uid: u32,
    pub gid: u32,
    pub euid: u32,
    pub egid: u32,
    pub suid: u32,
    pub sgid: u32,
}

impl Caller {
    /// SCM_CREDENTIALS default: real ids.
    pub fn scm_cred(&self) -> Ucred {
        Ucred { pid: self.pid, uid: self.uid, gid: self.gid }
    }

    /// SO_PEERCRED: effective ids.
    pub fn peer_cred(&self) -> Ucred {
        Ucred { pid: self.pid, uid: self.euid, gid: self.egid }
    }

    pub fn privileged(&self) -> bool {
        self.euid == 0
    }
}

/// The context of one socket operation.
pub struct SockCtx {
    pub caller: Caller,
    /// For operations that name files (AF_UNIX paths): the VFS and the
    /// caller's root/cwd/umask. None when the caller has no task (read(2)
    /// and write(2) through FileOps).
    pub fs: Option<(Arc<fs::vfs::Vfs>, fs::vfs::Context)>,
}

/// Ancillary data passed with a message.
#[derive(Default)]
pub struct Control {
    /// SCM_RIGHTS: open files in flight.
    pub rights: Vec<Arc<File>>,
    /// SCM_CREDENTIALS (checked by the layer when sent explicitly).
    pub creds: Option<Ucred>,
    /// Other control messages (non-SOL_SOCKET levels) for the family to
    /// interpret on send or to return on receive.
    pub other: Vec<cmsg::RawCmsg>,
}

impl Control {
    pub fn is_empty(&self) -> bool {
        self.rights.is_empty() && self.creds.is_none() && self.other.is_empty()
    }
}

/// The result of one `Socket::recvmsg`.
#[derive(Default)]
pub struct RecvMsg {
    /// Bytes copied into the buffer.
    pub n: usize,
    /// Full length of the message (> n when truncated; what MSG_TRUNC
    /// returns for datagrams).
    pub full: usize,
    /// The sender's address as sockaddr bytes (None: msg_namelen 0).
    pub from: Option<Vec<u8>>,
    pub control: Control,
    /// msg_flags bits (MSG_TRUNC, MSG_EOR, ...); MSG_CTRUNC is the layer's.
    pub flags: i32,
}

/// A socket of some family. Never blocks: EAGAIN means "wait on my queues
/// (`event_register`) for the relevant readiness and call again".
pub trait Socket: Send + Sync + Any {
    fn family(&self) -> i32;
    /// SOCK_STREAM, SOCK_DGRAM, ... (what SO_TYPE returns).
    fn sock_type(&self) -> i32;
    fn protocol(&self) -> i32;

    fn bind(&self, ctx: &SockCtx, addr: &[u8]) -> SysResult<()>;
    fn listen(&self, ctx: &SockCtx, backlog: i32) -> SysResult<()>;
    /// A pending connection, or EAGAIN (the layer waits for POLLIN).
    fn accept(&self, ctx: &SockCtx) -> SysResult<Arc<dyn Socket>>;
    /// EAGAIN: wait for POLLOUT and call again (AF_UNIX full backlog).
    /// EINPROGRESS: the attempt runs on; a blocking caller waits for
    /// POLLOUT until `connect_result` is Some (a non-blocking one gets
    /// EINPROGRESS).
    fn connect(&self, ctx: &SockCtx, addr: &[u8]) -> SysResult<()>;
    fn connect_result(&self) -> Option<SysResult<()>> {
        Some(Ok(()))
    }
    /// Send from `data` (to `to` if given). Streams may take part of it
    /// (the layer loops for blocking sends); others all or nothing. The
    /// socket takes what it uses of `control` (`std::mem::take`).
    fn sendmsg(&self, ctx: &SockCtx, data: &[u8], to: Option<&[u8]>, control: &mut Control, flags: i32) -> SysResult<usize>;
    /// Receive into `buf`. Flags: MSG_PEEK, MSG_TRUNC (the layer handles
    /// DONTWAIT and WAITALL). Ok(n = 0) on a stream is EOF.
    fn recvmsg(&self, ctx: &SockCtx, buf: &mut [u8], flags: i32) -> SysResult<RecvMsg>;
    fn shutdown(&self, how: i32) -> SysResult<()>;
    fn getsockname(&self) -> SysResult<Vec<u8>>;
    fn getpeername(&self) -> SysResult<Vec<u8>>;
    /// The option's full value; the layer copies min(optlen, len) out.
    fn getsockopt(&self, ctx: &SockCtx, level: i32, name: i32) -> SysResult<Vec<u8>>;
    fn setsockopt(&self, ctx: &SockCtx, level: i32, name: i32, val: &[u8]) -> SysResult<()>;

    /// POLL* bits ready now (POLLERR/POLLHUP whatever the mask).
    fn readiness(&self, mask: u32) -> u32;
    fn event_register(&self, w: &Arc<dyn Waker>, mask: u32);
    fn event_unregister(&self, w: &Arc<dyn Waker>);
    fn ioctl(&self, _cmd: u32, _arg: u64, _mem: &dyn UserMemory) -> SysResult<u64> {
        Err(Errno::ENOTTY)
    }
    /// The last file of the socket was closed.
    fn release(&self) {}
    fn as_any(&self) -> &dyn Any;
}

/// A socket family: creates sockets of its types.
pub trait Family: Send + Sync {
    fn socket(&self, ctx: &SockCtx, ty: i32, protocol: i32) -> SysResult<Arc<dyn Socket>>;
    fn socketpair(&self, _ctx: &SockCtx, _ty: i32, _protocol: i32) -> SysResult<(Arc<dyn Socket>, Arc<dyn Socket>)> {
        Err(Errno::EOPNOTSUPP)
    }
}

fn families() -> &'static RwLock<HashMap<i32, Arc<dyn Family>>> {
    static F: OnceLock<RwLock<HashMap<i32, Arc<dyn Family>>>> = OnceLock::new();
    F.get_or_init(|| {
        let mut m: HashMap<i32, Arc<dyn Family>> = HashMap::new();
        m.insert(libc::AF_UNIX, Arc::new(unix::UnixFamily));
        RwLock::new(m)
    })
}

/// Register (or replace) the implementation of `domain` (AF_INET, ...).
pub fn register_family(domain: i32, f: Arc<dyn Family>) {
    families().write().unwrap_or_else(|e| e.into_inner()).insert(domain, f);
}

/// The implementation of `domain`, if any.
pub fn family(domain: i32) -> Option<Arc<dyn Family>> {
    families().read().unwrap_or_else(|e| e.into_inner()).get(&domain).cloned()
}

fn sockfs_dev() -> u64 {
    static DEV: OnceLock<u64> = OnceLock::new();
    *DEV.get_or_init(fs::types::anon_dev)
}

/// Options every family shares, kept by the layer.
#[derive(Default, Clone, Copy)]
struct Common {
    rcvtimeo: Option<Duration>,
    sndtimeo: Option<Duration>,
}

/// The FileOps of a socket file.
pub struct SocketFile {
    pub sock: Arc<dyn Socket>,
    ino: u64,
    /// The creator: the credentials read(2)/write(2) act with.
    creator: Caller,
    common: Mutex<Common>,
}

impl SocketFile {
    pub fn new(sock: Arc<dyn Socket>, creator: Caller) -> SocketFile {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        SocketFile { sock, ino: NEXT.fetch_add(1, Ordering::Relaxed), creator, common: Mutex::new(Common::default()) }
    }

    /// A socket file description (O_RDWR, `nonblock` = O_NONBLOCK).
    pub fn file(sock: Arc<dyn Socket>, creator: Caller, nonblock: bool) -> Arc<File> {
        File::new(Arc::new(SocketFile::new(sock, creator)), libc::O_RDWR | if nonblock { libc::O_NONBLOCK } else { 0 }, None)
    }

    fn common(&self) -> Common {
        *self.common.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn ctx(&self) -> SockCtx {
        SockCtx { caller: self.creator.clone(), fs: None }
    }

    pub fn ino(&self) -> u64 {
        self.ino
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        self.sock.release();
    }
}

impl FileOps for SocketFile {
    fn read(&self, buf: &mut [u8], _off: u64) -> SysResult<usize> {
        self.sock.recvmsg(&self.ctx(), buf, 0).map(|r| r.n)
    }

    fn write(&self, buf: &[u8], _off: u64, _append: bool) -> SysResult<(usize, u64)> {
        self.sock.sendmsg(&self.ctx(), buf, None, &mut Control::default(), 0).map(|n| (n, 0))
    }

    fn is_stream(&self) -> bool {
        true
    }

    fn seek(&self, _cur: i64, _off: i64, _whence: i32) -> SysResult<i64> {
        Err(Errno::ESPIPE)
    }

    fn stat(&self) -> SysResult<Stat> {
        Ok(Stat {
            dev: sockfs_dev(),
            ino: self.ino,
            nlink: 1,
            mode: libc::S_IFSOCK | 0o777,
            uid: self.creator.euid,
            gid: self.creator.egid,
            blksize: 4096,
            ..Default::default()
        })
    }

    fn ioctl(&self, cmd: u32, arg: u64, mem: &dyn UserMemory) -> SysResult<u64> {
        if cmd as u64 == libc::FIONBIO {
            return Ok(0);
        }
        self.sock.ioctl(cmd, arg, mem)
    }

    fn readiness(&self, mask: u32) -> u32 {
        self.sock.readiness(mask)
    }

    fn event_register(&self, w: &Arc<dyn Waker>, mask: u32) {
        self.sock.event_register(w, mask);
    }

    fn event_unregister(&self, w: &Arc<dyn Waker>) {
        self.sock.event_unregister(w);
    }

    fn proc_name(&self) -> Option<String> {
        Some(format!("socket:[{}]", self.ino))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
