/* signalfd: reading queued signals as signalfd_siginfo, non-blocking,
 * poll readiness, mask updates, field contents. */
#define AREA "signalfd"
#define ST_HARNESS_MAIN
#include "harness.h"

#include <poll.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>

static sigset_t mask_of(int a, int b) {
    sigset_t s;
    sigemptyset(&s);
    if (a) sigaddset(&s, a);
    if (b) sigaddset(&s, b);
    return s;
}

static void block_set(const sigset_t *s) { CHECK_OK(sigprocmask(SIG_BLOCK, s, NULL)); }

TEST(read_siginfo_of_blocked_signal) {
    sigset_t s = mask_of(SIGUSR1, 0);
    block_set(&s);
    int fd = CHECK_OK(signalfd(-1, &s, 0));
    union sigval v;
    v.sival_int = 777;
    CHECK_OK(sigqueue(getpid(), SIGUSR1, v));
    struct signalfd_siginfo si;
    memset(&si, 0, sizeof si);
    CHECK_EQ(read(fd, &si, sizeof si), (long)sizeof si);
    CHECK_EQ(si.ssi_signo, SIGUSR1);
    CHECK_EQ(si.ssi_code, SI_QUEUE);
    CHECK_EQ(si.ssi_pid, getpid());
    CHECK_EQ(si.ssi_uid, getuid());
    CHECK_EQ(si.ssi_int, 777);
    /* Consumed: no longer pending. */
    sigset_t pend;
    sigpending(&pend);
    CHECK(!sigismember(&pend, SIGUSR1));
}

TEST(nonblock_eagain_and_small_buffer) {
    sigset_t s = mask_of(SIGUSR2, 0);
    block_set(&s);
    int fd = CHECK_OK(signalfd(-1, &s, SFD_NONBLOCK | SFD_CLOEXEC));
    CHECK_EQ(fcntl(fd, F_GETFD), FD_CLOEXEC);
    struct signalfd_siginfo si;
    CHECK_ERR(read(fd, &si, sizeof si), EAGAIN);
    char small[64];
    CHECK_ERR(read(fd, small, sizeof small), EINVAL);
    CHECK_ERR(signalfd(-1, &s, 0x4), EINVAL);
    int notsfd = CHECK_OK(open("/dev/null", O_RDONLY));
    CHECK_ERR(signalfd(notsfd, &s, 0), EINVAL);
    CHECK_ERR(syscall(SYS_signalfd4, -1, &s, 4, 0), EINVAL);
}

TEST(poll_readiness) {
    sigset_t s = mask_of(SIGUSR1, 0);
    block_set(&s);
    int fd = CHECK_OK(signalfd(-1, &s, SFD_NONBLOCK));
    struct pollfd p = {fd, POLLIN, 0};
    CHECK_EQ(poll(&p, 1, 0), 0);
    CHECK_OK(raise(SIGUSR1));
    CHECK_EQ(poll(&p, 1, 0), 1);
    CHECK_EQ(p.revents, POLLIN);
    struct signalfd_siginfo si;
    CHECK_EQ(read(fd, &si, sizeof si), (long)sizeof si);
    CHECK_EQ(si.ssi_code, SI_TKILL);
    CHECK_EQ(poll(&p, 1, 0), 0);
}

TEST(update_mask) {
    sigset_t both = mask_of(SIGUSR1, SIGUSR2);
    block_set(&both);
    sigset_t s1 = mask_of(SIGUSR1, 0);
    int fd = CHECK_OK(signalfd(-1, &s1, SFD_NONBLOCK));
    CHECK_OK(kill(getpid(), SIGUSR2));
    struct signalfd_siginfo si;
    CHECK_ERR(read(fd, &si, sizeof si), EAGAIN);
    sigset_t s2 = mask_of(SIGUSR2, 0);
    CHECK_EQ(signalfd(fd, &s2, 0), fd);
    CHECK_EQ(read(fd, &si, sizeof si), (long)sizeof si);
    CHECK_EQ(si.ssi_signo, SIGUSR2);
    CHECK_EQ(si.ssi_code, SI_USER);
}

TEST(sigchld_fields_from_child) {
    sigset_t s = mask_of(SIGCHLD, 0);
    block_set(&s);
    int fd = CHECK_OK(signalfd(-1, &s, 0));
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) _exit(19);
    struct signalfd_siginfo si;
    CHECK_EQ(read(fd, &si, sizeof si), (long)sizeof si);
    CHECK_EQ(si.ssi_signo, SIGCHLD);
    CHECK_EQ(si.ssi_code, CLD_EXITED);
    CHECK_EQ(si.ssi_pid, pid);
    CHECK_EQ(si.ssi_status, 19);
    st_wait(pid);
}

TEST(multiple_signals_one_read_and_rt_queue) {
    int rt = SIGRTMIN;
    sigset_t s = mask_of(SIGUSR1, rt);
    block_set(&s);
    int fd = CHECK_OK(signalfd(-1, &s, SFD_NONBLOCK));
    union sigval v;
    for (int i = 0; i < 3; i++) {
        v.sival_int = 100 + i;
        CHECK_OK(sigqueue(getpid(), rt, v));
    }
    CHECK_OK(kill(getpid(), SIGUSR1));
    CHECK_OK(kill(getpid(), SIGUSR1)); /* coalesced */
    struct signalfd_siginfo si[8];
    ssize_t n = read(fd, si, sizeof si);
    CHECK_EQ(n, 4 * (long)sizeof si[0]);
    /* Standard signals (lower numbers) come first, then the rt queue in order. */
    CHECK_EQ(si[0].ssi_signo, SIGUSR1);
    for (int i = 0; i < 3; i++) {
        CHECK_EQ(si[1 + i].ssi_signo, rt);
        CHECK_EQ(si[1 + i].ssi_int, 100 + i);
    }
    CHECK_ERR(read(fd, si, sizeof si), EAGAIN);
}

TEST(blocking_read_woken_by_other_process) {
    sigset_t s = mask_of(SIGUSR1, 0);
    block_set(&s);
    int fd = CHECK_OK(signalfd(-1, &s, 0));
    pid_t me = getpid();
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) _exit(kill(me, SIGUSR1) == 0 ? 0 : 1);
    struct signalfd_siginfo si;
    CHECK_EQ(read(fd, &si, sizeof si), (long)sizeof si);
    CHECK_EQ(si.ssi_signo, SIGUSR1);
    CHECK_EQ(si.ssi_pid, pid);
    CHECK_EQ(st_wait(pid), 0);
}
