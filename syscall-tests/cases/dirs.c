/* dirs: mkdir/rmdir, getdents64, directory offsets, chdir/fchdir/getcwd. */
#define AREA "dirs"
#define ST_HARNESS_MAIN
#include "harness.h"

#include <dirent.h>
#include <limits.h>
#include <sys/syscall.h>

struct linux_dirent64 {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

static void put(const char *name) {
    int fd = CHECK_OK(open(tmp_path(name), O_CREAT | O_WRONLY, 0644));
    CHECK_OK(close(fd));
}

/* Reads every entry of an open directory fd; returns the count and stores
 * up to `max` names and types. `bufsize` sets the getdents64 buffer size. */
static int list_fd(int fd, size_t bufsize, char names[][64], unsigned char *types, int max) {
    char buf[8192];
    if (bufsize > sizeof buf) bufsize = sizeof buf;
    int n = 0;
    for (;;) {
        long r = syscall(SYS_getdents64, fd, buf, bufsize);
        if (r < 0) FAIL("getdents64: %s", strerrorname_np(errno));
        if (r == 0) break;
        for (long off = 0; off < r;) {
            struct linux_dirent64 *d = (struct linux_dirent64 *)(buf + off);
            if (d->d_reclen == 0) FAIL("zero d_reclen");
            if (n < max) {
                snprintf(names[n], 64, "%s", d->d_name);
                if (types) types[n] = d->d_type;
            }
            n++;
            off += d->d_reclen;
        }
    }
    return n;
}

static int find(char names[][64], int n, const char *name) {
    int count = 0;
    for (int i = 0; i < n && i < 512; i++)
        if (!strcmp(names[i], name)) count++;
    return count;
}

TEST(mkdir_creates_with_umask_mode) {
    umask(022);
    CHECK_OK(mkdir(tmp_path("d"), 0777));
    struct stat st;
    CHECK_OK(stat(tmp_path("d"), &st));
    CHECK(S_ISDIR(st.st_mode));
    CHECK_EQ(st.st_mode & 0777, 0755);
}

TEST(mkdir_existing_eexist) {
    CHECK_OK(mkdir(tmp_path("d"), 0755));
    CHECK_ERR(mkdir(tmp_path("d"), 0755), EEXIST);
    put("f");
    CHECK_ERR(mkdir(tmp_path("f"), 0755), EEXIST);
    CHECK_OK(symlink("nowhere", tmp_path("l")));
    CHECK_ERR(mkdir(tmp_path("l"), 0755), EEXIST);
}

TEST(mkdir_missing_parent_enoent) {
    CHECK_ERR(mkdir(tmp_path("a/b"), 0755), ENOENT);
}

TEST(mkdir_parent_is_file_enotdir) {
    put("f");
    CHECK_ERR(mkdir(tmp_path("f/d"), 0755), ENOTDIR);
}

TEST(mkdir_trailing_slash_ok) {
    CHECK_OK(mkdir(tmp_path("d/"), 0755));
    struct stat st;
    CHECK_OK(stat(tmp_path("d"), &st));
    CHECK(S_ISDIR(st.st_mode));
}

TEST(mkdirat_relative_to_dirfd) {
    CHECK_OK(mkdir(tmp_path("d"), 0755));
    int d = CHECK_OK(open(tmp_path("d"), O_RDONLY | O_DIRECTORY));
    CHECK_OK(mkdirat(d, "sub", 0700));
    struct stat st;
    CHECK_OK(stat(tmp_path("d/sub"), &st));
    CHECK_EQ(st.st_mode & 0777, 0700);
    CHECK_ERR(mkdirat(9999, "x", 0700), EBADF);
}

TEST(rmdir_removes_empty_dir) {
    CHECK_OK(mkdir(tmp_path("d"), 0755));
    CHECK_OK(rmdir(tmp_path("d")));
    struct stat st;
    CHECK_ERR(stat(tmp_path("d"), &st), ENOENT);
}

TEST(rmdir_nonempty_enotempty) {
    CHECK_OK(mkdir(tmp_path("d"), 0755));
    put("d/f");
    int r = rmdir(tmp_path("d"));
    CHECK(r == -1 && (errno == ENOTEMPTY || errno == EEXIST));
    CHECK_EQ(errno, ENOTEMPTY); /* Linux uses ENOTEMPTY */
    CHECK_OK(unlink(tmp_path("d/f")));
    CHECK_OK(rmdir(tmp_path("d")));
}

TEST(rmdir_errors) {
    put("f");
    CHECK_ERR(rmdir(tmp_path("f")), ENOTDIR);
    CHECK_ERR(rmdir(tmp_path("missing")), ENOENT);
    CHECK_OK(mkdir(tmp_path("d"), 0755));
    CHECK_ERR(rmdir(tmp_path("d/.")), EINVAL);
    CHECK_ERR(rmdir(tmp_path("d/..")), ENOTEMPTY);
}

TEST(rmdir_symlink_to_dir_enotdir) {
    CHECK_OK(mkdir(tmp_path("d"), 0755));
    CHECK_OK(symlink("d", tmp_path("l")));
    CHECK_ERR(rmdir(tmp_path("l")), ENOTDIR);
}

TEST(getdents_lists_dot_dotdot_and_entries) {
    CHECK_OK(mkdir(tmp_path("d"), 0755));
    put("d/a");
    put("d/bb");
    CHECK_OK(mkdir(tmp_path("d/sub"), 0755));
    int fd = CHECK_OK(open(tmp_path("d"), O_RDONLY | O_DIRECTORY));
    char names[16][64];
    int n = list_fd(fd, 4096, names, NULL, 16);
    CHECK_EQ(n, 5);
    CHECK_EQ(find(names, n, "."), 1);
    CHECK_EQ(find(names, n, ".."), 1);
    CHECK_EQ(find(names, n, "a"), 1);
    CHECK_EQ(find(names, n, "bb"), 1);
    CHECK_EQ(find(names, n, "sub"), 1);
}

TEST(getdents_empty_dir_only_dots) {
    CHECK_OK(mkdir(tmp_path("d"), 0755));
    int fd = CHECK_OK(open(tmp_path("d"), O_RDONLY | O_DIRECTORY));
    char names[8][64];
    int n = list_fd(fd, 4096, names, NULL, 8);
    CHECK_EQ(n, 2);
    CHECK_EQ(find(names, n, "."), 1);
    CHECK_EQ(find(names, n, ".."), 1);
}

TEST(getdents_d_type) {
    CHECK_OK(mkdir(tmp_path("d"), 0755));
    put("d/file");
    CHECK_OK(mkdir(tmp_path("d/dir"), 0755));
    CHECK_OK(symlink("file", tmp_path("d/link")));
    CHECK_OK(mkfifo(tmp_path("d/fifo"), 0600));
    int fd = CHECK_OK(open(tmp_path("d"), O_RDONLY | O_DIRECTORY));
    char names[16][64];
    unsigned char types[16];
    int n = list_fd(fd, 4096, names, types, 16);
    CHECK_EQ(n, 6);
    for (int i = 0; i < n; i++) {
        unsigned char want = !strcmp(names[i], "file") ? DT_REG
                           : !strcmp(names[i], "link") ? DT_LNK
                           : !strcmp(names[i], "fifo") ? DT_FIFO
                           : DT_DIR;
        if (types[i] != want) FAIL("d_type of %s: expected %d got %d", names[i], want, types[i]);
    }
}

TEST(getdents_inode_matches_stat) {
    CHECK_OK(mkdir(tmp_path("d"), 0755));
    put("d/f");
    struct stat st;
    CHECK_OK(stat(tmp_path("d/f"), &st));
    int fd = CHECK_OK(open(tmp_path("d"), O_RDONLY | O_DIRECTORY));
    char buf[4096];
    long r = CHECK_OK(syscall(SYS_getdents64, fd, buf, sizeof buf));
    int found = 0;
    for (long off = 0; off < r;) {
        struct linux_dirent64 *d = (struct linux_dirent64 *)(buf + off);
        if (!strcmp(d->d_name, "f")) {
            found = 1;
            CHECK_EQ(d->d_ino, st.st_ino);
        }
        off += d->d_reclen;
    }
    CHECK(found);
}

TEST(getdents_many_entries_small_buffer) {
    CHECK_OK(mkdir(tmp_path("d"), 0755));
    char name[64];
    for (int i = 0; i < 300; i++) {
        snprintf(name, sizeof name, "d/entry-%03d", i);
        put(name);
    }
    int fd = CHECK_OK(open(tmp_path("d"), O_RDONLY | O_DIRECTORY));
    static char names[512][64];
    int n = list_fd(fd, 256, names, NULL, 512);
    CHECK_EQ(n, 302);
    for (int i = 0; i < 300; i++) {
        snprintf(name, sizeof name, "entry-%03d", i);
        if (find(names, n, name) != 1) FAIL("%s listed %d times", name, find(names, n, name));
    }
}

TEST(getdents_buffer_too_small_einval) {
    CHECK_OK(mkdir(tmp_path("d"), 0755));
    int fd = CHECK_OK(open(tmp_path("d"), O_RDONLY | O_DIRECTORY));
    char buf[8];
    CHECK_ERR(syscall(SYS_getdents64, fd, buf, sizeof buf), EINVAL);
}

TEST(getdents_on_file_enotdir) {
    put("f");
    int fd = CHECK_OK(open(tmp_path("f"), O_RDONLY));
    char buf[4096];
    CHECK_ERR(syscall(SYS_getdents64, fd, buf, sizeof buf), ENOTDIR);
    CHECK_ERR(syscall(SYS_getdents64, 9999, buf, sizeof buf), EBADF);
}

TEST(getdents_rewind_lists_again) {
    CHECK_OK(mkdir(tmp_path("d"), 0755));
    put("d/x");
    int fd = CHECK_OK(open(tmp_path("d"), O_RDONLY | O_DIRECTORY));
    char names[8][64];
    CHECK_EQ(list_fd(fd, 4096, names, NULL, 8), 3);
    CHECK_EQ(list_fd(fd, 4096, names, NULL, 8), 0); /* at the end */
    CHECK_EQ(lseek(fd, 0, SEEK_SET), 0);
    CHECK_EQ(list_fd(fd, 4096, names, NULL, 8), 3);
}

TEST(getdents_sees_changes_after_rewind) {
    CHECK_OK(mkdir(tmp_path("d"), 0755));
    put("d/old");
    int fd = CHECK_OK(open(tmp_path("d"), O_RDONLY | O_DIRECTORY));
    char names[8][64];
    CHECK_EQ(list_fd(fd, 4096, names, NULL, 8), 3);
    CHECK_OK(unlink(tmp_path("d/old")));
    put("d/new");
    CHECK_EQ(lseek(fd, 0, SEEK_SET), 0);
    int n = list_fd(fd, 4096, names, NULL, 8);
    CHECK_EQ(n, 3);
    CHECK_EQ(find(names, n, "new"), 1);
    CHECK_EQ(find(names, n, "old"), 0);
}

TEST(getdents_d_off_seek_resumes) {
    CHECK_OK(mkdir(tmp_path("d"), 0755));
    for (int i = 0; i < 10; i++) {
        char name[32];
        snprintf(name, sizeof name, "d/f%d", i);
        put(name);
    }
    int fd = CHECK_OK(open(tmp_path("d"), O_RDONLY | O_DIRECTORY));
    char buf[4096];
    long r = CHECK_OK(syscall(SYS_getdents64, fd, buf, sizeof buf));
    /* Seek to the d_off of the 4th entry: listing resumes at the 5th. */
    long off = 0;
    struct linux_dirent64 *d = NULL;
    for (int i = 0; i < 4 && off < r; i++) {
        d = (struct linux_dirent64 *)(buf + off);
        off += d->d_reclen;
    }
    CHECK(d != NULL && off < r);
    struct linux_dirent64 *fifth = (struct linux_dirent64 *)(buf + off);
    char want[64];
    snprintf(want, sizeof want, "%s", fifth->d_name);
    CHECK_EQ(lseek(fd, d->d_off, SEEK_SET), d->d_off);
    char buf2[4096];
    CHECK(CHECK_OK(syscall(SYS_getdents64, fd, buf2, sizeof buf2)) > 0);
    CHECK_STR(((struct linux_dirent64 *)buf2)->d_name, want);
}

TEST(readdir_telldir_seekdir) {
    CHECK_OK(mkdir(tmp_path("d"), 0755));
    put("d/a");
    put("d/b");
    put("d/c");
    DIR *dir = opendir(tmp_path("d"));
    CHECK(dir != NULL);
    struct dirent *e = readdir(dir);
    CHECK(e != NULL);
    long pos = telldir(dir);
    e = readdir(dir);
    CHECK(e != NULL);
    char second[256];
    snprintf(second, sizeof second, "%s", e->d_name);
    int rest = 0;
    while (readdir(dir)) rest++;
    CHECK_EQ(rest, 3);
    seekdir(dir, pos);
    e = readdir(dir);
    CHECK(e != NULL);
    CHECK_STR(e->d_name, second);
    rewinddir(dir);
    int all = 0;
    while (readdir(dir)) all++;
    CHECK_EQ(all, 5);
    closedir(dir);
}

TEST(write_on_directory_fd_ebadf) {
    int fd = CHECK_OK(open(st_tmpdir(), O_RDONLY | O_DIRECTORY));
    CHECK_ERR(write(fd, "x", 1), EBADF);
}

TEST(chdir_and_getcwd) {
    CHECK_OK(mkdir(tmp_path("d"), 0755));
    CHECK_OK(chdir(tmp_path("d")));
    char buf[PATH_MAX];
    CHECK(getcwd(buf, sizeof buf) != NULL);
    char want[PATH_MAX];
    CHECK(realpath(tmp_path("d"), want) != NULL);
    CHECK_STR(buf, want);
    put("d/rel");
    CHECK_OK(access("rel", F_OK));
    CHECK_OK(chdir(".."));
    CHECK(getcwd(buf, sizeof buf) != NULL);
    CHECK(realpath(st_tmpdir(), want) != NULL);
    CHECK_STR(buf, want);
}

TEST(chdir_errors) {
    put("f");
    CHECK_ERR(chdir(tmp_path("f")), ENOTDIR);
    CHECK_ERR(chdir(tmp_path("missing")), ENOENT);
    CHECK_ERR(chdir(""), ENOENT);
}

TEST(chdir_through_symlink_getcwd_is_physical) {
    CHECK_OK(mkdir(tmp_path("real"), 0755));
    CHECK_OK(symlink("real", tmp_path("l")));
    CHECK_OK(chdir(tmp_path("l")));
    char buf[PATH_MAX], want[PATH_MAX];
    CHECK(getcwd(buf, sizeof buf) != NULL);
    CHECK(realpath(tmp_path("real"), want) != NULL);
    CHECK_STR(buf, want);
}

TEST(fchdir_works) {
    CHECK_OK(mkdir(tmp_path("d"), 0755));
    put("d/marker");
    int fd = CHECK_OK(open(tmp_path("d"), O_RDONLY | O_DIRECTORY));
    CHECK_OK(fchdir(fd));
    CHECK_OK(access("marker", F_OK));
}

TEST(fchdir_errors) {
    put("f");
    int fd = CHECK_OK(open(tmp_path("f"), O_RDONLY));
    CHECK_ERR(fchdir(fd), ENOTDIR);
    CHECK_ERR(fchdir(9999), EBADF);
}

TEST(getcwd_small_buffer_erange) {
    char buf[2];
    errno = 0;
    CHECK(syscall(SYS_getcwd, buf, sizeof buf) == -1);
    CHECK_EQ(errno, ERANGE);
    char big[PATH_MAX];
    long n = CHECK_OK(syscall(SYS_getcwd, big, sizeof big));
    CHECK_EQ(n, (long long)strlen(big) + 1); /* the raw syscall returns the length with the NUL */
}

TEST(rmdir_of_cwd) {
    CHECK_OK(mkdir(tmp_path("d"), 0755));
    CHECK_OK(chdir(tmp_path("d")));
    CHECK_OK(rmdir(tmp_path("d")));
    char buf[PATH_MAX];
    CHECK_ERR(syscall(SYS_getcwd, buf, sizeof buf), ENOENT);
    CHECK_ERR(open("new", O_CREAT | O_WRONLY, 0644), ENOENT);
    CHECK_ERR(mkdir("sub", 0755), ENOENT);
    int fd = CHECK_OK(open(".", O_RDONLY | O_DIRECTORY));
    char dbuf[4096];
    CHECK_ERR(syscall(SYS_getdents64, fd, dbuf, sizeof dbuf), ENOENT); /* a dead directory */
}

TEST(rename_of_cwd_follows_getcwd) {
    CHECK_OK(mkdir(tmp_path("d"), 0755));
    CHECK_OK(chdir(tmp_path("d")));
    CHECK_OK(rename(tmp_path("d"), tmp_path("e")));
    char buf[PATH_MAX], want[PATH_MAX];
    CHECK(getcwd(buf, sizeof buf) != NULL);
    CHECK(realpath(tmp_path("e"), want) != NULL);
    CHECK_STR(buf, want);
}

TEST(dotdot_of_root_is_root) {
    struct stat a, b;
    CHECK_OK(stat("/", &a));
    CHECK_OK(stat("/..", &b));
    CHECK_EQ(a.st_ino, b.st_ino);
    CHECK_OK(chdir("/../../.."));
    char buf[16];
    CHECK(getcwd(buf, sizeof buf) != NULL);
    CHECK_STR(buf, "/");
}
