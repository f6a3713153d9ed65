/* epoll: create, ctl errors, level/edge/oneshot/exclusive semantics,
 * data round trip, pwait sigmask, closed fds, nesting, errors. */
#define AREA "epoll"
#define ST_HARNESS_MAIN
#include "harness.h"

#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>

static long long mono_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000LL + t.tv_nsec / 1000000;
}

static void add(int ep, int fd, uint32_t events, uint64_t data) {
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = events;
    ev.data.u64 = data;
    CHECK_OK(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev));
}

static int wait0(int ep, struct epoll_event *evs, int max) { return epoll_wait(ep, evs, max, 0); }

TEST(create1_flags) {
    int ep = CHECK_OK(epoll_create1(EPOLL_CLOEXEC));
    CHECK_EQ(fcntl(ep, F_GETFD), FD_CLOEXEC);
    int ep2 = CHECK_OK(epoll_create1(0));
    CHECK_EQ(fcntl(ep2, F_GETFD), 0);
    CHECK_ERR(epoll_create1(1), EINVAL);
    CHECK_ERR(epoll_create(0), EINVAL);
    CHECK_ERR(epoll_create(-1), EINVAL);
    int ep3 = CHECK_OK(epoll_create(1));
    close(ep3);
    /* An empty epoll set is not readable. */
    struct pollfd p = {ep, POLLIN, 0};
    CHECK_EQ(poll(&p, 1, 0), 0);
}

TEST(ctl_errors) {
    int ep = CHECK_OK(epoll_create1(0));
    int p[2];
    CHECK_OK(pipe(p));
    struct epoll_event ev = {.events = EPOLLIN};
    CHECK_OK(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev));
    CHECK_ERR(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev), EEXIST);
    CHECK_ERR(epoll_ctl(ep, EPOLL_CTL_MOD, p[1], &ev), ENOENT);
    CHECK_ERR(epoll_ctl(ep, EPOLL_CTL_DEL, p[1], &ev), ENOENT);
    CHECK_ERR(epoll_ctl(ep, 99, p[0], &ev), EINVAL);
    CHECK_ERR(epoll_ctl(ep, EPOLL_CTL_ADD, ep, &ev), EINVAL);
    CHECK_ERR(epoll_ctl(p[0], EPOLL_CTL_ADD, p[1], &ev), EINVAL);
    int closed = CHECK_OK(dup(p[1]));
    close(closed);
    CHECK_ERR(epoll_ctl(ep, EPOLL_CTL_ADD, closed, &ev), EBADF);
    CHECK_ERR(epoll_ctl(closed, EPOLL_CTL_ADD, p[1], &ev), EBADF);
    int f = CHECK_OK(open(tmp_path("f"), O_CREAT | O_RDWR, 0600));
    CHECK_ERR(epoll_ctl(ep, EPOLL_CTL_ADD, f, &ev), EPERM);
    CHECK_OK(epoll_ctl(ep, EPOLL_CTL_DEL, p[0], NULL));
    CHECK_ERR(epoll_ctl(ep, EPOLL_CTL_DEL, p[0], NULL), ENOENT);
}

TEST(level_triggered_repeats) {
    int ep = CHECK_OK(epoll_create1(0));
    int p[2];
    CHECK_OK(pipe(p));
    add(ep, p[0], EPOLLIN, 7);
    struct epoll_event evs[4];
    CHECK_EQ(wait0(ep, evs, 4), 0);
    CHECK_EQ(write(p[1], "ab", 2), 2);
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(wait0(ep, evs, 4), 1);
        CHECK_EQ(evs[0].events, EPOLLIN);
        CHECK_EQ(evs[0].data.u64, 7);
    }
    char buf[4];
    CHECK_EQ(read(p[0], buf, sizeof buf), 2);
    CHECK_EQ(wait0(ep, evs, 4), 0);
}

