/* open: open/openat/openat2/creat flags and errors. */
#define AREA "open"
#define ST_HARNESS_MAIN
#include "harness.h"

#include <limits.h>
#include <sys/syscall.h>
#include <linux/openat2.h>

static void put(const char *name, const char *data) {
    int fd = CHECK_OK(open(tmp_path(name), O_CREAT | O_TRUNC | O_WRONLY, 0644));
    CHECK_EQ(write(fd, data, strlen(data)), (long long)strlen(data));
    CHECK_OK(close(fd));
}

static off_t size_of(const char *name) {
    struct stat st;
    CHECK_OK(stat(tmp_path(name), &st));
    return st.st_size;
}

TEST(creat_excl_eexist) {
    int fd = CHECK_OK(open(tmp_path("f"), O_CREAT | O_EXCL | O_WRONLY, 0600));
    CHECK_OK(close(fd));
    CHECK_ERR(open(tmp_path("f"), O_CREAT | O_EXCL | O_WRONLY, 0600), EEXIST);
}

TEST(creat_excl_on_symlink_eexist) {
    CHECK_OK(symlink("nowhere", tmp_path("l")));
    CHECK_ERR(open(tmp_path("l"), O_CREAT | O_EXCL | O_WRONLY, 0600), EEXIST);
    struct stat st;
    CHECK_ERR(stat(tmp_path("nowhere"), &st), ENOENT);
}

TEST(creat_through_dangling_symlink_creates_target) {
    CHECK_OK(symlink("target", tmp_path("l")));
    int fd = CHECK_OK(open(tmp_path("l"), O_CREAT | O_WRONLY, 0600));
    CHECK_EQ(write(fd, "x", 1), 1);
    CHECK_EQ(size_of("target"), 1);
}

TEST(creat_mode_respects_umask) {
    umask(022);
    int fd = CHECK_OK(open(tmp_path("f"), O_CREAT | O_WRONLY, 0777));
    struct stat st;
    CHECK_OK(fstat(fd, &st));
    CHECK_EQ(st.st_mode & 07777, 0755);
    CHECK(S_ISREG(st.st_mode));
    umask(077);
    CHECK_OK(open(tmp_path("g"), O_CREAT | O_WRONLY, 0666));
    CHECK_OK(stat(tmp_path("g"), &st));
    CHECK_EQ(st.st_mode & 07777, 0600);
}

TEST(creat_existing_keeps_content_and_mode) {
    put("f", "keep");
    CHECK_OK(chmod(tmp_path("f"), 0640));
    int fd = CHECK_OK(open(tmp_path("f"), O_CREAT | O_RDWR, 0777));
    struct stat st;
    CHECK_OK(fstat(fd, &st));
    CHECK_EQ(st.st_size, 4);
    CHECK_EQ(st.st_mode & 07777, 0640);
}

TEST(creat_syscall_truncates) {
    put("f", "old content");
    int fd = CHECK_OK(creat(tmp_path("f"), 0644));
    CHECK_EQ(size_of("f"), 0);
    CHECK_EQ(fcntl(fd, F_GETFL) & O_ACCMODE, O_WRONLY);
}

TEST(o_trunc_truncates) {
    put("f", "0123456789");
    int fd = CHECK_OK(open(tmp_path("f"), O_WRONLY | O_TRUNC));
    CHECK_EQ(size_of("f"), 0);
    CHECK_EQ(write(fd, "ab", 2), 2);
    CHECK_EQ(size_of("f"), 2);
}

TEST(o_trunc_with_rdonly_truncates_on_linux) {
    put("f", "0123456789");
    CHECK_OK(open(tmp_path("f"), O_RDONLY | O_TRUNC));
    CHECK_EQ(size_of("f"), 0);
}

TEST(o_append_writes_at_end) {
    put("f", "abc");
    int fd = CHECK_OK(open(tmp_path("f"), O_RDWR | O_APPEND));
    CHECK_EQ(lseek(fd, 0, SEEK_CUR), 0);
    CHECK_EQ(write(fd, "d", 1), 1);
    CHECK_EQ(lseek(fd, 0, SEEK_CUR), 4);
    CHECK_EQ(lseek(fd, 1, SEEK_SET), 1);
    CHECK_EQ(write(fd, "e", 1), 1);
    char buf[8] = {0};
    CHECK_EQ(pread(fd, buf, sizeof buf, 0), 5);
    CHECK_STR(buf, "abcde");
}

TEST(o_append_pwrite_appends_on_linux) {
    put("f", "abc");
    int fd = CHECK_OK(open(tmp_path("f"), O_WRONLY | O_APPEND));
    CHECK_EQ(pwrite(fd, "Z", 1, 0), 1);
    int r = CHECK_OK(open(tmp_path("f"), O_RDONLY));
    char buf[8] = {0};
    CHECK_EQ(read(r, buf, sizeof buf), 4);
    CHECK_STR(buf, "abcZ");
}

