//! The socket syscalls: argument decoding, user-memory copies, blocking,
//! fd installation; the family-specific work goes through `Socket`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use abi::{Errno, SysResult};
use fs::file::File;
use fs::waiter::events;

use super::cmsg::{self, RawCmsg};
use super::{family, Caller, Control, RecvMsg, SockCtx, Socket, SocketFile};
use crate::signal::{SigInfo, SIGPIPE, SI_USER};
use crate::syscalls::{sc, Args, Entry};
use crate::task::run::Thread;

pub static ENTRIES: &[Entry] = &[
    sc!(SYS_socket, socket, "AF_UNIX only until a family registers (socket::register_family)"),
    sc!(SYS_socketpair, socketpair),
    sc!(SYS_bind, bind),
    sc!(SYS_listen, listen),
    sc!(SYS_accept, accept),
    sc!(SYS_accept4, accept4),
    sc!(SYS_connect, connect),
    sc!(SYS_sendto, sendto),
    sc!(SYS_recvfrom, recvfrom),
    sc!(SYS_sendmsg, sendmsg),
    sc!(SYS_recvmsg, recvmsg, "MSG_ERRQUEUE and MSG_OOB unsupported"),
    sc!(SYS_sendmmsg, sendmmsg),
    sc!(SYS_recvmmsg, recvmmsg, "the timeout is checked between messages only"),
    sc!(SYS_shutdown, shutdown),
    sc!(SYS_getsockname, getsockname),
    sc!(SYS_getpeername, getpeername),
    sc!(SYS_getsockopt, getsockopt, "unknown options give ENOPROTOOPT; see the family's notes"),
    sc!(SYS_setsockopt, setsockopt, "unknown options give ENOPROTOOPT; see the family's notes"),
];

/// sizeof(struct sockaddr_storage).
const ADDR_MAX: usize = 128;
/// Largest kernel buffer one send/receive step uses.
const CHUNK: u64 = 1 << 20;
/// Largest datagram the layer copies in (bigger ones are EMSGSIZE).
const MAX_DGRAM: u64 = 8 << 20;
/// optmem_max: the largest control buffer sendmsg accepts.
const OPTMEM_MAX: u64 = 131072;
/// UIO_MAXIOV.
const IOV_MAX: u64 = 1024;
/// SCM_MAX_FD.
const SCM_MAX_FD: usize = 253;
const SO_RCVTIMEO_NEW: i32 = 66;
const SO_SNDTIMEO_NEW: i32 = 67;

const READ_MASK: u32 = events::READABLE | events::POLLRDHUP;

fn sockfile(f: &Arc<File>) -> SysResult<&SocketFile> {
    f.ops().as_any().downcast_ref::<SocketFile>().ok_or(Errno::ENOTSOCK)
}

/// The socket file at `fd` (EBADF, ENOTSOCK).
fn sock_fd(t: &Thread, fd: i32) -> SysResult<Arc<File>> {
    let f = t.task.files().get(fd)?;
    if f.is_path() {
        return Err(Errno::EBADF);
    }
    sockfile(&f)?;
    Ok(f)
}

pub(super) fn caller(t: &Thread) -> Caller {
    let c = t.task.tg.creds();
    let (suid, sgid) = *t.task.tg.saved_ids.lock().unwrap_or_else(|e| e.into_inner());
    Caller { pid: t.task.tgid(), uid: c.uid, gid: c.gid, euid: c.euid, egid: c.egid, suid, sgid }
}

fn ctx(t: &Thread, with_fs: bool) -> SockCtx {
    let fs = with_fs.then(|| (t.task.k.vfs.clone(), t.task.vfs_ctx()));
    SockCtx { caller: caller(t), fs }
}

fn nofile(t: &Thread) -> u64 {
    t.task.tg.rlimit(libc::RLIMIT_NOFILE).cur
}

fn install(t: &Thread, f: Arc<File>, cloexec: bool) -> SysResult<i32> {
    t.task.files().install(f, cloexec, 0, nofile(t))
}

/// Copy in a sockaddr of `len` bytes (EINVAL above sockaddr_storage).
fn read_addr(t: &Thread, addr: u64, len: u64) -> SysResult<Vec<u8>> {
    let len = len as u32 as i32;
    if len < 0 || len as usize > ADDR_MAX {
        return Err(Errno::EINVAL);
    }
    let mut b = vec![0u8; len as usize];
    t.mm.copy_in(addr, &mut b)?;
    Ok(b)
}

