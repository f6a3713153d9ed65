/* AF_INET/AF_INET6 on loopback only: TCP connection life cycle, half close,
 * errors, address reuse, options, non-blocking connect, UDP addressing and
 * connect filtering, IPv6, peek/dontwait. A case that finds no usable
 * loopback address skips and says so. */
#define AREA "inet"
#define ST_HARNESS_MAIN
#include "harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

static struct sockaddr_in lo4(uint16_t port) {
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

static uint16_t port_of(int s) {
    struct sockaddr_storage a;
    socklen_t l = sizeof a;
    CHECK_OK(getsockname(s, (struct sockaddr *)&a, &l));
    if (a.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&a)->sin_port);
    return ntohs(((struct sockaddr_in6 *)&a)->sin6_port);
}

/* Bind a socket of `type` to 127.0.0.1:port; skip if there is no such
 * address here (loopback missing or down). */
static int bound4(int type, uint16_t port) {
    int s = CHECK_OK(socket(AF_INET, type, 0));
    struct sockaddr_in a = lo4(port);
    if (bind(s, (struct sockaddr *)&a, sizeof a) < 0) {
        if (errno == EADDRNOTAVAIL) SKIP("127.0.0.1 is not configured (no loopback address)");
        FAIL("bind 127.0.0.1:%u: %s", port, strerror(errno));
    }
    return s;
}

static int listener4(void) {
    int l = bound4(SOCK_STREAM, 0);
    CHECK_OK(listen(l, 16));
    return l;
}

static int connect4(int l) {
    int c = CHECK_OK(socket(AF_INET, SOCK_STREAM, 0));
    struct sockaddr_in a = lo4(port_of(l));
    if (connect(c, (struct sockaddr *)&a, sizeof a) < 0) {
        if (errno == ENETUNREACH) SKIP("127.0.0.1 unreachable (loopback interface down)");
        FAIL("connect 127.0.0.1: %s", strerror(errno));
    }
    return c;
}

static int have_ipv6_loopback(void) {
    int s = socket(AF_INET6, SOCK_DGRAM, 0);
    if (s < 0) return 0;
    struct sockaddr_in6 a;
    memset(&a, 0, sizeof a);
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_loopback;
    int ok = bind(s, (struct sockaddr *)&a, sizeof a) == 0;
    close(s);
    return ok;
}

static struct sockaddr_in6 lo6(uint16_t port) {
    struct sockaddr_in6 a;
    memset(&a, 0, sizeof a);
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(port);
    a.sin6_addr = in6addr_loopback;
    return a;
}

static void read_exact(int fd, char *buf, size_t n) {
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r <= 0) FAIL("read returned %zd after %zu of %zu bytes (%s)", r, got, n, strerror(errno));
        got += r;
    }
}

TEST(tcp_bind_listen_connect_accept_names) {
    int l = listener4();
    uint16_t port = port_of(l);
    CHECK(port != 0);
    int c = connect4(l);
    struct sockaddr_in peer, cname, pname;
    socklen_t pl = sizeof peer, cl = sizeof cname, nl = sizeof pname;
    int s = CHECK_OK(accept(l, (struct sockaddr *)&peer, &pl));
    CHECK_EQ(pl, sizeof peer);
    CHECK_OK(getsockname(c, (struct sockaddr *)&cname, &cl));
    CHECK_EQ(peer.sin_family, AF_INET);
    CHECK_EQ(peer.sin_port, cname.sin_port);
    CHECK_EQ(peer.sin_addr.s_addr, htonl(INADDR_LOOPBACK));
    CHECK_OK(getpeername(c, (struct sockaddr *)&pname, &nl));
    CHECK_EQ(ntohs(pname.sin_port), port);
    CHECK_EQ(port_of(s), port);
    CHECK(ntohs(cname.sin_port) != port);
}

