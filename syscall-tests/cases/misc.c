/* Miscellaneous syscalls: getrandom, uname, sysinfo, hostname, getcpu,
 * affinity, scheduling, priority, personality, unknown syscalls. */
#define AREA "misc"
#define ST_HARNESS_MAIN
#include "harness.h"

#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <sys/personality.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>

static void child_ok(pid_t pid) {
    int st = st_wait(pid);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 77) _exit(77);
    if (WIFEXITED(st)) FAIL("helper child exited with %d", WEXITSTATUS(st));
    FAIL("helper child killed by signal %d", WTERMSIG(st));
}

static void drop_to_nobody(void) {
    if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
        SKIP("cannot drop privileges: %s", strerrorname_np(errno));
}

static int all_zero(const unsigned char *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (b[i]) return 0;
    return 1;
}

TEST(getrandom_sizes) {
    unsigned char buf[4096];
    CHECK_EQ(getrandom(buf, 0, 0), 0);
    memset(buf, 0, sizeof buf);
    CHECK_EQ(getrandom(buf, 16, 0), 16);
    CHECK(!all_zero(buf, 16));
    CHECK(all_zero(buf + 16, 16)); /* nothing written past the length */
    CHECK_EQ(getrandom(buf, 256, 0), 256);
    /* Requests up to 256 bytes are never short; larger ones may be, but
     * never return zero. */
    ssize_t r = getrandom(buf, sizeof buf, 0);
    CHECK(r > 0 && r <= (ssize_t)sizeof buf);
}

TEST(getrandom_flags) {
    unsigned char buf[64];
    CHECK_EQ(getrandom(buf, sizeof buf, GRND_NONBLOCK), (ssize_t)sizeof buf);
    ssize_t r = getrandom(buf, sizeof buf, GRND_RANDOM | GRND_NONBLOCK);
    CHECK(r > 0 || (r < 0 && errno == EAGAIN));
    CHECK_ERR(getrandom(buf, sizeof buf, 0x1000), EINVAL);
    CHECK_ERR(syscall(SYS_getrandom, (void *)1, 16, 0), EFAULT);
}

TEST(getrandom_outputs_differ) {
    unsigned char a[32], b[32];
    CHECK_EQ(getrandom(a, sizeof a, 0), 32);
    CHECK_EQ(getrandom(b, sizeof b, 0), 32);
    CHECK(memcmp(a, b, sizeof a) != 0);
    /* A forked child does not replay the parent's stream. */
    int p[2];
    CHECK_OK(pipe(p));
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        unsigned char c[32];
        CHECK_EQ(getrandom(c, sizeof c, 0), 32);
        CHECK_EQ(write(p[1], c, sizeof c), 32);
        _exit(0);
    }
    unsigned char mine[32], theirs[32];
    CHECK_EQ(getrandom(mine, sizeof mine, 0), 32);
    CHECK_EQ(read(p[0], theirs, sizeof theirs), 32);
    child_ok(pid);
    CHECK(memcmp(mine, theirs, sizeof mine) != 0);
    /* /dev/urandom agrees in spirit. */
    int fd = CHECK_OK(open("/dev/urandom", O_RDONLY));
    CHECK_EQ(read(fd, a, sizeof a), 32);
    CHECK(memcmp(a, b, sizeof a) != 0);
}

TEST(uname_fields) {
    struct utsname u;
    CHECK_OK(uname(&u));
    CHECK_STR(u.sysname, "Linux");
    CHECK_STR(u.machine, "x86_64");
    CHECK(u.release[0] >= '1' && u.release[0] <= '9');
    CHECK(strchr(u.release, '.') != NULL);
    CHECK(u.version[0] != 0);
    char host[HOST_NAME_MAX + 1];
    CHECK_OK(gethostname(host, sizeof host));
    CHECK_STR(u.nodename, host);
    CHECK_ERR(syscall(SYS_uname, (void *)1), EFAULT);
    char buf[128];
    int fd = open("/proc/sys/kernel/ostype", O_RDONLY);
    if (fd >= 0) {
        ssize_t n = read(fd, buf, sizeof buf - 1);
        CHECK(n > 0);
        buf[n] = 0;
        CHECK_STR(buf, "Linux\n");
        close(fd);
    }
}

TEST(sysinfo_values) {
    struct sysinfo si;
    memset(&si, 0, sizeof si);
    CHECK_OK(sysinfo(&si));
    CHECK(si.uptime > 0);
    CHECK(si.totalram > 0);
    CHECK(si.mem_unit >= 1);
    CHECK(si.freeram <= si.totalram);
    CHECK(si.procs >= 1);
    CHECK(si.totalswap >= si.freeswap);
    /* The uptime agrees with CLOCK_BOOTTIME (to the second, either way). */
    struct timespec ts;
    CHECK_OK(clock_gettime(CLOCK_BOOTTIME, &ts));
    CHECK(ts.tv_sec - si.uptime <= 1 && si.uptime - ts.tv_sec <= 1);
    CHECK_ERR(sysinfo((struct sysinfo *)1), EFAULT);
}

