/* prctl: names, parent-death signal, no_new_privs, dumpable, keepcaps,
 * subreaper, capability bounding set, errors. */
#define AREA "prctl"
#define ST_HARNESS_MAIN
#include "harness.h"

#include <grp.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

static void child_ok(pid_t pid) {
    int st = st_wait(pid);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 77) _exit(77);
    if (WIFEXITED(st)) FAIL("helper child exited with %d", WEXITSTATUS(st));
    FAIL("helper child killed by signal %d", WTERMSIG(st));
}

static void read_file(const char *path, char *buf, size_t n) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) FAIL("open %s: %s", path, strerrorname_np(errno));
    ssize_t r = read(fd, buf, n - 1);
    if (r < 0) FAIL("read %s: %s", path, strerrorname_np(errno));
    buf[r] = 0;
    close(fd);
}

static int status_field(const char *key, char *out, size_t n) {
    char buf[4096];
    read_file("/proc/self/status", buf, sizeof buf);
    char pat[64];
    snprintf(pat, sizeof pat, "\n%s:", key);
    char *p = strstr(buf, pat);
    if (!p) return 0;
    p += strlen(pat);
    while (*p == ' ' || *p == '\t') p++;
    size_t l = strcspn(p, "\n");
    snprintf(out, n, "%.*s", (int)l, p);
    return 1;
}

TEST(set_name_get_name) {
    CHECK_OK(prctl(PR_SET_NAME, "st-name", 0, 0, 0));
    char name[32] = {0};
    CHECK_OK(prctl(PR_GET_NAME, name, 0, 0, 0));
    CHECK_STR(name, "st-name");
    char comm[64];
    read_file("/proc/self/comm", comm, sizeof comm);
    CHECK_STR(comm, "st-name\n");
    char stat[512], want[64];
    read_file("/proc/self/stat", stat, sizeof stat);
    snprintf(want, sizeof want, "%d (st-name) ", getpid());
    CHECK(strncmp(stat, want, strlen(want)) == 0);
    /* Writing /proc/self/comm is the other way in. */
    int fd = CHECK_OK(open("/proc/self/comm", O_WRONLY));
    CHECK_EQ(write(fd, "via-proc", 8), 8);
    close(fd);
    memset(name, 0, sizeof name);
    CHECK_OK(prctl(PR_GET_NAME, name, 0, 0, 0));
    CHECK_STR(name, "via-proc");
}

TEST(name_truncated_to_15) {
    CHECK_OK(prctl(PR_SET_NAME, "abcdefghijklmnopqrstuvwxyz", 0, 0, 0));
    char name[32];
    memset(name, 'X', sizeof name);
    CHECK_OK(prctl(PR_GET_NAME, name, 0, 0, 0));
    CHECK_EQ(name[15], 0);
    CHECK_STR(name, "abcdefghijklmno");
    char comm[64];
    read_file("/proc/self/comm", comm, sizeof comm);
    CHECK_STR(comm, "abcdefghijklmno\n");
    CHECK_OK(prctl(PR_SET_NAME, "", 0, 0, 0));
    CHECK_OK(prctl(PR_GET_NAME, name, 0, 0, 0));
    CHECK_STR(name, "");
    CHECK_ERR(prctl(PR_SET_NAME, (char *)1, 0, 0, 0), EFAULT);
}

TEST(name_is_per_thread_and_inherited) {
    CHECK_OK(prctl(PR_SET_NAME, "parent-name", 0, 0, 0));
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        char name[32] = {0};
        CHECK_OK(prctl(PR_GET_NAME, name, 0, 0, 0));
        CHECK_STR(name, "parent-name");
        CHECK_OK(prctl(PR_SET_NAME, "child-name", 0, 0, 0));
        _exit(0);
    }
    child_ok(pid);
    char name[32] = {0};
    CHECK_OK(prctl(PR_GET_NAME, name, 0, 0, 0));
    CHECK_STR(name, "parent-name");
}

