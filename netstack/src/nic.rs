//! Network interfaces besides loopback (`--network=sandbox`): an Ethernet
//! NIC on a [`Link`] — the packet socket bound to the netns' interface, or
//! an in-memory wire in tests — driven by its own smoltcp interface of
//! medium Ethernet (ARP and framing are smoltcp's).

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use smoltcp::phy::{self, Checksum, ChecksumCapabilities, Device, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

/// Size of an Ethernet header (no VLAN tag: the host strips it).
pub(crate) const ETH_HDR: usize = 14;

/// Where a NIC's frames go and come from.
pub trait Link: Send + Sync + 'static {
    /// Send one Ethernet frame. Never blocks: a frame that cannot be sent
    /// now is dropped, as a NIC with a full queue does (TCP retransmits).
    fn send(&self, frame: &[u8]);
    /// Take one received frame into `buf` (its length) without blocking;
    /// None when none is waiting. Frames longer than `buf` are cut.
    fn recv(&self, buf: &mut [u8]) -> Option<usize>;
    /// Block until a frame may be waiting or `timeout` passed; whether one
    /// may be waiting.
    fn wait(&self, timeout: Duration) -> bool;
}

/// A route of a NIC: `dst/prefix`, through the gateway `via` (None: on
/// the link). The default route is `0.0.0.0/0`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    pub dst: IpAddr,
    pub prefix: u8,
    pub via: Option<IpAddr>,
}

/// An Ethernet NIC for [`crate::Stack::new`]: the netns interface's
/// configuration, copied, and the link its frames use. Only IPv4
/// addresses and routes are used (see the crate docs).
pub struct NicConfig {
    /// The name the sandbox sees (the host interface's, e.g. `eth0`).
    pub name: String,
    pub mac: [u8; 6],
    /// IP MTU (without the Ethernet header), e.g. 1500.
    pub mtu: usize,
    /// Addresses with their prefix length.
    pub addrs: Vec<(IpAddr, u8)>,
    pub routes: Vec<Route>,
    pub link: Arc<dyn Link>,
}

impl std::fmt::Debug for NicConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NicConfig")
            .field("name", &self.name)
            .field("mac", &self.mac)
            .field("mtu", &self.mtu)
            .field("addrs", &self.addrs)
            .field("routes", &self.routes)
            .finish()
    }
}

/// An interface as the sandbox sees it (ioctl SIOCGIF*).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IfInfo {
    pub name: String,
    /// The in-sandbox index: 1 for `lo`, then the NICs in order.
    pub index: u32,
    /// All zeroes for `lo`.
    pub mac: [u8; 6],
    pub mtu: usize,
    pub loopback: bool,
    /// IPv4 addresses with their prefix length (what SIOCGIFADDR and
    /// SIOCGIFCONF report).
    pub addrs: Vec<(IpAddr, u8)>,
}

/// The smoltcp device of a NIC: frames received by the stack's rx thread
/// wait in `rx`; transmitted frames go straight to the link.
pub(crate) struct EthDev {
    pub(crate) rx: VecDeque<Vec<u8>>,
    link: Arc<dyn Link>,
    mtu: usize,
    tx_buf: Vec<u8>,
}

impl EthDev {
    pub(crate) fn new(link: Arc<dyn Link>, mtu: usize) -> EthDev {
        EthDev { rx: VecDeque::new(), link, mtu, tx_buf: Vec::new() }
    }
}

pub(crate) struct RxToken {
    buf: Vec<u8>,
}

pub(crate) struct TxToken<'a> {
    link: &'a dyn Link,
    buf: &'a mut Vec<u8>,
}

impl phy::RxToken for RxToken {
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        f(&self.buf)
    }
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        self.buf.clear();
        self.buf.resize(len, 0);
        let r = f(self.buf);
        self.link.send(self.buf);
        r
    }
}

impl Device for EthDev {
    type RxToken<'a> = RxToken;
    type TxToken<'a> = TxToken<'a>;

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        // smoltcp counts the Ethernet header in an Ethernet device's MTU.
        caps.max_transmission_unit = self.mtu + ETH_HDR;
        caps.medium = Medium::Ethernet;
        // Frames from the host kernel (a veth peer) may carry partial
        // TCP/UDP checksums (checksum offload): trust the host for those
        // on receive, as gVisor does (RX checksum offload), and compute
        // them on transmit.
        let mut ck = ChecksumCapabilities::default();
        ck.ipv4 = Checksum::Both;
        ck.tcp = Checksum::Tx;
        ck.udp = Checksum::Tx;
        ck.icmpv4 = Checksum::Tx;
        ck.icmpv6 = Checksum::Tx;
        caps.checksum = ck;
        caps
    }

    fn receive(&mut self, _t: Instant) -> Option<(RxToken, TxToken<'_>)> {
        let buf = self.rx.pop_front()?;
        Some((RxToken { buf }, TxToken { link: &*self.link, buf: &mut self.tx_buf }))
    }

    fn transmit(&mut self, _t: Instant) -> Option<TxToken<'_>> {
        Some(TxToken { link: &*self.link, buf: &mut self.tx_buf })
    }
}
