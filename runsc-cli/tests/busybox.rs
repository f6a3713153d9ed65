//! Busybox applets and shell features in the sandbox (issue: the Sentry on
//! the ptrace platform). Each test runs the real busybox-static binary.

mod common;
use common::*;

#[test]
fn echo_and_exit_status() {
    assert_eq!(ok(sh("echo hello world")), "hello world\n");
    assert_eq!(sh("exit 7").status.code(), Some(7));
}

#[test]
fn cat_wc_head_sort_grep_sed_awk() {
    let out = ok(sh("printf 'b\\na\\nc\\n' > /tmp/f; cat /tmp/f | sort | head -n 2; wc -l < /tmp/f; grep -c a /tmp/f; sed 's/b/B/' /tmp/f | head -n1; echo '3 4' | awk '{print $1*$2}'"));
    assert_eq!(out, "a\nb\n3\n1\nB\n12\n");
}

#[test]
fn ls_la_root() {
    let out = ok(sh("ls -la /"));
    assert!(out.contains("bin") && out.contains("tmp") && out.contains("etc"), "{out}");
    assert!(out.lines().any(|l| l.starts_with('d') && l.ends_with(" .")), "{out}");
}

#[test]
fn find_cp_mv_rm_mkdir_in_tmp() {
    let out = ok(sh("mkdir -p /tmp/d/e && echo x > /tmp/d/e/f && cp /tmp/d/e/f /tmp/d/g && mv /tmp/d/g /tmp/d/h && find /tmp/d | sort && rm -r /tmp/d && ls /tmp/d 2>&1 || true"));
    assert!(out.starts_with("/tmp/d\n/tmp/d/e\n/tmp/d/e/f\n/tmp/d/h\n"), "{out}");
    assert!(out.contains("No such file"), "{out}");
}

#[test]
fn date_sleep_env_uname_id() {
    let out = ok(run_do(&["-e", "FOO=bar"], &[BUSYBOX, "sh", "-c", "date +%Y >/dev/null && sleep 0.1 && env | grep FOO && uname -a && id"], b""));
    assert!(out.contains("FOO=bar\n"), "{out}");
    assert!(out.contains("Linux"), "{out}");
    assert!(out.contains("uid=0"), "{out}");
}

#[test]
fn shell_variables_loops_functions_substitution() {
    let out = ok(sh("x=3; f() { echo \"f$1\"; }; for i in 1 2 $x; do f $i; done; y=$(echo sub); echo $y; i=0; while [ $i -lt 3 ]; do i=$((i+1)); done; echo $i"));
    assert_eq!(out, "f1\nf2\nf3\nsub\n3\n");
}

#[test]
fn shell_pipelines_and_redirections() {
    let out = ok(sh("echo one > /tmp/r; echo two >> /tmp/r; cat < /tmp/r | tr a-z A-Z | sort -r; ls /nonexistent 2>&1 | grep -c 'No such'"));
    assert_eq!(out, "TWO\nONE\n1\n");
}

#[test]
fn shell_here_document() {
    let out = ok(sh("cat <<EOF\nline $((1+1))\nEOF"));
    assert_eq!(out, "line 2\n");
}

#[test]
fn shell_trap_and_kill() {
    let out = ok(sh("trap 'echo caught' USR1; kill -USR1 $$; echo after"));
    assert_eq!(out, "caught\nafter\n");
    assert_eq!(sh("kill -TERM $$; echo not-reached").status.code(), Some(143));
}

#[test]
fn shell_background_jobs_and_wait() {
    let out = ok(sh("(echo a > /tmp/a) & (echo b > /tmp/b) & wait; cat /tmp/a /tmp/b; sleep 5 & kill $!; wait $!; echo $?"));
    assert_eq!(out, "a\nb\n143\n");
}

#[test]
fn stdin_is_connected() {
    need_busybox();
    let out = ok(run_do(&[], &[BUSYBOX, "wc", "-c"], b"12345"));
    assert_eq!(out.trim(), "5");
}
