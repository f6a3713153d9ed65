/* Pipes and FIFOs: data flow, EOF, EPIPE/SIGPIPE, non-blocking behaviour,
 * capacity, PIPE_BUF atomicity, readiness, packet mode. */
#define AREA "pipes"
#define ST_HARNESS_MAIN
#include "harness.h"

#include <limits.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <sys/uio.h>

static void child_ok(pid_t pid) {
    int st = st_wait(pid);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 77) _exit(77);
    if (WIFEXITED(st)) FAIL("helper child exited with %d", WEXITSTATUS(st));
    FAIL("helper child killed by signal %d", WTERMSIG(st));
}

static ssize_t readn(int fd, void *buf, size_t n) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, (char *)buf + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return -1;
        if (r == 0) break;
        got += r;
    }
    return got;
}

/* Fill a non-blocking pipe; returns the number of bytes it took. */
static long fill_pipe(int wfd) {
    static char buf[4096];
    long total = 0;
    for (;;) {
        ssize_t r = write(wfd, buf, sizeof buf);
        if (r < 0) {
            CHECK_EQ(errno, EAGAIN);
            break;
        }
        total += r;
    }
    /* Top up byte-wise in case the last page was partly free. */
    for (;;) {
        ssize_t r = write(wfd, buf, 1);
        if (r < 0) {
            CHECK_EQ(errno, EAGAIN);
            break;
        }
        total += r;
    }
    return total;
}

static short revents(int fd, short events) {
    struct pollfd p = {.fd = fd, .events = events};
    CHECK_OK(poll(&p, 1, 0));
    return p.revents;
}

TEST(write_then_read) {
    int p[2];
    CHECK_OK(pipe(p));
    CHECK(p[0] != p[1]);
    CHECK_EQ(write(p[1], "hello", 5), 5);
    CHECK_EQ(write(p[1], " world", 6), 6);
    char buf[32] = {0};
    CHECK_EQ(read(p[0], buf, sizeof buf), 11);
    CHECK_STR(buf, "hello world");
    struct stat st;
    CHECK_OK(fstat(p[0], &st));
    CHECK(S_ISFIFO(st.st_mode));
    CHECK_EQ(fcntl(p[0], F_GETFL) & O_ACCMODE, O_RDONLY);
    CHECK_EQ(fcntl(p[1], F_GETFL) & O_ACCMODE, O_WRONLY);
    CHECK_EQ(fcntl(p[0], F_GETFD), 0);
}

TEST(pipe2_flags) {
    int p[2];
    CHECK_OK(pipe2(p, O_CLOEXEC | O_NONBLOCK));
    CHECK_EQ(fcntl(p[0], F_GETFD), FD_CLOEXEC);
    CHECK_EQ(fcntl(p[1], F_GETFD), FD_CLOEXEC);
    CHECK(fcntl(p[0], F_GETFL) & O_NONBLOCK);
    CHECK(fcntl(p[1], F_GETFL) & O_NONBLOCK);
    int q[2] = {-1, -1};
    CHECK_ERR(pipe2(q, O_APPEND), EINVAL);
    CHECK_ERR(pipe2(q, 0x40000000), EINVAL);
    CHECK_EQ(q[0], -1);
    CHECK_ERR(syscall(SYS_pipe2, (void *)1, 0), EFAULT);
}

TEST(wrong_end_ebadf) {
    int p[2];
    CHECK_OK(pipe(p));
    char c = 'x';
    CHECK_ERR(write(p[0], &c, 1), EBADF);
    CHECK_ERR(read(p[1], &c, 1), EBADF);
    CHECK_ERR(lseek(p[0], 0, SEEK_SET), ESPIPE);
    CHECK_ERR(pread(p[0], &c, 1, 0), ESPIPE);
    CHECK_ERR(pwrite(p[1], &c, 1, 0), ESPIPE);
}

TEST(eof_after_all_writers_close) {
    int p[2];
    CHECK_OK(pipe(p));
    int w2 = CHECK_OK(dup(p[1]));
    CHECK_EQ(write(p[1], "ab", 2), 2);
    CHECK_OK(close(p[1]));
    char buf[8];
    CHECK_EQ(read(p[0], buf, sizeof buf), 2);
    /* Another writer is still open: a non-blocking read says EAGAIN, not EOF. */
    CHECK_OK(fcntl(p[0], F_SETFL, O_NONBLOCK));
    CHECK_ERR(read(p[0], buf, sizeof buf), EAGAIN);
    CHECK_OK(close(w2));
    CHECK_EQ(read(p[0], buf, sizeof buf), 0);
    CHECK_EQ(read(p[0], buf, sizeof buf), 0);
}

