use std::sync::Arc;

use abi::{Errno, PAGE_SIZE};
use platform::{Access, MemoryFile, Prot};

use super::*;

const LO: u64 = 0x10000;
const HI: u64 = 0x7fff_0000_0000;

fn mm() -> MemoryManager {
    let pa = Arc::new(PageAllocator::new(Arc::new(MemoryFile::new(1 << 30).unwrap())));
    MemoryManager::new(pa, LO, HI)
}

fn view(m: &MemoryManager) -> ViewId {
    let v = m.attach(None);
    m.take_ops(v);
    v
}

fn anon(m: &MemoryManager, addr: u64, len: u64, prot: Prot, fixed: bool) -> SysResult<u64> {
    m.mmap(MmapRequest {
        addr,
        len,
        prot,
        max_prot: Prot::all(),
        fixed,
        noreplace: false,
        shared: false,
        backing: Backing::Anon,
        name: None,
    })
}

const RW: Prot = Prot::READ.union(Prot::WRITE);
const UNKNOWN: Access = Access { read: true, write: true, exec: false };

#[test]
fn anon_copy_roundtrip_and_efault() {
    let m = mm();
    let a = anon(&m, 0, 3 * PAGE_SIZE, RW, false).unwrap();
    m.copy_out(a + PAGE_SIZE - 2, b"span").unwrap();
    let mut b = [0u8; 4];
    m.copy_in(a + PAGE_SIZE - 2, &mut b).unwrap();
    assert_eq!(&b, b"span");
    assert_eq!(m.copy_in(a + 3 * PAGE_SIZE, &mut b), Err(Errno::EFAULT));
    assert_eq!(m.copy_in(u64::MAX - 1, &mut b), Err(Errno::EFAULT));
}

#[test]
fn read_only_mapping_rejects_copy_out() {
    let m = mm();
    let a = anon(&m, 0, PAGE_SIZE, Prot::READ, false).unwrap();
    assert_eq!(m.copy_out(a, b"x"), Err(Errno::EFAULT));
    let v = view(&m);
    assert_eq!(m.handle_fault(v, a, Access { read: false, write: true, exec: false }), Err(FaultError::AccErr));
}

#[test]
fn fault_maps_page_then_second_fault_is_write() {
    let m = mm();
    let a = anon(&m, 0, PAGE_SIZE, Prot::READ, false).unwrap();
    let v = view(&m);
    m.handle_fault(v, a, UNKNOWN).unwrap();
    let ops = m.take_ops(v);
    assert!(matches!(ops[..], [PlatformOp::Map { addr, prot: Prot::READ, .. }] if addr == a));
    // Mapped read-only and faulting again: a write to a read-only VMA.
    assert_eq!(m.handle_fault(v, a, UNKNOWN), Err(FaultError::AccErr));
    assert_eq!(m.handle_fault(v, a + 10 * PAGE_SIZE, UNKNOWN), Err(FaultError::MapErr));
}

#[test]
fn fork_is_copy_on_write() {
    let m = mm();
    let a = anon(&m, 0, PAGE_SIZE, RW, false).unwrap();
    m.copy_out(a, b"parent").unwrap();
    let v = view(&m);
    m.handle_fault(v, a, UNKNOWN).unwrap();
    m.take_ops(v);
    let c = m.fork();
    // Parent's writable mapping is downgraded.
    assert!(matches!(m.take_ops(v)[..], [PlatformOp::Protect { prot: Prot::READ, .. }]));
    c.copy_out(a, b"child!").unwrap();
    let mut b = [0u8; 6];
    m.copy_in(a, &mut b).unwrap();
    assert_eq!(&b, b"parent");
    c.copy_in(a, &mut b).unwrap();
    assert_eq!(&b, b"child!");
    // The parent's next write fault (page mapped read-only) gets its own
    // frame back writable (refcount is 1 again after the child copied).
    m.handle_fault(v, a, UNKNOWN).unwrap();
    assert!(matches!(m.take_ops(v)[..], [PlatformOp::Map { prot: RW, .. }]));
}

