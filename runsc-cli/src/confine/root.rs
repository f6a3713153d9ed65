//! An empty root for a confined process: a new mount namespace, and a
//! chroot into a fresh, empty, read-only tmpfs that is mounted nowhere
//! (made with fsopen/fsmount, so it needs no mount point). The fds the
//! process already holds keep working; no host path can be named any more.

use std::io;

const FSOPEN_CLOEXEC: libc::c_long = 1;
const FSCONFIG_SET_STRING: libc::c_long = 1;
const FSCONFIG_CMD_CREATE: libc::c_long = 6;
const FSMOUNT_CLOEXEC: libc::c_long = 1;
const MOUNT_ATTR_RDONLY: libc::c_long = 0x1;
const MOUNT_ATTR_NOSUID: libc::c_long = 0x2;
const MOUNT_ATTR_NODEV: libc::c_long = 0x4;
const MOUNT_ATTR_NOEXEC: libc::c_long = 0x8;

/// A step of [`enter_empty_root`] that failed, and how.
#[derive(Debug)]
pub struct StepError {
    pub step: &'static str,
    pub err: io::Error,
}

impl std::fmt::Display for StepError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.step, self.err)
    }
}

fn check(step: &'static str, r: libc::c_long) -> Result<libc::c_long, StepError> {
    if r < 0 {
        return Err(StepError { step, err: io::Error::last_os_error() });
    }
    Ok(r)
}

/// Close `fd` (a raw fd this module made) when dropped.
struct Fd(libc::c_long);

impl Drop for Fd {
    fn drop(&mut self) {
        // SAFETY: the fd is ours and closed once.
        unsafe { libc::close(self.0 as i32) };
    }
}

/// Enter a new mount namespace whose root, for this process, is empty.
pub fn enter_empty_root() -> Result<(), StepError> {
    // SAFETY: unshare takes no pointers; the new namespace is this
    // process's only.
    check("unshare(CLONE_NEWNS)", unsafe { libc::unshare(libc::CLONE_NEWNS) } as libc::c_long)?;
    // SAFETY: the strings are NUL-terminated literals; the other arguments
    // are integers or null as the fs* calls allow.
    unsafe {
        let fs = Fd(check("fsopen(tmpfs)", libc::syscall(libc::SYS_fsopen, c"tmpfs".as_ptr(), FSOPEN_CLOEXEC))?);
        for (k, v) in [(c"mode", c"0555"), (c"size", c"4k"), (c"nr_inodes", c"1")] {
            check("fsconfig", libc::syscall(libc::SYS_fsconfig, fs.0, FSCONFIG_SET_STRING, k.as_ptr(), v.as_ptr(), 0 as libc::c_long))?;
        }
        check("fsconfig(create)", libc::syscall(libc::SYS_fsconfig, fs.0, FSCONFIG_CMD_CREATE, std::ptr::null::<u8>(), std::ptr::null::<u8>(), 0 as libc::c_long))?;
        let attrs = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;
        let mnt = Fd(check("fsmount", libc::syscall(libc::SYS_fsmount, fs.0, FSMOUNT_CLOEXEC, attrs))?);
        check("fchdir(empty root)", libc::fchdir(mnt.0 as i32) as libc::c_long)?;
        check("chroot", libc::chroot(c".".as_ptr()) as libc::c_long)?;
        check("chdir(/)", libc::chdir(c"/".as_ptr()) as libc::c_long)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::confine::seccomp::tests::in_child;

    #[test]
    fn the_empty_root_names_nothing_but_held_fds_work() {
        // SAFETY: geteuid has no arguments.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: needs root (CAP_SYS_ADMIN, CAP_SYS_CHROOT)");
            return;
        }
        let st = in_child(|| {
            // SAFETY: literals are NUL-terminated; the buffers are live.
            unsafe {
                let etc = libc::open(c"/etc".as_ptr(), libc::O_PATH | libc::O_DIRECTORY);
                if etc < 0 || super::enter_empty_root().is_err() {
                    return 2;
                }
                if libc::open(c"/etc/passwd".as_ptr(), libc::O_RDONLY) >= 0 || libc::open(c"/proc/self".as_ptr(), libc::O_PATH) >= 0 {
                    return 3;
                }
                if libc::mkdir(c"/x".as_ptr(), 0o755) == 0 {
                    return 4;
                }
                if libc::openat(etc, c"passwd".as_ptr(), libc::O_RDONLY) < 0 {
                    return 5;
                }
                let d = libc::opendir(c"/".as_ptr());
                if d.is_null() {
                    return 6;
                }
                let mut n = 0;
                while !libc::readdir(d).is_null() {
                    n += 1;
                }
                if n != 2 {
                    return 7;
                }
            }
            0
        });
        assert!(libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 0, "status {st:#x}");
    }
}
