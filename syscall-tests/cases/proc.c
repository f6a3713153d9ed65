/* procfs: /proc/self/{maps,fd,fdinfo,exe,status,stat,cmdline,environ,comm,
 * cwd,root,task,mounts}, /proc/<pid> of a child, and global files. */
#define AREA "proc"
#define ST_HARNESS_MAIN
#include "harness.h"

#include <dirent.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/sysinfo.h>

extern char **environ;

static void child_ok(pid_t pid) {
    int st = st_wait(pid);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 77) _exit(77);
    if (WIFEXITED(st)) FAIL("helper child exited with %d", WEXITSTATUS(st));
    FAIL("helper child killed by signal %d", WTERMSIG(st));
}

/* Read a whole (small) proc file; returns its length. */
static size_t slurp(const char *path, char *buf, size_t n) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) FAIL("open %s: %s", path, strerrorname_np(errno));
    size_t got = 0;
    for (;;) {
        if (got >= n - 1) FAIL("%s larger than %zu bytes", path, n);
        ssize_t r = read(fd, buf + got, n - 1 - got);
        if (r < 0) FAIL("read %s: %s", path, strerrorname_np(errno));
        if (r == 0) break;
        got += r;
    }
    buf[got] = 0;
    close(fd);
    return got;
}

/* Value of "Key:" in a status-style file, whitespace-trimmed. */
static int kv(const char *text, const char *key, char *out, size_t n) {
    size_t kl = strlen(key);
    const char *p = text;
    while (p && *p) {
        if (strncmp(p, key, kl) == 0 && p[kl] == ':') {
            p += kl + 1;
            while (*p == ' ' || *p == '\t') p++;
            size_t l = strcspn(p, "\n");
            snprintf(out, n, "%.*s", (int)l, p);
            return 1;
        }
        p = strchr(p, '\n');
        if (p) p++;
    }
    return 0;
}

static long kv_long(const char *text, const char *key) {
    char v[128];
    if (!kv(text, key, v, sizeof v)) FAIL("no %s: line", key);
    return atol(v);
}

static int count_dir(const char *path) {
    DIR *d = opendir(path);
    if (!d) FAIL("opendir %s: %s", path, strerrorname_np(errno));
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

static int dir_has(const char *path, const char *name) {
    DIR *d = opendir(path);
    if (!d) FAIL("opendir %s: %s", path, strerrorname_np(errno));
    int found = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, name) == 0) found = 1;
    closedir(d);
    return found;
}

static char *readlink_str(const char *path) {
    static char buf[8][4096];
    static int i;
    char *b = buf[i++ % 8];
    ssize_t n = readlink(path, b, 4095);
    if (n < 0) FAIL("readlink %s: %s", path, strerrorname_np(errno));
    b[n] = 0;
    return b;
}

TEST(self_is_a_symlink_to_pid) {
    char want[32];
    snprintf(want, sizeof want, "%d", getpid());
    CHECK_STR(readlink_str("/proc/self"), want);
    struct stat a, b;
    CHECK_OK(stat("/proc/self", &a));
    char path[64];
    snprintf(path, sizeof path, "/proc/%d", getpid());
    CHECK_OK(stat(path, &b));
    CHECK(S_ISDIR(a.st_mode));
    CHECK_EQ(a.st_ino, b.st_ino);
    snprintf(want, sizeof want, "%d/task/%d", getpid(), (int)gettid());
    CHECK_STR(readlink_str("/proc/thread-self"), want);
}

