//! Memory syscalls.

use abi::{Errno, SysResult, PAGE_SIZE};
use platform::Prot;

use super::{sc, Args, Entry};
use crate::mm::{flags::*, Backing, MmapRequest};
use crate::mmfile::FileMapping;
use crate::task::run::Thread;

pub static ENTRIES: &[Entry] = &[
    sc!(SYS_brk, brk),
    sc!(SYS_mmap, mmap, "MAP_SHARED file mappings are coherent within one mapping (and its forks), written back on msync/munmap/exit"),
    sc!(SYS_munmap, munmap),
    sc!(SYS_mprotect, mprotect),
    sc!(SYS_mremap, mremap),
    sc!(SYS_madvise, madvise, "DONTNEED drops private pages; other advice is accepted and ignored"),
    sc!(SYS_msync, msync),
    sc!(SYS_mincore, mincore, "reports every mapped page resident"),
    sc!(SYS_mlock, mlock, "accepted; memory is never swapped"),
    sc!(SYS_munlock, mlock, "accepted; memory is never swapped"),
    sc!(SYS_mlockall, mlockall, "accepted; memory is never swapped"),
    sc!(SYS_munlockall, mlockall, "accepted; memory is never swapped"),
];

fn brk(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let limit = t.task.tg.rlimit(libc::RLIMIT_AS as u32).cur;
    let cur = t.mm.brk(0);
    let want = a.u64(0);
    if limit != crate::task::RLIM_INFINITY && want > cur && t.mm.vm_size().saturating_add(want - cur) > limit {
        return Ok(cur);
    }
    Ok(t.mm.brk(want))
}

fn mmap(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let (addr, len, prot, flags, fd, off) = (a.u64(0), a.u64(1), a.u64(2), a.u32(3), a.i32(4), a.u64(5));
    let prot = Prot::from_bits(prot as u32).ok_or(Errno::EINVAL)?;
    if off % PAGE_SIZE != 0 || len == 0 {
        return Err(Errno::EINVAL);
    }
    let kind = flags & 0x3;
    let shared = match kind {
        MAP_SHARED | MAP_SHARED_VALIDATE => true,
        MAP_PRIVATE => false,
        _ => return Err(Errno::EINVAL),
    };
    let known = MAP_SHARED | MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE | MAP_GROWSDOWN | MAP_STACK | MAP_NORESERVE
        | MAP_POPULATE | MAP_DENYWRITE | MAP_EXECUTABLE | MAP_LOCKED | MAP_NONBLOCK | MAP_32BIT | 0x80000 /* MAP_SYNC */;
    if kind == MAP_SHARED_VALIDATE && flags & !known != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    if flags & MAP_HUGETLB != 0 {
        return Err(Errno::EINVAL);
    }
    let mut max_prot = Prot::all();
    let backing = if flags & MAP_ANONYMOUS != 0 {
        Backing::Anon
    } else {
        let file = t.task.files().get_io(fd)?;
        let st = file.stat()?;
        let is_zero = st.mode & libc::S_IFMT == libc::S_IFCHR && st.rdev == libc::makedev(1, 5);
        if is_zero {
            Backing::Anon
        } else {
            if st.mode & libc::S_IFMT != libc::S_IFREG {
                return Err(Errno::ENODEV);
            }
            if !file.readable() {
                return Err(Errno::EACCES);
            }
            if shared {
                if !file.writable() || file.flags() & libc::O_APPEND != 0 {
                    if prot.contains(Prot::WRITE) {
                        return Err(Errno::EACCES);
                    }
                    max_prot = Prot::READ | Prot::EXEC;
                }
            }
            let path = match file.location() {
                Some(loc) => String::from_utf8_lossy(&t.task.k.vfs.path_from(&t.task.fs_ctx().root, loc).0).into_owned(),
                None => String::new(),
            };
            Backing::File { file: FileMapping::new(file, path)?, offset: off }
        }
    };
    let limit = t.task.tg.rlimit(libc::RLIMIT_AS as u32).cur;
    if limit != crate::task::RLIM_INFINITY && t.mm.vm_size().saturating_add(abi::page_up(len).unwrap_or(u64::MAX)) > limit {
        return Err(Errno::ENOMEM);
    }
    t.mm.mmap(MmapRequest {
        addr,
        len,
        prot,
        max_prot,
        fixed: flags & MAP_FIXED != 0,
        noreplace: flags & MAP_FIXED_NOREPLACE != 0,
        shared,
        backing,
        name: None,
    })
}

