/* Signals: default actions, sigaction flags, siginfo, masks, queueing,
 * kill/tgkill/sigqueue, sigaltstack, synchronous faults, ucontext. */
#define AREA "signals"
#define ST_HARNESS_MAIN
#include "harness.h"

#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <ucontext.h>

static volatile sig_atomic_t hits;
static volatile sig_atomic_t last_sig;
static siginfo_t last_info;
static volatile int order[16];
static volatile int norder;

static void plain_handler(int sig) {
    hits++;
    last_sig = sig;
    if (norder < 16) order[norder++] = sig;
}

static void info_handler(int sig, siginfo_t *si, void *uc) {
    (void)uc;
    hits++;
    last_sig = sig;
    last_info = *si;
    if (norder < 16) order[norder++] = si->si_value.sival_int;
}

static void set_handler(int sig, void (*h)(int), int flags) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = h;
    sa.sa_flags = flags;
    CHECK_OK(sigaction(sig, &sa, NULL));
}

static void set_info_handler(int sig, void (*h)(int, siginfo_t *, void *), int flags) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = h;
    sa.sa_flags = flags | SA_SIGINFO;
    CHECK_OK(sigaction(sig, &sa, NULL));
}

static void block(int sig) {
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, sig);
    CHECK_OK(sigprocmask(SIG_BLOCK, &s, NULL));
}

static void unblock(int sig) {
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, sig);
    CHECK_OK(sigprocmask(SIG_UNBLOCK, &s, NULL));
}

static int is_blocked(int sig) {
    sigset_t s;
    sigprocmask(SIG_BLOCK, NULL, &s);
    return sigismember(&s, sig);
}

static int is_pending(int sig) {
    sigset_t s;
    sigpending(&s);
    return sigismember(&s, sig);
}

/* A child blocked on a pipe read; *w is the write end (close to end it). */
static pid_t blocked_child(int *w) {
    int p[2];
    CHECK_OK(pipe(p));
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        close(p[1]);
        char c;
        ssize_t n = read(p[0], &c, 1);
        (void)n;
        _exit(0);
    }
    close(p[0]);
    *w = p[1];
    return pid;
}

static int term_sig_of(pid_t pid) {
    int st = st_wait(pid);
    if (!WIFSIGNALED(st)) FAIL("child not killed by a signal: status 0x%x", st);
    return WTERMSIG(st);
}

/* ---- default actions ---- */

TEST(default_sigterm_terminates) {
    int w;
    pid_t pid = blocked_child(&w);
    CHECK_OK(kill(pid, SIGTERM));
    CHECK_EQ(term_sig_of(pid), SIGTERM);
    close(w);
}

TEST(default_sigsegv_and_sigquit_kill) {
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        *(volatile int *)8 = 1;
        _exit(0);
    }
    CHECK_EQ(term_sig_of(pid), SIGSEGV);
    pid = CHECK_OK(fork());
    if (pid == 0) {
        raise(SIGQUIT);
        _exit(0);
    }
    CHECK_EQ(term_sig_of(pid), SIGQUIT);
    pid = CHECK_OK(fork());
    if (pid == 0) {
        abort();
    }
    CHECK_EQ(term_sig_of(pid), SIGABRT);
}

TEST(default_ignored_signals) {
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        raise(SIGCHLD);
        raise(SIGURG);
        raise(SIGWINCH);
        kill(getpid(), SIGCHLD);
        _exit(17);
    }
    int st = st_wait(pid);
    CHECK(WIFEXITED(st));
    CHECK_EQ(WEXITSTATUS(st), 17);
}

TEST(default_sigstop_and_sigcont) {
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        raise(SIGSTOP);
        _exit(33); /* reached only after SIGCONT */
    }
    int st = 0;
    CHECK_EQ(waitpid(pid, &st, WUNTRACED), pid);
    CHECK(WIFSTOPPED(st));
    CHECK_EQ(WSTOPSIG(st), SIGSTOP);
    CHECK_OK(kill(pid, SIGCONT));
    st = st_wait(pid);
    CHECK(WIFEXITED(st));
    CHECK_EQ(WEXITSTATUS(st), 33);
}

