//! The KVM platform: each [`Context`] is a vCPU running the workload in
//! guest ring 3 of one VM per sandbox, over page tables the platform builds.
//!
//! * **Guest-physical memory.** Slot 0 is the [`MemoryFile`] at GPA 0 (its
//!   Sentry mapping is the slot's host memory), so a memory-file offset *is*
//!   a guest-physical address. Slot 1 is the platform's private region
//!   ([`layout::PRIV_SIZE`], anonymous, MAP_NORESERVE) at the first GiB
//!   boundary above the memory file: the IDT, the stub code page, the kernel
//!   half's PDPT/PDs, and pages handed out by a small allocator (page-table
//!   pages, and per vCPU a GDT+TSS page and a kernel-stack page).
//! * **Address spaces.** One per context: a PML4 in the private region.
//!   The user half (PML4 entries 0..256) holds 4 KiB pages mapping user
//!   addresses to memory-file offsets (U/S=1, R/W from WRITE, NX unless
//!   EXEC; accessed/dirty preset so the CPU never writes the tables; a
//!   PROT_NONE page is simply not present). Entry 511 maps the whole private
//!   region supervisor-only with 2 MiB pages at [`layout::KERNEL_BASE`]
//!   (executable only in its first 2 MiB, which hold the stub).
//!   `user_range()` is `[0x10000, 0x7fff_ffff_f000)`.
//! * **Page-table writes.** The host writes the tables in the private
//!   region, *and* queues every entry write; the next `switch` enters
//!   through the REPLAY stub, which re-does those writes from the guest,
//!   reloads CR3 (a full flush) and IRETQs, all in the same KVM_RUN. The
//!   replay matters on KVM with shadow paging (PVM, or no EPT/NPT, as on
//!   this host): KVM write-protects guest page tables to keep its shadow in
//!   sync, and host-side writes bypass that, so stale translations would
//!   survive a CR3 reload. Guest writes go through KVM's pte-write path,
//!   which zaps the stale shadow entries. Lists longer than one batch (4096
//!   entries) are replayed in extra KVM_RUNs through REPLAY_EXIT. Freed
//!   table pages are held back until their clearing has been replayed; a
//!   dropped context replays its clearing before its vCPU is pooled, and
//!   PML4 pages are only reused as PML4s.
//! * **SYSCALL under PVM.** PVM (the paravirtual KVM without VMX/SVM)
//!   emulates SYSCALL from ring 3 by jumping to LSTAR with rcx/r11/SFMASK
//!   applied but *without* switching to ring 0; the supervisor-only stub
//!   then takes a #PF at exactly LSTAR with IF clear, which
//!   [`classify::is_syscall_quirk`] recognizes as the syscall (user rsp
//!   from the frame). Native KVM takes the normal LSTAR path. A kick can
//!   stop the vCPU *between* the jump and the #PF: rip = LSTAR but still in
//!   ring 3 (`interrupted` asks KVM for the CPL whenever rip is in the
//!   kernel half). That is reported as the syscall, with the vCPU marked as
//!   in ring 3 and the pending #PF cancelled; before this was handled, the
//!   next entry started the IRETQ stub in ring 3 and its fetch "faulted" at
//!   `KERNEL_BASE + STUB_OFF + IRET` (0xffffff8000001008), which reached
//!   the Sentry as a workload SIGSEGV.
//! * **Platform code never faults for the workload.** A frame with user
//!   cs, a kernel-half rip and IF clear can only be the stub running in
//!   ring 3 (the workload cannot clear IF; a workload jumping into the
//!   kernel half faults with IF set, which is its own fault, as on Linux).
//!   [`classify::is_platform_code_in_ring3`] catches it: an entry stub
//!   entered in ring 3 is recovered from once (ring-0 sregs reloaded,
//!   `Interrupted` with the state `switch` was given); anything else is a
//!   `PlatformError`, never an `Event::Fault`/`Exception`.
//! * **CPU state.** Set once per vCPU: long mode (CR0 PE|MP|ET|NE|WP|AM|PG,
//!   CR4 PAE|OSFXSR|OSXMMEXCPT|OSXSAVE, EFER SCE|LME|LMA|NXE), a per-vCPU
//!   GDT with Linux's selectors (kernel 0x10/0x18, user data 0x2b, user code
//!   0x33, no 32-bit user code), a TSS whose RSP0 is the vCPU's kernel
//!   stack, the shared IDT (every vector an interrupt gate; int3/into
//!   callable from ring 3), STAR/LSTAR/SFMASK for SYSCALL, CPUID = KVM's
//!   supported CPUID, XCR0 = x87|SSE|AVX|AVX-512 as supported.
//! * **switch.** The host writes an IRET frame (user rip, cs 0x33, sanitized
//!   rflags with IF, rsp, ss 0x2b) at the top of the kernel stack, puts the
//!   user's GPRs in `kvm_run`'s synced registers (KVM_CAP_SYNC_REGS: no
//!   GET/SET_REGS ioctls) with rip at the stub's `iretq`, and calls KVM_RUN
//!   once. SYSCALL lands on the LSTAR stub, exceptions on their vector's
//!   stub; both execute `out imm8, al` with a port naming the event
//!   ([`layout::PORT_SYSCALL`], or the vector) → KVM_EXIT_IO. Nothing else
//!   runs in ring 0, so the GPRs are the user's: after SYSCALL `rip = rcx`,
//!   `eflags = r11`, `orig_rax = rax`, `rax = -ENOSYS` (as ptrace shows a
//!   syscall stop); after an exception rip/rflags/rsp come from the frame
//!   the CPU pushed (read through the host mapping), CR2 (page faults only)
//!   from KVM_GET_SREGS. So a syscall round trip is exactly one KVM_RUN.
//!   The return to user mode is always IRETQ (so modified rcx/r11 are
//!   honoured). A non-canonical user rip/rsp is reported as SIGSEGV without
//!   entering.
//! * **fs_base/gs_base** are MSR_FS_BASE/MSR_GS_BASE (the stub never runs
//!   SWAPGS). When `Regs` differ from what the vCPU holds, the entry goes
//!   through the SETBASE stub, which `wrmsr`s them in ring 0 before IRETQ
//!   (same KVM_RUN). CR4.FSGSBASE is off, so only the Sentry changes them.
//! * **FP state** stays in the vCPU across exits; `get/set_fpstate` use the
//!   legacy region of KVM_GET/SET_XSAVE (= the FXSAVE image; KVM_GET_FPU
//!   does not carry MXCSR under PVM), falling back to KVM_GET/SET_FPU. A
//!   fresh or pooled vCPU gets the reset XSAVE state (AVX state included).
//! * **Interrupts.** [`KvmInterrupter`] stores 1 in the vCPU's
//!   `kvm_run.immediate_exit` and sends the kick signal (SIGRTMIN+7, an
//!   empty SA_RESTART handler installed once, unblocked on vCPU threads) to
//!   the vCPU's thread with tgkill; KVM_RUN then returns EINTR (before
//!   entering, or as soon as the signal arrives while the guest runs, even
//!   in a `jmp .` loop). A mutex-protected target that the context clears on
//!   drop makes it safe after the context is gone. On EINTR the guest may be
//!   in ring 3 (its registers are the user's; a half-delivered exception is
//!   cancelled so it re-executes), in the entry stub (the user's registers
//!   are the ones `switch` was given), at an exit stub that was reached
//!   but not yet executed (reported as that event; `Interrupted` follows on
//!   the next `switch`), or, under PVM, at LSTAR in ring 3 (see "SYSCALL
//!   under PVM").
//! * **vCPUs** cannot be destroyed without destroying the VM, so a dropped
//!   context returns its vCPU (with its GDT/TSS/stack pages) to a pool; the
//!   next `new_context` re-initializes it (registers, sregs, pending
//!   events, MSRs, FPU).
//!
//! Requirements on the rest of the Sentry: the kick signal must stay
//! unblocked on threads that call `switch` (new_context unblocks it), and a
//! seccomp filter must allow the KVM ioctls, tgkill, and rt_sigreturn.

