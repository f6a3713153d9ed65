mod common;

use std::net::SocketAddr;
use std::thread;

use abi::Errno;
use common::*;
use fs::waiter::events::*;
use netstack::Stack;

#[test]
fn connect_accept_both_ways() {
    let st = Stack::new_loopback();
    let (l, addr) = listener(&st, false, 16);
    assert_eq!(addr.ip().to_string(), "127.0.0.1");
    assert!(addr.port() >= 32768 && addr.port() <= 60999);
    let st2 = st.clone();
    let client = thread::spawn(move || {
        let c = tcp(&st2, false);
        assert_eq!(c.peer_addr(), Err(Errno::ENOTCONN));
        connect_so_error(&c, &addr).unwrap();
        assert_eq!(c.peer_addr().unwrap(), addr);
        let local = c.local_addr().unwrap();
        assert_eq!(local.ip().to_string(), "127.0.0.1");
        send_all(&c, b"hello server");
        assert_eq!(read_exact(&c, 12), b"hello client");
        local
    });
    let (s, peer) = accept(&l);
    assert_eq!(read_exact(&s, 12), b"hello server");
    send_all(&s, b"hello client");
    let local = client.join().unwrap();
    assert_eq!(peer, local);
    assert_eq!(s.local_addr().unwrap(), addr);
    assert_eq!(s.peer_addr().unwrap(), local);
    assert_eq!(l.accept().err(), Some(Errno::EAGAIN));
}

#[test]
fn econnrefused_and_nonblocking_connect() {
    let st = Stack::new_loopback();
    let c = tcp(&st, false);
    // Closed port: RST. Non-blocking: EINPROGRESS, then POLLOUT|POLLERR.
    let closed: SocketAddr = "127.0.0.1:9".parse().unwrap();
    assert_eq!(c.connect(&closed), Err(Errno::EINPROGRESS));
    let r = wait_for(&c, POLLOUT);
    assert_eq!(r & (POLLOUT | POLLERR | POLLHUP), POLLOUT | POLLERR | POLLHUP, "{r:#x}");
    assert_eq!(get_int(&c, libc::SOL_SOCKET, libc::SO_ERROR), libc::ECONNREFUSED);
    assert_eq!(c.take_error(), None);
    // SO_ERROR took the outcome: the next connect says ECONNABORTED (Linux).
    assert_eq!(c.connect(&closed), Err(Errno::ECONNABORTED));
    // Blocking style: the second connect returns the outcome.
    assert_eq!(connect(&c, &closed), Err(Errno::ECONNREFUSED));
    assert_eq!(connect_so_error(&c, &closed), Err(Errno::ECONNREFUSED));
    let r = c.readiness(POLLIN | POLLOUT);
    assert!(r & POLLHUP != 0, "{r:#x}");
    // The socket can connect again (once the last outcome was reported).
    let (l, addr) = listener(&st, false, 1);
    assert_eq!(c.connect(&addr), Err(Errno::ECONNABORTED));
    assert_eq!(c.connect(&addr), Err(Errno::EINPROGRESS));
    wait_for(&c, POLLOUT);
    assert_eq!(c.connect(&addr), Ok(()));
    assert_eq!(c.connect(&addr), Err(Errno::EISCONN));
    let (_s, _) = accept(&l);
    // Off-loopback destinations are unreachable.
    let d = tcp(&st, false);
    assert_eq!(d.connect(&"10.0.0.1:80".parse().unwrap()), Err(Errno::ENETUNREACH));
}

