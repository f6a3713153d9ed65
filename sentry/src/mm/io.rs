//! Checked copies between the Sentry and workload memory. Every workload
//! pointer goes through here: an unmapped or inaccessible address gives
//! EFAULT, never a Sentry fault.

use abi::{page_down, Errno, SysResult, PAGE_SIZE};
use platform::Prot;
use zerocopy::{FromBytes, Immutable, IntoBytes};

use super::MemoryManager;

impl MemoryManager {
    /// Copy `buf.len()` bytes from workload address `addr`.
    pub fn copy_in(&self, addr: u64, buf: &mut [u8]) -> SysResult<()> {
        self.access(addr, buf.len(), false, |frame_off, range| {
            self.allocator().mem().read(frame_off, &mut buf[range]);
        })
    }

    /// Copy `buf` to workload address `addr`.
    pub fn copy_out(&self, addr: u64, buf: &[u8]) -> SysResult<()> {
        self.access(addr, buf.len(), true, |frame_off, range| {
            self.allocator().mem().write(frame_off, &buf[range]);
        })
    }

    /// Copy `buf` to `addr` whatever the protection (the loader zeroing
    /// the .bss tail of a read-only segment page).
    pub fn copy_out_force(&self, addr: u64, buf: &[u8]) -> SysResult<()> {
        self.access_inner(addr, buf.len(), true, true, |frame_off, range| {
            self.allocator().mem().write(frame_off, &buf[range]);
        })
    }

    /// Read a plain-old-data value.
    pub fn read_obj<T: FromBytes + IntoBytes>(&self, addr: u64) -> SysResult<T> {
        let mut v = T::new_zeroed();
        self.copy_in(addr, v.as_mut_bytes())?;
        Ok(v)
    }

    /// Write a plain-old-data value.
    pub fn write_obj<T: IntoBytes + Immutable>(&self, addr: u64, v: &T) -> SysResult<()> {
        self.copy_out(addr, v.as_bytes())
    }

    /// Read a NUL-terminated string of at most `max` bytes (without the
    /// NUL). ENAMETOOLONG if no NUL within `max`.
    pub fn read_cstring(&self, addr: u64, max: usize) -> SysResult<Vec<u8>> {
        let mut out = Vec::new();
        let mut a = addr;
        loop {
            let chunk = (PAGE_SIZE - (a % PAGE_SIZE)) as usize;
            let mut buf = vec![0u8; chunk.min(max + 1 - out.len())];
            self.copy_in(a, &mut buf)?;
            if let Some(nul) = buf.iter().position(|&b| b == 0) {
                out.extend_from_slice(&buf[..nul]);
                return Ok(out);
            }
            out.extend_from_slice(&buf);
            if out.len() > max {
                return Err(Errno::ENAMETOOLONG);
            }
            a = a.checked_add(buf.len() as u64).ok_or(Errno::EFAULT)?;
        }
    }

    /// Read a NULL-terminated array of string pointers (argv, envp).
    pub fn read_string_array(&self, addr: u64, max_total: usize) -> SysResult<Vec<Vec<u8>>> {
        let mut out = Vec::new();
        if addr == 0 {
            return Ok(out);
        }
        let mut total = 0;
        for i in 0.. {
            let p: u64 = self.read_obj(addr + i * 8)?;
            if p == 0 {
                break;
            }
            let s = self.read_cstring(p, 128 * 1024).map_err(|e| if e == Errno::ENAMETOOLONG { Errno::E2BIG } else { e })?;
            total += s.len() + 1 + 8;
            if total > max_total {
                return Err(Errno::E2BIG);
            }
            out.push(s);
        }
        Ok(out)
    }

    /// Walk `[addr, addr+len)` page by page, calling `f(frame_offset,
    /// buffer_range)` for each piece.
    fn access(&self, addr: u64, len: usize, write: bool, f: impl FnMut(u64, std::ops::Range<usize>)) -> SysResult<()> {
        self.access_inner(addr, len, write, false, f)
    }

    fn access_inner(&self, addr: u64, len: usize, write: bool, force: bool, mut f: impl FnMut(u64, std::ops::Range<usize>)) -> SysResult<()> {
        if len == 0 {
            return Ok(());
        }
        let end = addr.checked_add(len as u64).ok_or(Errno::EFAULT)?;
        let mut st = self.lock();
        let mut a = addr;
        while a < end {
            let page = page_down(a);
            let vma = st.vma_at(a).cloned().ok_or(Errno::EFAULT)?;
            let need = if write { Prot::WRITE } else { Prot::READ };
            if !(force || vma.prot.contains(need) || (need == Prot::READ && vma.prot.contains(Prot::WRITE))) {
                return Err(Errno::EFAULT);
            }
            let (frame, _) = st.frame_for(self.allocator(), &vma, page, write)?;
            let n = (page + PAGE_SIZE).min(end) - a;
            let start = (a - addr) as usize;
            f(frame + (a - page), start..start + n as usize);
            a += n;
        }
        Ok(())
    }
}
