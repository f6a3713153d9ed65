//! The Gofer protocol: one request → one response over a unix
//! `SOCK_SEQPACKET` socket (one datagram each), host fds attached with
//! `SCM_RIGHTS`.
//!
//! # Wire format
//!
//! Everything is little endian. A datagram is at most [`MAX_MSG`] bytes.
//!
//! ```text
//! request  := tag:u32 op:u8 fields...
//! response := tag:u32 kind:u8 fields...
//! bytes    := len:u32 byte*len            (names are raw bytes, not UTF-8)
//! fid      := u64
//! stat     := dev ino nlink:u64 mode uid gid:u32 rdev:u64 size blksize blocks
//!             atime atime_nsec mtime mtime_nsec ctime ctime_nsec:i64   (116 bytes)
//! ```
//!
//! The response carries the tag of its request. Request fields per op are
//! those of [`Request`] in declaration order (see `encode`); responses are
//! grouped by shape (see [`Response`]). A response to `Open` / `Create`
//! carries exactly one fd. Decoding rejects unknown ops, short input and
//! trailing bytes with a [`DecodeError`]; it never panics.

use abi::{Errno, Stat};

/// Largest datagram either side sends or accepts.
pub const MAX_MSG: usize = 64 * 1024;
/// Longest file name (one path component).
pub const NAME_MAX: usize = 255;
/// Longest symlink target.
pub const TARGET_MAX: usize = 4095;

/// Check that `name` is one path component: EINVAL for "", ".", "..", or a
/// name containing '/' or NUL; ENAMETOOLONG past [`NAME_MAX`]. (".." is
/// refused: the Sentry resolves it itself, so the server never climbs.)
pub fn check_name(name: &[u8]) -> abi::SysResult<()> {
    if name.len() > NAME_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    if name.is_empty() || name == b"." || name == b".." || name.iter().any(|&b| b == b'/' || b == 0)
    {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

/// A file the server holds open for the client (an O_PATH host fd).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fid(pub u64);

/// A time for [`SetAttr`]; use [`TimeSpec::NOW`] / [`TimeSpec::OMIT`] for UTIME_NOW / UTIME_OMIT.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimeSpec {
    pub sec: i64,
    pub nsec: i64,
}

impl TimeSpec {
    /// Set to the current time (UTIME_NOW).
    pub const NOW: TimeSpec = TimeSpec {
        sec: 0,
        nsec: libc::UTIME_NOW,
    };
    /// Leave unchanged (UTIME_OMIT).
    pub const OMIT: TimeSpec = TimeSpec {
        sec: 0,
        nsec: libc::UTIME_OMIT,
    };
}

/// Attributes to change; `None` leaves one unchanged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SetAttr {
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub size: Option<u64>,
    pub atime: Option<TimeSpec>,
    pub mtime: Option<TimeSpec>,
}

impl SetAttr {
    /// Nothing to change.
    pub fn is_empty(&self) -> bool {
        *self == SetAttr::default()
    }
}

/// `statfs` of the filesystem holding a fid.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatFs {
    pub f_type: u64,
    pub bsize: u64,
    pub blocks: u64,
    pub bfree: u64,
    pub bavail: u64,
    pub files: u64,
    pub ffree: u64,
    pub namelen: u64,
    pub frsize: u64,
}

/// A directory entry (never "." or "..").
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dirent {
    pub ino: u64,
    /// `DT_*`.
    pub kind: u8,
    pub name: Vec<u8>,
}

impl Dirent {
    /// Bytes this entry takes in a `Getdents` response.
    pub fn encoded_len(&self) -> usize {
        8 + 1 + 4 + self.name.len()
    }
}

