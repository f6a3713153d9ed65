/* poll, ppoll, select, pselect6: readiness of pipes, files, sockets;
 * timeouts, signal masks, errors. */
#define AREA "poll"
#define ST_HARNESS_MAIN
#include "harness.h"

#include <poll.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>

static long long mono_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000LL + t.tv_nsec / 1000000;
}

static volatile sig_atomic_t usr1;
static void on_usr1(int sig) {
    (void)sig;
    usr1++;
}

TEST(poll_pipe_pollin_when_data) {
    int p[2];
    CHECK_OK(pipe(p));
    struct pollfd f = {p[0], POLLIN, 0};
    CHECK_EQ(poll(&f, 1, 0), 0);
    CHECK_EQ(f.revents, 0);
    CHECK_EQ(write(p[1], "x", 1), 1);
    CHECK_EQ(poll(&f, 1, 0), 1);
    CHECK_EQ(f.revents, POLLIN);
    /* Asking for POLLOUT only on the read end: nothing. */
    f.events = POLLOUT;
    CHECK_EQ(poll(&f, 1, 0), 0);
}

TEST(poll_pipe_pollout_until_full) {
    int p[2];
    CHECK_OK(pipe2(p, O_NONBLOCK));
    struct pollfd f = {p[1], POLLOUT, 0};
    CHECK_EQ(poll(&f, 1, 0), 1);
    CHECK_EQ(f.revents, POLLOUT);
    char buf[4096];
    memset(buf, 'a', sizeof buf);
    long total = 0;
    for (;;) {
        ssize_t n = write(p[1], buf, sizeof buf);
        if (n < 0) {
            CHECK_EQ(errno, EAGAIN);
            break;
        }
        total += n;
    }
    CHECK(total > 0);
    CHECK_EQ(poll(&f, 1, 0), 0);
    /* Drain everything: writable again. */
    while (read(p[0], buf, sizeof buf) > 0) {}
    CHECK_EQ(poll(&f, 1, 0), 1);
    CHECK_EQ(f.revents, POLLOUT);
}

TEST(poll_pollhup_after_writer_closes) {
    int p[2];
    CHECK_OK(pipe(p));
    CHECK_EQ(write(p[1], "ab", 2), 2);
    close(p[1]);
    struct pollfd f = {p[0], POLLIN, 0};
    CHECK_EQ(poll(&f, 1, 0), 1);
    CHECK_EQ(f.revents, POLLIN | POLLHUP);
    char buf[4];
    CHECK_EQ(read(p[0], buf, sizeof buf), 2);
    CHECK_EQ(poll(&f, 1, 0), 1);
    CHECK_EQ(f.revents, POLLHUP);
    /* POLLHUP is reported even when not requested. */
    f.events = 0;
    CHECK_EQ(poll(&f, 1, 0), 1);
    CHECK_EQ(f.revents, POLLHUP);
}

TEST(poll_pollerr_after_reader_closes) {
    int p[2];
    CHECK_OK(pipe(p));
    close(p[0]);
    struct pollfd f = {p[1], POLLOUT, 0};
    CHECK_EQ(poll(&f, 1, 0), 1);
    CHECK(f.revents & POLLERR);
}

TEST(poll_pollnval_and_negative_fd) {
    int p[2];
    CHECK_OK(pipe(p));
    close(p[1]);
    int bad = p[1];
    struct pollfd f[3] = {{bad, POLLIN, 0}, {-1, POLLIN, 0x55}, {p[0], POLLIN, 0}};
    CHECK_EQ(poll(f, 3, 0), 2);
    CHECK_EQ(f[0].revents, POLLNVAL);
    CHECK_EQ(f[1].revents, 0);
    CHECK_EQ(f[2].revents, POLLHUP);
}

TEST(poll_timeouts) {
    int p[2];
    CHECK_OK(pipe(p));
    struct pollfd f = {p[0], POLLIN, 0};
    long long t0 = mono_ms();
    CHECK_EQ(poll(&f, 1, 0), 0);
    CHECK(mono_ms() - t0 < 1000);
    t0 = mono_ms();
    CHECK_EQ(poll(&f, 1, 50), 0);
    long long ms = mono_ms() - t0;
    CHECK(ms >= 50);
    CHECK(ms < 5000);
    /* No fds at all: just a sleep. */
    t0 = mono_ms();
    CHECK_EQ(poll(NULL, 0, 30), 0);
    CHECK(mono_ms() - t0 >= 30);
}

