/* fcntl: descriptor flags, status flags, F_DUPFD*, record locks (POSIX and
 * OFD), pipe size, owner, errors. */
#define AREA "fcntl"
#define ST_HARNESS_MAIN
#include "harness.h"

#include <grp.h>
#include <sys/resource.h>

static void child_ok(pid_t pid) {
    int st = st_wait(pid);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 77) _exit(77);
    if (WIFEXITED(st)) FAIL("helper child exited with %d", WEXITSTATUS(st));
    FAIL("helper child killed by signal %d", WTERMSIG(st));
}

static int make_file(const char *name, int size) {
    int fd = CHECK_OK(open(tmp_path(name), O_CREAT | O_RDWR | O_TRUNC, 0644));
    char buf[256];
    memset(buf, 'a', sizeof buf);
    while (size > 0) {
        int n = size > (int)sizeof buf ? (int)sizeof buf : size;
        CHECK_EQ(write(fd, buf, n), n);
        size -= n;
    }
    return fd;
}

static int setlk(int fd, int cmd, short type, off_t start, off_t len) {
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = type;
    fl.l_whence = SEEK_SET;
    fl.l_start = start;
    fl.l_len = len;
    return fcntl(fd, cmd, &fl);
}

static struct flock getlk(int fd, int cmd, short type, off_t start, off_t len) {
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = type;
    fl.l_whence = SEEK_SET;
    fl.l_start = start;
    fl.l_len = len;
    CHECK_OK(fcntl(fd, cmd, &fl));
    return fl;
}

static void wr_byte(int fd) { CHECK_EQ(write(fd, "x", 1), 1); }
static void rd_byte(int fd) {
    char c;
    CHECK_EQ(read(fd, &c, 1), 1);
}

TEST(fd_cloexec_flag) {
    int fd = CHECK_OK(open("/dev/null", O_RDONLY));
    CHECK_EQ(fcntl(fd, F_GETFD), 0);
    CHECK_OK(fcntl(fd, F_SETFD, FD_CLOEXEC));
    CHECK_EQ(fcntl(fd, F_GETFD), FD_CLOEXEC);
    CHECK_OK(fcntl(fd, F_SETFD, 0));
    CHECK_EQ(fcntl(fd, F_GETFD), 0);
    int fd2 = CHECK_OK(open("/dev/null", O_RDONLY | O_CLOEXEC));
    CHECK_EQ(fcntl(fd2, F_GETFD), FD_CLOEXEC);
    /* The descriptor flag is per descriptor, not shared with a dup. */
    int fd3 = CHECK_OK(dup(fd2));
    CHECK_EQ(fcntl(fd3, F_GETFD), 0);
}

TEST(getfl_access_mode) {
    int fd = make_file("f", 0);
    close(fd);
    fd = CHECK_OK(open(tmp_path("f"), O_RDONLY));
    CHECK_EQ(fcntl(fd, F_GETFL) & O_ACCMODE, O_RDONLY);
    close(fd);
    fd = CHECK_OK(open(tmp_path("f"), O_WRONLY | O_APPEND));
    int fl = CHECK_OK(fcntl(fd, F_GETFL));
    CHECK_EQ(fl & O_ACCMODE, O_WRONLY);
    CHECK(fl & O_APPEND);
    CHECK_EQ(fl & O_NONBLOCK, 0);
    close(fd);
    fd = CHECK_OK(open(tmp_path("f"), O_RDWR | O_NONBLOCK));
    fl = CHECK_OK(fcntl(fd, F_GETFL));
    CHECK_EQ(fl & O_ACCMODE, O_RDWR);
    CHECK(fl & O_NONBLOCK);
    CHECK_EQ(fl & O_APPEND, 0);
    /* O_CREAT/O_TRUNC/O_CLOEXEC are not status flags. */
    CHECK_EQ(fl & (O_CREAT | O_TRUNC | O_EXCL | O_CLOEXEC), 0);
}

