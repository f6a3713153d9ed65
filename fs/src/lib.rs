//! The Sentry's VFS: mounts, dentries, file descriptions, and the
//! filesystems (tmpfs, pipes, host fds, gofer-backed, overlay, devfs).
//!
//! Map for the syscall layer:
//! * [`vfs::Vfs`]: path operations (`open`, `mkdir`, `mknod`, `unlink`,
//!   `rmdir`, `rename`, `symlink`, `link`, `readlink`, `stat`, `access`,
//!   `chmod`/`chmod_at`, `chown`/`chown_at`, `utimens`/`utimens_at`,
//!   `truncate`, `statfs`/`statfs_at`, `chdir`, `getcwd`, `mount`,
//!   `umount`, `mounts_text`, `proc_path`). Each takes a [`vfs::Context`]
//!   (root, cwd, creds, umask, pid) and `(dir: Option<&Location>, path)`
//!   with `None` meaning AT_FDCWD. The umask is applied by the VFS.
//! * [`file::File`]: an open file description (Arc-shared by dup'ed fds):
//!   read/write/pread/pwrite/seek/getdents64/ioctl/truncate/readiness,
//!   `flags`/`set_flags` for F_GETFL/F_SETFL, `location` for fchdir and
//!   /proc/self/fd. O_CLOEXEC is the fd table's business.
//! * [`waiter`]: `Waiter` (eventfd-based; `wait(host_fds, timeout)`,
//!   `interrupt()`) and `WaitQueue`. File ops never block: EAGAIN, then
//!   the Sentry registers (`FileOps::event_register`), re-checks
//!   `readiness`, waits, and polls `FileOps::host_fd` along.
//! * [`pipe::pipe2`], fifos via mknod + open (`File::open_ready`),
//!   `pipe::Pipe::{capacity,set_capacity}` for F_GETPIPE_SZ/F_SETPIPE_SZ.
//! * [`host::HostFile`]: stdio and other donated host fds; tty ioctls;
//!   job control state in [`host::TtyState`] (TIOCSPGRP/TIOCSCTTY/TIOCNOTTY
//!   return ENOSYS from the file so the Sentry applies its own checks).
//! * [`tmpfs`], [`goferfs`] (over `goferfs::Remote`, implemented for
//!   `gofer::Client`), [`overlay`], [`devfs`] (`new_devfs` +
//!   `register_devices`), [`devpts`] (`devpts::mount` on /dev/pts, the
//!   ptmx 5:2 and slave 136:N drivers, a line discipline; the Sentry
//!   installs a `devpts::PtyHost` for job control and signals).
//! * [`procfs::ProcFs`] over the Sentry's [`procfs::ProcProvider`] /
//!   [`procfs::ProcTask`] (contents generated per open; magic links).
//! * [`sysfs::SysFs`]: a small read-only sysfs (the CPU files glibc and
//!   language runtimes read; see its module docs for what is not there).
//!
//! Not implemented yet (honest list):
//! * procfs: see [`procfs`]'s module docs for the files not there yet
//!   (/proc/[pid]/{mem,ns,net,io,smaps,auxv}, /proc/net, /proc/sys/net).
//! * sysfs beyond the CPU files; bind mounts, mount propagation, MS_REMOUNT.
//! * Dentry eviction (the cache only grows; deleted names are dropped),
//!   negative dentries, revalidation of gofer-backed names changed on the
//!   host behind the Sentry's back.
//! * Capabilities beyond "fsuid 0 = CAP_DAC_OVERRIDE/FOWNER/CHOWN";
//!   protected_symlinks/hardlinks; ETXTBSY; file locks (flock/fcntl);
//!   inotify/fanotify; O_DIRECT/O_SYNC effects; atime updates on read;
//!   tmpfs size limits (never ENOSPC); statx-only fields (btime,
//!   attributes) — the lead can build statx from `Stat` + `mount.id()`.
//! * Packet-mode pipes (O_DIRECT on pipe2 is accepted, bytes semantics).
//! * getdents: a directory's listing is snapshotted at offset 0; changes
//!   during iteration are not reflected until rewind.
//! * openat2 RESOLVE_* flags; O_TMPFILE|O_EXCL linkat restriction.
//! * goferfs: host fifos/sockets/devices cannot be opened (ENXIO); no
//!   xattrs; attributes are fetched from the gofer on every stat.
//! * overlay: see its module docs (EXDEV for renaming lower directories,
//!   copy-up breaks lower hard links).

pub mod anon;
pub mod creds;
pub mod dentry;
pub mod device;
pub mod devfs;
pub mod devpts;
pub mod dirent;
pub mod file;
pub mod goferfs;
pub mod host;
pub mod inode;
pub mod mount;
pub mod overlay;
pub mod pipe;
pub mod procfs;
pub mod sysfs;
pub mod tmpfs;
pub mod types;
pub mod vfs;
pub mod waiter;

pub use creds::Creds;
pub use file::{File, FileOps, UserMemory};
pub use inode::{Filesystem, Inode, LinkTarget};
pub use mount::{Location, Mount, MountFlags};
pub use types::{DirEntry, Owner, SetAttr, StatFs, TimeSpec};
pub use vfs::{Context, Vfs};
