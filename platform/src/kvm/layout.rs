//! Descriptor encoding (GDT, TSS, IDT), the fixed layout of the platform's
//! private memory, and the ring-0 stub code: pure data, tested without KVM.

/// Kernel virtual address of the start of the private region: PML4 slot
/// 511, the top 512 GiB of the upper canonical half. Every address space
/// maps the whole private region there, supervisor-only.
pub const KERNEL_BASE: u64 = 0xffff_ff80_0000_0000;
/// PML4 index of [`KERNEL_BASE`].
pub const KERNEL_PML4_INDEX: usize = 511;

/// Size of the private region (page tables, GDT/TSS/stack pages, IDT,
/// stub). Reserved with MAP_NORESERVE: only touched pages cost memory.
pub const PRIV_SIZE: u64 = 4 << 30;

/// Offsets in the private region of the fixed pages.
pub const IDT_OFF: u64 = 0x0000;
pub const STUB_OFF: u64 = 0x1000;
pub const KPDPT_OFF: u64 = 0x2000;
/// One page directory per GiB of the private region (2 MiB pages).
pub const KPD_OFF: u64 = 0x3000;
/// First page handed out by the page allocator.
pub const ALLOC_OFF: u64 = KPD_OFF + (PRIV_SIZE >> 30) * 0x1000;

/// Selectors, as Linux uses them on x86-64 (so user `cs`/`ss` are the
/// values a native process sees). There is no 32-bit user code segment:
/// far jumps to compatibility mode fault (#GP → SIGSEGV).
pub const KERNEL_CS: u16 = 0x10;
pub const KERNEL_DS: u16 = 0x18;
pub const USER_DS: u16 = 0x2b;
pub const USER_CS: u16 = 0x33;
pub const TSS_SEL: u16 = 0x40;
/// GDT entries (8 bytes each; the TSS descriptor takes two).
pub const GDT_ENTRIES: usize = 10;

/// Per-vCPU page: GDT at 0, TSS at [`TSS_IN_PAGE`].
pub const TSS_IN_PAGE: u64 = 0x100;
pub const TSS_LIMIT: u32 = 0x67;

/// `STAR`: SYSCALL loads CS=0x10 / SS=0x18; SYSRET (unused) would load
/// CS=0x33 / SS=0x2b.
pub const STAR: u64 = (0x23u64 << 48) | ((KERNEL_CS as u64) << 32);
/// `SFMASK`: SYSCALL clears TF, DF, IF, IOPL, AC, NT (as Linux).
pub const SFMASK: u64 = 0x4_7700;

/// A code/data segment descriptor. `access` is byte 5 (P, DPL, S, type),
/// `flags` the high nibble of byte 6 (G, D/B, L, AVL).
pub fn segment_descriptor(base: u32, limit: u32, access: u8, flags: u8) -> u64 {
    let (base, limit) = (u64::from(base), u64::from(limit));
    (limit & 0xffff)
        | ((base & 0xff_ffff) << 16)
        | (u64::from(access) << 40)
        | (((limit >> 16) & 0xf) << 48)
        | (u64::from(flags & 0xf) << 52)
        | (((base >> 24) & 0xff) << 56)
}

/// A 64-bit TSS descriptor (16 bytes): `type` 0x9 available, 0xb busy.
pub fn tss_descriptor(base: u64, limit: u32, busy: bool) -> [u64; 2] {
    let access = 0x80 | if busy { 0xb } else { 0x9 };
    let lo = segment_descriptor(base as u32, limit, access, 0);
    [lo, base >> 32]
}

/// A 64-bit interrupt gate (16 bytes) to `offset` in segment `selector`,
/// callable by `int n` from privilege level `dpl`.
pub fn interrupt_gate(offset: u64, selector: u16, dpl: u8) -> [u64; 2] {
    let attr = 0x80 | (u64::from(dpl & 3) << 5) | 0xe;
    let lo = (offset & 0xffff) | (u64::from(selector) << 16) | (attr << 40) | (((offset >> 16) & 0xffff) << 48);
    [lo, offset >> 32]
}

/// The GDT of one vCPU whose TSS is at kernel address `tss`.
pub fn gdt(tss: u64) -> [u64; GDT_ENTRIES] {
    let mut g = [0u64; GDT_ENTRIES];
    g[(KERNEL_CS >> 3) as usize] = segment_descriptor(0, 0xfffff, 0x9b, 0xa);
    g[(KERNEL_DS >> 3) as usize] = segment_descriptor(0, 0xfffff, 0x93, 0xc);
    g[(USER_DS >> 3) as usize] = segment_descriptor(0, 0xfffff, 0xf3, 0xc);
    g[(USER_CS >> 3) as usize] = segment_descriptor(0, 0xfffff, 0xfb, 0xa);
    let [lo, hi] = tss_descriptor(tss, TSS_LIMIT, true);
    g[(TSS_SEL >> 3) as usize] = lo;
    g[(TSS_SEL >> 3) as usize + 1] = hi;
    g
}

