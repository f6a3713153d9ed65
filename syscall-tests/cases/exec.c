/* execve and execveat: argument passing, close-on-exec, scripts, errors,
 * signal state across exec, /proc/self/exe.
 *
 * The programs executed are this binary itself: when the environment holds
 * ST_EXEC_HELPER=<mode>, a constructor runs the helper <mode> (printing what
 * it observes to stdout) and exits before the harness's main runs. */
#define AREA "exec"
#define ST_HARNESS_MAIN
#include "harness.h"

#include <dirent.h>
#include <limits.h>
#include <pthread.h>
#include <sys/syscall.h>

#ifndef AT_EMPTY_PATH
#define AT_EMPTY_PATH 0x1000
#endif

extern char **environ;

static const char *sig_disp(int sig) {
    struct sigaction sa;
    if (sigaction(sig, NULL, &sa) < 0) return "err";
    if (sa.sa_handler == SIG_DFL) return "dfl";
    if (sa.sa_handler == SIG_IGN) return "ign";
    return "handler";
}

__attribute__((constructor(101))) static void exec_helper(int argc, char **argv) {
    const char *mode = getenv("ST_EXEC_HELPER");
    if (!mode) return;
    if (!strcmp(mode, "dump")) {
        printf("argc=%d\n", argc);
        for (int i = 0; i < argc; i++) printf("arg:%s\n", argv[i]);
        for (char **e = environ; *e; e++) printf("env:%s\n", *e);
    } else if (!strcmp(mode, "fds")) {
        /* argv[1..]: fd numbers; report open/closed and remaining content. */
        for (int i = 1; i < argc; i++) {
            int fd = atoi(argv[i]);
            if (fcntl(fd, F_GETFD) < 0) {
                printf("%d:closed\n", fd);
            } else {
                char buf[64] = {0};
                ssize_t n = read(fd, buf, sizeof buf - 1);
                printf("%d:open:%s\n", fd, n > 0 ? buf : "");
            }
        }
    } else if (!strcmp(mode, "sigs")) {
        sigset_t mask, pend;
        sigprocmask(SIG_BLOCK, NULL, &mask);
        sigpending(&pend);
        printf("usr1=%s usr2=%s hup_blocked=%d term_pending=%d\n", sig_disp(SIGUSR1),
               sig_disp(SIGUSR2), sigismember(&mask, SIGHUP), sigismember(&pend, SIGTERM));
    } else if (!strcmp(mode, "exe")) {
        char buf[PATH_MAX] = {0};
        ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
        printf("exe=%s\n", n > 0 ? buf : "?");
    } else if (!strcmp(mode, "ids")) {
        DIR *d = opendir("/proc/self/task");
        int ntask = 0;
        struct dirent *de;
        while (d && (de = readdir(d)))
            if (de->d_name[0] != '.') ntask++;
        printf("pid=%d ppid=%d tid=%ld tasks=%d\n", getpid(), getppid(), syscall(SYS_gettid), ntask);
    } else if (!strcmp(mode, "comm")) {
        char buf[64] = {0};
        int fd = open("/proc/self/comm", O_RDONLY);
        ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
        printf("comm=%s", n > 0 ? buf : "?\n");
    } else if (!strcmp(mode, "alarm")) {
        printf("alarm=%u\n", alarm(0));
    } else {
        printf("unknown mode %s\n", mode);
    }
    fflush(stdout);
    _exit(0);
}

/* Run fn(arg) in a child whose stdout is a pipe; collect the output.
 * Returns the raw wait status. fn normally execs. */
static int run_capture(void (*fn)(void *), void *arg, char *out, size_t outsz) {
    int p[2];
    CHECK_OK(pipe(p));
    fflush(stdout);
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        close(p[0]);
        if (dup2(p[1], 1) < 0) _exit(120);
        close(p[1]);
        fn(arg);
        _exit(121);
    }
    close(p[1]);
    size_t n = 0;
    ssize_t r;
    while (n < outsz - 1 && (r = read(p[0], out + n, outsz - 1 - n)) > 0) n += r;
    out[n] = 0;
    close(p[0]);
    return st_wait(pid);
}

static void check_exit0(int st, const char *out) {
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        FAIL("child status 0x%x (exit %d), output: %s", st, WIFEXITED(st) ? WEXITSTATUS(st) : -1, out);
}

