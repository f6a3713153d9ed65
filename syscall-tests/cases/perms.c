/* File permission semantics: umask, chmod family, access family, ownership,
 * sticky and setgid directories, and EACCES after dropping privileges. */
#define AREA "perms"
#define ST_HARNESS_MAIN
#include "harness.h"

#include <grp.h>
#include <linux/capability.h>
#include <sys/syscall.h>

#define NOBODY 65534

#ifndef AT_EACCESS
#define AT_EACCESS 0x200
#endif

static int has_cap(int cap) {
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2];
    memset(d, 0, sizeof d);
    if (syscall(SYS_capget, &h, d) < 0) return 0;
    return (d[cap / 32].effective >> (cap % 32)) & 1;
}

/* Drop to uid/gid 65534 with no supplementary groups; SKIP if impossible. */
static void drop_to_nobody(void) {
    if (setgroups(0, NULL) < 0 || setgid(NOBODY) < 0 || setuid(NOBODY) < 0)
        SKIP("cannot drop privileges to uid %d: %s", NOBODY, strerrorname_np(errno));
    if (getuid() != NOBODY || geteuid() != NOBODY)
        FAIL("setuid(%d) returned 0 but uid is %d/%d", NOBODY, getuid(), geteuid());
}

/* Wait for a helper child; pass its SKIP/FAIL through (its message is
 * already written). */
static void child_ok(pid_t pid) {
    int st = st_wait(pid);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 77) _exit(77);
    if (WIFEXITED(st)) FAIL("helper child exited with %d", WEXITSTATUS(st));
    FAIL("helper child killed by signal %d", WTERMSIG(st));
}

/* Uid 65534 must be able to reach the scratch dir: every ancestor needs
 * search permission for "others". */
static void need_reachable_scratch(void) {
    char path[512];
    snprintf(path, sizeof path, "%s", st_tmpdir());
    for (char *slash = strrchr(path, '/'); slash && slash != path; slash = strrchr(path, '/')) {
        *slash = 0;
        struct stat st;
        if (stat(path, &st) < 0) FAIL("stat %s: %s", path, strerrorname_np(errno));
        if (!(st.st_mode & S_IXOTH)) SKIP("%s is not searchable by other users", path);
    }
}

/* The scratch dir is 0700; open it up so that uid 65534 can reach files. */
static void open_scratch(void) {
    need_reachable_scratch();
    CHECK_OK(chmod(st_tmpdir(), 0755));
}

static void make_file(const char *p, mode_t mode) {
    int fd = CHECK_OK(open(p, O_CREAT | O_EXCL | O_WRONLY, 0600));
    CHECK_EQ(write(fd, "data", 4), 4);
    CHECK_OK(close(fd));
    CHECK_OK(chmod(p, mode));
}

static mode_t mode_of(const char *p) {
    struct stat st;
    CHECK_OK(stat(p, &st));
    return st.st_mode & 07777;
}

TEST(umask_applies_to_open) {
    umask(022);
    CHECK_EQ(umask(077), 022);
    int fd = CHECK_OK(open(tmp_path("a"), O_CREAT | O_WRONLY, 0777));
    close(fd);
    CHECK_EQ(mode_of(tmp_path("a")), 0700);
    CHECK_EQ(umask(022), 077);
    fd = CHECK_OK(open(tmp_path("b"), O_CREAT | O_WRONLY, 0666));
    close(fd);
    CHECK_EQ(mode_of(tmp_path("b")), 0644);
    /* umask does not apply to an existing file or to chmod. */
    CHECK_OK(chmod(tmp_path("b"), 0777));
    CHECK_EQ(mode_of(tmp_path("b")), 0777);
    fd = CHECK_OK(open(tmp_path("b"), O_CREAT | O_WRONLY, 0600));
    close(fd);
    CHECK_EQ(mode_of(tmp_path("b")), 0777);
}

TEST(umask_applies_to_mkdir_and_mknod) {
    umask(027);
    CHECK_OK(mkdir(tmp_path("d"), 0777));
    CHECK_EQ(mode_of(tmp_path("d")), 0750);
    CHECK_OK(mkfifo(tmp_path("fifo"), 0666));
    CHECK_EQ(mode_of(tmp_path("fifo")), 0640);
    umask(0);
    CHECK_OK(mkdir(tmp_path("e"), 0777));
    CHECK_EQ(mode_of(tmp_path("e")), 0777);
}