TEST(pdeathsig_delivered_when_parent_dies) {
    /* We become a subreaper so that the orphaned grandchild is reparented to
     * us and we can wait for it. */
    CHECK_OK(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0));
    int ready[2], info[2];
    CHECK_OK(pipe(ready));
    CHECK_OK(pipe(info));
    pid_t mid = CHECK_OK(fork());
    if (mid == 0) {
        pid_t g = CHECK_OK(fork());
        if (g == 0) {
            signal(SIGUSR1, SIG_DFL);
            CHECK_OK(prctl(PR_SET_PDEATHSIG, SIGUSR1, 0, 0, 0));
            int sig = 0;
            CHECK_OK(prctl(PR_GET_PDEATHSIG, &sig, 0, 0, 0));
            CHECK_EQ(sig, SIGUSR1);
            pid_t me = getpid();
            CHECK_EQ(write(info[1], &me, sizeof me), (ssize_t)sizeof me);
            CHECK_EQ(write(ready[1], "r", 1), 1);
            for (;;) pause(); /* SIGUSR1 (default action) ends us */
        }
        close(ready[1]); /* so that the test sees EOF if the grandchild dies early */
        close(info[1]);
        for (;;) pause(); /* killed by the test */
    }
    close(ready[1]);
    close(info[1]);
    pid_t g;
    CHECK_EQ(read(info[0], &g, sizeof g), (ssize_t)sizeof g);
    char c;
    CHECK_EQ(read(ready[0], &c, 1), 1);
    CHECK_OK(kill(mid, SIGKILL));
    int st = st_wait(mid);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    st = st_wait(g);
    if (WIFEXITED(st)) FAIL("grandchild exited with %d instead of dying of SIGUSR1", WEXITSTATUS(st));
    CHECK(WIFSIGNALED(st));
    CHECK_EQ(WTERMSIG(st), SIGUSR1);
}

TEST(pdeathsig_get_set_and_fork_clears) {
    int sig = -1;
    CHECK_OK(prctl(PR_GET_PDEATHSIG, &sig, 0, 0, 0));
    CHECK_EQ(sig, 0);
    CHECK_OK(prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0));
    CHECK_OK(prctl(PR_GET_PDEATHSIG, &sig, 0, 0, 0));
    CHECK_EQ(sig, SIGTERM);
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        int s = -1;
        CHECK_OK(prctl(PR_GET_PDEATHSIG, &s, 0, 0, 0));
        CHECK_EQ(s, 0);
        _exit(0);
    }
    child_ok(pid);
    CHECK_ERR(prctl(PR_SET_PDEATHSIG, 65, 0, 0, 0), EINVAL);
    CHECK_ERR(prctl(PR_SET_PDEATHSIG, -1, 0, 0, 0), EINVAL);
    CHECK_OK(prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0));
    CHECK_OK(prctl(PR_GET_PDEATHSIG, &sig, 0, 0, 0));
    CHECK_EQ(sig, 0);
}

TEST(no_new_privs) {
    CHECK_OK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
    CHECK_EQ(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0), 1);
    char v[16];
    if (status_field("NoNewPrivs", v, sizeof v)) CHECK_STR(v, "1");
    /* It cannot be unset, and it is inherited. */
    CHECK_ERR(prctl(PR_SET_NO_NEW_PRIVS, 0, 0, 0, 0), EINVAL);
    CHECK_ERR(prctl(PR_SET_NO_NEW_PRIVS, 1, 1, 0, 0), EINVAL);
    CHECK_ERR(prctl(PR_GET_NO_NEW_PRIVS, 1, 0, 0, 0), EINVAL);
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        CHECK_EQ(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0), 1);
        _exit(0);
    }
    child_ok(pid);
}

TEST(dumpable) {
    int d = CHECK_OK(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0));
    CHECK(d == 0 || d == 1 || d == 2);
    CHECK_OK(prctl(PR_SET_DUMPABLE, 0, 0, 0, 0));
    CHECK_EQ(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 0);
    CHECK_OK(prctl(PR_SET_DUMPABLE, 1, 0, 0, 0));
    CHECK_EQ(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 1);
    CHECK_ERR(prctl(PR_SET_DUMPABLE, 2, 0, 0, 0), EINVAL);
    CHECK_ERR(prctl(PR_SET_DUMPABLE, 3, 0, 0, 0), EINVAL);
    CHECK_EQ(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 1);
}

TEST(keepcaps_across_setuid) {
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2];
    CHECK_OK(syscall(SYS_capget, &h, d));
    if (!((d[0].effective >> CAP_SETUID) & 1)) SKIP("no CAP_SETUID");
    CHECK_EQ(prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0), 0);
    CHECK_ERR(prctl(PR_SET_KEEPCAPS, 2, 0, 0, 0), EINVAL);
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        CHECK_OK(prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0));
        CHECK_EQ(prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0), 1);
        CHECK_OK(setuid(65534));
        /* Permitted caps survive; effective ones are cleared. */
        struct __user_cap_data_struct c[2];
        CHECK_OK(syscall(SYS_capget, &h, c));
        CHECK_EQ(c[0].effective, 0);
        CHECK_EQ(c[1].effective, 0);
        CHECK_EQ(c[0].permitted, d[0].permitted);
        CHECK_EQ((c[0].permitted >> CAP_SETUID) & 1, 1);
        _exit(0);
    }
    child_ok(pid);
    pid = CHECK_OK(fork());
    if (pid == 0) {
        CHECK_OK(setuid(65534)); /* without keepcaps everything goes */
        struct __user_cap_data_struct c[2];
        CHECK_OK(syscall(SYS_capget, &h, c));
        CHECK_EQ(c[0].permitted, 0);
        CHECK_EQ(c[1].permitted, 0);
        _exit(0);
    }
    child_ok(pid);
}

