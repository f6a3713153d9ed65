mod common;

use std::net::SocketAddr;
use std::thread;

use abi::Errno;
use common::*;
use fs::waiter::events::*;
use netstack::Stack;

#[test]
fn sendto_recvfrom_with_addresses() {
    let st = Stack::new_loopback();
    let a = udp(&st, false);
    a.bind(&"127.0.0.1:0".parse().unwrap()).unwrap();
    let aaddr = a.local_addr().unwrap();
    let b = udp(&st, false);
    assert_eq!(b.send(b"x", 0), Err(Errno::EDESTADDRREQ));
    // Unbound sendto binds an ephemeral port.
    b.sendto(b"hello", 0, Some(&aaddr)).unwrap();
    let baddr = b.local_addr().unwrap();
    assert!(baddr.port() >= 32768);
    assert_eq!(a.readiness(POLLIN), POLLIN);
    let mut buf = [0u8; 64];
    let (n, from) = a.recv(&mut buf, 0).unwrap();
    assert_eq!(&buf[..n], b"hello");
    assert_eq!(from.unwrap().port(), baddr.port());
    assert_eq!(from.unwrap().ip().to_string(), "127.0.0.1");
    a.sendto(b"back", 0, from.as_ref()).unwrap();
    let (n, from) = blocking(&b, POLLIN, || b.recv(&mut buf, 0)).unwrap();
    assert_eq!((&buf[..n], from), (&b"back"[..], Some(aaddr)));
    assert_eq!(b.recv(&mut buf, 0), Err(Errno::EAGAIN));
    // Datagram boundaries, MSG_PEEK, truncation, MSG_TRUNC.
    b.sendto(b"0123456789", 0, Some(&aaddr)).unwrap();
    b.sendto(b"second", 0, Some(&aaddr)).unwrap();
    let mut small = [0u8; 4];
    assert_eq!(a.recv(&mut small, libc::MSG_PEEK).unwrap().0, 4);
    assert_eq!(a.available(), 10);
    assert_eq!(a.recv(&mut small, libc::MSG_TRUNC).unwrap().0, 10);
    assert_eq!(&small, b"0123");
    assert_eq!(a.recv(&mut buf, 0).unwrap().0, 6);
    // Too big, port 0, off-loopback.
    assert_eq!(b.sendto(&vec![0u8; 65508], 0, Some(&aaddr)), Err(Errno::EMSGSIZE));
    b.sendto(&vec![7u8; 65507], 0, Some(&aaddr)).unwrap();
    let mut big = vec![0u8; 70000];
    assert_eq!(a.recv(&mut big, 0).unwrap().0, 65507);
    assert_eq!(b.sendto(b"x", 0, Some(&"127.0.0.1:0".parse().unwrap())), Err(Errno::EINVAL));
    assert_eq!(b.sendto(b"x", 0, Some(&"8.8.8.8:53".parse().unwrap())), Err(Errno::ENETUNREACH));
    assert_eq!(get_int(&a, libc::SOL_SOCKET, libc::SO_TYPE), libc::SOCK_DGRAM);
    assert_eq!(get_int(&a, libc::SOL_SOCKET, libc::SO_RCVBUF), 212992);
    assert_eq!(a.listen(1), Err(Errno::EOPNOTSUPP));
}

#[test]
fn connected_filtering_and_refused() {
    let st = Stack::new_loopback();
    let server = udp(&st, false);
    server.bind(&"127.0.0.1:0".parse().unwrap()).unwrap();
    let saddr = server.local_addr().unwrap();
    let other = udp(&st, false);
    other.bind(&"127.0.0.1:0".parse().unwrap()).unwrap();

    let c = udp(&st, false);
    assert_eq!(c.peer_addr(), Err(Errno::ENOTCONN));
    c.connect(&saddr).unwrap();
    assert_eq!(c.peer_addr().unwrap(), saddr);
    assert_eq!(c.local_addr().unwrap().ip().to_string(), "127.0.0.1");
    let caddr = c.local_addr().unwrap();
    // Only the peer's datagrams are received.
    other.sendto(b"intruder", 0, Some(&caddr)).unwrap();
    assert_eq!(c.readiness(POLLIN), 0);
    server.sendto(b"from peer", 0, Some(&caddr)).unwrap();
    let mut buf = [0u8; 32];
    let (n, from) = c.recv(&mut buf, 0).unwrap();
    assert_eq!((&buf[..n], from), (&b"from peer"[..], Some(saddr)));
    c.send(b"req", 0).unwrap();
    assert_eq!(server.recv(&mut buf, 0).unwrap(), (3, Some(caddr)));

    // Port unreachable -> ECONNREFUSED on the connected socket.
    let gone = saddr;
    drop(server);
    c.send(b"lost", 0).unwrap();
    let r = wait_for(&c, POLLIN);
    assert!(r & POLLERR != 0, "{r:#x}");
    assert_eq!(get_int(&c, libc::SOL_SOCKET, libc::SO_ERROR), libc::ECONNREFUSED);
    c.send(b"lost", 0).unwrap();
    wait_for(&c, POLLERR);
    assert_eq!(c.recv(&mut buf, 0), Err(Errno::ECONNREFUSED));
    assert_eq!(c.recv(&mut buf, 0), Err(Errno::EAGAIN));
    // Unconnected sockets do not see ICMP errors.
    other.sendto(b"x", 0, Some(&gone)).unwrap();
    assert_eq!(other.readiness(POLLIN), 0);
    // AF_UNSPEC connect dissolves the association.
    c.disconnect().unwrap();
    assert_eq!(c.peer_addr(), Err(Errno::ENOTCONN));
    other.sendto(b"now ok", 0, Some(&caddr)).unwrap();
    assert_eq!(c.recv(&mut buf, 0).unwrap().0, 6);
}

