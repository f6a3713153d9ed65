/* Clocks, sleeps, interval timers, POSIX timers and timerfd. Timing checks
 * use lower bounds (slept at least X) and generous upper bounds only. */
#define AREA "time"
#define ST_HARNESS_MAIN
#include "harness.h"

#include <poll.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/timerfd.h>

static long long ts_ns(const struct timespec *t) { return t->tv_sec * 1000000000LL + t->tv_nsec; }

static long long now_ns(clockid_t c) {
    struct timespec t;
    if (clock_gettime(c, &t) < 0) FAIL("clock_gettime(%d): %s", (int)c, strerror(errno));
    return ts_ns(&t);
}

static long long mono_ms_since(long long start_ns) { return (now_ns(CLOCK_MONOTONIC) - start_ns) / 1000000; }

static void block_sig(int sig) {
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, sig);
    CHECK_OK(sigprocmask(SIG_BLOCK, &s, NULL));
}

static volatile sig_atomic_t got_alrm;
static void on_alrm(int sig) {
    (void)sig;
    got_alrm++;
}

TEST(clocks_monotonic_nondecreasing) {
    clockid_t clocks[] = {CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME, CLOCK_MONOTONIC_RAW,
                          CLOCK_REALTIME_COARSE, CLOCK_MONOTONIC_COARSE};
    for (unsigned c = 0; c < sizeof clocks / sizeof clocks[0]; c++) {
        long long prev = now_ns(clocks[c]);
        CHECK(prev > 0);
        for (int i = 0; i < 1000; i++) {
            long long t = now_ns(clocks[c]);
            if (clocks[c] != CLOCK_REALTIME && clocks[c] != CLOCK_REALTIME_COARSE && t < prev)
                FAIL("clock %d went backwards: %lld < %lld", (int)clocks[c], t, prev);
            prev = t;
        }
    }
    /* Boot time includes suspend: never less than monotonic. */
    long long m = now_ns(CLOCK_MONOTONIC);
    long long b = now_ns(CLOCK_BOOTTIME);
    CHECK(b >= m);
    /* Realtime is after 2020-01-01. */
    CHECK(now_ns(CLOCK_REALTIME) / 1000000000LL > 1577836800LL);
}

TEST(raw_clock_gettime_syscall_matches) {
    struct timespec a, b, c;
    CHECK_OK(clock_gettime(CLOCK_MONOTONIC, &a));
    CHECK_OK(syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &b));
    CHECK_OK(clock_gettime(CLOCK_MONOTONIC, &c));
    CHECK(ts_ns(&a) <= ts_ns(&b) && ts_ns(&b) <= ts_ns(&c));
    CHECK(b.tv_nsec >= 0 && b.tv_nsec < 1000000000);
    CHECK_ERR(syscall(SYS_clock_gettime, 12345, &b), EINVAL);
    CHECK_ERR(syscall(SYS_clock_gettime, CLOCK_MONOTONIC, (void *)8), EFAULT);
}

TEST(cputime_clocks_advance_with_work) {
    long long p0 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
    long long t0 = now_ns(CLOCK_THREAD_CPUTIME_ID);
    volatile unsigned long x = 0;
    long long start = now_ns(CLOCK_THREAD_CPUTIME_ID);
    /* Spin until 20ms of thread CPU time are used. */
    while (now_ns(CLOCK_THREAD_CPUTIME_ID) - start < 20000000LL)
        for (int i = 0; i < 10000; i++) x += i;
    long long p1 = now_ns(CLOCK_PROCESS_CPUTIME_ID);
    long long t1 = now_ns(CLOCK_THREAD_CPUTIME_ID);
    CHECK(t1 - t0 >= 20000000LL);
    CHECK(p1 - p0 >= 20000000LL);
    /* The process clock covers the thread's: not less. */
    CHECK(p1 >= t1 - 1000000LL);
    /* Also readable through clock_getcpuclockid / the pid-based id. */
    clockid_t cid;
    CHECK_EQ(clock_getcpuclockid(getpid(), &cid), 0);
    CHECK(now_ns(cid) >= p1);
}