TEST(tcp_data_both_ways_and_bulk) {
    int l = listener4();
    int c = connect4(l);
    int s = CHECK_OK(accept(l, NULL, NULL));
    CHECK_EQ(write(c, "hello", 5), 5);
    char buf[16] = {0};
    read_exact(s, buf, 5);
    CHECK_STR(buf, "hello");
    CHECK_EQ(write(s, "world!", 6), 6);
    memset(buf, 0, sizeof buf);
    read_exact(c, buf, 6);
    CHECK_STR(buf, "world!");
    /* 1 MiB through a forked writer, checked byte by byte. */
    size_t total = 1 << 20;
    pid_t pid = CHECK_OK(fork());
    if (pid == 0) {
        char chunk[8192];
        for (size_t off = 0; off < total; off += sizeof chunk) {
            for (size_t i = 0; i < sizeof chunk; i++) chunk[i] = (char)((off + i) * 7);
            size_t w = 0;
            while (w < sizeof chunk) {
                ssize_t r = write(c, chunk + w, sizeof chunk - w);
                if (r <= 0) _exit(1);
                w += r;
            }
        }
        _exit(0);
    }
    char *big = malloc(total);
    CHECK(big != NULL);
    read_exact(s, big, total);
    for (size_t i = 0; i < total; i++)
        if (big[i] != (char)(i * 7)) FAIL("byte %zu differs", i);
    CHECK_EQ(st_wait(pid), 0);
    free(big);
}

TEST(tcp_half_close) {
    int l = listener4();
    int c = connect4(l);
    int s = CHECK_OK(accept(l, NULL, NULL));
    CHECK_EQ(write(c, "req", 3), 3);
    CHECK_OK(shutdown(c, SHUT_WR));
    char buf[8] = {0};
    read_exact(s, buf, 3);
    CHECK_EQ(read(s, buf, sizeof buf), 0); /* EOF */
    /* The server can still answer. */
    CHECK_EQ(write(s, "resp", 4), 4);
    CHECK_OK(shutdown(s, SHUT_WR));
    memset(buf, 0, sizeof buf);
    read_exact(c, buf, 4);
    CHECK_STR(buf, "resp");
    CHECK_EQ(read(c, buf, sizeof buf), 0);
    CHECK_ERR(send(c, "x", 1, MSG_NOSIGNAL), EPIPE);
}

TEST(tcp_connect_refused_on_closed_port) {
    int b = bound4(SOCK_STREAM, 0); /* bound, not listening: nobody accepts */
    uint16_t port = port_of(b);
    int c = CHECK_OK(socket(AF_INET, SOCK_STREAM, 0));
    struct sockaddr_in a = lo4(port);
    errno = 0;
    int r = connect(c, (struct sockaddr *)&a, sizeof a);
    if (r < 0 && errno == ENETUNREACH) SKIP("127.0.0.1 unreachable (loopback interface down)");
    CHECK_EQ(r, -1);
    CHECK_EQ(errno, ECONNREFUSED);
}

TEST(tcp_eaddrinuse_while_listening) {
    int l = listener4();
    uint16_t port = port_of(l);
    int s = CHECK_OK(socket(AF_INET, SOCK_STREAM, 0));
    struct sockaddr_in a = lo4(port);
    CHECK_ERR(bind(s, (struct sockaddr *)&a, sizeof a), EADDRINUSE);
    /* SO_REUSEADDR does not allow sharing a listening port. */
    int one = 1;
    CHECK_OK(setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one));
    CHECK_ERR(bind(s, (struct sockaddr *)&a, sizeof a), EADDRINUSE);
    /* Binding a bound socket again. */
    int t = bound4(SOCK_STREAM, 0);
    struct sockaddr_in z = lo4(0);
    CHECK_ERR(bind(t, (struct sockaddr *)&z, sizeof z), EINVAL);
}

