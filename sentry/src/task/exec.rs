//! execve / execveat.

use std::sync::Arc;

use abi::{Errno, SysResult};
use fs::file::File;
use fs::mount::Location;

use crate::loader::{self, elf, AuxIds};
use crate::mm::MemoryManager;
use crate::mmfile::FileMapping;
use crate::signal::{self, AltStack, SigAction};
use crate::task::run::{initial_regs, Thread};

/// Maximum interpreter nesting for `#!` scripts.
const MAX_SHEBANG_DEPTH: usize = 4;
/// Total size of argv + envp (ARG_MAX-like).
pub const MAX_ARG_BYTES: usize = 2 << 20;

/// Open `path` for execution: a regular file with an execute bit that the
/// caller may execute.
fn open_exec(t: &Thread, dir: Option<&Location>, path: &[u8], at_flags: i32) -> SysResult<(Arc<File>, Location)> {
    let k = &t.task.k;
    let ctx = t.task.vfs_ctx();
    let loc = k.vfs.lookup(&ctx, dir, path, at_flags)?;
    let st = loc.inode().stat()?;
    if st.mode & libc::S_IFMT != libc::S_IFREG {
        return Err(Errno::EACCES);
    }
    if st.mode & 0o111 == 0 {
        return Err(Errno::EACCES);
    }
    ctx.creds.check(&st, fs::creds::MAY_EXEC)?;
    if loc.mount.flags().noexec {
        return Err(Errno::EACCES);
    }
    let file = k.vfs.open(&ctx, dir, path, libc::O_RDONLY | (if at_flags & libc::AT_SYMLINK_NOFOLLOW != 0 { libc::O_NOFOLLOW } else { 0 }), 0)?;
    Ok((file, loc))
}

/// Replace the calling process image. On success the registers are set for
/// the new program and `t.regs_replaced` is set.
#[allow(clippy::too_many_arguments)]
pub fn do_execve(
    t: &mut Thread,
    dir: Option<Location>,
    fd_file: Option<Arc<File>>,
    path: Vec<u8>,
    argv: Vec<Vec<u8>>,
    envp: Vec<Vec<u8>>,
    at_flags: i32,
) -> SysResult<u64> {
    let mut fd_file = fd_file;
    let k = t.task.k.clone();
    let mut argv = argv;
    let mut path = path;
    let mut dir = dir;
    let mut flags = at_flags;
    let execfn = path.clone();
    // The new comm: the last component of the path as given (a symlink's
    // own name, a script's name, not what they lead to); for execveat on an
    // fd with an empty path, the file's name.
    let mut comm: Option<Vec<u8>> =
        (!execfn.is_empty()).then(|| execfn.rsplit(|&c| c == b'/').next().unwrap_or(&execfn).to_vec());
    let (file, loc) = 'resolve: {
        for _ in 0..=MAX_SHEBANG_DEPTH {
            let (file, loc) = match fd_file.take() {
                // execveat(fd, "", AT_EMPTY_PATH): the open file itself.
                Some(f) => {
                    let loc = f.location().cloned().ok_or(Errno::EACCES)?;
                    let st = f.stat()?;
                    if st.mode & libc::S_IFMT != libc::S_IFREG || st.mode & 0o111 == 0 {
                        return Err(Errno::EACCES);
                    }
                    if !f.readable() {
                        // An O_PATH descriptor: reopen what it names.
                        let ctx = t.task.vfs_ctx();
                        ctx.creds.check(&st, fs::creds::MAY_EXEC)?;
                        (k.vfs.open_location(&ctx, loc.clone(), libc::O_RDONLY)?, loc)
                    } else {
                        (f, loc)
                    }
                }
                None => open_exec(t, dir.as_ref(), &path, flags)?,
            };
            if comm.is_none() {
                comm = Some(loc.dentry.name());
            }
            let mut head = [0u8; 256];
            let n = file.pread(&mut head, 0)?;
            let head = &head[..n];
            if elf::is_elf(head) {
                break 'resolve (file, loc);
            }
            if head.starts_with(b"#!") {
                let (interp, arg) = loader::parse_shebang(head)?;
                let mut new_argv = vec![interp.clone()];
                new_argv.extend(arg);
                new_argv.push(path.clone());
                new_argv.extend(argv.into_iter().skip(1));
                argv = new_argv;
                path = interp;
                dir = None;
                flags = 0;
                continue;
            }
            return Err(Errno::ENOEXEC);
        }
        return Err(Errno::ELOOP);
    };
    let ctx = t.task.vfs_ctx();
    let exe_path = String::from_utf8_lossy(&k.vfs.path_from(&ctx.root, &loc).0).into_owned();
    let mapping = FileMapping::new(file, exe_path)?;
    let (lo, hi) = k.platform.user_range();
    let mm = Arc::new(MemoryManager::new(k.pages.clone(), lo, hi));
    let creds = t.task.tg.creds();
    let ids = AuxIds { uid: creds.uid, euid: creds.euid, gid: creds.gid, egid: creds.egid };
    let mut random = [0u8; 16];
    getrandom(&mut random);
    let open_interp = |p: &[u8]| -> SysResult<Arc<dyn crate::mm::MappedFile>> {
        let (f, l) = open_exec(t, None, p, 0)?;
        let path = String::from_utf8_lossy(&k.vfs.path_from(&ctx.root, &l).0).into_owned();
        FileMapping::new(f, path)
    };
    let loaded = loader::load_elf(&mm, mapping, &argv, &envp, &execfn, ids, random, &open_interp)?;

    // Point of no return. Other threads of the process end first
    // (de_thread); the new image runs alone.
    kill_other_threads(t);
    take_over_leader_tid(t);
    t.replace_mm(mm);
    t.task.tg.posix_timers.clear();
    {
        let c = t.task.tg.creds();
        let bnd = t.task.tg.capbset.load(std::sync::atomic::Ordering::SeqCst);
        t.task.tg.caps.lock().unwrap().on_exec(c.euid, c.uid, bnd);
    }
    let task = t.task.clone();
    for f in task.files().exec() {
        drop(f);
    }
    {
        let mut acts = task.tg.actions.lock().unwrap();
        for a in acts.iter_mut() {
            if a.handler != signal::SIG_IGN {
                *a = SigAction::default();
            } else {
                a.flags = 0;
                a.mask = 0;
            }
        }
    }
    {
        let mut s = task.sig();
        s.altstack = AltStack::default();
        s.saved_mask = None;
    }
    let mut comm = comm.unwrap_or_default();
    comm.truncate(15);
    *task.comm.lock().unwrap() = comm;
    *task.tg.exe.lock().unwrap() = Some(loc);
    if let Some(v) = task.vfork_done.lock().unwrap().take() {
        v.release();
    }
    t.regs = initial_regs(loaded.entry, loaded.sp);
    t.regs_replaced = true;
    t.in_syscall = false;
    Ok(0)
}