TEST(sigkill_sigstop_cannot_be_caught) {
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = plain_handler;
    CHECK_ERR(sigaction(SIGKILL, &sa, NULL), EINVAL);
    CHECK_ERR(sigaction(SIGSTOP, &sa, NULL), EINVAL);
    sa.sa_handler = SIG_IGN;
    CHECK_ERR(sigaction(SIGKILL, &sa, NULL), EINVAL);
    CHECK_ERR(sigaction(SIGSTOP, &sa, NULL), EINVAL);
    /* Querying is allowed. */
    CHECK_OK(sigaction(SIGKILL, NULL, &old));
    CHECK(old.sa_handler == SIG_DFL);
    CHECK_ERR(sigaction(0, &sa, NULL), EINVAL);
    CHECK_ERR(sigaction(65, &sa, NULL), EINVAL);
    /* Blocking them is silently ignored. */
    sigset_t s;
    sigfillset(&s);
    CHECK_OK(sigprocmask(SIG_SETMASK, &s, NULL));
    CHECK_OK(sigprocmask(SIG_SETMASK, NULL, &s));
    CHECK(!sigismember(&s, SIGKILL));
    CHECK(!sigismember(&s, SIGSTOP));
    CHECK(sigismember(&s, SIGUSR1));
}

/* ---- handlers and sigaction flags ---- */

TEST(handler_runs_and_old_action_returned) {
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = plain_handler;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGUSR2);
    CHECK_OK(sigaction(SIGUSR1, &sa, &old));
    CHECK(old.sa_handler == SIG_DFL);
    CHECK_OK(raise(SIGUSR1));
    CHECK_EQ(hits, 1);
    CHECK_EQ(last_sig, SIGUSR1);
    memset(&old, 0, sizeof old);
    CHECK_OK(sigaction(SIGUSR1, NULL, &old));
    CHECK(old.sa_handler == plain_handler);
    CHECK(old.sa_flags & SA_RESTART);
    CHECK(sigismember(&old.sa_mask, SIGUSR2));
    CHECK(!sigismember(&old.sa_mask, SIGINT));
}

TEST(siginfo_si_user_from_kill) {
    set_info_handler(SIGUSR1, info_handler, 0);
    CHECK_OK(kill(getpid(), SIGUSR1));
    CHECK_EQ(hits, 1);
    CHECK_EQ(last_info.si_signo, SIGUSR1);
    CHECK_EQ(last_info.si_code, SI_USER);
    CHECK_EQ(last_info.si_pid, getpid());
    CHECK_EQ(last_info.si_uid, getuid());
}

TEST(siginfo_from_other_process) {
    set_info_handler(SIGUSR1, info_handler, 0);
    block(SIGUSR1);
    pid_t me = getpid();
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) _exit(kill(me, SIGUSR1) == 0 ? 0 : 1);
    CHECK_EQ(st_wait(pid), 0);
    CHECK(is_pending(SIGUSR1));
    unblock(SIGUSR1);
    CHECK_EQ(hits, 1);
    CHECK_EQ(last_info.si_code, SI_USER);
    CHECK_EQ(last_info.si_pid, pid);
}

TEST(siginfo_si_tkill_from_tgkill_and_raise) {
    set_info_handler(SIGUSR2, info_handler, 0);
    CHECK_OK(syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), SIGUSR2));
    CHECK_EQ(hits, 1);
    CHECK_EQ(last_info.si_code, SI_TKILL);
    CHECK_EQ(last_info.si_pid, getpid());
    CHECK_OK(syscall(SYS_tkill, syscall(SYS_gettid), SIGUSR2));
    CHECK_EQ(hits, 2);
    CHECK_EQ(last_info.si_code, SI_TKILL);
    CHECK_OK(raise(SIGUSR2));
    CHECK_EQ(hits, 3);
    CHECK_EQ(last_info.si_code, SI_TKILL);
}

TEST(siginfo_si_queue_value) {
    set_info_handler(SIGUSR1, info_handler, 0);
    union sigval v;
    v.sival_int = 0x1234567;
    CHECK_OK(sigqueue(getpid(), SIGUSR1, v));
    CHECK_EQ(hits, 1);
    CHECK_EQ(last_info.si_signo, SIGUSR1);
    CHECK_EQ(last_info.si_code, SI_QUEUE);
    CHECK_EQ(last_info.si_pid, getpid());
    CHECK_EQ(last_info.si_value.sival_int, 0x1234567);
    v.sival_ptr = (void *)0xdeadbeefcafeUL;
    CHECK_OK(sigqueue(getpid(), SIGUSR1, v));
    CHECK_EQ(hits, 2);
    CHECK(last_info.si_value.sival_ptr == (void *)0xdeadbeefcafeUL);
}