TEST(tcp_so_reuseaddr_after_active_close) {
    int l = bound4(SOCK_STREAM, 0);
    int one = 1;
    CHECK_OK(setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one));
    CHECK_OK(listen(l, 4));
    uint16_t port = port_of(l);
    int c = connect4(l);
    int s = CHECK_OK(accept(l, NULL, NULL));
    /* The server closes first: its side lingers (FIN_WAIT/TIME_WAIT). */
    close(s);
    close(l);
    char ch;
    CHECK_EQ(read(c, &ch, 1), 0);
    close(c);
    struct sockaddr_in a = lo4(port);
    int n1 = CHECK_OK(socket(AF_INET, SOCK_STREAM, 0));
    CHECK_ERR(bind(n1, (struct sockaddr *)&a, sizeof a), EADDRINUSE);
    int n2 = CHECK_OK(socket(AF_INET, SOCK_STREAM, 0));
    CHECK_OK(setsockopt(n2, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one));
    CHECK_OK(bind(n2, (struct sockaddr *)&a, sizeof a));
    CHECK_OK(listen(n2, 1));
}

TEST(so_reuseport_shares_port) {
    int one = 1;
    int a = CHECK_OK(socket(AF_INET, SOCK_STREAM, 0));
    CHECK_OK(setsockopt(a, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one));
    struct sockaddr_in addr = lo4(0);
    if (bind(a, (struct sockaddr *)&addr, sizeof addr) < 0) SKIP("127.0.0.1 is not configured");
    CHECK_OK(listen(a, 4));
    addr = lo4(port_of(a));
    int b = CHECK_OK(socket(AF_INET, SOCK_STREAM, 0));
    CHECK_OK(setsockopt(b, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one));
    CHECK_OK(bind(b, (struct sockaddr *)&addr, sizeof addr));
    CHECK_OK(listen(b, 4));
    int v = 0;
    socklen_t vl = sizeof v;
    CHECK_OK(getsockopt(b, SOL_SOCKET, SO_REUSEPORT, &v, &vl));
    CHECK_EQ(v, 1);
}

TEST(tcp_nodelay_keepalive_options) {
    int s = CHECK_OK(socket(AF_INET, SOCK_STREAM, 0));
    int v = -1;
    socklen_t vl = sizeof v;
    CHECK_OK(getsockopt(s, IPPROTO_TCP, TCP_NODELAY, &v, &vl));
    CHECK_EQ(v, 0);
    int one = 1;
    CHECK_OK(setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one));
    vl = sizeof v;
    CHECK_OK(getsockopt(s, IPPROTO_TCP, TCP_NODELAY, &v, &vl));
    CHECK_EQ(v, 1);
    CHECK_EQ(vl, sizeof v);
    CHECK_OK(setsockopt(s, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one));
    CHECK_OK(getsockopt(s, SOL_SOCKET, SO_KEEPALIVE, &v, &vl));
    CHECK_EQ(v, 1);
    CHECK_OK(getsockopt(s, SOL_SOCKET, SO_TYPE, &v, &vl));
    CHECK_EQ(v, SOCK_STREAM);
    CHECK_OK(getsockopt(s, SOL_SOCKET, SO_PROTOCOL, &v, &vl));
    CHECK_EQ(v, IPPROTO_TCP);
    CHECK_OK(getsockopt(s, SOL_SOCKET, SO_ERROR, &v, &vl));
    CHECK_EQ(v, 0);
    CHECK_ERR(setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, 1), EINVAL);
    int u = CHECK_OK(socket(AF_INET, SOCK_DGRAM, 0));
    CHECK_OK(getsockopt(u, SOL_SOCKET, SO_PROTOCOL, &v, &vl));
    CHECK_EQ(v, IPPROTO_UDP);
}