#[test]
fn backlog_limit_then_nonblocking_connect_completes() {
    let st = Stack::new_loopback();
    let (l, addr) = listener(&st, false, 1);
    // backlog 1: two connections queue (as Linux: backlog + 1).
    let a = tcp(&st, false);
    let b = tcp(&st, false);
    let c = tcp(&st, false);
    assert_eq!(a.connect(&addr), Err(Errno::EINPROGRESS));
    assert_eq!(b.connect(&addr), Err(Errno::EINPROGRESS));
    // The third SYN is dropped: in progress, not writable.
    assert_eq!(c.connect(&addr), Err(Errno::EINPROGRESS));
    assert_eq!(c.connect(&addr), Err(Errno::EALREADY));
    assert_eq!(c.readiness(POLLOUT | POLLIN), 0);
    assert_eq!(get_int(&c, libc::SOL_SOCKET, libc::SO_ERROR), 0);
    assert_eq!(a.readiness(POLLOUT), POLLOUT);
    assert_eq!(b.readiness(POLLOUT), POLLOUT);
    // Accepting one frees a slot: the retransmitted SYN gets in.
    let (_s1, p1) = l.accept().unwrap();
    assert_eq!(p1, a.local_addr().unwrap());
    let (_s2, _) = l.accept().unwrap();
    assert_eq!(l.accept().err(), Some(Errno::EAGAIN));
    let r = wait_for(&c, POLLOUT);
    assert_eq!(r & (POLLOUT | POLLERR), POLLOUT);
    assert_eq!(get_int(&c, libc::SOL_SOCKET, libc::SO_ERROR), 0);
    let (s3, p3) = accept(&l);
    assert_eq!(p3, c.local_addr().unwrap());
    c.send(b"x", 0).unwrap();
    assert_eq!(read_exact(&s3, 1), b"x");
}

#[test]
fn eaddrinuse_vs_reuseaddr() {
    let st = Stack::new_loopback();
    let a = tcp(&st, false);
    a.bind(&"127.0.0.1:5000".parse().unwrap()).unwrap();
    assert_eq!(a.bind(&"127.0.0.1:5001".parse().unwrap()), Err(Errno::EINVAL));
    let b = tcp(&st, false);
    assert_eq!(b.bind(&"127.0.0.1:5000".parse().unwrap()), Err(Errno::EADDRINUSE));
    assert_eq!(b.bind(&"0.0.0.0:5000".parse().unwrap()), Err(Errno::EADDRINUSE));
    // A different loopback address with a specific bind is fine.
    b.bind(&"127.0.0.2:5000".parse().unwrap()).unwrap();
    // Dual-stack :: conflicts with IPv4; v6only does not.
    let c = tcp(&st, true);
    assert_eq!(c.bind(&"[::]:5000".parse().unwrap()), Err(Errno::EADDRINUSE));
    c.setsockopt(libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, &int(1)).unwrap();
    c.bind(&"[::]:5000".parse().unwrap()).unwrap();
    assert_eq!(c.setsockopt(libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, &int(0)), Err(Errno::EINVAL));
    // Non-local address.
    let d = tcp(&st, false);
    assert_eq!(d.bind(&"10.1.2.3:1".parse().unwrap()), Err(Errno::EADDRNOTAVAIL));
    drop((a, b, c, d));

    // SO_REUSEADDR: two bound, only one may listen.
    let x = tcp(&st, false);
    let y = tcp(&st, false);
    for s in [&x, &y] {
        s.setsockopt(libc::SOL_SOCKET, libc::SO_REUSEADDR, &int(1)).unwrap();
        assert_eq!(get_int(s, libc::SOL_SOCKET, libc::SO_REUSEADDR), 1);
        s.bind(&"127.0.0.1:5002".parse().unwrap()).unwrap();
    }
    x.listen(5).unwrap();
    assert_eq!(y.listen(5), Err(Errno::EADDRINUSE));
    drop(y);

    // A server restart: the old connection lingers (TIME_WAIT / FIN_WAIT)
    // on the port; rebinding needs SO_REUSEADDR.
    let addr: SocketAddr = "127.0.0.1:5002".parse().unwrap();
    let c = tcp(&st, false);
    connect(&c, &addr).unwrap();
    let (s, _) = accept(&x);
    drop(x);
    drop(s); // server closes first: its side goes to TIME_WAIT.
    let z = tcp(&st, false);
    assert_eq!(z.bind(&addr), Err(Errno::EADDRINUSE));
    z.setsockopt(libc::SOL_SOCKET, libc::SO_REUSEADDR, &int(1)).unwrap();
    z.bind(&addr).unwrap();
    z.listen(1).unwrap();
}

