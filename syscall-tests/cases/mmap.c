/* Memory mappings: mmap, munmap, mprotect, mremap, madvise, msync,
 * mincore, faults (SIGSEGV/SIGBUS with si_code), fork semantics. */
#define AREA "mmap"
#define ST_HARNESS_MAIN
#include "harness.h"

#include <setjmp.h>
#include <sys/mman.h>
#include <sys/resource.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

#define PG 4096L

static sigjmp_buf fault_jb;
static volatile int fault_sig, fault_code;
static void *volatile fault_addr;

static void fault_handler(int sig, siginfo_t *si, void *uc) {
    (void)uc;
    fault_sig = sig;
    fault_code = si->si_code;
    fault_addr = si->si_addr;
    siglongjmp(fault_jb, 1);
}

/* Touch one byte; returns 0 if the access worked, else the signal number
 * (fault_code/fault_addr describe it). */
static int touch(void *addr, int write) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = fault_handler;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);
    fault_sig = 0;
    fault_code = 0;
    fault_addr = NULL;
    if (sigsetjmp(fault_jb, 1) == 0) {
        if (write)
            *(volatile char *)addr = 7;
        else
            (void)*(volatile char *)addr;
    }
    signal(SIGSEGV, SIG_DFL);
    signal(SIGBUS, SIG_DFL);
    return fault_sig;
}

#define CHECK_FAULT(addr, write, sig, code)                                  \
    do {                                                                     \
        void *ck_a = (addr);                                                 \
        int ck_s = touch(ck_a, (write));                                     \
        if (ck_s != (sig))                                                   \
            FAIL("%s of %p: expected signal %d got %d", (write) ? "write" : "read", \
                 ck_a, (sig), ck_s);                                         \
        if (ck_s && fault_code != (code))                                    \
            FAIL("%s of %p: expected si_code %d got %d", (write) ? "write" : "read", \
                 ck_a, (code), fault_code);                                  \
        if (ck_s && fault_addr != ck_a)                                      \
            FAIL("si_addr %p, expected %p", fault_addr, ck_a);               \
    } while (0)

static void child_ok(pid_t pid) {
    int st = st_wait(pid);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 77) _exit(77);
    if (WIFEXITED(st)) FAIL("helper child exited with %d", WEXITSTATUS(st));
    FAIL("helper child killed by signal %d", WTERMSIG(st));
}

static char *anon(size_t len, int prot) {
    void *p = mmap(NULL, len, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) FAIL("mmap anon %zu: %s", len, strerrorname_np(errno));
    return p;
}

/* A file of `pages` pages, page i filled with 'A'+i. */
static int page_file(const char *name, int pages) {
    int fd = CHECK_OK(open(tmp_path(name), O_CREAT | O_RDWR | O_TRUNC, 0644));
    static char buf[PG];
    for (int i = 0; i < pages; i++) {
        memset(buf, 'A' + i, sizeof buf);
        CHECK_EQ(write(fd, buf, PG), PG);
    }
    return fd;
}

/* Reserve a free range of `pages` pages (mapped PROT_NONE then unmapped). */
static char *free_range(int pages) {
    char *p = anon(pages * PG, PROT_NONE);
    CHECK_OK(munmap(p, pages * PG));
    return p;
}

/* Is addr covered by a line of /proc/self/maps? Copies the line. */
static int maps_line(void *addr, char *out, size_t outlen) {
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f) FAIL("open /proc/self/maps: %s", strerrorname_np(errno));
    char line[512];
    int found = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx", &lo, &hi) != 2) continue;
        if ((unsigned long)addr >= lo && (unsigned long)addr < hi) {
            if (out) snprintf(out, outlen, "%s", line);
            found = 1;
            break;
        }
    }
    fclose(f);
    return found;
}

