//! The workload's address spaces.
//!
//! `MemoryManager` is the truth about an address space: its VMAs and which
//! memory-file frames back its pages. The platform's mappings are a cache of
//! it: `mm` never calls the platform itself but queues [`PlatformOp`]s that
//! the task applies to its context before switching back to the workload,
//! and answers faults with the mapping to install. So this module is
//! testable without any platform.
//!
//! Private pages are copy-on-write after fork: a frame referenced by more
//! than one address space is mapped read-only, and a write fault copies it.

mod fault;
mod io;
pub mod pgalloc;
pub mod shared_files;
pub mod vma;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use abi::{page_down, page_up, Errno, SysResult, PAGE_SIZE};
use platform::Prot;

pub use fault::FaultError;
pub use pgalloc::PageAllocator;
pub use vma::{Backing, MappedFile, SharedObject, Vma};

/// A change the platform must make to the context's mappings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlatformOp {
    Map { addr: u64, len: u64, prot: Prot, offset: u64 },
    Unmap { addr: u64, len: u64 },
    Protect { addr: u64, len: u64, prot: Prot },
}

/// Names one platform context's view of an address space.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ViewId(u64);

/// What one platform context has mapped, and what it must change.
#[derive(Default)]
pub(crate) struct View {
    /// Pages mapped in this context: page -> mapped writable.
    pub(crate) mapped: HashMap<u64, bool>,
    /// Changes not yet applied to this context.
    pub(crate) ops: Vec<PlatformOp>,
    /// Wakes the context out of the workload so it applies `ops`.
    pub(crate) kick: Option<Arc<dyn platform::Interrupter>>,
    /// Ops that remove access were queued since the last kick.
    pub(crate) needs_kick: bool,
}

/// See `MmState::deferred`.
struct Deferred {
    frames: Vec<u64>,
    objects: Vec<Arc<SharedObject>>,
    waiting: std::collections::HashSet<ViewId>,
}

/// Default stack size (RLIMIT_STACK soft limit).
pub const STACK_SIZE: u64 = 8 << 20;

/// An address space.
pub struct MemoryManager {
    pages: Arc<PageAllocator>,
    state: Mutex<MmState>,
    /// Number of attached contexts (read without the lock on the syscall
    /// path: only shared address spaces need `kick_others`).
    nviews: std::sync::atomic::AtomicUsize,
}

pub(crate) struct MmState {
    /// VMAs by start address; non-overlapping.
    pub(crate) vmas: BTreeMap<u64, Vma>,
    /// Private pages: page address -> frame.
    pub(crate) private: BTreeMap<u64, u64>,
    /// One view per platform context running in this address space.
    pub(crate) views: HashMap<ViewId, View>,
    next_view: u64,
    /// Frames and shared objects released while other contexts may still
    /// map them: held until every such context has taken its pending ops
    /// (which unmap them), so a sibling thread never touches a frame that
    /// was already handed to someone else.
    deferred: Vec<Deferred>,
    /// The last deferred batch may still grow (no view took ops since).
    batch_open: bool,
    pub(crate) user_lo: u64,
    pub(crate) user_hi: u64,
    /// Where top-down mmap placement starts.
    pub(crate) mmap_base: u64,
    pub(crate) brk_start: u64,
    pub(crate) brk: u64,
    /// Argument and environment block, for /proc/self/{cmdline,environ}.
    pub(crate) arg_range: (u64, u64),
    pub(crate) env_range: (u64, u64),
}

/// MAP_* flags the Sentry understands.
pub mod flags {
    pub const MAP_SHARED: u32 = libc::MAP_SHARED as u32;
    pub const MAP_PRIVATE: u32 = libc::MAP_PRIVATE as u32;
    pub const MAP_SHARED_VALIDATE: u32 = 0x03;
    pub const MAP_FIXED: u32 = libc::MAP_FIXED as u32;
    pub const MAP_ANONYMOUS: u32 = libc::MAP_ANONYMOUS as u32;
    pub const MAP_FIXED_NOREPLACE: u32 = libc::MAP_FIXED_NOREPLACE as u32;
    pub const MAP_GROWSDOWN: u32 = libc::MAP_GROWSDOWN as u32;
    pub const MAP_STACK: u32 = libc::MAP_STACK as u32;
    pub const MAP_NORESERVE: u32 = libc::MAP_NORESERVE as u32;
    pub const MAP_POPULATE: u32 = libc::MAP_POPULATE as u32;
    pub const MAP_DENYWRITE: u32 = libc::MAP_DENYWRITE as u32;
    pub const MAP_EXECUTABLE: u32 = libc::MAP_EXECUTABLE as u32;
    pub const MAP_LOCKED: u32 = libc::MAP_LOCKED as u32;
    pub const MAP_NONBLOCK: u32 = libc::MAP_NONBLOCK as u32;
    pub const MAP_HUGETLB: u32 = libc::MAP_HUGETLB as u32;
    pub const MAP_32BIT: u32 = libc::MAP_32BIT as u32;
}

