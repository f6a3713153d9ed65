//! wait4 and waitid.

use abi::{Errno, SysResult};

use crate::signal;
use crate::task::run::Thread;

pub const WNOHANG: u32 = 1;
pub const WUNTRACED: u32 = 2;
pub const WSTOPPED: u32 = 2;
pub const WEXITED: u32 = 4;
pub const WCONTINUED: u32 = 8;
pub const WNOWAIT: u32 = 0x0100_0000;
pub const WNOTHREAD: u32 = 0x2000_0000;
pub const WALL: u32 = 0x4000_0000;
pub const WCLONE: u32 = 0x8000_0000;

/// Which children a wait call is about.
#[derive(Clone, Copy, Debug)]
pub enum Which {
    Pid(i32),
    Pgid(i32),
    Any,
}

/// A child state change found by wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaitInfo {
    pub pid: i32,
    pub uid: u32,
    /// wait4-style status word.
    pub status: i32,
    /// waitid-style CLD_* code and si_status.
    pub code: i32,
    pub si_status: i32,
    /// CPU time and peak RSS of the child (for rusage).
    pub cpu_ns: u64,
    pub maxrss_kb: u64,
}

fn decode(status: i32) -> (i32, i32) {
    if status & 0x7f == 0 {
        (signal::CLD_EXITED, (status >> 8) & 0xff)
    } else if status & 0x80 != 0 {
        (signal::CLD_DUMPED, status & 0x7f)
    } else {
        (signal::CLD_KILLED, status & 0x7f)
    }
}

/// Wait for a child matching `which` with `options`; None with WNOHANG
/// when nothing is ready.
pub fn do_wait(t: &mut Thread, which: Which, options: u32) -> SysResult<Option<WaitInfo>> {
    let me = t.task.tg.tgid;
    let k = t.task.k.clone();
    let tg = t.task.tg.clone();
    t.wait_event(&[&tg.child_events], u32::MAX, &[], None, |_| {
        let mut p = k.procs();
        let my_pgid = p.st(me).map(|s| s.pgid).unwrap_or(0);
        let children: Vec<i32> = p.st(me).map(|s| s.children.iter().copied().collect()).unwrap_or_default();
        // Without __WALL, "clone" children (exit signal other than SIGCHLD)
        // are waited for only with __WCLONE, and the others only without.
        let wants = |c: &i32| {
            if options & WALL != 0 {
                return true;
            }
            let clone_child = p.st(*c).is_some_and(|s| s.exit_signal != signal::SIGCHLD);
            clone_child == (options & WCLONE != 0)
        };
        let matching: Vec<i32> = children
            .into_iter()
            .filter(wants)
            .filter(|c| match which {
                Which::Pid(pid) => *c == pid,
                Which::Pgid(g) => p.st(*c).is_some_and(|s| s.pgid == if g == 0 { my_pgid } else { g }),
                Which::Any => true,
            })
            .collect();
        if matching.is_empty() {
            return Some(Err(Errno::ECHILD));
        }
        for c in matching {
            let uid = p.groups.get(&c).map(|g| g.creds().uid).unwrap_or(0);
            let Some(cs) = p.st_mut(c) else { continue };
            if let Some(status) = cs.zombie {
                if options & WEXITED == 0 {
                    continue;
                }
                let (cpu_ns, maxrss_kb) = p
                    .groups
                    .get(&c)
                    .map(|g| (g.child_cpu_ns.load(std::sync::atomic::Ordering::Relaxed), g.maxrss_kb.load(std::sync::atomic::Ordering::Relaxed)))
                    .unwrap_or((0, 0));
                if options & WNOWAIT == 0 {
                    p.state.remove(&c);
                    p.groups.remove(&c);
                    tg.child_cpu_ns.fetch_add(cpu_ns, std::sync::atomic::Ordering::Relaxed);
                    tg.maxrss_kb.fetch_max(maxrss_kb, std::sync::atomic::Ordering::Relaxed);
                    if let Some(ms) = p.st_mut(me) {
                        ms.children.remove(&c);
                    }
                }
                let (code, si_status) = decode(status);
                return Some(Ok(Some(WaitInfo { pid: c, uid, status, code, si_status, cpu_ns, maxrss_kb })));
            }
            if options & WSTOPPED != 0 && cs.stop_unreported {
                if let Some(sig) = cs.stopped {
                    if options & WNOWAIT == 0 {
                        cs.stop_unreported = false;
                    }
                    return Some(Ok(Some(WaitInfo { pid: c, uid, status: (sig << 8) | 0x7f, code: signal::CLD_STOPPED, si_status: sig, cpu_ns: 0, maxrss_kb: 0 })));
                }
            }
            if options & WCONTINUED != 0 && cs.cont_unreported {
                if options & WNOWAIT == 0 {
                    cs.cont_unreported = false;
                }
                return Some(Ok(Some(WaitInfo { pid: c, uid, status: 0xffff, code: signal::CLD_CONTINUED, si_status: signal::SIGCONT, cpu_ns: 0, maxrss_kb: 0 })));
            }
        }
        if options & WNOHANG != 0 {
            return Some(Ok(None));
        }
        None
    })
}
