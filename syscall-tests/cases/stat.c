/* stat: stat/lstat/fstat/newfstatat/statx, sizes, nlink, modes, timestamps, blocks. */
#define AREA "stat"
#define ST_HARNESS_MAIN
#include "harness.h"

#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>

static void put(const char *name, const char *data) {
    int fd = CHECK_OK(open(tmp_path(name), O_CREAT | O_TRUNC | O_WRONLY, 0644));
    CHECK_EQ(write(fd, data, strlen(data)), (long long)strlen(data));
    CHECK_OK(close(fd));
}

static struct stat st_of(const char *name) {
    struct stat st;
    CHECK_OK(stat(tmp_path(name), &st));
    return st;
}

/* a < b for timespecs */
static int ts_before(struct timespec a, struct timespec b) {
    return a.tv_sec < b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec < b.tv_nsec);
}

/* Sets atime and mtime of `name` into the past. */
static void age(const char *name) {
    struct timespec old[2] = {{1000000000, 0}, {1000000000, 0}};
    CHECK_OK(utimensat(AT_FDCWD, tmp_path(name), old, 0));
}

TEST(stat_regular_file) {
    put("f", "hello");
    CHECK_OK(chmod(tmp_path("f"), 0640));
    struct stat st = st_of("f");
    CHECK(S_ISREG(st.st_mode));
    CHECK_EQ(st.st_mode & 07777, 0640);
    CHECK_EQ(st.st_size, 5);
    CHECK_EQ(st.st_nlink, 1);
    CHECK_EQ(st.st_uid, geteuid());
    CHECK_EQ(st.st_gid, getegid());
    CHECK(st.st_ino != 0);
}

TEST(fstat_matches_stat) {
    put("f", "abc");
    int fd = CHECK_OK(open(tmp_path("f"), O_RDONLY));
    struct stat a = st_of("f"), b;
    CHECK_OK(fstat(fd, &b));
    CHECK_EQ(a.st_ino, b.st_ino);
    CHECK_EQ(a.st_dev, b.st_dev);
    CHECK_EQ(a.st_size, b.st_size);
    CHECK_EQ(a.st_mode, b.st_mode);
}

TEST(distinct_files_distinct_inodes) {
    put("a", "");
    put("b", "");
    struct stat a = st_of("a"), b = st_of("b");
    CHECK(a.st_ino != b.st_ino);
    CHECK_EQ(a.st_dev, b.st_dev);
}

TEST(lstat_vs_stat_on_symlink) {
    put("target", "0123456789");
    CHECK_OK(symlink("target", tmp_path("l")));
    struct stat s, l;
    CHECK_OK(stat(tmp_path("l"), &s));
    CHECK_OK(lstat(tmp_path("l"), &l));
    CHECK(S_ISREG(s.st_mode));
    CHECK_EQ(s.st_size, 10);
    CHECK(S_ISLNK(l.st_mode));
    CHECK_EQ(l.st_size, 6); /* the length of "target" */
    CHECK(s.st_ino != l.st_ino);
}

TEST(lstat_on_regular_file_same_as_stat) {
    put("f", "x");
    struct stat a = st_of("f"), b;
    CHECK_OK(lstat(tmp_path("f"), &b));
    CHECK_EQ(a.st_ino, b.st_ino);
    CHECK_EQ(a.st_mode, b.st_mode);
}

TEST(fstatat_symlink_nofollow) {
    put("target", "abc");
    CHECK_OK(symlink("target", tmp_path("l")));
    int d = CHECK_OK(open(st_tmpdir(), O_RDONLY | O_DIRECTORY));
    struct stat st;
    CHECK_OK(fstatat(d, "l", &st, AT_SYMLINK_NOFOLLOW));
    CHECK(S_ISLNK(st.st_mode));
    CHECK_OK(fstatat(d, "l", &st, 0));
    CHECK(S_ISREG(st.st_mode));
    CHECK_EQ(st.st_size, 3);
}

TEST(fstatat_empty_path) {
    put("f", "abcd");
    int fd = CHECK_OK(open(tmp_path("f"), O_RDONLY));
    struct stat st;
    CHECK_OK(fstatat(fd, "", &st, AT_EMPTY_PATH));
    CHECK_EQ(st.st_size, 4);
    CHECK_ERR(fstatat(fd, "", &st, 0), ENOENT);
}