/// A request, borrowing its names from the received datagram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request<'a> {
    Attach,
    Walk {
        dir: Fid,
        name: &'a [u8],
    },
    StatAt {
        dir: Fid,
        name: &'a [u8],
    },
    Stat {
        fid: Fid,
    },
    Open {
        fid: Fid,
        flags: i32,
    },
    Create {
        dir: Fid,
        name: &'a [u8],
        flags: i32,
        mode: u32,
        uid: u32,
        gid: u32,
    },
    Mkdir {
        dir: Fid,
        name: &'a [u8],
        mode: u32,
        uid: u32,
        gid: u32,
    },
    Symlink {
        dir: Fid,
        name: &'a [u8],
        target: &'a [u8],
        uid: u32,
        gid: u32,
    },
    Mknod {
        dir: Fid,
        name: &'a [u8],
        mode: u32,
        uid: u32,
        gid: u32,
    },
    Link {
        dir: Fid,
        name: &'a [u8],
        target: Fid,
    },
    Unlink {
        dir: Fid,
        name: &'a [u8],
        flags: i32,
    },
    Rename {
        odir: Fid,
        oname: &'a [u8],
        ndir: Fid,
        nname: &'a [u8],
        flags: u32,
    },
    Readlink {
        fid: Fid,
    },
    /// Entries after `cookie` (0: from the start).
    Getdents {
        dir: Fid,
        cookie: u64,
    },
    SetAttr {
        fid: Fid,
        attr: SetAttr,
    },
    StatFs {
        fid: Fid,
    },
    Clunk {
        fid: Fid,
    },
}

/// A response. Several requests share a shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response {
    /// Any request failed.
    Error(Errno),
    /// Link, Unlink, Rename, Clunk; Open (with the fd attached).
    Ok,
    /// Attach, Walk, Mkdir, Symlink, Mknod; Create (with the fd attached).
    FidStat {
        fid: Fid,
        stat: Stat,
    },
    /// Stat, StatAt, SetAttr.
    Stat(Stat),
    Readlink(Vec<u8>),
    /// A chunk of a directory: continue from `next` unless `eof`.
    Getdents {
        entries: Vec<Dirent>,
        next: u64,
        eof: bool,
    },
    StatFs(StatFs),
}

/// Malformed input.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("message truncated")]
    Truncated,
    #[error("{0} trailing bytes")]
    Trailing(usize),
    #[error("unknown op {0}")]
    UnknownOp(u8),
    #[error("bad value for {0}")]
    BadValue(&'static str),
}

mod op {
    pub const ATTACH: u8 = 1;
    pub const WALK: u8 = 2;
    pub const STAT_AT: u8 = 3;
    pub const STAT: u8 = 4;
    pub const OPEN: u8 = 5;
    pub const CREATE: u8 = 6;
    pub const MKDIR: u8 = 7;
    pub const SYMLINK: u8 = 8;
    pub const MKNOD: u8 = 9;
    pub const LINK: u8 = 10;
    pub const UNLINK: u8 = 11;
    pub const RENAME: u8 = 12;
    pub const READLINK: u8 = 13;
    pub const GETDENTS: u8 = 14;
    pub const SETATTR: u8 = 15;
    pub const STATFS: u8 = 16;
    pub const CLUNK: u8 = 17;
}

mod kind {
    pub const ERROR: u8 = 0;
    pub const OK: u8 = 1;
    pub const FID_STAT: u8 = 2;
    pub const STAT: u8 = 3;
    pub const READLINK: u8 = 4;
    pub const GETDENTS: u8 = 5;
    pub const STATFS: u8 = 6;
}

/// Bytes of an encoded `stat`.
pub const STAT_LEN: usize = 13 * 8 + 3 * 4;
/// Bytes of a `Getdents` response before its entries.
pub const GETDENTS_HEADER_LEN: usize = 4 + 1 + 8 + 1 + 4;

// ---------------------------------------------------------------- writer

struct W<'a>(&'a mut Vec<u8>);

impl W<'_> {
    fn u8(&mut self, v: u8) -> &mut Self {
        self.0.push(v);
        self
    }
    fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn i32(&mut self, v: i32) -> &mut Self {
        self.u32(v as u32)
    }
    fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn i64(&mut self, v: i64) -> &mut Self {
        self.u64(v as u64)
    }
    fn fid(&mut self, f: Fid) -> &mut Self {
        self.u64(f.0)
    }
    fn bytes(&mut self, b: &[u8]) -> &mut Self {
        // Lengths beyond u32 cannot fit a datagram anyway; saturate so the
        // receiver rejects the message instead of misparsing it.
        self.u32(u32::try_from(b.len()).unwrap_or(u32::MAX));
        self.0.extend_from_slice(b);
        self
    }
    fn opt_u32(&mut self, v: Option<u32>) -> &mut Self {
        self.u32(v.unwrap_or(0))
    }
    fn stat(&mut self, s: &Stat) -> &mut Self {
        self.u64(s.dev)
            .u64(s.ino)
            .u64(s.nlink)
            .u32(s.mode)
            .u32(s.uid)
            .u32(s.gid)
            .u64(s.rdev);
        self.i64(s.size).i64(s.blksize).i64(s.blocks);
        self.i64(s.atime)
            .i64(s.atime_nsec)
            .i64(s.mtime)
            .i64(s.mtime_nsec)
            .i64(s.ctime)
            .i64(s.ctime_nsec)
    }
}

