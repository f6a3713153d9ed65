//! Static C programs: crashes, unknown syscalls, and the rootfs boundary.

mod common;
use common::*;

#[test]
fn segfault_gives_139_and_sentry_survives() {
    let bin = cc("segv", "int main(){ *(volatile int*)8 = 1; return 0; }");
    let o = run_do(&[], &[bin.to_str().unwrap()], b"");
    assert_eq!(o.status.code(), Some(139), "stderr: {}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn unknown_syscall_is_enosys() {
    let bin = cc(
        "enosys",
        "#include <unistd.h>\n#include <errno.h>\n#include <stdio.h>\nint main(){ long r = syscall(1000); printf(\"%ld %d\\n\", r, errno); return errno == ENOSYS ? 0 : 1; }",
    );
    let out = ok(run_do(&[], &[bin.to_str().unwrap()], b""));
    assert_eq!(out, format!("-1 {}\n", libc_enosys()));
}

fn libc_enosys() -> i32 {
    38
}

#[test]
fn missing_command_is_127() {
    let o = run_do(&[], &["/no/such/program"], b"");
    assert_eq!(o.status.code(), Some(127));
}

/// A rootfs holding busybox, a hostname file outside it, and absolute and
/// relative symlinks that point "out".
#[test]
fn nothing_escapes_the_rootfs() {
    need_busybox();
    let base = std::env::temp_dir().join(format!("runsc-rs-escape-{}", std::process::id()));
    let root = base.join("rootfs");
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::create_dir_all(root.join("tmp")).unwrap();
    std::fs::copy(BUSYBOX, root.join("bin/busybox")).unwrap();
    std::fs::write(root.join("etc/shadow"), "inside-shadow\n").unwrap();
    std::fs::write(root.join("etc/hostname"), "inside-hostname\n").unwrap();
    std::fs::write(base.join("secret"), "outside\n").unwrap();
    std::os::unix::fs::symlink("/etc/shadow", root.join("abs-link")).unwrap();
    std::os::unix::fs::symlink("../../../../secret", root.join("rel-link")).unwrap();
    let r = root.to_str().unwrap();
    let out = ok(run_do(
        &["--rootfs", r, "--cwd", "/tmp"],
        &["/bin/busybox", "sh", "-c", "cat ../../etc/hostname; cat /abs-link; cat /rel-link 2>&1; cat /../secret 2>&1; true"],
        b"",
    ));
    assert!(out.contains("inside-hostname"), "{out}");
    assert!(out.contains("inside-shadow"), "{out}");
    assert!(!out.contains("outside"), "escaped the rootfs: {out}");
    let _ = std::fs::remove_dir_all(&base);
}

/// Workload input never panics the Sentry: thousands of random syscalls
/// with hostile arguments (bad pointers, huge lengths, odd flags).
#[test]
fn random_syscalls_never_panic_the_sentry() {
    let src = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/progs/syscall_fuzz.c")).unwrap();
    let bin = cc("syscall_fuzz", &src);
    let o = run_do(&[], &[bin.to_str().unwrap(), "25"], b"");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("panicked"), "the Sentry panicked:\n{err}");
    assert_eq!(stdout(&o), "batches 25\n", "stderr:\n{err}");
}

/// Regression: a clone exit signal above 64 panicked the Sentry when the
/// child exited (the action table was indexed with it).
#[test]
fn clone_with_an_invalid_exit_signal_does_not_panic() {
    let src = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/progs/clone_bad_exit_signal.c")).unwrap();
    let bin = cc("clone_bad_exit_signal", &src);
    let o = run_do(&[], &[bin.to_str().unwrap()], b"");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("panicked"), "the Sentry panicked:\n{err}");
    let out = stdout(&o);
    assert!(out.split_whitespace().next().is_some_and(|pid| pid.parse::<i64>().is_ok_and(|p| p > 0)), "{out}");
}
