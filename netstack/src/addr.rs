//! Linux `sockaddr_in` / `sockaddr_in6` bytes <-> `std::net::SocketAddr`.
//!
//! The bytes come from the workload: decoding never panics, it returns
//! EINVAL (too short) or EAFNOSUPPORT (wrong family) as Linux does.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use abi::{Errno, SysResult};

/// `sizeof(struct sockaddr_in)`.
pub const SOCKADDR_IN_LEN: usize = 16;
/// `sizeof(struct sockaddr_in6)`.
pub const SOCKADDR_IN6_LEN: usize = 28;
/// The shortest `sockaddr_in6` Linux accepts (without `sin6_scope_id`).
pub const SIN6_LEN_RFC2133: usize = 24;

/// The `sa_family` field of a sockaddr, or `None` if it is shorter than
/// two bytes. The syscall layer checks for AF_UNSPEC before `connect`
/// (AF_UNSPEC = dissolve the association: [`crate::InetSocket::disconnect`]).
pub fn sockaddr_family(bytes: &[u8]) -> Option<i32> {
    let b: [u8; 2] = bytes.get(0..2)?.try_into().ok()?;
    Some(u16::from_ne_bytes(b) as i32)
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// Decode the address passed to bind/connect/sendto on a socket of
/// `domain` (AF_INET or AF_INET6).
///
/// - AF_INET: at least 16 bytes (EINVAL); family AF_INET, or AF_UNSPEC
///   with INADDR_ANY (Linux's bind compatibility), else EAFNOSUPPORT.
/// - AF_INET6: at least 24 bytes (EINVAL); family AF_INET6, else
///   EAFNOSUPPORT. `sin6_scope_id` is read when present.
pub fn decode_sockaddr(domain: i32, bytes: &[u8]) -> SysResult<SocketAddr> {
    match domain {
        libc::AF_INET => {
            if bytes.len() < SOCKADDR_IN_LEN {
                return Err(Errno::EINVAL);
            }
            let fam = sockaddr_family(bytes).ok_or(Errno::EINVAL)?;
            let port = be16(bytes, 2);
            let ip = Ipv4Addr::new(bytes[4], bytes[5], bytes[6], bytes[7]);
            match fam {
                libc::AF_INET => {}
                libc::AF_UNSPEC if ip.is_unspecified() => {}
                _ => return Err(Errno::EAFNOSUPPORT),
            }
            Ok(SocketAddr::V4(SocketAddrV4::new(ip, port)))
        }
        libc::AF_INET6 => {
            if bytes.len() < SIN6_LEN_RFC2133 {
                return Err(Errno::EINVAL);
            }
            if sockaddr_family(bytes) != Some(libc::AF_INET6) {
                return Err(Errno::EAFNOSUPPORT);
            }
            let port = be16(bytes, 2);
            let flow = u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
            let mut a = [0u8; 16];
            a.copy_from_slice(&bytes[8..24]);
            let scope = match bytes.get(24..28) {
                Some(s) => u32::from_ne_bytes([s[0], s[1], s[2], s[3]]),
                None => 0,
            };
            Ok(SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::from(a), port, flow, scope)))
        }
        _ => Err(Errno::EAFNOSUPPORT),
    }
}