TEST(setfl_append) {
    int fd = make_file("f", 10);
    CHECK_OK(fcntl(fd, F_SETFL, O_APPEND));
    CHECK(fcntl(fd, F_GETFL) & O_APPEND);
    CHECK_EQ(lseek(fd, 0, SEEK_SET), 0);
    CHECK_EQ(write(fd, "XY", 2), 2);
    CHECK_EQ(lseek(fd, 0, SEEK_CUR), 12);
    char buf[16];
    CHECK_EQ(pread(fd, buf, sizeof buf, 0), 12);
    CHECK(buf[0] == 'a' && buf[10] == 'X' && buf[11] == 'Y');
    /* Clearing it again: writes land at the offset. */
    CHECK_OK(fcntl(fd, F_SETFL, 0));
    CHECK_EQ(fcntl(fd, F_GETFL) & O_APPEND, 0);
    CHECK_EQ(lseek(fd, 0, SEEK_SET), 0);
    CHECK_EQ(write(fd, "Z", 1), 1);
    CHECK_EQ(pread(fd, buf, sizeof buf, 0), 12);
    CHECK_EQ(buf[0], 'Z');
}

TEST(setfl_nonblock_pipe) {
    int p[2];
    CHECK_OK(pipe(p));
    CHECK_OK(fcntl(p[0], F_SETFL, O_NONBLOCK));
    CHECK(fcntl(p[0], F_GETFL) & O_NONBLOCK);
    char c;
    CHECK_ERR(read(p[0], &c, 1), EAGAIN);
    /* Status flags belong to the open file: a dup sees the change. */
    int d = CHECK_OK(dup(p[0]));
    CHECK(fcntl(d, F_GETFL) & O_NONBLOCK);
    CHECK_OK(fcntl(d, F_SETFL, 0));
    CHECK_EQ(fcntl(p[0], F_GETFL) & O_NONBLOCK, 0);
}

TEST(setfl_cannot_change_access_mode) {
    int fd = make_file("f", 4);
    close(fd);
    fd = CHECK_OK(open(tmp_path("f"), O_RDONLY));
    CHECK_OK(fcntl(fd, F_SETFL, O_RDWR | O_CREAT | O_TRUNC | O_EXCL));
    CHECK_EQ(fcntl(fd, F_GETFL) & O_ACCMODE, O_RDONLY);
    CHECK_ERR(write(fd, "x", 1), EBADF);
    struct stat st;
    CHECK_OK(fstat(fd, &st));
    CHECK_EQ(st.st_size, 4); /* O_TRUNC had no effect */
}

TEST(dupfd_lowest_at_or_above) {
    int fd = CHECK_OK(open("/dev/null", O_RDONLY));
    close(100);
    close(101);
    close(102);
    CHECK_EQ(fcntl(fd, F_DUPFD, 100), 100);
    CHECK_EQ(fcntl(fd, F_DUPFD, 100), 101);
    CHECK_EQ(fcntl(fd, F_DUPFD, 100), 102);
    close(101);
    CHECK_EQ(fcntl(fd, F_DUPFD, 100), 101);
    /* arg 0 behaves like dup(): the lowest free descriptor. */
    int low = CHECK_OK(dup(fd));
    close(low);
    CHECK_EQ(fcntl(fd, F_DUPFD, 0), low);
    /* The new descriptor shares the open file. */
    CHECK_EQ(lseek(fd, 0, SEEK_CUR), lseek(100, 0, SEEK_CUR));
}

TEST(dupfd_cloexec) {
    int fd = CHECK_OK(open("/dev/null", O_RDONLY | O_CLOEXEC));
    int a = CHECK_OK(fcntl(fd, F_DUPFD, 0));
    CHECK_EQ(fcntl(a, F_GETFD), 0);
    int b = CHECK_OK(fcntl(a, F_DUPFD_CLOEXEC, 0));
    CHECK_EQ(fcntl(b, F_GETFD), FD_CLOEXEC);
    CHECK(b > a);
}

