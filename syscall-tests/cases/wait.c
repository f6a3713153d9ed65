/* wait4, waitpid and waitid: status encodings, options, siginfo, rusage. */
#define AREA "wait"
#define ST_HARNESS_MAIN
#include "harness.h"

#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>

/* A child that blocks reading a pipe until the parent writes or closes;
 * then it exits with `code`. Returns its pid; *wfd is the write end. */
static pid_t blocked_child(int code, int *wfd) {
    int p[2];
    CHECK_OK(pipe(p));
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        close(p[1]);
        char c;
        ssize_t n = read(p[0], &c, 1);
        (void)n;
        _exit(code);
    }
    close(p[0]);
    *wfd = p[1];
    return pid;
}

static pid_t exiting_child(int code) {
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) _exit(code);
    return pid;
}

/* Wait until the child is a zombie without reaping it. */
static void wait_zombie(pid_t pid) {
    siginfo_t si;
    memset(&si, 0, sizeof si);
    CHECK_OK(waitid(P_PID, pid, &si, WEXITED | WNOWAIT));
    CHECK_EQ(si.si_pid, pid);
}

TEST(exit_status_all_codes) {
    for (int code = 0; code < 256; code++) {
        pid_t pid = exiting_child(code);
        int st = 0;
        CHECK_EQ(wait4(pid, &st, 0, NULL), pid);
        CHECK(WIFEXITED(st));
        CHECK(!WIFSIGNALED(st));
        CHECK(!WIFSTOPPED(st));
        CHECK_EQ(WEXITSTATUS(st), code);
        CHECK_EQ(st, code << 8);
    }
}

TEST(signaled_status) {
    int sigs[] = {SIGKILL, SIGTERM, SIGUSR1, SIGHUP, SIGINT, SIGALRM};
    for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        int w;
        pid_t pid = blocked_child(0, &w);
        CHECK_OK(kill(pid, sigs[i]));
        int st = 0;
        CHECK_EQ(wait4(pid, &st, 0, NULL), pid);
        CHECK(WIFSIGNALED(st));
        CHECK(!WIFEXITED(st));
        CHECK_EQ(WTERMSIG(st), sigs[i]);
        CHECK_EQ(st & 0x7f, sigs[i]);
        close(w);
    }
}

TEST(core_signal_status_termsig) {
    /* SIGABRT/SIGQUIT are core signals: the core bit (0x80) depends on
     * the core-dump setup, so only the signal number is checked. */
    int w;
    pid_t pid = blocked_child(0, &w);
    CHECK_OK(kill(pid, SIGQUIT));
    int st = 0;
    CHECK_EQ(wait4(pid, &st, 0, NULL), pid);
    CHECK(WIFSIGNALED(st));
    CHECK_EQ(WTERMSIG(st), SIGQUIT);
    close(w);
}

TEST(wnohang_returns_zero_while_running) {
    int w;
    pid_t pid = blocked_child(3, &w);
    int st = 12345;
    CHECK_EQ(waitpid(pid, &st, WNOHANG), 0);
    CHECK_EQ(waitpid(-1, &st, WNOHANG), 0);
    close(w);
    CHECK_EQ(waitpid(pid, &st, 0), pid);
    CHECK_EQ(WEXITSTATUS(st), 3);
    siginfo_t si;
    int w2;
    pid_t pid2 = blocked_child(0, &w2);
    memset(&si, 0x55, sizeof si);
    CHECK_EQ(waitid(P_PID, pid2, &si, WEXITED | WNOHANG), 0);
    /* No child ready: si_pid is zeroed. */
    CHECK_EQ(si.si_pid, 0);
    close(w2);
    st_wait(pid2);
}

TEST(echild_without_children) {
    CHECK_ERR(waitpid(-1, NULL, 0), ECHILD);
    CHECK_ERR(waitpid(-1, NULL, WNOHANG), ECHILD);
    CHECK_ERR(wait4(getppid(), NULL, 0, NULL), ECHILD);
    siginfo_t si;
    CHECK_ERR(waitid(P_ALL, 0, &si, WEXITED), ECHILD);
    pid_t pid = exiting_child(0);
    st_wait(pid);
    CHECK_ERR(waitpid(pid, NULL, 0), ECHILD);
}

TEST(einval_bad_options) {
    int w;
    pid_t pid = blocked_child(0, &w);
    CHECK_ERR(waitpid(pid, NULL, 0x40000000 >> 8), EINVAL);
    siginfo_t si;
    /* waitid needs at least one of WEXITED/WSTOPPED/WCONTINUED. */
    CHECK_ERR(waitid(P_PID, pid, &si, WNOHANG), EINVAL);
    CHECK_ERR(waitid((idtype_t)77, pid, &si, WEXITED), EINVAL);
    close(w);
    st_wait(pid);
}

