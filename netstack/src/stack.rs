//! The stack: a smoltcp `Interface` on a loopback device and one per
//! Ethernet NIC, each with its own smoltcp `SocketSet`; every socket, the
//! port table and the routing table, all under one mutex; driven by socket
//! operations, a timer thread and one receive thread per NIC.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use abi::Errno;
use fs::waiter::{events, WaitQueue};
use smoltcp::iface::{Config, Interface, PollIngressSingleResult, PollResult, SocketHandle, SocketSet};
use smoltcp::socket::{tcp, udp, AnySocket};
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr, IpListenEndpoint};

use crate::device::LoopDev;
use crate::nic::{EthDev, IfInfo, Link, NicConfig, ETH_HDR};
use crate::route::{Table, LO};

/// A smoltcp socket: the interface whose set holds it, and its handle
/// there. A TCP connection lives on the interface its packets use; a UDP
/// socket has one smoltcp socket on every interface.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Handle {
    pub ifc: usize,
    h: SocketHandle,
}

/// The socket sets, one per interface (index [`LO`], then the NICs).
pub(crate) struct Sets(Vec<SocketSet<'static>>);

impl Sets {
    pub(crate) fn get<T: AnySocket<'static>>(&self, h: Handle) -> &T {
        self.0[h.ifc].get::<T>(h.h)
    }

    pub(crate) fn get_mut<T: AnySocket<'static>>(&mut self, h: Handle) -> &mut T {
        self.0[h.ifc].get_mut::<T>(h.h)
    }

    pub(crate) fn add<T: AnySocket<'static>>(&mut self, ifc: usize, s: T) -> Handle {
        Handle { ifc, h: self.0[ifc].add(s) }
    }

    pub(crate) fn remove(&mut self, h: Handle) {
        self.0[h.ifc].remove(h.h);
    }

    /// Number of interfaces.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    fn count(&self) -> usize {
        self.0.iter().map(|s| s.iter().count()).sum()
    }
}

/// A NIC: its smoltcp interface and device, and what the sandbox sees.
pub(crate) struct Nic {
    iface: Interface,
    pub(crate) dev: EthDev,
    info: IfInfo,
}

/// How long a closed UDP socket's queued datagrams may wait for ARP (Linux
/// gives up on a neighbour after about 3 s).
pub(crate) const UDP_LINGER: Duration = Duration::from_secs(3);

/// Frames read from a link per round before the stack runs.
const RX_BATCH: usize = 64;
/// Receive buffer: the largest frame taken (bigger ones are cut, and
/// dropped by smoltcp as malformed).
const RX_FRAME_MAX: usize = 65536 + ETH_HDR;

/// Default size of each smoltcp TCP buffer (receive and send).
pub(crate) const TCP_BUF: usize = 256 * 1024;
/// Bounds for buffers sized from SO_RCVBUF/SO_SNDBUF.
pub(crate) const TCP_BUF_MIN: usize = 16 * 1024;
pub(crate) const TCP_BUF_MAX: usize = 4 * 1024 * 1024;
/// UDP payload buffers and datagram slots.
pub(crate) const UDP_RX_BUF: usize = 256 * 1024;
pub(crate) const UDP_TX_BUF: usize = 128 * 1024;
pub(crate) const UDP_SLOTS: usize = 256;
/// Linux's ephemeral range (net.ipv4.ip_local_port_range).
pub(crate) const EPHEMERAL_LO: u16 = 32768;
pub(crate) const EPHEMERAL_HI: u16 = 60999;
/// net.core.somaxconn.
pub(crate) const SOMAXCONN: usize = 4096;
/// Bound on ingress/egress rounds per pump (the rest is left to the timer).
const PUMP_ROUNDS: usize = 4096;

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(crate) enum Proto {
    Tcp,
    Udp,
}

/// What a bound socket covers, for bind conflicts and demultiplexing.
/// An AF_INET6 socket bound to a v4-mapped address is `V4`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Scope {
    V4(Ipv4Addr),
    /// Address (maybe `::`), v6only.
    V6(Ipv6Addr, bool),
}

impl Scope {
    pub(crate) fn new(v6only: bool, ip: IpAddr) -> Scope {
        match ip {
            IpAddr::V4(a) => Scope::V4(a),
            IpAddr::V6(a) => Scope::V6(a, v6only),
        }
    }

    fn overlaps(self, o: Scope) -> bool {
        match (self, o) {
            (Scope::V4(a), Scope::V4(b)) => a == b || a.is_unspecified() || b.is_unspecified(),
            (Scope::V6(a, _), Scope::V6(b, _)) => a == b || a.is_unspecified() || b.is_unspecified(),
            (Scope::V4(_), Scope::V6(b, only)) | (Scope::V6(b, only), Scope::V4(_)) => b.is_unspecified() && !only,
        }
    }