TEST(hostname_in_new_uts_namespace) {
    char orig[HOST_NAME_MAX + 1];
    CHECK_OK(gethostname(orig, sizeof orig));
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        if (unshare(CLONE_NEWUTS) < 0)
            SKIP("unshare(CLONE_NEWUTS): %s", strerrorname_np(errno));
        CHECK_OK(sethostname("st-host", 7));
        char h[HOST_NAME_MAX + 1];
        CHECK_OK(gethostname(h, sizeof h));
        CHECK_STR(h, "st-host");
        struct utsname u;
        CHECK_OK(uname(&u));
        CHECK_STR(u.nodename, "st-host");
        CHECK_OK(setdomainname("st-domain", 9));
        CHECK_OK(uname(&u));
        CHECK_STR(u.domainname, "st-domain");
        int fd = open("/proc/sys/kernel/hostname", O_RDONLY);
        if (fd >= 0) {
            char b[80] = {0};
            CHECK(read(fd, b, sizeof b - 1) > 0);
            CHECK_STR(b, "st-host\n");
        }
        /* Too long: EINVAL, name unchanged. */
        char lng[HOST_NAME_MAX + 2];
        memset(lng, 'x', sizeof lng);
        CHECK_ERR(sethostname(lng, sizeof lng), EINVAL);
        CHECK_ERR(syscall(SYS_sethostname, "x", -1L), EINVAL);
        CHECK_OK(gethostname(h, sizeof h));
        CHECK_STR(h, "st-host");
        /* A short buffer: glibc reports ENAMETOOLONG. */
        CHECK_ERR(gethostname(h, 3), ENAMETOOLONG);
        _exit(0);
    }
    child_ok(pid);
    char now[HOST_NAME_MAX + 1];
    CHECK_OK(gethostname(now, sizeof now));
    CHECK_STR(now, orig);
}

TEST(sethostname_needs_privilege) {
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        drop_to_nobody();
        CHECK_ERR(sethostname("nope", 4), EPERM);
        CHECK_ERR(setdomainname("nope", 4), EPERM);
        _exit(0);
    }
    child_ok(pid);
}

TEST(getcpu_within_affinity) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CHECK_OK(sched_getaffinity(0, sizeof set, &set));
    CHECK(CPU_COUNT(&set) >= 1);
    unsigned cpu = 9999, node = 9999;
    CHECK_OK(syscall(SYS_getcpu, &cpu, &node, NULL));
    CHECK(cpu < CPU_SETSIZE);
    CHECK(node < 9999);
    /* Only meaningful until we get migrated; pin first to be sure. */
    int target = -1;
    for (int i = 0; i < CPU_SETSIZE; i++)
        if (CPU_ISSET(i, &set)) target = i;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(target, &one);
    CHECK_OK(sched_setaffinity(0, sizeof one, &one));
    CHECK_OK(syscall(SYS_getcpu, &cpu, &node, NULL));
    CHECK_EQ(cpu, target);
    CHECK_EQ(sched_getcpu(), target);
    cpu_set_t got;
    CHECK_OK(sched_getaffinity(0, sizeof got, &got));
    CHECK_EQ(CPU_COUNT(&got), 1);
    CHECK(CPU_ISSET(target, &got));
}

TEST(affinity_errors_and_inheritance) {
    cpu_set_t set;
    CHECK_OK(sched_getaffinity(0, sizeof set, &set));
    /* The raw syscall returns the size of the kernel's mask in bytes. */
    long r = syscall(SYS_sched_getaffinity, 0, sizeof set, &set);
    CHECK(r > 0 && r <= (long)sizeof set && r % sizeof(long) == 0);
    CHECK_ERR(syscall(SYS_sched_getaffinity, 0, 1, &set), EINVAL);
    cpu_set_t empty;
    CPU_ZERO(&empty);
    CHECK_ERR(sched_setaffinity(0, sizeof empty, &empty), EINVAL);
    CHECK_ERR(sched_getaffinity(0x3fffffff, sizeof set, &set), ESRCH);
    int first = -1;
    for (int i = 0; i < CPU_SETSIZE && first < 0; i++)
        if (CPU_ISSET(i, &set)) first = i;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(first, &one);
    CHECK_OK(sched_setaffinity(0, sizeof one, &one));
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        cpu_set_t c;
        CHECK_OK(sched_getaffinity(0, sizeof c, &c));
        CHECK_EQ(CPU_COUNT(&c), 1);
        CHECK(CPU_ISSET(first, &c));
        _exit(0);
    }
    child_ok(pid);
}

