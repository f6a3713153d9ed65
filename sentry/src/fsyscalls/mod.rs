//! File, directory, pipe, poll and tty syscalls over the VFS.
//!
//! One file per concern: `open` (open/close), `io` + `rw` (read/write
//! family and the transfer engine), `stat`, `path` (namespace changes),
//! `attr` (access/chmod/chown/utimes/truncate), `cwd`, `dir` (getdents,
//! lseek), `fd` (dup), `fcntl` (+ `lockcmd`/`locks` record locks, `owner`
//! F_SETOWN/O_ASYNC), `pipe`, `ioctl`, `alloc` (fallocate,
//! copy_file_range), `poll` (+ `ready`, `fdset`), `epoll` + `epollsys`,
//! `eventfd`, `timerfd`, `signalfd`, `mount` (mount/umount2); helpers in `util`, `iovec`,
//! `usermem`, `anon`.

mod xattr;
mod alloc;
mod anon;
mod attr;
mod cwd;
mod dir;
mod epoll;
mod epollsys;
mod eventfd;
mod fcntl;
mod fd;
mod fdset;
mod io;
mod ioctl;
mod lockcmd;
mod locks;
mod iovec;
pub mod mount;
mod open;
mod owner;
mod path;
mod pipe;
mod poll;
mod ready;
mod rw;
mod signalfd;
mod stat;
mod timerfd;
mod usermem;
mod util;

use crate::syscalls::Entry;

/// The syscall lists of this module, added to the table.
pub fn entries() -> Vec<&'static [Entry]> {
    vec![
        open::ENTRIES,
        xattr::ENTRIES,
        io::ENTRIES,
        stat::ENTRIES,
        path::ENTRIES,
        attr::ENTRIES,
        cwd::ENTRIES,
        dir::ENTRIES,
        fd::ENTRIES,
        fcntl::ENTRIES,
        pipe::ENTRIES,
        ioctl::ENTRIES,
        poll::ENTRIES,
        eventfd::ENTRIES,
        signalfd::ENTRIES,
        epollsys::ENTRIES,
        timerfd::ENTRIES,
        alloc::ENTRIES,
        mount::ENTRIES,
    ]
}

#[cfg(test)]
mod tests {
    #[test]
    fn table_has_no_duplicates() {
        // The table asserts on numbers listed twice.
        let list = crate::syscalls::support_list();
        assert!(list.iter().any(|(_, n, _)| *n == "openat"));
    }
}
