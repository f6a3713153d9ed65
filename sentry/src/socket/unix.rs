//! AF_UNIX sockets: SOCK_STREAM, SOCK_SEQPACKET and SOCK_DGRAM (SOCK_RAW
//! is taken as SOCK_DGRAM, as Linux does).
//!
//! Names: a path bind creates an S_IFSOCK node with `Vfs::mknod` and
//! records (st_dev, st_ino) → socket in a sandbox-wide table; connect
//! resolves the path and looks the inode up there. Abstract names live in
//! a sandbox-wide table. Tables hold `Weak`s: a closed socket's entry is
//! dead (ECONNREFUSED) and removed on drop.
//!
//! Locking: each socket has `st` (connection state, options) and `io`
//! (receive queue, shutdown bits, pending error; touched by the peer).
//! Never two `st` locks at once, never `st` while holding an `io`, never
//! two `io`s; sockets and files are dropped only after locks are released
//! (their drop takes locks).

use std::any::Any;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};

use abi::{Errno, SysResult};
use fs::file::{File, UserMemory};
use fs::waiter::{events, WaitQueue, Waker};

use super::addr::{self, UnixAddr};
use super::{Control, Family, RecvMsg, SockCtx, Socket, Ucred};

/// sysctl net.core.wmem_default / wmem_max.
const WMEM_DEFAULT: usize = 212992;
const WMEM_MAX: usize = 212992;
/// SOCK_MIN_SNDBUF / SOCK_MIN_RCVBUF (approximate, as 2 * skb overhead).
const SOCK_MIN_BUF: usize = 4608;
/// net.core.somaxconn.
const SOMAXCONN: usize = 4096;
/// net.unix.max_dgram_qlen.
const MAX_DGRAM_QLEN: usize = 10;
/// Per-datagram accounting overhead (Linux charges skb truesize).
const DGRAM_OVERHEAD: usize = 512;

const RCV_SHUTDOWN: u8 = 1;
const SEND_SHUTDOWN: u8 = 2;
const ALL_EVENTS: u32 = events::READABLE | events::WRITABLE | events::POLLRDHUP | events::POLLHUP | events::POLLERR | events::POLLPRI;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A bound name.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Name {
    Path { path: Vec<u8>, key: (u64, u64) },
    Abstract(Vec<u8>),
}

impl Name {
    fn to_addr(&self) -> UnixAddr {
        match self {
            Name::Path { path, .. } => UnixAddr::Path(path.clone()),
            Name::Abstract(n) => UnixAddr::Abstract(n.clone()),
        }
    }
}

fn encode(n: Option<&Name>) -> Vec<u8> {
    addr::encode(n.map(|n| n.to_addr()).as_ref())
}

#[derive(Default)]
struct Names {
    paths: HashMap<(u64, u64), Weak<UnixSocket>>,
    abs: HashMap<Vec<u8>, Weak<UnixSocket>>,
    next_auto: u32,
}

fn names() -> &'static Mutex<Names> {
    static N: OnceLock<Mutex<Names>> = OnceLock::new();
    N.get_or_init(|| Mutex::new(Names { next_auto: 1, ..Default::default() }))
}

/// One message (a datagram, or a stream segment).
struct Msg {
    data: Vec<u8>,
    /// Bytes of a stream segment already read.
    off: usize,
    from: Option<Name>,
    rights: Vec<Arc<File>>,
    cred: Ucred,
}

impl Msg {
    fn left(&self) -> usize {
        self.data.len() - self.off
    }
}

#[derive(Default)]
struct Io {
    q: VecDeque<Msg>,
    /// Unread bytes.
    bytes: usize,
    /// Accounted size (bytes plus datagram overhead).
    cost: usize,
    shutdown: u8,
    err: i32,
}

enum Conn {
    Unconnected,
    Listening { backlog: usize, pending: VecDeque<Arc<UnixSocket>> },
    Connected,
}

struct St {
    name: Option<Name>,
    conn: Conn,
    peer: Option<Weak<UnixSocket>>,
    peer_name: Option<Name>,
    connecting: bool,
    /// A socket whose queue or backlog we wait for (full target).
    blocked_on: Option<Weak<UnixSocket>>,
    passcred: bool,
    sndbuf: usize,
    rcvbuf: usize,
    peercred: Option<Ucred>,
    /// Not yet accepted (an embryo in a listener's queue).
    embryo: bool,
    released: bool,
    /// Options accepted and reported back but without effect.
    flags: HashMap<i32, i32>,
    linger: [u8; 8],
}

pub struct UnixSocket {
    ty: i32,
    me: Weak<UnixSocket>,
    queue: WaitQueue,
    st: Mutex<St>,
    io: Mutex<Io>,
    /// Credentials of the creator (read(2)/write(2) without a task).
    creator: Ucred,
}

pub struct UnixFamily;

fn check_type(ty: i32, proto: i32) -> SysResult<i32> {
    let ty = match ty {
        libc::SOCK_STREAM | libc::SOCK_DGRAM | libc::SOCK_SEQPACKET => ty,
        libc::SOCK_RAW => libc::SOCK_DGRAM,
        _ => return Err(Errno::ESOCKTNOSUPPORT),
    };
    if proto != 0 && proto != libc::PF_UNIX {
        return Err(Errno::EPROTONOSUPPORT);
    }
    Ok(ty)
}

impl Family for UnixFamily {
    fn socket(&self, ctx: &SockCtx, ty: i32, protocol: i32) -> SysResult<Arc<dyn Socket>> {
        let ty = check_type(ty, protocol)?;
        Ok(UnixSocket::new(ty, ctx.caller.scm_cred()))
    }