TEST(dupfd_bad_arg) {
    int fd = CHECK_OK(open("/dev/null", O_RDONLY));
    struct rlimit rl;
    CHECK_OK(getrlimit(RLIMIT_NOFILE, &rl));
    CHECK_ERR(fcntl(fd, F_DUPFD, -1), EINVAL);
    CHECK_ERR(fcntl(fd, F_DUPFD, (int)rl.rlim_cur), EINVAL);
    CHECK_ERR(fcntl(fd, F_DUPFD_CLOEXEC, (int)rl.rlim_cur), EINVAL);
    /* The last allowed descriptor works. */
    CHECK_EQ(fcntl(fd, F_DUPFD, (int)rl.rlim_cur - 1), (int)rl.rlim_cur - 1);
}

TEST(ebadf_and_einval) {
    CHECK_ERR(fcntl(-1, F_GETFD), EBADF);
    int fd = CHECK_OK(open("/dev/null", O_RDONLY));
    close(fd);
    CHECK_ERR(fcntl(fd, F_GETFL), EBADF);
    CHECK_ERR(fcntl(fd, F_DUPFD, 0), EBADF);
    fd = CHECK_OK(open("/dev/null", O_RDONLY));
    CHECK_ERR(fcntl(fd, 9999), EINVAL);
    CHECK_ERR(fcntl(fd, -5), EINVAL);
    /* Lock with a bad l_type / l_whence. */
    struct flock fl = {.l_type = 42, .l_whence = SEEK_SET};
    CHECK_ERR(fcntl(fd, F_SETLK, &fl), EINVAL);
}

TEST(lock_conflict_between_processes) {
    int fd = make_file("f", 200);
    CHECK_OK(setlk(fd, F_SETLK, F_WRLCK, 0, 100));
    pid_t parent = getpid();
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        int cfd = CHECK_OK(open(tmp_path("f"), O_RDWR));
        errno = 0;
        CHECK_EQ(setlk(cfd, F_SETLK, F_WRLCK, 50, 10), -1);
        CHECK(errno == EAGAIN || errno == EACCES);
        CHECK_ERR(setlk(cfd, F_SETLK, F_RDLCK, 0, 1), EAGAIN);
        struct flock fl = getlk(cfd, F_GETLK, F_RDLCK, 10, 5);
        CHECK_EQ(fl.l_type, F_WRLCK);
        CHECK_EQ(fl.l_pid, parent);
        CHECK_EQ(fl.l_start, 0);
        CHECK_EQ(fl.l_len, 100);
        CHECK_EQ(fl.l_whence, SEEK_SET);
        /* Outside the range: free. */
        fl = getlk(cfd, F_GETLK, F_WRLCK, 100, 100);
        CHECK_EQ(fl.l_type, F_UNLCK);
        CHECK_OK(setlk(cfd, F_SETLK, F_WRLCK, 100, 0)); /* to EOF and beyond */
        _exit(0);
    }
    child_ok(pid);
}

TEST(lock_read_shared_write_exclusive) {
    int fd = make_file("f", 10);
    CHECK_OK(setlk(fd, F_SETLK, F_RDLCK, 0, 10));
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        int cfd = CHECK_OK(open(tmp_path("f"), O_RDWR));
        CHECK_OK(setlk(cfd, F_SETLK, F_RDLCK, 0, 10));
        CHECK_ERR(setlk(cfd, F_SETLK, F_WRLCK, 5, 1), EAGAIN);
        struct flock fl = getlk(cfd, F_GETLK, F_RDLCK, 0, 10);
        CHECK_EQ(fl.l_type, F_UNLCK); /* read vs read: no conflict */
        _exit(0);
    }
    child_ok(pid);
}