TEST(maps_lists_stack_and_new_mapping) {
    char *p = mmap(NULL, 5 * 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(p != MAP_FAILED);
    static char buf[256 * 1024];
    slurp("/proc/self/maps", buf, sizeof buf);
    char want[64];
    snprintf(want, sizeof want, "%lx-%lx r-xp 00000000 00:00 0", (unsigned long)p,
             (unsigned long)p + 5 * 4096);
    CHECK(strstr(buf, want) != NULL);
    /* The stack line covers a local variable. */
    int local = 0;
    int stack_ok = 0;
    for (char *line = buf; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx", &lo, &hi) != 2) FAIL("bad maps line");
        if ((unsigned long)&local >= lo && (unsigned long)&local < hi) {
            size_t l = strcspn(line, "\n");
            CHECK(memmem(line, l, "[stack]", 7) != NULL);
            CHECK(memmem(line, l, " rw-p ", 6) != NULL);
            stack_ok = 1;
        }
    }
    CHECK(stack_ok);
    CHECK_OK(munmap(p, 5 * 4096));
    slurp("/proc/self/maps", buf, sizeof buf);
    CHECK(strstr(buf, want) == NULL);
}

TEST(fd_dir_lists_open_fds) {
    int fd = CHECK_OK(open(tmp_path("file"), O_CREAT | O_RDWR, 0644));
    int p[2];
    CHECK_OK(pipe(p));
    char name[32], path[64];
    snprintf(name, sizeof name, "%d", fd);
    CHECK(dir_has("/proc/self/fd", name));
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    char cwd[4096];
    CHECK(getcwd(cwd, sizeof cwd) != NULL);
    char want[4200];
    snprintf(want, sizeof want, "%s/file", cwd);
    CHECK_STR(readlink_str(path), want);
    snprintf(path, sizeof path, "/proc/self/fd/%d", p[0]);
    char *pl = readlink_str(path);
    CHECK(strncmp(pl, "pipe:[", 6) == 0);
    snprintf(path, sizeof path, "/proc/self/fd/%d", p[1]);
    CHECK_STR(readlink_str(path), pl); /* both ends: the same pipe inode */
    struct stat st;
    CHECK_OK(lstat(path, &st));
    CHECK(S_ISLNK(st.st_mode));
    /* After close the entry is gone (use a high number so that opendir's
     * own descriptor cannot take its place). */
    CHECK_EQ(dup2(fd, 300), 300);
    CHECK(dir_has("/proc/self/fd", "300"));
    CHECK_OK(close(300));
    CHECK(!dir_has("/proc/self/fd", "300"));
    CHECK_ERR(readlink("/proc/self/fd/300", cwd, sizeof cwd), ENOENT);
}

TEST(fd_link_reopens_deleted_file) {
    int fd = CHECK_OK(open(tmp_path("gone"), O_CREAT | O_RDWR, 0644));
    CHECK_EQ(write(fd, "still here", 10), 10);
    CHECK_OK(unlink(tmp_path("gone")));
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    char *l = readlink_str(path);
    size_t n = strlen(l);
    CHECK(n > 10 && strcmp(l + n - 10, " (deleted)") == 0);
    /* Opening the magic link gives a new description of the same file. */
    int fd2 = CHECK_OK(open(path, O_RDONLY));
    char buf[16] = {0};
    CHECK_EQ(read(fd2, buf, sizeof buf), 10);
    CHECK_STR(buf, "still here");
    CHECK_EQ(lseek(fd, 0, SEEK_CUR), 10); /* independent offset */
}

TEST(fdinfo_pos_and_flags) {
    int fd = CHECK_OK(open(tmp_path("f"), O_CREAT | O_RDWR | O_APPEND, 0644));
    CHECK_EQ(write(fd, "0123456789", 10), 10);
    CHECK_EQ(lseek(fd, 4, SEEK_SET), 4);
    char path[64], buf[1024], v[64];
    snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
    slurp(path, buf, sizeof buf);
    CHECK(kv(buf, "pos", v, sizeof v));
    CHECK_STR(v, "4");
    CHECK(kv(buf, "flags", v, sizeof v));
    long flags = strtol(v, NULL, 8);
    CHECK_EQ(flags & O_ACCMODE, O_RDWR);
    CHECK(flags & O_APPEND);
    CHECK_EQ(flags & O_CLOEXEC, 0);
    CHECK_OK(fcntl(fd, F_SETFD, FD_CLOEXEC));
    slurp(path, buf, sizeof buf);
    CHECK(kv(buf, "flags", v, sizeof v));
    CHECK(strtol(v, NULL, 8) & O_CLOEXEC);
}

TEST(exe_link_is_this_binary) {
    char *exe = readlink_str("/proc/self/exe");
    CHECK_EQ(exe[0], '/');
    struct stat a, b;
    CHECK_OK(stat(exe, &a));
    int fd = CHECK_OK(open("/proc/self/exe", O_RDONLY));
    CHECK_OK(fstat(fd, &b));
    CHECK_EQ(a.st_dev, b.st_dev);
    CHECK_EQ(a.st_ino, b.st_ino);
    CHECK(S_ISREG(b.st_mode));
    /* It is an ELF file. */
    char magic[4];
    CHECK_EQ(read(fd, magic, 4), 4);
    CHECK(memcmp(magic, "\177ELF", 4) == 0);
    /* A forked child has the same executable. */
    char path[64];
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        pause(); /* until killed */
        _exit(0);
    }
    snprintf(path, sizeof path, "/proc/%d/exe", pid);
    CHECK_STR(readlink_str(path), exe);
    kill(pid, SIGKILL);
    st_wait(pid);
}