TEST(sched_yield_and_policy) {
    for (int i = 0; i < 10; i++) CHECK_EQ(sched_yield(), 0);
    CHECK_EQ(sched_getscheduler(0), SCHED_OTHER);
    CHECK_EQ(sched_get_priority_max(SCHED_FIFO), 99);
    CHECK_EQ(sched_get_priority_min(SCHED_FIFO), 1);
    CHECK_EQ(sched_get_priority_max(SCHED_OTHER), 0);
    CHECK_ERR(sched_get_priority_max(12345), EINVAL);
    struct sched_param sp = {0};
    CHECK_OK(sched_getparam(0, &sp));
    CHECK_EQ(sp.sched_priority, 0);
    CHECK_ERR(sched_getscheduler(0x3fffffff), ESRCH);
}

TEST(nice_priority) {
    errno = 0;
    int cur = getpriority(PRIO_PROCESS, 0);
    CHECK_EQ(errno, 0);
    int want = cur < 10 ? 10 : (cur < 18 ? cur + 1 : 18);
    CHECK_OK(setpriority(PRIO_PROCESS, 0, want));
    errno = 0;
    CHECK_EQ(getpriority(PRIO_PROCESS, 0), want);
    CHECK_EQ(getpriority(PRIO_PROCESS, getpid()), want);
    /* The raw syscall returns 20 - nice to avoid negative values. */
    CHECK_EQ(syscall(SYS_getpriority, PRIO_PROCESS, 0), 20 - want);
    CHECK_ERR(setpriority(12345, 0, 0), EINVAL);
    CHECK_ERR(setpriority(PRIO_PROCESS, 0x3fffffff, 0), ESRCH);
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        CHECK_EQ(getpriority(PRIO_PROCESS, 0), want); /* inherited */
        /* Values beyond 19 are clamped. */
        CHECK_OK(setpriority(PRIO_PROCESS, 0, 100));
        CHECK_EQ(getpriority(PRIO_PROCESS, 0), 19);
        _exit(0);
    }
    child_ok(pid);
    CHECK_EQ(getpriority(PRIO_PROCESS, 0), want); /* per process */
    /* Another process' nice value is visible by pid. */
    int go[2];
    CHECK_OK(pipe(go));
    pid = CHECK_OK(fork());
    if (pid == 0) {
        char c;
        CHECK_EQ(read(go[0], &c, 1), 1);
        _exit(0);
    }
    CHECK_OK(setpriority(PRIO_PROCESS, pid, 19));
    CHECK_EQ(getpriority(PRIO_PROCESS, pid), 19);
    CHECK_EQ(getpriority(PRIO_PROCESS, 0), want);
    CHECK_EQ(write(go[1], "x", 1), 1);
    child_ok(pid);
}

TEST(lowering_nice_needs_privilege) {
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        CHECK_OK(setpriority(PRIO_PROCESS, 0, 10));
        drop_to_nobody();
        /* Lowering the nice value needs CAP_SYS_NICE. */
        CHECK_ERR(setpriority(PRIO_PROCESS, 0, 5), EACCES);
        CHECK_ERR(nice(-1), EPERM);
        CHECK_EQ(getpriority(PRIO_PROCESS, 0), 10);
        CHECK_OK(setpriority(PRIO_PROCESS, 0, 12));
        CHECK_EQ(getpriority(PRIO_PROCESS, 0), 12);
        _exit(0);
    }
    child_ok(pid);
}

TEST(unknown_syscall_enosys) {
    CHECK_ERR(syscall(1000), ENOSYS);
    CHECK_ERR(syscall(5000, 1, 2, 3), ENOSYS);
    CHECK_ERR(syscall(600), ENOSYS); /* beyond the x86-64 table */
    /* The process carries on normally afterwards. */
    CHECK_EQ(syscall(SYS_getpid), getpid());
}

TEST(personality_query) {
    int p = personality(0xffffffff);
    CHECK(p >= 0);
    CHECK_EQ(p & PER_MASK, PER_LINUX);
    CHECK_OK(personality(PER_LINUX | ADDR_NO_RANDOMIZE));
    CHECK_EQ(personality(0xffffffff), PER_LINUX | ADDR_NO_RANDOMIZE);
    CHECK_EQ(personality(PER_LINUX), PER_LINUX | ADDR_NO_RANDOMIZE);
    CHECK_EQ(personality(0xffffffff), PER_LINUX);
}
