/* AF_UNIX sockets: socketpair types, boundaries, path and abstract names,
 * connection errors, names, SCM_RIGHTS, credentials, shutdown, EPIPE,
 * options, non-blocking accept, datagrams. Paths live in the scratch dir. */
#define AREA "unix"
#define ST_HARNESS_MAIN
#include "harness.h"

#include <poll.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>

static socklen_t path_addr(struct sockaddr_un *a, const char *path) {
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof a->sun_path) FAIL("path too long: %s", path);
    strcpy(a->sun_path, path);
    return offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1;
}

/* Abstract name: a leading NUL then a name unique to this process. */
static socklen_t abstract_addr(struct sockaddr_un *a, const char *tag) {
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    int n = snprintf(a->sun_path + 1, sizeof a->sun_path - 1, "st-unix-%d-%s", getpid(), tag);
    return offsetof(struct sockaddr_un, sun_path) + 1 + n;
}

static int listener(const char *path, int type, struct sockaddr_un *a, socklen_t *len) {
    int s = CHECK_OK(socket(AF_UNIX, type, 0));
    *len = path_addr(a, path);
    CHECK_OK(bind(s, (struct sockaddr *)a, *len));
    CHECK_OK(listen(s, 8));
    return s;
}

TEST(socketpair_stream_bidirectional) {
    int sv[2];
    CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    CHECK_EQ(write(sv[0], "ping", 4), 4);
    CHECK_EQ(write(sv[0], "pong", 4), 4);
    char buf[16] = {0};
    /* A stream has no boundaries: both writes can be read at once. */
    CHECK_EQ(recv(sv[1], buf, sizeof buf, MSG_WAITALL | MSG_DONTWAIT), 8);
    CHECK_STR(buf, "pingpong");
    CHECK_EQ(write(sv[1], "back", 4), 4);
    memset(buf, 0, sizeof buf);
    CHECK_EQ(read(sv[0], buf, sizeof buf), 4);
    CHECK_STR(buf, "back");
    CHECK_ERR(recv(sv[0], buf, sizeof buf, MSG_DONTWAIT), EAGAIN);
    CHECK_ERR(socketpair(AF_INET, SOCK_STREAM, 0, sv), EOPNOTSUPP);
}

TEST(socketpair_dgram_boundaries_and_trunc) {
    int sv[2];
    CHECK_OK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
    CHECK_EQ(send(sv[0], "one", 3, 0), 3);
    CHECK_EQ(send(sv[0], "three", 5, 0), 5);
    CHECK_EQ(send(sv[0], "", 0, 0), 0);
    char buf[16] = {0};
    CHECK_EQ(recv(sv[1], buf, sizeof buf, 0), 3);
    /* A short buffer truncates the datagram; MSG_TRUNC reports its length. */
    struct iovec iov = {buf, 2};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    CHECK_EQ(recvmsg(sv[1], &mh, 0), 2);
    CHECK(mh.msg_flags & MSG_TRUNC);
    /* Zero-length datagram. */
    CHECK_EQ(recv(sv[1], buf, sizeof buf, MSG_DONTWAIT), 0);
    CHECK_ERR(recv(sv[1], buf, sizeof buf, MSG_DONTWAIT), EAGAIN);
    CHECK_EQ(send(sv[0], "abcdef", 6, 0), 6);
    CHECK_EQ(recv(sv[1], buf, 2, MSG_TRUNC), 6);
}

TEST(socketpair_seqpacket_boundaries_and_eof) {
    int sv[2];
    CHECK_OK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv));
    CHECK_EQ(send(sv[0], "aa", 2, 0), 2);
    CHECK_EQ(send(sv[0], "bbb", 3, 0), 3);
    char buf[16];
    CHECK_EQ(recv(sv[1], buf, sizeof buf, 0), 2);
    CHECK_EQ(recv(sv[1], buf, sizeof buf, 0), 3);
    close(sv[0]);
    CHECK_EQ(recv(sv[1], buf, sizeof buf, 0), 0);
}

