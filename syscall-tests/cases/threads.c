/* Threads: pthreads and raw clone(CLONE_THREAD), ids, shared state, exit
 * semantics, clear-child-tid, robust futexes, thread-directed signals, TLS,
 * /proc/self/task. */
#define AREA "threads"
#define ST_HARNESS_MAIN
#include "harness.h"

#include <dirent.h>
#include <stddef.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#ifdef __x86_64__
#include <asm/prctl.h>
#endif

static long futex(volatile int *uaddr, int op, int val, const struct timespec *ts) {
    return syscall(SYS_futex, uaddr, op, val, ts, NULL, 0);
}

static pid_t gettid_(void) { return (pid_t)syscall(SYS_gettid); }

static void *ret_arg_plus_one(void *a) { return (void *)((long)a + 1); }

TEST(pthread_create_join_value) {
    pthread_t t[4];
    for (long i = 0; i < 4; i++) CHECK_EQ(pthread_create(&t[i], NULL, ret_arg_plus_one, (void *)(i * 10)), 0);
    for (long i = 0; i < 4; i++) {
        void *r;
        CHECK_EQ(pthread_join(t[i], &r), 0);
        CHECK_EQ((long)r, i * 10 + 1);
    }
}

struct ids {
    pid_t pid, tid, ppid;
};
static void *get_ids(void *a) {
    struct ids *x = a;
    x->pid = getpid();
    x->tid = gettid_();
    x->ppid = getppid();
    return NULL;
}

TEST(gettid_differs_getpid_same) {
    struct ids x;
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, get_ids, &x), 0);
    CHECK_EQ(pthread_join(t, NULL), 0);
    CHECK_EQ(x.pid, getpid());
    CHECK_EQ(x.ppid, getppid());
    CHECK(x.tid != getpid());
    CHECK(x.tid > 0);
    CHECK_EQ(gettid_(), getpid());
}

static void *open_file(void *a) {
    int *fd = a;
    *fd = open(tmp_path("shared"), O_CREAT | O_RDWR, 0600);
    if (*fd >= 0 && write(*fd, "from-thread", 11) != 11) *fd = -2;
    return NULL;
}

TEST(thread_shares_memory_and_fds) {
    int fd = -1;
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, open_file, &fd), 0);
    CHECK_EQ(pthread_join(t, NULL), 0);
    CHECK(fd >= 0);
    char buf[32] = {0};
    CHECK_EQ(pread(fd, buf, sizeof buf, 0), 11);
    CHECK_STR(buf, "from-thread");
    CHECK_EQ(lseek(fd, 0, SEEK_CUR), 11);
}

static void *do_chdir(void *a) {
    return (void *)(long)chdir((const char *)a);
}

TEST(thread_shares_cwd) {
    CHECK_OK(mkdir(tmp_path("sub"), 0700));
    char want[PATH_MAX], cwd[PATH_MAX];
    CHECK(realpath(tmp_path("sub"), want) != NULL);
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, do_chdir, (void *)tmp_path("sub")), 0);
    void *r;
    CHECK_EQ(pthread_join(t, &r), 0);
    CHECK_EQ((long)r, 0);
    CHECK(getcwd(cwd, sizeof cwd) != NULL);
    CHECK_STR(cwd, want);
}

struct rawthr {
    volatile int value;
    pid_t tid_seen, pid_seen;
    int fd;
};

static int raw_thread_fn(void *a) {
    struct rawthr *r = a;
    r->tid_seen = gettid_();
    r->pid_seen = getpid();
    r->value = 1234;
    r->fd = open("/dev/null", O_RDONLY);
    return 0; /* glibc's clone() then calls the exit syscall (thread only) */
}

