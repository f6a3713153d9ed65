//! The Gofer server: holds O_PATH fds of the rootfs ("fids") and answers
//! requests one at a time.
//!
//! Safety rules it keeps:
//! * every lookup is one validated component (no '/', not "." or "..")
//!   relative to a fid it already holds, with `openat2(RESOLVE_BENEATH |
//!   RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS)` and `O_NOFOLLOW`, so it
//!   can never leave the root it was given nor follow a symlink;
//! * a walk to a symlink yields a fid for the link itself;
//! * files are opened for I/O by re-opening the fid's O_PATH fd through
//!   `/proc/self/fd/N` (opened once, before any confinement), which names
//!   exactly the inode of the fid; symlinks are refused with ELOOP and host
//!   device nodes with EPERM;
//! * with `read_only`, every mutation and every open for writing is EROFS;
//! * a root that is a regular file (a file bind mount) is all there is:
//!   walks, creations and listings need a directory fid (ENOTDIR), so no
//!   request reaches its parent or anything else.
//!
//! The server expects a umask of 0 (modes come from the Sentry, which has
//! already applied the workload's umask); [`crate::run_gofer_process`] sets it.

use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;

use abi::{Errno, Stat, SysResult};

use crate::proto::{
    check_name, Dirent, Fid, Request, Response, SetAttr, StatFs, GETDENTS_HEADER_LEN, MAX_MSG,
    TARGET_MAX,
};
use crate::sys;
use crate::GoferError;

/// How the server treats the tree it serves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServerOptions {
    /// Refuse every mutation (EROFS).
    pub read_only: bool,
}

/// Serve `sock` until the peer closes it. `root` is an O_PATH (or any) fd
/// of the directory tree, or of the single regular file, to serve.
pub fn serve(root: OwnedFd, sock: OwnedFd, opts: ServerOptions) -> Result<(), GoferError> {
    Server::new(root, opts)?.serve(sock.as_fd())
}

struct Node {
    fd: OwnedFd,
    /// `S_IFMT` bits: the type of an inode never changes.
    kind: u32,
}

/// A Gofer server's state: its root, the `/proc/self/fd` handle and the fid
/// table. Created before confinement, then [`Server::serve`]d.
pub struct Server {
    root: OwnedFd,
    proc_fd: OwnedFd,
    opts: ServerOptions,
    fids: HashMap<u64, Node>,
    next_fid: u64,
}

/// Flags `open` accepts (O_CLOEXEC / O_LARGEFILE / O_NOCTTY are tolerated
/// and ignored: the server sets what it needs).
const OPEN_ALLOWED: i32 = libc::O_ACCMODE
    | libc::O_APPEND
    | libc::O_TRUNC
    | libc::O_DIRECTORY
    | libc::O_NONBLOCK
    | libc::O_CLOEXEC
    | libc::O_LARGEFILE
    | libc::O_NOCTTY;
/// Flags passed on to the host by `open`.
const OPEN_PASSED: i32 =
    libc::O_ACCMODE | libc::O_APPEND | libc::O_TRUNC | libc::O_DIRECTORY | libc::O_NONBLOCK;
/// Flags `create` accepts (O_CREAT|O_EXCL are implied).
const CREATE_ALLOWED: i32 = OPEN_ALLOWED & !libc::O_DIRECTORY | libc::O_CREAT | libc::O_EXCL;
const CREATE_PASSED: i32 = libc::O_ACCMODE | libc::O_APPEND | libc::O_TRUNC | libc::O_NONBLOCK;

fn host(what: &str) -> impl FnOnce(Errno) -> GoferError + '_ {
    move |errno| GoferError::Host {
        what: what.to_string(),
        errno,
    }
}

/// A single path component (see [`crate::proto::check_name`]), as a C string.
fn component(name: &[u8]) -> SysResult<CString> {
    check_name(name)?;
    CString::new(name).map_err(|_| Errno::EINVAL)
}

