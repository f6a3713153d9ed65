//! getdents64/getdents and lseek.

use abi::{Errno, SysResult};

use super::iovec::MAX_RW_COUNT;
use crate::syscalls::{sc, Args, Entry};
use crate::task::run::Thread;

pub static ENTRIES: &[Entry] = &[
    sc!(SYS_getdents64, getdents64, "a directory is listed from a snapshot taken at offset 0"),
    sc!(SYS_getdents, getdents, "a directory is listed from a snapshot taken at offset 0"),
    sc!(SYS_lseek, lseek),
];

fn getdents64(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let f = t.task.files().get_io(a.i32(0))?;
    let len = (a.u32(2) as u64).min(MAX_RW_COUNT) as usize;
    let out = f.getdents64(len)?;
    t.mm.copy_out(a.u64(1), &out)?;
    Ok(out.len() as u64)
}

/// Rewrite `linux_dirent64` records as old `linux_dirent` ones in place
/// (both are 8-aligned 20+namelen bytes): {ino, off, reclen, name, pad,
/// type in the last byte}.
pub fn to_old_dirents(buf: &mut [u8]) {
    let mut p = 0;
    while p + 20 <= buf.len() {
        let rl = u16::from_ne_bytes([buf[p + 16], buf[p + 17]]) as usize;
        if rl < 20 || p + rl > buf.len() {
            break;
        }
        let kind = buf[p + 18];
        // Shift the name one byte left over the d_type slot.
        buf.copy_within(p + 19..p + rl, p + 18);
        buf[p + rl - 1] = kind;
        p += rl;
    }
}

fn getdents(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let f = t.task.files().get_io(a.i32(0))?;
    let len = (a.u32(2) as u64).min(MAX_RW_COUNT) as usize;
    let mut out = f.getdents64(len)?;
    to_old_dirents(&mut out);
    t.mm.copy_out(a.u64(1), &out)?;
    Ok(out.len() as u64)
}

fn lseek(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let f = t.task.files().get(a.i32(0))?;
    let whence = a.i32(2);
    if !(0..=4).contains(&whence) {
        return Err(Errno::EINVAL);
    }
    f.seek(a.i64(1), whence).map(|o| o as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_dirent_layout() {
        let entries = vec![fs::DirEntry { ino: 7, kind: libc::DT_REG, name: b"abc".to_vec() }];
        let (mut b, _) = fs::dirent::encode(&entries, 0, 4096).unwrap();
        to_old_dirents(&mut b);
        let rl = u16::from_ne_bytes([b[16], b[17]]) as usize;
        assert_eq!(u64::from_ne_bytes(b[0..8].try_into().unwrap()), 7);
        assert_eq!(&b[18..22], b"abc\0");
        assert_eq!(b[rl - 1], libc::DT_REG);
    }
}