TEST(path_bind_listen_connect_accept) {
    struct sockaddr_un a;
    socklen_t len;
    int l = listener(tmp_path("sock"), SOCK_STREAM, &a, &len);
    struct stat st;
    CHECK_OK(stat(tmp_path("sock"), &st));
    CHECK(S_ISSOCK(st.st_mode));
    int c = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
    CHECK_OK(connect(c, (struct sockaddr *)&a, len));
    struct sockaddr_un peer;
    socklen_t plen = sizeof peer;
    int s = CHECK_OK(accept(l, (struct sockaddr *)&peer, &plen));
    /* The client is unbound: only the family comes back. */
    CHECK_EQ(plen, sizeof(sa_family_t));
    CHECK_EQ(peer.sun_family, AF_UNIX);
    CHECK_EQ(write(c, "hi", 2), 2);
    char buf[4] = {0};
    CHECK_EQ(read(s, buf, sizeof buf), 2);
    CHECK_STR(buf, "hi");
    CHECK_ERR(connect(c, (struct sockaddr *)&a, len), EISCONN);
}

TEST(relative_path_bind_and_connect) {
    /* The case's cwd is its scratch dir. */
    struct sockaddr_un a;
    socklen_t len;
    int l = listener("rel.sock", SOCK_STREAM, &a, &len);
    CHECK_OK(access(tmp_path("rel.sock"), F_OK));
    int c = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
    CHECK_OK(connect(c, (struct sockaddr *)&a, len));
    int s = CHECK_OK(accept(l, NULL, NULL));
    CHECK(s >= 0);
}

TEST(abstract_names) {
    int l = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
    struct sockaddr_un a;
    socklen_t len = abstract_addr(&a, "abs");
    CHECK_OK(bind(l, (struct sockaddr *)&a, len));
    CHECK_OK(listen(l, 4));
    struct sockaddr_un got;
    socklen_t glen = sizeof got;
    CHECK_OK(getsockname(l, (struct sockaddr *)&got, &glen));
    CHECK_EQ(glen, len);
    CHECK(memcmp(&got, &a, len) == 0);
    int c = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
    CHECK_OK(connect(c, (struct sockaddr *)&a, len));
    int s = CHECK_OK(accept(l, NULL, NULL));
    CHECK_EQ(send(s, "x", 1, 0), 1);
    char ch;
    CHECK_EQ(recv(c, &ch, 1, 0), 1);
    /* The same abstract name cannot be bound twice. */
    int l2 = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
    CHECK_ERR(bind(l2, (struct sockaddr *)&a, len), EADDRINUSE);
    /* Closing frees the name (no file is left behind). */
    close(l);
    CHECK_OK(bind(l2, (struct sockaddr *)&a, len));
}

TEST(autobind_abstract_name) {
    int s = CHECK_OK(socket(AF_UNIX, SOCK_DGRAM, 0));
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    CHECK_OK(bind(s, (struct sockaddr *)&a, sizeof(sa_family_t)));
    struct sockaddr_un got;
    socklen_t glen = sizeof got;
    CHECK_OK(getsockname(s, (struct sockaddr *)&got, &glen));
    /* A NUL and five hex digits. */
    CHECK_EQ(glen, offsetof(struct sockaddr_un, sun_path) + 6);
    CHECK_EQ(got.sun_path[0], 0);
    for (int i = 1; i < 6; i++) CHECK(strchr("0123456789abcdef", got.sun_path[i]) != NULL);
}

TEST(connect_errors_refused_and_enoent) {
    struct sockaddr_un a;
    socklen_t len = path_addr(&a, tmp_path("bound-not-listening"));
    int b = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
    CHECK_OK(bind(b, (struct sockaddr *)&a, len));
    int c = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
    CHECK_ERR(connect(c, (struct sockaddr *)&a, len), ECONNREFUSED);
    /* A listener that went away leaves a stale file: refused. */
    struct sockaddr_un a2;
    socklen_t len2;
    int l = listener(tmp_path("gone"), SOCK_STREAM, &a2, &len2);
    close(l);
    CHECK_ERR(connect(c, (struct sockaddr *)&a2, len2), ECONNREFUSED);
    struct sockaddr_un a3;
    socklen_t len3 = path_addr(&a3, tmp_path("nothing-here"));
    CHECK_ERR(connect(c, (struct sockaddr *)&a3, len3), ENOENT);
    /* A regular file is not a socket. */
    int f = CHECK_OK(open(tmp_path("regular"), O_CREAT | O_WRONLY, 0600));
    close(f);
    len3 = path_addr(&a3, tmp_path("regular"));
    CHECK_ERR(connect(c, (struct sockaddr *)&a3, len3), ECONNREFUSED);
    struct sockaddr_un ab;
    socklen_t ablen = abstract_addr(&ab, "nobody");
    CHECK_ERR(connect(c, (struct sockaddr *)&ab, ablen), ECONNREFUSED);
}

