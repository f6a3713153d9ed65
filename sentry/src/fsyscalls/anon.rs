//! Helpers for files without a path (eventfd, epoll, timerfd, signalfd).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use abi::Stat;
use fs::file::{File, FileOps};

fn anon_dev() -> u64 {
    static DEV: OnceLock<u64> = OnceLock::new();
    *DEV.get_or_init(fs::types::anon_dev)
}

/// A fresh inode number on the anon-inode device.
pub fn next_ino() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// What fstat shows for an anon inode (mode 0600, no file type, as Linux).
pub fn stat(ino: u64) -> Stat {
    Stat { dev: anon_dev(), ino, nlink: 1, mode: 0o600, blksize: 4096, ..Default::default() }
}

/// A read/write description over `ops`; `nonblock` sets O_NONBLOCK.
pub fn file(ops: Arc<dyn FileOps>, nonblock: bool) -> Arc<File> {
    File::new(ops, libc::O_RDWR | if nonblock { libc::O_NONBLOCK } else { 0 }, None)
}