// ---------------------------------------------------------------- reader

struct Rd<'a> {
    buf: &'a [u8],
}

impl<'a> Rd<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.buf.len() < n {
            return Err(DecodeError::Truncated);
        }
        let (h, t) = self.buf.split_at(n);
        self.buf = t;
        Ok(h)
    }
    fn arr<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.arr::<1>()?[0])
    }
    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.arr()?))
    }
    fn i32(&mut self) -> Result<i32, DecodeError> {
        Ok(self.u32()? as i32)
    }
    fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.arr()?))
    }
    fn i64(&mut self) -> Result<i64, DecodeError> {
        Ok(self.u64()? as i64)
    }
    fn fid(&mut self) -> Result<Fid, DecodeError> {
        Ok(Fid(self.u64()?))
    }
    fn bool(&mut self) -> Result<bool, DecodeError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(DecodeError::BadValue("bool")),
        }
    }
    fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    fn stat(&mut self) -> Result<Stat, DecodeError> {
        let mut s = Stat {
            dev: self.u64()?,
            ino: self.u64()?,
            nlink: self.u64()?,
            ..Stat::default()
        };
        s.mode = self.u32()?;
        s.uid = self.u32()?;
        s.gid = self.u32()?;
        s.rdev = self.u64()?;
        s.size = self.i64()?;
        s.blksize = self.i64()?;
        s.blocks = self.i64()?;
        s.atime = self.i64()?;
        s.atime_nsec = self.i64()?;
        s.mtime = self.i64()?;
        s.mtime_nsec = self.i64()?;
        s.ctime = self.i64()?;
        s.ctime_nsec = self.i64()?;
        Ok(s)
    }
    fn finish(&self) -> Result<(), DecodeError> {
        match self.buf.len() {
            0 => Ok(()),
            n => Err(DecodeError::Trailing(n)),
        }
    }
}

const SA_MODE: u8 = 1;
const SA_UID: u8 = 2;
const SA_GID: u8 = 4;
const SA_SIZE: u8 = 8;
const SA_ATIME: u8 = 16;
const SA_MTIME: u8 = 32;