TEST(fstatat_bad_flags_einval) {
    put("f", "");
    struct stat st;
    CHECK_ERR(fstatat(AT_FDCWD, tmp_path("f"), &st, 0x40000000), EINVAL);
}

TEST(fstatat_relative_needs_dir_fd) {
    put("f", "");
    int fd = CHECK_OK(open(tmp_path("f"), O_RDONLY));
    struct stat st;
    CHECK_ERR(fstatat(fd, "x", &st, 0), ENOTDIR);
    CHECK_ERR(fstatat(9999, "x", &st, 0), EBADF);
}

TEST(stat_errors) {
    put("f", "");
    struct stat st;
    CHECK_ERR(stat(tmp_path("missing"), &st), ENOENT);
    CHECK_ERR(stat(tmp_path("f/x"), &st), ENOTDIR);
    CHECK_ERR(stat("", &st), ENOENT);
    CHECK_ERR(fstat(-1, &st), EBADF);
}

TEST(stat_bad_buffer_efault) {
    put("f", "");
    CHECK_ERR(syscall(SYS_newfstatat, AT_FDCWD, tmp_path("f"), 8L, 0), EFAULT);
    CHECK_ERR(syscall(SYS_newfstatat, AT_FDCWD, 8L, NULL, 0), EFAULT);
}

TEST(statx_basic_fields) {
    put("f", "12345");
    CHECK_OK(chmod(tmp_path("f"), 0604));
    struct statx sx;
    memset(&sx, 0xff, sizeof sx);
    CHECK_OK(statx(AT_FDCWD, tmp_path("f"), 0, STATX_BASIC_STATS, &sx));
    CHECK_EQ(sx.stx_mask & STATX_BASIC_STATS, STATX_BASIC_STATS);
    struct stat st = st_of("f");
    CHECK_EQ(sx.stx_size, 5);
    CHECK_EQ(sx.stx_mode, st.st_mode);
    CHECK_EQ(sx.stx_mode & 07777, 0604);
    CHECK_EQ(sx.stx_ino, st.st_ino);
    CHECK_EQ(sx.stx_nlink, 1);
    CHECK_EQ(sx.stx_uid, st.st_uid);
    CHECK_EQ(sx.stx_blocks, st.st_blocks);
    CHECK_EQ(sx.stx_mtime.tv_sec, st.st_mtim.tv_sec);
    CHECK_EQ(sx.stx_mtime.tv_nsec, st.st_mtim.tv_nsec);
    CHECK_EQ(makedev(sx.stx_dev_major, sx.stx_dev_minor), st.st_dev);
}

TEST(statx_symlink_nofollow_and_empty_path) {
    put("target", "abc");
    CHECK_OK(symlink("target", tmp_path("l")));
    struct statx sx;
    CHECK_OK(statx(AT_FDCWD, tmp_path("l"), AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &sx));
    CHECK(S_ISLNK(sx.stx_mode));
    CHECK_EQ(sx.stx_size, 6);
    int fd = CHECK_OK(open(tmp_path("l"), O_RDONLY));
    CHECK_OK(statx(fd, "", AT_EMPTY_PATH, STATX_SIZE, &sx));
    CHECK(sx.stx_mask & STATX_SIZE);
    CHECK_EQ(sx.stx_size, 3);
}

TEST(statx_invalid_args_einval) {
    put("f", "");
    struct statx sx;
    CHECK_ERR(statx(AT_FDCWD, tmp_path("f"), AT_STATX_FORCE_SYNC | AT_STATX_DONT_SYNC, STATX_BASIC_STATS, &sx), EINVAL);
    CHECK_ERR(statx(AT_FDCWD, tmp_path("f"), 0, STATX__RESERVED, &sx), EINVAL);
    CHECK_ERR(statx(AT_FDCWD, tmp_path("missing"), 0, STATX_BASIC_STATS, &sx), ENOENT);
}

TEST(nlink_of_dirs_counts_subdirs) {
    CHECK_OK(mkdir(tmp_path("d"), 0755));
    CHECK_EQ(st_of("d").st_nlink, 2);
    CHECK_OK(mkdir(tmp_path("d/a"), 0755));
    CHECK_OK(mkdir(tmp_path("d/b"), 0755));
    put("d/file", "");
    CHECK_EQ(st_of("d").st_nlink, 4);
    CHECK_OK(rmdir(tmp_path("d/a")));
    CHECK_EQ(st_of("d").st_nlink, 3);
}

