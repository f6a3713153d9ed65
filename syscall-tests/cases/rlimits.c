/* Resource limits: getrlimit, setrlimit, prlimit64 and their effects. */
#define AREA "rlimits"
#define ST_HARNESS_MAIN
#include "harness.h"

#include <grp.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>

static void child_ok(pid_t pid) {
    int st = st_wait(pid);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 77) _exit(77);
    if (WIFEXITED(st)) FAIL("helper child exited with %d", WEXITSTATUS(st));
    FAIL("helper child killed by signal %d", WTERMSIG(st));
}

static int prlimit_raw(pid_t pid, int res, const struct rlimit *new, struct rlimit *old) {
    return syscall(SYS_prlimit64, pid, res, new, old);
}

/* Soft and hard value of a /proc/<pid>/limits line; -1 = unlimited. */
static void proc_limit(const char *file, const char *name, long long *soft, long long *hard) {
    FILE *f = fopen(file, "r");
    if (!f) FAIL("open %s: %s", file, strerrorname_np(errno));
    char line[256];
    int found = 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, name, strlen(name)) != 0) continue;
        char s[32], h[32];
        if (sscanf(line + strlen(name), "%31s %31s", s, h) != 2) FAIL("bad limits line: %s", line);
        *soft = strcmp(s, "unlimited") == 0 ? -1 : atoll(s);
        *hard = strcmp(h, "unlimited") == 0 ? -1 : atoll(h);
        found = 1;
        break;
    }
    fclose(f);
    if (!found) FAIL("no \"%s\" line in %s", name, file);
}

static long long as_ll(rlim_t v) { return v == RLIM_INFINITY ? -1 : (long long)v; }

static int highest_open_fd(void) {
    int high = 2;
    for (int fd = 0; fd < 4096; fd++)
        if (fcntl(fd, F_GETFD) >= 0) high = fd;
    return high;
}

TEST(nofile_limit_gives_emfile) {
    struct rlimit old;
    CHECK_OK(getrlimit(RLIMIT_NOFILE, &old));
    int lim = highest_open_fd() + 6;
    if (old.rlim_max < (rlim_t)lim) SKIP("hard RLIMIT_NOFILE too low");
    struct rlimit rl = {lim, old.rlim_max};
    CHECK_OK(setrlimit(RLIMIT_NOFILE, &rl));
    struct rlimit now;
    CHECK_OK(getrlimit(RLIMIT_NOFILE, &now));
    CHECK_EQ(now.rlim_cur, lim);
    CHECK_EQ(now.rlim_max, old.rlim_max);
    int last = -1;
    for (;;) {
        int fd = open("/dev/null", O_RDONLY);
        if (fd < 0) {
            CHECK_EQ(errno, EMFILE);
            break;
        }
        CHECK(fd < lim);
        last = fd;
    }
    CHECK_EQ(last, lim - 1);
    int p[2];
    CHECK_ERR(pipe(p), EMFILE);
    CHECK_ERR(dup(last), EMFILE);
    /* Existing descriptors above a lowered limit stay usable. */
    rl.rlim_cur = 3;
    CHECK_OK(setrlimit(RLIMIT_NOFILE, &rl));
    CHECK_OK(fcntl(last, F_GETFD));
    char c;
    CHECK_EQ(read(last, &c, 1), 0);
}

TEST(fsize_sigxfsz_kills_by_default) {
    int fd = CHECK_OK(open(tmp_path("f"), O_CREAT | O_WRONLY, 0644));
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        struct rlimit core = {0, 0};
        setrlimit(RLIMIT_CORE, &core);
        struct rlimit rl = {1000, 1000};
        CHECK_OK(setrlimit(RLIMIT_FSIZE, &rl));
        signal(SIGXFSZ, SIG_DFL);
        static char buf[2000];
        /* A write that crosses the limit is cut short, without a signal. */
        CHECK_EQ(write(fd, buf, sizeof buf), 1000);
        /* A write at the limit raises SIGXFSZ. */
        ssize_t r = write(fd, buf, 1);
        (void)r;
        _exit(3);
    }
    int st = st_wait(pid);
    CHECK(WIFSIGNALED(st));
    CHECK_EQ(WTERMSIG(st), SIGXFSZ);
    struct stat sb;
    CHECK_OK(fstat(fd, &sb));
    CHECK_EQ(sb.st_size, 1000);
}

