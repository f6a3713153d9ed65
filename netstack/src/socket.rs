//! `InetSocket`: an AF_INET/AF_INET6 socket of a `Stack`, with Linux
//! semantics, never blocking.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use abi::{Errno, SysResult};
use fs::waiter::{events, WaitQueue};
use smoltcp::socket::{tcp, udp};
use smoltcp::wire::{IpAddress, IpEndpoint, IpListenEndpoint};

use crate::addr::{to_user, to_wire};
use crate::stack::{
    apply_tcp_opts, new_tcp, new_udp, readiness, Binding, Inner, Orphan, Proto, Scope, Sock, Stack, Tcp, SOMAXCONN,
};

/// Largest UDP payload over IPv4 / IPv6 on the 65535-byte loopback MTU.
const UDP_MAX_V4: usize = 65535 - 20 - 8;
const UDP_MAX_V6: usize = 65535 - 40 - 8;
/// IPv4 + UDP headers.
const UDP_V4_HDRS: usize = 20 + 8;

/// Linux defaults for SO_RCVBUF/SO_SNDBUF as getsockopt reports them.
const TCP_RCVBUF_DEFAULT: usize = 131072;
const TCP_SNDBUF_DEFAULT: usize = 16384;
const UDP_BUF_DEFAULT: usize = 212992;
/// net.core.rmem_max / wmem_max.
const BUF_MAX: usize = 212992;
const SOCK_MIN_RCVBUF: usize = 2304;
const SOCK_MIN_SNDBUF: usize = 4608;

/// An AF_INET or AF_INET6 socket (SOCK_STREAM = TCP, SOCK_DGRAM = UDP).
///
/// Every method is non-blocking: where Linux would block it returns
/// EAGAIN (EINPROGRESS for a first `connect`), and the caller waits on
/// [`InetSocket::wait_queue`] for the POLL* bits [`InetSocket::readiness`]
/// reports. Dropping the socket is `close(2)`: a TCP connection is closed
/// gracefully in the background (FIN, TIME_WAIT), or reset if unread data
/// remains or SO_LINGER is on with a zero timeout.
pub struct InetSocket {
    stack: Arc<Stack>,
    id: u64,
    queue: Arc<WaitQueue>,
    v6: bool,
    proto: Proto,
}

fn unspecified(v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    } else {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    }
}

impl Inner {
    /// The interface and source address towards `dst` (wire form).
    fn route(&self, dst: IpAddr) -> SysResult<(usize, IpAddr)> {
        self.table.lookup(dst).ok_or(Errno::ENETUNREACH)
    }

    /// The source address used towards `dst` (loopback when unroutable,
    /// for getsockname only).
    fn source_for(&self, dst: IpAddr) -> IpAddr {
        self.table.lookup(dst).map_or(loopback_of(dst), |r| r.1)
    }

    /// Addresses a socket may bind: the wildcard, loopback, and the NICs'.
    fn local_ok(&self, ip: IpAddr) -> bool {
        self.table.bindable(ip)
    }

    /// A destination on this stack: INADDR_ANY and `::` mean loopback, as
    /// on Linux; others need a route (ENETUNREACH).
    fn remote_ip(&self, ip: IpAddr) -> SysResult<IpAddr> {
        if ip.is_unspecified() {
            return Ok(loopback_of(ip));
        }
        self.route(ip).map(|_| ip)
    }
}

fn loopback_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
    }
}

fn int_opt(v: &[u8]) -> SysResult<i32> {
    let b: [u8; 4] = v.get(0..4).ok_or(Errno::EINVAL)?.try_into().map_err(|_| Errno::EINVAL)?;
    Ok(i32::from_ne_bytes(b))
}

fn int_val(v: i32) -> Vec<u8> {
    v.to_ne_bytes().to_vec()
}

/// SO_RCVBUF/SO_SNDBUF as Linux stores them: doubled, clamped.
fn buf_opt(v: i32, min: usize) -> usize {
    let v = (v.max(0) as usize).min(BUF_MAX);
    (v * 2).max(min)
}

impl Inner {
    /// Run `f` with the socket taken out of the table (so `f` may use the
    /// rest of the stack freely).
    fn with_sock<R>(&mut self, id: u64, f: impl FnOnce(&mut Inner, &mut Sock) -> SysResult<R>) -> SysResult<R> {
        let mut s = self.socks.remove(&id).ok_or(Errno::EBADF)?;
        let r = f(self, &mut s);
        self.socks.insert(id, s);
        r
    }

    fn proto_of(s: &Sock) -> Proto {
        s.proto
    }

    /// Bind `s` (unbound) to `ip` and an ephemeral port.
    fn autobind(&mut self, id: u64, s: &mut Sock, ip: IpAddr) -> SysResult<()> {
        if s.local.is_some() {
            return Ok(());
        }
        let proto = Self::proto_of(s);
        let port = self.ephemeral_port(proto).ok_or(Errno::EADDRNOTAVAIL)?;
        let b = Binding {
            owner: id,
            scope: Scope::new(s.opts.v6only, ip),
            reuseaddr: s.opts.reuseaddr,
            reuseport: s.opts.reuseport,
            listening: false,
            orphan: false,
        };
        self.add_binding(proto, port, b)?;
        s.local = Some(SocketAddr::new(ip, port));
        s.explicit_bind = false;
        if proto == Proto::Udp {
            self.udp_open(s)?;
        }
        Ok(())
    }

