//! Host cgroups for the sandbox process (v1 hierarchies, or v2 unified):
//! `linux.cgroupsPath` and `linux.resources` (memory, pids, cpu), and the
//! freezer for pause/resume.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use oci_spec::runtime::Spec;
use tracing::warn;

const MNT: &str = "/sys/fs/cgroup";

/// The cgroups made for one sandbox.
#[derive(Default, Debug)]
pub struct Cgroups {
    pub dirs: Vec<PathBuf>,
    pub freezer: Option<PathBuf>,
}

fn v2() -> bool {
    Path::new(MNT).join("cgroup.controllers").exists()
}

/// cgroupsPath as a relative path: "slice:prefix:name" (systemd) becomes
/// "slice/prefix-name.scope".
fn rel_path(p: &str, systemd: bool) -> PathBuf {
    let parts: Vec<&str> = p.split(':').collect();
    if systemd && parts.len() == 3 {
        let slice = if parts[0].is_empty() { "system.slice" } else { parts[0] };
        return PathBuf::from(slice).join(format!("{}-{}.scope", parts[1], parts[2]));
    }
    PathBuf::from(p.trim_start_matches('/'))
}

fn write(dir: &Path, file: &str, val: &str) -> Result<()> {
    std::fs::write(dir.join(file), val).with_context(|| format!("writing {val} to {}", dir.join(file).display()))
}

/// Make the cgroups and write the limits; the sandbox joins them itself.
pub fn setup(spec: &Spec, id: &str, systemd: bool) -> Result<Cgroups> {
    let Some(linux) = spec.linux() else { return Ok(Cgroups::default()) };
    let res = linux.resources().as_ref();
    let path = match linux.cgroups_path() {
        Some(p) => rel_path(&p.to_string_lossy(), systemd),
        None if res.is_some() => PathBuf::from("runsc-rs").join(id),
        None => return Ok(Cgroups::default()),
    };
    let mem = res.and_then(|r| r.memory().as_ref()).and_then(|m| m.limit()).filter(|l| *l > 0);
    let pids = res.and_then(|r| r.pids().as_ref()).map(|p| p.limit()).filter(|l| *l > 0);
    let cpu = res.and_then(|r| r.cpu().as_ref());
    let wanted = mem.is_some() || pids.is_some() || cpu.is_some();
    let r = make(&path, mem, pids, cpu);
    match r {
        Ok(c) => Ok(c),
        Err(e) if !wanted => {
            warn!("cgroup {}: {e:#} (no limits requested: going on without)", path.display());
            Ok(Cgroups::default())
        }
        Err(e) => Err(e),
    }
}

fn make(path: &Path, mem: Option<i64>, pids: Option<i64>, cpu: Option<&oci_spec::runtime::LinuxCpu>) -> Result<Cgroups> {
    let mut c = Cgroups::default();
    if v2() {
        let dir = Path::new(MNT).join(path);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        c.dirs.push(dir.clone());
        if let Some(m) = mem {
            write(&dir, "memory.max", &m.to_string())?;
        }
        if let Some(p) = pids {
            write(&dir, "pids.max", &p.to_string())?;
        }
        if let Some(q) = cpu.and_then(|c| c.quota()).filter(|q| *q > 0) {
            let period = cpu.and_then(|c| c.period()).unwrap_or(100_000);
            write(&dir, "cpu.max", &format!("{q} {period}"))?;
        }
        c.freezer = None;
        return Ok(c);
    }
    for ctrl in ["memory", "pids", "cpu", "freezer"] {
        let base = Path::new(MNT).join(ctrl);
        if !base.exists() {
            continue;
        }
        let dir = base.join(path);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        c.dirs.push(dir.clone());
        match ctrl {
            "memory" => {
                if let Some(m) = mem {
                    write(&dir, "memory.limit_in_bytes", &m.to_string())?;
                }
            }
            "pids" => {
                if let Some(p) = pids {
                    write(&dir, "pids.max", &p.to_string())?;
                }
            }
            "cpu" => {
                if let Some(s) = cpu.and_then(|c| c.shares()).filter(|s| *s > 0) {
                    write(&dir, "cpu.shares", &s.to_string())?;
                }
                if let Some(p) = cpu.and_then(|c| c.period()).filter(|p| *p > 0) {
                    write(&dir, "cpu.cfs_period_us", &p.to_string())?;
                }
                if let Some(q) = cpu.and_then(|c| c.quota()).filter(|q| *q != 0) {
                    write(&dir, "cpu.cfs_quota_us", &q.to_string())?;
                }
            }
            _ => c.freezer = Some(dir.clone()),
        }
    }
    Ok(c)
}

/// Kill whatever is left in the cgroups (stray helpers of a killed
/// sandbox), wait for it, and remove the directories.
pub fn remove(dirs: &[PathBuf]) {
    for d in dirs {
        let pids: Vec<i32> = std::fs::read_to_string(d.join("cgroup.procs")).unwrap_or_default().lines().filter_map(|l| l.trim().parse().ok()).collect();
        for pid in pids {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
            let _ = super::sys::wait_pid_exit(pid, std::time::Duration::from_secs(10));
        }
    }
    for d in dirs {
        // Exiting tasks leave the cgroup a moment after they die (rmdir
        // gives EBUSY until then); cgroup v1 has no event for "empty", so
        // retry briefly, killing anything that is still there.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
        loop {
            match std::fs::remove_dir(d) {
                Ok(()) => break,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) && std::time::Instant::now() < deadline => {
                    for pid in std::fs::read_to_string(d.join("cgroup.procs")).unwrap_or_default().lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
                    }
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
                Err(e) => {
                    warn!("removing cgroup {}: {e}", d.display());
                    break;
                }
            }
        }
    }
}

/// Freeze or thaw, and wait until the state is reached.
pub fn freeze(dir: &Path, frozen: bool) -> Result<()> {
    let want = if frozen { "FROZEN" } else { "THAWED" };
    write(dir, "freezer.state", want)?;
    for _ in 0..1000 {
        let s = std::fs::read_to_string(dir.join("freezer.state"))?;
        if s.trim() == want {
            return Ok(());
        }
        // FREEZING: the kernel gets there on its own; writing again kicks it.
        write(dir, "freezer.state", want)?;
    }
    anyhow::bail!("the freezer cgroup did not reach {want}")
}
