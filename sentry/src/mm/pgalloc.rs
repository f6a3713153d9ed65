//! Frames of the memory file: allocation and reference counts.
//!
//! A frame is one page of the memory file, named by its byte offset. Private
//! pages shared copy-on-write after fork, and pages of shared mappings, are
//! the same frame referenced more than once.

use std::sync::{Arc, Mutex};

use abi::{Errno, SysResult, PAGE_SIZE};
use platform::MemoryFile;

/// The frame allocator over one memory file.
pub struct PageAllocator {
    mem: Arc<MemoryFile>,
    inner: Mutex<Inner>,
}

struct Inner {
    /// First never-allocated frame offset.
    next: u64,
    /// Freed frames ready for reuse.
    free: Vec<u64>,
    /// Reference count per frame index (offset / PAGE_SIZE).
    refs: Vec<u32>,
    /// Frames in use (for /proc/meminfo and limits).
    used: u64,
}

impl PageAllocator {
    pub fn new(mem: Arc<MemoryFile>) -> PageAllocator {
        PageAllocator {
            mem,
            inner: Mutex::new(Inner { next: 0, free: Vec::new(), refs: Vec::new(), used: 0 }),
        }
    }

    pub fn mem(&self) -> &Arc<MemoryFile> {
        &self.mem
    }

    /// A zeroed frame with one reference.
    pub fn alloc(&self) -> SysResult<u64> {
        let mut g = self.inner.lock().unwrap();
        let off = match g.free.pop() {
            Some(off) => off,
            None => {
                if g.next + PAGE_SIZE > self.mem.size() {
                    return Err(Errno::ENOMEM);
                }
                let off = g.next;
                g.next += PAGE_SIZE;
                off
            }
        };
        let idx = (off / PAGE_SIZE) as usize;
        if g.refs.len() <= idx {
            g.refs.resize(idx + 1024, 0);
        }
        g.refs[idx] = 1;
        g.used += 1;
        Ok(off)
    }

    /// Add a reference to a frame.
    pub fn incref(&self, off: u64) {
        let mut g = self.inner.lock().unwrap();
        g.refs[(off / PAGE_SIZE) as usize] += 1;
    }

    /// Drop a reference; the frame is released (and its memory returned to
    /// the host) when the last one goes.
    pub fn decref(&self, off: u64) {
        let mut g = self.inner.lock().unwrap();
        let r = &mut g.refs[(off / PAGE_SIZE) as usize];
        debug_assert!(*r > 0, "frame {off:#x} over-released");
        *r -= 1;
        if *r == 0 {
            g.used -= 1;
            drop(g);
            // Zero it before anyone can allocate it again: `alloc` promises
            // zeroed frames, and zeroing after the frame is handed out would
            // wipe its new owner's data.
            self.mem.decommit(off, PAGE_SIZE);
            self.inner.lock().unwrap().free.push(off);
        }
    }

    /// Current number of references to a frame.
    pub fn refcount(&self, off: u64) -> u32 {
        let g = self.inner.lock().unwrap();
        g.refs[(off / PAGE_SIZE) as usize]
    }

    /// Bytes of workload memory in use.
    pub fn used_bytes(&self) -> u64 {
        self.inner.lock().unwrap().used * PAGE_SIZE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alloc_free_reuse_zeroed() {
        let pa = PageAllocator::new(Arc::new(MemoryFile::new(1 << 24).unwrap()));
        let a = pa.alloc().unwrap();
        pa.mem().write(a, b"dirty");
        pa.incref(a);
        assert_eq!(pa.refcount(a), 2);
        pa.decref(a);
        pa.decref(a);
        let b = pa.alloc().unwrap();
        assert_eq!(a, b, "freed frame is reused");
        let mut buf = [1u8; 5];
        pa.mem().read(b, &mut buf);
        assert_eq!(buf, [0; 5], "reused frame is zeroed");
        assert_eq!(pa.used_bytes(), PAGE_SIZE);
    }

    /// Regression: a frame freed on one thread and allocated on another was
    /// zeroed after its new owner had written to it (seen as random
    /// SIGSEGVs under parallel load).
    #[test]
    fn freed_frame_is_never_zeroed_under_its_new_owner() {
        let pa = Arc::new(PageAllocator::new(Arc::new(MemoryFile::new(1 << 22).unwrap())));
        let threads: Vec<_> = (0..4u8)
            .map(|id| {
                let pa = pa.clone();
                std::thread::spawn(move || {
                    for _ in 0..2000 {
                        let f = pa.alloc().unwrap();
                        pa.mem().write(f, &[id + 1; 64]);
                        // Keep looking while other threads free frames.
                        for _ in 0..200 {
                            let mut b = [0u8; 64];
                            pa.mem().read(f, &mut b);
                            assert_eq!(b, [id + 1; 64], "frame {f:#x} changed under its owner");
                        }
                        pa.decref(f);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    }

    #[test]
    fn exhaustion_is_enomem() {
        let pa = PageAllocator::new(Arc::new(MemoryFile::new(2 * PAGE_SIZE).unwrap()));
        pa.alloc().unwrap();
        pa.alloc().unwrap();
        assert_eq!(pa.alloc(), Err(Errno::ENOMEM));
    }
}