#[test]
fn half_close() {
    let st = Stack::new_loopback();
    let (l, addr) = listener(&st, false, 4);
    let c = tcp(&st, false);
    connect(&c, &addr).unwrap();
    let (s, _) = accept(&l);
    send_all(&c, b"request");
    c.shutdown(libc::SHUT_WR).unwrap();
    assert_eq!(c.send(b"more", 0), Err(Errno::EPIPE));
    // The server reads the data, then EOF, and POLLRDHUP.
    assert_eq!(read_to_end(&s), b"request");
    let r = s.readiness(POLLIN | POLLRDHUP | POLLOUT);
    assert_eq!(r, POLLIN | POLLRDHUP | POLLOUT, "{r:#x}");
    // ... and can still answer.
    send_all(&s, b"response");
    s.shutdown(libc::SHUT_WR).unwrap();
    assert_eq!(read_to_end(&c), b"response");
    let r = c.readiness(POLLIN | POLLOUT);
    assert!(r & POLLHUP != 0, "{r:#x}");
    assert_eq!(s.shutdown(7), Err(Errno::EINVAL));
}

#[test]
fn reset_on_close_with_unread_data() {
    let st = Stack::new_loopback();
    let (l, addr) = listener(&st, false, 4);
    let c = tcp(&st, false);
    connect(&c, &addr).unwrap();
    let (s, _) = accept(&l);
    send_all(&c, b"unread");
    wait_for(&s, POLLIN);
    drop(s); // unread data: RST
    let r = wait_for(&c, POLLERR);
    assert!(r & POLLERR != 0);
    assert_eq!(c.recv(&mut [0u8; 8], 0), Err(Errno::ECONNRESET));
    assert_eq!(c.recv(&mut [0u8; 8], 0), Ok((0, None)));
    assert_eq!(c.send(b"x", 0), Err(Errno::EPIPE));
    assert_eq!(c.peer_addr(), Err(Errno::ENOTCONN));
}

#[test]
fn msg_peek_and_options() {
    let st = Stack::new_loopback();
    let (l, addr) = listener(&st, false, 4);
    let c = tcp(&st, false);
    connect(&c, &addr).unwrap();
    let (s, _) = accept(&l);
    send_all(&c, b"peekaboo");
    wait_for(&s, POLLIN);
    let mut buf = [0u8; 4];
    assert_eq!(s.recv(&mut buf, libc::MSG_PEEK).unwrap().0, 4);
    assert_eq!(&buf, b"peek");
    assert_eq!(s.available(), 8);
    assert_eq!(s.recv(&mut buf, libc::MSG_DONTWAIT).unwrap().0, 4);
    assert_eq!(&buf, b"peek");
    assert_eq!(read_exact(&s, 4), b"aboo");
    assert_eq!(s.recv(&mut buf, libc::MSG_DONTWAIT), Err(Errno::EAGAIN));

    assert_eq!(get_int(&c, libc::SOL_SOCKET, libc::SO_TYPE), libc::SOCK_STREAM);
    assert_eq!(get_int(&l, libc::SOL_SOCKET, libc::SO_ACCEPTCONN), 1);
    assert_eq!(get_int(&c, libc::IPPROTO_TCP, libc::TCP_NODELAY), 0);
    c.setsockopt(libc::IPPROTO_TCP, libc::TCP_NODELAY, &int(1)).unwrap();
    assert_eq!(get_int(&c, libc::IPPROTO_TCP, libc::TCP_NODELAY), 1);
    c.setsockopt(libc::SOL_SOCKET, libc::SO_KEEPALIVE, &int(1)).unwrap();
    assert_eq!(get_int(&c, libc::SOL_SOCKET, libc::SO_KEEPALIVE), 1);
    c.setsockopt(libc::SOL_SOCKET, libc::SO_RCVBUF, &int(65536)).unwrap();
    assert_eq!(get_int(&c, libc::SOL_SOCKET, libc::SO_RCVBUF), 131072);
    c.setsockopt(libc::SOL_SOCKET, libc::SO_SNDBUF, &int(10000)).unwrap();
    assert_eq!(get_int(&c, libc::SOL_SOCKET, libc::SO_SNDBUF), 20000);
    let mut linger = int(1).to_vec();
    linger.extend(int(5));
    c.setsockopt(libc::SOL_SOCKET, libc::SO_LINGER, &linger).unwrap();
    assert_eq!(c.getsockopt(libc::SOL_SOCKET, libc::SO_LINGER).unwrap(), linger);
    assert_eq!(c.setsockopt(libc::SOL_SOCKET, libc::SO_LINGER, &[1]), Err(Errno::EINVAL));
    assert_eq!(c.setsockopt(libc::SOL_SOCKET, libc::SO_REUSEADDR, &[1]), Err(Errno::EINVAL));
    assert_eq!(c.getsockopt(libc::IPPROTO_TCP, libc::TCP_INFO), Err(Errno::ENOPROTOOPT));
    assert_eq!(c.getsockopt(libc::IPPROTO_IPV6, libc::IPV6_V6ONLY), Err(Errno::ENOPROTOOPT));
    // Still works with Nagle off.
    send_all(&c, b"a");
    send_all(&c, b"b");
    assert_eq!(read_exact(&s, 2), b"ab");
}

