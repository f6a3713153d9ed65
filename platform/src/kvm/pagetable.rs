//! x86-64 4-level page tables for one address space: entry encoding and the
//! map/unmap/protect walks, written against [`Tables`] (page-table pages
//! addressed by guest-physical address) so they are tested without KVM.

use crate::{PlatformError, Prot, Result};

pub const PAGE: u64 = 4096;
pub const P: u64 = 1 << 0;
pub const RW: u64 = 1 << 1;
pub const US: u64 = 1 << 2;
pub const A: u64 = 1 << 5;
pub const D: u64 = 1 << 6;
pub const PS: u64 = 1 << 7;
pub const NX: u64 = 1 << 63;
/// Physical-address bits of an entry (51:12).
pub const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;

/// A user leaf entry mapping guest-physical `gpa` with `prot`. Accessed
/// and dirty are preset so the CPU never writes to the tables. A page
/// without any access right (PROT_NONE) is not present.
pub fn leaf_entry(gpa: u64, prot: Prot) -> u64 {
    if prot.is_empty() {
        return 0;
    }
    let mut e = (gpa & ADDR_MASK) | P | US | A | D;
    if prot.contains(Prot::WRITE) {
        e |= RW;
    }
    if !prot.contains(Prot::EXEC) {
        e |= NX;
    }
    e
}

/// An entry pointing to a lower-level table of the user half: the leaf
/// decides the rights, so this one allows everything.
pub fn table_entry(gpa: u64) -> u64 {
    (gpa & ADDR_MASK) | P | RW | US | A
}

/// A supervisor-only entry for the kernel half: a table, or a 2 MiB page.
pub fn kernel_table_entry(gpa: u64) -> u64 {
    (gpa & ADDR_MASK) | P | RW | A
}
pub fn kernel_large_page(gpa: u64, exec: bool) -> u64 {
    (gpa & ADDR_MASK) | P | RW | A | D | PS | if exec { 0 } else { NX }
}

/// Table indices (PML4, PDPT, PD, PT) of a virtual address.
pub fn indices(va: u64) -> [usize; 4] {
    [(va >> 39) as usize & 511, (va >> 30) as usize & 511, (va >> 21) as usize & 511, (va >> 12) as usize & 511]
}

/// Storage for page-table pages.
pub trait Tables {
    fn read(&self, table: u64, index: usize) -> u64;
    fn write(&mut self, table: u64, index: usize, entry: u64);
    /// A zeroed page; returns its guest-physical address.
    fn alloc(&mut self) -> Result<u64>;
    /// Give back a page (the caller made it all zeros).
    fn free(&mut self, table: u64);
}

/// The user half of one address space rooted at `pml4`.
pub struct AddressSpace {
    pub pml4: u64,
}

const SPAN: [u64; 4] = [1 << 39, 1 << 30, 1 << 21, 1 << 12];

impl AddressSpace {
    /// The PT for `va`, creating missing levels if `create`.
    fn pt<T: Tables>(&self, t: &mut T, va: u64, create: bool) -> Result<Option<u64>> {
        let idx = indices(va);
        let mut table = self.pml4;
        for &i in &idx[..3] {
            let e = t.read(table, i);
            table = if e & P != 0 {
                e & ADDR_MASK
            } else if create {
                let new = t.alloc()?;
                t.write(table, i, table_entry(new));
                new
            } else {
                return Ok(None);
            };
        }
        Ok(Some(table))
    }

    /// The end of the largest absent region that starts at `va` (for
    /// skipping holes), or `va` if the PT for `va` exists.
    fn skip_absent<T: Tables>(&self, t: &T, va: u64) -> u64 {
        let idx = indices(va);
        let mut table = self.pml4;
        for level in 0..3 {
            let e = t.read(table, idx[level]);
            if e & P == 0 {
                return (va & !(SPAN[level] - 1)) + SPAN[level];
            }
            table = e & ADDR_MASK;
        }
        va
    }

    /// Apply `f(old) -> new` to the PT entries of `[addr, end)`; `create`
    /// makes missing tables. Returns whether a present entry changed (the
    /// TLB must be flushed).
    fn update<T: Tables>(
        &self,
        t: &mut T,
        addr: u64,
        end: u64,
        create: bool,
        mut f: impl FnMut(u64, u64) -> u64,
    ) -> Result<bool> {
        let mut flush = false;
        let mut va = addr;
        while va < end {
            let chunk_end = ((va | (SPAN[2] - 1)) + 1).min(end);
            let Some(pt) = self.pt(t, va, create)? else {
                va = self.skip_absent(t, va).min(end);
                continue;
            };
            let mut cleared = false;
            while va < chunk_end {
                let i = indices(va)[3];
                let old = t.read(pt, i);
                let new = f(va, old);
                if new != old {
                    t.write(pt, i, new);
                    flush |= old & P != 0;
                    cleared |= new == 0;
                }
                va += PAGE;
            }
            if cleared && !create {
                self.free_if_empty(t, va - PAGE, pt);
            }
        }
        Ok(flush)
    }