    /// Open the socket's smoltcp UDP sockets, one per interface.
    fn udp_open(&mut self, s: &mut Sock) -> SysResult<()> {
        let Some(l) = s.local else { return Err(Errno::EINVAL) };
        let addr = (!l.ip().is_unspecified()).then(|| IpAddress::from(l.ip()));
        for ifc in 0..self.set.len() {
            let mut u = new_udp();
            if u.bind(IpListenEndpoint { addr, port: l.port() }).is_err() {
                for h in s.udp.drain(..) {
                    self.set.remove(h);
                }
                return Err(Errno::EINVAL);
            }
            s.udp.push(self.set.add(ifc, u));
        }
        Ok(())
    }

    /// Check a user address against the socket's family; return it in
    /// wire form (v4-mapped -> IPv4).
    fn wire_addr(s: &Sock, a: &SocketAddr) -> SysResult<SocketAddr> {
        if s.v6 != a.is_ipv6() {
            return Err(Errno::EAFNOSUPPORT);
        }
        Ok(to_wire(*a))
    }

    fn bind(&mut self, id: u64, s: &mut Sock, a: &SocketAddr) -> SysResult<()> {
        let w = Self::wire_addr(s, a)?;
        if s.local.is_some() || !matches!(s.tcp, Tcp::Closed) {
            return Err(Errno::EINVAL);
        }
        if s.v6 && s.opts.v6only && w.is_ipv4() {
            return Err(Errno::EINVAL);
        }
        if !self.local_ok(w.ip()) {
            return Err(Errno::EADDRNOTAVAIL);
        }
        let proto = s.proto;
        let port = if w.port() == 0 { self.ephemeral_port(proto).ok_or(Errno::EADDRINUSE)? } else { w.port() };
        let b = Binding {
            owner: id,
            scope: Scope::new(s.opts.v6only, w.ip()),
            reuseaddr: s.opts.reuseaddr,
            reuseport: s.opts.reuseport,
            listening: false,
            orphan: false,
        };
        self.add_binding(proto, port, b)?;
        s.local = Some(SocketAddr::new(w.ip(), port));
        s.explicit_bind = true;
        if proto == Proto::Udp {
            if let Err(e) = self.udp_open(s) {
                self.remove_binding(proto, port, id);
                s.local = None;
                return Err(e);
            }
        }
        Ok(())
    }

    fn listen(&mut self, id: u64, s: &mut Sock, backlog: i32) -> SysResult<()> {
        if s.proto != Proto::Tcp {
            return Err(Errno::EOPNOTSUPP);
        }
        let bl = if backlog < 0 || backlog as usize > SOMAXCONN { SOMAXCONN } else { backlog as usize };
        match &mut s.tcp {
            Tcp::Listening { backlog, .. } => {
                *backlog = bl;
                return Ok(());
            }
            Tcp::Connecting(_) | Tcp::Connected(_) => return Err(Errno::EINVAL),
            Tcp::Closed => {}
        }
        self.autobind(id, s, unspecified(s.v6))?;
        let port = s.local.map_or(0, |l| l.port());
        let mut me = self.binding_mut(Proto::Tcp, port, id).ok_or(Errno::EINVAL)?.clone();
        me.listening = true;
        me.reuseaddr = s.opts.reuseaddr;
        me.reuseport = s.opts.reuseport;
        if let Some(list) = self.binds.get(&(Proto::Tcp, port)) {
            if list.iter().any(|o| crate::stack::conflicts(Proto::Tcp, &me, o)) {
                return Err(Errno::EADDRINUSE);
            }
        }
        if let Some(b) = self.binding_mut(Proto::Tcp, port, id) {
            *b = me;
        }
        s.tcp = Tcp::Listening { backlog: bl, pending: Vec::new(), ready: VecDeque::new() };
        Ok(())
    }

    /// Returns the new socket's id and the peer (user form).
    fn accept(&mut self, s: &mut Sock) -> SysResult<(u64, Arc<WaitQueue>, SocketAddr)> {
        let Tcp::Listening { ready, .. } = &mut s.tcp else { return Err(Errno::EINVAL) };
        loop {
            let h = ready.pop_front().ok_or(Errno::EAGAIN)?;
            let t = self.set.get::<tcp::Socket>(h);
            let (Some(l), Some(r)) = (t.local_endpoint(), t.remote_endpoint()) else {
                // Reset before accept and forgotten by smoltcp.
                self.set.remove(h);
                continue;
            };
            let state = t.state();
            let local = SocketAddr::new(IpAddr::from(l.addr), l.port);
            let peer = SocketAddr::new(IpAddr::from(r.addr), r.port);
            let id = self.next_id;
            self.next_id += 1;
            let mut ns = Sock::new(s.v6, Proto::Tcp);
            ns.opts = s.opts.clone();
            ns.local = Some(local);
            ns.explicit_bind = true;
            ns.tcp = Tcp::Connected(h);
            ns.prev = state;
            let b = Binding {
                owner: id,
                scope: Scope::new(s.opts.v6only, local.ip()),
                reuseaddr: s.opts.reuseaddr,
                reuseport: s.opts.reuseport,
                listening: false,
                orphan: false,
            };
            self.binds.entry((Proto::Tcp, local.port())).or_default().push(b);
            let q = ns.queue.clone();
            self.socks.insert(id, ns);
            return Ok((id, q, to_user(s.v6, peer)));
        }
    }