TEST(status_fields) {
    CHECK_OK(prctl(PR_SET_NAME, "st-status", 0, 0, 0));
    char buf[8192], v[128];
    slurp("/proc/self/status", buf, sizeof buf);
    CHECK(kv(buf, "Name", v, sizeof v));
    CHECK_STR(v, "st-status");
    CHECK_EQ(kv_long(buf, "Pid"), getpid());
    CHECK_EQ(kv_long(buf, "Tgid"), getpid());
    CHECK_EQ(kv_long(buf, "PPid"), getppid());
    CHECK_EQ(kv_long(buf, "Threads"), 1);
    CHECK(kv(buf, "State", v, sizeof v));
    CHECK_STR(v, "R (running)");
    CHECK(kv(buf, "Uid", v, sizeof v));
    char want[128];
    uid_t r, e, su;
    CHECK_OK(getresuid(&r, &e, &su));
    snprintf(want, sizeof want, "%d\t%d\t%d\t%d", r, e, su, e);
    CHECK_STR(v, want);
    CHECK(kv(buf, "VmRSS", v, sizeof v));
    CHECK(strstr(v, " kB") != NULL);
    CHECK(kv(buf, "SigBlk", v, sizeof v));
    CHECK_EQ(strlen(v), 16);
}

TEST(status_sigmasks) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1); /* signal 10 -> bit 9 */
    CHECK_OK(sigprocmask(SIG_BLOCK, &set, NULL));
    signal(SIGUSR2, SIG_IGN); /* signal 12 -> bit 11 */
    char buf[8192], v[64];
    slurp("/proc/self/status", buf, sizeof buf);
    CHECK(kv(buf, "SigBlk", v, sizeof v));
    CHECK(strtoull(v, NULL, 16) & (1ULL << (SIGUSR1 - 1)));
    CHECK(kv(buf, "SigIgn", v, sizeof v));
    CHECK(strtoull(v, NULL, 16) & (1ULL << (SIGUSR2 - 1)));
    CHECK_OK(kill(getpid(), SIGUSR1));
    slurp("/proc/self/status", buf, sizeof buf);
    CHECK(kv(buf, "ShdPnd", v, sizeof v));
    CHECK(strtoull(v, NULL, 16) & (1ULL << (SIGUSR1 - 1)));
}

TEST(stat_fields) {
    CHECK_OK(prctl(PR_SET_NAME, "st (x) y", 0, 0, 0));
    char buf[4096];
    slurp("/proc/self/stat", buf, sizeof buf);
    int pid = 0;
    CHECK_EQ(sscanf(buf, "%d", &pid), 1);
    CHECK_EQ(pid, getpid());
    char *open_p = strchr(buf, '(');
    char *close_p = strrchr(buf, ')');
    CHECK(open_p && close_p && close_p > open_p);
    *close_p = 0;
    CHECK_STR(open_p + 1, "st (x) y");
    char state;
    int ppid, pgrp, session;
    CHECK_EQ(sscanf(close_p + 2, "%c %d %d %d", &state, &ppid, &pgrp, &session), 4);
    CHECK_EQ(state, 'R');
    CHECK_EQ(ppid, getppid());
    CHECK_EQ(pgrp, getpgrp());
    CHECK_EQ(session, getsid(0));
    /* Field 20 is num_threads; count from field 3 (state). */
    char *f = close_p + 2;
    for (int field = 3; field < 20; field++) {
        f = strchr(f, ' ');
        CHECK(f != NULL);
        f++;
    }
    CHECK_EQ(atoi(f), 1);
}

TEST(cmdline_is_nul_separated_argv) {
    static char buf[65536];
    size_t n = slurp("/proc/self/cmdline", buf, sizeof buf);
    CHECK(n > 0);
    CHECK_EQ(buf[n - 1], 0);
    /* argv[0] is what glibc recorded, and the argument strings are laid out
     * contiguously in memory exactly as the file shows them. */
    CHECK_STR(buf, program_invocation_name);
    CHECK(memcmp(buf, program_invocation_name, n) == 0);
    /* The parent (the harness main, same argv) shows the same. */
    char path[64];
    static char pbuf[65536];
    snprintf(path, sizeof path, "/proc/%d/cmdline", getppid());
    size_t pn = slurp(path, pbuf, sizeof pbuf);
    CHECK_EQ(pn, n);
    CHECK(memcmp(buf, pbuf, n) == 0);
}

