//! fallocate and copy_file_range, emulated over the file operations.

use std::sync::Arc;

use abi::{Errno, SysResult};
use fs::file::File;

use crate::signal::{SigInfo, SIGXFSZ, SI_USER};
use crate::syscalls::{sc, Args, Entry};
use crate::task::run::Thread;

pub static ENTRIES: &[Entry] = &[
    sc!(SYS_fallocate, fallocate, "no real preallocation: mode 0 extends the size, PUNCH_HOLE/ZERO_RANGE write zeros; COLLAPSE/INSERT_RANGE give EOPNOTSUPP"),
    sc!(SYS_copy_file_range, copy_file_range, "copies through the Sentry"),
];

const KEEP_SIZE: i32 = 0x01;
const PUNCH_HOLE: i32 = 0x02;
const COLLAPSE_RANGE: i32 = 0x08;
const ZERO_RANGE: i32 = 0x10;
const INSERT_RANGE: i32 = 0x20;

/// Zero `[off, end)` of `f` (regular file) without moving its offset.
fn zero(f: &File, off: u64, end: u64) -> SysResult<()> {
    let buf = vec![0u8; 64 * 1024];
    let mut o = off;
    while o < end {
        let n = ((end - o) as usize).min(buf.len());
        let (w, _) = f.ops().write(&buf[..n], o, false)?;
        if w == 0 {
            return Err(Errno::EIO);
        }
        o += w as u64;
    }
    Ok(())
}

fn fallocate(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let (fd, mode, off, len) = (a.i32(0), a.i32(1), a.i64(2), a.i64(3));
    let f = t.task.files().get_io(fd)?;
    if off < 0 || len <= 0 {
        return Err(Errno::EINVAL);
    }
    if mode & !(KEEP_SIZE | PUNCH_HOLE | COLLAPSE_RANGE | ZERO_RANGE | INSERT_RANGE) != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    if mode & PUNCH_HOLE != 0 && mode & KEEP_SIZE == 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    if !f.writable() {
        return Err(Errno::EBADF);
    }
    let st = f.stat()?;
    match st.mode & libc::S_IFMT {
        libc::S_IFREG => {}
        libc::S_IFDIR => return Err(Errno::EISDIR),
        libc::S_IFIFO => return Err(Errno::ESPIPE),
        _ => return Err(Errno::ENODEV),
    }
    if mode & (COLLAPSE_RANGE | INSERT_RANGE) != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    let end = off.checked_add(len).ok_or(Errno::EFBIG)?;
    let lim = t.task.tg.rlimit(libc::RLIMIT_FSIZE).cur;
    if end as u64 > lim && mode & KEEP_SIZE == 0 {
        t.task.send(SigInfo::new(SIGXFSZ, SI_USER));
        return Err(Errno::EFBIG);
    }
    let size = st.size.max(0);
    if mode & (PUNCH_HOLE | ZERO_RANGE) != 0 {
        let zend = end.min(size);
        if off < zend {
            zero(&f, off as u64, zend as u64)?;
        }
    }
    if mode & KEEP_SIZE == 0 && end > size {
        f.ops().truncate(end as u64)?;
    }
    Ok(0)
}

fn copy_file_range(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let (fin, offin_p, fout, offout_p, len, flags) = (a.i32(0), a.u64(1), a.i32(2), a.u64(3), a.u64(4), a.u32(5));
    if flags != 0 {
        return Err(Errno::EINVAL);
    }
    let files = t.task.files();
    let i = files.get_io(fin)?;
    let o = files.get_io(fout)?;
    if !i.readable() || !o.writable() || o.flags() & libc::O_APPEND != 0 {
        return Err(Errno::EBADF);
    }
    let (si, so) = (i.stat()?, o.stat()?);
    if fs::types::is_dir(&si) || fs::types::is_dir(&so) {
        return Err(Errno::EISDIR);
    }
    if !fs::types::is_reg(&si) || !fs::types::is_reg(&so) {
        return Err(Errno::EINVAL);
    }
    let read_off = |t: &Thread, p: u64, f: &Arc<File>| -> SysResult<i64> {
        if p == 0 {
            f.seek(0, libc::SEEK_CUR)
        } else {
            let v: i64 = t.mm.read_obj(p)?;
            if v < 0 {
                return Err(Errno::EINVAL);
            }
            Ok(v)
        }
    };
    let mut ri = read_off(t, offin_p, &i)?;
    let mut ro = read_off(t, offout_p, &o)?;
    let len = len.min(super::iovec::MAX_RW_COUNT) as i64;
    if si.dev == so.dev && si.ino == so.ino && ri < ro.saturating_add(len) && ro < ri.saturating_add(len) {
        return Err(Errno::EINVAL);
    }
    let mut done: i64 = 0;
    let mut buf = vec![0u8; (len as usize).min(1 << 20)];
    while done < len {
        let n = ((len - done) as usize).min(buf.len());
        let got = match i.pread(&mut buf[..n], ri) {
            Ok(0) => break,
            Ok(g) => g,
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        };
        let w = match o.pwrite(&buf[..got], ro) {
            Ok(w) => w,
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        };
        done += w as i64;
        ri += w as i64;
        ro += w as i64;
        if w < got {
            break;
        }
    }
    if offin_p != 0 {
        t.mm.write_obj(offin_p, &ri)?;
    } else {
        i.seek(ri, libc::SEEK_SET)?;
    }
    if offout_p != 0 {
        t.mm.write_obj(offout_p, &ro)?;
    } else {
        o.seek(ro, libc::SEEK_SET)?;
    }
    Ok(done as u64)
}