/* Copy /proc/self/exe to path with the given mode. */
static void copy_self(const char *path, mode_t mode) {
    int in = CHECK_OK(open("/proc/self/exe", O_RDONLY));
    int out = CHECK_OK(open(path, O_CREAT | O_WRONLY | O_TRUNC, 0700));
    char buf[65536];
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0)
        if (write(out, buf, n) != n) FAIL("short write copying self");
    CHECK(n == 0);
    CHECK_OK(fchmod(out, mode));
    close(in);
    close(out);
}

struct execargs {
    const char *path;
    char *const *argv;
    char *const *envp;
};

static void do_execve(void *a) {
    struct execargs *e = a;
    execve(e->path, e->argv, e->envp);
    _exit(100 + errno);
}

TEST(execve_passes_argv_and_envp) {
    char *argv[] = {"name0", "a", "b c", "", NULL};
    char *envp[] = {"ST_EXEC_HELPER=dump", "X=1", "EMPTY=", NULL};
    struct execargs e = {"/proc/self/exe", argv, envp};
    char out[4096];
    int st = run_capture(do_execve, &e, out, sizeof out);
    check_exit0(st, out);
    CHECK_STR(out, "argc=4\narg:name0\narg:a\narg:b c\narg:\n"
                   "env:ST_EXEC_HELPER=dump\nenv:X=1\nenv:EMPTY=\n");
}

TEST(execve_pid_and_ppid_unchanged) {
    char *argv[] = {"x", NULL};
    char *envp[] = {"ST_EXEC_HELPER=ids", NULL};
    struct execargs e = {"/proc/self/exe", argv, envp};
    char out[256], want[256];
    int p[2];
    CHECK_OK(pipe(p));
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        close(p[0]);
        dup2(p[1], 1);
        close(p[1]);
        do_execve(&e);
    }
    close(p[1]);
    ssize_t n = read(p[0], out, sizeof out - 1);
    CHECK(n > 0);
    out[n] = 0;
    check_exit0(st_wait(pid), out);
    snprintf(want, sizeof want, "pid=%d ppid=%d tid=%d tasks=1\n", pid, getpid(), pid);
    CHECK_STR(out, want);
}

static void do_exec_fds(void *a) {
    int *fds = a;
    char f0[16], f1[16], f2[16], f3[16];
    snprintf(f0, sizeof f0, "%d", fds[0]);
    snprintf(f1, sizeof f1, "%d", fds[1]);
    snprintf(f2, sizeof f2, "%d", fds[2]);
    snprintf(f3, sizeof f3, "%d", fds[3]);
    char *argv[] = {"fds", f0, f1, f2, f3, NULL};
    char *envp[] = {"ST_EXEC_HELPER=fds", NULL};
    execve("/proc/self/exe", argv, envp);
    _exit(100 + errno);
}

TEST(close_on_exec_closes_only_marked_fds) {
    int fd = CHECK_OK(open(tmp_path("f"), O_CREAT | O_RDWR, 0600));
    CHECK_EQ(write(fd, "0123456789", 10), 10);
    close(fd);
    int fds[4];
    fds[0] = CHECK_OK(open(tmp_path("f"), O_RDONLY | O_CLOEXEC));
    fds[1] = CHECK_OK(open(tmp_path("f"), O_RDONLY));
    fds[2] = CHECK_OK(fcntl(fds[1], F_DUPFD_CLOEXEC, 20));
    fds[3] = CHECK_OK(open(tmp_path("f"), O_RDONLY));
    CHECK_EQ(fcntl(fds[0], F_GETFD), FD_CLOEXEC);
    CHECK_EQ(fcntl(fds[1], F_GETFD), 0);
    CHECK_EQ(fcntl(fds[2], F_GETFD), FD_CLOEXEC);
    CHECK_OK(fcntl(fds[3], F_SETFD, FD_CLOEXEC));
    /* The kept fd shares its offset with the pre-exec description. */
    CHECK_EQ(lseek(fds[1], 4, SEEK_SET), 4);
    char out[1024], want[1024];
    int st = run_capture(do_exec_fds, fds, out, sizeof out);
    check_exit0(st, out);
    snprintf(want, sizeof want, "%d:closed\n%d:open:456789\n%d:closed\n%d:closed\n", fds[0], fds[1],
             fds[2], fds[3]);
    CHECK_STR(out, want);
    /* The child's read advanced the shared offset. */
    CHECK_EQ(lseek(fds[1], 0, SEEK_CUR), 10);
}