TEST(o_append_two_fds_interleave_without_overwrite) {
    int a = CHECK_OK(open(tmp_path("f"), O_CREAT | O_WRONLY | O_APPEND, 0644));
    int b = CHECK_OK(open(tmp_path("f"), O_WRONLY | O_APPEND));
    CHECK_EQ(write(a, "1", 1), 1);
    CHECK_EQ(write(b, "2", 1), 1);
    CHECK_EQ(write(a, "3", 1), 1);
    int r = CHECK_OK(open(tmp_path("f"), O_RDONLY));
    char buf[8] = {0};
    CHECK_EQ(read(r, buf, sizeof buf), 3);
    CHECK_STR(buf, "123");
}

TEST(o_directory_on_file_enotdir) {
    put("f", "");
    CHECK_ERR(open(tmp_path("f"), O_RDONLY | O_DIRECTORY), ENOTDIR);
}

TEST(o_directory_on_dir_ok) {
    CHECK_OK(mkdir(tmp_path("d"), 0755));
    int fd = CHECK_OK(open(tmp_path("d"), O_RDONLY | O_DIRECTORY));
    struct stat st;
    CHECK_OK(fstat(fd, &st));
    CHECK(S_ISDIR(st.st_mode));
}

TEST(o_directory_through_symlink_to_dir) {
    CHECK_OK(mkdir(tmp_path("d"), 0755));
    CHECK_OK(symlink("d", tmp_path("l")));
    CHECK_OK(open(tmp_path("l"), O_RDONLY | O_DIRECTORY));
}

TEST(o_nofollow_symlink_eloop) {
    put("f", "x");
    CHECK_OK(symlink("f", tmp_path("l")));
    CHECK_ERR(open(tmp_path("l"), O_RDONLY | O_NOFOLLOW), ELOOP);
    CHECK_OK(open(tmp_path("f"), O_RDONLY | O_NOFOLLOW));
}

TEST(o_nofollow_only_applies_to_last_component) {
    CHECK_OK(mkdir(tmp_path("d"), 0755));
    put("d/f", "x");
    CHECK_OK(symlink("d", tmp_path("l")));
    CHECK_OK(open(tmp_path("l/f"), O_RDONLY | O_NOFOLLOW));
}

TEST(o_path_read_write_ebadf) {
    put("f", "data");
    int fd = CHECK_OK(open(tmp_path("f"), O_PATH));
    char c;
    CHECK_ERR(read(fd, &c, 1), EBADF);
    CHECK_ERR(write(fd, "x", 1), EBADF);
    CHECK_ERR(fchmod(fd, 0600), EBADF);
}

TEST(o_path_fstat_and_getfl) {
    put("f", "data");
    int fd = CHECK_OK(open(tmp_path("f"), O_PATH));
    struct stat st;
    CHECK_OK(fstat(fd, &st));
    CHECK_EQ(st.st_size, 4);
    CHECK(fcntl(fd, F_GETFL) & O_PATH);
}

TEST(o_path_dir_as_dirfd_and_fchdir) {
    CHECK_OK(mkdir(tmp_path("d"), 0755));
    put("d/f", "abc");
    int d = CHECK_OK(open(tmp_path("d"), O_PATH | O_DIRECTORY));
    int fd = CHECK_OK(openat(d, "f", O_RDONLY));
    char buf[4] = {0};
    CHECK_EQ(read(fd, buf, 3), 3);
    CHECK_STR(buf, "abc");
    CHECK_OK(fchdir(d));
    CHECK_OK(access("f", R_OK));
}

TEST(o_path_nofollow_opens_symlink_itself) {
    CHECK_OK(symlink("some/target", tmp_path("l")));
    int fd = CHECK_OK(open(tmp_path("l"), O_PATH | O_NOFOLLOW));
    struct stat st;
    CHECK_OK(fstatat(fd, "", &st, AT_EMPTY_PATH));
    CHECK(S_ISLNK(st.st_mode));
    char buf[64] = {0};
    CHECK_EQ(readlinkat(fd, "", buf, sizeof buf), 11);
    CHECK_STR(buf, "some/target");
}

TEST(o_path_does_not_need_read_permission) {
    put("f", "secret");
    CHECK_OK(chmod(tmp_path("f"), 0));
    CHECK_OK(open(tmp_path("f"), O_PATH));
}