    /// Ok(true) when a TCP handshake was started (EINPROGRESS).
    fn connect_start(&mut self, id: u64, s: &mut Sock, a: &SocketAddr) -> SysResult<bool> {
        let w = Self::wire_addr(s, a)?;
        if s.v6 && s.opts.v6only && w.is_ipv4() {
            return Err(Errno::ENETUNREACH);
        }
        let rip = self.remote_ip(w.ip())?;
        let remote = SocketAddr::new(rip, w.port());
        if let Some(l) = s.local {
            if !l.ip().is_unspecified() && l.is_ipv4() != remote.is_ipv4() {
                return Err(Errno::ENETUNREACH);
            }
        }
        match s.proto {
            Proto::Udp => {
                self.autobind(id, s, unspecified(s.v6))?;
                s.peer = Some(remote);
                s.error = None;
                Ok(false)
            }
            Proto::Tcp => {
                if s.ss_connecting {
                    // The outcome of the connect that said EINPROGRESS.
                    match s.tcp {
                        Tcp::Connecting(_) => return Err(Errno::EALREADY),
                        Tcp::Connected(_) => {
                            s.ss_connecting = false;
                            return Ok(false);
                        }
                        _ => {
                            s.ss_connecting = false;
                            return Err(s.error.take().unwrap_or(Errno::ECONNABORTED));
                        }
                    }
                }
                match s.tcp {
                    Tcp::Listening { .. } | Tcp::Connected(_) => return Err(Errno::EISCONN),
                    Tcp::Connecting(_) => return Err(Errno::EALREADY),
                    Tcp::Closed => {}
                }
                if remote.port() == 0 {
                    return Err(Errno::ECONNREFUSED);
                }
                let (ifc, src) = self.route(rip)?;
                self.autobind(id, s, src)?;
                let l = s.local.ok_or(Errno::EINVAL)?;
                let lip = if l.ip().is_unspecified() { src } else { l.ip() };
                let mut t = new_tcp(&s.opts);
                let cx = self.context(ifc);
                t.connect(cx, IpEndpoint::new(rip.into(), remote.port()), IpListenEndpoint { addr: Some(lip.into()), port: l.port() })
                    .map_err(|e| match e {
                        tcp::ConnectError::InvalidState => Errno::EISCONN,
                        tcp::ConnectError::Unaddressable => Errno::EADDRNOTAVAIL,
                    })?;
                let h = self.set.add(ifc, t);
                s.tcp = Tcp::Connecting(h);
                s.ss_connecting = true;
                s.prev = tcp::State::SynSent;
                s.error = None;
                s.reset = false;
                s.fin_seen = false;
                s.shut_rd = false;
                s.shut_wr = false;
                Ok(true)
            }
        }
    }

    fn disconnect(&mut self, id: u64, s: &mut Sock) -> SysResult<()> {
        match s.proto {
            Proto::Udp => {
                s.peer = None;
                Ok(())
            }
            Proto::Tcp => {
                match std::mem::replace(&mut s.tcp, Tcp::Closed) {
                    Tcp::Connecting(h) | Tcp::Connected(h) => self.abort_orphan(h),
                    Tcp::Listening { pending, ready, .. } => {
                        for h in pending.into_iter().chain(ready) {
                            self.abort_orphan(h);
                        }
                        if let Some(b) = s.local.and_then(|l| self.binding_mut(Proto::Tcp, l.port(), id)) {
                            b.listening = false;
                        }
                    }
                    Tcp::Closed => {}
                }
                if !s.explicit_bind {
                    if let Some(l) = s.local.take() {
                        self.remove_binding(Proto::Tcp, l.port(), id);
                    }
                }
                s.shut_rd = false;
                s.shut_wr = false;
                s.fin_seen = false;
                s.reset = false;
                s.ss_connecting = false;
                Ok(())
            }
        }
    }

    /// Reset a connection; the smoltcp socket stays until its RST is out.
    fn abort_orphan(&mut self, h: crate::stack::Handle) {
        let t = self.set.get_mut::<tcp::Socket>(h);
        t.abort();
        self.orphans.push(Orphan { handle: h, owner: 0, port: 0 });
    }

    fn send(&mut self, id: u64, s: &mut Sock, buf: &[u8], flags: i32, to: Option<&SocketAddr>) -> SysResult<usize> {
        if flags & libc::MSG_OOB != 0 {
            return Err(Errno::EOPNOTSUPP);
        }
        if let Some(e) = s.error.take() {
            return Err(e);
        }
        match s.proto {
            Proto::Tcp => {
                let h = match s.tcp {
                    Tcp::Connected(h) => h,
                    Tcp::Connecting(_) => return Err(Errno::EAGAIN),
                    Tcp::Closed | Tcp::Listening { .. } => return Err(Errno::EPIPE),
                };
                if s.shut_wr {
                    return Err(Errno::EPIPE);
                }
                let t = self.set.get_mut::<tcp::Socket>(h);
                if !t.may_send() {
                    return Err(Errno::EPIPE);
                }
                if buf.is_empty() {
                    return Ok(0);
                }
                match t.send_slice(buf) {
                    Ok(0) => Err(Errno::EAGAIN),
                    Ok(n) => Ok(n),
                    Err(_) => Err(Errno::EPIPE),
                }
            }
            Proto::Udp => {
                if s.shut_wr {
                    return Err(Errno::EPIPE);
                }
                let dest = match to {
                    Some(a) => {
                        let w = Self::wire_addr(s, a)?;
                        if s.v6 && s.opts.v6only && w.is_ipv4() {
                            return Err(Errno::ENETUNREACH);
                        }
                        if w.port() == 0 {
                            return Err(Errno::EINVAL);
                        }
                        SocketAddr::new(self.remote_ip(w.ip())?, w.port())
                    }
                    None => s.peer.ok_or(Errno::EDESTADDRREQ)?,
                };
                let max = if dest.is_ipv4() { UDP_MAX_V4 } else { UDP_MAX_V6 };
                if buf.len() > max {
                    return Err(Errno::EMSGSIZE);
                }
                let (ifc, src) = self.route(dest.ip())?;
                // No IP fragmentation on a NIC: a datagram must fit its MTU
                // (as Linux with IP_PMTUDISC_DO).
                if ifc != crate::route::LO && buf.len() + UDP_V4_HDRS > self.mtu(ifc) {
                    return Err(Errno::EMSGSIZE);
                }
                self.autobind(id, s, unspecified(s.v6))?;
                let l = s.local.ok_or(Errno::EINVAL)?;
                let local_address = if l.ip().is_unspecified() {
                    Some(IpAddress::from(src))
                } else if l.is_ipv4() != dest.is_ipv4() {
                    return Err(Errno::ENETUNREACH);
                } else {
                    Some(IpAddress::from(l.ip()))
                };
                let h = *s.udp.get(ifc).ok_or(Errno::EINVAL)?;
                let mut meta = udp::UdpMetadata::from(IpEndpoint::new(dest.ip().into(), dest.port()));
                meta.local_address = local_address;
                match self.set.get_mut::<udp::Socket>(h).send_slice(buf, meta) {
                    Ok(()) => Ok(buf.len()),
                    Err(udp::SendError::BufferFull) => Err(Errno::EAGAIN),
                    Err(udp::SendError::Unaddressable) => Err(Errno::EINVAL),
                }
            }
        }
    }