TEST(bind_errors_eaddrinuse_einval) {
    struct sockaddr_un a;
    socklen_t len = path_addr(&a, tmp_path("s"));
    int s1 = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
    CHECK_OK(bind(s1, (struct sockaddr *)&a, len));
    int s2 = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
    CHECK_ERR(bind(s2, (struct sockaddr *)&a, len), EADDRINUSE);
    close(s1);
    /* The file stays after close: still in use until unlinked. */
    CHECK_ERR(bind(s2, (struct sockaddr *)&a, len), EADDRINUSE);
    CHECK_OK(unlink(tmp_path("s")));
    CHECK_OK(bind(s2, (struct sockaddr *)&a, len));
    /* Binding an already bound socket again. */
    struct sockaddr_un b;
    socklen_t blen = path_addr(&b, tmp_path("t"));
    CHECK_ERR(bind(s2, (struct sockaddr *)&b, blen), EINVAL);
    int s3 = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
    CHECK_ERR(bind(s3, (struct sockaddr *)&b, sizeof b + 1), EINVAL);
    struct sockaddr_un bad = {.sun_family = AF_INET};
    CHECK_ERR(bind(s3, (struct sockaddr *)&bad, sizeof bad), EINVAL);
    struct sockaddr_un nodir;
    socklen_t nlen = path_addr(&nodir, tmp_path("no/such/dir"));
    CHECK_ERR(bind(s3, (struct sockaddr *)&nodir, nlen), ENOENT);
}

TEST(getsockname_getpeername) {
    struct sockaddr_un a;
    socklen_t len;
    int l = listener(tmp_path("names"), SOCK_STREAM, &a, &len);
    int c = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
    struct sockaddr_un got;
    socklen_t glen = sizeof got;
    CHECK_ERR(getpeername(c, (struct sockaddr *)&got, &glen), ENOTCONN);
    glen = sizeof got;
    CHECK_OK(getsockname(c, (struct sockaddr *)&got, &glen));
    CHECK_EQ(glen, sizeof(sa_family_t));
    CHECK_OK(connect(c, (struct sockaddr *)&a, len));
    glen = sizeof got;
    CHECK_OK(getpeername(c, (struct sockaddr *)&got, &glen));
    CHECK_EQ(glen, len);
    CHECK_STR(got.sun_path, tmp_path("names"));
    int s = CHECK_OK(accept(l, NULL, NULL));
    glen = sizeof got;
    CHECK_OK(getsockname(s, (struct sockaddr *)&got, &glen));
    CHECK_STR(got.sun_path, tmp_path("names"));
    /* A short buffer: truncated, full length reported. */
    glen = 4;
    memset(&got, 0, sizeof got);
    CHECK_OK(getsockname(l, (struct sockaddr *)&got, &glen));
    CHECK_EQ(glen, len);
}

static int send_fds(int sock, const int *fds, int n, const char *data) {
    char cbuf[CMSG_SPACE(sizeof(int) * 8)];
    memset(cbuf, 0, sizeof cbuf);
    struct iovec iov = {(void *)data, strlen(data)};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
                        .msg_controllen = CMSG_SPACE(sizeof(int) * n)};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int) * n);
    memcpy(CMSG_DATA(cm), fds, sizeof(int) * n);
    return sendmsg(sock, &mh, 0);
}