TEST(lock_unlock_lets_other_process_in) {
    int fd = make_file("f", 10);
    int toc[2], top[2];
    CHECK_OK(pipe(toc));
    CHECK_OK(pipe(top));
    CHECK_OK(setlk(fd, F_SETLK, F_WRLCK, 0, 0));
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        int cfd = CHECK_OK(open(tmp_path("f"), O_RDWR));
        CHECK_ERR(setlk(cfd, F_SETLK, F_WRLCK, 3, 2), EAGAIN);
        wr_byte(top[1]);
        rd_byte(toc[0]);
        /* Parent unlocked [0,4): [3,5) still conflicts, [0,3) is free. */
        CHECK_ERR(setlk(cfd, F_SETLK, F_WRLCK, 3, 2), EAGAIN);
        CHECK_OK(setlk(cfd, F_SETLK, F_WRLCK, 0, 3));
        struct flock fl = getlk(cfd, F_GETLK, F_WRLCK, 0, 0);
        CHECK_EQ(fl.l_type, F_WRLCK);
        CHECK_EQ(fl.l_start, 4); /* the remaining piece of the parent's lock */
        CHECK_EQ(fl.l_len, 0);
        _exit(0);
    }
    rd_byte(top[0]);
    CHECK_OK(setlk(fd, F_SETLK, F_UNLCK, 0, 4));
    wr_byte(toc[1]);
    child_ok(pid);
}

TEST(lock_setlkw_waits_for_release) {
    int fd = make_file("f", 10);
    int ready[2];
    CHECK_OK(pipe(ready));
    CHECK_OK(setlk(fd, F_SETLK, F_WRLCK, 0, 10));
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        int cfd = CHECK_OK(open(tmp_path("f"), O_RDWR));
        CHECK_ERR(setlk(cfd, F_SETLK, F_WRLCK, 0, 10), EAGAIN);
        wr_byte(ready[1]);
        CHECK_OK(setlk(cfd, F_SETLKW, F_WRLCK, 0, 10));
        _exit(0);
    }
    rd_byte(ready[0]);
    /* Closing the descriptor releases the lock; the waiter gets it. */
    CHECK_OK(close(fd));
    child_ok(pid);
}

TEST(lock_released_when_any_fd_closed) {
    int fd = make_file("f", 10);
    CHECK_OK(setlk(fd, F_SETLK, F_WRLCK, 0, 10));
    int fd2 = CHECK_OK(open(tmp_path("f"), O_RDONLY));
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        int cfd = CHECK_OK(open(tmp_path("f"), O_RDWR));
        CHECK_ERR(setlk(cfd, F_SETLK, F_WRLCK, 0, 10), EAGAIN);
        _exit(0);
    }
    child_ok(pid);
    /* POSIX locks belong to the process: closing another fd of the same
     * file drops them. */
    CHECK_OK(close(fd2));
    pid = CHECK_OK(fork());
    if (pid == 0) {
        int cfd = CHECK_OK(open(tmp_path("f"), O_RDWR));
        CHECK_OK(setlk(cfd, F_SETLK, F_WRLCK, 0, 10));
        _exit(0);
    }
    child_ok(pid);
}

TEST(lock_own_locks_never_conflict) {
    int fd = make_file("f", 10);
    int fd2 = CHECK_OK(open(tmp_path("f"), O_RDWR));
    CHECK_OK(setlk(fd, F_SETLK, F_RDLCK, 0, 10));
    CHECK_OK(setlk(fd2, F_SETLK, F_WRLCK, 0, 10)); /* upgrade, other fd */
    struct flock fl = getlk(fd, F_GETLK, F_WRLCK, 0, 10);
    CHECK_EQ(fl.l_type, F_UNLCK);
    /* Locks are not inherited by fork. */
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        struct flock f2 = getlk(fd, F_GETLK, F_RDLCK, 0, 1);
        CHECK_EQ(f2.l_type, F_WRLCK);
        CHECK_ERR(setlk(fd, F_SETLK, F_RDLCK, 0, 1), EAGAIN);
        _exit(0);
    }
    child_ok(pid);
}

TEST(lock_mode_must_match_open_mode) {
    int fd = make_file("f", 10);
    close(fd);
    int rd = CHECK_OK(open(tmp_path("f"), O_RDONLY));
    int wr = CHECK_OK(open(tmp_path("f"), O_WRONLY));
    CHECK_ERR(setlk(rd, F_SETLK, F_WRLCK, 0, 1), EBADF);
    CHECK_ERR(setlk(wr, F_SETLK, F_RDLCK, 0, 1), EBADF);
    CHECK_OK(setlk(rd, F_SETLK, F_RDLCK, 0, 1));
    CHECK_OK(setlk(wr, F_SETLK, F_WRLCK, 5, 1));
    /* Negative start is invalid. */
    CHECK_ERR(setlk(wr, F_SETLK, F_WRLCK, -1, 1), EINVAL);
}