impl Request<'_> {
    /// Append the datagram for this request to `out`.
    pub fn encode(&self, tag: u32, out: &mut Vec<u8>) {
        let mut w = W(out);
        w.u32(tag);
        match *self {
            Request::Attach => {
                w.u8(op::ATTACH);
            }
            Request::Walk { dir, name } => {
                w.u8(op::WALK).fid(dir).bytes(name);
            }
            Request::StatAt { dir, name } => {
                w.u8(op::STAT_AT).fid(dir).bytes(name);
            }
            Request::Stat { fid } => {
                w.u8(op::STAT).fid(fid);
            }
            Request::Open { fid, flags } => {
                w.u8(op::OPEN).fid(fid).i32(flags);
            }
            Request::Create {
                dir,
                name,
                flags,
                mode,
                uid,
                gid,
            } => {
                w.u8(op::CREATE)
                    .fid(dir)
                    .bytes(name)
                    .i32(flags)
                    .u32(mode)
                    .u32(uid)
                    .u32(gid);
            }
            Request::Mkdir {
                dir,
                name,
                mode,
                uid,
                gid,
            } => {
                w.u8(op::MKDIR)
                    .fid(dir)
                    .bytes(name)
                    .u32(mode)
                    .u32(uid)
                    .u32(gid);
            }
            Request::Symlink {
                dir,
                name,
                target,
                uid,
                gid,
            } => {
                w.u8(op::SYMLINK)
                    .fid(dir)
                    .bytes(name)
                    .bytes(target)
                    .u32(uid)
                    .u32(gid);
            }
            Request::Mknod {
                dir,
                name,
                mode,
                uid,
                gid,
            } => {
                w.u8(op::MKNOD)
                    .fid(dir)
                    .bytes(name)
                    .u32(mode)
                    .u32(uid)
                    .u32(gid);
            }
            Request::Link { dir, name, target } => {
                w.u8(op::LINK).fid(dir).bytes(name).fid(target);
            }
            Request::Unlink { dir, name, flags } => {
                w.u8(op::UNLINK).fid(dir).bytes(name).i32(flags);
            }
            Request::Rename {
                odir,
                oname,
                ndir,
                nname,
                flags,
            } => {
                w.u8(op::RENAME)
                    .fid(odir)
                    .bytes(oname)
                    .fid(ndir)
                    .bytes(nname)
                    .u32(flags);
            }
            Request::Readlink { fid } => {
                w.u8(op::READLINK).fid(fid);
            }
            Request::Getdents { dir, cookie } => {
                w.u8(op::GETDENTS).fid(dir).u64(cookie);
            }
            Request::SetAttr { fid, attr } => {
                let a = attr;
                let mask = [
                    (a.mode.is_some(), SA_MODE),
                    (a.uid.is_some(), SA_UID),
                    (a.gid.is_some(), SA_GID),
                    (a.size.is_some(), SA_SIZE),
                    (a.atime.is_some(), SA_ATIME),
                    (a.mtime.is_some(), SA_MTIME),
                ]
                .iter()
                .filter(|(on, _)| *on)
                .fold(0u8, |m, (_, bit)| m | bit);
                w.u8(op::SETATTR).fid(fid).u8(mask);
                w.opt_u32(a.mode)
                    .opt_u32(a.uid)
                    .opt_u32(a.gid)
                    .u64(a.size.unwrap_or(0));
                let at = a.atime.unwrap_or_default();
                let mt = a.mtime.unwrap_or_default();
                w.i64(at.sec).i64(at.nsec).i64(mt.sec).i64(mt.nsec);
            }
            Request::StatFs { fid } => {
                w.u8(op::STATFS).fid(fid);
            }
            Request::Clunk { fid } => {
                w.u8(op::CLUNK).fid(fid);
            }
        }
    }

    /// Parse one datagram: `(tag, request)`.
    pub fn decode(buf: &[u8]) -> Result<(u32, Request<'_>), DecodeError> {
        let mut r = Rd { buf };
        let tag = r.u32()?;
        let req = match r.u8()? {
            op::ATTACH => Request::Attach,
            op::WALK => Request::Walk {
                dir: r.fid()?,
                name: r.bytes()?,
            },
            op::STAT_AT => Request::StatAt {
                dir: r.fid()?,
                name: r.bytes()?,
            },
            op::STAT => Request::Stat { fid: r.fid()? },
            op::OPEN => Request::Open {
                fid: r.fid()?,
                flags: r.i32()?,
            },
            op::CREATE => Request::Create {
                dir: r.fid()?,
                name: r.bytes()?,
                flags: r.i32()?,
                mode: r.u32()?,
                uid: r.u32()?,
                gid: r.u32()?,
            },
            op::MKDIR => Request::Mkdir {
                dir: r.fid()?,
                name: r.bytes()?,
                mode: r.u32()?,
                uid: r.u32()?,
                gid: r.u32()?,
            },
            op::SYMLINK => Request::Symlink {
                dir: r.fid()?,
                name: r.bytes()?,
                target: r.bytes()?,
                uid: r.u32()?,
                gid: r.u32()?,
            },
            op::MKNOD => Request::Mknod {
                dir: r.fid()?,
                name: r.bytes()?,
                mode: r.u32()?,
                uid: r.u32()?,
                gid: r.u32()?,
            },
            op::LINK => Request::Link {
                dir: r.fid()?,
                name: r.bytes()?,
                target: r.fid()?,
            },
            op::UNLINK => Request::Unlink {
                dir: r.fid()?,
                name: r.bytes()?,
                flags: r.i32()?,
            },
            op::RENAME => Request::Rename {
                odir: r.fid()?,
                oname: r.bytes()?,
                ndir: r.fid()?,
                nname: r.bytes()?,
                flags: r.u32()?,
            },
            op::READLINK => Request::Readlink { fid: r.fid()? },
            op::GETDENTS => Request::Getdents {
                dir: r.fid()?,
                cookie: r.u64()?,
            },
            op::SETATTR => {
                let fid = r.fid()?;
                let mask = r.u8()?;
                if mask & !(SA_MODE | SA_UID | SA_GID | SA_SIZE | SA_ATIME | SA_MTIME) != 0 {
                    return Err(DecodeError::BadValue("setattr mask"));
                }
                let (mode, uid, gid, size) = (r.u32()?, r.u32()?, r.u32()?, r.u64()?);
                let atime = TimeSpec {
                    sec: r.i64()?,
                    nsec: r.i64()?,
                };
                let mtime = TimeSpec {
                    sec: r.i64()?,
                    nsec: r.i64()?,
                };
                let on = |bit: u8| mask & bit != 0;
                let attr = SetAttr {
                    mode: on(SA_MODE).then_some(mode),
                    uid: on(SA_UID).then_some(uid),
                    gid: on(SA_GID).then_some(gid),
                    size: on(SA_SIZE).then_some(size),
                    atime: on(SA_ATIME).then_some(atime),
                    mtime: on(SA_MTIME).then_some(mtime),
                };
                Request::SetAttr { fid, attr }
            }
            op::STATFS => Request::StatFs { fid: r.fid()? },
            op::CLUNK => Request::Clunk { fid: r.fid()? },
            o => return Err(DecodeError::UnknownOp(o)),
        };
        r.finish()?;
        Ok((tag, req))
    }

    /// The tag of a datagram, if it is long enough to have one (to answer
    /// an undecodable request).
    pub fn peek_tag(buf: &[u8]) -> Option<u32> {
        Some(u32::from_le_bytes(buf.get(..4)?.try_into().ok()?))
    }
}

