/* Random syscalls with hostile arguments (runsc-cli/tests/programs.rs): the
 * Sentry must answer each with a result or an errno, never a panic. Calls
 * that would end or reshape the fuzzer itself are skipped. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
static char buf[65536];
static uint64_t rnd(void) { static uint64_t s = 0x9E3779B97F4A7C15ull; s ^= s << 13; s ^= s >> 7; s ^= s << 17; return s; }
static long arg(void) {
    switch (rnd() % 10) {
    case 0: return 0; case 1: return -1; case 2: return rnd() % 16; case 3: return (long)buf;
    case 4: return (long)buf + (rnd() % 60000); case 5: return 1; case 6: return (long)(rnd());
    case 7: return 0x7fffffffffffULL; case 8: return 4096; default: return rnd() % 0x10000;
    }
}
static int skip(long nr) {
    static const int bad[] = {SYS_exit, SYS_exit_group, SYS_fork, SYS_vfork, SYS_clone, SYS_clone3, SYS_execve, SYS_execveat,
        SYS_rt_sigreturn, SYS_pause, SYS_kill, SYS_tkill, SYS_tgkill, SYS_rt_sigsuspend, SYS_munmap, SYS_mremap, SYS_mprotect,
        SYS_brk, SYS_madvise, SYS_rt_sigprocmask, SYS_rt_sigaction, SYS_setrlimit, SYS_prlimit64, SYS_sigaltstack, SYS_arch_prctl,
        SYS_set_tid_address, SYS_setsid, SYS_setpgid, SYS_close, SYS_close_range, SYS_dup2, SYS_dup3, SYS_prctl, SYS_seccomp, SYS_ptrace, -1};
    for (int i = 0; bad[i] >= 0; i++) if (bad[i] == nr) return 1;
    return 0;
}
int main(int argc, char **argv) {
    int batches = argc > 1 ? atoi(argv[1]) : 50;
    int done = 0;
    for (int b = 0; b < batches; b++) {
        pid_t p = fork();
        if (p == 0) {
            for (int i = 0; i < 400; i++) {
                long nr = rnd() % 460;
                if (skip(nr)) continue;
                alarm(1);
                syscall(nr, arg(), arg(), arg(), arg(), arg(), arg());
            }
            _exit(0);
        }
        for (int i = 0; i < 5; i++) rnd();
        int st;
        waitpid(p, &st, 0);
        done++;
    }
    printf("batches %d\n", done);
    return 0;
}