/// move_addr_to_user: copy at most *lenp bytes of `name`, store its full
/// length in *lenp. Nothing when `addr` is NULL.
fn write_addr(t: &Thread, addr: u64, lenp: u64, name: &[u8]) -> SysResult<()> {
    if addr == 0 {
        return Ok(());
    }
    let mut lb = [0u8; 4];
    t.mm.copy_in(lenp, &mut lb)?;
    let ulen = i32::from_ne_bytes(lb);
    if ulen < 0 {
        return Err(Errno::EINVAL);
    }
    let n = (ulen as usize).min(name.len());
    t.mm.copy_out(addr, &name[..n])?;
    t.mm.copy_out(lenp, &(name.len() as i32).to_ne_bytes())
}

/// Run `op` until it stops returning EAGAIN, waiting for `mask` on the
/// socket's queues: EAGAIN at once when non-blocking or on timeout;
/// ERESTARTSYS on a signal (EINTR when a timeout is set, as Linux's
/// sock_intr_errno).
fn wait_loop<R>(
    t: &mut Thread,
    sock: &Arc<dyn Socket>,
    mask: u32,
    nonblock: bool,
    timeout: Option<Duration>,
    mut op: impl FnMut(&mut Thread) -> SysResult<R>,
) -> SysResult<R> {
    match op(t) {
        Err(Errno::EAGAIN) if !nonblock => {}
        r => return r,
    }
    if timeout == Some(Duration::ZERO) {
        return Err(Errno::EAGAIN);
    }
    // A timeout too far to represent is no timeout.
    let deadline = timeout.and_then(|d| Instant::now().checked_add(d));
    let waker = t.task.waiter.as_waker();
    sock.event_register(&waker, mask);
    let r = t.wait_event(&[], mask, &[], deadline, |t| match op(t) {
        Err(Errno::EAGAIN) => None,
        r => Some(r),
    });
    sock.event_unregister(&waker);
    match r {
        Err(Errno::ETIMEDOUT) if deadline.is_some() => Err(Errno::EAGAIN),
        Err(Errno::ERESTARTSYS) if timeout.is_some() => Err(Errno::EINTR),
        r => r,
    }
}

#[derive(Clone, Copy, Debug)]
struct IoVec {
    base: u64,
    len: u64,
}

/// Read `cnt` iovecs: EMSGSIZE above UIO_MAXIOV (msghdr rule), EINVAL for
/// a length or total past ssize_t.
fn read_iovs(t: &Thread, addr: u64, cnt: u64) -> SysResult<Vec<IoVec>> {
    if cnt > IOV_MAX {
        return Err(Errno::EMSGSIZE);
    }
    let mut raw = vec![0u8; cnt as usize * 16];
    t.mm.copy_in(addr, &mut raw)?;
    let mut out = Vec::with_capacity(cnt as usize);
    let mut total: u64 = 0;
    for c in raw.chunks_exact(16) {
        let mut b = [0u8; 8];
        b.copy_from_slice(&c[..8]);
        let base = u64::from_ne_bytes(b);
        b.copy_from_slice(&c[8..]);
        let len = u64::from_ne_bytes(b);
        total = total.checked_add(len).filter(|x| *x <= i64::MAX as u64).ok_or(Errno::EINVAL)?;
        if len > 0 {
            out.push(IoVec { base, len });
        }
    }
    // MAX_RW_COUNT clipping.
    let mut left: u64 = (i32::MAX as u64) & !4095;
    for v in &mut out {
        v.len = v.len.min(left);
        left -= v.len;
    }
    out.retain(|v| v.len > 0);
    Ok(out)
}

fn total(iovs: &[IoVec]) -> u64 {
    iovs.iter().map(|v| v.len).sum()
}

/// Copy `len` bytes at logical offset `off` of the iovecs in. A fault
/// ends the data there (EFAULT if nothing was copied).
fn gather(t: &Thread, iovs: &[IoVec], off: u64, len: u64) -> SysResult<Vec<u8>> {
    let mut out = Vec::with_capacity(len as usize);
    let mut pos = 0u64;
    for v in iovs {
        if out.len() as u64 >= len {
            break;
        }
        let (vs, ve) = (pos, pos + v.len);
        pos = ve;
        let want_start = off + out.len() as u64;
        if ve <= want_start {
            continue;
        }
        let skip = want_start.saturating_sub(vs);
        let n = (v.len - skip).min(len - out.len() as u64) as usize;
        let start = out.len();
        out.resize(start + n, 0);
        if let Err(e) = v.base.checked_add(skip).ok_or(Errno::EFAULT).and_then(|a| t.mm.copy_in(a, &mut out[start..])) {
            out.truncate(start);
            if out.is_empty() {
                return Err(e);
            }
            break;
        }
    }
    Ok(out)
}

