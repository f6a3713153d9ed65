/* Process creation and identity: fork, vfork, clone, sessions, process
 * groups, exit, orphan reparenting. */
#define AREA "process"
#define ST_HARNESS_MAIN
#include "harness.h"

#include <pthread.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

static void xwrite_int(int fd, long v) {
    if (write(fd, &v, sizeof v) != sizeof v) _exit(99);
}

static long xread_int(int fd) {
    long v = 0;
    ssize_t n = read(fd, &v, sizeof v);
    if (n != sizeof v) FAIL("short read from pipe: %zd", n);
    return v;
}

/* Child exit status, checking it exited normally. */
static int exit_code(pid_t pid) {
    int st = st_wait(pid);
    if (!WIFEXITED(st)) FAIL("child %d did not exit normally: status 0x%x", pid, st);
    return WEXITSTATUS(st);
}

TEST(fork_returns_child_pid) {
    int p[2];
    CHECK_OK(pipe(p));
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        xwrite_int(p[1], getpid());
        _exit(7);
    }
    CHECK(pid > 0);
    CHECK(pid != getpid());
    CHECK_EQ(xread_int(p[0]), pid);
    CHECK_EQ(exit_code(pid), 7);
}

TEST(getppid_in_child_is_parent) {
    pid_t me = getpid();
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) _exit(getppid() == me ? 0 : 1);
    CHECK_EQ(exit_code(pid), 0);
}

TEST(gettid_equals_getpid_single_thread) {
    CHECK_EQ(syscall(SYS_gettid), getpid());
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) _exit(syscall(SYS_gettid) == getpid() ? 0 : 1);
    CHECK_EQ(exit_code(pid), 0);
}

TEST(fork_copies_memory) {
    static volatile int shared_var = 1;
    int p[2];
    CHECK_OK(pipe(p));
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        shared_var = 42;
        xwrite_int(p[1], shared_var);
        _exit(0);
    }
    CHECK_EQ(xread_int(p[0]), 42);
    CHECK_EQ(exit_code(pid), 0);
    CHECK_EQ(shared_var, 1);
}

TEST(fork_shares_file_offset) {
    int fd = CHECK_OK(open(tmp_path("f"), O_CREAT | O_RDWR | O_TRUNC, 0600));
    CHECK_EQ(write(fd, "abc", 3), 3);
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) _exit(write(fd, "defg", 4) == 4 ? 0 : 1);
    CHECK_EQ(exit_code(pid), 0);
    CHECK_EQ(lseek(fd, 0, SEEK_CUR), 7);
    char buf[16] = {0};
    CHECK_EQ(pread(fd, buf, sizeof buf, 0), 7);
    CHECK_STR(buf, "abcdefg");
}

TEST(fork_child_alarm_cleared) {
    CHECK_EQ(alarm(1000), 0);
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) _exit(alarm(0) == 0 ? 0 : 1);
    CHECK_EQ(exit_code(pid), 0);
    unsigned left = alarm(0);
    CHECK(left > 990 && left <= 1000);
}

TEST(vfork_shares_memory_and_suspends_parent) {
    static volatile int v;
    v = 1;
    pid_t pid = vfork();
    if (pid == 0) {
        v = 2;
        _exit(3);
    }
    CHECK(pid > 0);
    /* The child wrote our memory before we resumed (we were suspended
     * until it called _exit). */
    CHECK_EQ(v, 2);
    CHECK_EQ(exit_code(pid), 3);
}

static volatile int clone_flag;
static int clone_fn(void *arg) {
    clone_flag = (int)(long)arg;
    return 5;
}

TEST(clone_vm_vfork) {
    size_t sz = 256 * 1024;
    char *stack = malloc(sz);
    CHECK(stack != NULL);
    clone_flag = 0;
    pid_t pid = CHECK_OK(clone(clone_fn, stack + sz, CLONE_VM | CLONE_VFORK | SIGCHLD, (void *)77L));
    /* CLONE_VFORK: we resume only after the child exited; CLONE_VM: its
     * write is visible. */
    CHECK_EQ(clone_flag, 77);
    CHECK_EQ(exit_code(pid), 5);
    free(stack);
}

TEST(clone_sigchld_without_vm_copies) {
    size_t sz = 256 * 1024;
    char *stack = malloc(sz);
    CHECK(stack != NULL);
    clone_flag = 0;
    pid_t pid = CHECK_OK(clone(clone_fn, stack + sz, SIGCHLD, (void *)9L));
    CHECK_EQ(exit_code(pid), 5);
    CHECK_EQ(clone_flag, 0);
    free(stack);
}

