//! F_SETOWN/F_GETOWN(_EX), F_SETSIG and O_ASYNC: SIGIO (or the chosen
//! signal) to the owner when the file becomes ready.
//!
//! `fs::File` has no slot for the owner, so it lives in a side table keyed
//! by the description (held weakly). While O_ASYNC is set and an owner is
//! named, a `Waker` registered on the file sends the signal.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use fs::file::File;
use fs::waiter::{events, Waker};

use crate::kernel::Kernel;
use crate::signal::SigInfo;

/// SIGIO (= SIGPOLL) on x86-64.
pub const SIGIO_NR: i32 = 29;

/// F_OWNER_* of `struct f_owner_ex`.
pub const F_OWNER_TID: i32 = 0;
pub const F_OWNER_PID: i32 = 1;
pub const F_OWNER_PGRP: i32 = 2;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Owner {
    pub kind: i32,
    /// 0 = none.
    pub pid: i32,
    /// F_SETSIG (0 = SIGIO).
    pub sig: i32,
}

struct AsyncWaker {
    k: Weak<Kernel>,
    owner: Owner,
}

impl Waker for AsyncWaker {
    fn wake(&self, ev: u32) {
        let Some(k) = self.k.upgrade() else { return };
        let sig = if self.owner.sig == 0 { SIGIO_NR } else { self.owner.sig };
        // si_code POLL_IN (1) / POLL_OUT (2) / POLL_HUP (6).
        let code = if ev & events::POLLHUP != 0 { 6 } else if ev & events::READABLE != 0 { 1 } else { 2 };
        let info = SigInfo::new(sig, code);
        match self.owner.kind {
            F_OWNER_PGRP => {
                let members = k.procs().pgrp_members(self.owner.pid);
                for m in members {
                    k.signal_group(m, info);
                }
            }
            F_OWNER_TID => {
                let task = k.procs().tasks.get(&self.owner.pid).cloned();
                if let Some(task) = task {
                    task.send(info);
                }
            }
            _ => {
                k.signal_group(self.owner.pid, info);
            }
        }
    }
}

struct Entry {
    file: Weak<File>,
    owner: Owner,
    waker: Option<Arc<dyn Waker>>,
}

fn table() -> &'static Mutex<HashMap<usize, Entry>> {
    static T: OnceLock<Mutex<HashMap<usize, Entry>>> = OnceLock::new();
    T.get_or_init(|| Mutex::new(HashMap::new()))
}

fn key(f: &Arc<File>) -> usize {
    Arc::as_ptr(f) as usize
}

/// The owner of `f` (zeroed if none).
pub fn get(f: &Arc<File>) -> Owner {
    let t = table().lock().unwrap_or_else(|e| e.into_inner());
    match t.get(&key(f)) {
        Some(e) if std::ptr::eq(e.file.as_ptr(), Arc::as_ptr(f)) => e.owner,
        _ => Owner::default(),
    }
}

/// Change the owner fields with `update`, then re-arm the async waker.
pub fn update(k: &Arc<Kernel>, f: &Arc<File>, update: impl FnOnce(&mut Owner)) {
    let mut t = table().lock().unwrap_or_else(|e| e.into_inner());
    t.retain(|_, e| e.file.strong_count() > 0);
    let e = t.entry(key(f)).or_insert_with(|| Entry { file: Arc::downgrade(f), owner: Owner::default(), waker: None });
    update(&mut e.owner);
    rearm(k, f, e);
}

/// After F_SETFL / FIOASYNC: (un)register the waker per O_ASYNC.
pub fn flags_changed(k: &Arc<Kernel>, f: &Arc<File>) {
    let mut t = table().lock().unwrap_or_else(|e| e.into_inner());
    if let Some(e) = t.get_mut(&key(f)) {
        if std::ptr::eq(e.file.as_ptr(), Arc::as_ptr(f)) {
            rearm(k, f, e);
        }
    }
}

fn rearm(k: &Arc<Kernel>, f: &Arc<File>, e: &mut Entry) {
    if let Some(w) = e.waker.take() {
        f.ops().event_unregister(&w);
    }
    if f.flags() & libc::O_ASYNC != 0 && e.owner.pid != 0 {
        let w: Arc<dyn Waker> = Arc::new(AsyncWaker { k: Arc::downgrade(k), owner: e.owner });
        let mask = if f.readable() { events::READABLE } else { 0 } | if f.writable() { events::WRITABLE } else { 0 };
        f.ops().event_register(&w, mask);
        e.waker = Some(w);
    }
}
