//! Errno as a type: every Sentry operation returns `SysResult<T>`.

use std::fmt;

/// A Linux errno value (positive), as returned to the workload negated.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Errno(pub i32);

/// The result of a Sentry operation visible to the workload.
pub type SysResult<T> = Result<T, Errno>;

macro_rules! errnos {
    ($($name:ident),* $(,)?) => {
        impl Errno {
            $(pub const $name: Errno = Errno(libc::$name);)*
            /// The symbolic name (`"ENOENT"`), or `None` for an unusual value.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $(libc::$name => Some(stringify!($name)),)*
                    _ => None,
                }
            }
        }
    };
}

errnos!(
    EPERM, ENOENT, ESRCH, EINTR, EIO, ENXIO, E2BIG, ENOEXEC, EBADF, ECHILD, EAGAIN, ENOMEM,
    EACCES, EFAULT, ENOTBLK, EBUSY, EEXIST, EXDEV, ENODEV, ENOTDIR, EISDIR, EINVAL, ENFILE,
    EMFILE, ENOTTY, ETXTBSY, EFBIG, ENOSPC, ESPIPE, EROFS, EMLINK, EPIPE, EDOM, ERANGE,
    EDEADLK, ENAMETOOLONG, ENOLCK, ENOSYS, ENOTEMPTY, ELOOP, ENOMSG, EIDRM, ENODATA, ETIME,
    EOVERFLOW, EBADFD, ENOTSOCK, EDESTADDRREQ, EMSGSIZE, EPROTOTYPE, ENOPROTOOPT,
    EPROTONOSUPPORT, ESOCKTNOSUPPORT, EOPNOTSUPP, EPFNOSUPPORT, EAFNOSUPPORT, EADDRINUSE,
    EADDRNOTAVAIL, ENETDOWN, ENETUNREACH, ENETRESET, ECONNABORTED, ECONNRESET, ENOBUFS,
    EISCONN, ENOTCONN, ESHUTDOWN, ETIMEDOUT, ECONNREFUSED, EHOSTDOWN, EHOSTUNREACH,
    EALREADY, EINPROGRESS, ESTALE, EDQUOT, ECANCELED, EOWNERDEAD, ENOTRECOVERABLE,
);

impl Errno {
    /// Kernel-internal: restart the syscall if the signal handler has
    /// SA_RESTART (or no handler ran), else EINTR.
    pub const ERESTARTSYS: Errno = Errno(512);
    /// Kernel-internal: always restart unless a handler ran.
    pub const ERESTARTNOINTR: Errno = Errno(513);
    /// Kernel-internal: restart if no handler ran, else EINTR.
    pub const ERESTARTNOHAND: Errno = Errno(514);
    /// Kernel-internal: restart via restart_syscall (nanosleep and friends).
    pub const ERESTART_RESTARTBLOCK: Errno = Errno(516);

    /// The value the workload sees in rax: `-errno` as a u64.
    pub fn as_ret(self) -> u64 {
        (-(self.0 as i64)) as u64
    }

    /// From a host syscall's failure (`errno` after a libc call).
    pub fn last() -> Errno {
        Errno(std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO))
    }
}

impl From<std::io::Error> for Errno {
    fn from(e: std::io::Error) -> Self {
        Errno(e.raw_os_error().unwrap_or(libc::EIO))
    }
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "Errno({})", self.0),
        }
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl std::error::Error for Errno {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ret_encoding_is_negated() {
        assert_eq!(Errno::ENOENT.as_ret() as i64, -2);
        assert_eq!(Errno::ENOSYS.name(), Some("ENOSYS"));
        assert_eq!(format!("{:?}", Errno(9999)), "Errno(9999)");
    }
}