TEST(so_rcvbuf_get_set_doubles) {
    int s = CHECK_OK(socket(AF_INET, SOCK_STREAM, 0));
    int v = 0;
    socklen_t vl = sizeof v;
    CHECK_OK(getsockopt(s, SOL_SOCKET, SO_RCVBUF, &v, &vl));
    CHECK(v > 0);
    int want = 65536;
    CHECK_OK(setsockopt(s, SOL_SOCKET, SO_RCVBUF, &want, sizeof want));
    CHECK_OK(getsockopt(s, SOL_SOCKET, SO_RCVBUF, &v, &vl));
    /* Linux doubles the value to account for bookkeeping overhead. */
    CHECK_EQ(v, 2 * want);
    CHECK_OK(getsockopt(s, SOL_SOCKET, SO_SNDBUF, &v, &vl));
    CHECK(v > 0);
}

TEST(tcp_nonblocking_connect_einprogress) {
    int l = listener4();
    int c = CHECK_OK(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0));
    struct sockaddr_in a = lo4(port_of(l));
    errno = 0;
    int r = connect(c, (struct sockaddr *)&a, sizeof a);
    if (r < 0 && errno == ENETUNREACH) SKIP("127.0.0.1 unreachable (loopback interface down)");
    CHECK_EQ(r, -1);
    CHECK_EQ(errno, EINPROGRESS);
    struct pollfd p = {c, POLLOUT, 0};
    CHECK_EQ(poll(&p, 1, 10000), 1);
    CHECK_EQ(p.revents, POLLOUT);
    int err = -1;
    socklen_t el = sizeof err;
    CHECK_OK(getsockopt(c, SOL_SOCKET, SO_ERROR, &err, &el));
    CHECK_EQ(err, 0);
    /* The first connect after completion reports success; the next one
     * says it is already connected. */
    CHECK_OK(connect(c, (struct sockaddr *)&a, sizeof a));
    CHECK_ERR(connect(c, (struct sockaddr *)&a, sizeof a), EISCONN);
    int s = CHECK_OK(accept(l, NULL, NULL));
    CHECK_EQ(write(c, "n", 1), 1);
    char ch;
    CHECK_EQ(read(s, &ch, 1), 1);
}

TEST(tcp_nonblocking_connect_refused_so_error) {
    int b = bound4(SOCK_STREAM, 0);
    int c = CHECK_OK(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0));
    struct sockaddr_in a = lo4(port_of(b));
    errno = 0;
    int r = connect(c, (struct sockaddr *)&a, sizeof a);
    if (r < 0 && errno == ENETUNREACH) SKIP("127.0.0.1 unreachable (loopback interface down)");
    CHECK_EQ(r, -1);
    CHECK_EQ(errno, EINPROGRESS);
    struct pollfd p = {c, POLLOUT, 0};
    CHECK_EQ(poll(&p, 1, 10000), 1);
    CHECK(p.revents & (POLLERR | POLLHUP));
    int err = -1;
    socklen_t el = sizeof err;
    CHECK_OK(getsockopt(c, SOL_SOCKET, SO_ERROR, &err, &el));
    CHECK_EQ(err, ECONNREFUSED);
    /* SO_ERROR is cleared by reading it. */
    CHECK_OK(getsockopt(c, SOL_SOCKET, SO_ERROR, &err, &el));
    CHECK_EQ(err, 0);
}

TEST(tcp_accept_queue_before_accept) {
    int l = listener4();
    uint16_t ports[3];
    int cs[3];
    for (int i = 0; i < 3; i++) {
        cs[i] = connect4(l);
        ports[i] = port_of(cs[i]);
    }
    int seen = 0;
    for (int i = 0; i < 3; i++) {
        struct sockaddr_in peer;
        socklen_t pl = sizeof peer;
        int s = CHECK_OK(accept(l, (struct sockaddr *)&peer, &pl));
        for (int j = 0; j < 3; j++)
            if (ntohs(peer.sin_port) == ports[j]) seen |= 1 << j;
        close(s);
    }
    CHECK_EQ(seen, 7);
    int nb = CHECK_OK(fcntl(l, F_GETFL));
    CHECK_OK(fcntl(l, F_SETFL, nb | O_NONBLOCK));
    CHECK_ERR(accept(l, NULL, NULL), EAGAIN);
}

