/*
 * echoload — a closed-loop TCP echo load generator (plain pthreads and
 * epoll; it does not use gort, so it measures any echo server alike).
 *
 * Each of C connections sends one message of S bytes, waits for the whole
 * echo, checks it byte for byte, and sends the next.  T threads each own
 * every T-th connection and drive them from one level-triggered epoll set:
 * one epoll_wait serves every connection that is ready, and the clock is
 * read once per epoll_wait, so the generator spends little CPU of its own
 * per round trip.  After a warm-up of W seconds it counts round trips for
 * D seconds and prints
 *
 *   echoload: <summary: rate, p50/p99 latency, its own CPU use>
 *   RESULT <name> <round trips per second> roundtrips/s
 *   RESULT <name>_p50 <median latency> us
 *   RESULT <name>_p99 <99th percentile latency> us
 *
 * (bench/run.sh's format).  The latency of a round trip runs from the
 * epoll_wait return that sent the message to the one that completed its
 * echo (histogram buckets of 1.6%).  A wrong byte, a short or long echo,
 * a connection closed or reset by the server: each counts as an error,
 * reported on stderr, and the exit status is then 1.  Bad usage: 2.
 *
 *   usage: echoload [-c conns] [-s bytes] [-d seconds] [-w seconds]
 *                   [-t threads] [-n name] [-W seconds] [-b] [host:]port
 *
 *   -c  connections (100; env ECHOLOAD_CONNS)
 *   -s  message size in bytes (64; ECHOLOAD_SIZE)
 *   -d  measured duration in seconds, fractions allowed (3; ECHOLOAD_DURATION)
 *   -w  warm-up before it in seconds (0.5; ECHOLOAD_WARMUP)
 *   -t  threads (1; ECHOLOAD_THREADS)
 *   -n  the name in the RESULT lines (echo)
 *   -W  how long to retry a refused connect, seconds (5)
 *   -b  busy-poll: epoll_wait with a zero timeout (spins its CPU)
 *
 * The address is "port" (127.0.0.1), "host:port" or "[v6addr]:port".
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "netaddr.h"

static const char *prog = "echoload";

/* ------------------------------------------------------------ histogram */

/* Log-linear buckets over nanoseconds: exact below 128, then 64 buckets
 * per power of two (1.6% wide). */
#define HSUB 6
#define HBUCKETS ((64 - HSUB + 1) << HSUB)

static inline unsigned hist_index(uint64_t v)
{
    if (v < (1u << (HSUB + 1)))
        return (unsigned)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    unsigned e = msb - HSUB;
    return (e << HSUB) + (unsigned)(v >> e);
}

/* The middle of bucket i, in nanoseconds. */
static double hist_value(unsigned i)
{
    if (i < (1u << (HSUB + 1)))
        return (double)i;
    unsigned e = (i >> HSUB) - 1;
    uint64_t m = i - (e << HSUB);
    return (double)(m << e) + (double)((uint64_t)1 << e) / 2.0;
}

/* The p-quantile (0 < p <= 1) of h, in nanoseconds; 0 when empty. */
static double hist_quantile(const uint64_t *h, double p)
{
    uint64_t total = 0, seen = 0;
    for (unsigned i = 0; i < HBUCKETS; i++)
        total += h[i];
    if (total == 0)
        return 0;
    uint64_t rank = (uint64_t)(p * (double)total + 0.999999);
    if (rank < 1)
        rank = 1;
    for (unsigned i = 0; i < HBUCKETS; i++) {
        seen += h[i];
        if (seen >= rank)
            return hist_value(i);
    }
    return hist_value(HBUCKETS - 1);
}

/* ---------------------------------------------------------------- state */

enum { PH_WARMUP, PH_MEASURE, PH_STOP };
static _Atomic int phase = PH_WARMUP;

typedef struct {
    int fd;
    uint32_t id;
    bool out_armed;         /* EPOLLOUT registered: a send is incomplete */
    size_t sent, got;       /* bytes of the current message */
    uint64_t seq;
    int64_t t_send;
    unsigned char *sbuf, *rbuf;
} conn;