TEST(clock_getres_values_and_einval) {
    clockid_t clocks[] = {CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME, CLOCK_PROCESS_CPUTIME_ID,
                          CLOCK_THREAD_CPUTIME_ID, CLOCK_MONOTONIC_RAW};
    for (unsigned c = 0; c < sizeof clocks / sizeof clocks[0]; c++) {
        struct timespec r = {99, 99};
        CHECK_OK(clock_getres(clocks[c], &r));
        CHECK_EQ(r.tv_sec, 0);
        CHECK(r.tv_nsec > 0 && r.tv_nsec <= 10000000);
    }
    struct timespec r;
    CHECK_OK(clock_getres(CLOCK_MONOTONIC_COARSE, &r));
    CHECK(r.tv_sec == 0 && r.tv_nsec > 0);
    CHECK_OK(clock_getres(CLOCK_MONOTONIC, NULL));
    CHECK_ERR(syscall(SYS_clock_getres, 12345, &r), EINVAL);
    CHECK_ERR(syscall(SYS_clock_getres, -1, &r), EINVAL);
}

TEST(gettimeofday_and_time_consistent_with_realtime) {
    for (int i = 0; i < 100; i++) {
        struct timespec a, b;
        struct timeval tv;
        CHECK_OK(clock_gettime(CLOCK_REALTIME, &a));
        CHECK_OK(gettimeofday(&tv, NULL));
        time_t t = time(NULL);
        CHECK_OK(clock_gettime(CLOCK_REALTIME, &b));
        long long us = tv.tv_sec * 1000000LL + tv.tv_usec;
        CHECK(tv.tv_usec >= 0 && tv.tv_usec < 1000000);
        CHECK(us >= ts_ns(&a) / 1000);
        CHECK(us <= ts_ns(&b) / 1000);
        /* time() may lag (coarse clock) by a tick. */
        CHECK(t >= a.tv_sec - 1 && t <= b.tv_sec);
    }
    time_t t2;
    time_t r = time(&t2);
    CHECK_EQ(r, t2);
    CHECK_EQ(syscall(SYS_time, NULL) >= r, 1);
}

TEST(nanosleep_sleeps_at_least) {
    long long t0 = now_ns(CLOCK_MONOTONIC);
    struct timespec req = {0, 50 * 1000 * 1000}, rem = {7, 7};
    CHECK_OK(nanosleep(&req, &rem));
    long long ms = mono_ms_since(t0);
    CHECK(ms >= 50);
    CHECK(ms < 5000);
    /* Zero sleep returns at once. */
    req.tv_nsec = 0;
    CHECK_OK(nanosleep(&req, NULL));
}

TEST(nanosleep_einval) {
    struct timespec req = {0, 1000000000};
    CHECK_ERR(nanosleep(&req, NULL), EINVAL);
    req.tv_nsec = -1;
    CHECK_ERR(nanosleep(&req, NULL), EINVAL);
    req.tv_sec = -1;
    req.tv_nsec = 0;
    CHECK_ERR(nanosleep(&req, NULL), EINVAL);
    CHECK_ERR(syscall(SYS_nanosleep, (void *)8, NULL), EFAULT);
}

TEST(nanosleep_interrupted_eintr_with_remaining) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alrm;
    CHECK_OK(sigaction(SIGALRM, &sa, NULL));
    struct itimerval it = {{0, 0}, {0, 50000}};
    CHECK_OK(setitimer(ITIMER_REAL, &it, NULL));
    long long t0 = now_ns(CLOCK_MONOTONIC);
    struct timespec req = {10, 0}, rem = {0, 0};
    CHECK_ERR(nanosleep(&req, &rem), EINTR);
    long long ms = mono_ms_since(t0);
    CHECK_EQ(got_alrm, 1);
    CHECK(ms >= 45);
    CHECK(ms < 9000);
    long long rem_ms = ts_ns(&rem) / 1000000;
    CHECK(rem_ms > 0 && rem_ms <= 10000 - 45);
    CHECK(rem.tv_nsec >= 0 && rem.tv_nsec < 1000000000);
}

TEST(clock_nanosleep_abstime) {
    struct timespec dl;
    CHECK_OK(clock_gettime(CLOCK_MONOTONIC, &dl));
    dl.tv_nsec += 40 * 1000 * 1000;
    if (dl.tv_nsec >= 1000000000) { dl.tv_nsec -= 1000000000; dl.tv_sec++; }
    CHECK_EQ(clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &dl, NULL), 0);
    CHECK(now_ns(CLOCK_MONOTONIC) >= ts_ns(&dl));
    /* A deadline in the past returns immediately. */
    dl.tv_sec -= 100;
    long long t0 = now_ns(CLOCK_MONOTONIC);
    CHECK_EQ(clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &dl, NULL), 0);
    CHECK(mono_ms_since(t0) < 1000);
    /* Realtime absolute too. */
    CHECK_OK(clock_gettime(CLOCK_REALTIME, &dl));
    dl.tv_nsec += 20 * 1000 * 1000;
    if (dl.tv_nsec >= 1000000000) { dl.tv_nsec -= 1000000000; dl.tv_sec++; }
    CHECK_EQ(clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &dl, NULL), 0);
    CHECK(now_ns(CLOCK_REALTIME) >= ts_ns(&dl));
}

