/* Credentials and process identity: uids, gids, groups, fsuid, capabilities
 * after setuid, process groups and sessions. */
#define AREA "identity"
#define ST_HARNESS_MAIN
#include "harness.h"

#include <grp.h>
#include <linux/capability.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#define NOBODY 65534

static void child_ok(pid_t pid) {
    int st = st_wait(pid);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 77) _exit(77);
    if (WIFEXITED(st)) FAIL("helper child exited with %d", WEXITSTATUS(st));
    FAIL("helper child killed by signal %d", WTERMSIG(st));
}

static int has_cap(int cap) {
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2];
    memset(d, 0, sizeof d);
    if (syscall(SYS_capget, &h, d) < 0) return 0;
    return (d[cap / 32].effective >> (cap % 32)) & 1;
}

static void need_setid(void) {
    if (!has_cap(CAP_SETUID) || !has_cap(CAP_SETGID)) SKIP("no CAP_SETUID/CAP_SETGID");
}

static void check_resuid(uid_t r, uid_t e, uid_t s) {
    uid_t a, b, c;
    CHECK_OK(getresuid(&a, &b, &c));
    if (a != r || b != e || c != s)
        FAIL("resuid: expected %d/%d/%d got %d/%d/%d", r, e, s, a, b, c);
}

static void check_resgid(gid_t r, gid_t e, gid_t s) {
    gid_t a, b, c;
    CHECK_OK(getresgid(&a, &b, &c));
    if (a != r || b != e || c != s)
        FAIL("resgid: expected %d/%d/%d got %d/%d/%d", r, e, s, a, b, c);
}

/* A "Uid:"/"Gid:"/"CapEff:" style line of /proc/self/status. */
static int status_line(const char *key, char *out, size_t n) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) FAIL("open /proc/self/status: %s", strerrorname_np(errno));
    char line[512];
    int found = 0;
    size_t kl = strlen(key);
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
            char *v = line + kl + 1;
            while (*v == ' ' || *v == '\t') v++;
            v[strcspn(v, "\n")] = 0;
            snprintf(out, n, "%s", v);
            found = 1;
            break;
        }
    }
    fclose(f);
    return found;
}

/* Uid 65534 must be able to reach the scratch dir: every ancestor needs
 * search permission for "others". */
static void need_reachable_scratch(void) {
    char path[512];
    snprintf(path, sizeof path, "%s", st_tmpdir());
    for (char *slash = strrchr(path, '/'); slash && slash != path; slash = strrchr(path, '/')) {
        *slash = 0;
        struct stat st;
        if (stat(path, &st) < 0) FAIL("stat %s: %s", path, strerrorname_np(errno));
        if (!(st.st_mode & S_IXOTH)) SKIP("%s is not searchable by other users", path);
    }
}

TEST(ids_consistent) {
    uid_t r, e, s;
    CHECK_OK(getresuid(&r, &e, &s));
    CHECK_EQ(r, getuid());
    CHECK_EQ(e, geteuid());
    gid_t gr, ge, gs;
    CHECK_OK(getresgid(&gr, &ge, &gs));
    CHECK_EQ(gr, getgid());
    CHECK_EQ(ge, getegid());
    /* The fsuid follows the euid; setfsuid(-1) only queries. */
    CHECK_EQ(setfsuid(-1), e);
    CHECK_EQ(setfsgid(-1), ge);
    char line[128], want[128];
    CHECK(status_line("Uid", line, sizeof line));
    snprintf(want, sizeof want, "%d\t%d\t%d\t%d", r, e, s, e);
    CHECK_STR(line, want);
    CHECK(status_line("Gid", line, sizeof line));
    snprintf(want, sizeof want, "%d\t%d\t%d\t%d", gr, ge, gs, ge);
    CHECK_STR(line, want);
    CHECK_ERR(getresuid((uid_t *)1, &e, &s), EFAULT);
}

