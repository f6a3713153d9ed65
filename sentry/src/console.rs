//! A host terminal given to the workload through an in-sandbox pty (the
//! OCI `process.terminal` case: docker run -t).
//!
//! The workload gets the slave of a devpts pair, so `tty` names
//! /dev/pts/N and the line discipline, job control and echo are the
//! Sentry's; the host terminal is put in raw mode and two threads copy
//! bytes between it and the master. The window size is copied at start
//! and again on each SIGWINCH the sandbox process gets (`sync_winsize`).

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::{Arc, Mutex};

use abi::{Errno, SysResult};
use fs::devpts::DevPts;
use fs::file::{File, FileOps, UserMemory};
use fs::waiter::{events, Waiter};
use tracing::debug;

use crate::kernel::Kernel;

/// A few bytes of Sentry memory at address 0, for driving ioctls.
struct LocalMem(Mutex<[u8; 64]>);

impl UserMemory for LocalMem {
    fn read(&self, addr: u64, buf: &mut [u8]) -> SysResult<()> {
        let m = self.0.lock().unwrap();
        let a = addr as usize;
        let src = m.get(a..a + buf.len()).ok_or(Errno::EFAULT)?;
        buf.copy_from_slice(src);
        Ok(())
    }
    fn write(&self, addr: u64, buf: &[u8]) -> SysResult<()> {
        let mut m = self.0.lock().unwrap();
        let a = addr as usize;
        m.get_mut(a..a + buf.len()).ok_or(Errno::EFAULT)?.copy_from_slice(buf);
        Ok(())
    }
}

fn ioctl_with(ops: &dyn FileOps, cmd: u64, data: &[u8]) -> SysResult<u64> {
    let mem = LocalMem(Mutex::new([0; 64]));
    mem.write(0, data)?;
    ops.ioctl(cmd as u32, 0, &mem)
}

/// Block (on a private waiter) until `ops` is ready for `mask`.
fn wait_ready(ops: &dyn FileOps, waiter: &Arc<Waiter>, mask: u32) {
    let waker = waiter.as_waker();
    ops.event_register(&waker, mask);
    if ops.readiness(mask) == 0 {
        let _ = waiter.wait(&[], None);
    }
    ops.event_unregister(&waker);
}

/// Put the host terminal in raw mode: the in-sandbox pty does the line
/// discipline.
fn make_raw(fd: &OwnedFd) {
    // SAFETY: tcgetattr/tcsetattr on an fd we own, with a local termios.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(fd.as_raw_fd(), &mut t) == 0 {
            libc::cfmakeraw(&mut t);
            libc::tcsetattr(fd.as_raw_fd(), libc::TCSANOW, &t);
        }
    }
}

fn host_winsize(fd: &OwnedFd) -> Option<[u8; 8]> {
    let mut ws = [0u8; 8];
    // SAFETY: TIOCGWINSZ writes a struct winsize (8 bytes) into `ws`.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, ws.as_mut_ptr()) };
    (r == 0).then_some(ws)
}

/// The bridged console of this sandbox (one per sandbox process).
static ACTIVE: Mutex<Option<(Arc<OwnedFd>, Arc<fs::devpts::PtyMaster>)>> = Mutex::new(None);

/// The host terminal's size changed (SIGWINCH): copy it to the sandbox's
/// pty, which signals its foreground group. False if there is no bridged
/// console (the caller then forwards SIGWINCH itself).
pub fn sync_winsize() -> bool {
    let g = ACTIVE.lock().unwrap_or_else(|e| e.into_inner());
    let Some((host, master)) = g.as_ref() else { return false };
    if let Some(ws) = host_winsize(host) {
        let _ = ioctl_with(master.as_ref(), libc::TIOCSWINSZ, &ws);
    }
    true
}