    /// Free the PT holding `va` if it has no entries left (upper levels
    /// stay: they are few).
    fn free_if_empty<T: Tables>(&self, t: &mut T, va: u64, pt: u64) {
        if (0..512).any(|i| t.read(pt, i) != 0) {
            return;
        }
        let idx = indices(va);
        let pdpt = t.read(self.pml4, idx[0]) & ADDR_MASK;
        let pd = t.read(pdpt, idx[1]) & ADDR_MASK;
        t.write(pd, idx[2], 0);
        t.free(pt);
    }

    /// Map `[addr, addr+len)` to `gpa..` with `prot`. Returns whether the
    /// TLB must be flushed (a present entry was replaced).
    pub fn map<T: Tables>(&self, t: &mut T, addr: u64, len: u64, prot: Prot, gpa: u64) -> Result<bool> {
        if prot.is_empty() {
            return self.unmap(t, addr, len);
        }
        self.update(t, addr, addr + len, true, |va, _| leaf_entry(gpa + (va - addr), prot))
    }

    pub fn unmap<T: Tables>(&self, t: &mut T, addr: u64, len: u64) -> Result<bool> {
        self.update(t, addr, addr + len, false, |_, _| 0)
    }

    /// Change the rights of present pages. PROT_NONE unmaps (the platform
    /// then forgets the page; `mm` maps it again on the next fault).
    pub fn protect<T: Tables>(&self, t: &mut T, addr: u64, len: u64, prot: Prot) -> Result<bool> {
        self.update(t, addr, addr + len, false, |_, old| if old & P == 0 { old } else { leaf_entry(old & ADDR_MASK, prot) })
    }

    /// The entry for `va`, if its PT exists.
    pub fn lookup<T: Tables>(&self, t: &mut T, va: u64) -> Option<u64> {
        self.pt(t, va, false).ok().flatten().map(|pt| t.read(pt, indices(va)[3]))
    }

    /// Free every table of the user half (PML4 entries `0..user_entries`)
    /// and zero the PML4 entries. The PML4 itself stays.
    pub fn clear<T: Tables>(&self, t: &mut T, user_entries: usize) {
        /// Zero `table` (at `level`: 1 PDPT, 2 PD, 3 PT), freeing its
        /// children.
        fn empty<T: Tables>(t: &mut T, table: u64, level: usize) {
            for i in 0..512 {
                let e = t.read(table, i);
                if e == 0 {
                    continue;
                }
                if level < 3 && e & P != 0 {
                    empty(t, e & ADDR_MASK, level + 1);
                    t.free(e & ADDR_MASK);
                }
                t.write(table, i, 0);
            }
        }
        for i in 0..user_entries {
            let e = t.read(self.pml4, i);
            if e & P != 0 {
                empty(t, e & ADDR_MASK, 1);
                t.free(e & ADDR_MASK);
                t.write(self.pml4, i, 0);
            }
        }
    }
}

