/*
 * The case harness of syscall-tests. One area = one C file = one static
 * binary. Each case runs in its own forked child so that a failure, crash or
 * hang of one case never affects another.
 *
 *   TEST(open_creat_excl) {
 *       int fd = open(tmp_path("f"), O_CREAT | O_EXCL | O_WRONLY, 0600);
 *       CHECK(fd >= 0);
 *       CHECK_ERR(open(tmp_path("f"), O_CREAT | O_EXCL, 0600), EEXIST);
 *   }
 *
 * A case passes by returning. CHECK* fail it (exit 1 with a message), SKIP
 * skips it (exit 77 with the reason). A case must never pass vacuously: skip
 * only when the environment cannot run it (say why), never because a
 * runtime under test fails it.
 *
 * Binary usage: AREA [--list] [--filter SUBSTR] [--timeout SECONDS]
 * Output, one line per case:
 *   RESULT <area>.<case> PASS|FAIL|SKIP|TIMEOUT|CRASH <message>
 */
#ifndef SYSCALL_TESTS_HARNESS_H
#define SYSCALL_TESTS_HARNESS_H

#define _GNU_SOURCE
#include <errno.h>
#include <ftw.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef AREA
#error "define AREA (the area name) before including harness.h"
#endif

typedef void (*st_case_fn)(void);
struct st_case {
    const char *name;
    st_case_fn fn;
};

#define ST_MAX_CASES 256
extern struct st_case st_cases[ST_MAX_CASES];
extern int st_ncases;
extern int st_msg_fd;