/// The 104-byte 64-bit TSS: RSP0 (the kernel stack exceptions from ring 3
/// switch to) and an I/O map base beyond the limit (no I/O bitmap: every
/// `in`/`out` from ring 3 faults).
pub fn tss(rsp0: u64) -> [u8; 104] {
    let mut t = [0u8; 104];
    t[4..12].copy_from_slice(&rsp0.to_le_bytes());
    t[102..104].copy_from_slice(&104u16.to_le_bytes());
    t
}

// ---- The ring-0 stub -------------------------------------------------------
//
// Entry to user mode: the host writes an IRET frame (rip, cs, rflags, rsp,
// ss) at the top of the vCPU's kernel stack, loads the user's GPRs, and
// starts the vCPU at `IRET` with rsp at the frame (or at `IRET_FLUSH` with
// rsp one word lower, where it put the CR3 to reload: a full TLB flush).
//
// Exit to the host: the SYSCALL entry (LSTAR) and every IDT vector execute
// `out imm8, al` with a port that names the event, which KVM reports as
// KVM_EXIT_IO. No GPR is touched on the way, so the host reads the user's
// registers directly; exceptions find their frame at the top of the kernel
// stack (the CPU switched to TSS.RSP0 on the way from ring 3).

/// Offsets in the stub page.
pub const IRET_FLUSH: u64 = 0x0;
pub const IRET: u64 = 0x8;
pub const SYSCALL_ENTRY: u64 = 0x10;
/// Page-table replay, then CR3 reload and IRETQ. Entered with rsp =
/// frame - 24: [frame-8] = CR3, [frame-16] = kernel address of the list of
/// (entry address, value) pairs, [frame-24] = their count. Restores the
/// four GPRs it uses.
pub const REPLAY: u64 = 0x20;
/// The same replay, then CR3 reload and an exit on [`PORT_REPLAYED`]
/// (clobbers rax, rcx, rdx, rsi): for lists longer than one batch, and to
/// clean up a dropped context's tables.
pub const REPLAY_EXIT: u64 = 0x60;
/// Load MSR_FS_BASE/MSR_GS_BASE from the guest (wrmsr), then IRETQ.
/// Entered with rsp = frame - 16: [frame-8] = fs_base, [frame-16] =
/// gs_base. Restores the GPRs it uses. gs_base also goes to
/// MSR_KERNEL_GS_BASE, which the stub never uses (no SWAPGS): harmless, and
/// right for a hypervisor that emulates SWAPGS on ring transitions.
pub const SETBASE: u64 = 0xa0;
/// End of the entry stubs.
pub const ENTRY_END: u64 = 0x100;
/// Vector `v`'s handler is at `VECTORS + 8 * v`.
pub const VECTORS: u64 = 0x100;
pub const VECTOR_STUB_SIZE: u64 = 8;

/// Ports: vectors 0..32 use their own number; the others (never raised:
/// there is no interrupt controller) share one; SYSCALL has its own.
pub const PORT_SYSCALL: u16 = 0x40;
pub const PORT_OTHER_VECTOR: u16 = 0x41;
pub const PORT_REPLAYED: u16 = 0x42;

pub fn vector_port(v: u8) -> u16 {
    if v < 32 {
        u16::from(v)
    } else {
        PORT_OTHER_VECTOR
    }
}

/// Whether the CPU pushes an error code for vector `v`.
pub fn has_error_code(v: u8) -> bool {
    matches!(v, 8 | 10..=14 | 17 | 21 | 29 | 30)
}