    fn socketpair(&self, ctx: &SockCtx, ty: i32, protocol: i32) -> SysResult<(Arc<dyn Socket>, Arc<dyn Socket>)> {
        let ty = check_type(ty, protocol)?;
        let a = UnixSocket::new(ty, ctx.caller.scm_cred());
        let b = UnixSocket::new(ty, ctx.caller.scm_cred());
        let cred = ctx.caller.peer_cred();
        for (x, y) in [(&a, &b), (&b, &a)] {
            let mut s = lock(&x.st);
            s.conn = Conn::Connected;
            s.peer = Some(Arc::downgrade(y));
            s.peercred = Some(cred);
        }
        Ok((a, b))
    }
}

impl UnixSocket {
    fn new(ty: i32, creator: Ucred) -> Arc<UnixSocket> {
        Arc::new_cyclic(|me| UnixSocket {
            ty,
            me: me.clone(),
            queue: WaitQueue::new(),
            st: Mutex::new(St {
                name: None,
                conn: Conn::Unconnected,
                peer: None,
                peer_name: None,
                connecting: false,
                blocked_on: None,
                passcred: false,
                sndbuf: WMEM_DEFAULT,
                rcvbuf: WMEM_DEFAULT,
                peercred: None,
                embryo: false,
                released: false,
                flags: HashMap::new(),
                linger: [0; 8],
            }),
            io: Mutex::new(Io::default()),
            creator,
        })
    }

    fn connection_oriented(&self) -> bool {
        self.ty != libc::SOCK_DGRAM
    }

    fn peer(&self) -> Option<Arc<UnixSocket>> {
        lock(&self.st).peer.as_ref().and_then(|w| w.upgrade())
    }

    /// Resolve an address to a live socket: ENOENT/ENOTDIR/EACCES from the
    /// walk, ECONNREFUSED when nothing is bound there.
    fn lookup(ctx: &SockCtx, a: &UnixAddr) -> SysResult<Arc<UnixSocket>> {
        match a {
            UnixAddr::Unnamed => Err(Errno::EINVAL),
            UnixAddr::Abstract(n) => {
                let w = lock(names()).abs.get(n).cloned();
                w.and_then(|w| w.upgrade()).ok_or(Errno::ECONNREFUSED)
            }
            UnixAddr::Path(p) => {
                let (vfs, vctx) = ctx.fs.as_ref().ok_or(Errno::ECONNREFUSED)?;
                let loc = vfs.lookup(vctx, None, p, 0)?;
                let st = loc.inode().stat()?;
                vctx.creds.check(&st, fs::creds::MAY_WRITE)?;
                if st.mode & libc::S_IFMT != libc::S_IFSOCK {
                    return Err(Errno::ECONNREFUSED);
                }
                let w = lock(names()).paths.get(&(st.dev, st.ino)).cloned();
                w.and_then(|w| w.upgrade()).ok_or(Errno::ECONNREFUSED)
            }
        }
    }

    /// Bind to a fresh abstract 5-hex-digit name.
    fn autobind_locked(&self, st: &mut St) -> SysResult<()> {
        let mut n = lock(names());
        for _ in 0..0x100000 {
            let v = n.next_auto & 0xfffff;
            n.next_auto = n.next_auto.wrapping_add(1);
            let name = format!("{v:05x}").into_bytes();
            if n.abs.get(&name).is_some_and(|w| w.strong_count() > 0) {
                continue;
            }
            n.abs.insert(name.clone(), self.me.clone());
            st.name = Some(Name::Abstract(name));
            return Ok(());
        }
        Err(Errno::ENOSPC)
    }

    fn maybe_autobind(&self) -> SysResult<()> {
        let mut st = lock(&self.st);
        if st.passcred && st.name.is_none() {
            self.autobind_locked(&mut st)?;
        }
        Ok(())
    }

    fn name(&self) -> Option<Name> {
        lock(&self.st).name.clone()
    }

    /// unix_may_send: `target` is not connected to someone else.
    fn may_send_to(&self, target: &UnixSocket) -> bool {
        let st = lock(&target.st);
        match st.peer.as_ref() {
            None => true,
            Some(w) => std::ptr::eq(w.as_ptr(), self as *const UnixSocket),
        }
    }

    fn notify_peer(&self, mask: u32) {
        if let Some(p) = self.peer() {
            p.queue.notify(mask);
        }
    }

    fn send_stream(&self, ctx: &SockCtx, data: &[u8], to: Option<&[u8]>, control: &mut Control) -> SysResult<usize> {
        let (peer, sndbuf, from) = {
            let st = lock(&self.st);
            if to.is_some() && self.ty == libc::SOCK_STREAM {
                return Err(if matches!(st.conn, Conn::Connected) { Errno::EISCONN } else { Errno::EOPNOTSUPP });
            }
            if !matches!(st.conn, Conn::Connected) {
                return Err(Errno::ENOTCONN);
            }
            (st.peer.as_ref().and_then(|w| w.upgrade()), st.sndbuf, st.name.clone())
        };
        if lock(&self.io).shutdown & SEND_SHUTDOWN != 0 {
            return Err(Errno::EPIPE);
        }
        let peer = peer.ok_or(Errno::EPIPE)?;
        if self.ty == libc::SOCK_SEQPACKET && data.len() > sndbuf.saturating_sub(32) {
            return Err(Errno::EMSGSIZE);
        }
        let cred = control.creds.unwrap_or(ctx.caller.scm_cred());
        let n = {
            let mut io = lock(&peer.io);
            if io.shutdown & RCV_SHUTDOWN != 0 {
                return Err(Errno::EPIPE);
            }
            if data.is_empty() && self.ty == libc::SOCK_STREAM {
                return Ok(0);
            }
            let space = sndbuf.saturating_sub(io.cost);
            let n = if self.ty == libc::SOCK_SEQPACKET {
                if space < data.len() + DGRAM_OVERHEAD && io.cost > 0 {
                    return Err(Errno::EAGAIN);
                }
                data.len()
            } else {
                if space == 0 {
                    return Err(Errno::EAGAIN);
                }
                space.min(data.len())
            };
            let cost = if self.ty == libc::SOCK_SEQPACKET { n + DGRAM_OVERHEAD } else { n };
            io.q.push_back(Msg { data: data[..n].to_vec(), off: 0, from, rights: std::mem::take(&mut control.rights), cred });
            io.bytes += n;
            io.cost += cost;
            n
        };
        peer.queue.notify(events::READABLE);
        Ok(n)
    }

