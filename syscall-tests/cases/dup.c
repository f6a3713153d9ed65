/* dup, dup2, dup3, close, close_range. */
#define AREA "dup"
#define ST_HARNESS_MAIN
#include "harness.h"

#include <sys/resource.h>
#include <sys/syscall.h>

#ifndef CLOSE_RANGE_UNSHARE
#define CLOSE_RANGE_UNSHARE (1U << 1)
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

static int lowest_free_fd(void) {
    int fd = CHECK_OK(open("/dev/null", O_RDONLY));
    close(fd);
    return fd;
}

static int is_open(int fd) { return fcntl(fd, F_GETFD) >= 0; }

static ino_t ino_of(int fd) {
    struct stat st;
    CHECK_OK(fstat(fd, &st));
    return st.st_ino;
}

static int new_file(const char *name) {
    return CHECK_OK(open(tmp_path(name), O_CREAT | O_RDWR | O_TRUNC, 0644));
}

TEST(dup_returns_lowest_free) {
    int a = new_file("a");
    int low = lowest_free_fd();
    CHECK_EQ(dup(a), low);
    int next = lowest_free_fd();
    CHECK(next > low);
    /* Free a hole below: dup fills it. */
    int b = CHECK_OK(dup(a));
    int c = CHECK_OK(dup(a));
    CHECK_OK(close(b));
    CHECK_EQ(dup(c), b);
    CHECK_EQ(ino_of(b), ino_of(a));
    /* dup clears FD_CLOEXEC on the copy. */
    CHECK_OK(fcntl(a, F_SETFD, FD_CLOEXEC));
    int d = CHECK_OK(dup(a));
    CHECK_EQ(fcntl(d, F_GETFD), 0);
}

TEST(dup2_same_fd) {
    int a = new_file("a");
    CHECK_OK(fcntl(a, F_SETFD, FD_CLOEXEC));
    CHECK_EQ(dup2(a, a), a);
    /* A no-op: the descriptor flags are untouched. */
    CHECK_EQ(fcntl(a, F_GETFD), FD_CLOEXEC);
    int closed = lowest_free_fd();
    CHECK_ERR(dup2(closed, closed), EBADF);
}

TEST(dup2_replaces_target) {
    int a = new_file("a");
    int b = new_file("b");
    CHECK_EQ(write(b, "bbbb", 4), 4);
    CHECK(ino_of(a) != ino_of(b));
    CHECK_OK(fcntl(b, F_SETFD, FD_CLOEXEC));
    CHECK_EQ(dup2(a, b), b);
    /* b now refers to a's file; the old b was closed silently. */
    CHECK_EQ(ino_of(b), ino_of(a));
    CHECK_EQ(fcntl(b, F_GETFD), 0);
    CHECK_EQ(write(b, "x", 1), 1);
    struct stat st;
    CHECK_OK(stat(tmp_path("a"), &st));
    CHECK_EQ(st.st_size, 1);
    CHECK_OK(stat(tmp_path("b"), &st));
    CHECK_EQ(st.st_size, 4);
    /* A target far above the current table. */
    CHECK_EQ(dup2(a, 500), 500);
    CHECK_EQ(ino_of(500), ino_of(a));
}

TEST(dup3_flags) {
    int a = new_file("a");
    int t = lowest_free_fd() + 10;
    CHECK_EQ(dup3(a, t, O_CLOEXEC), t);
    CHECK_EQ(fcntl(t, F_GETFD), FD_CLOEXEC);
    CHECK_EQ(dup3(a, t, 0), t);
    CHECK_EQ(fcntl(t, F_GETFD), 0);
    CHECK_ERR(dup3(a, a, 0), EINVAL);
    CHECK_ERR(dup3(a, a, O_CLOEXEC), EINVAL);
    CHECK_ERR(dup3(a, t, O_NONBLOCK), EINVAL);
    CHECK_ERR(dup3(a, t + 1, 0x1234), EINVAL);
    CHECK(!is_open(t + 1));
}

TEST(dups_share_offset_and_status_flags) {
    int a = new_file("a");
    int b = CHECK_OK(dup(a));
    CHECK_EQ(write(a, "hello", 5), 5);
    CHECK_EQ(lseek(b, 0, SEEK_CUR), 5);
    CHECK_EQ(lseek(b, 1, SEEK_SET), 1);
    char buf[8] = {0};
    CHECK_EQ(read(a, buf, 2), 2);
    CHECK_STR(buf, "el");
    CHECK_EQ(lseek(b, 0, SEEK_CUR), 3);
    CHECK_OK(fcntl(b, F_SETFL, O_APPEND));
    CHECK(fcntl(a, F_GETFL) & O_APPEND);
    /* Closing one copy leaves the other working. */
    CHECK_OK(close(a));
    CHECK_EQ(write(b, "!", 1), 1);
    CHECK_EQ(pread(b, buf, 8, 0), 6);
    /* A separate open has its own offset. */
    int c = CHECK_OK(open(tmp_path("a"), O_RDONLY));
    CHECK_EQ(lseek(c, 0, SEEK_CUR), 0);
}

