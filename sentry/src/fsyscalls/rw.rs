//! The transfer engine of read/write and friends: chunked copies between
//! a file and workload memory, blocking, partial-transfer rules,
//! SIGPIPE and RLIMIT_FSIZE.

use std::sync::Arc;

use abi::{Errno, SysResult};
use fs::file::File;
use fs::waiter::events;

use super::iovec::IoVec;
use super::util::block_on;
use crate::signal::{SigInfo, SIGXFSZ, SI_USER};
use crate::task::run::Thread;

/// Largest kernel buffer one step uses.
const CHUNK: usize = 1 << 20;

const READ_MASK: u32 = events::READABLE | events::POLLRDHUP;
const WRITE_MASK: u32 = events::WRITABLE;

/// One read at `off` (None = the file offset).
fn read_once(f: &File, buf: &mut [u8], off: Option<i64>) -> SysResult<usize> {
    crate::mm::shared_files::before_read(f);
    match off {
        Some(o) => f.pread(buf, o),
        None => f.read(buf),
    }
}

fn write_once(f: &File, buf: &[u8], off: Option<i64>) -> SysResult<usize> {
    let at = crate::mm::shared_files::write_position(f, off);
    let n = match off {
        Some(o) => f.pwrite(buf, o),
        None => f.write(buf),
    }?;
    if let Some(at) = at {
        crate::mm::shared_files::after_write(f, at, &buf[..n]);
    }
    Ok(n)
}

/// Read from `f` into the workload's `iovs`. Blocks only until the first
/// byte; stops at a short read. Partial transfers win over errors.
pub fn read_iovs(t: &mut Thread, f: &Arc<File>, iovs: &[IoVec], off: Option<i64>) -> SysResult<u64> {
    let stream = f.ops().is_stream();
    let mut done: u64 = 0;
    if iovs.is_empty() {
        // A zero-length read still reports EBADF/EISDIR-like errors.
        return read_once(f, &mut [], off).map(|n| n as u64);
    }
    for v in iovs {
        let mut vdone: u64 = 0;
        while vdone < v.len {
            let n = ((v.len - vdone) as usize).min(CHUNK);
            let mut buf = vec![0u8; n];
            let pos = match off {
                Some(o) => Some(o.checked_add(done as i64).ok_or(Errno::EINVAL)?),
                None => None,
            };
            let r = if done == 0 {
                block_on(t, f, READ_MASK, None, |_| read_once(f, &mut buf, pos))
            } else {
                read_once(f, &mut buf, pos)
            };
            let got = match r {
                Ok(g) => g,
                Err(e) => return if done > 0 { Ok(done) } else { Err(e) },
            };
            if got == 0 {
                return Ok(done);
            }
            if let Err(e) = t.mm.copy_out(v.base + vdone, &buf[..got]) {
                if !stream && off.is_none() {
                    let _ = f.seek(-(got as i64), libc::SEEK_CUR);
                }
                return if done > 0 { Ok(done) } else { Err(e) };
            }
            done += got as u64;
            vdone += got as u64;
            if got < n {
                return Ok(done);
            }
        }
    }
    Ok(done)
}

/// Clip a write of `len` bytes to RLIMIT_FSIZE for regular files: EFBIG
/// plus SIGXFSZ when nothing fits.
fn fsize_clip(t: &Thread, f: &File, off: Option<i64>, len: usize) -> SysResult<usize> {
    let lim = t.task.tg.rlimit(libc::RLIMIT_FSIZE).cur;
    if lim == crate::task::RLIM_INFINITY || len == 0 || f.ops().is_stream() {
        return Ok(len);
    }
    let st = match f.stat() {
        Ok(s) if fs::types::is_reg(&s) => s,
        _ => return Ok(len),
    };
    let pos = match off {
        Some(o) if f.flags() & libc::O_APPEND == 0 => o,
        _ if f.flags() & libc::O_APPEND != 0 => st.size,
        _ => f.seek(0, libc::SEEK_CUR).unwrap_or(0),
    };
    let pos = pos.max(0) as u64;
    if pos >= lim {
        t.task.send(SigInfo::new(SIGXFSZ, SI_USER));
        return Err(Errno::EFBIG);
    }
    Ok(len.min((lim - pos).min(usize::MAX as u64) as usize))
}

/// Write all of `data` (blocking files keep going until everything is
/// written, as pipe_write does); a partial count wins over a later error.
pub fn write_all(t: &mut Thread, f: &Arc<File>, data: &[u8], off: Option<i64>) -> SysResult<u64> {
    let want = fsize_clip(t, f, off, data.len())?;
    let data = &data[..want];
    if data.is_empty() {
        return write_once(f, data, off).map(|n| n as u64);
    }
    let mut done = 0usize;
    while done < data.len() {
        let pos = match off {
            Some(o) => Some(o.checked_add(done as i64).ok_or(Errno::EINVAL)?),
            None => None,
        };
        let rest = &data[done..];
        match block_on(t, f, WRITE_MASK, None, |_| write_once(f, rest, pos)) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) => {
                if done > 0 {
                    break;
                }
                return Err(e);
            }
        }
    }
    Ok(done as u64)
}

/// Gather `iovs` from workload memory and write them. EFAULT if the first
/// buffer is bad; a later bad buffer ends the data there.
pub fn write_iovs(t: &mut Thread, f: &Arc<File>, iovs: &[IoVec], off: Option<i64>) -> SysResult<u64> {
    let total: u64 = super::iovec::total(iovs);
    let mut done: u64 = 0;
    if total == 0 {
        return write_all(t, f, &[], off);
    }
    // Gather and write in bounded steps.
    let mut buf: Vec<u8> = Vec::new();
    let mut iter = iovs.iter().flat_map(|v| {
        let mut parts = Vec::new();
        let mut o = 0;
        while o < v.len {
            let n = (v.len - o).min(CHUNK as u64);
            parts.push((v.base + o, n as usize));
            o += n;
        }
        parts
    });
    loop {
        buf.clear();
        let mut fault = None;
        for (addr, n) in iter.by_ref() {
            let start = buf.len();
            buf.resize(start + n, 0);
            if let Err(e) = t.mm.copy_in(addr, &mut buf[start..]) {
                buf.truncate(start);
                fault = Some(e);
                break;
            }
            if buf.len() >= CHUNK {
                break;
            }
        }
        if buf.is_empty() {
            return match fault {
                Some(e) if done == 0 => Err(e),
                _ => Ok(done),
            };
        }
        let pos = match off {
            Some(o) => Some(o.checked_add(done as i64).ok_or(Errno::EINVAL)?),
            None => None,
        };
        match write_all(t, f, &buf, pos) {
            Ok(n) => {
                done += n;
                if (n as usize) < buf.len() || fault.is_some() {
                    return Ok(done);
                }
            }
            Err(e) => return if done > 0 { Ok(done) } else { Err(e) },
        }
    }
}
