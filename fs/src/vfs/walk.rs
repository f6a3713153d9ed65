//! Path walking: one component at a time, symlinks resolved here.

use std::sync::Arc;

use abi::{Errno, SysResult};

use super::{Context, Vfs};
use crate::anon::FileInode;
use crate::creds::MAY_EXEC;
use crate::inode::LinkTarget;
use crate::mount::Location;
use crate::types::{is_dir, is_symlink};

/// Longest path accepted, including the terminating NUL.
pub const PATH_MAX: usize = 4096;
/// Longest name component.
pub const NAME_MAX: usize = 255;
/// Most symlinks followed in one walk.
pub const MAXSYMLINKS: u32 = 40;

/// The last component of a path, for operations on a parent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Last {
    Normal(Vec<u8>),
    Dot,
    DotDot,
    /// The path was only slashes ("/").
    Root,
}

/// Split into non-empty components.
fn components(path: &[u8]) -> Vec<&[u8]> {
    path.split(|&b| b == b'/').filter(|c| !c.is_empty()).collect()
}

pub(crate) fn check_path(path: &[u8]) -> SysResult<()> {
    if path.len() >= PATH_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    Ok(())
}

impl Vfs {
    fn start(&self, ctx: &Context, dir: Option<&Location>, path: &[u8]) -> Location {
        if path.first() == Some(&b'/') {
            ctx.root.clone()
        } else {
            dir.cloned().unwrap_or_else(|| ctx.cwd.clone())
        }
    }

    /// One step from directory `cur` (search permission checked here).
    pub(crate) fn step(&self, ctx: &Context, cur: &Location, name: &[u8]) -> SysResult<Location> {
        let st = cur.inode().stat()?;
        if !is_dir(&st) {
            return Err(Errno::ENOTDIR);
        }
        ctx.creds.check(&st, MAY_EXEC)?;
        if name.len() > NAME_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        let next = match name {
            b"." => cur.clone(),
            b".." => {
                if ctx.resolve.beneath.as_ref() == Some(cur) {
                    return Err(Errno::EXDEV);
                }
                self.dotdot(ctx, cur)
            }
            _ => {
                let d = cur.dentry.child(name)?;
                self.follow_mounts(Location::new(cur.mount.clone(), d))
            }
        };
        if ctx.resolve.no_xdev && !Arc::ptr_eq(&next.mount, &cur.mount) {
            return Err(Errno::EXDEV);
        }
        Ok(next)
    }

    /// "..": never above `ctx.root`, across mount roots to the mountpoint.
    pub(crate) fn dotdot(&self, ctx: &Context, cur: &Location) -> Location {
        let mut cur = cur.clone();
        loop {
            if cur == ctx.root {
                return cur;
            }
            if !cur.is_mount_root() {
                let p = cur.dentry.parent().unwrap_or_else(|| cur.dentry.clone());
                return self.follow_mounts(Location::new(cur.mount.clone(), p));
            }
            match cur.mount.parent.clone() {
                Some((pm, pd)) => cur = Location::new(pm, pd),
                None => return cur,
            }
        }
    }

    /// Follow the symlink at `link` (whose parent is `parent`).
    pub(crate) fn follow(&self, ctx: &Context, parent: &Location, link: &Location, hops: &mut u32) -> SysResult<Location> {
        *hops += 1;
        if *hops > MAXSYMLINKS || ctx.resolve.no_symlinks {
            return Err(Errno::ELOOP);
        }
        let target = link.inode().follow_link(ctx)?;
        if !matches!(target, LinkTarget::Path(_)) {
            if ctx.resolve.no_magiclinks {
                return Err(Errno::ELOOP);
            }
            if ctx.resolve.scoped {
                return Err(Errno::EXDEV);
            }
        }
        match target {
            LinkTarget::Path(t) => {
                if t.is_empty() {
                    return Err(Errno::ENOENT);
                }
                self.walk(ctx, parent.clone(), &t, true, hops)
            }
            LinkTarget::Location(l) => Ok(l),
            LinkTarget::File(f) => Ok(self.anon_location(Arc::new(FileInode::new(&f)), &f.ops().proc_name().unwrap_or_default().into_bytes())),
        }
    }

