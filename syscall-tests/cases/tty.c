/* Pseudo-terminals: /dev/ptmx allocation, data both ways, line discipline
 * (canonical/raw, echo, erase, output processing), window size and
 * SIGWINCH, controlling terminal, foreground process group, job control
 * (SIGTTIN/SIGTTOU). Cases skip when /dev/ptmx or /dev/pts is missing. */
#define AREA "tty"
#define ST_HARNESS_MAIN
#include "harness.h"

#include <poll.h>
#include <sys/ioctl.h>
#include <termios.h>

struct pty {
    int m, s;
    char name[64];
};

static void open_pty(struct pty *p) {
    p->m = posix_openpt(O_RDWR | O_NOCTTY);
    if (p->m < 0) {
        if (errno == ENOENT || errno == ENODEV || errno == ENXIO)
            SKIP("no /dev/ptmx (%s): pseudo-terminals unavailable", strerrorname_np(errno));
        FAIL("posix_openpt: %s", strerror(errno));
    }
    CHECK_OK(grantpt(p->m));
    CHECK_OK(unlockpt(p->m));
    const char *n = ptsname(p->m);
    CHECK(n != NULL);
    snprintf(p->name, sizeof p->name, "%s", n);
    p->s = open(p->name, O_RDWR | O_NOCTTY);
    if (p->s < 0) {
        if (errno == ENOENT) SKIP("%s does not exist: no devpts mounted at /dev/pts", p->name);
        FAIL("open %s: %s", p->name, strerror(errno));
    }
}

/* Read whatever is available (at least one byte, waiting up to 10s). */
static ssize_t read_avail(int fd, char *buf, size_t n) {
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 10000) != 1) FAIL("fd %d never became readable", fd);
    ssize_t r = read(fd, buf, n - 1);
    if (r < 0) FAIL("read: %s", strerror(errno));
    buf[r] = 0;
    return r;
}

/* Read exactly `want` bytes from fd (tty reads may come in pieces). */
static void read_exactly(int fd, char *buf, size_t want) {
    size_t got = 0;
    while (got < want) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 10000) != 1) FAIL("fd %d: only %zu of %zu bytes arrived", fd, got, want);
        ssize_t r = read(fd, buf + got, want - got);
        if (r <= 0) FAIL("read: %zd %s", r, strerror(errno));
        got += r;
    }
    buf[got] = 0;
}

