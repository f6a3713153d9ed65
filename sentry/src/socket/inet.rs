//! AF_INET / AF_INET6: a thin adapter from the socket layer's [`Socket`]
//! and [`Family`] to the netstack's [`netstack::InetSocket`].
//!
//! The netstack owns the Linux semantics (port table, TCP state, errors,
//! readiness); this file only translates:
//!
//! * sockaddr bytes ↔ `SocketAddr` (`decode_sockaddr` / `encode_sockaddr`,
//!   plus the AF_UNSPEC rules of connect and of UDP sendto);
//! * connect: the netstack answers EINPROGRESS to every TCP connect; the
//!   layer then waits for POLLOUT and asks [`Socket::connect_result`],
//!   which calls the netstack's `connect` again for the outcome (Ok, or
//!   the error); EALREADY / EINPROGRESS there mean "still connecting";
//! * datagram truncation (MSG_TRUNC in msg_flags, the full length);
//! * SO_ERROR (`take_error`), FIONREAD / SIOCINQ (`available`);
//! * readiness and wakeups through the socket's `fs::waiter::WaitQueue`.
//!
//! One [`Stack`] per sandbox: [`register_inet`] creates it and registers
//! both families (the family registry is process-global; one sandbox runs
//! per process).
//!
//! * the interface ioctls SIOCGIFCONF, SIOCGIFNAME/INDEX/FLAGS/ADDR/
//!   NETMASK/BRDADDR/HWADDR/MTU/METRIC/TXQLEN/MAP (`netstack::ifreq`).
//!
//! Not supported here: control messages on inet sockets (SCM_RIGHTS /
//! SCM_CREDENTIALS are EINVAL, as Linux; IP-level cmsgs are ignored on
//! send and none are returned), SIOCOUTQ, the SIOCSIF* setters and other
//! socket ioctls (ENOTTY).

use std::any::Any;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use abi::{Errno, SysResult};
use fs::file::UserMemory;
use fs::waiter::Waker;
use netstack::{decode_sockaddr, encode_sockaddr, ifreq, sockaddr_family, InetSocket, Stack};

use super::{register_family, Control, Family, RecvMsg, SockCtx, Socket};

/// Create this sandbox's stack — loopback, plus the NICs of
/// `--network=sandbox` — and register AF_INET and AF_INET6 over it. Call
/// once at boot, before the workload runs.
pub fn register_inet(nics: Vec<netstack::NicConfig>) -> Arc<Stack> {
    let stack = Stack::new(nics);
    register_family(libc::AF_INET, Arc::new(InetFamily { stack: stack.clone(), domain: libc::AF_INET }));
    register_family(libc::AF_INET6, Arc::new(InetFamily { stack: stack.clone(), domain: libc::AF_INET6 }));
    stack
}

/// AF_INET or AF_INET6 on one stack.
pub struct InetFamily {
    stack: Arc<Stack>,
    domain: i32,
}

impl Family for InetFamily {
    fn socket(&self, _ctx: &SockCtx, ty: i32, protocol: i32) -> SysResult<Arc<dyn Socket>> {
        let s = InetSocket::new(&self.stack, self.domain, ty, protocol)?;
        Ok(Arc::new(Inet::new(s, protocol)))
    }
    // socketpair: the default EOPNOTSUPP, as Linux.
}