    fn recv(&mut self, s: &mut Sock, buf: &mut [u8], flags: i32) -> SysResult<(usize, Option<SocketAddr>)> {
        if flags & libc::MSG_OOB != 0 {
            return Err(Errno::EINVAL);
        }
        if flags & libc::MSG_ERRQUEUE != 0 {
            return Err(Errno::EAGAIN);
        }
        let peek = flags & libc::MSG_PEEK != 0;
        match s.proto {
            Proto::Tcp => {
                let h = match s.tcp {
                    Tcp::Connected(h) => h,
                    Tcp::Connecting(_) => return Err(Errno::EAGAIN),
                    Tcp::Listening { .. } => return Err(Errno::ENOTCONN),
                    Tcp::Closed => return Err(s.error.take().unwrap_or(Errno::ENOTCONN)),
                };
                let t = self.set.get_mut::<tcp::Socket>(h);
                if buf.is_empty() {
                    return Ok((0, None));
                }
                if t.can_recv() {
                    let n = if peek { t.peek_slice(buf) } else { t.recv_slice(buf) };
                    return Ok((n.unwrap_or(0), None));
                }
                if let Some(e) = s.error.take() {
                    return Err(e);
                }
                if s.shut_rd || s.fin_seen || s.reset || t.state() == tcp::State::Closed {
                    return Ok((0, None));
                }
                Err(Errno::EAGAIN)
            }
            Proto::Udp => {
                if let Some(e) = s.error.take() {
                    return Err(e);
                }
                for &h in &s.udp {
                    let u = self.set.get_mut::<udp::Socket>(h);
                    while let Ok((data, meta)) = u.peek() {
                        let n = data.len().min(buf.len());
                        buf[..n].copy_from_slice(&data[..n]);
                        let (full, src) = (data.len(), SocketAddr::from(meta.endpoint));
                        let _ = (!peek || !s.udp_accepts(src)).then(|| u.recv());
                        if !s.udp_accepts(src) {
                            continue;
                        }
                        let n = if flags & libc::MSG_TRUNC != 0 { full } else { n };
                        return Ok((n, Some(to_user(s.v6, src))));
                    }
                }
                if s.shut_rd {
                    return Ok((0, None));
                }
                Err(Errno::EAGAIN)
            }
        }
    }

    fn shutdown(&mut self, id: u64, s: &mut Sock, how: i32) -> SysResult<()> {
        let (rd, wr) = match how {
            libc::SHUT_RD => (true, false),
            libc::SHUT_WR => (false, true),
            libc::SHUT_RDWR => (true, true),
            _ => return Err(Errno::EINVAL),
        };
        match s.proto {
            Proto::Udp => {
                s.shut_rd |= rd;
                s.shut_wr |= wr;
                if s.peer.is_none() {
                    return Err(Errno::ENOTCONN);
                }
                Ok(())
            }
            Proto::Tcp => match s.tcp {
                Tcp::Closed => {
                    s.shut_rd |= rd;
                    s.shut_wr |= wr;
                    Err(Errno::ENOTCONN)
                }
                Tcp::Listening { .. } => {
                    if rd {
                        self.disconnect(id, s)?;
                    }
                    Ok(())
                }
                Tcp::Connecting(_) => self.disconnect(id, s),
                Tcp::Connected(h) => {
                    let t = self.set.get_mut::<tcp::Socket>(h);
                    if t.state() == tcp::State::Closed {
                        return Err(Errno::ENOTCONN);
                    }
                    s.shut_rd |= rd;
                    if wr && !s.shut_wr {
                        s.shut_wr = true;
                        t.close();
                        s.prev = t.state();
                    }
                    Ok(())
                }
            },
        }
    }

