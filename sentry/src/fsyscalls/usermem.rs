//! `fs::UserMemory` over the task's address space (ioctl arguments).

use abi::SysResult;

use crate::mm::MemoryManager;

/// The workload's memory as `fs` sees it: every access is checked by `mm`
/// (EFAULT on a bad pointer).
pub struct TaskMemory<'a>(pub &'a MemoryManager);

impl fs::UserMemory for TaskMemory<'_> {
    fn read(&self, addr: u64, buf: &mut [u8]) -> SysResult<()> {
        self.0.copy_in(addr, buf)
    }

    fn write(&self, addr: u64, buf: &[u8]) -> SysResult<()> {
        self.0.copy_out(addr, buf)
    }
}