impl Response {
    /// Append the datagram for this response to `out`.
    pub fn encode(&self, tag: u32, out: &mut Vec<u8>) {
        let mut w = W(out);
        w.u32(tag);
        match self {
            Response::Error(e) => {
                w.u8(kind::ERROR).i32(e.0);
            }
            Response::Ok => {
                w.u8(kind::OK);
            }
            Response::FidStat { fid, stat } => {
                w.u8(kind::FID_STAT).fid(*fid).stat(stat);
            }
            Response::Stat(s) => {
                w.u8(kind::STAT).stat(s);
            }
            Response::Readlink(t) => {
                w.u8(kind::READLINK).bytes(t);
            }
            Response::Getdents { entries, next, eof } => {
                w.u8(kind::GETDENTS)
                    .u64(*next)
                    .u8(u8::from(*eof))
                    .u32(entries.len() as u32);
                for e in entries {
                    w.u64(e.ino).u8(e.kind).bytes(&e.name);
                }
            }
            Response::StatFs(s) => {
                w.u8(kind::STATFS)
                    .u64(s.f_type)
                    .u64(s.bsize)
                    .u64(s.blocks)
                    .u64(s.bfree)
                    .u64(s.bavail);
                w.u64(s.files).u64(s.ffree).u64(s.namelen).u64(s.frsize);
            }
        }
    }