TEST(fsize_efbig_when_ignored) {
    int fd = CHECK_OK(open(tmp_path("f"), O_CREAT | O_RDWR, 0644));
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit rl = {4096, RLIM_INFINITY};
    struct rlimit old;
    CHECK_OK(getrlimit(RLIMIT_FSIZE, &old));
    rl.rlim_max = old.rlim_max;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < 4096) SKIP("hard RLIMIT_FSIZE too low");
    CHECK_OK(setrlimit(RLIMIT_FSIZE, &rl));
    CHECK_EQ(pwrite(fd, "abc", 3, 4094), 2);
    CHECK_ERR(pwrite(fd, "abc", 3, 4096), EFBIG);
    CHECK_ERR(pwrite(fd, "abc", 3, 100000), EFBIG);
    CHECK_ERR(ftruncate(fd, 8192), EFBIG);
    struct stat sb;
    CHECK_OK(fstat(fd, &sb));
    CHECK_EQ(sb.st_size, 4096);
    /* Writing inside the limit is unaffected, and shrinking is allowed. */
    CHECK_EQ(pwrite(fd, "abc", 3, 0), 3);
    CHECK_OK(ftruncate(fd, 10));
}

TEST(soft_above_hard_einval) {
    struct rlimit old, rl;
    CHECK_OK(getrlimit(RLIMIT_NOFILE, &old));
    rl.rlim_cur = 200;
    rl.rlim_max = 100;
    CHECK_ERR(setrlimit(RLIMIT_NOFILE, &rl), EINVAL);
    CHECK_ERR(prlimit_raw(0, RLIMIT_CORE, &rl, NULL), EINVAL);
    struct rlimit now;
    CHECK_OK(getrlimit(RLIMIT_NOFILE, &now));
    CHECK_EQ(now.rlim_cur, old.rlim_cur);
    CHECK_EQ(now.rlim_max, old.rlim_max);
    CHECK_ERR(getrlimit(999, &now), EINVAL);
    CHECK_ERR(setrlimit(RLIM_NLIMITS, &old), EINVAL);
}

TEST(raising_hard_limit_needs_privilege) {
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
            SKIP("cannot drop privileges: %s", strerrorname_np(errno));
        struct rlimit rl;
        CHECK_OK(getrlimit(RLIMIT_CORE, &rl));
        /* Lowering the hard limit is always allowed... */
        struct rlimit low = {0, 1024 * 1024};
        CHECK_OK(setrlimit(RLIMIT_CORE, &low));
        /* ...raising soft up to hard too... */
        low.rlim_cur = low.rlim_max;
        CHECK_OK(setrlimit(RLIMIT_CORE, &low));
        /* ...but raising the hard limit is not. */
        struct rlimit up = {0, 2 * 1024 * 1024};
        CHECK_ERR(setrlimit(RLIMIT_CORE, &up), EPERM);
        CHECK_OK(getrlimit(RLIMIT_CORE, &rl));
        CHECK_EQ(rl.rlim_max, 1024 * 1024);
        CHECK_EQ(rl.rlim_cur, 1024 * 1024);
        _exit(0);
    }
    child_ok(pid);
}

TEST(stack_limit_matches_proc) {
    struct rlimit rl;
    CHECK_OK(getrlimit(RLIMIT_STACK, &rl));
    CHECK(rl.rlim_cur != 0);
    CHECK(rl.rlim_max == RLIM_INFINITY || rl.rlim_cur <= rl.rlim_max);
    long long s, h;
    proc_limit("/proc/self/limits", "Max stack size", &s, &h);
    CHECK_EQ(s, as_ll(rl.rlim_cur));
    CHECK_EQ(h, as_ll(rl.rlim_max));
    struct rlimit pr;
    CHECK_OK(prlimit_raw(0, RLIMIT_STACK, NULL, &pr));
    CHECK_EQ(pr.rlim_cur, rl.rlim_cur);
    CHECK_EQ(pr.rlim_max, rl.rlim_max);
}

TEST(core_limit_set_and_read) {
    struct rlimit old;
    CHECK_OK(getrlimit(RLIMIT_CORE, &old));
    struct rlimit rl = {0, old.rlim_max};
    CHECK_OK(setrlimit(RLIMIT_CORE, &rl));
    struct rlimit now;
    CHECK_OK(getrlimit(RLIMIT_CORE, &now));
    CHECK_EQ(now.rlim_cur, 0);
    CHECK_EQ(now.rlim_max, old.rlim_max);
    rl.rlim_cur = old.rlim_max == RLIM_INFINITY ? 4096 : old.rlim_max;
    CHECK_OK(setrlimit(RLIMIT_CORE, &rl));
    CHECK_OK(getrlimit(RLIMIT_CORE, &now));
    CHECK_EQ(now.rlim_cur, rl.rlim_cur);
    long long s, h;
    proc_limit("/proc/self/limits", "Max core file size", &s, &h);
    CHECK_EQ(s, as_ll(rl.rlim_cur));
}

