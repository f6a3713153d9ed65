//! `--network`, the host side: what the sandbox's stack is given.
//!
//! * `none`: loopback only (nothing to do here).
//! * `sandbox`: as gVisor's runsc, the network namespace the sandbox
//!   process sits in (the container's, set up by docker/CNI/`ip netns`)
//!   is taken over: for every non-loopback Ethernet interface with an
//!   IPv4 address, its addresses, MAC, MTU and IPv4 routes (gateways) are
//!   copied, an AF_PACKET socket is bound to it, and its IPv4 addresses
//!   are then removed from the host interface, so that the host kernel no
//!   longer answers for them (ARP, RST, ICMP): the in-sandbox stack
//!   (netstack) alone does. IPv6 addresses are left alone and not used
//!   (the sandbox's IPv6 is loopback only).
//! * `host`: not supported (rejected).
//!
//! OCI containers default to `sandbox` (as runsc): a netns given by path
//! (docker, CNI) is taken over; with docker's `--network=none` that netns
//! holds only `lo`, so the result is loopback-only, as `none`. Without a
//! netns path the sandbox is loopback-only. Each container is its own
//! sandbox, so in a pod the first app container to start takes the pod's
//! interface (the pause container leaves it); the others get none.
//! `do` defaults to `none`: it makes no netns of its own.
//!
//! Run once, before the Sentry is confined: afterwards it only uses the
//! packet sockets (poll, recvfrom, sendto).
//!
//! Why rtnetlink through `netlink-packet-route` + `netlink-sys` (and
//! `netlink-packet-core` for the message header): they are the
//! maintained rust-netlink crates (the ones `rtnetlink` is built on),
//! synchronous with `netlink-sys`'s plain socket (no async runtime), with
//! few dependencies (libc, bitflags, zerocopy, log), and they decode the
//! kernel's messages into typed structures. Parsing `ip` output instead
//! would need iproute2 in every netns and a text format that is not an
//! interface; hand-written rtnetlink structs would duplicate them.

use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::ValueEnum;
use netlink_packet_core::{NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkLayerType, LinkMessage};
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteType};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use netstack::{NicConfig, PacketLink, Route};
use tracing::{info, warn};

/// The sandbox's network (`--network`).
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum NetworkArg {
    /// Loopback only.
    None,
    /// The network namespace's interfaces, taken over by the sandbox.
    Sandbox,
    /// The host's network stack (not supported).
    Host,
}

impl NetworkArg {
    pub fn as_str(self) -> &'static str {
        match self {
            NetworkArg::None => "none",
            NetworkArg::Sandbox => "sandbox",
            NetworkArg::Host => "host",
        }
    }
}

/// Set up `mode` in the current network namespace: the NICs for the
/// sandbox's stack (none for `none`).
pub fn setup(mode: NetworkArg) -> Result<Vec<NicConfig>> {
    match mode {
        NetworkArg::None => Ok(Vec::new()),
        NetworkArg::Host => bail!("--network=host is not supported (use --network=sandbox or --network=none)"),
        NetworkArg::Sandbox => {
            refuse_initial_netns()?;
            take_over()
        }
    }
}

/// For the OCI path: the container's netns (`linux.namespaces` network
/// with a path) was joined, so `sandbox` takes it over. Without a path
/// (a new, empty namespace was asked for, which would hold only `lo`) or
/// without a network namespace at all, the sandbox is loopback-only, as
/// gVisor then runs it in a new empty namespace.
pub fn setup_oci(mode: NetworkArg, spec: &oci_spec::runtime::Spec) -> Result<Vec<NicConfig>> {
    use oci_spec::runtime::LinuxNamespaceType as Ns;
    let joined_netns = spec.linux().iter().flat_map(|l| l.namespaces().iter().flatten()).any(|n| n.typ() == Ns::Network && n.path().is_some());
    if mode == NetworkArg::Sandbox && !joined_netns {
        info!("network: no network namespace path in the config: loopback only");
        return Ok(Vec::new());
    }
    // A pod's sandbox ("pause") container has no use for the network: it
    // leaves the pod's interface to the first app container (each
    // container is its own sandbox; the first to take an interface has it).
    let pause = spec.annotations().iter().flatten().any(|(k, v)| {
        (k == "io.kubernetes.cri.container-type" || k == "io.kubernetes.cri-o.ContainerType") && v == "sandbox"
    });
    if mode == NetworkArg::Sandbox && pause {
        info!("network: a pod's sandbox container: loopback only, the pod's interface is left to its containers");
        return Ok(Vec::new());
    }
    setup(mode)
}

/// The inode of the initial network namespace on kernels that fix it
/// (PROC_NET_INIT_INO, Linux 6.x); older ones number it dynamically.
const PROC_NET_INIT_INO: u64 = 0xEFFF_FFF9;