    /// Whether a packet to `dst` may be delivered here; 0 = no, higher =
    /// better match (exact > same-family wildcard > dual-stack wildcard).
    pub(crate) fn score(self, dst: IpAddr) -> u8 {
        match (self, dst) {
            (Scope::V4(a), IpAddr::V4(d)) if a == d => 3,
            (Scope::V4(a), IpAddr::V4(_)) if a.is_unspecified() => 2,
            (Scope::V6(a, _), IpAddr::V6(d)) if a == d => 3,
            (Scope::V6(a, _), IpAddr::V6(_)) if a.is_unspecified() => 2,
            (Scope::V6(a, false), IpAddr::V4(_)) if a.is_unspecified() => 1,
            _ => 0,
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Binding {
    pub owner: u64,
    pub scope: Scope,
    pub reuseaddr: bool,
    pub reuseport: bool,
    pub listening: bool,
    /// A closed socket's connection still finishing (FIN_WAIT/TIME_WAIT).
    pub orphan: bool,
}

/// Linux's bind-conflict rule (inet_csk_bind_conflict, simplified; all
/// sockets are treated as owned by one uid for SO_REUSEPORT).
pub(crate) fn conflicts(proto: Proto, new: &Binding, old: &Binding) -> bool {
    if new.owner == old.owner || !new.scope.overlaps(old.scope) {
        return false;
    }
    if new.reuseport && old.reuseport {
        return false;
    }
    if new.reuseaddr && old.orphan {
        return false;
    }
    if new.reuseaddr && old.reuseaddr {
        return match proto {
            Proto::Udp => false,
            Proto::Tcp => old.listening,
        };
    }
    true
}

/// Options that live in the socket layer.
#[derive(Clone, Debug)]
pub(crate) struct Opts {
    pub reuseaddr: bool,
    pub reuseport: bool,
    pub keepalive: bool,
    pub nodelay: bool,
    pub v6only: bool,
    /// SO_RCVBUF/SO_SNDBUF as set (already doubled and clamped).
    pub rcvbuf: Option<usize>,
    pub sndbuf: Option<usize>,
    /// SO_LINGER: Some(seconds) when l_onoff.
    pub linger: Option<i32>,
    pub keepidle: i32,
    /// Options stored and echoed, with no effect here.
    pub stored: HashMap<(i32, i32), Vec<u8>>,
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            reuseaddr: false,
            reuseport: false,
            keepalive: false,
            nodelay: false,
            v6only: false,
            rcvbuf: None,
            sndbuf: None,
            linger: None,
            keepidle: 7200,
            stored: HashMap::new(),
        }
    }
}

fn tcp_buf_size(v: Option<usize>) -> usize {
    v.map_or(TCP_BUF, |v| v.clamp(TCP_BUF_MIN, TCP_BUF_MAX))
}

/// A smoltcp TCP socket configured from `o`.
pub(crate) fn new_tcp(o: &Opts) -> tcp::Socket<'static> {
    let rx = tcp::SocketBuffer::new(vec![0u8; tcp_buf_size(o.rcvbuf)]);
    let tx = tcp::SocketBuffer::new(vec![0u8; tcp_buf_size(o.sndbuf)]);
    let mut s = tcp::Socket::new(rx, tx);
    // Loopback: an ACK costs nothing, a delayed one costs latency.
    s.set_ack_delay(None);
    apply_tcp_opts(&mut s, o);
    s
}

pub(crate) fn apply_tcp_opts(s: &mut tcp::Socket<'static>, o: &Opts) {
    s.set_nagle_enabled(!o.nodelay);
    s.set_keep_alive(o.keepalive.then(|| smoltcp::time::Duration::from_secs(o.keepidle.max(1) as u64)));
}

pub(crate) fn new_udp() -> udp::Socket<'static> {
    let rx = udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; UDP_SLOTS], vec![0u8; UDP_RX_BUF]);
    let tx = udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; UDP_SLOTS], vec![0u8; UDP_TX_BUF]);
    udp::Socket::new(rx, tx)
}

pub(crate) enum Tcp {
    /// Not connected (fresh, bound, failed or disconnected).
    Closed,
    Connecting(Handle),
    /// Connected once; the smoltcp socket may since have closed.
    Connected(Handle),
    Listening {
        backlog: usize,
        /// Handshakes in progress (smoltcp SYN-RECEIVED).
        pending: Vec<Handle>,
        /// The accept queue.
        ready: VecDeque<Handle>,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, Default, Debug)]
pub(crate) struct Snap {
    bits: u32,
    rx: usize,
    tx_free: usize,
    queued: usize,
}

pub(crate) struct Sock {
    pub v6: bool,
    pub proto: Proto,
    pub queue: Arc<WaitQueue>,
    pub opts: Opts,
    /// Bound local address (wire form: v4-mapped shown as IPv4).
    pub local: Option<SocketAddr>,
    /// The user bound it (bind), as opposed to an automatic bind.
    pub explicit_bind: bool,
    pub tcp: Tcp,
    /// UDP: the smoltcp socket on each interface (empty until bound).
    pub udp: Vec<Handle>,
    /// UDP: connected peer (wire form).
    pub peer: Option<SocketAddr>,
    /// Pending error (SO_ERROR).
    pub error: Option<Errno>,
    pub shut_rd: bool,
    pub shut_wr: bool,
    /// TCP: the peer's FIN arrived.
    pub fin_seen: bool,
    /// TCP: the connection was reset.
    pub reset: bool,
    /// TCP: smoltcp state at the last look (to tell a reset from a close).
    pub prev: tcp::State,
    /// TCP: connect returned EINPROGRESS and its outcome was not yet
    /// returned by a later connect (Linux's SS_CONNECTING).
    pub ss_connecting: bool,
    pub snap: Snap,
}