TEST(edge_triggered_fires_once_per_change) {
    int ep = CHECK_OK(epoll_create1(0));
    int p[2];
    CHECK_OK(pipe(p));
    add(ep, p[0], EPOLLIN | EPOLLET, 1);
    struct epoll_event evs[4];
    CHECK_EQ(write(p[1], "a", 1), 1);
    CHECK_EQ(wait0(ep, evs, 4), 1);
    CHECK_EQ(evs[0].events, EPOLLIN);
    /* No new data: no new edge, even though data is still unread. */
    CHECK_EQ(wait0(ep, evs, 4), 0);
    CHECK_EQ(write(p[1], "b", 1), 1);
    CHECK_EQ(wait0(ep, evs, 4), 1);
    CHECK_EQ(wait0(ep, evs, 4), 0);
}

TEST(oneshot_disables_until_mod) {
    int ep = CHECK_OK(epoll_create1(0));
    int p[2];
    CHECK_OK(pipe(p));
    add(ep, p[0], EPOLLIN | EPOLLONESHOT, 3);
    struct epoll_event evs[4];
    CHECK_EQ(write(p[1], "a", 1), 1);
    CHECK_EQ(wait0(ep, evs, 4), 1);
    CHECK_EQ(wait0(ep, evs, 4), 0);
    CHECK_EQ(write(p[1], "b", 1), 1);
    CHECK_EQ(wait0(ep, evs, 4), 0);
    /* Still registered: ADD fails, MOD re-arms. */
    struct epoll_event ev = {.events = EPOLLIN | EPOLLONESHOT, .data.u64 = 4};
    CHECK_ERR(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev), EEXIST);
    CHECK_OK(epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev));
    CHECK_EQ(wait0(ep, evs, 4), 1);
    CHECK_EQ(evs[0].data.u64, 4);
    CHECK_EQ(wait0(ep, evs, 4), 0);
}

TEST(exclusive_only_with_add) {
    int ep = CHECK_OK(epoll_create1(0));
    int p[2];
    CHECK_OK(pipe(p));
    struct epoll_event ev = {.events = EPOLLIN | EPOLLEXCLUSIVE};
    CHECK_OK(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev));
    /* MOD of an exclusive entry, or MOD with the flag, is invalid. */
    ev.events = EPOLLIN;
    CHECK_ERR(epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev), EINVAL);
    struct epoll_event ev2 = {.events = EPOLLIN};
    CHECK_OK(epoll_ctl(ep, EPOLL_CTL_ADD, p[1], &ev2));
    ev2.events = EPOLLOUT | EPOLLEXCLUSIVE;
    CHECK_ERR(epoll_ctl(ep, EPOLL_CTL_MOD, p[1], &ev2), EINVAL);
    /* Not combinable with EPOLLONESHOT. */
    int q[2];
    CHECK_OK(pipe(q));
    ev.events = EPOLLIN | EPOLLEXCLUSIVE | EPOLLONESHOT;
    CHECK_ERR(epoll_ctl(ep, EPOLL_CTL_ADD, q[0], &ev), EINVAL);
    /* Nor usable on an epoll fd target. */
    int inner = CHECK_OK(epoll_create1(0));
    ev.events = EPOLLIN | EPOLLEXCLUSIVE;
    CHECK_ERR(epoll_ctl(ep, EPOLL_CTL_ADD, inner, &ev), EINVAL);
    /* It still reports events. */
    CHECK_EQ(write(p[1], "x", 1), 1);
    struct epoll_event evs[4];
    int n = wait0(ep, evs, 4);
    CHECK_EQ(n, 1);
}

TEST(data_u64_round_trip) {
    int ep = CHECK_OK(epoll_create1(0));
    int p[2], q[2];
    CHECK_OK(pipe(p));
    CHECK_OK(pipe(q));
    add(ep, p[1], EPOLLOUT, 0xfedcba9876543210ULL);
    struct epoll_event ev = {.events = EPOLLOUT};
    ev.data.ptr = &ev;
    CHECK_OK(epoll_ctl(ep, EPOLL_CTL_ADD, q[1], &ev));
    struct epoll_event evs[4];
    CHECK_EQ(wait0(ep, evs, 4), 2);
    int seen = 0;
    for (int i = 0; i < 2; i++) {
        CHECK_EQ(evs[i].events, EPOLLOUT);
        if (evs[i].data.u64 == 0xfedcba9876543210ULL) seen |= 1;
        if (evs[i].data.ptr == &ev) seen |= 2;
    }
    CHECK_EQ(seen, 3);
    /* MOD replaces the data. */
    struct epoll_event m = {.events = EPOLLOUT, .data.u64 = 5};
    CHECK_OK(epoll_ctl(ep, EPOLL_CTL_MOD, p[1], &m));
    CHECK_OK(epoll_ctl(ep, EPOLL_CTL_DEL, q[1], NULL));
    CHECK_EQ(wait0(ep, evs, 4), 1);
    CHECK_EQ(evs[0].data.u64, 5);
}

