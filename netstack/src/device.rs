//! The loopback device: every transmitted IP packet is queued to be
//! received again. Unlike smoltcp's `Loopback`, the queue is visible to
//! the socket layer, which looks at the next packet before smoltcp does
//! (to drop a SYN when a listener's backlog is full, to create the
//! smoltcp socket that will take a SYN, to see ICMP port-unreachable).

use std::collections::VecDeque;

use smoltcp::phy::{self, ChecksumCapabilities, Device, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

/// Largest IP packet (the `lo` MTU Linux uses).
pub(crate) const MTU: usize = 65535;

/// Packets kept for reuse, so steady traffic does not allocate.
const POOL: usize = 64;

#[derive(Default)]
pub(crate) struct LoopDev {
    pub(crate) queue: VecDeque<Vec<u8>>,
    pool: Vec<Vec<u8>>,
}

impl LoopDev {
    /// Give a consumed packet's buffer back.
    fn recycle(pool: &mut Vec<Vec<u8>>, mut b: Vec<u8>) {
        if pool.len() < POOL {
            b.clear();
            pool.push(b);
        }
    }

    /// Drop the packet at the head of the queue without processing it.
    pub(crate) fn drop_front(&mut self) {
        if let Some(b) = self.queue.pop_front() {
            Self::recycle(&mut self.pool, b);
        }
    }
}

pub(crate) struct RxToken<'a> {
    buf: Vec<u8>,
    pool: &'a mut Vec<Vec<u8>>,
}

pub(crate) struct TxToken<'a> {
    queue: &'a mut VecDeque<Vec<u8>>,
    pool: Option<&'a mut Vec<Vec<u8>>>,
}

impl phy::RxToken for RxToken<'_> {
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        let r = f(&self.buf);
        LoopDev::recycle(self.pool, self.buf);
        r
    }
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        let mut b = self.pool.and_then(|p| p.pop()).unwrap_or_default();
        b.resize(len, 0);
        let r = f(&mut b);
        self.queue.push_back(b);
        r
    }
}

impl Device for LoopDev {
    type RxToken<'a> = RxToken<'a>;
    type TxToken<'a> = TxToken<'a>;

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.max_transmission_unit = MTU;
        caps.medium = Medium::Ip;
        // Packets never leave the process: checksums are pure cost.
        caps.checksum = ChecksumCapabilities::ignored();
        caps
    }

    fn receive(&mut self, _t: Instant) -> Option<(RxToken<'_>, TxToken<'_>)> {
        let buf = self.queue.pop_front()?;
        // The rx token recycles into the pool; the tx token (a reply sent
        // while processing) allocates.
        Some((RxToken { buf, pool: &mut self.pool }, TxToken { queue: &mut self.queue, pool: None }))
    }

    fn transmit(&mut self, _t: Instant) -> Option<TxToken<'_>> {
        Some(TxToken { queue: &mut self.queue, pool: Some(&mut self.pool) })
    }
}