TEST(raw_clone_thread_shares_vm_and_files_clear_tid) {
    size_t sz = 256 * 1024;
    char *stack = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    CHECK(stack != MAP_FAILED);
    struct rawthr r = {0, 0, 0, -1};
    static volatile pid_t ctid, ptid;
    ctid = -1;
    int flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM |
                CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID;
    pid_t tid = CHECK_OK(clone(raw_thread_fn, stack + sz, flags, &r, &ptid, NULL, &ctid));
    CHECK(tid > 0);
    /* CLONE_CHILD_CLEARTID: the kernel zeroes ctid at thread exit and
     * wakes futex waiters on it. It starts as -1 (the kernel does not write
     * ctid at creation without CLONE_CHILD_SETTID). */
    for (;;) {
        pid_t v = ctid;
        if (v == 0) break;
        long rc = futex((volatile int *)&ctid, FUTEX_WAIT, v, NULL);
        if (rc < 0 && errno != EAGAIN && errno != EINTR) FAIL("futex wait: %s", strerror(errno));
    }
    CHECK_EQ(ptid, tid);
    CHECK_EQ(r.tid_seen, tid);
    CHECK_EQ(r.pid_seen, getpid());
    CHECK_EQ(r.value, 1234);
    CHECK(r.fd >= 0);
    /* CLONE_FILES: the fd opened by the thread is in our table. */
    CHECK_OK(fcntl(r.fd, F_GETFD));
    /* A thread is not a child: nothing to wait for. */
    CHECK_ERR(waitpid(-1, NULL, __WALL | WNOHANG), ECHILD);
    munmap(stack, sz);
}

TEST(set_tid_address_returns_tid) {
    static int word;
    CHECK_EQ(syscall(SYS_set_tid_address, &word), gettid_());
}

static void *thread_exit_syscall(void *a) {
    (void)a;
    syscall(SYS_exit, 0); /* ends only this thread */
    return NULL;
}

TEST(thread_exit_syscall_leaves_process_running) {
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        pthread_t t;
        if (pthread_create(&t, NULL, thread_exit_syscall, NULL)) _exit(2);
        /* glibc's join relies on the kernel clearing the tid at exit. */
        if (pthread_join(t, NULL)) _exit(3);
        _exit(44);
    }
    int st = st_wait(pid);
    CHECK(WIFEXITED(st));
    CHECK_EQ(WEXITSTATUS(st), 44);
}

static void *exit_from_thread(void *a) {
    (void)a;
    exit(5); /* exit_group: takes the whole process down */
}

TEST(exit_in_thread_ends_process) {
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        pthread_t t;
        if (pthread_create(&t, NULL, exit_from_thread, NULL)) _exit(2);
        for (;;) pause();
    }
    int st = st_wait(pid);
    CHECK(WIFEXITED(st));
    CHECK_EQ(WEXITSTATUS(st), 5);
}

static int main_gone_pipe[2];
static void *outlive_main(void *a) {
    pid_t leader = (pid_t)(long)a;
    /* Wait until the leader thread has exited (it becomes a zombie leader:
     * its /proc/<pid>/task/<pid>/stat state is Z), then exit the group. */
    char c;
    if (read(main_gone_pipe[0], &c, 1) != 1) exit(2);
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task/%d/stat", leader, leader);
    for (int i = 0; i < 100000; i++) {
        char buf[512];
        int fd = open(path, O_RDONLY);
        if (fd < 0) break;
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n <= 0) break;
        buf[n] = 0;
        char *p = strrchr(buf, ')');
        if (p && (p[2] == 'Z' || p[2] == 'X')) break;
        sched_yield();
    }
    exit(9);
}

TEST(main_thread_pthread_exit_process_continues) {
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        if (pipe(main_gone_pipe)) _exit(2);
        pthread_t t;
        if (pthread_create(&t, NULL, outlive_main, (void *)(long)getpid())) _exit(2);
        if (write(main_gone_pipe[1], "x", 1) != 1) _exit(2);
        pthread_exit(NULL);
    }
    /* The process's exit status is the one of the last exit (exit(9)). */
    int st = st_wait(pid);
    CHECK(WIFEXITED(st));
    CHECK_EQ(WEXITSTATUS(st), 9);
}

struct robust_entry {
    struct robust_list list;
    int futex_word;
};

