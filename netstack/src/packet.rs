//! [`Link`] on a host AF_PACKET socket (SOCK_RAW, bound to the netns'
//! interface by whoever opened it): frames are read and written whole,
//! Ethernet header included.
//!
//! Host syscalls at run time: `poll` (waiting), `recvfrom` (receiving,
//! MSG_DONTWAIT), `sendto` (sending, MSG_DONTWAIT).

use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;

use crate::nic::Link;

/// An AF_PACKET SOCK_RAW socket bound to one interface.
#[derive(Debug)]
pub struct PacketLink {
    fd: OwnedFd,
}

impl PacketLink {
    /// Take `fd`, an AF_PACKET SOCK_RAW socket bound to the interface.
    /// Frames the host sends on the interface (PACKET_OUTGOING) and frames
    /// for other hosts (PACKET_OTHERHOST) are skipped when received.
    pub fn new(fd: OwnedFd) -> PacketLink {
        PacketLink { fd }
    }
}

impl Link for PacketLink {
    fn send(&self, frame: &[u8]) {
        // SAFETY: the buffer is valid for `frame.len()` bytes; the fd is
        // ours and open.
        let r = unsafe { libc::send(self.fd.as_raw_fd(), frame.as_ptr().cast(), frame.len(), libc::MSG_DONTWAIT) };
        if r < 0 {
            tracing::trace!("netstack: packet socket send: {}", std::io::Error::last_os_error());
        }
    }

    fn recv(&self, buf: &mut [u8]) -> Option<usize> {
        loop {
            // SAFETY: sockaddr_ll is plain data; all zeroes is valid.
            let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
            let mut len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
            // SAFETY: the buffer is valid for `buf.len()` bytes, `sll` and
            // `len` are valid for writing and `len` is sll's size.
            let r = unsafe {
                libc::recvfrom(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_DONTWAIT,
                    (&mut sll as *mut libc::sockaddr_ll).cast(),
                    &mut len,
                )
            };
            if r < 0 {
                if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                    continue;
                }
                return None;
            }
            if sll.sll_pkttype == libc::PACKET_OUTGOING || sll.sll_pkttype == libc::PACKET_OTHERHOST {
                continue;
            }
            return Some((r as usize).min(buf.len()));
        }
    }

    fn wait(&self, timeout: Duration) -> bool {
        let mut p = libc::pollfd { fd: self.fd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut p, 1, ms) };
        r > 0
    }
}