TEST(rt_sigqueueinfo_spoofing_rules) {
    set_info_handler(SIGUSR1, info_handler, 0);
    int w;
    pid_t pid = blocked_child(&w);
    siginfo_t si;
    memset(&si, 0, sizeof si);
    si.si_signo = SIGUSR1;
    si.si_code = SI_USER; /* >= 0: only allowed to ourselves */
    si.si_pid = getpid();
    si.si_uid = getuid();
    CHECK_ERR(syscall(SYS_rt_sigqueueinfo, pid, SIGUSR1, &si), EPERM);
    si.si_code = SI_TKILL;
    CHECK_ERR(syscall(SYS_rt_sigqueueinfo, pid, SIGUSR1, &si), EPERM);
    si.si_code = SI_QUEUE;
    si.si_value.sival_int = 99;
    CHECK_OK(syscall(SYS_rt_sigqueueinfo, getpid(), SIGUSR1, &si));
    CHECK_EQ(hits, 1);
    CHECK_EQ(last_info.si_code, SI_QUEUE);
    CHECK_EQ(last_info.si_value.sival_int, 99);
    close(w);
    st_wait(pid);
}

TEST(sa_resethand_restores_default) {
    set_handler(SIGUSR1, plain_handler, SA_RESETHAND);
    CHECK_OK(raise(SIGUSR1));
    CHECK_EQ(hits, 1);
    struct sigaction old;
    CHECK_OK(sigaction(SIGUSR1, NULL, &old));
    CHECK(old.sa_handler == SIG_DFL);
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        raise(SIGUSR1);
        _exit(0);
    }
    CHECK_EQ(term_sig_of(pid), SIGUSR1);
}

static volatile int blocked_in_handler[3];
static void mask_probe_handler(int sig) {
    (void)sig;
    blocked_in_handler[0] = is_blocked(SIGUSR1);
    blocked_in_handler[1] = is_blocked(SIGUSR2);
    blocked_in_handler[2] = is_blocked(SIGINT);
    hits++;
}

TEST(handler_blocks_own_signal_unless_nodefer) {
    set_handler(SIGUSR1, mask_probe_handler, 0);
    CHECK_OK(raise(SIGUSR1));
    CHECK_EQ(hits, 1);
    CHECK_EQ(blocked_in_handler[0], 1);
    CHECK_EQ(blocked_in_handler[1], 0);
    CHECK_EQ(is_blocked(SIGUSR1), 0);
    set_handler(SIGUSR1, mask_probe_handler, SA_NODEFER);
    CHECK_OK(raise(SIGUSR1));
    CHECK_EQ(hits, 2);
    CHECK_EQ(blocked_in_handler[0], 0);
}

TEST(sa_mask_blocked_during_handler_and_restored) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = mask_probe_handler;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGUSR2);
    sigaddset(&sa.sa_mask, SIGINT);
    CHECK_OK(sigaction(SIGUSR1, &sa, NULL));
    CHECK_OK(raise(SIGUSR1));
    CHECK_EQ(hits, 1);
    CHECK_EQ(blocked_in_handler[0], 1);
    CHECK_EQ(blocked_in_handler[1], 1);
    CHECK_EQ(blocked_in_handler[2], 1);
    CHECK_EQ(is_blocked(SIGUSR1), 0);
    CHECK_EQ(is_blocked(SIGUSR2), 0);
    CHECK_EQ(is_blocked(SIGINT), 0);
}

static void mask_changing_handler(int sig) {
    (void)sig;
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR2);
    sigprocmask(SIG_BLOCK, &s, NULL);
    hits++;
}

TEST(mask_restored_after_handler_changes_it) {
    set_handler(SIGUSR1, mask_changing_handler, 0);
    CHECK_OK(raise(SIGUSR1));
    CHECK_EQ(hits, 1);
    /* sigreturn restored the pre-handler mask. */
    CHECK_EQ(is_blocked(SIGUSR2), 0);
}

static void nest_handler(int sig) {
    if (norder < 16) order[norder++] = sig;
    if (sig == SIGUSR1 && norder == 1) {
        raise(SIGUSR2); /* not blocked: runs nested, now */
        raise(SIGUSR1); /* blocked while we run: after we return */
    }
    if (norder < 16) order[norder++] = -sig;
}