TEST(robust_futex_owner_died_across_process) {
    struct robust_entry *e = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(e != MAP_FAILED);
    int ready[2];
    CHECK_OK(pipe(ready));
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        static struct robust_list_head head;
        head.list.next = &e->list;
        head.futex_offset = offsetof(struct robust_entry, futex_word);
        head.list_op_pending = NULL;
        e->list.next = &head.list;
        /* We own the lock: the word holds our tid. */
        e->futex_word = gettid_();
        if (syscall(SYS_set_robust_list, &head, sizeof head) != 0) _exit(2);
        struct robust_list_head *got;
        size_t len;
        if (syscall(SYS_get_robust_list, 0, &got, &len) != 0 || got != &head || len != sizeof head) _exit(3);
        _exit(0); /* die holding it */
    }
    CHECK_EQ(st_wait(pid), 0);
    /* The kernel marked it: owner tid cleared, FUTEX_OWNER_DIED set. */
    CHECK_EQ(e->futex_word, FUTEX_OWNER_DIED);
    CHECK_ERR(syscall(SYS_set_robust_list, NULL, 3), EINVAL);
}

static void *lock_and_die(void *a) {
    pthread_mutex_lock(a);
    return NULL;
}

TEST(robust_mutex_owner_dead_thread) {
    pthread_mutexattr_t at;
    pthread_mutex_t m;
    CHECK_EQ(pthread_mutexattr_init(&at), 0);
    CHECK_EQ(pthread_mutexattr_setrobust(&at, PTHREAD_MUTEX_ROBUST), 0);
    CHECK_EQ(pthread_mutex_init(&m, &at), 0);
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, lock_and_die, &m), 0);
    CHECK_EQ(pthread_join(t, NULL), 0);
    CHECK_EQ(pthread_mutex_lock(&m), EOWNERDEAD);
    CHECK_EQ(pthread_mutex_consistent(&m), 0);
    CHECK_EQ(pthread_mutex_unlock(&m), 0);
    CHECK_EQ(pthread_mutex_lock(&m), 0);
    CHECK_EQ(pthread_mutex_unlock(&m), 0);
}

static volatile pid_t handled_on;
static void record_tid(int sig) {
    (void)sig;
    handled_on = gettid_();
}

struct sigthr {
    pid_t tid;
    int block_usr1;
    int ready[2], go[2], res[2];
};

static void *sig_thread(void *a) {
    struct sigthr *s = a;
    s->tid = gettid_();
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(s->block_usr1 ? SIG_BLOCK : SIG_UNBLOCK, &set, NULL);
    if (write(s->ready[1], "r", 1) != 1) return NULL;
    char c;
    while (read(s->go[0], &c, 1) < 0 && errno == EINTR) {}
    sigset_t pend;
    sigpending(&pend);
    int v = sigismember(&pend, SIGUSR1);
    if (write(s->res[1], &v, sizeof v) != sizeof v) return NULL;
    return NULL;
}

static void start_sigthr(struct sigthr *s, pthread_t *t, int block_usr1) {
    s->block_usr1 = block_usr1;
    CHECK_OK(pipe(s->ready));
    CHECK_OK(pipe(s->go));
    CHECK_OK(pipe(s->res));
    CHECK_EQ(pthread_create(t, NULL, sig_thread, s), 0);
    char c;
    CHECK_EQ(read(s->ready[0], &c, 1), 1);
}

TEST(thread_directed_signal_pending_only_in_thread) {
    struct sigthr s;
    pthread_t t;
    start_sigthr(&s, &t, 1);
    CHECK_OK(syscall(SYS_tgkill, getpid(), s.tid, SIGUSR1));
    sigset_t pend;
    CHECK_OK(sigpending(&pend));
    CHECK(!sigismember(&pend, SIGUSR1));
    CHECK_EQ(write(s.go[1], "g", 1), 1);
    int v = -1;
    CHECK_EQ(read(s.res[0], &v, sizeof v), (long)sizeof v);
    CHECK_EQ(v, 1);
    CHECK_EQ(pthread_join(t, NULL), 0);
}