TEST(chmod_fchmod_fchmodat) {
    make_file(tmp_path("f"), 0644);
    CHECK_OK(chmod(tmp_path("f"), 0640));
    CHECK_EQ(mode_of(tmp_path("f")), 0640);
    int fd = CHECK_OK(open(tmp_path("f"), O_RDONLY));
    CHECK_OK(fchmod(fd, 0604));
    struct stat st;
    CHECK_OK(fstat(fd, &st));
    CHECK_EQ(st.st_mode & 07777, 0604);
    int dfd = CHECK_OK(open(st_tmpdir(), O_RDONLY | O_DIRECTORY));
    CHECK_OK(fchmodat(dfd, "f", 0400, 0));
    CHECK_EQ(mode_of(tmp_path("f")), 0400);
    /* Special bits are kept by root (owner) on a regular file. */
    CHECK_OK(chmod(tmp_path("f"), 04755));
    CHECK_EQ(mode_of(tmp_path("f")), 04755);
    /* File type bits in the mode argument are ignored. */
    CHECK_OK(chmod(tmp_path("f"), S_IFDIR | 0600));
    CHECK_OK(stat(tmp_path("f"), &st));
    CHECK(S_ISREG(st.st_mode));
    CHECK_EQ(st.st_mode & 07777, 0600);
    close(fd);
    close(dfd);
}

TEST(chmod_errors) {
    CHECK_ERR(chmod(tmp_path("missing"), 0644), ENOENT);
    make_file(tmp_path("f"), 0644);
    CHECK_ERR(chmod(tmp_path("f/x"), 0644), ENOTDIR);
    CHECK_ERR(fchmod(-1, 0644), EBADF);
    CHECK_ERR(fchmodat(AT_FDCWD, "f", 0644, 0x12345678), EINVAL);
    /* Relative to cwd (the scratch dir). */
    CHECK_OK(fchmodat(AT_FDCWD, "f", 0611, 0));
    CHECK_EQ(mode_of(tmp_path("f")), 0611);
}

TEST(access_as_root) {
    if (!has_cap(CAP_DAC_OVERRIDE)) SKIP("no CAP_DAC_OVERRIDE");
    make_file(tmp_path("f"), 0000);
    CHECK_OK(access(tmp_path("f"), F_OK));
    CHECK_OK(access(tmp_path("f"), R_OK | W_OK));
    /* Root needs at least one execute bit for X_OK on a regular file. */
    CHECK_ERR(access(tmp_path("f"), X_OK), EACCES);
    CHECK_OK(chmod(tmp_path("f"), 0001));
    CHECK_OK(access(tmp_path("f"), X_OK));
    CHECK_ERR(access(tmp_path("nope"), F_OK), ENOENT);
    CHECK_ERR(access(tmp_path("f"), 0100), EINVAL);
}

TEST(access_as_nobody) {
    open_scratch();
    make_file(tmp_path("priv"), 0600);
    make_file(tmp_path("pub"), 0644);
    make_file(tmp_path("exe"), 0755);
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        drop_to_nobody();
        CHECK_OK(access(tmp_path("priv"), F_OK));
        CHECK_ERR(access(tmp_path("priv"), R_OK), EACCES);
        CHECK_ERR(open(tmp_path("priv"), O_RDONLY), EACCES);
        CHECK_OK(access(tmp_path("pub"), R_OK));
        CHECK_ERR(access(tmp_path("pub"), W_OK), EACCES);
        CHECK_ERR(open(tmp_path("pub"), O_WRONLY), EACCES);
        CHECK_ERR(access(tmp_path("pub"), X_OK), EACCES);
        CHECK_OK(access(tmp_path("exe"), R_OK | X_OK));
        int fd = CHECK_OK(open(tmp_path("pub"), O_RDONLY));
        char b[8];
        CHECK_EQ(read(fd, b, sizeof b), 4);
        _exit(0);
    }
    child_ok(pid);
}

TEST(faccessat_eaccess_uses_effective_ids) {
    open_scratch();
    make_file(tmp_path("priv"), 0600);
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        /* Real uid 65534, effective uid 0. */
        if (setresuid(NOBODY, 0, 0) < 0) SKIP("setresuid: %s", strerrorname_np(errno));
        CHECK_ERR(access(tmp_path("priv"), R_OK), EACCES);
        CHECK_ERR(faccessat(AT_FDCWD, "priv", R_OK, 0), EACCES);
        CHECK_OK(syscall(SYS_faccessat2, AT_FDCWD, "priv", R_OK, AT_EACCESS));
        CHECK_OK(syscall(SYS_faccessat2, AT_FDCWD, "priv", W_OK, AT_EACCESS));
        /* The file itself is of course openable with euid 0. */
        int fd = CHECK_OK(open(tmp_path("priv"), O_RDONLY));
        close(fd);
        _exit(0);
    }
    child_ok(pid);
}