/// Check a user range: page-aligned, inside `[lo, hi)`.
pub fn check_range(addr: u64, len: u64, lo: u64, hi: u64) -> Result<u64> {
    let end = addr.checked_add(len).ok_or(PlatformError::BadRange(addr, len))?;
    if !addr.is_multiple_of(PAGE) || !len.is_multiple_of(PAGE) || addr < lo || end > hi {
        return Err(PlatformError::BadRange(addr, len));
    }
    Ok(end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[derive(Default)]
    struct Fake {
        pages: HashMap<u64, Box<[u64; 512]>>,
        next: u64,
        freed: Vec<u64>,
    }

    impl Tables for Fake {
        fn read(&self, table: u64, index: usize) -> u64 {
            self.pages[&table][index]
        }
        fn write(&mut self, table: u64, index: usize, entry: u64) {
            self.pages.get_mut(&table).unwrap()[index] = entry;
        }
        fn alloc(&mut self) -> Result<u64> {
            self.next += PAGE;
            let a = 0x1_0000_0000 + self.next;
            self.pages.insert(a, Box::new([0; 512]));
            Ok(a)
        }
        fn free(&mut self, table: u64) {
            assert!(self.pages.remove(&table).unwrap().iter().all(|&e| e == 0), "freed a non-empty table");
            self.freed.push(table);
        }
    }

    fn space() -> (Fake, AddressSpace) {
        let mut f = Fake::default();
        let pml4 = f.alloc().unwrap();
        (f, AddressSpace { pml4 })
    }

    #[test]
    fn entry_encoding() {
        let rx = leaf_entry(0x1234_5000, Prot::READ | Prot::EXEC);
        assert_eq!(rx, 0x1234_5000 | P | US | A | D);
        let rw = leaf_entry(0x5000, Prot::READ | Prot::WRITE);
        assert_eq!(rw, 0x5000 | P | US | RW | A | D | NX);
        assert_eq!(leaf_entry(0x5000, Prot::READ), 0x5000 | P | US | A | D | NX);
        assert_eq!(leaf_entry(0x5000, Prot::empty()), 0);
        assert_eq!(table_entry(0x1_0000_3000), 0x1_0000_3000 | P | RW | US | A);
        assert_eq!(kernel_table_entry(0x3000) & US, 0);
        assert_eq!(kernel_large_page(0x20_0000, false), 0x20_0000 | P | RW | A | D | PS | NX);
        assert_eq!(indices(0x7fff_ffff_f000), [255, 511, 511, 511]);
        assert_eq!(indices(0xffff_ff80_0000_1000), [511, 0, 0, 1]);
    }

    #[test]
    fn map_lookup_protect_unmap() {
        let (mut f, s) = space();
        let flush = s.map(&mut f, 0x40_0000, 3 * PAGE, Prot::READ | Prot::WRITE, 0x8000).unwrap();
        assert!(!flush, "nothing was present");
        assert_eq!(s.lookup(&mut f, 0x40_1000), Some(leaf_entry(0x9000, Prot::READ | Prot::WRITE)));
        assert_eq!(s.lookup(&mut f, 0x40_3000), Some(0));
        assert_eq!(f.pages.len(), 4, "PML4 + PDPT + PD + PT");
        // Protect a range wider than the mapping: holes stay holes.
        assert!(s.protect(&mut f, 0x3f_f000, 8 * PAGE, Prot::READ).unwrap());
        assert_eq!(s.lookup(&mut f, 0x40_2000), Some(leaf_entry(0xa000, Prot::READ)));
        assert_eq!(s.lookup(&mut f, 0x3f_f000), None, "no PT there");
        assert_eq!(s.lookup(&mut f, 0x40_3000), Some(0));
        // Same rights again: nothing to flush.
        assert!(!s.protect(&mut f, 0x40_0000, 3 * PAGE, Prot::READ).unwrap());
        // Remapping a present page must flush.
        assert!(s.map(&mut f, 0x40_0000, PAGE, Prot::READ, 0x2_0000).unwrap());
        assert!(s.unmap(&mut f, 0x40_0000, 2 * PAGE).unwrap());
        assert_eq!(s.lookup(&mut f, 0x40_0000), Some(0));
        assert!(f.freed.is_empty(), "the PT still holds a page");
        assert!(s.unmap(&mut f, 0x40_2000, PAGE).unwrap());
        assert_eq!(f.freed.len(), 1, "the empty PT was freed");
        assert_eq!(s.lookup(&mut f, 0x40_2000), None);
        // Unmapping nothing over a huge range is cheap and flushes nothing.
        assert!(!s.unmap(&mut f, 0x1_0000, 0x7fff_0000_0000).unwrap());
    }

    #[test]
    fn map_across_table_boundaries_and_clear() {
        let (mut f, s) = space();
        let start = (1u64 << 39) - 2 * PAGE; // crosses a PML4 entry
        s.map(&mut f, start, 4 * PAGE, Prot::READ | Prot::EXEC, 0).unwrap();
        for i in 0..4 {
            assert_eq!(s.lookup(&mut f, start + i * PAGE), Some(leaf_entry(i * PAGE, Prot::READ | Prot::EXEC)));
        }
        assert_eq!(f.pages.len(), 7);
        s.clear(&mut f, 256);
        assert_eq!(f.pages.len(), 1, "only the PML4 is left");
        assert!((0..512).all(|i| f.read(s.pml4, i) == 0));
    }

    #[test]
    fn prot_none_is_not_present() {
        let (mut f, s) = space();
        s.map(&mut f, 0x40_0000, PAGE, Prot::READ, 0).unwrap();
        assert!(s.protect(&mut f, 0x40_0000, PAGE, Prot::empty()).unwrap());
        assert_eq!(s.lookup(&mut f, 0x40_0000), None, "emptied PT freed");
        assert!(!s.map(&mut f, 0x40_0000, PAGE, Prot::empty(), 0).unwrap());
    }

    #[test]
    fn ranges() {
        assert_eq!(check_range(0x1_0000, PAGE, 0x1_0000, 0x2_0000).unwrap(), 0x1_1000);
        assert!(check_range(0x1_0001, PAGE, 0x1_0000, 0x2_0000).is_err());
        assert!(check_range(0x1_f000, 2 * PAGE, 0x1_0000, 0x2_0000).is_err());
        assert!(check_range(u64::MAX - PAGE + 1, PAGE, 0, u64::MAX).is_err());
    }
}