    fn send_dgram(&self, ctx: &SockCtx, data: &[u8], to: Option<&[u8]>, control: &mut Control) -> SysResult<usize> {
        let target = match to {
            Some(a) => {
                let a = addr::parse(a)?;
                if a == UnixAddr::Unnamed {
                    return Err(Errno::EINVAL);
                }
                let t = UnixSocket::lookup(ctx, &a)?;
                if t.ty != self.ty {
                    return Err(Errno::EPROTOTYPE);
                }
                t
            }
            None => {
                let mut st = lock(&self.st);
                let w = st.peer.clone().ok_or(Errno::ENOTCONN)?;
                match w.upgrade() {
                    Some(p) => p,
                    None => {
                        st.peer = None;
                        st.peer_name = None;
                        st.conn = Conn::Unconnected;
                        return Err(Errno::ECONNREFUSED);
                    }
                }
            }
        };
        let sndbuf = lock(&self.st).sndbuf;
        if data.len() > sndbuf.saturating_sub(32) {
            return Err(Errno::EMSGSIZE);
        }
        if lock(&self.io).shutdown & SEND_SHUTDOWN != 0 {
            return Err(Errno::EPIPE);
        }
        if lock(&target.st).passcred {
            let mut st = lock(&self.st);
            if st.name.is_none() {
                self.autobind_locked(&mut st)?;
            }
        } else {
            self.maybe_autobind()?;
        }
        if !self.may_send_to(&target) {
            return Err(Errno::EPERM);
        }
        let target_peer_is_me = {
            let st = lock(&target.st);
            st.peer.as_ref().is_some_and(|w| std::ptr::eq(w.as_ptr(), self as *const UnixSocket))
        };
        let from = self.name();
        let cred = control.creds.unwrap_or(ctx.caller.scm_cred());
        {
            let mut io = lock(&target.io);
            if io.shutdown & RCV_SHUTDOWN != 0 {
                return Err(Errno::EPIPE);
            }
            let cost = data.len() + DGRAM_OVERHEAD;
            let full = (io.cost > 0 && io.cost + cost > sndbuf) || (!target_peer_is_me && !std::ptr::eq(&*target, self) && io.q.len() > MAX_DGRAM_QLEN);
            if full {
                drop(io);
                lock(&self.st).blocked_on = Some(Arc::downgrade(&target));
                return Err(Errno::EAGAIN);
            }
            io.q.push_back(Msg { data: data.to_vec(), off: 0, from, rights: std::mem::take(&mut control.rights), cred });
            io.bytes += data.len();
            io.cost += cost;
        }
        target.queue.notify(events::READABLE);
        Ok(data.len())
    }

    fn recv_stream(&self, buf: &mut [u8], flags: i32) -> SysResult<RecvMsg> {
        let (passcred, listening, connected) = {
            let st = lock(&self.st);
            (st.passcred, matches!(st.conn, Conn::Listening { .. }), matches!(st.conn, Conn::Connected))
        };
        if listening || (!connected && self.ty == libc::SOCK_STREAM) {
            return Err(Errno::EINVAL);
        }
        if !connected {
            return Err(Errno::ENOTCONN);
        }
        let peek = flags & libc::MSG_PEEK != 0;
        let mut out = RecvMsg::default();
        let mut dropped: Vec<Msg> = Vec::new();
        {
            let mut io = lock(&self.io);
            if io.q.is_empty() {
                if io.err != 0 {
                    let e = std::mem::take(&mut io.err);
                    return Err(Errno(e));
                }
                if io.shutdown & RCV_SHUTDOWN != 0 {
                    return Ok(out);
                }
                return Err(Errno::EAGAIN);
            }
            let mut n = 0usize;
            let mut idx = 0usize;
            let mut first_cred: Option<Ucred> = None;
            while n < buf.len() && idx < io.q.len() {
                let m = &io.q[idx];
                if let Some(c) = first_cred {
                    if passcred && c != m.cred {
                        break;
                    }
                } else {
                    first_cred = Some(m.cred);
                    out.from = m.from.as_ref().map(|f| encode(Some(f)));
                }
                let k = m.left().min(buf.len() - n);
                buf[n..n + k].copy_from_slice(&m.data[m.off..m.off + k]);
                n += k;
                let has_rights = !m.rights.is_empty();
                if peek {
                    out.control.rights.extend(m.rights.iter().cloned());
                    idx += 1;
                    if has_rights {
                        break;
                    }
                    continue;
                }
                let m = &mut io.q[idx];
                m.off += k;
                out.control.rights.append(&mut m.rights);
                if m.left() == 0 {
                    if let Some(m) = io.q.remove(idx) {
                        dropped.push(m);
                    }
                }
                io.bytes -= k;
                io.cost = io.cost.saturating_sub(if self.ty == libc::SOCK_SEQPACKET { k + DGRAM_OVERHEAD } else { k });
                if has_rights {
                    break;
                }
            }
            if passcred {
                out.control.creds = first_cred;
            }
            out.n = n;
            out.full = n;
        }
        drop(dropped);
        if !peek {
            self.notify_peer(events::WRITABLE);
        }
        Ok(out)
    }

