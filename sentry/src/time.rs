//! Time: the sandbox's clocks and a timer thread for alarms and interval
//! timers.

use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

/// A callback run on the timer thread when a deadline passes.
type Callback = Box<dyn FnOnce() + Send>;

struct TimerQueue {
    entries: Mutex<(BTreeMap<(Instant, u64), Callback>, u64)>,
    cv: Condvar,
}

fn queue() -> &'static Arc<TimerQueue> {
    static Q: OnceLock<Arc<TimerQueue>> = OnceLock::new();
    Q.get_or_init(|| {
        let q = Arc::new(TimerQueue { entries: Mutex::new((BTreeMap::new(), 0)), cv: Condvar::new() });
        let q2 = q.clone();
        std::thread::Builder::new()
            .name("timers".into())
            .spawn(move || timer_thread(q2))
            .expect("timer thread");
        q
    })
}

fn timer_thread(q: Arc<TimerQueue>) {
    let mut g = q.entries.lock().unwrap();
    loop {
        let now = Instant::now();
        let first = g.0.keys().next().copied();
        match first {
            Some(k) if k.0 <= now => {
                let cb = g.0.remove(&k).unwrap();
                drop(g);
                cb();
                g = q.entries.lock().unwrap();
            }
            Some(k) => g = q.cv.wait_timeout(g, k.0 - now).unwrap().0,
            None => g = q.cv.wait(g).unwrap(),
        }
    }
}

/// A handle to a scheduled callback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerId(Instant, u64);

/// Run `cb` at `deadline` on the timer thread.
pub fn schedule(deadline: Instant, cb: Callback) -> TimerId {
    let q = queue();
    let mut g = q.entries.lock().unwrap();
    g.1 += 1;
    let id = g.1;
    g.0.insert((deadline, id), cb);
    q.cv.notify_one();
    TimerId(deadline, id)
}

/// Cancel a callback; false if it already ran.
pub fn cancel(id: TimerId) -> bool {
    let q = queue();
    let removed = q.entries.lock().unwrap().0.remove(&(id.0, id.1)).is_some();
    removed
}

/// ITIMER_REAL of a process: when it fires, SIGALRM is sent.
#[derive(Default)]
pub struct ItimerState {
    pub real: Mutex<Option<Itimer>>,
}

#[derive(Clone, Copy, Debug)]
pub struct Itimer {
    pub next: Instant,
    pub interval: Duration,
    pub id: TimerId,
}

impl ItimerState {
    /// Arm (or disarm with `value == 0`) ITIMER_REAL; returns the old
    /// (remaining, interval).
    pub fn set_real(&self, tg: Weak<crate::task::ThreadGroup>, k: Weak<crate::kernel::Kernel>, value: Duration, interval: Duration) -> (Duration, Duration) {
        let mut g = self.real.lock().unwrap();
        let old = g.take().map(|t| {
            cancel(t.id);
            (t.next.saturating_duration_since(Instant::now()), t.interval)
        });
        if !value.is_zero() {
            let next = Instant::now() + value;
            let id = arm(tg, k, next, interval);
            *g = Some(Itimer { next, interval, id });
        }
        old.unwrap_or_default()
    }

    pub fn get_real(&self) -> (Duration, Duration) {
        self.real.lock().unwrap().map(|t| (t.next.saturating_duration_since(Instant::now()), t.interval)).unwrap_or_default()
    }
}

fn arm(tg: Weak<crate::task::ThreadGroup>, k: Weak<crate::kernel::Kernel>, at: Instant, interval: Duration) -> TimerId {
    schedule(
        at,
        Box::new(move || {
            let (Some(tg), Some(k)) = (tg.upgrade(), k.upgrade()) else { return };
            tg.send(&k, crate::signal::SigInfo::new(crate::signal::SIGALRM, 0x80));
            let mut g = tg.itimers.real.lock().unwrap();
            match *g {
                Some(ref mut t) if !interval.is_zero() => {
                    let next = at + interval;
                    t.next = next;
                    t.id = arm(Arc::downgrade(&tg), Arc::downgrade(&k), next, interval);
                }
                _ => *g = None,
            }
        }),
    )
}
