//! Pipes (pipe2) and fifos: a bounded byte buffer shared by read and
//! write ends.
//!
//! Non-blocking by construction: an empty read or a full write returns
//! EAGAIN and the Sentry waits on the pipe's queue. A blocking `write`
//! larger than the free space writes what fits (never splitting a write
//! of at most PIPE_BUF bytes): the Sentry keeps calling with the rest
//! until everything is written, as Linux does inside pipe_write. EPIPE
//! means the Sentry should raise SIGPIPE.

use std::any::Any;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use abi::{Errno, Stat, SysResult};

use crate::file::{File, FileOps, UserMemory};
use crate::types::Owner;
use crate::waiter::{events, WaitQueue, Waker};

/// Writes of at most this many bytes are atomic.
pub const PIPE_BUF: usize = 4096;
/// Default capacity (16 pages).
pub const DEFAULT_CAPACITY: usize = 65536;
/// /proc/sys/fs/pipe-max-size default: the most an unprivileged
/// F_SETPIPE_SZ may ask for.
pub const MAX_CAPACITY: usize = 1 << 20;

struct State {
    buf: VecDeque<u8>,
    /// Boundaries in `buf`: (length, is a packet). Writes through an
    /// O_DIRECT end are packets (a read returns at most one, and drops
    /// what does not fit); other writes are byte runs.
    segs: VecDeque<(usize, bool)>,
    capacity: usize,
    readers: usize,
    writers: usize,
    /// Bumped on each reader/writer open (fifo open rendezvous).
    reader_gen: u64,
    writer_gen: u64,
}

/// The shared pipe object (one per pipe2 call or per fifo inode).
pub struct Pipe {
    state: Mutex<State>,
    queue: WaitQueue,
    ino: u64,
    dev: u64,
    owner: Owner,
}

fn pipefs_dev() -> u64 {
    static DEV: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *DEV.get_or_init(crate::types::anon_dev)
}

