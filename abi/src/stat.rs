//! `struct stat` as x86-64 Linux lays it out, for copying to the workload.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// x86-64 `struct stat` (144 bytes), as `fstat`/`newfstatat` return it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct Stat {
    pub dev: u64,
    pub ino: u64,
    pub nlink: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub _pad0: u32,
    pub rdev: u64,
    pub size: i64,
    pub blksize: i64,
    pub blocks: i64,
    pub atime: i64,
    pub atime_nsec: i64,
    pub mtime: i64,
    pub mtime_nsec: i64,
    pub ctime: i64,
    pub ctime_nsec: i64,
    pub _unused: [i64; 3],
}

impl Stat {
    /// From the host's `struct stat` (same layout on x86-64, named fields).
    pub fn from_host(s: &libc::stat) -> Stat {
        Stat {
            dev: s.st_dev,
            ino: s.st_ino,
            nlink: s.st_nlink,
            mode: s.st_mode,
            uid: s.st_uid,
            gid: s.st_gid,
            _pad0: 0,
            rdev: s.st_rdev,
            size: s.st_size,
            blksize: s.st_blksize,
            blocks: s.st_blocks,
            atime: s.st_atime,
            atime_nsec: s.st_atime_nsec,
            mtime: s.st_mtime,
            mtime_nsec: s.st_mtime_nsec,
            ctime: s.st_ctime,
            ctime_nsec: s.st_ctime_nsec,
            _unused: [0; 3],
        }
    }

    /// The file type bits (`S_IFMT` part of `mode`).
    pub fn file_type(&self) -> u32 {
        self.mode & libc::S_IFMT
    }
}

const _: () = assert!(std::mem::size_of::<Stat>() == 144);
const _: () = assert!(std::mem::size_of::<libc::stat>() == 144);