/// The 4 KiB stub page.
pub fn stub_page() -> [u8; 4096] {
    let mut p = [0xccu8; 4096]; // int3 everywhere else
    #[rustfmt::skip]
    let iret = [
        0x48, 0x87, 0x04, 0x24, // IRET_FLUSH: xchg rax, [rsp]
        0x0f, 0x22, 0xd8,       //             mov cr3, rax
        0x58,                   //             pop rax
        0x48, 0xcf,             // IRET:       iretq
    ];
    p[IRET_FLUSH as usize..][..iret.len()].copy_from_slice(&iret);
    // See REPLAY (assembled from):
    //   push rax; push rcx; push rdx; push rsi
    //   mov rcx, [rsp+32]; mov rsi, [rsp+40]
    // 1: jrcxz 2f; mov rdx, [rsi]; mov rax, [rsi+8]; mov [rdx], rax
    //   add rsi, 16; dec rcx; jmp 1b
    // 2: mov rax, [rsp+48]; mov cr3, rax
    //   pop rsi; pop rdx; pop rcx; pop rax; add rsp, 24; iretq
    #[rustfmt::skip]
    let replay = [
        0x50, 0x51, 0x52, 0x56, 0x48, 0x8b, 0x4c, 0x24, 0x20, 0x48, 0x8b, 0x74, 0x24, 0x28,
        0xe3, 0x13, 0x48, 0x8b, 0x16, 0x48, 0x8b, 0x46, 0x08, 0x48, 0x89, 0x02, 0x48, 0x83,
        0xc6, 0x10, 0x48, 0xff, 0xc9, 0xeb, 0xeb, 0x48, 0x8b, 0x44, 0x24, 0x30, 0x0f, 0x22,
        0xd8, 0x5e, 0x5a, 0x59, 0x58, 0x48, 0x83, 0xc4, 0x18, 0x48, 0xcf,
    ];
    p[REPLAY as usize..][..replay.len()].copy_from_slice(&replay);
    // REPLAY_EXIT:
    //   mov rcx, [rsp]; mov rsi, [rsp+8]
    // 3: (the same loop)
    // 4: mov rax, [rsp+16]; mov cr3, rax; out PORT_REPLAYED, al; ud2
    #[rustfmt::skip]
    let replay_exit = [
        0x48, 0x8b, 0x0c, 0x24, 0x48, 0x8b, 0x74, 0x24, 0x08, 0xe3, 0x13, 0x48, 0x8b, 0x16,
        0x48, 0x8b, 0x46, 0x08, 0x48, 0x89, 0x02, 0x48, 0x83, 0xc6, 0x10, 0x48, 0xff, 0xc9,
        0xeb, 0xeb, 0x48, 0x8b, 0x44, 0x24, 0x10, 0x0f, 0x22, 0xd8, 0xe6, PORT_REPLAYED as u8,
        0x0f, 0x0b,
    ];
    p[REPLAY_EXIT as usize..][..replay_exit.len()].copy_from_slice(&replay_exit);
    // SETBASE:
    //   push rax; push rcx; push rdx
    //   mov ecx, MSR_FS_BASE; mov eax, [rsp+32]; mov edx, [rsp+36]; wrmsr
    //   mov ecx, MSR_GS_BASE; mov eax, [rsp+24]; mov edx, [rsp+28]; wrmsr
    //   mov ecx, MSR_KERNEL_GS_BASE; wrmsr
    //   pop rdx; pop rcx; pop rax; add rsp, 16; iretq
    #[rustfmt::skip]
    let setbase = [
        0x50, 0x51, 0x52, 0xb9, 0x00, 0x01, 0x00, 0xc0, 0x8b, 0x44, 0x24, 0x20, 0x8b, 0x54,
        0x24, 0x24, 0x0f, 0x30, 0xb9, 0x01, 0x01, 0x00, 0xc0, 0x8b, 0x44, 0x24, 0x18, 0x8b,
        0x54, 0x24, 0x1c, 0x0f, 0x30, 0xb9, 0x02, 0x01, 0x00, 0xc0, 0x0f, 0x30, 0x5a, 0x59,
        0x58, 0x48, 0x83, 0xc4, 0x10, 0x48, 0xcf,
    ];
    p[SETBASE as usize..][..setbase.len()].copy_from_slice(&setbase);
    // out PORT, al; ud2
    let exit = |port: u16| [0xe6, port as u8, 0x0f, 0x0b];
    p[SYSCALL_ENTRY as usize..][..4].copy_from_slice(&exit(PORT_SYSCALL));
    for v in 0..=255u8 {
        let at = (VECTORS + VECTOR_STUB_SIZE * u64::from(v)) as usize;
        p[at..at + 4].copy_from_slice(&exit(vector_port(v)));
    }
    p
}

/// The port the stub's `out` at stub-page offset `off` reports, if `off`
/// is the start of an exit sequence (a vCPU stopped there has taken the
/// event but not yet left the guest).
pub fn port_at(off: u64) -> Option<u16> {
    if off == SYSCALL_ENTRY {
        return Some(PORT_SYSCALL);
    }
    let rel = off.checked_sub(VECTORS)?;
    if rel % VECTOR_STUB_SIZE == 0 && rel / VECTOR_STUB_SIZE < 256 {
        return Some(vector_port((rel / VECTOR_STUB_SIZE) as u8));
    }
    None
}