    /// Parse one datagram: `(tag, response)`.
    pub fn decode(buf: &[u8]) -> Result<(u32, Response), DecodeError> {
        let mut r = Rd { buf };
        let tag = r.u32()?;
        let resp = match r.u8()? {
            kind::ERROR => {
                let e = r.i32()?;
                if e <= 0 || e >= 4096 {
                    return Err(DecodeError::BadValue("errno"));
                }
                Response::Error(Errno(e))
            }
            kind::OK => Response::Ok,
            kind::FID_STAT => Response::FidStat {
                fid: r.fid()?,
                stat: r.stat()?,
            },
            kind::STAT => Response::Stat(r.stat()?),
            kind::READLINK => Response::Readlink(r.bytes()?.to_vec()),
            kind::GETDENTS => {
                let next = r.u64()?;
                let eof = r.bool()?;
                let n = r.u32()? as usize;
                // Each entry takes at least 13 bytes: bound the allocation
                // by what the input can actually hold.
                let mut entries = Vec::with_capacity(n.min(r.buf.len() / 13));
                for _ in 0..n {
                    let ino = r.u64()?;
                    let kind = r.u8()?;
                    let name = r.bytes()?.to_vec();
                    entries.push(Dirent { ino, kind, name });
                }
                Response::Getdents { entries, next, eof }
            }
            kind::STATFS => Response::StatFs(StatFs {
                f_type: r.u64()?,
                bsize: r.u64()?,
                blocks: r.u64()?,
                bfree: r.u64()?,
                bavail: r.u64()?,
                files: r.u64()?,
                ffree: r.u64()?,
                namelen: r.u64()?,
                frsize: r.u64()?,
            }),
            k => return Err(DecodeError::UnknownOp(k)),
        };
        r.finish()?;
        Ok((tag, resp))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_stat() -> Stat {
        Stat {
            dev: 1,
            ino: 2,
            nlink: 3,
            mode: 0o100644,
            uid: 5,
            gid: 6,
            rdev: 7,
            size: -8,
            blksize: 9,
            blocks: 10,
            atime: 11,
            atime_nsec: 12,
            mtime: 13,
            mtime_nsec: 14,
            ctime: 15,
            ctime_nsec: 16,
            ..Stat::default()
        }
    }

    fn sample_requests() -> Vec<Request<'static>> {
        let d = Fid(42);
        vec![
            Request::Attach,
            Request::Walk {
                dir: d,
                name: b"a\xffb",
            },
            Request::StatAt { dir: d, name: b"" },
            Request::Stat { fid: Fid(u64::MAX) },
            Request::Open { fid: d, flags: -1 },
            Request::Create {
                dir: d,
                name: b"f",
                flags: 2,
                mode: 0o644,
                uid: 1,
                gid: 2,
            },
            Request::Mkdir {
                dir: d,
                name: b"d",
                mode: 0o755,
                uid: 3,
                gid: 4,
            },
            Request::Symlink {
                dir: d,
                name: b"l",
                target: b"/etc/passwd",
                uid: 0,
                gid: 0,
            },
            Request::Mknod {
                dir: d,
                name: b"p",
                mode: libc::S_IFIFO | 0o600,
                uid: 0,
                gid: 0,
            },
            Request::Link {
                dir: d,
                name: b"h",
                target: Fid(7),
            },
            Request::Unlink {
                dir: d,
                name: b"x",
                flags: libc::AT_REMOVEDIR,
            },
            Request::Rename {
                odir: d,
                oname: b"a",
                ndir: Fid(9),
                nname: b"b",
                flags: 1,
            },
            Request::Readlink { fid: d },
            Request::Getdents {
                dir: d,
                cookie: 123456789,
            },
            Request::SetAttr {
                fid: d,
                attr: SetAttr::default(),
            },
            Request::SetAttr {
                fid: d,
                attr: SetAttr {
                    mode: Some(0o600),
                    uid: Some(0),
                    gid: None,
                    size: Some(1 << 40),
                    atime: Some(TimeSpec::NOW),
                    mtime: Some(TimeSpec { sec: -5, nsec: 999 }),
                },
            },
            Request::StatFs { fid: d },
            Request::Clunk { fid: d },
        ]
    }

    fn sample_responses() -> Vec<Response> {
        vec![
            Response::Error(Errno::ENOENT),
            Response::Ok,
            Response::FidStat {
                fid: Fid(3),
                stat: sample_stat(),
            },
            Response::Stat(sample_stat()),
            Response::Readlink(b"../x\x00y".to_vec()),
            Response::Getdents {
                entries: vec![],
                next: 0,
                eof: true,
            },
            Response::Getdents {
                entries: vec![
                    Dirent {
                        ino: 1,
                        kind: libc::DT_REG,
                        name: b"a".to_vec(),
                    },
                    Dirent {
                        ino: 2,
                        kind: libc::DT_DIR,
                        name: b"\xfe\xff".to_vec(),
                    },
                ],
                next: u64::MAX,
                eof: false,
            },
            Response::StatFs(StatFs {
                f_type: 1,
                bsize: 2,
                blocks: 3,
                bfree: 4,
                bavail: 5,
                files: 6,
                ffree: 7,
                namelen: 8,
                frsize: 9,
            }),
        ]
    }