fn munmap(t: &mut Thread, a: &Args) -> SysResult<u64> {
    t.mm.munmap(a.u64(0), a.u64(1)).map(|_| 0)
}

fn mprotect(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let bits = a.u64(2) as u32;
    // PROT_GROWSDOWN/GROWSUP are accepted and ignored.
    let prot = Prot::from_bits(bits & !0x0300_0000).ok_or(Errno::EINVAL)?;
    t.mm.mprotect(a.u64(0), a.u64(1), prot).map(|_| 0)
}

fn mremap(t: &mut Thread, a: &Args) -> SysResult<u64> {
    const MREMAP_MAYMOVE: u32 = 1;
    const MREMAP_FIXED: u32 = 2;
    const MREMAP_DONTUNMAP: u32 = 4;
    let flags = a.u32(3);
    if flags & !(MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP) != 0 || flags & MREMAP_DONTUNMAP != 0 {
        return Err(Errno::EINVAL);
    }
    if flags & MREMAP_FIXED != 0 && flags & MREMAP_MAYMOVE == 0 {
        return Err(Errno::EINVAL);
    }
    let fixed = (flags & MREMAP_FIXED != 0).then(|| a.u64(4));
    t.mm.mremap(a.u64(0), a.u64(1), a.u64(2), flags & MREMAP_MAYMOVE != 0, fixed)
}

fn madvise(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let (addr, len, advice) = (a.u64(0), a.u64(1), a.i32(2));
    if addr % PAGE_SIZE != 0 {
        return Err(Errno::EINVAL);
    }
    let known = matches!(
        advice,
        libc::MADV_DONTNEED | libc::MADV_NORMAL | libc::MADV_RANDOM | libc::MADV_SEQUENTIAL | libc::MADV_WILLNEED | libc::MADV_FREE
            | libc::MADV_DONTFORK | libc::MADV_DOFORK | libc::MADV_MERGEABLE | libc::MADV_UNMERGEABLE | libc::MADV_HUGEPAGE
            | libc::MADV_NOHUGEPAGE | libc::MADV_DONTDUMP | libc::MADV_DODUMP
    );
    if !known {
        return Err(Errno::EINVAL);
    }
    let len = abi::page_up(len).ok_or(Errno::EINVAL)?;
    if len != 0 && !t.mm.is_mapped(addr, len) {
        return Err(Errno::ENOMEM);
    }
    match advice {
        libc::MADV_DONTNEED => t.mm.madvise_dontneed(addr, len).map(|_| 0),
        libc::MADV_NORMAL | libc::MADV_RANDOM | libc::MADV_SEQUENTIAL | libc::MADV_WILLNEED | libc::MADV_FREE | libc::MADV_DONTFORK
        | libc::MADV_DOFORK | libc::MADV_MERGEABLE | libc::MADV_UNMERGEABLE | libc::MADV_HUGEPAGE | libc::MADV_NOHUGEPAGE
        | libc::MADV_DONTDUMP | libc::MADV_DODUMP => Ok(0),
        _ => Err(Errno::EINVAL),
    }
}

fn msync(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let flags = a.i32(2);
    if flags & !(libc::MS_ASYNC | libc::MS_SYNC | libc::MS_INVALIDATE) != 0 || (flags & libc::MS_ASYNC != 0 && flags & libc::MS_SYNC != 0) {
        return Err(Errno::EINVAL);
    }
    t.mm.msync(a.u64(0), a.u64(1)).map(|_| 0)
}

fn mincore(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let (addr, len, vec) = (a.u64(0), a.u64(1), a.u64(2));
    if addr % PAGE_SIZE != 0 {
        return Err(Errno::EINVAL);
    }
    let pages = abi::page_up(len).ok_or(Errno::ENOMEM)? / PAGE_SIZE;
    if !t.mm.is_mapped(addr, pages * PAGE_SIZE) {
        return Err(Errno::ENOMEM);
    }
    t.mm.copy_out(vec, &vec![1u8; pages as usize])?;
    Ok(0)
}

fn mlock(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let start = abi::page_down(a.u64(0));
    let end = a.u64(0).checked_add(a.u64(1)).and_then(abi::page_up).ok_or(Errno::ENOMEM)?;
    if end > start && !t.mm.is_mapped(start, end - start) {
        return Err(Errno::ENOMEM);
    }
    Ok(0)
}

fn mlockall(_t: &mut Thread, _a: &Args) -> SysResult<u64> {
    Ok(0)
}