TEST(poll_wakes_when_data_arrives) {
    int p[2];
    CHECK_OK(pipe(p));
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) _exit(write(p[1], "z", 1) == 1 ? 0 : 1);
    struct pollfd f = {p[0], POLLIN, 0};
    CHECK_EQ(poll(&f, 1, 10000), 1);
    CHECK_EQ(f.revents, POLLIN);
    CHECK_EQ(st_wait(pid), 0);
}

TEST(poll_same_fd_twice_and_devnull) {
    int p[2];
    CHECK_OK(pipe(p));
    CHECK_EQ(write(p[1], "x", 1), 1);
    int dn = CHECK_OK(open("/dev/null", O_RDWR));
    struct pollfd f[3] = {{p[0], POLLIN, 0}, {p[0], POLLIN | POLLOUT, 0}, {dn, POLLIN | POLLOUT, 0}};
    CHECK_EQ(poll(f, 3, 0), 3);
    CHECK_EQ(f[0].revents, POLLIN);
    CHECK_EQ(f[1].revents, POLLIN);
    CHECK_EQ(f[2].revents, POLLIN | POLLOUT);
}

TEST(poll_socketpair_rdhup) {
    int sv[2];
    CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    struct pollfd f = {sv[0], POLLIN | POLLOUT | POLLRDHUP, 0};
    CHECK_EQ(poll(&f, 1, 0), 1);
    CHECK_EQ(f.revents, POLLOUT);
    CHECK_OK(shutdown(sv[1], SHUT_WR));
    CHECK_EQ(poll(&f, 1, 0), 1);
    CHECK_EQ(f.revents, POLLIN | POLLOUT | POLLRDHUP);
    close(sv[1]);
    CHECK_EQ(poll(&f, 1, 0), 1);
    CHECK(f.revents & POLLHUP);
}

TEST(poll_nfds_over_rlimit_einval) {
    struct rlimit rl = {64, 64};
    CHECK_OK(setrlimit(RLIMIT_NOFILE, &rl));
    struct pollfd f[100];
    for (int i = 0; i < 100; i++) {
        f[i].fd = -1;
        f[i].events = 0;
    }
    CHECK_ERR(poll(f, 100, 0), EINVAL);
    CHECK_EQ(poll(f, 64, 0), 0);
    CHECK_ERR(syscall(SYS_poll, (struct pollfd *)8, 1, 0), EFAULT);
}

TEST(ppoll_sigmask_and_timeout) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    CHECK_OK(sigaction(SIGUSR1, &sa, NULL));
    sigset_t blk, empty, cur;
    sigemptyset(&blk);
    sigaddset(&blk, SIGUSR1);
    sigemptyset(&empty);
    CHECK_OK(sigprocmask(SIG_BLOCK, &blk, NULL));
    CHECK_OK(raise(SIGUSR1));
    CHECK_EQ(usr1, 0);
    int p[2];
    CHECK_OK(pipe(p));
    struct pollfd f = {p[0], POLLIN, 0};
    struct timespec ts = {10, 0};
    /* The pending signal is delivered as ppoll swaps in the empty mask. */
    CHECK_ERR(ppoll(&f, 1, &ts, &empty), EINTR);
    CHECK_EQ(usr1, 1);
    CHECK_OK(sigprocmask(SIG_BLOCK, NULL, &cur));
    CHECK(sigismember(&cur, SIGUSR1));
    /* Timeout via timespec. */
    ts.tv_sec = 0;
    ts.tv_nsec = 30 * 1000 * 1000;
    long long t0 = mono_ms();
    CHECK_EQ(ppoll(&f, 1, &ts, NULL), 0);
    CHECK(mono_ms() - t0 >= 30);
    ts.tv_nsec = -1;
    CHECK_ERR(ppoll(&f, 1, &ts, NULL), EINVAL);
}

TEST(select_read_write_sets) {
    int p[2];
    CHECK_OK(pipe(p));
    fd_set r, w;
    FD_ZERO(&r);
    FD_ZERO(&w);
    FD_SET(p[0], &r);
    FD_SET(p[1], &w);
    int nfds = (p[0] > p[1] ? p[0] : p[1]) + 1;
    struct timeval tv = {0, 0};
    CHECK_EQ(select(nfds, &r, &w, NULL, &tv), 1);
    CHECK(!FD_ISSET(p[0], &r));
    CHECK(FD_ISSET(p[1], &w));
    CHECK_EQ(write(p[1], "x", 1), 1);
    FD_ZERO(&r);
    FD_ZERO(&w);
    FD_SET(p[0], &r);
    FD_SET(p[1], &w);
    CHECK_EQ(select(nfds, &r, &w, NULL, &tv), 2);
    CHECK(FD_ISSET(p[0], &r));
    CHECK(FD_ISSET(p[1], &w));
    /* Nothing requested: 0. */
    CHECK_EQ(select(0, NULL, NULL, NULL, &tv), 0);
}