    fn recv_packet(&self, buf: &mut [u8], flags: i32) -> SysResult<RecvMsg> {
        let passcred = {
            let st = lock(&self.st);
            if self.ty == libc::SOCK_SEQPACKET && !matches!(st.conn, Conn::Connected) {
                return Err(if matches!(st.conn, Conn::Listening { .. }) { Errno::EINVAL } else { Errno::ENOTCONN });
            }
            st.passcred
        };
        let peek = flags & libc::MSG_PEEK != 0;
        let mut out = RecvMsg::default();
        let dropped;
        {
            let mut io = lock(&self.io);
            let Some(m) = io.q.front() else {
                if io.err != 0 {
                    let e = std::mem::take(&mut io.err);
                    return Err(Errno(e));
                }
                if io.shutdown & RCV_SHUTDOWN != 0 {
                    return Ok(out);
                }
                return Err(Errno::EAGAIN);
            };
            let n = m.data.len().min(buf.len());
            buf[..n].copy_from_slice(&m.data[..n]);
            out.n = n;
            out.full = m.data.len();
            if m.data.len() > buf.len() {
                out.flags |= libc::MSG_TRUNC;
            }
            out.from = m.from.as_ref().map(|f| encode(Some(f)));
            if passcred {
                out.control.creds = Some(m.cred);
            }
            if peek {
                out.control.rights = m.rights.clone();
                dropped = None;
            } else {
                let mut m = io.q.pop_front();
                if let Some(m) = m.as_mut() {
                    out.control.rights = std::mem::take(&mut m.rights);
                    io.bytes -= m.data.len();
                    io.cost = io.cost.saturating_sub(m.data.len() + DGRAM_OVERHEAD);
                }
                dropped = m;
            }
        }
        drop(dropped);
        if !peek {
            self.queue.notify(events::WRITABLE);
            self.notify_peer(events::WRITABLE);
        }
        Ok(out)
    }

    fn connect_stream(&self, ctx: &SockCtx, a: &UnixAddr) -> SysResult<()> {
        {
            let mut st = lock(&self.st);
            match st.conn {
                Conn::Connected => return Err(Errno::EISCONN),
                Conn::Listening { .. } => return Err(Errno::EINVAL),
                Conn::Unconnected => {}
            }
            if st.connecting {
                return Err(Errno::EALREADY);
            }
            st.connecting = true;
        }
        let r = self.connect_stream_inner(ctx, a);
        lock(&self.st).connecting = false;
        r
    }

    fn connect_stream_inner(&self, ctx: &SockCtx, a: &UnixAddr) -> SysResult<()> {
        if *a == UnixAddr::Unnamed {
            return Err(Errno::EINVAL);
        }
        let l = UnixSocket::lookup(ctx, a)?;
        if l.ty != self.ty {
            return Err(Errno::EPROTOTYPE);
        }
        self.maybe_autobind()?;
        let server = UnixSocket::new(self.ty, l.creator);
        let (lname, lcred) = {
            let mut st = lock(&l.st);
            let lname = st.name.clone();
            let lcred = st.peercred;
            match &mut st.conn {
                Conn::Listening { backlog, pending } => {
                    if pending.len() > *backlog {
                        drop(st);
                        lock(&self.st).blocked_on = Some(Arc::downgrade(&l));
                        return Err(Errno::EAGAIN);
                    }
                    {
                        let mut ss = lock(&server.st);
                        ss.name = lname.clone();
                        ss.conn = Conn::Connected;
                        ss.peer = Some(self.me.clone());
                        ss.peer_name = self.name();
                        ss.peercred = Some(ctx.caller.peer_cred());
                        ss.embryo = true;
                        ss.passcred = false;
                    }
                    pending.push_back(server.clone());
                }
                _ => return Err(Errno::ECONNREFUSED),
            }
            (lname, lcred)
        };
        {
            let mut st = lock(&self.st);
            st.conn = Conn::Connected;
            st.peer = Some(Arc::downgrade(&server));
            st.peer_name = lname;
            st.peercred = lcred;
            st.blocked_on = None;
        }
        l.queue.notify(events::READABLE);
        self.queue.notify(ALL_EVENTS);
        drop(server);
        Ok(())
    }

    fn connect_dgram(&self, ctx: &SockCtx, raw: &[u8]) -> SysResult<()> {
        if raw.len() >= 2 && u16::from_ne_bytes([raw[0], raw[1]]) == libc::AF_UNSPEC as u16 {
            let mut st = lock(&self.st);
            st.peer = None;
            st.peer_name = None;
            st.conn = Conn::Unconnected;
            return Ok(());
        }
        let a = addr::parse(raw)?;
        if a == UnixAddr::Unnamed {
            return Err(Errno::EINVAL);
        }
        let t = UnixSocket::lookup(ctx, &a)?;
        if t.ty != self.ty {
            return Err(Errno::EPROTOTYPE);
        }
        self.maybe_autobind()?;
        if !self.may_send_to(&t) {
            return Err(Errno::EPERM);
        }
        let tname = t.name();
        let mut st = lock(&self.st);
        st.peer = Some(Arc::downgrade(&t));
        st.peer_name = tname;
        st.conn = Conn::Connected;
        st.peercred = Some(ctx.caller.peer_cred());
        drop(st);
        Ok(())
    }

