//! The text formats of procfs files, from plain data the provider fills.
//! Formats follow Linux (proc(5)); fields the Sentry does not track are
//! printed as the value an idle Linux would show (usually 0).

use std::fmt::Write;
use std::time::Duration;

/// Clock ticks per second as `/proc/[pid]/stat` counts them (USER_HZ).
pub const CLK_TCK: u64 = 100;

/// Everything `/proc/[pid]/{stat,status,statm}` show about one task (or,
/// for `/proc/[pid]`, its thread group).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TaskInfo {
    /// comm, at most 15 bytes.
    pub name: Vec<u8>,
    /// 'R', 'S', 'D', 'T', 't', 'Z' or 'X'.
    pub state: char,
    pub tgid: i32,
    /// The thread id (== tgid for the process itself).
    pub pid: i32,
    pub ppid: i32,
    pub pgrp: i32,
    pub session: i32,
    pub tty_nr: i32,
    pub tpgid: i32,
    pub umask: u32,
    /// Real, effective, saved, filesystem.
    pub uids: [u32; 4],
    pub gids: [u32; 4],
    pub groups: Vec<u32>,
    pub fd_size: u32,
    /// False for zombies: the memory lines are left out of status.
    pub has_mm: bool,
    /// Bytes.
    pub vm_size: u64,
    /// Bytes.
    pub vm_rss: u64,
    /// Bytes (stack VMA).
    pub vm_stack: u64,
    pub threads: u32,
    /// Queued signals / RLIMIT_SIGPENDING.
    pub sig_queued: u64,
    pub sig_limit: u64,
    /// Thread-private pending set, shared (process) pending set, and the
    /// blocked, ignored and caught sets: bit n-1 is signal n.
    pub sig_pnd: u64,
    pub shd_pnd: u64,
    pub sig_blk: u64,
    pub sig_ign: u64,
    pub sig_cgt: u64,
    pub cap_inh: u64,
    pub cap_prm: u64,
    pub cap_eff: u64,
    pub cap_bnd: u64,
    pub cap_amb: u64,
    pub no_new_privs: bool,
    /// 0 disabled, 1 strict, 2 filter.
    pub seccomp: u32,
    pub nice: i32,
    /// CPU time of the task and of its reaped children.
    pub utime: Duration,
    pub stime: Duration,
    pub cutime: Duration,
    pub cstime: Duration,
    /// Since boot.
    pub start_time: Duration,
    /// RLIMIT_RSS soft limit (bytes).
    pub rsslim: u64,
    pub start_code: u64,
    pub end_code: u64,
    pub start_stack: u64,
    pub start_brk: u64,
    pub arg_start: u64,
    pub arg_end: u64,
    pub env_start: u64,
    pub env_end: u64,
    pub exit_signal: i32,
    pub exit_code: i32,
    /// CPUs the task may run on (for Cpus_allowed).
    pub ncpus: u32,
}

/// What the global files show.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SysInfo {
    /// Bytes.
    pub mem_total: u64,
    pub mem_free: u64,
    pub mem_cached: u64,
    pub uptime: Duration,
    pub ncpus: u32,
    /// Tasks (threads) in the sandbox, and how many are runnable.
    pub nr_threads: u32,
    pub nr_running: u32,
    pub last_pid: i32,
    /// Boot time in seconds since the epoch.
    pub boot_time: i64,
    /// Forks since boot.
    pub processes: u64,
}

fn ticks(d: Duration) -> u64 {
    d.as_secs() * CLK_TCK + u64::from(d.subsec_nanos()) / (1_000_000_000 / CLK_TCK)
}

fn state_name(c: char) -> &'static str {
    match c {
        'R' => "running",
        'S' => "sleeping",
        'D' => "disk sleep",
        'T' => "stopped",
        't' => "tracing stop",
        'Z' => "zombie",
        'X' => "dead",
        _ => "unknown",
    }
}

/// The Name line escapes '\n' and '\\' as Linux does.
fn escaped_name(name: &[u8]) -> String {
    let mut s = String::new();
    for &c in name {
        match c {
            b'\n' => s.push_str("\\n"),
            b'\\' => s.push_str("\\\\"),
            _ => s.push(c as char),
        }
    }
    s
}

