/* The program break: brk(2) (raw syscall semantics) and sbrk(3). */
#define AREA "brk"
#define ST_HARNESS_MAIN
#include "harness.h"

#include <setjmp.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

#define PG 4096UL

static unsigned long raw_brk(unsigned long addr) { return (unsigned long)syscall(SYS_brk, addr); }

static sigjmp_buf jb;
static void on_segv(int s) {
    (void)s;
    siglongjmp(jb, 1);
}

/* 1 if a read of addr faults with SIGSEGV. */
static int faults(unsigned long addr) {
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_segv;
    sigaction(SIGSEGV, &sa, &old);
    int r = 0;
    if (sigsetjmp(jb, 1) == 0)
        (void)*(volatile char *)addr;
    else
        r = 1;
    sigaction(SIGSEGV, &old, NULL);
    return r;
}

static unsigned long page_up(unsigned long a) { return (a + PG - 1) & ~(PG - 1); }

TEST(brk0_returns_current) {
    unsigned long a = raw_brk(0);
    CHECK(a != 0);
    CHECK_EQ(raw_brk(0), a);
    CHECK_EQ((unsigned long)sbrk(0), a);
    /* The break lies above the program image, below the stack. */
    int local;
    CHECK(a < (unsigned long)&local);
}

TEST(grow_and_use) {
    unsigned long cur = raw_brk(0);
    unsigned long want = cur + 64 * 1024;
    CHECK_EQ(raw_brk(want), want);
    CHECK_EQ(raw_brk(0), want);
    unsigned char *p = (unsigned char *)cur;
    for (unsigned long i = 0; i < 64 * 1024; i++)
        if (p[i]) FAIL("new heap byte %lu not zero", i);
    memset(p, 0xab, 64 * 1024);
    CHECK_EQ(p[64 * 1024 - 1], 0xab);
    /* The page-rounded tail is usable too; the page beyond is not. */
    CHECK(!faults(page_up(want) - 1));
    CHECK(faults(page_up(want) + PG));
}

TEST(shrink_releases_and_rezeroes) {
    unsigned long cur = raw_brk(0);
    unsigned long base = page_up(cur);
    unsigned long big = base + 8 * PG;
    CHECK_EQ(raw_brk(big), big);
    memset((void *)(base + 4 * PG), 0x11, 4 * PG);
    CHECK_EQ(raw_brk(base + 4 * PG), base + 4 * PG);
    CHECK_EQ(raw_brk(0), base + 4 * PG);
    CHECK(faults(base + 5 * PG));
    CHECK(!faults(base + 3 * PG));
    /* Growing again gives fresh zeroed pages. */
    CHECK_EQ(raw_brk(big), big);
    CHECK_EQ(*(volatile unsigned char *)(base + 5 * PG), 0);
    CHECK_EQ(raw_brk(cur), cur);
}

TEST(invalid_requests_return_old_break) {
    unsigned long cur = raw_brk(0);
    /* Below the start of the heap: refused, the old break comes back. */
    CHECK_EQ(raw_brk(1), cur);
    CHECK_EQ(raw_brk(PG), cur);
    /* Beyond the user address space: refused the same way. */
    CHECK_EQ(raw_brk(1UL << 62), cur);
    CHECK_EQ(raw_brk(cur + (1UL << 47)), cur);
    CHECK_EQ(raw_brk(0), cur);
}

TEST(brk_cannot_overlap_a_mapping) {
    unsigned long cur = raw_brk(0);
    unsigned long at = page_up(cur) + 16 * PG;
    void *m = mmap((void *)at, PG, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (m == MAP_FAILED) SKIP("cannot place a mapping above the break: %s", strerrorname_np(errno));
    CHECK(m == (void *)at);
    *(char *)m = 'm';
    CHECK_EQ(raw_brk(at + 2 * PG), cur);
    CHECK_EQ(*(char *)m, 'm');
    /* Up to the mapping is fine. */
    CHECK_EQ(raw_brk(at - PG), at - PG);
}

TEST(sbrk_increments) {
    char *old = sbrk(0);
    CHECK(old != (void *)-1);
    char *p = sbrk(3 * PG);
    CHECK(p == old);
    CHECK(sbrk(0) == old + 3 * PG);
    CHECK_EQ(raw_brk(0), (unsigned long)(old + 3 * PG));
    memset(p, 'q', 3 * PG);
    CHECK(sbrk(-(intptr_t)(2 * PG)) == old + 3 * PG);
    CHECK(sbrk(0) == old + PG);
    CHECK_EQ(p[PG - 1], 'q');
}

TEST(break_inherited_by_fork) {
    unsigned long cur = raw_brk(0);
    unsigned long grown = cur + 4 * PG;
    CHECK_EQ(raw_brk(grown), grown);
    strcpy((char *)cur, "heap");
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        CHECK_EQ(raw_brk(0), grown);
        CHECK_STR((char *)cur, "heap");
        strcpy((char *)cur, "kid");
        CHECK_EQ(raw_brk(grown + 8 * PG), grown + 8 * PG);
        _exit(0);
    }
    int st = st_wait(pid);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    CHECK_EQ(raw_brk(0), grown);
    CHECK_STR((char *)cur, "heap");
}