TEST(clock_nanosleep_relative_and_errors) {
    struct timespec req = {0, 30 * 1000 * 1000};
    long long t0 = now_ns(CLOCK_MONOTONIC);
    CHECK_EQ(clock_nanosleep(CLOCK_BOOTTIME, 0, &req, NULL), 0);
    CHECK(mono_ms_since(t0) >= 30);
    /* Returns the error number (not -1/errno). */
    CHECK_EQ(clock_nanosleep(CLOCK_THREAD_CPUTIME_ID, 0, &req, NULL), EINVAL);
    req.tv_nsec = 1000000000;
    CHECK_EQ(clock_nanosleep(CLOCK_MONOTONIC, 0, &req, NULL), EINVAL);
    req.tv_nsec = 0;
    CHECK_EQ(clock_nanosleep(12345, 0, &req, NULL), EINVAL);
}

TEST(setitimer_real_delivers_sigalrm) {
    block_sig(SIGALRM);
    struct itimerval it = {{0, 0}, {0, 30000}}, old, cur;
    long long t0 = now_ns(CLOCK_MONOTONIC);
    CHECK_OK(setitimer(ITIMER_REAL, &it, &old));
    CHECK(old.it_value.tv_sec == 0 && old.it_value.tv_usec == 0);
    CHECK_OK(getitimer(ITIMER_REAL, &cur));
    CHECK(cur.it_value.tv_sec == 0 && cur.it_value.tv_usec > 0 && cur.it_value.tv_usec <= 30000);
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGALRM);
    siginfo_t si;
    CHECK_EQ(sigwaitinfo(&s, &si), SIGALRM);
    CHECK(mono_ms_since(t0) >= 29);
    CHECK_EQ(si.si_code, SI_KERNEL);
    CHECK_OK(getitimer(ITIMER_REAL, &cur));
    CHECK(cur.it_value.tv_sec == 0 && cur.it_value.tv_usec == 0);
}

TEST(setitimer_returns_old_and_interval) {
    struct itimerval it = {{2, 500000}, {100, 0}}, old, cur;
    CHECK_OK(setitimer(ITIMER_REAL, &it, NULL));
    CHECK_OK(getitimer(ITIMER_REAL, &cur));
    CHECK_EQ(cur.it_interval.tv_sec, 2);
    CHECK_EQ(cur.it_interval.tv_usec, 500000);
    CHECK(cur.it_value.tv_sec >= 98 && cur.it_value.tv_sec <= 100);
    struct itimerval zero;
    memset(&zero, 0, sizeof zero);
    CHECK_OK(setitimer(ITIMER_REAL, &zero, &old));
    CHECK_EQ(old.it_interval.tv_sec, 2);
    CHECK(old.it_value.tv_sec >= 98);
    it.it_value.tv_usec = 1000000;
    CHECK_ERR(setitimer(ITIMER_REAL, &it, NULL), EINVAL);
    CHECK_ERR(setitimer((__itimer_which_t)5, &zero, NULL), EINVAL);
    /* The virtual timer runs on user CPU time. */
    struct itimerval v = {{0, 0}, {50, 0}};
    CHECK_OK(setitimer(ITIMER_VIRTUAL, &v, NULL));
    CHECK_OK(getitimer(ITIMER_VIRTUAL, &cur));
    CHECK(cur.it_value.tv_sec <= 50 && cur.it_value.tv_sec >= 49);
}

TEST(alarm_returns_remaining_seconds) {
    CHECK_EQ(alarm(100), 0);
    unsigned r = alarm(50);
    CHECK(r >= 99 && r <= 100);
    r = alarm(0);
    CHECK(r >= 49 && r <= 50);
    CHECK_EQ(alarm(0), 0);
}