impl Sock {
    pub(crate) fn new(v6: bool, proto: Proto) -> Sock {
        Sock {
            v6,
            proto,
            queue: Arc::new(WaitQueue::new()),
            opts: Opts::default(),
            local: None,
            explicit_bind: false,
            tcp: Tcp::Closed,
            udp: Vec::new(),
            peer: None,
            error: None,
            shut_rd: false,
            shut_wr: false,
            fin_seen: false,
            reset: false,
            prev: tcp::State::Closed,
            ss_connecting: false,
            snap: Snap::default(),
        }
    }

    /// Whether a UDP datagram from `src` (wire form) is for this socket.
    pub(crate) fn udp_accepts(&self, src: SocketAddr) -> bool {
        match src {
            SocketAddr::V6(_) if !self.v6 => return false,
            SocketAddr::V4(_) if self.v6 && self.opts.v6only => return false,
            _ => {}
        }
        self.peer.is_none_or(|p| p == src)
    }
}

/// A closed socket's TCP connection still shutting down.
pub(crate) struct Orphan {
    pub handle: Handle,
    pub owner: u64,
    pub port: u16,
}

pub(crate) struct Inner {
    /// The loopback interface and device.
    pub iface: Interface,
    pub dev: LoopDev,
    pub(crate) nics: Vec<Nic>,
    pub table: Table,
    pub set: Sets,
    pub socks: HashMap<u64, Sock>,
    pub binds: HashMap<(Proto, u16), Vec<Binding>>,
    pub orphans: Vec<Orphan>,
    /// Closed UDP sockets' smoltcp sockets with datagrams still queued,
    /// kept until they are sent or [`UDP_LINGER`] passed.
    pub udp_orphans: Vec<(Handle, std::time::Instant)>,
    pub next_id: u64,
    next_eph: u32,
    epoch: std::time::Instant,
    /// What the timer thread is waiting for (None = nothing).
    timer_at: Option<std::time::Instant>,
    shutdown: bool,
}

pub(crate) type Notes = Vec<(Arc<WaitQueue>, u32)>;

