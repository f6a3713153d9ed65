/* files: read/write, positional and vectored I/O, offsets, lseek (incl.
 * SEEK_DATA/SEEK_HOLE), EOF, ESPIPE/EBADF/EFAULT, sparse files,
 * ftruncate/truncate, fallocate, fsync. */
#define AREA "files"
#define ST_HARNESS_MAIN
#include "harness.h"

#include <limits.h>
#include <sys/uio.h>
#include <sys/syscall.h>
#include <linux/falloc.h>

/* Creates `name` in the scratch dir with `data` and returns an O_RDWR fd. */
static int mkfile(const char *name, const char *data) {
    int fd = CHECK_OK(open(tmp_path(name), O_CREAT | O_TRUNC | O_RDWR, 0644));
    size_t n = strlen(data);
    if (n) CHECK_EQ(write(fd, data, n), (long long)n);
    CHECK_EQ(lseek(fd, 0, SEEK_SET), 0);
    return fd;
}

TEST(write_then_read) {
    int fd = CHECK_OK(open(tmp_path("f"), O_CREAT | O_RDWR, 0644));
    CHECK_EQ(write(fd, "hello", 5), 5);
    CHECK_EQ(lseek(fd, 0, SEEK_CUR), 5);
    CHECK_EQ(lseek(fd, 0, SEEK_SET), 0);
    char buf[16] = {0};
    CHECK_EQ(read(fd, buf, sizeof buf), 5);
    CHECK_STR(buf, "hello");
    close(fd);
}

TEST(read_at_eof_returns_zero) {
    int fd = mkfile("f", "abc");
    char buf[8];
    CHECK_EQ(read(fd, buf, sizeof buf), 3);
    CHECK_EQ(read(fd, buf, sizeof buf), 0);
    CHECK_EQ(read(fd, buf, sizeof buf), 0);
}

TEST(read_short_at_end_of_file) {
    int fd = mkfile("f", "0123456789");
    CHECK_EQ(lseek(fd, 7, SEEK_SET), 7);
    char buf[100] = {0};
    CHECK_EQ(read(fd, buf, sizeof buf), 3);
    CHECK_STR(buf, "789");
    CHECK_EQ(lseek(fd, 0, SEEK_CUR), 10);
}

TEST(read_empty_file) {
    int fd = mkfile("f", "");
    char c;
    CHECK_EQ(read(fd, &c, 1), 0);
}

TEST(zero_length_read_and_write) {
    int fd = mkfile("f", "abc");
    char c;
    CHECK_EQ(read(fd, &c, 0), 0);
    CHECK_EQ(write(fd, "x", 0), 0);
    CHECK_EQ(lseek(fd, 0, SEEK_CUR), 0);
    struct stat st;
    CHECK_OK(fstat(fd, &st));
    CHECK_EQ(st.st_size, 3);
}

TEST(dup_shares_offset) {
    int fd = mkfile("f", "abcdef");
    int fd2 = CHECK_OK(dup(fd));
    char buf[4] = {0};
    CHECK_EQ(read(fd, buf, 2), 2);
    CHECK_EQ(lseek(fd2, 0, SEEK_CUR), 2);
    CHECK_EQ(read(fd2, buf, 2), 2);
    CHECK_STR(buf, "cd");
    CHECK_EQ(lseek(fd, 0, SEEK_CUR), 4);
}

TEST(separate_opens_have_separate_offsets) {
    int fd = mkfile("f", "abcdef");
    int fd2 = CHECK_OK(open(tmp_path("f"), O_RDONLY));
    char buf[4] = {0};
    CHECK_EQ(read(fd, buf, 3), 3);
    CHECK_EQ(read(fd2, buf, 2), 2);
    buf[2] = 0;
    CHECK_STR(buf, "ab");
    CHECK_EQ(lseek(fd, 0, SEEK_CUR), 3);
    CHECK_EQ(lseek(fd2, 0, SEEK_CUR), 2);
}

