//! ELF64 headers, parsed with bounds checks (the file is workload input).

use abi::{Errno, SysResult};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::mm::MappedFile;

pub const PT_LOAD: u32 = 1;
pub const PT_INTERP: u32 = 3;
pub const PT_PHDR: u32 = 6;
pub const PT_GNU_STACK: u32 = 0x6474_e551;
pub const ET_EXEC: u16 = 2;
pub const ET_DYN: u16 = 3;
pub const PF_X: u32 = 1;
pub const PF_W: u32 = 2;
pub const PF_R: u32 = 4;

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct Ehdr {
    pub ident: [u8; 16],
    pub typ: u16,
    pub machine: u16,
    pub version: u32,
    pub entry: u64,
    pub phoff: u64,
    pub shoff: u64,
    pub flags: u32,
    pub ehsize: u16,
    pub phentsize: u16,
    pub phnum: u16,
    pub shentsize: u16,
    pub shnum: u16,
    pub shstrndx: u16,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct Phdr {
    pub typ: u32,
    pub flags: u32,
    pub offset: u64,
    pub vaddr: u64,
    pub paddr: u64,
    pub filesz: u64,
    pub memsz: u64,
    pub align: u64,
}

/// A parsed, validated ELF executable.
pub struct Elf {
    pub ehdr: Ehdr,
    pub phdrs: Vec<Phdr>,
    pub interp: Option<Vec<u8>>,
}

pub(crate) fn read_exact(f: &dyn MappedFile, off: u64, buf: &mut [u8]) -> SysResult<()> {
    let mut done = 0;
    while done < buf.len() {
        let n = f.read_at(off + done as u64, &mut buf[done..])?;
        if n == 0 {
            return Err(Errno::ENOEXEC);
        }
        done += n;
    }
    Ok(())
}

/// Whether the first bytes look like an ELF file.
pub fn is_elf(head: &[u8]) -> bool {
    head.len() >= 4 && &head[..4] == b"\x7fELF"
}

impl Elf {
    pub fn parse(f: &dyn MappedFile) -> SysResult<Elf> {
        let mut ehdr = Ehdr::default();
        read_exact(f, 0, ehdr.as_mut_bytes())?;
        let id = &ehdr.ident;
        if !is_elf(id) || id[4] != 2 /* ELFCLASS64 */ || id[5] != 1 /* LSB */ {
            return Err(Errno::ENOEXEC);
        }
        if ehdr.machine != 62 /* EM_X86_64 */ || !(ehdr.typ == ET_EXEC || ehdr.typ == ET_DYN) {
            return Err(Errno::ENOEXEC);
        }
        if ehdr.phentsize as usize != std::mem::size_of::<Phdr>() || ehdr.phnum == 0 || ehdr.phnum > 128 {
            return Err(Errno::ENOEXEC);
        }
        let mut phdrs = vec![Phdr::default(); ehdr.phnum as usize];
        read_exact(f, ehdr.phoff, phdrs.as_mut_slice().as_mut_bytes())?;
        let mut interp = None;
        for p in &phdrs {
            if p.typ == PT_LOAD {
                if p.filesz > p.memsz || p.vaddr.checked_add(p.memsz).is_none() {
                    return Err(Errno::ENOEXEC);
                }
                if p.align > 1 && (p.vaddr % 4096) != (p.offset % 4096) {
                    return Err(Errno::ENOEXEC);
                }
            }
            if p.typ == PT_INTERP {
                if p.filesz == 0 || p.filesz > 4096 {
                    return Err(Errno::ENOEXEC);
                }
                let mut b = vec![0u8; p.filesz as usize];
                read_exact(f, p.offset, &mut b)?;
                if let Some(n) = b.iter().position(|&c| c == 0) {
                    b.truncate(n);
                }
                interp = Some(b);
            }
        }
        if !phdrs.iter().any(|p| p.typ == PT_LOAD) {
            return Err(Errno::ENOEXEC);
        }
        Ok(Elf { ehdr, phdrs, interp })
    }

    /// Lowest and highest virtual address of the loadable segments.
    pub fn span(&self) -> (u64, u64) {
        let loads = self.phdrs.iter().filter(|p| p.typ == PT_LOAD);
        let lo = loads.clone().map(|p| p.vaddr).min().unwrap_or(0);
        let hi = loads.map(|p| p.vaddr + p.memsz).max().unwrap_or(0);
        (abi::page_down(lo), hi)
    }
}