/// Copy `data` out to the iovecs starting at logical offset `off`.
fn scatter(t: &Thread, iovs: &[IoVec], off: u64, data: &[u8]) -> SysResult<()> {
    let mut pos = 0u64;
    let mut done = 0usize;
    for v in iovs {
        if done >= data.len() {
            break;
        }
        let (vs, ve) = (pos, pos + v.len);
        pos = ve;
        let at = off + done as u64;
        if ve <= at {
            continue;
        }
        let skip = at - vs.min(at);
        let n = ((v.len - skip) as usize).min(data.len() - done);
        t.mm.copy_out(v.base.checked_add(skip).ok_or(Errno::EFAULT)?, &data[done..done + n])?;
        done += n;
    }
    Ok(())
}

fn is_stream(sock: &Arc<dyn Socket>) -> bool {
    sock.sock_type() == libc::SOCK_STREAM
}

/// The send engine of sendto/sendmsg/sendmmsg.
fn do_send(t: &mut Thread, f: &Arc<File>, iovs: &[IoVec], to: Option<Vec<u8>>, mut control: Control, flags: i32) -> SysResult<u64> {
    let sf = sockfile(f)?;
    let sock = sf.sock.clone();
    let nonblock = f.is_nonblocking() || flags & libc::MSG_DONTWAIT != 0;
    let timeout = sf.common().sndtimeo;
    let ctx = ctx(t, to.is_some());
    let total = total(iovs);
    let to = to.as_deref();
    let r = if is_stream(&sock) {
        let mut done = 0u64;
        loop {
            let want = (total - done).min(CHUNK);
            let data = match gather(t, iovs, done, want) {
                Ok(d) => d,
                Err(e) => break if done > 0 { Ok(done) } else { Err(e) },
            };
            let mut off = 0usize;
            let mut err = None;
            loop {
                let r = wait_loop(t, &sock, events::WRITABLE, nonblock, timeout, |_| sock.sendmsg(&ctx, &data[off..], to, &mut control, flags));
                match r {
                    Ok(n) => {
                        off += n;
                        if n > 0 {
                            control = Control::default();
                        }
                    }
                    Err(e) => {
                        err = Some(e);
                        break;
                    }
                }
                if off >= data.len() {
                    break;
                }
            }
            done += off as u64;
            if let Some(e) = err {
                break if done > 0 { Ok(done) } else { Err(e) };
            }
            if done >= total || (data.len() as u64) < want {
                break Ok(done);
            }
        }
    } else {
        if total > MAX_DGRAM {
            return Err(Errno::EMSGSIZE);
        }
        let data = gather(t, iovs, 0, total)?;
        wait_loop(t, &sock, events::WRITABLE, nonblock, timeout, |_| sock.sendmsg(&ctx, &data, to, &mut control, flags)).map(|n| n as u64)
    };
    if r == Err(Errno::EPIPE) && flags & libc::MSG_NOSIGNAL == 0 {
        t.task.send(SigInfo::new(SIGPIPE, SI_USER));
    }
    r
}

