//! The KVM platform end to end: vCPUs running the same tiny hand-assembled
//! code pages as tests/ptrace.rs. Every test skips (with a message) when
//! /dev/kvm is missing or unusable.

use std::sync::{mpsc, Arc};

use platform::kvm::{initial_regs, Kvm};
use platform::{Access, Context, Event, MemoryFile, Platform, PlatformError, Prot};

const CODE: u64 = 0x40_0000;
const DATA: u64 = 0x50_0000;
const CODE_OFF: u64 = 0;
const DATA_OFF: u64 = 0x1000;
const PAGE: u64 = 4096;

const READ: Access = Access { read: true, write: false, exec: false };
const WRITE: Access = Access { read: false, write: true, exec: false };
const EXEC: Access = Access { read: false, write: false, exec: true };

fn setup() -> Option<(Arc<MemoryFile>, Kvm)> {
    if !std::path::Path::new("/dev/kvm").exists() {
        eprintln!("SKIPPED: /dev/kvm does not exist");
        return None;
    }
    let mem = Arc::new(MemoryFile::new(1 << 24).unwrap());
    match Kvm::new(mem.clone()) {
        Ok(p) => Some((mem, p)),
        Err(PlatformError::Host("open /dev/kvm", e)) => {
            eprintln!("SKIPPED: cannot open /dev/kvm: {e}");
            None
        }
        Err(e) => panic!("KVM platform: {e}"),
    }
}

/// A context with `code` at CODE (R|X), about to run it.
fn with_code(mem: &MemoryFile, p: &Kvm, code: &[u8]) -> (Box<dyn Context>, platform::Regs) {
    mem.write(CODE_OFF, code);
    let mut ctx = p.new_context().unwrap();
    ctx.map(CODE, PAGE, Prot::READ | Prot::EXEC, CODE_OFF).unwrap();
    (ctx, initial_regs(CODE, 0))
}

fn read_u64(mem: &MemoryFile, off: u64) -> u64 {
    let mut b = [0u8; 8];
    mem.read(off, &mut b);
    u64::from_le_bytes(b)
}

#[test]
fn name_and_range() {
    let Some((_mem, p)) = setup() else { return };
    assert_eq!(p.name(), "kvm");
    let (lo, hi) = p.user_range();
    assert!(lo > 0 && hi <= 0x7fff_ffff_f000 && hi > 0x7000_0000_0000);
}

#[test]
fn syscalls_are_intercepted_and_results_returned() {
    let Some((mem, p)) = setup() else { return };
    #[rustfmt::skip]
    let code = [
        0xb8, 39, 0, 0, 0,       // mov eax, 39 (getpid)
        0x0f, 0x05,              // syscall
        0x48, 0x89, 0xc7,        // mov rdi, rax
        0xb8, 60, 0, 0, 0,       // mov eax, 60 (exit)
        0x0f, 0x05,              // syscall
        0xb8, 231, 0, 0, 0,      // mov eax, 231 (exit_group)
        0x0f, 0x05,              // syscall
    ];
    let (mut ctx, mut regs) = with_code(&mem, &p, &code);
    regs.rsp = 0x7777_0000;
    regs.r11 = 0x1111;
    regs.rbx = 0xb0b0;
    assert_eq!(ctx.switch(&mut regs).unwrap(), Event::Syscall);
    assert_eq!(regs.orig_rax, 39);
    assert_eq!(regs.rip, CODE + 7);
    assert_eq!(regs.rcx, CODE + 7, "rcx as SYSCALL set it");
    assert_eq!(regs.r11, regs.eflags, "r11 as SYSCALL set it");
    assert_eq!(regs.eflags & 0x200, 0x200, "user flags have IF");
    assert_eq!((regs.rsp, regs.rbx, regs.cs, regs.ss), (0x7777_0000, 0xb0b0, 0x33, 0x2b));
    regs.rax = 1234;
    assert_eq!(ctx.switch(&mut regs).unwrap(), Event::Syscall);
    assert_eq!(regs.orig_rax, 60);
    assert_eq!(regs.rdi, 1234);
    assert_eq!(ctx.switch(&mut regs).unwrap(), Event::Syscall);
    assert_eq!(regs.orig_rax, 231);
    assert_eq!(regs.rip, CODE + code.len() as u64);
}