TEST(child_subreaper_flag) {
    int v = -1;
    CHECK_OK(prctl(PR_GET_CHILD_SUBREAPER, &v, 0, 0, 0));
    CHECK_EQ(v, 0);
    CHECK_OK(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0));
    CHECK_OK(prctl(PR_GET_CHILD_SUBREAPER, &v, 0, 0, 0));
    CHECK_EQ(v, 1);
    /* An orphaned grandchild is reparented to us. */
    int fds[2];
    CHECK_OK(pipe(fds));
    pid_t mid = CHECK_OK(fork());
    if (mid == 0) {
        pid_t g = CHECK_OK(fork());
        if (g == 0) {
            char c;
            CHECK_EQ(read(fds[0], &c, 1), 1); /* until the test writes */
            _exit(getppid() == getpgrp() ? 0 : 9);
        }
        _exit(0);
    }
    CHECK_EQ(WEXITSTATUS(st_wait(mid)), 0);
    CHECK_EQ(write(fds[1], "x", 1), 1);
    int st = 0;
    pid_t r = waitpid(-1, &st, 0);
    CHECK(r > 0);
    CHECK(WIFEXITED(st));
    CHECK_EQ(WEXITSTATUS(st), 0); /* its parent was us (the group leader) */
    CHECK_OK(prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0));
    CHECK_OK(prctl(PR_GET_CHILD_SUBREAPER, &v, 0, 0, 0));
    CHECK_EQ(v, 0);
}

TEST(capbset_read_matches_status) {
    char bnd[64];
    if (!status_field("CapBnd", bnd, sizeof bnd)) SKIP("no CapBnd in /proc/self/status");
    unsigned long long mask = strtoull(bnd, NULL, 16);
    for (int cap = 0; cap <= CAP_LAST_CAP && cap < 41; cap++) {
        int r = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
        if (r < 0 && errno == EINVAL && cap > 35) {
            /* An older kernel knows fewer capabilities. */
            CHECK_EQ(mask >> cap, 0);
            break;
        }
        if (r < 0) FAIL("PR_CAPBSET_READ %d: %s", cap, strerrorname_np(errno));
        if (r != (int)((mask >> cap) & 1)) FAIL("cap %d: prctl says %d, CapBnd %s", cap, r, bnd);
    }
    CHECK_ERR(prctl(PR_CAPBSET_READ, 1000, 0, 0, 0), EINVAL);
    CHECK_ERR(prctl(PR_CAPBSET_READ, -1, 0, 0, 0), EINVAL);
}

TEST(capbset_drop) {
    if (prctl(PR_CAPBSET_READ, CAP_SETPCAP, 0, 0, 0) != 1) SKIP("CAP_SETPCAP not in bounding set");
    if (prctl(PR_CAPBSET_READ, CAP_MKNOD, 0, 0, 0) != 1) SKIP("CAP_MKNOD not in bounding set");
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2];
    CHECK_OK(syscall(SYS_capget, &h, d));
    if (!((d[0].effective >> CAP_SETPCAP) & 1)) SKIP("no CAP_SETPCAP");
    CHECK_OK(prctl(PR_CAPBSET_DROP, CAP_MKNOD, 0, 0, 0));
    CHECK_EQ(prctl(PR_CAPBSET_READ, CAP_MKNOD, 0, 0, 0), 0);
    char bnd[64];
    if (status_field("CapBnd", bnd, sizeof bnd))
        CHECK_EQ((strtoull(bnd, NULL, 16) >> CAP_MKNOD) & 1, 0);
    /* Dropping does not touch the effective set. */
    struct __user_cap_data_struct c[2];
    CHECK_OK(syscall(SYS_capget, &h, c));
    CHECK_EQ(c[0].effective, d[0].effective);
}

TEST(timerslack) {
    CHECK(prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0) > 0);
    CHECK_OK(prctl(PR_SET_TIMERSLACK, 123456, 0, 0, 0));
    CHECK_EQ(prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0), 123456);
}

TEST(bad_option_einval) {
    CHECK_ERR(prctl(0xdeadbeef, 0, 0, 0, 0), EINVAL);
    CHECK_ERR(prctl(-1, 0, 0, 0, 0), EINVAL);
    CHECK_ERR(prctl(PR_GET_PDEATHSIG, (int *)1, 0, 0, 0), EFAULT);
    CHECK_ERR(prctl(PR_SET_CHILD_SUBREAPER - 1000, 0, 0, 0, 0), EINVAL);
}

TEST(seccomp_mode_matches_status) {
    int m = CHECK_OK(prctl(PR_GET_SECCOMP, 0, 0, 0, 0));
    char v[16];
    if (status_field("Seccomp", v, sizeof v)) CHECK_EQ(atoi(v), m);
    CHECK(m == 0 || m == 2);
}
