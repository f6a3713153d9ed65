//! The Sentry: a Linux kernel, in Rust, that runs as a host process and
//! implements the workload's system calls itself.

pub mod fdtable;
pub mod fsyscalls;
pub mod futex;
pub mod kernel;
pub mod loader;
pub mod mm;
pub mod mmfile;
pub mod procfs;
pub mod pty;
pub mod socket;
pub mod signal;
pub mod strace;
pub mod syscalls;
pub mod task;
pub mod time;
pub mod boot;
pub mod console;
pub mod control;
