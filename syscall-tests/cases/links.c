/* links: link/symlink/readlink, rename/renameat2, unlink/unlinkat, nlink, ELOOP. */
#define AREA "links"
#define ST_HARNESS_MAIN
#include "harness.h"

#include <limits.h>
#include <sys/syscall.h>

static void put(const char *name, const char *data) {
    int fd = CHECK_OK(open(tmp_path(name), O_CREAT | O_TRUNC | O_WRONLY, 0644));
    CHECK_EQ(write(fd, data, strlen(data)), (long long)strlen(data));
    CHECK_OK(close(fd));
}

/* Reads up to 63 bytes of `name` into a static buffer. */
static const char *get(const char *name) {
    static char buf[64];
    int fd = CHECK_OK(open(tmp_path(name), O_RDONLY));
    ssize_t n = CHECK_OK(read(fd, buf, sizeof buf - 1));
    buf[n] = 0;
    close(fd);
    return buf;
}

static struct stat st_of(const char *name) {
    struct stat st;
    CHECK_OK(lstat(tmp_path(name), &st));
    return st;
}

static int exists(const char *name) {
    struct stat st;
    return lstat(tmp_path(name), &st) == 0;
}

TEST(link_creates_second_name) {
    put("a", "shared");
    CHECK_OK(link(tmp_path("a"), tmp_path("b")));
    CHECK_EQ(st_of("a").st_nlink, 2);
    CHECK_EQ(st_of("a").st_ino, st_of("b").st_ino);
    CHECK_STR(get("b"), "shared");
    put("b", "changed");
    CHECK_STR(get("a"), "changed");
}

TEST(link_errors) {
    put("a", "");
    put("b", "");
    CHECK_ERR(link(tmp_path("a"), tmp_path("b")), EEXIST);
    CHECK_ERR(link(tmp_path("missing"), tmp_path("c")), ENOENT);
    CHECK_ERR(link(tmp_path("a"), tmp_path("nodir/c")), ENOENT);
    CHECK_OK(mkdir(tmp_path("d"), 0755));
    CHECK_ERR(link(tmp_path("d"), tmp_path("d2")), EPERM);
}

TEST(link_to_symlink_links_the_symlink) {
    put("target", "t");
    CHECK_OK(symlink("target", tmp_path("l")));
    CHECK_OK(link(tmp_path("l"), tmp_path("l2"))); /* Linux link() does not follow */
    CHECK(S_ISLNK(st_of("l2").st_mode));
    CHECK_EQ(st_of("l2").st_ino, st_of("l").st_ino);
}

TEST(linkat_symlink_follow) {
    put("target", "t");
    CHECK_OK(symlink("target", tmp_path("l")));
    CHECK_OK(linkat(AT_FDCWD, tmp_path("l"), AT_FDCWD, tmp_path("hard"), AT_SYMLINK_FOLLOW));
    CHECK(S_ISREG(st_of("hard").st_mode));
    CHECK_EQ(st_of("hard").st_ino, st_of("target").st_ino);
    CHECK_ERR(linkat(AT_FDCWD, tmp_path("l"), AT_FDCWD, tmp_path("x"), 0x1000000), EINVAL);
}

TEST(linkat_with_dirfds) {
    CHECK_OK(mkdir(tmp_path("d1"), 0755));
    CHECK_OK(mkdir(tmp_path("d2"), 0755));
    put("d1/f", "x");
    int a = CHECK_OK(open(tmp_path("d1"), O_RDONLY | O_DIRECTORY));
    int b = CHECK_OK(open(tmp_path("d2"), O_RDONLY | O_DIRECTORY));
    CHECK_OK(linkat(a, "f", b, "g", 0));
    CHECK_EQ(st_of("d2/g").st_ino, st_of("d1/f").st_ino);
}

TEST(symlink_and_readlink) {
    CHECK_OK(symlink("some/where", tmp_path("l")));
    char buf[64];
    memset(buf, 'X', sizeof buf);
    CHECK_EQ(readlink(tmp_path("l"), buf, sizeof buf), 10);
    CHECK(memcmp(buf, "some/where", 10) == 0);
    CHECK_EQ(buf[10], 'X'); /* readlink does not NUL-terminate */
}

TEST(readlink_truncates_to_buffer) {
    CHECK_OK(symlink("0123456789", tmp_path("l")));
    char buf[4];
    CHECK_EQ(readlink(tmp_path("l"), buf, sizeof buf), 4);
    CHECK(memcmp(buf, "0123", 4) == 0);
}

TEST(readlink_errors) {
    put("f", "");
    char buf[64];
    CHECK_ERR(readlink(tmp_path("f"), buf, sizeof buf), EINVAL);
    CHECK_ERR(readlink(tmp_path("missing"), buf, sizeof buf), ENOENT);
    CHECK_OK(symlink("f", tmp_path("l")));
    CHECK_ERR(readlink(tmp_path("l"), buf, 0), EINVAL);
}

