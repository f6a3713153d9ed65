//! The interface ioctls of inet sockets (SIOCGIF*), on `struct ifreq`
//! bytes, answered from the stack's interfaces ([`crate::IfInfo`]): what
//! `ifconfig` (busybox, net-tools) asks. Read-only: the SIOCSIF* ones are
//! not supported (the caller answers EPERM/ENOTTY).

use std::net::IpAddr;

use abi::{Errno, SysResult};

use crate::nic::IfInfo;

/// `sizeof(struct ifreq)` on 64-bit Linux.
pub const IFREQ_LEN: usize = 40;
/// `sizeof(struct ifconf)` on 64-bit Linux (int length, pad, pointer).
pub const IFCONF_LEN: usize = 16;

pub const SIOCGIFNAME: u64 = 0x8910;
pub const SIOCGIFCONF: u64 = 0x8912;
pub const SIOCGIFFLAGS: u64 = 0x8913;
pub const SIOCGIFADDR: u64 = 0x8915;
pub const SIOCGIFBRDADDR: u64 = 0x8919;
pub const SIOCGIFNETMASK: u64 = 0x891b;
pub const SIOCGIFMETRIC: u64 = 0x891d;
pub const SIOCGIFMTU: u64 = 0x8921;
pub const SIOCGIFHWADDR: u64 = 0x8927;
pub const SIOCGIFINDEX: u64 = 0x8933;
pub const SIOCGIFTXQLEN: u64 = 0x8942;
pub const SIOCGIFMAP: u64 = 0x8970;

const ARPHRD_ETHER: u16 = 1;
const ARPHRD_LOOPBACK: u16 = 772;
const IFF_UP: u16 = 0x1;
const IFF_BROADCAST: u16 = 0x2;
const IFF_LOOPBACK: u16 = 0x8;
const IFF_RUNNING: u16 = 0x40;
const IFF_MULTICAST: u16 = 0x1000;

/// Whether `cmd` is one of the ifreq ioctls [`ifreq_ioctl`] answers.
pub fn is_ifreq_ioctl(cmd: u64) -> bool {
    matches!(
        cmd,
        SIOCGIFNAME
            | SIOCGIFFLAGS
            | SIOCGIFADDR
            | SIOCGIFBRDADDR
            | SIOCGIFNETMASK
            | SIOCGIFMETRIC
            | SIOCGIFMTU
            | SIOCGIFHWADDR
            | SIOCGIFINDEX
            | SIOCGIFTXQLEN
            | SIOCGIFMAP
    )
}

fn name_of(req: &[u8; IFREQ_LEN]) -> &[u8] {
    let n = &req[..16];
    &n[..n.iter().position(|&c| c == 0).unwrap_or(16)]
}

fn set_name(out: &mut [u8; IFREQ_LEN], name: &str) {
    let b = name.as_bytes();
    let n = b.len().min(15);
    out[..16].fill(0);
    out[..n].copy_from_slice(&b[..n]);
}

/// A `sockaddr_in` with `ip` (port 0) at `out[16..32]`.
fn set_inet(out: &mut [u8; IFREQ_LEN], ip: std::net::Ipv4Addr) {
    out[16..32].fill(0);
    out[16..18].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
    out[20..24].copy_from_slice(&ip.octets());
}

fn set_int(out: &mut [u8; IFREQ_LEN], v: i32) {
    out[16..20].copy_from_slice(&v.to_ne_bytes());
}

fn first_v4(i: &IfInfo) -> SysResult<(std::net::Ipv4Addr, u8)> {
    i.addrs
        .iter()
        .find_map(|&(a, p)| match a {
            IpAddr::V4(v) => Some((v, p)),
            IpAddr::V6(_) => None,
        })
        .ok_or(Errno::EADDRNOTAVAIL)
}

fn mask(p: u8) -> std::net::Ipv4Addr {
    let p = u32::from(p.min(32));
    std::net::Ipv4Addr::from(if p == 0 { 0 } else { u32::MAX << (32 - p) })
}

