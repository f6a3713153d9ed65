/* futex(2): wait/wake, timeouts, bitsets, requeue, wake_op, private vs
 * shared, PI basics, errors, signal interruption.
 *
 * "Is the waiter parked in the kernel yet?" is answered without sleeping:
 * by spinning on a wake (or requeue) until it reports a waiter. */
#define AREA "futex"
#define ST_HARNESS_MAIN
#include "harness.h"

#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/time.h>

static long futex6(volatile int *uaddr, int op, int val, const void *ts_or_val2, volatile int *uaddr2, int val3) {
    return syscall(SYS_futex, uaddr, op, val, ts_or_val2, uaddr2, val3);
}

static long futex_wake(volatile int *u, int n) { return futex6(u, FUTEX_WAKE, n, NULL, NULL, 0); }

static long ms_since(const struct timespec *t0) {
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

struct waiter {
    volatile int *addr;
    int op, val, bitset;
    long ret;
    int err;
    pthread_t th;
};

static void *waiter_fn(void *a) {
    struct waiter *w = a;
    errno = 0;
    w->ret = futex6(w->addr, w->op, w->val, NULL, NULL, w->bitset);
    w->err = errno;
    return NULL;
}

static void start_waiter(struct waiter *w, volatile int *addr, int op, int val, int bitset) {
    w->addr = addr;
    w->op = op;
    w->val = val;
    w->bitset = bitset;
    w->ret = -2;
    w->err = 0;
    CHECK_EQ(pthread_create(&w->th, NULL, waiter_fn, w), 0);
}

static void join_waiter(struct waiter *w) {
    CHECK_EQ(pthread_join(w->th, NULL), 0);
    if (w->ret != 0) FAIL("waiter returned %ld errno %s", w->ret, strerrorname_np(w->err));
}

/* Move every waiter of `from` to `to` until `n` have been moved. */
static void park_all(volatile int *from, volatile int *to, int n, int expect_val) {
    long moved = 0;
    while (moved < n) {
        long r = futex6(from, FUTEX_CMP_REQUEUE_PRIVATE, 0, (void *)(long)INT_MAX, to, expect_val);
        if (r < 0) FAIL("cmp_requeue: %s", strerrorname_np(errno));
        moved += r;
        if (moved < n) sched_yield();
    }
    CHECK_EQ(moved, n);
}

TEST(wait_value_mismatch_eagain) {
    static int word = 5;
    CHECK_ERR(futex6(&word, FUTEX_WAIT, 4, NULL, NULL, 0), EAGAIN);
    CHECK_ERR(futex6(&word, FUTEX_WAIT_PRIVATE, 6, NULL, NULL, 0), EAGAIN);
    CHECK_ERR(futex6(&word, FUTEX_WAIT_BITSET_PRIVATE, 0, NULL, NULL, -1), EAGAIN);
}

TEST(wait_timeout_etimedout) {
    static int word;
    struct timespec ts = {0, 30 * 1000 * 1000}, t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CHECK_ERR(futex6(&word, FUTEX_WAIT_PRIVATE, 0, &ts, NULL, 0), ETIMEDOUT);
    long ms = ms_since(&t0);
    CHECK(ms >= 29);
    CHECK(ms < 5000);
    struct timespec zero = {0, 0};
    CHECK_ERR(futex6(&word, FUTEX_WAIT_PRIVATE, 0, &zero, NULL, 0), ETIMEDOUT);
}

TEST(wait_bitset_absolute_timeout) {
    static int word;
    struct timespec now, dl;
    clock_gettime(CLOCK_MONOTONIC, &now);
    dl = now;
    dl.tv_nsec += 30 * 1000 * 1000;
    if (dl.tv_nsec >= 1000000000) { dl.tv_nsec -= 1000000000; dl.tv_sec++; }
    CHECK_ERR(futex6(&word, FUTEX_WAIT_BITSET_PRIVATE, 0, &dl, NULL, FUTEX_BITSET_MATCH_ANY), ETIMEDOUT);
    CHECK(ms_since(&now) >= 29);
    /* Same with a CLOCK_REALTIME deadline. */
    struct timespec rnow, t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    clock_gettime(CLOCK_REALTIME, &rnow);
    rnow.tv_nsec += 30 * 1000 * 1000;
    if (rnow.tv_nsec >= 1000000000) { rnow.tv_nsec -= 1000000000; rnow.tv_sec++; }
    CHECK_ERR(futex6(&word, FUTEX_WAIT_BITSET_PRIVATE | FUTEX_CLOCK_REALTIME, 0, &rnow, NULL,
                     FUTEX_BITSET_MATCH_ANY),
              ETIMEDOUT);
    CHECK(ms_since(&t0) >= 25);
    /* A deadline in the past times out at once. */
    dl.tv_sec = 1;
    dl.tv_nsec = 0;
    CHECK_ERR(futex6(&word, FUTEX_WAIT_BITSET_PRIVATE, 0, &dl, NULL, FUTEX_BITSET_MATCH_ANY), ETIMEDOUT);
}

TEST(wake_without_waiters_returns_zero) {
    static int word;
    CHECK_EQ(futex_wake(&word, 1), 0);
    CHECK_EQ(futex6(&word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0), 0);
}

TEST(wait_woken_by_wake) {
    static int word;
    struct waiter w;
    start_waiter(&w, &word, FUTEX_WAIT_PRIVATE, 0, 0);
    long r;
    while ((r = futex6(&word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0)) == 0) sched_yield();
    CHECK_EQ(r, 1);
    join_waiter(&w);
}

TEST(wake_count_limits_woken_waiters) {
    static int f1, f2;
    struct waiter w[3];
    for (int i = 0; i < 3; i++) start_waiter(&w[i], &f1, FUTEX_WAIT_PRIVATE, 0, 0);
    park_all(&f1, &f2, 3, 0);
    CHECK_EQ(futex6(&f2, FUTEX_WAKE_PRIVATE, 2, NULL, NULL, 0), 2);
    CHECK_EQ(futex6(&f2, FUTEX_WAKE_PRIVATE, 10, NULL, NULL, 0), 1);
    CHECK_EQ(futex6(&f2, FUTEX_WAKE_PRIVATE, 10, NULL, NULL, 0), 0);
    for (int i = 0; i < 3; i++) join_waiter(&w[i]);
}

TEST(cmp_requeue_mismatch_eagain) {
    static int f1 = 3, f2;
    CHECK_ERR(futex6(&f1, FUTEX_CMP_REQUEUE_PRIVATE, 1, (void *)1L, &f2, 4), EAGAIN);
    CHECK_EQ(futex6(&f1, FUTEX_CMP_REQUEUE_PRIVATE, 1, (void *)1L, &f2, 3), 0);
    /* Negative counts are invalid. */
    CHECK_ERR(futex6(&f1, FUTEX_CMP_REQUEUE_PRIVATE, -1, (void *)1L, &f2, 3), EINVAL);
}

TEST(cmp_requeue_wakes_some_moves_rest) {
    static int f1, f2, f3;
    struct waiter w[3];
    for (int i = 0; i < 3; i++) start_waiter(&w[i], &f1, FUTEX_WAIT_PRIVATE, 0, 0);
    park_all(&f1, &f2, 3, 0);
    /* Wake 1, requeue up to 1: returns woken + requeued. */
    CHECK_EQ(futex6(&f2, FUTEX_CMP_REQUEUE_PRIVATE, 1, (void *)1L, &f3, 0), 2);
    /* One waiter remains on f2, one moved to f3. */
    CHECK_EQ(futex6(&f3, FUTEX_WAKE_PRIVATE, 10, NULL, NULL, 0), 1);
    CHECK_EQ(futex6(&f2, FUTEX_WAKE_PRIVATE, 10, NULL, NULL, 0), 1);
    for (int i = 0; i < 3; i++) join_waiter(&w[i]);
}

TEST(plain_requeue_moves_waiters) {
    static int f1, f2, f3;
    struct waiter w[2];
    for (int i = 0; i < 2; i++) start_waiter(&w[i], &f1, FUTEX_WAIT_PRIVATE, 0, 0);
    park_all(&f1, &f2, 2, 0);
    /* FUTEX_REQUEUE (no compare): wake 0, move everything to f3. */
    CHECK_EQ(futex6(&f2, FUTEX_REQUEUE_PRIVATE, 0, (void *)(long)INT_MAX, &f3, 0), 2);
    CHECK_EQ(futex6(&f2, FUTEX_WAKE_PRIVATE, 10, NULL, NULL, 0), 0);
    CHECK_EQ(futex6(&f3, FUTEX_WAKE_PRIVATE, 10, NULL, NULL, 0), 2);
    for (int i = 0; i < 2; i++) join_waiter(&w[i]);
}

TEST(wait_wake_bitset_matching) {
    static int word;
    struct waiter w;
    start_waiter(&w, &word, FUTEX_WAIT_BITSET_PRIVATE, 0, 0x1);
    long r;
    for (;;) {
        /* A non-overlapping bitset never wakes it. */
        CHECK_EQ(futex6(&word, FUTEX_WAKE_BITSET_PRIVATE, 1, NULL, NULL, 0x2), 0);
        r = futex6(&word, FUTEX_WAKE_BITSET_PRIVATE, 1, NULL, NULL, 0x3);
        if (r != 0) break;
        sched_yield();
    }
    CHECK_EQ(r, 1);
    join_waiter(&w);
    /* A zero bitset is invalid. */
    CHECK_ERR(futex6(&word, FUTEX_WAIT_BITSET_PRIVATE, 0, NULL, NULL, 0), EINVAL);
    CHECK_ERR(futex6(&word, FUTEX_WAKE_BITSET_PRIVATE, 1, NULL, NULL, 0), EINVAL);
}

TEST(plain_wake_wakes_bitset_waiter) {
    static int word;
    struct waiter w;
    start_waiter(&w, &word, FUTEX_WAIT_BITSET_PRIVATE, 0, 0x10);
    long r;
    while ((r = futex6(&word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0)) == 0) sched_yield();
    CHECK_EQ(r, 1);
    join_waiter(&w);
}

TEST(wake_op_modifies_second_word) {
    static int f1, f2;
    struct {
        int op, arg, init, want;
    } ops[] = {
        {FUTEX_OP_SET, 7, 3, 7},
        {FUTEX_OP_ADD, 5, 3, 8},
        {FUTEX_OP_OR, 0x4, 0x3, 0x7},
        {FUTEX_OP_ANDN, 0x1, 0x3, 0x2},
        {FUTEX_OP_XOR, 0x5, 0x3, 0x6},
    };
    for (unsigned i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        f2 = ops[i].init;
        int op = FUTEX_OP(ops[i].op, ops[i].arg, FUTEX_OP_CMP_EQ, ops[i].init);
        CHECK_EQ(futex6(&f1, FUTEX_WAKE_OP_PRIVATE, 1, (void *)1L, &f2, op), 0);
        CHECK_EQ(f2, ops[i].want);
    }
    /* FUTEX_OP_OPARG_SHIFT: the argument is 1 << arg. */
    f2 = 0;
    CHECK_EQ(futex6(&f1, FUTEX_WAKE_OP_PRIVATE, 1, (void *)1L, &f2,
                    FUTEX_OP((FUTEX_OP_SET | FUTEX_OP_OPARG_SHIFT), 4, FUTEX_OP_CMP_EQ, 0)),
             0);
    CHECK_EQ(f2, 16);
}

TEST(wake_op_condition_selects_second_wake) {
    static int f1, f2;
    struct waiter w1, w2;
    start_waiter(&w1, &f1, FUTEX_WAIT_PRIVATE, 0, 0);
    start_waiter(&w2, &f2, FUTEX_WAIT_PRIVATE, 0, 0);
    static int p1, p2;
    park_all(&f1, &p1, 1, 0);
    park_all(&f2, &p2, 1, 0);
    /* Waiters now sit on p1 and p2. Old value of p2 is 0: the compare
     * "old > 5" is false, so only p1's waiter is woken; p2 becomes 1. */
    CHECK_EQ(futex6(&p1, FUTEX_WAKE_OP_PRIVATE, 1, (void *)1L, &p2,
                    FUTEX_OP(FUTEX_OP_SET, 1, FUTEX_OP_CMP_GT, 5)),
             1);
    CHECK_EQ(p2, 1);
    join_waiter(&w1);
    /* Old value 1 == 1: true, the p2 waiter is woken too (its word changed
     * but it is already queued). */
    CHECK_EQ(futex6(&p1, FUTEX_WAKE_OP_PRIVATE, 1, (void *)1L, &p2,
                    FUTEX_OP(FUTEX_OP_ADD, 1, FUTEX_OP_CMP_EQ, 1)),
             1);
    CHECK_EQ(p2, 2);
    join_waiter(&w2);
}

TEST(shared_futex_across_fork) {
    volatile int *word = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(word != MAP_FAILED);
    *word = 0;
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        while (*word == 0) {
            long r = futex6(word, FUTEX_WAIT, 0, NULL, NULL, 0);
            if (r < 0 && errno != EAGAIN && errno != EINTR) _exit(2);
        }
        _exit(*word == 1 ? 0 : 3);
    }
    long r;
    for (;;) {
        /* A private wake never reaches a waiter in another process. */
        CHECK_EQ(futex6(word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0), 0);
        *word = 0;
        r = futex6(word, FUTEX_WAKE, 1, NULL, NULL, 0);
        if (r == 1) break;
        sched_yield();
    }
    /* The child was parked and is now awake; let it leave its loop. */
    *word = 1;
    futex6(word, FUTEX_WAKE, 1, NULL, NULL, 0);
    CHECK_EQ(st_wait(pid), 0);
}