TEST(nlink_of_hard_links) {
    put("f", "");
    CHECK_OK(link(tmp_path("f"), tmp_path("g")));
    CHECK_EQ(st_of("f").st_nlink, 2);
    CHECK_EQ(st_of("g").st_ino, st_of("f").st_ino);
    CHECK_OK(unlink(tmp_path("f")));
    CHECK_EQ(st_of("g").st_nlink, 1);
}

TEST(chmod_reflected_including_special_bits) {
    put("f", "");
    CHECK_OK(chmod(tmp_path("f"), 04755));
    CHECK_EQ(st_of("f").st_mode & 07777, 04755);
    CHECK_OK(chmod(tmp_path("f"), 01000));
    CHECK_EQ(st_of("f").st_mode & 07777, 01000);
    CHECK(S_ISREG(st_of("f").st_mode));
}

TEST(size_tracks_writes_and_truncate) {
    int fd = CHECK_OK(open(tmp_path("f"), O_CREAT | O_RDWR, 0644));
    struct stat st;
    CHECK_OK(fstat(fd, &st));
    CHECK_EQ(st.st_size, 0);
    CHECK_EQ(write(fd, "abcdef", 6), 6);
    CHECK_OK(fstat(fd, &st));
    CHECK_EQ(st.st_size, 6);
    CHECK_OK(ftruncate(fd, 2));
    CHECK_OK(fstat(fd, &st));
    CHECK_EQ(st.st_size, 2);
}

TEST(mtime_and_ctime_change_on_write) {
    put("f", "x");
    age("f");
    struct stat before = st_of("f");
    CHECK_EQ(before.st_mtim.tv_sec, 1000000000);
    int fd = CHECK_OK(open(tmp_path("f"), O_WRONLY));
    CHECK_EQ(write(fd, "y", 1), 1);
    struct stat after = st_of("f");
    CHECK(ts_before(before.st_mtim, after.st_mtim));
    CHECK(after.st_mtim.tv_sec > 1000000000);
    CHECK(!ts_before(after.st_ctim, after.st_mtim));
}

TEST(mtime_changes_on_truncate) {
    put("f", "xyz");
    age("f");
    CHECK_OK(truncate(tmp_path("f"), 1));
    CHECK(st_of("f").st_mtim.tv_sec > 1000000000);
}

TEST(utimensat_sets_exact_times) {
    put("f", "");
    struct timespec ts[2] = {{1234567890, 123456789}, {1111111111, 222222222}};
    CHECK_OK(utimensat(AT_FDCWD, tmp_path("f"), ts, 0));
    struct stat st = st_of("f");
    CHECK_EQ(st.st_atim.tv_sec, 1234567890);
    CHECK_EQ(st.st_atim.tv_nsec, 123456789);
    CHECK_EQ(st.st_mtim.tv_sec, 1111111111);
    CHECK_EQ(st.st_mtim.tv_nsec, 222222222);
}

TEST(utimensat_omit_and_now) {
    put("f", "");
    age("f");
    struct timespec ts[2] = {{0, UTIME_OMIT}, {0, UTIME_NOW}};
    CHECK_OK(utimensat(AT_FDCWD, tmp_path("f"), ts, 0));
    struct stat st = st_of("f");
    CHECK_EQ(st.st_atim.tv_sec, 1000000000);
    CHECK(st.st_mtim.tv_sec > 1000000000);
    struct timespec bad[2] = {{0, 1000000000}, {0, 0}};
    CHECK_ERR(utimensat(AT_FDCWD, tmp_path("f"), bad, 0), EINVAL);
}

TEST(utimensat_null_sets_now) {
    put("f", "");
    age("f");
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    CHECK_OK(utimensat(AT_FDCWD, tmp_path("f"), NULL, 0));
    struct stat st = st_of("f");
    CHECK(st.st_mtim.tv_sec >= now.tv_sec - 2 && st.st_mtim.tv_sec <= now.tv_sec + 2);
    CHECK(st.st_atim.tv_sec >= now.tv_sec - 2);
}

TEST(utimensat_symlink_nofollow) {
    put("f", "");
    CHECK_OK(symlink("f", tmp_path("l")));
    struct timespec ts[2] = {{500000000, 0}, {600000000, 0}};
    CHECK_OK(utimensat(AT_FDCWD, tmp_path("l"), ts, AT_SYMLINK_NOFOLLOW));
    struct stat l, f = st_of("f");
    CHECK_OK(lstat(tmp_path("l"), &l));
    CHECK_EQ(l.st_mtim.tv_sec, 600000000);
    CHECK(f.st_mtim.tv_sec != 600000000);
}