/// A request to map memory.
pub struct MmapRequest {
    pub addr: u64,
    pub len: u64,
    pub prot: Prot,
    pub max_prot: Prot,
    pub fixed: bool,
    pub noreplace: bool,
    pub shared: bool,
    pub backing: Backing,
    pub name: Option<&'static str>,
}

impl MemoryManager {
    /// An empty address space over `[user_lo, user_hi)`.
    pub fn new(pages: Arc<PageAllocator>, user_lo: u64, user_hi: u64) -> MemoryManager {
        // Stack at the top (below a guard), mmap area below the stack gap.
        let mmap_base = page_down(user_hi.saturating_sub(STACK_SIZE + (1 << 30)));
        MemoryManager {
            pages,
            state: Mutex::new(MmState {
                vmas: BTreeMap::new(),
                private: BTreeMap::new(),
                views: HashMap::new(),
                next_view: 0,
                deferred: Vec::new(),
                batch_open: false,
                user_lo,
                user_hi,
                mmap_base,
                brk_start: 0,
                brk: 0,
                arg_range: (0, 0),
                env_range: (0, 0),
            }),
            nviews: 0.into(),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, MmState> {
        // A poisoned lock means a Sentry bug already killed one task; the
        // state itself is consistent between operations, so carry on.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn allocator(&self) -> &Arc<PageAllocator> {
        &self.pages
    }

    /// Register a platform context that will run in this address space.
    /// Its first op clears whatever the context had mapped before (exec
    /// reuses the context with a new address space).
    pub fn attach(&self, kick: Option<Arc<dyn platform::Interrupter>>) -> ViewId {
        let mut st = self.lock();
        let id = ViewId(st.next_view);
        st.next_view += 1;
        let (lo, hi) = (st.user_lo, st.user_hi);
        st.views.insert(id, View { mapped: HashMap::new(), ops: vec![PlatformOp::Unmap { addr: lo, len: hi - lo }], kick, needs_kick: false });
        self.nviews.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        id
    }

    /// The context left this address space.
    pub fn detach(&self, view: ViewId) {
        let mut st = self.lock();
        if st.views.remove(&view).is_some() {
            self.nviews.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        }
        st.view_caught_up(&self.pages, view);
    }

    /// After a change by the context `me`, interrupt the other contexts
    /// running in this address space that must drop mappings, so no thread
    /// keeps using memory another thread unmapped. Cheap when the address
    /// space has one context.
    pub fn kick_others(&self, me: ViewId) {
        if self.nviews.load(std::sync::atomic::Ordering::Relaxed) < 2 {
            return;
        }
        let mut st = self.lock();
        for (id, v) in st.views.iter_mut() {
            if *id != me && v.needs_kick {
                v.needs_kick = false;
                if let Some(k) = &v.kick {
                    k.interrupt();
                }
            }
        }
    }

    /// The changes a context must apply before the workload runs again.
    pub fn take_ops(&self, view: ViewId) -> Vec<PlatformOp> {
        let mut st = self.lock();
        let ops = st.views.get_mut(&view).map(|v| std::mem::take(&mut v.ops)).unwrap_or_default();
        if !st.deferred.is_empty() {
            st.view_caught_up(&self.pages, view);
        }
        ops
    }

    /// Top of the user address range (the stack goes below it).
    pub fn user_hi(&self) -> u64 {
        self.lock().user_hi
    }

    /// Map memory (the mmap syscall, and the loader). Returns the address.
    pub fn mmap(&self, req: MmapRequest) -> SysResult<u64> {
        if req.len == 0 {
            return Err(Errno::EINVAL);
        }
        let len = page_up(req.len).ok_or(Errno::ENOMEM)?;
        let mut st = self.lock();
        let addr = if req.fixed || req.noreplace {
            if req.addr % PAGE_SIZE != 0 {
                return Err(Errno::EINVAL);
            }
            let end = req.addr.checked_add(len).ok_or(Errno::ENOMEM)?;
            if req.addr < st.user_lo || end > st.user_hi {
                return Err(Errno::ENOMEM);
            }
            if req.noreplace && st.overlaps(req.addr, end) {
                return Err(Errno::EEXIST);
            }
            st.remove_range(&self.pages, req.addr, end);
            req.addr
        } else {
            // A hint is honoured when the range is free.
            let hint = page_down(req.addr);
            match hint.checked_add(len) {
                Some(end) if hint >= st.user_lo && end <= st.user_hi && !st.overlaps(hint, end) && hint != 0 => hint,
                _ => st.find_gap(len).ok_or(Errno::ENOMEM)?,
            }
        };
        let shared = req.shared.then(|| match &req.backing {
            // One object per file: every shared mapping of it, in any
            // process, sees the same pages.
            Backing::File { file, .. } => {
                let key = file.dev_ino();
                let obj = shared_files::get_or_insert(key, || SharedObject {
                    pages: Mutex::new(HashMap::new()),
                    file: Some(file.clone()),
                    alloc: self.pages.clone(),
                    key: Some(key),
                    writer: Mutex::new(None),
                });
                if req.max_prot.contains(Prot::WRITE) {
                    shared_files::add_writer(&obj, file);
                }
                obj
            }
            Backing::Anon => Arc::new(SharedObject {
                pages: Mutex::new(HashMap::new()),
                file: None,
                alloc: self.pages.clone(),
                key: None,
                writer: Mutex::new(None),
            }),
        });
        let shared_base = match &req.backing {
            Backing::File { offset, .. } => offset / PAGE_SIZE,
            Backing::Anon => 0,
        };
        st.insert(Vma {
            start: addr,
            end: addr + len,
            prot: req.prot,
            max_prot: req.max_prot,
            backing: req.backing,
            shared,
            shared_base,
            name: req.name,
        });
        Ok(addr)
    }

    /// Unmap `[addr, addr+len)`.
    pub fn munmap(&self, addr: u64, len: u64) -> SysResult<()> {
        if addr % PAGE_SIZE != 0 || len == 0 {
            return Err(Errno::EINVAL);
        }
        let end = page_up(len).and_then(|l| addr.checked_add(l)).ok_or(Errno::EINVAL)?;
        let mut st = self.lock();
        if end > st.user_hi {
            return Err(Errno::EINVAL);
        }
        st.remove_range(&self.pages, addr, end);
        Ok(())
    }

    /// Change protections (mprotect).
    pub fn mprotect(&self, addr: u64, len: u64, prot: Prot) -> SysResult<()> {
        if addr % PAGE_SIZE != 0 {
            return Err(Errno::EINVAL);
        }
        let end = page_up(len).and_then(|l| addr.checked_add(l)).ok_or(Errno::ENOMEM)?;
        if len == 0 {
            return Ok(());
        }
        let mut st = self.lock();
        // Every page of the range must be mapped.
        if !st.fully_mapped(addr, end) {
            return Err(Errno::ENOMEM);
        }
        if st.vmas_in(addr, end).iter().any(|v| !v.max_prot.contains(prot)) {
            return Err(Errno::EACCES);
        }
        st.split_at(addr);
        st.split_at(end);
        let keys: Vec<u64> = st.vmas.range(addr..end).map(|(k, _)| *k).collect();
        for k in keys {
            st.vmas.get_mut(&k).unwrap().prot = prot;
        }
        st.merge_around(addr, end);
        // Drop the platform's mappings so the next access refaults with the
        // new protection.
        st.unmap_platform(addr, end);
        Ok(())
    }

    /// brk: returns the new (or unchanged) break.
    pub fn brk(&self, addr: u64) -> u64 {
        let mut st = self.lock();
        let cur = st.brk;
        if addr < st.brk_start {
            return cur;
        }
        let old_top = page_up(cur).unwrap_or(cur);
        let new_top = match page_up(addr) {
            Some(t) => t,
            None => return cur,
        };
        if new_top > old_top {
            if new_top > st.mmap_base.min(st.user_hi) || st.overlaps(old_top, new_top) {
                return cur;
            }
            st.insert(Vma {
                start: old_top,
                end: new_top,
                prot: Prot::READ | Prot::WRITE,
                max_prot: Prot::all(),
                backing: Backing::Anon,
                shared: None,
                shared_base: 0,
                name: Some("[heap]"),
            });
        } else if new_top < old_top {
            st.remove_range(&self.pages, new_top, old_top);
        }
        st.brk = addr;
        addr
    }

    /// Set where the heap starts (by the loader).
    pub fn set_brk_start(&self, addr: u64) {
        let mut st = self.lock();
        st.brk_start = addr;
        st.brk = addr;
    }

    pub fn set_arg_env(&self, args: (u64, u64), env: (u64, u64)) {
        let mut st = self.lock();
        st.arg_range = args;
        st.env_range = env;
    }

    pub fn arg_env(&self) -> ((u64, u64), (u64, u64)) {
        let st = self.lock();
        (st.arg_range, st.env_range)
    }

    /// madvise(MADV_DONTNEED): private pages read back as zero (or file
    /// contents); shared pages are kept.
    pub fn madvise_dontneed(&self, addr: u64, len: u64) -> SysResult<()> {
        if addr % PAGE_SIZE != 0 {
            return Err(Errno::EINVAL);
        }
        let end = page_up(len).and_then(|l| addr.checked_add(l)).ok_or(Errno::EINVAL)?;
        let mut st = self.lock();
        if !st.fully_mapped(addr, end) {
            return Err(Errno::ENOMEM);
        }
        st.drop_private_pages(&self.pages, addr, end);
        st.unmap_platform(addr, end);
        Ok(())
    }

    /// mremap.
    pub fn mremap(&self, old: u64, old_len: u64, new_len: u64, may_move: bool, fixed: Option<u64>) -> SysResult<u64> {
        if old % PAGE_SIZE != 0 || new_len == 0 {
            return Err(Errno::EINVAL);
        }
        let old_len = page_up(old_len).ok_or(Errno::EINVAL)?;
        let new_len = page_up(new_len).ok_or(Errno::EINVAL)?;
        let mut st = self.lock();
        let old_end = old.checked_add(old_len).ok_or(Errno::EINVAL)?;
        // The old range must lie within one VMA.
        let vma = st.vma_at(old).cloned().ok_or(Errno::EFAULT)?;
        if old_end > vma.end {
            return Err(Errno::EFAULT);
        }
        if let Some(dst) = fixed {
            if dst % PAGE_SIZE != 0 {
                return Err(Errno::EINVAL);
            }
            let dst_end = dst.checked_add(new_len).ok_or(Errno::EINVAL)?;
            if dst < old_end && old < dst_end {
                return Err(Errno::EINVAL);
            }
            if dst < st.user_lo || dst_end > st.user_hi {
                return Err(Errno::EINVAL);
            }
            st.remove_range(&self.pages, dst, dst_end);
            st.move_range(&self.pages, &vma, old, old_len, dst, new_len);
            return Ok(dst);
        }
        if new_len <= old_len {
            st.remove_range(&self.pages, old + new_len, old_end);
            return Ok(old);
        }
        // Grow in place if the following range is free.
        let grow_end = old.checked_add(new_len).ok_or(Errno::ENOMEM)?;
        if old_end == vma.end && grow_end <= st.user_hi && !st.overlaps(old_end, grow_end) {
            let ext = vma.slice(vma.start, vma.end);
            let mut ext = ext;
            // Extend by creating the continuation VMA; merge joins them.
            let base = vma.end;
            ext = Vma {
                start: base,
                end: grow_end,
                backing: match &ext.backing {
                    Backing::File { file, offset } => Backing::File { file: file.clone(), offset: offset + (base - vma.start) },
                    Backing::Anon => Backing::Anon,
                },
                shared_base: ext.shared_base + (base - vma.start) / PAGE_SIZE,
                ..ext
            };
            st.insert(ext);
            return Ok(old);
        }
        if !may_move {
            return Err(Errno::ENOMEM);
        }
        let dst = st.find_gap(new_len).ok_or(Errno::ENOMEM)?;
        st.move_range(&self.pages, &vma, old, old_len, dst, new_len);
        Ok(dst)
    }

    /// Write back dirty pages of shared file mappings in the range (msync),
    /// or of all of them.
    pub fn msync(&self, addr: u64, len: u64) -> SysResult<()> {
        if addr % PAGE_SIZE != 0 {
            return Err(Errno::EINVAL);
        }
        let end = page_up(len).and_then(|l| addr.checked_add(l)).ok_or(Errno::ENOMEM)?;
        let st = self.lock();
        if !st.fully_mapped(addr, end) {
            return Err(Errno::ENOMEM);
        }
        for v in st.vmas_in(addr, end) {
            writeback(&self.pages, &v, addr.max(v.start), end.min(v.end));
        }
        Ok(())
    }

    /// A copy of this address space for fork: private pages become shared
    /// copy-on-write, shared mappings stay shared.
    pub fn fork(&self) -> MemoryManager {
        let mut st = self.lock();
        for &frame in st.private.values() {
            self.pages.incref(frame);
        }
        // Writable mappings of now-shared frames must become read-only.
        let st = &mut *st;
        for view in st.views.values_mut() {
            let writable: Vec<u64> =
                view.mapped.iter().filter(|(p, w)| **w && st.private.contains_key(p)).map(|(p, _)| *p).collect();
            for p in writable {
                let prot = vma_at(&st.vmas, p).map(|v| v.prot - Prot::WRITE).unwrap_or(Prot::empty());
                view.mapped.insert(p, false);
                view.ops.push(PlatformOp::Protect { addr: p, len: PAGE_SIZE, prot });
                view.needs_kick = true;
            }
        }
        let child = MmState {
            vmas: st.vmas.clone(),
            private: st.private.clone(),
            views: HashMap::new(),
            next_view: 0,
            deferred: Vec::new(),
            batch_open: false,
            user_lo: st.user_lo,
            user_hi: st.user_hi,
            mmap_base: st.mmap_base,
            brk_start: st.brk_start,
            brk: st.brk,
            arg_range: st.arg_range,
            env_range: st.env_range,
        };
        MemoryManager { pages: self.pages.clone(), state: Mutex::new(child), nviews: 0.into() }
    }

    /// Whether every page of `[addr, addr+len)` is mapped.
    pub fn is_mapped(&self, addr: u64, len: u64) -> bool {
        match addr.checked_add(len) {
            Some(end) => self.lock().fully_mapped(addr, end),
            None => false,
        }
    }

    /// For a futex on a MAP_SHARED mapping: (shared object identity, byte
    /// offset in it).
    pub fn shared_key(&self, addr: u64) -> Option<(usize, u64)> {
        let st = self.lock();
        let v = st.vma_at(addr)?;
        let obj = v.shared.as_ref()?;
        Some((Arc::as_ptr(obj) as usize, v.shared_base * PAGE_SIZE + (addr - v.start)))
    }

    /// The text of /proc/self/maps.
    pub fn maps_text(&self) -> String {
        use std::fmt::Write;
        let st = self.lock();
        let mut out = String::new();
        for v in st.vmas.values() {
            let p = |b: bool, c: char| if b { c } else { '-' };
            let (off, dev, ino, name) = match &v.backing {
                Backing::File { file, offset } => {
                    let (d, i) = file.dev_ino();
                    (*offset, d, i, file.describe())
                }
                Backing::Anon => (0, 0, 0, v.name.unwrap_or("").to_string()),
            };
            let _ = write!(
                out,
                "{:08x}-{:08x} {}{}{}{} {:08x} {:02x}:{:02x} {:<10}",
                v.start,
                v.end,
                p(v.prot.contains(Prot::READ), 'r'),
                p(v.prot.contains(Prot::WRITE), 'w'),
                p(v.prot.contains(Prot::EXEC), 'x'),
                if v.shared.is_some() { 's' } else { 'p' },
                off,
                (dev >> 8) & 0xfff,
                dev & 0xff,
                ino,
            );
            if name.is_empty() {
                out.push('\n');
            } else {
                let _ = writeln!(out, " {name}");
            }
        }
        out
    }

    /// Total mapped bytes (VmSize).
    pub fn vm_size(&self) -> u64 {
        self.lock().vmas.values().map(|v| v.end - v.start).sum()
    }

    /// Resident private bytes (approximate VmRSS).
    pub fn rss(&self) -> u64 {
        self.lock().private.len() as u64 * PAGE_SIZE
    }
}

impl Drop for MemoryManager {
    fn drop(&mut self) {
        let st = self.state.get_mut().unwrap();
        for v in st.vmas.values() {
            writeback(&self.pages, v, v.start, v.end);
        }
        for &frame in st.private.values() {
            self.pages.decref(frame);
        }
        st.private.clear();
        for d in std::mem::take(&mut st.deferred) {
            for f in d.frames {
                self.pages.decref(f);
            }
        }
    }
}

/// Write dirty pages of a shared file mapping back to the file. Every
/// present page is written (no dirty tracking yet).
fn writeback(pages: &PageAllocator, v: &Vma, start: u64, end: u64) {
    let (Some(obj), Backing::File { file, .. }) = (&v.shared, &v.backing) else { return };
    let map = obj.pages.lock().unwrap_or_else(|e| e.into_inner());
    let (first, last) = (v.shared_base + (start - v.start) / PAGE_SIZE, v.shared_base + (end - v.start) / PAGE_SIZE);
    vma::write_back(pages, file.as_ref(), (first..last).filter_map(|i| map.get(&i).map(|f| (i, *f))));
}

fn vma_at(vmas: &BTreeMap<u64, Vma>, addr: u64) -> Option<&Vma> {
    vmas.range(..=addr).next_back().map(|(_, v)| v).filter(|v| addr < v.end)
}

impl MmState {
    pub(crate) fn vma_at(&self, addr: u64) -> Option<&Vma> {
        vma_at(&self.vmas, addr)
    }

    fn overlaps(&self, start: u64, end: u64) -> bool {
        if let Some(v) = self.vmas.range(..end).next_back() {
            return v.1.end > start;
        }
        false
    }

    fn vmas_in(&self, start: u64, end: u64) -> Vec<Vma> {
        let mut out: Vec<Vma> = Vec::new();
        if let Some(v) = self.vma_at(start) {
            out.push(v.clone());
        }
        for (_, v) in self.vmas.range(start..end) {
            if v.start != start {
                out.push(v.clone());
            }
        }
        out
    }

    fn fully_mapped(&self, start: u64, end: u64) -> bool {
        let mut a = start;
        while a < end {
            match self.vma_at(a) {
                Some(v) => a = v.end,
                None => return false,
            }
        }
        true
    }

    /// Highest free range of `len` bytes below mmap_base (top-down), else
    /// anywhere above user_lo.
    fn find_gap(&self, len: u64) -> Option<u64> {
        if len == 0 || len > self.user_hi - self.user_lo {
            return None;
        }
        let mut top = self.mmap_base;
        for (_, v) in self.vmas.range(..self.mmap_base).rev() {
            if v.end <= top && top - v.end >= len {
                return Some(top - len);
            }
            top = top.min(v.start);
        }
        if top >= self.user_lo.checked_add(len)? {
            return Some(top - len);
        }
        // Above mmap_base (between the last VMA and the stack).
        let mut lo = self.mmap_base;
        for (_, v) in self.vmas.range(self.mmap_base..) {
            if v.start >= lo.checked_add(len)? {
                return Some(lo);
            }
            lo = lo.max(v.end);
        }
        (self.user_hi >= lo.checked_add(len)?).then_some(lo)
    }

    /// Split the VMA containing `addr` (if any) so one starts at `addr`.
    fn split_at(&mut self, addr: u64) {
        let Some(v) = self.vma_at(addr).cloned() else { return };
        if v.start == addr {
            return;
        }
        self.vmas.insert(v.start, v.slice(v.start, addr));
        self.vmas.insert(addr, v.slice(addr, v.end));
    }

    fn insert(&mut self, v: Vma) {
        let (s, e) = (v.start, v.end);
        self.vmas.insert(s, v);
        self.merge_around(s, e);
    }

    /// Merge VMAs around `[start, end)` with their neighbours where equal.
    fn merge_around(&mut self, start: u64, end: u64) {
        let lo = self.vmas.range(..start).next_back().map(|(k, _)| *k).unwrap_or(start);
        let mut keys: Vec<u64> = self.vmas.range(lo..=end).map(|(k, _)| *k).collect();
        keys.dedup();
        let mut i = 0;
        while i + 1 < keys.len() {
            let (a, b) = (keys[i], keys[i + 1]);
            let merge = {
                let va = &self.vmas[&a];
                let vb = &self.vmas[&b];
                va.can_merge(vb)
            };
            if merge {
                let vb = self.vmas.remove(&b).unwrap();
                self.vmas.get_mut(&a).unwrap().end = vb.end;
                keys.remove(i + 1);
            } else {
                i += 1;
            }
        }
    }

    /// Queue removal of every context's mappings of `[start, end)`.
    pub(crate) fn unmap_platform(&mut self, start: u64, end: u64) {
        if start >= end {
            return;
        }
        for view in self.views.values_mut() {
            if (end - start) / PAGE_SIZE < view.mapped.len() as u64 {
                let mut a = start;
                while a < end {
                    view.mapped.remove(&a);
                    a += PAGE_SIZE;
                }
            } else {
                view.mapped.retain(|p, _| *p < start || *p >= end);
            }
            view.ops.push(PlatformOp::Unmap { addr: start, len: end - start });
            view.needs_kick = true;
        }
    }

    fn drop_private_pages(&mut self, pages: &PageAllocator, start: u64, end: u64) {
        let keys: Vec<u64> = self.private.range(start..end).map(|(k, _)| *k).collect();
        for k in keys {
            if let Some(f) = self.private.remove(&k) {
                self.release(pages, f);
            }
        }
    }

    /// Drop a reference to a frame this address space no longer maps. With
    /// several contexts, other threads may still have it mapped until they
    /// apply their ops: the release waits for them.
    pub(crate) fn release(&mut self, pages: &PageAllocator, frame: u64) {
        if self.views.len() <= 1 {
            pages.decref(frame);
            return;
        }
        self.open_batch().frames.push(frame);
    }

    /// Keep a shared object alive until the other contexts caught up.
    fn release_object(&mut self, obj: Arc<SharedObject>) {
        if self.views.len() > 1 {
            self.open_batch().objects.push(obj);
        }
    }

    fn open_batch(&mut self) -> &mut Deferred {
        if !self.batch_open || self.deferred.is_empty() {
            let waiting = self.views.keys().copied().collect();
            self.deferred.push(Deferred { frames: Vec::new(), objects: Vec::new(), waiting });
            self.batch_open = true;
        }
        self.deferred.last_mut().unwrap()
    }

    /// `view` has taken (and will apply before running) every op queued so
    /// far: it no longer waits on any deferred release.
    fn view_caught_up(&mut self, pages: &PageAllocator, view: ViewId) {
        self.batch_open = false;
        for d in &mut self.deferred {
            d.waiting.remove(&view);
        }
        let (done, keep): (Vec<Deferred>, Vec<Deferred>) = std::mem::take(&mut self.deferred).into_iter().partition(|d| d.waiting.is_empty());
        self.deferred = keep;
        for d in done {
            for f in d.frames {
                pages.decref(f);
            }
            drop(d.objects);
        }
    }

    /// Remove every mapping in `[start, end)`.
    fn remove_range(&mut self, pages: &PageAllocator, start: u64, end: u64) {
        if start >= end {
            return;
        }
        self.split_at(start);
        self.split_at(end);
        let keys: Vec<u64> = self.vmas.range(start..end).map(|(k, _)| *k).collect();
        for k in keys {
            if let Some(v) = self.vmas.remove(&k) {
                writeback(pages, &v, v.start, v.end);
                if let Some(obj) = v.shared {
                    self.release_object(obj);
                }
            }
        }
        self.drop_private_pages(pages, start, end);
        self.unmap_platform(start, end);
    }

    /// Move `[old, old+old_len)` of `vma` to `dst` with size `new_len`.
    fn move_range(&mut self, pages: &PageAllocator, vma: &Vma, old: u64, old_len: u64, dst: u64, new_len: u64) {
        let keep = old_len.min(new_len);
        let mut moved = vma.slice(old, old + keep);
        // Re-home the private pages.
        let frames: Vec<(u64, u64)> = self.private.range(old..old + old_len).map(|(k, f)| (*k, *f)).collect();
        for (k, _) in &frames {
            self.private.remove(k);
        }
        self.split_at(old);
        self.split_at(old + old_len);
        let keys: Vec<u64> = self.vmas.range(old..old + old_len).map(|(k, _)| *k).collect();
        for k in keys {
            self.vmas.remove(&k);
        }
        self.unmap_platform(old, old + old_len);
        for (k, f) in frames {
            if k < old + keep {
                self.private.insert(dst + (k - old), f);
            } else {
                self.release(pages, f);
            }
        }
        let delta_pages = (new_len.saturating_sub(keep)) / PAGE_SIZE;
        moved.start = dst;
        moved.end = dst + keep + delta_pages * PAGE_SIZE;
        self.insert(moved);
    }
}

#[cfg(test)]
mod tests;