TEST(readlinkat_dirfd) {
    CHECK_OK(mkdir(tmp_path("d"), 0755));
    CHECK_OK(symlink("../elsewhere", tmp_path("d/l")));
    int d = CHECK_OK(open(tmp_path("d"), O_RDONLY | O_DIRECTORY));
    char buf[64] = {0};
    CHECK_EQ(readlinkat(d, "l", buf, sizeof buf), 12);
    CHECK_STR(buf, "../elsewhere");
}

TEST(symlink_target_can_be_anything) {
    CHECK_OK(symlink("/definitely/not/there", tmp_path("abs")));
    CHECK_ERR(symlink("", tmp_path("empty")), ENOENT);
    char buf[64] = {0};
    CHECK_EQ(readlink(tmp_path("abs"), buf, sizeof buf), 21);
}

TEST(symlink_existing_eexist) {
    put("f", "");
    CHECK_ERR(symlink("x", tmp_path("f")), EEXIST);
    CHECK_OK(symlink("x", tmp_path("l")));
    CHECK_ERR(symlink("y", tmp_path("l")), EEXIST);
}

TEST(symlink_relative_to_link_dir) {
    CHECK_OK(mkdir(tmp_path("d"), 0755));
    put("d/f", "inside");
    CHECK_OK(symlink("f", tmp_path("d/l")));
    CHECK_STR(get("d/l"), "inside");
    CHECK_OK(symlink("d/f", tmp_path("l2")));
    CHECK_STR(get("l2"), "inside");
}

TEST(symlink_to_dir_in_path) {
    CHECK_OK(mkdir(tmp_path("real"), 0755));
    put("real/f", "via");
    CHECK_OK(symlink("real", tmp_path("l")));
    CHECK_STR(get("l/f"), "via");
    CHECK_OK(symlink(tmp_path("real"), tmp_path("abs")));
    CHECK_STR(get("abs/f"), "via");
}

TEST(dangling_symlink) {
    CHECK_OK(symlink("missing", tmp_path("l")));
    struct stat st;
    CHECK_ERR(stat(tmp_path("l"), &st), ENOENT);
    CHECK_OK(lstat(tmp_path("l"), &st));
    CHECK(S_ISLNK(st.st_mode));
    CHECK_ERR(open(tmp_path("l"), O_RDONLY), ENOENT);
}

TEST(symlink_loop_eloop) {
    CHECK_OK(symlink("b", tmp_path("a")));
    CHECK_OK(symlink("a", tmp_path("b")));
    struct stat st;
    CHECK_ERR(stat(tmp_path("a"), &st), ELOOP);
    CHECK_ERR(open(tmp_path("a"), O_RDONLY), ELOOP);
    CHECK_OK(symlink("self", tmp_path("self")));
    CHECK_ERR(open(tmp_path("self/x"), O_RDONLY), ELOOP);
}

TEST(symlink_chain_limit_40) {
    put("target", "end");
    char from[32], to[32];
    /* l0 -> target, l1 -> l0, ... l40 -> l39: 40 links resolve, 41 do not. */
    CHECK_OK(symlink("target", tmp_path("l0")));
    for (int i = 1; i <= 40; i++) {
        snprintf(from, sizeof from, "l%d", i - 1);
        snprintf(to, sizeof to, "l%d", i);
        CHECK_OK(symlink(from, tmp_path(to)));
    }
    CHECK_STR(get("l39"), "end");
    CHECK_ERR(open(tmp_path("l40"), O_RDONLY), ELOOP);
}

TEST(rename_file_over_file) {
    put("a", "new");
    put("b", "old");
    ino_t ino = st_of("a").st_ino;
    CHECK_OK(rename(tmp_path("a"), tmp_path("b")));
    CHECK(!exists("a"));
    CHECK_EQ(st_of("b").st_ino, ino);
    CHECK_STR(get("b"), "new");
}

TEST(rename_keeps_open_fd_of_replaced_file) {
    put("a", "new");
    put("b", "old");
    int fd = CHECK_OK(open(tmp_path("b"), O_RDONLY));
    CHECK_OK(rename(tmp_path("a"), tmp_path("b")));
    char buf[8] = {0};
    CHECK_EQ(read(fd, buf, sizeof buf), 3);
    CHECK_STR(buf, "old");
}

TEST(rename_into_other_dir) {
    CHECK_OK(mkdir(tmp_path("d"), 0755));
    put("f", "moved");
    CHECK_OK(rename(tmp_path("f"), tmp_path("d/g")));
    CHECK_STR(get("d/g"), "moved");
    CHECK(!exists("f"));
}

