//! `runsc-rs install` / `uninstall`: register (or remove) runsc-rs as a
//! docker runtime in daemon.json, as `runsc install` does. Every other key
//! of the file is kept; the file is written atomically. Docker reads it at
//! start (or on SIGHUP for `runtimes`).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;
use serde_json::{Map, Value};

#[derive(Args, Debug)]
pub struct InstallArgs {
    /// docker's daemon.json.
    #[arg(long = "config-file", default_value = "/etc/docker/daemon.json")]
    pub config_file: PathBuf,
    /// The runtime's name in docker (`docker run --runtime=NAME`).
    #[arg(long, default_value = "runsc-rs")]
    pub runtime: String,
    /// The runtime binary (default: this executable).
    #[arg(long)]
    pub path: Option<PathBuf>,
    /// Also set `"default-runtime"` to this runtime.
    #[arg(long = "set-default")]
    pub set_default: bool,
    /// runtimeArgs: flags docker passes before each command
    /// (e.g. `-- --platform=kvm`).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub runtime_args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct UninstallArgs {
    #[arg(long = "config-file", default_value = "/etc/docker/daemon.json")]
    pub config_file: PathBuf,
    #[arg(long, default_value = "runsc-rs")]
    pub runtime: String,
}

fn load(path: &Path) -> Result<Map<String, Value>> {
    match std::fs::read(path) {
        Ok(d) if d.iter().all(|b| b.is_ascii_whitespace()) => Ok(Map::new()),
        Ok(d) => match serde_json::from_slice::<Value>(&d).with_context(|| format!("invalid JSON in {}", path.display()))? {
            Value::Object(m) => Ok(m),
            _ => bail!("{} is not a JSON object", path.display()),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Map::new()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

fn store(path: &Path, m: Map<String, Value>) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut text = serde_json::to_string_pretty(&Value::Object(m))?;
    text.push('\n');
    let tmp = path.with_extension("runsc-rs-tmp");
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

pub fn install(a: &InstallArgs) -> Result<i32> {
    let path = match &a.path {
        Some(p) => p.clone(),
        None => std::env::current_exe().context("finding our own executable")?,
    };
    let path = if path.is_absolute() { path } else { std::env::current_dir()?.join(path) };
    let mut m = load(&a.config_file)?;
    let runtimes = m.entry("runtimes").or_insert_with(|| Value::Object(Map::new()));
    let Value::Object(runtimes) = runtimes else { bail!("\"runtimes\" in {} is not an object", a.config_file.display()) };
    let mut rt = Map::new();
    rt.insert("path".into(), Value::String(path.to_string_lossy().into_owned()));
    if !a.runtime_args.is_empty() {
        rt.insert("runtimeArgs".into(), Value::Array(a.runtime_args.iter().cloned().map(Value::String).collect()));
    }
    runtimes.insert(a.runtime.clone(), Value::Object(rt));
    if a.set_default {
        m.insert("default-runtime".into(), Value::String(a.runtime.clone()));
    }
    store(&a.config_file, m)?;
    eprintln!("runtime {} ({}) written to {}; restart dockerd (or send it SIGHUP) to use it", a.runtime, path.display(), a.config_file.display());
    Ok(0)
}

pub fn uninstall(a: &UninstallArgs) -> Result<i32> {
    let mut m = load(&a.config_file)?;
    if let Some(Value::Object(rts)) = m.get_mut("runtimes") {
        rts.remove(&a.runtime);
        if rts.is_empty() {
            m.remove("runtimes");
        }
    }
    if m.get("default-runtime").and_then(Value::as_str) == Some(a.runtime.as_str()) {
        m.remove("default-runtime");
    }
    store(&a.config_file, m)?;
    Ok(0)
}