TEST(environ_matches_initial_environment) {
    static char buf[256 * 1024], want[256 * 1024];
    size_t n = slurp("/proc/self/environ", buf, sizeof buf);
    size_t w = 0;
    for (char **e = environ; *e; e++) {
        size_t l = strlen(*e) + 1;
        CHECK(w + l < sizeof want);
        memcpy(want + w, *e, l);
        w += l;
    }
    CHECK_EQ(n, w);
    CHECK(memcmp(buf, want, n) == 0);
    /* setenv changes the process' copy, not the original block. */
    CHECK_OK(setenv("ST_PROC_NEW_VAR", "1", 1));
    size_t n2 = slurp("/proc/self/environ", buf, sizeof buf);
    CHECK_EQ(n2, n);
    CHECK(memmem(buf, n2, "ST_PROC_NEW_VAR", 15) == NULL);
}

TEST(comm_file) {
    CHECK_OK(prctl(PR_SET_NAME, "st-comm", 0, 0, 0));
    char buf[64], path[128];
    slurp("/proc/self/comm", buf, sizeof buf);
    CHECK_STR(buf, "st-comm\n");
    snprintf(path, sizeof path, "/proc/self/task/%d/comm", (int)gettid());
    slurp(path, buf, sizeof buf);
    CHECK_STR(buf, "st-comm\n");
    int fd = CHECK_OK(open("/proc/self/comm", O_WRONLY));
    CHECK_EQ(write(fd, "0123456789abcdefghij", 20), 20);
    close(fd);
    slurp("/proc/self/comm", buf, sizeof buf);
    CHECK_STR(buf, "0123456789abcde\n");
}

TEST(cwd_and_root_links) {
    char cwd[4096];
    CHECK(getcwd(cwd, sizeof cwd) != NULL);
    CHECK_STR(readlink_str("/proc/self/cwd"), cwd);
    CHECK_OK(mkdir(tmp_path("sub"), 0755));
    CHECK_OK(chdir("sub"));
    char want[4200];
    snprintf(want, sizeof want, "%s/sub", cwd);
    CHECK_STR(readlink_str("/proc/self/cwd"), want);
    CHECK_OK(chdir("/"));
    CHECK_STR(readlink_str("/proc/self/cwd"), "/");
    CHECK_STR(readlink_str("/proc/self/root"), "/");
    /* The cwd link can be followed. */
    CHECK_OK(chdir(cwd));
    int fd = CHECK_OK(open("/proc/self/cwd/sub", O_RDONLY | O_DIRECTORY));
    close(fd);
}

TEST(child_pid_directory) {
    int ready[2], go[2];
    CHECK_OK(pipe(ready));
    CHECK_OK(pipe(go));
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        CHECK_OK(prctl(PR_SET_NAME, "st-child", 0, 0, 0));
        CHECK_EQ(write(ready[1], "r", 1), 1);
        char c;
        CHECK_EQ(read(go[0], &c, 1), 1);
        _exit(0);
    }
    char c;
    CHECK_EQ(read(ready[0], &c, 1), 1);
    char path[64], buf[8192], v[64];
    snprintf(path, sizeof path, "/proc/%d", pid);
    struct stat st;
    CHECK_OK(stat(path, &st));
    CHECK(S_ISDIR(st.st_mode));
    CHECK_EQ(st.st_uid, geteuid());
    char name[32];
    snprintf(name, sizeof name, "%d", pid);
    CHECK(dir_has("/proc", name));
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    slurp(path, buf, sizeof buf);
    CHECK(kv(buf, "Name", v, sizeof v));
    CHECK_STR(v, "st-child");
    CHECK_EQ(kv_long(buf, "Pid"), pid);
    CHECK_EQ(kv_long(buf, "PPid"), getpid());
    snprintf(path, sizeof path, "/proc/%d/comm", pid);
    slurp(path, buf, sizeof buf);
    CHECK_STR(buf, "st-child\n");
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    slurp(path, buf, sizeof buf);
    int p2 = 0, ppid = 0;
    char state;
    CHECK_EQ(sscanf(buf, "%d (st-child) %c %d", &p2, &state, &ppid), 3);
    CHECK_EQ(p2, pid);
    CHECK_EQ(ppid, getpid());
    CHECK_EQ(write(go[1], "g", 1), 1);
    child_ok(pid);
    /* Once reaped the directory is gone. */
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    CHECK_ERR(open(path, O_RDONLY), ENOENT);
    CHECK(!dir_has("/proc", name));
}