TEST(raise_from_handler_nested_and_deferred) {
    set_handler(SIGUSR1, nest_handler, 0);
    set_handler(SIGUSR2, nest_handler, 0);
    CHECK_OK(raise(SIGUSR1));
    CHECK_EQ(norder, 6);
    CHECK_EQ(order[0], SIGUSR1);
    CHECK_EQ(order[1], SIGUSR2);
    CHECK_EQ(order[2], -SIGUSR2);
    CHECK_EQ(order[3], -SIGUSR1);
    CHECK_EQ(order[4], SIGUSR1);
    CHECK_EQ(order[5], -SIGUSR1);
}

/* ---- SA_RESTART ---- */

static volatile sig_atomic_t *shared_count;
static volatile sig_atomic_t in_read;
static void count_alarm(int sig) {
    (void)sig;
    if (in_read) (*shared_count)++;
}

static void start_itimer(long usec) {
    struct itimerval it = {{0, usec}, {0, usec}};
    CHECK_OK(setitimer(ITIMER_REAL, &it, NULL));
}

static void stop_itimer(void) {
    struct itimerval it;
    memset(&it, 0, sizeof it);
    CHECK_OK(setitimer(ITIMER_REAL, &it, NULL));
}

TEST(read_without_sa_restart_eintr) {
    shared_count = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(shared_count != MAP_FAILED);
    set_handler(SIGALRM, count_alarm, 0);
    int p[2];
    CHECK_OK(pipe(p));
    char c;
    in_read = 1;
    start_itimer(2000);
    CHECK_ERR(read(p[0], &c, 1), EINTR);
    stop_itimer();
    CHECK(*shared_count >= 1);
}

TEST(read_with_sa_restart_restarts) {
    shared_count = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(shared_count != MAP_FAILED);
    set_handler(SIGALRM, count_alarm, SA_RESTART);
    int p[2];
    CHECK_OK(pipe(p));
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        /* Write only after the parent handled several timer signals while
         * blocked in read. */
        while (*shared_count < 5) sched_yield();
        _exit(write(p[1], "k", 1) == 1 ? 0 : 1);
    }
    char c = 0;
    in_read = 1;
    start_itimer(1000);
    ssize_t n = read(p[0], &c, 1);
    in_read = 0;
    stop_itimer();
    CHECK_EQ(n, 1);
    CHECK_EQ(c, 'k');
    CHECK(*shared_count >= 5);
    CHECK_EQ(st_wait(pid), 0);
}

/* ---- masks, pending, suspend, wait ---- */

TEST(block_pending_unblock_delivers) {
    set_handler(SIGUSR1, plain_handler, 0);
    block(SIGUSR1);
    CHECK_OK(raise(SIGUSR1));
    CHECK_EQ(hits, 0);
    CHECK(is_pending(SIGUSR1));
    CHECK(!is_pending(SIGUSR2));
    unblock(SIGUSR1); /* delivered before sigprocmask returns */
    CHECK_EQ(hits, 1);
    CHECK(!is_pending(SIGUSR1));
}

TEST(sigprocmask_how_and_einval) {
    sigset_t s, old, cur;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR1);
    CHECK_OK(sigprocmask(SIG_SETMASK, &s, &old));
    sigemptyset(&s);
    sigaddset(&s, SIGUSR2);
    CHECK_OK(sigprocmask(SIG_BLOCK, &s, &old));
    CHECK(sigismember(&old, SIGUSR1));
    CHECK(!sigismember(&old, SIGUSR2));
    CHECK_OK(sigprocmask(SIG_BLOCK, NULL, &cur));
    CHECK(sigismember(&cur, SIGUSR1) && sigismember(&cur, SIGUSR2));
    sigemptyset(&s);
    sigaddset(&s, SIGUSR1);
    CHECK_OK(sigprocmask(SIG_UNBLOCK, &s, NULL));
    CHECK_OK(sigprocmask(SIG_BLOCK, NULL, &cur));
    CHECK(!sigismember(&cur, SIGUSR1) && sigismember(&cur, SIGUSR2));
    CHECK_ERR(syscall(SYS_rt_sigprocmask, 7, &s, NULL, 8), EINVAL);
    CHECK_ERR(syscall(SYS_rt_sigprocmask, SIG_BLOCK, &s, NULL, 4), EINVAL);
}

TEST(ignoring_pending_signal_discards_it) {
    block(SIGUSR1);
    CHECK_OK(raise(SIGUSR1));
    CHECK(is_pending(SIGUSR1));
    set_handler(SIGUSR1, SIG_IGN, 0);
    CHECK(!is_pending(SIGUSR1));
    /* Blocked-and-ignored signals are still queued (the disposition may
     * change before unblocking). */
    CHECK_OK(raise(SIGUSR1));
    CHECK(is_pending(SIGUSR1));
}