#[test]
fn munmap_middle_splits_and_frees() {
    let m = mm();
    let a = anon(&m, 0, 3 * PAGE_SIZE, RW, false).unwrap();
    m.copy_out(a + PAGE_SIZE, b"x").unwrap();
    let used = m.allocator().used_bytes();
    m.munmap(a + PAGE_SIZE, PAGE_SIZE).unwrap();
    assert_eq!(m.allocator().used_bytes(), used - PAGE_SIZE);
    assert!(m.copy_out(a, b"y").is_ok());
    assert_eq!(m.copy_out(a + PAGE_SIZE, b"y"), Err(Errno::EFAULT));
    assert!(m.copy_out(a + 2 * PAGE_SIZE, b"y").is_ok());
    assert_eq!(m.lock().vmas.len(), 2);
}

#[test]
fn mprotect_splits_and_merges_back() {
    let m = mm();
    let a = anon(&m, 0, 3 * PAGE_SIZE, RW, false).unwrap();
    m.mprotect(a + PAGE_SIZE, PAGE_SIZE, Prot::READ).unwrap();
    assert_eq!(m.lock().vmas.len(), 3);
    assert_eq!(m.copy_out(a + PAGE_SIZE, b"z"), Err(Errno::EFAULT));
    m.mprotect(a + PAGE_SIZE, PAGE_SIZE, RW).unwrap();
    assert_eq!(m.lock().vmas.len(), 1);
    assert_eq!(m.mprotect(a + 5 * PAGE_SIZE, PAGE_SIZE, RW), Err(Errno::ENOMEM));
}

#[test]
fn brk_grows_and_shrinks() {
    let m = mm();
    m.set_brk_start(0x600000);
    assert_eq!(m.brk(0), 0x600000);
    assert_eq!(m.brk(0x600000 + 5000), 0x600000 + 5000);
    m.copy_out(0x600000 + 4999, b"a").unwrap();
    assert_eq!(m.brk(0x600000), 0x600000);
    assert_eq!(m.copy_out(0x600000 + 4999, b"a"), Err(Errno::EFAULT));
    // Below the start: unchanged.
    assert_eq!(m.brk(0x1000), 0x600000);
}

#[test]
fn mremap_moves_contents() {
    let m = mm();
    let a = anon(&m, 0, PAGE_SIZE, RW, false).unwrap();
    // Block growth in place.
    anon(&m, a + PAGE_SIZE, PAGE_SIZE, RW, true).unwrap();
    m.copy_out(a, b"keep").unwrap();
    assert_eq!(m.mremap(a, PAGE_SIZE, 2 * PAGE_SIZE, false, None), Err(Errno::ENOMEM));
    let n = m.mremap(a, PAGE_SIZE, 2 * PAGE_SIZE, true, None).unwrap();
    assert_ne!(n, a);
    let mut b = [0u8; 4];
    m.copy_in(n, &mut b).unwrap();
    assert_eq!(&b, b"keep");
    m.copy_out(n + PAGE_SIZE, b"more").unwrap();
    assert_eq!(m.copy_in(a, &mut b), Err(Errno::EFAULT));
}

#[test]
fn shared_anon_survives_fork() {
    let m = mm();
    let a = m
        .mmap(MmapRequest { addr: 0, len: PAGE_SIZE, prot: RW, max_prot: Prot::all(), fixed: false, noreplace: false, shared: true, backing: Backing::Anon, name: None })
        .unwrap();
    let c = m.fork();
    c.copy_out(a, b"shared").unwrap();
    let mut b = [0u8; 6];
    m.copy_in(a, &mut b).unwrap();
    assert_eq!(&b, b"shared");
}

#[test]
fn fixed_noreplace_and_cstring() {
    let m = mm();
    let a = anon(&m, 0, PAGE_SIZE, RW, false).unwrap();
    let r = m.mmap(MmapRequest { addr: a, len: PAGE_SIZE, prot: RW, max_prot: Prot::all(), fixed: false, noreplace: true, shared: false, backing: Backing::Anon, name: None });
    assert_eq!(r, Err(Errno::EEXIST));
    m.copy_out(a + PAGE_SIZE - 3, b"abc").unwrap();
    // No NUL before the end of the mapping.
    assert_eq!(m.read_cstring(a + PAGE_SIZE - 3, 100), Err(Errno::EFAULT));
    m.copy_out(a + 10, b"hello\0").unwrap();
    assert_eq!(m.read_cstring(a + 10, 100).unwrap(), b"hello");
    assert_eq!(m.read_cstring(a + 10, 3), Err(Errno::ENAMETOOLONG));
}