TEST(hup_err_and_out_events) {
    int ep = CHECK_OK(epoll_create1(0));
    int p[2];
    CHECK_OK(pipe(p));
    add(ep, p[0], EPOLLIN, 0);
    add(ep, p[1], EPOLLOUT, 1);
    struct epoll_event evs[4];
    CHECK_EQ(wait0(ep, evs, 4), 1);
    CHECK_EQ(evs[0].data.u64, 1);
    CHECK_EQ(evs[0].events, EPOLLOUT);
    int q[2];
    CHECK_OK(pipe(q));
    add(ep, q[0], EPOLLIN, 2);
    close(q[1]);
    CHECK_EQ(wait0(ep, evs, 4), 2);
    for (int i = 0; i < 2; i++)
        if (evs[i].data.u64 == 2) CHECK_EQ(evs[i].events, EPOLLHUP);
}

TEST(rdhup_on_socket_shutdown) {
    int ep = CHECK_OK(epoll_create1(0));
    int sv[2];
    CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    add(ep, sv[0], EPOLLIN | EPOLLRDHUP, 9);
    struct epoll_event evs[2];
    CHECK_EQ(wait0(ep, evs, 2), 0);
    CHECK_OK(shutdown(sv[1], SHUT_WR));
    CHECK_EQ(wait0(ep, evs, 2), 1);
    CHECK_EQ(evs[0].events, EPOLLIN | EPOLLRDHUP);
}

static volatile sig_atomic_t usr1_hits;
static void epoll_usr1(int sig) {
    (void)sig;
    usr1_hits++;
}

TEST(epoll_pwait_sigmask) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    int ep = CHECK_OK(epoll_create1(0));
    int p[2];
    CHECK_OK(pipe(p));
    add(ep, p[0], EPOLLIN, 0);
    sigset_t blk, empty, cur;
    sigemptyset(&blk);
    sigaddset(&blk, SIGUSR1);
    sigemptyset(&empty);
    CHECK_OK(sigprocmask(SIG_BLOCK, &blk, NULL));
    sa.sa_handler = epoll_usr1;
    CHECK_OK(sigaction(SIGUSR1, &sa, NULL));
    CHECK_OK(raise(SIGUSR1));
    struct epoll_event evs[2];
    CHECK_ERR(epoll_pwait(ep, evs, 2, 10000, &empty), EINTR);
    CHECK_OK(sigprocmask(SIG_BLOCK, NULL, &cur));
    CHECK(sigismember(&cur, SIGUSR1));
    CHECK_EQ(usr1_hits, 1);
    /* With the signal blocked by the given mask, it stays pending. */
    CHECK_OK(raise(SIGUSR1));
    CHECK_EQ(epoll_pwait(ep, evs, 2, 20, &blk), 0);
    sigset_t pend;
    sigpending(&pend);
    CHECK(sigismember(&pend, SIGUSR1));
}


TEST(closed_fd_removed_unless_duplicated) {
    int ep = CHECK_OK(epoll_create1(0));
    int p[2], q[2];
    CHECK_OK(pipe(p));
    CHECK_OK(pipe(q));
    add(ep, p[0], EPOLLIN, 1);
    add(ep, q[0], EPOLLIN, 2);
    int qdup = CHECK_OK(dup(q[0]));
    CHECK_EQ(write(p[1], "a", 1), 1);
    CHECK_EQ(write(q[1], "b", 1), 1);
    close(p[0]); /* last reference: gone from the set */
    close(q[0]); /* still open via qdup: stays registered */
    struct epoll_event evs[4];
    CHECK_EQ(wait0(ep, evs, 4), 1);
    CHECK_EQ(evs[0].data.u64, 2);
    /* The closed fd number cannot be used to remove it. */
    CHECK_ERR(epoll_ctl(ep, EPOLL_CTL_DEL, q[0], NULL), EBADF);
    close(qdup);
    CHECK_EQ(wait0(ep, evs, 4), 0);
}