TEST(clone_nonsigchld_needs_wclone) {
    size_t sz = 256 * 1024;
    char *stack = malloc(sz);
    CHECK(stack != NULL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    CHECK_OK(sigprocmask(SIG_BLOCK, &set, NULL));
    pid_t pid = CHECK_OK(clone(clone_fn, stack + sz, SIGUSR1, (void *)1L));
    /* Its exit signal is SIGUSR1, which tells us it has exited. */
    siginfo_t si;
    CHECK_EQ(sigwaitinfo(&set, &si), SIGUSR1);
    CHECK_EQ(si.si_pid, pid);
    CHECK_EQ(si.si_code, CLD_EXITED);
    CHECK_EQ(si.si_status, 5);
    /* A "clone" child is invisible to a plain wait... */
    CHECK_ERR(waitpid(pid, NULL, WNOHANG), ECHILD);
    /* ...and visible with __WCLONE. */
    int st = 0;
    CHECK_EQ(waitpid(pid, &st, __WCLONE), pid);
    CHECK(WIFEXITED(st));
    CHECK_EQ(WEXITSTATUS(st), 5);
    free(stack);
}

TEST(setsid_group_leader_eperm) {
    /* The harness made each case its own process-group leader. */
    CHECK_EQ(getpgrp(), getpid());
    CHECK_ERR(setsid(), EPERM);
}

TEST(setsid_in_child_new_session) {
    int p[2], q[2];
    CHECK_OK(pipe(p));
    CHECK_OK(pipe(q));
    pid_t oldsid = getsid(0);
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        pid_t s = setsid();
        int ok = s == getpid() && getsid(0) == getpid() && getpgid(0) == getpid() &&
                 getpgrp() == getpid();
        xwrite_int(p[1], ok);
        char c;
        if (read(q[0], &c, 1) != 1) _exit(2);
        _exit(0);
    }
    CHECK_EQ(xread_int(p[0]), 1);
    CHECK_EQ(getsid(pid), pid);
    CHECK_EQ(getpgid(pid), pid);
    CHECK(getsid(0) == oldsid);
    CHECK(oldsid != pid);
    CHECK_EQ(write(q[1], "x", 1), 1);
    CHECK_EQ(exit_code(pid), 0);
}

TEST(setpgid_rules) {
    int p[2], q[2];
    CHECK_OK(pipe(p));
    CHECK_OK(pipe(q));
    pid_t me = getpid();
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        char c;
        if (read(q[0], &c, 1) != 1) _exit(2);
        /* Parent moved us: we are in our own group now. */
        int ok = getpgrp() == getpid();
        /* Move back into the parent's group (same session). */
        ok = ok && setpgid(0, me) == 0 && getpgrp() == me;
        xwrite_int(p[1], ok);
        if (read(q[0], &c, 1) != 1) _exit(2);
        _exit(0);
    }
    CHECK_EQ(getpgid(pid), me);
    /* A parent may move its child into a new group. */
    CHECK_OK(setpgid(pid, pid));
    CHECK_EQ(getpgid(pid), pid);
    CHECK_EQ(write(q[1], "x", 1), 1);
    CHECK_EQ(xread_int(p[0]), 1);
    CHECK_EQ(getpgid(pid), me);
    /* Negative pgid is invalid. */
    CHECK_ERR(setpgid(pid, -1), EINVAL);
    /* A group that does not exist in our session: EPERM. */
    pid_t dead = CHECK_OK(fork());
    if (dead == 0) _exit(0);
    st_wait(dead);
    CHECK_ERR(setpgid(pid, dead), EPERM);
    /* A process that is not us nor our child: ESRCH. */
    CHECK_ERR(setpgid(dead, dead), ESRCH);
    CHECK_ERR(setpgid(getppid(), getppid()), ESRCH);
    CHECK_EQ(write(q[1], "x", 1), 1);
    CHECK_EQ(exit_code(pid), 0);
}

TEST(setpgid_child_in_other_session_eperm) {
    int p[2], q[2];
    CHECK_OK(pipe(p));
    CHECK_OK(pipe(q));
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        xwrite_int(p[1], setsid());
        char c;
        if (read(q[0], &c, 1) != 1) _exit(2);
        _exit(0);
    }
    CHECK_EQ(xread_int(p[0]), pid);
    CHECK_ERR(setpgid(pid, getpgrp()), EPERM);
    CHECK_ERR(setpgid(pid, pid), EPERM);
    CHECK_EQ(write(q[1], "x", 1), 1);
    CHECK_EQ(exit_code(pid), 0);
}

