//! Measures the cost of one workload syscall round trip under ptrace:
//!
//! * `raw_sysemu_ns`: a bare loop — a child spinning on `syscall` (getppid)
//!   under PTRACE_SYSEMU; per iteration SYSEMU + waitpid + GETREGS + SETREGS.
//! * `context_switch_ns`: the same through `Context::switch` on a stub
//!   running `mov eax, 110; syscall; jmp` (the caller sets rax each time).
//!
//! * `context_create_drop_us`: `new_context` + drop.
//!
//! Usage: `ptrace-bench [iterations] [rounds]` (defaults 20000, 7). Rounds
//! alternate between the two and the median round is reported.

use std::sync::Arc;
use std::time::Instant;

use platform::ptrace::{initial_regs, Ptrace};
use platform::{Context, Event, MemoryFile, Platform, Prot, Regs};

fn check(what: &str, r: libc::c_long) {
    if r < 0 {
        panic!("{what}: {}", std::io::Error::last_os_error());
    }
}

fn wait_stopped(pid: i32) -> i32 {
    let mut status = 0;
    // SAFETY: `status` is a live i32.
    check("waitpid", unsafe { libc::waitpid(pid, &mut status, libc::__WALL) }.into());
    assert!(libc::WIFSTOPPED(status), "child not stopped: {status:#x}");
    status
}

/// A traced child spinning on getppid; returns its pid, stopped.
fn spawn_raw_child() -> i32 {
    // SAFETY: the benchmark is single-threaded here; the child only makes
    // raw syscalls and never returns.
    let pid = unsafe { libc::fork() };
    check("fork", pid.into());
    if pid == 0 {
        // SAFETY: in the child: TRACEME and a self-SIGSTOP, then a loop of
        // getppid syscalls that touches no memory.
        unsafe {
            libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0);
            libc::raise(libc::SIGSTOP);
            std::arch::asm!("2:", "mov eax, 110", "syscall", "jmp 2b", options(noreturn));
        }
    }
    wait_stopped(pid);
    // SAFETY: ptrace requests on our stopped tracee with integer arguments.
    check("PTRACE_SETOPTIONS", unsafe {
        libc::ptrace(libc::PTRACE_SETOPTIONS, pid, 0, libc::PTRACE_O_TRACESYSGOOD | libc::PTRACE_O_EXITKILL)
    });
    pid
}

fn raw_round(pid: i32, n: u64) -> f64 {
    // SAFETY: user_regs_struct is plain integers.
    let mut regs: Regs = unsafe { std::mem::zeroed() };
    let t = Instant::now();
    for i in 0..n {
        // SAFETY: ptrace requests on our stopped tracee; `regs` is a live
        // user_regs_struct for GETREGS/SETREGS.
        unsafe {
            check("PTRACE_SYSEMU", libc::syscall(libc::SYS_ptrace, libc::PTRACE_SYSEMU, pid, 0, 0));
            let st = wait_stopped(pid);
            assert_eq!(libc::WSTOPSIG(st), libc::SIGTRAP | 0x80);
            check(
                "PTRACE_GETREGS",
                libc::syscall(libc::SYS_ptrace, libc::PTRACE_GETREGS, pid, 0, &mut regs as *mut Regs),
            );
            regs.rax = i;
            check(
                "PTRACE_SETREGS",
                libc::syscall(libc::SYS_ptrace, libc::PTRACE_SETREGS, pid, 0, &regs as *const Regs),
            );
        }
    }
    t.elapsed().as_nanos() as f64 / n as f64
}

fn context_round(ctx: &mut dyn Context, regs: &mut Regs, n: u64) -> f64 {
    let t = Instant::now();
    for i in 0..n {
        regs.rax = i;
        let ev = ctx.switch(regs).expect("switch");
        assert_eq!(ev, Event::Syscall);
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

    let raw = spawn_raw_child();

    let mem = Arc::new(MemoryFile::new(1 << 20).expect("memory file"));
    // mov eax, 110; syscall; jmp back to the mov
    mem.write(0, &[0xb8, 110, 0, 0, 0, 0x0f, 0x05, 0xeb, 0xf7]);
    let p = Ptrace::new(mem).expect("ptrace platform");
    let mut ctx = p.new_context().expect("context");
    ctx.map(0x40_0000, 4096, Prot::READ | Prot::EXEC, 0).expect("map");
    let mut regs = initial_regs(0x40_0000, 0);

    // Warm up both.
    raw_round(raw, n / 10 + 1);
    context_round(ctx.as_mut(), &mut regs, n / 10 + 1);
    let (mut rs, mut cs) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        rs.push(raw_round(raw, n));
        cs.push(context_round(ctx.as_mut(), &mut regs, n));
    }
    let (r, c) = (median(rs.clone()), median(cs.clone()));
    eprintln!("raw rounds (ns): {rs:.0?}");
    eprintln!("context rounds (ns): {cs:.0?}");
    println!("raw_sysemu_ns {r:.0}");
    println!("context_switch_ns {c:.0}");
    println!("ratio {:.3}", c / r);

    // Creating (fork + two setup stops) and dropping (kill + reap) a context.
    let t = Instant::now();
    let k = 50;
    for _ in 0..k {
        drop(p.new_context().expect("context"));
    }
    println!("context_create_drop_us {:.0}", t.elapsed().as_micros() as f64 / k as f64);

    // SAFETY: killing and reaping our own child.
    unsafe {
        libc::kill(raw, libc::SIGKILL);
        libc::waitpid(raw, std::ptr::null_mut(), libc::__WALL);
    }
}