pub mod classify;
pub mod fpu;
pub mod layout;
pub mod pagetable;
mod sys;

use std::io;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use kvm_bindings::{kvm_msr_entry, kvm_regs, kvm_segment, kvm_sregs, kvm_xcrs, CpuId, Msrs, KVM_MAX_CPUID_ENTRIES};
use kvm_ioctls::{Cap, SyncReg, VcpuExit, VcpuFd, VmFd};
use tracing::{debug, trace, warn};

use self::classify::{Frame, Outcome};
use self::layout::*;
use self::pagetable::{AddressSpace, Tables, PAGE};
use crate::{Context, Event, FpState, Interrupter, MemoryFile, Platform, PlatformError, Prot, Regs, Result};

/// Lowest and one-past-highest user address.
pub const USER_MIN: u64 = 0x1_0000;
pub const USER_MAX: u64 = 0x7fff_ffff_f000;

const MSR_STAR: u32 = 0xc000_0081;
const MSR_LSTAR: u32 = 0xc000_0082;
const MSR_CSTAR: u32 = 0xc000_0083;
const MSR_SFMASK: u32 = 0xc000_0084;
const MSR_FS_BASE: u32 = 0xc000_0100;
const MSR_GS_BASE: u32 = 0xc000_0101;
const MSR_KERNEL_GS_BASE: u32 = 0xc000_0102;
const MSR_SYSENTER_CS: u32 = 0x174;

const CR0_PE: u64 = 1;
const CR0_MP: u64 = 1 << 1;
const CR0_ET: u64 = 1 << 4;
const CR0_NE: u64 = 1 << 5;
const CR0_WP: u64 = 1 << 16;
const CR0_AM: u64 = 1 << 18;
const CR0_PG: u64 = 1 << 31;
const CR4_PAE: u64 = 1 << 5;
const CR4_OSFXSR: u64 = 1 << 9;
const CR4_OSXMMEXCPT: u64 = 1 << 10;
const CR4_OSXSAVE: u64 = 1 << 18;
const EFER_SCE: u64 = 1;
const EFER_LME: u64 = 1 << 8;
const EFER_LMA: u64 = 1 << 10;
const EFER_NXE: u64 = 1 << 11;

/// Registers for a fresh workload thread: everything zero except `rip`,
/// `rsp`, the segment selectors and `eflags` (IF set). Same as ptrace's.
pub fn initial_regs(rip: u64, rsp: u64) -> Regs {
    let mut r = sys::zero_regs();
    r.rip = rip;
    r.rsp = rsp;
    r.cs = u64::from(USER_CS);
    r.ss = u64::from(USER_DS);
    r.eflags = 0x202;
    r
}

fn host(call: &'static str) -> impl FnOnce(kvm_ioctls::Error) -> PlatformError {
    move |e| PlatformError::Host(call, io::Error::from_raw_os_error(e.errno()))
}

fn bug(msg: String) -> PlatformError {
    PlatformError::Stub(msg)
}

/// Bump allocator with a free list over the private region's pages.
struct PageAlloc {
    next: u64,
    free: Vec<u64>,
}

/// One vCPU and its private pages; pooled across contexts.
struct Vcpu {
    fd: VcpuFd,
    /// Private-region offsets of its GDT+TSS page and its kernel stack page.
    page: u64,
    stack: u64,
    /// First of REPLAY_PAGES pages holding the replay list.
    list: u64,
    imm: sys::ImmediateExit,
}

/// Everything the platform and its contexts share. Field order matters for
/// drop: the VM (and the vCPUs in the pool) go before the memory they use.
struct Shared {
    pool: Mutex<Vec<Vcpu>>,
    vm: VmFd,
    region: sys::Region,
    mem: Arc<MemoryFile>,
    _kvm: kvm_ioctls::Kvm,
    priv_gpa: u64,
    cpuid: CpuId,
    xcr0: Option<u64>,
    cr4: u64,
    alloc: Mutex<PageAlloc>,
    /// PML4 pages of dropped contexts: user half zeroed (and replayed),
    /// kernel entry in place. Only ever reused as PML4s.
    pml4s: Mutex<Vec<u64>>,
    next_id: AtomicU64,
}

impl Shared {
    fn kva(&self, off: u64) -> u64 {
        KERNEL_BASE + off
    }

