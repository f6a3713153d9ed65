//! The syscall table: every number the Sentry implements, with its
//! support status, in one declarative list. Anything not listed returns
//! ENOSYS (logged once per number).

mod futex;
mod mm;
mod process;
mod signal;
mod sys;
mod time;
pub mod timers;

use std::sync::OnceLock;

use abi::{Errno, SysResult};
use tracing::{info, warn};

use crate::task::run::Thread;

/// The raw arguments of a syscall.
#[derive(Clone, Copy, Debug)]
pub struct Args(pub [u64; 6]);

impl Args {
    pub fn u64(&self, i: usize) -> u64 {
        self.0[i]
    }
    pub fn i32(&self, i: usize) -> i32 {
        self.0[i] as i32
    }
    pub fn u32(&self, i: usize) -> u32 {
        self.0[i] as u32
    }
    pub fn i64(&self, i: usize) -> i64 {
        self.0[i] as i64
    }
    pub fn usize(&self, i: usize) -> usize {
        self.0[i] as usize
    }
}

pub type Handler = fn(&mut Thread, &Args) -> SysResult<u64>;

/// How completely a syscall is implemented.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Support {
    Full,
    /// Implemented with the noted limits.
    Partial(&'static str),
}

pub struct Entry {
    pub nr: u32,
    /// "SYS_read" (see `name`).
    pub sys_name: &'static str,
    pub handler: Handler,
    pub support: Support,
}

impl Entry {
    /// The syscall's name ("read").
    pub fn name(&self) -> &'static str {
        self.sys_name.strip_prefix("SYS_").unwrap_or(self.sys_name)
    }
}

/// The table, assembled from each subsystem's list.
pub fn table() -> &'static [Option<&'static Entry>] {
    static T: OnceLock<Vec<Option<&'static Entry>>> = OnceLock::new();
    T.get_or_init(|| {
        let mut v: Vec<Option<&'static Entry>> = vec![None; 512];
        let mut extra: Vec<&'static [Entry]> = vec![process::ENTRIES, signal::ENTRIES, mm::ENTRIES, time::ENTRIES, timers::ENTRIES, futex::ENTRIES, sys::ENTRIES];
        extra.extend(registered());
        for list in extra {
            for e in list {
                assert!(v[e.nr as usize].is_none(), "syscall {} listed twice", e.name());
                v[e.nr as usize] = Some(e);
            }
        }
        v
    })
}

/// Lists of syscalls added by other modules (files, sockets...).
fn registered() -> Vec<&'static [Entry]> {
    crate::fsyscalls::entries().into_iter().chain([crate::socket::ENTRIES]).collect()
}

macro_rules! sc {
    ($nr:ident, $h:expr) => {
        $crate::syscalls::Entry { nr: libc::$nr as u32, sys_name: stringify!($nr), handler: $h, support: $crate::syscalls::Support::Full }
    };
    ($nr:ident, $h:expr, $note:expr) => {
        $crate::syscalls::Entry { nr: libc::$nr as u32, sys_name: stringify!($nr), handler: $h, support: $crate::syscalls::Support::Partial($note) }
    };
}
pub(crate) use sc;

/// Handle the syscall the task stopped at.
pub fn dispatch(t: &mut Thread) {
    let nr = t.regs.orig_rax;
    let a = Args([t.regs.rdi, t.regs.rsi, t.regs.rdx, t.regs.r10, t.regs.r8, t.regs.r9]);
    t.regs_replaced = false;
    let entry = table().get(nr as usize).copied().flatten();
    let strace = t.task.k.opts.strace;
    // Only --strace needs the name.
    let name = if strace { entry.map(|e| e.name()).or_else(|| abi::syscall_name(nr)).unwrap_or("unknown") } else { "" };
    if strace {
        info!(target: "strace", "[{:>4}] {}", t.task.tid(), crate::strace::format_entry(&t.mm, name, &a));
    }
    let r = match entry {
        Some(e) => (e.handler)(t, &a),
        None => {
            if t.task.k.unknown_logged.lock().unwrap().insert(nr) {
                warn!("unsupported syscall {} ({})", nr, abi::syscall_name(nr).unwrap_or("unknown"));
            }
            Err(Errno::ENOSYS)
        }
    };
    if strace {
        info!(target: "strace", "[{:>4}] {}", t.task.tid(), crate::strace::format_exit(&t.mm, name, &a, &r));
    }
    if !t.regs_replaced {
        t.regs.rax = match r {
            Ok(v) => v,
            Err(e) => e.as_ret(),
        };
    }
}

/// One row per syscall number the table knows: (nr, name, support).
pub fn support_list() -> Vec<(u32, &'static str, Support)> {
    table().iter().flatten().map(|e| (e.nr, e.name(), e.support)).collect()
}
