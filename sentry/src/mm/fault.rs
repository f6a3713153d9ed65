//! Page faults and the frames behind pages.

use abi::{page_down, Errno, SysResult, PAGE_SIZE};
use platform::{Access, Prot};

use super::{Backing, MemoryManager, MmState, PageAllocator, PlatformOp, ViewId, Vma};

/// Why a fault could not be satisfied: the signal the workload gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultError {
    /// SIGSEGV with SEGV_MAPERR (nothing mapped there).
    MapErr,
    /// SIGSEGV with SEGV_ACCERR (mapped, but not with that access).
    AccErr,
    /// SIGBUS (a file mapping beyond the end of the file).
    Bus,
}

impl MemoryManager {
    /// Handle a fault reported by the platform: on success the mapping is
    /// queued as a [`PlatformOp`].
    pub fn handle_fault(&self, view: ViewId, addr: u64, access: Access) -> Result<(), FaultError> {
        let mut st = self.lock();
        let page = page_down(addr);
        let vma = st.vma_at(addr).cloned().ok_or(FaultError::MapErr)?;
        if vma.prot.is_empty() {
            return Err(FaultError::AccErr);
        }
        // A platform may not know whether a fault was a read or a write; a
        // fault on a page that is already mapped read-only can only be a
        // write (or an exec of a non-exec page).
        let known_write = access.write && !access.read;
        let mapped = st.views.get(&view).and_then(|v| v.mapped.get(&page).copied());
        let write = match mapped {
            Some(true) => return Err(FaultError::AccErr),
            Some(false) => true,
            None => known_write,
        };
        if write && !vma.prot.contains(Prot::WRITE) {
            return Err(FaultError::AccErr);
        }
        if access.exec && !access.read && !access.write && !vma.prot.contains(Prot::EXEC) {
            return Err(FaultError::AccErr);
        }
        let (frame, exclusive) = st.frame_for(&self.pages, &vma, page, write).map_err(|e| {
            if e == Errno::EFAULT {
                FaultError::Bus
            } else {
                FaultError::MapErr
            }
        })?;
        let writable = vma.prot.contains(Prot::WRITE) && exclusive;
        let prot = if writable { vma.prot } else { vma.prot - Prot::WRITE };
        if let Some(v) = st.views.get_mut(&view) {
            v.mapped.insert(page, writable);
            v.ops.push(PlatformOp::Map { addr: page, len: PAGE_SIZE, prot, offset: frame });
        }
        Ok(())
    }
}

impl MmState {
    /// The frame backing `page` of `vma`, creating it if needed. With
    /// `write`, a copy-on-write frame is copied first. Returns the frame and
    /// whether writes may go to it directly (not shared copy-on-write).
    /// EFAULT means the page lies beyond the end of the mapped file.
    pub(crate) fn frame_for(&mut self, pages: &PageAllocator, vma: &Vma, page: u64, write: bool) -> SysResult<(u64, bool)> {
        if let Some(obj) = &vma.shared {
            let idx = vma.shared_base + (page - vma.start) / PAGE_SIZE;
            let mut map = obj.pages.lock().unwrap();
            if let Some(&f) = map.get(&idx) {
                return Ok((f, true));
            }
            let f = pages.alloc()?;
            if let Err(e) = fill(pages, vma, page, f) {
                pages.decref(f);
                return Err(e);
            }
            map.insert(idx, f);
            return Ok((f, true));
        }
        if let Some(&f) = self.private.get(&page) {
            if pages.refcount(f) == 1 {
                return Ok((f, true));
            }
            if !write {
                return Ok((f, false));
            }
            // Break copy-on-write.
            let nf = pages.alloc()?;
            pages.mem().copy(f, nf, PAGE_SIZE as usize);
            self.release(pages, f);
            self.private.insert(page, nf);
            // Contexts still mapping the old frame here must refault.
            if self.views.values().any(|v| v.mapped.contains_key(&page)) {
                self.unmap_platform(page, page + PAGE_SIZE);
            }
            return Ok((nf, true));
        }
        let f = pages.alloc()?;
        if let Err(e) = fill(pages, vma, page, f) {
            pages.decref(f);
            return Err(e);
        }
        self.private.insert(page, f);
        Ok((f, true))
    }
}

/// Fill a fresh (zeroed) frame with the contents `page` of `vma` starts with.
fn fill(pages: &PageAllocator, vma: &Vma, page: u64, frame: u64) -> SysResult<()> {
    let Backing::File { file, .. } = &vma.backing else { return Ok(()) };
    let off = vma.file_offset(page).unwrap_or(0);
    let size = file.size()?;
    if off >= page_up_size(size) {
        return Err(Errno::EFAULT);
    }
    let mut buf = vec![0u8; PAGE_SIZE as usize];
    let mut done = 0;
    while done < buf.len() {
        let n = file.read_at(off + done as u64, &mut buf[done..])?;
        if n == 0 {
            break;
        }
        done += n;
    }
    pages.mem().write(frame, &buf[..done]);
    Ok(())
}

fn page_up_size(size: u64) -> u64 {
    abi::page_up(size).unwrap_or(u64::MAX)
}