    fn alloc_page(&self) -> Result<u64> {
        let mut a = self.alloc.lock().expect("page allocator poisoned");
        if let Some(p) = a.free.pop() {
            return Ok(p);
        }
        if a.next + PAGE > PRIV_SIZE {
            return Err(PlatformError::Host("page-table allocation", io::Error::from_raw_os_error(libc::ENOMEM)));
        }
        let p = a.next;
        a.next += PAGE;
        Ok(p)
    }

    /// `n` contiguous fresh pages (vCPU setup only).
    fn alloc_contiguous(&self, n: u64) -> Result<u64> {
        let mut a = self.alloc.lock().expect("page allocator poisoned");
        if a.next + n * PAGE > PRIV_SIZE {
            return Err(PlatformError::Host("page-table allocation", io::Error::from_raw_os_error(libc::ENOMEM)));
        }
        let p = a.next;
        a.next += n * PAGE;
        Ok(p)
    }

    /// Give back a page that is all zeros.
    fn free_page(&self, off: u64) {
        self.alloc.lock().expect("page allocator poisoned").free.push(off);
    }
}

/// Page-table pages in the private region, addressed by GPA. Every write
/// is also queued for replay by the guest (see "Page-table writes" above);
/// freed pages are held back until that replay has run.
struct PrivTables<'a> {
    shared: &'a Shared,
    replay: &'a mut Vec<(u64, u64)>,
    to_free: &'a mut Vec<u64>,
}

impl Tables for PrivTables<'_> {
    fn read(&self, table: u64, index: usize) -> u64 {
        self.shared.region.read_u64(table - self.shared.priv_gpa + 8 * index as u64)
    }
    fn write(&mut self, table: u64, index: usize, entry: u64) {
        let off = table - self.shared.priv_gpa + 8 * index as u64;
        self.shared.region.write_u64(off, entry);
        self.replay.push((self.shared.kva(off), entry));
    }
    fn alloc(&mut self) -> Result<u64> {
        Ok(self.shared.alloc_page()? + self.shared.priv_gpa)
    }
    fn free(&mut self, table: u64) {
        self.to_free.push(table - self.shared.priv_gpa)
    }
}

/// Entries per replay batch: the list pages of a vCPU.
const REPLAY_PAGES: u64 = 16;
const REPLAY_BATCH: usize = (REPLAY_PAGES * PAGE / 16) as usize;

/// The KVM platform.
pub struct Kvm {
    shared: Arc<Shared>,
}

impl Kvm {
    /// Opens /dev/kvm and creates the VM with the memory file as its
    /// guest-physical memory.
    pub fn new(mem: Arc<MemoryFile>) -> Result<Kvm> {
        let kvm = kvm_ioctls::Kvm::new().map_err(host("open /dev/kvm"))?;
        for (cap, name) in
            [(Cap::SyncRegs, "KVM_CAP_SYNC_REGS"), (Cap::ImmediateExit, "KVM_CAP_IMMEDIATE_EXIT"), (Cap::UserMemory, "KVM_CAP_USER_MEMORY")]
        {
            if !kvm.check_extension(cap) {
                return Err(PlatformError::Host(name, io::Error::from_raw_os_error(libc::ENOSYS)));
            }
        }
        let vm = kvm.create_vm().map_err(host("KVM_CREATE_VM"))?;
        let cpuid = kvm.get_supported_cpuid(KVM_MAX_CPUID_ENTRIES).map_err(host("KVM_GET_SUPPORTED_CPUID"))?;
        let leaf = |f: u32, i: u32| cpuid.as_slice().iter().find(|e| e.function == f && e.index == i).copied();
        let phys_bits = leaf(0x8000_0008, 0).map_or(36, |e| e.eax & 0xff);
        let xsave = leaf(1, 0).is_some_and(|e| e.ecx & (1 << 26) != 0);
        let xcr0 = xsave.then(|| leaf(0xd, 0).map_or(3, |e| (u64::from(e.edx) << 32 | u64::from(e.eax)) & 0xe7) | 1);
        let mut cr4 = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT;
        if xsave {
            cr4 |= CR4_OSXSAVE;
        }

        let priv_gpa = mem.size().div_ceil(1 << 30) << 30;
        if priv_gpa + PRIV_SIZE > 1u64 << phys_bits {
            return Err(PlatformError::Host(
                "guest physical address space",
                io::Error::other(format!("memory file of {:#x} bytes does not fit {phys_bits} physical bits", mem.size())),
            ));
        }
        let region = sys::Region::new(PRIV_SIZE).map_err(|e| PlatformError::Host("mmap", e))?;
        // SAFETY: the memory file's mapping and the region are owned by
        // `Shared`, which drops the VM before either.
        unsafe {
            sys::set_memory_region(&vm, 0, 0, mem.size(), mem.as_ptr() as u64)
                .map_err(|e| PlatformError::Host("KVM_SET_USER_MEMORY_REGION", e))?;
            sys::set_memory_region(&vm, 1, priv_gpa, PRIV_SIZE, region.host_addr())
                .map_err(|e| PlatformError::Host("KVM_SET_USER_MEMORY_REGION", e))?;
        }

        // The shared pages: IDT, stub, kernel-half tables.
        region.write_bytes(IDT_OFF, &idt(KERNEL_BASE + STUB_OFF));
        region.write_bytes(STUB_OFF, &stub_page());
        for gib in 0..(PRIV_SIZE >> 30) {
            let pd = KPD_OFF + gib * PAGE;
            region.write_u64(KPDPT_OFF + 8 * gib, pagetable::kernel_table_entry(priv_gpa + pd));
            for i in 0..512 {
                let off = (gib << 30) + (i << 21);
                region.write_u64(pd + 8 * i, pagetable::kernel_large_page(priv_gpa + off, off == 0));
            }
        }
        debug!(priv_gpa, phys_bits, ?xcr0, "kvm platform ready");
        Ok(Kvm {
            shared: Arc::new(Shared {
                pool: Mutex::new(Vec::new()),
                vm,
                region,
                mem,
                _kvm: kvm,
                priv_gpa,
                cpuid,
                xcr0,
                cr4,
                alloc: Mutex::new(PageAlloc { next: ALLOC_OFF, free: Vec::new() }),
                pml4s: Mutex::new(Vec::new()),
                next_id: AtomicU64::new(0),
            }),
        })
    }

