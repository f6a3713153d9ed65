//! Measures the cost of one workload syscall round trip under the KVM
//! platform: `kvm_switch_ns`, through `Context::switch` on a vCPU running
//! `mov eax, 110; syscall; jmp` (getppid; the caller sets rax each time).
//! Also `kvm_fault_map_ns` (a fault, `map`, and the re-run: the replay of
//! the page-table write), and `kvm_context_create_drop_us`.
//!
//! Usage: `kvm-bench [iterations] [rounds]` (defaults 20000, 7); the median
//! round is reported. Exits 0 with a message when /dev/kvm is missing.

use std::sync::Arc;
use std::time::Instant;

use platform::kvm::{initial_regs, Kvm};
use platform::{Context, Event, MemoryFile, Platform, Prot, Regs};

fn switch_round(ctx: &mut dyn Context, regs: &mut Regs, n: u64) -> f64 {
    let t = Instant::now();
    for i in 0..n {
        regs.rax = i;
        assert_eq!(ctx.switch(regs).expect("switch"), Event::Syscall);
    }
    t.elapsed().as_nanos() as f64 / n as f64
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u64 = args.next().map_or(20000, |a| a.parse().expect("iterations"));
    let rounds: usize = args.next().map_or(7, |a| a.parse().expect("rounds"));
    if !std::path::Path::new("/dev/kvm").exists() {
        eprintln!("kvm-bench: /dev/kvm does not exist; nothing to measure");
        return;
    }
    let mem = Arc::new(MemoryFile::new(1 << 26).expect("memory file"));
    // mov eax, 110; syscall; jmp back to the mov
    mem.write(0, &[0xb8, 110, 0, 0, 0, 0x0f, 0x05, 0xeb, 0xf7]);
    // 0x100: mov [rdi], rdi; syscall; jmp back
    mem.write(0x100, &[0x48, 0x89, 0x3f, 0x0f, 0x05, 0xeb, 0xf9]);
    let p = Kvm::new(mem).expect("kvm platform");
    let mut ctx = p.new_context().expect("context");
    ctx.map(0x40_0000, 4096, Prot::READ | Prot::EXEC, 0).expect("map");
    let mut regs = initial_regs(0x40_0000, 0);

    switch_round(ctx.as_mut(), &mut regs, n / 10 + 1);
    let rs: Vec<f64> = (0..rounds).map(|_| switch_round(ctx.as_mut(), &mut regs, n)).collect();
    eprintln!("switch rounds (ns): {rs:.0?}");
    println!("kvm_switch_ns {:.0}", median(rs));

    // Fault + map + re-run, on fresh pages each time.
    let k = (n / 10).clamp(100, 4000);
    let mut r = initial_regs(0x40_0100, 0);
    let t = Instant::now();
    for i in 0..k {
        let addr = 0x1000_0000 + i * 4096;
        r.rip = 0x40_0100;
        r.rdi = addr;
        let ev = ctx.switch(&mut r).expect("switch");
        assert!(matches!(ev, Event::Fault { .. }), "{ev:?}");
        ctx.map(addr, 4096, Prot::READ | Prot::WRITE, 0x10_0000 + i * 4096).expect("map");
        assert_eq!(ctx.switch(&mut r).expect("switch"), Event::Syscall);
    }
    println!("kvm_fault_map_ns {:.0}", t.elapsed().as_nanos() as f64 / k as f64);
    ctx.unmap(0x1000_0000, k * 4096).expect("unmap");

    let t = Instant::now();
    let c = 50;
    for _ in 0..c {
        let mut ctx = p.new_context().expect("context");
        ctx.map(0x40_0000, 4096, Prot::READ | Prot::EXEC, 0).expect("map");
        let mut regs = initial_regs(0x40_0000, 0);
        assert_eq!(ctx.switch(&mut regs).expect("switch"), Event::Syscall);
    }
    println!("kvm_context_create_drop_us {:.0}", t.elapsed().as_micros() as f64 / c as f64);
}