/// Make the pty pair for host terminal `host` and start the copiers.
/// Returns the slave, opened read-write, for the workload's stdio; the
/// first session (sid 1, pgid 1) owns it.
pub fn bridge(k: &Arc<Kernel>, host: OwnedFd) -> SysResult<(Arc<File>, Arc<fs::devpts::Pty>)> {
    let vfs = &k.vfs;
    let ctx = vfs.root_context(fs::creds::Creds::root(), 0);
    let loc = vfs.lookup(&ctx, None, b"/dev/pts", 0)?;
    let pts = DevPts::from_inode(loc.inode()).ok_or(Errno::ENODEV)?;
    let master = fs::devpts::open_master(&pts, &ctx)?;
    ioctl_with(master.as_ref(), libc::TIOCSPTLCK, &0i32.to_le_bytes())?;
    if let Some(ws) = host_winsize(&host) {
        let _ = ioctl_with(master.as_ref(), libc::TIOCSWINSZ, &ws);
    }
    make_raw(&host);
    let pty = master.pty().clone();
    let slave_ops = pty.open_slave(libc::O_RDWR | libc::O_NOCTTY)?;
    let path = format!("/dev/pts/{}", pty.index());
    let slave_loc = vfs.lookup(&ctx, None, path.as_bytes(), 0).ok();
    let slave = File::new(slave_ops, libc::O_RDWR, slave_loc);
    pty.jobs().set_controlling(1, 1);

    let host = Arc::new(host);
    *ACTIVE.lock().unwrap_or_else(|e| e.into_inner()) = Some((host.clone(), master.clone()));
    // Host -> master: the user's keystrokes.
    {
        let (m, h) = (master.clone(), host.clone());
        std::thread::Builder::new()
            .name("console-in".into())
            .spawn(move || {
                let waiter = match Waiter::new() {
                    Ok(w) => w,
                    Err(_) => return,
                };
                let mut buf = [0u8; 4096];
                loop {
                    // SAFETY: read into our buffer from the host terminal fd.
                    let n = unsafe { libc::read(h.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
                    if n <= 0 {
                        break;
                    }
                    let mut data = &buf[..n as usize];
                    while !data.is_empty() {
                        match m.write(data, 0, false) {
                            Ok((w, _)) => data = &data[w..],
                            Err(Errno::EAGAIN) => wait_ready(m.as_ref(), &waiter, events::WRITABLE),
                            Err(_) => return,
                        }
                    }
                }
                debug!("console input ended");
            })
            .map_err(|_| Errno::EAGAIN)?;
    }
    // Master -> host: the workload's output.
    {
        let (m, h) = (master, host);
        std::thread::Builder::new()
            .name("console-out".into())
            .spawn(move || {
                let waiter = match Waiter::new() {
                    Ok(w) => w,
                    Err(_) => return,
                };
                let mut buf = [0u8; 4096];
                loop {
                    match m.read(&mut buf, 0) {
                        Ok(0) => break,
                        Ok(n) => {
                            let mut off = 0;
                            while off < n {
                                // SAFETY: write from our buffer to the host terminal fd.
                                let w = unsafe { libc::write(h.as_raw_fd(), buf[off..n].as_ptr().cast(), n - off) };
                                if w <= 0 {
                                    return;
                                }
                                off += w as usize;
                            }
                        }
                        Err(Errno::EAGAIN) => wait_ready(m.as_ref(), &waiter, events::READABLE),
                        Err(_) => break,
                    }
                }
                debug!("console output ended");
            })
            .map_err(|_| Errno::EAGAIN)?;
    }
    Ok((slave, pty))
}

/// /dev/tty for a workload on an in-sandbox pty: the pty's slave.
pub(crate) struct PtyTty(pub(crate) Arc<fs::devpts::Pty>);

impl fs::device::CharDevice for PtyTty {
    fn open(&self, _ctx: &fs::vfs::Context, flags: i32) -> SysResult<Arc<dyn FileOps>> {
        Ok(self.0.open_slave(flags | libc::O_NOCTTY)?)
    }
}