    /// The close of the last reference: tell the peer, free the name.
    fn do_release(&self) {
        let (peer, pending, name, embryo) = {
            let mut st = lock(&self.st);
            if st.released {
                return;
            }
            st.released = true;
            let pending = match std::mem::replace(&mut st.conn, Conn::Unconnected) {
                Conn::Listening { pending, .. } => pending,
                c => {
                    st.conn = c;
                    VecDeque::new()
                }
            };
            (st.peer.as_ref().and_then(|w| w.upgrade()), pending, st.name.clone(), st.embryo)
        };
        let unread = {
            let mut io = lock(&self.io);
            io.shutdown = RCV_SHUTDOWN | SEND_SHUTDOWN;
            !io.q.is_empty()
        };
        if let Some(p) = &peer {
            if self.connection_oriented() {
                let mut io = lock(&p.io);
                io.shutdown = RCV_SHUTDOWN | SEND_SHUTDOWN;
                if unread || embryo {
                    io.err = libc::ECONNRESET;
                }
            }
            p.queue.notify(ALL_EVENTS);
        }
        drop(peer);
        if let Some(n) = name {
            let me = self as *const UnixSocket;
            let mut t = lock(names());
            match &n {
                Name::Path { key, .. } => {
                    if t.paths.get(key).is_some_and(|w| std::ptr::eq(w.as_ptr(), me) || w.strong_count() == 0) {
                        t.paths.remove(key);
                    }
                }
                Name::Abstract(a) => {
                    if t.abs.get(a).is_some_and(|w| std::ptr::eq(w.as_ptr(), me) || w.strong_count() == 0) {
                        t.abs.remove(a);
                    }
                }
            }
        }
        let q: Vec<Msg> = lock(&self.io).q.drain(..).collect();
        drop(q);
        drop(pending);
        self.queue.notify(ALL_EVENTS);
    }
}

impl Drop for UnixSocket {
    fn drop(&mut self) {
        self.do_release();
    }
}

fn int_opt(v: &[u8]) -> SysResult<i32> {
    if v.len() < 4 {
        return Err(Errno::EINVAL);
    }
    Ok(i32::from_ne_bytes([v[0], v[1], v[2], v[3]]))
}

impl Socket for UnixSocket {
    fn family(&self) -> i32 {
        libc::AF_UNIX
    }

    fn sock_type(&self) -> i32 {
        self.ty
    }

    fn protocol(&self) -> i32 {
        0
    }

    fn bind(&self, ctx: &SockCtx, raw: &[u8]) -> SysResult<()> {
        let a = addr::parse(raw)?;
        let mut st = lock(&self.st);
        if st.name.is_some() {
            return Err(Errno::EINVAL);
        }
        match a {
            UnixAddr::Unnamed => self.autobind_locked(&mut st),
            UnixAddr::Abstract(n) => {
                let mut t = lock(names());
                if t.abs.get(&n).is_some_and(|w| w.strong_count() > 0) {
                    return Err(Errno::EADDRINUSE);
                }
                t.abs.insert(n.clone(), self.me.clone());
                st.name = Some(Name::Abstract(n));
                Ok(())
            }
            UnixAddr::Path(p) => {
                let (vfs, vctx) = ctx.fs.as_ref().ok_or(Errno::EINVAL)?;
                match vfs.mknod(vctx, None, &p, libc::S_IFSOCK | 0o777, 0) {
                    Err(Errno::EEXIST) => return Err(Errno::EADDRINUSE),
                    r => r?,
                }
                let loc = vfs.lookup(vctx, None, &p, libc::AT_SYMLINK_NOFOLLOW)?;
                let s = loc.inode().stat()?;
                let key = (s.dev, s.ino);
                lock(names()).paths.insert(key, self.me.clone());
                st.name = Some(Name::Path { path: p, key });
                Ok(())
            }
        }
    }

    fn listen(&self, ctx: &SockCtx, backlog: i32) -> SysResult<()> {
        if !self.connection_oriented() {
            return Err(Errno::EOPNOTSUPP);
        }
        let backlog = if backlog < 0 { SOMAXCONN } else { (backlog as usize).min(SOMAXCONN) };
        let mut st = lock(&self.st);
        if st.name.is_none() {
            return Err(Errno::EINVAL);
        }
        match &mut st.conn {
            Conn::Listening { backlog: b, .. } => *b = backlog,
            Conn::Unconnected => {
                st.conn = Conn::Listening { backlog, pending: VecDeque::new() };
                st.peercred = Some(ctx.caller.peer_cred());
            }
            Conn::Connected => return Err(Errno::EINVAL),
        }
        drop(st);
        self.queue.notify(ALL_EVENTS);
        Ok(())
    }

    fn accept(&self, _ctx: &SockCtx) -> SysResult<Arc<dyn Socket>> {
        if !self.connection_oriented() {
            return Err(Errno::EOPNOTSUPP);
        }
        let s = {
            let mut st = lock(&self.st);
            match &mut st.conn {
                Conn::Listening { pending, .. } => pending.pop_front().ok_or(Errno::EAGAIN)?,
                _ => return Err(Errno::EINVAL),
            }
        };
        lock(&s.st).embryo = false;
        self.queue.notify(events::WRITABLE);
        Ok(s)
    }

    fn connect(&self, ctx: &SockCtx, raw: &[u8]) -> SysResult<()> {
        if self.ty == libc::SOCK_DGRAM {
            return self.connect_dgram(ctx, raw);
        }
        let a = addr::parse(raw)?;
        self.connect_stream(ctx, &a)
    }

    fn sendmsg(&self, ctx: &SockCtx, data: &[u8], to: Option<&[u8]>, control: &mut Control, flags: i32) -> SysResult<usize> {
        if flags & libc::MSG_OOB != 0 {
            return Err(Errno::EOPNOTSUPP);
        }
        if self.ty == libc::SOCK_DGRAM {
            self.send_dgram(ctx, data, to, control)
        } else {
            self.send_stream(ctx, data, to, control)
        }
    }

    fn recvmsg(&self, _ctx: &SockCtx, buf: &mut [u8], flags: i32) -> SysResult<RecvMsg> {
        if flags & libc::MSG_OOB != 0 {
            return Err(Errno::EOPNOTSUPP);
        }
        if self.ty == libc::SOCK_STREAM {
            self.recv_stream(buf, flags)
        } else {
            self.recv_packet(buf, flags)
        }
    }