TEST(waitpid_any_child) {
    pid_t a = exiting_child(11);
    pid_t b = exiting_child(12);
    int seen_a = 0, seen_b = 0;
    for (int i = 0; i < 2; i++) {
        int st = 0;
        pid_t r = CHECK_OK(waitpid(-1, &st, 0));
        CHECK(WIFEXITED(st));
        if (r == a) { CHECK_EQ(WEXITSTATUS(st), 11); seen_a++; }
        else if (r == b) { CHECK_EQ(WEXITSTATUS(st), 12); seen_b++; }
        else FAIL("unexpected pid %d", r);
    }
    CHECK(seen_a == 1 && seen_b == 1);
    CHECK_ERR(waitpid(-1, NULL, 0), ECHILD);
}

TEST(waitpid_by_process_group) {
    /* Child a in its own group; child b in ours. */
    int wa, wb;
    pid_t a = blocked_child(21, &wa);
    CHECK_OK(setpgid(a, a));
    pid_t b = blocked_child(22, &wb);
    close(wb);
    close(wa);
    int st = 0;
    /* Only a is in group a. */
    CHECK_EQ(waitpid(-a, &st, 0), a);
    CHECK_EQ(WEXITSTATUS(st), 21);
    /* 0 means our own group: b. */
    CHECK_EQ(waitpid(0, &st, 0), b);
    CHECK_EQ(WEXITSTATUS(st), 22);
    CHECK_ERR(waitpid(-a, &st, WNOHANG), ECHILD);
}

TEST(waitid_p_pid_exited_siginfo) {
    pid_t pid = exiting_child(42);
    siginfo_t si;
    memset(&si, 0, sizeof si);
    CHECK_EQ(waitid(P_PID, pid, &si, WEXITED), 0);
    CHECK_EQ(si.si_signo, SIGCHLD);
    CHECK_EQ(si.si_code, CLD_EXITED);
    CHECK_EQ(si.si_pid, pid);
    CHECK_EQ(si.si_status, 42);
    CHECK_EQ(si.si_uid, getuid());
    CHECK_ERR(waitid(P_PID, pid, &si, WEXITED), ECHILD);
}

TEST(waitid_killed_siginfo) {
    int w;
    pid_t pid = blocked_child(0, &w);
    CHECK_OK(kill(pid, SIGKILL));
    siginfo_t si;
    memset(&si, 0, sizeof si);
    CHECK_EQ(waitid(P_PID, pid, &si, WEXITED), 0);
    CHECK_EQ(si.si_signo, SIGCHLD);
    CHECK_EQ(si.si_code, CLD_KILLED);
    CHECK_EQ(si.si_pid, pid);
    CHECK_EQ(si.si_status, SIGKILL);
    close(w);
}

TEST(waitid_p_pgid_and_p_all) {
    int w;
    pid_t a = blocked_child(31, &w);
    CHECK_OK(setpgid(a, a));
    close(w);
    siginfo_t si;
    memset(&si, 0, sizeof si);
    CHECK_EQ(waitid(P_PGID, a, &si, WEXITED), 0);
    CHECK_EQ(si.si_pid, a);
    CHECK_EQ(si.si_status, 31);
    pid_t b = exiting_child(32);
    memset(&si, 0, sizeof si);
    CHECK_EQ(waitid(P_ALL, 0, &si, WEXITED), 0);
    CHECK_EQ(si.si_pid, b);
    CHECK_EQ(si.si_status, 32);
    CHECK_EQ(si.si_code, CLD_EXITED);
}

TEST(wnowait_leaves_zombie) {
    pid_t pid = exiting_child(7);
    siginfo_t si;
    memset(&si, 0, sizeof si);
    CHECK_EQ(waitid(P_PID, pid, &si, WEXITED | WNOWAIT), 0);
    CHECK_EQ(si.si_pid, pid);
    CHECK_EQ(si.si_status, 7);
    /* Still there: a second look, then a real reap. */
    memset(&si, 0, sizeof si);
    CHECK_EQ(waitid(P_ALL, 0, &si, WEXITED | WNOWAIT), 0);
    CHECK_EQ(si.si_pid, pid);
    CHECK_EQ(kill(pid, 0), 0);
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    int fd = open(path, O_RDONLY);
    if (fd >= 0) {
        ssize_t n = read(fd, buf, sizeof buf - 1);
        CHECK(n > 0);
        buf[n] = 0;
        char *p = strrchr(buf, ')');
        CHECK(p != NULL);
        CHECK_EQ(p[2], 'Z');
        close(fd);
    }
    int st = 0;
    CHECK_EQ(waitpid(pid, &st, 0), pid);
    CHECK_EQ(WEXITSTATUS(st), 7);
    CHECK_ERR(kill(pid, 0), ESRCH);
}

TEST(wuntraced_reports_stop_then_continue) {
    int w;
    pid_t pid = blocked_child(5, &w);
    CHECK_OK(kill(pid, SIGSTOP));
    int st = 0;
    CHECK_EQ(waitpid(pid, &st, WUNTRACED), pid);
    CHECK(WIFSTOPPED(st));
    CHECK_EQ(WSTOPSIG(st), SIGSTOP);
    CHECK_EQ(st, (SIGSTOP << 8) | 0x7f);
    /* A stop is reported once. */
    CHECK_EQ(waitpid(pid, &st, WUNTRACED | WNOHANG), 0);
    CHECK_OK(kill(pid, SIGCONT));
    CHECK_EQ(waitpid(pid, &st, WCONTINUED), pid);
    CHECK(WIFCONTINUED(st));
    CHECK_EQ(st, 0xffff);
    CHECK_EQ(waitpid(pid, &st, WCONTINUED | WNOHANG), 0);
    close(w);
    CHECK_EQ(waitpid(pid, &st, 0), pid);
    CHECK(WIFEXITED(st));
    CHECK_EQ(WEXITSTATUS(st), 5);
}

