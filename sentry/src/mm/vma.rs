//! Virtual memory areas: what the workload has mapped where.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use abi::SysResult;
use platform::Prot;

/// A file that can back a mapping. Implemented over the VFS's open files.
pub trait MappedFile: Send + Sync {
    /// Read up to `buf.len()` bytes at `off`; fewer at end of file.
    fn read_at(&self, off: u64, buf: &mut [u8]) -> SysResult<usize>;
    /// Write `buf` at `off` (write-back of shared mappings).
    fn write_at(&self, off: u64, buf: &[u8]) -> SysResult<usize>;
    /// Current size of the file.
    fn size(&self) -> SysResult<u64>;
    /// The path shown in /proc/self/maps.
    fn describe(&self) -> String;
    /// (device, inode) shown in /proc/self/maps.
    fn dev_ino(&self) -> (u64, u64);
}

/// Pages of a MAP_SHARED mapping, shared by every address space that
/// inherited the mapping across fork. Index is the page number within the
/// object (file offset / PAGE_SIZE for file mappings).
pub struct SharedObject {
    pub pages: Mutex<HashMap<u64, u64>>,
    /// For file mappings: where dirty pages are written back.
    pub file: Option<Arc<dyn MappedFile>>,
    /// Where the frames go back when the last mapping is gone.
    pub alloc: Arc<super::PageAllocator>,
    /// For file objects: the (dev, ino) they are registered under, and a
    /// writable handle of some mapping (write-back before read(2)).
    pub key: Option<super::shared_files::FileKey>,
    pub writer: Mutex<Option<Arc<dyn MappedFile>>>,
}

/// Write the frames of object pages `(index, frame)` back to `file`,
/// clipped to its current size (a page past the end is not written).
pub(crate) fn write_back(alloc: &super::PageAllocator, file: &dyn MappedFile, pages: impl Iterator<Item = (u64, u64)>) {
    let size = file.size().unwrap_or(0);
    let mut buf = vec![0u8; abi::PAGE_SIZE as usize];
    for (idx, frame) in pages {
        let off = idx * abi::PAGE_SIZE;
        if off < size {
            let n = (size - off).min(abi::PAGE_SIZE) as usize;
            alloc.mem().read(frame, &mut buf[..n]);
            let _ = file.write_at(off, &buf[..n]);
        }
    }
}

impl Drop for SharedObject {
    fn drop(&mut self) {
        // Write the pages back one last time (munmap/exit semantics).
        if let Some(w) = self.writer.get_mut().unwrap_or_else(|e| e.into_inner()).take() {
            let pages: Vec<(u64, u64)> = self.pages.get_mut().unwrap_or_else(|e| e.into_inner()).iter().map(|(i, f)| (*i, *f)).collect();
            write_back(&self.alloc, w.as_ref(), pages.into_iter());
        }
        for (_, f) in self.pages.get_mut().unwrap_or_else(|e| e.into_inner()).drain() {
            self.alloc.decref(f);
        }
        if let Some(k) = self.key {
            super::shared_files::forget(k);
        }
    }
}

/// What backs a VMA.
#[derive(Clone)]
pub enum Backing {
    /// Anonymous memory (zero-filled on first touch).
    Anon,
    /// A file, from `offset` at the VMA's start.
    File { file: Arc<dyn MappedFile>, offset: u64 },
}

/// One mapping.
#[derive(Clone)]
pub struct Vma {
    pub start: u64,
    pub end: u64,
    pub prot: Prot,
    /// The most `prot` may become (a shared mapping of a read-only file
    /// cannot become writable).
    pub max_prot: Prot,
    pub backing: Backing,
    /// Set for MAP_SHARED mappings; `shared_base` is the object page index
    /// of `start`.
    pub shared: Option<Arc<SharedObject>>,
    pub shared_base: u64,
    /// "[stack]", "[heap]" for /proc/self/maps.
    pub name: Option<&'static str>,
}

impl Vma {
    /// File offset of address `addr` inside this VMA (file mappings).
    pub fn file_offset(&self, addr: u64) -> Option<u64> {
        match &self.backing {
            Backing::File { offset, .. } => Some(offset + (addr - self.start)),
            Backing::Anon => None,
        }
    }

    /// This VMA cut to `[start, end)` (which must lie inside it).
    pub fn slice(&self, start: u64, end: u64) -> Vma {
        let mut v = self.clone();
        let delta = start - self.start;
        if let Backing::File { offset, .. } = &mut v.backing {
            *offset += delta;
        }
        v.shared_base += delta / abi::PAGE_SIZE;
        v.start = start;
        v.end = end;
        v
    }

    /// Whether `other` (starting at our end) can merge into us.
    pub fn can_merge(&self, other: &Vma) -> bool {
        if self.end != other.start || self.prot != other.prot || self.max_prot != other.max_prot || self.name != other.name {
            return false;
        }
        match (&self.shared, &other.shared) {
            (None, None) => {}
            (Some(a), Some(b)) if Arc::ptr_eq(a, b) && self.shared_base + (self.end - self.start) / abi::PAGE_SIZE == other.shared_base => {}
            _ => return false,
        }
        match (&self.backing, &other.backing) {
            (Backing::Anon, Backing::Anon) => true,
            (Backing::File { file: a, offset: oa }, Backing::File { file: b, offset: ob }) => {
                Arc::ptr_eq(a, b) && oa + (self.end - self.start) == *ob
            }
            _ => false,
        }
    }
}
