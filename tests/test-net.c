/*
 * test-net.c — the netpoller and the I/O API (gort.h, "Network and
 * file-descriptor I/O through the netpoller"), as a user sees it:
 *
 *   net_echo_*          an echo server and 200 concurrent client
 *                       goroutines (several round trips each, every byte
 *                       checked) on 1, 2, 4 and 8 Ps; one client and
 *                       server in full duplex (a reader and a writer
 *                       goroutine on one socket);
 *   net_slow_reader_*   a client that never reads its echoes (its server
 *                       goroutine stuck in gort_write) holds nobody else up;
 *   net_idle_10k        10,000 connections held at once, each with a
 *                       goroutine parked in gort_read, then all closed and
 *                       the goroutine count back where it was;
 *   net_eof_after_data  end of stream (or a reset) queued with the last
 *                       data is still seen after a short read;
 *   net_*deadline*      gort_set_deadline: ETIMEDOUT never before the
 *                       deadline and less than a second after it, in the
 *                       past fails at once, 0 clears, set while a goroutine
 *                       already waits wakes it (or moves its wake-up), one
 *                       direction leaves the other alone;
 *   net_close_*         gort_close from another goroutine wakes a blocked
 *                       reader, writer, acceptor and gort_wait_fd with
 *                       EBADF; later calls on the number give EBADF;
 *   net_fd_reuse_4p     a descriptor made just after another's gort_close
 *                       (its number reused) works with every call;
 *   net_dial_*          ECONNREFUSED, ETIMEDOUT against a full backlog,
 *                       "localhost:port", "[::1]:port" (when ::1 exists),
 *                       an unknown host, malformed addresses (EINVAL),
 *                       ":0" listeners; descriptor flags and keep-alive;
 *   net_accept_emfile   EMFILE from gort_accept, the connection kept queued
 *                       and accepted once a descriptor is free;
 *   net_peer_reset      an RST from the peer: ECONNRESET (or 0) on read,
 *                       EPIPE/ECONNRESET on write, never SIGPIPE;
 *   net_wait_fd_*       gort_wait_fd on pipes (mode kept), eventfds and UDP
 *                       sockets: ready at once, polls with 0, ETIMEDOUT;
 *   net_pipe_*          gort_read/gort_write on pipes in blocking mode (the
 *                       blocking path: others run on 1 P) and non-blocking;
 *   net_big_write_*     8 MiB in one gort_write to a slow reader, complete
 *                       and in order (socket, pipes); concurrent
 *                       gort_writes on one socket never interleave;
 *   net_plain_thread*   the calls from a pthread that is not a goroutine,
 *                       and before gort_run, block the thread and work;
 *   net_no_deadlock_io  goroutines waiting on descriptors are not "asleep"
 *                       for the deadlock detector (Go reports no deadlock
 *                       while the network may still wake somebody).
 *
 * Every test starts the runtime itself, in its own forked child; runs that
 * must not report a deadlock are checked in a grandchild.  Time bounds:
 * a deadline or timeout is never early (the API's promise) and at most
 * LATE_MAX late (loose enough for a loaded 2-vCPU VM); the TEST timeouts
 * only catch hangs.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "task.h"

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */

#define start test_start
#define go_or_die test_go
#define mkchan test_chan_make
#define expect_child(fn, arg, code, needle, forbidden, tmo) \
    ((void)test_expect_child(fn, arg, code, needle, forbidden, tmo))

/* How late a deadline or timeout may be noticed. */
#define LATE_MAX GORT_SEC
/* "At once": a call that must not wait. */
#define AT_ONCE (500 * GORT_MS)

static int64_t now(void)
{
    return gort_nanotime();
}

static double ms(int64_t ns)
{
    return (double)ns / 1e6;
}

