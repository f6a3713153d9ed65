//! The program loader: ELF executables (static, static-pie, and dynamic
//! through their PT_INTERP) into a fresh address space, with the initial
//! stack (argv, envp, auxv, AT_RANDOM) Linux builds.
//!
//! No vDSO is provided (AT_SYSINFO_EHDR is absent), so libc makes real
//! `clock_gettime` syscalls, which the Sentry answers.

pub mod elf;

use std::sync::Arc;

use abi::{page_down, page_up, Errno, SysResult, PAGE_SIZE};
use platform::Prot;

use crate::mm::{Backing, MappedFile, MemoryManager, MmapRequest, STACK_SIZE};
use elf::{Elf, ET_DYN, PF_R, PF_W, PF_X, PT_LOAD, PT_PHDR};

/// Where a position-independent main executable is placed.
const PIE_BASE: u64 = 0x5555_5555_4000;

/// What the task needs to start running the new image.
#[derive(Debug, Clone, Copy)]
pub struct Loaded {
    pub entry: u64,
    pub sp: u64,
}

/// Identity values for the auxiliary vector.
#[derive(Debug, Clone, Copy, Default)]
pub struct AuxIds {
    pub uid: u32,
    pub euid: u32,
    pub gid: u32,
    pub egid: u32,
}

fn prot_of(flags: u32) -> Prot {
    let mut p = Prot::empty();
    if flags & PF_R != 0 {
        p |= Prot::READ;
    }
    if flags & PF_W != 0 {
        p |= Prot::WRITE;
    }
    if flags & PF_X != 0 {
        p |= Prot::EXEC;
    }
    p
}

/// Map the PT_LOAD segments of `elf` at `bias`; returns the end of the
/// highest segment.
fn map_segments(mm: &MemoryManager, file: &Arc<dyn MappedFile>, elf: &Elf, bias: u64) -> SysResult<u64> {
    let mut top = 0;
    for p in elf.phdrs.iter().filter(|p| p.typ == PT_LOAD) {
        let prot = prot_of(p.flags);
        let vaddr = p.vaddr.checked_add(bias).ok_or(Errno::ENOEXEC)?;
        let start = page_down(vaddr);
        let file_end = vaddr + p.filesz;
        let mem_end = vaddr + p.memsz;
        let map_end = page_up(file_end).ok_or(Errno::ENOEXEC)?;
        if p.filesz > 0 {
            mm.mmap(MmapRequest {
                addr: start,
                len: map_end - start,
                prot,
                max_prot: Prot::all(),
                fixed: true,
                noreplace: false,
                shared: false,
                backing: Backing::File { file: file.clone(), offset: page_down(p.offset) },
                name: None,
            })?;
            // The tail of the last file page belongs to .bss: zero it.
            if p.memsz > p.filesz && file_end < map_end {
                let zeros = vec![0u8; (map_end - file_end) as usize];
                mm.copy_out_force(file_end, &zeros)?;
            }
        }
        let anon_start = if p.filesz > 0 { map_end } else { start };
        let anon_end = page_up(mem_end).ok_or(Errno::ENOEXEC)?;
        if anon_end > anon_start {
            mm.mmap(MmapRequest {
                addr: anon_start,
                len: anon_end - anon_start,
                prot,
                max_prot: Prot::all(),
                fixed: true,
                noreplace: false,
                shared: false,
                backing: Backing::Anon,
                name: None,
            })?;
        }
        top = top.max(mem_end);
    }
    Ok(top)
}