/// A packet at the head of the loopback queue, as far as the socket
/// layer cares.
struct PktInfo {
    proto: u8,
    src: IpAddr,
    dst: IpAddr,
    sport: u16,
    dport: u16,
    /// TCP SYN without ACK or RST.
    syn: bool,
    /// ICMP port unreachable: (original source, original destination).
    unreach: Option<(SocketAddr, SocketAddr)>,
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

/// (protocol, src, dst, payload) of an IP packet.
fn parse_ip(b: &[u8]) -> Option<(u8, IpAddr, IpAddr, &[u8])> {
    match b.first()? >> 4 {
        4 => {
            let ihl = ((b[0] & 0xf) as usize) * 4;
            let total = (be16(b, 2)? as usize).min(b.len());
            let src: [u8; 4] = b.get(12..16)?.try_into().ok()?;
            let dst: [u8; 4] = b.get(16..20)?.try_into().ok()?;
            Some((*b.get(9)?, IpAddr::from(src), IpAddr::from(dst), b.get(ihl..total.max(ihl))?))
        }
        6 => {
            let src: [u8; 16] = b.get(8..24)?.try_into().ok()?;
            let dst: [u8; 16] = b.get(24..40)?.try_into().ok()?;
            Some((*b.get(6)?, IpAddr::from(src), IpAddr::from(dst), b.get(40..)?))
        }
        _ => None,
    }
}

fn parse_pkt(b: &[u8]) -> Option<PktInfo> {
    let (proto, src, dst, p) = parse_ip(b)?;
    let mut info = PktInfo { proto, src, dst, sport: 0, dport: 0, syn: false, unreach: None };
    match proto {
        6 | 17 => {
            info.sport = be16(p, 0)?;
            info.dport = be16(p, 2)?;
            if proto == 6 {
                let flags = *p.get(13)?;
                info.syn = flags & 0x02 != 0 && flags & (0x10 | 0x04) == 0;
            }
        }
        // ICMPv4 type 3 code 3, ICMPv6 type 1 code 4: port unreachable.
        1 | 58 => {
            let (t, c) = (*p.first()?, *p.get(1)?);
            if (proto == 1 && t == 3 && c == 3) || (proto == 58 && t == 1 && c == 4) {
                let (iproto, isrc, idst, ip) = parse_ip(p.get(8..)?)?;
                if iproto == 17 {
                    info.unreach = Some((SocketAddr::new(isrc, be16(ip, 0)?), SocketAddr::new(idst, be16(ip, 2)?)));
                }
            }
        }
        _ => {}
    }
    Some(info)
}

fn ip_eq(a: IpAddress, b: IpAddr) -> bool {
    IpAddr::from(a) == b
}

/// The smoltcp interface of a NIC, with its IPv4 addresses and routes.
fn nic_iface(n: &NicConfig, dev: &mut EthDev, seed: u64) -> Interface {
    let mut cfg = Config::new(HardwareAddress::Ethernet(EthernetAddress(n.mac)));
    cfg.random_seed = seed;
    let mut iface = Interface::new(cfg, dev, smoltcp::time::Instant::from_micros(0));
    iface.update_ip_addrs(|a| {
        for &(ip, p) in n.addrs.iter().filter(|a| a.0.is_ipv4()) {
            if a.push(IpCidr::new(IpAddress::from(ip), p)).is_err() {
                tracing::warn!(nic = n.name, %ip, "netstack: too many addresses, ignored");
            }
        }
    });
    for r in &n.routes {
        let (IpAddr::V4(dst), Some(IpAddr::V4(gw))) = (r.dst, r.via) else { continue };
        let route = smoltcp::iface::Route {
            cidr: IpCidr::new(IpAddress::Ipv4(dst), r.prefix),
            via_router: IpAddress::Ipv4(gw),
            preferred_until: None,
            expires_at: None,
        };
        let mut full = false;
        iface.routes_mut().update(|t| full = t.push(route).is_err());
        if full {
            tracing::warn!(nic = n.name, ?r, "netstack: too many routes, ignored");
        }
    }
    iface
}

/// The routes of `n` the stack uses: IPv4 ones through a gateway (the
/// connected subnets come from the addresses).
fn usable_routes(n: &NicConfig) -> Vec<crate::nic::Route> {
    n.routes.iter().filter(|r| r.dst.is_ipv4() && r.via.is_some_and(|v| v.is_ipv4())).copied().collect()
}

impl Inner {
    fn new(nic_cfgs: &[NicConfig]) -> Inner {
        let mut dev = LoopDev::default();
        let seed = {
            use std::hash::{BuildHasher, Hasher};
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u64(std::process::id() as u64);
            h.finish()
        };
        let mut cfg = Config::new(HardwareAddress::Ip);
        cfg.random_seed = seed;
        let epoch = std::time::Instant::now();
        let mut iface = Interface::new(cfg, &mut dev, smoltcp::time::Instant::from_micros(0));
        iface.update_ip_addrs(|a| {
            // Capacity is IFACE_MAX_ADDR_COUNT (at least 2).
            let _ = a.push(IpCidr::new(IpAddress::Ipv4(Ipv4Addr::LOCALHOST), 8));
            let _ = a.push(IpCidr::new(IpAddress::Ipv6(Ipv6Addr::LOCALHOST), 128));
            // Packets to the NICs' own addresses go through loopback too.
            for n in nic_cfgs {
                for &(ip, _) in n.addrs.iter().filter(|a| a.0.is_ipv4()) {
                    let _ = a.push(IpCidr::new(IpAddress::from(ip), 32));
                }
            }
        });
        let mut table = Table::default();
        let mut nics = Vec::new();
        for (i, n) in nic_cfgs.iter().enumerate() {
            let mut ndev = EthDev::new(n.link.clone(), n.mtu);
            let niface = nic_iface(n, &mut ndev, seed ^ (i as u64 + 1));
            let addrs: Vec<(IpAddr, u8)> = n.addrs.iter().filter(|a| a.0.is_ipv4()).copied().collect();
            table.add_nic(i + 1, &addrs, &usable_routes(n));
            let info = IfInfo { name: n.name.clone(), index: i as u32 + 2, mac: n.mac, mtu: n.mtu, loopback: false, addrs };
            nics.push(Nic { iface: niface, dev: ndev, info });
        }
        // Accept all of 127.0.0.0/8, not only 127.0.0.1 (the socket layer
        // rejects every non-loopback address before it gets here).
        iface.set_any_ip(true);
        Inner {
            iface,
            dev,
            set: Sets((0..=nics.len()).map(|_| SocketSet::new(vec![])).collect()),
            nics,
            table,
            socks: HashMap::new(),
            binds: HashMap::new(),
            orphans: Vec::new(),
            udp_orphans: Vec::new(),
            next_id: 1,
            next_eph: (seed % (EPHEMERAL_HI - EPHEMERAL_LO + 1) as u64) as u32,
            epoch,
            timer_at: None,
            shutdown: false,
        }
    }

    fn now(&self) -> smoltcp::time::Instant {
        smoltcp::time::Instant::from_micros(self.epoch.elapsed().as_micros() as i64)
    }

    // ---- Interfaces ----

    /// The smoltcp context of interface `ifc` (for `tcp::Socket::connect`).
    pub(crate) fn context(&mut self, ifc: usize) -> &mut smoltcp::iface::Context {
        match ifc.checked_sub(1).and_then(|i| self.nics.get_mut(i)) {
            Some(n) => n.iface.context(),
            None => self.iface.context(),
        }
    }

    /// The IP MTU of interface `ifc`.
    pub(crate) fn mtu(&self, ifc: usize) -> usize {
        match ifc.checked_sub(1).and_then(|i| self.nics.get(i)) {
            Some(n) => n.info.mtu,
            None => crate::device::MTU,
        }
    }

    /// The packet at the head of interface `ifc`'s receive queue, as IP.
    fn rx_front(&self, ifc: usize) -> Option<&[u8]> {
        if ifc == LO {
            return self.dev.queue.front().map(|b| &b[..]);
        }
        let f = self.nics.get(ifc - 1)?.dev.rx.front()?;
        match f.get(12..14)? {
            [0x08, 0x00] | [0x86, 0xdd] => f.get(ETH_HDR..),
            _ => None,
        }
    }

