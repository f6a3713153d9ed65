//! The Gofer's host syscalls once it serves: file operations relative to
//! the fds it holds, and its socket to the Sentry. No new sockets, no
//! processes, no signals, no exec.
//!
//! It has an empty root by then ([`super::root`]), so the path-taking calls
//! below (openat, mkdirat, ...) can only reach what its held fds name: the
//! rootfs it serves and `/proc/self/fd`. Its lookups are one validated
//! component at a time with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)
//! and O_NOFOLLOW.

use syscalls::Sysno;

use super::seccomp::{any, only, Rule, When};

pub const GOFER: &[Rule] = &[
    // The protocol.
    any(Sysno::recvmsg, "requests from the Sentry"),
    any(Sysno::sendmsg, "replies, with the fds they donate"),
    // Files, always relative to a held fd.
    any(Sysno::openat2, "walks and creations beneath a held directory (RESOLVE_BENEATH)"),
    any(Sysno::openat, "re-opening a held O_PATH fd for I/O through /proc/self/fd/N; openat2's fallback"),
    any(Sysno::newfstatat, "stat of a held fd (AT_EMPTY_PATH) or of a name in a held directory (AT_SYMLINK_NOFOLLOW)"),
    any(Sysno::fstatfs, "statfs of a held fd"),
    any(Sysno::getdents64, "listing a held directory"),
    any(Sysno::lseek, "rewinding a directory for a listing"),
    any(Sysno::readlinkat, "reading a held symlink"),
    any(Sysno::mkdirat, "mkdir in a held directory"),
    any(Sysno::mknodat, "mknod (regular files, fifos, sockets) in a held directory"),
    any(Sysno::symlinkat, "symlink in a held directory"),
    any(Sysno::linkat, "hard link between held fds"),
    any(Sysno::unlinkat, "unlink/rmdir in a held directory"),
    any(Sysno::renameat2, "rename between held directories"),
    any(Sysno::fchownat, "chown of a held fd or a name in a held directory"),
    any(Sysno::fchmodat, "chmod through /proc/self/fd/N (O_PATH fds cannot fchmod)"),
    any(Sysno::utimensat, "timestamps of a held fd or a name in a held directory"),
    any(Sysno::ftruncate, "truncating a held file"),
    only(
        Sysno::fcntl,
        When::ArgIn(1, &[libc::F_GETFL as u64, libc::F_SETFL as u64, libc::F_GETFD as u64, libc::F_SETFD as u64, libc::F_DUPFD_CLOEXEC as u64]),
        "clearing O_NONBLOCK of an fd before donating it; duplicating a held fd",
    ),
    any(Sysno::close, "clunked fids"),
    // The process itself.
    any(Sysno::write, "logs (stderr or the debug log)"),
    only(Sysno::mmap, When::ArgClear(2, libc::PROT_EXEC as u64), "the allocator (never executable)"),
    only(Sysno::mprotect, When::ArgClear(2, libc::PROT_EXEC as u64), "the allocator (never executable)"),
    any(Sysno::munmap, "the allocator"),
    any(Sysno::mremap, "the allocator growing a buffer"),
    any(Sysno::madvise, "the allocator returning memory"),
    any(Sysno::brk, "the allocator's main heap"),
    any(Sysno::futex, "the log writer's lock"),
    any(Sysno::clock_gettime, "log timestamps (when the vDSO falls back to the syscall)"),
    any(Sysno::sigaltstack, "Rust's runtime tears down the main thread's signal stack at exit"),
    any(Sysno::exit_group, "the Sentry closed the socket: done"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::confine::seccomp::{check_table, install, tests::in_child, Violation};

    #[test]
    fn table_is_sane() {
        check_table(GOFER);
        for forbidden in [Sysno::socket, Sysno::connect, Sysno::execve, Sysno::clone, Sysno::clone3, Sysno::fork, Sysno::ptrace, Sysno::kill, Sysno::mount, Sysno::chroot, Sysno::open] {
            assert!(GOFER.iter().all(|r| r.sys != forbidden), "{} must not be allowed", forbidden.name());
        }
    }

    #[test]
    fn a_socket_kills_a_confined_gofer() {
        let st = in_child(|| {
            // SAFETY: a NUL-terminated literal path.
            let root = unsafe { libc::open(c"/".as_ptr(), libc::O_PATH) };
            if root < 0 || install(GOFER, &[], Violation::Kill, None).is_err() {
                return 2;
            }
            // Allowed calls still work.
            // SAFETY: a zeroed statfs is a valid buffer, which fstatfs fills.
            let mut st: libc::statfs = unsafe { std::mem::zeroed() };
            // SAFETY: `st` is live and of the right type.
            if unsafe { libc::fstatfs(root, &mut st) } != 0 {
                return 3;
            }
            // SAFETY: a raw syscall the filter kills the process for.
            unsafe { libc::syscall(libc::SYS_socket, libc::AF_INET, libc::SOCK_STREAM, 0) };
            0
        });
        assert!(libc::WIFSIGNALED(st) && libc::WTERMSIG(st) == libc::SIGSYS, "status {st:#x}");
    }
}