TEST(partial_reads) {
    int p[2];
    CHECK_OK(pipe(p));
    CHECK_EQ(write(p[1], "0123456789", 10), 10);
    char buf[100];
    CHECK_EQ(read(p[0], buf, 4), 4);
    CHECK(memcmp(buf, "0123", 4) == 0);
    CHECK_EQ(read(p[0], buf, 100), 6); /* returns what is there, no waiting */
    CHECK(memcmp(buf, "456789", 6) == 0);
    CHECK_EQ(read(p[0], buf, 0), 0);
}

TEST(sigpipe_kills_by_default) {
    int p[2];
    CHECK_OK(pipe(p));
    CHECK_OK(close(p[0]));
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        signal(SIGPIPE, SIG_DFL);
        ssize_t r = write(p[1], "x", 1);
        (void)r;
        _exit(3); /* should not get here */
    }
    int st = st_wait(pid);
    CHECK(WIFSIGNALED(st));
    CHECK_EQ(WTERMSIG(st), SIGPIPE);
}

TEST(epipe_when_sigpipe_ignored) {
    int p[2];
    CHECK_OK(pipe(p));
    CHECK_OK(close(p[0]));
    signal(SIGPIPE, SIG_IGN);
    CHECK_ERR(write(p[1], "x", 1), EPIPE);
    struct iovec iov = {.iov_base = "yz", .iov_len = 2};
    CHECK_ERR(writev(p[1], &iov, 1), EPIPE);
}

static volatile sig_atomic_t got_sigpipe;
static void on_sigpipe(int s) { (void)s; got_sigpipe++; }

TEST(sigpipe_handler_then_epipe) {
    int p[2];
    CHECK_OK(pipe(p));
    CHECK_OK(close(p[0]));
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigpipe;
    CHECK_OK(sigaction(SIGPIPE, &sa, NULL));
    CHECK_ERR(write(p[1], "x", 1), EPIPE);
    CHECK_EQ(got_sigpipe, 1);
    /* Blocked SIGPIPE: EPIPE and the signal stays pending. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    CHECK_OK(sigprocmask(SIG_BLOCK, &set, NULL));
    CHECK_ERR(write(p[1], "x", 1), EPIPE);
    sigset_t pend;
    CHECK_OK(sigpending(&pend));
    CHECK(sigismember(&pend, SIGPIPE));
    CHECK_EQ(got_sigpipe, 1);
}

TEST(nonblock_empty_read_eagain) {
    int p[2];
    CHECK_OK(pipe2(p, O_NONBLOCK));
    char c;
    CHECK_ERR(read(p[0], &c, 1), EAGAIN);
    CHECK_EQ(write(p[1], "q", 1), 1);
    CHECK_EQ(read(p[0], &c, 1), 1);
    CHECK_EQ(c, 'q');
    CHECK_ERR(read(p[0], &c, 1), EAGAIN);
}

TEST(default_capacity_and_full_write) {
    int p[2];
    CHECK_OK(pipe2(p, O_NONBLOCK));
    CHECK_EQ(fcntl(p[1], F_GETPIPE_SZ), 65536);
    CHECK_EQ(fill_pipe(p[1]), 65536);
    char c = 0;
    CHECK_ERR(write(p[1], &c, 1), EAGAIN);
    int n = -1;
    CHECK_OK(ioctl(p[0], FIONREAD, &n));
    CHECK_EQ(n, 65536);
    /* Draining one page makes room again. */
    static char buf[4096];
    CHECK_EQ(read(p[0], buf, sizeof buf), 4096);
    CHECK_EQ(write(p[1], buf, sizeof buf), 4096);
}

TEST(pipe_buf_write_is_atomic_when_nonblocking) {
    CHECK_EQ(PIPE_BUF, 4096);
    int p[2];
    CHECK_OK(pipe2(p, O_NONBLOCK));
    static char big[65536 - 100];
    memset(big, 'b', sizeof big);
    CHECK_EQ(write(p[1], big, sizeof big), (ssize_t)sizeof big);
    /* Only 100 bytes free: a PIPE_BUF-sized write must not be split. */
    static char msg[PIPE_BUF];
    memset(msg, 'm', sizeof msg);
    CHECK_ERR(write(p[1], msg, sizeof msg), EAGAIN);
    int n = -1;
    CHECK_OK(ioctl(p[0], FIONREAD, &n));
    CHECK_EQ(n, (int)sizeof big);
}

