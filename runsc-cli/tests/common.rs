//! Helpers for tests that run real programs in a sandbox.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::io::Write;

pub const BUSYBOX: &str = "/bin/busybox";

/// The runsc-rs binary under test.
pub fn runsc() -> &'static str {
    env!("CARGO_BIN_EXE_runsc-rs")
}

/// Busybox-static must be installed (the test command installs it).
pub fn need_busybox() {
    assert!(
        Path::new(BUSYBOX).exists(),
        "{BUSYBOX} is missing: install Debian's busybox-static (the README's test command does)"
    );
}

/// Run `runsc-rs do [extra] -- argv` with `stdin`, and return its output.
pub fn run_do(extra: &[&str], argv: &[&str], stdin: &[u8]) -> Output {
    let mut cmd = Command::new(runsc());
    cmd.args(["--platform", &platform()]).arg("do").args(extra).arg("--").args(argv);
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn runsc-rs");
    let mut si = child.stdin.take().unwrap();
    si.write_all(stdin).unwrap();
    drop(si);
    child.wait_with_output().expect("wait runsc-rs")
}

/// `busybox sh -c script` in the sandbox.
pub fn sh(script: &str) -> Output {
    need_busybox();
    run_do(&[], &[BUSYBOX, "sh", "-c", script], b"")
}

pub fn platform() -> String {
    std::env::var("RUNSC_RS_TEST_PLATFORM").unwrap_or_else(|_| "ptrace".into())
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Assert success and return stdout.
pub fn ok(o: Output) -> String {
    assert!(
        o.status.success(),
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    stdout(&o)
}

/// Compile a C program statically (gcc is part of the build environment).
pub fn cc(name: &str, src: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("runsc-rs-tests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let c = dir.join(format!("{name}.c"));
    let bin = dir.join(name);
    std::fs::write(&c, src).unwrap();
    let st = Command::new("gcc").args(["-static", "-O1", "-o"]).arg(&bin).arg(&c).status().expect("gcc");
    assert!(st.success(), "compiling {name}");
    bin
}
