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
    sysctls(&spec).with_context(|| format!("{}: linux.sysctl", path.display()))?;
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

/// The sysctls runc accepts in the IPC namespace (besides `fs.mqueue.*`).
const IPC_SYSCTLS: &[&str] =
    &["kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"];

/// `linux.sysctl`, validated as runc does, as (dotted key, value) sorted
/// by key. Only namespaced sysctls pass: the IPC ones and `fs.mqueue.*`
/// (with an ipc namespace), `net.*` (with a network namespace) and
/// `kernel.domainname` (with a uts namespace); `kernel.hostname` conflicts
/// with the `hostname` field. Keys may use '/' as the separator
/// (`net/ipv4/ip_forward`). Unlike runc, a network namespace given by
/// path is not compared with the host's: the sandbox has its own stack
/// whatever namespace it sits in.
///
/// In the sandbox the values are recorded at /proc/sys/<key with dots as
/// slashes> (root may rewrite them) and have no effect, except
/// `kernel.domainname` (uname's domain name).
pub fn sysctls(spec: &Spec) -> Result<Vec<(String, String)>> {
    use oci_spec::runtime::LinuxNamespaceType as Ns;
    let Some(linux) = spec.linux().as_ref() else { return Ok(Vec::new()) };
    let Some(map) = linux.sysctl().as_ref() else { return Ok(Vec::new()) };
    let has_ns = |t: Ns| linux.namespaces().iter().flatten().any(|n| n.typ() == t);
    let mut out: Vec<(String, String)> = Vec::new();
    for (raw, value) in map {
        let key = if raw.contains('/') {
            if raw.contains('.') {
                bail!("sysctl {raw:?}: mixes '.' and '/' as separators");
            }
            raw.replace('/', ".")
        } else {
            raw.clone()
        };
        if key.split('.').any(|c| c.is_empty() || c.chars().any(|ch| ch.is_whitespace() || ch == '\0')) {
            bail!("sysctl {raw:?}: not a valid sysctl name");
        }
        if value.contains('\0') {
            bail!("sysctl {raw:?}: the value holds a NUL byte");
        }
        let needs = if IPC_SYSCTLS.contains(&key.as_str()) || key.starts_with("fs.mqueue.") {
            (Ns::Ipc, "ipc")
        } else if key.starts_with("net.") {
            (Ns::Network, "network")
        } else if key == "kernel.domainname" {
            (Ns::Uts, "uts")
        } else if key == "kernel.hostname" {
            bail!("sysctl {raw:?} is not allowed as it conflicts with the OCI \"hostname\" field");
        } else {
            bail!(
                "sysctl {raw:?} is not in a separate kernel namespace (allowed: {}, fs.mqueue.*, net.*, kernel.domainname)",
                IPC_SYSCTLS.join(", ")
            );
        };
        if !has_ns(needs.0) {
            bail!("sysctl {raw:?} is not allowed in the host's {} namespace (the config has no {} namespace)", needs.1, needs.1);
        }
        if out.iter().any(|(k, _)| *k == key) {
            bail!("sysctl {key:?} is given twice");
        }
        out.push((key, value.clone()));
    }
    out.sort();
    // One key may not be a directory of another (net.ipv4 and net.ipv4.x).
    for w in out.windows(2) {
        if w[1].0.strip_prefix(&w[0].0).is_some_and(|rest| rest.starts_with('.')) {
            bail!("sysctl {:?} conflicts with {:?}", w[0].0, w[1].0);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_with(sysctl: serde_json::Value, namespaces: &[&str]) -> Spec {
        let ns: Vec<serde_json::Value> = namespaces.iter().map(|t| serde_json::json!({ "type": t })).collect();
        let v = serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs"},
            "linux": {"namespaces": ns, "sysctl": sysctl}
        });
        serde_json::from_value(v).unwrap()
    }

    const ALL: &[&str] = &["pid", "mount", "ipc", "network", "uts"];

    #[test]
    fn namespaced_sysctls_pass_sorted() {
        let s = spec_with(
            serde_json::json!({"net.ipv4.ip_forward": "1", "kernel.shmmax": "4096", "fs.mqueue.msg_max": "10",
                "kernel.domainname": "example.org", "kernel.sem": "250 32000 32 128", "net/core/somaxconn": "512"}),
            ALL,
        );
        let got = sysctls(&s).unwrap();
        let keys: Vec<&str> = got.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["fs.mqueue.msg_max", "kernel.domainname", "kernel.sem", "kernel.shmmax", "net.core.somaxconn", "net.ipv4.ip_forward"]);
        assert_eq!(got[2].1, "250 32000 32 128");
        assert!(sysctls(&spec_with(serde_json::json!({}), &[])).unwrap().is_empty());
        let none: Spec = serde_json::from_value(serde_json::json!({"ociVersion": "1.0.2", "root": {"path": "rootfs"}})).unwrap();
        assert!(sysctls(&none).unwrap().is_empty());
    }

    #[test]
    fn others_are_refused_clearly() {
        let err = |kv: serde_json::Value, ns: &[&str]| format!("{:#}", sysctls(&spec_with(kv, ns)).unwrap_err());
        let e = err(serde_json::json!({"vm.swappiness": "10"}), ALL);
        assert!(e.contains("\"vm.swappiness\" is not in a separate kernel namespace"), "{e}");
        assert!(err(serde_json::json!({"kernel.pid_max": "10"}), ALL).contains("not in a separate kernel namespace"));
        assert!(err(serde_json::json!({"kernel.hostname": "x"}), ALL).contains("conflicts with the OCI \"hostname\" field"));
        // Namespaced ones need their namespace in the config.
        assert!(err(serde_json::json!({"net.ipv4.ip_forward": "1"}), &["pid", "ipc"]).contains("host's network namespace"));
        assert!(err(serde_json::json!({"kernel.shmmax": "1"}), &["network"]).contains("host's ipc namespace"));
        assert!(err(serde_json::json!({"fs.mqueue.queues_max": "1"}), &["network"]).contains("host's ipc namespace"));
        assert!(err(serde_json::json!({"kernel.domainname": "x"}), &["ipc"]).contains("host's uts namespace"));
        // Malformed names, duplicates and file/directory clashes.
        assert!(err(serde_json::json!({"net..x": "1"}), ALL).contains("not a valid sysctl name"));
        assert!(err(serde_json::json!({"net.ipv4/x": "1"}), ALL).contains("mixes"));
        assert!(err(serde_json::json!({"net.a": "1", "net/a": "2"}), ALL).contains("given twice"));
        assert!(err(serde_json::json!({"net.ipv4": "1", "net.ipv4.x": "2"}), ALL).contains("conflicts with"));
        assert!(sysctls(&spec_with(serde_json::json!({"net.ipv4": "1", "net.ipv40": "2"}), ALL)).is_ok());
    }
}