#[test]
fn modified_rcx_r11_and_flags_are_honoured() {
    let Some((mem, p)) = setup() else { return };
    #[rustfmt::skip]
    let code = [
        0x0f, 0x05,             // 0: syscall
        0x48, 0x89, 0xcf,       // 2: mov rdi, rcx
        0x4c, 0x89, 0xde,       // mov rsi, r11
        0x9c,                   // pushfq
        0x5a,                   // pop rdx
        0x0f, 0x05,             // syscall
    ];
    mem.write(DATA_OFF, &[0; 16]);
    let (mut ctx, mut regs) = with_code(&mem, &p, &code);
    ctx.map(DATA, PAGE, Prot::READ | Prot::WRITE, DATA_OFF).unwrap();
    regs.rsp = DATA + PAGE;
    assert_eq!(ctx.switch(&mut regs).unwrap(), Event::Syscall);
    regs.rcx = 0xaaaa;
    regs.r11 = 0xbbbb;
    regs.eflags = 0x3202 | 0x1 | 0x4000; // CF, plus IOPL 3 and NT (dropped)
    assert_eq!(ctx.switch(&mut regs).unwrap(), Event::Syscall);
    assert_eq!((regs.rdi, regs.rsi), (0xaaaa, 0xbbbb));
    assert_eq!(regs.rdx & 0x7fff, 0x203, "CF and IF kept, IOPL and NT not");
}

#[test]
fn faults_then_map_then_shared_memory() {
    let Some((mem, p)) = setup() else { return };
    #[rustfmt::skip]
    let code = [
        0x48, 0x8b, 0x04, 0x25, 0x00, 0x00, 0x50, 0x00, // mov rax, [0x500000]
        0x48, 0x89, 0xc7,                               // mov rdi, rax
        0x48, 0xf7, 0xd7,                               // not rdi
        0x48, 0x89, 0x3c, 0x25, 0x08, 0x00, 0x50, 0x00, // mov [0x500008], rdi
        0xb8, 1, 0, 0, 0,                               // mov eax, 1
        0x0f, 0x05,                                     // syscall
    ];
    let (mut ctx, mut regs) = with_code(&mem, &p, &code);
    let v = 0xdead_beef_cafe_f00du64;
    mem.write(DATA_OFF, &v.to_le_bytes());
    regs.rbx = 77;
    let ev = ctx.switch(&mut regs).unwrap();
    assert_eq!(ev, Event::Fault { addr: DATA, access: READ });
    assert_eq!(regs.rip, CODE, "registers are at the faulting instruction");
    assert_eq!(regs.rbx, 77);
    assert_eq!(regs.orig_rax, u64::MAX);
    ctx.map(DATA, PAGE, Prot::READ | Prot::WRITE, DATA_OFF).unwrap();
    assert_eq!(ctx.switch(&mut regs).unwrap(), Event::Syscall);
    assert_eq!(regs.orig_rax, 1);
    assert_eq!(regs.rdi, !v, "the workload read what the Sentry wrote");
    assert_eq!(read_u64(&mem, DATA_OFF + 8), !v, "the Sentry sees what the workload wrote");
}

#[test]
fn write_to_unmapped_page_is_a_write_fault() {
    let Some((mem, p)) = setup() else { return };
    let code = [0x48, 0x89, 0x3c, 0x25, 0x00, 0x00, 0x50, 0x00]; // mov [0x500000], rdi
    let (mut ctx, mut regs) = with_code(&mem, &p, &code);
    assert_eq!(ctx.switch(&mut regs).unwrap(), Event::Fault { addr: DATA, access: WRITE });
}

