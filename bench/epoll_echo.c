/*
 * epoll_echo — the baseline for the echo workload: a TCP echo server
 * written by hand on epoll, as a careful C programmer writes one, without
 * gort.  One thread (by default), one level-triggered epoll set, every
 * socket non-blocking; for each readable connection one read into a
 * shared buffer and one write of what came back.  A write the socket
 * cannot take whole (rare: the peer stopped reading) keeps the rest for
 * that connection, stops reading it, and waits for EPOLLOUT.  Accepted
 * connections get TCP_NODELAY, as Go and gort give theirs.
 *
 * -t N runs N such threads, each with its own listening socket on the same
 * port (SO_REUSEPORT: the kernel spreads the connections), for a baseline
 * on more than one core.
 *
 *   usage: epoll_echo [-t threads] [host:]port
 *
 * "port" or ":port" listens on every address (IPv6 and IPv4).  Once
 * listening it prints "listening on <port>" on stdout; it runs until
 * killed.  bench/run.sh drives it with bench/echoload (bench/echo.c is the
 * same server on gort, bench/go/echo the same in Go).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "netaddr.h"

static const char *prog = "epoll_echo";
static struct addrinfo *listen_ai;
static int listen_any;
static int nthreads = 1;

/* Output a connection could not take yet, by descriptor (threads share
 * the descriptor space, so each thread keeps its own table). */
typedef struct {
    char *buf;
    size_t off, len;
} pending;

typedef struct {
    int epfd, lfd;
    pending *pend;
    int npend;
    char buf[65536];
} server;

static void die(const char *what)
{
    fprintf(stderr, "%s: %s: %s\n", prog, what, strerror(errno));
    exit(1);
}

static int listen_socket(void)
{
    struct addrinfo *a;
    int err = 0;
    for (a = listen_ai; a != NULL; a = a->ai_next) {
        int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                        a->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        int one = 1, zero = 0;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (nthreads > 1)
            setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
        if (listen_any && a->ai_family == AF_INET6)
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
        if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 && listen(fd, SOMAXCONN) == 0)
            return fd;
        err = errno;
        close(fd);
    }
    errno = err;
    die("listen");
    return -1;
}

static void ctl(server *s, int op, int fd, unsigned events)
{
    struct epoll_event ev = {.events = events, .data.fd = fd};
    if (epoll_ctl(s->epfd, op, fd, &ev) != 0)
        die("epoll_ctl");
}

static pending *pending_of(server *s, int fd)
{
    if (fd >= s->npend) {
        int n = s->npend ? s->npend : 1024;
        while (n <= fd)
            n *= 2;
        pending *p = realloc(s->pend, sizeof(pending) * (size_t)n);
        if (p == NULL)
            die("realloc");
        memset(p + s->npend, 0, sizeof(pending) * (size_t)(n - s->npend));
        s->pend = p;
        s->npend = n;
    }
    return &s->pend[fd];
}

static void conn_close(server *s, int fd)
{
    if (fd < s->npend && s->pend[fd].buf != NULL) {
        free(s->pend[fd].buf);
        s->pend[fd].buf = NULL;
    }
    close(fd);      /* leaves the epoll set with its last reference */
}

static void accept_all(server *s)
{
    for (;;) {
        int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
                errno == ENOMEM) {
                /* Leave it queued; level-triggered, we come back. */
                perror("epoll_echo: accept");
                return;
            }
            die("accept");
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        ctl(s, EPOLL_CTL_ADD, fd, EPOLLIN);
    }
}

/* Keeps buf[0..n) for fd and switches it from reading to writing. */
static void keep(server *s, int fd, const char *buf, size_t n)
{
    pending *p = pending_of(s, fd);
    p->buf = malloc(n);
    if (p->buf == NULL)
        die("malloc");
    memcpy(p->buf, buf, n);
    p->off = 0;
    p->len = n;
    ctl(s, EPOLL_CTL_MOD, fd, EPOLLOUT);
}

static void readable(server *s, int fd)
{
    ssize_t n = read(fd, s->buf, sizeof s->buf);
    if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return;
        conn_close(s, fd);      /* end of stream, reset, ... */
        return;
    }
    ssize_t w = write(fd, s->buf, (size_t)n);
    if (w == n)
        return;
    if (w < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            conn_close(s, fd);
            return;
        }
        w = 0;
    }
    keep(s, fd, s->buf + w, (size_t)(n - w));
}

static void writable(server *s, int fd)
{
    pending *p = pending_of(s, fd);
    while (p->off < p->len) {
        ssize_t w = write(fd, p->buf + p->off, p->len - p->off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            conn_close(s, fd);
            return;
        }
        p->off += (size_t)w;
    }
    free(p->buf);
    p->buf = NULL;
    ctl(s, EPOLL_CTL_MOD, fd, EPOLLIN);
}

static void *serve(void *arg)
{
    server *s = arg;
    struct epoll_event evs[512];
    for (;;) {
        int n = epoll_wait(s->epfd, evs, 512, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("epoll_wait");
        }
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == s->lfd)
                accept_all(s);
            else if (evs[i].events & EPOLLOUT)
                writable(s, fd);
            else
                readable(s, fd);    /* EPOLLIN, EPOLLHUP or EPOLLERR */
        }
    }
    return NULL;
}

static server *server_new(void)
{
    server *s = calloc(1, sizeof *s);
    if (s == NULL)
        die("calloc");
    s->lfd = listen_socket();
    s->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (s->epfd < 0)
        die("epoll_create1");
    ctl(s, EPOLL_CTL_ADD, s->lfd, EPOLLIN);
    return s;
}

int main(int argc, char **argv)
{
    int opt;
    while ((opt = getopt(argc, argv, "t:h")) != -1) {
        if (opt == 't' && (nthreads = atoi(optarg)) >= 1 && nthreads <= 1024)
            continue;
        fprintf(stderr, "usage: %s [-t threads] [host:]port\n", prog);
        exit(2);
    }
    if (optind != argc - 1) {
        fprintf(stderr, "usage: %s [-t threads] [host:]port\n", prog);
        exit(2);
    }
    signal(SIGPIPE, SIG_IGN);
    listen_ai = netaddr_resolve(prog, argv[optind], 1, &listen_any);
    if (listen_ai == NULL)
        exit(2);

    server *first = server_new();
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    int port = 0;
    if (getsockname(first->lfd, (struct sockaddr *)&ss, &sl) == 0)
        port = ntohs(ss.ss_family == AF_INET6
                         ? ((struct sockaddr_in6 *)&ss)->sin6_port
                         : ((struct sockaddr_in *)&ss)->sin_port);
    /* Port 0: the other threads join the port the first one got. */
    if (nthreads > 1 && port != 0) {
        for (struct addrinfo *a = listen_ai; a != NULL; a = a->ai_next) {
            if (a->ai_family == AF_INET6)
                ((struct sockaddr_in6 *)a->ai_addr)->sin6_port = htons((uint16_t)port);
            else if (a->ai_family == AF_INET)
                ((struct sockaddr_in *)a->ai_addr)->sin_port = htons((uint16_t)port);
        }
    }
    for (int t = 1; t < nthreads; t++) {
        pthread_t th;
        int rc = pthread_create(&th, NULL, serve, server_new());
        if (rc != 0) {
            errno = rc;
            die("pthread_create");
        }
    }
    printf("listening on %d\n", port);
    fflush(stdout);
    serve(first);
    return 0;
}