typedef struct {
    pthread_t th;
    int tid, epfd, nconns, live;
    conn **conns;
    uint64_t roundtrips;
    uint64_t errors;
    uint64_t hist[HBUCKETS];
} __attribute__((aligned(64))) worker;

static size_t msg_size = 64;
static bool busy_poll;

static inline int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_ns(int64_t ns)
{
    struct timespec ts = {.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* The message a connection sends as its seq-th: a 16-byte header (seq,
 * connection id, ~seq) over a filler fixed per connection. */
static void fill_header(conn *c)
{
    unsigned char h[16];
    uint64_t s = c->seq, ns = ~c->seq;
    memcpy(h, &s, 8);
    memcpy(h + 8, &c->id, 4);
    memcpy(h + 12, &ns, 4);
    memcpy(c->sbuf, h, msg_size < 16 ? msg_size : 16);
}

static void conn_fail(worker *w, conn *c, const char *what, int err)
{
    if (atomic_load_explicit(&phase, memory_order_relaxed) == PH_STOP)
        return;
    if (err)
        fprintf(stderr, "%s: connection %u: %s: %s\n", prog, c->id, what,
                strerror(err));
    else
        fprintf(stderr, "%s: connection %u: %s\n", prog, c->id, what);
    w->errors++;
    close(c->fd);
    c->fd = -1;
    w->live--;
}

static void set_out(worker *w, conn *c, bool on)
{
    struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0),
                             .data.ptr = c};
    if (epoll_ctl(w->epfd, EPOLL_CTL_MOD, c->fd, &ev) != 0) {
        perror("echoload: epoll_ctl");
        exit(1);
    }
    c->out_armed = on;
}

/* Sends what is left of the current message; false on error. */
static bool conn_send(worker *w, conn *c)
{
    while (c->sent < msg_size) {
        ssize_t n = send(c->fd, c->sbuf + c->sent, msg_size - c->sent,
                         MSG_NOSIGNAL);
        if (n > 0) {
            c->sent += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!c->out_armed)
                set_out(w, c, true);
            return true;
        }
        conn_fail(w, c, "send", n < 0 ? errno : 0);
        return false;
    }
    if (c->out_armed)
        set_out(w, c, false);
    return true;
}

static bool conn_start(worker *w, conn *c, int64_t now)
{
    c->seq++;
    fill_header(c);
    c->sent = c->got = 0;
    c->t_send = now;
    return conn_send(w, c);
}

/* One read on a readable connection; on a whole echo, checks it, counts
 * it and starts the next round. */
static void conn_readable(worker *w, conn *c, int64_t now, int ph)
{
    ssize_t n = recv(c->fd, c->rbuf + c->got, msg_size - c->got, 0);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return;
        conn_fail(w, c, "recv", errno);
        return;
    }
    if (n == 0) {
        conn_fail(w, c, "closed by the server", 0);
        return;
    }
    c->got += (size_t)n;
    if (c->got > c->sent) {
        conn_fail(w, c, "echo holds bytes not yet sent", 0);
        return;
    }
    if (c->got < msg_size)
        return;
    if (memcmp(c->rbuf, c->sbuf, msg_size) != 0) {
        size_t i = 0;
        while (c->rbuf[i] == c->sbuf[i])
            i++;
        char what[96];
        snprintf(what, sizeof what, "echo differs at byte %zu of message %" PRIu64,
                 i, c->seq);
        conn_fail(w, c, what, 0);
        return;
    }
    if (ph == PH_MEASURE) {
        w->roundtrips++;
        w->hist[hist_index((uint64_t)(now - c->t_send))]++;
    }
    conn_start(w, c, now);
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    struct epoll_event evs[256];
    int64_t now = now_ns();

    for (int i = 0; i < w->nconns; i++)
        if (w->conns[i]->fd >= 0)
            conn_start(w, w->conns[i], now);
    while (w->live > 0) {
        int ph = atomic_load_explicit(&phase, memory_order_acquire);
        if (ph == PH_STOP)
            break;
        int n = epoll_wait(w->epfd, evs, 256, busy_poll ? 0 : 10);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("echoload: epoll_wait");
            exit(1);
        }
        if (n == 0)
            continue;
        now = now_ns();
        ph = atomic_load_explicit(&phase, memory_order_acquire);
        for (int i = 0; i < n; i++) {
            conn *c = evs[i].data.ptr;
            if (c->fd < 0)
                continue;
            if ((evs[i].events & EPOLLOUT) && !conn_send(w, c))
                continue;
            if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
                conn_readable(w, c, now, ph);
        }
    }
    return NULL;
}