TEST(stop_not_reported_without_wuntraced) {
    int w;
    pid_t pid = blocked_child(6, &w);
    CHECK_OK(kill(pid, SIGSTOP));
    /* Make sure it is stopped before testing. */
    siginfo_t si;
    memset(&si, 0, sizeof si);
    CHECK_EQ(waitid(P_PID, pid, &si, WSTOPPED | WNOWAIT), 0);
    int st = 0;
    CHECK_EQ(waitpid(pid, &st, WNOHANG), 0);
    CHECK_OK(kill(pid, SIGCONT));
    close(w);
    CHECK_EQ(waitpid(pid, &st, 0), pid);
    CHECK(WIFEXITED(st));
    CHECK_EQ(WEXITSTATUS(st), 6);
}

TEST(waitid_stopped_and_continued_siginfo) {
    int w;
    pid_t pid = blocked_child(0, &w);
    CHECK_OK(kill(pid, SIGTSTP));
    siginfo_t si;
    memset(&si, 0, sizeof si);
    CHECK_EQ(waitid(P_PID, pid, &si, WSTOPPED), 0);
    CHECK_EQ(si.si_signo, SIGCHLD);
    CHECK_EQ(si.si_code, CLD_STOPPED);
    CHECK_EQ(si.si_status, SIGTSTP);
    CHECK_EQ(si.si_pid, pid);
    CHECK_OK(kill(pid, SIGCONT));
    memset(&si, 0, sizeof si);
    CHECK_EQ(waitid(P_PID, pid, &si, WCONTINUED), 0);
    CHECK_EQ(si.si_signo, SIGCHLD);
    CHECK_EQ(si.si_code, CLD_CONTINUED);
    CHECK_EQ(si.si_status, SIGCONT);
    CHECK_EQ(si.si_pid, pid);
    close(w);
    memset(&si, 0, sizeof si);
    CHECK_EQ(waitid(P_PID, pid, &si, WEXITED), 0);
    CHECK_EQ(si.si_code, CLD_EXITED);
}

TEST(wait4_rusage_filled) {
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        /* Burn a little CPU so utime+stime can be non-zero; not asserted. */
        volatile unsigned long x = 0;
        for (unsigned long i = 0; i < 20000000UL; i++) x += i;
        _exit(0);
    }
    struct rusage ru;
    memset(&ru, 0xff, sizeof ru);
    int st = 0;
    CHECK_EQ(wait4(pid, &st, 0, &ru), pid);
    CHECK(WIFEXITED(st));
    CHECK(ru.ru_utime.tv_sec >= 0 && ru.ru_utime.tv_usec >= 0 && ru.ru_utime.tv_usec < 1000000);
    CHECK(ru.ru_stime.tv_sec >= 0 && ru.ru_stime.tv_usec >= 0 && ru.ru_stime.tv_usec < 1000000);
    CHECK(ru.ru_maxrss > 0);
    /* The reaped child's times are added to RUSAGE_CHILDREN. */
    struct rusage rc;
    CHECK_OK(getrusage(RUSAGE_CHILDREN, &rc));
    CHECK(rc.ru_maxrss > 0);
}

TEST(waitid_wnowait_then_wait4_same_child) {
    int w;
    pid_t pid = blocked_child(9, &w);
    close(w);
    wait_zombie(pid);
    int st = 0;
    CHECK_EQ(wait4(-1, &st, WNOHANG, NULL), pid);
    CHECK_EQ(WEXITSTATUS(st), 9);
}

static volatile sig_atomic_t usr1_count;
static void wait_usr1_handler(int sig) { (void)sig; usr1_count++; }

TEST(wait_interrupted_by_signal_eintr) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = wait_usr1_handler; /* no SA_RESTART */
    CHECK_OK(sigaction(SIGUSR1, &sa, NULL));
    int w;
    pid_t pid = blocked_child(0, &w);
    /* A second child keeps sending SIGUSR1 until told to stop, so one
     * arrives while we block in waitpid for the first. */
    int stop[2];
    CHECK_OK(pipe2(stop, O_NONBLOCK));
    pid_t me = getpid();
    pid_t k = CHECK_OK(fork());
    if (k == 0) {
        char c;
        while (read(stop[0], &c, 1) != 1) {
            kill(me, SIGUSR1);
            sched_yield();
        }
        _exit(0);
    }
    int st;
    errno = 0;
    CHECK_EQ(waitpid(pid, &st, 0), -1);
    CHECK_EQ(errno, EINTR);
    CHECK(usr1_count > 0);
    CHECK_EQ(write(stop[1], "s", 1), 1);
    st_wait(k);
    close(w);
    CHECK_EQ(st_wait(pid), 0);
}