static void write_file(const char *path, const char *data, size_t len, mode_t mode) {
    int fd = CHECK_OK(open(path, O_CREAT | O_WRONLY | O_TRUNC, 0700));
    CHECK_EQ(write(fd, data, len), (long long)len);
    CHECK_OK(fchmod(fd, mode));
    close(fd);
}

TEST(shebang_script_with_interpreter_arg) {
    char interp[512], script[512], content[700], want[4096];
    snprintf(interp, sizeof interp, "%s", tmp_path("interp"));
    snprintf(script, sizeof script, "%s", tmp_path("script"));
    copy_self(interp, 0755);
    snprintf(content, sizeof content, "#!%s  -opt\nthis is not run\n", interp);
    write_file(script, content, strlen(content), 0755);
    char *argv[] = {"myscript", "extra1", "extra2", NULL};
    char *envp[] = {"ST_EXEC_HELPER=dump", NULL};
    struct execargs e = {script, argv, envp};
    char out[4096];
    int st = run_capture(do_execve, &e, out, sizeof out);
    check_exit0(st, out);
    snprintf(want, sizeof want,
             "argc=5\narg:%s\narg:-opt\narg:%s\narg:extra1\narg:extra2\nenv:ST_EXEC_HELPER=dump\n",
             interp, script);
    CHECK_STR(out, want);
}

TEST(shebang_script_without_arg) {
    char interp[512], script[512], content[700], want[4096];
    snprintf(interp, sizeof interp, "%s", tmp_path("interp"));
    snprintf(script, sizeof script, "%s", tmp_path("script"));
    copy_self(interp, 0755);
    snprintf(content, sizeof content, "#! %s\n", interp);
    write_file(script, content, strlen(content), 0755);
    char *argv[] = {"ignored-argv0", "x", NULL};
    char *envp[] = {"ST_EXEC_HELPER=dump", NULL};
    struct execargs e = {script, argv, envp};
    char out[4096];
    int st = run_capture(do_execve, &e, out, sizeof out);
    check_exit0(st, out);
    snprintf(want, sizeof want, "argc=3\narg:%s\narg:%s\narg:x\nenv:ST_EXEC_HELPER=dump\n", interp,
             script);
    CHECK_STR(out, want);
}

TEST(shebang_missing_interpreter_enoent) {
    const char *s = "#!/nonexistent/interpreter\n";
    write_file(tmp_path("script"), s, strlen(s), 0755);
    char *argv[] = {"s", NULL};
    CHECK_ERR(execve(tmp_path("script"), argv, environ), ENOENT);
}

TEST(garbage_file_enoexec) {
    const char garbage[] = "\x01\x02\x03 this is neither ELF nor a script\n";
    write_file(tmp_path("garbage"), garbage, sizeof garbage - 1, 0755);
    char *argv[] = {"g", NULL};
    CHECK_ERR(execve(tmp_path("garbage"), argv, environ), ENOEXEC);
    /* A truncated ELF header is not executable either. */
    write_file(tmp_path("elf"), "\x7f" "ELF", 4, 0755);
    CHECK_ERR(execve(tmp_path("elf"), argv, environ), ENOEXEC);
}

TEST(missing_file_enoent_and_enotdir) {
    char *argv[] = {"m", NULL};
    CHECK_ERR(execve(tmp_path("nope"), argv, environ), ENOENT);
    CHECK_ERR(execve(tmp_path("nodir/nope"), argv, environ), ENOENT);
    write_file(tmp_path("file"), "x", 1, 0755);
    CHECK_ERR(execve(tmp_path("file/sub"), argv, environ), ENOTDIR);
    CHECK_ERR(execve("", argv, environ), ENOENT);
}

TEST(not_executable_eacces) {
    copy_self(tmp_path("prog"), 0644);
    char *argv[] = {"p", NULL};
    /* Even root needs at least one execute bit. */
    CHECK_ERR(execve(tmp_path("prog"), argv, environ), EACCES);
}

TEST(directory_eacces) {
    char *argv[] = {"d", NULL};
    CHECK_ERR(execve(st_tmpdir(), argv, environ), EACCES);
    CHECK_ERR(execve("/proc", argv, environ), EACCES);
}