/// The IDT: every vector an interrupt gate to its stub; `int3` and `into`
/// callable from ring 3 (as on Linux; any other `int n` is a #GP).
pub fn idt(stub_base: u64) -> [u8; 4096] {
    let mut t = [0u8; 4096];
    for v in 0..=255u8 {
        let dpl = if v == 3 || v == 4 { 3 } else { 0 };
        let gate = interrupt_gate(stub_base + VECTORS + VECTOR_STUB_SIZE * u64::from(v), KERNEL_CS, dpl);
        let at = usize::from(v) * 16;
        t[at..at + 8].copy_from_slice(&gate[0].to_le_bytes());
        t[at + 8..at + 16].copy_from_slice(&gate[1].to_le_bytes());
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_descriptors_match_linux() {
        // The values of Linux's GDT_ENTRY_INIT for x86-64.
        let g = gdt(0);
        assert_eq!(g[2], 0x00af_9b00_0000_ffff); // __KERNEL_CS
        assert_eq!(g[3], 0x00cf_9300_0000_ffff); // __KERNEL_DS
        assert_eq!(g[5], 0x00cf_f300_0000_ffff); // __USER_DS
        assert_eq!(g[6], 0x00af_fb00_0000_ffff); // __USER_CS
        assert_eq!(g[0], 0);
        assert_eq!(g[4], 0, "no 32-bit user code segment");
    }

    #[test]
    fn tss_descriptor_splits_the_base() {
        let [lo, hi] = tss_descriptor(0xffff_ff80_1234_5678, 0x67, false);
        assert_eq!(lo & 0xffff, 0x67);
        assert_eq!((lo >> 16) & 0xff_ffff, 0x34_5678);
        assert_eq!((lo >> 40) & 0xff, 0x89);
        assert_eq!(lo >> 56, 0x12);
        assert_eq!(hi, 0xffff_ff80);
        let [lo, _] = tss_descriptor(0, 0x67, true);
        assert_eq!((lo >> 40) & 0xff, 0x8b);
    }

    #[test]
    fn interrupt_gates() {
        let [lo, hi] = interrupt_gate(0xffff_ff80_0000_1234, 0x10, 0);
        assert_eq!(lo & 0xffff, 0x1234);
        assert_eq!((lo >> 16) & 0xffff, 0x10);
        assert_eq!((lo >> 32) & 0xff, 0, "no IST");
        assert_eq!((lo >> 40) & 0xff, 0x8e);
        assert_eq!(lo >> 48, 0);
        assert_eq!(hi, 0xffff_ff80);
        let [lo, _] = interrupt_gate(0, 0x10, 3);
        assert_eq!((lo >> 40) & 0xff, 0xee);
        let t = idt(0x1000);
        // Vector 3 (int3) is DPL 3, vector 13 is DPL 0.
        assert_eq!(t[3 * 16 + 5], 0xee);
        assert_eq!(t[13 * 16 + 5], 0x8e);
        let off13 = u64::from(u16::from_le_bytes([t[13 * 16], t[13 * 16 + 1]]));
        assert_eq!(off13, 0x1000 + VECTORS + 13 * 8);
    }

    #[test]
    fn stub_exits_are_where_port_at_says() {
        let p = stub_page();
        for off in (0..4096u64).step_by(2) {
            if let Some(port) = port_at(off) {
                let o = off as usize;
                assert_eq!(&p[o..o + 4], &[0xe6, port as u8, 0x0f, 0x0b], "at {off:#x}");
            }
        }
        assert_eq!(port_at(SYSCALL_ENTRY), Some(PORT_SYSCALL));
        assert_eq!(port_at(VECTORS + 14 * 8), Some(14));
        assert_eq!(port_at(VECTORS + 200 * 8), Some(PORT_OTHER_VECTOR));
        assert_eq!(port_at(VECTORS + 14 * 8 + 2), None);
        assert_eq!(port_at(IRET), None);
        assert_eq!(port_at(REPLAY_EXIT), None);
        assert_eq!(&p[REPLAY as usize + 0x33..REPLAY as usize + 0x35], &[0x48, 0xcf], "replay ends in iretq");
        assert_eq!(&p[REPLAY_EXIT as usize + 0x26..REPLAY_EXIT as usize + 0x28], &[0xe6, 0x42]);
        const { assert!(REPLAY + 0x35 <= REPLAY_EXIT && REPLAY_EXIT + 0x2a <= SETBASE) };
        const { assert!(SETBASE + 49 <= ENTRY_END && ENTRY_END <= VECTORS) };
        assert_eq!(&p[SETBASE as usize + 47..SETBASE as usize + 49], &[0x48, 0xcf]);
        assert_eq!(&p[IRET as usize..IRET as usize + 2], &[0x48, 0xcf]);
        assert!(has_error_code(14) && has_error_code(13) && !has_error_code(3) && !has_error_code(6));
    }

    #[test]
    fn tss_layout() {
        let t = tss(0xffff_ff80_0000_9000);
        assert_eq!(u64::from_le_bytes(t[4..12].try_into().unwrap()), 0xffff_ff80_0000_9000);
        assert_eq!(u16::from_le_bytes([t[102], t[103]]), 104);
    }
}