    /// Like [`Platform::new_context`], with the concrete type.
    pub fn new_kvm_context(&self) -> Result<KvmContext> {
        KvmContext::new(self.shared.clone())
    }
}

impl Platform for Kvm {
    fn name(&self) -> &'static str {
        "kvm"
    }

    fn user_range(&self) -> (u64, u64) {
        (USER_MIN, USER_MAX)
    }

    fn new_context(&self) -> Result<Box<dyn Context>> {
        Ok(Box::new(self.new_kvm_context()?))
    }
}

/// Where to kick a context: its thread and its `immediate_exit` byte.
#[derive(Clone, Copy)]
struct KickTarget {
    tid: i32,
    imm: sys::ImmediateExit,
}

/// Interrupts a [`KvmContext`]; harmless once the context is gone.
pub struct KvmInterrupter {
    target: Mutex<Option<KickTarget>>,
}

impl Interrupter for KvmInterrupter {
    fn interrupt(&self) {
        let guard = self.target.lock().unwrap_or_else(|e| e.into_inner());
        let Some(t) = *guard else { return };
        // SAFETY: the target is cleared (under this lock) before the vCPU
        // leaves its context, so the kvm_run mapping exists and `tid` is
        // the live thread that owns the context.
        unsafe { t.imm.set(1) };
        if let Err(e) = sys::kick(t.tid) {
            warn!(tid = t.tid, "kicking a vCPU thread: {e}");
        }
    }
}

/// One vCPU and the address space it runs in. Used only on the thread that
/// created it (vCPU ioctls belong to one thread), hence not `Send`.
pub struct KvmContext {
    shared: Arc<Shared>,
    vcpu: Option<Vcpu>,
    space: AddressSpace,
    kick: Arc<KvmInterrupter>,
    /// Page-table writes the guest has not replayed yet, and pages to free
    /// once it has.
    replay: Vec<(u64, u64)>,
    to_free: Vec<u64>,
    /// fs_base/gs_base the vCPU holds.
    fs_base: u64,
    gs_base: u64,
    /// The registers `switch` entered with (the user's state if KVM_RUN is
    /// interrupted before the guest reached ring 3), the stub-page offset
    /// of the entry stub it started at, and whether the ring-0 sregs were
    /// reloaded just before (see [`Self::platform_code_in_ring3`]).
    entry: Regs,
    entry_stub: u64,
    entry_reloaded: bool,
    /// The replay list the current entry carries (put back if KVM_RUN is
    /// interrupted before the guest reached ring 3).
    replaying: Vec<(u64, u64)>,
    /// The sregs set at creation (fs/gs bases aside), and whether the vCPU
    /// was left in ring 3 (interrupted there) so the next entry must reload
    /// them to get back to ring 0 first.
    sregs: kvm_sregs,
    in_user_mode: bool,
    /// An event was reported although KVM_RUN was interrupted: report the
    /// interruption on the next `switch`.
    interrupt_pending: bool,
    _not_send: PhantomData<*mut ()>,
}

impl KvmContext {
    fn new(shared: Arc<Shared>) -> Result<KvmContext> {
        sys::prepare_kick().map_err(|e| PlatformError::Host("sigaction", e))?;
        let pooled_pml4 = shared.pml4s.lock().expect("PML4 pool poisoned").pop();
        let pml4_off = match pooled_pml4 {
            Some(p) => p,
            None => {
                // A fresh page (never a page table before: the free list
                // only holds lower-level tables, and it may have a stale
                // shadow only as one of those).
                let p = shared.alloc_contiguous(1)?;
                let e = pagetable::kernel_table_entry(shared.priv_gpa + KPDPT_OFF);
                shared.region.write_u64(p + 8 * KERNEL_PML4_INDEX as u64, e);
                p
            }
        };
        let pml4 = shared.priv_gpa + pml4_off;
        let pooled = shared.pool.lock().expect("vCPU pool poisoned").pop();
        let mut vcpu = match pooled {
            Some(v) => v,
            None => Self::create_vcpu(&shared)?,
        };
        let r = Self::init_vcpu(&shared, &mut vcpu, pml4);
        let (sregs, r) = match r {
            Ok(s) => (s, Ok(())),
            Err(e) => (kvm_sregs::default(), Err(e)),
        };
        let tid = sys::gettid();
        let ctx = KvmContext {
            kick: Arc::new(KvmInterrupter { target: Mutex::new(Some(KickTarget { tid, imm: vcpu.imm })) }),
            shared,
            vcpu: Some(vcpu),
            space: AddressSpace { pml4 },
            replay: Vec::new(),
            to_free: Vec::new(),
            fs_base: 0,
            gs_base: 0,
            entry: initial_regs(0, 0),
            entry_stub: IRET,
            entry_reloaded: false,
            replaying: Vec::new(),
            sregs,
            in_user_mode: false,
            interrupt_pending: false,
            _not_send: PhantomData,
        };
        r?; // on error, Drop gives everything back
        Ok(ctx)
    }

    fn create_vcpu(shared: &Shared) -> Result<Vcpu> {
        let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
        let mut fd = shared.vm.create_vcpu(id).map_err(host("KVM_CREATE_VCPU"))?;
        fd.set_cpuid2(&shared.cpuid).map_err(host("KVM_SET_CPUID2"))?;
        if let Some(xcr0) = shared.xcr0 {
            let mut x = kvm_xcrs { nr_xcrs: 1, ..Default::default() };
            x.xcrs[0].xcr = 0;
            x.xcrs[0].value = xcr0;
            fd.set_xcrs(&x).map_err(host("KVM_SET_XCRS"))?;
        }
        let page = shared.alloc_page()?;
        let stack = shared.alloc_page()?;
        let list = shared.alloc_contiguous(REPLAY_PAGES)?;
        let tss_kva = shared.kva(page + TSS_IN_PAGE);
        let gdt: Vec<u8> = gdt(tss_kva).iter().flat_map(|d| d.to_le_bytes()).collect();
        shared.region.write_bytes(page, &gdt);
        shared.region.write_bytes(page + TSS_IN_PAGE, &tss(shared.kva(stack + PAGE)));
        fd.set_sync_valid_reg(SyncReg::Register);
        let imm = sys::ImmediateExit::new(std::ptr::addr_of_mut!(fd.get_kvm_run().immediate_exit));
        debug!(id, "created vCPU");
        Ok(Vcpu { fd, page, stack, list, imm })
    }