TEST(writes_visible_through_other_fd) {
    int fd = mkfile("f", "");
    int fd2 = CHECK_OK(open(tmp_path("f"), O_RDONLY));
    CHECK_EQ(write(fd, "live", 4), 4);
    char buf[8] = {0};
    CHECK_EQ(read(fd2, buf, sizeof buf), 4);
    CHECK_STR(buf, "live");
}

TEST(overwrite_middle_keeps_rest) {
    int fd = mkfile("f", "aaaaaaaaaa");
    CHECK_EQ(lseek(fd, 3, SEEK_SET), 3);
    CHECK_EQ(write(fd, "XYZ", 3), 3);
    char buf[16] = {0};
    CHECK_EQ(pread(fd, buf, sizeof buf, 0), 10);
    CHECK_STR(buf, "aaaXYZaaaa");
}

TEST(pread_does_not_move_offset) {
    int fd = mkfile("f", "0123456789");
    CHECK_EQ(lseek(fd, 2, SEEK_SET), 2);
    char buf[4] = {0};
    CHECK_EQ(pread(fd, buf, 3, 5), 3);
    CHECK_STR(buf, "567");
    CHECK_EQ(lseek(fd, 0, SEEK_CUR), 2);
}

TEST(pwrite_does_not_move_offset) {
    int fd = mkfile("f", "0123456789");
    CHECK_EQ(pwrite(fd, "AB", 2, 4), 2);
    CHECK_EQ(lseek(fd, 0, SEEK_CUR), 0);
    char buf[16] = {0};
    CHECK_EQ(read(fd, buf, sizeof buf), 10);
    CHECK_STR(buf, "0123AB6789");
}

TEST(pread_past_eof_returns_zero) {
    int fd = mkfile("f", "abc");
    char buf[4];
    CHECK_EQ(pread(fd, buf, 4, 3), 0);
    CHECK_EQ(pread(fd, buf, 4, 1000), 0);
}

TEST(pwrite_past_eof_fills_zeros) {
    int fd = mkfile("f", "ab");
    CHECK_EQ(pwrite(fd, "z", 1, 6), 1);
    struct stat st;
    CHECK_OK(fstat(fd, &st));
    CHECK_EQ(st.st_size, 7);
    char buf[8];
    memset(buf, 'x', sizeof buf);
    CHECK_EQ(pread(fd, buf, 8, 0), 7);
    CHECK(memcmp(buf, "ab\0\0\0\0z", 7) == 0);
}

TEST(pread_negative_offset_einval) {
    int fd = mkfile("f", "abc");
    char buf[4];
    CHECK_ERR(pread(fd, buf, 1, -1), EINVAL);
    CHECK_ERR(pwrite(fd, buf, 1, -1), EINVAL);
}

TEST(pread_on_pipe_espipe) {
    int p[2];
    CHECK_OK(pipe(p));
    char buf[4];
    CHECK_ERR(pread(p[0], buf, 1, 0), ESPIPE);
    CHECK_ERR(pwrite(p[1], "x", 1, 0), ESPIPE);
}

TEST(lseek_on_pipe_espipe) {
    int p[2];
    CHECK_OK(pipe(p));
    CHECK_ERR(lseek(p[0], 0, SEEK_SET), ESPIPE);
    CHECK_ERR(lseek(p[1], 0, SEEK_CUR), ESPIPE);
}

TEST(lseek_set_cur_end) {
    int fd = mkfile("f", "0123456789");
    CHECK_EQ(lseek(fd, 4, SEEK_SET), 4);
    CHECK_EQ(lseek(fd, 3, SEEK_CUR), 7);
    CHECK_EQ(lseek(fd, -2, SEEK_CUR), 5);
    CHECK_EQ(lseek(fd, 0, SEEK_END), 10);
    CHECK_EQ(lseek(fd, -4, SEEK_END), 6);
    char c;
    CHECK_EQ(read(fd, &c, 1), 1);
    CHECK_EQ(c, '6');
}