TEST(process_signal_goes_to_unblocking_thread) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = record_tid;
    sa.sa_flags = SA_RESTART;
    CHECK_OK(sigaction(SIGUSR1, &sa, NULL));
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    CHECK_OK(pthread_sigmask(SIG_BLOCK, &set, NULL));
    struct sigthr s;
    pthread_t t;
    start_sigthr(&s, &t, 0);
    CHECK_OK(kill(getpid(), SIGUSR1));
    while (handled_on == 0) sched_yield();
    CHECK_EQ(handled_on, s.tid);
    CHECK_EQ(write(s.go[1], "g", 1), 1);
    int v = -1;
    CHECK_EQ(read(s.res[0], &v, sizeof v), (long)sizeof v);
    CHECK_EQ(v, 0);
    CHECK_EQ(pthread_join(t, NULL), 0);
}

static __thread int tls_var = 7;
struct tlsinfo {
    int initial;
    int *addr;
    unsigned long fsbase;
    unsigned long self;
};
static void *tls_thread(void *a) {
    struct tlsinfo *i = a;
    i->initial = tls_var;
    tls_var = 99;
    i->addr = &tls_var;
#ifdef __x86_64__
    syscall(SYS_arch_prctl, ARCH_GET_FS, &i->fsbase);
#endif
    i->self = (unsigned long)pthread_self();
    return NULL;
}

TEST(thread_local_storage_and_fs_base) {
    tls_var = 1;
    struct tlsinfo i;
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, tls_thread, &i), 0);
    CHECK_EQ(pthread_join(t, NULL), 0);
    CHECK_EQ(i.initial, 7);
    CHECK_EQ(tls_var, 1);
    CHECK(i.addr != &tls_var);
#ifdef __x86_64__
    unsigned long fs = 0;
    CHECK_OK(syscall(SYS_arch_prctl, ARCH_GET_FS, &fs));
    /* glibc's thread pointer is the fs base. */
    CHECK_EQ(fs, (unsigned long)pthread_self());
    CHECK_EQ(i.fsbase, i.self);
    CHECK(i.fsbase != fs);
#endif
}

#ifdef __x86_64__
static volatile unsigned long fs_after;
static long raw_syscall2(long nr, long a, long b) {
    long ret;
    asm volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a), "S"(b) : "rcx", "r11", "memory");
    return ret;
}

static int fs_thread(void *a) {
    unsigned long cur = 0;
    /* Once fs points elsewhere no libc code may run here: raw syscalls. */
    raw_syscall2(SYS_arch_prctl, ARCH_SET_FS, (long)a);
    raw_syscall2(SYS_arch_prctl, ARCH_GET_FS, (long)&cur);
    fs_after = cur;
    raw_syscall2(SYS_exit, 0, 0);
    return 0;
}
#endif

TEST(arch_prctl_set_fs_per_thread) {
#ifdef __x86_64__
    size_t sz = 256 * 1024;
    char *stack = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    CHECK(stack != MAP_FAILED);
    static char area[256];
    static volatile pid_t ctid;
    ctid = 1;
    unsigned long before = 0, after = 0;
    CHECK_OK(syscall(SYS_arch_prctl, ARCH_GET_FS, &before));
    int flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM |
                CLONE_CHILD_CLEARTID;
    CHECK_OK(clone(fs_thread, stack + sz, flags, area, NULL, NULL, &ctid));
    while (ctid != 0) futex((volatile int *)&ctid, FUTEX_WAIT, 1, NULL);
    CHECK_EQ(fs_after, (unsigned long)area);
    CHECK_OK(syscall(SYS_arch_prctl, ARCH_GET_FS, &after));
    CHECK_EQ(after, before);
#else
    SKIP("x86-64 only");
#endif
}

static void *wait_on_pipe(void *a) {
    int *fd = a;
    char c;
    while (read(*fd, &c, 1) < 0 && errno == EINTR) {}
    return NULL;
}

static int has_task(pid_t tid, int *count) {
    DIR *d = opendir("/proc/self/task");
    if (!d) FAIL("opendir /proc/self/task: %s", strerror(errno));
    struct dirent *de;
    int found = 0;
    *count = 0;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        (*count)++;
        if (atoi(de->d_name) == tid) found = 1;
    }
    closedir(d);
    return found;
}