    /// (Re)initialize a vCPU for a fresh context with page tables `pml4`.
    fn init_vcpu(shared: &Shared, v: &mut Vcpu, pml4: u64) -> Result<kvm_sregs> {
        // SAFETY: the vCPU is ours and its kvm_run mapping is live.
        unsafe { v.imm.set(0) };
        let fd = &v.fd;
        let mut s = fd.get_sregs().map_err(host("KVM_GET_SREGS"))?;
        let seg = |selector: u16, type_: u8, l: u8, db: u8| kvm_segment {
            base: 0,
            limit: 0xffff_ffff,
            selector,
            type_,
            present: 1,
            dpl: 0,
            db,
            s: 1,
            l,
            g: 1,
            avl: 0,
            unusable: 0,
            padding: 0,
        };
        let null = kvm_segment { unusable: 1, present: 0, ..seg(0, 3, 0, 1) };
        s.cs = seg(KERNEL_CS, 0xb, 1, 0);
        s.ss = seg(KERNEL_DS, 0x3, 0, 1);
        s.ds = null;
        s.es = null;
        s.fs = null;
        s.gs = null;
        s.tr = kvm_segment {
            base: shared.kva(v.page + TSS_IN_PAGE),
            limit: TSS_LIMIT,
            selector: TSS_SEL,
            type_: 0xb,
            present: 1,
            dpl: 0,
            db: 0,
            s: 0,
            l: 0,
            g: 0,
            avl: 0,
            unusable: 0,
            padding: 0,
        };
        s.ldt = kvm_segment { type_: 0x2, s: 0, ..null };
        s.gdt.base = shared.kva(v.page);
        s.gdt.limit = (GDT_ENTRIES * 8 - 1) as u16;
        s.idt.base = shared.kva(IDT_OFF);
        s.idt.limit = 4095;
        s.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_AM | CR0_PG;
        s.cr3 = pml4;
        s.cr4 = shared.cr4;
        s.efer = EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE;
        fd.set_sregs(&s).map_err(host("KVM_SET_SREGS"))?;
        // A pooled vCPU must not carry an event into the new context.
        cancel_pending_events(fd)?;
        let msrs = [
            (MSR_STAR, STAR),
            (MSR_LSTAR, shared.kva(STUB_OFF + SYSCALL_ENTRY)),
            (MSR_CSTAR, shared.kva(STUB_OFF + SYSCALL_ENTRY)),
            (MSR_SFMASK, SFMASK),
            (MSR_SYSENTER_CS, 0),
            (MSR_FS_BASE, 0),
            (MSR_GS_BASE, 0),
            (MSR_KERNEL_GS_BASE, 0),
        ];
        set_msrs(fd, &msrs)?;
        // The reset FP state, AVX and AVX-512 state included (a pooled vCPU
        // must not leak the previous context's registers).
        let mut x = kvm_bindings::kvm_xsave::default();
        fpu::into_xsave(&FpState::default(), &mut x);
        if sys::set_xsave(fd, &x).is_err() {
            fd.set_fpu(&fpu::from_fxsave(&FpState::default())).map_err(host("KVM_SET_FPU"))?;
        }
        Ok(s)
    }

    fn vcpu(&mut self) -> &mut Vcpu {
        self.vcpu.as_mut().expect("vCPU present until drop")
    }

