//! `--strace`: every syscall with decoded arguments and its result, like
//! runsc's strace (paths and buffers shown as text, fds and flags named).

use std::fmt::Write;

use abi::Errno;

use crate::mm::MemoryManager;
use crate::syscalls::Args;

/// How to show one argument.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Hex,
    Int,
    Fd,
    /// A NUL-terminated path or string.
    Path,
    /// A buffer whose length is argument `n` (shown on entry).
    InBuf(usize),
    /// A buffer filled by the call; length is the return value.
    OutBuf,
    OpenFlags,
    Oct,
    Signal,
    /// argv/envp arrays.
    StrArray,
}

fn spec(name: &str) -> &'static [Kind] {
    use Kind::*;
    match name {
        "read" | "pread64" => &[Fd, OutBuf, Int, Int],
        "write" | "pwrite64" => &[Fd, InBuf(2), Int, Int],
        "open" => &[Path, OpenFlags, Oct],
        "openat" => &[Fd, Path, OpenFlags, Oct],
        "close" | "fsync" | "fdatasync" | "fchdir" | "dup" => &[Fd],
        "dup2" | "dup3" => &[Fd, Fd, Hex],
        "stat" | "lstat" | "access" | "chdir" | "unlink" | "rmdir" | "mkdir" | "chmod" | "truncate" => &[Path, Hex],
        "newfstatat" | "faccessat" | "faccessat2" | "mkdirat" | "unlinkat" | "fchmodat" | "readlinkat" | "statx" => &[Fd, Path, Hex, Hex, Hex],
        "readlink" => &[Path, Hex, Int],
        "rename" | "symlink" | "link" => &[Path, Path],
        "renameat" | "renameat2" | "linkat" => &[Fd, Path, Fd, Path, Hex],
        "symlinkat" => &[Path, Fd, Path],
        "execve" => &[Path, StrArray, Hex],
        "execveat" => &[Fd, Path, StrArray, Hex, Hex],
        "fstat" | "getdents64" | "lseek" | "ioctl" | "fcntl" | "ftruncate" => &[Fd, Hex, Hex],
        "kill" | "tkill" => &[Int, Signal],
        "tgkill" => &[Int, Int, Signal],
        "rt_sigaction" => &[Signal, Hex, Hex, Int],
        "exit" | "exit_group" => &[Int],
        "wait4" => &[Int, Hex, Hex, Hex],
        _ => &[Hex, Hex, Hex, Hex, Hex, Hex],
    }
}

/// Number of arguments a syscall is shown with.
fn arity(name: &str) -> usize {
    match name {
        "getpid" | "getppid" | "gettid" | "getuid" | "geteuid" | "getgid" | "getegid" | "fork" | "vfork" | "sched_yield" | "pause"
        | "setsid" | "getpgrp" | "rt_sigreturn" => 0,
        _ => spec(name).len(),
    }
}

fn quote(b: &[u8], max: usize) -> String {
    let mut s = String::from("\"");
    for &c in b.iter().take(max) {
        match c {
            b'\n' => s.push_str("\\n"),
            b'\t' => s.push_str("\\t"),
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(c as char),
            _ => {
                let _ = write!(s, "\\x{c:02x}");
            }
        }
    }
    s.push('"');
    if b.len() > max {
        s.push_str("...");
    }
    s
}

fn open_flags(f: u64) -> String {
    let f = f as i32;
    let mut parts = vec![match f & libc::O_ACCMODE {
        libc::O_RDONLY => "O_RDONLY",
        libc::O_WRONLY => "O_WRONLY",
        _ => "O_RDWR",
    }
    .to_string()];
    for (bit, n) in [
        (libc::O_CREAT, "O_CREAT"),
        (libc::O_EXCL, "O_EXCL"),
        (libc::O_TRUNC, "O_TRUNC"),
        (libc::O_APPEND, "O_APPEND"),
        (libc::O_NONBLOCK, "O_NONBLOCK"),
        (libc::O_DIRECTORY, "O_DIRECTORY"),
        (libc::O_NOFOLLOW, "O_NOFOLLOW"),
        (libc::O_CLOEXEC, "O_CLOEXEC"),
        (libc::O_PATH, "O_PATH"),
    ] {
        if f & bit == bit {
            parts.push(n.into());
        }
    }
    parts.join("|")
}