TEST(setuid_as_root_sets_all_and_drops_caps) {
    need_setid();
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        CHECK_OK(setgroups(0, NULL));
        CHECK_OK(setgid(NOBODY));
        check_resgid(NOBODY, NOBODY, NOBODY);
        CHECK_OK(setuid(NOBODY));
        check_resuid(NOBODY, NOBODY, NOBODY);
        char cap[64];
        CHECK(status_line("CapEff", cap, sizeof cap));
        CHECK_STR(cap, "0000000000000000");
        CHECK(status_line("CapPrm", cap, sizeof cap));
        CHECK_STR(cap, "0000000000000000");
        /* No way back. */
        CHECK_ERR(setuid(0), EPERM);
        CHECK_ERR(seteuid(0), EPERM);
        CHECK_ERR(setgid(0), EPERM);
        gid_t g = 0;
        CHECK_ERR(setgroups(1, &g), EPERM);
        CHECK_ERR(setresuid(-1, 0, -1), EPERM);
        /* Setting to the current ids is allowed. */
        CHECK_OK(setuid(NOBODY));
        CHECK_OK(setresuid(-1, -1, -1));
        _exit(0);
    }
    child_ok(pid);
}

TEST(setresuid_saved_id_allows_return) {
    need_setid();
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        CHECK_OK(setresuid(-1, NOBODY, 0));
        check_resuid(0, NOBODY, 0);
        CHECK_EQ(setfsuid(-1), NOBODY); /* fsuid tracks euid */
        CHECK_OK(seteuid(0)); /* allowed: 0 is the real/saved uid */
        check_resuid(0, 0, 0);
        CHECK_OK(setresuid(1000, 2000, 3000));
        check_resuid(1000, 2000, 3000);
        /* Unprivileged now: may only pick among the current three. */
        CHECK_OK(setresuid(3000, 1000, 2000));
        check_resuid(3000, 1000, 2000);
        CHECK_ERR(setresuid(-1, 4000, -1), EPERM);
        CHECK_ERR(seteuid(0), EPERM);
        check_resuid(3000, 1000, 2000);
        _exit(0);
    }
    child_ok(pid);
}

TEST(setreuid_updates_saved_uid) {
    need_setid();
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        /* Setting the euid to something other than the ruid sets the suid too. */
        CHECK_OK(setreuid(-1, NOBODY));
        check_resuid(0, NOBODY, NOBODY);
        /* The real uid is still 0, so going back is allowed. */
        CHECK_OK(setreuid(-1, 0));
        check_resuid(0, 0, NOBODY);
        /* Setting the ruid updates the suid to the new euid. */
        CHECK_OK(setreuid(1000, 1001));
        check_resuid(1000, 1001, 1001);
        CHECK_OK(setreuid(1001, 1000)); /* swap, allowed unprivileged */
        check_resuid(1001, 1000, 1000);
        CHECK_ERR(setreuid(5, -1), EPERM);
        _exit(0);
    }
    child_ok(pid);
}

TEST(setresgid_and_groups) {
    need_setid();
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        CHECK_OK(setresgid(1000, 2000, 3000));
        check_resgid(1000, 2000, 3000);
        CHECK_EQ(getgid(), 1000);
        CHECK_EQ(getegid(), 2000);
        CHECK_EQ(setfsgid(-1), 2000);
        gid_t set[3] = {7, 5, 6};
        CHECK_OK(setgroups(3, set));
        CHECK_EQ(getgroups(0, NULL), 3);
        gid_t got[8];
        CHECK_EQ(getgroups(8, got), 3);
        int seen = 0;
        for (int i = 0; i < 3; i++)
            if (got[i] == 5 || got[i] == 6 || got[i] == 7) seen++;
        CHECK_EQ(seen, 3);
        CHECK_ERR(getgroups(2, got), EINVAL);
        CHECK_OK(setgroups(0, NULL));
        CHECK_EQ(getgroups(0, NULL), 0);
        char line[128];
        CHECK(status_line("Groups", line, sizeof line));
        CHECK_STR(line, "");
        CHECK_ERR(setgroups(-1, set), EINVAL);
        _exit(0);
    }
    child_ok(pid);
}