TEST(argument_too_long_e2big) {
    size_t len = 256 * 1024;
    char *big = malloc(len + 1);
    CHECK(big != NULL);
    memset(big, 'a', len);
    big[len] = 0;
    char *argv[] = {"x", big, NULL};
    char *envp[] = {"ST_EXEC_HELPER=dump", NULL};
    CHECK_ERR(execve("/proc/self/exe", argv, envp), E2BIG);
    free(big);
}

struct execat_args {
    int dirfd;
    const char *path;
    int flags;
    const char *mode;
};

static void do_execveat(void *a) {
    struct execat_args *e = a;
    char env[64];
    snprintf(env, sizeof env, "ST_EXEC_HELPER=%s", e->mode);
    char *argv[] = {"execat", NULL};
    char *envp[] = {env, NULL};
    syscall(SYS_execveat, e->dirfd, e->path, argv, envp, e->flags);
    _exit(100 + errno);
}

TEST(execveat_empty_path_fd) {
    int fd = CHECK_OK(open("/proc/self/exe", O_RDONLY));
    struct execat_args e = {fd, "", AT_EMPTY_PATH, "dump"};
    char out[1024];
    int st = run_capture(do_execveat, &e, out, sizeof out);
    check_exit0(st, out);
    CHECK_STR(out, "argc=1\narg:execat\nenv:ST_EXEC_HELPER=dump\n");
    /* Without AT_EMPTY_PATH an empty path is ENOENT. */
    char *argv[] = {"x", NULL};
    CHECK_ERR(syscall(SYS_execveat, fd, "", argv, environ, 0), ENOENT);
}

TEST(execveat_o_path_fd) {
    int fd = CHECK_OK(open("/proc/self/exe", O_PATH));
    struct execat_args e = {fd, "", AT_EMPTY_PATH, "dump"};
    char out[1024];
    int st = run_capture(do_execveat, &e, out, sizeof out);
    check_exit0(st, out);
    CHECK_STR(out, "argc=1\narg:execat\nenv:ST_EXEC_HELPER=dump\n");
}

TEST(execveat_relative_to_dirfd_and_proc_self_exe) {
    copy_self(tmp_path("prog"), 0755);
    char real[PATH_MAX], want[PATH_MAX + 16];
    CHECK(realpath(tmp_path("prog"), real) != NULL);
    int dfd = CHECK_OK(open(st_tmpdir(), O_RDONLY | O_DIRECTORY));
    CHECK_OK(chdir("/"));
    struct execat_args e = {dfd, "prog", 0, "exe"};
    char out[PATH_MAX + 64];
    int st = run_capture(do_execveat, &e, out, sizeof out);
    check_exit0(st, out);
    snprintf(want, sizeof want, "exe=%s\n", real);
    CHECK_STR(out, want);
    /* A relative path with a non-directory fd: ENOTDIR. */
    int ffd = CHECK_OK(open(tmp_path("prog"), O_RDONLY));
    char *argv[] = {"x", NULL};
    CHECK_ERR(syscall(SYS_execveat, ffd, "prog", argv, environ, 0), ENOTDIR);
    CHECK_ERR(syscall(SYS_execveat, dfd, "prog", argv, environ, 0x80000000), EINVAL);
}

/* The new comm is the last component of the path given to execve (a
 * symlink's own name, a script's name), cut to 15 bytes; with execveat on
 * an fd and an empty path it is the file's name. */
TEST(exec_sets_comm_from_the_path_given) {
    char link[512], want[64];
    copy_self(tmp_path("real-binary"), 0755);
    snprintf(link, sizeof link, "%s", tmp_path("a-symlink-with-a-long-name"));
    CHECK_OK(symlink(tmp_path("real-binary"), link));
    char *argv[] = {"argv0-is-not-used", NULL};
    char *envp[] = {"ST_EXEC_HELPER=comm", NULL};
    struct execargs e = {link, argv, envp};
    char out[256];
    int st = run_capture(do_execve, &e, out, sizeof out);
    check_exit0(st, out);
    CHECK_STR(out, "comm=a-symlink-with-\n");

    char script[512], content[700];
    snprintf(script, sizeof script, "%s", tmp_path("myscript.sh"));
    snprintf(content, sizeof content, "#!%s\n", tmp_path("real-binary"));
    write_file(script, content, strlen(content), 0755);
    e.path = script;
    st = run_capture(do_execve, &e, out, sizeof out);
    check_exit0(st, out);
    CHECK_STR(out, "comm=myscript.sh\n");

    int fd = CHECK_OK(open(tmp_path("real-binary"), O_RDONLY));
    struct execat_args ea = {fd, "", AT_EMPTY_PATH, "comm"};
    st = run_capture(do_execveat, &ea, out, sizeof out);
    check_exit0(st, out);
    snprintf(want, sizeof want, "comm=%s\n", "real-binary");
    CHECK_STR(out, want);
    close(fd);
}