    fn shutdown(&self, how: i32) -> SysResult<()> {
        if !(libc::SHUT_RD..=libc::SHUT_RDWR).contains(&how) {
            return Err(Errno::EINVAL);
        }
        let mode = (how + 1) as u8;
        lock(&self.io).shutdown |= mode;
        self.queue.notify(ALL_EVENTS);
        if self.connection_oriented() {
            if let Some(p) = self.peer() {
                let mut pm = 0;
                if mode & RCV_SHUTDOWN != 0 {
                    pm |= SEND_SHUTDOWN;
                }
                if mode & SEND_SHUTDOWN != 0 {
                    pm |= RCV_SHUTDOWN;
                }
                lock(&p.io).shutdown |= pm;
                p.queue.notify(ALL_EVENTS);
            }
        }
        Ok(())
    }

    fn getsockname(&self) -> SysResult<Vec<u8>> {
        Ok(encode(lock(&self.st).name.as_ref()))
    }

    fn getpeername(&self) -> SysResult<Vec<u8>> {
        let st = lock(&self.st);
        if !matches!(st.conn, Conn::Connected) || st.peer.is_none() {
            return Err(Errno::ENOTCONN);
        }
        Ok(encode(st.peer_name.as_ref()))
    }

    fn getsockopt(&self, _ctx: &SockCtx, level: i32, name: i32) -> SysResult<Vec<u8>> {
        if level != libc::SOL_SOCKET {
            return Err(Errno::EOPNOTSUPP);
        }
        let int = |v: i32| v.to_ne_bytes().to_vec();
        if name == libc::SO_ERROR {
            return Ok(int(std::mem::take(&mut lock(&self.io).err)));
        }
        let st = lock(&self.st);
        Ok(match name {
            libc::SO_ACCEPTCONN => int(matches!(st.conn, Conn::Listening { .. }) as i32),
            libc::SO_PASSCRED => int(st.passcred as i32),
            libc::SO_SNDBUF => int(st.sndbuf as i32),
            libc::SO_RCVBUF => int(st.rcvbuf as i32),
            libc::SO_PEERCRED => {
                let c = if self.connection_oriented() { st.peercred } else { None };
                c.unwrap_or(Ucred { pid: 0, uid: u32::MAX, gid: u32::MAX }).to_bytes().to_vec()
            }
            libc::SO_LINGER => st.linger.to_vec(),
            libc::SO_RCVLOWAT | libc::SO_SNDLOWAT => int(1),
            libc::SO_REUSEADDR | libc::SO_REUSEPORT | libc::SO_KEEPALIVE | libc::SO_BROADCAST | libc::SO_OOBINLINE | libc::SO_DONTROUTE
            | libc::SO_PRIORITY | libc::SO_PASSSEC | libc::SO_TIMESTAMP | libc::SO_NO_CHECK => int(*st.flags.get(&name).unwrap_or(&0)),
            _ => return Err(Errno::ENOPROTOOPT),
        })
    }

    fn setsockopt(&self, ctx: &SockCtx, level: i32, name: i32, val: &[u8]) -> SysResult<()> {
        if level != libc::SOL_SOCKET {
            return Err(Errno::EOPNOTSUPP);
        }
        let mut st = lock(&self.st);
        match name {
            libc::SO_PASSCRED => st.passcred = int_opt(val)? != 0,
            libc::SO_SNDBUF | libc::SO_RCVBUF | libc::SO_SNDBUFFORCE | libc::SO_RCVBUFFORCE => {
                let v = int_opt(val)?;
                let force = matches!(name, libc::SO_SNDBUFFORCE | libc::SO_RCVBUFFORCE);
                if force && !ctx.caller.privileged() {
                    return Err(Errno::EPERM);
                }
                let v = if force { v.max(0) as usize } else { (v.max(0) as usize).min(WMEM_MAX) };
                let v = v.saturating_mul(2).clamp(SOCK_MIN_BUF, i32::MAX as usize);
                if matches!(name, libc::SO_SNDBUF | libc::SO_SNDBUFFORCE) {
                    st.sndbuf = v;
                } else {
                    st.rcvbuf = v;
                }
                drop(st);
                self.queue.notify(events::WRITABLE);
            }
            libc::SO_LINGER => {
                if val.len() < 8 {
                    return Err(Errno::EINVAL);
                }
                st.linger.copy_from_slice(&val[..8]);
            }
            libc::SO_REUSEADDR | libc::SO_REUSEPORT | libc::SO_KEEPALIVE | libc::SO_BROADCAST | libc::SO_OOBINLINE | libc::SO_DONTROUTE
            | libc::SO_PRIORITY | libc::SO_PASSSEC | libc::SO_TIMESTAMP | libc::SO_NO_CHECK => {
                let v = int_opt(val)?;
                let v = if name == libc::SO_PRIORITY { v } else { (v != 0) as i32 };
                st.flags.insert(name, v);
            }
            libc::SO_RCVLOWAT | libc::SO_SNDLOWAT => {
                int_opt(val)?;
            }
            _ => return Err(Errno::ENOPROTOOPT),
        }
        Ok(())
    }

    fn readiness(&self, mask: u32) -> u32 {
        let (listening, pending, connected, peer, sndbuf) = {
            let st = lock(&self.st);
            let (l, p) = match &st.conn {
                Conn::Listening { pending, .. } => (true, !pending.is_empty()),
                _ => (false, false),
            };
            (l, p, matches!(st.conn, Conn::Connected), st.peer.as_ref().and_then(|w| w.upgrade()), st.sndbuf)
        };
        let mut r = 0;
        {
            let io = lock(&self.io);
            if io.err != 0 {
                r |= events::POLLERR;
            }
            if io.shutdown == RCV_SHUTDOWN | SEND_SHUTDOWN {
                r |= events::POLLHUP;
            }
            if io.shutdown & RCV_SHUTDOWN != 0 {
                r |= events::POLLRDHUP | events::READABLE;
            }
            if !io.q.is_empty() {
                r |= events::READABLE;
            }
        }
        if pending {
            r |= events::READABLE;
        }
        if self.connection_oriented() && !listening && !connected {
            r |= events::POLLHUP;
        }
        if !listening {
            let writable = match &peer {
                Some(p) => {
                    // p.st before p.io (never st under io).
                    let limited = self.ty == libc::SOCK_DGRAM && !p.may_send_to_is_me(self);
                    let io = lock(&p.io);
                    io.cost.saturating_mul(4) <= sndbuf && !(limited && io.q.len() > MAX_DGRAM_QLEN)
                }
                None => true,
            };
            if writable {
                r |= events::WRITABLE;
            }
        }
        drop(peer);
        r & (mask | events::POLLHUP | events::POLLERR)
    }