    fn local_addr(&self, s: &Sock) -> SocketAddr {
        let Some(l) = s.local else { return SocketAddr::new(unspecified(s.v6), 0) };
        let mut a = l;
        if l.ip().is_unspecified() {
            match (&s.tcp, s.peer) {
                (Tcp::Connected(h) | Tcp::Connecting(h), _) => {
                    if let Some(e) = self.set.get::<tcp::Socket>(*h).local_endpoint() {
                        a = SocketAddr::new(IpAddr::from(e.addr), e.port);
                    }
                }
                (_, Some(p)) => a = SocketAddr::new(self.source_for(p.ip()), l.port()),
                _ => {}
            }
        }
        to_user(s.v6, a)
    }

    fn peer_addr(&self, s: &Sock) -> SysResult<SocketAddr> {
        let p = match (&s.tcp, s.peer) {
            (Tcp::Connected(h), _) => {
                let t = self.set.get::<tcp::Socket>(*h);
                match t.remote_endpoint() {
                    Some(e) if t.state() != tcp::State::Closed => SocketAddr::new(IpAddr::from(e.addr), e.port),
                    _ => return Err(Errno::ENOTCONN),
                }
            }
            (_, Some(p)) => p,
            _ => return Err(Errno::ENOTCONN),
        };
        Ok(to_user(s.v6, p))
    }

    fn getsockopt(&self, s: &mut Sock, level: i32, name: i32) -> SysResult<Vec<u8>> {
        let tcp = s.proto == Proto::Tcp;
        let b = |x: bool| int_val(x as i32);
        let stored = |s: &Sock, default: Vec<u8>| s.opts.stored.get(&(level, name)).cloned().unwrap_or(default);
        Ok(match (level, name) {
            (libc::SOL_SOCKET, libc::SO_TYPE) => int_val(if tcp { libc::SOCK_STREAM } else { libc::SOCK_DGRAM }),
            (libc::SOL_SOCKET, libc::SO_DOMAIN) => int_val(if s.v6 { libc::AF_INET6 } else { libc::AF_INET }),
            (libc::SOL_SOCKET, libc::SO_PROTOCOL) => int_val(if tcp { libc::IPPROTO_TCP } else { libc::IPPROTO_UDP }),
            (libc::SOL_SOCKET, libc::SO_ERROR) => int_val(s.error.take().map_or(0, |e| e.0)),
            (libc::SOL_SOCKET, libc::SO_ACCEPTCONN) => b(matches!(s.tcp, Tcp::Listening { .. })),
            (libc::SOL_SOCKET, libc::SO_REUSEADDR) => b(s.opts.reuseaddr),
            (libc::SOL_SOCKET, libc::SO_REUSEPORT) => b(s.opts.reuseport),
            (libc::SOL_SOCKET, libc::SO_KEEPALIVE) => b(s.opts.keepalive),
            (libc::SOL_SOCKET, libc::SO_RCVBUF) => {
                int_val(s.opts.rcvbuf.unwrap_or(if tcp { TCP_RCVBUF_DEFAULT } else { UDP_BUF_DEFAULT }) as i32)
            }
            (libc::SOL_SOCKET, libc::SO_SNDBUF) => {
                int_val(s.opts.sndbuf.unwrap_or(if tcp { TCP_SNDBUF_DEFAULT } else { UDP_BUF_DEFAULT }) as i32)
            }
            (libc::SOL_SOCKET, libc::SO_LINGER) => {
                let mut v = int_val(s.opts.linger.is_some() as i32);
                v.extend(int_val(s.opts.linger.unwrap_or(0)));
                v
            }
            (libc::SOL_SOCKET, libc::SO_RCVLOWAT | libc::SO_SNDLOWAT) => int_val(1),
            (libc::SOL_SOCKET, libc::SO_RCVTIMEO | libc::SO_SNDTIMEO) => stored(s, vec![0u8; 16]),
            (libc::SOL_SOCKET, libc::SO_BROADCAST | libc::SO_OOBINLINE | libc::SO_PRIORITY) => stored(s, int_val(0)),
            (libc::IPPROTO_TCP, _) if !tcp => return Err(Errno::ENOPROTOOPT),
            (libc::IPPROTO_TCP, libc::TCP_NODELAY) => b(s.opts.nodelay),
            (libc::IPPROTO_TCP, libc::TCP_KEEPIDLE) => int_val(s.opts.keepidle),
            (libc::IPPROTO_TCP, libc::TCP_KEEPINTVL) => stored(s, int_val(75)),
            (libc::IPPROTO_TCP, libc::TCP_KEEPCNT) => stored(s, int_val(9)),
            (libc::IPPROTO_TCP, libc::TCP_MAXSEG) => {
                let connected = matches!(s.tcp, Tcp::Connected(_));
                stored(s, int_val(if connected { 65483 } else { 536 }))
            }
            (libc::IPPROTO_TCP, libc::TCP_CORK | libc::TCP_DEFER_ACCEPT | libc::TCP_USER_TIMEOUT) => stored(s, int_val(0)),
            (libc::IPPROTO_TCP, libc::TCP_QUICKACK) => stored(s, int_val(1)),
            (libc::IPPROTO_IP, libc::IP_TTL) => stored(s, int_val(64)),
            (libc::IPPROTO_IP, libc::IP_TOS) => stored(s, int_val(0)),
            (libc::IPPROTO_IPV6, _) if !s.v6 => return Err(Errno::ENOPROTOOPT),
            (libc::IPPROTO_IPV6, libc::IPV6_V6ONLY) => b(s.opts.v6only),
            (libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS) => stored(s, int_val(64)),
            (libc::IPPROTO_IPV6, libc::IPV6_TCLASS) => stored(s, int_val(0)),
            _ => return Err(Errno::ENOPROTOOPT),
        })
    }