TEST(sigsuspend_waits_and_restores_mask) {
    set_handler(SIGUSR1, plain_handler, 0);
    block(SIGUSR1);
    pid_t me = getpid();
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) _exit(kill(me, SIGUSR1) == 0 ? 0 : 1);
    sigset_t empty;
    sigemptyset(&empty);
    CHECK_ERR(sigsuspend(&empty), EINTR);
    CHECK_EQ(hits, 1);
    CHECK_EQ(is_blocked(SIGUSR1), 1);
    CHECK_EQ(st_wait(pid), 0);
}

TEST(rt_signals_queued_in_order_standard_coalesced) {
    int rt = SIGRTMIN + 1;
    set_info_handler(rt, info_handler, 0);
    block(rt);
    for (int i = 1; i <= 3; i++) {
        union sigval v;
        v.sival_int = i;
        CHECK_OK(sigqueue(getpid(), rt, v));
    }
    unblock(rt);
    CHECK_EQ(hits, 3);
    CHECK_EQ(order[0], 1);
    CHECK_EQ(order[1], 2);
    CHECK_EQ(order[2], 3);
    /* A standard signal is pending at most once. */
    hits = 0;
    set_handler(SIGUSR1, plain_handler, 0);
    block(SIGUSR1);
    for (int i = 0; i < 3; i++) CHECK_OK(kill(getpid(), SIGUSR1));
    unblock(SIGUSR1);
    CHECK_EQ(hits, 1);
}

TEST(pending_delivered_lowest_number_first) {
    /* Each handler blocks everything, so handlers do not nest and run in
     * the order the kernel picks the pending signals. */
    int sigs[] = {SIGRTMIN + 3, SIGRTMIN, SIGUSR2, SIGUSR1};
    sigset_t s;
    sigemptyset(&s);
    for (int i = 0; i < 4; i++) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = plain_handler;
        sigfillset(&sa.sa_mask);
        CHECK_OK(sigaction(sigs[i], &sa, NULL));
        sigaddset(&s, sigs[i]);
    }
    CHECK_OK(sigprocmask(SIG_BLOCK, &s, NULL));
    for (int i = 0; i < 4; i++) CHECK_OK(raise(sigs[i]));
    CHECK_OK(sigprocmask(SIG_UNBLOCK, &s, NULL));
    CHECK_EQ(norder, 4);
    CHECK_EQ(order[0], SIGUSR1);
    CHECK_EQ(order[1], SIGUSR2);
    CHECK_EQ(order[2], SIGRTMIN);
    CHECK_EQ(order[3], SIGRTMIN + 3);
}

TEST(sigtimedwait_timeout_and_dequeue) {
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR1);
    block(SIGUSR1);
    struct timespec ts = {0, 20 * 1000 * 1000}, t0, t1;
    siginfo_t si;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CHECK_ERR(sigtimedwait(&s, &si, &ts), EAGAIN);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    CHECK(ms >= 19);
    ts.tv_nsec = 0;
    CHECK_ERR(sigtimedwait(&s, &si, &ts), EAGAIN);
    union sigval v;
    v.sival_int = 5;
    CHECK_OK(sigqueue(getpid(), SIGUSR1, v));
    memset(&si, 0, sizeof si);
    CHECK_EQ(sigtimedwait(&s, &si, &ts), SIGUSR1);
    CHECK_EQ(si.si_signo, SIGUSR1);
    CHECK_EQ(si.si_code, SI_QUEUE);
    CHECK_EQ(si.si_value.sival_int, 5);
    CHECK(!is_pending(SIGUSR1));
    ts.tv_nsec = 1000000000;
    CHECK_ERR(sigtimedwait(&s, &si, &ts), EINVAL);
}

TEST(sigwaitinfo_takes_signal_instead_of_handler) {
    set_handler(SIGUSR2, plain_handler, 0);
    block(SIGUSR2);
    CHECK_OK(kill(getpid(), SIGUSR2));
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR2);
    siginfo_t si;
    CHECK_EQ(sigwaitinfo(&s, &si), SIGUSR2);
    CHECK_EQ(si.si_code, SI_USER);
    unblock(SIGUSR2);
    CHECK_EQ(hits, 0);
}

/* ---- kill ---- */

