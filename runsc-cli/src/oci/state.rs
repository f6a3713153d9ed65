//! The state directory of a container: `<root>/<id>/` holds `state.json`
//! (what `create` recorded) and `control.sock` (the sandbox's control
//! socket). It outlives the calling process and is removed by `delete`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::{proto, sys};

/// What `create` records.
#[derive(Serialize, Deserialize, Debug, Clone, Default)]
pub struct Saved {
    pub id: String,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    /// Host pid of the sandbox process (0 while creating).
    pub pid: i32,
    /// Its start time, to detect pid reuse.
    pub pid_start: Option<u64>,
    /// RFC 3339 creation time.
    pub created: String,
    pub annotations: BTreeMap<String, String>,
    /// Host cgroup directories made for the sandbox (removed by delete).
    #[serde(default)]
    pub cgroups: Vec<PathBuf>,
    /// The freezer cgroup, for pause/resume.
    #[serde(default)]
    pub freezer: Option<PathBuf>,
}

/// The OCI state (`runc state` output).
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct OciState {
    #[serde(rename = "ociVersion")]
    pub oci_version: String,
    pub id: String,
    pub pid: i32,
    pub status: String,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    pub owner: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub annotations: BTreeMap<String, String>,
}

pub const OCI_VERSION: &str = "1.0.2-dev";

/// Where a container's state lives.
pub struct Container {
    pub dir: PathBuf,
    pub saved: Saved,
}

pub fn validate_id(id: &str) -> Result<()> {
    if id.is_empty() || id == "." || id == ".." || id.len() > 1024 || !id.chars().all(|c| c.is_ascii_alphanumeric() || "_+-.".contains(c)) {
        bail!("invalid container id {id:?}");
    }
    Ok(())
}

impl Container {
    pub fn load(root: &Path, id: &str) -> Result<Container> {
        validate_id(id)?;
        let dir = root.join(id);
        let file = dir.join("state.json");
        let data = match std::fs::read(&file) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!("container \"{id}\" does not exist"),
            Err(e) => return Err(e).with_context(|| format!("reading {}", file.display())),
        };
        let saved: Saved = serde_json::from_slice(&data).with_context(|| format!("decoding {}", file.display()))?;
        Ok(Container { dir, saved })
    }

    pub fn save(&self) -> Result<()> {
        let tmp = self.dir.join("state.json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(&self.saved)?)?;
        std::fs::rename(&tmp, self.dir.join("state.json"))?;
        Ok(())
    }

    pub fn control_sock(&self) -> PathBuf {
        self.dir.join("control.sock")
    }

    /// Whether the sandbox process is still the one create started.
    pub fn sandbox_alive(&self) -> bool {
        let pid = self.saved.pid;
        sys::pid_alive(pid) && (self.saved.pid_start.is_none() || sys::pid_start_time(pid) == self.saved.pid_start)
    }

    /// creating, created, running, paused or stopped.
    pub fn status(&self) -> &'static str {
        if self.saved.pid == 0 {
            return if self.dir.join("state.json").exists() { "creating" } else { "stopped" };
        }
        if !self.sandbox_alive() {
            return "stopped";
        }
        if let Some(f) = &self.saved.freezer {
            if std::fs::read_to_string(f.join("freezer.state")).is_ok_and(|s| s.trim() != "THAWED") {
                return "paused";
            }
        }
        match proto::call(&self.control_sock(), &proto::Request::Status, &[]) {
            Ok(r) if r.started == Some(true) => "running",
            Ok(_) => "created",
            // Alive but not answering: on its way out, or still booting.
            Err(_) => {
                if self.sandbox_alive() {
                    "created"
                } else {
                    "stopped"
                }
            }
        }
    }

    pub fn oci_state(&self) -> OciState {
        let status = self.status();
        OciState {
            oci_version: OCI_VERSION.into(),
            id: self.saved.id.clone(),
            pid: if status == "stopped" { 0 } else { self.saved.pid },
            status: status.into(),
            bundle: self.saved.bundle.clone(),
            rootfs: self.saved.rootfs.clone(),
            created: self.saved.created.clone(),
            owner: String::new(),
            annotations: self.saved.annotations.clone(),
        }
    }
}

/// Now, as RFC 3339 UTC with nanoseconds.
pub fn now_rfc3339() -> String {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = if month <= 2 { y + 1 } else { y };
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z", rem / 3600, rem / 60 % 60, rem % 60, d.subsec_nanos())
}