/// Taking over the host's own interfaces would cut the host off: refuse
/// in the initial network namespace (known by its fixed inode, or as pid
/// 1's when that can be read).
fn refuse_initial_netns() -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let ours = std::fs::metadata("/proc/self/ns/net").context("reading /proc/self/ns/net")?;
    let init = std::fs::metadata("/proc/1/ns/net").ok();
    let same_as_init = init.is_some_and(|i| (i.dev(), i.ino()) == (ours.dev(), ours.ino()));
    if ours.ino() == PROC_NET_INIT_INO || same_as_init {
        bail!(
            "--network=sandbox in the host's network namespace would take over the host's interfaces: \
             run in a network namespace of its own (e.g. `ip netns exec NAME runsc-rs ...`) or use --network=none"
        );
    }
    Ok(())
}

/// A synchronous rtnetlink connection.
struct Netlink {
    sock: Socket,
    seq: u32,
}

impl Netlink {
    fn new() -> Result<Netlink> {
        let mut sock = Socket::new(NETLINK_ROUTE).context("netlink socket")?;
        sock.bind_auto().context("netlink bind")?;
        sock.connect(&SocketAddr::new(0, 0)).context("netlink connect")?;
        Ok(Netlink { sock, seq: 0 })
    }

    /// Send `msg` with `flags` (NLM_F_DUMP or NLM_F_ACK) and collect the
    /// answers until the dump ends or the ack comes.
    fn request(&mut self, msg: RouteNetlinkMessage, flags: u16) -> Result<Vec<RouteNetlinkMessage>> {
        self.seq += 1;
        let mut hdr = NetlinkHeader::default();
        hdr.flags = NLM_F_REQUEST | flags;
        hdr.sequence_number = self.seq;
        let mut packet = NetlinkMessage::new(hdr, NetlinkPayload::from(msg));
        packet.finalize();
        let mut buf = vec![0u8; packet.buffer_len()];
        packet.serialize(&mut buf);
        self.sock.send(&buf, 0).context("netlink send")?;
        let mut out = Vec::new();
        loop {
            let (data, _) = self.sock.recv_from_full().context("netlink receive")?;
            let mut off = 0;
            while off < data.len() {
                let m = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&data[off..]).context("netlink message")?;
                let len = m.header.length as usize;
                if m.header.sequence_number == self.seq {
                    match m.payload {
                        NetlinkPayload::Done(_) => return Ok(out),
                        NetlinkPayload::Error(e) => match e.code {
                            None => return Ok(out),
                            Some(_) => return Err(e.to_io()).context("netlink request"),
                        },
                        NetlinkPayload::InnerMessage(x) => out.push(x),
                        _ => {}
                    }
                }
                if len == 0 {
                    break;
                }
                off += (len + 3) & !3;
            }
        }
    }
}

/// An interface to take over, as read from the namespace.
struct HostIf {
    index: u32,
    name: String,
    mac: [u8; 6],
    mtu: usize,
    /// The address messages (to delete them later) and their addresses.
    addrs: Vec<(AddressMessage, Ipv4Addr, u8)>,
    routes: Vec<Route>,
}

fn links(nl: &mut Netlink) -> Result<Vec<HostIf>> {
    let mut out = Vec::new();
    for m in nl.request(RouteNetlinkMessage::GetLink(LinkMessage::default()), NLM_F_DUMP)? {
        let RouteNetlinkMessage::NewLink(l) = m else { continue };
        let mut name = String::new();
        let mut mac = None;
        let mut mtu = 1500;
        for a in &l.attributes {
            match a {
                LinkAttribute::IfName(n) => name = n.clone(),
                LinkAttribute::Address(b) => mac = <[u8; 6]>::try_from(&b[..]).ok(),
                LinkAttribute::Mtu(m) => mtu = *m as usize,
                _ => {}
            }
        }
        if l.header.flags.contains(LinkFlags::Loopback) {
            continue;
        }
        if l.header.link_layer_type != LinkLayerType::Ether {
            info!(name, kind = ?l.header.link_layer_type, "network: not an Ethernet interface, left alone");
            continue;
        }
        let Some(mac) = mac else {
            warn!(name, "network: interface without a MAC address, left alone");
            continue;
        };
        if !l.header.flags.contains(LinkFlags::Up) {
            warn!(name, "network: interface is down");
        }
        out.push(HostIf { index: l.header.index, name, mac, mtu, addrs: Vec::new(), routes: Vec::new() });
    }
    Ok(out)
}

fn addresses(nl: &mut Netlink, ifs: &mut [HostIf]) -> Result<()> {
    let mut q = AddressMessage::default();
    q.header.family = AddressFamily::Inet;
    for m in nl.request(RouteNetlinkMessage::GetAddress(q), NLM_F_DUMP)? {
        let RouteNetlinkMessage::NewAddress(a) = m else { continue };
        if a.header.family != AddressFamily::Inet {
            continue;
        }
        let Some(i) = ifs.iter_mut().find(|i| i.index == a.header.index) else { continue };
        // IFA_LOCAL is the interface's own address (IFA_ADDRESS the peer's
        // on point-to-point links).
        let local = a.attributes.iter().find_map(|x| match x {
            AddressAttribute::Local(IpAddr::V4(v)) => Some(*v),
            _ => None,
        });
        let addr = local.or_else(|| {
            a.attributes.iter().find_map(|x| match x {
                AddressAttribute::Address(IpAddr::V4(v)) => Some(*v),
                _ => None,
            })
        });
        if let Some(v) = addr {
            let p = a.header.prefix_len;
            i.addrs.push((a, v, p));
        }
    }
    Ok(())
}