TEST(kill_sig0_probes_existence) {
    CHECK_OK(kill(getpid(), 0));
    CHECK_OK(kill(0, 0));
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) _exit(0);
    st_wait(pid);
    CHECK_ERR(kill(pid, 0), ESRCH);
    CHECK_ERR(kill(-pid, 0), ESRCH);
    CHECK_ERR(kill(getpid(), 65), EINVAL);
    CHECK_ERR(kill(getpid(), -1), EINVAL);
}

TEST(kill_other_uid_eperm) {
    if (getuid() != 0) SKIP("needs uid 0 to switch to another uid");
    pid_t me = getpid();
    int w;
    pid_t other = blocked_child(&w); /* stays root */
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        if (setresgid(65534, 65534, 65534) < 0 || setresuid(65534, 65534, 65534) < 0) _exit(10);
        if (kill(me, SIGUSR1) != -1 || errno != EPERM) _exit(11);
        if (kill(other, 0) != -1 || errno != EPERM) _exit(12);
        if (kill(getpid(), 0) != 0) _exit(13);
        _exit(0);
    }
    int st = st_wait(pid);
    CHECK(WIFEXITED(st));
    if (WEXITSTATUS(st) == 10) SKIP("cannot switch to uid/gid 65534 (not mapped in this user namespace?)");
    CHECK_EQ(WEXITSTATUS(st), 0);
    close(w);
    st_wait(other);
}

TEST(kill_zero_signals_own_group) {
    int w;
    pid_t child = blocked_child(&w); /* in our process group, default action */
    set_handler(SIGUSR1, plain_handler, 0);
    CHECK_OK(kill(0, SIGUSR1));
    CHECK_EQ(hits, 1);
    CHECK_EQ(term_sig_of(child), SIGUSR1);
    close(w);
}

TEST(kill_negative_pgrp_signals_group_only) {
    int w1, w2, w3;
    pid_t a = blocked_child(&w1);
    CHECK_OK(setpgid(a, a));
    pid_t b = blocked_child(&w2);
    CHECK_OK(setpgid(b, a));
    pid_t c = blocked_child(&w3); /* stays in our group */
    set_handler(SIGTERM, plain_handler, 0);
    CHECK_OK(kill(-a, SIGTERM));
    CHECK_EQ(term_sig_of(a), SIGTERM);
    CHECK_EQ(term_sig_of(b), SIGTERM);
    CHECK_EQ(hits, 0);
    int st;
    CHECK_EQ(waitpid(c, &st, WNOHANG), 0);
    close(w3);
    CHECK_EQ(st_wait(c), 0);
    close(w1);
    close(w2);
}

/* ---- tgkill ---- */

static volatile pid_t handler_tid;
static void tid_handler(int sig) {
    (void)sig;
    handler_tid = syscall(SYS_gettid);
    hits++;
}

struct thr {
    pid_t tid;
    int ready[2];
    int done[2];
};

static void *thr_main(void *a) {
    struct thr *t = a;
    t->tid = syscall(SYS_gettid);
    if (write(t->ready[1], "r", 1) != 1) return NULL;
    char c;
    while (read(t->done[0], &c, 1) < 0 && errno == EINTR) {}
    return NULL;
}

TEST(tgkill_targets_thread) {
    set_handler(SIGUSR1, tid_handler, SA_RESTART);
    struct thr t;
    CHECK_OK(pipe(t.ready));
    CHECK_OK(pipe(t.done));
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, thr_main, &t), 0);
    char c;
    CHECK_EQ(read(t.ready[0], &c, 1), 1);
    CHECK(t.tid != getpid());
    /* Block in the main thread so the handler must run on the target. */
    block(SIGUSR1);
    CHECK_OK(syscall(SYS_tgkill, getpid(), t.tid, SIGUSR1));
    /* Wait for the handler to run: poll with sigtimedwait is not usable
     * (it would take the signal from our own queue only); spin briefly. */
    while (hits == 0) sched_yield();
    CHECK_EQ(handler_tid, t.tid);
    CHECK_ERR(syscall(SYS_tgkill, getpid() + 0x3fffff0, t.tid, SIGUSR1), ESRCH);
    CHECK_ERR(syscall(SYS_tgkill, getpid(), t.tid, 99), EINVAL);
    CHECK_ERR(syscall(SYS_tgkill, getpid(), 0, SIGUSR1), EINVAL);
    CHECK_EQ(write(t.done[1], "d", 1), 1);
    CHECK_EQ(pthread_join(th, NULL), 0);
    /* The thread is gone. Linux wakes the joiner (CLONE_CHILD_CLEARTID)
     * just before the exiting thread releases its tid, so the tid may
     * linger for a moment: wait until it does, boundedly. */
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        errno = 0;
        long r = syscall(SYS_tgkill, getpid(), t.tid, 0);
        if (r == -1 && errno == ESRCH) break;
        CHECK_EQ(r, 0);
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - t0.tv_sec > 5) FAIL("tid %d still exists 5s after pthread_join", t.tid);
        sched_yield();
    }
}