static int thread_go[2];
static void *thread_fn(void *a) {
    (void)a;
    char c;
    if (read(thread_go[0], &c, 1) != 1) return (void *)1;
    return NULL;
}

TEST(task_dir_lists_threads) {
    char name[32];
    snprintf(name, sizeof name, "%d", getpid());
    CHECK_EQ(count_dir("/proc/self/task"), 1);
    CHECK(dir_has("/proc/self/task", name));
    CHECK_OK(pipe(thread_go));
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, thread_fn, NULL), 0);
    CHECK_EQ(count_dir("/proc/self/task"), 2);
    char buf[8192];
    slurp("/proc/self/status", buf, sizeof buf);
    CHECK_EQ(kv_long(buf, "Threads"), 2);
    CHECK_EQ(write(thread_go[1], "x", 1), 1);
    void *ret;
    CHECK_EQ(pthread_join(t, &ret), 0);
    CHECK(ret == NULL);
    CHECK_EQ(count_dir("/proc/self/task"), 1);
}

TEST(cpuinfo_keys) {
    static char buf[1 << 20];
    slurp("/proc/cpuinfo", buf, sizeof buf);
    int procs = 0;
    for (char *p = buf; (p = strstr(p, "processor")); p++)
        if (p == buf || p[-1] == '\n') procs++;
    CHECK(procs >= 1);
    CHECK(strstr(buf, "\nflags") != NULL);
    CHECK(strstr(buf, "vendor_id") != NULL);
    cpu_set_t set;
    CHECK_OK(sched_getaffinity(0, sizeof set, &set));
    int max = -1;
    for (int i = 0; i < CPU_SETSIZE; i++)
        if (CPU_ISSET(i, &set)) max = i;
    CHECK(max < procs);
}

TEST(meminfo_keys) {
    char buf[16384], v[64];
    slurp("/proc/meminfo", buf, sizeof buf);
    CHECK(kv(buf, "MemTotal", v, sizeof v));
    CHECK(strstr(v, " kB") != NULL);
    long total = atol(v);
    long free_ = kv_long(buf, "MemFree");
    CHECK(total > 0);
    CHECK(free_ >= 0 && free_ <= total);
    CHECK(kv(buf, "MemAvailable", v, sizeof v));
    CHECK(kv(buf, "Cached", v, sizeof v));
    CHECK(kv(buf, "SwapTotal", v, sizeof v));
    struct sysinfo si;
    CHECK_OK(sysinfo(&si));
    long long si_kb = (long long)si.totalram * si.mem_unit / 1024;
    long long diff = si_kb - total;
    if (diff < 0) diff = -diff;
    CHECK(diff <= total / 100); /* same quantity, modulo ballooning */
}

TEST(mounts_readable) {
    static char buf[1 << 18];
    slurp("/proc/self/mounts", buf, sizeof buf);
    int root = 0, proc = 0;
    for (char *line = buf; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        char dev[256], dir[512], type[64], opts[512];
        int a, b;
        if (sscanf(line, "%255s %511s %63s %511s %d %d", dev, dir, type, opts, &a, &b) != 6)
            FAIL("malformed mounts line: %s", line);
        if (!strcmp(dir, "/")) root = 1;
        if (!strcmp(dir, "/proc") && !strcmp(type, "proc")) proc = 1;
        line = nl ? nl + 1 : NULL;
    }
    CHECK(root);
    CHECK(proc);
    /* /proc/mounts is the same file. */
    CHECK_STR(readlink_str("/proc/mounts"), "self/mounts");
}

TEST(global_files) {
    char buf[4096];
    slurp("/proc/uptime", buf, sizeof buf);
    double up = 0, idle = -1;
    CHECK_EQ(sscanf(buf, "%lf %lf", &up, &idle), 2);
    CHECK(up > 0);
    CHECK(idle >= 0);
    slurp("/proc/loadavg", buf, sizeof buf);
    double l1, l5, l15;
    int running, total;
    CHECK_EQ(sscanf(buf, "%lf %lf %lf %d/%d", &l1, &l5, &l15, &running, &total), 5);
    CHECK(running >= 1 && total >= running);
    static char st[1 << 18];
    slurp("/proc/stat", st, sizeof st);
    CHECK(strncmp(st, "cpu ", 4) == 0);
    CHECK(strstr(st, "\nbtime ") != NULL);
    slurp("/proc/filesystems", st, sizeof st);
    CHECK(strstr(st, "\tproc\n") != NULL);
}