TEST(lseek_negative_result_einval) {
    int fd = mkfile("f", "0123");
    CHECK_EQ(lseek(fd, 2, SEEK_SET), 2);
    CHECK_ERR(lseek(fd, -1, SEEK_SET), EINVAL);
    CHECK_ERR(lseek(fd, -3, SEEK_CUR), EINVAL);
    CHECK_ERR(lseek(fd, -5, SEEK_END), EINVAL);
    CHECK_EQ(lseek(fd, 0, SEEK_CUR), 2);
}

TEST(lseek_bad_whence_einval) {
    int fd = mkfile("f", "0123");
    CHECK_ERR(lseek(fd, 0, 17), EINVAL);
}

TEST(lseek_bad_fd_ebadf) {
    CHECK_ERR(lseek(-1, 0, SEEK_SET), EBADF);
    CHECK_ERR(lseek(9999, 0, SEEK_SET), EBADF);
}

TEST(lseek_past_end_then_write_makes_hole) {
    int fd = mkfile("f", "ab");
    CHECK_EQ(lseek(fd, 100, SEEK_SET), 100);
    struct stat st;
    CHECK_OK(fstat(fd, &st));
    CHECK_EQ(st.st_size, 2); /* seeking alone does not extend */
    CHECK_EQ(write(fd, "c", 1), 1);
    CHECK_OK(fstat(fd, &st));
    CHECK_EQ(st.st_size, 101);
    char buf[101];
    CHECK_EQ(pread(fd, buf, sizeof buf, 0), 101);
    for (int i = 2; i < 100; i++) CHECK_EQ(buf[i], 0);
    CHECK_EQ(buf[100], 'c');
}

TEST(seek_data_and_hole) {
    int fd = CHECK_OK(open(tmp_path("sparse"), O_CREAT | O_RDWR, 0644));
    const off_t mb = 1 << 20;
    char blk[4096];
    memset(blk, 'd', sizeof blk);
    CHECK_EQ(pwrite(fd, blk, sizeof blk, 0), 4096);
    CHECK_EQ(pwrite(fd, blk, sizeof blk, 4 * mb), 4096);
    CHECK_OK(fsync(fd));
    CHECK_EQ(lseek(fd, 0, SEEK_DATA), 0);
    off_t hole = CHECK_OK(lseek(fd, 0, SEEK_HOLE));
    CHECK(hole >= 4096 && hole < 4 * mb);
    off_t data = CHECK_OK(lseek(fd, hole, SEEK_DATA));
    CHECK(data > hole && data <= 4 * mb);
    CHECK_EQ(lseek(fd, 4 * mb, SEEK_HOLE), 4 * mb + 4096); /* EOF is a hole */
}

TEST(seek_data_past_eof_enxio) {
    int fd = mkfile("f", "abc");
    CHECK_ERR(lseek(fd, 3, SEEK_DATA), ENXIO);
    CHECK_ERR(lseek(fd, 10, SEEK_HOLE), ENXIO);
    CHECK_EQ(lseek(fd, 1, SEEK_HOLE), 3);
    CHECK_EQ(lseek(fd, 1, SEEK_DATA), 1);
}

TEST(seek_hole_on_empty_file_enxio) {
    int fd = mkfile("f", "");
    CHECK_ERR(lseek(fd, 0, SEEK_DATA), ENXIO);
    CHECK_ERR(lseek(fd, 0, SEEK_HOLE), ENXIO);
}

TEST(sparse_file_reads_zeros_and_uses_few_blocks) {
    int fd = CHECK_OK(open(tmp_path("sparse"), O_CREAT | O_RDWR, 0644));
    const off_t size = 64 << 20;
    CHECK_EQ(pwrite(fd, "end", 3, size - 3), 3);
    CHECK_OK(fsync(fd));
    struct stat st;
    CHECK_OK(fstat(fd, &st));
    CHECK_EQ(st.st_size, size);
    CHECK(st.st_blocks < size / 512 / 4);
    char buf[4096];
    memset(buf, 1, sizeof buf);
    CHECK_EQ(pread(fd, buf, sizeof buf, 12345678), 4096);
    for (int i = 0; i < 4096; i++)
        if (buf[i]) FAIL("byte %d of a hole is %d", i, buf[i]);
}

