//! The Sentry's side of the Gofer protocol.
//!
//! A [`Client`] is cheap to clone and usable from many threads: one request
//! is in flight at a time (a mutex held around send + receive). Nothing the
//! server sends can make it panic: a broken connection, a malformed or
//! mismatched response all give EIO, and once the connection is broken
//! every later call gives EIO too.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, Mutex};

use abi::{Errno, Stat, SysResult};

use crate::proto::{
    check_name, Dirent, Fid, Request, Response, SetAttr, StatFs, MAX_MSG, TARGET_MAX,
};
use crate::sys;

struct Conn {
    /// `None` once the connection broke.
    sock: Option<OwnedFd>,
    tag: u32,
    out: Vec<u8>,
    buf: Vec<u8>,
}

/// A connection to a Gofer server.
#[derive(Clone)]
pub struct Client {
    conn: Arc<Mutex<Conn>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("broken", &self.is_broken())
            .finish()
    }
}

fn check_target(target: &[u8]) -> SysResult<()> {
    if target.is_empty() {
        return Err(Errno::ENOENT);
    }
    if target.len() > TARGET_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    if target.contains(&0) {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

impl Client {
    /// Talk to the server at the other end of `sock` (a connected
    /// `SOCK_SEQPACKET` unix socket).
    pub fn new(sock: OwnedFd) -> Client {
        Client {
            conn: Arc::new(Mutex::new(Conn {
                sock: Some(sock),
                tag: 0,
                out: Vec::new(),
                buf: vec![0; MAX_MSG],
            })),
        }
    }

    /// Whether the connection has failed (every call now gives EIO).
    pub fn is_broken(&self) -> bool {
        self.conn.lock().map(|c| c.sock.is_none()).unwrap_or(true)
    }

    /// One round trip. Server errors come back as `Err(errno)`; transport
    /// or protocol failures break the connection and give EIO.
    fn call(&self, req: &Request<'_>) -> SysResult<(Response, Vec<OwnedFd>)> {
        // A panic elsewhere while holding the lock cannot leave a request
        // half-sent (send and receive are single syscalls), so a poisoned
        // lock is still usable.
        let mut guard = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let conn = &mut *guard;
        conn.tag = conn.tag.wrapping_add(1);
        let tag = conn.tag;
        conn.out.clear();
        req.encode(tag, &mut conn.out);
        if conn.out.len() > MAX_MSG {
            return Err(Errno::ENAMETOOLONG);
        }
        let result = match conn.sock.as_ref() {
            None => return Err(Errno::EIO),
            Some(sock) => Self::round_trip(sock.as_fd(), tag, &conn.out, &mut conn.buf),
        };
        match result {
            Ok((Response::Error(e), _)) => Err(e),
            Ok(r) => Ok(r),
            Err(why) => {
                tracing::warn!(?req, why, "gofer connection broken");
                conn.sock = None;
                Err(Errno::EIO)
            }
        }
    }

    fn round_trip(
        sock: std::os::fd::BorrowedFd<'_>,
        tag: u32,
        out: &[u8],
        buf: &mut [u8],
    ) -> Result<(Response, Vec<OwnedFd>), &'static str> {
        sys::send_with_fds(sock, out, &[]).map_err(|_| "send failed")?;
        let rcv = sys::recv_with_fds(sock, buf).map_err(|_| "receive failed")?;
        if rcv.eof {
            return Err("server closed the connection");
        }
        if rcv.truncated {
            return Err("response truncated");
        }
        let (rtag, resp) = Response::decode(&buf[..rcv.len]).map_err(|_| "malformed response")?;
        if rtag != tag {
            return Err("response tag mismatch");
        }
        Ok((resp, rcv.fds))
    }

    fn fid_stat(&self, req: &Request<'_>) -> SysResult<(Fid, Stat)> {
        match self.call(req)? {
            (Response::FidStat { fid, stat }, _) => Ok((fid, stat)),
            _ => Err(Errno::EIO),
        }
    }

    fn stat_of(&self, req: &Request<'_>) -> SysResult<Stat> {
        match self.call(req)? {
            (Response::Stat(s), _) => Ok(s),
            _ => Err(Errno::EIO),
        }
    }

    fn unit(&self, req: &Request<'_>) -> SysResult<()> {
        match self.call(req)? {
            (Response::Ok, _) => Ok(()),
            _ => Err(Errno::EIO),
        }
    }

    /// A new fid for the root of the served tree.
    pub fn attach(&self) -> SysResult<(Fid, Stat)> {
        self.fid_stat(&Request::Attach)
    }

    /// A new fid for `name` in directory `dir` (a symlink gives a fid for
    /// the link itself). `name` must be one component, not "." or "..".
    pub fn walk(&self, dir: Fid, name: &[u8]) -> SysResult<(Fid, Stat)> {
        check_name(name)?;
        self.fid_stat(&Request::Walk { dir, name })
    }

    /// `lstat` of `name` in `dir`, without making a fid.
    pub fn stat_at(&self, dir: Fid, name: &[u8]) -> SysResult<Stat> {
        check_name(name)?;
        self.stat_of(&Request::StatAt { dir, name })
    }

    pub fn stat(&self, fid: Fid) -> SysResult<Stat> {
        self.stat_of(&Request::Stat { fid })
    }

    /// A host fd of the file for I/O. `flags`: access mode, O_APPEND,
    /// O_TRUNC, O_DIRECTORY, O_NONBLOCK (O_CLOEXEC is implied). ELOOP for a
    /// symlink.
    pub fn open(&self, fid: Fid, flags: i32) -> SysResult<OwnedFd> {
        match self.call(&Request::Open { fid, flags })? {
            (Response::Ok, mut fds) if fds.len() == 1 => fds.pop().ok_or(Errno::EIO),
            _ => Err(Errno::EIO),
        }
    }

    /// Create and open a regular file (O_CREAT|O_EXCL: EEXIST if `name`
    /// exists), owned by `uid`/`gid` when the server may chown.
    pub fn create(
        &self,
        dir: Fid,
        name: &[u8],
        flags: i32,
        mode: u32,
        uid: u32,
        gid: u32,
    ) -> SysResult<(Fid, Stat, OwnedFd)> {
        check_name(name)?;
        match self.call(&Request::Create {
            dir,
            name,
            flags,
            mode,
            uid,
            gid,
        })? {
            (Response::FidStat { fid, stat }, mut fds) if fds.len() == 1 => {
                let fd = fds.pop().ok_or(Errno::EIO)?;
                Ok((fid, stat, fd))
            }
            (Response::FidStat { fid, .. }, _) => {
                // The file exists but its fd got lost: do not leak the fid.
                self.clunk(fid);
                Err(Errno::EIO)
            }
            _ => Err(Errno::EIO),
        }
    }

    pub fn mkdir(
        &self,
        dir: Fid,
        name: &[u8],
        mode: u32,
        uid: u32,
        gid: u32,
    ) -> SysResult<(Fid, Stat)> {
        check_name(name)?;
        self.fid_stat(&Request::Mkdir {
            dir,
            name,
            mode,
            uid,
            gid,
        })
    }

    pub fn symlink(
        &self,
        dir: Fid,
        name: &[u8],
        target: &[u8],
        uid: u32,
        gid: u32,
    ) -> SysResult<(Fid, Stat)> {
        check_name(name)?;
        check_target(target)?;
        self.fid_stat(&Request::Symlink {
            dir,
            name,
            target,
            uid,
            gid,
        })
    }

    /// Make a FIFO, socket or empty regular file (`mode` includes the
    /// `S_IF*` type); other types give EPERM.
    pub fn mknod(
        &self,
        dir: Fid,
        name: &[u8],
        mode: u32,
        uid: u32,
        gid: u32,
    ) -> SysResult<(Fid, Stat)> {
        check_name(name)?;
        self.fid_stat(&Request::Mknod {
            dir,
            name,
            mode,
            uid,
            gid,
        })
    }

    /// A hard link `name` in `dir` to the file of `target`.
    pub fn link(&self, dir: Fid, name: &[u8], target: Fid) -> SysResult<()> {
        check_name(name)?;
        self.unit(&Request::Link { dir, name, target })
    }

    /// `flags`: 0 or AT_REMOVEDIR.
    pub fn unlink(&self, dir: Fid, name: &[u8], flags: i32) -> SysResult<()> {
        check_name(name)?;
        self.unit(&Request::Unlink { dir, name, flags })
    }

    /// `flags`: renameat2's RENAME_NOREPLACE / RENAME_EXCHANGE.
    pub fn rename(
        &self,
        odir: Fid,
        oname: &[u8],
        ndir: Fid,
        nname: &[u8],
        flags: u32,
    ) -> SysResult<()> {
        check_name(oname)?;
        check_name(nname)?;
        self.unit(&Request::Rename {
            odir,
            oname,
            ndir,
            nname,
            flags,
        })
    }

    /// The target of a symlink fid (EINVAL for anything else).
    pub fn readlink(&self, fid: Fid) -> SysResult<Vec<u8>> {
        match self.call(&Request::Readlink { fid })? {
            (Response::Readlink(t), _) => Ok(t),
            _ => Err(Errno::EIO),
        }
    }

    /// Every entry of a directory except "." and "..", in as many round
    /// trips as it takes (each response stays under `MAX_MSG`).
    pub fn getdents(&self, dir: Fid) -> SysResult<Vec<Dirent>> {
        let mut all = Vec::new();
        let mut cookie = 0;
        loop {
            let (entries, next, eof) = self.getdents_chunk(dir, cookie)?;
            let progressed = !entries.is_empty() || next != cookie;
            all.extend(entries);
            if eof {
                return Ok(all);
            }
            if !progressed {
                return Err(Errno::EIO);
            }
            cookie = next;
        }
    }

    /// One chunk of a directory, from `cookie` (0: the start): the entries,
    /// the cookie to continue from, and whether the end was reached.
    pub fn getdents_chunk(&self, dir: Fid, cookie: u64) -> SysResult<(Vec<Dirent>, u64, bool)> {
        match self.call(&Request::Getdents { dir, cookie })? {
            (Response::Getdents { entries, next, eof }, _) => Ok((entries, next, eof)),
            _ => Err(Errno::EIO),
        }
    }

    /// Change attributes (in the order owner, mode, size, times); the stat
    /// after the change.
    pub fn setattr(&self, fid: Fid, attr: &SetAttr) -> SysResult<Stat> {
        self.stat_of(&Request::SetAttr { fid, attr: *attr })
    }

    pub fn statfs(&self, fid: Fid) -> SysResult<StatFs> {
        match self.call(&Request::StatFs { fid })? {
            (Response::StatFs(s), _) => Ok(s),
            _ => Err(Errno::EIO),
        }
    }

    /// Forget a fid (errors are ignored: the fid is gone either way).
    pub fn clunk(&self, fid: Fid) {
        if let Err(e) = self.unit(&Request::Clunk { fid }) {
            tracing::debug!(?fid, %e, "gofer clunk failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_is_send_sync_clone() {
        fn ok<T: Send + Sync + Clone>() {}
        ok::<Client>();
    }

    /// A fake server that answers every request with the given raw bytes.
    fn fake_server(
        reply: impl Fn(u32) -> Vec<u8> + Send + 'static,
    ) -> (Client, std::thread::JoinHandle<()>) {
        let (a, b) = sys::seqpacket_pair().unwrap();
        let h = std::thread::spawn(move || {
            let mut buf = vec![0u8; MAX_MSG];
            loop {
                let r = sys::recv_with_fds(b.as_fd(), &mut buf).unwrap();
                if r.eof {
                    return;
                }
                let tag = Request::peek_tag(&buf[..r.len]).unwrap();
                if sys::send_with_fds(b.as_fd(), &reply(tag), &[]).is_err() {
                    return;
                }
            }
        });
        (Client::new(a), h)
    }

    #[test]
    fn garbage_response_gives_eio_and_breaks() {
        let (c, h) = fake_server(|_| vec![1, 2, 3]);
        assert_eq!(c.stat(Fid(1)), Err(Errno::EIO));
        assert!(c.is_broken());
        assert_eq!(c.attach().map(|_| ()), Err(Errno::EIO));
        drop(c);
        h.join().unwrap();
    }

    #[test]
    fn wrong_tag_or_shape_gives_eio() {
        let (c, h) = fake_server(|tag| {
            let mut b = Vec::new();
            Response::Ok.encode(tag.wrapping_add(1), &mut b);
            b
        });
        assert_eq!(c.stat(Fid(1)), Err(Errno::EIO));
        drop(c);
        h.join().unwrap();

        // Right tag, wrong shape (and Open without an fd): EIO, not a panic.
        let (c, h) = fake_server(|tag| {
            let mut b = Vec::new();
            Response::Ok.encode(tag, &mut b);
            b
        });
        assert_eq!(c.stat(Fid(1)), Err(Errno::EIO));
        assert_eq!(c.open(Fid(1), 0).map(|_| ()), Err(Errno::EIO));
        assert_eq!(c.readlink(Fid(1)), Err(Errno::EIO));
        assert!(!c.is_broken());
        drop(c);
        h.join().unwrap();
    }

    #[test]
    fn names_are_checked_before_sending() {
        let (c, h) = fake_server(|_| Vec::new());
        assert_eq!(c.walk(Fid(1), b"..").map(|_| ()), Err(Errno::EINVAL));
        assert_eq!(c.walk(Fid(1), b"a/b").map(|_| ()), Err(Errno::EINVAL));
        assert_eq!(
            c.symlink(Fid(1), b"l", b"", 0, 0).map(|_| ()),
            Err(Errno::ENOENT)
        );
        assert!(!c.is_broken());
        drop(c);
        h.join().unwrap();
    }
}