TEST(pipe_buf_writes_do_not_interleave) {
    int p[2];
    CHECK_OK(pipe(p));
    enum { WRITERS = 3, MSGS = 64 };
    pid_t pids[WRITERS];
    for (int w = 0; w < WRITERS; w++) {
        pids[w] = CHECK_OK(fork());
        if (pids[w] == 0) {
            close(p[0]);
            static char msg[PIPE_BUF];
            memset(msg, 'A' + w, sizeof msg);
            for (int i = 0; i < MSGS; i++)
                if (write(p[1], msg, sizeof msg) != (ssize_t)sizeof msg) _exit(2);
            _exit(0);
        }
    }
    close(p[1]);
    static char buf[PIPE_BUF];
    int counts[WRITERS] = {0};
    for (int i = 0; i < WRITERS * MSGS; i++) {
        CHECK_EQ(readn(p[0], buf, sizeof buf), PIPE_BUF);
        int w = buf[0] - 'A';
        CHECK(w >= 0 && w < WRITERS);
        for (int j = 1; j < PIPE_BUF; j++)
            if (buf[j] != buf[0]) FAIL("message %d interleaved at byte %d", i, j);
        counts[w]++;
    }
    CHECK_EQ(read(p[0], buf, 1), 0);
    for (int w = 0; w < WRITERS; w++) {
        CHECK_EQ(counts[w], MSGS);
        child_ok(pids[w]);
    }
}

TEST(fionread_counts_unread_bytes) {
    int p[2];
    CHECK_OK(pipe(p));
    int n = -1;
    CHECK_OK(ioctl(p[0], FIONREAD, &n));
    CHECK_EQ(n, 0);
    char buf[200];
    memset(buf, 'x', sizeof buf);
    CHECK_EQ(write(p[1], buf, 123), 123);
    CHECK_OK(ioctl(p[0], FIONREAD, &n));
    CHECK_EQ(n, 123);
    CHECK_EQ(read(p[0], buf, 23), 23);
    CHECK_OK(ioctl(p[0], FIONREAD, &n));
    CHECK_EQ(n, 100);
}

TEST(poll_readiness) {
    int p[2];
    CHECK_OK(pipe2(p, O_NONBLOCK));
    CHECK_EQ(revents(p[0], POLLIN), 0);
    CHECK_EQ(revents(p[1], POLLOUT), POLLOUT);
    CHECK_EQ(write(p[1], "x", 1), 1);
    CHECK_EQ(revents(p[0], POLLIN), POLLIN);
    fill_pipe(p[1]);
    CHECK_EQ(revents(p[1], POLLOUT), 0);
    /* Writer gone: reader sees POLLHUP (with the data still POLLIN). */
    int w = p[1];
    int r2[2];
    CHECK_OK(pipe(r2));
    close(w);
    CHECK_EQ(revents(p[0], POLLIN), POLLIN | POLLHUP);
    /* An empty pipe with no writer: only POLLHUP. */
    CHECK_OK(close(r2[1]));
    CHECK_EQ(revents(r2[0], POLLIN), POLLHUP);
    /* Reader gone: writer sees POLLERR. */
    int q[2];
    CHECK_OK(pipe(q));
    close(q[0]);
    CHECK(revents(q[1], POLLOUT) & POLLERR);
}

TEST(select_readiness) {
    int p[2];
    CHECK_OK(pipe(p));
    fd_set rs, ws;
    struct timeval tv = {0, 0};
    FD_ZERO(&rs);
    FD_ZERO(&ws);
    FD_SET(p[0], &rs);
    FD_SET(p[1], &ws);
    CHECK_EQ(select(p[0] > p[1] ? p[0] + 1 : p[1] + 1, &rs, &ws, NULL, &tv), 1);
    CHECK(!FD_ISSET(p[0], &rs));
    CHECK(FD_ISSET(p[1], &ws));
    CHECK_EQ(write(p[1], "x", 1), 1);
    FD_ZERO(&rs);
    FD_SET(p[0], &rs);
    tv.tv_sec = 5;
    CHECK_EQ(select(p[0] + 1, &rs, NULL, NULL, &tv), 1);
    CHECK(FD_ISSET(p[0], &rs));
}

TEST(blocking_read_wakes_on_write) {
    int p[2], back[2];
    CHECK_OK(pipe(p));
    CHECK_OK(pipe(back));
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        close(p[1]);
        char buf[16] = {0};
        CHECK_EQ(read(p[0], buf, sizeof buf), 4); /* blocks until the parent writes */
        CHECK_STR(buf, "ping");
        CHECK_EQ(write(back[1], "pong", 4), 4);
        CHECK_EQ(read(p[0], buf, sizeof buf), 0); /* EOF once the parent closes */
        _exit(0);
    }
    close(p[0]);
    close(back[1]);
    CHECK_EQ(write(p[1], "ping", 4), 4);
    char buf[16] = {0};
    CHECK_EQ(readn(back[0], buf, 4), 4);
    CHECK_STR(buf, "pong");
    close(p[1]);
    child_ok(pid);
    CHECK_EQ(read(back[0], buf, sizeof buf), 0);
}