    fn rx_empty(&self, ifc: usize) -> bool {
        if ifc == LO {
            self.dev.queue.is_empty()
        } else {
            self.nics.get(ifc - 1).is_none_or(|n| n.dev.rx.is_empty())
        }
    }

    fn drop_front(&mut self, ifc: usize) {
        if ifc == LO {
            self.dev.drop_front();
        } else if let Some(n) = self.nics.get_mut(ifc - 1) {
            n.dev.rx.pop_front();
        }
    }

    /// Let interface `ifc` take the packet at the head of its queue.
    fn ingress_one(&mut self, ifc: usize, now: smoltcp::time::Instant) -> bool {
        let r = if ifc == LO {
            self.iface.poll_ingress_single(now, &mut self.dev, &mut self.set.0[LO])
        } else {
            let n = &mut self.nics[ifc - 1];
            n.iface.poll_ingress_single(now, &mut n.dev, &mut self.set.0[ifc])
        };
        !matches!(r, PollIngressSingleResult::None)
    }

    fn egress(&mut self, ifc: usize, now: smoltcp::time::Instant) {
        if ifc == LO {
            while let PollResult::SocketStateChanged = self.iface.poll_egress(now, &mut self.dev, &mut self.set.0[LO]) {}
        } else {
            let n = &mut self.nics[ifc - 1];
            while let PollResult::SocketStateChanged = n.iface.poll_egress(now, &mut n.dev, &mut self.set.0[ifc]) {}
        }
    }

    /// The earliest time any interface wants to be polled again.
    fn poll_delay(&mut self) -> Option<smoltcp::time::Duration> {
        let now = self.now();
        let Inner { iface, nics, set, .. } = self;
        let mut d = iface.poll_delay(now, &set.0[LO]);
        for (i, n) in nics.iter_mut().enumerate() {
            if let Some(x) = n.iface.poll_delay(now, &set.0[i + 1]) {
                d = Some(d.map_or(x, |d| d.min(x)));
            }
        }
        d
    }

    /// Every interface as the sandbox sees it.
    fn interfaces(&self) -> Vec<IfInfo> {
        let lo = IfInfo {
            name: "lo".into(),
            index: 1,
            mac: [0; 6],
            mtu: 65536,
            loopback: true,
            addrs: vec![(IpAddr::V4(Ipv4Addr::LOCALHOST), 8)],
        };
        std::iter::once(lo).chain(self.nics.iter().map(|n| n.info.clone())).collect()
    }

    // ---- Port table ----

    /// A free ephemeral port (no binding at all on it).
    pub(crate) fn ephemeral_port(&mut self, proto: Proto) -> Option<u16> {
        let n = (EPHEMERAL_HI - EPHEMERAL_LO) as u32 + 1;
        for _ in 0..n {
            let p = EPHEMERAL_LO + (self.next_eph % n) as u16;
            self.next_eph = self.next_eph.wrapping_add(1);
            if !self.binds.contains_key(&(proto, p)) {
                return Some(p);
            }
        }
        None
    }

    /// Record `b` on `port` unless it conflicts (EADDRINUSE). A binding of
    /// the same owner is replaced.
    pub(crate) fn add_binding(&mut self, proto: Proto, port: u16, b: Binding) -> Result<(), Errno> {
        let list = self.binds.entry((proto, port)).or_default();
        if list.iter().any(|o| conflicts(proto, &b, o)) {
            if list.is_empty() {
                self.binds.remove(&(proto, port));
            }
            return Err(Errno::EADDRINUSE);
        }
        list.retain(|o| o.owner != b.owner);
        list.push(b);
        Ok(())
    }

    pub(crate) fn remove_binding(&mut self, proto: Proto, port: u16, owner: u64) {
        if let Some(list) = self.binds.get_mut(&(proto, port)) {
            list.retain(|b| b.owner != owner);
            if list.is_empty() {
                self.binds.remove(&(proto, port));
            }
        }
    }

    pub(crate) fn binding_mut(&mut self, proto: Proto, port: u16, owner: u64) -> Option<&mut Binding> {
        self.binds.get_mut(&(proto, port))?.iter_mut().find(|b| b.owner == owner)
    }

    // ---- Driving smoltcp ----

    /// The listener a SYN to `dst:port` belongs to.
    fn find_listener(&self, dst: IpAddr, port: u16) -> Option<u64> {
        let list = self.binds.get(&(Proto::Tcp, port))?;
        list.iter()
            .filter(|b| b.listening)
            .map(|b| (b.scope.score(dst), b.owner))
            .filter(|(s, _)| *s > 0)
            .max_by_key(|(s, _)| *s)
            .map(|(_, o)| o)
    }