TEST(shared_futex_on_file_mapping) {
    int fd = CHECK_OK(open(tmp_path("f"), O_CREAT | O_RDWR, 0600));
    CHECK_OK(ftruncate(fd, 4096));
    volatile int *a = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    volatile int *b = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHECK(a != MAP_FAILED && b != MAP_FAILED);
    CHECK(a != b);
    struct waiter w;
    start_waiter(&w, a, FUTEX_WAIT, 0, 0);
    long r;
    /* Two mappings of one file page: a shared wake through the other
     * address reaches the waiter. */
    while ((r = futex6(b, FUTEX_WAKE, 1, NULL, NULL, 0)) == 0) sched_yield();
    CHECK_EQ(r, 1);
    join_waiter(&w);
}

static volatile sig_atomic_t alarms;
static void on_alarm(int sig) {
    (void)sig;
    alarms++;
}

TEST(wait_interrupted_by_signal_eintr) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm; /* no SA_RESTART */
    CHECK_OK(sigaction(SIGALRM, &sa, NULL));
    struct itimerval it = {{0, 2000}, {0, 2000}};
    CHECK_OK(setitimer(ITIMER_REAL, &it, NULL));
    static int word;
    CHECK_ERR(futex6(&word, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0), EINTR);
    memset(&it, 0, sizeof it);
    CHECK_OK(setitimer(ITIMER_REAL, &it, NULL));
    CHECK(alarms >= 1);
}