TEST(readv_scatters) {
    int fd = mkfile("f", "abcdefghij");
    char a[3] = {0}, b[0 + 1] = {0}, c[8] = {0};
    struct iovec iov[3] = {{a, 2}, {b, 0}, {c, 7}};
    CHECK_EQ(readv(fd, iov, 3), 9);
    CHECK(memcmp(a, "ab", 2) == 0);
    CHECK(memcmp(c, "cdefghi", 7) == 0);
    CHECK_EQ(lseek(fd, 0, SEEK_CUR), 9);
}

TEST(readv_short_at_eof) {
    int fd = mkfile("f", "abc");
    char a[2], b[10];
    struct iovec iov[2] = {{a, 2}, {b, 10}};
    CHECK_EQ(readv(fd, iov, 2), 3);
    CHECK_EQ(b[0], 'c');
    CHECK_EQ(readv(fd, iov, 2), 0);
}

TEST(writev_gathers) {
    int fd = mkfile("f", "");
    struct iovec iov[3] = {{"one ", 4}, {"", 0}, {"two", 3}};
    CHECK_EQ(writev(fd, iov, 3), 7);
    char buf[16] = {0};
    CHECK_EQ(pread(fd, buf, sizeof buf, 0), 7);
    CHECK_STR(buf, "one two");
}

TEST(preadv_pwritev_at_offset) {
    int fd = mkfile("f", "..........");
    struct iovec w[2] = {{"AB", 2}, {"CD", 2}};
    CHECK_EQ(pwritev(fd, w, 2, 3), 4);
    CHECK_EQ(lseek(fd, 0, SEEK_CUR), 0);
    char x[3] = {0}, y[4] = {0};
    struct iovec r[2] = {{x, 2}, {y, 3}};
    CHECK_EQ(preadv(fd, r, 2, 2), 5);
    CHECK_STR(x, ".A");
    CHECK_STR(y, "BCD");
    CHECK_EQ(lseek(fd, 0, SEEK_CUR), 0);
}

TEST(readv_too_many_iovecs_einval) {
    int fd = mkfile("f", "abc");
    static struct iovec iov[IOV_MAX + 1];
    static char c;
    for (int i = 0; i <= IOV_MAX; i++) iov[i] = (struct iovec){&c, 1};
    CHECK_ERR(readv(fd, iov, IOV_MAX + 1), EINVAL);
    volatile int neg = -1;
    CHECK_ERR(writev(fd, iov, neg), EINVAL);
}

TEST(read_closed_fd_ebadf) {
    int fd = mkfile("f", "abc");
    CHECK_OK(close(fd));
    char c;
    CHECK_ERR(read(fd, &c, 1), EBADF);
    CHECK_ERR(write(fd, "x", 1), EBADF);
    CHECK_ERR(close(fd), EBADF);
    CHECK_ERR(read(-1, &c, 1), EBADF);
}

TEST(read_on_wronly_fd_ebadf) {
    close(mkfile("f", "abc"));
    int fd = CHECK_OK(open(tmp_path("f"), O_WRONLY));
    char c;
    CHECK_ERR(read(fd, &c, 1), EBADF);
    CHECK_ERR(pread(fd, &c, 1, 0), EBADF);
}

TEST(write_on_rdonly_fd_ebadf) {
    close(mkfile("f", "abc"));
    int fd = CHECK_OK(open(tmp_path("f"), O_RDONLY));
    CHECK_ERR(write(fd, "x", 1), EBADF);
    CHECK_ERR(pwrite(fd, "x", 1, 0), EBADF);
}

TEST(read_directory_eisdir) {
    int fd = CHECK_OK(open(".", O_RDONLY | O_DIRECTORY));
    char c;
    CHECK_ERR(read(fd, &c, 1), EISDIR);
}

TEST(read_bad_buffer_efault) {
    int fd = mkfile("f", "abc");
    CHECK_ERR(syscall(SYS_read, fd, 8L, 3L), EFAULT);
    CHECK_EQ(lseek(fd, 0, SEEK_CUR), 0);
}