    /// Look at the packet about to be received on interface `ifc`.
    /// Returns whether to drop it, and the smoltcp socket created to take
    /// it (a SYN).
    fn pre_ingress(&mut self, ifc: usize) -> (bool, Option<(u64, Handle)>) {
        let Some(info) = self.rx_front(ifc).and_then(parse_pkt) else {
            return (false, None);
        };
        if let Some((src, dst)) = info.unreach {
            // Our datagram from `src` to `dst` found no socket: a connected
            // UDP socket gets ECONNREFUSED (Linux: sk_err from ICMP).
            for s in self.socks.values_mut() {
                if s.proto == Proto::Udp && s.peer == Some(dst) && s.local.is_some_and(|l| l.port() == src.port()) {
                    s.error = Some(Errno::ECONNREFUSED);
                }
            }
            return (false, None);
        }
        if info.proto != 6 || !info.syn {
            return (false, None);
        }
        // From the wire, only SYNs to our addresses (smoltcp drops the
        // others).
        if ifc != LO && !self.table.is_own(info.dst) {
            return (false, None);
        }
        // A retransmitted SYN of a connection in progress: smoltcp's.
        let exists = self.set.0[ifc].iter().any(|(_, s)| match <tcp::Socket as AnySocket>::downcast(s) {
            Some(t) => {
                t.state() != tcp::State::Listen
                    && t.local_endpoint().is_some_and(|e| e.port == info.dport && ip_eq(e.addr, info.dst))
                    && t.remote_endpoint().is_some_and(|e| e.port == info.sport && ip_eq(e.addr, info.src))
            }
            None => false,
        });
        if exists {
            return (false, None);
        }
        let Some(lid) = self.find_listener(info.dst, info.dport) else {
            return (false, None); // smoltcp answers RST: ECONNREFUSED.
        };
        let Some(l) = self.socks.get_mut(&lid) else { return (false, None) };
        let Tcp::Listening { backlog, pending, ready } = &mut l.tcp else { return (false, None) };
        if pending.len() + ready.len() > *backlog {
            // Accept queue full: drop the SYN, the client retransmits.
            tracing::trace!(port = info.dport, "listen queue full, SYN dropped");
            return (true, None);
        }
        let mut t = new_tcp(&l.opts);
        let ep = IpListenEndpoint { addr: Some(IpAddress::from(info.dst)), port: info.dport };
        if t.listen(ep).is_err() {
            return (false, None);
        }
        let h = self.set.add(ifc, t);
        pending.push(h);
        (false, Some((lid, h)))
    }

    /// Exchange packets until the loopback queue is empty, then update
    /// the socket layer's view (accept queues, connect results, resets).
    pub(crate) fn pump(&mut self) {
        let now = self.now();
        self.iface.poll_maintenance(now);
        for n in &mut self.nics {
            n.iface.poll_maintenance(now);
        }
        let ifcs = self.set.len();
        for _ in 0..PUMP_ROUNDS {
            for ifc in 0..ifcs {
                self.ingress(ifc, now);
            }
            // Data reaching a closed socket's connection resets it (Linux
            // tcp_rcv_state_process after RCV_SHUTDOWN on an orphan).
            for o in &self.orphans {
                let t = self.set.get_mut::<tcp::Socket>(o.handle);
                if t.recv_queue() > 0 && t.state() != tcp::State::Closed {
                    t.abort();
                }
            }
            for ifc in 0..ifcs {
                self.egress(ifc, now);
            }
            if (0..ifcs).all(|i| self.rx_empty(i)) {
                break;
            }
        }
        self.bookkeep();
    }

    /// Receive every packet waiting on interface `ifc`.
    fn ingress(&mut self, ifc: usize, now: smoltcp::time::Instant) {
        while !self.rx_empty(ifc) {
            let (drop, jit) = self.pre_ingress(ifc);
            if drop {
                self.drop_front(ifc);
                continue;
            }
            if !self.ingress_one(ifc, now) {
                break;
            }
            if let Some((lid, h)) = jit {
                // The SYN was not taken (invalid): do not leave a
                // listening socket that would take the next one.
                if self.set.get::<tcp::Socket>(h).state() == tcp::State::Listen {
                    self.set.remove(h);
                    if let Some(Sock { tcp: Tcp::Listening { pending, .. }, .. }) = self.socks.get_mut(&lid) {
                        pending.retain(|x| *x != h);
                    }
                }
            }
        }
    }

