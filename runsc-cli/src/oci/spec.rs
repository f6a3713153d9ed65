//! Reading the bundle's config.json (via `oci-spec`) and turning it into
//! what the sandbox needs.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use oci_spec::runtime::{Process, Spec};

use super::proto::ExecSpec;

/// Load and check `<bundle>/config.json`.
pub fn load(bundle: &Path) -> Result<Spec> {
    if !bundle.is_dir() {
        bail!("bundle {} does not exist or is not a directory", bundle.display());
    }
    let path = bundle.join("config.json");
    if !path.exists() {
        bail!("{} does not exist", path.display());
    }
    let spec = Spec::load(&path).map_err(|e| anyhow::anyhow!("invalid {}: {e}", path.display()))?;
    let process = spec.process().as_ref().context("config.json has no process")?;
    if process.args().as_ref().is_none_or(|a| a.is_empty()) {
        bail!("config.json: process.args must not be empty");
    }
    let root = rootfs(bundle, &spec)?;
    if !root.is_dir() {
        bail!("rootfs {} does not exist or is not a directory", root.display());
    }
    Ok(spec)
}

/// The rootfs directory (relative to the bundle unless absolute).
pub fn rootfs(bundle: &Path, spec: &Spec) -> Result<PathBuf> {
    let root = spec.root().as_ref().context("config.json has no root")?;
    let p = root.path();
    Ok(if p.is_absolute() { p.clone() } else { bundle.join(p) })
}

/// An RLIMIT_* name (as config.json spells it) to its number.
pub fn rlimit_number(name: &str) -> Option<u32> {
    Some(match name {
        "RLIMIT_CPU" => libc::RLIMIT_CPU,
        "RLIMIT_FSIZE" => libc::RLIMIT_FSIZE,
        "RLIMIT_DATA" => libc::RLIMIT_DATA,
        "RLIMIT_STACK" => libc::RLIMIT_STACK,
        "RLIMIT_CORE" => libc::RLIMIT_CORE,
        "RLIMIT_RSS" => libc::RLIMIT_RSS,
        "RLIMIT_NPROC" => libc::RLIMIT_NPROC,
        "RLIMIT_NOFILE" => libc::RLIMIT_NOFILE,
        "RLIMIT_MEMLOCK" => libc::RLIMIT_MEMLOCK,
        "RLIMIT_AS" => libc::RLIMIT_AS,
        "RLIMIT_LOCKS" => libc::RLIMIT_LOCKS,
        "RLIMIT_SIGPENDING" => libc::RLIMIT_SIGPENDING,
        "RLIMIT_MSGQUEUE" => libc::RLIMIT_MSGQUEUE,
        "RLIMIT_NICE" => libc::RLIMIT_NICE,
        "RLIMIT_RTPRIO" => libc::RLIMIT_RTPRIO,
        "RLIMIT_RTTIME" => libc::RLIMIT_RTTIME,
        _ => return None,
    })
}

/// The process section as an exec request.
pub fn exec_spec(p: &Process) -> ExecSpec {
    let mut rlimits = Vec::new();
    for r in p.rlimits().iter().flatten() {
        let name = serde_json::to_value(r.typ()).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
        match rlimit_number(&name) {
            Some(n) => rlimits.push((n, r.soft(), r.hard())),
            None => tracing::warn!("unknown rlimit {name}: ignored"),
        }
    }
    let cwd = p.cwd().to_string_lossy().into_owned();
    ExecSpec {
        args: p.args().clone().unwrap_or_default(),
        env: p.env().clone().unwrap_or_default(),
        cwd: if cwd.is_empty() { "/".into() } else { cwd },
        uid: p.user().uid(),
        gid: p.user().gid(),
        groups: p.user().additional_gids().clone().unwrap_or_default(),
        no_new_privs: p.no_new_privileges().unwrap_or(false),
        rlimits,
    }
}

/// The default config.json that `spec` writes (runc's, with `sh`).
pub fn default_spec() -> Spec {
    let mut s = Spec::default();
    s.set_hostname(Some("runsc-rs".into()));
    s
}
