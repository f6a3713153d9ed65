//! `struct iovec` arrays (readv/writev/preadv/pwritev, sendmsg-like
//! callers): validation with Linux's limits and errnos.

use abi::{Errno, SysResult};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::mm::MemoryManager;

/// UIO_MAXIOV.
pub const IOV_MAX: usize = 1024;
/// MAX_RW_COUNT: the most one read/write transfers (INT_MAX rounded down
/// to a page).
pub const MAX_RW_COUNT: u64 = (i32::MAX as u64) & !(abi::PAGE_SIZE - 1);

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct IoVec {
    pub base: u64,
    pub len: u64,
}

/// Check a parsed array: each length must fit in ssize_t and the total
/// must not overflow ssize_t (EINVAL). Lengths past MAX_RW_COUNT in
/// total are clipped, as Linux does.
pub fn validate(iovs: &[IoVec]) -> SysResult<Vec<IoVec>> {
    let mut total: u64 = 0;
    let mut out = Vec::with_capacity(iovs.len());
    for v in iovs {
        if v.len > i64::MAX as u64 {
            return Err(Errno::EINVAL);
        }
        total = total.checked_add(v.len).filter(|t| *t <= i64::MAX as u64).ok_or(Errno::EINVAL)?;
        out.push(*v);
    }
    // Clip to MAX_RW_COUNT.
    let mut left = MAX_RW_COUNT;
    for v in &mut out {
        v.len = v.len.min(left);
        left -= v.len;
    }
    out.retain(|v| v.len > 0);
    Ok(out)
}

/// Read and validate `cnt` iovecs at `addr`: EINVAL for cnt > IOV_MAX,
/// EFAULT for a bad array.
pub fn read_iovecs(mm: &MemoryManager, addr: u64, cnt: u64) -> SysResult<Vec<IoVec>> {
    if cnt > IOV_MAX as u64 {
        return Err(Errno::EINVAL);
    }
    let mut raw = vec![IoVec::default(); cnt as usize];
    mm.copy_in(addr, raw.as_mut_slice().as_mut_bytes())?;
    validate(&raw)
}

/// Total length of a validated array.
pub fn total(iovs: &[IoVec]) -> u64 {
    iovs.iter().map(|v| v.len).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(len: u64) -> IoVec {
        IoVec { base: 0x1000, len }
    }

    #[test]
    fn overflow_and_negative_lengths() {
        assert_eq!(validate(&[v(1 << 63)]), Err(Errno::EINVAL));
        assert_eq!(validate(&[v(i64::MAX as u64), v(1)]), Err(Errno::EINVAL));
        assert_eq!(validate(&[v(3), v(0), v(4)]).unwrap().len(), 2);
    }

    #[test]
    fn clipped_to_max_rw_count() {
        let r = validate(&[v(MAX_RW_COUNT), v(10)]).unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(total(&r), MAX_RW_COUNT);
    }
}
