//! OCI hooks: run on the host with the container's state JSON on stdin.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use oci_spec::runtime::Hook;

use super::state::OciState;

/// Run `hooks` in order; the first failure stops and is returned.
pub fn run(kind: &str, hooks: Option<&Vec<Hook>>, state: &OciState) -> Result<()> {
    let input = serde_json::to_vec(state)?;
    for h in hooks.into_iter().flatten() {
        run_one(h, &input).with_context(|| format!("{kind} hook {}", h.path().display()))?;
    }
    Ok(())
}

fn run_one(h: &Hook, input: &[u8]) -> Result<()> {
    let mut cmd = Command::new(h.path());
    if let Some(args) = h.args() {
        // args[0] is argv[0], as in execv.
        if let Some(a0) = args.first() {
            std::os::unix::process::CommandExt::arg0(&mut cmd, a0);
        }
        cmd.args(args.iter().skip(1));
    }
    if let Some(env) = h.env() {
        cmd.env_clear();
        for e in env {
            if let Some((k, v)) = e.split_once('=') {
                cmd.env(k, v);
            }
        }
    }
    cmd.stdin(Stdio::piped()).stdout(Stdio::inherit()).stderr(Stdio::inherit());
    let mut child = cmd.spawn().context("starting")?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin is fine.
        let _ = stdin.write_all(input);
    }
    let pid = child.id() as i32;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    let status = match h.timeout() {
        Some(t) if t > 0 => match rx.recv_timeout(Duration::from_secs(t as u64)) {
            Ok(s) => s?,
            Err(_) => {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
                bail!("timed out after {t}s");
            }
        },
        _ => rx.recv().context("waiting")??,
    };
    if !status.success() {
        bail!("failed: {status}");
    }
    Ok(())
}