TEST(scm_rights_passes_fd) {
    int sv[2], p[2];
    CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    CHECK_OK(pipe(p));
    int f = CHECK_OK(open(tmp_path("file"), O_CREAT | O_RDWR, 0600));
    CHECK_EQ(write(f, "0123456789", 10), 10);
    CHECK_OK(lseek(f, 3, SEEK_SET));
    int fds[2] = {p[0], f};
    CHECK_EQ(send_fds(sv[0], fds, 2, "F"), 1);
    close(p[0]);
    close(f);
    char cbuf[CMSG_SPACE(sizeof(int) * 2)], data[4];
    struct iovec iov = {data, sizeof data};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
    CHECK_EQ(recvmsg(sv[1], &mh, MSG_CMSG_CLOEXEC), 1);
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    CHECK(cm != NULL);
    CHECK_EQ(cm->cmsg_level, SOL_SOCKET);
    CHECK_EQ(cm->cmsg_type, SCM_RIGHTS);
    CHECK_EQ(cm->cmsg_len, CMSG_LEN(sizeof(int) * 2));
    int got[2];
    memcpy(got, CMSG_DATA(cm), sizeof got);
    CHECK(got[0] >= 0 && got[1] >= 0 && got[0] != got[1]);
    CHECK_EQ(fcntl(got[0], F_GETFD), FD_CLOEXEC);
    /* Read through the received pipe end. */
    CHECK_EQ(write(p[1], "via-pipe", 8), 8);
    char buf[16] = {0};
    CHECK_EQ(read(got[0], buf, sizeof buf), 8);
    CHECK_STR(buf, "via-pipe");
    /* The received file shares the offset. */
    memset(buf, 0, sizeof buf);
    CHECK_EQ(read(got[1], buf, 3), 3);
    CHECK_STR(buf, "345");
}

TEST(scm_rights_ctrunc_when_control_short) {
    int sv[2], p[2];
    CHECK_OK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
    CHECK_OK(pipe(p));
    int fds[3] = {p[0], p[1], p[0]};
    CHECK_EQ(send_fds(sv[0], fds, 3, "x"), 1);
    /* Room for two fds (the space is rounded up to 8 bytes), not three. */
    char cbuf[CMSG_SPACE(sizeof(int))], data[4];
    struct iovec iov = {data, sizeof data};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
    CHECK_EQ(recvmsg(sv[1], &mh, 0), 1);
    CHECK(mh.msg_flags & MSG_CTRUNC);
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    CHECK(cm != NULL);
    CHECK_EQ(cm->cmsg_len, CMSG_LEN(2 * sizeof(int)));
    /* Sending a non-fd fails. */
    int bad[1] = {9999};
    CHECK_ERR(send_fds(sv[0], bad, 1, "y"), EBADF);
}

TEST(scm_credentials_with_so_passcred) {
    int sv[2];
    CHECK_OK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
    int one = 1;
    CHECK_OK(setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof one));
    int v = 0;
    socklen_t vl = sizeof v;
    CHECK_OK(getsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &v, &vl));
    CHECK_EQ(v, 1);
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) _exit(send(sv[0], "c", 1, 0) == 1 ? 0 : 1);
    CHECK_EQ(st_wait(pid), 0);
    char cbuf[CMSG_SPACE(sizeof(struct ucred))], data[4];
    struct iovec iov = {data, sizeof data};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
    CHECK_EQ(recvmsg(sv[1], &mh, 0), 1);
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    CHECK(cm != NULL);
    CHECK_EQ(cm->cmsg_type, SCM_CREDENTIALS);
    struct ucred uc;
    memcpy(&uc, CMSG_DATA(cm), sizeof uc);
    /* Credentials are attached even though the sender sent none. */
    CHECK_EQ(uc.pid, pid);
    CHECK_EQ(uc.uid, getuid());
    CHECK_EQ(uc.gid, getgid());
    /* Explicit credentials of our own are accepted. */
    struct ucred mine = {getpid(), getuid(), getgid()};
    char sbuf[CMSG_SPACE(sizeof mine)];
    memset(sbuf, 0, sizeof sbuf);
    struct iovec siov = {"d", 1};
    struct msghdr smh = {.msg_iov = &siov, .msg_iovlen = 1, .msg_control = sbuf, .msg_controllen = sizeof sbuf};
    struct cmsghdr *sc = CMSG_FIRSTHDR(&smh);
    sc->cmsg_level = SOL_SOCKET;
    sc->cmsg_type = SCM_CREDENTIALS;
    sc->cmsg_len = CMSG_LEN(sizeof mine);
    memcpy(CMSG_DATA(sc), &mine, sizeof mine);
    CHECK_EQ(sendmsg(sv[0], &smh, 0), 1);
    mh.msg_controllen = sizeof cbuf;
    CHECK_EQ(recvmsg(sv[1], &mh, 0), 1);
    cm = CMSG_FIRSTHDR(&mh);
    CHECK(cm != NULL);
    memcpy(&uc, CMSG_DATA(cm), sizeof uc);
    CHECK_EQ(uc.pid, getpid());
}