TEST(lock_whence_cur_and_negative_len) {
    int fd = make_file("f", 100);
    CHECK_EQ(lseek(fd, 50, SEEK_SET), 50);
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_CUR, .l_start = -10, .l_len = 5};
    CHECK_OK(fcntl(fd, F_SETLK, &fl)); /* [40,45) */
    struct flock neg = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 80, .l_len = -10};
    CHECK_OK(fcntl(fd, F_SETLK, &neg)); /* [70,80) */
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        int cfd = CHECK_OK(open(tmp_path("f"), O_RDWR));
        struct flock g = getlk(cfd, F_GETLK, F_WRLCK, 0, 60);
        CHECK_EQ(g.l_type, F_WRLCK);
        CHECK_EQ(g.l_start, 40);
        CHECK_EQ(g.l_len, 5);
        g = getlk(cfd, F_GETLK, F_WRLCK, 60, 0);
        CHECK_EQ(g.l_type, F_WRLCK);
        CHECK_EQ(g.l_start, 70);
        CHECK_EQ(g.l_len, 10);
        CHECK_OK(setlk(cfd, F_SETLK, F_WRLCK, 45, 25));
        _exit(0);
    }
    child_ok(pid);
}

TEST(ofd_locks) {
    int fd = make_file("f", 10);
    int fd2 = CHECK_OK(open(tmp_path("f"), O_RDWR));
    CHECK_OK(setlk(fd, F_OFD_SETLK, F_WRLCK, 0, 10));
    /* A different open file description conflicts, even in one process. */
    CHECK_ERR(setlk(fd2, F_OFD_SETLK, F_WRLCK, 0, 1), EAGAIN);
    struct flock fl = getlk(fd2, F_OFD_GETLK, F_RDLCK, 0, 1);
    CHECK_EQ(fl.l_type, F_WRLCK);
    CHECK_EQ(fl.l_pid, -1);
    /* A dup shares the description, so no conflict. */
    int d = CHECK_OK(dup(fd));
    CHECK_OK(setlk(d, F_OFD_SETLK, F_RDLCK, 0, 10));
    /* OFD locks also conflict with classic POSIX locks of the same process. */
    CHECK_ERR(setlk(fd2, F_SETLK, F_WRLCK, 0, 1), EAGAIN);
    /* l_pid must be 0 when setting an OFD lock. */
    struct flock bad = {.l_type = F_RDLCK, .l_whence = SEEK_SET, .l_pid = 1};
    CHECK_ERR(fcntl(fd2, F_OFD_SETLK, &bad), EINVAL);
    /* Closing fd2 (another description) does not drop fd's OFD lock. */
    close(fd2);
    fd2 = CHECK_OK(open(tmp_path("f"), O_RDWR));
    CHECK_ERR(setlk(fd2, F_OFD_SETLK, F_WRLCK, 0, 1), EAGAIN);
    /* Closing all descriptors of the description releases it. */
    close(fd);
    close(d);
    CHECK_OK(setlk(fd2, F_OFD_SETLK, F_WRLCK, 0, 1));
}

TEST(ofd_lock_inherited_by_fork) {
    int fd = make_file("f", 10);
    CHECK_OK(setlk(fd, F_OFD_SETLK, F_WRLCK, 0, 10));
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        /* Same description: the child holds the lock too. */
        CHECK_OK(setlk(fd, F_OFD_SETLK, F_WRLCK, 0, 5));
        int cfd = CHECK_OK(open(tmp_path("f"), O_RDWR));
        CHECK_ERR(setlk(cfd, F_OFD_SETLK, F_WRLCK, 0, 1), EAGAIN);
        _exit(0);
    }
    child_ok(pid);
}

