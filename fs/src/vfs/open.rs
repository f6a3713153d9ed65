//! open(2) / openat2-less openat(2).

use std::sync::Arc;

use abi::{Errno, SysResult};

use super::walk::Last;
use super::{Context, Vfs};
use crate::anon::PathOps;
use crate::creds::{MAY_EXEC, MAY_READ, MAY_WRITE};
use crate::dentry::Dentry;
use crate::dirent::DirFile;
use crate::file::{File, FileOps};
use crate::mount::Location;
use crate::types::{is_dir, is_reg, is_symlink, SetAttr};

const O_TMPFILE_BITS: i32 = libc::O_TMPFILE & !libc::O_DIRECTORY;

impl Vfs {
    /// openat(2). `mode` is used with O_CREAT/O_TMPFILE (umask applied
    /// here). O_CLOEXEC is the fd table's business and ignored.
    ///
    /// A fifo opened without O_NONBLOCK may need to wait for its peer:
    /// check `File::open_ready` and block in the Sentry.
    pub fn open(&self, ctx: &Context, dir: Option<&Location>, path: &[u8], flags: i32, mode: u32) -> SysResult<Arc<File>> {
        if flags & libc::O_PATH != 0 {
            let loc = self.lookup(ctx, dir, path, if flags & libc::O_NOFOLLOW != 0 { libc::AT_SYMLINK_NOFOLLOW } else { 0 })?;
            if flags & libc::O_DIRECTORY != 0 && !loc.is_dir() {
                return Err(Errno::ENOTDIR);
            }
            let ops = Arc::new(PathOps { inode: loc.inode().clone() });
            return Ok(File::new(ops, libc::O_PATH | (flags & libc::O_DIRECTORY), Some(loc)));
        }
        if flags & O_TMPFILE_BITS != 0 {
            return self.open_tmpfile(ctx, dir, path, flags, mode);
        }
        let (loc, created) = if flags & libc::O_CREAT != 0 {
            self.open_create(ctx, dir, path, flags, mode)?
        } else {
            let nofollow = flags & libc::O_NOFOLLOW != 0;
            let loc = self.lookup(ctx, dir, path, if nofollow { libc::AT_SYMLINK_NOFOLLOW } else { 0 })?;
            (loc, false)
        };
        self.open_resolved(ctx, loc, created, flags)
    }

    /// Open what `loc` names (no path walk), with open(2)'s checks: for
    /// reopening a location held by an O_PATH descriptor (execveat,
    /// /proc/self/fd). O_CREAT/O_TMPFILE/O_PATH make no sense here (EINVAL).
    pub fn open_location(&self, ctx: &Context, loc: Location, flags: i32) -> SysResult<Arc<File>> {
        if flags & (libc::O_CREAT | libc::O_PATH | O_TMPFILE_BITS) != 0 {
            return Err(Errno::EINVAL);
        }
        self.open_resolved(ctx, loc, false, flags)
    }

    fn open_resolved(&self, ctx: &Context, loc: Location, created: bool, flags: i32) -> SysResult<Arc<File>> {
        let acc = flags & libc::O_ACCMODE;
        let st = loc.inode().stat()?;
        if is_symlink(&st) {
            return Err(Errno::ELOOP);
        }
        if flags & libc::O_DIRECTORY != 0 && !is_dir(&st) {
            return Err(Errno::ENOTDIR);
        }
        let wants_write = acc != libc::O_RDONLY || flags & libc::O_TRUNC != 0;
        if is_dir(&st) && (acc != libc::O_RDONLY || flags & libc::O_CREAT != 0) {
            return Err(Errno::EISDIR);
        }
        if !created {
            let mut mask = 0;
            if acc == libc::O_RDONLY || acc == libc::O_RDWR || acc == libc::O_ACCMODE {
                mask |= MAY_READ;
            }
            if wants_write || acc == libc::O_ACCMODE {
                mask |= MAY_WRITE;
            }
            ctx.creds.check(&st, mask)?;
        }
        let kind = st.mode & libc::S_IFMT;
        if wants_write && (kind == libc::S_IFREG || kind == libc::S_IFDIR) {
            Self::check_writable_mount(&loc)?;
        }
        let ops: Arc<dyn FileOps> = match kind {
            libc::S_IFDIR => Arc::new(DirFile { inode: loc.inode().clone() }),
            libc::S_IFCHR => {
                if loc.mount.flags.nodev {
                    return Err(Errno::EACCES);
                }
                match self.device(st.rdev) {
                    Some(d) => d.open(ctx, flags)?,
                    None => return Err(Errno::ENXIO),
                }
            }
            libc::S_IFBLK => return Err(if loc.mount.flags.nodev { Errno::EACCES } else { Errno::ENXIO }),
            libc::S_IFSOCK => return Err(Errno::ENXIO),
            _ => {
                if flags & libc::O_TRUNC != 0 && is_reg(&st) && acc != libc::O_RDONLY && !created {
                    loc.inode().setattr(&SetAttr { size: Some(0), ..Default::default() })?;
                } else if flags & libc::O_TRUNC != 0 && is_reg(&st) && !created {
                    // O_RDONLY|O_TRUNC truncates too on Linux.
                    loc.inode().setattr(&SetAttr { size: Some(0), ..Default::default() })?;
                }
                loc.inode().clone().open(flags)?
            }
        };
        Ok(File::new(ops, flags & !(libc::O_CREAT | libc::O_EXCL | libc::O_TRUNC | libc::O_NOCTTY | libc::O_CLOEXEC | libc::O_NOFOLLOW), Some(loc)))
    }

