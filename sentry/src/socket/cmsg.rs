//! Control messages (`struct cmsghdr` buffers of sendmsg/recvmsg):
//! parsing what the workload sends and encoding what it receives, with
//! Linux's length rules (`__scm_send`, `put_cmsg`, `scm_detach_fds`).
//! Everything here is pure and bounds-checked: the buffers are hostile.

use abi::{Errno, SysResult};

/// sizeof(struct cmsghdr) on x86-64.
pub const HDR: usize = 16;

/// CMSG_ALIGN.
pub fn align(n: usize) -> usize {
    n.saturating_add(7) & !7
}

/// CMSG_LEN.
pub fn cmsg_len(data: usize) -> usize {
    HDR + data
}

/// CMSG_SPACE.
pub fn cmsg_space(data: usize) -> usize {
    HDR + align(data)
}

/// One control message as the workload wrote it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawCmsg {
    pub level: i32,
    pub ty: i32,
    pub data: Vec<u8>,
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[off..off + 8]);
    u64::from_ne_bytes(x)
}

fn i32_at(b: &[u8], off: usize) -> i32 {
    let mut x = [0u8; 4];
    x.copy_from_slice(&b[off..off + 4]);
    i32::from_ne_bytes(x)
}

/// Split a control buffer the way CMSG_FIRSTHDR/CMSG_NXTHDR walk it:
/// a header that does not fit ends the walk; a cmsg_len below the header
/// size or past the end of the buffer is EINVAL.
pub fn parse(buf: &[u8]) -> SysResult<Vec<RawCmsg>> {
    let mut out = Vec::new();
    let mut off = 0usize;
    while buf.len().checked_sub(off).is_some_and(|left| left >= HDR) {
        let len = u64_at(buf, off);
        let left = (buf.len() - off) as u64;
        if len < HDR as u64 || len > left {
            return Err(Errno::EINVAL);
        }
        let len = len as usize;
        out.push(RawCmsg { level: i32_at(buf, off + 8), ty: i32_at(buf, off + 12), data: buf[off + HDR..off + len].to_vec() });
        off = match off.checked_add(align(len)) {
            Some(o) => o,
            None => break,
        };
    }
    Ok(out)
}

/// Builds the control buffer recvmsg returns, never longer than the
/// workload's `msg_controllen`.
#[derive(Debug)]
pub struct Writer {
    pub buf: Vec<u8>,
    cap: usize,
    /// MSG_CTRUNC: something did not fit.
    pub truncated: bool,
}

impl Writer {
    pub fn new(cap: usize) -> Writer {
        Writer { buf: Vec::new(), cap, truncated: false }
    }

    /// Bytes of control space left.
    pub fn room(&self) -> usize {
        self.cap.saturating_sub(self.buf.len())
    }

    /// put_cmsg: truncates (and flags MSG_CTRUNC) when the rest of the
    /// buffer is short; writes nothing when not even a header fits.
    pub fn put(&mut self, level: i32, ty: i32, data: &[u8]) {
        let room = self.room();
        if room < HDR {
            self.truncated = true;
            return;
        }
        let mut len = cmsg_len(data.len());
        if room < len {
            self.truncated = true;
            len = room;
        }
        let start = self.buf.len();
        self.buf.extend_from_slice(&(len as u64).to_ne_bytes());
        self.buf.extend_from_slice(&level.to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(&data[..len - HDR]);
        let adv = cmsg_space(data.len()).min(room);
        self.buf.resize(start + adv, 0);
    }

    /// How many fds an SCM_RIGHTS message may carry in the space left.
    pub fn max_fds(&self) -> usize {
        let room = self.room();
        if room <= HDR {
            0
        } else {
            (room - HDR) / 4
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hdr(len: u64, level: i32, ty: i32) -> Vec<u8> {
        let mut v = len.to_ne_bytes().to_vec();
        v.extend_from_slice(&level.to_ne_bytes());
        v.extend_from_slice(&ty.to_ne_bytes());
        v
    }

    #[test]
    fn parse_walks_aligned_headers() {
        let mut b = hdr(20, 1, 1);
        b.extend_from_slice(&7i32.to_ne_bytes());
        b.extend_from_slice(&[0; 4]);
        b.extend(hdr(16, 1, 2));
        let m = parse(&b).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].data, 7i32.to_ne_bytes());
        assert_eq!(m[1].ty, 2);
        assert!(m[1].data.is_empty());
        // A trailing partial header is ignored.
        b.extend_from_slice(&[1, 2, 3]);
        assert_eq!(parse(&b).unwrap().len(), 2);
    }

    #[test]
    fn parse_rejects_bad_lengths() {
        assert_eq!(parse(&hdr(8, 1, 1)), Err(Errno::EINVAL));
        assert_eq!(parse(&hdr(17, 1, 1)), Err(Errno::EINVAL));
        assert_eq!(parse(&hdr(u64::MAX, 1, 1)), Err(Errno::EINVAL));
        assert_eq!(parse(&[0u8; 5]).unwrap(), vec![]);
    }

    #[test]
    fn writer_truncates_like_put_cmsg() {
        let mut w = Writer::new(24);
        assert_eq!(w.max_fds(), 2);
        w.put(1, 1, &[1, 0, 0, 0, 2, 0, 0, 0]);
        assert_eq!(w.buf.len(), 24);
        assert!(!w.truncated);
        w.put(1, 2, &[0; 12]);
        assert!(w.truncated);
        let mut w = Writer::new(20);
        w.put(1, 2, &[9; 12]);
        assert!(w.truncated);
        assert_eq!(u64_at(&w.buf, 0), 20);
        assert_eq!(w.buf.len(), 20);
        let mut w = Writer::new(8);
        w.put(1, 2, &[]);
        assert!(w.truncated && w.buf.is_empty());
        assert_eq!(Writer::new(16).max_fds(), 0);
    }
}