TEST(futimens_on_fd) {
    put("f", "");
    int fd = CHECK_OK(open(tmp_path("f"), O_WRONLY));
    struct timespec ts[2] = {{700000000, 5}, {800000000, 6}};
    CHECK_OK(futimens(fd, ts));
    struct stat st;
    CHECK_OK(fstat(fd, &st));
    CHECK_EQ(st.st_mtim.tv_sec, 800000000);
    CHECK_EQ(st.st_mtim.tv_nsec, 6);
}

TEST(ctime_changes_on_chmod_not_mtime) {
    put("f", "");
    age("f");
    struct stat before = st_of("f");
    CHECK_OK(chmod(tmp_path("f"), 0600));
    struct stat after = st_of("f");
    CHECK_EQ(after.st_mtim.tv_sec, 1000000000);
    CHECK(!ts_before(after.st_ctim, before.st_ctim));
    CHECK(after.st_ctim.tv_sec > 1000000000);
}

TEST(dir_mtime_changes_on_create_and_unlink) {
    CHECK_OK(mkdir(tmp_path("d"), 0755));
    age("d");
    put("d/f", "");
    CHECK(st_of("d").st_mtim.tv_sec > 1000000000);
    age("d");
    CHECK_OK(unlink(tmp_path("d/f")));
    CHECK(st_of("d").st_mtim.tv_sec > 1000000000);
}

TEST(blocks_grow_with_data) {
    put("f", "");
    int fd = CHECK_OK(open(tmp_path("f"), O_WRONLY));
    static char buf[1 << 16];
    memset(buf, 'b', sizeof buf);
    CHECK_EQ(write(fd, buf, sizeof buf), (long long)sizeof buf);
    CHECK_OK(fsync(fd));
    struct stat st;
    CHECK_OK(fstat(fd, &st));
    CHECK(st.st_blocks >= (long long)(sizeof buf / 512));
    CHECK(st.st_blksize > 0);
    CHECK(st.st_blocks < (long long)(4 * sizeof buf / 512));
}

TEST(empty_file_has_no_blocks) {
    put("f", "");
    CHECK_EQ(st_of("f").st_blocks, 0);
}

TEST(file_types_of_special_files) {
    struct stat st;
    int p[2];
    CHECK_OK(pipe(p));
    CHECK_OK(fstat(p[0], &st));
    CHECK(S_ISFIFO(st.st_mode));
    int s[2];
    CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, s));
    CHECK_OK(fstat(s[0], &st));
    CHECK(S_ISSOCK(st.st_mode));
    CHECK_OK(mkfifo(tmp_path("fifo"), 0600));
    CHECK_OK(stat(tmp_path("fifo"), &st));
    CHECK(S_ISFIFO(st.st_mode));
    CHECK_OK(stat(st_tmpdir(), &st));
    CHECK(S_ISDIR(st.st_mode));
}

TEST(dev_null_is_char_device_1_3) {
    struct stat st;
    CHECK_OK(stat("/dev/null", &st));
    CHECK(S_ISCHR(st.st_mode));
    CHECK_EQ(major(st.st_rdev), 1);
    CHECK_EQ(minor(st.st_rdev), 3);
}

TEST(pipe_size_is_zero_and_fstat_stable) {
    int p[2];
    CHECK_OK(pipe(p));
    CHECK_EQ(write(p[1], "abc", 3), 3);
    struct stat a, b;
    CHECK_OK(fstat(p[0], &a));
    CHECK_OK(fstat(p[1], &b));
    CHECK_EQ(a.st_ino, b.st_ino);
    CHECK_EQ(a.st_nlink, 1);
}

TEST(stat_after_rename_same_inode) {
    put("a", "");
    ino_t ino = st_of("a").st_ino;
    CHECK_OK(rename(tmp_path("a"), tmp_path("b")));
    CHECK_EQ(st_of("b").st_ino, ino);
}

TEST(fstat_of_unlinked_file) {
    put("f", "abc");
    int fd = CHECK_OK(open(tmp_path("f"), O_RDONLY));
    CHECK_OK(unlink(tmp_path("f")));
    struct stat st;
    CHECK_OK(fstat(fd, &st));
    CHECK_EQ(st.st_nlink, 0);
    CHECK_EQ(st.st_size, 3);
}