    fn tables(&mut self) -> PrivTables<'_> {
        PrivTables { shared: &self.shared, replay: &mut self.replay, to_free: &mut self.to_free }
    }

    /// Write `list` into the vCPU's list pages and the replay arguments
    /// below the frame at `frame`; returns the rsp to enter with.
    fn stage_replay(&self, frame: u64, list: &[(u64, u64)]) -> u64 {
        let v = self.vcpu.as_ref().expect("vCPU present until drop");
        let region = &self.shared.region;
        for (i, &(at, val)) in list.iter().enumerate() {
            region.write_u64(v.list + 16 * i as u64, at);
            region.write_u64(v.list + 16 * i as u64 + 8, val);
        }
        let f = frame - KERNEL_BASE;
        region.write_u64(f - 8, self.space.pml4);
        region.write_u64(f - 16, self.shared.kva(v.list));
        region.write_u64(f - 24, list.len() as u64);
        frame - 24
    }

    /// Replay all but the last batch of pending page-table writes (all of
    /// them if `all`), each in its own KVM_RUN through REPLAY_EXIT.
    fn replay_batches(&mut self, all: bool) -> Result<()> {
        self.enter_ring0()?;
        let keep = if all { 0 } else { REPLAY_BATCH };
        while self.replay.len() > keep {
            let n = if all { self.replay.len().min(REPLAY_BATCH) } else { REPLAY_BATCH };
            let batch: Vec<_> = self.replay.drain(..n).collect();
            let frame = self.stack_top() - 40;
            let rsp = self.stage_replay(frame, &batch);
            let k = kvm_regs { rsp, rip: self.shared.kva(STUB_OFF + REPLAY_EXIT), rflags: 2, ..Default::default() };
            let v = self.vcpu.as_mut().expect("vCPU present until drop");
            v.fd.sync_regs_mut().regs = k;
            v.fd.set_sync_dirty_reg(SyncReg::Register);
            loop {
                match v.fd.run() {
                    Ok(VcpuExit::IoOut(PORT_REPLAYED, _)) => break,
                    Ok(other) => return Err(bug(format!("kvm: page-table replay ended with {other:?}"))),
                    // Interrupted: the replay is idempotent; run it again
                    // and let the next switch report the interruption.
                    Err(e) if e.errno() == libc::EINTR => {
                        // SAFETY: our own vCPU's live kvm_run mapping.
                        unsafe { v.imm.set(0) };
                        self.interrupt_pending = true;
                        v.fd.sync_regs_mut().regs = k;
                        v.fd.set_sync_dirty_reg(SyncReg::Register);
                    }
                    Err(e) => return Err(host("KVM_RUN")(e)),
                }
            }
        }
        if self.replay.is_empty() {
            self.release_freed();
        }
        Ok(())
    }

    /// The guest has replayed every write: freed tables are clean now.
    fn release_freed(&mut self) {
        for p in self.to_free.drain(..) {
            self.shared.region.zero(p, PAGE);
            self.shared.free_page(p);
        }
    }

    /// Make sure the vCPU is in ring 0 (it is unless an interrupt stopped
    /// it in ring 3), with the segment bases = fs_base/gs_base.
    fn enter_ring0(&mut self) -> Result<()> {
        if self.in_user_mode {
            self.set_sregs()?;
        }
        Ok(())
    }

    fn set_sregs(&mut self) -> Result<()> {
        let mut s = self.sregs;
        s.fs.base = self.fs_base;
        s.gs.base = self.gs_base;
        self.vcpu().fd.set_sregs(&s).map_err(host("KVM_SET_SREGS"))?;
        self.in_user_mode = false;
        Ok(())
    }

    /// Kernel address of the top of this vCPU's kernel stack.
    fn stack_top(&self) -> u64 {
        let v = self.vcpu.as_ref().expect("vCPU present until drop");
        self.shared.kva(v.stack + PAGE)
    }

    fn read_frame(&self, kva: u64) -> Frame {
        let off = kva - KERNEL_BASE;
        let r = |i: u64| self.shared.region.read_u64(off + 8 * i);
        Frame { rip: r(0), cs: r(1), rflags: r(2), rsp: r(3), ss: r(4) }
    }

    fn write_frame(&self, kva: u64, f: &Frame) {
        let off = kva - KERNEL_BASE;
        for (i, v) in [f.rip, f.cs, f.rflags, f.rsp, f.ss].into_iter().enumerate() {
            self.shared.region.write_u64(off + 8 * i as u64, v);
        }
    }

    /// The vCPU left through the exit stub that reports `port`; `k` are its
    /// registers there.
    /// Does the completion bookkeeping of the entry (see
    /// [`Self::entry_complete`]) unless the entry turns out never to have
    /// reached the workload.
    fn exit_event(&mut self, port: u16, k: &kvm_regs, regs: &mut Regs) -> Result<Event> {
        if port == PORT_SYSCALL {
            self.entry_complete();
            *regs = classify::syscall_regs(k, self.fs_base, self.gs_base);
            return Ok(Event::Syscall);
        }
        if port >= 32 {
            return Err(bug(format!("kvm: unexpected exit port {port:#x} at rip {:#x}", k.rip)));
        }
        let vector = port as u8;
        let err = has_error_code(vector);
        let frame_at = self.stack_top() - 40 - if err { 8 } else { 0 };
        if k.rsp != frame_at {
            return Err(bug(format!(
                "kvm: exception {vector} in ring 0 (rsp {:#x}, expected {frame_at:#x}, rip {:#x})",
                k.rsp, k.rip
            )));
        }
        let error = if err { self.shared.region.read_u64(frame_at - KERNEL_BASE) } else { 0 };
        let frame = self.read_frame(if err { frame_at + 8 } else { frame_at });
        if vector == 14 && classify::is_syscall_quirk(&frame, self.shared.kva(STUB_OFF + SYSCALL_ENTRY)) {
            self.entry_complete();
            *regs = classify::syscall_regs(k, self.fs_base, self.gs_base);
            regs.rsp = frame.rsp; // k.rsp is the handler's
            return Ok(Event::Syscall);
        }
        if classify::is_platform_code_in_ring3(&frame) {
            // Never a workload fault: the workload cannot clear IF.
            return self.platform_code_in_ring3(frame.rip, frame.rsp, regs);
        }
        self.entry_complete();
        if frame.cs != u64::from(USER_CS) {
            return Err(bug(format!("kvm: exception {vector} with cs {:#x} at {:#x}", frame.cs, frame.rip)));
        }
        let cr2 = if vector == 14 { self.vcpu().fd.get_sregs().map_err(host("KVM_GET_SREGS"))?.cr2 } else { 0 };
        let mut fp_err = None;
        let outcome = classify::classify(vector, error, cr2, frame.rip, |v| match self.get_fpstate() {
            Ok(fp) => {
                let b = &fp.0;
                if v == 16 {
                    let cw = u32::from(u16::from_le_bytes([b[0], b[1]]));
                    let sw = u32::from(u16::from_le_bytes([b[2], b[3]]));
                    sw & !cw & 0x3f
                } else {
                    let mx = u32::from_le_bytes(b[24..28].try_into().expect("4 bytes"));
                    (mx & 0x3f) & !(mx >> 7)
                }
            }
            Err(e) => {
                fp_err = Some(e);
                0
            }
        });
        if let Some(e) = fp_err {
            return Err(e);
        }
        match outcome {
            Outcome::Event(ev) => {
                *regs = classify::exception_regs(k, &frame, self.fs_base, self.gs_base);
                Ok(ev)
            }
            Outcome::Bug => Err(bug(format!(
                "kvm: exception {vector} (error {error:#x}, cr2 {cr2:#x}) at {:#x}",
                frame.rip
            ))),
        }
    }

    /// The entry reached the workload: the replay it carried is done, and
    /// freed tables are clean once nothing is left to replay.
    fn entry_complete(&mut self) {
        self.replaying.clear();
        if self.replay.is_empty() {
            self.release_freed();
        }
    }

    /// The entry never reached the workload: the user state is what
    /// `switch` was given, the replay (idempotent) runs again on the next
    /// entry, and fs/gs bases a SETBASE entry carried may not be loaded.
    fn entry_incomplete(&mut self, regs: &mut Regs) -> Event {
        *regs = self.entry;
        if self.entry_stub == SETBASE {
            self.fs_base = u64::MAX; // not (fully) loaded: force it next time
        }
        let mut list = std::mem::take(&mut self.replaying);
        list.append(&mut self.replay);
        self.replay = list;
        Event::Interrupted
    }

    /// The platform's own code (a kernel-half `rip`, IF clear) ran in ring 3.
    /// The one way this can happen is an entry made while the vCPU was still
    /// in ring 3: the entry stub's first fetch faults (supervisor-only page)
    /// before anything ran. Recover from that once (reload the ring-0
    /// sregs, report an interruption with the state `switch` was given);
    /// anything else is a platform bug, never a workload fault.
    fn platform_code_in_ring3(&mut self, rip: u64, rsp: u64, regs: &mut Regs) -> Result<Event> {
        let entry_rip = self.shared.kva(STUB_OFF + self.entry_stub);
        if rip == entry_rip && !self.entry_reloaded {
            warn!(rip, rsp, "kvm: entered the stub in ring 3; reloading the ring-0 state");
            self.in_user_mode = true;
            return Ok(self.entry_incomplete(regs));
        }
        Err(bug(format!(
            "kvm: platform code at {rip:#x} ran in ring 3 (rsp {rsp:#x}; entered at {entry_rip:#x}, sregs reloaded: {})",
            self.entry_reloaded
        )))
    }

    /// The vCPU's current privilege level.
    fn cpl(&mut self) -> Result<u8> {
        let s = self.vcpu().fd.get_sregs().map_err(host("KVM_GET_SREGS"))?;
        Ok(classify::cpl(&s.cs))
    }

    /// KVM_RUN returned EINTR: work out where the guest stopped.
    fn interrupted(&mut self, regs: &mut Regs) -> Result<Event> {
        let v = self.vcpu();
        // SAFETY: our own vCPU's live kvm_run mapping.
        unsafe { v.imm.set(0) };
        let k = v.fd.sync_regs_mut().regs;
        let user_rip = classify::is_user_canonical(k.rip);
        // A user rip means ring 3. A kernel-half rip usually means ring 0,
        // but not always: under PVM, SYSCALL jumps to LSTAR *in ring 3* and
        // the #PF that brings it to ring 0 may not have been taken yet.
        let ring3 = user_rip || self.cpl()? == 3;
        if ring3 {
            // An exception being delivered when the exit came would be
            // re-injected on the next entry, wherever that is: cancel it;
            // the instruction re-executes (and faults again) or, at LSTAR,
            // the syscall is reported below. The next entry must reload the
            // ring-0 sregs first.
            self.in_user_mode = true;
            cancel_pending_events(&self.vcpu().fd)?;
        }
        let off = k.rip.wrapping_sub(self.shared.kva(STUB_OFF));
        if user_rip {
            self.entry_complete();
            *regs = classify::user_regs(&k, self.fs_base, self.gs_base);
            return Ok(Event::Interrupted);
        }
        if ring3 {
            if off == SYSCALL_ENTRY && k.rflags & classify::RFLAGS_IF == 0 {
                // PVM's SYSCALL, cut short before its #PF at LSTAR: the
                // syscall happened (rcx/r11/SFMASK applied; rsp is still the
                // user's). Report it; the interruption follows.
                debug!(rip = k.rcx, "kvm: interrupted at LSTAR in ring 3: a syscall");
                self.entry_complete();
                *regs = classify::syscall_regs(&k, self.fs_base, self.gs_base);
                self.interrupt_pending = true;
                return Ok(Event::Syscall);
            }
            if k.rflags & classify::RFLAGS_IF != 0 {
                // The workload jumped into the kernel half itself (its
                // fetch fault cancelled above): what that fault reports.
                self.entry_complete();
                *regs = classify::user_regs(&k, self.fs_base, self.gs_base);
                self.interrupt_pending = true;
                return Ok(Event::Fault { addr: k.rip, access: crate::Access { read: false, write: false, exec: true } });
            }
            return self.platform_code_in_ring3(k.rip, k.rsp, regs);
        }
        if off < ENTRY_END && off != SYSCALL_ENTRY {
            // Still on the way in (ring 0).
            return Ok(self.entry_incomplete(regs));
        }
        if let Some(port) = port_at(off) {
            // At an exit stub in ring 0, not yet executed.
            self.interrupt_pending = true;
            return self.exit_event(port, &k, regs);
        }
        Err(bug(format!("kvm: interrupted in ring 0 at {:#x}", k.rip)))
    }
}

