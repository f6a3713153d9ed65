//! The fcntl record-lock commands over `locks`.

use std::sync::Arc;

use abi::{Errno, SysResult};
use fs::file::File;

use super::locks::{range, table, LockOwner};
use crate::task::run::Thread;

pub const F_OFD_GETLK: i32 = 36;
pub const F_OFD_SETLK: i32 = 37;
pub const F_OFD_SETLKW: i32 = 38;

/// `struct flock` fields: (type, whence, start, len, pid).
fn parse(b: &[u8; 32]) -> (i16, i16, i64, i64, i32) {
    let i16_at = |o: usize| i16::from_ne_bytes([b[o], b[o + 1]]);
    let i64_at = |o: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[o..o + 8]);
        i64::from_ne_bytes(w)
    };
    (i16_at(0), i16_at(2), i64_at(8), i64_at(16), i32::from_ne_bytes([b[24], b[25], b[26], b[27]]))
}

fn encode(kind: i16, start: u64, end: u64, pid: i32) -> [u8; 32] {
    let mut b = [0u8; 32];
    b[0..2].copy_from_slice(&kind.to_ne_bytes());
    b[2..4].copy_from_slice(&(libc::SEEK_SET as i16).to_ne_bytes());
    b[8..16].copy_from_slice(&(start as i64).to_ne_bytes());
    let len: i64 = if end == u64::MAX { 0 } else { (end - start + 1) as i64 };
    b[16..24].copy_from_slice(&len.to_ne_bytes());
    b[24..28].copy_from_slice(&pid.to_ne_bytes());
    b
}

pub fn fcntl_lock(t: &mut Thread, f: &Arc<File>, cmd: i32, arg: u64) -> SysResult<u64> {
    let mut raw = [0u8; 32];
    t.mm.copy_in(arg, &mut raw)?;
    let (kind, whence, start, len, pid) = parse(&raw);
    let kind = kind as i32;
    if !matches!(kind, libc::F_RDLCK | libc::F_WRLCK | libc::F_UNLCK) {
        return Err(Errno::EINVAL);
    }
    let ofd = matches!(cmd, F_OFD_GETLK | F_OFD_SETLK | F_OFD_SETLKW);
    if ofd && pid != 0 {
        return Err(Errno::EINVAL);
    }
    let st = f.stat()?;
    let cur = if whence as i32 == libc::SEEK_CUR { f.seek(0, libc::SEEK_CUR).unwrap_or(0) } else { 0 };
    let (s, e) = range(whence, start, len, cur, st.size)?;
    let key = (st.dev, st.ino);
    let owner = if ofd { LockOwner::Ofd(Arc::downgrade(f)) } else { LockOwner::Process(t.task.tgid()) };
    let k = t.task.k.clone();
    if matches!(cmd, libc::F_GETLK | F_OFD_GETLK) {
        if kind == libc::F_UNLCK {
            return Err(Errno::EINVAL);
        }
        let out = match table().test(&k, key, &owner, kind, s, e) {
            Some(l) => {
                let p = match l.owner {
                    LockOwner::Process(p) => p,
                    LockOwner::Ofd(_) => -1,
                };
                encode(l.kind as i16, l.start, l.end, p)
            }
            None => {
                let mut b = raw;
                b[0..2].copy_from_slice(&(libc::F_UNLCK as i16).to_ne_bytes());
                b
            }
        };
        t.mm.copy_out(arg, &out)?;
        return Ok(0);
    }
    if (kind == libc::F_RDLCK && !f.readable()) || (kind == libc::F_WRLCK && !f.writable()) {
        return Err(Errno::EBADF);
    }
    let r = table().try_set(&k, key, &owner, kind, s, e);
    if r != Err(Errno::EAGAIN) || !matches!(cmd, libc::F_SETLKW | F_OFD_SETLKW) {
        return r.map(|_| 0);
    }
    let tbl = table();
    // Releases by close/unlock notify the table's queue; a holder that
    // exits does not (exit is not ours), so re-check now and then.
    loop {
        let tick = std::time::Instant::now() + std::time::Duration::from_millis(100);
        match t.wait_event(&[&tbl.queue], u32::MAX, &[], Some(tick), |_| match tbl.try_set(&k, key, &owner, kind, s, e) {
            Err(Errno::EAGAIN) => None,
            r => Some(r.map(|_| 0)),
        }) {
            Err(Errno::ETIMEDOUT) => continue,
            r => return r,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flock_roundtrip() {
        let b = encode(libc::F_WRLCK as i16, 10, 19, 42);
        assert_eq!(parse(&b), (libc::F_WRLCK as i16, libc::SEEK_SET as i16, 10, 10, 42));
        let b = encode(libc::F_RDLCK as i16, 5, u64::MAX, 1);
        assert_eq!(parse(&b).3, 0);
    }
}