/// Chown of a new file: EPERM (not privileged) and EINVAL (id not mapped
/// in our user namespace) leave it owned by the Gofer, as with no chown.
fn ignore_eperm(r: SysResult<()>) -> SysResult<()> {
    match r {
        Err(Errno::EPERM) | Err(Errno::EINVAL) => Ok(()),
        r => r,
    }
}

/// `DT_*` of an `S_IFMT` type.
fn dt_of(ifmt: u32) -> u8 {
    match ifmt {
        libc::S_IFREG => libc::DT_REG,
        libc::S_IFDIR => libc::DT_DIR,
        libc::S_IFLNK => libc::DT_LNK,
        libc::S_IFIFO => libc::DT_FIFO,
        libc::S_IFSOCK => libc::DT_SOCK,
        libc::S_IFCHR => libc::DT_CHR,
        libc::S_IFBLK => libc::DT_BLK,
        _ => libc::DT_UNKNOWN,
    }
}

fn id_or_keep(v: Option<u32>) -> u32 {
    v.unwrap_or(u32::MAX)
}

impl Server {
    /// Prepare to serve `root`. Opens `/proc/self/fd` (needed to re-open
    /// fids), so call it in the serving process before confinement.
    ///
    /// The root is a directory, or a regular file (a file bind mount): a
    /// file root is the only fid the client can ever get, since every
    /// request that reaches further takes a directory fid (ENOTDIR).
    pub fn new(root: OwnedFd, opts: ServerOptions) -> Result<Server, GoferError> {
        let st = sys::fstat(root.as_fd()).map_err(host("stat of the root"))?;
        if !matches!(st.file_type(), libc::S_IFDIR | libc::S_IFREG) {
            return Err(GoferError::Host {
                what: "the root (neither a directory nor a regular file)".into(),
                errno: Errno::ENOTDIR,
            });
        }
        let proc_fd = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
            .open("/proc/self/fd")
            .map_err(|e| GoferError::Host {
                what: "open /proc/self/fd".into(),
                errno: e.into(),
            })?;
        Ok(Server {
            root,
            proc_fd: proc_fd.into(),
            opts,
            fids: HashMap::new(),
            next_fid: 1,
        })
    }

    /// Answer requests on `sock` until the peer closes it.
    pub fn serve(&mut self, sock: BorrowedFd<'_>) -> Result<(), GoferError> {
        let mut buf = vec![0u8; MAX_MSG];
        let mut out = Vec::with_capacity(MAX_MSG);
        loop {
            let rcv = sys::recv_with_fds(sock, &mut buf).map_err(host("recvmsg"))?;
            if rcv.eof {
                tracing::debug!(fids = self.fids.len(), "gofer: peer closed");
                return Ok(());
            }
            // Fds sent with a request are unexpected; `rcv.fds` closes them.
            let msg = &buf[..rcv.len];
            let (tag, resp, fd) = if rcv.truncated {
                (
                    Request::peek_tag(msg).unwrap_or(0),
                    Response::Error(Errno::EMSGSIZE),
                    None,
                )
            } else {
                match Request::decode(msg) {
                    Ok((tag, req)) => {
                        tracing::trace!(tag, ?req, "gofer request");
                        let (resp, fd) = match self.handle(&req) {
                            Ok(r) => r,
                            Err(e) => (Response::Error(e), None),
                        };
                        if let Response::Error(e) = resp {
                            tracing::trace!(tag, %e, "gofer error");
                        }
                        (tag, resp, fd)
                    }
                    Err(e) => {
                        tracing::debug!(%e, "gofer: malformed request");
                        (
                            Request::peek_tag(msg).unwrap_or(0),
                            Response::Error(Errno::EINVAL),
                            None,
                        )
                    }
                }
            };
            out.clear();
            resp.encode(tag, &mut out);
            let fds: Vec<BorrowedFd<'_>> = fd.as_ref().map(|f| f.as_fd()).into_iter().collect();
            match sys::send_with_fds(sock, &out, &fds) {
                Ok(()) => {}
                Err(Errno::EPIPE) | Err(Errno::ECONNRESET) => return Ok(()),
                Err(e) => return Err(host("sendmsg")(e)),
            }
        }
    }