TEST(alarm_delivers_sigalrm) {
    block_sig(SIGALRM);
    long long t0 = now_ns(CLOCK_MONOTONIC);
    CHECK_EQ(alarm(1), 0);
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGALRM);
    CHECK_EQ(sigwaitinfo(&s, NULL), SIGALRM);
    long long ms = mono_ms_since(t0);
    CHECK(ms >= 990);
    CHECK(ms < 10000);
}

TEST(posix_timer_sigev_signal) {
    block_sig(SIGRTMIN);
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_SIGNAL;
    sev.sigev_signo = SIGRTMIN;
    sev.sigev_value.sival_int = 4242;
    timer_t t;
    CHECK_OK(timer_create(CLOCK_MONOTONIC, &sev, &t));
    struct itimerspec its = {{0, 0}, {0, 30 * 1000 * 1000}}, cur;
    long long t0 = now_ns(CLOCK_MONOTONIC);
    CHECK_OK(timer_settime(t, 0, &its, NULL));
    CHECK_OK(timer_gettime(t, &cur));
    CHECK(ts_ns(&cur.it_value) > 0 && ts_ns(&cur.it_value) <= 30000000LL);
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGRTMIN);
    siginfo_t si;
    CHECK_EQ(sigwaitinfo(&s, &si), SIGRTMIN);
    CHECK(mono_ms_since(t0) >= 29);
    CHECK_EQ(si.si_code, SI_TIMER);
    CHECK_EQ(si.si_value.sival_int, 4242);
    CHECK_EQ(si.si_overrun, 0);
    CHECK_OK(timer_gettime(t, &cur));
    CHECK_EQ(ts_ns(&cur.it_value), 0);
    CHECK_OK(timer_delete(t));
    CHECK_ERR(timer_gettime(t, &cur), EINVAL);
    CHECK_ERR(timer_delete(t), EINVAL);
}

TEST(posix_timer_overrun_counts) {
    block_sig(SIGRTMIN + 1);
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_SIGNAL;
    sev.sigev_signo = SIGRTMIN + 1;
    timer_t t;
    CHECK_OK(timer_create(CLOCK_MONOTONIC, &sev, &t));
    struct itimerspec its = {{0, 1000000}, {0, 1000000}};
    CHECK_OK(timer_settime(t, 0, &its, NULL));
    /* 60ms with the signal blocked: one queued signal, the rest overruns. */
    struct timespec d = {0, 60 * 1000 * 1000};
    CHECK_OK(nanosleep(&d, NULL));
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGRTMIN + 1);
    siginfo_t si;
    CHECK_EQ(sigwaitinfo(&s, &si), SIGRTMIN + 1);
    CHECK_EQ(si.si_code, SI_TIMER);
    CHECK(si.si_overrun >= 10);
    int ov = CHECK_OK(timer_getoverrun(t));
    CHECK(ov >= 10);
    CHECK_OK(timer_delete(t));
}

TEST(posix_timer_sigev_none_and_errors) {
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_NONE;
    timer_t t;
    CHECK_OK(timer_create(CLOCK_REALTIME, &sev, &t));
    struct itimerspec its = {{1, 0}, {100, 0}}, cur, old;
    CHECK_OK(timer_settime(t, 0, &its, NULL));
    CHECK_OK(timer_gettime(t, &cur));
    CHECK(cur.it_value.tv_sec >= 99 && cur.it_value.tv_sec <= 100);
    CHECK_EQ(cur.it_interval.tv_sec, 1);
    struct itimerspec zero;
    memset(&zero, 0, sizeof zero);
    CHECK_OK(timer_settime(t, 0, &zero, &old));
    CHECK(old.it_value.tv_sec >= 99);
    CHECK_EQ(old.it_interval.tv_sec, 1);
    its.it_value.tv_nsec = 1000000000;
    CHECK_ERR(timer_settime(t, 0, &its, NULL), EINVAL);
    CHECK_OK(timer_delete(t));
    timer_t t2;
    CHECK_ERR(timer_create((clockid_t)12345, &sev, &t2), EINVAL);
    sev.sigev_notify = SIGEV_SIGNAL;
    sev.sigev_signo = 100;
    CHECK_ERR(timer_create(CLOCK_MONOTONIC, &sev, &t2), EINVAL);
}