/// Load `file` (already known to be ELF) into the empty `mm` and build the
/// initial stack. `open_interp` opens the PT_INTERP path in the task's
/// filesystem view.
#[allow(clippy::too_many_arguments)]
pub fn load_elf(
    mm: &MemoryManager,
    file: Arc<dyn MappedFile>,
    argv: &[Vec<u8>],
    envp: &[Vec<u8>],
    execfn: &[u8],
    ids: AuxIds,
    random: [u8; 16],
    open_interp: &dyn Fn(&[u8]) -> SysResult<Arc<dyn MappedFile>>,
) -> SysResult<Loaded> {
    let elf = Elf::parse(file.as_ref())?;
    let (lo, hi) = elf.span();
    let bias = if elf.ehdr.typ == ET_DYN { PIE_BASE - lo } else { 0 };
    if hi.checked_add(bias).is_none_or(|e| e > mm.user_hi()) || lo.wrapping_add(bias) < 0x10000 {
        return Err(Errno::ENOMEM);
    }
    let top = map_segments(mm, &file, &elf, bias)?;
    mm.set_brk_start(page_up(top).ok_or(Errno::ENOMEM)?);

    let mut entry = elf.ehdr.entry + bias;
    let mut interp_base = 0;
    if let Some(path) = &elf.interp {
        let ifile = open_interp(path)?;
        let ielf = Elf::parse(ifile.as_ref())?;
        if ielf.interp.is_some() {
            return Err(Errno::ENOEXEC);
        }
        let (ilo, ihi) = ielf.span();
        let size = page_up(ihi - ilo).ok_or(Errno::ENOEXEC)?;
        // Reserve a range for it, then map the segments over the reservation.
        let base = mm.mmap(MmapRequest {
            addr: 0,
            len: size,
            prot: Prot::empty(),
            max_prot: Prot::all(),
            fixed: false,
            noreplace: false,
            shared: false,
            backing: Backing::Anon,
            name: None,
        })?;
        let ibias = if ielf.ehdr.typ == ET_DYN { base - ilo } else { 0 };
        map_segments(mm, &ifile, &ielf, ibias)?;
        interp_base = ibias + ilo;
        entry = ielf.ehdr.entry + ibias;
    }

    // AT_PHDR: PT_PHDR if present, else the headers inside the first
    // segment that covers e_phoff.
    let phdr_addr = elf
        .phdrs
        .iter()
        .find(|p| p.typ == PT_PHDR)
        .map(|p| p.vaddr + bias)
        .or_else(|| {
            elf.phdrs
                .iter()
                .find(|p| p.typ == PT_LOAD && p.offset <= elf.ehdr.phoff && elf.ehdr.phoff < p.offset + p.filesz)
                .map(|p| p.vaddr + (elf.ehdr.phoff - p.offset) + bias)
        })
        .unwrap_or(0);

    let stack_top = page_down(mm.user_hi() - PAGE_SIZE);
    mm.mmap(MmapRequest {
        addr: stack_top - STACK_SIZE,
        len: STACK_SIZE,
        prot: Prot::READ | Prot::WRITE,
        max_prot: Prot::all(),
        fixed: true,
        noreplace: false,
        shared: false,
        backing: Backing::Anon,
        name: Some("[stack]"),
    })?;
    let aux = [
        (libc::AT_PHDR, phdr_addr),
        (libc::AT_PHENT, std::mem::size_of::<elf::Phdr>() as u64),
        (libc::AT_PHNUM, elf.phdrs.len() as u64),
        (libc::AT_PAGESZ, PAGE_SIZE),
        (libc::AT_BASE, interp_base),
        (libc::AT_FLAGS, 0),
        (libc::AT_ENTRY, elf.ehdr.entry + bias),
        (libc::AT_UID, ids.uid as u64),
        (libc::AT_EUID, ids.euid as u64),
        (libc::AT_GID, ids.gid as u64),
        (libc::AT_EGID, ids.egid as u64),
        (libc::AT_SECURE, 0),
        (libc::AT_CLKTCK, 100),
        (libc::AT_HWCAP, host_auxval(libc::AT_HWCAP)),
        (libc::AT_HWCAP2, host_auxval(libc::AT_HWCAP2)),
        (libc::AT_MINSIGSTKSZ, host_auxval(libc::AT_MINSIGSTKSZ).max(2048)),
    ];
    let sp = build_stack(mm, stack_top, argv, envp, execfn, &aux, random)?;
    Ok(Loaded { entry, sp })
}

fn host_auxval(t: libc::c_ulong) -> u64 {
    // SAFETY: getauxval only reads the process's auxiliary vector.
    unsafe { libc::getauxval(t) }
}

