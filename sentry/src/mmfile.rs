//! Files of the VFS as backing for memory mappings.

use std::sync::Arc;

use abi::SysResult;
use fs::file::File;

use crate::mm::MappedFile;

/// An open file mapped into an address space.
pub struct FileMapping {
    file: Arc<File>,
    path: String,
    dev: u64,
    ino: u64,
}

impl FileMapping {
    pub fn new(file: Arc<File>, path: String) -> SysResult<Arc<dyn MappedFile>> {
        let st = file.stat()?;
        Ok(Arc::new(FileMapping { file, path, dev: st.dev, ino: st.ino }))
    }
}

impl MappedFile for FileMapping {
    fn read_at(&self, off: u64, buf: &mut [u8]) -> SysResult<usize> {
        self.file.pread(buf, off as i64)
    }
    fn write_at(&self, off: u64, buf: &[u8]) -> SysResult<usize> {
        self.file.pwrite(buf, off as i64)
    }
    fn size(&self) -> SysResult<u64> {
        Ok(self.file.stat()?.size.max(0) as u64)
    }
    fn describe(&self) -> String {
        self.path.clone()
    }
    fn dev_ino(&self) -> (u64, u64) {
        (self.dev, self.ino)
    }
}