TEST(tcp_close_with_unread_data_resets) {
    int l = listener4();
    int c = connect4(l);
    int s = CHECK_OK(accept(l, NULL, NULL));
    CHECK_EQ(write(c, "unread", 6), 6);
    struct pollfd p = {s, POLLIN, 0};
    CHECK_EQ(poll(&p, 1, 10000), 1);
    close(s); /* unread data: an RST is sent instead of a FIN */
    char ch;
    CHECK_ERR(read(c, &ch, 1), ECONNRESET);
}

TEST(tcp_peek_dontwait_fionread) {
    int l = listener4();
    int c = connect4(l);
    int s = CHECK_OK(accept(l, NULL, NULL));
    char buf[16] = {0};
    CHECK_ERR(recv(s, buf, sizeof buf, MSG_DONTWAIT), EAGAIN);
    CHECK_EQ(send(c, "peekaboo", 8, 0), 8);
    struct pollfd p = {s, POLLIN, 0};
    CHECK_EQ(poll(&p, 1, 10000), 1);
    CHECK_EQ(recv(s, buf, 4, MSG_PEEK), 4);
    CHECK_STR(buf, "peek");
    memset(buf, 0, sizeof buf);
    CHECK_EQ(recv(s, buf, 8, MSG_WAITALL), 8);
    CHECK_STR(buf, "peekaboo");
    int avail = -1;
    CHECK_OK(ioctl(s, FIONREAD, &avail));
    CHECK_EQ(avail, 0);
    CHECK_ERR(recv(s, buf, sizeof buf, MSG_DONTWAIT), EAGAIN);
}

TEST(getpeername_enotconn_and_errors) {
    int s = CHECK_OK(socket(AF_INET, SOCK_STREAM, 0));
    struct sockaddr_in a;
    socklen_t l = sizeof a;
    CHECK_ERR(getpeername(s, (struct sockaddr *)&a, &l), ENOTCONN);
    CHECK_ERR(send(s, "x", 1, MSG_NOSIGNAL), EPIPE);
    char ch;
    CHECK_ERR(recv(s, &ch, 1, 0), ENOTCONN);
    CHECK_ERR(accept(s, NULL, NULL), EINVAL);
    /* Unbound: the name is 0.0.0.0:0. */
    l = sizeof a;
    CHECK_OK(getsockname(s, (struct sockaddr *)&a, &l));
    CHECK_EQ(a.sin_port, 0);
    CHECK_EQ(a.sin_addr.s_addr, 0);
    /* An address no interface has. */
    struct sockaddr_in far = lo4(0);
    far.sin_addr.s_addr = inet_addr("192.0.2.77");
    CHECK_ERR(bind(s, (struct sockaddr *)&far, sizeof far), EADDRNOTAVAIL);
    CHECK_ERR(bind(s, (struct sockaddr *)&far, 4), EINVAL);
    CHECK_ERR(socket(AF_INET, SOCK_STREAM, IPPROTO_UDP), EPROTONOSUPPORT);
}

TEST(udp_sendto_recvfrom_addresses) {
    int a = bound4(SOCK_DGRAM, 0);
    int b = bound4(SOCK_DGRAM, 0);
    struct sockaddr_in ba = lo4(port_of(b));
    CHECK_EQ(sendto(a, "dgram1", 6, 0, (struct sockaddr *)&ba, sizeof ba), 6);
    CHECK_EQ(sendto(a, "d2", 2, 0, (struct sockaddr *)&ba, sizeof ba), 2);
    char buf[16] = {0};
    struct sockaddr_in from;
    socklen_t fl = sizeof from;
    CHECK_EQ(recvfrom(b, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl), 6);
    CHECK_STR(buf, "dgram1");
    CHECK_EQ(fl, sizeof from);
    CHECK_EQ(ntohs(from.sin_port), port_of(a));
    CHECK_EQ(from.sin_addr.s_addr, htonl(INADDR_LOOPBACK));
    CHECK_EQ(recv(b, buf, 1, MSG_TRUNC), 2);
    /* Unbound sender is auto-bound to an ephemeral port. */
    int u = CHECK_OK(socket(AF_INET, SOCK_DGRAM, 0));
    CHECK_EQ(port_of(u), 0);
    CHECK_EQ(sendto(u, "x", 1, 0, (struct sockaddr *)&ba, sizeof ba), 1);
    CHECK(port_of(u) != 0);
    fl = sizeof from;
    CHECK_EQ(recvfrom(b, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl), 1);
    CHECK_EQ(ntohs(from.sin_port), port_of(u));
    CHECK_ERR(send(u, "x", 1, 0), EDESTADDRREQ);
}

