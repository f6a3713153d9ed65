//! Futexes: wait queues keyed by a workload address.
//!
//! Private futexes are keyed by (address space, address); shared ones on a
//! MAP_SHARED mapping by (shared object, offset), so processes sharing the
//! memory meet on the same key.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use abi::{Errno, SysResult};
use fs::waiter::Waiter;

use crate::mm::MemoryManager;
use crate::task::run::Thread;

const PI_WAITERS: u32 = 0x8000_0000;
const PI_OWNER_DIED: u32 = 0x4000_0000;
const PI_TID_MASK: u32 = 0x3fff_ffff;

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum FutexKey {
    Private(usize, u64),
    Shared(usize, u64),
}

/// The key of the futex word at `addr`.
pub fn key(mm: &MemoryManager, addr: u64, private: bool) -> SysResult<FutexKey> {
    if addr % 4 != 0 {
        return Err(Errno::EINVAL);
    }
    if !private {
        if let Some((obj, off)) = mm.shared_key(addr) {
            return Ok(FutexKey::Shared(obj, off));
        }
    }
    Ok(FutexKey::Private(mm as *const MemoryManager as usize, addr))
}

struct FWaiter {
    waiter: Arc<Waiter>,
    bitset: u32,
    woken: AtomicBool,
}

#[derive(Default)]
pub struct Futexes {
    q: Mutex<HashMap<FutexKey, Vec<Arc<FWaiter>>>>,
}

impl Futexes {
    /// FUTEX_WAIT(_BITSET): sleep if `*addr == val`.
    pub fn wait(&self, t: &mut Thread, addr: u64, val: u32, bitset: u32, deadline: Option<Instant>, private: bool) -> SysResult<u64> {
        if bitset == 0 {
            return Err(Errno::EINVAL);
        }
        let k = key(&t.mm, addr, private)?;
        let me = Arc::new(FWaiter { waiter: t.task.waiter.clone(), bitset, woken: AtomicBool::new(false) });
        {
            let mut q = self.q.lock().unwrap();
            let cur: u32 = t.mm.read_obj(addr)?;
            if cur != val {
                return Err(Errno::EAGAIN);
            }
            q.entry(k).or_default().push(me.clone());
        }
        let r = t.wait_event(&[], 0, &[], deadline, |_| me.woken.load(Ordering::SeqCst).then_some(Ok(0)));
        if r.is_err() {
            // Leave the queue (unless a wake raced with us: then succeed).
            let mut q = self.q.lock().unwrap();
            if me.woken.load(Ordering::SeqCst) {
                return Ok(0);
            }
            for v in q.values_mut() {
                v.retain(|w| !Arc::ptr_eq(w, &me));
            }
            q.retain(|_, v| !v.is_empty());
        }
        r
    }

    /// FUTEX_LOCK_PI / FUTEX_TRYLOCK_PI: take the lock word for the
    /// calling thread (tid in the word), queueing while another thread
    /// holds it. There is no priority inheritance: tasks have no
    /// priorities in the Sentry; the protocol (ownership, FUTEX_WAITERS,
    /// EDEADLK, ESRCH, hand-over on unlock) is Linux's.
    pub fn lock_pi(&self, t: &mut Thread, addr: u64, deadline: Option<Instant>, try_only: bool, private: bool) -> SysResult<u64> {
        let k = key(&t.mm, addr, private)?;
        let tid = t.task.tid() as u32;
        loop {
            let me = {
                let mut q = self.q.lock().unwrap();
                let val: u32 = t.mm.read_obj(addr)?;
                let owner = val & PI_TID_MASK;
                if owner == 0 {
                    let waiting = q.get(&k).is_some_and(|v| !v.is_empty());
                    let new = tid | (val & PI_OWNER_DIED) | if waiting { PI_WAITERS } else { 0 };
                    t.mm.write_obj(addr, &new)?;
                    return Ok(0);
                }
                if owner == tid {
                    return Err(Errno::EDEADLK);
                }
                if try_only {
                    return Err(Errno::EAGAIN);
                }
                if !t.task.k.procs().tasks.contains_key(&(owner as i32)) {
                    return Err(Errno::ESRCH);
                }
                t.mm.write_obj(addr, &(val | PI_WAITERS))?;
                let me = Arc::new(FWaiter { waiter: t.task.waiter.clone(), bitset: u32::MAX, woken: AtomicBool::new(false) });
                q.entry(k).or_default().push(me.clone());
                me
            };
            let r = t.wait_event(&[], 0, &[], deadline, |_| me.woken.load(Ordering::SeqCst).then_some(Ok(0)));
            if let Err(e) = r {
                let mut q = self.q.lock().unwrap();
                if !me.woken.load(Ordering::SeqCst) {
                    for v in q.values_mut() {
                        v.retain(|w| !Arc::ptr_eq(w, &me));
                    }
                    q.retain(|_, v| !v.is_empty());
                    return Err(e);
                }
            }
            // Woken by the unlocker: try to take the lock again.
        }
    }