#[test]
fn protect_and_unmap_fault() {
    let Some((mem, p)) = setup() else { return };
    #[rustfmt::skip]
    let code = [
        0x48, 0x89, 0x3c, 0x25, 0x00, 0x00, 0x50, 0x00, // 0: mov [0x500000], rdi
        0xb8, 1, 0, 0, 0,                               // mov eax, 1
        0x0f, 0x05,                                     // syscall
        0xeb, 0xef,                                     // jmp 0
    ];
    let (mut ctx, mut regs) = with_code(&mem, &p, &code);
    ctx.map(DATA, PAGE, Prot::READ | Prot::WRITE, DATA_OFF).unwrap();
    ctx.map(DATA + 2 * PAGE, PAGE, Prot::READ | Prot::WRITE, DATA_OFF + PAGE).unwrap();
    regs.rdi = 7;
    assert_eq!(ctx.switch(&mut regs).unwrap(), Event::Syscall);
    assert_eq!(read_u64(&mem, DATA_OFF), 7);

    ctx.protect(DATA, 3 * PAGE, Prot::READ).unwrap();
    regs.rdi = 8;
    let ev = ctx.switch(&mut regs).unwrap();
    assert_eq!(ev, Event::Fault { addr: DATA, access: WRITE });
    assert_eq!(regs.rip, CODE);
    assert_eq!(read_u64(&mem, DATA_OFF), 7);

    ctx.protect(DATA, 3 * PAGE, Prot::READ | Prot::WRITE).unwrap();
    assert_eq!(ctx.switch(&mut regs).unwrap(), Event::Syscall);
    assert_eq!(read_u64(&mem, DATA_OFF), 8);

    ctx.unmap(DATA, 3 * PAGE).unwrap();
    regs.rdi = 9;
    assert_eq!(ctx.switch(&mut regs).unwrap(), Event::Fault { addr: DATA, access: WRITE });
    // Remapped elsewhere in the file: the stale translation must be gone.
    ctx.map(DATA, PAGE, Prot::READ | Prot::WRITE, DATA_OFF + 2 * PAGE).unwrap();
    assert_eq!(ctx.switch(&mut regs).unwrap(), Event::Syscall);
    assert_eq!(read_u64(&mem, DATA_OFF + 2 * PAGE), 9);
    assert_eq!(read_u64(&mem, DATA_OFF), 8);
    // Remap a present page without unmapping first.
    ctx.map(DATA, PAGE, Prot::READ | Prot::WRITE, DATA_OFF + 3 * PAGE).unwrap();
    regs.rdi = 10;
    assert_eq!(ctx.switch(&mut regs).unwrap(), Event::Syscall);
    assert_eq!(read_u64(&mem, DATA_OFF + 3 * PAGE), 10);
    assert_eq!(read_u64(&mem, DATA_OFF + 2 * PAGE), 9);
    ctx.unmap(0x1000_0000, 16 * PAGE).unwrap();
    ctx.protect(0x1000_0000, 16 * PAGE, Prot::READ).unwrap();
}

#[test]
fn exceptions_and_exec_faults() {
    let Some((mem, p)) = setup() else { return };
    #[rustfmt::skip]
    let code = [
        0xcc,                   // 0: int3
        0x0f, 0x0b,             // 1: ud2
        0x31, 0xc9,             // 3: xor ecx, ecx
        0xf7, 0xf1,             // 5: div ecx
        0xf4,                   // 7: hlt (privileged: #GP)
    ];
    let (mut ctx, mut regs) = with_code(&mem, &p, &code);
    let ev = ctx.switch(&mut regs).unwrap();
    assert_eq!(ev, Event::Exception { signo: libc::SIGTRAP, code: 0x80, addr: 0 });
    assert_eq!(regs.rip, CODE + 1, "int3 reports the next instruction");
    let ev = ctx.switch(&mut regs).unwrap();
    assert_eq!(ev, Event::Exception { signo: libc::SIGILL, code: 2, addr: CODE + 1 });
    assert_eq!(regs.rip, CODE + 1);
    regs.rip = CODE + 3;
    let ev = ctx.switch(&mut regs).unwrap();
    assert_eq!(ev, Event::Exception { signo: libc::SIGFPE, code: 1, addr: CODE + 5 });
    assert_eq!(regs.rip, CODE + 5);
    regs.rip = CODE + 7;
    let ev = ctx.switch(&mut regs).unwrap();
    assert_eq!(ev, Event::Exception { signo: libc::SIGSEGV, code: 0x80, addr: 0 });
    assert_eq!(regs.rip, CODE + 7);
    // Jump to nowhere: an exec fault.
    regs.rip = 0x60_0000;
    let ev = ctx.switch(&mut regs).unwrap();
    assert_eq!(ev, Event::Fault { addr: 0x60_0000, access: EXEC });
    // Code mapped without EXEC: an exec fault on a present page.
    ctx.map(0x60_0000, PAGE, Prot::READ, CODE_OFF).unwrap();
    let ev = ctx.switch(&mut regs).unwrap();
    assert_eq!(ev, Event::Fault { addr: 0x60_0000, access: EXEC });
    ctx.protect(0x60_0000, PAGE, Prot::READ | Prot::EXEC).unwrap();
    let ev = ctx.switch(&mut regs).unwrap();
    assert!(matches!(ev, Event::Exception { signo: libc::SIGTRAP, .. }), "{ev:?}");
    assert_eq!(regs.rip, 0x60_0001);
    // Kernel and non-canonical addresses are not the workload's.
    regs.rip = 0xffff_ff80_0000_1000;
    let ev = ctx.switch(&mut regs).unwrap();
    assert_eq!(ev, Event::Exception { signo: libc::SIGSEGV, code: 0x80, addr: 0 });
    regs.rip = 0x60_0000;
    regs.rsp = 0x8000_0000_0000;
    let ev = ctx.switch(&mut regs).unwrap();
    assert_eq!(ev, Event::Exception { signo: libc::SIGSEGV, code: 0x80, addr: 0 });
}

