//! Path-based operations other than open.

use std::sync::Arc;

use abi::{Errno, Stat, SysResult};

use super::walk::{check_path, Last};
use super::{Context, Vfs};
use crate::creds::{MAY_EXEC, MAY_WRITE};
use crate::dentry::Dentry;
use crate::mount::Location;
use crate::types::{is_dir, is_reg, is_symlink, Owner, SetAttr, StatFs, TimeSpec};

pub const RENAME_NOREPLACE: u32 = 1;
pub const RENAME_EXCHANGE: u32 = 2;
pub const RENAME_WHITEOUT: u32 = 4;

/// `UTIME_NOW` / `UTIME_OMIT` nsec markers.
pub const UTIME_NOW: i64 = (1 << 30) - 1;
pub const UTIME_OMIT: i64 = (1 << 30) - 2;

fn check_flags(flags: i32, allowed: i32) -> SysResult<()> {
    if flags & !allowed != 0 {
        Err(Errno::EINVAL)
    } else {
        Ok(())
    }
}

impl Vfs {
    pub(crate) fn check_writable_mount(loc: &Location) -> SysResult<()> {
        if loc.mount.flags().readonly {
            Err(Errno::EROFS)
        } else {
            Ok(())
        }
    }

    /// Owner of a new file in `parent` (BSD group semantics for setgid
    /// directories) and the mode adjusted for it.
    pub(crate) fn new_owner(ctx: &Context, parent: &Stat, mode: u32) -> (Owner, u32) {
        if parent.mode & libc::S_ISGID != 0 {
            let mut mode = mode;
            if mode & libc::S_IFMT == libc::S_IFDIR {
                mode |= libc::S_ISGID;
            }
            (Owner { uid: ctx.creds.fsuid, gid: parent.gid }, mode)
        } else {
            (Owner { uid: ctx.creds.fsuid, gid: ctx.creds.fsgid }, mode)
        }
    }

    /// Common prologue of mkdir/mknod/symlink/link targets: the parent
    /// and the new name, with EEXIST / EROFS / EACCES in Linux's order.
    fn prepare_create(&self, ctx: &Context, dir: Option<&Location>, path: &[u8], is_mkdir: bool) -> SysResult<(Location, Vec<u8>, Stat)> {
        let (parent, last, trailing) = self.lookup_parent(ctx, dir, path)?;
        let name = match last {
            Last::Normal(n) => n,
            _ => return Err(Errno::EEXIST),
        };
        if self.child_opt(ctx, &parent, &name)?.is_some() {
            return Err(Errno::EEXIST);
        }
        if trailing && !is_mkdir {
            return Err(Errno::ENOENT);
        }
        Self::check_writable_mount(&parent)?;
        let pst = parent.inode().stat()?;
        ctx.creds.check(&pst, MAY_WRITE | MAY_EXEC)?;
        Ok((parent, name, pst))
    }

    /// mkdirat(2).
    pub fn mkdir(&self, ctx: &Context, dir: Option<&Location>, path: &[u8], mode: u32) -> SysResult<()> {
        let (parent, name, pst) = self.prepare_create(ctx, dir, path, true)?;
        let (owner, mode) = Self::new_owner(ctx, &pst, libc::S_IFDIR | (mode & 0o7777 & !ctx.umask));
        let inode = parent.inode().mkdir(&name, mode & 0o7777, owner)?;
        parent.dentry.add_child(&name, inode);
        Ok(())
    }