    fn bookkeep(&mut self) {
        let mut unbind: Vec<(u16, u64)> = Vec::new();
        let Inner { socks, set, orphans, udp_orphans, .. } = self;
        for (&id, s) in socks.iter_mut() {
            let mut next: Option<Tcp> = None;
            match &mut s.tcp {
                Tcp::Listening { pending, ready, .. } => {
                    pending.retain(|&h| match set.get::<tcp::Socket>(h).state() {
                        tcp::State::SynReceived => true,
                        tcp::State::Listen | tcp::State::Closed => {
                            set.remove(h);
                            false
                        }
                        _ => {
                            ready.push_back(h);
                            false
                        }
                    });
                }
                Tcp::Connecting(h) => {
                    let h = *h;
                    match set.get::<tcp::Socket>(h).state() {
                        tcp::State::SynSent | tcp::State::SynReceived => {}
                        tcp::State::Closed => {
                            set.remove(h);
                            s.error = Some(Errno::ECONNREFUSED);
                            next = Some(Tcp::Closed);
                            if !s.explicit_bind {
                                if let Some(l) = s.local.take() {
                                    unbind.push((l.port(), id));
                                }
                            }
                        }
                        st => {
                            s.prev = st;
                            next = Some(Tcp::Connected(h));
                        }
                    }
                }
                Tcp::Connected(h) => {
                    let st = set.get::<tcp::Socket>(*h).state();
                    if matches!(st, tcp::State::CloseWait | tcp::State::LastAck | tcp::State::Closing | tcp::State::TimeWait) {
                        s.fin_seen = true;
                    }
                    if st == tcp::State::Closed
                        && !s.reset
                        && !matches!(s.prev, tcp::State::Closed | tcp::State::LastAck | tcp::State::TimeWait)
                    {
                        s.reset = true;
                        // tcp_reset: EPIPE in CLOSE_WAIT, else ECONNRESET.
                        s.error = Some(if s.prev == tcp::State::CloseWait { Errno::EPIPE } else { Errno::ECONNRESET });
                    }
                    s.prev = st;
                }
                Tcp::Closed => {}
            }
            if let Some(n) = next {
                s.tcp = n;
            }
            for &h in &s.udp {
                if s.peer.is_some() || !s.v6 || s.opts.v6only {
                    let u = set.get_mut::<udp::Socket>(h);
                    while let Ok((_, m)) = u.peek() {
                        let src = SocketAddr::from(m.endpoint);
                        if s.udp_accepts(src) {
                            break;
                        }
                        let _ = u.recv();
                    }
                }
            }
        }
        let now = std::time::Instant::now();
        udp_orphans.retain(|&(h, until)| {
            if set.get::<udp::Socket>(h).send_queue() == 0 || now >= until {
                set.remove(h);
                false
            } else {
                true
            }
        });
        orphans.retain(|o| {
            if set.get::<tcp::Socket>(o.handle).state() == tcp::State::Closed {
                set.remove(o.handle);
                unbind.push((o.port, o.owner));
                false
            } else {
                true
            }
        });
        for (port, owner) in unbind {
            self.remove_binding(Proto::Tcp, port, owner);
        }
    }

    /// Wake-ups owed since the last call: every socket whose readiness or
    /// queues changed, with its current readiness.
    pub(crate) fn collect(&mut self) -> Notes {
        let mut out = Vec::new();
        let Inner { socks, set, .. } = self;
        for s in socks.values_mut() {
            let snap = snapshot(set, s);
            if snap != s.snap {
                s.snap = snap;
                if snap.bits != 0 {
                    out.push((s.queue.clone(), snap.bits));
                }
            }
        }
        out
    }
}

fn snapshot(set: &Sets, s: &Sock) -> Snap {
    let bits = readiness(set, s);
    let mut snap = Snap { bits, ..Snap::default() };
    match &s.tcp {
        Tcp::Connected(h) | Tcp::Connecting(h) => {
            let t = set.get::<tcp::Socket>(*h);
            snap.rx = t.recv_queue();
            snap.tx_free = t.send_capacity() - t.send_queue();
        }
        Tcp::Listening { ready, .. } => snap.queued = ready.len(),
        Tcp::Closed => {}
    }
    snap.rx += s.udp.iter().map(|&h| set.get::<udp::Socket>(h).recv_queue()).sum::<usize>();
    snap
}

/// All POLL* bits of `s` now, as Linux's tcp_poll / datagram_poll.
pub(crate) fn readiness(set: &Sets, s: &Sock) -> u32 {
    use events::*;
    let mut m = 0;
    if s.error.is_some() {
        m |= POLLERR;
    }
    match s.proto {
        Proto::Udp => {
            if s.shut_rd {
                m |= POLLRDHUP | READABLE;
            }
            if s.shut_rd && s.shut_wr {
                m |= POLLHUP;
            }
            if s.udp.iter().any(|&h| set.get::<udp::Socket>(h).can_recv()) {
                m |= READABLE;
            }
            m |= WRITABLE;
        }
        Proto::Tcp => match &s.tcp {
            Tcp::Listening { ready, .. } => {
                if !ready.is_empty() {
                    m |= READABLE;
                }
            }
            Tcp::Connecting(_) => {}
            Tcp::Closed => {
                m |= POLLHUP | WRITABLE;
                if s.shut_rd {
                    m |= READABLE | POLLRDHUP;
                }
            }
            Tcp::Connected(h) => {
                let t = set.get::<tcp::Socket>(*h);
                let rcv_shut = s.shut_rd || s.fin_seen || s.reset;
                let snd_shut = s.shut_wr || s.reset;
                if (rcv_shut && snd_shut) || t.state() == tcp::State::Closed {
                    m |= POLLHUP;
                }
                if rcv_shut {
                    m |= READABLE | POLLRDHUP;
                }
                if t.can_recv() {
                    m |= READABLE;
                }
                if snd_shut {
                    m |= WRITABLE;
                } else if t.may_send() {
                    let free = t.send_capacity() - t.send_queue();
                    if free > 0 && free >= t.send_capacity() / 8 {
                        m |= WRITABLE;
                    }
                }
            }
        },
    }
    m
}

/// The shared part, held by the timer thread too.
pub(crate) struct Core {
    inner: Mutex<Inner>,
    cv: Condvar,
}

impl Core {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wake the timer thread if smoltcp now wants a poll earlier than the
    /// timer is waiting for.
    fn kick(&self, g: &mut Inner) {
        if let Some(d) = g.poll_delay() {
            let at = std::time::Instant::now() + Duration::from_micros(d.total_micros());
            if g.timer_at.is_none_or(|t| at < t) {
                self.cv.notify_one();
            }
        }
    }

