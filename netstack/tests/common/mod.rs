#![allow(dead_code)]
//! Blocking helpers built the way the Sentry blocks: register a Waiter on
//! the socket's WaitQueue, re-check readiness, wait. No sleeps.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use abi::{Errno, SysResult};
use fs::waiter::{events, WaitResult, Waiter};
use netstack::{InetSocket, Stack};

pub const TIMEOUT: Duration = Duration::from_secs(30);

/// Wait until one of `mask` is ready (POLLERR/POLLHUP always count).
pub fn wait_for(s: &InetSocket, mask: u32) -> u32 {
    let w = Waiter::new().unwrap();
    let wk = w.as_waker();
    s.wait_queue().register(&wk, mask);
    loop {
        let r = s.readiness(mask);
        if r != 0 {
            s.wait_queue().unregister(&wk);
            return r;
        }
        match w.wait(&[], Some(TIMEOUT)).unwrap() {
            WaitResult::TimedOut => panic!("timed out waiting for {mask:#x} on {s:?}"),
            _ => continue,
        }
    }
}

/// Retry `f` while it says EAGAIN, waiting for `mask` in between.
pub fn blocking<T>(s: &InetSocket, mask: u32, mut f: impl FnMut() -> SysResult<T>) -> SysResult<T> {
    loop {
        match f() {
            Err(Errno::EAGAIN) => {
                wait_for(s, mask);
            }
            r => return r,
        }
    }
}

pub fn tcp(stack: &Arc<Stack>, v6: bool) -> InetSocket {
    InetSocket::new(stack, if v6 { libc::AF_INET6 } else { libc::AF_INET }, libc::SOCK_STREAM, 0).unwrap()
}

pub fn udp(stack: &Arc<Stack>, v6: bool) -> InetSocket {
    InetSocket::new(stack, if v6 { libc::AF_INET6 } else { libc::AF_INET }, libc::SOCK_DGRAM, 0).unwrap()
}

/// A blocking connect, as the Sentry does it: EINPROGRESS, wait for
/// POLLOUT, connect again for the outcome.
pub fn connect(s: &InetSocket, a: &SocketAddr) -> SysResult<()> {
    match s.connect(a) {
        Err(Errno::EINPROGRESS) => {
            wait_for(s, events::POLLOUT);
            s.connect(a)
        }
        r => r,
    }
}

/// The same, reading the outcome with SO_ERROR.
pub fn connect_so_error(s: &InetSocket, a: &SocketAddr) -> SysResult<()> {
    match s.connect(a) {
        Err(Errno::EINPROGRESS) => {
            wait_for(s, events::POLLOUT);
            match s.take_error() {
                None => Ok(()),
                Some(e) => Err(e),
            }
        }
        r => r,
    }
}

pub fn accept(l: &InetSocket) -> (InetSocket, SocketAddr) {
    blocking(l, events::POLLIN, || l.accept()).unwrap()
}

pub fn send_all(s: &InetSocket, mut buf: &[u8]) {
    while !buf.is_empty() {
        let n = blocking(s, events::POLLOUT, || s.send(buf, 0)).unwrap();
        buf = &buf[n..];
    }
}

/// Read until EOF.
pub fn read_to_end(s: &InetSocket) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let (n, _) = blocking(s, events::POLLIN, || s.recv(&mut buf, 0)).unwrap();
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&buf[..n]);
    }
}

pub fn read_exact(s: &InetSocket, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    let mut got = 0;
    while got < len {
        let (n, _) = blocking(s, events::POLLIN, || s.recv(&mut out[got..], 0)).unwrap();
        assert!(n > 0, "EOF after {got} of {len} bytes");
        got += n;
    }
    out
}

/// A listener on 127.0.0.1 (or ::1) with an ephemeral port.
pub fn listener(stack: &Arc<Stack>, v6: bool, backlog: i32) -> (InetSocket, SocketAddr) {
    let l = tcp(stack, v6);
    let a: SocketAddr = if v6 { "[::1]:0" } else { "127.0.0.1:0" }.parse().unwrap();
    l.bind(&a).unwrap();
    l.listen(backlog).unwrap();
    let addr = l.local_addr().unwrap();
    (l, addr)
}

pub fn int(v: i32) -> [u8; 4] {
    v.to_ne_bytes()
}

pub fn get_int(s: &InetSocket, level: i32, name: i32) -> i32 {
    let v = s.getsockopt(level, name).unwrap();
    i32::from_ne_bytes(v[..4].try_into().unwrap())
}
