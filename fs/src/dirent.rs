//! `linux_dirent64` encoding and the generic directory file.

use std::any::Any;
use std::sync::Arc;

use abi::{Errno, Stat, SysResult};

use crate::file::FileOps;
use crate::inode::Inode;
use crate::types::DirEntry;

/// Size of a `linux_dirent64` record for a name of `len` bytes.
pub fn reclen(len: usize) -> usize {
    (19 + len + 1 + 7) & !7
}

/// Encode entries `[start..]` into at most `buf_len` bytes. Returns the
/// bytes and the next cookie. EINVAL if not even one entry fits.
pub fn encode(entries: &[DirEntry], start: usize, buf_len: usize) -> SysResult<(Vec<u8>, usize)> {
    let mut out = Vec::new();
    let mut i = start;
    while let Some(e) = entries.get(i) {
        let rl = reclen(e.name.len());
        if out.len() + rl > buf_len {
            if out.is_empty() {
                return Err(Errno::EINVAL);
            }
            break;
        }
        let base = out.len();
        out.resize(base + rl, 0);
        out[base..base + 8].copy_from_slice(&e.ino.to_ne_bytes());
        out[base + 8..base + 16].copy_from_slice(&((i + 1) as i64).to_ne_bytes());
        out[base + 16..base + 18].copy_from_slice(&(rl as u16).to_ne_bytes());
        out[base + 18] = e.kind;
        out[base + 19..base + 19 + e.name.len()].copy_from_slice(&e.name);
        i += 1;
    }
    Ok((out, i))
}

/// Decode records (for tests and the Sentry's getdents (old ABI)).
pub fn decode(buf: &[u8]) -> Vec<(u64, i64, u8, Vec<u8>)> {
    let mut v = Vec::new();
    let mut p = 0;
    while p + 19 <= buf.len() {
        let ino = u64::from_ne_bytes(buf[p..p + 8].try_into().unwrap_or_default());
        let off = i64::from_ne_bytes(buf[p + 8..p + 16].try_into().unwrap_or_default());
        let rl = u16::from_ne_bytes([buf[p + 16], buf[p + 17]]) as usize;
        if rl < 20 || p + rl > buf.len() {
            break;
        }
        let name = &buf[p + 19..p + rl];
        let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
        v.push((ino, off, buf[p + 18], name[..end].to_vec()));
        p += rl;
    }
    v
}

/// An open directory of any filesystem: lists the inode.
pub struct DirFile {
    pub inode: Arc<dyn Inode>,
}

impl FileOps for DirFile {
    fn read(&self, _buf: &mut [u8], _off: u64) -> SysResult<usize> {
        Err(Errno::EISDIR)
    }
    fn write(&self, _buf: &[u8], _off: u64, _append: bool) -> SysResult<(usize, u64)> {
        Err(Errno::EISDIR)
    }
    fn seek(&self, cur: i64, off: i64, whence: i32) -> SysResult<i64> {
        let n = match whence {
            libc::SEEK_SET => Some(off),
            libc::SEEK_CUR => cur.checked_add(off),
            _ => return Err(Errno::EINVAL),
        };
        match n {
            Some(n) if n >= 0 => Ok(n),
            _ => Err(Errno::EINVAL),
        }
    }
    fn stat(&self) -> SysResult<Stat> {
        self.inode.stat()
    }
    fn readdir(&self) -> SysResult<Vec<DirEntry>> {
        self.inode.readdir()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ents(n: usize) -> Vec<DirEntry> {
        (0..n).map(|i| DirEntry { ino: i as u64 + 10, kind: libc::DT_REG, name: format!("f{i}").into_bytes() }).collect()
    }

    #[test]
    fn cookies_resume() {
        let e = ents(5);
        let (b, next) = encode(&e, 0, reclen(2) * 2).unwrap();
        let d = decode(&b);
        assert_eq!(d.len(), 2);
        assert_eq!(d[0], (10, 1, libc::DT_REG, b"f0".to_vec()));
        assert_eq!(d[1].1, 2);
        assert_eq!(next, 2);
        let (b, next) = encode(&e, next, 4096).unwrap();
        assert_eq!(decode(&b).iter().map(|x| x.3.clone()).collect::<Vec<_>>(), vec![b"f2".to_vec(), b"f3".to_vec(), b"f4".to_vec()]);
        assert_eq!(next, 5);
        let (b, _) = encode(&e, 5, 4096).unwrap();
        assert!(b.is_empty());
        assert_eq!(encode(&e, 0, 10), Err(Errno::EINVAL));
        assert_eq!(reclen(1), 24);
        assert_eq!(reclen(4), 24);
        assert_eq!(reclen(5), 32);
    }
}
