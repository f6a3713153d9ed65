//! procfs: a synthetic filesystem over the Sentry's process table.
//!
//! The tree is computed on every lookup (the filesystem asks the VFS not
//! to cache dentries), from a [`ProcProvider`] the Sentry implements. A
//! file's contents are generated when it is opened and then read and
//! seeked over as a snapshot (like Linux seq files read in one go).
//!
//! Layout: `/proc/{self,thread-self,mounts}` (symlinks), `cpuinfo`,
//! `meminfo`, `uptime`, `loadavg`, `stat`, `version`, `filesystems`,
//! `sys/{kernel,fs,vm}/...`, and per process `/proc/[pid]/` with
//! `cmdline comm environ status stat statm maps mounts mountinfo limits
//! cgroup oom_score oom_score_adj exe cwd root fd/ fdinfo/ task/`
//! (`task/[tid]/` has the same files, per thread, minus `task`).
//!
//! `exe`, `cwd`, `root` and `fd/N` are magic links: following them yields
//! the location itself (or, for files without a path such as pipes, the
//! open file: see [`LinkTarget`]); `readlink` shows `Vfs::proc_path` or
//! the file's `proc_name` ("pipe:[12]"). Following or reading them needs
//! the caller's fsuid to be 0 or the task's uid (a reduced
//! `ptrace_may_access`).
//!
//! Writable: `[pid]/comm`, `[pid]/oom_score_adj`, `sys/kernel/hostname`
//! (through the provider), and the recorded sysctls (see `sysctl.rs`: the
//! OCI config's `linux.sysctl` keys as `sys/<key with dots as slashes>`,
//! mode 0644; a write at offset 0 replaces the recorded value, which is
//! read back; the Sentry acts on it only where it implements the knob).
//! Everything else refuses write opens (EACCES).
//!
//! Gaps: no `/proc/[pid]/{mem,ns,net,io,smaps,auxv,pagemap,attr}`, no
//! `/proc/net`, `/proc/sys/net` (beyond recorded sysctls),
//! `/proc/sys/kernel/random`; `/proc/[tid]`
//! works only for thread-group ids (use `[pid]/task/[tid]`); mountinfo's
//! ids are synthesized from the mount order.

mod sysctl;
mod text;
#[cfg(test)]
mod tests;

use std::any::Any;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Weak};

use abi::{Errno, Stat, SysResult};

use crate::file::{File, FileOps};
use crate::inode::{Filesystem, Inode, LinkTarget};
use crate::mount::Location;
use crate::types::{magic, DirEntry, SetAttr, StatFs, TimeSpec};
use crate::vfs::{Context, Vfs};

pub use text::{SysInfo, TaskInfo, CLK_TCK, FILESYSTEMS};

/// One open file descriptor of a task, for `fd/` and `fdinfo/`.
#[derive(Clone)]
pub struct FdEntry {
    pub fd: i32,
    pub file: Arc<File>,
    pub cloexec: bool,
}

/// The sandbox as procfs sees it (implemented by the Sentry).
pub trait ProcProvider: Send + Sync {
    /// Thread-group ids of every process, zombies included.
    fn pids(&self) -> Vec<i32>;
    /// The process with thread-group id `pid` (None once reaped).
    fn task(&self, pid: i32) -> Option<Arc<dyn ProcTask>>;
    /// Memory, uptime and task counts for the global files.
    fn sysinfo(&self) -> SysInfo;
    /// `/proc/cpuinfo` text.
    fn cpuinfo(&self) -> String;
    fn hostname(&self) -> String;
    /// Write to /proc/sys/kernel/hostname (already stripped of the final
    /// newline).
    fn set_hostname(&self, _name: &[u8]) -> SysResult<()> {
        Err(Errno::EPERM)
    }
    /// The kernel release ("4.4.0") and version ("#1 SMP ...") uname shows.
    fn release(&self) -> (String, String);
    /// Recorded sysctls: (dotted key, value without the final newline).
    /// The keys and their order must not change once the procfs is
    /// mounted (only the values may).
    fn sysctls(&self) -> Vec<(String, String)> {
        Vec::new()
    }
    /// A write to a recorded sysctl (already stripped of the final
    /// newline).
    fn set_sysctl(&self, _key: &str, _value: &str) -> SysResult<()> {
        Err(Errno::EPERM)
    }
}