/* ---- sigaltstack ---- */

static char *alt_base;
static size_t alt_size;
static volatile int on_alt, ss_onstack_seen, eperm_seen;
static void alt_handler(int sig) {
    (void)sig;
    volatile char local;
    on_alt = (char *)&local >= alt_base && (char *)&local < alt_base + alt_size;
    stack_t cur;
    if (sigaltstack(NULL, &cur) == 0) ss_onstack_seen = (cur.ss_flags & SS_ONSTACK) != 0;
    stack_t ns = {.ss_sp = alt_base, .ss_size = alt_size, .ss_flags = 0};
    eperm_seen = sigaltstack(&ns, NULL) == -1 && errno == EPERM;
    hits++;
}

TEST(sigaltstack_handler_runs_on_alt_stack) {
    alt_size = 64 * 1024;
    alt_base = malloc(alt_size);
    CHECK(alt_base != NULL);
    stack_t ss = {.ss_sp = alt_base, .ss_size = alt_size, .ss_flags = 0}, old;
    CHECK_OK(sigaltstack(&ss, &old));
    CHECK_EQ(old.ss_flags, SS_DISABLE);
    CHECK_OK(sigaltstack(NULL, &old));
    CHECK(old.ss_sp == alt_base);
    CHECK_EQ(old.ss_size, alt_size);
    CHECK_EQ(old.ss_flags, 0);
    set_handler(SIGUSR1, alt_handler, SA_ONSTACK);
    CHECK_OK(raise(SIGUSR1));
    CHECK_EQ(hits, 1);
    CHECK_EQ(on_alt, 1);
    CHECK_EQ(ss_onstack_seen, 1);
    CHECK_EQ(eperm_seen, 1);
    CHECK_OK(sigaltstack(NULL, &old));
    CHECK_EQ(old.ss_flags & SS_ONSTACK, 0);
    /* Without SA_ONSTACK the normal stack is used. */
    set_handler(SIGUSR1, alt_handler, 0);
    CHECK_OK(raise(SIGUSR1));
    CHECK_EQ(on_alt, 0);
}

TEST(sigaltstack_errors) {
    char *buf = malloc(65536);
    stack_t ss = {.ss_sp = buf, .ss_size = 1024, .ss_flags = 0};
    CHECK_ERR(sigaltstack(&ss, NULL), ENOMEM);
    ss.ss_size = 65536;
    ss.ss_flags = 0x1234;
    CHECK_ERR(sigaltstack(&ss, NULL), EINVAL);
    ss.ss_flags = SS_DISABLE;
    CHECK_OK(sigaltstack(&ss, NULL));
    stack_t old;
    CHECK_OK(sigaltstack(NULL, &old));
    CHECK_EQ(old.ss_flags, SS_DISABLE);
}

static sigjmp_buf jb;
static void *fault_addr;
static int fault_code;
static void segv_handler(int sig, siginfo_t *si, void *uc) {
    (void)uc;
    last_sig = sig;
    fault_addr = si->si_addr;
    fault_code = si->si_code;
    siglongjmp(jb, 1);
}

static volatile int depth_sink;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Winfinite-recursion"
static int recurse(int n) {
    volatile char pad[1024];
    pad[0] = (char)n;
    pad[1023] = (char)n;
    depth_sink = pad[0] + pad[1023];
    return recurse(n + 1) + pad[5];
}
#pragma GCC diagnostic pop

TEST(stack_overflow_caught_on_alt_stack) {
    stack_t ss = {.ss_sp = malloc(65536), .ss_size = 65536, .ss_flags = 0};
    CHECK(ss.ss_sp != NULL);
    CHECK_OK(sigaltstack(&ss, NULL));
    set_info_handler(SIGSEGV, segv_handler, SA_ONSTACK | SA_NODEFER);
    if (sigsetjmp(jb, 1) == 0) {
        recurse(0);
        FAIL("infinite recursion returned");
    }
    CHECK_EQ(last_sig, SIGSEGV);
}