/// The receive engine: returns the byte count to report and the message
/// (address, control, flags) of the first step.
fn do_recv(t: &mut Thread, f: &Arc<File>, iovs: &[IoVec], flags: i32) -> SysResult<(u64, RecvMsg)> {
    let sf = sockfile(f)?;
    let sock = sf.sock.clone();
    if flags & libc::MSG_ERRQUEUE != 0 {
        return Err(Errno::EAGAIN);
    }
    let nonblock = f.is_nonblocking() || flags & libc::MSG_DONTWAIT != 0;
    let timeout = sf.common().rcvtimeo;
    let ctx = ctx(t, false);
    let total = total(iovs);
    let stream = is_stream(&sock);
    let sflags = flags & !(libc::MSG_DONTWAIT | libc::MSG_WAITALL | libc::MSG_CMSG_CLOEXEC);
    let mut buf = vec![0u8; total.min(CHUNK) as usize];
    let mut first = wait_loop(t, &sock, READ_MASK, nonblock, timeout, |_| sock.recvmsg(&ctx, &mut buf, sflags))?;
    scatter(t, iovs, 0, &buf[..first.n])?;
    let mut done = first.n as u64;
    let waitall = stream && flags & libc::MSG_WAITALL != 0 && flags & libc::MSG_PEEK == 0;
    let more = stream && (waitall || total > CHUNK) && first.control.rights.is_empty();
    if more && first.n > 0 {
        while done < total {
            let mut b = vec![0u8; (total - done).min(CHUNK) as usize];
            let r = if waitall {
                wait_loop(t, &sock, READ_MASK, nonblock, timeout, |_| sock.recvmsg(&ctx, &mut b, sflags))
            } else {
                sock.recvmsg(&ctx, &mut b, sflags)
            };
            let r = match r {
                Ok(r) if r.n > 0 => r,
                _ => break,
            };
            scatter(t, iovs, done, &b[..r.n])?;
            done += r.n as u64;
            if !r.control.rights.is_empty() {
                first.control.rights.extend(r.control.rights);
                break;
            }
        }
    }
    let ret = if !stream && flags & libc::MSG_TRUNC != 0 { first.full as u64 } else { done };
    Ok((ret, first))
}

/// Deliver `c` into a control buffer of `cap` bytes: credentials first,
/// then SCM_RIGHTS (installing as many fds as fit), then family cmsgs.
fn encode_control(t: &Thread, c: Control, cap: usize, cloexec: bool) -> cmsg::Writer {
    let mut w = cmsg::Writer::new(cap);
    if let Some(cr) = c.creds {
        w.put(libc::SOL_SOCKET, libc::SCM_CREDENTIALS, &cr.to_bytes());
    }
    if !c.rights.is_empty() {
        let max = w.max_fds();
        let count = c.rights.len();
        let mut fds: Vec<u8> = Vec::new();
        let mut n = 0;
        for f in c.rights.into_iter().take(max) {
            match install(t, f, cloexec) {
                Ok(fd) => {
                    fds.extend_from_slice(&fd.to_ne_bytes());
                    n += 1;
                }
                Err(_) => break,
            }
        }
        if n > 0 {
            w.put(libc::SOL_SOCKET, libc::SCM_RIGHTS, &fds);
        }
        if n < count {
            w.truncated = true;
        }
    }
    for m in c.other {
        w.put(m.level, m.ty, &m.data);
    }
    w
}

/// Turn the workload's cmsgs into a `Control` (__scm_send rules).
fn parse_control(t: &Thread, ctx: &SockCtx, raw: Vec<RawCmsg>) -> SysResult<Control> {
    let mut c = Control::default();
    for m in raw {
        if m.level != libc::SOL_SOCKET {
            c.other.push(m);
            continue;
        }
        match m.ty {
            libc::SCM_RIGHTS => {
                let files = t.task.files();
                for fd in m.data.chunks_exact(4) {
                    if c.rights.len() >= SCM_MAX_FD {
                        return Err(Errno::EINVAL);
                    }
                    let fd = i32::from_ne_bytes([fd[0], fd[1], fd[2], fd[3]]);
                    c.rights.push(files.get(fd)?);
                }
            }
            libc::SCM_CREDENTIALS => {
                if m.data.len() != 12 {
                    return Err(Errno::EINVAL);
                }
                let cr = super::Ucred::from_bytes(&m.data).ok_or(Errno::EINVAL)?;
                let k = &ctx.caller;
                let ok = k.privileged()
                    || (cr.pid == k.pid && [k.uid, k.euid, k.suid].contains(&cr.uid) && [k.gid, k.egid, k.sgid].contains(&cr.gid));
                if !ok {
                    return Err(Errno::EPERM);
                }
                c.creds = Some(cr);
            }
            _ => return Err(Errno::EINVAL),
        }
    }
    Ok(c)
}

fn socket(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let (domain, ty, proto) = (a.i32(0), a.i32(1), a.i32(2));
    let flags = ty & !0xf;
    if flags & !(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC) != 0 {
        return Err(Errno::EINVAL);
    }
    let fam = family(domain).ok_or(Errno::EAFNOSUPPORT)?;
    let ctx = ctx(t, false);
    let s = fam.socket(&ctx, ty & 0xf, proto)?;
    let f = SocketFile::file(s, ctx.caller, flags & libc::SOCK_NONBLOCK != 0);
    install(t, f, flags & libc::SOCK_CLOEXEC != 0).map(|fd| fd as u64)
}

