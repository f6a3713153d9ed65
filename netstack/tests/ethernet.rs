//! The Ethernet NIC path: two stacks joined by an in-memory wire (ARP,
//! TCP and UDP between them, routing through a gateway, loopback to our
//! own address, interface listing).

mod common;

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use abi::Errno;
use common::*;
use fs::waiter::events::*;
use netstack::{Link, NicConfig, Route, Stack};

/// One direction of the wire, with a copy of every frame for the test.
#[derive(Default)]
struct Pipe {
    q: Mutex<VecDeque<Vec<u8>>>,
    cv: Condvar,
    seen: Mutex<Vec<Vec<u8>>>,
}

struct End {
    tx: Arc<Pipe>,
    rx: Arc<Pipe>,
}

impl Link for End {
    fn send(&self, frame: &[u8]) {
        self.tx.seen.lock().unwrap().push(frame.to_vec());
        self.tx.q.lock().unwrap().push_back(frame.to_vec());
        self.tx.cv.notify_all();
    }

    fn recv(&self, buf: &mut [u8]) -> Option<usize> {
        let f = self.rx.q.lock().unwrap().pop_front()?;
        let n = f.len().min(buf.len());
        buf[..n].copy_from_slice(&f[..n]);
        Some(n)
    }

    fn wait(&self, timeout: Duration) -> bool {
        let q = self.rx.q.lock().unwrap();
        let (q, _) = self.rx.cv.wait_timeout_while(q, timeout, |q| q.is_empty()).unwrap();
        !q.is_empty()
    }
}

const MAC_A: [u8; 6] = [0x02, 0, 0, 0, 0, 0xa];
const MAC_B: [u8; 6] = [0x02, 0, 0, 0, 0, 0xb];

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn nic(mac: [u8; 6], addr: &str, routes: Vec<Route>, link: End) -> NicConfig {
    NicConfig { name: "eth0".into(), mac, mtu: 1500, addrs: vec![(ip(addr), 24)], routes, link: Arc::new(link) }
}

/// Stacks A (10.9.0.1/24, default route via B) and B (10.9.0.2/24), and
/// the pipe A transmits on.
fn pair() -> (Arc<Stack>, Arc<Stack>, Arc<Pipe>) {
    let (ab, ba) = (Arc::new(Pipe::default()), Arc::new(Pipe::default()));
    let gw = Route { dst: ip("0.0.0.0"), prefix: 0, via: Some(ip("10.9.0.2")) };
    let a = Stack::new(vec![nic(MAC_A, "10.9.0.1", vec![gw], End { tx: ab.clone(), rx: ba.clone() })]);
    let b = Stack::new(vec![nic(MAC_B, "10.9.0.2", vec![], End { tx: ba, rx: ab.clone() })]);
    (a, b, ab)
}

#[test]
fn tcp_across_the_wire_both_ways() {
    let (a, b, _) = pair();
    let l = tcp(&b, false);
    l.bind(&sa("0.0.0.0:8080")).unwrap();
    l.listen(8).unwrap();
    let c = tcp(&a, false);
    connect(&c, &sa("10.9.0.2:8080")).unwrap();
    let (s, peer) = accept(&l);
    assert_eq!(peer.ip(), ip("10.9.0.1"));
    assert_eq!(c.local_addr().unwrap().ip(), ip("10.9.0.1"));
    assert_eq!(s.local_addr().unwrap(), sa("10.9.0.2:8080"));
    assert_eq!(c.peer_addr().unwrap(), sa("10.9.0.2:8080"));
    // More than a window's worth, in segments of at most the MTU.
    let data: Vec<u8> = (0..600_000u32).map(|i| (i % 251) as u8).collect();
    let d2 = data.clone();
    let cc = std::thread::spawn(move || {
        send_all(&c, &d2);
        c.shutdown(libc::SHUT_WR).unwrap();
        read_to_end(&c)
    });
    assert_eq!(read_to_end(&s), data);
    send_all(&s, b"reply from b");
    s.shutdown(libc::SHUT_WR).unwrap();
    assert_eq!(cc.join().unwrap(), b"reply from b");
}

#[test]
fn tcp_refused_and_unroutable() {
    let (a, b, _) = pair();
    let c = tcp(&a, false);
    // B answers a SYN to a closed port with RST.
    assert_eq!(connect(&c, &sa("10.9.0.2:9")), Err(Errno::ECONNREFUSED));
    // IPv6 is loopback-only even with a NIC.
    let c6 = tcp(&b, true);
    assert_eq!(c6.connect(&sa("[2001:db8::1]:80")), Err(Errno::ENETUNREACH));
    // B has no default route.
    let c2 = tcp(&b, false);
    assert_eq!(c2.connect(&sa("192.0.2.1:80")), Err(Errno::ENETUNREACH));
    // Binding: our address yes, someone else's no.
    let u = udp(&b, false);
    assert_eq!(u.bind(&sa("10.9.0.1:0")), Err(Errno::EADDRNOTAVAIL));
    u.bind(&sa("10.9.0.2:0")).unwrap();
}