/// Encode `addr` as the sockaddr a socket of `domain` reports
/// (getsockname, getpeername, recvfrom, accept): AF_INET6 sockets see
/// IPv4 peers as v4-mapped `::ffff:a.b.c.d`. 16 bytes for AF_INET, 28 for
/// AF_INET6; the caller truncates to the workload's `addrlen`.
pub fn encode_sockaddr(domain: i32, addr: &SocketAddr) -> Vec<u8> {
    let v6 = |ip: Ipv6Addr, port: u16, flow: u32, scope: u32| {
        let mut b = vec![0u8; SOCKADDR_IN6_LEN];
        b[0..2].copy_from_slice(&(libc::AF_INET6 as u16).to_ne_bytes());
        b[2..4].copy_from_slice(&port.to_be_bytes());
        b[4..8].copy_from_slice(&flow.to_be_bytes());
        b[8..24].copy_from_slice(&ip.octets());
        b[24..28].copy_from_slice(&scope.to_ne_bytes());
        b
    };
    let v4 = |ip: Ipv4Addr, port: u16| {
        let mut b = vec![0u8; SOCKADDR_IN_LEN];
        b[0..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
        b[2..4].copy_from_slice(&port.to_be_bytes());
        b[4..8].copy_from_slice(&ip.octets());
        b
    };
    match (domain, addr) {
        (libc::AF_INET6, SocketAddr::V4(a)) => v6(a.ip().to_ipv6_mapped(), a.port(), 0, 0),
        (_, SocketAddr::V6(a)) => match (domain, a.ip().to_ipv4_mapped()) {
            (libc::AF_INET, Some(ip)) => v4(ip, a.port()),
            _ => v6(*a.ip(), a.port(), a.flowinfo(), a.scope_id()),
        },
        (_, SocketAddr::V4(a)) => v4(*a.ip(), a.port()),
    }
}

/// The address as the stack uses it: v4-mapped IPv6 becomes IPv4.
pub(crate) fn to_wire(a: SocketAddr) -> SocketAddr {
    match a {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(ip) => SocketAddr::new(IpAddr::V4(ip), v6.port()),
            None => SocketAddr::new(IpAddr::V6(*v6.ip()), v6.port()),
        },
        v4 => v4,
    }
}

/// The address as a socket of `v6` family shows it (v4-mapped for v6).
pub(crate) fn to_user(v6: bool, a: SocketAddr) -> SocketAddr {
    match (v6, a) {
        (true, SocketAddr::V4(x)) => SocketAddr::new(IpAddr::V6(x.ip().to_ipv6_mapped()), x.port()),
        _ => a,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_v4_v6() {
        let a: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let b = encode_sockaddr(libc::AF_INET, &a);
        assert_eq!(b.len(), 16);
        assert_eq!(decode_sockaddr(libc::AF_INET, &b).unwrap(), a);
        let m = encode_sockaddr(libc::AF_INET6, &a);
        assert_eq!(m.len(), 28);
        let d = decode_sockaddr(libc::AF_INET6, &m).unwrap();
        assert_eq!(d, "[::ffff:127.0.0.1]:8080".parse::<SocketAddr>().unwrap());
        assert_eq!(to_wire(d), a);
        let s: SocketAddr = "[::1]:9".parse().unwrap();
        assert_eq!(decode_sockaddr(libc::AF_INET6, &encode_sockaddr(libc::AF_INET6, &s)).unwrap(), s);
    }

    #[test]
    fn bad_input() {
        assert_eq!(decode_sockaddr(libc::AF_INET, &[]), Err(Errno::EINVAL));
        assert_eq!(decode_sockaddr(libc::AF_INET, &[2, 0, 1]), Err(Errno::EINVAL));
        let v6 = encode_sockaddr(libc::AF_INET6, &"[::1]:1".parse().unwrap());
        assert_eq!(decode_sockaddr(libc::AF_INET, &v6), Err(Errno::EAFNOSUPPORT));
        let v4 = encode_sockaddr(libc::AF_INET, &"127.0.0.1:1".parse().unwrap());
        // 16 bytes < 24: EINVAL first, as Linux checks the length first.
        assert_eq!(decode_sockaddr(libc::AF_INET6, &v4), Err(Errno::EINVAL));
        let mut v4long = v4.clone();
        v4long.resize(28, 0);
        assert_eq!(decode_sockaddr(libc::AF_INET6, &v4long), Err(Errno::EAFNOSUPPORT));
        assert_eq!(decode_sockaddr(libc::AF_UNIX, &v4), Err(Errno::EAFNOSUPPORT));
        // AF_UNSPEC + INADDR_ANY is accepted for AF_INET (bind compat).
        let mut un = vec![0u8; 16];
        un[2] = 1;
        assert_eq!(decode_sockaddr(libc::AF_INET, &un).unwrap(), "0.0.0.0:256".parse().unwrap());
        un[4] = 127;
        assert_eq!(decode_sockaddr(libc::AF_INET, &un), Err(Errno::EAFNOSUPPORT));
        assert_eq!(sockaddr_family(&[1]), None);
    }
}
