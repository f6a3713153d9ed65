/* eventfd: counter and semaphore semantics, non-blocking, overflow,
 * errors, poll readiness. */
#define AREA "eventfd"
#define ST_HARNESS_MAIN
#include "harness.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>

static uint64_t rd(int fd) {
    uint64_t v = 0;
    ssize_t n = read(fd, &v, sizeof v);
    if (n != 8) FAIL("eventfd read returned %zd (%s)", n, strerror(errno));
    return v;
}

static void wr(int fd, uint64_t v) {
    ssize_t n = write(fd, &v, sizeof v);
    if (n != 8) FAIL("eventfd write returned %zd (%s)", n, strerror(errno));
}

TEST(counter_semantics) {
    int fd = CHECK_OK(eventfd(5, EFD_NONBLOCK));
    CHECK_EQ(rd(fd), 5);
    uint64_t v;
    CHECK_ERR(read(fd, &v, sizeof v), EAGAIN);
    wr(fd, 3);
    wr(fd, 4);
    CHECK_EQ(rd(fd), 7);
    CHECK_ERR(read(fd, &v, sizeof v), EAGAIN);
    /* Writing 0 is allowed and changes nothing. */
    wr(fd, 0);
    CHECK_ERR(read(fd, &v, sizeof v), EAGAIN);
    /* A larger buffer is fine; 8 bytes are used. */
    wr(fd, 2);
    char big[16];
    CHECK_EQ(read(fd, big, sizeof big), 8);
}

TEST(semaphore_mode) {
    int fd = CHECK_OK(eventfd(3, EFD_SEMAPHORE | EFD_NONBLOCK));
    CHECK_EQ(rd(fd), 1);
    CHECK_EQ(rd(fd), 1);
    CHECK_EQ(rd(fd), 1);
    uint64_t v;
    CHECK_ERR(read(fd, &v, sizeof v), EAGAIN);
    wr(fd, 2);
    CHECK_EQ(rd(fd), 1);
    CHECK_EQ(rd(fd), 1);
    CHECK_ERR(read(fd, &v, sizeof v), EAGAIN);
}

TEST(flags_and_short_buffers) {
    int fd = CHECK_OK(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    CHECK_EQ(fcntl(fd, F_GETFD), FD_CLOEXEC);
    CHECK(fcntl(fd, F_GETFL) & O_NONBLOCK);
    uint32_t small = 1;
    CHECK_ERR(read(fd, &small, sizeof small), EINVAL);
    CHECK_ERR(write(fd, &small, sizeof small), EINVAL);
    CHECK_ERR(eventfd(0, 0x12345), EINVAL);
    CHECK_ERR(syscall(SYS_eventfd2, 0, 0x12345), EINVAL);
    int fd2 = CHECK_OK(syscall(SYS_eventfd, 1));
    CHECK_EQ(rd(fd2), 1);
}

TEST(overflow_blocks_and_max_value) {
    int fd = CHECK_OK(eventfd(0, EFD_NONBLOCK));
    uint64_t max = 0xfffffffffffffffeULL;
    CHECK_ERR(write(fd, &(uint64_t){0xffffffffffffffffULL}, 8), EINVAL);
    wr(fd, max);
    /* The counter is at its maximum: any further add would overflow. */
    uint64_t one = 1;
    CHECK_ERR(write(fd, &one, 8), EAGAIN);
    wr(fd, 0);
    CHECK_EQ(rd(fd), max);
    wr(fd, 1);
    CHECK_ERR(write(fd, &max, 8), EAGAIN);
    CHECK_EQ(rd(fd), 1);
}

TEST(poll_readiness) {
    int fd = CHECK_OK(eventfd(0, EFD_NONBLOCK));
    struct pollfd p = {fd, POLLIN | POLLOUT, 0};
    CHECK_EQ(poll(&p, 1, 0), 1);
    CHECK_EQ(p.revents, POLLOUT);
    wr(fd, 1);
    CHECK_EQ(poll(&p, 1, 0), 1);
    CHECK_EQ(p.revents, POLLIN | POLLOUT);
    wr(fd, 0xfffffffffffffffeULL - 1);
    CHECK_EQ(poll(&p, 1, 0), 1);
    CHECK_EQ(p.revents, POLLIN);
    rd(fd);
    CHECK_EQ(poll(&p, 1, 0), 1);
    CHECK_EQ(p.revents, POLLOUT);
}

TEST(blocking_read_woken_by_write) {
    int fd = CHECK_OK(eventfd(0, 0));
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        uint64_t v = 42;
        _exit(write(fd, &v, 8) == 8 ? 0 : 1);
    }
    CHECK_EQ(rd(fd), 42);
    CHECK_EQ(st_wait(pid), 0);
}

TEST(blocking_write_woken_by_read) {
    int fd = CHECK_OK(eventfd(0, 0));
    wr(fd, 0xfffffffffffffffeULL);
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        uint64_t v = 5; /* blocks until the parent drains the counter */
        _exit(write(fd, &v, 8) == 8 ? 0 : 1);
    }
    CHECK_EQ(rd(fd), 0xfffffffffffffffeULL);
    CHECK_EQ(st_wait(pid), 0);
    CHECK_EQ(rd(fd), 5);
}