static int readable_now(int fd) {
    struct pollfd p = {fd, POLLIN, 0};
    return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

static void set_lflag(int fd, tcflag_t on, tcflag_t off) {
    struct termios t;
    CHECK_OK(tcgetattr(fd, &t));
    t.c_lflag |= on;
    t.c_lflag &= ~off;
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    CHECK_OK(tcsetattr(fd, TCSANOW, &t));
}

TEST(openpty_names_and_isatty) {
    struct pty p;
    open_pty(&p);
    CHECK(strncmp(p.name, "/dev/pts/", 9) == 0);
    unsigned int n = 9999;
    CHECK_OK(ioctl(p.m, TIOCGPTN, &n));
    char want[64];
    snprintf(want, sizeof want, "/dev/pts/%u", n);
    CHECK_STR(p.name, want);
    CHECK_EQ(isatty(p.m), 1);
    CHECK_EQ(isatty(p.s), 1);
    int fds[2];
    CHECK_OK(pipe(fds));
    errno = 0;
    CHECK_EQ(isatty(fds[0]), 0);
    CHECK_EQ(errno, ENOTTY);
    char tn[64];
    CHECK_EQ(ttyname_r(p.s, tn, sizeof tn), 0);
    CHECK_STR(tn, p.name);
    struct stat st;
    CHECK_OK(fstat(p.s, &st));
    CHECK(S_ISCHR(st.st_mode));
    /* A locked pty cannot be opened. */
    int m2 = CHECK_OK(posix_openpt(O_RDWR | O_NOCTTY));
    const char *n2 = ptsname(m2);
    CHECK(n2 != NULL);
    char n2c[64];
    snprintf(n2c, sizeof n2c, "%s", n2);
    int lock = 1;
    CHECK_OK(ioctl(m2, TIOCSPTLCK, &lock));
    CHECK_ERR(open(n2c, O_RDWR | O_NOCTTY), EIO);
}

TEST(canonical_line_and_echo) {
    struct pty p;
    open_pty(&p);
    CHECK_EQ(write(p.m, "hel", 3), 3);
    /* Canonical mode: no complete line yet, nothing to read. */
    char buf[64];
    read_exactly(p.m, buf, 3); /* the echo of "hel" */
    CHECK_STR(buf, "hel");
    CHECK(!readable_now(p.s));
    CHECK_EQ(write(p.m, "lo\n", 3), 3);
    CHECK_EQ(read_avail(p.s, buf, sizeof buf), 6);
    CHECK_STR(buf, "hello\n");
    /* Echo of "lo\n": the newline comes back as CR LF (ONLCR). */
    read_exactly(p.m, buf, 4);
    CHECK_STR(buf, "lo\r\n");
}

TEST(slave_output_processing_onlcr) {
    struct pty p;
    open_pty(&p);
    char buf[64];
    CHECK_EQ(write(p.s, "a\nb\n", 4), 4);
    read_exactly(p.m, buf, 6);
    CHECK_STR(buf, "a\r\nb\r\n");
    struct termios t;
    CHECK_OK(tcgetattr(p.s, &t));
    t.c_oflag &= ~OPOST;
    CHECK_OK(tcsetattr(p.s, TCSANOW, &t));
    CHECK_EQ(write(p.s, "c\n", 2), 2);
    read_exactly(p.m, buf, 2);
    CHECK_STR(buf, "c\n");
}

TEST(raw_mode_reads_without_newline) {
    struct pty p;
    open_pty(&p);
    set_lflag(p.s, 0, ICANON | ECHO);
    CHECK_EQ(write(p.m, "x", 1), 1);
    char buf[8];
    CHECK_EQ(read_avail(p.s, buf, sizeof buf), 1);
    CHECK_EQ(buf[0], 'x');
    /* No echo. */
    CHECK(!readable_now(p.m));
    /* Raw bytes are passed through, including control characters that
     * canonical mode would interpret. */
    set_lflag(p.s, 0, ISIG | IEXTEN);
    CHECK_EQ(write(p.m, "\x7f\x03", 2), 2);
    read_exactly(p.s, buf, 2);
    CHECK_EQ((unsigned char)buf[0], 0x7f);
    CHECK_EQ(buf[1], 3);
}

TEST(canonical_erase_and_kill) {
    struct pty p;
    open_pty(&p);
    set_lflag(p.s, ICANON, ECHO);
    struct termios t;
    CHECK_OK(tcgetattr(p.s, &t));
    char erase = t.c_cc[VERASE], kill_c = t.c_cc[VKILL];
    char in[32];
    int n = snprintf(in, sizeof in, "abx%cc\nzzz%cok\n", erase, kill_c);
    CHECK_EQ(write(p.m, in, n), n);
    char buf[32];
    CHECK_EQ(read_avail(p.s, buf, sizeof buf), 4);
    CHECK_STR(buf, "abc\n");
    CHECK_EQ(read_avail(p.s, buf, sizeof buf), 3);
    CHECK_STR(buf, "ok\n");
}

TEST(termios_roundtrip_and_errors) {
    struct pty p;
    open_pty(&p);
    struct termios t, u;
    CHECK_OK(tcgetattr(p.s, &t));
    CHECK(t.c_lflag & ICANON);
    CHECK(t.c_lflag & ECHO);
    t.c_lflag &= ~(ECHO | ICANON);
    t.c_cc[VMIN] = 3;
    t.c_cc[VTIME] = 7;
    CHECK_OK(cfsetospeed(&t, B9600));
    CHECK_OK(cfsetispeed(&t, B9600));
    CHECK_OK(tcsetattr(p.s, TCSAFLUSH, &t));
    CHECK_OK(tcgetattr(p.s, &u));
    CHECK_EQ(u.c_lflag & (ECHO | ICANON), 0);
    CHECK_EQ(u.c_cc[VMIN], 3);
    CHECK_EQ(u.c_cc[VTIME], 7);
    CHECK_EQ(cfgetospeed(&u), B9600);
    /* The master sees the same settings. */
    CHECK_OK(tcgetattr(p.m, &u));
    CHECK_EQ(u.c_lflag & ICANON, 0);
    int fd = CHECK_OK(open("/dev/null", O_RDWR));
    CHECK_ERR(tcgetattr(fd, &u), ENOTTY);
    CHECK_ERR(tcsetattr(fd, TCSANOW, &t), ENOTTY);
    CHECK_ERR(tcsetattr(p.s, 99, &t), EINVAL);
}

TEST(master_read_eio_after_slave_closed) {
    struct pty p;
    open_pty(&p);
    CHECK_EQ(write(p.s, "z", 1), 1);
    close(p.s);
    char buf[8];
    /* Pending output is still delivered, then EIO. */
    CHECK_EQ(read(p.m, buf, sizeof buf), 1);
    CHECK_ERR(read(p.m, buf, sizeof buf), EIO);
    struct pollfd pf = {p.m, POLLIN, 0};
    CHECK_EQ(poll(&pf, 1, 0), 1);
    CHECK(pf.revents & POLLHUP);
}

/* Child helpers: return 0 on success, a distinct code per failed step. */

static int become_session_leader_with_ctty(struct pty *p) {
    if (setsid() < 0) return 50;
    if (ioctl(p->s, TIOCSCTTY, 0) < 0) return 51;
    return 0;
}

TEST(winsize_and_sigwinch_to_foreground) {
    struct pty p;
    open_pty(&p);
    struct winsize w = {0}, r;
    CHECK_OK(ioctl(p.s, TIOCGWINSZ, &w));
    int ready[2];
    CHECK_OK(pipe(ready));
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        sigset_t s;
        sigemptyset(&s);
        sigaddset(&s, SIGWINCH);
        sigprocmask(SIG_BLOCK, &s, NULL);
        int rc = become_session_leader_with_ctty(&p);
        if (rc) _exit(rc);
        if (write(ready[1], "r", 1) != 1) _exit(52);
        struct timespec ts = {10, 0};
        siginfo_t si;
        if (sigtimedwait(&s, &si, &ts) != SIGWINCH) _exit(53);
        struct winsize g;
        if (ioctl(p.s, TIOCGWINSZ, &g) < 0) _exit(54);
        _exit(g.ws_row == 33 && g.ws_col == 101 ? 0 : 55);
    }
    char c;
    CHECK_EQ(read(ready[0], &c, 1), 1);
    struct winsize nw = {.ws_row = 33, .ws_col = 101, .ws_xpixel = 0, .ws_ypixel = 0};
    CHECK_OK(ioctl(p.m, TIOCSWINSZ, &nw));
    CHECK_OK(ioctl(p.m, TIOCGWINSZ, &r));
    CHECK_EQ(r.ws_row, 33);
    CHECK_EQ(r.ws_col, 101);
    int st = st_wait(pid);
    CHECK(WIFEXITED(st));
    CHECK_EQ(WEXITSTATUS(st), 0);
}