TEST(udp_connect_filters_sources) {
    int a = bound4(SOCK_DGRAM, 0);
    int b = bound4(SOCK_DGRAM, 0);
    int third = bound4(SOCK_DGRAM, 0);
    struct sockaddr_in aa = lo4(port_of(a)), ba = lo4(port_of(b));
    CHECK_OK(connect(b, (struct sockaddr *)&aa, sizeof aa));
    /* b only accepts datagrams from a now. */
    CHECK_EQ(sendto(third, "no", 2, 0, (struct sockaddr *)&ba, sizeof ba), 2);
    CHECK_EQ(sendto(a, "yes", 3, 0, (struct sockaddr *)&ba, sizeof ba), 3);
    char buf[8] = {0};
    CHECK_EQ(recv(b, buf, sizeof buf, 0), 3);
    CHECK_STR(buf, "yes");
    CHECK_ERR(recv(b, buf, sizeof buf, MSG_DONTWAIT), EAGAIN);
    /* Send without an address goes to the connected peer. */
    CHECK_EQ(send(b, "back", 4, 0), 4);
    memset(buf, 0, sizeof buf);
    CHECK_EQ(recv(a, buf, sizeof buf, 0), 4);
    CHECK_STR(buf, "back");
    struct sockaddr_in peer;
    socklen_t pl = sizeof peer;
    CHECK_OK(getpeername(b, (struct sockaddr *)&peer, &pl));
    CHECK_EQ(ntohs(peer.sin_port), port_of(a));
    /* AF_UNSPEC dissolves the association. */
    struct sockaddr unspec = {.sa_family = AF_UNSPEC};
    CHECK_OK(connect(b, &unspec, sizeof unspec));
    pl = sizeof peer;
    CHECK_ERR(getpeername(b, (struct sockaddr *)&peer, &pl), ENOTCONN);
}

TEST(udp_connected_to_closed_port_refused) {
    int dead = bound4(SOCK_DGRAM, 0);
    uint16_t port = port_of(dead);
    close(dead);
    int u = bound4(SOCK_DGRAM, 0);
    struct sockaddr_in a = lo4(port);
    CHECK_OK(connect(u, (struct sockaddr *)&a, sizeof a));
    /* The ICMP port-unreachable turns into an error on the socket, reported
     * by the next call. ICMP generation may be rate limited, so retry a
     * few times with a receive timeout rather than block forever. */
    struct timeval tv = {0, 500000};
    CHECK_OK(setsockopt(u, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv));
    int refused = 0;
    for (int i = 0; i < 20 && !refused; i++) {
        errno = 0;
        if (send(u, "x", 1, 0) < 0) {
            CHECK_EQ(errno, ECONNREFUSED);
            refused = 1;
            break;
        }
        char ch;
        errno = 0;
        CHECK_EQ(recv(u, &ch, 1, 0), -1);
        if (errno == ECONNREFUSED) refused = 1;
        else CHECK_EQ(errno, EAGAIN);
    }
    CHECK(refused);
}