    fn event_register(&self, w: &Arc<dyn Waker>, mask: u32) {
        self.queue.register(w, mask);
        if mask & events::WRITABLE != 0 {
            let (peer, blocked) = {
                let st = lock(&self.st);
                (st.peer.as_ref().and_then(|w| w.upgrade()), st.blocked_on.as_ref().and_then(|w| w.upgrade()))
            };
            if self.ty == libc::SOCK_DGRAM {
                if let Some(p) = &peer {
                    p.queue.register(w, events::WRITABLE);
                }
            }
            if let Some(b) = &blocked {
                b.queue.register(w, events::WRITABLE);
            }
        }
    }

    fn event_unregister(&self, w: &Arc<dyn Waker>) {
        self.queue.unregister(w);
        let (peer, blocked) = {
            let mut st = lock(&self.st);
            (st.peer.as_ref().and_then(|w| w.upgrade()), st.blocked_on.take().and_then(|w| w.upgrade()))
        };
        if self.ty == libc::SOCK_DGRAM {
            if let Some(p) = &peer {
                p.queue.unregister(w);
            }
        }
        if let Some(b) = &blocked {
            b.queue.unregister(w);
        }
    }

    fn ioctl(&self, cmd: u32, arg: u64, mem: &dyn UserMemory) -> SysResult<u64> {
        let v: usize = match cmd as u64 {
            libc::FIONREAD => {
                if matches!(lock(&self.st).conn, Conn::Listening { .. }) {
                    return Err(Errno::EINVAL);
                }
                let io = lock(&self.io);
                if self.ty == libc::SOCK_DGRAM {
                    io.q.front().map_or(0, |m| m.data.len())
                } else {
                    io.bytes
                }
            }
            libc::TIOCOUTQ => {
                if matches!(lock(&self.st).conn, Conn::Listening { .. }) {
                    return Err(Errno::EINVAL);
                }
                match self.peer() {
                    Some(p) if self.connection_oriented() => lock(&p.io).bytes,
                    _ => 0,
                }
            }
            _ => return Err(Errno::ENOTTY),
        };
        let v = v.min(i32::MAX as usize) as i32;
        mem.write(arg, &v.to_ne_bytes())?;
        Ok(0)
    }

