//! MAP_SHARED file mappings share one [`SharedObject`] per file, so that
//! separate mmaps (in any process) of the same file see the same pages, and
//! futexes in them meet. read(2)/write(2) on such a file stay coherent with
//! the mappings: writes update the mapped pages, and reads first write the
//! mappings' pages back. With no shared file mapping alive, the hooks cost
//! one atomic load per I/O.
//!
//! Not a full page cache: private file mappings still copy pages at fault
//! time, and truncation does not unmap pages beyond the new end.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use abi::PAGE_SIZE;
use fs::file::File;

use super::vma::{MappedFile, SharedObject};

/// (device, inode) of a file.
pub type FileKey = (u64, u64);

static LIVE: AtomicUsize = AtomicUsize::new(0);

fn registry() -> &'static Mutex<HashMap<FileKey, Weak<SharedObject>>> {
    static R: OnceLock<Mutex<HashMap<FileKey, Weak<SharedObject>>>> = OnceLock::new();
    R.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The shared object of `key`, made by `make` if there is none alive.
pub fn get_or_insert(key: FileKey, make: impl FnOnce() -> SharedObject) -> Arc<SharedObject> {
    let mut r = registry().lock().unwrap_or_else(|e| e.into_inner());
    if let Some(o) = r.get(&key).and_then(Weak::upgrade) {
        return o;
    }
    let o = Arc::new(make());
    r.insert(key, Arc::downgrade(&o));
    LIVE.fetch_add(1, Ordering::SeqCst);
    o
}

/// Called by SharedObject's Drop for registered objects.
pub(crate) fn forget(key: FileKey) {
    let mut r = registry().lock().unwrap_or_else(|e| e.into_inner());
    if r.get(&key).is_some_and(|w| w.strong_count() == 0) {
        r.remove(&key);
    }
    LIVE.fetch_sub(1, Ordering::SeqCst);
}

fn lookup(f: &File) -> Option<Arc<SharedObject>> {
    if LIVE.load(Ordering::Relaxed) == 0 {
        return None;
    }
    let st = f.stat().ok()?;
    if st.mode & libc::S_IFMT != libc::S_IFREG {
        return None;
    }
    let r = registry().lock().unwrap_or_else(|e| e.into_inner());
    r.get(&(st.dev, st.ino)).and_then(Weak::upgrade)
}

/// Before a read of `f`: write the mapped pages back to the file (they may
/// have been written through a mapping).
pub fn before_read(f: &File) {
    let Some(obj) = lookup(f) else { return };
    let Some(w) = obj.writer.lock().unwrap_or_else(|e| e.into_inner()).clone() else { return };
    let pages: Vec<(u64, u64)> = obj.pages.lock().unwrap_or_else(|e| e.into_inner()).iter().map(|(i, f)| (*i, *f)).collect();
    super::vma::write_back(&obj.alloc, w.as_ref(), pages.into_iter());
}

/// The position a write(2) without an explicit offset will land at.
pub fn write_position(f: &File, explicit: Option<i64>) -> Option<u64> {
    if LIVE.load(Ordering::Relaxed) == 0 {
        return None;
    }
    match explicit {
        Some(o) => u64::try_from(o).ok(),
        None if f.flags() & libc::O_APPEND != 0 => f.stat().ok().map(|s| s.size.max(0) as u64),
        None => f.seek(0, libc::SEEK_CUR).ok().map(|p| p as u64),
    }
}

/// After `data` was written to `f` at `off`: update the mapped pages.
pub fn after_write(f: &File, off: u64, data: &[u8]) {
    let Some(obj) = lookup(f) else { return };
    let pages = obj.pages.lock().unwrap_or_else(|e| e.into_inner());
    let end = off.saturating_add(data.len() as u64);
    let mut a = off;
    while a < end {
        let idx = a / PAGE_SIZE;
        let in_page = a % PAGE_SIZE;
        let n = (PAGE_SIZE - in_page).min(end - a) as usize;
        if let Some(&frame) = pages.get(&idx) {
            let s = (a - off) as usize;
            obj.alloc.mem().write(frame + in_page, &data[s..s + n]);
        }
        a += n as u64;
    }
}

/// Note a writable mapping of the object: read hooks write back through it.
pub fn add_writer(obj: &SharedObject, file: &Arc<dyn MappedFile>) {
    *obj.writer.lock().unwrap_or_else(|e| e.into_inner()) = Some(file.clone());
}