void st_register(const char *name, st_case_fn fn);
void st_fail(const char *file, int line, const char *fmt, ...) __attribute__((noreturn, format(printf, 3, 4)));
void st_skip(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
const char *tmp_path(const char *name);
const char *st_tmpdir(void);

#define TEST(name)                                                        \
    static void st_case_##name(void);                                     \
    __attribute__((constructor)) static void st_reg_##name(void) {        \
        st_register(#name, st_case_##name);                               \
    }                                                                     \
    static void st_case_##name(void)

#define FAIL(...) st_fail(__FILE__, __LINE__, __VA_ARGS__)
#define SKIP(...) st_skip(__VA_ARGS__)

#define CHECK(cond)                                                       \
    do {                                                                  \
        if (!(cond))                                                      \
            FAIL("CHECK(%s) failed (errno %d %s)", #cond, errno,          \
                 strerrorname_np(errno) ? strerrorname_np(errno) : "?");  \
    } while (0)

/* Compare two integers; the message says expected vs got. */
#define CHECK_EQ(got, expected)                                           \
    do {                                                                  \
        long long st_g = (long long)(got), st_e = (long long)(expected);  \
        if (st_g != st_e)                                                 \
            FAIL("%s: expected %lld got %lld (errno %s)", #got, st_e,     \
                 st_g, strerrorname_np(errno) ? strerrorname_np(errno) : "0"); \
    } while (0)

/* The call must fail with -1 and errno == err. */
#define CHECK_ERR(call, err)                                              \
    do {                                                                  \
        errno = 0;                                                        \
        long long st_r = (long long)(call);                               \
        int st_en = errno;                                                \
        if (st_r != -1 || st_en != (err))                                 \
            FAIL("%s: expected -1 %s, got %lld %s", #call,                \
                 strerrorname_np(err), st_r,                              \
                 st_en ? (strerrorname_np(st_en) ? strerrorname_np(st_en) : "?") : "(no errno)"); \
    } while (0)

/* The call must succeed (not -1); evaluates to its value. */
#define CHECK_OK(call)                                                    \
    ({                                                                    \
        errno = 0;                                                        \
        long long st_r = (long long)(call);                               \
        if (st_r == -1)                                                   \
            FAIL("%s failed: %s", #call,                                  \
                 strerrorname_np(errno) ? strerrorname_np(errno) : "?");  \
        st_r;                                                             \
    })

#define CHECK_STR(got, expected)                                          \
    do {                                                                  \
        const char *st_g = (got), *st_e = (expected);                     \
        if (!st_g || strcmp(st_g, st_e) != 0)                             \
            FAIL("%s: expected \"%s\" got \"%s\"", #got, st_e,             \
                 st_g ? st_g : "(null)");                                 \
    } while (0)

/* Wait for a child and return its raw wait status. */
static inline int st_wait(pid_t pid) {
    int status = 0;
    pid_t r;
    do {
        r = waitpid(pid, &status, 0);
    } while (r < 0 && errno == EINTR);
    if (r != pid)
        FAIL("waitpid(%d) returned %d", pid, r);
    return status;
}

#ifdef ST_HARNESS_MAIN
struct st_case st_cases[ST_MAX_CASES];
int st_ncases;
int st_msg_fd = -1;
static char st_tmp[256];

void st_register(const char *name, st_case_fn fn) {
    if (st_ncases < ST_MAX_CASES) {
        st_cases[st_ncases].name = name;
        st_cases[st_ncases].fn = fn;
        st_ncases++;
    }
}

static void st_msg(const char *prefix, const char *fmt, va_list ap) {
    char buf[1024];
    int n = snprintf(buf, sizeof buf, "%s", prefix);
    vsnprintf(buf + n, sizeof buf - n, fmt, ap);
    for (char *p = buf; *p; p++)
        if (*p == '\n') *p = ' ';
    if (st_msg_fd >= 0) {
        ssize_t w = write(st_msg_fd, buf, strlen(buf));
        (void)w;
    }
}

void st_fail(const char *file, int line, const char *fmt, ...) {
    char prefix[128];
    const char *base = strrchr(file, '/');
    snprintf(prefix, sizeof prefix, "%s:%d: ", base ? base + 1 : file, line);
    va_list ap;
    va_start(ap, fmt);
    st_msg(prefix, fmt, ap);
    va_end(ap);
    _exit(1);
}

void st_skip(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    st_msg("", fmt, ap);
    va_end(ap);
    _exit(77);
}

const char *st_tmpdir(void) { return st_tmp; }

const char *tmp_path(const char *name) {
    static char bufs[8][512];
    static int i;
    char *b = bufs[i++ % 8];
    snprintf(b, 512, "%s/%s", st_tmp, name);
    return b;
}

static int st_rm1(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb; (void)flag; (void)ftw;
    chmod(p, 0700);
    remove(p);
    return 0;
}

/* Remove the case's scratch dir (no external rm: the rootfs may hold only
 * the test binaries). */
static void st_rmrf(const char *path) { nftw(path, st_rm1, 16, FTW_DEPTH | FTW_PHYS); }

static int st_run_one(struct st_case *c, int timeout) {
    const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    snprintf(st_tmp, sizeof st_tmp, "%s/st-%s-%s-XXXXXX", base, AREA, c->name);
    if (!mkdtemp(st_tmp)) {
        printf("RESULT %s.%s FAIL cannot create scratch dir %s: %s\n", AREA, c->name, st_tmp, strerror(errno));
        return 1;
    }
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) < 0) {
        printf("RESULT %s.%s FAIL pipe: %s\n", AREA, c->name, strerror(errno));
        return 1;
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(pfd[0]);
        st_msg_fd = pfd[1];
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        setpgid(0, 0);
        if (chdir(st_tmp) < 0) _exit(1);
        alarm(0);
        c->fn();
        _exit(0);
    }
    close(pfd[1]);
    /* Wait with a deadline: sigtimedwait on SIGCHLD (blocked in main). */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    int status = 0, timed_out = 0;
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeout;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) break;
        struct timespec now, left;
        clock_gettime(CLOCK_MONOTONIC, &now);
        left.tv_sec = deadline.tv_sec - now.tv_sec;
        left.tv_nsec = deadline.tv_nsec - now.tv_nsec;
        if (left.tv_nsec < 0) { left.tv_nsec += 1000000000; left.tv_sec--; }
        if (left.tv_sec < 0) {
            timed_out = 1;
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            break;
        }
        sigtimedwait(&set, NULL, &left);
    }
    /* The case wrote its message before exiting, so it is in the pipe now.
     * Read without blocking: a descendant that escaped the process group
     * (setsid) may still hold the write end open. */
    char msg[1100];
    ssize_t n = 0, r;
    fcntl(pfd[0], F_SETFL, O_NONBLOCK);
    while (n < (ssize_t)sizeof msg - 1 && (r = read(pfd[0], msg + n, sizeof msg - 1 - n)) > 0)
        n += r;
    msg[n > 0 ? n : 0] = 0;
    close(pfd[0]);
    /* Kill anything the case left behind in its process group. */
    kill(-pid, SIGKILL);
    int failed = 0;
    if (timed_out) {
        printf("RESULT %s.%s TIMEOUT after %ds %s\n", AREA, c->name, timeout, msg);
        failed = 1;
    } else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        printf("RESULT %s.%s PASS\n", AREA, c->name);
    } else if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
        printf("RESULT %s.%s SKIP %s\n", AREA, c->name, msg);
    } else if (WIFEXITED(status)) {
        printf("RESULT %s.%s FAIL %s\n", AREA, c->name, n ? msg : "(exit status without message)");
        failed = 1;
    } else {
        printf("RESULT %s.%s CRASH signal %d (%s) %s\n", AREA, c->name, WTERMSIG(status),
               sigabbrev_np(WTERMSIG(status)) ? sigabbrev_np(WTERMSIG(status)) : "?", msg);
        failed = 1;
    }
    fflush(stdout);
    st_rmrf(st_tmp);
    return failed;
}

int main(int argc, char **argv) {
    int list = 0, timeout = 20;
    const char *filter = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--list")) list = 1;
        else if (!strcmp(argv[i], "--filter") && i + 1 < argc) filter = argv[++i];
        else if (!strcmp(argv[i], "--timeout") && i + 1 < argc) timeout = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: %s [--list] [--filter SUBSTR] [--timeout SECONDS]\n", argv[0]);
            return 2;
        }
    }
    /* SIGCHLD must be blocked for sigtimedwait to see it. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, NULL);
    setvbuf(stdout, NULL, _IOLBF, 0);
    int failed = 0;
    for (int i = 0; i < st_ncases; i++) {
        char full[300];
        snprintf(full, sizeof full, "%s.%s", AREA, st_cases[i].name);
        if (filter && !strstr(full, filter)) continue;
        if (list) { printf("%s\n", full); continue; }
        /* Each case starts with SIGCHLD unblocked in the child. */
        failed |= st_run_one(&st_cases[i], timeout);
    }
    return failed ? 1 : 0;
}
#endif /* ST_HARNESS_MAIN */
#endif