TEST(so_peercred) {
    struct sockaddr_un a;
    socklen_t len;
    int l = listener(tmp_path("pc"), SOCK_STREAM, &a, &len);
    int rd[2];
    CHECK_OK(pipe(rd));
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        int c = socket(AF_UNIX, SOCK_STREAM, 0);
        if (connect(c, (struct sockaddr *)&a, len) < 0) _exit(1);
        char ch;
        if (read(rd[0], &ch, 1) != 1) _exit(2); /* keep the socket open */
        _exit(0);
    }
    int s = CHECK_OK(accept(l, NULL, NULL));
    struct ucred uc;
    socklen_t ul = sizeof uc;
    CHECK_OK(getsockopt(s, SOL_SOCKET, SO_PEERCRED, &uc, &ul));
    CHECK_EQ(ul, sizeof uc);
    CHECK_EQ(uc.pid, pid);
    CHECK_EQ(uc.uid, getuid());
    CHECK_EQ(uc.gid, getgid());
    CHECK_EQ(write(rd[1], "x", 1), 1);
    CHECK_EQ(st_wait(pid), 0);
    int sv[2];
    CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    ul = sizeof uc;
    CHECK_OK(getsockopt(sv[0], SOL_SOCKET, SO_PEERCRED, &uc, &ul));
    CHECK_EQ(uc.pid, getpid());
}

TEST(shutdown_wr_gives_peer_eof) {
    int sv[2];
    CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    CHECK_EQ(write(sv[0], "last", 4), 4);
    CHECK_OK(shutdown(sv[0], SHUT_WR));
    char buf[8];
    CHECK_EQ(read(sv[1], buf, sizeof buf), 4);
    CHECK_EQ(read(sv[1], buf, sizeof buf), 0);
    CHECK_EQ(read(sv[1], buf, sizeof buf), 0);
    /* The other direction still works. */
    CHECK_EQ(write(sv[1], "rep", 3), 3);
    CHECK_EQ(read(sv[0], buf, sizeof buf), 3);
    /* Writing on the shut side: EPIPE. */
    CHECK_ERR(send(sv[0], "x", 1, MSG_NOSIGNAL), EPIPE);
    CHECK_ERR(shutdown(sv[0], 7), EINVAL);
}

TEST(epipe_and_sigpipe_after_peer_close) {
    int sv[2];
    CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    close(sv[1]);
    CHECK_ERR(send(sv[0], "x", 1, MSG_NOSIGNAL), EPIPE);
    sigset_t s, pend;
    sigemptyset(&s);
    sigaddset(&s, SIGPIPE);
    CHECK_OK(sigprocmask(SIG_BLOCK, &s, NULL));
    sigpending(&pend);
    CHECK(!sigismember(&pend, SIGPIPE));
    CHECK_ERR(write(sv[0], "x", 1), EPIPE);
    sigpending(&pend);
    CHECK(sigismember(&pend, SIGPIPE));
    char buf[2];
    CHECK_EQ(read(sv[0], buf, sizeof buf), 0);
    /* With the default action, SIGPIPE kills. */
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL); /* the pending one kills us */
        ssize_t n = write(sv[0], "x", 1);
        (void)n;
        _exit(0);
    }
    int st = st_wait(pid);
    CHECK(WIFSIGNALED(st));
    CHECK_EQ(WTERMSIG(st), SIGPIPE);
}

