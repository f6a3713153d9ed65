//! The in-sandbox network stack: AF_INET and AF_INET6 sockets with Linux
//! semantics, for `--network=none` (loopback only: 127.0.0.0/8 and ::1).
//!
//! [smoltcp](https://docs.rs/smoltcp) is the TCP/IP engine, on a loopback
//! device of our own (medium IP, MTU 65535, no checksums). This crate is
//! the socket layer on top, and owns the Linux semantics:
//!
//! - **Port table**: bind rules (EADDRINUSE unless SO_REUSEADDR /
//!   SO_REUSEPORT allow, wildcard vs. specific addresses, IPv4 vs.
//!   dual-stack IPv6, TIME_WAIT reuse with SO_REUSEADDR), port 0 and
//!   automatic binds pick ephemeral ports in 32768–60999.
//! - **Listen/accept**: smoltcp needs one socket per connection; a smoltcp
//!   socket is created just in time for each SYN that a listener accepts
//!   (the packet is looked at before smoltcp sees it), so the listener's
//!   exact address/family rules apply and idle listeners cost nothing.
//!   Up to `backlog + 1` connections queue (handshaking or complete); past
//!   that SYNs are dropped and the client retransmits, as on Linux. A SYN
//!   to a port without listener is answered with RST: ECONNREFUSED.
//! - **Errors and state**: connect results (EINPROGRESS, then POLLOUT and
//!   SO_ERROR), ECONNRESET on RST, EPIPE after SHUT_WR, half close, RST on
//!   close with unread data or SO_LINGER 0, UDP connect filtering and
//!   ECONNREFUSED after an ICMP port unreachable on a connected UDP socket.
//! - **Readiness**: POLLIN/POLLOUT/POLLHUP/POLLRDHUP/POLLERR as tcp_poll
//!   and datagram_poll compute them, and the socket's
//!   [`fs::waiter::WaitQueue`] is notified (outside the stack lock) on
//!   every change.
//!
//! All state is under one mutex in [`Stack`]; smoltcp is polled
//! synchronously by every socket operation until the loopback queue is
//! empty, and by a timer thread at the deadlines smoltcp asks for
//! (retransmissions, TIME_WAIT, keepalive). Nothing blocks: operations
//! return EAGAIN/EINPROGRESS and the caller waits on the wait queue.
//!
//! # API
//!
//! - [`Stack::new_loopback`] → `Arc<Stack>` (one per sandbox).
//! - [`InetSocket::new`]`(&stack, domain, type, protocol)`, then `bind`,
//!   `listen`, `accept`, `connect`, `disconnect` (AF_UNSPEC), `send`,
//!   `sendto`, `recv`, `shutdown`, `local_addr`, `peer_addr`,
//!   `getsockopt`, `setsockopt`, `take_error`, `available` (FIONREAD),
//!   `readiness(mask)`, `wait_queue()`; `Drop` is close(2). All return
//!   `abi::SysResult` and never block.
//! - [`decode_sockaddr`] / [`encode_sockaddr`] / [`sockaddr_family`]:
//!   workload sockaddr bytes ↔ `std::net::SocketAddr`.
//!
//! How the Sentry blocks (as for pipes): call; on EAGAIN (or EINPROGRESS
//! for connect) register a `Waiter` on `wait_queue()` for POLLIN (recv,
//! accept) or POLLOUT (send, connect), re-check `readiness`, wait, retry.
//! A blocking connect retries `connect` after POLLOUT to get its outcome.
//! EPIPE from send means SIGPIPE unless MSG_NOSIGNAL.
//!
//! Socket options (get/set): SOL_SOCKET SO_TYPE, SO_DOMAIN, SO_PROTOCOL,
//! SO_ERROR, SO_ACCEPTCONN, SO_REUSEADDR, SO_REUSEPORT, SO_KEEPALIVE,
//! SO_RCVBUF/SO_SNDBUF (get returns the doubled value; they size the
//! smoltcp buffers of connections made afterwards, 16 KiB–4 MiB, default
//! 256 KiB), SO_LINGER, SO_RCVLOWAT/SO_SNDLOWAT (1), SO_RCVTIMEO/
//! SO_SNDTIMEO (stored: enforcing them is the Sentry's), SO_BROADCAST,
//! SO_OOBINLINE, SO_PRIORITY (stored); IPPROTO_TCP TCP_NODELAY (Nagle in
//! smoltcp), TCP_KEEPIDLE (smoltcp keepalive interval), TCP_KEEPINTVL,
//! TCP_KEEPCNT, TCP_MAXSEG, TCP_CORK, TCP_QUICKACK, TCP_DEFER_ACCEPT,
//! TCP_USER_TIMEOUT (stored); IPPROTO_IP IP_TTL, IP_TOS (stored);
//! IPPROTO_IPV6 IPV6_V6ONLY (default off: v4-mapped addresses reach IPv4
//! sockets), IPV6_UNICAST_HOPS, IPV6_TCLASS (stored).
//!
//! # Not supported (yet)
//!
//! - No interface but loopback: no `--network=sandbox` (veth/packet
//!   socket) or `--network=host`; connecting or sending elsewhere is
//!   ENETUNREACH, binding elsewhere EADDRNOTAVAIL.
//! - No SOCK_RAW (EPERM), no ICMP sockets, no SOCK_SEQPACKET/SCTP.
//! - No TCP_INFO, TCP_CONGESTION, IP_PKTINFO/IP_RECVERR/control messages,
//!   multicast or broadcast delivery, MSG_OOB/urgent data (EOPNOTSUPP on
//!   send, EINVAL on recv), TCP Fast Open, SO_TIMESTAMP.
//! - "Stored" options above are echoed but change nothing (TTL, TOS,
//!   TCP_CORK...). SO_LINGER with a non-zero timeout closes in the
//!   background instead of blocking close(2). SO_RCVBUF/SO_SNDBUF do not
//!   resize live connections.
//! - SO_REUSEPORT lets sockets share a port but does not load-balance: a
//!   SYN goes to the best-matching listener found first. Two UDP sockets
//!   sharing a port: smoltcp delivers a datagram to the first that
//!   matches (the socket layer then filters by family/peer, so a datagram
//!   may be dropped that Linux would give the other socket).
//! - A datagram to an AF_INET socket from IPv6 (or to a v6only socket
//!   from IPv4) is dropped rather than answered with ICMP.
//! - Unconnected UDP sockets never see ICMP errors (as Linux without
//!   IP_RECVERR). A TCP connect that never completes retransmits SYNs
//!   forever (no ETIMEDOUT); a connection timing out is reported as
//!   ECONNRESET. No privileged-port check (the Sentry's, if wanted).
//! - A connection reset before accept(2) is dropped from the queue
//!   instead of being returned.
//! - No per-uid/netns accounting, no /proc/net files.

mod addr;
mod device;
mod socket;
mod stack;

pub use addr::{
    decode_sockaddr, encode_sockaddr, sockaddr_family, SIN6_LEN_RFC2133, SOCKADDR_IN6_LEN, SOCKADDR_IN_LEN,
};
pub use socket::InetSocket;
pub use stack::Stack;