/// An inet socket as the socket layer sees it.
pub struct Inet {
    sock: InetSocket,
    /// What SO_PROTOCOL reports (IPPROTO_TCP / IPPROTO_UDP).
    protocol: i32,
    /// The address of a TCP connect that answered EINPROGRESS, for
    /// `connect_result` to ask the outcome with.
    connecting: Mutex<Option<SocketAddr>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Inet {
    fn new(sock: InetSocket, protocol: i32) -> Inet {
        let protocol = match (protocol, sock.sock_type()) {
            (0, libc::SOCK_STREAM) => libc::IPPROTO_TCP,
            (0, libc::SOCK_DGRAM) => libc::IPPROTO_UDP,
            (p, _) => p,
        };
        Inet { sock, protocol, connecting: Mutex::new(None) }
    }

    fn stream(&self) -> bool {
        self.sock.sock_type() == libc::SOCK_STREAM
    }

    fn encode(&self, a: &SocketAddr) -> Vec<u8> {
        encode_sockaddr(self.sock.domain(), a)
    }

    /// The destination of a UDP sendto/sendmsg (udp_sendmsg /
    /// udpv6_sendmsg rules). None: no address after all (AF_UNSPEC on
    /// IPv6 means "use the connected peer").
    fn datagram_dest(&self, to: &[u8]) -> SysResult<Option<SocketAddr>> {
        let fam = sockaddr_family(to).ok_or(Errno::EINVAL)?;
        if self.sock.domain() == libc::AF_INET {
            // AF_UNSPEC is taken as AF_INET; anything else EAFNOSUPPORT.
            if to.len() < netstack::SOCKADDR_IN_LEN {
                return Err(Errno::EINVAL);
            }
            let mut b = to.to_vec();
            if fam == libc::AF_UNSPEC {
                b[..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
            }
            return decode_sockaddr(libc::AF_INET, &b).map(Some);
        }
        match fam {
            libc::AF_UNSPEC => Ok(None),
            libc::AF_INET => {
                // An IPv4 destination from an IPv6 socket: as v4-mapped.
                let a = decode_sockaddr(libc::AF_INET, to)?;
                let ip = match a.ip() {
                    IpAddr::V4(v4) => IpAddr::V6(v4.to_ipv6_mapped()),
                    v6 => v6,
                };
                Ok(Some(SocketAddr::new(ip, a.port())))
            }
            libc::AF_INET6 => decode_sockaddr(libc::AF_INET6, to).map(Some),
            _ => Err(Errno::EINVAL),
        }
    }
}

impl Socket for Inet {
    fn family(&self) -> i32 {
        self.sock.domain()
    }

    fn sock_type(&self) -> i32 {
        self.sock.sock_type()
    }

    fn protocol(&self) -> i32 {
        self.protocol
    }

    fn bind(&self, _ctx: &SockCtx, addr: &[u8]) -> SysResult<()> {
        let a = decode_sockaddr(self.sock.domain(), addr)?;
        self.sock.bind(&a)
    }

    fn listen(&self, _ctx: &SockCtx, backlog: i32) -> SysResult<()> {
        self.sock.listen(backlog)
    }

    fn accept(&self, _ctx: &SockCtx) -> SysResult<Arc<dyn Socket>> {
        let (s, _peer) = self.sock.accept()?;
        Ok(Arc::new(Inet::new(s, self.protocol)))
    }

    fn connect(&self, _ctx: &SockCtx, addr: &[u8]) -> SysResult<()> {
        // inet_stream_connect / inet_dgram_connect: the family is looked
        // at first; AF_UNSPEC dissolves the association.
        match sockaddr_family(addr) {
            None => return Err(Errno::EINVAL),
            Some(libc::AF_UNSPEC) => {
                *lock(&self.connecting) = None;
                return self.sock.disconnect();
            }
            Some(_) => {}
        }
        let a = decode_sockaddr(self.sock.domain(), addr)?;
        match self.sock.connect(&a) {
            Err(Errno::EINPROGRESS) => {
                *lock(&self.connecting) = Some(a);
                Err(Errno::EINPROGRESS)
            }
            r => r,
        }
    }

    fn connect_result(&self) -> Option<SysResult<()>> {
        let a = match *lock(&self.connecting) {
            Some(a) => a,
            None => return Some(Ok(())),
        };
        // A second connect gives the outcome once the handshake is over.
        match self.sock.connect(&a) {
            Err(Errno::EALREADY | Errno::EINPROGRESS) => None,
            r => {
                *lock(&self.connecting) = None;
                Some(r)
            }
        }
    }

    fn sendmsg(&self, _ctx: &SockCtx, data: &[u8], to: Option<&[u8]>, control: &mut Control, flags: i32) -> SysResult<usize> {
        // Only SOL_SOCKET cmsgs reach us parsed; inet sockets accept none
        // of those the layer knows (sock_cmsg_send gives EINVAL).
        if !control.rights.is_empty() || control.creds.is_some() {
            return Err(Errno::EINVAL);
        }
        if self.stream() {
            // TCP ignores the address (no Fast Open).
            return self.sock.sendto(data, flags, None);
        }
        let dest = match to {
            Some(b) => self.datagram_dest(b)?,
            None => None,
        };
        self.sock.sendto(data, flags, dest.as_ref())
    }

    fn recvmsg(&self, _ctx: &SockCtx, buf: &mut [u8], flags: i32) -> SysResult<RecvMsg> {
        if self.stream() {
            let (n, _) = self.sock.recv(buf, flags)?;
            // TCP fills in no address (msg_namelen 0).
            return Ok(RecvMsg { n, full: n, ..Default::default() });
        }
        // Ask for the full length to report truncation.
        let (full, from) = self.sock.recv(buf, flags | libc::MSG_TRUNC)?;
        let n = full.min(buf.len());
        Ok(RecvMsg {
            n,
            full,
            from: from.map(|a| self.encode(&a)),
            flags: if full > n { libc::MSG_TRUNC } else { 0 },
            ..Default::default()
        })
    }

    fn shutdown(&self, how: i32) -> SysResult<()> {
        self.sock.shutdown(how)
    }

    fn getsockname(&self) -> SysResult<Vec<u8>> {
        self.sock.local_addr().map(|a| self.encode(&a))
    }

    fn getpeername(&self) -> SysResult<Vec<u8>> {
        self.sock.peer_addr().map(|a| self.encode(&a))
    }

    fn getsockopt(&self, _ctx: &SockCtx, level: i32, name: i32) -> SysResult<Vec<u8>> {
        if (level, name) == (libc::SOL_SOCKET, libc::SO_ERROR) {
            let e = self.sock.take_error().map_or(0, |e| e.0);
            return Ok(e.to_ne_bytes().to_vec());
        }
        self.sock.getsockopt(level, name)
    }

    fn setsockopt(&self, _ctx: &SockCtx, level: i32, name: i32, val: &[u8]) -> SysResult<()> {
        self.sock.setsockopt(level, name, val)
    }

    fn readiness(&self, mask: u32) -> u32 {
        self.sock.readiness(mask)
    }

    fn event_register(&self, w: &Arc<dyn Waker>, mask: u32) {
        self.sock.wait_queue().register(w, mask);
    }

    fn event_unregister(&self, w: &Arc<dyn Waker>) {
        self.sock.wait_queue().unregister(w);
    }

    fn ioctl(&self, cmd: u32, arg: u64, mem: &dyn UserMemory) -> SysResult<u64> {
        match cmd as u64 {
            libc::FIONREAD => {
                let listening = self.stream()
                    && self.sock.getsockopt(libc::SOL_SOCKET, libc::SO_ACCEPTCONN).is_ok_and(|v| v.iter().any(|b| *b != 0));
                if listening {
                    return Err(Errno::EINVAL);
                }
                let v = self.sock.available().min(i32::MAX as usize) as i32;
                mem.write(arg, &v.to_ne_bytes())?;
                Ok(0)
            }
            ifreq::SIOCGIFCONF => {
                let mut conf = [0u8; ifreq::IFCONF_LEN];
                mem.read(arg, &mut conf)?;
                let len = i32::from_ne_bytes([conf[0], conf[1], conf[2], conf[3]]);
                let buf = u64::from_ne_bytes(conf[8..16].try_into().map_err(|_| Errno::EFAULT)?);
                let recs = ifreq::ifconf_records(&self.sock.stack().interfaces());
                // A NULL buffer asks for the length needed; otherwise as
                // many whole records as fit.
                let n = if buf == 0 {
                    recs.len()
                } else {
                    let fit = (len.max(0) as usize / ifreq::IFREQ_LEN * ifreq::IFREQ_LEN).min(recs.len());
                    mem.write(buf, &recs[..fit])?;
                    fit
                };
                mem.write(arg, &(n as i32).to_ne_bytes())?;
                Ok(0)
            }
            c if ifreq::is_ifreq_ioctl(c) => {
                let mut req = [0u8; ifreq::IFREQ_LEN];
                mem.read(arg, &mut req)?;
                let out = ifreq::ifreq_ioctl(&self.sock.stack().interfaces(), c, &req)?;
                mem.write(arg, &out)?;
                Ok(0)
            }
            _ => Err(Errno::ENOTTY),
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