TEST(tiocsctty_controlling_terminal) {
    struct pty p;
    open_pty(&p);
    /* Not a session leader: refused. */
    CHECK_ERR(ioctl(p.s, TIOCSCTTY, 0), EPERM);
    CHECK_ERR(tcgetsid(p.s), ENOTTY);
    int res[2];
    CHECK_OK(pipe(res));
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        int rc = become_session_leader_with_ctty(&p);
        if (rc) _exit(rc);
        if (tcgetsid(p.s) != getpid()) _exit(60);
        if (tcgetpgrp(p.s) != getpid()) _exit(61);
        /* Already has a controlling terminal: a second one is refused. */
        struct pty q;
        q.m = posix_openpt(O_RDWR | O_NOCTTY);
        if (q.m < 0 || grantpt(q.m) || unlockpt(q.m)) _exit(62);
        q.s = open(ptsname(q.m), O_RDWR | O_NOCTTY);
        if (q.s < 0) _exit(63);
        if (ioctl(q.s, TIOCSCTTY, 0) != -1 || errno != EPERM) _exit(64);
        /* Giving it up (a session leader doing so sends SIGHUP to the
         * foreground group: ourselves). */
        signal(SIGHUP, SIG_IGN);
        if (ioctl(p.s, TIOCNOTTY) < 0) _exit(65);
        if (tcgetpgrp(p.s) != -1 || errno != ENOTTY) _exit(66);
        _exit(0);
    }
    int st = st_wait(pid);
    CHECK(WIFEXITED(st));
    CHECK_EQ(WEXITSTATUS(st), 0);
}