TEST(nested_epoll_readiness_and_loop) {
    int inner = CHECK_OK(epoll_create1(0));
    int outer = CHECK_OK(epoll_create1(0));
    int p[2];
    CHECK_OK(pipe(p));
    add(inner, p[0], EPOLLIN, 1);
    add(outer, inner, EPOLLIN, 2);
    struct epoll_event evs[2];
    CHECK_EQ(wait0(outer, evs, 2), 0);
    CHECK_EQ(write(p[1], "x", 1), 1);
    CHECK_EQ(wait0(outer, evs, 2), 1);
    CHECK_EQ(evs[0].data.u64, 2);
    CHECK_EQ(evs[0].events, EPOLLIN);
    struct pollfd pf = {inner, POLLIN, 0};
    CHECK_EQ(poll(&pf, 1, 0), 1);
    CHECK_EQ(pf.revents, POLLIN);
    /* A cycle is refused. */
    struct epoll_event ev = {.events = EPOLLIN};
    CHECK_ERR(epoll_ctl(inner, EPOLL_CTL_ADD, outer, &ev), ELOOP);
}

TEST(maxevents_einval_and_limit) {
    int ep = CHECK_OK(epoll_create1(0));
    struct epoll_event evs[4];
    CHECK_ERR(epoll_wait(ep, evs, 0, 0), EINVAL);
    CHECK_ERR(syscall(SYS_epoll_wait, ep, evs, -1, 0), EINVAL);
    int notep = CHECK_OK(open("/dev/null", O_RDONLY));
    CHECK_ERR(epoll_wait(notep, evs, 1, 0), EINVAL);
    int p[3][2];
    for (int i = 0; i < 3; i++) {
        CHECK_OK(pipe(p[i]));
        add(ep, p[i][1], EPOLLOUT, i);
    }
    /* Only maxevents are returned; the rest come next time. */
    CHECK_EQ(wait0(ep, evs, 2), 2);
    int seen = (1 << evs[0].data.u64) | (1 << evs[1].data.u64);
    CHECK_EQ(wait0(ep, evs, 1), 1);
    seen |= 1 << evs[0].data.u64;
    CHECK_EQ(seen, 7);
}

TEST(epoll_wait_timeout_and_wakeup) {
    int ep = CHECK_OK(epoll_create1(0));
    int p[2];
    CHECK_OK(pipe(p));
    add(ep, p[0], EPOLLIN, 0);
    struct epoll_event evs[2];
    long long t0 = mono_ms();
    CHECK_EQ(epoll_wait(ep, evs, 2, 40), 0);
    CHECK(mono_ms() - t0 >= 40);
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) _exit(write(p[1], "x", 1) == 1 ? 0 : 1);
    CHECK_EQ(epoll_wait(ep, evs, 2, -1), 1);
    CHECK_EQ(evs[0].events, EPOLLIN);
    CHECK_EQ(st_wait(pid), 0);
}

TEST(epoll_pwait2_timespec) {
#ifdef SYS_epoll_pwait2
    int ep = CHECK_OK(epoll_create1(0));
    struct epoll_event evs[2];
    struct timespec ts = {0, 30 * 1000 * 1000};
    long long t0 = mono_ms();
    long r = syscall(SYS_epoll_pwait2, ep, evs, 2, &ts, NULL, 8);
    if (r < 0 && errno == ENOSYS) SKIP("epoll_pwait2 not in this kernel (needs Linux 5.11)");
    CHECK_EQ(r, 0);
    CHECK(mono_ms() - t0 >= 30);
    ts.tv_nsec = -1;
    CHECK_ERR(syscall(SYS_epoll_pwait2, ep, evs, 2, &ts, NULL, 8), EINVAL);
#else
    SKIP("SYS_epoll_pwait2 not in these headers");
#endif
}