TEST(socket_options_type_domain_acceptconn) {
    int types[] = {SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET};
    for (int i = 0; i < 3; i++) {
        int s = CHECK_OK(socket(AF_UNIX, types[i], 0));
        int v = -1;
        socklen_t l = sizeof v;
        CHECK_OK(getsockopt(s, SOL_SOCKET, SO_TYPE, &v, &l));
        CHECK_EQ(v, types[i]);
        CHECK_OK(getsockopt(s, SOL_SOCKET, SO_DOMAIN, &v, &l));
        CHECK_EQ(v, AF_UNIX);
        CHECK_OK(getsockopt(s, SOL_SOCKET, SO_ACCEPTCONN, &v, &l));
        CHECK_EQ(v, 0);
        close(s);
    }
    struct sockaddr_un a;
    socklen_t len;
    int l = listener(tmp_path("ac"), SOCK_STREAM, &a, &len);
    int v = 0;
    socklen_t vl = sizeof v;
    CHECK_OK(getsockopt(l, SOL_SOCKET, SO_ACCEPTCONN, &v, &vl));
    CHECK_EQ(v, 1);
    CHECK_ERR(getsockopt(l, SOL_SOCKET, 9999, &v, &vl), ENOPROTOOPT);
    /* SOCK_RAW is quietly turned into SOCK_DGRAM. */
    int raw = CHECK_OK(socket(AF_UNIX, SOCK_RAW, 0));
    CHECK_OK(getsockopt(raw, SOL_SOCKET, SO_TYPE, &v, &vl));
    CHECK_EQ(v, SOCK_DGRAM);
    CHECK_ERR(socket(AF_UNIX, SOCK_RDM, 0), ESOCKTNOSUPPORT);
    CHECK_ERR(socket(AF_UNIX, SOCK_STREAM, 5), EPROTONOSUPPORT);
    int fd = CHECK_OK(open("/dev/null", O_RDONLY));
    CHECK_ERR(getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &vl), ENOTSOCK);
}

TEST(nonblocking_accept_eagain_and_accept4_flags) {
    struct sockaddr_un a;
    socklen_t len = path_addr(&a, tmp_path("nb"));
    int l = CHECK_OK(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0));
    CHECK_OK(bind(l, (struct sockaddr *)&a, len));
    CHECK_ERR(accept(l, NULL, NULL), EINVAL); /* not listening */
    CHECK_OK(listen(l, 4));
    CHECK_ERR(accept(l, NULL, NULL), EAGAIN);
    int c = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
    CHECK_OK(connect(c, (struct sockaddr *)&a, len));
    struct pollfd p = {l, POLLIN, 0};
    CHECK_EQ(poll(&p, 1, 0), 1);
    int s = CHECK_OK(accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC));
    CHECK_EQ(fcntl(s, F_GETFD), FD_CLOEXEC);
    CHECK(fcntl(s, F_GETFL) & O_NONBLOCK);
    char ch;
    CHECK_ERR(read(s, &ch, 1), EAGAIN);
    CHECK_ERR(accept4(l, NULL, NULL, 0x40), EINVAL);
    int d = CHECK_OK(socket(AF_UNIX, SOCK_DGRAM, 0));
    CHECK_ERR(listen(d, 1), EOPNOTSUPP);
}

TEST(dgram_sendto_recvfrom_bound_paths) {
    struct sockaddr_un sa, ca;
    socklen_t slen = path_addr(&sa, tmp_path("server"));
    socklen_t clen = path_addr(&ca, tmp_path("client"));
    int s = CHECK_OK(socket(AF_UNIX, SOCK_DGRAM, 0));
    CHECK_OK(bind(s, (struct sockaddr *)&sa, slen));
    int c = CHECK_OK(socket(AF_UNIX, SOCK_DGRAM, 0));
    CHECK_OK(bind(c, (struct sockaddr *)&ca, clen));
    CHECK_EQ(sendto(c, "req", 3, 0, (struct sockaddr *)&sa, slen), 3);
    char buf[8] = {0};
    struct sockaddr_un from;
    socklen_t flen = sizeof from;
    CHECK_EQ(recvfrom(s, buf, sizeof buf, 0, (struct sockaddr *)&from, &flen), 3);
    CHECK_STR(buf, "req");
    CHECK_EQ(flen, clen);
    CHECK_STR(from.sun_path, tmp_path("client"));
    CHECK_EQ(sendto(s, "resp", 4, 0, (struct sockaddr *)&from, flen), 4);
    memset(buf, 0, sizeof buf);
    CHECK_EQ(recv(c, buf, sizeof buf, 0), 4);
    CHECK_STR(buf, "resp");
    /* Sending without a destination on an unconnected socket. */
    CHECK_ERR(send(c, "x", 1, 0), ENOTCONN);
    struct sockaddr_un none;
    socklen_t nlen = path_addr(&none, tmp_path("none"));
    CHECK_ERR(sendto(c, "x", 1, 0, (struct sockaddr *)&none, nlen), ENOENT);
    /* The server goes away: its stale path refuses. */
    close(s);
    CHECK_ERR(sendto(c, "x", 1, 0, (struct sockaddr *)&sa, slen), ECONNREFUSED);
}