    fn node(&self, fid: Fid) -> SysResult<&Node> {
        self.fids.get(&fid.0).ok_or(Errno::EBADF)
    }

    fn dir(&self, fid: Fid) -> SysResult<&Node> {
        let n = self.node(fid)?;
        if n.kind != libc::S_IFDIR {
            return Err(Errno::ENOTDIR);
        }
        Ok(n)
    }

    fn insert(&mut self, fd: OwnedFd, stat: &Stat) -> Fid {
        let fid = self.next_fid;
        self.next_fid += 1;
        self.fids.insert(
            fid,
            Node {
                fd,
                kind: stat.file_type(),
            },
        );
        Fid(fid)
    }

    fn writable(&self) -> SysResult<()> {
        if self.opts.read_only {
            Err(Errno::EROFS)
        } else {
            Ok(())
        }
    }

    /// The `/proc/self/fd` name of a held fd.
    fn proc_name(fd: BorrowedFd<'_>) -> CString {
        // Digits only: no interior NUL is possible.
        CString::new(fd.as_raw_fd().to_string()).unwrap_or_default()
    }

    /// Open the inode behind `fd` anew with `flags` (no O_NOFOLLOW: the
    /// magic link must be followed, and it names exactly that inode).
    fn reopen(&self, fd: BorrowedFd<'_>, flags: i32) -> SysResult<OwnedFd> {
        sys::openat(
            self.proc_fd.as_fd(),
            &Self::proc_name(fd),
            flags | libc::O_NOCTTY,
            0,
        )
    }

    /// Walk to a just-created entry, chown it (EPERM ignored when we may
    /// not) and register it.
    fn adopt(
        &mut self,
        dir: Fid,
        name: &CStr,
        extra: i32,
        uid: u32,
        gid: u32,
    ) -> SysResult<(Fid, Stat)> {
        let fd = sys::openat_beneath(self.dir(dir)?.fd.as_fd(), name, libc::O_PATH | extra, 0)?;
        let flags = libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW;
        ignore_eperm(sys::fchownat(fd.as_fd(), c"", uid, gid, flags))?;
        let st = sys::fstat(fd.as_fd())?;
        Ok((self.insert(fd, &st), st))
    }