/* ---------------------------------------------------------------- setup */

static int connect_one(const struct addrinfo *ai, int64_t deadline)
{
    for (;;) {
        const struct addrinfo *a;
        int err = 0;
        for (a = ai; a != NULL; a = a->ai_next) {
            int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC,
                            a->ai_protocol);
            if (fd < 0) {
                err = errno;
                continue;
            }
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
                fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
                return fd;
            }
            err = errno;
            close(fd);
        }
        if ((err != ECONNREFUSED && err != EINTR) || now_ns() >= deadline) {
            errno = err;
            return -1;
        }
        sleep_ns(20 * 1000000);
    }
}

static double env_num(const char *name, double def)
{
    const char *v = getenv(name);
    if (v == NULL || *v == '\0')
        return def;
    char *end;
    double d = strtod(v, &end);
    if (*end != '\0' || d < 0) {
        fprintf(stderr, "%s: bad %s='%s'\n", prog, name, v);
        exit(2);
    }
    return d;
}

static double opt_num(const char *opt, const char *v, double min, double max)
{
    char *end;
    double d = strtod(v, &end);
    if (end == v || *end != '\0' || !(d >= min && d <= max)) {
        fprintf(stderr, "%s: bad value '%s' for -%s\n", prog, v, opt);
        exit(2);
    }
    return d;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: %s [-c conns] [-s bytes] [-d seconds] [-w seconds] "
            "[-t threads] [-n name] [-W seconds] [-b] [host:]port\n", prog);
    exit(2);
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