    /// mknodat(2): regular files, fifos, character/block devices, sockets.
    pub fn mknod(&self, ctx: &Context, dir: Option<&Location>, path: &[u8], mode: u32, rdev: u64) -> SysResult<()> {
        let kind = if mode & libc::S_IFMT == 0 { libc::S_IFREG } else { mode & libc::S_IFMT };
        match kind {
            libc::S_IFREG | libc::S_IFIFO | libc::S_IFSOCK => {}
            libc::S_IFCHR | libc::S_IFBLK => {
                if !ctx.creds.is_privileged() {
                    // Resolve first so ENOENT/EEXIST still win, like Linux.
                    self.prepare_create(ctx, dir, path, false)?;
                    return Err(Errno::EPERM);
                }
            }
            libc::S_IFDIR => return Err(Errno::EPERM),
            _ => return Err(Errno::EINVAL),
        }
        let (parent, name, pst) = self.prepare_create(ctx, dir, path, false)?;
        let (owner, m) = Self::new_owner(ctx, &pst, kind | (mode & 0o7777 & !ctx.umask));
        let inode = if kind == libc::S_IFREG {
            parent.inode().create(&name, m & 0o7777, owner)?
        } else {
            parent.inode().mknod(&name, m, rdev, owner)?
        };
        parent.dentry.add_child(&name, inode);
        Ok(())
    }

    /// symlinkat(2).
    pub fn symlink(&self, ctx: &Context, target: &[u8], dir: Option<&Location>, path: &[u8]) -> SysResult<()> {
        if target.is_empty() {
            return Err(Errno::ENOENT);
        }
        check_path(target)?;
        let (parent, name, pst) = self.prepare_create(ctx, dir, path, false)?;
        let (owner, _) = Self::new_owner(ctx, &pst, libc::S_IFLNK);
        let inode = parent.inode().symlink(&name, target, owner)?;
        parent.dentry.add_child(&name, inode);
        Ok(())
    }

    /// linkat(2); `at_flags`: AT_SYMLINK_FOLLOW, AT_EMPTY_PATH.
    pub fn link(&self, ctx: &Context, odir: Option<&Location>, opath: &[u8], ndir: Option<&Location>, npath: &[u8], at_flags: i32) -> SysResult<()> {
        check_flags(at_flags, libc::AT_SYMLINK_FOLLOW | libc::AT_EMPTY_PATH)?;
        let follow = if at_flags & libc::AT_SYMLINK_FOLLOW != 0 { 0 } else { libc::AT_SYMLINK_NOFOLLOW };
        let old = self.lookup(ctx, odir, opath, follow | (at_flags & libc::AT_EMPTY_PATH))?;
        let ost = old.inode().stat()?;
        if is_dir(&ost) {
            return Err(Errno::EPERM);
        }
        let (parent, last, trailing) = self.lookup_parent(ctx, ndir, npath)?;
        let name = match last {
            Last::Normal(n) => n,
            _ => return Err(Errno::EEXIST),
        };
        if self.child_opt(ctx, &parent, &name)?.is_some() {
            return Err(Errno::EEXIST);
        }
        if trailing {
            return Err(Errno::ENOENT);
        }
        if !Arc::ptr_eq(&old.mount, &parent.mount) {
            return Err(Errno::EXDEV);
        }
        Self::check_writable_mount(&parent)?;
        ctx.creds.check(&parent.inode().stat()?, MAY_WRITE | MAY_EXEC)?;
        // A file without links can only get one back if it is an O_TMPFILE
        // file opened without O_EXCL, and only once (Linux's I_LINKABLE).
        if ost.nlink == 0 && !old.dentry.is_linkable() {
            return Err(Errno::ENOENT);
        }
        parent.inode().link(&name, old.inode())?;
        old.dentry.set_linkable(false);
        parent.dentry.add_child(&name, old.inode().clone());
        Ok(())
    }

    /// Sticky-directory and permission checks for removing `child` from
    /// `parent` (Linux's `may_delete`).
    fn may_delete(ctx: &Context, parent: &Location, child: &Location) -> SysResult<()> {
        let pst = parent.inode().stat()?;
        ctx.creds.check(&pst, MAY_WRITE | MAY_EXEC)?;
        if pst.mode & libc::S_ISVTX != 0 {
            let cst = child.inode().stat()?;
            if !ctx.creds.is_privileged() && ctx.creds.fsuid != pst.uid && ctx.creds.fsuid != cst.uid {
                return Err(Errno::EPERM);
            }
        }
        Ok(())
    }