/* expr must give -1 with errno e. */
#define ASSERT_ERRNO(expr, e)                                              \
    do {                                                                   \
        errno = 0;                                                         \
        int64_t r_ = (int64_t)(expr);                                      \
        int e_ = errno;                                                    \
        if (r_ != -1 || e_ != (e))                                         \
            TEST_FAIL_("%s gave %" PRId64 ", errno %d (%s); expected -1 "  \
                       "with %s",                                          \
                       #expr, r_, e_, strerror(e_), #e);                   \
    } while (0)

/* A time t at which a call returned because of deadline: never before it,
 * not absurdly after. */
static void check_deadline(const char *what, int64_t t, int64_t deadline)
{
    if (t < deadline)
        TEST_FAIL_("%s: returned %.3f ms BEFORE its deadline", what,
                   ms(deadline - t));
    if (t - deadline > LATE_MAX)
        TEST_FAIL_("%s: returned %.3f ms after its deadline", what,
                   ms(t - deadline));
}

static void check_at_once(const char *what, int64_t t0)
{
    int64_t dt = now() - t0;
    if (dt > AT_ONCE)
        TEST_FAIL_("%s: took %.3f ms, expected to return at once", what,
                   ms(dt));
}

/* Sleeps 1 ms at a time until at most n goroutines exist; fails after
 * 20 s. */
static void wait_num_goroutine(int64_t n)
{
    int64_t deadline = now() + 20 * GORT_SEC;
    while (gort_num_goroutine() > n) {
        if (now() > deadline)
            TEST_FAIL_("%" PRId64 " goroutines, waited 20 s for %" PRId64,
                       gort_num_goroutine(), n);
        gort_sleep(GORT_MS);
    }
}

/* Sleeps 1 ms at a time until *v >= want; fails after limit. */
static void wait_atomic(_Atomic int64_t *v, int64_t want, int64_t limit)
{
    int64_t deadline = now() + limit;
    while (atomic_load(v) < want) {
        if (now() > deadline)
            TEST_FAIL_("counter %" PRId64 ", waited %.0f ms for %" PRId64,
                       atomic_load(v), ms(limit), want);
        gort_sleep(GORT_MS);
    }
}

/* The local port of a socket (IPv4 or IPv6). */
static int local_port(int fd, int *family)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    ASSERT_EQ(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
    if (family != NULL)
        *family = ss.ss_family;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    ASSERT_EQ(ss.ss_family, AF_INET6);
    return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

static int listen_at(const char *addr, int backlog, int *port)
{
    errno = 0;
    int l = gort_tcp_listen(addr, backlog);
    if (l < 0)
        TEST_FAIL_("gort_tcp_listen(\"%s\", %d): %s", addr, backlog,
                   strerror(errno));
    if (port != NULL)
        *port = local_port(l, NULL);
    return l;
}

static int listen_lo(int backlog, int *port)
{
    return listen_at("127.0.0.1:0", backlog, port);
}

static int dial_addr(const char *addr)
{
    errno = 0;
    int fd = gort_tcp_dial(addr, 10 * GORT_SEC);
    if (fd < 0)
        TEST_FAIL_("gort_tcp_dial(\"%s\"): %s", addr, strerror(errno));
    return fd;
}

static int dial_lo(int port)
{
    char a[64];
    snprintf(a, sizeof a, "127.0.0.1:%d", port);
    return dial_addr(a);
}

static int accept_or_die(int l)
{
    errno = 0;
    int fd = gort_accept(l, NULL, NULL);
    if (fd < 0)
        TEST_FAIL_("gort_accept(%d): %s", l, strerror(errno));
    return fd;
}

/* A connected TCP pair over 127.0.0.1 (the dial completes in the kernel's
 * backlog before the accept). */
static void tcp_pair(int *srv, int *cli)
{
    int port;
    int l = listen_lo(4, &port);
    *cli = dial_lo(port);
    *srv = accept_or_die(l);
    ASSERT_EQ(gort_close(l), 0);
}

static void close_or_die(int fd)
{
    errno = 0;
    if (gort_close(fd) != 0)
        TEST_FAIL_("gort_close(%d): %s", fd, strerror(errno));
}

/* SO_LINGER {1, 0} then close: the peer gets an RST. */
static void reset_close(int fd)
{
    struct linger lg = {1, 0};
    ASSERT_EQ(setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    close_or_die(fd);
}

/* Reads exactly n bytes (fails on end of stream or error). */
static void read_full(int fd, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        errno = 0;
        ssize_t r = gort_read(fd, (char *)buf + got, n - got);
        if (r <= 0)
            TEST_FAIL_("gort_read(%d) after %zu of %zu bytes: %zd (%s)", fd,
                       got, n, r, r < 0 ? strerror(errno) : "end of stream");
        got += (size_t)r;
    }
}

static void write_all(int fd, const void *buf, size_t n)
{
    errno = 0;
    ssize_t r = gort_write(fd, buf, n);
    if (r != (ssize_t)n)
        TEST_FAIL_("gort_write(%d, %zu bytes): %zd (%s)", fd, n, r,
                   strerror(errno));
}

/* Byte i of the stream `seed`: differs between neighbouring 8-byte blocks,
 * so a lost, doubled or reordered chunk shows. */
static inline uint8_t pat(uint64_t seed, uint64_t i)
{
    uint64_t x = (i >> 3) * 0x9e3779b97f4a7c15ULL ^
                 (seed + 1) * 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 31;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 29;
    return (uint8_t)(x >> ((i & 7) * 8));
}

static void fill_pat(uint8_t *b, size_t n, uint64_t seed, uint64_t off)
{
    for (size_t i = 0; i < n; i++)
        b[i] = pat(seed, off + i);
}

static void check_pat(const uint8_t *b, size_t n, uint64_t seed,
                      uint64_t off, const char *what)
{
    for (size_t i = 0; i < n; i++)
        if (b[i] != pat(seed, off + i))
            TEST_FAIL_("%s: byte %" PRIu64 " of stream %" PRIu64
                       " is 0x%02x, expected 0x%02x",
                       what, off + i, seed, b[i], pat(seed, off + i));
}

static uint64_t rnd(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static int fd_flags(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    ASSERT(fl != -1);
    return fl;
}

/* One I/O call run in a goroutine of its own, reporting through `done`
 * (capacity 1, so the goroutine never waits to report). */
enum { OP_READ, OP_WRITE, OP_ACCEPT, OP_WAIT };

typedef struct io_op {
    int kind;
    int fd;
    void *buf;
    size_t n;
    int events;         /* OP_WAIT */
    int64_t timeout;    /* OP_WAIT */
    gort_chan *done;
    _Atomic int started;
    int64_t r;
    int err;
    int64_t t0, t1;     /* call entered, call returned */
} io_op;

static void io_op_fn(void *arg)
{
    io_op *op = arg;
    op->t0 = now();
    atomic_store(&op->started, 1);
    errno = 0;
    switch (op->kind) {
    case OP_READ:
        op->r = gort_read(op->fd, op->buf, op->n);
        break;
    case OP_WRITE:
        op->r = gort_write(op->fd, op->buf, op->n);
        break;
    case OP_ACCEPT:
        op->r = gort_accept(op->fd, NULL, NULL);
        break;
    case OP_WAIT:
        op->r = gort_wait_fd(op->fd, op->events, op->timeout);
        break;
    }
    op->err = errno;
    op->t1 = now();
    gort_chan_send(op->done, NULL);
}

/* Starts op in a goroutine and waits until it has entered the call, plus
 * `settle` for it to park. */
static void op_start(io_op *op, int kind, int fd, void *buf, size_t n,
                     int64_t settle)
{
    op->kind = kind;
    op->fd = fd;
    op->buf = buf;
    op->n = n;
    op->done = mkchan(0, 1);
    atomic_store(&op->started, 0);
    go_or_die(io_op_fn, op);
    while (!atomic_load(&op->started))
        gort_sleep(GORT_MS);
    gort_sleep(settle);
}

static bool op_finished(io_op *op)
{
    return gort_chan_len(op->done) == 1;
}

static void op_wait(io_op *op)
{
    ASSERT(gort_chan_recv(op->done, NULL));
    gort_chan_free(op->done);
    op->done = NULL;
}

/* The op must still be blocked after `d`. */
static void op_still_blocked(io_op *op, int64_t d, const char *what)
{
    gort_sleep(d);
    if (op_finished(op))
        TEST_FAIL_("%s: returned %" PRId64 " (errno %d, %s) after %.3f ms; "
                   "expected it to be still blocked",
                   what, op->r, op->err, strerror(op->err),
                   ms(op->t1 - op->t0));
}

/* Stress tests on 1, 2, 4 and 8 Ps from one function. */
#define PROCS_TESTS(name)                                                  \
    TEST_IMPL(name##_1p) { start(1, name##_main, NULL); return 0; }        \
    TEST_IMPL(name##_2p) { start(2, name##_main, NULL); return 0; }        \
    TEST_IMPL(name##_4p) { start(4, name##_main, NULL); return 0; }        \
    TEST_IMPL(name##_8p) { start(8, name##_main, NULL); return 0; }

/* ------------------------------------------------------------------------ */
/* The echo server                                                          */
/* ------------------------------------------------------------------------ */

/* One server goroutine per connection echoes until end of stream.  The
 * acceptor takes `n` connections, then returns (it does not depend on
 * gort_close waking it). */
static _Atomic int64_t es_handlers_done, es_errors, es_bytes;
static _Atomic int es_last_errno;

static void echo_handler(void *arg)
{
    int fd = (int)(intptr_t)arg;
    size_t cap = 64 * 1024;
    char *buf = malloc(cap);
    ASSERT(buf != NULL);
    for (;;) {
        errno = 0;
        ssize_t r = gort_read(fd, buf, cap);
        if (r == 0)
            break;
        if (r < 0) {
            es_last_errno = errno;
            atomic_fetch_add(&es_errors, 1);
            break;
        }
        errno = 0;
        ssize_t w = gort_write(fd, buf, (size_t)r);
        if (w != r) {
            es_last_errno = errno;
            atomic_fetch_add(&es_errors, 1);
            break;
        }
        atomic_fetch_add(&es_bytes, r);
    }
    free(buf);
    close_or_die(fd);
    atomic_fetch_add(&es_handlers_done, 1);
}

typedef struct acceptor_arg {
    int lfd;
    int n;
} acceptor_arg;

static void echo_acceptor(void *arg)
{
    acceptor_arg *a = arg;
    for (int i = 0; i < a->n; i++) {
        int fd = accept_or_die(a->lfd);
        go_or_die(echo_handler, (void *)(intptr_t)fd);
    }
}

/* A client: `rounds` round trips of 1..maxmsg bytes, each checked, then a
 * pipelined burst (four messages out, then four back). */
static int ec_port;
static int ec_rounds = 8;
static size_t ec_maxmsg = 16384;
static gort_waitgroup ec_wg;
static _Atomic int64_t ec_done;

static void echo_client(void *arg)
{
    uint64_t id = (uint64_t)(uintptr_t)arg;
    int fd = dial_lo(ec_port);
    uint8_t *wb = malloc(4 * ec_maxmsg), *rb = malloc(4 * ec_maxmsg);
    ASSERT(wb != NULL && rb != NULL);
    uint64_t s = id * 0x9e3779b97f4a7c15ULL + 7, off = 0;
    for (int k = 0; k < ec_rounds; k++) {
        size_t n = 1 + (size_t)(rnd(&s) % ec_maxmsg);
        fill_pat(wb, n, id, off);
        write_all(fd, wb, n);
        memset(rb, 0, n);
        read_full(fd, rb, n);
        check_pat(rb, n, id, off, "echo round trip");
        off += n;
    }
    size_t total = 0;
    for (int k = 0; k < 4; k++) {
        size_t n = 1 + (size_t)(rnd(&s) % ec_maxmsg);
        fill_pat(wb + total, n, id, off + total);
        write_all(fd, wb + total, n);
        total += n;
    }
    read_full(fd, rb, total);
    check_pat(rb, total, id, off, "pipelined echo");
    free(wb);
    free(rb);
    close_or_die(fd);
    atomic_fetch_add(&ec_done, 1);
    gort_waitgroup_done(&ec_wg);
}

#define EC_CLIENTS 200

static void net_echo_200_main(void *arg)
{
    (void)arg;
    int64_t base = gort_num_goroutine();
    int64_t t0 = now();
    int l = listen_lo(1024, &ec_port);
    acceptor_arg aa = {l, EC_CLIENTS};
    go_or_die(echo_acceptor, &aa);
    gort_waitgroup_add(&ec_wg, EC_CLIENTS);
    for (int i = 0; i < EC_CLIENTS; i++)
        go_or_die(echo_client, (void *)(uintptr_t)i);
    gort_waitgroup_wait(&ec_wg);
    ASSERT_EQ(atomic_load(&ec_done), EC_CLIENTS);
    wait_atomic(&es_handlers_done, EC_CLIENTS, 20 * GORT_SEC);
    if (atomic_load(&es_errors) != 0)
        TEST_FAIL_("%" PRId64 " server goroutines failed, last: %s",
                   atomic_load(&es_errors), strerror(es_last_errno));
    close_or_die(l);
    wait_num_goroutine(base);
    printf("%d clients x (%d round trips + a burst) on %d Ps: %.3f s, "
           "%" PRId64 " bytes echoed\n",
           EC_CLIENTS, ec_rounds, gort_maxprocs(0), (double)(now() - t0) / 1e9,
           atomic_load(&es_bytes));
}

PROCS_TESTS(net_echo_200)

/* Full duplex: on one connection a writer goroutine streams 4 MiB while a
 * reader goroutine takes the echo concurrently (a read waiter and a write
 * waiter on the same descriptor, neither waking the other wrongly). */
#define FD_BYTES (4u << 20)
static gort_waitgroup fdx_wg;

static void fdx_writer(void *arg)
{
    int fd = (int)(intptr_t)arg;
    uint8_t *b = malloc(65536);
    ASSERT(b != NULL);
    uint64_t s = 99;
    for (size_t off = 0; off < FD_BYTES;) {
        size_t n = 1 + (size_t)(rnd(&s) % 65536);
        if (n > FD_BYTES - off)
            n = FD_BYTES - off;
        fill_pat(b, n, 5, off);
        write_all(fd, b, n);
        off += n;
    }
    free(b);
    /* Half-close: the server sees end of stream after the data. */
    ASSERT_EQ(shutdown(fd, SHUT_WR), 0);
    gort_waitgroup_done(&fdx_wg);
}

static void fdx_reader(void *arg)
{
    int fd = (int)(intptr_t)arg;
    uint8_t *b = malloc(65536);
    ASSERT(b != NULL);
    size_t off = 0;
    for (;;) {
        ssize_t r = gort_read(fd, b, 1 + off % 65536);
        if (r == 0)
            break;
        if (r < 0)
            TEST_FAIL_("gort_read: %s", strerror(errno));
        check_pat(b, (size_t)r, 5, off, "full-duplex echo");
        off += (size_t)r;
    }
    ASSERT_EQ(off, FD_BYTES);
    free(b);
    gort_waitgroup_done(&fdx_wg);
}

static void net_echo_full_duplex_main(void *arg)
{
    (void)arg;
    int64_t base = gort_num_goroutine();
    int port;
    int l = listen_lo(4, &port);
    acceptor_arg aa = {l, 1};
    go_or_die(echo_acceptor, &aa);
    int fd = dial_lo(port);
    gort_waitgroup_add(&fdx_wg, 2);
    go_or_die(fdx_reader, (void *)(intptr_t)fd);
    go_or_die(fdx_writer, (void *)(intptr_t)fd);
    gort_waitgroup_wait(&fdx_wg);
    close_or_die(fd);
    wait_atomic(&es_handlers_done, 1, 10 * GORT_SEC);
    ASSERT_EQ(atomic_load(&es_errors), 0);
    close_or_die(l);
    wait_num_goroutine(base);
}

TEST_IMPL(net_echo_full_duplex_1p)
{
    start(1, net_echo_full_duplex_main, NULL);
    return 0;
}

TEST_IMPL(net_echo_full_duplex_4p)
{
    start(4, net_echo_full_duplex_main, NULL);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* A slow reader does not block the others                                  */
/* ------------------------------------------------------------------------ */

/* The slow client writes and never reads: its server goroutine ends up
 * parked in gort_write (the client's receive buffer full), then stops
 * reading, and the client's own writer parks too.  Meanwhile 50 other
 * clients do their round trips. */
static _Atomic int64_t sr_written;
static _Atomic int sr_writer_done;
static int sr_writer_err;

static void sr_writer(void *arg)
{
    int fd = (int)(intptr_t)arg;
    static char chunk[65536];
    for (;;) {
        errno = 0;
        ssize_t r = gort_write(fd, chunk, sizeof chunk);
        if (r > 0)
            atomic_fetch_add(&sr_written, r);
        if (r != (ssize_t)sizeof chunk) {
            sr_writer_err = errno;
            break;
        }
    }
    atomic_store(&sr_writer_done, 1);
}

#define SR_CLIENTS 50

static void net_slow_reader_main(void *arg)
{
    (void)arg;
    int64_t base = gort_num_goroutine();
    int l = listen_lo(256, &ec_port);
    acceptor_arg aa = {l, 1 + SR_CLIENTS};
    go_or_die(echo_acceptor, &aa);

    int slow = dial_lo(ec_port);
    go_or_die(sr_writer, (void *)(intptr_t)slow);
    /* Until the slow writer makes no progress for 200 ms: everything
     * between it and its server goroutine is full. */
    int64_t last = -1, stable_since = now(), give_up = now() + 20 * GORT_SEC;
    for (;;) {
        gort_sleep(10 * GORT_MS);
        int64_t w = atomic_load(&sr_written);
        if (w != last) {
            last = w;
            stable_since = now();
        } else if (now() - stable_since > 200 * GORT_MS) {
            break;
        }
        ASSERT(!atomic_load(&sr_writer_done));
        if (now() > give_up)
            TEST_FAIL_("the slow client's writes never stopped (%" PRId64
                       " bytes)", w);
    }
    printf("slow client stuck after %" PRId64 " bytes\n", last);

    int64_t t0 = now();
    ec_rounds = 20;
    ec_maxmsg = 4096;
    gort_waitgroup_add(&ec_wg, SR_CLIENTS);
    for (int i = 0; i < SR_CLIENTS; i++)
        go_or_die(echo_client, (void *)(uintptr_t)(i + 1000));
    gort_waitgroup_wait(&ec_wg);
    int64_t dt = now() - t0;
    printf("%d other clients done in %.3f ms\n", SR_CLIENTS, ms(dt));
    ASSERT_EQ(atomic_load(&ec_done), SR_CLIENTS);
    ASSERT_LT(dt, 10 * GORT_SEC);
    wait_atomic(&es_handlers_done, SR_CLIENTS, 10 * GORT_SEC);
    ASSERT_EQ(atomic_load(&es_errors), 0);
    /* The slow one is still stuck. */
    ASSERT(!atomic_load(&sr_writer_done));
    ASSERT_EQ(atomic_load(&sr_written), last);

    /* Closing it wakes its writer (EBADF) and, through the reset its
     * unread data causes, its server goroutine. */
    close_or_die(slow);
    int64_t tc = now();
    while (!atomic_load(&sr_writer_done)) {
        if (now() - tc > 5 * GORT_SEC)
            TEST_FAIL_("%s", "gort_close did not wake the slow writer");
        gort_sleep(GORT_MS);
    }
    if (sr_writer_err != EBADF)
        TEST_FAIL_("slow writer woke with errno %d (%s), expected EBADF",
                   sr_writer_err, strerror(sr_writer_err));
    wait_atomic(&es_handlers_done, 1 + SR_CLIENTS, 10 * GORT_SEC);
    ASSERT_EQ(atomic_load(&es_errors), 1);
    if (es_last_errno != EPIPE && es_last_errno != ECONNRESET)
        TEST_FAIL_("the slow client's server goroutine failed with %s",
                   strerror(es_last_errno));
    close_or_die(l);
    wait_num_goroutine(base);
}

TEST_IMPL(net_slow_reader_1p)
{
    start(1, net_slow_reader_main, NULL);
    return 0;
}

TEST_IMPL(net_slow_reader_4p)
{
    start(4, net_slow_reader_main, NULL);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* 10,000 idle connections                                                  */
/* ------------------------------------------------------------------------ */

/* The clients live in a forked process that runs its own gort (each
 * process then needs one descriptor per connection, so a hard limit of
 * 20,000 holds all 10,000).  The server process holds a goroutine per
 * connection parked in gort_read; both sides idle; a fresh connection
 * still gets served at once; then the clients close and every server
 * goroutine ends. */
#define TK_WANT 10000
#define TK_DIALERS 50

typedef struct tk_ctx {
    int n;
    int port;
    int to_parent;      /* pipe: 'R' once every connection echoed */
    int from_parent;    /* pipe: 'C' to close them all */
} tk_ctx;

static tk_ctx tk;
static int *tk_fds;
static gort_waitgroup tk_wg;
static _Atomic int64_t tk_echoed, tk_closed, tk_accepted;

static void tk_dialer(void *arg)
{
    int k = (int)(intptr_t)arg;
    for (int i = k; i < tk.n; i += TK_DIALERS) {
        int fd = dial_lo(tk.port);
        uint8_t c = (uint8_t)i, e = 0;
        write_all(fd, &c, 1);
        read_full(fd, &e, 1);
        ASSERT_EQ(e, c);
        tk_fds[i] = fd;
    }
    gort_waitgroup_done(&tk_wg);
}

static void tk_client_main(void *arg)
{
    (void)arg;
    tk_fds = calloc((size_t)tk.n, sizeof *tk_fds);
    ASSERT(tk_fds != NULL);
    gort_waitgroup_add(&tk_wg, TK_DIALERS);
    for (int k = 0; k < TK_DIALERS; k++)
        go_or_die(tk_dialer, (void *)(intptr_t)k);
    gort_waitgroup_wait(&tk_wg);
    write_all(tk.to_parent, "R", 1);
    char cmd = 0;
    read_full(tk.from_parent, &cmd, 1);
    ASSERT_EQ(cmd, 'C');
    for (int i = 0; i < tk.n; i++)
        close_or_die(tk_fds[i]);
}

static void tk_handler(void *arg)
{
    int fd = (int)(intptr_t)arg;
    uint8_t c;
    read_full(fd, &c, 1);
    atomic_fetch_add(&tk_echoed, 1);
    write_all(fd, &c, 1);
    errno = 0;
    ssize_t r = gort_read(fd, &c, 1);
    if (r != 0)
        TEST_FAIL_("idle connection: gort_read gave %zd (%s), expected end "
                   "of stream", r, strerror(errno));
    close_or_die(fd);
    atomic_fetch_add(&tk_closed, 1);
}

static void tk_acceptor(void *arg)
{
    acceptor_arg *a = arg;
    for (int i = 0; i < a->n; i++) {
        int fd = accept_or_die(a->lfd);
        atomic_fetch_add(&tk_accepted, 1);
        go_or_die(tk_handler, (void *)(intptr_t)fd);
    }
}

static int tk_port_pipe[2], tk_up[2], tk_down[2];

static void tk_server_main(void *arg)
{
    (void)arg;
    int64_t base = gort_num_goroutine();
    int64_t t0 = now();
    int port;
    int l = listen_lo(0, &port);   /* <= 0: SOMAXCONN */
    acceptor_arg aa = {l, tk.n + 1};
    go_or_die(tk_acceptor, &aa);
    /* Tell the client process where to dial. */
    write_all(tk_port_pipe[1], &port, sizeof port);

    char c = 0;
    read_full(tk_up[0], &c, 1);
    ASSERT_EQ(c, 'R');
    int64_t t1 = now();
    ASSERT_EQ(atomic_load(&tk_echoed), tk.n);
    ASSERT_EQ(atomic_load(&tk_closed), 0);
    int64_t ng = gort_num_goroutine();
    printf("%d connections up and echoed in %.3f s; %" PRId64
           " goroutines (base %" PRId64 ")\n",
           tk.n, (double)(t1 - t0) / 1e9, ng, base);
    ASSERT_GE(ng, base + tk.n);

    /* With them all parked, a new connection is served at once. */
    int64_t tp = now();
    int probe = dial_lo(port);
    uint8_t x = 0x5a, y = 0;
    write_all(probe, &x, 1);
    read_full(probe, &y, 1);
    ASSERT_EQ(y, x);
    int64_t rtt = now() - tp;
    printf("probe dial + round trip beside %d idle connections: %.3f ms\n",
           tk.n, ms(rtt));
    ASSERT_LT(rtt, 2 * GORT_SEC);

    /* Idle for a while: nobody wakes spuriously with an error. */
    gort_sleep(300 * GORT_MS);
    ASSERT_EQ(atomic_load(&tk_closed), 0);

    close_or_die(probe);
    write_all(tk_down[1], "C", 1);
    wait_atomic(&tk_closed, tk.n + 1, 60 * GORT_SEC);
    close_or_die(l);
    wait_num_goroutine(base);
    printf("all closed after %.3f s more; %" PRId64 " goroutines\n",
           (double)(now() - t1) / 1e9, gort_num_goroutine());
}

TEST_IMPL(net_idle_10k)
{
    struct rlimit rl;
    ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
    /* Each process needs n descriptors plus a few dozen. */
    rlim_t want = (rlim_t)TK_WANT + 200;
    rlim_t soft = want < rl.rlim_max ? want : rl.rlim_max;
    rl.rlim_cur = soft;
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &rl), 0);
    tk.n = TK_WANT;
    if (soft < want) {
        tk.n = (int)soft - 200;
        ASSERT_GT(tk.n, 1000);
    }
    printf("RLIMIT_NOFILE hard %llu, soft set to %llu: %d connections "
           "(server and clients in two processes)%s\n",
           (unsigned long long)rl.rlim_max, (unsigned long long)soft, tk.n,
           tk.n < TK_WANT ? " -- FEWER THAN 10,000: the hard limit is low"
                          : "");

    ASSERT_EQ(pipe(tk_port_pipe), 0);
    ASSERT_EQ(pipe(tk_up), 0);
    ASSERT_EQ(pipe(tk_down), 0);
    fflush(NULL);
    pid_t pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        /* The client process: its own runtime, started once the server
         * has told the port. */
        close(tk_port_pipe[1]);
        close(tk_up[0]);
        close(tk_down[1]);
        int port = 0;
        if (read(tk_port_pipe[0], &port, sizeof port) != sizeof port)
            _exit(3);
        close(tk_port_pipe[0]);
        tk.port = port;
        tk.to_parent = tk_up[1];
        tk.from_parent = tk_down[0];
        start(2, tk_client_main, NULL);
        _exit(0);
    }
    close(tk_port_pipe[0]);
    close(tk_up[1]);
    close(tk_down[0]);
    start(2, tk_server_main, NULL);
    int st = 0;
    ASSERT_EQ(waitpid(pid, &st, 0), pid);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        TEST_FAIL_("client process: wait status 0x%x", (unsigned)st);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Deadlines                                                                */
/* ------------------------------------------------------------------------ */

static void delayed_write_fn(void *arg)
{
    int fd = (int)(intptr_t)arg;
    gort_sleep(100 * GORT_MS);
    write_all(fd, "late", 4);
}

/* A read deadline expires with ETIMEDOUT, not early, not a second late;
 * it stays (the next read fails at once); it leaves writes alone; 0
 * clears it and a read blocks again until data comes. */
static void read_deadline_main(void *arg)
{
    (void)arg;
    int a, b;
    tcp_pair(&a, &b);
    char buf[16];

    for (int i = 0; i < 5; i++) {
        int64_t dl = now() + (10 + 20 * i) * GORT_MS;
        ASSERT_EQ(gort_set_deadline(a, dl, GORT_READ), 0);
        ASSERT_ERRNO(gort_read(a, buf, sizeof buf), ETIMEDOUT);
        check_deadline("gort_read with a read deadline", now(), dl);
    }
    /* Still expired. */
    int64_t t0 = now();
    ASSERT_ERRNO(gort_read(a, buf, sizeof buf), ETIMEDOUT);
    check_at_once("gort_read after its deadline passed", t0);
    t0 = now();
    ASSERT_ERRNO(gort_wait_fd(a, GORT_READ, -1), ETIMEDOUT);
    check_at_once("gort_wait_fd(GORT_READ) after the read deadline", t0);
    /* Writes are not affected. */
    write_all(a, "ping", 4);
    read_full(b, buf, 4);
    ASSERT(memcmp(buf, "ping", 4) == 0);

    /* Cleared: the read blocks until the data comes (100 ms). */
    ASSERT_EQ(gort_set_deadline(a, 0, GORT_READ), 0);
    t0 = now();
    go_or_die(delayed_write_fn, (void *)(intptr_t)b);
    read_full(a, buf, 4);
    ASSERT(memcmp(buf, "late", 4) == 0);
    ASSERT_GE(now() - t0, 100 * GORT_MS);

    /* A deadline that has not come yet does not stop a ready read. */
    ASSERT_EQ(gort_set_deadline(a, now() + 10 * GORT_SEC, GORT_READ), 0);
    write_all(b, "soon", 4);
    read_full(a, buf, 4);
    ASSERT(memcmp(buf, "soon", 4) == 0);

    close_or_die(a);
    close_or_die(b);
}

TEST_IMPL(net_read_deadline)
{
    start(1, read_deadline_main, NULL);
    start(2, read_deadline_main, NULL);
    return 0;
}

/* End of stream (or a reset) that arrived together with the last data:
 * after a read that returned less than asked, the next read must still
 * see it.  A 2 s read deadline turns a missed end of stream into a
 * message instead of a hang. */
static void eof_read(int fd, const char *what, bool reset_ok)
{
    char buf[100];
    ASSERT_EQ(gort_set_deadline(fd, now() + 2 * GORT_SEC, GORT_READ), 0);
    errno = 0;
    ssize_t r = gort_read(fd, buf, sizeof buf);
    int e = errno;
    if (r == -1 && e == ETIMEDOUT)
        TEST_FAIL_("%s: gort_read never saw the end of stream (2 s)", what);
    if (!(r == 0 || (reset_ok && r == -1 && e == ECONNRESET)))
        TEST_FAIL_("%s: gort_read gave %zd (%s), expected end of stream",
                   what, r, strerror(e));
}

static void eof_after_data_main(void *arg)
{
    (void)arg;
    char buf[100];
    int a, b;

    /* Data and FIN both queued before the first read. */
    tcp_pair(&a, &b);
    write_all(b, "abc", 3);
    close_or_die(b);
    gort_sleep(20 * GORT_MS);
    ASSERT_EQ(gort_read(a, buf, sizeof buf), 3);
    eof_read(a, "data + FIN queued, after a short read", false);
    close_or_die(a);

    /* The same, the data read with an exact-size read. */
    tcp_pair(&a, &b);
    write_all(b, "abc", 3);
    close_or_die(b);
    gort_sleep(20 * GORT_MS);
    read_full(a, buf, 3);
    eof_read(a, "data + FIN queued, after an exact read", false);
    close_or_die(a);

    /* FIN after the short read, before the next read starts. */
    tcp_pair(&a, &b);
    write_all(b, "abc", 3);
    gort_sleep(20 * GORT_MS);
    ASSERT_EQ(gort_read(a, buf, sizeof buf), 3);
    close_or_die(b);
    gort_sleep(20 * GORT_MS);
    eof_read(a, "FIN after a short read", false);
    close_or_die(a);

    /* FIN while the next read waits. */
    tcp_pair(&a, &b);
    write_all(b, "abc", 3);
    gort_sleep(20 * GORT_MS);
    ASSERT_EQ(gort_read(a, buf, sizeof buf), 3);
    io_op op;
    op_start(&op, OP_READ, a, buf, sizeof buf, 30 * GORT_MS);
    close_or_die(b);
    op_wait(&op);
    ASSERT_EQ(op.r, 0);
    close_or_die(a);

    /* Data then half-close (shutdown), the socket still writable. */
    tcp_pair(&a, &b);
    write_all(b, "abc", 3);
    ASSERT_EQ(shutdown(b, SHUT_WR), 0);
    gort_sleep(20 * GORT_MS);
    ASSERT_EQ(gort_read(a, buf, sizeof buf), 3);
    eof_read(a, "data + shutdown(SHUT_WR), after a short read", false);
    write_all(a, "back", 4);
    read_full(b, buf, 4);
    close_or_die(a);
    close_or_die(b);

    /* Data and a reset. */
    tcp_pair(&a, &b);
    write_all(b, "abc", 3);
    gort_sleep(20 * GORT_MS);
    reset_close(b);
    gort_sleep(20 * GORT_MS);
    errno = 0;
    ssize_t r = gort_read(a, buf, sizeof buf);
    ASSERT(r == 3 || (r == -1 && errno == ECONNRESET));
    if (r == 3)
        eof_read(a, "data + RST queued, after a short read", true);
    close_or_die(a);
}

TEST_IMPL(net_eof_after_data)
{
    start(1, eof_after_data_main, NULL);
    start(2, eof_after_data_main, NULL);
    return 0;
}

/* Many connections with staggered deadlines at once, each checked. */
#define MD_N 100
static gort_waitgroup md_wg;

static void md_fn(void *arg)
{
    int i = (int)(intptr_t)arg;
    int a, b;
    tcp_pair(&a, &b);
    char buf[8];
    int64_t dl = now() + (20 + (i % 10) * 15) * GORT_MS;
    ASSERT_EQ(gort_set_deadline(a, dl, GORT_READ), 0);
    ASSERT_ERRNO(gort_read(a, buf, sizeof buf), ETIMEDOUT);
    check_deadline("one of many read deadlines", now(), dl);
    close_or_die(a);
    close_or_die(b);
    gort_waitgroup_done(&md_wg);
}

static void many_deadlines_main(void *arg)
{
    (void)arg;
    gort_waitgroup_add(&md_wg, MD_N);
    for (int i = 0; i < MD_N; i++)
        go_or_die(md_fn, (void *)(intptr_t)i);
    gort_waitgroup_wait(&md_wg);
}

TEST_IMPL(net_many_deadlines_4p)
{
    start(4, many_deadlines_main, NULL);
    return 0;
}

/* A write deadline with a peer that never reads: gort_write returns the
 * short count it managed (or -1 if none) with ETIMEDOUT; the next write
 * fails at once; reads are not affected. */
static void write_deadline_main(void *arg)
{
    (void)arg;
    int a, b;
    tcp_pair(&a, &b);
    size_t big = 64u << 20;
    char *buf = calloc(1, big);
    ASSERT(buf != NULL);
    int64_t dl = now() + 100 * GORT_MS;
    ASSERT_EQ(gort_set_deadline(a, dl, GORT_WRITE), 0);
    errno = 0;
    ssize_t r = gort_write(a, buf, big);
    int e = errno;
    int64_t t = now();
    printf("gort_write of 64 MiB to a peer that does not read: %zd (%s)\n",
           r, strerror(e));
    ASSERT(r != (ssize_t)big);
    if (e != ETIMEDOUT)
        TEST_FAIL_("gort_write: %zd, errno %d (%s), expected ETIMEDOUT", r, e,
                   strerror(e));
    /* The buffers were empty: some bytes went. */
    ASSERT_GT(r, 0);
    check_deadline("gort_write with a write deadline", t, dl);
    int64_t t0 = now();
    ASSERT_ERRNO(gort_write(a, buf, 1), ETIMEDOUT);
    check_at_once("gort_write after its deadline", t0);
    /* Reads still work. */
    write_all(b, "x", 1);
    char c = 0;
    read_full(a, &c, 1);
    ASSERT_EQ(c, 'x');
    /* Cleared: the peer drains what was written and a write completes. */
    ASSERT_EQ(gort_set_deadline(a, 0, GORT_WRITE), 0);
    free(buf);
    close_or_die(a);
    close_or_die(b);
}

TEST_IMPL(net_write_deadline)
{
    start(1, write_deadline_main, NULL);
    start(2, write_deadline_main, NULL);
    return 0;
}

/* A deadline in the past fails at once, even with data ready (as Go's
 * Read after its deadline); nothing is consumed or sent; clearing it
 * makes the same data readable. */
static void deadline_past_main(void *arg)
{
    (void)arg;
    int a, b;
    tcp_pair(&a, &b);
    char buf[8];

    int64_t t0 = now();
    ASSERT_EQ(gort_set_deadline(a, now() - GORT_SEC, GORT_READ | GORT_WRITE),
              0);
    ASSERT_ERRNO(gort_read(a, buf, sizeof buf), ETIMEDOUT);
    ASSERT_ERRNO(gort_write(a, "zz", 2), ETIMEDOUT);
    check_at_once("calls with a deadline in the past", t0);
    /* Nothing was sent. */
    ASSERT_ERRNO(gort_wait_fd(b, GORT_READ, 50 * GORT_MS), ETIMEDOUT);

    /* Data ready, deadline passed: still ETIMEDOUT. */
    write_all(b, "data", 4);
    ASSERT_EQ(gort_wait_fd(b, GORT_WRITE, GORT_SEC), GORT_WRITE);
    gort_sleep(20 * GORT_MS);
    ASSERT_ERRNO(gort_read(a, buf, sizeof buf), ETIMEDOUT);
    /* An expired deadline just now (1 ns ago). */
    ASSERT_EQ(gort_set_deadline(a, now(), GORT_READ), 0);
    ASSERT_ERRNO(gort_read(a, buf, sizeof buf), ETIMEDOUT);

    /* gort_wait_fd: a direction whose deadline passed is dropped from
     * events (the data is there, yet only GORT_WRITE comes back);
     * ETIMEDOUT when none is left. */
    ASSERT_EQ(gort_set_deadline(a, 0, GORT_WRITE), 0);
    int64_t t1 = now();
    ASSERT_EQ(gort_wait_fd(a, GORT_READ | GORT_WRITE, -1), GORT_WRITE);
    ASSERT_ERRNO(gort_wait_fd(a, GORT_READ, -1), ETIMEDOUT);
    ASSERT_EQ(gort_set_deadline(a, now() - 1, GORT_WRITE), 0);
    ASSERT_ERRNO(gort_wait_fd(a, GORT_READ | GORT_WRITE, -1), ETIMEDOUT);
    check_at_once("gort_wait_fd with passed deadlines", t1);
    ASSERT_EQ(gort_set_deadline(a, 0, GORT_WRITE), 0);
    ASSERT_EQ(gort_wait_fd(a, GORT_READ | GORT_WRITE, -1), GORT_WRITE);

    ASSERT_EQ(gort_set_deadline(a, 0, GORT_READ | GORT_WRITE), 0);
    ASSERT_EQ(gort_wait_fd(a, GORT_READ | GORT_WRITE, -1),
              GORT_READ | GORT_WRITE);
    read_full(a, buf, 4);
    ASSERT(memcmp(buf, "data", 4) == 0);
    write_all(a, "ok", 2);
    read_full(b, buf, 2);
    ASSERT(memcmp(buf, "ok", 2) == 0);
    close_or_die(a);
    close_or_die(b);
}

TEST_IMPL(net_deadline_past)
{
    start(1, deadline_past_main, NULL);
    return 0;
}

/* A deadline set while a goroutine already waits: it wakes at that
 * deadline; one in the past wakes it at once; moving the deadline later
 * moves the wake-up; earlier too; a write deadline leaves a waiting
 * reader alone (and the other way round). */
static void deadline_blocked_main(void *arg)
{
    (void)arg;
    int a, b;
    tcp_pair(&a, &b);
    char buf[8];
    io_op op;

    /* No deadline, then one 100 ms ahead. */
    op_start(&op, OP_READ, a, buf, sizeof buf, 30 * GORT_MS);
    ASSERT(!op_finished(&op));
    int64_t dl = now() + 100 * GORT_MS;
    ASSERT_EQ(gort_set_deadline(a, dl, GORT_READ), 0);
    op_wait(&op);
    ASSERT_EQ(op.r, -1);
    ASSERT_EQ(op.err, ETIMEDOUT);
    check_deadline("reader woken by a deadline set while it waited", op.t1,
                   dl);

    /* One in the past. */
    ASSERT_EQ(gort_set_deadline(a, 0, GORT_READ), 0);
    op_start(&op, OP_READ, a, buf, sizeof buf, 30 * GORT_MS);
    ASSERT(!op_finished(&op));
    int64_t t0 = now();
    ASSERT_EQ(gort_set_deadline(a, t0 - GORT_MS, GORT_READ), 0);
    op_wait(&op);
    ASSERT_EQ(op.r, -1);
    ASSERT_EQ(op.err, ETIMEDOUT);
    if (op.t1 - t0 > AT_ONCE)
        TEST_FAIL_("a past deadline woke the reader after %.3f ms",
                   ms(op.t1 - t0));

    /* Moved later: 200 ms ahead, then (well before it) 500 ms ahead. */
    ASSERT_EQ(gort_set_deadline(a, now() + 200 * GORT_MS, GORT_READ), 0);
    op_start(&op, OP_READ, a, buf, sizeof buf, 5 * GORT_MS);
    if (op_finished(&op))
        TEST_FAIL_("%s", "reader gone before its deadline was moved");
    dl = now() + 500 * GORT_MS;
    ASSERT_EQ(gort_set_deadline(a, dl, GORT_READ), 0);
    op_wait(&op);
    ASSERT_EQ(op.r, -1);
    ASSERT_EQ(op.err, ETIMEDOUT);
    check_deadline("reader whose deadline was moved later", op.t1, dl);

    /* Moved earlier: 60 s ahead, then 80 ms ahead. */
    ASSERT_EQ(gort_set_deadline(a, now() + 60 * GORT_SEC, GORT_READ), 0);
    op_start(&op, OP_READ, a, buf, sizeof buf, 20 * GORT_MS);
    dl = now() + 80 * GORT_MS;
    ASSERT_EQ(gort_set_deadline(a, dl, GORT_READ), 0);
    op_wait(&op);
    ASSERT_EQ(op.r, -1);
    ASSERT_EQ(op.err, ETIMEDOUT);
    check_deadline("reader whose deadline was moved earlier", op.t1, dl);

    /* Cleared while waiting: the reader stays, then gets data. */
    ASSERT_EQ(gort_set_deadline(a, now() + 100 * GORT_MS, GORT_READ), 0);
    op_start(&op, OP_READ, a, buf, sizeof buf, 10 * GORT_MS);
    ASSERT_EQ(gort_set_deadline(a, 0, GORT_READ), 0);
    op_still_blocked(&op, 250 * GORT_MS, "reader whose deadline was cleared");
    write_all(b, "abc", 3);
    op_wait(&op);
    ASSERT_EQ(op.r, 3);
    ASSERT(memcmp(buf, "abc", 3) == 0);

    /* A write deadline (even a past one) leaves a waiting reader. */
    op_start(&op, OP_READ, a, buf, sizeof buf, 30 * GORT_MS);
    ASSERT_EQ(gort_set_deadline(a, now() - GORT_MS, GORT_WRITE), 0);
    op_still_blocked(&op, 150 * GORT_MS, "reader after a write deadline");
    write_all(b, "r", 1);
    op_wait(&op);
    ASSERT_EQ(op.r, 1);
    ASSERT_EQ(gort_set_deadline(a, 0, GORT_WRITE), 0);

    /* A writer parked on a full socket, woken by a write deadline; a read
     * deadline leaves it alone first. */
    size_t big = 64u << 20;
    char *wbuf = calloc(1, big);
    ASSERT(wbuf != NULL);
    op_start(&op, OP_WRITE, a, wbuf, big, 50 * GORT_MS);
    ASSERT_EQ(gort_set_deadline(a, now() - GORT_MS, GORT_READ), 0);
    op_still_blocked(&op, 150 * GORT_MS, "writer after a read deadline");
    dl = now() + 50 * GORT_MS;
    ASSERT_EQ(gort_set_deadline(a, dl, GORT_WRITE), 0);
    op_wait(&op);
    if (op.err != ETIMEDOUT || op.r <= 0 || op.r >= (int64_t)big)
        TEST_FAIL_("writer woken by a write deadline: %" PRId64
                   " (errno %s), expected a short count with ETIMEDOUT",
                   op.r, strerror(op.err));
    check_deadline("writer woken by a write deadline", op.t1, dl);
    free(wbuf);
    close_or_die(a);
    close_or_die(b);
}

TEST_IMPL(net_deadline_while_blocked_1p)
{
    start(1, deadline_blocked_main, NULL);
    return 0;
}

TEST_IMPL(net_deadline_while_blocked_2p)
{
    start(2, deadline_blocked_main, NULL);
    return 0;
}

/* A deadline on an accept. */
static void accept_deadline_main(void *arg)
{
    (void)arg;
    int port;
    int l = listen_lo(4, &port);
    int64_t dl = now() + 80 * GORT_MS;
    ASSERT_EQ(gort_set_deadline(l, dl, GORT_READ), 0);
    ASSERT_ERRNO(gort_accept(l, NULL, NULL), ETIMEDOUT);
    check_deadline("gort_accept with a deadline", now(), dl);
    ASSERT_EQ(gort_set_deadline(l, 0, GORT_READ), 0);
    int c = dial_lo(port);
    int s = accept_or_die(l);
    close_or_die(s);
    close_or_die(c);
    close_or_die(l);
}

TEST_IMPL(net_accept_deadline)
{
    start(2, accept_deadline_main, NULL);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* gort_close from another goroutine                                        */
/* ------------------------------------------------------------------------ */

static void check_woken_ebadf(io_op *op, int64_t tclose, const char *what)
{
    op_wait(op);
    if (op->err != EBADF)
        TEST_FAIL_("%s: %" PRId64 ", errno %d (%s); expected EBADF", what,
                   op->r, op->err, strerror(op->err));
    if (op->t1 - tclose > AT_ONCE)
        TEST_FAIL_("%s: woke %.3f ms after gort_close", what,
                   ms(op->t1 - tclose));
}

static void close_wakes_main(void *arg)
{
    (void)arg;
    char buf[16];
    io_op op, op2;

    /* A reader. */
    int a, b;
    tcp_pair(&a, &b);
    op_start(&op, OP_READ, a, buf, sizeof buf, 50 * GORT_MS);
    ASSERT(!op_finished(&op));
    int64_t tc = now();
    close_or_die(a);
    check_woken_ebadf(&op, tc, "reader");
    ASSERT_EQ(op.r, -1);
    /* The peer sees end of stream. */
    ASSERT_EQ(gort_read(b, buf, sizeof buf), 0);
    close_or_die(b);

    /* A reader and a writer on one socket, both woken. */
    tcp_pair(&a, &b);
    size_t big = 64u << 20;
    char *wbuf = calloc(1, big);
    ASSERT(wbuf != NULL);
    op_start(&op, OP_READ, a, buf, sizeof buf, 10 * GORT_MS);
    op_start(&op2, OP_WRITE, a, wbuf, big, 100 * GORT_MS);
    ASSERT(!op_finished(&op));
    ASSERT(!op_finished(&op2));
    tc = now();
    close_or_die(a);
    check_woken_ebadf(&op, tc, "reader beside a writer");
    check_woken_ebadf(&op2, tc, "writer parked on a full socket");
    ASSERT(op2.r == -1 || (op2.r > 0 && op2.r < (int64_t)big));
    free(wbuf);
    close_or_die(b);

    /* An acceptor. */
    int port;
    int l = listen_lo(4, &port);
    op_start(&op, OP_ACCEPT, l, NULL, 0, 50 * GORT_MS);
    ASSERT(!op_finished(&op));
    tc = now();
    close_or_die(l);
    check_woken_ebadf(&op, tc, "acceptor");
    ASSERT_EQ(op.r, -1);

    /* gort_wait_fd, on a socket and on a pipe. */
    tcp_pair(&a, &b);
    op.events = GORT_READ;
    op.timeout = -1;
    op_start(&op, OP_WAIT, a, NULL, 0, 50 * GORT_MS);
    ASSERT(!op_finished(&op));
    tc = now();
    close_or_die(a);
    check_woken_ebadf(&op, tc, "gort_wait_fd on a socket");
    close_or_die(b);

    int p[2];
    ASSERT_EQ(pipe2(p, O_NONBLOCK), 0);
    op.events = GORT_READ;
    op.timeout = 30 * GORT_SEC;
    op_start(&op, OP_WAIT, p[0], NULL, 0, 50 * GORT_MS);
    ASSERT(!op_finished(&op));
    tc = now();
    close_or_die(p[0]);
    check_woken_ebadf(&op, tc, "gort_wait_fd on a pipe");
    close_or_die(p[1]);

    /* A reader in a goroutine parked on a non-blocking pipe. */
    ASSERT_EQ(pipe2(p, O_NONBLOCK), 0);
    op_start(&op, OP_READ, p[0], buf, sizeof buf, 50 * GORT_MS);
    ASSERT(!op_finished(&op));
    tc = now();
    close_or_die(p[0]);
    check_woken_ebadf(&op, tc, "reader on a non-blocking pipe");
    close_or_die(p[1]);
}

TEST_IMPL(net_close_wakes_1p)
{
    start(1, close_wakes_main, NULL);
    return 0;
}

TEST_IMPL(net_close_wakes_2p)
{
    start(2, close_wakes_main, NULL);
    return 0;
}

/* Moves fd to a number far above the lowest free one and returns it:
 * open(2) takes the lowest, so the number stays free once closed, even
 * if the runtime opens a file meanwhile (sysmon's /proc probe does). */
static int high_fd(int fd, int at)
{
    int h = fcntl(fd, F_DUPFD_CLOEXEC, at);
    ASSERT(h >= at);
    close_or_die(fd);
    return h;
}

/* After gort_close every call on the number gives EBADF. */
static void closed_fd_main(void *arg)
{
    (void)arg;
    char buf[4];
    int a, b;
    tcp_pair(&a, &b);
    a = high_fd(a, 900);
    int port;
    int l = high_fd(listen_lo(4, &port), 901);
    close_or_die(a);
    close_or_die(l);
    ASSERT_ERRNO(gort_read(a, buf, sizeof buf), EBADF);
    ASSERT_ERRNO(gort_write(a, "x", 1), EBADF);
    ASSERT_ERRNO(gort_set_deadline(a, now() + GORT_SEC, GORT_READ), EBADF);
    ASSERT_ERRNO(gort_wait_fd(a, GORT_READ, 0), EBADF);
    ASSERT_ERRNO(gort_wait_fd(a, GORT_WRITE, GORT_SEC), EBADF);
    ASSERT_ERRNO(gort_close(a), EBADF);
    ASSERT_ERRNO(gort_accept(l, NULL, NULL), EBADF);
    ASSERT_ERRNO(gort_close(l), EBADF);
    /* Numbers never opened. */
    ASSERT_ERRNO(gort_read(-1, buf, sizeof buf), EBADF);
    ASSERT_ERRNO(gort_write(-1, "x", 1), EBADF);
    ASSERT_ERRNO(gort_close(-1), EBADF);
    ASSERT_ERRNO(gort_wait_fd(-1, GORT_READ, 0), EBADF);
    close_or_die(b);

    /* The number, reused by a new connection, works normally. */
    tcp_pair(&a, &b);
    write_all(a, "hey", 3);
    read_full(b, buf, 3);
    ASSERT(memcmp(buf, "hey", 3) == 0);
    close_or_die(a);
    close_or_die(b);
}

TEST_IMPL(net_closed_fd_ebadf)
{
    start(2, closed_fd_main, NULL);
    return 0;
}

/* Close and reuse in a loop while readers park and wake: 2,000 rounds of
 * a pair whose reader is woken by gort_close, on 4 Ps. */
#define CR_ROUNDS 2000
static void close_race_main(void *arg)
{
    (void)arg;
    char buf[8];
    int64_t woke_ebadf = 0, got_data = 0;
    for (int i = 0; i < CR_ROUNDS; i++) {
        int a, b;
        tcp_pair(&a, &b);
        io_op op;
        op_start(&op, OP_READ, a, buf, sizeof buf, 0);
        if (i % 2)
            gort_yield();
        if (i % 3 == 0)
            write_all(b, "d", 1);
        close_or_die(a);
        op_wait(&op);
        if (op.r == 1) {
            got_data++;
        } else {
            if (op.r != -1 || op.err != EBADF)
                TEST_FAIL_("round %d: reader gave %" PRId64 " (%s)", i, op.r,
                           strerror(op.err));
            woke_ebadf++;
        }
        close_or_die(b);
    }
    printf("%d rounds: %" PRId64 " woken by close, %" PRId64 " got data\n",
           CR_ROUNDS, woke_ebadf, got_data);
}

TEST_IMPL(net_close_race_4p)
{
    start(4, close_race_main, NULL);
    return 0;
}

/* Numbers are reused at once by the kernel: a descriptor made right
 * after another one's gort_close (in another goroutine or thread) works
 * with every call.  One side churns socketpairs through gort, the other
 * makes pipes (mostly in blocking mode) and uses them at once; 2 s of
 * it, on 4 Ps, then with the pipe side on a plain thread. */
static _Atomic int fr_stop;
static _Atomic int64_t fr_rounds, fr_bad;
static char fr_first[256];

static void fr_note(const char *what, int fd, int64_t r, int e)
{
    if (atomic_fetch_add(&fr_bad, 1) == 0)
        snprintf(fr_first, sizeof fr_first,
                 "fresh pipe fd %d: %s gave %" PRId64 " (%s)", fd, what, r,
                 strerror(e));
}

static void fr_pipes_loop(void)
{
    for (int i = 0; !atomic_load(&fr_stop); i++) {
        int p[2];
        ASSERT_EQ(pipe2(p, O_CLOEXEC | (i % 4 == 0 ? O_NONBLOCK : 0)), 0);
        char c = 'p';
        errno = 0;
        ssize_t r = gort_write(p[1], &c, 1);
        if (r != 1) {
            fr_note("gort_write", p[1], r, errno);
        } else {
            /* (Only after a write that worked: a blocking pipe's read
             * would wait for ever.) */
            errno = 0;
            r = gort_read(p[0], &c, 1);
            if (r != 1)
                fr_note("gort_read", p[0], r, errno);
        }
        errno = 0;
        if (gort_close(p[0]) != 0) {
            fr_note("gort_close", p[0], -1, errno);
            close(p[0]);
        }
        errno = 0;
        if (gort_close(p[1]) != 0) {
            fr_note("gort_close", p[1], -1, errno);
            close(p[1]);
        }
        atomic_fetch_add(&fr_rounds, 1);
    }
}

static void fr_pipes_g(void *arg)
{
    (void)arg;
    fr_pipes_loop();
}

static void *fr_pipes_t(void *arg)
{
    (void)arg;
    fr_pipes_loop();
    return NULL;
}

static gort_waitgroup fr_wg;

static void fr_sockets(void *arg)
{
    (void)arg;
    while (!atomic_load(&fr_stop)) {
        int sv[2];
        ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        char c = 's';
        write_all(sv[0], &c, 1);
        read_full(sv[1], &c, 1);
        close_or_die(sv[0]);
        close_or_die(sv[1]);
    }
    gort_waitgroup_done(&fr_wg);
}

static void fd_reuse_main(void *arg)
{
    bool thread = arg != NULL;
    atomic_store(&fr_stop, 0);
    atomic_store(&fr_rounds, 0);
    atomic_store(&fr_bad, 0);
    gort_waitgroup_add(&fr_wg, 1);
    go_or_die(fr_sockets, NULL);
    pthread_t th;
    if (thread)
        ASSERT_EQ(pthread_create(&th, NULL, fr_pipes_t, NULL), 0);
    else
        go_or_die(fr_pipes_g, NULL);
    gort_sleep(2 * GORT_SEC);
    atomic_store(&fr_stop, 1);
    gort_waitgroup_wait(&fr_wg);
    if (thread)
        ASSERT_EQ(GORT_BLOCKING(pthread_join(th, NULL)), 0);
    else
        gort_sleep(50 * GORT_MS);
    printf("%s: %" PRId64 " pipe rounds, %" PRId64 " failed\n",
           thread ? "plain thread" : "goroutines", atomic_load(&fr_rounds),
           atomic_load(&fr_bad));
    if (atomic_load(&fr_bad) != 0)
        TEST_FAIL_("%" PRId64 " calls failed on fresh descriptors; first: %s",
                   atomic_load(&fr_bad), fr_first);
}

TEST_IMPL(net_fd_reuse_4p)
{
    start(4, fd_reuse_main, NULL);
    start(4, fd_reuse_main, (void *)1);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Dial and listen                                                          */
/* ------------------------------------------------------------------------ */

static void dial_refused_main(void *arg)
{
    (void)arg;
    int port;
    int l = listen_lo(4, &port);
    close_or_die(l);
    char a[64];
    snprintf(a, sizeof a, "127.0.0.1:%d", port);
    int64_t t0 = now();
    ASSERT_ERRNO(gort_tcp_dial(a, 5 * GORT_SEC), ECONNREFUSED);
    ASSERT_ERRNO(gort_tcp_dial(a, 0), ECONNREFUSED);
    ASSERT_ERRNO(gort_tcp_dial(a, -1), ECONNREFUSED);
    check_at_once("refused dials", t0);
}

TEST_IMPL(net_dial_refused)
{
    start(1, dial_refused_main, NULL);
    start(2, dial_refused_main, NULL);
    return 0;
}

/* A listener with backlog 1 and nobody accepting: once its queue is full
 * (Linux keeps backlog + 1), the kernel drops further SYNs and a dial
 * waits; its timeout gives ETIMEDOUT, not early, not a second late. */
static void dial_timeout_main(void *arg)
{
    (void)arg;
    int port;
    int l = listen_lo(1, &port);
    char a[64];
    snprintf(a, sizeof a, "127.0.0.1:%d", port);
    int held[16], nheld = 0;
    bool full = false;
    for (int i = 0; i < 16 && !full; i++) {
        errno = 0;
        int64_t t0 = now();
        int fd = gort_tcp_dial(a, 200 * GORT_MS);
        if (fd >= 0) {
            held[nheld++] = fd;
            continue;
        }
        if (errno != ETIMEDOUT)
            TEST_FAIL_("dial #%d to a full backlog: %s, expected ETIMEDOUT",
                       i, strerror(errno));
        ASSERT_GE(now() - t0, 200 * GORT_MS);
        full = true;
    }
    printf("%d dials completed before the backlog was full\n", nheld);
    ASSERT(full);
    ASSERT_GE(nheld, 1);
    for (int k = 0; k < 3; k++) {
        int64_t d = (100 + 150 * k) * GORT_MS;
        int64_t t0 = now();
        ASSERT_ERRNO(gort_tcp_dial(a, d), ETIMEDOUT);
        check_deadline("gort_tcp_dial timeout", now(), t0 + d);
    }
    for (int i = 0; i < nheld; i++)
        close_or_die(held[i]);
    close_or_die(l);
}

TEST_IMPL(net_dial_timeout_backlog)
{
    start(1, dial_timeout_main, NULL);
    start(2, dial_timeout_main, NULL);
    return 0;
}

/* A dial that waits parks only its goroutine: on 1 P a counter keeps
 * going meanwhile. */
static _Atomic int cnt_stop;
static _Atomic int64_t cnt_ticks;

static void counter_fn(void *arg)
{
    (void)arg;
    while (!atomic_load(&cnt_stop)) {
        atomic_fetch_add(&cnt_ticks, 1);
        gort_sleep(GORT_MS);
    }
}

static void dial_parks_main(void *arg)
{
    (void)arg;
    int port;
    int l = listen_lo(1, &port);
    char a[64];
    snprintf(a, sizeof a, "127.0.0.1:%d", port);
    int held[16], nheld = 0;
    for (;;) {
        ASSERT_LT(nheld, 16);
        int fd = gort_tcp_dial(a, 200 * GORT_MS);
        if (fd < 0) {
            ASSERT_EQ(errno, ETIMEDOUT);
            break;
        }
        held[nheld++] = fd;
    }
    atomic_store(&cnt_ticks, 0);
    go_or_die(counter_fn, NULL);
    ASSERT_ERRNO(gort_tcp_dial(a, 300 * GORT_MS), ETIMEDOUT);
    int64_t ticks = atomic_load(&cnt_ticks);
    printf("a counter ticked %" PRId64 " times while the dial waited 300 ms\n",
           ticks);
    ASSERT_GE(ticks, 20);
    atomic_store(&cnt_stop, 1);
    for (int i = 0; i < nheld; i++)
        close_or_die(held[i]);
    close_or_die(l);
}

TEST_IMPL(net_dial_parks_1p)
{
    start(1, dial_parks_main, NULL);
    return 0;
}

/* An echo check over a fresh connection from `addr` to listener l. */
static void check_conn(int l, const char *addr, int want_family)
{
    int c = dial_addr(addr);
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    memset(&ss, 0, sizeof ss);
    errno = 0;
    int s = gort_accept(l, (struct sockaddr *)&ss, &len);
    if (s < 0)
        TEST_FAIL_("gort_accept after dialing %s: %s", addr, strerror(errno));
    if (want_family != 0)
        ASSERT_EQ(ss.ss_family, want_family);
    write_all(c, "hello", 5);
    char buf[5];
    read_full(s, buf, 5);
    ASSERT(memcmp(buf, "hello", 5) == 0);
    write_all(s, "back!", 5);
    read_full(c, buf, 5);
    ASSERT(memcmp(buf, "back!", 5) == 0);
    close_or_die(c);
    ASSERT_EQ(gort_read(s, buf, 5), 0);
    close_or_die(s);
}

/* ":0": a free port, reachable on 127.0.0.1 (and [::1] when present);
 * "localhost:port" resolves; "localhost:0" listens. */
static bool ipv6_loopback_available(void)
{
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    if (fd < 0)
        return false;
    struct sockaddr_in6 sa;
    memset(&sa, 0, sizeof sa);
    sa.sin6_family = AF_INET6;
    sa.sin6_addr = in6addr_loopback;
    bool ok = bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    return ok;
}

static void listen_port0_main(void *arg)
{
    (void)arg;
    char a[64];
    int fam = 0;
    int l = listen_at(":0", 16, NULL);
    int port = local_port(l, &fam);
    ASSERT_GT(port, 0);
    printf(":0 listens on port %d (family %s)\n", port,
           fam == AF_INET6 ? "AF_INET6" : "AF_INET");
    snprintf(a, sizeof a, "127.0.0.1:%d", port);
    check_conn(l, a, 0);
    snprintf(a, sizeof a, "localhost:%d", port);
    check_conn(l, a, 0);
    bool v6 = ipv6_loopback_available();
    if (v6) {
        snprintf(a, sizeof a, "[::1]:%d", port);
        check_conn(l, a, AF_INET6);
    } else {
        printf("IPv6 ::1 not available here: [::1] dial to \":0\" not run\n");
    }
    close_or_die(l);

    /* Two ":0" listeners get different ports. */
    int l1 = listen_at(":0", 0, NULL), l2 = listen_at(":0", 0, NULL);
    ASSERT_NE(local_port(l1, NULL), local_port(l2, NULL));
    close_or_die(l1);
    close_or_die(l2);

    /* "127.0.0.1:0" then "127.0.0.1:port". */
    l = listen_lo(16, &port);
    ASSERT_GT(port, 0);
    snprintf(a, sizeof a, "127.0.0.1:%d", port);
    check_conn(l, a, AF_INET);
    close_or_die(l);

    /* "localhost:0". */
    l = listen_at("localhost:0", 16, NULL);
    port = local_port(l, &fam);
    snprintf(a, sizeof a, "localhost:%d", port);
    check_conn(l, a, fam);
    close_or_die(l);

    /* SO_REUSEADDR (set, as Go does): the same port can be listened on
     * again right after a connection on it was closed. */
    l = listen_lo(16, &port);
    snprintf(a, sizeof a, "127.0.0.1:%d", port);
    int c = dial_addr(a);
    int s = accept_or_die(l);
    close_or_die(s);  /* the server side closes first: TIME_WAIT */
    close_or_die(c);
    close_or_die(l);
    l = listen_at(a, 16, NULL);
    check_conn(l, a, AF_INET);
    close_or_die(l);
}

TEST_IMPL(net_listen_port0)
{
    start(2, listen_port0_main, NULL);
    return 0;
}

static void ipv6_main(void *arg)
{
    (void)arg;
    if (!ipv6_loopback_available()) {
        /* Nothing to test here; say so (the IPv4 tests still ran). */
        printf("IPv6 ::1 not available here: the IPv6 part was not run\n");
        return;
    }
    char a[64];
    int fam = 0;
    int l = listen_at("[::1]:0", 16, NULL);
    int port = local_port(l, &fam);
    ASSERT_EQ(fam, AF_INET6);
    snprintf(a, sizeof a, "[::1]:%d", port);
    check_conn(l, a, AF_INET6);
    /* Long form. */
    snprintf(a, sizeof a, "[0:0:0:0:0:0:0:1]:%d", port);
    check_conn(l, a, AF_INET6);
    /* Refused on IPv6 too. */
    close_or_die(l);
    snprintf(a, sizeof a, "[::1]:%d", port);
    ASSERT_ERRNO(gort_tcp_dial(a, GORT_SEC), ECONNREFUSED);
    printf("IPv6 ::1: listen, dial, accept, refused: ok\n");
}

TEST_IMPL(net_dial_ipv6)
{
    start(2, ipv6_main, NULL);
    return 0;
}

/* Malformed "host:port" strings: EINVAL from both calls, at once. */
static const char *const bad_addrs[] = {
    "",
    "127.0.0.1",            /* no port */
    "8080",                 /* no colon */
    "127.0.0.1:99999",      /* port out of range */
    "127.0.0.1:65536",
    "127.0.0.1:-1",
    "127.0.0.1:80:80",      /* too many colons */
    "::1:80",               /* IPv6 without brackets */
    "[::1:80",              /* missing ] */
    "[::1]80",              /* missing : after ] */
    "127.0.0.1:8o",         /* not a number */
};

static void bad_addr_main(void *arg)
{
    (void)arg;
    int64_t t0 = now();
    size_t n = sizeof bad_addrs / sizeof bad_addrs[0];
    for (size_t i = 0; i < n; i++) {
        errno = 0;
        int fd = gort_tcp_dial(bad_addrs[i], GORT_SEC);
        int e = errno;
        if (fd != -1 || e != EINVAL)
            TEST_FAIL_("gort_tcp_dial(\"%s\"): %d, errno %d (%s); expected "
                       "EINVAL", bad_addrs[i], fd, e, strerror(e));
        errno = 0;
        fd = gort_tcp_listen(bad_addrs[i], 4);
        e = errno;
        if (fd != -1 || e != EINVAL)
            TEST_FAIL_("gort_tcp_listen(\"%s\"): %d, errno %d (%s); expected "
                       "EINVAL", bad_addrs[i], fd, e, strerror(e));
    }
    check_at_once("malformed addresses", t0);
}

TEST_IMPL(net_addr_malformed)
{
    start(1, bad_addr_main, NULL);
    return 0;
}

/* Descriptors from listen, dial and accept are non-blocking and
 * close-on-exec; dialed and accepted ones have TCP_NODELAY; the listener
 * has SO_REUSEADDR; gort_accept fills sa/len with the peer. */
static void check_nb_cloexec(int fd, const char *what)
{
    if (!(fd_flags(fd) & O_NONBLOCK))
        TEST_FAIL_("%s: not O_NONBLOCK", what);
    int fdfl = fcntl(fd, F_GETFD);
    ASSERT(fdfl != -1);
    if (!(fdfl & FD_CLOEXEC))
        TEST_FAIL_("%s: not FD_CLOEXEC", what);
}

static int sockopt_int(int fd, int level, int name)
{
    int v = -1;
    socklen_t len = sizeof v;
    ASSERT_EQ(getsockopt(fd, level, name, &v, &len), 0);
    return v;
}

/* Go's keep-alive (docs/net.md): on, 15 s idle, 15 s between probes. */
static void check_keepalive(int fd, const char *what)
{
    if (sockopt_int(fd, SOL_SOCKET, SO_KEEPALIVE) == 0)
        TEST_FAIL_("%s: SO_KEEPALIVE is off", what);
    int idle = sockopt_int(fd, IPPROTO_TCP, TCP_KEEPIDLE);
    int intvl = sockopt_int(fd, IPPROTO_TCP, TCP_KEEPINTVL);
    if (idle != 15 || intvl != 15)
        TEST_FAIL_("%s: TCP_KEEPIDLE %d s, TCP_KEEPINTVL %d s; expected 15 "
                   "and 15", what, idle, intvl);
}

static void fd_flags_main(void *arg)
{
    (void)arg;
    int port;
    int l = listen_lo(4, &port);
    check_nb_cloexec(l, "listener");
    ASSERT_NE(sockopt_int(l, SOL_SOCKET, SO_REUSEADDR), 0);
    int c = dial_lo(port);
    check_nb_cloexec(c, "dialed");
    ASSERT_NE(sockopt_int(c, IPPROTO_TCP, TCP_NODELAY), 0);
    check_keepalive(c, "dialed");
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    socklen_t len = sizeof sa;
    int s = gort_accept(l, (struct sockaddr *)&sa, &len);
    ASSERT_GE(s, 0);
    check_nb_cloexec(s, "accepted");
    ASSERT_NE(sockopt_int(s, IPPROTO_TCP, TCP_NODELAY), 0);
    check_keepalive(s, "accepted");
    ASSERT_EQ(len, sizeof sa);
    ASSERT_EQ(sa.sin_family, AF_INET);
    ASSERT_EQ(ntohl(sa.sin_addr.s_addr), INADDR_LOOPBACK);
    ASSERT_EQ(ntohs(sa.sin_port), local_port(c, NULL));
    close_or_die(s);
    close_or_die(c);
    /* sa NULL, len NULL. */
    c = dial_lo(port);
    s = gort_accept(l, NULL, NULL);
    ASSERT_GE(s, 0);
    close_or_die(s);
    close_or_die(c);
    close_or_die(l);
}

TEST_IMPL(net_fd_flags)
{
    start(1, fd_flags_main, NULL);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* EMFILE on accept                                                         */
/* ------------------------------------------------------------------------ */

static int *em_fillers;
static int em_nfill;

/* Opens /dev/null until EMFILE. */
static void em_fill(void)
{
    for (;;) {
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            ASSERT_EQ(errno, EMFILE);
            return;
        }
        em_fillers[em_nfill++] = fd;
    }
}

/* Fills the table so that it stays full for the next millisecond.  sysmon
 * opens /proc/self/task/TID/syscall for a moment when a goroutine has run
 * 1 ms without switching (docs/preemption.md, the rescue probe): if that
 * happens during em_fill, its slot comes free just after.  So fill, switch
 * (the probe's clock restarts), and take whatever came free. */
static void em_fill_settled(void)
{
    em_fill();
    gort_sleep(GORT_MS);
    em_fill();
}

/* The pipes the process holds (fd < 1024), as a bitmap. */
static void pipes_held(uint8_t map[128])
{
    memset(map, 0, 128);
    for (int fd = 0; fd < 1024; fd++) {
        char path[64], target[64];
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        ssize_t len = readlink(path, target, sizeof target - 1);
        if (len > 0) {
            target[len] = '\0';
            if (strncmp(target, "pipe:", 5) == 0)
                map[fd / 8] |= (uint8_t)(1u << (fd % 8));
        }
    }
}

/* Before gort_run: what the test inherited. */
static uint8_t em_pipes_before[128];

/* True if a pipe is open that was not before gort_run. */
static bool new_pipe_held(void)
{
    uint8_t now_map[128];
    pipes_held(now_map);
    for (int i = 0; i < 128; i++)
        if (now_map[i] & ~em_pipes_before[i])
            return true;
    return false;
}

static void accept_emfile_main(void *arg)
{
    (void)arg;
    /* The runtime holds a pipe for a moment at start-up (sysmon's
     * calibration, src/preempt.c): let it close first, or it frees two
     * slots of the full table behind the test's back. */
    gort_sleep(300 * GORT_MS);
    int64_t give_up = now() + 5 * GORT_SEC;
    while (new_pipe_held()) {
        if (now() > give_up)
            TEST_FAIL_("%s", "the process still holds a pipe after 5 s");
        gort_sleep(10 * GORT_MS);
    }
    int port;
    int l = listen_lo(16, &port);
    /* A connection queued before the table fills. */
    int c1 = dial_lo(port);
    /* A socket for a second connection, connected only once the table is
     * full, while a goroutine is parked in gort_accept. */
    int c2 = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ASSERT(c2 >= 0);

    struct rlimit rl;
    ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
    rl.rlim_cur = 256;
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &rl), 0);
    em_fillers = calloc(256, sizeof *em_fillers);
    ASSERT(em_fillers != NULL);
    em_fill_settled();
    printf("table full after %d more descriptors\n", em_nfill);

    /* The queued one: EMFILE, at once, and it stays queued. */
    int64_t t0 = now();
    ASSERT_ERRNO(gort_accept(l, NULL, NULL), EMFILE);
    ASSERT_ERRNO(gort_accept(l, NULL, NULL), EMFILE);
    check_at_once("gort_accept with the table full", t0);
    /* The runtime goes on: sleeps, goroutines, channels. */
    gort_sleep(5 * GORT_MS);
    close(em_fillers[--em_nfill]);
    int s1 = accept_or_die(l);
    write_all(c1, "one", 3);
    char buf[3];
    read_full(s1, buf, 3);
    ASSERT(memcmp(buf, "one", 3) == 0);

    /* The table full (s1 took the slot) and nothing queued: gort_accept
     * parks (docs/net.md: Linux says EMFILE before it looks at the queue;
     * gort returns it only with a connection queued).  A connection
     * comes: the acceptor wakes to EMFILE, and retries as servers do (Go's
     * http.Server sleeps and retries). */
    em_fill_settled();
    io_op op;
    op_start(&op, OP_ACCEPT, l, NULL, 0, 30 * GORT_MS);
    op_still_blocked(&op, 100 * GORT_MS,
                     "gort_accept with the table full and nothing queued");
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons((uint16_t)port);
    int r = connect(c2, (struct sockaddr *)&sa, sizeof sa);
    ASSERT(r == 0 || errno == EINPROGRESS);
    op_wait(&op);
    if (op.r != -1 || op.err != EMFILE)
        TEST_FAIL_("parked gort_accept woken by a connection with the table "
                   "full: %" PRId64 " (%s), expected EMFILE",
                   op.r, strerror(op.err));
    int tries = 0;
    int s2;
    for (;;) {
        errno = 0;
        s2 = gort_accept(l, NULL, NULL);
        if (s2 >= 0)
            break;
        ASSERT_EQ(errno, EMFILE);
        if (++tries == 3)
            close(em_fillers[--em_nfill]);
        ASSERT_LT(tries, 1000);
        gort_sleep(GORT_MS);
    }
    ASSERT_GE(tries, 3);
    ASSERT_EQ(gort_wait_fd(c2, GORT_WRITE, 5 * GORT_SEC), GORT_WRITE);
    write_all(s2, "two", 3);
    read_full(c2, buf, 3);
    ASSERT(memcmp(buf, "two", 3) == 0);

    while (em_nfill > 0)
        close(em_fillers[--em_nfill]);
    close_or_die(s1);
    close_or_die(s2);
    close_or_die(c1);
    close_or_die(c2);
    close_or_die(l);
    /* Everything works again. */
    int a, b;
    tcp_pair(&a, &b);
    close_or_die(a);
    close_or_die(b);
}

TEST_IMPL(net_accept_emfile)
{
    pipes_held(em_pipes_before);
    start(1, accept_emfile_main, NULL);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Peer reset                                                               */
/* ------------------------------------------------------------------------ */

static void check_reset_read(int64_t r, int e, const char *what)
{
    if (!(r == 0 || (r == -1 && e == ECONNRESET)))
        TEST_FAIL_("%s: %" PRId64 ", errno %d (%s); expected ECONNRESET or 0",
                   what, r, e, strerror(e));
}

static void check_reset_write(int64_t r, int e, const char *what)
{
    if (!(r == -1 && (e == EPIPE || e == ECONNRESET)))
        TEST_FAIL_("%s: %" PRId64 ", errno %d (%s); expected EPIPE or "
                   "ECONNRESET", what, r, e, strerror(e));
}

static void peer_reset_main(void *arg)
{
    (void)arg;
    char buf[64] = {0};
    int a, b;

    /* Reset, then read, then writes. */
    tcp_pair(&a, &b);
    reset_close(b);
    gort_sleep(20 * GORT_MS);
    errno = 0;
    ssize_t r = gort_read(a, buf, sizeof buf);
    check_reset_read(r, errno, "read after a reset");
    for (int i = 0; i < 5; i++) {
        errno = 0;
        r = gort_write(a, buf, sizeof buf);
        check_reset_write(r, errno, "write after a reset");
    }
    close_or_die(a);

    /* Reset, then writes first. */
    tcp_pair(&a, &b);
    reset_close(b);
    gort_sleep(20 * GORT_MS);
    errno = 0;
    r = gort_write(a, buf, sizeof buf);
    int e = errno;
    if (!(r == -1 && (e == EPIPE || e == ECONNRESET)))
        TEST_FAIL_("first write after a reset: %zd (%s)", r, strerror(e));
    r = gort_write(a, buf, sizeof buf);
    check_reset_write(r, errno, "second write after a reset");
    close_or_die(a);

    /* A reader already parked when the reset comes. */
    tcp_pair(&a, &b);
    io_op op;
    op_start(&op, OP_READ, a, buf, sizeof buf, 50 * GORT_MS);
    ASSERT(!op_finished(&op));
    reset_close(b);
    op_wait(&op);
    check_reset_read(op.r, op.err, "parked reader woken by a reset");
    close_or_die(a);

    /* A writer parked on a full socket when the reset comes. */
    tcp_pair(&a, &b);
    size_t big = 64u << 20;
    char *wbuf = calloc(1, big);
    ASSERT(wbuf != NULL);
    op_start(&op, OP_WRITE, a, wbuf, big, 100 * GORT_MS);
    ASSERT(!op_finished(&op));
    reset_close(b);
    op_wait(&op);
    if (!((op.r == -1 || (op.r > 0 && op.r < (int64_t)big)) &&
          (op.err == EPIPE || op.err == ECONNRESET)))
        TEST_FAIL_("parked writer woken by a reset: %" PRId64 " (%s)", op.r,
                   strerror(op.err));
    free(wbuf);
    close_or_die(a);

    /* The peer closed normally with data we never read, then we write:
     * the reset that follows gives EPIPE/ECONNRESET, never SIGPIPE. */
    tcp_pair(&a, &b);
    write_all(a, "unread", 6);
    gort_sleep(10 * GORT_MS);
    close_or_die(b);
    gort_sleep(20 * GORT_MS);
    for (int i = 0; i < 5; i++) {
        errno = 0;
        r = gort_write(a, buf, sizeof buf);
        if (r == -1) {
            check_reset_write(r, errno, "write to a closed peer");
            break;
        }
        gort_sleep(5 * GORT_MS);
    }
    close_or_die(a);
    printf("still alive: no SIGPIPE\n");
}

TEST_IMPL(net_peer_reset)
{
    /* The runner's child has SIGPIPE at its default: a SIGPIPE would kill
     * this test. */
    start(1, peer_reset_main, NULL);
    start(2, peer_reset_main, NULL);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* gort_wait_fd                                                             */
/* ------------------------------------------------------------------------ */

static void delayed_pipe_write(void *arg)
{
    int fd = (int)(intptr_t)arg;
    gort_sleep(50 * GORT_MS);
    ASSERT_EQ(write(fd, "w", 1), 1);
}

/* On a pipe in blocking mode (the mode stays), then on one in
 * non-blocking mode. */
static void wait_fd_pipe_main(void *arg)
{
    (void)arg;
    for (int mode = 0; mode < 2; mode++) {
        int p[2];
        ASSERT_EQ(pipe2(p, mode ? O_NONBLOCK : 0), 0);
        int fl0 = fd_flags(p[0]), fl1 = fd_flags(p[1]);

        /* Not ready: timeout 0 polls, a timeout expires on time. */
        int64_t t0 = now();
        ASSERT_ERRNO(gort_wait_fd(p[0], GORT_READ, 0), ETIMEDOUT);
        check_at_once("gort_wait_fd with timeout 0", t0);
        t0 = now();
        ASSERT_ERRNO(gort_wait_fd(p[0], GORT_READ, 60 * GORT_MS), ETIMEDOUT);
        check_deadline("gort_wait_fd timeout", now(), t0 + 60 * GORT_MS);
        /* Ready: at once, with timeout -1 and 0. */
        t0 = now();
        ASSERT_EQ(gort_wait_fd(p[1], GORT_WRITE, -1), GORT_WRITE);
        ASSERT_EQ(gort_wait_fd(p[1], GORT_WRITE, 0), GORT_WRITE);
        ASSERT_EQ(gort_wait_fd(p[1], GORT_READ | GORT_WRITE, -1), GORT_WRITE);
        check_at_once("gort_wait_fd on a writable pipe", t0);

        /* Becomes ready later. */
        t0 = now();
        go_or_die(delayed_pipe_write, (void *)(intptr_t)p[1]);
        ASSERT_EQ(gort_wait_fd(p[0], GORT_READ, 10 * GORT_SEC), GORT_READ);
        ASSERT_GE(now() - t0, 50 * GORT_MS);
        /* Level-triggered: still ready, again and again, until read. */
        t0 = now();
        for (int i = 0; i < 100; i++) {
            ASSERT_EQ(gort_wait_fd(p[0], GORT_READ, -1), GORT_READ);
            ASSERT_EQ(gort_wait_fd(p[0], GORT_READ, 0), GORT_READ);
            ASSERT_EQ(gort_wait_fd(p[0], GORT_READ | GORT_WRITE, GORT_SEC),
                      GORT_READ);
        }
        check_at_once("300 gort_wait_fd on a ready pipe", t0);
        char c;
        ASSERT_EQ(read(p[0], &c, 1), 1);
        ASSERT_EQ(c, 'w');
        ASSERT_ERRNO(gort_wait_fd(p[0], GORT_READ, 0), ETIMEDOUT);
        /* Ready again after being drained (the edge was consumed). */
        ASSERT_EQ(write(p[1], "v", 1), 1);
        ASSERT_EQ(gort_wait_fd(p[0], GORT_READ, GORT_SEC), GORT_READ);
        ASSERT_EQ(read(p[0], &c, 1), 1);

        /* The pipe full: not writable, then writable once drained. */
        if (mode == 1) {
            char junk[4096];
            memset(junk, 0, sizeof junk);
            while (write(p[1], junk, sizeof junk) > 0) {
            }
            ASSERT_ERRNO(gort_wait_fd(p[1], GORT_WRITE, 20 * GORT_MS),
                         ETIMEDOUT);
            while (read(p[0], junk, sizeof junk) > 0) {
            }
            ASSERT_EQ(gort_wait_fd(p[1], GORT_WRITE, GORT_SEC), GORT_WRITE);
        }

        ASSERT_EQ(fd_flags(p[0]), fl0);
        ASSERT_EQ(fd_flags(p[1]), fl1);
        /* The write end closed: the read end is "readable" (hung up). */
        close_or_die(p[1]);
        ASSERT_EQ(gort_wait_fd(p[0], GORT_READ, GORT_SEC), GORT_READ);
        ASSERT_EQ(fd_flags(p[0]), fl0);
        close_or_die(p[0]);
    }
}

TEST_IMPL(net_wait_fd_pipe)
{
    start(1, wait_fd_pipe_main, NULL);
    start(2, wait_fd_pipe_main, NULL);
    return 0;
}

static void delayed_eventfd(void *arg)
{
    int fd = (int)(intptr_t)arg;
    gort_sleep(50 * GORT_MS);
    uint64_t v = 7;
    ASSERT_EQ(write(fd, &v, sizeof v), (ssize_t)sizeof v);
}

static void wait_fd_eventfd_main(void *arg)
{
    (void)arg;
    for (int mode = 0; mode < 2; mode++) {
        int e = eventfd(0, EFD_CLOEXEC | (mode ? EFD_NONBLOCK : 0));
        ASSERT(e >= 0);
        int fl = fd_flags(e);
        ASSERT_ERRNO(gort_wait_fd(e, GORT_READ, 0), ETIMEDOUT);
        ASSERT_EQ(gort_wait_fd(e, GORT_WRITE, 0), GORT_WRITE);
        int64_t t0 = now();
        go_or_die(delayed_eventfd, (void *)(intptr_t)e);
        ASSERT_EQ(gort_wait_fd(e, GORT_READ, 10 * GORT_SEC), GORT_READ);
        ASSERT_GE(now() - t0, 50 * GORT_MS);
        ASSERT_EQ(gort_wait_fd(e, GORT_READ, 0), GORT_READ);
        uint64_t v = 0;
        ASSERT_EQ(read(e, &v, sizeof v), (ssize_t)sizeof v);
        ASSERT_EQ(v, 7);
        t0 = now();
        ASSERT_ERRNO(gort_wait_fd(e, GORT_READ, 40 * GORT_MS), ETIMEDOUT);
        check_deadline("gort_wait_fd on an eventfd", now(), t0 + 40 * GORT_MS);
        ASSERT_EQ(fd_flags(e), fl);
        close_or_die(e);
    }
}

TEST_IMPL(net_wait_fd_eventfd)
{
    start(1, wait_fd_eventfd_main, NULL);
    start(2, wait_fd_eventfd_main, NULL);
    return 0;
}

static int udp_bound(int *port)
{
    int u = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ASSERT(u >= 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(bind(u, (struct sockaddr *)&sa, sizeof sa), 0);
    *port = local_port(u, NULL);
    return u;
}

static int udp_to_port;

static void delayed_udp_send(void *arg)
{
    int u = (int)(intptr_t)arg;
    gort_sleep(50 * GORT_MS);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons((uint16_t)udp_to_port);
    ASSERT_EQ(sendto(u, "dgram", 5, 0, (struct sockaddr *)&sa, sizeof sa), 5);
}

static void wait_fd_udp_main(void *arg)
{
    (void)arg;
    int p1, p2;
    int u1 = udp_bound(&p1), u2 = udp_bound(&p2);
    int fl = fd_flags(u1);
    ASSERT(!(fl & O_NONBLOCK));
    ASSERT_ERRNO(gort_wait_fd(u1, GORT_READ, 0), ETIMEDOUT);
    ASSERT_EQ(gort_wait_fd(u1, GORT_WRITE, 0), GORT_WRITE);
    ASSERT_EQ(gort_wait_fd(u1, GORT_READ | GORT_WRITE, -1), GORT_WRITE);
    for (int round = 0; round < 3; round++) {
        udp_to_port = p1;
        int64_t t0 = now();
        go_or_die(delayed_udp_send, (void *)(intptr_t)u2);
        ASSERT_EQ(gort_wait_fd(u1, GORT_READ, 10 * GORT_SEC), GORT_READ);
        ASSERT_GE(now() - t0, 50 * GORT_MS);
        ASSERT_EQ(gort_wait_fd(u1, GORT_READ | GORT_WRITE, -1),
                  GORT_READ | GORT_WRITE);
        char buf[16];
        ASSERT_EQ(recv(u1, buf, sizeof buf, MSG_DONTWAIT), 5);
        ASSERT(memcmp(buf, "dgram", 5) == 0);
    }
    int64_t t0 = now();
    ASSERT_ERRNO(gort_wait_fd(u1, GORT_READ, 30 * GORT_MS), ETIMEDOUT);
    check_deadline("gort_wait_fd on a UDP socket", now(), t0 + 30 * GORT_MS);
    /* gort.h, gort_wait_fd: "The descriptor's mode is not changed." */
    if (fd_flags(u1) != fl)
        TEST_FAIL_("gort_wait_fd changed a UDP socket's file status flags "
                   "from 0x%x to 0x%x", fl, fd_flags(u1));
    close_or_die(u1);
    close_or_die(u2);
}

TEST_IMPL(net_wait_fd_udp)
{
    start(1, wait_fd_udp_main, NULL);
    start(2, wait_fd_udp_main, NULL);
    return 0;
}

/* Many goroutines each in gort_wait_fd on its own pipe, on 1 P, woken in
 * a random order. */
#define WM_N 200
static int wm_pipes[WM_N][2];
static _Atomic int64_t wm_woken;
static gort_waitgroup wm_wg;

static void wm_waiter(void *arg)
{
    int i = (int)(intptr_t)arg;
    ASSERT_EQ(gort_wait_fd(wm_pipes[i][0], GORT_READ, 30 * GORT_SEC),
              GORT_READ);
    char c;
    ASSERT_EQ(read(wm_pipes[i][0], &c, 1), 1);
    ASSERT_EQ(c, (char)i);
    atomic_fetch_add(&wm_woken, 1);
    gort_waitgroup_done(&wm_wg);
}

static void wait_fd_many_main(void *arg)
{
    (void)arg;
    for (int i = 0; i < WM_N; i++)
        ASSERT_EQ(pipe2(wm_pipes[i], i % 2 ? O_NONBLOCK : 0), 0);
    gort_waitgroup_add(&wm_wg, WM_N);
    for (int i = 0; i < WM_N; i++)
        go_or_die(wm_waiter, (void *)(intptr_t)i);
    gort_sleep(50 * GORT_MS);
    ASSERT_EQ(atomic_load(&wm_woken), 0);
    int order[WM_N];
    for (int i = 0; i < WM_N; i++)
        order[i] = i;
    uint64_t s = 12345;
    for (int i = WM_N - 1; i > 0; i--) {
        int j = (int)(rnd(&s) % (uint64_t)(i + 1));
        int t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (int k = 0; k < WM_N; k++) {
        int i = order[k];
        char c = (char)i;
        ASSERT_EQ(write(wm_pipes[i][1], &c, 1), 1);
        if (k % 20 == 0)
            gort_sleep(GORT_MS);
    }
    gort_waitgroup_wait(&wm_wg);
    ASSERT_EQ(atomic_load(&wm_woken), WM_N);
    for (int i = 0; i < WM_N; i++) {
        close_or_die(wm_pipes[i][0]);
        close_or_die(wm_pipes[i][1]);
    }
}

TEST_IMPL(net_wait_fd_many_1p)
{
    start(1, wait_fd_many_main, NULL);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Pipes through gort_read / gort_write                                     */
/* ------------------------------------------------------------------------ */

/* A pipe in blocking mode: gort_read goes through the blocking-call path,
 * so on 1 P other goroutines keep running while it waits; the mode is not
 * changed. */
static void pipe_blocking_main(void *arg)
{
    (void)arg;
    int p[2];
    ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
    int fl0 = fd_flags(p[0]), fl1 = fd_flags(p[1]);
    ASSERT(!(fl0 & O_NONBLOCK));
    atomic_store(&cnt_stop, 0);
    atomic_store(&cnt_ticks, 0);
    go_or_die(counter_fn, NULL);

    char buf[16];
    io_op op;
    op_start(&op, OP_READ, p[0], buf, sizeof buf, 10 * GORT_MS);
    int64_t ticks0 = atomic_load(&cnt_ticks);
    gort_sleep(100 * GORT_MS);
    ASSERT(!op_finished(&op));
    int64_t ticks = atomic_load(&cnt_ticks) - ticks0;
    printf("counter ticked %" PRId64 " times while gort_read waited on a "
           "blocking pipe\n", ticks);
    ASSERT_GE(ticks, 10);
    write_all(p[1], "hello", 5);
    op_wait(&op);
    ASSERT_EQ(op.r, 5);
    ASSERT(memcmp(buf, "hello", 5) == 0);
    ASSERT_EQ(fd_flags(p[0]), fl0);
    ASSERT_EQ(fd_flags(p[1]), fl1);

    /* Data already there. */
    write_all(p[1], "again", 5);
    read_full(p[0], buf, 5);
    ASSERT(memcmp(buf, "again", 5) == 0);
    /* End of stream. */
    close_or_die(p[1]);
    ASSERT_EQ(gort_read(p[0], buf, sizeof buf), 0);
    ASSERT_EQ(fd_flags(p[0]), fl0);
    close_or_die(p[0]);
    atomic_store(&cnt_stop, 1);
}

TEST_IMPL(net_pipe_blocking_1p)
{
    start(1, pipe_blocking_main, NULL);
    return 0;
}

/* A pipe the program put in O_NONBLOCK mode: the reader parks in the
 * poller; the mode stays. */
static void pipe_nonblocking_main(void *arg)
{
    (void)arg;
    int p[2];
    ASSERT_EQ(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
    int fl0 = fd_flags(p[0]);
    atomic_store(&cnt_stop, 0);
    atomic_store(&cnt_ticks, 0);
    go_or_die(counter_fn, NULL);
    char buf[16];
    for (int i = 0; i < 20; i++) {
        io_op op;
        op_start(&op, OP_READ, p[0], buf, sizeof buf, i == 0 ? 50 * GORT_MS : 0);
        if (i == 0) {
            ASSERT(!op_finished(&op));
            ASSERT_GE(atomic_load(&cnt_ticks), 10);
        }
        char c = (char)('a' + i);
        write_all(p[1], &c, 1);
        op_wait(&op);
        ASSERT_EQ(op.r, 1);
        ASSERT_EQ(buf[0], c);
    }
    ASSERT_EQ(fd_flags(p[0]), fl0);
    close_or_die(p[1]);
    ASSERT_EQ(gort_read(p[0], buf, sizeof buf), 0);
    close_or_die(p[0]);
    atomic_store(&cnt_stop, 1);
}

TEST_IMPL(net_pipe_nonblocking_1p)
{
    start(1, pipe_nonblocking_main, NULL);
    return 0;
}

/* A socket the program made itself (socketpair, blocking mode) used
 * through gort: made non-blocking and registered on first use; the reader
 * parks and others run (1 P). */
static void foreign_socket_main(void *arg)
{
    (void)arg;
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    atomic_store(&cnt_stop, 0);
    atomic_store(&cnt_ticks, 0);
    go_or_die(counter_fn, NULL);
    char buf[16];
    io_op op;
    op_start(&op, OP_READ, sv[0], buf, sizeof buf, 50 * GORT_MS);
    ASSERT(!op_finished(&op));
    int64_t t0 = atomic_load(&cnt_ticks);
    gort_sleep(50 * GORT_MS);
    ASSERT_GE(atomic_load(&cnt_ticks) - t0, 10);
    write_all(sv[1], "unix", 4);
    op_wait(&op);
    ASSERT_EQ(op.r, 4);
    ASSERT(memcmp(buf, "unix", 4) == 0);
    /* A deadline works on it too. */
    int64_t dl = now() + 30 * GORT_MS;
    ASSERT_EQ(gort_set_deadline(sv[0], dl, GORT_READ), 0);
    ASSERT_ERRNO(gort_read(sv[0], buf, sizeof buf), ETIMEDOUT);
    check_deadline("read deadline on a socketpair", now(), dl);
    /* Closed from another goroutine while read. */
    ASSERT_EQ(gort_set_deadline(sv[0], 0, GORT_READ), 0);
    op_start(&op, OP_READ, sv[0], buf, sizeof buf, 30 * GORT_MS);
    int64_t tc = now();
    close_or_die(sv[0]);
    check_woken_ebadf(&op, tc, "reader on a socketpair");
    close_or_die(sv[1]);
    atomic_store(&cnt_stop, 1);
}

TEST_IMPL(net_foreign_socket_1p)
{
    start(1, foreign_socket_main, NULL);
    return 0;
}

/* A regular file is always ready. */
static void regular_file_main(void *arg)
{
    (void)arg;
    char path[] = "/tmp/gort-net-test-XXXXXX";
    int fd = mkstemp(path);
    ASSERT(fd >= 0);
    unlink(path);
    write_all(fd, "file data", 9);
    ASSERT_EQ(lseek(fd, 0, SEEK_SET), 0);
    char buf[16];
    read_full(fd, buf, 9);
    ASSERT(memcmp(buf, "file data", 9) == 0);
    ASSERT_EQ(gort_read(fd, buf, sizeof buf), 0);
    int64_t t0 = now();
    ASSERT_EQ(gort_wait_fd(fd, GORT_READ, -1), GORT_READ);
    ASSERT_EQ(gort_wait_fd(fd, GORT_WRITE, -1), GORT_WRITE);
    ASSERT_EQ(gort_wait_fd(fd, GORT_READ | GORT_WRITE, 0),
              GORT_READ | GORT_WRITE);
    check_at_once("gort_wait_fd on a regular file", t0);
    close_or_die(fd);
}

TEST_IMPL(net_regular_file)
{
    start(1, regular_file_main, NULL);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* One large gort_write to a slow reader                                    */
/* ------------------------------------------------------------------------ */

#define BW_BYTES (8u << 20)
static uint8_t *bw_buf;

typedef struct bw_res {
    ssize_t r;
    int err;
} bw_res;

static gort_chan *bw_done;

static void bw_writer(void *arg)
{
    int fd = (int)(intptr_t)arg;
    bw_res res;
    errno = 0;
    res.r = gort_write(fd, bw_buf, BW_BYTES);
    res.err = errno;
    close_or_die(fd);
    gort_chan_send(bw_done, &res);
}

/* Reads in chunks of 1..8 KiB, sleeping 1 ms every 64 reads, checking
 * every byte; then end of stream. */
static void bw_slow_read(int fd)
{
    uint8_t *b = malloc(8192);
    ASSERT(b != NULL);
    uint64_t s = 4242;
    size_t off = 0;
    int reads = 0;
    while (off < BW_BYTES) {
        size_t want = 1 + (size_t)(rnd(&s) % 8192);
        errno = 0;
        ssize_t r = gort_read(fd, b, want);
        if (r <= 0)
            TEST_FAIL_("slow reader at byte %zu: %zd (%s)", off, r,
                       r < 0 ? strerror(errno) : "end of stream");
        check_pat(b, (size_t)r, 3, off, "8 MiB write");
        off += (size_t)r;
        if (++reads % 64 == 0)
            gort_sleep(GORT_MS);
    }
    ASSERT_EQ(gort_read(fd, b, 8192), 0);
    free(b);
}

static void big_write_main(void *arg)
{
    int kind = (int)(intptr_t)arg;   /* 0 socket, 1 pipe O_NONBLOCK, 2 pipe */
    bw_buf = malloc(BW_BYTES);
    ASSERT(bw_buf != NULL);
    fill_pat(bw_buf, BW_BYTES, 3, 0);
    bw_done = mkchan(sizeof(bw_res), 1);
    int rd, wr;
    if (kind == 0) {
        tcp_pair(&rd, &wr);
    } else {
        int p[2];
        ASSERT_EQ(pipe2(p, kind == 1 ? O_NONBLOCK : 0), 0);
        rd = p[0];
        wr = p[1];
    }
    int64_t t0 = now();
    go_or_die(bw_writer, (void *)(intptr_t)wr);
    bw_slow_read(rd);
    bw_res res;
    ASSERT(gort_chan_recv(bw_done, &res));
    if (res.r != (ssize_t)BW_BYTES)
        TEST_FAIL_("gort_write of 8 MiB returned %zd (%s)", res.r,
                   strerror(res.err));
    printf("8 MiB to a slow reader (%s) on %d Ps: %.3f s\n",
           kind == 0 ? "socket" : kind == 1 ? "non-blocking pipe" : "pipe",
           gort_maxprocs(0), (double)(now() - t0) / 1e9);
    close_or_die(rd);
    gort_chan_free(bw_done);
    free(bw_buf);
}

TEST_IMPL(net_big_write_1p)
{
    for (intptr_t kind = 0; kind < 3; kind++)
        start(1, big_write_main, (void *)kind);
    return 0;
}

TEST_IMPL(net_big_write_2p)
{
    for (intptr_t kind = 0; kind < 3; kind++)
        start(2, big_write_main, (void *)kind);
    return 0;
}

/* Concurrent gort_writes on one descriptor do not interleave (gort.h):
 * 8 goroutines each write 16 records of 192 KiB (bigger than what the
 * socket takes at once, so every write parks part way) to one socket; a
 * slow reader finds every record whole and each writer's in order. */
#define WW_WRITERS 8
#define WW_RECORDS 16
#define WW_SIZE (192u * 1024)
static gort_waitgroup ww_wg;
static int ww_fd;

static void ww_fill(uint8_t *rec, uint32_t w, uint32_t k)
{
    fill_pat(rec, WW_SIZE, (uint64_t)w * 1000 + k, 0);
    memcpy(rec, &w, 4);
    memcpy(rec + 4, &k, 4);
}

static void ww_writer(void *arg)
{
    uint32_t w = (uint32_t)(uintptr_t)arg;
    uint8_t *rec = malloc(WW_SIZE);
    ASSERT(rec != NULL);
    for (uint32_t k = 0; k < WW_RECORDS; k++) {
        ww_fill(rec, w, k);
        write_all(ww_fd, rec, WW_SIZE);
    }
    free(rec);
    gort_waitgroup_done(&ww_wg);
}

static void write_whole_main(void *arg)
{
    (void)arg;
    int b;
    tcp_pair(&ww_fd, &b);
    /* Small buffers: a record never goes out in one send(2). */
    int sz = 32 * 1024;
    ASSERT_EQ(setsockopt(ww_fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz), 0);
    ASSERT_EQ(setsockopt(b, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz), 0);
    gort_waitgroup_add(&ww_wg, WW_WRITERS);
    for (int w = 0; w < WW_WRITERS; w++)
        go_or_die(ww_writer, (void *)(uintptr_t)w);
    uint8_t *rec = malloc(WW_SIZE), *want = malloc(WW_SIZE);
    ASSERT(rec != NULL && want != NULL);
    uint32_t next[WW_WRITERS] = {0};
    uint64_t s = 31;
    for (int n = 0; n < WW_WRITERS * WW_RECORDS; n++) {
        size_t got = 0;
        while (got < WW_SIZE) {
            size_t chunk = 1 + (size_t)(rnd(&s) % 65536);
            if (chunk > WW_SIZE - got)
                chunk = WW_SIZE - got;
            read_full(b, rec + got, chunk);
            got += chunk;
            if (rnd(&s) % 8 == 0)
                gort_sleep(100 * GORT_US);
        }
        uint32_t w, k;
        memcpy(&w, rec, 4);
        memcpy(&k, rec + 4, 4);
        if (w >= WW_WRITERS || k != next[w])
            TEST_FAIL_("record %d of the stream: header says writer %u "
                       "record %u (expected record %u of that writer): "
                       "writes interleaved", n, w, k,
                       w < WW_WRITERS ? next[w] : 0);
        ww_fill(want, w, k);
        for (size_t i = 0; i < WW_SIZE; i++)
            if (rec[i] != want[i])
                TEST_FAIL_("record %d (writer %u, #%u): byte %zu differs: "
                           "writes interleaved", n, w, k, i);
        next[w]++;
    }
    gort_waitgroup_wait(&ww_wg);
    close_or_die(ww_fd);
    ASSERT_EQ(gort_read(b, rec, 1), 0);
    free(rec);
    free(want);
    close_or_die(b);
}

TEST_IMPL(net_write_whole)
{
    start(1, write_whole_main, NULL);
    start(4, write_whole_main, NULL);
    return 0;
}

/* An unknown host: EADDRNOTAVAIL, or EAGAIN where no resolver answers
 * (gort.h).  RES_OPTIONS bounds glibc's resolver to one 1-s try. */
static void unknown_host_main(void *arg)
{
    (void)arg;
    int64_t t0 = now();
    errno = 0;
    int fd = gort_tcp_dial("no-such-host.invalid:80", 10 * GORT_SEC);
    int e = errno;
    printf("dial no-such-host.invalid: %d (%s) after %.3f ms\n", fd,
           strerror(e), ms(now() - t0));
    if (fd != -1 || (e != EADDRNOTAVAIL && e != EAGAIN))
        TEST_FAIL_("gort_tcp_dial(\"no-such-host.invalid:80\"): %d, errno "
                   "%d (%s); expected EADDRNOTAVAIL (or EAGAIN)", fd, e,
                   strerror(e));
    if (e == EAGAIN)
        printf("the resolver did not answer here (EAGAIN)\n");
}

TEST_IMPL(net_dial_unknown_host)
{
    TEST_SETENV("RES_OPTIONS", "timeout:1 attempts:1");
    start(1, unknown_host_main, NULL);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Plain threads                                                            */
/* ------------------------------------------------------------------------ */

/* A pthread that is not a goroutine: dial, write, read (which blocks the
 * thread until the server's delayed echo), wait_fd with a timeout, and
 * close; a second pthread listens and accepts a goroutine's dial. */
static _Atomic int64_t pt_port, pt_accepted_port;

static void *pt_client(void *arg)
{
    (void)arg;
    ASSERT_EQ(gort_self(), 0);
    int fd = dial_lo((int)atomic_load(&pt_port));
    char buf[1000];
    for (int k = 0; k < 5; k++) {
        fill_pat((uint8_t *)buf, sizeof buf, 77, (uint64_t)k * 1000);
        write_all(fd, buf, sizeof buf);
        memset(buf, 0, sizeof buf);
        read_full(fd, buf, sizeof buf);
        check_pat((uint8_t *)buf, sizeof buf, 77, (uint64_t)k * 1000,
                  "plain-thread echo");
    }
    int64_t t0 = now();
    ASSERT_ERRNO(gort_wait_fd(fd, GORT_READ, 50 * GORT_MS), ETIMEDOUT);
    check_deadline("gort_wait_fd timeout on a plain thread", now(),
                   t0 + 50 * GORT_MS);
    ASSERT_EQ(gort_wait_fd(fd, GORT_WRITE, GORT_SEC), GORT_WRITE);
    /* The server's goodbye comes 50 ms later: gort_read blocks. */
    t0 = now();
    write_all(fd, "bye", 3);
    read_full(fd, buf, 3);
    ASSERT(memcmp(buf, "bye", 3) == 0);
    ASSERT_GE(now() - t0, 50 * GORT_MS);
    ASSERT_EQ(gort_read(fd, buf, sizeof buf), 0);
    close_or_die(fd);
    ASSERT_ERRNO(gort_read(fd, buf, 1), EBADF);

    /* A blocking pipe from a plain thread. */
    int p[2];
    ASSERT_EQ(pipe(p), 0);
    write_all(p[1], "pp", 2);
    read_full(p[0], buf, 2);
    ASSERT(memcmp(buf, "pp", 2) == 0);
    close_or_die(p[0]);
    close_or_die(p[1]);
    return NULL;
}

static void *pt_server(void *arg)
{
    (void)arg;
    int port;
    int l = listen_lo(4, &port);
    atomic_store(&pt_port, port);
    /* Blocks the thread until the goroutine dials. */
    int s = accept_or_die(l);
    atomic_store(&pt_accepted_port, 1);
    char buf[4];
    read_full(s, buf, 4);
    ASSERT(memcmp(buf, "ping", 4) == 0);
    write_all(s, "pong", 4);
    close_or_die(s);
    close_or_die(l);
    return NULL;
}

static void plain_thread_main(void *arg)
{
    (void)arg;
    /* The goroutine side serves the client thread. */
    int port;
    int l = listen_lo(4, &port);
    atomic_store(&pt_port, port);
    pthread_t th;
    ASSERT_EQ(pthread_create(&th, NULL, pt_client, NULL), 0);
    int s = accept_or_die(l);
    char buf[1000];
    for (int k = 0; k < 5; k++) {
        read_full(s, buf, sizeof buf);
        if (k == 0)
            gort_sleep(50 * GORT_MS);
        write_all(s, buf, sizeof buf);
    }
    read_full(s, buf, 3);
    gort_sleep(50 * GORT_MS);
    write_all(s, buf, 3);
    close_or_die(s);
    ASSERT_EQ(GORT_BLOCKING(pthread_join(th, NULL)), 0);
    close_or_die(l);

    /* A thread listens and accepts; a goroutine dials after 50 ms. */
    atomic_store(&pt_port, 0);
    atomic_store(&pt_accepted_port, 0);
    ASSERT_EQ(pthread_create(&th, NULL, pt_server, NULL), 0);
    wait_atomic(&pt_port, 1, 10 * GORT_SEC);
    gort_sleep(50 * GORT_MS);
    ASSERT_EQ(atomic_load(&pt_accepted_port), 0);
    int c = dial_lo((int)atomic_load(&pt_port));
    write_all(c, "ping", 4);
    read_full(c, buf, 4);
    ASSERT(memcmp(buf, "pong", 4) == 0);
    ASSERT_EQ(GORT_BLOCKING(pthread_join(th, NULL)), 0);
    close_or_die(c);
}

TEST_IMPL(net_plain_thread)
{
    start(1, plain_thread_main, NULL);
    start(2, plain_thread_main, NULL);
    return 0;
}

/* gort_close from a goroutine wakes a plain thread blocked in gort_read
 * (docs/net.md: within a 20 ms poll slice). */
static _Atomic int64_t ptc_started;

static void *ptc_thread(void *arg)
{
    io_op *op = arg;
    char buf[4];
    op->t0 = now();
    atomic_store(&ptc_started, 1);
    errno = 0;
    op->r = gort_read(op->fd, buf, sizeof buf);
    op->err = errno;
    op->t1 = now();
    return NULL;
}

static void plain_thread_close_main(void *arg)
{
    (void)arg;
    int a, b;
    tcp_pair(&a, &b);
    io_op op;
    memset(&op, 0, sizeof op);
    op.fd = a;
    atomic_store(&ptc_started, 0);
    pthread_t th;
    ASSERT_EQ(pthread_create(&th, NULL, ptc_thread, &op), 0);
    wait_atomic(&ptc_started, 1, 10 * GORT_SEC);
    gort_sleep(100 * GORT_MS);
    int64_t tc = now();
    close_or_die(a);
    ASSERT_EQ(GORT_BLOCKING(pthread_join(th, NULL)), 0);
    if (op.r != -1 || op.err != EBADF)
        TEST_FAIL_("plain thread's gort_read after gort_close: %" PRId64
                   " (%s), expected EBADF", op.r, strerror(op.err));
    if (op.t1 - tc > AT_ONCE)
        TEST_FAIL_("plain thread woke %.3f ms after gort_close",
                   ms(op.t1 - tc));
    ASSERT_GE(op.t1 - op.t0, 100 * GORT_MS);
    close_or_die(b);
}

TEST_IMPL(net_plain_thread_close)
{
    start(2, plain_thread_close_main, NULL);
    return 0;
}

/* A deadline set on a descriptor that a plain thread reads. */
static void *ptd_thread(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[4];
    int64_t dl = now() + 60 * GORT_MS;
    ASSERT_EQ(gort_set_deadline(fd, dl, GORT_READ), 0);
    ASSERT_ERRNO(gort_read(fd, buf, sizeof buf), ETIMEDOUT);
    check_deadline("read deadline on a plain thread", now(), dl);
    ASSERT_EQ(gort_set_deadline(fd, 0, GORT_READ), 0);
    read_full(fd, buf, 4);
    ASSERT(memcmp(buf, "late", 4) == 0);
    return NULL;
}

static void plain_thread_deadline_main(void *arg)
{
    (void)arg;
    int a, b;
    tcp_pair(&a, &b);
    pthread_t th;
    ASSERT_EQ(pthread_create(&th, NULL, ptd_thread, (void *)(intptr_t)a), 0);
    gort_sleep(300 * GORT_MS);
    write_all(b, "late", 4);
    ASSERT_EQ(GORT_BLOCKING(pthread_join(th, NULL)), 0);
    close_or_die(a);
    close_or_die(b);
}

TEST_IMPL(net_plain_thread_deadline)
{
    start(2, plain_thread_deadline_main, NULL);
    return 0;
}

/* Before gort_run (and after it returned) the calls work on the calling
 * thread. */
static void no_runtime_io(void)
{
    ASSERT_EQ(gort_self(), 0);
    int a, b;
    tcp_pair(&a, &b);
    write_all(a, "norun", 5);
    char buf[8];
    read_full(b, buf, 5);
    ASSERT(memcmp(buf, "norun", 5) == 0);
    int64_t t0 = now();
    ASSERT_ERRNO(gort_wait_fd(b, GORT_READ, 30 * GORT_MS), ETIMEDOUT);
    check_deadline("gort_wait_fd outside the runtime", now(),
                   t0 + 30 * GORT_MS);
    close_or_die(a);
    ASSERT_EQ(gort_read(b, buf, sizeof buf), 0);
    close_or_die(b);
}

static void trivial_io_main(void *arg)
{
    (void)arg;
    int a, b;
    tcp_pair(&a, &b);
    write_all(a, "in", 2);
    char buf[2];
    read_full(b, buf, 2);
    close_or_die(a);
    close_or_die(b);
}

TEST_IMPL(net_plain_thread_no_runtime)
{
    no_runtime_io();
    start(2, trivial_io_main, NULL);
    no_runtime_io();
    start(1, trivial_io_main, NULL);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Deadlock detection and I/O                                               */
/* ------------------------------------------------------------------------ */

/* Goroutines waiting on descriptors are not asleep for good: main parked
 * in gort_accept while a goroutine sleeps and then dials; main parked in
 * gort_read of a pipe fed by a timer's goroutine; main parked in
 * gort_wait_fd until its timeout with nobody else; main parked on a
 * channel whose sender waits on a socket; main in gort_accept that a
 * plain thread (no channel ever) dials. */
static _Atomic int dl_port;

static void dl_dialer(void *arg)
{
    (void)arg;
    gort_sleep(100 * GORT_MS);
    int c = dial_lo(dl_port);
    write_all(c, "x", 1);
    close_or_die(c);
}

static void dl_pipe_feed(void *arg)
{
    int fd = (int)(intptr_t)arg;
    write_all(fd, "t", 1);
}

static void dl_sock_reader(void *arg)
{
    gort_chan *c = arg;
    int port;
    int l = listen_lo(4, &port);
    atomic_store(&dl_port, port);
    int s = accept_or_die(l);
    char x;
    read_full(s, &x, 1);
    close_or_die(s);
    close_or_die(l);
    gort_chan_send(c, &x);
}

static void *dl_thread_dialer(void *arg)
{
    (void)arg;
    usleep(100000);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    ASSERT(c >= 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons((uint16_t)dl_port);
    ASSERT_EQ(connect(c, (struct sockaddr *)&sa, sizeof sa), 0);
    ASSERT_EQ(write(c, "y", 1), 1);
    close(c);
    return NULL;
}

static void dl_main(void *arg)
{
    int mode = (int)(intptr_t)arg;
    char x = 0;
    switch (mode) {
    case 0: {
        int port;
        int l = listen_lo(4, &port);
        atomic_store(&dl_port, port);
        go_or_die(dl_dialer, NULL);
        int s = accept_or_die(l);
        read_full(s, &x, 1);
        close_or_die(s);
        close_or_die(l);
        printf("accepted %c\n", x);
        break;
    }
    case 1: {
        int p[2];
        ASSERT_EQ(pipe2(p, O_NONBLOCK), 0);
        gort_timer *t = gort_timer_after_func(100 * GORT_MS, dl_pipe_feed,
                                              (void *)(intptr_t)p[1]);
        ASSERT(t != NULL);
        read_full(p[0], &x, 1);
        printf("read %c\n", x);
        break;
    }
    case 2: {
        int p[2];
        ASSERT_EQ(pipe(p), 0);
        int a, b;
        tcp_pair(&a, &b);
        ASSERT_ERRNO(gort_wait_fd(p[0], GORT_READ, 100 * GORT_MS), ETIMEDOUT);
        ASSERT_EQ(gort_set_deadline(a, now() + 100 * GORT_MS, GORT_READ), 0);
        ASSERT_ERRNO(gort_read(a, &x, 1), ETIMEDOUT);
        printf("timed out\n");
        break;
    }
    case 3: {
        gort_chan *c = mkchan(1, 0);
        dl_port = 0;
        go_or_die(dl_sock_reader, c);
        while (dl_port == 0)
            gort_sleep(GORT_MS);
        go_or_die(dl_dialer, NULL);
        ASSERT(gort_chan_recv(c, &x));
        printf("received %c\n", x);
        break;
    }
    case 4: {
        int port;
        int l = listen_lo(4, &port);
        atomic_store(&dl_port, port);
        pthread_t th;
        ASSERT_EQ(pthread_create(&th, NULL, dl_thread_dialer, NULL), 0);
        int s = accept_or_die(l);
        read_full(s, &x, 1);
        printf("accepted %c\n", x);
        close_or_die(s);
        close_or_die(l);
        ASSERT_EQ(GORT_BLOCKING(pthread_join(th, NULL)), 0);
        break;
    }
    }
}

static void dl_child(void *arg)
{
    int v = (int)(intptr_t)arg;
    start(v >> 8, dl_main, (void *)(intptr_t)(v & 0xff));
    printf("gort_run returned\n");
}

TEST_IMPL(net_no_deadlock_io)
{
    static const char *const want[] = {
        "accepted x", "read t", "timed out", "received x", "accepted y",
    };
    for (int procs = 1; procs <= 2; procs++)
        for (int mode = 0; mode < 5; mode++) {
            const char *out = test_expect_child(
                dl_child, (void *)(intptr_t)(procs << 8 | mode), 0, want[mode],
                "deadlock", 30);
            ASSERT_STR_CONTAINS(out, "gort_run returned");
        }
    return 0;
}