TEST(blocking_write_wakes_on_read) {
    int p[2];
    CHECK_OK(pipe(p));
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        close(p[0]);
        /* 200 KiB: far more than the pipe holds, so this blocks. */
        static char buf[200 * 1024];
        for (size_t i = 0; i < sizeof buf; i++) buf[i] = (char)(i % 251);
        CHECK_EQ(write(p[1], buf, sizeof buf), (ssize_t)sizeof buf);
        _exit(0);
    }
    close(p[1]);
    static char got[200 * 1024];
    CHECK_EQ(readn(p[0], got, sizeof got), (ssize_t)sizeof got);
    for (size_t i = 0; i < sizeof got; i++)
        if (got[i] != (char)(i % 251)) FAIL("byte %zu corrupted", i);
    child_ok(pid);
}

TEST(readv_writev) {
    int p[2];
    CHECK_OK(pipe(p));
    struct iovec w[3] = {{"abc", 3}, {"", 0}, {"defgh", 5}};
    CHECK_EQ(writev(p[1], w, 3), 8);
    char a[2], b[10] = {0};
    struct iovec r[2] = {{a, 2}, {b, 10}};
    CHECK_EQ(readv(p[0], r, 2), 8);
    CHECK(a[0] == 'a' && a[1] == 'b');
    CHECK_STR(b, "cdefgh");
}

TEST(packet_mode_o_direct) {
    int p[2];
    if (pipe2(p, O_DIRECT) < 0) {
        if (errno == EINVAL) SKIP("O_DIRECT pipes unsupported by this kernel");
        FAIL("pipe2(O_DIRECT): %s", strerrorname_np(errno));
    }
    CHECK(fcntl(p[1], F_GETFL) & O_DIRECT);
    CHECK_EQ(write(p[1], "abc", 3), 3);
    CHECK_EQ(write(p[1], "defgh", 5), 5);
    char buf[100];
    CHECK_EQ(read(p[0], buf, sizeof buf), 3);
    CHECK(memcmp(buf, "abc", 3) == 0);
    /* A short read discards the rest of the packet. */
    CHECK_EQ(read(p[0], buf, 2), 2);
    CHECK(memcmp(buf, "de", 2) == 0);
    CHECK_EQ(write(p[1], "xyz", 3), 3);
    CHECK_EQ(read(p[0], buf, sizeof buf), 3);
    CHECK(memcmp(buf, "xyz", 3) == 0);
}

TEST(tee_copies_without_consuming) {
    int a[2], b[2];
    CHECK_OK(pipe(a));
    CHECK_OK(pipe(b));
    CHECK_EQ(write(a[1], "teedata", 7), 7);
    CHECK_EQ(tee(a[0], b[1], 100, 0), 7);
    char buf[16] = {0};
    CHECK_EQ(read(b[0], buf, sizeof buf), 7);
    CHECK_STR(buf, "teedata");
    memset(buf, 0, sizeof buf);
    CHECK_EQ(read(a[0], buf, sizeof buf), 7);
    CHECK_STR(buf, "teedata");
    int fd = CHECK_OK(open("/dev/null", O_RDWR));
    CHECK_ERR(tee(fd, b[1], 10, 0), EINVAL);
}

TEST(fifo_open_semantics) {
    CHECK_OK(mkfifo(tmp_path("fifo"), 0600));
    struct stat st;
    CHECK_OK(stat(tmp_path("fifo"), &st));
    CHECK(S_ISFIFO(st.st_mode));
    /* No reader: non-blocking open for writing fails with ENXIO. */
    CHECK_ERR(open(tmp_path("fifo"), O_WRONLY | O_NONBLOCK), ENXIO);
    /* Non-blocking open for reading succeeds without a writer. */
    int r = CHECK_OK(open(tmp_path("fifo"), O_RDONLY | O_NONBLOCK));
    int w = CHECK_OK(open(tmp_path("fifo"), O_WRONLY | O_NONBLOCK));
    CHECK_EQ(write(w, "fifo", 4), 4);
    char buf[8] = {0};
    CHECK_EQ(read(r, buf, sizeof buf), 4);
    CHECK_STR(buf, "fifo");
    close(w);
    CHECK_EQ(read(r, buf, sizeof buf), 0);
    /* Blocking open for writing waits for the reader in the child. */
    close(r);
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        int fd = CHECK_OK(open(tmp_path("fifo"), O_RDONLY));
        char b[8] = {0};
        CHECK_EQ(readn(fd, b, 5), 5);
        CHECK_STR(b, "hello");
        _exit(0);
    }
    w = CHECK_OK(open(tmp_path("fifo"), O_WRONLY));
    CHECK_EQ(write(w, "hello", 5), 5);
    close(w);
    child_ok(pid);
}
