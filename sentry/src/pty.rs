//! The Sentry's side of fs::devpts: who is calling (from the process
//! table) and signal delivery to process groups, for the pseudo-terminals'
//! job control, ISIG characters, SIGWINCH and hangup.

use std::sync::{Arc, Weak};

use fs::devpts::{Caller, DevPts, PtyHost};
use tracing::debug;

use crate::kernel::{Kernel, Procs};
use crate::signal::{self, SigInfo};

struct Host {
    k: Weak<Kernel>,
    /// The sandbox's host terminal (stdio), if any: a session owning it
    /// has a controlling terminal already.
    terminal: Option<Arc<fs::host::HostFile>>,
}

/// The tid of the task whose Sentry thread is calling (threads are named
/// "task-<tid>").
fn current_tid() -> Option<i32> {
    std::thread::current().name()?.strip_prefix("task-")?.parse().ok()
}

/// Linux's will_become_orphaned_pgrp(pgid, NULL): no member has a parent
/// in another group of the same session.
fn orphaned(p: &Procs, pgid: i32) -> bool {
    !p.pgrp_members(pgid).iter().any(|m| {
        let Some(st) = p.st(*m) else { return false };
        match p.st(st.parent) {
            Some(ps) if st.parent != 1 && ps.zombie.is_none() => ps.pgid != pgid && ps.sid == st.sid,
            _ => false,
        }
    })
}

impl PtyHost for Host {
    fn caller(&self) -> Option<Caller> {
        let k = self.k.upgrade()?;
        let tid = current_tid()?;
        let (task, pgid, sid, orphaned) = {
            let p = k.procs();
            let task = p.tasks.get(&tid)?.clone();
            let st = p.st(task.tg.tgid)?;
            (task.clone(), st.pgid, st.sid, orphaned(&p, st.pgid))
        };
        let mask = task.sig().mask;
        let mut ignored = 0u64;
        for sig in [signal::SIGTTIN, signal::SIGTTOU] {
            if mask.has(sig) || task.tg.action(sig).handler == signal::SIG_IGN {
                ignored |= 1u64 << (sig - 1);
            }
        }
        Some(Caller { pid: task.tg.tgid, pgid, sid, privileged: task.tg.creds().euid == 0, ignored, orphaned })
    }

    fn signal_pgrp(&self, pgid: i32, sig: i32) {
        let Some(k) = self.k.upgrade() else { return };
        let groups: Vec<_> = {
            let p = k.procs();
            p.pgrp_members(pgid).iter().filter_map(|t| p.groups.get(t).cloned()).collect()
        };
        debug!(pgid, sig, n = groups.len(), "tty signal to process group");
        for tg in groups {
            tg.send(&k, SigInfo::new(sig, signal::SI_KERNEL));
        }
    }

    fn signal_process(&self, pid: i32, sig: i32) {
        if let Some(k) = self.k.upgrade() {
            k.signal_group(pid, SigInfo::new(sig, signal::SI_KERNEL));
        }
    }

    fn pgrp_session(&self, pgid: i32) -> Option<i32> {
        let k = self.k.upgrade()?;
        let p = k.procs();
        if let Some(m) = p.pgrp_members(pgid).first() {
            return p.st(*m).map(|s| s.sid);
        }
        p.st(pgid).filter(|s| s.zombie.is_none()).map(|s| s.sid)
    }

    fn session_alive(&self, sid: i32) -> bool {
        let Some(k) = self.k.upgrade() else { return false };
        let p = k.procs();
        p.st(sid).is_some_and(|s| s.sid == sid && s.zombie.is_none())
    }

    fn session_has_other_tty(&self, sid: i32) -> bool {
        self.terminal.as_ref().and_then(|t| t.tty()).is_some_and(|t| t.session() == Some(sid))
    }
}

/// Give the devpts mounted on /dev/pts (if any) the kernel's hooks.
pub fn install(k: &Arc<Kernel>, terminal: Option<&Arc<fs::host::HostFile>>) {
    let ctx = k.vfs.root_context(fs::Creds::root(), 0);
    let Ok(loc) = k.vfs.lookup(&ctx, None, b"/dev/pts", 0) else { return };
    if let Some(pts) = DevPts::from_inode(loc.inode()) {
        pts.set_host(Arc::new(Host { k: Arc::downgrade(k), terminal: terminal.cloned() }));
    }
}