    /// FUTEX_UNLOCK_PI: release a lock the caller owns and wake one waiter.
    pub fn unlock_pi(&self, t: &mut Thread, addr: u64, private: bool) -> SysResult<u64> {
        let k = key(&t.mm, addr, private)?;
        let mut q = self.q.lock().unwrap();
        let val: u32 = t.mm.read_obj(addr)?;
        if val & PI_TID_MASK != t.task.tid() as u32 {
            return Err(Errno::EPERM);
        }
        let next = match q.get_mut(&k) {
            Some(v) if !v.is_empty() => Some(v.remove(0)),
            _ => None,
        };
        let more = q.get(&k).is_some_and(|v| !v.is_empty());
        q.retain(|_, v| !v.is_empty());
        t.mm.write_obj(addr, &(if more { PI_WAITERS } else { 0 }))?;
        if let Some(w) = next {
            w.woken.store(true, Ordering::SeqCst);
            w.waiter.notify();
        }
        Ok(0)
    }

    /// Wake up to `n` waiters on `k` whose bitset intersects `bitset`.
    pub fn wake(&self, k: FutexKey, n: u32, bitset: u32) -> u64 {
        let mut q = self.q.lock().unwrap();
        let Some(v) = q.get_mut(&k) else { return 0 };
        let mut woken = 0u64;
        v.retain(|w| {
            if woken < n as u64 && w.bitset & bitset != 0 {
                w.woken.store(true, Ordering::SeqCst);
                w.waiter.notify();
                woken += 1;
                false
            } else {
                true
            }
        });
        if v.is_empty() {
            q.remove(&k);
        }
        woken
    }

    /// FUTEX_(CMP_)REQUEUE: wake `nwake` on `from`, move up to `nmove` of
    /// the rest to `to`.
    pub fn requeue(&self, mm: &MemoryManager, from: FutexKey, to: FutexKey, nwake: u32, nmove: u32, cmp: Option<(u64, u32)>) -> SysResult<u64> {
        let mut q = self.q.lock().unwrap();
        if let Some((addr, val)) = cmp {
            let cur: u32 = mm.read_obj(addr)?;
            if cur != val {
                return Err(Errno::EAGAIN);
            }
        }
        let mut list = q.remove(&from).unwrap_or_default();
        let mut done = 0u64;
        let mut keep = Vec::new();
        let mut moved = Vec::new();
        for w in list.drain(..) {
            if done < nwake as u64 {
                w.woken.store(true, Ordering::SeqCst);
                w.waiter.notify();
                done += 1;
            } else if (moved.len() as u64) < nmove as u64 {
                moved.push(w);
            } else {
                keep.push(w);
            }
        }
        let nmoved = moved.len() as u64;
        if !keep.is_empty() {
            q.insert(from, keep);
        }
        if !moved.is_empty() {
            q.entry(to).or_default().extend(moved);
        }
        Ok(done + nmoved)
    }
}
