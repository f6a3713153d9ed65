//! futex(2).

use std::time::Instant;

use abi::{Errno, SysResult};

use super::signal::read_timespec;
use super::time::clock_now;
use super::{sc, Args, Entry};
use crate::futex::key;
use crate::task::run::Thread;

pub static ENTRIES: &[Entry] = &[sc!(SYS_futex, futex, "PI futexes without priority inheritance (no priorities); no requeue-PI")];

const FUTEX_WAIT: i32 = 0;
const FUTEX_WAKE: i32 = 1;
const FUTEX_REQUEUE: i32 = 3;
const FUTEX_CMP_REQUEUE: i32 = 4;
const FUTEX_WAKE_OP: i32 = 5;
const FUTEX_LOCK_PI: i32 = 6;
const FUTEX_UNLOCK_PI: i32 = 7;
const FUTEX_TRYLOCK_PI: i32 = 8;
const FUTEX_WAIT_BITSET: i32 = 9;
const FUTEX_LOCK_PI2: i32 = 13;
const FUTEX_WAKE_BITSET: i32 = 10;
const FUTEX_PRIVATE_FLAG: i32 = 128;
const FUTEX_CLOCK_REALTIME: i32 = 256;

fn futex(t: &mut Thread, a: &Args) -> SysResult<u64> {
    let (addr, op, val) = (a.u64(0), a.i32(1), a.u32(2));
    let private = op & FUTEX_PRIVATE_FLAG != 0;
    let cmd = op & !(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME);
    if op & FUTEX_CLOCK_REALTIME != 0 && cmd != FUTEX_WAIT_BITSET && cmd != FUTEX_WAIT && cmd != FUTEX_LOCK_PI2 {
        return Err(Errno::ENOSYS);
    }
    let k = t.task.k.clone();
    match cmd {
        FUTEX_WAIT | FUTEX_WAIT_BITSET => {
            let bitset = if cmd == FUTEX_WAIT { u32::MAX } else { a.u32(5) };
            let deadline = if a.u64(3) == 0 {
                None
            } else {
                let ts = read_timespec(t, a.u64(3))?;
                if cmd == FUTEX_WAIT {
                    Some(Instant::now() + ts)
                } else {
                    let clock = if op & FUTEX_CLOCK_REALTIME != 0 { libc::CLOCK_REALTIME } else { libc::CLOCK_MONOTONIC };
                    let now = clock_now(t, clock)?;
                    Some(Instant::now() + ts.saturating_sub(now))
                }
            };
            match k.futexes.wait(t, addr, val, bitset, deadline, private) {
                Err(Errno::ERESTARTSYS) if deadline.is_some() => Err(Errno::EINTR),
                r => r,
            }
        }
        FUTEX_WAKE | FUTEX_WAKE_BITSET => {
            let bitset = if cmd == FUTEX_WAKE { u32::MAX } else { a.u32(5) };
            if bitset == 0 {
                return Err(Errno::EINVAL);
            }
            let key = key(&t.mm, addr, private)?;
            Ok(k.futexes.wake(key, val, bitset))
        }
        FUTEX_REQUEUE | FUTEX_CMP_REQUEUE => {
            let from = key(&t.mm, addr, private)?;
            let to = key(&t.mm, a.u64(4), private)?;
            let nmove = a.u64(3) as u32;
            if (val as i32) < 0 || (nmove as i32) < 0 {
                return Err(Errno::EINVAL);
            }
            let cmp = (cmd == FUTEX_CMP_REQUEUE).then(|| (addr, a.u32(5)));
            k.futexes.requeue(&t.mm, from, to, val, nmove, cmp)
        }
        FUTEX_WAKE_OP => {
            let uaddr2 = a.u64(4);
            let encoded = a.u32(5);
            let op_ = (encoded >> 28) & 0xf;
            let cmp = (encoded >> 24) & 0xf;
            let mut oparg = (encoded >> 12) & 0xfff;
            let cmparg = encoded & 0xfff;
            if op_ & 8 != 0 {
                oparg = 1u32.checked_shl(oparg).unwrap_or(0);
            }
            let old: u32 = t.mm.read_obj(uaddr2)?;
            let new = match op_ & 7 {
                0 => oparg,
                1 => old.wrapping_add(oparg),
                2 => old | oparg,
                3 => old & !oparg,
                4 => old ^ oparg,
                _ => return Err(Errno::ENOSYS),
            };
            t.mm.write_obj(uaddr2, &new)?;
            let k1 = key(&t.mm, addr, private)?;
            let k2 = key(&t.mm, uaddr2, private)?;
            let mut n = k.futexes.wake(k1, val, u32::MAX);
            let (o, c) = (old as i32, cmparg as i32);
            let hit = match cmp {
                0 => o == c,
                1 => o != c,
                2 => o < c,
                3 => o <= c,
                4 => o > c,
                5 => o >= c,
                _ => return Err(Errno::ENOSYS),
            };
            if hit {
                n += k.futexes.wake(k2, a.u64(3) as u32, u32::MAX);
            }
            Ok(n)
        }
        FUTEX_LOCK_PI | FUTEX_LOCK_PI2 | FUTEX_TRYLOCK_PI => {
            let deadline = if cmd == FUTEX_TRYLOCK_PI || a.u64(3) == 0 {
                None
            } else {
                // An absolute time: CLOCK_REALTIME for LOCK_PI, MONOTONIC
                // for LOCK_PI2 unless FUTEX_CLOCK_REALTIME.
                let ts = read_timespec(t, a.u64(3))?;
                let clock = if cmd == FUTEX_LOCK_PI || op & FUTEX_CLOCK_REALTIME != 0 { libc::CLOCK_REALTIME } else { libc::CLOCK_MONOTONIC };
                let now = clock_now(t, clock)?;
                Some(Instant::now() + ts.saturating_sub(now))
            };
            match k.futexes.lock_pi(t, addr, deadline, cmd == FUTEX_TRYLOCK_PI, private) {
                Err(Errno::ERESTARTSYS) if deadline.is_some() => Err(Errno::EINTR),
                r => r,
            }
        }
        FUTEX_UNLOCK_PI => k.futexes.unlock_pi(t, addr, private),
        _ => Err(Errno::ENOSYS),
    }
}
