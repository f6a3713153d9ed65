//! Sparse file contents: 4 KiB pages in a map, holes read as zeros.

use std::collections::BTreeMap;

use abi::{Errno, SysResult};

const PAGE: u64 = 4096;

/// The bytes of a regular tmpfs file.
#[derive(Default)]
pub struct Data {
    pages: BTreeMap<u64, Box<[u8]>>,
    size: u64,
}

impl Data {
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Pages allocated (st_blocks is this × 8).
    pub fn pages(&self) -> u64 {
        self.pages.len() as u64
    }

    pub fn read(&self, buf: &mut [u8], off: u64) -> usize {
        if off >= self.size {
            return 0;
        }
        let n = (buf.len() as u64).min(self.size - off) as usize;
        let mut done = 0;
        while done < n {
            let pos = off + done as u64;
            let (pi, po) = (pos / PAGE, (pos % PAGE) as usize);
            let chunk = (PAGE as usize - po).min(n - done);
            match self.pages.get(&pi) {
                Some(p) => buf[done..done + chunk].copy_from_slice(&p[po..po + chunk]),
                None => buf[done..done + chunk].fill(0),
            }
            done += chunk;
        }
        n
    }

    /// Write at `off`; EFBIG past the largest offset.
    pub fn write(&mut self, buf: &[u8], off: u64) -> SysResult<usize> {
        let end = off.checked_add(buf.len() as u64).filter(|&e| e <= i64::MAX as u64).ok_or(Errno::EFBIG)?;
        let mut done = 0;
        while done < buf.len() {
            let pos = off + done as u64;
            let (pi, po) = (pos / PAGE, (pos % PAGE) as usize);
            let chunk = (PAGE as usize - po).min(buf.len() - done);
            let p = self.pages.entry(pi).or_insert_with(|| vec![0u8; PAGE as usize].into_boxed_slice());
            p[po..po + chunk].copy_from_slice(&buf[done..done + chunk]);
            done += chunk;
        }
        self.size = self.size.max(end);
        Ok(buf.len())
    }

    pub fn truncate(&mut self, size: u64) -> SysResult<()> {
        if size > i64::MAX as u64 {
            return Err(Errno::EFBIG);
        }
        if size < self.size {
            let first_gone = size.div_ceil(PAGE);
            self.pages.split_off(&first_gone);
            if !size.is_multiple_of(PAGE) {
                if let Some(p) = self.pages.get_mut(&(size / PAGE)) {
                    p[(size % PAGE) as usize..].fill(0);
                }
            }
        }
        self.size = size;
        Ok(())
    }

    /// SEEK_DATA / SEEK_HOLE at page granularity.
    pub fn seek_data_hole(&self, off: i64, data: bool) -> SysResult<i64> {
        if off < 0 || off as u64 >= self.size {
            return Err(Errno::ENXIO);
        }
        let mut pos = off as u64;
        while pos < self.size {
            let present = self.pages.contains_key(&(pos / PAGE));
            if present == data {
                return Ok(pos as i64);
            }
            pos = (pos / PAGE + 1) * PAGE;
        }
        if data {
            Err(Errno::ENXIO)
        } else {
            Ok(self.size as i64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparse_read_write_truncate() {
        let mut d = Data::default();
        d.write(b"abc", 10000).unwrap();
        assert_eq!(d.size(), 10003);
        assert_eq!(d.pages(), 1);
        let mut b = [9u8; 6];
        assert_eq!(d.read(&mut b, 9998), 5);
        assert_eq!(&b[..5], b"\0\0abc");
        assert_eq!(d.seek_data_hole(0, true), Ok(8192));
        assert_eq!(d.seek_data_hole(0, false), Ok(0));
        assert_eq!(d.seek_data_hole(8200, false), Ok(10003));
        d.truncate(10001).unwrap();
        d.truncate(10003).unwrap();
        assert_eq!(d.read(&mut b, 10000), 3);
        assert_eq!(&b[..3], b"a\0\0");
        d.truncate(0).unwrap();
        assert_eq!(d.pages(), 0);
        assert_eq!(d.write(b"x", u64::MAX - 1), Err(Errno::EFBIG));
    }
}