    /// Resolve for O_CREAT, creating the file if needed; follows a final
    /// symlink (even a dangling one) unless O_EXCL/O_NOFOLLOW.
    fn open_create(&self, ctx: &Context, dir: Option<&Location>, path: &[u8], flags: i32, mode: u32) -> SysResult<(Location, bool)> {
        let mut hops = 0;
        let mut start = dir.cloned().unwrap_or_else(|| ctx.cwd.clone());
        let mut path = path.to_vec();
        loop {
            let (parent, last, trailing) = self.parent_with_hops(ctx, start.clone(), &path, &mut hops)?;
            let name = match last {
                Last::Normal(n) => n,
                Last::Root | Last::Dot | Last::DotDot => return Err(Errno::EISDIR),
            };
            match self.child_opt(ctx, &parent, &name)? {
                Some(child) => {
                    if flags & libc::O_EXCL != 0 {
                        return Err(Errno::EEXIST);
                    }
                    let st = child.inode().stat()?;
                    if is_symlink(&st) {
                        if flags & libc::O_NOFOLLOW != 0 {
                            return Err(Errno::ELOOP);
                        }
                        hops += 1;
                        if hops > super::MAXSYMLINKS {
                            return Err(Errno::ELOOP);
                        }
                        match child.inode().follow_link(ctx)? {
                            crate::inode::LinkTarget::Path(t) => {
                                if t.is_empty() {
                                    return Err(Errno::ENOENT);
                                }
                                start = parent;
                                path = t;
                                if trailing {
                                    path.push(b'/');
                                }
                                continue;
                            }
                            _ => {
                                hops -= 1;
                                let loc = self.follow(ctx, &parent, &child, &mut hops)?;
                                return Ok((loc, false));
                            }
                        }
                    }
                    if is_dir(&st) {
                        return Err(Errno::EISDIR);
                    }
                    if trailing {
                        return Err(Errno::ENOTDIR);
                    }
                    return Ok((child, false));
                }
                None => {
                    if trailing {
                        return Err(Errno::EISDIR);
                    }
                    Self::check_writable_mount(&parent)?;
                    let pst = parent.inode().stat()?;
                    ctx.creds.check(&pst, MAY_WRITE | MAY_EXEC)?;
                    let (owner, m) = Self::new_owner(ctx, &pst, libc::S_IFREG | (mode & 0o7777 & !ctx.umask));
                    let inode = parent.inode().create(&name, m & 0o7777, owner)?;
                    let d = parent.dentry.add_child(&name, inode);
                    return Ok((Location::new(parent.mount.clone(), d), true));
                }
            }
        }
    }

    fn open_tmpfile(&self, ctx: &Context, dir: Option<&Location>, path: &[u8], flags: i32, mode: u32) -> SysResult<Arc<File>> {
        let acc = flags & libc::O_ACCMODE;
        if acc != libc::O_WRONLY && acc != libc::O_RDWR || flags & libc::O_CREAT != 0 {
            return Err(Errno::EINVAL);
        }
        let loc = self.lookup(ctx, dir, path, 0)?;
        let st = loc.inode().stat()?;
        if !is_dir(&st) {
            return Err(Errno::ENOTDIR);
        }
        Self::check_writable_mount(&loc)?;
        ctx.creds.check(&st, MAY_WRITE | MAY_EXEC)?;
        let (owner, m) = Self::new_owner(ctx, &st, libc::S_IFREG | (mode & 0o7777 & !ctx.umask));
        let inode = loc.inode().tmpfile(m & 0o7777, owner)?;
        let ops = inode.clone().open(flags)?;
        let d = Dentry::new_detached(inode, b"#tmpfile");
        // O_EXCL: this file may never be given a name.
        d.set_linkable(flags & libc::O_EXCL == 0);
        // Keep the parent link so the path shows as "/dir/#tmpfile (deleted)".
        let child = Location::new(loc.mount.clone(), d);
        let _ = &child;
        Ok(File::new(ops, flags & !(O_TMPFILE_BITS | libc::O_DIRECTORY | libc::O_EXCL | libc::O_CLOEXEC), Some(child)))
    }
}