fn socketpair(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let (domain, ty, proto, sv) = (a.i32(0), a.i32(1), a.i32(2), a.u64(3));
    let flags = ty & !0xf;
    if flags & !(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC) != 0 {
        return Err(Errno::EINVAL);
    }
    let fam = match family(domain) {
        Some(f) => f,
        None if domain == libc::AF_INET || domain == libc::AF_INET6 => return Err(Errno::EOPNOTSUPP),
        None => return Err(Errno::EAFNOSUPPORT),
    };
    let ctx = ctx(t, false);
    let (x, y) = fam.socketpair(&ctx, ty & 0xf, proto)?;
    let nb = flags & libc::SOCK_NONBLOCK != 0;
    let cloexec = flags & libc::SOCK_CLOEXEC != 0;
    let files = t.task.files();
    let fx = install(t, SocketFile::file(x, ctx.caller.clone(), nb), cloexec)?;
    let fy = match install(t, SocketFile::file(y, ctx.caller.clone(), nb), cloexec) {
        Ok(fd) => fd,
        Err(e) => {
            drop(files.close(fx));
            return Err(e);
        }
    };
    let mut b = [0u8; 8];
    b[..4].copy_from_slice(&fx.to_ne_bytes());
    b[4..].copy_from_slice(&fy.to_ne_bytes());
    if let Err(e) = t.mm.copy_out(sv, &b) {
        drop(files.close(fx));
        drop(files.close(fy));
        return Err(e);
    }
    Ok(0)
}

fn bind(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let f = sock_fd(t, a.i32(0))?;
    let addr = read_addr(t, a.u64(1), a.u64(2))?;
    let ctx = ctx(t, true);
    sockfile(&f)?.sock.bind(&ctx, &addr).map(|_| 0)
}

fn listen(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let f = sock_fd(t, a.i32(0))?;
    let ctx = ctx(t, false);
    sockfile(&f)?.sock.listen(&ctx, a.i32(1)).map(|_| 0)
}

fn do_accept(t: &mut Thread, fd: i32, addr: u64, lenp: u64, flags: i32) -> SysResult<u64> {
    if flags & !(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC) != 0 {
        return Err(Errno::EINVAL);
    }
    let f = sock_fd(t, fd)?;
    let sf = sockfile(&f)?;
    let sock = sf.sock.clone();
    let timeout = sf.common().rcvtimeo;
    let ctx = ctx(t, false);
    let ns = wait_loop(t, &sock, READ_MASK, f.is_nonblocking(), timeout, |_| sock.accept(&ctx))?;
    if addr != 0 {
        let name = ns.getpeername().unwrap_or_else(|_| (sock.family() as u16).to_ne_bytes().to_vec());
        write_addr(t, addr, lenp, &name)?;
    }
    let nf = SocketFile::file(ns, ctx.caller, flags & libc::SOCK_NONBLOCK != 0);
    install(t, nf, flags & libc::SOCK_CLOEXEC != 0).map(|fd| fd as u64)
}

fn accept(t: &mut Thread, a: &Args) -> SysResult<u64> {
    do_accept(t, a.i32(0), a.u64(1), a.u64(2), 0)
}

fn accept4(t: &mut Thread, a: &Args) -> SysResult<u64> {
    do_accept(t, a.i32(0), a.u64(1), a.u64(2), a.i32(3))
}

fn connect(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let f = sock_fd(t, a.i32(0))?;
    let addr = read_addr(t, a.u64(1), a.u64(2))?;
    let sf = sockfile(&f)?;
    let sock = sf.sock.clone();
    let timeout = sf.common().sndtimeo;
    let nonblock = f.is_nonblocking();
    let ctx = ctx(t, true);
    match wait_loop(t, &sock, events::WRITABLE, nonblock, timeout, |_| sock.connect(&ctx, &addr)) {
        Err(Errno::EINPROGRESS) if !nonblock => {
            wait_loop(t, &sock, events::WRITABLE, false, timeout, |_| sock.connect_result().unwrap_or(Err(Errno::EAGAIN))).map(|_| 0)
        }
        r => r.map(|_| 0),
    }
}

