//! Character device drivers, found by device number when a device node
//! on any filesystem is opened.

use std::sync::Arc;

use abi::SysResult;

use crate::file::FileOps;
use crate::vfs::Context;

/// A character device driver (/dev/null, the controlling tty, ...).
pub trait CharDevice: Send + Sync {
    /// Open the device; `flags` are the open flags.
    fn open(&self, ctx: &Context, flags: i32) -> SysResult<Arc<dyn FileOps>>;
}

/// Build a device number.
pub fn makedev(major: u32, minor: u32) -> u64 {
    libc::makedev(major, minor)
}