impl Pipe {
    /// A new pipe; `ino`/`dev` are the fifo inode's, or None for pipe2.
    pub fn new(ino_dev: Option<(u64, u64)>, owner: Owner) -> Arc<Pipe> {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let (ino, dev) = ino_dev.unwrap_or_else(|| (NEXT.fetch_add(1, Ordering::Relaxed), pipefs_dev()));
        Arc::new(Pipe {
            state: Mutex::new(State { buf: VecDeque::new(), segs: VecDeque::new(), capacity: DEFAULT_CAPACITY, readers: 0, writers: 0, reader_gen: 0, writer_gen: 0 }),
            queue: WaitQueue::new(),
            ino,
            dev,
            owner,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn end(self: &Arc<Self>, read: bool, write: bool) -> Arc<PipeEnd> {
        let open_gen;
        let ready_at_open;
        {
            let mut s = self.lock();
            if read {
                s.readers += 1;
                s.reader_gen += 1;
            }
            if write {
                s.writers += 1;
                s.writer_gen += 1;
            }
            open_gen = if read { s.writer_gen } else { s.reader_gen };
            // A peer present at open time satisfies the open even if it
            // leaves before we look again (Linux decides at open time).
            ready_at_open = (read && s.writers > 0) || (write && s.readers > 0);
        }
        self.queue.notify(events::READABLE | events::WRITABLE);
        Arc::new(PipeEnd { pipe: self.clone(), read, write, open_gen, packet: false, ready_at_open })
    }

    /// Copy up to `buf.len()` buffered bytes without consuming them (tee),
    /// stopping at a packet boundary.
    pub fn peek(&self, buf: &mut [u8]) -> usize {
        let s = self.lock();
        let first = s.segs.front().map(|(len, _)| *len).unwrap_or(0);
        let n = buf.len().min(s.buf.len()).min(first.max(1));
        for (i, b) in s.buf.iter().take(n).enumerate() {
            buf[i] = *b;
        }
        n
    }

    /// Free space (tee writes at most this much at once).
    pub fn space(&self) -> usize {
        let s = self.lock();
        s.capacity.saturating_sub(s.buf.len())
    }

    /// Whether any writer is open (a peek of nothing is then EOF).
    pub fn has_writers(&self) -> bool {
        self.lock().writers > 0
    }

    /// Whether any reader is open.
    pub fn has_readers(&self) -> bool {
        self.lock().readers > 0
    }

    /// Open a fifo end. O_WRONLY|O_NONBLOCK without readers is ENXIO.
    /// Without O_NONBLOCK the Sentry must wait until `File::open_ready`.
    pub fn open_fifo(self: &Arc<Self>, flags: i32) -> SysResult<Arc<PipeEnd>> {
        match flags & libc::O_ACCMODE {
            libc::O_RDONLY => Ok(self.end(true, false)),
            libc::O_WRONLY => {
                if flags & libc::O_NONBLOCK != 0 && self.lock().readers == 0 {
                    return Err(Errno::ENXIO);
                }
                Ok(self.end(false, true))
            }
            libc::O_RDWR => Ok(self.end(true, true)),
            _ => Err(Errno::EINVAL),
        }
    }

    fn stat(&self) -> Stat {
        Stat {
            dev: self.dev,
            ino: self.ino,
            nlink: 1,
            mode: libc::S_IFIFO | 0o600,
            uid: self.owner.uid,
            gid: self.owner.gid,
            blksize: PIPE_BUF as i64,
            ..Default::default()
        }
    }

    /// Bytes buffered (FIONREAD).
    pub fn len(&self) -> usize {
        self.lock().buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// F_GETPIPE_SZ.
    pub fn capacity(&self) -> usize {
        self.lock().capacity
    }

    /// F_SETPIPE_SZ: rounds up to a power-of-two number of pages; EPERM
    /// above MAX_CAPACITY unless privileged; EBUSY if the data would not
    /// fit. Returns the new capacity.
    pub fn set_capacity(&self, size: u64, privileged: bool) -> SysResult<usize> {
        let want = size.max(PIPE_BUF as u64);
        let pages = want.div_ceil(PIPE_BUF as u64).checked_next_power_of_two().ok_or(Errno::EINVAL)?;
        let bytes = pages.checked_mul(PIPE_BUF as u64).ok_or(Errno::EINVAL)?;
        if bytes > i32::MAX as u64 {
            return Err(Errno::EINVAL);
        }
        if bytes as usize > MAX_CAPACITY && !privileged {
            return Err(Errno::EPERM);
        }
        let mut s = self.lock();
        if s.buf.len() > bytes as usize {
            return Err(Errno::EBUSY);
        }
        s.capacity = bytes as usize;
        drop(s);
        self.queue.notify(events::WRITABLE);
        Ok(bytes as usize)
    }
}

/// One open end of a pipe (a FileOps).
pub struct PipeEnd {
    pipe: Arc<Pipe>,
    read: bool,
    write: bool,
    open_gen: u64,
    /// Writes are packets (pipe2 with O_DIRECT).
    packet: bool,
    /// The other side was open when this end was opened (fifo rendezvous).
    ready_at_open: bool,
}

impl PipeEnd {
    pub fn pipe(&self) -> &Arc<Pipe> {
        &self.pipe
    }
}

impl Drop for PipeEnd {
    fn drop(&mut self) {
        {
            let mut s = self.pipe.lock();
            if self.read {
                s.readers -= 1;
            }
            if self.write {
                s.writers -= 1;
            }
        }
        self.pipe.queue.notify(events::READABLE | events::WRITABLE | events::POLLHUP | events::POLLERR);
    }
}

/// pipe2(2): (read end, write end). `flags` may hold O_NONBLOCK and
/// O_DIRECT (packet mode: each write of up to PIPE_BUF bytes is a packet);
/// O_CLOEXEC is the caller's. EINVAL for other bits.
pub fn pipe2(flags: i32, owner: Owner) -> SysResult<(Arc<File>, Arc<File>)> {
    if flags & !(libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_DIRECT) != 0 {
        return Err(Errno::EINVAL);
    }
    let p = Pipe::new(None, owner);
    let status = flags & (libc::O_NONBLOCK | libc::O_DIRECT);
    let r = File::new(p.end(true, false), libc::O_RDONLY | status, None);
    let mut we = Arc::into_inner(p.end(false, true)).ok_or(Errno::EIO)?;
    we.packet = flags & libc::O_DIRECT != 0;
    let w = File::new(Arc::new(we), libc::O_WRONLY | status, None);
    Ok((r, w))
}

impl FileOps for PipeEnd {
    fn read(&self, buf: &mut [u8], _off: u64) -> SysResult<usize> {
        if !self.read {
            return Err(Errno::EBADF);
        }
        if buf.is_empty() {
            return Ok(0);
        }
        let mut s = self.pipe.lock();
        if s.buf.is_empty() {
            return if s.writers == 0 { Ok(0) } else { Err(Errno::EAGAIN) };
        }
        // Read byte runs up to the next packet; a packet alone, with
        // what does not fit discarded.
        let mut n = 0;
        while n < buf.len() {
            let Some(&(len, packet)) = s.segs.front() else { break };
            if packet {
                if n > 0 {
                    break;
                }
                let take = len.min(buf.len());
                for (i, b) in s.buf.drain(..len).enumerate() {
                    if i < take {
                        buf[i] = b;
                    }
                }
                s.segs.pop_front();
                n = take;
                break;
            }
            let take = len.min(buf.len() - n);
            for (i, b) in s.buf.drain(..take).enumerate() {
                buf[n + i] = b;
            }
            n += take;
            if take == len {
                s.segs.pop_front();
            } else if let Some(f) = s.segs.front_mut() {
                f.0 -= take;
            }
        }
        drop(s);
        self.pipe.queue.notify(events::WRITABLE);
        Ok(n)
    }

    fn write(&self, buf: &[u8], _off: u64, _append: bool) -> SysResult<(usize, u64)> {
        if !self.write {
            return Err(Errno::EBADF);
        }
        let mut s = self.pipe.lock();
        if s.readers == 0 {
            return Err(Errno::EPIPE);
        }
        if buf.is_empty() {
            return Ok((0, 0));
        }
        let space = s.capacity.saturating_sub(s.buf.len());
        let n = if buf.len() <= PIPE_BUF {
            if space < buf.len() {
                return Err(Errno::EAGAIN);
            }
            buf.len()
        } else {
            if space == 0 {
                return Err(Errno::EAGAIN);
            }
            space.min(buf.len())
        };
        s.buf.extend(&buf[..n]);
        if self.packet {
            // Packets of at most PIPE_BUF bytes each.
            for chunk in buf[..n].chunks(PIPE_BUF) {
                s.segs.push_back((chunk.len(), true));
            }
        } else {
            match s.segs.back_mut() {
                Some((len, false)) => *len += n,
                _ => s.segs.push_back((n, false)),
            }
        }
        drop(s);
        self.pipe.queue.notify(events::READABLE);
        Ok((n, 0))
    }

    fn is_stream(&self) -> bool {
        true
    }

    fn seek(&self, _cur: i64, _off: i64, _whence: i32) -> SysResult<i64> {
        Err(Errno::ESPIPE)
    }

    fn stat(&self) -> SysResult<Stat> {
        Ok(self.pipe.stat())
    }

    fn ioctl(&self, cmd: u32, arg: u64, mem: &dyn UserMemory) -> SysResult<u64> {
        match cmd as u64 {
            libc::FIONREAD => {
                let n = self.pipe.len().min(i32::MAX as usize) as i32;
                mem.write(arg, &n.to_ne_bytes())?;
                Ok(0)
            }
            libc::FIONBIO => Ok(0),
            _ => Err(Errno::ENOTTY),
        }
    }

    fn readiness(&self, mask: u32) -> u32 {
        let s = self.pipe.lock();
        let mut r = 0;
        if self.read {
            if !s.buf.is_empty() {
                r |= events::READABLE;
            }
            if s.writers == 0 && s.writer_gen > 0 {
                r |= events::POLLHUP;
            }
        }
        if self.write {
            if s.capacity.saturating_sub(s.buf.len()) >= PIPE_BUF.min(s.capacity) {
                r |= events::WRITABLE;
            }
            if s.readers == 0 {
                r |= events::POLLERR;
            }
        }
        r & (mask | events::POLLHUP | events::POLLERR)
    }

    fn event_register(&self, w: &Arc<dyn Waker>, mask: u32) {
        self.pipe.queue.register(w, mask);
    }

    fn event_unregister(&self, w: &Arc<dyn Waker>) {
        self.pipe.queue.unregister(w);
    }

    fn proc_name(&self) -> Option<String> {
        Some(format!("pipe:[{}]", self.pipe.ino))
    }

    fn open_ready(&self) -> bool {
        let s = self.pipe.lock();
        if self.ready_at_open {
            return true;
        }
        match (self.read, self.write) {
            (true, false) => s.writers > 0 || s.writer_gen != self.open_gen,
            (false, true) => s.readers > 0 || s.reader_gen != self.open_gen,
            _ => true,
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::waiter::{WaitResult, Waiter};
    use std::time::Duration;

    fn pair() -> (Arc<File>, Arc<File>) {
        pipe2(0, Owner { uid: 0, gid: 0 }).unwrap()
    }

    #[test]
    fn read_write_eof_epipe() {
        let (r, w) = pair();
        let mut b = [0u8; 8];
        assert_eq!(r.read(&mut b), Err(Errno::EAGAIN));
        assert_eq!(w.write(b"hello"), Ok(5));
        assert_eq!(r.read(&mut b[..3]), Ok(3));
        assert_eq!(&b[..3], b"hel");
        assert_eq!(r.read(&mut b), Ok(2));
        assert_eq!(r.write(b"x"), Err(Errno::EBADF));
        assert_eq!(w.seek(0, libc::SEEK_SET), Err(Errno::ESPIPE));
        assert_eq!(r.pread(&mut b, 0), Err(Errno::ESPIPE));
        drop(w);
        assert_eq!(r.read(&mut b), Ok(0));
        let (r, w) = pair();
        drop(r);
        assert_eq!(w.write(b"x"), Err(Errno::EPIPE));
        assert_ne!(w.readiness(events::POLLOUT) & events::POLLERR, 0);
    }

    #[test]
    fn packet_mode_keeps_boundaries_and_peek_does_not_consume() {
        let (r, w) = pipe2(libc::O_DIRECT, Owner { uid: 0, gid: 0 }).unwrap();
        w.write(b"abc").unwrap();
        w.write(b"defgh").unwrap();
        let mut b = [0u8; 16];
        let p = r.ops().as_any().downcast_ref::<PipeEnd>().unwrap().pipe().clone();
        assert_eq!(p.peek(&mut b), 3);
        assert_eq!(&b[..3], b"abc");
        assert_eq!(r.read(&mut b), Ok(3));
        assert_eq!(&b[..3], b"abc");
        // A short read takes one packet and drops its rest.
        assert_eq!(r.read(&mut b[..2]), Ok(2));
        assert_eq!(&b[..2], b"de");
        assert_eq!(r.read(&mut b), Err(Errno::EAGAIN));
        // Byte pipes merge writes.
        let (r, w) = pipe2(0, Owner { uid: 0, gid: 0 }).unwrap();
        w.write(b"ab").unwrap();
        w.write(b"cd").unwrap();
        assert_eq!(r.read(&mut b[..3]), Ok(3));
        assert_eq!(r.read(&mut b), Ok(1));
    }

    /// Regression (kvm, fifo_open_semantics): a writer blocked in open is
    /// woken by a reader's open, writes and closes before the reader looks
    /// again; the reader's open must still complete.
    #[test]
    fn fifo_reader_open_completes_after_the_writer_left() {
        let p = Pipe::new(Some((1, 1)), Owner { uid: 0, gid: 0 });
        let w = p.open_fifo(libc::O_WRONLY).unwrap();
        assert!(!w.open_ready(), "no reader yet");
        let r = p.open_fifo(libc::O_RDONLY).unwrap();
        assert!(w.open_ready());
        drop(w);
        assert!(r.open_ready(), "the writer was there when the reader opened");
    }

    #[test]
    fn capacity_and_atomicity() {
        let (r, w) = pair();
        let big = vec![7u8; DEFAULT_CAPACITY + 10];
        assert_eq!(w.write(&big), Ok(DEFAULT_CAPACITY));
        assert_eq!(w.write(b"x"), Err(Errno::EAGAIN));
        assert_eq!(w.readiness(events::POLLOUT), 0);
        let mut b = vec![0u8; 100];
        assert_eq!(r.read(&mut b), Ok(100));
        // 100 bytes free: a 200-byte write (<= PIPE_BUF) must not split.
        assert_eq!(w.write(&[1u8; 200]), Err(Errno::EAGAIN));
        assert_eq!(w.write(&[1u8; 100]), Ok(100));
        let p = w.ops().as_any().downcast_ref::<PipeEnd>().unwrap().pipe().clone();
        assert_eq!(p.set_capacity(4096, false), Err(Errno::EBUSY));
        assert_eq!(p.set_capacity(MAX_CAPACITY as u64 * 2, false), Err(Errno::EPERM));
        assert_eq!(p.set_capacity(100_000, false), Ok(131072));
        assert_eq!(p.capacity(), 131072);
    }

    #[test]
    fn waiter_woken_by_write_and_hup() {
        let (r, w) = pair();
        let waiter = Waiter::new().unwrap();
        r.ops().event_register(&waiter.as_waker(), events::POLLIN);
        assert_eq!(r.readiness(events::POLLIN), 0);
        let t = std::thread::spawn(move || {
            w.write(b"z").unwrap();
        });
        assert!(matches!(waiter.wait(&[], None).unwrap(), WaitResult::Ready { .. }));
        t.join().unwrap();
        assert_eq!(r.readiness(events::POLLIN), events::POLLIN & events::READABLE | events::POLLHUP);
        // The writer's close may have notified after the first wake.
        let _ = waiter.wait(&[], Some(Duration::ZERO)).unwrap();
        r.ops().event_unregister(&waiter.as_waker());
        assert_eq!(waiter.wait(&[], Some(Duration::ZERO)).unwrap(), WaitResult::TimedOut);
    }

    #[test]
    fn fifo_open_rendezvous() {
        let p = Pipe::new(Some((5, 6)), Owner { uid: 1, gid: 1 });
        assert_eq!(p.open_fifo(libc::O_WRONLY | libc::O_NONBLOCK).err(), Some(Errno::ENXIO));
        let r = p.open_fifo(libc::O_RDONLY).unwrap();
        assert!(!r.open_ready());
        // Non-blocking reader open succeeds; a blocked reader counts.
        let w = p.open_fifo(libc::O_WRONLY | libc::O_NONBLOCK).unwrap();
        assert!(r.open_ready());
        assert!(w.open_ready());
        drop(w);
        // The writer came and went: the reader's open is complete.
        assert!(r.open_ready());
        assert_eq!(r.stat().unwrap().ino, 5);
        assert_eq!(r.proc_name().unwrap(), "pipe:[5]");
    }
}