/// One process (from `ProcProvider::task`) or one of its threads (from
/// `ProcTask::thread`). Process-wide data (memory, fds, cwd) is the same
/// for both.
pub trait ProcTask: Send + Sync {
    /// Thread-group id.
    fn pid(&self) -> i32;
    /// Thread ids of the live threads.
    fn tids(&self) -> Vec<i32>;
    /// The view of thread `tid` of this process.
    fn thread(&self, tid: i32) -> Option<Arc<dyn ProcTask>>;
    /// Effective uid and gid: the owner of `/proc/[pid]` and its files.
    fn owner(&self) -> (u32, u32);
    /// Data for status/stat/statm; None when the task is gone.
    fn info(&self) -> Option<TaskInfo>;
    fn comm(&self) -> Vec<u8>;
    /// Writes to `comm` (at most 15 bytes are passed).
    fn set_comm(&self, name: &[u8]);
    /// The argument and environment blocks (empty for zombies).
    fn cmdline(&self) -> Vec<u8>;
    fn environ(&self) -> Vec<u8>;
    /// `/proc/[pid]/maps` text.
    fn maps(&self) -> String;
    /// (soft, hard) in RLIMIT_* order.
    fn limits(&self) -> Vec<(u64, u64)>;
    /// `/proc/[pid]/mounts` text (`Vfs::mounts_text` from the task root).
    fn mounts(&self) -> String;
    fn exe(&self) -> Option<Location>;
    fn cwd(&self) -> Option<Location>;
    fn root(&self) -> Option<Location>;
    /// Open descriptors, ascending.
    fn fds(&self) -> Vec<FdEntry>;
    fn fd(&self, fd: i32) -> Option<FdEntry>;
    fn oom_score_adj(&self) -> i32;
    /// The value is already range-checked (-1000..=1000).
    fn set_oom_score_adj(&self, v: i32) -> SysResult<()>;
}

struct Shared {
    dev: u64,
    provider: Arc<dyn ProcProvider>,
    vfs: Weak<Vfs>,
}

/// A procfs instance (mount it with source "proc").
pub struct ProcFs {
    root: Arc<ProcInode>,
}

impl ProcFs {
    /// `vfs` resolves link texts (held weakly: the VFS owns the mount).
    pub fn new(provider: Arc<dyn ProcProvider>, vfs: &Arc<Vfs>) -> Arc<ProcFs> {
        let shared = Arc::new(Shared { dev: crate::types::anon_dev(), provider, vfs: Arc::downgrade(vfs) });
        Arc::new(ProcFs { root: Arc::new(ProcInode { sh: shared, node: Node::Root }) })
    }
}

impl Filesystem for ProcFs {
    fn fs_type(&self) -> &str {
        "proc"
    }
    fn root(&self) -> Arc<dyn Inode> {
        self.root.clone()
    }
    fn cache_dentries(&self) -> bool {
        false
    }
}