    fn handle(&mut self, req: &Request<'_>) -> SysResult<(Response, Option<OwnedFd>)> {
        let fid_stat = |(fid, stat)| (Response::FidStat { fid, stat }, None);
        Ok(match *req {
            Request::Attach => {
                let fd = self.root.try_clone().map_err(Errno::from)?;
                let st = sys::fstat(fd.as_fd())?;
                fid_stat((self.insert(fd, &st), st))
            }
            Request::Walk { dir, name } => {
                let name = component(name)?;
                let fd = sys::openat_beneath(self.dir(dir)?.fd.as_fd(), &name, libc::O_PATH, 0)?;
                let st = sys::fstat(fd.as_fd())?;
                fid_stat((self.insert(fd, &st), st))
            }
            Request::StatAt { dir, name } => {
                let name = component(name)?;
                (
                    Response::Stat(sys::fstatat(self.dir(dir)?.fd.as_fd(), &name)?),
                    None,
                )
            }
            Request::Stat { fid } => (
                Response::Stat(sys::fstat(self.node(fid)?.fd.as_fd())?),
                None,
            ),
            Request::Open { fid, flags } => (Response::Ok, Some(self.open(fid, flags)?)),
            Request::Create {
                dir,
                name,
                flags,
                mode,
                uid,
                gid,
            } => {
                let (fid, stat, fd) = self.create(dir, name, flags, mode, uid, gid)?;
                (Response::FidStat { fid, stat }, Some(fd))
            }
            Request::Mkdir {
                dir,
                name,
                mode,
                uid,
                gid,
            } => {
                self.writable()?;
                let name = component(name)?;
                sys::mkdirat(self.dir(dir)?.fd.as_fd(), &name, mode & 0o7777)?;
                fid_stat(self.adopt(dir, &name, libc::O_DIRECTORY, uid, gid)?)
            }
            Request::Symlink {
                dir,
                name,
                target,
                uid,
                gid,
            } => {
                self.writable()?;
                let name = component(name)?;
                if target.is_empty() {
                    return Err(Errno::ENOENT);
                }
                if target.len() > TARGET_MAX {
                    return Err(Errno::ENAMETOOLONG);
                }
                let target = CString::new(target).map_err(|_| Errno::EINVAL)?;
                sys::symlinkat(&target, self.dir(dir)?.fd.as_fd(), &name)?;
                fid_stat(self.adopt(dir, &name, 0, uid, gid)?)
            }
            Request::Mknod {
                dir,
                name,
                mode,
                uid,
                gid,
            } => {
                self.writable()?;
                let name = component(name)?;
                let mode = match mode & libc::S_IFMT {
                    0 => mode | libc::S_IFREG,
                    libc::S_IFREG | libc::S_IFIFO | libc::S_IFSOCK => mode,
                    _ => return Err(Errno::EPERM),
                };
                sys::mknodat(
                    self.dir(dir)?.fd.as_fd(),
                    &name,
                    mode & (libc::S_IFMT | 0o7777),
                )?;
                fid_stat(self.adopt(dir, &name, 0, uid, gid)?)
            }
            Request::Link { dir, name, target } => {
                self.writable()?;
                let name = component(name)?;
                let d = self.dir(dir)?.fd.as_fd();
                let t = self.node(target)?;
                if t.kind == libc::S_IFDIR {
                    return Err(Errno::EPERM);
                }
                // AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH (ENOENT without
                // it); the /proc/self/fd route needs nothing.
                match sys::linkat(t.fd.as_fd(), c"", d, &name, libc::AT_EMPTY_PATH) {
                    Err(Errno::ENOENT) | Err(Errno::EPERM) => sys::linkat(
                        self.proc_fd.as_fd(),
                        &Self::proc_name(t.fd.as_fd()),
                        d,
                        &name,
                        libc::AT_SYMLINK_FOLLOW,
                    )?,
                    r => r?,
                }
                (Response::Ok, None)
            }
            Request::Unlink { dir, name, flags } => {
                self.writable()?;
                let name = component(name)?;
                if flags & !libc::AT_REMOVEDIR != 0 {
                    return Err(Errno::EINVAL);
                }
                sys::unlinkat(self.dir(dir)?.fd.as_fd(), &name, flags)?;
                (Response::Ok, None)
            }
            Request::Rename {
                odir,
                oname,
                ndir,
                nname,
                flags,
            } => {
                self.writable()?;
                let (oname, nname) = (component(oname)?, component(nname)?);
                if flags & !(libc::RENAME_NOREPLACE | libc::RENAME_EXCHANGE) != 0 {
                    return Err(Errno::EINVAL);
                }
                sys::renameat2(
                    self.dir(odir)?.fd.as_fd(),
                    &oname,
                    self.dir(ndir)?.fd.as_fd(),
                    &nname,
                    flags,
                )?;
                (Response::Ok, None)
            }
            Request::Readlink { fid } => {
                let n = self.node(fid)?;
                if n.kind != libc::S_IFLNK {
                    return Err(Errno::EINVAL);
                }
                (Response::Readlink(sys::readlink_fd(n.fd.as_fd())?), None)
            }
            Request::Getdents { dir, cookie } => (self.getdents(dir, cookie)?, None),
            Request::SetAttr { fid, attr } => (Response::Stat(self.setattr(fid, &attr)?), None),
            Request::StatFs { fid } => {
                let s = sys::fstatfs(self.node(fid)?.fd.as_fd())?;
                (
                    Response::StatFs(StatFs {
                        f_type: s.f_type as u64,
                        bsize: s.f_bsize as u64,
                        blocks: s.f_blocks,
                        bfree: s.f_bfree,
                        bavail: s.f_bavail,
                        files: s.f_files,
                        ffree: s.f_ffree,
                        namelen: s.f_namelen as u64,
                        frsize: s.f_frsize as u64,
                    }),
                    None,
                )
            }
            Request::Clunk { fid } => {
                self.fids.remove(&fid.0).ok_or(Errno::EBADF)?;
                (Response::Ok, None)
            }
        })
    }