    /// Walk `path` from `start` (or `ctx.root` when absolute). A trailing
    /// slash requires a directory and follows a final symlink.
    pub(crate) fn walk(&self, ctx: &Context, start: Location, path: &[u8], follow_last: bool, hops: &mut u32) -> SysResult<Location> {
        check_path(path)?;
        if path.is_empty() {
            return Err(Errno::ENOENT);
        }
        if path[0] == b'/' && ctx.resolve.beneath.is_some() {
            return Err(Errno::EXDEV);
        }
        let mut cur = if path[0] == b'/' { ctx.root.clone() } else { start };
        let comps = components(path);
        let trailing = path.last() == Some(&b'/');
        for (i, c) in comps.iter().enumerate() {
            let last = i + 1 == comps.len();
            let next = self.step(ctx, &cur, c)?;
            let st = next.inode().stat()?;
            if is_symlink(&st) && (!last || follow_last || trailing) {
                cur = self.follow(ctx, &cur, &next, hops)?;
            } else {
                cur = next;
            }
        }
        if trailing && !cur.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        Ok(cur)
    }

    /// Resolve a whole path. `at_flags`: AT_SYMLINK_NOFOLLOW, AT_EMPTY_PATH
    /// (an empty path then means `dir` itself).
    pub fn lookup(&self, ctx: &Context, dir: Option<&Location>, path: &[u8], at_flags: i32) -> SysResult<Location> {
        if path.is_empty() {
            if at_flags & libc::AT_EMPTY_PATH != 0 {
                return Ok(dir.cloned().unwrap_or_else(|| ctx.cwd.clone()));
            }
            return Err(Errno::ENOENT);
        }
        let start = self.start(ctx, dir, path);
        let mut hops = 0;
        self.walk(ctx, start, path, at_flags & libc::AT_SYMLINK_NOFOLLOW == 0, &mut hops)
    }

    /// Resolve all but the last component. Returns the parent, the last
    /// component, and whether the path had a trailing slash.
    pub fn lookup_parent(&self, ctx: &Context, dir: Option<&Location>, path: &[u8]) -> SysResult<(Location, Last, bool)> {
        let mut hops = 0;
        self.parent_with_hops(ctx, dir.cloned().unwrap_or_else(|| ctx.cwd.clone()), path, &mut hops)
    }

    pub(crate) fn parent_with_hops(&self, ctx: &Context, start: Location, path: &[u8], hops: &mut u32) -> SysResult<(Location, Last, bool)> {
        check_path(path)?;
        if path.is_empty() {
            return Err(Errno::ENOENT);
        }
        if path[0] == b'/' && ctx.resolve.beneath.is_some() {
            return Err(Errno::EXDEV);
        }
        let start = if path[0] == b'/' { ctx.root.clone() } else { start };
        let trailing = path.last() == Some(&b'/');
        let comps = components(path);
        let Some((last, init)) = comps.split_last() else {
            return Ok((start, Last::Root, trailing));
        };
        let mut cur = start;
        for c in init {
            let next = self.step(ctx, &cur, c)?;
            let st = next.inode().stat()?;
            cur = if is_symlink(&st) { self.follow(ctx, &cur, &next, hops)? } else { next };
        }
        let st = cur.inode().stat()?;
        if !is_dir(&st) {
            return Err(Errno::ENOTDIR);
        }
        // Nothing can be created in (or looked up below) a removed
        // directory, e.g. a cwd that was rmdir'ed.
        if cur.dentry.is_deleted() {
            return Err(Errno::ENOENT);
        }
        if last.len() > NAME_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        let l = match *last {
            b"." => Last::Dot,
            b".." => Last::DotDot,
            n => Last::Normal(n.to_vec()),
        };
        Ok((cur, l, trailing))
    }

    /// The child `name` of `parent` if it exists (search permission
    /// checked), mounts followed.
    pub(crate) fn child_opt(&self, ctx: &Context, parent: &Location, name: &[u8]) -> SysResult<Option<Location>> {
        match self.step(ctx, parent, name) {
            Ok(l) => Ok(Some(l)),
            Err(Errno::ENOENT) => Ok(None),
            Err(e) => Err(e),
        }
    }
}
