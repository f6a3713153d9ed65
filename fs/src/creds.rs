//! Credentials and DAC permission checks (`generic_permission`).

use abi::{Errno, Stat, SysResult};

/// `MAY_EXEC`, `MAY_WRITE`, `MAY_READ` as in Linux (same values as X_OK,
/// W_OK, R_OK).
pub const MAY_EXEC: u32 = 1;
pub const MAY_WRITE: u32 = 2;
pub const MAY_READ: u32 = 4;

/// The credentials of the calling task as far as files are concerned.
///
/// Privilege model: an fsuid of 0 stands for CAP_DAC_OVERRIDE,
/// CAP_FOWNER and CAP_CHOWN (the Sentry does not model capability sets
/// for files yet).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Creds {
    pub uid: u32,
    pub gid: u32,
    pub euid: u32,
    pub egid: u32,
    pub fsuid: u32,
    pub fsgid: u32,
    /// Supplementary groups.
    pub groups: Vec<u32>,
}

impl Creds {
    /// Root with every id 0.
    pub fn root() -> Creds {
        Creds::default()
    }

    /// All ids set to `uid`/`gid`, no supplementary groups.
    pub fn user(uid: u32, gid: u32) -> Creds {
        Creds { uid, gid, euid: uid, egid: gid, fsuid: uid, fsgid: gid, groups: vec![] }
    }

    /// Whether the caller bypasses DAC (CAP_DAC_OVERRIDE).
    pub fn is_privileged(&self) -> bool {
        self.fsuid == 0
    }

    /// Whether `gid` is the fsgid or a supplementary group.
    pub fn in_group(&self, gid: u32) -> bool {
        self.fsgid == gid || self.groups.contains(&gid)
    }

    /// Owner check for chmod/utimes/sticky (CAP_FOWNER for root).
    pub fn owns(&self, st: &Stat) -> bool {
        self.is_privileged() || self.fsuid == st.uid
    }

    /// The credentials `access(2)` uses: real ids in place of fs ids
    /// (unless AT_EACCESS).
    pub fn for_access(&self) -> Creds {
        Creds { fsuid: self.uid, fsgid: self.gid, ..self.clone() }
    }

    /// Linux's `generic_permission`: `mask` is a MAY_* combination.
    pub fn check(&self, st: &Stat, mask: u32) -> SysResult<()> {
        let mode = st.mode;
        if self.is_privileged() {
            let is_dir = mode & libc::S_IFMT == libc::S_IFDIR;
            if mask & MAY_EXEC != 0 && !is_dir && mode & 0o111 == 0 {
                return Err(Errno::EACCES);
            }
            return Ok(());
        }
        let bits = if self.fsuid == st.uid {
            (mode >> 6) & 7
        } else if self.in_group(st.gid) {
            (mode >> 3) & 7
        } else {
            mode & 7
        };
        if bits & mask == mask {
            Ok(())
        } else {
            Err(Errno::EACCES)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(mode: u32, uid: u32, gid: u32) -> Stat {
        Stat { mode, uid, gid, ..Default::default() }
    }

    #[test]
    fn owner_group_other() {
        let f = st(libc::S_IFREG | 0o640, 1000, 100);
        assert!(Creds::user(1000, 5).check(&f, MAY_READ | MAY_WRITE).is_ok());
        assert_eq!(Creds::user(1000, 5).check(&f, MAY_EXEC), Err(Errno::EACCES));
        assert!(Creds::user(1001, 100).check(&f, MAY_READ).is_ok());
        assert_eq!(Creds::user(1001, 100).check(&f, MAY_WRITE), Err(Errno::EACCES));
        let mut c = Creds::user(1002, 7);
        assert_eq!(c.check(&f, MAY_READ), Err(Errno::EACCES));
        c.groups.push(100);
        assert!(c.check(&f, MAY_READ).is_ok());
        // Owner class applies even when "other" would allow more.
        let g = st(libc::S_IFREG | 0o047, 1000, 100);
        assert_eq!(Creds::user(1000, 5).check(&g, MAY_READ), Err(Errno::EACCES));
    }

    #[test]
    fn root_bypasses_but_needs_an_x_bit() {
        let f = st(libc::S_IFREG, 1, 1);
        assert!(Creds::root().check(&f, MAY_READ | MAY_WRITE).is_ok());
        assert_eq!(Creds::root().check(&f, MAY_EXEC), Err(Errno::EACCES));
        let d = st(libc::S_IFDIR, 1, 1);
        assert!(Creds::root().check(&d, MAY_EXEC).is_ok());
    }
}