TEST(getpgid_getsid_esrch) {
    pid_t dead = CHECK_OK(fork());
    if (dead == 0) _exit(0);
    st_wait(dead);
    CHECK_ERR(getpgid(dead), ESRCH);
    CHECK_ERR(getsid(dead), ESRCH);
    CHECK_EQ(getpgid(0), getpgrp());
    CHECK_EQ(getsid(0), getsid(getpid()));
}

static int atexit_fd = -1;
static void atexit_handler(void) {
    if (write(atexit_fd, "A", 1) != 1) _exit(98);
}

TEST(exit_flushes_and_runs_atexit_but_exit_does_not) {
    for (int use_exit = 0; use_exit <= 1; use_exit++) {
        int p[2];
        CHECK_OK(pipe(p));
        pid_t pid = CHECK_OK(fork());
        if (pid == 0) {
            close(p[0]);
            atexit_fd = p[1];
            atexit(atexit_handler);
            FILE *f = fdopen(dup(p[1]), "w");
            setvbuf(f, NULL, _IOFBF, 4096);
            fputs("buffered", f);
            if (use_exit) exit(4);
            _exit(4);
        }
        close(p[1]);
        char buf[64] = {0};
        ssize_t n = 0, r;
        while ((r = read(p[0], buf + n, sizeof buf - 1 - n)) > 0) n += r;
        close(p[0]);
        CHECK_EQ(exit_code(pid), 4);
        if (use_exit) {
            /* atexit handlers run before stdio is flushed. */
            CHECK_STR(buf, "Abuffered");
        } else {
            CHECK_EQ(n, 0);
        }
    }
}

static void *block_forever(void *arg) {
    (void)arg;
    for (;;) pause();
    return NULL;
}

TEST(exit_group_ends_all_threads) {
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        pthread_t t;
        if (pthread_create(&t, NULL, block_forever, NULL)) _exit(2);
        syscall(SYS_exit_group, 23);
        _exit(3);
    }
    CHECK_EQ(exit_code(pid), 23);
}

TEST(exit_status_truncated_to_8_bits) {
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) _exit(0x1234);
    CHECK_EQ(exit_code(pid), 0x34);
}

TEST(orphan_reparented_away_from_dead_parent) {
    int p[2], q[2], r[2];
    CHECK_OK(pipe(p));
    CHECK_OK(pipe(q));
    CHECK_OK(pipe(r));
    pid_t child = CHECK_OK(fork());
    if (child == 0) {
        pid_t gc = fork();
        if (gc < 0) _exit(2);
        if (gc == 0) {
            pid_t parent = getppid();
            if (write(r[1], "s", 1) != 1) _exit(2);
            char c;
            if (read(q[0], &c, 1) != 1) _exit(2);
            pid_t np = getppid();
            xwrite_int(p[1], parent);
            xwrite_int(p[1], np);
            _exit(0);
        }
        /* Exit only once the grandchild has looked at its parent. */
        char c;
        if (read(r[0], &c, 1) != 1) _exit(2);
        _exit(0);
    }
    CHECK_EQ(exit_code(child), 0);
    /* The child is reaped: the grandchild was reparented when it exited. */
    CHECK_EQ(write(q[1], "x", 1), 1);
    long before = xread_int(p[0]);
    long after = xread_int(p[0]);
    CHECK_EQ(before, child);
    CHECK(after != child);
    CHECK(after != getpid());
}

TEST(orphan_reparented_to_subreaper) {
    CHECK_OK(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0));
    int is = 0;
    CHECK_OK(prctl(PR_GET_CHILD_SUBREAPER, &is, 0, 0, 0));
    CHECK_EQ(is, 1);
    int p[2], q[2];
    CHECK_OK(pipe(p));
    CHECK_OK(pipe(q));
    pid_t child = CHECK_OK(fork());
    if (child == 0) {
        pid_t gc = fork();
        if (gc < 0) _exit(2);
        if (gc == 0) {
            char c;
            if (read(q[0], &c, 1) != 1) _exit(2);
            xwrite_int(p[1], getppid());
            _exit(9);
        }
        xwrite_int(p[1], gc);
        _exit(0);
    }
    long gc = xread_int(p[0]);
    CHECK_EQ(exit_code(child), 0);
    CHECK_EQ(write(q[1], "x", 1), 1);
    CHECK_EQ(xread_int(p[0]), getpid());
    /* As the new parent we can reap it. */
    CHECK_EQ(exit_code(gc), 9);
}