fn sendto(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let (fd, buf, len, flags, addr, alen) = (a.i32(0), a.u64(1), a.u64(2), a.i32(3), a.u64(4), a.u64(5));
    let f = sock_fd(t, fd)?;
    let to = if addr != 0 && alen as u32 != 0 { Some(read_addr(t, addr, alen)?) } else { None };
    let len = len.min(i32::MAX as u64);
    let iovs = if len > 0 { vec![IoVec { base: buf, len }] } else { vec![] };
    do_send(t, &f, &iovs, to, Control::default(), flags)
}

fn recvfrom(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let (fd, buf, len, flags, addr, lenp) = (a.i32(0), a.u64(1), a.u64(2), a.i32(3), a.u64(4), a.u64(5));
    let f = sock_fd(t, fd)?;
    let len = len.min(i32::MAX as u64);
    let iovs = if len > 0 { vec![IoVec { base: buf, len }] } else { vec![] };
    let (n, m) = do_recv(t, &f, &iovs, flags)?;
    if addr != 0 {
        write_addr(t, addr, lenp, m.from.as_deref().unwrap_or(&[]))?;
    }
    Ok(n)
}

/// struct msghdr (x86-64 layout, 56 bytes).
#[derive(Clone, Copy, Debug, Default)]
struct MsgHdr {
    name: u64,
    namelen: u32,
    iov: u64,
    iovlen: u64,
    control: u64,
    controllen: u64,
}

fn read_msghdr(t: &Thread, addr: u64) -> SysResult<MsgHdr> {
    let mut b = [0u8; 56];
    t.mm.copy_in(addr, &mut b)?;
    let q = |o: usize| {
        let mut x = [0u8; 8];
        x.copy_from_slice(&b[o..o + 8]);
        u64::from_ne_bytes(x)
    };
    Ok(MsgHdr { name: q(0), namelen: q(8) as u32, iov: q(16), iovlen: q(24), control: q(32), controllen: q(40) })
}

fn sendmsg_one(t: &mut Thread, f: &Arc<File>, mh: u64, flags: i32) -> SysResult<u64> {
    let m = read_msghdr(t, mh)?;
    if (m.namelen as i32) < 0 {
        return Err(Errno::EINVAL);
    }
    let to = if m.name != 0 && m.namelen != 0 { Some(read_addr(t, m.name, (m.namelen as usize).min(ADDR_MAX) as u64)?) } else { None };
    if m.controllen > i32::MAX as u64 {
        return Err(Errno::ENOBUFS);
    }
    let control = if m.controllen as usize >= cmsg::HDR && m.control != 0 {
        if m.controllen > OPTMEM_MAX {
            return Err(Errno::ENOBUFS);
        }
        let mut cb = vec![0u8; m.controllen as usize];
        t.mm.copy_in(m.control, &mut cb)?;
        let ctx = ctx(t, false);
        parse_control(t, &ctx, cmsg::parse(&cb)?)?
    } else {
        Control::default()
    };
    let iovs = read_iovs(t, m.iov, m.iovlen)?;
    do_send(t, f, &iovs, to, control, flags)
}

fn recvmsg_one(t: &mut Thread, f: &Arc<File>, mh: u64, flags: i32) -> SysResult<u64> {
    let m = read_msghdr(t, mh)?;
    if (m.namelen as i32) < 0 {
        return Err(Errno::EINVAL);
    }
    let iovs = read_iovs(t, m.iov, m.iovlen)?;
    let (n, r) = do_recv(t, f, &iovs, flags)?;
    // msg_namelen
    let namelen = match (&r.from, m.name) {
        (Some(from), name) if name != 0 => {
            let k = (m.namelen as usize).min(from.len());
            t.mm.copy_out(name, &from[..k])?;
            from.len() as u32
        }
        _ => 0,
    };
    let field = |off: u64| mh.checked_add(off).ok_or(Errno::EFAULT);
    t.mm.copy_out(field(8)?, &namelen.to_ne_bytes())?;
    let cap = if m.control == 0 { 0 } else { m.controllen.min(i32::MAX as u64) as usize };
    let w = encode_control(t, r.control, cap, flags & libc::MSG_CMSG_CLOEXEC != 0);
    if !w.buf.is_empty() {
        t.mm.copy_out(m.control, &w.buf)?;
    }
    t.mm.copy_out(field(40)?, &(w.buf.len() as u64).to_ne_bytes())?;
    let mflags = r.flags | if w.truncated { libc::MSG_CTRUNC } else { 0 };
    t.mm.copy_out(field(48)?, &mflags.to_ne_bytes())?;
    Ok(n)
}

