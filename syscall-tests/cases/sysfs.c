/* sysfs: the CPU files glibc and language runtimes read, statfs, and
 * read-only attributes. Needs /sys mounted (the suite's config mounts it). */
#define AREA "sysfs"
#define ST_HARNESS_MAIN
#include "harness.h"

#include <sched.h>
#include <sys/statfs.h>
#include <sys/sysinfo.h>

#define SYSFS_MAGIC_ 0x62656572
#define CPU_DIR "/sys/devices/system/cpu"

/* Skips only where nothing is mounted on /sys (bare environments). */
static void need_sysfs(void) {
    struct statfs s;
    struct stat st;
    if (stat("/sys/devices", &st) != 0 && errno == ENOENT) SKIP("nothing mounted on /sys");
    CHECK_OK(statfs("/sys", &s));
    CHECK_EQ(s.f_type, SYSFS_MAGIC_);
}

/* Parse a kernel CPU list ("0", "0-3", "0-1,4") into a set. */
static void read_cpulist(const char *path, cpu_set_t *set) {
    char buf[4096];
    int fd = open(path, O_RDONLY);
    if (fd < 0) FAIL("open %s: %s", path, strerrorname_np(errno));
    ssize_t n = read(fd, buf, sizeof buf - 1);
    if (n <= 0) FAIL("read %s: %zd", path, n);
    close(fd);
    buf[n] = 0;
    if (buf[n - 1] != '\n') FAIL("%s does not end in a newline: \"%s\"", path, buf);
    CPU_ZERO(set);
    char *p = buf;
    while (*p && *p != '\n') {
        char *end;
        long a = strtol(p, &end, 10);
        if (end == p) FAIL("%s: bad list \"%s\"", path, buf);
        long b = a;
        if (*end == '-') {
            p = end + 1;
            b = strtol(p, &end, 10);
            if (end == p || b < a) FAIL("%s: bad range \"%s\"", path, buf);
        }
        for (long i = a; i <= b && i < CPU_SETSIZE; i++) CPU_SET(i, set);
        p = end;
        if (*p == ',') p++;
    }
}

TEST(cpu_online_covers_affinity) {
    need_sysfs();
    cpu_set_t online, aff;
    read_cpulist(CPU_DIR "/online", &online);
    CHECK(CPU_COUNT(&online) >= 1);
    CHECK(CPU_ISSET(0, &online));
    CHECK_OK(sched_getaffinity(0, sizeof aff, &aff));
    for (int i = 0; i < CPU_SETSIZE; i++)
        if (CPU_ISSET(i, &aff) && !CPU_ISSET(i, &online)) FAIL("cpu %d in the affinity mask is not online", i);
    /* glibc's get_nprocs reads this file. */
    CHECK_EQ(get_nprocs(), CPU_COUNT(&online));
    CHECK(get_nprocs_conf() >= get_nprocs());
}

TEST(cpu_lists_nest_and_have_dirs) {
    need_sysfs();
    cpu_set_t online, present, possible;
    read_cpulist(CPU_DIR "/online", &online);
    read_cpulist(CPU_DIR "/present", &present);
    read_cpulist(CPU_DIR "/possible", &possible);
    for (int i = 0; i < CPU_SETSIZE; i++) {
        if (CPU_ISSET(i, &online) && !CPU_ISSET(i, &present)) FAIL("cpu %d online, not present", i);
        if (CPU_ISSET(i, &present) && !CPU_ISSET(i, &possible)) FAIL("cpu %d present, not possible", i);
        if (CPU_ISSET(i, &present)) {
            char path[64];
            struct stat st;
            snprintf(path, sizeof path, CPU_DIR "/cpu%d", i);
            CHECK_OK(stat(path, &st));
            CHECK(S_ISDIR(st.st_mode));
        }
    }
    char buf[32] = {0};
    int fd = CHECK_OK(open(CPU_DIR "/kernel_max", O_RDONLY));
    CHECK(read(fd, buf, sizeof buf - 1) > 0);
    close(fd);
    long max = atol(buf);
    for (int i = max + 1; i < CPU_SETSIZE; i++)
        if (CPU_ISSET(i, &possible)) FAIL("cpu %d possible beyond kernel_max %ld", i, max);
}

TEST(attributes_are_read_only) {
    need_sysfs();
    struct stat st;
    CHECK_OK(stat(CPU_DIR "/online", &st));
    CHECK(S_ISREG(st.st_mode));
    CHECK_EQ(st.st_mode & 0777, 0444);
    CHECK_EQ(st.st_uid, 0);
    /* EACCES from the attribute (or the mode), EROFS from a read-only mount. */
    errno = 0;
    int fd = open(CPU_DIR "/online", O_WRONLY);
    if (fd >= 0) FAIL("opened " CPU_DIR "/online for writing");
    if (errno != EACCES && errno != EROFS) FAIL("open O_WRONLY: %s", strerrorname_np(errno));
}

TEST(statfs_magic_and_mount_points) {
    need_sysfs();
    struct statfs s;
    CHECK_OK(statfs(CPU_DIR, &s));
    CHECK_EQ(s.f_type, SYSFS_MAGIC_);
    struct stat st;
    CHECK_OK(stat("/sys/kernel", &st));
    CHECK(S_ISDIR(st.st_mode));
    CHECK_OK(stat("/sys/fs/cgroup", &st));
    CHECK(S_ISDIR(st.st_mode));
    CHECK_ERR(stat("/sys/devices/system/cpu/no-such-file", &st), ENOENT);
}
