//! Where a packet goes, as Linux's local and main routing tables decide:
//! loopback for 127.0.0.0/8, ::1 and the NICs' own addresses; otherwise
//! the NIC with the longest matching prefix among its connected subnets
//! and its copied routes (the default route is a /0).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::nic::Route;

/// The loopback interface's number; NIC `i` (0-based) is `i + 1`.
pub(crate) const LO: usize = 0;

#[derive(Clone, Copy, Debug)]
struct Entry {
    net: IpAddr,
    prefix: u8,
    ifc: usize,
    via: Option<IpAddr>,
}

#[derive(Default, Debug)]
pub(crate) struct Table {
    /// The NICs' addresses: (address, prefix, interface).
    own: Vec<(IpAddr, u8, usize)>,
    routes: Vec<Entry>,
}

/// Whether `a` is in `net/prefix`.
pub(crate) fn in_net(a: IpAddr, net: IpAddr, prefix: u8) -> bool {
    match (a, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let p = u32::from(prefix.min(32));
            let m = if p == 0 { 0 } else { u32::MAX << (32 - p) };
            u32::from(a) & m == u32::from(n) & m
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let p = u32::from(prefix.min(128));
            let m = if p == 0 { 0 } else { u128::MAX << (128 - p) };
            u128::from(a) & m == u128::from(n) & m
        }
        _ => false,
    }
}

fn loopback_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
    }
}

impl Table {
    /// Add interface `ifc`'s addresses (each also a connected route) and
    /// routes.
    pub(crate) fn add_nic(&mut self, ifc: usize, addrs: &[(IpAddr, u8)], routes: &[Route]) {
        for &(a, p) in addrs {
            self.own.push((a, p, ifc));
            self.routes.push(Entry { net: a, prefix: p, ifc, via: None });
        }
        for r in routes {
            self.routes.push(Entry { net: r.dst, prefix: r.prefix, ifc, via: r.via });
        }
    }

    /// One of the NICs' addresses.
    pub(crate) fn is_own(&self, ip: IpAddr) -> bool {
        self.own.iter().any(|o| o.0 == ip)
    }

    /// An address a socket may bind: the wildcard, loopback, or ours.
    pub(crate) fn bindable(&self, ip: IpAddr) -> bool {
        ip.is_unspecified() || ip.is_loopback() || self.is_own(ip)
    }

    /// The interface a packet to `dst` leaves by and the source address
    /// it gets; None: no route (ENETUNREACH).
    pub(crate) fn lookup(&self, dst: IpAddr) -> Option<(usize, IpAddr)> {
        if dst.is_loopback() {
            return Some((LO, loopback_of(dst)));
        }
        if self.is_own(dst) {
            return Some((LO, dst));
        }
        // Longest prefix; the first of equals (Linux: the lowest metric,
        // which the host listed first).
        let mut best: Option<Entry> = None;
        for e in self.routes.iter().filter(|e| in_net(dst, e.net, e.prefix)) {
            if best.is_none_or(|b| e.prefix > b.prefix) {
                best = Some(*e);
            }
        }
        let e = best?;
        let hop = e.via.unwrap_or(dst);
        let mine = || self.own.iter().filter(|o| o.2 == e.ifc && o.0.is_ipv4() == dst.is_ipv4());
        let src = mine().find(|o| in_net(hop, o.0, o.1)).or_else(|| mine().next())?.0;
        Some((e.ifc, src))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn lookup_prefers_longest_prefix_and_local() {
        let mut t = Table::default();
        let gw = Route { dst: ip("0.0.0.0"), prefix: 0, via: Some(ip("10.1.0.254")) };
        t.add_nic(1, &[(ip("10.1.0.2"), 24)], &[gw]);
        t.add_nic(2, &[(ip("192.168.5.9"), 16)], &[]);
        assert_eq!(t.lookup(ip("127.3.4.5")), Some((LO, ip("127.0.0.1"))));
        assert_eq!(t.lookup(ip("10.1.0.2")), Some((LO, ip("10.1.0.2"))));
        assert_eq!(t.lookup(ip("10.1.0.7")), Some((1, ip("10.1.0.2"))));
        assert_eq!(t.lookup(ip("192.168.200.1")), Some((2, ip("192.168.5.9"))));
        assert_eq!(t.lookup(ip("8.8.8.8")), Some((1, ip("10.1.0.2"))));
        assert_eq!(t.lookup(ip("2001:db8::1")), None);
        assert!(t.bindable(ip("192.168.5.9")) && !t.bindable(ip("192.168.5.10")));
        let empty = Table::default();
        assert_eq!(empty.lookup(ip("10.1.0.7")), None);
        assert!(in_net(ip("10.1.0.7"), ip("0.0.0.0"), 0));
        assert!(!in_net(ip("10.1.1.7"), ip("10.1.0.0"), 24));
    }
}