TEST(select_regular_file_always_ready) {
    int fd = CHECK_OK(open(tmp_path("f"), O_CREAT | O_RDWR, 0600));
    fd_set r, w;
    FD_ZERO(&r);
    FD_ZERO(&w);
    FD_SET(fd, &r);
    FD_SET(fd, &w);
    /* Even at EOF of an empty file, and with an infinite timeout. */
    CHECK_EQ(select(fd + 1, &r, &w, NULL, NULL), 2);
    CHECK(FD_ISSET(fd, &r));
    CHECK(FD_ISSET(fd, &w));
    struct pollfd f = {fd, POLLIN | POLLOUT, 0};
    CHECK_EQ(poll(&f, 1, -1), 1);
    CHECK_EQ(f.revents, POLLIN | POLLOUT);
}

TEST(select_errors) {
    int p[2];
    CHECK_OK(pipe(p));
    close(p[1]);
    fd_set r;
    FD_ZERO(&r);
    FD_SET(p[1], &r);
    struct timeval tv = {0, 0};
    CHECK_ERR(select(p[1] + 1, &r, NULL, NULL, &tv), EBADF);
    FD_ZERO(&r);
    CHECK_ERR(select(-1, &r, NULL, NULL, &tv), EINVAL);
    tv.tv_usec = -1;
    CHECK_ERR(select(1, NULL, NULL, NULL, &tv), EINVAL);
}

TEST(select_timeout_updated) {
    int p[2];
    CHECK_OK(pipe(p));
    fd_set r;
    FD_ZERO(&r);
    FD_SET(p[0], &r);
    struct timeval tv = {0, 40000};
    long long t0 = mono_ms();
    CHECK_EQ(select(p[0] + 1, &r, NULL, NULL, &tv), 0);
    CHECK(mono_ms() - t0 >= 40);
    /* Linux writes back the time left: none. */
    CHECK_EQ(tv.tv_sec, 0);
    CHECK_EQ(tv.tv_usec, 0);
    CHECK(!FD_ISSET(p[0], &r));
    /* With data ready early, remaining time stays large. */
    CHECK_EQ(write(p[1], "x", 1), 1);
    FD_SET(p[0], &r);
    tv.tv_sec = 10;
    tv.tv_usec = 0;
    CHECK_EQ(select(p[0] + 1, &r, NULL, NULL, &tv), 1);
    CHECK(tv.tv_sec >= 9);
}

TEST(pselect6_sigmask) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    CHECK_OK(sigaction(SIGUSR1, &sa, NULL));
    sigset_t blk, empty, cur;
    sigemptyset(&blk);
    sigaddset(&blk, SIGUSR1);
    sigemptyset(&empty);
    CHECK_OK(sigprocmask(SIG_BLOCK, &blk, NULL));
    CHECK_OK(raise(SIGUSR1));
    int p[2];
    CHECK_OK(pipe(p));
    fd_set r;
    FD_ZERO(&r);
    FD_SET(p[0], &r);
    struct timespec ts = {10, 0};
    CHECK_ERR(pselect(p[0] + 1, &r, NULL, NULL, &ts, &empty), EINTR);
    CHECK_EQ(usr1, 1);
    CHECK_OK(sigprocmask(SIG_BLOCK, NULL, &cur));
    CHECK(sigismember(&cur, SIGUSR1));
    /* Raw pselect6 with a sigmask argument of {NULL, 8} means no change. */
    struct {
        const sigset_t *ss;
        size_t len;
    } arg = {NULL, 8};
    CHECK_OK(write(p[1], "x", 1));
    FD_ZERO(&r);
    FD_SET(p[0], &r);
    struct timespec zero = {0, 0};
    CHECK_EQ(syscall(SYS_pselect6, p[0] + 1, &r, NULL, NULL, &zero, &arg), 1);
    CHECK(FD_ISSET(p[0], &r));
}