#[test]
fn udp_across_the_wire() {
    let (a, b, _) = pair();
    let srv = udp(&b, false);
    srv.bind(&sa("0.0.0.0:5353")).unwrap();
    let cl = udp(&a, false);
    cl.sendto(b"ping", 0, Some(&sa("10.9.0.2:5353"))).unwrap();
    let mut buf = [0u8; 64];
    let (n, from) = blocking(&srv, POLLIN, || srv.recv(&mut buf, 0)).unwrap();
    assert_eq!(&buf[..n], b"ping");
    let from = from.unwrap();
    assert_eq!(from.ip(), ip("10.9.0.1"));
    srv.sendto(b"pong", 0, Some(&from)).unwrap();
    let (n, from) = blocking(&cl, POLLIN, || cl.recv(&mut buf, 0)).unwrap();
    assert_eq!((&buf[..n], from), (&b"pong"[..], Some(sa("10.9.0.2:5353"))));
    // A connected socket names its source address.
    cl.connect(&sa("10.9.0.2:5353")).unwrap();
    assert_eq!(cl.local_addr().unwrap().ip(), ip("10.9.0.1"));
    // No fragmentation: a datagram must fit the 1500-byte MTU.
    assert_eq!(cl.send(&[0u8; 1473], 0), Err(Errno::EMSGSIZE));
    cl.send(&[1u8; 1472], 0).unwrap();
    let (n, _) = blocking(&srv, POLLIN, || srv.recv(&mut buf, libc::MSG_TRUNC)).unwrap();
    assert_eq!(n, 1472);
    // Loopback still works next to the NIC.
    let lo = udp(&b, false);
    lo.sendto(b"local", 0, Some(&sa("127.0.0.1:5353"))).unwrap();
    let (n, from) = blocking(&srv, POLLIN, || srv.recv(&mut buf, 0)).unwrap();
    assert_eq!((&buf[..n], from.unwrap().ip()), (&b"local"[..], ip("127.0.0.1")));
}

/// Whether A sent an IPv4 frame to B's MAC for `dst`.
fn sent_ipv4_to_b(pipe: &Pipe, dst: [u8; 4]) -> bool {
    pipe.seen.lock().unwrap().iter().any(|f| f.len() > 34 && f[0..6] == MAC_B && f[12..14] == [8, 0] && f[30..34] == dst)
}

#[test]
fn gateway_route_and_own_address_over_loopback() {
    let (a, _b, ab) = pair();
    // 192.0.2.1 is off-link: the SYN goes to the gateway's MAC (learned
    // by ARP).
    let c = tcp(&a, false);
    assert_eq!(c.connect(&sa("192.0.2.1:80")), Err(Errno::EINPROGRESS));
    let deadline = Instant::now() + TIMEOUT;
    while !sent_ipv4_to_b(&ab, [192, 0, 2, 1]) {
        assert!(Instant::now() < deadline, "no SYN sent to the gateway");
        // Wait for A's next frame.
        let q = ab.q.lock().unwrap();
        let _ = ab.cv.wait_timeout(q, Duration::from_millis(100)).unwrap();
    }
    // A connection to our own address stays off the wire.
    let frames = ab.seen.lock().unwrap().len();
    let l = tcp(&a, false);
    l.bind(&sa("10.9.0.1:0")).unwrap();
    l.listen(1).unwrap();
    let laddr = l.local_addr().unwrap();
    let c2 = tcp(&a, false);
    connect(&c2, &laddr).unwrap();
    let (s, peer) = accept(&l);
    assert_eq!(peer.ip(), ip("10.9.0.1"));
    send_all(&c2, b"self");
    assert_eq!(read_exact(&s, 4), b"self");
    let to_self = ab.seen.lock().unwrap()[frames..].iter().filter(|f| f.len() > 34 && f[30..34] == [10, 9, 0, 1]).count();
    assert_eq!(to_self, 0);
}

#[test]
fn interfaces_are_listed() {
    let (a, _b, _) = pair();
    let ifs = a.interfaces();
    assert_eq!(ifs.len(), 2);
    assert_eq!((ifs[0].name.as_str(), ifs[0].index, ifs[0].loopback), ("lo", 1, true));
    assert_eq!((ifs[1].name.as_str(), ifs[1].index, ifs[1].mac, ifs[1].mtu), ("eth0", 2, MAC_A, 1500));
    assert_eq!(ifs[1].addrs, vec![(ip("10.9.0.1"), 24)]);
    assert_eq!(Stack::new_loopback().interfaces().len(), 1);
}

#[test]
fn udp_sent_then_closed_before_arp_is_delivered() {
    let (a, b, _) = pair();
    let srv = udp(&b, false);
    srv.bind(&sa("0.0.0.0:5354")).unwrap();
    // The first datagram to B waits for ARP; closing the socket at once
    // must not lose it.
    let cl = udp(&a, false);
    cl.sendto(b"last words", 0, Some(&sa("10.9.0.2:5354"))).unwrap();
    drop(cl);
    let mut buf = [0u8; 64];
    let (n, from) = blocking(&srv, POLLIN, || srv.recv(&mut buf, 0)).unwrap();
    assert_eq!((&buf[..n], from.unwrap().ip()), (&b"last words"[..], ip("10.9.0.1")));
    // Once sent, nothing of the closed socket is left.
    let deadline = Instant::now() + TIMEOUT;
    while a.smoltcp_socket_count() != 0 {
        assert!(Instant::now() < deadline, "the closed socket's smoltcp sockets linger");
        std::thread::yield_now();
    }
}