fn routes(nl: &mut Netlink, ifs: &mut [HostIf]) -> Result<()> {
    let mut q = RouteMessage::default();
    q.header.address_family = AddressFamily::Inet;
    for m in nl.request(RouteNetlinkMessage::GetRoute(q), NLM_F_DUMP)? {
        let RouteNetlinkMessage::NewRoute(r) = m else { continue };
        let mut table = u32::from(r.header.table);
        let (mut dst, mut gw, mut oif) = (Ipv4Addr::UNSPECIFIED, None, None);
        for a in &r.attributes {
            match a {
                RouteAttribute::Table(t) => table = *t,
                RouteAttribute::Destination(RouteAddress::Inet(d)) => dst = *d,
                RouteAttribute::Gateway(RouteAddress::Inet(g)) => gw = Some(*g),
                RouteAttribute::Oif(o) => oif = Some(*o),
                _ => {}
            }
        }
        if table != u32::from(RouteHeader::RT_TABLE_MAIN) || r.header.kind != RouteType::Unicast {
            continue;
        }
        let Some(i) = oif.and_then(|o| ifs.iter_mut().find(|i| i.index == o)) else { continue };
        i.routes.push(Route { dst: IpAddr::V4(dst), prefix: r.header.destination_prefix_length, via: gw.map(IpAddr::V4) });
    }
    Ok(())
}

/// An AF_PACKET socket receiving every frame of interface `index`.
fn packet_socket(index: u32) -> Result<OwnedFd> {
    let proto = (libc::ETH_P_ALL as u16).to_be();
    // Protocol 0 until bound: no frame of another interface is queued.
    // SAFETY: plain socket(2); the result is checked.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error()).context("AF_PACKET socket (needs CAP_NET_RAW)");
    }
    // SAFETY: fd was just created and is owned by nothing else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: sockaddr_ll is plain data; all zeroes is valid.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = proto;
    sll.sll_ifindex = index as i32;
    // SAFETY: `sll` is a valid sockaddr_ll of the length given.
    let r = unsafe {
        libc::bind(fd.as_raw_fd(), (&sll as *const libc::sockaddr_ll).cast(), std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t)
    };
    if r < 0 {
        return Err(std::io::Error::last_os_error()).context("binding the packet socket");
    }
    let set = |level: i32, name: i32, v: i32| {
        // SAFETY: `v` is a valid int for the option's length.
        unsafe { libc::setsockopt(fd.as_raw_fd(), level, name, (&v as *const i32).cast(), std::mem::size_of::<i32>() as libc::socklen_t) }
    };
    // Our own transmissions are not looped back to us (Linux >= 4.20;
    // PacketLink also skips them).
    const PACKET_IGNORE_OUTGOING: i32 = 23;
    let _ = set(libc::SOL_PACKET, PACKET_IGNORE_OUTGOING, 1);
    // Room for bursts (as gVisor's 4 MiB); best effort.
    let _ = set(libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, 4 << 20);
    let _ = set(libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, 4 << 20);
    Ok(fd)
}

/// Copy every usable interface, open its packet socket, and remove its
/// IPv4 addresses from the host.
fn take_over() -> Result<Vec<NicConfig>> {
    let mut nl = Netlink::new()?;
    let mut ifs = links(&mut nl)?;
    addresses(&mut nl, &mut ifs)?;
    // Routes first: removing the addresses removes the routes using them.
    routes(&mut nl, &mut ifs)?;
    let mut nics = Vec::new();
    for i in ifs {
        if i.addrs.is_empty() {
            info!(name = i.name, "network: interface without an IPv4 address, left alone");
            continue;
        }
        let fd = packet_socket(i.index).with_context(|| format!("interface {}", i.name))?;
        for (msg, addr, _) in &i.addrs {
            nl.request(RouteNetlinkMessage::DelAddress(msg.clone()), NLM_F_ACK)
                .with_context(|| format!("removing {addr} from the host's {}", i.name))?;
        }
        let addrs: Vec<(IpAddr, u8)> = i.addrs.iter().map(|(_, a, p)| (IpAddr::V4(*a), *p)).collect();
        info!(name = i.name, ?addrs, routes = ?i.routes, mtu = i.mtu, "network: interface taken over by the sandbox");
        nics.push(NicConfig { name: i.name, mac: i.mac, mtu: i.mtu, addrs, routes: i.routes, link: Arc::new(PacketLink::new(fd)) });
    }
    Ok(nics)
}