/// `/proc/[pid]/status`.
pub fn status(t: &TaskInfo) -> String {
    let mut s = String::new();
    let kb = |b: u64| b / 1024;
    let _ = writeln!(s, "Name:\t{}", escaped_name(&t.name));
    let _ = writeln!(s, "Umask:\t{:04o}", t.umask);
    let _ = writeln!(s, "State:\t{} ({})", t.state, state_name(t.state));
    let _ = writeln!(s, "Tgid:\t{}", t.tgid);
    let _ = writeln!(s, "Ngid:\t0");
    let _ = writeln!(s, "Pid:\t{}", t.pid);
    let _ = writeln!(s, "PPid:\t{}", t.ppid);
    let _ = writeln!(s, "TracerPid:\t0");
    let _ = writeln!(s, "Uid:\t{}\t{}\t{}\t{}", t.uids[0], t.uids[1], t.uids[2], t.uids[3]);
    let _ = writeln!(s, "Gid:\t{}\t{}\t{}\t{}", t.gids[0], t.gids[1], t.gids[2], t.gids[3]);
    let _ = writeln!(s, "FDSize:\t{}", t.fd_size);
    s.push_str("Groups:\t");
    for g in &t.groups {
        let _ = write!(s, "{g} ");
    }
    s.push('\n');
    let _ = writeln!(s, "NStgid:\t{}", t.tgid);
    let _ = writeln!(s, "NSpid:\t{}", t.pid);
    let _ = writeln!(s, "NSpgid:\t{}", t.pgrp);
    let _ = writeln!(s, "NSsid:\t{}", t.session);
    if t.has_mm {
        let data = t.vm_size.saturating_sub(t.vm_stack).saturating_sub(t.end_code.saturating_sub(t.start_code));
        for (k, v) in [
            ("VmPeak", kb(t.vm_size)),
            ("VmSize", kb(t.vm_size)),
            ("VmLck", 0),
            ("VmPin", 0),
            ("VmHWM", kb(t.vm_rss)),
            ("VmRSS", kb(t.vm_rss)),
            ("RssAnon", kb(t.vm_rss)),
            ("RssFile", 0),
            ("RssShmem", 0),
            ("VmData", kb(data)),
            ("VmStk", kb(t.vm_stack)),
            ("VmExe", kb(t.end_code.saturating_sub(t.start_code))),
            ("VmLib", 0),
            ("VmPTE", 0),
            ("VmSwap", 0),
        ] {
            let _ = writeln!(s, "{k}:\t{v:>8} kB");
        }
        let _ = writeln!(s, "HugetlbPages:\t{:>8} kB", 0);
    }
    let _ = writeln!(s, "CoreDumping:\t0");
    let _ = writeln!(s, "THP_enabled:\t1");
    let _ = writeln!(s, "Threads:\t{}", t.threads);
    let _ = writeln!(s, "SigQ:\t{}/{}", t.sig_queued, t.sig_limit);
    for (k, v) in [("SigPnd", t.sig_pnd), ("ShdPnd", t.shd_pnd), ("SigBlk", t.sig_blk), ("SigIgn", t.sig_ign), ("SigCgt", t.sig_cgt)] {
        let _ = writeln!(s, "{k}:\t{v:016x}");
    }
    for (k, v) in [("CapInh", t.cap_inh), ("CapPrm", t.cap_prm), ("CapEff", t.cap_eff), ("CapBnd", t.cap_bnd), ("CapAmb", t.cap_amb)] {
        let _ = writeln!(s, "{k}:\t{v:016x}");
    }
    let _ = writeln!(s, "NoNewPrivs:\t{}", u8::from(t.no_new_privs));
    let _ = writeln!(s, "Seccomp:\t{}", t.seccomp);
    let _ = writeln!(s, "Seccomp_filters:\t{}", u8::from(t.seccomp == 2));
    let _ = writeln!(s, "Speculation_Store_Bypass:\tthread vulnerable");
    let n = t.ncpus.clamp(1, 1024);
    let _ = writeln!(s, "Cpus_allowed:\t{}", cpu_mask_hex(n));
    let _ = writeln!(s, "Cpus_allowed_list:\t{}", if n == 1 { "0".to_string() } else { format!("0-{}", n - 1) });
    let _ = writeln!(s, "Mems_allowed:\t00000001");
    let _ = writeln!(s, "Mems_allowed_list:\t0");
    let _ = writeln!(s, "voluntary_ctxt_switches:\t0");
    let _ = writeln!(s, "nonvoluntary_ctxt_switches:\t0");
    s
}