    /// unlinkat(2) without AT_REMOVEDIR.
    pub fn unlink(&self, ctx: &Context, dir: Option<&Location>, path: &[u8]) -> SysResult<()> {
        let (parent, last, trailing) = self.lookup_parent(ctx, dir, path)?;
        let name = match last {
            Last::Normal(n) => n,
            _ => return Err(Errno::EISDIR),
        };
        Self::check_writable_mount(&parent)?;
        let child = self.step(ctx, &parent, &name)?;
        let cst = child.inode().stat()?;
        if trailing {
            return Err(if is_dir(&cst) { Errno::EISDIR } else { Errno::ENOTDIR });
        }
        Self::may_delete(ctx, &parent, &child)?;
        if is_dir(&cst) {
            return Err(Errno::EISDIR);
        }
        if self.is_busy(&child) {
            return Err(Errno::EBUSY);
        }
        parent.inode().unlink(&name)?;
        parent.dentry.remove_child(&name);
        child.dentry.mark_deleted();
        Ok(())
    }

    /// unlinkat(2) with AT_REMOVEDIR, rmdir(2).
    pub fn rmdir(&self, ctx: &Context, dir: Option<&Location>, path: &[u8]) -> SysResult<()> {
        let (parent, last, _) = self.lookup_parent(ctx, dir, path)?;
        let name = match last {
            Last::Normal(n) => n,
            Last::Dot => return Err(Errno::EINVAL),
            Last::DotDot => return Err(Errno::ENOTEMPTY),
            Last::Root => return Err(Errno::EBUSY),
        };
        Self::check_writable_mount(&parent)?;
        let child = self.step(ctx, &parent, &name)?;
        let cst = child.inode().stat()?;
        Self::may_delete(ctx, &parent, &child)?;
        if !is_dir(&cst) {
            return Err(Errno::ENOTDIR);
        }
        if self.is_busy(&child) || child == ctx.root {
            return Err(Errno::EBUSY);
        }
        parent.inode().rmdir(&name)?;
        parent.dentry.remove_child(&name);
        child.dentry.mark_deleted();
        Ok(())
    }

