//! The ptrace platform end to end: real stub processes running tiny
//! hand-assembled code pages.

use std::sync::{mpsc, Arc};

use platform::ptrace::{initial_regs, Ptrace};
use platform::{Access, Context, Event, MemoryFile, Platform, PlatformError, Prot};

const CODE: u64 = 0x40_0000;
const DATA: u64 = 0x50_0000;
const CODE_OFF: u64 = 0;
const DATA_OFF: u64 = 0x1000;
const PAGE: u64 = 4096;

fn setup() -> (Arc<MemoryFile>, Ptrace) {
    let mem = Arc::new(MemoryFile::new(1 << 24).unwrap());
    let p = Ptrace::new(mem.clone()).unwrap();
    (mem, p)
}

/// A context with `code` at CODE (R|X), about to run it.
fn with_code(mem: &MemoryFile, p: &Ptrace, code: &[u8]) -> (Box<dyn Context>, platform::Regs) {
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
fn syscalls_are_intercepted_and_results_returned() {
    let (mem, p) = setup();
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
    assert_eq!(ctx.switch(&mut regs).unwrap(), Event::Syscall);
    assert_eq!(regs.orig_rax, 39);
    assert_eq!(regs.rip, CODE + 7);
    regs.rax = 1234;
    assert_eq!(ctx.switch(&mut regs).unwrap(), Event::Syscall);
    assert_eq!(regs.orig_rax, 60);
    assert_eq!(regs.rdi, 1234);
    // exit did not run on the host: the stub is still there.
    assert_eq!(ctx.switch(&mut regs).unwrap(), Event::Syscall);
    assert_eq!(regs.orig_rax, 231);
    assert_eq!(regs.rip, CODE + code.len() as u64);
}

#[test]
fn faults_then_map_then_shared_memory() {
    let (mem, p) = setup();
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
    let ev = ctx.switch(&mut regs).unwrap();
    assert_eq!(ev, Event::Fault { addr: DATA, access: Access { read: true, write: false, exec: false } });
    assert_eq!(regs.rip, CODE, "registers are at the faulting instruction");
    ctx.map(DATA, PAGE, Prot::READ | Prot::WRITE, DATA_OFF).unwrap();
    assert_eq!(ctx.switch(&mut regs).unwrap(), Event::Syscall);
    assert_eq!(regs.orig_rax, 1);
    assert_eq!(regs.rdi, !v, "the workload read what the Sentry wrote");
    assert_eq!(read_u64(&mem, DATA_OFF + 8), !v, "the Sentry sees what the workload wrote");
}

#[test]
fn protect_and_unmap_fault() {
    let (mem, p) = setup();
    #[rustfmt::skip]
    let code = [
        0x48, 0x89, 0x3c, 0x25, 0x00, 0x00, 0x50, 0x00, // 0: mov [0x500000], rdi
        0xb8, 1, 0, 0, 0,                               // mov eax, 1
        0x0f, 0x05,                                     // syscall
        0xeb, 0xef,                                     // jmp 0
    ];
    let (mut ctx, mut regs) = with_code(&mem, &p, &code);
    // Map more than we need, so protect has a hole to skip.
    ctx.map(DATA, PAGE, Prot::READ | Prot::WRITE, DATA_OFF).unwrap();
    ctx.map(DATA + 2 * PAGE, PAGE, Prot::READ | Prot::WRITE, DATA_OFF + PAGE).unwrap();
    regs.rdi = 7;
    assert_eq!(ctx.switch(&mut regs).unwrap(), Event::Syscall);
    assert_eq!(read_u64(&mem, DATA_OFF), 7);

    ctx.protect(DATA, 3 * PAGE, Prot::READ).unwrap();
    regs.rdi = 8;
    let ev = ctx.switch(&mut regs).unwrap();
    assert_eq!(ev, Event::Fault { addr: DATA, access: Access { read: false, write: true, exec: false } });
    assert_eq!(regs.rip, CODE);
    assert_eq!(read_u64(&mem, DATA_OFF), 7);

    ctx.protect(DATA, 3 * PAGE, Prot::READ | Prot::WRITE).unwrap();
    assert_eq!(ctx.switch(&mut regs).unwrap(), Event::Syscall);
    assert_eq!(read_u64(&mem, DATA_OFF), 8);

    ctx.unmap(DATA, 3 * PAGE).unwrap();
    regs.rdi = 9;
    assert!(matches!(ctx.switch(&mut regs).unwrap(), Event::Fault { addr: DATA, .. }));
    ctx.map(DATA, PAGE, Prot::READ | Prot::WRITE, DATA_OFF).unwrap();
    assert_eq!(ctx.switch(&mut regs).unwrap(), Event::Syscall);
    assert_eq!(read_u64(&mem, DATA_OFF), 9);
    // Unmapping and protecting ranges with nothing mapped is fine.
    ctx.unmap(0x1000_0000, 16 * PAGE).unwrap();
    ctx.protect(0x1000_0000, 16 * PAGE, Prot::READ).unwrap();
}

#[test]
fn exceptions_and_exec_faults() {
    let (mem, p) = setup();
    #[rustfmt::skip]
    let code = [
        0xcc,                   // 0: int3
        0x0f, 0x0b,             // 1: ud2
        0x31, 0xc9,             // 3: xor ecx, ecx
        0xf7, 0xf1,             // 5: div ecx
    ];
    let (mut ctx, mut regs) = with_code(&mem, &p, &code);
    let ev = ctx.switch(&mut regs).unwrap();
    assert!(matches!(ev, Event::Exception { signo: libc::SIGTRAP, .. }), "{ev:?}");
    assert_eq!(regs.rip, CODE + 1, "int3 reports the next instruction");
    let ev = ctx.switch(&mut regs).unwrap();
    assert!(matches!(ev, Event::Exception { signo: libc::SIGILL, .. }), "{ev:?}");
    assert_eq!(regs.rip, CODE + 1);
    regs.rip = CODE + 3;
    let ev = ctx.switch(&mut regs).unwrap();
    assert!(matches!(ev, Event::Exception { signo: libc::SIGFPE, .. }), "{ev:?}");
    assert_eq!(regs.rip, CODE + 5);
    // Jump to nowhere: an exec fault.
    regs.rip = 0x60_0000;
    let ev = ctx.switch(&mut regs).unwrap();
    assert_eq!(ev, Event::Fault { addr: 0x60_0000, access: Access { read: false, write: false, exec: true } });
    // Code mapped without EXEC: an exec fault on a present page.
    ctx.map(0x60_0000, PAGE, Prot::READ, CODE_OFF).unwrap();
    let ev = ctx.switch(&mut regs).unwrap();
    assert_eq!(ev, Event::Fault { addr: 0x60_0000, access: Access { read: false, write: false, exec: true } });
    ctx.protect(0x60_0000, PAGE, Prot::READ | Prot::EXEC).unwrap();
    let ev = ctx.switch(&mut regs).unwrap();
    assert!(matches!(ev, Event::Exception { signo: libc::SIGTRAP, .. }), "{ev:?}");
    assert_eq!(regs.rip, 0x60_0001);
}

#[test]
fn interrupter_wakes_a_spinning_context() {
    let (mem, p) = setup();
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
    // Switched again after the interrupt, the context runs on.
    regs.rip = CODE + 0x10;
    assert_eq!(ctx.switch(&mut regs).unwrap(), Event::Syscall);
    assert_eq!(regs.orig_rax, 39);
    drop(go);
    t.join().unwrap();
}

#[test]
fn interrupt_during_injected_syscall_is_kept() {
    let (mem, p) = setup();
    let code = [0xb8, 39, 0, 0, 0, 0x0f, 0x05]; // mov eax, 39; syscall
    let (mut ctx, mut regs) = with_code(&mem, &p, &code);
    let intr = ctx.interrupter();
    // The stub is stopped: the SIGSTOP stays pending and fires during the
    // injected mmap.
    intr.interrupt();
    ctx.map(DATA, PAGE, Prot::READ, DATA_OFF).unwrap();
    assert_eq!(ctx.switch(&mut regs).unwrap(), Event::Interrupted);
    assert_eq!(ctx.switch(&mut regs).unwrap(), Event::Syscall);
    assert_eq!(regs.orig_rax, 39);
    // Interrupting a context that is gone is harmless.
    drop(ctx);
    intr.interrupt();
    intr.interrupt();
}

#[test]
fn fp_state_round_trips() {
    let (mem, p) = setup();
    #[rustfmt::skip]
    let code = [
        0x66, 0x48, 0x0f, 0x7e, 0xc7,   // movq rdi, xmm0
        0x66, 0x48, 0x0f, 0x6e, 0xce,   // movq xmm1, rsi
        0xb8, 1, 0, 0, 0,               // mov eax, 1
        0x0f, 0x05,                     // syscall
    ];
    let (mut ctx, mut regs) = with_code(&mem, &p, &code);
    let mut fp = ctx.get_fpstate().unwrap();
    fp.0[160..168].copy_from_slice(&0x1111_2222_3333_4444u64.to_le_bytes()); // xmm0
    ctx.set_fpstate(&fp).unwrap();
    regs.rsi = 0x5555_6666_7777_8888;
    assert_eq!(ctx.switch(&mut regs).unwrap(), Event::Syscall);
    assert_eq!(regs.rdi, 0x1111_2222_3333_4444);
    let fp = ctx.get_fpstate().unwrap();
    assert_eq!(&fp.0[176..184], &0x5555_6666_7777_8888u64.to_le_bytes()); // xmm1
}

#[test]
fn two_contexts_on_two_threads() {
    let (mem, p) = setup();
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
fn ranges_outside_user_space_are_refused() {
    let (_mem, p) = setup();
    let (lo, hi) = p.user_range();
    assert!(lo > 0 && hi <= 0x7fff_ffff_f000 && hi > 0x7000_0000_0000);
    let mut ctx = p.new_context().unwrap();
    for (addr, len) in [(hi, PAGE), (hi - PAGE, 2 * PAGE), (0, PAGE), (CODE + 1, PAGE), (u64::MAX - PAGE + 1, PAGE)] {
        assert!(matches!(ctx.map(addr, len, Prot::READ, 0), Err(PlatformError::BadRange(..))), "{addr:#x}+{len:#x}");
    }
    // The last page below the stub is fine.
    ctx.map(hi - PAGE, PAGE, Prot::READ, 0).unwrap();
    // Beyond the memory file is refused.
    assert!(ctx.map(CODE, PAGE, Prot::READ, 1 << 24).is_err());
}