    fn timer_main(self: Arc<Core>) {
        let mut g = self.lock();
        loop {
            if g.shutdown {
                return;
            }
            let delay = g.poll_delay();
            match delay {
                Some(d) if d.total_micros() == 0 => {
                    g.pump();
                    let notes = g.collect();
                    drop(g);
                    for (q, m) in notes {
                        q.notify(m);
                    }
                    g = self.lock();
                    // smoltcp may keep asking for "now" (e.g. a zero
                    // window): never spin faster than once a millisecond.
                    let again = g.poll_delay();
                    if again.is_some_and(|d| d.total_micros() == 0) {
                        g.timer_at = Some(std::time::Instant::now() + Duration::from_millis(1));
                        g = self.cv.wait_timeout(g, Duration::from_millis(1)).unwrap_or_else(|e| e.into_inner()).0;
                    }
                }
                Some(d) => {
                    let d = Duration::from_micros(d.total_micros());
                    g.timer_at = Some(std::time::Instant::now() + d);
                    g = self.cv.wait_timeout(g, d).unwrap_or_else(|e| e.into_inner()).0;
                    g.timer_at = None;
                }
                None => {
                    g.timer_at = None;
                    g = self.cv.wait(g).unwrap_or_else(|e| e.into_inner());
                }
            }
        }
    }

    /// A NIC's receive thread: wait for frames on its link, queue them,
    /// run the stack, wake the sockets. Ends (within a second) when the
    /// `Stack` is dropped.
    fn rx_main(self: Arc<Core>, nic: usize, link: Arc<dyn Link>) {
        let mut buf = vec![0u8; RX_FRAME_MAX];
        loop {
            if self.lock().shutdown {
                return;
            }
            if !link.wait(Duration::from_secs(1)) {
                continue;
            }
            let mut g = self.lock();
            let mut got = 0;
            while got < RX_BATCH {
                let Some(n) = link.recv(&mut buf) else { break };
                got += 1;
                if let Some(x) = g.nics.get_mut(nic) {
                    x.dev.rx.push_back(buf[..n].to_vec());
                }
            }
            if got == 0 {
                continue;
            }
            g.pump();
            let notes = g.collect();
            self.kick(&mut g);
            drop(g);
            for (q, m) in notes {
                q.notify(m);
            }
        }
    }
}

/// One network stack (one per sandbox): a loopback interface with
/// 127.0.0.1/8 and ::1, Ethernet NICs (`--network=sandbox`), and every
/// AF_INET/AF_INET6 socket on them.
///
/// smoltcp is driven synchronously by every socket operation, by a timer
/// thread ("netstack-timer") at the times smoltcp asks for
/// (retransmissions, TIME_WAIT, keepalives, ARP retries), and by one
/// receive thread per NIC ("netstack-rx") when frames arrive. The threads
/// end when the `Stack` is dropped (sockets hold an `Arc<Stack>`).
pub struct Stack {
    pub(crate) core: Arc<Core>,
}

impl Stack {
    /// A loopback-only stack (`--network=none`).
    pub fn new_loopback() -> Arc<Stack> {
        Self::new(Vec::new())
    }

    /// A stack with loopback and the NICs `nics` (IPv4 only on them; see
    /// the crate docs). With no NIC it is [`Stack::new_loopback`].
    pub fn new(nics: Vec<NicConfig>) -> Arc<Stack> {
        let core = Arc::new(Core { inner: Mutex::new(Inner::new(&nics)), cv: Condvar::new() });
        let c2 = core.clone();
        let spawned = std::thread::Builder::new().name("netstack-timer".into()).spawn(move || c2.timer_main());
        if let Err(e) = spawned {
            // Without the timer, retransmissions wait for the next socket
            // operation; loopback never loses packets except dropped SYNs.
            tracing::warn!("netstack: cannot start the timer thread: {e}");
        }
        for (i, n) in nics.into_iter().enumerate() {
            let c = core.clone();
            let name = format!("netstack-rx-{}", n.name);
            if let Err(e) = std::thread::Builder::new().name(name).spawn(move || c.rx_main(i, n.link)) {
                tracing::warn!(nic = i, "netstack: cannot start the receive thread: {e}");
            }
        }
        Arc::new(Stack { core })
    }

    /// Run `f` on the stack, then drive smoltcp, then wake whoever must
    /// be woken (outside the lock).
    pub(crate) fn op<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        let mut g = self.core.lock();
        let r = f(&mut g);
        g.pump();
        let notes = g.collect();
        self.core.kick(&mut g);
        drop(g);
        for (q, m) in notes {
            q.notify(m);
        }
        r
    }

    /// Number of smoltcp sockets alive (including closed sockets' connections
    /// still in FIN_WAIT/TIME_WAIT), for tests and debugging.
    pub fn smoltcp_socket_count(&self) -> usize {
        self.core.lock().set.count()
    }

    /// The interfaces: `lo` (index 1), then the NICs.
    pub fn interfaces(&self) -> Vec<IfInfo> {
        self.core.lock().interfaces()
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.core.lock().shutdown = true;
        self.core.cv.notify_all();
    }
}