TEST(prlimit_on_self) {
    struct rlimit old, got, set = {0, 0};
    CHECK_OK(getrlimit(RLIMIT_NOFILE, &old));
    set.rlim_max = old.rlim_max;
    set.rlim_cur = old.rlim_cur > 100 ? 100 : old.rlim_cur;
    /* Set and fetch the previous value atomically, by explicit pid. */
    CHECK_OK(prlimit_raw(getpid(), RLIMIT_NOFILE, &set, &got));
    CHECK_EQ(got.rlim_cur, old.rlim_cur);
    CHECK_EQ(got.rlim_max, old.rlim_max);
    CHECK_OK(prlimit_raw(0, RLIMIT_NOFILE, NULL, &got));
    CHECK_EQ(got.rlim_cur, set.rlim_cur);
    CHECK_OK(getrlimit(RLIMIT_NOFILE, &got));
    CHECK_EQ(got.rlim_cur, set.rlim_cur);
    CHECK_ERR(prlimit_raw(0, 999, NULL, &got), EINVAL);
    CHECK_ERR(prlimit_raw(0x3fffffff, RLIMIT_NOFILE, NULL, &got), ESRCH);
}

TEST(prlimit_on_child) {
    int go[2], done[2];
    CHECK_OK(pipe(go));
    CHECK_OK(pipe(done));
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        char c;
        CHECK_EQ(read(go[0], &c, 1), 1);
        struct rlimit rl;
        CHECK_OK(getrlimit(RLIMIT_NOFILE, &rl));
        CHECK_EQ(rl.rlim_cur, 77);
        CHECK_OK(getrlimit(RLIMIT_CORE, &rl));
        CHECK_EQ(rl.rlim_cur, 0);
        _exit(0);
    }
    struct rlimit old, set, got;
    CHECK_OK(getrlimit(RLIMIT_NOFILE, &old));
    set.rlim_cur = 77;
    set.rlim_max = old.rlim_max;
    CHECK_OK(prlimit_raw(pid, RLIMIT_NOFILE, &set, &got));
    CHECK_EQ(got.rlim_cur, old.rlim_cur);
    set.rlim_cur = 0;
    CHECK_OK(getrlimit(RLIMIT_CORE, &got));
    set.rlim_max = got.rlim_max;
    CHECK_OK(prlimit_raw(pid, RLIMIT_CORE, &set, NULL));
    /* The parent's own limits are untouched. */
    CHECK_OK(getrlimit(RLIMIT_NOFILE, &got));
    CHECK_EQ(got.rlim_cur, old.rlim_cur);
    long long s, h;
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/limits", pid);
    proc_limit(path, "Max open files", &s, &h);
    CHECK_EQ(s, 77);
    CHECK_EQ(write(go[1], "x", 1), 1);
    child_ok(pid);
}

TEST(limits_inherited_by_fork) {
    struct rlimit old, rl;
    CHECK_OK(getrlimit(RLIMIT_NOFILE, &old));
    rl.rlim_cur = 150 < old.rlim_max ? 150 : old.rlim_max;
    rl.rlim_max = old.rlim_max;
    CHECK_OK(setrlimit(RLIMIT_NOFILE, &rl));
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        struct rlimit c;
        CHECK_OK(getrlimit(RLIMIT_NOFILE, &c));
        CHECK_EQ(c.rlim_cur, rl.rlim_cur);
        CHECK_EQ(c.rlim_max, rl.rlim_max);
        /* A change in the child does not leak back. */
        c.rlim_cur = 20;
        CHECK_OK(setrlimit(RLIMIT_NOFILE, &c));
        _exit(0);
    }
    child_ok(pid);
    struct rlimit now;
    CHECK_OK(getrlimit(RLIMIT_NOFILE, &now));
    CHECK_EQ(now.rlim_cur, rl.rlim_cur);
}

TEST(address_space_limit) {
    struct rlimit old;
    CHECK_OK(getrlimit(RLIMIT_AS, &old));
    if (old.rlim_max != RLIM_INFINITY && old.rlim_max < (256UL << 20)) SKIP("hard RLIMIT_AS too low");
    struct rlimit rl = {256UL << 20, old.rlim_max};
    CHECK_OK(setrlimit(RLIMIT_AS, &rl));
    void *p = mmap(NULL, 512UL << 20, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(p == MAP_FAILED);
    CHECK_EQ(errno, ENOMEM);
    p = mmap(NULL, 16UL << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(p != MAP_FAILED);
    ((char *)p)[0] = 1;
    long long s, h;
    proc_limit("/proc/self/limits", "Max address space", &s, &h);
    CHECK_EQ(s, 256LL << 20);
}