/// A mask of the first `n` CPUs in Linux's comma-grouped hex.
fn cpu_mask_hex(n: u32) -> String {
    let words = n.div_ceil(32);
    let mut parts = Vec::new();
    for w in (0..words).rev() {
        let bits = (n - w * 32).min(32);
        let v: u32 = if bits == 32 { u32::MAX } else { (1u32 << bits) - 1 };
        parts.push(format!("{v:08x}"));
    }
    parts.join(",")
}

/// `/proc/[pid]/stat`: the 52 fields in proc(5) order.
pub fn stat(t: &TaskInfo) -> String {
    let page = 4096;
    let mut name = Vec::from(&b"("[..]);
    name.extend_from_slice(&t.name);
    name.push(b')');
    let mut s = String::new();
    let _ = write!(
        s,
        "{} {} {} {} {} {} {} {} {} ",
        t.pid,
        String::from_utf8_lossy(&name),
        t.state,
        t.ppid,
        t.pgrp,
        t.session,
        t.tty_nr,
        t.tpgid,
        0x0040_0000u32 // flags: PF_RANDOMIZE-less ordinary task
    );
    // minflt cminflt majflt cmajflt utime stime cutime cstime
    let _ = write!(s, "0 0 0 0 {} {} {} {} ", ticks(t.utime), ticks(t.stime), ticks(t.cutime), ticks(t.cstime));
    // priority nice num_threads itrealvalue starttime vsize rss rsslim
    let _ = write!(s, "{} {} {} 0 {} {} {} {} ", 20 + t.nice, t.nice, t.threads, ticks(t.start_time), t.vm_size, t.vm_rss / page, t.rsslim);
    // startcode endcode startstack kstkesp kstkeip
    let _ = write!(s, "{} {} {} 0 0 ", t.start_code, t.end_code, t.start_stack);
    // signal blocked sigignore sigcatch (decimal, obsolete) wchan nswap cnswap
    let _ = write!(s, "{} {} {} {} 0 0 0 ", t.sig_pnd | t.shd_pnd, t.sig_blk, t.sig_ign, t.sig_cgt);
    // exit_signal processor rt_priority policy delayacct guest_time cguest_time
    let _ = write!(s, "{} 0 0 0 0 0 0 ", t.exit_signal);
    // start_data end_data start_brk arg_start arg_end env_start env_end exit_code
    let _ = writeln!(s, "0 0 {} {} {} {} {} {}", t.start_brk, t.arg_start, t.arg_end, t.env_start, t.env_end, t.exit_code);
    s
}

/// `/proc/[pid]/statm` (pages): size resident shared text lib data dt.
pub fn statm(t: &TaskInfo) -> String {
    let p = |b: u64| b / 4096;
    let text = t.end_code.saturating_sub(t.start_code);
    format!("{} {} 0 {} 0 {} 0\n", p(t.vm_size), p(t.vm_rss), p(text), p(t.vm_size.saturating_sub(text)))
}

const LIMITS: [(&str, &str); 16] = [
    ("Max cpu time", "seconds"),
    ("Max file size", "bytes"),
    ("Max data size", "bytes"),
    ("Max stack size", "bytes"),
    ("Max core file size", "bytes"),
    ("Max resident set", "bytes"),
    ("Max processes", "processes"),
    ("Max open files", "files"),
    ("Max locked memory", "bytes"),
    ("Max address space", "bytes"),
    ("Max file locks", "locks"),
    ("Max pending signals", "signals"),
    ("Max msgqueue size", "bytes"),
    ("Max nice priority", ""),
    ("Max realtime priority", ""),
    ("Max realtime timeout", "us"),
];

