//! Plain data types shared by the VFS and the filesystems.

use abi::Stat;

/// Who owns a newly created file (the caller's fsuid/fsgid, or the
/// parent's gid for a setgid directory: the VFS computes it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
}

/// A timestamp (seconds and nanoseconds since the epoch).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct TimeSpec {
    pub sec: i64,
    pub nsec: i64,
}

impl TimeSpec {
    /// The current wall-clock time.
    pub fn now() -> TimeSpec {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        TimeSpec { sec: d.as_secs() as i64, nsec: i64::from(d.subsec_nanos()) }
    }
}

/// Attribute changes (chmod, chown, truncate, utimens). `None` = unchanged.
/// Filesystems update ctime themselves whenever anything changes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SetAttr {
    /// Permission bits only (07777); the file type is never changed.
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub size: Option<u64>,
    pub atime: Option<TimeSpec>,
    pub mtime: Option<TimeSpec>,
}

/// `struct statfs` contents (x86-64 `statfs(2)`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatFs {
    pub fs_type: i64,
    pub bsize: i64,
    pub blocks: u64,
    pub bfree: u64,
    pub bavail: u64,
    pub files: u64,
    pub ffree: u64,
    pub fsid: [i32; 2],
    pub namelen: i64,
    pub frsize: i64,
    /// ST_* mount flags (ST_RDONLY, ST_NOSUID, ...), filled by the VFS.
    pub flags: i64,
}

impl StatFs {
    /// The 120-byte x86-64 `struct statfs` as the workload expects it.
    pub fn to_bytes(&self) -> [u8; 120] {
        let mut b = [0u8; 120];
        let words: [i64; 7] = [
            self.fs_type,
            self.bsize,
            self.blocks as i64,
            self.bfree as i64,
            self.bavail as i64,
            self.files as i64,
            self.ffree as i64,
        ];
        for (i, w) in words.iter().enumerate() {
            b[i * 8..i * 8 + 8].copy_from_slice(&w.to_ne_bytes());
        }
        b[56..60].copy_from_slice(&self.fsid[0].to_ne_bytes());
        b[60..64].copy_from_slice(&self.fsid[1].to_ne_bytes());
        b[64..72].copy_from_slice(&self.namelen.to_ne_bytes());
        b[72..80].copy_from_slice(&self.frsize.to_ne_bytes());
        b[80..88].copy_from_slice(&self.flags.to_ne_bytes());
        b
    }
}

/// One directory entry as a filesystem lists it ("." and ".." excluded:
/// the VFS adds them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    pub ino: u64,
    /// `DT_*` type.
    pub kind: u8,
    pub name: Vec<u8>,
}

/// Magic numbers for `statfs.f_type`.
pub mod magic {
    pub const TMPFS: i64 = 0x0102_1994;
    pub const PROC: i64 = 0x9fa0;
    pub const OVERLAYFS: i64 = 0x794c_7630;
    pub const V9FS: i64 = 0x0102_1997;
    pub const DEVPTS: i64 = 0x1cd1;
    pub const SYSFS: i64 = 0x6265_6572;
}

/// `DT_*` value for a `st_mode`.
pub fn dtype_of(mode: u32) -> u8 {
    ((mode & libc::S_IFMT) >> 12) as u8
}

/// Whether a stat describes a directory.
pub fn is_dir(st: &Stat) -> bool {
    st.mode & libc::S_IFMT == libc::S_IFDIR
}

/// Whether a stat describes a symlink.
pub fn is_symlink(st: &Stat) -> bool {
    st.mode & libc::S_IFMT == libc::S_IFLNK
}

/// Whether a stat describes a regular file.
pub fn is_reg(st: &Stat) -> bool {
    st.mode & libc::S_IFMT == libc::S_IFREG
}

/// Allocate a device number for an in-sandbox filesystem (anonymous
/// block devices, major 0, like Linux's `get_anon_bdev`).
pub fn anon_dev() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(40);
    let minor = NEXT.fetch_add(1, Ordering::Relaxed);
    libc::makedev(0, minor as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dtype_matches_libc() {
        assert_eq!(dtype_of(libc::S_IFDIR | 0o755), libc::DT_DIR);
        assert_eq!(dtype_of(libc::S_IFREG), libc::DT_REG);
        assert_eq!(dtype_of(libc::S_IFLNK), libc::DT_LNK);
        assert_eq!(dtype_of(libc::S_IFIFO), libc::DT_FIFO);
    }

    #[test]
    fn statfs_layout() {
        let s = StatFs { fs_type: magic::TMPFS, namelen: 255, flags: 1, ..Default::default() };
        let b = s.to_bytes();
        assert_eq!(i64::from_ne_bytes(b[0..8].try_into().unwrap()), magic::TMPFS);
        assert_eq!(i64::from_ne_bytes(b[64..72].try_into().unwrap()), 255);
        assert_eq!(i64::from_ne_bytes(b[80..88].try_into().unwrap()), 1);
        assert_ne!(anon_dev(), anon_dev());
    }
}