TEST(proc_self_exe_after_execve) {
    copy_self(tmp_path("other"), 0755);
    char real[PATH_MAX], want[PATH_MAX + 16];
    CHECK(realpath(tmp_path("other"), real) != NULL);
    char *argv[] = {"other", NULL};
    char *envp[] = {"ST_EXEC_HELPER=exe", NULL};
    struct execargs e = {tmp_path("other"), argv, envp};
    char out[PATH_MAX + 64];
    int st = run_capture(do_execve, &e, out, sizeof out);
    check_exit0(st, out);
    snprintf(want, sizeof want, "exe=%s\n", real);
    CHECK_STR(out, want);
}

static void on_usr1(int sig) { (void)sig; }

static void do_exec_sigs(void *a) {
    (void)a;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGUSR2, &sa, NULL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_BLOCK, &set, NULL);
    raise(SIGTERM); /* stays pending: blocked */
    char *argv[] = {"sigs", NULL};
    char *envp[] = {"ST_EXEC_HELPER=sigs", NULL};
    execve("/proc/self/exe", argv, envp);
    _exit(100 + errno);
}

TEST(exec_resets_handlers_keeps_ignored_mask_and_pending) {
    char out[256];
    int st = run_capture(do_exec_sigs, NULL, out, sizeof out);
    check_exit0(st, out);
    CHECK_STR(out, "usr1=dfl usr2=ign hup_blocked=1 term_pending=1\n");
}

static void do_exec_alarm(void *a) {
    (void)a;
    alarm(1000);
    char *argv[] = {"alarm", NULL};
    char *envp[] = {"ST_EXEC_HELPER=alarm", NULL};
    execve("/proc/self/exe", argv, envp);
    _exit(100 + errno);
}

TEST(exec_preserves_alarm) {
    char out[256];
    int st = run_capture(do_exec_alarm, NULL, out, sizeof out);
    check_exit0(st, out);
    unsigned v = 0;
    CHECK_EQ(sscanf(out, "alarm=%u", &v), 1);
    CHECK(v > 990 && v <= 1000);
}

static void *exec_from_thread(void *a) {
    (void)a;
    char *argv[] = {"ids", NULL};
    char *envp[] = {"ST_EXEC_HELPER=ids", NULL};
    execve("/proc/self/exe", argv, envp);
    _exit(100 + errno);
}

static void do_exec_thread(void *a) {
    (void)a;
    pthread_t t;
    if (pthread_create(&t, NULL, exec_from_thread, NULL)) _exit(122);
    for (;;) pause();
}

TEST(exec_from_thread_takes_over_pid) {
    char out[256], want[256];
    int p[2];
    CHECK_OK(pipe(p));
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        close(p[0]);
        dup2(p[1], 1);
        close(p[1]);
        do_exec_thread(NULL);
    }
    close(p[1]);
    ssize_t n = read(p[0], out, sizeof out - 1);
    CHECK(n > 0);
    out[n] = 0;
    check_exit0(st_wait(pid), out);
    /* The exec'ing thread becomes the leader: the pid is kept, the tid is
     * the pid, the other threads are gone. */
    snprintf(want, sizeof want, "pid=%d ppid=%d tid=%d tasks=1\n", pid, getpid(), pid);
    CHECK_STR(out, want);
}

TEST(vfork_parent_resumes_at_exec) {
    char *argv[] = {"ids", NULL};
    char *envp[] = {"ST_EXEC_HELPER=ids", NULL};
    int p[2];
    CHECK_OK(pipe(p));
    pid_t pid = vfork();
    if (pid == 0) {
        dup2(p[1], 1);
        execve("/proc/self/exe", argv, envp);
        _exit(100 + errno);
    }
    CHECK(pid > 0);
    close(p[1]);
    char out[256], want[256];
    ssize_t n = read(p[0], out, sizeof out - 1);
    CHECK(n > 0);
    out[n] = 0;
    check_exit0(st_wait(pid), out);
    snprintf(want, sizeof want, "pid=%d ppid=%d tid=%d tasks=1\n", pid, getpid(), pid);
    CHECK_STR(out, want);
}