struct tidpipe {
    int fd;
    pid_t tid;
    int ready[2];
};
static void *tid_then_wait(void *a) {
    struct tidpipe *t = a;
    t->tid = gettid_();
    if (write(t->ready[1], "r", 1) != 1) return NULL;
    return wait_on_pipe(&t->fd);
}

TEST(proc_self_task_lists_threads) {
    int p[2];
    CHECK_OK(pipe(p));
    struct tidpipe tp[2];
    pthread_t t[2];
    for (int i = 0; i < 2; i++) {
        tp[i].fd = p[0];
        CHECK_OK(pipe(tp[i].ready));
        CHECK_EQ(pthread_create(&t[i], NULL, tid_then_wait, &tp[i]), 0);
        char c;
        CHECK_EQ(read(tp[i].ready[0], &c, 1), 1);
    }
    int n;
    CHECK(has_task(getpid(), &n));
    CHECK_EQ(n, 3);
    CHECK(has_task(tp[0].tid, &n));
    CHECK(has_task(tp[1].tid, &n));
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", tp[0].tid);
    int fd = CHECK_OK(open(path, O_RDONLY));
    close(fd);
    close(p[1]); /* both threads see EOF */
    for (int i = 0; i < 2; i++) CHECK_EQ(pthread_join(t[i], NULL), 0);
    CHECK(!has_task(tp[0].tid, &n));
    CHECK_EQ(n, 1);
}

struct namethr {
    int ready[2], go[2];
    pid_t tid;
};
static void *named_thread(void *a) {
    struct namethr *n = a;
    n->tid = gettid_();
    prctl(PR_SET_NAME, "worker-x", 0, 0, 0);
    if (write(n->ready[1], "r", 1) != 1) return NULL;
    char c;
    while (read(n->go[0], &c, 1) < 0 && errno == EINTR) {}
    return NULL;
}

TEST(per_thread_comm_name) {
    CHECK_OK(prctl(PR_SET_NAME, "main-y", 0, 0, 0));
    struct namethr n;
    CHECK_OK(pipe(n.ready));
    CHECK_OK(pipe(n.go));
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, named_thread, &n), 0);
    char c;
    CHECK_EQ(read(n.ready[0], &c, 1), 1);
    char path[64], buf[64] = {0};
    snprintf(path, sizeof path, "/proc/self/task/%d/comm", n.tid);
    int fd = CHECK_OK(open(path, O_RDONLY));
    CHECK_EQ(read(fd, buf, sizeof buf - 1), 9);
    CHECK_STR(buf, "worker-x\n");
    close(fd);
    char name[17] = {0};
    CHECK_OK(prctl(PR_GET_NAME, name, 0, 0, 0));
    CHECK_STR(name, "main-y");
    CHECK_EQ(write(n.go[1], "g", 1), 1);
    CHECK_EQ(pthread_join(t, NULL), 0);
}

static void *fork_in_thread(void *a) {
    (void)a;
    pid_t pid = fork();
    if (pid == 0) _exit(12);
    return (void *)(long)pid;
}

TEST(child_of_thread_waitable_by_main_thread) {
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, fork_in_thread, NULL), 0);
    void *r;
    CHECK_EQ(pthread_join(t, &r), 0);
    pid_t pid = (pid_t)(long)r;
    CHECK(pid > 0);
    int st = 0;
    CHECK_EQ(waitpid(pid, &st, 0), pid);
    CHECK(WIFEXITED(st));
    CHECK_EQ(WEXITSTATUS(st), 12);
}

static void *detached_fn(void *a) {
    int *fd = a;
    if (write(*fd, "d", 1) != 1) return NULL;
    return NULL;
}

TEST(detached_thread_runs_and_join_einval) {
    int p[2];
    CHECK_OK(pipe(p));
    pthread_attr_t at;
    CHECK_EQ(pthread_attr_init(&at), 0);
    CHECK_EQ(pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED), 0);
    pthread_t t;
    CHECK_EQ(pthread_create(&t, &at, detached_fn, &p[1]), 0);
    char c;
    CHECK_EQ(read(p[0], &c, 1), 1);
    CHECK_EQ(c, 'd');
}