#[test]
fn unconnected_errors() {
    let st = Stack::new_loopback();
    let c = tcp(&st, false);
    assert_eq!(c.local_addr().unwrap(), "0.0.0.0:0".parse().unwrap());
    assert_eq!(c.peer_addr(), Err(Errno::ENOTCONN));
    assert_eq!(c.recv(&mut [0u8; 4], 0), Err(Errno::ENOTCONN));
    assert_eq!(c.send(b"x", 0), Err(Errno::EPIPE));
    assert_eq!(c.shutdown(libc::SHUT_RDWR), Err(Errno::ENOTCONN));
    assert_eq!(c.accept().err(), Some(Errno::EINVAL));
    assert_eq!(c.readiness(POLLIN | POLLOUT) & (POLLOUT | POLLHUP), POLLOUT | POLLHUP);
    assert_eq!(c.bind(&"[::1]:0".parse().unwrap()), Err(Errno::EAFNOSUPPORT));
    let v6 = tcp(&st, true);
    assert_eq!(v6.local_addr().unwrap(), "[::]:0".parse().unwrap());
    assert!(netstack::InetSocket::new(&st, libc::AF_INET, libc::SOCK_RAW, 0).is_err());
    assert_eq!(
        netstack::InetSocket::new(&st, libc::AF_INET, libc::SOCK_STREAM, libc::IPPROTO_UDP).err(),
        Some(Errno::EPROTONOSUPPORT)
    );
    assert_eq!(netstack::InetSocket::new(&st, libc::AF_PACKET, libc::SOCK_STREAM, 0).err(), Some(Errno::EAFNOSUPPORT));
    // listen() without bind picks an ephemeral port on the wildcard.
    let l = tcp(&st, false);
    l.listen(0).unwrap();
    let a = l.local_addr().unwrap();
    assert!(a.ip().is_unspecified() && a.port() >= 32768);
    // Shutdown of a listener wakes and stops it.
    l.shutdown(libc::SHUT_RD).unwrap();
    assert_eq!(l.accept().err(), Some(Errno::EINVAL));
}

#[test]
fn ipv6_and_v4_mapped() {
    let st = Stack::new_loopback();
    // IPv6 over ::1.
    let (l, addr) = listener(&st, true, 4);
    let c = tcp(&st, true);
    connect(&c, &addr).unwrap();
    let (s, peer) = accept(&l);
    assert_eq!(peer.ip().to_string(), "::1");
    send_all(&c, b"six");
    assert_eq!(read_exact(&s, 3), b"six");

    // A dual-stack listener on :: accepts IPv4 clients; addresses are
    // v4-mapped on the AF_INET6 side.
    let l6 = tcp(&st, true);
    l6.bind(&"[::]:0".parse().unwrap()).unwrap();
    l6.listen(4).unwrap();
    let port = l6.local_addr().unwrap().port();
    let c4 = tcp(&st, false);
    connect(&c4, &format!("127.0.0.1:{port}").parse().unwrap()).unwrap();
    let (s4, peer) = accept(&l6);
    assert_eq!(peer, format!("[::ffff:127.0.0.1]:{}", c4.local_addr().unwrap().port()).parse().unwrap());
    assert_eq!(s4.local_addr().unwrap(), format!("[::ffff:127.0.0.1]:{port}").parse().unwrap());
    send_all(&s4, b"mapped");
    assert_eq!(read_exact(&c4, 6), b"mapped");

    // An AF_INET6 socket connecting to a v4-mapped address reaches an IPv4 listener.
    let (l4, a4) = listener(&st, false, 4);
    let c6 = tcp(&st, true);
    connect(&c6, &format!("[::ffff:127.0.0.1]:{}", a4.port()).parse().unwrap()).unwrap();
    let (s6, p) = accept(&l4);
    assert_eq!(p.ip().to_string(), "127.0.0.1");
    assert_eq!(c6.peer_addr().unwrap(), format!("[::ffff:127.0.0.1]:{}", a4.port()).parse().unwrap());
    send_all(&c6, b"x");
    assert_eq!(read_exact(&s6, 1), b"x");

    // v6only listener refuses IPv4.
    let lo = tcp(&st, true);
    lo.setsockopt(libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, &int(1)).unwrap();
    lo.bind(&"[::]:0".parse().unwrap()).unwrap();
    lo.listen(4).unwrap();
    let p = lo.local_addr().unwrap().port();
    let c = tcp(&st, false);
    assert_eq!(connect(&c, &format!("127.0.0.1:{p}").parse().unwrap()), Err(Errno::ECONNREFUSED));
}