fn fd(v: u64) -> String {
    if v as i32 == libc::AT_FDCWD {
        "AT_FDCWD".into()
    } else {
        (v as i32).to_string()
    }
}

fn signame(v: u64) -> String {
    let s = v as i32;
    const NAMES: [&str; 32] = [
        "0", "SIGHUP", "SIGINT", "SIGQUIT", "SIGILL", "SIGTRAP", "SIGABRT", "SIGBUS", "SIGFPE", "SIGKILL", "SIGUSR1", "SIGSEGV", "SIGUSR2",
        "SIGPIPE", "SIGALRM", "SIGTERM", "SIGSTKFLT", "SIGCHLD", "SIGCONT", "SIGSTOP", "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGURG",
        "SIGXCPU", "SIGXFSZ", "SIGVTALRM", "SIGPROF", "SIGWINCH", "SIGIO", "SIGPWR", "SIGSYS",
    ];
    match usize::try_from(s).ok().and_then(|i| NAMES.get(i)) {
        Some(n) => (*n).into(),
        None => format!("SIGRT{}", s - 32),
    }
}

/// The entry line: `name(arg, ...)`.
pub fn format_entry(mm: &MemoryManager, name: &str, a: &Args) -> String {
    let kinds = spec(name);
    let n = arity(name).min(kinds.len());
    let mut out = format!("{name}(");
    for (i, k) in kinds.iter().take(n).enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let v = a.0[i];
        let s = match k {
            Kind::Hex | Kind::OutBuf => format!("{v:#x}"),
            Kind::Int => (v as i64).to_string(),
            Kind::Fd => fd(v),
            Kind::Oct => format!("{:#o}", v as u32),
            Kind::OpenFlags => open_flags(v),
            Kind::Signal => signame(v),
            Kind::Path => match mm.read_cstring(v, 4096) {
                Ok(p) => format!("{v:#x} {}", quote(&p, 256)),
                Err(_) => format!("{v:#x}"),
            },
            Kind::InBuf(len_arg) => {
                let len = (a.0[*len_arg] as usize).min(64);
                let mut b = vec![0u8; len];
                match mm.copy_in(v, &mut b) {
                    Ok(()) => format!("{v:#x} {}", quote(&b, 64)),
                    Err(_) => format!("{v:#x}"),
                }
            }
            Kind::StrArray => match mm.read_string_array(v, 4096) {
                Ok(arr) => {
                    let items: Vec<String> = arr.iter().take(8).map(|s| quote(s, 64)).collect();
                    format!("{v:#x} [{}{}]", items.join(", "), if arr.len() > 8 { ", ..." } else { "" })
                }
                Err(_) => format!("{v:#x}"),
            },
        };
        out.push_str(&s);
    }
    out.push(')');
    out
}

/// The exit line: `name(...) = result`, with read buffers shown.
pub fn format_exit(mm: &MemoryManager, name: &str, a: &Args, r: &Result<u64, Errno>) -> String {
    let res = match r {
        Ok(v) => match name {
            "mmap" | "brk" | "mremap" => format!("{v:#x}"),
            _ => (*v as i64).to_string(),
        },
        Err(e) => format!("-1 {e:?}"),
    };
    let mut extra = String::new();
    if let (Ok(n), Some(pos)) = (r, spec(name).iter().position(|k| *k == Kind::OutBuf)) {
        let len = (*n as usize).min(64);
        let mut b = vec![0u8; len];
        if mm.copy_in(a.0[pos], &mut b).is_ok() {
            extra = format!(" {}", quote(&b, 64));
        }
    }
    format!("{name} = {res}{extra}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_and_flags() {
        assert_eq!(quote(b"a\n\"\x01", 10), "\"a\\n\\\"\\x01\"");
        assert_eq!(quote(b"abcdef", 3), "\"abc\"...");
        assert_eq!(open_flags((libc::O_WRONLY | libc::O_CREAT | libc::O_CLOEXEC) as u64), "O_WRONLY|O_CREAT|O_CLOEXEC");
        assert_eq!(fd(libc::AT_FDCWD as u32 as u64), "AT_FDCWD");
        assert_eq!(signame(15), "SIGTERM");
        assert_eq!(signame(34), "SIGRT2");
    }
}