#[test]
fn kernel_half_is_not_reachable_from_user_mode() {
    let Some((mem, p)) = setup() else { return };
    // mov rax, [0xffffff8000001000]  (the stub page)
    let code = [0x48, 0xa1, 0x00, 0x10, 0x00, 0x00, 0x80, 0xff, 0xff, 0xff];
    let (mut ctx, mut regs) = with_code(&mem, &p, &code);
    let ev = ctx.switch(&mut regs).unwrap();
    assert_eq!(ev, Event::Fault { addr: 0xffff_ff80_0000_1000, access: READ });
}

#[test]
fn interrupter_wakes_a_spinning_context() {
    let Some((mem, p)) = setup() else { return };
    let mut code = vec![0xeb, 0xfe]; // 0: jmp .
    code.resize(0x10, 0x90);
    code.extend([0xb8, 39, 0, 0, 0, 0x0f, 0x05]); // 0x10: mov eax, 39; syscall
    let (mut ctx, mut regs) = with_code(&mem, &p, &code);
    let intr = ctx.interrupter();
    let (go, rx) = mpsc::channel::<()>();
    let t = std::thread::spawn(move || {
        while rx.recv().is_ok() {
            intr.interrupt();
        }
    });
    for _ in 0..3 {
        go.send(()).unwrap();
        assert_eq!(ctx.switch(&mut regs).unwrap(), Event::Interrupted);
        assert_eq!(regs.rip, CODE, "still in the loop");
    }
    regs.rip = CODE + 0x10;
    assert_eq!(ctx.switch(&mut regs).unwrap(), Event::Syscall);
    assert_eq!(regs.orig_rax, 39);
    drop(go);
    t.join().unwrap();
}

#[test]
fn interrupt_before_switch_is_kept_and_harmless_after_drop() {
    let Some((mem, p)) = setup() else { return };
    let code = [0xb8, 39, 0, 0, 0, 0x0f, 0x05]; // mov eax, 39; syscall
    let (mut ctx, mut regs) = with_code(&mem, &p, &code);
    let intr = ctx.interrupter();
    intr.interrupt();
    ctx.map(DATA, PAGE, Prot::READ, DATA_OFF).unwrap();
    let before = regs;
    assert_eq!(ctx.switch(&mut regs).unwrap(), Event::Interrupted);
    assert_eq!((regs.rip, regs.rsp, regs.rax), (before.rip, before.rsp, before.rax), "nothing ran");
    assert_eq!(ctx.switch(&mut regs).unwrap(), Event::Syscall);
    assert_eq!(regs.orig_rax, 39);
    drop(ctx);
    intr.interrupt();
    intr.interrupt();
    // A new context (reusing the pooled vCPU) is not interrupted by the old
    // interrupter.
    let (mut ctx, mut regs) = with_code(&mem, &p, &code);
    intr.interrupt();
    assert_eq!(ctx.switch(&mut regs).unwrap(), Event::Syscall);
}