fn sendmsg(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let f = sock_fd(t, a.i32(0))?;
    sendmsg_one(t, &f, a.u64(1), a.i32(2))
}

fn recvmsg(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let f = sock_fd(t, a.i32(0))?;
    recvmsg_one(t, &f, a.u64(1), a.i32(2))
}

/// sizeof(struct mmsghdr).
const MMSG: u64 = 64;

fn sendmmsg(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let (fd, vec, vlen, flags) = (a.i32(0), a.u64(1), a.u32(2).min(IOV_MAX as u32), a.i32(3));
    let f = sock_fd(t, fd)?;
    let mut done = 0u32;
    while done < vlen {
        let mh = vec.checked_add(done as u64 * MMSG).ok_or(Errno::EFAULT)?;
        match sendmsg_one(t, &f, mh, flags) {
            Ok(n) => {
                if let Err(e) = mh.checked_add(56).ok_or(Errno::EFAULT).and_then(|a| t.mm.copy_out(a, &(n as u32).to_ne_bytes())) {
                    return if done > 0 { Ok(done as u64) } else { Err(e) };
                }
                done += 1;
            }
            Err(e) => return if done > 0 { Ok(done as u64) } else { Err(e) },
        }
    }
    Ok(done as u64)
}

fn recvmmsg(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let (fd, vec, vlen, mut flags, tsp) = (a.i32(0), a.u64(1), a.u32(2).min(IOV_MAX as u32), a.i32(3), a.u64(4));
    let f = sock_fd(t, fd)?;
    let deadline = if tsp != 0 {
        let mut b = [0u8; 16];
        t.mm.copy_in(tsp, &mut b)?;
        let sec = i64::from_ne_bytes(b[..8].try_into().map_err(|_| Errno::EINVAL)?);
        let nsec = i64::from_ne_bytes(b[8..].try_into().map_err(|_| Errno::EINVAL)?);
        if sec < 0 || !(0..1_000_000_000).contains(&nsec) {
            return Err(Errno::EINVAL);
        }
        Instant::now().checked_add(Duration::new(sec as u64, nsec as u32))
    } else {
        None
    };
    let mut done = 0u32;
    while done < vlen {
        let mh = vec.checked_add(done as u64 * MMSG).ok_or(Errno::EFAULT)?;
        match recvmsg_one(t, &f, mh, flags) {
            Ok(n) => {
                if let Err(e) = mh.checked_add(56).ok_or(Errno::EFAULT).and_then(|a| t.mm.copy_out(a, &(n as u32).to_ne_bytes())) {
                    return if done > 0 { Ok(done as u64) } else { Err(e) };
                }
                done += 1;
            }
            Err(e) => return if done > 0 { Ok(done as u64) } else { Err(e) },
        }
        if flags & libc::MSG_WAITFORONE != 0 {
            flags |= libc::MSG_DONTWAIT;
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
    }
    Ok(done as u64)
}

fn shutdown(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let f = sock_fd(t, a.i32(0))?;
    sockfile(&f)?.sock.shutdown(a.i32(1)).map(|_| 0)
}

fn getsockname(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let f = sock_fd(t, a.i32(0))?;
    let name = sockfile(&f)?.sock.getsockname()?;
    if a.u64(1) == 0 {
        return Err(Errno::EFAULT);
    }
    write_addr(t, a.u64(1), a.u64(2), &name).map(|_| 0)
}

fn getpeername(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let f = sock_fd(t, a.i32(0))?;
    let name = sockfile(&f)?.sock.getpeername()?;
    if a.u64(1) == 0 {
        return Err(Errno::EFAULT);
    }
    write_addr(t, a.u64(1), a.u64(2), &name).map(|_| 0)
}

fn timeval(d: Option<Duration>) -> Vec<u8> {
    let d = d.unwrap_or(Duration::ZERO);
    let mut v = (d.as_secs() as i64).to_ne_bytes().to_vec();
    v.extend_from_slice(&(d.subsec_micros() as i64).to_ne_bytes());
    v
}

/// sock_set_timeout: EINVAL when short, EDOM for bad microseconds; zero
/// means "forever", a negative time "do not wait".
fn parse_timeval(b: &[u8]) -> SysResult<Option<Duration>> {
    if b.len() < 16 {
        return Err(Errno::EINVAL);
    }
    let sec = i64::from_ne_bytes(b[..8].try_into().map_err(|_| Errno::EINVAL)?);
    let usec = i64::from_ne_bytes(b[8..16].try_into().map_err(|_| Errno::EINVAL)?);
    if !(0..1_000_000).contains(&usec) {
        return Err(Errno::EDOM);
    }
    if sec < 0 {
        return Ok(Some(Duration::ZERO));
    }
    if sec == 0 && usec == 0 {
        return Ok(None);
    }
    Ok(Some(Duration::new(sec as u64, usec as u32 * 1000)))
}

fn getsockopt(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let (fd, level, name, optval, lenp) = (a.i32(0), a.i32(1), a.i32(2), a.u64(3), a.u64(4));
    let f = sock_fd(t, fd)?;
    let sf = sockfile(&f)?;
    let mut lb = [0u8; 4];
    t.mm.copy_in(lenp, &mut lb)?;
    let len = i32::from_ne_bytes(lb);
    if len < 0 {
        return Err(Errno::EINVAL);
    }
    let int = |v: i32| v.to_ne_bytes().to_vec();
    let val = match (level, name) {
        (libc::SOL_SOCKET, libc::SO_TYPE) => int(sf.sock.sock_type()),
        (libc::SOL_SOCKET, libc::SO_DOMAIN) => int(sf.sock.family()),
        (libc::SOL_SOCKET, libc::SO_PROTOCOL) => int(sf.sock.protocol()),
        (libc::SOL_SOCKET, libc::SO_RCVTIMEO | SO_RCVTIMEO_NEW) => timeval(sf.common().rcvtimeo),
        (libc::SOL_SOCKET, libc::SO_SNDTIMEO | SO_SNDTIMEO_NEW) => timeval(sf.common().sndtimeo),
        _ => {
            let ctx = ctx(t, false);
            sf.sock.getsockopt(&ctx, level, name)?
        }
    };
    let n = (len as usize).min(val.len());
    t.mm.copy_out(optval, &val[..n])?;
    t.mm.copy_out(lenp, &(n as i32).to_ne_bytes())?;
    Ok(0)
}

fn setsockopt(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let (fd, level, name, optval, optlen) = (a.i32(0), a.i32(1), a.i32(2), a.u64(3), a.i32(4));
    let f = sock_fd(t, fd)?;
    let sf = sockfile(&f)?;
    if optlen < 0 {
        return Err(Errno::EINVAL);
    }
    let mut val = vec![0u8; (optlen as usize).min(4096)];
    t.mm.copy_in(optval, &mut val)?;
    match (level, name) {
        (libc::SOL_SOCKET, libc::SO_RCVTIMEO | SO_RCVTIMEO_NEW) => {
            let d = parse_timeval(&val)?;
            sf.common.lock().unwrap_or_else(|e| e.into_inner()).rcvtimeo = d;
            Ok(0)
        }
        (libc::SOL_SOCKET, libc::SO_SNDTIMEO | SO_SNDTIMEO_NEW) => {
            let d = parse_timeval(&val)?;
            sf.common.lock().unwrap_or_else(|e| e.into_inner()).sndtimeo = d;
            Ok(0)
        }
        (libc::SOL_SOCKET, libc::SO_TYPE | libc::SO_DOMAIN | libc::SO_PROTOCOL) => Err(Errno::ENOPROTOOPT),
        _ => {
            let ctx = ctx(t, false);
            sf.sock.setsockopt(&ctx, level, name, &val).map(|_| 0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeval_rules() {
        let tv = |s: i64, u: i64| {
            let mut v = s.to_ne_bytes().to_vec();
            v.extend_from_slice(&u.to_ne_bytes());
            v
        };
        assert_eq!(parse_timeval(&tv(0, 0)), Ok(None));
        assert_eq!(parse_timeval(&tv(1, 500_000)), Ok(Some(Duration::from_millis(1500))));
        assert_eq!(parse_timeval(&tv(1, 1_000_000)), Err(Errno::EDOM));
        assert_eq!(parse_timeval(&tv(-1, 0)), Ok(Some(Duration::ZERO)));
        assert_eq!(parse_timeval(&[0; 8]), Err(Errno::EINVAL));
        assert_eq!(timeval(Some(Duration::from_millis(2250))), tv(2, 250_000));
    }
}