/// `/proc/[pid]/limits` from (soft, hard) pairs in RLIMIT_* order;
/// `u64::MAX` is "unlimited". Missing entries show as unlimited.
pub fn limits(l: &[(u64, u64)]) -> String {
    let mut s = format!("{:<25} {:<20} {:<20} {:<10}\n", "Limit", "Soft Limit", "Hard Limit", "Units");
    let v = |x: u64| if x == u64::MAX { "unlimited".to_string() } else { x.to_string() };
    for (i, (name, unit)) in LIMITS.iter().enumerate() {
        let (cur, max) = l.get(i).copied().unwrap_or((u64::MAX, u64::MAX));
        let _ = write!(s, "{:<25} {:<20} {:<20} ", name, v(cur), v(max));
        if unit.is_empty() {
            s.push('\n');
        } else {
            let _ = writeln!(s, "{unit:<10}");
        }
    }
    s
}

/// `/proc/[pid]/mountinfo` derived from the mounts text (`source path
/// type options 0 0` lines): mount ids are positions, a mount's parent is
/// the latest earlier mount whose path contains it.
pub fn mountinfo(mounts: &str) -> String {
    let mut out = String::new();
    let mut seen: Vec<(u32, String)> = Vec::new();
    for (i, line) in mounts.lines().enumerate() {
        let f: Vec<&str> = line.split(' ').collect();
        if f.len() < 4 {
            continue;
        }
        let id = 20 + i as u32;
        let path = f[1].to_string();
        let parent = seen
            .iter()
            .rev()
            .find(|(_, p)| path != *p && (p == "/" || path.starts_with(&format!("{p}/"))))
            .map(|(id, _)| *id)
            .unwrap_or(id - 1);
        let _ = writeln!(out, "{id} {parent} 0:{} / {} {} - {} {} {}", id, path, f[3], f[2], f[0], f[3]);
        seen.push((id, path));
    }
    out
}

/// `/proc/meminfo`.
pub fn meminfo(i: &SysInfo) -> String {
    let kb = |b: u64| b / 1024;
    let free = i.mem_free.min(i.mem_total);
    let mut s = String::new();
    for (k, v) in [
        ("MemTotal", kb(i.mem_total)),
        ("MemFree", kb(free)),
        ("MemAvailable", kb(free + i.mem_cached.min(i.mem_total - free))),
        ("Buffers", 0),
        ("Cached", kb(i.mem_cached)),
        ("SwapCached", 0),
        ("Active", kb(i.mem_total - free)),
        ("Inactive", 0),
        ("Active(anon)", kb(i.mem_total - free)),
        ("Inactive(anon)", 0),
        ("Active(file)", 0),
        ("Inactive(file)", 0),
        ("Unevictable", 0),
        ("Mlocked", 0),
        ("SwapTotal", 0),
        ("SwapFree", 0),
        ("Dirty", 0),
        ("Writeback", 0),
        ("AnonPages", kb(i.mem_total - free)),
        ("Mapped", 0),
        ("Shmem", 0),
        ("CommitLimit", kb(i.mem_total)),
        ("Committed_AS", kb(i.mem_total - free)),
        ("VmallocTotal", 34_359_738_367),
        ("VmallocUsed", 0),
        ("VmallocChunk", 0),
    ] {
        let _ = writeln!(s, "{:<16}{:>8} kB", format!("{k}:"), v);
    }
    s
}

/// `/proc/uptime`: seconds up and idle (summed over CPUs).
pub fn uptime(i: &SysInfo) -> String {
    let up = i.uptime.as_secs_f64().max(0.01);
    format!("{:.2} {:.2}\n", up, up * f64::from(i.ncpus.max(1)))
}

/// `/proc/loadavg`.
pub fn loadavg(i: &SysInfo) -> String {
    format!("0.00 0.00 0.00 {}/{} {}\n", i.nr_running.max(1), i.nr_threads.max(i.nr_running.max(1)), i.last_pid)
}

/// `/proc/stat`: all time idle.
pub fn stat_global(i: &SysInfo) -> String {
    let n = i.ncpus.max(1);
    let idle = ticks(i.uptime);
    let mut s = format!("cpu  0 0 0 {} 0 0 0 0 0 0\n", idle * u64::from(n));
    for c in 0..n {
        let _ = writeln!(s, "cpu{c} 0 0 0 {idle} 0 0 0 0 0 0");
    }
    let _ = writeln!(s, "intr 0");
    let _ = writeln!(s, "ctxt 0");
    let _ = writeln!(s, "btime {}", i.boot_time);
    let _ = writeln!(s, "processes {}", i.processes);
    let _ = writeln!(s, "procs_running {}", i.nr_running.max(1));
    let _ = writeln!(s, "procs_blocked 0");
    let _ = writeln!(s, "softirq 0 0 0 0 0 0 0 0 0 0 0");
    s
}