    fn release(&self) {
        self.do_release();
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl UnixSocket {
    /// Whether `me` is this socket's connected peer.
    fn may_send_to_is_me(&self, me: &UnixSocket) -> bool {
        let st = lock(&self.st);
        st.peer.as_ref().is_some_and(|w| std::ptr::eq(w.as_ptr(), me as *const UnixSocket))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::socket::Caller;

    fn ctx() -> SockCtx {
        SockCtx { caller: Caller { pid: 7, uid: 1, gid: 2, euid: 1, egid: 2, suid: 1, sgid: 2 }, fs: None }
    }

    fn pair(ty: i32) -> (Arc<dyn Socket>, Arc<dyn Socket>) {
        UnixFamily.socketpair(&ctx(), ty, 0).unwrap()
    }

    fn send(s: &Arc<dyn Socket>, d: &[u8]) -> SysResult<usize> {
        s.sendmsg(&ctx(), d, None, &mut Control::default(), 0)
    }

    fn recv(s: &Arc<dyn Socket>, n: usize, flags: i32) -> SysResult<(Vec<u8>, RecvMsg)> {
        let mut b = vec![0u8; n];
        let r = s.recvmsg(&ctx(), &mut b, flags)?;
        b.truncate(r.n);
        Ok((b, r))
    }

    #[test]
    fn stream_merges_and_eof() {
        let (a, b) = pair(libc::SOCK_STREAM);
        assert_eq!(send(&a, b"ab"), Ok(2));
        assert_eq!(send(&a, b"cd"), Ok(2));
        assert_eq!(recv(&b, 3, libc::MSG_PEEK).unwrap().0, b"abc");
        assert_eq!(recv(&b, 3, 0).unwrap().0, b"abc");
        assert_eq!(recv(&b, 8, 0).unwrap().0, b"d");
        assert_eq!(recv(&b, 8, 0).err(), Some(Errno::EAGAIN));
        a.shutdown(libc::SHUT_WR).unwrap();
        assert_ne!(b.readiness(events::POLLRDHUP) & events::POLLRDHUP, 0);
        assert_eq!(recv(&b, 8, 0).unwrap().1.n, 0);
        assert_eq!(send(&a, b"x"), Err(Errno::EPIPE));
        drop(a);
        assert_ne!(b.readiness(0) & events::POLLHUP, 0);
        assert_eq!(send(&b, b"x"), Err(Errno::EPIPE));
    }

    #[test]
    fn stream_backpressure() {
        let (a, b) = pair(libc::SOCK_STREAM);
        let big = vec![1u8; WMEM_DEFAULT + 100];
        assert_eq!(send(&a, &big), Ok(WMEM_DEFAULT));
        assert_eq!(send(&a, b"x"), Err(Errno::EAGAIN));
        assert_eq!(a.readiness(events::POLLOUT), 0);
        recv(&b, WMEM_DEFAULT, 0).unwrap();
        assert_ne!(a.readiness(events::POLLOUT), 0);
    }

    #[test]
    fn close_with_unread_data_resets_peer() {
        let (a, b) = pair(libc::SOCK_STREAM);
        send(&b, b"unread").unwrap();
        drop(a);
        assert_eq!(recv(&b, 4, 0).err(), Some(Errno::ECONNRESET));
        assert_eq!(recv(&b, 4, 0).unwrap().1.n, 0);
    }

    #[test]
    fn dgram_boundaries_trunc_and_peek() {
        let (a, b) = pair(libc::SOCK_DGRAM);
        send(&a, b"hello").unwrap();
        send(&a, b"").unwrap();
        let (d, r) = recv(&b, 2, libc::MSG_PEEK).unwrap();
        assert_eq!(d, b"he");
        assert_eq!(r.full, 5);
        assert_ne!(r.flags & libc::MSG_TRUNC, 0);
        let (d, _) = recv(&b, 16, 0).unwrap();
        assert_eq!(d, b"hello");
        assert_eq!(recv(&b, 16, 0).unwrap().1.full, 0);
        assert_eq!(recv(&b, 16, 0).err(), Some(Errno::EAGAIN));
        drop(b);
        assert_eq!(send(&a, b"x"), Err(Errno::ECONNREFUSED));
        assert_eq!(send(&a, b"x"), Err(Errno::ENOTCONN));
    }

    #[test]
    fn seqpacket_boundaries() {
        let (a, b) = pair(libc::SOCK_SEQPACKET);
        send(&a, b"aa").unwrap();
        send(&a, b"bbb").unwrap();
        assert_eq!(recv(&b, 16, 0).unwrap().0, b"aa");
        assert_eq!(recv(&b, 16, 0).unwrap().0, b"bbb");
    }

    #[test]
    fn abstract_bind_listen_connect_accept() {
        let c = ctx();
        let l = UnixFamily.socket(&c, libc::SOCK_STREAM, 0).unwrap();
        let name = addr::encode(Some(&UnixAddr::Abstract(b"unit-test-abs".to_vec())));
        l.bind(&c, &name).unwrap();
        assert_eq!(l.getsockname().unwrap(), name);
        let x = UnixFamily.socket(&c, libc::SOCK_STREAM, 0).unwrap();
        assert_eq!(x.bind(&c, &name), Err(Errno::EADDRINUSE));
        assert_eq!(x.connect(&c, &name), Err(Errno::ECONNREFUSED));
        l.listen(&c, 1).unwrap();
        assert_eq!(l.accept(&c).err(), Some(Errno::EAGAIN));
        x.connect(&c, &name).unwrap();
        assert_eq!(x.getpeername().unwrap(), name);
        let y = UnixFamily.socket(&c, libc::SOCK_STREAM, 0).unwrap();
        y.connect(&c, &name).unwrap();
        let z = UnixFamily.socket(&c, libc::SOCK_STREAM, 0).unwrap();
        assert_eq!(z.connect(&c, &name), Err(Errno::EAGAIN));
        let s = l.accept(&c).unwrap();
        assert_eq!(s.getsockname().unwrap(), name);
        assert_eq!(s.getpeername().unwrap().len(), 2);
        send(&x, b"hi").unwrap();
        assert_eq!(recv(&s, 8, 0).unwrap().0, b"hi");
        drop(l);
        let again = UnixFamily.socket(&c, libc::SOCK_STREAM, 0).unwrap();
        again.bind(&c, &name).unwrap();
    }

    #[test]
    fn autobind_names() {
        let c = ctx();
        let s = UnixFamily.socket(&c, libc::SOCK_DGRAM, 0).unwrap();
        s.bind(&c, &addr::encode(None)).unwrap();
        let n = s.getsockname().unwrap();
        assert_eq!(n.len(), 2 + 6);
        assert_eq!(n[2], 0);
        assert!(n[3..].iter().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn dgram_connected_elsewhere_is_eperm() {
        let c = ctx();
        let mk = |tag: &[u8]| {
            let s = UnixFamily.socket(&c, libc::SOCK_DGRAM, 0).unwrap();
            let mut n = b"unit-dg-".to_vec();
            n.extend_from_slice(tag);
            let a = addr::encode(Some(&UnixAddr::Abstract(n)));
            s.bind(&c, &a).unwrap();
            (s, a)
        };
        let (s, sa) = mk(b"s");
        let (_c2, ca) = mk(b"c");
        s.connect(&c, &ca).unwrap();
        let x = UnixFamily.socket(&c, libc::SOCK_DGRAM, 0).unwrap();
        assert_eq!(x.sendmsg(&c, b"z", Some(&sa), &mut Control::default(), 0), Err(Errno::EPERM));
    }

    #[test]
    fn options() {
        let c = ctx();
        let s = UnixFamily.socket(&c, libc::SOCK_STREAM, 0).unwrap();
        s.setsockopt(&c, libc::SOL_SOCKET, libc::SO_SNDBUF, &10000i32.to_ne_bytes()).unwrap();
        assert_eq!(s.getsockopt(&c, libc::SOL_SOCKET, libc::SO_SNDBUF).unwrap(), 20000i32.to_ne_bytes());
        assert_eq!(s.getsockopt(&c, libc::SOL_SOCKET, 9999).err(), Some(Errno::ENOPROTOOPT));
        assert_eq!(s.setsockopt(&c, libc::SOL_SOCKET, libc::SO_PASSCRED, &[1]).err(), Some(Errno::EINVAL));
        assert_eq!(s.shutdown(7), Err(Errno::EINVAL));
        assert_eq!(check_type(libc::SOCK_RAW, 0), Ok(libc::SOCK_DGRAM));
        assert_eq!(check_type(libc::SOCK_RDM, 0), Err(Errno::ESOCKTNOSUPPORT));
        assert_eq!(check_type(libc::SOCK_STREAM, 5), Err(Errno::EPROTONOSUPPORT));
    }
}