TEST(tcsetpgrp_tcgetpgrp) {
    struct pty p;
    open_pty(&p);
    CHECK_ERR(tcgetpgrp(p.s), ENOTTY); /* not our controlling tty */
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        int rc = become_session_leader_with_ctty(&p);
        if (rc) _exit(rc);
        int go[2];
        if (pipe(go)) _exit(70);
        pid_t gc = fork();
        if (gc < 0) _exit(71);
        if (gc == 0) {
            setpgid(0, 0);
            char c;
            ssize_t n = read(go[0], &c, 1);
            (void)n;
            _exit(0);
        }
        if (setpgid(gc, gc) < 0 && errno != EACCES) _exit(72);
        /* Once gc's group is in the foreground we are in the background:
         * ignore SIGTTOU for the later tcsetpgrp calls, as a shell does. */
        signal(SIGTTOU, SIG_IGN);
        /* tcsetpgrp from the session leader (foreground) to gc's group. */
        if (tcsetpgrp(p.s, gc) < 0) _exit(73);
        if (tcgetpgrp(p.s) != gc) _exit(74);
        /* A group that does not exist in the session. */
        if (tcsetpgrp(p.s, 0x3ffff0) != -1 || errno != ESRCH) _exit(75);
        if (tcsetpgrp(p.s, -1) != -1 || errno != EINVAL) _exit(76);
        /* Our parent's group exists, but in another session. */
        if (tcsetpgrp(p.s, getppid()) != -1 || errno != EPERM) _exit(81);
        /* Back to ourselves. */
        if (tcsetpgrp(p.s, getpid()) < 0) _exit(77);
        if (tcgetpgrp(p.s) != getpid()) _exit(78);
        if (write(go[1], "g", 1) != 1) _exit(79);
        int st;
        if (waitpid(gc, &st, 0) != gc) _exit(80);
        _exit(0);
    }
    int st = st_wait(pid);
    CHECK(WIFEXITED(st));
    CHECK_EQ(WEXITSTATUS(st), 0);
}

/* In a new session with the pty as controlling terminal, a child in a
 * background group does `op` on the tty; report how it ended. */
static int background_op(struct pty *p, int op, int ignore_sig) {
    int rc = become_session_leader_with_ctty(p);
    if (rc) return rc;
    if (op == 1) {
        struct termios t;
        if (tcgetattr(p->s, &t) < 0) return 90;
        t.c_lflag |= TOSTOP;
        if (tcsetattr(p->s, TCSANOW, &t) < 0) return 91;
    }
    pid_t bg = fork();
    if (bg < 0) return 92;
    if (bg == 0) {
        setpgid(0, 0);
        if (ignore_sig) signal(op == 0 ? SIGTTIN : SIGTTOU, SIG_IGN);
        char c = 'w';
        ssize_t n = op == 0 ? read(p->s, &c, 1) : write(p->s, &c, 1);
        if (n < 0) _exit(errno == EIO ? 40 : 41);
        _exit(42);
    }
    setpgid(bg, bg);
    int st;
    if (waitpid(bg, &st, WUNTRACED) != bg) return 93;
    if (WIFSTOPPED(st)) {
        kill(bg, SIGKILL);
        waitpid(bg, NULL, 0);
        return 100 + WSTOPSIG(st); /* stopped by this signal */
    }
    if (WIFEXITED(st)) return WEXITSTATUS(st);
    return 94;
}

TEST(background_read_gets_sigttin) {
    struct pty p;
    open_pty(&p);
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        int r = background_op(&p, 0, 0);
        _exit(r == 100 + SIGTTIN ? 0 : r);
    }
    int st = st_wait(pid);
    CHECK(WIFEXITED(st));
    CHECK_EQ(WEXITSTATUS(st), 0);
}

TEST(background_read_with_sigttin_ignored_eio) {
    struct pty p;
    open_pty(&p);
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) _exit(background_op(&p, 0, 1));
    int st = st_wait(pid);
    CHECK(WIFEXITED(st));
    CHECK_EQ(WEXITSTATUS(st), 40); /* read failed with EIO */
}

TEST(background_write_with_tostop_gets_sigttou) {
    struct pty p;
    open_pty(&p);
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        int r = background_op(&p, 1, 0);
        _exit(r == 100 + SIGTTOU ? 0 : r);
    }
    int st = st_wait(pid);
    CHECK(WIFEXITED(st));
    CHECK_EQ(WEXITSTATUS(st), 0);
}

TEST(vintr_sends_sigint_to_foreground) {
    struct pty p;
    open_pty(&p);
    int ready[2];
    CHECK_OK(pipe(ready));
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        sigset_t s;
        sigemptyset(&s);
        sigaddset(&s, SIGINT);
        sigprocmask(SIG_BLOCK, &s, NULL);
        int rc = become_session_leader_with_ctty(&p);
        if (rc) _exit(rc);
        if (write(ready[1], "r", 1) != 1) _exit(52);
        struct timespec ts = {10, 0};
        siginfo_t si;
        if (sigtimedwait(&s, &si, &ts) != SIGINT) _exit(53);
        _exit(si.si_code == SI_KERNEL ? 0 : 54);
    }
    char c;
    CHECK_EQ(read(ready[0], &c, 1), 1);
    struct termios t;
    CHECK_OK(tcgetattr(p.m, &t));
    CHECK_EQ(write(p.m, &t.c_cc[VINTR], 1), 1);
    int st = st_wait(pid);
    CHECK(WIFEXITED(st));
    CHECK_EQ(WEXITSTATUS(st), 0);
}
