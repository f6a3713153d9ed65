//! Waiting for readiness on a set of files: the engine under poll,
//! select and their variants.

use std::collections::HashMap;
use std::os::fd::BorrowedFd;
use std::sync::Arc;
use std::time::Instant;

use abi::{Errno, SysResult};
use fs::file::File;
use fs::waiter::events;

use crate::task::run::Thread;

/// One polled entry: the file (None: the fd was not open) and the
/// requested events.
pub struct Polled {
    pub file: Option<Arc<File>>,
    pub events: u32,
}

/// Always-reported bits.
const ALWAYS: u32 = events::POLLERR | events::POLLHUP;

/// The revents of every entry now (POLLNVAL for a closed fd).
pub fn check(items: &[Polled]) -> Vec<u32> {
    items
        .iter()
        .map(|p| match &p.file {
            None => events::POLLNVAL,
            Some(f) => {
                f.readiness(p.events | ALWAYS) & (p.events | ALWAYS | events::POLLNVAL)
            }
        })
        .collect()
}

/// Wait until some entry is ready (`Ok(revents)`, possibly all zero when
/// `deadline` passed) or a signal arrives (ERESTARTSYS).
pub fn wait(t: &mut Thread, items: &[Polled], deadline: Option<Instant>) -> SysResult<Vec<u32>> {
    super::signalfd::set_current(t);
    let now = check(items);
    if now.iter().any(|r| *r != 0) || deadline.is_some_and(|d| d <= Instant::now()) {
        return Ok(now);
    }
    // Register once per file description with the union of masks.
    let mut masks: HashMap<*const File, (Arc<File>, u32)> = HashMap::new();
    for p in items {
        if let Some(f) = &p.file {
            masks.entry(Arc::as_ptr(f)).or_insert_with(|| (f.clone(), 0)).1 |= p.events | ALWAYS;
        }
    }
    let waker = t.task.waiter.as_waker();
    for (f, m) in masks.values() {
        f.ops().event_register(&waker, *m);
    }
    let host: Vec<(BorrowedFd<'_>, i16)> = masks.values().filter_map(|(f, m)| f.ops().host_fd().map(|fd| (fd, (*m & 0xffff) as u16 as i16))).collect();
    let r = t.wait_event(&[], 0, &host, deadline, |_| {
        let r = check(items);
        r.iter().any(|x| *x != 0).then_some(Ok(r))
    });
    for (f, _) in masks.values() {
        f.ops().event_unregister(&waker);
    }
    match r {
        Err(Errno::ETIMEDOUT) => Ok(vec![0; items.len()]),
        r => r,
    }
}