/// Which task a per-process node is about: `tid` is set under `task/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Scope {
    pid: i32,
    tid: Option<i32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Global {
    Cpuinfo,
    Meminfo,
    Uptime,
    Loadavg,
    Stat,
    Version,
    Filesystems,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum SysDir {
    Sys,
    Kernel,
    Fs,
    Vm,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum SysFile {
    Hostname,
    Osrelease,
    Ostype,
    Version,
    PidMax,
    ThreadsMax,
    NgroupsMax,
    CapLastCap,
    PipeMaxSize,
    NrOpen,
    FileMax,
    Overcommit,
    MaxMapCount,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum PidFile {
    Cmdline,
    Comm,
    Environ,
    Status,
    Stat,
    Statm,
    Maps,
    Mounts,
    MountInfo,
    Limits,
    Cgroup,
    OomScore,
    OomScoreAdj,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum PidLink {
    Exe,
    Cwd,
    Root,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Node {
    Root,
    SelfLink,
    ThreadSelf,
    MountsLink,
    Global(Global),
    SysDir(SysDir),
    SysFile(SysFile),
    /// A directory made up for recorded sysctls: (key index, depth).
    SysctlDir(u16, u8),
    /// A recorded sysctl: its key index.
    SysctlFile(u16),
    Pid(Scope),
    TaskDir(i32),
    FdDir(Scope),
    FdInfoDir(Scope),
    Fd(Scope, i32),
    FdInfo(Scope, i32),
    File(Scope, PidFile),
    Link(Scope, PidLink),
}

const ROOT_ENTRIES: &[(&str, Node)] = &[
    ("self", Node::SelfLink),
    ("thread-self", Node::ThreadSelf),
    ("mounts", Node::MountsLink),
    ("cpuinfo", Node::Global(Global::Cpuinfo)),
    ("meminfo", Node::Global(Global::Meminfo)),
    ("uptime", Node::Global(Global::Uptime)),
    ("loadavg", Node::Global(Global::Loadavg)),
    ("stat", Node::Global(Global::Stat)),
    ("version", Node::Global(Global::Version)),
    ("filesystems", Node::Global(Global::Filesystems)),
    ("sys", Node::SysDir(SysDir::Sys)),
];

fn sys_entries(d: SysDir) -> &'static [(&'static str, Node)] {
    match d {
        SysDir::Sys => &[("fs", Node::SysDir(SysDir::Fs)), ("kernel", Node::SysDir(SysDir::Kernel)), ("vm", Node::SysDir(SysDir::Vm))],
        SysDir::Kernel => &[
            ("cap_last_cap", Node::SysFile(SysFile::CapLastCap)),
            ("hostname", Node::SysFile(SysFile::Hostname)),
            ("ngroups_max", Node::SysFile(SysFile::NgroupsMax)),
            ("osrelease", Node::SysFile(SysFile::Osrelease)),
            ("ostype", Node::SysFile(SysFile::Ostype)),
            ("pid_max", Node::SysFile(SysFile::PidMax)),
            ("threads-max", Node::SysFile(SysFile::ThreadsMax)),
            ("version", Node::SysFile(SysFile::Version)),
        ],
        SysDir::Fs => &[
            ("file-max", Node::SysFile(SysFile::FileMax)),
            ("nr_open", Node::SysFile(SysFile::NrOpen)),
            ("pipe-max-size", Node::SysFile(SysFile::PipeMaxSize)),
        ],
        SysDir::Vm => &[("max_map_count", Node::SysFile(SysFile::MaxMapCount)), ("overcommit_memory", Node::SysFile(SysFile::Overcommit))],
    }
}

/// The path of a static /proc/sys directory below /proc/sys.
fn sys_path(d: SysDir) -> &'static [&'static [u8]] {
    match d {
        SysDir::Sys => &[],
        SysDir::Kernel => &[b"kernel"],
        SysDir::Fs => &[b"fs"],
        SysDir::Vm => &[b"vm"],
    }
}

/// Entries of `/proc/[pid]` (and `task/[tid]`, which omits "task").
enum PidEntry {
    File(PidFile),
    Link(PidLink),
    Fd,
    FdInfo,
    Task,
}

const PID_ENTRIES: &[(&str, PidEntry)] = &[
    ("cgroup", PidEntry::File(PidFile::Cgroup)),
    ("cmdline", PidEntry::File(PidFile::Cmdline)),
    ("comm", PidEntry::File(PidFile::Comm)),
    ("cwd", PidEntry::Link(PidLink::Cwd)),
    ("environ", PidEntry::File(PidFile::Environ)),
    ("exe", PidEntry::Link(PidLink::Exe)),
    ("fd", PidEntry::Fd),
    ("fdinfo", PidEntry::FdInfo),
    ("limits", PidEntry::File(PidFile::Limits)),
    ("maps", PidEntry::File(PidFile::Maps)),
    ("mountinfo", PidEntry::File(PidFile::MountInfo)),
    ("mounts", PidEntry::File(PidFile::Mounts)),
    ("oom_score", PidEntry::File(PidFile::OomScore)),
    ("oom_score_adj", PidEntry::File(PidFile::OomScoreAdj)),
    ("root", PidEntry::Link(PidLink::Root)),
    ("stat", PidEntry::File(PidFile::Stat)),
    ("statm", PidEntry::File(PidFile::Statm)),
    ("status", PidEntry::File(PidFile::Status)),
    ("task", PidEntry::Task),
];

fn pid_entry_node(s: Scope, e: &PidEntry) -> Option<Node> {
    Some(match e {
        PidEntry::File(f) => Node::File(s, *f),
        PidEntry::Link(l) => Node::Link(s, *l),
        PidEntry::Fd => Node::FdDir(s),
        PidEntry::FdInfo => Node::FdInfoDir(s),
        PidEntry::Task if s.tid.is_none() => Node::TaskDir(s.pid),
        PidEntry::Task => return None,
    })
}

/// A decimal number as a name, without leading zeros or signs.
fn parse_num(name: &[u8]) -> Option<i32> {
    if name.is_empty() || name.len() > 10 || (name[0] == b'0' && name.len() > 1) || !name.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(name).ok()?.parse().ok()
}

fn dtype(n: &Node) -> u8 {
    match n {
        Node::Root | Node::SysDir(_) | Node::SysctlDir(..) | Node::Pid(_) | Node::TaskDir(_) | Node::FdDir(_) | Node::FdInfoDir(_) => libc::DT_DIR,
        Node::SelfLink | Node::ThreadSelf | Node::MountsLink | Node::Fd(..) | Node::Link(..) => libc::DT_LNK,
        _ => libc::DT_REG,
    }
}

/// The link text of a file without a path: its own `proc_name`, else
/// one derived from its type ("pipe:[ino]" for a host pipe given as stdio).
fn anon_name(f: &File) -> String {
    if let Some(n) = f.ops().proc_name() {
        return n;
    }
    match f.stat() {
        Ok(st) if st.mode & libc::S_IFMT == libc::S_IFIFO => format!("pipe:[{}]", st.ino),
        Ok(st) if st.mode & libc::S_IFMT == libc::S_IFSOCK => format!("socket:[{}]", st.ino),
        _ => "anon_inode:[unknown]".into(),
    }
}

/// Stable inode numbers: a hash of the node (root is 1).
fn ino_of(n: &Node) -> u64 {
    if *n == Node::Root {
        return 1;
    }
    let mut h = DefaultHasher::new();
    n.hash(&mut h);
    let v = h.finish() >> 1;
    if v < 2 {
        v + 2
    } else {
        v
    }
}

/// A procfs inode: a node of the tree, resolved against the provider on
/// every operation (ENOENT once the task is gone).
pub struct ProcInode {
    sh: Arc<Shared>,
    node: Node,
}

impl ProcInode {
    fn child(&self, node: Node) -> Arc<dyn Inode> {
        Arc::new(ProcInode { sh: self.sh.clone(), node })
    }

    fn task(&self, s: Scope) -> SysResult<Arc<dyn ProcTask>> {
        let t = self.sh.provider.task(s.pid).ok_or(Errno::ENOENT)?;
        match s.tid {
            None => Ok(t),
            Some(tid) => t.thread(tid).ok_or(Errno::ENOENT),
        }
    }

    fn fd_entry(&self, s: Scope, fd: i32) -> SysResult<(Arc<dyn ProcTask>, FdEntry)> {
        let t = self.task(s)?;
        let e = t.fd(fd).ok_or(Errno::ENOENT)?;
        Ok((t, e))
    }

    fn scope(&self) -> Option<Scope> {
        match self.node {
            Node::Pid(s) | Node::FdDir(s) | Node::FdInfoDir(s) | Node::Fd(s, _) | Node::FdInfo(s, _) | Node::File(s, _) | Node::Link(s, _) => Some(s),
            Node::TaskDir(pid) => Some(Scope { pid, tid: None }),
            _ => None,
        }
    }

    /// (mode, owner, nlink, size) of this node.
    fn attrs(&self) -> SysResult<(u32, (u32, u32), u64, i64)> {
        let owner = match self.scope() {
            Some(s) => self.task(s)?.owner(),
            None => (0, 0),
        };
        let dir = |perm: u32| (libc::S_IFDIR | perm, owner, 2, 0);
        let reg = |perm: u32| (libc::S_IFREG | perm, owner, 1, 0);
        Ok(match self.node {
            Node::Root => (libc::S_IFDIR | 0o555, (0, 0), 2 + self.sh.provider.pids().len() as u64, 0),
            Node::SysDir(_) | Node::Pid(_) | Node::TaskDir(_) => dir(0o555),
            Node::SysctlDir(..) | Node::SysctlFile(_) => {
                sysctl::path_of(&self.sh.provider.sysctls(), self.node).ok_or(Errno::ENOENT)?;
                if matches!(self.node, Node::SysctlDir(..)) {
                    dir(0o555)
                } else {
                    reg(0o644)
                }
            }
            Node::FdDir(_) | Node::FdInfoDir(_) => dir(0o500),
            Node::SelfLink | Node::ThreadSelf | Node::MountsLink => (libc::S_IFLNK | 0o777, (0, 0), 1, 0),
            Node::Link(..) => (libc::S_IFLNK | 0o777, owner, 1, 0),
            Node::Fd(s, fd) => {
                let (_, e) = self.fd_entry(s, fd)?;
                let mut perm = 0o100;
                if e.file.readable() {
                    perm |= 0o400;
                }
                if e.file.writable() {
                    perm |= 0o200;
                }
                (libc::S_IFLNK | perm, owner, 1, 64)
            }
            Node::FdInfo(s, fd) => {
                self.fd_entry(s, fd)?;
                reg(0o444)
            }
            Node::Global(_) => reg(0o444),
            Node::SysFile(SysFile::Hostname) => reg(0o644),
            Node::SysFile(_) => reg(0o444),
            Node::File(_, PidFile::Environ) => reg(0o400),
            Node::File(_, PidFile::Comm | PidFile::OomScoreAdj) => reg(0o644),
            Node::File(..) => reg(0o444),
        })
    }

    /// The reduced ptrace_may_access check for magic links.
    fn may_access(&self, ctx: &Context, t: &dyn ProcTask) -> SysResult<()> {
        let (uid, _) = t.owner();
        if ctx.creds.fsuid == 0 || ctx.creds.fsuid == uid {
            Ok(())
        } else {
            Err(Errno::EACCES)
        }
    }

    fn vfs(&self) -> SysResult<Arc<Vfs>> {
        self.sh.vfs.upgrade().ok_or(Errno::ENOENT)
    }

    fn link_location(&self, ctx: &Context, s: Scope, l: PidLink) -> SysResult<Location> {
        let t = self.task(s)?;
        self.may_access(ctx, &*t)?;
        match l {
            PidLink::Exe => t.exe(),
            PidLink::Cwd => t.cwd(),
            PidLink::Root => t.root(),
        }
        .ok_or(Errno::ENOENT)
    }

    /// The generated contents of a file node.
    fn contents(&self) -> SysResult<Vec<u8>> {
        let p = &self.sh.provider;
        let info = |s: Scope| self.task(s)?.info().ok_or(Errno::ENOENT);
        Ok(match self.node {
            Node::Global(g) => match g {
                Global::Cpuinfo => p.cpuinfo().into_bytes(),
                Global::Meminfo => text::meminfo(&p.sysinfo()).into_bytes(),
                Global::Uptime => text::uptime(&p.sysinfo()).into_bytes(),
                Global::Loadavg => text::loadavg(&p.sysinfo()).into_bytes(),
                Global::Stat => text::stat_global(&p.sysinfo()).into_bytes(),
                Global::Version => {
                    let (rel, ver) = p.release();
                    format!("Linux version {rel} (runsc-rs@sandbox) (rustc) {ver}\n").into_bytes()
                }
                Global::Filesystems => FILESYSTEMS.as_bytes().to_vec(),
            },
            Node::SysFile(f) => {
                let v = match f {
                    SysFile::Hostname => p.hostname(),
                    SysFile::Osrelease => p.release().0,
                    SysFile::Version => p.release().1,
                    SysFile::Ostype => "Linux".into(),
                    SysFile::PidMax => "4194304".into(),
                    SysFile::ThreadsMax => "4096".into(),
                    SysFile::NgroupsMax => "65536".into(),
                    SysFile::CapLastCap => "40".into(),
                    SysFile::PipeMaxSize => "1048576".into(),
                    SysFile::NrOpen => "1048576".into(),
                    SysFile::FileMax => "9223372036854775807".into(),
                    SysFile::Overcommit => "0".into(),
                    SysFile::MaxMapCount => "65530".into(),
                };
                format!("{v}\n").into_bytes()
            }
            Node::SysctlFile(_) => {
                let (_, v) = sysctl::value(&p.sysctls(), self.node).ok_or(Errno::ENOENT)?;
                format!("{v}\n").into_bytes()
            }
            Node::File(s, f) => match f {
                PidFile::Cmdline => self.task(s)?.cmdline(),
                PidFile::Environ => self.task(s)?.environ(),
                PidFile::Comm => {
                    let mut c = self.task(s)?.comm();
                    c.push(b'\n');
                    c
                }
                PidFile::Status => text::status(&info(s)?).into_bytes(),
                PidFile::Stat => text::stat(&info(s)?).into_bytes(),
                PidFile::Statm => text::statm(&info(s)?).into_bytes(),
                PidFile::Maps => self.task(s)?.maps().into_bytes(),
                PidFile::Mounts => self.task(s)?.mounts().into_bytes(),
                PidFile::MountInfo => text::mountinfo(&self.task(s)?.mounts()).into_bytes(),
                PidFile::Limits => text::limits(&self.task(s)?.limits()).into_bytes(),
                PidFile::Cgroup => b"0::/\n".to_vec(),
                PidFile::OomScore => b"0\n".to_vec(),
                PidFile::OomScoreAdj => format!("{}\n", self.task(s)?.oom_score_adj()).into_bytes(),
            },
            Node::FdInfo(s, fd) => {
                let (_, e) = self.fd_entry(s, fd)?;
                let f = &e.file;
                let pos = f.seek(0, libc::SEEK_CUR).unwrap_or(0);
                let mut flags = f.flags();
                if f.location().is_some() {
                    // open(2) forces O_LARGEFILE (the kernel's x86-64 value).
                    flags |= 0o100000;
                }
                if e.cloexec {
                    flags |= libc::O_CLOEXEC;
                }
                let mnt = f.location().map(|l| l.mount.id()).unwrap_or(0);
                let ino = f.stat().map(|s| s.ino).unwrap_or(0);
                format!("pos:\t{pos}\nflags:\t0{flags:o}\nmnt_id:\t{mnt}\nino:\t{ino}\n").into_bytes()
            }
            _ => return Err(Errno::EISDIR),
        })
    }

    /// The errno of a namespace change: `e` in a directory, else ENOTDIR.
    fn dir_only<T>(&self, e: Errno) -> SysResult<T> {
        if dtype(&self.node) == libc::DT_DIR {
            Err(e)
        } else {
            Err(Errno::ENOTDIR)
        }
    }

    /// A recorded sysctl entry `name` in the directory at `path`.
    fn sysctl_child(&self, mut path: Vec<Vec<u8>>, name: &[u8]) -> SysResult<Arc<dyn Inode>> {
        path.push(name.to_vec());
        let path: Vec<&[u8]> = path.iter().map(Vec::as_slice).collect();
        sysctl::node_for(&self.sh.provider.sysctls(), &path).map(|n| self.child(n)).ok_or(Errno::ENOENT)
    }

    fn writer(&self) -> Option<Writer> {
        match self.node {
            Node::File(s, PidFile::Comm) => Some(Writer::Comm(s)),
            Node::File(s, PidFile::OomScoreAdj) => Some(Writer::OomScoreAdj(s)),
            Node::SysFile(SysFile::Hostname) => Some(Writer::Hostname),
            Node::SysctlFile(i) => Some(Writer::Sysctl(i)),
            _ => None,
        }
    }
}

impl Inode for ProcInode {
    fn stat(&self) -> SysResult<Stat> {
        let (mode, (uid, gid), nlink, size) = self.attrs()?;
        let now = TimeSpec::now();
        Ok(Stat {
            dev: self.sh.dev,
            ino: ino_of(&self.node),
            nlink,
            mode,
            uid,
            gid,
            size,
            blksize: 1024,
            atime: now.sec,
            atime_nsec: now.nsec,
            mtime: now.sec,
            mtime_nsec: now.nsec,
            ctime: now.sec,
            ctime_nsec: now.nsec,
            ..Default::default()
        })
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn lookup(&self, name: &[u8]) -> SysResult<Arc<dyn Inode>> {
        let find = |tab: &[(&str, Node)]| tab.iter().find(|(n, _)| n.as_bytes() == name).map(|(_, node)| self.child(*node)).ok_or(Errno::ENOENT);
        match self.node {
            Node::Root => {
                if let Some(pid) = parse_num(name) {
                    self.sh.provider.task(pid).ok_or(Errno::ENOENT)?;
                    return Ok(self.child(Node::Pid(Scope { pid, tid: None })));
                }
                find(ROOT_ENTRIES)
            }
            Node::SysDir(d) => find(sys_entries(d)).or_else(|_| self.sysctl_child(sys_path(d).iter().map(|c| c.to_vec()).collect(), name)),
            Node::SysctlDir(..) => {
                let path = sysctl::path_of(&self.sh.provider.sysctls(), self.node).ok_or(Errno::ENOENT)?;
                self.sysctl_child(path, name)
            }
            Node::Pid(s) => {
                self.task(s)?;
                let (_, e) = PID_ENTRIES.iter().find(|(n, _)| n.as_bytes() == name).ok_or(Errno::ENOENT)?;
                pid_entry_node(s, e).map(|n| self.child(n)).ok_or(Errno::ENOENT)
            }
            Node::TaskDir(pid) => {
                let tid = parse_num(name).ok_or(Errno::ENOENT)?;
                self.task(Scope { pid, tid: Some(tid) })?;
                Ok(self.child(Node::Pid(Scope { pid, tid: Some(tid) })))
            }
            Node::FdDir(s) | Node::FdInfoDir(s) => {
                let fd = parse_num(name).ok_or(Errno::ENOENT)?;
                self.fd_entry(s, fd)?;
                Ok(self.child(if matches!(self.node, Node::FdDir(_)) { Node::Fd(s, fd) } else { Node::FdInfo(s, fd) }))
            }
            _ => Err(Errno::ENOTDIR),
        }
    }

    fn create(&self, _name: &[u8], _mode: u32, _owner: crate::types::Owner) -> SysResult<Arc<dyn Inode>> {
        self.dir_only(Errno::EACCES)
    }

    fn mkdir(&self, _name: &[u8], _mode: u32, _owner: crate::types::Owner) -> SysResult<Arc<dyn Inode>> {
        self.dir_only(Errno::EPERM)
    }

    fn mknod(&self, _name: &[u8], _mode: u32, _rdev: u64, _owner: crate::types::Owner) -> SysResult<Arc<dyn Inode>> {
        self.dir_only(Errno::EPERM)
    }

    fn symlink(&self, _name: &[u8], _target: &[u8], _owner: crate::types::Owner) -> SysResult<Arc<dyn Inode>> {
        self.dir_only(Errno::EPERM)
    }

    fn link(&self, _name: &[u8], _target: &Arc<dyn Inode>) -> SysResult<()> {
        self.dir_only(Errno::EPERM)
    }

    fn unlink(&self, _name: &[u8]) -> SysResult<()> {
        self.dir_only(Errno::EPERM)
    }

    fn rmdir(&self, _name: &[u8]) -> SysResult<()> {
        self.dir_only(Errno::EPERM)
    }

    fn rename(&self, _old: &[u8], _new_dir: &Arc<dyn Inode>, _new: &[u8], _flags: u32) -> SysResult<()> {
        self.dir_only(Errno::EPERM)
    }

    fn readdir(&self) -> SysResult<Vec<DirEntry>> {
        let ent = |name: Vec<u8>, node: Node| DirEntry { ino: ino_of(&node), kind: dtype(&node), name };
        let table = |tab: &[(&str, Node)]| tab.iter().map(|(n, node)| ent(n.as_bytes().to_vec(), *node)).collect::<Vec<_>>();
        match self.node {
            Node::Root => {
                let mut v = table(ROOT_ENTRIES);
                let mut pids = self.sh.provider.pids();
                pids.sort_unstable();
                for pid in pids {
                    v.push(ent(pid.to_string().into_bytes(), Node::Pid(Scope { pid, tid: None })));
                }
                Ok(v)
            }
            Node::SysDir(d) => {
                let tab = sys_entries(d);
                let shadowed: Vec<&str> = tab.iter().map(|(n, _)| *n).collect();
                let mut v = table(tab);
                v.extend(sysctl::children(&self.sh.provider.sysctls(), sys_path(d), &shadowed).into_iter().map(|(n, node)| ent(n, node)));
                v.sort_by(|a, b| a.name.cmp(&b.name));
                Ok(v)
            }
            Node::SysctlDir(..) => {
                let keys = self.sh.provider.sysctls();
                let path = sysctl::path_of(&keys, self.node).ok_or(Errno::ENOENT)?;
                let path: Vec<&[u8]> = path.iter().map(Vec::as_slice).collect();
                Ok(sysctl::children(&keys, &path, &[]).into_iter().map(|(n, node)| ent(n, node)).collect())
            }
            Node::Pid(s) => {
                self.task(s)?;
                Ok(PID_ENTRIES.iter().filter_map(|(n, e)| pid_entry_node(s, e).map(|node| ent(n.as_bytes().to_vec(), node))).collect())
            }
            Node::TaskDir(pid) => {
                let t = self.task(Scope { pid, tid: None })?;
                let mut tids = t.tids();
                tids.sort_unstable();
                Ok(tids.into_iter().map(|tid| ent(tid.to_string().into_bytes(), Node::Pid(Scope { pid, tid: Some(tid) }))).collect())
            }
            Node::FdDir(s) | Node::FdInfoDir(s) => {
                let t = self.task(s)?;
                let info = matches!(self.node, Node::FdInfoDir(_));
                Ok(t.fds().into_iter().map(|e| ent(e.fd.to_string().into_bytes(), if info { Node::FdInfo(s, e.fd) } else { Node::Fd(s, e.fd) })).collect())
            }
            _ => Err(Errno::ENOTDIR),
        }
    }

    fn readlink(&self, ctx: &Context) -> SysResult<Vec<u8>> {
        match self.node {
            Node::SelfLink => {
                if ctx.pid <= 0 {
                    return Err(Errno::ENOENT);
                }
                Ok(ctx.pid.to_string().into_bytes())
            }
            Node::ThreadSelf => {
                if ctx.pid <= 0 {
                    return Err(Errno::ENOENT);
                }
                Ok(format!("{}/task/{}", ctx.pid, ctx.tid).into_bytes())
            }
            Node::MountsLink => Ok(b"self/mounts".to_vec()),
            Node::Link(s, l) => {
                let loc = self.link_location(ctx, s, l)?;
                Ok(self.vfs()?.proc_path(&ctx.root, &loc))
            }
            Node::Fd(s, fd) => {
                let (t, e) = self.fd_entry(s, fd)?;
                self.may_access(ctx, &*t)?;
                match e.file.location() {
                    Some(loc) => Ok(self.vfs()?.proc_path(&ctx.root, loc)),
                    None => Ok(anon_name(&e.file).into_bytes()),
                }
            }
            _ => Err(Errno::EINVAL),
        }
    }

    fn follow_link(&self, ctx: &Context) -> SysResult<LinkTarget> {
        match self.node {
            Node::Link(s, l) => Ok(LinkTarget::Location(self.link_location(ctx, s, l)?)),
            Node::Fd(s, fd) => {
                let (t, e) = self.fd_entry(s, fd)?;
                self.may_access(ctx, &*t)?;
                Ok(match e.file.location() {
                    Some(loc) => LinkTarget::Location(loc.clone()),
                    None => LinkTarget::File(e.file.clone()),
                })
            }
            _ => self.readlink(ctx).map(LinkTarget::Path),
        }
    }

    fn setattr(&self, attr: &SetAttr) -> SysResult<Stat> {
        if attr.mode.is_some() || attr.uid.is_some() || attr.gid.is_some() {
            return Err(Errno::EPERM);
        }
        // Truncation (O_TRUNC on a writable file) and times are ignored.
        self.stat()
    }

    fn open(self: Arc<Self>, flags: i32) -> SysResult<Arc<dyn FileOps>> {
        let stat = self.stat()?;
        let writer = self.writer();
        if flags & libc::O_ACCMODE != libc::O_RDONLY && writer.is_none() {
            return Err(Errno::EACCES);
        }
        let data = self.contents()?;
        Ok(Arc::new(SeqFile { inode: self, data, stat, writer }))
    }

    fn statfs(&self) -> SysResult<StatFs> {
        Ok(StatFs { fs_type: magic::PROC, bsize: 4096, namelen: 255, frsize: 4096, ..Default::default() })
    }
}

#[derive(Clone, Copy)]
enum Writer {
    Comm(Scope),
    OomScoreAdj(Scope),
    Hostname,
    Sysctl(u16),
}

/// An open procfs file: the contents generated at open.
struct SeqFile {
    inode: Arc<ProcInode>,
    data: Vec<u8>,
    stat: Stat,
    writer: Option<Writer>,
}

impl FileOps for SeqFile {
    fn read(&self, buf: &mut [u8], off: u64) -> SysResult<usize> {
        let Ok(off) = usize::try_from(off) else { return Ok(0) };
        let Some(rest) = self.data.get(off..) else { return Ok(0) };
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        Ok(n)
    }

    fn write(&self, buf: &[u8], off: u64, _append: bool) -> SysResult<(usize, u64)> {
        let end = off.saturating_add(buf.len() as u64);
        match self.writer.ok_or(Errno::EINVAL)? {
            Writer::Comm(s) => {
                let t = self.inode.task(s).map_err(|_| Errno::ESRCH)?;
                let n = buf.iter().position(|&c| c == 0).unwrap_or(buf.len()).min(15);
                t.set_comm(&buf[..n]);
            }
            Writer::OomScoreAdj(s) => {
                let t = self.inode.task(s).map_err(|_| Errno::ESRCH)?;
                let txt = std::str::from_utf8(buf).map_err(|_| Errno::EINVAL)?;
                let v: i32 = txt.trim().parse().map_err(|_| Errno::EINVAL)?;
                if !(-1000..=1000).contains(&v) {
                    return Err(Errno::EINVAL);
                }
                t.set_oom_score_adj(v)?;
            }
            Writer::Hostname => {
                let name = buf.strip_suffix(b"\n").unwrap_or(buf);
                if name.len() > 64 {
                    return Err(Errno::EINVAL);
                }
                self.inode.sh.provider.set_hostname(name)?;
            }
            Writer::Sysctl(i) => {
                let p = &self.inode.sh.provider;
                let (key, _) = sysctl::value(&p.sysctls(), Node::SysctlFile(i)).ok_or(Errno::ENOENT)?;
                // As Linux's strict mode for numbers: a write past the
                // start changes nothing.
                if off == 0 {
                    let v = buf.strip_suffix(b"\n").unwrap_or(buf);
                    if v.len() > 4096 || v.contains(&0) {
                        return Err(Errno::EINVAL);
                    }
                    p.set_sysctl(&key, std::str::from_utf8(v).map_err(|_| Errno::EINVAL)?)?;
                }
            }
        }
        Ok((buf.len(), end))
    }

    fn seek(&self, cur: i64, off: i64, whence: i32) -> SysResult<i64> {
        crate::file::generic_seek(cur, off, whence, self.data.len() as i64)
    }

    fn stat(&self) -> SysResult<Stat> {
        Ok(self.stat)
    }

    fn truncate(&self, _size: u64) -> SysResult<()> {
        Ok(())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