#[test]
fn fp_state_round_trips() {
    let Some((mem, p)) = setup() else { return };
    #[rustfmt::skip]
    let code = [
        0x66, 0x48, 0x0f, 0x7e, 0xc7,   // movq rdi, xmm0
        0x66, 0x48, 0x0f, 0x6e, 0xce,   // movq xmm1, rsi
        0xb8, 1, 0, 0, 0,               // mov eax, 1
        0x0f, 0x05,                     // syscall
        0xc5, 0xfc, 0x57, 0xc0,         // vxorps ymm0, ymm0, ymm0 (AVX enabled?)
        0x0f, 0x05,                     // syscall
    ];
    let (mut ctx, mut regs) = with_code(&mem, &p, &code);
    let mut fp = ctx.get_fpstate().unwrap();
    assert_eq!(u16::from_le_bytes([fp.0[0], fp.0[1]]), 0x37f);
    assert_eq!(u32::from_le_bytes(fp.0[24..28].try_into().unwrap()), 0x1f80);
    fp.0[160..168].copy_from_slice(&0x1111_2222_3333_4444u64.to_le_bytes()); // xmm0
    ctx.set_fpstate(&fp).unwrap();
    regs.rsi = 0x5555_6666_7777_8888;
    assert_eq!(ctx.switch(&mut regs).unwrap(), Event::Syscall);
    assert_eq!(regs.rdi, 0x1111_2222_3333_4444);
    let fp = ctx.get_fpstate().unwrap();
    assert_eq!(&fp.0[176..184], &0x5555_6666_7777_8888u64.to_le_bytes()); // xmm1
    assert_eq!(ctx.switch(&mut regs).unwrap(), Event::Syscall, "AVX works in the guest");
    assert_eq!(&ctx.get_fpstate().unwrap().0[160..176], &[0; 16]);
}

#[test]
fn fs_base_is_honoured() {
    let Some((mem, p)) = setup() else { return };
    #[rustfmt::skip]
    let code = [
        0x64, 0x48, 0x8b, 0x3c, 0x25, 0, 0, 0, 0, // 0: mov rdi, fs:[0]
        0x65, 0x48, 0x8b, 0x34, 0x25, 0, 0, 0, 0, // mov rsi, gs:[0]
        0x0f, 0x05,                               // syscall
        0xeb, 0xea,                               // jmp 0
    ];
    let (mut ctx, mut regs) = with_code(&mem, &p, &code);
    ctx.map(DATA, 2 * PAGE, Prot::READ, DATA_OFF).unwrap();
    mem.write(DATA_OFF, &11u64.to_le_bytes());
    mem.write(DATA_OFF + 8, &22u64.to_le_bytes());
    mem.write(DATA_OFF + PAGE, &33u64.to_le_bytes());
    regs.fs_base = DATA;
    regs.gs_base = DATA + 8;
    assert_eq!(ctx.switch(&mut regs).unwrap(), Event::Syscall);
    assert_eq!((regs.rdi, regs.rsi), (11, 22));
    assert_eq!((regs.fs_base, regs.gs_base), (DATA, DATA + 8));
    regs.fs_base = DATA + PAGE; // arch_prctl(ARCH_SET_FS)
    let ev = ctx.switch(&mut regs).unwrap();
    assert_eq!(ev, Event::Syscall, "at rip {:#x}", regs.rip);
    assert_eq!((regs.rdi, regs.rsi), (33, 22));
    regs.fs_base = 0x60_0000; // unmapped
    let ev = ctx.switch(&mut regs).unwrap();
    assert_eq!(ev, Event::Fault { addr: 0x60_0000, access: READ });
}