    /// renameat2(2).
    pub fn rename(&self, ctx: &Context, odir: Option<&Location>, opath: &[u8], ndir: Option<&Location>, npath: &[u8], flags: u32) -> SysResult<()> {
        if flags & !(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT) != 0 {
            return Err(Errno::EINVAL);
        }
        if flags & RENAME_EXCHANGE != 0 && flags & (RENAME_NOREPLACE | RENAME_WHITEOUT) != 0 {
            return Err(Errno::EINVAL);
        }
        if flags & RENAME_WHITEOUT != 0 {
            return Err(if ctx.creds.is_privileged() { Errno::EINVAL } else { Errno::EPERM });
        }
        let exchange = flags & RENAME_EXCHANGE != 0;
        let (op, olast, otrail) = self.lookup_parent(ctx, odir, opath)?;
        let (np, nlast, ntrail) = self.lookup_parent(ctx, ndir, npath)?;
        let oname = match olast {
            Last::Normal(n) => n,
            _ => return Err(Errno::EBUSY),
        };
        let nname = match nlast {
            Last::Normal(n) => n,
            _ => return Err(if flags & RENAME_NOREPLACE != 0 { Errno::EEXIST } else { Errno::EBUSY }),
        };
        if !Arc::ptr_eq(&op.mount, &np.mount) {
            return Err(Errno::EXDEV);
        }
        Self::check_writable_mount(&op)?;
        let old = self.step(ctx, &op, &oname)?;
        let ost = old.inode().stat()?;
        let new = self.child_opt(ctx, &np, &nname)?;
        let nst = match &new {
            Some(n) => Some(n.inode().stat()?),
            None => None,
        };
        if flags & RENAME_NOREPLACE != 0 && new.is_some() {
            return Err(Errno::EEXIST);
        }
        if exchange && new.is_none() {
            return Err(Errno::ENOENT);
        }
        let odir_is = is_dir(&ost);
        if (otrail || (ntrail && !exchange)) && !odir_is {
            return Err(Errno::ENOTDIR);
        }
        if ntrail && exchange && nst.as_ref().is_some_and(|s| !is_dir(s)) {
            return Err(Errno::ENOTDIR);
        }
        // Same file: nothing to do (Linux returns 0 for hard links too).
        if let (Some(n), Some(ns)) = (&new, &nst) {
            if ns.ino == ost.ino && ns.dev == ost.dev {
                let _ = n;
                return Ok(());
            }
        }
        // Moving a directory under itself.
        if Arc::ptr_eq(&op.mount, &np.mount) {
            if np.dentry.is_descendant_of(&old.dentry) {
                return Err(Errno::EINVAL);
            }
            if let Some(n) = &new {
                if op.dentry.is_descendant_of(&n.dentry) {
                    return Err(if exchange { Errno::EINVAL } else { Errno::ENOTEMPTY });
                }
            }
        }
        Self::may_delete(ctx, &op, &old)?;
        match &new {
            Some(n) => Self::may_delete(ctx, &np, n)?,
            None => ctx.creds.check(&np.inode().stat()?, MAY_WRITE | MAY_EXEC)?,
        }
        let same_parent = op == np;
        if !same_parent {
            if odir_is {
                ctx.creds.check(&ost, MAY_WRITE)?;
            }
            if exchange && nst.as_ref().is_some_and(is_dir) {
                ctx.creds.check(nst.as_ref().unwrap_or(&ost), MAY_WRITE)?;
            }
        }
        if let Some(ns) = &nst {
            if !exchange {
                if odir_is && !is_dir(ns) {
                    return Err(Errno::ENOTDIR);
                }
                if !odir_is && is_dir(ns) {
                    return Err(Errno::EISDIR);
                }
            }
        }
        if self.is_busy(&old) || new.as_ref().is_some_and(|n| self.is_busy(n)) {
            return Err(Errno::EBUSY);
        }
        if old == ctx.root {
            return Err(Errno::EBUSY);
        }
        op.inode().rename(&oname, np.inode(), &nname, flags)?;
        Dentry::moved(&op.dentry, &oname, &np.dentry, &nname, exchange);
        Ok(())
    }

    /// readlinkat(2): the whole target (the Sentry truncates to bufsiz).
    pub fn readlink(&self, ctx: &Context, dir: Option<&Location>, path: &[u8]) -> SysResult<Vec<u8>> {
        let loc = self.lookup(ctx, dir, path, libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH)?;
        let st = loc.inode().stat()?;
        if !is_symlink(&st) {
            return Err(Errno::EINVAL);
        }
        loc.inode().readlink(ctx)
    }

    /// newfstatat(2) / statx(2) basics; `at_flags`: AT_SYMLINK_NOFOLLOW,
    /// AT_EMPTY_PATH, AT_NO_AUTOMOUNT, AT_STATX_*.
    pub fn stat(&self, ctx: &Context, dir: Option<&Location>, path: &[u8], at_flags: i32) -> SysResult<Stat> {
        check_flags(at_flags, libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH | libc::AT_NO_AUTOMOUNT | libc::AT_STATX_SYNC_TYPE)?;
        self.lookup(ctx, dir, path, at_flags)?.inode().stat()
    }