TEST(faccessat2_flags) {
    make_file(tmp_path("f"), 0644);
    CHECK_OK(symlink("missing-target", tmp_path("dangling")));
    CHECK_ERR(syscall(SYS_faccessat2, AT_FDCWD, "dangling", F_OK, 0), ENOENT);
    CHECK_OK(syscall(SYS_faccessat2, AT_FDCWD, "dangling", F_OK, AT_SYMLINK_NOFOLLOW));
    CHECK_ERR(syscall(SYS_faccessat2, AT_FDCWD, "f", F_OK, 0x1), EINVAL);
    int fd = CHECK_OK(open(tmp_path("f"), O_RDONLY));
    CHECK_OK(syscall(SYS_faccessat2, fd, "", R_OK, AT_EMPTY_PATH));
    CHECK_ERR(syscall(SYS_faccessat2, fd, "", R_OK, 0), ENOENT);
    close(fd);
}

TEST(nonowner_chmod_chown_eperm) {
    if (!has_cap(CAP_CHOWN)) SKIP("no CAP_CHOWN");
    open_scratch();
    make_file(tmp_path("rootf"), 0666);
    make_file(tmp_path("mine"), 0644);
    CHECK_OK(chown(tmp_path("mine"), NOBODY, NOBODY));
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        drop_to_nobody();
        CHECK_ERR(chmod(tmp_path("rootf"), 0600), EPERM);
        CHECK_ERR(chown(tmp_path("mine"), 0, -1), EPERM);
        /* The owner may chmod its own file, and chown to itself is allowed. */
        CHECK_OK(chmod(tmp_path("mine"), 0600));
        CHECK_OK(chown(tmp_path("mine"), NOBODY, NOBODY));
        /* Writing to a world-writable file of someone else is fine. */
        int fd = CHECK_OK(open(tmp_path("rootf"), O_WRONLY | O_APPEND));
        CHECK_EQ(write(fd, "x", 1), 1);
        _exit(0);
    }
    child_ok(pid);
    CHECK_EQ(mode_of(tmp_path("mine")), 0600);
    CHECK_EQ(mode_of(tmp_path("rootf")), 0666);
}

TEST(chown_as_root) {
    if (!has_cap(CAP_CHOWN)) SKIP("no CAP_CHOWN");
    make_file(tmp_path("f"), 0644);
    CHECK_OK(chown(tmp_path("f"), NOBODY, NOBODY));
    struct stat st;
    CHECK_OK(stat(tmp_path("f"), &st));
    CHECK_EQ(st.st_uid, NOBODY);
    CHECK_EQ(st.st_gid, NOBODY);
    int fd = CHECK_OK(open(tmp_path("f"), O_RDONLY));
    CHECK_OK(fchown(fd, -1, 0)); /* -1 leaves uid alone */
    CHECK_OK(fstat(fd, &st));
    CHECK_EQ(st.st_uid, NOBODY);
    CHECK_EQ(st.st_gid, 0);
    close(fd);
    /* lchown changes the link, not the target. */
    CHECK_OK(symlink("f", tmp_path("l")));
    CHECK_OK(lchown(tmp_path("l"), 1234, 1234));
    CHECK_OK(lstat(tmp_path("l"), &st));
    CHECK_EQ(st.st_uid, 1234);
    CHECK_OK(stat(tmp_path("f"), &st));
    CHECK_EQ(st.st_uid, NOBODY);
    CHECK_OK(fchownat(AT_FDCWD, "l", 4321, -1, 0)); /* follows */
    CHECK_OK(stat(tmp_path("f"), &st));
    CHECK_EQ(st.st_uid, 4321);
}

TEST(chown_clears_setuid) {
    if (!has_cap(CAP_CHOWN)) SKIP("no CAP_CHOWN");
    make_file(tmp_path("f"), 06755);
    CHECK_EQ(mode_of(tmp_path("f")), 06755);
    CHECK_OK(chown(tmp_path("f"), NOBODY, -1));
    /* setuid and (group-executable) setgid are cleared on chown. */
    CHECK_EQ(mode_of(tmp_path("f")), 0755);
}

TEST(write_by_nonowner_clears_setuid) {
    open_scratch();
    make_file(tmp_path("f"), 04777);
    CHECK_EQ(mode_of(tmp_path("f")), 04777);
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        drop_to_nobody();
        int fd = CHECK_OK(open(tmp_path("f"), O_WRONLY));
        CHECK_EQ(write(fd, "zz", 2), 2);
        _exit(0);
    }
    child_ok(pid);
    CHECK_EQ(mode_of(tmp_path("f")), 0777);
}