TEST(ipv6_loopback_tcp) {
    if (!have_ipv6_loopback()) SKIP("no IPv6 loopback: ::1 cannot be bound (IPv6 disabled or lo has no ::1)");
    int l = CHECK_OK(socket(AF_INET6, SOCK_STREAM, 0));
    struct sockaddr_in6 a = lo6(0);
    CHECK_OK(bind(l, (struct sockaddr *)&a, sizeof a));
    CHECK_OK(listen(l, 4));
    a = lo6(port_of(l));
    int c = CHECK_OK(socket(AF_INET6, SOCK_STREAM, 0));
    CHECK_OK(connect(c, (struct sockaddr *)&a, sizeof a));
    struct sockaddr_in6 peer;
    socklen_t pl = sizeof peer;
    int s = CHECK_OK(accept(l, (struct sockaddr *)&peer, &pl));
    CHECK_EQ(pl, sizeof peer);
    CHECK_EQ(peer.sin6_family, AF_INET6);
    CHECK(memcmp(&peer.sin6_addr, &in6addr_loopback, 16) == 0);
    CHECK_EQ(ntohs(peer.sin6_port), port_of(c));
    CHECK_EQ(write(c, "six", 3), 3);
    char buf[4] = {0};
    read_exact(s, buf, 3);
    CHECK_STR(buf, "six");
}

TEST(ipv6_loopback_udp) {
    if (!have_ipv6_loopback()) SKIP("no IPv6 loopback: ::1 cannot be bound (IPv6 disabled or lo has no ::1)");
    int a = CHECK_OK(socket(AF_INET6, SOCK_DGRAM, 0));
    int b = CHECK_OK(socket(AF_INET6, SOCK_DGRAM, 0));
    struct sockaddr_in6 x = lo6(0);
    CHECK_OK(bind(a, (struct sockaddr *)&x, sizeof x));
    CHECK_OK(bind(b, (struct sockaddr *)&x, sizeof x));
    struct sockaddr_in6 ba = lo6(port_of(b));
    CHECK_EQ(sendto(a, "v6", 2, 0, (struct sockaddr *)&ba, sizeof ba), 2);
    struct sockaddr_in6 from;
    socklen_t fl = sizeof from;
    char buf[4] = {0};
    CHECK_EQ(recvfrom(b, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl), 2);
    CHECK_STR(buf, "v6");
    CHECK_EQ(ntohs(from.sin6_port), port_of(a));
    CHECK(memcmp(&from.sin6_addr, &in6addr_loopback, 16) == 0);
    int v = -1;
    socklen_t vl = sizeof v;
    CHECK_OK(getsockopt(a, IPPROTO_IPV6, IPV6_V6ONLY, &v, &vl));
    CHECK(v == 0 || v == 1);
}

TEST(ipv6_v4mapped_reaches_ipv4_listener) {
    if (!have_ipv6_loopback()) SKIP("no IPv6 loopback: ::1 cannot be bound (IPv6 disabled or lo has no ::1)");
    int l = listener4();
    int c = CHECK_OK(socket(AF_INET6, SOCK_STREAM, 0));
    int zero = 0;
    CHECK_OK(setsockopt(c, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero));
    struct sockaddr_in6 a;
    memset(&a, 0, sizeof a);
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(port_of(l));
    CHECK_EQ(inet_pton(AF_INET6, "::ffff:127.0.0.1", &a.sin6_addr), 1);
    CHECK_OK(connect(c, (struct sockaddr *)&a, sizeof a));
    struct sockaddr_in peer;
    socklen_t pl = sizeof peer;
    int s = CHECK_OK(accept(l, (struct sockaddr *)&peer, &pl));
    CHECK_EQ(peer.sin_family, AF_INET);
    CHECK_EQ(peer.sin_addr.s_addr, htonl(INADDR_LOOPBACK));
    close(s);
    /* With IPV6_V6ONLY a mapped address is refused. */
    int c6 = CHECK_OK(socket(AF_INET6, SOCK_STREAM, 0));
    int one = 1;
    CHECK_OK(setsockopt(c6, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one));
    CHECK_ERR(connect(c6, (struct sockaddr *)&a, sizeof a), ENETUNREACH);
}