/// Make every other thread of the caller's group exit, and wait until
/// they have. Exits of the group (SIGKILL) still win.
fn kill_other_threads(t: &mut Thread) {
    let me = t.task.tid();
    let others = |t: &Thread| -> Vec<Arc<crate::task::Task>> {
        let p = t.task.k.procs();
        p.st(t.task.tg.tgid)
            .map(|s| s.threads.iter().filter(|x| **x != me).filter_map(|x| p.tasks.get(x).cloned()).collect())
            .unwrap_or_default()
    };
    let list = others(t);
    if list.is_empty() {
        return;
    }
    for o in &list {
        o.killed_by_exec.store(true, std::sync::atomic::Ordering::SeqCst);
        o.interrupt();
    }
    let tg = t.task.tg.clone();
    // Exiting threads notify the group's child_events queue via the kernel;
    // re-check on each wakeup and on a short bounded poll as a fallback.
    loop {
        if others(t).is_empty() || crate::task::exit::group_exiting(&t.task).is_some() {
            return;
        }
        let _ = t.wait_event::<()>(&[&tg.child_events], u32::MAX, &[], Some(std::time::Instant::now() + std::time::Duration::from_millis(5)), |t| {
            others(t).is_empty().then_some(Ok(()))
        });
    }
}

/// Once it runs alone, a thread that execs from outside the group leader
/// takes over the leader's thread id (= the pid), as Linux's de_thread
/// does: the process keeps its pid and the old thread id is free again.
fn take_over_leader_tid(t: &mut Thread) {
    let me = t.task.tid();
    let tgid = t.task.tg.tgid;
    if me == tgid {
        return;
    }
    let mut p = t.task.k.procs();
    // The leader has exited (kill_other_threads waited for it): its id is
    // no thread's any more.
    if p.tasks.contains_key(&tgid) {
        return;
    }
    if let Some(task) = p.tasks.remove(&me) {
        p.tasks.insert(tgid, task);
    }
    if let Some(st) = p.st_mut(tgid) {
        for x in st.threads.iter_mut().filter(|x| **x == me) {
            *x = tgid;
        }
    }
    t.task.set_tid(tgid);
}

pub fn getrandom(buf: &mut [u8]) {
    let mut done = 0;
    while done < buf.len() {
        // SAFETY: getrandom writes at most len bytes into our buffer.
        let n = unsafe { libc::getrandom(buf[done..].as_mut_ptr().cast(), buf.len() - done, 0) };
        if n <= 0 {
            break;
        }
        done += n as usize;
    }
}