    fn open(&self, fid: Fid, flags: i32) -> SysResult<OwnedFd> {
        if flags & !OPEN_ALLOWED != 0 || flags & libc::O_ACCMODE == libc::O_ACCMODE {
            return Err(Errno::EINVAL);
        }
        if self.opts.read_only
            && (flags & libc::O_ACCMODE != libc::O_RDONLY || flags & libc::O_TRUNC != 0)
        {
            return Err(Errno::EROFS);
        }
        let n = self.node(fid)?;
        let flags = flags & OPEN_PASSED;
        match n.kind {
            libc::S_IFLNK => Err(Errno::ELOOP),
            // Host device nodes in an image are never handed out.
            libc::S_IFCHR | libc::S_IFBLK => Err(Errno::EPERM),
            libc::S_IFIFO => {
                // A blocking FIFO open would stall the whole server: always
                // open non-blocking, then restore blocking mode for the fd.
                let fd = self.reopen(n.fd.as_fd(), flags | libc::O_NONBLOCK)?;
                if flags & libc::O_NONBLOCK == 0 {
                    sys::clear_nonblock(fd.as_fd())?;
                }
                Ok(fd)
            }
            _ => self.reopen(n.fd.as_fd(), flags),
        }
    }

    fn create(
        &mut self,
        dir: Fid,
        name: &[u8],
        flags: i32,
        mode: u32,
        uid: u32,
        gid: u32,
    ) -> SysResult<(Fid, Stat, OwnedFd)> {
        self.writable()?;
        let name = component(name)?;
        if flags & !CREATE_ALLOWED != 0 || flags & libc::O_ACCMODE == libc::O_ACCMODE {
            return Err(Errno::EINVAL);
        }
        let d = self.dir(dir)?.fd.as_fd();
        let flags = flags & CREATE_PASSED | libc::O_CREAT | libc::O_EXCL;
        let fd = sys::openat_beneath(d, &name, flags, mode & 0o7777)?;
        let finish = || -> SysResult<(OwnedFd, Stat)> {
            ignore_eperm(sys::fchownat(
                fd.as_fd(),
                c"",
                uid,
                gid,
                libc::AT_EMPTY_PATH,
            ))?;
            // The fid is an O_PATH fd of the very inode just created.
            let path = self.reopen(fd.as_fd(), libc::O_PATH)?;
            let st = sys::fstat(path.as_fd())?;
            Ok((path, st))
        };
        match finish() {
            Ok((path, st)) => Ok((self.insert(path, &st), st, fd)),
            Err(e) => {
                let _ = sys::unlinkat(d, &name, 0);
                Err(e)
            }
        }
    }

    fn getdents(&self, dir: Fid, cookie: u64) -> SysResult<Response> {
        let n = self.dir(dir)?;
        let fd = sys::openat(n.fd.as_fd(), c".", libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
        if cookie != 0 {
            sys::lseek_set(fd.as_fd(), cookie as i64)?;
        }
        let budget = MAX_MSG - GETDENTS_HEADER_LEN;
        let mut used = 0;
        let mut entries = Vec::new();
        let mut next = cookie;
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            let len = sys::getdents64(fd.as_fd(), &mut buf)?;
            if len == 0 {
                return Ok(Response::Getdents {
                    entries,
                    next,
                    eof: true,
                });
            }
            let mut recs = &buf[..len];
            // struct linux_dirent64 { u64 ino; i64 off; u16 reclen; u8 type; char name[]; }
            while recs.len() >= 19 {
                let reclen = usize::from(u16::from_ne_bytes([recs[16], recs[17]]));
                if reclen < 19 || reclen > recs.len() {
                    return Err(Errno::EIO);
                }
                let ino = u64::from_ne_bytes(recs[0..8].try_into().map_err(|_| Errno::EIO)?);
                let off = u64::from_ne_bytes(recs[8..16].try_into().map_err(|_| Errno::EIO)?);
                let kind = recs[18];
                let raw = &recs[19..reclen];
                let name = &raw[..raw.iter().position(|&b| b == 0).unwrap_or(raw.len())];
                recs = &recs[reclen..];
                if name != b"." && name != b".." {
                    let kind = if kind == libc::DT_UNKNOWN {
                        // Filesystems without d_type: ask (names from the
                        // host directory are single components).
                        CString::new(name)
                            .ok()
                            .and_then(|c| sys::fstatat(fd.as_fd(), &c).ok())
                            .map_or(libc::DT_UNKNOWN, |st| dt_of(st.file_type()))
                    } else {
                        kind
                    };
                    let e = Dirent {
                        ino,
                        kind,
                        name: name.to_vec(),
                    };
                    if used + e.encoded_len() > budget {
                        return Ok(Response::Getdents {
                            entries,
                            next,
                            eof: false,
                        });
                    }
                    used += e.encoded_len();
                    entries.push(e);
                }
                next = off;
            }
        }
    }