    fn setsockopt(&mut self, s: &mut Sock, level: i32, name: i32, v: &[u8]) -> SysResult<()> {
        let tcp = s.proto == Proto::Tcp;
        match (level, name) {
            (libc::SOL_SOCKET, libc::SO_REUSEADDR) => s.opts.reuseaddr = int_opt(v)? != 0,
            (libc::SOL_SOCKET, libc::SO_REUSEPORT) => s.opts.reuseport = int_opt(v)? != 0,
            (libc::SOL_SOCKET, libc::SO_KEEPALIVE) => s.opts.keepalive = int_opt(v)? != 0,
            (libc::SOL_SOCKET, libc::SO_RCVBUF) => s.opts.rcvbuf = Some(buf_opt(int_opt(v)?, SOCK_MIN_RCVBUF)),
            (libc::SOL_SOCKET, libc::SO_SNDBUF) => s.opts.sndbuf = Some(buf_opt(int_opt(v)?, SOCK_MIN_SNDBUF)),
            (libc::SOL_SOCKET, libc::SO_LINGER) => {
                if v.len() < 8 {
                    return Err(Errno::EINVAL);
                }
                let on = int_opt(&v[0..4])?;
                let secs = int_opt(&v[4..8])?;
                s.opts.linger = (on != 0).then_some(secs.max(0));
            }
            (libc::SOL_SOCKET, libc::SO_RCVTIMEO | libc::SO_SNDTIMEO) => {
                if v.len() < 16 {
                    return Err(Errno::EINVAL);
                }
                let usec = i64::from_ne_bytes(v[8..16].try_into().map_err(|_| Errno::EINVAL)?);
                if !(0..1_000_000).contains(&usec) {
                    return Err(Errno::EDOM);
                }
                s.opts.stored.insert((level, name), v[..16].to_vec());
            }
            (libc::SOL_SOCKET, libc::SO_BROADCAST | libc::SO_OOBINLINE | libc::SO_PRIORITY) => {
                int_opt(v)?;
                s.opts.stored.insert((level, name), v[..4].to_vec());
            }
            (libc::IPPROTO_TCP, _) if !tcp => return Err(Errno::ENOPROTOOPT),
            (libc::IPPROTO_TCP, libc::TCP_NODELAY) => s.opts.nodelay = int_opt(v)? != 0,
            (libc::IPPROTO_TCP, libc::TCP_KEEPIDLE) => {
                let x = int_opt(v)?;
                if !(1..=32767).contains(&x) {
                    return Err(Errno::EINVAL);
                }
                s.opts.keepidle = x;
            }
            (libc::IPPROTO_TCP, libc::TCP_KEEPINTVL | libc::TCP_KEEPCNT) => {
                let x = int_opt(v)?;
                if !(1..=32767).contains(&x) {
                    return Err(Errno::EINVAL);
                }
                s.opts.stored.insert((level, name), v[..4].to_vec());
            }
            (
                libc::IPPROTO_TCP,
                libc::TCP_CORK | libc::TCP_QUICKACK | libc::TCP_DEFER_ACCEPT | libc::TCP_USER_TIMEOUT | libc::TCP_MAXSEG,
            ) => {
                int_opt(v)?;
                s.opts.stored.insert((level, name), v[..4].to_vec());
            }
            (libc::IPPROTO_IP, libc::IP_TTL) => {
                let x = int_opt(v)?;
                if x == -1 {
                    s.opts.stored.remove(&(level, name));
                } else if (1..=255).contains(&x) {
                    s.opts.stored.insert((level, name), v[..4].to_vec());
                } else {
                    return Err(Errno::EINVAL);
                }
            }
            (libc::IPPROTO_IP, libc::IP_TOS) => {
                int_opt(v)?;
                s.opts.stored.insert((level, name), v[..4].to_vec());
            }
            (libc::IPPROTO_IPV6, _) if !s.v6 => return Err(Errno::ENOPROTOOPT),
            (libc::IPPROTO_IPV6, libc::IPV6_V6ONLY) => {
                let x = int_opt(v)? != 0;
                if s.local.is_some() {
                    return Err(Errno::EINVAL);
                }
                s.opts.v6only = x;
            }
            (libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS | libc::IPV6_TCLASS) => {
                let x = int_opt(v)?;
                if !(-1..=255).contains(&x) {
                    return Err(Errno::EINVAL);
                }
                s.opts.stored.insert((level, name), v[..4].to_vec());
            }
            _ => return Err(Errno::ENOPROTOOPT),
        }
        // Options smoltcp implements apply to the live connection too.
        if let Tcp::Connected(h) | Tcp::Connecting(h) = s.tcp {
            apply_tcp_opts(self.set.get_mut::<tcp::Socket>(h), &s.opts);
        }
        Ok(())
    }