TEST(write_bad_buffer_efault) {
    int fd = mkfile("f", "");
    CHECK_ERR(syscall(SYS_write, fd, 8L, 3L), EFAULT);
    struct stat st;
    CHECK_OK(fstat(fd, &st));
    CHECK_EQ(st.st_size, 0);
}

TEST(large_write_read_roundtrip) {
    const size_t n = 3 << 20;
    unsigned char *w = malloc(n), *r = malloc(n);
    CHECK(w && r);
    for (size_t i = 0; i < n; i++) w[i] = (unsigned char)(i * 7 + (i >> 11));
    int fd = mkfile("big", "");
    size_t done = 0;
    while (done < n) done += CHECK_OK(write(fd, w + done, n - done));
    CHECK_EQ(lseek(fd, 0, SEEK_SET), 0);
    done = 0;
    ssize_t k;
    while ((k = CHECK_OK(read(fd, r + done, n - done))) > 0) done += k;
    CHECK_EQ(done, n);
    CHECK(memcmp(w, r, n) == 0);
}

TEST(ftruncate_shrinks_and_extends) {
    int fd = mkfile("f", "0123456789");
    CHECK_OK(ftruncate(fd, 4));
    struct stat st;
    CHECK_OK(fstat(fd, &st));
    CHECK_EQ(st.st_size, 4);
    CHECK_OK(ftruncate(fd, 8));
    CHECK_OK(fstat(fd, &st));
    CHECK_EQ(st.st_size, 8);
    char buf[8];
    CHECK_EQ(pread(fd, buf, 8, 0), 8);
    CHECK(memcmp(buf, "0123\0\0\0\0", 8) == 0);
}

TEST(ftruncate_keeps_offset) {
    int fd = mkfile("f", "0123456789");
    CHECK_EQ(lseek(fd, 8, SEEK_SET), 8);
    CHECK_OK(ftruncate(fd, 2));
    CHECK_EQ(lseek(fd, 0, SEEK_CUR), 8);
    char c;
    CHECK_EQ(read(fd, &c, 1), 0);
    CHECK_EQ(write(fd, "x", 1), 1);
    struct stat st;
    CHECK_OK(fstat(fd, &st));
    CHECK_EQ(st.st_size, 9);
}

TEST(truncate_by_path) {
    close(mkfile("f", "0123456789"));
    CHECK_OK(truncate(tmp_path("f"), 3));
    struct stat st;
    CHECK_OK(stat(tmp_path("f"), &st));
    CHECK_EQ(st.st_size, 3);
    CHECK_ERR(truncate(tmp_path("missing"), 0), ENOENT);
}

TEST(truncate_negative_einval) {
    int fd = mkfile("f", "abc");
    CHECK_ERR(ftruncate(fd, -1), EINVAL);
    CHECK_ERR(truncate(tmp_path("f"), -1), EINVAL);
}

TEST(ftruncate_readonly_fd_einval) {
    close(mkfile("f", "abc"));
    int fd = CHECK_OK(open(tmp_path("f"), O_RDONLY));
    CHECK_ERR(ftruncate(fd, 0), EINVAL);
}

TEST(truncate_directory_eisdir) {
    CHECK_OK(mkdir(tmp_path("d"), 0755));
    CHECK_ERR(truncate(tmp_path("d"), 0), EISDIR);
}

TEST(ftruncate_pipe_einval) {
    int p[2];
    CHECK_OK(pipe(p));
    CHECK_ERR(ftruncate(p[1], 0), EINVAL);
}

TEST(fallocate_extends_and_keep_size) {
    int fd = mkfile("f", "ab");
    CHECK_OK(fallocate(fd, 0, 0, 8192));
    struct stat st;
    CHECK_OK(fstat(fd, &st));
    CHECK_EQ(st.st_size, 8192);
    CHECK_OK(fallocate(fd, FALLOC_FL_KEEP_SIZE, 8192, 8192));
    CHECK_OK(fstat(fd, &st));
    CHECK_EQ(st.st_size, 8192);
    char buf[2];
    CHECK_EQ(pread(fd, buf, 2, 0), 2);
    CHECK(memcmp(buf, "ab", 2) == 0);
}