TEST(pipe_size) {
    int p[2];
    CHECK_OK(pipe(p));
    CHECK_EQ(fcntl(p[0], F_GETPIPE_SZ), 65536);
    CHECK_EQ(fcntl(p[1], F_GETPIPE_SZ), 65536);
    CHECK_EQ(fcntl(p[1], F_SETPIPE_SZ, 131072), 131072);
    CHECK_EQ(fcntl(p[0], F_GETPIPE_SZ), 131072);
    /* Rounded up to a power-of-two number of pages. */
    CHECK_EQ(fcntl(p[1], F_SETPIPE_SZ, 5000), 8192);
    CHECK_EQ(fcntl(p[1], F_SETPIPE_SZ, 1), 4096);
    /* Cannot shrink below the data it holds. */
    CHECK_EQ(fcntl(p[1], F_SETPIPE_SZ, 65536), 65536);
    char buf[8192];
    memset(buf, 1, sizeof buf);
    CHECK_EQ(write(p[1], buf, sizeof buf), (ssize_t)sizeof buf);
    CHECK_ERR(fcntl(p[1], F_SETPIPE_SZ, 4096), EBUSY);
    CHECK_EQ(fcntl(p[1], F_GETPIPE_SZ), 65536);
    CHECK_ERR(fcntl(p[1], F_SETPIPE_SZ, -1), EINVAL);
    int fd = CHECK_OK(open("/dev/null", O_RDONLY));
    CHECK_ERR(fcntl(fd, F_GETPIPE_SZ), EBADF);
    CHECK_ERR(fcntl(fd, F_SETPIPE_SZ, 4096), EBADF);
}

TEST(pipe_size_limit_unprivileged) {
    FILE *f = fopen("/proc/sys/fs/pipe-max-size", "r");
    if (!f) SKIP("no /proc/sys/fs/pipe-max-size");
    long max = 0;
    CHECK_EQ(fscanf(f, "%ld", &max), 1);
    fclose(f);
    int p[2];
    CHECK_OK(pipe(p));
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
            SKIP("cannot drop privileges: %s", strerrorname_np(errno));
        CHECK_EQ(fcntl(p[1], F_SETPIPE_SZ, (int)max), max);
        CHECK_ERR(fcntl(p[1], F_SETPIPE_SZ, (int)max * 2), EPERM);
        CHECK_EQ(fcntl(p[1], F_GETPIPE_SZ), max);
        _exit(0);
    }
    child_ok(pid);
}

TEST(setown_getown) {
    int p[2];
    CHECK_OK(pipe(p));
    CHECK_EQ(fcntl(p[0], F_GETOWN), 0);
    CHECK_OK(fcntl(p[0], F_SETOWN, getpid()));
    CHECK_EQ(fcntl(p[0], F_GETOWN), getpid());
    /* A negative value names a process group. */
    CHECK_OK(fcntl(p[0], F_SETOWN, -getpgrp()));
    CHECK_EQ(fcntl(p[0], F_GETOWN), -getpgrp());
    struct f_owner_ex ex;
    CHECK_OK(fcntl(p[0], F_GETOWN_EX, &ex));
    CHECK_EQ(ex.type, F_OWNER_PGRP);
    CHECK_EQ(ex.pid, getpgrp());
    CHECK_OK(fcntl(p[0], F_SETOWN, 0));
    CHECK_EQ(fcntl(p[0], F_GETOWN), 0);
}

TEST(setfl_o_async_sends_sigio) {
    int p[2];
    CHECK_OK(pipe(p));
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGIO);
    CHECK_OK(sigprocmask(SIG_BLOCK, &set, NULL));
    CHECK_OK(fcntl(p[0], F_SETOWN, getpid()));
    CHECK_OK(fcntl(p[0], F_SETFL, O_ASYNC));
    CHECK(fcntl(p[0], F_GETFL) & O_ASYNC);
    sigset_t pend;
    sigpending(&pend);
    CHECK(!sigismember(&pend, SIGIO));
    CHECK_EQ(write(p[1], "x", 1), 1);
    sigpending(&pend);
    CHECK(sigismember(&pend, SIGIO));
    struct timespec ts = {5, 0};
    CHECK_EQ(sigtimedwait(&set, NULL, &ts), SIGIO);
}