TEST(timerfd_read_expirations) {
    int fd = CHECK_OK(timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC));
    struct itimerspec its = {{0, 0}, {0, 30 * 1000 * 1000}}, cur;
    CHECK_OK(timerfd_gettime(fd, &cur));
    CHECK_EQ(ts_ns(&cur.it_value), 0);
    long long t0 = now_ns(CLOCK_MONOTONIC);
    CHECK_OK(timerfd_settime(fd, 0, &its, NULL));
    CHECK_OK(timerfd_gettime(fd, &cur));
    CHECK(ts_ns(&cur.it_value) > 0 && ts_ns(&cur.it_value) <= 30000000LL);
    uint64_t n = 0;
    CHECK_EQ(read(fd, &n, sizeof n), 8);
    CHECK(mono_ms_since(t0) >= 29);
    CHECK_EQ(n, 1);
    CHECK_OK(timerfd_gettime(fd, &cur));
    CHECK_EQ(ts_ns(&cur.it_value), 0);
    char small[4];
    CHECK_ERR(read(fd, small, sizeof small), EINVAL);
    close(fd);
}

TEST(timerfd_nonblock_eagain_and_periodic_count) {
    int fd = CHECK_OK(timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK));
    uint64_t n;
    CHECK_ERR(read(fd, &n, sizeof n), EAGAIN);
    CHECK_EQ(fcntl(fd, F_GETFL) & O_NONBLOCK, O_NONBLOCK);
    struct itimerspec its = {{0, 1000000}, {0, 1000000}};
    CHECK_OK(timerfd_settime(fd, 0, &its, NULL));
    struct timespec d = {0, 40 * 1000 * 1000};
    CHECK_OK(nanosleep(&d, NULL));
    CHECK_EQ(read(fd, &n, sizeof n), 8);
    CHECK(n >= 30);
    CHECK(n < 100000);
    /* Disarm: nothing more. */
    struct itimerspec zero;
    memset(&zero, 0, sizeof zero);
    CHECK_OK(timerfd_settime(fd, 0, &zero, NULL));
    CHECK_ERR(read(fd, &n, sizeof n), EAGAIN);
    close(fd);
}

TEST(timerfd_poll_readiness_and_abstime) {
    int fd = CHECK_OK(timerfd_create(CLOCK_REALTIME, 0));
    struct pollfd p = {fd, POLLIN, 0};
    CHECK_EQ(poll(&p, 1, 0), 0);
    struct timespec now;
    CHECK_OK(clock_gettime(CLOCK_REALTIME, &now));
    struct itimerspec its;
    memset(&its, 0, sizeof its);
    its.it_value = now;
    its.it_value.tv_nsec += 30 * 1000 * 1000;
    if (its.it_value.tv_nsec >= 1000000000) { its.it_value.tv_nsec -= 1000000000; its.it_value.tv_sec++; }
    CHECK_OK(timerfd_settime(fd, TFD_TIMER_ABSTIME, &its, NULL));
    CHECK_EQ(poll(&p, 1, 0), 0);
    CHECK_EQ(poll(&p, 1, 10000), 1);
    CHECK_EQ(p.revents, POLLIN);
    CHECK(now_ns(CLOCK_REALTIME) >= ts_ns(&its.it_value));
    uint64_t n;
    CHECK_EQ(read(fd, &n, sizeof n), 8);
    CHECK_EQ(n, 1);
    p.revents = 0;
    CHECK_EQ(poll(&p, 1, 0), 0);
    close(fd);
}

TEST(timerfd_errors) {
    CHECK_ERR(timerfd_create(12345, 0), EINVAL);
    CHECK_ERR(timerfd_create(CLOCK_MONOTONIC, 0x1234), EINVAL);
    CHECK_ERR(timerfd_create(CLOCK_PROCESS_CPUTIME_ID, 0), EINVAL);
    int fd = CHECK_OK(timerfd_create(CLOCK_MONOTONIC, 0));
    struct itimerspec its = {{0, 0}, {0, 1000000000}};
    CHECK_ERR(timerfd_settime(fd, 0, &its, NULL), EINVAL);
    its.it_value.tv_nsec = 1;
    CHECK_ERR(timerfd_settime(fd, 0x80, &its, NULL), EINVAL);
    int notimer = CHECK_OK(open("/dev/null", O_RDONLY));
    CHECK_ERR(timerfd_settime(notimer, 0, &its, NULL), EINVAL);
    CHECK_ERR(timerfd_gettime(notimer, &its), EINVAL);
    CHECK_ERR(timerfd_gettime(999, &its), EBADF);
}