    #[test]
    fn requests_round_trip() {
        for (i, req) in sample_requests().into_iter().enumerate() {
            let mut buf = Vec::new();
            req.encode(i as u32 + 100, &mut buf);
            let (tag, back) = Request::decode(&buf).unwrap();
            assert_eq!(tag, i as u32 + 100);
            assert_eq!(back, req);
            assert_eq!(Request::peek_tag(&buf), Some(tag));
            // Every strict prefix is rejected, as is any extra byte.
            for cut in 0..buf.len() {
                assert!(
                    Request::decode(&buf[..cut]).is_err(),
                    "{req:?} cut at {cut}"
                );
            }
            buf.push(0);
            assert_eq!(Request::decode(&buf), Err(DecodeError::Trailing(1)));
        }
    }

    #[test]
    fn responses_round_trip() {
        for (i, resp) in sample_responses().into_iter().enumerate() {
            let mut buf = Vec::new();
            resp.encode(i as u32, &mut buf);
            let (tag, back) = Response::decode(&buf).unwrap();
            assert_eq!(tag, i as u32);
            assert_eq!(back, resp);
            for cut in 0..buf.len() {
                assert!(
                    Response::decode(&buf[..cut]).is_err(),
                    "{resp:?} cut at {cut}"
                );
            }
            buf.push(0);
            assert!(Response::decode(&buf).is_err());
        }
    }

    #[test]
    fn stat_len_matches_encoding() {
        let mut buf = Vec::new();
        Response::Stat(sample_stat()).encode(0, &mut buf);
        assert_eq!(buf.len(), 5 + STAT_LEN);
        let mut buf = Vec::new();
        let d = Dirent {
            ino: 1,
            kind: 2,
            name: b"abc".to_vec(),
        };
        Response::Getdents {
            entries: vec![d.clone()],
            next: 0,
            eof: false,
        }
        .encode(0, &mut buf);
        assert_eq!(buf.len(), GETDENTS_HEADER_LEN + d.encoded_len());
    }

    #[test]
    fn bad_values_are_rejected() {
        assert_eq!(
            Request::decode(&[0, 0, 0, 0, 200]),
            Err(DecodeError::UnknownOp(200))
        );
        assert_eq!(
            Response::decode(&[0, 0, 0, 0, 200]),
            Err(DecodeError::UnknownOp(200))
        );
        // errno 0 / negative
        assert!(Response::decode(&[0, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
        assert!(Response::decode(&[0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]).is_err());
        // A huge entry count with no bytes behind it: an error, no huge allocation.
        let mut b = vec![0, 0, 0, 0, 5];
        b.extend_from_slice(&0u64.to_le_bytes());
        b.push(0);
        b.extend_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(Response::decode(&b), Err(DecodeError::Truncated));
        // Name length past the end.
        let mut b = vec![0, 0, 0, 0, 2];
        b.extend_from_slice(&1u64.to_le_bytes());
        b.extend_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(Request::decode(&b), Err(DecodeError::Truncated));
    }

    /// xorshift64*: deterministic, dependency-free randomness.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut seeds: Vec<Vec<u8>> = Vec::new();
        for (i, r) in sample_requests().iter().enumerate() {
            let mut b = Vec::new();
            r.encode(i as u32, &mut b);
            seeds.push(b);
        }
        for (i, r) in sample_responses().iter().enumerate() {
            let mut b = Vec::new();
            r.encode(i as u32, &mut b);
            seeds.push(b);
        }
        let mut decoded = 0usize;
        for round in 0..200_000 {
            let buf: Vec<u8> = if round % 2 == 0 {
                // Pure noise, with a plausible op byte half of the time.
                let len = rng.below(64);
                let mut b: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
                if len > 4 && rng.below(2) == 0 {
                    b[4] = rng.below(20) as u8;
                }
                b
            } else {
                // A valid message with a few bytes mutated, cut or extended.
                let mut b = seeds[rng.below(seeds.len())].clone();
                for _ in 0..1 + rng.below(4) {
                    match rng.below(3) {
                        0 if !b.is_empty() => {
                            let at = rng.below(b.len());
                            b[at] = rng.next() as u8;
                        }
                        1 if !b.is_empty() => {
                            let cut = rng.below(b.len());
                            b.truncate(cut);
                        }
                        _ => b.push(rng.next() as u8),
                    }
                }
                b
            };
            decoded += usize::from(Request::decode(&buf).is_ok());
            decoded += usize::from(Response::decode(&buf).is_ok());
        }
        // Sanity: mutation keeps some messages valid, so decoding paths past
        // the header are exercised too.
        assert!(decoded > 1000, "only {decoded} decoded");
    }
}