TEST(bad_descriptors) {
    int closed = lowest_free_fd();
    int a = new_file("a");
    CHECK_ERR(dup(-1), EBADF);
    CHECK_ERR(dup(closed + 100), EBADF);
    CHECK_ERR(dup2(a, -1), EBADF);
    CHECK_ERR(dup2(-1, a), EBADF);
    CHECK(is_open(a)); /* a failed dup2 does not close the target */
    struct rlimit rl;
    CHECK_OK(getrlimit(RLIMIT_NOFILE, &rl));
    CHECK_ERR(dup2(a, (int)rl.rlim_cur), EBADF);
    CHECK_ERR(dup3(a, (int)rl.rlim_cur, 0), EBADF);
    CHECK_OK(close(a));
    CHECK_ERR(close(a), EBADF);
    CHECK_ERR(close(-1), EBADF);
}

TEST(dup_emfile) {
    int high = 2;
    for (int fd = 0; fd < 4096; fd++)
        if (is_open(fd)) high = fd;
    int lim = high + 8;
    struct rlimit old;
    CHECK_OK(getrlimit(RLIMIT_NOFILE, &old));
    if (old.rlim_max < (rlim_t)lim) SKIP("RLIMIT_NOFILE hard limit too low");
    struct rlimit rl = {lim, old.rlim_max};
    CHECK_OK(setrlimit(RLIMIT_NOFILE, &rl));
    int a = CHECK_OK(open("/dev/null", O_RDONLY));
    int last = -1;
    for (;;) {
        int d = dup(a);
        if (d < 0) {
            CHECK_EQ(errno, EMFILE);
            break;
        }
        CHECK(d < lim);
        last = d;
    }
    CHECK_EQ(last, lim - 1);
    CHECK_ERR(fcntl(a, F_DUPFD, 0), EMFILE);
    CHECK_ERR(open("/dev/null", O_RDONLY), EMFILE);
    /* dup2 onto an existing descriptor below the limit still works. */
    CHECK_EQ(dup2(a, lim - 1), lim - 1);
    CHECK_OK(close(lim - 1));
    CHECK_EQ(dup(a), lim - 1);
}

TEST(close_range_plain) {
    int a = new_file("a");
    for (int fd = 50; fd <= 55; fd++) CHECK_EQ(dup2(a, fd), fd);
    CHECK_OK(syscall(SYS_close_range, 51, 53, 0));
    CHECK(is_open(50));
    CHECK(!is_open(51));
    CHECK(!is_open(52));
    CHECK(!is_open(53));
    CHECK(is_open(54));
    CHECK(is_open(55));
    /* Closing a range of already-closed descriptors is fine. */
    CHECK_OK(syscall(SYS_close_range, 51, 53, 0));
    /* ~0U as the upper bound closes everything from 54 up. */
    CHECK_EQ(dup2(a, 700), 700);
    CHECK_OK(syscall(SYS_close_range, 54, ~0U, 0));
    CHECK(!is_open(54));
    CHECK(!is_open(55));
    CHECK(!is_open(700));
    CHECK(is_open(50));
    CHECK(is_open(a));
}

TEST(close_range_cloexec) {
    int a = new_file("a");
    for (int fd = 60; fd <= 63; fd++) CHECK_EQ(dup2(a, fd), fd);
    CHECK_OK(syscall(SYS_close_range, 61, 62, CLOSE_RANGE_CLOEXEC));
    CHECK_EQ(fcntl(60, F_GETFD), 0);
    CHECK_EQ(fcntl(61, F_GETFD), FD_CLOEXEC);
    CHECK_EQ(fcntl(62, F_GETFD), FD_CLOEXEC);
    CHECK_EQ(fcntl(63, F_GETFD), 0);
    CHECK_EQ(write(61, "ok", 2), 2); /* still open */
}

TEST(close_range_errors_and_unshare) {
    int a = new_file("a");
    CHECK_ERR(syscall(SYS_close_range, 10, 5, 0), EINVAL);
    CHECK_ERR(syscall(SYS_close_range, 0, ~0U, 0x80), EINVAL);
    CHECK_EQ(dup2(a, 70), 70);
    CHECK_EQ(dup2(a, 71), 71);
    CHECK_OK(syscall(SYS_close_range, 70, 70, CLOSE_RANGE_UNSHARE));
    CHECK(!is_open(70));
    CHECK(is_open(71));
    CHECK_OK(syscall(SYS_close_range, 71, 71, CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC));
    CHECK_EQ(fcntl(71, F_GETFD), FD_CLOEXEC);
}

TEST(fd_table_copied_on_fork) {
    int a = new_file("a");
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        /* Closing in the child does not affect the parent, but the offset
         * is shared through the open file description. */
        CHECK_EQ(write(a, "child", 5), 5);
        CHECK_OK(close(a));
        _exit(0);
    }
    int st = st_wait(pid);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CHECK(is_open(a));
    CHECK_EQ(lseek(a, 0, SEEK_CUR), 5);
}