TEST(o_cloexec_visible_via_fcntl) {
    put("f", "");
    int a = CHECK_OK(open(tmp_path("f"), O_RDONLY | O_CLOEXEC));
    int b = CHECK_OK(open(tmp_path("f"), O_RDONLY));
    CHECK_EQ(fcntl(a, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    CHECK_EQ(fcntl(b, F_GETFD) & FD_CLOEXEC, 0);
    CHECK_EQ(fcntl(a, F_GETFL) & O_CLOEXEC, 0); /* a descriptor flag, not a status flag */
}

TEST(getfl_reports_access_mode_and_flags) {
    put("f", "");
    int r = CHECK_OK(open(tmp_path("f"), O_RDONLY));
    int w = CHECK_OK(open(tmp_path("f"), O_WRONLY | O_APPEND));
    int rw = CHECK_OK(open(tmp_path("f"), O_RDWR | O_NONBLOCK));
    CHECK_EQ(fcntl(r, F_GETFL) & O_ACCMODE, O_RDONLY);
    CHECK_EQ(fcntl(w, F_GETFL) & (O_ACCMODE | O_APPEND), O_WRONLY | O_APPEND);
    CHECK_EQ(fcntl(rw, F_GETFL) & (O_ACCMODE | O_NONBLOCK), O_RDWR | O_NONBLOCK);
    CHECK_EQ(fcntl(r, F_GETFL) & (O_CREAT | O_EXCL | O_TRUNC), 0);
}

TEST(o_tmpfile_then_linkat) {
    int fd = open(st_tmpdir(), O_TMPFILE | O_RDWR, 0600);
    CHECK(fd >= 0);
    CHECK_EQ(write(fd, "anon", 4), 4);
    struct stat st;
    CHECK_OK(fstat(fd, &st));
    CHECK_EQ(st.st_nlink, 0);
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    CHECK_OK(linkat(AT_FDCWD, proc, AT_FDCWD, tmp_path("named"), AT_SYMLINK_FOLLOW));
    CHECK_OK(fstat(fd, &st));
    CHECK_EQ(st.st_nlink, 1);
    CHECK_EQ(size_of("named"), 4);
}

TEST(o_tmpfile_not_visible_in_dir) {
    CHECK_OK(mkdir(tmp_path("d"), 0755));
    int fd = CHECK_OK(open(tmp_path("d"), O_TMPFILE | O_WRONLY, 0600));
    CHECK_OK(rmdir(tmp_path("d"))); /* the directory is still empty */
    CHECK_EQ(write(fd, "x", 1), 1);
}

TEST(o_tmpfile_excl_cannot_be_linked) {
    int fd = CHECK_OK(open(st_tmpdir(), O_TMPFILE | O_EXCL | O_RDWR, 0600));
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    CHECK_ERR(linkat(AT_FDCWD, proc, AT_FDCWD, tmp_path("named"), AT_SYMLINK_FOLLOW), ENOENT);
}

TEST(o_tmpfile_needs_write_access_einval) {
    CHECK_ERR(open(st_tmpdir(), O_TMPFILE | O_RDONLY, 0600), EINVAL);
}

TEST(o_tmpfile_on_file_enotdir) {
    put("f", "");
    CHECK_ERR(open(tmp_path("f"), O_TMPFILE | O_RDWR, 0600), ENOTDIR);
}

TEST(enoent_missing_file_and_parent) {
    CHECK_ERR(open(tmp_path("missing"), O_RDONLY), ENOENT);
    CHECK_ERR(open(tmp_path("missing/f"), O_CREAT | O_WRONLY, 0644), ENOENT);
    CHECK_ERR(open("", O_RDONLY), ENOENT);
}

TEST(enotdir_component_is_file) {
    put("f", "");
    CHECK_ERR(open(tmp_path("f/x"), O_RDONLY), ENOTDIR);
    CHECK_ERR(open(tmp_path("f/x"), O_CREAT | O_WRONLY, 0644), ENOTDIR);
}

TEST(trailing_slash_rules) {
    put("f", "");
    CHECK_ERR(open(tmp_path("f/"), O_RDONLY), ENOTDIR);
    CHECK_ERR(open(tmp_path("new/"), O_CREAT | O_WRONLY, 0644), EISDIR);
    CHECK_OK(mkdir(tmp_path("d"), 0755));
    CHECK_OK(open(tmp_path("d/"), O_RDONLY));
}

TEST(eisdir_open_dir_for_writing) {
    CHECK_OK(mkdir(tmp_path("d"), 0755));
    CHECK_ERR(open(tmp_path("d"), O_WRONLY), EISDIR);
    CHECK_ERR(open(tmp_path("d"), O_RDWR), EISDIR);
    CHECK_ERR(open(tmp_path("d"), O_CREAT | O_RDONLY, 0644), EISDIR);
}

TEST(enametoolong_component) {
    char name[300];
    memset(name, 'n', 256);
    name[256] = 0;
    CHECK_ERR(open(name, O_CREAT | O_WRONLY, 0644), ENAMETOOLONG);
    name[255] = 0;
    CHECK_OK(open(name, O_CREAT | O_WRONLY, 0644)); /* 255 bytes is fine */
}

TEST(enametoolong_path) {
    static char path[PATH_MAX + 16];
    size_t n = 0;
    while (n < PATH_MAX + 8) {
        memcpy(path + n, "aaaaaaa/", 8);
        n += 8;
    }
    path[n] = 0;
    CHECK_ERR(open(path, O_RDONLY), ENAMETOOLONG);
}

TEST(openat_relative_to_dirfd) {
    CHECK_OK(mkdir(tmp_path("d"), 0755));
    int d = CHECK_OK(open(tmp_path("d"), O_RDONLY | O_DIRECTORY));
    int fd = CHECK_OK(openat(d, "f", O_CREAT | O_WRONLY, 0644));
    CHECK_EQ(write(fd, "xy", 2), 2);
    CHECK_EQ(size_of("d/f"), 2);
    CHECK_OK(openat(d, "../d/f", O_RDONLY));
}

TEST(openat_at_fdcwd_uses_cwd) {
    CHECK_OK(mkdir(tmp_path("d"), 0755));
    CHECK_OK(chdir(tmp_path("d")));
    int fd = CHECK_OK(openat(AT_FDCWD, "f", O_CREAT | O_WRONLY, 0644));
    CHECK_EQ(write(fd, "abc", 3), 3);
    CHECK_EQ(size_of("d/f"), 3);
}

TEST(openat_absolute_ignores_dirfd) {
    put("f", "abc");
    CHECK_OK(openat(9999, tmp_path("f"), O_RDONLY));
}

TEST(openat_bad_dirfd) {
    put("f", "");
    CHECK_ERR(openat(9999, "f", O_RDONLY), EBADF);
    int fd = CHECK_OK(open(tmp_path("f"), O_RDONLY));
    CHECK_ERR(openat(fd, "x", O_RDONLY), ENOTDIR);
}

TEST(lowest_free_fd_is_returned) {
    put("f", "");
    int a = CHECK_OK(open(tmp_path("f"), O_RDONLY));
    int b = CHECK_OK(open(tmp_path("f"), O_RDONLY));
    int c = CHECK_OK(open(tmp_path("f"), O_RDONLY));
    CHECK(a < b && b < c);
    CHECK_OK(close(b));
    CHECK_EQ(open(tmp_path("f"), O_RDONLY), b);
    CHECK_OK(close(c));
    CHECK_OK(close(a));
    CHECK_EQ(open(tmp_path("f"), O_RDONLY), a);
}

TEST(invalid_access_mode_three) {
    put("f", "");
    /* O_ACCMODE (3) is accepted by Linux but allows neither read nor write. */
    int fd = open(tmp_path("f"), O_ACCMODE);
    if (fd < 0) FAIL("open(O_ACCMODE) failed: %s", strerrorname_np(errno));
    char c;
    CHECK_ERR(read(fd, &c, 1), EBADF);
    CHECK_ERR(write(fd, "x", 1), EBADF);
}

static long sys_openat2(int dirfd, const char *path, struct open_how *how) {
    return syscall(SYS_openat2, dirfd, path, how, sizeof *how);
}

TEST(openat2_resolve_beneath) {
    CHECK_OK(mkdir(tmp_path("d"), 0755));
    put("f", "");
    put("d/g", "");
    int d = CHECK_OK(open(tmp_path("d"), O_PATH | O_DIRECTORY));
    struct open_how how = {.flags = O_RDONLY, .resolve = RESOLVE_BENEATH};
    CHECK_OK(sys_openat2(d, "g", &how));
    CHECK_ERR(sys_openat2(d, "../f", &how), EXDEV);
    CHECK_ERR(sys_openat2(d, tmp_path("f"), &how), EXDEV);
}

TEST(openat2_rejects_unknown_flags) {
    put("f", "");
    struct open_how how = {.flags = O_RDONLY, .resolve = 1ULL << 40};
    CHECK_ERR(sys_openat2(AT_FDCWD, tmp_path("f"), &how), EINVAL);
    struct open_how how2 = {.flags = O_RDONLY, .mode = 0644};
    CHECK_ERR(sys_openat2(AT_FDCWD, tmp_path("f"), &how2), EINVAL); /* mode without O_CREAT */
}

TEST(openat2_resolve_no_symlinks) {
    put("f", "");
    CHECK_OK(symlink("f", tmp_path("l")));
    struct open_how how = {.flags = O_RDONLY, .resolve = RESOLVE_NO_SYMLINKS};
    CHECK_ERR(sys_openat2(AT_FDCWD, tmp_path("l"), &how), ELOOP);
    CHECK_OK(sys_openat2(AT_FDCWD, tmp_path("f"), &how));
}