#[test]
fn large_transfer_intact_and_throughput() {
    let st = Stack::new_loopback();
    let (l, addr) = listener(&st, false, 4);
    const LEN: usize = 10 * 1024 * 1024;
    let data: Vec<u8> = (0..LEN).map(|i| (i * 7 + i / 65536) as u8).collect();
    let d2 = data.clone();
    let st2 = st.clone();
    let start = std::time::Instant::now();
    let w = thread::spawn(move || {
        let c = tcp(&st2, false);
        connect(&c, &addr).unwrap();
        send_all(&c, &d2);
        c.shutdown(libc::SHUT_WR).unwrap();
        // Wait for the peer's close.
        assert!(read_to_end(&c).is_empty());
    });
    let (s, _) = accept(&l);
    let got = read_to_end(&s);
    drop(s);
    w.join().unwrap();
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(got.len(), LEN);
    assert!(got == data, "data corrupted");
    println!("netstack loopback TCP: {LEN} bytes in {secs:.3}s = {:.1} MB/s", LEN as f64 / secs / 1e6);
}

#[test]
fn many_connections_in_sequence() {
    let st = Stack::new_loopback();
    let (l, addr) = listener(&st, false, 8);
    let st2 = st.clone();
    let server = thread::spawn(move || {
        for _ in 0..200 {
            let (s, _) = accept(&l);
            let mut buf = [0u8; 64];
            let (n, _) = blocking(&s, POLLIN, || s.recv(&mut buf, 0)).unwrap();
            send_all(&s, &buf[..n]);
            assert!(read_to_end(&s).is_empty());
        }
        drop(st2);
    });
    for i in 0..200u32 {
        let c = tcp(&st, false);
        connect(&c, &addr).unwrap();
        let msg = format!("ping {i}");
        send_all(&c, msg.as_bytes());
        assert_eq!(read_exact(&c, msg.len()), msg.as_bytes());
        c.shutdown(libc::SHUT_WR).unwrap();
    }
    server.join().unwrap();
}

#[test]
fn concurrent_clients() {
    let st = Stack::new_loopback();
    let (l, addr) = listener(&st, true, 128);
    let server = thread::spawn(move || {
        let mut workers = Vec::new();
        for _ in 0..64 {
            let (s, _) = accept(&l);
            workers.push(thread::spawn(move || {
                let data = read_to_end(&s);
                send_all(&s, &data);
                s.shutdown(libc::SHUT_WR).unwrap();
            }));
        }
        for w in workers {
            w.join().unwrap();
        }
    });
    let clients: Vec<_> = (0..4)
        .map(|t| {
            let st = st.clone();
            thread::spawn(move || {
                for i in 0..16usize {
                    let c = tcp(&st, true);
                    connect(&c, &addr).unwrap();
                    let msg = vec![(t * 16 + i) as u8; 1000 + i * 3000];
                    send_all(&c, &msg);
                    c.shutdown(libc::SHUT_WR).unwrap();
                    assert_eq!(read_to_end(&c), msg);
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    server.join().unwrap();
}

#[test]
fn socket_is_send_sync() {
    fn ok<T: Send + Sync>() {}
    ok::<netstack::InetSocket>();
    ok::<Stack>();
}