    fn close(&mut self, id: u64, mut s: Sock) {
        let port = s.local.map(|l| l.port());
        let proto = s.proto;
        let mut keep_binding = false;
        match std::mem::replace(&mut s.tcp, Tcp::Closed) {
            Tcp::Listening { pending, ready, .. } => {
                for h in pending.into_iter().chain(ready) {
                    self.abort_orphan(h);
                }
            }
            Tcp::Connecting(h) => self.abort_orphan(h),
            Tcp::Connected(h) => {
                let t = self.set.get_mut::<tcp::Socket>(h);
                if t.state() == tcp::State::Closed {
                    self.set.remove(h);
                } else if s.opts.linger == Some(0) || t.recv_queue() > 0 {
                    // Linux resets a connection closed with unread data.
                    self.abort_orphan(h);
                } else {
                    t.close();
                    if let Some(p) = port {
                        self.orphans.push(Orphan { handle: h, owner: id, port: p });
                        if let Some(b) = self.binding_mut(Proto::Tcp, p, id) {
                            b.orphan = true;
                            b.listening = false;
                        }
                        keep_binding = true;
                    } else {
                        self.orphans.push(Orphan { handle: h, owner: 0, port: 0 });
                    }
                }
            }
            Tcp::Closed => {}
        }
        for h in s.udp.drain(..) {
            // Datagrams still queued (a NIC resolving the next hop by ARP)
            // go out after close(2), as on Linux.
            if self.set.get::<udp::Socket>(h).send_queue() > 0 {
                let until = std::time::Instant::now() + crate::stack::UDP_LINGER;
                self.udp_orphans.push((h, until));
            } else {
                self.set.remove(h);
            }
        }
        if let (Some(p), false) = (port, keep_binding) {
            self.remove_binding(proto, p, id);
        }
    }
}

impl InetSocket {
    /// socket(2) for AF_INET/AF_INET6. `ty` may carry SOCK_NONBLOCK and
    /// SOCK_CLOEXEC (the caller's business); SOCK_STREAM takes protocol 0
    /// or IPPROTO_TCP, SOCK_DGRAM 0 or IPPROTO_UDP.
    pub fn new(stack: &Arc<Stack>, domain: i32, ty: i32, protocol: i32) -> SysResult<InetSocket> {
        let v6 = match domain {
            libc::AF_INET => false,
            libc::AF_INET6 => true,
            _ => return Err(Errno::EAFNOSUPPORT),
        };
        if ty & !(0xf | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC) != 0 {
            return Err(Errno::EINVAL);
        }
        let proto = match (ty & 0xf, protocol) {
            (libc::SOCK_STREAM, 0 | libc::IPPROTO_TCP) => Proto::Tcp,
            (libc::SOCK_DGRAM, 0 | libc::IPPROTO_UDP) => Proto::Udp,
            (libc::SOCK_STREAM | libc::SOCK_DGRAM, _) => return Err(Errno::EPROTONOSUPPORT),
            (libc::SOCK_RAW, _) => return Err(Errno::EPERM),
            _ => return Err(Errno::ESOCKTNOSUPPORT),
        };
        let s = Sock::new(v6, proto);
        let queue = s.queue.clone();
        let id = stack.op(|inner| {
            let id = inner.next_id;
            inner.next_id += 1;
            inner.socks.insert(id, s);
            id
        });
        Ok(InetSocket { stack: stack.clone(), id, queue, v6, proto })
    }

    fn with<R>(&self, f: impl FnOnce(&mut Inner, &mut Sock) -> SysResult<R>) -> SysResult<R> {
        let id = self.id;
        self.stack.op(|inner| inner.with_sock(id, f))
    }

    /// AF_INET or AF_INET6.
    pub fn domain(&self) -> i32 {
        if self.v6 {
            libc::AF_INET6
        } else {
            libc::AF_INET
        }
    }

    /// SOCK_STREAM or SOCK_DGRAM.
    pub fn sock_type(&self) -> i32 {
        match self.proto {
            Proto::Tcp => libc::SOCK_STREAM,
            Proto::Udp => libc::SOCK_DGRAM,
        }
    }

    /// The stack this socket lives on.
    pub fn stack(&self) -> &Arc<Stack> {
        &self.stack
    }

    /// bind(2). Port 0 picks an ephemeral port. EINVAL if already bound,
    /// EADDRNOTAVAIL for a non-loopback address, EADDRINUSE on conflict.
    pub fn bind(&self, addr: &SocketAddr) -> SysResult<()> {
        let id = self.id;
        self.with(|i, s| i.bind(id, s, addr))
    }

    /// listen(2); binds an ephemeral port if unbound. Up to `backlog + 1`
    /// connections wait in the accept queue (as Linux); further SYNs are
    /// dropped and retransmitted by the client.
    pub fn listen(&self, backlog: i32) -> SysResult<()> {
        let id = self.id;
        self.with(|i, s| i.listen(id, s, backlog))
    }

    /// accept(2): a connected socket and its peer, EAGAIN if none is
    /// waiting, EINVAL if not listening.
    pub fn accept(&self) -> SysResult<(InetSocket, SocketAddr)> {
        let (id, queue, peer) = self.with(|i, s| i.accept(s))?;
        Ok((InetSocket { stack: self.stack.clone(), id, queue, v6: self.v6, proto: self.proto }, peer))
    }

    /// connect(2), non-blocking. TCP: EINPROGRESS (as Linux non-blocking,
    /// even over loopback); the socket becomes POLLOUT when the handshake
    /// ends, and then either SO_ERROR / [`InetSocket::take_error`] gives
    /// the outcome (None = connected, else ECONNREFUSED...), or calling
    /// `connect` again does (Ok, or the error; ECONNABORTED if SO_ERROR
    /// already took it) as on Linux. A blocking connect is: EINPROGRESS,
    /// wait for POLLOUT, connect again. EALREADY while in progress,
    /// EISCONN once connected. UDP: sets the default destination and
    /// filters what is received; returns at once.
    pub fn connect(&self, addr: &SocketAddr) -> SysResult<()> {
        let id = self.id;
        let started = self.with(|i, s| i.connect_start(id, s, addr))?;
        // As on Linux, the handshake's outcome (even over loopback, where
        // it is known by now) is reported asynchronously.
        if started {
            Err(Errno::EINPROGRESS)
        } else {
            Ok(())
        }
    }