TEST(fsuid_controls_file_ownership) {
    need_setid();
    if (!has_cap(CAP_CHOWN)) SKIP("no CAP_CHOWN");
    need_reachable_scratch();
    CHECK_OK(chmod(st_tmpdir(), 0777));
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        CHECK_EQ(setfsgid(4321), 0);
        CHECK_EQ(setfsuid(1234), 0);
        CHECK_EQ(setfsuid(-1), 1234);
        int fd = CHECK_OK(open(tmp_path("f"), O_CREAT | O_WRONLY, 0644));
        struct stat st;
        CHECK_OK(fstat(fd, &st));
        CHECK_EQ(st.st_uid, 1234);
        CHECK_EQ(st.st_gid, 4321);
        /* The real and effective ids did not change. */
        check_resuid(0, 0, 0);
        CHECK_EQ(setfsuid(0), 1234);
        _exit(0);
    }
    child_ok(pid);
}

TEST(nobody_cannot_signal_root) {
    need_setid();
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        pid_t parent = getppid();
        CHECK_OK(setgroups(0, NULL));
        CHECK_OK(setgid(NOBODY));
        CHECK_OK(setuid(NOBODY));
        CHECK_ERR(kill(parent, 0), EPERM);
        CHECK_ERR(kill(parent, SIGTERM), EPERM);
        CHECK_OK(kill(getpid(), 0));
        _exit(0);
    }
    child_ok(pid);
}

TEST(process_group_basics) {
    /* Each case runs as the leader of its own process group. */
    CHECK_EQ(getpgid(0), getpid());
    CHECK_EQ(getpgrp(), getpid());
    CHECK_EQ(getpgid(getpid()), getpid());
    CHECK_EQ(getsid(0), getsid(getpid()));
    CHECK_ERR(getpgid(0x3fffffff), ESRCH);
    CHECK_ERR(getsid(0x3fffffff), ESRCH);
    /* A group leader may not start a new session. */
    CHECK_ERR(setsid(), EPERM);
    CHECK_ERR(setpgid(-1, 0), EINVAL);
}

TEST(setpgid_child) {
    int go[2];
    CHECK_OK(pipe(go));
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        char c;
        CHECK_EQ(read(go[0], &c, 1), 1);
        CHECK_EQ(getpgrp(), getpid());
        _exit(0);
    }
    CHECK_EQ(getpgid(pid), getpid()); /* inherited */
    CHECK_OK(setpgid(pid, pid));
    CHECK_EQ(getpgid(pid), pid);
    CHECK_OK(setpgid(pid, getpgrp())); /* and back into our group */
    CHECK_EQ(getpgid(pid), getpgrp());
    CHECK_OK(setpgid(pid, 0));
    CHECK_EQ(getpgid(pid), pid);
    CHECK_ERR(setpgid(0x3fffffff, 0), ESRCH);
    CHECK_EQ(write(go[1], "x", 1), 1);
    child_ok(pid);
}

TEST(setsid_in_child) {
    int up[2], down[2];
    CHECK_OK(pipe(up));
    CHECK_OK(pipe(down));
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        pid_t old_sid = getsid(0);
        pid_t sid = CHECK_OK(setsid());
        CHECK_EQ(sid, getpid());
        CHECK_EQ(getsid(0), getpid());
        CHECK_EQ(getpgrp(), getpid());
        CHECK(old_sid != getpid());
        CHECK_ERR(setsid(), EPERM); /* now a leader */
        /* A session leader cannot be moved to another group. */
        CHECK_ERR(setpgid(0, getppid()), EPERM);
        CHECK_EQ(write(up[1], "x", 1), 1);
        char c;
        CHECK_EQ(read(down[0], &c, 1), 1); /* wait for the parent's checks */
        _exit(0);
    }
    char c;
    CHECK_EQ(read(up[0], &c, 1), 1);
    CHECK_EQ(getsid(pid), pid);
    CHECK_EQ(getpgid(pid), pid);
    CHECK(getsid(0) != pid);
    /* A child in another session can't be moved into our group. */
    CHECK_ERR(setpgid(pid, getpgrp()), EPERM);
    CHECK_EQ(write(down[1], "y", 1), 1);
    child_ok(pid);
}