TEST(rename_dir_over_empty_dir) {
    CHECK_OK(mkdir(tmp_path("a"), 0755));
    put("a/inner", "i");
    CHECK_OK(mkdir(tmp_path("b"), 0755));
    CHECK_OK(rename(tmp_path("a"), tmp_path("b")));
    CHECK(!exists("a"));
    CHECK_STR(get("b/inner"), "i");
}

TEST(rename_dir_over_nonempty_dir_enotempty) {
    CHECK_OK(mkdir(tmp_path("a"), 0755));
    CHECK_OK(mkdir(tmp_path("b"), 0755));
    put("b/f", "");
    int r = rename(tmp_path("a"), tmp_path("b"));
    CHECK_EQ(r, -1);
    CHECK_EQ(errno, ENOTEMPTY);
}

TEST(rename_type_mismatch) {
    CHECK_OK(mkdir(tmp_path("d"), 0755));
    put("f", "");
    CHECK_ERR(rename(tmp_path("f"), tmp_path("d")), EISDIR);
    CHECK_ERR(rename(tmp_path("d"), tmp_path("f")), ENOTDIR);
}

TEST(rename_dir_into_itself_einval) {
    CHECK_OK(mkdir(tmp_path("d"), 0755));
    CHECK_OK(mkdir(tmp_path("d/sub"), 0755));
    CHECK_ERR(rename(tmp_path("d"), tmp_path("d/sub/x")), EINVAL);
    CHECK_ERR(rename(tmp_path("d"), tmp_path("d/x")), EINVAL);
}

TEST(rename_same_inode_is_noop) {
    put("a", "x");
    CHECK_OK(link(tmp_path("a"), tmp_path("b")));
    CHECK_OK(rename(tmp_path("a"), tmp_path("b")));
    CHECK(exists("a")); /* both names stay */
    CHECK(exists("b"));
    CHECK_OK(rename(tmp_path("a"), tmp_path("a")));
}

TEST(rename_errors) {
    put("f", "");
    CHECK_ERR(rename(tmp_path("missing"), tmp_path("x")), ENOENT);
    CHECK_ERR(rename(tmp_path("f"), tmp_path("nodir/x")), ENOENT);
    CHECK_ERR(rename(tmp_path("f"), tmp_path("f/x")), ENOTDIR);
    CHECK_OK(mkdir(tmp_path("d"), 0755));
    CHECK_ERR(rename(tmp_path("d/."), tmp_path("e")), EBUSY);
}

TEST(rename_symlink_renames_link_not_target) {
    put("target", "t");
    CHECK_OK(symlink("target", tmp_path("l")));
    CHECK_OK(rename(tmp_path("l"), tmp_path("m")));
    CHECK(S_ISLNK(st_of("m").st_mode));
    CHECK(exists("target"));
}

TEST(renameat2_noreplace) {
    put("a", "a");
    put("b", "b");
    CHECK_ERR(renameat2(AT_FDCWD, tmp_path("a"), AT_FDCWD, tmp_path("b"), RENAME_NOREPLACE), EEXIST);
    CHECK_STR(get("b"), "b");
    CHECK_OK(renameat2(AT_FDCWD, tmp_path("a"), AT_FDCWD, tmp_path("c"), RENAME_NOREPLACE));
    CHECK_STR(get("c"), "a");
}

TEST(renameat2_exchange) {
    put("a", "A");
    CHECK_OK(mkdir(tmp_path("d"), 0755));
    put("d/f", "F");
    CHECK_OK(renameat2(AT_FDCWD, tmp_path("a"), AT_FDCWD, tmp_path("d"), RENAME_EXCHANGE));
    CHECK_STR(get("d"), "A");
    CHECK_STR(get("a/f"), "F");
}

TEST(renameat2_exchange_needs_both) {
    put("a", "A");
    CHECK_ERR(renameat2(AT_FDCWD, tmp_path("a"), AT_FDCWD, tmp_path("missing"), RENAME_EXCHANGE), ENOENT);
    CHECK_ERR(renameat2(AT_FDCWD, tmp_path("a"), AT_FDCWD, tmp_path("b"), RENAME_EXCHANGE | RENAME_NOREPLACE), EINVAL);
    CHECK_ERR(renameat2(AT_FDCWD, tmp_path("a"), AT_FDCWD, tmp_path("b"), 0x80), EINVAL);
}

TEST(renameat_with_dirfds) {
    CHECK_OK(mkdir(tmp_path("d1"), 0755));
    CHECK_OK(mkdir(tmp_path("d2"), 0755));
    put("d1/f", "x");
    int a = CHECK_OK(open(tmp_path("d1"), O_RDONLY | O_DIRECTORY));
    int b = CHECK_OK(open(tmp_path("d2"), O_RDONLY | O_DIRECTORY));
    CHECK_OK(renameat(a, "f", b, "g"));
    CHECK_STR(get("d2/g"), "x");
}