/// Cancel any exception, interrupt or NMI KVM would deliver on the next
/// KVM_RUN.
fn cancel_pending_events(fd: &VcpuFd) -> Result<()> {
    let mut ev = fd.get_vcpu_events().map_err(host("KVM_GET_VCPU_EVENTS"))?;
    if ev.exception.injected != 0 || ev.exception.pending != 0 || ev.interrupt.injected != 0 || ev.nmi.injected != 0 || ev.nmi.pending != 0
    {
        trace!(nr = ev.exception.nr, "cancelling a pending event");
        ev.exception.injected = 0;
        ev.exception.pending = 0;
        ev.interrupt.injected = 0;
        ev.nmi.injected = 0;
        ev.nmi.pending = 0;
        ev.flags = 0;
        fd.set_vcpu_events(&ev).map_err(host("KVM_SET_VCPU_EVENTS"))?;
    }
    Ok(())
}

fn set_msrs(fd: &VcpuFd, msrs: &[(u32, u64)]) -> Result<bool> {
    let entries: Vec<kvm_msr_entry> =
        msrs.iter().map(|&(index, data)| kvm_msr_entry { index, data, ..Default::default() }).collect();
    let m = Msrs::from_entries(&entries).map_err(|e| PlatformError::Host("KVM_SET_MSRS", io::Error::other(format!("{e:?}"))))?;
    let n = fd.set_msrs(&m).map_err(host("KVM_SET_MSRS"))?;
    if n != msrs.len() {
        warn!(set = n, of = msrs.len(), first_failed = ?msrs.get(n), "KVM_SET_MSRS stopped early");
    }
    Ok(n == msrs.len())
}

