//! The in-sandbox network stack: AF_INET and AF_INET6 sockets with Linux
//! semantics, for `--network=none` (loopback only: 127.0.0.0/8 and ::1)
//! and `--network=sandbox` (loopback plus Ethernet NICs).
//!
//! [smoltcp](https://docs.rs/smoltcp) is the TCP/IP engine, on a loopback
//! device of our own (medium IP, MTU 65535, no checksums) and, for each
//! NIC, a smoltcp interface of medium Ethernet (ARP, framing) on a
//! [`Link`] — in the sandbox a [`PacketLink`], the AF_PACKET socket bound
//! to the network namespace's interface, whose addresses, MAC, MTU and
//! IPv4 routes the NIC copies ([`NicConfig`]). Each interface has its own
//! smoltcp socket set: a TCP connection lives on the interface its route
//! picks, a UDP socket has a smoltcp socket on each. Routing is Linux's:
//! 127/8, ::1 and the NICs' own addresses go over loopback, the rest by
//! longest prefix over the NICs' subnets and routes (ENETUNREACH without
//! one). A receive thread per NIC reads frames and runs the stack. This
//! crate is the socket layer on top, and owns the Linux semantics:
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
//! - [`Stack::new_loopback`] or [`Stack::new`]`(nics)` → `Arc<Stack>` (one
//!   per sandbox); [`Stack::interfaces`] lists them ([`IfInfo`]) and
//!   [`ifreq`] answers the SIOCGIF* ioctls from that list.
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
//! - NICs are IPv4 only: their IPv6 addresses are not copied, so IPv6
//!   reaches only ::1 (ENETUNREACH otherwise; v4-mapped addresses work).
//!   Only routes through an IPv4 gateway are used besides the connected
//!   subnets (no on-link routes to other prefixes, no metrics, no policy
//!   routing). Binding an address the stack does not have is
//!   EADDRNOTAVAIL. No `--network=host`.
//! - No IP fragmentation or reassembly on a NIC: a UDP datagram larger
//!   than the NIC's MTU is EMSGSIZE (as with IP_PMTUDISC_DO). No ICMP
//!   echo replies (the sandbox does not answer ping), no path MTU
//!   discovery.
//! - TCP/UDP checksums of frames from a NIC are not verified (the host
//!   kernel's veth may pass partial ones; gVisor trusts them too).
//! - A UDP datagram queued for ARP when its socket is closed is kept up
//!   to 3 s; meanwhile that orphan may take datagrams sent to its port.
//! - No /proc/net files (`ifconfig` warns and falls back to SIOCGIFCONF),
//!   no AF_NETLINK (`ip addr` does not work), no SIOCSIF* (setting
//!   addresses, MTU, flags).
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
//! - No per-uid/netns accounting.

mod addr;
mod device;
pub mod ifreq;
mod nic;
mod packet;
mod route;
mod socket;
mod stack;

pub use addr::{
    decode_sockaddr, encode_sockaddr, sockaddr_family, SIN6_LEN_RFC2133, SOCKADDR_IN6_LEN, SOCKADDR_IN_LEN,
};
pub use nic::{IfInfo, Link, NicConfig, Route};
pub use packet::PacketLink;
pub use socket::InetSocket;
pub use stack::Stack;