    /// connect(2) with AF_UNSPEC: UDP forgets its peer; TCP aborts the
    /// connection (RST) or stops listening.
    pub fn disconnect(&self) -> SysResult<()> {
        let id = self.id;
        self.with(|i, s| i.disconnect(id, s))
    }

    /// send(2): [`InetSocket::sendto`] without an address.
    pub fn send(&self, buf: &[u8], flags: i32) -> SysResult<usize> {
        self.sendto(buf, flags, None)
    }

    /// sendto(2). TCP ignores `to`; returns how much fit in the send
    /// buffer, EAGAIN if nothing did, EPIPE after shutdown(SHUT_WR) or on
    /// an unconnected socket (the caller raises SIGPIPE unless
    /// MSG_NOSIGNAL). A pending error (ECONNRESET, ECONNREFUSED) is
    /// returned first. UDP: EDESTADDRREQ without a peer, EMSGSIZE above
    /// 65507 (IPv4) / 65487 (IPv6) bytes. MSG_DONTWAIT, MSG_NOSIGNAL,
    /// MSG_MORE are the caller's (ignored here); MSG_OOB is EOPNOTSUPP.
    pub fn sendto(&self, buf: &[u8], flags: i32, to: Option<&SocketAddr>) -> SysResult<usize> {
        let id = self.id;
        self.with(|i, s| i.send(id, s, buf, flags, to))
    }

    /// recvfrom(2): bytes read and, for UDP, the sender. Ok(0) is EOF
    /// (TCP: the peer's FIN, or SHUT_RD). MSG_PEEK leaves the data;
    /// MSG_TRUNC (UDP) returns the datagram's full length (a datagram
    /// longer than `buf` is truncated: call with MSG_TRUNC to learn it and
    /// set MSG_TRUNC in msg_flags). EAGAIN when nothing is there.
    pub fn recv(&self, buf: &mut [u8], flags: i32) -> SysResult<(usize, Option<SocketAddr>)> {
        self.with(|i, s| i.recv(s, buf, flags))
    }

    /// shutdown(2): SHUT_WR sends FIN (the peer reads EOF and may still
    /// send); SHUT_RD makes reads return 0 once buffered data is read; on
    /// a listening socket SHUT_RD stops listening. ENOTCONN if not
    /// connected.
    pub fn shutdown(&self, how: i32) -> SysResult<()> {
        let id = self.id;
        self.with(|i, s| i.shutdown(id, s, how))
    }

    /// getsockname(2) (`0.0.0.0:0` / `[::]:0` when unbound).
    pub fn local_addr(&self) -> SysResult<SocketAddr> {
        self.with(|i, s| Ok(i.local_addr(s)))
    }

    /// getpeername(2); ENOTCONN when not connected.
    pub fn peer_addr(&self) -> SysResult<SocketAddr> {
        self.with(|i, s| i.peer_addr(s))
    }

    /// getsockopt(2): the option's bytes (the caller truncates to optlen).
    /// ENOPROTOOPT for unsupported options. See the crate docs for the
    /// list.
    pub fn getsockopt(&self, level: i32, name: i32) -> SysResult<Vec<u8>> {
        self.with(|i, s| i.getsockopt(s, level, name))
    }

    /// setsockopt(2). EINVAL for a short value, ENOPROTOOPT for
    /// unsupported options.
    pub fn setsockopt(&self, level: i32, name: i32, val: &[u8]) -> SysResult<()> {
        let id = self.id;
        self.with(|i, s| {
            i.setsockopt(s, level, name, val)?;
            // Reuse flags are part of the binding (bind before or after).
            if let Some(p) = s.local.map(|l| l.port()) {
                if let Some(b) = i.binding_mut(s.proto, p, id) {
                    b.reuseaddr = s.opts.reuseaddr;
                    b.reuseport = s.opts.reuseport;
                }
            }
            Ok(())
        })
    }

    /// Take the pending error (SO_ERROR), if any.
    pub fn take_error(&self) -> Option<Errno> {
        self.with(|_, s| Ok(s.error.take())).ok().flatten()
    }

    /// The POLL* bits (fs::waiter::events) of `mask` that are ready now,
    /// plus POLLERR and POLLHUP whatever the mask.
    pub fn readiness(&self, mask: u32) -> u32 {
        let all = self.with(|i, s| Ok(readiness(&i.set, s))).unwrap_or(events::POLLNVAL);
        all & (mask | events::POLLERR | events::POLLHUP)
    }

    /// Notified with the socket's readiness on every change of state,
    /// data arrival or buffer space.
    pub fn wait_queue(&self) -> &WaitQueue {
        &self.queue
    }

    /// Bytes (TCP) or the next datagram's length (UDP) readable now
    /// (FIONREAD / SIOCINQ).
    pub fn available(&self) -> usize {
        self.with(|i, s| {
            Ok(match &s.tcp {
                Tcp::Connected(h) => i.set.get::<tcp::Socket>(*h).recv_queue(),
                _ => s.udp.iter().find_map(|&h| i.set.get_mut::<udp::Socket>(h).peek().ok().map(|(d, _)| d.len())).unwrap_or(0),
            })
        })
        .unwrap_or(0)
    }
}

impl Drop for InetSocket {
    fn drop(&mut self) {
        let id = self.id;
        self.stack.op(|inner| {
            if let Some(s) = inner.socks.remove(&id) {
                inner.close(id, s);
            }
        });
    }
}

impl std::fmt::Debug for InetSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InetSocket").field("id", &self.id).field("v6", &self.v6).field("proto", &self.proto).finish()
    }
}