/// Lay out the initial stack below `top`; returns the initial rsp.
fn build_stack(
    mm: &MemoryManager,
    top: u64,
    argv: &[Vec<u8>],
    envp: &[Vec<u8>],
    execfn: &[u8],
    aux: &[(u64, u64)],
    random: [u8; 16],
) -> SysResult<u64> {
    let mut sp = top;
    let push_bytes = |mm: &MemoryManager, b: &[u8], sp: &mut u64| -> SysResult<u64> {
        *sp -= b.len() as u64 + 1;
        mm.copy_out(*sp, b)?;
        mm.copy_out(*sp + b.len() as u64, &[0])?;
        Ok(*sp)
    };
    let execfn_addr = push_bytes(mm, execfn, &mut sp)?;
    let mut env_addrs = Vec::with_capacity(envp.len());
    for e in envp.iter().rev() {
        env_addrs.push(push_bytes(mm, e, &mut sp)?);
    }
    env_addrs.reverse();
    let env_end = env_addrs.last().map(|a| a + envp.last().map_or(0, |e| e.len() as u64 + 1)).unwrap_or(sp);
    let mut arg_addrs = Vec::with_capacity(argv.len());
    for a in argv.iter().rev() {
        arg_addrs.push(push_bytes(mm, a, &mut sp)?);
    }
    arg_addrs.reverse();
    let arg_start = arg_addrs.first().copied().unwrap_or(sp);
    let arg_end = env_addrs.first().copied().unwrap_or(execfn_addr);
    let env_start = env_addrs.first().copied().unwrap_or(env_end);
    mm.set_arg_env((arg_start, arg_end), (env_start, env_end));
    let platform_addr = push_bytes(mm, b"x86_64", &mut sp)?;
    sp -= 16;
    sp &= !15;
    mm.copy_out(sp, &random)?;
    let random_addr = sp;

    // Words: argc, argv..., 0, envp..., 0, auxv pairs..., AT_NULL pair.
    let mut words: Vec<u64> = Vec::new();
    words.push(argv.len() as u64);
    words.extend(&arg_addrs);
    words.push(0);
    words.extend(&env_addrs);
    words.push(0);
    for &(k, v) in aux {
        words.push(k);
        words.push(v);
    }
    words.extend([libc::AT_RANDOM, random_addr, libc::AT_EXECFN, execfn_addr, libc::AT_PLATFORM, platform_addr]);
    words.extend([libc::AT_NULL, 0]);
    sp -= words.len() as u64 * 8;
    sp &= !15;
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    mm.copy_out(sp, &bytes)?;
    Ok(sp)
}

/// Parse a `#!` line: interpreter and optional single argument.
pub fn parse_shebang(head: &[u8]) -> SysResult<(Vec<u8>, Option<Vec<u8>>)> {
    let line = &head[2..];
    let end = line.iter().position(|&c| c == b'\n').ok_or(Errno::ENOEXEC)?;
    let line = &line[..end];
    let trim = |s: &[u8]| -> Vec<u8> {
        let s: &[u8] = s;
        let a = s.iter().position(|c| !c.is_ascii_whitespace()).unwrap_or(s.len());
        let b = s.iter().rposition(|c| !c.is_ascii_whitespace()).map_or(a, |p| p + 1);
        s[a..b.max(a)].to_vec()
    };
    let line = trim(line);
    if line.is_empty() {
        return Err(Errno::ENOEXEC);
    }
    match line.iter().position(|c| c.is_ascii_whitespace()) {
        Some(p) => {
            let arg = trim(&line[p..]);
            Ok((line[..p].to_vec(), (!arg.is_empty()).then_some(arg)))
        }
        None => Ok((line, None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shebang_forms() {
        assert_eq!(parse_shebang(b"#!/bin/sh\n").unwrap(), (b"/bin/sh".to_vec(), None));
        assert_eq!(parse_shebang(b"#! /bin/sh  -e -x \nrest").unwrap(), (b"/bin/sh".to_vec(), Some(b"-e -x".to_vec())));
        assert_eq!(parse_shebang(b"#!\n"), Err(Errno::ENOEXEC));
        assert_eq!(parse_shebang(b"#!/bin/sh"), Err(Errno::ENOEXEC));
    }
}
