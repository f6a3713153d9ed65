//! read/write and their positional and vectored variants, sendfile.

use abi::{Errno, SysResult};

use super::iovec::{read_iovecs, IoVec, MAX_RW_COUNT};
use super::rw::{read_iovs, write_all, write_iovs};
use super::util::sigpipe;
use crate::syscalls::{sc, Args, Entry};
use crate::task::run::Thread;

pub static ENTRIES: &[Entry] = &[
    sc!(SYS_read, read),
    sc!(SYS_write, write),
    sc!(SYS_pread64, pread64),
    sc!(SYS_pwrite64, pwrite64),
    sc!(SYS_readv, readv),
    sc!(SYS_writev, writev),
    sc!(SYS_preadv, preadv),
    sc!(SYS_pwritev, pwritev),
    sc!(SYS_preadv2, preadv2, "RWF_* flags accepted and ignored (RWF_NOWAIT does not fail with EAGAIN)"),
    sc!(SYS_pwritev2, pwritev2, "RWF_* flags accepted; RWF_APPEND/RWF_DSYNC/RWF_SYNC have no extra effect"),
    sc!(SYS_sendfile, sendfile, "copies through the Sentry (read + write)"),
];

fn one(a: &Args) -> [IoVec; 1] {
    [IoVec { base: a.u64(1), len: a.u64(2).min(MAX_RW_COUNT) }]
}

fn read(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let f = t.task.files().get_io(a.i32(0))?;
    if let Some(r) = super::signalfd::try_read(t, &f, a.u64(1), a.u64(2)) {
        return r;
    }
    read_iovs(t, &f, &one(a), None)
}

fn write(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let f = t.task.files().get_io(a.i32(0))?;
    let r = write_iovs(t, &f, &one(a), None);
    sigpipe(t, &r);
    r
}

fn pread64(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let f = t.task.files().get_io(a.i32(0))?;
    read_iovs(t, &f, &one(a), Some(a.i64(3)))
}

fn pwrite64(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let f = t.task.files().get_io(a.i32(0))?;
    let r = write_iovs(t, &f, &one(a), Some(a.i64(3)));
    sigpipe(t, &r);
    r
}

fn readv(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let f = t.task.files().get_io(a.i32(0))?;
    let iovs = read_iovecs(&t.mm, a.u64(1), a.u64(2))?;
    read_iovs(t, &f, &iovs, None)
}

fn writev(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let f = t.task.files().get_io(a.i32(0))?;
    let iovs = read_iovecs(&t.mm, a.u64(1), a.u64(2))?;
    let r = write_iovs(t, &f, &iovs, None);
    sigpipe(t, &r);
    r
}

fn pos(a: &Args) -> SysResult<i64> {
    let p = a.i64(3);
    if p < 0 {
        return Err(Errno::EINVAL);
    }
    Ok(p)
}

fn preadv(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let f = t.task.files().get_io(a.i32(0))?;
    let iovs = read_iovecs(&t.mm, a.u64(1), a.u64(2))?;
    let p = pos(a)?;
    read_iovs(t, &f, &iovs, Some(p))
}

fn pwritev(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let f = t.task.files().get_io(a.i32(0))?;
    let iovs = read_iovecs(&t.mm, a.u64(1), a.u64(2))?;
    let p = pos(a)?;
    let r = write_iovs(t, &f, &iovs, Some(p));
    sigpipe(t, &r);
    r
}

const RWF_SUPPORTED: u32 = 0x1f; // HIPRI | DSYNC | SYNC | NOWAIT | APPEND

/// preadv2/pwritev2: offset -1 means the file offset.
fn pos2(a: &Args) -> SysResult<Option<i64>> {
    if a.u32(5) & !RWF_SUPPORTED != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    match a.i64(3) {
        -1 => Ok(None),
        p if p < 0 => Err(Errno::EINVAL),
        p => Ok(Some(p)),
    }
}

fn preadv2(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let f = t.task.files().get_io(a.i32(0))?;
    let iovs = read_iovecs(&t.mm, a.u64(1), a.u64(2))?;
    let p = pos2(a)?;
    read_iovs(t, &f, &iovs, p)
}

fn pwritev2(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let f = t.task.files().get_io(a.i32(0))?;
    let iovs = read_iovecs(&t.mm, a.u64(1), a.u64(2))?;
    let p = pos2(a)?;
    let r = write_iovs(t, &f, &iovs, p);
    sigpipe(t, &r);
    r
}

fn sendfile(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let (out_fd, in_fd, offp, count) = (a.i32(0), a.i32(1), a.u64(2), a.u64(3));
    let files = t.task.files();
    let fin = files.get_io(in_fd)?;
    let fout = files.get_io(out_fd)?;
    if !fin.readable() || !fout.writable() {
        return Err(Errno::EBADF);
    }
    if fout.flags() & libc::O_APPEND != 0 {
        return Err(Errno::EINVAL);
    }
    let mut off: Option<i64> = None;
    if offp != 0 {
        if fin.ops().is_stream() {
            return Err(Errno::ESPIPE);
        }
        let o: i64 = t.mm.read_obj(offp)?;
        if o < 0 {
            return Err(Errno::EINVAL);
        }
        off = Some(o);
    }
    let count = count.min(MAX_RW_COUNT);
    let mut done: u64 = 0;
    let mut result: SysResult<u64> = Ok(0);
    while done < count {
        let n = (count - done).min(1 << 20) as usize;
        let mut buf = vec![0u8; n];
        let pos = off.map(|o| o + done as i64);
        let r = if done == 0 {
            super::util::block_on(t, &fin, fs::waiter::events::READABLE, None, |_| match pos {
                Some(p) => fin.pread(&mut buf, p),
                None => fin.read(&mut buf),
            })
        } else {
            match pos {
                Some(p) => fin.pread(&mut buf, p),
                None => fin.read(&mut buf),
            }
        };
        let got = match r {
            Ok(0) => break,
            Ok(g) => g,
            Err(e) => {
                if done == 0 {
                    result = Err(e);
                }
                break;
            }
        };
        match write_all(t, &fout, &buf[..got], None) {
            Ok(w) => {
                done += w;
                if (w as usize) < got {
                    // Give back what was not written (file offset only).
                    if off.is_none() && !fin.ops().is_stream() {
                        let _ = fin.seek(-((got - w as usize) as i64), libc::SEEK_CUR);
                    }
                    break;
                }
            }
            Err(e) => {
                if off.is_none() && !fin.ops().is_stream() {
                    let _ = fin.seek(-(got as i64), libc::SEEK_CUR);
                }
                if done == 0 {
                    result = Err(e);
                }
                break;
            }
        }
        if got < n {
            break;
        }
    }
    let r = match result {
        Err(e) => Err(e),
        Ok(_) => Ok(done),
    };
    sigpipe(t, &r);
    if let (Some(o), Ok(n)) = (off, &r) {
        t.mm.write_obj(offp, &(o + *n as i64))?;
    }
    r
}