/// Answer the ifreq ioctl `cmd` for the request bytes `req`: the bytes to
/// copy back. ENODEV for an unknown interface, EADDRNOTAVAIL for an
/// address the interface does not have.
pub fn ifreq_ioctl(ifs: &[IfInfo], cmd: u64, req: &[u8; IFREQ_LEN]) -> SysResult<[u8; IFREQ_LEN]> {
    let mut out = *req;
    if cmd == SIOCGIFNAME {
        let idx = i32::from_ne_bytes([req[16], req[17], req[18], req[19]]);
        let i = ifs.iter().find(|i| i.index as i32 == idx).ok_or(Errno::ENODEV)?;
        set_name(&mut out, &i.name);
        return Ok(out);
    }
    let name = name_of(req);
    let i = ifs.iter().find(|i| i.name.as_bytes() == name).ok_or(Errno::ENODEV)?;
    match cmd {
        SIOCGIFFLAGS => {
            let f = if i.loopback { IFF_UP | IFF_LOOPBACK | IFF_RUNNING } else { IFF_UP | IFF_BROADCAST | IFF_RUNNING | IFF_MULTICAST };
            out[16..18].copy_from_slice(&f.to_ne_bytes());
        }
        SIOCGIFADDR => set_inet(&mut out, first_v4(i)?.0),
        SIOCGIFNETMASK => set_inet(&mut out, mask(first_v4(i)?.1)),
        SIOCGIFBRDADDR => {
            let (a, p) = first_v4(i)?;
            let b = if i.loopback { std::net::Ipv4Addr::UNSPECIFIED } else { (u32::from(a) | !u32::from(mask(p))).into() };
            set_inet(&mut out, b);
        }
        SIOCGIFMETRIC => set_int(&mut out, 0),
        SIOCGIFMTU => set_int(&mut out, i.mtu.min(i32::MAX as usize) as i32),
        SIOCGIFINDEX => set_int(&mut out, i.index as i32),
        SIOCGIFTXQLEN => set_int(&mut out, 1000),
        SIOCGIFHWADDR => {
            out[16..32].fill(0);
            let fam = if i.loopback { ARPHRD_LOOPBACK } else { ARPHRD_ETHER };
            out[16..18].copy_from_slice(&fam.to_ne_bytes());
            out[18..24].copy_from_slice(&i.mac);
        }
        // struct ifmap: no memory, I/O port, IRQ or DMA.
        SIOCGIFMAP => out[16..40].fill(0),
        _ => return Err(Errno::ENOTTY),
    }
    Ok(out)
}

/// SIOCGIFCONF: one `ifreq` (name and AF_INET address) per interface
/// address, as Linux lists them.
pub fn ifconf_records(ifs: &[IfInfo]) -> Vec<u8> {
    let mut v = Vec::new();
    for i in ifs {
        for &(a, _) in &i.addrs {
            let IpAddr::V4(a) = a else { continue };
            let mut r = [0u8; IFREQ_LEN];
            set_name(&mut r, &i.name);
            set_inet(&mut r, a);
            v.extend_from_slice(&r);
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ifs() -> Vec<IfInfo> {
        vec![
            IfInfo { name: "lo".into(), index: 1, mac: [0; 6], mtu: 65536, loopback: true, addrs: vec![("127.0.0.1".parse().unwrap(), 8)] },
            IfInfo { name: "eth0".into(), index: 2, mac: [2, 0, 0, 0, 0, 9], mtu: 1500, loopback: false, addrs: vec![("10.2.3.4".parse().unwrap(), 24)] },
        ]
    }

    fn req(name: &str) -> [u8; IFREQ_LEN] {
        let mut r = [0u8; IFREQ_LEN];
        set_name(&mut r, name);
        r
    }

    #[test]
    fn answers() {
        let ifs = ifs();
        let r = ifreq_ioctl(&ifs, SIOCGIFADDR, &req("eth0")).unwrap();
        assert_eq!(&r[20..24], &[10, 2, 3, 4]);
        let r = ifreq_ioctl(&ifs, SIOCGIFNETMASK, &req("eth0")).unwrap();
        assert_eq!(&r[20..24], &[255, 255, 255, 0]);
        let r = ifreq_ioctl(&ifs, SIOCGIFBRDADDR, &req("eth0")).unwrap();
        assert_eq!(&r[20..24], &[10, 2, 3, 255]);
        let r = ifreq_ioctl(&ifs, SIOCGIFHWADDR, &req("eth0")).unwrap();
        assert_eq!((u16::from_ne_bytes([r[16], r[17]]), &r[18..24]), (1, &[2u8, 0, 0, 0, 0, 9][..]));
        let r = ifreq_ioctl(&ifs, SIOCGIFMTU, &req("lo")).unwrap();
        assert_eq!(i32::from_ne_bytes(r[16..20].try_into().unwrap()), 65536);
        let r = ifreq_ioctl(&ifs, SIOCGIFFLAGS, &req("lo")).unwrap();
        assert_eq!(u16::from_ne_bytes([r[16], r[17]]) & IFF_LOOPBACK, IFF_LOOPBACK);
        let r = ifreq_ioctl(&ifs, SIOCGIFINDEX, &req("eth0")).unwrap();
        assert_eq!(i32::from_ne_bytes(r[16..20].try_into().unwrap()), 2);
        let mut q = [0u8; IFREQ_LEN];
        q[16..20].copy_from_slice(&2i32.to_ne_bytes());
        assert_eq!(name_of(&ifreq_ioctl(&ifs, SIOCGIFNAME, &q).unwrap()), b"eth0");
        assert_eq!(ifreq_ioctl(&ifs, SIOCGIFADDR, &req("eth1")), Err(Errno::ENODEV));
        let c = ifconf_records(&ifs);
        assert_eq!(c.len(), 2 * IFREQ_LEN);
        assert_eq!(&c[IFREQ_LEN..IFREQ_LEN + 4], b"eth0");
    }
}