    /// faccessat2(2): `mode` is F_OK or R_OK|W_OK|X_OK; `at_flags`:
    /// AT_EACCESS, AT_SYMLINK_NOFOLLOW, AT_EMPTY_PATH.
    pub fn access(&self, ctx: &Context, dir: Option<&Location>, path: &[u8], mode: u32, at_flags: i32) -> SysResult<()> {
        if mode & !7 != 0 {
            return Err(Errno::EINVAL);
        }
        check_flags(at_flags, libc::AT_EACCESS | libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH)?;
        let mut c = ctx.clone();
        if at_flags & libc::AT_EACCESS == 0 {
            c.creds = ctx.creds.for_access();
        }
        let loc = self.lookup(&c, dir, path, at_flags & !libc::AT_EACCESS)?;
        if mode == 0 {
            return Ok(());
        }
        let st = loc.inode().stat()?;
        if mode & MAY_WRITE != 0 && loc.mount.flags().readonly && (is_reg(&st) || is_dir(&st) || is_symlink(&st)) {
            return Err(Errno::EROFS);
        }
        c.creds.check(&st, mode)
    }

    /// Apply `attr` at `loc` (after the caller's checks).
    fn setattr_at(loc: &Location, attr: &SetAttr) -> SysResult<Stat> {
        Self::check_writable_mount(loc)?;
        loc.inode().setattr(attr)
    }

    /// fchmodat(2) / fchmod (pass the file's location with AT_EMPTY_PATH).
    pub fn chmod(&self, ctx: &Context, dir: Option<&Location>, path: &[u8], mode: u32, at_flags: i32) -> SysResult<()> {
        check_flags(at_flags, libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH)?;
        let loc = self.lookup(ctx, dir, path, at_flags)?;
        self.chmod_at(ctx, &loc, mode)
    }

    /// chmod of a resolved location (fchmod).
    pub fn chmod_at(&self, ctx: &Context, loc: &Location, mode: u32) -> SysResult<()> {
        let st = loc.inode().stat()?;
        if is_symlink(&st) {
            return Err(Errno::EOPNOTSUPP);
        }
        Self::check_writable_mount(loc)?;
        if !ctx.creds.owns(&st) {
            return Err(Errno::EPERM);
        }
        let mut mode = mode & 0o7777;
        if !ctx.creds.is_privileged() && !ctx.creds.in_group(st.gid) {
            mode &= !libc::S_ISGID;
        }
        Self::setattr_at(loc, &SetAttr { mode: Some(mode), ..Default::default() }).map(|_| ())
    }

    /// fchownat(2); `uid`/`gid` of -1 (u32::MAX) mean unchanged.
    pub fn chown(&self, ctx: &Context, dir: Option<&Location>, path: &[u8], uid: u32, gid: u32, at_flags: i32) -> SysResult<()> {
        check_flags(at_flags, libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH)?;
        let loc = self.lookup(ctx, dir, path, at_flags)?;
        self.chown_at(ctx, &loc, uid, gid)
    }

    /// chown of a resolved location (fchown).
    pub fn chown_at(&self, ctx: &Context, loc: &Location, uid: u32, gid: u32) -> SysResult<()> {
        let st = loc.inode().stat()?;
        let uid = (uid != u32::MAX).then_some(uid);
        let gid = (gid != u32::MAX).then_some(gid);
        Self::check_writable_mount(loc)?;
        if !ctx.creds.is_privileged() {
            if uid.is_some_and(|u| u != st.uid) {
                return Err(Errno::EPERM);
            }
            if let Some(g) = gid {
                if ctx.creds.fsuid != st.uid || (g != st.gid && !ctx.creds.in_group(g)) {
                    return Err(Errno::EPERM);
                }
            }
            if uid.is_some() && ctx.creds.fsuid != st.uid {
                return Err(Errno::EPERM);
            }
        }
        let mut attr = SetAttr { uid, gid, ..Default::default() };
        if (uid.is_some() || gid.is_some()) && !is_dir(&st) && !is_symlink(&st) {
            // Changing owner clears set-user-ID, and set-group-ID when
            // group execute is set.
            let mut m = st.mode & 0o7777 & !libc::S_ISUID;
            if m & 0o010 != 0 {
                m &= !libc::S_ISGID;
            }
            if m != st.mode & 0o7777 {
                attr.mode = Some(m);
            }
        }
        Self::setattr_at(loc, &attr).map(|_| ())
    }