/// `/proc/filesystems`.
pub const FILESYSTEMS: &str = "nodev\tsysfs\nnodev\ttmpfs\nnodev\tbdev\nnodev\tproc\nnodev\tdevtmpfs\nnodev\tdevpts\nnodev\tpipefs\nnodev\tanon_inodefs\nnodev\toverlay\nnodev\t9p\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_field_positions() {
        let t = TaskInfo { name: b"a b) c".to_vec(), state: 'S', tgid: 7, pid: 7, ppid: 1, pgrp: 7, session: 1, threads: 3, vm_size: 8192, vm_rss: 4096, exit_signal: 17, ..Default::default() };
        let s = stat(&t);
        assert!(s.ends_with('\n'));
        let close = s.rfind(')').unwrap();
        assert_eq!(&s[..close + 1], "7 (a b) c)");
        let rest: Vec<&str> = s[close + 2..].trim_end().split(' ').collect();
        // rest[0] is field 3.
        assert_eq!(rest.len(), 52 - 2);
        assert_eq!(rest[0], "S");
        assert_eq!(rest[1], "1");
        assert_eq!(rest[20 - 3], "3"); // num_threads
        assert_eq!(rest[23 - 3], "8192"); // vsize
        assert_eq!(rest[24 - 3], "1"); // rss pages
        assert_eq!(rest[38 - 3], "17"); // exit_signal
    }

    #[test]
    fn status_lines() {
        let t = TaskInfo { name: b"x\ny".to_vec(), state: 'R', uids: [1, 2, 3, 4], sig_blk: 1 << 9, has_mm: true, vm_rss: 8192, ncpus: 40, groups: vec![5, 6], ..Default::default() };
        let s = status(&t);
        assert!(s.starts_with("Name:\tx\\ny\n"));
        assert!(s.contains("State:\tR (running)\n"));
        assert!(s.contains("Uid:\t1\t2\t3\t4\n"));
        assert!(s.contains("Groups:\t5 6 \n"));
        assert!(s.contains("SigBlk:\t0000000000000200\n"));
        assert!(s.contains("VmRSS:\t       8 kB\n"));
        assert!(s.contains("Cpus_allowed:\t000000ff,ffffffff\n"));
        assert!(s.contains("Cpus_allowed_list:\t0-39\n"));
        let z = status(&TaskInfo { state: 'Z', ..Default::default() });
        assert!(!z.contains("VmSize"));
        assert!(z.contains("State:\tZ (zombie)\n"));
    }

    #[test]
    fn limits_and_mountinfo() {
        let l = limits(&[(10, u64::MAX)]);
        let lines: Vec<&str> = l.lines().collect();
        assert_eq!(lines.len(), 17);
        assert!(lines[1].starts_with("Max cpu time              10                   unlimited            seconds"));
        assert_eq!(lines[14].trim_end(), "Max nice priority         unlimited            unlimited");
        let mi = mountinfo("none / overlay rw 0 0\nnone /dev tmpfs rw,nosuid 0 0\nproc /proc proc rw 0 0\n");
        let ls: Vec<&str> = mi.lines().collect();
        assert_eq!(ls[1], "21 20 0:21 / /dev rw,nosuid - tmpfs none rw,nosuid");
        assert!(ls[2].starts_with("22 20 "));
    }

    #[test]
    fn global_texts() {
        let i = SysInfo { mem_total: 1 << 30, mem_free: 1 << 29, uptime: Duration::from_millis(1500), ncpus: 2, nr_threads: 3, nr_running: 1, last_pid: 9, boot_time: 1000, processes: 4, ..Default::default() };
        assert!(meminfo(&i).starts_with("MemTotal:        1048576 kB\nMemFree:          524288 kB\n"));
        assert_eq!(uptime(&i), "1.50 3.00\n");
        assert_eq!(loadavg(&i), "0.00 0.00 0.00 1/3 9\n");
        let st = stat_global(&i);
        assert!(st.starts_with("cpu  0 0 0 300 "));
        assert!(st.contains("\ncpu1 0 0 0 150 "));
        assert!(st.contains("\nbtime 1000\n"));
    }
}