TEST(dgram_connect_filters_and_default_destination) {
    struct sockaddr_un sa;
    socklen_t slen = abstract_addr(&sa, "dg");
    int s = CHECK_OK(socket(AF_UNIX, SOCK_DGRAM, 0));
    CHECK_OK(bind(s, (struct sockaddr *)&sa, slen));
    int c = CHECK_OK(socket(AF_UNIX, SOCK_DGRAM, 0));
    CHECK_OK(connect(c, (struct sockaddr *)&sa, slen));
    CHECK_EQ(send(c, "a", 1, 0), 1);
    char ch;
    CHECK_EQ(recv(s, &ch, 1, 0), 1);
    CHECK_EQ(ch, 'a');
    struct sockaddr_un ca;
    socklen_t clen = abstract_addr(&ca, "dgc");
    int c2 = CHECK_OK(socket(AF_UNIX, SOCK_DGRAM, 0));
    CHECK_OK(bind(c2, (struct sockaddr *)&ca, clen));
    /* A socket connected elsewhere does not accept datagrams from others:
     * connect s to c2, then a third socket's send to s is refused. */
    CHECK_OK(connect(s, (struct sockaddr *)&ca, clen));
    int x = CHECK_OK(socket(AF_UNIX, SOCK_DGRAM, 0));
    CHECK_ERR(sendto(x, "z", 1, 0, (struct sockaddr *)&sa, slen), EPERM);
    CHECK_EQ(send(s, "b", 1, 0), 1);
    CHECK_EQ(recv(c2, &ch, 1, 0), 1);
    CHECK_EQ(ch, 'b');
}

TEST(stream_peek_dontwait_and_fionread) {
    int sv[2];
    CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
    char buf[8] = {0};
    CHECK_ERR(recv(sv[1], buf, sizeof buf, MSG_DONTWAIT), EAGAIN);
    CHECK_EQ(send(sv[0], "peek", 4, 0), 4);
    int avail = -1;
    CHECK_OK(ioctl(sv[1], FIONREAD, &avail));
    CHECK_EQ(avail, 4);
    CHECK_EQ(recv(sv[1], buf, sizeof buf, MSG_PEEK), 4);
    CHECK_STR(buf, "peek");
    memset(buf, 0, sizeof buf);
    CHECK_EQ(recv(sv[1], buf, 2, 0), 2);
    CHECK_STR(buf, "pe");
    CHECK_OK(ioctl(sv[1], FIONREAD, &avail));
    CHECK_EQ(avail, 2);
}

TEST(listen_backlog_nonblocking_connect_eagain) {
    struct sockaddr_un a;
    socklen_t len = path_addr(&a, tmp_path("bl"));
    int l = CHECK_OK(socket(AF_UNIX, SOCK_STREAM, 0));
    CHECK_OK(bind(l, (struct sockaddr *)&a, len));
    CHECK_OK(listen(l, 1));
    int n = 0;
    for (; n < 64; n++) {
        int c = CHECK_OK(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0));
        if (connect(c, (struct sockaddr *)&a, len) < 0) {
            CHECK_EQ(errno, EAGAIN);
            break;
        }
    }
    /* The queue accepts backlog+1 pending connections. */
    CHECK_EQ(n, 2);
    int s = CHECK_OK(accept(l, NULL, NULL));
    CHECK(s >= 0);
    int c = CHECK_OK(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0));
    CHECK_OK(connect(c, (struct sockaddr *)&a, len));
}
