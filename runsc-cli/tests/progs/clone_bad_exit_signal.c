/* A legacy clone whose exit signal (200) is no signal: Linux accepts it and
 * never sends it; the Sentry must not panic when the child exits. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(void) {
    long r = syscall(SYS_clone, 200 /* exit signal 200 */, 0, 0, 0, 0);
    if (r == 0) _exit(0);
    printf("%ld %d\n", r, errno);
    return 0;
}