#[test]
fn views_are_independent() {
    let m = mm();
    let a = anon(&m, 0, PAGE_SIZE, RW, false).unwrap();
    let v1 = view(&m);
    let v2 = view(&m);
    m.handle_fault(v1, a, UNKNOWN).unwrap();
    assert_eq!(m.take_ops(v1).len(), 1);
    assert!(m.take_ops(v2).is_empty(), "a fault maps only in the faulting context");
    m.munmap(a, PAGE_SIZE).unwrap();
    assert!(matches!(m.take_ops(v1)[..], [PlatformOp::Unmap { .. }]));
    assert!(matches!(m.take_ops(v2)[..], [PlatformOp::Unmap { .. }]));
}

/// Regression: mmap of a huge length overflowed in the gap search and
/// panicked the Sentry (syscall-tests mmap.mmap_bad_fd_and_args).
#[test]
fn huge_lengths_are_enomem_not_panics() {
    let m = mm();
    for len in [u64::MAX, u64::MAX - 4095, 1 << 63, HI] {
        assert_eq!(anon(&m, 0, len, RW, false), Err(Errno::ENOMEM), "len {len:#x}");
        assert!(anon(&m, 0x10000, len, RW, true).is_err());
        assert!(m.mremap(0x10000, PAGE_SIZE, len, true, None).is_err());
    }
    let a = anon(&m, 0, PAGE_SIZE, RW, false).unwrap();
    assert!(m.mremap(a, PAGE_SIZE, u64::MAX - 4095, true, None).is_err());
    assert!(m.munmap(a, u64::MAX).is_err());
    assert!(m.mprotect(a, u64::MAX - 10, RW).is_err());
    assert!(m.madvise_dontneed(a, u64::MAX).is_err());
}

/// Regression (threads on kvm): a frame unmapped by one thread was reused
/// while a sibling thread's context still mapped it. With two contexts the
/// frame is released only after both took their ops.
#[test]
fn frames_unmapped_under_sibling_contexts_wait_for_them() {
    let m = mm();
    let a = anon(&m, 0, PAGE_SIZE, RW, false).unwrap();
    m.copy_out(a, b"x").unwrap();
    let v1 = view(&m);
    let v2 = view(&m);
    let used = m.allocator().used_bytes();
    m.munmap(a, PAGE_SIZE).unwrap();
    assert_eq!(m.allocator().used_bytes(), used, "released while contexts may still map it");
    m.take_ops(v1);
    assert_eq!(m.allocator().used_bytes(), used, "v2 has not caught up yet");
    m.take_ops(v2);
    assert_eq!(m.allocator().used_bytes(), used - PAGE_SIZE);
    // Detaching counts as catching up; a single context releases at once.
    let b = anon(&m, 0, PAGE_SIZE, RW, false).unwrap();
    m.copy_out(b, b"y").unwrap();
    m.munmap(b, PAGE_SIZE).unwrap();
    m.take_ops(v1);
    m.detach(v2);
    assert_eq!(m.allocator().used_bytes(), used - PAGE_SIZE);
    let c = anon(&m, 0, PAGE_SIZE, RW, false).unwrap();
    m.copy_out(c, b"z").unwrap();
    m.munmap(c, PAGE_SIZE).unwrap();
    assert_eq!(m.allocator().used_bytes(), used - PAGE_SIZE);
}

#[test]
fn shared_frames_are_freed_with_the_last_mapping() {
    let m = mm();
    let a = m
        .mmap(MmapRequest { addr: 0, len: 2 * PAGE_SIZE, prot: RW, max_prot: Prot::all(), fixed: false, noreplace: false, shared: true, backing: Backing::Anon, name: None })
        .unwrap();
    m.copy_out(a, b"s").unwrap();
    let c = m.fork();
    let used = m.allocator().used_bytes();
    m.munmap(a, 2 * PAGE_SIZE).unwrap();
    assert_eq!(m.allocator().used_bytes(), used, "the child still maps it");
    drop(c);
    assert_eq!(m.allocator().used_bytes(), used - PAGE_SIZE);
}
