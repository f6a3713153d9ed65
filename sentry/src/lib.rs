//! The Sentry: a Linux kernel, in Rust, that runs as a host process and
//! implements the workload's system calls itself.

pub mod mm;
pub mod loader;
pub mod signal;