#[test]
fn reuseaddr_and_inuse() {
    let st = Stack::new_loopback();
    let a = udp(&st, false);
    a.bind(&"127.0.0.1:6000".parse().unwrap()).unwrap();
    let b = udp(&st, false);
    assert_eq!(b.bind(&"0.0.0.0:6000".parse().unwrap()), Err(Errno::EADDRINUSE));
    // TCP and UDP port spaces are separate.
    let t = tcp(&st, false);
    t.bind(&"127.0.0.1:6000".parse().unwrap()).unwrap();
    drop(a);
    let x = udp(&st, false);
    let y = udp(&st, false);
    for s in [&x, &y] {
        s.setsockopt(libc::SOL_SOCKET, libc::SO_REUSEADDR, &int(1)).unwrap();
        s.bind(&"127.0.0.1:6000".parse().unwrap()).unwrap();
    }
}

#[test]
fn ipv6_udp_and_mapped() {
    let st = Stack::new_loopback();
    let a = udp(&st, true);
    a.bind(&"[::]:0".parse().unwrap()).unwrap();
    let port = a.local_addr().unwrap().port();
    let b6 = udp(&st, true);
    b6.sendto(b"v6", 0, Some(&format!("[::1]:{port}").parse().unwrap())).unwrap();
    let mut buf = [0u8; 16];
    let (n, from) = a.recv(&mut buf, 0).unwrap();
    assert_eq!(&buf[..n], b"v6");
    assert_eq!(from.unwrap().ip().to_string(), "::1");
    // IPv4 to a dual-stack socket: v4-mapped source.
    let b4 = udp(&st, false);
    b4.sendto(b"v4", 0, Some(&format!("127.0.0.1:{port}").parse().unwrap())).unwrap();
    let (n, from) = a.recv(&mut buf, 0).unwrap();
    assert_eq!(&buf[..n], b"v4");
    let from: SocketAddr = from.unwrap();
    assert_eq!(from, format!("[::ffff:127.0.0.1]:{}", b4.local_addr().unwrap().port()).parse().unwrap());
    // Reply through the mapped address.
    a.sendto(b"r", 0, Some(&from)).unwrap();
    assert_eq!(b4.recv(&mut buf, 0).unwrap().0, 1);
    // An AF_INET socket does not take IPv6 datagrams.
    let v4only = udp(&st, false);
    v4only.bind(&"0.0.0.0:0".parse().unwrap()).unwrap();
    let p4 = v4only.local_addr().unwrap().port();
    b6.sendto(b"no", 0, Some(&format!("[::1]:{p4}").parse().unwrap())).unwrap();
    assert_eq!(v4only.readiness(POLLIN), 0);
}

#[test]
fn blocking_recv_across_threads() {
    let st = Stack::new_loopback();
    let a = udp(&st, false);
    a.bind(&"127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = a.local_addr().unwrap();
    let st2 = st.clone();
    let t = thread::spawn(move || {
        let b = udp(&st2, false);
        for i in 0..100u32 {
            b.sendto(&i.to_ne_bytes(), 0, Some(&addr)).unwrap();
        }
    });
    let mut buf = [0u8; 4];
    for i in 0..100u32 {
        let (n, _) = blocking(&a, POLLIN, || a.recv(&mut buf, 0)).unwrap();
        assert_eq!(n, 4);
        assert_eq!(u32::from_ne_bytes(buf), i);
    }
    t.join().unwrap();
}