    /// utimensat(2): `times` None = both now; nsec may be UTIME_NOW/OMIT.
    pub fn utimens(&self, ctx: &Context, dir: Option<&Location>, path: &[u8], times: Option<[TimeSpec; 2]>, at_flags: i32) -> SysResult<()> {
        check_flags(at_flags, libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH)?;
        let loc = self.lookup(ctx, dir, path, at_flags)?;
        self.utimens_at(ctx, &loc, times)
    }

    /// utimens of a resolved location (futimens).
    pub fn utimens_at(&self, ctx: &Context, loc: &Location, times: Option<[TimeSpec; 2]>) -> SysResult<()> {
        let now = TimeSpec::now();
        let t = times.unwrap_or([TimeSpec { sec: 0, nsec: UTIME_NOW }; 2]);
        for x in &t {
            if x.nsec != UTIME_NOW && x.nsec != UTIME_OMIT && !(0..1_000_000_000).contains(&x.nsec) {
                return Err(Errno::EINVAL);
            }
        }
        let conv = |x: TimeSpec| match x.nsec {
            UTIME_OMIT => None,
            UTIME_NOW => Some(now),
            _ => Some(x),
        };
        let (a, m) = (conv(t[0]), conv(t[1]));
        if a.is_none() && m.is_none() {
            return Ok(());
        }
        Self::check_writable_mount(loc)?;
        let st = loc.inode().stat()?;
        let only_now = t.iter().all(|x| x.nsec == UTIME_NOW || x.nsec == UTIME_OMIT);
        if !ctx.creds.owns(&st) {
            if !only_now {
                return Err(Errno::EPERM);
            }
            ctx.creds.check(&st, MAY_WRITE)?;
        }
        Self::setattr_at(loc, &SetAttr { atime: a, mtime: m, ..Default::default() }).map(|_| ())
    }

    /// truncate(2) (follows symlinks).
    pub fn truncate(&self, ctx: &Context, dir: Option<&Location>, path: &[u8], size: i64) -> SysResult<()> {
        if size < 0 {
            return Err(Errno::EINVAL);
        }
        let loc = self.lookup(ctx, dir, path, 0)?;
        let st = loc.inode().stat()?;
        if is_dir(&st) {
            return Err(Errno::EISDIR);
        }
        if !is_reg(&st) {
            return Err(Errno::EINVAL);
        }
        ctx.creds.check(&st, MAY_WRITE)?;
        Self::setattr_at(&loc, &SetAttr { size: Some(size as u64), ..Default::default() }).map(|_| ())
    }

    /// statfs(2) / fstatfs (AT_EMPTY_PATH with the file's location).
    pub fn statfs(&self, ctx: &Context, dir: Option<&Location>, path: &[u8], at_flags: i32) -> SysResult<StatFs> {
        let loc = self.lookup(ctx, dir, path, at_flags & libc::AT_EMPTY_PATH)?;
        Self::statfs_at(&loc)
    }

    /// statfs of a resolved location.
    pub fn statfs_at(loc: &Location) -> SysResult<StatFs> {
        let mut s = loc.mount.root.inode().statfs().or_else(|_| loc.inode().statfs())?;
        s.flags = loc.mount.flags().st_flags() | 0x0020;
        Ok(s)
    }

    /// chdir(2)/fchdir: the new cwd, after ENOTDIR and search checks.
    pub fn chdir(&self, ctx: &Context, dir: Option<&Location>, path: &[u8], at_flags: i32) -> SysResult<Location> {
        let loc = self.lookup(ctx, dir, path, at_flags & libc::AT_EMPTY_PATH)?;
        let st = loc.inode().stat()?;
        if !is_dir(&st) {
            return Err(Errno::ENOTDIR);
        }
        ctx.creds.check(&st, MAY_EXEC)?;
        Ok(loc)
    }
}