TEST(sticky_dir) {
    open_scratch();
    CHECK_OK(mkdir(tmp_path("t"), 0777));
    CHECK_OK(chmod(tmp_path("t"), 01777));
    CHECK_EQ(mode_of(tmp_path("t")), 01777);
    make_file(tmp_path("t/rootfile"), 0666);
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        drop_to_nobody();
        /* Cannot remove or rename another user's file in a sticky dir. */
        CHECK_ERR(unlink(tmp_path("t/rootfile")), EPERM);
        CHECK_ERR(rename(tmp_path("t/rootfile"), tmp_path("t/x")), EPERM);
        /* But can create, rename and remove its own. */
        int fd = CHECK_OK(open(tmp_path("t/mine"), O_CREAT | O_EXCL | O_WRONLY, 0644));
        close(fd);
        CHECK_OK(rename(tmp_path("t/mine"), tmp_path("t/mine2")));
        CHECK_OK(unlink(tmp_path("t/mine2")));
        _exit(0);
    }
    child_ok(pid);
    CHECK_OK(access(tmp_path("t/rootfile"), F_OK));
    /* Without the sticky bit the same removal is allowed. */
    CHECK_OK(chmod(tmp_path("t"), 0777));
    pid = CHECK_OK(fork());
    if (pid == 0) {
        drop_to_nobody();
        CHECK_OK(unlink(tmp_path("t/rootfile")));
        _exit(0);
    }
    child_ok(pid);
    CHECK_ERR(access(tmp_path("t/rootfile"), F_OK), ENOENT);
}

TEST(dir_permissions_as_nobody) {
    open_scratch();
    CHECK_OK(mkdir(tmp_path("ro"), 0755));
    make_file(tmp_path("ro/f"), 0666);
    CHECK_OK(mkdir(tmp_path("nox"), 0766));
    make_file(tmp_path("nox/f"), 0666);
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        drop_to_nobody();
        /* No write permission on the directory: no create, no unlink. */
        CHECK_ERR(open(tmp_path("ro/new"), O_CREAT | O_WRONLY, 0644), EACCES);
        CHECK_ERR(unlink(tmp_path("ro/f")), EACCES);
        CHECK_ERR(mkdir(tmp_path("ro/sub"), 0755), EACCES);
        /* But the world-writable file itself is writable. */
        int fd = CHECK_OK(open(tmp_path("ro/f"), O_WRONLY));
        close(fd);
        /* No search permission: cannot reach anything below. */
        CHECK_ERR(open(tmp_path("nox/f"), O_RDONLY), EACCES);
        CHECK_ERR(access(tmp_path("nox/f"), F_OK), EACCES);
        struct stat st;
        CHECK_ERR(stat(tmp_path("nox/f"), &st), EACCES);
        CHECK_ERR(chdir(tmp_path("nox")), EACCES);
        _exit(0);
    }
    child_ok(pid);
}

TEST(setgid_dir_inheritance) {
    if (!has_cap(CAP_CHOWN)) SKIP("no CAP_CHOWN");
    CHECK_OK(mkdir(tmp_path("d"), 0775));
    CHECK_OK(chown(tmp_path("d"), 0, NOBODY));
    CHECK_OK(chmod(tmp_path("d"), 02775));
    CHECK_EQ(mode_of(tmp_path("d")), 02775);
    int fd = CHECK_OK(open(tmp_path("d/f"), O_CREAT | O_WRONLY, 0644));
    close(fd);
    struct stat st;
    CHECK_OK(stat(tmp_path("d/f"), &st));
    CHECK_EQ(st.st_gid, NOBODY);
    CHECK_EQ(st.st_mode & S_ISGID, 0);
    CHECK_OK(mkdir(tmp_path("d/sub"), 0755));
    CHECK_OK(stat(tmp_path("d/sub"), &st));
    CHECK_EQ(st.st_gid, NOBODY);
    CHECK(st.st_mode & S_ISGID); /* subdirectories inherit the bit */
    /* A plain directory gives the creator's gid. */
    CHECK_OK(mkdir(tmp_path("plain"), 0755));
    fd = CHECK_OK(open(tmp_path("plain/f"), O_CREAT | O_WRONLY, 0644));
    close(fd);
    CHECK_OK(stat(tmp_path("plain/f"), &st));
    CHECK_EQ(st.st_gid, getegid());
}