TEST(anon_private_zeroed_rw) {
    char *p = anon(3 * PG, PROT_READ | PROT_WRITE);
    CHECK(((unsigned long)p & (PG - 1)) == 0);
    for (long i = 0; i < 3 * PG; i++)
        if (p[i]) FAIL("byte %ld not zero", i);
    memset(p, 0x5a, 3 * PG);
    CHECK_EQ(p[3 * PG - 1], 0x5a);
    CHECK_OK(munmap(p, 3 * PG));
}

TEST(anon_length_rounded_to_pages) {
    char *p = anon(100, PROT_READ | PROT_WRITE);
    p[PG - 1] = 1; /* the rest of the page is mapped too */
    CHECK_EQ(p[PG - 1], 1);
    CHECK_OK(munmap(p, 100)); /* munmap rounds up as well */
    CHECK_FAULT(p, 0, SIGSEGV, SEGV_MAPERR);
}

TEST(anon_shared_visible_across_fork) {
    int *p = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(p != MAP_FAILED);
    p[0] = 1;
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        CHECK_EQ(p[0], 1);
        p[1] = 42;
        _exit(0);
    }
    child_ok(pid);
    CHECK_EQ(p[1], 42);
}

TEST(anon_private_copy_on_write_across_fork) {
    int *p = (int *)anon(PG, PROT_READ | PROT_WRITE);
    p[0] = 1;
    int pp[2];
    CHECK_OK(pipe(pp));
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        CHECK_EQ(p[0], 1);
        p[0] = 2;
        char c;
        CHECK_EQ(read(pp[0], &c, 1), 1); /* parent has written its value */
        CHECK_EQ(p[0], 2);
        _exit(0);
    }
    p[0] = 3;
    CHECK_EQ(write(pp[1], "x", 1), 1);
    child_ok(pid);
    CHECK_EQ(p[0], 3);
}

TEST(file_private_not_written_back) {
    int fd = page_file("f", 2);
    char *p = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    CHECK(p != MAP_FAILED);
    CHECK_EQ(p[0], 'A');
    CHECK_EQ(p[PG], 'B');
    p[0] = 'z';
    CHECK_OK(msync(p, 2 * PG, MS_SYNC));
    char c;
    CHECK_EQ(pread(fd, &c, 1, 0), 1);
    CHECK_EQ(c, 'A');
    CHECK_OK(munmap(p, 2 * PG));
    CHECK_EQ(pread(fd, &c, 1, 0), 1);
    CHECK_EQ(c, 'A');
}

TEST(file_private_sees_file_until_written) {
    int fd = page_file("f", 2);
    char *p = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    CHECK(p != MAP_FAILED);
    CHECK_EQ(p[PG], 'B');
    p[0] = 'z'; /* page 0 is now a private copy */
    CHECK_EQ(pwrite(fd, "QQ", 2, 0), 2);
    CHECK_EQ(pwrite(fd, "RR", 2, PG), 2);
    CHECK_EQ(p[0], 'z');
    CHECK_EQ(p[1], 'A');
    /* Page 1 was never written: it still shows the file. */
    CHECK_EQ(p[PG], 'R');
}

TEST(file_shared_written_back) {
    int fd = page_file("f", 2);
    char *p = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHECK(p != MAP_FAILED);
    p[10] = 'x';
    p[PG + 10] = 'y';
    char c;
    CHECK_EQ(pread(fd, &c, 1, 10), 1); /* visible even before msync */
    CHECK_EQ(c, 'x');
    CHECK_OK(msync(p, 2 * PG, MS_SYNC));
    CHECK_OK(munmap(p, 2 * PG));
    close(fd);
    fd = CHECK_OK(open(tmp_path("f"), O_RDONLY));
    CHECK_EQ(pread(fd, &c, 1, PG + 10), 1);
    CHECK_EQ(c, 'y');
}

TEST(file_shared_sees_write_syscall) {
    int fd = page_file("f", 1);
    char *p = mmap(NULL, PG, PROT_READ, MAP_SHARED, fd, 0);
    CHECK(p != MAP_FAILED);
    char *q = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHECK(q != MAP_FAILED);
    CHECK(p != q);
    CHECK_EQ(pwrite(fd, "hey", 3, 100), 3);
    CHECK(memcmp(p + 100, "hey", 3) == 0);
    q[200] = '!';
    CHECK_EQ(p[200], '!');
}