TEST(sigsegv_si_addr_and_code) {
    set_info_handler(SIGSEGV, segv_handler, SA_NODEFER);
    if (sigsetjmp(jb, 1) == 0) {
        *(volatile int *)0x1000 = 1;
        FAIL("write to 0x1000 did not fault");
    }
    CHECK_EQ(last_sig, SIGSEGV);
    CHECK(fault_addr == (void *)0x1000);
    CHECK_EQ(fault_code, SEGV_MAPERR);
    char *page = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(page != MAP_FAILED);
    if (sigsetjmp(jb, 1) == 0) {
        page[100] = 1;
        FAIL("write to read-only page did not fault");
    }
    CHECK(fault_addr == page + 100);
    CHECK_EQ(fault_code, SEGV_ACCERR);
    /* siglongjmp restored the mask: SIGSEGV not left blocked. */
    CHECK_EQ(is_blocked(SIGSEGV), 0);
}

#ifdef __x86_64__
static volatile void *ill_addr;
static volatile int ill_code;
static void ill_handler(int sig, siginfo_t *si, void *ucv) {
    (void)sig;
    ucontext_t *uc = ucv;
    ill_addr = si->si_addr;
    ill_code = si->si_code;
    if ((void *)uc->uc_mcontext.gregs[REG_RIP] != si->si_addr) return; /* leaves hits 0 */
    uc->uc_mcontext.gregs[REG_RIP] += 2; /* skip the 2-byte ud2 */
    hits++;
}

static void mask_edit_handler(int sig, siginfo_t *si, void *ucv) {
    (void)sig;
    (void)si;
    ucontext_t *uc = ucv;
    sigaddset(&uc->uc_sigmask, SIGUSR2);
    hits++;
}
#endif

TEST(ucontext_rip_modified_skips_instruction) {
#ifdef __x86_64__
    set_info_handler(SIGILL, ill_handler, 0);
    asm volatile("ud2");
    CHECK_EQ(hits, 1);
    CHECK_EQ(ill_code, ILL_ILLOPN);
#else
    SKIP("x86-64 only");
#endif
}

TEST(ucontext_sigmask_modified_applies_after_return) {
#ifdef __x86_64__
    set_info_handler(SIGUSR1, mask_edit_handler, 0);
    CHECK_EQ(is_blocked(SIGUSR2), 0);
    CHECK_OK(raise(SIGUSR1));
    CHECK_EQ(hits, 1);
    CHECK_EQ(is_blocked(SIGUSR2), 1);
    CHECK_EQ(is_blocked(SIGUSR1), 0);
#else
    SKIP("x86-64 only");
#endif
}

/* ---- SIGCHLD ---- */

TEST(sigchld_on_child_exit_siginfo) {
    block(SIGCHLD);
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) _exit(3);
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGCHLD);
    siginfo_t si;
    CHECK_EQ(sigwaitinfo(&s, &si), SIGCHLD);
    CHECK_EQ(si.si_pid, pid);
    CHECK_EQ(si.si_code, CLD_EXITED);
    CHECK_EQ(si.si_status, 3);
    CHECK_EQ(si.si_uid, getuid());
    st_wait(pid);
}

TEST(sigchld_sig_ign_autoreaps) {
    set_handler(SIGCHLD, SIG_IGN, 0);
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) _exit(3);
    /* wait blocks until the child is gone, then reports no child. */
    CHECK_ERR(waitpid(pid, NULL, 0), ECHILD);
    CHECK_ERR(kill(pid, 0), ESRCH);
}

TEST(sa_nocldstop_suppresses_stop_sigchld) {
    for (int nocldstop = 0; nocldstop <= 1; nocldstop++) {
        set_handler(SIGCHLD, plain_handler, nocldstop ? SA_NOCLDSTOP : 0);
        block(SIGCHLD);
        sigset_t s;
        sigemptyset(&s);
        sigaddset(&s, SIGCHLD);
        struct timespec zero = {0, 0};
        while (sigtimedwait(&s, NULL, &zero) > 0) {}
        pid_t pid = CHECK_OK(fork());
        if (pid == 0) {
            raise(SIGSTOP);
            _exit(0);
        }
        int st;
        CHECK_EQ(waitpid(pid, &st, WUNTRACED), pid);
        CHECK(WIFSTOPPED(st));
        CHECK_EQ(is_pending(SIGCHLD), !nocldstop);
        while (sigtimedwait(&s, NULL, &zero) > 0) {}
        CHECK_OK(kill(pid, SIGCONT));
        CHECK_EQ(st_wait(pid), 0);
        unblock(SIGCHLD);
    }
}