TEST(rename_dir_updates_dotdot) {
    CHECK_OK(mkdir(tmp_path("p1"), 0755));
    CHECK_OK(mkdir(tmp_path("p2"), 0755));
    CHECK_OK(mkdir(tmp_path("p1/c"), 0755));
    CHECK_EQ(st_of("p1").st_nlink, 3);
    CHECK_OK(rename(tmp_path("p1/c"), tmp_path("p2/c")));
    CHECK_EQ(st_of("p1").st_nlink, 2);
    CHECK_EQ(st_of("p2").st_nlink, 3);
    CHECK_EQ(st_of("p2/c/..").st_ino, st_of("p2").st_ino);
}

TEST(unlink_open_file_still_readable) {
    put("f", "survivor");
    int fd = CHECK_OK(open(tmp_path("f"), O_RDWR));
    CHECK_OK(unlink(tmp_path("f")));
    CHECK(!exists("f"));
    char buf[16] = {0};
    CHECK_EQ(read(fd, buf, sizeof buf), 8);
    CHECK_STR(buf, "survivor");
    CHECK_EQ(pwrite(fd, "S", 1, 0), 1);
    CHECK_EQ(pread(fd, buf, 1, 0), 1);
    CHECK_EQ(buf[0], 'S');
}

TEST(unlink_decrements_nlink) {
    put("a", "");
    CHECK_OK(link(tmp_path("a"), tmp_path("b")));
    CHECK_OK(link(tmp_path("a"), tmp_path("c")));
    CHECK_EQ(st_of("a").st_nlink, 3);
    CHECK_OK(unlink(tmp_path("b")));
    CHECK_EQ(st_of("a").st_nlink, 2);
    CHECK_OK(unlink(tmp_path("a")));
    CHECK_EQ(st_of("c").st_nlink, 1);
}

TEST(unlink_errors) {
    CHECK_OK(mkdir(tmp_path("d"), 0755));
    CHECK_ERR(unlink(tmp_path("d")), EISDIR);
    CHECK_ERR(unlink(tmp_path("missing")), ENOENT);
    put("f", "");
    CHECK_ERR(unlink(tmp_path("f/x")), ENOTDIR);
}

TEST(unlink_symlink_keeps_target) {
    put("target", "t");
    CHECK_OK(symlink("target", tmp_path("l")));
    CHECK_OK(unlink(tmp_path("l")));
    CHECK(!exists("l"));
    CHECK_STR(get("target"), "t");
}

TEST(unlinkat_removedir) {
    CHECK_OK(mkdir(tmp_path("d"), 0755));
    put("f", "");
    int dir = CHECK_OK(open(st_tmpdir(), O_RDONLY | O_DIRECTORY));
    CHECK_ERR(unlinkat(dir, "d", 0), EISDIR);
    CHECK_ERR(unlinkat(dir, "f", AT_REMOVEDIR), ENOTDIR);
    CHECK_OK(unlinkat(dir, "d", AT_REMOVEDIR));
    CHECK_OK(unlinkat(dir, "f", 0));
    CHECK(!exists("d"));
    CHECK(!exists("f"));
}

TEST(unlinkat_bad_flags_einval) {
    put("f", "");
    CHECK_ERR(unlinkat(AT_FDCWD, tmp_path("f"), AT_SYMLINK_NOFOLLOW), EINVAL);
    CHECK(exists("f"));
}

TEST(unlinkat_removedir_nonempty) {
    CHECK_OK(mkdir(tmp_path("d"), 0755));
    put("d/f", "");
    CHECK_ERR(unlinkat(AT_FDCWD, tmp_path("d"), AT_REMOVEDIR), ENOTEMPTY);
}

TEST(symlinkat_with_dirfd) {
    CHECK_OK(mkdir(tmp_path("d"), 0755));
    int d = CHECK_OK(open(tmp_path("d"), O_RDONLY | O_DIRECTORY));
    CHECK_OK(symlinkat("target", d, "l"));
    char buf[16] = {0};
    CHECK_EQ(readlink(tmp_path("d/l"), buf, sizeof buf), 6);
    CHECK_STR(buf, "target");
}

TEST(symlink_permissions_are_0777) {
    CHECK_OK(symlink("x", tmp_path("l")));
    CHECK_EQ(st_of("l").st_mode & 07777, 0777);
}

TEST(trailing_slash_on_symlink_to_dir_follows) {
    CHECK_OK(mkdir(tmp_path("d"), 0755));
    CHECK_OK(symlink("d", tmp_path("l")));
    struct stat st;
    CHECK_OK(lstat(tmp_path("l/"), &st));
    CHECK(S_ISDIR(st.st_mode));
    CHECK_ERR(unlink(tmp_path("l/")), ENOTDIR); /* the last component is the link itself */
}