    fn setattr(&self, fid: Fid, a: &SetAttr) -> SysResult<Stat> {
        let n = self.node(fid)?;
        let fd = n.fd.as_fd();
        if a.is_empty() {
            return sys::fstat(fd);
        }
        self.writable()?;
        if a.uid.is_some() || a.gid.is_some() {
            let flags = libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW;
            sys::fchownat(fd, c"", id_or_keep(a.uid), id_or_keep(a.gid), flags)?;
        }
        if let Some(mode) = a.mode {
            if n.kind == libc::S_IFLNK {
                return Err(Errno::EOPNOTSUPP);
            }
            sys::fchmodat(self.proc_fd.as_fd(), &Self::proc_name(fd), mode & 0o7777)?;
        }
        if let Some(size) = a.size {
            match n.kind {
                libc::S_IFREG => {}
                libc::S_IFDIR => return Err(Errno::EISDIR),
                _ => return Err(Errno::EINVAL),
            }
            let w = self.reopen(fd, libc::O_WRONLY)?;
            sys::ftruncate(w.as_fd(), size)?;
        }
        if a.atime.is_some() || a.mtime.is_some() {
            let t = |t: Option<crate::proto::TimeSpec>| {
                let t = t.unwrap_or(crate::proto::TimeSpec::OMIT);
                (t.sec, t.nsec)
            };
            let times = [t(a.atime), t(a.mtime)];
            match sys::utimensat(
                fd,
                c"",
                times,
                libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW,
            ) {
                // Kernels before AT_EMPTY_PATH support in utimensat.
                Err(Errno::EINVAL) if n.kind != libc::S_IFLNK => {
                    sys::utimensat(self.proc_fd.as_fd(), &Self::proc_name(fd), times, 0)?
                }
                r => r?,
            }
        }
        sys::fstat(fd)
    }
}

#[cfg(test)]
#[path = "server_file_root_tests.rs"]
mod file_root_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::NAME_MAX;

    #[test]
    fn components_are_validated() {
        for bad in [&b""[..], b".", b"..", b"a/b", b"/", b"a\0b"] {
            assert_eq!(component(bad), Err(Errno::EINVAL), "{bad:?}");
        }
        assert_eq!(component(&[b'x'; NAME_MAX + 1]), Err(Errno::ENAMETOOLONG));
        assert!(component(&[b'x'; NAME_MAX]).is_ok());
        assert!(component(b"...").is_ok());
        assert!(component(b"\xff\xfe").is_ok());
    }

    #[test]
    fn dt_of_maps_every_type() {
        assert_eq!(dt_of(libc::S_IFREG), libc::DT_REG);
        assert_eq!(dt_of(libc::S_IFDIR), libc::DT_DIR);
        assert_eq!(dt_of(libc::S_IFLNK), libc::DT_LNK);
        assert_eq!(dt_of(libc::S_IFIFO), libc::DT_FIFO);
        assert_eq!(dt_of(libc::S_IFSOCK), libc::DT_SOCK);
        assert_eq!(dt_of(libc::S_IFCHR), libc::DT_CHR);
        assert_eq!(dt_of(libc::S_IFBLK), libc::DT_BLK);
        assert_eq!(dt_of(0), libc::DT_UNKNOWN);
    }
}