int main(int argc, char **argv)
{
    double nconns = env_num("ECHOLOAD_CONNS", 100);
    double size = env_num("ECHOLOAD_SIZE", 64);
    double duration = env_num("ECHOLOAD_DURATION", 3);
    double warmup = env_num("ECHOLOAD_WARMUP", 0.5);
    double nthreads = env_num("ECHOLOAD_THREADS", 1);
    double wait = 5;
    const char *name = "echo";
    int opt;

    while ((opt = getopt(argc, argv, "c:s:d:w:t:n:W:bh")) != -1) {
        switch (opt) {
        case 'c': nconns = opt_num("c", optarg, 1, 1000000); break;
        case 's': size = opt_num("s", optarg, 1, 64 << 20); break;
        case 'd': duration = opt_num("d", optarg, 0.01, 1e6); break;
        case 'w': warmup = opt_num("w", optarg, 0, 1e6); break;
        case 't': nthreads = opt_num("t", optarg, 1, 1024); break;
        case 'n': name = optarg; break;
        case 'W': wait = opt_num("W", optarg, 0, 1e6); break;
        case 'b': busy_poll = true; break;
        default: usage();
        }
    }
    if (optind != argc - 1)
        usage();
    if (nconns < 1 || size < 1 || duration <= 0 || nthreads < 1) {
        fprintf(stderr, "%s: connections, size, duration and threads must be positive\n",
                prog);
        exit(2);
    }
    int C = (int)nconns, T = (int)nthreads;
    msg_size = (size_t)size;
    if (T > C)
        T = C;

    /* Room for the descriptors. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)C + 64) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    signal(SIGPIPE, SIG_IGN);

    struct addrinfo *ai = netaddr_resolve(prog, argv[optind], 0, NULL);
    if (ai == NULL)
        exit(2);

    worker *ws = aligned_alloc(64, sizeof(worker) * (size_t)T);
    if (ws == NULL) {
        perror("echoload: malloc");
        exit(1);
    }
    memset(ws, 0, sizeof(worker) * (size_t)T);
    for (int t = 0; t < T; t++) {
        ws[t].tid = t;
        ws[t].conns = calloc((size_t)(C / T + 1), sizeof(conn *));
        ws[t].epfd = epoll_create1(EPOLL_CLOEXEC);
        if (ws[t].conns == NULL || ws[t].epfd < 0) {
            perror("echoload: setup");
            exit(1);
        }
    }

    int64_t deadline = now_ns() + (int64_t)(wait * 1e9);
    uint64_t rng = 0x9E3779B97F4A7C15ull;
    for (int i = 0; i < C; i++) {
        worker *w = &ws[i % T];
        conn *c = calloc(1, sizeof *c);
        if (c == NULL || (c->sbuf = malloc(msg_size)) == NULL ||
            (c->rbuf = malloc(msg_size)) == NULL) {
            perror("echoload: malloc");
            exit(1);
        }
        c->id = (uint32_t)i;
        for (size_t b = 0; b < msg_size; b++) {
            rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
            c->sbuf[b] = (unsigned char)(rng >> 24);
        }
        c->fd = connect_one(ai, deadline);
        if (c->fd < 0) {
            fprintf(stderr, "%s: connect %s (connection %d of %d): %s\n", prog,
                    argv[optind], i + 1, C, strerror(errno));
            exit(1);
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
            perror("echoload: epoll_ctl");
            exit(1);
        }
        w->conns[w->nconns++] = c;
        w->live++;
    }
    freeaddrinfo(ai);

    for (int t = 0; t < T; t++) {
        int rc = pthread_create(&ws[t].th, NULL, worker_main, &ws[t]);
        if (rc != 0) {
            fprintf(stderr, "%s: pthread_create: %s\n", prog, strerror(rc));
            exit(1);
        }
    }
    sleep_ns((int64_t)(warmup * 1e9));
    double cpu0 = cpu_seconds();
    int64_t t0 = now_ns();
    atomic_store_explicit(&phase, PH_MEASURE, memory_order_release);
    sleep_ns((int64_t)(duration * 1e9));
    atomic_store_explicit(&phase, PH_STOP, memory_order_release);
    int64_t t1 = now_ns();
    double cpu1 = cpu_seconds();
    for (int t = 0; t < T; t++)
        pthread_join(ws[t].th, NULL);

    uint64_t rts = 0, errors = 0;
    static uint64_t hist[HBUCKETS];
    int live = 0;
    for (int t = 0; t < T; t++) {
        rts += ws[t].roundtrips;
        errors += ws[t].errors;
        live += ws[t].live;
        for (unsigned i = 0; i < HBUCKETS; i++)
            hist[i] += ws[t].hist[i];
    }
    double secs = (double)(t1 - t0) / 1e9;
    double rate = (double)rts / secs;
    double p50 = hist_quantile(hist, 0.50) / 1e3;
    double p99 = hist_quantile(hist, 0.99) / 1e3;
    double cpu = 100.0 * (cpu1 - cpu0) / secs;

    printf("echoload: %s, %d connections, %zu-byte messages, %d thread%s, "
           "%.2f s: %.0f round trips/s, p50 %.1f us, p99 %.1f us, "
           "%.1f MB/s each way, load generator CPU %.0f%%, %" PRIu64 " error%s\n",
           argv[optind], C, msg_size, T, T == 1 ? "" : "s", secs, rate, p50, p99,
           rate * (double)msg_size / 1e6, cpu, errors, errors == 1 ? "" : "s");
    if (errors != 0 || rts == 0) {
        if (rts == 0)
            fprintf(stderr, "%s: no round trip completed\n", prog);
        fprintf(stderr, "%s: %" PRIu64 " error%s, %d of %d connections left\n",
                prog, errors, errors == 1 ? "" : "s", live, C);
        return 1;
    }
    printf("RESULT %s %.0f roundtrips/s\n", name, rate);
    printf("RESULT %s_p50 %.1f us\n", name, p50);
    printf("RESULT %s_p99 %.1f us\n", name, p99);
    printf("RESULT %s_cpu %.0f %%\n", name, cpu);
    return 0;
}