TEST(fallocate_punch_hole_zeroes) {
    int fd = mkfile("f", "");
    char blk[3 * 4096];
    memset(blk, 'x', sizeof blk);
    CHECK_EQ(write(fd, blk, sizeof blk), (long long)sizeof blk);
    CHECK_OK(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 4096, 4096));
    struct stat st;
    CHECK_OK(fstat(fd, &st));
    CHECK_EQ(st.st_size, (long long)sizeof blk);
    CHECK_EQ(pread(fd, blk, sizeof blk, 0), (long long)sizeof blk);
    CHECK_EQ(blk[4095], 'x');
    CHECK_EQ(blk[4096], 0);
    CHECK_EQ(blk[8191], 0);
    CHECK_EQ(blk[8192], 'x');
}

TEST(fallocate_bad_args) {
    int fd = mkfile("f", "");
    CHECK_ERR(fallocate(fd, 0, 0, 0), EINVAL);
    CHECK_ERR(fallocate(fd, 0, -1, 10), EINVAL);
    CHECK_ERR(fallocate(fd, FALLOC_FL_PUNCH_HOLE, 0, 4096), EOPNOTSUPP); /* needs KEEP_SIZE */
    int p[2];
    CHECK_OK(pipe(p));
    CHECK_ERR(fallocate(p[1], 0, 0, 10), ESPIPE);
}

TEST(fsync_and_fdatasync) {
    int fd = mkfile("f", "data");
    CHECK_OK(fsync(fd));
    CHECK_OK(fdatasync(fd));
    int ro = CHECK_OK(open(tmp_path("f"), O_RDONLY));
    CHECK_OK(fsync(ro));
    CHECK_ERR(fsync(-1), EBADF);
}

TEST(fsync_on_pipe_einval) {
    int p[2];
    CHECK_OK(pipe(p));
    CHECK_ERR(fsync(p[1]), EINVAL);
    CHECK_ERR(fdatasync(p[0]), EINVAL);
}

TEST(sync_file_range_and_syncfs) {
    int fd = mkfile("f", "data");
    CHECK_OK(sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE));
    CHECK_ERR(sync_file_range(fd, -1, 0, SYNC_FILE_RANGE_WRITE), EINVAL);
    CHECK_OK(syncfs(fd));
}

TEST(append_fd_flag_write_to_end) {
    int fd = mkfile("f", "abc");
    CHECK_OK(fcntl(fd, F_SETFL, O_APPEND));
    CHECK_EQ(lseek(fd, 0, SEEK_SET), 0);
    CHECK_EQ(write(fd, "d", 1), 1);
    CHECK_EQ(lseek(fd, 0, SEEK_CUR), 4);
    char buf[8] = {0};
    CHECK_EQ(pread(fd, buf, sizeof buf, 0), 4);
    CHECK_STR(buf, "abcd");
}

TEST(copy_file_range_copies) {
    int in = mkfile("in", "0123456789");
    int out = mkfile("out", "");
    loff_t off_in = 2;
    CHECK_EQ(copy_file_range(in, &off_in, out, NULL, 5, 0), 5);
    CHECK_EQ(off_in, 7);
    CHECK_EQ(lseek(in, 0, SEEK_CUR), 0);
    CHECK_EQ(lseek(out, 0, SEEK_CUR), 5);
    char buf[8] = {0};
    CHECK_EQ(pread(out, buf, sizeof buf, 0), 5);
    CHECK_STR(buf, "23456");
}

TEST(sendfile_file_to_file) {
    int in = mkfile("in", "0123456789");
    int out = mkfile("out", "");
    off_t off = 4;
    CHECK_EQ(syscall(SYS_sendfile, out, in, &off, 3), 3);
    CHECK_EQ(off, 7);
    CHECK_EQ(lseek(in, 0, SEEK_CUR), 0);
    char buf[4] = {0};
    CHECK_EQ(pread(out, buf, 3, 0), 3);
    CHECK_STR(buf, "456");
}