impl Context for KvmContext {
    fn switch(&mut self, regs: &mut Regs) -> Result<Event> {
        if std::mem::take(&mut self.interrupt_pending) {
            return Ok(Event::Interrupted);
        }
        regs.cs = u64::from(USER_CS);
        regs.ss = u64::from(USER_DS);
        if !classify::is_user_canonical(regs.rip) || !classify::is_user_canonical(regs.rsp) {
            // IRETQ would fault in ring 0; Linux delivers SIGSEGV.
            return Ok(Event::Exception { signo: libc::SIGSEGV, code: classify::SI_KERNEL, addr: 0 });
        }
        if !classify::is_user_canonical(regs.fs_base) || !classify::is_user_canonical(regs.gs_base) {
            return Ok(Event::Exception { signo: libc::SIGSEGV, code: classify::SI_KERNEL, addr: 0 });
        }
        self.entry_reloaded = self.in_user_mode;
        self.enter_ring0()?;
        let set_bases = regs.fs_base != self.fs_base || regs.gs_base != self.gs_base;
        if set_bases && !self.replay.is_empty() {
            self.replay_batches(true)?;
        } else if self.replay.len() > REPLAY_BATCH {
            self.replay_batches(false)?;
        }
        let frame = self.stack_top() - 40;
        self.write_frame(frame, &classify::iret_frame(regs));
        let list = std::mem::take(&mut self.replay);
        self.entry_stub = if set_bases {
            SETBASE
        } else if list.is_empty() {
            IRET
        } else {
            REPLAY
        };
        let k = if set_bases {
            // The guest loads the bases itself (see SETBASE).
            let f = frame - KERNEL_BASE;
            self.shared.region.write_u64(f - 8, regs.fs_base);
            self.shared.region.write_u64(f - 16, regs.gs_base);
            self.fs_base = regs.fs_base;
            self.gs_base = regs.gs_base;
            classify::entry_regs(regs, frame - 16, self.shared.kva(STUB_OFF + SETBASE))
        } else if list.is_empty() {
            classify::entry_regs(regs, frame, self.shared.kva(STUB_OFF + IRET))
        } else {
            let rsp = self.stage_replay(frame, &list);
            classify::entry_regs(regs, rsp, self.shared.kva(STUB_OFF + REPLAY))
        };
        self.replaying = list;
        self.entry = *regs;
        let v = self.vcpu();
        v.fd.sync_regs_mut().regs = k;
        v.fd.set_sync_dirty_reg(SyncReg::Register);
        let port = match v.fd.run() {
            Ok(VcpuExit::IoOut(port, _)) => port,
            Ok(other) => {
                let what = format!("{other:?}");
                let rip = v.fd.sync_regs_mut().regs.rip;
                return Err(bug(format!("kvm: unexpected exit {what} at rip {rip:#x}")));
            }
            Err(e) if e.errno() == libc::EINTR => return self.interrupted(regs),
            Err(e) => return Err(host("KVM_RUN")(e)),
        };
        let k = v.fd.sync_regs_mut().regs;
        let off = k.rip.wrapping_sub(self.shared.kva(STUB_OFF));
        if port_at(off.wrapping_sub(2)) != Some(port) && port_at(off) != Some(port) {
            return Err(bug(format!("kvm: port {port:#x} written at rip {:#x}", k.rip)));
        }
        let ev = self.exit_event(port, &k, regs)?;
        trace!(?ev, rip = regs.rip, "kvm exit");
        Ok(ev)
    }

    fn map(&mut self, addr: u64, len: u64, prot: Prot, offset: u64) -> Result<()> {
        pagetable::check_range(addr, len, USER_MIN, USER_MAX)?;
        if !offset.is_multiple_of(PAGE) || offset.checked_add(len).is_none_or(|e| e > self.shared.mem.size()) {
            return Err(PlatformError::Host("map", io::Error::from_raw_os_error(libc::EINVAL)));
        }
        let space = AddressSpace { pml4: self.space.pml4 };
        space.map(&mut self.tables(), addr, len, prot, offset)?;
        Ok(())
    }

    fn unmap(&mut self, addr: u64, len: u64) -> Result<()> {
        pagetable::check_range(addr, len, USER_MIN, USER_MAX)?;
        let space = AddressSpace { pml4: self.space.pml4 };
        space.unmap(&mut self.tables(), addr, len)?;
        Ok(())
    }

    fn protect(&mut self, addr: u64, len: u64, prot: Prot) -> Result<()> {
        pagetable::check_range(addr, len, USER_MIN, USER_MAX)?;
        let space = AddressSpace { pml4: self.space.pml4 };
        space.protect(&mut self.tables(), addr, len, prot)?;
        Ok(())
    }

    fn get_fpstate(&mut self) -> Result<FpState> {
        let fd = &self.vcpu().fd;
        if let Ok(x) = fd.get_xsave() {
            return Ok(fpu::from_xsave(&x));
        }
        let f = fd.get_fpu().map_err(host("KVM_GET_FPU"))?;
        Ok(fpu::to_fxsave(&f))
    }

    fn set_fpstate(&mut self, fp: &FpState) -> Result<()> {
        let fd = &self.vcpu().fd;
        if let Ok(mut x) = fd.get_xsave() {
            fpu::into_xsave(fp, &mut x);
            return sys::set_xsave(fd, &x).map_err(|e| PlatformError::Host("KVM_SET_XSAVE", e));
        }
        fd.set_fpu(&fpu::from_fxsave(fp)).map_err(host("KVM_SET_FPU"))
    }

    fn interrupter(&self) -> Arc<dyn Interrupter> {
        self.kick.clone()
    }
}

impl Drop for KvmContext {
    fn drop(&mut self) {
        *self.kick.target.lock().unwrap_or_else(|e| e.into_inner()) = None;
        let space = AddressSpace { pml4: self.space.pml4 };
        space.clear(&mut self.tables(), 256);
        // The guest must replay the clearing before any of these pages is
        // used again (a stale shadow of them would map old pages).
        let replayed = self.vcpu.is_some() && self.replay_batches(true).is_ok();
        if !replayed {
            warn!("kvm: could not replay a dropped context's page tables; leaking them and its vCPU");
            self.to_free.clear();
            self.vcpu = None;
            return;
        }
        let pml4_off = self.space.pml4 - self.shared.priv_gpa;
        self.shared.pml4s.lock().unwrap_or_else(|e| e.into_inner()).push(pml4_off);
        if let Some(v) = self.vcpu.take() {
            self.shared.pool.lock().unwrap_or_else(|e| e.into_inner()).push(v);
        }
    }
}