TEST(errors_einval_enosys_efault) {
    static int word[2];
    struct timespec bad = {0, 1000000000};
    CHECK_ERR(futex6(word, FUTEX_WAIT_PRIVATE, 0, &bad, NULL, 0), EINVAL);
    bad.tv_nsec = -1;
    CHECK_ERR(futex6(word, FUTEX_WAIT_PRIVATE, 0, &bad, NULL, 0), EINVAL);
    bad.tv_sec = -1;
    bad.tv_nsec = 0;
    CHECK_ERR(futex6(word, FUTEX_WAIT_PRIVATE, 0, &bad, NULL, 0), EINVAL);
    /* Misaligned address. */
    CHECK_ERR(futex6((volatile int *)((char *)word + 1), FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0), EINVAL);
    CHECK_ERR(futex6((volatile int *)((char *)word + 2), FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0), EINVAL);
    /* Unknown command. */
    CHECK_ERR(futex6(word, 99, 0, NULL, NULL, 0), ENOSYS);
    /* FUTEX_CLOCK_REALTIME is meaningless for FUTEX_WAKE. */
    CHECK_ERR(futex6(word, FUTEX_WAKE | FUTEX_CLOCK_REALTIME, 1, NULL, NULL, 0), ENOSYS);
    /* Unmapped memory. */
    CHECK_ERR(futex6((volatile int *)8, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0), EFAULT);
    CHECK_ERR(futex6(word, FUTEX_WAIT_PRIVATE, 0, (void *)8, NULL, 0), EFAULT);
}

TEST(pi_lock_unlock_uncontended) {
    static int lock;
    pid_t tid = syscall(SYS_gettid);
    CHECK_EQ(futex6(&lock, FUTEX_LOCK_PI_PRIVATE, 0, NULL, NULL, 0), 0);
    CHECK_EQ(lock & FUTEX_TID_MASK, tid);
    /* Locking again: deadlock detected. */
    CHECK_ERR(futex6(&lock, FUTEX_LOCK_PI_PRIVATE, 0, NULL, NULL, 0), EDEADLK);
    CHECK_ERR(futex6(&lock, FUTEX_TRYLOCK_PI_PRIVATE, 0, NULL, NULL, 0), EDEADLK);
    CHECK_EQ(futex6(&lock, FUTEX_UNLOCK_PI_PRIVATE, 0, NULL, NULL, 0), 0);
    CHECK_EQ(lock, 0);
    /* Unlocking a lock we do not own. */
    lock = tid + 1;
    CHECK_ERR(futex6(&lock, FUTEX_UNLOCK_PI_PRIVATE, 0, NULL, NULL, 0), EPERM);
}