#[test]
fn two_contexts_on_two_threads() {
    let Some((mem, p)) = setup() else { return };
    let p = Arc::new(p);
    #[rustfmt::skip]
    let code = [
        0x48, 0x89, 0xc7,   // 0: mov rdi, rax
        0xb8, 39, 0, 0, 0,  // mov eax, 39
        0x0f, 0x05,         // syscall
        0xeb, 0xf4,         // jmp 0
    ];
    mem.write(CODE_OFF, &code);
    let threads: Vec<_> = (0..2u64)
        .map(|n| {
            let p = p.clone();
            std::thread::spawn(move || {
                let mut ctx = p.new_context().unwrap();
                ctx.map(CODE, PAGE, Prot::READ | Prot::EXEC, CODE_OFF).unwrap();
                let mut regs = initial_regs(CODE, 0);
                for i in 0..2000u64 {
                    let v = (n << 32) | i;
                    regs.rax = v;
                    assert_eq!(ctx.switch(&mut regs).unwrap(), Event::Syscall);
                    assert_eq!(regs.rdi, v);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn address_spaces_are_separate() {
    let Some((mem, p)) = setup() else { return };
    // mov rdi, [0x500000]; syscall
    let code = [0x48, 0x8b, 0x3c, 0x25, 0x00, 0x00, 0x50, 0x00, 0x0f, 0x05];
    mem.write(DATA_OFF, &1u64.to_le_bytes());
    mem.write(DATA_OFF + PAGE, &2u64.to_le_bytes());
    let (mut a, mut ra) = with_code(&mem, &p, &code);
    let (mut b, mut rb) = with_code(&mem, &p, &code);
    a.map(DATA, PAGE, Prot::READ, DATA_OFF).unwrap();
    b.map(DATA, PAGE, Prot::READ, DATA_OFF + PAGE).unwrap();
    assert_eq!(a.switch(&mut ra).unwrap(), Event::Syscall);
    assert_eq!(b.switch(&mut rb).unwrap(), Event::Syscall);
    assert_eq!((ra.rdi, rb.rdi), (1, 2));
}

#[test]
fn ranges_outside_user_space_are_refused() {
    let Some((_mem, p)) = setup() else { return };
    let (_, hi) = p.user_range();
    let mut ctx = p.new_context().unwrap();
    for (addr, len) in [(hi, PAGE), (hi - PAGE, 2 * PAGE), (0, PAGE), (CODE + 1, PAGE), (u64::MAX - PAGE + 1, PAGE)] {
        assert!(matches!(ctx.map(addr, len, Prot::READ, 0), Err(PlatformError::BadRange(..))), "{addr:#x}+{len:#x}");
    }
    ctx.map(hi - PAGE, PAGE, Prot::READ, 0).unwrap();
    assert!(ctx.map(CODE, PAGE, Prot::READ, 1 << 24).is_err());
}

#[test]
fn many_contexts_reuse_vcpus() {
    let Some((mem, p)) = setup() else { return };
    let code = [0xb8, 39, 0, 0, 0, 0x0f, 0x05]; // mov eax, 39; syscall
    for _ in 0..50 {
        let (mut ctx, mut regs) = with_code(&mem, &p, &code);
        assert_eq!(ctx.switch(&mut regs).unwrap(), Event::Syscall);
    }
}

#[test]
fn mxcsr_seen_by_the_guest_matches_fp_state() {
    let Some((mem, p)) = setup() else { return };
    #[rustfmt::skip]
    let code = [
        0x0f, 0xae, 0x5c, 0x24, 0xf8,   // stmxcsr [rsp-8]
        0x8b, 0x7c, 0x24, 0xf8,         // mov edi, [rsp-8]
        0x0f, 0x05,                     // syscall
    ];
    let (mut ctx, mut regs) = with_code(&mem, &p, &code);
    ctx.map(DATA, PAGE, Prot::READ | Prot::WRITE, DATA_OFF).unwrap();
    regs.rsp = DATA + PAGE;
    let fp = ctx.get_fpstate().unwrap();
    assert_eq!(u32::from_le_bytes(fp.0[24..28].try_into().unwrap()), 0x1f80, "reported MXCSR");
    assert_eq!(ctx.switch(&mut regs).unwrap(), Event::Syscall);
    assert_eq!(regs.rdi, 0x1f80, "MXCSR in the guest");
    let mut fp = ctx.get_fpstate().unwrap();
    fp.0[24..28].copy_from_slice(&0x1f00u32.to_le_bytes()); // unmask SSE exceptions
    ctx.set_fpstate(&fp).unwrap();
    regs.rip = CODE;
    assert_eq!(ctx.switch(&mut regs).unwrap(), Event::Syscall);
    assert_eq!(regs.rdi, 0x1f00, "set_fpstate reached the guest");
    assert_eq!(&ctx.get_fpstate().unwrap().0[24..28], &0x1f00u32.to_le_bytes());
}

/// A tiny deterministic generator (no extra dependency).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// The Sentry's pattern across fork and exit: many short-lived contexts,
/// each created on a fresh host thread (so vCPUs and PML4s come from the
/// pools), map frames of a shared allocator that other contexts reuse as
/// soon as they are given back; copy-on-write protects pages read-only,
/// then replaces them with fresh frames (unmap, then map). Every access the
/// guest makes must go to the frame the context maps now: a stale
/// translation (of a previous user of the vCPU or of the table pages, or of
/// this context before a protect/unmap) shows up as a wrong value read, a
/// write landing in a frame that now belongs to someone else, or a missing
/// fault.
#[test]
fn reused_vcpus_tables_and_frames_never_see_stale_translations() {
    let Some((mem, p)) = setup() else { return };
    let p = Arc::new(p);
    #[rustfmt::skip]
    let code = [
        0x48, 0x8b, 0x17,   // 0: mov rdx, [rdi]
        0x48, 0x89, 0x37,   // mov [rdi], rsi
        0x0f, 0x05,         // syscall
        0xeb, 0xf6,         // jmp 0
    ];
    mem.write(CODE_OFF, &code);
    // Frames 1.. of the memory file (frame 0 is the code).
    let frames: Arc<std::sync::Mutex<Vec<u64>>> = Arc::new(std::sync::Mutex::new((1..1024).map(|i| i * PAGE).collect()));
    const PAGES: u64 = 24;
    // Spread over two page tables (and two PML4 entries' worth of upper
    // levels for some) so table pages are freed and reused too.
    let addr_of = |i: u64| if i.is_multiple_of(2) { DATA + i * PAGE } else { 0x7f00_0000_0000 + i * PAGE };
    let workers: Vec<_> = (0..3u64)
        .map(|w| {
            let (p, mem, frames) = (p.clone(), mem.clone(), frames.clone());
            std::thread::spawn(move || {
                let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (w + 1));
                for round in 0..60u64 {
                    let (p, mem, frames) = (p.clone(), mem.clone(), frames.clone());
                    let seed = rng.next();
                    // A fresh host thread per context, as the Sentry does.
                    std::thread::spawn(move || {
                        let mut rng = Rng(seed | 1);
                        let mut ctx = p.new_context().unwrap();
                        ctx.map(CODE, PAGE, Prot::READ | Prot::EXEC, CODE_OFF).unwrap();
                        let mut regs = initial_regs(CODE, 0);
                        let take = || frames.lock().unwrap().pop().expect("frames left");
                        let give = |f: u64| frames.lock().unwrap().insert(0, f);
                        let mut tag = (w << 48) | (round << 32);
                        // Page i -> (frame, whether writable).
                        let mut pages: Vec<Option<(u64, bool)>> = Vec::new();
                        for i in 0..PAGES {
                            let f = take();
                            tag += 1;
                            mem.write(f, &tag.to_le_bytes());
                            ctx.map(addr_of(i), PAGE, Prot::READ | Prot::WRITE, f).unwrap();
                            pages.push(Some((f, true)));
                        }
                        let access = |ctx: &mut Box<dyn Context>, regs: &mut platform::Regs, i: u64, new: u64| {
                            regs.rip = CODE;
                            // Now and then a new fs_base (the SETBASE entry,
                            // which replays pending writes first).
                            if new.is_multiple_of(3) {
                                regs.fs_base = new & 0xffff_f000;
                            }
                            regs.rdi = addr_of(i);
                            regs.rsi = new;
                            ctx.switch(regs).unwrap()
                        };
                        for step in 0..40 {
                            let i = rng.next() % PAGES;
                            tag += 1;
                            match pages[i as usize] {
                                Some((f, true)) => {
                                    let old = read_u64(&mem, f);
                                    let ev = access(&mut ctx, &mut regs, i, tag);
                                    assert_eq!(ev, Event::Syscall, "page {i} (frame {f:#x}) step {step}");
                                    assert_eq!(regs.rdx, old, "read through a stale translation (frame {f:#x})");
                                    assert_eq!(read_u64(&mem, f), tag, "write went elsewhere (frame {f:#x})");
                                }
                                Some((f, false)) => {
                                    let old = read_u64(&mem, f);
                                    let ev = access(&mut ctx, &mut regs, i, tag);
                                    assert_eq!(ev, Event::Fault { addr: addr_of(i), access: WRITE }, "write to a read-only page");
                                    assert_eq!(regs.rdx, old, "read through a stale translation (frame {f:#x})");
                                    assert_eq!(read_u64(&mem, f), old, "a read-only frame changed");
                                    // Copy-on-write: a fresh frame replaces it;
                                    // the old one goes to whoever wants it.
                                    let g = take();
                                    mem.copy(f, g, PAGE as usize);
                                    ctx.unmap(addr_of(i), PAGE).unwrap();
                                    ctx.map(addr_of(i), PAGE, Prot::READ | Prot::WRITE, g).unwrap();
                                    give(f);
                                    pages[i as usize] = Some((g, true));
                                }
                                None => {
                                    let ev = access(&mut ctx, &mut regs, i, tag);
                                    assert_eq!(ev, Event::Fault { addr: addr_of(i), access: READ }, "access to an unmapped page");
                                    let g = take();
                                    mem.write(g, &tag.to_le_bytes());
                                    ctx.map(addr_of(i), PAGE, Prot::READ | Prot::WRITE, g).unwrap();
                                    pages[i as usize] = Some((g, true));
                                }
                            }
                            match rng.next() % 8 {
                                // "fork": every writable page becomes read-only.
                                0 => {
                                    for (j, pg) in pages.iter_mut().enumerate() {
                                        if let Some((f, true)) = *pg {
                                            ctx.protect(addr_of(j as u64), PAGE, Prot::READ).unwrap();
                                            *pg = Some((f, false));
                                        }
                                    }
                                }
                                // munmap of one page; its frame is reused at once.
                                1 => {
                                    let j = rng.next() % PAGES;
                                    if let Some((f, _)) = pages[j as usize].take() {
                                        ctx.unmap(addr_of(j), PAGE).unwrap();
                                        give(f);
                                    }
                                }
                                _ => {}
                            }
                        }
                        drop(ctx);
                        for (f, _) in pages.into_iter().flatten() {
                            give(f);
                        }
                    })
                    .join()
                    .unwrap();
                }
            })
        })
        .collect();
    for t in workers {
        t.join().unwrap();
    }
}

/// New threads on pooled vCPUs, each interrupted again and again while it
/// enters (a fresh fs_base: the SETBASE entry) and while it issues a
/// syscall right after entering: every exit is the syscall or an
/// interruption, never a fault at one of the platform's own (kernel-half)
/// addresses. Under PVM a kick that lands between SYSCALL's jump to LSTAR
/// (still in ring 3) and the #PF there used to leave the vCPU in ring 3, so
/// the next entry ran the IRETQ stub in user mode and "faulted" at
/// 0xffffff8000001008.
#[test]
fn interrupts_while_entering_and_syscalling_never_fault_in_the_kernel_half() {
    let Some((mem, p)) = setup() else { return };
    let p = Arc::new(p);
    #[rustfmt::skip]
    let code = [
        0x48, 0x89, 0xc7,   // 0: mov rdi, rax
        0xb8, 39, 0, 0, 0,  // 3: mov eax, 39
        0x0f, 0x05,         // 8: syscall
        0xeb, 0xf4,         // a: jmp 0
    ];
    mem.write(CODE_OFF, &code);
    let (mut syscalls, mut interrupts) = (0u64, 0u64);
    for round in 0..150u64 {
        let p = p.clone();
        // A fresh host thread per context (a pooled vCPU after the first
        // round), as the Sentry runs a new workload thread.
        let (s, i) = std::thread::spawn(move || {
            let mut ctx = p.new_context().unwrap();
            ctx.map(CODE, PAGE, Prot::READ | Prot::EXEC, CODE_OFF).unwrap();
            let intr = ctx.interrupter();
            let (go, rx) = mpsc::channel::<u64>();
            // Each kick comes a varying number of spins after the switch
            // starts, sweeping the entry and the syscall.
            let kicker = std::thread::spawn(move || {
                while let Ok(spins) = rx.recv() {
                    for _ in 0..spins {
                        std::hint::spin_loop();
                    }
                    intr.interrupt();
                }
            });
            let mut regs = initial_regs(CODE, 0);
            regs.fs_base = 0x1000 * (round + 1);
            let (mut syscalls, mut interrupts, mut n) = (0u64, 0u64, 0u64);
            let mut expect = 0u64;
            regs.rax = expect;
            while syscalls < 40 {
                go.send((n * 37 + round * 101) % 4000).unwrap();
                n += 1;
                match ctx.switch(&mut regs) {
                    Ok(Event::Syscall) => {
                        assert_eq!((regs.orig_rax, regs.rip), (39, CODE + 10), "round {round}");
                        assert_eq!(regs.rdi, expect, "round {round}: registers lost");
                        assert_eq!(regs.fs_base, 0x1000 * (round + 1));
                        syscalls += 1;
                        expect = (round << 32) | syscalls;
                        regs.rax = expect;
                    }
                    Ok(Event::Interrupted) => {
                        assert!(regs.rip < 0x8000_0000_0000, "round {round}: interrupted at {:#x}", regs.rip);
                        interrupts += 1;
                    }
                    other => panic!("round {round}: {other:?} at rip {:#x}", regs.rip),
                }
            }
            drop(go);
            kicker.join().unwrap();
            (syscalls, interrupts)
        })
        .join()
        .unwrap();
        syscalls += s;
        interrupts += i;
    }
    eprintln!("{syscalls} syscalls, {interrupts} interruptions");
}