TEST(file_offset) {
    int fd = page_file("f", 4);
    char *p = mmap(NULL, PG, PROT_READ, MAP_PRIVATE, fd, 2 * PG);
    CHECK(p != MAP_FAILED);
    CHECK_EQ(p[0], 'C');
    CHECK_EQ(p[PG - 1], 'C');
    CHECK(mmap(NULL, PG, PROT_READ, MAP_PRIVATE, fd, 100) == MAP_FAILED);
    CHECK_EQ(errno, EINVAL);
}

TEST(map_fixed_replaces) {
    int fd = page_file("f", 3);
    char *p = mmap(NULL, 3 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    CHECK(p != MAP_FAILED);
    char *q = mmap(p + PG, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    CHECK(q == p + PG);
    CHECK_EQ(p[0], 'A');
    CHECK_EQ(p[PG], 0);
    CHECK_EQ(p[2 * PG], 'C');
    /* MAP_FIXED requires an aligned address. */
    CHECK(mmap(p + 1, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED);
    CHECK_EQ(errno, EINVAL);
}

TEST(map_fixed_noreplace) {
    char *p = anon(2 * PG, PROT_READ | PROT_WRITE);
    p[0] = 9;
    void *r = mmap(p + PG, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    CHECK(r == MAP_FAILED);
    CHECK_EQ(errno, EEXIST);
    CHECK_EQ(p[0], 9);
    char *f = free_range(2);
    r = mmap(f, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    CHECK(r == f);
    f[0] = 1;
}

TEST(partial_munmap_splits) {
    char *p = anon(3 * PG, PROT_READ | PROT_WRITE);
    memset(p, 1, 3 * PG);
    CHECK_OK(munmap(p + PG, PG));
    CHECK_EQ(p[0], 1);
    CHECK_EQ(p[2 * PG], 1);
    CHECK_FAULT(p + PG, 0, SIGSEGV, SEGV_MAPERR);
    CHECK(maps_line(p, NULL, 0));
    CHECK(!maps_line(p + PG, NULL, 0));
    CHECK(maps_line(p + 2 * PG, NULL, 0));
}

TEST(unmapped_access_kills_with_sigsegv) {
    char *p = free_range(1);
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        struct rlimit rl = {0, 0};
        setrlimit(RLIMIT_CORE, &rl);
        signal(SIGSEGV, SIG_DFL);
        *(volatile char *)p = 1;
        _exit(0);
    }
    int st = st_wait(pid);
    CHECK(WIFSIGNALED(st));
    CHECK_EQ(WTERMSIG(st), SIGSEGV);
}

TEST(mprotect_none_faults_accerr) {
    char *p = anon(2 * PG, PROT_READ | PROT_WRITE);
    p[PG] = 5;
    CHECK_OK(mprotect(p + PG, PG, PROT_NONE));
    CHECK_FAULT(p + PG, 0, SIGSEGV, SEGV_ACCERR);
    CHECK_FAULT(p + PG + 7, 1, SIGSEGV, SEGV_ACCERR);
    CHECK_FAULT(p, 1, 0, 0);
    CHECK_OK(mprotect(p + PG, PG, PROT_READ));
    CHECK_EQ(p[PG], 5); /* contents survive */
    CHECK_FAULT(p + PG, 1, SIGSEGV, SEGV_ACCERR);
    char line[512];
    CHECK(maps_line(p + PG, line, sizeof line));
    CHECK(strstr(line, " r--p ") != NULL);
}

TEST(mprotect_errors) {
    char *p = anon(PG, PROT_READ);
    CHECK_ERR(mprotect(p + 1, PG, PROT_READ), EINVAL);
    CHECK_ERR(mprotect(p, PG, 0x100), EINVAL);
    char *f = free_range(1);
    CHECK_ERR(mprotect(f, PG, PROT_READ), ENOMEM);
    CHECK_OK(mprotect(p, 0, PROT_NONE)); /* zero length: nothing to do */
    CHECK_FAULT(p, 0, 0, 0);
}

TEST(readonly_file_mapping) {
    int fd = page_file("f", 1);
    close(fd);
    fd = CHECK_OK(open(tmp_path("f"), O_RDONLY));
    /* Shared writable mapping needs a writable fd. */
    CHECK(mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) == MAP_FAILED);
    CHECK_EQ(errno, EACCES);
    char *p = mmap(NULL, PG, PROT_READ, MAP_SHARED, fd, 0);
    CHECK(p != MAP_FAILED);
    CHECK_EQ(p[0], 'A');
    CHECK_FAULT(p, 1, SIGSEGV, SEGV_ACCERR);
    CHECK_ERR(mprotect(p, PG, PROT_READ | PROT_WRITE), EACCES);
    /* A private mapping may be made writable: the copy stays private. */
    char *q = mmap(NULL, PG, PROT_READ, MAP_PRIVATE, fd, 0);
    CHECK(q != MAP_FAILED);
    CHECK_OK(mprotect(q, PG, PROT_READ | PROT_WRITE));
    q[0] = 'w';
    CHECK_EQ(p[0], 'A');
}

TEST(mmap_needs_readable_fd) {
    int fd = page_file("f", 1);
    close(fd);
    fd = CHECK_OK(open(tmp_path("f"), O_WRONLY));
    CHECK(mmap(NULL, PG, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED);
    CHECK_EQ(errno, EACCES);
    CHECK(mmap(NULL, PG, PROT_WRITE, MAP_SHARED, fd, 0) == MAP_FAILED);
    CHECK_EQ(errno, EACCES);
    CHECK(mmap(NULL, PG, PROT_READ, MAP_PRIVATE, fd, 0) == MAP_FAILED);
    CHECK_EQ(errno, EACCES);
}

TEST(mmap_bad_fd_and_args) {
    CHECK(mmap(NULL, PG, PROT_READ, MAP_PRIVATE, -1, 0) == MAP_FAILED);
    CHECK_EQ(errno, EBADF);
    int fd = page_file("f", 1);
    close(fd);
    CHECK(mmap(NULL, PG, PROT_READ, MAP_PRIVATE, fd, 0) == MAP_FAILED);
    CHECK_EQ(errno, EBADF);
    CHECK(mmap(NULL, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED);
    CHECK_EQ(errno, EINVAL);
    /* Neither MAP_PRIVATE nor MAP_SHARED. */
    CHECK(mmap(NULL, PG, PROT_READ, MAP_ANONYMOUS, -1, 0) == MAP_FAILED);
    CHECK_EQ(errno, EINVAL);
    /* Unaligned offset. */
    fd = page_file("g", 2);
    CHECK(mmap(NULL, PG, PROT_READ, MAP_SHARED, fd, 1) == MAP_FAILED);
    CHECK_EQ(errno, EINVAL);
    /* Absurd length. */
    CHECK(mmap(NULL, (size_t)-PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED);
    CHECK_EQ(errno, ENOMEM);
}

TEST(mmap_unmappable_files_enodev) {
    int d = CHECK_OK(open(st_tmpdir(), O_RDONLY | O_DIRECTORY));
    CHECK(mmap(NULL, PG, PROT_READ, MAP_PRIVATE, d, 0) == MAP_FAILED);
    CHECK_EQ(errno, ENODEV);
    int p[2];
    CHECK_OK(pipe(p));
    CHECK(mmap(NULL, PG, PROT_READ, MAP_SHARED, p[0], 0) == MAP_FAILED);
    CHECK_EQ(errno, ENODEV);
}

TEST(dev_zero_mappings) {
    int fd = CHECK_OK(open("/dev/zero", O_RDWR));
    char *p = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    CHECK(p != MAP_FAILED);
    CHECK_EQ(p[100], 0);
    p[100] = 1;
    char *s = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHECK(s != MAP_FAILED);
    CHECK_EQ(s[100], 0); /* each mapping is its own zeroed object */
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        s[0] = 'S';
        p[0] = 'P';
        _exit(0);
    }
    child_ok(pid);
    CHECK_EQ(s[0], 'S'); /* MAP_SHARED of /dev/zero is shared anon memory */
    CHECK_EQ(p[0], 0);
}

TEST(mremap_grow_and_move) {
    char *p = free_range(3);
    CHECK(mmap(p, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == p);
    p[0] = 'a';
    p[PG] = 'b';
    /* Block growth in place by mapping the page after it. */
    CHECK(mmap(p + 2 * PG, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == p + 2 * PG);
    void *r = mremap(p, 2 * PG, 4 * PG, 0);
    CHECK(r == MAP_FAILED);
    CHECK_EQ(errno, ENOMEM);
    char *q = mremap(p, 2 * PG, 4 * PG, MREMAP_MAYMOVE);
    CHECK(q != MAP_FAILED);
    CHECK(q != p);
    CHECK_EQ(q[0], 'a');
    CHECK_EQ(q[PG], 'b');
    CHECK_EQ(q[3 * PG], 0);
    q[4 * PG - 1] = 1;
    CHECK_FAULT(p, 0, SIGSEGV, SEGV_MAPERR); /* old range is gone */
}

TEST(mremap_grow_in_place) {
    char *p = free_range(4);
    CHECK(mmap(p, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == p);
    p[0] = 'x';
    char *q = mremap(p, 2 * PG, 4 * PG, 0);
    CHECK(q == p);
    CHECK_EQ(q[0], 'x');
    q[3 * PG] = 'y';
    CHECK_EQ(q[3 * PG], 'y');
}

TEST(mremap_shrink) {
    char *p = anon(4 * PG, PROT_READ | PROT_WRITE);
    p[0] = 'k';
    char *q = mremap(p, 4 * PG, PG, 0);
    CHECK(q == p);
    CHECK_EQ(q[0], 'k');
    CHECK_FAULT(p + PG, 0, SIGSEGV, SEGV_MAPERR);
    CHECK_FAULT(p + 3 * PG, 0, SIGSEGV, SEGV_MAPERR);
}

TEST(mremap_fixed) {
    char *p = anon(PG, PROT_READ | PROT_WRITE);
    strcpy(p, "moved");
    char *dst = anon(2 * PG, PROT_READ);
    char *q = mremap(p, PG, PG, MREMAP_MAYMOVE | MREMAP_FIXED, dst + PG);
    CHECK(q == dst + PG);
    CHECK_STR(q, "moved");
    CHECK_FAULT(p, 0, SIGSEGV, SEGV_MAPERR);
    CHECK_FAULT(dst + PG, 1, 0, 0); /* takes the new mapping's protection */
    CHECK_FAULT(dst, 1, SIGSEGV, SEGV_ACCERR); /* the rest of dst is untouched */
}

TEST(mremap_errors) {
    char *p = anon(2 * PG, PROT_READ | PROT_WRITE);
    CHECK(mremap(p + 1, PG, 2 * PG, MREMAP_MAYMOVE) == MAP_FAILED);
    CHECK_EQ(errno, EINVAL);
    CHECK(mremap(p, PG, PG, MREMAP_FIXED, p + 8 * PG) == MAP_FAILED);
    CHECK_EQ(errno, EINVAL);
    CHECK(mremap(p, PG, 0, MREMAP_MAYMOVE) == MAP_FAILED);
    CHECK_EQ(errno, EINVAL);
    CHECK(mremap(p, PG, PG, 0x100) == MAP_FAILED);
    CHECK_EQ(errno, EINVAL);
    char *f = free_range(2);
    CHECK(mremap(f, PG, 2 * PG, MREMAP_MAYMOVE) == MAP_FAILED);
    CHECK_EQ(errno, EFAULT);
}

TEST(madvise_dontneed) {
    char *p = anon(2 * PG, PROT_READ | PROT_WRITE);
    memset(p, 'x', 2 * PG);
    CHECK_OK(madvise(p, PG, MADV_DONTNEED));
    CHECK_EQ(p[0], 0);
    CHECK_EQ(p[PG - 1], 0);
    CHECK_EQ(p[PG], 'x');
    /* A private file mapping drops back to the file's contents. */
    int fd = page_file("f", 1);
    char *q = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    CHECK(q != MAP_FAILED);
    q[0] = 'z';
    CHECK_OK(madvise(q, PG, MADV_DONTNEED));
    CHECK_EQ(q[0], 'A');
    /* A shared mapping keeps its data. */
    char *s = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(s != MAP_FAILED);
    s[0] = 's';
    CHECK_OK(madvise(s, PG, MADV_DONTNEED));
    CHECK_EQ(s[0], 's');
}

TEST(madvise_errors) {
    char *p = anon(PG, PROT_READ | PROT_WRITE);
    CHECK_ERR(madvise(p + 1, PG, MADV_NORMAL), EINVAL);
    CHECK_ERR(madvise(p, PG, 12345), EINVAL);
    char *f = free_range(1);
    CHECK_ERR(madvise(f, PG, MADV_NORMAL), ENOMEM);
    CHECK_OK(madvise(p, PG, MADV_SEQUENTIAL));
    CHECK_OK(madvise(p, PG, MADV_WILLNEED));
}

TEST(access_beyond_eof_sigbus) {
    int fd = CHECK_OK(open(tmp_path("f"), O_CREAT | O_RDWR, 0644));
    CHECK_EQ(write(fd, "0123456789", 10), 10);
    char *p = mmap(NULL, 3 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHECK(p != MAP_FAILED);
    CHECK_EQ(p[9], '9');
    CHECK_EQ(p[10], 0); /* rest of the last page reads as zero */
    CHECK_EQ(p[PG - 1], 0);
    CHECK_FAULT(p + PG, 0, SIGBUS, BUS_ADRERR);
    CHECK_FAULT(p + 2 * PG + 5, 1, SIGBUS, BUS_ADRERR);
    /* Extending the file makes the page accessible. */
    CHECK_OK(ftruncate(fd, 2 * PG));
    CHECK_FAULT(p + PG, 0, 0, 0);
    CHECK_EQ(p[PG], 0);
    /* Truncating it again brings the SIGBUS back. */
    CHECK_OK(ftruncate(fd, 10));
    CHECK_FAULT(p + PG, 0, SIGBUS, BUS_ADRERR);
}

TEST(sigbus_kills_by_default) {
    int fd = CHECK_OK(open(tmp_path("f"), O_CREAT | O_RDWR, 0644));
    char *p = mmap(NULL, PG, PROT_READ, MAP_SHARED, fd, 0);
    CHECK(p != MAP_FAILED);
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        struct rlimit rl = {0, 0};
        setrlimit(RLIMIT_CORE, &rl);
        (void)*(volatile char *)p;
        _exit(0);
    }
    int st = st_wait(pid);
    CHECK(WIFSIGNALED(st));
    CHECK_EQ(WTERMSIG(st), SIGBUS);
}

TEST(munmap_semantics) {
    char *p = anon(PG, PROT_READ);
    CHECK_ERR(munmap(p + 1, PG), EINVAL);
    CHECK_ERR(munmap(p, 0), EINVAL);
    CHECK_OK(munmap(p, PG));
    CHECK_OK(munmap(p, PG)); /* unmapping nothing is not an error */
    CHECK(!maps_line(p, NULL, 0));
}

TEST(mincore) {
    char *p = anon(4 * PG, PROT_READ | PROT_WRITE);
    p[0] = 1;
    p[2 * PG] = 1;
    unsigned char vec[4] = {0xff, 0xff, 0xff, 0xff};
    CHECK_OK(mincore(p, 4 * PG, vec));
    CHECK_EQ(vec[0] & 1, 1);
    CHECK_EQ(vec[2] & 1, 1);
    for (int i = 0; i < 4; i++) CHECK_EQ(vec[i] & ~1, 0);
    CHECK_ERR(mincore(p + 1, PG, vec), EINVAL);
    char *f = free_range(1);
    CHECK_ERR(mincore(f, PG, vec), ENOMEM);
    CHECK_ERR(mincore(p, PG, (unsigned char *)f), EFAULT);
}

TEST(map_populate) {
    char *p = mmap(NULL, 8 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    CHECK(p != MAP_FAILED);
    unsigned char vec[8];
    CHECK_OK(mincore(p, 8 * PG, vec));
    for (int i = 0; i < 8; i++)
        if (!(vec[i] & 1)) FAIL("page %d not resident after MAP_POPULATE", i);
    CHECK_EQ(p[5 * PG], 0);
    int fd = page_file("f", 2);
    char *q = mmap(NULL, 2 * PG, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, 0);
    CHECK(q != MAP_FAILED);
    CHECK_EQ(q[PG], 'B');
}

TEST(msync_flags) {
    int fd = page_file("f", 2);
    char *p = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    CHECK(p != MAP_FAILED);
    p[0] = 'm';
    CHECK_OK(msync(p, 2 * PG, MS_ASYNC));
    CHECK_OK(msync(p, PG, MS_SYNC | MS_INVALIDATE));
    CHECK_ERR(msync(p, PG, MS_SYNC | MS_ASYNC), EINVAL);
    CHECK_ERR(msync(p, PG, 0x100), EINVAL);
    CHECK_ERR(msync(p + 1, PG, MS_SYNC), EINVAL);
    char *f = free_range(1);
    CHECK_ERR(msync(f, PG, MS_SYNC), ENOMEM);
    char c;
    CHECK_EQ(pread(fd, &c, 1, 0), 1);
    CHECK_EQ(c, 'm');
}

TEST(proc_maps_shows_mappings) {
    char *p = anon(3 * PG, PROT_READ);
    char line[512];
    CHECK(maps_line(p, line, sizeof line));
    unsigned long lo, hi;
    CHECK_EQ(sscanf(line, "%lx-%lx", &lo, &hi), 2);
    CHECK(lo <= (unsigned long)p && hi >= (unsigned long)p + 3 * PG);
    CHECK(strstr(line, " r--p ") != NULL);
    int fd = page_file("mapped-file", 2);
    char *q = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, PG);
    CHECK(q != MAP_FAILED);
    CHECK(maps_line(q, line, sizeof line));
    CHECK_EQ(sscanf(line, "%lx-%lx", &lo, &hi), 2);
    CHECK_EQ(lo, (unsigned long)q);
    CHECK_EQ(hi, (unsigned long)q + PG);
    CHECK(strstr(line, " rw-s 00001000 ") != NULL);
    CHECK(strstr(line, "/mapped-file\n") != NULL);
    CHECK_OK(munmap(q, PG));
    CHECK(!maps_line(q, line, sizeof line) || !strstr(line, "mapped-file"));
}

TEST(mlock_munlock) {
    char *p = anon(2 * PG, PROT_READ | PROT_WRITE);
    if (mlock(p, PG) < 0) {
        if (errno == EPERM || errno == ENOMEM) SKIP("mlock not permitted: %s", strerrorname_np(errno));
        FAIL("mlock: %s", strerrorname_np(errno));
    }
    unsigned char vec[2];
    CHECK_OK(mincore(p, PG, vec));
    CHECK_EQ(vec[0] & 1, 1); /* mlock faults the pages in */
    CHECK_OK(munlock(p, PG));
    char *f = free_range(1);
    CHECK_ERR(mlock(f, PG), ENOMEM);
}

TEST(fork_inherits_protection) {
    char *p = anon(PG, PROT_READ | PROT_WRITE);
    p[0] = 1;
    CHECK_OK(mprotect(p, PG, PROT_READ));
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        CHECK_EQ(p[0], 1);
        CHECK_FAULT(p, 1, SIGSEGV, SEGV_ACCERR);
        _exit(0);
    }
    child_ok(pid);
}
